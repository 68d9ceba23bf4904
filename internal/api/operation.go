package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
)

// Operation statuses (the "status" of an operation status body).
const (
	StatusInProgress = "InProgress"
	StatusSucceeded  = "Succeeded"
	StatusFailed     = "Failed"
)

// opKind says what an operation does and what its result is.
type opKind string

const (
	// opPut realizes a created or updated resource (or, with a subnet
	// target, the VNet holding the subnet). Result: the resource.
	opPut opKind = "put"
	// opDelete tears a resource down and removes it (with a subnet
	// target: realizes the VNet without the subnet). Result: 204.
	opDelete opKind = "delete"
	// opReset resets a gateway. Result: the gateway.
	opReset opKind = "reset"
	// opSharedKey realizes a connection after a sharedkey PUT. Result:
	// the shared key.
	opSharedKey opKind = "sharedKey"
	// opResetSharedKey realizes a connection after sharedkey/reset.
	// Result: {"keyLength": n}.
	opResetSharedKey opKind = "resetSharedKey"
	// opGroupDelete deletes a resource group and everything in it.
	// Result: 204.
	opGroupDelete opKind = "groupDelete"
)

// operation is the stored record of a long-running operation.
type operation struct {
	// ID is the operation ID (a UUID), the last segment of its URLs.
	ID string `json:"id"`
	// Kind says what the operation does.
	Kind opKind `json:"kind"`
	// Target is the ID of the resource the operation acts on (a subnet ID
	// for subnet operations, a group ID for a group delete).
	Target string `json:"target"`
	// Location is the target's location, normalized ("westeurope").
	Location string `json:"location"`
	// APIVersion is the api-version of the request that started it, echoed
	// in the operation URLs.
	APIVersion string `json:"apiVersion"`
	// Status is InProgress, Succeeded or Failed.
	Status string `json:"status"`
	// StartTime and EndTime bound the operation; EndTime is zero while it
	// runs.
	StartTime time.Time `json:"startTime"`
	EndTime   time.Time `json:"endTime,omitzero"`
	// Error is why it failed.
	Error *resource.Error `json:"error,omitempty"`
	// ErrorStatus is the HTTP status of Error for the operationResults
	// URL.
	ErrorStatus int `json:"errorStatus,omitempty"`
	// KeyLength is the requested length of a sharedkey/reset.
	KeyLength int `json:"keyLength,omitempty"`
	// GatewayVIP is the optional gatewayVip of a gateway reset.
	GatewayVIP string `json:"gatewayVip,omitempty"`
}

func (op *operation) target() resource.ID {
	id, _ := resource.ParseID(op.Target, "target")
	return id
}

// OperationStatus is the body of the Azure-AsyncOperation URL.
type OperationStatus struct {
	// ID is the operation's path.
	ID string `json:"id"`
	// Name is the operation ID.
	Name string `json:"name"`
	// Status is InProgress, Succeeded or Failed.
	Status string `json:"status"`
	// StartTime is when the operation started.
	StartTime time.Time `json:"startTime"`
	// EndTime is when it finished (absent while in progress).
	EndTime *time.Time `json:"endTime,omitempty"`
	// Error is why it failed.
	Error *resource.Error `json:"error,omitempty"`
}

// normalizeLocation turns "West Europe" into "westeurope", as ARM does in
// operation URLs.
func normalizeLocation(loc string) string {
	loc = strings.ToLower(strings.ReplaceAll(loc, " ", ""))
	if loc == "" {
		return "global"
	}
	return url.PathEscape(loc)
}

func (s *Server) newOperation(kind opKind, target resource.ID, location, apiVersion string) *operation {
	return &operation{
		ID:         s.newUUID(),
		Kind:       kind,
		Target:     target.String(),
		Location:   normalizeLocation(location),
		APIVersion: apiVersion,
		Status:     StatusInProgress,
		StartTime:  s.now().UTC(),
	}
}

func (op *operation) statusPath() string {
	return "/subscriptions/" + url.PathEscape(op.target().Subscription) + "/providers/" + resource.Provider +
		"/locations/" + op.Location + "/operations/" + op.ID
}

func (op *operation) resultPath() string {
	return "/subscriptions/" + url.PathEscape(op.target().Subscription) + "/providers/" + resource.Provider +
		"/locations/" + op.Location + "/operationResults/" + op.ID
}

// baseURL is the scheme and host the client used.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (op *operation) query() string { return "?api-version=" + url.QueryEscape(op.APIVersion) }

// setLROHeaders sets the headers of a response that started op.
func (s *Server) setLROHeaders(w http.ResponseWriter, r *request, op *operation) {
	h := w.Header()
	h.Set("Azure-AsyncOperation", baseURL(r.Request)+op.statusPath()+op.query())
	h.Set("Location", baseURL(r.Request)+op.resultPath()+op.query())
	s.setRetryAfter(h, op)
}

