package resource

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// rcase is one relational rule: setup stores the prior state, obj builds
// the resource to PUT (often a modified copy of a stored one).
type rcase struct {
	name   string
	setup  func(w *world)
	obj    func(w *world) Object
	code   string
	target string
	msg    []string
}

// stdWorld has VNet vnet1 (10.1.0.0/16, GatewaySubnet 10.1.255.0/27),
// vnet2 (10.2.0.0/16), public IPs pip1..pip6 and sites site1
// (192.168.0.0/16) and site2 (192.169.0.0/16).
func stdWorld(t *testing.T) *world {
	w := newWorld(t)
	v2 := newVNet("vnet2", "10.2.0.0/16").with(GatewaySubnetName, "10.2.255.0/27")
	w.mustPut(stdVNet("vnet1"), v2,
		newLNG("site1", "203.0.113.10", "192.168.0.0/16"), newLNG("site2", "203.0.113.20", "192.169.0.0/16"))
	for i := range 6 {
		w.mustPut(newPIP(fmt.Sprintf("pip%d", i+1)))
	}
	return w
}

func runResolve(t *testing.T, cases []rcase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := stdWorld(t)
			if c.setup != nil {
				c.setup(w)
			}
			expectErr(t, w.put(c.obj(w)), c.code, c.target, c.msg...)
		})
	}
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

func TestResolveVirtualNetwork(t *testing.T) {
	gw := func(w *world) { w.mustPut(newGateway("gw1", "vnet1", "pip1")) }
	vnet := func(f func(*VirtualNetwork)) func(w *world) Object {
		return func(w *world) Object {
			v := w.get(TypeVirtualNetworks, "vnet1").(*VirtualNetwork)
			f(v)
			return v
		}
	}
	const at = "properties.addressSpace.addressPrefixes"
	runResolve(t, []rcase{
		{name: "unchanged", setup: gw, obj: vnet(func(*VirtualNetwork) {})},
		{name: "delete GatewaySubnet in use", setup: gw, obj: vnet(func(v *VirtualNetwork) { v.DeleteSubnet("gatewaysubnet") }),
			code: CodeInUse, target: "properties.subnets", msg: []string{"ipConfigurations/ipconfig1"}},
		{name: "delete GatewaySubnet unused", obj: vnet(func(v *VirtualNetwork) { v.DeleteSubnet(GatewaySubnetName) })},
		{name: "change GatewaySubnet prefix in use", setup: gw, obj: vnet(func(v *VirtualNetwork) {
			s, _ := v.Subnet(GatewaySubnetName)
			s.Properties.AddressPrefix = "10.1.254.0/27"
		}), code: CodeInUseCannotUpdate, target: "properties.subnets[1].properties.addressPrefix", msg: []string{"10.1.255.0/27"}},
		{name: "change unused subnet prefix", setup: gw, obj: vnet(func(v *VirtualNetwork) {
			s, _ := v.Subnet("default")
			s.Properties.AddressPrefix = "10.1.1.0/24"
		})},
		{name: "address space shrinks under a subnet", obj: vnet(func(v *VirtualNetwork) {
			v.Properties.AddressSpace.AddressPrefixes = []string{"10.1.0.0/17"}
		}), code: CodeSubnetOutsideVnet, target: "properties.subnets[1].properties.addressPrefix"},
		{name: "address space grows", setup: gw, obj: vnet(func(v *VirtualNetwork) {
			v.Properties.AddressSpace.AddressPrefixes = append(v.Properties.AddressSpace.AddressPrefixes, "10.50.0.0/16")
		})},
		{name: "address space grows into a connected site", setup: func(w *world) {
			gw(w)
			w.mustPut(newConn("c1", "gw1", "site1"))
		}, obj: vnet(func(v *VirtualNetwork) {
			v.Properties.AddressSpace.AddressPrefixes = append(v.Properties.AddressSpace.AddressPrefixes, "192.168.5.0/24")
		}), code: CodeAddressOverlap, target: at, msg: []string{"connections/c1"}},
		{name: "address space grows into a Vnet2Vnet peer", setup: func(w *world) {
			gw(w)
			w.mustPut(newGateway("gw2", "vnet2", "pip2"), newV2V("c12", "gw2", "gw1"))
		}, obj: vnet(func(v *VirtualNetwork) {
			v.Properties.AddressSpace.AddressPrefixes = append(v.Properties.AddressSpace.AddressPrefixes, "10.2.5.0/24")
		}), code: CodeAddressOverlap, target: at, msg: []string{"connections/c12"}},
		{name: "address space grows into the P2S pool", setup: func(w *world) {
			g := newGateway("gw1", "vnet1", "pip1")
			g.Properties.VpnClientConfiguration = p2sConfig(t, "172.16.201.0/24")
			w.mustPut(g)
		}, obj: vnet(func(v *VirtualNetwork) {
			v.Properties.AddressSpace.AddressPrefixes = append(v.Properties.AddressSpace.AddressPrefixes, "172.16.0.0/16")
		}), code: CodeAddressOverlap, target: at, msg: []string{"172.16.201.0/24"}},
		{name: "location immutable", obj: vnet(func(v *VirtualNetwork) { v.Location = "eastus" }), code: CodeInvalidLocation, target: "location"},
		{name: "group missing", obj: func(*world) Object {
			v := stdVNet("vnet9")
			AssignIDs(v, idIn("nogroup", TypeVirtualNetworks, "vnet9"))
			return v
		}, code: CodeResourceGroupNotFound, target: ""},
	})
}

