// Package reconcile turns the stored resources into running gateways: it
// computes, from the whole desired state, what every gateway instance must
// run (Compute), has a Provider realize the infrastructure (network
// namespaces in the lab, nothing on real hosts), hands each instance its
// assignment through the agent API (Hub), and reads the instances' reports
// back into provisioning results and connection status.
//
// # Architecture
//
//	store ──watch──► Reconciler.loop ──pass──► Compute ──► Provider.Apply
//	                      ▲                         └────► Hub.Set ──long poll──► agents
//	API operations ───────┘ Realize/Teardown/Reset wait on Hub reports ◄── agents report
//
// A pass is level-triggered and idempotent: it reads everything, computes
// everything, and applies the difference; running passes again changes
// nothing. Passes run one at a time. Compute is deterministic, so a
// restarted control plane hands running agents the assignments they
// already run and no tunnel is disturbed.
//
// Reconciler implements api.Provisioner: Realize runs a pass and waits
// until every gateway instance whose assignment depends on the resource has
// applied it; Teardown excludes the resource from the desired state and
// waits for its infrastructure to go; ResetGateway fails an active-standby
// gateway over to its standby (or restarts an active-active instance);
// ConnectionStatus answers from the instances' latest reports.
package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
)

// Provider realizes the desired infrastructure.
type Provider interface {
	// Name is "lab" or "host".
	Name() string
	// Apply makes the infrastructure match d: networks, instance
	// environments, addresses, routes, agent processes. It is idempotent
	// and repairs partial state.
	Apply(ctx context.Context, d *Desired) error
	// InstanceProblem explains why an instance may not be reporting (an
	// agent that exited, with its last log lines), or "".
	InstanceProblem(id string) string
}

// Config configures a Reconciler.
type Config struct {
	// Store is the control plane's store (reconciler state lives under
	// "x/").
	Store store.Store
	// View reads the stored resources.
	View resource.View
	// WatchPrefix is the store prefix of resource records.
	WatchPrefix string
	// Provider realizes the infrastructure.
	Provider Provider
	// Hub serves the agent API.
	Hub *Hub
	// Options tune the desired state.
	Options Options
	// Logger receives the logs; nil is silent.
	Logger *slog.Logger
	// RealizeTimeout bounds how long Realize waits for instances
	// (default 60 s).
	RealizeTimeout time.Duration
	// FailoverAfter is how old an active instance's latest report may get
	// before its standby takes over, and before its connections show
	// Unknown (default DefaultFailoverAfter); an instance whose connection
	// closed (Seen.ClosedAt) is taken as gone at once.
	FailoverAfter time.Duration
}

// DefaultFailoverAfter is the default failover timeout: how long an
// instance that is still connected to the control plane (its long poll
// open) may go without a report. An instance whose poll connection closed
// (its process exited, crashed or was killed: the kernel closes its
// sockets) is judged at once, without this wait (Seen.ClosedAt); the
// timeout catches what keeps a connection open but reports nothing: a hung
// process (SIGSTOP, a paused VM) or a host cut off without a reset. Agents
// report every agentapi.ReportEvery (500 ms), so 1.5 s is three missed
// heartbeats, a full second beyond one: a live agent on a loaded 2-core
// machine (scheduling delays of tens of milliseconds, a report that takes
// a garbage collection or a slow fsync in the store) stays well inside it.
// A stall of the control plane itself ages every report at once; the
// failover also requires a standby whose own report is younger than the
// timeout and carries no error, so a slow control plane does not swap the
// roles. With failoverCheckEvery this puts the detection of a dead active
// instance at 0.1 s and of a hung one at 1.5–1.6 s.
const DefaultFailoverAfter = 1500 * time.Millisecond

// Bounds of Config.FailoverAfter (vpngw serve --failover-after): at least
// two heartbeats (agentapi.ReportEvery), so that one late report fails
// nothing over; at most a minute (Azure documents 60 – 90 s for an
// unplanned failover).
const (
	MinFailoverAfter = 2 * agentapi.ReportEvery
	MaxFailoverAfter = time.Minute
)

