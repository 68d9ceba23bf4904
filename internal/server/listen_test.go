package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/client"
	"github.com/vpngw/vpngw/internal/identity"
	"github.com/vpngw/vpngw/internal/tlsca"
	"github.com/vpngw/vpngw/internal/tstest"
)

// TestListenPlainHTTPLoopbackOnly: --insecure-http on a non-loopback
// --listen fails before anything is bound or built; HTTPS may listen
// anywhere.
func TestListenPlainHTTPLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:8480"} {
		err := Run(context.Background(), Options{Listen: addr, InsecureHTTP: true, DataDir: t.TempDir(), SecretsKeyFile: filepath.Join(t.TempDir(), "k"), Provider: ProviderNone})
		if !errors.Is(err, errInsecureHTTP) {
			t.Errorf("--listen %s: %v", addr, err)
		}
	}
	// The policy on bound addresses: a wildcard needs a name.
	wild := &net.TCPAddr{IP: net.IPv4zero, Port: 8480}
	if _, _, err := apiNames(wild, Options{}); err == nil || !strings.Contains(err.Error(), "--allowed-host") {
		t.Errorf("wildcard without --allowed-host: %v", err)
	}
	if _, _, err := apiNames(wild, Options{InsecureHTTP: true, AllowedHosts: []string{"vpngw.example"}}); !errors.Is(err, errInsecureHTTP) {
		t.Errorf("wildcard with --insecure-http: %v", err)
	}
	hosts, ep, err := apiNames(wild, Options{AllowedHosts: []string{"vpngw.example"}})
	if err != nil || ep != "https://vpngw.example:8480" || !slices.Contains(hosts, "vpngw.example:8480") || !slices.Contains(hosts, "localhost:8480") {
		t.Errorf("wildcard with --allowed-host: %v %q %v", hosts, ep, err)
	}
	hosts, ep, err = apiNames(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8480}, Options{AllowedHosts: []string{"a.test:9", "[fd00::1]"}})
	want := []string{"127.0.0.1:8480", "localhost:8480", "[::1]:8480", "a.test:9", "[fd00::1]:8480"}
	if err != nil || ep != "https://127.0.0.1:8480" || !slices.Equal(hosts, want) {
		t.Errorf("loopback: %v %q %v", hosts, ep, err)
	}
}

// startNone runs `serve --provider none` on loopback and returns its
// address; it stops at cleanup.
func startNone(t *testing.T, o Options) string {
	t.Helper()
	addr, _ := startNoneStop(t, o)
	return addr
}

// startNoneStop is startNone that also returns a function that stops the
// server and waits for Run to return (also called at cleanup; calling it
// twice is harmless).
//
// It serves plain HTTP (--insecure-http, on loopback) unless o names a
// certificate: these tests are about the API's names and guard;
// TestServeTLS (runNone) is about HTTPS.
func startNoneStop(t testing.TB, o Options) (string, func()) {
	t.Helper()
	if o.TLSCertFile == "" {
		o.InsecureHTTP = true
	}
	return runNone(t, o)
}

// runNone runs `serve --provider none` (or o.Provider) on loopback with o
// as it is.
func runNone(t testing.TB, o Options) (string, func()) {
	t.Helper()
	o.Listen = "127.0.0.1:0"
	if o.Provider == "" {
		o.Provider = ProviderNone
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	if o.SecretsKeyFile == "" {
		o.SecretsKeyFile = filepath.Join(t.TempDir(), "secrets.key")
	}
	o.ListenFile = filepath.Join(o.DataDir, "listen")
	os.Remove(o.ListenFile) // a restart's: not this run's address
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(o.ListenFile); err == nil && len(b) > 0 {
			addr := strings.TrimSpace(string(b))
			serverTokens.Store(addr, adminToken(t, o, addr))
			return addr, stop
		}
		select {
		case err := <-done:
			done <- err // for stop
			t.Fatalf("serve: %v", err)
		default:
		}
	}
	t.Fatal("serve did not start")
	return "", nil
}

// serverTokens holds an administrator's access token for each server
// runNone started, by its address: send signs its requests with it.
var serverTokens sync.Map

