package resource

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/vpngw/vpngw/internal/netx"
)

// Gateway limits (reference §1.4, §2.5).
const (
	GatewayCapacity         = 2 // instances per gateway
	MaxCustomBgpAddresses   = 32
	MaxVnetPrefixesPerVpnGw = 600
	MinGatewaySubnetBits    = 29 // GatewaySubnet /29 or larger
	CoexistGatewaySubnetBit = 27 // /27 or larger when Vpn and ExpressRoute share it
	GatewaySubnetName       = "GatewaySubnet"
)

// VirtualNetworkGateway is a virtual network gateway
// (Microsoft.Network/virtualNetworkGateways).
type VirtualNetworkGateway struct {
	Envelope
	// Properties holds the gateway's properties.
	Properties VirtualNetworkGatewayProperties `json:"properties"`
}

// VirtualNetworkGatewayProperties are a gateway's properties.
type VirtualNetworkGatewayProperties struct {
	// IPConfigurations: one for active-standby, two for active-active,
	// three for active-active with point-to-site.
	IPConfigurations []VirtualNetworkGatewayIPConfiguration `json:"ipConfigurations"`
	// GatewayType is Vpn (default) or ExpressRoute. Immutable.
	GatewayType string `json:"gatewayType"`
	// VpnType is RouteBased (default) or PolicyBased. Immutable.
	VpnType string `json:"vpnType,omitempty"`
	// VpnGatewayGeneration is Generation1, Generation2 or None
	// (ExpressRoute). Default: Generation1 where the SKU allows it, else
	// Generation2. Immutable.
	VpnGatewayGeneration string `json:"vpnGatewayGeneration,omitempty"`
	// EnableBgp enables BGP (not on Basic or PolicyBased).
	EnableBgp bool `json:"enableBgp"`
	// ActiveActive runs both instances active (not on Basic or
	// PolicyBased); needs two ipConfigurations.
	ActiveActive bool `json:"activeActive"`
	// EnablePrivateIPAddress lets connections use the private IP.
	EnablePrivateIPAddress bool `json:"enablePrivateIpAddress"`
	// DisableIPSecReplayProtection turns off ESP anti-replay.
	DisableIPSecReplayProtection bool `json:"disableIPSecReplayProtection"`
	// GatewayDefaultSite is the local network gateway for forced tunnelling.
	GatewayDefaultSite *SubResource `json:"gatewayDefaultSite,omitempty"`
	// SKU is the gateway SKU (see LookupSKU).
	SKU VirtualNetworkGatewaySku `json:"sku"`
	// VpnClientConfiguration is the point-to-site configuration.
	VpnClientConfiguration *VpnClientConfiguration `json:"vpnClientConfiguration,omitempty"`
	// BgpSettings holds the gateway's ASN (default 65515); the peering
	// addresses are read-only and computed.
	BgpSettings *BgpSettings `json:"bgpSettings,omitempty"`
	// CustomRoutes are extra prefixes advertised to point-to-site clients.
	CustomRoutes *AddressSpace `json:"customRoutes,omitempty"`
	// ResourceGUID is read-only, assigned on create.
	ResourceGUID string `json:"resourceGuid,omitempty"`
	// ProvisioningState is read-only.
	ProvisioningState string `json:"provisioningState,omitempty"`
}

// VirtualNetworkGatewaySku is a gateway's SKU.
type VirtualNetworkGatewaySku struct {
	// Name is the SKU name (Basic, VpnGw1..5, VpnGw1AZ..5AZ, ExpressRoute SKUs).
	Name string `json:"name"`
	// Tier equals Name (set from it when omitted).
	Tier string `json:"tier,omitempty"`
	// Capacity is read-only: the number of instances (2).
	Capacity int `json:"capacity,omitempty"`
}

