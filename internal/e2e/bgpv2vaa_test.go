package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/reconcile"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// TestBGPVNetToVNetActiveActive: VNet-to-VNet with BGP between two
// active-active gateways through vpngw serve and the lab: Azure's full
// mesh, one connection per side and 4 tunnels (each instance of A with
// each instance of B), 4 BGP sessions, each gateway learning the other's
// VNet from both of the other's instances. The VMs ping each other; then
// traffic must survive kill -9 of the agent of A's instance 0 (which
// carries A's traffic to B) and, once every session is back, of B's
// instance 0. fastTimers (hold 9 s) on both gateways; the figures are
// logged as RESULT lines.
func TestBGPVNetToVNetActiveActive(t *testing.T) {
	c := newCloud(t)
	type gateway struct {
		group, vnet, space, path string
		asn                      int
		bgp                      []string // instance BGP addresses
	}
	gws := []*gateway{
		{group: "RG-A", vnet: "VNetA", space: "10.1.0.0/16", asn: 65515},
		{group: "RG-B", vnet: "VNetB", space: "10.2.0.0/16", asn: 65020},
	}
	for _, g := range gws {
		b := netip.MustParsePrefix(g.space).Addr().As4()
		c.cli("group", "create", "-n", g.group, "-l", "westeurope", "-o", "none")
		c.cli("network", "vnet", "create", "-g", g.group, "-n", g.vnet, "--address-prefixes", g.space,
			"--subnet-name", "Workload", "--subnet-prefixes", fmt.Sprintf("%d.%d.1.0/24", b[0], b[1]), "-o", "none")
		c.cli("network", "vnet", "subnet", "create", "-g", g.group, "--vnet-name", g.vnet, "-n", "GatewaySubnet",
			"--address-prefixes", fmt.Sprintf("%d.%d.255.0/27", b[0], b[1]), "-o", "none")
		for _, n := range []string{"ip1", "ip2"} {
			c.cli("network", "public-ip", "create", "-g", g.group, "-n", g.vnet+n, "-o", "none")
		}
		c.cli("network", "vnet-gateway", "create", "-g", g.group, "-n", g.vnet+"-gw", "--vnet", g.vnet,
			"--public-ip-addresses", g.vnet+"ip1", g.vnet+"ip2", "--sku", "VpnGw2", "--vpn-gateway-generation", "Generation2", "-o", "none")
		g.path = "/subscriptions/" + sub1 + "/resourceGroups/" + g.group + "/providers/Microsoft.Network/virtualNetworkGateways/" + g.vnet + "-gw"
		g.bgp = enableGatewayBGPASN(t, c, g.path, g.asn, true, false)
		if len(g.bgp) != 2 {
			t.Fatalf("%s: BGP addresses %v, want 2 (active-active)", g.path, g.bgp)
		}
	}
	a, b := gws[0], gws[1]
	vmA := c.vm(sub1, a.group, a.vnet, "vma")
	vmB := c.vm(sub1, b.group, b.vnet, "vmb")
	start := time.Now()
	c.cli("network", "vpn-connection", "create", "-g", a.group, "-n", "A-to-B", "--vnet-gateway1", a.path, "--vnet-gateway2", b.path,
		"--shared-key", "v2vAA42", "--enable-bgp", "-o", "none")
	c.cli("network", "vpn-connection", "create", "-g", b.group, "-n", "B-to-A", "--vnet-gateway1", b.path, "--vnet-gateway2", a.path,
		"--shared-key", "v2vAA42", "--enable-bgp", "-o", "none")
	// 4 tunnels on each side's connection: 2 instances × 2 peer instances.
	c.waitTunnelsConnected(sub1, a.group, "A-to-B", 4, 60*time.Second)
	c.waitTunnelsConnected(sub1, b.group, "B-to-A", 4, 60*time.Second)
	t.Logf("Vnet2Vnet create → 4 tunnels Connected on both sides in %v", time.Since(start).Round(time.Millisecond))

	peers := func(g *gateway) []map[string]any {
		t.Helper()
		var v struct {
			Value []map[string]any `json:"value"`
		}
		out := c.cli("network", "vnet-gateway", "list-bgp-peer-status", "-g", g.group, "-n", g.vnet+"-gw")
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("list-bgp-peer-status %s: %v: %s", g.vnet, err, out)
		}
		return v.Value
	}
	// meshUp: g has a Connected session from each of its instances'
	// addresses with each of the other's.
	meshUp := func(g, other *gateway) bool {
		seen := map[string]bool{}
		for _, p := range peers(g) {
			if p["state"] == "Connected" && p["asn"] == float64(other.asn) && slices.Contains(other.bgp, fmt.Sprint(p["neighbor"])) &&
				slices.Contains(g.bgp, fmt.Sprint(p["localAddress"])) {
				seen[fmt.Sprint(p["localAddress"])+">"+fmt.Sprint(p["neighbor"])] = true
			}
		}
		return len(seen) == 4
	}
	waitMesh := func(timeout time.Duration) {
		t.Helper()
		nstest.WaitFor(t, timeout, func() bool { return meshUp(a, b) && meshUp(b, a) },
			"want 4 Connected BGP sessions on each gateway: A %v, B %v", peers(a), peers(b))
	}
	waitMesh(60 * time.Second)
	t.Logf("Vnet2Vnet create → 4 BGP sessions Connected on both gateways in %v", time.Since(start).Round(time.Millisecond))

	// Each gateway learned the other's VNet from both of the other's
	// instances.
	learnedFrom := func(g *gateway, network string) map[string]bool {
		var v struct {
			Value []map[string]any `json:"value"`
		}
		out := c.cli("network", "vnet-gateway", "list-learned-routes", "-g", g.group, "-n", g.vnet+"-gw")
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("list-learned-routes %s: %v: %s", g.vnet, err, out)
		}
		from := map[string]bool{}
		for _, r := range v.Value {
			if r["network"] == network && r["origin"] == "EBgp" {
				from[fmt.Sprint(r["sourcePeer"])] = true
			}
		}
		return from
	}
	for _, x := range [][2]*gateway{{a, b}, {b, a}} {
		g, other := x[0], x[1]
		nstest.WaitFor(t, 20*time.Second, func() bool {
			from := learnedFrom(g, other.space)
			return from[other.bgp[0]] && from[other.bgp[1]]
		}, "%s did not learn %s from both of %v: %v", g.vnet, other.space, other.bgp, learnedFrom(g, other.space))
	}
	conn := c.connection(sub1, a.group, "A-to-B")
	tunnels, _ := conn["tunnelConnectionStatus"].([]any)
	t.Logf("A-to-B tunnels: %v", tunnels)

	vmANS, vmBNS := c.vmNS(sub1, a.group, "vma"), c.vmNS(sub1, b.group, "vmb")
	reachable(t, vmANS, vmB, 30*time.Second)
	if loss := pingLoss(t, vmANS, vmB, 5, "0.2"); loss != 0 {
		t.Errorf("vma → vmb: %d%% loss", loss)
	}
	if loss := pingLoss(t, vmBNS, vmA, 5, "0.2"); loss != 0 {
		t.Errorf("vmb → vma: %d%% loss", loss)
	}
	t.Logf("Vnet2Vnet create → the VMs ping each other in %v", time.Since(start).Round(time.Millisecond))

	// Failover: kill -9 the agent of instance 0 of each side in turn
	// (instance 0 carries its VNet's traffic: GatewaySpec.LearnedVia).
	for _, g := range gws {
		id, err := resource.ParseID(g.path, "")
		if err != nil {
			t.Fatal(err)
		}
		inst := reconcile.InstanceID(id, 0)
		pid := c.labProcessPID("agent-" + inst)
		o := measureOutage(t, vmANS, vmB, 60*time.Second, func() {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("RESULT Vnet2Vnet active-active both sides, fastTimers: kill -9 of %s's instance 0 agent: %s", g.vnet, o)
		if !o.recovered {
			t.Fatalf("vma → vmb did not come back within 60 s after %s's instance 0 was killed: %s", g.vnet, o)
		}
		waitMesh(90 * time.Second)
		if loss := pingLoss(t, vmBNS, vmA, 5, "0.2"); loss != 0 {
			t.Errorf("after %s's instance 0 came back: vmb → vma: %d%% loss", g.vnet, loss)
		}
	}
	if tun, _ := c.connection(sub1, b.group, "B-to-A")["tunnelConnectionStatus"].([]any); len(tun) != 4 {
		t.Errorf("B-to-A: %d tunnels, want 4: %v", len(tun), tun)
	}
}