// send sends a request, with the bearer token of the server it goes to
// (when runNone started it).
func send(t *testing.T, method, rawURL, host, ct, origin, body string) (int, http.Header, string) {
	t.Helper()
	var hdr http.Header
	if u, err := url.Parse(rawURL); err == nil {
		if tok, ok := serverTokens.Load(u.Host); ok {
			hdr = http.Header{"Authorization": {"Bearer " + tok.(string)}}
		}
	}
	r := tstest.Do(t, tstest.Request{Method: method, URL: rawURL, Host: host, ContentType: ct, Origin: origin, Body: body, Header: hdr})
	return r.Status, r.Header, string(r.Body)
}

// testAdmins maps a test's name to the administrator credential its first
// server wrote: a replica on a store that already has an administrator
// (another replica's, or a migrated one) writes none, and an operator
// copies the first one's (docs/ha.md).
var testAdmins sync.Map

// adminToken signs in as the administrator of the server o runs at addr.
func adminToken(t testing.TB, o Options, addr string) string {
	t.Helper()
	b, err := os.ReadFile(AdminCredentialFile(o.DataDir))
	if err == nil {
		testAdmins.LoadOrStore(t.Name(), b)
	} else if v, ok := testAdmins.Load(t.Name()); ok && errors.Is(err, os.ErrNotExist) {
		b, err = v.([]byte), nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var c identity.Credential
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	hc, scheme := &http.Client{Timeout: 10 * time.Second}, "http://"
	if o.TLSCertFile != "" {
		return "" // the test's own certificate: it signs in itself
	}
	if !o.InsecureHTTP {
		pool, err := tlsca.Pool(CAFile(o.DataDir))
		if err != nil {
			t.Fatal(err)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		scheme = "https://"
	}
	tok, err := client.SignIn(context.Background(), hc, scheme+addr, c.ClientID, c.ClientSecret, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// testIssuer is a token issuer in a temporary directory for any
// endpoint (the request's Host), and its administrator's credential.
func testIssuer(t *testing.T) (*identity.Issuer, identity.Credential) {
	t.Helper()
	dir := t.TempDir()
	iss, _, err := identity.Open(identity.Config{Dir: dir, Endpoint: func(r *http.Request) string { return "http://" + r.Host }})
	if err != nil {
		t.Fatal(err)
	}
	var c identity.Credential
	b, err := os.ReadFile(filepath.Join(dir, identity.AdminCredentialFile))
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		t.Fatal(err)
	}
	return iss, c
}

// TestServeGuardsHost: the served API refuses a rebound Host and builds
// operation URLs from its own address, whatever allowed name was used.
func TestServeGuardsHost(t *testing.T) {
	addr := startNone(t, Options{AllowedHosts: []string{"vpngw.test"}})
	base := "http://" + addr
	rg := base + "/subscriptions/s1/resourcegroups/rg?api-version=2024-05-01"
	st, _, body := send(t, http.MethodPut, rg, "attacker.example", "application/json", "", `{"location":"westeurope"}`)
	if st != http.StatusBadRequest || !strings.Contains(body, armerr.CodeInvalidHost) {
		t.Fatalf("rebound Host: %d %s", st, body)
	}
	port := addr[strings.LastIndex(addr, ":")+1:]
	for _, host := range []string{addr, "localhost:" + port, "vpngw.test:" + port} {
		if st, _, body := send(t, http.MethodPut, rg, host, "application/json", "", `{"location":"westeurope"}`); st/100 != 2 {
			t.Fatalf("Host %s: %d %s", host, st, body)
		}
	}
	lng := base + "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/localNetworkGateways/l?api-version=2024-05-01"
	st, h, body := send(t, http.MethodPut, lng, "vpngw.test:"+port, "application/json", "",
		`{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.1","localNetworkAddressSpace":{"addressPrefixes":["192.168.1.0/24"]}}}`)
	if st != http.StatusCreated || !strings.HasPrefix(h.Get("Azure-AsyncOperation"), base+"/") || !strings.HasPrefix(h.Get("Location"), base+"/") {
		t.Fatalf("%d %v %s", st, h, body)
	}
}

// TestServePortal: the portal is served at / on the API listener, behind
// the same guard (a rebound Host gets no page).
func TestServePortal(t *testing.T) {
	addr := startNone(t, Options{})
	tests := []struct {
		name, path, host string
		status           int
		want             string
	}{
		{"home", "/", addr, http.StatusOK, "Resource groups"},
		{"script", "/portal/static/app.js", addr, http.StatusOK, "Azure-AsyncOperation"},
		{"rebound Host", "/", "attacker.example", http.StatusBadRequest, armerr.CodeInvalidHost},
		{"API unchanged", "/openapi.json", addr, http.StatusOK, `"openapi"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, _, body := send(t, http.MethodGet, "http://"+addr+tc.path, tc.host, "", "", "")
			if st != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("GET %s (Host %s): %d, want %d with %q\n%.300s", tc.path, tc.host, st, tc.status, tc.want, body)
			}
		})
	}
}

// TestLabAPIGuarded: the mounts on the API listener (the lab's /lab/v1)
// sit behind the same guard: a cross-site text/plain POST /lab/v1/down
// never reaches the lab.
func TestLabAPIGuarded(t *testing.T) {
	var calls atomic.Int32
	lab := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) })
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metadata/endpoints" { // for the sign-in
			w.Write([]byte(`{"authentication":{"audiences":["http://` + r.Host + `/"]}}`))
			return
		}
		t.Errorf("API called for %s", r.URL)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	iss, cred := testIssuer(t)
	hs := &http.Server{Handler: apiHandler(api, iss, map[string]http.Handler{"/lab/v1/": lab}, []string{ln.Addr().String()}, false, nil)}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	u := "http://" + ln.Addr().String() + "/lab/v1/down"
	for _, c := range []struct{ ct, origin string }{
		{"text/plain", "http://attacker.example"},
		{"text/plain", ""},
		{"", ""},
		{"application/x-www-form-urlencoded", ""},
		{"application/json", "http://attacker.example"},
	} {
		if st, _, body := send(t, http.MethodPost, u, "", c.ct, c.origin, ""); st/100 != 4 {
			t.Errorf("POST /lab/v1/down %+v: %d %s", c, st, body)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the lab was called %d times", n)
	}
	// A same-origin JSON POST passes the guard and meets the token check.
	if st, h, _ := send(t, http.MethodPost, u, "", "application/json", "", ""); st != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" || calls.Load() != 0 {
		t.Fatalf("JSON POST without a token: %d, %d calls", st, calls.Load())
	}
	tok, err := client.SignIn(context.Background(), http.DefaultClient, "http://"+ln.Addr().String(), cred.ClientID, cred.ClientSecret, "", "")
	if err != nil {
		t.Fatal(err)
	}
	r := tstest.Do(t, tstest.Request{Method: http.MethodPost, URL: u, ContentType: "application/json", Header: http.Header{"Authorization": {"Bearer " + tok.AccessToken}}})
	if r.Status != http.StatusOK || calls.Load() != 1 {
		t.Fatalf("JSON POST: %d, %d calls", r.Status, calls.Load())
	}
}

// TestServeEndpointAndTrustProxy: operation URLs and /metadata/endpoints
// use --endpoint; X-Forwarded-Proto/-Host count only with --trust-proxy,
// and then only for an allowed host.
func TestServeEndpointAndTrustProxy(t *testing.T) {
	fwd := func(proto, host string) http.Header {
		h := http.Header{}
		if proto != "" {
			h.Set("X-Forwarded-Proto", proto)
		}
		if host != "" {
			h.Set("X-Forwarded-Host", host)
		}
		return h
	}
	tests := []struct {
		name   string
		opts   Options
		header http.Header
		status int
		// base is the start of the operation URLs ("" with the listen
		// address).
		base string
	}{
		{"listen address", Options{}, nil, http.StatusCreated, ""},
		{"forwarded headers ignored without --trust-proxy", Options{AllowedHosts: []string{"vpngw.test:443"}},
			fwd("https", "vpngw.test"), http.StatusCreated, ""},
		{"--endpoint", Options{Endpoint: "https://vpngw.test"}, nil, http.StatusCreated, "https://vpngw.test/"},
		{"--endpoint with a port", Options{Endpoint: "https://vpngw.test:8443/"}, nil, http.StatusCreated, "https://vpngw.test:8443/"},
		{"--trust-proxy without headers", Options{TrustProxy: true, Endpoint: "https://vpngw.test"}, nil, http.StatusCreated, "https://vpngw.test/"},
		{"--trust-proxy", Options{TrustProxy: true, AllowedHosts: []string{"proxy.test:443"}},
			fwd("https", "proxy.test"), http.StatusCreated, "https://proxy.test/"},
		{"--trust-proxy, first of a list", Options{TrustProxy: true, AllowedHosts: []string{"proxy.test:8443"}},
			fwd("https, http", "proxy.test:8443, inner.test"), http.StatusCreated, "https://proxy.test:8443/"},
		{"--trust-proxy, rebound forwarded host", Options{TrustProxy: true, AllowedHosts: []string{"proxy.test:443"}},
			fwd("https", "attacker.example"), http.StatusBadRequest, ""},
		{"--trust-proxy, forwarded host on another port", Options{TrustProxy: true, AllowedHosts: []string{"proxy.test:443"}},
			fwd("http", "proxy.test"), http.StatusBadRequest, ""},
		{"--trust-proxy, bad scheme", Options{TrustProxy: true}, fwd("gopher", ""), http.StatusBadRequest, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := startNone(t, tc.opts)
			base := tc.base
			if base == "" {
				base = "http://" + addr + "/"
			}
			tok, _ := serverTokens.Load(addr)
			auth := http.Header{"Authorization": {"Bearer " + tok.(string)}}
			hdr := auth.Clone()
			for k, v := range tc.header {
				hdr[k] = v
			}
			rg := "http://" + addr + "/subscriptions/s1/resourcegroups/rg?api-version=2024-05-01"
			if r := tstest.Do(t, tstest.Request{Method: http.MethodPut, URL: rg, ContentType: "application/json", Header: auth, Body: `{"location":"westeurope"}`}); r.Status/100 != 2 {
				t.Fatalf("PUT group: %d %s", r.Status, r.Body)
			}
			lng := "http://" + addr + "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/localNetworkGateways/l?api-version=2024-05-01"
			r := tstest.Do(t, tstest.Request{Method: http.MethodPut, URL: lng, ContentType: "application/json", Header: hdr,
				Body: `{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.1","localNetworkAddressSpace":{"addressPrefixes":["192.168.1.0/24"]}}}`})
			if r.Status != tc.status {
				t.Fatalf("PUT: %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if tc.status != http.StatusCreated {
				if !strings.Contains(string(r.Body), armerr.CodeInvalidHost) {
					t.Fatalf("refusal: %s", r.Body)
				}
				return
			}
			if !strings.HasPrefix(r.Header.Get("Azure-AsyncOperation"), base) || !strings.HasPrefix(r.Header.Get("Location"), base) {
				t.Fatalf("operation URLs %q, %q, want them under %s", r.Header.Get("Azure-AsyncOperation"), r.Header.Get("Location"), base)
			}
			m := tstest.Do(t, tstest.Request{Method: http.MethodGet, URL: "http://" + addr + "/metadata/endpoints?api-version=2015-01-01", Header: tc.header})
			if m.Status != http.StatusOK || !strings.Contains(string(m.Body), `"loginEndpoint":"`+base+`adfs"`) {
				t.Fatalf("metadata: %d %s, want URLs under %s", m.Status, m.Body, base)
			}
		})
	}
	for _, bad := range []string{"ftp://x", "https://", "https://x/path", "https://x?q=1", "x:80"} {
		if _, _, err := apiNames(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8480}, Options{Endpoint: bad}); err == nil || !strings.Contains(err.Error(), "--endpoint") {
			t.Errorf("--endpoint %q: %v", bad, err)
		}
	}
}
