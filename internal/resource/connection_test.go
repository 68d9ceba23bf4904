package resource

import (
	"fmt"
	"strings"
	"testing"
)

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
		{name: "traffic selectors on IKEv1", mut: func(c *Connection) {
			c.Properties.ConnectionProtocol = ProtocolIKEv1
			c.Properties.TrafficSelectorPolicies = []TrafficSelectorPolicy{{LocalAddressRanges: []string{"10.1.0.0/16"}, RemoteAddressRanges: []string{"192.168.0.0/16"}}}
		}, code: CodeInvalidTrafficSelector, target: "properties.trafficSelectorPolicies"},
		{name: "101 traffic selectors", mut: func(c *Connection) {
			for range 101 {
				c.Properties.TrafficSelectorPolicies = append(c.Properties.TrafficSelectorPolicies,
					TrafficSelectorPolicy{LocalAddressRanges: []string{"10.1.0.0/16"}, RemoteAddressRanges: []string{"192.168.0.0/16"}})
			}
		}, code: CodeLimitExceeded, target: "properties.trafficSelectorPolicies"},
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
	// apipaSite: gw1 has BGP with the custom APIPA addresses 169.254.21.2
	// and 169.254.21.6 on ipconfig1; site3 peers from 169.254.21.1.
	apipaSite := func(w *world) {
		bgpSite(65010, "169.254.21.1")(w)
		g := w.get(TypeVirtualNetworkGateways, "gw1").(*VirtualNetworkGateway)
		g.Properties.BgpSettings = &BgpSettings{ASN: 65515, BgpPeeringAddresses: []IPConfigurationBgpPeeringAddress{{
			IPConfigurationID: ipcfgID("gw1", "ipconfig1"), CustomBgpIPAddresses: []string{"169.254.21.2", "169.254.21.6"}}}}
		w.mustPut(g)
	}
	apipaConn := func(ipConfig, addr string, more ...func(*Connection)) func(*world) Object {
		return func(w *world) Object {
			c := bgpConn(w).(*Connection)
			id := ""
			if ipConfig != "" {
				id = ipcfgID("gw1", ipConfig)
			}
			c.Properties.GatewayCustomBgpIPAddresses = []GatewayCustomBgpIPAddress{{IPConfigurationID: id, CustomBgpIPAddress: addr}}
			for _, f := range more {
				f(c)
			}
			return c
		}
	}
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
		{name: "PolicyBased traffic selector policies", setup: policyGW, obj: conn(func(c *Connection) {
			c.Properties.TrafficSelectorPolicies = []TrafficSelectorPolicy{{LocalAddressRanges: []string{"10.1.0.0/16"}, RemoteAddressRanges: []string{"192.168.0.0/16"}}}
		}), code: CodePolicyBasedLimit, target: "properties.trafficSelectorPolicies", msg: []string{"RouteBased"}},
		{name: "PolicyBased DPD setting", setup: policyGW, obj: conn(func(c *Connection) { c.Properties.DpdTimeoutSeconds = 30 }),
			code: CodePolicyBasedLimit, target: "properties.dpdTimeoutSeconds", msg: []string{"Dead peer detection"}},
		{name: "PolicyBased 200 prefix pairs", setup: func(w *world) {
			policyGW(w)
			w.mustPut(newLNG("site3", "203.0.113.30", prefixes(200)...))
		}, obj: conn(func(c *Connection) { c.Properties.LocalNetworkGateway2 = ref(TypeLocalNetworkGateways, "site3") })},
		{name: "PolicyBased 201 prefix pairs", setup: func(w *world) {
			policyGW(w)
			w.mustPut(newVNet("vnet1", "10.1.0.0/16", "10.9.0.0/16").with(GatewaySubnetName, "10.1.255.0/27"), newLNG("site3", "203.0.113.30", prefixes(101)...))
		}, obj: conn(func(c *Connection) { c.Properties.LocalNetworkGateway2 = ref(TypeLocalNetworkGateways, "site3") }),
			code: CodePolicyBasedLimit, target: l2, msg: []string{"at most 200", "202 pairs"}},
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
		{name: "gatewayCustomBgpIpAddresses", setup: apipaSite, obj: apipaConn("ipconfig1", "169.254.21.6")},
		{name: "gatewayCustomBgpIpAddresses without enableBgp", setup: apipaSite, obj: apipaConn("ipconfig1", "169.254.21.6", func(c *Connection) { c.Properties.EnableBgp = false }),
			code: CodeInvalidParameter, target: "properties.gatewayCustomBgpIpAddresses", msg: []string{"enableBgp"}},
		{name: "gatewayCustomBgpIpAddresses not the gateway's", setup: apipaSite, obj: apipaConn("ipconfig1", "169.254.21.9"),
			code: CodeInvalidParameter, target: "properties.gatewayCustomBgpIpAddresses[0].customBgpIpAddress", msg: []string{"169.254.21.9", "169.254.21.2, 169.254.21.6"}},
		{name: "gatewayCustomBgpIpAddresses outside the APIPA range", setup: apipaSite, obj: apipaConn("ipconfig1", "169.254.23.1"),
			code: CodeInvalidParameter, target: "properties.gatewayCustomBgpIpAddresses[0].customBgpIpAddress", msg: []string{"169.254.21.0 - 169.254.22.255"}},
		{name: "gatewayCustomBgpIpAddresses not an address", setup: apipaSite, obj: apipaConn("ipconfig1", "fe80::1%eth0"),
			code: CodeInvalidParameter, target: "properties.gatewayCustomBgpIpAddresses[0].customBgpIpAddress"},
		{name: "gatewayCustomBgpIpAddresses unknown ipConfiguration", setup: apipaSite, obj: apipaConn("ipconfig7", "169.254.21.6"),
			code: CodeInvalidParameter, target: "properties.gatewayCustomBgpIpAddresses[0].ipConfigurationId", msg: []string{"ipconfig7"}},
		{name: "gatewayCustomBgpIpAddresses ipConfiguration twice", setup: apipaSite, obj: apipaConn("ipconfig1", "169.254.21.6", func(c *Connection) {
			c.Properties.GatewayCustomBgpIPAddresses = append(c.Properties.GatewayCustomBgpIPAddresses, c.Properties.GatewayCustomBgpIPAddresses[0])
		}), code: CodeInvalidParameter, target: "properties.gatewayCustomBgpIpAddresses[1].ipConfigurationId", msg: []string{"also chosen"}},
		{name: "gatewayCustomBgpIpAddresses without ipConfigurationId", setup: apipaSite, obj: apipaConn("", "169.254.21.6"),
			code: CodeMissingParameter, target: "properties.gatewayCustomBgpIpAddresses[0].ipConfigurationId"},
		{name: "gatewayCustomBgpIpAddresses on Vnet2Vnet", setup: func(w *world) {
			apipaSite(w)
			g := newGateway("gw2", "vnet2", "pip2")
			g.Properties.EnableBgp, g.Properties.BgpSettings = true, &BgpSettings{ASN: 65020}
			w.mustPut(g)
		}, obj: v2v(func(c *Connection) {
			c.Properties.EnableBgp = true
			c.Properties.GatewayCustomBgpIPAddresses = []GatewayCustomBgpIPAddress{{IPConfigurationID: ipcfgID("gw1", "ipconfig1"), CustomBgpIPAddress: "169.254.21.6"}}
		}), code: CodeInvalidParameter, target: "properties.gatewayCustomBgpIpAddresses", msg: []string{"IPsec"}},
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

// prefixes returns n distinct /24s in 172.16.0.0/12 (site address spaces
// for limit tests).
func prefixes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("172.%d.%d.0/24", 16+i/256, i%256)
	}
	return out
}
