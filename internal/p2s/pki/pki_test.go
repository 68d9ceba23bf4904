package pki

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerifyClient(t *testing.T) {
	root, err := NewCA("P2SRootCert", ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewCA("Other", RSA2048)
	now := time.Now()
	ecdsaClient, err := root.IssueClient("alice@contoso.com", ECDSAP256, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rsaClient, _ := root.IssueClient("bob@contoso.com", RSA2048, 24*time.Hour)
	stranger, _ := other.IssueClient("eve@evil.example", ECDSAP256, 24*time.Hour)
	server, _ := root.IssueServer("gw.vpngw.example", ECDSAP256, 24*time.Hour)

	v, err := NewVerifier([]string{PublicCertData(root.Cert)}, []string{strings.ToLower(Thumbprint(rsaClient.Cert))})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    *x509.Certificate
		at   time.Time
		err  error
	}{
		{"ECDSA client", ecdsaClient.Cert, now, nil},
		{"revoked (thumbprint given in lower case)", rsaClient.Cert, now, ErrRevoked},
		{"other root", stranger.Cert, now, ErrUntrusted},
		{"expired", ecdsaClient.Cert, now.Add(48 * time.Hour), ErrUntrusted},
		{"server certificate", server.Cert, now, ErrUntrusted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify([][]byte{tc.c.Raw}, tc.at)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
		})
	}
	if len(v.CertReq()) != 20 {
		t.Fatalf("CERTREQ data of %d bytes for one root, want one SHA-1 hash", len(v.CertReq()))
	}
	if _, err := v.Verify(nil, now); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("empty chain: %v", err)
	}
	if _, err := v.Verify([][]byte{{1, 2, 3}}, now); !errors.Is(err, ErrInvalid) {
		t.Fatalf("garbage: %v", err)
	}
	if _, err := NewVerifier([]string{"not base64!"}, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad root: %v", err)
	}
	if got := Thumbprint(root.Cert); len(got) != 40 || strings.ToUpper(got) != got {
		t.Fatalf("thumbprint %q", got)
	}
	var ike bool
	for _, o := range server.Cert.UnknownExtKeyUsage {
		ike = ike || o.Equal(ikeIntermediate)
	}
	if !ike || server.Cert.DNSNames[0] != "gw.vpngw.example" {
		t.Fatalf("server certificate: EKU %v, names %v", server.Cert.UnknownExtKeyUsage, server.Cert.DNSNames)
	}
}

// TestVerifyRemembersChains: a chain Verify accepted is remembered (and
// only then), and a remembered chain is still refused outside its
// validity window; a new Verifier (a new configuration: a revoked
// thumbprint) remembers nothing.
func TestVerifyRemembersChains(t *testing.T) {
	root, err := NewCA("P2SRootCert", ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewCA("Other", ECDSAP256)
	c, _ := root.IssueClient("alice@contoso.com", ECDSAP256, 24*time.Hour)
	stranger, _ := other.IssueClient("eve@evil.example", ECDSAP256, 24*time.Hour)
	v, err := NewVerifier([]string{PublicCertData(root.Cert)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := v.Verify([][]byte{stranger.Cert.Raw}, now); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("stranger: %v", err)
	}
	if len(v.verified) != 0 {
		t.Fatalf("a refused chain was remembered")
	}
	for i := range 2 {
		leaf, err := v.Verify([][]byte{c.Cert.Raw}, now)
		if err != nil || leaf.Subject.CommonName != "alice@contoso.com" {
			t.Fatalf("verify %d: %v, %v", i, leaf, err)
		}
		if len(v.verified) != 1 {
			t.Fatalf("verify %d: %d chains remembered, want 1", i, len(v.verified))
		}
	}
	for _, at := range []time.Time{now.Add(48 * time.Hour), c.Cert.NotBefore.Add(-time.Minute)} {
		if _, err := v.Verify([][]byte{c.Cert.Raw}, at); !errors.Is(err, ErrUntrusted) {
			t.Fatalf("remembered chain at %v, outside its validity: %v", at, err)
		}
	}
	revoking, _ := NewVerifier([]string{PublicCertData(root.Cert)}, []string{Thumbprint(c.Cert)})
	if _, err := revoking.Verify([][]byte{c.Cert.Raw}, now); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked after being accepted by the old verifier: %v", err)
	}
}