// CheckFailoverAfter reports whether d is a usable failover timeout (0 is
// the default).
func CheckFailoverAfter(d time.Duration) error {
	if d != 0 && (d < MinFailoverAfter || d > MaxFailoverAfter) {
		return fmt.Errorf("--failover-after %v: want from %v to %v", d, MinFailoverAfter, MaxFailoverAfter)
	}
	return nil
}

// failoverCheckEvery is how often the reconciler looks for silent active
// instances.
const failoverCheckEvery = 100 * time.Millisecond

// Reconciler drives the infrastructure toward the stored resources.
type Reconciler struct {
	cfg Config
	log *slog.Logger

	passMu   sync.Mutex // one pass at a time
	desired  atomic.Pointer[Desired]
	revs     atomic.Pointer[map[string]int64] // instance revisions after the last pass
	passErr  atomic.Pointer[string]
	started  time.Time
	kick     chan struct{}
	mu       sync.Mutex // guards states, idents and excluded
	states   map[string]GatewayState
	idents   map[string]P2SIdentity // point-to-site identities by gateway key (p2s.go)
	excluded map[string]bool        // resource ID keys being torn down
}

const stateKeyPrefix = "x/gateway/"

// New returns a Reconciler; Run starts it.
func New(cfg Config) *Reconciler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RealizeTimeout == 0 {
		cfg.RealizeTimeout = 60 * time.Second
	}
	if cfg.FailoverAfter == 0 {
		cfg.FailoverAfter = DefaultFailoverAfter
	}
	r := &Reconciler{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), states: map[string]GatewayState{}, idents: map[string]P2SIdentity{},
		excluded: map[string]bool{}, started: time.Now()}
	r.desired.Store(&Desired{Instances: map[string]*InstanceSpec{}})
	empty := map[string]int64{}
	r.revs.Store(&empty)
	return r
}

// Name implements api.Provisioner.
func (r *Reconciler) Name() string { return r.cfg.Provider.Name() }

// Hub returns the agent API handler.
func (r *Reconciler) Hub() http.Handler { return r.cfg.Hub }

// Start loads the persistent state and runs the first pass (so that
// agents left running by a previous control plane get their assignments
// back at once), then keeps reconciling in the background until ctx ends.
func (r *Reconciler) Start(ctx context.Context) error {
	kvs, _, err := r.cfg.Store.List(ctx, stateKeyPrefix)
	if err != nil {
		return fmt.Errorf("reconcile: loading state: %w", err)
	}
	r.mu.Lock()
	for _, kv := range kvs {
		var st GatewayState
		if json.Unmarshal(kv.Value, &st) == nil {
			r.states[strings.TrimPrefix(kv.Key, stateKeyPrefix)] = st
		}
	}
	r.mu.Unlock()
	if err := r.pass(ctx); err != nil {
		r.log.Warn("first reconcile pass failed; retrying", "err", err)
	}
	go r.loop(ctx)
	return nil
}

