package reconcile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/client"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/reconcile"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store/boltstore"
)

// fakeProvider records what Apply was asked to build.
type fakeProvider struct {
	mu     sync.Mutex
	last   *reconcile.Desired
	passes int
}

func (p *fakeProvider) Name() string { return "fake" }
func (p *fakeProvider) Apply(_ context.Context, d *reconcile.Desired) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last, p.passes = d, p.passes+1
	return nil
}
func (p *fakeProvider) InstanceProblem(string) string { return "" }

// fakeAgent plays one gateway instance against the agent API: it applies
// every assignment at once and reports each of its connections as
// Connected (or as told).
type fakeAgent struct {
	id     string
	base   string
	mu     sync.Mutex
	cur    *agentapi.Assignment
	silent bool // stops reporting (a hung instance)
	// kill ends the agent like a process that exited: its poll's
	// connection closes and it reports no more.
	kill     context.CancelFunc
	state    string
	restarts int
	bgp      *agentapi.BGPStatus         // reported as is when set
	p2s      *agentapi.PointToSiteStatus // reported as is
}

func (a *fakeAgent) run(ctx context.Context, t *testing.T) {
	var after int64
	go func() {
		for ctx.Err() == nil {
			a.report(ctx)
			time.Sleep(100 * time.Millisecond)
		}
	}()
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/agent/v1/instances/%s/config?after=%d&wait=2s", a.base, a.id, after), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if resp.StatusCode == 200 {
			var as agentapi.Assignment
			_ = json.NewDecoder(resp.Body).Decode(&as)
			a.mu.Lock()
			if a.cur != nil && a.cur.Restart != as.Restart {
				a.restarts++
			}
			a.cur = &as
			a.mu.Unlock()
			after = as.Revision
		}
		resp.Body.Close()
	}
}

