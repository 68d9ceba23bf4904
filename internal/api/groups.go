package api

import (
	"net/http"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
)

// loadGroup loads the request's resource group (nil if absent).
func (s *Server) loadGroup(r *request) (resource.ID, *registry.Record, error) {
	gid, err := groupID(r)
	if err != nil {
		return gid, nil, err
	}
	g, err := registry.Load(r.Context(), s.st, gid)
	return gid, g, err
}

// getGroup serves GET of a resource group.
func (s *Server) getGroup(w http.ResponseWriter, r *request) error {
	gid, g, err := s.loadGroup(r)
	if err != nil {
		return err
	}
	if g == nil {
		return resource.NotFound(gid)
	}
	writeJSON(w, http.StatusOK, s.render(r.Context(), g.Obj))
	return nil
}

// headGroup serves HEAD of a resource group (az group exists): 204 if it
// exists, 404 if not, never a body.
func (s *Server) headGroup(w http.ResponseWriter, r *request) error {
	_, g, err := s.loadGroup(r)
	switch {
	case err != nil:
		return err
	case g == nil:
		w.WriteHeader(http.StatusNotFound)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

// listGroups serves GET of a subscription's resource groups.
func (s *Server) listGroups(w http.ResponseWriter, r *request) error {
	sub := r.param(paramSub)
	if err := checkSubscription(sub); err != nil {
		return err
	}
	gs, err := registry.List(r.Context(), s.st, registry.GroupsPrefix(sub), resource.TypeResourceGroups)
	if err != nil {
		return err
	}
	out := listBody{Value: make([]resource.Object, 0, len(gs))}
	for _, g := range gs {
		out.Value = append(out.Value, s.render(r.Context(), g.Obj))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// putGroup serves PUT of a resource group. As in ARM it is synchronous:
// 201 on create, 200 on update.
func (s *Server) putGroup(w http.ResponseWriter, r *request) error {
	ctx := r.Context()
	gid, err := groupID(r)
	if err != nil {
		return err
	}
	obj := &resource.ResourceGroup{}
	if err := decodeBody(w, r, obj); err != nil {
		return err
	}
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	old, err := s.loadForWrite(ctx, r, gid)
	if err != nil {
		return err
	}
	if old != nil && old.Op != "" {
		return errorf(http.StatusConflict, armerr.CodeResourceGroupBeingDeleted, "",
			"The resource group '%s' is being deleted.", old.ID.ResourceGroup)
	}
	if err := s.prepare(ctx, gid, obj, old); err != nil {
		return err
	}
	obj.SetProvisioningState(resource.ProvisioningSucceeded)
	if old != nil {
		same, err := sameState(obj, old)
		if err != nil {
			return err
		}
		if same {
			writeJSON(w, http.StatusOK, s.render(ctx, old.Obj))
			return nil
		}
	}
	b, err := registry.Encode(obj, "")
	if err != nil {
		return err
	}
	var rev int64
	status := http.StatusCreated
	if old != nil {
		rev, status = old.Rev, http.StatusOK
	}
	if _, err := s.st.CompareAndSwap(ctx, registry.Key(gid), b, rev); err != nil {
		return err
	}
	writeJSON(w, status, s.render(ctx, obj))
	return nil
}

// deleteGroup serves DELETE of a resource group: a long-running operation
// that deletes every resource in the group, dependents first. It is refused
// while a resource in the group has an operation in progress, and while a
// resource outside the group refers to one inside.
func (s *Server) deleteGroup(w http.ResponseWriter, r *request) error {
	ctx := r.Context()
	gid, err := groupID(r)
	if err != nil {
		return err
	}
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	g, err := registry.Load(ctx, s.st, gid)
	if err != nil {
		return err
	}
	if g == nil {
		return resource.NotFound(gid)
	}
	if g.Op != "" {
		return errBusy(g.ID)
	}
	// Refused while something outside the group refers into it.
	if _, err := resource.PlanGroupDelete(ctx, s.view, gid.Subscription, gid.ResourceGroup); err != nil {
		return err
	}
	var members []*registry.Record
	for _, typ := range resource.DeleteOrder() {
		ms, err := registry.List(ctx, s.st, registry.TypePrefix(typ, gid.Subscription, gid.ResourceGroup), typ)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.Op != "" {
				return errBusy(m.ID)
			}
		}
		members = append(members, ms...)
	}
	op := s.newOperation(registry.OpGroupDelete, g.ID, g.Obj.Meta().Location, r.apiVersion)
	var (
		cmps []store.Cmp
		ops  []store.Op
	)
	for _, m := range members {
		m.Obj.SetProvisioningState(resource.ProvisioningDeleting)
		s.stamp(m.Obj)
		b, err := registry.Encode(m.Obj, op.ID)
		if err != nil {
			return err
		}
		cmps = append(cmps, store.Cmp{Key: registry.Key(m.ID), ModRevision: m.Rev})
		ops = append(ops, store.PutOp(registry.Key(m.ID), b))
	}
	g.Obj.SetProvisioningState(resource.ProvisioningDeleting)
	b, err := registry.Encode(g.Obj, op.ID)
	if err != nil {
		return err
	}
	cmps = append(cmps, store.Cmp{Key: registry.Key(g.ID), ModRevision: g.Rev})
	ops = append(ops, store.PutOp(registry.Key(g.ID), b), op.Put())
	if _, err := s.st.Txn(ctx, cmps, ops); err != nil {
		return err
	}
	s.launch(w, r, op, "resources", len(members))
	w.WriteHeader(http.StatusAccepted)
	return nil
}
