package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
	"github.com/vpngw/vpngw/internal/store/boltstore"
	"github.com/vpngw/vpngw/internal/tstest"
)

const (
	testAPIVersion = "2024-05-01"
	testSub        = resource.DefaultSubscription
)

// exchange is one recorded request and response.
type exchange struct {
	method, url string
	status      int
	header      http.Header
	body        []byte
}

// harness is a Server over a bbolt store behind httptest, with a client
// that records every exchange.
type harness struct {
	t    *testing.T
	dir  string
	st   store.Store
	srv  *Server
	ts   *httptest.Server
	logs *tstest.SyncBuffer

	mu        sync.Mutex
	exchanges []exchange
}

// newHarness starts a server; cfg.Store, if nil, is a new bbolt store in a
// temporary directory.
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, logs: &tstest.SyncBuffer{}}
	if cfg.Store == nil {
		h.dir = t.TempDir()
		st, err := boltstore.Open(filepath.Join(h.dir, "vpngw.db"), boltstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		cfg.Store = st
	}
	h.st = cfg.Store
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h.start(cfg)
	return h
}

func (h *harness) start(cfg Config) {
	h.t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	if cfg.Endpoint == "" {
		cfg.Endpoint = "http://" + ts.Listener.Addr().String()
	}
	srv, err := New(cfg)
	if err != nil {
		ts.Close()
		h.t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		ts.Close()
		h.t.Fatal(err)
	}
	h.srv = srv
	ts.Config.Handler = srv
	ts.Start()
	h.ts = ts
	h.t.Cleanup(h.stop)
}

// stop closes the HTTP server and the Server (not the store).
func (h *harness) stop() {
	if h.ts != nil {
		h.ts.Close()
		h.ts = nil
	}
	if h.srv != nil {
		h.srv.Close()
		h.srv = nil
	}
}

// resp is a response with its body read.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r *resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errCode returns the error code of an ARM error body.
func (r *resp) errCode() string {
	var e errorBody
	json.Unmarshal(r.body, &e)
	if e.Error == nil {
		return ""
	}
	return e.Error.Code
}

// do sends a request. path is absolute or server-relative; api-version is
// added unless the path has a query. Extra headers come in pairs.
func (h *harness) do(method, path string, body any, headers ...string) *resp {
	h.t.Helper()
	u := path
	if !strings.HasPrefix(u, "http") {
		u = h.ts.URL + path
	}
	if !strings.Contains(u, "?") {
		u += "?api-version=" + testAPIVersion
	}
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	h.exchanges = append(h.exchanges, exchange{method: method, url: u, status: res.StatusCode, header: res.Header, body: b})
	h.mu.Unlock()
	return &resp{status: res.StatusCode, header: res.Header, body: b}
}