func (s *Server) retryAfterHeader() string {
	return strconv.Itoa(max(1, int((s.retryAfter+time.Second-1)/time.Second)))
}

// setRetryAfter suggests when to poll op again: Retry-After in whole
// seconds for every ARM client, and ARM's retry-after-ms, which clients
// that read it (the vpngw CLI does) use to poll sooner while a young
// operation is likely to finish within the second: vpngw realizes most
// resources in well under a second.
func (s *Server) setRetryAfter(h http.Header, op *operation) {
	h.Set("Retry-After", s.retryAfterHeader())
	ms := s.retryAfter.Milliseconds()
	if age := s.now().Sub(op.StartTime); age < 5*time.Second {
		ms = min(ms, 100)
	}
	h.Set("Retry-After-Ms", strconv.FormatInt(ms, 10))
}

func (s *Server) loadOp(ctx context.Context, id string) (*operation, int64, error) {
	kv, err := s.st.Get(ctx, opKey(id))
	if err != nil {
		return nil, 0, err
	}
	var op operation
	if err := json.Unmarshal(kv.Value, &op); err != nil {
		return nil, 0, internalf("decode operation %s: %w", id, err)
	}
	return &op, kv.ModRevision, nil
}

func encodeOp(op *operation) []byte {
	b, err := json.Marshal(op)
	if err != nil {
		panic(fmt.Sprintf("api: encode operation: %v", err)) // plain struct: cannot fail
	}
	return b
}

// startOp runs op's goroutine unless one is running or the server is
// closing (then the next Start resumes it).
func (s *Server) startOp(id string) {
	s.opsMu.Lock()
	defer s.opsMu.Unlock()
	if s.closed || s.running[id] {
		return
	}
	s.running[id] = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.opsMu.Lock()
			delete(s.running, id)
			s.opsMu.Unlock()
		}()
		s.runOp(s.ctx, id)
	}()
}

// runOp does the work of operation id and commits its outcome.
func (s *Server) runOp(ctx context.Context, id string) {
	op, _, err := s.loadOp(ctx, id)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("load operation", "operation", id, "err", err)
		}
		return
	}
	if op.Status != StatusInProgress {
		return
	}
	log := s.log.With("operation", op.ID, "kind", op.Kind, "target", op.Target)
	log.Debug("operation started")
	target := op.target()
	if op.Kind == opGroupDelete {
		s.runGroupDelete(ctx, log, op)
		return
	}
	top := target.Parent()
	cur, err := load(ctx, s.st, top)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("load operation target", "err", err)
		}
		return
	}
	switch {
	case cur == nil && op.Kind == opDelete && target.Child == "":
		// Already gone (an earlier run committed the delete but not the
		// operation, which one Txn prevents, or the store was edited).
		s.finish(ctx, log, op, nil)
		return
	case cur == nil:
		s.finish(ctx, log, op, errorf(http.StatusNotFound, resource.CodeResourceNotFound, "",
			"The resource '%s' no longer exists.", top))
		return
	case cur.op != op.ID:
		s.finish(ctx, log, op, internalf("resource %s is owned by operation %q, not %s", top, cur.op, op.ID))
		return
	}
	switch op.Kind {
	case opPut, opSharedKey, opResetSharedKey:
		err = s.prov.Realize(ctx, s.view, cur.obj)
	case opDelete:
		if target.Child != "" {
			err = s.prov.Realize(ctx, s.view, cur.obj)
		} else {
			err = s.prov.Teardown(ctx, s.view, cur.obj)
		}
	case opReset:
		gw, ok := cur.obj.(*resource.VirtualNetworkGateway)
		if !ok {
			err = internalf("reset of %T", cur.obj)
			break
		}
		err = s.prov.ResetGateway(ctx, s.view, gw, op.GatewayVIP)
	default:
		err = internalf("unknown operation kind %q", op.Kind)
	}
	if err != nil && ctx.Err() != nil {
		log.Info("operation interrupted by shutdown; it resumes on the next start")
		return
	}
	s.finish(context.WithoutCancel(ctx), log, op, err)
}

