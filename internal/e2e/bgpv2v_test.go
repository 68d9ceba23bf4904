package e2e_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/tstest/bgptest"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// TestBGPVNetToVNet: VNet-to-VNet with BGP through vpngw serve and the lab.
// VNetA (10.1.0.0/16) has a BGP gateway with Azure's default ASN 65515,
// VNetB (10.2.0.0/16) one with ASN 65020; the pair of Vnet2Vnet
// connections has enableBgp. The instances' speakers peer through the
// tunnel (A's 10.1.255.30 with B's 10.2.255.30): list-bgp-peer-status
// shows the session Connected on both gateways, A learned B's VNet prefix
// over eBGP (AS path 65020) and the VMs ping each other. Transit: a site
// behind B (strongSwan + FRR, ASN 65010) advertises 10.60.0.0/24, which
// exists only in BGP; A learns it from B (AS path 65020-65010) and A's VM
// reaches a host in it through both gateways.
func TestBGPVNetToVNet(t *testing.T) {
	bgptest.RequireFRR(t)
	c := newCloud(t)
	sku := []string{"--sku", "VpnGw2", "--vpn-gateway-generation", "Generation2"}
	c.gateway("RG-A", sub1, "VNetA", "10.1.0.0/16", append(sku, "--asn", "65515")...)
	gwBIP := c.gateway("RG-B", sub2, "VNetB", "10.2.0.0/16", append(sku, "--asn", "65020")...)
	vmA := c.vm(sub1, "RG-A", "VNetA", "vma")
	vmB := c.vm(sub2, "RG-B", "VNetB", "vmb")
	gwA := "/subscriptions/" + sub1 + "/resourceGroups/RG-A/providers/Microsoft.Network/virtualNetworkGateways/VNetA-gw"
	gwB := "/subscriptions/" + sub2 + "/resourceGroups/RG-B/providers/Microsoft.Network/virtualNetworkGateways/VNetB-gw"

	// The site behind B, with a prefix only BGP knows; its selectors
	// include VNetA, reached through B (transit).
	s, _, bgpOnly := bgpSite(t, c, gwBIP, []string{"10.2.0.0/16", "10.1.0.0/16"}, "10.2.255.30", 65020)
	c.cli("network", "local-gateway", "create", "-g", "RG-B", "-n", s.name, "--gateway-ip-address", s.publicIP.String(),
		"--local-address-prefixes", s.prefix.String(), "--asn", "65010", "--bgp-peering-address", "10.50.255.1", "--subscription", sub2, "-o", "none")
	c.cli("network", "vpn-connection", "create", "-g", "RG-B", "-n", "to-onprem", "--vnet-gateway1", "VNetB-gw",
		"--local-gateway2", s.name, "--shared-key", "bgpKey42", "--enable-bgp", "--subscription", sub2, "-o", "none")

	start := time.Now()
	c.cli("network", "vpn-connection", "create", "-g", "RG-A", "-n", "A-to-B", "--vnet-gateway1", gwA, "--vnet-gateway2", gwB,
		"--shared-key", "v2vBgp42", "--enable-bgp", "--subscription", sub1, "-o", "none")
	c.cli("network", "vpn-connection", "create", "-g", "RG-B", "-n", "B-to-A", "--vnet-gateway1", gwB, "--vnet-gateway2", gwA,
		"--shared-key", "v2vBgp42", "--enable-bgp", "--subscription", sub2, "-o", "none")
	c.waitConnected(sub1, "RG-A", "A-to-B", 30*time.Second)
	c.waitConnected(sub2, "RG-B", "B-to-A", 30*time.Second)

	peerStatus := func(sub, group, gw string) []map[string]any {
		var peers struct {
			Value []map[string]any `json:"value"`
		}
		out := c.cli("network", "vnet-gateway", "list-bgp-peer-status", "-g", group, "-n", gw, "--subscription", sub)
		if err := json.Unmarshal([]byte(out), &peers); err != nil {
			t.Fatalf("list-bgp-peer-status %s: %v: %s", gw, err, out)
		}
		return peers.Value
	}
	connected := func(peers []map[string]any, neighbor string, asn float64) bool {
		for _, p := range peers {
			if p["neighbor"] == neighbor && p["asn"] == asn && p["state"] == "Connected" {
				return true
			}
		}
		return false
	}
	nstest.WaitFor(t, 20*time.Second, func() bool {
		return connected(peerStatus(sub1, "RG-A", "VNetA-gw"), "10.2.255.30", 65020) &&
			connected(peerStatus(sub2, "RG-B", "VNetB-gw"), "10.1.255.30", 65515)
	}, "BGP sessions between the gateways not Connected: A %v, B %v",
		peerStatus(sub1, "RG-A", "VNetA-gw"), peerStatus(sub2, "RG-B", "VNetB-gw"))
	t.Logf("Vnet2Vnet create → both BGP sessions Connected in %v", time.Since(start).Round(time.Millisecond))

	// A learned B's VNet prefix from B over eBGP.
	var learned struct {
		Value []map[string]any `json:"value"`
	}
	learnedVia := func(network, asPath string) bool {
		out := c.cli("network", "vnet-gateway", "list-learned-routes", "-g", "RG-A", "-n", "VNetA-gw", "--subscription", sub1)
		if err := json.Unmarshal([]byte(out), &learned); err != nil {
			t.Fatalf("list-learned-routes: %v: %s", err, out)
		}
		for _, r := range learned.Value {
			if r["network"] == network && r["origin"] == "EBgp" && r["asPath"] == asPath && r["sourcePeer"] == "10.2.255.30" {
				return true
			}
		}
		return false
	}
	nstest.WaitFor(t, 20*time.Second, func() bool { return learnedVia("10.2.0.0/16", "65020") },
		"A did not learn 10.2.0.0/16 from B (AS path 65020): %v", learned.Value)

	if loss := pingLoss(t, c.vmNS(sub1, "RG-A", "vma"), vmB, 3, "0.2"); loss != 0 {
		t.Errorf("vma → vmb: %d%% loss", loss)
	}
	if loss := pingLoss(t, c.vmNS(sub2, "RG-B", "vmb"), vmA, 3, "0.2"); loss != 0 {
		t.Errorf("vmb → vma: %d%% loss", loss)
	}

	// Transit: the site's BGP-only prefix reaches A through B.
	c.waitConnected(sub2, "RG-B", "to-onprem", 30*time.Second)
	nstest.WaitFor(t, 30*time.Second, func() bool { return learnedVia("10.60.0.0/24", "65020-65010") },
		"A did not learn the site's 10.60.0.0/24 through B (AS path 65020-65010): %v", learned.Value)
	vmANS := c.vmNS(sub1, "RG-A", "vma")
	nstest.WaitFor(t, 20*time.Second, func() bool {
		_, err := vmANS.Run("ping", "-c", "1", "-W", "1", "-q", bgpOnly.String())
		return err == nil
	}, "vma cannot reach %s (behind B, known only over BGP)", bgpOnly)
	t.Logf("Vnet2Vnet create → vma reaches the site's BGP-only prefix through B in %v", time.Since(start).Round(time.Millisecond))
}
