// Package agent runs one gateway instance: it joins the IKE engines
// (IKEv2, package ike, and IKEv1, package ikev1) with the packet data plane (package dataplane) for the
// connections of a Config, serves status, and applies configuration changes
// per connection without disturbing the others. Its configuration is a
// checked gwconfig.Instance; in remote mode (RunRemote) it comes from the
// control plane through the contract of package agentapi.
//
// # Architecture
//
// One goroutine, the IKE loop (Agent.loop), owns both IKE engines
// (engines.go); everything that touches them arrives on channels:
//
//	dataplane IKE handler ──► ikeIn ──┐
//	dataplane SA events ───► events ──┤        ┌► ike.Engine   (IKEv2) ┐
//	Reload / Status / Initiate ► calls ┼─► loop ┤                       ├► host (ike.Host)
//	timer at the earlier NextDeadline ┘        └► ikev1.Engine (IKEv1) ┘      │
//	                                                                           ▼
//	                     dataplane: SendIKE, SetTunnel, Add/Set/RemoveSA
//
// The loop takes the datagrams queued behind the one it woke for together
// (handleIKE, up to 256) and the host holds the engines' sends until the
// burst, or a timer tick, is done: they leave in one
// dataplane.SendIKEBatch, so that the answers to many peers' liveness
// checks cost one system call, not one each.
//
// Datagrams go to an engine by the header's version byte, connections by
// their connectionProtocol; a pointToSite section is one more IKEv2 peer,
// whose clients get data-plane tunnels of their own while they are
// connected (p2s.go). Connections that come up on demand (PolicyBased)
// are initiated by the loop when the data plane reports traffic without an
// SA (an acquire event) and torn down after their idle timeout (idle.go).
//
// One more goroutine refills the engines' key pool (transform.KeyPool):
// MODP key pairs drawn ahead, between exchanges, so that no g^x waits on a
// setup's critical path.
//
// The data plane moves packets on its own goroutines; the loop only
// installs and removes SAs. When a liveness check falls due the engine asks
// the data plane whether the peer sent authenticated ESP (so that checks
// stay quiet while traffic flows).
//
// Status costs the loop nothing per tunnel: after each input the loop
// rebuilds the IKE part of the status of the connections the engine
// reports as changed (ike.Engine.Changed), and only those; Status
// assembles the snapshot on demand in the caller's goroutine and reads the
// traffic counters from the data plane there.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/dataplane"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/ikev1"
	"github.com/vpngw/vpngw/internal/p2s/pool"
	"github.com/vpngw/vpngw/internal/transform"
	"github.com/vpngw/vpngw/internal/tunstat"
)

// Options configure an Agent beyond its Config.
type Options struct {
	// Logger receives the agent's logs; nil is silent.
	Logger *slog.Logger
	// IKE tunes the IKEv2 engine (timers); zero values are defaults.
	IKE ike.Config
	// IKEv1 tunes the IKEv1 engine; zero values are defaults.
	IKEv1 ikev1.Config
	// Lookup resolves remoteFqdn (default net.LookupHost).
	Lookup func(host string) ([]string, error)
	// OnChange, if set, is called whenever the status changed, from a
	// goroutine of its own (never the loop): changes that happen while it
	// runs are reported by one more call. It is not given the status:
	// building one costs work proportional to the tunnels, which the
	// caller does (Status) only when it needs it.
	OnChange func()
	// TrackChanges keeps the names of the connections and clients whose
	// status changed, so that TakeChanges can hand over just those
	// (remote mode's reports); without it TakeChanges always says All.
	TrackChanges bool
}