func TestResolveSubnet(t *testing.T) {
	sub := func(name, prefix string) func(*world) Object {
		return func(*world) Object {
			s := &Subnet{Envelope: Envelope{Name: name}, Properties: SubnetProperties{AddressPrefix: prefix}}
			i := id(TypeVirtualNetworks, "vnet1")
			i.Child, i.ChildName = TypeSubnets, name
			AssignIDs(s, i)
			return s
		}
	}
	gw := func(w *world) { w.mustPut(newGateway("gw1", "vnet1", "pip1")) }
	runResolve(t, []rcase{
		{name: "new subnet", obj: sub("app", "10.1.2.0/24")},
		{name: "new subnet outside", obj: sub("app", "10.9.2.0/24"), code: CodeSubnetOutsideVnet, target: "properties.addressPrefix"},
		{name: "new subnet overlapping", obj: sub("app", "10.1.0.0/25"), code: CodeAddressOverlap, target: "properties.addressPrefix"},
		{name: "GatewaySubnet prefix in use", setup: gw, obj: sub("GatewaySubnet", "10.1.254.0/27"), code: CodeInUseCannotUpdate, target: "properties.addressPrefix"},
		{name: "vnet missing", obj: func(*world) Object {
			s := &Subnet{Envelope: Envelope{Name: "x"}, Properties: SubnetProperties{AddressPrefix: "10.1.2.0/24"}}
			i := id(TypeVirtualNetworks, "vnet9")
			i.Child, i.ChildName = TypeSubnets, "x"
			AssignIDs(s, i)
			return s
		}, code: CodeReferencedNotFound, target: "id"},
	})
}

func TestResolvePublicIP(t *testing.T) {
	gw := func(w *world) { w.mustPut(newGateway("gw1", "vnet1", "pip1")) }
	pip := func(name string, f func(*PublicIPAddress)) func(*world) Object {
		return func(w *world) Object {
			p := w.get(TypePublicIPAddresses, name).(*PublicIPAddress)
			f(p)
			return p
		}
	}
	runResolve(t, []rcase{
		{name: "tags on used IP", setup: gw, obj: pip("pip1", func(p *PublicIPAddress) { p.Tags = map[string]string{"a": "b"} })},
		{name: "sku of used IP", setup: gw, obj: pip("pip1", func(p *PublicIPAddress) {
			p.SKU.Name, p.Properties.PublicIPAllocationMethod = "Basic", "Static"
		}), code: CodeInUseCannotUpdate, target: "sku.name", msg: []string{"ipconfig1"}},
		{name: "version of used IP", setup: gw, obj: pip("pip1", func(p *PublicIPAddress) { p.Properties.PublicIPAddressVersion = "IPv6" }),
			code: CodeInUseCannotUpdate, target: "properties.publicIPAddressVersion"},
		{name: "sku of free IP", setup: gw, obj: pip("pip2", func(p *PublicIPAddress) { p.SKU.Name, p.Properties.PublicIPAllocationMethod = "Basic", "Dynamic" })},
		{name: "location immutable", obj: pip("pip2", func(p *PublicIPAddress) { p.Location = "eastus" }), code: CodeInvalidLocation, target: "location"},
	})
}