// finish commits the outcome of op (not a group delete): the resource
// leaves Updating/Deleting, and the operation records its status.
func (s *Server) finish(ctx context.Context, log *slog.Logger, op *operation, workErr error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	target := op.target()
	cur, err := load(ctx, s.st, target.Parent())
	if err != nil {
		log.Error("commit operation: load", "err", err)
		return
	}
	s.completeOp(op, workErr, log)
	var (
		cmps []store.Cmp
		ops  []store.Op
	)
	if cur != nil && cur.op == op.ID {
		cmps = append(cmps, store.Cmp{Key: recordKey(cur.id), ModRevision: cur.rev})
		if workErr == nil && op.Kind == opDelete && target.Child == "" {
			ops = append(ops, store.DeleteOp(recordKey(cur.id)))
			if a, ok := publicIP(cur.obj); ok {
				ops = append(ops, store.DeleteOp(addrKey(a)))
			}
		} else {
			state := resource.ProvisioningSucceeded
			if workErr != nil {
				state = resource.ProvisioningFailed
			}
			cur.obj.SetProvisioningState(state)
			s.stamp(cur.obj)
			b, err := encodeRecord(cur.obj, "")
			if err != nil {
				log.Error("commit operation: encode", "err", err)
				return
			}
			ops = append(ops, store.PutOp(recordKey(cur.id), b))
		}
	}
	ops = append(ops, store.PutOp(opKey(op.ID), encodeOp(op)))
	if _, err := s.st.Txn(ctx, cmps, ops); err != nil {
		log.Error("commit operation", "err", err)
		return
	}
	log.Info("operation finished", "status", op.Status)
}

// completeOp sets op's terminal status from the work's error.
func (s *Server) completeOp(op *operation, workErr error, log *slog.Logger) {
	op.EndTime = s.now().UTC()
	if workErr == nil {
		op.Status = StatusSucceeded
		return
	}
	op.Status = StatusFailed
	e, internal := apiError(workErr)
	if internal {
		log.Error("operation failed", "err", workErr)
	}
	op.Error, op.ErrorStatus = e, e.HTTPStatus()
}

// stamp gives obj, and its inline children, a new etag.
func (s *Server) stamp(obj resource.Object) { setEtag(obj, s.newEtag()) }

// publicIP returns the address assigned to a public IP resource.
func publicIP(obj resource.Object) (netip.Addr, bool) {
	p, ok := obj.(*resource.PublicIPAddress)
	if !ok || p.Properties.IPAddress == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(p.Properties.IPAddress)
	return a, err == nil
}

// runGroupDelete removes a group's resources in dependency order, each in
// its own commit, then the group. It is safe to resume: what is already
// gone is not listed again.
func (s *Server) runGroupDelete(ctx context.Context, log *slog.Logger, op *operation) {
	gid := op.target()
	for _, typ := range topTypes {
		members, err := list(ctx, s.st, typePrefix(typ, gid.Subscription, gid.ResourceGroup), typ)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("group delete: list", "err", err)
			}
			return
		}
		for _, m := range members {
			if m.op != op.ID {
				s.failGroupDelete(context.WithoutCancel(ctx), log, op, internalf("%s is owned by operation %q", m.id, m.op))
				return
			}
			if err := s.prov.Teardown(ctx, s.view, m.obj); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.failGroupDelete(context.WithoutCancel(ctx), log, op, err)
				return
			}
			ops := []store.Op{store.DeleteOp(recordKey(m.id))}
			if a, ok := publicIP(m.obj); ok {
				ops = append(ops, store.DeleteOp(addrKey(a)))
			}
			s.mu.Lock()
			_, err := s.st.Txn(context.WithoutCancel(ctx), []store.Cmp{{Key: recordKey(m.id), ModRevision: m.rev}}, ops)
			s.mu.Unlock()
			if err != nil {
				log.Error("group delete: remove member", "member", m.id.String(), "err", err)
				return
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	g, err := load(ctx, s.st, gid)
	if err != nil {
		log.Error("group delete: load group", "err", err)
		return
	}
	s.completeOp(op, nil, log)
	ops := []store.Op{store.PutOp(opKey(op.ID), encodeOp(op))}
	var cmps []store.Cmp
	if g != nil {
		cmps = []store.Cmp{{Key: recordKey(gid), ModRevision: g.rev}}
		ops = append(ops, store.DeleteOp(recordKey(gid)))
	}
	if _, err := s.st.Txn(ctx, cmps, ops); err != nil {
		log.Error("group delete: commit", "err", err)
		return
	}
	log.Info("operation finished", "status", op.Status)
}

