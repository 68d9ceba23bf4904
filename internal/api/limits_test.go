package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/armerr"
)

// TestHugeListsAnswerSmall: 2,000 copies of one prefix (28 KB) once made a
// 429 MB error; now a small 400, fast, for every list that took the
// quadratic path.
func TestHugeListsAnswerSmall(t *testing.T) {
	h := newHarness(t, Config{})
	h.put(groupPathOf("rg"), groupBody())
	many := func(p string, n int) string { return strings.TrimSuffix(strings.Repeat(fmt.Sprintf("%q,", p), n), ",") }
	for _, c := range []struct {
		name, path, body, code string
	}{
		{"vnet prefixes", rid("rg", "virtualNetworks", "v"),
			`{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":[` + many("10.0.0.0/16", 2000) + `]}}}`, armerr.CodeLimitExceeded},
		{"vnet prefixes at the limit", rid("rg", "virtualNetworks", "v"),
			`{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":[` + many("10.0.0.0/16", 1000) + `]}}}`, armerr.CodeAddressOverlap},
		{"subnet prefixes", rid("rg", "virtualNetworks", "v"),
			`{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/8"]},"subnets":[{"name":"s","properties":{"addressPrefixes":[` + many("10.1.0.0/24", 2000) + `]}}]}}`, armerr.CodeLimitExceeded},
		{"local gateway prefixes", rid("rg", "localNetworkGateways", "l"),
			`{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.1","localNetworkAddressSpace":{"addressPrefixes":[` + many("192.168.0.0/24", 2000) + `]}}}`, armerr.CodeLimitExceeded},
	} {
		start := time.Now()
		r := h.do(http.MethodPut, c.path, c.body)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: %v", c.name, d)
		}
		if r.status != http.StatusBadRequest || r.errCode() != c.code || len(r.body) > 16<<10 {
			t.Errorf("%s: %d %s, %d bytes", c.name, r.status, r.errCode(), len(r.body))
		}
	}
}

// TestStrictJSONBodies: duplicate and case-variant keys, invalid UTF-8 and
// NUL are refused naming the field, where encoding/json kept the last.
func TestStrictJSONBodies(t *testing.T) {
	h := newHarness(t, Config{})
	h.put(groupPathOf("rg"), groupBody())
	lng := rid("rg", "localNetworkGateways", "l")
	for _, c := range []struct{ name, body, target string }{
		{"duplicate", `{"location":"westeurope","location":"eastus","properties":{"gatewayIpAddress":"192.0.2.1","localNetworkAddressSpace":{"addressPrefixes":["192.168.1.0/24"]}}}`, "location"},
		{"case variant", `{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.1","GatewayIpAddress":"192.0.2.2","localNetworkAddressSpace":{"addressPrefixes":["192.168.1.0/24"]}}}`, "properties.GatewayIpAddress"},
		{"invalid UTF-8", "{\"location\":\"westeurope\",\"tags\":{\"a\":\"\xff\"},\"properties\":{\"gatewayIpAddress\":\"192.0.2.1\",\"localNetworkAddressSpace\":{\"addressPrefixes\":[\"192.168.1.0/24\"]}}}", "tags.a"},
		{"NUL", `{"location":"westeurope","tags":{"a":"b\u0000"},"properties":{"gatewayIpAddress":"192.0.2.1","localNetworkAddressSpace":{"addressPrefixes":["192.168.1.0/24"]}}}`, "tags.a"},
	} {
		e := h.expectErr(h.do(http.MethodPut, lng, c.body), http.StatusBadRequest, armerr.CodeInvalidRequestContent)
		if e.Target != c.target {
			t.Errorf("%s: target %q, want %q", c.name, e.Target, c.target)
		}
	}
	h.expect(h.do(http.MethodGet, lng, nil), http.StatusNotFound)
}