func TestResolveLocalNetworkGateway(t *testing.T) {
	conn := func(w *world) {
		w.mustPut(newGateway("gw1", "vnet1", "pip1"), newConn("c1", "gw1", "site1"), newConn("c2", "gw1", "site2"))
	}
	lng := func(name string, f func(*LocalNetworkGateway)) func(*world) Object {
		return func(w *world) Object {
			l := w.get(TypeLocalNetworkGateways, name).(*LocalNetworkGateway)
			f(l)
			return l
		}
	}
	const at = "properties.localNetworkAddressSpace.addressPrefixes"
	runResolve(t, []rcase{
		{name: "prefix change", setup: conn, obj: lng("site1", func(l *LocalNetworkGateway) {
			l.Properties.LocalNetworkAddressSpace.AddressPrefixes = []string{"192.168.0.0/17"}
		})},
		{name: "prefix overlaps the vnet", setup: conn, obj: lng("site1", func(l *LocalNetworkGateway) {
			l.Properties.LocalNetworkAddressSpace.AddressPrefixes = []string{"10.1.0.0/24"}
		}), code: CodeAddressOverlap, target: at, msg: []string{"connections/c1"}},
		{name: "prefix overlaps another site", setup: conn, obj: lng("site1", func(l *LocalNetworkGateway) {
			l.Properties.LocalNetworkAddressSpace.AddressPrefixes = []string{"192.169.1.0/24"}
		}), code: CodeAddressOverlap, target: at, msg: []string{"site2"}},
		{name: "unconnected site may overlap", obj: lng("site1", func(l *LocalNetworkGateway) {
			l.Properties.LocalNetworkAddressSpace.AddressPrefixes = []string{"10.1.0.0/24"}
		})},
		{name: "site ASN equals gateway ASN", setup: bgpSetup, obj: lng("site3", func(l *LocalNetworkGateway) {
			l.Properties.BgpSettings.ASN = 65515
		}), code: CodeInvalidAsn, target: "properties.bgpSettings.asn"},
		{name: "site ASN equals custom gateway ASN", setup: func(w *world) {
			bgpSetup(w)
			g := w.get(TypeVirtualNetworkGateways, "gw1").(*VirtualNetworkGateway)
			g.Properties.BgpSettings.ASN = 65020
			w.mustPut(g)
		}, obj: lng("site3", func(l *LocalNetworkGateway) { l.Properties.BgpSettings.ASN = 65020 }),
			code: CodeInvalidAsn, target: "properties.bgpSettings", msg: []string{"65020"}},
		{name: "site BGP removed under BGP connection", setup: bgpSetup, obj: lng("site3", func(l *LocalNetworkGateway) { l.Properties.BgpSettings = nil }),
			code: CodeBgpNotSupported, target: "properties.bgpSettings"},
		{name: "site BGP peer moves into the vnet", setup: bgpSetup, obj: lng("site3", func(l *LocalNetworkGateway) {
			l.Properties.BgpSettings.BgpPeeringAddress = "10.1.0.9"
		}), code: CodeInvalidLocalNetworkGw, target: "properties.bgpSettings.bgpPeeringAddress"},
	})
}

