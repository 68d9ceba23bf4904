package resource

import "strings"

// ARM types of the resources (the "type" field).
const (
	ARMTypeResourceGroup         = "Microsoft.Resources/resourceGroups"
	ARMTypeVirtualNetwork        = Provider + "/" + TypeVirtualNetworks
	ARMTypeSubnet                = Provider + "/" + TypeVirtualNetworks + "/" + TypeSubnets
	ARMTypePublicIPAddress       = Provider + "/" + TypePublicIPAddresses
	ARMTypeVirtualNetworkGateway = Provider + "/" + TypeVirtualNetworkGateways
	ARMTypeLocalNetworkGateway   = Provider + "/" + TypeLocalNetworkGateways
	ARMTypeConnection            = Provider + "/" + TypeConnections
)

// TypeResourceGroups is the type segment NewObject accepts for a resource
// group ("/subscriptions/{s}/resourceGroups/{g}").
const TypeResourceGroups = "resourceGroups"

// SubResource is a reference to another resource by its ARM ID.
type SubResource struct {
	// ID is the referenced resource's ID.
	ID string `json:"id"`
}

// AddressSpace is a list of CIDR prefixes.
type AddressSpace struct {
	// AddressPrefixes are CIDR prefixes in canonical form (host bits zero).
	AddressPrefixes []string `json:"addressPrefixes"`
}

// ResourceGroup is a resource group (Microsoft.Resources/resourceGroups).
type ResourceGroup struct {
	Envelope
	// Properties holds the group's properties.
	Properties ResourceGroupProperties `json:"properties"`
}

// ResourceGroupProperties are a resource group's properties.
type ResourceGroupProperties struct {
	// ProvisioningState is read-only.
	ProvisioningState string `json:"provisioningState,omitempty"`
}

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

// PublicIPAddress is a public IP address (Microsoft.Network/publicIPAddresses).
type PublicIPAddress struct {
	Envelope
	// SKU is Basic or Standard (default Standard), tier Regional or Global.
	SKU PublicIPAddressSku `json:"sku"`
	// Zones are availability zones "1", "2", "3" (Standard SKU only).
	Zones []string `json:"zones,omitempty"`
	// Properties holds the address's properties.
	Properties PublicIPAddressProperties `json:"properties"`
}

// PublicIPAddressSku is a public IP's SKU.
type PublicIPAddressSku struct {
	// Name is Basic or Standard.
	Name string `json:"name"`
	// Tier is Regional (default) or Global.
	Tier string `json:"tier,omitempty"`
}

// PublicIPAddressProperties are a public IP's properties.
type PublicIPAddressProperties struct {
	// PublicIPAllocationMethod is Static or Dynamic (default Static for
	// Standard, Dynamic for Basic). Standard requires Static.
	PublicIPAllocationMethod string `json:"publicIPAllocationMethod"`
	// PublicIPAddressVersion is IPv4 (default) or IPv6.
	PublicIPAddressVersion string `json:"publicIPAddressVersion"`
	// DNSSettings holds the DNS name label.
	DNSSettings *PublicIPAddressDNSSettings `json:"dnsSettings,omitempty"`
	// IdleTimeoutInMinutes is 4 to 30 (default 4).
	IdleTimeoutInMinutes int `json:"idleTimeoutInMinutes,omitempty"`
	// IPAddress is read-only: the address the API allocated.
	IPAddress string `json:"ipAddress,omitempty"`
	// IPConfiguration is read-only: the gateway ipConfiguration using the
	// address (filled by Populate).
	IPConfiguration *SubResource `json:"ipConfiguration,omitempty"`
	// ResourceGUID is read-only, assigned on create.
	ResourceGUID string `json:"resourceGuid,omitempty"`
	// ProvisioningState is read-only.
	ProvisioningState string `json:"provisioningState,omitempty"`
}

// PublicIPAddressDNSSettings are a public IP's DNS settings.
type PublicIPAddressDNSSettings struct {
	// DomainNameLabel is a DNS label: 3-63 lower-case letters, digits and
	// hyphens, starting with a letter.
	DomainNameLabel string `json:"domainNameLabel,omitempty"`
	// Fqdn is read-only.
	Fqdn string `json:"fqdn,omitempty"`
	// ReverseFqdn is a DNS name.
	ReverseFqdn string `json:"reverseFqdn,omitempty"`
}

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

