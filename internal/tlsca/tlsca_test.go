package tlsca

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCA: the CA is created once (key 0600) and loaded after; issued
// certificates verify against it for their names only; a readable key is
// refused.
func TestCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	now := time.Now()
	ca, created, err := LoadOrCreate(dir, now)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	again, created, err := LoadOrCreate(dir, now)
	if err != nil || created || again.Fingerprint() != ca.Fingerprint() {
		t.Fatalf("load: %v %v", created, err)
	}
	cert, err := again.Issue([]string{"127.0.0.1:8480", "[::1]:8480", "vpngw.example", "localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := Pool(ca.CertPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"127.0.0.1", "::1", "vpngw.example", "localhost"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "other.example"}); err == nil {
		t.Error("verified for a name it does not carry")
	}
	os.Chmod(filepath.Join(dir, KeyFile), 0o644)
	if _, _, err := LoadOrCreate(dir, now); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("readable key: %v", err)
	}
	if _, err := Pool(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing CA file was accepted")
	}
}
