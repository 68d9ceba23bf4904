package api

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/vpngw/vpngw/internal/armerr"
)

type openAPIDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
	Comps   struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

var allMethods = []string{http.MethodHead, http.MethodGet, http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete}

// samplePath fills a pattern's parameters with values that route.
func samplePath(pattern string) string {
	return regexp.MustCompile(`\{[^}]+\}`).ReplaceAllStringFunc(pattern, func(p string) string {
		switch p {
		case "{subscriptionId}":
			return testSub
		case "{location}":
			return "westeurope"
		case "{operationId}":
			return "00000000-0000-4000-8000-000000000000"
		}
		return "sample1"
	})
}

// routed reports whether the router served the request (any answer but
// its own 404 and 405).
func routed(r *resp) bool {
	if r.status == http.StatusMethodNotAllowed {
		return false
	}
	code := r.errCode()
	return !(r.status == http.StatusNotFound && (code == armerr.CodePathNotFound || code == "InvalidResourceType"))
}

// TestOpenAPIMatchesRoutes: the spec lists exactly what the router serves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHarness(t, Config{})
	r := h.expect(h.do(http.MethodGet, "/openapi.json?", nil), http.StatusOK)
	var doc openAPIDoc
	r.json(t, &doc)
	if doc.OpenAPI != "3.0.3" || len(doc.Paths) == 0 {
		t.Fatalf("spec header: %q, %d paths", doc.OpenAPI, len(doc.Paths))
	}

	// Every route and method in the table is in the spec.
	var tableOps int
	for _, rt := range h.srv.routes {
		item, ok := doc.Paths[rt.pattern]
		if !ok {
			t.Errorf("route %s missing from the spec", rt.pattern)
			continue
		}
		for _, ep := range rt.endpoints {
			tableOps++
			if _, ok := item[strings.ToLower(ep.method)]; !ok {
				t.Errorf("%s %s missing from the spec", ep.method, rt.pattern)
			}
		}
	}

	// Every path and method in the spec is served, and no other method is.
	var specOps int
	opIDs := map[string]bool{}
	for path, item := range doc.Paths {
		for _, m := range allMethods {
			raw, inSpec := item[strings.ToLower(m)]
			res := h.do(m, samplePath(path)+"?api-version="+testAPIVersion, nil)
			switch {
			case inSpec && !routed(res):
				t.Errorf("spec has %s %s but the server answers %d %s", m, path, res.status, res.body)
			case !inSpec && res.status != http.StatusMethodNotAllowed:
				t.Errorf("server answers %s %s with %d, but the spec does not list it", m, path, res.status)
			}
			if inSpec {
				specOps++
				var op struct {
					OperationID string `json:"operationId"`
				}
				json.Unmarshal(raw, &op)
				if op.OperationID == "" || opIDs[op.OperationID] {
					t.Errorf("%s %s: operationId %q missing or duplicated", m, path, op.OperationID)
				}
				opIDs[op.OperationID] = true
			}
		}
		// Case-insensitive routing of the same path.
		if res := h.do(http.MethodGet, strings.ToUpper(samplePath(path))+"?api-version="+testAPIVersion, nil); !routed(res) && res.status != http.StatusMethodNotAllowed {
			t.Errorf("upper-cased %s not routed: %d", path, res.status)
		}
	}
	if specOps != tableOps {
		t.Errorf("spec has %d operations, the route table %d", specOps, tableOps)
	}

	// Every $ref resolves.
	for _, ref := range regexp.MustCompile(`"\$ref":"#/components/schemas/([^"]+)"`).FindAllStringSubmatch(string(compact(t, r.body)), -1) {
		if _, ok := doc.Comps.Schemas[ref[1]]; !ok {
			t.Errorf("unresolved $ref %s", ref[1])
		}
	}
	// Resource schemas come from the Go types: spot checks.
	var conn struct {
		Properties map[string]map[string]any `json:"properties"`
	}
	json.Unmarshal(doc.Comps.Schemas["ConnectionProperties"], &conn)
	if conn.Properties["sharedKey"]["writeOnly"] != true || conn.Properties["connectionType"]["type"] != "string" {
		t.Errorf("ConnectionProperties schema: %v", conn.Properties)
	}
	var vnet struct {
		Properties map[string]any `json:"properties"`
	}
	json.Unmarshal(doc.Comps.Schemas["VirtualNetwork"], &vnet)
	for _, f := range []string{"id", "name", "type", "location", "tags", "etag", "properties"} {
		if _, ok := vnet.Properties[f]; !ok {
			t.Errorf("VirtualNetwork schema lacks %s (embedded envelope not flattened?)", f)
		}
	}
}

func compact(t *testing.T, b []byte) []byte {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	return out
}

// TestRouterMatch covers precedence and parameters.
func TestRouterMatch(t *testing.T) {
	h := newHarness(t, Config{})
	for _, tc := range []struct {
		path, pattern string
		params        map[string]string
	}{
		{"/subscriptions/S/resourcegroups", subPath + "/resourcegroups", map[string]string{paramSub: "S"}},
		{"//metadata/endpoints", "/metadata/endpoints", nil},
		{"//subscriptions/S/resourcegroups/", subPath + "/resourcegroups", map[string]string{paramSub: "S"}},
		{"/subscriptions/S/resourceGroups/G/providers/Microsoft.Network/virtualNetworkGateways/gw/connections",
			gwPattern() + "/connections", map[string]string{paramSub: "S", paramGroup: "G", "virtualNetworkGatewayName": "gw"}},
		{"/Subscriptions/S/ResourceGroups/G/Providers/microsoft.network/Connections/c/SharedKey/Reset/",
			connPattern() + "/sharedkey/reset", map[string]string{paramSub: "S", paramGroup: "G", "virtualNetworkGatewayConnectionName": "c"}},
		{"/subscriptions/S/resourcegroups/G/providers/Microsoft.Network/virtualNetworks/v/subnets/a%20b",
			groupPath + networkPath + "/virtualNetworks/{virtualNetworkName}/subnets/{subnetName}",
			map[string]string{paramSub: "S", paramGroup: "G", "virtualNetworkName": "v", "subnetName": "a b"}},
	} {
		segs, err := splitPath(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		rt, params := h.srv.router.match(segs)
		if rt == nil || rt.pattern != tc.pattern {
			t.Errorf("%s matched %v, want %s", tc.path, rt, tc.pattern)
			continue
		}
		for k, v := range tc.params {
			if params[k] != v {
				t.Errorf("%s: param %s = %q, want %q", tc.path, k, params[k], v)
			}
		}
	}
	for _, p := range []string{"/", "/subscriptions/S/resourcegroups/G/extra", "/subscriptions//resourcegroups"} {
		segs, _ := splitPath(p)
		if rt, _ := h.srv.router.match(segs); rt != nil {
			t.Errorf("%s matched %s", p, rt.pattern)
		}
	}
}

func gwPattern() string {
	return groupPath + networkPath + "/virtualNetworkGateways/{virtualNetworkGatewayName}"
}
func connPattern() string {
	return groupPath + networkPath + "/connections/{virtualNetworkGatewayConnectionName}"
}
