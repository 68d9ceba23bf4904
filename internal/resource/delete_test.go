package resource

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// deleteWorld: gw1 in vnet1 with pip1, default site site2, connected to
// site1 (c1) and to gw2 in vnet2 (Vnet2Vnet c12 from gw2's side); pip4 and
// vnet "free" unused; resource group "other" holds a site used from rg.
func deleteWorld(t *testing.T) *world {
	w := stdWorld(t)
	g := newGateway("gw1", "vnet1", "pip1")
	g.Properties.GatewayDefaultSite = ref(TypeLocalNetworkGateways, "site2")
	w.mustPut(g, newGateway("gw2", "vnet2", "pip2"), newConn("c1", "gw1", "site1"), newV2V("c21", "gw2", "gw1"),
		newVNet("free", "10.9.0.0/16").with("a", "10.9.0.0/24"))
	ext := newLNG("ext", "203.0.113.99", "172.30.0.0/16")
	AssignIDs(ext, idIn("other", TypeLocalNetworkGateways, "ext"))
	w.mustPut(ext)
	c := newConn("cext", "gw2", "ext")
	c.Properties.LocalNetworkGateway2 = &SubResource{ID: idIn("other", TypeLocalNetworkGateways, "ext").String()}
	w.mustPut(c)
	return w
}

func TestCheckDelete(t *testing.T) {
	tests := []struct {
		name  string
		obj   func(w *world) Object
		users []string // substrings of the message; nil = may delete
	}{
		{"public IP in use", get(TypePublicIPAddresses, "pip1"), []string{"virtualNetworkGateways/gw1/ipConfigurations/ipconfig1"}},
		{"public IP free", get(TypePublicIPAddresses, "pip4"), nil},
		{"vnet with gateway", get(TypeVirtualNetworks, "vnet1"), []string{"gw1/ipConfigurations/ipconfig1", "GatewaySubnet"}},
		{"vnet without gateway", get(TypeVirtualNetworks, "free"), nil},
		{"gateway with connections", get(TypeVirtualNetworkGateways, "gw1"), []string{"connections/c1", "connections/c21"}},
		{"site with connection", get(TypeLocalNetworkGateways, "site1"), []string{"connections/c1"}},
		{"default site", get(TypeLocalNetworkGateways, "site2"), []string{"gw1 (gatewayDefaultSite)"}},
		{"connection", get(TypeConnections, "c1"), nil},
		{"subnet in use", func(w *world) Object { return subnetObj("vnet1", GatewaySubnetName) }, []string{"ipconfig1"}},
		{"subnet free", func(w *world) Object { return subnetObj("vnet1", "default") }, nil},
		{"group referenced from outside", func(w *world) Object { return groupObj("other") }, []string{"connections/cext", "ext"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := deleteWorld(t)
			err := CheckDelete(context.Background(), w.v, tt.obj(w))
			if tt.users == nil {
				if err != nil {
					t.Fatalf("CheckDelete: %v", err)
				}
				return
			}
			e, ok := AsError(err)
			if !ok || e.Code != CodeInUse || e.HTTPStatus() != http.StatusConflict {
				t.Fatalf("want 409 %s, got %v", CodeInUse, err)
			}
			for _, u := range tt.users {
				expectErr(t, err, CodeInUse, "", u)
			}
		})
	}
}

func get(typ, name string) func(w *world) Object {
	return func(w *world) Object { return w.get(typ, name) }
}

func subnetObj(vnet, name string) *Subnet {
	s := &Subnet{}
	i := id(TypeVirtualNetworks, vnet)
	i.Child, i.ChildName = TypeSubnets, name
	AssignIDs(s, i)
	return s
}

func groupObj(name string) *ResourceGroup {
	g := &ResourceGroup{Envelope: Envelope{Location: "westeurope"}}
	AssignIDs(g, ID{Subscription: testSub, ResourceGroup: name})
	return g
}

func TestCheckDeleteErrors(t *testing.T) {
	w := deleteWorld(t)
	if err := CheckDelete(context.Background(), w.v, newPIP("noid")); err == nil {
		t.Fatal("object without ID accepted")
	}
	w.v.failGet = errBoom
	if err := CheckDelete(context.Background(), w.v, subnetObj("vnet1", "default")); !errors.Is(err, errBoom) {
		t.Fatalf("view failure: %v", err)
	}
}

