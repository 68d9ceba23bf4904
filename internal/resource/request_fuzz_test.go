package resource

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// fuzzTypes are the request body types of the API's PUT handlers, indexed
// by the fuzzer's first argument.
var fuzzTypes = []string{TypeResourceGroups, TypeVirtualNetworks, TypeSubnets, TypePublicIPAddresses,
	TypeVirtualNetworkGateways, TypeLocalNetworkGateways, TypeConnections}

// fuzzWorld is a store with one of each resource for request bodies to
// refer to: vnet1 and vnet2 (with GatewaySubnets), pip1 and pip2, gateway gw1, local
// network gateway lng1 and connection conn1.
func fuzzWorld(t *testing.T) *world {
	w := newWorld(t)
	w.mustPut(stdVNet("vnet1"), newVNet("vnet2", "10.9.0.0/16").with(GatewaySubnetName, "10.9.255.0/27"), newPIP("pip1"), newPIP("pip2"), newGateway("gw1", "vnet1", "pip1"),
		newLNG("lng1", "203.0.113.7", "192.168.0.0/16"), newConn("conn1", "gw1", "lng1"))
	return w
}

// FuzzRequest runs a request body through what a PUT does with it:
// DecodeStrict into the resource type (typ picks one), then for top-level
// resources Prepare, Validate and Resolve (against a store holding one of
// each resource), on create or, with update, over the stored resource of
// that type. Every rejection must be a *Error (the API turns anything else
// into a 500), Resolve must not change the store, and a body that passes
// must come back: its JSON (what a GET returns) decodes strictly again
// and passes Prepare and Validate as an update of itself.
func FuzzRequest(f *testing.F) {
	seeds := []string{
		`{"location":"westeurope"}`,
		`{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["10.5.0.0/16"]},"subnets":[{"name":"GatewaySubnet","properties":{"addressPrefix":"10.5.255.0/27"}}]}}`,
		`{"properties":{"addressPrefix":"10.1.3.0/24"}}`,
		`{"location":"westeurope","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`,
		`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw1"},"ipConfigurations":[{"name":"ipconfig1","properties":{"subnet":{"id":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet2/subnets/GatewaySubnet"},"publicIPAddress":{"id":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/pip2"}}}],"enableBgp":true,"bgpSettings":{"asn":65010}}}`,
		`{"location":"westeurope","properties":{"gatewayIpAddress":"198.51.100.9","localNetworkAddressSpace":{"addressPrefixes":["172.16.0.0/16"]}}}`,
		`{"location":"westeurope","properties":{"connectionType":"IPsec","virtualNetworkGateway1":{"id":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworkGateways/gw1"},"localNetworkGateway2":{"id":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/localNetworkGateways/lng1"},"sharedKey":"abc123","ipsecPolicies":[{"saLifeTimeSeconds":3600,"saDataSizeKilobytes":102400000,"ipsecEncryption":"AES256","ipsecIntegrity":"SHA256","ikeEncryption":"AES256","ikeIntegrity":"SHA256","dhGroup":"DHGroup14","pfsGroup":"PFS2048"}],"usePolicyBasedTrafficSelectors":true,"dpdTimeoutSeconds":45}}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), false, []byte(s))
		f.Add(uint8(i), true, []byte(s))
	}
	f.Add(uint8(4), true, []byte(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw2"},"activeActive":false,"ipConfigurations":[{"name":"ipconfig1","properties":{"subnet":{"id":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/GatewaySubnet"},"publicIPAddress":{"id":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/pip1"}}}],"vpnClientConfiguration":{"vpnClientAddressPool":{"addressPrefixes":["172.20.0.0/24"]},"vpnClientProtocols":["IkeV2"]}}}`))
	f.Fuzz(func(t *testing.T, typ uint8, update bool, body []byte) {
		kind := fuzzTypes[int(typ)%len(fuzzTypes)]
		defer hangGuard(time.Minute)()
		obj, _ := NewObject(kind)
		mustBeRequestError := func(step string, err error) {
			t.Helper()
			if _, ok := AsError(err); !ok {
				t.Fatalf("%s: %T is not a *Error: %v", step, err, err)
			}
		}
		if err := DecodeStrict(body, obj); err != nil {
			mustBeRequestError("DecodeStrict", err)
			return
		}
		w := fuzzWorld(t)
		if kind == TypeSubnets {
			// PUT subnets validates the subnet alone, then its VNet
			// with the subnet put in goes through the VNet pipeline.
			sub := obj.(*Subnet)
			sub.Name, sub.ID, sub.Type, sub.Etag = "s1", "", "", ""
			if update {
				sub.Name = "default"
			}
			if err := Validate(sub); err != nil {
				mustBeRequestError("Validate subnet", err)
				return
			}
			vnet := w.get(TypeVirtualNetworks, "vnet1").(*VirtualNetwork)
			vnet.PutSubnet(*sub)
			obj, kind, update = vnet, TypeVirtualNetworks, true
		}
		rid := ID{Subscription: testSub, ResourceGroup: "rg"}
		switch kind {
		case TypeVirtualNetworks:
			rid.Type, rid.Name = kind, "vnet1"
		case TypePublicIPAddresses:
			rid.Type, rid.Name = kind, "pip1"
		case TypeVirtualNetworkGateways:
			rid.Type, rid.Name = kind, "gw1"
		case TypeLocalNetworkGateways:
			rid.Type, rid.Name = kind, "lng1"
		case TypeConnections:
			rid.Type, rid.Name = kind, "conn1"
		}
		var old Object
		if update && kind != TypeResourceGroups {
			old = w.get(kind, rid.Name)
		} else if kind != TypeResourceGroups {
			rid.Name = "new1"
		}
		AssignIDs(obj, rid)
		if err := Prepare(obj, old, w.rand); err != nil {
			mustBeRequestError("Prepare", err)
			return
		}
		obj.Meta().Etag = ""
		obj.SetProvisioningState("")
		if err := Validate(obj); err != nil {
			mustBeRequestError("Validate", err)
			return
		}
		before := w.snapshot()
		if err := Resolve(context.Background(), w.v, obj, old); err != nil {
			mustBeRequestError("Resolve", err)
			return
		}
		if w.snapshot() != before {
			t.Fatal("Resolve changed the store")
		}

		// What a GET returns must be accepted back as a PUT body.
		obj.SetProvisioningState(ProvisioningSucceeded)
		out, err := json.Marshal(obj)
		if err != nil {
			t.Fatalf("cannot encode the accepted resource: %v", err)
		}
		again, _ := NewObject(kind)
		if err := DecodeStrict(out, again); err != nil {
			t.Fatalf("GET body %s is not a valid PUT body: %v", out, err)
		}
		AssignIDs(again, rid)
		if err := Prepare(again, Clone(obj), w.rand); err != nil {
			t.Fatalf("re-PUT of %s: Prepare: %v", out, err)
		}
		again.Meta().Etag = ""
		again.SetProvisioningState("")
		if err := Validate(again); err != nil {
			t.Fatalf("re-PUT of %s: Validate: %v", out, err)
		}
	})
}

// hangGuard crashes the fuzzing process when an input runs longer than d
// (Go's fuzzer has no per-input timeout; the crash records the input). Use
// as defer hangGuard(d)().
func hangGuard(d time.Duration) func() {
	t := time.AfterFunc(d, func() { panic("fuzz input ran for over " + d.String() + ": an infinite loop?") })
	return func() { t.Stop() }
}
