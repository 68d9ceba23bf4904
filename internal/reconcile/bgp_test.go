package reconcile_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/gwconfig"

	"github.com/vpngw/vpngw/internal/reconcile"
)

// A BGP gateway's bgpSettings and a BGP connection's local network gateway
// bgpSettings reach the agent: the instance's speaker (ASN, the last
// GatewaySubnet address, or a custom APIPA address), and the connection's
// peer (ASN, peering address, weight), with no static prefixes needed.
func TestBGPSettingsReachTheAgent(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	gw := res("rg1", "virtualNetworkGateways", "gw1")
	h.put(gw, fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw2"},"vpnGatewayGeneration":"Generation2",
		"enableBgp":true,"bgpSettings":{"asn":65001},
		"ipConfigurations":[{"name":"default","properties":{"subnet":{"id":"%s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%s"}}}]}}`,
		res("rg1", "virtualNetworks", "vnet1"), res("rg1", "publicIPAddresses", "gw1-ip")))
	h.put(res("rg1", "localNetworkGateways", "site1"), `{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.10",
		"localNetworkAddressSpace":{"addressPrefixes":[]},"bgpSettings":{"asn":65010,"bgpPeeringAddress":"10.50.255.1","peerWeight":7}}}`)
	h.put(res("rg1", "connections", "c1"), fmt.Sprintf(`{"location":"westeurope","properties":{"connectionType":"IPsec","sharedKey":"k1abc","enableBgp":true,
		"virtualNetworkGateway1":{"id":"%s"},"localNetworkGateway2":{"id":"%s"}}}`, gw, res("rg1", "localNetworkGateways", "site1")))
	g := h.desired().Gateways[0]
	for i, inst := range g.Instances {
		cfg := inst.Assignment.Config
		in, err := cfg.Check()
		if err != nil {
			t.Fatalf("instance %d: assignment does not validate: %v", i, err)
		}
		if in.BGP == nil || in.BGP.ASN != 65001 || in.BGP.PeeringAddr.String() != "10.1.255.30" {
			t.Fatalf("instance %d: BGP %+v", i, in.BGP)
		}
		if i != 0 {
			continue // the standby runs no connections
		}
		if len(in.Peers) != 1 || in.Peers[0].BGP == nil || in.Peers[0].BGP.ASN != 65010 ||
			in.Peers[0].BGP.Addr.String() != "10.50.255.1" || in.Peers[0].BGP.Weight != 7 || len(in.Peers[0].RemoteNets) != 0 {
			t.Fatalf("BGP connection: %+v", in.Peers)
		}
	}
	// A custom APIPA address on the ipConfiguration becomes the speaker's.
	h.put(gw, fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw2"},"vpnGatewayGeneration":"Generation2",
		"enableBgp":true,"bgpSettings":{"asn":65001,"bgpPeeringAddresses":[{"ipconfigurationId":"%s/ipConfigurations/default","customBgpIpAddresses":["169.254.21.5"]}]},
		"ipConfigurations":[{"name":"default","properties":{"subnet":{"id":"%s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%s"}}}]}}`,
		gw, res("rg1", "virtualNetworks", "vnet1"), res("rg1", "publicIPAddresses", "gw1-ip")))
	cfg := h.desired().Gateways[0].Instances[0].Assignment.Config
	if cfg.BgpSettings == nil || cfg.BgpSettings.BgpPeeringAddress != "169.254.21.5" {
		t.Fatalf("custom APIPA address: %+v", cfg.BgpSettings)
	}
}

