package e2e_test

// The CLI as a user runs it: `vpngw serve --provider none` and one vpngw
// process per command.

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vpngw/vpngw/internal/cli"
)

// TestEndToEndSiteToSite builds vpngw, starts `vpngw serve --provider none`
// and walks the site-to-site resources of docs/cli.md through the CLI.
func TestEndToEndSiteToSite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the vpngw binary")
	}
	x := startServe(t, nil, "--provider", "none", "--data-dir", t.TempDir())
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
	x.fails(cli.ExitError, []string{"ERROR: (", "GatewaySubnet", "Target: properties.ipConfigurations[0].properties.subnet.id"},
		"network", "vnet-gateway", "create", "-g", rg, "-n", "VNet1GW", "--vnet", subnetID, "--public-ip-addresses", "VNet1GWIP",
		"--sku", "VpnGw1", "--vpn-gateway-generation", "Generation1")
	x.ok("network", "vnet", "create", "-g", rg, "-n", "NoGwVNet", "--address-prefixes", "10.99.0.0/16", "-o", "none")
	x.fails(cli.ExitError, []string{"GatewaySubnet"},
		"network", "vnet-gateway", "create", "-g", rg, "-n", "VNet1GW", "--vnet", "NoGwVNet", "--public-ip-addresses", "VNet1GWIP", "--sku", "VpnGw1")

	// The gateway: the command waits until the operation has finished.
	gw := x.ok("network", "vnet-gateway", "create", "-g", rg, "-n", "VNet1GW", "--vnet", "TestVNet1", "--public-ip-addresses", "VNet1GWIP",
		"--gateway-type", "Vpn", "--vpn-type", "RouteBased", "--sku", "VpnGw1", "--vpn-gateway-generation", "Generation1")
	if gw["provisioningState"] != "Succeeded" || field(gw, "sku.name") != "VpnGw1" || field(gw, "bgpSettings.asn") != float64(65515) {
		t.Errorf("gateway after create: provisioningState %v, sku %v, asn %v", gw["provisioningState"], field(gw, "sku.name"), field(gw, "bgpSettings.asn"))
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
	x.fails(cli.ExitError, []string{"ERROR: (", "Target: value"},
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
	if g := x.ok("network", "vnet-gateway", "update", "-g", rg, "-n", "VNet1GW", "--asn", "65010", "--sku", "VpnGw2"); field(g, "bgpSettings.asn") != float64(65010) || field(g, "sku.name") != "VpnGw2" {
		t.Errorf("gateway after update: asn %v, sku %v", field(g, "bgpSettings.asn"), field(g, "sku.name"))
	}
	x.fails(cli.ExitError, []string{"VpnGw1AZ"}, "network", "vnet-gateway", "update", "-g", rg, "-n", "VNet1GW", "--sku", "VpnGw1AZ")
	if l := x.ok("network", "local-gateway", "update", "-g", rg, "-n", "Site1", "--local-address-prefixes", "10.102.0.0/24"); !reflect.DeepEqual(field(l, "localNetworkAddressSpace.addressPrefixes"), []any{"10.102.0.0/24"}) {
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
	x.fails(cli.ExitError, []string{"ERROR: (InUseCannotDelete)"}, "network", "vnet", "delete", "-g", rg, "-n", "TestVNet1")
	x.fails(cli.ExitNotFound, []string{"ERROR: (ResourceNotFound)"}, "network", "vpn-connection", "show", "-g", rg, "-n", "NoSuchConnection")
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
	x.fails(cli.ExitNotFound, nil, "network", "vnet-gateway", "show", "-g", rg, "-n", "VNet1GW")
	x.ok("group", "delete", "-n", rg, "--yes")
	if code, out, _ := x.run("group", "exists", "-n", rg); code != 0 || out != "false\n" {
		t.Errorf("group exists after delete: exit %d, %q", code, out)
	}
}

// field returns the value at a dotted path ("sku.name") in decoded JSON,
// or nil.
func field(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
