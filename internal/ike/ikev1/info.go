package ikev1

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/isakmp"
	"github.com/vpngw/vpngw/internal/ike/message"
)

// dpdInterval is how long a peer may be silent before we ask R-U-THERE.
func (s *sa) dpdInterval() time.Duration {
	d := s.p.cfg.DPDTimeout
	if d == 0 {
		d = ike.DefaultDPDTimeout
	}
	return d / 3
}

func (s *sa) dpdDeadline() time.Time {
	if s.state != stEstablished || !s.dpd || s.p.cfg.DPDTimeout < 0 || s.p.sa != s {
		return time.Time{}
	}
	if !s.dpdPending.IsZero() {
		return s.dpdPending.Add(s.dpdInterval())
	}
	return s.lastSeen.Add(s.dpdInterval())
}

// tickDPD sends R-U-THERE after dpdInterval of silence and declares the
// peer dead when the DPD timeout passes without an answer.
func (e *Engine) tickDPD(now time.Time, s *sa) {
	d := s.dpdDeadline()
	if d.IsZero() || now.Before(d) {
		return
	}
	if lr, ok := e.host.(ike.LastReceiver); ok {
		// ESP from the peer proves it alive as well as IKE does.
		if t, ok := lr.LastReceived(s.p.cfg.Name); ok && t.After(s.lastSeen) {
			s.lastSeen = t
			if !s.dpdPending.IsZero() && t.After(s.dpdPending) {
				s.dpdPending = time.Time{}
			}
			if d = s.dpdDeadline(); now.Before(d) {
				return
			}
		}
	}
	if !s.dpdPending.IsZero() && now.Sub(s.lastSeen) >= 3*s.dpdInterval() {
		e.log.Warn("IKEv1: dead peer detected", "peer", s.p.cfg.Name)
		e.closePeer(now, s.p, "dead peer detected (no R-U-THERE-ACK)")
		return
	}
	s.dpdSeq++
	s.dpdPending = now
	e.sendInfo(now, s, &isakmp.Notification{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoISAKMP, SPI: s.cookies(),
		Notify: isakmp.NotifyRUThere, Data: binary.BigEndian.AppendUint32(nil, s.dpdSeq)})
}

// sendInfo sends one protected informational exchange: HASH(1) | p.
func (e *Engine) sendInfo(now time.Time, s *sa, p isakmp.Payload) {
	if s.blk == nil {
		return
	}
	mid := e.newMID(s)
	iv := s.phase2IV(mid)
	msg, err := e.encodeHashed(s, mid, &iv, []isakmp.Payload{p}, nil)
	if err != nil {
		e.log.Error("IKEv1: encoding informational", "err", err)
		return
	}
	e.send(s, msg)
}

// handleInfo processes a protected informational exchange: Delete,
// R-U-THERE(-ACK), notifies.
func (e *Engine) handleInfo(now time.Time, s *sa, pkt ike.Packet, h isakmp.Header) {
	if s.blk == nil || h.Flags&isakmp.FlagEncryption == 0 {
		if m, _, err := isakmp.Decode(pkt.Data, nil, nil); err == nil && s.state != stEstablished {
			if n, ok := m.Get(isakmp.PayloadNotification).(*isakmp.Notification); ok {
				e.fail(now, s, e.mmNotifyReason(s, n.Notify))
				return
			}
		}
		e.dropLog.Log(now, e.log, &e.drops, ike.DropMalformed, "IKEv1: unprotected informational", "peer", s.p.cfg.Name)
		return
	}
	m, _, err := isakmp.Decode(pkt.Data, s.blk, s.phase2IV(h.MessageID))
	if err != nil || len(m.Payloads) < 2 {
		e.badHash(now, s, "informational", err)
		return
	}
	hp, _ := m.Payloads[0].(*isakmp.Data)
	if hp == nil || hp.T != isakmp.PayloadHash ||
		!hmac.Equal(hp.Data, s.prf.Sum(nil, s.keys.A, binary.BigEndian.AppendUint32(nil, h.MessageID), m.AfterFirst())) {
		e.badHash(now, s, "informational HASH(1)", nil)
		return
	}
	s.lastSeen = now
	for _, p := range m.Payloads[1:] {
		switch p := p.(type) {
		case *isakmp.Notification:
			switch p.Notify {
			case isakmp.NotifyRUThere:
				e.sendInfo(now, s, &isakmp.Notification{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoISAKMP, SPI: s.cookies(),
					Notify: isakmp.NotifyRUThereAck, Data: p.Data})
			case isakmp.NotifyRUThereAck:
				s.dpdPending = time.Time{}
			case isakmp.NotifyInitialContact:
				e.initialContact(now, s, m)
			default:
				if p.Notify < 16384 {
					e.peerError(now, s, p.Notify)
				}
			}
		case *isakmp.Delete:
			e.handleDelete(now, s, p)
		}
	}
}

