package resource

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// vcase is one Validate rule: mut breaks (or keeps) a valid base object;
// code "" means the result must pass.
type vcase[T Object] struct {
	name   string
	mut    func(T)
	code   string
	target string
	msg    []string
}

func runValidate[T Object](t *testing.T, base func() T, cases []vcase[T]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base()
			if c.mut != nil {
				c.mut(o)
			}
			if err := Prepare(o, nil, rand.NewChaCha8([32]byte{9})); err != nil {
				t.Fatal(err)
			}
			expectErr(t, Validate(o), c.code, c.target, c.msg...)
		})
	}
}

func TestValidateEnvelope(t *testing.T) {
	runValidate(t, func() *PublicIPAddress { return newPIP("pip1") }, []vcase[*PublicIPAddress]{
		{name: "valid"},
		{name: "name with dots, hyphens, underscore end", mut: func(p *PublicIPAddress) { p.Name = "a.b-c_" }},
		{name: "name bad char", mut: func(p *PublicIPAddress) { p.Name = "a b" }, code: CodeInvalidResourceName, target: "name"},
		{name: "name starts with hyphen", mut: func(p *PublicIPAddress) { p.Name = "-ab" }, code: CodeInvalidResourceName, target: "name", msg: []string{"start"}},
		{name: "name ends with period", mut: func(p *PublicIPAddress) { p.Name = "ab." }, code: CodeInvalidResourceName, target: "name", msg: []string{"end"}},
		{name: "name 80 chars", mut: func(p *PublicIPAddress) { p.Name = strings.Repeat("a", 80) }},
		{name: "name 81 chars", mut: func(p *PublicIPAddress) { p.Name = strings.Repeat("a", 81) }, code: CodeInvalidResourceName, target: "name"},
		{name: "location missing", mut: func(p *PublicIPAddress) { p.Location = " " }, code: CodeInvalidLocation, target: "location"},
		{name: "50 tags", mut: func(p *PublicIPAddress) { p.Tags = nTags(50) }},
		{name: "51 tags", mut: func(p *PublicIPAddress) { p.Tags = nTags(51) }, code: CodeInvalidTag, target: "tags"},
		{name: "tag name 513", mut: func(p *PublicIPAddress) { p.Tags = map[string]string{strings.Repeat("k", 513): "v"} }, code: CodeInvalidTag, target: "tags." + strings.Repeat("k", 513)},
		{name: "tag value 257", mut: func(p *PublicIPAddress) { p.Tags = map[string]string{"k": strings.Repeat("v", 257)} }, code: CodeInvalidTag, target: "tags.k"},
		{name: "tag name bad char", mut: func(p *PublicIPAddress) { p.Tags = map[string]string{"a/b": "v"} }, code: CodeInvalidTag, target: "tags.a/b"},
		{name: "tag empty name", mut: func(p *PublicIPAddress) { p.Tags = map[string]string{"": "v"} }, code: CodeInvalidTag, target: "tags"},
	})
}

func nTags(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("k%d", i)] = "v"
	}
	return m
}

func TestValidateResourceGroup(t *testing.T) {
	runValidate(t, func() *ResourceGroup {
		return &ResourceGroup{Envelope: Envelope{Name: "rg-1(test)", Location: "West Europe"}}
	}, []vcase[*ResourceGroup]{
		{name: "valid"},
		{name: "unicode letters", mut: func(r *ResourceGroup) { r.Name = "grüße" }},
		{name: "ends with period", mut: func(r *ResourceGroup) { r.Name = "rg." }, code: CodeInvalidResourceName, target: "name"},
		{name: "bad char", mut: func(r *ResourceGroup) { r.Name = "rg#1" }, code: CodeInvalidResourceName, target: "name"},
		{name: "91 chars", mut: func(r *ResourceGroup) { r.Name = strings.Repeat("r", 91) }, code: CodeInvalidResourceName, target: "name"},
		{name: "no location", mut: func(r *ResourceGroup) { r.Location = "" }, code: CodeInvalidLocation, target: "location"},
	})
}

