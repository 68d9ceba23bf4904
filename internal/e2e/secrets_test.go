package e2e_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecretsAtRest: a connection's shared key is sealed in the store — not
// in the bbolt file's bytes, back after a restart with the same key file,
// still there after `serve rotate-key` — and a wrong or missing key file
// stops serve with an error naming the file.
func TestSecretsAtRest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the vpngw binary")
	}
	data := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "etc", "secrets.key")
	x := startServe(t, nil, "--provider", "none", "--data-dir", data, "--secrets-key-file", keyFile)
	const rg, secret = "SecRG", "Sealed4tRestKey"
	x.ok("group", "create", "-n", rg, "-l", "westeurope", "-o", "none")
	x.ok("network", "vnet", "create", "-g", rg, "-n", "v1", "--address-prefixes", "10.11.0.0/16", "-o", "none")
	x.ok("network", "vnet", "subnet", "create", "-g", rg, "--vnet-name", "v1", "-n", "GatewaySubnet", "--address-prefixes", "10.11.255.0/27", "-o", "none")
	x.ok("network", "public-ip", "create", "-g", rg, "-n", "gwip", "--sku", "Standard", "--allocation-method", "Static", "-o", "none")
	x.ok("network", "vnet-gateway", "create", "-g", rg, "-n", "gw", "--vnet", "v1", "--public-ip-addresses", "gwip", "--sku", "VpnGw1", "-o", "none")
	x.ok("network", "local-gateway", "create", "-g", rg, "-n", "site", "--gateway-ip-address", "203.0.113.10", "--local-address-prefixes", "10.101.0.0/24", "-o", "none")
	x.ok("network", "vpn-connection", "create", "-g", rg, "-n", "c1", "--vnet-gateway1", "gw", "--local-gateway2", "site", "--shared-key", secret, "-o", "none")
	sharedKey := func() string {
		t.Helper()
		return strings.TrimSpace(x.tsv("network", "vpn-connection", "shared-key", "show", "-g", rg, "--connection-name", "c1", "--query", "value"))
	}
	if k := sharedKey(); k != secret {
		t.Fatalf("shared key = %q, want %q", k, secret)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want it created 0600", fi, err)
	}
	if strings.Contains(x.logText(), secret) {
		t.Error("the server logged the shared key")
	}

	dbHasSecret := func() bool {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(data, "vpngw.db"))
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Contains(b, []byte(secret))
	}
	if !x.stop(syscall.SIGTERM) {
		t.Fatal("serve did not stop on SIGTERM")
	}
	if dbHasSecret() {
		t.Fatal("vpngw.db holds the shared key in plain text")
	}
	x.restart()
	if k := sharedKey(); k != secret {
		t.Errorf("shared key after restart = %q", k)
	}
	x.stop(syscall.SIGTERM)

	// Rotation needs the server's store.
	if out, err := exec.Command(vpngwBin(t), "serve", "rotate-key", "--data-dir", t.TempDir(), "--secrets-key-file", keyFile).CombinedOutput(); err == nil {
		t.Fatalf("rotate-key on an empty data directory succeeded: %s", out)
	}
	// Rotation: the key file's key changes, the shared key stays readable.
	oldKeys, _ := os.ReadFile(keyFile)
	if out, err := exec.Command(vpngwBin(t), "serve", "rotate-key", "--data-dir", data, "--secrets-key-file", keyFile).CombinedOutput(); err != nil || !strings.Contains(string(out), "rotated the secrets key") {
		t.Fatalf("serve rotate-key: %v\n%s", err, out)
	}
	newKeys, _ := os.ReadFile(keyFile)
	if bytes.Equal(oldKeys, newKeys) || strings.Count(string(newKeys), "\n") != strings.Count(string(oldKeys), "\n") {
		t.Errorf("key file after rotation:\n%s\nbefore:\n%s\nwant one new key", newKeys, oldKeys)
	}
	if dbHasSecret() {
		t.Error("vpngw.db holds the shared key in plain text after rotation")
	}
	x.restart()
	if k := sharedKey(); k != secret {
		t.Errorf("shared key after rotation = %q", k)
	}
	x.stop(syscall.SIGTERM)

	// The old key file alone, another key file, no key file: serve refuses
	// to start and names the file.
	oldFile := filepath.Join(t.TempDir(), "old.key")
	if err := os.WriteFile(oldFile, oldKeys, 0o600); err != nil {
		t.Fatal(err)
	}
	otherFile := filepath.Join(t.TempDir(), "other.key") // another server's key
	if err := os.WriteFile(otherFile, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.key")
	for _, kf := range []string{oldFile, otherFile, missing} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, vpngwBin(t), "serve", "--provider", "none", "--listen", "127.0.0.1:0",
			"--data-dir", data, "--secrets-key-file", kf).CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		if err == nil || timedOut || !strings.Contains(string(out), kf) {
			t.Errorf("serve with key file %s: %v\n%s\nwant an error naming the file", filepath.Base(kf), err, out)
		}
		if strings.Contains(string(out), "panic") {
			t.Errorf("serve with key file %s crashed:\n%s", filepath.Base(kf), out)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("serve created a new key file although the store's secrets are sealed")
	}
}
