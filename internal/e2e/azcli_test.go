package e2e_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestAzureCLI: Debian's azure-cli (2.45), unpatched, against `vpngw
// serve` over HTTPS, the way Azure Stack Hub users do it: the cloud is
// registered with only its Resource Manager endpoint (az reads
// /metadata/endpoints for the rest), az trusts the server's CA through
// REQUESTS_CA_BUNDLE, and `az login --service-principal --tenant adfs`
// signs in at the server's own AD FS-style token endpoint. Resource
// groups run on az's latest profile; the network commands on the Azure
// Stack profile 2020-09-01-hybrid, because Debian's azure-cli 2.45 cannot
// load its own network module on the latest profile (AttributeError on
// ApplicationGatewaySkuName, for any cloud, even for --help), and its
// hybrid profile lacks the vnet-gateway and vpn-connection operations
// modules (ModuleNotFoundError) — az's packaging, not the server.
// A user signs in with az login -u and is refused by the role check.
// Skipped when az is not installed.
func TestAzureCLI(t *testing.T) {
	azBin, err := exec.LookPath("az")
	if err != nil {
		t.Skip("az is not installed")
	}
	s := startServe(t, nil, "--provider", "none")
	cfg := t.TempDir()
	az := func(args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, azBin, args...)
		cmd.Env = append(os.Environ(), "AZURE_CONFIG_DIR="+cfg, "REQUESTS_CA_BUNDLE="+s.caFile(),
			"AZURE_CORE_COLLECT_TELEMETRY=false", "AZURE_CORE_NO_COLOR=true", "AZURE_CORE_ONLY_SHOW_ERRORS=true")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	ok := func(args ...string) string {
		t.Helper()
		out, err := az(args...)
		if err != nil {
			t.Fatalf("az %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(out)
	}
	b, err := os.ReadFile(s.credentialFile())
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ ClientID, ClientSecret string }
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}

	ok("cloud", "register", "-n", "vpngw", "--endpoint-resource-manager", s.url+"/")
	ok("cloud", "set", "-n", "vpngw")
	if ad := ok("cloud", "show", "-n", "vpngw", "--query", "endpoints.activeDirectory", "-o", "tsv"); ad != s.url+"/adfs" {
		t.Fatalf("activeDirectory %q", ad)
	}
	if out, err := az("login", "--service-principal", "-u", c.ClientID, "-p", "wrong-secret", "--tenant", "adfs"); err == nil {
		t.Fatalf("az login with a wrong secret succeeded:\n%s", out)
	}
	if out, err := az("group", "list"); err == nil {
		t.Fatalf("az group list without a login succeeded:\n%s", out)
	}
	ok("login", "--service-principal", "-u", c.ClientID, "-p", c.ClientSecret, "--tenant", "adfs")
	if u := ok("account", "show", "--query", "user.name", "-o", "tsv"); u != c.ClientID {
		t.Fatalf("account user %q", u)
	}
	ok("group", "create", "-n", "AzRG", "-l", "eastus")
	if e := ok("group", "exists", "-n", "AzRG"); e != "true" {
		t.Fatalf("group exists: %q", e)
	}
	if e := ok("group", "exists", "-n", "NoSuchRG"); e != "false" {
		t.Fatalf("missing group exists: %q", e)
	}
	if st := ok("group", "show", "-n", "AzRG", "--query", "properties.provisioningState", "-o", "tsv"); st != "Succeeded" {
		t.Fatalf("group show: %q", st)
	}

	ok("cloud", "update", "-n", "vpngw", "--profile", "2020-09-01-hybrid")
	ok("network", "vnet", "create", "-g", "AzRG", "-n", "VNet1", "--address-prefixes", "10.1.0.0/16",
		"--subnet-name", "FrontEnd", "--subnet-prefixes", "10.1.0.0/24")
	ok("network", "vnet", "subnet", "create", "-g", "AzRG", "--vnet-name", "VNet1", "-n", "GatewaySubnet", "--address-prefixes", "10.1.255.0/27")
	if n := ok("network", "vnet", "show", "-g", "AzRG", "-n", "VNet1", "--query", "length(subnets)", "-o", "tsv"); n != "2" {
		t.Fatalf("vnet show: %q subnets", n)
	}
	ok("network", "public-ip", "create", "-g", "AzRG", "-n", "VNet1GWIP", "--allocation-method", "Static")
	ok("network", "local-gateway", "create", "-g", "AzRG", "-n", "Site1", "--gateway-ip-address", "192.0.2.10",
		"--local-address-prefixes", "10.101.0.0/24")
	if ip := ok("network", "local-gateway", "show", "-g", "AzRG", "-n", "Site1", "--query", "gatewayIpAddress", "-o", "tsv"); ip != "192.0.2.10" {
		t.Fatalf("local-gateway show: %q", ip)
	}
	// az rest signs its requests with the login's token too.
	if n := ok("rest", "--method", "get", "--url", s.url+"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/AzRG/providers/Microsoft.Network/localNetworkGateways?api-version=2024-05-01",
		"--query", "length(value)", "-o", "tsv"); n != "1" {
		t.Fatalf("az rest list: %q", n)
	}
	ok("network", "local-gateway", "delete", "-g", "AzRG", "-n", "Site1")
	if out, err := az("network", "local-gateway", "show", "-g", "AzRG", "-n", "Site1"); err == nil {
		t.Fatalf("deleted local gateway still shown:\n%s", out)
	}

	// A user signs in with a password (az login -u, the password grant;
	// az reads the user from the ID token) and, without a role, is refused
	// with Azure's AuthorizationFailed.
	mk := exec.Command(vpngwBin(t), "serve", "principal-create", "--user", "alice", "--data-dir", s.data)
	mk.Stdin = strings.NewReader("correct horse battery\n")
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("principal-create: %v %s", err, out)
	}
	ok("login", "-u", "alice", "-p", "correct horse battery")
	if u := ok("account", "show", "--query", "[user.name, user.type]", "-o", "tsv"); strings.Join(strings.Fields(u), " ") != "alice user" {
		t.Fatalf("account user %q", u)
	}
	if out, err := az("group", "list"); err == nil || !strings.Contains(out, "AuthorizationFailed") || !strings.Contains(out, "'alice'") {
		t.Fatalf("az group list as alice without a role: %v\n%s", err, out)
	}
	for _, secret := range []string{c.ClientSecret, "correct horse battery"} {
		if strings.Contains(s.logText(), secret) {
			t.Fatal("the server logged a secret")
		}
	}
}