// getBgpPeerStatus, getLearnedRoutes and getAdvertisedRoutes answer from
// the instances' reports, with the connection named as the API names it.
func TestBGPActionsAnswerFromReports(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	gw := res("rg1", "virtualNetworkGateways", "gw1")
	post := func(action string, out any) error {
		p, err := h.c.Post(h.ctx, gw+"/"+action, nil, nil)
		if err != nil {
			return err
		}
		if err := p.Wait(h.ctx, nil); err != nil {
			return err
		}
		return p.Result(out)
	}
	var list struct {
		Value []map[string]any `json:"value"`
	}
	if err := post("getBgpPeerStatus", &list); err == nil || !strings.Contains(err.Error(), "BgpNotSupported") {
		t.Fatalf("getBgpPeerStatus without BGP: %v", err)
	}
	h.put(gw, fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw2"},"vpnGatewayGeneration":"Generation2",
		"enableBgp":true,"bgpSettings":{"asn":65001},
		"ipConfigurations":[{"name":"default","properties":{"subnet":{"id":"%s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%s"}}}]}}`,
		res("rg1", "virtualNetworks", "vnet1"), res("rg1", "publicIPAddresses", "gw1-ip")))
	h.put(res("rg1", "localNetworkGateways", "site1"), `{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.10",
		"localNetworkAddressSpace":{"addressPrefixes":[]},"bgpSettings":{"asn":65010,"bgpPeeringAddress":"10.50.255.1"}}}`)
	h.put(res("rg1", "connections", "c1"), fmt.Sprintf(`{"location":"westeurope","properties":{"connectionType":"IPsec","sharedKey":"k1abc","enableBgp":true,
		"virtualNetworkGateway1":{"id":"%s"},"localNetworkGateway2":{"id":"%s"}}}`, gw, res("rg1", "localNetworkGateways", "site1")))
	g := h.desired().Gateways[0]
	a := h.agent(g.Instances[0].ID)
	a.mu.Lock()
	conn := a.cur.Config.Connections[0].Name
	a.bgp = &agentapi.BGPStatus{ASN: 65001, LocalAddress: "10.1.255.30",
		Peers: []agentapi.BGPPeerStatus{{LocalAddress: "10.1.255.30", Neighbor: "10.50.255.1", ASN: 65010, State: "Connected",
			ConnectedDuration: "00:01:00.0000000", RoutesReceived: 1, Connection: conn}},
		LearnedRoutes: []agentapi.GatewayRoute{
			{LocalAddress: "10.1.255.30", Network: "10.1.0.0/16", SourcePeer: "10.1.255.30", Origin: "Network", Weight: 32768},
			{LocalAddress: "10.1.255.30", Network: "0.0.0.0/0", NextHop: "10.50.255.1", SourcePeer: "10.50.255.1", Origin: "EBgp", ASPath: "65010"},
			{LocalAddress: "10.1.255.30", Network: "10.50.0.0/24", NextHop: "10.50.255.1", SourcePeer: "10.50.255.1", Origin: "EBgp", ASPath: "65010"},
		},
		AdvertisedRoutes: map[string][]agentapi.GatewayRoute{"10.50.255.1": {{LocalAddress: "10.1.255.30", Network: "10.1.0.0/16",
			NextHop: "10.1.255.30", Origin: "Network", ASPath: "65001", Weight: 32768}}}}
	a.mu.Unlock()
	waitFor(t, 5*time.Second, func() bool {
		return post("getBgpPeerStatus", &list) == nil && len(list.Value) == 1
	}, "getBgpPeerStatus does not show the reported peer")
	if p := list.Value[0]; p["neighbor"] != "10.50.255.1" || p["state"] != "Connected" || p["connection"] != "c1" || p["asn"] != float64(65010) {
		t.Fatalf("peer: %v", p)
	}
	if err := post("getBgpPeerStatus?peer=10.9.9.9", &list); err != nil || len(list.Value) != 0 {
		t.Fatalf("another peer: %v %v", err, list.Value)
	}
	if err := post("getLearnedRoutes", &list); err != nil || len(list.Value) != 3 || list.Value[2]["network"] != "10.50.0.0/24" || list.Value[2]["asPath"] != "65010" {
		t.Fatalf("learned routes: %v %v", err, list.Value)
	}
	// The VNet routes the learned prefix and the learned default route
	// (it steers the VNet's egress) to the gateway; not the gateway's own
	// prefix.
	waitFor(t, 5*time.Second, func() bool {
		rs := h.desired().Gateways[0].Routes
		return len(rs) == 2 && rs[0].String() == "0.0.0.0/0" && rs[1].String() == "10.50.0.0/24"
	}, "the learned prefixes are not the VNet's routes")
	if err := post("getAdvertisedRoutes?peer=10.50.255.1", &list); err != nil || len(list.Value) != 1 || list.Value[0]["network"] != "10.1.0.0/16" {
		t.Fatalf("advertised routes: %v %v", err, list.Value)
	}
	if err := post("getAdvertisedRoutes", &list); err == nil || !strings.Contains(err.Error(), "peer") {
		t.Fatalf("getAdvertisedRoutes without peer: %v", err)
	}
}

// A Vnet2Vnet pair with enableBgp between two BGP gateways: each side's
// connection peers with the other gateway's ASN and BGP address (65515,
// Azure's default, is allowed for a gateway peer), and the assignments
// validate. Without enableBgp the pair stays static.
func TestBGPVnet2VnetPeers(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	gwBody := func(group, vnet, gw, bgp string) string {
		return fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw2"},"vpnGatewayGeneration":"Generation2",
		"enableBgp":true,"bgpSettings":%s,
		"ipConfigurations":[{"name":"default","properties":{"subnet":{"id":"%s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%s"}}}]}}`,
			bgp, res(group, "virtualNetworks", vnet), res(group, "publicIPAddresses", gw+"-ip"))
	}
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	h.site("rg2", "vnet2", "10.2.0.0/16", "10.2.255.0/27", "gw2")
	h.put(res("rg1", "virtualNetworkGateways", "gw1"), gwBody("rg1", "vnet1", "gw1", `{"asn":65515}`))
	h.put(res("rg2", "virtualNetworkGateways", "gw2"), gwBody("rg2", "vnet2", "gw2", `{"asn":65020}`))
	pair := func(enableBgp bool) {
		for _, p := range [][4]string{{"rg1", "c12", "gw1", "rg2/gw2"}, {"rg2", "c21", "gw2", "rg1/gw1"}} {
			other := strings.Split(p[3], "/")
			h.put(res(p[0], "connections", p[1]), fmt.Sprintf(`{"location":"westeurope","properties":{"connectionType":"Vnet2Vnet","sharedKey":"v2vKey","enableBgp":%t,
			"virtualNetworkGateway1":{"id":"%s"},"virtualNetworkGateway2":{"id":"%s"}}}`,
				enableBgp, res(p[0], "virtualNetworkGateways", p[2]), res(other[0], "virtualNetworkGateways", other[1])))
		}
	}
	peerOf := func(gw string) *gwconfig.BgpPeer {
		t.Helper()
		for _, g := range h.desired().Gateways {
			if g.ID.Name != gw {
				continue
			}
			cfg := g.Instances[0].Assignment.Config
			if _, err := cfg.Check(); err != nil {
				t.Fatalf("%s: assignment does not validate: %v", gw, err)
			}
			for _, c := range cfg.Connections {
				if c.RemoteAddress != "192.0.2.10" {
					return c.BgpPeer
				}
			}
			t.Fatalf("%s: connections %+v", gw, cfg.Connections)
		}
		t.Fatalf("no gateway %s", gw)
		return nil
	}
	h.put(res("rg2", "localNetworkGateways", "site1"), `{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.10",
		"localNetworkAddressSpace":{"addressPrefixes":["10.50.0.0/16"]},"bgpSettings":{"asn":65010,"bgpPeeringAddress":"10.50.255.1"}}}`)
	h.put(res("rg2", "connections", "c2site"), fmt.Sprintf(`{"location":"westeurope","properties":{"connectionType":"IPsec","sharedKey":"k1abc","enableBgp":true,
		"virtualNetworkGateway1":{"id":"%s"},"localNetworkGateway2":{"id":"%s"}}}`, res("rg2", "virtualNetworkGateways", "gw2"), res("rg2", "localNetworkGateways", "site1")))
	pair(false)
	if p1, p2 := peerOf("gw1"), peerOf("gw2"); p1 != nil || p2 != nil {
		t.Fatalf("static Vnet2Vnet got BGP peers: %+v %+v", p1, p2)
	}
	pair(true)
	if p := peerOf("gw1"); p == nil || p.ASN != 65020 || p.BgpPeeringAddress != "10.2.255.30" || !p.Gateway {
		t.Fatalf("gw1's BGP peer: %+v", p)
	}
	if p := peerOf("gw2"); p == nil || p.ASN != 65515 || p.BgpPeeringAddress != "10.1.255.30" || !p.Gateway {
		t.Fatalf("gw2's BGP peer: %+v", p)
	}
}