func TestValidateVirtualNetwork(t *testing.T) {
	runValidate(t, func() *VirtualNetwork { return stdVNet("vnet1") }, []vcase[*VirtualNetwork]{
		{name: "valid"},
		{name: "dual stack", mut: func(v *VirtualNetwork) {
			v.Properties.AddressSpace.AddressPrefixes = append(v.Properties.AddressSpace.AddressPrefixes, "fd00:1::/48")
			v.with("v6", "fd00:1::/64")
		}},
		{name: "no prefixes", mut: func(v *VirtualNetwork) { v.Properties.AddressSpace.AddressPrefixes = nil; v.Properties.Subnets = nil },
			code: CodeMissingParameter, target: "properties.addressSpace.addressPrefixes"},
		{name: "non-canonical prefix", mut: func(v *VirtualNetwork) { v.Properties.AddressSpace.AddressPrefixes = []string{"10.1.0.1/16"} },
			code: CodeInvalidCIDR, target: "properties.addressSpace.addressPrefixes[0]", msg: []string{"10.1.0.0/16", "canonical"}},
		{name: "not a CIDR", mut: func(v *VirtualNetwork) { v.Properties.AddressSpace.AddressPrefixes = []string{"10.1.0.0"} },
			code: CodeInvalidCIDR, target: "properties.addressSpace.addressPrefixes[0]"},
		{name: "ipv4-mapped", mut: func(v *VirtualNetwork) { v.Properties.AddressSpace.AddressPrefixes = []string{"::ffff:10.1.0.0/112"} },
			code: CodeInvalidCIDR, target: "properties.addressSpace.addressPrefixes[0]", msg: []string{"10.1.0.0/16"}},
		{name: "prefixes overlap", mut: func(v *VirtualNetwork) {
			v.Properties.AddressSpace.AddressPrefixes = []string{"10.1.0.0/16", "10.1.128.0/17"}
		}, code: CodeAddressOverlap, target: "properties.addressSpace.addressPrefixes[1]"},
		{name: "reserved range", mut: func(v *VirtualNetwork) {
			v.Properties.AddressSpace.AddressPrefixes = append(v.Properties.AddressSpace.AddressPrefixes, "169.254.0.0/16")
		}, code: CodeInvalidParameter, target: "properties.addressSpace.addressPrefixes[1]", msg: []string{"link-local"}},
		{name: "dns ok", mut: func(v *VirtualNetwork) {
			v.Properties.DhcpOptions = &DhcpOptions{DNSServers: []string{"10.1.0.4", "168.63.129.16"}}
		}},
		{name: "dns invalid", mut: func(v *VirtualNetwork) { v.Properties.DhcpOptions = &DhcpOptions{DNSServers: []string{"dns.example"}} },
			code: CodeInvalidParameter, target: "properties.dhcpOptions.dnsServers[0]"},
		{name: "21 dns servers", mut: func(v *VirtualNetwork) {
			v.Properties.DhcpOptions = &DhcpOptions{}
			for i := range 21 {
				v.Properties.DhcpOptions.DNSServers = append(v.Properties.DhcpOptions.DNSServers, fmt.Sprintf("10.1.0.%d", i+1))
			}
		}, code: CodeLimitExceeded, target: "properties.dhcpOptions.dnsServers"},
		{name: "subnet outside", mut: func(v *VirtualNetwork) { v.with("out", "10.2.0.0/24") },
			code: CodeSubnetOutsideVnet, target: "properties.subnets[2].properties.addressPrefix", msg: []string{"10.1.0.0/16"}},
		{name: "subnet partly outside", mut: func(v *VirtualNetwork) { v.with("big", "10.0.0.0/15") },
			code: CodeSubnetOutsideVnet, target: "properties.subnets[2].properties.addressPrefix"},
		{name: "subnets overlap", mut: func(v *VirtualNetwork) { v.with("dup", "10.1.0.128/25") },
			code: CodeAddressOverlap, target: "properties.subnets[2].properties.addressPrefix", msg: []string{"default"}},
		{name: "subnet /30", mut: func(v *VirtualNetwork) { v.with("tiny", "10.1.1.0/30") },
			code: CodeInvalidParameter, target: "properties.subnets[2].properties.addressPrefix", msg: []string{"/29"}},
		{name: "subnet /29 ok", mut: func(v *VirtualNetwork) { v.with("small", "10.1.1.0/29") }},
		{name: "ipv6 subnet /80", mut: func(v *VirtualNetwork) {
			v.Properties.AddressSpace.AddressPrefixes = append(v.Properties.AddressSpace.AddressPrefixes, "fd00:1::/48")
			v.with("v6", "fd00:1::/80")
		}, code: CodeInvalidParameter, target: "properties.subnets[2].properties.addressPrefix"},
		{name: "subnet non-canonical", mut: func(v *VirtualNetwork) { v.with("nc", "10.1.1.1/24") },
			code: CodeInvalidCIDR, target: "properties.subnets[2].properties.addressPrefix", msg: []string{"10.1.1.0/24"}},
		{name: "subnet both prefix forms", mut: func(v *VirtualNetwork) {
			v.with("both", "10.1.1.0/24")
			v.Properties.Subnets[2].Properties.AddressPrefixes = []string{"10.1.2.0/24"}
		}, code: CodeInvalidParameter, target: "properties.subnets[2].properties.addressPrefixes"},
		{name: "subnet addressPrefixes", mut: func(v *VirtualNetwork) {
			v.Properties.Subnets = append(v.Properties.Subnets, Subnet{Envelope: Envelope{Name: "multi"},
				Properties: SubnetProperties{AddressPrefixes: []string{"10.1.1.0/24", "10.1.2.0/24"}}})
		}},
		{name: "subnet addressPrefixes overlap each other", mut: func(v *VirtualNetwork) {
			v.Properties.Subnets = append(v.Properties.Subnets, Subnet{Envelope: Envelope{Name: "multi"},
				Properties: SubnetProperties{AddressPrefixes: []string{"10.1.1.0/24", "10.1.1.0/25"}}})
		}, code: CodeAddressOverlap, target: "properties.subnets[2].properties.addressPrefixes"},
		{name: "subnet without prefix", mut: func(v *VirtualNetwork) { v.with("none", "") },
			code: CodeMissingParameter, target: "properties.subnets[2].properties.addressPrefix"},
		{name: "subnet names equal ignoring case", mut: func(v *VirtualNetwork) { v.with("DEFAULT", "10.1.1.0/24") },
			code: CodeInvalidParameter, target: "properties.subnets[2].name"},
		{name: "subnet without name", mut: func(v *VirtualNetwork) { v.with("", "10.1.1.0/24") },
			code: CodeMissingParameter, target: "properties.subnets[2].name"},
		{name: "subnet bad name", mut: func(v *VirtualNetwork) { v.with("a b", "10.1.1.0/24") },
			code: CodeInvalidResourceName, target: "properties.subnets[2].name"},
		{name: "subnet with location", mut: func(v *VirtualNetwork) { v.Properties.Subnets[0].Location = "westeurope" },
			code: CodeInvalidParameter, target: "properties.subnets[0]"},
		{name: "3001 subnets", mut: func(v *VirtualNetwork) {
			v.Properties.AddressSpace.AddressPrefixes = []string{"10.0.0.0/8"}
			v.Properties.Subnets = nil
			for i := range 3001 {
				v.with(fmt.Sprintf("s%d", i), fmt.Sprintf("10.%d.%d.0/24", i/256, i%256))
			}
		}, code: CodeLimitExceeded, target: "properties.subnets"},
	})
}

func TestValidateSubnet(t *testing.T) {
	runValidate(t, func() *Subnet {
		return &Subnet{Envelope: Envelope{Name: "s1"}, Properties: SubnetProperties{AddressPrefix: "10.1.3.0/24"}}
	}, []vcase[*Subnet]{
		{name: "valid"},
		{name: "location", mut: func(s *Subnet) { s.Location = "westeurope" }, code: CodeInvalidParameter, target: "location"},
		{name: "tags", mut: func(s *Subnet) { s.Tags = map[string]string{"a": "b"} }, code: CodeInvalidParameter, target: "tags"},
		{name: "bad prefix", mut: func(s *Subnet) { s.Properties.AddressPrefix = "10.1.3.7/24" }, code: CodeInvalidCIDR, target: "properties.addressPrefix"},
		{name: "too small", mut: func(s *Subnet) { s.Properties.AddressPrefix = "10.1.3.0/31" }, code: CodeInvalidParameter, target: "properties.addressPrefix"},
	})
}

