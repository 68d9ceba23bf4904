package resource

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/vpngw/vpngw/internal/netx"
)

// Virtual network limits (reference §1.1).
const (
	MaxSubnetsPerVnet = 3000
	MaxDNSServers     = 20
)

// VirtualNetwork is a virtual network (Microsoft.Network/virtualNetworks)
// with its subnets inline.
type VirtualNetwork struct {
	Envelope
	// Properties holds the VNet's properties.
	Properties VirtualNetworkProperties `json:"properties"`
}

// VirtualNetworkProperties are a virtual network's properties.
type VirtualNetworkProperties struct {
	// AddressSpace lists the VNet's prefixes: canonical CIDRs that do not
	// overlap each other. At least one is required.
	AddressSpace AddressSpace `json:"addressSpace"`
	// DhcpOptions lists custom DNS servers (at most 20 IP addresses).
	DhcpOptions *DhcpOptions `json:"dhcpOptions,omitempty"`
	// Subnets are the VNet's subnets, inside AddressSpace and disjoint.
	Subnets []Subnet `json:"subnets"`
	// EnableDdosProtection is stored; vpngw has no DDoS protection.
	EnableDdosProtection bool `json:"enableDdosProtection"`
	// EnableVMProtection is stored; vpngw has no VMs.
	EnableVMProtection bool `json:"enableVmProtection"`
	// ResourceGUID is read-only, assigned on create.
	ResourceGUID string `json:"resourceGuid,omitempty"`
	// ProvisioningState is read-only.
	ProvisioningState string `json:"provisioningState,omitempty"`
}

// DhcpOptions are a VNet's DHCP options.
type DhcpOptions struct {
	// DNSServers are IP addresses of DNS servers.
	DNSServers []string `json:"dnsServers"`
}

// Subnet returns the subnet with the given name (matched
// case-insensitively, as ARM names are).
func (v *VirtualNetwork) Subnet(name string) (*Subnet, bool) {
	for i := range v.Properties.Subnets {
		if strings.EqualFold(v.Properties.Subnets[i].Name, name) {
			return &v.Properties.Subnets[i], true
		}
	}
	return nil, false
}

// PutSubnet adds s, or replaces the subnet with the same name
// (case-insensitively) while keeping its position.
func (v *VirtualNetwork) PutSubnet(s Subnet) {
	for i := range v.Properties.Subnets {
		if strings.EqualFold(v.Properties.Subnets[i].Name, s.Name) {
			v.Properties.Subnets[i] = s
			return
		}
	}
	v.Properties.Subnets = append(v.Properties.Subnets, s)
}

// DeleteSubnet removes the named subnet and reports whether it existed.
func (v *VirtualNetwork) DeleteSubnet(name string) bool {
	for i := range v.Properties.Subnets {
		if strings.EqualFold(v.Properties.Subnets[i].Name, name) {
			v.Properties.Subnets = append(v.Properties.Subnets[:i], v.Properties.Subnets[i+1:]...)
			return true
		}
	}
	return false
}

// Meta returns the envelope.
func (v *VirtualNetwork) Meta() *Envelope { return &v.Envelope }

// ProvisioningState returns properties.provisioningState.
func (v *VirtualNetwork) ProvisioningState() string { return v.Properties.ProvisioningState }

// SetProvisioningState sets properties.provisioningState of the VNet and of
// its subnets.
func (v *VirtualNetwork) SetProvisioningState(s string) {
	v.Properties.ProvisioningState = s
	for i := range v.Properties.Subnets {
		v.Properties.Subnets[i].Properties.ProvisioningState = s
	}
}

func prepareVirtualNetwork(v, old *VirtualNetwork, rnd io.Reader) error {
	var oldGUID string
	if old != nil {
		oldGUID = old.Properties.ResourceGUID
	}
	g, err := resourceGUID(oldGUID, rnd)
	if err != nil {
		return err
	}
	v.Properties.ResourceGUID = g
	if v.Properties.Subnets == nil {
		v.Properties.Subnets = []Subnet{}
	}
	for i := range v.Properties.Subnets {
		s := &v.Properties.Subnets[i]
		var os *Subnet
		if old != nil {
			os, _ = old.Subnet(s.Name)
		}
		prepareSubnet(s, os)
	}
	return nil
}

