package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vpngw/vpngw/internal/tstest"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// testLab is a lab with a unique prefix whose namespaces are removed when
// the test ends, even if it fails.
type testLab struct {
	t      *testing.T
	prefix string
	dir    string
	// l is the open Lab (tests may close it and open another).
	l *Lab
}

func randomPrefix(t testing.TB) string {
	var b [3]byte
	rand.Read(b[:])
	return "vlab" + hex.EncodeToString(b[:])
}

// newTestLab opens a lab on a fresh state directory with a unique prefix.
// Cleanup runs Down on whichever Lab is open, then deletes anything left
// with the prefix.
func newTestLab(t *testing.T) *testLab {
	t.Helper()
	nstest.RequirePriv(t)
	tl := &testLab{t: t, prefix: randomPrefix(t), dir: t.TempDir()}
	tl.open()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if tl.l == nil {
			tl.open()
		}
		if err := tl.l.Down(ctx); err != nil {
			t.Errorf("Down: %v", err)
		}
		tl.l.Close()
		left, _ := listNS(Names{Prefix: tl.prefix})
		for _, ns := range left {
			t.Errorf("namespace %s left after Down", ns)
			deleteNS(ctx, ns, time.Second)
		}
	})
	return tl
}

func (tl *testLab) open() {
	tl.t.Helper()
	l, err := Open(Options{
		Dir:          tl.dir,
		Prefix:       tl.prefix,
		PublicIPPool: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.0/24")},
		StopTimeout:  2 * time.Second,
	})
	if err != nil {
		tl.t.Fatal(err)
	}
	tl.l = l
}

// reopen closes the Lab and opens a new one on the same state, as a
// restarted server does.
func (tl *testLab) reopen() {
	tl.t.Helper()
	tl.l.Close()
	tl.l = nil
	tl.open()
}

func vnetID(name string) string {
	return "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/" + name
}

func gatewayID(name string) string {
	return "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworkGateways/" + name
}

// vnetSpec is 10.<n>.0.0/16 with GatewaySubnet 10.<n>.255.0/27 and apps
// 10.<n>.1.0/24.
func vnetSpec(name string, n int) VNetSpec {
	return VNetSpec{
		ID:           vnetID(name),
		AddressSpace: []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/16", n))},
		Subnets: []SubnetSpec{
			{Name: "GatewaySubnet", Prefixes: []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("10.%d.255.0/27", n))}},
			{Name: "apps", Prefixes: []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("10.%d.1.0/24", n))}},
		},
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// inNS runs a command in a namespace, bounded by 20 s.
func run(ns string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s in %s: %w: %s", strings.Join(args, " "), ns, err, out)
	}
	return string(out), nil
}

