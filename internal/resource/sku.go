package resource

import (
	"slices"
	"strings"
)

// Gateway types (properties.gatewayType).
const (
	GatewayTypeVpn          = "Vpn"
	GatewayTypeExpressRoute = "ExpressRoute"
	GatewayTypeLocalGateway = "LocalGateway" // 2024 API; not served by vpngw
)

// VPN types (properties.vpnType).
const (
	VpnTypeRouteBased  = "RouteBased"
	VpnTypePolicyBased = "PolicyBased"
)

// Gateway generations (properties.vpnGatewayGeneration).
const (
	Generation1    = "Generation1"
	Generation2    = "Generation2"
	GenerationNone = "None"
)

// SKU series: resizes stay within one series and one generation.
const (
	SeriesBasic        = "Basic"
	SeriesVpnGw        = "VpnGw"
	SeriesVpnGwAZ      = "VpnGwAZ"
	SeriesExpressRoute = "ExpressRoute"
	SeriesErGwAZ       = "ErGwAZ"
)

// Bit rates for the SKU table.
const (
	mbps = int64(1_000_000)
	gbps = int64(1_000_000_000)
)

// SKU is one row of the gateway SKU table (reference §2.3).
type SKU struct {
	// Name is the SKU name as ARM spells it.
	Name string
	// GatewayType is GatewayTypeVpn or GatewayTypeExpressRoute.
	GatewayType string
	// Series groups SKUs a gateway may be resized between.
	Series string
	// Generations are the vpnGatewayGeneration values the SKU exists in; the
	// first is the default. ExpressRoute SKUs have GenerationNone only.
	Generations []string
	// S2STunnels is the maximum number of site-to-site and VNet-to-VNet
	// connections on a RouteBased gateway (2023 table: 30, 100 for
	// VpnGw4/5).
	S2STunnels int
	// PolicyBasedTunnels is the maximum on a PolicyBased gateway (1 on
	// Basic; 0 where PolicyBased is not offered).
	PolicyBasedTunnels int
	// P2SSSTP is the maximum number of SSTP point-to-site connections.
	P2SSSTP int
	// P2SIKEv2OpenVPN is the maximum number of IKEv2 plus OpenVPN
	// point-to-site connections (0: not supported). It adds to P2SSSTP.
	P2SIKEv2OpenVPN int
	// Throughput is the aggregate throughput benchmark in bit/s per
	// generation (keys Generation1, Generation2; None for ExpressRoute).
	Throughput map[string]int64
	// BGP reports whether BGP is available.
	BGP bool
	// ActiveActive reports whether active-active is available.
	ActiveActive bool
	// ZoneRedundant reports an availability-zone SKU.
	ZoneRedundant bool
	// CustomIPsecPolicy reports whether connections may carry ipsecPolicies.
	CustomIPsecPolicy bool
	// IKEv1 reports whether RouteBased IKEv1 connections are supported.
	IKEv1 bool
	// RADIUS reports whether point-to-site RADIUS authentication is supported.
	RADIUS bool
}

// SKUs returns the gateway SKU table: Basic, VpnGw1-5, VpnGw1AZ-5AZ and the
// ExpressRoute SKUs. Each call returns a fresh copy.
func SKUs() []SKU {
	vpn := func(name, series string, gens []string, tunnels, ikev2 int, tput map[string]int64) SKU {
		return SKU{
			Name: name, GatewayType: GatewayTypeVpn, Series: series, Generations: gens,
			S2STunnels: tunnels, P2SSSTP: 128, P2SIKEv2OpenVPN: ikev2, Throughput: tput,
			BGP: true, ActiveActive: true, ZoneRedundant: series == SeriesVpnGwAZ,
			CustomIPsecPolicy: true, IKEv1: true, RADIUS: true,
		}
	}
	g1 := []string{Generation1}
	g12 := []string{Generation1, Generation2}
	g2 := []string{Generation2}
	t := func(gen1, gen2 int64) map[string]int64 {
		m := map[string]int64{}
		if gen1 != 0 {
			m[Generation1] = gen1
		}
		if gen2 != 0 {
			m[Generation2] = gen2
		}
		return m
	}
	er := func(name, series string, tput int64) SKU {
		return SKU{
			Name: name, GatewayType: GatewayTypeExpressRoute, Series: series,
			Generations: []string{GenerationNone}, Throughput: map[string]int64{GenerationNone: tput},
			BGP: true, ZoneRedundant: series == SeriesErGwAZ,
		}
	}
	return []SKU{
		{
			Name: "Basic", GatewayType: GatewayTypeVpn, Series: SeriesBasic, Generations: g1,
			S2STunnels: 10, PolicyBasedTunnels: 1, P2SSSTP: 128, Throughput: t(100*mbps, 0),
		},
		vpn("VpnGw1", SeriesVpnGw, g1, 30, 250, t(650*mbps, 0)),
		vpn("VpnGw2", SeriesVpnGw, g12, 30, 500, t(1*gbps, 1250*mbps)),
		vpn("VpnGw3", SeriesVpnGw, g12, 30, 1000, t(1250*mbps, 2500*mbps)),
		vpn("VpnGw4", SeriesVpnGw, g2, 100, 5000, t(0, 5*gbps)),
		vpn("VpnGw5", SeriesVpnGw, g2, 100, 10000, t(0, 10*gbps)),
		vpn("VpnGw1AZ", SeriesVpnGwAZ, g1, 30, 250, t(650*mbps, 0)),
		vpn("VpnGw2AZ", SeriesVpnGwAZ, g12, 30, 500, t(1*gbps, 1250*mbps)),
		vpn("VpnGw3AZ", SeriesVpnGwAZ, g12, 30, 1000, t(1250*mbps, 2500*mbps)),
		vpn("VpnGw4AZ", SeriesVpnGwAZ, g2, 100, 5000, t(0, 5*gbps)),
		vpn("VpnGw5AZ", SeriesVpnGwAZ, g2, 100, 10000, t(0, 10*gbps)),
		er("Standard", SeriesExpressRoute, 1*gbps),
		er("HighPerformance", SeriesExpressRoute, 2*gbps),
		er("UltraPerformance", SeriesExpressRoute, 10*gbps),
		er("ErGw1AZ", SeriesErGwAZ, 1*gbps),
		er("ErGw2AZ", SeriesErGwAZ, 2*gbps),
		er("ErGw3AZ", SeriesErGwAZ, 10*gbps),
	}
}

