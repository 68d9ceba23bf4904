package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/tstest/testbin"
)

// e2e drives the real vpngw binary: a `vpngw serve` process and one CLI
// process per command, as a user would.
type e2e struct {
	t   *testing.T
	bin string
	url string
	dir string
}

// startServer starts `vpngw serve` on a free loopback port and stops it
// (by PID) when the test ends.
func startServer(t *testing.T) *e2e {
	t.Helper()
	dir := t.TempDir()
	x := &e2e{t: t, bin: testbin.Path(t), dir: dir}
	addrFile := filepath.Join(dir, "addr")
	var logs bytes.Buffer
	cmd := exec.Command(x.bin, "serve", "--provider", "none", "--data-dir", filepath.Join(dir, "data"),
		"--listen", "127.0.0.1:0", "--listen-file", addrFile)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("vpngw serve log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil {
			x.url = "http://" + strings.TrimSpace(string(b))
			return x
		}
		select {
		case err := <-exited:
			t.Fatalf("vpngw serve exited: %v\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("vpngw serve did not write %s\n%s", addrFile, logs.String())
		}
	}
}

// run runs one CLI command and returns its exit code, stdout and stderr.
func (x *e2e) run(args ...string) (int, string, string) {
	x.t.Helper()
	cmd := exec.Command(x.bin, args...)
	cmd.Env = append(os.Environ(), "VPNGW_URL="+x.url, "VPNGW_SUBSCRIPTION=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errOut.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errOut.String()
	}
	x.t.Fatalf("running vpngw %v: %v", args, err)
	return 0, "", ""
}

