package bgplab_test

// Azure's BGP rules through real tunnels (reference §2.6): transit needs
// BGP on every connection it crosses, what is never re-advertised, and the
// 4,000-prefix limit. The lab is the one of bgp_interop_test.go, with a
// third site D (10.4.0.0/24 on wan2) that has no BGP:
//
//	site B (BGP) ─┐                 ┌─ site C (BGP)
//	              [gateway 10.1/16] ─┤
//	                                └─ site D (static, no FRR)

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agent"
	"github.com/vpngw/vpngw/internal/bgp"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

// staticSite builds site n with strongSwan only (no BGP): its selectors
// are its own 10.n.0.0/16 and the VNet plus remote, so that packets to the
// other sites do enter its tunnel and only the gateway can stop them.
func (l *lab) staticSite(n int, remote ...string) (*nstest.Site, gwconfig.Connection) {
	t := l.t
	s := nstest.NewSite(t, fmt.Sprintf("vbg%d", n), netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/24", n)))
	wan := netip.AddrFrom4([4]byte{192, 0, 2, byte(4*(n-2) + 2)})
	gwWAN := netip.AddrFrom4([4]byte{192, 0, 2, byte(4*(n-2) + 1)})
	l.link(s.GW, "wan0", netip.PrefixFrom(wan, 30), fmt.Sprintf("wan%d", n-2), netip.PrefixFrom(gwWAN, 30))
	swantest.Start(t, s.GW, swantest.Conn{Name: "vpngw", LocalAddr: wan.String(), RemoteAddr: gwWAN.String(), PSK: psk,
		RemoteID: gwPublic.String(), IKE: ikeSuite, ESP: espSuite,
		LocalTS: []string{fmt.Sprintf("10.%d.0.0/16", n)}, RemoteTS: append([]string{vnet.String()}, remote...)})
	return s, gwconfig.Connection{Name: fmt.Sprintf("to-%d", n), RemoteAddress: wan.String(),
		RemotePrefixes: []string{s.LAN.String()}, SharedKey: psk, IKEProposals: ikeSuite, ESPProposals: espSuite}
}

// transitDrops is the connection's DropTransit counter.
func transitDrops(a *agent.Agent, name string) uint64 {
	for _, c := range a.Status().Connections {
		if c.Name == name && c.Traffic != nil {
			return c.Traffic.DropTransit
		}
	}
	return 0
}

// advertisedTo lists the networks the agent advertises to peer.
func advertisedTo(a *agent.Agent, peer string) []string {
	var out []string
	if st := a.Status().BGP; st != nil {
		for _, r := range st.AdvertisedRoutes[peer] {
			out = append(out, r.Network)
		}
	}
	return out
}

// TestBGPTransitNeedsBGPOnBothConnections: Azure's "transit routing works
// only if BGP is enabled on every intermediate connection; BGP and non-BGP
// connections can be mixed". Sites B and C (BGP) reach each other through
// the gateway; site D (static) reaches the VNet and the VNet reaches it,
// but neither B nor C reaches D nor D them, although every site's
// selectors let the packets into its tunnel: the gateway drops them
// (DropTransit). D's prefix is not advertised to the BGP peers. Site B
// also advertises 0.0.0.0/0, the VNet supernet 10.0.0.0/8 and a prefix
// inside the VNet: none of them reaches C.
func TestBGPTransitNeedsBGPOnBothConnections(t *testing.T) {
	l := newLab(t)
	b := l.site(2, siteOpts{remote: []string{"10.3.0.0/16", "10.4.0.0/16"}, nets: []string{"0.0.0.0/0", "10.0.0.0/8", "10.1.5.0/24"}})
	c := l.site(3, siteOpts{remote: []string{"10.2.0.0/16", "10.4.0.0/16"}})
	d, dConn := l.staticSite(4, "10.2.0.0/16", "10.3.0.0/16")
	cfg := l.config(b, c)
	cfg.Connections = append(cfg.Connections, dConn)
	a := l.start(cfg)

	// The static site and the VNet reach each other.
	nstest.WaitFor(t, 30*time.Second, func() bool { return pings(l.vnet, d.LANHost.String()) },
		"the VNet host cannot reach the static site D (%s)", d.LANHost)
	if !pings(d.Host, "10.1.0.2") {
		t.Fatal("site D cannot reach the VNet host")
	}
	// BGP transit between B and C works.
	nstest.WaitFor(t, 30*time.Second, func() bool {
		return learnedFrom(a, "10.2.50.0/24", b.bgpAddr) && learnedFrom(a, "10.3.50.0/24", c.bgpAddr) &&
			frrHas(b.frr, "10.3.50.0/24", fmt.Sprintf("%d %d", gwASN, c.asn))
	}, "B and C did not learn each other's prefixes")
	nstest.WaitFor(t, 10*time.Second, func() bool { return pings(b.Host, "-I", b.bgpOnly.String(), c.bgpOnly.String()) },
		"site B cannot reach site C's %s through the gateway:\n%s", c.bgpOnly, fmtStatus(a))
	if !pings(c.Host, b.LANHost.String()) {
		t.Fatalf("site C cannot reach site B's LAN host %s", b.LANHost)
	}

	// What the BGP sites are told: the VNet, the BGP sites' prefixes;
	// not the static site, not 0.0.0.0/0, not what overlaps the VNet.
	nstest.WaitFor(t, 10*time.Second, func() bool { return frrHas(c.frr, b.LAN.String(), "65515") },
		"site C did not learn site B's LAN (a BGP connection's local network gateway) from the gateway")
	for _, s := range []*bgpSite{b, c} {
		rs, err := s.frr.Routes()
		if err != nil {
			t.Fatal(err)
		}
		if rs[d.LAN.String()] != nil {
			t.Errorf("site %d learned the static site's %s: %+v", s.n, d.LAN, rs[d.LAN.String()])
		}
		if adv := advertisedTo(a, s.bgpAddr); !contains(adv, vnet.String()) || contains(adv, d.LAN.String()) {
			t.Errorf("advertised to %s: %v (want the VNet, not %s)", s.bgpAddr, adv, d.LAN)
		}
	}
	rs, err := c.frr.Routes()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"0.0.0.0/0", "10.0.0.0/8", "10.1.5.0/24"} {
		if rs[p] != nil {
			t.Errorf("site C got %s from the gateway: %+v", p, rs[p])
		}
		if contains(advertisedTo(a, c.bgpAddr), p) {
			t.Errorf("%s listed as advertised to C", p)
		}
	}
	if !learnedFrom(a, "10.0.0.0/8", b.bgpAddr) || !learnedFrom(a, "0.0.0.0/0", b.bgpAddr) || learnedFrom(a, "10.1.5.0/24", b.bgpAddr) {
		t.Errorf("from B: want 10.0.0.0/8 and 0.0.0.0/0 accepted and 10.1.5.0/24 refused: %+v", a.Status().BGP.LearnedRoutes)
	}

	// No transit between a BGP site and the static one, either way: the
	// packets reach the gateway (their sites' selectors send them) and
	// are dropped there.
	for _, tc := range []struct {
		from *nstest.NS
		conn string // the connection the packets arrive through
		dst  string
	}{
		{b.Host, "to-2", d.LANHost.String()},
		{c.Host, "to-3", d.LANHost.String()},
		{d.Host, "to-4", b.LANHost.String()},
		{d.Host, "to-4", c.bgpOnly.String()},
	} {
		before := transitDrops(a, tc.conn)
		if pings(tc.from, tc.dst) {
			t.Errorf("through %s: %s reachable (no transit without BGP on both connections)", tc.conn, tc.dst)
		}
		nstest.WaitFor(t, 5*time.Second, func() bool { return transitDrops(a, tc.conn) > before },
			"through %s to %s: no DropTransit counted (did the packet reach the gateway?)", tc.conn, tc.dst)
	}
	m := l.gw.MustRun(t, "curl", "-sf", "--unix-socket", cfg.StatusSocket, "http://agent/metrics")
	if !strings.Contains(m, `vpngw_connection_transit_drops_total{connection="to-4"}`) {
		t.Errorf("metrics lack vpngw_connection_transit_drops_total for to-4")
	}
	// The BGP sites still reach each other and the VNet reaches D.
	if !pings(b.Host, c.LANHost.String()) {
		t.Errorf("site B no longer reaches site C's LAN host %s", c.LANHost)
	}
	if !pings(l.vnet, d.LANHost.String()) {
		t.Errorf("the VNet host no longer reaches site D's %s", d.LANHost)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestBGPMaxPrefixesThroughTunnel: FRR behind strongSwan advertises 4,000
// prefixes through the tunnel (its 10.2.50.0/24 and 3,999 more), which the
// gateway accepts and routes; the 4,001st stops the session with Azure's
// reason in the peer status (getBgpPeerStatus's source) and the routes
// leave the kernel.
func TestBGPMaxPrefixesThroughTunnel(t *testing.T) {
	l := newLab(t)
	nets := make([]string, bgp.DefaultMaxPrefixes-1)
	for i := range nets {
		nets[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64 + byte(i>>8), byte(i), 0}), 24).String()
	}
	b := l.site(2, siteOpts{nets: nets})
	a := l.start(l.config(b))
	peer := func() agentBGPPeer {
		if st := a.Status().BGP; st != nil && len(st.Peers) == 1 {
			p := st.Peers[0]
			return agentBGPPeer{p.State, p.RoutesReceived, p.Reason}
		}
		return agentBGPPeer{}
	}
	nstest.WaitFor(t, 60*time.Second, func() bool { return a.Status().BGP != nil && a.Status().BGP.Installed == bgp.DefaultMaxPrefixes },
		"4,000 prefixes not installed (peer %+v)", peer())
	if p := peer(); p.state != "Connected" || p.received != bgp.DefaultMaxPrefixes {
		t.Fatalf("at 4,000 prefixes: %+v", p)
	}
	kernelRoutes := func() int {
		return strings.Count(l.gw.MustRun(t, "ip", "route", "show", "root", "100.64.0.0/10"), "dev vpngw0")
	}
	if n := kernelRoutes(); n != bgp.DefaultMaxPrefixes-1 {
		t.Fatalf("%d kernel routes into the tunnel for 100.64.0.0/10, want %d", n, bgp.DefaultMaxPrefixes-1)
	}
	if !pings(l.vnet, b.bgpOnly.String()) {
		t.Fatal("the VNet host cannot reach 10.2.50.10 at 4,000 prefixes")
	}

	b.frr.Configure(t, fmt.Sprintf("router bgp %d", b.asn), "address-family ipv4 unicast", "network 100.127.255.0/24")
	nstest.WaitFor(t, 30*time.Second, func() bool { return peer().state == "Stopped" }, "the 4,001st prefix did not stop the session: %+v", peer())
	p := peer()
	if !strings.Contains(p.reason, "maximum number of prefixes") || !strings.Contains(p.reason, "4000") {
		t.Errorf("reason %q", p.reason)
	}
	t.Logf("peer after the 4,001st prefix: %+v", p)
	nstest.WaitFor(t, 15*time.Second, func() bool { return kernelRoutes() == 0 && a.Status().BGP.Installed == 0 },
		"learned routes not removed after the session stopped")
	nstest.WaitFor(t, 15*time.Second, func() bool {
		n, err := b.frr.Neighbor(l.gwBGP)
		return err == nil && n.State != "Established" && strings.Contains(strings.ToLower(n.LastNotificationReason+n.LastResetDueTo), "maximum number of prefixes")
	}, "FRR did not see Cease/Maximum Number of Prefixes Reached")
	if pings(l.vnet, b.bgpOnly.String()) {
		t.Error("10.2.50.10 still reachable after the session stopped")
	}
	if !pings(l.vnet, b.LANHost.String()) {
		t.Error("the site's static prefix became unreachable")
	}
}

