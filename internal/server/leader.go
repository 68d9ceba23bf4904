package server

// Leadership. Every replica of `vpngw serve` serves the API (reads, and
// writes that commit to the shared store); exactly one, the leader, runs
// the work that must not run twice: the provider (lab or agent hub, the
// agent API listener, the reconciler) and the API's operation workers
// (api.Server.StartWorkers). A term is one period of leadership:
//
//	elector.Campaign ──► startTerm: provider, StartWorkers ──► term ctx ends
//	      ▲                                                         │
//	      └──── Resign ◄── stop: StopWorkers, provider cleanup ◄────┘
//
// On bbolt there is one process per store, so soloElector makes it the
// leader at once and for its whole life, and the first term starts before
// the API serves (today's single-process behaviour). On etcd,
// etcdElector campaigns with concurrency.Election on a session whose lease
// lasts Options.LeaderTTL: a leader that dies stops renewing it, etcd
// deletes its key when the lease expires, and the next candidate's
// campaign returns. A leader that cannot renew (partitioned from etcd)
// ends its term before its lease can have expired on the server (the
// watchdog), so that two leaders never act at once; a leader that stops
// cleanly resigns, and the next one takes over at once.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
	"github.com/vpngw/vpngw/internal/store/etcdstore"
	"github.com/vpngw/vpngw/internal/tlsca"
)

// DefaultLeaderTTL is the leader's lease when Options.LeaderTTL is 0: a
// dead leader is replaced about this long after it stopped renewing.
const DefaultLeaderTTL = 5 * time.Second

// Bounds of Options.LeaderTTL. etcd refuses leases shorter than its own
// election timeout allows (2 s with its defaults); longer than a minute
// is etcd's client default that issue 14 found too slow.
const (
	MinLeaderTTL = 2 * time.Second
	MaxLeaderTTL = 60 * time.Second
)

// electionKey is the election's key prefix under the store's prefix;
// the registry uses none of it.
const electionKey = "leader/"

// CheckLeaderTTL reports whether d is a usable --leader-ttl (0 is the
// default).
func CheckLeaderTTL(d time.Duration) error {
	if d == 0 {
		return nil
	}
	if d < MinLeaderTTL || d > MaxLeaderTTL || d%time.Second != 0 {
		return fmt.Errorf("--leader-ttl %v: want whole seconds from %v to %v", d, MinLeaderTTL, MaxLeaderTTL)
	}
	return nil
}

// elector chooses the replica that leads.
type elector interface {
	// Campaign blocks until this replica leads, or ctx ends (its error).
	// The returned context ends when the leadership is lost or ctx ends.
	Campaign(ctx context.Context) (context.Context, error)
	// Resign gives the leadership up after a term (its workers have
	// stopped), so that another replica may lead at once.
	Resign(ctx context.Context)
	// Leader reports whether this replica leads now.
	Leader() bool
	// LeaderInfo asks who leads: the leader's replica ID and API URL
	// (zero if none leads).
	LeaderInfo(ctx context.Context) (replicaInfo, error)
	// Solo reports that this replica is the only one (bbolt): it leads
	// for its whole life, and a term that fails to start fails the server.
	Solo() bool
}

// soloElector is the elector of a store only this process opens.
type soloElector struct {
	// self is the replica's ID and API URL.
	self replicaInfo
	// leading is set by Campaign, cleared by Resign.
	leading atomic.Bool
}

func (e *soloElector) Campaign(ctx context.Context) (context.Context, error) {
	e.leading.Store(true)
	return ctx, nil
}
func (e *soloElector) Resign(context.Context) { e.leading.Store(false) }
func (e *soloElector) Leader() bool           { return e.leading.Load() }
func (e *soloElector) Solo() bool             { return true }
func (e *soloElector) LeaderInfo(context.Context) (replicaInfo, error) {
	if e.leading.Load() {
		return e.self, nil
	}
	return replicaInfo{}, nil
}

// etcdElector elects the leader among the replicas sharing an etcd
// prefix.
type etcdElector struct {
	cli *clientv3.Client
	// prefix is the election's key prefix (store prefix + electionKey).
	prefix string
	// self is this replica's ID and API URL; its JSON is the value of
	// its election key.
	self replicaInfo
	// ttl is the session's lease.
	ttl time.Duration
	log *slog.Logger
	// leading is true from a won campaign until the term ends.
	leading atomic.Bool

	// mu guards sess and election, the current campaign's.
	mu       sync.Mutex
	sess     *concurrency.Session
	election *concurrency.Election
}

