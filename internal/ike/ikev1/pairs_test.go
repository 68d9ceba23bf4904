package ikev1

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/isakmp"
	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

func prefixes(t *testing.T, s ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

// pairsOf lists the installed Child SAs' selectors of one side, sorted.
func pairsOf(h *testHost) []string {
	var out []string
	for _, c := range h.children {
		out = append(out, ike.TSString(c.LocalTS)+"=="+ike.TSString(c.RemoteTS))
	}
	sort.Strings(out)
	return out
}

// wantPairs is every local × remote pair, sorted like pairsOf.
func wantPairs(local, remote []netip.Prefix) []string {
	var out []string
	for _, l := range local {
		for _, r := range remote {
			out = append(out, ike.TSString([]message.TrafficSelector{ike.PrefixTS(l)})+"=="+ike.TSString([]message.TrafficSelector{ike.PrefixTS(r)}))
		}
	}
	sort.Strings(out)
	return out
}

var (
	sitesA = []string{"10.1.0.0/16", "10.11.0.0/16"}
	sitesB = []string{"10.2.0.0/16", "10.12.0.0/16", "10.22.0.0/24"}
)

func policyPeers(t *testing.T, aMode, bMode ike.Mode) func(a, b *ike.Peer) {
	return func(a, b *ike.Peer) {
		a.PolicyBased, b.PolicyBased = true, true
		a.Mode, b.Mode = aMode, bMode
		a.LocalTS, a.RemoteTS = prefixes(t, sitesA...), prefixes(t, sitesB...)
		b.LocalTS, b.RemoteTS = prefixes(t, sitesB...), prefixes(t, sitesA...)
	}
}

func TestPolicyBasedPairs(t *testing.T) {
	for _, tc := range []struct {
		name         string
		aMode, bMode ike.Mode
	}{
		{"a initiates", ike.ModeDefault, ike.ModeResponderOnly},
		{"b initiates", ike.ModeResponderOnly, ike.ModeDefault},
		{"both initiate", ike.ModeDefault, ike.ModeDefault},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := setup(t, tc.aMode, tc.bMode, policyPeers(t, tc.aMode, tc.bMode))
			n.check = func() { // strongSwan decrypts only a few concurrent Quick Modes
				for _, side := range []*side{n.a, n.b} {
					for _, s := range side.e.sas {
						k := 0
						for _, q := range s.qms {
							if q.initiator {
								k++
							}
						}
						if k > maxQuickModes {
							t.Fatalf("%d Quick Modes of ours in flight", k)
						}
					}
				}
			}
			n.run(30 * time.Second)
			want := wantPairs(prefixes(t, sitesA...), prefixes(t, sitesB...))
			if got := pairsOf(n.a.h); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("a's Child SAs:\n got %v\nwant %v", got, want)
			}
			if len(n.b.h.children) != 6 {
				t.Fatalf("b has %d Child SAs", len(n.b.h.children))
			}
			mirrored(t, n)
			// Each pair is rekeyed on its own: after the rekey time all
			// six are new, still one per pair.
			first := map[uint32]bool{}
			for in := range n.a.h.children {
				first[in] = true
			}
			n.run(transform.AzureV1QuickModeLifetimePolicyBased)
			if got := pairsOf(n.a.h); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("after rekeys a has %v", got)
			}
			for in := range n.a.h.children {
				if first[in] {
					t.Fatalf("Child SA %08x not rekeyed", in)
				}
			}
			mirrored(t, n)
		})
	}
}

func TestPolicyBasedResponderNarrowsAndRefuses(t *testing.T) {
	for _, tc := range []struct {
		name           string
		aLocal, bLocal []string // a proposes aLocal × bLocal; b allows ... × its own
		bAllowsRemote  []string
		ok             bool
	}{
		{"inside b's selectors", []string{"10.1.1.0/24"}, []string{"10.2.3.0/24"}, []string{"10.1.0.0/16"}, true},
		{"outside b's remote", []string{"10.9.0.0/16"}, []string{"10.2.0.0/16"}, []string{"10.1.0.0/16"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := setup(t, ike.ModeDefault, ike.ModeResponderOnly, func(a, b *ike.Peer) {
				a.PolicyBased, b.PolicyBased = true, true
				a.LocalTS, a.RemoteTS = prefixes(t, tc.aLocal...), prefixes(t, tc.bLocal...)
				b.LocalTS, b.RemoteTS = prefixes(t, "10.2.0.0/16"), prefixes(t, tc.bAllowsRemote...)
			})
			n.run(5 * time.Second)
			if !tc.ok {
				r := n.b.e.LastError("peer")
				for _, w := range []string{"INVALID_ID_INFORMATION", tc.aLocal[0], tc.bLocal[0], tc.bAllowsRemote[0], "10.2.0.0/16"} {
					if !strings.Contains(r, w) {
						t.Fatalf("b's reason %q lacks %q", r, w)
					}
				}
				if r := n.a.e.LastError("peer"); !strings.Contains(r, "INVALID_ID_INFORMATION") || !strings.Contains(r, tc.aLocal[0]) {
					t.Fatalf("a's reason %q", r)
				}
				if len(n.b.h.children) != 0 {
					t.Fatal("refused pair installed")
				}
				return
			}
			want := wantPairs(prefixes(t, tc.bLocal...), prefixes(t, tc.aLocal...))
			if got := pairsOf(n.b.h); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("b installed %v, want the narrow %v", got, want)
			}
			mirrored(t, n)
		})
	}
}

