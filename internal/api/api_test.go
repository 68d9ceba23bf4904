package api

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/resource"
)

var etagRE = regexp.MustCompile(`^W/"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"$`)

func provState(m map[string]any) string {
	p, _ := m["properties"].(map[string]any)
	s, _ := p["provisioningState"].(string)
	return s
}

// TestLROProtocol follows a PUT the way an ARM client does.
func TestLROProtocol(t *testing.T) {
	h := newHarness(t, Config{})
	h.put(groupPathOf("rg"), groupBody())
	path := rid("rg", "virtualNetworks", "vnet1")

	r := h.expect(h.do(http.MethodPut, path, vnetBody("10.1.0.0/16", "10.1.255.0/27")), http.StatusCreated)
	var created map[string]any
	r.json(t, &created)
	if provState(created) != resource.ProvisioningUpdating {
		t.Errorf("PUT response provisioningState %q, want Updating", provState(created))
	}
	async, loc := r.header.Get("Azure-AsyncOperation"), r.header.Get("Location")
	opURL := regexp.MustCompile(`^` + regexp.QuoteMeta(h.ts.URL) +
		`/subscriptions/` + testSub + `/providers/Microsoft\.Network/locations/westeurope/(operations|operationResults)/([0-9a-f-]{36})\?api-version=` + testAPIVersion + `$`)
	ma, ml := opURL.FindStringSubmatch(async), opURL.FindStringSubmatch(loc)
	if ma == nil || ml == nil || ma[1] != "operations" || ml[1] != "operationResults" || ma[2] != ml[2] {
		t.Fatalf("operation URLs:\n Azure-AsyncOperation: %s\n Location: %s", async, loc)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}

	st := h.wait(r)
	if st.Status != StatusSucceeded || st.Name != ma[2] || !strings.HasSuffix(async, st.ID+"?api-version="+testAPIVersion) {
		t.Fatalf("operation status %+v", st)
	}
	if st.StartTime.IsZero() || st.EndTime == nil || st.EndTime.Before(st.StartTime) || st.Error != nil {
		t.Fatalf("operation times/error %+v", st)
	}
	res := h.expect(h.do(http.MethodGet, loc, nil), http.StatusOK)
	var final map[string]any
	res.json(t, &final)
	if provState(final) != resource.ProvisioningSucceeded || final["id"] != created["id"] {
		t.Fatalf("operation result %s", res.body)
	}
	got := h.get(path)
	if provState(got) != resource.ProvisioningSucceeded {
		t.Fatalf("GET after the operation: %v", got)
	}
	if got["etag"] != final["etag"] {
		t.Fatalf("etag of GET %v differs from the operation result %v", got["etag"], final["etag"])
	}

	// DELETE: 202, then the Location URL answers 204.
	d := h.expect(h.do(http.MethodDelete, path, nil), http.StatusAccepted)
	if st := h.wait(d); st.Status != StatusSucceeded {
		t.Fatalf("delete operation %+v", st)
	}
	h.expect(h.do(http.MethodGet, d.header.Get("Location"), nil), http.StatusNoContent)
	h.expectErr(h.do(http.MethodGet, path, nil), http.StatusNotFound, armerr.CodeResourceNotFound)
	// Deleting again: 204, as ARM.
	h.expect(h.do(http.MethodDelete, path, nil), http.StatusNoContent)
}

// TestOperationResultWhileRunning checks 202 + Retry-After on the Location
// URL while the operation runs, and 409 for other writes meanwhile.
func TestOperationResultWhileRunning(t *testing.T) {
	gate := newGate()
	h := newHarness(t, Config{Provisioner: gate})
	h.put(groupPathOf("rg"), groupBody())
	path := rid("rg", "localNetworkGateways", "site")
	r := h.expect(h.do(http.MethodPut, path, lngBody("192.0.2.1", "192.168.1.0/24")), http.StatusCreated)
	gate.waitStarted(t)

	loc := r.header.Get("Location")
	p := h.expect(h.do(http.MethodGet, loc, nil), http.StatusAccepted)
	if p.header.Get("Retry-After") == "" || p.header.Get("Location") != loc {
		t.Fatalf("202 headers: %v", p.header)
	}
	var st OperationStatus
	h.expect(h.do(http.MethodGet, r.header.Get("Azure-AsyncOperation"), nil), http.StatusOK).json(t, &st)
	if st.Status != StatusInProgress || st.EndTime != nil {
		t.Fatalf("status while running: %+v", st)
	}
	if s := provState(h.get(path)); s != resource.ProvisioningUpdating {
		t.Fatalf("provisioningState while running: %s", s)
	}

	h.expectErr(h.do(http.MethodPut, path, lngBody("192.0.2.2", "192.168.1.0/24")), http.StatusConflict, armerr.CodeAnotherOperationInProgress)
	h.expectErr(h.do(http.MethodDelete, path, nil), http.StatusConflict, armerr.CodeAnotherOperationInProgress)
	h.expectErr(h.do(http.MethodPatch, path, `{"tags":{"a":"b"}}`), http.StatusConflict, armerr.CodeAnotherOperationInProgress)
	h.expectErr(h.do(http.MethodDelete, groupPathOf("rg"), nil), http.StatusConflict, armerr.CodeAnotherOperationInProgress)

	close(gate.release)
	if st := h.wait(r); st.Status != StatusSucceeded {
		t.Fatalf("operation %+v", st)
	}
	h.expect(h.do(http.MethodGet, loc, nil), http.StatusOK)
}