// Kick asks for a pass soon.
func (r *Reconciler) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Reconciler) loop(ctx context.Context) {
	events := r.watch(ctx)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	monitor := time.NewTicker(failoverCheckEvery)
	defer monitor.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
			// Coalesce bursts of writes.
			time.Sleep(20 * time.Millisecond)
			drain(events)
		case <-r.kick:
		case <-tick.C:
		case <-monitor.C:
			if !r.failoverSilent(ctx) {
				continue
			}
			// A failover: pass at once (public IP, routes, roles).
		}
		if err := r.pass(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("reconcile pass failed", "err", err)
		}
	}
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// watch turns store changes under the resource prefix into wake-ups.
func (r *Reconciler) watch(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	go func() {
		for ctx.Err() == nil {
			_, rev, err := r.cfg.Store.List(ctx, r.cfg.WatchPrefix+"\xff") // current revision
			if err != nil {
				time.Sleep(time.Second)
				continue
			}
			ch, err := r.cfg.Store.Watch(ctx, r.cfg.WatchPrefix, rev)
			if err != nil {
				time.Sleep(time.Second)
				continue
			}
			for range ch {
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}

// snapshot reads every resource the desired state derives from.
func (r *Reconciler) snapshot(ctx context.Context) (*Snapshot, error) {
	s := &Snapshot{}
	r.mu.Lock()
	excluded := make(map[string]bool, len(r.excluded))
	for k := range r.excluded {
		excluded[k] = true
	}
	r.mu.Unlock()
	seen := map[string]bool{}
	keep := func(o resource.Object) bool {
		id, err := resource.ParseID(o.Meta().ID, "")
		if err != nil {
			return false
		}
		seen[id.Key()] = true
		return !excluded[id.Key()] && o.ProvisioningState() != resource.ProvisioningDeleting
	}
	for _, typ := range []string{resource.TypeVirtualNetworks, resource.TypePublicIPAddresses, resource.TypeVirtualNetworkGateways, resource.TypeLocalNetworkGateways, resource.TypeConnections} {
		objs, err := r.cfg.View.List(ctx, typ)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if !keep(o) {
				continue
			}
			switch v := o.(type) {
			case *resource.VirtualNetwork:
				s.VNets = append(s.VNets, v)
			case *resource.PublicIPAddress:
				s.PublicIPs = append(s.PublicIPs, v)
			case *resource.VirtualNetworkGateway:
				s.Gateways = append(s.Gateways, v)
			case *resource.LocalNetworkGateway:
				s.LNGs = append(s.LNGs, v)
			case *resource.Connection:
				s.Connections = append(s.Connections, v)
			}
		}
	}
	// Forget exclusions of resources that are gone.
	r.mu.Lock()
	for k := range r.excluded {
		if !seen[k] {
			delete(r.excluded, k)
		}
	}
	r.mu.Unlock()
	return s, nil
}

// pass reconciles once.
func (r *Reconciler) pass(ctx context.Context) error {
	r.passMu.Lock()
	defer r.passMu.Unlock()
	snap, err := r.snapshot(ctx)
	if err != nil {
		return err
	}
	if err := r.ensureIdentities(ctx, snap); err != nil {
		return err
	}
	r.mu.Lock()
	states := make(map[string]GatewayState, len(r.states))
	for k, v := range r.states {
		states[k] = v
	}
	r.mu.Unlock()
	d := Compute(snap, states, r.cfg.Options)
	r.addLearnedRoutes(d, time.Now())
	// Build the infrastructure first (a failover moves the public IP and
	// the VNet routes before the new active instance starts negotiating),
	// then hand out the assignments (new agents wait for theirs).
	err = r.cfg.Provider.Apply(ctx, d)
	want := make(map[string]agentapi.Assignment, len(d.Instances))
	for id, in := range d.Instances {
		want[id] = in.Assignment
	}
	revs := r.cfg.Hub.Set(want)
	r.revs.Store(&revs)
	r.desired.Store(d)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	r.passErr.Store(&msg)
	return err
}

// Sync runs a pass now.
func (r *Reconciler) Sync(ctx context.Context) error { return r.pass(ctx) }

func keyOf(obj resource.Object) (string, resource.ID, error) {
	id, err := resource.ParseID(obj.Meta().ID, "")
	if err != nil {
		return "", id, err
	}
	return id.Key(), id, nil
}

// dependents lists the instances whose assignment derives from key, with
// the revision each must reach.
func (r *Reconciler) dependents(key string) map[string]int64 {
	d := r.desired.Load()
	revs := *r.revs.Load()
	out := map[string]int64{}
	for id, in := range d.Instances {
		if in.Deps[key] {
			out[id] = revs[id]
		}
	}
	return out
}

// waitApplied waits until every instance in want has applied at least its
// revision; on timeout it explains which did not.
func (r *Reconciler) waitApplied(ctx context.Context, what string, want map[string]int64) error {
	if len(want) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RealizeTimeout)
	defer cancel()
	var lastErr string
	err := r.cfg.Hub.Wait(ctx, func() bool {
		for id, rev := range want {
			s, ok := r.cfg.Hub.Report(id)
			if !ok || s.Revision < rev {
				return false
			}
			if s.Error != "" && s.Revision == rev {
				lastErr = fmt.Sprintf("gateway instance %s cannot apply its configuration: %s", id, s.Error)
				return true
			}
		}
		return true
	})
	if lastErr != "" {
		return resource.Errorf(CodeInstanceFailed, "", "%s: %s", what, lastErr)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		var late []string
		for id, rev := range want {
			s, ok := r.cfg.Hub.Report(id)
			if ok && s.Revision >= rev {
				continue
			}
			why := "it has not connected to the control plane"
			if ok {
				why = fmt.Sprintf("it last reported %s ago, running an older configuration", time.Since(s.At).Round(time.Second))
			}
			if p := r.cfg.Provider.InstanceProblem(id); p != "" {
				why += "; " + p
			}
			late = append(late, id+" ("+why+")")
		}
		sort.Strings(late)
		return resource.Errorf(CodeInstanceNotReady, "", "%s: gateway instances did not apply their configuration within %v: %s",
			what, r.cfg.RealizeTimeout, strings.Join(late, "; "))
	}
	return nil
}

// Error codes of provisioning failures (defined in armerr).
const (
	CodeInstanceNotReady = armerr.CodeInstanceNotReady
	CodeInstanceFailed   = armerr.CodeInstanceFailed
	CodeNotRealizable    = armerr.CodeNotRealizable
	CodeProviderFailed   = armerr.CodeProviderFailed
)

// Realize implements api.Provisioner.
func (r *Reconciler) Realize(ctx context.Context, _ resource.View, obj resource.Object) error {
	key, id, err := keyOf(obj)
	if err != nil {
		return err
	}
	if err := r.pass(ctx); err != nil {
		return resource.Errorf(CodeProviderFailed, "", "realizing %s: %v", id, err)
	}
	if p, ok := r.desired.Load().Problems[key]; ok {
		_, isConn := obj.(*resource.Connection)
		if p.Unsupported || !isConn {
			return resource.Errorf(CodeNotRealizable, "", "%s cannot be realized: %s", id, p.Msg)
		}
		// A connection whose peer is not ready yet is still created, as
		// Azure creates connections whose peer is absent; it connects
		// when the peer is there.
		r.log.Warn("connection cannot run yet", "connection", id.String(), "why", p.Msg)
	}
	return r.waitApplied(ctx, "realizing "+id.String(), r.dependents(key))
}

// Teardown implements api.Provisioner.
func (r *Reconciler) Teardown(ctx context.Context, _ resource.View, obj resource.Object) error {
	key, id, err := keyOf(obj)
	if err != nil {
		return err
	}
	deps := r.dependents(key)
	r.mu.Lock()
	r.excluded[key] = true
	r.mu.Unlock()
	if err := r.pass(ctx); err != nil {
		return resource.Errorf(CodeProviderFailed, "", "tearing down %s: %v", id, err)
	}
	if _, ok := obj.(*resource.VirtualNetworkGateway); ok {
		r.forgetIdentity(ctx, GatewayKey(id))
	}
	// Instances that remain must drop the resource from their
	// configuration (a deleted connection tears its tunnel down).
	remaining := map[string]int64{}
	revs := *r.revs.Load()
	for inst := range deps {
		if rev, ok := revs[inst]; ok {
			remaining[inst] = rev
		}
	}
	return r.waitApplied(ctx, "tearing down "+id.String(), remaining)
}

// state returns (a copy of) a gateway's persistent state.
func (r *Reconciler) state(key string) GatewayState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.states[key]
}

