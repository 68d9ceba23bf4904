package ike

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/vpngw/vpngw/internal/ike/message"
)

type netipPrefix = netip.Prefix

// netipAddrPortNoPort keeps the address of ap with port 0 (raw ESP has no
// ports).
func netipAddrPortNoPort(ap netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(ap.Addr(), 0) }

// handleInformationalRequest answers INFORMATIONAL requests: Deletes and
// liveness checks (an empty request).
func (sa *ikeSA) handleInformationalRequest(now time.Time, m *message.Message) {
	var answer []message.Payload
	deleteIKE := false
	var ourDeleted []*childSA
	for _, d := range m.Deletes() {
		switch d.Protocol {
		case message.ProtoIKE:
			deleteIKE = true
		case message.ProtoESP, message.ProtoAH:
			resp := &message.Delete{Protocol: d.Protocol}
			for _, spi := range d.SPIs {
				if len(spi) != 4 {
					continue
				}
				c := sa.childByOutSPI(binary.BigEndian.Uint32(spi))
				if c == nil {
					continue
				}
				resp.SPIs = append(resp.SPIs, spiBytes(c.inSPI))
				ourDeleted = append(ourDeleted, c)
			}
			if len(resp.SPIs) > 0 {
				answer = append(answer, resp)
			}
		}
	}
	if deleteIKE {
		sa.respond(now, m, nil)
		sa.e.log.Info("peer deleted the IKE SA", sa.logAttrs()...)
		if sa.rekeyedTo != nil {
			// The old SA of a rekey: its Child SAs already moved.
			sa.destroy(now, "rekeyed")
			return
		}
		sa.destroy(now, "deleted by peer")
		return
	}
	for _, c := range ourDeleted {
		switch {
		case c.replacedBy != nil && c.replacedBy.state == chInstalled:
			// The initiator of a rekey deletes the old SA: switch our
			// outbound traffic to the new one and let the old inbound SA
			// linger for packets in flight.
			sa.activateOutbound(c.replacedBy)
			c.state = chRekeyed
			c.removeAt = now.Add(sa.e.cfg.RekeyGrace)
			if r := c.redundant; r != nil {
				// Our own rekey of it lost the collision: delete it now
				// that nothing is sent on it.
				c.redundant = nil
				sa.deleteChildren(now, []*childSA{r})
			}
		case c.state == chRekeying && c.peerRekey != nil:
			// Simultaneous rekey: the peer's exchange won and it deletes
			// the old SA.
			sa.activateOutbound(c.peerRekey)
			c.replacedBy = c.peerRekey
			c.state = chRekeyed
			c.removeAt = now.Add(sa.e.cfg.RekeyGrace)
		case c.state == chRekeyed:
			if c.removeAt.IsZero() || c.removeAt.After(now.Add(sa.e.cfg.RekeyGrace)) {
				c.removeAt = now.Add(sa.e.cfg.RekeyGrace)
			}
		default:
			if o := sa.twinOf(c); o != nil {
				// Another SA carries the same traffic (a redundant SA of
				// a rekey collision): linger for packets in flight.
				if c.outActive {
					sa.activateOutbound(o)
				}
				c.state = chRekeyed
				c.removeAt = now.Add(sa.e.cfg.RekeyGrace)
				continue
			}
			sa.removeChild(now, c, "deleted by peer")
		}
	}
	sa.respond(now, m, answer)
}

// livenessIdle is how long the peer may be silent before we check on it:
// as late as the DPD timeout allows, leaving the check's retransmissions
// their time (dpdBudget; with Azure's 45 s and the default retransmission
// timers, after 30 s), but not before a third of the timeout. RFC 7296
// §2.4 asks for a check only when nothing was received, and every check
// costs both gateways an exchange: with 10,000 idle tunnels, checking at a
// third of the timeout was ~700 exchanges a second. Less up to 20% that
// differs per SA (taken from its random SPI), so that the checks of many
// tunnels brought up together spread out instead of firing in the same
// instant: the original initiator draws from the lower half of that
// range, the responder from the upper, so that when both ends run this
// engine the initiator's check normally comes first and the responder,
// having heard from its peer, sends none (one exchange per interval, not
// two).
func (sa *ikeSA) livenessIdle() time.Duration {
	dpd := sa.peer.cfg.DPDTimeout
	t := max(dpd-sa.e.dpdBudget(), dpd/3)
	half := t / 10
	spread := half * time.Duration(sa.spiLocal()&0xffff) / 0xffff
	if sa.initiator {
		spread += half
	}
	return max(t-spread, 2*time.Second)
}

