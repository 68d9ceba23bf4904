package resource

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/vpngw/vpngw/internal/netx"
)

// Resolve applies the rules that need other resources, reading them from v:
// referenced resources exist; a gateway sits in a subnet named exactly
// GatewaySubnet of sufficient size, in the same location as its VNet and
// public IPs; one Vpn and one ExpressRoute gateway per VNet; public IPs
// serve one ipConfiguration; address spaces of connected sites do not
// overlap; SKU connection limits; BGP ASNs; immutable fields and resize
// rules against old (nil on create); and changes that would break existing
// connections (an LNG's or a VNet's prefixes, a gateway's BGP settings).
//
// It also sets relational defaults and computed read-only fields on obj:
// the connection protocol (IKEv1 on a PolicyBased gateway, else IKEv2), a
// gateway's private IP addresses and BGP peering addresses.
//
// obj's ID (Meta().ID) should be set, so that Resolve can tell obj from
// the stored copy of itself. Rule violations are *Error (the first, with
// the others as Details); failures of v are returned wrapped.
func Resolve(ctx context.Context, v View, obj, old Object) error {
	if old != nil && TypeOf(old) != TypeOf(obj) {
		return fmt.Errorf("resource: Resolve: old is a %T, obj a %T", old, obj)
	}
	r := &resolver{ctx: ctx, v: v}
	if old != nil && TypeOf(obj) != TypeSubnets && old.Meta().Location != "" &&
		canonicalLocation(old.Meta().Location) != obj.Meta().Location {
		r.l.addf(CodeInvalidLocation, "location",
			"The resource already exists in location %q; a resource's location cannot change (got %q). Delete and re-create it to move it.",
			old.Meta().Location, obj.Meta().Location)
	}
	if id, ok := selfID(obj); ok && id.Type != "" {
		exists, err := v.GroupExists(ctx, id.Subscription, id.ResourceGroup)
		if err != nil {
			return fmt.Errorf("resource: resolve %s: %w", id, err)
		}
		if !exists {
			return NotFound(id.GroupID())
		}
	}
	switch o := obj.(type) {
	case *ResourceGroup:
	case *VirtualNetwork:
		oldV, _ := old.(*VirtualNetwork)
		r.virtualNetwork(o, oldV)
	case *Subnet:
		oldS, _ := old.(*Subnet)
		r.subnet(o, oldS)
	case *PublicIPAddress:
		oldP, _ := old.(*PublicIPAddress)
		r.publicIP(o, oldP)
	case *VirtualNetworkGateway:
		oldG, _ := old.(*VirtualNetworkGateway)
		r.gateway(o, oldG)
	case *LocalNetworkGateway:
		oldL, _ := old.(*LocalNetworkGateway)
		r.localNetworkGateway(o, oldL)
	case *Connection:
		oldC, _ := old.(*Connection)
		r.connection(o, oldC)
	default:
		return fmt.Errorf("resource: Resolve: unsupported type %T", obj)
	}
	if r.fatal != nil {
		return r.fatal
	}
	return r.l.err()
}

// resolver carries the view, the violations found so far and the first
// failure of the view (which stops everything).
type resolver struct {
	ctx   context.Context
	v     View
	l     errList
	fatal error
}

// selfID returns obj's parsed ID, if set.
func selfID(obj Object) (ID, bool) {
	if obj.Meta().ID == "" {
		return ID{}, false
	}
	id, err := ParseID(obj.Meta().ID, "id")
	return id, err == nil
}

// keyOf is obj's store key, or "" when its ID is not set.
func keyOf(obj Object) string {
	if id, ok := selfID(obj); ok {
		return id.Key()
	}
	return ""
}

// nameOf is a label for obj in messages.
func nameOf(obj Object) string {
	if n := obj.Meta().Name; n != "" {
		return n
	}
	return obj.Meta().ID
}

// get fetches a top-level resource; a missing one is a violation reported
// at target.
func (r *resolver) get(id ID, target, what string) Object {
	if r.fatal != nil {
		return nil
	}
	o, err := r.v.Get(r.ctx, id.Parent())
	if errors.Is(err, ErrNotFound) {
		r.l.addf(CodeReferencedNotFound, target, "The referenced %s %s does not exist.", what, id.Parent())
		return nil
	}
	if err != nil {
		r.fatal = fmt.Errorf("resource: get %s: %w", id.Parent(), err)
		return nil
	}
	return o
}

func (r *resolver) list(typ string) []Object {
	if r.fatal != nil {
		return nil
	}
	objs, err := r.v.List(r.ctx, typ)
	if err != nil {
		r.fatal = fmt.Errorf("resource: list %s: %w", typ, err)
		return nil
	}
	return objs
}

func (r *resolver) getVNet(id ID, target string) *VirtualNetwork {
	o, _ := r.get(id, target, "virtual network").(*VirtualNetwork)
	return o
}

func (r *resolver) getGateway(ref *SubResource, target string) *VirtualNetworkGateway {
	id, err := ParseID(refID(ref), target)
	if err != nil {
		return nil // Validate reported it
	}
	o, _ := r.get(id, target, "virtual network gateway").(*VirtualNetworkGateway)
	return o
}

func (r *resolver) getLNG(ref *SubResource, target string) *LocalNetworkGateway {
	id, err := ParseID(refID(ref), target)
	if err != nil {
		return nil
	}
	o, _ := r.get(id, target, "local network gateway").(*LocalNetworkGateway)
	return o
}

