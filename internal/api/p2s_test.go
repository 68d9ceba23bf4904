package api

import (
	"net/http"
	"testing"

	"github.com/vpngw/vpngw/internal/resource"
)

// setvpnclientipsecparameters validates its body naming the field, makes
// it the gateway's one vpnClientIpsecPolicies entry (an operation, as a
// PUT), and getvpnclientipsecparameters answers it; without one, Azure's
// default suites. Both refuse a gateway without point-to-site.
func TestVpnClientIPsecParameters(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.site("rg", "Key1Key1Key1")
	set, get := s.gw+"/setvpnclientipsecparameters", s.gw+"/getvpnclientipsecparameters"
	const pol = `{"saLifeTimeSeconds":3600,"saDataSizeKilobytes":102400,"ipsecEncryption":"gcmaes128","ipsecIntegrity":"GCMAES128",
		"ikeEncryption":"AES256","ikeIntegrity":"SHA384","dhGroup":"ECP384","pfsGroup":"ECP384"}`
	// No point-to-site yet.
	h.expectErr(h.do(http.MethodPost, get, nil), http.StatusBadRequest, "VpnClientConfigurationInvalid")
	h.expectErr(h.do(http.MethodPost, set, pol), http.StatusBadRequest, "VpnClientConfigurationInvalid")

	gw := `{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw1"},
		"ipConfigurations":[{"name":"default","properties":{"subnet":{"id":"` + s.vnet + `/subnets/GatewaySubnet"},"publicIPAddress":{"id":"` + s.pip + `"}}}],
		"vpnClientConfiguration":{"vpnClientAddressPool":{"addressPrefixes":["172.16.0.0/24"]},"vpnClientProtocols":["IkeV2"],
		"vpnAuthenticationTypes":["Radius"],"radiusServerAddress":"10.9.9.9","radiusServerSecret":"RadSecret"}}}`
	h.wait(h.expect(h.do(http.MethodPut, s.gw, gw), http.StatusOK))

	var defs VpnClientIPsecDefaults
	h.expect(h.do(http.MethodPost, get, nil), http.StatusOK).json(t, &defs)
	if !defs.Default || len(defs.Value) != 5 || defs.Value[0].IkeEncryption != "GCMAES256" {
		t.Fatalf("defaults: %+v", defs)
	}
	for _, d := range defs.Value {
		if err := resource.ValidateVpnClientIPsecParameters(&d); err != nil {
			t.Errorf("default %+v is not a valid policy: %v", d, err)
		}
	}

	// Refusals name the body's field.
	for _, tc := range []struct{ name, body, target string }{
		{"missing field", `{"saLifeTimeSeconds":3600,"saDataSizeKilobytes":102400,"ipsecEncryption":"AES256","ipsecIntegrity":"SHA256","ikeEncryption":"AES256","ikeIntegrity":"SHA384","dhGroup":"ECP384"}`, "pfsGroup"},
		{"bad value", `{"saLifeTimeSeconds":3600,"saDataSizeKilobytes":102400,"ipsecEncryption":"AES512","ipsecIntegrity":"SHA256","ikeEncryption":"AES256","ikeIntegrity":"SHA384","dhGroup":"ECP384","pfsGroup":"None"}`, "ipsecEncryption"},
		{"lifetime too short", `{"saLifeTimeSeconds":10,"saDataSizeKilobytes":102400,"ipsecEncryption":"AES256","ipsecIntegrity":"SHA256","ikeEncryption":"AES256","ikeIntegrity":"SHA384","dhGroup":"ECP384","pfsGroup":"None"}`, "saLifeTimeSeconds"},
		{"GCM mismatch", `{"saLifeTimeSeconds":3600,"saDataSizeKilobytes":102400,"ipsecEncryption":"GCMAES256","ipsecIntegrity":"SHA256","ikeEncryption":"AES256","ikeIntegrity":"SHA384","dhGroup":"ECP384","pfsGroup":"None"}`, "ipsecIntegrity"},
	} {
		e := h.expectErr(h.do(http.MethodPost, set, tc.body), http.StatusBadRequest, resource.CodeInvalidIpsecPolicy)
		if e.Target != tc.target {
			t.Errorf("%s: target %q, want %q (%s)", tc.name, e.Target, tc.target, e.Message)
		}
	}

	// An update of the gateway (an operation, as a PUT) whose result is
	// the policy.
	var got resource.IpsecPolicy
	h.action(set, pol).json(t, &got)
	if got.IpsecEncryption != "GCMAES128" || got.PfsGroup != "ECP384" {
		t.Fatalf("set answered %+v", got)
	}
	var cur resource.IpsecPolicy
	h.expect(h.do(http.MethodPost, get, nil), http.StatusOK).json(t, &cur)
	if cur != got {
		t.Fatalf("get = %+v, want %+v", cur, got)
	}
	g := h.get(s.gw)
	vc := g["properties"].(map[string]any)["vpnClientConfiguration"].(map[string]any)
	if pols, _ := vc["vpnClientIpsecPolicies"].([]any); len(pols) != 1 || pols[0].(map[string]any)["ipsecEncryption"] != "GCMAES128" {
		t.Fatalf("the gateway's vpnClientIpsecPolicies: %v", vc["vpnClientIpsecPolicies"])
	}
	// The same policy again changes nothing (the gateway is not
	// updated: its etag stays).
	etag := h.get(s.gw)["etag"]
	var same resource.IpsecPolicy
	h.action(set, pol).json(t, &same)
	if same != got || h.get(s.gw)["etag"] != etag {
		t.Errorf("setting the same policy again: %+v, etag %v → %v", same, etag, h.get(s.gw)["etag"])
	}
	h.expectErr(h.do(http.MethodPost, rid("rg", "virtualNetworkGateways", "nope")+"/getvpnclientipsecparameters", nil), http.StatusNotFound, "ResourceNotFound")
}
