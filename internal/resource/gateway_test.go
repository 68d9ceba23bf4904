package resource

import (
	"fmt"
	"strings"
	"testing"
)

func TestValidateGateway(t *testing.T) {
	base := func() *VirtualNetworkGateway { return newGateway("gw1", "vnet1", "pip1") }
	aa := func(g *VirtualNetworkGateway) {
		*g = *newGateway("gw1", "vnet1", "pip1", "pip2")
	}
	p2s := func(g *VirtualNetworkGateway) { g.Properties.VpnClientConfiguration = p2sConfig(t, "172.16.201.0/24") }
	runValidate(t, base, []vcase[*VirtualNetworkGateway]{
		{name: "valid"},
		{name: "lower-case enums", mut: func(g *VirtualNetworkGateway) {
			g.Properties.GatewayType, g.Properties.VpnType, g.Properties.SKU.Name = "vpn", "routebased", "vpngw2"
		}},
		{name: "gatewayType unknown", mut: func(g *VirtualNetworkGateway) { g.Properties.GatewayType = "Firewall" },
			code: CodeInvalidParameter, target: "properties.gatewayType"},
		{name: "gatewayType LocalGateway", mut: func(g *VirtualNetworkGateway) { g.Properties.GatewayType = "LocalGateway" },
			code: CodeInvalidParameter, target: "properties.gatewayType", msg: []string{"vpngw"}},
		{name: "vpnType unknown", mut: func(g *VirtualNetworkGateway) { g.Properties.VpnType = "Dynamic" },
			code: CodeInvalidParameter, target: "properties.vpnType"},
		{name: "sku missing", mut: func(g *VirtualNetworkGateway) { g.Properties.SKU.Name = "" },
			code: CodeMissingParameter, target: "properties.sku.name"},
		{name: "sku unknown", mut: func(g *VirtualNetworkGateway) { g.Properties.SKU.Name = "VpnGw9" },
			code: CodeInvalidGatewaySku, target: "properties.sku.name", msg: []string{"VpnGw5AZ"}},
		{name: "legacy Standard retired", mut: func(g *VirtualNetworkGateway) { g.Properties.SKU.Name = "Standard" },
			code: CodeInvalidGatewaySku, target: "properties.sku.name", msg: []string{"retired"}},
		{name: "legacy HighPerformance retired", mut: func(g *VirtualNetworkGateway) { g.Properties.SKU.Name = "HighPerformance" },
			code: CodeInvalidGatewaySku, target: "properties.sku.name", msg: []string{"retired"}},
		{name: "ExpressRoute sku on Vpn", mut: func(g *VirtualNetworkGateway) { g.Properties.SKU.Name = "UltraPerformance" },
			code: CodeInvalidGatewaySku, target: "properties.sku.name", msg: []string{"ExpressRoute"}},
		{name: "Vpn sku on ExpressRoute", mut: func(g *VirtualNetworkGateway) { g.Properties.GatewayType, g.Properties.VpnType = "ExpressRoute", "" },
			code: CodeInvalidGatewaySku, target: "properties.sku.name"},
		{name: "ExpressRoute gateway", mut: func(g *VirtualNetworkGateway) {
			g.Properties.GatewayType, g.Properties.VpnType, g.Properties.SKU.Name = "ExpressRoute", "", "ErGw1AZ"
		}},
		{name: "ExpressRoute with generation", mut: func(g *VirtualNetworkGateway) {
			g.Properties.GatewayType, g.Properties.VpnType, g.Properties.SKU.Name = "ExpressRoute", "", "Standard"
			g.Properties.VpnGatewayGeneration = "Generation1"
		}, code: CodeInvalidGatewaySku, target: "properties.vpnGatewayGeneration", msg: []string{"None"}},
		{name: "ExpressRoute PolicyBased", mut: func(g *VirtualNetworkGateway) {
			g.Properties.GatewayType, g.Properties.VpnType, g.Properties.SKU.Name = "ExpressRoute", "PolicyBased", "Standard"
		}, code: CodeInvalidParameter, target: "properties.vpnType"},
		{name: "ExpressRoute with P2S", mut: func(g *VirtualNetworkGateway) {
			g.Properties.GatewayType, g.Properties.VpnType, g.Properties.SKU.Name = "ExpressRoute", "", "Standard"
			p2s(g)
		}, code: CodeVpnClientConfiguration, target: "properties.vpnClientConfiguration"},
		{name: "Gen2 VpnGw2", mut: func(g *VirtualNetworkGateway) {
			g.Properties.SKU.Name, g.Properties.VpnGatewayGeneration = "VpnGw2", "Generation2"
		}},
		{name: "generation None on Vpn", mut: func(g *VirtualNetworkGateway) { g.Properties.VpnGatewayGeneration = "None" },
			code: CodeInvalidParameter, target: "properties.vpnGatewayGeneration"},
		{name: "tier differs", mut: func(g *VirtualNetworkGateway) { g.Properties.SKU.Tier = "VpnGw2" },
			code: CodeInvalidGatewaySku, target: "properties.sku.tier"},
		{name: "no ipConfigurations", mut: func(g *VirtualNetworkGateway) { g.Properties.IPConfigurations = nil },
			code: CodeMissingParameter, target: "properties.ipConfigurations", msg: []string{"GatewaySubnet"}},
		{name: "two ipConfigurations without activeActive", mut: func(g *VirtualNetworkGateway) { aa(g); g.Properties.ActiveActive = false },
			code: CodeInvalidParameter, target: "properties.ipConfigurations", msg: []string{"activeActive"}},
		{name: "activeActive with one ipConfiguration", mut: func(g *VirtualNetworkGateway) { g.Properties.ActiveActive = true },
			code: CodeActiveActiveInvalid, target: "properties.ipConfigurations"},
		{name: "activeActive", mut: aa},
		{name: "activeActive with P2S needs a third", mut: func(g *VirtualNetworkGateway) { aa(g); p2s(g) },
			code: CodeActiveActiveInvalid, target: "properties.ipConfigurations", msg: []string{"three"}},
		{name: "activeActive with P2S and three", mut: func(g *VirtualNetworkGateway) {
			*g = *newGateway("gw1", "vnet1", "pip1", "pip2", "pip3")
			g.Properties.VpnClientConfiguration = p2sConfig(t, "172.16.201.0/24")
		}},
		{name: "activeActive same public IP", mut: func(g *VirtualNetworkGateway) {
			aa(g)
			g.Properties.IPConfigurations[1].Properties.PublicIPAddress = ref(TypePublicIPAddresses, "PIP1")
		}, code: CodeActiveActiveInvalid, target: "properties.ipConfigurations[1].properties.publicIPAddress.id"},
		{name: "ipConfiguration names twice", mut: func(g *VirtualNetworkGateway) {
			aa(g)
			g.Properties.IPConfigurations[1].Name = "IPCONFIG1"
		}, code: CodeInvalidParameter, target: "properties.ipConfigurations[1].name"},
		{name: "ipConfiguration default name", mut: func(g *VirtualNetworkGateway) { g.Properties.IPConfigurations[0].Name = "" }},
		{name: "privateIPAllocationMethod bad", mut: func(g *VirtualNetworkGateway) {
			g.Properties.IPConfigurations[0].Properties.PrivateIPAllocationMethod = "Auto"
		}, code: CodeInvalidParameter, target: "properties.ipConfigurations[0].properties.privateIPAllocationMethod"},
		{name: "subnet missing", mut: func(g *VirtualNetworkGateway) { g.Properties.IPConfigurations[0].Properties.Subnet = nil },
			code: CodeMissingParameter, target: "properties.ipConfigurations[0].properties.subnet.id", msg: []string{"GatewaySubnet"}},
		{name: "subnet id malformed", mut: func(g *VirtualNetworkGateway) {
			g.Properties.IPConfigurations[0].Properties.Subnet.ID = "GatewaySubnet"
		},
			code: CodeInvalidResourceID, target: "properties.ipConfigurations[0].properties.subnet.id"},
		{name: "subnet id is a vnet", mut: func(g *VirtualNetworkGateway) {
			g.Properties.IPConfigurations[0].Properties.Subnet = ref(TypeVirtualNetworks, "vnet1")
		}, code: CodeGatewaySubnet, target: "properties.ipConfigurations[0].properties.subnet.id", msg: []string{"GatewaySubnet"}},
		{name: "subnet not GatewaySubnet", mut: func(g *VirtualNetworkGateway) {
			g.Properties.IPConfigurations[0].Properties.Subnet = subnetRef("vnet1", "default")
		}, code: CodeGatewaySubnet, target: "properties.ipConfigurations[0].properties.subnet.id", msg: []string{"GatewaySubnet"}},
		{name: "ipConfigurations in two subnets", mut: func(g *VirtualNetworkGateway) {
			aa(g)
			g.Properties.IPConfigurations[1].Properties.Subnet = subnetRef("vnet2", GatewaySubnetName)
		}, code: CodeGatewaySubnet, target: "properties.ipConfigurations[1].properties.subnet.id"},
		{name: "public IP missing", mut: func(g *VirtualNetworkGateway) { g.Properties.IPConfigurations[0].Properties.PublicIPAddress = nil },
			code: CodeMissingParameter, target: "properties.ipConfigurations[0].properties.publicIPAddress.id"},
		{name: "public IP id of wrong type", mut: func(g *VirtualNetworkGateway) {
			g.Properties.IPConfigurations[0].Properties.PublicIPAddress = ref(TypeLocalNetworkGateways, "x")
		}, code: CodeInvalidParameter, target: "properties.ipConfigurations[0].properties.publicIPAddress.id"},
		{name: "PolicyBased Basic", mut: func(g *VirtualNetworkGateway) { g.Properties.VpnType, g.Properties.SKU.Name = "PolicyBased", "Basic" }},
		{name: "PolicyBased needs Basic", mut: func(g *VirtualNetworkGateway) { g.Properties.VpnType = "PolicyBased" },
			code: CodePolicyBasedLimit, target: "properties.sku.name", msg: []string{"Basic"}},
		{name: "PolicyBased BGP", mut: func(g *VirtualNetworkGateway) {
			g.Properties.VpnType, g.Properties.SKU.Name, g.Properties.EnableBgp = "PolicyBased", "Basic", true
		}, code: CodePolicyBasedLimit, target: "properties.enableBgp"},
		{name: "PolicyBased activeActive", mut: func(g *VirtualNetworkGateway) {
			aa(g)
			g.Properties.VpnType, g.Properties.SKU.Name = "PolicyBased", "Basic"
		}, code: CodePolicyBasedLimit, target: "properties.activeActive"},
		{name: "PolicyBased P2S", mut: func(g *VirtualNetworkGateway) {
			g.Properties.VpnType, g.Properties.SKU.Name = "PolicyBased", "Basic"
			g.Properties.VpnClientConfiguration = &VpnClientConfiguration{VpnClientAddressPool: &AddressSpace{AddressPrefixes: []string{"172.16.201.0/24"}}}
		}, code: CodePolicyBasedLimit, target: "properties.vpnClientConfiguration", msg: []string{"RouteBased"}},
		{name: "PolicyBased default site", mut: func(g *VirtualNetworkGateway) {
			g.Properties.VpnType, g.Properties.SKU.Name = "PolicyBased", "Basic"
			g.Properties.GatewayDefaultSite = ref(TypeLocalNetworkGateways, "site1")
		}, code: CodePolicyBasedLimit, target: "properties.gatewayDefaultSite.id"},
		{name: "Basic BGP", mut: func(g *VirtualNetworkGateway) { g.Properties.SKU.Name, g.Properties.EnableBgp = "Basic", true },
			code: CodeBgpNotSupported, target: "properties.enableBgp"},
		{name: "Basic activeActive", mut: func(g *VirtualNetworkGateway) { aa(g); g.Properties.SKU.Name = "Basic" },
			code: CodeActiveActiveInvalid, target: "properties.activeActive"},
		{name: "BGP on VpnGw1", mut: func(g *VirtualNetworkGateway) { g.Properties.EnableBgp = true }},
		{name: "asn default", mut: func(g *VirtualNetworkGateway) { g.Properties.BgpSettings = &BgpSettings{} }},
		{name: "asn 65515 explicit", mut: func(g *VirtualNetworkGateway) { g.Properties.BgpSettings = &BgpSettings{ASN: 65515} }},
		{name: "asn private", mut: func(g *VirtualNetworkGateway) { g.Properties.BgpSettings = &BgpSettings{ASN: 64512} }},
		{name: "asn 32-bit", mut: func(g *VirtualNetworkGateway) { g.Properties.BgpSettings = &BgpSettings{ASN: 4200000000} }},
		{name: "asn 65520 reserved", mut: func(g *VirtualNetworkGateway) { g.Properties.BgpSettings = &BgpSettings{ASN: 65520} },
			code: CodeInvalidAsn, target: "properties.bgpSettings.asn", msg: []string{"65520"}},
		{name: "asn 8075 reserved", mut: func(g *VirtualNetworkGateway) { g.Properties.BgpSettings = &BgpSettings{ASN: 8075} },
			code: CodeInvalidAsn, target: "properties.bgpSettings.asn"},
		{name: "asn 23456 reserved", mut: func(g *VirtualNetworkGateway) { g.Properties.BgpSettings = &BgpSettings{ASN: 23456} },
			code: CodeInvalidAsn, target: "properties.bgpSettings.asn"},
		{name: "asn too large", mut: func(g *VirtualNetworkGateway) { g.Properties.BgpSettings = &BgpSettings{ASN: 4294967296} },
			code: CodeInvalidAsn, target: "properties.bgpSettings.asn"},
		{name: "peerWeight negative", mut: func(g *VirtualNetworkGateway) { g.Properties.BgpSettings = &BgpSettings{PeerWeight: -1} },
			code: CodeInvalidParameter, target: "properties.bgpSettings.peerWeight"},
		{name: "custom APIPA", mut: func(g *VirtualNetworkGateway) {
			g.Properties.BgpSettings = &BgpSettings{BgpPeeringAddresses: []IPConfigurationBgpPeeringAddress{{
				IPConfigurationID: ipcfgID("gw1", "ipconfig1"), CustomBgpIPAddresses: []string{"169.254.21.1", "169.254.22.255"}}}}
		}},
		{name: "custom APIPA out of range", mut: func(g *VirtualNetworkGateway) {
			g.Properties.BgpSettings = &BgpSettings{BgpPeeringAddresses: []IPConfigurationBgpPeeringAddress{{
				IPConfigurationID: ipcfgID("gw1", "ipconfig1"), CustomBgpIPAddresses: []string{"169.254.23.1"}}}}
		}, code: CodeInvalidParameter, target: "properties.bgpSettings.bgpPeeringAddresses[0].customBgpIpAddresses[0]", msg: []string{"169.254.21.0"}},
		{name: "custom APIPA unknown ipconfig", mut: func(g *VirtualNetworkGateway) {
			g.Properties.BgpSettings = &BgpSettings{BgpPeeringAddresses: []IPConfigurationBgpPeeringAddress{{
				IPConfigurationID: ipcfgID("gw1", "nope"), CustomBgpIPAddresses: []string{"169.254.21.1"}}}}
		}, code: CodeInvalidParameter, target: "properties.bgpSettings.bgpPeeringAddresses[0].ipconfigurationId"},
		{name: "custom APIPA no ipconfig", mut: func(g *VirtualNetworkGateway) {
			g.Properties.BgpSettings = &BgpSettings{BgpPeeringAddresses: []IPConfigurationBgpPeeringAddress{{CustomBgpIPAddresses: []string{"169.254.21.1"}}}}
		}, code: CodeMissingParameter, target: "properties.bgpSettings.bgpPeeringAddresses[0].ipconfigurationId"},
		{name: "custom APIPA over 32", mut: func(g *VirtualNetworkGateway) {
			var ips []string
			for i := range 33 {
				ips = append(ips, fmt.Sprintf("169.254.21.%d", i+1))
			}
			g.Properties.BgpSettings = &BgpSettings{BgpPeeringAddresses: []IPConfigurationBgpPeeringAddress{{
				IPConfigurationID: ipcfgID("gw1", "ipconfig1"), CustomBgpIPAddresses: ips}}}
		}, code: CodeLimitExceeded, target: "properties.bgpSettings.bgpPeeringAddresses"},
		{name: "default site not an LNG", mut: func(g *VirtualNetworkGateway) { g.Properties.GatewayDefaultSite = ref(TypePublicIPAddresses, "pip1") },
			code: CodeInvalidParameter, target: "properties.gatewayDefaultSite.id"},
		{name: "custom routes bad", mut: func(g *VirtualNetworkGateway) {
			g.Properties.CustomRoutes = &AddressSpace{AddressPrefixes: []string{"10.9.0.1/16"}}
		},
			code: CodeInvalidCIDR, target: "properties.customRoutes.addressPrefixes[0]"},
	})
}

