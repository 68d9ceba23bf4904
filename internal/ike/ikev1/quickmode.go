package ikev1

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/isakmp"
	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

// qm is one Quick Mode exchange.
type qm struct {
	mid       uint32
	initiator bool
	iv        []byte
	x         *xmit
	ni, nr    []byte
	dh        transform.DH
	gxy       []byte
	spiIn     uint32
	spiOut    uint32
	suite     qmSuite
	life      qmLife
	// local and remote are our and the peer's selectors.
	local, remote message.TrafficSelector
	// replaces is the inbound SPI of the Child SA this one rekeys.
	replaces uint32
	// child is, for a responder waiting for HASH(3), the installed SA
	// (inbound only); giveUp is when it stops waiting and removes it.
	child  *child
	giveUp time.Time
}

// deadline is when the exchange's timer next fires.
func (q *qm) deadline() time.Time {
	d := q.x.deadline()
	if q.child != nil && (d.IsZero() || q.giveUp.Before(d)) {
		return q.giveUp
	}
	return d
}

// phase2IV is hash(last phase 1 block | M-ID) (RFC 2409 Appendix B).
func (s *sa) phase2IV(mid uint32) []byte {
	h, _ := transform.V1Hash(s.suite.prf, s.iv, binary.BigEndian.AppendUint32(nil, mid))
	return h[:s.blk.BlockSize()]
}

func (e *Engine) newMID(s *sa) uint32 {
	for {
		if v := binary.BigEndian.Uint32(e.randBytes(4)); v != 0 && s.qms[v] == nil {
			return v
		}
	}
}

// tsID encodes a selector as an ID payload (subnet when it is a prefix,
// else a range).
func tsID(t message.TrafficSelector) *isakmp.ID {
	id := &isakmp.ID{Protocol: t.IPProtocol}
	if t.StartPort == t.EndPort {
		id.Port = t.StartPort
	}
	if ps := ike.TSPrefixes(t); len(ps) == 1 {
		p := ps[0]
		mask := netip.PrefixFrom(p.Addr(), p.Bits())
		m := make([]byte, p.Addr().BitLen()/8)
		for i := range mask.Bits() {
			m[i/8] |= 0x80 >> (i % 8)
		}
		id.IDType = isakmp.IDIPv4AddrSubnet
		if p.Addr().Is6() {
			id.IDType = isakmp.IDIPv6AddrSubnet
		}
		id.Data = append(p.Addr().AsSlice(), m...)
		return id
	}
	id.IDType = isakmp.IDIPv4AddrRange
	if t.StartAddr.Is6() {
		id.IDType = isakmp.IDIPv6AddrRange
	}
	id.Data = append(t.StartAddr.AsSlice(), t.EndAddr.AsSlice()...)
	return id
}

// idTS decodes an ID payload used as a selector.
func idTS(id *isakmp.ID) (message.TrafficSelector, bool) {
	t := message.TrafficSelector{Type: message.TSIPv4AddrRange, IPProtocol: id.Protocol, StartPort: 0, EndPort: 65535}
	if id.Port != 0 {
		t.StartPort, t.EndPort = id.Port, id.Port
	}
	half := len(id.Data) / 2
	switch id.IDType {
	case isakmp.IDIPv4Addr, isakmp.IDIPv6Addr:
		a, ok := netip.AddrFromSlice(id.Data)
		if !ok {
			return t, false
		}
		t.StartAddr, t.EndAddr = a, a
	case isakmp.IDIPv4AddrSubnet, isakmp.IDIPv6AddrSubnet:
		a, ok1 := netip.AddrFromSlice(id.Data[:half])
		m, ok2 := netip.AddrFromSlice(id.Data[half:])
		if !ok1 || !ok2 || (len(id.Data) != 8 && len(id.Data) != 32) {
			return t, false
		}
		bits := 0
		for _, b := range m.AsSlice() {
			for i := 7; i >= 0 && b&(1<<i) != 0; i-- {
				bits++
			}
		}
		p := netip.PrefixFrom(a, bits).Masked()
		t = ike.PrefixTS(p)
		t.IPProtocol = id.Protocol
	case isakmp.IDIPv4AddrRange, isakmp.IDIPv6AddrRange:
		a, ok1 := netip.AddrFromSlice(id.Data[:half])
		b, ok2 := netip.AddrFromSlice(id.Data[half:])
		if !ok1 || !ok2 || (len(id.Data) != 8 && len(id.Data) != 32) {
			return t, false
		}
		t.StartAddr, t.EndAddr = a, b
	default:
		return t, false
	}
	if t.StartAddr.Is6() {
		t.Type = message.TSIPv6AddrRange
	}
	return t, true
}

