package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/tstest"
)

// guarded serves h's Server behind Guard, allowing only its own address,
// and returns a function sending one raw request to it.
func guarded(t *testing.T, h *harness) (string, func(method, path, host, contentType, origin, body string) *resp) {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	addr := ts.Listener.Addr().String()
	ts.Config.Handler = Guard(h.srv, []string{addr})
	ts.Start()
	t.Cleanup(ts.Close)
	return addr, func(method, path, host, contentType, origin, body string) *resp {
		t.Helper()
		if !strings.Contains(path, "?") {
			path += "?api-version=" + testAPIVersion
		}
		r := tstest.Do(t, tstest.Request{Method: method, URL: ts.URL + path, Host: host, ContentType: contentType, Origin: origin, Body: body})
		return &resp{status: r.Status, header: r.Header, body: r.Body}
	}
}

// TestGuardDNSRebinding: a page whose name was rebound to the server's
// address sends its own name as Host; it is refused before routing and
// reads no key.
func TestGuardDNSRebinding(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.site("rg", "Rebinding1Key2")
	addr, do := guarded(t, h)

	for _, host := range []string{"attacker.example", "attacker.example:" + strings.Split(addr, ":")[1], "127.0.0.1.attacker.example"} {
		r := do(http.MethodGet, s.conn+"/sharedkey", host, "", "", "")
		if r.status != http.StatusBadRequest || r.errCode() != armerr.CodeInvalidHost {
			t.Errorf("Host %s: %d %s, want 400 %s", host, r.status, r.body, armerr.CodeInvalidHost)
		}
		if strings.Contains(string(r.body), "Rebinding1Key2") || strings.Contains(string(r.body), "attacker") {
			t.Errorf("Host %s: response leaks %s", host, r.body)
		}
	}
	// The server's own address still works, in any case.
	r := do(http.MethodGet, s.conn+"/sharedkey", strings.ToUpper(addr), "", "", "")
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "Rebinding1Key2") {
		t.Fatalf("own Host: %d %s", r.status, r.body)
	}
}

// TestOperationURLsFromEndpoint: the Azure-AsyncOperation and Location
// URLs come from Config.Endpoint, whatever Host the request carried.
func TestOperationURLsFromEndpoint(t *testing.T) {
	h := newHarness(t, Config{Endpoint: "http://vpngw.test:8480"})
	h.put(groupPathOf("rg"), groupBody())
	req, err := http.NewRequest(http.MethodPut, h.ts.URL+rid("rg", "localNetworkGateways", "l")+"?api-version="+testAPIVersion,
		strings.NewReader(lngBody("192.0.2.1", "192.168.1.0/24")))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "attacker.example"
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, k := range []string{"Azure-AsyncOperation", "Location"} {
		if v := res.Header.Get(k); !strings.HasPrefix(v, "http://vpngw.test:8480/subscriptions/") {
			t.Errorf("%s: %q, want the configured endpoint", k, v)
		}
	}
}