func validateVirtualNetwork(l *errList, v *VirtualNetwork) {
	const t = "properties.addressSpace.addressPrefixes"
	pr := &v.Properties
	if len(pr.AddressSpace.AddressPrefixes) == 0 {
		l.addf(CodeMissingParameter, t, "A virtual network needs at least one address prefix in properties.addressSpace.addressPrefixes, such as 10.1.0.0/16.")
	}
	space := parsePrefixList(l, pr.AddressSpace.AddressPrefixes, t)
	// Indexes in space are those of the list when every entry parsed.
	index := func(i int) int {
		if len(space) == len(pr.AddressSpace.AddressPrefixes) {
			return i
		}
		return slices.Index(pr.AddressSpace.AddressPrefixes, space[i].String())
	}
	for i, p := range space {
		if r, ok := netx.Reserved(p); ok {
			l.addf(CodeInvalidParameter, fmt.Sprintf("%s[%d]", t, index(i)),
				"Address prefix %s overlaps %s (%s), which cannot be used in a virtual network.", p, r.Prefix, r.What)
		}
	}
	for _, o := range netx.Overlaps(space, nil) {
		// Report at the later of the two in the list, as a reader of the
		// body meets them.
		i, j := o.Inner, o.Outer
		if j > i {
			i, j = j, i
		}
		l.addf(CodeAddressOverlap, fmt.Sprintf("%s[%d]", t, index(i)),
			"Address prefix %s overlaps %s: the prefixes of a virtual network's address space must not overlap.", space[i], space[j])
	}
	if d := pr.DhcpOptions; d != nil {
		for i, s := range d.DNSServers {
			if _, e := parseAddr(s, fmt.Sprintf("properties.dhcpOptions.dnsServers[%d]", i), "DNS server"); e != nil {
				l.add(e)
			}
		}
	}
	// Subnets: each alone, then inside the address space and disjoint
	// from each other, by a sweep over all their prefixes (O(n log n)).
	firstName, _ := lowerIndex(len(pr.Subnets), func(i int) string { return pr.Subnets[i].Name })
	inSpace := netx.NewPrefixSet(space)
	type placed struct {
		p      netip.Prefix
		subnet int    // index in pr.Subnets
		target string // the prefix field's path
	}
	var all []placed
	for i := range pr.Subnets {
		s := &pr.Subnets[i]
		st := fmt.Sprintf("properties.subnets[%d]", i)
		if s.Name == "" {
			l.addf(CodeMissingParameter, st+".name", "Every subnet needs a name.")
		} else {
			l.add(validateName(TypeSubnets, s.Name, st+".name"))
			if firstName[strings.ToLower(s.Name)] != i {
				l.addf(CodeInvalidParameter, st+".name", "Subnet name %q is used twice (names compare case-insensitively).", s.Name)
			}
		}
		if s.Location != "" || len(s.Tags) > 0 {
			l.addf(CodeInvalidParameter, st, "A subnet cannot have a location or tags.")
		}
		prefixes := validateSubnet(l, s, st+".properties")
		pt := st + ".properties.addressPrefix"
		if s.Properties.AddressPrefix == "" {
			pt = st + ".properties.addressPrefixes"
		}
		for _, p := range prefixes {
			if len(space) > 0 && !inSpace.ContainsPrefix(p) {
				l.addf(CodeSubnetOutsideVnet, pt,
					"Subnet %q prefix %s is not inside the virtual network's address space (%s); every subnet must lie within one of the VNet's address prefixes.",
					s.Name, p, joinPrefixes(space))
			}
			all = append(all, placed{p, i, pt})
		}
	}
	// A subnet's own prefixes were compared by validateSubnet; two subnets
	// of one name are reported above.
	group := func(k int) int {
		if f, ok := firstName[strings.ToLower(pr.Subnets[all[k].subnet].Name)]; ok {
			return f
		}
		return all[k].subnet
	}
	ps := make([]netip.Prefix, len(all))
	for k := range all {
		ps[k] = all[k].p
	}
	for _, o := range netx.Overlaps(ps, group) {
		// Report at the later subnet, as a reader of the body meets them.
		a, b := all[o.Inner], all[o.Outer]
		if a.subnet < b.subnet {
			a, b = b, a
		}
		l.addf(CodeAddressOverlap, a.target, "Subnet %q prefix %s overlaps subnet %q prefix %s: subnets of a virtual network must not overlap.",
			pr.Subnets[a.subnet].Name, a.p, pr.Subnets[b.subnet].Name, b.p)
	}
}

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

// checkVirtualNetworkDelete refuses to delete a VNet while a gateway uses
// one of its subnets (its subnets are deleted with it).
func checkVirtualNetworkDelete(ctx context.Context, v View, id ID, o *VirtualNetwork) error {
	users, err := ipConfigUsers(ctx, v, func(c *VirtualNetworkGatewayIPConfiguration) bool {
		sid, err := ParseID(refID(c.Properties.Subnet), "")
		return err == nil && sid.Parent().Equal(id)
	})
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return inUse(fmt.Sprintf("Virtual network %s (its GatewaySubnet)", o.Name), users)
	}
	return nil
}
