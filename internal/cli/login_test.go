package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogin: vpngw login caches a token for the server (0600), the other
// commands send it without any credential in the environment, a wrong
// secret is refused, and vpngw logout forgets the server.
func TestLogin(t *testing.T) {
	a := newTestAPI(t)
	credFile := os.Getenv("VPNGW_CREDENTIAL_FILE") // signedIn's
	t.Setenv("VPNGW_CREDENTIAL_FILE", "")
	cfg := os.Getenv("VPNGW_CONFIG_DIR")

	if code, _, errOut := run(t, a, "group", "list"); code != ExitError || !strings.Contains(errOut, "not signed in to "+a.srv.URL+": run vpngw login") {
		t.Fatalf("before login: exit %d %s", code, errOut)
	}
	c, err := readCredential(credFile)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, a, "login", "--service-principal", "-u", c.ClientID, "-p", "wrong", "--tenant", "adfs"); code != ExitError || !strings.Contains(errOut, "invalid_client") {
		t.Fatalf("wrong secret: exit %d %s", code, errOut)
	}
	if code, _, errOut := run(t, a, "login", "--tenant", "contoso", "--credential-file", credFile); code != ExitUsage {
		t.Fatalf("another tenant: exit %d %s", code, errOut)
	}
	out := mustRun(t, a, "login", "--credential-file", credFile)
	if !strings.Contains(out, c.ClientID) || strings.Contains(out, c.ClientSecret) {
		t.Fatalf("login printed %s", out)
	}
	fi, err := os.Stat(filepath.Join(cfg, loginsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("logins file: %v %v", fi, err)
	}
	mustRun(t, a, "group", "create", "-n", "rg1", "-l", "westeurope", "-o", "none")
	for _, r := range a.reqs() {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			t.Errorf("%s without a token", r)
		}
	}
	mustRun(t, a, "logout")
	if code, _, _ := run(t, a, "group", "list"); code != ExitError {
		t.Fatalf("after logout: exit %d", code)
	}
}
