package reconcile_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/reconcile"
)

func (h *harness) instances(gwPath string) []api.GatewayInstance {
	h.t.Helper()
	var out struct {
		Value []api.GatewayInstance `json:"value"`
	}
	if _, err := h.c.Get(h.ctx, gwPath+"/instances", &out); err != nil {
		h.t.Fatalf("GET %s/instances: %v", gwPath, err)
	}
	return out.Value
}

// TestGatewayInstancesView: the instances view shows the desired state's
// instances with what their agents report, and never a key.
func TestGatewayInstancesView(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	h.put(res("rg1", "localNetworkGateways", "site1"), `{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.10","localNetworkAddressSpace":{"addressPrefixes":["10.50.0.0/16"]}}}`)
	h.put(res("rg1", "connections", "Conn1"), fmt.Sprintf(`{"location":"westeurope","properties":{"connectionType":"IPsec","sharedKey":"viewKey42",
		"virtualNetworkGateway1":{"id":"%s"},"localNetworkGateway2":{"id":"%s"}}}`,
		res("rg1", "virtualNetworkGateways", "gw1"), res("rg1", "localNetworkGateways", "site1")))
	g := h.desired().Gateways[0]
	pip := h.get(res("rg1", "publicIPAddresses", "gw1-ip"))["properties"].(map[string]any)["ipAddress"].(string)

	var list []api.GatewayInstance
	waitFor(t, 5*time.Second, func() bool {
		list = h.instances(res("rg1", "virtualNetworkGateways", "gw1"))
		return len(list) == 2 && list[0].State == api.InstanceStateReady && list[1].State == api.InstanceStateReady &&
			len(list[0].Connections) == 1 && list[0].Connections[0].ConnectionStatus == "Connected"
	}, "instances never Ready and Connected")
	for i, in := range list {
		want := g.Instances[i]
		if in.Name != want.ID || in.Index != i || in.PublicIPAddress != pip || in.PrivateIPAddress != want.PrivateIP.String() {
			t.Errorf("instance %d: %+v, want %s %s %s", i, in, want.ID, pip, want.PrivateIP)
		}
		if in.AppliedRevision != in.DesiredRevision || in.DesiredRevision == 0 || in.Error != "" {
			t.Errorf("instance %d revisions %d/%d, error %q", i, in.AppliedRevision, in.DesiredRevision, in.Error)
		}
		if _, err := time.Parse(time.RFC3339, in.LastReport); err != nil {
			t.Errorf("instance %d lastReport %q: %v", i, in.LastReport, err)
		}
	}
	if list[0].Role != "active" || list[1].Role != "standby" || len(list[1].Connections) != 0 {
		t.Fatalf("roles: %+v", list)
	}
	c := list[0].Connections[0]
	if c.Name != "Conn1" || c.ID != res("rg1", "connections", "Conn1") {
		t.Fatalf("connection: %+v", c)
	}
	var body json.RawMessage
	if _, err := h.c.Get(h.ctx, res("rg1", "virtualNetworkGateways", "gw1")+"/instances", &body); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), "viewKey42") {
		t.Fatal("the instances view shows the shared key")
	}

	// After a reset the standby is active and runs the connection.
	p, err := h.c.Post(h.ctx, res("rg1", "virtualNetworkGateways", "gw1")+"/reset", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(h.ctx, nil); err != nil {
		t.Fatal(err)
	}
	list = h.instances(res("rg1", "virtualNetworkGateways", "gw1"))
	if list[0].Role != "standby" || list[1].Role != "active" || len(list[0].Connections) != 0 || len(list[1].Connections) != 1 {
		t.Fatalf("after reset: %+v", list)
	}
}

// TestGatewayInstancesNotConnected: instances whose agents never report
// say so while the gateway waits for them.
func TestGatewayInstancesNotConnected(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	h.put(rg("rg1"), `{"location":"westeurope"}`)
	h.put(res("rg1", "virtualNetworks", "v"), `{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["10.1.0.0/16"]},"subnets":[{"name":"GatewaySubnet","properties":{"addressPrefix":"10.1.255.0/27"}}]}}`)
	h.put(res("rg1", "publicIPAddresses", "ip"), `{"location":"westeurope","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			h.mu.Lock()
			for _, a := range h.agents {
				a.mu.Lock()
				a.silent = true
				a.mu.Unlock()
			}
			h.mu.Unlock()
		}
	}()
	gw := res("rg1", "virtualNetworkGateways", "gw")
	if _, err := h.c.Put(h.ctx, gw, json.RawMessage(fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw1"},
		"ipConfigurations":[{"name":"default","properties":{"subnet":{"id":"%s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%s"}}}]}}`,
		res("rg1", "virtualNetworks", "v"), res("rg1", "publicIPAddresses", "ip"))), nil); err != nil {
		t.Fatal(err)
	}
	var list []api.GatewayInstance
	waitFor(t, 5*time.Second, func() bool {
		list = h.instances(gw)
		return len(list) == 2
	}, "instances not listed while the gateway is being created")
	for _, in := range list {
		if in.State != api.InstanceStateNotConnected || in.LastReport != "" || in.AppliedRevision != 0 ||
			!strings.Contains(in.Error, "has not reported") {
			t.Errorf("instance %s: %+v", in.Name, in)
		}
	}
}

// TestHubLogsRefusedAgents: a wrong or missing token is refused with one
// log line per remote host and minute.
func TestHubLogsRefusedAgents(t *testing.T) {
	var logs bytes.Buffer
	hub := reconcile.NewHub("right-token", slog.New(slog.NewTextHandler(&logs, nil)))
	srv := httptest.NewServer(hub)
	defer srv.Close()
	for i, tok := range []string{"", "wrong", "wrong"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/agent/v1/instances/g1-0/config", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
	}
	out := logs.String()
	if n := strings.Count(out, "agent API request refused"); n != 1 || !strings.Contains(out, "no token") ||
		!strings.Contains(out, "remote=127.0.0.1") || !strings.Contains(out, "/agent/v1/instances/g1-0/config") {
		t.Fatalf("%d refusal lines:\n%s", n, out)
	}
	if strings.Contains(out, "right-token") || strings.Contains(out, "Bearer") {
		t.Fatalf("a token reached the log:\n%s", out)
	}
}