func ipcfgID(gw, name string) string {
	i := id(TypeVirtualNetworkGateways, gw)
	i.Child, i.ChildName = TypeIPConfigurations, name
	return i.String()
}

func gwWith(name, vnet string, f func(*VirtualNetworkGateway), pips ...string) func(*world) Object {
	return func(*world) Object {
		g := newGateway(name, vnet, pips...)
		if f != nil {
			f(g)
		}
		return g
	}
}

func storedGW(name string, f func(*VirtualNetworkGateway)) func(*world) Object {
	return func(w *world) Object {
		g := w.get(TypeVirtualNetworkGateways, name).(*VirtualNetworkGateway)
		f(g)
		return g
	}
}

func erGateway(name, vnet, pip string) *VirtualNetworkGateway {
	g := newGateway(name, vnet, pip)
	g.Properties.GatewayType, g.Properties.VpnType, g.Properties.SKU.Name = "ExpressRoute", "", "ErGw1AZ"
	return g
}

func TestResolveGateway(t *testing.T) {
	const st = "properties.ipConfigurations[0].properties.subnet.id"
	const pt = "properties.ipConfigurations[0].properties.publicIPAddress.id"
	putGW1 := func(w *world) { w.mustPut(newGateway("gw1", "vnet1", "pip1")) }
	runResolve(t, []rcase{
		{name: "valid", obj: gwWith("gw1", "vnet1", nil, "pip1")},
		{name: "subnet ID in other case", obj: gwWith("gw1", "vnet1", func(g *VirtualNetworkGateway) {
			g.Properties.IPConfigurations[0].Properties.Subnet.ID = strings.ToUpper(g.Properties.IPConfigurations[0].Properties.Subnet.ID)
		}, "pip1")},
		{name: "no Gen2 VpnGw1", obj: gwWith("gw1", "vnet1", func(g *VirtualNetworkGateway) { g.Properties.VpnGatewayGeneration = "Generation2" }, "pip1"),
			code: CodeInvalidGatewaySku, target: "properties.vpnGatewayGeneration", msg: []string{"Generation1"}},
		{name: "Gen2 VpnGw2", obj: gwWith("gw1", "vnet1", func(g *VirtualNetworkGateway) {
			g.Properties.SKU.Name, g.Properties.VpnGatewayGeneration = "VpnGw2", "Generation2"
		}, "pip1")},
		{name: "Gen1 VpnGw4", obj: gwWith("gw1", "vnet1", func(g *VirtualNetworkGateway) {
			g.Properties.SKU.Name, g.Properties.VpnGatewayGeneration = "VpnGw4", "Generation1"
		}, "pip1"), code: CodeInvalidGatewaySku, target: "properties.vpnGatewayGeneration", msg: []string{"Generation2"}},
		{name: "Gen1 VpnGw5AZ", obj: gwWith("gw1", "vnet1", func(g *VirtualNetworkGateway) {
			g.Properties.SKU.Name, g.Properties.VpnGatewayGeneration = "VpnGw5AZ", "Generation1"
		}, "pip1"), code: CodeInvalidGatewaySku, target: "properties.vpnGatewayGeneration"},
		{name: "Gen2 Basic", obj: gwWith("gw1", "vnet1", func(g *VirtualNetworkGateway) {
			g.Properties.SKU.Name, g.Properties.VpnGatewayGeneration = "Basic", "Generation2"
		}, "pip1"), code: CodeInvalidGatewaySku, target: "properties.vpnGatewayGeneration"},
		{name: "default generation Gen2 for VpnGw4", obj: gwWith("gw1", "vnet1", func(g *VirtualNetworkGateway) { g.Properties.SKU.Name = "VpnGw4" }, "pip1")},
		{name: "vnet missing", obj: gwWith("gw1", "vnet9", nil, "pip1"), code: CodeReferencedNotFound, target: st, msg: []string{"vnet9"}},
		{name: "GatewaySubnet missing", obj: gwWith("gw1", "vnet1", nil, "pip1"),
			setup: func(w *world) {
				w.mustPut(newVNet("vnet1", "10.1.0.0/16").with("default", "10.1.0.0/24"))
			}, code: CodeReferencedNotFound, target: st, msg: []string{"GatewaySubnet"}},
		{name: "subnet named gatewaysubnet", obj: gwWith("gw1", "vnet1", nil, "pip1"),
			setup: func(w *world) {
				w.mustPut(newVNet("vnet1", "10.1.0.0/16").with("gatewaysubnet", "10.1.255.0/27"))
			}, code: CodeGatewaySubnet, target: st, msg: []string{"exactly GatewaySubnet"}},
		{name: "GatewaySubnet /29", obj: gwWith("gw1", "vnet3", nil, "pip1"),
			setup: func(w *world) { w.mustPut(newVNet("vnet3", "10.3.0.0/16").with(GatewaySubnetName, "10.3.255.0/29")) }},
		{name: "GatewaySubnet IPv6 only", obj: gwWith("gw1", "vnet3", nil, "pip1"),
			setup: func(w *world) { w.mustPut(newVNet("vnet3", "fd00:3::/48").with(GatewaySubnetName, "fd00:3::/64")) },
			code:  CodeGatewaySubnet, target: st, msg: []string{"IPv4"}},
		{name: "location differs from vnet", obj: gwWith("gw1", "vnet1", func(g *VirtualNetworkGateway) { g.Location = "northeurope" }, "pipne"),
			setup: func(w *world) {
				p := newPIP("pipne")
				p.Location = "northeurope"
				w.mustPut(p)
			}, code: CodeLocationMismatch, target: "location"},
		{name: "location spelled differently", obj: gwWith("gw1", "vnet1", func(g *VirtualNetworkGateway) { g.Location = "West Europe" }, "pip1")},
		{name: "public IP in other location", obj: gwWith("gw1", "vnet1", nil, "pipne"),
			setup: func(w *world) {
				p := newPIP("pipne")
				p.Location = "northeurope"
				w.mustPut(p)
			}, code: CodeLocationMismatch, target: pt},
		{name: "second Vpn gateway in vnet", setup: putGW1, obj: gwWith("gw2", "vnet1", nil, "pip2"),
			code: CodeGatewayPerVnetLimit, target: st, msg: []string{"one Vpn gateway"}},
		{name: "ExpressRoute beside Vpn in /27", setup: putGW1, obj: func(*world) Object { return erGateway("er1", "vnet1", "pip2") }},
		{name: "ExpressRoute beside Vpn in /28", setup: func(w *world) {
			w.mustPut(newVNet("vnet3", "10.3.0.0/16").with(GatewaySubnetName, "10.3.255.0/28"), newGateway("gw3", "vnet3", "pip1"))
		}, obj: func(*world) Object { return erGateway("er1", "vnet3", "pip2") }, code: CodeGatewaySubnet, target: st, msg: []string{"/27"}},
		{name: "Vpn beside ExpressRoute in /28", setup: func(w *world) {
			w.mustPut(newVNet("vnet3", "10.3.0.0/16").with(GatewaySubnetName, "10.3.255.0/28"), erGateway("er1", "vnet3", "pip2"))
		}, obj: gwWith("gw3", "vnet3", nil, "pip1"), code: CodeGatewaySubnet, target: st, msg: []string{"/27"}},
		{name: "second ExpressRoute gateway", setup: func(w *world) { w.mustPut(erGateway("er1", "vnet1", "pip2")) },
			obj: func(*world) Object { return erGateway("er2", "vnet1", "pip3") }, code: CodeGatewayPerVnetLimit, target: st},
		{name: "public IP missing", obj: gwWith("gw1", "vnet1", nil, "pip9"), code: CodeReferencedNotFound, target: pt},
		{name: "Basic public IP on VpnGw1", setup: func(w *world) { w.mustPut(basicPIP("pipb")) }, obj: gwWith("gw1", "vnet1", nil, "pipb"),
			code: CodePublicIPBasicSku, target: pt, msg: []string{"Standard"}},
		{name: "Basic public IP on Basic gateway", setup: func(w *world) { w.mustPut(basicPIP("pipb")) },
			obj: gwWith("gw1", "vnet1", func(g *VirtualNetworkGateway) { g.Properties.SKU.Name = "Basic" }, "pipb")},
		{name: "Standard public IP on Basic gateway", obj: gwWith("gw1", "vnet1", func(g *VirtualNetworkGateway) { g.Properties.SKU.Name = "Basic" }, "pip1")},
		{name: "IPv6 public IP", setup: func(w *world) {
			p := newPIP("pip6v")
			p.Properties.PublicIPAddressVersion = "IPv6"
			w.mustPut(p)
		}, obj: gwWith("gw1", "vnet1", nil, "pip6v"), code: CodeInvalidPublicIPAddress, target: pt, msg: []string{"IPv4"}},
		{name: "Global public IP", setup: func(w *world) {
			p := newPIP("pipg")
			p.SKU.Tier = "Global"
			w.mustPut(p)
		}, obj: gwWith("gw1", "vnet1", nil, "pipg"), code: CodeInvalidPublicIPAddress, target: pt, msg: []string{"Regional"}},
		{name: "public IP used by another gateway", setup: putGW1, obj: gwWith("gw2", "vnet2", nil, "pip1"),
			code: CodeInvalidPublicIPAddress, target: pt, msg: []string{"ipConfigurations/ipconfig1"}},
		{name: "default site", obj: gwWith("gw1", "vnet1", func(g *VirtualNetworkGateway) {
			g.Properties.GatewayDefaultSite = ref(TypeLocalNetworkGateways, "site1")
		}, "pip1")},
		{name: "default site missing", obj: gwWith("gw1", "vnet1", func(g *VirtualNetworkGateway) {
			g.Properties.GatewayDefaultSite = ref(TypeLocalNetworkGateways, "site9")
		}, "pip1"), code: CodeReferencedNotFound, target: "properties.gatewayDefaultSite.id"},
		{name: "P2S pool overlaps vnet", obj: gwWith("gw1", "vnet1", func(g *VirtualNetworkGateway) {
			g.Properties.VpnClientConfiguration = p2sConfig(t, "10.1.128.0/24")
		}, "pip1"), code: CodeAddressOverlap, target: "properties.vpnClientConfiguration.vpnClientAddressPool.addressPrefixes"},
		{name: "P2S pool overlaps a connected site", setup: func(w *world) {
			putGW1(w)
			w.mustPut(newConn("c1", "gw1", "site1"))
		}, obj: storedGW("gw1", func(g *VirtualNetworkGateway) {
			g.Properties.VpnClientConfiguration = p2sConfig(t, "192.168.10.0/24")
		}), code: CodeAddressOverlap, target: "properties.vpnClientConfiguration.vpnClientAddressPool.addressPrefixes", msg: []string{"site1"}},
		{name: "vnet with 601 prefixes", setup: func(w *world) {
			v := newVNet("vnet3")
			for i := range 600 {
				v.Properties.AddressSpace.AddressPrefixes = append(v.Properties.AddressSpace.AddressPrefixes, fmt.Sprintf("10.%d.%d.0/24", 100+i/256, i%256))
			}
			v.Properties.AddressSpace.AddressPrefixes = append(v.Properties.AddressSpace.AddressPrefixes, "10.200.0.0/24")
			v.with(GatewaySubnetName, "10.200.0.0/27")
			w.mustPut(v)
		}, obj: gwWith("gw1", "vnet3", nil, "pip1"), code: CodeLimitExceeded, target: st, msg: []string{"600"}},

		// Updates.
		{name: "update unchanged", setup: putGW1, obj: storedGW("gw1", func(*VirtualNetworkGateway) {})},
		{name: "vpnType immutable", setup: putGW1, obj: storedGW("gw1", func(g *VirtualNetworkGateway) {
			g.Properties.VpnType, g.Properties.SKU.Name, g.Properties.SKU.Tier = "PolicyBased", "Basic", ""
		}), code: CodeImmutableProperty, target: "properties.vpnType"},
		{name: "vpnType omitted keeps stored", setup: putGW1, obj: storedGW("gw1", func(g *VirtualNetworkGateway) { g.Properties.VpnType = "" })},
		{name: "gatewayType immutable", setup: putGW1, obj: storedGW("gw1", func(g *VirtualNetworkGateway) {
			g.Properties.GatewayType, g.Properties.VpnType, g.Properties.SKU.Name, g.Properties.SKU.Tier = "ExpressRoute", "", "ErGw1AZ", ""
			g.Properties.VpnGatewayGeneration = "None"
		}), code: CodeImmutableProperty, target: "properties.gatewayType"},
		{name: "generation immutable", setup: func(w *world) {
			w.mustPut(gwWith("gw1", "vnet1", func(g *VirtualNetworkGateway) { g.Properties.SKU.Name = "VpnGw2" }, "pip1")(w))
		}, obj: storedGW("gw1", func(g *VirtualNetworkGateway) { g.Properties.VpnGatewayGeneration = "Generation2" }),
			code: CodeImmutableProperty, target: "properties.vpnGatewayGeneration"},
		{name: "resize VpnGw1 to VpnGw3", setup: putGW1, obj: storedGW("gw1", func(g *VirtualNetworkGateway) { g.Properties.SKU = VirtualNetworkGatewaySku{Name: "VpnGw3"} })},
		{name: "resize VpnGw1 to VpnGw4 crosses generations", setup: putGW1, obj: storedGW("gw1", func(g *VirtualNetworkGateway) {
			g.Properties.SKU = VirtualNetworkGatewaySku{Name: "VpnGw4"}
		}), code: CodeResizeNotSupported, target: "properties.sku.name"},
		{name: "resize Gen2 VpnGw2 to VpnGw5", setup: func(w *world) {
			w.mustPut(gwWith("gw1", "vnet1", func(g *VirtualNetworkGateway) {
				g.Properties.SKU.Name, g.Properties.VpnGatewayGeneration = "VpnGw2", "Generation2"
			}, "pip1")(w))
		}, obj: storedGW("gw1", func(g *VirtualNetworkGateway) { g.Properties.SKU = VirtualNetworkGatewaySku{Name: "VpnGw5"} })},
		{name: "resize VpnGw1 to VpnGw1AZ crosses series", setup: putGW1, obj: storedGW("gw1", func(g *VirtualNetworkGateway) {
			g.Properties.SKU = VirtualNetworkGatewaySku{Name: "VpnGw1AZ"}
		}), code: CodeResizeNotSupported, target: "properties.sku.name", msg: []string{"AZ"}},
		{name: "resize VpnGw1 to Basic", setup: putGW1, obj: storedGW("gw1", func(g *VirtualNetworkGateway) {
			g.Properties.SKU = VirtualNetworkGatewaySku{Name: "Basic"}
		}), code: CodeResizeNotSupported, target: "properties.sku.name", msg: []string{"Basic"}},
		{name: "resize ExpressRoute up", setup: func(w *world) { w.mustPut(erGateway("er1", "vnet1", "pip2")) },
			obj: storedGW("er1", func(g *VirtualNetworkGateway) { g.Properties.SKU = VirtualNetworkGatewaySku{Name: "ErGw3AZ"} })},
		{name: "resize ExpressRoute down not allowed", setup: func(w *world) {
			g := erGateway("er1", "vnet1", "pip2")
			g.Properties.SKU.Name = "ErGw3AZ"
			w.mustPut(g)
		}, obj: storedGW("er1", func(g *VirtualNetworkGateway) { g.Properties.SKU = VirtualNetworkGatewaySku{Name: "ErGw1AZ"} }),
			code: CodeResizeNotSupported, target: "properties.sku.name"},
		{name: "move to another vnet", setup: putGW1, obj: storedGW("gw1", func(g *VirtualNetworkGateway) {
			g.Properties.IPConfigurations[0].Properties.Subnet = subnetRef("vnet2", GatewaySubnetName)
		}), code: CodeImmutableProperty, target: st},
		{name: "swap public IP", setup: putGW1, obj: storedGW("gw1", func(g *VirtualNetworkGateway) {
			g.Properties.IPConfigurations[0].Properties.PublicIPAddress = ref(TypePublicIPAddresses, "pip2")
		}), code: CodeImmutableProperty, target: pt},
		{name: "enable active-active", setup: putGW1, obj: storedGW("gw1", func(g *VirtualNetworkGateway) {
			g.Properties.ActiveActive = true
			c := g.Properties.IPConfigurations[0]
			c.Name, c.Properties.PublicIPAddress = "ipconfig2", ref(TypePublicIPAddresses, "pip2")
			g.Properties.IPConfigurations = append(g.Properties.IPConfigurations, c)
		})},
		{name: "disable BGP under a BGP connection", setup: bgpSetup, obj: storedGW("gw1", func(g *VirtualNetworkGateway) { g.Properties.EnableBgp = false }),
			code: CodeBgpNotSupported, target: "properties.enableBgp", msg: []string{"connections/c1"}},
		{name: "gateway ASN equal to a site's", setup: bgpSetup, obj: storedGW("gw1", func(g *VirtualNetworkGateway) { g.Properties.BgpSettings.ASN = 65010 }),
			code: CodeInvalidAsn, target: "properties.bgpSettings.asn"},
		{name: "gateway ASN change", setup: bgpSetup, obj: storedGW("gw1", func(g *VirtualNetworkGateway) { g.Properties.BgpSettings.ASN = 65020 })},
		{name: "resize below connection count", setup: func(w *world) {
			w.mustPut(gwWith("gw1", "vnet1", func(g *VirtualNetworkGateway) { g.Properties.SKU.Name = "VpnGw4" }, "pip1")(w))
			for i := range 31 {
				w.mustPut(newLNG(fmt.Sprintf("s%d", i), "203.0.113.50", fmt.Sprintf("172.20.%d.0/24", i)))
				w.mustPut(newConn(fmt.Sprintf("c%d", i), "gw1", fmt.Sprintf("s%d", i)))
			}
		}, obj: storedGW("gw1", func(g *VirtualNetworkGateway) { g.Properties.SKU = VirtualNetworkGatewaySku{Name: "VpnGw3"} }),
			code: CodeLimitExceeded, target: "properties.sku.name", msg: []string{"30", "31"}},
		{name: "location immutable", setup: putGW1, obj: storedGW("gw1", func(g *VirtualNetworkGateway) { g.Location = "northeurope" }),
			code: CodeInvalidLocation, target: "location"},
	})
}

