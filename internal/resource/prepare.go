package resource

import (
	"crypto/rand"
	"fmt"
	"io"
	"strings"
)

// Defaults (reference §1.4, §1.6, §3.2).
const (
	DefaultIdleTimeout = 4
	MaxRoutingWeight   = 32000
	GatewayCapacity    = 2 // instances per gateway
)

// Enumerations shared by Prepare (canonical spelling) and Validate.
const (
	ProtocolIKEv2 = "IKEv2"
	ProtocolIKEv1 = "IKEv1"

	ConnectionModeDefault       = "Default"
	ConnectionModeInitiatorOnly = "InitiatorOnly"
	ConnectionModeResponderOnly = "ResponderOnly"

	VpnClientIkeV2   = "IkeV2"
	VpnClientSSTP    = "SSTP"
	VpnClientOpenVPN = "OpenVPN"

	AuthCertificate = "Certificate"
	AuthRadius      = "Radius"
	AuthAAD         = "AAD"

	AllocationStatic  = "Static"
	AllocationDynamic = "Dynamic"

	PublicIPSkuBasic    = "Basic"
	PublicIPSkuStandard = "Standard"
	PublicIPTierRegion  = "Regional"
	PublicIPTierGlobal  = "Global"
	IPv4                = "IPv4"
	IPv6                = "IPv6"
)

// Prepare readies a decoded request body before validation. old is the
// stored resource on update, nil on create; rand is the randomness source
// (nil means crypto/rand.Reader).
//
// It fills defaults (gateway type Vpn, vpnType RouteBased, sku.tier from
// sku.name, vpnGatewayGeneration from the SKU, BGP ASN 65515, public IP SKU
// Standard/Static/IPv4, dpdTimeoutSeconds 45, connectionMode Default, P2S
// protocols), rewrites enum values matched case-insensitively into ARM's
// spelling and the location into its canonical form ("westeurope"),
// carries server-owned read-only fields from old (resourceGuid, ipAddress,
// connection status and counters; a new resourceGuid on create) over
// whatever the body says, keeps the stored shared key and RADIUS secrets
// when an update omits them, and generates a random shared key when a
// connection is created without one. Immutable fields omitted on update
// (gatewayType, vpnType, vpnGatewayGeneration, connectionProtocol) keep
// their stored value.
//
// Prepare does not set id, name, type, etag or provisioningState (see
// AssignIDs), but fills child IDs when obj's ID is already set. The
// connection protocol default depends on the gateway and is set by Resolve.
func Prepare(obj, old Object, rnd io.Reader) error {
	if rnd == nil {
		rnd = rand.Reader
	}
	if old != nil && TypeOf(old) != TypeOf(obj) {
		return fmt.Errorf("resource: Prepare: old is a %T, obj a %T", old, obj)
	}
	m := obj.Meta()
	m.Location = canonicalLocation(m.Location)
	var err error
	switch o := obj.(type) {
	case *ResourceGroup:
		// Nothing beyond the location.
	case *VirtualNetwork:
		oldV, _ := old.(*VirtualNetwork)
		err = prepareVirtualNetwork(o, oldV, rnd)
	case *Subnet:
		oldS, _ := old.(*Subnet)
		prepareSubnet(o, oldS)
	case *PublicIPAddress:
		oldP, _ := old.(*PublicIPAddress)
		err = preparePublicIP(o, oldP, rnd)
	case *VirtualNetworkGateway:
		oldG, _ := old.(*VirtualNetworkGateway)
		err = prepareGateway(o, oldG, rnd)
	case *LocalNetworkGateway:
		oldL, _ := old.(*LocalNetworkGateway)
		err = prepareLocalNetworkGateway(o, oldL, rnd)
	case *Connection:
		oldC, _ := old.(*Connection)
		err = prepareConnection(o, oldC, rnd)
	default:
		return fmt.Errorf("resource: Prepare: unsupported type %T", obj)
	}
	if err != nil {
		return err
	}
	assignChildIDs(obj)
	return nil
}

// resourceGUID returns old's GUID, or a new random (version 4) UUID.
func resourceGUID(old string, rnd io.Reader) (string, error) {
	if old != "" {
		return old, nil
	}
	var b [16]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return "", fmt.Errorf("resource: generate resourceGuid: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
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

func prepareSubnet(s, old *Subnet) {
	s.Type = ARMTypeSubnet
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

func preparePublicIP(p, old *PublicIPAddress, rnd io.Reader) error {
	p.SKU.Name = canonical(p.SKU.Name, PublicIPSkuBasic, PublicIPSkuStandard)
	if p.SKU.Name == "" {
		p.SKU.Name = PublicIPSkuStandard
	}
	p.SKU.Tier = canonical(p.SKU.Tier, PublicIPTierRegion, PublicIPTierGlobal)
	if p.SKU.Tier == "" {
		p.SKU.Tier = PublicIPTierRegion
	}
	pr := &p.Properties
	pr.PublicIPAllocationMethod = canonical(pr.PublicIPAllocationMethod, AllocationStatic, AllocationDynamic)
	if pr.PublicIPAllocationMethod == "" {
		if p.SKU.Name == PublicIPSkuBasic {
			pr.PublicIPAllocationMethod = AllocationDynamic
		} else {
			pr.PublicIPAllocationMethod = AllocationStatic
		}
	}
	pr.PublicIPAddressVersion = canonical(pr.PublicIPAddressVersion, IPv4, IPv6)
	if pr.PublicIPAddressVersion == "" {
		pr.PublicIPAddressVersion = IPv4
	}
	if pr.IdleTimeoutInMinutes == 0 {
		pr.IdleTimeoutInMinutes = DefaultIdleTimeout
	}
	// Read-only: the API allocates ipAddress; Populate fills ipConfiguration.
	pr.IPAddress, pr.IPConfiguration = "", nil
	var fqdn, guid string
	if old != nil {
		pr.IPAddress = old.Properties.IPAddress
		pr.IPConfiguration = old.Properties.IPConfiguration
		guid = old.Properties.ResourceGUID
		if old.Properties.DNSSettings != nil {
			fqdn = old.Properties.DNSSettings.Fqdn
		}
	}
	if d := pr.DNSSettings; d != nil {
		d.Fqdn = fqdn
		if d.DomainNameLabel == "" && d.ReverseFqdn == "" {
			pr.DNSSettings = nil
		}
	}
	g, err := resourceGUID(guid, rnd)
	pr.ResourceGUID = g
	return err
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

func prepareVpnClient(g, old *VirtualNetworkGateway) {
	c := g.Properties.VpnClientConfiguration
	if c == nil {
		return
	}
	if vpnClientEmpty(c) {
		g.Properties.VpnClientConfiguration = nil
		return
	}
	for i, p := range c.VpnClientProtocols {
		c.VpnClientProtocols[i] = canonical(p, VpnClientIkeV2, VpnClientSSTP, VpnClientOpenVPN)
	}
	for i, a := range c.VpnAuthenticationTypes {
		c.VpnAuthenticationTypes[i] = canonical(a, AuthCertificate, AuthRadius, AuthAAD)
	}
	for i := range c.VpnClientRevokedCertificates {
		r := &c.VpnClientRevokedCertificates[i]
		r.Properties.Thumbprint = strings.ToUpper(r.Properties.Thumbprint)
		r.ID, r.Etag, r.Properties.ProvisioningState = "", "", ""
	}
	for i := range c.VpnClientRootCertificates {
		r := &c.VpnClientRootCertificates[i]
		r.ID, r.Etag, r.Properties.ProvisioningState = "", "", ""
	}
	for i := range c.VpnClientIpsecPolicies {
		canonicalIpsecPolicy(&c.VpnClientIpsecPolicies[i])
	}
	if len(c.VpnClientProtocols) == 0 && c.VpnClientAddressPool != nil && len(c.VpnClientAddressPool.AddressPrefixes) > 0 {
		// Azure's default: SSTP and IKEv2, SSTP only on Basic.
		if strings.EqualFold(g.Properties.SKU.Name, "Basic") {
			c.VpnClientProtocols = []string{VpnClientSSTP}
		} else {
			c.VpnClientProtocols = []string{VpnClientIkeV2, VpnClientSSTP}
		}
	}
	// RADIUS secrets are write-only: GET never shows them, so a
	// GET-modify-PUT omits them; keep the stored ones.
	if old == nil || old.Properties.VpnClientConfiguration == nil {
		return
	}
	oc := old.Properties.VpnClientConfiguration
	if c.RadiusServerSecret == "" && c.RadiusServerAddress != "" && strings.EqualFold(c.RadiusServerAddress, oc.RadiusServerAddress) {
		c.RadiusServerSecret = oc.RadiusServerSecret
	}
	for i := range c.RadiusServers {
		s := &c.RadiusServers[i]
		if s.RadiusServerSecret != "" {
			continue
		}
		for _, os := range oc.RadiusServers {
			if strings.EqualFold(os.RadiusServerAddress, s.RadiusServerAddress) {
				s.RadiusServerSecret = os.RadiusServerSecret
			}
		}
	}
}

// vpnClientEmpty reports a vpnClientConfiguration with nothing in it, which
// means no point-to-site configuration.
func vpnClientEmpty(c *VpnClientConfiguration) bool {
	return (c.VpnClientAddressPool == nil || len(c.VpnClientAddressPool.AddressPrefixes) == 0) &&
		len(c.VpnClientRootCertificates) == 0 && len(c.VpnClientRevokedCertificates) == 0 &&
		len(c.VpnClientProtocols) == 0 && len(c.VpnAuthenticationTypes) == 0 &&
		len(c.VpnClientIpsecPolicies) == 0 && c.RadiusServerAddress == "" && c.RadiusServerSecret == "" &&
		len(c.RadiusServers) == 0 && c.AadTenant == "" && c.AadAudience == "" && c.AadIssuer == ""
}

func prepareLocalNetworkGateway(l, old *LocalNetworkGateway, rnd io.Reader) error {
	if l.Properties.LocalNetworkAddressSpace.AddressPrefixes == nil {
		l.Properties.LocalNetworkAddressSpace.AddressPrefixes = []string{}
	}
	var guid string
	if old != nil {
		guid = old.Properties.ResourceGUID
	}
	g, err := resourceGUID(guid, rnd)
	l.Properties.ResourceGUID = g
	return err
}

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
