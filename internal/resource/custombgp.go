package resource

import (
	"fmt"
	"net/netip"
	"strings"
)

// GatewayCustomBgpIPAddress is a connection's choice, for one of its
// gateway's ipConfigurations (one instance), of the custom APIPA BGP
// address that instance uses for this connection's BGP session (Azure's
// gatewayCustomBgpIpAddresses, 2024).
type GatewayCustomBgpIPAddress struct {
	// IPConfigurationID is the ID of one of virtualNetworkGateway1's
	// ipConfigurations.
	IPConfigurationID string `json:"ipConfigurationId"`
	// CustomBgpIPAddress is one of that ipConfiguration's
	// customBgpIpAddresses in the gateway's bgpSettings.bgpPeeringAddresses
	// (169.254.21.0 - 169.254.22.255).
	CustomBgpIPAddress string `json:"customBgpIpAddress"`
}

// CustomBgpIPAddressesOf returns the customBgpIpAddresses that g's
// bgpSettings.bgpPeeringAddresses give its ipConfiguration named ipConfig
// (case-insensitive), as stored.
func (g *VirtualNetworkGateway) CustomBgpIPAddressesOf(ipConfig string) []string {
	b := g.Properties.BgpSettings
	if b == nil {
		return nil
	}
	for _, e := range b.BgpPeeringAddresses {
		if ipConfigIDNames(e.IPConfigurationID, ipConfig) {
			return e.CustomBgpIPAddresses
		}
	}
	return nil
}

// GatewayCustomBgpIPAddressFor returns the customBgpIpAddress that c's
// gatewayCustomBgpIpAddresses choose for its gateway's ipConfiguration
// named ipConfig, or "" (the instance's own BGP address is used).
func (c *Connection) GatewayCustomBgpIPAddressFor(ipConfig string) string {
	for _, e := range c.Properties.GatewayCustomBgpIPAddresses {
		if ipConfigIDNames(e.IPConfigurationID, ipConfig) {
			return e.CustomBgpIPAddress
		}
	}
	return ""
}

// ipConfigIDNames reports whether id is the ID of an ipConfiguration
// named name (ARM's ipConfigurations child; names compare
// case-insensitively).
func ipConfigIDNames(id, name string) bool {
	n, ok := ipConfigNameFromID(id)
	return ok && strings.EqualFold(n, name)
}

// gatewayCustomBgp checks a connection's gatewayCustomBgpIpAddresses
// against its gateway gw1: BGP on the connection, an IPsec connection,
// each entry naming one of gw1's ipConfigurations once, and an address
// from that ipConfiguration's customBgpIpAddresses (so inside
// 169.254.21.0 - 169.254.22.255).
func (r *resolver) gatewayCustomBgp(c *Connection, gw1 *VirtualNetworkGateway) {
	pr := &c.Properties
	const f = "properties.gatewayCustomBgpIpAddresses"
	if len(pr.GatewayCustomBgpIPAddresses) == 0 {
		return
	}
	switch {
	case !pr.EnableBgp:
		r.l.addf(CodeInvalidParameter, f, "gatewayCustomBgpIpAddresses choose the gateway's BGP address for the connection's BGP session; set enableBgp to true or remove them.")
		return
	case pr.ConnectionType != ConnectionTypeIPsec:
		r.l.addf(CodeInvalidParameter, f, "gatewayCustomBgpIpAddresses are served on IPsec (site-to-site) connections only in vpngw; a Vnet2Vnet connection uses each gateway instance's BGP peering address.")
		return
	}
	seen := map[string]int{}
	for i, e := range pr.GatewayCustomBgpIPAddresses {
		t := fmt.Sprintf("%s[%d]", f, i)
		name, ok := ipConfigNameFromID(e.IPConfigurationID)
		switch {
		case e.IPConfigurationID == "":
			r.l.addf(CodeMissingParameter, t+".ipConfigurationId", "Each gatewayCustomBgpIpAddresses entry needs ipConfigurationId, the ID of one of gateway %s's ipConfigurations.", nameOf(gw1))
			continue
		case !ok || !hasIPConfig(gw1.Properties.IPConfigurations, name):
			r.l.addf(CodeInvalidParameter, t+".ipConfigurationId", "ipConfigurationId %q does not name one of gateway %s's ipConfigurations.", e.IPConfigurationID, nameOf(gw1))
			continue
		}
		if j, dup := seen[strings.ToLower(name)]; dup {
			r.l.addf(CodeInvalidParameter, t+".ipConfigurationId", "ipConfiguration %q is also chosen by gatewayCustomBgpIpAddresses[%d]; one address per ipConfiguration.", name, j)
			continue
		}
		seen[strings.ToLower(name)] = i
		ip, err := parseAddr(e.CustomBgpIPAddress, t+".customBgpIpAddress", "Custom BGP address")
		if err != nil {
			r.l.add(err)
			continue
		}
		if !apipaBgpRange.Contains(ip) && !apipaBgpRange2.Contains(ip) {
			r.l.addf(CodeInvalidParameter, t+".customBgpIpAddress", "Custom BGP address %s must be an APIPA address in 169.254.21.0 - 169.254.22.255.", ip)
			continue
		}
		customs := gw1.CustomBgpIPAddressesOf(name)
		found := false
		for _, s := range customs {
			if a, err := netip.ParseAddr(s); err == nil && a == ip {
				found = true
			}
		}
		if !found {
			r.l.addf(CodeInvalidParameter, t+".customBgpIpAddress", "Custom BGP address %s is not one of ipConfiguration %s's customBgpIpAddresses on gateway %s (%s); add it to the gateway's bgpSettings.bgpPeeringAddresses first.",
				ip, name, nameOf(gw1), strings.Join(customs, ", "))
		}
	}
}
