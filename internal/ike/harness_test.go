package ike

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

// testHost records what an Engine asks of its data plane.
type testHost struct {
	name     string
	sent     []Packet
	children map[uint32]*ChildSA // installed, by inbound SPI
	// outbound maps a selector key to the inbound SPI of the Child SA
	// whose outbound half carries that traffic.
	outbound map[string]uint32
	events   []Event
	failNext bool
}

func newTestHost(name string) *testHost {
	return &testHost{name: name, children: map[uint32]*ChildSA{}, outbound: map[string]uint32{}}
}

func tsKey(c *ChildSA) string { return TSString(c.LocalTS) + "|" + TSString(c.RemoteTS) }

func (h *testHost) SendIKE(p Packet) { h.sent = append(h.sent, p) }
func (h *testHost) InstallChildSA(c *ChildSA, outbound bool) error {
	if h.failNext {
		h.failNext = false
		return fmt.Errorf("injected failure")
	}
	if _, dup := h.children[c.InSPI]; dup {
		return fmt.Errorf("duplicate SPI %08x", c.InSPI)
	}
	h.children[c.InSPI] = c
	if outbound {
		h.outbound[tsKey(c)] = c.InSPI
	}
	return nil
}
func (h *testHost) ActivateOutbound(in uint32) {
	c := h.children[in]
	if c == nil {
		panic(fmt.Sprintf("%s: activate unknown SPI %08x", h.name, in))
	}
	h.outbound[tsKey(c)] = in
}
func (h *testHost) DeleteChildSA(in uint32) {
	c := h.children[in]
	if c == nil {
		panic(fmt.Sprintf("%s: delete unknown SPI %08x", h.name, in))
	}
	delete(h.children, in)
	if h.outbound[tsKey(c)] == in {
		delete(h.outbound, tsKey(c))
	}
}
func (h *testHost) PeerEndpoint(string, netip.AddrPort, netip.AddrPort) {}
func (h *testHost) Event(e Event)                                       { h.events = append(h.events, e) }