// startQuickMode sends QM1 for one selector pair.
func (e *Engine) startQuickMode(now time.Time, s *sa, local, remote message.TrafficSelector, replaces uint32) {
	p := s.p
	q := &qm{mid: e.newMID(s), initiator: true, x: &xmit{}, ni: e.randBytes(32), spiIn: e.newSPI(),
		local: local, remote: remote, replaces: replaces,
		life: qmLife{seconds: p.qmLife, kb: p.lifeKB(), encap: s.nat}}
	q.iv = s.phase2IV(q.mid)
	// All transforms of one offer share the PFS group of the first.
	pfs := transform.DHNone
	if len(p.qmsInit) > 0 {
		pfs = p.qmsInit[0].pfs
	}
	var ts []isakmp.Transform
	for _, su := range p.qmsInit {
		if su.pfs == pfs {
			ts = append(ts, su.transform(uint8(len(ts)+1), q.life))
		}
	}
	ps := []isakmp.Payload{
		&isakmp.SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SituationIdentity,
			Proposals: []isakmp.Proposal{{Num: 1, Protocol: isakmp.ProtoESP, SPI: be32(q.spiIn), Transforms: ts}}},
		&isakmp.Data{T: isakmp.PayloadNonce, Data: q.ni},
	}
	if pfs != transform.DHNone {
		dh, err := e.cfg.Keys.Get(pfs, e.cfg.Rand)
		if err != nil {
			e.log.Error("IKEv1: PFS group", "err", err)
			return
		}
		q.dh = dh
		ps = append(ps, &isakmp.Data{T: isakmp.PayloadKE, Data: dh.Public()})
	}
	ps = append(ps, tsID(local), tsID(remote))
	s.qms[q.mid] = q
	msg, err := e.encodeHashed(s, q.mid, &q.iv, ps, nil)
	if err != nil {
		e.log.Error("IKEv1: encoding QM1", "err", err)
		return
	}
	e.transmit(now, s, q.x, msg, true)
}

// encodeHashed encrypts HASH | ps with HASH = prf(SKEYID_a, [pre |] M-ID |
// ps [| post]) — pre and post carry the nonces HASH(2) adds.
func (e *Engine) encodeHashed(s *sa, mid uint32, iv *[]byte, ps []isakmp.Payload, ni []byte) ([]byte, error) {
	body, _, err := isakmp.EncodePayloads(ps)
	if err != nil {
		return nil, err
	}
	h := s.prf.Sum(nil, s.keys.A, be32(mid), ni, body)
	ex := isakmp.ExchQuickMode
	if _, ok := ps[0].(*isakmp.SA); !ok {
		ex = isakmp.ExchInformational
	}
	msg, next, err := isakmp.EncodeEncrypted(&isakmp.Message{Header: s.hdr(ex, mid),
		Payloads: append([]isakmp.Payload{&isakmp.Data{T: isakmp.PayloadHash, Data: h}}, ps...)}, s.blk, *iv)
	if err != nil {
		return nil, err
	}
	*iv = next
	return msg, nil
}

func (e *Engine) handleQuickMode(now time.Time, s *sa, pkt ike.Packet, h isakmp.Header) {
	if s.state != stEstablished {
		return
	}
	q := s.qms[h.MessageID]
	if q != nil && !q.initiator && bytes.Equal(pkt.Data, q.x.lastIn) {
		e.send(s, q.x.data)
		return
	}
	if q == nil {
		for _, a := range s.answered {
			if bytes.Equal(pkt.Data, a.qm2) {
				e.send(s, a.hash3) // our HASH(3) was lost
				return
			}
		}
	}
	iv := s.phase2IV(h.MessageID)
	if q != nil {
		iv = q.iv
	}
	m, next, err := isakmp.Decode(pkt.Data, s.blk, iv)
	if err != nil || h.Flags&isakmp.FlagEncryption == 0 || len(m.Payloads) == 0 {
		e.badHash(now, s, "Quick Mode", err)
		return
	}
	hp, _ := m.Payloads[0].(*isakmp.Data)
	if hp == nil || hp.T != isakmp.PayloadHash {
		e.badHash(now, s, "Quick Mode without HASH", nil)
		return
	}
	s.lastSeen = now
	switch {
	case q == nil:
		e.respQM1(now, s, pkt, m, hp.Data, next)
	case q.initiator && q.x.waiting:
		e.initQM2(now, s, q, pkt.Data, m, hp.Data, next)
	case !q.initiator && q.child != nil:
		want := s.prf.Sum(nil, s.keys.A, []byte{0}, be32(q.mid), q.ni, q.nr)
		if !hmac.Equal(want, hp.Data) {
			e.badHash(now, s, "HASH(3)", nil)
			return
		}
		delete(s.qms, q.mid)
		e.host.ActivateOutbound(q.child.InSPI)
		e.childUp(now, s, q.child)
	}
}

