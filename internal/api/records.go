package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
)

// Storage keys. Every key is lower-case: ARM names and IDs compare
// case-insensitively. Names cannot contain "/" (resource.ValidateName, subRE), so the keys
// parse unambiguously and a group's resources of one type share a prefix.
//
//	g/{subscription}/{group}                resource group record
//	r/{type}/{subscription}/{group}/{name}  network resource record
//	o/{operationId}                         operation record
//	a/{address}                             public IP reservation -> resource key
const (
	prefixGroup     = "g/"
	prefixResource  = "r/"
	prefixOperation = "o/"
	prefixAddress   = "a/"
)

// topTypes are the top-level network resource types, in the order a
// resource group delete removes them (dependents first).
var topTypes = []string{
	resource.TypeConnections,
	resource.TypeVirtualNetworkGateways,
	resource.TypeLocalNetworkGateways,
	resource.TypePublicIPAddresses,
	resource.TypeVirtualNetworks,
}

// recordKey is the store key of a resource group (id.Type == "") or of a
// top-level resource (children map to their parent).
func recordKey(id resource.ID) string {
	if id.Type == "" {
		return strings.ToLower(prefixGroup + id.Subscription + "/" + id.ResourceGroup)
	}
	return strings.ToLower(prefixResource + id.Type + "/" + id.Subscription + "/" + id.ResourceGroup + "/" + id.Name)
}

// typePrefix is the key prefix of every resource of typ, optionally within
// a subscription and group.
func typePrefix(typ string, scope ...string) string {
	p := prefixResource + typ + "/"
	for _, s := range scope {
		p += s + "/"
	}
	return strings.ToLower(p)
}

func groupsPrefix(sub string) string { return strings.ToLower(prefixGroup + sub + "/") }

func opKey(id string) string { return prefixOperation + id }

func addrKey(a netip.Addr) string { return prefixAddress + a.String() }

// record is the stored form of a resource group or top-level resource: the
// full object, secrets included, and the operation in progress on it.
type record struct {
	// Op is the ID of the operation in progress on the resource, "" when
	// none is.
	Op string `json:"op,omitempty"`
	// Object is the resource's JSON.
	Object json.RawMessage `json:"object"`
}

// stored is a decoded record.
type stored struct {
	// id is the resource's ID, in the case it was created with.
	id resource.ID
	// obj is the resource, secrets included.
	obj resource.Object
	// op is the operation in progress on it, "" for none.
	op string
	// rev is the record's ModRevision, for compare-and-swap.
	rev int64
}

// typeOf is the type segment for NewObject of an ID.
func typeOf(id resource.ID) string {
	if id.Type == "" {
		return resource.TypeResourceGroups
	}
	return id.Type
}

func decodeRecord(kv store.KV, typ string) (*stored, error) {
	var rec record
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return nil, internalf("decode record %s: %w", kv.Key, err)
	}
	obj, ok := resource.NewObject(typ)
	if !ok {
		return nil, internalf("record %s: unknown type %s", kv.Key, typ)
	}
	if err := json.Unmarshal(rec.Object, obj); err != nil {
		return nil, internalf("decode object %s: %w", kv.Key, err)
	}
	id, err := resource.ParseID(obj.Meta().ID, "id")
	if err != nil {
		return nil, internalf("record %s: stored id: %w", kv.Key, err)
	}
	return &stored{id: id, obj: obj, op: rec.Op, rev: kv.ModRevision}, nil
}

func encodeRecord(obj resource.Object, op string) ([]byte, error) {
	o, err := json.Marshal(obj)
	if err != nil {
		return nil, internalf("encode %s: %w", obj.Meta().ID, err)
	}
	return json.Marshal(record{Op: op, Object: o})
}

// load returns the stored resource group or top-level resource at id, or
// nil if there is none.
func load(ctx context.Context, st store.Store, id resource.ID) (*stored, error) {
	kv, err := st.Get(ctx, recordKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeRecord(kv, typeOf(id))
}

// list returns the stored resources of typ under a key prefix.
func list(ctx context.Context, st store.Store, prefix, typ string) ([]*stored, error) {
	kvs, _, err := st.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]*stored, 0, len(kvs))
	for _, kv := range kvs {
		s, err := decodeRecord(kv, typ)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// storeView is the resource.View over the store. It reads the store
// directly; under the writer lock that is a consistent view.
type storeView struct {
	st store.Store
}

var _ resource.View = storeView{}

// Get implements resource.View.
func (v storeView) Get(ctx context.Context, id resource.ID) (resource.Object, error) {
	if id.Child != "" {
		return nil, fmt.Errorf("api: view: %s is not a top-level ID", id)
	}
	s, err := load(ctx, v.st, id)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("%w: %s", resource.ErrNotFound, id)
	}
	return s.obj, nil
}

// List implements resource.View.
func (v storeView) List(ctx context.Context, typ string) ([]resource.Object, error) {
	t, ok := resource.CanonicalType(typ)
	if !ok {
		return nil, fmt.Errorf("api: view: unknown type %q", typ)
	}
	ss, err := list(ctx, v.st, typePrefix(t), t)
	if err != nil {
		return nil, err
	}
	out := make([]resource.Object, len(ss))
	for i, s := range ss {
		out[i] = s.obj
	}
	return out, nil
}

// GroupExists implements resource.View.
func (v storeView) GroupExists(ctx context.Context, subscription, group string) (bool, error) {
	s, err := load(ctx, v.st, resource.ID{Subscription: subscription, ResourceGroup: group})
	return s != nil, err
}

// NewView returns a resource.View that reads the resources the API stores
// in st, for other control-plane components (the reconciler). It is not
// synchronised with the API's writes: each read sees the store at that time.
func NewView(st store.Store) resource.View { return storeView{st: st} }

// ResourceKeyPrefix is the store key prefix of every network resource
// record; a watch on it sees every resource change.
const ResourceKeyPrefix = prefixResource
