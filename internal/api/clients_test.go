package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/resource"
)

// What real Azure clients send and ask for: the SDKs' and az's requests
// that vpngw used to refuse.

// TestConnectionEmbeddedReferences: the Azure SDK sends a connection's
// gateways as whole resources, as GET returned them; `az network
// vpn-connection update` sends back the connection it read. Only the ids
// are read; the body stays strictly checked.
func TestConnectionEmbeddedReferences(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.site("rg", "key1")
	gw, lng := h.get(s.gw), h.get(s.lng)
	conn2 := rid("rg", "connections", "conn2")
	embedded := func(mutate func(props map[string]any)) map[string]any {
		props := map[string]any{
			"connectionType":         "IPsec",
			"virtualNetworkGateway1": gw,
			"localNetworkGateway2":   lng,
			"sharedKey":              "key2",
		}
		if mutate != nil {
			mutate(props)
		}
		return map[string]any{"location": "westeurope", "properties": props}
	}
	tests := []struct {
		name   string
		body   any
		status int
		target string // of the error
	}{
		{"whole gateway objects", embedded(nil), http.StatusCreated, ""},
		{"the id of a whole object is still checked", embedded(func(p map[string]any) {
			g := map[string]any{}
			for k, v := range gw {
				g[k] = v
			}
			g["id"] = 42
			p["virtualNetworkGateway1"] = g
		}), http.StatusBadRequest, "properties.virtualNetworkGateway1.id"},
		{"a reference that is not an object", embedded(func(p map[string]any) { p["localNetworkGateway2"] = s.lng }),
			http.StatusBadRequest, "properties.localNetworkGateway2"},
		{"duplicate names inside the ignored part", `{"location":"westeurope","properties":{"connectionType":"IPsec",` +
			`"virtualNetworkGateway1":{"id":"` + s.gw + `","etag":"1","etag":"2"},"localNetworkGateway2":{"id":"` + s.lng + `"}}}`,
			http.StatusBadRequest, "properties.virtualNetworkGateway1.etag"},
		{"unknown properties elsewhere are still refused", embedded(func(p map[string]any) { p["etag"] = "x" }),
			http.StatusBadRequest, "properties.etag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(http.MethodPut, conn2, tc.body)
			if tc.status != http.StatusCreated {
				if e := h.expectErr(r, tc.status, armerr.CodeInvalidRequestContent); e.Target != tc.target {
					t.Fatalf("target %q, want %q (%s)", e.Target, tc.target, e.Message)
				}
				return
			}
			h.expect(r, tc.status)
			h.wait(r)
			if got := h.get(conn2); provState(got) != resource.ProvisioningSucceeded {
				t.Fatalf("connection %v", got)
			}
		})
	}

	// az network vpn-connection update: GET, change, PUT it all back, with
	// the gateways embedded whole.
	c := h.get(s.conn)
	props := c["properties"].(map[string]any)
	props["virtualNetworkGateway1"], props["localNetworkGateway2"] = gw, lng
	props["routingWeight"] = 7
	h.put(s.conn, c)
	if got := h.get(s.conn)["properties"].(map[string]any); got["routingWeight"] != float64(7) {
		t.Fatalf("routingWeight after update: %v", got["routingWeight"])
	}
	var key ConnectionSharedKey
	h.expect(h.do(http.MethodGet, s.conn+"/sharedkey", nil), http.StatusOK).json(t, &key)
	if key.Value != "key1" {
		t.Fatalf("the update changed the shared key: %q", key.Value)
	}
}

// TestGroupHead: HEAD on a resource group (az group exists) is 204 or
// 404, without a body.
func TestGroupHead(t *testing.T) {
	h := newHarness(t, Config{})
	h.put(groupPathOf("rg1"), groupBody())
	for _, tc := range []struct {
		name, path string
		status     int
	}{
		{"exists", groupPathOf("rg1"), http.StatusNoContent},
		{"exists, other case", groupPathOf("RG1"), http.StatusNoContent},
		{"missing", groupPathOf("nope"), http.StatusNotFound},
		{"no api-version", groupPathOf("rg1") + "?", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(http.MethodHead, tc.path, nil)
			if r.status != tc.status || len(r.body) != 0 {
				t.Fatalf("HEAD %s: %d %q, want %d and no body", tc.path, r.status, r.body, tc.status)
			}
		})
	}
}

// resetRecorder records the connections ResetConnection is called for.
type resetRecorder struct {
	NoneProvisioner
	mu    sync.Mutex
	conns []string
}