// VirtualNetworkGatewayIPConfiguration is one of a gateway's IP
// configurations (one per instance, plus one for active-active P2S).
type VirtualNetworkGatewayIPConfiguration struct {
	// ID is read-only: .../virtualNetworkGateways/{gw}/ipConfigurations/{name}.
	ID string `json:"id,omitempty"`
	// Name is unique within the gateway; defaults "default", "activeActive".
	Name string `json:"name,omitempty"`
	// Etag is read-only.
	Etag string `json:"etag,omitempty"`
	// Properties holds the configuration's properties.
	Properties VirtualNetworkGatewayIPConfigurationProperties `json:"properties"`
}

// VirtualNetworkGatewayIPConfigurationProperties are an ipConfiguration's
// properties.
type VirtualNetworkGatewayIPConfigurationProperties struct {
	// PrivateIPAllocationMethod is Static or Dynamic (default Dynamic).
	PrivateIPAllocationMethod string `json:"privateIPAllocationMethod,omitempty"`
	// Subnet is the VNet's GatewaySubnet.
	Subnet *SubResource `json:"subnet,omitempty"`
	// PublicIPAddress is the instance's public IP.
	PublicIPAddress *SubResource `json:"publicIPAddress,omitempty"`
	// PrivateIPAddress is read-only: the instance's address in GatewaySubnet.
	PrivateIPAddress string `json:"privateIPAddress,omitempty"`
	// ProvisioningState is read-only.
	ProvisioningState string `json:"provisioningState,omitempty"`
}

// BgpSettings are BGP settings of a gateway or a local network gateway.
type BgpSettings struct {
	// ASN is the autonomous system number (1..4294967295, not reserved).
	ASN int64 `json:"asn"`
	// BgpPeeringAddress is the BGP speaker's address: set by the user on a
	// local network gateway, read-only and computed on a gateway (two
	// comma-separated addresses when active-active).
	BgpPeeringAddress string `json:"bgpPeeringAddress,omitempty"`
	// PeerWeight is the weight added to routes learned from this peer.
	PeerWeight int32 `json:"peerWeight"`
	// BgpPeeringAddresses are per-ipConfiguration addresses (gateway only).
	BgpPeeringAddresses []IPConfigurationBgpPeeringAddress `json:"bgpPeeringAddresses,omitempty"`
	// FastTimers (vpngw extension, gateway only) gives the instances'
	// sessions a 9 s hold time and 3 s keepalives instead of Azure's
	// 180 s / 60 s, so a dead peer is noticed in seconds (Azure has no
	// BFD). The peers must accept a 9 s hold time.
	FastTimers bool `json:"fastTimers,omitempty"`
	// GracefulRestart (vpngw extension, gateway only) announces the BGP
	// graceful restart capability (RFC 4724) to every peer.
	GracefulRestart bool `json:"gracefulRestart,omitempty"`
}

// IPConfigurationBgpPeeringAddress are the BGP addresses of one gateway
// ipConfiguration.
type IPConfigurationBgpPeeringAddress struct {
	// IPConfigurationID is the ID of one of the gateway's ipConfigurations.
	IPConfigurationID string `json:"ipconfigurationId,omitempty"`
	// DefaultBgpIPAddresses is read-only: the instance's GatewaySubnet address.
	DefaultBgpIPAddresses []string `json:"defaultBgpIpAddresses,omitempty"`
	// CustomBgpIPAddresses are APIPA addresses (169.254.21.0-169.254.22.255).
	CustomBgpIPAddresses []string `json:"customBgpIpAddresses,omitempty"`
	// TunnelIPAddresses is read-only: the instance's public IP.
	TunnelIPAddresses []string `json:"tunnelIpAddresses,omitempty"`
}

// Meta returns the envelope.
func (g *VirtualNetworkGateway) Meta() *Envelope { return &g.Envelope }

// ProvisioningState returns properties.provisioningState.
func (g *VirtualNetworkGateway) ProvisioningState() string { return g.Properties.ProvisioningState }

// SetProvisioningState sets properties.provisioningState of the gateway and
// of its ipConfigurations.
func (g *VirtualNetworkGateway) SetProvisioningState(s string) {
	g.Properties.ProvisioningState = s
	for i := range g.Properties.IPConfigurations {
		g.Properties.IPConfigurations[i].Properties.ProvisioningState = s
	}
}

