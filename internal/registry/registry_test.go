package registry

import (
	"errors"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
	"github.com/vpngw/vpngw/internal/store/boltstore"
)

func TestRecordsAndView(t *testing.T) {
	ctx := t.Context()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	gid := resource.ID{Subscription: "Sub", ResourceGroup: "RG"}
	vid := resource.ID{Subscription: "Sub", ResourceGroup: "RG", Type: resource.TypeVirtualNetworks, Name: "VNet1"}
	if got, want := Key(vid), "r/virtualnetworks/sub/rg/vnet1"; got != want {
		t.Errorf("Key = %q, want %q (lower-case)", got, want)
	}
	if got, want := Key(gid), "g/sub/rg"; got != want {
		t.Errorf("group Key = %q, want %q", got, want)
	}
	for _, obj := range []resource.Object{&resource.ResourceGroup{}, &resource.VirtualNetwork{}} {
		id := gid
		if _, ok := obj.(*resource.VirtualNetwork); ok {
			id = vid
		}
		resource.AssignIDs(obj, id)
		b, err := Encode(obj, "op1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(ctx, Key(id), b); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := Load(ctx, st, resource.ID{Subscription: "sub", ResourceGroup: "rg", Type: resource.TypeVirtualNetworks, Name: "vnet1"})
	if err != nil || rec == nil {
		t.Fatalf("Load = %v, %v", rec, err)
	}
	if rec.ID.Name != "VNet1" || rec.Op != "op1" || rec.Rev == 0 || rec.Idle() {
		t.Errorf("record = %+v", rec)
	}
	if rec, err := Load(ctx, st, resource.ID{Subscription: "sub", ResourceGroup: "rg", Type: resource.TypeVirtualNetworks, Name: "none"}); rec != nil || err != nil {
		t.Errorf("Load of a missing resource = %v, %v; want nil, nil", rec, err)
	}
	v := NewView(st)
	if objs, err := v.List(ctx, "VIRTUALNETWORKS"); err != nil || len(objs) != 1 {
		t.Errorf("View.List = %v, %v", objs, err)
	}
	if ok, err := v.GroupExists(ctx, "SUB", "rg"); !ok || err != nil {
		t.Errorf("GroupExists = %v, %v", ok, err)
	}
	if _, err := v.Get(ctx, resource.ID{Subscription: "sub", ResourceGroup: "rg", Type: resource.TypeVirtualNetworks, Name: "x"}); !errors.Is(err, resource.ErrNotFound) {
		t.Errorf("View.Get of a missing resource = %v, want ErrNotFound", err)
	}
	a := netip.MustParseAddr("198.51.100.1")
	cmp, op := Reserve(a, vid)
	if _, err := st.Txn(ctx, []store.Cmp{cmp}, []store.Op{op}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Txn(ctx, []store.Cmp{cmp}, []store.Op{op}); err == nil {
		t.Error("a second reservation of the same address succeeded")
	}
	if used, err := ReservedAddresses(ctx, st); err != nil || !used[a] || len(used) != 1 {
		t.Errorf("ReservedAddresses = %v, %v", used, err)
	}
}