// TestFailedOperation checks a Provisioner failure: operation Failed with
// the error, the resource Failed, and a later PUT retries.
func TestFailedOperation(t *testing.T) {
	gate := newGate()
	gate.err = armerr.Errorf(armerr.CodeInvalidParameter, "properties.gatewayIpAddress", "the site is unreachable")
	close(gate.release)
	h := newHarness(t, Config{Provisioner: gate})
	h.put(groupPathOf("rg"), groupBody())
	path := rid("rg", "localNetworkGateways", "site")
	body := lngBody("192.0.2.1", "192.168.1.0/24")
	r := h.expect(h.do(http.MethodPut, path, body), http.StatusCreated)
	st := h.wait(r)
	if st.Status != StatusFailed || st.Error == nil || st.Error.Code != armerr.CodeInvalidParameter || st.EndTime == nil {
		t.Fatalf("failed operation status %+v", st)
	}
	h.expectErr(h.do(http.MethodGet, r.header.Get("Location"), nil), http.StatusBadRequest, armerr.CodeInvalidParameter)
	if s := provState(h.get(path)); s != resource.ProvisioningFailed {
		t.Fatalf("provisioningState %s, want Failed", s)
	}

	// An internal error is reported without its text.
	gate.err = errorsNew("disk on fire at /secret/path")
	r = h.expect(h.do(http.MethodPut, path, body), http.StatusOK)
	st = h.wait(r)
	if st.Status != StatusFailed || st.Error.Code != armerr.CodeInternal || strings.Contains(st.Error.Message, "secret") {
		t.Fatalf("internal failure status %+v", st)
	}
	// The same body again is not a no-op on a Failed resource: it retries.
	gate.err = nil
	r = h.expect(h.do(http.MethodPut, path, body), http.StatusOK)
	if st := h.wait(r); st.Status != StatusSucceeded {
		t.Fatalf("retry: %+v", st)
	}
}

type simpleErr string

func (e simpleErr) Error() string { return string(e) }

func errorsNew(s string) error { return simpleErr(s) }

// TestPutIdempotent: the same body twice changes nothing.
func TestPutIdempotent(t *testing.T) {
	h := newHarness(t, Config{})
	h.put(groupPathOf("rg"), groupBody())
	path := rid("rg", "virtualNetworks", "vnet1")
	body := vnetBody("10.1.0.0/16", "10.1.255.0/27")
	h.put(path, body)
	before := h.get(path)

	r := h.expect(h.do(http.MethodPut, path, body), http.StatusOK)
	if r.header.Get("Azure-AsyncOperation") != "" {
		t.Error("an unchanged PUT started an operation")
	}
	var again map[string]any
	r.json(t, &again)
	after := h.get(path)
	if before["etag"] != after["etag"] || again["etag"] != before["etag"] {
		t.Fatalf("unchanged PUT changed the etag: %v -> %v", before["etag"], after["etag"])
	}
	bj, _ := json.Marshal(before)
	aj, _ := json.Marshal(after)
	if string(bj) != string(aj) {
		t.Fatalf("unchanged PUT changed the resource:\n%s\n%s", bj, aj)
	}
	// Sending back what GET returned is also a no-op.
	h.expect(h.do(http.MethodPut, path, string(bj)), http.StatusOK)
	if h.get(path)["etag"] != before["etag"] {
		t.Fatal("PUT of the GET body changed the etag")
	}

	// A real change: operation, new etag.
	r = h.put(path, vnetBody("10.1.0.0/16", "10.1.254.0/27"))
	if r.header.Get("Azure-AsyncOperation") == "" {
		t.Fatal("a changed PUT started no operation")
	}
	if h.get(path)["etag"] == before["etag"] {
		t.Fatal("etag unchanged after a change")
	}
}

// TestPutIdempotentAllTypes: re-PUTting the creation body of every type
// is a no-op.
func TestPutIdempotentAllTypes(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.site("rg", "Key1ForIdempotency")
	for path, body := range map[string]string{
		s.group: groupBody(),
		s.vnet:  vnetBody("10.1.0.0/16", "10.1.255.0/27"),
		s.pip:   pipBody(),
		s.gw:    gatewayBody("rg", "vnet1", "pip1"),
		s.lng:   lngBody("192.0.2.10", "192.168.10.0/24"),
		s.conn:  connBody("rg", "gw1", "rg", "onprem", "Key1ForIdempotency"),
		s.conn + "?api-version=" + testAPIVersion + "&x=": connBody("rg", "gw1", "rg", "onprem", ""),
	} {
		before := h.get(strings.Split(path, "?")[0])
		r := h.expect(h.do(http.MethodPut, path, body), http.StatusOK)
		if r.header.Get("Azure-AsyncOperation") != "" {
			t.Errorf("unchanged PUT %s started an operation", path)
		}
		if after := h.get(strings.Split(path, "?")[0]); after["etag"] != before["etag"] {
			t.Errorf("unchanged PUT %s changed the etag", path)
		}
	}
}

// TestEtags covers etag format and If-Match / If-None-Match.
func TestEtags(t *testing.T) {
	h := newHarness(t, Config{})
	h.put(groupPathOf("rg"), groupBody())
	path := rid("rg", "localNetworkGateways", "site")
	body := lngBody("192.0.2.1", "192.168.1.0/24")

	h.expectErr(h.do(http.MethodPut, path, body, "If-Match", "*"), http.StatusPreconditionFailed, armerr.CodePreconditionFailed)
	r := h.expect(h.do(http.MethodPut, path, body, "If-None-Match", "*"), http.StatusCreated)
	h.wait(r)
	h.expectErr(h.do(http.MethodPut, path, body, "If-None-Match", "*"), http.StatusPreconditionFailed, armerr.CodePreconditionFailed)

	etag1, _ := h.get(path)["etag"].(string)
	if !etagRE.MatchString(etag1) {
		t.Fatalf("etag %q is not W/\"<uuid>\"", etag1)
	}
	body2 := lngBody("192.0.2.2", "192.168.1.0/24")
	h.expectErr(h.do(http.MethodPut, path, body2, "If-Match", `W/"00000000-0000-4000-8000-000000000000"`), http.StatusPreconditionFailed, armerr.CodePreconditionFailed)
	h.wait(h.expect(h.do(http.MethodPut, path, body2, "If-Match", etag1), http.StatusOK))
	etag2, _ := h.get(path)["etag"].(string)
	if etag2 == etag1 || !etagRE.MatchString(etag2) {
		t.Fatalf("etag after update %q (was %q)", etag2, etag1)
	}
	// PATCH is a write too.
	h.expectErr(h.do(http.MethodPatch, path, `{"tags":{"env":"test"}}`, "If-Match", etag1), http.StatusPreconditionFailed, armerr.CodePreconditionFailed)
	var patched map[string]any
	h.expect(h.do(http.MethodPatch, path, `{"tags":{"env":"test"}}`, "If-Match", etag2), http.StatusOK).json(t, &patched)
	if patched["etag"] == etag2 || patched["tags"].(map[string]any)["env"] != "test" {
		t.Fatalf("PATCH result %v", patched)
	}
	h.expectErr(h.do(http.MethodDelete, path, nil, "If-Match", etag2), http.StatusPreconditionFailed, armerr.CodePreconditionFailed)
	h.wait(h.expect(h.do(http.MethodDelete, path, nil, "If-Match", patched["etag"].(string)), http.StatusAccepted))
}