// dpdRetransmits is how many times a liveness check is sent at most
// within its budget.
const dpdRetransmits = 4

// dpdBudget is the time a liveness check's first dpdRetransmits sends
// span: 1 + 2 + 4 + 8 = 15 s with the default retransmission timers.
func (e *Engine) dpdBudget() time.Duration {
	var d time.Duration
	for i := range dpdRetransmits {
		d += min(e.cfg.Retransmit<<i, e.cfg.RetransmitMax)
	}
	return d
}

// livenessGrid coalesces the liveness timers of many SAs: deadlines are
// rounded up to it, so that idle tunnels wake the engine once per grid
// step at most rather than once per tunnel.
const livenessGrid = time.Second

// LastReceiver is an optional interface of a Host that knows when
// authenticated ESP last arrived from a peer. With it the engine asks only
// when a liveness check is due, instead of being told (PeerAlive) about
// every peer periodically.
type LastReceiver interface {
	LastReceived(peer string) (time.Time, bool)
}

// refreshLastRecv pulls the peer's last ESP time from the host, if it can
// tell.
func (sa *ikeSA) refreshLastRecv() {
	lr, ok := sa.e.host.(LastReceiver)
	if !ok || sa.peer == nil {
		return
	}
	if t, ok := lr.LastReceived(sa.peer.cfg.Name); ok && t.After(sa.lastRecv) {
		sa.lastRecv = t
	}
}

// liveness runs dead peer detection: after livenessIdle without any IKE or
// ESP from the peer, send an empty INFORMATIONAL; if the peer stays silent
// for the DPD timeout, it is declared dead. The connection is negotiated
// again when the peer is back (Default and InitiatorOnly modes).
func (sa *ikeSA) liveness(now time.Time) {
	if sa.peer == nil || sa.pending != nil || len(sa.queue) > 0 || sa.dpdSent {
		return
	}
	if now.Sub(sa.lastRecv) < sa.livenessIdle() {
		return
	}
	sa.refreshLastRecv()
	if now.Sub(sa.lastRecv) < sa.livenessIdle() {
		return
	}
	sa.dpdSent = true
	deadline := sa.lastRecv.Add(sa.peer.cfg.DPDTimeout)
	if !deadline.After(now) {
		deadline = now.Add(sa.e.cfg.Retransmit)
	}
	timeout := sa.peer.cfg.DPDTimeout
	sa.request(now, &request{
		exchange: message.Informational,
		giveUpAt: deadline,
		onResponse: func(now time.Time, _ *message.Message) {
			sa.dpdSent = false
		},
		onTimeout: func(now time.Time) {
			sa.e.log.Warn("dead peer detected", append(sa.logAttrs(), "silent_for", now.Sub(sa.lastRecv).Round(time.Second), "dpd_timeout", timeout)...)
			sa.destroy(now, fmt.Sprintf("peer dead: no answer for %v (DPD timeout %v)", now.Sub(sa.lastRecv).Round(time.Second), timeout))
		},
	})
}

func (sa *ikeSA) livenessDeadline() time.Time {
	if sa.peer == nil || sa.pending != nil || sa.dpdSent {
		return time.Time{}
	}
	d := sa.lastRecv.Add(sa.livenessIdle())
	if r := d.Truncate(livenessGrid); r.Before(d) {
		d = r.Add(livenessGrid)
	}
	return d
}

// PeerAlive tells the engine that traffic from the peer arrived at t (ESP
// that authenticated): no liveness check is needed before the DPD idle time
// passes again.
func (e *Engine) PeerAlive(name string, t time.Time) {
	p := e.peers[name]
	if p == nil || p.sa == nil {
		return
	}
	if t.After(p.sa.lastRecv) {
		p.sa.lastRecv = t
	}
}

// updateChildEndpoints tells the data plane the peer's new address (a NAT
// mapping changed).
func (sa *ikeSA) updateChildEndpoints(now time.Time) {
	if sa.peer != nil {
		sa.e.host.PeerEndpoint(sa.peer.cfg.Name, sa.local, sa.remote)
	}
}

// twinOf returns another installed Child SA with the same selectors as c.
func (sa *ikeSA) twinOf(c *childSA) *childSA {
	for _, o := range sa.peerChildren() {
		if o != c && o.state == chInstalled && o.sa.state != stDead && tsListEqual(o.localTS, c.localTS) && tsListEqual(o.remoteTS, c.remoteTS) {
			return o
		}
	}
	return nil
}
