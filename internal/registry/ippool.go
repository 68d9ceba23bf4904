package registry

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/vpngw/vpngw/internal/netx"
)

// DefaultPublicIPPool returns the prefixes public IP addresses come from
// unless configured: two TEST-NET ranges (RFC 5737).
func DefaultPublicIPPool() []string { return []string{"198.51.100.0/24", "203.0.113.0/24"} }

// AddressPool is the set of addresses the API assigns to public IP address
// resources: the given prefixes in order, without each IPv4 prefix's network
// and broadcast address (for prefixes shorter than /31) and without each
// IPv6 prefix's subnet-router anycast address (shorter than /127).
// Allocation is deterministic: the lowest free address, in pool order.
type AddressPool struct {
	prefixes []netip.Prefix
}

// ParseAddressPool parses CIDR prefixes (e.g. "198.51.100.0/24"). Host bits
// must be zero and prefixes must not overlap.
func ParseAddressPool(cidrs []string) (*AddressPool, error) {
	if len(cidrs) == 0 {
		return nil, fmt.Errorf("registry: empty public IP pool")
	}
	p := &AddressPool{}
	for _, c := range cidrs {
		pfx, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return nil, fmt.Errorf("registry: public IP pool: %w", err)
		}
		if pfx.Masked() != pfx {
			return nil, fmt.Errorf("registry: public IP pool: %s has host bits set (did you mean %s?)", pfx, pfx.Masked())
		}
		for _, q := range p.prefixes {
			if q.Overlaps(pfx) {
				return nil, fmt.Errorf("registry: public IP pool: %s overlaps %s", pfx, q)
			}
		}
		p.prefixes = append(p.prefixes, pfx)
	}
	return p, nil
}

// Prefixes returns the pool's prefixes.
func (p *AddressPool) Prefixes() []netip.Prefix { return append([]netip.Prefix(nil), p.prefixes...) }

// Allocate returns the lowest address of the family (IPv6 if v6) for which
// used returns false, or false if there is none.
func (p *AddressPool) Allocate(v6 bool, used func(netip.Addr) bool) (netip.Addr, bool) {
	for _, pfx := range p.prefixes {
		if pfx.Addr().Is6() != v6 {
			continue
		}
		first, last := usableRange(pfx)
		if !first.IsValid() {
			continue
		}
		for a := first; ; a = a.Next() {
			if !used(a) {
				return a, true
			}
			if a == last {
				break
			}
		}
	}
	return netip.Addr{}, false
}

// Contains reports whether a is one of the pool's assignable addresses.
func (p *AddressPool) Contains(a netip.Addr) bool {
	for _, pfx := range p.prefixes {
		if !pfx.Contains(a) {
			continue
		}
		first, last := usableRange(pfx)
		return first.IsValid() && a.Compare(first) >= 0 && a.Compare(last) <= 0
	}
	return false
}

// usableRange returns the first and last assignable address of pfx.
func usableRange(pfx netip.Prefix) (first, last netip.Addr) {
	first = pfx.Addr()
	last = netx.LastAddr(pfx)
	bits := pfx.Addr().BitLen()
	if pfx.Bits() < bits-1 {
		first = first.Next() // network (v4) / subnet-router anycast (v6)
		if pfx.Addr().Is4() {
			last = last.Prev() // broadcast
		}
	}
	return first, last
}
