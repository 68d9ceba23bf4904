package resource

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vpngw/vpngw/internal/armjson"
)

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name   string
		into   func() any
		body   string
		code   string // "" = success
		target string
		msg    string
	}{
		{name: "gateway", into: gwPtr, body: `{"location":"westeurope","properties":{"gatewayType":"Vpn","ipConfigurations":[{"name":"a","properties":{"subnet":{"id":"x"}}}],"sku":{"name":"VpnGw1"},"enableBgp":true,"bgpSettings":{"asn":65010}}}`},
		{name: "read-only fields accepted", into: gwPtr, body: `{"id":"/x","name":"gw","type":"Microsoft.Network/virtualNetworkGateways","etag":"W/\"1\"","properties":{"provisioningState":"Succeeded","resourceGuid":"g","sku":{"name":"VpnGw1","tier":"VpnGw1","capacity":2},"ipConfigurations":[{"id":"/y","etag":"e","properties":{"privateIPAddress":"10.0.0.4","provisioningState":"Succeeded"}}]}}`},
		{name: "case-insensitive names", into: gwPtr, body: `{"Location":"westeurope","Properties":{"GatewayType":"Vpn"}}`},
		{name: "null anywhere", into: gwPtr, body: `{"tags":null,"properties":{"ipConfigurations":null,"bgpSettings":null,"enableBgp":null}}`},
		{name: "unknown top-level", into: gwPtr, body: `{"location":"x","foo":1}`,
			code: CodeInvalidRequestContent, target: "foo", msg: "foo"},
		{name: "unknown nested", into: gwPtr, body: `{"properties":{"ipConfigurations":[{"name":"a","properties":{}},{"properties":{"subnet":{"id":"s"},"foo":true}}]}}`,
			code: CodeInvalidRequestContent, target: "properties.ipConfigurations[1].properties.foo", msg: "foo"},
		{name: "unknown in sub-resource", into: gwPtr, body: `{"properties":{"gatewayDefaultSite":{"id":"x","name":"y"}}}`,
			code: CodeInvalidRequestContent, target: "properties.gatewayDefaultSite.name"},
		{name: "2024 field not served", into: gwPtr, body: `{"properties":{"natRules":[]}}`,
			code: CodeInvalidRequestContent, target: "properties.natRules"},
		{name: "bool as string", into: gwPtr, body: `{"properties":{"enableBgp":"true"}}`,
			code: CodeInvalidRequestContent, target: "properties.enableBgp", msg: "boolean"},
		{name: "string as number", into: gwPtr, body: `{"properties":{"gatewayType":1}}`,
			code: CodeInvalidRequestContent, target: "properties.gatewayType", msg: "string"},
		{name: "int with fraction", into: connPtr, body: `{"properties":{"dpdTimeoutSeconds":45.5}}`,
			code: CodeInvalidRequestContent, target: "properties.dpdTimeoutSeconds", msg: "integer"},
		{name: "int32 overflow", into: connPtr, body: `{"properties":{"routingWeight":3000000000}}`,
			code: CodeInvalidRequestContent, target: "properties.routingWeight", msg: "out of range"},
		{name: "int64 asn ok", into: gwPtr, body: `{"properties":{"bgpSettings":{"asn":4294967295}}}`},
		{name: "array expected", into: vnetPtr, body: `{"properties":{"addressSpace":{"addressPrefixes":"10.0.0.0/16"}}}`,
			code: CodeInvalidRequestContent, target: "properties.addressSpace.addressPrefixes", msg: "array"},
		{name: "array element type", into: vnetPtr, body: `{"properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16",7]}}}`,
			code: CodeInvalidRequestContent, target: "properties.addressSpace.addressPrefixes[1]"},
		{name: "object expected", into: vnetPtr, body: `{"properties":[]}`,
			code: CodeInvalidRequestContent, target: "properties", msg: "object"},
		{name: "subnet unknown", into: vnetPtr, body: `{"properties":{"subnets":[{"name":"a","properties":{"addressPrefix":"10.0.0.0/24","networkSecurityGroup":{"id":"x"}}}]}}`,
			code: CodeInvalidRequestContent, target: "properties.subnets[0].properties.networkSecurityGroup"},
		{name: "tag value type", into: vnetPtr, body: `{"tags":{"env":1}}`,
			code: CodeInvalidRequestContent, target: "tags.env"},
		{name: "top-level array", into: vnetPtr, body: `[]`,
			code: CodeInvalidRequestContent, target: "", msg: "request body"},
		{name: "syntax error", into: vnetPtr, body: `{"location":}`,
			code: CodeInvalidRequestContent, target: "", msg: "not valid JSON"},
		{name: "truncated", into: vnetPtr, body: `{"location":"x"`,
			code: CodeInvalidRequestContent, target: "", msg: "not valid JSON"},
		{name: "trailing data", into: vnetPtr, body: `{"location":"x"} {}`,
			code: CodeInvalidRequestContent, target: "", msg: "after the JSON value"},
		{name: "empty body", into: vnetPtr, body: "  \n",
			code: CodeInvalidRequestContent, target: "", msg: "empty"},
		{name: "shared key body", into: func() any {
			return &struct {
				Value string `json:"value"`
			}{}
		}, body: `{"value":"abc"}`},
		{name: "shared key body unknown", into: func() any {
			return &struct {
				Value string `json:"value"`
			}{}
		}, body: `{"value":"abc","keyLength":3}`, code: CodeInvalidRequestContent, target: "keyLength"},
		{name: "tags patch", into: func() any {
			return &struct {
				Tags map[string]string `json:"tags"`
			}{}
		}, body: `{"tags":{"a":"b"}}`},
		{name: "uint", into: func() any {
			return &struct {
				N uint8 `json:"n"`
			}{}
		}, body: `{"n":256}`, code: CodeInvalidRequestContent, target: "n", msg: "out of range"},
		{name: "negative uint", into: func() any {
			return &struct {
				N uint `json:"n"`
			}{}
		}, body: `{"n":-1}`, code: CodeInvalidRequestContent, target: "n"},
		{name: "float", into: func() any {
			return &struct {
				F float64 `json:"f"`
			}{}
		}, body: `{"f":1.5e3}`},
		{name: "float type", into: func() any {
			return &struct {
				F float32 `json:"f"`
			}{}
		}, body: `{"f":"x"}`, code: CodeInvalidRequestContent, target: "f"},
		{name: "any", into: func() any {
			return &struct {
				A any `json:"a"`
			}{}
		}, body: `{"a":{"b":[1,"x"]}}`},
		{name: "bytes as base64", into: func() any {
			return &struct {
				B []byte `json:"b"`
			}{}
		}, body: `{"b":"aGk="}`},
		{name: "skipped field", into: func() any {
			return &struct {
				A string `json:"-"`
			}{}
		}, body: `{"A":"x"}`, code: CodeInvalidRequestContent, target: "A"},
		{name: "duplicate key", into: vnetPtr, body: `{"location":"westeurope","location":"eastus"}`,
			code: CodeInvalidRequestContent, target: "location", msg: "twice"},
		{name: "case-variant duplicate key", into: vnetPtr, body: `{"properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"],"AddressPrefixes":["0.0.0.0/0"]}}}`,
			code: CodeInvalidRequestContent, target: "properties.addressSpace.AddressPrefixes", msg: "twice"},
		{name: "Kelvin-sign duplicate key", into: connPtr, body: `{"properties":{"sharedKey":"a","sharedKey":"b"}}`,
			code: CodeInvalidRequestContent, target: "properties.sharedKey", msg: "twice"},
		{name: "duplicate key in an array element", into: vnetPtr, body: `{"properties":{"subnets":[{"name":"a"},{"name":"b","NAME":"c"}]}}`,
			code: CodeInvalidRequestContent, target: "properties.subnets[1].NAME", msg: "twice"},
		{name: "duplicate tag", into: vnetPtr, body: `{"tags":{"env":"a","ENV":"b"}}`,
			code: CodeInvalidRequestContent, target: "tags.ENV", msg: "twice"},
		{name: "same key in sibling objects", into: vnetPtr, body: `{"properties":{"subnets":[{"name":"a"},{"name":"b"}]},"location":"x"}`},
		{name: "invalid UTF-8", into: vnetPtr, body: "{\"location\":\"west\xffeurope\"}",
			code: CodeInvalidRequestContent, target: "location", msg: "UTF-8"},
		{name: "invalid UTF-8 in a name", into: vnetPtr, body: "{\"tags\":{\"a\xc3\":\"b\"}}",
			code: CodeInvalidRequestContent, target: "tags.a\ufffd", msg: "UTF-8"},
		{name: "lone surrogate", into: vnetPtr, body: `{"properties":{"subnets":[{"name":"a\ud800"}]}}`,
			code: CodeInvalidRequestContent, target: "properties.subnets[0].name", msg: "surrogate"},
		{name: "escaped replacement character is fine", into: vnetPtr, body: `{"location":"a\uFFFDb"}`},
		{name: "surrogate pair is fine", into: vnetPtr, body: `{"location":"\ud83d\ude00"}`},
		{name: "NUL", into: connPtr, body: `{"properties":{"sharedKey":"abc\u0000def"}}`,
			code: CodeInvalidRequestContent, target: "properties.sharedKey", msg: "NUL"},
		{name: "NUL in a name", into: vnetPtr, body: `{"tags":{"a\u0000":"b"}}`,
			code: CodeInvalidRequestContent, target: "tags.a\x00", msg: "NUL"},
		{name: "array too long", into: func() any {
			return &struct {
				A [1]int `json:"a"`
			}{}
		}, body: `{"a":[1,2]}`, code: CodeInvalidRequestContent, target: "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := DecodeStrict([]byte(tt.body), tt.into())
			if tt.code == "" {
				if err != nil {
					t.Fatalf("DecodeStrict: %v", err)
				}
				return
			}
			e, ok := AsError(err)
			if !ok {
				t.Fatalf("want *Error %s, got %v", tt.code, err)
			}
			if e.Code != tt.code || e.Target != tt.target || !strings.Contains(e.Message, tt.msg) {
				t.Fatalf("got %s at %q: %s; want %s at %q containing %q", e.Code, e.Target, e.Message, tt.code, tt.target, tt.msg)
			}
		})
	}
}