func (r *Reconciler) setState(ctx context.Context, key string, st GatewayState) error {
	b, _ := json.Marshal(st)
	if _, err := r.cfg.Store.Put(ctx, stateKeyPrefix+key, b); err != nil {
		return err
	}
	r.mu.Lock()
	r.states[key] = st
	r.mu.Unlock()
	return nil
}

// ResetGateway implements api.Provisioner: like Azure's reset, the active
// instance restarts and the standby takes over (active-standby); with
// gatewayVIP on an active-active gateway, only that instance restarts.
func (r *Reconciler) ResetGateway(ctx context.Context, _ resource.View, gw *resource.VirtualNetworkGateway, gatewayVIP string) error {
	_, id, err := keyOf(gw)
	if err != nil {
		return err
	}
	gk := GatewayKey(id)
	var spec *GatewaySpec
	for _, g := range r.desired.Load().Gateways {
		if g.Key == gk {
			spec = g
		}
	}
	if spec == nil {
		return resource.Errorf(CodeNotRealizable, "", "gateway %s is not running", id)
	}
	st := r.state(gk)
	if spec.ActiveActive {
		for i, in := range spec.Instances {
			if gatewayVIP == "" || in.PublicIP.String() == gatewayVIP {
				st.Restarts[i]++
			}
		}
	} else {
		old := st.Active
		st.Restarts[old]++
		st.Active = 1 - old
		r.log.Info("gateway reset: standby takes over", "gateway", id.String(), "from", InstanceID(id, old), "to", InstanceID(id, st.Active))
	}
	if err := r.setState(ctx, gk, st); err != nil {
		return err
	}
	if err := r.pass(ctx); err != nil {
		return resource.Errorf(CodeProviderFailed, "", "resetting %s: %v", id, err)
	}
	return r.waitApplied(ctx, "resetting "+id.String(), r.gatewayRevisions(gk))
}