func newEtcdElector(s *etcdstore.Store, self replicaInfo, ttl time.Duration, log *slog.Logger) *etcdElector {
	if ttl == 0 {
		ttl = DefaultLeaderTTL
	}
	return &etcdElector{cli: s.Client(), prefix: s.Prefix() + electionKey, self: self, ttl: ttl, log: log}
}

func (e *etcdElector) Solo() bool   { return false }
func (e *etcdElector) Leader() bool { return e.leading.Load() }

func (e *etcdElector) Campaign(ctx context.Context) (context.Context, error) {
	sess, err := concurrency.NewSession(e.cli, concurrency.WithTTL(int(e.ttl/time.Second)), concurrency.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("leader election: session: %w", err)
	}
	el := concurrency.NewElection(sess, e.prefix)
	e.mu.Lock()
	e.sess, e.election = sess, el
	e.mu.Unlock()
	if err := el.Campaign(ctx, e.self.value()); err != nil {
		e.closeSession()
		return nil, fmt.Errorf("leader election: campaign: %w", err)
	}
	lctx, cancel := context.WithCancel(ctx)
	e.leading.Store(true)
	go func() {
		why := e.watchdog(lctx, sess)
		e.leading.Store(false)
		cancel()
		if why != "" {
			e.log.Warn("lost the leadership", "why", why)
		}
	}()
	return lctx, nil
}

// watchdog returns when the term must end: the session ended (its lease
// expired or was revoked), or the lease was not confirmed in time (why
// says which), or lctx ended (""). confirmLease asks etcd for the lease's
// remaining time every ttl/4; the lease lasts at least that long after
// the question was sent, so the term ends a margin before it, while no
// other replica can have won yet. Until the first answer the deadline is
// half the lease from the won campaign (the session renews the lease
// every third of it).
func (e *etcdElector) watchdog(lctx context.Context, sess *concurrency.Session) string {
	confirmed := make(chan time.Time, 1)
	go e.confirmLease(lctx, sess, confirmed)
	deadline := time.NewTimer(e.ttl / 2)
	defer deadline.Stop()
	for {
		select {
		case <-lctx.Done():
			return ""
		case <-sess.Done():
			return "the lease expired"
		case <-deadline.C:
			if lctx.Err() != nil {
				return ""
			}
			return "the lease was not confirmed in time (etcd unreachable?)"
		case until := <-confirmed:
			if until.IsZero() {
				return "the lease expired"
			}
			deadline.Reset(time.Until(until))
		}
	}
}

// leaseMargin is how long before the lease's earliest expiry a leader
// that could not confirm it ends its term.
const leaseMargin = 500 * time.Millisecond

// confirmLease sends on out, every ttl/4 until lctx ends, the time until
// which the session's lease is known to last (less leaseMargin), or the
// zero time once etcd says it expired.
func (e *etcdElector) confirmLease(lctx context.Context, sess *concurrency.Session, out chan time.Time) {
	every := e.ttl / 4
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		sent := time.Now()
		qctx, cancel := context.WithTimeout(lctx, every)
		resp, err := e.cli.TimeToLive(qctx, sess.Lease())
		cancel()
		if err == nil {
			until := time.Time{}
			if resp.TTL > 0 {
				until = sent.Add(time.Duration(resp.TTL)*time.Second - leaseMargin)
			}
			select {
			case <-out: // replace an unread older answer
			default:
			}
			out <- until
		}
		select {
		case <-lctx.Done():
			return
		case <-t.C:
		}
	}
}

func (e *etcdElector) Resign(ctx context.Context) {
	e.leading.Store(false)
	e.mu.Lock()
	el := e.election
	e.mu.Unlock()
	if el != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		if err := el.Resign(rctx); err != nil {
			e.log.Debug("resigning", "err", err)
		}
		cancel()
	}
	e.closeSession()
}

// closeSession revokes the campaign's lease (deleting its key).
func (e *etcdElector) closeSession() {
	e.mu.Lock()
	sess := e.sess
	e.sess, e.election = nil, nil
	e.mu.Unlock()
	if sess != nil {
		_ = sess.Close()
	}
}

func (e *etcdElector) LeaderInfo(ctx context.Context) (replicaInfo, error) {
	resp, err := e.cli.Get(ctx, e.prefix, clientv3.WithFirstCreate()...)
	if err != nil {
		return replicaInfo{}, err
	}
	if len(resp.Kvs) == 0 {
		return replicaInfo{}, nil
	}
	return parseReplicaInfo(resp.Kvs[0].Value), nil
}

// replicaInfo is what a replica publishes as its election value: who it
// is and where the other replicas reach its API (to forward requests
// only the leader can answer; forward.go).
type replicaInfo struct {
	// ID is the replica's ID (replicaID).
	ID string `json:"id"`
	// URL is the replica's API as the other replicas reach it
	// (--advertise-url, or derived from --listen); "" when it has none.
	URL string `json:"url,omitempty"`
}

