package resource

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/vpngw/vpngw/internal/netx"
)

// Limits checked by Validate (reference §1.1, §2.5, §4).
const (
	MaxSubnetsPerVnet       = 3000
	MaxDNSServers           = 20
	MaxLocalNetworkPrefixes = 1000
	MaxRootCertificates     = 20
	MaxRevokedCertificates  = 300
	MaxTrafficSelectors     = 100 // per gateway
	MaxCustomBgpAddresses   = 32
	MaxVnetPrefixesPerVpnGw = 600
	MinIPv4SubnetBits       = 29 // the smallest IPv4 subnet is /29
	MinIPv6SubnetBits       = 64
	MinGatewaySubnetBits    = 29 // GatewaySubnet /29 or larger
	CoexistGatewaySubnetBit = 27 // /27 or larger when Vpn and ExpressRoute share it
	GatewaySubnetName       = "GatewaySubnet"
	MinClientPoolBits       = 29 // P2S pool /29 or larger
	// MinClientPoolBitsActiveActive: /28 or larger on an active-active gateway.
	MinClientPoolBitsActiveActive = 28
)

// reservedVnetRanges are ranges Azure does not allow in a VNet's address
// space.
var reservedVnetRanges = [...]struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("168.63.129.16/32"), "the Azure internal DNS/health address"},
}

// apipaBgpRange is where custom APIPA BGP addresses come from
// (169.254.21.0 - 169.254.22.255).
var apipaBgpRange = netip.MustParsePrefix("169.254.21.0/24")
var apipaBgpRange2 = netip.MustParsePrefix("169.254.22.0/24")

// Validate checks the rules that need only obj: required fields, formats,
// enumerations, ranges, and the relations inside one resource (a VNet's
// subnets inside its address space, a gateway's SKU against its features).
// Call it after Prepare. It returns an *Error: the first violation, with
// the others as Details.
func Validate(obj Object) error {
	var l errList
	switch o := obj.(type) {
	case *ResourceGroup:
		validateEnvelope(&l, obj, TypeResourceGroups)
	case *VirtualNetwork:
		validateEnvelope(&l, obj, TypeVirtualNetworks)
		validateVirtualNetwork(&l, o)
	case *Subnet:
		validateEnvelope(&l, obj, TypeSubnets)
		validateSubnet(&l, o, "properties")
	case *PublicIPAddress:
		validateEnvelope(&l, obj, TypePublicIPAddresses)
		validatePublicIP(&l, o)
	case *VirtualNetworkGateway:
		validateEnvelope(&l, obj, TypeVirtualNetworkGateways)
		validateGateway(&l, o)
	case *LocalNetworkGateway:
		validateEnvelope(&l, obj, TypeLocalNetworkGateways)
		validateLocalNetworkGateway(&l, o)
	case *Connection:
		validateEnvelope(&l, obj, TypeConnections)
		validateConnection(&l, o)
	default:
		return fmt.Errorf("resource: Validate: unsupported type %T", obj)
	}
	return l.err()
}

func validateEnvelope(l *errList, obj Object, typ string) {
	m := obj.Meta()
	if m.Name != "" {
		l.add(validateName(typ, m.Name, "name"))
	}
	if typ == TypeSubnets {
		if m.Location != "" {
			l.addf(CodeInvalidParameter, "location", "A subnet has no location of its own; remove 'location' (the subnet is in its virtual network's location).")
		}
		if len(m.Tags) > 0 {
			l.addf(CodeInvalidParameter, "tags", "A subnet cannot have tags; tag its virtual network instead.")
		}
		return
	}
	if m.Location == "" {
		l.addf(CodeInvalidLocation, "location", "Property 'location' is required: the Azure region, such as \"westeurope\".")
	}
	validateTags(l, m.Tags, "tags")
}

