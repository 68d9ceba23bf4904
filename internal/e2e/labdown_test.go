package e2e_test

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// labNamespaces lists the namespaces with a lab's prefix.
func labNamespaces(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	var got []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix+"-") {
			got = append(got, f[0])
		}
	}
	return got
}

// stayEmpty asserts that no namespace with the prefix appears for d.
func stayEmpty(t *testing.T, prefix string, d time.Duration, what string) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if ns := labNamespaces(t, prefix); len(ns) > 0 {
			t.Fatalf("%s: lab namespaces %v", what, ns)
		}
	}
}

// `vpngw lab down` is coherent with a running server: with nothing stored
// the lab creates nothing; while resources exist it is refused (the
// reconciler would build them again a second later) unless --force, which
// deletes them through the API; and it stays down. A server stopped with an
// empty lab leaves no namespace behind (issue 13).
func TestLabDownWithServer(t *testing.T) {
	c := newCloud(t)
	stayEmpty(t, c.prefix, 2*time.Second, "empty store")

	// Two gateways with VNet-to-VNet connections across groups: each
	// group holds a connection to the other's gateway.
	c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16")
	c.gateway("RG2", sub1, "VNet2", "10.2.0.0/16")
	gw := func(g, n string) string {
		return "/subscriptions/" + sub1 + "/resourceGroups/" + g + "/providers/Microsoft.Network/virtualNetworkGateways/" + n
	}
	c.cli("network", "vpn-connection", "create", "-g", "RG1", "-n", "1-to-2", "--vnet-gateway1", gw("RG1", "VNet1-gw"),
		"--vnet-gateway2", gw("RG2", "VNet2-gw"), "--shared-key", "v2vKey99", "-o", "none")
	c.cli("network", "vpn-connection", "create", "-g", "RG2", "-n", "2-to-1", "--vnet-gateway1", gw("RG2", "VNet2-gw"),
		"--vnet-gateway2", gw("RG1", "VNet1-gw"), "--shared-key", "v2vKey99", "-o", "none")
	if len(labNamespaces(t, c.prefix)) < 3 {
		t.Fatalf("gateway not realized: %v", labNamespaces(t, c.prefix))
	}
	c.fails(1, []string{"--force", "/subscriptions/" + sub1 + "/resourceGroups/RG1"}, "lab", "down", "--lab-prefix", c.prefix)
	if len(labNamespaces(t, c.prefix)) < 3 {
		t.Fatalf("a refused lab down removed namespaces: %v", labNamespaces(t, c.prefix))
	}
	c.cli("lab", "down", "--force", "--lab-prefix", c.prefix)
	c.fails(3, nil, "group", "show", "-n", "RG1", "--subscription", sub1)
	c.fails(3, nil, "group", "show", "-n", "RG2", "--subscription", sub1)
	stayEmpty(t, c.prefix, 3*time.Second, "after lab down --force")

	if !c.stop(syscall.SIGTERM) {
		t.Fatal("server did not stop on SIGTERM")
	}
	if ns := labNamespaces(t, c.prefix); len(ns) > 0 {
		t.Fatalf("namespaces left after the server stopped: %v", ns)
	}
}
