package lab

import (
	"fmt"
	"net/netip"

	"github.com/vpngw/vpngw/internal/netx"
)

// TestNets are the only ranges the lab puts on its internet segment: the
// documentation ranges of RFC 5737 (TEST-NET-1, -2 and -3), which are never
// routed on the real Internet.
var TestNets = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
}

// routerAddr is the internet router's own address, on its loopback: the
// source of its ARP requests and ICMP errors. Link-local, never a public IP.
var routerAddr = netip.MustParsePrefix("169.254.0.1/32")

// linkLocal is refused as a private prefix (the router uses it), and so
// are netx.Reserved's ranges, "this network" and the reserved class E.
var (
	linkLocal   = netip.MustParsePrefix("169.254.0.0/16")
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	classE      = netip.MustParsePrefix("240.0.0.0/4")
)

// IsTestNet reports whether a is an IPv4 address in a TEST-NET range.
func IsTestNet(a netip.Addr) bool {
	for _, p := range TestNets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// checkPublic validates an address for the internet segment.
func checkPublic(a netip.Addr) error {
	if !a.IsValid() {
		return fmt.Errorf("%w: empty public IP address", ErrInvalid)
	}
	if !IsTestNet(a) {
		return fmt.Errorf("%w: public IP %s is outside the TEST-NET ranges 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24; the lab uses only documentation addresses on its internet", ErrInvalid, a)
	}
	return nil
}

// checkPrivate validates a prefix used inside a VNet or a site: IPv4,
// canonical, and disjoint from the internet segment's ranges.
func checkPrivate(what string, p netip.Prefix) error {
	switch {
	case !p.IsValid() || !p.Addr().Is4():
		return fmt.Errorf("%w: %s %s: the lab realizes IPv4 prefixes only", ErrInvalid, what, p)
	case p.Masked() != p:
		return fmt.Errorf("%w: %s %s has host bits set", ErrInvalid, what, p)
	case p.Overlaps(linkLocal):
		return fmt.Errorf("%w: %s %s overlaps 169.254.0.0/16, which the lab's internet router uses", ErrInvalid, what, p)
	case p.Overlaps(thisNetwork):
		return fmt.Errorf("%w: %s %s overlaps 0.0.0.0/8 (\"this network\"), which cannot be used in a network", ErrInvalid, what, p)
	case p.Overlaps(classE):
		return fmt.Errorf("%w: %s %s overlaps 240.0.0.0/4 (reserved), which cannot be used in a network", ErrInvalid, what, p)
	}
	if r, ok := netx.Reserved(p); ok {
		return fmt.Errorf("%w: %s %s overlaps %s (%s), which cannot be used in a network", ErrInvalid, what, p, r.Prefix, r.What)
	}
	for _, t := range TestNets {
		if p.Overlaps(t) {
			return fmt.Errorf("%w: %s %s overlaps the internet segment's TEST-NET range %s", ErrInvalid, what, p, t)
		}
	}
	return nil
}
