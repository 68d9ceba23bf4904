package resource

import (
	"fmt"
	"testing"
)

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
		{name: "address space grows past 200 PolicyBased prefix pairs", setup: func(w *world) {
			g := newGateway("gw1", "vnet1", "pip1")
			g.Properties.VpnType, g.Properties.SKU.Name = "PolicyBased", "Basic"
			l := newLNG("site3", "203.0.113.30", prefixes(100)...)
			w.mustPut(g, l, newConn("c1", "gw1", "site3"))
		}, obj: vnet(func(v *VirtualNetwork) {
			v.Properties.AddressSpace.AddressPrefixes = append(v.Properties.AddressSpace.AddressPrefixes, "10.60.0.0/16", "10.61.0.0/16")
		}), code: CodePolicyBasedLimit, target: at, msg: []string{"at most 200", "300 pairs"}},
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
