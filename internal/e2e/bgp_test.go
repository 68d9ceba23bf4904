package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/tstest/bgptest"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

// TestBGPSiteToSite: BGP through vpngw serve and the lab. A BGP gateway
// (ASN 65515, peering address 10.1.255.30, the last GatewaySubnet address)
// and a site whose device runs strongSwan and FRR (ASN 65010, BGP address
// 10.50.255.1 on its loopback). The local network gateway lists only
// 10.50.0.0/16; FRR also advertises 10.60.0.0/24, which exists only in
// BGP. The VM reaches 10.60.0.10 through the gateway (the VNet learned the
// route), the CLI lists the peer Connected and the learned route, and FRR
// learned the VNet's prefix.
func TestBGPSiteToSite(t *testing.T) {
	bgptest.RequireFRR(t)
	c := newCloud(t)
	gwIP := c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16", "--sku", "VpnGw2", "--vpn-gateway-generation", "Generation2", "--asn", "65515")
	vm := c.vm(sub1, "RG1", "VNet1", "vm1")
	s, frr, bgpOnly := bgpSite(t, c, gwIP, []string{"10.1.0.0/16"}, "10.1.255.30", 65515)
	start := c.connectBGPSite(s)
	vmNS := c.vmNS(sub1, "RG1", "vm1")
	nstest.WaitFor(t, 30*time.Second, func() bool {
		_, err := vmNS.Run("ping", "-c", "1", "-W", "1", "-q", bgpOnly.String())
		return err == nil
	}, "the VM cannot reach %s (learned over BGP only)", bgpOnly)
	t.Logf("connection create → VM reaches the BGP-learned prefix in %v", time.Since(start).Round(time.Millisecond))
	if loss := pingLoss(t, s.hostNS, vm, 3, "0.2"); loss != 0 {
		t.Errorf("site host → VM: %d%% loss", loss)
	}

	var peers struct {
		Value []map[string]any `json:"value"`
	}
	if err := json.Unmarshal([]byte(c.cli("network", "vnet-gateway", "list-bgp-peer-status", "-g", "RG1", "-n", "VNet1-gw")), &peers); err != nil ||
		len(peers.Value) != 1 || peers.Value[0]["neighbor"] != "10.50.255.1" || peers.Value[0]["state"] != "Connected" || peers.Value[0]["localAddress"] != "10.1.255.30" {
		t.Fatalf("list-bgp-peer-status: %v %v", err, peers.Value)
	}
	learned := c.cli("network", "vnet-gateway", "list-learned-routes", "-g", "RG1", "-n", "VNet1-gw", "-o", "table")
	if !strings.Contains(learned, "10.60.0.0/24") || !strings.Contains(learned, "EBgp") {
		t.Fatalf("list-learned-routes:\n%s", learned)
	}
	adv := c.cli("network", "vnet-gateway", "list-advertised-routes", "-g", "RG1", "-n", "VNet1-gw", "--peer", "10.50.255.1", "-o", "table")
	if !strings.Contains(adv, "10.1.0.0/16") {
		t.Fatalf("list-advertised-routes:\n%s", adv)
	}
	rs, err := frr.Routes()
	if err != nil || len(rs["10.1.0.0/16"]) == 0 || rs["10.1.0.0/16"][0].Path != "65515" {
		t.Fatalf("FRR did not learn the VNet's prefix: %v %v", err, rs)
	}

	// Withdrawn: the VM loses the route.
	frr.Configure(t, "router bgp 65010", "address-family ipv4 unicast", "no network 10.60.0.0/24")
	nstest.WaitFor(t, 15*time.Second, func() bool {
		_, err := vmNS.Run("ping", "-c", "1", "-W", "1", "-q", bgpOnly.String())
		return err != nil
	}, "the VM still reaches %s after FRR withdrew it", bgpOnly)
}