func prepareGateway(g, old *VirtualNetworkGateway, rnd io.Reader) error {
	pr := &g.Properties
	var op *VirtualNetworkGatewayProperties
	if old != nil {
		op = &old.Properties
	}
	pr.GatewayType = canonical(pr.GatewayType, GatewayTypeVpn, GatewayTypeExpressRoute, GatewayTypeLocalGateway)
	if pr.GatewayType == "" {
		pr.GatewayType = GatewayTypeVpn
		if op != nil {
			pr.GatewayType = op.GatewayType
		}
	}
	pr.VpnType = canonical(pr.VpnType, VpnTypeRouteBased, VpnTypePolicyBased)
	if pr.VpnType == "" {
		if op != nil {
			pr.VpnType = op.VpnType
		} else if pr.GatewayType == GatewayTypeVpn {
			pr.VpnType = VpnTypeRouteBased
		}
	}
	sku, known := LookupSKU(pr.SKU.Name)
	if known {
		pr.SKU.Name = sku.Name
	}
	if pr.SKU.Tier == "" {
		pr.SKU.Tier = pr.SKU.Name
	} else if t, ok := LookupSKU(pr.SKU.Tier); ok {
		pr.SKU.Tier = t.Name
	}
	pr.SKU.Capacity = GatewayCapacity
	pr.VpnGatewayGeneration = canonical(pr.VpnGatewayGeneration, Generation1, Generation2, GenerationNone)
	if pr.VpnGatewayGeneration == "" {
		switch {
		case op != nil && op.VpnGatewayGeneration != "":
			pr.VpnGatewayGeneration = op.VpnGatewayGeneration
		case pr.GatewayType != GatewayTypeVpn:
			pr.VpnGatewayGeneration = GenerationNone
		case known && sku.GatewayType == GatewayTypeVpn:
			pr.VpnGatewayGeneration = sku.DefaultGeneration()
		}
	}
	if pr.IPConfigurations == nil {
		pr.IPConfigurations = []VirtualNetworkGatewayIPConfiguration{}
	}
	defaultNames := []string{"default", "activeActive", "p2s"}
	for i := range pr.IPConfigurations {
		c := &pr.IPConfigurations[i]
		if c.Name == "" && i < len(defaultNames) && !hasIPConfig(pr.IPConfigurations, defaultNames[i]) {
			c.Name = defaultNames[i]
		}
		c.Properties.PrivateIPAllocationMethod = canonical(c.Properties.PrivateIPAllocationMethod, AllocationStatic, AllocationDynamic)
		if c.Properties.PrivateIPAllocationMethod == "" {
			c.Properties.PrivateIPAllocationMethod = AllocationDynamic
		}
		// Read-only, computed by Resolve; keep the stored values meanwhile.
		c.Etag, c.Properties.PrivateIPAddress, c.Properties.ProvisioningState = "", "", ""
		if op != nil {
			for _, oc := range op.IPConfigurations {
				if strings.EqualFold(oc.Name, c.Name) {
					c.Etag, c.Properties.PrivateIPAddress = oc.Etag, oc.Properties.PrivateIPAddress
					c.Properties.ProvisioningState = oc.Properties.ProvisioningState
				}
			}
		}
	}
	if pr.GatewayType == GatewayTypeVpn {
		if pr.BgpSettings == nil {
			pr.BgpSettings = &BgpSettings{}
		}
		if pr.BgpSettings.ASN == 0 {
			pr.BgpSettings.ASN = DefaultGatewayASN
		}
	}
	if b := pr.BgpSettings; b != nil {
		b.BgpPeeringAddress = "" // read-only, computed by Resolve
		if op != nil && op.BgpSettings != nil {
			b.BgpPeeringAddress = op.BgpSettings.BgpPeeringAddress
		}
		for i := range b.BgpPeeringAddresses {
			b.BgpPeeringAddresses[i].DefaultBgpIPAddresses = nil
			b.BgpPeeringAddresses[i].TunnelIPAddresses = nil
		}
	}
	prepareVpnClient(g, old)
	var guid string
	if op != nil {
		guid = op.ResourceGUID
	}
	gu, err := resourceGUID(guid, rnd)
	pr.ResourceGUID = gu
	return err
}

