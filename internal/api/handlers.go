package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
)

// kind describes one top-level network resource type for the routes.
type kind struct {
	// typ is the type segment ("virtualNetworks").
	typ string
	// param is the name path parameter, as in ARM's specification.
	param string
	// opPrefix prefixes the OpenAPI operation IDs ("VirtualNetworks").
	opPrefix string
	// noun names one resource in summaries ("virtual network").
	noun string
}

var kinds = []kind{
	{resource.TypeVirtualNetworks, "virtualNetworkName", "VirtualNetworks", "virtual network"},
	{resource.TypePublicIPAddresses, "publicIpAddressName", "PublicIPAddresses", "public IP address"},
	{resource.TypeVirtualNetworkGateways, "virtualNetworkGatewayName", "VirtualNetworkGateways", "virtual network gateway"},
	{resource.TypeLocalNetworkGateways, "localNetworkGatewayName", "LocalNetworkGateways", "local network gateway"},
	{resource.TypeConnections, "virtualNetworkGatewayConnectionName", "VirtualNetworkGatewayConnections", "connection"},
}

const (
	paramSub      = "subscriptionId"
	paramGroup    = "resourceGroupName"
	paramSubnet   = "subnetName"
	paramLocation = "location"
	paramOp       = "operationId"
)

// groupID returns the validated resource group ID of the request.
func groupID(r *request) (resource.ID, error) {
	sub, rg := r.param(paramSub), r.param(paramGroup)
	if err := checkSubscription(sub); err != nil {
		return resource.ID{}, err
	}
	if err := resource.ValidateName(resource.TypeResourceGroups, rg, paramGroup); err != nil {
		return resource.ID{}, err
	}
	return resource.ID{Subscription: sub, ResourceGroup: rg}, nil
}

// resourceID returns the validated ID of the request's resource of kind k.
func resourceID(r *request, k kind) (resource.ID, error) {
	id, err := groupID(r)
	if err != nil {
		return id, err
	}
	id.Type, id.Name = k.typ, r.param(k.param)
	if err := resource.ValidateName(k.typ, id.Name, k.param); err != nil {
		return id, err
	}
	return id, nil
}

func checkSubscription(sub string) error {
	if !subRE().MatchString(sub) {
		return errorf(http.StatusBadRequest, armerr.CodeInvalidSubscriptionID, paramSub,
			"The subscription ID '%s' is invalid: use letters, digits, '.', '_' and '-' (a GUID, as in Azure).", sub)
	}
	return nil
}

// notFoundIn returns ResourceGroupNotFound if id's group is missing, else
// the not-found error for id.
func (s *Server) notFoundIn(ctx context.Context, id resource.ID) error {
	g, err := registry.Load(ctx, s.st, id.GroupID())
	if err != nil {
		return err
	}
	if g == nil {
		return resource.NotFound(id.GroupID())
	}
	return resource.NotFound(id)
}

// render returns what a client may see of obj: secrets removed, live
// connection status filled in.
func (s *Server) render(ctx context.Context, obj resource.Object) resource.Object {
	out := resource.Redact(obj)
	if err := resource.Populate(ctx, s.view, out); err != nil {
		s.log.Warn("populate read-only references", "resource", out.Meta().ID, "err", err)
	}
	if c, ok := out.(*resource.Connection); ok {
		c.SetStatus(s.connectionStatus(ctx, c))
	}
	return out
}

// connectionStatus asks the Provisioner for a realized connection's status.
// A connection that is not realized, or whose status cannot be had, is
// Unknown; a report that is not one of ARM's values is treated as Unknown.
func (s *Server) connectionStatus(ctx context.Context, c *resource.Connection) resource.ConnectionStatusReport {
	unknown := resource.ConnectionStatusReport{Status: resource.ConnectionStatusUnknown}
	if c.ProvisioningState() != resource.ProvisioningSucceeded {
		return unknown
	}
	rep, err := s.prov.ConnectionStatus(ctx, c)
	if err != nil {
		s.log.Warn("connection status", "connection", c.Meta().ID, "err", err)
		return unknown
	}
	switch rep.Status {
	case resource.ConnectionStatusUnknown, resource.ConnectionStatusConnecting,
		resource.ConnectionStatusConnected, resource.ConnectionStatusNotConnected:
		return rep
	}
	s.log.Warn("connection status: invalid value from provisioner", "connection", c.Meta().ID, "status", rep.Status)
	return unknown
}