// VpnClientConfiguration is a gateway's point-to-site configuration.
type VpnClientConfiguration struct {
	// VpnClientAddressPool is the private pool client addresses come from.
	VpnClientAddressPool *AddressSpace `json:"vpnClientAddressPool,omitempty"`
	// VpnClientRootCertificates are trusted root CAs (at most 20).
	VpnClientRootCertificates []VpnClientRootCertificate `json:"vpnClientRootCertificates,omitempty"`
	// VpnClientRevokedCertificates are revoked client certificates (at most 300).
	VpnClientRevokedCertificates []VpnClientRevokedCertificate `json:"vpnClientRevokedCertificates,omitempty"`
	// VpnClientProtocols are IkeV2, SSTP, OpenVPN (SSTP and OpenVPN exclusive).
	VpnClientProtocols []string `json:"vpnClientProtocols,omitempty"`
	// VpnAuthenticationTypes are Certificate, Radius, AAD.
	VpnAuthenticationTypes []string `json:"vpnAuthenticationTypes,omitempty"`
	// VpnClientIpsecPolicies are custom IPsec policies for P2S IKEv2.
	VpnClientIpsecPolicies []IpsecPolicy `json:"vpnClientIpsecPolicies,omitempty"`
	// RadiusServerAddress is the RADIUS server's IP address.
	RadiusServerAddress string `json:"radiusServerAddress,omitempty"`
	// RadiusServerSecret is write-only (removed by Redact).
	RadiusServerSecret string `json:"radiusServerSecret,omitempty"`
	// RadiusServers are several RADIUS servers with scores.
	RadiusServers []RadiusServer `json:"radiusServers,omitempty"`
	// AadTenant is the Entra ID tenant URL (AAD authentication).
	AadTenant string `json:"aadTenant,omitempty"`
	// AadAudience is the Entra ID application ID (AAD authentication).
	AadAudience string `json:"aadAudience,omitempty"`
	// AadIssuer is the Entra ID issuer URL (AAD authentication).
	AadIssuer string `json:"aadIssuer,omitempty"`
}

// VpnClientRootCertificate is a trusted P2S root certificate.
type VpnClientRootCertificate struct {
	// ID is read-only.
	ID string `json:"id,omitempty"`
	// Name is the certificate's name.
	Name string `json:"name"`
	// Etag is read-only.
	Etag string `json:"etag,omitempty"`
	// Properties holds the certificate data.
	Properties VpnClientRootCertificateProperties `json:"properties"`
}

// VpnClientRootCertificateProperties hold a root certificate's data.
type VpnClientRootCertificateProperties struct {
	// PublicCertData is the base64 DER certificate, without PEM armour.
	PublicCertData string `json:"publicCertData"`
	// ProvisioningState is read-only.
	ProvisioningState string `json:"provisioningState,omitempty"`
}

// VpnClientRevokedCertificate is a revoked P2S client certificate.
type VpnClientRevokedCertificate struct {
	// ID is read-only.
	ID string `json:"id,omitempty"`
	// Name is the entry's name.
	Name string `json:"name"`
	// Etag is read-only.
	Etag string `json:"etag,omitempty"`
	// Properties holds the thumbprint.
	Properties VpnClientRevokedCertificateProperties `json:"properties"`
}

// VpnClientRevokedCertificateProperties hold a revoked certificate's thumbprint.
type VpnClientRevokedCertificateProperties struct {
	// Thumbprint is the SHA-1 thumbprint: 40 hex digits (stored upper-case).
	Thumbprint string `json:"thumbprint"`
	// ProvisioningState is read-only.
	ProvisioningState string `json:"provisioningState,omitempty"`
}

// RadiusServer is one RADIUS server.
type RadiusServer struct {
	// RadiusServerAddress is the server's IP address.
	RadiusServerAddress string `json:"radiusServerAddress"`
	// RadiusServerScore orders servers (higher first).
	RadiusServerScore int64 `json:"radiusServerScore,omitempty"`
	// RadiusServerSecret is write-only (removed by Redact).
	RadiusServerSecret string `json:"radiusServerSecret,omitempty"`
}

// LocalNetworkGateway is an on-premises site
// (Microsoft.Network/localNetworkGateways).
type LocalNetworkGateway struct {
	Envelope
	// Properties holds the site's properties.
	Properties LocalNetworkGatewayProperties `json:"properties"`
}

// LocalNetworkGatewayProperties are a local network gateway's properties.
type LocalNetworkGatewayProperties struct {
	// LocalNetworkAddressSpace lists the site's prefixes (at most 1000; may
	// be empty when BgpSettings is set).
	LocalNetworkAddressSpace AddressSpace `json:"localNetworkAddressSpace"`
	// GatewayIPAddress is the on-premises device's IP address.
	GatewayIPAddress string `json:"gatewayIpAddress,omitempty"`
	// Fqdn is the device's DNS name (instead of, or with, GatewayIPAddress).
	Fqdn string `json:"fqdn,omitempty"`
	// BgpSettings are the device's BGP ASN and peering address.
	BgpSettings *BgpSettings `json:"bgpSettings,omitempty"`
	// ResourceGUID is read-only, assigned on create.
	ResourceGUID string `json:"resourceGuid,omitempty"`
	// ProvisioningState is read-only.
	ProvisioningState string `json:"provisioningState,omitempty"`
}

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
	VirtualNetworkGateway1 *SubResource `json:"virtualNetworkGateway1,omitempty"`
	// VirtualNetworkGateway2 is the peer gateway of a Vnet2Vnet connection.
	VirtualNetworkGateway2 *SubResource `json:"virtualNetworkGateway2,omitempty"`
	// LocalNetworkGateway2 is the site of an IPsec connection.
	LocalNetworkGateway2 *SubResource `json:"localNetworkGateway2,omitempty"`
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

// Object implementations.