func TestSelectorPairLimit(t *testing.T) {
	many := func(k int) []netip.Prefix {
		var out []netip.Prefix
		for i := range k {
			out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16))
		}
		return out
	}
	for _, tc := range []struct {
		local, remote int
		ok            bool
	}{{1, 1, true}, {10, 20, true}, {2, 101, false}, {201, 1, false}} {
		t.Run(fmt.Sprintf("%dx%d", tc.local, tc.remote), func(t *testing.T) {
			e := New(Config{}, newTestHost(), nil)
			p := peerCfg(addrA, addrB, "10.1.0.0/16", "10.2.0.0/16", ike.ModeDefault)
			p.PolicyBased = true
			p.LocalTS, p.RemoteTS = many(tc.local), many(tc.remote)
			err := e.SetPeers(time.Unix(0, 0), []ike.Peer{p})
			if tc.ok != (err == nil) {
				t.Fatalf("err %v", err)
			}
			if err != nil && (!errors.Is(err, ike.ErrConfig) || !strings.Contains(err.Error(), "200")) {
				t.Fatalf("err %v does not name the rule", err)
			}
		})
	}
}

func TestRouteBasedDefaultsToAny(t *testing.T) {
	n := setup(t, ike.ModeDefault, ike.ModeResponderOnly, func(a, b *ike.Peer) {
		a.LocalTS, a.RemoteTS, b.LocalTS, b.RemoteTS = nil, nil, nil, nil
	})
	n.run(5 * time.Second)
	if got := pairsOf(n.a.h); len(got) != 1 || got[0] != "0.0.0.0/0==0.0.0.0/0" {
		t.Fatalf("route-based Child SAs %v", got)
	}
}

// quiet runs the network for d and fails if s sent anything.
func (n *testNet) quiet(t *testing.T, s *side, d time.Duration) {
	t.Helper()
	before := s.nsent
	n.run(d)
	if s.nsent != before {
		t.Fatalf("side sent %d datagrams on its own", s.nsent-before)
	}
}

func TestOnDemand(t *testing.T) {
	n := setup(t, ike.ModeDefault, ike.ModeResponderOnly, func(a, b *ike.Peer) {
		policyPeers(t, ike.ModeDefault, ike.ModeResponderOnly)(a, b)
		a.OnDemand = true
	})
	n.quiet(t, n.a, time.Minute) // SetPeers does not initiate
	if err := n.a.e.Initiate(n.now, "peer"); err != nil {
		t.Fatal(err)
	}
	n.run(5 * time.Second)
	if len(n.a.h.children) != 6 || len(n.b.h.children) != 6 {
		t.Fatalf("Initiate: a %d b %d Child SAs", len(n.a.h.children), len(n.b.h.children))
	}
	mirrored(t, n)
	// Idle teardown: Terminate tells the peer (Deletes for every Child SA
	// and the ISAKMP SA), then a stays quiet.
	if err := n.a.e.Terminate(n.now, "peer"); err != nil {
		t.Fatal(err)
	}
	n.run(time.Second)
	if len(n.a.h.children) != 0 || len(n.b.h.children) != 0 || len(n.b.e.sas) != 0 || len(n.a.e.sas) != 0 {
		t.Fatalf("after Terminate: a %d/%d b %d/%d children/SAs", len(n.a.h.children), len(n.a.e.sas), len(n.b.h.children), len(n.b.e.sas))
	}
	n.quiet(t, n.a, 10*time.Minute)
	// The next packet: one pair only.
	l, r := netip.MustParsePrefix(sitesA[1]), netip.MustParsePrefix(sitesB[2])
	if err := n.a.e.InitiatePair(n.now, "peer", l, r); err != nil {
		t.Fatal(err)
	}
	n.run(30 * time.Second)
	if got := pairsOf(n.a.h); len(got) != 1 || got[0] != wantPairs([]netip.Prefix{l}, []netip.Prefix{r})[0] {
		t.Fatalf("InitiatePair installed %v", got)
	}
	if err := n.a.e.InitiatePair(n.now, "peer", l, netip.MustParsePrefix("10.99.0.0/16")); !errors.Is(err, ike.ErrConfig) {
		t.Fatalf("unknown pair: %v", err)
	}
	// Then all pairs, on the established SA.
	if err := n.a.e.Initiate(n.now, "peer"); err != nil {
		t.Fatal(err)
	}
	n.run(5 * time.Second)
	if len(n.a.h.children) != 6 {
		t.Fatalf("second Initiate: %d Child SAs", len(n.a.h.children))
	}
	// The peer deletes everything: a does not come back on its own.
	if err := n.b.e.Terminate(n.now, "peer"); err != nil {
		t.Fatal(err)
	}
	n.run(time.Second)
	if len(n.a.h.children) != 0 {
		t.Fatalf("a kept %d Child SAs after the peer's Delete", len(n.a.h.children))
	}
	n.quiet(t, n.a, 10*time.Minute)
}

