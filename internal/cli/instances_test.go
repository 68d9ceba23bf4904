package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vpngw/vpngw/internal/api"
)

// TestListInstances: vnet-gateway list-instances reads the instances view
// and prints it as JSON or as a table with the operator's columns.
func TestListInstances(t *testing.T) {
	a := newTestAPI(t)
	seed(t, a)
	seedGateway(t, a, "gw1", "vnet1", "pip1", 1)
	a.prov.SetInstances(netPath+"/virtualNetworkGateways/gw1", []api.GatewayInstance{{Name: "gabc-0", Index: 0, Role: "active", State: "Ready",
		PublicIPAddress: "203.0.113.10", PrivateIPAddress: "10.1.255.4", LastReport: "2026-01-02T03:04:05Z",
		AppliedRevision: 1764000000000000001, DesiredRevision: 1764000000000000001,
		Connections: []api.GatewayInstanceConnection{{ID: netPath + "/connections/c1", Name: "c1", ConnectionStatus: "Connected"}}}})
	a.reqs()

	out := mustRun(t, a, "network", "vnet-gateway", "list-instances", "-g", "rg1", "-n", "gw1", "-o", "table")
	get := find(t, a.reqs(), "GET", netPath+"/virtualNetworkGateways/gw1/instances")
	if !strings.Contains(get.Query, "api-version=") {
		t.Errorf("query %q", get.Query)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("table:\n%s", out)
	}
	for _, h := range []string{"Name", "Role", "State", "PublicIP", "PrivateIP", "LastReport", "Applied/Desired"} {
		if !strings.Contains(lines[0], h) {
			t.Errorf("table header lacks %s: %q", h, lines[0])
		}
	}
	for _, v := range []string{"gabc-0", "active", "Ready", "203.0.113.10", "10.1.255.4", "2026-01-02T03:04:05Z", "1764000000000000001/1764000000000000001"} {
		if !strings.Contains(lines[2], v) {
			t.Errorf("table row lacks %s: %q", v, lines[2])
		}
	}

	out = mustRun(t, a, "network", "vnet-gateway", "list-instances", "-g", "rg1", "-n", "gw1")
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0]["name"] != "gabc-0" {
		t.Fatalf("json: %v\n%s", err, out)
	}
	// Revisions stay exact (they exceed float64's integers).
	if !strings.Contains(out, `"appliedRevision": 1764000000000000001`) {
		t.Errorf("revision not exact:\n%s", out)
	}

	// A server without instances (--provider none) says why; the exit code
	// is "not found".
	none := newTestAPIWith(t, api.NoneProvisioner{})
	seed(t, none)
	seedGateway(t, none, "gw1", "vnet1", "pip1", 1)
	code, _, errOut := run(t, none, "network", "vnet-gateway", "list-instances", "-g", "rg1", "-n", "gw1")
	if code != ExitNotFound || !strings.Contains(errOut, "InstancesNotAvailable") || !strings.Contains(errOut, "--provider none") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}