// checkPreconditions applies If-Match and If-None-Match to the current
// resource (nil when absent) with etag.
func checkPreconditions(r *request, exists bool, etag string) error {
	if im := r.Header.Get("If-Match"); im != "" {
		if !exists {
			return errorf(http.StatusPreconditionFailed, armerr.CodePreconditionFailed, "If-Match",
				"The If-Match condition failed: the resource does not exist.")
		}
		if !etagListMatch(im, etag) {
			return errorf(http.StatusPreconditionFailed, armerr.CodePreconditionFailed, "If-Match",
				"The If-Match condition failed: the resource's etag is %s.", etag)
		}
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && exists && etagListMatch(inm, etag) {
		return errorf(http.StatusPreconditionFailed, armerr.CodePreconditionFailed, "If-None-Match",
			"The If-None-Match condition failed: the resource exists with etag %s.", etag)
	}
	return nil
}

// etagListMatch reports whether a header value ("*" or a comma-separated
// list of etags) matches etag, comparing weakly (W/ ignored).
func etagListMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") && etag != "" {
			return true
		}
	}
	return false
}

// sameState reports whether obj, the prepared new state, equals the stored
// one apart from etag and provisioning state: a PUT of it changes nothing.
func sameState(obj resource.Object, old *registry.Record) (bool, error) {
	a := resource.Clone(obj)
	resource.SetEtag(a, old.Obj.Meta().Etag)
	a.SetProvisioningState(old.Obj.ProvisioningState())
	ja, err := json.Marshal(a)
	if err != nil {
		return false, internalf("compare: %w", err)
	}
	jb, err := json.Marshal(old.Obj)
	if err != nil {
		return false, internalf("compare: %w", err)
	}
	return bytes.Equal(ja, jb), nil
}

// idle reports whether a stored resource has no operation in progress and
// its last one succeeded.
func idle(st *registry.Record) bool {
	return st.Op == "" && st.Obj.ProvisioningState() == resource.ProvisioningSucceeded
}

// checkGroupWritable checks that id's resource group exists and is not
// being deleted. The caller holds the writer lock.
func (s *Server) checkGroupWritable(ctx context.Context, id resource.ID) error {
	g, err := registry.Load(ctx, s.st, id.GroupID())
	if err != nil {
		return err
	}
	if g == nil {
		return resource.NotFound(id.GroupID())
	}
	if g.Op != "" {
		return errorf(http.StatusConflict, armerr.CodeResourceGroupBeingDeleted, "",
			"The resource group '%s' is being deleted; no resources can be created or changed in it.", id.ResourceGroup)
	}
	return nil
}

// prepare admits obj, the new state of the top-level resource id (old is
// its stored state, nil on create): the one call into the resource rules,
// then the API's own rule that no reference may point at a resource being
// deleted. The caller holds the writer lock.
func (s *Server) prepare(ctx context.Context, id resource.ID, obj resource.Object, old *registry.Record) error {
	var oldObj resource.Object
	if old != nil {
		oldObj = old.Obj
		id = old.ID // names keep the case they were created with
	}
	if err := resource.Admit(ctx, s.view, id, obj, oldObj, s.rand); err != nil {
		return err
	}
	return s.checkReferencesLive(ctx, obj)
}

// checkReferencesLive refuses a new state that refers to a resource being
// deleted.
func (s *Server) checkReferencesLive(ctx context.Context, obj resource.Object) error {
	for _, ref := range resource.References(obj) {
		st, err := registry.Load(ctx, s.st, ref.Parent())
		if err != nil {
			return err
		}
		if st != nil && st.Obj.ProvisioningState() == resource.ProvisioningDeleting {
			return errorf(http.StatusConflict, armerr.CodeReferencedBeingDeleted, "",
				"The referenced resource '%s' is being deleted.", st.ID)
		}
	}
	return nil
}

// loadForWrite loads the stored state at id (nil if none) for a write and
// applies the request's If-Match and If-None-Match to it. The caller holds
// the writer lock, from this load to the commit.
func (s *Server) loadForWrite(ctx context.Context, r *request, id resource.ID) (*registry.Record, error) {
	old, err := registry.Load(ctx, s.st, id)
	if err != nil {
		return nil, err
	}
	if err := checkPreconditions(r, old != nil, etagOf(old)); err != nil {
		return nil, err
	}
	return old, nil
}

// accept starts operation op on the top-level resource id: it stores obj
// as id's state in provisioning state state, owned by op, together with
// extra conditions and writes, in one transaction; then it launches op.
// The caller holds the writer lock.
func (s *Server) accept(ctx context.Context, w http.ResponseWriter, r *request, op *registry.Operation, id resource.ID, old *registry.Record, obj resource.Object, state string, cmps []store.Cmp, ops []store.Op) error {
	obj.SetProvisioningState(state)
	s.stamp(obj)
	b, err := registry.Encode(obj, op.ID)
	if err != nil {
		return err
	}
	var rev int64
	if old != nil {
		rev = old.Rev
	}
	cmps = append(cmps, store.Cmp{Key: registry.Key(id), ModRevision: rev})
	ops = append(ops, store.PutOp(registry.Key(id), b), op.Put())
	if _, err := s.st.Txn(ctx, cmps, ops); err != nil {
		return err
	}
	s.launch(w, r, op)
	return nil
}

// launch starts the goroutine of op, just committed, and points the
// client at its status (the LRO headers).
func (s *Server) launch(w http.ResponseWriter, r *request, op *registry.Operation, logArgs ...any) {
	s.log.Info("operation accepted", append([]any{"operation", op.ID, "kind", op.Kind, "target", op.Target, "requestId", r.requestID}, logArgs...)...)
	s.logStarted(r, op)
	s.startOp(op.ID)
	s.setLROHeaders(w, r, op)
}

// allocateAddress assigns p an address from the pool and returns the
// reservation to commit with it. The caller holds the writer lock.
func (s *Server) allocateAddress(ctx context.Context, id resource.ID, p *resource.PublicIPAddress) ([]store.Cmp, []store.Op, error) {
	used, err := registry.ReservedAddresses(ctx, s.st)
	if err != nil {
		return nil, nil, err
	}
	v6 := strings.EqualFold(p.Properties.PublicIPAddressVersion, resource.IPv6)
	a, ok := s.pool.Allocate(v6, func(a netip.Addr) bool { return used[a] })
	if !ok {
		fam := "IPv4"
		if v6 {
			fam = "IPv6"
		}
		return nil, nil, errorf(http.StatusConflict, armerr.CodePoolExhausted, "properties.publicIPAddressVersion",
			"No free %s address is left in the public IP pool (%v).", fam, s.pool.Prefixes())
	}
	p.Properties.IPAddress = a.String()
	cmp, op := registry.Reserve(a, id)
	return []store.Cmp{cmp}, []store.Op{op}, nil
}

// getResource serves GET of a top-level resource.
func (s *Server) getResource(k kind) func(http.ResponseWriter, *request) error {
	return func(w http.ResponseWriter, r *request) error {
		id, err := resourceID(r, k)
		if err != nil {
			return err
		}
		st, err := registry.Load(r.Context(), s.st, id)
		if err != nil {
			return err
		}
		if st == nil {
			return s.notFoundIn(r.Context(), id)
		}
		writeJSON(w, http.StatusOK, s.render(r.Context(), st.Obj))
		return nil
	}
}

// putResource serves PUT (create or update) of a top-level resource.
func (s *Server) putResource(k kind) func(http.ResponseWriter, *request) error {
	return func(w http.ResponseWriter, r *request) error {
		ctx := r.Context()
		id, err := resourceID(r, k)
		if err != nil {
			return err
		}
		obj, _ := resource.NewObject(k.typ)
		if err := decodeBody(w, r, obj); err != nil {
			return err
		}
		// Bound every list before the writer lock: the rules under it are
		// then fast whatever the body.
		if err := resource.CheckLimits(obj); err != nil {
			return err
		}

		unlock, err := s.lockWrites(ctx)
		if err != nil {
			return err
		}
		defer unlock()
		if err := s.checkGroupWritable(ctx, id); err != nil {
			return err
		}
		old, err := s.loadForWrite(ctx, r, id)
		if err != nil {
			return err
		}
		if old != nil && old.Op != "" {
			return errBusy(old.ID)
		}
		if err := s.prepare(ctx, id, obj, old); err != nil {
			return err
		}
		if old != nil && old.Idle() {
			same, err := sameState(obj, old)
			if err != nil {
				return err
			}
			if same {
				writeJSON(w, http.StatusOK, s.render(ctx, old.Obj))
				return nil
			}
		}
		var (
			cmps []store.Cmp
			ops  []store.Op
		)
		if p, ok := obj.(*resource.PublicIPAddress); ok {
			if _, has := registry.PublicIP(p); !has {
				if cmps, ops, err = s.allocateAddress(ctx, id, p); err != nil {
					return err
				}
			}
		}
		op := s.newOperation(registry.OpPut, idOf(old, id), obj.Meta().Location, r.apiVersion)
		if err := s.accept(ctx, w, r, op, id, old, obj, resource.ProvisioningUpdating, cmps, ops); err != nil {
			return err
		}
		status := http.StatusOK
		if old == nil {
			status = http.StatusCreated
		}
		writeJSON(w, status, s.render(ctx, obj))
		return nil
	}
}

func etagOf(st *registry.Record) string {
	if st == nil {
		return ""
	}
	return st.Obj.Meta().Etag
}

// deleteResource serves DELETE of a top-level resource.
func (s *Server) deleteResource(k kind) func(http.ResponseWriter, *request) error {
	return func(w http.ResponseWriter, r *request) error {
		ctx := r.Context()
		id, err := resourceID(r, k)
		if err != nil {
			return err
		}
		unlock, err := s.lockWrites(ctx)
		if err != nil {
			return err
		}
		defer unlock()
		old, err := s.loadForWrite(ctx, r, id)
		if err != nil {
			return err
		}
		if old == nil {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		if old.Op != "" {
			return errBusy(old.ID)
		}
		if err := resource.CheckDelete(ctx, s.view, old.Obj); err != nil {
			return err
		}
		op := s.newOperation(registry.OpDelete, old.ID, old.Obj.Meta().Location, r.apiVersion)
		if err := s.accept(ctx, w, r, op, old.ID, old, old.Obj, resource.ProvisioningDeleting, nil, nil); err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
}

// TagsObject is the body of a PATCH: the resource's new tags.
type TagsObject struct {
	// Tags replace the resource's tags.
	Tags map[string]string `json:"tags"`
}

// patchTags serves PATCH (update tags) of a resource group or a top-level
// resource. It is synchronous: tags are not realized.
func (s *Server) patchTags(idOf func(*request) (resource.ID, error)) func(http.ResponseWriter, *request) error {
	return func(w http.ResponseWriter, r *request) error {
		ctx := r.Context()
		id, err := idOf(r)
		if err != nil {
			return err
		}
		var patch TagsObject
		if err := decodeBody(w, r, &patch); err != nil {
			return err
		}
		if err := resource.ValidateTags(patch.Tags, "tags"); err != nil {
			return err
		}
		unlock, err := s.lockWrites(ctx)
		if err != nil {
			return err
		}
		defer unlock()
		old, err := s.loadForWrite(ctx, r, id)
		if err != nil {
			return err
		}
		if old == nil {
			return s.notFoundIn(ctx, id)
		}
		if old.Op != "" {
			return errBusy(old.ID)
		}
		obj := old.Obj
		obj.Meta().Tags = patch.Tags
		if id.Type != "" {
			s.stamp(obj)
		}
		b, err := registry.Encode(obj, "")
		if err != nil {
			return err
		}
		if _, err := s.st.CompareAndSwap(ctx, registry.Key(old.ID), b, old.Rev); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, s.render(ctx, obj))
		return nil
	}
}

// listBody is a list response.
type listBody struct {
	// Value holds the resources.
	Value []resource.Object `json:"value"`
}

// listResources serves GET of a type's collection in a resource group
// (inGroup) or a subscription.
func (s *Server) listResources(k kind, inGroup bool) func(http.ResponseWriter, *request) error {
	return func(w http.ResponseWriter, r *request) error {
		ctx := r.Context()
		var prefix string
		if inGroup {
			gid, err := groupID(r)
			if err != nil {
				return err
			}
			g, err := registry.Load(ctx, s.st, gid)
			if err != nil {
				return err
			}
			if g == nil {
				return resource.NotFound(gid)
			}
			prefix = registry.TypePrefix(k.typ, gid.Subscription, gid.ResourceGroup)
		} else {
			sub := r.param(paramSub)
			if err := checkSubscription(sub); err != nil {
				return err
			}
			prefix = registry.TypePrefix(k.typ, sub)
		}
		ss, err := registry.List(ctx, s.st, prefix, k.typ)
		if err != nil {
			return err
		}
		out := listBody{Value: make([]resource.Object, 0, len(ss))}
		for _, st := range ss {
			out.Value = append(out.Value, s.render(ctx, st.Obj))
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

// idOf is the ID of a stored resource, or id if there is none.
func idOf(st *registry.Record, id resource.ID) resource.ID {
	if st != nil {
		return st.ID
	}
	return id
}
