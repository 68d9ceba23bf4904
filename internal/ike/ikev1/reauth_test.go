package ikev1

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/isakmp"
	"github.com/vpngw/vpngw/internal/transform"
)

// continuous fails the test as soon as a side has, for some selector
// pair, no Child SA whose outbound is active, or the two sides' active
// outbound SAs of a pair are not each other's inbound SAs (traffic would
// be lost: make-before-break).
func continuous(t *testing.T, n *testNet, pairs int) func() {
	return func() {
		for _, s := range []*side{n.a, n.b} {
			other := n.b
			if s == n.b {
				other = n.a
			}
			out := map[string]int{}
			for in, c := range s.h.children {
				if !s.h.active[in] {
					continue
				}
				// What we send on must be installed inbound on the other side.
				if other.h.children[c.OutSPI] == nil {
					continue
				}
				out[ike.TSString(c.LocalTS)+ike.TSString(c.RemoteTS)]++
			}
			if len(out) < pairs {
				t.Fatalf("at %v a side can send on %d of %d pairs: %v", n.now, len(out), pairs, pairsOf(s.h))
			}
		}
	}
}

func TestMainModeReauthMakeBeforeBreak(t *testing.T) {
	for _, tc := range []struct {
		name         string
		aMode, bMode ike.Mode
		policy       bool
		explicit     bool // Rekey(ikeSA) instead of the lifetime
	}{
		{"a initiated, lifetime", ike.ModeDefault, ike.ModeResponderOnly, false, false},
		{"b initiated, lifetime", ike.ModeResponderOnly, ike.ModeDefault, false, false},
		{"policy-based pairs, lifetime", ike.ModeDefault, ike.ModeResponderOnly, true, false},
		{"operator's rekey", ike.ModeDefault, ike.ModeResponderOnly, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pairs := 1
			n := setup(t, tc.aMode, tc.bMode, func(a, b *ike.Peer) {
				if tc.policy {
					policyPeers(t, tc.aMode, tc.bMode)(a, b)
					pairs = 6
				}
				a.IKELifetime, b.IKELifetime = 10*time.Minute, 10*time.Minute
				a.ChildLifetime, b.ChildLifetime = time.Hour, time.Hour
			})
			n.run(5 * time.Second)
			mirrored(t, n)
			firstSA := map[*side]uint64{}
			firstChildren := map[uint32]bool{}
			for _, s := range []*side{n.a, n.b} {
				firstSA[s] = s.e.peers["peer"].sa.ci
			}
			for in := range n.a.h.children {
				firstChildren[in] = true
			}
			// The side that re-authenticated deletes the replaced SA's
			// Child SAs, then, retireDelay later, the SA itself: note when
			// each side last saw a Child SA on its old SA and when the old
			// SA went away.
			cont := continuous(t, n, pairs)
			childrenGone, saGone := map[*side]time.Time{}, map[*side]time.Time{}
			n.check = func() {
				cont()
				for _, s := range []*side{n.a, n.b} {
					old := s.e.sas[firstSA[s]]
					if old == nil {
						if saGone[s].IsZero() {
							saGone[s] = n.now
						}
						continue
					}
					on := 0
					for _, c := range s.e.peers["peer"].children {
						if c.on == old {
							on++
						}
					}
					if on == 0 && childrenGone[s].IsZero() {
						childrenGone[s] = n.now
					}
				}
			}
			if tc.explicit {
				if err := n.a.e.Rekey(n.now, "peer", true); err != nil {
					t.Fatal(err)
				}
				n.run(30 * time.Second)
			} else {
				n.run(9*time.Minute + 50*time.Second) // re-authentication at 90 % (9 min), grace, old SA deleted
			}
			for _, s := range []*side{n.a, n.b} {
				p := s.e.peers["peer"]
				if p.sa == nil || p.sa.ci == firstSA[s] || p.sa.state != stEstablished {
					t.Fatal("no new ISAKMP SA")
				}
				if len(s.e.sas) != 1 {
					t.Fatalf("%d ISAKMP SAs remain (the old one was not deleted)", len(s.e.sas))
				}
				if k := s.h.count(ike.EventIKEDown); k != 0 {
					t.Fatalf("%d ike-down events", k)
				}
				for _, c := range p.children {
					if c.on != p.sa {
						t.Fatalf("Child SA %08x still on the old SA", c.InSPI)
					}
				}
			}
			for in := range n.a.h.children {
				if firstChildren[in] {
					t.Fatalf("Child SA %08x was not moved", in)
				}
			}
			if len(n.a.h.children) != pairs {
				t.Fatalf("%d Child SAs, want %d", len(n.a.h.children), pairs)
			}
			for _, s := range []*side{n.a, n.b} {
				if gap := saGone[s].Sub(childrenGone[s]); childrenGone[s].IsZero() || gap < retireDelay {
					t.Fatalf("the old ISAKMP SA went %v after its last Child SA, want >= %v (a peer handling both Deletes in parallel adopts the Child SAs)", gap, retireDelay)
				}
			}
			mirrored(t, n)
			// Past the old SA's lifetime nothing breaks.
			n.run(5 * time.Minute)
			mirrored(t, n)
		})
	}
}

