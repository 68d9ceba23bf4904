package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestSupportedVpnDevices(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.site("rg1", "Abc123Secret")
	var xml string
	h.expect(h.do(http.MethodPost, s.gw+"/supportedvpndevices", nil), http.StatusOK).json(t, &xml)
	for _, want := range []string{`<RpVpnDeviceList version="1.0">`, `<Vendor name="strongSwan">`, `<DeviceFamily name="swanctl.conf">`,
		`<FirmwareVersion name="5.9 and later">`, `<Vendor name="Cisco">`, `<Vendor name="Libreswan">`, `<Vendor name="Generic">`} {
		if !strings.Contains(xml, want) {
			t.Errorf("device list lacks %s:\n%s", want, xml)
		}
	}
	h.expectErr(h.do(http.MethodPost, rid("rg1", "virtualNetworkGateways", "nope")+"/supportedvpndevices", nil), http.StatusNotFound, "ResourceNotFound")
}

func TestVpnDeviceConfigurationScript(t *testing.T) {
	h := newHarness(t, Config{})
	const key = "Abc123Secret"
	s := h.site("rg1", key)
	path := s.conn + "/vpndeviceconfigurationscript"
	dev := func(v, f, fw string) map[string]string {
		return map[string]string{"vendor": v, "deviceFamily": f, "firmwareVersion": fw}
	}

	var script string
	h.expect(h.do(http.MethodPost, path, dev("strongswan", "SWANCTL.conf", "5.9 and later")), http.StatusOK).json(t, &script)
	pip := h.get(s.pip)["properties"].(map[string]any)["ipAddress"].(string)
	for _, want := range []string{"remote_addrs = " + pip, "local_addrs = 192.0.2.10", "local_ts = 192.168.10.0/24",
		"remote_ts = 10.1.0.0/16", `secret = "` + key + `"`, "dpd_delay = 15s"} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}

	// Each unknown field is named in the error's target.
	for _, c := range []struct {
		body   any
		target string
	}{
		{dev("Juniper", "SRX", "12.x"), "vendor"},
		{dev("strongSwan", "ipsec.conf", "5.9 and later"), "deviceFamily"},
		{dev("strongSwan", "swanctl.conf", "4.0"), "firmwareVersion"},
		{dev("", "", ""), "vendor"},
	} {
		e := h.expectErr(h.do(http.MethodPost, path, c.body), http.StatusBadRequest, "InvalidParameter")
		if e.Target != c.target {
			t.Errorf("%v: target %q, want %q (%s)", c.body, e.Target, c.target, e.Message)
		}
	}
	h.expectErr(h.do(http.MethodPost, path, `{"vendor":"strongSwan","model":"x"}`), http.StatusBadRequest, "InvalidRequestContent")
	h.expectErr(h.do(http.MethodPost, rid("rg1", "connections", "nope")+"/vpndeviceconfigurationscript", dev("Generic", "Parameters (text)", "any")),
		http.StatusNotFound, "ResourceNotFound")

	// A route-based tunnel interface cannot serve policy-based selectors.
	c := h.get(s.conn)
	props := c["properties"].(map[string]any)
	props["usePolicyBasedTrafficSelectors"] = true
	props["ipsecPolicies"] = []any{map[string]any{"saLifeTimeSeconds": 3600, "saDataSizeKilobytes": 102400, "ipsecEncryption": "AES256",
		"ipsecIntegrity": "SHA256", "ikeEncryption": "AES256", "ikeIntegrity": "SHA256", "dhGroup": "DHGroup14", "pfsGroup": "PFS2048"}}
	h.put(s.conn, c)
	e := h.expectErr(h.do(http.MethodPost, path, dev("Cisco", "IOS route-based VTI", "IOS 15.4 and later, IOS XE 16 and later")), http.StatusBadRequest, "InvalidParameter")
	if e.Target != "deviceFamily" {
		t.Errorf("Cisco VTI with policy-based selectors: target %q", e.Target)
	}
	h.expect(h.do(http.MethodPost, path, dev("strongSwan", "swanctl.conf", "5.9 and later")), http.StatusOK).json(t, &script)
	if !strings.Contains(script, "proposals = aes256-sha256-prfsha256-modp2048") || !strings.Contains(script, "esp_proposals = aes256-sha256-modp2048") ||
		!strings.Contains(script, "rekey_time = 3600s") {
		t.Errorf("custom policy not in the script:\n%s", script)
	}

	// The key is in no log line.
	if strings.Contains(h.logs.String(), key) {
		t.Errorf("the shared key reached the log:\n%s", h.logs.String())
	}
}

