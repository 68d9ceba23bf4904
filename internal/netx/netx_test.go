package netx

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestHostAddr(t *testing.T) {
	p := netip.MustParsePrefix("10.1.255.0/29")
	for i, want := range []string{"10.1.255.4", "10.1.255.5", "10.1.255.6"} {
		a, ok := HostAddr(p, i)
		if !ok || a.String() != want {
			t.Errorf("HostAddr(%s, %d) = %s, %v; want %s", p, i, a, ok, want)
		}
	}
	if a, ok := HostAddr(p, 3); ok {
		t.Errorf("HostAddr(%s, 3) = %s: the broadcast address is not a host", p, a)
	}
	if a, ok := HostAddr(netip.MustParsePrefix("10.0.0.0/30"), 0); ok {
		t.Errorf("HostAddr(/30, 0) = %s: outside the prefix", a)
	}
}

func TestLastAddr(t *testing.T) {
	for _, c := range []struct{ p, last, usable string }{
		{"10.1.255.0/27", "10.1.255.31", "10.1.255.30"},
		{"198.51.100.0/24", "198.51.100.255", "198.51.100.254"},
		{"2001:db8::/126", "2001:db8::3", "2001:db8::2"},
	} {
		p := netip.MustParsePrefix(c.p)
		if got := LastAddr(p).String(); got != c.last {
			t.Errorf("LastAddr(%s) = %s, want %s", p, got, c.last)
		}
		if got := LastUsable(p).String(); got != c.usable {
			t.Errorf("LastUsable(%s) = %s, want %s", p, got, c.usable)
		}
	}
	if got := Router(netip.MustParsePrefix("10.0.1.0/24")).String(); got != "10.0.1.1" {
		t.Errorf("Router = %s", got)
	}
}

func TestPrefixHelpers(t *testing.T) {
	ps := ParsePrefixes([]string{"10.0.0.0/16", "bad", "10.2.0.1/16"})
	if len(ps) != 2 || ps[1].String() != "10.2.0.0/16" {
		t.Fatalf("ParsePrefixes = %v", ps)
	}
	if _, _, ok := FirstOverlap(ps, ParsePrefixes([]string{"10.0.5.0/24"})); !ok {
		t.Error("FirstOverlap missed 10.0.5.0/24 in 10.0.0.0/16")
	}
	if !ContainsPrefix(ps[0], netip.MustParsePrefix("10.0.5.0/24")) || ContainsPrefix(netip.MustParsePrefix("10.0.5.0/24"), ps[0]) {
		t.Error("ContainsPrefix")
	}
}

// TestLabAddresses is the lab's addressing test, from before the rule moved here.
func TestLabAddresses(t *testing.T) {
	p := netip.MustParsePrefix("10.1.255.0/27")
	if a, ok := HostAddr(p, 0); !ok || a.String() != "10.1.255.4" {
		t.Errorf("hostAddr 0 = %v %v", a, ok)
	}
	if a, ok := HostAddr(p, 26); !ok || a.String() != "10.1.255.30" {
		t.Errorf("hostAddr 26 = %v %v", a, ok)
	}
	if _, ok := HostAddr(p, 27); ok {
		t.Errorf("hostAddr hands out the broadcast address")
	}
	if _, ok := HostAddr(netip.MustParsePrefix("10.0.0.0/30"), 0); ok {
		t.Errorf("hostAddr in a /30")
	}
	if r := Router(p); r.String() != "10.1.255.1" {
		t.Errorf("router = %s", r)
	}
}

