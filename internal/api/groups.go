package api

import (
	"net/http"

	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
)

// getGroup serves GET of a resource group.
func (s *Server) getGroup(w http.ResponseWriter, r *request) error {
	gid, err := groupID(r)
	if err != nil {
		return err
	}
	g, err := load(r.Context(), s.st, gid)
	if err != nil {
		return err
	}
	if g == nil {
		return resource.NotFound(gid)
	}
	writeJSON(w, http.StatusOK, s.render(r.Context(), g.obj))
	return nil
}

// listGroups serves GET of a subscription's resource groups.
func (s *Server) listGroups(w http.ResponseWriter, r *request) error {
	sub := r.param(paramSub)
	if err := checkSubscription(sub); err != nil {
		return err
	}
	gs, err := list(r.Context(), s.st, groupsPrefix(sub), resource.TypeResourceGroups)
	if err != nil {
		return err
	}
	out := listBody{Value: make([]resource.Object, 0, len(gs))}
	for _, g := range gs {
		out.Value = append(out.Value, s.render(r.Context(), g.obj))
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
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	obj := &resource.ResourceGroup{}
	if err := resource.DecodeStrict(body, obj); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := load(ctx, s.st, gid)
	if err != nil {
		return err
	}
	if err := checkPreconditions(r, old != nil, etagOf(old)); err != nil {
		return err
	}
	if old != nil && old.op != "" {
		return errorf(http.StatusConflict, CodeResourceGroupBeingDeleted, "",
			"The resource group '%s' is being deleted.", old.id.ResourceGroup)
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
			writeJSON(w, http.StatusOK, s.render(ctx, old.obj))
			return nil
		}
	}
	b, err := encodeRecord(obj, "")
	if err != nil {
		return err
	}
	var rev int64
	status := http.StatusCreated
	if old != nil {
		rev, status = old.rev, http.StatusOK
	}
	if _, err := s.st.CompareAndSwap(ctx, recordKey(gid), b, rev); err != nil {
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
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := load(ctx, s.st, gid)
	if err != nil {
		return err
	}
	if g == nil {
		return resource.NotFound(gid)
	}
	if g.op != "" {
		return errBusy(g.id)
	}
	// Refused while something outside the group refers into it.
	if _, err := resource.PlanGroupDelete(ctx, s.view, gid.Subscription, gid.ResourceGroup); err != nil {
		return err
	}
	var members []*stored
	for _, typ := range topTypes {
		ms, err := list(ctx, s.st, typePrefix(typ, gid.Subscription, gid.ResourceGroup), typ)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.op != "" {
				return errBusy(m.id)
			}
		}
		members = append(members, ms...)
	}
	op := s.newOperation(opGroupDelete, g.id, g.obj.Meta().Location, r.apiVersion)
	var (
		cmps []store.Cmp
		ops  []store.Op
	)
	for _, m := range members {
		m.obj.SetProvisioningState(resource.ProvisioningDeleting)
		s.stamp(m.obj)
		b, err := encodeRecord(m.obj, op.ID)
		if err != nil {
			return err
		}
		cmps = append(cmps, store.Cmp{Key: recordKey(m.id), ModRevision: m.rev})
		ops = append(ops, store.PutOp(recordKey(m.id), b))
	}
	g.obj.SetProvisioningState(resource.ProvisioningDeleting)
	b, err := encodeRecord(g.obj, op.ID)
	if err != nil {
		return err
	}
	cmps = append(cmps, store.Cmp{Key: recordKey(g.id), ModRevision: g.rev})
	ops = append(ops, store.PutOp(recordKey(g.id), b), store.PutOp(opKey(op.ID), encodeOp(op)))
	if _, err := s.st.Txn(ctx, cmps, ops); err != nil {
		return err
	}
	s.log.Info("operation accepted", "operation", op.ID, "kind", op.Kind, "target", op.Target,
		"resources", len(members), "requestId", r.requestID)
	s.startOp(op.ID)
	s.setLROHeaders(w, r, op)
	w.WriteHeader(http.StatusAccepted)
	return nil
}