func TestReferences(t *testing.T) {
	g := newGateway("gw1", "vnet1", "pip1", "pip2")
	g.Properties.GatewayDefaultSite = ref(TypeLocalNetworkGateways, "site1")
	got := References(g)
	want := []string{subnetRef("vnet1", GatewaySubnetName).ID, ref(TypePublicIPAddresses, "pip1").ID, ref(TypePublicIPAddresses, "pip2").ID, ref(TypeLocalNetworkGateways, "site1").ID}
	if len(got) != len(want) {
		t.Fatalf("References = %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("ref %d = %s, want %s", i, got[i], want[i])
		}
	}
	c := newV2V("c", "gw1", "gw2")
	c.Properties.LocalNetworkGateway2 = &SubResource{ID: "garbage"}
	if got := References(c); len(got) != 2 {
		t.Errorf("connection references = %v", got)
	}
	if got := References(newPIP("p")); len(got) != 0 {
		t.Errorf("public IP references = %v", got)
	}
}

func TestPopulate(t *testing.T) {
	w := deleteWorld(t)
	ctx := context.Background()
	v := w.get(TypeVirtualNetworks, "vnet1").(*VirtualNetwork)
	if err := Populate(ctx, w.v, v); err != nil {
		t.Fatal(err)
	}
	gs, _ := v.Subnet(GatewaySubnetName)
	def, _ := v.Subnet("default")
	if len(gs.Properties.IPConfigurations) != 1 || gs.Properties.IPConfigurations[0].ID != ipcfgID("gw1", "ipconfig1") || len(def.Properties.IPConfigurations) != 0 {
		t.Errorf("subnet back-references: %+v / %+v", gs.Properties.IPConfigurations, def.Properties.IPConfigurations)
	}
	s := subnetObj("vnet1", GatewaySubnetName)
	if err := Populate(ctx, w.v, s); err != nil || len(s.Properties.IPConfigurations) != 1 {
		t.Errorf("subnet: %v %+v", err, s.Properties.IPConfigurations)
	}
	p := w.get(TypePublicIPAddresses, "pip2").(*PublicIPAddress)
	if err := Populate(ctx, w.v, p); err != nil || p.Properties.IPConfiguration == nil || p.Properties.IPConfiguration.ID != ipcfgID("gw2", "ipconfig1") {
		t.Errorf("public IP: %v %+v", err, p.Properties.IPConfiguration)
	}
	free := w.get(TypePublicIPAddresses, "pip5").(*PublicIPAddress)
	free.Properties.IPConfiguration = &SubResource{ID: "stale"}
	if err := Populate(ctx, w.v, free); err != nil || free.Properties.IPConfiguration != nil {
		t.Errorf("free public IP: %v %+v", err, free.Properties.IPConfiguration)
	}
	if err := Populate(ctx, w.v, w.get(TypeConnections, "c1")); err != nil {
		t.Error(err)
	}
}

func TestRedactAndClone(t *testing.T) {
	c := newConn("c1", "gw1", "site1")
	c.Properties.SharedKey = "topsecret"
	r := Redact(c).(*Connection)
	if r.SharedKeyValue() != "" || c.SharedKeyValue() != "topsecret" {
		t.Fatalf("redact: copy %q, original %q", r.SharedKeyValue(), c.SharedKeyValue())
	}
	r.Properties.VirtualNetworkGateway1.ID = "changed"
	if c.Properties.VirtualNetworkGateway1.ID == "changed" {
		t.Fatal("Redact did not deep-copy")
	}
	g := newGateway("gw1", "vnet1", "pip1")
	g.Properties.VpnClientConfiguration = &VpnClientConfiguration{RadiusServerSecret: "s1", RadiusServers: []RadiusServer{{RadiusServerAddress: "10.0.0.1", RadiusServerSecret: "s2"}},
		VpnClientLocalUsers: []VpnClientLocalUser{localUser("alice", "alicepw1")}}
	rg := Redact(g).(*VirtualNetworkGateway)
	if rg.Properties.VpnClientConfiguration.RadiusServerSecret != "" || rg.Properties.VpnClientConfiguration.RadiusServers[0].RadiusServerSecret != "" {
		t.Fatal("RADIUS secrets not redacted")
	}
	if u := rg.Properties.VpnClientConfiguration.VpnClientLocalUsers[0]; u.Name != "alice" || u.Properties.Password != "" {
		t.Fatalf("local user redacted to %+v", u)
	}
	if g.Properties.VpnClientConfiguration.RadiusServers[0].RadiusServerSecret != "s2" {
		t.Fatal("Redact changed the original")
	}
	for _, typ := range []string{"resourceGroups", "virtualNetworks", "subnets", "publicIPAddresses", "virtualNetworkGateways", "localNetworkGateways", "connections"} {
		o, ok := NewObject(typ)
		if !ok || TypeOf(o) != typ || TypeOf(Clone(o)) != typ {
			t.Errorf("NewObject(%s)", typ)
		}
	}
	if _, ok := NewObject("natRules"); ok {
		t.Error("NewObject(natRules) ok")
	}
}
