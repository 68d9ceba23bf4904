// Package bgplab_test proves the agent's BGP over real tunnels: the agent
// runs in-process in the test binary's own namespace (bgptest.Main: GoBGP
// opens its sockets on goroutines of its own, which nstest.Do cannot pin),
// which is the gateway; each on-premises site is strongSwan (the IPsec
// device) plus FRR 8.4 (the router) in the site's gateway namespace, with
// a host behind it:
//
//	vnet host 10.1.0.2 ─lan0─ [gateway: agent, TUN vpngw0 with 10.1.255.30]
//	                              │ wan0 192.0.2.1        │ wan1 192.0.2.5
//	                   site B gw 192.0.2.2        site C gw 192.0.2.6
//	                   strongSwan + FRR AS 65010  strongSwan + FRR AS 65030
//	                   BGP address 10.2.255.1     BGP address 10.3.255.1
//	                   host 10.2.0.2, 10.2.50.10  host 10.3.0.2, 10.3.50.10
//
// The agent knows only each site's LAN (10.2.0.0/24, 10.3.0.0/24) as
// remotePrefixes; 10.2.50.0/24 and 10.3.50.0/24 exist only in BGP. FRR
// runs without zebra, so the sites' kernels route through strongSwan's
// traffic selectors (table 220), not through what FRR learns: the sites'
// selectors cover the prefixes they may reach (a route-based device would
// use 0.0.0.0/0).
package bgplab_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agent"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/tstest"
	"github.com/vpngw/vpngw/internal/tstest/bgptest"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

func TestMain(m *testing.M) { os.Exit(bgptest.Main(m, "vagbgp")) }

const (
	gwASN    = 65515
	psk      = "bgpLabPSK123"
	ikeSuite = "aes256gcm16-prfsha256-ecp256"
	espSuite = "aes256gcm16"
)

var (
	vnet     = netip.MustParsePrefix("10.1.0.0/16")
	gwPublic = netip.MustParseAddr("192.0.2.1")
)

// bgpSite is an on-premises site: strongSwan and FRR on its gateway.
type bgpSite struct {
	*nstest.Site
	n        int        // 2 for B, 3 for C
	wan      netip.Addr // the site gateway's public address
	bgpAddr  string     // FRR's address (on the gateway's lo)
	localBGP string     // the gateway's address for this site's session when not the lab's gwBGP (siteOpts.localBGP)
	bgpOnly  netip.Addr // a host address in 10.n.50.0/24, a prefix only BGP knows
	asn      uint32
	frr      *bgptest.FRR
}

// lab is the gateway (this process's namespace) with its VNet host.
type lab struct {
	t     *testing.T
	gw    *nstest.NS
	vnet  *nstest.NS // the VNet host, 10.1.0.2
	gwBGP string     // the gateway's BGP address
}

func newLab(t *testing.T) *lab {
	swantest.Require(t)
	bgptest.RequireFRR(t)
	l := &lab{t: t, gw: bgptest.Self(t), vnet: nstest.New(t, "vbgv"), gwBGP: "10.1.255.30"}
	l.link(l.vnet, "lan0", netip.MustParsePrefix("10.1.0.2/24"), "lan0", netip.MustParsePrefix("10.1.0.1/24"))
	l.vnet.MustRun(t, "ip", "route", "add", "default", "via", "10.1.0.1")
	l.gw.Sysctl(t, "net.ipv4.ip_forward", "1")
	l.gw.Sysctl(t, "net.ipv4.conf.all.rp_filter", "0")
	l.gw.Sysctl(t, "net.ipv4.conf.default.rp_filter", "0")
	return l
}

// link joins ns to the gateway. The gateway's end is deleted when the test
// ends: the namespace outlives the test, and the kernel deletes a veth of a
// deleted namespace only later, asynchronously.
func (l *lab) link(ns *nstest.NS, name string, addr netip.Prefix, gwName string, gwAddr netip.Prefix) {
	nstest.Link(l.t, ns, name, addr, l.gw, gwName, gwAddr)
	l.t.Cleanup(func() { _, _ = l.gw.Run("ip", "link", "del", gwName) })
}

