package agent

import (
	"time"

	"github.com/vpngw/vpngw/internal/dataplane"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/ike"
)

// On-demand connections (a PolicyBased gateway's, ike.Peer.OnDemand) are
// up only while they carry traffic, as Azure's PolicyBased tunnels:
//
//   - the loop initiates one when it is configured, and again whenever the
//     data plane reports a packet inside its selectors with no SA
//     (dataplane.EventAcquire, at most once per dataplane.AcquireInterval
//     per tunnel);
//   - the idle check, on the loop's timer every idleCheckEvery(timeouts),
//     reads each such tunnel's packet count (two atomic loads) and
//     terminates the connection once the count has not moved for its idle
//     timeout. The check costs O(1) per on-demand connection.

// idleWatch is the loop's state for on-demand connections.
type idleWatch struct {
	// conns are the on-demand connections with an idle timeout, by name.
	conns map[string]*idleConn
	// every is the check interval; next the time of the next check (zero:
	// no on-demand connection).
	every time.Duration
	next  time.Time
}

// idleConn is one on-demand connection's traffic as last seen.
type idleConn struct {
	timeout time.Duration
	// packets is the tunnel's packet count at the last check where it
	// moved (or the connection came up); since is when that was.
	packets uint64
	since   time.Time
}

// idleCheckEvery is the check interval for the given timeouts: a quarter
// of the shortest, within 250 ms and 30 s.
func idleCheckEvery(shortest time.Duration) time.Duration {
	return min(max(shortest/4, 250*time.Millisecond), 30*time.Second)
}

// setIdle follows a configuration: on-demand connections are watched, and
// new ones (unless ResponderOnly) are initiated once. It runs on the loop
// after the engines have the peers.
func (a *Agent) setIdle(now time.Time, cfg *gwconfig.Instance, peers []ike.Peer) {
	w := &a.idle
	old := w.conns
	w.conns = map[string]*idleConn{}
	var shortest time.Duration
	for i, p := range peers {
		if !p.OnDemand {
			continue
		}
		if _, known := old[p.Name]; !known && p.Mode != ike.ModeResponderOnly {
			if err := a.eng.Initiate(now, p.Name); err != nil {
				a.log.Warn("initiating on-demand connection", "connection", p.Name, "err", err)
			}
		}
		timeout := cfg.Peers[i].IdleTimeout
		if timeout <= 0 {
			continue
		}
		c := old[p.Name]
		if c == nil {
			c = &idleConn{since: now}
		}
		c.timeout = timeout
		w.conns[p.Name] = c
		if shortest == 0 || timeout < shortest {
			shortest = timeout
		}
	}
	if len(w.conns) == 0 {
		w.next = time.Time{}
		return
	}
	w.every = idleCheckEvery(shortest)
	w.next = now.Add(w.every)
}

// checkIdle terminates on-demand connections whose tunnel carried no
// packet for their idle timeout (on the loop, when w.next is due).
func (a *Agent) checkIdle(now time.Time) {
	w := &a.idle
	if w.next.IsZero() || now.Before(w.next) {
		return
	}
	w.next = now.Add(w.every)
	for name, c := range w.conns {
		n, _ := a.dp.TunnelPackets(name)
		switch {
		case !a.eng.Established(name) || n != c.packets:
			c.packets, c.since = n, now
		case now.Sub(c.since) >= c.timeout:
			a.log.Info("on-demand connection idle: deleting its SAs until traffic returns", "connection", name, "idle", now.Sub(c.since).Round(time.Second))
			if err := a.eng.Terminate(now, name); err != nil {
				a.log.Warn("idle teardown", "connection", name, "err", err)
			}
			c.since = now
		}
	}
}

// acquire brings an on-demand connection up for traffic that found no SA.
func (a *Agent) acquire(now time.Time, ev dataplane.Event) {
	g, err := a.eng.of(ev.TunnelID)
	if err != nil || g.Established(ev.TunnelID) {
		return
	}
	a.log.Info("traffic for a connection without SA: initiating", "connection", ev.TunnelID)
	if err := g.Initiate(now, ev.TunnelID); err != nil {
		a.log.Warn("initiating on traffic", "connection", ev.TunnelID, "err", err)
	}
}