// Agent is one running gateway instance.
type Agent struct {
	log  *slog.Logger
	opts Options

	cfg  *gwconfig.Instance // owned by the loop
	p2s  *p2sState          // the point-to-site template (loop-owned; nil: none)
	dp   *dataplane.Dataplane
	eng  *engines
	host *host

	ikeIn  chan ike.Packet
	events chan dataplane.Event
	calls  chan func()
	done   chan struct{}

	// book holds the connections' IKE status, updated by the loop for
	// changed connections only; see Status.
	book    statusBook
	changed chan struct{} // pokes the OnChange notifier (capacity 1)
	started time.Time
	waiters []waiter     // InitiateWait callers (loop-owned)
	idle    idleWatch    // on-demand connections (loop-owned; idle.go)
	upAt    atomic.Value // time.Time a waiter's connection came up
	// ikeQueueFull counts IKE datagrams dropped because the loop was
	// behind (ikeIn full); see metrics.go.
	ikeQueueFull atomic.Uint64

	// bgp is the BGP speaker (loop-owned; nil without bgpSettings) and
	// bgpCur the same for Status; bgpKick (capacity 1) tells the loop
	// that learned routes changed (bgp.go).
	bgp     *bgpRouting
	bgpCur  atomic.Pointer[bgpRouting]
	bgpKick chan struct{}
}

// New prepares an agent for a checked configuration; Run starts it.
func New(cfg *gwconfig.Instance, opts Options) (*Agent, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Agent{
		log:    log,
		opts:   opts,
		cfg:    cfg,
		ikeIn:  make(chan ike.Packet, 256),
		events: make(chan dataplane.Event, 64),
		calls:  make(chan func()),
		done:   make(chan struct{}),

		changed: make(chan struct{}, 1),
		bgpKick: make(chan struct{}, 1),
	}
	a.book.conns = map[string]ConnectionStatus{}
	a.book.clients = map[string]ConnectionStatus{}
	a.book.trackChanges = opts.TrackChanges
	a.book.name = cfg.Name
	return a, nil
}

// envRawESPSend set to "socket" sends raw ESP through the raw IP socket
// only (dataplane.Config.RawSocketSend), without the AF_PACKET path.
const envRawESPSend = "VPNGW_RAW_ESP_SEND"