// ResetConnection implements api.Provisioner: the active instances of the
// connection's gateway delete its SAs (telling the peer) and negotiate
// them again; the gateway's other connections are not touched.
func (r *Reconciler) ResetConnection(ctx context.Context, _ resource.View, c *resource.Connection) error {
	key, id, err := keyOf(c)
	if err != nil {
		return err
	}
	var spec *GatewaySpec
	for _, g := range r.desired.Load().Gateways {
		if _, ok := g.Connections[key]; ok {
			spec = g
		}
	}
	if spec == nil {
		why := "it is not running on a gateway"
		if p, ok := r.desired.Load().Problems[key]; ok {
			why = p.Msg
		}
		return resource.Errorf(CodeNotRealizable, "", "connection %s cannot be reset: %s", id, why)
	}
	st := r.state(spec.Key)
	// Keep the counters of the gateway's connections (drop those of
	// connections that are gone) and count this reset on each of the
	// connection's tunnels.
	resets := map[string]int64{}
	for k := range spec.Connections {
		for _, n := range spec.tunnelNames(k) {
			if v := st.ConnectionResets[n]; v != 0 {
				resets[n] = v
			}
		}
	}
	for _, n := range spec.tunnelNames(key) {
		resets[n]++
	}
	st.ConnectionResets = resets
	r.log.Info("connection reset", "connection", id.String(), "gateway", spec.ID.String())
	if err := r.setState(ctx, spec.Key, st); err != nil {
		return err
	}
	if err := r.pass(ctx); err != nil {
		return resource.Errorf(CodeProviderFailed, "", "resetting %s: %v", id, err)
	}
	return r.waitApplied(ctx, "resetting "+id.String(), r.gatewayRevisions(spec.Key))
}

// gatewayRevisions are the current assignment revisions of a gateway's
// instances: what a reset waits for them to apply.
func (r *Reconciler) gatewayRevisions(gk string) map[string]int64 {
	want := map[string]int64{}
	revs := *r.revs.Load()
	for _, in := range r.desired.Load().Instances {
		if in.GatewayKey == gk {
			want[in.ID] = revs[in.ID]
		}
	}
	return want
}