// answered is a QM2 we answered with HASH(3).
type answered struct{ qm2, hash3 []byte }

// maxAnswered is how many HASH(3)s an SA keeps for retransmitted QM2s.
const maxAnswered = 8

func (e *Engine) initQM2(now time.Time, s *sa, q *qm, qm2 []byte, m *isakmp.Message, hash, next []byte) {
	if !hmac.Equal(hash, s.prf.Sum(nil, s.keys.A, be32(q.mid), q.ni, m.AfterFirst())) {
		e.badHash(now, s, "HASH(2)", nil)
		return
	}
	q.iv = next
	sap, _ := m.Get(isakmp.PayloadSA).(*isakmp.SA)
	no, _ := m.Get(isakmp.PayloadNonce).(*isakmp.Data)
	if sap == nil || no == nil || len(sap.Proposals) != 1 || len(sap.Proposals[0].Transforms) != 1 || len(sap.Proposals[0].SPI) != 4 {
		delete(s.qms, q.mid)
		e.qmFailed(now, s, q, "Quick Mode: malformed response")
		return
	}
	su, life, ok := parseQM(sap.Proposals[0].Transforms[0])
	if !ok || !containsQM(s.p.qmsInit, su) {
		delete(s.qms, q.mid)
		// Told, so that the responder drops the SA it installed for
		// this answer now, not when it gives up waiting for HASH(3).
		e.qmRefused(now, s, q, fmt.Sprintf("Quick Mode: NO_PROPOSAL_CHOSEN: peer chose %v, which we did not offer (we offered %v)", su, names(s.p.qmsInit)))
		return
	}
	local, remote, err := answerIDs(q, m.All(isakmp.PayloadID))
	if err != nil {
		delete(s.qms, q.mid)
		e.qmRefused(now, s, q, "Quick Mode: "+err.Error())
		return
	}
	if tsPairString(local, remote) != tsPairString(q.local, q.remote) {
		e.log.Info("IKEv1: Quick Mode responder narrowed the selectors", "peer", s.p.cfg.Name,
			"proposed", tsPairString(q.local, q.remote), "answered", tsPairString(local, remote))
	}
	q.local, q.remote = local, remote
	q.suite, q.nr, q.spiOut = su, no.Data, binary.BigEndian.Uint32(sap.Proposals[0].SPI)
	if life.seconds != 0 && life.seconds < q.life.seconds {
		q.life.seconds = life.seconds
	}
	if life.kb != 0 && life.kb < q.life.kb {
		q.life.kb = life.kb
	}
	if q.dh != nil {
		ke, _ := m.Get(isakmp.PayloadKE).(*isakmp.Data)
		if ke == nil {
			delete(s.qms, q.mid)
			e.qmFailed(now, s, q, "Quick Mode: PFS response without KE")
			return
		}
		gxy, err := q.dh.Shared(ke.Data)
		if err != nil {
			delete(s.qms, q.mid)
			e.qmFailed(now, s, q, "Quick Mode: "+err.Error())
			return
		}
		q.gxy = gxy
	}
	hash3 := s.prf.Sum(nil, s.keys.A, []byte{0}, be32(q.mid), q.ni, q.nr)
	msg, _, err := isakmp.EncodeEncrypted(&isakmp.Message{Header: s.hdr(isakmp.ExchQuickMode, q.mid),
		Payloads: []isakmp.Payload{&isakmp.Data{T: isakmp.PayloadHash, Data: hash3}}}, s.blk, q.iv)
	if err != nil {
		return
	}
	delete(s.qms, q.mid)
	// A rekey's outbound SA waits for the responder to install it (see
	// outboundDelay); a new pair has no other SA to send on.
	old := false
	for _, c := range s.p.children {
		old = old || (q.replaces != 0 && c.InSPI == q.replaces)
	}
	c, err := e.install(now, s, q, !old)
	if err != nil {
		e.qmFailed(now, s, q, "Quick Mode: "+err.Error())
		return
	}
	if old {
		c.activateAt = now.Add(e.outboundDelay())
	}
	e.send(s, msg)
	s.answered = append(s.answered, answered{qm2: qm2, hash3: msg})
	if len(s.answered) > maxAnswered {
		s.answered = s.answered[1:]
	}
	e.childUp(now, s, c)
}