// TestRequestErrors covers unknown properties, bad JSON, api-version,
// unknown paths and methods.
func TestRequestErrors(t *testing.T) {
	h := newHarness(t, Config{})
	h.put(groupPathOf("rg"), groupBody())
	vnet := rid("rg", "virtualNetworks", "v")

	e := h.expectErr(h.do(http.MethodPut, vnet, `{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"bogus":1}}`),
		http.StatusBadRequest, armerr.CodeInvalidRequestContent)
	if e.Target != "properties.bogus" || !strings.Contains(e.Message, "bogus") {
		t.Errorf("unknown property error %+v", e)
	}
	h.expectErr(h.do(http.MethodPut, vnet, `{"location":`), http.StatusBadRequest, armerr.CodeInvalidRequestContent)
	h.expectErr(h.do(http.MethodPut, vnet, ``), http.StatusBadRequest, armerr.CodeInvalidRequestContent)
	h.expectErr(h.do(http.MethodPut, rid("rg", "virtualNetworks", "-bad"), vnetBody("10.0.0.0/16", "10.0.0.0/27")),
		http.StatusBadRequest, armerr.CodeInvalidResourceName)
	h.expectErr(h.do(http.MethodPut, rid("nogroup", "virtualNetworks", "v"), vnetBody("10.0.0.0/16", "10.0.0.0/27")),
		http.StatusNotFound, armerr.CodeResourceGroupNotFound)
	h.expectErr(h.do(http.MethodGet, rid("nogroup", "virtualNetworks", "v"), nil), http.StatusNotFound, armerr.CodeResourceGroupNotFound)

	for _, tc := range []struct {
		query, code string
	}{
		{"", armerr.CodeMissingAPIVersion},
		{"?api-version=", armerr.CodeMissingAPIVersion},
		{"?api-version=2018-07-31", armerr.CodeInvalidAPIVersion},
		{"?api-version=latest", armerr.CodeInvalidAPIVersion},
		{"?api-version=2024-13-01", armerr.CodeInvalidAPIVersion},
		{"?api-version=2024-05-01-beta", armerr.CodeInvalidAPIVersion},
		{"?api-version=2024-05-01&api-version=2024-05-01", armerr.CodeInvalidAPIVersion},
		{"?api-version=2018-08-01", ""},
		{"?api-version=2030-01-01-preview", ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, h.ts.URL+groupPathOf("rg")+tc.query, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b errorBody
		json.NewDecoder(res.Body).Decode(&b)
		res.Body.Close()
		switch {
		case tc.code == "" && res.StatusCode != http.StatusOK:
			t.Errorf("%q: status %d %+v, want 200", tc.query, res.StatusCode, b.Error)
		case tc.code != "" && (res.StatusCode != http.StatusBadRequest || b.Error == nil || b.Error.Code != tc.code):
			t.Errorf("%q: status %d %+v, want 400 %s", tc.query, res.StatusCode, b.Error, tc.code)
		}
	}
	// The api-version is echoed in operation URLs.
	r := h.expect(h.do(http.MethodPut, vnet+"?api-version=2018-08-01", vnetBody("10.0.0.0/16", "10.0.255.0/27")), http.StatusCreated)
	if !strings.HasSuffix(r.header.Get("Azure-AsyncOperation"), "?api-version=2018-08-01") ||
		!strings.HasSuffix(r.header.Get("Location"), "?api-version=2018-08-01") {
		t.Errorf("api-version not echoed: %v", r.header)
	}
	h.wait(r)

	h.expectErr(h.do(http.MethodGet, "/nope", nil), http.StatusNotFound, armerr.CodePathNotFound)
	h.expectErr(h.do(http.MethodGet, "/subscriptions/"+testSub+"/resourceGroups/rg/providers/Microsoft.Network/widgets/w", nil),
		http.StatusNotFound, armerr.CodeInvalidResourceType)
	h.expectErr(h.do(http.MethodGet, "/subscriptions/"+testSub+"/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/w", nil),
		http.StatusNotFound, armerr.CodeInvalidResourceType)
	m := h.do(http.MethodPost, vnet, nil)
	h.expectErr(m, http.StatusMethodNotAllowed, armerr.CodeMethodNotAllowed)
	if m.header.Get("Allow") != "DELETE, GET, PATCH, PUT" {
		t.Errorf("Allow = %q", m.header.Get("Allow"))
	}
	m = h.do(http.MethodDelete, groupPathOf("rg")+"/providers/Microsoft.Network/virtualNetworks", nil)
	h.expectErr(m, http.StatusMethodNotAllowed, armerr.CodeMethodNotAllowed)
	if m.header.Get("Allow") != "GET" {
		t.Errorf("Allow = %q", m.header.Get("Allow"))
	}
}

// TestCaseInsensitivePaths: segment names and resource names match in any
// case; names keep their creation case.
func TestCaseInsensitivePaths(t *testing.T) {
	h := newHarness(t, Config{})
	h.put(groupPathOf("MyGroup"), groupBody())
	h.put(rid("MyGroup", "virtualNetworks", "MyVNet"), vnetBody("10.1.0.0/16", "10.1.255.0/27"))
	for _, p := range []string{
		"/SUBSCRIPTIONS/" + testSub + "/RESOURCEGROUPS/mygroup/PROVIDERS/microsoft.network/VIRTUALNETWORKS/myvnet",
		"/subscriptions/" + testSub + "/resourcegroups/MYGROUP/providers/Microsoft.Network/virtualnetworks/MYVNET",
	} {
		got := h.get(p)
		if got["name"] != "MyVNet" || got["id"] != rid("MyGroup", "virtualNetworks", "MyVNet") {
			t.Errorf("GET %s: name %v id %v", p, got["name"], got["id"])
		}
	}
	// An update through a differently-cased path updates the same resource
	// and keeps the original names.
	h.put("/subscriptions/"+testSub+"/resourcegroups/MYGROUP/providers/Microsoft.Network/virtualnetworks/myvnet", vnetBody("10.1.0.0/16", "10.1.254.0/27"))
	var l struct{ Value []map[string]any }
	h.expect(h.do(http.MethodGet, groupPathOf("mygroup")+"/providers/Microsoft.Network/virtualNetworks", nil), http.StatusOK).json(t, &l)
	if len(l.Value) != 1 || l.Value[0]["name"] != "MyVNet" {
		t.Fatalf("list after case-insensitive update: %v", l.Value)
	}
	g := h.get(groupPathOf("mygroup"))
	if g["name"] != "MyGroup" {
		t.Errorf("group name %v", g["name"])
	}
}

// TestLists covers collection GETs at every scope.
func TestLists(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.site("rg1", "")
	h.put(groupPathOf("rg2"), groupBody())
	h.put(rid("rg2", "localNetworkGateways", "b"), lngBody("192.0.2.20", "192.168.20.0/24"))
	h.put(rid("rg2", "localNetworkGateways", "a"), lngBody("192.0.2.21", "192.168.21.0/24"))
	h.put("/subscriptions/other-sub/resourcegroups/rg9", groupBody())

	names := func(path string) []string {
		t.Helper()
		var l struct{ Value []map[string]any }
		h.expect(h.do(http.MethodGet, path, nil), http.StatusOK).json(t, &l)
		var out []string
		for _, v := range l.Value {
			out = append(out, v["name"].(string))
		}
		return out
	}
	check := func(path string, want ...string) {
		t.Helper()
		if got := names(path); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("GET %s = %v, want %v", path, got, want)
		}
	}
	sub := "/subscriptions/" + testSub
	check(sub+"/resourcegroups", "rg1", "rg2")
	check("/subscriptions/other-sub/resourcegroups", "rg9")
	check(groupPathOf("rg2")+"/providers/Microsoft.Network/localNetworkGateways", "a", "b")
	check(groupPathOf("rg1")+"/providers/Microsoft.Network/localNetworkGateways", "onprem")
	check(sub+"/providers/Microsoft.Network/localNetworkGateways", "onprem", "a", "b")
	check(sub+"/providers/Microsoft.Network/connections", "conn1")
	check(groupPathOf("rg2") + "/providers/Microsoft.Network/connections")
	check(s.vnet+"/subnets", "GatewaySubnet")
	check(s.gw+"/connections", "conn1")
	check("/subscriptions/nobody/providers/Microsoft.Network/virtualNetworks")
	h.expectErr(h.do(http.MethodGet, groupPathOf("missing")+"/providers/Microsoft.Network/virtualNetworks", nil),
		http.StatusNotFound, armerr.CodeResourceGroupNotFound)
	// An empty list is [] not null.
	r := h.expect(h.do(http.MethodGet, groupPathOf("rg2")+"/providers/Microsoft.Network/connections", nil), http.StatusOK)
	if !strings.Contains(string(r.body), `"value":[]`) {
		t.Errorf("empty list body %s", r.body)
	}
}

