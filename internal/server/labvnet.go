package server

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/vpngw/vpngw/internal/lab"
	"github.com/vpngw/vpngw/internal/resource"
)

// vnetResolver looks stored VNets up for `vpngw lab vm create`; it
// implements lab.VNetResolver, the one place where the lab meets the
// resource model.
type vnetResolver struct{ view resource.View }

// ResolveVNet implements lab.VNetResolver.
func (r vnetResolver) ResolveVNet(ctx context.Context, subscription, group, name string) (lab.VNetSpec, error) {
	if subscription == "" {
		subscription = resource.DefaultSubscription
	}
	id := resource.ID{Subscription: subscription, ResourceGroup: group, Type: resource.TypeVirtualNetworks, Name: name}
	obj, err := r.view.Get(ctx, id)
	if err != nil {
		if errors.Is(err, resource.ErrNotFound) {
			return lab.VNetSpec{}, fmt.Errorf("%w: virtual network %s", lab.ErrNotFound, id)
		}
		return lab.VNetSpec{}, err
	}
	v, ok := obj.(*resource.VirtualNetwork)
	if !ok {
		return lab.VNetSpec{}, fmt.Errorf("%w: %s is not a virtual network", lab.ErrNotFound, id)
	}
	return labVNetSpec(v)
}

// labVNetSpec converts a stored virtual network into the spec
// lab.EnsureVNet realizes: its IPv4 address prefixes and, for each subnet,
// its IPv4 prefixes. IPv6 prefixes are left out (the lab realizes IPv4
// only); a subnet with no IPv4 prefix is left out too.
func labVNetSpec(v *resource.VirtualNetwork) (lab.VNetSpec, error) {
	spec := lab.VNetSpec{ID: v.ID}
	for _, s := range v.Properties.AddressSpace.AddressPrefixes {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return lab.VNetSpec{}, fmt.Errorf("%w: VNet %s: address prefix %q: %v", lab.ErrInvalid, v.ID, s, err)
		}
		if p.Addr().Is4() {
			spec.AddressSpace = append(spec.AddressSpace, p)
		}
	}
	for i := range v.Properties.Subnets {
		sn := &v.Properties.Subnets[i]
		ss := lab.SubnetSpec{Name: sn.Name}
		for _, s := range sn.Prefixes() {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return lab.VNetSpec{}, fmt.Errorf("%w: subnet %s: prefix %q: %v", lab.ErrInvalid, sn.Name, s, err)
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

// InUse implements lab.DownGuard: the resource groups holding virtual
// networks, gateways or public IPs, which the reconciler realizes in the lab.
func (r vnetResolver) InUse(ctx context.Context) ([]string, error) {
	seen := map[string]string{}
	for _, typ := range []string{resource.TypeVirtualNetworks, resource.TypeVirtualNetworkGateways, resource.TypePublicIPAddresses} {
		objs, err := r.view.List(ctx, typ)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			id, err := resource.ParseID(o.Meta().ID, "")
			if err != nil {
				continue
			}
			g := "/subscriptions/" + id.Subscription + "/resourceGroups/" + id.ResourceGroup
			seen[strings.ToLower(g)] = g
		}
	}
	out := make([]string, 0, len(seen))
	for _, g := range seen {
		out = append(out, g)
	}
	sort.Strings(out)
	return out, nil
}