// Active-active: a prefix both instances learned goes through the first
// one; when its report no longer lists it (its session went down), the
// VNet route moves to the second instance, and back when it returns.
func TestBGPLearnedRouteFallsBackToTheOtherInstance(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	h.put(res("rg1", "publicIPAddresses", "gw1-ip2"), `{"location":"westeurope","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`)
	gw := res("rg1", "virtualNetworkGateways", "gw1")
	h.put(gw, fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw2"},"vpnGatewayGeneration":"Generation2",
		"activeActive":true,"enableBgp":true,"bgpSettings":{"asn":65001},
		"ipConfigurations":[{"name":"ic1","properties":{"subnet":{"id":"%[1]s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%[2]s"}}},
		{"name":"ic2","properties":{"subnet":{"id":"%[1]s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%[3]s"}}}]}}`,
		res("rg1", "virtualNetworks", "vnet1"), res("rg1", "publicIPAddresses", "gw1-ip"), res("rg1", "publicIPAddresses", "gw1-ip2")))
	learned := netip.MustParsePrefix("10.60.0.0/24")
	report := func(i int, learns bool) {
		t.Helper()
		g := h.desired().Gateways[0]
		if !g.Instances[i].Active {
			t.Fatalf("instance %d is not active: %+v", i, g.Instances[i])
		}
		var a *fakeAgent
		waitFor(t, 5*time.Second, func() bool { a = h.agent(g.Instances[i].ID); return a != nil }, "no agent")
		st := &agentapi.BGPStatus{ASN: 65001}
		if learns {
			st.LearnedRoutes = []agentapi.GatewayRoute{{Network: learned.String(), NextHop: "10.50.255.1", SourcePeer: "10.50.255.1", Origin: "EBgp", ASPath: "65010"}}
		}
		a.mu.Lock()
		a.bgp = st
		a.mu.Unlock()
	}
	via := func(want int) {
		t.Helper()
		waitFor(t, 5*time.Second, func() bool {
			g := h.desired().Gateways[0]
			i, ok := g.LearnedVia[learned]
			return ok && i == want && slices.Contains(g.Routes, learned)
		}, fmt.Sprintf("%v is not routed via instance %d: %+v", learned, want, h.desired().Gateways[0].LearnedVia))
	}
	report(0, true)
	report(1, true)
	via(0)
	report(0, false) // instance 0's session is down
	via(1)
	report(0, true)
	via(0)
	report(0, false)
	report(1, false)
	waitFor(t, 5*time.Second, func() bool {
		g := h.desired().Gateways[0]
		return !slices.Contains(g.Routes, learned) && len(g.LearnedVia) == 0
	}, "the prefix is still routed after both instances lost it")
}