// TestSubnets covers the subnet child resource.
func TestSubnets(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.site("rg", "")
	sub := s.vnet + "/subnets/apps"
	r := h.expect(h.do(http.MethodPut, sub, `{"properties":{"addressPrefix":"10.1.1.0/24"}}`), http.StatusCreated)
	var created map[string]any
	r.json(t, &created)
	if created["id"] != sub || created["type"] != "Microsoft.Network/virtualNetworks/subnets" {
		t.Fatalf("created subnet %v", created)
	}
	h.wait(r)
	res := h.expect(h.do(http.MethodGet, r.header.Get("Location"), nil), http.StatusOK)
	var fromOp map[string]any
	res.json(t, &fromOp)
	if fromOp["name"] != "apps" || provState(fromOp) != resource.ProvisioningSucceeded {
		t.Fatalf("operation result %s", res.body)
	}
	got := h.get(sub)
	if p := got["properties"].(map[string]any); p["addressPrefix"] != "10.1.1.0/24" {
		t.Fatalf("GET subnet %v", got)
	}
	if got["etag"] != h.get(s.vnet)["etag"] {
		t.Errorf("subnet etag %v differs from its VNet's", got["etag"])
	}
	// Inline in the VNet as well.
	vnet := h.get(s.vnet)
	if n := len(vnet["properties"].(map[string]any)["subnets"].([]any)); n != 2 {
		t.Fatalf("VNet has %d subnets, want 2", n)
	}
	// GatewaySubnet shows its users and cannot be deleted.
	gws := h.get(s.vnet + "/subnets/GatewaySubnet")
	if ipc, _ := gws["properties"].(map[string]any)["ipConfigurations"].([]any); len(ipc) != 1 {
		t.Errorf("GatewaySubnet ipConfigurations %v", gws["properties"])
	}
	h.expectErr(h.do(http.MethodDelete, s.vnet+"/subnets/GatewaySubnet", nil), http.StatusConflict, armerr.CodeInUse)
	// Unknown property, location on a subnet.
	h.expectErr(h.do(http.MethodPut, sub, `{"properties":{"addressPrefix":"10.1.1.0/24","x":1}}`), http.StatusBadRequest, armerr.CodeInvalidRequestContent)
	h.expectErr(h.do(http.MethodPut, sub, `{"location":"westeurope","properties":{"addressPrefix":"10.1.1.0/24"}}`), http.StatusBadRequest, armerr.CodeInvalidParameter)
	// Unchanged PUT is a no-op.
	if r := h.expect(h.do(http.MethodPut, sub, `{"properties":{"addressPrefix":"10.1.1.0/24"}}`), http.StatusOK); r.header.Get("Azure-AsyncOperation") != "" {
		t.Error("unchanged subnet PUT started an operation")
	}
	// Delete.
	h.del(sub)
	h.expectErr(h.do(http.MethodGet, sub, nil), http.StatusNotFound, armerr.CodeResourceNotFound)
	h.expect(h.do(http.MethodDelete, sub, nil), http.StatusNoContent)
	h.expectErr(h.do(http.MethodGet, rid("rg", "virtualNetworks", "nope")+"/subnets/x", nil), http.StatusNotFound, armerr.CodeResourceNotFound)
	h.expectErr(h.do(http.MethodPut, rid("rg", "virtualNetworks", "nope")+"/subnets/x", `{"properties":{"addressPrefix":"10.1.1.0/24"}}`),
		http.StatusNotFound, armerr.CodeResourceNotFound)
}

