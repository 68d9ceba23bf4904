package resource

import (
	"context"
	"fmt"
	"io"
	"slices"
)

// DefaultIdleTimeout is a public IP's default idleTimeoutInMinutes
// (reference §1.6).
const DefaultIdleTimeout = 4

// Public IP enumerations, in ARM's spelling (Prepare canonicalizes to it).
const (
	AllocationStatic  = "Static"
	AllocationDynamic = "Dynamic"

	PublicIPSkuBasic    = "Basic"
	PublicIPSkuStandard = "Standard"
	PublicIPTierRegion  = "Regional"
	PublicIPTierGlobal  = "Global"
	IPv4                = "IPv4"
	IPv6                = "IPv6"
)

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

// Meta returns the envelope.
func (p *PublicIPAddress) Meta() *Envelope { return &p.Envelope }

// ProvisioningState returns properties.provisioningState.
func (p *PublicIPAddress) ProvisioningState() string { return p.Properties.ProvisioningState }

// SetProvisioningState sets properties.provisioningState.
func (p *PublicIPAddress) SetProvisioningState(s string) { p.Properties.ProvisioningState = s }

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

// checkPublicIPDelete refuses to delete a public IP while a gateway uses
// it.
func checkPublicIPDelete(ctx context.Context, v View, o *PublicIPAddress) error {
	users, err := ipConfigUsers(ctx, v, func(c *VirtualNetworkGatewayIPConfiguration) bool {
		return sameID(refID(c.Properties.PublicIPAddress), o.ID)
	})
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return inUse("Public IP address "+o.Name, users)
	}
	return nil
}