func (p *resetRecorder) ResetConnection(_ context.Context, _ resource.View, c *resource.Connection) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, c.ID)
	return nil
}

// TestResetConnection: POST connections/{c}/resetconnection is a
// long-running operation that asks the provisioner to reset that one
// connection; the result is 204.
func TestResetConnection(t *testing.T) {
	rec := &resetRecorder{}
	h := newHarness(t, Config{Provisioner: rec})
	s := h.site("rg", "k")
	r := h.expect(h.do(http.MethodPost, s.conn+"/resetconnection", nil), http.StatusAccepted)
	if r.header.Get("Location") == "" || r.header.Get("Retry-After") == "" {
		t.Fatalf("no operation headers: %v", r.header)
	}
	if st := h.wait(r); st.Status != StatusSucceeded {
		t.Fatalf("resetconnection: %+v", st)
	}
	if res := h.do(http.MethodGet, r.header.Get("Location"), nil); res.status != http.StatusNoContent || len(res.body) != 0 {
		t.Fatalf("result: %d %s", res.status, res.body)
	}
	if c := h.get(s.conn); provState(c) != resource.ProvisioningSucceeded {
		t.Fatalf("connection after reset: %v", c)
	}
	rec.mu.Lock()
	if len(rec.conns) != 1 || !strings.EqualFold(rec.conns[0], s.conn) {
		t.Errorf("ResetConnection calls: %v", rec.conns)
	}
	rec.mu.Unlock()
	h.expectErr(h.do(http.MethodPost, rid("rg", "connections", "nope")+"/resetconnection", nil), http.StatusNotFound, armerr.CodeResourceNotFound)
	h.expectErr(h.do(http.MethodGet, s.conn+"/resetconnection", nil), http.StatusMethodNotAllowed, armerr.CodeMethodNotAllowed)
}

// TestGatewayResetVIP: az 2.45 sends gatewayVip=None on an active-standby
// gateway, which Azure resets; on an active-active gateway the VIP must be
// one of the gateway's.
func TestGatewayResetVIP(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.site("rg", "")
	// An active-active gateway on a second VNet with two public IPs.
	h.put(rid("rg", "virtualNetworks", "vnet2"), vnetBody("10.2.0.0/16", "10.2.255.0/27"))
	var ips []string
	for _, n := range []string{"aa1", "aa2"} {
		h.put(rid("rg", "publicIPAddresses", n), pipBody())
		ips = append(ips, h.get(rid("rg", "publicIPAddresses", n))["properties"].(map[string]any)["ipAddress"].(string))
	}
	aa := rid("rg", "virtualNetworkGateways", "aa")
	ipc := func(name, pip string) string {
		return fmt.Sprintf(`{"name":%q,"properties":{"subnet":{"id":%q},"publicIPAddress":{"id":%q}}}`,
			name, rid("rg", "virtualNetworks", "vnet2")+"/subnets/GatewaySubnet", rid("rg", "publicIPAddresses", pip))
	}
	h.put(aa, `{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw1"},"activeActive":true,
		"ipConfigurations":[`+ipc("one", "aa1")+`,`+ipc("two", "aa2")+`]}}`)
	pip1 := h.get(s.pip)["properties"].(map[string]any)["ipAddress"].(string)
	for _, tc := range []struct {
		name, gw, query string
		ok              bool
	}{
		{"active-standby, no VIP", s.gw, "", true},
		{"active-standby, empty VIP", s.gw, "&gatewayVip=", true},
		{"active-standby, None (az 2.45)", s.gw, "&gatewayVip=None", true},
		{"active-standby, none", s.gw, "&gatewayVip=none", true},
		{"active-standby, its VIP", s.gw, "&gatewayVip=" + pip1, true},
		{"active-standby, another VIP", s.gw, "&gatewayVip=192.0.2.99", false},
		{"active-active, no VIP", aa, "", true},
		{"active-active, one instance", aa, "&gatewayVip=" + ips[1], true},
		{"active-active, None", aa, "&gatewayVip=None", false},
		{"active-active, another gateway's VIP", aa, "&gatewayVip=" + pip1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(http.MethodPost, tc.gw+"/reset?api-version="+testAPIVersion+tc.query, nil)
			if !tc.ok {
				if e := h.expectErr(r, http.StatusBadRequest, armerr.CodeInvalidParameter); e.Target != "gatewayVip" {
					t.Fatalf("target %q", e.Target)
				}
				return
			}
			if st := h.wait(h.expect(r, http.StatusAccepted)); st.Status != StatusSucceeded {
				t.Fatalf("reset: %+v", st)
			}
		})
	}
}

