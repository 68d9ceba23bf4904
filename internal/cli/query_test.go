package cli

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestQuery(t *testing.T) {
	doc := `[
	  {"name":"a","sku":{"name":"VpnGw1"},"ips":[{"id":"x"},{"id":"y"}],"tags":{"k-1":"v"}},
	  {"name":"b","sku":{"name":"VpnGw2"},"ips":[],"nested":[[1,2],[3]]}
	]`
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		q    string
		want string // JSON
	}{
		{"[0].name", `"a"`},
		{"[-1].sku.name", `"VpnGw2"`},
		{"[].name", `["a","b"]`},
		{"[*].sku.name", `["VpnGw1","VpnGw2"]`},
		{"[].ips[].id", `["x","y"]`},
		{"[*].ips[0].id", `["x"]`},
		{`[0].tags."k-1"`, `"v"`},
		{"[1].nested[]", `[1,2,3]`},
		{"[5]", `null`},
		{"[0].missing.deeper", `null`},
		{"[].{N: name, S: sku.name}", `[{"N":"a","S":"VpnGw1"},{"N":"b","S":"VpnGw2"}]`},
		{"[].{S: sku.name, N: name}", `[{"S":"VpnGw1","N":"a"},{"S":"VpnGw2","N":"b"}]`},
		{"[0].{Z: name, A: {Y: sku.name, B: name}}", `{"Z":"a","A":{"Y":"VpnGw1","B":"a"}}`},
		{"[0].[name, sku.name]", `["a","VpnGw1"]`},
		{"@[1].name", `"b"`},
		// Full JMESPath: functions, filters, pipes, slices.
		{"length(@)", `2`},
		{"[?name=='a'].sku.name", `["VpnGw1"]`},
		{"[0].sku | name", `"VpnGw1"`},
		{"[0:1][].name", `["a"]`},
		{"", ""},
		{"[0", ""},
		{"[?name==]", ""},
	}
	for _, tt := range tests {
		q, err := parseQuery(tt.q)
		if tt.want == "" {
			if err == nil {
				t.Errorf("parseQuery(%q) succeeded, want an error", tt.q)
			} else if !strings.Contains(err.Error(), "JMESPath") {
				t.Errorf("parseQuery(%q) error %q does not say what is supported", tt.q, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseQuery(%q): %v", tt.q, err)
			continue
		}
		r, err := q.eval(v)
		if err != nil {
			t.Errorf("%q: %v", tt.q, err)
			continue
		}
		got, _ := json.Marshal(r)
		if string(got) != tt.want {
			t.Errorf("%q = %s, want %s", tt.q, got, tt.want)
		}
	}
}

func TestRewriteArgs(t *testing.T) {
	f := pflag.NewFlagSet("t", pflag.ContinueOnError)
	var list, zones []string
	var name string
	var b optBool
	addList(f, &list, "address-prefixes", "", "")
	addList(f, &zones, "zone", "z", "")
	f.StringVarP(&name, "name", "n", "", "")
	addBool(f, &b, "enable-bgp", "")
	tests := []struct {
		in, want string
	}{
		{"--address-prefixes a b c -n x", "--address-prefixes=a --address-prefixes=b --address-prefixes=c -n x"},
		{"--address-prefixes=a b", "--address-prefixes=a --address-prefixes=b"},
		{"-z 1 2 --name n", "--zone=1 --zone=2 --name n"},
		{"--enable-bgp false -n x", "--enable-bgp=false -n x"},
		{"--enable-bgp -n x", "--enable-bgp -n x"},
		{"--enable-bgp True", "--enable-bgp=True"},
		{"-n true --enable-bgp", "-n true --enable-bgp"},
		{"--address-prefixes", "--address-prefixes"},
		{"--unknown a b", "--unknown a b"},
		{"-- --address-prefixes a b", "-- --address-prefixes a b"},
	}
	for _, tt := range tests {
		got := strings.Join(rewriteArgs(f, strings.Fields(tt.in)), " ")
		if got != tt.want {
			t.Errorf("rewriteArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if err := f.Parse(rewriteArgs(f, []string{"--address-prefixes", "a", "b", "--enable-bgp", "false"})); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(list, []string{"a", "b"}) || !b.set || b.val {
		t.Errorf("parsed list %v, bool %+v", list, b)
	}
}

func TestAzShape(t *testing.T) {
	var v any
	json.Unmarshal([]byte(`{"id":"/subscriptions/s/resourceGroups/RG/providers/Microsoft.Network/connections/c",
		"name":"c","properties":{"sharedKey":"secret","name":"clash","virtualNetworkGateway1":{"id":"/subscriptions/s/resourceGroups/rg2/providers/Microsoft.Network/virtualNetworkGateways/g"},
		"ipsecPolicies":[{"properties":{"x":1}}]}}`), &v)
	got, _ := json.Marshal(azShape(v, true))
	want := `{"id":"/subscriptions/s/resourceGroups/RG/providers/Microsoft.Network/connections/c","ipsecPolicies":[{"x":1}],"name":"c",` +
		`"properties":{"name":"clash"},"resourceGroup":"RG",` +
		`"virtualNetworkGateway1":{"id":"/subscriptions/s/resourceGroups/rg2/providers/Microsoft.Network/virtualNetworkGateways/g","resourceGroup":"rg2"}}`
	if string(got) != want {
		t.Errorf("azShape:\n got %s\nwant %s", got, want)
	}
}
