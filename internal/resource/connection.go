package resource

import (
	"context"
	"fmt"
	"io"
	"net/netip"

	"github.com/vpngw/vpngw/internal/netx"
)

// Connection defaults and limits (reference §3.2, §2.2).
const (
	MaxRoutingWeight    = 32000
	MaxTrafficSelectors = 100 // per gateway
	// MaxPolicyBasedPrefixPairs bounds a PolicyBased connection's SAs:
	// virtual network prefixes × site prefixes.
	MaxPolicyBasedPrefixPairs = 200
)

// Connection enumerations, in ARM's spelling (Prepare canonicalizes to it).
const (
	ProtocolIKEv2 = "IKEv2"
	ProtocolIKEv1 = "IKEv1"

	ConnectionModeDefault       = "Default"
	ConnectionModeInitiatorOnly = "InitiatorOnly"
	ConnectionModeResponderOnly = "ResponderOnly"
)

// Connection is a site-to-site or VNet-to-VNet connection
// (Microsoft.Network/connections).
type Connection struct {
	Envelope
	// Properties holds the connection's properties.
	Properties ConnectionProperties `json:"properties"`
}

// Connection types.
const (
	ConnectionTypeIPsec        = "IPsec"
	ConnectionTypeVnet2Vnet    = "Vnet2Vnet"
	ConnectionTypeExpressRoute = "ExpressRoute"
	ConnectionTypeVPNClient    = "VPNClient"
)

// Connection status values (read-only, set by the control plane).
const (
	ConnectionStatusUnknown      = "Unknown"
	ConnectionStatusConnecting   = "Connecting"
	ConnectionStatusConnected    = "Connected"
	ConnectionStatusNotConnected = "NotConnected"
)

// ConnectionProperties are a connection's properties.
type ConnectionProperties struct {
	// VirtualNetworkGateway1 is the Azure-side gateway (required, Vpn type).
	// The three gateway references are whole resources in ARM's schema:
	// a client may send the gateway as GET returned it; only its id is
	// read (armjson:"reference").
	VirtualNetworkGateway1 *SubResource `json:"virtualNetworkGateway1,omitempty" armjson:"reference"`
	// VirtualNetworkGateway2 is the peer gateway of a Vnet2Vnet connection.
	VirtualNetworkGateway2 *SubResource `json:"virtualNetworkGateway2,omitempty" armjson:"reference"`
	// LocalNetworkGateway2 is the site of an IPsec connection.
	LocalNetworkGateway2 *SubResource `json:"localNetworkGateway2,omitempty" armjson:"reference"`
	// ConnectionType is IPsec or Vnet2Vnet (required). Immutable.
	ConnectionType string `json:"connectionType"`
	// ConnectionProtocol is IKEv2 or IKEv1 (default IKEv2, IKEv1 on a
	// PolicyBased gateway). Immutable.
	ConnectionProtocol string `json:"connectionProtocol,omitempty"`
	// RoutingWeight is 0..32000.
	RoutingWeight int32 `json:"routingWeight"`
	// DpdTimeoutSeconds is 9..3600 (default 45).
	DpdTimeoutSeconds int `json:"dpdTimeoutSeconds,omitempty"`
	// ConnectionMode is Default, InitiatorOnly or ResponderOnly.
	ConnectionMode string `json:"connectionMode,omitempty"`
	// SharedKey is the pre-shared key. Write-only: Redact removes it; use
	// SharedKeyValue/SetSharedKey.
	SharedKey string `json:"sharedKey,omitempty"`
	// EnableBgp runs BGP over the connection.
	EnableBgp bool `json:"enableBgp"`
	// GatewayCustomBgpIPAddresses choose, per ipConfiguration of
	// virtualNetworkGateway1, the custom APIPA address its instance uses
	// for this connection's BGP session (GatewayCustomBgpIPAddress).
	GatewayCustomBgpIPAddresses []GatewayCustomBgpIPAddress `json:"gatewayCustomBgpIpAddresses,omitempty"`
	// UseLocalAzureIPAddress uses the gateway's private IP.
	UseLocalAzureIPAddress bool `json:"useLocalAzureIpAddress"`
	// UsePolicyBasedTrafficSelectors proposes prefix-pair selectors (needs a
	// custom IPsec policy and a RouteBased gateway).
	UsePolicyBasedTrafficSelectors bool `json:"usePolicyBasedTrafficSelectors"`
	// IpsecPolicies holds at most one custom IPsec/IKE policy.
	IpsecPolicies []IpsecPolicy `json:"ipsecPolicies"`
	// TrafficSelectorPolicies are selectors proposed when Azure initiates.
	TrafficSelectorPolicies []TrafficSelectorPolicy `json:"trafficSelectorPolicies"`
	// ExpressRouteGatewayBypass is stored (ExpressRoute FastPath).
	ExpressRouteGatewayBypass bool `json:"expressRouteGatewayBypass"`
	// ConnectionStatus is read-only: Unknown, Connecting, Connected,
	// NotConnected. Set by the control plane; Prepare carries it from the
	// stored resource.
	ConnectionStatus string `json:"connectionStatus,omitempty"`
	// TunnelConnectionStatus is read-only: per-tunnel status.
	TunnelConnectionStatus []TunnelConnectionHealth `json:"tunnelConnectionStatus,omitempty"`
	// IngressBytesTransferred is read-only.
	IngressBytesTransferred int64 `json:"ingressBytesTransferred"`
	// EgressBytesTransferred is read-only.
	EgressBytesTransferred int64 `json:"egressBytesTransferred"`
	// ResourceGUID is read-only, assigned on create.
	ResourceGUID string `json:"resourceGuid,omitempty"`
	// ProvisioningState is read-only.
	ProvisioningState string `json:"provisioningState,omitempty"`
}

