package lab

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vpngw/vpngw/internal/netx"
)

// GatewaySubnetName is the subnet gateway instances go into by default; VMs
// may not be placed in it (as in Azure).
const GatewaySubnetName = "GatewaySubnet"

// VNetSpec describes a virtual network to realize.
type VNetSpec struct {
	// ID is the VNet's resource ID (compared case-insensitively); it names
	// the namespace.
	ID string `json:"id"`
	// AddressSpace are the VNet's IPv4 prefixes; gateway instances route
	// them to the VNet router.
	AddressSpace []netip.Prefix `json:"addressSpace"`
	// Subnets are the VNet's subnets.
	Subnets []SubnetSpec `json:"subnets"`
}

// SubnetSpec is one subnet.
type SubnetSpec struct {
	// Name is the subnet's name (compared case-insensitively).
	Name string `json:"name"`
	// Prefixes are the subnet's IPv4 prefixes, each /29 or larger; the
	// VNet router takes the first usable address of each, and addresses
	// are handed out from the first.
	Prefixes []netip.Prefix `json:"prefixes"`
}

// Route is a VNet route to a remote prefix via an address in one of the
// VNet's subnets (a gateway instance's GatewaySubnet address).
type Route struct {
	// Prefix is the destination.
	Prefix netip.Prefix `json:"prefix"`
	// Via is the next hop.
	Via netip.Addr `json:"via"`
}

// subnet returns the named subnet (case-insensitive).
func (s *VNetSpec) subnet(name string) (*SubnetSpec, bool) {
	for i := range s.Subnets {
		if strings.EqualFold(s.Subnets[i].Name, name) {
			return &s.Subnets[i], true
		}
	}
	return nil, false
}

// validate checks a spec: IPv4 private prefixes, subnets of /29 or larger,
// unique names and disjoint prefixes.
func (s *VNetSpec) validate() error {
	if s.ID == "" {
		return fmt.Errorf("%w: VNet without an ID", ErrInvalid)
	}
	for _, p := range s.AddressSpace {
		if err := checkPrivate("VNet address prefix", p); err != nil {
			return err
		}
	}
	var all []netip.Prefix
	names := map[string]bool{}
	for _, sn := range s.Subnets {
		if sn.Name == "" || names[strings.ToLower(sn.Name)] {
			return fmt.Errorf("%w: VNet %s: empty or duplicate subnet name %q", ErrInvalid, s.ID, sn.Name)
		}
		names[strings.ToLower(sn.Name)] = true
		if len(sn.Prefixes) == 0 {
			return fmt.Errorf("%w: VNet %s: subnet %s has no IPv4 prefix", ErrInvalid, s.ID, sn.Name)
		}
		for _, p := range sn.Prefixes {
			if err := checkPrivate("subnet "+sn.Name, p); err != nil {
				return err
			}
			if p.Bits() > 29 {
				return fmt.Errorf("%w: subnet %s: %s is smaller than /29", ErrInvalid, sn.Name, p)
			}
			for _, q := range all {
				if p.Overlaps(q) {
					return fmt.Errorf("%w: VNet %s: subnet prefixes %s and %s overlap", ErrInvalid, s.ID, p, q)
				}
			}
			all = append(all, p)
		}
	}
	return nil
}

// ipv4Only returns the spec without IPv6 prefixes, and without subnets that
// are left with no prefix: the lab realizes IPv4 only.
func (s VNetSpec) ipv4Only() VNetSpec {
	is6 := func(p netip.Prefix) bool { return p.IsValid() && !p.Addr().Is4() }
	out := VNetSpec{ID: s.ID, AddressSpace: slices.DeleteFunc(slices.Clone(s.AddressSpace), is6)}
	for _, sn := range s.Subnets {
		ps := slices.DeleteFunc(slices.Clone(sn.Prefixes), is6)
		if len(ps) > 0 || len(sn.Prefixes) == 0 {
			out.Subnets = append(out.Subnets, SubnetSpec{Name: sn.Name, Prefixes: ps})
		}
	}
	return out
}