// value is i as an election value.
func (i replicaInfo) value() string {
	b, _ := json.Marshal(i)
	return string(b)
}

// parseReplicaInfo reads an election value; a value that is not JSON
// is an ID alone (a replica of a version that published only that).
func parseReplicaInfo(v []byte) replicaInfo {
	var i replicaInfo
	if json.Unmarshal(v, &i) != nil || i.ID == "" {
		return replicaInfo{ID: string(v)}
	}
	return i
}

// newElector is the elector for raw: etcd elects, anything else is solo.
func newElector(raw store.Store, self replicaInfo, ttl time.Duration, log *slog.Logger) elector {
	if s, ok := raw.(*etcdstore.Store); ok {
		return newEtcdElector(s, self, ttl, log)
	}
	return &soloElector{self: self}
}

// lead runs this replica's terms as leader until ctx ends or the
// returned stop is called (which waits for the last term to stop). A term
// starts the provider (unless ProviderNone; its Provisioner and mounts go
// into terms) and srv's operation workers. A solo replica's one term
// starts before lead returns, and its failure is lead's error.
func lead(ctx context.Context, el elector, o Options, st store.Store, pool *registry.AddressPool, ca *tlsca.CA, hosts []string, srv *api.Server, terms *termProvider, log *slog.Logger) (stop func(), err error) {
	start := func(lctx context.Context) (func(), error) {
		cleanup := func() {}
		if o.Provider != ProviderNone {
			p, m, c, err := startProvider(lctx, o, st, pool, ca, hosts, log)
			if err != nil {
				return nil, err
			}
			terms.set(p, m)
			cleanup = c
		}
		if err := srv.StartWorkers(lctx); err != nil {
			terms.set(nil, nil)
			cleanup()
			return nil, err
		}
		return func() { srv.StopWorkers(); terms.set(nil, nil); cleanup() }, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	if el.Solo() {
		lctx, _ := el.Campaign(ctx)
		stopTerm, err := start(lctx)
		if err != nil {
			cancel()
			return nil, err
		}
		go func() { <-ctx.Done(); stopTerm(); el.Resign(ctx); close(done) }()
	} else {
		go func() { leaderLoop(ctx, el, start, log.With("component", "leader")); close(done) }()
	}
	return func() { cancel(); <-done }, nil
}

// termStarter starts a term's work under lctx and returns what stops it.
type termStarter func(lctx context.Context) (stop func(), err error)

// leaderLoop runs terms while ctx lasts: campaign, start, wait for the
// term's end, stop, resign. A term that fails to start is resigned and
// campaigned for again a second later (another replica may do better).
// It returns when ctx ends, after the last term stopped.
func leaderLoop(ctx context.Context, el elector, start termStarter, log *slog.Logger) {
	for ctx.Err() == nil {
		lctx, err := el.Campaign(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("leader election; retrying", "err", err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		log.Info("leading: starting the provider and the operation workers")
		began := time.Now()
		stop, err := start(lctx)
		if err != nil {
			log.Error("starting the leader's work; resigning", "err", err)
			el.Resign(ctx)
			sleepCtx(ctx, time.Second)
			continue
		}
		<-lctx.Done()
		stop()
		el.Resign(ctx)
		if ctx.Err() == nil {
			log.Warn("no longer leading: provider and operation workers stopped", "led", time.Since(began).Round(time.Millisecond))
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// CodeNotLeader: 503, a replica that does not lead was asked what only the
// leader knows (live connection status, gateway instances).
const CodeNotLeader = "NotLeader"

// errNotLeader is what a follower's provider answers.
var errNotLeader = &armerr.Error{Code: CodeNotLeader, Status: http.StatusServiceUnavailable,
	Message: "This replica does not lead; the leader runs the provider (see GET /readyz on each replica)."}

// termProvider is the Provisioner the API server holds for its whole life:
// the current term's provider while this replica leads, errNotLeader
// otherwise. Operations only run during a term, so Realize and the like
// reach the term's provider; reads (connection status, instances) on a
// follower get errNotLeader (a connection's status shows Unknown).
type termProvider struct {
	// name is the provider's name.
	name string
	// cur is the term's provider; nil between terms.
	cur atomic.Pointer[provisionerBox]
	// mounts are the term's extra handlers by path (the lab's API).
	mounts atomic.Pointer[map[string]http.Handler]
}

// provisionerBox holds an interface in an atomic.Pointer.
type provisionerBox struct{ p api.Provisioner }

var (
	_ api.Provisioner            = (*termProvider)(nil)
	_ api.GatewayInstanceLister  = (*termProvider)(nil)
	_ api.PointToSiteProvisioner = (*termProvider)(nil)
)

// set installs a term's provider and mounts (nil: none).
func (t *termProvider) set(p api.Provisioner, mounts map[string]http.Handler) {
	if p == nil {
		t.cur.Store(nil)
		t.mounts.Store(nil)
		return
	}
	t.cur.Store(&provisionerBox{p})
	t.mounts.Store(&mounts)
}

func (t *termProvider) get() (api.Provisioner, error) {
	if b := t.cur.Load(); b != nil {
		return b.p, nil
	}
	return nil, errNotLeader
}

func (t *termProvider) Name() string { return t.name }

func (t *termProvider) Realize(ctx context.Context, v resource.View, obj resource.Object) error {
	p, err := t.get()
	if err != nil {
		return err
	}
	return p.Realize(ctx, v, obj)
}

func (t *termProvider) Teardown(ctx context.Context, v resource.View, obj resource.Object) error {
	p, err := t.get()
	if err != nil {
		return err
	}
	return p.Teardown(ctx, v, obj)
}

func (t *termProvider) ResetGateway(ctx context.Context, v resource.View, gw *resource.VirtualNetworkGateway, vip string) error {
	p, err := t.get()
	if err != nil {
		return err
	}
	return p.ResetGateway(ctx, v, gw, vip)
}

func (t *termProvider) ResetConnection(ctx context.Context, v resource.View, c *resource.Connection) error {
	p, err := t.get()
	if err != nil {
		return err
	}
	return p.ResetConnection(ctx, v, c)
}

func (t *termProvider) ConnectionStatus(ctx context.Context, c *resource.Connection) (resource.ConnectionStatusReport, error) {
	p, err := t.get()
	if err != nil {
		return resource.ConnectionStatusReport{}, err
	}
	return p.ConnectionStatus(ctx, c)
}

func (t *termProvider) GatewayInstances(ctx context.Context, gw *resource.VirtualNetworkGateway) ([]api.GatewayInstance, error) {
	p, err := t.get()
	if err != nil {
		return nil, err
	}
	l, ok := p.(api.GatewayInstanceLister)
	if !ok {
		return nil, nil
	}
	return l.GatewayInstances(ctx, gw)
}

func (t *termProvider) GatewayBGP(ctx context.Context, gw *resource.VirtualNetworkGateway) ([]agentapi.BGPStatus, error) {
	p, err := t.get()
	if err != nil {
		return nil, err
	}
	r, ok := p.(api.GatewayBGPReporter)
	if !ok {
		return nil, nil
	}
	return r.GatewayBGP(ctx, gw)
}

// mount serves path with the term's handler for it; 503 NotLeader
// between terms.
func (t *termProvider) mount(path string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := t.mounts.Load(); m != nil {
			if h := (*m)[path]; h != nil {
				h.ServeHTTP(w, r)
				return
			}
		}
		armerr.Write(w, errNotLeader)
	})
}

// replicaID names this replica in the election and in /readyz: the
// host's name and the API's bound address.
func replicaID(host, addr string) string {
	return strings.TrimSuffix(host, ".") + "/" + addr
}

// p2s is the term's point-to-site side (api.PointToSiteProvisioner): the
// point-to-site actions reach the leader's provider like the others.
func (t *termProvider) p2s() (api.PointToSiteProvisioner, error) {
	p, err := t.get()
	if err != nil {
		return nil, err
	}
	ps, ok := p.(api.PointToSiteProvisioner)
	if !ok {
		return nil, fmt.Errorf("point-to-site is not available with provider %s", t.name)
	}
	return ps, nil
}

func (t *termProvider) VpnServer(ctx context.Context, gw *resource.VirtualNetworkGateway) (resource.VpnServer, error) {
	p, err := t.p2s()
	if err != nil {
		return resource.VpnServer{}, err
	}
	return p.VpnServer(ctx, gw)
}

func (t *termProvider) VpnClientHealth(ctx context.Context, gw *resource.VirtualNetworkGateway) ([]resource.VpnClientConnectionHealthDetail, error) {
	p, err := t.p2s()
	if err != nil {
		return nil, err
	}
	return p.VpnClientHealth(ctx, gw)
}

func (t *termProvider) DisconnectVpnClients(ctx context.Context, gw *resource.VirtualNetworkGateway, ids []string) error {
	p, err := t.p2s()
	if err != nil {
		return err
	}
	return p.DisconnectVpnClients(ctx, gw, ids)
}
