package resource

import (
	"context"
	"testing"
)

func TestValidateSubnet(t *testing.T) {
	runValidate(t, func() *Subnet {
		return &Subnet{Envelope: Envelope{Name: "s1"}, Properties: SubnetProperties{AddressPrefix: "10.1.3.0/24"}}
	}, []vcase[*Subnet]{
		{name: "valid"},
		{name: "location", mut: func(s *Subnet) { s.Location = "westeurope" }, code: CodeInvalidParameter, target: "location"},
		{name: "tags", mut: func(s *Subnet) { s.Tags = map[string]string{"a": "b"} }, code: CodeInvalidParameter, target: "tags"},
		{name: "bad prefix", mut: func(s *Subnet) { s.Properties.AddressPrefix = "10.1.3.7/24" }, code: CodeInvalidCIDR, target: "properties.addressPrefix"},
		{name: "too small", mut: func(s *Subnet) { s.Properties.AddressPrefix = "10.1.3.0/31" }, code: CodeInvalidParameter, target: "properties.addressPrefix"},
		// The Azure SDKs send these with every subnet.
		{name: "SDK network policies", mut: func(s *Subnet) {
			s.Properties.PrivateEndpointNetworkPolicies, s.Properties.PrivateLinkServiceNetworkPolicies = "Disabled", "Enabled"
		}},
		{name: "network policies, other case", mut: func(s *Subnet) { s.Properties.PrivateEndpointNetworkPolicies = "routetableenabled" }},
		{name: "bad private endpoint policy", mut: func(s *Subnet) { s.Properties.PrivateEndpointNetworkPolicies = "Maybe" },
			code: CodeInvalidParameter, target: "properties.privateEndpointNetworkPolicies"},
		{name: "bad private link policy", mut: func(s *Subnet) { s.Properties.PrivateLinkServiceNetworkPolicies = "RouteTableEnabled" },
			code: CodeInvalidParameter, target: "properties.privateLinkServiceNetworkPolicies"},
	})
}

func TestResolveSubnet(t *testing.T) {
	sub := func(name, prefix string) func(*world) Object {
		return func(*world) Object {
			s := &Subnet{Envelope: Envelope{Name: name}, Properties: SubnetProperties{AddressPrefix: prefix}}
			i := id(TypeVirtualNetworks, "vnet1")
			i.Child, i.ChildName = TypeSubnets, name
			AssignIDs(s, i)
			return s
		}
	}
	gw := func(w *world) { w.mustPut(newGateway("gw1", "vnet1", "pip1")) }
	runResolve(t, []rcase{
		{name: "new subnet", obj: sub("app", "10.1.2.0/24")},
		{name: "new subnet outside", obj: sub("app", "10.9.2.0/24"), code: CodeSubnetOutsideVnet, target: "properties.addressPrefix"},
		{name: "new subnet overlapping", obj: sub("app", "10.1.0.0/25"), code: CodeAddressOverlap, target: "properties.addressPrefix"},
		{name: "GatewaySubnet prefix in use", setup: gw, obj: sub("GatewaySubnet", "10.1.254.0/27"), code: CodeInUseCannotUpdate, target: "properties.addressPrefix"},
		{name: "vnet missing", obj: func(*world) Object {
			s := &Subnet{Envelope: Envelope{Name: "x"}, Properties: SubnetProperties{AddressPrefix: "10.1.2.0/24"}}
			i := id(TypeVirtualNetworks, "vnet9")
			i.Child, i.ChildName = TypeSubnets, "x"
			AssignIDs(s, i)
			return s
		}, code: CodeReferencedNotFound, target: "id"},
	})
}

func TestCheckSubnetDelete(t *testing.T) {
	w := deleteWorld(t)
	v := w.get(TypeVirtualNetworks, "vnet1").(*VirtualNetwork)
	expectErr(t, CheckSubnetDelete(context.Background(), w.v, v, "gatewaysubnet"), CodeInUse, "", "ipconfig1")
	expectErr(t, CheckSubnetDelete(context.Background(), w.v, v, "default"), "", "")
	expectErr(t, CheckSubnetDelete(context.Background(), w.v, v, "nosuch"), "", "")
	if err := CheckSubnetDelete(context.Background(), w.v, newVNet("x"), "a"); err == nil {
		t.Fatal("VNet without ID accepted")
	}
}

func subnetID(vnet, name string) ID {
	i := id(TypeVirtualNetworks, vnet)
	i.Child, i.ChildName = TypeSubnets, name
	return i
}

func TestSubnetHelpers(t *testing.T) {
	v := stdVNet("vnet1")
	if s, ok := v.Subnet("gatewaysubnet"); !ok || s.Name != GatewaySubnetName || s.Prefixes()[0] != "10.1.255.0/27" {
		t.Fatal("Subnet lookup")
	}
	v.PutSubnet(Subnet{Envelope: Envelope{Name: "DEFAULT"}, Properties: SubnetProperties{AddressPrefixes: []string{"10.1.7.0/24"}}})
	if len(v.Properties.Subnets) != 2 || v.Properties.Subnets[0].Name != "DEFAULT" || v.Properties.Subnets[0].Prefixes()[0] != "10.1.7.0/24" {
		t.Fatalf("PutSubnet replace: %+v", v.Properties.Subnets)
	}
	v.PutSubnet(Subnet{Envelope: Envelope{Name: "new"}})
	if !v.DeleteSubnet("NEW") || v.DeleteSubnet("new") || len(v.Properties.Subnets) != 2 {
		t.Fatal("DeleteSubnet")
	}
	if _, ok := v.Subnet("new"); ok {
		t.Fatal("deleted subnet found")
	}
}