// peerError handles an error notify the peer sent on s: our Quick Modes
// in progress fail, with what we proposed in the reason; without any,
// the ones we answered and wait on for HASH(3) do (IKEv1 notifies name
// no exchange, so ours are taken to be the ones refused first).
func (e *Engine) peerError(now time.Time, s *sa, n uint16) {
	p := s.p
	p.lastErr = "peer sent notify " + notifyName(n)
	failed := false
	for _, mid := range slices.Sorted(maps.Keys(s.qms)) {
		q := s.qms[mid]
		if !q.initiator {
			continue
		}
		delete(s.qms, mid)
		failed = true
		detail := ""
		switch n {
		case isakmp.NotifyNoProposalChosen:
			detail = fmt.Sprintf(": we offered %v", names(p.qmsInit))
		case isakmp.NotifyInvalidIDInfo:
			detail = fmt.Sprintf(": we proposed our %s to its %s", ike.TSString([]message.TrafficSelector{q.local}), ike.TSString([]message.TrafficSelector{q.remote}))
		}
		e.qmFailed(now, s, q, "Quick Mode: "+p.lastErr+detail)
	}
	if failed {
		return
	}
	// With none of ours in progress, the notify refuses an answer of
	// ours: the Quick Modes we answered and wait on for HASH(3) end now,
	// with the inbound SAs they installed.
	for _, mid := range slices.Sorted(maps.Keys(s.qms)) {
		q := s.qms[mid]
		if q.initiator || q.child == nil {
			continue
		}
		delete(s.qms, mid)
		failed = true
		e.host.DeleteChildSA(q.child.InSPI)
		e.qmFailed(now, s, q, "Quick Mode: "+p.lastErr+" in answer to ours, instead of HASH(3)")
	}
	if !failed {
		e.event(ike.Event{Kind: ike.EventFailure, Peer: p.cfg.Name, Time: now, Reason: p.lastErr})
	}
}

func (e *Engine) handleDelete(now time.Time, s *sa, d *isakmp.Delete) {
	p := s.p
	switch d.Protocol {
	case isakmp.ProtoESP:
		for _, spi := range d.SPIs {
			if len(spi) != 4 {
				continue
			}
			out := binary.BigEndian.Uint32(spi)
			for _, c := range p.children {
				if c.OutSPI == out {
					e.removeChild(now, p, c, "deleted by peer", false)
					if c.deleteAt.IsZero() {
						e.pairLost(now, p, c)
					}
					break
				}
			}
		}
	case isakmp.ProtoISAKMP:
		for _, spi := range d.SPIs {
			if !bytes.Equal(spi, s.cookies()) {
				continue
			}
			if p.sa != s {
				// A replaced (or still negotiating) SA: its Child SAs
				// live on (re-authentication, make-before-break).
				e.dropSA(now, s, "deleted by peer")
				return
			}
			for _, c := range slices.Clone(p.children) {
				e.removeChild(now, p, c, "phase 1 SA deleted by peer", false)
				if c.deleteAt.IsZero() {
					e.pairLost(now, p, c)
				}
			}
			e.dropSA(now, s, "deleted by peer")
			p.retryAt = now.Add(e.cfg.RetryInterval)
		}
	}
}

func notifyName(n uint16) string {
	switch n {
	case isakmp.NotifyNoProposalChosen:
		return "NO_PROPOSAL_CHOSEN"
	case isakmp.NotifyInvalidIDInfo:
		return "INVALID_ID_INFORMATION"
	case isakmp.NotifyAuthenticationFailed:
		return "AUTHENTICATION_FAILED"
	case isakmp.NotifyInvalidHashInfo:
		return "INVALID_HASH_INFORMATION"
	case isakmp.NotifyPayloadMalformed:
		return "PAYLOAD_MALFORMED"
	case isakmp.NotifyInitialContact:
		return "INITIAL_CONTACT"
	}
	return "notify " + itoa(int(n))
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}