func validateVirtualNetwork(l *errList, v *VirtualNetwork) {
	const t = "properties.addressSpace.addressPrefixes"
	pr := &v.Properties
	if len(pr.AddressSpace.AddressPrefixes) == 0 {
		l.addf(CodeMissingParameter, t, "A virtual network needs at least one address prefix in properties.addressSpace.addressPrefixes, such as 10.1.0.0/16.")
	}
	space := parsePrefixList(l, pr.AddressSpace.AddressPrefixes, t)
	for i, p := range space {
		for _, r := range reservedVnetRanges {
			if p.Overlaps(r.prefix) {
				l.addf(CodeInvalidParameter, fmt.Sprintf("%s[%d]", t, i),
					"Address prefix %s overlaps %s (%s), which cannot be used in a virtual network.", p, r.prefix, r.what)
			}
		}
		for j := range i {
			if p.Overlaps(space[j]) {
				l.addf(CodeAddressOverlap, fmt.Sprintf("%s[%d]", t, i),
					"Address prefix %s overlaps %s: the prefixes of a virtual network's address space must not overlap.", p, space[j])
			}
		}
	}
	if d := pr.DhcpOptions; d != nil {
		if len(d.DNSServers) > MaxDNSServers {
			l.addf(CodeLimitExceeded, "properties.dhcpOptions.dnsServers", "A virtual network can have at most %d DNS servers; got %d.", MaxDNSServers, len(d.DNSServers))
		}
		for i, s := range d.DNSServers {
			if _, e := parseAddr(s, fmt.Sprintf("properties.dhcpOptions.dnsServers[%d]", i), "DNS server"); e != nil {
				l.add(e)
			}
		}
	}
	if len(pr.Subnets) > MaxSubnetsPerVnet {
		l.addf(CodeLimitExceeded, "properties.subnets", "A virtual network can have at most %d subnets; got %d.", MaxSubnetsPerVnet, len(pr.Subnets))
	}
	type placed struct {
		p    netip.Prefix
		name string
	}
	var seen []placed
	for i := range pr.Subnets {
		s := &pr.Subnets[i]
		st := fmt.Sprintf("properties.subnets[%d]", i)
		if s.Name == "" {
			l.addf(CodeMissingParameter, st+".name", "Every subnet needs a name.")
		} else {
			l.add(validateName(TypeSubnets, s.Name, st+".name"))
			for j := range i {
				if strings.EqualFold(pr.Subnets[j].Name, s.Name) {
					l.addf(CodeInvalidParameter, st+".name", "Subnet name %q is used twice (names compare case-insensitively).", s.Name)
				}
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
			inside := slices.ContainsFunc(space, func(sp netip.Prefix) bool { return netx.ContainsPrefix(sp, p) })
			if !inside && len(space) > 0 {
				l.addf(CodeSubnetOutsideVnet, pt,
					"Subnet %q prefix %s is not inside the virtual network's address space (%s); every subnet must lie within one of the VNet's address prefixes.",
					s.Name, p, joinPrefixes(space))
			}
			for _, o := range seen {
				if o.p.Overlaps(p) && o.name != s.Name {
					l.addf(CodeAddressOverlap, pt, "Subnet %q prefix %s overlaps subnet %q prefix %s: subnets of a virtual network must not overlap.", s.Name, p, o.name, o.p)
				}
			}
		}
		for _, p := range prefixes {
			seen = append(seen, placed{p, s.Name})
		}
	}
}

// validateSubnet checks a subnet on its own; t is the path of its
// properties. It returns the parsed prefixes.
func validateSubnet(l *errList, s *Subnet, t string) []netip.Prefix {
	pr := &s.Properties
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
	for i, p := range ps {
		for _, q := range ps[:i] {
			if p.Overlaps(q) {
				l.addf(CodeAddressOverlap, target, "Subnet prefixes %s and %s overlap.", q, p)
			}
		}
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

func validatePublicIP(l *errList, p *PublicIPAddress) {
	checkEnum(l, "sku.name", p.SKU.Name, PublicIPSkuBasic, PublicIPSkuStandard)
	checkEnum(l, "sku.tier", p.SKU.Tier, PublicIPTierRegion, PublicIPTierGlobal)
	pr := &p.Properties
	checkEnum(l, "properties.publicIPAllocationMethod", pr.PublicIPAllocationMethod, AllocationStatic, AllocationDynamic)
	checkEnum(l, "properties.publicIPAddressVersion", pr.PublicIPAddressVersion, IPv4, IPv6)
	if p.SKU.Tier == PublicIPTierGlobal && p.SKU.Name != PublicIPSkuStandard {
		l.addf(CodeInvalidParameter, "sku.tier", "The Global tier needs the Standard SKU.")
	}
	if p.SKU.Name == PublicIPSkuStandard && pr.PublicIPAllocationMethod == AllocationDynamic {
		l.addf(CodeInvalidParameter, "properties.publicIPAllocationMethod",
			"A Standard SKU public IP address must use the Static allocation method; Dynamic is only for the Basic SKU.")
	}
	if pr.IdleTimeoutInMinutes < 4 || pr.IdleTimeoutInMinutes > 30 {
		l.addf(CodeInvalidParameter, "properties.idleTimeoutInMinutes", "idleTimeoutInMinutes must be 4 to 30; got %d.", pr.IdleTimeoutInMinutes)
	}
	for i, z := range p.Zones {
		t := fmt.Sprintf("zones[%d]", i)
		if !oneOf(z, "1", "2", "3") {
			l.addf(CodeInvalidParameter, t, "Availability zone %q is not valid; zones are \"1\", \"2\" and \"3\".", z)
		}
		if slices.Contains(p.Zones[:i], z) {
			l.addf(CodeInvalidParameter, t, "Availability zone %q is listed twice.", z)
		}
	}
	if len(p.Zones) > 0 && p.SKU.Name == PublicIPSkuBasic {
		l.addf(CodeInvalidParameter, "zones", "A Basic SKU public IP address cannot be zonal; use the Standard SKU.")
	}
	if d := pr.DNSSettings; d != nil {
		if d.DomainNameLabel != "" && !validDNSLabel(d.DomainNameLabel) {
			l.addf(CodeInvalidParameter, "properties.dnsSettings.domainNameLabel",
				"Domain name label %q is invalid: use 3 to 63 lower-case letters, digits and hyphens, starting with a letter and ending with a letter or digit.", d.DomainNameLabel)
		}
		if d.ReverseFqdn != "" && !validDNSName(d.ReverseFqdn) {
			l.addf(CodeInvalidParameter, "properties.dnsSettings.reverseFqdn", "reverseFqdn %q is not a valid DNS name.", d.ReverseFqdn)
		}
	}
}

func validDNSLabel(s string) bool {
	if len(s) < 3 || len(s) > 63 || !(s[0] >= 'a' && s[0] <= 'z') || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// vpnClientConfigured reports whether a gateway has point-to-site settings.
func vpnClientConfigured(g *VirtualNetworkGateway) bool {
	c := g.Properties.VpnClientConfiguration
	return c != nil && !vpnClientEmpty(c)
}

func validateGateway(l *errList, g *VirtualNetworkGateway) {
	pr := &g.Properties
	switch pr.GatewayType {
	case GatewayTypeVpn, GatewayTypeExpressRoute:
	case GatewayTypeLocalGateway:
		l.addf(CodeInvalidParameter, "properties.gatewayType", "gatewayType LocalGateway is not supported by vpngw; use Vpn.")
	default:
		l.add(enumError("properties.gatewayType", pr.GatewayType, GatewayTypeVpn, GatewayTypeExpressRoute))
	}
	isVpn := pr.GatewayType == GatewayTypeVpn
	if isVpn {
		checkEnum(l, "properties.vpnType", pr.VpnType, VpnTypeRouteBased, VpnTypePolicyBased)
	} else if pr.VpnType == VpnTypePolicyBased {
		l.addf(CodeInvalidParameter, "properties.vpnType", "vpnType PolicyBased applies to Vpn gateways only.")
	}
	sku, skuOK := validateGatewaySku(l, g)
	policy := pr.VpnType == VpnTypePolicyBased
	p2s := vpnClientConfigured(g)

	// ipConfigurations.
	const ipt = "properties.ipConfigurations"
	want := 1
	if pr.ActiveActive {
		want = 2
		if p2s {
			want = 3
		}
	}
	switch {
	case len(pr.IPConfigurations) == 0:
		l.addf(CodeMissingParameter, ipt, "A gateway needs an ipConfiguration that references the virtual network's GatewaySubnet and a public IP address.")
	case len(pr.IPConfigurations) != want && pr.ActiveActive && p2s:
		l.addf(CodeActiveActiveInvalid, ipt,
			"An active-active gateway with point-to-site needs three ipConfigurations, each with its own public IP address (the third serves P2S clients); got %d.", len(pr.IPConfigurations))
	case len(pr.IPConfigurations) != want && pr.ActiveActive:
		l.addf(CodeActiveActiveInvalid, ipt,
			"An active-active gateway needs exactly two ipConfigurations, one per instance, each with its own public IP address; got %d.", len(pr.IPConfigurations))
	case len(pr.IPConfigurations) != want:
		l.addf(CodeInvalidParameter, ipt,
			"An active-standby gateway has exactly one ipConfiguration; got %d. Set activeActive to true to use two.", len(pr.IPConfigurations))
	}
	var subnetKey string
	for i := range pr.IPConfigurations {
		c := &pr.IPConfigurations[i]
		t := fmt.Sprintf("%s[%d]", ipt, i)
		if c.Name == "" {
			l.addf(CodeMissingParameter, t+".name", "Every ipConfiguration needs a name.")
		} else {
			l.add(validateName(TypeIPConfigurations, c.Name, t+".name"))
			for j := range i {
				if strings.EqualFold(pr.IPConfigurations[j].Name, c.Name) {
					l.addf(CodeInvalidParameter, t+".name", "ipConfiguration name %q is used twice.", c.Name)
				}
			}
		}
		checkEnum(l, t+".properties.privateIPAllocationMethod", c.Properties.PrivateIPAllocationMethod, AllocationStatic, AllocationDynamic)
		st := t + ".properties.subnet.id"
		if c.Properties.Subnet == nil || c.Properties.Subnet.ID == "" {
			l.addf(CodeMissingParameter, st, "The ipConfiguration must reference the virtual network's subnet named GatewaySubnet (properties.subnet.id).")
		} else if id, err := ParseID(c.Properties.Subnet.ID, st); err != nil {
			l.addAll(err)
		} else if id.Type != TypeVirtualNetworks || id.Child != TypeSubnets {
			l.addf(CodeGatewaySubnet, st, "%q is not a subnet ID; reference the virtual network's GatewaySubnet: .../virtualNetworks/{vnet}/subnets/GatewaySubnet.", c.Properties.Subnet.ID)
		} else if !strings.EqualFold(id.ChildName, GatewaySubnetName) {
			l.addf(CodeGatewaySubnet, st, "A gateway must be deployed in the subnet named exactly GatewaySubnet; subnet %q cannot host a gateway.", id.ChildName)
		} else if subnetKey == "" {
			subnetKey = id.Key()
		} else if subnetKey != id.Key() {
			l.addf(CodeGatewaySubnet, st, "All ipConfigurations of a gateway must use the same GatewaySubnet; %s differs from the first one.", c.Properties.Subnet.ID)
		}
		pt := t + ".properties.publicIPAddress.id"
		if c.Properties.PublicIPAddress == nil || c.Properties.PublicIPAddress.ID == "" {
			if isVpn {
				l.addf(CodeMissingParameter, pt, "A VPN gateway's ipConfiguration needs a public IP address (properties.publicIPAddress.id).")
			}
		} else if id, err := ParseID(c.Properties.PublicIPAddress.ID, pt); err != nil {
			l.addAll(err)
		} else if id.Type != TypePublicIPAddresses || id.Child != "" {
			l.addf(CodeInvalidParameter, pt, "%q is not a public IP address ID.", c.Properties.PublicIPAddress.ID)
		} else {
			for j := range i {
				if o := pr.IPConfigurations[j].Properties.PublicIPAddress; o != nil && sameID(o.ID, c.Properties.PublicIPAddress.ID) {
					code := CodeInvalidPublicIPAddress
					if pr.ActiveActive {
						code = CodeActiveActiveInvalid
					}
					l.addf(code, pt, "Each ipConfiguration needs its own public IP address; %s is already used by ipConfiguration %q.", id.Name, pr.IPConfigurations[j].Name)
				}
			}
		}
	}

	// Features against vpnType and SKU.
	if policy {
		if skuOK && sku.Name != "Basic" {
			l.addf(CodePolicyBasedLimit, "properties.sku.name", "A PolicyBased gateway is available only with the Basic SKU; %s needs vpnType RouteBased.", sku.Name)
		}
		if pr.EnableBgp {
			l.addf(CodePolicyBasedLimit, "properties.enableBgp", "BGP is not supported on a PolicyBased gateway; use vpnType RouteBased.")
		}
		if pr.ActiveActive {
			l.addf(CodePolicyBasedLimit, "properties.activeActive", "Active-active is not supported on a PolicyBased gateway; use vpnType RouteBased.")
		}
		if p2s {
			l.addf(CodePolicyBasedLimit, "properties.vpnClientConfiguration", "Point-to-site is not supported on a PolicyBased gateway; P2S needs vpnType RouteBased.")
		}
	}
	if skuOK && isVpn && !policy {
		if pr.EnableBgp && !sku.BGP {
			l.addf(CodeBgpNotSupported, "properties.enableBgp", "BGP is not supported on the %s SKU; use VpnGw1 or larger.", sku.Name)
		}
		if pr.ActiveActive && !sku.ActiveActive {
			l.addf(CodeActiveActiveInvalid, "properties.activeActive", "Active-active is not supported on the %s SKU; use VpnGw1 or larger.", sku.Name)
		}
	}
	if !isVpn {
		if p2s {
			l.addf(CodeVpnClientConfiguration, "properties.vpnClientConfiguration", "Point-to-site is configured on Vpn gateways only, not on %s gateways.", pr.GatewayType)
		}
		if pr.ActiveActive {
			l.addf(CodeActiveActiveInvalid, "properties.activeActive", "activeActive applies to Vpn gateways only.")
		}
	}

	// BGP settings.
	if b := pr.BgpSettings; b != nil {
		l.add(validateASN(b.ASN, true, "properties.bgpSettings.asn"))
		if b.PeerWeight < 0 {
			l.addf(CodeInvalidParameter, "properties.bgpSettings.peerWeight", "peerWeight must not be negative.")
		}
		total := 0
		for i, a := range b.BgpPeeringAddresses {
			t := fmt.Sprintf("properties.bgpSettings.bgpPeeringAddresses[%d]", i)
			name, ok := ipConfigNameFromID(a.IPConfigurationID)
			switch {
			case a.IPConfigurationID == "":
				l.addf(CodeMissingParameter, t+".ipconfigurationId", "Each bgpPeeringAddresses entry needs ipconfigurationId, the ID of one of the gateway's ipConfigurations.")
			case !ok || !hasIPConfig(pr.IPConfigurations, name):
				l.addf(CodeInvalidParameter, t+".ipconfigurationId", "ipconfigurationId %q does not name one of this gateway's ipConfigurations.", a.IPConfigurationID)
			}
			for j := range i {
				if sameID(b.BgpPeeringAddresses[j].IPConfigurationID, a.IPConfigurationID) {
					l.addf(CodeInvalidParameter, t+".ipconfigurationId", "ipConfiguration %q is listed twice in bgpPeeringAddresses.", name)
				}
			}
			for k, s := range a.CustomBgpIPAddresses {
				total++
				ct := fmt.Sprintf("%s.customBgpIpAddresses[%d]", t, k)
				ip, e := parseAddr(s, ct, "Custom BGP address")
				if e != nil {
					l.add(e)
					continue
				}
				if !apipaBgpRange.Contains(ip) && !apipaBgpRange2.Contains(ip) {
					l.addf(CodeInvalidParameter, ct, "Custom BGP address %s must be an APIPA address in 169.254.21.0 - 169.254.22.255.", ip)
				}
			}
		}
		if total > MaxCustomBgpAddresses {
			l.addf(CodeLimitExceeded, "properties.bgpSettings.bgpPeeringAddresses", "A gateway can have at most %d custom APIPA BGP addresses; got %d.", MaxCustomBgpAddresses, total)
		}
		if total > 0 && !isVpn {
			l.addf(CodeInvalidParameter, "properties.bgpSettings.bgpPeeringAddresses", "Custom BGP addresses apply to Vpn gateways only.")
		}
	}
	if s := pr.GatewayDefaultSite; s != nil && s.ID != "" {
		t := "properties.gatewayDefaultSite.id"
		if id, err := ParseID(s.ID, t); err != nil {
			l.addAll(err)
		} else if id.Type != TypeLocalNetworkGateways || id.Child != "" {
			l.addf(CodeInvalidParameter, t, "gatewayDefaultSite must reference a local network gateway; %q is not one.", s.ID)
		}
		if policy {
			l.addf(CodePolicyBasedLimit, t, "Forced tunnelling (gatewayDefaultSite) needs a RouteBased gateway.")
		}
	}
	if r := pr.CustomRoutes; r != nil {
		parsePrefixList(l, r.AddressPrefixes, "properties.customRoutes.addressPrefixes")
	}
	if p2s {
		validateVpnClient(l, g, sku, skuOK)
	}
}

// ipConfigNameFromID extracts the ipConfiguration name from its ID.
func ipConfigNameFromID(s string) (string, bool) {
	id, err := ParseID(s, "")
	if err != nil || id.Child != TypeIPConfigurations {
		return "", false
	}
	return id.ChildName, true
}

// validateGatewaySku checks sku, tier and generation against gatewayType.
func validateGatewaySku(l *errList, g *VirtualNetworkGateway) (SKU, bool) {
	pr := &g.Properties
	const t = "properties.sku.name"
	isVpn := pr.GatewayType == GatewayTypeVpn
	if pr.SKU.Name == "" {
		l.addf(CodeMissingParameter, t, "Property 'properties.sku.name' is required; VPN SKUs: %s.", strings.Join(SKUNames(GatewayTypeVpn), ", "))
		return SKU{}, false
	}
	if isVpn && RetiredVpnSKU(pr.SKU.Name) {
		l.addf(CodeInvalidGatewaySku, t,
			"The legacy VPN gateway SKU %s is retired (30 September 2025) and cannot be used; choose one of %s.",
			pr.SKU.Name, strings.Join(SKUNames(GatewayTypeVpn), ", "))
		return SKU{}, false
	}
	sku, ok := LookupSKU(pr.SKU.Name)
	if !ok {
		names := SKUNames(pr.GatewayType)
		if len(names) == 0 {
			names = SKUNames(GatewayTypeVpn)
		}
		l.addf(CodeInvalidGatewaySku, t, "Gateway SKU %q does not exist; choose one of %s.", pr.SKU.Name, strings.Join(names, ", "))
		return SKU{}, false
	}
	if pr.SKU.Tier != sku.Name {
		l.addf(CodeInvalidGatewaySku, "properties.sku.tier", "sku.tier must equal sku.name (%s); got %q.", sku.Name, pr.SKU.Tier)
	}
	if (pr.GatewayType == GatewayTypeVpn || pr.GatewayType == GatewayTypeExpressRoute) && sku.GatewayType != pr.GatewayType {
		if sku.GatewayType == GatewayTypeExpressRoute {
			l.addf(CodeInvalidGatewaySku, t, "%s is an ExpressRoute SKU; it needs gatewayType ExpressRoute. VPN SKUs: %s.", sku.Name, strings.Join(SKUNames(GatewayTypeVpn), ", "))
		} else {
			l.addf(CodeInvalidGatewaySku, t, "%s is a VPN SKU; an ExpressRoute gateway needs one of %s.", sku.Name, strings.Join(SKUNames(GatewayTypeExpressRoute), ", "))
		}
		return sku, false
	}
	const gt = "properties.vpnGatewayGeneration"
	switch {
	case !isVpn && pr.VpnGatewayGeneration != GenerationNone:
		l.addf(CodeInvalidGatewaySku, gt, "vpnGatewayGeneration must be None for a %s gateway; got %q.", pr.GatewayType, pr.VpnGatewayGeneration)
	case isVpn && !oneOf(pr.VpnGatewayGeneration, Generation1, Generation2):
		l.add(enumError(gt, pr.VpnGatewayGeneration, Generation1, Generation2))
	}
	// Whether the SKU exists in the generation is checked by Resolve: on
	// update a mismatch is a resize across generations, with its own code.
	return sku, true
}

func validateVpnClient(l *errList, g *VirtualNetworkGateway, sku SKU, skuOK bool) {
	const t = "properties.vpnClientConfiguration"
	c := g.Properties.VpnClientConfiguration
	pt := t + ".vpnClientAddressPool.addressPrefixes"
	if c.VpnClientAddressPool == nil || len(c.VpnClientAddressPool.AddressPrefixes) == 0 {
		l.addf(CodeMissingParameter, pt, "Point-to-site needs a client address pool (vpnClientAddressPool.addressPrefixes), a private range such as 172.16.201.0/24.")
	} else {
		pool := parsePrefixList(l, c.VpnClientAddressPool.AddressPrefixes, pt)
		for i, p := range pool {
			et := fmt.Sprintf("%s[%d]", pt, i)
			if !p.Addr().IsPrivate() {
				l.addf(CodeVpnClientConfiguration, et, "Client address pool %s is not a private range; use RFC 1918 (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) or IPv6 ULA space.", p)
			}
			limit, where := MinClientPoolBits, ""
			if g.Properties.ActiveActive {
				limit, where = MinClientPoolBitsActiveActive, " on an active-active gateway"
			}
			if p.Addr().Is4() && p.Bits() > limit {
				l.addf(CodeVpnClientConfiguration, et, "Client address pool %s is too small: it must be /%d or larger%s.", p, limit, where)
			}
			for _, q := range pool[:i] {
				if p.Overlaps(q) {
					l.addf(CodeAddressOverlap, et, "Client address pool prefixes %s and %s overlap.", q, p)
				}
			}
		}
	}
	protos := c.VpnClientProtocols
	for i, p := range protos {
		et := fmt.Sprintf("%s.vpnClientProtocols[%d]", t, i)
		checkEnum(l, et, p, VpnClientIkeV2, VpnClientSSTP, VpnClientOpenVPN)
		if slices.Contains(protos[:i], p) {
			l.addf(CodeVpnClientConfiguration, et, "Protocol %s is listed twice.", p)
		}
	}
	if slices.Contains(protos, VpnClientSSTP) && slices.Contains(protos, VpnClientOpenVPN) {
		l.addf(CodeVpnClientConfiguration, t+".vpnClientProtocols", "SSTP and OpenVPN cannot be enabled together; choose IkeV2 with one of them.")
	}
	auth := c.VpnAuthenticationTypes
	for i, a := range auth {
		et := fmt.Sprintf("%s.vpnAuthenticationTypes[%d]", t, i)
		checkEnum(l, et, a, AuthCertificate, AuthRadius, AuthAAD)
		if slices.Contains(auth[:i], a) {
			l.addf(CodeVpnClientConfiguration, et, "Authentication type %s is listed twice.", a)
		}
	}
	// Without vpnAuthenticationTypes (2018 API) the types follow from the
	// fields present.
	radius := slices.Contains(auth, AuthRadius) || len(auth) == 0 && (c.RadiusServerAddress != "" || len(c.RadiusServers) > 0)
	aad := slices.Contains(auth, AuthAAD) || len(auth) == 0 && (c.AadTenant != "" || c.AadAudience != "" || c.AadIssuer != "")
	if slices.Contains(auth, AuthCertificate) && len(c.VpnClientRootCertificates) == 0 {
		l.addf(CodeMissingParameter, t+".vpnClientRootCertificates", "Certificate authentication needs at least one root certificate (vpnClientRootCertificates).")
	}
	if len(c.VpnClientRootCertificates) > MaxRootCertificates {
		l.addf(CodeLimitExceeded, t+".vpnClientRootCertificates", "A gateway can have at most %d root certificates; got %d.", MaxRootCertificates, len(c.VpnClientRootCertificates))
	}
	for i := range c.VpnClientRootCertificates {
		r := &c.VpnClientRootCertificates[i]
		et := fmt.Sprintf("%s.vpnClientRootCertificates[%d]", t, i)
		if r.Name == "" {
			l.addf(CodeMissingParameter, et+".name", "Every root certificate needs a name.")
		} else {
			l.add(validateName(TypeVirtualNetworkGateways, r.Name, et+".name"))
			for j := range i {
				if strings.EqualFold(c.VpnClientRootCertificates[j].Name, r.Name) {
					l.addf(CodeVpnClientConfiguration, et+".name", "Root certificate name %q is used twice.", r.Name)
				}
			}
		}
		if e := checkCertData(r.Properties.PublicCertData, et+".properties.publicCertData"); e != nil {
			l.add(e)
		}
	}
	if len(c.VpnClientRevokedCertificates) > MaxRevokedCertificates {
		l.addf(CodeLimitExceeded, t+".vpnClientRevokedCertificates", "A gateway can have at most %d revoked certificates; got %d.", MaxRevokedCertificates, len(c.VpnClientRevokedCertificates))
	}
	for i := range c.VpnClientRevokedCertificates {
		r := &c.VpnClientRevokedCertificates[i]
		et := fmt.Sprintf("%s.vpnClientRevokedCertificates[%d]", t, i)
		if r.Name == "" {
			l.addf(CodeMissingParameter, et+".name", "Every revoked certificate entry needs a name.")
		} else {
			l.add(validateName(TypeVirtualNetworkGateways, r.Name, et+".name"))
		}
		tp := r.Properties.Thumbprint
		if b, err := hex.DecodeString(tp); err != nil || len(b) != 20 {
			l.addf(CodeVpnClientConfiguration, et+".properties.thumbprint", "Thumbprint %q is invalid: it must be the certificate's SHA-1 thumbprint, 40 hexadecimal digits.", tp)
		}
		for j := range i {
			if c.VpnClientRevokedCertificates[j].Properties.Thumbprint == tp {
				l.addf(CodeVpnClientConfiguration, et+".properties.thumbprint", "Thumbprint %s is listed twice.", tp)
			}
		}
	}
	if radius {
		if c.RadiusServerAddress == "" && len(c.RadiusServers) == 0 {
			l.addf(CodeMissingParameter, t+".radiusServerAddress", "RADIUS authentication needs radiusServerAddress and radiusServerSecret, or radiusServers.")
		}
		if c.RadiusServerAddress != "" {
			if _, e := parseAddr(c.RadiusServerAddress, t+".radiusServerAddress", "RADIUS server address"); e != nil {
				l.add(e)
			}
			if c.RadiusServerSecret == "" {
				l.addf(CodeMissingParameter, t+".radiusServerSecret", "radiusServerSecret is required with radiusServerAddress.")
			}
		}
		for i, s := range c.RadiusServers {
			et := fmt.Sprintf("%s.radiusServers[%d]", t, i)
			if _, e := parseAddr(s.RadiusServerAddress, et+".radiusServerAddress", "RADIUS server address"); e != nil {
				l.add(e)
			}
			if s.RadiusServerSecret == "" {
				l.addf(CodeMissingParameter, et+".radiusServerSecret", "Every RADIUS server needs radiusServerSecret.")
			}
			if s.RadiusServerScore < 0 {
				l.addf(CodeInvalidParameter, et+".radiusServerScore", "radiusServerScore must not be negative.")
			}
		}
	}
	if aad {
		for _, f := range []struct{ name, v string }{{"aadTenant", c.AadTenant}, {"aadAudience", c.AadAudience}, {"aadIssuer", c.AadIssuer}} {
			if f.v == "" {
				l.addf(CodeMissingParameter, t+"."+f.name, "Azure AD (Entra ID) authentication needs aadTenant, aadAudience and aadIssuer; %s is missing.", f.name)
			}
		}
		for _, f := range []struct{ name, v string }{{"aadTenant", c.AadTenant}, {"aadIssuer", c.AadIssuer}} {
			if u, err := url.Parse(f.v); f.v != "" && (err != nil || u.Scheme != "https" || u.Host == "") {
				l.addf(CodeVpnClientConfiguration, t+"."+f.name, "%s %q must be an https URL, such as https://login.microsoftonline.com/{tenantId}/.", f.name, f.v)
			}
		}
		if !slices.Contains(protos, VpnClientOpenVPN) {
			l.addf(CodeVpnClientConfiguration, t+".vpnClientProtocols", "Azure AD authentication works only with the OpenVPN protocol; add OpenVPN to vpnClientProtocols.")
		}
	}
	for i := range c.VpnClientIpsecPolicies {
		validateIpsecPolicy(l, &c.VpnClientIpsecPolicies[i], fmt.Sprintf("%s.vpnClientIpsecPolicies[%d]", t, i))
	}
	if skuOK && sku.Name == "Basic" {
		for _, p := range protos {
			if p != VpnClientSSTP {
				l.addf(CodeVpnClientConfiguration, t+".vpnClientProtocols", "The Basic SKU supports only SSTP for point-to-site; %s needs VpnGw1 or larger.", p)
			}
		}
		if radius {
			l.addf(CodeVpnClientConfiguration, t+".vpnAuthenticationTypes", "RADIUS authentication is not supported on the Basic SKU; use VpnGw1 or larger.")
		}
		if len(c.VpnClientIpsecPolicies) > 0 {
			l.addf(CodeVpnClientConfiguration, t+".vpnClientIpsecPolicies", "Custom point-to-site IPsec policies are not supported on the Basic SKU.")
		}
	}
}

// checkCertData checks a root certificate's publicCertData: the base64 body
// of a DER X.509 certificate, line breaks allowed, no PEM armour.
func checkCertData(data, target string) *Error {
	if data == "" {
		return Errorf(CodeMissingParameter, target, "publicCertData is required: the base64 body of the root certificate (.cer), without the BEGIN/END lines.")
	}
	if strings.Contains(data, "-----BEGIN") {
		return Errorf(CodeVpnClientConfiguration, target, "publicCertData must be only the base64 body of the certificate: remove the -----BEGIN CERTIFICATE----- and -----END CERTIFICATE----- lines.")
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(data), ""))
	if err != nil {
		return Errorf(CodeVpnClientConfiguration, target, "publicCertData is not valid base64: %v.", err)
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return Errorf(CodeVpnClientConfiguration, target, "publicCertData is not an X.509 certificate: %v.", err)
	}
	return nil
}

func validateLocalNetworkGateway(l *errList, lg *LocalNetworkGateway) {
	pr := &lg.Properties
	const t = "properties.localNetworkAddressSpace.addressPrefixes"
	list := pr.LocalNetworkAddressSpace.AddressPrefixes
	if len(list) == 0 && pr.BgpSettings == nil {
		l.addf(CodeMissingParameter, t, "A local network gateway needs the site's address prefixes, unless it has bgpSettings (then routes are learned over BGP).")
	}
	if len(list) > MaxLocalNetworkPrefixes {
		l.addf(CodeLimitExceeded, t, "A local network gateway can have at most %d address prefixes; got %d.", MaxLocalNetworkPrefixes, len(list))
	}
	ps := parsePrefixList(l, list, t)
	seen := make(map[netip.Prefix]bool, len(ps))
	for _, p := range ps {
		if seen[p] {
			l.addf(CodeInvalidParameter, t, "Address prefix %s is listed twice.", p)
		}
		seen[p] = true
	}
	var gwIP netip.Addr
	if pr.GatewayIPAddress != "" {
		a, e := parseAddr(pr.GatewayIPAddress, "properties.gatewayIpAddress", "gatewayIpAddress")
		switch {
		case e != nil:
			l.add(e)
		case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			l.addf(CodeInvalidLocalNetworkGw, "properties.gatewayIpAddress", "gatewayIpAddress %s is not a unicast address of a VPN device.", a)
		default:
			gwIP = a
		}
	}
	if pr.Fqdn != "" && !validDNSName(pr.Fqdn) {
		l.addf(CodeInvalidLocalNetworkGw, "properties.fqdn", "fqdn %q is not a valid DNS name.", pr.Fqdn)
	}
	if pr.GatewayIPAddress == "" && pr.Fqdn == "" {
		l.addf(CodeMissingParameter, "properties.gatewayIpAddress", "A local network gateway needs the VPN device's address: gatewayIpAddress or fqdn.")
	}
	if b := pr.BgpSettings; b != nil {
		l.add(validateASN(b.ASN, false, "properties.bgpSettings.asn"))
		bt := "properties.bgpSettings.bgpPeeringAddress"
		if b.BgpPeeringAddress == "" {
			l.addf(CodeMissingParameter, bt, "bgpSettings needs bgpPeeringAddress, the on-premises BGP speaker's IP address.")
		} else if a, e := parseAddr(b.BgpPeeringAddress, bt, "bgpPeeringAddress"); e != nil {
			l.add(e)
		} else if gwIP.IsValid() && a == gwIP {
			l.addf(CodeInvalidLocalNetworkGw, bt, "bgpPeeringAddress %s must not equal gatewayIpAddress: use the BGP speaker's own (for example loopback or APIPA) address.", a)
		}
		if b.PeerWeight < 0 {
			l.addf(CodeInvalidParameter, "properties.bgpSettings.peerWeight", "peerWeight must not be negative.")
		}
		if len(b.BgpPeeringAddresses) > 0 {
			l.addf(CodeInvalidParameter, "properties.bgpSettings.bgpPeeringAddresses", "bgpPeeringAddresses applies to virtual network gateways, not to local network gateways.")
		}
	}
}

func validateConnection(l *errList, c *Connection) {
	pr := &c.Properties
	switch pr.ConnectionType {
	case ConnectionTypeIPsec, ConnectionTypeVnet2Vnet:
	case ConnectionTypeExpressRoute, ConnectionTypeVPNClient:
		l.addf(CodeUnsupportedConnection, "properties.connectionType",
			"connectionType %s is not served by vpngw: it provides IPsec (site-to-site) and Vnet2Vnet connections only.", pr.ConnectionType)
		return
	default:
		l.add(enumError("properties.connectionType", pr.ConnectionType, ConnectionTypeIPsec, ConnectionTypeVnet2Vnet))
		return
	}
	ref := func(r *SubResource, field, typ string, required bool, why string) {
		t := "properties." + field + ".id"
		if r == nil || r.ID == "" {
			if required {
				l.addf(CodeMissingParameter, t, "%s", why)
			}
			return
		}
		if !required {
			l.addf(CodeInvalidConnectionTopology, "properties."+field, "%s", why)
			return
		}
		id, err := ParseID(r.ID, t)
		if err != nil {
			l.addAll(err)
			return
		}
		if id.Type != typ || id.Child != "" {
			l.addf(CodeInvalidParameter, t, "%q is not a %s ID.", r.ID, typ)
		}
	}
	ref(pr.VirtualNetworkGateway1, "virtualNetworkGateway1", TypeVirtualNetworkGateways, true,
		"A connection needs virtualNetworkGateway1, the Azure-side VPN gateway.")
	if pr.ConnectionType == ConnectionTypeIPsec {
		ref(pr.LocalNetworkGateway2, "localNetworkGateway2", TypeLocalNetworkGateways, true,
			"An IPsec connection needs localNetworkGateway2, the on-premises site.")
		ref(pr.VirtualNetworkGateway2, "virtualNetworkGateway2", TypeVirtualNetworkGateways, false,
			"An IPsec connection connects to a local network gateway; remove virtualNetworkGateway2 or use connectionType Vnet2Vnet.")
	} else {
		ref(pr.VirtualNetworkGateway2, "virtualNetworkGateway2", TypeVirtualNetworkGateways, true,
			"A Vnet2Vnet connection needs virtualNetworkGateway2, the peer VNet's VPN gateway.")
		ref(pr.LocalNetworkGateway2, "localNetworkGateway2", TypeLocalNetworkGateways, false,
			"A Vnet2Vnet connection connects two virtual network gateways; remove localNetworkGateway2 or use connectionType IPsec.")
		if pr.VirtualNetworkGateway1 != nil && pr.VirtualNetworkGateway2 != nil && pr.VirtualNetworkGateway2.ID != "" &&
			sameID(pr.VirtualNetworkGateway1.ID, pr.VirtualNetworkGateway2.ID) {
			l.addf(CodeInvalidConnectionTopology, "properties.virtualNetworkGateway2.id", "A Vnet2Vnet connection needs two different gateways; virtualNetworkGateway2 equals virtualNetworkGateway1.")
		}
	}
	if pr.ConnectionProtocol != "" {
		checkEnum(l, "properties.connectionProtocol", pr.ConnectionProtocol, ProtocolIKEv2, ProtocolIKEv1)
	}
	checkEnum(l, "properties.connectionMode", pr.ConnectionMode, ConnectionModeDefault, ConnectionModeInitiatorOnly, ConnectionModeResponderOnly)
	if pr.DpdTimeoutSeconds < MinDpdTimeoutSeconds || pr.DpdTimeoutSeconds > MaxDpdTimeoutSeconds {
		l.addf(CodeInvalidParameter, "properties.dpdTimeoutSeconds", "dpdTimeoutSeconds must be %d to %d seconds; got %d.", MinDpdTimeoutSeconds, MaxDpdTimeoutSeconds, pr.DpdTimeoutSeconds)
	}
	if pr.RoutingWeight < 0 || pr.RoutingWeight > MaxRoutingWeight {
		l.addf(CodeInvalidParameter, "properties.routingWeight", "routingWeight must be 0 to %d; got %d.", MaxRoutingWeight, pr.RoutingWeight)
	}
	l.add(validateSharedKey(pr.SharedKey, "properties.sharedKey"))
	if len(pr.IpsecPolicies) > 1 {
		l.addf(CodeInvalidIpsecPolicy, "properties.ipsecPolicies", "A connection can have at most one IPsec policy; got %d.", len(pr.IpsecPolicies))
	}
	for i := range pr.IpsecPolicies {
		validateIpsecPolicy(l, &pr.IpsecPolicies[i], fmt.Sprintf("properties.ipsecPolicies[%d]", i))
	}
	if pr.UsePolicyBasedTrafficSelectors && len(pr.IpsecPolicies) == 0 {
		l.addf(CodeInvalidIpsecPolicy, "properties.usePolicyBasedTrafficSelectors",
			"usePolicyBasedTrafficSelectors needs a custom IPsec policy: add one to ipsecPolicies.")
	}
	if len(pr.TrafficSelectorPolicies) > MaxTrafficSelectors {
		l.addf(CodeLimitExceeded, "properties.trafficSelectorPolicies", "A gateway can have at most %d traffic selector policies; this connection has %d.", MaxTrafficSelectors, len(pr.TrafficSelectorPolicies))
	}
	for i, ts := range pr.TrafficSelectorPolicies {
		t := fmt.Sprintf("properties.trafficSelectorPolicies[%d]", i)
		if len(ts.LocalAddressRanges) == 0 {
			l.addf(CodeInvalidTrafficSelector, t+".localAddressRanges", "A traffic selector policy needs localAddressRanges (Azure-side prefixes).")
		}
		if len(ts.RemoteAddressRanges) == 0 {
			l.addf(CodeInvalidTrafficSelector, t+".remoteAddressRanges", "A traffic selector policy needs remoteAddressRanges (on-premises prefixes).")
		}
		parsePrefixList(l, ts.LocalAddressRanges, t+".localAddressRanges")
		parsePrefixList(l, ts.RemoteAddressRanges, t+".remoteAddressRanges")
	}
}