// Run opens the data plane in the current network namespace, negotiates
// the configured connections and serves until ctx is cancelled. On the way
// out it deletes its SAs on the peers and removes its routes and TUN.
func (a *Agent) Run(ctx context.Context) error {
	peers, err := peers(a.cfg, a.opts.Lookup)
	if err != nil {
		return err
	}
	dcfg := dataplane.Config{
		TUNName:   a.cfg.Tunnel.Device,
		MTU:       a.cfg.Tunnel.MTU,
		Addresses: a.cfg.TunnelAddrs,
		IKEPort:   uint16(a.cfg.IKEPort),
		NATTPort:  uint16(a.cfg.NATTPort),
		RawESP:    *a.cfg.RawESP,
		// An escape hatch and the benchmark's A/B switch (docs/dataplane.md).
		RawSocketSend: os.Getenv(envRawESPSend) == "socket",
		Logger:        a.log.With("component", "dataplane"),
	}
	if a.cfg.ThroughputLimitMbps > 0 {
		dcfg.Limiter = dataplane.NewFairShare(float64(a.cfg.ThroughputLimitMbps)*1e6, 0)
	}
	dp, err := dataplane.Open(ctx, dcfg)
	if err != nil {
		return fmt.Errorf("agent: opening the data plane: %w", err)
	}
	a.dp = dp
	a.host = newHost(a, dp)
	// MODP key pairs drawn ahead, between exchanges (transform.KeyPool),
	// shared by both engines, unless a test set its own randomness.
	v2cfg, v1cfg := a.opts.IKE, a.opts.IKEv1
	if v2cfg.Keys == nil && v1cfg.Keys == nil && v2cfg.Rand == nil && v1cfg.Rand == nil {
		keys := transform.NewKeyPool(0, 0, nil)
		v2cfg.Keys, v1cfg.Keys = keys, keys
		kctx, stopKeys := context.WithCancel(ctx)
		var kwg sync.WaitGroup
		kwg.Go(func() { keys.Run(kctx) })
		defer func() { stopKeys(); kwg.Wait() }()
	}
	a.eng = newEngines(ike.New(v2cfg, liveHost{a.host}, a.log.With("component", "ike")),
		ikev1.New(v1cfg, liveHost{a.host}, a.log.With("component", "ikev1")))
	a.started = time.Now()
	dp.SetIKEHandler(func(p dataplane.IKEPacket) {
		pkt := ike.Packet{Data: append([]byte(nil), p.Data...), Local: p.Local, Remote: p.Remote}
		select {
		case a.ikeIn <- pkt:
		default: // the loop is overloaded: drop (IKE retransmits)
			a.ikeQueueFull.Add(1)
		}
	})
	dp.SetEventHandler(func(ev dataplane.Event) {
		select {
		case a.events <- ev:
		case <-a.done:
		}
	})
	if err := a.host.setTunnels(a.cfg, peers); err != nil {
		a.dp.Close()
		return err
	}
	if a.p2s, err = newP2S(nil, a.cfg, a.newRelay); err != nil {
		a.dp.Close()
		return err
	}
	if err := dp.SetCoveringRoutes(a.p2s.routes()); err != nil {
		a.dp.Close()
		return fmt.Errorf("agent: point-to-site pool route: %w", err)
	}
	if err := a.eng.SetPeers(time.Now(), a.cfg, peers, a.p2s.peer(a.cfg)); err != nil {
		a.dp.Close()
		return err
	}
	a.setIdle(time.Now(), a.cfg, peers)
	if err := a.setBGP(ctx, a.cfg); err != nil {
		a.stopBGP()
		a.eng.Close(time.Now())
		a.host.removeAll()
		a.dp.Close()
		return fmt.Errorf("agent: BGP: %w", err)
	}
	a.log.Info("agent running", "name", a.cfg.Name, "local", a.cfg.LocalAddress, "tun", dp.TUNName(), "connections", len(peers))
	if a.opts.OnChange != nil {
		go a.notifyStatus(ctx)
	}
	a.loop(ctx)
	close(a.done)
	a.stopBGP()
	a.eng.Close(time.Now())
	a.host.removeAll()
	return dp.Close()
}

// loop is the IKE loop; see the package comment.
func (a *Agent) loop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	a.refresh()
	for {
		d := a.eng.NextDeadline()
		if n := a.idle.next; !n.IsZero() && (d.IsZero() || n.Before(d)) {
			d = n
		}
		if !d.IsZero() {
			timer.Reset(max(time.Until(d), 0))
		} else {
			timer.Reset(time.Hour)
		}
		select {
		case <-ctx.Done():
			return
		case p := <-a.ikeIn:
			a.handleIKE(p)
		case ev := <-a.events:
			a.dataplaneEvent(ev)
		case f := <-a.calls:
			f()
		case <-a.bgpKick:
			a.applyLearned()
		case <-timer.C:
			now := time.Now()
			a.host.sendLater()
			a.eng.Tick(now)
			a.checkIdle(now)
			a.host.flush()
		}
		if a.host.dirty && len(a.waiters) > 0 {
			a.notifyWaiters()
		}
		a.publish()
	}
}

// ikeDrainMax bounds the datagrams the loop handles in one go (handleIKE)
// before it looks at its other inputs.
const ikeDrainMax = 256

// handleIKE hands p, and the datagrams queued behind it, to the engines,
// and sends their answers together: a burst of liveness checks from many
// peers costs one sendmmsg per 256 answers, not one per answer.
func (a *Agent) handleIKE(p ike.Packet) {
	a.host.sendLater()
	defer a.host.flush()
	a.eng.HandlePacket(time.Now(), p)
	for range ikeDrainMax - 1 {
		select {
		case p := <-a.ikeIn:
			a.eng.HandlePacket(time.Now(), p)
		default:
			return
		}
	}
}