// errIDs is why the selectors of a Quick Mode answer are refused.
var errIDs = errors.New("INVALID_ID_INFORMATION")

// answerIDs returns the selectors of the Child SA a Quick Mode answer
// (QM2) sets up: ours when it carries no ID payloads (RFC 2409 §5.5:
// the responder returns the IDs it was sent, which are ours), the
// answer's IDci/IDcr when they lie within what we proposed (strongSwan
// narrows a proposal to its own configuration and returns the narrowed
// IDs), and an error wrapping errIDs when only one is present, one does
// not parse, or they are wider than or disjoint from our proposal.
func answerIDs(q *qm, ids []isakmp.Payload) (local, remote message.TrafficSelector, err error) {
	switch len(ids) {
	case 0:
		return q.local, q.remote, nil
	case 2:
	default:
		return q.local, q.remote, fmt.Errorf("%w: answer carries %d ID payloads, want IDci and IDcr", errIDs, len(ids))
	}
	l, ok1 := idTS(ids[0].(*isakmp.ID))
	r, ok2 := idTS(ids[1].(*isakmp.ID))
	if !ok1 || !ok2 {
		return q.local, q.remote, fmt.Errorf("%w: answer's IDci/IDcr do not parse", errIDs)
	}
	if !tsWithin(l, q.local) || !tsWithin(r, q.remote) {
		return q.local, q.remote, fmt.Errorf("%w: peer answered %s, not within our proposal %s",
			errIDs, tsPairString(l, r), tsPairString(q.local, q.remote))
	}
	return l, r, nil
}

// tsWithin reports whether selector t lies within outer: same address
// family, address range, port range and protocol (any when outer's is 0)
// inside outer's.
func tsWithin(t, outer message.TrafficSelector) bool {
	return t.Type == outer.Type &&
		outer.StartAddr.Compare(t.StartAddr) <= 0 && t.StartAddr.Compare(t.EndAddr) <= 0 && t.EndAddr.Compare(outer.EndAddr) <= 0 &&
		outer.StartPort <= t.StartPort && t.StartPort <= t.EndPort && t.EndPort <= outer.EndPort &&
		(outer.IPProtocol == 0 || outer.IPProtocol == t.IPProtocol)
}

// tsPairString formats a local/remote selector pair for logs and reasons.
func tsPairString(local, remote message.TrafficSelector) string {
	return ike.TSString([]message.TrafficSelector{local}) + " === " + ike.TSString([]message.TrafficSelector{remote})
}