func TestValidatePublicIP(t *testing.T) {
	runValidate(t, func() *PublicIPAddress { return newPIP("pip1") }, []vcase[*PublicIPAddress]{
		{name: "valid"},
		{name: "basic dynamic", mut: func(p *PublicIPAddress) { p.SKU.Name = "basic"; p.Properties.PublicIPAllocationMethod = "dynamic" }},
		{name: "unknown sku", mut: func(p *PublicIPAddress) { p.SKU.Name = "Premium" }, code: CodeInvalidParameter, target: "sku.name", msg: []string{"Basic, Standard"}},
		{name: "unknown tier", mut: func(p *PublicIPAddress) { p.SKU.Tier = "Local" }, code: CodeInvalidParameter, target: "sku.tier"},
		{name: "global needs standard", mut: func(p *PublicIPAddress) { p.SKU = PublicIPAddressSku{Name: "Basic", Tier: "Global"} }, code: CodeInvalidParameter, target: "sku.tier"},
		{name: "standard dynamic", mut: func(p *PublicIPAddress) { p.Properties.PublicIPAllocationMethod = "Dynamic" },
			code: CodeInvalidParameter, target: "properties.publicIPAllocationMethod", msg: []string{"Static"}},
		{name: "bad allocation", mut: func(p *PublicIPAddress) { p.Properties.PublicIPAllocationMethod = "Sticky" },
			code: CodeInvalidParameter, target: "properties.publicIPAllocationMethod"},
		{name: "bad version", mut: func(p *PublicIPAddress) { p.Properties.PublicIPAddressVersion = "IPv5" },
			code: CodeInvalidParameter, target: "properties.publicIPAddressVersion"},
		{name: "idle 30", mut: func(p *PublicIPAddress) { p.Properties.IdleTimeoutInMinutes = 30 }},
		{name: "idle 31", mut: func(p *PublicIPAddress) { p.Properties.IdleTimeoutInMinutes = 31 }, code: CodeInvalidParameter, target: "properties.idleTimeoutInMinutes"},
		{name: "idle 3", mut: func(p *PublicIPAddress) { p.Properties.IdleTimeoutInMinutes = 3 }, code: CodeInvalidParameter, target: "properties.idleTimeoutInMinutes"},
		{name: "zones ok", mut: func(p *PublicIPAddress) { p.Zones = []string{"1", "2", "3"} }},
		{name: "zone 4", mut: func(p *PublicIPAddress) { p.Zones = []string{"4"} }, code: CodeInvalidParameter, target: "zones[0]"},
		{name: "zone twice", mut: func(p *PublicIPAddress) { p.Zones = []string{"1", "1"} }, code: CodeInvalidParameter, target: "zones[1]"},
		{name: "basic zonal", mut: func(p *PublicIPAddress) {
			p.SKU.Name, p.Properties.PublicIPAllocationMethod, p.Zones = "Basic", "Static", []string{"1"}
		}, code: CodeInvalidParameter, target: "zones"},
		{name: "dns label ok", mut: func(p *PublicIPAddress) {
			p.Properties.DNSSettings = &PublicIPAddressDNSSettings{DomainNameLabel: "vpn-gw1"}
		}},
		{name: "dns label bad", mut: func(p *PublicIPAddress) {
			p.Properties.DNSSettings = &PublicIPAddressDNSSettings{DomainNameLabel: "Bad_Label"}
		},
			code: CodeInvalidParameter, target: "properties.dnsSettings.domainNameLabel"},
		{name: "reverse fqdn bad", mut: func(p *PublicIPAddress) {
			p.Properties.DNSSettings = &PublicIPAddressDNSSettings{ReverseFqdn: "-x.example."}
		},
			code: CodeInvalidParameter, target: "properties.dnsSettings.reverseFqdn"},
	})
}

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

