package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
)

// Operation statuses (the "status" of an operation status body), as
// registry stores them.
const (
	StatusInProgress = registry.StatusInProgress
	StatusSucceeded  = registry.StatusSucceeded
	StatusFailed     = registry.StatusFailed
)

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
	Error *armerr.Error `json:"error,omitempty"`
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

func (s *Server) newOperation(kind registry.OpKind, target resource.ID, location, apiVersion string) *registry.Operation {
	return &registry.Operation{
		ID:         s.newUUID(),
		Kind:       kind,
		Target:     target.String(),
		Location:   normalizeLocation(location),
		APIVersion: apiVersion,
		Status:     StatusInProgress,
		StartTime:  s.now().UTC(),
	}
}

func statusPath(op *registry.Operation) string {
	return "/subscriptions/" + url.PathEscape(op.TargetID().Subscription) + "/providers/" + resource.Provider +
		"/locations/" + op.Location + "/operations/" + op.ID
}

func resultPath(op *registry.Operation) string {
	return "/subscriptions/" + url.PathEscape(op.TargetID().Subscription) + "/providers/" + resource.Provider +
		"/locations/" + op.Location + "/operationResults/" + op.ID
}

func opQuery(op *registry.Operation) string { return "?api-version=" + url.QueryEscape(op.APIVersion) }

// setLROHeaders sets the headers of a response that started op.
func (s *Server) setLROHeaders(w http.ResponseWriter, r *request, op *registry.Operation) {
	h := w.Header()
	base := s.endpointFor(r.Request)
	h.Set("Azure-AsyncOperation", base+statusPath(op)+opQuery(op))
	h.Set("Location", base+resultPath(op)+opQuery(op))
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
func (s *Server) setRetryAfter(h http.Header, op *registry.Operation) {
	h.Set("Retry-After", s.retryAfterHeader())
	ms := s.retryAfter.Milliseconds()
	if age := s.now().Sub(op.StartTime); age < 5*time.Second {
		ms = min(ms, 100)
	}
	h.Set("Retry-After-Ms", strconv.FormatInt(ms, 10))
}

// startOp runs op's goroutine unless one is running, the server runs no
// workers (a follower: the leader's watch picks the operation up) or it is
// closing (then the next start resumes it).
func (s *Server) startOp(id string) {
	s.opsMu.Lock()
	defer s.opsMu.Unlock()
	w := s.workers
	if s.closed || w == nil || s.running[id] {
		return
	}
	s.running[id] = true
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() {
			s.opsMu.Lock()
			delete(s.running, id)
			s.opsMu.Unlock()
		}()
		s.runOp(w.ctx, id)
	}()
}

// runOp does the work of operation id and commits its outcome.
func (s *Server) runOp(ctx context.Context, id string) {
	op, _, err := registry.LoadOperation(ctx, s.st, id)
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
	target := op.TargetID()
	if op.Kind == registry.OpGroupDelete {
		s.runGroupDelete(ctx, log, op)
		return
	}
	top := target.Parent()
	cur, err := registry.Load(ctx, s.st, top)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("load operation target", "err", err)
		}
		return
	}
	switch {
	case cur == nil && op.Kind == registry.OpDelete && target.Child == "":
		// Already gone (an earlier run committed the delete but not the
		// operation, which one Txn prevents, or the store was edited).
		s.finish(ctx, log, op, nil)
		return
	case cur == nil:
		s.finish(ctx, log, op, errorf(http.StatusNotFound, armerr.CodeResourceNotFound, "",
			"The resource '%s' no longer exists.", top))
		return
	case cur.Op != op.ID:
		s.finish(ctx, log, op, internalf("resource %s is owned by operation %q, not %s", top, cur.Op, op.ID))
		return
	}
	switch op.Kind {
	case registry.OpPut, registry.OpSharedKey, registry.OpResetSharedKey:
		err = s.prov.Realize(ctx, s.view, cur.Obj)
	case registry.OpDelete:
		if target.Child != "" {
			err = s.prov.Realize(ctx, s.view, cur.Obj)
		} else {
			err = s.prov.Teardown(ctx, s.view, cur.Obj)
		}
	case registry.OpReset:
		gw, ok := cur.Obj.(*resource.VirtualNetworkGateway)
		if !ok {
			err = internalf("reset of %T", cur.Obj)
			break
		}
		err = s.prov.ResetGateway(ctx, s.view, gw, op.GatewayVIP)
	case registry.OpResetConnection:
		c, ok := cur.Obj.(*resource.Connection)
		if !ok {
			err = internalf("connection reset of %T", cur.Obj)
			break
		}
		err = s.prov.ResetConnection(ctx, s.view, c)
	default:
		err = internalf("unknown operation kind %q", op.Kind)
	}
	if err != nil && ctx.Err() != nil {
		log.Info("operation interrupted (shutdown or lost leadership); it resumes on the next start")
		return
	}
	cctx, cancel := commitCtx(ctx)
	defer cancel()
	s.finish(cctx, log, op, err)
}

