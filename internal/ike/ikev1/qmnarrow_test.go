package ikev1

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/message"
)

// narrowTo makes b's Quick Mode responder answer (and install) the given
// selectors (b's local, b's remote) whatever a proposed, as strongSwan
// does when it narrows a proposal to its configuration.
func narrowTo(n *testNet, local, remote string) {
	l, r := ike.PrefixTS(netip.MustParsePrefix(local)), ike.PrefixTS(netip.MustParsePrefix(remote))
	n.b.e.narrow = func(_, _ message.TrafficSelector) (message.TrafficSelector, message.TrafficSelector) { return l, r }
}

func onlyChild(t *testing.T, h *testHost) *ike.ChildSA {
	t.Helper()
	if len(h.children) != 1 {
		t.Fatalf("%d Child SAs installed, want 1", len(h.children))
	}
	for _, c := range h.children {
		return c
	}
	return nil
}

// TestQuickModeInitiatorTakesNarrowedIDs: a proposes 0/0 === 0/0, b
// answers 10.1.0.0/24 === 10.2.0.0/24 (a's view); a installs the
// narrowed selectors, negotiates no second Child SA for the pair, and
// recognises b's rekey of it as a rekey.
func TestQuickModeInitiatorTakesNarrowedIDs(t *testing.T) {
	n := setup(t, ike.ModeDefault, ike.ModeResponderOnly, func(a, b *ike.Peer) {
		a.LocalTS[0], a.RemoteTS[0] = netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("0.0.0.0/0")
	})
	narrowTo(n, "10.2.0.0/24", "10.1.0.0/24")
	n.run(5 * time.Second)
	mirrored(t, n)
	c := onlyChild(t, n.a.h)
	if l, r := ike.TSString(c.LocalTS), ike.TSString(c.RemoteTS); l != "10.1.0.0/24" || r != "10.2.0.0/24" {
		t.Fatalf("a installed %s === %s, want the narrowed 10.1.0.0/24 === 10.2.0.0/24", l, r)
	}
	first := c.InSPI
	// Quiet for a while: still one Child SA (the pair counts as covered).
	n.run(time.Minute)
	onlyChild(t, n.a.h)
	// b rekeys its SA: a sees the same selectors and takes it as a rekey.
	bc := onlyChild(t, n.b.h)
	if err := n.b.e.RekeyChild(n.now, bc.InSPI); err != nil {
		t.Fatal(err)
	}
	n.run(time.Second)
	var rekeyOf uint32
	for in, c := range n.a.h.children {
		if in != first {
			rekeyOf = c.Replaces
		}
	}
	if rekeyOf != first {
		t.Fatalf("a's new Child SA replaces %08x, want %08x", rekeyOf, first)
	}
	n.run(5 * time.Second)
	mirrored(t, n)
	if c := onlyChild(t, n.a.h); c.InSPI == first {
		t.Fatal("old SA kept, new one dropped")
	}
}

// TestQuickModeInitiatorRefusesWiderIDs: an answer whose IDs are not
// within our proposal fails the Quick Mode with a reason naming both,
// and the responder is told (INVALID_ID_INFORMATION) and drops its half.
func TestQuickModeInitiatorRefusesWiderIDs(t *testing.T) {
	cases := []struct {
		name          string
		local, remote string // b's answer: b's local, b's remote
	}{
		{"wider", "10.2.0.0/15", "10.1.0.0/16"},
		{"disjoint", "10.2.0.0/16", "10.9.0.0/16"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := setup(t, ike.ModeDefault, ike.ModeResponderOnly, func(a, b *ike.Peer) {
				b.LocalTS[0], b.RemoteTS[0] = netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("0.0.0.0/0")
			})
			narrowTo(n, tc.local, tc.remote)
			n.run(5 * time.Second)
			if len(n.a.h.children) != 0 {
				t.Fatalf("a installed %d Child SAs for an answer outside its proposal", len(n.a.h.children))
			}
			r := n.a.e.LastError("peer")
			want := "peer answered " + tc.remote + " === " + tc.local + ", not within our proposal 10.1.0.0/16 === 10.2.0.0/16"
			if !strings.Contains(r, "INVALID_ID_INFORMATION") || !strings.Contains(r, want) {
				t.Fatalf("reason %q, want it to contain %q", r, want)
			}
			// a told b, which dropped the SA it had installed for its
			// answer at once instead of waiting for a HASH(3).
			if rb := n.b.e.LastError("peer"); !strings.Contains(rb, "peer sent notify INVALID_ID_INFORMATION in answer to ours") {
				t.Fatalf("b's reason %q, want the notify a sent", rb)
			}
			if len(n.b.h.children) != 0 {
				t.Fatalf("b still holds %d Child SAs for the refused answer", len(n.b.h.children))
			}
		})
	}
}

func TestTSWithin(t *testing.T) {
	p := func(s string) message.TrafficSelector { return ike.PrefixTS(netip.MustParsePrefix(s)) }
	tcp := func(t message.TrafficSelector, port uint16) message.TrafficSelector {
		t.IPProtocol, t.StartPort, t.EndPort = 6, port, port
		return t
	}
	cases := []struct {
		name     string
		t, outer message.TrafficSelector
		want     bool
	}{
		{"same", p("10.1.0.0/16"), p("10.1.0.0/16"), true},
		{"narrower prefix", p("10.1.2.0/24"), p("10.1.0.0/16"), true},
		{"narrower protocol and port", tcp(p("10.1.2.0/24"), 443), p("0.0.0.0/0"), true},
		{"wider", p("10.0.0.0/8"), p("10.1.0.0/16"), false},
		{"disjoint", p("10.2.0.0/16"), p("10.1.0.0/16"), false},
		{"other family", p("::/0"), p("0.0.0.0/0"), false},
		{"same protocol and port", tcp(p("10.1.0.0/16"), 443), tcp(p("10.1.0.0/16"), 443), true},
		{"other protocol", func() message.TrafficSelector { u := tcp(p("10.1.0.0/16"), 443); u.IPProtocol = 17; return u }(), tcp(p("10.1.0.0/16"), 443), false},
		{"any protocol within tcp", p("10.1.0.0/16"), tcp(p("10.1.0.0/16"), 443), false},
		{"other port", tcp(p("10.1.0.0/16"), 80), tcp(p("10.1.0.0/16"), 443), false},
	}
	for _, tc := range cases {
		if got := tsWithin(tc.t, tc.outer); got != tc.want {
			t.Errorf("%s: tsWithin(%v, %v) = %v, want %v", tc.name, tc.t, tc.outer, got, tc.want)
		}
	}
}