func TestInitialContact(t *testing.T) {
	n := setup(t, ike.ModeDefault, ike.ModeResponderOnly, nil)
	n.run(5 * time.Second)
	mirrored(t, n)
	stale := len(n.b.h.children)
	// a restarts and forgets everything; its first Main Mode carries
	// INITIAL-CONTACT and b drops the SAs of a's previous life.
	h := newTestHost()
	n.a.h, n.a.e = h, New(Config{RekeyGrace: 2 * time.Second}, h, testLog())
	if err := n.a.e.SetPeers(n.now, []ike.Peer{peerCfg(addrA, addrB, "10.1.0.0/16", "10.2.0.0/16", ike.ModeDefault)}); err != nil {
		t.Fatal(err)
	}
	n.run(5 * time.Second)
	if stale == 0 || len(n.b.h.children) != 1 || len(n.b.e.sas) != 1 {
		t.Fatalf("b kept %d Child SAs, %d ISAKMP SAs", len(n.b.h.children), len(n.b.e.sas))
	}
	mirrored(t, n)
}

func TestRemoteID(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   ike.Identity
		ok   bool
	}{
		{"unset", ike.Identity{}, true},
		{"peer's address", ike.IPIdentity(addrA), true},
		{"other FQDN", ike.FQDNIdentity("vpn.example.net"), false},
		{"other address", ike.IPIdentity(addrB), false},
	} {
		for _, checker := range []string{"responder", "initiator"} {
			t.Run(tc.name+"/"+checker, func(t *testing.T) {
				n := setup(t, ike.ModeDefault, ike.ModeResponderOnly, func(a, b *ike.Peer) {
					if checker == "responder" {
						b.RemoteID = tc.id
					} else {
						a.RemoteID = ike.Identity{}
						if !tc.id.IsZero() {
							// the same test from a's side: b's identity
							a.RemoteID = tc.id
							if tc.id.Equal(ike.IPIdentity(addrA)) {
								a.RemoteID = ike.IPIdentity(addrB)
							} else if tc.id.Equal(ike.IPIdentity(addrB)) {
								a.RemoteID = ike.IPIdentity(addrA)
							}
						}
					}
				})
				n.run(5 * time.Second)
				who := n.b
				if checker == "initiator" {
					who = n.a
				}
				if tc.ok != who.e.Established("peer") {
					t.Fatalf("established %v: %q", who.e.Established("peer"), who.e.LastError("peer"))
				}
				if !tc.ok {
					r := who.e.LastError("peer")
					if !strings.Contains(r, tc.id.String()) && !strings.Contains(r, "remote identity") {
						t.Fatalf("reason %q does not name the identities", r)
					}
					if !strings.Contains(r, "192.0.2.") {
						t.Fatalf("reason %q does not name the peer's identity", r)
					}
				}
			})
		}
	}
}

// countHandler counts log records.
type countHandler struct{ n *atomic.Int64 }

func (h countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countHandler) Handle(context.Context, slog.Record) error {
	h.n.Add(1)
	return nil
}
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countHandler) WithGroup(string) slog.Handler      { return h }