// TestOverlapsMatchesPairwise checks the sweep against comparing every
// pair, on random nested and disjoint prefixes of both families.
func TestOverlapsMatchesPairwise(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for round := range 500 {
		n := 1 + rnd.IntN(40)
		ps := make([]netip.Prefix, n)
		groups := make([]int, n)
		for i := range ps {
			if rnd.IntN(4) == 0 {
				a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(rnd.IntN(4))})
				ps[i] = netip.PrefixFrom(a, 32+rnd.IntN(8)).Masked()
			} else {
				a := netip.AddrFrom4([4]byte{10, byte(rnd.IntN(4)), byte(rnd.IntN(4)), 0})
				ps[i] = netip.PrefixFrom(a, 14+rnd.IntN(12)).Masked()
			}
			groups[i] = rnd.IntN(3)
		}
		grouped := round%2 == 0
		group := func(i int) int { return groups[i] }
		if !grouped {
			group = nil
		}
		want := map[int]bool{}
		for i := range ps {
			for j := range ps {
				if i != j && ContainsPrefix(ps[j], ps[i]) && (!grouped || groups[i] != groups[j]) {
					want[i] = true
				}
			}
		}
		// Equal prefixes contain each other; the sweep reports the later
		// one only.
		got := map[int]bool{}
		for _, o := range Overlaps(ps, group) {
			if !ContainsPrefix(ps[o.Outer], ps[o.Inner]) || o.Inner == o.Outer || (grouped && groups[o.Inner] == groups[o.Outer]) {
				t.Fatalf("bad overlap %v: %s in %s", o, ps[o.Inner], ps[o.Outer])
			}
			if got[o.Inner] {
				t.Fatalf("%s reported twice", ps[o.Inner])
			}
			got[o.Inner] = true
		}
		for i := range want {
			if got[i] {
				continue
			}
			// Allowed only for copies of one prefix: another copy is
			// reported.
			ok := false
			for _, o := range Overlaps(ps, group) {
				if ps[o.Outer] == ps[i] && ps[o.Inner] == ps[i] {
					ok = true
				}
			}
			if !ok {
				t.Fatalf("round %d: %s (group %d) not reported; %v", round, ps[i], groups[i], ps)
			}
		}
		set := NewPrefixSet(ps[:n/2])
		for _, p := range ps {
			inside := false
			for _, q := range ps[:n/2] {
				inside = inside || ContainsPrefix(q, p)
			}
			if set.ContainsPrefix(p) != inside {
				t.Fatalf("PrefixSet(%v).ContainsPrefix(%s) = %v", ps[:n/2], p, !inside)
			}
		}
	}
}

func TestReserved(t *testing.T) {
	for p, want := range map[string]string{
		"224.0.0.0/4": "multicast", "239.1.0.0/16": "multicast", "127.0.0.0/8": "loopback", "0.0.0.0/0": "multicast",
		"169.254.1.0/24": "link-local", "168.63.129.0/24": "the Azure internal DNS/health address", "10.0.0.0/8": "",
	} {
		r, ok := Reserved(netip.MustParsePrefix(p))
		if r.What != want || ok != (want != "") {
			t.Errorf("Reserved(%s) = %+v %v, want %q", p, r, ok, want)
		}
	}
}

func TestReservedWithin(t *testing.T) {
	for p, want := range map[string]string{
		"224.0.0.0/4": "multicast", "239.1.0.0/16": "multicast", "127.0.0.1/32": "loopback",
		"169.254.1.0/24": "link-local", "168.63.129.16/32": "the Azure internal DNS/health address",
		"255.255.255.255/32": "broadcast",
		// Covering prefixes route ordinary addresses too.
		"0.0.0.0/0": "", "192.0.0.0/2": "", "168.63.129.0/24": "", "10.0.0.0/8": "",
	} {
		r, ok := ReservedWithin(netip.MustParsePrefix(p))
		if r.What != want || ok != (want != "") {
			t.Errorf("ReservedWithin(%s) = %+v %v, want %q", p, r, ok, want)
		}
	}
}

func TestHalves(t *testing.T) {
	for _, tc := range []struct {
		in, lo, hi string
		ok         bool
	}{
		{"172.16.201.0/24", "172.16.201.0/25", "172.16.201.128/25", true},
		{"10.9.0.16/28", "10.9.0.16/29", "10.9.0.24/29", true},
		{"10.9.0.17/28", "10.9.0.16/29", "10.9.0.24/29", true}, // masked first
		{"192.168.0.0/16", "192.168.0.0/17", "192.168.128.0/17", true},
		{"10.0.0.1/32", "10.0.0.1/32", "10.0.0.1/32", false},
	} {
		lo, hi, ok := Halves(netip.MustParsePrefix(tc.in))
		if lo.String() != tc.lo || hi.String() != tc.hi || ok != tc.ok {
			t.Errorf("Halves(%s) = %s %s %v, want %s %s %v", tc.in, lo, hi, ok, tc.lo, tc.hi, tc.ok)
		}
	}
}
