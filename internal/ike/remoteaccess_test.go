package ike

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"

	"github.com/vpngw/vpngw/internal/ike/message"
)

// TestEAPIdentity: the EAP (RADIUS User-Name) identity of a client's IKE
// identity is text, a distinguished name included.
func TestEAPIdentity(t *testing.T) {
	dn, err := asn1.Marshal(pkix.Name{CommonName: "carol@contoso.test", Organization: []string{"Contoso"}}.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		id   Identity
		want string
	}{
		{"FQDN", FQDNIdentity("bob"), "bob"},
		{"e-mail", Identity{Type: message.IDRFC822Addr, Data: []byte("bob@contoso.test")}, "bob@contoso.test"},
		{"DN", Identity{Type: message.IDDerASN1DN, Data: dn}, "CN=carol@contoso.test,O=Contoso"},
		{"DN that does not parse", Identity{Type: message.IDDerASN1DN, Data: []byte("x")}, "x"},
	} {
		if got := eapIdentity(tc.id); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
