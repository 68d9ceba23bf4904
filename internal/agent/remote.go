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
// RunRemote starts two routines and joins them when ctx ends:
//
//	routinePoll:   long-polls for assignments ─► accept ─► apply ─► start/stop or Reload the instance
//	routineReport: every agentapi.ReportEvery (heartbeat) and on every status change ─► PUT the Report
//
// The instance (an Agent with its status socket) runs on goroutines of its
// own, started by startInstance and joined by instance.stop. The
// supervisor's mutex guards which instance runs and with what.

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/google/renameio/v2"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/gwconfig"
)

// RemoteOptions configure RunRemote.
type RemoteOptions struct {
	// Server is the control plane's agent API: https://host:port,
	// http://host:port or unix:///path/to/socket.
	Server string
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
	// reportTimeout bounds one report.
	reportTimeout = 5 * time.Second
	// stopTimeout is how long a stopping instance may take to delete its
	// SAs on the peers.
	stopTimeout = 15 * time.Second
)

// RunRemote runs an instance fed by the control plane until ctx ends.
func RunRemote(ctx context.Context, o RemoteOptions) error {
	client, err := agentapi.NewClient(o.Server, o.Instance, o.Token, o.RootCAs)
	if err != nil {
		return err
	}
	s := &supervisor{opts: o, log: o.Logger, client: client, poked: make(chan struct{}, 1)}
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
	opts   RemoteOptions
	log    *slog.Logger
	client *agentapi.Client
	// poked wakes routineReport (an instance's status changed).
	poked chan struct{}

	mu sync.Mutex
	// cur is the assignment running (or that failed to start); guarded by mu.
	cur *agentapi.Assignment
	// run is the running instance, nil when none; guarded by mu.
	run *instance
	// applyErr is why the latest assignment could not be applied; guarded
	// by mu.
	applyErr string

	// lastRep is the latest report built, sent again as the heartbeat
	// while apply holds mu (stopping an instance can take stopTimeout,
	// far longer than the control plane's failover timeout). Owned by
	// routineReport.
	lastRep agentapi.Report
}

// poke asks routineReport for a report soon.
func (s *supervisor) poke() {
	select {
	case s.poked <- struct{}{}:
	default:
	}
}

// routinePoll long-polls for assignments and applies them, retrying with
// exponential backoff (1 s doubling to 15 s, no jitter) while the control
// plane is away.
func (s *supervisor) routinePoll(ctx context.Context) {
	retry := backoff.NewExponentialBackOff(backoff.WithInitialInterval(time.Second), backoff.WithMultiplier(2),
		backoff.WithMaxInterval(15*time.Second), backoff.WithRandomizationFactor(0), backoff.WithMaxElapsedTime(0))
	var after int64
	s.mu.Lock()
	if s.cur != nil {
		after = s.cur.Revision
	}
	s.mu.Unlock()
	for ctx.Err() == nil {
		a, err := s.client.Fetch(ctx, after)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			wait := retry.NextBackOff()
			var he *agentapi.HTTPError
			switch {
			case errors.As(err, &he) && he.Code == http.StatusUnauthorized:
				s.log.Error("the control plane refused this agent's token; check --token-file", "retry_in", wait)
			case errors.As(err, &he) && he.Code == http.StatusGone:
				// The gateway was deleted: stop its tunnels, keep asking in
				// case an instance of this name comes back.
				if s.forget() {
					after = 0
				}
			default:
				s.log.Warn("control plane unreachable; running with the last assignment", "err", err, "retry_in", wait)
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
			continue
		}
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

// routineReport sends the instance's report every agentapi.ReportEvery
// (the heartbeat by which the control plane tells a live instance from a
// hung or dead one) and soon after every status change.
func (s *supervisor) routineReport(ctx context.Context) {
	tick := time.NewTicker(agentapi.ReportEvery)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.poked:
			// Let a burst of changes settle into one report.
			select {
			case <-time.After(reportSettle):
			case <-ctx.Done():
				return
			}
		}
		rctx, cancel := context.WithTimeout(ctx, reportTimeout)
		err := s.client.Report(rctx, s.report())
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				s.log.Warn("cannot report status to the control plane; will retry", "err", err)
			}
			failing = true
		case err == nil:
			failing = false
		}
	}
}

// report is the current Report, or the previous one while apply holds
// s.mu (the process is alive, and a heartbeat must not wait for an
// instance to stop). Called by routineReport only.
func (s *supervisor) report() agentapi.Report {
	if !s.mu.TryLock() {
		if s.lastRep.Revision != 0 {
			return s.lastRep
		}
		s.mu.Lock() // nothing reported yet: wait for the first state
	}
	defer s.mu.Unlock()
	rep := agentapi.Report{Revision: -1, Error: s.applyErr}
	if s.cur != nil {
		rep.Revision = s.cur.Revision
	}
	if s.run != nil {
		rep.Status = s.run.ag.Status()
	}
	s.lastRep = rep
	return rep
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
		run, err := startInstance(ctx, in, Options{Logger: s.log, OnStatus: func(Status) { s.poke() }})
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