func TestValidateVpnClientConfiguration(t *testing.T) {
	cert := testCert(t)
	base := func() *VirtualNetworkGateway {
		g := newGateway("gw1", "vnet1", "pip1")
		g.Properties.VpnClientConfiguration = p2sConfig(t, "172.16.201.0/24")
		return g
	}
	const t0 = "properties.vpnClientConfiguration"
	cfg := func(g *VirtualNetworkGateway) *VpnClientConfiguration { return g.Properties.VpnClientConfiguration }
	radius := func(c *VpnClientConfiguration) {
		c.VpnAuthenticationTypes = []string{"Radius"}
		c.RadiusServerAddress, c.RadiusServerSecret = "10.1.0.10", "s3cret"
	}
	aad := func(c *VpnClientConfiguration) {
		c.VpnAuthenticationTypes, c.VpnClientProtocols = []string{"AAD"}, []string{"OpenVPN"}
		c.AadTenant = "https://login.microsoftonline.com/0000/"
		c.AadAudience = "41b23e61-6c1e-4545-b367-cd054e0ed4b4"
		c.AadIssuer = "https://sts.windows.net/0000/"
	}
	runValidate(t, base, []vcase[*VirtualNetworkGateway]{
		{name: "valid"},
		{name: "empty object means none", mut: func(g *VirtualNetworkGateway) { g.Properties.VpnClientConfiguration = &VpnClientConfiguration{} }},
		{name: "default protocols", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientProtocols = nil }},
		{name: "pool missing", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientAddressPool = nil },
			code: CodeMissingParameter, target: t0 + ".vpnClientAddressPool.addressPrefixes"},
		{name: "pool not private", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientAddressPool.AddressPrefixes = []string{"8.8.8.0/24"} },
			code: CodeVpnClientConfiguration, target: t0 + ".vpnClientAddressPool.addressPrefixes[0]", msg: []string{"private"}},
		{name: "pool /29", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientAddressPool.AddressPrefixes = []string{"172.16.201.0/29"}
		}},
		{name: "pool /30", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientAddressPool.AddressPrefixes = []string{"172.16.201.0/30"}
		},
			code: CodeVpnClientConfiguration, target: t0 + ".vpnClientAddressPool.addressPrefixes[0]", msg: []string{"/29"}},
		{name: "pool /29 active-active", mut: func(g *VirtualNetworkGateway) {
			c := cfg(g)
			*g = *newGateway("gw1", "vnet1", "pip1", "pip2", "pip3")
			g.Properties.VpnClientConfiguration = c
			c.VpnClientAddressPool.AddressPrefixes = []string{"172.16.201.0/29"}
		}, code: CodeVpnClientConfiguration, target: t0 + ".vpnClientAddressPool.addressPrefixes[0]", msg: []string{"/28", "active-active"}},
		{name: "pool overlaps itself", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientAddressPool.AddressPrefixes = []string{"172.16.0.0/16", "172.16.201.0/24"}
		}, code: CodeAddressOverlap, target: t0 + ".vpnClientAddressPool.addressPrefixes[1]"},
		{name: "pool non-canonical", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientAddressPool.AddressPrefixes = []string{"172.16.201.1/24"}
		},
			code: CodeInvalidCIDR, target: t0 + ".vpnClientAddressPool.addressPrefixes[0]"},
		{name: "protocol unknown", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientProtocols = []string{"L2TP"} },
			code: CodeInvalidParameter, target: t0 + ".vpnClientProtocols[0]"},
		{name: "protocol twice", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientProtocols = []string{"IkeV2", "ikev2"} },
			code: CodeVpnClientConfiguration, target: t0 + ".vpnClientProtocols[1]"},
		{name: "IkeV2 and SSTP", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientProtocols = []string{"IkeV2", "SSTP"} }},
		{name: "IkeV2 and OpenVPN", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientProtocols = []string{"IkeV2", "OpenVPN"} }},
		{name: "SSTP and OpenVPN", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientProtocols = []string{"SSTP", "OpenVPN"} },
			code: CodeVpnClientConfiguration, target: t0 + ".vpnClientProtocols", msg: []string{"SSTP", "OpenVPN"}},
		{name: "auth unknown", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnAuthenticationTypes = []string{"Kerberos"} },
			code: CodeInvalidParameter, target: t0 + ".vpnAuthenticationTypes[0]"},
		{name: "auth twice", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnAuthenticationTypes = []string{"Certificate", "certificate"} },
			code: CodeVpnClientConfiguration, target: t0 + ".vpnAuthenticationTypes[1]"},
		{name: "certificate without roots", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientRootCertificates = nil },
			code: CodeMissingParameter, target: t0 + ".vpnClientRootCertificates"},
		{name: "20 roots", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientRootCertificates = nRoots(20, cert) }},
		{name: "21 roots", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientRootCertificates = nRoots(21, cert) },
			code: CodeLimitExceeded, target: t0 + ".vpnClientRootCertificates"},
		{name: "root name twice", mut: func(g *VirtualNetworkGateway) {
			c := cfg(g)
			c.VpnClientRootCertificates = append(c.VpnClientRootCertificates, c.VpnClientRootCertificates[0])
		}, code: CodeVpnClientConfiguration, target: t0 + ".vpnClientRootCertificates[1].name"},
		{name: "root no name", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientRootCertificates[0].Name = "" },
			code: CodeMissingParameter, target: t0 + ".vpnClientRootCertificates[0].name"},
		{name: "root cert with line breaks", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientRootCertificates[0].Properties.PublicCertData = cert[:40] + "\n" + cert[40:]
		}},
		{name: "root cert not base64", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientRootCertificates[0].Properties.PublicCertData = "!!!" },
			code: CodeVpnClientConfiguration, target: t0 + ".vpnClientRootCertificates[0].properties.publicCertData", msg: []string{"base64"}},
		{name: "root cert not a certificate", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientRootCertificates[0].Properties.PublicCertData = "aGVsbG8gd29ybGQ="
		}, code: CodeVpnClientConfiguration, target: t0 + ".vpnClientRootCertificates[0].properties.publicCertData", msg: []string{"X.509"}},
		{name: "root cert PEM armour", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientRootCertificates[0].Properties.PublicCertData = "-----BEGIN CERTIFICATE-----\n" + cert + "\n-----END CERTIFICATE-----"
		}, code: CodeVpnClientConfiguration, target: t0 + ".vpnClientRootCertificates[0].properties.publicCertData", msg: []string{"BEGIN"}},
		{name: "root cert empty", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientRootCertificates[0].Properties.PublicCertData = "" },
			code: CodeMissingParameter, target: t0 + ".vpnClientRootCertificates[0].properties.publicCertData"},
		{name: "revoked ok", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientRevokedCertificates = nRevoked(300) }},
		{name: "301 revoked", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientRevokedCertificates = nRevoked(301) },
			code: CodeLimitExceeded, target: t0 + ".vpnClientRevokedCertificates"},
		{name: "thumbprint short", mut: func(g *VirtualNetworkGateway) {
			cfg(g).VpnClientRevokedCertificates = []VpnClientRevokedCertificate{{Name: "r", Properties: VpnClientRevokedCertificateProperties{Thumbprint: "ABCD"}}}
		}, code: CodeVpnClientConfiguration, target: t0 + ".vpnClientRevokedCertificates[0].properties.thumbprint", msg: []string{"40"}},
		{name: "thumbprint twice", mut: func(g *VirtualNetworkGateway) {
			r := nRevoked(1)
			r2 := r[0]
			r2.Name = "other"
			r2.Properties.Thumbprint = strings.ToLower(r2.Properties.Thumbprint)
			cfg(g).VpnClientRevokedCertificates = append(r, r2)
		}, code: CodeVpnClientConfiguration, target: t0 + ".vpnClientRevokedCertificates[1].properties.thumbprint"},
		{name: "revoked no name", mut: func(g *VirtualNetworkGateway) {
			r := nRevoked(1)
			r[0].Name = ""
			cfg(g).VpnClientRevokedCertificates = r
		}, code: CodeMissingParameter, target: t0 + ".vpnClientRevokedCertificates[0].name"},
		{name: "radius", mut: func(g *VirtualNetworkGateway) { radius(cfg(g)) }},
		{name: "radius without type (2018 API)", mut: func(g *VirtualNetworkGateway) {
			radius(cfg(g))
			cfg(g).VpnAuthenticationTypes = nil
		}},
		{name: "radius address not an IP", mut: func(g *VirtualNetworkGateway) { radius(cfg(g)); cfg(g).RadiusServerAddress = "radius.example" },
			code: CodeInvalidParameter, target: t0 + ".radiusServerAddress"},
		{name: "radius without secret", mut: func(g *VirtualNetworkGateway) { radius(cfg(g)); cfg(g).RadiusServerSecret = "" },
			code: CodeMissingParameter, target: t0 + ".radiusServerSecret"},
		{name: "radius without server", mut: func(g *VirtualNetworkGateway) { radius(cfg(g)); cfg(g).RadiusServerAddress = "" },
			code: CodeMissingParameter, target: t0 + ".radiusServerAddress"},
		{name: "radiusServers", mut: func(g *VirtualNetworkGateway) {
			c := cfg(g)
			radius(c)
			c.RadiusServerAddress, c.RadiusServerSecret = "", ""
			c.RadiusServers = []RadiusServer{{RadiusServerAddress: "10.1.0.10", RadiusServerSecret: "a", RadiusServerScore: 30}}
		}},
		{name: "radiusServers without secret", mut: func(g *VirtualNetworkGateway) {
			c := cfg(g)
			radius(c)
			c.RadiusServers = []RadiusServer{{RadiusServerAddress: "10.1.0.11"}}
		}, code: CodeMissingParameter, target: t0 + ".radiusServers[0].radiusServerSecret"},
		{name: "radiusServers bad address", mut: func(g *VirtualNetworkGateway) {
			c := cfg(g)
			radius(c)
			c.RadiusServers = []RadiusServer{{RadiusServerAddress: "x", RadiusServerSecret: "a"}}
		}, code: CodeInvalidParameter, target: t0 + ".radiusServers[0].radiusServerAddress"},
		{name: "radiusServers negative score", mut: func(g *VirtualNetworkGateway) {
			c := cfg(g)
			radius(c)
			c.RadiusServers = []RadiusServer{{RadiusServerAddress: "10.1.0.12", RadiusServerSecret: "a", RadiusServerScore: -1}}
		}, code: CodeInvalidParameter, target: t0 + ".radiusServers[0].radiusServerScore"},
		{name: "aad", mut: func(g *VirtualNetworkGateway) { aad(cfg(g)) }},
		{name: "aad missing issuer", mut: func(g *VirtualNetworkGateway) { aad(cfg(g)); cfg(g).AadIssuer = "" },
			code: CodeMissingParameter, target: t0 + ".aadIssuer"},
		{name: "aad tenant not https", mut: func(g *VirtualNetworkGateway) { aad(cfg(g)); cfg(g).AadTenant = "http://login/x" },
			code: CodeVpnClientConfiguration, target: t0 + ".aadTenant"},
		{name: "aad without OpenVPN", mut: func(g *VirtualNetworkGateway) { aad(cfg(g)); cfg(g).VpnClientProtocols = []string{"IkeV2"} },
			code: CodeVpnClientConfiguration, target: t0 + ".vpnClientProtocols", msg: []string{"OpenVPN"}},
		{name: "p2s ipsec policy", mut: func(g *VirtualNetworkGateway) { cfg(g).VpnClientIpsecPolicies = []IpsecPolicy{goodPolicy()} }},
		{name: "p2s ipsec policy bad", mut: func(g *VirtualNetworkGateway) {
			p := goodPolicy()
			p.DhGroup = "DHGroup5"
			cfg(g).VpnClientIpsecPolicies = []IpsecPolicy{p}
		}, code: CodeInvalidIpsecPolicy, target: t0 + ".vpnClientIpsecPolicies[0].dhGroup"},
		{name: "Basic SSTP", mut: func(g *VirtualNetworkGateway) {
			g.Properties.SKU.Name = "Basic"
			cfg(g).VpnClientProtocols = []string{"SSTP"}
		}},
		{name: "Basic default protocols", mut: func(g *VirtualNetworkGateway) {
			g.Properties.SKU.Name = "Basic"
			cfg(g).VpnClientProtocols = nil
		}},
		{name: "Basic IKEv2", mut: func(g *VirtualNetworkGateway) { g.Properties.SKU.Name = "Basic" },
			code: CodeVpnClientConfiguration, target: t0 + ".vpnClientProtocols", msg: []string{"SSTP"}},
		{name: "Basic RADIUS", mut: func(g *VirtualNetworkGateway) {
			g.Properties.SKU.Name = "Basic"
			cfg(g).VpnClientProtocols = []string{"SSTP"}
			radius(cfg(g))
		}, code: CodeVpnClientConfiguration, target: t0 + ".vpnAuthenticationTypes", msg: []string{"RADIUS"}},
		{name: "Basic P2S IPsec policy", mut: func(g *VirtualNetworkGateway) {
			g.Properties.SKU.Name = "Basic"
			cfg(g).VpnClientProtocols = []string{"SSTP"}
			cfg(g).VpnClientIpsecPolicies = []IpsecPolicy{goodPolicy()}
		}, code: CodeVpnClientConfiguration, target: t0 + ".vpnClientIpsecPolicies"},
	})
}