// connectBGPSite creates the local network gateway of s (the site of
// bgpSite: ASN 65010, BGP address 10.50.255.1) and connection "to-onprem"
// with --enable-bgp from RG1's VNet1-gw, waits until it is Connected and
// returns when the connection create began.
func (c *cloud) connectBGPSite(s *labSite) time.Time {
	c.t.Helper()
	c.cli("network", "local-gateway", "create", "-g", "RG1", "-n", s.name, "--gateway-ip-address", s.publicIP.String(),
		"--local-address-prefixes", s.prefix.String(), "--asn", "65010", "--bgp-peering-address", "10.50.255.1", "-o", "none")
	start := time.Now()
	c.cli("network", "vpn-connection", "create", "-g", "RG1", "-n", "to-onprem", "--vnet-gateway1", "VNet1-gw",
		"--local-gateway2", s.name, "--shared-key", "bgpKey42", "--enable-bgp", "-o", "none")
	c.waitConnected(sub1, "RG1", "to-onprem", 30*time.Second)
	return start
}

// bgpSite starts lab site "onprem" (192.0.2.10, 10.50.0.0/16) whose device
// runs strongSwan toward gwIP (remote selectors remoteTS, shared key
// bgpKey42) and FRR (ASN 65010, BGP address 10.50.255.1 on its loopback)
// peering with the gateway's gwBGP/gwASN. FRR advertises 10.60.0.0/24,
// which exists only in BGP; the returned address in it is on the site's
// host.
func bgpSite(t *testing.T, c *cloud, gwIP string, remoteTS []string, gwBGP string, gwASN int) (*labSite, *bgptest.FRR, netip.Addr) {
	t.Helper()
	s, bgpOnly := bgpSiteTunnel(t, c, gwIP, remoteTS)
	frr := bgptest.StartFRR(t, s.device, fmt.Sprintf(`hostname onprem
router bgp 65010
 bgp router-id 10.50.255.1
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor %[1]s remote-as %[2]d
 neighbor %[1]s update-source 10.50.255.1
 neighbor %[1]s ebgp-multihop 2
 neighbor %[1]s timers connect 1
 address-family ipv4 unicast
  network 10.60.0.0/24
 exit-address-family
`, gwBGP, gwASN))
	return s, frr, bgpOnly
}

// bgpSiteTunnel starts the site of bgpSite without its router: the
// device's BGP address 10.50.255.1 on its loopback, the host's address
// 10.60.0.10 (returned), which only BGP will announce, and strongSwan with
// local selectors 10.50.0.0/16 and 10.60.0.0/16.
func bgpSiteTunnel(t *testing.T, c *cloud, gwIP string, remoteTS []string) (*labSite, netip.Addr) {
	t.Helper()
	s := c.site("onprem", "192.0.2.10", "10.50.0.0/16")
	bgpOnly := netip.MustParseAddr("10.60.0.10")
	dev := ""
	for _, l := range strings.Split(s.hostNS.MustRun(t, "ip", "-o", "-4", "addr", "show"), "\n") {
		if f := strings.Fields(l); len(f) > 3 && strings.HasPrefix(f[3], s.host.String()+"/") {
			dev = f[1]
		}
	}
	s.hostNS.MustRun(t, "ip", "addr", "add", bgpOnly.String()+"/32", "dev", dev)
	s.device.MustRun(t, "ip", "route", "add", bgpOnly.String()+"/32", "via", s.host.String())
	s.device.MustRun(t, "ip", "addr", "add", "10.50.255.1/32", "dev", "lo")
	s.device.MustRun(t, "ip", "addr", "add", "10.60.0.1/32", "dev", "lo") // libipsec wants a local address in each local selector
	s.strongswan(t, gwIP, remoteTS[0], "bgpKey42", func(cn *swantest.Conn) {
		cn.LocalTS = []string{"10.50.0.0/16", "10.60.0.0/16"}
		cn.RemoteTS = remoteTS
	})
	return s, bgpOnly
}
