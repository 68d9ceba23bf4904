package armjson

import (
	"net/netip"
	"testing"

	"github.com/vpngw/vpngw/internal/armerr"
)

// The resource package tests Decode against every resource type
// (resource.TestDecodeStrict, FuzzDecodeStrict); these cases cover what
// other callers, such as the lab API, rely on.
func TestDecode(t *testing.T) {
	type site struct {
		PublicIP netip.Addr     `json:"publicIp"`
		Prefixes []netip.Prefix `json:"addressPrefixes"`
		Count    int            `json:"count"`
	}
	tests := []struct {
		name, body string
		target     string // "" with ok
		ok         bool
	}{
		{"valid", `{"publicIp":"192.0.2.1","addressPrefixes":["10.0.0.0/16"],"count":2}`, "", true},
		{"text value in a list", `{"addressPrefixes":["10.0.0.0/16","10.1.0.0/16"]}`, "", true},
		{"null", `{"publicIp":null}`, "", true},
		{"text type given a number", `{"publicIp":5}`, "publicIp", false},
		{"text type given an object", `{"addressPrefixes":[{}]}`, "addressPrefixes[0]", false},
		{"bad text value", `{"publicIp":"not an address"}`, "", false},
		{"duplicate", `{"count":1,"count":2}`, "count", false},
		{"case variant", `{"count":1,"Count":2}`, "Count", false},
		{"unknown", `{"counts":1}`, "counts", false},
		{"NUL", `{"addressPrefixes":["10.0.0.0/16\u0000"]}`, "addressPrefixes[0]", false},
		{"invalid UTF-8", "{\"publicIp\":\"\xff\"}", "publicIp", false},
		{"fraction", `{"count":1.5}`, "count", false},
		{"trailing", `{"count":1} {}`, "", false},
		{"empty", ` `, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s site
			err := Decode([]byte(tt.body), &s)
			if tt.ok {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			wantContentError(t, err, tt.target)
		})
	}
}

// wantContentError fails unless err is InvalidRequestContent at target.
func wantContentError(t *testing.T, err error, target string) {
	t.Helper()
	e, ok := err.(*armerr.Error)
	if !ok {
		t.Fatalf("Decode = %v (%T), want an *armerr.Error", err, err)
	}
	if e.Code != armerr.CodeInvalidRequestContent || e.Target != target {
		t.Errorf("Decode = %s at %q (%s), want %s at %q", e.Code, e.Target, e.Message, armerr.CodeInvalidRequestContent, target)
	}
}

// A field tagged armjson:"reference" takes the whole referenced resource,
// as the Azure SDKs send a connection's gateways: its known properties are
// checked and read, the rest ignored, but the body stays strict.
func TestDecodeReference(t *testing.T) {
	type ref struct {
		ID string `json:"id"`
	}
	type conn struct {
		Gateway *ref   `json:"gateway,omitempty" armjson:"reference"`
		Plain   *ref   `json:"plain,omitempty"`
		Name    string `json:"name"`
	}
	full := `{"id":"/x/gw1","name":"gw1","etag":"W/\"1\"","type":"t","location":"westeurope","tags":{},` +
		`"properties":{"ipConfigurations":[{"id":"/x/gw1/ipConfigurations/default","properties":{"subnet":{"id":"/s"}}}],"activeActive":false}}`
	tests := []struct {
		name, body string
		wantID     string
		target     string // with !ok
		ok         bool
	}{
		{"id only", `{"gateway":{"id":"/x/gw1"}}`, "/x/gw1", "", true},
		{"whole resource", `{"gateway":` + full + `}`, "/x/gw1", "", true},
		{"null", `{"gateway":null}`, "", "", true},
		{"not an object", `{"gateway":"/x/gw1"}`, "", "gateway", false},
		{"id of the wrong type", `{"gateway":{"id":5,"etag":"x"}}`, "", "gateway.id", false},
		{"duplicate id", `{"gateway":{"id":"/a","id":"/b"}}`, "", "gateway.id", false},
		{"duplicate in the ignored part", `{"gateway":{"id":"/a","etag":"1","etag":"2"}}`, "", "gateway.etag", false},
		{"invalid UTF-8 in the id", "{\"gateway\":{\"id\":\"\xff\"}}", "", "gateway.id", false},
		{"a plain reference stays strict", `{"plain":{"id":"/x","etag":"1"}}`, "", "plain.etag", false},
		{"unknown property beside the reference", `{"gateway":{"id":"/x"},"etag":"1"}`, "", "etag", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c conn
			err := Decode([]byte(tt.body), &c)
			if tt.ok {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if got := ""; c.Gateway != nil && c.Gateway.ID != tt.wantID || c.Gateway == nil && tt.wantID != got {
					t.Fatalf("gateway = %+v, want id %q", c.Gateway, tt.wantID)
				}
				return
			}
			wantContentError(t, err, tt.target)
		})
	}
}