// siteOpts vary a site.
type siteOpts struct {
	// remote are more prefixes the site's selectors reach (the other
	// site's, for transit).
	remote []string
	// apipa: BGP over custom APIPA addresses, the gateway 169.254.21.2
	// (passive: Azure's rule) and the site 169.254.21.1, which opens the
	// session.
	apipa bool
	// localBGP and siteBGP: BGP over these custom APIPA addresses
	// instead, the gateway's (one of its customBgpIpAddresses, which the
	// connection names as bgpPeer.localBgpAddress: Azure's
	// gatewayCustomBgpIpAddresses) and the site's, which opens the session.
	localBGP, siteBGP string
	// nets are more prefixes FRR advertises.
	nets []string
}

// site builds site n (2: B, 3: C) on the gateway's interface wan<n-2>,
// with strongSwan whose selectors are the site's 10.n.0.0/16 and the
// prefixes it may reach, and FRR peering with the gateway and advertising
// 10.n.50.0/24.
func (l *lab) site(n int, o siteOpts) *bgpSite {
	t := l.t
	s := &bgpSite{Site: nstest.NewSite(t, fmt.Sprintf("vbg%d", n), netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/24", n))), n: n,
		wan: netip.AddrFrom4([4]byte{192, 0, 2, byte(4*(n-2) + 2)}), bgpAddr: fmt.Sprintf("10.%d.255.1", n),
		bgpOnly: netip.AddrFrom4([4]byte{10, byte(n), 50, 10}), asn: uint32(65000 + 10*(2*n-3))}
	local := []string{fmt.Sprintf("10.%d.0.0/16", n)}
	remote := append([]string{vnet.String()}, o.remote...)
	if o.apipa {
		l.gwBGP, s.bgpAddr = "169.254.21.2", "169.254.21.1"
		local, remote = append(local, s.bgpAddr+"/32"), append(remote, l.gwBGP+"/32")
	}
	gwBGP := l.gwBGP // the address FRR peers with
	if o.localBGP != "" {
		gwBGP, s.bgpAddr, s.localBGP = o.localBGP, o.siteBGP, o.localBGP
		local, remote = append(local, s.bgpAddr+"/32"), append(remote, gwBGP+"/32")
	}
	gwWAN := netip.AddrFrom4([4]byte{192, 0, 2, byte(4*(n-2) + 1)})
	l.link(s.GW, "wan0", netip.PrefixFrom(s.wan, 30), fmt.Sprintf("wan%d", n-2), netip.PrefixFrom(gwWAN, 30))
	s.GW.MustRun(t, "ip", "addr", "add", s.bgpAddr+"/32", "dev", "lo")
	s.Host.MustRun(t, "ip", "addr", "add", s.bgpOnly.String()+"/32", "dev", "lan0")
	s.GW.MustRun(t, "ip", "route", "add", s.bgpOnly.String()+"/32", "via", s.LANHost.String())
	swantest.Start(t, s.GW, swantest.Conn{Name: "vpngw", LocalAddr: s.wan.String(), RemoteAddr: gwWAN.String(), PSK: psk,
		RemoteID: gwPublic.String(), // the agent's IKE identity is its localAddress, whichever link it speaks from
		IKE:      ikeSuite, ESP: espSuite, LocalTS: local, RemoteTS: remote})
	var nets strings.Builder
	for _, p := range append([]string{fmt.Sprintf("10.%d.50.0/24", n)}, o.nets...) {
		fmt.Fprintf(&nets, "  network %s\n", p)
	}
	s.frr = bgptest.StartFRR(t, s.GW, fmt.Sprintf(`hostname site%d
router bgp %d
 bgp router-id %s
 no bgp ebgp-requires-policy
 no bgp network import-check
 timers bgp 3 9
 neighbor %s remote-as %d
 neighbor %s update-source %s
 neighbor %s ebgp-multihop 2
 neighbor %s timers connect 1
 address-family ipv4 unicast
%s exit-address-family
`, n, s.asn, s.bgpAddr, gwBGP, gwASN, gwBGP, s.bgpAddr, gwBGP, gwBGP, nets.String()))
	return s
}

// connection is the agent's connection to s: the site's LAN as its only
// static prefix, BGP with FRR.
func (s *bgpSite) connection() gwconfig.Connection {
	return gwconfig.Connection{Name: fmt.Sprintf("to-%d", s.n), RemoteAddress: s.wan.String(),
		RemotePrefixes: []string{s.LAN.String()}, SharedKey: psk, IKEProposals: ikeSuite, ESPProposals: espSuite,
		EnableBgp: true, BgpPeer: &gwconfig.BgpPeer{ASN: s.asn, BgpPeeringAddress: s.bgpAddr, LocalBgpAddress: s.localBGP}}
}

func (l *lab) config(sites ...*bgpSite) *gwconfig.Config {
	c := &gwconfig.Config{Name: "gw", LocalAddress: gwPublic.String(), LocalPrefixes: []string{vnet.String()},
		StatusSocket: l.t.TempDir() + "/agent.sock",
		BgpSettings:  &gwconfig.BgpSettings{BgpPeeringAddress: l.gwBGP, FastTimers: true}}
	for _, s := range sites {
		c.Connections = append(c.Connections, s.connection())
		if s.localBGP != "" && s.localBGP != l.gwBGP {
			c.BgpSettings.CustomBgpIPAddresses = append(c.BgpSettings.CustomBgpIPAddresses, s.localBGP)
		}
	}
	return c
}

// start runs the agent in this process (the gateway namespace) until the
// test ends.
func (l *lab) start(cfg *gwconfig.Config) *agent.Agent {
	t := l.t
	in, err := cfg.Check()
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(in, agent.Options{Logger: tstest.Logger(t, "agent")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	go func() { _ = agent.ServeStatus(ctx, a, cfg.StatusSocket) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("agent: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("agent did not stop")
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent status:\n%s\ngateway routes:\n%s", fmtStatus(a), l.gw.MustRun(t, "ip", "route"))
		}
	})
	return a
}

func fmtStatus(a *agent.Agent) string {
	var b strings.Builder
	agent.WriteStatus(&b, a.Status())
	return b.String()
}

// learnedFrom reports whether the agent's RIB has p from peer.
func learnedFrom(a *agent.Agent, p, peer string) bool {
	st := a.Status().BGP
	if st == nil {
		return false
	}
	for _, r := range st.LearnedRoutes {
		if r.Network == p && r.SourcePeer == peer {
			return true
		}
	}
	return false
}

// frrHas reports whether FRR has a valid path to p with AS path asPath.
func frrHas(f *bgptest.FRR, p, asPath string) bool {
	rs, err := f.Routes()
	if err != nil {
		return false
	}
	for _, r := range rs[p] {
		if r.Valid && r.Path == asPath {
			return true
		}
	}
	return false
}

func pings(from *nstest.NS, args ...string) bool {
	_, err := from.Run("ping", append([]string{"-c", "1", "-W", "1", "-q"}, args...)...)
	return err == nil
}

// TestBGPLearnedRouteThroughTunnel: FRR behind strongSwan peers with the
// agent's speaker through the IKEv2 tunnel and advertises 10.2.50.0/24,
// which is not among the connection's remotePrefixes; the agent routes it
// into the tunnel and the VNet host reaches 10.2.50.10. FRR learns the
// VNet's prefix from the gateway. When FRR withdraws the prefix the route
// is gone, from the data plane and the kernel.
func TestBGPLearnedRouteThroughTunnel(t *testing.T) {
	l := newLab(t)
	b := l.site(2, siteOpts{})
	if pings(l.vnet, b.bgpOnly.String()) {
		t.Fatal("10.2.50.10 reachable before BGP")
	}
	start := time.Now()
	cfg := l.config(b)
	a := l.start(cfg)
	nstest.WaitFor(t, 30*time.Second, func() bool { return learnedFrom(a, "10.2.50.0/24", b.bgpAddr) },
		"10.2.50.0/24 not learned from FRR")
	learned := time.Since(start)
	nstest.WaitFor(t, 5*time.Second, func() bool { return pings(l.vnet, b.bgpOnly.String()) },
		"the VNet host cannot reach 10.2.50.10 (learned over BGP):\n%s\n%s", fmtStatus(a), l.gw.MustRun(t, "ip", "route"))
	t.Logf("agent start to first learned route: %v; to the first ping through it: %v", learned, time.Since(start))
	if r := l.gw.MustRun(t, "ip", "route", "show", "10.2.50.0/24"); !strings.Contains(r, "dev vpngw0") {
		t.Fatalf("no kernel route into the TUN: %q", r)
	}
	// FRR learned the VNet prefix and the site's own static prefix from
	// the gateway (AS path 65515).
	nstest.WaitFor(t, 10*time.Second, func() bool { return frrHas(b.frr, vnet.String(), "65515") },
		"FRR did not learn %s from the gateway", vnet)
	st := a.Status()
	if st.BGP == nil || len(st.BGP.Peers) != 1 || st.BGP.Peers[0].State != "Connected" || st.BGP.Peers[0].Connection != "to-2" || st.BGP.Installed != 1 {
		t.Fatalf("BGP status: %+v", st.BGP)
	}
	if adv := st.BGP.AdvertisedRoutes[b.bgpAddr]; len(adv) == 0 {
		t.Fatalf("no advertised routes to %s: %+v", b.bgpAddr, st.BGP)
	}
	t.Logf("status:\n%s", fmtStatus(a))
	// --status reads the same over the status socket; the metrics.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if fetched, err := agent.FetchStatus(ctx, cfg.StatusSocket, agent.StatusQuery{}); err != nil || fetched.BGP == nil || len(fetched.BGP.LearnedRoutes) != len(st.BGP.LearnedRoutes) {
		t.Fatalf("status over the socket: %v %+v", err, fetched.BGP)
	}
	m := l.gw.MustRun(t, "curl", "-sf", "--unix-socket", cfg.StatusSocket, "http://agent/metrics")
	for _, want := range []string{
		`vpngw_bgp_peer_up{connection="to-2",peer="10.2.255.1"} 1`,
		`vpngw_bgp_peer_routes_received{connection="to-2",peer="10.2.255.1"} 1`,
		`vpngw_bgp_installed_routes 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// A reload that leaves BGP alone keeps the session (FRR saw one
	// connection) and the learned route.
	cfg2 := *cfg
	cfg2.Connections = append(slices.Clone(cfg.Connections), gwconfig.Connection{Name: "static", RemoteAddress: "198.51.100.7",
		RemotePrefixes: []string{"10.9.0.0/24"}, SharedKey: psk, ConnectionMode: "ResponderOnly"})
	in2, err := cfg2.Check()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(ctx, in2); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if n, err := b.frr.Neighbor(l.gwBGP); err != nil || n.ConnectionsEstablished != 1 || n.State != "Established" {
		t.Fatalf("after a reload: FRR's session %+v, %v", n, err)
	}
	if !pings(l.vnet, b.bgpOnly.String()) {
		t.Fatal("10.2.50.10 unreachable after a reload")
	}

	// The session goes down (FRR shuts the neighbor down): the route goes
	// with it, and comes back with the session.
	router := fmt.Sprintf("router bgp %d", b.asn)
	b.frr.Configure(t, router, "neighbor "+l.gwBGP+" shutdown")
	nstest.WaitFor(t, 15*time.Second, func() bool { return l.gw.MustRun(t, "ip", "route", "show", "10.2.50.0/24") == "" },
		"route to 10.2.50.0/24 still installed after the session went down")
	b.frr.Configure(t, router, "no neighbor "+l.gwBGP+" shutdown")
	nstest.WaitFor(t, 20*time.Second, func() bool { return pings(l.vnet, b.bgpOnly.String()) },
		"10.2.50.10 unreachable after the session came back")

	// Withdrawn: the route leaves the kernel and the data plane.
	withdrawn := time.Now()
	b.frr.Configure(t, router, "address-family ipv4 unicast", "no network 10.2.50.0/24")
	nstest.WaitFor(t, 15*time.Second, func() bool {
		return l.gw.MustRun(t, "ip", "route", "show", "10.2.50.0/24") == "" && a.Status().BGP.Installed == 0
	}, "route to 10.2.50.0/24 still installed after the withdrawal:\n%s", fmtStatus(a))
	t.Logf("withdrawal to route removed: %v", time.Since(withdrawn))
	if pings(l.vnet, b.bgpOnly.String()) {
		t.Fatal("10.2.50.10 still reachable after the withdrawal")
	}
	// The static prefix still works.
	if !pings(l.vnet, b.LANHost.String()) {
		t.Fatal("the site's static prefix is unreachable")
	}
}

// TestBGPTransit: two sites, each with FRR, learn each other's BGP-only
// prefixes through the gateway (AS path 65515 <origin>) and reach each
// other through it: site B's host pings 10.3.50.10 and site C's host
// 10.2.50.10, both ways through the gateway's two tunnels.
func TestBGPTransit(t *testing.T) {
	l := newLab(t)
	// Site B also advertises the default route and a prefix inside the
	// VNet: the first is accepted (it steers the VNet's egress only, not
	// the gateway's own default route: TestBGPDefaultRouteSteersVNetEgress)
	// and not passed on, the second refused.
	b := l.site(2, siteOpts{remote: []string{"10.3.0.0/16"}, nets: []string{"0.0.0.0/0", "10.1.5.0/24"}})
	c := l.site(3, siteOpts{remote: []string{"10.2.0.0/16"}})
	a := l.start(l.config(b, c))
	nstest.WaitFor(t, 30*time.Second, func() bool {
		return learnedFrom(a, "10.2.50.0/24", b.bgpAddr) && learnedFrom(a, "10.3.50.0/24", c.bgpAddr)
	}, "prefixes not learned")
	nstest.WaitFor(t, 10*time.Second, func() bool {
		return frrHas(b.frr, "10.3.50.0/24", fmt.Sprintf("%d %d", gwASN, c.asn)) && frrHas(c.frr, "10.2.50.0/24", fmt.Sprintf("%d %d", gwASN, b.asn))
	}, "transit routes not at the sites")
	if !learnedFrom(a, "0.0.0.0/0", b.bgpAddr) || learnedFrom(a, "10.1.5.0/24", b.bgpAddr) {
		t.Errorf("site B's default route should be learned and its VNet prefix refused: %+v", a.Status().BGP.LearnedRoutes)
	}
	if r := l.gw.MustRun(t, "ip", "route", "show", "default"); strings.Contains(r, "vpngw0") {
		t.Errorf("the learned default route replaced the gateway's own: %q", r)
	}
	if rs, err := c.frr.Routes(); err != nil || rs["0.0.0.0/0"] != nil || rs["10.1.5.0/24"] != nil {
		t.Errorf("site C got what must not be re-advertised (%v): %v", err, rs)
	}
	// The sites also learn each other's static prefixes (the local network
	// gateways of BGP connections are advertised), from the gateway itself.
	if !frrHas(b.frr, c.LAN.String(), "65515") {
		t.Errorf("site B did not learn site C's LAN %s from the gateway", c.LAN)
	}
	nstest.WaitFor(t, 10*time.Second, func() bool { return pings(b.Host, "-I", b.bgpOnly.String(), c.bgpOnly.String()) },
		"site B (%s) cannot reach site C's %s through the gateway:\n%s", b.bgpOnly, c.bgpOnly, fmtStatus(a))
	if !pings(c.Host, "-I", c.bgpOnly.String(), b.bgpOnly.String()) {
		t.Fatalf("site C cannot reach site B's %s", b.bgpOnly)
	}
	for _, conn := range a.Status().Connections {
		if conn.IngressBytes == 0 || conn.EgressBytes == 0 {
			t.Errorf("%s carried nothing: %+v", conn.Name, conn)
		}
	}
}

// TestBGPAPIPASiteInitiates: custom APIPA addresses on both sides
// (169.254.21.2 the gateway, 169.254.21.1 the site): the gateway only
// listens, as Azure does with APIPA peers, FRR opens the session to its
// port 179 through the tunnel, and the learned prefix carries traffic.
func TestBGPAPIPASiteInitiates(t *testing.T) {
	l := newLab(t)
	b := l.site(2, siteOpts{apipa: true})
	a := l.start(l.config(b))
	nstest.WaitFor(t, 30*time.Second, func() bool { return learnedFrom(a, "10.2.50.0/24", b.bgpAddr) }, "10.2.50.0/24 not learned over APIPA")
	nstest.WaitFor(t, 5*time.Second, func() bool { return pings(l.vnet, b.bgpOnly.String()) }, "the VNet host cannot reach 10.2.50.10")
	n, err := b.frr.Neighbor(l.gwBGP)
	if err != nil || n.State != "Established" || n.PortForeign != 179 || n.HostLocal != b.bgpAddr {
		t.Fatalf("FRR's session (it must have connected to our port 179 from %s): %+v %v", b.bgpAddr, n, err)
	}
	if p := a.Status().BGP.Peers; len(p) != 1 || p[0].LocalAddress != "169.254.21.2" || p[0].State != "Connected" {
		t.Fatalf("peer status: %+v", p)
	}
}

// TestBGPPerConnectionAPIPA: two connections on one instance use different
// custom APIPA addresses of the gateway (Azure's per-connection
// gatewayCustomBgpIpAddresses): site B peers with the bgpPeeringAddress
// 169.254.21.2 from 169.254.21.1, site C with the further custom address
// 169.254.21.6 (bgpSettings.customBgpIpAddresses, the connection's
// bgpPeer.localBgpAddress) from 169.254.21.5. The gateway only listens:
// each FRR opened its session to our port 179 on the address it peers
// with; each session is Established from the right local address on both
// sides; the VNet host reaches both sites' BGP-only prefixes.
func TestBGPPerConnectionAPIPA(t *testing.T) {
	l := newLab(t)
	b := l.site(2, siteOpts{apipa: true})
	c := l.site(3, siteOpts{localBGP: "169.254.21.6", siteBGP: "169.254.21.5"})
	a := l.start(l.config(b, c))
	for _, s := range []*bgpSite{b, c} {
		p := fmt.Sprintf("10.%d.50.0/24", s.n)
		nstest.WaitFor(t, 30*time.Second, func() bool { return learnedFrom(a, p, s.bgpAddr) }, "%s not learned from %s", p, s.bgpAddr)
		nstest.WaitFor(t, 5*time.Second, func() bool { return pings(l.vnet, s.bgpOnly.String()) }, "the VNet host cannot reach %s", s.bgpOnly)
	}
	for _, x := range []struct {
		s     *bgpSite
		local string // the gateway's address for the session
	}{{b, "169.254.21.2"}, {c, "169.254.21.6"}} {
		n, err := x.s.frr.Neighbor(x.local)
		if err != nil || n.State != "Established" || n.PortForeign != 179 || n.HostLocal != x.s.bgpAddr || n.HostForeign != x.local {
			t.Errorf("FRR on site %d: the session must be Established, opened by FRR from %s to %s port 179: %+v %v", x.s.n, x.s.bgpAddr, x.local, n, err)
		}
		found := false
		for _, p := range a.Status().BGP.Peers {
			if p.Neighbor == x.s.bgpAddr {
				found = true
				if p.LocalAddress != x.local || p.State != "Connected" {
					t.Errorf("peer %s: local address %s state %s, want %s Connected", p.Neighbor, p.LocalAddress, p.State, x.local)
				}
			}
		}
		if !found {
			t.Errorf("no peer status for %s: %+v", x.s.bgpAddr, a.Status().BGP.Peers)
		}
	}
	// Both addresses are on the TUN.
	addrs := l.gw.MustRun(t, "ip", "-o", "-4", "addr", "show", "dev", "vpngw0")
	for _, want := range []string{"169.254.21.2/32", "169.254.21.6/32"} {
		if !strings.Contains(addrs, want) {
			t.Errorf("TUN addresses %q lack %s", addrs, want)
		}
	}
}
