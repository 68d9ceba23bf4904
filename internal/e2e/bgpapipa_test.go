package e2e_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/tstest/bgptest"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// TestBGPPerConnectionAPIPA: a connection's gatewayCustomBgpIpAddresses
// through vpngw serve and the lab. The gateway's ipConfiguration has the
// custom APIPA addresses 169.254.21.2 (its bgpPeeringAddress) and
// 169.254.21.6; the connection to the site (strongSwan + FRR, BGP address
// 10.50.255.1) chooses 169.254.21.6 through the ARM API. FRR peers with
// 169.254.21.6 and, as Azure requires with APIPA, opens the session: the
// gateway only listens. list-bgp-peer-status shows the session Connected
// from 169.254.21.6 and the VM reaches the site's BGP-only prefix.
func TestBGPPerConnectionAPIPA(t *testing.T) {
	bgptest.RequireFRR(t)
	c := newCloud(t)
	ctx := context.Background()
	gwIP := c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16", "--sku", "VpnGw2", "--vpn-gateway-generation", "Generation2", "--asn", "65515")
	gwPath := "/subscriptions/" + sub1 + "/resourceGroups/RG1/providers/Microsoft.Network/virtualNetworkGateways/VNet1-gw"
	connPath := "/subscriptions/" + sub1 + "/resourceGroups/RG1/providers/Microsoft.Network/connections/to-onprem"

	// update GETs path, lets change edit its properties, PUTs it and waits
	// for provisioningState Succeeded.
	update := func(path string, change func(props map[string]any)) {
		t.Helper()
		code, body, _, err := c.do(ctx, "GET", path, "")
		if err != nil || code != 200 {
			t.Fatalf("GET %s: %v %d %s", path, err, code, body)
		}
		var obj map[string]any
		if err := json.Unmarshal(body, &obj); err != nil {
			t.Fatal(err)
		}
		change(obj["properties"].(map[string]any))
		b, _ := json.Marshal(obj)
		if code, body, _, err = c.do(ctx, "PUT", path, string(b)); err != nil || (code != 200 && code != 201) {
			t.Fatalf("PUT %s: %v %d %s", path, err, code, body)
		}
		nstest.WaitFor(t, 60*time.Second, func() bool {
			_, body, _, err := c.do(ctx, "GET", path, "")
			var o struct {
				Properties struct {
					ProvisioningState string `json:"provisioningState"`
				} `json:"properties"`
			}
			return err == nil && json.Unmarshal(body, &o) == nil && o.Properties.ProvisioningState == "Succeeded"
		}, "%s not Succeeded after the PUT", path)
	}
	var ipConfigID string
	update(gwPath, func(p map[string]any) {
		ipConfigID = p["ipConfigurations"].([]any)[0].(map[string]any)["id"].(string)
		p["bgpSettings"] = map[string]any{"asn": 65515, "bgpPeeringAddresses": []any{
			map[string]any{"ipconfigurationId": ipConfigID, "customBgpIpAddresses": []string{"169.254.21.2", "169.254.21.6"}}}}
	})
	c.vm(sub1, "RG1", "VNet1", "vm1")
	s, frr, bgpOnly := bgpSite(t, c, gwIP, []string{"10.1.0.0/16", "169.254.21.6/32"}, "169.254.21.6", 65515)
	c.cli("network", "local-gateway", "create", "-g", "RG1", "-n", s.name, "--gateway-ip-address", s.publicIP.String(),
		"--local-address-prefixes", s.prefix.String(), "--asn", "65010", "--bgp-peering-address", "10.50.255.1", "-o", "none")
	c.cli("network", "vpn-connection", "create", "-g", "RG1", "-n", "to-onprem", "--vnet-gateway1", "VNet1-gw",
		"--local-gateway2", s.name, "--shared-key", "bgpKey42", "--enable-bgp", "-o", "none")
	c.waitConnected(sub1, "RG1", "to-onprem", 30*time.Second)
	start := time.Now()
	update(connPath, func(p map[string]any) {
		p["gatewayCustomBgpIpAddresses"] = []any{map[string]any{"ipConfigurationId": ipConfigID, "customBgpIpAddress": "169.254.21.6"}}
	})
	peerOK := func() (bool, []map[string]any) {
		var peers struct {
			Value []map[string]any `json:"value"`
		}
		out := c.cli("network", "vnet-gateway", "list-bgp-peer-status", "-g", "RG1", "-n", "VNet1-gw")
		if err := json.Unmarshal([]byte(out), &peers); err != nil {
			t.Fatalf("list-bgp-peer-status: %v: %s", err, out)
		}
		for _, p := range peers.Value {
			if p["neighbor"] == "10.50.255.1" && p["localAddress"] == "169.254.21.6" && p["state"] == "Connected" {
				return true, peers.Value
			}
		}
		return false, peers.Value
	}
	nstest.WaitFor(t, 30*time.Second, func() bool { ok, _ := peerOK(); return ok },
		"no session with 10.50.255.1 Connected from 169.254.21.6: %v", func() any { _, v := peerOK(); return v }())
	t.Logf("gatewayCustomBgpIpAddresses PUT → session Connected from 169.254.21.6 in %v", time.Since(start).Round(time.Millisecond))
	n, err := frr.Neighbor("169.254.21.6")
	if err != nil || n.State != "Established" || n.PortForeign != 179 || n.HostLocal != "10.50.255.1" {
		t.Fatalf("FRR's session must be Established, opened by FRR from 10.50.255.1 to 169.254.21.6 port 179: %+v %v", n, err)
	}
	vmNS := c.vmNS(sub1, "RG1", "vm1")
	reachable(t, vmNS, bgpOnly, 30*time.Second)
	// The property reads back as written.
	var conn struct {
		Properties struct {
			GatewayCustomBgpIPAddresses []struct {
				IPConfigurationID  string `json:"ipConfigurationId"`
				CustomBgpIPAddress string `json:"customBgpIpAddress"`
			} `json:"gatewayCustomBgpIpAddresses"`
		} `json:"properties"`
	}
	_, body, _, err := c.do(ctx, "GET", connPath, "")
	if err != nil || json.Unmarshal(body, &conn) != nil || len(conn.Properties.GatewayCustomBgpIPAddresses) != 1 ||
		conn.Properties.GatewayCustomBgpIPAddresses[0].CustomBgpIPAddress != "169.254.21.6" {
		t.Fatalf("GET connection: %v %s", err, body)
	}
}
