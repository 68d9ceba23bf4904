package resource

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// rcase is one relational rule: setup stores the prior state, obj builds
// the resource to PUT (often a modified copy of a stored one).
type rcase struct {
	name   string
	setup  func(w *world)
	obj    func(w *world) Object
	code   string
	target string
	msg    []string
}

// stdWorld has VNet vnet1 (10.1.0.0/16, GatewaySubnet 10.1.255.0/27),
// vnet2 (10.2.0.0/16), public IPs pip1..pip6 and sites site1
// (192.168.0.0/16) and site2 (192.169.0.0/16).
func stdWorld(t *testing.T) *world {
	w := newWorld(t)
	v2 := newVNet("vnet2", "10.2.0.0/16").with(GatewaySubnetName, "10.2.255.0/27")
	w.mustPut(stdVNet("vnet1"), v2,
		newLNG("site1", "203.0.113.10", "192.168.0.0/16"), newLNG("site2", "203.0.113.20", "192.169.0.0/16"))
	for i := range 6 {
		w.mustPut(newPIP(fmt.Sprintf("pip%d", i+1)))
	}
	return w
}

func runResolve(t *testing.T, cases []rcase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := stdWorld(t)
			if c.setup != nil {
				c.setup(w)
			}
			expectErr(t, w.put(c.obj(w)), c.code, c.target, c.msg...)
		})
	}
}

func TestResolveViewFailure(t *testing.T) {
	w := stdWorld(t)
	w.mustPut(newGateway("gw1", "vnet1", "pip1"))
	w.v.failGet = errBoom
	c := newConn("c1", "gw1", "site1")
	AssignIDs(c, id(TypeConnections, "c1"))
	if err := Prepare(c, nil, w.rand); err != nil {
		t.Fatal(err)
	}
	err := Resolve(context.Background(), w.v, c, nil)
	if !errors.Is(err, errBoom) {
		t.Fatalf("Resolve = %v, want the view's error", err)
	}
	if _, ok := AsError(err); ok {
		t.Fatal("a view failure must not look like a rule violation")
	}
}

func TestResolveTypeMismatch(t *testing.T) {
	if err := Resolve(context.Background(), newFakeView(), newPIP("a"), newLNG("b", "1.2.3.4", "10.0.0.0/8")); err == nil {
		t.Fatal("want error for mismatched old")
	}
	if err := Prepare(newPIP("a"), newLNG("b", "1.2.3.4", "10.0.0.0/8"), nil); err == nil {
		t.Fatal("want error for mismatched old")
	}
}

func TestOverlay(t *testing.T) {
	w := stdWorld(t)
	ctx := context.Background()
	changed := w.get(TypeLocalNetworkGateways, "site1").(*LocalNetworkGateway)
	changed.Properties.GatewayIPAddress = "198.51.100.1"
	o := newOverlay(w.v, changed)
	list, err := o.List(ctx, TypeLocalNetworkGateways)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %d, %v", len(list), err)
	}
	found := 0
	for _, x := range list {
		if l := x.(*LocalNetworkGateway); l.Name == "site1" {
			found++
			if l.Properties.GatewayIPAddress != "198.51.100.1" {
				t.Error("overlay List returned the stored version")
			}
		}
	}
	if found != 1 {
		t.Errorf("site1 listed %d times", found)
	}
	if g, _ := o.Get(ctx, id(TypeLocalNetworkGateways, "SITE1")); g.(*LocalNetworkGateway).Properties.GatewayIPAddress != "198.51.100.1" {
		t.Error("overlay Get returned the stored version")
	}
	if l, _ := o.List(ctx, TypePublicIPAddresses); len(l) != 6 {
		t.Errorf("other types: %d", len(l))
	}
	// A new object (no ID yet) is added.
	n := newOverlay(w.v, newLNG("new", "198.51.100.2", "10.50.0.0/16"))
	if l, _ := n.List(ctx, TypeLocalNetworkGateways); len(l) != 3 {
		t.Errorf("new object: %d", len(l))
	}
}