func (r *resolver) getPublicIP(ref *SubResource, target string) *PublicIPAddress {
	id, err := ParseID(refID(ref), target)
	if err != nil {
		return nil
	}
	o, _ := r.get(id, target, "public IP address").(*PublicIPAddress)
	return o
}

func (r *resolver) gateways() []*VirtualNetworkGateway {
	var out []*VirtualNetworkGateway
	for _, o := range r.list(TypeVirtualNetworkGateways) {
		if g, ok := o.(*VirtualNetworkGateway); ok {
			out = append(out, g)
		}
	}
	return out
}

func (r *resolver) connections() []*Connection {
	var out []*Connection
	for _, o := range r.list(TypeConnections) {
		if c, ok := o.(*Connection); ok {
			out = append(out, c)
		}
	}
	return out
}

// gatewaySubnetID is the parsed subnet ID of a gateway's first
// ipConfiguration with a valid one.
func gatewaySubnetID(g *VirtualNetworkGateway) (ID, bool) {
	for _, c := range g.Properties.IPConfigurations {
		if c.Properties.Subnet == nil {
			continue
		}
		if id, err := ParseID(c.Properties.Subnet.ID, ""); err == nil && id.Child == TypeSubnets {
			return id, true
		}
	}
	return ID{}, false
}

// gatewayVNetKey is the store key of the VNet a gateway is in, or "".
func gatewayVNetKey(g *VirtualNetworkGateway) string {
	if id, ok := gatewaySubnetID(g); ok {
		return id.Parent().Key()
	}
	return ""
}

// lookup fetches a stored resource that should exist (a reference of a
// stored resource, resolved when it was written): nil when it is missing;
// a store failure is recorded as fatal.
func (r *resolver) lookup(id ID) Object {
	if r.fatal != nil {
		return nil
	}
	o, err := r.v.Get(r.ctx, id)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			r.fatal = fmt.Errorf("resource: get %s: %w", id, err)
		}
		return nil
	}
	return o
}

// gatewayVNet fetches the VNet of a stored gateway (nil when unresolvable;
// stored gateways were resolved when written).
func (r *resolver) gatewayVNet(g *VirtualNetworkGateway) *VirtualNetwork {
	id, ok := gatewaySubnetID(g)
	if !ok {
		return nil
	}
	v, _ := r.lookup(id.Parent()).(*VirtualNetwork)
	return v
}

// ipConfigID is the ID of a gateway's ipConfiguration.
func ipConfigID(g *VirtualNetworkGateway, name string) string {
	id, ok := selfID(g)
	if !ok {
		return ""
	}
	id.Child, id.ChildName = TypeIPConfigurations, name
	return id.String()
}

// immutable reports a change of an immutable property.
func (r *resolver) immutable(target, oldV, newV string) {
	if oldV != newV {
		r.l.addf(CodeImmutableProperty, target, "Property '%s' cannot be changed after creation (from %q to %q); delete and re-create the resource instead.", target, oldV, newV)
	}
}

// overlay is a View in which obj replaces its stored version: the state a
// change would produce, for re-checking the resources that depend on it.
type overlay struct {
	View
	obj Object
	key string
	typ string
}

func newOverlay(v View, obj Object) overlay {
	return overlay{View: v, obj: obj, key: keyOf(obj), typ: TypeOf(obj)}
}

func (o overlay) Get(ctx context.Context, id ID) (Object, error) {
	if o.key != "" && id.Key() == o.key {
		return o.obj, nil
	}
	return o.View.Get(ctx, id)
}

func (o overlay) List(ctx context.Context, typ string) ([]Object, error) {
	list, err := o.View.List(ctx, typ)
	if err != nil || typ != o.typ {
		return list, err
	}
	out := make([]Object, 0, len(list)+1)
	for _, x := range list {
		if o.key == "" || keyOf(x) != o.key {
			out = append(out, x)
		}
	}
	return append(out, o.obj), nil
}

// recheck re-runs the relational rules of connections under the change
// obj, reporting violations at the changed field chosen by target(code).
func (r *resolver) recheck(conns []*Connection, obj Object, target func(code string) string) {
	for _, c := range conns {
		if r.fatal != nil {
			return
		}
		sub := &resolver{ctx: r.ctx, v: newOverlay(r.v, obj)}
		sub.connectionRelations(c, false, false)
		if sub.fatal != nil {
			r.fatal = sub.fatal
			return
		}
		for _, e := range sub.l.errs {
			r.l.add(&Error{Code: e.Code, Target: target(e.Code),
				Message: fmt.Sprintf("This change would break connection %s: %s", c.Meta().ID, e.Message)})
		}
	}
}

// ---- virtual networks and subnets ----