// TestInUseDeletes: referential integrity on delete.
func TestInUseDeletes(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.site("rg", "")
	for _, p := range []string{s.pip, s.gw, s.lng, s.vnet} {
		e := h.expectErr(h.do(http.MethodDelete, p, nil), http.StatusConflict, armerr.CodeInUse)
		if !strings.Contains(e.Message, "/") {
			t.Errorf("in-use error does not name the user: %s", e.Message)
		}
	}
	h.del(s.conn)
	h.del(s.gw)
	h.del(s.lng)
	h.del(s.pip)
	h.del(s.vnet)
}

// TestGroupCascade deletes a group with everything in it.
func TestGroupCascade(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.site("rg", "")
	h.put(groupPathOf("keep"), groupBody())
	h.put(rid("keep", "publicIPAddresses", "other"), pipBody())
	ip := func(path string) string { return h.get(path)["properties"].(map[string]any)["ipAddress"].(string) }
	if got := ip(s.pip); got != "198.51.100.1" {
		t.Fatalf("first public IP %s", got)
	}

	h.expectErr(h.do(http.MethodDelete, groupPathOf("missing"), nil), http.StatusNotFound, armerr.CodeResourceGroupNotFound)
	r := h.expect(h.do(http.MethodDelete, s.group, nil), http.StatusAccepted)
	if st := h.wait(r); st.Status != StatusSucceeded {
		t.Fatalf("group delete %+v", st)
	}
	h.expect(h.do(http.MethodGet, r.header.Get("Location"), nil), http.StatusNoContent)
	for _, p := range []string{s.conn, s.gw, s.lng, s.pip, s.vnet} {
		h.expectErr(h.do(http.MethodGet, p, nil), http.StatusNotFound, armerr.CodeResourceGroupNotFound)
	}
	h.expectErr(h.do(http.MethodGet, s.group, nil), http.StatusNotFound, armerr.CodeResourceGroupNotFound)
	kvs, _, err := h.st.List(t.Context(), registry.ResourceKeyPrefix)
	if err != nil || len(kvs) != 1 {
		t.Fatalf("store after cascade: %d resources (%v), want 1", len(kvs), err)
	}
	// The released address is reused (lowest free).
	h.put(rid("keep", "publicIPAddresses", "again"), pipBody())
	if got := ip(rid("keep", "publicIPAddresses", "again")); got != "198.51.100.1" {
		t.Fatalf("address after release %s, want 198.51.100.1", got)
	}
}

// TestGroupDeleteReferencedFromOutside: 409 when another group refers in.
func TestGroupDeleteReferencedFromOutside(t *testing.T) {
	h := newHarness(t, Config{})
	h.site("rg1", "")
	h.put(groupPathOf("rg2"), groupBody())
	h.put(rid("rg2", "localNetworkGateways", "site2"), lngBody("192.0.2.50", "192.168.50.0/24"))
	h.put(rid("rg1", "connections", "conn2"), connBody("rg1", "gw1", "rg2", "site2", ""))
	e := h.expectErr(h.do(http.MethodDelete, groupPathOf("rg2"), nil), http.StatusConflict, armerr.CodeInUse)
	if !strings.Contains(e.Message, "conn2") {
		t.Errorf("message does not name the referrer: %s", e.Message)
	}
	h.get(rid("rg2", "localNetworkGateways", "site2"))
	// rg1 refers out, not in: it can go.
	h.del(groupPathOf("rg1"))
	h.del(groupPathOf("rg2"))
}