func hasIPConfig(list []VirtualNetworkGatewayIPConfiguration, name string) bool {
	for _, c := range list {
		if strings.EqualFold(c.Name, name) {
			return true
		}
	}
	return false
}

// apipaBgpRange is where custom APIPA BGP addresses come from
// (169.254.21.0 - 169.254.22.255).
var apipaBgpRange = netip.MustParsePrefix("169.254.21.0/24")

var apipaBgpRange2 = netip.MustParsePrefix("169.254.22.0/24")

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

// gatewayVNet fetches the VNet of a stored gateway (nil when unresolvable;
// stored gateways were resolved when written).
func (r *resolver) gatewayVNet(g *VirtualNetworkGateway) *VirtualNetwork {
	_, v, _, _ := GatewayVNet(g, func(id ID) *VirtualNetwork {
		v, _ := r.lookup(id).(*VirtualNetwork)
		return v
	})
	return v
}

// GatewayVNet finds a gateway's virtual network and its GatewaySubnet
// prefix (the subnet's first IPv4 prefix), following the subnet reference
// of the gateway's first ipConfiguration that has one; vnet fetches a VNet
// by ID (nil if there is none). The VNet is returned whenever it is found;
// ok also needs the subnet and its IPv4 prefix.
func GatewayVNet(g *VirtualNetworkGateway, vnet func(ID) *VirtualNetwork) (id ID, v *VirtualNetwork, gatewaySubnet netip.Prefix, ok bool) {
	sid, ok := gatewaySubnetID(g)
	if !ok {
		return ID{}, nil, netip.Prefix{}, false
	}
	if v = vnet(sid.Parent()); v == nil {
		return ID{}, nil, netip.Prefix{}, false
	}
	sn, ok := v.Subnet(sid.ChildName)
	if !ok {
		return sid.Parent(), v, netip.Prefix{}, false
	}
	p, ok := ipv4Prefix(netx.ParsePrefixes(sn.Prefixes()))
	return sid.Parent(), v, p, ok
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

// ipConfigUsers returns the IDs of the gateway ipConfigurations for which
// match holds: the users of a subnet or a public IP.
func ipConfigUsers(ctx context.Context, v View, match func(c *VirtualNetworkGatewayIPConfiguration) bool) ([]string, error) {
	gws, err := listGateways(ctx, v)
	if err != nil {
		return nil, err
	}
	var users []string
	for _, g := range gws {
		for i := range g.Properties.IPConfigurations {
			if c := &g.Properties.IPConfigurations[i]; match(c) {
				users = append(users, ipConfigID(g, c.Name))
			}
		}
	}
	return users, nil
}

// checkGatewayDelete refuses to delete a gateway while a connection uses
// it.
func checkGatewayDelete(ctx context.Context, v View, o *VirtualNetworkGateway) error {
	conns, err := listConnections(ctx, v)
	if err != nil {
		return err
	}
	var users []string
	for _, c := range conns {
		if sameID(refID(c.Properties.VirtualNetworkGateway1), o.ID) || sameID(refID(c.Properties.VirtualNetworkGateway2), o.ID) {
			users = append(users, c.ID)
		}
	}
	if len(users) > 0 {
		return inUse("Virtual network gateway "+o.Name, users)
	}
	return nil
}

func listGateways(ctx context.Context, v View) ([]*VirtualNetworkGateway, error) {
	objs, err := v.List(ctx, TypeVirtualNetworkGateways)
	if err != nil {
		return nil, fmt.Errorf("resource: list gateways: %w", err)
	}
	var out []*VirtualNetworkGateway
	for _, o := range objs {
		if g, ok := o.(*VirtualNetworkGateway); ok {
			out = append(out, g)
		}
	}
	return out, nil
}
