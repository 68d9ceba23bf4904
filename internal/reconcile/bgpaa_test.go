package reconcile_test

import (
	"fmt"
	"testing"

	"github.com/vpngw/vpngw/internal/reconcile"
)

// The gateway's vpngw BGP extensions (bgpSettings.fastTimers and
// gracefulRestart) reach both instances' speakers; without them the
// speakers use Azure's timers and no graceful restart.
func TestBGPExtensionsReachTheAgent(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	gw := res("rg1", "virtualNetworkGateways", "gw1")
	put := func(ext string) {
		h.put(gw, fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw2"},"vpnGatewayGeneration":"Generation2",
		"enableBgp":true,"bgpSettings":{"asn":65001%s},
		"ipConfigurations":[{"name":"default","properties":{"subnet":{"id":"%s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%s"}}}]}}`,
			ext, res("rg1", "virtualNetworks", "vnet1"), res("rg1", "publicIPAddresses", "gw1-ip")))
	}
	for _, tc := range []struct {
		ext      string
		fast, gr bool
	}{
		{ext: `,"fastTimers":true,"gracefulRestart":true`, fast: true, gr: true},
		{ext: `,"fastTimers":true`, fast: true},
		{ext: ""},
	} {
		put(tc.ext)
		for i, inst := range h.desired().Gateways[0].Instances {
			in, err := inst.Assignment.Config.Check()
			if err != nil {
				t.Fatalf("%s: instance %d: %v", tc.ext, i, err)
			}
			if in.BGP == nil || in.BGP.Fast != tc.fast || in.BGP.GracefulRestart != tc.gr {
				t.Fatalf("%s: instance %d: BGP %+v, want fast %v, graceful restart %v", tc.ext, i, in.BGP, tc.fast, tc.gr)
			}
		}
	}
}