func (e *Engine) respQM1(now time.Time, s *sa, pkt ike.Packet, m *isakmp.Message, hash, next []byte) {
	if !hmac.Equal(hash, s.prf.Sum(nil, s.keys.A, be32(m.Header.MessageID), m.AfterFirst())) {
		e.badHash(now, s, "HASH(1)", nil)
		return
	}
	p := s.p
	q := &qm{mid: m.Header.MessageID, x: &xmit{lastIn: pkt.Data}, iv: next}
	sap, _ := m.Get(isakmp.PayloadSA).(*isakmp.SA)
	no, _ := m.Get(isakmp.PayloadNonce).(*isakmp.Data)
	if sap == nil || no == nil {
		e.dropLog.Log(now, e.log, &e.drops, ike.DropMalformed, "IKEv1: Quick Mode without SA or nonce", "peer", p.cfg.Name)
		return
	}
	q.ni = no.Data
	ke, _ := m.Get(isakmp.PayloadKE).(*isakmp.Data)
	ids := m.All(isakmp.PayloadID)
	var ok bool
	if len(ids) == 2 {
		q.remote, ok = idTS(ids[0].(*isakmp.ID))
		if ok {
			q.local, ok = idTS(ids[1].(*isakmp.ID))
		}
	} else {
		q.remote, q.local, ok = ike.PrefixTS(netip.PrefixFrom(s.remote.Addr(), 32)), ike.PrefixTS(netip.PrefixFrom(s.local.Addr(), 32)), len(ids) == 0
	}
	if ok && e.narrow != nil {
		q.local, q.remote = e.narrow(q.local, q.remote)
		ids = []isakmp.Payload{tsID(q.remote), tsID(q.local)}
	}
	if !ok || !within(q.local, p.cfg.LocalTS) || !within(q.remote, p.cfg.RemoteTS) {
		e.qmRefused(now, s, q, fmt.Sprintf("Quick Mode: INVALID_ID_INFORMATION: peer proposed its %s to our %s, we allow its %v to our %v",
			ike.TSString([]message.TrafficSelector{q.remote}), ike.TSString([]message.TrafficSelector{q.local}), p.cfg.RemoteTS, p.cfg.LocalTS))
		return
	}
	var chosen *isakmp.Proposal
	var offered []string
	for _, pr := range sap.Proposals {
		if pr.Protocol != isakmp.ProtoESP || len(pr.SPI) != 4 {
			continue
		}
		for _, t := range pr.Transforms {
			su, l, good := parseQM(t)
			if good {
				offered = append(offered, su.String())
			}
			if good && chosen == nil && containsQM(p.qms, su) && (su.pfs != transform.DHNone) == (ke != nil) {
				chosen = &isakmp.Proposal{Num: pr.Num, Protocol: isakmp.ProtoESP, Transforms: []isakmp.Transform{t}}
				q.suite, q.life, q.spiOut = su, l, binary.BigEndian.Uint32(pr.SPI)
			}
		}
	}
	if chosen == nil {
		e.qmRefused(now, s, q, fmt.Sprintf("Quick Mode: NO_PROPOSAL_CHOSEN: peer offered %v, we accept %v", offered, names(p.qms)))
		return
	}
	if q.life.seconds == 0 || q.life.seconds > p.qmLife {
		q.life.seconds = p.qmLife
	}
	if q.life.kb == 0 || q.life.kb > p.lifeKB() {
		q.life.kb = p.lifeKB()
	}
	q.spiIn = e.newSPI()
	chosen.SPI = be32(q.spiIn)
	q.nr = e.randBytes(32)
	ps := []isakmp.Payload{&isakmp.SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SituationIdentity, Proposals: []isakmp.Proposal{*chosen}},
		&isakmp.Data{T: isakmp.PayloadNonce, Data: q.nr}}
	if ke != nil {
		dh, err := e.cfg.Keys.Get(q.suite.pfs, e.cfg.Rand)
		if err != nil {
			return
		}
		if q.gxy, err = dh.Shared(ke.Data); err != nil {
			return
		}
		ps = append(ps, &isakmp.Data{T: isakmp.PayloadKE, Data: dh.Public()})
	}
	for _, id := range ids {
		ps = append(ps, id)
	}
	msg, err := e.encodeHashed(s, q.mid, &q.iv, ps, q.ni)
	if err != nil {
		return
	}
	// Replacing an SA with the same selectors is the peer's rekey.
	for _, c := range p.children {
		if ike.TSString(c.LocalTS) == ike.TSString([]message.TrafficSelector{q.local}) &&
			ike.TSString(c.RemoteTS) == ike.TSString([]message.TrafficSelector{q.remote}) && c.deleteAt.IsZero() {
			q.replaces = c.InSPI
		}
	}
	c, err := e.install(now, s, q, false)
	if err != nil {
		e.qmRefused(now, s, q, "Quick Mode: "+err.Error())
		return
	}
	q.child = c
	q.giveUp = now.Add(e.cfg.RetransmitTimeout << (e.cfg.Retries + 1))
	s.qms[q.mid] = q
	e.transmit(now, s, q.x, msg, true) // resent until HASH(3) comes
}

func within(t message.TrafficSelector, allowed []netip.Prefix) bool {
	for _, p := range allowed {
		a := ike.PrefixTS(p)
		if a.Type == t.Type && a.StartAddr.Compare(t.StartAddr) <= 0 && t.EndAddr.Compare(a.EndAddr) <= 0 {
			return true
		}
	}
	return false
}

