package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/lab"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// labResolver resolves vnet1 in resource group rg of the default
// subscription: 10.1.0.0/16 with GatewaySubnet and apps.
type labResolver struct{}

func (labResolver) ResolveVNet(_ context.Context, sub, rg, name string) (lab.VNetSpec, error) {
	if sub != resource.DefaultSubscription || rg != "rg" || name != "vnet1" {
		return lab.VNetSpec{}, resource.Errorf(resource.CodeResourceNotFound, "", "virtual network %s/%s/%s not found", sub, rg, name).WithStatus(http.StatusNotFound)
	}
	id := resource.ID{Subscription: sub, ResourceGroup: rg, Type: resource.TypeVirtualNetworks, Name: name}
	return lab.VNetSpec{
		ID:           id.String(),
		AddressSpace: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")},
		Subnets: []lab.SubnetSpec{
			{Name: "GatewaySubnet", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.1.255.0/27")}},
			{Name: "apps", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.1.1.0/24")}},
		},
	}, nil
}

// labServer serves the lab API of a fresh lab with a unique prefix and
// tears the lab down when the test ends.
func labServer(t *testing.T) (url, prefix string, l *lab.Lab) {
	t.Helper()
	nstest.RequirePriv(t)
	var b [3]byte
	rand.Read(b[:])
	prefix = "vlab" + hex.EncodeToString(b[:])
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Prefix: prefix, PublicIPPool: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(signedIn(t, lab.Handler(l, labResolver{})))
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := l.Down(ctx); err != nil {
			t.Errorf("lab down: %v", err)
		}
		l.Close()
	})
	return srv.URL, prefix, l
}

