package portal_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/api/apitest"
	"github.com/vpngw/vpngw/internal/portal"
	"github.com/vpngw/vpngw/internal/resource"
)

const (
	host   = "portal.test"
	rgPath = "/subscriptions/" + resource.DefaultSubscription + "/resourceGroups/RG1"
	netP   = rgPath + "/providers/Microsoft.Network/"
	secret = "Sup3rSecretKeyNeverInHTML"
)

// fixture is the API and the portal in front of it, each behind the guard,
// as `vpngw serve` and as the API alone.
type fixture struct {
	// web is guard(portal(api)); bare is guard(api).
	web, bare http.Handler
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := apitest.NewServer(t, api.Config{Provisioner: apitest.NewProvisioner(), RetryAfter: 10 * time.Millisecond})
	p, err := portal.New(portal.Config{API: srv})
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{host + ":80"}
	return &fixture{web: api.Guard(p, hosts), bare: api.Guard(srv, hosts)}
}

func (f *fixture) do(t *testing.T, h http.Handler, method, target, ctype, body string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "http://"+host+target, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// put creates a resource through the API and waits until it is Succeeded.
func (f *fixture) put(t *testing.T, path, body string) {
	t.Helper()
	rec := f.do(t, f.bare, http.MethodPut, path+"?api-version=2024-05-01", "application/json", body, nil)
	if rec.Code >= 300 {
		t.Fatalf("PUT %s: %d %s", path, rec.Code, rec.Body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		rec := f.do(t, f.bare, http.MethodGet, path+"?api-version=2024-05-01", "", "", nil)
		var v struct {
			Properties struct {
				ProvisioningState string `json:"provisioningState"`
			} `json:"properties"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &v)
		if v.Properties.ProvisioningState == resource.ProvisioningSucceeded {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s did not succeed", path)
}

// seed creates a group with a VNet, a gateway, a site and a connection.
func (f *fixture) seed(t *testing.T) {
	t.Helper()
	f.put(t, rgPath, `{"location":"westeurope"}`)
	f.put(t, netP+"virtualNetworks/VNet1", `{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["10.1.0.0/16"]},
		"subnets":[{"name":"Workload","properties":{"addressPrefix":"10.1.1.0/24"}},{"name":"GatewaySubnet","properties":{"addressPrefix":"10.1.255.0/27"}}]}}`)
	f.put(t, netP+"publicIPAddresses/pip1", `{"location":"westeurope","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`)
	f.put(t, netP+"virtualNetworkGateways/gw1", `{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw2"},
		"vpnGatewayGeneration":"Generation2","ipConfigurations":[{"name":"default","properties":{
		"subnet":{"id":"`+netP+`virtualNetworks/VNet1/subnets/GatewaySubnet"},"publicIPAddress":{"id":"`+netP+`publicIPAddresses/pip1"}}}]}}`)
	f.put(t, netP+"localNetworkGateways/site1", `{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.10",
		"localNetworkAddressSpace":{"addressPrefixes":["10.50.0.0/16"]}}}`)
	f.put(t, netP+"virtualNetworks/VNet2", `{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["10.2.0.0/16"]},
		"subnets":[{"name":"GatewaySubnet","properties":{"addressPrefix":"10.2.255.0/27"}}]}}`)
	f.put(t, netP+"publicIPAddresses/pip2", `{"location":"westeurope","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`)
	f.put(t, netP+"virtualNetworkGateways/gw2", `{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw1"},
		"ipConfigurations":[{"name":"default","properties":{
		"subnet":{"id":"`+netP+`virtualNetworks/VNet2/subnets/GatewaySubnet"},"publicIPAddress":{"id":"`+netP+`publicIPAddresses/pip2"}}}]}}`)
	f.put(t, netP+"connections/v1-to-v2", `{"location":"westeurope","properties":{"connectionType":"Vnet2Vnet","sharedKey":"`+secret+`",
		"virtualNetworkGateway1":{"id":"`+netP+`virtualNetworkGateways/gw1"},"virtualNetworkGateway2":{"id":"`+netP+`virtualNetworkGateways/gw2"}}}`)
	f.put(t, netP+"connections/to-site1", `{"location":"westeurope","properties":{"connectionType":"IPsec","sharedKey":"`+secret+`",
		"virtualNetworkGateway1":{"id":"`+netP+`virtualNetworkGateways/gw1"},"localNetworkGateway2":{"id":"`+netP+`localNetworkGateways/site1"}}}`)
}

// TestDeviceConfigOnlyForSites: the Download configuration form is on
// site-to-site connections only (a VNet-to-VNet connection has no device).
func TestDeviceConfigOnlyForSites(t *testing.T) {
	f := newFixture(t)
	f.seed(t)
	for name, want := range map[string]bool{"to-site1": true, "v1-to-v2": false} {
		rec := f.do(t, f.web, http.MethodGet, "/portal/rg/RG1/connections/"+name, "", "", nil)
		if got := strings.Contains(rec.Body.String(), `id="form-devcfg"`); rec.Code != 200 || got != want {
			t.Errorf("%s: status %d, device configuration form %v, want %v", name, rec.Code, got, want)
		}
	}
}

func TestPages(t *testing.T) {
	f := newFixture(t)
	f.seed(t)
	tests := []struct {
		name, path string
		status     int
		want       []string
	}{
		{"home", "/", 200, []string{"Resource groups", `href="/portal/rg/RG1"`, `data-path="/subscriptions/` + resource.DefaultSubscription + `/resourcegroups/{name}"`}},
		{"group", "/portal/rg/RG1", 200, []string{"VNet1", "GatewaySubnet", "10.1.255.0/27", "pip1", "gw1", "site1", "192.0.2.10", `id="form-vnet"`, `id="form-lng"`}},
		{"new gateway", "/portal/rg/RG1/gateways/new", 200, []string{`id="form-gateway"`, "VNet1 / GatewaySubnet", `data-sku="VpnGw5"`, "Generation2", "activeActive", "properties.bgpSettings.asn"}},
		{"gateway", "/portal/rg/RG1/gateways/gw1", 200, []string{"VpnGw2", "2 of 30", "1.25 Gbit/s", "Reset gateway", "to-site1"}},
		{"connections", "/portal/rg/RG1/connections", 200, []string{"to-site1", `data-poll-connections="` + netP + `connections"`, `id="form-connection"`}},
		{"connection", "/portal/rg/RG1/connections/to-site1", 200, []string{"Show shared key", `data-path="` + netP + `connections/to-site1/sharedkey"`, "IPsec/IKE policy", "GCMAES256",
			`id="form-devcfg"`, `data-devices="` + netP + `virtualNetworkGateways/gw1/supportedvpndevices"`, `data-path="` + netP + `connections/to-site1/vpndeviceconfigurationscript"`,
			`data-tunnels-of="` + netP + `connections/to-site1"`, `data-activity="/subscriptions/` + resource.DefaultSubscription + `/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01"`}},
		{"topology", "/portal/topology", 200, []string{"<svg", "VNet1", "gw1", "site1", "to-site1", "VNet2", "gw2", "v1-to-v2", "2 connections"}},
		{"topology svg", "/portal/topology.svg", 200, []string{"<svg", "to-site1"}},
		{"script", "/portal/static/app.js", 200, []string{"Azure-AsyncOperation", "api-version"}},
		{"missing group", "/portal/rg/nope", 404, []string{"ResourceGroupNotFound"}},
		{"missing connection", "/portal/rg/RG1/connections/nope", 404, []string{"ResourceNotFound"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(t, f.web, http.MethodGet, tc.path, "", "", nil)
			body := rec.Body.String()
			if rec.Code != tc.status {
				t.Fatalf("GET %s: %d, want %d\n%s", tc.path, rec.Code, tc.status, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s lacks %q", tc.path, w)
				}
			}
			if strings.Contains(body, secret) {
				t.Errorf("GET %s shows the shared key", tc.path)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
			}
		})
	}
}

// The portal adds no write path: whatever a page could be made to send, the
// answer is the API's own, error for error.
func TestForgedPostsGetTheAPIsAnswer(t *testing.T) {
	f := newFixture(t)
	f.seed(t)
	badGW := `{"location":"westeurope","properties":{"gatewayType":"Vpn","sku":{"name":"VpnGw2"},"ipConfigurations":[{"name":"default",
		"properties":{"subnet":{"id":"` + netP + `virtualNetworks/VNet1/subnets/Workload"},"publicIPAddress":{"id":"` + netP + `publicIPAddresses/pip1"}}}]}}`
	form := "application/x-www-form-urlencoded"
	tests := []struct {
		name, method, path, ctype, body string
		hdr                             map[string]string
		code                            string
	}{
		{"form post to the home page", "POST", "/", form, "name=RG2&location=westeurope", nil, "UnsupportedMediaType"},
		{"form post to a portal page", "POST", "/portal/rg/RG1", form, "name=x", nil, "UnsupportedMediaType"},
		{"form post to an ARM path", "POST", netP + "virtualNetworkGateways/gw1/reset?api-version=2024-05-01", form, "", nil, "UnsupportedMediaType"},
		{"text/plain PUT of a group", "PUT", "/subscriptions/" + resource.DefaultSubscription + "/resourcegroups/RG2?api-version=2024-05-01", "text/plain", `{"location":"westeurope"}`, nil, "UnsupportedMediaType"},
		{"cross-origin JSON PUT", "PUT", rgPath + "?api-version=2024-05-01", "application/json", `{"location":"westeurope"}`, map[string]string{"Origin": "http://attacker.example"}, "CrossOriginRequestRefused"},
		{"JSON POST to a portal page", "POST", "/portal/rg/RG1", "application/json", `{}`, nil, "PathNotFound"},
		{"JSON PUT to a portal page", "PUT", "/portal/rg/RG1/gateways/new", "application/json", `{}`, nil, "PathNotFound"},
		{"gateway in the wrong subnet", "PUT", netP + "virtualNetworkGateways/gwbad?api-version=2024-05-01", "application/json", badGW, nil, "GatewaySubnetInvalid"},
		{"delete through the portal's prefix", "DELETE", "/portal/rg/RG1", "", "", nil, "PathNotFound"},
		{"wrong Host", "GET", "/", "", "", map[string]string{"Host": "evil.example"}, "InvalidHost"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			send := func(h http.Handler) (int, map[string]any) {
				req := httptest.NewRequest(tc.method, "http://"+host+tc.path, strings.NewReader(tc.body))
				if tc.ctype != "" {
					req.Header.Set("Content-Type", tc.ctype)
				}
				for k, v := range tc.hdr {
					if k == "Host" {
						req.Host = v
						continue
					}
					req.Header.Set(k, v)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				var body struct {
					Error map[string]any `json:"error"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
					t.Fatalf("%s %s: not an ARM error: %d %s", tc.method, tc.path, rec.Code, rec.Body)
				}
				return rec.Code, body.Error
			}
			gotStatus, got := send(f.web)
			wantStatus, want := send(f.bare)
			if gotStatus != wantStatus || got["code"] != want["code"] || got["message"] != want["message"] || got["target"] != want["target"] {
				t.Errorf("portal: %d %v\nAPI:    %d %v", gotStatus, got, wantStatus, want)
			}
			if got["code"] != tc.code {
				t.Errorf("code %v, want %s (%v)", got["code"], tc.code, got["message"])
			}
		})
	}
	// Nothing was created or reset.
	for _, p := range []string{"/subscriptions/" + resource.DefaultSubscription + "/resourcegroups/RG2", netP + "virtualNetworkGateways/gwbad"} {
		if rec := f.do(t, f.bare, http.MethodGet, p+"?api-version=2024-05-01", "", "", nil); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, rec.Code)
		}
	}
}