// install derives KEYMAT for both directions and installs the Child SA.
func (e *Engine) install(now time.Time, s *sa, q *qm, outbound bool) (*child, error) {
	elen, err := transform.EncrKeyLen(q.suite.encr.ID, q.suite.encr.KeyBits)
	if err != nil {
		return nil, err
	}
	ilen := 0
	if q.suite.integ != transform.IntegNone {
		if ilen, err = transform.IntegKeyLen(q.suite.integ); err != nil {
			return nil, err
		}
	}
	in := transform.V1KeyMat(s.prf, s.keys.D, q.gxy, isakmp.ProtoESP, q.spiIn, q.ni, q.nr, elen+ilen)
	out := transform.V1KeyMat(s.prf, s.keys.D, q.gxy, isakmp.ProtoESP, q.spiOut, q.ni, q.nr, elen+ilen)
	c := &child{initiator: q.initiator, on: s, ChildSA: ike.ChildSA{
		Peer: s.p.cfg.Name, InSPI: q.spiIn, OutSPI: q.spiOut, Encr: q.suite.encr, Integ: q.suite.integ, PFS: q.suite.pfs,
		InEncKey: in[:elen], InIntegKey: in[elen:], OutEncKey: out[:elen], OutIntegKey: out[elen:],
		LocalTS: []message.TrafficSelector{q.local}, RemoteTS: []message.TrafficSelector{q.remote},
		Local: s.local, Remote: s.remote, Encap: s.nat || q.life.encap, Replaces: q.replaces, Established: now,
	}}
	if q.life.kb != 0 {
		c.HardBytes = q.life.kb * 1024
		c.SoftBytes = c.HardBytes / 10 * 9
	}
	c.expireAt = now.Add(q.life.seconds)
	c.rekeyAt = now.Add(q.life.seconds / 10 * 9)
	if err := e.host.InstallChildSA(&c.ChildSA, outbound); err != nil {
		return nil, err
	}
	return c, nil
}

// childUp records an installed Child SA and retires the one it replaces
// after the grace period.
func (e *Engine) childUp(now time.Time, s *sa, c *child) {
	p := s.p
	for _, old := range p.children {
		if old.InSPI == c.Replaces {
			old.deleteAt = now.Add(e.cfg.RekeyGrace)
		}
	}
	p.children = append(p.children, c)
	if cur := p.sa; cur != nil && cur != s && cur.initiator && cur.state == stEstablished && s.established.Before(cur.established) {
		// Born on a phase 1 SA we replaced: move it to the current one.
		c.move, c.rekeyAt = true, now
	}
	e.log.Info("IKEv1: Quick Mode established", "peer", p.cfg.Name, "in", fmt.Sprintf("%08x", c.InSPI),
		"out", fmt.Sprintf("%08x", c.OutSPI), "suite", qmSuite{c.Encr, c.Integ, c.PFS},
		"local_ts", ike.TSString(c.LocalTS), "remote_ts", ike.TSString(c.RemoteTS), "rekey_of", fmt.Sprintf("%08x", c.Replaces))
	e.event(ike.Event{Kind: ike.EventChildUp, Peer: p.cfg.Name, Time: now, InSPI: c.InSPI})
	e.settle(now, p)
}

func (e *Engine) qmFailed(now time.Time, s *sa, q *qm, reason string) {
	p := s.p
	p.lastErr = reason
	for _, c := range p.children {
		if c.InSPI == q.replaces {
			c.rekeying = false
			c.rekeyAt = now.Add(e.cfg.RetryInterval)
		}
	}
	if q.initiator && q.replaces == 0 {
		if pr := p.pairOf([]message.TrafficSelector{q.local}, []message.TrafficSelector{q.remote}); pr != nil {
			if p.cfg.OnDemand {
				pr.want = false
			}
			pr.retryAt = now.Add(e.cfg.RetryInterval)
		}
	}
	e.log.Warn("IKEv1: Quick Mode failed", "peer", p.cfg.Name, "reason", reason,
		"local_ts", ike.TSString([]message.TrafficSelector{q.local}), "remote_ts", ike.TSString([]message.TrafficSelector{q.remote}))
	e.event(ike.Event{Kind: ike.EventFailure, Peer: p.cfg.Name, Time: now, Reason: reason})
	e.settle(now, p) // its turn goes to the next
}

// qmRefused answers a Quick Mode we cannot accept with a notify.
func (e *Engine) qmRefused(now time.Time, s *sa, q *qm, reason string) {
	e.qmFailed(now, s, q, reason)
	typ := isakmp.NotifyNoProposalChosen
	if bytes.Contains([]byte(reason), []byte("INVALID_ID")) {
		typ = isakmp.NotifyInvalidIDInfo
	}
	e.sendInfo(now, s, &isakmp.Notification{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoESP, Notify: typ})
}
