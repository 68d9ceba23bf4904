package ikev1

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/isakmp"
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
	if s.state != stEstablished || !s.dpd || s.p.cfg.DPDTimeout < 0 {
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
				e.fail(now, s, "Main Mode: peer sent notify "+notifyName(n.Notify))
			}
		}
		return
	}
	m, _, err := isakmp.Decode(pkt.Data, s.blk, s.phase2IV(h.MessageID))
	if err != nil || len(m.Payloads) < 2 {
		return
	}
	hp, _ := m.Payloads[0].(*isakmp.Data)
	if hp == nil || hp.T != isakmp.PayloadHash ||
		!hmac.Equal(hp.Data, s.prf.Sum(nil, s.keys.A, binary.BigEndian.AppendUint32(nil, h.MessageID), m.AfterFirst())) {
		e.log.Debug("IKEv1: informational HASH(1) does not verify", "peer", s.p.cfg.Name)
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
			default:
				if p.Notify < 16384 {
					s.p.lastErr = "peer sent notify " + notifyName(p.Notify)
					e.host.Event(ike.Event{Kind: ike.EventFailure, Peer: s.p.cfg.Name, Time: now, Reason: s.p.lastErr})
					for mid, q := range s.qms {
						if q.initiator {
							delete(s.qms, mid)
							e.qmFailed(now, s, q, "Quick Mode: "+s.p.lastErr)
						}
					}
				}
			}
		case *isakmp.Delete:
			e.handleDelete(now, s, p)
		}
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
					break
				}
			}
		}
	case isakmp.ProtoISAKMP:
		for _, spi := range d.SPIs {
			if bytes.Equal(spi, s.cookies()) {
				for _, c := range append([]*child(nil), p.children...) {
					e.removeChild(now, p, c, "phase 1 SA deleted by peer", false)
				}
				e.dropSA(now, s, "deleted by peer")
				p.retryAt = now.Add(e.cfg.RetryInterval)
			}
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