func (a *fakeAgent) report(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.silent || a.cur == nil {
		return
	}
	st := agentapi.Status{Name: a.id}
	state := a.state
	if state == "" {
		state = "Connected"
	}
	for _, c := range a.cur.Config.Connections {
		cs := agentapi.ConnectionStatus{Status: state, IngressBytes: 100, EgressBytes: 200}
		cs.Name = c.Name
		st.Connections = append(st.Connections, cs)
	}
	st.BGP = a.bgp
	st.PointToSite = a.p2s
	b, _ := json.Marshal(agentapi.Report{Revision: a.cur.Revision, Status: st})
	req, _ := http.NewRequestWithContext(ctx, "PUT", a.base+"/agent/v1/instances/"+a.id+"/status", bytes.NewReader(b))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

type harness struct {
	t      *testing.T
	ctx    context.Context
	c      *client.Client
	prov   *fakeProvider
	rec    *reconcile.Reconciler
	hubURL string
	mu     sync.Mutex
	agents map[string]*fakeAgent
	// silentNew makes every agent created from now on silent from its
	// start (never reports).
	silentNew bool
}

const sub = "/subscriptions/00000000-0000-0000-0000-000000000000"

func newHarness(t *testing.T, opts reconcile.Options) *harness {
	return newHarnessFailover(t, opts, time.Second)
}

// newHarnessFailover is newHarness with the reconciler's failover timeout.
func newHarnessFailover(t *testing.T, opts reconcile.Options, failoverAfter time.Duration) *harness {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, ctx: ctx, prov: &fakeProvider{}, agents: map[string]*fakeAgent{}}
	hub := reconcile.NewHub("", nil)
	h.rec = reconcile.New(reconcile.Config{Store: st, View: registry.NewView(st), WatchPrefix: registry.ResourceKeyPrefix,
		Provider: h.prov, Hub: hub, Options: opts, RealizeTimeout: 5 * time.Second, FailoverAfter: failoverAfter})
	hubSrv := httptest.NewServer(hub)
	t.Cleanup(hubSrv.Close)
	h.hubURL = hubSrv.URL
	srv, err := api.New(api.Config{Store: st, Provisioner: h.rec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := h.rec.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	apiSrv := httptest.NewServer(srv)
	t.Cleanup(apiSrv.Close)
	h.c, err = client.New(apiSrv.URL, client.WithPollInterval(20*time.Millisecond, 10*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// Fake agents appear for every instance the provider was asked for.
	go func() {
		for ctx.Err() == nil {
			h.prov.mu.Lock()
			d := h.prov.last
			h.prov.mu.Unlock()
			if d != nil {
				for id := range d.Instances {
					h.mu.Lock()
					if h.agents[id] == nil {
						h.startAgent(id)
					}
					h.mu.Unlock()
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return h
}

// startAgent starts (or starts again) the fake agent of instance id
// (h.mu held).
func (h *harness) startAgent(id string) {
	ctx, kill := context.WithCancel(h.ctx)
	a := &fakeAgent{id: id, base: h.hubURL, silent: h.silentNew, kill: kill}
	h.agents[id] = a
	go a.run(ctx, h.t)
}

// assignment is the agent's current assignment.
func (a *fakeAgent) assignment() agentapi.Assignment {
	a.mu.Lock()
	defer a.mu.Unlock()
	return *a.cur
}

// config is the configuration of the agent's current assignment.
func (a *fakeAgent) config() gwconfig.Config { return a.assignment().Config }

func (h *harness) agent(id string) *fakeAgent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.agents[id]
}

// put creates or updates a resource and waits for its operation.
func (h *harness) put(path string, body string) map[string]any {
	h.t.Helper()
	p, err := h.c.Put(h.ctx, path, json.RawMessage(body), nil)
	if err != nil {
		h.t.Fatalf("PUT %s: %v", path, err)
	}
	ctx, cancel := context.WithTimeout(h.ctx, 20*time.Second)
	defer cancel()
	if err := p.Wait(ctx, nil); err != nil {
		h.t.Fatalf("PUT %s: %v", path, err)
	}
	var out map[string]any
	_ = p.Result(&out)
	return out
}

func (h *harness) putErr(path, body string) error {
	p, err := h.c.Put(h.ctx, path, json.RawMessage(body), nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(h.ctx, 20*time.Second)
	defer cancel()
	return p.Wait(ctx, nil)
}

func (h *harness) get(path string) map[string]any {
	h.t.Helper()
	var out map[string]any
	if _, err := h.c.Get(h.ctx, path, &out); err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	return out
}

func (h *harness) del(path string) {
	h.t.Helper()
	p, err := h.c.Delete(h.ctx, path, nil)
	if err != nil {
		h.t.Fatalf("DELETE %s: %v", path, err)
	}
	if err := p.Wait(h.ctx, nil); err != nil {
		h.t.Fatalf("DELETE %s: %v", path, err)
	}
}

func rg(name string) string { return sub + "/resourceGroups/" + name }
func res(group, typ, name string) string {
	return rg(group) + "/providers/Microsoft.Network/" + typ + "/" + name
}

// site builds a VNet with a GatewaySubnet, a public IP and a gateway.
func (h *harness) site(group, vnet, space, gwSubnet, gw string) {
	h.put(rg(group), `{"location":"westeurope"}`)
	h.put(res(group, "virtualNetworks", vnet), fmt.Sprintf(`{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["%s"]},
		"subnets":[{"name":"GatewaySubnet","properties":{"addressPrefix":"%s"}}]}}`, space, gwSubnet))
	h.put(res(group, "publicIPAddresses", gw+"-ip"), `{"location":"westeurope","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`)
	h.put(res(group, "virtualNetworkGateways", gw), fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw2"},"vpnGatewayGeneration":"Generation2",
		"ipConfigurations":[{"name":"default","properties":{"subnet":{"id":"%s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%s"}}}]}}`,
		res(group, "virtualNetworks", vnet), res(group, "publicIPAddresses", gw+"-ip")))
}

func (h *harness) desired() *reconcile.Desired {
	h.prov.mu.Lock()
	defer h.prov.mu.Unlock()
	return h.prov.last
}

func waitFor(t *testing.T, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGatewaySucceedsWhenInstancesReport(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	start := time.Now()
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	gw := h.get(res("rg1", "virtualNetworkGateways", "gw1"))
	if gw["properties"].(map[string]any)["provisioningState"] != "Succeeded" {
		t.Fatalf("gateway: %v", gw)
	}
	t.Logf("gateway create → Succeeded with instances reporting: %v", time.Since(start))
	d := h.desired()
	if len(d.Gateways) != 1 || len(d.Gateways[0].Instances) != 2 {
		t.Fatalf("desired: %+v", d)
	}
	g := d.Gateways[0]
	if g.GatewaySubnet.String() != "10.1.255.0/27" || g.Instances[0].PrivateIP.String() != "10.1.255.4" || g.Instances[1].PrivateIP.String() != "10.1.255.5" {
		t.Fatalf("instance addresses: %+v %+v", g.Instances[0], g.Instances[1])
	}
	if !g.Instances[0].Active || g.Instances[1].Active || g.Instances[1].Assignment.Role != agentapi.RoleStandby {
		t.Fatalf("roles: %+v %+v", g.Instances[0].Assignment.Role, g.Instances[1].Assignment.Role)
	}
	// Gen2 VpnGw2: 1.25 Gbit/s.
	if g.Instances[0].Assignment.Config.ThroughputLimitMbps != 1250 {
		t.Fatalf("throughput cap %d", g.Instances[0].Assignment.Config.ThroughputLimitMbps)
	}
}

func TestGatewayFailsWhenInstancesDoNotReport(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	h.put(rg("rg1"), `{"location":"westeurope"}`)
	h.put(res("rg1", "virtualNetworks", "v"), `{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["10.1.0.0/16"]},"subnets":[{"name":"GatewaySubnet","properties":{"addressPrefix":"10.1.255.0/27"}}]}}`)
	h.put(res("rg1", "publicIPAddresses", "ip"), `{"location":"westeurope","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`)
	// Every agent created from now on is silent from its start. (A
	// goroutine that silenced agents after they appeared lost the race
	// on a loaded machine: an agent that reported once let the gateway
	// succeed.)
	h.mu.Lock()
	h.silentNew = true
	h.mu.Unlock()
	err := h.putErr(res("rg1", "virtualNetworkGateways", "gw"), fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw1"},
		"ipConfigurations":[{"name":"default","properties":{"subnet":{"id":"%s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%s"}}}]}}`,
		res("rg1", "virtualNetworks", "v"), res("rg1", "publicIPAddresses", "ip")))
	if err == nil || !strings.Contains(err.Error(), "GatewayInstanceNotReady") || !strings.Contains(err.Error(), "did not apply their configuration") {
		t.Fatalf("want GatewayInstanceNotReady, got %v", err)
	}
	gw := h.get(res("rg1", "virtualNetworkGateways", "gw"))
	if gw["properties"].(map[string]any)["provisioningState"] != "Failed" {
		t.Fatalf("provisioningState %v", gw["properties"].(map[string]any)["provisioningState"])
	}
}

func TestSiteToSiteConnectionStatusAndTeardown(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	h.put(res("rg1", "localNetworkGateways", "site1"), `{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.10","localNetworkAddressSpace":{"addressPrefixes":["10.50.0.0/16"]}}}`)
	h.put(res("rg1", "connections", "c1"), fmt.Sprintf(`{"location":"westeurope","properties":{"connectionType":"IPsec","sharedKey":"k1abc",
		"virtualNetworkGateway1":{"id":"%s"},"localNetworkGateway2":{"id":"%s"},"dpdTimeoutSeconds":30}}`,
		res("rg1", "virtualNetworkGateways", "gw1"), res("rg1", "localNetworkGateways", "site1")))
	d := h.desired()
	g := d.Gateways[0]
	cfg := g.Instances[0].Assignment.Config
	if len(cfg.Connections) != 1 || cfg.Connections[0].RemoteAddress != "192.0.2.10" || cfg.Connections[0].SharedKey != "k1abc" ||
		cfg.Connections[0].RemotePrefixes[0] != "10.50.0.0/16" || cfg.Connections[0].DPDTimeoutSeconds != 30 || cfg.LocalPrefixes[0] != "10.1.0.0/16" {
		t.Fatalf("assignment: %+v", cfg)
	}
	if len(g.Instances[1].Assignment.Config.Connections) != 0 {
		t.Fatal("standby got connections")
	}
	if g.Routes[0].String() != "10.50.0.0/16" {
		t.Fatalf("routes %v", g.Routes)
	}
	waitFor(t, 3*time.Second, func() bool {
		c := h.get(res("rg1", "connections", "c1"))["properties"].(map[string]any)
		return c["connectionStatus"] == "Connected"
	}, "connection never Connected")
	c := h.get(res("rg1", "connections", "c1"))["properties"].(map[string]any)
	if c["egressBytesTransferred"].(float64) != 200 || len(c["tunnelConnectionStatus"].([]any)) != 1 {
		t.Fatalf("connection status: %v", c)
	}
	if _, ok := c["sharedKey"]; ok {
		t.Fatal("shared key in GET")
	}
	// The site's prefixes change: the agents get them.
	h.put(res("rg1", "localNetworkGateways", "site1"), `{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.10","localNetworkAddressSpace":{"addressPrefixes":["10.50.0.0/16","10.51.0.0/16"]}}}`)
	if got := h.agent(g.Instances[0].ID).cur.Config.Connections[0].RemotePrefixes; len(got) != 2 {
		t.Fatalf("LNG update not applied before the operation finished: %v", got)
	}
	// Deleting the connection removes it from the agents before the
	// operation ends.
	h.del(res("rg1", "connections", "c1"))
	a := h.agent(g.Instances[0].ID)
	a.mu.Lock()
	n := len(a.cur.Config.Connections)
	a.mu.Unlock()
	if n != 0 {
		t.Fatal("deleted connection still assigned")
	}
	h.del(res("rg1", "virtualNetworkGateways", "gw1"))
	if d := h.desired(); len(d.Gateways) != 0 || len(d.Instances) != 0 {
		t.Fatalf("gateway not torn down: %+v", d)
	}
}

func TestVnet2VnetFollowsPeerAddressSpace(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	h.site("rg2", "vnet2", "10.2.0.0/16", "10.2.255.0/27", "gw2")
	for _, p := range [][4]string{{"rg1", "c12", "gw1", "rg2/gw2"}, {"rg2", "c21", "gw2", "rg1/gw1"}} {
		other := strings.Split(p[3], "/")
		h.put(res(p[0], "connections", p[1]), fmt.Sprintf(`{"location":"westeurope","properties":{"connectionType":"Vnet2Vnet","sharedKey":"v2vKey",
			"virtualNetworkGateway1":{"id":"%s"},"virtualNetworkGateway2":{"id":"%s"}}}`,
			res(p[0], "virtualNetworkGateways", p[2]), res(other[0], "virtualNetworkGateways", other[1])))
	}
	conn := func(gw string) gwconfig.Connection {
		for _, g := range h.desired().Gateways {
			if g.ID.Name == gw {
				return g.Instances[0].Assignment.Config.Connections[0]
			}
		}
		t.Fatalf("no gateway %s", gw)
		return gwconfig.Connection{}
	}
	pip := func(group, gw string) string {
		return h.get(res(group, "publicIPAddresses", gw+"-ip"))["properties"].(map[string]any)["ipAddress"].(string)
	}
	if c := conn("gw1"); c.RemoteAddress != pip("rg2", "gw2") || c.RemotePrefixes[0] != "10.2.0.0/16" || c.UDPEncapsulation != "always" {
		t.Fatalf("gw1's view of gw2: %+v", c)
	}
	// Both ends are vpngw: the connection offers and accepts only the
	// modern suite (AES-GCM, ECP/Curve25519), not Azure's default list.
	if c := conn("gw1"); c.PeerType != gwconfig.PeerVpngw {
		t.Fatalf("gw1's connection to gw2 has peerType %q", c.PeerType)
	}
	if c := conn("gw2"); c.RemoteAddress != pip("rg1", "gw1") || c.RemotePrefixes[0] != "10.1.0.0/16" {
		t.Fatalf("gw2's view of gw1: %+v", c)
	}
	// VNet 2 grows: gw1's agents learn it without any user action on gw1.
	h.put(res("rg2", "virtualNetworks", "vnet2"), `{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["10.2.0.0/16","10.22.0.0/16"]},
		"subnets":[{"name":"GatewaySubnet","properties":{"addressPrefix":"10.2.255.0/27"}}]}}`)
	if c := conn("gw1"); len(c.RemotePrefixes) != 2 || c.RemotePrefixes[1] != "10.22.0.0/16" {
		t.Fatalf("gw1 did not learn vnet2's new prefix: %+v", c)
	}
	// And it reached gw1's running instance before the VNet PUT finished.
	var gw1 string
	for _, g := range h.desired().Gateways {
		if g.ID.Name == "gw1" {
			gw1 = g.Instances[0].ID
		}
	}
	if got := h.agent(gw1).cur.Config.Connections[0].RemotePrefixes; len(got) != 2 {
		t.Fatalf("running instance still has %v", got)
	}
}

func TestResetFailsOverToStandby(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	g := h.desired().Gateways[0]
	i0, i1 := g.Instances[0].ID, g.Instances[1].ID
	p, err := h.c.Post(h.ctx, res("rg1", "virtualNetworkGateways", "gw1")+"/reset", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(h.ctx, nil); err != nil {
		t.Fatal(err)
	}
	g = h.desired().Gateways[0]
	if g.Instances[0].Active || !g.Instances[1].Active {
		t.Fatal("standby did not take over")
	}
	if h.agent(i0).restarts != 1 || h.agent(i1).cur.Role != agentapi.RoleActive {
		t.Fatalf("old active restarts %d, new active role %s", h.agent(i0).restarts, h.agent(i1).cur.Role)
	}
	// Unplanned: the active instance goes silent; the standby takes over.
	a := h.agent(i1)
	a.mu.Lock()
	a.silent = true
	a.mu.Unlock()
	waitFor(t, 10*time.Second, func() bool {
		d := h.desired()
		return len(d.Gateways) == 1 && d.Gateways[0].Instances[0].Active
	}, "no failover from a silent active instance")
}

// connectedSite builds gateway gw1 with site connection c1 and waits until
// c1 is Connected. It returns c1's connectionStatus getter and the IDs of
// the gateway's two instances.
func (h *harness) connectedSite() (status func() any, i0, i1 string) {
	h.t.Helper()
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	h.put(res("rg1", "localNetworkGateways", "site1"), `{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.10","localNetworkAddressSpace":{"addressPrefixes":["10.50.0.0/16"]}}}`)
	h.put(res("rg1", "connections", "c1"), fmt.Sprintf(`{"location":"westeurope","properties":{"connectionType":"IPsec","sharedKey":"k1abc",
		"virtualNetworkGateway1":{"id":"%s"},"localNetworkGateway2":{"id":"%s"}}}`,
		res("rg1", "virtualNetworkGateways", "gw1"), res("rg1", "localNetworkGateways", "site1")))
	status = func() any {
		return h.get(res("rg1", "connections", "c1"))["properties"].(map[string]any)["connectionStatus"]
	}
	waitFor(h.t, 5*time.Second, func() bool { return status() == "Connected" }, "connection never Connected")
	g := h.desired().Gateways[0]
	return status, g.Instances[0].ID, g.Instances[1].ID
}

// A hung active instance: its connection turns Unknown once its report is
// older than the failover timeout; the standby takes over only while its
// own report is fresh (both silent, as when the control plane itself
// stalls: no swap); then the connection is Connected on the new active.
func TestSilentActiveIsUnknownThenFailsOver(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	status, i0, i1 := h.connectedSite()
	// Let the control plane's start-up grace (3 × 1 s here) pass.
	time.Sleep(3 * time.Second)
	setSilent := func(id string, v bool) {
		a := h.agent(id)
		a.mu.Lock()
		a.silent = v
		a.mu.Unlock()
	}
	setSilent(i1, true)
	setSilent(i0, true)
	t.Cleanup(func() { setSilent(i0, false) })
	waitFor(t, 3*time.Second, func() bool { return status() == "Unknown" }, "a silent active instance's connection is not Unknown")
	time.Sleep(1500 * time.Millisecond)
	if d := h.desired(); !d.Gateways[0].Instances[0].Active {
		t.Fatal("failed over to a standby that is silent too")
	}
	if s := status(); s != "Unknown" {
		t.Fatalf("connection %v while every instance is silent", s)
	}
	setSilent(i1, false)
	waitFor(t, 3*time.Second, func() bool {
		d := h.desired()
		return d.Gateways[0].Instances[1].Active
	}, "no failover to the standby once it reports")
	waitFor(t, 3*time.Second, func() bool { return status() == "Connected" }, "connection not Connected after the failover")
}

// An instance whose process exits closes its long poll's connection, and
// the control plane judges it gone at once rather than after the failover
// timeout (30 s here: nothing but the closed connection can explain a
// failover within this test). A dead standby fails nothing over and the
// instances view says why it is Silent; a dead active instance is
// replaced by the standby; started again, the dead instance reports and
// is Ready as the standby.
func TestDeadInstanceIsGoneAtOnce(t *testing.T) {
	h := newHarnessFailover(t, reconcile.Options{}, 30*time.Second)
	status, i0, i1 := h.connectedSite()
	gwPath := res("rg1", "virtualNetworkGateways", "gw1")
	instance := func(id string) api.GatewayInstance {
		for _, in := range h.instances(gwPath) {
			if in.Name == id {
				return in
			}
		}
		t.Fatalf("no instance %s in the view", id)
		return api.GatewayInstance{}
	}
	// Both reported; the standby dies.
	waitFor(t, 5*time.Second, func() bool { return instance(i1).State == api.InstanceStateReady }, "standby never Ready")
	h.agent(i1).kill()
	waitFor(t, 5*time.Second, func() bool {
		in := instance(i1)
		return in.State == api.InstanceStateSilent && strings.Contains(in.Error, "connection to the control plane closed")
	}, "a dead standby is not Silent with its connection closed")
	time.Sleep(500 * time.Millisecond) // five failover checks
	if !h.desired().Gateways[0].Instances[0].Active || status() != "Connected" {
		t.Fatal("a dead standby changed the roles or the connection")
	}
	// Started again, it is Ready as the standby.
	h.mu.Lock()
	h.startAgent(i1)
	h.mu.Unlock()
	waitFor(t, 5*time.Second, func() bool { return instance(i1).State == api.InstanceStateReady }, "a restarted standby is not Ready again")
	// The active instance dies: the standby takes over well inside the
	// 30 s timeout, and the connection is Connected through it.
	killed := time.Now()
	h.agent(i0).kill()
	waitFor(t, 5*time.Second, func() bool { return h.desired().Gateways[0].Instances[1].Active }, "no failover from a dead active instance")
	took := time.Since(killed)
	waitFor(t, 5*time.Second, func() bool {
		a := h.agent(i1)
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.cur != nil && a.cur.Role == agentapi.RoleActive
	}, "the standby never got the active role")
	waitFor(t, 5*time.Second, func() bool { return status() == "Connected" }, "connection not Connected after the failover")
	t.Logf("failover %v after the active instance's connection closed (timeout 30 s)", took.Round(time.Millisecond))
}

func TestThroughputCapSwitch(t *testing.T) {
	h := newHarness(t, reconcile.Options{NoThroughputCap: true})
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	if c := h.desired().Gateways[0].Instances[0].Assignment.Config.ThroughputLimitMbps; c != 0 {
		t.Fatalf("cap %d with the switch off", c)
	}
}

var _ = resource.ProvisioningSucceeded

// Every connection setting the agent understands reaches it; what vpngw
// cannot do fails the operation with the reason.
func TestConnectionSettingsReachTheAgent(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	h.put(res("rg1", "localNetworkGateways", "site1"), `{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.10","localNetworkAddressSpace":{"addressPrefixes":["10.50.0.0/16","10.51.0.0/16"]}}}`)
	h.put(res("rg1", "connections", "c1"), fmt.Sprintf(`{"location":"westeurope","properties":{"connectionType":"IPsec","sharedKey":"k1abc",
		"virtualNetworkGateway1":{"id":"%s"},"localNetworkGateway2":{"id":"%s"},
		"connectionMode":"InitiatorOnly","dpdTimeoutSeconds":90,"usePolicyBasedTrafficSelectors":true,
		"ipsecPolicies":[{"saLifeTimeSeconds":3600,"saDataSizeKilobytes":2048,"ipsecEncryption":"AES256","ipsecIntegrity":"SHA256",
			"ikeEncryption":"GCMAES256","ikeIntegrity":"SHA384","dhGroup":"ECP384","pfsGroup":"ECP256"}]}}`,
		res("rg1", "virtualNetworkGateways", "gw1"), res("rg1", "localNetworkGateways", "site1")))
	g := h.desired().Gateways[0]
	a := h.agent(g.Instances[0].ID)
	a.mu.Lock()
	cn := a.cur.Config.Connections[0]
	a.mu.Unlock()
	p := cn.IpsecPolicy
	if cn.ConnectionMode != "InitiatorOnly" || cn.DPDTimeoutSeconds != 90 || !cn.UsePolicyBasedTrafficSelectors ||
		cn.ConnectionProtocol != "IKEv2" || p == nil || p.IkeEncryption != "GCMAES256" || p.PfsGroup != "ECP256" ||
		p.SaLifeTimeSeconds != 3600 || p.SaDataSizeKilobytes != 2048 || len(cn.RemotePrefixes) != 2 {
		t.Fatalf("agent assignment: %+v policy %+v", cn, p)
	}
	// A third-party device: Azure's proposal lists (or its policy).
	if cn.PeerType != "" {
		t.Fatalf("site connection has peerType %q", cn.PeerType)
	}
	// The agent must accept what it is given.
	if _, err := a.cur.Config.Check(); err != nil {
		t.Fatalf("assignment does not validate: %v", err)
	}
	// IKEv1 (VpnGw2 allows it): the agent gets it as it is.
	h.put(res("rg1", "localNetworkGateways", "site2"), `{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.11","localNetworkAddressSpace":{"addressPrefixes":["10.60.0.0/16"]}}}`)
	h.put(res("rg1", "connections", "c2"), fmt.Sprintf(`{"location":"westeurope","properties":{"connectionType":"IPsec","sharedKey":"k2abc",
		"connectionProtocol":"IKEv1","virtualNetworkGateway1":{"id":"%s"},"localNetworkGateway2":{"id":"%s"}}}`,
		res("rg1", "virtualNetworkGateways", "gw1"), res("rg1", "localNetworkGateways", "site2")))
	a.mu.Lock()
	cfg := a.cur.Config
	a.mu.Unlock()
	in, err := cfg.Check()
	if err != nil {
		t.Fatalf("assignment with an IKEv1 connection does not validate: %v", err)
	}
	if len(in.Peers) != 2 || in.Peers[1].ConnectionProtocol != gwconfig.IKEv1 || in.Peers[1].PolicyBased || in.VPNType != gwconfig.RouteBased {
		t.Fatalf("IKEv1 connection: %+v", in.Peers)
	}
}

// A PolicyBased gateway's connection reaches the agent as the IKEv1
// connection of a PolicyBased instance (gateway prefixes × site prefixes,
// no DPD, the default idle timeout).
func TestPolicyBasedGatewayReachesTheAgent(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	h.put(rg("rg1"), `{"location":"westeurope"}`)
	h.put(res("rg1", "virtualNetworks", "vnet1"), `{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["10.1.0.0/16"]},
		"subnets":[{"name":"GatewaySubnet","properties":{"addressPrefix":"10.1.255.0/27"}}]}}`)
	h.put(res("rg1", "publicIPAddresses", "gw1-ip"), `{"location":"westeurope","sku":{"name":"Basic"},"properties":{"publicIPAllocationMethod":"Dynamic"}}`)
	h.put(res("rg1", "virtualNetworkGateways", "gw1"), fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"PolicyBased","sku":{"name":"Basic"},
		"ipConfigurations":[{"name":"default","properties":{"subnet":{"id":"%s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%s"}}}]}}`,
		res("rg1", "virtualNetworks", "vnet1"), res("rg1", "publicIPAddresses", "gw1-ip")))
	h.put(res("rg1", "localNetworkGateways", "site1"), `{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.10","localNetworkAddressSpace":{"addressPrefixes":["10.50.0.0/16","10.51.0.0/16"]}}}`)
	h.put(res("rg1", "connections", "c1"), fmt.Sprintf(`{"location":"westeurope","properties":{"connectionType":"IPsec","sharedKey":"k1abc",
		"virtualNetworkGateway1":{"id":"%s"},"localNetworkGateway2":{"id":"%s"}}}`,
		res("rg1", "virtualNetworkGateways", "gw1"), res("rg1", "localNetworkGateways", "site1")))
	g := h.desired().Gateways[0]
	in, err := h.agent(g.Instances[0].ID).config().Check()
	if err != nil {
		t.Fatalf("PolicyBased assignment does not validate: %v", err)
	}
	p := in.Peers[0]
	if in.VPNType != gwconfig.PolicyBased || p.ConnectionProtocol != gwconfig.IKEv1 || !p.PolicyBased || p.DPDTimeout >= 0 ||
		p.IdleTimeout != gwconfig.DefaultIdleTimeoutSeconds*time.Second || len(p.LocalNets) != 1 || len(p.RemoteNets) != 2 {
		t.Fatalf("PolicyBased instance: %+v peer %+v", in.Config, p)
	}
}

// resetconnection: the active instance's assignment counts a reset of that
// one connection (the agent resets its SAs when the counter changes); the
// other connection's counter, the standby and the instance restart counter
// are untouched, and the counter survives later assignments.
func TestResetConnectionReachesTheActiveInstance(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	for i, c := range []string{"c1", "c2"} {
		h.put(res("rg1", "localNetworkGateways", "site"+c), fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.%d","localNetworkAddressSpace":{"addressPrefixes":["10.%d.0.0/16"]}}}`, 10+i, 50+i))
		h.put(res("rg1", "connections", c), fmt.Sprintf(`{"location":"westeurope","properties":{"connectionType":"IPsec","sharedKey":"k1abc",
			"virtualNetworkGateway1":{"id":"%s"},"localNetworkGateway2":{"id":"%s"}}}`,
			res("rg1", "virtualNetworkGateways", "gw1"), res("rg1", "localNetworkGateways", "site"+c)))
	}
	g := h.desired().Gateways[0]
	name := func(c string) string {
		for _, cn := range g.Instances[0].Assignment.Config.Connections {
			if strings.HasPrefix(cn.Name, c+"-") {
				return cn.Name
			}
		}
		t.Fatalf("no connection %s in %+v", c, g.Instances[0].Assignment.Config.Connections)
		return ""
	}
	c1, c2 := name("c1"), name("c2")
	for want := int64(1); want <= 2; want++ {
		p, err := h.c.Post(h.ctx, res("rg1", "connections", "c1")+"/resetconnection", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(h.ctx, nil); err != nil {
			t.Fatal(err)
		}
		a := h.agent(g.Instances[0].ID)
		a.mu.Lock()
		cur := a.cur
		restarts := a.restarts
		a.mu.Unlock()
		if cur.ConnectionResets[c1] != want || cur.ConnectionResets[c2] != 0 || cur.Restart != 0 || restarts != 0 {
			t.Fatalf("after reset %d: active instance has resets %v, restart %d (%d restarts)", want, cur.ConnectionResets, cur.Restart, restarts)
		}
		if sb := h.desired().Gateways[0].Instances[1].Assignment; len(sb.ConnectionResets) != 0 {
			t.Fatalf("standby assignment has resets %v", sb.ConnectionResets)
		}
	}
	// A later change keeps the counter (no second reset on the agent).
	h.put(res("rg1", "localNetworkGateways", "sitec2"), `{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.11","localNetworkAddressSpace":{"addressPrefixes":["10.51.0.0/16","10.61.0.0/16"]}}}`)
	if got := h.desired().Gateways[0].Instances[0].Assignment.ConnectionResets; got[c1] != 2 || len(got) != 1 {
		t.Fatalf("resets after another change: %v", got)
	}
}