// expect fails unless r has status.
func (h *harness) expect(r *resp, status int) *resp {
	h.t.Helper()
	if r.status != status {
		h.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

// expectErr fails unless r is an ARM error with status and code.
func (h *harness) expectErr(r *resp, status int, code string) *armerr.Error {
	h.t.Helper()
	var e errorBody
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == nil {
		h.t.Fatalf("status %d, body %s: not an ARM error", r.status, r.body)
	}
	if r.status != status || e.Error.Code != code {
		h.t.Fatalf("got %d %s (%s), want %d %s", r.status, e.Error.Code, e.Error.Message, status, code)
	}
	return e.Error
}

// wait polls the Azure-AsyncOperation URL of r until the operation ends.
func (h *harness) wait(r *resp) OperationStatus {
	h.t.Helper()
	u := r.header.Get("Azure-AsyncOperation")
	if u == "" {
		h.t.Fatalf("no Azure-AsyncOperation header (status %d): %s", r.status, r.body)
	}
	return h.waitURL(u)
}

func (h *harness) waitURL(u string) OperationStatus {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := h.expect(h.do(http.MethodGet, u, nil), http.StatusOK)
		var st OperationStatus
		r.json(h.t, &st)
		if st.Status != StatusInProgress {
			return st
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("operation %s still in progress", u)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// put PUTs body and, if an operation started, waits for it to succeed.
// It returns the PUT's response.
func (h *harness) put(path string, body any) *resp {
	h.t.Helper()
	r := h.do(http.MethodPut, path, body)
	if r.status != http.StatusOK && r.status != http.StatusCreated {
		h.t.Fatalf("PUT %s: %d %s", path, r.status, r.body)
	}
	if r.header.Get("Azure-AsyncOperation") != "" {
		if st := h.wait(r); st.Status != StatusSucceeded {
			h.t.Fatalf("PUT %s: operation %s: %+v", path, st.Status, st.Error)
		}
	}
	return r
}

// del DELETEs path and waits for the operation to succeed.
func (h *harness) del(path string) {
	h.t.Helper()
	r := h.do(http.MethodDelete, path, nil)
	switch r.status {
	case http.StatusNoContent:
	case http.StatusAccepted:
		if st := h.wait(r); st.Status != StatusSucceeded {
			h.t.Fatalf("DELETE %s: operation %s: %+v", path, st.Status, st.Error)
		}
	default:
		h.t.Fatalf("DELETE %s: %d %s", path, r.status, r.body)
	}
}

// get GETs path, requires 200 and decodes into a map.
func (h *harness) get(path string) map[string]any {
	h.t.Helper()
	var m map[string]any
	h.expect(h.do(http.MethodGet, path, nil), http.StatusOK).json(h.t, &m)
	return m
}

// Paths and bodies.

func groupPathOf(rg string) string { return "/subscriptions/" + testSub + "/resourcegroups/" + rg }

func rid(rg, typ, name string) string {
	return "/subscriptions/" + testSub + "/resourceGroups/" + rg + "/providers/Microsoft.Network/" + typ + "/" + name
}

func groupBody() string { return `{"location":"westeurope"}` }

func vnetBody(prefix, gwSubnet string) string {
	return fmt.Sprintf(`{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":[%q]},
		"subnets":[{"name":"GatewaySubnet","properties":{"addressPrefix":%q}}]}}`, prefix, gwSubnet)
}

func pipBody() string {
	return `{"location":"westeurope","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`
}

func gatewayBody(rg, vnet, pip string) string {
	return fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw1"},
		"ipConfigurations":[{"name":"default","properties":{"subnet":{"id":%q},"publicIPAddress":{"id":%q}}}]}}`,
		rid(rg, "virtualNetworks", vnet)+"/subnets/GatewaySubnet", rid(rg, "publicIPAddresses", pip))
}

func lngBody(ip, prefix string) string {
	return fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayIpAddress":%q,"localNetworkAddressSpace":{"addressPrefixes":[%q]}}}`, ip, prefix)
}

func connBody(rg, gw, lngRG, lng, key string) string {
	k := ""
	if key != "" {
		k = fmt.Sprintf(`,"sharedKey":%q`, key)
	}
	return fmt.Sprintf(`{"location":"westeurope","properties":{"connectionType":"IPsec",
		"virtualNetworkGateway1":{"id":%q},"localNetworkGateway2":{"id":%q}%s}}`,
		rid(rg, "virtualNetworkGateways", gw), rid(lngRG, "localNetworkGateways", lng), k)
}

// site creates, in group rg, a VNet, public IP, gateway, local network
// gateway and connection (with key) and returns their paths.
type site struct {
	group, vnet, pip, gw, lng, conn string
}

func (h *harness) site(rg, key string) site {
	h.t.Helper()
	s := site{
		group: groupPathOf(rg),
		vnet:  rid(rg, "virtualNetworks", "vnet1"),
		pip:   rid(rg, "publicIPAddresses", "pip1"),
		gw:    rid(rg, "virtualNetworkGateways", "gw1"),
		lng:   rid(rg, "localNetworkGateways", "onprem"),
		conn:  rid(rg, "connections", "conn1"),
	}
	h.put(s.group, groupBody())
	h.put(s.vnet, vnetBody("10.1.0.0/16", "10.1.255.0/27"))
	h.put(s.pip, pipBody())
	h.put(s.gw, gatewayBody(rg, "vnet1", "pip1"))
	h.put(s.lng, lngBody("192.0.2.10", "192.168.10.0/24"))
	h.put(s.conn, connBody(rg, "gw1", rg, "onprem", key))
	return s
}

// gateProvisioner blocks Realize until released, to hold operations in
// progress.
type gateProvisioner struct {
	NoneProvisioner
	// started receives the ID of each resource Realize is called for.
	started chan string
	// release is closed to let Realize return err.
	release chan struct{}
	err     error
	// teardown gates Teardown too.
	teardown bool
}

func newGate() *gateProvisioner {
	return &gateProvisioner{started: make(chan string, 100), release: make(chan struct{})}
}

func (p *gateProvisioner) Realize(ctx context.Context, _ resource.View, obj resource.Object) error {
	p.started <- obj.Meta().ID
	select {
	case <-p.release:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *gateProvisioner) Teardown(ctx context.Context, v resource.View, obj resource.Object) error {
	if !p.teardown {
		return ctx.Err()
	}
	return p.Realize(ctx, v, obj)
}

func (p *gateProvisioner) waitStarted(t *testing.T) string {
	t.Helper()
	select {
	case id := <-p.started:
		return id
	case <-time.After(10 * time.Second):
		t.Fatal("Realize not called")
	}
	return ""
}
