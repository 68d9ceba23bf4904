package bgp_test

// Interop tests: our speaker (in the test process, which bgptest.Main runs
// inside a namespace of its own) against FRR 8.4's bgpd and BIRD 2, each in
// a namespace the test creates, over veth links.

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/bgp"
	"github.com/vpngw/vpngw/internal/bgp/bgprules"
	"github.com/vpngw/vpngw/internal/tstest"
	"github.com/vpngw/vpngw/internal/tstest/bgptest"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

func TestMain(m *testing.M) { os.Exit(bgptest.Main(m, "bgpspk")) }

const (
	gwASN   = 65515
	frrASN  = 65010
	birdASN = 65020
	wait    = 30 * time.Second // bound of every wait for BGP to converge
)

var (
	vnet = netip.MustParsePrefix("10.1.0.0/16")
	site = netip.MustParsePrefix("172.16.5.0/24")
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

// harness is a started speaker and what it reported through OnRoute.
type harness struct {
	t  *testing.T
	sp *bgp.Speaker

	mu     sync.Mutex
	events []bgp.Route
}

// startSpeaker starts a speaker with fast timers for the VNet 10.1.0.0/16
// advertising the VNet and one site prefix, and the given neighbors.
func startSpeaker(t *testing.T, listen netip.Addr, ns ...bgp.Neighbor) *harness {
	t.Helper()
	return startSpeakerWith(t, nil, listen, ns...)
}

// startSpeakerWith is startSpeaker with the configuration changed by mod.
func startSpeakerWith(t *testing.T, mod func(*bgp.Config), listen netip.Addr, ns ...bgp.Neighbor) *harness {
	t.Helper()
	h := &harness{t: t}
	logs := &tstest.SyncBuffer{} // shown when the test fails
	cfg := bgp.Config{
		ListenAddr:   listen,
		VNet:         []netip.Prefix{vnet},
		Advertise:    []netip.Prefix{vnet, site},
		HoldTime:     bgp.FastHoldTime,
		KeepAlive:    bgp.FastKeepAlive,
		ConnectRetry: time.Second,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnRoute: func(r bgp.Route) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.events = append(h.events, r)
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	sp, err := bgp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sp.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sp.Stop(ctx); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("speaker log (last 8 KiB):\n%s", tail(logs.String(), 8<<10))
		}
	})
	if err := sp.SetNeighbors(ctx, ns); err != nil {
		t.Fatal(err)
	}
	h.sp = sp
	return h
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// peer returns the status of neighbor a.
func (h *harness) peer(a netip.Addr) bgp.PeerStatus {
	h.t.Helper()
	st, err := h.sp.Peer(ctxT(h.t), a)
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

func (h *harness) waitConnected(a netip.Addr) bgp.PeerStatus {
	h.t.Helper()
	var st bgp.PeerStatus
	nstest.WaitFor(h.t, wait, func() bool { st = h.peer(a); return st.State == bgp.PeerConnected },
		"session with %v Connected (last %+v)", a, st)
	return st
}

// learned returns the learned routes by prefix.
func (h *harness) learned() map[netip.Prefix][]bgp.GatewayRoute {
	h.t.Helper()
	rs, err := h.sp.LearnedRoutes(ctxT(h.t))
	if err != nil {
		h.t.Fatal(err)
	}
	m := map[netip.Prefix][]bgp.GatewayRoute{}
	for _, r := range rs {
		m[r.Network] = append(m[r.Network], r)
	}
	return m
}

// installed returns the installed route for p.
func (h *harness) installed(p netip.Prefix) (bgp.Route, bool) {
	for _, r := range h.sp.InstalledRoutes() {
		if r.Prefix == p {
			return r, true
		}
	}
	return bgp.Route{}, false
}

func (h *harness) sawEvent(f func(bgp.Route) bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.ContainsFunc(h.events, f)
}

// peerLink creates a namespace for a peer, linked to the test process's
// namespace by a veth named ifname (ours) / eth0 (theirs) with the
// addresses ours and theirs (both in one /30).
func peerLink(t *testing.T, nsPrefix, ifname, ours, theirs string) (ns *nstest.NS, us, them netip.Addr) {
	t.Helper()
	self := bgptest.Self(t)
	ns = nstest.New(t, nsPrefix)
	nstest.Link(t, self, ifname, pfx(ours+"/30"), ns, "eth0", pfx(theirs+"/30"))
	// The test process's namespace outlives the test: delete our end now
	// (the kernel removes a veth of a deleted namespace asynchronously, and
	// a repeated test would find it still there).
	t.Cleanup(func() {
		if _, err := self.Run("ip", "link", "del", ifname); err != nil {
			t.Error(err)
		}
	})
	return ns, addr(ours), addr(theirs)
}

// frrConf is a bgpd.conf for AS asn with router ID id, fast timers, eBGP
// without policies, the given neighbor lines and networks; every neighbor
// gets the route-map NOECHO out (no routes with our ASN in the path), so
// that route counts are exact.
func frrConf(asn uint32, id string, neighbors []string, networks ...string) string {
	return frrConfEcho(asn, id, false, neighbors, networks...)
}

// frrConfEcho is frrConf; with echo, FRR sends our own routes back to us
// (FRR's default), as a real router may.
func frrConfEcho(asn uint32, id string, echo bool, neighbors []string, networks ...string) string {
	var b strings.Builder
	action := "deny"
	if echo {
		action = "permit"
	}
	fmt.Fprintf(&b, "hostname frr%d\nbgp as-path access-list OURS permit _%d_\nroute-map NOECHO %s 5\n match as-path OURS\nexit\nroute-map NOECHO permit 10\nexit\n", asn, gwASN, action)
	fmt.Fprintf(&b, "router bgp %d\n bgp router-id %s\n no bgp ebgp-requires-policy\n no bgp network import-check\n timers bgp 3 9\n", asn, id)
	for _, n := range neighbors {
		fmt.Fprintf(&b, " %s\n", n)
	}
	b.WriteString(" address-family ipv4 unicast\n")
	for _, n := range neighbors {
		if a, ok := strings.CutPrefix(n, "neighbor "); ok && strings.Contains(a, " remote-as ") {
			fmt.Fprintf(&b, "  neighbor %s route-map NOECHO out\n", strings.Fields(a)[0])
		}
	}
	for _, n := range networks {
		fmt.Fprintf(&b, "  network %s\n", n)
	}
	b.WriteString(" exit-address-family\n")
	return b.String()
}

func frrNeighbor(a string, asn uint32, extra ...string) []string {
	// NOECHO (see frrConf): FRR does not send our own routes back to us
	// (GoBGP would count them against the prefix limit; see docs/bgp.md).
	l := []string{fmt.Sprintf("neighbor %s remote-as %d", a, asn), fmt.Sprintf("neighbor %s timers connect 1", a)}
	for _, e := range extra {
		l = append(l, fmt.Sprintf("neighbor %s %s", a, e))
	}
	return l
}

// frrHas reports whether FRR has a valid path to p, with AS path asPath.
func frrHas(t *testing.T, f *bgptest.FRR, p, asPath string) bool {
	t.Helper()
	rs, err := f.Routes()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs[p] {
		if r.Valid && r.Path == asPath {
			return true
		}
	}
	return false
}

func frrPrefixes(t *testing.T, f *bgptest.FRR) []string {
	t.Helper()
	rs, err := f.Routes()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for p := range rs {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// TestFRRSessionRoutesAndPolicy: a session with FRR; route exchange both
// ways; Azure's import rules (0.0.0.0/0 and a VNet supernet accepted, VNet
// and VNet subnets refused); export rules; withdrawal; SetAdvertised and
// SetNeighbors changes that leave the FRR session alone.
func TestFRRSessionRoutesAndPolicy(t *testing.T) {
	bgptest.RequireFRR(t)
	ns, us, them := peerLink(t, "bgpfrr", "frr1", "192.0.2.1", "192.0.2.2")
	frr := bgptest.StartFRR(t, ns, frrConf(frrASN, "192.0.2.2", frrNeighbor("192.0.2.1", gwASN),
		"198.51.100.0/24", "0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24"))
	h := startSpeaker(t, us, bgp.Neighbor{Address: them, ASN: frrASN})

	st := h.waitConnected(them)
	if st.LocalAddress != us || st.ASN != frrASN || st.MessagesSent == 0 || st.MessagesReceived == 0 {
		t.Errorf("peer status %+v", st)
	}
	nstest.WaitFor(t, wait, func() bool { st = h.peer(them); return st.RoutesReceived == 5 }, "5 routes received from FRR (%+v)", &st)

	// Import: 0.0.0.0/0, 198.51.100.0/24 and the supernet 10.0.0.0/8 are
	// installed; 10.1.0.0/16 (the VNet) and 10.1.2.0/24 (inside it) not.
	nstest.WaitFor(t, wait, func() bool {
		_, a := h.installed(pfx("198.51.100.0/24"))
		_, b := h.installed(pfx("0.0.0.0/0"))
		_, c := h.installed(pfx("10.0.0.0/8"))
		return a && b && c
	}, "FRR's routes installed: %v", h.sp.InstalledRoutes())
	r, _ := h.installed(pfx("198.51.100.0/24"))
	if r.Peer != them || r.NextHop != them || !slices.Equal(r.ASPath, []uint32{frrASN}) || r.Origin != bgp.OriginEBGP {
		t.Errorf("installed route %+v", r)
	}
	for _, p := range []string{"10.1.0.0/16", "10.1.2.0/24"} {
		if r, ok := h.installed(pfx(p)); ok {
			t.Errorf("VNet-overlapping %s installed: %+v", p, r)
		}
	}
	learned := h.learned()
	if got := learned[pfx("10.1.2.0/24")]; len(got) != 0 {
		t.Errorf("learned routes hold the refused 10.1.2.0/24: %+v", got)
	}
	if got := learned[vnet]; len(got) != 1 || got[0].Origin != bgp.OriginNetwork || got[0].Weight != bgp.LocalWeight || got[0].SourcePeer != us {
		t.Errorf("learned routes for the VNet = %+v, want only our own (Network)", got)
	}
	if got := learned[pfx("0.0.0.0/0")]; len(got) != 1 || got[0].SourcePeer != them || got[0].ASPath != "65010" || got[0].Origin != bgp.OriginEBGP {
		t.Errorf("learned default route %+v", got)
	}

	// FRR learns our prefixes with our ASN.
	nstest.WaitFor(t, wait, func() bool { return frrHas(t, frr, "10.1.0.0/16", "65515") && frrHas(t, frr, "172.16.5.0/24", "65515") },
		"FRR learns the VNet and the site prefix from us: %v", frrPrefixes(t, frr))
	// Export: nothing FRR sent comes back to it; no default route ever.
	adv, err := h.sp.AdvertisedRoutes(ctxT(t), them)
	if err != nil {
		t.Fatal(err)
	}
	var advNets []string
	for _, a := range adv {
		advNets = append(advNets, a.Network.String())
		if a.ASPath != "65515" || a.NextHop != us || a.LocalAddress != us {
			t.Errorf("advertised route %+v", a)
		}
	}
	if !slices.Equal(advNets, []string{"10.1.0.0/16", "172.16.5.0/24"}) {
		t.Errorf("advertised to FRR: %v, want the VNet and the site only", advNets)
	}
	if err := h.sp.SetAdvertised(ctxT(t), []netip.Prefix{pfx("0.0.0.0/0")}); err == nil {
		t.Error("SetAdvertised(0.0.0.0/0) accepted")
	}

	// SetAdvertised: the site prefix changes.
	if err := h.sp.SetAdvertised(ctxT(t), []netip.Prefix{vnet, pfx("172.16.6.0/24")}); err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, wait, func() bool {
		ps := frrPrefixes(t, frr)
		return slices.Contains(ps, "172.16.6.0/24") && !slices.Contains(ps, "172.16.5.0/24")
	}, "FRR sees 172.16.5.0/24 replaced by 172.16.6.0/24: %v", frrPrefixes(t, frr))

	// SetNeighbors: adding another (absent) neighbor leaves the FRR
	// session up (FRR counts one established connection).
	if err := h.sp.SetNeighbors(ctxT(t), []bgp.Neighbor{{Address: them, ASN: frrASN, Weight: 7}, {Address: addr("192.0.2.99"), ASN: 65099}}); err != nil {
		t.Fatal(err)
	}
	if ps, err := h.sp.Peers(ctxT(t)); err != nil || len(ps) != 2 || ps[1].Neighbor != addr("192.0.2.99") || ps[1].State == bgp.PeerConnected {
		t.Errorf("Peers = %+v, %v", ps, err)
	}
	if got := h.learned()[pfx("198.51.100.0/24")]; len(got) != 1 || got[0].Weight != 7 {
		t.Errorf("weight not reported: %+v", got)
	}
	time.Sleep(time.Second)
	n, err := frr.Neighbor("192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if n.State != "Established" || n.ConnectionsEstablished != 1 {
		t.Errorf("FRR's session was disturbed by SetNeighbors: %+v", n)
	}

	// Withdrawal.
	frr.Configure(t, "router bgp 65010", "address-family ipv4 unicast", "no network 198.51.100.0/24")
	nstest.WaitFor(t, wait, func() bool {
		_, ok := h.installed(pfx("198.51.100.0/24"))
		return !ok && h.sawEvent(func(r bgp.Route) bool { return r.Prefix == pfx("198.51.100.0/24") && r.Withdrawn })
	}, "withdrawal of 198.51.100.0/24 reported")
	if got := h.learned()[pfx("198.51.100.0/24")]; len(got) != 0 {
		t.Errorf("withdrawn route still learned: %+v", got)
	}

	// Removing the neighbor closes the session.
	if err := h.sp.SetNeighbors(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, wait, func() bool {
		n, err := frr.Neighbor("192.0.2.1")
		return err == nil && n.State != "Established"
	}, "FRR sees the session closed")
}

// TestFRRMaxPrefixes: 4,000 prefixes are fine, even with our own two
// routes echoed back by FRR; the 4,001st tears the session down, and the
// reason shows in the peer status.
func TestFRRMaxPrefixes(t *testing.T) {
	bgptest.RequireFRR(t)
	ns, us, them := peerLink(t, "bgpmax", "max1", "192.0.2.5", "192.0.2.6")
	nets := make([]string, bgp.DefaultMaxPrefixes)
	base := addr("100.64.0.0").As4()
	for i := range nets {
		a := base
		a[1] += byte(i >> 8)
		a[2] = byte(i)
		nets[i] = netip.PrefixFrom(netip.AddrFrom4(a), 24).String()
	}
	frr := bgptest.StartFRR(t, ns, frrConfEcho(frrASN, "192.0.2.6", true, frrNeighbor("192.0.2.5", gwASN), nets...))
	h := startSpeaker(t, us, bgp.Neighbor{Address: them, ASN: frrASN}) // MaxPrefixes: the default 4000
	h.waitConnected(them)
	nstest.WaitFor(t, wait, func() bool { return h.peer(them).RoutesReceived == bgp.DefaultMaxPrefixes },
		"4000 routes received (%+v)", h.peer(them))
	nstest.WaitFor(t, wait, func() bool { return len(h.sp.InstalledRoutes()) == bgp.DefaultMaxPrefixes },
		"4000 routes installed")
	// Our VNet and site prefixes came back (AS-path loops): not counted.
	nstest.WaitFor(t, wait, func() bool {
		n, err := frr.Neighbor("192.0.2.5")
		return err == nil && n.AddressFamilyInfo.IPv4Unicast.Sent == bgp.DefaultMaxPrefixes+2
	}, "FRR sends 4002 prefixes, ours included")
	time.Sleep(time.Second)
	if st := h.peer(them); st.State != bgp.PeerConnected {
		t.Fatalf("session down at 4000 prefixes: %+v", st)
	}

	frr.Configure(t, "router bgp 65010", "address-family ipv4 unicast", "network 100.127.255.0/24")
	var st bgp.PeerStatus
	nstest.WaitFor(t, wait, func() bool { st = h.peer(them); return st.State == bgp.PeerStopped }, "session stopped by the 4001st prefix (%+v)", st)
	if !strings.Contains(st.Reason, "maximum number of prefixes") || !strings.Contains(st.Reason, "4000") {
		t.Errorf("reason %q", st.Reason)
	}
	t.Logf("peer status after the 4001st prefix: %+v", st)
	nstest.WaitFor(t, wait, func() bool {
		n, err := frr.Neighbor("192.0.2.5")
		return err == nil && n.State != "Established" && strings.Contains(strings.ToLower(n.LastNotificationReason+n.LastResetDueTo), "maximum number of prefixes")
	}, "FRR sees Cease/Maximum Number of Prefixes Reached")
	nstest.WaitFor(t, wait, func() bool { return len(h.sp.InstalledRoutes()) == 0 }, "routes of the torn-down session withdrawn")
	time.Sleep(3 * time.Second) // stays down: no reconnect
	if st := h.peer(them); st.State != bgp.PeerStopped {
		t.Errorf("session came back: %+v", st)
	}
}

// TestFRRASPathPrepending: two FRR peers advertise the same prefix; the
// shorter AS path wins, and when the prepending moves, so does the best.
func TestFRRASPathPrepending(t *testing.T) {
	bgptest.RequireFRR(t)
	nsA, us, a := peerLink(t, "bgppa", "pre1", "192.0.2.9", "192.0.2.10")
	nsB, _, b := peerLink(t, "bgppb", "pre2", "192.0.2.13", "192.0.2.14")
	// B reaches our peering address (on the first link) through the second.
	nsB.MustRun(t, "ip", "route", "add", "192.0.2.9/32", "via", "192.0.2.13")
	confA := frrConf(frrASN, "192.0.2.10", frrNeighbor("192.0.2.9", gwASN), "203.0.113.0/24") +
		"route-map NOECHO permit 10\n set as-path prepend 65010 65010\nexit\n"
	frrA := bgptest.StartFRR(t, nsA, confA)
	frrB := bgptest.StartFRR(t, nsB, frrConf(birdASN, "192.0.2.14", frrNeighbor("192.0.2.9", gwASN, "ebgp-multihop 2"), "203.0.113.0/24"))
	h := startSpeaker(t, us, bgp.Neighbor{Address: a, ASN: frrASN}, bgp.Neighbor{Address: b, ASN: birdASN})
	h.waitConnected(a)
	h.waitConnected(b)
	nstest.WaitFor(t, wait, func() bool { return frrHas(t, frrA, "10.1.0.0/16", "65515") }, "A learns the VNet")
	p := pfx("203.0.113.0/24")
	nstest.WaitFor(t, wait, func() bool { return len(h.learned()[p]) == 2 }, "both paths learned: %+v", h.learned()[p])
	nstest.WaitFor(t, wait, func() bool { r, ok := h.installed(p); return ok && r.Peer == b },
		"B's one-AS path beats A's prepended one: %+v", h.sp.InstalledRoutes())
	for _, g := range h.learned()[p] {
		want := map[netip.Addr]string{a: "65010-65010-65010", b: "65020"}[g.SourcePeer]
		if g.ASPath != want {
			t.Errorf("learned %+v, want AS path %s", g, want)
		}
	}

	// Now B prepends more than A: A's path becomes the best.
	frrB.Configure(t, "route-map NOECHO permit 10", "set as-path prepend 65020 65020 65020 65020")
	if _, err := frrB.Vtysh("clear bgp ipv4 unicast 192.0.2.9 soft out"); err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, wait, func() bool {
		r, ok := h.installed(p)
		return ok && r.Peer == a && slices.Equal(r.ASPath, []uint32{frrASN, frrASN, frrASN})
	}, "A's three-AS path beats B's five-AS one: %+v", h.sp.InstalledRoutes())
}

// TestFRRPassiveAPIPA: an APIPA neighbor marked passive: FRR initiates the
// session to our port 179, we only listen. The speaker also announces
// graceful restart here.
func TestFRRPassiveAPIPA(t *testing.T) {
	bgptest.RequireFRR(t)
	ns, us, them := peerLink(t, "bgpapipa", "apipa1", "169.254.21.1", "169.254.21.2")
	for _, a := range []netip.Addr{us, them} {
		if err := bgprules.ValidateAPIPA(a); err != nil {
			t.Fatal(err)
		}
	}
	frr := bgptest.StartFRR(t, ns, frrConf(frrASN, "169.254.21.2", frrNeighbor("169.254.21.1", gwASN), "198.51.100.0/24"))
	h := startSpeakerWith(t, func(c *bgp.Config) { c.GracefulRestart = true }, us, bgp.Neighbor{Address: them, ASN: frrASN, Passive: true})
	h.waitConnected(them)
	n, err := frr.Neighbor("169.254.21.1")
	if err != nil {
		t.Fatal(err)
	}
	if gr := fmt.Sprint(n.NeighborCapabilities["gracefulRestart"]); !strings.Contains(gr, "Received") {
		t.Errorf("FRR did not receive our graceful restart capability: %q (%v)", gr, n.NeighborCapabilities)
	}
	if n.PortForeign != 179 || n.PortLocal == 179 {
		t.Errorf("FRR's session: local port %d, remote port %d; want FRR to have connected to our 179", n.PortLocal, n.PortForeign)
	}
	nstest.WaitFor(t, wait, func() bool { _, ok := h.installed(pfx("198.51.100.0/24")); return ok }, "route learned over the APIPA session")
	nstest.WaitFor(t, wait, func() bool { return frrHas(t, frr, "10.1.0.0/16", "65515") }, "FRR learns the VNet")
}

// birdConf is a bird.conf for one eBGP session with fast timers, exporting
// the static routes.
func birdConf(id, local, neighbor string, static ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "router id %s;\nprotocol device {}\nprotocol static st {\n ipv4;\n", id)
	for _, s := range static {
		fmt.Fprintf(&b, " route %s blackhole;\n", s)
	}
	fmt.Fprintf(&b, "}\nprotocol bgp gwpeer {\n local %s as %d;\n neighbor %s as %d;\n hold time 9;\n keepalive time 3;\n connect retry time 1;\n ipv4 { import all; export all; };\n}\n",
		local, birdASN, neighbor, gwASN)
	return b.String()
}