// ok runs a command that must succeed and decodes its JSON output (if any).
func (x *e2e) ok(args ...string) map[string]any {
	x.t.Helper()
	code, out, errOut := x.run(args...)
	if code != 0 {
		x.t.Fatalf("vpngw %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	if errOut != "" {
		x.t.Errorf("vpngw %s wrote to stderr: %s", strings.Join(args, " "), errOut)
	}
	var v map[string]any
	if strings.HasPrefix(strings.TrimSpace(out), "{") {
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			x.t.Fatalf("vpngw %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return v
}

// fails runs a command that must exit with code and mention every string.
func (x *e2e) fails(code int, mention []string, args ...string) {
	x.t.Helper()
	got, out, errOut := x.run(args...)
	if got != code {
		x.t.Errorf("vpngw %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out, errOut)
	}
	for _, m := range mention {
		if !strings.Contains(errOut, m) {
			x.t.Errorf("vpngw %s: stderr lacks %q:\n%s", strings.Join(args, " "), m, errOut)
		}
	}
}

// TestEndToEndSiteToSite builds vpngw, starts `vpngw serve --provider none`
// and walks the site-to-site resources of docs/cli.md through the CLI.
func TestEndToEndSiteToSite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the vpngw binary")
	}
	x := startServer(t)
	const rg = "TestRG1"

	x.ok("group", "create", "-n", rg, "-l", "westeurope")
	vnet := x.ok("network", "vnet", "create", "-g", rg, "-n", "TestVNet1", "--address-prefixes", "10.11.0.0/16", "10.12.0.0/16",
		"--subnet-name", "FrontEnd", "--subnet-prefixes", "10.11.0.0/24")
	if vnet["provisioningState"] != "Succeeded" || vnet["resourceGroup"] != rg {
		t.Errorf("vnet create printed %v", vnet)
	}
	x.ok("network", "vnet", "subnet", "create", "-g", rg, "--vnet-name", "TestVNet1", "-n", "GatewaySubnet", "--address-prefixes", "10.12.255.0/27")
	pip := x.ok("network", "public-ip", "create", "-g", rg, "-n", "VNet1GWIP", "--sku", "Standard", "--allocation-method", "Static")
	if ip, _ := pip["ipAddress"].(string); ip == "" {
		t.Errorf("public IP has no address: %v", pip)
	}

	// Refusals: a gateway outside GatewaySubnet, and one for a VNet without it.
	subnetID := "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/" + rg +
		"/providers/Microsoft.Network/virtualNetworks/TestVNet1/subnets/FrontEnd"
	x.fails(ExitError, []string{"ERROR: (", "GatewaySubnet", "Target: properties.ipConfigurations[0].properties.subnet.id"},
		"network", "vnet-gateway", "create", "-g", rg, "-n", "VNet1GW", "--vnet", subnetID, "--public-ip-addresses", "VNet1GWIP",
		"--sku", "VpnGw1", "--vpn-gateway-generation", "Generation1")
	x.ok("network", "vnet", "create", "-g", rg, "-n", "NoGwVNet", "--address-prefixes", "10.99.0.0/16", "-o", "none")
	x.fails(ExitError, []string{"GatewaySubnet"},
		"network", "vnet-gateway", "create", "-g", rg, "-n", "VNet1GW", "--vnet", "NoGwVNet", "--public-ip-addresses", "VNet1GWIP", "--sku", "VpnGw1")

	// The gateway: the command waits until the operation has finished.
	gw := x.ok("network", "vnet-gateway", "create", "-g", rg, "-n", "VNet1GW", "--vnet", "TestVNet1", "--public-ip-addresses", "VNet1GWIP",
		"--gateway-type", "Vpn", "--vpn-type", "RouteBased", "--sku", "VpnGw1", "--vpn-gateway-generation", "Generation1")
	if gw["provisioningState"] != "Succeeded" || lookup(gw, "sku.name") != "VpnGw1" || lookup(gw, "bgpSettings.asn") != float64(65515) {
		t.Errorf("gateway after create: provisioningState %v, sku %v, asn %v", gw["provisioningState"], lookup(gw, "sku.name"), lookup(gw, "bgpSettings.asn"))
	}

	x.ok("network", "local-gateway", "create", "-g", rg, "-n", "Site1", "--gateway-ip-address", "203.0.113.10",
		"--local-address-prefixes", "10.101.0.0/24", "10.101.1.0/24")
	conn := x.ok("network", "vpn-connection", "create", "-g", rg, "-n", "VNet1toSite1", "--vnet-gateway1", "VNet1GW",
		"--local-gateway2", "Site1", "--shared-key", "abc123")
	if conn["connectionType"] != "IPsec" || conn["provisioningState"] != "Succeeded" {
		t.Errorf("connection after create: %v", conn)
	}

	// Shared keys: only the sharedkey sub-resource shows them.
	key := func() string {
		_, out, _ := x.run("network", "vpn-connection", "shared-key", "show", "-g", rg, "--connection-name", "VNet1toSite1", "--query", "value", "-o", "tsv")
		return strings.TrimSpace(out)
	}
	if k := key(); k != "abc123" {
		t.Errorf("shared key %q, want abc123", k)
	}
	x.ok("network", "vpn-connection", "shared-key", "update", "-g", rg, "--connection-name", "VNet1toSite1", "--value", "Xyz789Secret")
	if k := key(); k != "Xyz789Secret" {
		t.Errorf("shared key after update %q", k)
	}
	x.fails(ExitError, []string{"ERROR: (", "Target: value"},
		"network", "vpn-connection", "shared-key", "update", "-g", rg, "--connection-name", "VNet1toSite1", "--value", "has space")
	x.ok("network", "vpn-connection", "shared-key", "reset", "-g", rg, "--connection-name", "VNet1toSite1", "--key-length", "64")
	newKey := key()
	if len(newKey) != 64 || newKey == "Xyz789Secret" {
		t.Errorf("shared key after reset %q, want a new 64-character key", newKey)
	}
	for _, args := range [][]string{
		{"network", "vpn-connection", "show", "-g", rg, "-n", "VNet1toSite1"},
		{"network", "vpn-connection", "list", "-g", rg, "-o", "tsv"},
		{"network", "vnet-gateway", "list-connections", "-g", rg, "-n", "VNet1GW"},
	} {
		_, out, _ := x.run(args...)
		if strings.Contains(out, newKey) || strings.Contains(out, "sharedKey") {
			t.Errorf("%v shows the shared key:\n%s", args, out)
		}
	}

	_, out, _ := x.run("network", "vnet-gateway", "list-connections", "-g", rg, "-n", "VNet1GW", "-o", "table")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "ConnectionStatus") || !strings.HasPrefix(lines[2], "VNet1toSite1  "+rg) {
		t.Errorf("list-connections table:\n%s", out)
	}

	// Updates of every kind go through GET, modify, PUT with If-Match.
	if g := x.ok("network", "vnet-gateway", "update", "-g", rg, "-n", "VNet1GW", "--asn", "65010", "--sku", "VpnGw2"); lookup(g, "bgpSettings.asn") != float64(65010) || lookup(g, "sku.name") != "VpnGw2" {
		t.Errorf("gateway after update: asn %v, sku %v", lookup(g, "bgpSettings.asn"), lookup(g, "sku.name"))
	}
	x.fails(ExitError, []string{"VpnGw1AZ"}, "network", "vnet-gateway", "update", "-g", rg, "-n", "VNet1GW", "--sku", "VpnGw1AZ")
	if l := x.ok("network", "local-gateway", "update", "-g", rg, "-n", "Site1", "--local-address-prefixes", "10.102.0.0/24"); !reflect.DeepEqual(lookup(l, "localNetworkAddressSpace.addressPrefixes"), []any{"10.102.0.0/24"}) {
		t.Errorf("local gateway after update: %v", l)
	}
	x.ok("network", "vnet", "subnet", "update", "-g", rg, "--vnet-name", "TestVNet1", "-n", "FrontEnd", "--address-prefixes", "10.11.1.0/24")
	if code, out, _ := x.run("network", "vnet", "subnet", "show", "-g", rg, "--vnet-name", "TestVNet1", "-n", "FrontEnd", "--query", "addressPrefix", "-o", "tsv"); code != 0 || out != "10.11.1.0/24\n" {
		t.Errorf("subnet after update: %q", out)
	}
	x.ok("network", "vpn-connection", "ipsec-policy", "add", "-g", rg, "--connection-name", "VNet1toSite1",
		"--ike-encryption", "AES256", "--ike-integrity", "SHA256", "--dh-group", "DHGroup14", "--ipsec-encryption", "GCMAES256",
		"--ipsec-integrity", "GCMAES256", "--pfs-group", "PFS2048", "--sa-lifetime", "27000", "--sa-max-size", "102400000", "-o", "none")
	if _, out, _ := x.run("network", "vpn-connection", "ipsec-policy", "list", "-g", rg, "--connection-name", "VNet1toSite1", "--query", "[0].ikeEncryption", "-o", "tsv"); out != "AES256\n" {
		t.Errorf("ipsec-policy list: %q", out)
	}
	x.ok("network", "vpn-connection", "ipsec-policy", "clear", "-g", rg, "--connection-name", "VNet1toSite1", "-o", "none")
	if g := x.ok("network", "vnet-gateway", "reset", "-g", rg, "-n", "VNet1GW"); g != nil && g["provisioningState"] != "Succeeded" {
		t.Errorf("gateway after reset: %v", g["provisioningState"])
	}

	// An update with --no-wait, then az's wait to re-attach.
	x.ok("network", "vpn-connection", "update", "-g", rg, "-n", "VNet1toSite1", "--dpd-timeout", "30", "--no-wait")
	x.ok("network", "vpn-connection", "wait", "-g", rg, "-n", "VNet1toSite1", "--updated", "--interval", "1", "--timeout", "60")
	if c := x.ok("network", "vpn-connection", "show", "-g", rg, "-n", "VNet1toSite1"); c["dpdTimeoutSeconds"] != float64(30) {
		t.Errorf("dpdTimeoutSeconds %v after update", c["dpdTimeoutSeconds"])
	}

	// Referential integrity, exit codes of show and delete.
	x.fails(ExitError, []string{"ERROR: (InUseCannotDelete)"}, "network", "vnet", "delete", "-g", rg, "-n", "TestVNet1")
	x.fails(ExitNotFound, []string{"ERROR: (ResourceNotFound)"}, "network", "vpn-connection", "show", "-g", rg, "-n", "NoSuchConnection")
	x.ok("network", "vpn-connection", "delete", "-g", rg, "-n", "NoSuchConnection")

	// Delete in dependency order.
	for _, args := range [][]string{
		{"network", "vpn-connection", "delete", "-g", rg, "-n", "VNet1toSite1"},
		{"network", "local-gateway", "delete", "-g", rg, "-n", "Site1"},
		{"network", "vnet-gateway", "delete", "-g", rg, "-n", "VNet1GW"},
		{"network", "public-ip", "delete", "-g", rg, "-n", "VNet1GWIP"},
		{"network", "vnet", "delete", "-g", rg, "-n", "TestVNet1"},
	} {
		if code, out, errOut := x.run(args...); code != 0 || out != "" || errOut != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want silent success", args, code, out, errOut)
		}
	}
	x.fails(ExitNotFound, nil, "network", "vnet-gateway", "show", "-g", rg, "-n", "VNet1GW")
	x.ok("group", "delete", "-n", rg, "--yes")
	if code, out, _ := x.run("group", "exists", "-n", rg); code != 0 || out != "false\n" {
		t.Errorf("group exists after delete: exit %d, %q", code, out)
	}
}

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }
