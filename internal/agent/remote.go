package agent

// Remote mode: the agent takes its configuration from the control plane
// (vpngw serve) instead of a file, and reports its status back, through the
// contract of package agentapi.
//
// The control plane owns desired state; the agent owns packets: when the
// control plane is unreachable the agent keeps running with its last
// configuration (also cached in the state directory, so a restarted agent
// comes back without the control plane) and retries with backoff.
//
// A replicated control plane (docs/ha.md) has several agent API URLs, of
// which only the leading replica's answers: the agent talks to one at a
// time (supervisor.server) and, when it fails, moves on to the next,
// waiting only after a whole round of them failed. routinePoll owns that
// choice; routineReport reports to the server in use, and when that server
// cannot be reached it interrupts the long poll waiting on it, so that a
// dead leader is left at the next heartbeat rather than when the poll
// times out.
//
// RunRemote starts two routines and joins them when ctx ends:
//
//	routinePoll:   long-polls the server in use for assignments ─► accept ─► apply ─► start/stop or Reload the instance
//	               on failure ─► the next server (a whole round failed: back off)
//	routineReport: every agentapi.ReportEvery (heartbeat) and on every status change ─► PUT the Report
//	               unreachable ─► interrupt routinePoll's request to that server
//
// Reports cost the control plane nothing per tunnel while nothing changes
// (agentapi's versioned reports), and the agent work per change, not per
// tunnel:
//
//   - after a change, routineReport takes the changed entries from the
//     instance (Agent.TakeChanges: the connections and clients the IKE
//     loop rewrote, with their counters) and hands them to the
//     agentapi.Reporter (Update), which compares and encodes those alone:
//     a client's rekey among 10,000 clients costs one entry's work;
//   - every countersEvery (at least; see countersShare) it refreshes
//     every tunnel's traffic counters. While no tunnel's counters moved
//     since the last full build (Agent.TrafficSeq, which the data plane
//     changes after every counter change, once per batch), an idle
//     gateway's, there is nothing to refresh: it takes the changes, as
//     after a change (at least the gateway-wide part with its IKE
//     counters, a small delta); the refresh costs nothing per tunnel and
//     the next is due countersEvery later, so traffic after an idle spell
//     shows within countersEvery. Otherwise it builds the full status
//     (Agent.Status): work proportional to the tunnels (a copy, a sort
//     and a comparison per entry; changed entries are encoded), so the
//     gap between these full builds grows with what the last one cost,
//     and an instance with 10,000 clients carrying traffic spends about
//     0.1 % of a core on them;
//   - the Reporter sends the status only when it differs from the one the
//     server holds, as a delta of the connections and clients that
//     changed; the other heartbeats are bare.
//
// The instance (an Agent with its status socket) runs on goroutines of its
// own, started by startInstance and joined by instance.stop. The
// supervisor's mutex guards which instance runs and with what.

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/google/renameio/v2"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/gwconfig"
)

// RemoteOptions configure RunRemote.
type RemoteOptions struct {
	// Servers are the control plane's agent API URLs (https://host:port,
	// http://host:port or unix:///path/to/socket): one, or one per
	// replica of a replicated control plane, tried in turn.
	Servers []string
	// Instance is this instance's ID, as the control plane named it.
	Instance string
	// Token authenticates to the control plane (empty: none): the
	// instance's own (agentapi.InstanceToken).
	Token string
	// RootCAs verify an https Server (nil: the system's roots); the
	// control plane's CA is its DATA-DIR/tls/ca.crt.
	RootCAs *x509.CertPool
	// StateDir holds the cached assignment (mode 0600: it contains keys).
	StateDir string
	// Logger receives the logs; nil is silent.
	Logger *slog.Logger
	// StatusSocket overrides the status socket path.
	StatusSocket string
}

// Timing of remote mode.
const (
	// reportSettle lets a burst of status changes settle into one report
	// (reports also go out every agentapi.ReportEvery, the heartbeat).
	reportSettle = 100 * time.Millisecond
	// countersEvery is how often an instance refreshes the traffic
	// counters it reports (at least; see countersShare): the control
	// plane's counters lag by up to that much.
	countersEvery = 2 * time.Second
	// changeShare and countersShare bound the share of time spent building
	// statuses: the next build after a change waits at least changeShare
	// times what the last build took (a build of the changes is the
	// changed entries' work: in practice reportSettle decides), and the
	// next counter refresh countersShare times what the last one took
	// (a full build, or an idle refresh's check). Counters are Azure's
	// ingress/egressBytesTransferred, which its portal shows minutes
	// late: while tunnels carry traffic, at 10,000 clients (a full build
	// of 10 – 80 ms) they lag by up to about a minute, at 1,000 by 10 –
	// 20 s (measured on a busy box), with a few dozen by countersEvery;
	// the first traffic after an idle spell shows within countersEvery
	// (the idle refresh costs little); a state change goes out within
	// reportSettle.
	changeShare   = 20
	countersShare = 1000
	// stopTimeout is how long a stopping instance may take to delete its
	// SAs on the peers.
	stopTimeout = 15 * time.Second
)

// ErrNoServer is RunRemote's error without a control plane URL.
var ErrNoServer = errors.New("agent: no control plane URL (--server)")

// RunRemote runs an instance fed by the control plane until ctx ends.
func RunRemote(ctx context.Context, o RemoteOptions) error {
	if len(o.Servers) == 0 {
		return ErrNoServer
	}
	s := &supervisor{opts: o, log: o.Logger, poked: make(chan struct{}, 1)}
	for i, u := range o.Servers {
		if slices.Contains(o.Servers[:i], u) {
			return fmt.Errorf("agent: --server %q given twice", u)
		}
		c, err := agentapi.NewClient(u, o.Instance, o.Token, o.RootCAs)
		if err != nil {
			return err
		}
		s.clients = append(s.clients, c)
		defer c.Close()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if a := s.loadCache(); a != nil {
		s.log.Info("starting from the cached assignment until the control plane answers", "revision", a.Revision)
		s.accept(ctx, a)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.routinePoll(ctx) }()
	go func() { defer wg.Done(); s.routineReport(ctx) }()
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stop()
	return nil
}

// supervisor runs the instance the control plane assigns.
type supervisor struct {
	opts RemoteOptions
	log  *slog.Logger
	// clients are the control plane's agent APIs, one per
	// opts.Servers entry.
	clients []*agentapi.Client
	// server is the index of the client in use; written by routinePoll
	// only.
	server atomic.Int32
	// poked wakes routineReport (an instance's status changed).
	poked chan struct{}

	// pollMu guards pollServer and pollCancel: routinePoll's request in
	// flight, which routineReport interrupts when that server is gone.
	pollMu     sync.Mutex
	pollServer int32
	pollCancel context.CancelFunc

	mu sync.Mutex
	// cur is the assignment running (or that failed to start); guarded by mu.
	cur *agentapi.Assignment
	// run is the running instance, nil when none; guarded by mu.
	run *instance
	// applyErr is why the latest assignment could not be applied; guarded
	// by mu.
	applyErr string

	// lastRev and lastErr are the revision and apply error last read,
	// reported again while apply holds mu (stopping an instance can take
	// stopTimeout, far longer than the control plane's failover timeout);
	// read is whether they were ever read. Owned by routineReport.
	lastRev int64
	lastErr string
	read    bool
	// builtOf is the instance whose status the Reporter holds (nil:
	// none): another one's needs a full build. countedSeq is its
	// TrafficSeq as read before its last full build. Owned by
	// routineReport.
	builtOf    *instance
	countedSeq uint64
}

// poke asks routineReport for a report soon.
func (s *supervisor) poke() {
	select {
	case s.poked <- struct{}{}:
	default:
	}
}

// Retry timing of routinePoll: after a whole round of servers failed, it
// waits retryFirst, doubling up to retryMax (retryMaxSeveral with several
// servers: a replica takes over within its lease, and the agent should
// find it soon after).
const (
	retryFirst      = time.Second
	retryMax        = 15 * time.Second
	retryMaxSeveral = 2 * time.Second
)

// routinePoll long-polls the server in use for assignments and applies
// them. When a request fails it moves to the next server at once; when
// every server failed in a row it waits with exponential backoff
// (retryFirst doubling to retryMax, no jitter) and starts a new round.
func (s *supervisor) routinePoll(ctx context.Context) {
	maxWait := retryMax
	if len(s.clients) > 1 {
		maxWait = retryMaxSeveral
	}
	retry := backoff.NewExponentialBackOff(backoff.WithInitialInterval(retryFirst), backoff.WithMultiplier(2),
		backoff.WithMaxInterval(maxWait), backoff.WithRandomizationFactor(0), backoff.WithMaxElapsedTime(0))
	var after int64
	s.mu.Lock()
	if s.cur != nil {
		after = s.cur.Revision
	}
	s.mu.Unlock()
	failed := 0 // requests failed in a row, across servers
	for ctx.Err() == nil {
		i := s.server.Load()
		a, err := s.fetch(ctx, i, after)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failed++
			var he *agentapi.HTTPError
			gone := errors.As(err, &he) && he.Code == http.StatusGone
			if gone {
				// The gateway was deleted: stop its tunnels, keep asking in
				// case an instance of this name comes back.
				if s.forget() {
					after = 0
				}
			} else if len(s.clients) > 1 {
				next := (i + 1) % int32(len(s.clients))
				s.log.Debug("control plane server failed; trying the next", "server", s.opts.Servers[i], "err", err, "next", s.opts.Servers[next])
				s.server.Store(next)
				if failed%len(s.clients) != 0 {
					continue // the round is not over: no wait
				}
			}
			wait := retry.NextBackOff()
			switch {
			case gone:
			case errors.As(err, &he) && he.Code == http.StatusUnauthorized:
				s.log.Error("the control plane refused this agent's token; check --token-file", "retry_in", wait)
			case len(s.clients) > 1:
				s.log.Warn("control plane unreachable (no server answered); running with the last assignment", "err", err, "retry_in", wait)
			default:
				s.log.Warn("control plane unreachable; running with the last assignment", "err", err, "retry_in", wait)
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
			continue
		}
		if failed > 0 && len(s.clients) > 1 {
			s.log.Info("control plane answered", "server", s.opts.Servers[i])
		}
		failed = 0
		retry.Reset()
		if a == nil {
			continue
		}
		if s.accept(ctx, a) {
			s.saveCache(a)
		}
		after = a.Revision
	}
}

// fetch long-polls server i, as a request routineReport can interrupt
// (abandon).
func (s *supervisor) fetch(ctx context.Context, i int32, after int64) (*agentapi.Assignment, error) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.pollMu.Lock()
	s.pollServer, s.pollCancel = i, cancel
	s.pollMu.Unlock()
	defer func() {
		s.pollMu.Lock()
		s.pollCancel = nil
		s.pollMu.Unlock()
	}()
	return s.clients[i].Fetch(rctx, after)
}

// abandon interrupts routinePoll's request if it waits on server i, which
// could not be reached: routinePoll then moves to the next server.
func (s *supervisor) abandon(i int32) {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	if s.pollCancel != nil && s.pollServer == i {
		s.pollCancel()
	}
}

// routineReport sends the instance's report every agentapi.ReportEvery
// (the heartbeat by which the control plane tells a live instance from a
// hung or dead one) and soon after every status change; the status goes
// out only when it changed (see the file comment).
func (s *supervisor) routineReport(ctx context.Context) {
	tick := time.NewTicker(agentapi.ReportEvery)
	defer tick.Stop()
	rep := agentapi.NewReporter()
	var (
		built, fullBuilt time.Time     // when the status was last built, in full
		cost, fullCost   time.Duration // what those builds took
		changed          = true        // the status changed since it was built
	)
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.poked:
			changed = true
			// Let a burst of changes settle into one report.
			select {
			case <-time.After(reportSettle):
			case <-ctx.Done():
				return
			}
		}
		counters := time.Since(fullBuilt) >= max(countersEvery, countersShare*fullCost)
		build := counters || changed && time.Since(built) >= max(reportSettle, changeShare*cost)
		t0 := time.Now()
		if kind := s.snapshot(rep, build, counters); kind != builtNothing {
			built, cost, changed = t0, time.Since(t0), false
			if kind == builtFull || kind == builtIdle {
				// The counters are current: the next refresh is due
				// after what this one cost (an idle one's, little).
				fullBuilt, fullCost = built, cost
			}
		}
		i := s.server.Load()
		// Each request ends within agentapi.ReportTimeout (ctx has no
		// deadline): no timer per heartbeat.
		_, err := rep.Send(ctx, s.clients[i], s.lastRev, s.lastErr)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				s.log.Warn("cannot report status to the control plane; will retry", "server", s.opts.Servers[i], "err", err)
			}
			failing = true
			// A server that answers (whatever it says) is routinePoll's
			// to judge; one that cannot be reached is left now, with
			// several to choose from, rather than when the long poll on
			// it times out.
			var he *agentapi.HTTPError
			if len(s.clients) > 1 && !errors.As(err, &he) {
				s.abandon(i)
			}
		case err == nil:
			failing = false
		}
	}
}

// buildKind is what snapshot gave the Reporter.
type buildKind int

const (
	builtNothing buildKind = iota
	builtChanges           // the changes since the last build
	builtIdle              // the changes, at a counter refresh that found no tunnel's counters moved
	builtFull              // the full status
)

// snapshot reads the revision and apply error into s.lastRev and
// s.lastErr and, with build (or before the first status), gives rep the
// instance's current status; it reports what it gave. With counters (the
// periodic refresh of every tunnel's traffic counters), for a new
// instance and when the instance cannot tell what changed, that is the
// full status (Agent.Status, rep.SetStatus); otherwise, and at a counter
// refresh when no tunnel's counters moved since the last full build
// (Agent.TrafficSeq), the changes since the last build
// (Agent.TakeChanges, rep.Update), whose work is the changed entries'.
// While apply holds s.mu it changes nothing (the process is alive, and a
// heartbeat must not wait for an instance to stop), unless nothing was
// read yet. Called by routineReport only.
func (s *supervisor) snapshot(rep *agentapi.Reporter, build, counters bool) buildKind {
	if !s.mu.TryLock() {
		if s.read {
			return builtNothing
		}
		s.mu.Lock() // nothing reported yet: wait for the first state
	}
	s.lastRev, s.lastErr, s.read = -1, s.applyErr, true
	if s.cur != nil {
		s.lastRev = s.cur.Revision
	}
	build = build || rep.Seq() == 0
	var (
		st Status
		ch StatusChanges
	)
	run := s.run
	full, idle := true, false
	var seq uint64
	if build && run != nil {
		// Read before the counters: a change after it changes it.
		seq = run.ag.TrafficSeq()
		if run == s.builtOf {
			idle = counters && seq == s.countedSeq
			if !counters || idle {
				ch = run.ag.TakeChanges()
				full = ch.All
			}
		}
		if full {
			run.ag.DropChanges() // the full status holds them
			st = run.ag.Status()
		}
	}
	s.mu.Unlock()
	if !build {
		return builtNothing
	}
	var err error
	if full {
		_, err = rep.SetStatus(st)
	} else {
		_, err = rep.Update(ch.Gateway, ch.Conns, ch.Removed, ch.Clients, ch.Removed)
	}
	if err != nil {
		s.log.Error("cannot encode the status", "err", err)
		s.builtOf = nil // the changes taken are lost: the next build is full
		return builtNothing
	}
	s.builtOf = run
	switch {
	case full:
		s.countedSeq = seq
		return builtFull
	case idle:
		return builtIdle
	}
	return builtChanges
}

// accept checks an assignment and applies it; an invalid one is reported,
// changes nothing and is not accepted (false).
func (s *supervisor) accept(ctx context.Context, a *agentapi.Assignment) bool {
	if a.Role == agentapi.RoleStandby {
		a.Config.Connections = nil
	}
	in, err := a.Config.Check()
	if err != nil {
		s.log.Error("control plane sent an invalid configuration", "revision", a.Revision, "err", err)
		s.mu.Lock()
		s.applyErr = err.Error()
		s.mu.Unlock()
		s.poke()
		return false
	}
	if s.opts.StatusSocket != "" {
		in.StatusSocket = s.opts.StatusSocket
	}
	s.apply(ctx, a, in)
	return true
}

// apply runs a checked assignment: a restart, or a change that needs one
// (gwconfig.RestartFields), restarts the instance; anything else is a
// per-connection reload.
func (s *supervisor) apply(ctx context.Context, a *agentapi.Assignment, in *gwconfig.Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyErr = ""
	var restart []string
	switch {
	case s.run == nil || s.cur == nil:
	case s.cur.Restart != a.Restart:
		restart = []string{"restart"}
	default:
		restart = gwconfig.RestartFields(&s.run.cfg.Config, &in.Config)
	}
	if s.run == nil || s.cur == nil || len(restart) > 0 {
		if s.run != nil {
			s.log.Info("restarting the instance", "revision", a.Revision, "changed", strings.Join(restart, ","))
		}
		s.stop()
		run, err := startInstance(ctx, in, Options{Logger: s.log, OnChange: s.poke, TrackChanges: true})
		if err != nil {
			s.applyErr = err.Error()
			s.log.Error("cannot start the instance", "revision", a.Revision, "err", err)
			return
		}
		s.run = run
	} else {
		in.StatusSocket = s.run.cfg.StatusSocket
		if err := s.run.ag.Reload(ctx, in); err != nil {
			s.applyErr = err.Error()
			s.log.Error("cannot apply the assignment", "revision", a.Revision, "err", err)
			return
		}
		s.run.cfg = in
		s.resetConnections(ctx, a)
		s.disconnectClients(ctx, a)
	}
	s.cur = a
	s.log.Info("assignment applied", "revision", a.Revision, "role", a.Role, "connections", len(in.Peers))
	s.poke()
}

// resetConnections resets the connections whose reset counter differs
// from the previous assignment's (s.mu held, s.run and s.cur set). A
// connection the previous assignment did not run (new, or a standby
// taking over) starts with fresh SAs anyway.
func (s *supervisor) resetConnections(ctx context.Context, a *agentapi.Assignment) {
	for _, name := range slices.Sorted(maps.Keys(a.ConnectionResets)) {
		ran := slices.ContainsFunc(s.cur.Config.Connections, func(c gwconfig.Connection) bool { return c.Name == name })
		if !ran || a.ConnectionResets[name] == s.cur.ConnectionResets[name] {
			continue
		}
		s.log.Info("resetting a connection", "revision", a.Revision, "connection", name)
		if err := s.run.ag.ResetConnection(ctx, name); err != nil {
			// The connection is still configured and negotiates on its own.
			s.log.Warn("resetting a connection", "connection", name, "err", err)
		}
	}
}