func basicPIP(name string) *PublicIPAddress {
	p := newPIP(name)
	p.SKU.Name, p.Properties.PublicIPAllocationMethod = "Basic", "Dynamic"
	return p
}

// bgpSetup: gw1 (BGP, ASN 65515) connected with BGP to site3 (ASN 65010,
// peer 192.170.255.1).
func bgpSetup(w *world) {
	g := newGateway("gw1", "vnet1", "pip1")
	g.Properties.EnableBgp = true
	l := newLNG("site3", "203.0.113.30", "192.170.0.0/16")
	l.Properties.BgpSettings = &BgpSettings{ASN: 65010, BgpPeeringAddress: "192.170.255.1"}
	c := newConn("c1", "gw1", "site3")
	c.Properties.EnableBgp = true
	w.mustPut(g, l, c)
}

func TestResolveGatewayComputedAddresses(t *testing.T) {
	w := stdWorld(t)
	pip := w.get(TypePublicIPAddresses, "pip1").(*PublicIPAddress)
	pip.Properties.IPAddress = "198.51.100.7" // the API allocates it; stored directly here
	w.v.objs[keyOf(pip)] = pip
	w.mustPut(newGateway("gw1", "vnet1", "pip1"))
	g := w.get(TypeVirtualNetworkGateways, "gw1").(*VirtualNetworkGateway)
	if got := g.Properties.IPConfigurations[0].Properties.PrivateIPAddress; got != "10.1.255.4" {
		t.Errorf("privateIPAddress = %q, want 10.1.255.4", got)
	}
	b := g.Properties.BgpSettings
	if b.ASN != 65515 || b.BgpPeeringAddress != "10.1.255.30" {
		t.Errorf("bgpSettings = %+v, want ASN 65515 and peering 10.1.255.30 (last usable of 10.1.255.0/27)", b)
	}
	if len(b.BgpPeeringAddresses) != 1 || b.BgpPeeringAddresses[0].TunnelIPAddresses[0] != "198.51.100.7" ||
		b.BgpPeeringAddresses[0].DefaultBgpIPAddresses[0] != "10.1.255.30" ||
		b.BgpPeeringAddresses[0].IPConfigurationID != ipcfgID("gw1", "ipconfig1") {
		t.Errorf("bgpPeeringAddresses = %+v", b.BgpPeeringAddresses)
	}
	if g.Properties.VpnGatewayGeneration != Generation1 || g.Properties.SKU.Tier != "VpnGw1" || g.Properties.SKU.Capacity != 2 {
		t.Errorf("defaults: generation %q tier %q capacity %d", g.Properties.VpnGatewayGeneration, g.Properties.SKU.Tier, g.Properties.SKU.Capacity)
	}
	if g.Properties.IPConfigurations[0].ID != ipcfgID("gw1", "ipconfig1") {
		t.Errorf("ipConfiguration id = %q", g.Properties.IPConfigurations[0].ID)
	}

	// Active-active: two instance addresses, comma-separated.
	aa := newGateway("gw2", "vnet2", "pip2", "pip3")
	aa.Properties.EnableBgp = true
	aa.Properties.BgpSettings = &BgpSettings{ASN: 65020, BgpPeeringAddresses: []IPConfigurationBgpPeeringAddress{{
		IPConfigurationID: ipcfgID("gw2", "ipconfig2"), CustomBgpIPAddresses: []string{"169.254.21.5"},
		DefaultBgpIPAddresses: []string{"1.2.3.4"}, // read-only: replaced
	}}}
	w.mustPut(aa)
	g2 := w.get(TypeVirtualNetworkGateways, "gw2").(*VirtualNetworkGateway)
	b2 := g2.Properties.BgpSettings
	if b2.BgpPeeringAddress != "10.2.255.4,10.2.255.5" {
		t.Errorf("active-active bgpPeeringAddress = %q, want 10.2.255.4,10.2.255.5", b2.BgpPeeringAddress)
	}
	if len(b2.BgpPeeringAddresses) != 2 || b2.BgpPeeringAddresses[1].DefaultBgpIPAddresses[0] != "10.2.255.5" ||
		len(b2.BgpPeeringAddresses[1].CustomBgpIPAddresses) != 1 || len(b2.BgpPeeringAddresses[0].CustomBgpIPAddresses) != 0 {
		t.Errorf("active-active bgpPeeringAddresses = %+v", b2.BgpPeeringAddresses)
	}
}
