package api

import (
	"net/http"

	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/resource"
)

var vnetKind = kinds[0]

// subnetID returns the validated subnet ID of the request.
func subnetID(r *request) (resource.ID, error) {
	id, err := resourceID(r, vnetKind)
	if err != nil {
		return id, err
	}
	id.Child, id.ChildName = resource.TypeSubnets, r.param(paramSubnet)
	if err := resource.ValidateName(resource.TypeSubnets, id.ChildName, paramSubnet); err != nil {
		return id, err
	}
	return id, nil
}

// renderedSubnet returns the client's view of a VNet's subnet.
func (s *Server) renderedSubnet(r *request, vnet resource.Object, name string) (*resource.Subnet, bool) {
	v, ok := s.render(r.Context(), vnet).(*resource.VirtualNetwork)
	if !ok {
		return nil, false
	}
	return v.Subnet(name)
}

// getSubnet serves GET of a subnet.
func (s *Server) getSubnet(w http.ResponseWriter, r *request) error {
	id, err := subnetID(r)
	if err != nil {
		return err
	}
	v, err := registry.Load(r.Context(), s.st, id.Parent())
	if err != nil {
		return err
	}
	if v == nil {
		return s.notFoundIn(r.Context(), id.Parent())
	}
	sub, ok := s.renderedSubnet(r, v.Obj, id.ChildName)
	if !ok {
		return resource.NotFound(id)
	}
	writeJSON(w, http.StatusOK, sub)
	return nil
}

// listSubnets serves GET of a VNet's subnets.
func (s *Server) listSubnets(w http.ResponseWriter, r *request) error {
	id, err := resourceID(r, vnetKind)
	if err != nil {
		return err
	}
	v, err := registry.Load(r.Context(), s.st, id)
	if err != nil {
		return err
	}
	if v == nil {
		return s.notFoundIn(r.Context(), id)
	}
	rv := s.render(r.Context(), v.Obj).(*resource.VirtualNetwork)
	subnets := rv.Properties.Subnets
	if subnets == nil {
		subnets = []resource.Subnet{}
	}
	writeJSON(w, http.StatusOK, struct {
		Value []resource.Subnet `json:"value"`
	}{subnets})
	return nil
}

// putSubnet serves PUT of a subnet: an update of its VNet, realized by a
// long-running operation whose result is the subnet.
func (s *Server) putSubnet(w http.ResponseWriter, r *request) error {
	ctx := r.Context()
	id, err := subnetID(r)
	if err != nil {
		return err
	}
	var sub resource.Subnet
	if err := decodeBody(w, r, &sub); err != nil {
		return err
	}
	if err := resource.CheckLimits(&sub); err != nil {
		return err
	}
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	old, err := registry.Load(ctx, s.st, id.Parent())
	if err != nil {
		return err
	}
	if old == nil {
		return s.notFoundIn(ctx, id.Parent())
	}
	oldSub, exists := old.Obj.(*resource.VirtualNetwork).Subnet(id.ChildName)
	if err := checkPreconditions(r, exists, etagOf(old)); err != nil {
		return err
	}
	if old.Op != "" {
		return errBusy(old.ID)
	}
	if err := s.checkGroupWritable(ctx, id); err != nil {
		return err
	}
	// A subnet is validated on its own (location/tags not allowed), then
	// as part of the VNet.
	name := id.ChildName
	if exists {
		name = oldSub.Name // names keep the case they were created with
	}
	sub.Name, sub.ID, sub.Type, sub.Etag = name, "", "", ""
	if err := resource.Validate(&sub); err != nil {
		return err
	}
	vnet := resource.Clone(old.Obj).(*resource.VirtualNetwork)
	vnet.PutSubnet(sub)
	if err := s.prepare(ctx, old.ID, vnet, old); err != nil {
		return err
	}
	if old.Idle() {
		same, err := sameState(vnet, old)
		if err != nil {
			return err
		}
		if same {
			rs, _ := s.renderedSubnet(r, old.Obj, name)
			writeJSON(w, http.StatusOK, rs)
			return nil
		}
	}
	target := old.ID
	target.Child, target.ChildName = resource.TypeSubnets, name
	op := s.newOperation(registry.OpPut, target, vnet.Location, r.apiVersion)
	if err := s.accept(ctx, w, r, op, old.ID, old, vnet, resource.ProvisioningUpdating, nil, nil); err != nil {
		return err
	}
	status := http.StatusOK
	if !exists {
		status = http.StatusCreated
	}
	rs, _ := s.renderedSubnet(r, vnet, name)
	writeJSON(w, status, rs)
	return nil
}

// deleteSubnet serves DELETE of a subnet: an update of its VNet without
// the subnet, refused while the subnet is in use.
func (s *Server) deleteSubnet(w http.ResponseWriter, r *request) error {
	ctx := r.Context()
	id, err := subnetID(r)
	if err != nil {
		return err
	}
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	old, err := registry.Load(ctx, s.st, id.Parent())
	if err != nil {
		return err
	}
	var exists bool
	if old != nil {
		_, exists = old.Obj.(*resource.VirtualNetwork).Subnet(id.ChildName)
	}
	if err := checkPreconditions(r, exists, etagOf(old)); err != nil {
		return err
	}
	if !exists {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if old.Op != "" {
		return errBusy(old.ID)
	}
	oldVnet := old.Obj.(*resource.VirtualNetwork)
	if err := resource.CheckSubnetDelete(ctx, s.view, oldVnet, id.ChildName); err != nil {
		return err
	}
	vnet := resource.Clone(old.Obj).(*resource.VirtualNetwork)
	vnet.DeleteSubnet(id.ChildName)
	if err := s.prepare(ctx, old.ID, vnet, old); err != nil {
		return err
	}
	target := old.ID
	target.Child, target.ChildName = resource.TypeSubnets, id.ChildName
	op := s.newOperation(registry.OpDelete, target, vnet.Location, r.apiVersion)
	if err := s.accept(ctx, w, r, op, old.ID, old, vnet, resource.ProvisioningUpdating, nil, nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
