package resource

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vpngw/vpngw/internal/netx"
)

// Subnet size limits (reference §1.1).
const (
	MinIPv4SubnetBits = 29 // the smallest IPv4 subnet is /29
	MinIPv6SubnetBits = 64
)

// Subnet is a subnet of a virtual network. It is stored inline in the VNet
// (properties.subnets) and also served as the child resource
// virtualNetworks/{vnet}/subnets/{name}. Location and tags are not allowed.
type Subnet struct {
	Envelope
	// Properties holds the subnet's properties.
	Properties SubnetProperties `json:"properties"`
}

// SubnetProperties are a subnet's properties.
type SubnetProperties struct {
	// AddressPrefix is the subnet's prefix. Give it or AddressPrefixes.
	AddressPrefix string `json:"addressPrefix,omitempty"`
	// AddressPrefixes are the subnet's prefixes (dual stack).
	AddressPrefixes []string `json:"addressPrefixes,omitempty"`
	// PrivateEndpointNetworkPolicies and PrivateLinkServiceNetworkPolicies
	// are stored and returned only (vpngw has no private endpoints): the
	// Azure SDKs send their defaults (Disabled, Enabled) with every
	// subnet.
	PrivateEndpointNetworkPolicies    string `json:"privateEndpointNetworkPolicies,omitempty"`
	PrivateLinkServiceNetworkPolicies string `json:"privateLinkServiceNetworkPolicies,omitempty"`
	// IPConfigurations is read-only: the gateway ipConfigurations that use
	// the subnet (filled by Populate).
	IPConfigurations []SubResource `json:"ipConfigurations,omitempty"`
	// ProvisioningState is read-only.
	ProvisioningState string `json:"provisioningState,omitempty"`
}

// Prefixes returns the subnet's prefixes: AddressPrefix or AddressPrefixes.
func (s *Subnet) Prefixes() []string {
	if s.Properties.AddressPrefix != "" {
		return []string{s.Properties.AddressPrefix}
	}
	return s.Properties.AddressPrefixes
}

// Meta returns the envelope.
func (s *Subnet) Meta() *Envelope { return &s.Envelope }

// ProvisioningState returns properties.provisioningState.
func (s *Subnet) ProvisioningState() string { return s.Properties.ProvisioningState }

// SetProvisioningState sets properties.provisioningState.
func (s *Subnet) SetProvisioningState(st string) { s.Properties.ProvisioningState = st }

// Values of a subnet's network policies.
var (
	privateEndpointPolicies    = []string{"Enabled", "Disabled", "NetworkSecurityGroupEnabled", "RouteTableEnabled"}
	privateLinkServicePolicies = []string{"Enabled", "Disabled"}
)

func prepareSubnet(s, old *Subnet) {
	s.Type = ARMTypeSubnet
	pr := &s.Properties
	pr.PrivateEndpointNetworkPolicies = canonical(pr.PrivateEndpointNetworkPolicies, privateEndpointPolicies...)
	pr.PrivateLinkServiceNetworkPolicies = canonical(pr.PrivateLinkServiceNetworkPolicies, privateLinkServicePolicies...)
	s.Etag = ""
	s.Properties.IPConfigurations = nil
	if old != nil {
		s.Etag = old.Etag
		s.Properties.IPConfigurations = old.Properties.IPConfigurations
		s.Properties.ProvisioningState = old.Properties.ProvisioningState
	} else {
		s.Properties.ProvisioningState = ""
	}
}

// validateSubnet checks a subnet on its own; t is the path of its
// properties. It returns the parsed prefixes.
func validateSubnet(l *errList, s *Subnet, t string) []netip.Prefix {
	pr := &s.Properties
	if v := pr.PrivateEndpointNetworkPolicies; v != "" {
		checkEnum(l, t+".privateEndpointNetworkPolicies", v, privateEndpointPolicies...)
	}
	if v := pr.PrivateLinkServiceNetworkPolicies; v != "" {
		checkEnum(l, t+".privateLinkServiceNetworkPolicies", v, privateLinkServicePolicies...)
	}
	target := t + ".addressPrefix"
	switch {
	case pr.AddressPrefix != "" && len(pr.AddressPrefixes) > 0:
		l.addf(CodeInvalidParameter, t+".addressPrefixes", "Give either addressPrefix or addressPrefixes, not both.")
		return nil
	case pr.AddressPrefix != "":
		p, e := parsePrefix(pr.AddressPrefix, target)
		if e != nil {
			l.add(e)
			return nil
		}
		return checkSubnetSizes(l, []netip.Prefix{p}, target)
	case len(pr.AddressPrefixes) == 0:
		l.addf(CodeMissingParameter, target, "A subnet needs an address prefix (addressPrefix), such as 10.1.0.0/24.")
		return nil
	}
	target = t + ".addressPrefixes"
	ps := parsePrefixList(l, pr.AddressPrefixes, target)
	for _, o := range netx.Overlaps(ps, nil) {
		l.addf(CodeAddressOverlap, target, "Subnet prefixes %s and %s overlap.", ps[o.Outer], ps[o.Inner])
	}
	return checkSubnetSizes(l, ps, target)
}

func checkSubnetSizes(l *errList, ps []netip.Prefix, target string) []netip.Prefix {
	for _, p := range ps {
		if p.Addr().Is4() && p.Bits() > MinIPv4SubnetBits {
			l.addf(CodeInvalidParameter, target, "Subnet prefix %s is too small: the smallest IPv4 subnet is /%d.", p, MinIPv4SubnetBits)
		}
		if p.Addr().Is6() && p.Bits() > MinIPv6SubnetBits {
			l.addf(CodeInvalidParameter, target, "Subnet prefix %s is too small: an IPv6 subnet must be /%d or larger.", p, MinIPv6SubnetBits)
		}
	}
	return ps
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
	r.l.more += sub.l.more
}

// CheckSubnetDelete reports whether the named subnet of vnet may be
// deleted: a 409 *Error (CodeInUse) naming the gateway ipConfigurations
// that use it, nil when it is free or does not exist.
func CheckSubnetDelete(ctx context.Context, v View, vnet *VirtualNetwork, subnet string) error {
	id, ok := selfID(vnet)
	if !ok {
		return fmt.Errorf("resource: CheckSubnetDelete: the virtual network has no ID")
	}
	users, err := ipConfigUsers(ctx, v, func(c *VirtualNetworkGatewayIPConfiguration) bool {
		sid, err := ParseID(refID(c.Properties.Subnet), "")
		return err == nil && sid.Parent().Equal(id) && strings.EqualFold(sid.ChildName, subnet)
	})
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return inUse("Subnet "+subnet, users)
	}
	return nil
}
