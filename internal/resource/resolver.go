package resource

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// resolver carries the view, the violations found so far and the first
// failure of the view (which stops everything).
type resolver struct {
	ctx   context.Context
	v     View
	l     errList
	fatal error
}

// selfID returns obj's parsed ID, if set.
func selfID(obj Object) (ID, bool) {
	if obj.Meta().ID == "" {
		return ID{}, false
	}
	id, err := ParseID(obj.Meta().ID, "id")
	return id, err == nil
}

// keyOf is obj's store key, or "" when its ID is not set.
func keyOf(obj Object) string {
	if id, ok := selfID(obj); ok {
		return id.Key()
	}
	return ""
}

// nameOf is a label for obj in messages.
func nameOf(obj Object) string {
	if n := obj.Meta().Name; n != "" {
		return n
	}
	return obj.Meta().ID
}

// get fetches a top-level resource; a missing one is a violation reported
// at target.
func (r *resolver) get(id ID, target, what string) Object {
	if r.fatal != nil {
		return nil
	}
	o, err := r.v.Get(r.ctx, id.Parent())
	if errors.Is(err, ErrNotFound) {
		r.l.addf(CodeReferencedNotFound, target, "The referenced %s %s does not exist.", what, id.Parent())
		return nil
	}
	if err != nil {
		r.fatal = fmt.Errorf("resource: get %s: %w", id.Parent(), err)
		return nil
	}
	return o
}

func (r *resolver) list(typ string) []Object {
	if r.fatal != nil {
		return nil
	}
	objs, err := r.v.List(r.ctx, typ)
	if err != nil {
		r.fatal = fmt.Errorf("resource: list %s: %w", typ, err)
		return nil
	}
	return objs
}

func (r *resolver) getVNet(id ID, target string) *VirtualNetwork {
	o, _ := r.get(id, target, "virtual network").(*VirtualNetwork)
	return o
}

func (r *resolver) getGateway(ref *SubResource, target string) *VirtualNetworkGateway {
	id, err := ParseID(refID(ref), target)
	if err != nil {
		return nil // Validate reported it
	}
	o, _ := r.get(id, target, "virtual network gateway").(*VirtualNetworkGateway)
	return o
}

func (r *resolver) getLNG(ref *SubResource, target string) *LocalNetworkGateway {
	id, err := ParseID(refID(ref), target)
	if err != nil {
		return nil
	}
	o, _ := r.get(id, target, "local network gateway").(*LocalNetworkGateway)
	return o
}

func (r *resolver) getPublicIP(ref *SubResource, target string) *PublicIPAddress {
	id, err := ParseID(refID(ref), target)
	if err != nil {
		return nil
	}
	o, _ := r.get(id, target, "public IP address").(*PublicIPAddress)
	return o
}

func (r *resolver) gateways() []*VirtualNetworkGateway {
	var out []*VirtualNetworkGateway
	for _, o := range r.list(TypeVirtualNetworkGateways) {
		if g, ok := o.(*VirtualNetworkGateway); ok {
			out = append(out, g)
		}
	}
	return out
}

func (r *resolver) connections() []*Connection {
	var out []*Connection
	for _, o := range r.list(TypeConnections) {
		if c, ok := o.(*Connection); ok {
			out = append(out, c)
		}
	}
	return out
}

// lookup fetches a stored resource that should exist (a reference of a
// stored resource, resolved when it was written): nil when it is missing;
// a store failure is recorded as fatal.
func (r *resolver) lookup(id ID) Object {
	if r.fatal != nil {
		return nil
	}
	o, err := r.v.Get(r.ctx, id)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			r.fatal = fmt.Errorf("resource: get %s: %w", id, err)
		}
		return nil
	}
	return o
}

// immutable reports a change of an immutable property.
func (r *resolver) immutable(target, oldV, newV string) {
	if oldV != newV {
		r.l.addf(CodeImmutableProperty, target, "Property '%s' cannot be changed after creation (from %q to %q); delete and re-create the resource instead.", target, oldV, newV)
	}
}

// overlay is a View in which obj replaces its stored version: the state a
// change would produce, for re-checking the resources that depend on it.
type overlay struct {
	View
	obj Object
	key string
	typ string
}

func newOverlay(v View, obj Object) overlay {
	return overlay{View: v, obj: obj, key: keyOf(obj), typ: TypeOf(obj)}
}

func (o overlay) Get(ctx context.Context, id ID) (Object, error) {
	if o.key != "" && id.Key() == o.key {
		return o.obj, nil
	}
	return o.View.Get(ctx, id)
}

func (o overlay) List(ctx context.Context, typ string) ([]Object, error) {
	list, err := o.View.List(ctx, typ)
	if err != nil || typ != o.typ {
		return list, err
	}
	out := make([]Object, 0, len(list)+1)
	for _, x := range list {
		if o.key == "" || keyOf(x) != o.key {
			out = append(out, x)
		}
	}
	return append(out, o.obj), nil
}

// recheck re-runs the relational rules of connections under the change
// obj, reporting violations at the changed field chosen by target(code).
func (r *resolver) recheck(conns []*Connection, obj Object, target func(code string) string) {
	for _, c := range conns {
		if r.fatal != nil {
			return
		}
		sub := &resolver{ctx: r.ctx, v: newOverlay(r.v, obj)}
		sub.connectionRelations(c, false, false)
		if sub.fatal != nil {
			r.fatal = sub.fatal
			return
		}
		for _, e := range sub.l.errs {
			r.l.add(&Error{Code: e.Code, Target: target(e.Code),
				Message: fmt.Sprintf("This change would break connection %s: %s", c.Meta().ID, e.Message)})
		}
	}
}

// ---- virtual networks and subnets ----

// ---- public IP addresses ----

// ---- virtual network gateways ----

// ---- local network gateways ----

// ---- connections ----

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
