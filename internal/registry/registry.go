// Package registry is the storage schema of the control plane over a
// store.Store: the keys, the records of resource groups and network
// resources, the operation records, the public IP reservations and pool,
// and the resource.View that reads them. The API writes through it; the
// reconciler and the lab's VNet lookup read through NewView.
//
// Storage keys. Every key is lower-case: ARM names and IDs compare
// case-insensitively. Names cannot contain "/" (resource.ValidateName), so
// the keys parse unambiguously and a group's resources of one type share a
// prefix.
//
//	g/{subscription}/{group}                resource group record
//	r/{type}/{subscription}/{group}/{name}  network resource record
//	o/{operationId}                         operation record
//	a/{address}                             public IP reservation -> resource key
//
// Secrets at rest. A record whose object has a secret (resource.Secrets:
// a connection's sharedKey, a gateway's RADIUS secrets) is stored with
// those fields emptied in "object" and their values sealed in "sealed":
//
//	{"op":"…","object":{…no sharedKey…},"sealed":{"enc":"v1","kid":"…","n":"…","ct":"…"}}
//
// "ct" is AES-256-GCM, with a random 12-byte nonce "n" per write and the
// record's store key as additional data (a sealed value moved to another
// key does not open), of the JSON array of the secret values in
// resource.Secrets order. "kid" names the Keyring key. Records without
// "sealed" (written before sealing existed, or without secrets) load as
// they are and are sealed on their next write. Sealed does this below
// Encode and decode: a store wrapped in it (server.Run wraps its store) is
// the only place records are sealed and opened; Reseal rotates keys.
package registry

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

// Key prefixes.
const (
	GroupKeyPrefix     = "g/"
	ResourceKeyPrefix  = "r/" // a watch on it sees every resource change
	OperationKeyPrefix = "o/"
	AddressKeyPrefix   = "a/"
)

// Key is the store key of a resource group (id.Type == "") or of a
// top-level resource (children map to their parent).
func Key(id resource.ID) string {
	if id.Type == "" {
		return strings.ToLower(GroupKeyPrefix + id.Subscription + "/" + id.ResourceGroup)
	}
	return strings.ToLower(ResourceKeyPrefix + id.Type + "/" + id.Subscription + "/" + id.ResourceGroup + "/" + id.Name)
}

// TypePrefix is the key prefix of every resource of typ, optionally within
// a subscription and group.
func TypePrefix(typ string, scope ...string) string {
	p := ResourceKeyPrefix + typ + "/"
	for _, s := range scope {
		p += s + "/"
	}
	return strings.ToLower(p)
}

// GroupsPrefix is the key prefix of a subscription's resource groups.
func GroupsPrefix(sub string) string { return strings.ToLower(GroupKeyPrefix + sub + "/") }

// OperationKey is the key of operation id's record.
func OperationKey(id string) string { return OperationKeyPrefix + id }

// AddressKey is the key of public IP address a's reservation.
func AddressKey(a netip.Addr) string { return AddressKeyPrefix + a.String() }

// record is the stored form of a resource group or top-level resource: the
// full object, secrets included, and the operation in progress on it.
type record struct {
	// Op is the ID of the operation in progress on the resource, "" when
	// none is.
	Op string `json:"op,omitempty"`
	// Object is the resource's JSON.
	Object json.RawMessage `json:"object"`
}

// Record is a decoded record.
type Record struct {
	// ID is the resource's ID, in the case it was created with.
	ID resource.ID
	// Obj is the resource, secrets included.
	Obj resource.Object
	// Op is the operation in progress on it, "" for none.
	Op string
	// Rev is the record's ModRevision, for compare-and-swap.
	Rev int64
}

// Idle reports whether the resource has no operation in progress and its
// last one succeeded.
func (r *Record) Idle() bool {
	return r.Op == "" && r.Obj.ProvisioningState() == resource.ProvisioningSucceeded
}

// typeOf is the type segment for NewObject of an ID.
func typeOf(id resource.ID) string {
	if id.Type == "" {
		return resource.TypeResourceGroups
	}
	return id.Type
}