func nRoots(n int, cert string) []VpnClientRootCertificate {
	var out []VpnClientRootCertificate
	for i := range n {
		out = append(out, VpnClientRootCertificate{Name: fmt.Sprintf("root%d", i), Properties: VpnClientRootCertificateProperties{PublicCertData: cert}})
	}
	return out
}

func nRevoked(n int) []VpnClientRevokedCertificate {
	var out []VpnClientRevokedCertificate
	for i := range n {
		out = append(out, VpnClientRevokedCertificate{Name: fmt.Sprintf("r%d", i),
			Properties: VpnClientRevokedCertificateProperties{Thumbprint: fmt.Sprintf("%040X", i+1)}})
	}
	return out
}

func TestValidateLocalNetworkGateway(t *testing.T) {
	base := func() *LocalNetworkGateway { return newLNG("site1", "203.0.113.10", "192.168.0.0/16") }
	bgp := func(l *LocalNetworkGateway) {
		l.Properties.BgpSettings = &BgpSettings{ASN: 65010, BgpPeeringAddress: "192.168.255.1"}
	}
	runValidate(t, base, []vcase[*LocalNetworkGateway]{
		{name: "valid"},
		{name: "private device address", mut: func(l *LocalNetworkGateway) { l.Properties.GatewayIPAddress = "10.0.0.1" }},
		{name: "ipv6 device address", mut: func(l *LocalNetworkGateway) { l.Properties.GatewayIPAddress = "2001:db8::1" }},
		{name: "no prefixes", mut: func(l *LocalNetworkGateway) { l.Properties.LocalNetworkAddressSpace.AddressPrefixes = nil },
			code: CodeMissingParameter, target: "properties.localNetworkAddressSpace.addressPrefixes", msg: []string{"bgpSettings"}},
		{name: "no prefixes with BGP", mut: func(l *LocalNetworkGateway) { l.Properties.LocalNetworkAddressSpace.AddressPrefixes = nil; bgp(l) }},
		{name: "1000 prefixes", mut: func(l *LocalNetworkGateway) { l.Properties.LocalNetworkAddressSpace.AddressPrefixes = nPrefixes(1000) }},
		{name: "1001 prefixes", mut: func(l *LocalNetworkGateway) { l.Properties.LocalNetworkAddressSpace.AddressPrefixes = nPrefixes(1001) },
			code: CodeLimitExceeded, target: "properties.localNetworkAddressSpace.addressPrefixes"},
		{name: "duplicate prefix", mut: func(l *LocalNetworkGateway) {
			l.Properties.LocalNetworkAddressSpace.AddressPrefixes = []string{"192.168.0.0/16", "192.168.0.0/16"}
		}, code: CodeInvalidParameter, target: "properties.localNetworkAddressSpace.addressPrefixes", msg: []string{"twice"}},
		{name: "non-canonical prefix", mut: func(l *LocalNetworkGateway) {
			l.Properties.LocalNetworkAddressSpace.AddressPrefixes = []string{"192.168.1.0/16"}
		},
			code: CodeInvalidCIDR, target: "properties.localNetworkAddressSpace.addressPrefixes[0]", msg: []string{"192.168.0.0/16"}},
		{name: "device address invalid", mut: func(l *LocalNetworkGateway) { l.Properties.GatewayIPAddress = "999.1.1.1" },
			code: CodeInvalidParameter, target: "properties.gatewayIpAddress"},
		{name: "device address multicast", mut: func(l *LocalNetworkGateway) { l.Properties.GatewayIPAddress = "224.0.0.5" },
			code: CodeInvalidLocalNetworkGw, target: "properties.gatewayIpAddress"},
		{name: "device address unspecified", mut: func(l *LocalNetworkGateway) { l.Properties.GatewayIPAddress = "0.0.0.0" },
			code: CodeInvalidLocalNetworkGw, target: "properties.gatewayIpAddress"},
		{name: "fqdn only", mut: func(l *LocalNetworkGateway) { l.Properties.GatewayIPAddress, l.Properties.Fqdn = "", "vpn.example.com" }},
		{name: "fqdn invalid", mut: func(l *LocalNetworkGateway) { l.Properties.Fqdn = "bad_name.example" },
			code: CodeInvalidLocalNetworkGw, target: "properties.fqdn"},
		{name: "fqdn is an IP", mut: func(l *LocalNetworkGateway) { l.Properties.Fqdn = "203.0.113.1" },
			code: CodeInvalidLocalNetworkGw, target: "properties.fqdn"},
		{name: "neither address nor fqdn", mut: func(l *LocalNetworkGateway) { l.Properties.GatewayIPAddress = "" },
			code: CodeMissingParameter, target: "properties.gatewayIpAddress", msg: []string{"fqdn"}},
		{name: "bgp", mut: bgp},
		{name: "bgp asn 0", mut: func(l *LocalNetworkGateway) { bgp(l); l.Properties.BgpSettings.ASN = 0 },
			code: CodeInvalidAsn, target: "properties.bgpSettings.asn"},
		{name: "bgp asn 65515", mut: func(l *LocalNetworkGateway) { bgp(l); l.Properties.BgpSettings.ASN = 65515 },
			code: CodeInvalidAsn, target: "properties.bgpSettings.asn", msg: []string{"65515"}},
		{name: "bgp asn 12076", mut: func(l *LocalNetworkGateway) { bgp(l); l.Properties.BgpSettings.ASN = 12076 },
			code: CodeInvalidAsn, target: "properties.bgpSettings.asn"},
		{name: "bgp asn 65535", mut: func(l *LocalNetworkGateway) { bgp(l); l.Properties.BgpSettings.ASN = 65535 },
			code: CodeInvalidAsn, target: "properties.bgpSettings.asn"},
		{name: "bgp asn 4294967295", mut: func(l *LocalNetworkGateway) { bgp(l); l.Properties.BgpSettings.ASN = 4294967295 },
			code: CodeInvalidAsn, target: "properties.bgpSettings.asn"},
		{name: "bgp peer missing", mut: func(l *LocalNetworkGateway) { bgp(l); l.Properties.BgpSettings.BgpPeeringAddress = "" },
			code: CodeMissingParameter, target: "properties.bgpSettings.bgpPeeringAddress"},
		{name: "bgp peer invalid", mut: func(l *LocalNetworkGateway) { bgp(l); l.Properties.BgpSettings.BgpPeeringAddress = "peer" },
			code: CodeInvalidParameter, target: "properties.bgpSettings.bgpPeeringAddress"},
		{name: "bgp peer equals device", mut: func(l *LocalNetworkGateway) { bgp(l); l.Properties.BgpSettings.BgpPeeringAddress = "203.0.113.10" },
			code: CodeInvalidLocalNetworkGw, target: "properties.bgpSettings.bgpPeeringAddress", msg: []string{"gatewayIpAddress"}},
		{name: "bgp peer APIPA", mut: func(l *LocalNetworkGateway) { bgp(l); l.Properties.BgpSettings.BgpPeeringAddress = "169.254.21.2" }},
		{name: "bgp peerWeight negative", mut: func(l *LocalNetworkGateway) { bgp(l); l.Properties.BgpSettings.PeerWeight = -5 },
			code: CodeInvalidParameter, target: "properties.bgpSettings.peerWeight"},
		{name: "bgp per-ipconfig addresses", mut: func(l *LocalNetworkGateway) {
			bgp(l)
			l.Properties.BgpSettings.BgpPeeringAddresses = []IPConfigurationBgpPeeringAddress{{IPConfigurationID: "x"}}
		}, code: CodeInvalidParameter, target: "properties.bgpSettings.bgpPeeringAddresses"},
	})
}