// A peer that is not OnDemand comes back after Terminate and after the
// peer's Delete.
func TestTerminateReinitiates(t *testing.T) {
	n := setup(t, ike.ModeDefault, ike.ModeResponderOnly, nil)
	n.run(5 * time.Second)
	for _, who := range []*side{n.a, n.b} {
		if err := who.e.Terminate(n.now, "peer"); err != nil {
			t.Fatal(err)
		}
		n.run(time.Second)
		if len(n.a.h.children) != 0 {
			t.Fatal("Terminate left Child SAs")
		}
		n.run(30 * time.Second)
		if !n.a.e.Established("peer") {
			t.Fatalf("not back: %q", n.a.e.LastError("peer"))
		}
		mirrored(t, n)
	}
}

// A lost HASH(3) costs nothing: the responder resends QM2 and the
// initiator answers it again, so both sides end with the same SAs.
func TestLostHash3(t *testing.T) {
	for _, lost := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d lost", lost), func(t *testing.T) {
			n := setup(t, ike.ModeDefault, ike.ModeResponderOnly, nil)
			dropped := 0
			n.drop = func(p ike.Packet) bool {
				h, err := isakmp.ParseHeader(p.Data)
				// HASH(3) is the initiator's only short Quick Mode message.
				if err == nil && p.Remote.Addr() == addrB && h.Exchange == isakmp.ExchQuickMode && len(p.Data) < 100 && dropped < lost {
					dropped++
					return true
				}
				return false
			}
			n.run(30 * time.Second)
			if dropped != lost {
				t.Fatalf("dropped %d HASH(3)", dropped)
			}
			mirrored(t, n)
		})
	}
}

// SetPeers keeps the SAs of an unchanged peer and renegotiates a changed
// one (the peer is told), as ike.Engine does.
func TestSetPeersChanged(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(p *ike.Peer)
		renewed bool
	}{
		{"unchanged", func(*ike.Peer) {}, false},
		{"lifetime changed", func(p *ike.Peer) { p.ChildLifetime = 2 * time.Hour }, true},
		{"selectors changed", func(p *ike.Peer) { p.LocalTS = prefixes(t, "10.1.0.0/17") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := setup(t, ike.ModeDefault, ike.ModeResponderOnly, nil)
			n.run(5 * time.Second)
			before := pairsOf(n.b.h)
			var first uint32
			for in := range n.a.h.children {
				first = in
			}
			p := peerCfg(addrA, addrB, "10.1.0.0/16", "10.2.0.0/16", ike.ModeDefault)
			tc.change(&p)
			if err := n.a.e.SetPeers(n.now, []ike.Peer{p}); err != nil {
				t.Fatal(err)
			}
			n.run(30 * time.Second)
			_, kept := n.a.h.children[first]
			if kept == tc.renewed || len(n.a.h.children) != 1 {
				t.Fatalf("old Child SA kept %v, %d Child SAs (before %v, now %v)", kept, len(n.a.h.children), before, pairsOf(n.b.h))
			}
			mirrored(t, n)
		})
	}
}

// An InitiatorOnly peer does not answer the peer's Main Mode; when it
// initiates while the peer's own Main Mode to it is still unanswered, the
// peer answers it anyway.
func TestInitiatorOnlyIgnoresMainMode(t *testing.T) {
	n := setup(t, ike.ModeResponderOnly, ike.ModeInitiatorOnly, func(a, b *ike.Peer) { b.OnDemand = true })
	if err := n.a.e.Initiate(n.now, "peer"); err != nil {
		t.Fatal(err)
	}
	n.run(2 * time.Second)
	if len(n.a.h.children) != 0 || n.b.e.Drops().Load(ike.DropUnknownPeer) == 0 {
		t.Fatalf("InitiatorOnly answered: %d Child SAs", len(n.a.h.children))
	}
	if err := n.b.e.Initiate(n.now, "peer"); err != nil {
		t.Fatal(err)
	}
	n.run(5 * time.Second)
	mirrored(t, n)
	if len(n.a.e.sas) != 1 || len(n.b.e.sas) != 1 {
		t.Fatalf("ISAKMP SAs: a %d b %d", len(n.a.e.sas), len(n.b.e.sas))
	}
}
