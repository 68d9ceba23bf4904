package server

import (
	"encoding/json"
	"testing"

	"github.com/vpngw/vpngw/internal/resource"
)

func TestLabVNetSpec(t *testing.T) {
	var v resource.VirtualNetwork
	err := json.Unmarshal([]byte(`{"id":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v",
		"properties":{"addressSpace":{"addressPrefixes":["10.1.0.0/16","fd00::/48"]},
		"subnets":[{"name":"GatewaySubnet","properties":{"addressPrefix":"10.1.255.0/27"}},
		           {"name":"dual","properties":{"addressPrefixes":["10.1.1.0/24","fd00::/64"]}},
		           {"name":"v6only","properties":{"addressPrefix":"fd00:0:0:1::/64"}}]}}`), &v)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := labVNetSpec(&v)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(spec)
	want := `{"id":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v","addressSpace":["10.1.0.0/16"],"subnets":[{"name":"GatewaySubnet","prefixes":["10.1.255.0/27"]},{"name":"dual","prefixes":["10.1.1.0/24"]}]}`
	if string(got) != want {
		t.Errorf("spec = %s\nwant   %s", got, want)
	}
}