func TestActivityLog(t *testing.T) {
	h := newHarness(t, Config{})
	s := h.site("rg1", "Abc123Secret")
	// A refused write is logged with its ARM error.
	h.expectErr(h.do(http.MethodPut, s.lng, lngBody("192.0.2.10", "10.999.0.0/16"), "User-Agent", "test-cli/1"), http.StatusBadRequest, "InvalidCIDRNotation")
	// A long-running operation: Started, then Succeeded.
	h.do(http.MethodPost, s.gw+"/reset", nil, "Content-Type", "application/json", "User-Agent", "test-cli/1")

	path := "/subscriptions/" + testSub + "/providers/Microsoft.Insights/eventtypes/management/values?api-version=" + ActivityLogAPIVersion
	var page struct {
		Value []EventData `json:"value"`
	}
	deadline := 200
	for {
		h.expect(h.do(http.MethodGet, path, nil), http.StatusOK).json(t, &page)
		if len(page.Value) > 0 && page.Value[0].Status.Value != "Started" {
			break
		}
		if deadline--; deadline == 0 {
			t.Fatalf("reset still Started: %+v", page.Value[0])
		}
	}
	reset, refused := page.Value[0], page.Value[1]
	if reset.OperationName.Value != "Microsoft.Network/virtualNetworkGateways/reset/action" || reset.Status.Value != "Succeeded" ||
		!strings.HasPrefix(reset.Caller, "test-cli/1") || !strings.EqualFold(reset.ResourceID, s.gw) || reset.Properties["endTime"] == "" {
		t.Errorf("reset event: %+v", reset)
	}
	if refused.Status.Value != "Failed" || refused.Level != "Error" || !strings.EqualFold(refused.ResourceID, s.lng) {
		t.Errorf("refused event: %+v", refused)
	}
	var body struct {
		Error struct{ Code, Target string }
	}
	if err := json.Unmarshal([]byte(refused.Properties["statusMessage"]), &body); err != nil || body.Error.Code != "InvalidCIDRNotation" || body.Error.Target == "" {
		t.Errorf("refused statusMessage %q", refused.Properties["statusMessage"])
	}
	// The site's five long-running creations (the group's PUT is
	// synchronous) are there, oldest last.
	if n := len(page.Value); n != 7 || page.Value[n-1].OperationName.Value != "Microsoft.Network/virtualNetworks/write" || page.Value[n-1].Status.Value != "Succeeded" {
		t.Errorf("%d events; last %+v", n, page.Value[n-1])
	}

	// $filter: time bounds, group, resource; bad clauses name $filter.
	q := func(f string) int {
		h.expect(h.do(http.MethodGet, path+"&$filter="+url.QueryEscape(f), nil), http.StatusOK).json(t, &page)
		return len(page.Value)
	}
	if n := q("eventTimestamp ge '2999-01-01T00:00:00Z'"); n != 0 {
		t.Errorf("future filter: %d events", n)
	}
	if n := q("eventTimestamp ge '2000-01-01T00:00:00Z' and resourceUri eq '" + s.gw + "'"); n != 2 {
		t.Errorf("gateway's events: %d, want create and reset", n)
	}
	if n := q("resourceGroupName eq 'other'"); n != 0 {
		t.Errorf("other group: %d events", n)
	}
	e := h.expectErr(h.do(http.MethodGet, path+"&$filter="+url.QueryEscape("caller eq 'x'"), nil), http.StatusBadRequest, "InvalidParameter")
	if e.Target != "$filter" {
		t.Errorf("bad filter target %q", e.Target)
	}
	h.expectErr(h.do(http.MethodGet, strings.Replace(path, ActivityLogAPIVersion, "2014-01-01", 1), nil), http.StatusBadRequest, "InvalidApiVersionParameter")
}
