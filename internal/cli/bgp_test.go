package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vpngw/vpngw/internal/agentapi"
)

// TestBGPListings: list-bgp-peer-status, list-learned-routes and
// list-advertised-routes POST the gateway's BGP actions (with ?peer=) and
// print az's result object, or its entries as a table with az's columns.
func TestBGPListings(t *testing.T) {
	a := newTestAPI(t)
	seed(t, a)
	seedGateway(t, a, "gw1", "vnet1", "pip1", 1)
	mustRun(t, a, "network", "vnet-gateway", "update", "-g", "rg1", "-n", "gw1", "--enable-bgp", "true", "--asn", "65001", "-o", "none")
	gw := netPath + "/virtualNetworkGateways/gw1"
	route := agentapi.GatewayRoute{LocalAddress: "10.1.255.30", Network: "10.50.0.0/24", NextHop: "10.50.255.1", SourcePeer: "10.50.255.1", Origin: "EBgp", ASPath: "65010"}
	a.prov.SetBGP(gw, []agentapi.BGPStatus{{ASN: 65001, LocalAddress: "10.1.255.30",
		Peers: []agentapi.BGPPeerStatus{{LocalAddress: "10.1.255.30", Neighbor: "10.50.255.1", ASN: 65010, State: "Connected",
			ConnectedDuration: "00:01:02.0000000", RoutesReceived: 1, MessagesSent: 5, MessagesReceived: 6}},
		LearnedRoutes:    []agentapi.GatewayRoute{route},
		AdvertisedRoutes: map[string][]agentapi.GatewayRoute{"10.50.255.1": {route}}}})
	a.reqs()

	out := mustRun(t, a, "network", "vnet-gateway", "list-bgp-peer-status", "-g", "rg1", "-n", "gw1", "-o", "table")
	find(t, a.reqs(), "POST", gw+"/getBgpPeerStatus")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "Neighbor") || !strings.Contains(lines[0], "ConnectedDuration") ||
		!strings.Contains(lines[2], "10.50.255.1") || !strings.Contains(lines[2], "Connected") {
		t.Fatalf("peer table:\n%s", out)
	}
	out = mustRun(t, a, "network", "vnet-gateway", "list-learned-routes", "-g", "rg1", "-n", "gw1")
	var res struct {
		Value []map[string]any `json:"value"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Value) != 1 || res.Value[0]["asPath"] != "65010" {
		t.Fatalf("learned routes: %v\n%s", err, out)
	}
	out = mustRun(t, a, "network", "vnet-gateway", "list-advertised-routes", "-g", "rg1", "-n", "gw1", "--peer", "10.50.255.1", "-o", "table")
	post := find(t, a.reqs(), "POST", gw+"/getAdvertisedRoutes")
	if !strings.Contains(post.Query, "peer=10.50.255.1") || !strings.Contains(out, "10.50.0.0/24") || !strings.Contains(out, "AsPath") {
		t.Fatalf("advertised routes (query %q):\n%s", post.Query, out)
	}
	if code, _, errOut := run(t, a, "network", "vnet-gateway", "list-advertised-routes", "-g", "rg1", "-n", "gw1"); code == 0 || !strings.Contains(errOut, "peer") {
		t.Fatalf("without --peer: exit %d %s", code, errOut)
	}
}