// opCommitTimeout bounds the store writes that commit an operation's
// outcome. They outlive the workers' context (work that finished is
// committed even as the workers stop), but not an unreachable store:
// without a deadline an etcd call waits for a connection forever, and
// StopWorkers with it. A commit that gives up leaves the operation in
// progress in the store, where the next leader resumes it, as it does an
// interrupted one.
const opCommitTimeout = 15 * time.Second

// commitCtx is the context of an operation's commit: ctx's values, not
// its cancellation, and at most opCommitTimeout.
func commitCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), opCommitTimeout)
}

// finish commits the outcome of op (not a group delete): the resource
// leaves Updating/Deleting, and the operation records its status.
func (s *Server) finish(ctx context.Context, log *slog.Logger, op *registry.Operation, workErr error) {
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		log.Error("commit operation", "err", err)
		return
	}
	defer unlock()
	target := op.TargetID()
	cur, err := registry.Load(ctx, s.st, target.Parent())
	if err != nil {
		log.Error("commit operation: load", "err", err)
		return
	}
	s.completeOp(op, workErr, log)
	var (
		cmps []store.Cmp
		ops  []store.Op
	)
	if cur != nil && cur.Op == op.ID {
		cmps = append(cmps, store.Cmp{Key: registry.Key(cur.ID), ModRevision: cur.Rev})
		if workErr == nil && op.Kind == registry.OpDelete && target.Child == "" {
			ops = append(ops, store.DeleteOp(registry.Key(cur.ID)))
			if a, ok := registry.PublicIP(cur.Obj); ok {
				ops = append(ops, store.DeleteOp(registry.AddressKey(a)))
			}
		} else {
			state := resource.ProvisioningSucceeded
			if workErr != nil {
				state = resource.ProvisioningFailed
			}
			cur.Obj.SetProvisioningState(state)
			s.stamp(cur.Obj)
			b, err := registry.Encode(cur.Obj, "")
			if err != nil {
				log.Error("commit operation: encode", "err", err)
				return
			}
			ops = append(ops, store.PutOp(registry.Key(cur.ID), b))
		}
	}
	ops = append(ops, op.Put())
	if _, err := s.st.Txn(ctx, cmps, ops); err != nil {
		log.Error("commit operation", "err", err)
		return
	}
	log.Info("operation finished", "status", op.Status)
}

// completeOp sets op's terminal status from the work's error.
func (s *Server) completeOp(op *registry.Operation, workErr error, log *slog.Logger) {
	op.EndTime = s.now().UTC()
	defer s.logFinished(op)
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
func (s *Server) stamp(obj resource.Object) { resource.SetEtag(obj, s.newEtag()) }

// runGroupDelete removes a group's resources in dependency order, each in
// its own commit, then the group. It is safe to resume: what is already
// gone is not listed again.
func (s *Server) runGroupDelete(ctx context.Context, log *slog.Logger, op *registry.Operation) {
	gid := op.TargetID()
	for _, typ := range resource.DeleteOrder() {
		members, err := registry.List(ctx, s.st, registry.TypePrefix(typ, gid.Subscription, gid.ResourceGroup), typ)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("group delete: list", "err", err)
			}
			return
		}
		for _, m := range members {
			if m.Op != op.ID {
				s.failGroupDelete(ctx, log, op, internalf("%s is owned by operation %q", m.ID, m.Op))
				return
			}
			if err := s.prov.Teardown(ctx, s.view, m.Obj); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.failGroupDelete(ctx, log, op, err)
				return
			}
			ops := []store.Op{store.DeleteOp(registry.Key(m.ID))}
			if a, ok := registry.PublicIP(m.Obj); ok {
				ops = append(ops, store.DeleteOp(registry.AddressKey(a)))
			}
			cctx, cancel := commitCtx(ctx)
			unlock, err := s.lockWrites(cctx)
			if err == nil {
				_, err = s.st.Txn(cctx, []store.Cmp{{Key: registry.Key(m.ID), ModRevision: m.Rev}}, ops)
				unlock()
			}
			cancel()
			if err != nil {
				log.Error("group delete: remove member", "member", m.ID.String(), "err", err)
				return
			}
		}
	}
	ctx, cancel := commitCtx(ctx)
	defer cancel()
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		log.Error("group delete: commit", "err", err)
		return
	}
	defer unlock()
	g, err := registry.Load(ctx, s.st, gid)
	if err != nil {
		log.Error("group delete: load group", "err", err)
		return
	}
	s.completeOp(op, nil, log)
	ops := []store.Op{op.Put()}
	var cmps []store.Cmp
	if g != nil {
		cmps = []store.Cmp{{Key: registry.Key(gid), ModRevision: g.Rev}}
		ops = append(ops, store.DeleteOp(registry.Key(gid)))
	}
	if _, err := s.st.Txn(ctx, cmps, ops); err != nil {
		log.Error("group delete: commit", "err", err)
		return
	}
	log.Info("operation finished", "status", op.Status)
}

