package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestListInstances: vnet-gateway list-instances reads the instances view
// and prints it as JSON or as a table with the operator's columns.
func TestListInstances(t *testing.T) {
	f := newFakeARM(t)
	seed(t, f)
	view := strings.ToLower(netPath + "/virtualNetworkGateways/gw1/instances")
	f.objects[view+"/gabc-0"] = map[string]any{"name": "gabc-0", "index": 0, "role": "active", "state": "Ready",
		"publicIpAddress": "203.0.113.10", "privateIpAddress": "10.1.255.4", "lastReport": "2026-01-02T03:04:05Z",
		"appliedRevision": 1764000000000000001, "desiredRevision": 1764000000000000001, "error": "",
		"connections": []any{map[string]any{"id": netPath + "/connections/c1", "name": "c1", "connectionStatus": "Connected"}}}

	out := mustRun(t, f, "network", "vnet-gateway", "list-instances", "-g", "rg1", "-n", "gw1", "-o", "table")
	get := find(t, f.reqs(), "GET", netPath+"/virtualNetworkGateways/gw1/instances")
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

	out = mustRun(t, f, "network", "vnet-gateway", "list-instances", "-g", "rg1", "-n", "gw1")
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0]["name"] != "gabc-0" {
		t.Fatalf("json: %v\n%s", err, out)
	}
	// Revisions stay exact (they exceed float64's integers).
	if !strings.Contains(out, `"appliedRevision": 1764000000000000001`) {
		t.Errorf("revision not exact:\n%s", out)
	}

	// A server without instances says why; the exit code is "not found".
	f.reject["GET "+view] = &armErr{404, "InstancesNotAvailable", "The server runs with --provider none, which runs no gateway instances.", ""}
	code, _, errOut := run(t, f, "network", "vnet-gateway", "list-instances", "-g", "rg1", "-n", "gw1")
	if code != ExitNotFound || !strings.Contains(errOut, "InstancesNotAvailable") || !strings.Contains(errOut, "--provider none") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}