func (r *resolver) virtualNetwork(v, old *VirtualNetwork) {
	selfKey := keyOf(v)
	if selfKey == "" {
		return // a new VNet: nothing refers to it yet
	}
	uses := r.subnetUses(selfKey)
	if old != nil {
		for _, os := range old.Properties.Subnets {
			users := uses[strings.ToLower(os.Name)]
			if len(users) == 0 {
				continue
			}
			ns, ok := v.Subnet(os.Name)
			if !ok {
				r.l.add(Errorf(CodeInUse, "properties.subnets",
					"Subnet %s is in use by %s and cannot be deleted; delete the gateway first.", os.Name, strings.Join(users, ", ")).WithStatus(http.StatusConflict))
				continue
			}
			if !slices.Equal(normPrefixes(os.Prefixes()), normPrefixes(ns.Prefixes())) {
				i := slices.IndexFunc(v.Properties.Subnets, func(s Subnet) bool { return strings.EqualFold(s.Name, os.Name) })
				r.l.addf(CodeInUseCannotUpdate, fmt.Sprintf("properties.subnets[%d].properties.addressPrefix", i),
					"Subnet %s is in use by %s; its address prefix cannot change (%s -> %s). Delete the gateway first.",
					os.Name, strings.Join(users, ", "), strings.Join(os.Prefixes(), ","), strings.Join(ns.Prefixes(), ","))
			}
		}
	}
	// Gateways in this VNet: the prefix limit, their P2S pools and their
	// connections must still hold with the new address space.
	space := netx.ParsePrefixes(v.Properties.AddressSpace.AddressPrefixes)
	const t = "properties.addressSpace.addressPrefixes"
	var gws []*VirtualNetworkGateway
	for _, g := range r.gateways() {
		if gatewayVNetKey(g) != selfKey {
			continue
		}
		gws = append(gws, g)
		if g.Properties.GatewayType == GatewayTypeVpn && len(space) > MaxVnetPrefixesPerVpnGw {
			r.l.addf(CodeLimitExceeded, t, "A virtual network with a VPN gateway can have at most %d address prefixes; got %d.", MaxVnetPrefixesPerVpnGw, len(space))
		}
		if c := g.Properties.VpnClientConfiguration; c != nil && c.VpnClientAddressPool != nil {
			if a, b, ok := netx.FirstOverlap(space, netx.ParsePrefixes(c.VpnClientAddressPool.AddressPrefixes)); ok {
				r.l.addf(CodeAddressOverlap, t, "Address prefix %s overlaps the point-to-site client pool %s of gateway %s.", a, b, g.Meta().ID)
			}
		}
	}
	if old == nil || slices.Equal(normPrefixes(old.Properties.AddressSpace.AddressPrefixes), normPrefixes(v.Properties.AddressSpace.AddressPrefixes)) {
		return
	}
	var conns []*Connection
	for _, c := range r.connections() {
		for _, g := range gws {
			if sameID(refID(c.Properties.VirtualNetworkGateway1), g.Meta().ID) || sameID(refID(c.Properties.VirtualNetworkGateway2), g.Meta().ID) {
				conns = append(conns, c)
				break
			}
		}
	}
	r.recheck(conns, v, func(string) string { return t })
}