// EnsureVNet creates or updates the virtual network: its router namespace,
// a bridge per subnet holding the subnet's .1, and the routes set with
// SetVNetRoutes. IPv6 prefixes are left out (the lab realizes IPv4 only).
// VMs whose subnet disappeared or no longer contains their address are
// deleted. Endpoints already attached are re-attached if the namespace was
// recreated.
func (l *Lab) EnsureVNet(ctx context.Context, spec VNetSpec) error {
	spec = spec.ipv4Only()
	if err := spec.validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	key := strings.ToLower(spec.ID)
	v := l.st.VNets[key]
	if v == nil {
		v = &vnetState{}
		l.st.VNets[key] = v
	}
	v.Spec = spec
	// VMs left without a place.
	var orphans []*VM
	for _, vm := range l.st.VMs {
		if !strings.EqualFold(vm.VNet, spec.ID) {
			continue
		}
		sn, ok := spec.subnet(vm.Subnet)
		if !ok || !slices.ContainsFunc(sn.Prefixes, func(p netip.Prefix) bool { return p.Contains(vm.IPAddress) }) {
			orphans = append(orphans, vm)
		}
	}
	for _, vm := range orphans {
		if err := l.deleteVM(ctx, vm); err != nil {
			return err
		}
		l.log.Info("deleted VM whose subnet is gone", "vm", vm.Name, "group", vm.ResourceGroup)
	}
	if err := l.save(); err != nil {
		return err
	}
	return l.realizeVNet(ctx, v)
}

// SetVNetRoutes replaces the VNet's routes to remote prefixes. Each next hop
// must be inside one of the VNet's subnets; IPv6 routes are left out. An
// empty list removes them all. Used for failover: point the routes at the
// instance that is active.
func (l *Lab) SetVNetRoutes(ctx context.Context, vnetID string, routes []Route) error {
	routes = slices.DeleteFunc(slices.Clone(routes), func(r Route) bool { return r.Prefix.IsValid() && !r.Prefix.Addr().Is4() })
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.st.VNets[strings.ToLower(vnetID)]
	if !ok {
		return fmt.Errorf("%w: VNet %s", ErrNotFound, vnetID)
	}
	for _, r := range routes {
		if !r.Prefix.IsValid() || !r.Prefix.Addr().Is4() || r.Prefix.Masked() != r.Prefix {
			return fmt.Errorf("%w: route prefix %s: want a canonical IPv4 prefix", ErrInvalid, r.Prefix)
		}
		if !slices.ContainsFunc(v.Spec.Subnets, func(s SubnetSpec) bool {
			return slices.ContainsFunc(s.Prefixes, func(p netip.Prefix) bool { return p.Contains(r.Via) })
		}) {
			return fmt.Errorf("%w: route %s via %s: the next hop is in none of the VNet's subnets", ErrInvalid, r.Prefix, r.Via)
		}
	}
	v.Routes = slices.Clone(routes)
	if err := l.save(); err != nil {
		return err
	}
	if !nsPresent(l.names.VNet(v.Spec.ID)) {
		return l.realizeVNet(ctx, v)
	}
	c, err := dial(l.names.VNet(v.Spec.ID))
	if err != nil {
		return err
	}
	defer c.Close()
	return c.setRoutes(vnetRoutes(v), false)
}

// DeleteVNet removes the VNet with every VM and gateway instance in it
// (stopping their processes). Deleting a VNet that is not there succeeds.
func (l *Lab) DeleteVNet(ctx context.Context, vnetID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := strings.ToLower(vnetID)
	v, ok := l.st.VNets[key]
	if !ok {
		return deleteNS(ctx, l.names.VNet(vnetID), l.stopTimeout)
	}
	for _, k := range sortedKeys(l.st.VMs) {
		if vm := l.st.VMs[k]; strings.EqualFold(vm.VNet, vnetID) {
			if err := l.deleteVM(ctx, vm); err != nil {
				return err
			}
		}
	}
	for _, gi := range l.instances() {
		if strings.EqualFold(gi.VNet, vnetID) {
			if err := l.deleteInstance(ctx, gi); err != nil {
				return err
			}
		}
	}
	if err := deleteNS(ctx, l.names.VNet(v.Spec.ID), l.stopTimeout); err != nil {
		return err
	}
	delete(l.st.VNets, key)
	l.log.Info("deleted VNet", "vnet", v.Spec.ID)
	return l.save()
}

// vnetRoutes are the VNet namespace's lab routes.
func vnetRoutes(v *vnetState) []labRoute {
	out := make([]labRoute, len(v.Routes))
	for i, r := range v.Routes {
		out[i] = labRoute{Dst: r.Prefix, Gw: r.Via}
	}
	return out
}

// realizeVNetBase makes the VNet namespace with its bridges and routes.
func (l *Lab) realizeVNetBase(ctx context.Context, v *vnetState) error {
	ns := l.names.VNet(v.Spec.ID)
	created, err := ensureNS(ctx, ns)
	if err != nil {
		return err
	}
	if created {
		l.log.Info("created VNet", "vnet", v.Spec.ID, "ns", ns)
	}
	c, err := dial(ns)
	if err != nil {
		return err
	}
	defer c.Close()
	var ifs []string
	known := map[string]bool{}
	for _, sn := range v.Spec.Subnets {
		name := bridgeName(sn.Name)
		known[name] = true
		ifs = append(ifs, name)
		if _, err := c.ensureBridge(name, macFor(v.Spec.ID+"/"+sn.Name)); err != nil {
			return err
		}
		var addrs []netip.Prefix
		for _, p := range sn.Prefixes {
			addrs = append(addrs, netip.PrefixFrom(netx.Router(p), p.Bits()))
		}
		if err := c.setAddrs(name, addrs); err != nil {
			return err
		}
	}
	links, err := c.links()
	if err != nil {
		return err
	}
	for _, lk := range links {
		if name := lk.Attrs().Name; strings.HasPrefix(name, "b-") && !known[name] {
			if err := c.delLink(name); err != nil {
				return err
			}
			l.log.Info("removed subnet bridge", "vnet", v.Spec.ID, "if", name)
		}
	}
	if err := setSysctls(ns, append(routerSysctls(), ifSysctls(ifs...)...)); err != nil {
		return err
	}
	return c.setRoutes(vnetRoutes(v), false)
}

// realizeVNet is the base plus the attachments of every endpoint in the
// VNet whose namespace exists; it removes attachments of unknown endpoints.
func (l *Lab) realizeVNet(ctx context.Context, v *vnetState) error {
	if err := l.realizeVNetBase(ctx, v); err != nil {
		return err
	}
	known := map[string]bool{}
	for _, a := range l.attachments(v.Spec.ID) {
		known[routerIf('v', a.ns)] = true
		if !nsPresent(a.ns) {
			continue
		}
		if err := l.attach(v, a); err != nil {
			return err
		}
	}
	c, err := dial(l.names.VNet(v.Spec.ID))
	if err != nil {
		return err
	}
	defer c.Close()
	links, err := c.links()
	if err != nil {
		return err
	}
	for _, lk := range links {
		if name := lk.Attrs().Name; strings.HasPrefix(name, "v-") && !known[name] {
			if err := c.delLink(name); err != nil {
				return err
			}
			l.log.Info("removed stale VNet attachment", "vnet", v.Spec.ID, "if", name)
		}
	}
	return nil
}

// realizeVNetFor prepares the VNet for one endpoint's attachment: the base,
// or everything when the VNet namespace has to be (re)created, so that the
// other endpoints get their attachments back.
func (l *Lab) realizeVNetFor(ctx context.Context, v *vnetState) error {
	if !nsPresent(l.names.VNet(v.Spec.ID)) {
		return l.realizeVNet(ctx, v)
	}
	return l.realizeVNetBase(ctx, v)
}

// attachment is an endpoint's place in a VNet subnet.
type attachment struct {
	// ns is the endpoint's namespace, ifname its interface there.
	ns, ifname string
	// subnet is the subnet's name; addr the endpoint's address with the
	// subnet's length.
	subnet string
	addr   netip.Prefix
}

// attachments lists the endpoints (gateway instances, VMs) in a VNet.
func (l *Lab) attachments(vnetID string) []attachment {
	var out []attachment
	for _, gi := range l.instances() {
		if strings.EqualFold(gi.VNet, vnetID) {
			out = append(out, attachment{gi.Namespace, IfLAN, gi.Subnet, gi.Address})
		}
	}
	for _, k := range sortedKeys(l.st.VMs) {
		if vm := l.st.VMs[k]; strings.EqualFold(vm.VNet, vnetID) {
			out = append(out, attachment{vm.Namespace, IfVM, vm.Subnet, netip.PrefixFrom(vm.IPAddress, vm.AddressPrefix.Bits())})
		}
	}
	return out
}

// attach connects an existing endpoint namespace to its subnet's bridge and
// gives its interface the address.
func (l *Lab) attach(v *vnetState, a attachment) error {
	sn, ok := v.Spec.subnet(a.subnet)
	if !ok {
		return fmt.Errorf("%w: subnet %s of VNet %s (for %s)", ErrNotFound, a.subnet, v.Spec.ID, a.ns)
	}
	vc, err := dial(l.names.VNet(v.Spec.ID))
	if err != nil {
		return err
	}
	defer vc.Close()
	ep, err := dial(a.ns)
	if err != nil {
		return err
	}
	defer ep.Close()
	port := routerIf('v', a.ns)
	if err := ensureVeth(ep, a.ifname, vc, port); err != nil {
		return err
	}
	br, err := vc.link(bridgeName(sn.Name))
	if err != nil {
		return err
	}
	if br == nil {
		return fmt.Errorf("lab: bridge of subnet %s missing in %s", sn.Name, vc.name)
	}
	if err := vc.setMaster(port, br); err != nil {
		return err
	}
	if err := ep.setAddrs(a.ifname, []netip.Prefix{a.addr}); err != nil {
		return err
	}
	// A recreated interface took its routes with it.
	return ep.setRoutes(l.endpointRoutes(a.ns), true)
}

// detach removes an endpoint's port from its VNet (the veth pair goes with
// it).
func (l *Lab) detach(vnetID, ns string) error {
	vns := l.names.VNet(vnetID)
	if !nsPresent(vns) {
		return nil
	}
	c, err := dial(vns)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.delLink(routerIf('v', ns))
}

// used reports whether an address in the VNet is taken by a VM or gateway
// instance (other than the namespace except).
func (l *Lab) used(vnetID string, a netip.Addr, except string) bool {
	for _, at := range l.attachments(vnetID) {
		if at.ns != except && at.addr.Addr() == a {
			return true
		}
	}
	return false
}

// allocate returns a free host address in the subnet, trying preferred
// first (if valid), then the lowest free one from .4.
func (l *Lab) allocate(vnetID string, sn *SubnetSpec, preferred netip.Addr, except string) (netip.Prefix, error) {
	if preferred.IsValid() && !l.used(vnetID, preferred, except) {
		for _, p := range sn.Prefixes {
			if p.Contains(preferred) {
				return netip.PrefixFrom(preferred, p.Bits()), nil
			}
		}
	}
	for _, p := range sn.Prefixes {
		for i := 0; ; i++ {
			a, ok := netx.HostAddr(p, i)
			if !ok {
				break
			}
			if !l.used(vnetID, a, except) {
				return netip.PrefixFrom(a, p.Bits()), nil
			}
		}
	}
	return netip.Prefix{}, fmt.Errorf("%w: no free address in subnet %s", ErrExhausted, sn.Name)
}
