package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
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

// TestAdoptRecheck: a Verifier with the same roots takes over the chains
// another accepted, one with other roots takes none; Recheck refuses a
// revoked chain (by any certificate's thumbprint, without the cache's
// say), accepts a remembered one inside its validity window, and checks a
// chain it does not remember, or outside that window, as Verify does.
func TestAdoptRecheck(t *testing.T) {
	root, _ := NewCA("P2SRootCert", ECDSAP256)
	other, _ := NewCA("Other", ECDSAP256)
	alice, _ := root.IssueClient("alice@contoso.com", ECDSAP256, 24*time.Hour)
	bob, _ := root.IssueClient("bob@contoso.com", ECDSAP256, 24*time.Hour)
	carol, _ := root.IssueClient("carol@contoso.com", ECDSAP256, 24*time.Hour)
	now := time.Now()
	chain := func(c *Issued) [][]byte { return [][]byte{c.Cert.Raw} }
	old, _ := NewVerifier([]string{PublicCertData(root.Cert)}, nil)
	for _, c := range []*Issued{alice, bob} {
		if _, err := old.Verify(chain(c), now); err != nil {
			t.Fatal(err)
		}
	}
	// Revoking bob: the same roots.
	v, _ := NewVerifier([]string{PublicCertData(root.Cert)}, []string{Thumbprint(bob.Cert)})
	v.Adopt(old)
	if len(v.verified) != 2 {
		t.Fatalf("adopted %d chains, want 2", len(v.verified))
	}
	for _, tc := range []struct {
		name  string
		chain [][]byte
		at    time.Time
		err   error
	}{
		{"remembered", chain(alice), now, nil},
		{"revoked, remembered", chain(bob), now, ErrRevoked},
		{"revoked as the chain's second certificate", [][]byte{alice.Cert.Raw, bob.Cert.Raw}, now, ErrRevoked},
		{"not remembered: verified now", chain(carol), now, nil},
		{"remembered, expired", chain(alice), now.Add(48 * time.Hour), ErrUntrusted},
		{"empty", nil, now, ErrUntrusted},
	} {
		err := v.Recheck(tc.chain, tc.at)
		if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}
	if err := v.Recheck(chain(bob), now); err == nil || !strings.Contains(err.Error(), "bob@contoso.com") {
		t.Errorf("revoked: %v, want the certificate named", err)
	}
	// Other roots: nothing taken over, and old chains fail.
	o, _ := NewVerifier([]string{PublicCertData(other.Cert)}, nil)
	o.Adopt(old)
	if len(o.verified) != 0 {
		t.Fatalf("a verifier with other roots adopted %d chains", len(o.verified))
	}
	if err := o.Recheck(chain(alice), now); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("alice under other roots: %v", err)
	}
	// The same roots in another order are other roots (the sum is of the
	// list); adopting from nil or itself changes nothing.
	two, _ := NewVerifier([]string{PublicCertData(root.Cert), PublicCertData(other.Cert)}, nil)
	owt, _ := NewVerifier([]string{PublicCertData(other.Cert), PublicCertData(root.Cert)}, nil)
	if two.rootsSum == owt.rootsSum || two.rootsSum == v.rootsSum || v.rootsSum != old.rootsSum {
		t.Fatal("rootsSum does not tell the root lists apart")
	}
	v.Adopt(nil)
	v.Adopt(v)
}

// BenchmarkRecheckAfterRevocation is what a revocation costs the IKE loop
// of a gateway with 10,000 connected certificate clients, per client: each
// chain checked under the configuration's new Verifier. "verify" is
// Verify on a Verifier that remembers nothing (as before Adopt), "adopt"
// Adopt from the old Verifier then Recheck.
//
//	go test -run '^$' -bench RecheckAfterRevocation ./internal/p2s/pki/
func BenchmarkRecheckAfterRevocation(b *testing.B) {
	const n = 10000
	root, _ := NewCA("P2SRootCert", ECDSAP256)
	chains := make([][][]byte, n)
	old, _ := NewVerifier([]string{PublicCertData(root.Cert)}, nil)
	now := time.Now()
	for i := range chains {
		c, err := root.IssueClient(fmt.Sprintf("user%05d@contoso.com", i), ECDSAP256, 24*time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		chains[i] = [][]byte{c.Cert.Raw}
		if _, err := old.Verify(chains[i], now); err != nil {
			b.Fatal(err)
		}
	}
	revoked := []string{strings.Repeat("AB", 20)}
	for _, mode := range []string{"verify", "adopt"} {
		b.Run(mode, func(b *testing.B) {
			var v *Verifier
			for i := 0; b.Loop(); i++ {
				if i%n == 0 {
					b.StopTimer()
					v, _ = NewVerifier([]string{PublicCertData(root.Cert)}, revoked)
					b.StartTimer()
					if mode == "adopt" {
						v.Adopt(old)
					}
				}
				var err error
				if mode == "verify" {
					_, err = v.Verify(chains[i%n], now)
				} else {
					err = v.Recheck(chains[i%n], now)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