// do runs f on the loop and waits; it fails if the agent is not running.
func (a *Agent) do(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case a.calls <- func() { f(); close(done) }:
	case <-a.done:
		return errors.New("agent: not running")
	case <-ctx.Done():
		return ctx.Err()
	}
	<-done
	return nil
}

func (a *Agent) dataplaneEvent(ev dataplane.Event) {
	now := time.Now()
	if ev.Kind == dataplane.EventAcquire {
		a.acquire(now, ev)
		return
	}
	in := ev.SPI
	if !ev.Inbound {
		in = a.host.inSPIForOut(ev.SPI)
		if in == 0 {
			return
		}
	}
	switch ev.Kind {
	case dataplane.EventSoftLifetime, dataplane.EventSeqNearExhaustion:
		a.log.Info("SA needs a rekey", "tunnel", ev.TunnelID, "spi", fmt.Sprintf("%08x", ev.SPI), "why", ev.Kind)
		a.eng.SoftLimit(now, ev.TunnelID, in)
	case dataplane.EventHardLifetime, dataplane.EventSeqExhausted:
		a.log.Warn("SA reached its hard limit", "tunnel", ev.TunnelID, "spi", fmt.Sprintf("%08x", ev.SPI), "why", ev.Kind)
		a.eng.HardLimit(now, ev.TunnelID, in)
	}
}

// liveHost is the engine's host: the agent's host, plus the data plane's
// last-ESP times for liveness checks (ike.LastReceiver).
type liveHost struct{ *host }

func (h liveHost) LastReceived(peer string) (time.Time, bool) { return h.dp.LastReceived(peer) }

// Reload applies a new configuration: connections whose settings did not
// change keep their SAs; changed ones are renegotiated; removed ones are
// deleted on the peer. A change that needs a restart
// (gwconfig.RestartFields) is refused and changes nothing.
func (a *Agent) Reload(ctx context.Context, cfg *gwconfig.Instance) error {
	if f := gwconfig.RestartFields(&a.cfg.Config, &cfg.Config); len(f) > 0 {
		return fmt.Errorf("%w: %s: changing the TUN device, its MTU, ports, raw ESP, local address, throughput limit or BGP peering address needs a restart",
			gwconfig.ErrInvalid, strings.Join(f, ", "))
	}
	peers, err := peers(cfg, a.opts.Lookup)
	if err != nil {
		return err
	}
	var rerr error
	err = a.do(ctx, func() {
		now := time.Now()
		// Tunnels for new connections first (so their SAs can install),
		// then IKE, then tunnels of removed connections.
		if rerr = a.host.setTunnels(cfg, peers); rerr != nil {
			return
		}
		p2s, err := newP2S(a.p2s, cfg, a.newRelay)
		if err != nil {
			rerr = err
			return
		}
		if rerr = a.dp.SetCoveringRoutes(p2s.routes()); rerr != nil {
			rerr = fmt.Errorf("agent: point-to-site pool route: %w", rerr)
			return
		}
		if rerr = a.eng.SetPeers(now, cfg, peers, p2s.peer(cfg)); rerr != nil {
			return
		}
		a.p2s = p2s
		a.setIdle(now, cfg, peers)
		a.host.pruneTunnels(peers)
		a.cfg = cfg
		if rerr = a.setBGP(ctx, cfg); rerr != nil {
			rerr = fmt.Errorf("agent: BGP: %w", rerr)
		}
		a.applyLearned()
		a.log.Info("configuration reloaded", "connections", len(peers))
		a.refresh()
	})
	if err != nil {
		return err
	}
	return rerr
}

// Initiate starts negotiating a connection now (if it has no IKE SA).
func (a *Agent) Initiate(ctx context.Context, name string) error {
	var ierr error
	err := a.do(ctx, func() { ierr = a.eng.Initiate(time.Now(), name) })
	if err != nil {
		return err
	}
	return ierr
}

