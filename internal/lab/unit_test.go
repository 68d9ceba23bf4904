package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vpngw/vpngw/internal/armerr"
)

// These tests need no privileges: they exercise names, validation (which
// runs before anything touches a namespace), state files and the HTTP
// error shape.

func TestNames(t *testing.T) {
	n := Names{Prefix: "vpngw"}
	long := strings.Repeat("x", 200)
	for _, ns := range []string{n.Internet(), n.VNet(long), n.GatewayInstance(long, 7), n.VM(long, long), n.SiteDevice("a"), n.SiteHost("a")} {
		if !n.Owns(ns) {
			t.Errorf("%s is not owned by its lab", ns)
		}
		for _, kind := range []byte{'p', 'v'} {
			if name := routerIf(kind, ns); len(name) > 15 {
				t.Errorf("interface name %s longer than 15 bytes", name)
			}
		}
	}
	if name := bridgeName(long); len(name) > 15 {
		t.Errorf("bridge name %s too long", name)
	}
	// Keys are case-insensitive, names deterministic.
	if n.VNet("/A/b") != n.VNet("/a/B") || n.VM("RG", "Vm") != n.VM("rg", "vm") || n.SiteDevice("Site") != "vpngw-site-site" {
		t.Errorf("names depend on case")
	}
	if n.VM("rg", "a-b") == n.VM("rg-a", "b") {
		t.Errorf("VM names collide across groups")
	}
	if n.Owns("vpngwx-inet") || n.Owns("vpngw") || !n.Owns("vpngw-anything") {
		t.Errorf("Owns does not stop at the prefix boundary")
	}
	for p, ok := range map[string]bool{"vpngw": true, "vlab1a2b3c": true, "": false, "vpn-gw": false, "Vpngw": false, "1ab": false, "abcdefghijklmnopq": false} {
		if ValidPrefix(p) != ok {
			t.Errorf("ValidPrefix(%q) = %v", p, !ok)
		}
	}
	for s, ok := range map[string]bool{"onprem": true, "Branch-1": true, "a": true, "-a": false, "a-": false, "a_b": false, "a/b": false, strings.Repeat("a", 41): false} {
		if (checkSiteName(s) == nil) != ok {
			t.Errorf("checkSiteName(%q) = %v", s, checkSiteName(s))
		}
	}
}