// TunnelConnectionHealth is the read-only status of one tunnel.
type TunnelConnectionHealth struct {
	// Tunnel names the tunnel (gateway instance and peer).
	Tunnel string `json:"tunnel"`
	// ConnectionStatus is Unknown, Connecting, Connected, NotConnected.
	ConnectionStatus string `json:"connectionStatus"`
	// IngressBytesTransferred counts bytes received.
	IngressBytesTransferred int64 `json:"ingressBytesTransferred"`
	// EgressBytesTransferred counts bytes sent.
	EgressBytesTransferred int64 `json:"egressBytesTransferred"`
	// LastConnectionEstablishedUtcTime is when the tunnel last came up.
	LastConnectionEstablishedUtcTime string `json:"lastConnectionEstablishedUtcTime,omitempty"`
}

// ConnectionStatusReport is what the control plane learns from agents
// about a connection; SetStatus copies it into the read-only fields.
type ConnectionStatusReport struct {
	// Status is the connection's status.
	Status string
	// Tunnels are per-tunnel statuses.
	Tunnels []TunnelConnectionHealth
	// IngressBytes and EgressBytes are totals over all tunnels.
	IngressBytes, EgressBytes int64
}

// SetStatus sets the read-only status fields (connectionStatus,
// tunnelConnectionStatus, byte counters). Clients cannot set them: Prepare
// carries the stored values over whatever a PUT body says.
func (c *Connection) SetStatus(r ConnectionStatusReport) {
	c.Properties.ConnectionStatus = r.Status
	c.Properties.TunnelConnectionStatus = append([]TunnelConnectionHealth(nil), r.Tunnels...)
	c.Properties.IngressBytesTransferred = r.IngressBytes
	c.Properties.EgressBytesTransferred = r.EgressBytes
}

// SharedKeyValue returns the connection's pre-shared key.
func (c *Connection) SharedKeyValue() string { return c.Properties.SharedKey }

// SetSharedKey sets the connection's pre-shared key (validate it first with
// ValidateSharedKey).
func (c *Connection) SetSharedKey(key string) { c.Properties.SharedKey = key }

// TrafficSelectorPolicy is a pair of local and remote prefix lists.
type TrafficSelectorPolicy struct {
	// LocalAddressRanges are Azure-side prefixes.
	LocalAddressRanges []string `json:"localAddressRanges"`
	// RemoteAddressRanges are on-premises prefixes.
	RemoteAddressRanges []string `json:"remoteAddressRanges"`
}

// Meta returns the envelope.
func (c *Connection) Meta() *Envelope { return &c.Envelope }

// ProvisioningState returns properties.provisioningState.
func (c *Connection) ProvisioningState() string { return c.Properties.ProvisioningState }

// SetProvisioningState sets properties.provisioningState.
func (c *Connection) SetProvisioningState(s string) { c.Properties.ProvisioningState = s }