// TestCloudEndpoints: what `az cloud register --endpoint-resource-manager`
// and `az login`/`az account` read: /metadata/endpoints in Azure Stack's
// shape, /subscriptions, /subscriptions/{s} and /tenants, at any
// api-version, with URLs from the configured endpoint (never the Host,
// here 127.0.0.1:port).
func TestCloudEndpoints(t *testing.T) {
	h := newHarness(t, Config{Endpoint: "https://vpngw.example:8443"})
	h.put("/subscriptions/11111111-2222-3333-4444-555555555555/resourcegroups/other", groupBody())
	base := "https://vpngw.example:8443/"
	sub := func(id string) Subscription {
		return Subscription{ID: "/subscriptions/" + id, SubscriptionID: id, DisplayName: "vpngw", State: "Enabled", TenantID: DefaultTenant}
	}
	list := func(v ...any) string {
		b, _ := json.Marshal(map[string]any{"value": v})
		return string(b)
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	for _, tc := range []struct {
		name, path string
		status     int
		want       string // the body, as JSON, with status 200
	}{
		{"metadata", "/metadata/endpoints?api-version=2015-01-01", http.StatusOK, js(CloudMetadata{
			GalleryEndpoint: base, GraphEndpoint: base, PortalEndpoint: base + "portal/",
			Authentication: CloudAuthentication{LoginEndpoint: base + "adfs", Audiences: []string{base}},
		})},
		{"metadata without api-version", "/metadata/endpoints?", http.StatusOK, ""},
		{"subscriptions", "/subscriptions?api-version=2016-06-01", http.StatusOK,
			list(sub(resource.DefaultSubscription), sub("11111111-2222-3333-4444-555555555555"))},
		{"subscription", "/subscriptions/" + resource.DefaultSubscription + "?api-version=2022-12-01", http.StatusOK, js(sub(resource.DefaultSubscription))},
		{"subscription, bad ID", "/subscriptions/a%20b?api-version=2022-12-01", http.StatusBadRequest, ""},
		{"tenants", "/tenants?api-version=2022-12-01", http.StatusOK,
			list(Tenant{ID: "/tenants/" + DefaultTenant, TenantID: DefaultTenant, TenantCategory: "Home", DisplayName: "vpngw"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(http.MethodGet, tc.path, nil)
			if r.status != tc.status {
				t.Fatalf("GET %s: %d %s", tc.path, r.status, r.body)
			}
			if tc.want != "" && string(compact(t, r.body)) != string(compact(t, []byte(tc.want))) {
				t.Fatalf("GET %s:\n got %s\nwant %s", tc.path, r.body, tc.want)
			}
			if strings.Contains(string(r.body), "127.0.0.1") {
				t.Fatalf("the Host header is echoed: %s", r.body)
			}
		})
	}
}

// TestSDKSubnetPolicies: the Azure SDK for Python (network 2022-07-01)
// sends privateEndpointNetworkPolicies and
// privateLinkServiceNetworkPolicies with every subnet; they are stored and
// returned.
func TestSDKSubnetPolicies(t *testing.T) {
	h := newHarness(t, Config{})
	h.put(groupPathOf("rg"), groupBody())
	vnet := rid("rg", "virtualNetworks", "v")
	h.put(vnet, `{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["10.1.0.0/16"]},
		"subnets":[{"name":"GatewaySubnet","properties":{"addressPrefix":"10.1.255.0/27",
		"privateEndpointNetworkPolicies":"Disabled","privateLinkServiceNetworkPolicies":"enabled"}}]}}`)
	sub := h.get(vnet + "/subnets/GatewaySubnet")["properties"].(map[string]any)
	if sub["privateEndpointNetworkPolicies"] != "Disabled" || sub["privateLinkServiceNetworkPolicies"] != "Enabled" {
		t.Fatalf("subnet %v", sub)
	}
	e := h.expectErr(h.do(http.MethodPut, vnet+"/subnets/s2", `{"properties":{"addressPrefix":"10.1.1.0/24","privateLinkServiceNetworkPolicies":"Sometimes"}}`),
		http.StatusBadRequest, armerr.CodeInvalidParameter)
	if e.Target != "properties.privateLinkServiceNetworkPolicies" {
		t.Fatalf("target %q", e.Target)
	}
}