func mustRun(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := run(ns, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func pings(ns string, dst netip.Addr) bool {
	_, err := run(ns, "ping", "-c1", "-W1", "-q", dst.String())
	return err == nil
}

// reach asserts that ns can (or cannot) ping dst.
func reach(t *testing.T, ns string, dst netip.Addr, want bool) {
	t.Helper()
	if want {
		// The first packet may wait for ARP on a fresh link; allow retries.
		if !nstest.Eventually(5*time.Second, func() bool { return pings(ns, dst) }) {
			t.Errorf("%s cannot reach %s", ns, dst)
		}
		return
	}
	if pings(ns, dst) {
		t.Errorf("%s reaches %s, but should not", ns, dst)
	}
}

var (
	pip1 = netip.MustParseAddr("198.51.100.1")
	pip2 = netip.MustParseAddr("198.51.100.2")
	spip = netip.MustParseAddr("192.0.2.10")
)

// topology is what TestTopology builds.
type topology struct {
	vm1, vm2        VM
	gw10, gw11, gw2 GatewayInstance
	site            Site
}

// build realizes two VNets with a VM each, gateway gw1 (two instances,
// instance 0 holding pip1) in vnet1, gw2 (one instance, pip2) in vnet2 and
// site onprem (192.0.2.10, 10.50.0.0/16).
func build(t *testing.T, l *Lab) topology {
	ctx := ctxT(t)
	var tp topology
	check(t, l.EnsureInternet(ctx))
	check(t, l.EnsureVNet(ctx, vnetSpec("vnet1", 1)))
	check(t, l.EnsureVNet(ctx, vnetSpec("vnet2", 2)))
	tp.vm1 = must[VM](t)(l.CreateVM(ctx, VMSpec{ResourceGroup: "rg", Name: "vm1", VNet: vnetID("vnet1"), Subnet: "apps"}))
	tp.vm2 = must[VM](t)(l.CreateVM(ctx, VMSpec{ResourceGroup: "rg", Name: "vm2", VNet: vnetID("VNET2"), Subnet: "Apps"}))
	tp.gw10 = must[GatewayInstance](t)(l.EnsureGatewayInstance(ctx, GatewayInstanceSpec{Gateway: gatewayID("gw1"), Instance: 0, VNet: vnetID("vnet1")}))
	tp.gw11 = must[GatewayInstance](t)(l.EnsureGatewayInstance(ctx, GatewayInstanceSpec{Gateway: gatewayID("gw1"), Instance: 1, VNet: vnetID("vnet1")}))
	tp.gw2 = must[GatewayInstance](t)(l.EnsureGatewayInstance(ctx, GatewayInstanceSpec{Gateway: gatewayID("gw2"), Instance: 0, VNet: vnetID("vnet2")}))
	check(t, l.SetPublicIPs(ctx, gatewayID("gw1"), 0, []netip.Addr{pip1}))
	check(t, l.SetPublicIPs(ctx, gatewayID("gw2"), 0, []netip.Addr{pip2}))
	tp.site = must[Site](t)(l.CreateSite(ctx, SiteSpec{Name: "onprem", PublicIP: spip, AddressPrefixes: []netip.Prefix{netip.MustParsePrefix("10.50.0.0/16")}}))
	gw1 := l.GatewayInstances(gatewayID("GW1"))
	if len(gw1) != 2 {
		t.Fatalf("GatewayInstances(gw1) = %+v", gw1)
	}
	tp.gw10, tp.gw11, tp.gw2 = gw1[0], gw1[1], l.GatewayInstances(gatewayID("gw2"))[0]
	return tp
}

func TestTopology(t *testing.T) {
	tl := newTestLab(t)
	l := tl.l
	ctx := ctxT(t)
	tp := build(t, l)

	// Addresses as documented.
	for _, c := range []struct {
		what      string
		got, want string
	}{
		{"vm1", tp.vm1.IPAddress.String(), "10.1.1.4"},
		{"vm2", tp.vm2.IPAddress.String(), "10.2.1.4"},
		{"vm1 gateway", tp.vm1.DefaultGateway.String(), "10.1.1.1"},
		{"gw1/0", tp.gw10.Address.String(), "10.1.255.4/27"},
		{"gw1/1", tp.gw11.Address.String(), "10.1.255.5/27"},
		{"gw2/0", tp.gw2.Address.String(), "10.2.255.4/27"},
		{"gw1 router", tp.gw10.Router.String(), "10.1.255.1"},
		{"site device", tp.site.DeviceIP.String(), "10.50.0.1"},
		{"site host", tp.site.HostIP.String(), "10.50.0.2"},
		{"vm1 ns", tp.vm1.Namespace, l.Names().VM("RG", "VM1")},
		{"gw1/1 ns", tp.gw11.Namespace, l.Names().GatewayInstance(strings.ToUpper(gatewayID("gw1")), 1)},
		{"site ns", tp.site.Namespace, tl.prefix + "-site-onprem"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", c.what, c.got, c.want)
		}
	}

	// Inside a VNet.
	reach(t, tp.vm1.Namespace, tp.gw10.Address.Addr(), true)
	reach(t, tp.vm1.Namespace, tp.gw11.Address.Addr(), true)
	reach(t, tp.vm2.Namespace, tp.gw2.Address.Addr(), true)
	// Over the internet.
	reach(t, tp.gw10.Namespace, pip2, true)
	reach(t, tp.gw2.Namespace, pip1, true)
	reach(t, tp.site.Namespace, pip1, true)
	reach(t, tp.site.Namespace, pip2, true)
	reach(t, tp.gw2.Namespace, spip, true)
	// Behind the site's device.
	reach(t, tp.site.HostNamespace, tp.site.DeviceIP, true)
	// No routes between VNets and sites yet, and no way off the internet.
	reach(t, tp.vm1.Namespace, tp.vm2.IPAddress, false)
	reach(t, tp.vm1.Namespace, tp.site.HostIP, false)
	reach(t, tp.site.HostNamespace, tp.vm1.IPAddress, false)
	reach(t, tp.vm1.Namespace, pip2, false)
	// The standby instance holds no public IP.
	if got := addrsOn(t, tp.gw11.Namespace, IfWAN); len(got) != 0 {
		t.Errorf("standby instance's wan0 has %v", got)
	}

	// Simulate the agents: a VXLAN tunnel between the instances' public
	// IPs (standing in for ESP) and routes into it; the VNets route the
	// remote prefixes to the active instance.
	tunnel(t, tp.gw10.Namespace, pip1, pip2, "172.31.12.1/30", "02:00:00:00:12:01", 12)
	tunnel(t, tp.gw2.Namespace, pip2, pip1, "172.31.12.2/30", "02:00:00:00:12:02", 12)
	tunnel(t, tp.gw10.Namespace, pip1, spip, "172.31.13.1/30", "02:00:00:00:13:01", 13)
	tunnel(t, tp.site.Namespace, spip, pip1, "172.31.13.2/30", "02:00:00:00:13:02", 13)
	mustRun(t, tp.gw10.Namespace, "ip", "route", "add", "10.2.0.0/16", "via", "172.31.12.2")
	mustRun(t, tp.gw10.Namespace, "ip", "route", "add", "10.50.0.0/16", "via", "172.31.13.2")
	mustRun(t, tp.gw2.Namespace, "ip", "route", "add", "10.1.0.0/16", "via", "172.31.12.1")
	mustRun(t, tp.site.Namespace, "ip", "route", "add", "10.1.0.0/16", "via", "172.31.13.1")
	// Still nothing: the VNets do not route to the instances yet.
	reach(t, tp.vm1.Namespace, tp.vm2.IPAddress, false)

	check(t, l.SetVNetRoutes(ctx, vnetID("vnet1"), []Route{
		{Prefix: netip.MustParsePrefix("10.2.0.0/16"), Via: tp.gw10.Address.Addr()},
		{Prefix: netip.MustParsePrefix("10.50.0.0/16"), Via: tp.gw10.Address.Addr()},
	}))
	check(t, l.SetVNetRoutes(ctx, vnetID("vnet2"), []Route{
		{Prefix: netip.MustParsePrefix("10.1.0.0/16"), Via: tp.gw2.Address.Addr()},
	}))
	reach(t, tp.vm1.Namespace, tp.vm2.IPAddress, true)
	reach(t, tp.vm2.Namespace, tp.vm1.IPAddress, true)
	reach(t, tp.vm1.Namespace, tp.site.HostIP, true)
	reach(t, tp.site.HostNamespace, tp.vm1.IPAddress, true)
	reach(t, tp.vm2.Namespace, tp.site.HostIP, false) // no route vnet2 <-> site

	// Failover: the public IP and the VNet's routes move to instance 1,
	// whose "agent" brings up the same tunnels.
	start := time.Now()
	check(t, l.SetPublicIPs(ctx, gatewayID("gw1"), 1, []netip.Addr{pip1}))
	t.Logf("moving the public IP took %v", time.Since(start))
	if got := addrsOn(t, tp.gw10.Namespace, IfWAN); len(got) != 0 {
		t.Errorf("after failover instance 0's wan0 has %v", got)
	}
	if got := addrsOn(t, tp.gw11.Namespace, IfWAN); !slices.Equal(got, []string{"198.51.100.1/32"}) {
		t.Errorf("after failover instance 1's wan0 has %v", got)
	}
	if gi := l.GatewayInstances(gatewayID("gw1")); len(gi) != 2 || len(gi[0].PublicIPs) != 0 || !slices.Equal(gi[1].PublicIPs, []netip.Addr{pip1}) {
		t.Errorf("GatewayInstances after failover = %+v", gi)
	}
	reach(t, tp.vm1.Namespace, tp.vm2.IPAddress, false) // VNet still routes to instance 0
	tunnel(t, tp.gw11.Namespace, pip1, pip2, "172.31.12.1/30", "02:00:00:00:12:01", 12)
	tunnel(t, tp.gw11.Namespace, pip1, spip, "172.31.13.1/30", "02:00:00:00:13:01", 13)
	mustRun(t, tp.gw11.Namespace, "ip", "route", "add", "10.2.0.0/16", "via", "172.31.12.2")
	mustRun(t, tp.gw11.Namespace, "ip", "route", "add", "10.50.0.0/16", "via", "172.31.13.2")
	check(t, l.SetVNetRoutes(ctx, vnetID("vnet1"), []Route{
		{Prefix: netip.MustParsePrefix("10.2.0.0/16"), Via: tp.gw11.Address.Addr()},
		{Prefix: netip.MustParsePrefix("10.50.0.0/16"), Via: tp.gw11.Address.Addr()},
	}))
	reach(t, tp.vm1.Namespace, tp.vm2.IPAddress, true)
	reach(t, tp.vm1.Namespace, tp.site.HostIP, true)
	reach(t, tp.site.HostNamespace, tp.vm1.IPAddress, true)
	if got := routesIn(t, l.Names().VNet(vnetID("vnet1"))); !slices.Equal(got, []string{"10.2.0.0/16 via 10.1.255.5 dev " + bridgeName("GatewaySubnet"), "10.50.0.0/16 via 10.1.255.5 dev " + bridgeName("GatewaySubnet")}) {
		t.Errorf("vnet1 routes = %q", got)
	}
	// The agent's routes (not the lab's) survive the lab's repairs.
	build(t, l)
	if out := mustRun(t, tp.gw11.Namespace, "ip", "route", "show", "10.2.0.0/16"); !strings.Contains(out, "172.31.12.2") {
		t.Errorf("the agent's route is gone after a repair: %q", out)
	}
	// build() gave pip1 back to instance 0: a move back.
	reach(t, tp.vm1.Namespace, tp.vm2.IPAddress, false)

	// Removing routes cuts the VNets off again.
	check(t, l.SetVNetRoutes(ctx, vnetID("vnet1"), nil))
	if got := routesIn(t, l.Names().VNet(vnetID("vnet1"))); len(got) != 0 {
		t.Errorf("vnet1 routes after clearing = %q", got)
	}
}

// tunnel makes a VXLAN interface vx<id> in ns from local to remote with an
// inner address and a fixed MAC (so a failover needs no new ARP).
func tunnel(t *testing.T, ns string, local, remote netip.Addr, inner, mac string, id int) {
	t.Helper()
	dev := fmt.Sprintf("vx%d", id)
	mustRun(t, ns, "ip", "link", "add", dev, "address", mac, "type", "vxlan", "id", fmt.Sprint(id),
		"local", local.String(), "remote", remote.String(), "dstport", "4789")
	mustRun(t, ns, "ip", "addr", "add", inner, "dev", dev)
	mustRun(t, ns, "ip", "link", "set", dev, "up")
}

// addrsOn lists the IPv4 addresses on an interface.
func addrsOn(t *testing.T, ns, dev string) []string {
	t.Helper()
	c, err := dial(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []string
	for _, p := range c.addrsOf(dev) {
		out = append(out, p.String())
	}
	return out
}

// routesIn lists the lab's routes in a namespace.
func routesIn(t *testing.T, ns string) []string {
	t.Helper()
	c, err := dial(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.routeStrings()
}

// ifindex returns an interface's index (to tell a repaired link from a
// recreated one).
func ifindex(t *testing.T, ns, dev string) int {
	t.Helper()
	c, err := dial(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lk, err := c.link(dev)
	if err != nil || lk == nil {
		t.Fatalf("link %s in %s: %v", dev, ns, err)
	}
	return lk.Attrs().Index
}

func TestIdempotentAndRepair(t *testing.T) {
	tl := newTestLab(t)
	ctx := ctxT(t)
	tp := build(t, tl.l)
	check(t, tl.l.SetVNetRoutes(ctx, vnetID("vnet1"), []Route{{Prefix: netip.MustParsePrefix("10.50.0.0/16"), Via: tp.gw10.Address.Addr()}}))
	before := tl.l.Status()
	idx := ifindex(t, tp.vm1.Namespace, IfVM)

	// Again: nothing changes, nothing is recreated.
	tp2 := build(t, tl.l)
	if !reflect.DeepEqual(tp, tp2) {
		t.Errorf("second build differs:\n%+v\n%+v", tp, tp2)
	}
	if after := tl.l.Status(); !reflect.DeepEqual(before, after) {
		t.Errorf("status changed by a repeated build:\n%+v\n%+v", before, after)
	}
	if got := ifindex(t, tp.vm1.Namespace, IfVM); got != idx {
		t.Errorf("vm1's eth0 was recreated (index %d, was %d)", got, idx)
	}

	// Delete namespaces by hand; the Ensure calls bring them back.
	for _, ns := range []string{tl.l.Names().VNet(vnetID("vnet1")), tp.vm1.Namespace, tl.l.Names().Internet(), tp.site.HostNamespace} {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Fatalf("ip netns del %s: %v: %s", ns, err, out)
		}
	}
	// The namespaces go away asynchronously; wait until the internet's
	// legs have (the endpoints' cached neighbour entry for the router
	// would otherwise still carry a ping through a dying router).
	wanGone := func() bool {
		c, err := dial(tp.gw2.Namespace)
		if err != nil {
			return false
		}
		defer c.Close()
		lk, err := c.link(IfWAN)
		return err == nil && lk == nil
	}
	if !nstest.Eventually(5*time.Second, wanGone) {
		t.Errorf("%s still has %s after the internet was deleted", tp.gw2.Namespace, IfWAN)
	}
	reach(t, tp.gw2.Namespace, pip1, false)
	build(t, tl.l)
	reach(t, tp.vm1.Namespace, tp.gw10.Address.Addr(), true)
	reach(t, tp.gw2.Namespace, pip1, true)
	reach(t, tp.site.HostNamespace, tp.site.DeviceIP, true)
	if got := routesIn(t, tl.l.Names().VNet(vnetID("vnet1"))); len(got) != 1 || !strings.HasPrefix(got[0], "10.50.0.0/16 via 10.1.255.4") {
		t.Errorf("vnet1's routes after its namespace was recreated: %q", got)
	}

	// One endpoint's Ensure call brings back a recreated router's other
	// legs too.
	for _, ns := range []string{tl.l.Names().VNet(vnetID("vnet1")), tl.l.Names().Internet()} {
		check(t, runIPErr("netns", "del", ns))
	}
	must[GatewayInstance](t)(tl.l.EnsureGatewayInstance(ctx, GatewayInstanceSpec{Gateway: gatewayID("gw1"), Instance: 0, VNet: vnetID("vnet1")}))
	reach(t, tp.vm1.Namespace, tp.gw11.Address.Addr(), true)
	reach(t, tp.site.Namespace, pip2, true)
	if t.Failed() {
		for _, ns := range []string{tp.vm1.Namespace, tl.l.Names().VNet(vnetID("vnet1")), tl.l.Names().Internet(), tp.site.Namespace} {
			t.Logf("%s:\n%s%s", ns, mustRun(t, ns, "ip", "-br", "a"), mustRun(t, ns, "ip", "r"))
		}
	}

	// A stale address and route are repaired too.
	mustRun(t, tp.gw10.Namespace, "ip", "addr", "add", "198.51.100.99/32", "dev", IfWAN)
	mustRun(t, tl.l.Names().Internet(), "ip", "route", "add", "198.51.100.99/32", "dev", routerIf('p', tp.gw10.Namespace), "proto", "200")
	check(t, tl.l.Restore(ctx))
	if got := addrsOn(t, tp.gw10.Namespace, IfWAN); !slices.Equal(got, []string{"198.51.100.1/32"}) {
		t.Errorf("gw1/0 wan0 after Restore = %v", got)
	}
	if got := routesIn(t, tl.l.Names().Internet()); len(got) != 3 {
		t.Errorf("internet routes after Restore = %q", got)
	}

	// A restart: a new Lab on the same state sees the same topology, and
	// Restore rebuilds it after everything is gone (a reboot).
	before = tl.l.Status()
	tl.reopen()
	if after := tl.l.Status(); !reflect.DeepEqual(before, after) {
		t.Errorf("status after reopening:\n%+v\nwant\n%+v", after, before)
	}
	for _, ns := range tl.l.recordedNamespaces() {
		check(t, deleteNS(ctx, ns, time.Second))
	}
	check(t, tl.l.Restore(ctx))
	if after := tl.l.Status(); !reflect.DeepEqual(before, after) {
		t.Errorf("status after Restore from nothing:\n%+v\nwant\n%+v", after, before)
	}
	reach(t, tp.vm1.Namespace, tp.gw10.Address.Addr(), true)
	reach(t, tp.site.Namespace, pip1, true)
	reach(t, tp.site.Namespace, pip2, true)

	// Only one Lab per state directory.
	if _, err := Open(Options{Dir: tl.dir, Prefix: tl.prefix}); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open = %v, want ErrLocked", err)
	}
}

func TestVMsSitesAndDeletes(t *testing.T) {
	tl := newTestLab(t)
	l := tl.l
	ctx := ctxT(t)
	check(t, l.EnsureVNet(ctx, vnetSpec("vnet1", 1)))
	a := must[VM](t)(l.CreateVM(ctx, VMSpec{ResourceGroup: "rg", Name: "a", VNet: vnetID("vnet1"), Subnet: "apps"}))
	b := must[VM](t)(l.CreateVM(ctx, VMSpec{ResourceGroup: "rg2", Name: "a", VNet: vnetID("vnet1"), Subnet: "apps"}))
	if a.IPAddress.String() != "10.1.1.4" || b.IPAddress.String() != "10.1.1.5" {
		t.Errorf("VM addresses %s, %s", a.IPAddress, b.IPAddress)
	}
	reach(t, a.Namespace, b.IPAddress, true)
	if _, err := l.CreateVM(ctx, VMSpec{ResourceGroup: "rg", Name: "x", VNet: vnetID("vnet1"), Subnet: "GatewaySubnet"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("VM in GatewaySubnet: %v", err)
	}
	if _, err := l.CreateVM(ctx, VMSpec{ResourceGroup: "RG", Name: "A", VNet: vnetID("vnet1"), Subnet: "GatewaySubnet2"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("VM in a missing subnet: %v", err)
	}
	check(t, l.EnsureVNet(ctx, VNetSpec{ID: vnetID("vnet1"), AddressSpace: vnetSpec("", 1).AddressSpace, Subnets: append(vnetSpec("", 1).Subnets, SubnetSpec{Name: "db", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24")}})}))
	if _, err := l.CreateVM(ctx, VMSpec{ResourceGroup: "RG", Name: "A", VNet: vnetID("vnet1"), Subnet: "db"}); !errors.Is(err, ErrConflict) {
		t.Errorf("same VM in another subnet: %v", err)
	}
	c := must[VM](t)(l.CreateVM(ctx, VMSpec{ResourceGroup: "rg", Name: "c", VNet: vnetID("vnet1"), Subnet: "db"}))
	reach(t, a.Namespace, c.IPAddress, true) // routed by the VNet router
	if got := len(l.VMs("")); got != 3 {
		t.Errorf("VMs = %d", got)
	}
	if got := l.VMs("RG2"); len(got) != 1 || got[0].Namespace != b.Namespace {
		t.Errorf("VMs(RG2) = %+v", got)
	}
	// Removing the subnet removes its VM and its bridge.
	check(t, l.EnsureVNet(ctx, vnetSpec("vnet1", 1)))
	if _, err := l.GetVM("rg", "c"); !errors.Is(err, ErrNotFound) {
		t.Errorf("VM c after its subnet was removed: %v", err)
	}
	if nsPresent(c.Namespace) {
		t.Errorf("VM c's namespace survived its subnet")
	}
	check(t, l.DeleteVM(ctx, "RG2", "A"))
	if nsPresent(b.Namespace) {
		t.Errorf("namespace of deleted VM exists")
	}
	if err := l.DeleteVM(ctx, "rg2", "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}

	// Sites: validation and conflicts.
	s := must[Site](t)(l.CreateSite(ctx, SiteSpec{Name: "Branch-1", PublicIP: netip.MustParseAddr("192.0.2.7"), AddressPrefixes: []netip.Prefix{netip.MustParsePrefix("10.60.1.0/24"), netip.MustParsePrefix("10.61.0.0/16")}}))
	if s.Name != "branch-1" || s.DeviceIP.String() != "10.60.1.1" || s.HostIP.String() != "10.60.1.2" {
		t.Errorf("site = %+v", s)
	}
	if _, err := l.CreateSite(ctx, SiteSpec{Name: "branch-1", PublicIP: netip.MustParseAddr("192.0.2.8"), AddressPrefixes: s.AddressPrefixes}); !errors.Is(err, ErrConflict) {
		t.Errorf("site with another IP: %v", err)
	}
	if _, err := l.CreateSite(ctx, SiteSpec{Name: "branch-2", PublicIP: s.PublicIP, AddressPrefixes: s.AddressPrefixes}); !errors.Is(err, ErrAddressInUse) {
		t.Errorf("site with a taken IP: %v", err)
	}
	gi := must[GatewayInstance](t)(l.EnsureGatewayInstance(ctx, GatewayInstanceSpec{Gateway: gatewayID("gw"), VNet: vnetID("vnet1")}))
	if err := l.SetPublicIPs(ctx, gatewayID("gw"), 0, []netip.Addr{s.PublicIP}); !errors.Is(err, ErrAddressInUse) {
		t.Errorf("gateway taking a site's IP: %v", err)
	}
	if err := l.SetPublicIPs(ctx, gatewayID("gw"), 0, []netip.Addr{netip.MustParseAddr("8.8.8.8")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("non-TEST-NET public IP: %v", err)
	}
	check(t, l.SetPublicIPs(ctx, gatewayID("gw"), 0, []netip.Addr{pip1}))
	reach(t, s.Namespace, pip1, true)
	check(t, l.DeleteSite(ctx, "BRANCH-1"))
	for _, ns := range []string{s.Namespace, s.HostNamespace} {
		if nsPresent(ns) {
			t.Errorf("%s survives DeleteSite", ns)
		}
	}
	reach(t, gi.Namespace, s.PublicIP, false)
	check(t, l.DeleteGateway(ctx, gatewayID("gw")))
	if nsPresent(gi.Namespace) || len(routesIn(t, l.Names().Internet())) != 0 {
		t.Errorf("gateway instance left behind: ns %v, internet routes %q", nsPresent(gi.Namespace), routesIn(t, l.Names().Internet()))
	}
	check(t, l.DeleteVNet(ctx, vnetID("vnet1")))
	if nsPresent(a.Namespace) || nsPresent(l.Names().VNet(vnetID("vnet1"))) {
		t.Errorf("DeleteVNet left namespaces")
	}
}

// TestMain lets the test binary act as a short-lived parent for
// TestStartDetachedSurvivesParent.
func TestMain(m *testing.M) {
	if ns := os.Getenv("VLAB_HELPER_NS"); ns != "" {
		p, err := StartDetached(context.Background(), ns, []string{"sleep", "300"}, os.Getenv("VLAB_HELPER_LOG"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(p.PID, p.StartTime)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestStartDetachedSurvivesParent(t *testing.T) {
	tl := newTestLab(t)
	ctx := ctxT(t)
	check(t, tl.l.EnsureVNet(ctx, vnetSpec("vnet1", 1)))
	vm := must[VM](t)(tl.l.CreateVM(ctx, VMSpec{ResourceGroup: "rg", Name: "vm", VNet: vnetID("vnet1"), Subnet: "apps"}))

	// A parent process starts sleep detached and exits.
	logFile := tl.dir + "/helper.log"
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "VLAB_HELPER_NS="+vm.Namespace, "VLAB_HELPER_LOG="+logFile)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	p := Process{Namespace: vm.Namespace, Argv: []string{"sleep", "300"}}
	if _, err := fmt.Sscan(string(out), &p.PID, &p.StartTime); err != nil {
		t.Fatalf("helper output %q: %v", out, err)
	}
	t.Cleanup(func() { Stop(context.Background(), p, time.Second) })
	if !Running(p) {
		t.Fatalf("detached process %d is not running after its parent exited", p.PID)
	}
	if got := pidsIn(vm.Namespace); !slices.Contains(got, p.PID) {
		t.Errorf("process %d is not in namespace %s (pids there: %v)", p.PID, vm.Namespace, got)
	}
	if sid, _ := sessionOf(p.PID); sid != p.PID {
		t.Errorf("session of %d is %d, want its own", p.PID, sid)
	}
	wrong := p
	wrong.StartTime++
	if Running(wrong) {
		t.Errorf("Running ignores the start time")
	}
	check(t, Stop(ctx, p, 2*time.Second))
	if Running(p) {
		t.Errorf("still running after Stop")
	}

	// Recorded processes: EnsureProcess is idempotent, StopProcess stops.
	p1 := must[Process](t)(tl.l.EnsureProcess(ctx, ProcessSpec{Name: "sleeper", Namespace: vm.Namespace, Argv: []string{"sleep", "301"}}))
	p2 := must[Process](t)(tl.l.EnsureProcess(ctx, ProcessSpec{Name: "sleeper", Namespace: vm.Namespace, Argv: []string{"sleep", "301"}}))
	if p1.PID != p2.PID || !Running(p2) {
		t.Errorf("EnsureProcess restarted a running process: %d then %d", p1.PID, p2.PID)
	}
	p3 := must[Process](t)(tl.l.EnsureProcess(ctx, ProcessSpec{Name: "sleeper", Namespace: vm.Namespace, Argv: []string{"sleep", "302"}}))
	if Running(p1) || !Running(p3) {
		t.Errorf("changing the command line did not replace the process")
	}
	if _, err := tl.l.EnsureProcess(ctx, ProcessSpec{Name: "false", Namespace: vm.Namespace, Argv: []string{"sh", "-c", "echo broken >&2; exit 3"}}); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("a process that exits at once: %v", err)
	}
	if _, err := tl.l.EnsureProcess(ctx, ProcessSpec{Name: "x", Namespace: "not-the-labs", Argv: []string{"true"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("process outside the lab: %v", err)
	}
	tl.reopen()
	if ps := tl.l.Processes(); len(ps) != 1 || ps[0].PID != p3.PID || !ps[0].Running {
		t.Errorf("processes after reopening = %+v", ps)
	}
	check(t, tl.l.StopProcess(ctx, "sleeper"))
	if Running(p3) || len(tl.l.Processes()) != 0 {
		t.Errorf("StopProcess left %+v", tl.l.Processes())
	}
}

// sessionOf reads the session ID (field 6) of a process.
func sessionOf(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	var sid int
	_, err = fmt.Sscan(f[3], &sid)
	return sid, err
}

func TestDownRemovesOnlyTheLab(t *testing.T) {
	tl := newTestLab(t)
	ctx := ctxT(t)
	tp := build(t, tl.l)
	p := must[Process](t)(tl.l.EnsureProcess(ctx, ProcessSpec{Name: "agent", Namespace: tp.gw10.Namespace, Argv: []string{"sleep", "303"}}))
	// A process the lab did not start, inside one of its namespaces.
	stray := exec.Command("ip", "netns", "exec", tp.vm1.Namespace, "sleep", "304")
	tstest.StartT(t, stray, time.Second)
	// Namespaces with the prefix but not in the state go too...
	check(t, runIPErr("netns", "add", tl.prefix+"-stray"))
	// ...but not namespaces of other labs, even with a similar name.
	others := []string{tl.prefix + "x-keep", randomPrefix(t) + "-inet"}
	for _, ns := range others {
		check(t, runIPErr("netns", "add", ns))
		t.Cleanup(func() { runIPErr("netns", "del", ns) })
	}
	if st := tl.l.Status(); !slices.Equal(st.StrayNamespaces, []string{tl.prefix + "-stray"}) {
		t.Errorf("stray namespaces = %q", st.StrayNamespaces)
	}

	check(t, tl.l.Down(ctx))
	if left, _ := listNS(tl.l.Names()); len(left) != 0 {
		t.Errorf("namespaces left: %q", left)
	}
	for _, ns := range others {
		if !nsPresent(ns) {
			t.Errorf("Down deleted %s, which is not the lab's", ns)
		}
	}
	if Running(p) {
		t.Errorf("recorded process survives Down")
	}
	if !nstest.Eventually(3*time.Second, func() bool { return !syscallAlive(stray.Process.Pid) }) {
		t.Errorf("process inside a lab namespace survives Down")
	}
	if _, err := os.Stat(tl.dir + "/" + stateFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file after Down: %v", err)
	}
	if st := tl.l.Status(); st.Internet != nil || len(st.VNets)+len(st.VMs)+len(st.Sites)+len(st.Gateways) != 0 {
		t.Errorf("status after Down = %+v", st)
	}
	// The lab is usable again.
	check(t, tl.l.EnsureVNet(ctx, vnetSpec("vnet1", 1)))
}

func runIPErr(args ...string) error { return runIP(context.Background(), args...) }

// syscallAlive reports whether a PID exists and is not a zombie.
func syscallAlive(pid int) bool {
	_, ok := startTime(pid)
	return ok
}

func TestHTTPHandler(t *testing.T) {
	tl := newTestLab(t)
	spec := vnetSpec("vnet1", 1)
	srv := httptestServer(t, Handler(tl.l, fakeResolver{"rg/vnet1": spec}))
	do := func(method, path, body string, want int) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, srv+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		if resp.StatusCode != want {
			t.Fatalf("%s %s = %d %v, want %d", method, path, resp.StatusCode, m, want)
		}
		return m
	}
	vm := do("PUT", "/lab/v1/vms/RG/web", `{"vnet":"VNET1","subnet":"apps"}`, 200)
	if vm["ipAddress"] != "10.1.1.4" || vm["vnet"] != spec.ID {
		t.Errorf("VM = %v", vm)
	}
	if again := do("PUT", "/lab/v1/vms/rg/WEB", `{"vnet":"vnet1","subnet":"apps"}`, 200); again["namespace"] != vm["namespace"] {
		t.Errorf("repeated PUT = %v", again)
	}
	site := do("PUT", "/lab/v1/sites/hq", `{"publicIp":"192.0.2.44","addressPrefixes":["10.90.0.0/24"]}`, 200)
	if site["deviceIp"] != "10.90.0.1" || site["hostIp"] != "10.90.0.2" || site["publicIp"] != "192.0.2.44" {
		t.Errorf("site = %v", site)
	}
	do("PUT", "/lab/v1/sites/hq2", `{"publicIp":"192.0.2.44","addressPrefixes":["10.91.0.0/24"]}`, 409)

	// A reserved prefix: a clear 400 and nothing built, so the corrected
	// PUT succeeds (it was a 500 and a half-built site answering 409).
	errOf := func(m map[string]any) (code, msg string) {
		e, _ := m["error"].(map[string]any)
		code, _ = e["code"].(string)
		msg, _ = e["message"].(string)
		return code, msg
	}
	for _, bad := range []string{"224.0.0.0/4", "127.0.0.0/8", "255.255.255.255/32"} {
		m := do("PUT", "/lab/v1/sites/mc", `{"publicIp":"192.0.2.45","addressPrefixes":["`+bad+`"]}`, 400)
		if code, msg := errOf(m); code != "InvalidParameter" || !strings.Contains(msg, bad) {
			t.Errorf("site with prefix %s: %v", bad, m)
		}
	}
	do("GET", "/lab/v1/sites/mc", "", 404)
	do("PUT", "/lab/v1/sites/mc", `{"publicIp":"192.0.2.45","addressPrefixes":["10.92.0.0/24"]}`, 200)
	do("DELETE", "/lab/v1/sites/mc", "", 200)

	// A site whose realization fails half-way (its host namespace cannot
	// be created) is removed again: a 500 without internals, and a retry
	// succeeds once the cause is gone.
	blocker := filepath.Join(netnsDir, tl.l.Names().SiteHost("broken"))
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(blocker) })
	m := do("PUT", "/lab/v1/sites/broken", `{"publicIp":"192.0.2.46","addressPrefixes":["10.93.0.0/24"]}`, 500)
	if code, msg := errOf(m); code != "InternalServerError" || strings.Contains(msg, "netns") || strings.Contains(msg, "broken") {
		t.Errorf("half-built site: %v", m)
	}
	do("GET", "/lab/v1/sites/broken", "", 404)
	if ns := tl.l.Names().SiteDevice("broken"); nsPresent(ns) {
		t.Errorf("namespace %s of a failed site left behind", ns)
	}
	os.RemoveAll(blocker)
	do("PUT", "/lab/v1/sites/broken", `{"publicIp":"192.0.2.46","addressPrefixes":["10.93.0.0/24"]}`, 200)
	do("DELETE", "/lab/v1/sites/broken", "", 200)
	st := do("GET", "/lab/v1/status", "", 200)
	if vms, _ := st["vms"].([]any); len(vms) != 1 || st["internet"] == nil {
		t.Errorf("status = %v", st)
	}
	do("DELETE", "/lab/v1/vms/rg/web", "", 200)
	do("POST", "/lab/v1/down", "", 200)
	if left, _ := listNS(tl.l.Names()); len(left) != 0 {
		t.Errorf("down left %q", left)
	}
}

func httptestServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestConcurrentCalls(t *testing.T) {
	tl := newTestLab(t)
	ctx := ctxT(t)
	check(t, tl.l.EnsureVNet(ctx, vnetSpec("vnet1", 1)))
	const n = 6
	errs := make(chan error, 2*n)
	ips := make(chan netip.Addr, n)
	for i := range n {
		go func() {
			vm, err := tl.l.CreateVM(ctx, VMSpec{ResourceGroup: "rg", Name: fmt.Sprint("vm", i), VNet: vnetID("vnet1"), Subnet: "apps"})
			ips <- vm.IPAddress
			errs <- err
		}()
		go func() {
			errs <- tl.l.SetVNetRoutes(ctx, vnetID("vnet1"), []Route{{Prefix: netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/16", 100+i)), Via: netip.MustParseAddr("10.1.255.4")}})
		}()
	}
	seen := map[netip.Addr]bool{}
	for range n {
		a := <-ips
		if seen[a] {
			t.Errorf("address %s handed out twice", a)
		}
		seen[a] = true
	}
	for range 2 * n {
		check(t, <-errs)
	}
	if got := routesIn(t, tl.l.Names().VNet(vnetID("vnet1"))); len(got) != 1 {
		t.Errorf("routes after concurrent replaces = %q", got)
	}
}

// addrsOf returns the IPv4 addresses of the named link (nil if it is
// missing).
func (c *nsConn) addrsOf(name string) []netip.Prefix {
	l, err := c.link(name)
	if err != nil || l == nil {
		return nil
	}
	have, err := c.h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range have {
		out = append(out, prefixOf(a.IPNet))
	}
	return out
}

// routeStrings renders the namespace's lab routes as ip-route(8) would
// ("10.2.0.0/16 via 10.1.255.4"), sorted.
func (c *nsConn) routeStrings() []string {
	rs, err := c.labRoutes()
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		s := prefixOf(r.Dst).String()
		if r.Gw != nil {
			s += " via " + r.Gw.String()
		}
		if l, err := c.h.LinkByIndex(r.LinkIndex); err == nil {
			s += " dev " + l.Attrs().Name
		}
		if r.Flags&int(netlink.FLAG_ONLINK) != 0 {
			s += " onlink"
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// A public endpoint routes to the internet via the router's address
// (onlink), so traffic from many sources leaves one neighbour entry on its
// wan0, not one per source: a flood from spoofed sources must not fill the
// host-wide ARP table and break unrelated tunnels (issue 13).
func TestEndpointNeighboursStayFew(t *testing.T) {
	tl := newTestLab(t)
	l := tl.l
	tp := build(t, l)
	for _, ns := range []string{tp.gw10.Namespace, tp.gw11.Namespace, tp.site.Namespace} {
		if got := routesIn(t, ns); !slices.Contains(got, "0.0.0.0/0 via 169.254.0.1 dev wan0 onlink") {
			t.Errorf("%s routes = %q, want the default via the internet router", ns, got)
		}
	}
	// 64 sources (TEST-NET-3, outside what the lab has handed out) on the
	// internet router, each pinging the site and gateway 1's active
	// instance once.
	inet := l.Names().Internet()
	const sources = 64
	for i := 0; i < sources; i++ {
		mustRun(t, inet, "ip", "addr", "add", fmt.Sprintf("203.0.113.%d/32", 128+i), "dev", "lo")
	}
	script := fmt.Sprintf(`ok=0
for i in $(seq 128 %d); do
  for dst in %s %s; do ping -c1 -W2 -q -I 203.0.113.$i $dst >/dev/null 2>&1 && echo ok & done
done
wait`, 128+sources-1, spip, pip1)
	out := mustRun(t, inet, "sh", "-c", script)
	if n := strings.Count(out, "ok"); n < sources { // most of 2×64 answered
		t.Fatalf("only %d of %d pings answered: the test sends no real traffic", n, 2*sources)
	}
	for _, ns := range []string{tp.site.Namespace, tp.gw10.Namespace} {
		neigh := strings.TrimSpace(mustRun(t, ns, "ip", "-4", "neigh", "show", "dev", IfWAN))
		if n := len(strings.Split(neigh, "\n")); n > 4 {
			t.Errorf("%s has %d neighbour entries on %s after traffic from %d sources (want a handful):\n%s", ns, n, IfWAN, sources, neigh)
		}
	}
}