func TestResolveConnection(t *testing.T) {
	gw := func(f func(*VirtualNetworkGateway)) func(w *world) {
		return func(w *world) {
			g := newGateway("gw1", "vnet1", "pip1")
			if f != nil {
				f(g)
			}
			w.mustPut(g)
		}
	}
	std := gw(nil)
	policyGW := gw(func(g *VirtualNetworkGateway) { g.Properties.VpnType, g.Properties.SKU.Name = "PolicyBased", "Basic" })
	basicGW := gw(func(g *VirtualNetworkGateway) { g.Properties.SKU.Name = "Basic" })
	bgpGW := gw(func(g *VirtualNetworkGateway) { g.Properties.EnableBgp = true })
	twoGW := func(w *world) {
		std(w)
		w.mustPut(newGateway("gw2", "vnet2", "pip2"))
	}
	conn := func(f func(*Connection)) func(*world) Object {
		return func(*world) Object {
			c := newConn("c1", "gw1", "site1")
			if f != nil {
				f(c)
			}
			return c
		}
	}
	v2v := func(f func(*Connection)) func(*world) Object {
		return func(*world) Object {
			c := newV2V("c1", "gw1", "gw2")
			if f != nil {
				f(c)
			}
			return c
		}
	}
	bgpSite := func(asn int64, peer string) func(w *world) {
		return func(w *world) {
			bgpGW(w)
			l := newLNG("site3", "203.0.113.30", "192.170.0.0/16")
			l.Properties.BgpSettings = &BgpSettings{ASN: asn, BgpPeeringAddress: peer}
			w.mustPut(l)
		}
	}
	bgpConn := conn(func(c *Connection) {
		c.Properties.LocalNetworkGateway2 = ref(TypeLocalNetworkGateways, "site3")
		c.Properties.EnableBgp = true
	})
	withPolicy := func(c *Connection) { c.Properties.IpsecPolicies = []IpsecPolicy{goodPolicy()} }
	const g1 = "properties.virtualNetworkGateway1.id"
	const g2 = "properties.virtualNetworkGateway2.id"
	const l2 = "properties.localNetworkGateway2.id"
	runResolve(t, []rcase{
		{name: "valid", setup: std, obj: conn(nil)},
		{name: "gateway missing", obj: conn(nil), code: CodeReferencedNotFound, target: g1},
		{name: "site missing", setup: std, obj: conn(func(c *Connection) { c.Properties.LocalNetworkGateway2 = ref(TypeLocalNetworkGateways, "site9") }),
			code: CodeReferencedNotFound, target: l2},
		{name: "ExpressRoute gateway", setup: func(w *world) { w.mustPut(erGateway("er1", "vnet1", "pip1")) },
			obj:  conn(func(c *Connection) { c.Properties.VirtualNetworkGateway1 = ref(TypeVirtualNetworkGateways, "er1") }),
			code: CodeInvalidConnectionTopology, target: g1, msg: []string{"Vpn"}},
		{name: "IKEv1 on RouteBased VpnGw1", setup: std, obj: conn(func(c *Connection) { c.Properties.ConnectionProtocol = "IKEv1" })},
		{name: "IKEv1 on Basic RouteBased", setup: basicGW, obj: conn(func(c *Connection) { c.Properties.ConnectionProtocol = "IKEv1" }),
			code: CodeInvalidParameter, target: "properties.connectionProtocol", msg: []string{"Basic"}},
		{name: "custom policy on Basic", setup: basicGW, obj: conn(withPolicy), code: CodeInvalidIpsecPolicy, target: "properties.ipsecPolicies", msg: []string{"Basic"}},
		{name: "custom policy on VpnGw1", setup: std, obj: conn(withPolicy)},
		{name: "policy-based selectors on RouteBased", setup: std, obj: conn(func(c *Connection) {
			withPolicy(c)
			c.Properties.UsePolicyBasedTrafficSelectors = true
		})},
		{name: "PolicyBased IKEv1 default", setup: policyGW, obj: conn(nil)},
		{name: "PolicyBased IKEv2", setup: policyGW, obj: conn(func(c *Connection) { c.Properties.ConnectionProtocol = "IKEv2" }),
			code: CodePolicyBasedLimit, target: "properties.connectionProtocol", msg: []string{"IKEv1"}},
		{name: "PolicyBased second connection", setup: func(w *world) {
			policyGW(w)
			w.mustPut(newConn("c0", "gw1", "site2"))
		}, obj: conn(nil), code: CodePolicyBasedLimit, target: g1, msg: []string{"single"}},
		{name: "PolicyBased BGP", setup: policyGW, obj: conn(func(c *Connection) { c.Properties.EnableBgp = true }),
			code: CodePolicyBasedLimit, target: "properties.enableBgp"},
		{name: "PolicyBased custom policy", setup: policyGW, obj: conn(withPolicy), code: CodePolicyBasedLimit, target: "properties.ipsecPolicies"},
		{name: "PolicyBased policy-based selectors", setup: policyGW, obj: conn(func(c *Connection) {
			withPolicy(c)
			c.Properties.UsePolicyBasedTrafficSelectors = true
		}), code: CodePolicyBasedLimit, target: "properties.usePolicyBasedTrafficSelectors", msg: []string{"RouteBased"}},
		{name: "PolicyBased Vnet2Vnet", setup: func(w *world) {
			policyGW(w)
			w.mustPut(newGateway("gw2", "vnet2", "pip2"))
		}, obj: v2v(func(c *Connection) { c.Properties.ConnectionProtocol = "IKEv1" }), code: CodePolicyBasedLimit, target: g1, msg: []string{"RouteBased"}},
		{name: "Vnet2Vnet to PolicyBased", setup: func(w *world) {
			std(w)
			g := newGateway("gw2", "vnet2", "pip2")
			g.Properties.VpnType, g.Properties.SKU.Name = "PolicyBased", "Basic"
			w.mustPut(g)
		}, obj: v2v(nil), code: CodePolicyBasedLimit, target: g2},
		{name: "Vnet2Vnet", setup: twoGW, obj: v2v(nil)},
		{name: "Vnet2Vnet peer missing", setup: std, obj: v2v(nil), code: CodeReferencedNotFound, target: g2},
		{name: "Vnet2Vnet to ExpressRoute", setup: func(w *world) {
			std(w)
			w.mustPut(erGateway("gw2", "vnet2", "pip2"))
		}, obj: v2v(nil), code: CodeInvalidConnectionTopology, target: g2},
		{name: "Vnet2Vnet overlapping vnets", setup: func(w *world) {
			std(w)
			w.mustPut(newVNet("vnet3", "10.1.0.0/16").with(GatewaySubnetName, "10.1.255.0/27"), newGateway("gw3", "vnet3", "pip3"))
		}, obj: v2v(func(c *Connection) { c.Properties.VirtualNetworkGateway2 = ref(TypeVirtualNetworkGateways, "gw3") }),
			code: CodeAddressOverlap, target: g2, msg: []string{"vnet3"}},
		{name: "Vnet2Vnet peer overlaps a site", setup: func(w *world) {
			std(w)
			w.mustPut(newVNet("vnet3", "192.168.0.0/16").with(GatewaySubnetName, "192.168.255.0/27"), newGateway("gw3", "vnet3", "pip3"),
				newConn("c0", "gw1", "site1"))
		}, obj: v2v(func(c *Connection) { c.Properties.VirtualNetworkGateway2 = ref(TypeVirtualNetworkGateways, "gw3") }),
			code: CodeAddressOverlap, target: g2, msg: []string{"site1"}},
		{name: "site overlaps the vnet", setup: func(w *world) {
			std(w)
			w.mustPut(newLNG("site3", "203.0.113.30", "10.1.5.0/24"))
		}, obj: conn(func(c *Connection) { c.Properties.LocalNetworkGateway2 = ref(TypeLocalNetworkGateways, "site3") }),
			code: CodeAddressOverlap, target: l2, msg: []string{"10.1.0.0/16"}},
		{name: "site overlaps another site", setup: func(w *world) {
			std(w)
			w.mustPut(newLNG("site3", "203.0.113.30", "192.168.7.0/24"), newConn("c0", "gw1", "site1"))
		}, obj: conn(func(c *Connection) { c.Properties.LocalNetworkGateway2 = ref(TypeLocalNetworkGateways, "site3") }),
			code: CodeAddressOverlap, target: l2, msg: []string{"site1"}},
		{name: "site overlaps a Vnet2Vnet peer", setup: func(w *world) {
			twoGW(w)
			w.mustPut(newV2V("c0", "gw1", "gw2"), newLNG("site3", "203.0.113.30", "10.2.7.0/24"))
		}, obj: conn(func(c *Connection) { c.Properties.LocalNetworkGateway2 = ref(TypeLocalNetworkGateways, "site3") }),
			code: CodeAddressOverlap, target: l2, msg: []string{"vnet2"}},
		{name: "second connection to the same site", setup: func(w *world) {
			std(w)
			w.mustPut(newConn("c0", "gw1", "site1"))
		}, obj: conn(nil)},
		{name: "sites on different gateways may overlap", setup: func(w *world) {
			twoGW(w)
			w.mustPut(newConn("c0", "gw2", "site1"), newLNG("site3", "203.0.113.30", "192.168.7.0/24"))
		}, obj: conn(func(c *Connection) { c.Properties.LocalNetworkGateway2 = ref(TypeLocalNetworkGateways, "site3") })},
		{name: "site overlaps the P2S pool", setup: gw(func(g *VirtualNetworkGateway) {
			g.Properties.VpnClientConfiguration = p2sConfig(t, "192.168.100.0/24")
		}), obj: conn(nil), code: CodeAddressOverlap, target: l2, msg: []string{"point-to-site"}},
		{name: "BGP", setup: bgpSite(65010, "192.170.255.1"), obj: bgpConn},
		{name: "BGP without gateway BGP", setup: func(w *world) {
			std(w)
			l := newLNG("site3", "203.0.113.30", "192.170.0.0/16")
			l.Properties.BgpSettings = &BgpSettings{ASN: 65010, BgpPeeringAddress: "192.170.255.1"}
			w.mustPut(l)
		}, obj: bgpConn, code: CodeBgpNotSupported, target: "properties.enableBgp", msg: []string{"enableBgp"}},
		{name: "BGP on Basic", setup: basicGW, obj: conn(func(c *Connection) { c.Properties.EnableBgp = true }),
			code: CodeBgpNotSupported, target: "properties.enableBgp", msg: []string{"Basic"}},
		{name: "BGP to a site without bgpSettings", setup: bgpGW, obj: conn(func(c *Connection) { c.Properties.EnableBgp = true }),
			code: CodeBgpNotSupported, target: l2, msg: []string{"bgpSettings"}},
		{name: "BGP site ASN equal", setup: func(w *world) {
			bgpSite(65010, "192.170.255.1")(w)
			g := w.get(TypeVirtualNetworkGateways, "gw1").(*VirtualNetworkGateway)
			g.Properties.BgpSettings.ASN = 65010
			w.mustPut(g)
		}, obj: bgpConn, code: CodeInvalidAsn, target: l2, msg: []string{"differ"}},
		{name: "BGP site peer inside the vnet", setup: bgpSite(65010, "10.1.0.200"), obj: bgpConn,
			code: CodeInvalidLocalNetworkGw, target: l2, msg: []string{"10.1.0.200"}},
		{name: "BGP Vnet2Vnet", setup: func(w *world) {
			bgpGW(w)
			g := newGateway("gw2", "vnet2", "pip2")
			g.Properties.EnableBgp, g.Properties.BgpSettings = true, &BgpSettings{ASN: 65020}
			w.mustPut(g)
		}, obj: v2v(func(c *Connection) { c.Properties.EnableBgp = true })},
		{name: "BGP Vnet2Vnet same ASN", setup: func(w *world) {
			bgpGW(w)
			g := newGateway("gw2", "vnet2", "pip2")
			g.Properties.EnableBgp = true
			w.mustPut(g)
		}, obj: v2v(func(c *Connection) { c.Properties.EnableBgp = true }), code: CodeInvalidAsn, target: g2, msg: []string{"65515"}},
		{name: "BGP Vnet2Vnet peer without BGP", setup: func(w *world) {
			bgpGW(w)
			w.mustPut(newGateway("gw2", "vnet2", "pip2"))
		}, obj: v2v(func(c *Connection) { c.Properties.EnableBgp = true }), code: CodeBgpNotSupported, target: g2},
		{name: "Basic 10 connections", setup: func(w *world) {
			basicGW(w)
			for i := range 10 {
				w.mustPut(newLNG(fmt.Sprintf("s%d", i), "203.0.113.50", fmt.Sprintf("172.20.%d.0/24", i)), newConn(fmt.Sprintf("c%d", i+10), "gw1", fmt.Sprintf("s%d", i)))
			}
		}, obj: conn(nil), code: CodeLimitExceeded, target: g1, msg: []string{"Basic", "10"}},
		{name: "traffic selectors over 100 per gateway", setup: func(w *world) {
			std(w)
			c := newConn("c0", "gw1", "site2")
			for range 60 {
				c.Properties.TrafficSelectorPolicies = append(c.Properties.TrafficSelectorPolicies,
					TrafficSelectorPolicy{LocalAddressRanges: []string{"10.1.0.0/16"}, RemoteAddressRanges: []string{"192.169.0.0/16"}})
			}
			w.mustPut(c)
		}, obj: conn(func(c *Connection) {
			for range 41 {
				c.Properties.TrafficSelectorPolicies = append(c.Properties.TrafficSelectorPolicies,
					TrafficSelectorPolicy{LocalAddressRanges: []string{"10.1.0.0/16"}, RemoteAddressRanges: []string{"192.168.0.0/16"}})
			}
		}), code: CodeLimitExceeded, target: "properties.trafficSelectorPolicies", msg: []string{"101"}},

		// Updates.
		{name: "update unchanged", setup: func(w *world) { std(w); w.mustPut(newConn("c1", "gw1", "site1")) },
			obj: func(w *world) Object { return w.get(TypeConnections, "c1") }},
		{name: "connectionType immutable", setup: func(w *world) {
			twoGW(w)
			w.mustPut(newConn("c1", "gw1", "site1"))
		}, obj: v2v(nil), code: CodeImmutableProperty, target: "properties.connectionType"},
		{name: "connectionProtocol immutable", setup: func(w *world) { std(w); w.mustPut(newConn("c1", "gw1", "site1")) },
			obj: conn(func(c *Connection) { c.Properties.ConnectionProtocol = "IKEv1" }), code: CodeImmutableProperty, target: "properties.connectionProtocol"},
		{name: "site immutable", setup: func(w *world) { std(w); w.mustPut(newConn("c1", "gw1", "site1")) },
			obj:  conn(func(c *Connection) { c.Properties.LocalNetworkGateway2 = ref(TypeLocalNetworkGateways, "site2") }),
			code: CodeImmutableProperty, target: l2},
		{name: "gateway1 immutable", setup: func(w *world) { twoGW(w); w.mustPut(newConn("c1", "gw1", "site1")) },
			obj:  conn(func(c *Connection) { c.Properties.VirtualNetworkGateway1 = ref(TypeVirtualNetworkGateways, "gw2") }),
			code: CodeImmutableProperty, target: g1},
		{name: "update dpd and key", setup: func(w *world) { std(w); w.mustPut(newConn("c1", "gw1", "site1")) },
			obj: conn(func(c *Connection) { c.Properties.DpdTimeoutSeconds, c.Properties.SharedKey = 30, "newKey" })},
		{name: "connection count is checked only on create", setup: func(w *world) {
			policyGW(w)
			w.mustPut(newConn("c1", "gw1", "site1"))
		}, obj: func(w *world) Object { return w.get(TypeConnections, "c1") }},
	})
}