// LookupSKU returns the SKU with the given name, matched
// case-insensitively. "Standard" and "HighPerformance" are the ExpressRoute
// SKUs: the legacy VPN SKUs of the same names are retired (see
// RetiredVpnSKU).
func LookupSKU(name string) (SKU, bool) {
	for _, s := range SKUs() {
		if strings.EqualFold(s.Name, name) {
			return s, true
		}
	}
	return SKU{}, false
}

// SKUNames returns the names of the SKUs of a gateway type.
func SKUNames(gatewayType string) []string {
	var out []string
	for _, s := range SKUs() {
		if s.GatewayType == gatewayType {
			out = append(out, s.Name)
		}
	}
	return out
}

// RetiredVpnSKU reports whether name is a legacy VPN SKU that can no
// longer be used for a Vpn gateway (Standard, HighPerformance: retired
// 30 Sep 2025).
func RetiredVpnSKU(name string) bool {
	return strings.EqualFold(name, "Standard") || strings.EqualFold(name, "HighPerformance")
}

// SupportsGeneration reports whether the SKU exists in generation gen.
func (s SKU) SupportsGeneration(gen string) bool { return slices.Contains(s.Generations, gen) }

// DefaultGeneration is the generation used when vpnGatewayGeneration is
// omitted: Generation1 where the SKU allows it, else Generation2 (None for
// ExpressRoute).
func (s SKU) DefaultGeneration() string { return s.Generations[0] }

// MaxS2STunnels is the connection limit for a gateway of vpnType.
func (s SKU) MaxS2STunnels(vpnType string) int {
	if vpnType == VpnTypePolicyBased {
		return s.PolicyBasedTunnels
	}
	return s.S2STunnels
}

// ThroughputFor is the aggregate throughput in bit/s in generation gen (0
// when the SKU does not exist in gen).
func (s SKU) ThroughputFor(gen string) int64 { return s.Throughput[gen] }

// CheckResize reports whether a gateway of generation gen can change SKU
// from one to another in place. VPN gateways resize only within one series
// (VpnGw, VpnGwAZ) and one generation, never to or from Basic; ExpressRoute
// gateways follow the up/downgrade list of reference §2.4. The error has
// Code CodeResizeNotSupported.
func CheckResize(from, to SKU, gen string) error {
	const target = "properties.sku.name"
	if from.Name == to.Name {
		return nil
	}
	if from.GatewayType == GatewayTypeExpressRoute || to.GatewayType == GatewayTypeExpressRoute {
		// The in-place ExpressRoute changes of reference §2.4; every other
		// change means delete and re-create.
		allowed := [...][2]string{
			{"Standard", "HighPerformance"}, {"Standard", "UltraPerformance"}, {"HighPerformance", "UltraPerformance"},
			{"ErGw1AZ", "ErGw2AZ"}, {"ErGw1AZ", "ErGw3AZ"}, {"ErGw2AZ", "ErGw3AZ"},
			{"HighPerformance", "Standard"}, {"ErGw2AZ", "ErGw1AZ"},
		}
		for _, c := range allowed {
			if c[0] == from.Name && c[1] == to.Name {
				return nil
			}
		}
		return Errorf(CodeResizeNotSupported, target,
			"The ExpressRoute gateway SKU cannot change from %s to %s in place; delete and re-create the gateway. Allowed: Standard->HighPerformance, Standard->UltraPerformance, HighPerformance->UltraPerformance, HighPerformance->Standard, ErGw1AZ->ErGw2AZ/ErGw3AZ, ErGw2AZ->ErGw3AZ, ErGw2AZ->ErGw1AZ.",
			from.Name, to.Name)
	}
	if from.Series == SeriesBasic || to.Series == SeriesBasic {
		return Errorf(CodeResizeNotSupported, target,
			"A gateway cannot be resized from %s to %s: resizing to or from Basic is not supported; delete the gateway and create a new one (its public IP changes).",
			from.Name, to.Name)
	}
	if from.Series != to.Series {
		return Errorf(CodeResizeNotSupported, target,
			"A gateway cannot be resized from %s to %s: resizing between the AZ and non-AZ series is not supported; delete the gateway and create a new one.",
			from.Name, to.Name)
	}
	if !to.SupportsGeneration(gen) {
		return Errorf(CodeResizeNotSupported, target,
			"A %s gateway cannot be resized from %s to %s: %s exists only in %s, and resizing across generations is not supported.",
			gen, from.Name, to.Name, to.Name, strings.Join(to.Generations, ", "))
	}
	return nil
}