func gwPtr() any   { return &VirtualNetworkGateway{} }
func connPtr() any { return &Connection{} }
func vnetPtr() any { return &VirtualNetwork{} }

func TestDecodeStrictValues(t *testing.T) {
	var g VirtualNetworkGateway
	body := `{"location":"West Europe","properties":{"gatewayType":"vpn","enableBgp":true,"bgpSettings":{"asn":65010},"ipConfigurations":[{"name":"a","properties":{"subnet":{"id":"s"}}}]}}`
	if err := DecodeStrict([]byte(body), &g); err != nil {
		t.Fatal(err)
	}
	if g.Location != "West Europe" || g.Properties.GatewayType != "vpn" || !g.Properties.EnableBgp ||
		g.Properties.BgpSettings.ASN != 65010 || g.Properties.IPConfigurations[0].Properties.Subnet.ID != "s" {
		t.Fatalf("decoded %+v", g)
	}
	if err := DecodeStrict([]byte(`{}`), g); err == nil {
		t.Fatal("non-pointer accepted")
	}
	if _, ok := AsError(DecodeStrict([]byte(`{}`), (*VirtualNetwork)(nil))); ok {
		t.Fatal("nil pointer reported as a request error")
	}
}

// FuzzDecodeStrict checks that DecodeStrict never panics and that what it
// accepts encoding/json accepts too.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{`{}`, `{"properties":{"ipConfigurations":[{"name":"a"}]}}`, `{"tags":{"a":"b"}}`, `[1]`, `{"properties":{"bgpSettings":{"asn":1e3}}}`,
		`{"location":"a","Location":"b"}`, "{\"location\":\"\xff\"}", `{"location":"\ud800\u0000"}`, `{"tags":{"k":"v","K":"w"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var g VirtualNetworkGateway
		err := DecodeStrict(data, &g)
		if err != nil {
			if _, ok := AsError(err); !ok {
				t.Fatalf("non-request error %v", err)
			}
			return
		}
		// Accepted: the body was UTF-8 with no NUL, and decoding it
		// generically finds no property given twice.
		if !utf8.Valid(data) {
			t.Fatalf("accepted invalid UTF-8: %q", data)
		}
		var raw any
		if json.Unmarshal(data, &raw) == nil && hasNULOrDuplicate(raw) {
			t.Fatalf("accepted NUL or a case-variant duplicate: %q", data)
		}
	})
}

// hasNULOrDuplicate reports a NUL in any string of a generic JSON value.
// (Exact duplicates are gone after decoding; case variants remain as two
// keys that fold to one.)
func hasNULOrDuplicate(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.IndexByte(x, 0) >= 0
	case []any:
		for _, e := range x {
			if hasNULOrDuplicate(e) {
				return true
			}
		}
	case map[string]any:
		seen := map[string]bool{}
		for k, e := range x {
			if seen[armjson.FoldName(k)] || strings.IndexByte(k, 0) >= 0 || hasNULOrDuplicate(e) {
				return true
			}
			seen[armjson.FoldName(k)] = true
		}
	}
	return false
}