// Terminate deletes a connection's SAs on both sides; see ike.Engine.Terminate.
func (a *Agent) Terminate(ctx context.Context, name string) error {
	var terr error
	err := a.do(ctx, func() { terr = a.eng.Terminate(time.Now(), name) })
	if err != nil {
		return err
	}
	return terr
}

// ResetConnection resets one connection (Azure's resetconnection): its SAs
// are deleted, the peer told, and negotiated again at once (a
// ResponderOnly connection waits for the peer). Other connections are not
// touched.
func (a *Agent) ResetConnection(ctx context.Context, name string) error {
	var rerr error
	err := a.do(ctx, func() {
		now := time.Now()
		if rerr = a.eng.Terminate(now, name); rerr != nil {
			return
		}
		responderOnly := false
		for _, c := range a.cfg.Connections {
			if c.Name == name {
				responderOnly = c.ConnectionMode == "ResponderOnly"
			}
		}
		if !responderOnly {
			rerr = a.eng.Initiate(now, name)
		}
	})
	if err != nil {
		return err
	}
	return rerr
}

// InitiateWait starts negotiating a connection and waits until it is
// Connected (an IKE SA with a Child SA installed), returning how long that
// took as measured by the agent.
func (a *Agent) InitiateWait(ctx context.Context, name string) (time.Duration, error) {
	var start time.Time
	var ierr error
	up := make(chan struct{}, 1)
	err := a.do(ctx, func() {
		start = time.Now()
		a.waiters = append(a.waiters, waiter{name: name, ch: up})
		ierr = a.eng.Initiate(start, name)
		if ierr == nil && a.eng.Established(name) {
			a.notifyWaiters()
		}
	})
	if err != nil {
		return 0, err
	}
	if ierr != nil {
		return 0, ierr
	}
	select {
	case <-up:
		return a.upAt.Load().(time.Time).Sub(start), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// waiter is an InitiateWait caller.
type waiter struct {
	name string
	ch   chan struct{}
}

// notifyWaiters wakes InitiateWait callers whose connection is up (on the
// loop, right after the engine installed a Child SA).
func (a *Agent) notifyWaiters() {
	kept := a.waiters[:0]
	for _, w := range a.waiters {
		if a.eng.Established(w.name) {
			a.upAt.Store(time.Now())
			w.ch <- struct{}{}
			continue
		}
		kept = append(kept, w)
	}
	a.waiters = kept
}

// Rekey rekeys a connection's Child SAs, or its IKE SA, now.
func (a *Agent) Rekey(ctx context.Context, name string, ikeSA bool) error {
	var rerr error
	err := a.do(ctx, func() { rerr = a.eng.Rekey(time.Now(), name, ikeSA) })
	if err != nil {
		return err
	}
	return rerr
}

// Status returns the instance's status, assembled now: the IKE state as of
// the loop's last event and the traffic counters read from the data plane.
// It runs in the caller's goroutine, costs O(connections) there and
// nothing on the loop.
func (a *Agent) Status() Status { return a.StatusFor(StatusQuery{}) }

// StatusFor is Status listing the point-to-site clients q picks: none
// costs nothing per client, and a few named ones a walk of the client
// entries without copying or reading the counters of the others.
func (a *Agent) StatusFor(q StatusQuery) Status {
	m := newClientMatcher(q.Clients)
	b := &a.book
	b.mu.Lock()
	st, dp, pl := b.gatewayLocked()
	st.Connections = b.connectionsLocked()
	if st.PointToSite != nil && !q.NoClients {
		n := len(b.clients)
		if m != nil {
			n = 0
		}
		st.PointToSite.Clients = make([]ConnectionStatus, 0, n)
		for _, cs := range b.clients {
			if m.matches(&cs) {
				st.PointToSite.Clients = append(st.PointToSite.Clients, cs)
			}
		}
	}
	b.mu.Unlock()
	sortByName(st.Connections)
	if st.PointToSite != nil {
		sortByName(st.PointToSite.Clients)
	}
	a.finishStatus(&st, dp, pl)
	return st
}

// StatusChanges is the instance's status as the changes since the last
// TakeChanges (or DropChanges).
type StatusChanges struct {
	// All says the changes are not known (TrackChanges is off): the
	// caller needs Status. The other fields are then empty.
	All bool
	// Gateway is the gateway-wide part of the status, read now (no
	// connections and no clients).
	Gateway Status
	// Conns and Clients are the connections and point-to-site clients
	// added or changed, with their traffic counters read now.
	Conns, Clients []ConnectionStatus
	// Removed names the connections and clients gone.
	Removed []string
}

// TakeChanges returns the status changes since the last call and forgets
// them (Options.TrackChanges). It costs work proportional to the changed
// entries, not to the tunnels: remote mode reports a client's rekey among
// 10,000 clients by reading that client's entry and counters alone. The
// entries of unchanged tunnels keep the traffic counters the caller last
// had; Status reads them all.
func (a *Agent) TakeChanges() StatusChanges {
	b := &a.book
	b.mu.Lock()
	if !b.trackChanges {
		b.changedNames = emptiedNames(b.changedNames)
		b.mu.Unlock()
		return StatusChanges{All: true}
	}
	var ch StatusChanges
	for name := range b.changedNames {
		if cs, ok := b.conns[name]; ok {
			ch.Conns = append(ch.Conns, cs)
		} else if cs, ok := b.clients[name]; ok {
			ch.Clients = append(ch.Clients, cs)
		} else {
			ch.Removed = append(ch.Removed, name)
		}
	}
	b.changedNames = emptiedNames(b.changedNames)
	st, dp, pl := b.gatewayLocked()
	b.mu.Unlock()
	a.finishStatus(&st, dp, pl)
	if dp != nil {
		addTraffic(ch.Conns, dp.TunnelStats)
		addTraffic(ch.Clients, dp.TunnelStats)
	}
	ch.Gateway = st
	return ch
}

// TrafficSeq is the data plane's dataplane.Dataplane.TrafficSeq (0
// without one): it changes after every change of a tunnel's traffic
// counters, so a caller that read it before Status and finds it the same
// later knows every tunnel's counters it holds are still current.
func (a *Agent) TrafficSeq() uint64 {
	b := &a.book
	b.mu.Lock()
	dp := b.dp
	b.mu.Unlock()
	if dp == nil {
		return 0
	}
	return dp.TrafficSeq()
}

// DropChanges forgets the changes logged so far, for a caller about to
// build the full Status.
func (a *Agent) DropChanges() {
	b := &a.book
	b.mu.Lock()
	b.changedNames = emptiedNames(b.changedNames)
	b.mu.Unlock()
}

// emptiedNames returns m emptied: a set that grew large (a mass setup) is
// dropped rather than cleared, since clearing and iterating a map costs
// its largest size.
func emptiedNames(m map[string]struct{}) map[string]struct{} {
	if len(m) > 64 {
		return map[string]struct{}{}
	}
	clear(m)
	return m
}

// gatewayLocked returns the gateway-wide part of the status as the book
// holds it (its point-to-site part a copy without clients), the data
// plane and the address pool; b.mu is held.
func (b *statusBook) gatewayLocked() (Status, *dataplane.Dataplane, *pool.Pool) {
	st := Status{Name: b.name, LocalAddress: b.local, Started: b.started, TUN: b.tun}
	if b.p2s != nil {
		p := *b.p2s
		p.ClientCount = len(b.clients)
		st.PointToSite = &p
	}
	return st, b.dp, b.pool
}

// connectionsLocked copies the connections' entries, without traffic
// counters, in no order (b.mu held).
func (b *statusBook) connectionsLocked() []ConnectionStatus {
	cs := make([]ConnectionStatus, 0, len(b.conns))
	for _, c := range b.conns {
		cs = append(cs, c)
	}
	return cs
}

// finishStatus completes st's gateway-wide part (the data plane's and
// the pool's counters, BGP) and reads the traffic counters of the
// connections and clients it lists.
func (a *Agent) finishStatus(st *Status, dp *dataplane.Dataplane, pl *pool.Pool) {
	if dp != nil {
		g := dp.Stats()
		st.Dataplane = &g
		addTraffic(st.Connections, dp.TunnelStats)
	}
	st.BGP = a.bgpStatus()
	if p := st.PointToSite; p != nil {
		if dp != nil {
			addTraffic(p.Clients, dp.TunnelStats)
		}
		if pl != nil {
			p.LeasedAddresses, p.PoolSize = pl.Stats()
		}
	}
}

func sortByName(cs []ConnectionStatus) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
}

// addTraffic fills in the traffic counters of cs (read: the data plane's
// TunnelStats), into one allocation.
func addTraffic(cs []ConnectionStatus, read func(string) (tunstat.TunnelStats, bool)) {
	if len(cs) == 0 {
		return
	}
	fresh := make([]tunstat.TunnelStats, 0, len(cs)) // never grows: the pointers below stay valid
	for i := range cs {
		c := &cs[i]
		if ts, ok := read(c.Name); ok {
			fresh = append(fresh, ts)
			c.Traffic = &fresh[len(fresh)-1]
			c.IngressBytes, c.EgressBytes = ts.RxBytes, ts.TxBytes
		}
	}
}

// statusBook is the IKE part of the status, per connection. The loop
// writes it; Status reads it.
type statusBook struct {
	mu          sync.Mutex // guards the fields below but byName
	name, local string
	tun         string
	started     time.Time
	dp          *dataplane.Dataplane
	ikeDrops    []*ike.DropCounters         // the engines' (read without the loop)
	conns       map[string]ConnectionStatus // without traffic counters
	updates     uint64                      // connection entries rebuilt (for tests)
	// trackChanges is Options.TrackChanges. changedNames then names the
	// connections and clients changed since TakeChanges last ran (a
	// configuration change names every connection, not the clients: see
	// refresh).
	trackChanges bool
	changedNames map[string]struct{}
	// p2s is the point-to-site template's part (nil: none; no clients
	// and no pool counts) and clients its clients, without traffic
	// counters; pool is the template's address pool.
	p2s     *PointToSiteStatus
	clients map[string]ConnectionStatus
	pool    *pool.Pool

	byName      map[string]gwconfig.Connection // the configuration as of the last refresh (loop-owned)
	policyBased bool                           // the gateway is PolicyBased (loop-owned)
	p2sName     string                         // the point-to-site template's name (loop-owned)
}

// refresh rebuilds the status book's configured part (on the loop, at
// start and on every configuration change): the gateway-wide fields, the
// connections and the point-to-site template, work proportional to the
// configuration. Point-to-site clients keep their entries: a reload
// changes a client only by ending it (a changed or removed template, a
// revoked certificate, a removed user), and the engine reports each one it
// ends, like any other change, to the publish at the end. So a reload of a
// gateway with 10,000 clients neither rebuilds 10,000 entries on the loop
// nor makes remote mode report the whole status again.
func (a *Agent) refresh() {
	b := &a.book
	b.policyBased = a.cfg.VPNType == gwconfig.PolicyBased
	b.byName = make(map[string]gwconfig.Connection, len(a.cfg.Connections))
	for _, c := range a.cfg.Connections {
		b.byName[c.Name] = c
	}
	b.p2sName = a.p2s.name()
	b.mu.Lock()
	b.name, b.local, b.started, b.dp = a.cfg.Name, a.cfg.LocalAddress, a.started, a.dp
	b.ikeDrops = a.eng.Drops()
	if a.dp != nil {
		b.tun = a.dp.TUNName()
	}
	// Every connection's entry is rebuilt below, or gone: both are changes.
	for name := range b.conns {
		b.logChange(name)
	}
	clear(b.conns)
	b.p2s, b.pool = nil, nil
	if s := a.p2s; s != nil {
		b.p2s = &PointToSiteStatus{Name: s.cfg.Name, AddressPool: s.cfg.AddressPool}
		b.pool = s.ra.Pool
	}
	b.mu.Unlock()
	for _, name := range a.eng.ConfiguredPeers() {
		a.updateConn(name)
	}
	// Clients the engine dropped with their template (a changed or removed
	// pointToSite section) are changed peers: the publish below removes
	// their entries and tunnels. A tunnel left without a client goes too.
	for name := range a.host.clients {
		if _, ok := a.eng.v2.Client(name); !ok {
			a.host.dropClient(name)
		}
	}
	a.host.dirty = true // the gateway-wide part changed
	a.publish()
}

// publish updates the status of the connections the engine reports as
// changed since the last call (on the loop, after every input): work
// proportional to the changes, whatever the number of connections.
func (a *Agent) publish() {
	n := 0
	a.eng.Changed(func(name string) {
		a.updateConn(name)
		n++
	})
	if n > 0 || a.host.dirty {
		a.host.dirty = false
		a.poke()
	}
}

// updateConn rebuilds one connection's entry in the book (or a
// point-to-site client's, or the template's). A client the engine no
// longer has loses its tunnel here.
func (a *Agent) updateConn(name string) {
	b := &a.book
	ps, ok := a.eng.PeerStatus(name)
	if !ok {
		b.mu.Lock()
		delete(b.conns, name)
		delete(b.clients, name)
		b.logChange(name)
		b.mu.Unlock()
		a.host.dropClient(name)
		return
	}
	if name == b.p2sName && b.p2sName != "" {
		b.mu.Lock()
		if b.p2s != nil {
			b.p2s.LastError = ps.LastError
		}
		b.updates++
		b.mu.Unlock()
		return
	}
	cs := ConnectionStatus{PeerStatus: ps, Status: "Connecting"}
	into := b.conns
	if ps.Client != nil {
		// A point-to-site client: its address is its one routed prefix.
		into = b.clients
		cs.RemotePrefixes = []string{netip.PrefixFrom(ps.Client.VirtualIP, 32).String()}
	} else if c, ok := b.byName[name]; ok {
		cs.RemotePrefixes = c.RemotePrefixes
		// A connection that waits for the peer, or (on demand) for
		// traffic, is not "connecting" while down.
		if c.ConnectionMode == "ResponderOnly" || b.policyBased {
			cs.Status = "NotConnected"
		}
	}
	if a.eng.Established(name) {
		cs.Status = "Connected"
	}
	cs.LastConnected = a.host.lastUp[name]
	b.mu.Lock()
	into[name] = cs
	b.updates++
	b.logChange(name)
	b.mu.Unlock()
}

// logChange notes that name's entry changed (b.mu is held).
func (b *statusBook) logChange(name string) {
	if !b.trackChanges {
		return
	}
	if b.changedNames == nil {
		b.changedNames = map[string]struct{}{}
	}
	b.changedNames[name] = struct{}{}
}

// poke wakes the OnChange notifier, if any.
func (a *Agent) poke() {
	if a.opts.OnChange == nil {
		return
	}
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

// notifyStatus calls OnChange after changes, off the loop.
func (a *Agent) notifyStatus(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.changed:
			a.opts.OnChange()
		}
	}
}

// Status is the instance's status snapshot, the agent API's (served on
// the status socket and reported to the control plane).
type Status = agentapi.Status

// ConnectionStatus is one connection's part of a Status.
type ConnectionStatus = agentapi.ConnectionStatus

// PointToSiteStatus is the point-to-site part of a Status.
type PointToSiteStatus = agentapi.PointToSiteStatus