// failGroupDelete marks the group and its remaining resources Failed and
// ends the operation, on a commit context (commitCtx) derived from ctx.
func (s *Server) failGroupDelete(ctx context.Context, log *slog.Logger, op *registry.Operation, workErr error) {
	ctx, cancel := commitCtx(ctx)
	defer cancel()
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		log.Error("group delete: commit failure", "err", err)
		return
	}
	defer unlock()
	gid := op.TargetID()
	var (
		cmps []store.Cmp
		ops  []store.Op
	)
	mark := func(m *registry.Record) error {
		if m.Op != op.ID {
			return nil
		}
		m.Obj.SetProvisioningState(resource.ProvisioningFailed)
		if m.ID.Type != "" {
			s.stamp(m.Obj)
		}
		b, err := registry.Encode(m.Obj, "")
		if err != nil {
			return err
		}
		cmps = append(cmps, store.Cmp{Key: registry.Key(m.ID), ModRevision: m.Rev})
		ops = append(ops, store.PutOp(registry.Key(m.ID), b))
		return nil
	}
	for _, typ := range resource.DeleteOrder() {
		members, err := registry.List(ctx, s.st, registry.TypePrefix(typ, gid.Subscription, gid.ResourceGroup), typ)
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
	if g, err := registry.Load(ctx, s.st, gid); err != nil {
		log.Error("group delete: load group", "err", err)
		return
	} else if g != nil {
		if err := mark(g); err != nil {
			log.Error("group delete: encode", "err", err)
			return
		}
	}
	s.completeOp(op, workErr, log)
	ops = append(ops, op.Put())
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
	var pending []*registry.Record
	gs, err := registry.List(ctx, s.st, registry.GroupKeyPrefix, resource.TypeResourceGroups)
	if err != nil {
		return 0, err
	}
	for _, g := range gs {
		if g.Op != "" {
			pending = append(pending, g)
		}
	}
	for _, typ := range resource.DeleteOrder() {
		rs, err := registry.List(ctx, s.st, registry.TypePrefix(typ), typ)
		if err != nil {
			return 0, err
		}
		for _, r := range rs {
			if r.Op != "" {
				pending = append(pending, r)
			}
		}
	}
	started := map[string]bool{}
	for _, p := range pending {
		if started[p.Op] {
			continue
		}
		op, _, err := registry.LoadOperation(ctx, s.st, p.Op)
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
func (s *Server) recreateOp(ctx context.Context, p *registry.Record) (*registry.Operation, error) {
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	kind := registry.OpPut
	switch {
	case p.ID.Type == "":
		kind = registry.OpGroupDelete
	case p.Obj.ProvisioningState() == resource.ProvisioningDeleting:
		kind = registry.OpDelete
	}
	op := s.newOperation(kind, p.ID, p.Obj.Meta().Location, MinAPIVersion)
	b, err := registry.Encode(p.Obj, op.ID)
	if err != nil {
		return nil, err
	}
	ops := []store.Op{store.PutOp(registry.Key(p.ID), b), op.Put()}
	cmps := []store.Cmp{{Key: registry.Key(p.ID), ModRevision: p.Rev}}
	if kind == registry.OpGroupDelete {
		// Members still name the lost operation; hand them to the new one.
		for _, typ := range resource.DeleteOrder() {
			ms, err := registry.List(ctx, s.st, registry.TypePrefix(typ, p.ID.Subscription, p.ID.ResourceGroup), typ)
			if err != nil {
				return nil, err
			}
			for _, m := range ms {
				if m.Op != p.Op {
					continue
				}
				mb, err := registry.Encode(m.Obj, op.ID)
				if err != nil {
					return nil, err
				}
				cmps = append(cmps, store.Cmp{Key: registry.Key(m.ID), ModRevision: m.Rev})
				ops = append(ops, store.PutOp(registry.Key(m.ID), mb))
			}
		}
	}
	if _, err := s.st.Txn(ctx, cmps, ops); err != nil {
		return nil, err
	}
	return op, nil
}

// janitor forgets finished operations older than the retention, until w
// ends.
func (s *Server) janitor(w *workers) {
	defer w.wg.Done()
	t := time.NewTicker(max(min(s.opRetention/4, time.Hour), time.Second))
	defer t.Stop()
	for {
		if err := s.pruneOps(w.ctx); err != nil && w.ctx.Err() == nil {
			s.log.Warn("pruning operations", "err", err)
		}
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) pruneOps(ctx context.Context) error {
	return registry.PruneOperations(ctx, s.st, s.now().Add(-s.opRetention))
}