// TestGroups covers group PUT semantics.
func TestGroups(t *testing.T) {
	h := newHarness(t, Config{})
	p := groupPathOf("g")
	h.expect(h.do(http.MethodPut, p, `{"location":"West Europe","tags":{"a":"1"}}`), http.StatusCreated)
	r := h.expect(h.do(http.MethodPut, p, `{"location":"westeurope","tags":{"a":"1"}}`), http.StatusOK)
	if r.header.Get("Azure-AsyncOperation") != "" {
		t.Error("group PUT is synchronous")
	}
	h.expectErr(h.do(http.MethodPut, p, `{"location":"eastus"}`), http.StatusBadRequest, armerr.CodeInvalidLocation)
	h.expectErr(h.do(http.MethodPut, p, `{"location":"westeurope","foo":1}`), http.StatusBadRequest, armerr.CodeInvalidRequestContent)
	h.expectErr(h.do(http.MethodPut, p, `{}`), http.StatusBadRequest, armerr.CodeInvalidLocation)
	var g map[string]any
	h.expect(h.do(http.MethodPatch, p, `{"tags":{"b":"2"}}`), http.StatusOK).json(t, &g)
	if tags := g["tags"].(map[string]any); tags["b"] != "2" || tags["a"] != nil {
		t.Errorf("tags after PATCH %v", tags)
	}
	if g["location"] != "westeurope" || provState(g) != resource.ProvisioningSucceeded {
		t.Errorf("group %v", g)
	}
	h.expectErr(h.do(http.MethodPut, groupPathOf("bad/name"), groupBody()), http.StatusNotFound, armerr.CodePathNotFound)
	h.expectErr(h.do(http.MethodPut, groupPathOf("bad*name"), groupBody()), http.StatusBadRequest, armerr.CodeInvalidResourceName)
}

// TestPublicIPAllocation: lowest free address, unique, released on delete,
// pool exhaustion.
func TestPublicIPAllocation(t *testing.T) {
	pool, err := registry.ParseAddressPool([]string{"203.0.113.0/30", "198.51.100.8/31"})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Config{PublicIPPool: pool})
	h.put(groupPathOf("rg"), groupBody())
	ip := func(name string) string {
		return h.get(rid("rg", "publicIPAddresses", name))["properties"].(map[string]any)["ipAddress"].(string)
	}
	want := []string{"203.0.113.1", "203.0.113.2", "198.51.100.8", "198.51.100.9"}
	for i, w := range want {
		name := "p" + string(rune('a'+i))
		h.put(rid("rg", "publicIPAddresses", name), pipBody())
		if got := ip(name); got != w {
			t.Fatalf("address %d = %s, want %s", i, got, w)
		}
	}
	h.expectErr(h.do(http.MethodPut, rid("rg", "publicIPAddresses", "full"), pipBody()), http.StatusConflict, armerr.CodePoolExhausted)
	// An update keeps the address; a client cannot set it.
	h.put(rid("rg", "publicIPAddresses", "pb"), `{"location":"westeurope","sku":{"name":"Standard"},"tags":{"x":"y"},"properties":{"publicIPAllocationMethod":"Static","ipAddress":"203.0.113.1"}}`)
	if got := ip("pb"); got != "203.0.113.2" {
		t.Fatalf("address after update %s", got)
	}
	h.del(rid("rg", "publicIPAddresses", "pb"))
	h.put(rid("rg", "publicIPAddresses", "new"), pipBody())
	if got := ip("new"); got != "203.0.113.2" {
		t.Fatalf("address after release %s, want 203.0.113.2", got)
	}
}

// TestConcurrentPublicIPs: concurrent creates never share an address.
func TestConcurrentPublicIPs(t *testing.T) {
	h := newHarness(t, Config{})
	h.put(groupPathOf("rg"), groupBody())
	const n = 20
	done := make(chan *resp, n)
	for i := range n {
		go func() {
			done <- h.do(http.MethodPut, rid("rg", "publicIPAddresses", "p"+strings.Repeat("x", i+1)), pipBody())
		}()
	}
	for range n {
		r := <-done
		if r.status != http.StatusCreated {
			t.Fatalf("concurrent PUT %d: %s", r.status, r.body)
		}
		h.wait(r)
	}
	var l struct{ Value []map[string]any }
	h.expect(h.do(http.MethodGet, groupPathOf("rg")+"/providers/Microsoft.Network/publicIPAddresses", nil), http.StatusOK).json(t, &l)
	seen := map[string]bool{}
	for _, v := range l.Value {
		a := v["properties"].(map[string]any)["ipAddress"].(string)
		if seen[a] {
			t.Fatalf("address %s assigned twice", a)
		}
		seen[a] = true
	}
	if len(seen) != n {
		t.Fatalf("%d addresses for %d resources", len(seen), n)
	}
	for i := 1; i <= n; i++ {
		if !seen["198.51.100."+strconv.Itoa(i)] {
			t.Fatalf("addresses are not the lowest %d: %v", n, seen)
		}
	}
}

