package reconcile_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vpngw/vpngw/internal/reconcile"
)

// A BGP VNet-to-VNet pair whose peer gateway is active-active gives each
// of our active instances one tunnel per peer instance (Azure's full mesh:
// 4 tunnels between two active-active gateways), each to that instance's
// public address with a BGP session to that instance's BGP address, and no
// static prefixes (the other VNet is learned over BGP from every
// instance). An active-standby peer keeps one tunnel per instance with
// the other VNet's address space as static prefixes.
func TestBGPVnet2VnetActiveActiveFullMesh(t *testing.T) {
	cases := []struct {
		name     string
		aa1, aa2 bool
	}{
		{"both active-active", true, true},
		{"active-active to active-standby", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, reconcile.Options{})
			gateway := func(group, vnet, gw string, asn int, aa bool) {
				h.site(group, vnet, map[string]string{"vnet1": "10.1.0.0/16", "vnet2": "10.2.0.0/16"}[vnet],
					map[string]string{"vnet1": "10.1.255.0/27", "vnet2": "10.2.255.0/27"}[vnet], gw)
				ics := fmt.Sprintf(`{"name":"default","properties":{"subnet":{"id":"%s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%s"}}}`,
					res(group, "virtualNetworks", vnet), res(group, "publicIPAddresses", gw+"-ip"))
				if aa {
					h.put(res(group, "publicIPAddresses", gw+"-ip2"), `{"location":"westeurope","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`)
					ics += fmt.Sprintf(`,{"name":"activeActive","properties":{"subnet":{"id":"%s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%s"}}}`,
						res(group, "virtualNetworks", vnet), res(group, "publicIPAddresses", gw+"-ip2"))
				}
				h.put(res(group, "virtualNetworkGateways", gw), fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw2"},"vpnGatewayGeneration":"Generation2",
				"activeActive":%t,"enableBgp":true,"bgpSettings":{"asn":%d},"ipConfigurations":[%s]}}`, aa, asn, ics))
			}
			gateway("rg1", "vnet1", "gw1", 65515, tc.aa1)
			gateway("rg2", "vnet2", "gw2", 65020, tc.aa2)
			for _, p := range [][4]string{{"rg1", "c12", "gw1", "rg2/gw2"}, {"rg2", "c21", "gw2", "rg1/gw1"}} {
				other := strings.Split(p[3], "/")
				h.put(res(p[0], "connections", p[1]), fmt.Sprintf(`{"location":"westeurope","properties":{"connectionType":"Vnet2Vnet","sharedKey":"v2vKey","enableBgp":true,
				"virtualNetworkGateway1":{"id":"%s"},"virtualNetworkGateway2":{"id":"%s"}}}`,
					res(p[0], "virtualNetworkGateways", p[2]), res(other[0], "virtualNetworkGateways", other[1])))
			}
			d := h.desired()
			specs := map[string]*reconcile.GatewaySpec{}
			for _, g := range d.Gateways {
				specs[g.ID.Name] = g
			}
			// check verifies gw's tunnels to peer: each active instance
			// has one per active peer instance, to its public address,
			// with its BGP address as the neighbor.
			check := func(gw, peer string, peerASN uint32, otherVNet netip.Prefix) {
				t.Helper()
				g, p := specs[gw], specs[peer]
				if g == nil || p == nil {
					t.Fatalf("gateways %v, problems %v", d.Gateways, d.Problems)
				}
				var peerInst []*reconcile.InstanceSpec
				for _, in := range p.Instances {
					if in.Active {
						peerInst = append(peerInst, in)
					}
				}
				peerAA := len(peerInst) == 2
				if peerAA == slices.Contains(g.Routes, otherVNet) {
					t.Errorf("%s: VNet routes %v: the static %v should be there only with an active-standby peer", gw, g.Routes, otherVNet)
				}
				tunnels := 0
				for _, in := range g.Instances {
					if !in.Active {
						continue
					}
					cfg := in.Assignment.Config
					if _, err := cfg.Check(); err != nil {
						t.Fatalf("%s: assignment does not validate: %v", in.ID, err)
					}
					if len(cfg.Connections) != len(peerInst) {
						t.Fatalf("%s: %d connections, want %d (one per peer instance): %+v", in.ID, len(cfg.Connections), len(peerInst), cfg.Connections)
					}
					for j, c := range cfg.Connections {
						pi := peerInst[j]
						wantBGP := pi.Assignment.Config.BgpSettings.BgpPeeringAddress
						if c.RemoteAddress != pi.PublicIP.String() || c.BgpPeer == nil || c.BgpPeer.BgpPeeringAddress != wantBGP ||
							c.BgpPeer.ASN != peerASN || !c.BgpPeer.Gateway || !c.EnableBgp {
							t.Errorf("%s tunnel %d: remote %s peer %+v, want remote %s BGP %s ASN %d", in.ID, j, c.RemoteAddress, c.BgpPeer, pi.PublicIP, wantBGP, peerASN)
						}
						if peerAA != (len(c.RemotePrefixes) == 0) {
							t.Errorf("%s tunnel %d: remotePrefixes %v (peer active-active: %v)", in.ID, j, c.RemotePrefixes, peerAA)
						}
						tunnels++
					}
				}
				t.Logf("%s: %d tunnels to %s", gw, tunnels, peer)
			}
			check("gw1", "gw2", 65020, netip.MustParsePrefix("10.2.0.0/16"))
			check("gw2", "gw1", 65515, netip.MustParsePrefix("10.1.0.0/16"))
			if tc.aa1 && tc.aa2 {
				// The BGP addresses are the instances' own (Azure's
				// default when active-active).
				for _, g := range specs {
					for _, in := range g.Instances {
						if got := in.Assignment.Config.BgpSettings.BgpPeeringAddress; got != in.PrivateIP.String() {
							t.Errorf("%s: BGP address %s, want its own %s", in.ID, got, in.PrivateIP)
						}
					}
				}
			}
		})
	}
}

// A site-to-site connection's gatewayCustomBgpIpAddresses reach each
// instance of an active-active gateway: the instance's other custom APIPA
// addresses as bgpSettings.customBgpIpAddresses, and the one the
// connection chose for that instance's ipConfiguration as the peer's
// localBgpAddress; another connection without a choice uses the
// instance's bgpPeeringAddress. A choice the gateway no longer has
// becomes a problem of the connection.
func TestBGPGatewayCustomBgpIPAddressesReachTheAgent(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	h.put(res("rg1", "publicIPAddresses", "gw1-ip2"), `{"location":"westeurope","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`)
	gw := res("rg1", "virtualNetworkGateways", "gw1")
	gwBody := func(second string) string {
		return fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw2"},"vpnGatewayGeneration":"Generation2",
		"activeActive":true,"enableBgp":true,"bgpSettings":{"asn":65515,"bgpPeeringAddresses":[
			{"ipconfigurationId":"%[4]s/ipConfigurations/ic1","customBgpIpAddresses":["169.254.21.2","169.254.21.6"]},
			{"ipconfigurationId":"%[4]s/ipConfigurations/ic2","customBgpIpAddresses":["169.254.22.2",%[5]s]}]},
		"ipConfigurations":[{"name":"ic1","properties":{"subnet":{"id":"%[1]s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%[2]s"}}},
		{"name":"ic2","properties":{"subnet":{"id":"%[1]s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%[3]s"}}}]}}`,
			res("rg1", "virtualNetworks", "vnet1"), res("rg1", "publicIPAddresses", "gw1-ip"), res("rg1", "publicIPAddresses", "gw1-ip2"), gw, second)
	}
	h.put(gw, gwBody(`"169.254.22.6"`))
	for _, s := range [][3]string{{"site1", "192.0.2.10", "169.254.21.1"}, {"site2", "192.0.2.11", "169.254.21.5"}} {
		h.put(res("rg1", "localNetworkGateways", s[0]), fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayIpAddress":"%s",
		"localNetworkAddressSpace":{"addressPrefixes":[]},"bgpSettings":{"asn":65010,"bgpPeeringAddress":"%s"}}}`, s[1], s[2]))
	}
	custom := ""
	for _, s := range [][2]string{{"ic1", "169.254.21.6"}, {"ic2", "169.254.22.6"}} {
		if custom != "" {
			custom += ","
		}
		custom += fmt.Sprintf(`{"ipConfigurationId":"%s/ipConfigurations/%s","customBgpIpAddress":"%s"}`, gw, s[0], s[1])
	}
	for _, c := range [][2]string{{"c1", "site1"}, {"c2", "site2"}} {
		extra := ""
		if c[0] == "c2" {
			extra = `,"gatewayCustomBgpIpAddresses":[` + custom + `]`
		}
		h.put(res("rg1", "connections", c[0]), fmt.Sprintf(`{"location":"westeurope","properties":{"connectionType":"IPsec","sharedKey":"k1abc","enableBgp":true%s,
		"virtualNetworkGateway1":{"id":"%s"},"localNetworkGateway2":{"id":"%s"}}}`, extra, gw, res("rg1", "localNetworkGateways", c[1])))
	}
	want := []struct{ peering, custom, c2Local string }{
		{"169.254.21.2", "169.254.21.6", "169.254.21.6"},
		{"169.254.22.2", "169.254.22.6", "169.254.22.6"},
	}
	g := h.desired().Gateways[0]
	for i, in := range g.Instances {
		cfg := in.Assignment.Config
		if _, err := cfg.Check(); err != nil {
			t.Fatalf("%s: assignment does not validate: %v", in.ID, err)
		}
		b := cfg.BgpSettings
		if b.BgpPeeringAddress != want[i].peering || !slices.Equal(b.CustomBgpIPAddresses, []string{want[i].custom}) {
			t.Errorf("%s: bgpSettings %+v, want %s + [%s]", in.ID, b, want[i].peering, want[i].custom)
		}
		locals := map[string]string{}
		for _, c := range cfg.Connections {
			locals[c.BgpPeer.BgpPeeringAddress] = c.BgpPeer.LocalBgpAddress
		}
		if locals["169.254.21.1"] != "" || locals["169.254.21.5"] != want[i].c2Local {
			t.Errorf("%s: local BGP addresses by peer %v, want c1 none, c2 %s", in.ID, locals, want[i].c2Local)
		}
	}
	// The gateway cannot drop an address a connection uses.
	if err := h.putErr(gw, gwBody(`"169.254.22.9"`)); err == nil || !strings.Contains(err.Error(), "169.254.22.6 is not one of ipConfiguration ic2's customBgpIpAddresses") {
		t.Fatalf("gateway PUT dropping c2's address: %v", err)
	}
}
