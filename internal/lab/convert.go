package lab

import (
	"fmt"
	"net/netip"

	"github.com/vpngw/vpngw/internal/resource"
)

// SpecFromVirtualNetwork converts a stored virtual network into the spec
// EnsureVNet realizes: its IPv4 address prefixes and, for each subnet, its
// IPv4 prefixes. IPv6 prefixes are left out (the lab realizes IPv4 only);
// a subnet with no IPv4 prefix is left out too.
func SpecFromVirtualNetwork(v *resource.VirtualNetwork) (VNetSpec, error) {
	spec := VNetSpec{ID: v.ID}
	for _, s := range v.Properties.AddressSpace.AddressPrefixes {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return VNetSpec{}, fmt.Errorf("%w: VNet %s: address prefix %q: %v", ErrInvalid, v.ID, s, err)
		}
		if p.Addr().Is4() {
			spec.AddressSpace = append(spec.AddressSpace, p)
		}
	}
	for i := range v.Properties.Subnets {
		sn := &v.Properties.Subnets[i]
		ss := SubnetSpec{Name: sn.Name}
		for _, s := range sn.Prefixes() {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return VNetSpec{}, fmt.Errorf("%w: subnet %s: prefix %q: %v", ErrInvalid, sn.Name, s, err)
			}
			if p.Addr().Is4() {
				ss.Prefixes = append(ss.Prefixes, p)
			}
		}
		if len(ss.Prefixes) > 0 {
			spec.Subnets = append(spec.Subnets, ss)
		}
	}
	return spec, nil
}