// TestSharedKey covers the sharedkey sub-resource and the reset action.
func TestSharedKey(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.site("rg", "Initial1Key2")
	conn := h.get(s.conn)
	if _, ok := conn["properties"].(map[string]any)["sharedKey"]; ok {
		t.Fatalf("connection GET shows sharedKey: %v", conn["properties"])
	}
	var k ConnectionSharedKey
	h.expect(h.do(http.MethodGet, s.conn+"/sharedkey", nil), http.StatusOK).json(t, &k)
	if k.Value != "Initial1Key2" {
		t.Fatalf("sharedkey GET %+v", k)
	}
	h.expectErr(h.do(http.MethodPut, s.conn+"/sharedkey", `{"value":"has space"}`), http.StatusBadRequest, armerr.CodeInvalidSharedKey)
	h.expectErr(h.do(http.MethodPut, s.conn+"/sharedkey", `{"value":"ok","extra":1}`), http.StatusBadRequest, armerr.CodeInvalidRequestContent)
	h.expectErr(h.do(http.MethodPut, s.conn+"/sharedkey", `{}`), http.StatusBadRequest, armerr.CodeInvalidSharedKey)
	r := h.put(s.conn+"/sharedkey", `{"value":"Second3Key4"}`)
	if r.header.Get("Azure-AsyncOperation") == "" {
		t.Error("sharedkey PUT started no operation")
	}
	h.expect(h.do(http.MethodGet, s.conn+"/sharedkey", nil), http.StatusOK).json(t, &k)
	if k.Value != "Second3Key4" {
		t.Fatalf("key after PUT %q", k.Value)
	}
	for _, bad := range []string{`{"keyLength":0}`, `{"keyLength":129}`, `{}`, `{"keyLength":"10"}`} {
		r := h.do(http.MethodPost, s.conn+"/sharedkey/reset", bad)
		if r.status != http.StatusBadRequest {
			t.Errorf("reset %s: %d %s", bad, r.status, r.body)
		}
	}
	r = h.expect(h.do(http.MethodPost, s.conn+"/sharedkey/reset", `{"keyLength":20}`), http.StatusAccepted)
	if st := h.wait(r); st.Status != StatusSucceeded {
		t.Fatalf("reset %+v", st)
	}
	var kl ConnectionResetSharedKey
	h.expect(h.do(http.MethodGet, r.header.Get("Location"), nil), http.StatusOK).json(t, &kl)
	if kl.KeyLength != 20 {
		t.Errorf("reset result %+v", kl)
	}
	h.expect(h.do(http.MethodGet, s.conn+"/sharedkey", nil), http.StatusOK).json(t, &k)
	if len(k.Value) != 20 || k.Value == "Second3Key4" || resource.ValidateSharedKey(k.Value, "value") != nil {
		t.Fatalf("key after reset %q", k.Value)
	}
	// A connection PUT without sharedKey keeps the key.
	h.put(s.conn, connBody("rg", "gw1", "rg", "onprem", ""))
	var k2 ConnectionSharedKey
	h.expect(h.do(http.MethodGet, s.conn+"/sharedkey", nil), http.StatusOK).json(t, &k2)
	if k2.Value != k.Value {
		t.Fatal("a PUT without sharedKey changed the key")
	}
	h.expectErr(h.do(http.MethodGet, rid("rg", "connections", "nope")+"/sharedkey", nil), http.StatusNotFound, armerr.CodeResourceNotFound)
}

// TestSecretsNeverLeak: shared keys and RADIUS secrets appear in no
// response except the sharedkey sub-resource, and in no log line.
func TestSecretsNeverLeak(t *testing.T) {
	h := newHarness(t, Config{})
	const (
		key1   = "LeakCanary1Alpha"
		key2   = "LeakCanary2Bravo"
		radius = "LeakCanary3Radius"
	)
	s := h.site("rg", key1)
	h.put(s.conn+"/sharedkey", `{"value":"`+key2+`"}`)
	h.expect(h.do(http.MethodGet, s.conn+"/sharedkey", nil), http.StatusOK)
	h.put(s.conn, connBody("rg", "gw1", "rg", "onprem", key1))
	h.wait(h.expect(h.do(http.MethodPost, s.conn+"/sharedkey/reset", `{"keyLength":64}`), http.StatusAccepted))
	// A gateway with a RADIUS secret.
	gw := `{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw1"},
		"ipConfigurations":[{"name":"default","properties":{"subnet":{"id":"` + s.vnet + `/subnets/GatewaySubnet"},"publicIPAddress":{"id":"` + s.pip + `"}}}],
		"vpnClientConfiguration":{"vpnClientAddressPool":{"addressPrefixes":["172.16.0.0/24"]},"vpnClientProtocols":["IkeV2"],
		"vpnAuthenticationTypes":["Radius"],"radiusServerAddress":"10.9.9.9","radiusServerSecret":"` + radius + `"}}}`
	r := h.do(http.MethodPut, s.gw, gw)
	h.expect(r, http.StatusOK)
	h.wait(r)
	// A refused key (its error is in the activity log) must not be echoed.
	h.expectErr(h.do(http.MethodPut, s.conn+"/sharedkey", `{"value":"`+key1+` x"}`), http.StatusBadRequest, "InvalidSharedKey")
	// Read everything every way.
	for _, p := range []string{s.conn, s.gw, s.gw + "/connections", groupPathOf("rg") + "/providers/Microsoft.Network/connections",
		"/subscriptions/" + testSub + "/providers/Microsoft.Network/virtualNetworkGateways", "/openapi.json",
		resource.ActivityLogPath(testSub) + "?api-version=" + ActivityLogAPIVersion} {
		h.do(http.MethodGet, p, nil)
	}
	h.del(s.conn)

	// The secrets are stored (so the checks below are not vacuous).
	kvs, _, err := h.st.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, kv := range kvs {
		all.Write(kv.Value)
	}
	if !strings.Contains(all.String(), radius) {
		t.Fatal("the RADIUS secret was not stored")
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	allowed := map[string]bool{}
	for _, x := range h.exchanges {
		if strings.Contains(x.url, "/sharedkey?") && x.method == http.MethodPut {
			// The sharedkey PUT's operation result is the sharedkey.
			allowed[x.header.Get("Location")] = true
		}
	}
	var checked int
	for _, x := range h.exchanges {
		if strings.Contains(x.url, "/sharedkey?") || allowed[x.url] {
			continue
		}
		checked++
		for _, secret := range []string{key1, key2, radius} {
			if strings.Contains(string(x.body), secret) {
				t.Errorf("%s %s leaks a secret: %s", x.method, x.url, x.body)
			}
		}
		if !strings.Contains(x.url, "/openapi.json") && strings.Contains(string(x.body), `"sharedKey"`) || strings.Contains(string(x.body), `"radiusServerSecret":"`) {
			t.Errorf("%s %s has a secret field: %s", x.method, x.url, x.body)
		}
	}
	if checked < 20 {
		t.Fatalf("only %d exchanges checked", checked)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "operation finished") {
		t.Fatal("no logs captured")
	}
	for _, secret := range []string{key1, key2, radius} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a secret")
		}
	}
}

// statusProvisioner reports a fixed connection status.
type statusProvisioner struct {
	NoneProvisioner
	status string
}

func (p statusProvisioner) ConnectionStatus(_ context.Context, c *resource.Connection) (resource.ConnectionStatusReport, error) {
	return resource.ConnectionStatusReport{Status: p.status, IngressBytes: 7}, nil
}