func normPrefixes(list []string) []string {
	out := make([]string, 0, len(list))
	for _, p := range netx.ParsePrefixes(list) {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}

// subnetUses maps lower-case subnet names of a VNet to the IDs of the
// gateway ipConfigurations that use them.
func (r *resolver) subnetUses(vnetKey string) map[string][]string {
	uses := map[string][]string{}
	for _, g := range r.gateways() {
		for _, c := range g.Properties.IPConfigurations {
			if c.Properties.Subnet == nil {
				continue
			}
			id, err := ParseID(c.Properties.Subnet.ID, "")
			if err != nil || id.Child != TypeSubnets || id.Parent().Key() != vnetKey {
				continue
			}
			k := strings.ToLower(id.ChildName)
			uses[k] = append(uses[k], ipConfigID(g, c.Name))
		}
	}
	return uses
}

// subnet resolves a subnet PUT as the change of its VNet it is.
func (r *resolver) subnet(s, _ *Subnet) {
	id, ok := selfID(s)
	if !ok || id.Child != TypeSubnets {
		r.fatal = fmt.Errorf("resource: Resolve: a subnet needs its ID (.../virtualNetworks/{v}/subnets/{s}), got %q", s.ID)
		return
	}
	vnet := r.getVNet(id.Parent(), "id")
	if vnet == nil {
		return
	}
	next := Clone(vnet).(*VirtualNetwork)
	next.PutSubnet(*s)
	i := slices.IndexFunc(next.Properties.Subnets, func(x Subnet) bool { return strings.EqualFold(x.Name, s.Name) })
	prefix := fmt.Sprintf("properties.subnets[%d].", i)
	sub := &resolver{ctx: r.ctx, v: r.v}
	sub.l.addAll(Validate(next))
	sub.virtualNetwork(next, vnet)
	if sub.fatal != nil {
		r.fatal = sub.fatal
		return
	}
	for _, e := range sub.l.errs {
		e.Target = strings.TrimPrefix(e.Target, prefix)
		r.l.add(e)
	}
}

// ---- public IP addresses ----

func (r *resolver) publicIP(p, old *PublicIPAddress) {
	if old == nil {
		return
	}
	user := r.publicIPUser(keyOf(p), "")
	if user == "" {
		return
	}
	change := func(target, what, o, n string) {
		if o != n {
			r.l.addf(CodeInUseCannotUpdate, target, "Public IP address %s is in use by %s; its %s cannot change (%s -> %s).", nameOf(p), user, what, o, n)
		}
	}
	change("sku.name", "SKU", old.SKU.Name, p.SKU.Name)
	change("sku.tier", "SKU tier", old.SKU.Tier, p.SKU.Tier)
	change("properties.publicIPAllocationMethod", "allocation method", old.Properties.PublicIPAllocationMethod, p.Properties.PublicIPAllocationMethod)
	change("properties.publicIPAddressVersion", "IP version", old.Properties.PublicIPAddressVersion, p.Properties.PublicIPAddressVersion)
}

// publicIPUser returns the ID of the gateway ipConfiguration that uses the
// public IP with key pipKey, ignoring gateway exceptKey.
func (r *resolver) publicIPUser(pipKey, exceptKey string) string {
	if pipKey == "" {
		return ""
	}
	for _, g := range r.gateways() {
		if exceptKey != "" && keyOf(g) == exceptKey {
			continue
		}
		for _, c := range g.Properties.IPConfigurations {
			if c.Properties.PublicIPAddress == nil {
				continue
			}
			if id, err := ParseID(c.Properties.PublicIPAddress.ID, ""); err == nil && id.Key() == pipKey {
				return ipConfigID(g, c.Name)
			}
		}
	}
	return ""
}

// ---- virtual network gateways ----

func (r *resolver) gateway(g, old *VirtualNetworkGateway) {
	pr := &g.Properties
	selfKey := keyOf(g)
	sku, skuOK := LookupSKU(pr.SKU.Name)
	isVpn := pr.GatewayType == GatewayTypeVpn
	resized := false
	if old != nil {
		op := &old.Properties
		resized = !strings.EqualFold(op.SKU.Name, pr.SKU.Name)
		r.immutable("properties.gatewayType", op.GatewayType, pr.GatewayType)
		r.immutable("properties.vpnType", op.VpnType, pr.VpnType)
		r.immutable("properties.vpnGatewayGeneration", op.VpnGatewayGeneration, pr.VpnGatewayGeneration)
		if from, ok := LookupSKU(op.SKU.Name); ok && skuOK && resized && op.GatewayType == pr.GatewayType {
			if e, ok := AsError(CheckResize(from, sku, pr.VpnGatewayGeneration)); ok {
				r.l.add(e)
			}
		}
		if o, n := gatewayVNetKey(old), gatewayVNetKey(g); o != "" && n != "" && o != n {
			r.l.addf(CodeImmutableProperty, "properties.ipConfigurations[0].properties.subnet.id",
				"A gateway cannot move to another virtual network; delete and re-create it.")
		}
		for i, c := range pr.IPConfigurations {
			for _, oc := range op.IPConfigurations {
				if strings.EqualFold(oc.Name, c.Name) && !sameID(refID(oc.Properties.PublicIPAddress), refID(c.Properties.PublicIPAddress)) {
					r.l.addf(CodeImmutableProperty, fmt.Sprintf("properties.ipConfigurations[%d].properties.publicIPAddress.id", i),
						"The public IP address of ipConfiguration %q cannot be swapped in place; delete and re-create the gateway to use another address.", c.Name)
				}
			}
		}
	}

	// The SKU must exist in the generation (on resize CheckResize said so).
	if gen := pr.VpnGatewayGeneration; isVpn && skuOK && !resized && oneOf(gen, Generation1, Generation2) && !sku.SupportsGeneration(gen) {
		r.l.addf(CodeInvalidGatewaySku, "properties.vpnGatewayGeneration",
			"SKU %s is not offered in %s; it exists in %s (there is no Generation2 VpnGw1, VpnGw4 and VpnGw5 are Generation2 only, Basic is Generation1).",
			sku.Name, gen, strings.Join(sku.Generations, ", "))
	}

	// The GatewaySubnet and its VNet.
	var gwPrefix netip.Prefix
	var vnet *VirtualNetwork
	sid, haveSubnet := gatewaySubnetID(g)
	if haveSubnet {
		st := "properties.ipConfigurations[0].properties.subnet.id"
		vnet = r.getVNet(sid.Parent(), st)
		if vnet != nil {
			s, ok := vnet.Subnet(sid.ChildName)
			switch {
			case !ok:
				r.l.addf(CodeReferencedNotFound, st,
					"Virtual network %s has no subnet named %s; add a subnet named exactly GatewaySubnet (/27 or larger recommended).", nameOf(vnet), sid.ChildName)
			case s.Name != GatewaySubnetName:
				r.l.addf(CodeGatewaySubnet, st,
					"The gateway's subnet is named %q; a gateway must be deployed in the subnet named exactly GatewaySubnet (case-sensitive).", s.Name)
			default:
				p, ok := ipv4Prefix(netx.ParsePrefixes(s.Prefixes()))
				if !ok {
					r.l.addf(CodeGatewaySubnet, st, "GatewaySubnet of %s has no IPv4 prefix; a gateway needs one.", nameOf(vnet))
				} else if p.Bits() > MinGatewaySubnetBits {
					r.l.addf(CodeGatewaySubnet, st, "GatewaySubnet %s is too small: it must be /%d or larger (/27 or larger recommended).", p, MinGatewaySubnetBits)
				} else {
					gwPrefix = p
				}
			}
			if vnet.Location != g.Location {
				r.l.addf(CodeLocationMismatch, "location",
					"The gateway is in %q but its virtual network %s is in %q; a gateway must be in its virtual network's location.", g.Location, nameOf(vnet), vnet.Location)
			}
			if isVpn && len(vnet.Properties.AddressSpace.AddressPrefixes) > MaxVnetPrefixesPerVpnGw {
				r.l.addf(CodeLimitExceeded, st, "A VPN gateway supports a virtual network with at most %d address prefixes; %s has %d.",
					MaxVnetPrefixesPerVpnGw, nameOf(vnet), len(vnet.Properties.AddressSpace.AddressPrefixes))
			}
			// One Vpn and one ExpressRoute gateway per VNet; /27 when both.
			for _, o := range r.gateways() {
				if keyOf(o) == selfKey && selfKey != "" || gatewayVNetKey(o) != sid.Parent().Key() {
					continue
				}
				if o.Properties.GatewayType == pr.GatewayType {
					r.l.addf(CodeGatewayPerVnetLimit, st,
						"Virtual network %s already has a %s gateway (%s); a virtual network can have one Vpn gateway and one ExpressRoute gateway.",
						nameOf(vnet), pr.GatewayType, o.Meta().ID)
				} else if gwPrefix.IsValid() && gwPrefix.Bits() > CoexistGatewaySubnetBit {
					r.l.addf(CodeGatewaySubnet, st,
						"GatewaySubnet %s is too small for a Vpn and an ExpressRoute gateway together (%s exists): it must be /%d or larger.",
						gwPrefix, o.Meta().ID, CoexistGatewaySubnetBit)
				}
			}
		}
	}

	// Public IP addresses.
	pips := make([]*PublicIPAddress, len(pr.IPConfigurations))
	for i, c := range pr.IPConfigurations {
		if c.Properties.PublicIPAddress == nil || c.Properties.PublicIPAddress.ID == "" {
			continue
		}
		t := fmt.Sprintf("properties.ipConfigurations[%d].properties.publicIPAddress.id", i)
		pip := r.getPublicIP(c.Properties.PublicIPAddress, t)
		if pip == nil {
			continue
		}
		pips[i] = pip
		if pip.Location != g.Location {
			r.l.addf(CodeLocationMismatch, t, "Public IP address %s is in %q but the gateway is in %q; they must be in the same location.", nameOf(pip), pip.Location, g.Location)
		}
		if pip.Properties.PublicIPAddressVersion != IPv4 {
			r.l.addf(CodeInvalidPublicIPAddress, t, "Public IP address %s is %s; a gateway needs an IPv4 public IP address.", nameOf(pip), pip.Properties.PublicIPAddressVersion)
		}
		if pip.SKU.Tier == PublicIPTierGlobal {
			r.l.addf(CodeInvalidPublicIPAddress, t, "Public IP address %s has the Global tier; a gateway needs a Regional public IP address.", nameOf(pip))
		}
		if isVpn && skuOK && sku.Series != SeriesBasic {
			if pip.SKU.Name != PublicIPSkuStandard {
				r.l.addf(CodePublicIPBasicSku, t,
					"Public IP address %s has the Basic SKU; a %s gateway needs a Standard SKU public IP address with Static allocation (only the Basic gateway SKU takes a Basic public IP).",
					nameOf(pip), sku.Name)
			} else if pip.Properties.PublicIPAllocationMethod != AllocationStatic {
				r.l.addf(CodeInvalidPublicIPAddress, t, "Public IP address %s must use Static allocation for a %s gateway.", nameOf(pip), sku.Name)
			}
		}
		if user := r.publicIPUser(keyOf(pip), selfKey); user != "" {
			r.l.addf(CodeInvalidPublicIPAddress, t, "Public IP address %s is already used by %s; a public IP address can serve one gateway ipConfiguration.", nameOf(pip), user)
		}
	}

	if s := pr.GatewayDefaultSite; s != nil && s.ID != "" {
		r.getLNG(s, "properties.gatewayDefaultSite.id")
	}

	// Connections of this gateway: P2S pool overlaps, resize limits.
	var mine, involved []*Connection
	if selfKey != "" {
		for _, c := range r.connections() {
			g1 := sameID(refID(c.Properties.VirtualNetworkGateway1), g.ID)
			if g1 {
				mine = append(mine, c)
			}
			if g1 || sameID(refID(c.Properties.VirtualNetworkGateway2), g.ID) {
				involved = append(involved, c)
			}
		}
	}
	if cfg := pr.VpnClientConfiguration; vpnClientConfigured(g) && cfg.VpnClientAddressPool != nil {
		pool := netx.ParsePrefixes(cfg.VpnClientAddressPool.AddressPrefixes)
		const pt = "properties.vpnClientConfiguration.vpnClientAddressPool.addressPrefixes"
		if vnet != nil {
			if a, b, ok := netx.FirstOverlap(pool, netx.ParsePrefixes(vnet.Properties.AddressSpace.AddressPrefixes)); ok {
				r.l.addf(CodeAddressOverlap, pt, "Client address pool %s overlaps the virtual network's address space (%s); the pool must not overlap the VNet or connected sites.", a, b)
			}
		}
		for _, s := range r.sitesOf(g.ID, "", "") {
			if a, b, ok := netx.FirstOverlap(pool, s.prefixes); ok {
				r.l.addf(CodeAddressOverlap, pt, "Client address pool %s overlaps %s of %s; the pool must not overlap the VNet or connected sites.", a, b, s.label)
			}
		}
	}
	if old != nil && skuOK {
		if limit := sku.MaxS2STunnels(pr.VpnType); len(mine) > limit {
			r.l.addf(CodeLimitExceeded, "properties.sku.name", "SKU %s supports %d connections but the gateway has %d; delete connections before resizing.", sku.Name, limit, len(mine))
		}
	}

	r.computeGatewayAddresses(g, gwPrefix, pips)

	if old != nil && len(involved) > 0 {
		r.recheck(involved, g, func(code string) string {
			switch code {
			case CodeInvalidAsn:
				return "properties.bgpSettings.asn"
			case CodeBgpNotSupported:
				return "properties.enableBgp"
			case CodeAddressOverlap:
				return "properties.vpnClientConfiguration.vpnClientAddressPool.addressPrefixes"
			}
			return "properties"
		})
	}
}

// computeGatewayAddresses sets the read-only addresses: each
// ipConfiguration's private IP (GatewaySubnet .4, .5, .6), and the BGP
// peering address: the last usable address of GatewaySubnet when
// active-standby, the two instance addresses ("a,b") when active-active.
func (r *resolver) computeGatewayAddresses(g *VirtualNetworkGateway, gwPrefix netip.Prefix, pips []*PublicIPAddress) {
	pr := &g.Properties
	if !gwPrefix.IsValid() || pr.GatewayType != GatewayTypeVpn {
		return
	}
	for i := range pr.IPConfigurations {
		if a, ok := netx.HostAddr(gwPrefix, i); ok {
			pr.IPConfigurations[i].Properties.PrivateIPAddress = a.String()
		}
	}
	b := pr.BgpSettings
	if b == nil {
		return
	}
	instances := 1
	if pr.ActiveActive {
		instances = min(2, len(pr.IPConfigurations))
	}
	var defaults []string
	if pr.ActiveActive {
		for i := range instances {
			defaults = append(defaults, pr.IPConfigurations[i].Properties.PrivateIPAddress)
		}
	} else {
		defaults = []string{netx.LastUsable(gwPrefix).String()}
	}
	b.BgpPeeringAddress = strings.Join(defaults, ",")
	var out []IPConfigurationBgpPeeringAddress
	for i := range min(instances, len(pr.IPConfigurations)) {
		c := pr.IPConfigurations[i]
		entry := IPConfigurationBgpPeeringAddress{IPConfigurationID: ipConfigID(g, c.Name)}
		for _, e := range b.BgpPeeringAddresses {
			if n, ok := ipConfigNameFromID(e.IPConfigurationID); ok && strings.EqualFold(n, c.Name) {
				entry.CustomBgpIPAddresses = e.CustomBgpIPAddresses
				if entry.IPConfigurationID == "" {
					entry.IPConfigurationID = e.IPConfigurationID
				}
			}
		}
		entry.DefaultBgpIPAddresses = []string{defaults[i]}
		if i < len(pips) && pips[i] != nil && pips[i].Properties.IPAddress != "" {
			entry.TunnelIPAddresses = []string{pips[i].Properties.IPAddress}
		}
		out = append(out, entry)
	}
	b.BgpPeeringAddresses = out
}

// ---- local network gateways ----

func (r *resolver) localNetworkGateway(lg, old *LocalNetworkGateway) {
	if old == nil || keyOf(lg) == "" {
		return
	}
	var conns []*Connection
	for _, c := range r.connections() {
		if sameID(refID(c.Properties.LocalNetworkGateway2), lg.ID) {
			conns = append(conns, c)
		}
	}
	r.recheck(conns, lg, func(code string) string {
		switch code {
		case CodeInvalidAsn, CodeBgpNotSupported:
			return "properties.bgpSettings"
		case CodeInvalidLocalNetworkGw:
			return "properties.bgpSettings.bgpPeeringAddress"
		}
		return "properties.localNetworkAddressSpace.addressPrefixes"
	})
}

// ---- connections ----

func (r *resolver) connection(c, old *Connection) {
	pr := &c.Properties
	if pr.ConnectionType != ConnectionTypeIPsec && pr.ConnectionType != ConnectionTypeVnet2Vnet {
		return // Validate refused it
	}
	if old != nil {
		op := &old.Properties
		r.immutable("properties.connectionType", op.ConnectionType, pr.ConnectionType)
		if op.ConnectionProtocol != "" {
			r.immutable("properties.connectionProtocol", op.ConnectionProtocol, pr.ConnectionProtocol)
		}
		refs := []struct {
			field    string
			old, new *SubResource
		}{
			{"virtualNetworkGateway1", op.VirtualNetworkGateway1, pr.VirtualNetworkGateway1},
			{"virtualNetworkGateway2", op.VirtualNetworkGateway2, pr.VirtualNetworkGateway2},
			{"localNetworkGateway2", op.LocalNetworkGateway2, pr.LocalNetworkGateway2},
		}
		for _, f := range refs {
			if o, n := refID(f.old), refID(f.new); (o == "") != (n == "") || o != "" && !sameID(o, n) {
				r.l.addf(CodeImmutableProperty, "properties."+f.field+".id",
					"Property '%s' of a connection cannot be changed after creation; delete and re-create the connection.", f.field)
			}
		}
	}
	r.connectionRelations(c, old == nil, true)
}

// site is a network connected to a gateway through one connection.
type site struct {
	key      string // store key of the LNG or of the peer gateway
	label    string
	prefixes []netip.Prefix
}

// siteOf describes the far end of a connection (an LNG's prefixes or the
// peer gateway's VNet).
func (r *resolver) siteOf(c *Connection) (site, bool) {
	pr := &c.Properties
	switch pr.ConnectionType {
	case ConnectionTypeIPsec:
		id, err := ParseID(refID(pr.LocalNetworkGateway2), "")
		if err != nil {
			return site{}, false
		}
		lg, ok := r.lookup(id).(*LocalNetworkGateway)
		if !ok {
			return site{}, false
		}
		return site{key: id.Key(), label: "local network gateway " + id.String(),
			prefixes: netx.ParsePrefixes(lg.Properties.LocalNetworkAddressSpace.AddressPrefixes)}, true
	case ConnectionTypeVnet2Vnet:
		id, err := ParseID(refID(pr.VirtualNetworkGateway2), "")
		if err != nil {
			return site{}, false
		}
		g2, ok := r.lookup(id).(*VirtualNetworkGateway)
		if !ok {
			return site{}, false
		}
		vn := r.gatewayVNet(g2)
		if vn == nil {
			return site{}, false
		}
		return site{key: id.Key(), label: "virtual network " + vn.ID + " (gateway " + id.Name + ")",
			prefixes: netx.ParsePrefixes(vn.Properties.AddressSpace.AddressPrefixes)}, true
	}
	return site{}, false
}

// sitesOf lists the sites connected to gateway gwID through connections
// other than exceptConn, leaving out the site exceptSite.
func (r *resolver) sitesOf(gwID, exceptConn, exceptSite string) []site {
	var out []site
	for _, c := range r.connections() {
		if !sameID(refID(c.Properties.VirtualNetworkGateway1), gwID) || exceptConn != "" && keyOf(c) == exceptConn {
			continue
		}
		if s, ok := r.siteOf(c); ok && s.key != exceptSite {
			out = append(out, s)
		}
	}
	return out
}

// connectionRelations checks a connection against the resources it joins.
// creating enables the connection-count limit; setDefaults lets it set the
// protocol default on c (never on a stored connection being re-checked).
func (r *resolver) connectionRelations(c *Connection, creating, setDefaults bool) {
	pr := &c.Properties
	const g1t = "properties.virtualNetworkGateway1.id"
	gw1 := r.getGateway(pr.VirtualNetworkGateway1, g1t)
	if gw1 == nil {
		return
	}
	g1 := &gw1.Properties
	if g1.GatewayType != GatewayTypeVpn {
		r.l.addf(CodeInvalidConnectionTopology, g1t, "Gateway %s has gatewayType %s; %s connections need a Vpn gateway.", nameOf(gw1), g1.GatewayType, pr.ConnectionType)
		return
	}
	sku1, _ := LookupSKU(g1.SKU.Name)
	policy := g1.VpnType == VpnTypePolicyBased
	if pr.ConnectionProtocol == "" && setDefaults {
		pr.ConnectionProtocol = ProtocolIKEv2
		if policy {
			pr.ConnectionProtocol = ProtocolIKEv1
		}
	}
	switch {
	case policy && pr.ConnectionProtocol == ProtocolIKEv2:
		r.l.addf(CodePolicyBasedLimit, "properties.connectionProtocol", "Gateway %s is PolicyBased, which supports IKEv1 only; use connectionProtocol IKEv1 or a RouteBased gateway.", nameOf(gw1))
	case !policy && pr.ConnectionProtocol == ProtocolIKEv1 && !sku1.IKEv1:
		r.l.addf(CodeInvalidParameter, "properties.connectionProtocol", "IKEv1 connections are not supported on a RouteBased %s gateway; use IKEv2 or VpnGw1 or larger.", sku1.Name)
	}
	if policy {
		if pr.ConnectionType == ConnectionTypeVnet2Vnet {
			r.l.addf(CodePolicyBasedLimit, g1t, "Vnet2Vnet connections need RouteBased gateways; %s is PolicyBased.", nameOf(gw1))
		}
		if pr.EnableBgp {
			r.l.addf(CodePolicyBasedLimit, "properties.enableBgp", "BGP is not supported on the PolicyBased gateway %s.", nameOf(gw1))
		}
		if len(pr.IpsecPolicies) > 0 {
			r.l.addf(CodePolicyBasedLimit, "properties.ipsecPolicies", "Custom IPsec/IKE policies are not supported on the PolicyBased gateway %s.", nameOf(gw1))
		}
		if pr.UsePolicyBasedTrafficSelectors {
			r.l.addf(CodePolicyBasedLimit, "properties.usePolicyBasedTrafficSelectors", "usePolicyBasedTrafficSelectors needs a RouteBased gateway; %s is PolicyBased.", nameOf(gw1))
		}
	} else if len(pr.IpsecPolicies) > 0 && !sku1.CustomIPsecPolicy {
		r.l.addf(CodeInvalidIpsecPolicy, "properties.ipsecPolicies", "Custom IPsec/IKE policies are not supported on the %s SKU; use VpnGw1 or larger.", sku1.Name)
	}
	if pr.EnableBgp && !policy {
		if !sku1.BGP {
			r.l.addf(CodeBgpNotSupported, "properties.enableBgp", "BGP is not supported on the %s SKU of gateway %s.", sku1.Name, nameOf(gw1))
		} else if !g1.EnableBgp {
			r.l.addf(CodeBgpNotSupported, "properties.enableBgp", "Gateway %s does not have BGP enabled; set its enableBgp to true first.", nameOf(gw1))
		}
	}
	var asn1 int64
	if g1.BgpSettings != nil {
		asn1 = g1.BgpSettings.ASN
	}
	vnet1 := r.gatewayVNet(gw1)
	var space1 []netip.Prefix
	if vnet1 != nil {
		space1 = netx.ParsePrefixes(vnet1.Properties.AddressSpace.AddressPrefixes)
	}
	var pool []netip.Prefix
	if cfg := g1.VpnClientConfiguration; cfg != nil && cfg.VpnClientAddressPool != nil {
		pool = netx.ParsePrefixes(cfg.VpnClientAddressPool.AddressPrefixes)
	}

	var peerT string
	var peerPrefixes []netip.Prefix
	var peerKey, peerLabel string
	switch pr.ConnectionType {
	case ConnectionTypeIPsec:
		peerT = "properties.localNetworkGateway2.id"
		lg := r.getLNG(pr.LocalNetworkGateway2, peerT)
		if lg == nil {
			return
		}
		peerKey, peerLabel = keyOf(lg), "local network gateway "+nameOf(lg)
		peerPrefixes = netx.ParsePrefixes(lg.Properties.LocalNetworkAddressSpace.AddressPrefixes)
		if pr.EnableBgp && !policy {
			b := lg.Properties.BgpSettings
			switch {
			case b == nil:
				r.l.addf(CodeBgpNotSupported, peerT, "Local network gateway %s has no bgpSettings; a BGP connection needs the site's ASN and BGP peering address.", nameOf(lg))
			default:
				if b.ASN == asn1 {
					r.l.addf(CodeInvalidAsn, peerT, "The site's ASN %d equals the gateway's ASN; the on-premises ASN must differ from the Azure gateway's ASN.", b.ASN)
				}
				if a, err := netip.ParseAddr(b.BgpPeeringAddress); err == nil {
					for _, p := range space1 {
						if p.Contains(a) {
							r.l.addf(CodeInvalidLocalNetworkGw, peerT,
								"The site's BGP peering address %s lies inside the virtual network's address space (%s); it must be an on-premises address.", a, p)
						}
					}
				}
			}
		}
	case ConnectionTypeVnet2Vnet:
		peerT = "properties.virtualNetworkGateway2.id"
		gw2 := r.getGateway(pr.VirtualNetworkGateway2, peerT)
		if gw2 == nil {
			return
		}
		g2 := &gw2.Properties
		if g2.GatewayType != GatewayTypeVpn {
			r.l.addf(CodeInvalidConnectionTopology, peerT, "Gateway %s has gatewayType %s; a Vnet2Vnet connection needs a Vpn gateway at both ends.", nameOf(gw2), g2.GatewayType)
			return
		}
		if g2.VpnType == VpnTypePolicyBased {
			r.l.addf(CodePolicyBasedLimit, peerT, "Vnet2Vnet connections need RouteBased gateways at both ends; %s is PolicyBased.", nameOf(gw2))
		}
		if pr.EnableBgp {
			if !g2.EnableBgp {
				r.l.addf(CodeBgpNotSupported, peerT, "Gateway %s does not have BGP enabled; a BGP Vnet2Vnet connection needs BGP on both gateways.", nameOf(gw2))
			} else if g2.BgpSettings != nil && g2.BgpSettings.ASN == asn1 {
				r.l.addf(CodeInvalidAsn, peerT, "Both gateways use ASN %d; a BGP Vnet2Vnet connection needs different ASNs on the two gateways.", asn1)
			}
		}
		vnet2 := r.gatewayVNet(gw2)
		if vnet2 == nil {
			return
		}
		peerKey, peerLabel = keyOf(gw2), "virtual network "+nameOf(vnet2)
		peerPrefixes = netx.ParsePrefixes(vnet2.Properties.AddressSpace.AddressPrefixes)
	}

	// Address spaces of everything reachable through gw1 must be disjoint.
	if a, b, ok := netx.FirstOverlap(peerPrefixes, space1); ok {
		r.l.addf(CodeAddressOverlap, peerT, "%s prefix %s overlaps the virtual network's address space (%s); connected networks must not overlap.", capitalize(peerLabel), a, b)
	}
	for _, s := range r.sitesOf(gw1.ID, keyOf(c), peerKey) {
		if a, b, ok := netx.FirstOverlap(peerPrefixes, s.prefixes); ok {
			r.l.addf(CodeAddressOverlap, peerT, "%s prefix %s overlaps %s of %s, which is already connected to gateway %s; connected networks must not overlap.",
				capitalize(peerLabel), a, b, s.label, nameOf(gw1))
		}
	}
	if a, b, ok := netx.FirstOverlap(peerPrefixes, pool); ok {
		r.l.addf(CodeAddressOverlap, peerT, "%s prefix %s overlaps the gateway's point-to-site client pool %s.", capitalize(peerLabel), a, b)
	}

	// Counts over the gateway's connections.
	n, selectors := 0, len(pr.TrafficSelectorPolicies)
	for _, o := range r.connections() {
		if keyOf(o) == keyOf(c) && keyOf(c) != "" || !sameID(refID(o.Properties.VirtualNetworkGateway1), gw1.ID) {
			continue
		}
		n++
		selectors += len(o.Properties.TrafficSelectorPolicies)
	}
	if len(pr.TrafficSelectorPolicies) > 0 && selectors > MaxTrafficSelectors {
		r.l.addf(CodeLimitExceeded, "properties.trafficSelectorPolicies",
			"Gateway %s would have %d traffic selector policies across its connections; the limit is %d.", nameOf(gw1), selectors, MaxTrafficSelectors)
	}
	if creating && sku1.Name != "" {
		limit := sku1.MaxS2STunnels(g1.VpnType)
		switch {
		case n+1 <= limit:
		case policy:
			r.l.addf(CodePolicyBasedLimit, g1t, "The PolicyBased gateway %s supports a single site-to-site connection and already has one; multi-site needs a RouteBased gateway.", nameOf(gw1))
		default:
			r.l.addf(CodeLimitExceeded, g1t, "Gateway %s (SKU %s) supports at most %d site-to-site and VNet-to-VNet connections and already has %d.", nameOf(gw1), sku1.Name, limit, n)
		}
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