func (h *testHost) count(k EventKind) int {
	n := 0
	for _, e := range h.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

func (h *testHost) lastReason(k EventKind) string {
	for i := len(h.events) - 1; i >= 0; i-- {
		if h.events[i].Kind == k {
			return h.events[i].Reason
		}
	}
	return ""
}

type side struct {
	name string
	e    *Engine
	h    *testHost
	addr netip.Addr
}

// testNet connects two engines in memory with a fake clock.
type testNet struct {
	t     *testing.T
	now   time.Time
	a, b  *side
	queue []Packet // in flight, in order
	// drop, when set, decides whether a packet is lost.
	drop func(p Packet) bool
	// checkTraffic asserts after every delivery that every outbound SA has
	// its inbound twin installed on the other side (no packet would be
	// lost).
	checkTraffic bool
	delivered    int
	// snat, when set, is a NAT in front of A: a packet A sends from a
	// key endpoint leaves from its value, and one to a value reaches A
	// at its key.
	snat map[netip.AddrPort]netip.AddrPort
}

var (
	addrA = netip.MustParseAddr("192.0.2.1")
	addrB = netip.MustParseAddr("192.0.2.2")
)

func testLogger(t *testing.T, name string) *slog.Logger {
	if os.Getenv("IKE_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("side", name)
}

func newTestNet(t *testing.T, cfgA, cfgB Config) *testNet {
	t.Helper()
	n := &testNet{t: t, now: time.Unix(1_700_000_000, 0), checkTraffic: true}
	mk := func(name string, cfg Config, addr netip.Addr) *side {
		h := newTestHost(name)
		return &side{name: name, e: New(cfg, h, testLogger(t, name)), h: h, addr: addr}
	}
	n.a = mk("A", cfgA, addrA)
	n.b = mk("B", cfgB, addrB)
	return n
}

// basicPeers returns matching peer configurations for A and B.
func basicPeers() (Peer, Peer) {
	pa := Peer{Name: "to-b", Local: addrA, Remote: addrB, PSK: []byte("s3cret-key"),
		LocalTS: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")}}
	pb := Peer{Name: "to-a", Local: addrB, Remote: addrA, PSK: []byte("s3cret-key"), Mode: ModeResponderOnly,
		LocalTS: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")}, RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	return pa, pb
}

func (n *testNet) setPeers(pa, pb []Peer) {
	n.t.Helper()
	if err := n.b.e.SetPeers(n.now, pb); err != nil {
		n.t.Fatal(err)
	}
	if err := n.a.e.SetPeers(n.now, pa); err != nil {
		n.t.Fatal(err)
	}
}

func (n *testNet) other(addr netip.Addr) *side {
	if addr == n.a.addr {
		return n.a
	}
	if addr == n.b.addr {
		return n.b
	}
	n.t.Fatalf("packet to unknown address %v", addr)
	return nil
}

// collect moves packets sent by both hosts into the network queue.
func (n *testNet) collect() {
	for _, s := range []*side{n.a, n.b} {
		n.queue = append(n.queue, s.h.sent...)
		s.h.sent = nil
	}
}

// deliverAll delivers queued packets (and what they cause) until quiet.
func (n *testNet) deliverAll() {
	n.collect()
	for steps := 0; len(n.queue) > 0; steps++ {
		if steps > 10000 {
			n.t.Fatal("packet storm")
		}
		p := n.queue[0]
		n.queue = n.queue[1:]
		if n.drop != nil && n.drop(p) {
			continue
		}
		from, to := p.Local, p.Remote
		if m, ok := n.snat[from]; ok {
			from = m
		}
		for k, v := range n.snat {
			if v == to {
				to = k
			}
		}
		dst := n.other(to.Addr())
		dst.e.HandlePacket(n.now, Packet{Data: p.Data, Local: to, Remote: from})
		n.delivered++
		n.collect()
		if n.checkTraffic {
			n.assertNoLoss()
		}
	}
}

// run advances the clock by d, delivering packets and running timers.
func (n *testNet) run(d time.Duration) {
	n.t.Helper()
	end := n.now.Add(d)
	for i := 0; ; i++ {
		if i > 100000 {
			n.t.Fatal("timer storm")
		}
		n.deliverAll()
		next := end
		for _, s := range []*side{n.a, n.b} {
			if dl := s.e.NextDeadline(); !dl.IsZero() && dl.Before(next) {
				next = dl
			}
		}
		if next.After(n.now) {
			n.now = next
		}
		// Tick an engine only at its own deadline, as the agent does: an
		// engine that forgets to report work in NextDeadline stalls here
		// as it would in production.
		for _, s := range []*side{n.a, n.b} {
			if dl := s.e.NextDeadline(); !dl.IsZero() && !dl.After(n.now) {
				s.e.Tick(n.now)
			}
		}
		n.deliverAll()
		if !n.now.Before(end) {
			return
		}
	}
}

// assertNoLoss checks make-before-break: whatever SA a side sends on, the
// other side can decrypt, with the same keys.
func (n *testNet) assertNoLoss() {
	n.t.Helper()
	for _, pair := range [][2]*side{{n.a, n.b}, {n.b, n.a}} {
		src, dst := pair[0], pair[1]
		for key, in := range src.h.outbound {
			c := src.h.children[in]
			peerIn := dst.h.children[c.OutSPI]
			if peerIn == nil && c.Replaces == 0 {
				// A brand-new Child SA (no traffic to lose yet): the
				// responder may send before the initiator installed it.
				continue
			}
			if peerIn == nil {
				n.t.Fatalf("%s sends %s on SPI %08x, which %s has not installed (delivered %d)", src.name, key, c.OutSPI, dst.name, n.delivered)
			}
			if !bytes.Equal(peerIn.InEncKey, c.OutEncKey) || !bytes.Equal(peerIn.InIntegKey, c.OutIntegKey) {
				n.t.Fatalf("%s→%s SPI %08x: keys differ", src.name, dst.name, c.OutSPI)
			}
		}
	}
}

// established asserts both sides have an established IKE SA and an
// outbound Child SA for every selector pair in want (count).
func (n *testNet) established(want int) {
	n.t.Helper()
	for _, s := range []*side{n.a, n.b} {
		for _, name := range s.e.Peers() {
			if !s.e.Established(name) {
				n.t.Fatalf("%s: peer %s not established: %+v", s.name, name, s.e.Status())
			}
		}
		if len(s.h.outbound) != want {
			n.t.Fatalf("%s: %d outbound Child SAs, want %d: %v", s.name, len(s.h.outbound), want, keys(s.h.outbound))
		}
	}
	n.assertNoLoss()
}

func keys(m map[string]uint32) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func mustProposals(t *testing.T, s string, esp bool) []transform.Proposal {
	t.Helper()
	p, err := transform.ParseProposals(s, esp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ikeSAs(s *side) int {
	n := 0
	for _, sa := range s.e.sas {
		if sa.state == stEstablished {
			n++
		}
	}
	return n
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

var _ = message.IKESAInit
