package reconcile_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/reconcile"
)

// TestBGPLearnedDefaultRouteBecomesTheVNetDefault: a 0.0.0.0/0 the active
// instance learned becomes a VNet route through it (Azure: it steers the
// VNet's egress); a learned supernet of the VNet and a prefix inside it do
// not; when the report drops the default route, the VNet route goes.
func TestBGPLearnedDefaultRouteBecomesTheVNetDefault(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	h.put(res("rg1", "virtualNetworkGateways", "gw1"), fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw2"},"vpnGatewayGeneration":"Generation2",
		"enableBgp":true,"bgpSettings":{"asn":65001},
		"ipConfigurations":[{"name":"ic1","properties":{"subnet":{"id":"%s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%s"}}}]}}`,
		res("rg1", "virtualNetworks", "vnet1"), res("rg1", "publicIPAddresses", "gw1-ip")))
	def := netip.MustParsePrefix("0.0.0.0/0")
	report := func(routes ...string) {
		t.Helper()
		g := h.desired().Gateways[0]
		var a *fakeAgent
		waitFor(t, 5*time.Second, func() bool { a = h.agent(g.Instances[0].ID); return a != nil }, "no agent")
		st := &agentapi.BGPStatus{ASN: 65001}
		for _, r := range routes {
			st.LearnedRoutes = append(st.LearnedRoutes, agentapi.GatewayRoute{Network: r, NextHop: "10.50.255.1", SourcePeer: "10.50.255.1", Origin: "EBgp", ASPath: "65010"})
		}
		a.mu.Lock()
		a.bgp = st
		a.mu.Unlock()
	}
	report("0.0.0.0/0", "10.0.0.0/8", "10.1.5.0/24", "10.60.0.0/24")
	waitFor(t, 5*time.Second, func() bool {
		g := h.desired().Gateways[0]
		return slices.Contains(g.Routes, def) && slices.Contains(g.Routes, netip.MustParsePrefix("10.60.0.0/24"))
	}, "the learned default route is not a VNet route")
	for _, p := range h.desired().Gateways[0].Routes {
		if p.Overlaps(netip.MustParsePrefix("10.1.0.0/16")) && p.Bits() > 0 {
			t.Errorf("VNet route %v overlaps the VNet", p)
		}
	}
	report("10.60.0.0/24")
	waitFor(t, 5*time.Second, func() bool { return !slices.Contains(h.desired().Gateways[0].Routes, def) },
		"the default route stayed after the report dropped it")
}