// fresh reports whether an instance is connected (its poll connection did
// not close since its latest report) and its latest report is younger than
// the failover timeout: an instance is judged by its connection and its
// heartbeat.
func (r *Reconciler) fresh(s Seen, now time.Time) bool {
	return s.ClosedAt.IsZero() && now.Sub(s.At) < r.cfg.FailoverAfter
}

// silence says why an instance is not fresh, for logs and the instances
// view.
func silence(s Seen, now time.Time) string {
	if !s.ClosedAt.IsZero() {
		return fmt.Sprintf("its connection to the control plane closed %s ago (last report %s ago)",
			now.Sub(s.ClosedAt).Round(100*time.Millisecond), now.Sub(s.At).Round(100*time.Millisecond))
	}
	return fmt.Sprintf("it last reported %s ago", now.Sub(s.At).Round(100*time.Millisecond))
}

// failoverSilent promotes the standby of an active-standby gateway whose
// active instance is gone (its connection closed, or it stopped reporting:
// dead or hung; an unplanned failover). It reports whether it failed any
// gateway over.
func (r *Reconciler) failoverSilent(ctx context.Context) bool {
	// Give agents time to report after a control plane restart; an
	// instance whose connection closed reported since this start (the
	// hub marks only instances it holds a report of), so it needs none.
	grace := time.Since(r.started) < 3*r.cfg.FailoverAfter
	now := time.Now()
	did := false
	for _, g := range r.desired.Load().Gateways {
		if g.P2SAddress.IsValid() && len(g.Instances) == 2 && !grace {
			did = r.updateP2SFrontends(ctx, g, now) || did
		}
		if g.ActiveActive || len(g.Instances) != 2 {
			continue
		}
		st := r.state(g.Key)
		act, stby := g.Instances[st.Active], g.Instances[1-st.Active]
		a, aok := r.cfg.Hub.Report(act.ID)
		s, sok := r.cfg.Hub.Report(stby.ID)
		if !sok || !r.fresh(s, now) || s.Error != "" {
			continue // no healthy standby (or the control plane itself stalled)
		}
		// Only an instance that was running can fall silent: one that never
		// reported (not started yet, on a real host) is not failed over,
		// or the roles would swap away from where the public IP is.
		if !aok || r.fresh(a, now) || grace && a.ClosedAt.IsZero() {
			continue
		}
		r.log.Warn("active gateway instance is gone: failing over to the standby", "gateway", g.ID.String(),
			"silent", act.ID, "why", silence(a, now), "standby", stby.ID)
		st.Active = 1 - st.Active
		st.Restarts[1-st.Active]++
		if err := r.setState(ctx, g.Key, st); err != nil {
			r.log.Error("failover: saving state", "err", err)
			continue
		}
		did = true
	}
	return did
}

