package identity

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/tstest"
)

func testCert(t testing.TB) (*rsa.PrivateKey, string) {
	_, key, certPEM := tstest.SelfSignedRSA(t)
	return key, string(certPEM)
}

// assertion signs claims with key (RS256) or, for alg "none", not at all.
func assertion(t testing.TB, key *rsa.PrivateKey, alg string, claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
	p, _ := json.Marshal(claims)
	signing := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	if alg == "none" {
		return signing + "."
	}
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64.EncodeToString(sig)
}

// TestCheckAssertion: a client assertion is accepted only when signed by
// the registered certificate's key, for this client and this token
// endpoint, and valid now for at most an hour.
func TestCheckAssertion(t *testing.T) {
	key, cert := testCert(t)
	other, _ := testCert(t)
	now := time.Now()
	const id, url = "client-1", "https://vpngw.test/adfs/oauth2/token"
	claims := func(mut func(map[string]any)) map[string]any {
		c := map[string]any{"iss": id, "sub": id, "aud": url, "exp": now.Add(10 * time.Minute).Unix(), "nbf": now.Unix(), "jti": "x"}
		if mut != nil {
			mut(c)
		}
		return c
	}
	tests := []struct {
		name string
		jwt  string
		ok   bool
	}{
		{"valid", assertion(t, key, "RS256", claims(nil)), true},
		{"aud as a list", assertion(t, key, "RS256", claims(func(c map[string]any) { c["aud"] = []string{url} })), true},
		{"another key", assertion(t, other, "RS256", claims(nil)), false},
		{"alg none", assertion(t, key, "none", claims(nil)), false},
		{"another client", assertion(t, key, "RS256", claims(func(c map[string]any) { c["iss"], c["sub"] = "client-2", "client-2" })), false},
		{"another audience", assertion(t, key, "RS256", claims(func(c map[string]any) { c["aud"] = "https://other/adfs/oauth2/token" })), false},
		{"expired", assertion(t, key, "RS256", claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() })), false},
		{"valid for a day", assertion(t, key, "RS256", claims(func(c map[string]any) { c["exp"] = now.Add(24 * time.Hour).Unix() })), false},
		{"not yet valid", assertion(t, key, "RS256", claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() })), false},
		{"garbage", "a.b.c", false},
	}
	for _, tc := range tests {
		err := checkAssertion(tc.jwt, id, url, cert, now)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrAssertion)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// FuzzCheckAssertion: any input is refused or accepted, never a panic;
// nothing but a signed assertion is accepted.
func FuzzCheckAssertion(f *testing.F) {
	key, cert := testCert(f)
	now := time.Now()
	good := assertion(f, key, "RS256", map[string]any{"iss": "c", "sub": "c", "aud": "u", "exp": now.Add(time.Minute).Unix()})
	f.Add(good)
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		if err := checkAssertion(s, "c", "u", cert, now); err == nil && s != good {
			t.Fatalf("accepted %q", s)
		}
	})
}
