// Package agent runs one gateway instance: it joins the IKEv2 engine
// (package ike) with the packet data plane (package dataplane) for the
// connections of a Config, serves status, and applies configuration changes
// per connection without disturbing the others. Its configuration is a
// checked gwconfig.Instance; in remote mode (RunRemote) it comes from the
// control plane through the contract of package agentapi.
//
// # Architecture
//
// One goroutine, the IKE loop (Agent.loop), owns the ike.Engine; everything
// that touches it arrives on channels:
//
//	dataplane IKE handler ──► ikeIn ──┐
//	dataplane SA events ───► events ──┤
//	Reload / Status / Initiate ► calls ┼─► loop ─► Engine ─► host (ike.Host)
//	timer at Engine.NextDeadline ─────┘                      │
//	                                                         ▼
//	                     dataplane: SendIKE, SetTunnel, Add/Set/RemoveSA
//
// The data plane moves packets on its own goroutines; the loop only
// installs and removes SAs. Every second the loop tells the engine which
// peers sent authenticated ESP (so that liveness checks stay quiet while
// traffic flows) and refreshes the status snapshot.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/dataplane"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/ike"
)

// Options configure an Agent beyond its Config.
type Options struct {
	// Logger receives the agent's logs; nil is silent.
	Logger *slog.Logger
	// IKE tunes the engine (timers); zero values are defaults.
	IKE ike.Config
	// Lookup resolves remoteFqdn (default net.LookupHost).
	Lookup func(host string) ([]string, error)
	// OnStatus, if set, is called from the loop whenever the status
	// changes (at most once per second and on every event).
	OnStatus func(Status)
}

// Agent is one running gateway instance.
type Agent struct {
	log  *slog.Logger
	opts Options

	cfg  *gwconfig.Instance // owned by the loop
	dp   *dataplane.Dataplane
	eng  *ike.Engine
	host *host

	ikeIn  chan ike.Packet
	events chan dataplane.Event
	calls  chan func()
	done   chan struct{}

	status  atomic.Pointer[Status]
	started time.Time
	waiters []waiter     // InitiateWait callers (loop-owned)
	upAt    atomic.Value // time.Time a waiter's connection came up
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
	}
	a.status.Store(&Status{Name: cfg.Name})
	return a, nil
}

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
		Logger:    a.log.With("component", "dataplane"),
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
	a.eng = ike.New(a.opts.IKE, a.host, a.log.With("component", "ike"))
	a.started = time.Now()
	dp.SetIKEHandler(func(p dataplane.IKEPacket) {
		pkt := ike.Packet{Data: append([]byte(nil), p.Data...), Local: p.Local, Remote: p.Remote}
		select {
		case a.ikeIn <- pkt:
		default: // the loop is overloaded: drop (IKE retransmits)
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
	if err := a.eng.SetPeers(time.Now(), peers); err != nil {
		a.dp.Close()
		return err
	}
	a.log.Info("agent running", "name", a.cfg.Name, "local", a.cfg.LocalAddress, "tun", dp.TUNName(), "connections", len(peers))
	a.loop(ctx)
	close(a.done)
	a.eng.Close(time.Now())
	a.host.removeAll()
	return dp.Close()
}

// loop is the IKE loop; see the package comment.
func (a *Agent) loop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	second := time.NewTicker(time.Second)
	defer second.Stop()
	a.refresh()
	for {
		if d := a.eng.NextDeadline(); !d.IsZero() {
			timer.Reset(max(time.Until(d), 0))
		} else {
			timer.Reset(time.Hour)
		}
		select {
		case <-ctx.Done():
			return
		case p := <-a.ikeIn:
			a.eng.HandlePacket(time.Now(), p)
		case ev := <-a.events:
			a.dataplaneEvent(ev)
		case f := <-a.calls:
			f()
		case <-timer.C:
			a.eng.Tick(time.Now())
		case <-second.C:
			a.feedLiveness()
			a.refresh()
			continue
		}
		if a.host.dirty {
			if len(a.waiters) > 0 {
				a.notifyWaiters()
			}
			a.refresh()
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
		a.eng.SoftLimit(now, in)
	case dataplane.EventHardLifetime, dataplane.EventSeqExhausted:
		a.log.Warn("SA reached its hard limit", "tunnel", ev.TunnelID, "spi", fmt.Sprintf("%08x", ev.SPI), "why", ev.Kind)
		a.eng.HardLimit(now, in)
	}
}

// feedLiveness tells the engine which peers sent authenticated ESP.
func (a *Agent) feedLiveness() {
	for _, name := range a.eng.Peers() {
		if t, ok := a.dp.LastReceived(name); ok {
			a.eng.PeerAlive(name, t)
		}
	}
}

// Reload applies a new configuration: connections whose settings did not
// change keep their SAs; changed ones are renegotiated; removed ones are
// deleted on the peer. A change that needs a restart
// (gwconfig.RestartFields) is refused and changes nothing.
func (a *Agent) Reload(ctx context.Context, cfg *gwconfig.Instance) error {
	if f := gwconfig.RestartFields(&a.cfg.Config, &cfg.Config); len(f) > 0 {
		return fmt.Errorf("%w: %s: changing the TUN device, its MTU, ports, raw ESP, local address or throughput limit needs a restart",
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
		if rerr = a.eng.SetPeers(now, peers); rerr != nil {
			return
		}
		a.host.pruneTunnels(peers)
		a.cfg = cfg
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

// Status returns the latest status snapshot (refreshed every second and on
// every change).
func (a *Agent) Status() Status { return *a.status.Load() }

// refresh rebuilds the status snapshot (on the loop).
func (a *Agent) refresh() {
	a.host.dirty = false
	st := Status{Name: a.cfg.Name, LocalAddress: a.cfg.LocalAddress, Started: a.started}
	if a.dp != nil {
		st.TUN = a.dp.TUNName()
		g := a.dp.Stats()
		st.Dataplane = &g
	}
	conns := map[string]gwconfig.Connection{}
	for _, c := range a.cfg.Connections {
		conns[c.Name] = c
	}
	for _, ps := range a.eng.Status() {
		cs := ConnectionStatus{PeerStatus: ps, Status: "Connecting"}
		if c, ok := conns[ps.Name]; ok {
			cs.RemotePrefixes = c.RemotePrefixes
			if c.ConnectionMode == "ResponderOnly" {
				cs.Status = "NotConnected"
			}
		}
		if a.eng.Established(ps.Name) {
			cs.Status = "Connected"
		}
		if ts, ok := a.dp.TunnelStats(ps.Name); ok {
			cs.Traffic = &ts
			cs.IngressBytes, cs.EgressBytes = ts.RxBytes, ts.TxBytes
		}
		cs.LastConnected = a.host.lastUp[ps.Name]
		st.Connections = append(st.Connections, cs)
	}
	sort.Slice(st.Connections, func(i, j int) bool { return st.Connections[i].Name < st.Connections[j].Name })
	a.status.Store(&st)
	if a.opts.OnStatus != nil {
		a.opts.OnStatus(st)
	}
}

// Status is the instance's status snapshot, the agent API's (served on
// the status socket and reported to the control plane).
type Status = agentapi.Status

// ConnectionStatus is one connection's part of a Status.
type ConnectionStatus = agentapi.ConnectionStatus