// labRun runs vpngw with stdin and returns the exit code, stdout, stderr.
func labRun(stdin string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestLabCommands(t *testing.T) {
	url, prefix, l := labServer(t)
	common := []string{"--server", url, "--lab-prefix", prefix}
	ok := func(args ...string) map[string]any {
		t.Helper()
		code, out, errOut := labRun("", append(args, common...)...)
		if code != 0 {
			t.Fatalf("vpngw %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("vpngw %s: output %q: %v", strings.Join(args, " "), out, err)
		}
		return m
	}

	site := ok("lab", "site", "create", "-n", "s1", "--public-ip", "192.0.2.20", "--address-prefixes", "10.60.0.0/16", "10.61.0.0/16")
	for k, want := range map[string]string{"publicIp": "192.0.2.20", "deviceIp": "10.60.0.1", "hostIp": "10.60.0.2", "namespace": prefix + "-site-s1"} {
		if site[k] != want {
			t.Errorf("site create: %s = %v, want %s", k, site[k], want)
		}
	}
	cl := ok("lab", "client", "create", "-n", "Laptop1", "--public-ip", "192.0.2.30")
	if cl["publicIp"] != "192.0.2.30" || cl["namespace"] != prefix+"-client-laptop1" {
		t.Errorf("client create = %v", cl)
	}
	vm := ok("lab", "vm", "create", "-g", "rg", "--vnet", "vnet1", "--subnet", "apps", "-n", "vm1")
	if vm["ipAddress"] != "10.1.1.4" || vm["namespace"] != (lab.Names{Prefix: prefix}).VM("rg", "vm1") {
		t.Errorf("vm create = %v", vm)
	}
	if got := ok("lab", "vm", "show", "-g", "RG", "-n", "VM1"); got["ipAddress"] != "10.1.1.4" {
		t.Errorf("vm show = %v", got)
	}

	for _, c := range []struct {
		stdin  string
		args   []string
		code   int
		stdout string // contained in stdout
		stderr string // contained in stderr
	}{
		{args: []string{"lab", "exec", "site/s1/host", "--", "ping", "-c1", "-W2", "10.60.0.1"}, code: 0},
		// A client reaches the site over the internet; it has wan0 and
		// no LAN.
		{args: []string{"lab", "exec", "client/laptop1", "--", "ping", "-c1", "-W2", "192.0.2.20"}, code: 0},
		{args: []string{"lab", "exec", "client/laptop1", "--", "sh", "-c", "ip -o link | grep -q ' wan0@' && ! ip -o link | grep -v -e ' lo:' -e ' wan0@'"}, code: 0},
		{args: []string{"lab", "client", "create", "-n", "laptop2", "--public-ip", "192.0.2.20"}, code: ExitError, stderr: "(Conflict)"},
		{args: []string{"lab", "client", "list", "--query", "[].publicIp", "-o", "tsv"}, code: 0, stdout: "192.0.2.30"},
		{args: []string{"lab", "client", "show", "-n", "LAPTOP1", "--query", "namespace", "-o", "tsv"}, code: 0, stdout: prefix + "-client-laptop1"},
		{args: []string{"lab", "exec", "site/s1", "--", "sh", "-c", "exit 7"}, code: 7},
		{args: []string{"lab", "exec", "site/s1", "--", "sh", "-c", "kill -TERM $$"}, code: 128 + 15},
		{stdin: "through stdin\n", args: []string{"lab", "exec", "site/S1", "--", "cat"}, code: 0, stdout: "through stdin"},
		{args: []string{"lab", "exec", "vm/vm1", "-g", "rg", "--", "ip", "-4", "-o", "addr", "show", "dev", "eth0"}, code: 0, stdout: "10.1.1.4/24"},
		{args: []string{"lab", "exec", "vm/VM1", "--", "ip", "route", "show", "default"}, code: 0, stdout: "via 10.1.1.1"},
		{args: []string{"lab", "exec", "vm/nope", "--", "true"}, code: ExitNotFound, stderr: "no lab VM is named nope"},
		{args: []string{"lab", "exec", "vm/vm1", "-g", "other", "--", "true"}, code: ExitNotFound, stderr: "does not exist"},
		{args: []string{"lab", "exec", "gw/gw1", "--", "true"}, code: ExitUsage, stderr: "-g"},
		{args: []string{"lab", "exec", "planet/x", "--", "true"}, code: ExitUsage, stderr: "site/NAME"},
		{args: []string{"lab", "exec", "site/s1"}, code: ExitUsage, stderr: "COMMAND"},
		{args: []string{"lab", "exec", "site/s1", "ping", "-c1", "10.60.0.2"}, code: ExitUsage, stderr: "put --"},
		{args: []string{"lab", "site", "create", "-n", "s2", "--public-ip", "8.8.8.8", "--address-prefixes", "10.70.0.0/16"}, code: ExitError, stderr: "(InvalidParameter)"},
		{args: []string{"lab", "site", "create", "-n", "s2", "--public-ip", "198.51.100.9", "--address-prefixes", "10.70.0.0/16"}, code: ExitError, stderr: "pool"},
		{args: []string{"lab", "site", "create", "-n", "s2", "--public-ip", "192.0.2.20", "--address-prefixes", "10.70.0.0/16"}, code: ExitError, stderr: "(Conflict)"},
		{args: []string{"lab", "vm", "create", "-g", "rg", "--vnet", "nope", "--subnet", "apps", "-n", "vm2"}, code: ExitNotFound, stderr: "(ResourceNotFound)"},
		{args: []string{"lab", "vm", "create", "-g", "rg", "--vnet", "vnet1", "--subnet", "GatewaySubnet", "-n", "vm2"}, code: ExitError, stderr: "GatewaySubnet"},
		{args: []string{"lab", "vm", "create", "-g", "rg", "--vnet", "vnet1", "-n", "vm2"}, code: ExitUsage, stderr: "--subnet"},
		{args: []string{"lab", "vm", "show", "-g", "rg", "-n", "vm2"}, code: ExitNotFound},
		{args: []string{"lab", "vm", "list", "-o", "table"}, code: 0, stdout: "vm1"},
		{args: []string{"lab", "site", "list", "--query", "[].hostIp", "-o", "tsv"}, code: 0, stdout: "10.60.0.2"},
		{args: []string{"lab", "status", "-o", "table"}, code: 0, stdout: prefix + "-sitehost-s1"},
	} {
		args := append(append([]string{}, c.args...), common...)
		if c.args[1] == "exec" { // the flags go before the command
			args = append(append(append([]string{}, c.args[:3]...), common...), c.args[3:]...)
		}
		code, out, errOut := labRun(c.stdin, args...)
		if code != c.code || !strings.Contains(out, c.stdout) || !strings.Contains(errOut, c.stderr) {
			t.Errorf("vpngw %s: exit %d (want %d)\nstdout: %s\nstderr: %s", strings.Join(c.args, " "), code, c.code, out, errOut)
		}
	}

	st := ok("lab", "status")
	if vms, _ := st["vms"].([]any); len(vms) != 1 {
		t.Errorf("status vms = %v", st["vms"])
	}
	for _, args := range [][]string{{"lab", "vm", "delete", "-g", "rg", "-n", "vm1"}, {"lab", "vm", "delete", "-g", "rg", "-n", "vm1"}, {"lab", "site", "delete", "-n", "s1"}, {"lab", "client", "delete", "-n", "laptop1"}} {
		if code, _, errOut := labRun("", append(args, common...)...); code != 0 {
			t.Errorf("vpngw %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
	}
	if lab.Exists(vm["namespace"].(string)) || lab.Exists(prefix+"-site-s1") || lab.Exists(prefix+"-client-laptop1") {
		t.Errorf("namespaces survive delete")
	}
	ok("lab", "vm", "create", "-g", "rg", "--vnet", "vnet1", "--subnet", "apps", "-n", "vm3")
	if code, _, errOut := labRun("", append([]string{"lab", "down"}, common...)...); code != 0 {
		t.Errorf("lab down: exit %d: %s", code, errOut)
	}
	if st := l.Status(); len(st.VMs)+len(st.VNets) != 0 || lab.Exists((lab.Names{Prefix: prefix}).VM("rg", "vm3")) {
		t.Errorf("lab down left %+v", st)
	}
}

func TestLabDownLocal(t *testing.T) {
	nstest.RequirePriv(t)
	var b [3]byte
	rand.Read(b[:])
	prefix := "vlab" + hex.EncodeToString(b[:])
	dataDir := t.TempDir()
	l, err := lab.Open(lab.Options{Dir: dataDir + "/lab", Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t.Cleanup(func() {
		if l2, err := lab.Open(lab.Options{Dir: dataDir + "/lab", Prefix: prefix}); err == nil {
			l2.Down(ctx)
			l2.Close()
		}
	})
	if _, err := l.CreateSite(ctx, lab.SiteSpec{Name: "s", PublicIP: netip.MustParseAddr("192.0.2.30"), AddressPrefixes: []netip.Prefix{netip.MustParsePrefix("10.80.0.0/24")}}); err != nil {
		t.Fatal(err)
	}
	args := []string{"lab", "down", "--local", "--data-dir", dataDir, "--lab-prefix", prefix}
	// While a server (here: l) holds the lab, --local refuses.
	if code, _, errOut := labRun("", args...); code != ExitError || !strings.Contains(errOut, "without --local") {
		t.Errorf("down --local while locked: exit %d: %s", code, errOut)
	}
	l.Close()
	if code, _, errOut := labRun("", args...); code != 0 {
		t.Fatalf("down --local: exit %d: %s", code, errOut)
	}
	if lab.Exists(prefix+"-site-s") || lab.Exists(prefix+"-inet") {
		t.Errorf("down --local left namespaces")
	}
}