// birdRoute returns birdc's `show route all P` output (or its error:
// birdc fails with "Network not found").
func birdRoute(t *testing.T, b *bgptest.BIRD, p string) string {
	t.Helper()
	out, err := b.Cmd("show", "route", "all", p)
	if err != nil {
		return err.Error()
	}
	return out
}

// TestBIRDSessionAndRoutes: the basic session and route exchange with BIRD
// 2, and a withdrawal.
func TestBIRDSessionAndRoutes(t *testing.T) {
	bgptest.RequireBIRD(t)
	ns, us, them := peerLink(t, "bgpbird", "bird1", "192.0.2.17", "192.0.2.18")
	bird := bgptest.StartBIRD(t, ns, birdConf("192.0.2.18", "192.0.2.18", "192.0.2.17", "203.0.113.0/24"))
	h := startSpeaker(t, us, bgp.Neighbor{Address: them, ASN: birdASN})
	h.waitConnected(them)
	nstest.WaitFor(t, wait, func() bool {
		r, ok := h.installed(pfx("203.0.113.0/24"))
		return ok && r.Peer == them && slices.Equal(r.ASPath, []uint32{birdASN})
	}, "BIRD's route installed: %+v", h.sp.InstalledRoutes())
	nstest.WaitFor(t, wait, func() bool {
		out := birdRoute(t, bird, "10.1.0.0/16")
		return strings.Contains(out, "BGP.as_path: 65515") && strings.Contains(out, "BGP.next_hop: 192.0.2.17")
	}, "BIRD learns the VNet from us: %s", birdRoute(t, bird, "10.1.0.0/16"))
	if out := birdRoute(t, bird, "172.16.5.0/24"); !strings.Contains(out, "BGP.as_path: 65515") {
		t.Errorf("BIRD lacks the site prefix: %s", out)
	}

	if _, err := bird.Cmd("disable", "st"); err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, wait, func() bool {
		return h.sawEvent(func(r bgp.Route) bool { return r.Prefix == pfx("203.0.113.0/24") && r.Withdrawn })
	}, "BIRD's withdrawal reported")
}