func nPrefixes(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("172.%d.%d.0/24", 16+i/256, i%256))
	}
	return out
}

func TestValidateConnection(t *testing.T) {
	base := func() *Connection { return newConn("c1", "gw1", "site1") }
	pol := func(c *Connection, f func(*IpsecPolicy)) {
		p := goodPolicy()
		f(&p)
		c.Properties.IpsecPolicies = []IpsecPolicy{p}
	}
	const pt = "properties.ipsecPolicies[0]"
	runValidate(t, base, []vcase[*Connection]{
		{name: "valid"},
		{name: "type missing", mut: func(c *Connection) { c.Properties.ConnectionType = "" },
			code: CodeMissingParameter, target: "properties.connectionType"},
		{name: "type unknown", mut: func(c *Connection) { c.Properties.ConnectionType = "GRE" },
			code: CodeInvalidParameter, target: "properties.connectionType", msg: []string{"IPsec, Vnet2Vnet"}},
		{name: "ExpressRoute refused", mut: func(c *Connection) { c.Properties.ConnectionType = "expressroute" },
			code: CodeUnsupportedConnection, target: "properties.connectionType", msg: []string{"vpngw", "ExpressRoute"}},
		{name: "VPNClient refused", mut: func(c *Connection) { c.Properties.ConnectionType = "VPNClient" },
			code: CodeUnsupportedConnection, target: "properties.connectionType", msg: []string{"vpngw"}},
		{name: "gateway1 missing", mut: func(c *Connection) { c.Properties.VirtualNetworkGateway1 = nil },
			code: CodeMissingParameter, target: "properties.virtualNetworkGateway1.id"},
		{name: "gateway1 wrong type", mut: func(c *Connection) { c.Properties.VirtualNetworkGateway1 = ref(TypeLocalNetworkGateways, "x") },
			code: CodeInvalidParameter, target: "properties.virtualNetworkGateway1.id"},
		{name: "gateway1 malformed", mut: func(c *Connection) { c.Properties.VirtualNetworkGateway1 = &SubResource{ID: "gw1"} },
			code: CodeInvalidResourceID, target: "properties.virtualNetworkGateway1.id"},
		{name: "IPsec without site", mut: func(c *Connection) { c.Properties.LocalNetworkGateway2 = nil },
			code: CodeMissingParameter, target: "properties.localNetworkGateway2.id"},
		{name: "IPsec with gateway2", mut: func(c *Connection) { c.Properties.VirtualNetworkGateway2 = ref(TypeVirtualNetworkGateways, "gw2") },
			code: CodeInvalidConnectionTopology, target: "properties.virtualNetworkGateway2"},
		{name: "Vnet2Vnet", mut: func(c *Connection) { *c = *newV2V("c1", "gw1", "gw2") }},
		{name: "Vnet2Vnet without gateway2", mut: func(c *Connection) { *c = *newV2V("c1", "gw1", "gw2"); c.Properties.VirtualNetworkGateway2 = nil },
			code: CodeMissingParameter, target: "properties.virtualNetworkGateway2.id"},
		{name: "Vnet2Vnet with site", mut: func(c *Connection) {
			*c = *newV2V("c1", "gw1", "gw2")
			c.Properties.LocalNetworkGateway2 = ref(TypeLocalNetworkGateways, "site1")
		}, code: CodeInvalidConnectionTopology, target: "properties.localNetworkGateway2"},
		{name: "Vnet2Vnet to itself", mut: func(c *Connection) { *c = *newV2V("c1", "gw1", "GW1") },
			code: CodeInvalidConnectionTopology, target: "properties.virtualNetworkGateway2.id"},
		{name: "protocol IKEv1", mut: func(c *Connection) { c.Properties.ConnectionProtocol = "ikev1" }},
		{name: "protocol unknown", mut: func(c *Connection) { c.Properties.ConnectionProtocol = "IKEv3" },
			code: CodeInvalidParameter, target: "properties.connectionProtocol"},
		{name: "mode responder", mut: func(c *Connection) { c.Properties.ConnectionMode = "responderonly" }},
		{name: "mode unknown", mut: func(c *Connection) { c.Properties.ConnectionMode = "Passive" },
			code: CodeInvalidParameter, target: "properties.connectionMode"},
		{name: "dpd 9", mut: func(c *Connection) { c.Properties.DpdTimeoutSeconds = 9 }},
		{name: "dpd 3600", mut: func(c *Connection) { c.Properties.DpdTimeoutSeconds = 3600 }},
		{name: "dpd 8", mut: func(c *Connection) { c.Properties.DpdTimeoutSeconds = 8 },
			code: CodeInvalidParameter, target: "properties.dpdTimeoutSeconds", msg: []string{"9 to 3600"}},
		{name: "dpd 3601", mut: func(c *Connection) { c.Properties.DpdTimeoutSeconds = 3601 },
			code: CodeInvalidParameter, target: "properties.dpdTimeoutSeconds"},
		{name: "routingWeight 32000", mut: func(c *Connection) { c.Properties.RoutingWeight = 32000 }},
		{name: "routingWeight 32001", mut: func(c *Connection) { c.Properties.RoutingWeight = 32001 },
			code: CodeInvalidParameter, target: "properties.routingWeight"},
		{name: "routingWeight negative", mut: func(c *Connection) { c.Properties.RoutingWeight = -1 },
			code: CodeInvalidParameter, target: "properties.routingWeight"},
		{name: "shared key punctuation", mut: func(c *Connection) { c.Properties.SharedKey = `a!"#$%&'()*+,./:;<=>?@[\]^_{|}` + "`" }},
		{name: "shared key space", mut: func(c *Connection) { c.Properties.SharedKey = "a b" },
			code: CodeInvalidSharedKey, target: "properties.sharedKey", msg: []string{"space", "position 2"}},
		{name: "shared key hyphen", mut: func(c *Connection) { c.Properties.SharedKey = "a-b" },
			code: CodeInvalidSharedKey, target: "properties.sharedKey", msg: []string{"hyphen"}},
		{name: "shared key tilde", mut: func(c *Connection) { c.Properties.SharedKey = "a~b" },
			code: CodeInvalidSharedKey, target: "properties.sharedKey", msg: []string{"tilde"}},
		{name: "shared key non-ASCII", mut: func(c *Connection) { c.Properties.SharedKey = "schlüssel" },
			code: CodeInvalidSharedKey, target: "properties.sharedKey"},
		{name: "shared key 128", mut: func(c *Connection) { c.Properties.SharedKey = strings.Repeat("k", 128) }},
		{name: "shared key 129", mut: func(c *Connection) { c.Properties.SharedKey = strings.Repeat("k", 129) },
			code: CodeInvalidSharedKey, target: "properties.sharedKey", msg: []string{"128"}},
		{name: "policy", mut: func(c *Connection) { pol(c, func(*IpsecPolicy) {}) }},
		{name: "policy lower case", mut: func(c *Connection) {
			pol(c, func(p *IpsecPolicy) { p.IkeEncryption, p.PfsGroup, p.DhGroup = "gcmaes256", "pfs14", "dhgroup2048" })
		}},
		{name: "policy PFSMM ECP384 DHGroup24", mut: func(c *Connection) {
			pol(c, func(p *IpsecPolicy) { p.PfsGroup, p.DhGroup, p.IkeIntegrity = "PFSMM", "DHGroup24", "SHA384" })
		}},
		{name: "two policies", mut: func(c *Connection) { c.Properties.IpsecPolicies = []IpsecPolicy{goodPolicy(), goodPolicy()} },
			code: CodeInvalidIpsecPolicy, target: "properties.ipsecPolicies", msg: []string{"one"}},
		{name: "policy missing fields", mut: func(c *Connection) { pol(c, func(p *IpsecPolicy) { p.SaLifeTimeSeconds, p.PfsGroup = 0, "" }) },
			code: CodeInvalidIpsecPolicy, target: pt + ".saLifeTimeSeconds", msg: []string{"saLifeTimeSeconds, pfsGroup"}},
		{name: "policy missing pfsGroup listed as detail", mut: func(c *Connection) { pol(c, func(p *IpsecPolicy) { p.SaLifeTimeSeconds, p.PfsGroup = 0, "" }) },
			code: CodeInvalidIpsecPolicy, target: pt + ".pfsGroup"},
		{name: "policy empty", mut: func(c *Connection) { c.Properties.IpsecPolicies = []IpsecPolicy{{}} },
			code: CodeInvalidIpsecPolicy, target: pt + ".dhGroup"},
		{name: "ikeEncryption unknown", mut: func(c *Connection) { pol(c, func(p *IpsecPolicy) { p.IkeEncryption = "AES512" }) },
			code: CodeInvalidIpsecPolicy, target: pt + ".ikeEncryption"},
		{name: "ikeIntegrity unknown", mut: func(c *Connection) { pol(c, func(p *IpsecPolicy) { p.IkeIntegrity = "SHA512" }) },
			code: CodeInvalidIpsecPolicy, target: pt + ".ikeIntegrity"},
		{name: "ipsecEncryption unknown", mut: func(c *Connection) { pol(c, func(p *IpsecPolicy) { p.IpsecEncryption = "CHACHA" }) },
			code: CodeInvalidIpsecPolicy, target: pt + ".ipsecEncryption"},
		{name: "ipsecIntegrity unknown", mut: func(c *Connection) { pol(c, func(p *IpsecPolicy) { p.IpsecIntegrity = "SHA384" }) },
			code: CodeInvalidIpsecPolicy, target: pt + ".ipsecIntegrity"},
		{name: "pfsGroup unknown", mut: func(c *Connection) { pol(c, func(p *IpsecPolicy) { p.PfsGroup = "PFS5" }) },
			code: CodeInvalidIpsecPolicy, target: pt + ".pfsGroup"},
		{name: "lifetime 300", mut: func(c *Connection) { pol(c, func(p *IpsecPolicy) { p.SaLifeTimeSeconds = 300 }) }},
		{name: "lifetime 299", mut: func(c *Connection) { pol(c, func(p *IpsecPolicy) { p.SaLifeTimeSeconds = 299 }) },
			code: CodeInvalidIpsecPolicy, target: pt + ".saLifeTimeSeconds", msg: []string{"300"}},
		{name: "lifetime 172800", mut: func(c *Connection) { pol(c, func(p *IpsecPolicy) { p.SaLifeTimeSeconds = 172800 }) },
			code: CodeInvalidIpsecPolicy, target: pt + ".saLifeTimeSeconds"},
		{name: "datasize 1024", mut: func(c *Connection) { pol(c, func(p *IpsecPolicy) { p.SaDataSizeKilobytes = 1024 }) }},
		{name: "datasize 1023", mut: func(c *Connection) { pol(c, func(p *IpsecPolicy) { p.SaDataSizeKilobytes = 1023 }) },
			code: CodeInvalidIpsecPolicy, target: pt + ".saDataSizeKilobytes", msg: []string{"1024"}},
		{name: "GCM encryption with SHA256 integrity", mut: func(c *Connection) { pol(c, func(p *IpsecPolicy) { p.IpsecIntegrity = "SHA256" }) },
			code: CodeInvalidIpsecPolicy, target: pt + ".ipsecIntegrity", msg: []string{"GCM"}},
		{name: "GCM integrity with AES encryption", mut: func(c *Connection) { pol(c, func(p *IpsecPolicy) { p.IpsecEncryption = "AES256" }) },
			code: CodeInvalidIpsecPolicy, target: pt + ".ipsecEncryption"},
		{name: "GCM key lengths differ", mut: func(c *Connection) { pol(c, func(p *IpsecPolicy) { p.IpsecIntegrity = "GCMAES128" }) },
			code: CodeInvalidIpsecPolicy, target: pt + ".ipsecIntegrity"},
		{name: "non-GCM ipsec", mut: func(c *Connection) {
			pol(c, func(p *IpsecPolicy) { p.IpsecEncryption, p.IpsecIntegrity = "AES256", "SHA256" })
		}},
		{name: "ipsec encryption None", mut: func(c *Connection) {
			pol(c, func(p *IpsecPolicy) { p.IpsecEncryption, p.IpsecIntegrity = "None", "SHA1" })
		}},
		{name: "ike GCM integrity with AES", mut: func(c *Connection) { pol(c, func(p *IpsecPolicy) { p.IkeIntegrity = "GCMAES256" }) },
			code: CodeInvalidIpsecPolicy, target: pt + ".ikeIntegrity", msg: []string{"GCMAES256"}},
		{name: "ike GCM pair", mut: func(c *Connection) {
			pol(c, func(p *IpsecPolicy) { p.IkeIntegrity, p.IkeEncryption = "GCMAES128", "GCMAES128" })
		}},
		{name: "ike GCM encryption with SHA384", mut: func(c *Connection) {
			pol(c, func(p *IpsecPolicy) { p.IkeIntegrity, p.IkeEncryption = "SHA384", "GCMAES256" })
		}},
		{name: "policy-based selectors with policy", mut: func(c *Connection) {
			pol(c, func(*IpsecPolicy) {})
			c.Properties.UsePolicyBasedTrafficSelectors = true
		}},
		{name: "policy-based selectors without policy", mut: func(c *Connection) { c.Properties.UsePolicyBasedTrafficSelectors = true },
			code: CodeInvalidIpsecPolicy, target: "properties.usePolicyBasedTrafficSelectors", msg: []string{"ipsecPolicies"}},
		{name: "traffic selectors", mut: func(c *Connection) {
			c.Properties.TrafficSelectorPolicies = []TrafficSelectorPolicy{{LocalAddressRanges: []string{"10.1.0.0/16"}, RemoteAddressRanges: []string{"192.168.0.0/16"}}}
		}},
		{name: "traffic selector without local", mut: func(c *Connection) {
			c.Properties.TrafficSelectorPolicies = []TrafficSelectorPolicy{{RemoteAddressRanges: []string{"192.168.0.0/16"}}}
		}, code: CodeInvalidTrafficSelector, target: "properties.trafficSelectorPolicies[0].localAddressRanges"},
		{name: "traffic selector without remote", mut: func(c *Connection) {
			c.Properties.TrafficSelectorPolicies = []TrafficSelectorPolicy{{LocalAddressRanges: []string{"10.1.0.0/16"}}}
		}, code: CodeInvalidTrafficSelector, target: "properties.trafficSelectorPolicies[0].remoteAddressRanges"},
		{name: "traffic selector bad CIDR", mut: func(c *Connection) {
			c.Properties.TrafficSelectorPolicies = []TrafficSelectorPolicy{{LocalAddressRanges: []string{"10.1.0.0/16"}, RemoteAddressRanges: []string{"192.168.0.1/16"}}}
		}, code: CodeInvalidCIDR, target: "properties.trafficSelectorPolicies[0].remoteAddressRanges[0]"},
		{name: "101 traffic selectors", mut: func(c *Connection) {
			for range 101 {
				c.Properties.TrafficSelectorPolicies = append(c.Properties.TrafficSelectorPolicies,
					TrafficSelectorPolicy{LocalAddressRanges: []string{"10.1.0.0/16"}, RemoteAddressRanges: []string{"192.168.0.0/16"}})
			}
		}, code: CodeLimitExceeded, target: "properties.trafficSelectorPolicies"},
	})
}
