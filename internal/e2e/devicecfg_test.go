package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

// TestDeviceConfigStrongSwan is the proof of the device configuration
// script: the swanctl.conf vpngw writes for a connection to an
// active-active gateway is loaded, unedited but for one line, into a real
// charon on the site's device, and both tunnels come up and carry traffic.
//
// The one line: see loadDeviceConfig.
func TestDeviceConfigStrongSwan(t *testing.T) {
	c := newCloud(t)
	ips := c.activeActiveGateway()
	vm := c.vm(sub1, "RG1", "VNet1", "vm1")
	vmNS := c.vmNS(sub1, "RG1", "vm1")
	s := c.site("onprem", "192.0.2.10", "10.50.0.0/16")
	const key = "devCfgKey42"
	c.connect(sub1, "RG1", "GW1", s, key)

	devices := c.cli("network", "vnet-gateway", "show-supported-devices", "-g", "RG1", "-n", "GW1", "-o", "tsv")
	if !strings.Contains(devices, `<Vendor name="strongSwan">`) {
		t.Fatalf("supported devices:\n%s", devices)
	}
	script := s.loadDeviceConfig(t, c, "to-onprem", 2)
	for _, want := range []string{"remote_addrs = " + ips[0], "remote_addrs = " + ips[1], `secret = "` + key + `"`,
		"local_ts = 10.50.0.0/16", "remote_ts = 10.1.0.0/16"} {
		if !strings.Contains(script, want) {
			t.Fatalf("script lacks %q:\n%s", want, script)
		}
	}

	// Both tunnels, one per instance, come up (the script starts them;
	// vpngw initiates too) and carry traffic.
	c.waitTunnelsConnected(sub1, "RG1", "to-onprem", 2, 60*time.Second)
	for _, n := range []string{"to-onprem-gw0", "to-onprem-gw1"} {
		nstest.WaitFor(t, 30*time.Second, func() bool { return s.swan.Established(n) }, "charon's %s not established", n)
	}
	reachable(t, vmNS, s.host, 20*time.Second)
	if loss := pingLoss(t, s.hostNS, vm, 10, "0.1"); loss > 10 {
		t.Fatalf("site host → VM: %d%% loss", loss)
	}

	// The portal draws one sparkline per tunnel: under the connection's on
	// the list (it has two), and in the connection page's tunnel table.
	// Traffic while the pages are open, so that the sparklines move.
	pinging := make(chan struct{})
	go func() {
		defer close(pinging)
		_, _ = vmNS.Run("ping", "-c", "150", "-i", "0.1", "-s", "1200", "-q", s.host.String())
	}()
	defer func() { <-pinging }()
	b := newBrowser(t, c.server)
	b.open("/portal/rg/RG1/connections")
	spark := `.getAttribute("points").split(" ").length >= 2`
	b.wait("a sparkline per tunnel on the list", 30*time.Second, `(function(){const l=document.querySelectorAll("tr[data-id] ul.c-tunnels:not([hidden]) li svg.spark polyline");`+
		`return l.length == 2 && Array.from(l).every(p => p`+spark+`)})()`)
	b.screenshot("connections-two-tunnels")
	b.open("/portal/rg/RG1/connections/to-onprem")
	b.wait("a sparkline per tunnel on the connection page", 30*time.Second, `(function(){const l=document.querySelectorAll("table.tunnels tr[data-tunnel] svg.spark polyline");`+
		`return l.length == 2 && Array.from(l).every(p => p`+spark+`) && /[1-9][0-9.]* (k|M)?bit\/s/.test(document.querySelector("table.tunnels").textContent)})()`)
	b.docShot("connection-tunnels.png")
	if strings.Contains(c.logText(), key) {
		t.Fatal("the serve log contains the shared key")
	}
}

// TestDeviceConfigStrongSwanIKEv1 is the same proof for a Basic
// PolicyBased gateway: the script speaks IKEv1 with Azure's PolicyBased
// proposals and lifetimes, and the tunnel comes up and carries traffic.
func TestDeviceConfigStrongSwanIKEv1(t *testing.T) {
	c := newCloud(t)
	c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16", "--sku", "Basic", "--vpn-type", "PolicyBased")
	vm := c.vm(sub1, "RG1", "VNet1", "vm1")
	s := c.site("onprem", "192.0.2.10", "10.50.0.0/16")
	c.connect(sub1, "RG1", "VNet1-gw", s, "v1CfgKey42")
	script := s.loadDeviceConfig(t, c, "to-onprem", 1)
	for _, want := range []string{"version = 1", "reauth_time = 28800s", "rekey_time = 3600s", "proposals = aes256-sha256-prfsha256-modp1024,"} {
		if !strings.Contains(script, want) {
			t.Fatalf("script lacks %q:\n%s", want, script)
		}
	}
	c.waitConnected(sub1, "RG1", "to-onprem", 60*time.Second)
	nstest.WaitFor(t, 30*time.Second, func() bool { return s.swan.Established("to-onprem") }, "charon's to-onprem not established")
	vmNS := c.vmNS(sub1, "RG1", "vm1")
	reachable(t, vmNS, s.host, 20*time.Second)
	if loss := pingLoss(t, s.hostNS, vm, 10, "0.1"); loss > 10 {
		t.Fatalf("site host → VM: %d%% loss", loss)
	}
}

// loadDeviceConfig gets the strongSwan configuration of connection conn
// with the CLI and runs charon with it on the site's device. This lab's
// charon has no kernel ESP and runs kernel-libipsec, which sends ESP only
// inside UDP (swantest's package comment), so "encap = yes" is added to
// each of the script's connections; nothing else is changed. A device with
// kernel ESP needs nothing added. It returns the script as generated.
func (s *labSite) loadDeviceConfig(t *testing.T, c *cloud, conn string, ikeVersion int) string {
	t.Helper()
	script := c.cli("network", "vpn-connection", "show-device-config-script", "-g", "RG1", "-n", conn,
		"--vendor", "strongSwan", "--device-family", "swanctl.conf", "--firmware-version", "5.9 and later", "-o", "tsv")
	version := fmt.Sprintf("\t\tversion = %d\n", ikeVersion)
	conf := strings.ReplaceAll(script, version, version+"\t\tencap = yes\n")
	if strings.Count(conf, "encap = yes") != strings.Count(script, version) || !strings.Contains(conf, "encap = yes") {
		t.Fatalf("could not add encap to the connections:\n%s", conf)
	}
	path := filepath.Join(t.TempDir(), "azure.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.swan = swantest.StartFile(t, s.device, path)
	return script
}
