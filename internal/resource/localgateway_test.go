package resource

import (
	"fmt"
	"testing"
)

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
		{name: "multicast prefix", mut: func(l *LocalNetworkGateway) {
			l.Properties.LocalNetworkAddressSpace.AddressPrefixes = []string{"192.168.0.0/16", "239.1.0.0/16"}
		}, code: CodeInvalidParameter, target: "properties.localNetworkAddressSpace.addressPrefixes[1]", msg: []string{"multicast"}},
		{name: "loopback prefix", mut: func(l *LocalNetworkGateway) {
			l.Properties.LocalNetworkAddressSpace.AddressPrefixes = []string{"127.0.0.0/8"}
		}, code: CodeInvalidParameter, target: "properties.localNetworkAddressSpace.addressPrefixes[0]", msg: []string{"loopback"}},
		{name: "link-local prefix", mut: func(l *LocalNetworkGateway) {
			l.Properties.LocalNetworkAddressSpace.AddressPrefixes = []string{"169.254.10.0/24"}
		}, code: CodeInvalidParameter, target: "properties.localNetworkAddressSpace.addressPrefixes[0]", msg: []string{"link-local"}},
		{name: "APIPA BGP peer host prefix", mut: func(l *LocalNetworkGateway) {
			l.Properties.LocalNetworkAddressSpace.AddressPrefixes = []string{"192.168.0.0/16", "169.254.21.1/32"}
		}},
		{name: "default route prefix", mut: func(l *LocalNetworkGateway) {
			l.Properties.LocalNetworkAddressSpace.AddressPrefixes = []string{"0.0.0.0/0"}
		}},
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
		{name: "PolicyBased connection over 200 prefix pairs", setup: func(w *world) {
			g := newGateway("gw1", "vnet1", "pip1")
			g.Properties.VpnType, g.Properties.SKU.Name = "PolicyBased", "Basic"
			w.mustPut(g, newConn("c1", "gw1", "site1"))
		}, obj: lng("site1", func(l *LocalNetworkGateway) {
			l.Properties.LocalNetworkAddressSpace.AddressPrefixes = prefixes(201)
		}), code: CodePolicyBasedLimit, target: at, msg: []string{"at most 200", "201 pairs"}},
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