func decode(kv store.KV, typ string) (*Record, error) {
	var rec record
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return nil, fmt.Errorf("registry: decode record %s: %w", kv.Key, err)
	}
	obj, ok := resource.NewObject(typ)
	if !ok {
		return nil, fmt.Errorf("registry: record %s: unknown type %s", kv.Key, typ)
	}
	if err := json.Unmarshal(rec.Object, obj); err != nil {
		return nil, fmt.Errorf("registry: decode object %s: %w", kv.Key, err)
	}
	id, err := resource.ParseID(obj.Meta().ID, "id")
	if err != nil {
		return nil, fmt.Errorf("registry: record %s: stored id: %w", kv.Key, err)
	}
	return &Record{ID: id, Obj: obj, Op: rec.Op, Rev: kv.ModRevision}, nil
}

// Encode is the stored form of obj with operation op in progress ("" for
// none).
func Encode(obj resource.Object, op string) ([]byte, error) {
	o, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("registry: encode %s: %w", obj.Meta().ID, err)
	}
	return json.Marshal(record{Op: op, Object: o})
}

// Load returns the stored resource group or top-level resource at id, or
// nil if there is none.
func Load(ctx context.Context, st store.Store, id resource.ID) (*Record, error) {
	kv, err := st.Get(ctx, Key(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decode(kv, typeOf(id))
}

// List returns the stored resources of typ under a key prefix.
func List(ctx context.Context, st store.Store, prefix, typ string) ([]*Record, error) {
	kvs, _, err := st.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]*Record, 0, len(kvs))
	for _, kv := range kvs {
		r, err := decode(kv, typ)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// view is the resource.View over the store. It reads the store directly;
// under the API's writer lock that is a consistent view.
type view struct {
	st store.Store
}

var _ resource.View = view{}

// Get implements resource.View.
func (v view) Get(ctx context.Context, id resource.ID) (resource.Object, error) {
	if id.Child != "" {
		return nil, fmt.Errorf("registry: view: %s is not a top-level ID", id)
	}
	r, err := Load(ctx, v.st, id)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("%w: %s", resource.ErrNotFound, id)
	}
	return r.Obj, nil
}

// List implements resource.View.
func (v view) List(ctx context.Context, typ string) ([]resource.Object, error) {
	t, ok := resource.CanonicalType(typ)
	if !ok {
		return nil, fmt.Errorf("registry: view: unknown type %q", typ)
	}
	rs, err := List(ctx, v.st, TypePrefix(t), t)
	if err != nil {
		return nil, err
	}
	out := make([]resource.Object, len(rs))
	for i, r := range rs {
		out[i] = r.Obj
	}
	return out, nil
}

// GroupExists implements resource.View.
func (v view) GroupExists(ctx context.Context, subscription, group string) (bool, error) {
	r, err := Load(ctx, v.st, resource.ID{Subscription: subscription, ResourceGroup: group})
	return r != nil, err
}

// NewView returns a resource.View that reads the resources stored in st. It
// is not synchronised with the API's writes: each read sees the store at
// that time.
func NewView(st store.Store) resource.View { return view{st: st} }

// PublicIP returns the address assigned to a public IP resource.
func PublicIP(obj resource.Object) (netip.Addr, bool) {
	p, ok := obj.(*resource.PublicIPAddress)
	if !ok || p.Properties.IPAddress == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(p.Properties.IPAddress)
	return a, err == nil
}

// ReservedAddresses returns every reserved public IP address.
func ReservedAddresses(ctx context.Context, st store.Store) (map[netip.Addr]bool, error) {
	kvs, _, err := st.List(ctx, AddressKeyPrefix)
	if err != nil {
		return nil, err
	}
	used := make(map[netip.Addr]bool, len(kvs))
	for _, kv := range kvs {
		if a, err := netip.ParseAddr(strings.TrimPrefix(kv.Key, AddressKeyPrefix)); err == nil {
			used[a] = true
		}
	}
	return used, nil
}

// Reserve returns the condition and write that reserve address a for the
// resource id, to commit with it: the write fails if a is taken.
func Reserve(a netip.Addr, id resource.ID) (store.Cmp, store.Op) {
	return store.Cmp{Key: AddressKey(a), ModRevision: 0}, store.PutOp(AddressKey(a), []byte(Key(id)))
}