func TestDropsCountedAndRateLimited(t *testing.T) {
	aggressive, _ := isakmp.Encode(&isakmp.Message{Header: isakmp.Header{ICookie: 1, Exchange: isakmp.ExchAggressive},
		Payloads: []isakmp.Payload{&isakmp.Data{T: isakmp.PayloadNonce, Data: []byte{1}}}})
	for _, tc := range []struct {
		name   string
		reason ike.DropReason
		// pkt builds the datagram (given the established net) and the address it comes from.
		pkt func(n *testNet) ([]byte, bool)
	}{
		{"aggressive mode", ike.DropAggressiveMode, func(*testNet) ([]byte, bool) { return aggressive, true }},
		{"unknown peer", ike.DropUnknownPeer, func(n *testNet) ([]byte, bool) {
			return n.mm1(t), false
		}},
		{"bad hash", ike.DropBadHash, func(n *testNet) ([]byte, bool) {
			s := n.a.e.peers["peer"].sa
			msg, _, _ := isakmp.EncodeEncrypted(&isakmp.Message{Header: s.hdr(isakmp.ExchQuickMode, 77),
				Payloads: []isakmp.Payload{&isakmp.Data{T: isakmp.PayloadHash, Data: make([]byte, 32)}}}, s.blk, s.phase2IV(77))
			return msg, true
		}},
		{"malformed", ike.DropMalformed, func(*testNet) ([]byte, bool) { return []byte{1, 2, 3}, true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := setup(t, ike.ModeDefault, ike.ModeResponderOnly, nil)
			n.run(5 * time.Second)
			var lines atomic.Int64
			n.b.e.log = slog.New(countHandler{&lines})
			events := len(n.b.h.events)
			data, fromPeer := tc.pkt(n)
			from := addrA
			if !fromPeer {
				from = netipAP(addrB, 0).Addr().Next().Next() // 192.0.2.4: nobody's
			}
			for range 100 {
				n.b.e.HandlePacket(n.now, ike.Packet{Data: data, Local: netipAP(addrB, 500), Remote: netipAP(from, 500)})
			}
			if got := n.b.e.Drops().Load(tc.reason); got != 100 {
				t.Fatalf("%v counted %d, want 100", tc.reason, got)
			}
			if lines.Load() != 1 {
				t.Fatalf("%d log lines for 100 drops", lines.Load())
			}
			if k := len(n.b.h.events) - events; k > 1 {
				t.Fatalf("%d events for 100 drops", k)
			}
			n.now = n.now.Add(11 * time.Second)
			n.b.e.HandlePacket(n.now, ike.Packet{Data: data, Local: netipAP(addrB, 500), Remote: netipAP(from, 500)})
			if lines.Load() != 2 {
				t.Fatal("no log line after the interval")
			}
		})
	}
}

// mm1 is a Main Mode first message as a would send it.
func (n *testNet) mm1(t *testing.T) []byte {
	h := newTestHost()
	e := New(Config{}, h, nil)
	if err := e.SetPeers(n.now, []ike.Peer{peerCfg(addrA, addrB, "10.1.0.0/16", "10.2.0.0/16", ike.ModeDefault)}); err != nil {
		t.Fatal(err)
	}
	e.Tick(n.now)
	if len(h.sent) != 1 {
		t.Fatalf("%d datagrams", len(h.sent))
	}
	return h.sent[0].Data
}

func TestByteLifetime(t *testing.T) {
	for _, who := range []string{"initiator's SA", "responder's SA"} {
		t.Run(who, func(t *testing.T) {
			n := setup(t, ike.ModeDefault, ike.ModeResponderOnly, func(a, b *ike.Peer) {
				a.ChildLifeBytes, b.ChildLifeBytes = 1<<20, 1<<30
			})
			n.run(5 * time.Second)
			mirrored(t, n)
			s := n.a
			if who == "responder's SA" {
				s = n.b
			}
			var in uint32
			for k, c := range s.h.children {
				in = k
				if c.HardBytes != 1<<20 || c.SoftBytes == 0 || c.SoftBytes >= c.HardBytes {
					t.Fatalf("byte lifetimes soft %d hard %d, want the smaller offer (1 MiB)", c.SoftBytes, c.HardBytes)
				}
			}
			n.check = continuous(t, n, 1)
			s.e.SoftLimit(n.now, in)
			n.run(10 * time.Second)
			if _, ok := s.h.children[in]; ok || len(s.h.children) != 1 {
				t.Fatalf("soft limit did not rekey: %d SAs", len(s.h.children))
			}
			mirrored(t, n)
			n.check = nil
			for k := range s.h.children {
				in = k
			}
			s.e.HardLimit(n.now, in)
			if _, ok := s.h.children[in]; ok {
				t.Fatal("hard limit did not delete")
			}
			n.run(30 * time.Second) // a negotiates the pair again
			mirrored(t, n)
		})
	}
}

func TestNoProposalReasonsNameBothSides(t *testing.T) {
	t.Run("Quick Mode", func(t *testing.T) {
		n := setup(t, ike.ModeDefault, ike.ModeResponderOnly, func(a, b *ike.Peer) {
			a.IKEProposals, _ = transform.ParseProposals("aes256-sha256-modp2048", false)
			b.IKEProposals = a.IKEProposals
			a.ESPProposals, _ = transform.ParseProposals("aes256-sha256", true)
			b.ESPProposals, _ = transform.ParseProposals("aes128-sha1", true)
		})
		n.run(5 * time.Second)
		for _, s := range []*side{n.b, n.a} {
			r := s.e.LastError("peer")
			if !strings.Contains(r, "Quick Mode") || !strings.Contains(r, "NO_PROPOSAL_CHOSEN") || !strings.Contains(r, "aes256") {
				t.Fatalf("reason %q", r)
			}
		}
		if r := n.b.e.LastError("peer"); !strings.Contains(r, "aes128") {
			t.Fatalf("responder's reason %q lacks its own offer", r)
		}
	})
}