// agentBGPPeer is what the max-prefix test reads of the peer status.
type agentBGPPeer struct {
	state    string
	received int64
	reason   string
}

// TestBGPDefaultRouteSteersVNetEgress: site B advertises 0.0.0.0/0 and
// nothing for 10.2.99.0/24, a network only it knows (its selectors cover
// 10.2.0.0/16). The gateway accepts the default route and routes the
// VNet's egress into B's tunnel: the VNet host reaches 10.2.99.10. The
// gateway has a default route of its own (via site C's public address,
// where 10.2.99.10 is unreachable, so only B's tunnel can deliver the
// pings); it stays, the gateway's own packets keep using it, its way to
// the sites' public addresses stays on the WAN links (the tunnels keep
// running), and only packets from the VNet take the learned default
// route. When B withdraws it, 10.2.99.10 is unreachable again and the
// rules are gone.
func TestBGPDefaultRouteSteersVNetEgress(t *testing.T) {
	l := newLab(t)
	b := l.site(2, siteOpts{nets: []string{"0.0.0.0/0"}})
	c := l.site(3, siteOpts{})
	only := "10.2.99.10"
	b.Host.MustRun(t, "ip", "addr", "add", only+"/32", "dev", "lan0")
	b.GW.MustRun(t, "ip", "route", "add", only+"/32", "via", b.LANHost.String())
	// The gateway's own default route (the namespace outlives the test).
	l.gw.MustRun(t, "ip", "route", "add", "default", "via", c.wan.String(), "dev", "wan1")
	t.Cleanup(func() { _, _ = l.gw.Run("ip", "route", "del", "default") })
	ownDefault := "default via " + c.wan.String() + " dev wan1"
	a := l.start(l.config(b, c))
	nstest.WaitFor(t, 30*time.Second, func() bool {
		return learnedFrom(a, "0.0.0.0/0", b.bgpAddr) && learnedFrom(a, "10.3.50.0/24", c.bgpAddr)
	},
		"routes not learned")
	start := time.Now()
	nstest.WaitFor(t, 10*time.Second, func() bool { return pings(l.vnet, only) },
		"the VNet host cannot reach %s through the learned default route:\n%s\n%s", only, fmtStatus(a), l.gw.MustRun(t, "ip", "rule"))
	t.Logf("VNet egress through the learned default route after %v", time.Since(start))
	if r := strings.TrimSpace(l.gw.MustRun(t, "ip", "route", "show", "default")); r != ownDefault {
		t.Errorf("the main table's default route changed: %q, want %q", r, ownDefault)
	}
	if r := l.gw.MustRun(t, "ip", "route", "get", only, "from", "10.1.0.2", "iif", "lan0"); !strings.Contains(r, "dev vpngw0") {
		t.Errorf("a VNet packet to %s is not routed into the TUN device: %q", only, r)
	}
	if r := l.gw.MustRun(t, "ip", "route", "get", only); !strings.Contains(r, "via "+c.wan.String()+" dev wan1") {
		t.Errorf("the gateway's own packets to %s do not take its own default route: %q", only, r)
	}
	for _, s := range []*bgpSite{b, c} {
		// Also from a VNet address (a gateway whose own address is in the
		// VNet): the default route's table throws the peers back to main.
		for _, from := range [][]string{nil, {"from", "10.1.0.2", "iif", "lan0"}} {
			if r := l.gw.MustRun(t, "ip", append([]string{"route", "get", s.wan.String()}, from...)...); strings.Contains(r, "vpngw0") {
				t.Errorf("the way to site %d's public address %s %v goes into the tunnel: %q", s.n, s.wan, from, r)
			}
		}
	}
	// The default route's table: the route into the TUN device and a
	// throw route per peer (back to the main table).
	tab := l.gw.MustRun(t, "ip", "route", "show", "table", "30301")
	for _, want := range []string{"default dev vpngw0", "throw " + b.wan.String(), "throw " + c.wan.String()} {
		if !strings.Contains(tab, want) {
			t.Errorf("table 30301 lacks %q:\n%s", want, tab)
		}
	}
	// The tunnels keep working: site C's BGP-only network, and the
	// sessions stay up.
	if !pings(l.vnet, c.bgpOnly.String()) {
		t.Error("the VNet host cannot reach site C's 10.3.50.10")
	}
	if a.Status().BGP.Installed != 3 { // 10.2.50.0/24, 10.3.50.0/24, 0.0.0.0/0
		t.Errorf("installed %d learned routes, want 3: %+v", a.Status().BGP.Installed, a.Status().BGP.LearnedRoutes)
	}
	for _, p := range a.Status().BGP.Peers {
		if p.State != "Connected" {
			t.Errorf("peer %s: %s", p.Neighbor, p.State)
		}
	}

	b.frr.Configure(t, fmt.Sprintf("router bgp %d", b.asn), "address-family ipv4 unicast", "no network 0.0.0.0/0")
	nstest.WaitFor(t, 15*time.Second, func() bool { return !pings(l.vnet, only) }, "%s still reachable after the withdrawal", only)
	nstest.WaitFor(t, 5*time.Second, func() bool { return !strings.Contains(l.gw.MustRun(t, "ip", "rule"), "30301") },
		"the default route's rules stayed:\n%s", l.gw.MustRun(t, "ip", "rule"))
	if !pings(l.vnet, b.bgpOnly.String()) {
		t.Error("site B's 10.2.50.10 unreachable after the default route left")
	}
}
