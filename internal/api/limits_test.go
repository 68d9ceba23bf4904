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