// disconnectClients ends the point-to-site sessions the assignment names
// (s.mu held, s.run set); a freshly started instance has none.
func (s *supervisor) disconnectClients(ctx context.Context, a *agentapi.Assignment) {
	if len(a.DisconnectClients) == 0 {
		return
	}
	n, err := s.run.ag.DisconnectClients(ctx, a.DisconnectClients)
	switch {
	case err != nil:
		s.log.Warn("disconnecting point-to-site clients", "err", err)
	case n > 0:
		s.log.Info("disconnected point-to-site clients", "revision", a.Revision, "clients", n)
	}
}

// forget stops the instance of a deleted gateway and drops its cached
// assignment; it reports whether one was running.
func (s *supervisor) forget() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run == nil {
		return false
	}
	s.log.Warn("the control plane deleted this instance; stopping its tunnels")
	s.stop()
	s.cur = nil
	if p := s.cachePath(); p != "" {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("cannot remove the cached assignment", "err", err)
		}
	}
	return true
}

// stop stops the running instance, if any (s.mu held).
func (s *supervisor) stop() {
	if s.run == nil {
		return
	}
	s.run.stop(s.log)
	s.run = nil
}

// instance is a running Agent with its status endpoint.
type instance struct {
	ag *Agent
	// cfg is the configuration it runs (the supervisor's copy; the
	// agent's own belongs to its loop).
	cfg    *gwconfig.Instance
	cancel context.CancelFunc
	// done receives Run's result; served is closed when the status
	// endpoint has stopped.
	done   chan error
	served chan struct{}
}

// startInstance starts an Agent and its status endpoint.
func startInstance(ctx context.Context, in *gwconfig.Instance, opts Options) (*instance, error) {
	ag, err := New(in, opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &instance{ag: ag, cfg: in, cancel: cancel, done: make(chan error, 1), served: make(chan struct{})}
	go func() { r.done <- ag.Run(ctx) }()
	go func() {
		defer close(r.served)
		if err := ServeStatus(ctx, ag, in.StatusSocket); err != nil && opts.Logger != nil {
			opts.Logger.Warn("status endpoint", "err", err)
		}
	}()
	return r, nil
}

// stop stops the instance and waits for it (at most stopTimeout for the
// agent to delete its SAs on the peers).
func (r *instance) stop(log *slog.Logger) {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("instance stopped with an error", "err", err)
		}
	case <-time.After(stopTimeout):
		log.Error("instance did not stop in time")
	}
	<-r.served
}

// cachePath is the cached assignment's file ("" without a state
// directory).
func (s *supervisor) cachePath() string {
	if s.opts.StateDir == "" {
		return ""
	}
	return filepath.Join(s.opts.StateDir, "agent-"+safeName(s.opts.Instance)+".json")
}

func safeName(s string) string {
	return strings.Map(func(c rune) rune {
		if c == '/' || c == '\\' || c == ' ' {
			return '_'
		}
		return c
	}, s)
}

// saveCache writes the assignment to the state directory, atomically and
// durably (it is what a restarted agent runs), mode 0600 (it holds the
// shared keys). A failure is logged: the agent runs on without a cache.
func (s *supervisor) saveCache(a *agentapi.Assignment) {
	if err := s.writeCache(a); err != nil {
		s.log.Warn("cannot cache the assignment; a restarted agent will wait for the control plane", "err", err)
	}
}

func (s *supervisor) writeCache(a *agentapi.Assignment) error {
	p := s.cachePath()
	if p == "" {
		return nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return renameio.WriteFile(p, b, 0o600, renameio.WithStaticPermissions(0o600))
}

// loadCache reads the cached assignment, nil if there is none (or it
// cannot be read, which is logged).
func (s *supervisor) loadCache() *agentapi.Assignment {
	p := s.cachePath()
	if p == "" {
		return nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("cannot read the cached assignment", "err", err)
		}
		return nil
	}
	var a agentapi.Assignment
	if err := json.Unmarshal(b, &a); err != nil {
		s.log.Warn("ignoring a corrupt cached assignment", "path", p, "err", err)
		return nil
	}
	return &a
}