// TestConnectionStatusHonest: provider none never says Connected; status
// comes from the Provisioner only for realized connections; invalid
// reports become Unknown.
func TestConnectionStatusHonest(t *testing.T) {
	status := func(m map[string]any) string { return m["properties"].(map[string]any)["connectionStatus"].(string) }

	h := newHarness(t, Config{})
	s := h.site("rg", "")
	if st := status(h.get(s.conn)); st != resource.ConnectionStatusNotConnected {
		t.Fatalf("provider none: connectionStatus %s", st)
	}
	var l struct{ Value []map[string]any }
	h.expect(h.do(http.MethodGet, s.gw+"/connections", nil), http.StatusOK).json(t, &l)
	if st := status(l.Value[0]); st != resource.ConnectionStatusNotConnected {
		t.Fatalf("provider none, gateway connections: %s", st)
	}
	// A client cannot set the status.
	h.put(s.conn, strings.Replace(connBody("rg", "gw1", "rg", "onprem", ""), `"connectionType"`, `"connectionStatus":"Connected","connectionType"`, 1))
	if st := status(h.get(s.conn)); st != resource.ConnectionStatusNotConnected {
		t.Fatalf("client-set status: %s", st)
	}

	for _, tc := range []struct{ report, want string }{
		{resource.ConnectionStatusConnected, resource.ConnectionStatusConnected},
		{"Bogus", resource.ConnectionStatusUnknown},
	} {
		h2 := newHarness(t, Config{Provisioner: statusProvisioner{status: tc.report}})
		s2 := h2.site("rg", "")
		if st := status(h2.get(s2.conn)); st != tc.want {
			t.Errorf("report %s: connectionStatus %s, want %s", tc.report, st, tc.want)
		}
	}

	gate := newGate()
	h3 := newHarness(t, Config{Provisioner: gate})
	close(gate.release)
	s3 := h3.site("rg", "")
	gate.release = make(chan struct{})
	r := h3.expect(h3.do(http.MethodPut, s3.conn, connBody("rg", "gw1", "rg", "onprem", "Changed1")), http.StatusOK)
	gate.waitStarted(t)
	if st := status(h3.get(s3.conn)); st != resource.ConnectionStatusUnknown {
		t.Errorf("status while Updating: %s", st)
	}
	close(gate.release)
	h3.wait(r)
}

// TestGatewayReset covers the reset action.
func TestGatewayReset(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.site("rg", "")
	r := h.expect(h.do(http.MethodPost, s.gw+"/reset", nil), http.StatusAccepted)
	if st := h.wait(r); st.Status != StatusSucceeded {
		t.Fatalf("reset %+v", st)
	}
	var gw map[string]any
	h.expect(h.do(http.MethodGet, r.header.Get("Location"), nil), http.StatusOK).json(t, &gw)
	if gw["id"] != s.gw || provState(gw) != resource.ProvisioningSucceeded {
		t.Fatalf("reset result %v", gw)
	}
	h.expectErr(h.do(http.MethodPost, s.gw+"/reset?api-version="+testAPIVersion+"&gatewayVip=192.0.2.99", nil), http.StatusBadRequest, armerr.CodeInvalidParameter)
	h.wait(h.expect(h.do(http.MethodPost, s.gw+"/reset?api-version="+testAPIVersion+"&gatewayVip=198.51.100.1", nil), http.StatusAccepted))
	h.expectErr(h.do(http.MethodPost, rid("rg", "virtualNetworkGateways", "nope")+"/reset", nil), http.StatusNotFound, armerr.CodeResourceNotFound)
}

// TestOperationNotFound: unknown operations, and operations asked for in
// the wrong subscription.
func TestOperationNotFound(t *testing.T) {
	h := newHarness(t, Config{})
	h.put(groupPathOf("rg"), groupBody())
	r := h.expect(h.do(http.MethodPut, rid("rg", "localNetworkGateways", "s"), lngBody("192.0.2.1", "192.168.1.0/24")), http.StatusCreated)
	h.wait(r)
	base := "/subscriptions/" + testSub + "/providers/Microsoft.Network/locations/westeurope/operations/"
	h.expectErr(h.do(http.MethodGet, base+"00000000-0000-4000-8000-000000000000", nil), http.StatusNotFound, armerr.CodeOperationNotFound)
	other := strings.Replace(r.header.Get("Azure-AsyncOperation"), testSub, "another-subscription", 1)
	h.expectErr(h.do(http.MethodGet, other, nil), http.StatusNotFound, armerr.CodeOperationNotFound)
	wrongLoc := strings.Replace(r.header.Get("Azure-AsyncOperation"), "westeurope", "eastus", 1)
	h.expectErr(h.do(http.MethodGet, wrongLoc, nil), http.StatusNotFound, armerr.CodeOperationNotFound)
	// Case-insensitive path segments here too.
	up := strings.Replace(r.header.Get("Azure-AsyncOperation"), "/operations/", "/OPERATIONS/", 1)
	h.expect(h.do(http.MethodGet, up, nil), http.StatusOK)
}

// TestOperationsPruned: finished operations are forgotten after the
// retention.
func TestOperationsPruned(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	h := newHarness(t, Config{Now: clock, OperationRetention: time.Hour})
	h.put(groupPathOf("rg"), groupBody())
	r := h.put(rid("rg", "localNetworkGateways", "s"), lngBody("192.0.2.1", "192.168.1.0/24"))
	h.expect(h.do(http.MethodGet, r.header.Get("Azure-AsyncOperation"), nil), http.StatusOK)
	now.Add(int64(2 * time.Hour))
	if err := h.srv.pruneOps(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.expectErr(h.do(http.MethodGet, r.header.Get("Azure-AsyncOperation"), nil), http.StatusNotFound, armerr.CodeOperationNotFound)
}
