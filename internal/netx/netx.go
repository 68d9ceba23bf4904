// Package netx holds the subnet addressing rules and prefix helpers that the
// control plane (resource, reconcile, registry) and the lab share, so that
// each rule is written once.
//
// Azure's addressing in a subnet: the network address (.0) is not a host;
// .1 is the subnet's router (the default gateway), .2 and .3 are reserved
// for DNS, so the first address handed out is .4 ([FirstHost]); the last
// address (broadcast) is reserved too.
package netx

import (
	"cmp"
	"net/netip"
	"slices"
)

// FirstHost is the offset of the first address Azure hands out in a subnet:
// the four before it (network, router, two for DNS) are reserved.
const FirstHost = 4

// NthAddr returns the address n after p's network address, and whether it
// is inside p.
func NthAddr(p netip.Prefix, n int) (netip.Addr, bool) {
	a := p.Masked().Addr()
	for range n {
		a = a.Next()
		if !a.IsValid() {
			return a, false
		}
	}
	return a, p.Contains(a)
}

// HostAddr returns host i of subnet p, the address FirstHost+i after its
// network address, or false when that is outside p or is p's (IPv4)
// broadcast address.
func HostAddr(p netip.Prefix, i int) (netip.Addr, bool) {
	a, ok := NthAddr(p, FirstHost+i)
	if !ok || (a.Is4() && a == LastAddr(p)) {
		return netip.Addr{}, false
	}
	return a, true
}

// Router is the subnet router's address in p: the address after the
// network address (Azure's default gateway, .1).
func Router(p netip.Prefix) netip.Addr {
	a, _ := NthAddr(p, 1)
	return a
}

// LastAddr is the last address of p (for IPv4, the broadcast address).
func LastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Halves splits p into its lower and upper half (one bit longer each);
// ok is false when p is a single address.
func Halves(p netip.Prefix) (lo, hi netip.Prefix, ok bool) {
	p = p.Masked()
	if p.Bits() >= p.Addr().BitLen() {
		return p, p, false
	}
	lo = netip.PrefixFrom(p.Addr(), p.Bits()+1)
	return lo, netip.PrefixFrom(LastAddr(lo).Next(), p.Bits()+1), true
}

// LastUsable is the last usable host address of an IPv4 prefix: the
// address before broadcast.
func LastUsable(p netip.Prefix) netip.Addr { return LastAddr(p).Prev() }

// ParsePrefixes parses a list of prefixes that were validated before,
// masking each; entries that do not parse are left out.
func ParsePrefixes(list []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// FirstOverlap returns a pair of overlapping prefixes, one from a and one
// from b. It takes O(n log n) time for n = len(a)+len(b).
func FirstOverlap(a, b []netip.Prefix) (netip.Prefix, netip.Prefix, bool) {
	all := append(append(make([]netip.Prefix, 0, len(a)+len(b)), a...), b...)
	ov := Overlaps(all, func(i int) int {
		if i < len(a) {
			return 0
		}
		return 1
	})
	if len(ov) == 0 {
		return netip.Prefix{}, netip.Prefix{}, false
	}
	x, y := all[ov[0].Inner], all[ov[0].Outer]
	if ov[0].Inner >= len(a) {
		x, y = y, x
	}
	return x, y, true
}

// Overlap is one prefix lying inside another: Inner and Outer index the
// list given to Overlaps.
type Overlap struct{ Inner, Outer int }

// Overlaps finds the prefixes of ps that lie inside (or equal) a prefix of
// ps of another group, each reported once, against the innermost such
// prefix, in the order of Inner. group(i) is prefix i's group; prefixes of
// one group are not compared with each other; nil puts each prefix in a
// group of its own. Two CIDR prefixes overlap only when one contains the
// other, so Overlaps finds an overlap whenever there is one. It sorts the
// prefixes and sweeps them with a stack of the enclosing ones (at most 129
// deep): O(n log n) time, where comparing every pair would be O(n²).
func Overlaps(ps []netip.Prefix, group func(i int) int) []Overlap {
	if group == nil {
		group = func(i int) int { return i }
	}
	order := make([]int, len(ps))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		a, b := ps[i].Masked(), ps[j].Masked()
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Bits(), b.Bits())
	})
	var out []Overlap
	var stack []int // enclosing prefixes, outermost first
	for _, i := range order {
		p := ps[i]
		for len(stack) > 0 && !ContainsPrefix(ps[stack[len(stack)-1]], p) {
			stack = stack[:len(stack)-1]
		}
		for k := len(stack) - 1; k >= 0; k-- {
			if group(stack[k]) != group(i) {
				out = append(out, Overlap{Inner: i, Outer: stack[k]})
				break
			}
		}
		stack = append(stack, i)
	}
	slices.SortFunc(out, func(a, b Overlap) int { return cmp.Compare(a.Inner, b.Inner) })
	return out
}

// PrefixSet answers whether a prefix lies inside one of a list of
// prefixes in O(log n) time.
type PrefixSet struct {
	// outer are the prefixes not inside another, sorted by address.
	outer []netip.Prefix
}

// NewPrefixSet returns the set of the addresses of ps.
func NewPrefixSet(ps []netip.Prefix) PrefixSet {
	sorted := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		sorted[i] = p.Masked()
	}
	slices.SortFunc(sorted, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Bits(), b.Bits())
	})
	var s PrefixSet
	for _, p := range sorted {
		if n := len(s.outer); n > 0 && ContainsPrefix(s.outer[n-1], p) {
			continue
		}
		s.outer = append(s.outer, p)
	}
	return s
}

// ContainsPrefix reports whether p lies inside one of the set's prefixes.
func (s PrefixSet) ContainsPrefix(p netip.Prefix) bool {
	p = p.Masked()
	// The last outer prefix starting at or before p is the only candidate:
	// outer prefixes are disjoint.
	i, found := slices.BinarySearchFunc(s.outer, p.Addr(), func(o netip.Prefix, a netip.Addr) int { return o.Addr().Compare(a) })
	if !found {
		i--
	}
	return i >= 0 && ContainsPrefix(s.outer[i], p)
}

// ContainsPrefix reports whether outer contains all of inner.
func ContainsPrefix(outer, inner netip.Prefix) bool {
	return outer.Addr().Is4() == inner.Addr().Is4() && outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// ReservedRange is an address range that cannot be a network's address
// space.
type ReservedRange struct {
	Prefix netip.Prefix
	// What names the range ("multicast").
	What string
}

// reservedRanges are the ranges Azure does not allow in a virtual network's
// address space.
var reservedRanges = [...]ReservedRange{
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("168.63.129.16/32"), "the Azure internal DNS/health address"},
}

// Reserved returns the first range Azure reserves (multicast, broadcast,
// loopback, link-local, its internal DNS address) that p overlaps.
func Reserved(p netip.Prefix) (ReservedRange, bool) {
	for _, r := range reservedRanges {
		if p.Overlaps(r.Prefix) {
			return r, true
		}
	}
	return ReservedRange{}, false
}

// ReservedWithin returns the range Azure reserves that contains all of p:
// p would route only multicast, broadcast, loopback, link-local or Azure's
// internal address. Unlike Reserved, a covering prefix such as 0.0.0.0/0 or
// 192.0.0.0/2 is not reported: an on-premises site may advertise one.
func ReservedWithin(p netip.Prefix) (ReservedRange, bool) {
	for _, r := range reservedRanges {
		if ContainsPrefix(r.Prefix, p) {
			return r, true
		}
	}
	return ReservedRange{}, false
}
