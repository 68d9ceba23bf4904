package e2e_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/tstest/bgptest"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// birdSiteConf is the site device's bird.conf: BGP from its loopback
// address 10.50.255.1 (ASN 65010) to the gateway 10.1.255.30 (ASN 65515)
// through the tunnel, announcing the static 10.60.0.0/24 (protocol "st",
// which exists only in BGP: BIRD has no kernel protocol, it installs
// nothing). Protocol "via_tunnel" gives BIRD the way to the gateway (the tunnel
// device strongSwan's kernel-libipsec made), so that what the gateway
// announces with next hop 10.1.255.30 resolves; it is not exported.
const birdSiteConf = `router id 10.50.255.1;
protocol device {}
protocol static st {
 ipv4;
 route 10.60.0.0/24 blackhole;
}
protocol static via_tunnel {
 ipv4;
 route 10.1.0.0/16 via "ipsec0";
}
protocol bgp azure {
 local 10.50.255.1 as 65010;
 neighbor 10.1.255.30 as 65515;
 multihop 2;
 connect retry time 1;
 ipv4 { import all; export where proto = "st"; };
}
`

// learnedRoutes returns list-learned-routes' value for the gateway.
func (c *cloud) learnedRoutes(gw string) []agentapi.GatewayRoute {
	c.t.Helper()
	var res struct {
		Value []agentapi.GatewayRoute `json:"value"`
	}
	out := c.cli("network", "vnet-gateway", "list-learned-routes", "-g", "RG1", "-n", gw, "-o", "json")
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		c.t.Fatalf("list-learned-routes: %v\n%s", err, out)
	}
	return res.Value
}

// learnedFromBIRD: whether routes has 10.60.0.0/24 from the site's BIRD.
func learnedFromBIRD(routes []agentapi.GatewayRoute) bool {
	for _, r := range routes {
		if r.Network == "10.60.0.0/24" && r.SourcePeer == "10.50.255.1" && r.ASPath == "65010" && r.Origin == "EBgp" {
			return true
		}
	}
	return false
}

// TestBGPSiteToSiteBIRD: TestBGPSiteToSite with BIRD 2 as the on-premises
// router behind strongSwan. The session is Established in BIRD and
// Connected at the gateway, BIRD learns the VNet's prefix with AS path
// 65515, the gateway learns BIRD's 10.60.0.0/24 (list-learned-routes), the
// VM pings a host in it (the route exists only in BGP), and when BIRD
// withdraws it (`disable st`) the gateway forgets it and the VM's pings
// fail; `enable st` brings both back.
func TestBGPSiteToSiteBIRD(t *testing.T) {
	bgptest.RequireBIRD(t)
	c := newCloud(t)
	gwIP := c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16", "--sku", "VpnGw2", "--vpn-gateway-generation", "Generation2", "--asn", "65515")
	vm := c.vm(sub1, "RG1", "VNet1", "vm1")
	s, bgpOnly := bgpSiteTunnel(t, c, gwIP, []string{"10.1.0.0/16"})
	bird := bgptest.StartBIRD(t, s.device, birdSiteConf)
	start := c.connectBGPSite(s)
	vmNS := c.vmNS(sub1, "RG1", "vm1")
	reaches := func() bool {
		_, err := vmNS.Run("ping", "-c", "1", "-W", "1", "-q", bgpOnly.String())
		return err == nil
	}
	nstest.WaitFor(t, 30*time.Second, reaches, "the VM cannot reach %s (learned from BIRD over BGP only)", bgpOnly)
	t.Logf("connection create → VM reaches the prefix learned from BIRD in %v", time.Since(start).Round(time.Millisecond))
	if loss := pingLoss(t, s.hostNS, vm, 3, "0.2"); loss != 0 {
		t.Errorf("site host → VM: %d%% loss", loss)
	}

	// Both sides see the session up.
	if out, err := bird.Cmd("show", "protocols", "azure"); err != nil || !strings.Contains(out, "Established") {
		t.Fatalf("BIRD's session: %v\n%s", err, out)
	}
	var peers struct {
		Value []map[string]any `json:"value"`
	}
	if err := json.Unmarshal([]byte(c.cli("network", "vnet-gateway", "list-bgp-peer-status", "-g", "RG1", "-n", "VNet1-gw")), &peers); err != nil ||
		len(peers.Value) != 1 || peers.Value[0]["neighbor"] != "10.50.255.1" || peers.Value[0]["state"] != "Connected" {
		t.Fatalf("list-bgp-peer-status: %v %v", err, peers.Value)
	}
	// Both sides' learned routes.
	if rs := c.learnedRoutes("VNet1-gw"); !learnedFromBIRD(rs) {
		t.Fatalf("list-learned-routes lacks 10.60.0.0/24 from BIRD (AS path 65010): %+v", rs)
	}
	out, err := bird.Cmd("show", "route", "all", "10.1.0.0/16")
	if err != nil || !strings.Contains(out, "BGP.as_path: 65515") || !strings.Contains(out, "unicast") {
		t.Fatalf("BIRD did not learn the VNet's prefix (reachable, AS path 65515): %v\n%s", err, out)
	}

	// Withdrawn in BIRD: gone at the gateway, the VM loses the route.
	withdrawn := time.Now()
	if _, err := bird.Cmd("disable", "st"); err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, 15*time.Second, func() bool { return !learnedFromBIRD(c.learnedRoutes("VNet1-gw")) },
		"the gateway still lists 10.60.0.0/24 after BIRD withdrew it")
	nstest.WaitFor(t, 15*time.Second, func() bool { return !reaches() }, "the VM still reaches %s after BIRD withdrew it", bgpOnly)
	t.Logf("BIRD withdraws → the VM's ping fails in %v", time.Since(withdrawn).Round(time.Millisecond))
	if out, err := bird.Cmd("show", "protocols", "azure"); err != nil || !strings.Contains(out, "Established") {
		t.Errorf("the withdrawal took BIRD's session down: %v\n%s", err, out)
	}

	// Announced again: back.
	if _, err := bird.Cmd("enable", "st"); err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, 15*time.Second, reaches, "the VM does not reach %s after BIRD announced it again", bgpOnly)
	if rs := c.learnedRoutes("VNet1-gw"); !learnedFromBIRD(rs) {
		t.Errorf("list-learned-routes lacks 10.60.0.0/24 after the re-announcement: %+v", rs)
	}
}
