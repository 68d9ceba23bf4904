package agentapi

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/vpngw/vpngw/internal/"

// The two sides of docs/architecture.md's package diagram. They meet only
// at agentapi, gwconfig and transform (and the status values in tunstat).
var (
	controlPlane = []string{"server", "api", "resource", "registry", "store", "reconcile"}
	gateway      = []string{"agent", "ike", "esp", "dataplane"}
)

// deps lists the vpngw packages pkgs import, directly or not, with the
// go command (go/packages is not a dependency; `go` runs every test).
func deps(t *testing.T, pkgs ...string) map[string]bool {
	t.Helper()
	args := []string{"list", "-deps", "-f", "{{.ImportPath}}"}
	for _, p := range pkgs {
		args = append(args, module+p)
	}
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	found := map[string]bool{}
	for _, line := range strings.Fields(string(out)) {
		if p, ok := strings.CutPrefix(line, module); ok {
			found[p] = true
		}
	}
	return found
}

// TestImportRules checks the import rules docs/architecture.md states: the
// control plane does not link the gateway, the gateway does not link the
// control plane, the lab links neither, and this contract stays small.
func TestImportRules(t *testing.T) {
	forbid := func(from []string, not ...string) {
		t.Helper()
		d := deps(t, from...)
		for _, p := range not {
			if d[p] {
				t.Errorf("%v import %s (directly or not); go list -deps shows who", from, p)
			}
		}
	}
	forbid(controlPlane, gateway...)
	forbid(gateway, controlPlane...)
	forbid([]string{"lab"}, append(controlPlane, gateway...)...)

	// The point-to-site building blocks gwconfig checks a pointToSite
	// section with (the pool's rules, NT password hashes, the gateway's
	// certificate) are pure leaves both sides use.
	p2s := []string{"p2s/eap", "p2s/mschapv2", "p2s/pki", "p2s/pool"}
	// bgp/bgprules likewise: Azure's BGP rules, which gwconfig checks
	// bgpSettings with.
	// aesgcm is transform's AES-GCM, a leaf of the standard library.
	allowed := map[string]bool{"agentapi": true, "gwconfig": true, "transform": true, "aesgcm": true, "tunstat": true, "bgp/bgprules": true}
	for _, p := range p2s {
		allowed[p] = true
	}
	for p := range deps(t, "agentapi") {
		if !allowed[p] {
			t.Errorf("agentapi imports %s; the contract may import only %v", p, allowed)
		}
	}
	for p := range deps(t, p2s...) {
		if !strings.HasPrefix(p, "p2s/") {
			t.Errorf("%v import %s; they are leaves (standard library and each other only)", p2s, p)
		}
	}
	for p := range deps(t, "bgp/bgprules") {
		if p != "bgp/bgprules" {
			t.Errorf("bgp/bgprules imports %s; it is a leaf (standard library only)", p)
		}
	}
	for p := range deps(t, "tunstat") {
		if p != "tunstat" {
			t.Errorf("tunstat imports %s; it is a leaf (standard library only)", p)
		}
	}
	for p := range deps(t, "aesgcm") {
		if p != "aesgcm" {
			t.Errorf("aesgcm imports %s; it is a leaf (standard library only)", p)
		}
	}
}