// TestTransitFRRToBIRD: routes learned from FRR go to BIRD with our ASN
// prepended, and BIRD's to FRR; the default route and the VNet supernet
// FRR sends are installed but never passed on.
func TestTransitFRRToBIRD(t *testing.T) {
	bgptest.RequireFRR(t)
	bgptest.RequireBIRD(t)
	nsB, us, birdAddr := peerLink(t, "bgptb", "tr1", "192.0.2.21", "192.0.2.22")
	nsF, _, frrAddr := peerLink(t, "bgptf", "tr2", "192.0.2.25", "192.0.2.26")
	nsF.MustRun(t, "ip", "route", "add", "192.0.2.21/32", "via", "192.0.2.25")
	bird := bgptest.StartBIRD(t, nsB, birdConf("192.0.2.22", "192.0.2.22", "192.0.2.21", "203.0.113.0/24"))
	frr := bgptest.StartFRR(t, nsF, frrConf(frrASN, "192.0.2.26", frrNeighbor("192.0.2.21", gwASN, "ebgp-multihop 2"),
		"198.51.100.0/24", "0.0.0.0/0", "10.0.0.0/8"))
	h := startSpeaker(t, us, bgp.Neighbor{Address: birdAddr, ASN: birdASN}, bgp.Neighbor{Address: frrAddr, ASN: frrASN})
	h.waitConnected(birdAddr)
	h.waitConnected(frrAddr)

	nstest.WaitFor(t, wait, func() bool {
		return strings.Contains(birdRoute(t, bird, "198.51.100.0/24"), "BGP.as_path: 65515 65010")
	}, "BIRD learns FRR's route through us: %s", birdRoute(t, bird, "198.51.100.0/24"))
	nstest.WaitFor(t, wait, func() bool { return frrHas(t, frr, "203.0.113.0/24", "65515 65020") },
		"FRR learns BIRD's route through us: %v", frrPrefixes(t, frr))
	// Installed here, not passed on.
	for _, p := range []string{"0.0.0.0/0", "10.0.0.0/8"} {
		if _, ok := h.installed(pfx(p)); !ok {
			t.Errorf("%s from FRR not installed", p)
		}
	}
	time.Sleep(2 * time.Second)
	out, err := bird.Cmd("show", "route", "protocol", "gwpeer")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "0.0.0.0/0") || strings.Contains(out, "10.0.0.0/8") {
		t.Errorf("BIRD got the default route or the VNet supernet from us:\n%s", out)
	}
	adv, err := h.sp.AdvertisedRoutes(ctxT(t), birdAddr)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range adv {
		got = append(got, a.Network.String()+" "+a.ASPath)
	}
	want := []string{"10.1.0.0/16 65515", "172.16.5.0/24 65515", "198.51.100.0/24 65515-65010"}
	if !slices.Equal(got, want) {
		t.Errorf("advertised to BIRD %v, want %v", got, want)
	}
}