// TestGuardCSRF: the simple requests a foreign page can send without a
// preflight (text/plain, form encodings, no Content-Type) are refused and
// change nothing; so is any request whose Origin is not the server.
func TestGuardCSRF(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.site("rg", "Csrf1Key2Unchanged")
	addr, do := guarded(t, h)
	evil := "http://attacker.example"

	cases := []struct {
		name, method, path, ct, origin, body string
		status                               int
		code                                 string
	}{
		{"text/plain cross-origin reset", http.MethodPost, s.conn + "/sharedkey/reset", "text/plain", evil, `{"keyLength":10}`, http.StatusForbidden, armerr.CodeCrossOriginRequest},
		{"text/plain same-origin reset", http.MethodPost, s.conn + "/sharedkey/reset", "text/plain", "http://" + addr, `{"keyLength":10}`, http.StatusUnsupportedMediaType, armerr.CodeUnsupportedMediaType},
		{"text/plain reset, no Origin", http.MethodPost, s.conn + "/sharedkey/reset", "text/plain;charset=UTF-8", "", `{"keyLength":10}`, http.StatusUnsupportedMediaType, armerr.CodeUnsupportedMediaType},
		{"form reset", http.MethodPost, s.conn + "/sharedkey/reset", "application/x-www-form-urlencoded", "", `{"keyLength":10}`, http.StatusUnsupportedMediaType, armerr.CodeUnsupportedMediaType},
		{"multipart reset", http.MethodPost, s.conn + "/sharedkey/reset", "multipart/form-data; boundary=x", "", `{"keyLength":10}`, http.StatusUnsupportedMediaType, armerr.CodeUnsupportedMediaType},
		{"JSON from another origin", http.MethodPut, s.conn + "/sharedkey", "application/json", evil, `{"value":"Evil1Key"}`, http.StatusForbidden, armerr.CodeCrossOriginRequest},
		{"JSON from origin null", http.MethodPut, s.conn + "/sharedkey", "application/json", "null", `{"value":"Evil1Key"}`, http.StatusForbidden, armerr.CodeCrossOriginRequest},
		{"empty-body action, no Content-Type", http.MethodPost, s.gw + "/reset", "", "", "", http.StatusUnsupportedMediaType, armerr.CodeUnsupportedMediaType},
		{"json with another parameter", http.MethodPut, s.conn + "/sharedkey", "application/json; charset=latin1", "", `{"value":"Evil1Key"}`, http.StatusUnsupportedMediaType, armerr.CodeUnsupportedMediaType},
		{"GET from another origin", http.MethodGet, s.conn + "/sharedkey", "", evil, "", http.StatusForbidden, armerr.CodeCrossOriginRequest},
	}
	for _, c := range cases {
		r := do(c.method, c.path, "", c.ct, c.origin, c.body)
		if r.status != c.status || r.errCode() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.status, r.body, c.status, c.code)
		}
		if r.header.Get("Azure-AsyncOperation") != "" || strings.Contains(string(r.body), "Csrf1Key2") {
			t.Errorf("%s: %s", c.name, r.body)
		}
	}
	var k ConnectionSharedKey
	h.expect(h.do(http.MethodGet, s.conn+"/sharedkey", nil), http.StatusOK).json(t, &k)
	if k.Value != "Csrf1Key2Unchanged" {
		t.Fatalf("the key changed to %q", k.Value)
	}
	// What the CLI sends passes: JSON, with or without a charset, and the
	// own origin.
	r := do(http.MethodPost, s.gw+"/reset", "", "application/json", "", "")
	if r.status != http.StatusAccepted {
		t.Errorf("gateway reset with application/json: %d %s", r.status, r.body)
	}
	h.wait(r)
	r = do(http.MethodPut, s.conn+"/sharedkey", "", "application/json; charset=utf-8", "http://"+addr, `{"value":"Csrf1Key2Unchanged"}`)
	if r.status != http.StatusOK {
		t.Errorf("same-origin JSON PUT: %d %s", r.status, r.body)
	}
	// What the Azure SDKs send for a body-less action: no Content-Type, an
	// x-ms-client-request-id header (which a page cannot send without a
	// preflight). Allowed for an empty POST only, and the Origin rule
	// still applies.
	sdk := http.Header{"X-Ms-Client-Request-Id": {"3f0b7e9c-0000-4000-8000-000000000001"}}
	for _, c := range []struct {
		name, method, path, origin, body string
		status                           int
	}{
		{"SDK reset", http.MethodPost, s.gw + "/reset", "", "", http.StatusAccepted},
		{"SDK resetconnection", http.MethodPost, s.conn + "/resetconnection", "", "", http.StatusAccepted},
		{"with a body", http.MethodPost, s.conn + "/sharedkey/reset", "", `{"keyLength":10}`, http.StatusUnsupportedMediaType},
		{"a PUT", http.MethodPut, s.conn + "/sharedkey", "", "", http.StatusUnsupportedMediaType},
		{"from another origin", http.MethodPost, s.gw + "/reset", "http://attacker.example", "", http.StatusForbidden},
	} {
		res := tstest.Do(t, tstest.Request{Method: c.method, URL: "http://" + addr + c.path + "?api-version=" + testAPIVersion,
			Origin: c.origin, Body: c.body, Header: sdk})
		if res.Status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, res.Status, res.Body, c.status)
		}
		if res.Status == http.StatusAccepted {
			h.waitURL(res.Header.Get("Azure-AsyncOperation"))
		}
	}
	// The Go SDK sends no x-ms-client-request-id, but its bearer token (a
	// header a page cannot send either).
	res := tstest.Do(t, tstest.Request{Method: http.MethodPost, URL: "http://" + addr + s.gw + "/reset?api-version=" + testAPIVersion,
		Header: http.Header{"Authorization": {"Bearer x"}}})
	if res.Status != http.StatusAccepted {
		t.Errorf("Go SDK reset: %d %s", res.Status, res.Body)
	}
	h.waitURL(res.Header.Get("Azure-AsyncOperation"))
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8480":    "127.0.0.1:8480",
		"LOCALHOST.:8480":   "localhost:8480",
		"localhost":         "localhost:80",
		"[::1]:8480":        "[::1]:8480",
		"[::1]":             "[::1]:80",
		"vpngw.Example.org": "vpngw.example.org:80",
		"":                  "",
	} {
		got, ok := normalizeHost(in, "80")
		if got != want || ok != (want != "") {
			t.Errorf("normalizeHost(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