// Meta returns the envelope.
func (r *ResourceGroup) Meta() *Envelope { return &r.Envelope }

// ProvisioningState returns properties.provisioningState.
func (r *ResourceGroup) ProvisioningState() string { return r.Properties.ProvisioningState }

// SetProvisioningState sets properties.provisioningState.
func (r *ResourceGroup) SetProvisioningState(s string) { r.Properties.ProvisioningState = s }

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

// Meta returns the envelope.
func (s *Subnet) Meta() *Envelope { return &s.Envelope }

// ProvisioningState returns properties.provisioningState.
func (s *Subnet) ProvisioningState() string { return s.Properties.ProvisioningState }

// SetProvisioningState sets properties.provisioningState.
func (s *Subnet) SetProvisioningState(st string) { s.Properties.ProvisioningState = st }

// Meta returns the envelope.
func (p *PublicIPAddress) Meta() *Envelope { return &p.Envelope }

// ProvisioningState returns properties.provisioningState.
func (p *PublicIPAddress) ProvisioningState() string { return p.Properties.ProvisioningState }

// SetProvisioningState sets properties.provisioningState.
func (p *PublicIPAddress) SetProvisioningState(s string) { p.Properties.ProvisioningState = s }

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

// Meta returns the envelope.
func (l *LocalNetworkGateway) Meta() *Envelope { return &l.Envelope }

// ProvisioningState returns properties.provisioningState.
func (l *LocalNetworkGateway) ProvisioningState() string { return l.Properties.ProvisioningState }

// SetProvisioningState sets properties.provisioningState.
func (l *LocalNetworkGateway) SetProvisioningState(s string) { l.Properties.ProvisioningState = s }

// Meta returns the envelope.
func (c *Connection) Meta() *Envelope { return &c.Envelope }

// ProvisioningState returns properties.provisioningState.
func (c *Connection) ProvisioningState() string { return c.Properties.ProvisioningState }

// SetProvisioningState sets properties.provisioningState.
func (c *Connection) SetProvisioningState(s string) { c.Properties.ProvisioningState = s }

// NewObject returns a new zero value for a type segment: "resourceGroups",
// a top-level type ("virtualNetworks", "publicIPAddresses",
// "virtualNetworkGateways", "localNetworkGateways", "connections") or
// "subnets". The segment matches case-insensitively.
func NewObject(typ string) (Object, bool) {
	if strings.EqualFold(typ, TypeResourceGroups) {
		return &ResourceGroup{}, true
	}
	t, _ := CanonicalType(typ)
	switch t {
	case TypeVirtualNetworks:
		return &VirtualNetwork{}, true
	case TypeSubnets:
		return &Subnet{}, true
	case TypePublicIPAddresses:
		return &PublicIPAddress{}, true
	case TypeVirtualNetworkGateways:
		return &VirtualNetworkGateway{}, true
	case TypeLocalNetworkGateways:
		return &LocalNetworkGateway{}, true
	case TypeConnections:
		return &Connection{}, true
	}
	return nil, false
}

// TypeOf returns the type segment of obj ("virtualNetworks", ...,
// "resourceGroups", "subnets"), or "" for a foreign implementation.
func TypeOf(obj Object) string {
	switch obj.(type) {
	case *ResourceGroup:
		return TypeResourceGroups
	case *VirtualNetwork:
		return TypeVirtualNetworks
	case *Subnet:
		return TypeSubnets
	case *PublicIPAddress:
		return TypePublicIPAddresses
	case *VirtualNetworkGateway:
		return TypeVirtualNetworkGateways
	case *LocalNetworkGateway:
		return TypeLocalNetworkGateways
	case *Connection:
		return TypeConnections
	}
	return ""
}

// AssignIDs sets obj's id, name and type from id, and the IDs and types of
// its inline children (a VNet's subnets, a gateway's ipConfigurations).
// The API calls it instead of setting the envelope by hand.
func AssignIDs(obj Object, id ID) {
	m := obj.Meta()
	m.ID = id.String()
	if id.Type == "" {
		m.Name = id.ResourceGroup
	} else if id.Child != "" {
		m.Name = id.ChildName
	} else {
		m.Name = id.Name
	}
	m.Type = id.ARMType()
	assignChildIDs(obj)
}

// assignChildIDs fills child IDs from obj's own ID when it is known.
func assignChildIDs(obj Object) {
	id, err := ParseID(obj.Meta().ID, "id")
	if err != nil || id.Type == "" || id.Child != "" {
		return
	}
	switch o := obj.(type) {
	case *VirtualNetwork:
		for i := range o.Properties.Subnets {
			s := &o.Properties.Subnets[i]
			cid := id
			cid.Child, cid.ChildName = TypeSubnets, s.Name
			s.ID, s.Type = cid.String(), ARMTypeSubnet
		}
	case *VirtualNetworkGateway:
		for i := range o.Properties.IPConfigurations {
			c := &o.Properties.IPConfigurations[i]
			cid := id
			cid.Child, cid.ChildName = TypeIPConfigurations, c.Name
			c.ID = cid.String()
		}
	}
}
