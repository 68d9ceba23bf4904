package e2e_test

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

// TestPointToSiteLocalUsers: EAP-MSCHAPv2 users the gateway checks itself
// (vpnClientLocalUsers, a vpngw extension), through the real path. Two
// users are created with `vnet-gateway local-user create`; no show prints
// their passwords; `vpn-client show-url` names the EAPMSCHAPv2 package
// `vpn-client generate` built; that profile, with a user's name and
// password in its placeholders, connects a real strongSwan client
// (eap-mschapv2) on a lab client, which reaches a VM and appears in the
// health. After `local-user delete` the deleted user's session ends and
// he is refused; the other user's session survives that and a user's
// creation (the change applies in place).
func TestPointToSiteLocalUsers(t *testing.T) {
	c := newCloud(t)
	c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16")
	vm := c.vm(sub1, "RG1", "VNet1", "vm1")
	const pool = "172.16.230.0/24"
	c.cli("network", "vnet-gateway", "update", "-g", "RG1", "-n", "VNet1-gw", "--address-prefixes", pool, "--client-protocol", "IkeV2", "-o", "none")
	users := map[string]string{"dave": "Dave-Secret-42", "erin": "Erin-Secret-43"}
	for _, n := range []string{"dave", "erin"} {
		c.cli("network", "vnet-gateway", "local-user", "create", "-g", "RG1", "--gateway-name", "VNet1-gw", "-n", n, "--password", users[n], "-o", "none")
	}
	if out := c.cli("network", "vnet-gateway", "show", "-g", "RG1", "-n", "VNet1-gw", "-o", "json"); !strings.Contains(out, `"erin"`) ||
		strings.Contains(out, users["dave"]) || strings.Contains(out, users["erin"]) {
		t.Fatalf("the gateway's users (names only expected): %s", out)
	}
	files := c.generateProfile("VNet1-gw", "EAPMSCHAPv2")
	if u := strings.TrimSpace(c.cli("network", "vnet-gateway", "vpn-client", "show-url", "-g", "RG1", "-n", "VNet1-gw", "-o", "tsv")); !strings.HasPrefix(u, c.url+"/vpnclientpackages/") {
		t.Fatalf("vpn-client show-url printed %q", u)
	}
	client := func(name, publicIP string) *p2sClient {
		ns := c.labClient(name, publicIP)
		dir := strongSwanDir(t, files, strings.NewReplacer("USERNAME", strings.TrimSuffix(name, "-laptop"), "PASSWORD", users[strings.TrimSuffix(name, "-laptop")]))
		return &p2sClient{ns: ns, conn: "VNet1-gw", swan: swantest.StartFile(t, ns, filepath.Join(dir, "swanctl.conf"))}
	}
	dave := client("dave-laptop", "192.0.2.71")
	if err := connectWithin(dave, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dave.swan.Log(), "EAP method EAP_MSCHAPV2 succeeded") {
		t.Fatal("the client's charon log does not show EAP-MSCHAPv2")
	}
	reachable(t, dave.ns, vm, 10*time.Second)
	var h []resource.VpnClientConnectionHealthDetail
	nstest.WaitFor(t, 5*time.Second, func() bool {
		h = c.health("VNet1-gw")
		return len(h) == 1 && h[0].VpnUserName == "dave" && netip.MustParsePrefix(pool).Contains(netip.MustParseAddr(h[0].PrivateIPAddress))
	}, "health: %+v", h)

	erin := client("erin-laptop", "192.0.2.72")
	if err := connectWithin(erin, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	reachable(t, erin.ns, vm, 10*time.Second)
	erinIP := func() string {
		for _, d := range c.health("VNet1-gw") {
			if d.VpnUserName == "erin" {
				return d.PrivateIPAddress
			}
		}
		return ""
	}
	var ip0 string
	nstest.WaitFor(t, 5*time.Second, func() bool { ip0 = erinIP(); return ip0 != "" }, "erin not in the health list")

	// Deleting dave: his session ends and he cannot connect again; erin's
	// session is untouched (the change applies in place).
	c.cli("network", "vnet-gateway", "local-user", "delete", "-g", "RG1", "--gateway-name", "VNet1-gw", "-n", "dave", "-o", "none")
	nstest.WaitFor(t, 10*time.Second, func() bool { return !dave.swan.Established(dave.conn) }, "the deleted user is still connected")
	if err := dave.connect(10 * time.Second); err == nil {
		t.Fatal("a deleted user connected")
	}
	// Adding a user leaves her session alone too.
	c.cli("network", "vnet-gateway", "local-user", "create", "-g", "RG1", "--gateway-name", "VNet1-gw", "-n", "frank", "--password", "Frank-Secret-44", "-o", "none")
	time.Sleep(2 * time.Second) // the agents have the new users (the create waited for the operation)
	if !erin.swan.Established(erin.conn) || erinIP() != ip0 {
		t.Fatalf("erin's session did not survive deleting dave and adding frank (address %s, was %s)", erinIP(), ip0)
	}
	if out := erin.swan.Log(); strings.Count(out, "EAP method EAP_MSCHAPV2 succeeded") != 1 {
		t.Fatalf("erin authenticated %d times, want once", strings.Count(out, "EAP method EAP_MSCHAPV2 succeeded"))
	}
	reachable(t, erin.ns, vm, 10*time.Second)
}
