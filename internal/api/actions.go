package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
)

var (
	gatewayKind    = kinds[2]
	connectionKind = kinds[4]
)

// ConnectionSharedKey is the connections/{name}/sharedkey sub-resource, the
// only response that carries a shared key.
type ConnectionSharedKey struct {
	// ID is the sub-resource's ID (read-only).
	ID string `json:"id,omitempty"`
	// Value is the pre-shared key.
	Value string `json:"value"`
}

// ConnectionResetSharedKey is the body of connections/{name}/sharedkey/reset.
type ConnectionResetSharedKey struct {
	// KeyLength is the length of the new random key, 1 to 128.
	KeyLength int `json:"keyLength"`
}

// loadConnection loads the request's connection (nil if absent).
func (s *Server) loadConnection(ctx context.Context, r *request) (resource.ID, *registry.Record, *resource.Connection, error) {
	id, err := resourceID(r, connectionKind)
	if err != nil {
		return id, nil, nil, err
	}
	st, err := registry.Load(ctx, s.st, id)
	if err != nil {
		return id, nil, nil, err
	}
	if st == nil {
		return id, nil, nil, s.notFoundIn(ctx, id)
	}
	return id, st, st.Obj.(*resource.Connection), nil
}

// loadConnectionForWrite loads the request's connection for an action
// (the writer lock held): it must exist, have no operation running and not be in a
// group being deleted.
func (s *Server) loadConnectionForWrite(ctx context.Context, r *request) (*registry.Record, *resource.Connection, error) {
	id, st, c, err := s.loadConnection(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	if st.Op != "" {
		return nil, nil, errBusy(st.ID)
	}
	if err := s.checkGroupWritable(ctx, id); err != nil {
		return nil, nil, err
	}
	return st, c, nil
}

func sharedKeyBody(st *registry.Record, c *resource.Connection) ConnectionSharedKey {
	return ConnectionSharedKey{ID: st.ID.String() + "/sharedkey", Value: c.SharedKeyValue()}
}

// getSharedKey serves GET connections/{name}/sharedkey.
func (s *Server) getSharedKey(w http.ResponseWriter, r *request) error {
	_, st, c, err := s.loadConnection(r.Context(), r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sharedKeyBody(st, c))
	return nil
}

// putSharedKey serves PUT connections/{name}/sharedkey: a long-running
// update of the connection with the given key.
func (s *Server) putSharedKey(w http.ResponseWriter, r *request) error {
	var in ConnectionSharedKey
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if err := resource.ValidateSharedKey(in.Value, "value"); err != nil {
		return err
	}
	return s.changeSharedKey(w, r, registry.OpSharedKey, in.Value, 0)
}

// resetSharedKey serves POST connections/{name}/sharedkey/reset: a new
// random key of the given length.
func (s *Server) resetSharedKey(w http.ResponseWriter, r *request) error {
	var in ConnectionResetSharedKey
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.KeyLength < 1 || in.KeyLength > resource.MaxSharedKeyLength {
		return errorf(http.StatusBadRequest, armerr.CodeInvalidParameter, "keyLength",
			"keyLength must be 1 to %d; got %d.", resource.MaxSharedKeyLength, in.KeyLength)
	}
	key, err := resource.GenerateSharedKey(s.rand, in.KeyLength)
	if err != nil {
		return err
	}
	return s.changeSharedKey(w, r, registry.OpResetSharedKey, key, in.KeyLength)
}

// changeSharedKey stores a connection's new key and starts the operation
// that realizes it.
func (s *Server) changeSharedKey(w http.ResponseWriter, r *request, kind registry.OpKind, key string, keyLength int) error {
	ctx := r.Context()
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	st, c, err := s.loadConnectionForWrite(ctx, r)
	if err != nil {
		return err
	}
	if kind == registry.OpSharedKey && c.SharedKeyValue() == key && st.Idle() {
		writeJSON(w, http.StatusOK, sharedKeyBody(st, c))
		return nil
	}
	nc := resource.Clone(c).(*resource.Connection)
	nc.SetSharedKey(key)
	op := s.newOperation(kind, st.ID, nc.Location, r.apiVersion)
	op.KeyLength = keyLength
	if err := s.accept(ctx, w, r, op, st.ID, st, nc, resource.ProvisioningUpdating, nil, nil); err != nil {
		return err
	}
	if kind == registry.OpResetSharedKey {
		writeJSON(w, http.StatusAccepted, ConnectionResetSharedKey{KeyLength: keyLength})
		return nil
	}
	writeJSON(w, http.StatusOK, sharedKeyBody(st, nc))
	return nil
}

// listGatewayConnections serves GET virtualNetworkGateways/{name}/connections:
// the connections whose virtualNetworkGateway1 or virtualNetworkGateway2 is
// the gateway.
func (s *Server) listGatewayConnections(w http.ResponseWriter, r *request) error {
	ctx := r.Context()
	id, err := resourceID(r, gatewayKind)
	if err != nil {
		return err
	}
	gw, err := registry.Load(ctx, s.st, id)
	if err != nil {
		return err
	}
	if gw == nil {
		return s.notFoundIn(ctx, id)
	}
	conns, err := registry.List(ctx, s.st, registry.TypePrefix(resource.TypeConnections), resource.TypeConnections)
	if err != nil {
		return err
	}
	out := listBody{Value: []resource.Object{}}
	for _, st := range conns {
		c := st.Obj.(*resource.Connection)
		if refers(c.Properties.VirtualNetworkGateway1, gw.ID) || refers(c.Properties.VirtualNetworkGateway2, gw.ID) {
			out.Value = append(out.Value, s.render(ctx, c))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func refers(ref *resource.SubResource, id resource.ID) bool {
	if ref == nil {
		return false
	}
	rid, err := resource.ParseID(ref.ID, "")
	return err == nil && rid.Equal(id)
}

// resetGateway serves POST virtualNetworkGateways/{name}/reset.
func (s *Server) resetGateway(w http.ResponseWriter, r *request) error {
	ctx := r.Context()
	id, err := resourceID(r, gatewayKind)
	if err != nil {
		return err
	}
	vip := r.URL.Query().Get("gatewayVip")
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	st, gw, err := s.loadGatewayForWrite(ctx, id)
	if err != nil {
		return err
	}
	if !gw.Properties.ActiveActive && strings.EqualFold(vip, "None") {
		// az 2.45 sends gatewayVip=None when none is given; Azure resets an
		// active-standby gateway whatever the VIP.
		vip = ""
	}
	if vip != "" {
		if err := checkGatewayVIP(ctx, s.view, gw, vip); err != nil {
			return err
		}
	}
	op := s.newOperation(registry.OpReset, st.ID, st.Obj.Meta().Location, r.apiVersion)
	op.GatewayVIP = vip
	if err := s.accept(ctx, w, r, op, st.ID, st, st.Obj, resource.ProvisioningUpdating, nil, nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// loadGatewayForWrite loads the gateway at id for an action that
// changes it (the writer lock held): it must exist and have no operation
// running.
func (s *Server) loadGatewayForWrite(ctx context.Context, id resource.ID) (*registry.Record, *resource.VirtualNetworkGateway, error) {
	st, err := registry.Load(ctx, s.st, id)
	if err != nil {
		return nil, nil, err
	}
	if st == nil {
		return nil, nil, s.notFoundIn(ctx, id)
	}
	if st.Op != "" {
		return nil, nil, errBusy(st.ID)
	}
	return st, st.Obj.(*resource.VirtualNetworkGateway), nil
}

// resetConnection serves POST connections/{name}/resetconnection: a
// long-running operation that resets the connection's SAs on every
// instance of its gateway; the result is 204.
func (s *Server) resetConnection(w http.ResponseWriter, r *request) error {
	ctx := r.Context()
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	st, _, err := s.loadConnectionForWrite(ctx, r)
	if err != nil {
		return err
	}
	op := s.newOperation(registry.OpResetConnection, st.ID, st.Obj.Meta().Location, r.apiVersion)
	if err := s.accept(ctx, w, r, op, st.ID, st, st.Obj, resource.ProvisioningUpdating, nil, nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// checkGatewayVIP checks that vip is the address of one of the gateway's
// public IPs (gatewayVip of a reset names one active-active instance).
func checkGatewayVIP(ctx context.Context, v resource.View, gw *resource.VirtualNetworkGateway, vip string) error {
	pips, err := gatewayPublicIPs(ctx, v, gw)
	if err != nil {
		return err
	}
	for _, p := range pips {
		if strings.EqualFold(p.Properties.IPAddress, vip) {
			return nil
		}
	}
	return errorf(http.StatusBadRequest, armerr.CodeInvalidParameter, "gatewayVip",
		"gatewayVip '%s' is not the public IP address of one of the gateway's instances.", vip)
}

// gatewayPublicIPs returns the public IPs of gw's ipConfigurations, in
// order (those that no longer exist are left out).
func gatewayPublicIPs(ctx context.Context, v resource.View, gw *resource.VirtualNetworkGateway) ([]*resource.PublicIPAddress, error) {
	var out []*resource.PublicIPAddress
	for _, ipc := range gw.Properties.IPConfigurations {
		if ipc.Properties.PublicIPAddress == nil {
			continue
		}
		pid, err := resource.ParseID(ipc.Properties.PublicIPAddress.ID, "")
		if err != nil {
			continue
		}
		obj, err := v.Get(ctx, pid)
		if errors.Is(err, resource.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if p, ok := obj.(*resource.PublicIPAddress); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// getOperationStatus serves the Azure-AsyncOperation URL.
func (s *Server) getOperationStatus(w http.ResponseWriter, r *request) error {
	op, err := s.requestOp(r)
	if err != nil {
		return err
	}
	body := OperationStatus{
		ID:        statusPath(op),
		Name:      op.ID,
		Status:    op.Status,
		StartTime: op.StartTime,
		Error:     op.Error,
	}
	if !op.EndTime.IsZero() {
		t := op.EndTime
		body.EndTime = &t
	}
	if op.Status == StatusInProgress {
		s.setRetryAfter(w.Header(), op)
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// getOperationResult serves the Location URL: 202 while the operation
// runs, then its result: the resource (200), nothing (204) or the error.
func (s *Server) getOperationResult(w http.ResponseWriter, r *request) error {
	ctx := r.Context()
	op, err := s.requestOp(r)
	if err != nil {
		return err
	}
	switch op.Status {
	case StatusInProgress:
		w.Header().Set("Location", s.endpointFor(r.Request)+resultPath(op)+opQuery(op))
		s.setRetryAfter(w.Header(), op)
		w.WriteHeader(http.StatusAccepted)
		return nil
	case StatusFailed:
		e := op.Error
		if e == nil {
			e = armerr.Errorf(armerr.CodeInternal, "", "The operation failed.")
		}
		status := op.ErrorStatus
		if status == 0 {
			status = http.StatusInternalServerError
		}
		writeJSON(w, status, armerr.Body{Error: e})
		return nil
	}
	if writeOpResult(w, op) {
		return nil
	}
	target := op.TargetID()
	switch op.Kind {
	case registry.OpDelete, registry.OpGroupDelete, registry.OpResetConnection:
		w.WriteHeader(http.StatusNoContent)
		return nil
	case registry.OpResetSharedKey:
		writeJSON(w, http.StatusOK, ConnectionResetSharedKey{KeyLength: op.KeyLength})
		return nil
	}
	st, err := registry.Load(ctx, s.st, target.Parent())
	if err != nil {
		return err
	}
	if st == nil {
		return resource.NotFound(target)
	}
	switch {
	case op.Kind == registry.OpSharedKey:
		writeJSON(w, http.StatusOK, sharedKeyBody(st, st.Obj.(*resource.Connection)))
	case target.Child == resource.TypeSubnets:
		sub, ok := s.renderedSubnet(r, st.Obj, target.ChildName)
		if !ok {
			return resource.NotFound(target)
		}
		writeJSON(w, http.StatusOK, sub)
	default:
		writeJSON(w, http.StatusOK, s.render(ctx, st.Obj))
	}
	return nil
}

// requestOp loads the request's operation, which must belong to the
// subscription and location in the path.
func (s *Server) requestOp(r *request) (*registry.Operation, error) {
	id := r.param(paramOp)
	notFound := errorf(http.StatusNotFound, armerr.CodeOperationNotFound, "",
		"The operation '%s' was not found (finished operations are kept for %s).", id, s.opRetention)
	if id == "" || strings.ContainsAny(id, "/") {
		return nil, notFound
	}
	op, _, err := registry.LoadOperation(r.Context(), s.st, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(op.TargetID().Subscription, r.param(paramSub)) ||
		!strings.EqualFold(op.Location, normalizeLocation(r.param(paramLocation))) {
		return nil, notFound
	}
	return op, nil
}

// getOpenAPI serves /openapi.json.
func (s *Server) getOpenAPI(w http.ResponseWriter, r *request) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(s.spec)
	return nil
}