func prepareConnection(c, old *Connection, rnd io.Reader) error {
	pr := &c.Properties
	pr.ConnectionType = canonical(pr.ConnectionType, ConnectionTypeIPsec, ConnectionTypeVnet2Vnet, ConnectionTypeExpressRoute, ConnectionTypeVPNClient)
	pr.ConnectionProtocol = canonical(pr.ConnectionProtocol, ProtocolIKEv2, ProtocolIKEv1)
	if pr.ConnectionProtocol == "" && old != nil {
		pr.ConnectionProtocol = old.Properties.ConnectionProtocol
	}
	pr.ConnectionMode = canonical(pr.ConnectionMode, ConnectionModeDefault, ConnectionModeInitiatorOnly, ConnectionModeResponderOnly)
	if pr.ConnectionMode == "" {
		pr.ConnectionMode = ConnectionModeDefault
	}
	if pr.DpdTimeoutSeconds == 0 {
		pr.DpdTimeoutSeconds = DefaultDpdTimeoutSeconds
	}
	if pr.IpsecPolicies == nil {
		pr.IpsecPolicies = []IpsecPolicy{}
	}
	for i := range pr.IpsecPolicies {
		canonicalIpsecPolicy(&pr.IpsecPolicies[i])
	}
	if pr.TrafficSelectorPolicies == nil {
		pr.TrafficSelectorPolicies = []TrafficSelectorPolicy{}
	}
	// Read-only status: the control plane owns it (SetStatus).
	pr.ConnectionStatus, pr.TunnelConnectionStatus = ConnectionStatusUnknown, nil
	pr.IngressBytesTransferred, pr.EgressBytesTransferred = 0, 0
	var guid string
	if old != nil {
		o := &old.Properties
		pr.ConnectionStatus, pr.TunnelConnectionStatus = o.ConnectionStatus, o.TunnelConnectionStatus
		pr.IngressBytesTransferred, pr.EgressBytesTransferred = o.IngressBytesTransferred, o.EgressBytesTransferred
		guid = o.ResourceGUID
		if pr.SharedKey == "" {
			pr.SharedKey = o.SharedKey
		}
	}
	if pr.SharedKey == "" {
		k, err := GenerateSharedKey(rnd, DefaultSharedKeyLength)
		if err != nil {
			return err
		}
		pr.SharedKey = k
	}
	g, err := resourceGUID(guid, rnd)
	pr.ResourceGUID = g
	return err
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
	if len(pr.TrafficSelectorPolicies) > 0 && pr.ConnectionProtocol == ProtocolIKEv1 {
		l.addf(CodeInvalidTrafficSelector, "properties.trafficSelectorPolicies",
			"trafficSelectorPolicies are proposed in IKEv2 exchanges; an IKEv1 connection negotiates its prefixes as Quick Mode IDs.")
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
		if len(pr.TrafficSelectorPolicies) > 0 {
			r.l.addf(CodePolicyBasedLimit, "properties.trafficSelectorPolicies", "trafficSelectorPolicies need a RouteBased gateway; %s is PolicyBased (its selectors are its prefixes).", nameOf(gw1))
		}
		// The default is stored on every connection, so only another
		// value is a setting.
		if pr.DpdTimeoutSeconds != DefaultDpdTimeoutSeconds {
			r.l.addf(CodePolicyBasedLimit, "properties.dpdTimeoutSeconds", "Dead peer detection is not supported on the PolicyBased gateway %s; remove dpdTimeoutSeconds or use a RouteBased gateway.", nameOf(gw1))
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
	r.gatewayCustomBgp(c, gw1)
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
		if pairs := len(space1) * len(peerPrefixes); policy && pairs > MaxPolicyBasedPrefixPairs {
			r.l.addf(CodePolicyBasedLimit, peerT, "A PolicyBased gateway negotiates one SA per pair of virtual network and site prefixes, at most %d; %s (%d prefixes) with %s (%d prefixes) makes %d pairs. Aggregate the prefixes or use a RouteBased gateway.",
				MaxPolicyBasedPrefixPairs, nameOf(gw1), len(space1), nameOf(lg), len(peerPrefixes), pairs)
		}
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

func listConnections(ctx context.Context, v View) ([]*Connection, error) {
	objs, err := v.List(ctx, TypeConnections)
	if err != nil {
		return nil, fmt.Errorf("resource: list connections: %w", err)
	}
	var out []*Connection
	for _, o := range objs {
		if c, ok := o.(*Connection); ok {
			out = append(out, c)
		}
	}
	return out, nil
}