func TestResolveConnectionDefaults(t *testing.T) {
	w := stdWorld(t)
	pg := newGateway("gwp", "vnet2", "pip2")
	pg.Properties.VpnType, pg.Properties.SKU.Name = "PolicyBased", "Basic"
	w.mustPut(newGateway("gw1", "vnet1", "pip1"), pg)
	c := newConn("c1", "gw1", "site1")
	c.Properties.SharedKey = ""
	c.Properties.ConnectionStatus = "Connected" // read-only: ignored
	c.Properties.IngressBytesTransferred = 99
	w.mustPut(c)
	got := w.get(TypeConnections, "c1").(*Connection)
	p := got.Properties
	if p.ConnectionProtocol != "IKEv2" || p.DpdTimeoutSeconds != 45 || p.ConnectionMode != "Default" {
		t.Errorf("defaults: protocol %q dpd %d mode %q", p.ConnectionProtocol, p.DpdTimeoutSeconds, p.ConnectionMode)
	}
	if p.ConnectionStatus != "Unknown" || p.IngressBytesTransferred != 0 {
		t.Errorf("read-only status taken from the body: %q %d", p.ConnectionStatus, p.IngressBytesTransferred)
	}
	if len(p.SharedKey) != 32 || ValidateSharedKey(p.SharedKey, "k") != nil {
		t.Errorf("generated key %q", p.SharedKey)
	}
	if p.ResourceGUID == "" {
		t.Error("no resourceGuid")
	}
	key, guid := p.SharedKey, p.ResourceGUID

	// The control plane sets status; a client PUT keeps it and the key.
	stored := w.v.objs[keyOf(got)].(*Connection)
	stored.SetStatus(ConnectionStatusReport{Status: ConnectionStatusConnected, IngressBytes: 10, EgressBytes: 20,
		Tunnels: []TunnelConnectionHealth{{Tunnel: "t0", ConnectionStatus: ConnectionStatusConnected}}})
	upd := Redact(w.get(TypeConnections, "c1")).(*Connection)
	upd.Properties.ConnectionStatus = "NotConnected"
	upd.Properties.RoutingWeight = 10
	w.mustPut(upd)
	got = w.get(TypeConnections, "c1").(*Connection)
	p = got.Properties
	if p.SharedKey != key || p.ResourceGUID != guid {
		t.Errorf("update changed key or guid")
	}
	if p.ConnectionStatus != "Connected" || p.IngressBytesTransferred != 10 || p.EgressBytesTransferred != 20 || len(p.TunnelConnectionStatus) != 1 {
		t.Errorf("update lost status: %+v", p)
	}

	// PolicyBased gateway: IKEv1 by default; each connection gets its own key.
	c2 := newConn("c2", "gwp", "site2")
	c2.Properties.SharedKey = ""
	w.mustPut(c2)
	p2 := w.get(TypeConnections, "c2").(*Connection).Properties
	if p2.ConnectionProtocol != "IKEv1" {
		t.Errorf("PolicyBased default protocol %q, want IKEv1", p2.ConnectionProtocol)
	}
	if p2.SharedKey == key {
		t.Error("two connections got the same generated key")
	}
}