func openUnpriv(t *testing.T) *Lab {
	t.Helper()
	l, err := Open(Options{Dir: t.TempDir(), Prefix: randomPrefix(t), PublicIPPool: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestValidationBeforeAnyChange(t *testing.T) {
	l := openUnpriv(t)
	ctx := context.Background()
	pfx := []netip.Prefix{netip.MustParsePrefix("10.50.0.0/16")}
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"site outside TEST-NET", func() error {
			_, err := l.CreateSite(ctx, SiteSpec{Name: "a", PublicIP: netip.MustParseAddr("8.8.8.8"), AddressPrefixes: pfx})
			return err
		}(), ErrInvalid},
		{"site in the API pool", func() error {
			_, err := l.CreateSite(ctx, SiteSpec{Name: "a", PublicIP: netip.MustParseAddr("198.51.100.7"), AddressPrefixes: pfx})
			return err
		}(), ErrInvalid},
		{"site prefix public", func() error {
			_, err := l.CreateSite(ctx, SiteSpec{Name: "a", PublicIP: netip.MustParseAddr("192.0.2.1"), AddressPrefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}})
			return err
		}(), ErrInvalid},
		{"site prefix multicast", func() error {
			_, err := l.CreateSite(ctx, SiteSpec{Name: "a", PublicIP: netip.MustParseAddr("192.0.2.1"), AddressPrefixes: []netip.Prefix{netip.MustParsePrefix("224.0.0.0/4")}})
			return err
		}(), ErrInvalid},
		{"site second prefix loopback", func() error {
			_, err := l.CreateSite(ctx, SiteSpec{Name: "a", PublicIP: netip.MustParseAddr("192.0.2.1"), AddressPrefixes: []netip.Prefix{pfx[0], netip.MustParsePrefix("127.0.0.0/8")}})
			return err
		}(), ErrInvalid},
		{"site prefix this network", func() error {
			_, err := l.CreateSite(ctx, SiteSpec{Name: "a", PublicIP: netip.MustParseAddr("192.0.2.1"), AddressPrefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/16")}})
			return err
		}(), ErrInvalid},
		{"site prefix class E", func() error {
			_, err := l.CreateSite(ctx, SiteSpec{Name: "a", PublicIP: netip.MustParseAddr("192.0.2.1"), AddressPrefixes: []netip.Prefix{netip.MustParsePrefix("240.0.0.0/16")}})
			return err
		}(), ErrInvalid},
		{"VNet multicast", l.EnsureVNet(ctx, VNetSpec{ID: "x", AddressSpace: []netip.Prefix{netip.MustParsePrefix("239.1.0.0/16")}}), ErrInvalid},
		{"site prefix too small", func() error {
			_, err := l.CreateSite(ctx, SiteSpec{Name: "a", PublicIP: netip.MustParseAddr("192.0.2.1"), AddressPrefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/31")}})
			return err
		}(), ErrInvalid},
		{"client outside TEST-NET", func() error {
			_, err := l.CreateClient(ctx, ClientSpec{Name: "c", PublicIP: netip.MustParseAddr("8.8.8.8")})
			return err
		}(), ErrInvalid},
		{"client in the API pool", func() error {
			_, err := l.CreateClient(ctx, ClientSpec{Name: "c", PublicIP: netip.MustParseAddr("198.51.100.7")})
			return err
		}(), ErrInvalid},
		{"bad client name", func() error {
			_, err := l.CreateClient(ctx, ClientSpec{Name: "-c", PublicIP: netip.MustParseAddr("192.0.2.1")})
			return err
		}(), ErrInvalid},
		{"unknown client", l.DeleteClient(ctx, "nope"), ErrNotFound},
		{"bad site name", func() error {
			_, err := l.CreateSite(ctx, SiteSpec{Name: "a b", PublicIP: netip.MustParseAddr("192.0.2.1"), AddressPrefixes: pfx})
			return err
		}(), ErrInvalid},
		{"overlapping subnets", l.EnsureVNet(ctx, VNetSpec{ID: "x", Subnets: []SubnetSpec{
			{Name: "a", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}},
			{Name: "b", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.128/25")}},
		}}), ErrInvalid},
		{"tiny subnet", l.EnsureVNet(ctx, VNetSpec{ID: "x", Subnets: []SubnetSpec{{Name: "a", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/30")}}}}), ErrInvalid},
		{"VM in unknown VNet", func() error {
			_, err := l.CreateVM(ctx, VMSpec{ResourceGroup: "rg", Name: "vm", VNet: "nope", Subnet: "apps"})
			return err
		}(), ErrNotFound},
		{"VM name", func() error {
			_, err := l.CreateVM(ctx, VMSpec{ResourceGroup: "rg", Name: "a/b", VNet: "nope", Subnet: "apps"})
			return err
		}(), ErrInvalid},
		{"routes for unknown VNet", l.SetVNetRoutes(ctx, "nope", nil), ErrNotFound},
		{"public IP of unknown instance", l.SetPublicIPs(ctx, "gw", 0, []netip.Addr{netip.MustParseAddr("198.51.100.1")}), ErrNotFound},
		{"public IP outside TEST-NET", l.SetPublicIPs(ctx, "gw", 0, []netip.Addr{netip.MustParseAddr("1.1.1.1")}), ErrInvalid},
		{"instance index", func() error {
			_, err := l.EnsureGatewayInstance(ctx, GatewayInstanceSpec{Gateway: "gw", Instance: MaxInstances, VNet: "x"})
			return err
		}(), ErrInvalid},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, c.err, c.want)
		}
	}
	if st := l.Status(); st.Internet != nil || len(st.VNets) != 0 || len(st.Sites) != 0 || len(st.Clients) != 0 {
		t.Errorf("a refused call changed the state: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(l.Dir(), stateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused call wrote the state: %v", err)
	}
}

func TestOpenChecks(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(Options{Dir: dir, Prefix: "bad-prefix"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad prefix: %v", err)
	}
	if _, err := Open(Options{Dir: dir, PublicIPPool: []netip.Prefix{netip.MustParsePrefix("100.64.0.0/24")}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("pool outside TEST-NET: %v", err)
	}
	if _, err := Open(Options{Dir: dir, PublicIPPool: []netip.Prefix{netip.MustParsePrefix("198.51.0.0/16")}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("pool larger than TEST-NET: %v", err)
	}
	// A state directory belongs to one prefix.
	st := newState("vlabone")
	st.Sites["s"] = &Site{Name: "s", PublicIP: netip.MustParseAddr("192.0.2.1")}
	if err := saveState(dir, st); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Dir: dir, Prefix: "vlabtwo"}); !errors.Is(err, ErrConflict) {
		t.Errorf("other prefix: %v", err)
	}
	l, err := Open(Options{Dir: dir, Prefix: "vlabone"})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := l.GetSite("S"); err != nil || s.PublicIP.String() != "192.0.2.1" {
		t.Errorf("state round trip: %+v, %v", s, err)
	}
	if _, err := Open(Options{Dir: dir, Prefix: "vlabone"}); !errors.Is(err, ErrLocked) {
		t.Errorf("second open: %v", err)
	}
	l.Close()
	l, err = Open(Options{Dir: dir, Prefix: "vlabone"})
	if err != nil {
		t.Errorf("open after close: %v", err)
	} else {
		l.Close()
	}
	os.WriteFile(filepath.Join(dir, stateFile), []byte(`{"version":99,"prefix":"vlabone"}`), 0o600)
	if _, err := Open(Options{Dir: dir, Prefix: "vlabone"}); err == nil {
		t.Errorf("unknown state version accepted")
	}
}

// fakeResolver resolves VNets from a map keyed by resource group/name.
type fakeResolver map[string]VNetSpec

func (f fakeResolver) ResolveVNet(_ context.Context, _, rg, name string) (VNetSpec, error) {
	if s, ok := f[strings.ToLower(rg+"/"+name)]; ok {
		return s, nil
	}
	return VNetSpec{}, armerr.Errorf(armerr.CodeResourceNotFound, "", "The Resource 'Microsoft.Network/virtualNetworks/%s' under resource group '%s' was not found.", name, rg).WithStatus(http.StatusNotFound)
}

func TestHTTPErrors(t *testing.T) {
	l := openUnpriv(t)
	srv := httptest.NewServer(Handler(l, fakeResolver{}))
	defer srv.Close()
	for _, c := range []struct {
		method, path, body string
		status             int
		code, mention      string
	}{
		{"PUT", "/lab/v1/sites/s1", `{"publicIp":"8.8.8.8","addressPrefixes":["10.50.0.0/16"]}`, 400, "InvalidParameter", "TEST-NET"},
		{"PUT", "/lab/v1/sites/s1", `{"publicIp":"192.0.2.1","addressPrefixes":["10.50.0.0/16"],"extra":1}`, 400, "InvalidRequestContent", "extra"},
		{"PUT", "/lab/v1/sites/s1", `{"publicIp":"not an ip"}`, 400, "InvalidRequestContent", ""},
		// Strict JSON, as the resource API: a key given twice or in two
		// case spellings, NUL characters and invalid UTF-8 are refused by
		// name instead of "last one wins".
		{"PUT", "/lab/v1/sites/s1", `{"publicIp":"192.0.2.1","publicIp":"192.0.2.2","addressPrefixes":["10.50.0.0/16"]}`, 400, "InvalidRequestContent", "publicIp"},
		{"PUT", "/lab/v1/sites/s1", `{"publicIp":"192.0.2.1","PublicIP":"192.0.2.2","addressPrefixes":["10.50.0.0/16"]}`, 400, "InvalidRequestContent", "PublicIP"},
		{"PUT", "/lab/v1/sites/s1", `{"publicIp":"192.0.2.1","addressPrefixes":["10.50.0.0/16\u0000"]}`, 400, "InvalidRequestContent", "NUL"},
		{"PUT", "/lab/v1/vms/rg/vm1", "{\"vnet\":\"v\xff\",\"subnet\":\"apps\"}", 400, "InvalidRequestContent", "UTF-8"},
		{"GET", "/lab/v1/sites/s1", "", 404, "ResourceNotFound", "s1"},
		{"PUT", "/lab/v1/vms/rg/vm1", `{"vnet":"v","subnet":"apps"}`, 404, "ResourceNotFound", "virtualNetworks/v"},
		{"PUT", "/lab/v1/vms/rg/vm1", `{"vnet":"v"}`, 400, "MissingRequiredParameter", ""},
		{"GET", "/lab/v1/vms/rg/vm1", "", 404, "ResourceNotFound", "vm1"},
		{"POST", "/lab/v1/vms", "", 404, "PathNotFound", "POST /lab/v1/vms"},
		{"GET", "/lab/v1/nothing", "", 404, "PathNotFound", ""},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error armerr.Error }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != c.status || body.Error.Code != c.code || !strings.Contains(body.Error.Message, c.mention) {
			t.Errorf("%s %s: %d %+v (%v), want %d %s mentioning %q", c.method, c.path, resp.StatusCode, body.Error, err, c.status, c.code, c.mention)
		}
		if strings.HasPrefix(body.Error.Message, "lab: ") {
			t.Errorf("%s %s: message keeps the Go error prefix: %q", c.method, c.path, body.Error.Message)
		}
	}
	// Deleting what is not there is not an error, as in ARM.
	for _, p := range []string{"/lab/v1/sites/s1", "/lab/v1/vms/rg/vm1"} {
		req, _ := http.NewRequest("DELETE", srv.URL+p, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("DELETE %s = %d, want 204", p, resp.StatusCode)
		}
	}
	resp, err := http.Get(srv.URL + "/lab/v1/vms")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list List[VM]
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || list.Value == nil || len(list.Value) != 0 {
		t.Errorf("empty VM list = %+v, %v", list, err)
	}
}

func TestIPv4Only(t *testing.T) {
	spec := VNetSpec{
		ID:           "v",
		AddressSpace: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00::/48")},
		Subnets: []SubnetSpec{
			{Name: "dual", Prefixes: []netip.Prefix{netip.MustParsePrefix("fd00::/64"), netip.MustParsePrefix("10.1.1.0/24")}},
			{Name: "v6", Prefixes: []netip.Prefix{netip.MustParsePrefix("fd00:0:0:1::/64")}},
			{Name: "empty"},
		},
	}
	got, _ := json.Marshal(spec.ipv4Only())
	want := `{"id":"v","addressSpace":["10.1.0.0/16"],"subnets":[{"name":"dual","prefixes":["10.1.1.0/24"]},{"name":"empty","prefixes":null}]}`
	if string(got) != want {
		t.Errorf("ipv4Only = %s\nwant       %s", got, want)
	}
	// The empty subnet is still refused by validation; IPv6 is not.
	v4 := spec.ipv4Only()
	if err := v4.validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "empty has no IPv4 prefix") {
		t.Errorf("validate = %v", err)
	}
	spec.Subnets = spec.Subnets[:2]
	v4 = spec.ipv4Only()
	if err := v4.validate(); err != nil {
		t.Errorf("validate dual stack = %v", err)
	}
}

func TestAddresses(t *testing.T) {
	for a, ok := range map[string]bool{"192.0.2.1": true, "198.51.100.200": true, "203.0.113.9": true, "8.8.8.8": false, "10.0.0.1": false, "192.0.3.1": false, "2001:db8::1": false} {
		if (checkPublic(netip.MustParseAddr(a)) == nil) != ok {
			t.Errorf("checkPublic(%s) = %v", a, checkPublic(netip.MustParseAddr(a)))
		}
	}
	for p, ok := range map[string]bool{"10.0.0.0/16": true, "172.16.0.0/12": true, "198.51.0.0/16": false, "169.254.0.0/24": false, "10.0.0.1/16": false, "fd00::/64": false} {
		if (checkPrivate("x", netip.MustParsePrefix(p)) == nil) != ok {
			t.Errorf("checkPrivate(%s) = %v", p, checkPrivate("x", netip.MustParsePrefix(p)))
		}
	}
}

// failingResolver fails with an error whose text must stay in the log.
type failingResolver struct{}

func (failingResolver) ResolveVNet(context.Context, string, string, string) (VNetSpec, error) {
	return VNetSpec{}, errors.New("store: open /var/lib/vpngw/secret-path: permission denied")
}

func TestHTTPInternalErrorWithheld(t *testing.T) {
	l := openUnpriv(t)
	srv := httptest.NewServer(Handler(l, failingResolver{}))
	defer srv.Close()
	req, _ := http.NewRequest("PUT", srv.URL+"/lab/v1/vms/rg/vm1", strings.NewReader(`{"vnet":"v","subnet":"apps"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Error armerr.Error }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusInternalServerError || body.Error.Code != armerr.CodeInternal {
		t.Errorf("PUT with a failing resolver = %d %+v, want 500 %s", resp.StatusCode, body.Error, armerr.CodeInternal)
	}
	if strings.Contains(body.Error.Message, "secret-path") {
		t.Errorf("a 500 leaks the internal error: %q", body.Error.Message)
	}
}

// A log over the cap moves (its tail) to .1 and starts again at zero,
// while the process's O_APPEND descriptor keeps writing to it.
func TestCapLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.log")
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	line := bytes.Repeat([]byte("x"), 99)
	for i := range 30000 { // 3 MB
		fmt.Fprintf(w, "%s%d\n", line[:99-len(strconv.Itoa(i))], i)
	}
	if err := capLog(path, 4<<20); err != nil { // under the cap: untouched
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Size() != 3_000_000 {
		t.Fatalf("size %d", fi.Size())
	}
	if err := capLog(path, 1<<20); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	if len(old) != 1<<20 || !bytes.HasSuffix(old, []byte("29999\n")) {
		t.Fatalf(".1 has %d bytes ending %q", len(old), old[max(0, len(old)-10):])
	}
	fmt.Fprintf(w, "after\n")
	if b, _ := os.ReadFile(path); string(b) != "after\n" {
		t.Fatalf("log after capping: %q", b[:min(len(b), 40)])
	}
	if err := capLog(filepath.Join(t.TempDir(), "missing.log"), 1); err != nil {
		t.Fatal(err)
	}
}

// A frontend with one instance is a plain destination NAT; with two, a
// flow's instance is picked by a hash of its source address with the
// fixed seed; instances without a public IP are skipped.
func TestFrontendRules(t *testing.T) {
	l := &Lab{st: newState("vpngw")}
	l.st.Gateways["gw"] = &gatewayState{
		Instances: map[int]*GatewayInstance{
			0: {PublicIPs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}},
			1: {PublicIPs: []netip.Addr{netip.MustParseAddr("192.0.2.2")}},
		},
	}
	for _, tc := range []struct {
		fronts map[string][]int
		want   string
	}{
		{nil, ""},
		{map[string][]int{"192.0.2.9": {1}}, "\t\tip daddr 192.0.2.9 dnat to 192.0.2.2\n"},
		{map[string][]int{"192.0.2.9": {0, 1}}, "\t\tip daddr 192.0.2.9 dnat to jhash ip saddr mod 2 seed 0x7670 map { 0 : 192.0.2.1, 1 : 192.0.2.2 }\n"},
		{map[string][]int{"192.0.2.9": {0, 3}}, "\t\tip daddr 192.0.2.9 dnat to 192.0.2.1\n"},
		{map[string][]int{"192.0.2.9": {3}}, ""},
	} {
		l.st.Gateways["gw"].Frontends = tc.fronts
		got := l.frontendRules()
		head := "table ip vpngw_frontends {}\ndelete table ip vpngw_frontends\n"
		want := head
		if tc.want != "" {
			want += "table ip vpngw_frontends {\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n" + tc.want + "\t}\n}\n"
		}
		if got != want {
			t.Errorf("%v: rules\n%s\nwant\n%s", tc.fronts, got, want)
		}
	}
}
