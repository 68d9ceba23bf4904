package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/armerr"
)

const (
	testSub = "00000000-0000-0000-0000-000000000000"
	rgPath  = "/subscriptions/" + testSub + "/resourceGroups/rg1"
	netPath = rgPath + "/providers/Microsoft.Network"
)

// run runs the CLI in-process against f and returns the exit code, stdout
// and stderr.
func run(t *testing.T, a *testAPI, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if a != nil {
		args = append(args, "--server", a.srv.URL)
	}
	code := Main(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// mustRun runs the CLI and fails the test unless it exits 0.
func mustRun(t *testing.T, a *testAPI, args ...string) string {
	t.Helper()
	code, out, errOut := run(t, a, args...)
	if code != 0 {
		t.Fatalf("vpngw %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// sameJSON compares a recorded body with the expected one, given as JSON.
func sameJSON(t *testing.T, what string, got map[string]any, want string) {
	t.Helper()
	var w map[string]any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expected JSON for %s: %v", what, err)
	}
	if !reflect.DeepEqual(got, w) {
		g, _ := json.MarshalIndent(got, "", "  ")
		ww, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("%s body\n got: %s\nwant: %s", what, g, ww)
	}
}

// seed creates the resource group rg1 (westeurope) in f.
func seed(t *testing.T, a *testAPI) {
	t.Helper()
	mustRun(t, a, "group", "create", "-n", "rg1", "-l", "westeurope")
	a.reqs()
}

// seedGateway creates, in rg1, the VNet vnet (10.n.0.0/16 with its
// GatewaySubnet), the public IP pip and the VpnGw1 gateway name.
func seedGateway(t *testing.T, a *testAPI, name, vnet, pip string, n int) {
	t.Helper()
	mustRun(t, a, "network", "vnet", "create", "-g", "rg1", "-n", vnet, "--address-prefixes", fmt.Sprintf("10.%d.0.0/16", n),
		"--subnet-name", "GatewaySubnet", "--subnet-prefixes", fmt.Sprintf("10.%d.255.0/27", n), "-o", "none")
	mustRun(t, a, "network", "public-ip", "create", "-g", "rg1", "-n", pip, "-o", "none")
	mustRun(t, a, "network", "vnet-gateway", "create", "-g", "rg1", "-n", name, "--vnet", vnet, "--public-ip-addresses", pip, "--sku", "VpnGw1", "-o", "none")
	a.reqs()
}

func TestSiteToSiteRequestBodies(t *testing.T) {
	a := newTestAPI(t)
	mustRun(t, a, "group", "create", "-n", "rg1", "-l", "westeurope", "--tags", "env=lab", "owner=net")
	r := a.reqs()
	if got := writes(r); !reflect.DeepEqual(got, []string{"PUT /subscriptions/" + testSub + "/resourcegroups/rg1"}) {
		t.Fatalf("group create requests %v", got)
	}
	sameJSON(t, "group", r[0].Body, `{"location":"westeurope","tags":{"env":"lab","owner":"net"}}`)

	steps := []struct {
		args []string
		path string
		body string
	}{
		{
			[]string{"network", "vnet", "create", "-g", "rg1", "-n", "vnet1", "--address-prefixes", "10.1.0.0/16", "10.2.0.0/16",
				"--subnet-name", "GatewaySubnet", "--subnet-prefixes", "10.1.255.0/27", "--dns-servers", "10.1.0.4"},
			netPath + "/virtualNetworks/vnet1",
			`{"location":"westeurope","tags":{},"properties":{
				"addressSpace":{"addressPrefixes":["10.1.0.0/16","10.2.0.0/16"]},
				"dhcpOptions":{"dnsServers":["10.1.0.4"]},
				"subnets":[{"name":"GatewaySubnet","properties":{"addressPrefix":"10.1.255.0/27"}}]}}`,
		},
		{
			[]string{"network", "vnet", "subnet", "create", "-g", "rg1", "--vnet-name", "vnet1", "-n", "apps", "--address-prefixes", "10.1.1.0/24", "10.2.1.0/24"},
			netPath + "/virtualNetworks/vnet1/subnets/apps",
			`{"name":"apps","properties":{"addressPrefixes":["10.1.1.0/24","10.2.1.0/24"]}}`,
		},
		{
			[]string{"network", "public-ip", "create", "-g", "rg1", "-n", "pip1", "--zone", "1", "2", "3"},
			netPath + "/publicIPAddresses/pip1",
			`{"location":"westeurope","tags":{},"sku":{"name":"Standard"},"zones":["1","2","3"],
			  "properties":{"publicIPAllocationMethod":"Static","publicIPAddressVersion":"IPv4"}}`,
		},
		{
			[]string{"network", "public-ip", "create", "-g", "rg1", "-n", "pip0", "-l", "northeurope", "--sku", "basic", "--version", "ipv6"},
			netPath + "/publicIPAddresses/pip0",
			`{"location":"northeurope","tags":{},"sku":{"name":"Basic"},
			  "properties":{"publicIPAllocationMethod":"Dynamic","publicIPAddressVersion":"IPv6"}}`,
		},
		{
			[]string{"network", "vnet-gateway", "create", "-g", "rg1", "-n", "gw1", "--vnet", "vnet1", "--public-ip-addresses", "pip1",
				"--sku", "vpngw1", "--vpn-gateway-generation", "Generation1", "--asn", "65010", "--tags", "tier=prod"},
			netPath + "/virtualNetworkGateways/gw1",
			`{"location":"westeurope","tags":{"tier":"prod"},"properties":{
				"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw1","tier":"VpnGw1"},
				"vpnGatewayGeneration":"Generation1","activeActive":false,"enableBgp":true,
				"bgpSettings":{"asn":65010},
				"ipConfigurations":[{"name":"vnetGatewayConfig0","properties":{
					"privateIPAllocationMethod":"Dynamic",
					"subnet":{"id":"` + netPath + `/virtualNetworks/vnet1/subnets/GatewaySubnet"},
					"publicIPAddress":{"id":"` + netPath + `/publicIPAddresses/pip1"}}}]}}`,
		},
		{
			[]string{"network", "local-gateway", "create", "-g", "rg1", "-n", "site1", "--gateway-ip-address", "203.0.113.10",
				"--local-address-prefixes", "192.168.0.0/16", "172.16.0.0/24", "--asn", "65050", "--bgp-peering-address", "192.168.0.1", "--peer-weight", "10"},
			netPath + "/localNetworkGateways/site1",
			`{"location":"westeurope","tags":{},"properties":{
				"gatewayIpAddress":"203.0.113.10",
				"localNetworkAddressSpace":{"addressPrefixes":["192.168.0.0/16","172.16.0.0/24"]},
				"bgpSettings":{"asn":65050,"bgpPeeringAddress":"192.168.0.1","peerWeight":10}}}`,
		},
		{
			[]string{"network", "vpn-connection", "create", "-g", "rg1", "-n", "conn1", "--vnet-gateway1", "gw1", "--local-gateway2", "site1",
				"--shared-key", "Abc123", "--enable-bgp", "--use-policy-based-traffic-selectors", "false", "--routing-weight", "5",
				"--connection-protocol", "ikev2", "--dpd-timeout", "30", "--connection-mode", "responderonly"},
			netPath + "/connections/conn1",
			`{"location":"westeurope","tags":{},"properties":{
				"connectionType":"IPsec",
				"virtualNetworkGateway1":{"id":"` + netPath + `/virtualNetworkGateways/gw1"},
				"localNetworkGateway2":{"id":"` + netPath + `/localNetworkGateways/site1"},
				"sharedKey":"Abc123","enableBgp":true,"usePolicyBasedTrafficSelectors":false,"routingWeight":5,
				"connectionProtocol":"IKEv2","dpdTimeoutSeconds":30,"connectionMode":"ResponderOnly"}}`,
		},
	}
	for _, s := range steps {
		mustRun(t, a, s.args...)
		put := find(t, a.reqs(), "PUT", s.path)
		sameJSON(t, strings.Join(s.args[:3], " "), put.Body, s.body)
	}
}

func TestCreateWaitsForOperation(t *testing.T) {
	a := newTestAPI(t)
	seed(t, a)
	mustRun(t, a, "network", "vnet", "create", "-g", "rg1", "-n", "vnet1", "--subnet-name", "GatewaySubnet", "--subnet-prefixes", "10.0.255.0/27", "-o", "none")
	mustRun(t, a, "network", "public-ip", "create", "-g", "rg1", "-n", "pip1", "-o", "none")
	gw := netPath + "/virtualNetworkGateways/gw1"
	a.holdPolls(gw, gw, 2)
	a.reqs()
	code, out, errOut := run(t, a, "network", "vnet-gateway", "create", "-g", "rg1", "-n", "gw1", "--vnet", "vnet1", "--public-ip-addresses", "pip1")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q (no progress indicator when stderr is not a terminal)", code, errOut)
	}
	r := a.reqs()
	if n := polls(r); n != 3 {
		t.Errorf("polls = %d, want 3 (2 InProgress + Succeeded)", n)
	}
	if last := r[len(r)-1]; last.Method != "GET" || last.Path != gw {
		t.Errorf("last request %v, want the final GET", last)
	}
	var g map[string]any
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if g["provisioningState"] != "Succeeded" {
		t.Errorf("printed provisioningState %v, want Succeeded (the state after the operation)", g["provisioningState"])
	}
}

func TestNoWait(t *testing.T) {
	a := newTestAPI(t)
	seed(t, a)
	seedGateway(t, a, "gw0", "vnet0", "pip0", 0)
	mustRun(t, a, "network", "vnet", "create", "-g", "rg1", "-n", "vnet1", "--address-prefixes", "10.2.0.0/16",
		"--subnet-name", "GatewaySubnet", "--subnet-prefixes", "10.2.255.0/27", "-o", "none")
	mustRun(t, a, "network", "public-ip", "create", "-g", "rg1", "-n", "pip1", "-o", "none")
	mustRun(t, a, "network", "local-gateway", "create", "-g", "rg1", "-n", "l1", "--gateway-ip-address", "203.0.113.10",
		"--local-address-prefixes", "192.168.0.0/16", "-o", "none")
	// The operations stay in progress until the test ends: --no-wait must
	// return at once without polling them.
	for _, step := range []struct {
		args []string
		held string
	}{
		{[]string{"network", "vnet-gateway", "create", "-g", "rg1", "-n", "gw1", "--vnet", "vnet1", "--public-ip-addresses", "pip1", "--no-wait"},
			netPath + "/virtualNetworkGateways/gw1"},
		{[]string{"network", "vpn-connection", "create", "-g", "rg1", "-n", "c1", "--vnet-gateway1", "gw1", "--local-gateway2", "l1", "--no-wait"},
			netPath + "/connections/c1"},
		{[]string{"network", "vnet-gateway", "delete", "-g", "rg1", "-n", "gw0", "--no-wait"},
			netPath + "/virtualNetworkGateways/gw0"},
	} {
		a.prov.Hold(step.held)
		a.reqs()
		code, out, errOut := run(t, a, step.args...)
		if code != 0 || out != "" || errOut != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0 and no output", step.args, code, out, errOut)
		}
		r := a.reqs()
		if n := polls(r); n != 0 {
			t.Errorf("%v polled %d times despite --no-wait: %v", step.args, n, r)
		}
		if w := writes(r); len(w) != 1 {
			t.Errorf("%v sent %v, want one write", step.args, w)
		}
	}
}

func TestOutputFormats(t *testing.T) {
	a := newTestAPI(t)
	seed(t, a)
	mustRun(t, a, "network", "vnet", "create", "-g", "rg1", "-n", "vnet1", "--address-prefixes", "10.1.0.0/16",
		"--subnet-name", "GatewaySubnet", "--subnet-prefixes", "10.1.255.0/27", "--tags", "a=b")

	// json: az's shape, properties flattened, resourceGroup added.
	out := mustRun(t, a, "network", "vnet", "show", "-g", "rg1", "-n", "vnet1")
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if v["provisioningState"] != "Succeeded" || v["resourceGroup"] != "rg1" || v["properties"] != nil {
		t.Errorf("json output not in az's shape: %s", out)
	}
	if lookup(v, "addressSpace.addressPrefixes").([]any)[0] != "10.1.0.0/16" {
		t.Errorf("addressSpace missing: %s", out)
	}
	if sub := v["subnets"].([]any)[0].(map[string]any); sub["addressPrefix"] != "10.1.255.0/27" {
		t.Errorf("subnet properties not flattened: %v", sub)
	}
	if !strings.HasPrefix(out, "{\n  \"addressSpace\"") {
		t.Errorf("json keys not sorted / not indented like az:\n%s", out)
	}

	wantTable := "" +
		"Name   ResourceGroup  Location    ProvisioningState  NumSubnets  Prefixes     DnsServers\n" +
		"-----  -------------  ----------  -----------------  ----------  -----------  ----------\n" +
		"vnet1  rg1            westeurope  Succeeded          1           10.1.0.0/16\n"
	if out := mustRun(t, a, "network", "vnet", "show", "-g", "rg1", "-n", "vnet1", "-o", "table"); out != wantTable {
		t.Errorf("table:\n%s\nwant:\n%s", out, wantTable)
	}
	if out := mustRun(t, a, "network", "vnet", "list", "-g", "rg1", "-o", "table"); out != wantTable {
		t.Errorf("list table:\n%s\nwant:\n%s", out, wantTable)
	}

	// tsv: values of the (sorted) members, lists as their length, objects empty.
	out = mustRun(t, a, "network", "vnet", "show", "-g", "rg1", "-n", "vnet1", "-o", "tsv")
	fields := strings.Split(strings.TrimSuffix(out, "\n"), "\t")
	keys := []string{"addressSpace", "enableDdosProtection", "enableVmProtection", "etag", "id", "location", "name", "provisioningState",
		"resourceGroup", "resourceGuid", "subnets", "tags", "type"}
	if len(fields) != len(keys) {
		t.Fatalf("tsv has %d fields, want %d: %q", len(fields), len(keys), out)
	}
	want := map[string]string{"addressSpace": "", "enableDdosProtection": "False", "enableVmProtection": "False", "location": "westeurope", "name": "vnet1", "provisioningState": "Succeeded",
		"resourceGroup": "rg1", "subnets": "1", "tags": "", "type": "Microsoft.Network/virtualNetworks", "id": netPath + "/virtualNetworks/vnet1"}
	for i, k := range keys {
		if w, ok := want[k]; ok && fields[i] != w {
			t.Errorf("tsv field %s = %q, want %q", k, fields[i], w)
		}
	}

	if out := mustRun(t, a, "network", "vnet", "show", "-g", "rg1", "-n", "vnet1", "-o", "none"); out != "" {
		t.Errorf("-o none printed %q", out)
	}
	if out := mustRun(t, a, "network", "vnet", "show", "-g", "rg1", "-n", "vnet1", "-o", "jsonc"); !strings.Contains(out, "\x1b[") {
		t.Errorf("jsonc is not coloured: %q", out)
	}

	// --query
	if out := mustRun(t, a, "network", "vnet", "show", "-g", "rg1", "-n", "vnet1", "--query", "provisioningState", "-o", "tsv"); out != "Succeeded\n" {
		t.Errorf("--query provisioningState -o tsv = %q", out)
	}
	out = mustRun(t, a, "network", "vnet", "list", "-g", "rg1", "--query", "[].{Name:name, Prefix:addressSpace.addressPrefixes[0], Sub:subnets[0].name}", "-o", "table")
	wantQ := "Name   Prefix       Sub\n-----  -----------  -------------\nvnet1  10.1.0.0/16  GatewaySubnet\n"
	if out != wantQ {
		t.Errorf("--query table:\n%s\nwant:\n%s", out, wantQ)
	}
	out = mustRun(t, a, "group", "show", "-n", "rg1", "-o", "json")
	if !strings.Contains(out, `"properties": {`) {
		t.Errorf("resource groups keep properties (as az prints them):\n%s", out)
	}
}

func TestExitCodesAndErrors(t *testing.T) {
	a := newTestAPI(t)
	seed(t, a)
	gwID := netPath + "/virtualNetworkGateways/gw1"
	// The gateway's references exist, so its PUT is accepted; the
	// Provisioner fails its operation.
	mustRun(t, a, "network", "vnet", "create", "-g", "rg1", "-n", "v", "--subnet-name", "GatewaySubnet", "--subnet-prefixes", "10.0.255.0/27", "-o", "none")
	mustRun(t, a, "network", "public-ip", "create", "-g", "rg1", "-n", "p", "-o", "none")
	a.prov.Fail(gwID, &armerr.Error{Code: "GatewaySubnetInvalid", Message: "A gateway must be deployed in the subnet named exactly GatewaySubnet.",
		Target: "properties.ipConfigurations[0].properties.subnet.id"})
	a.reqs()

	tests := []struct {
		name       string
		args       []string
		code       int
		stderr     []string
		stdoutNone bool
	}{
		{"show missing", []string{"network", "vnet", "show", "-g", "rg1", "-n", "nope"}, ExitNotFound,
			[]string{"ERROR: (ResourceNotFound) The Resource"}, true},
		{"delete missing", []string{"network", "vnet", "delete", "-g", "rg1", "-n", "nope"}, ExitOK, nil, true},
		{"api error", []string{"network", "public-ip", "create", "-g", "rg1", "-n", "bad", "--allocation-method", "Dynamic"}, ExitError,
			[]string{"ERROR: (InvalidParameter) A Standard SKU", "\nTarget: properties.publicIPAllocationMethod\n"}, true},
		{"operation failed", []string{"network", "vnet-gateway", "create", "-g", "rg1", "-n", "gw1", "--vnet", "v", "--public-ip-addresses", "p"}, ExitError,
			[]string{"ERROR: (GatewaySubnetInvalid) A gateway must be deployed in the subnet named exactly GatewaySubnet.", "Target: properties.ipConfigurations[0]"}, true},
		{"missing required", []string{"network", "vnet", "show", "-n", "x"}, ExitUsage,
			[]string{"ERROR: the following arguments are required: --resource-group/-g"}, true},
		{"unknown flag", []string{"network", "vnet", "show", "-g", "rg1", "-n", "x", "--bogus"}, ExitUsage, []string{"unknown flag: --bogus"}, true},
		{"bad enum", []string{"network", "vnet-gateway", "create", "-g", "rg1", "-n", "x", "--vnet", "v", "--vpn-type", "Dynamic"}, ExitUsage,
			[]string{"allowed values: PolicyBased, RouteBased"}, true},
		{"stray argument", []string{"network", "vnet", "show", "-g", "rg1", "-n", "x", "extra"}, ExitUsage, []string{"unrecognized arguments: extra"}, true},
		{"bad id", []string{"network", "vpn-connection", "create", "-g", "rg1", "-n", "c", "--vnet-gateway1", "/subscriptions/x/bogus", "--local-gateway2", "l"}, ExitUsage,
			[]string{"--vnet-gateway1"}, true},
		{"wrong id type", []string{"network", "vpn-connection", "create", "-g", "rg1", "-n", "c", "--vnet-gateway1", netPath + "/localNetworkGateways/l", "--local-gateway2", "l"}, ExitUsage,
			[]string{"not the ID of a virtualNetworkGateways resource"}, true},
		{"both peers", []string{"network", "vpn-connection", "create", "-g", "rg1", "-n", "c", "--vnet-gateway1", "g", "--local-gateway2", "l", "--vnet-gateway2", "g2"}, ExitUsage,
			[]string{"exactly one of --local-gateway2"}, true},
		{"unknown subcommand", []string{"network", "vnet", "frobnicate"}, ExitUsage, []string{"'frobnicate' is misspelled"}, true},
		{"unknown command", []string{"frobnicate"}, ExitUsage, []string{`unknown command "frobnicate"`}, true},
		{"bad query", []string{"network", "vnet", "list", "-g", "rg1", "--query", "[?name=='x'"}, ExitUsage, []string{"--query"}, true},
		{"group delete without --yes", []string{"group", "delete", "-n", "rg1"}, ExitUsage, []string{"use --yes"}, true},
		{"list missing group", []string{"network", "vnet-gateway", "list"}, ExitUsage, []string{"--resource-group/-g"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, a, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstderr: %s", code, tt.code, errOut)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr %q lacks %q", errOut, s)
				}
			}
			if tt.stderr == nil && errOut != "" {
				t.Errorf("stderr %q, want nothing", errOut)
			}
			if tt.stdoutNone && out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
	if w := writes(a.reqs()); len(w) != 3 {
		// public-ip bad, gateway create and vnet delete (204) reached the server;
		// usage errors must not.
		t.Errorf("requests that reached the server: %v", w)
	}
}

func TestNetworkErrorExitsOne(t *testing.T) {
	a := newTestAPI(t)
	url := a.srv.URL
	a.srv.Close()
	var out, errOut bytes.Buffer
	code := Main([]string{"network", "vnet", "list", "--server", url}, strings.NewReader(""), &out, &errOut)
	if code != ExitError || !strings.Contains(errOut.String(), "ERROR: cannot reach the vpngw API at "+url) {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestUpdateUsesIfMatch(t *testing.T) {
	a := newTestAPI(t)
	seed(t, a)
	mustRun(t, a, "network", "local-gateway", "create", "-g", "rg1", "-n", "site1", "--gateway-ip-address", "203.0.113.10",
		"--local-address-prefixes", "192.168.0.0/16", "--tags", "keep=me")
	var lgw map[string]any
	json.Unmarshal([]byte(mustRun(t, a, "network", "local-gateway", "show", "-g", "rg1", "-n", "site1")), &lgw)
	etag, _ := lgw["etag"].(string)
	if etag == "" {
		t.Fatalf("local gateway has no etag: %v", lgw)
	}
	a.reqs()

	mustRun(t, a, "network", "local-gateway", "update", "-g", "rg1", "-n", "site1", "--local-address-prefixes", "10.50.0.0/16", "10.51.0.0/16")
	r := a.reqs()
	if w := writes(r); len(w) != 1 || r[0].Method != "GET" {
		t.Fatalf("update requests %v, want GET then one PUT", r)
	}
	put := find(t, r, "PUT", netPath+"/localNetworkGateways/site1")
	if put.Header.Get("If-Match") != etag {
		t.Errorf("If-Match %q, want the etag read (%q)", put.Header.Get("If-Match"), etag)
	}
	if got := lookup(put.Body, "properties.localNetworkAddressSpace.addressPrefixes"); !reflect.DeepEqual(got, []any{"10.50.0.0/16", "10.51.0.0/16"}) {
		t.Errorf("prefixes %v", got)
	}
	if lookup(put.Body, "properties.gatewayIpAddress") != "203.0.113.10" || lookup(put.Body, "tags.keep") != "me" {
		t.Errorf("update lost fields it did not change: %v", put.Body)
	}

	// Someone changes the resource between our GET and PUT: 412.
	a.beforeNext("PUT", netPath+"/localNetworkGateways/site1", func() {
		// Runs in the server's goroutine: report, do not stop the test.
		if code, _, errOut := run(t, a, "network", "local-gateway", "update", "-g", "rg1", "-n", "site1", "--tags", "changed=yes", "-o", "none"); code != 0 {
			t.Errorf("the concurrent update failed: exit %d, %s", code, errOut)
		}
	})
	code, _, errOut := run(t, a, "network", "local-gateway", "update", "-g", "rg1", "-n", "site1", "--gateway-ip-address", "203.0.113.11")
	if code != ExitError || !strings.Contains(errOut, "(PreconditionFailed)") || !strings.Contains(errOut, "changed by someone else") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestGatewayUpdateAndActiveActive(t *testing.T) {
	a := newTestAPI(t)
	seed(t, a)
	otherRG := "/subscriptions/" + testSub + "/resourceGroups/rg2/providers/Microsoft.Network/publicIPAddresses/pipB"
	mustRun(t, a, "network", "vnet", "create", "-g", "rg1", "-n", "vnet1", "--subnet-name", "GatewaySubnet", "--subnet-prefixes", "10.0.255.0/27", "-o", "none")
	mustRun(t, a, "network", "public-ip", "create", "-g", "rg1", "-n", "pipA", "-o", "none")
	mustRun(t, a, "group", "create", "-n", "rg2", "-l", "westeurope", "-o", "none")
	mustRun(t, a, "network", "public-ip", "create", "-g", "rg2", "-n", "pipB", "-o", "none")
	a.reqs()
	mustRun(t, a, "network", "vnet-gateway", "create", "-g", "rg1", "-n", "gw1", "--vnet", "vnet1",
		"--public-ip-addresses", "pipA", otherRG, "--sku", "VpnGw2AZ", "--enable-bgp", "false", "--asn", "65001")
	put := find(t, a.reqs(), "PUT", netPath+"/virtualNetworkGateways/gw1")
	if lookup(put.Body, "properties.activeActive") != true || lookup(put.Body, "properties.enableBgp") != false {
		t.Errorf("two public IPs must make activeActive, explicit --enable-bgp false wins: %v", put.Body["properties"])
	}
	cfgs := lookup(put.Body, "properties.ipConfigurations").([]any)
	if len(cfgs) != 2 || lookup(cfgs[1], "name") != "vnetGatewayConfig1" || lookup(cfgs[1], "properties.publicIPAddress.id") != otherRG {
		t.Errorf("ipConfigurations %v", cfgs)
	}

	mustRun(t, a, "network", "vnet-gateway", "update", "-g", "rg1", "-n", "gw1", "--public-ip-addresses", "pipA", "--sku", "VpnGw3AZ", "--enable-bgp", "--peer-weight", "7")
	put = find(t, a.reqs(), "PUT", netPath+"/virtualNetworkGateways/gw1")
	props := put.Body["properties"].(map[string]any)
	if props["activeActive"] != false || len(props["ipConfigurations"].([]any)) != 1 || lookup(props, "sku.name") != "VpnGw3AZ" ||
		props["enableBgp"] != true || lookup(props, "bgpSettings.peerWeight") != float64(7) || lookup(props, "bgpSettings.asn") != float64(65001) {
		t.Errorf("update body %v", props)
	}
	if lookup(props, "ipConfigurations").([]any)[0].(map[string]any)["name"] != "vnetGatewayConfig0" ||
		lookup(props["ipConfigurations"].([]any)[0], "properties.subnet.id") != netPath+"/virtualNetworks/vnet1/subnets/GatewaySubnet" {
		t.Errorf("ipConfiguration lost its name or subnet: %v", props["ipConfigurations"])
	}

	vip := strings.TrimSpace(mustRun(t, a, "network", "public-ip", "show", "-g", "rg1", "-n", "pipA", "--query", "ipAddress", "-o", "tsv"))
	mustRun(t, a, "network", "vnet-gateway", "reset", "-g", "rg1", "-n", "gw1", "--gateway-vip", vip, "-o", "none")
	post := find(t, a.reqs(), "POST", netPath+"/virtualNetworkGateways/gw1/reset")
	if vip == "" || !strings.Contains(post.Query, "gatewayVip="+vip) {
		t.Errorf("reset query %q", post.Query)
	}
}

func TestConnectionSecrets(t *testing.T) {
	a := newTestAPI(t)
	seed(t, a)
	seedGateway(t, a, "gw1", "vnet1", "pip1", 1)
	mustRun(t, a, "network", "local-gateway", "create", "-g", "rg1", "-n", "site1", "--gateway-ip-address", "203.0.113.10",
		"--local-address-prefixes", "192.168.0.0/16", "-o", "none")
	const secret = "Sup3rSecretPSK"
	mustRun(t, a, "network", "vpn-connection", "create", "-g", "rg1", "-n", "conn1", "--vnet-gateway1", "gw1", "--local-gateway2", "site1", "--shared-key", secret)
	// The API returns the key only from the sharedkey sub-resource; no
	// other command may print it. (That the CLI also drops a key a server
	// echoed in a resource body is TestAzShape's.)
	for _, args := range [][]string{
		{"network", "vpn-connection", "show", "-g", "rg1", "-n", "conn1"},
		{"network", "vpn-connection", "list", "-g", "rg1", "-o", "tsv"},
		{"network", "vnet-gateway", "list-connections", "-g", "rg1", "-n", "gw1"},
		{"network", "vpn-connection", "update", "-g", "rg1", "-n", "conn1", "--dpd-timeout", "20", "--debug"},
	} {
		_, out, errOut := run(t, a, args...)
		if strings.Contains(out, secret) || strings.Contains(errOut, secret) {
			t.Errorf("%v printed the shared key:\n%s\n%s", args, out, errOut)
		}
	}
	a.reqs()

	out := mustRun(t, a, "network", "vpn-connection", "shared-key", "show", "-g", "rg1", "--connection-name", "conn1", "--query", "value", "-o", "tsv")
	if out != secret+"\n" {
		t.Errorf("shared-key show = %q", out)
	}
	_, _, errOut := run(t, a, "network", "vpn-connection", "shared-key", "update", "-g", "rg1", "--connection-name", "conn1", "--value", "N3wKey", "--debug", "-o", "none")
	put := find(t, a.reqs(), "PUT", netPath+"/connections/conn1/sharedkey")
	sameJSON(t, "sharedkey", put.Body, `{"value":"N3wKey"}`)
	if !strings.Contains(errOut, "method=PUT") || !strings.Contains(errOut, "/connections/conn1/sharedkey") || strings.Contains(errOut, "N3wKey") {
		t.Errorf("--debug log must name method and URL but never bodies:\n%s", errOut)
	}
	conn := netPath + "/connections/conn1"
	a.holdPolls(conn+"/sharedkey/reset", conn, 1)
	mustRun(t, a, "network", "vpn-connection", "shared-key", "reset", "-g", "rg1", "--connection-name", "conn1", "--key-length", "64", "-o", "none")
	r := a.reqs()
	post := find(t, r, "POST", conn+"/sharedkey/reset")
	sameJSON(t, "reset", post.Body, `{"keyLength":64}`)
	if n := polls(r); n != 2 {
		t.Errorf("reset polled the operation %d times, want 2 (InProgress, Succeeded)", n)
	}
	if ps := mustRun(t, a, "network", "vpn-connection", "show", "-g", "rg1", "-n", "conn1", "--query", "provisioningState", "-o", "tsv"); ps != "Succeeded\n" {
		t.Errorf("reset did not wait for its operation: provisioningState %q", ps)
	}
	key := mustRun(t, a, "network", "vpn-connection", "shared-key", "show", "-g", "rg1", "--connection-name", "conn1", "--query", "value", "-o", "tsv")
	if key = strings.TrimSuffix(key, "\n"); len(key) != 64 || key == "N3wKey" {
		t.Errorf("key after reset %q, want a new key of 64 characters", key)
	}
}

func TestIpsecPolicy(t *testing.T) {
	a := newTestAPI(t)
	seed(t, a)
	seedGateway(t, a, "gw1", "vnet1", "pip1", 1)
	seedGateway(t, a, "gw2", "vnet2", "pip2", 2)
	mustRun(t, a, "network", "vpn-connection", "create", "-g", "rg1", "-n", "conn1", "--vnet-gateway1", "gw1", "--vnet-gateway2", "gw2")
	put := find(t, a.reqs(), "PUT", netPath+"/connections/conn1")
	if lookup(put.Body, "properties.connectionType") != "Vnet2Vnet" || lookup(put.Body, "properties.virtualNetworkGateway2.id") != netPath+"/virtualNetworkGateways/gw2" {
		t.Errorf("vnet2vnet body %v", put.Body)
	}
	mustRun(t, a, "network", "vpn-connection", "ipsec-policy", "add", "-g", "rg1", "--connection-name", "conn1",
		"--ike-encryption", "aes256", "--ike-integrity", "SHA384", "--dh-group", "DHGroup14", "--ipsec-encryption", "GCMAES256",
		"--ipsec-integrity", "GCMAES256", "--pfs-group", "PFS2048", "--sa-lifetime", "27000", "--sa-max-size", "102400000", "-o", "none")
	put = find(t, a.reqs(), "PUT", netPath+"/connections/conn1")
	pol := lookup(put.Body, "properties.ipsecPolicies").([]any)
	if len(pol) != 1 {
		t.Fatalf("ipsecPolicies %v", pol)
	}
	sameJSON(t, "ipsec policy", pol[0].(map[string]any), `{"ikeEncryption":"AES256","ikeIntegrity":"SHA384","dhGroup":"DHGroup14",
		"ipsecEncryption":"GCMAES256","ipsecIntegrity":"GCMAES256","pfsGroup":"PFS2048","saLifeTimeSeconds":27000,"saDataSizeKilobytes":102400000}`)
	if put.Header.Get("If-Match") == "" {
		t.Errorf("ipsec-policy add must use If-Match")
	}
	out := mustRun(t, a, "network", "vpn-connection", "ipsec-policy", "list", "-g", "rg1", "--connection-name", "conn1", "-o", "table")
	want := "IkeEncryption  IkeIntegrity  DhGroup    IpsecEncryption  IpsecIntegrity  PfsGroup  SaLifeTimeSeconds  SaDataSizeKilobytes\n" +
		"-------------  ------------  ---------  ---------------  --------------  --------  -----------------  -------------------\n" +
		"AES256         SHA384        DHGroup14  GCMAES256        GCMAES256       PFS2048   27000              102400000\n"
	if out != want {
		t.Errorf("ipsec-policy list:\n%s\nwant:\n%s", out, want)
	}
	code, _, errOut := run(t, a, "network", "vpn-connection", "ipsec-policy", "add", "-g", "rg1", "--connection-name", "conn1", "--ike-encryption", "AES256")
	if code != ExitUsage || !strings.Contains(errOut, "--ike-integrity") {
		t.Errorf("partial policy: exit %d, %s", code, errOut)
	}
	mustRun(t, a, "network", "vpn-connection", "ipsec-policy", "clear", "-g", "rg1", "--connection-name", "conn1", "-o", "none")
	put = find(t, a.reqs(), "PUT", netPath+"/connections/conn1")
	if l := lookup(put.Body, "properties.ipsecPolicies").([]any); len(l) != 0 {
		t.Errorf("clear left %v", l)
	}
}

func TestAzArgumentConventions(t *testing.T) {
	a := newTestAPI(t)
	seed(t, a)
	code, _, errOut := run(t, a, "network", "vnet", "create", "-g", "rg1", "-n", "v", "--subnet-name", "s", "--subnet-prefix", "10.0.1.0/24", "-o", "none")
	if code != 0 || !strings.Contains(errOut, "WARNING: Argument '--subnet-prefix' has been deprecated") {
		t.Errorf("deprecated alias: exit %d, stderr %q", code, errOut)
	}
	put := find(t, a.reqs(), "PUT", netPath+"/virtualNetworks/v")
	if lookup(put.Body, "properties.subnets").([]any)[0].(map[string]any)["properties"].(map[string]any)["addressPrefix"] != "10.0.1.0/24" {
		t.Errorf("alias value lost: %v", put.Body)
	}
	if lookup(put.Body, "properties.addressSpace.addressPrefixes").([]any)[0] != "10.0.0.0/16" {
		t.Errorf("az's default address prefix missing: %v", put.Body)
	}
	_, _, errOut = run(t, a, "network", "vnet", "create", "-g", "rg1", "-n", "v", "--subnet-name", "s", "--subnet-prefix", "10.0.1.0/24", "-o", "none", "--only-show-errors")
	if errOut != "" {
		t.Errorf("--only-show-errors printed %q", errOut)
	}
	a.reqs()
	mustRun(t, a, "network", "vnet", "update", "-g", "rg1", "-n", "v", "--dns-servers", "", "--tags", "x=1", "y", "-o", "none")
	put = find(t, a.reqs(), "PUT", netPath+"/virtualNetworks/v")
	if d := lookup(put.Body, "properties.dhcpOptions.dnsServers").([]any); len(d) != 0 {
		t.Errorf(`--dns-servers "" must clear: %v`, d)
	}
	if !reflect.DeepEqual(put.Body["tags"], map[string]any{"x": "1", "y": ""}) {
		t.Errorf("tags %v", put.Body["tags"])
	}
	// --subscription: names resolve in it.
	const otherSub = "11111111-2222-3333-4444-555555555555"
	for _, args := range [][]string{
		{"group", "create", "-n", "rg1", "-l", "westeurope"},
		{"network", "vnet", "create", "-g", "rg1", "-n", "v", "--subnet-name", "GatewaySubnet", "--subnet-prefixes", "10.0.255.0/27"},
		{"network", "public-ip", "create", "-g", "rg1", "-n", "p"},
		{"network", "vnet-gateway", "create", "-g", "rg1", "-n", "gw", "--vnet", "v", "--public-ip-addresses", "p"},
		{"network", "local-gateway", "create", "-g", "rg1", "-n", "l", "--gateway-ip-address", "203.0.113.10", "--local-address-prefixes", "192.168.0.0/16"},
	} {
		mustRun(t, a, append(args, "--subscription", otherSub, "-o", "none")...)
	}
	a.reqs()
	mustRun(t, a, "network", "vpn-connection", "create", "-g", "rg1", "-n", "c", "--vnet-gateway1", "gw", "--local-gateway2", "l",
		"-l", "westeurope", "--subscription", otherSub, "-o", "none")
	const other = "/subscriptions/" + otherSub + "/resourceGroups/rg1/providers/Microsoft.Network"
	put = find(t, a.reqs(), "PUT", other+"/connections/c")
	if lookup(put.Body, "properties.virtualNetworkGateway1.id") != other+"/virtualNetworkGateways/gw" {
		t.Errorf("names must resolve in --subscription: %v", put.Body)
	}
}

func TestGroupCommands(t *testing.T) {
	a := newTestAPI(t)
	seed(t, a)
	if out := mustRun(t, a, "group", "exists", "-n", "rg1"); out != "true\n" {
		t.Errorf("exists = %q", out)
	}
	if out := mustRun(t, a, "group", "exists", "-g", "nope"); out != "false\n" {
		t.Errorf("exists = %q", out)
	}
	want := "Name  Location    ProvisioningState\n----  ----------  -----------------\nrg1   westeurope  Succeeded\n"
	if out := mustRun(t, a, "group", "list", "-o", "table"); out != want {
		t.Errorf("group list:\n%s\nwant:\n%s", out, want)
	}
	a.reqs()
	mustRun(t, a, "group", "delete", "-n", "rg1", "--yes")
	if w := writes(a.reqs()); !reflect.DeepEqual(w, []string{"DELETE /subscriptions/" + testSub + "/resourcegroups/rg1"}) {
		t.Errorf("group delete requests %v", w)
	}
	if code, _, _ := run(t, a, "group", "show", "-n", "rg1"); code != ExitNotFound {
		t.Errorf("show of a deleted group exits %d, want %d", code, ExitNotFound)
	}
}

func TestWaitCommand(t *testing.T) {
	a := newTestAPI(t)
	seed(t, a)
	mustRun(t, a, "network", "vnet", "create", "-g", "rg1", "-n", "v", "--subnet-name", "GatewaySubnet", "--subnet-prefixes", "10.0.255.0/27", "-o", "none")
	mustRun(t, a, "network", "public-ip", "create", "-g", "rg1", "-n", "p", "-o", "none")
	gate := a.prov.Hold(netPath + "/virtualNetworkGateways/gw1")
	mustRun(t, a, "network", "vnet-gateway", "create", "-g", "rg1", "-n", "gw1", "--vnet", "v", "--public-ip-addresses", "p", "--no-wait")
	// The operation finishes later (nobody polls it); wait must keep polling
	// the gateway until its provisioningState is Succeeded.
	go func() {
		time.Sleep(1500 * time.Millisecond)
		gate.Release()
	}()
	start := time.Now()
	mustRun(t, a, "network", "vnet-gateway", "wait", "-g", "rg1", "-n", "gw1", "--created", "--interval", "1", "--timeout", "10")
	if d := time.Since(start); d < time.Second {
		t.Errorf("wait returned after %v, before the gateway was provisioned", d)
	}
	mustRun(t, a, "network", "vnet-gateway", "wait", "-g", "rg1", "-n", "gone", "--deleted", "--timeout", "5")
	code, _, errOut := run(t, a, "network", "vnet-gateway", "wait", "-g", "rg1", "-n", "gw1")
	if code != ExitUsage || !strings.Contains(errOut, "--created") {
		t.Errorf("wait without a condition: exit %d, %s", code, errOut)
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	for _, args := range [][]string{
		{"network", "vnet", "create", "--help"},
		{"network", "vnet", "create", "-h"},
		{"network", "vpn-connection", "shared-key"},
		{"network"},
	} {
		code, out, _ := run(t, nil, args...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: exit %d, output %q", args, code, out)
		}
	}
	_, out, _ := run(t, nil, "network", "vnet-gateway", "create", "--help")
	for _, s := range []string{"[Required] Name or ID of an existing virtual network", "--public-ip-addresses", "--no-wait", "Global Flags:", "--subscription"} {
		if !strings.Contains(out, s) {
			t.Errorf("vnet-gateway create --help lacks %q", s)
		}
	}
}

func TestVpnClientIpsecPolicy(t *testing.T) {
	a := newTestAPI(t)
	seed(t, a)
	seedGateway(t, a, "gw1", "vnet1", "pip1", 1)
	mustRun(t, a, "network", "vnet-gateway", "update", "-g", "rg1", "-n", "gw1", "--address-prefixes", "172.16.0.0/24",
		"--client-protocol", "IkeV2", "--vpn-auth-type", "Radius", "--radius-server", "10.9.9.9", "--radius-secret", "RadSecret1", "-o", "none")
	a.reqs()
	out := mustRun(t, a, "network", "vnet-gateway", "vpn-client", "ipsec-policy", "show", "-g", "rg1", "-n", "gw1", "-o", "json")
	if !strings.Contains(out, `"default": true`) {
		t.Errorf("show without a policy: %s", out)
	}
	out = mustRun(t, a, "network", "vnet-gateway", "vpn-client", "ipsec-policy", "set", "-g", "rg1", "-n", "gw1",
		"--ike-encryption", "aes256", "--ike-integrity", "SHA384", "--dh-group", "ECP384", "--ipsec-encryption", "GCMAES256",
		"--ipsec-integrity", "GCMAES256", "--pfs-group", "None", "--sa-lifetime", "3600", "--sa-max-size", "102400", "-o", "json")
	post := find(t, a.reqs(), "POST", netPath+"/virtualNetworkGateways/gw1/setvpnclientipsecparameters")
	sameJSON(t, "set body", post.Body, `{"ikeEncryption":"AES256","ikeIntegrity":"SHA384","dhGroup":"ECP384",
		"ipsecEncryption":"GCMAES256","ipsecIntegrity":"GCMAES256","pfsGroup":"None","saLifeTimeSeconds":3600,"saDataSizeKilobytes":102400}`)
	if !strings.Contains(out, `"ikeEncryption": "AES256"`) || strings.Contains(out, "default") {
		t.Errorf("set printed %s", out)
	}
	out = mustRun(t, a, "network", "vnet-gateway", "vpn-client", "ipsec-policy", "show", "-g", "rg1", "-n", "gw1", "-o", "tsv", "--query", "ipsecEncryption")
	if strings.TrimSpace(out) != "GCMAES256" {
		t.Errorf("show: %q", out)
	}
	code, _, errOut := run(t, a, "network", "vnet-gateway", "vpn-client", "ipsec-policy", "set", "-g", "rg1", "-n", "gw1",
		"--ike-encryption", "AES256", "--ike-integrity", "SHA384", "--dh-group", "ECP384", "--ipsec-encryption", "GCMAES256",
		"--ipsec-integrity", "SHA256", "--pfs-group", "None", "--sa-lifetime", "3600", "--sa-max-size", "102400")
	if code == 0 || !strings.Contains(errOut, "ipsecIntegrity") {
		t.Errorf("GCM mismatch: exit %d, %s", code, errOut)
	}
	mustRun(t, a, "network", "vnet-gateway", "vpn-client", "ipsec-policy", "clear", "-g", "rg1", "-n", "gw1", "-o", "none")
	put := find(t, a.reqs(), "PUT", netPath+"/virtualNetworkGateways/gw1")
	if l := lookup(put.Body, "properties.vpnClientConfiguration.vpnClientIpsecPolicies").([]any); len(l) != 0 {
		t.Errorf("clear left %v", l)
	}
	if out := mustRun(t, a, "network", "vnet-gateway", "vpn-client", "ipsec-policy", "show", "-g", "rg1", "-n", "gw1", "-o", "json"); !strings.Contains(out, `"default": true`) {
		t.Errorf("show after clear: %s", out)
	}
}