func TestResolveViewFailure(t *testing.T) {
	w := stdWorld(t)
	w.mustPut(newGateway("gw1", "vnet1", "pip1"))
	w.v.failGet = errBoom
	c := newConn("c1", "gw1", "site1")
	AssignIDs(c, id(TypeConnections, "c1"))
	if err := Prepare(c, nil, w.rand); err != nil {
		t.Fatal(err)
	}
	err := Resolve(context.Background(), w.v, c, nil)
	if !errors.Is(err, errBoom) {
		t.Fatalf("Resolve = %v, want the view's error", err)
	}
	if _, ok := AsError(err); ok {
		t.Fatal("a view failure must not look like a rule violation")
	}
}

func TestResolveTypeMismatch(t *testing.T) {
	if err := Resolve(context.Background(), newFakeView(), newPIP("a"), newLNG("b", "1.2.3.4", "10.0.0.0/8")); err == nil {
		t.Fatal("want error for mismatched old")
	}
	if err := Prepare(newPIP("a"), newLNG("b", "1.2.3.4", "10.0.0.0/8"), nil); err == nil {
		t.Fatal("want error for mismatched old")
	}
}

func TestOverlay(t *testing.T) {
	w := stdWorld(t)
	ctx := context.Background()
	changed := w.get(TypeLocalNetworkGateways, "site1").(*LocalNetworkGateway)
	changed.Properties.GatewayIPAddress = "198.51.100.1"
	o := newOverlay(w.v, changed)
	list, err := o.List(ctx, TypeLocalNetworkGateways)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %d, %v", len(list), err)
	}
	found := 0
	for _, x := range list {
		if l := x.(*LocalNetworkGateway); l.Name == "site1" {
			found++
			if l.Properties.GatewayIPAddress != "198.51.100.1" {
				t.Error("overlay List returned the stored version")
			}
		}
	}
	if found != 1 {
		t.Errorf("site1 listed %d times", found)
	}
	if g, _ := o.Get(ctx, id(TypeLocalNetworkGateways, "SITE1")); g.(*LocalNetworkGateway).Properties.GatewayIPAddress != "198.51.100.1" {
		t.Error("overlay Get returned the stored version")
	}
	if l, _ := o.List(ctx, TypePublicIPAddresses); len(l) != 6 {
		t.Errorf("other types: %d", len(l))
	}
	// A new object (no ID yet) is added.
	n := newOverlay(w.v, newLNG("new", "198.51.100.2", "10.50.0.0/16"))
	if l, _ := n.List(ctx, TypeLocalNetworkGateways); len(l) != 3 {
		t.Errorf("new object: %d", len(l))
	}
}