// failGroupDelete marks the group and its remaining resources Failed and
// ends the operation.
func (s *Server) failGroupDelete(ctx context.Context, log *slog.Logger, op *operation, workErr error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gid := op.target()
	var (
		cmps []store.Cmp
		ops  []store.Op
	)
	mark := func(m *stored) error {
		if m.op != op.ID {
			return nil
		}
		m.obj.SetProvisioningState(resource.ProvisioningFailed)
		if m.id.Type != "" {
			s.stamp(m.obj)
		}
		b, err := encodeRecord(m.obj, "")
		if err != nil {
			return err
		}
		cmps = append(cmps, store.Cmp{Key: recordKey(m.id), ModRevision: m.rev})
		ops = append(ops, store.PutOp(recordKey(m.id), b))
		return nil
	}
	for _, typ := range topTypes {
		members, err := list(ctx, s.st, typePrefix(typ, gid.Subscription, gid.ResourceGroup), typ)
		if err != nil {
			log.Error("group delete: list", "err", err)
			return
		}
		for _, m := range members {
			if err := mark(m); err != nil {
				log.Error("group delete: encode", "err", err)
				return
			}
		}
	}
	if g, err := load(ctx, s.st, gid); err != nil {
		log.Error("group delete: load group", "err", err)
		return
	} else if g != nil {
		if err := mark(g); err != nil {
			log.Error("group delete: encode", "err", err)
			return
		}
	}
	s.completeOp(op, workErr, log)
	ops = append(ops, store.PutOp(opKey(op.ID), encodeOp(op)))
	if _, err := s.st.Txn(ctx, cmps, ops); err != nil {
		log.Error("group delete: commit failure", "err", err)
		return
	}
	log.Info("operation finished", "status", op.Status)
}

// resume schedules the operation of every group and resource that a
// previous process left Updating or Deleting. A resource whose operation
// record is missing gets a new operation of the matching kind.
func (s *Server) resume(ctx context.Context) (int, error) {
	var pending []*stored
	gs, err := list(ctx, s.st, prefixGroup, resource.TypeResourceGroups)
	if err != nil {
		return 0, err
	}
	for _, g := range gs {
		if g.op != "" {
			pending = append(pending, g)
		}
	}
	for _, typ := range topTypes {
		rs, err := list(ctx, s.st, typePrefix(typ), typ)
		if err != nil {
			return 0, err
		}
		for _, r := range rs {
			if r.op != "" {
				pending = append(pending, r)
			}
		}
	}
	started := map[string]bool{}
	for _, p := range pending {
		if started[p.op] {
			continue
		}
		op, _, err := s.loadOp(ctx, p.op)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if op, err = s.recreateOp(ctx, p); err != nil {
				return 0, err
			}
		case err != nil:
			return 0, err
		case op.Status != StatusInProgress:
			// The resource still names a finished operation: the outcome
			// commit and the operation record disagree, which one Txn
			// prevents. Run it again under a new ID.
			if op, err = s.recreateOp(ctx, p); err != nil {
				return 0, err
			}
		}
		started[op.ID] = true
		s.startOp(op.ID)
	}
	return len(started), nil
}

// recreateOp gives a pending resource a fresh operation record.
func (s *Server) recreateOp(ctx context.Context, p *stored) (*operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kind := opPut
	switch {
	case p.id.Type == "":
		kind = opGroupDelete
	case p.obj.ProvisioningState() == resource.ProvisioningDeleting:
		kind = opDelete
	}
	op := s.newOperation(kind, p.id, p.obj.Meta().Location, MinAPIVersion)
	b, err := encodeRecord(p.obj, op.ID)
	if err != nil {
		return nil, err
	}
	ops := []store.Op{store.PutOp(recordKey(p.id), b), store.PutOp(opKey(op.ID), encodeOp(op))}
	cmps := []store.Cmp{{Key: recordKey(p.id), ModRevision: p.rev}}
	if kind == opGroupDelete {
		// Members still name the lost operation; hand them to the new one.
		for _, typ := range topTypes {
			ms, err := list(ctx, s.st, typePrefix(typ, p.id.Subscription, p.id.ResourceGroup), typ)
			if err != nil {
				return nil, err
			}
			for _, m := range ms {
				if m.op != p.op {
					continue
				}
				mb, err := encodeRecord(m.obj, op.ID)
				if err != nil {
					return nil, err
				}
				cmps = append(cmps, store.Cmp{Key: recordKey(m.id), ModRevision: m.rev})
				ops = append(ops, store.PutOp(recordKey(m.id), mb))
			}
		}
	}
	if _, err := s.st.Txn(ctx, cmps, ops); err != nil {
		return nil, err
	}
	return op, nil
}

// janitor forgets finished operations older than the retention.
func (s *Server) janitor() {
	defer s.wg.Done()
	t := time.NewTicker(max(min(s.opRetention/4, time.Hour), time.Second))
	defer t.Stop()
	for {
		if err := s.pruneOps(s.ctx); err != nil && s.ctx.Err() == nil {
			s.log.Warn("pruning operations", "err", err)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) pruneOps(ctx context.Context) error {
	kvs, _, err := s.st.List(ctx, prefixOperation)
	if err != nil {
		return err
	}
	cutoff := s.now().Add(-s.opRetention)
	for _, kv := range kvs {
		var op operation
		if err := json.Unmarshal(kv.Value, &op); err != nil {
			continue
		}
		if op.Status == StatusInProgress || op.EndTime.IsZero() || op.EndTime.After(cutoff) {
			continue
		}
		if _, err := s.st.Delete(ctx, kv.Key, kv.ModRevision); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}