// updateP2SFrontends keeps the point-to-site public IP of an
// active-active gateway delivered to the instances that work: an instance
// that stopped reporting while the other reports (the same judgement as
// failoverSilent) is taken out, so its clients, reconnecting to the same
// address, land on the other instance, which leases them an address from
// its half of the pool; an instance out that reports again (without an
// error) is put back, for new clients (the provider's delivery keeps
// connected clients where they are). It reports whether it changed the
// set.
func (r *Reconciler) updateP2SFrontends(ctx context.Context, g *GatewaySpec, now time.Time) bool {
	st := r.state(g.Key)
	out := slices.Clone(st.P2SOut) // the state, which a pass may not have applied yet
	for i, in := range g.Instances {
		a, aok := r.cfg.Hub.Report(in.ID)
		o, ook := r.cfg.Hub.Report(g.Instances[1-i].ID)
		switch {
		case slices.Contains(out, i):
			if aok && r.fresh(a, now) && a.Error == "" {
				r.log.Info("gateway instance reports again: point-to-site public IP delivered to it again", "gateway", g.ID.String(),
					"address", g.P2SAddress.String(), "instance", in.ID)
				out = slices.DeleteFunc(out, func(j int) bool { return j == i })
			}
		case aok && !r.fresh(a, now) && !slices.Contains(out, 1-i) && ook && r.fresh(o, now) && o.Error == "":
			// Only an instance that was running can fall silent, and
			// only while the other serves.
			r.log.Warn("gateway instance is gone: point-to-site public IP delivered to the other instance only", "gateway", g.ID.String(),
				"address", g.P2SAddress.String(), "silent", in.ID, "why", silence(a, now), "to", g.Instances[1-i].ID)
			out = append(out, i)
		}
	}
	if slices.Equal(out, st.P2SOut) {
		return false
	}
	st.P2SOut = out
	if err := r.setState(ctx, g.Key, st); err != nil {
		r.log.Error("point-to-site public IP: saving state", "err", err)
		return false
	}
	return true
}

// ConnectionStatus implements api.Provisioner from the instances' latest
// reports: Connected when an active instance has the tunnel up, Unknown
// when no active instance has reported within the failover timeout (a hung
// or dead instance, until its standby takes over).
func (r *Reconciler) ConnectionStatus(_ context.Context, c *resource.Connection) (resource.ConnectionStatusReport, error) {
	rep := resource.ConnectionStatusReport{Status: resource.ConnectionStatusNotConnected}
	cid, err := resource.ParseID(c.ID, "")
	if err != nil {
		return rep, err
	}
	d := r.desired.Load()
	var spec *GatewaySpec
	for _, g := range d.Gateways {
		if _, ok := g.Connections[cid.Key()]; ok {
			spec = g
		}
	}
	if spec == nil {
		return rep, nil
	}
	names := spec.tunnelNames(cid.Key())
	connecting, connected, known := false, false, false
	now := time.Now()
	for _, in := range spec.Instances {
		if !in.Active {
			continue
		}
		s, ok := r.cfg.Hub.Report(in.ID)
		for j, name := range names {
			// One tunnel per instance, or per instance and peer instance
			// (an active-active VNet-to-VNet peer: the peer's index added).
			tunnel := fmt.Sprintf("%s_%s", in.ID, in.PublicIP)
			if len(names) > 1 {
				tunnel = fmt.Sprintf("%s_%s_%d", in.ID, in.PublicIP, j)
			}
			t := resource.TunnelConnectionHealth{Tunnel: tunnel, ConnectionStatus: resource.ConnectionStatusUnknown}
			if ok && r.fresh(s, now) {
				known = true
				t.ConnectionStatus = resource.ConnectionStatusNotConnected
				for _, cs := range s.Status.Connections {
					if cs.Name != name {
						continue
					}
					switch cs.Status {
					case agentapi.Connected:
						t.ConnectionStatus = resource.ConnectionStatusConnected
						connected = true
					case agentapi.Connecting:
						t.ConnectionStatus = resource.ConnectionStatusConnecting
						connecting = true
					}
					t.IngressBytesTransferred = int64(cs.IngressBytes)
					t.EgressBytesTransferred = int64(cs.EgressBytes)
					if !cs.LastConnected.IsZero() {
						t.LastConnectionEstablishedUtcTime = cs.LastConnected.UTC().Format(time.RFC3339)
					}
				}
			}
			rep.IngressBytes += t.IngressBytesTransferred
			rep.EgressBytes += t.EgressBytesTransferred
			rep.Tunnels = append(rep.Tunnels, t)
		}
	}
	switch {
	case connected:
		rep.Status = resource.ConnectionStatusConnected
	case connecting:
		rep.Status = resource.ConnectionStatusConnecting
	case !known:
		rep.Status = resource.ConnectionStatusUnknown
	}
	return rep, nil
}
