package ikev1

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
)

// testHost records what an Engine asks of its data plane (the IKEv1
// counterpart of ike's testHost: same ike.Host contract).
type testHost struct {
	sent     []ike.Packet
	children map[uint32]*ike.ChildSA
	active   map[uint32]bool
	events   []ike.Event
}

func newTestHost() *testHost {
	return &testHost{children: map[uint32]*ike.ChildSA{}, active: map[uint32]bool{}}
}

func (h *testHost) SendIKE(p ike.Packet) { h.sent = append(h.sent, p) }
func (h *testHost) InstallChildSA(c *ike.ChildSA, outbound bool) error {
	if _, dup := h.children[c.InSPI]; dup {
		return fmt.Errorf("duplicate SPI %08x", c.InSPI)
	}
	h.children[c.InSPI] = c
	h.active[c.InSPI] = outbound
	return nil
}
func (h *testHost) ActivateOutbound(in uint32) {
	if h.children[in] == nil {
		panic(fmt.Sprintf("activate unknown SPI %08x", in))
	}
	h.active[in] = true
}
func (h *testHost) DeleteChildSA(in uint32) {
	if h.children[in] == nil {
		panic(fmt.Sprintf("delete unknown SPI %08x", in))
	}
	delete(h.children, in)
	delete(h.active, in)
}
func (h *testHost) PeerEndpoint(string, netip.AddrPort, netip.AddrPort) {}
func (h *testHost) Event(e ike.Event)                                   { h.events = append(h.events, e) }

func (h *testHost) count(k ike.EventKind) int {
	n := 0
	for _, e := range h.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

type side struct {
	e    *Engine
	h    *testHost
	addr netip.Addr
	// nsent counts the datagrams it sent.
	nsent int
}

// testNet connects two engines in memory with a fake clock.
type testNet struct {
	t    *testing.T
	now  time.Time
	a, b *side
	// drop decides whether a packet is lost (nil: none).
	drop func(p ike.Packet) bool
	// check, when set, runs after every delivered packet and every tick
	// (make-before-break assertions).
	check func()
}

var (
	addrA = netip.MustParseAddr("192.0.2.1")
	addrB = netip.MustParseAddr("192.0.2.2")
)

func testLog() *slog.Logger {
	if os.Getenv("IKE_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newTestNet(t *testing.T) *testNet {
	n := &testNet{t: t, now: time.Unix(1_700_000_000, 0)}
	mk := func(a netip.Addr) *side {
		h := newTestHost()
		return &side{e: New(Config{RekeyGrace: 2 * time.Second}, h, testLog()), h: h, addr: a}
	}
	n.a, n.b = mk(addrA), mk(addrB)
	return n
}

func peerCfg(local, remote netip.Addr, lts, rts string, mode ike.Mode) ike.Peer {
	return ike.Peer{Name: "peer", Local: local, Remote: remote, PSK: []byte("s3cret"), Mode: mode,
		LocalTS: []netip.Prefix{netip.MustParsePrefix(lts)}, RemoteTS: []netip.Prefix{netip.MustParsePrefix(rts)}}
}

// run delivers packets and ticks the clock until nothing is in flight and
// no timer is due within step, for at most d of fake time.
func (n *testNet) run(d time.Duration) {
	end := n.now.Add(d)
	for i := 0; i < 10000; i++ {
		moved := false
		for _, s := range []*side{n.a, n.b} {
			other := n.b
			if s == n.b {
				other = n.a
			}
			out := s.h.sent
			s.h.sent = nil
			for _, p := range out {
				moved = true
				s.nsent++
				if n.drop != nil && n.drop(p) {
					continue
				}
				if p.Remote.Addr() != other.addr {
					n.t.Fatalf("packet to %v", p.Remote)
				}
				// Swap endpoints: what one sends to, the other receives on.
				other.e.HandlePacket(n.now, ike.Packet{Data: p.Data, Local: p.Remote, Remote: p.Local})
				if n.check != nil {
					n.check()
				}
			}
		}
		if moved {
			continue
		}
		next := n.a.e.NextDeadline()
		if d := n.b.e.NextDeadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
		if next.IsZero() || next.After(end) {
			n.now = end
			return
		}
		if next.After(n.now) {
			n.now = next
		}
		n.a.e.Tick(n.now)
		n.b.e.Tick(n.now)
		if n.check != nil {
			n.check()
		}
	}
	n.t.Fatal("no quiescence")
}

func netipAP(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }
