package lab

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vpngw/vpngw/internal/netx"
)

// MaxInstances bounds a gateway's instance index (Azure runs two).
const MaxInstances = 8

// GatewayInstanceSpec describes one instance of a virtual network gateway.
type GatewayInstanceSpec struct {
	// Gateway is the gateway's resource ID (compared case-insensitively).
	Gateway string
	// Instance is the instance's index, 0 to MaxInstances-1.
	Instance int
	// VNet is the resource ID of the VNet (already ensured) whose subnet
	// the instance sits in.
	VNet string
	// Subnet is the subnet's name; empty means GatewaySubnet.
	Subnet string
	// Address is the instance's address in the subnet; invalid (zero)
	// means the host address .4+Instance if free, else the lowest free one.
	Address netip.Addr
}

// GatewayInstance is a realized gateway instance: what an agent running
// inside needs to know about its network.
type GatewayInstance struct {
	// Gateway is the gateway's resource ID.
	Gateway string `json:"gateway"`
	// Instance is the index.
	Instance int `json:"instance"`
	// Namespace is the instance's network namespace.
	Namespace string `json:"namespace"`
	// VNet is the VNet's resource ID; Subnet the subnet's name.
	VNet   string `json:"vnet"`
	Subnet string `json:"subnet"`
	// Address is the instance's address on LANInterface, with the subnet's
	// prefix length (e.g. 10.1.255.4/27): the next hop for VNet routes.
	Address netip.Prefix `json:"address"`
	// Router is the VNet router's address in the subnet; the instance
	// routes the VNet's address space to it.
	Router netip.Addr `json:"router"`
	// PublicIPs are the public IPs on WANInterface (none on a standby
	// instance of an active-standby gateway).
	PublicIPs []netip.Addr `json:"publicIps"`
	// LANInterface faces the VNet, WANInterface the internet (where the
	// instance's default route points).
	LANInterface string `json:"lanInterface"`
	WANInterface string `json:"wanInterface"`
}

// EnsureGatewayInstance creates or repairs a gateway instance: its
// namespace, its leg into the subnet, its leg on the internet (with the
// public IPs it holds) and its routes. Calling it again with the same spec
// changes nothing; a different subnet or address moves the instance.
func (l *Lab) EnsureGatewayInstance(ctx context.Context, spec GatewayInstanceSpec) (GatewayInstance, error) {
	if spec.Gateway == "" {
		return GatewayInstance{}, fmt.Errorf("%w: gateway without an ID", ErrInvalid)
	}
	if spec.Instance < 0 || spec.Instance >= MaxInstances {
		return GatewayInstance{}, fmt.Errorf("%w: instance %d: want 0 to %d", ErrInvalid, spec.Instance, MaxInstances-1)
	}
	if spec.Subnet == "" {
		spec.Subnet = GatewaySubnetName
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.st.VNets[strings.ToLower(spec.VNet)]
	if !ok {
		return GatewayInstance{}, fmt.Errorf("%w: VNet %s (ensure it first)", ErrNotFound, spec.VNet)
	}
	sn, ok := v.Spec.subnet(spec.Subnet)
	if !ok {
		return GatewayInstance{}, fmt.Errorf("%w: subnet %s in VNet %s", ErrNotFound, spec.Subnet, spec.VNet)
	}
	ns := l.names.GatewayInstance(spec.Gateway, spec.Instance)
	g := l.st.Gateways[strings.ToLower(spec.Gateway)]
	var old *GatewayInstance
	if g != nil {
		old = g.Instances[spec.Instance]
	}
	var addr netip.Prefix
	switch {
	case spec.Address.IsValid():
		if !slices.ContainsFunc(sn.Prefixes, func(p netip.Prefix) bool { return p.Contains(spec.Address) }) {
			return GatewayInstance{}, fmt.Errorf("%w: address %s is not in subnet %s", ErrInvalid, spec.Address, sn.Name)
		}
		if l.used(spec.VNet, spec.Address, ns) {
			return GatewayInstance{}, fmt.Errorf("%w: %s in subnet %s", ErrAddressInUse, spec.Address, sn.Name)
		}
		for _, p := range sn.Prefixes {
			if p.Contains(spec.Address) {
				addr = netip.PrefixFrom(spec.Address, p.Bits())
			}
		}
	case old != nil && strings.EqualFold(old.VNet, spec.VNet) && strings.EqualFold(old.Subnet, sn.Name) &&
		slices.ContainsFunc(sn.Prefixes, func(p netip.Prefix) bool { return p == old.Address.Masked() }):
		addr = old.Address // keep what was handed out
	default:
		var preferred netip.Addr
		if a, ok := netx.HostAddr(sn.Prefixes[0], spec.Instance); ok {
			preferred = a
		}
		p, err := l.allocate(spec.VNet, sn, preferred, ns)
		if err != nil {
			return GatewayInstance{}, err
		}
		addr = p
	}
	gi := &GatewayInstance{
		Gateway:      spec.Gateway,
		Instance:     spec.Instance,
		Namespace:    ns,
		VNet:         v.Spec.ID,
		Subnet:       sn.Name,
		Address:      addr,
		Router:       netx.Router(addr.Masked()),
		LANInterface: IfLAN,
		WANInterface: IfWAN,
	}
	if old != nil {
		gi.PublicIPs = old.PublicIPs
		if !strings.EqualFold(old.VNet, gi.VNet) {
			if err := l.detach(old.VNet, ns); err != nil {
				return GatewayInstance{}, err
			}
		}
	}
	if g == nil {
		g = &gatewayState{ID: spec.Gateway, Instances: map[int]*GatewayInstance{}}
		l.st.Gateways[strings.ToLower(spec.Gateway)] = g
	}
	g.Instances[spec.Instance] = gi
	if err := l.save(); err != nil {
		return GatewayInstance{}, err
	}
	if err := l.realizeInstance(ctx, gi); err != nil {
		return GatewayInstance{}, err
	}
	return cloneInstance(gi), nil
}

// SetPublicIPs makes ips the public IPs of one gateway instance (replace
// semantics; nil removes them all). An address another gateway instance
// holds is moved: taken from that instance first, so a failover is one
// call. Addresses held by a site are refused.
func (l *Lab) SetPublicIPs(ctx context.Context, gatewayID string, instance int, ips []netip.Addr) error {
	for _, a := range ips {
		if err := checkPublic(a); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	gi, err := l.instance(gatewayID, instance)
	if err != nil {
		return err
	}
	ips = slices.Clone(ips)
	slices.SortFunc(ips, netip.Addr.Compare)
	ips = slices.Compact(ips)
	for _, s := range l.st.Sites {
		if slices.Contains(ips, s.PublicIP) {
			return fmt.Errorf("%w: %s is the public IP of site %s", ErrAddressInUse, s.PublicIP, s.Name)
		}
	}
	// Take the addresses away from their holders first.
	var losers []*GatewayInstance
	for _, other := range l.instances() {
		if other == gi {
			continue
		}
		keep := slices.DeleteFunc(slices.Clone(other.PublicIPs), func(a netip.Addr) bool { return slices.Contains(ips, a) })
		if len(keep) != len(other.PublicIPs) {
			other.PublicIPs = keep
			losers = append(losers, other)
		}
	}
	gi.PublicIPs = ips
	if err := l.save(); err != nil {
		return err
	}
	for _, o := range losers {
		if !nsPresent(o.Namespace) {
			continue
		}
		c, err := dial(o.Namespace)
		if err != nil {
			return err
		}
		err = l.setWAN(c, o.PublicIPs)
		c.Close()
		if err != nil {
			return err
		}
		l.log.Info("public IPs moved away", "ns", o.Namespace, "publicIPs", o.PublicIPs)
	}
	if !nsPresent(gi.Namespace) {
		return l.realizeInstance(ctx, gi)
	}
	if err := l.realizePublicLeg(ctx, gi.Namespace, gi.PublicIPs); err != nil {
		return err
	}
	l.log.Info("public IPs set", "ns", gi.Namespace, "publicIPs", gi.PublicIPs)
	return nil
}

// GatewayInstances returns the gateway's instances, ordered by index.
func (l *Lab) GatewayInstances(gatewayID string) []GatewayInstance {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.st.Gateways[strings.ToLower(gatewayID)]
	if g == nil {
		return nil
	}
	var out []GatewayInstance
	for _, i := range sortedKeys(g.Instances) {
		out = append(out, cloneInstance(g.Instances[i]))
	}
	return out
}

// DeleteGatewayInstance removes one instance: its processes, namespace and
// public IP routes. Deleting one that is not there succeeds.
func (l *Lab) DeleteGatewayInstance(ctx context.Context, gatewayID string, instance int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	gi, err := l.instance(gatewayID, instance)
	if err != nil {
		return deleteNS(ctx, l.names.GatewayInstance(gatewayID, instance), l.stopTimeout)
	}
	return l.deleteInstance(ctx, gi)
}

// DeleteGateway removes every instance of the gateway.
func (l *Lab) DeleteGateway(ctx context.Context, gatewayID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.st.Gateways[strings.ToLower(gatewayID)]
	if g == nil {
		return nil
	}
	for _, i := range sortedKeys(g.Instances) {
		if err := l.deleteInstance(ctx, g.Instances[i]); err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) instance(gatewayID string, i int) (*GatewayInstance, error) {
	if g := l.st.Gateways[strings.ToLower(gatewayID)]; g != nil {
		if gi := g.Instances[i]; gi != nil {
			return gi, nil
		}
	}
	return nil, fmt.Errorf("%w: instance %d of gateway %s", ErrNotFound, i, gatewayID)
}

func (l *Lab) deleteInstance(ctx context.Context, gi *GatewayInstance) error {
	if err := l.stopProcessesIn(ctx, gi.Namespace); err != nil {
		return err
	}
	if err := l.detach(gi.VNet, gi.Namespace); err != nil {
		return err
	}
	key := strings.ToLower(gi.Gateway)
	g := l.st.Gateways[key]
	delete(g.Instances, gi.Instance)
	if len(g.Instances) == 0 {
		delete(l.st.Gateways, key)
	}
	if err := l.removePublicLeg(gi.Namespace); err != nil {
		return err
	}
	if err := deleteNS(ctx, gi.Namespace, l.stopTimeout); err != nil {
		return err
	}
	l.log.Info("deleted gateway instance", "gateway", gi.Gateway, "instance", gi.Instance, "ns", gi.Namespace)
	if err := l.save(); err != nil {
		return err
	}
	if len(g.Frontends) > 0 {
		return l.syncFrontends(ctx) // its rules toward this instance go
	}
	return nil
}

// realizeInstance makes the instance's namespace, legs and routes.
func (l *Lab) realizeInstance(ctx context.Context, gi *GatewayInstance) error {
	v, ok := l.st.VNets[strings.ToLower(gi.VNet)]
	if !ok {
		return fmt.Errorf("%w: VNet %s of gateway instance %s", ErrNotFound, gi.VNet, gi.Namespace)
	}
	created, err := ensureNS(ctx, gi.Namespace)
	if err != nil {
		return err
	}
	if created {
		l.log.Info("created gateway instance", "gateway", gi.Gateway, "instance", gi.Instance, "ns", gi.Namespace)
	}
	if err := setSysctls(gi.Namespace, routerSysctls()); err != nil {
		return err
	}
	if err := l.realizeVNetFor(ctx, v); err != nil {
		return err
	}
	if err := l.attach(v, attachment{gi.Namespace, IfLAN, gi.Subnet, gi.Address}); err != nil {
		return err
	}
	if err := l.realizePublicLeg(ctx, gi.Namespace, gi.PublicIPs); err != nil {
		return err
	}
	if err := setSysctls(gi.Namespace, ifSysctls(IfLAN, IfWAN)); err != nil {
		return err
	}
	c, err := dial(gi.Namespace)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.setRoutes(l.endpointRoutes(gi.Namespace), false)
}

func cloneInstance(gi *GatewayInstance) GatewayInstance {
	c := *gi
	c.PublicIPs = slices.Clone(gi.PublicIPs)
	return c
}
