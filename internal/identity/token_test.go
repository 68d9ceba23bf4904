package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func testKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestTokenRoundTripAndRefusals(t *testing.T) {
	k, other := testKey(t), testKey(t)
	c := Claims{Issuer: "https://h/adfs", Audience: "https://h/", ObjectID: "o", Expiry: 10}
	tok, err := signToken(k, "kid1", c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseToken(tok, &k.PublicKey, "kid1")
	if err != nil || got != c {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	forged, _ := signToken(other, "kid1", c)
	p := strings.Split(tok, ".")
	tests := []struct {
		name string
		tok  string
		want error
	}{
		{"other key", forged, ErrSignature},
		{"other kid", func() string { s, _ := signToken(k, "kid2", c); return s }(), ErrSignature},
		{"payload swapped", p[0] + "." + b64.EncodeToString([]byte(`{"aud":"https://other/","exp":10}`)) + "." + p[2], ErrSignature},
		{"alg none", b64.EncodeToString([]byte(`{"alg":"none","kid":"kid1"}`)) + "." + p[1] + ".", ErrMalformed},
		{"two parts", p[0] + "." + p[1], ErrMalformed},
		{"short signature", p[0] + "." + p[1] + ".AAAA", ErrMalformed},
		{"not base64", "!." + p[1] + "." + p[2], ErrMalformed},
		{"huge", strings.Repeat("a", maxTokenLen+1), ErrMalformed},
	}
	for _, tc := range tests {
		if _, err := parseToken(tc.tok, &k.PublicKey, "kid1"); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// FuzzParseToken: any input is refused or parsed, never a panic, and only
// a token signed by the key verifies.
func FuzzParseToken(f *testing.F) {
	k := testKey(f)
	tok, _ := signToken(k, "kid", Claims{Audience: "a"})
	f.Add(tok)
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseToken(s, &k.PublicKey, "kid")
		if err == nil && s != tok && c.Audience != "a" {
			t.Fatalf("accepted %q", s)
		}
	})
}

// TestSecretsStartAlphanumeric: a client secret never starts with '-' (az
// would parse "-p -xyz" as an option) or '_'.
func TestSecretsStartAlphanumeric(t *testing.T) {
	for range 500 {
		_, secret, err := NewServicePrincipal("x")
		if err != nil {
			t.Fatal(err)
		}
		if secret[0] == '-' || secret[0] == '_' || len(secret) != 43 {
			t.Fatalf("secret %q", secret[:1])
		}
	}
}
