package resource

import (
	"fmt"
	"strings"
)

// Count limits of the lists a request body may hold. Azure's where it
// documents one (reference §1.1 and §2.5); elsewhere a generous bound of
// vpngw's own, so that no list can make validation slow (docs/resources.md
// lists them all). They are checked first, by CheckLimits, before any rule
// looks at the elements.
const (
	// MaxVnetAddressPrefixes bounds a VNet's address space (vpngw's own:
	// Azure documents 600 for a VNet with a VPN gateway,
	// MaxVnetPrefixesPerVpnGw, and no limit without one).
	MaxVnetAddressPrefixes = 1000
	// MaxSubnetAddressPrefixes bounds a subnet's addressPrefixes (vpngw's
	// own).
	MaxSubnetAddressPrefixes = 100
	// MaxSelectorRanges bounds each address range list of a traffic
	// selector policy (vpngw's own).
	MaxSelectorRanges = 100
	// MaxIPConfigurations is the most ipConfigurations a gateway can need
	// (active-active with point-to-site); it also bounds bgpPeeringAddresses.
	MaxIPConfigurations = 3
	// MaxVpnClientAddressPrefixes bounds a point-to-site address pool
	// (vpngw's own).
	MaxVpnClientAddressPrefixes = 100
	// MaxRadiusServers bounds radiusServers (vpngw's own).
	MaxRadiusServers = 20
	// MaxShortList bounds lists of enumeration values and policies whose
	// valid contents are a handful: vpnClientProtocols,
	// vpnAuthenticationTypes, vpnClientIpsecPolicies, zones (vpngw's own).
	MaxShortList = 10
)

// CheckLimits checks the count limits of obj's lists, and nothing else: the
// cheap rule that bounds every other one. It needs no other resource and no
// defaults, so the API runs it before taking its writer lock; Validate runs
// it first too and stops there when a limit is exceeded. It returns an
// *Error (CodeLimitExceeded) or nil.
func CheckLimits(obj Object) error {
	var l errList
	checkLimits(&l, obj)
	return l.err()
}

func checkLimits(l *errList, obj Object) {
	limit := func(target string, n, most int, what string) {
		if n > most {
			l.addf(CodeLimitExceeded, target, "%s can have at most %d; got %d.", what, most, n)
		}
	}
	switch o := obj.(type) {
	case *VirtualNetwork:
		pr := &o.Properties
		limit("properties.addressSpace.addressPrefixes", len(pr.AddressSpace.AddressPrefixes), MaxVnetAddressPrefixes, "A virtual network's address space (addressPrefixes)")
		if d := pr.DhcpOptions; d != nil {
			limit("properties.dhcpOptions.dnsServers", len(d.DNSServers), MaxDNSServers, "A virtual network's DNS servers")
		}
		limit("properties.subnets", len(pr.Subnets), MaxSubnetsPerVnet, "A virtual network's subnets")
		for i := range pr.Subnets {
			if l.full() {
				return
			}
			checkSubnetLimits(l, &pr.Subnets[i], fmt.Sprintf("properties.subnets[%d].properties", i))
		}
	case *Subnet:
		checkSubnetLimits(l, o, "properties")
	case *PublicIPAddress:
		limit("zones", len(o.Zones), MaxShortList, "A public IP address's zones")
	case *VirtualNetworkGateway:
		pr := &o.Properties
		limit("properties.ipConfigurations", len(pr.IPConfigurations), MaxIPConfigurations, "A gateway's ipConfigurations")
		if b := pr.BgpSettings; b != nil {
			const t = "properties.bgpSettings.bgpPeeringAddresses"
			limit(t, len(b.BgpPeeringAddresses), MaxIPConfigurations, "A gateway's bgpPeeringAddresses (one per ipConfiguration)")
			total := 0
			for _, a := range b.BgpPeeringAddresses {
				total += len(a.CustomBgpIPAddresses)
			}
			limit(t, total, MaxCustomBgpAddresses, "A gateway's custom APIPA BGP addresses (customBgpIpAddresses, all ipConfigurations together)")
		}
		if c := pr.VpnClientConfiguration; c != nil {
			const t = "properties.vpnClientConfiguration"
			if c.VpnClientAddressPool != nil {
				limit(t+".vpnClientAddressPool.addressPrefixes", len(c.VpnClientAddressPool.AddressPrefixes), MaxVpnClientAddressPrefixes, "A point-to-site address pool")
			}
			limit(t+".vpnClientRootCertificates", len(c.VpnClientRootCertificates), MaxRootCertificates, "A gateway's root certificates")
			limit(t+".vpnClientRevokedCertificates", len(c.VpnClientRevokedCertificates), MaxRevokedCertificates, "A gateway's revoked certificates")
			limit(t+".vpnClientProtocols", len(c.VpnClientProtocols), MaxShortList, "vpnClientProtocols")
			limit(t+".vpnAuthenticationTypes", len(c.VpnAuthenticationTypes), MaxShortList, "vpnAuthenticationTypes")
			limit(t+".vpnClientIpsecPolicies", len(c.VpnClientIpsecPolicies), MaxShortList, "vpnClientIpsecPolicies")
			limit(t+".radiusServers", len(c.RadiusServers), MaxRadiusServers, "radiusServers")
			limit(t+".vpnClientLocalUsers", len(c.VpnClientLocalUsers), MaxLocalUsers, "A gateway's local users (vpnClientLocalUsers; use RADIUS for more)")
		}
	case *LocalNetworkGateway:
		limit("properties.localNetworkAddressSpace.addressPrefixes", len(o.Properties.LocalNetworkAddressSpace.AddressPrefixes), MaxLocalNetworkPrefixes, "A local network gateway's address prefixes")
	case *Connection:
		pr := &o.Properties
		limit("properties.ipsecPolicies", len(pr.IpsecPolicies), MaxShortList, "A connection's ipsecPolicies")
		limit("properties.trafficSelectorPolicies", len(pr.TrafficSelectorPolicies), MaxTrafficSelectors, "A gateway's traffic selector policies")
		for i, ts := range pr.TrafficSelectorPolicies {
			if l.full() {
				return
			}
			t := fmt.Sprintf("properties.trafficSelectorPolicies[%d]", i)
			limit(t+".localAddressRanges", len(ts.LocalAddressRanges), MaxSelectorRanges, "A traffic selector policy's localAddressRanges")
			limit(t+".remoteAddressRanges", len(ts.RemoteAddressRanges), MaxSelectorRanges, "A traffic selector policy's remoteAddressRanges")
		}
	}
}

func checkSubnetLimits(l *errList, s *Subnet, t string) {
	if n := len(s.Properties.AddressPrefixes); n > MaxSubnetAddressPrefixes {
		l.addf(CodeLimitExceeded, t+".addressPrefixes", "A subnet's addressPrefixes can have at most %d; got %d.", MaxSubnetAddressPrefixes, n)
	}
}

// maxReported is the most errors one response lists; the rest are counted
// in a last detail ("and N more").
const maxReported = 20

// moreErrors is the detail that counts the errors not listed.
func moreErrors(n int, code string) Error {
	return Error{Code: code, Message: fmt.Sprintf("And %d more %s not listed.", n, plural(n, "error", "errors"))}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// lowerIndex maps lower-cased names to the index of their first use.
func lowerIndex(n int, name func(i int) string) (first map[string]int, dup []int) {
	first = make(map[string]int, n)
	for i := range n {
		k := strings.ToLower(name(i))
		if k == "" {
			continue
		}
		if _, ok := first[k]; ok {
			dup = append(dup, i)
			continue
		}
		first[k] = i
	}
	return first, dup
}
