package ikev1

import (
	"bytes"
	"crypto/cipher"
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/isakmp"
	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

// state is a phase 1 SA's progress.
type state uint8

const (
	stMM1         state = iota + 1 // initiator: sent MM1
	stMM3                          // initiator: sent MM3
	stMM5                          // initiator: sent MM5
	stMM2                          // responder: sent MM2
	stMM4                          // responder: sent MM4
	stEstablished                  // MM5/MM6 done
	stDead
)

// sa is a phase 1 (ISAKMP) SA.
type sa struct {
	p         *peer
	initiator bool
	state     state
	ci, cr    uint64
	rc        uint64 // the responder cookie once known (== cr)
	// local and remote are the IKE endpoints (port 4500 after NAT-T
	// floating).
	local, remote netip.AddrPort
	suite         mmSuite
	life          time.Duration
	// natt: both sides sent the RFC 3947 vendor ID; nat: NAT-D found a
	// NAT (or encapsulation is forced); dpd: the peer supports RFC 3706.
	natt, nat, dpd bool
	dh             transform.DH
	saiB           []byte // the initiator's SA payload body
	gxi, gxr       []byte
	ni, nr         []byte
	prf            transform.PRF
	keys           transform.V1Keys
	blk            cipher.Block
	// iv is the phase 1 CBC chain; after phase 1 it is the last block,
	// from which each phase 2 exchange derives its IV.
	iv []byte
	x  *xmit
	// qms are the Quick Mode exchanges in progress, by message ID.
	qms map[uint32]*qm
	// answered are our last HASH(3)s with the QM2 each answered, so a
	// retransmitted QM2 (our HASH(3) was lost) is answered again; the
	// newest maxAnswered are kept.
	answered []answered
	// infos are informational exchanges we wait an answer for (DPD).
	dpdSeq      uint32
	dpdPending  time.Time
	lastSeen    time.Time
	established time.Time
	// reauthAt is when a new Main Mode replaces this SA (90 % of its
	// life when we initiated it, 95 % otherwise); expireAt its end.
	reauthAt, expireAt time.Time
	// retireAt, set when we sent a Child SA's Delete over this replaced
	// SA, is the earliest its own Delete may follow (retireDelay later).
	retireAt time.Time
}

// retireDelay separates the Delete of a replaced phase 1 SA from the
// Deletes of its Child SAs sent just before. strongSwan hands the
// messages of one SA to parallel worker threads, so back to back they may
// be processed in either order; the ISAKMP Delete first makes it adopt the
// SA's remaining Child SAs into the new phase 1 SA, after which the Child
// SA's Delete (scoped to the old SA) no longer finds it, and the replaced
// Child SA lingers there until its lifetime ends.
const retireDelay = time.Second

func (s *sa) cookies() []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, s.ci), s.cr)
}

func (s *sa) hdr(ex isakmp.ExchangeType, mid uint32) isakmp.Header {
	return isakmp.Header{ICookie: s.ci, RCookie: s.cr, Exchange: ex, MessageID: mid}
}

func (s *sa) deadline() time.Time {
	d := s.x.deadline()
	for _, q := range s.qms {
		if t := q.deadline(); !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	if t := s.dpdDeadline(); !t.IsZero() && (d.IsZero() || t.Before(d)) {
		d = t
	}
	return d
}

func (e *Engine) send(s *sa, data []byte) {
	e.host.SendIKE(ike.Packet{Data: data, Local: s.local, Remote: s.remote})
}

// transmit sends a message and keeps it for retransmission.
func (e *Engine) transmit(now time.Time, s *sa, x *xmit, data []byte, waiting bool) {
	x.data, x.waiting, x.tries, x.next = data, waiting, 0, now.Add(e.cfg.RetransmitTimeout)
	e.send(s, data)
}

// retransmit handles x's timer; it reports false when the exchange gave up.
func (e *Engine) retransmit(now time.Time, s *sa, x *xmit) bool {
	if x == nil || !x.waiting || now.Before(x.next) {
		return true
	}
	if x.tries >= e.cfg.Retries {
		return false
	}
	x.tries++
	x.next = now.Add(e.cfg.RetransmitTimeout << x.tries)
	e.send(s, x.data)
	return true
}

func (e *Engine) tickSA(now time.Time, s *sa) {
	if s.state == stEstablished && !now.Before(s.expireAt) {
		e.log.Info("IKEv1: ISAKMP SA lifetime expired", "peer", s.p.cfg.Name)
		e.deleteSA(now, s, "ISAKMP SA lifetime expired")
		return
	}
	if e.mayReauth(s) && !now.Before(s.reauthAt) {
		e.startReauth(now, s.p)
	}
	if !e.retransmit(now, s, s.x) {
		e.fail(now, s, fmt.Sprintf("Main Mode: no answer from %s", s.remote))
		return
	}
	for _, mid := range slices.Sorted(maps.Keys(s.qms)) {
		q := s.qms[mid]
		if e.retransmit(now, s, q.x) && (q.child == nil || now.Before(q.giveUp)) {
			continue
		}
		delete(s.qms, mid)
		if q.child != nil {
			// The initiator never confirmed with HASH(3).
			e.host.DeleteChildSA(q.child.InSPI)
			e.qmFailed(now, s, q, "Quick Mode: no HASH(3) from the initiator")
			continue
		}
		e.qmFailed(now, s, q, "Quick Mode: no answer")
	}
	e.tickDPD(now, s)
}

// startMainMode sends MM1 and returns the new SA (the caller makes it
// p.sa or p.reauth).
func (e *Engine) startMainMode(now time.Time, p *peer) *sa {
	local := netip.AddrPortFrom(p.cfg.Local, 500)
	s := &sa{p: p, initiator: true, state: stMM1, ci: e.randUint64(), life: p.mmLife, x: &xmit{}, qms: map[uint32]*qm{},
		local: local, remote: netip.AddrPortFrom(p.cfg.Remote, p.cfg.Port)}
	var ts []isakmp.Transform
	for i, su := range p.mm {
		ts = append(ts, su.transform(uint8(i+1), p.mmLife))
	}
	sap := &isakmp.SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SituationIdentity,
		Proposals: []isakmp.Proposal{{Num: 1, Protocol: isakmp.ProtoISAKMP, Transforms: ts}}}
	s.saiB, _ = sap.Body()
	msg, err := isakmp.Encode(&isakmp.Message{Header: s.hdr(isakmp.ExchMainMode, 0), Payloads: []isakmp.Payload{sap,
		&isakmp.Data{T: isakmp.PayloadVendorID, Data: isakmp.VendorNATT}, &isakmp.Data{T: isakmp.PayloadVendorID, Data: isakmp.VendorDPD}}})
	if err != nil {
		e.log.Error("IKEv1: encoding MM1", "err", err)
		return nil
	}
	e.sas[s.ci] = s
	e.log.Info("IKEv1: initiating Main Mode", "peer", p.cfg.Name, "remote", s.remote)
	e.transmit(now, s, s.x, msg, true)
	e.touch(p)
	// With one DH group on offer, draw our key pair while MM1 and MM2 are
	// on the wire rather than after MM2 (one exponentiation, about 1 ms
	// with MODP-2048, off the setup's critical path). The key is this
	// SA's only: makeKE uses it if the chosen suite has its group.
	if g, ok := oneGroup(p.mm); ok {
		s.dh, _ = e.cfg.Keys.Get(g, e.cfg.Rand) // on error makeKE tries again and reports it
	}
	return s
}

// oneGroup is the DH group of suites when they all have the same one.
func oneGroup(suites []mmSuite) (transform.ID, bool) {
	if len(suites) == 0 {
		return 0, false
	}
	for _, su := range suites[1:] {
		if su.dh != suites[0].dh {
			return 0, false
		}
	}
	return suites[0].dh, true
}

// respondMainMode answers MM1 from a configured peer.
func (e *Engine) respondMainMode(now time.Time, pkt ike.Packet, h isakmp.Header) {
	peers := slices.DeleteFunc(e.peersFor(pkt), func(p *peer) bool { return p.cfg.Mode == ike.ModeInitiatorOnly })
	if len(peers) == 0 {
		e.dropLog.Log(now, e.log, &e.drops, ike.DropUnknownPeer, "IKEv1: Main Mode from a peer we do not answer (unknown or InitiatorOnly)", "from", pkt.Remote)
		return
	}
	p := peers[0]
	m, _, err := isakmp.Decode(pkt.Data, nil, nil)
	var sap *isakmp.SA
	if err == nil {
		sap, _ = m.Get(isakmp.PayloadSA).(*isakmp.SA)
	}
	if sap == nil {
		e.dropLog.Log(now, e.log, &e.drops, ike.DropMalformed, "IKEv1: bad MM1", "from", pkt.Remote, "err", err)
		return
	}
	var chosen *isakmp.Transform
	var propNum uint8
	var suite mmSuite
	var life time.Duration
	var offered []string
	for _, pr := range sap.Proposals {
		if pr.Protocol != isakmp.ProtoISAKMP {
			continue
		}
		for _, t := range pr.Transforms {
			su, l, ok := parseMM(t)
			if ok {
				offered = append(offered, su.String())
			}
			if ok && chosen == nil && containsMM(p.mm, su) {
				chosen, propNum, suite, life = &t, pr.Num, su, l
			}
		}
	}
	if chosen == nil {
		reason := fmt.Sprintf("Main Mode: NO_PROPOSAL_CHOSEN: peer offered %v, we accept %v", offered, names(p.mm))
		if e.dropLog.Log(now, e.log, &e.drops, ike.DropNoProposal, "IKEv1: no acceptable Main Mode proposal", "peer", p.cfg.Name, "detail", reason) {
			p.lastErr = reason
			e.event(ike.Event{Kind: ike.EventFailure, Peer: p.cfg.Name, Time: now, Reason: reason})
			e.sendPlainNotify(pkt, h, isakmp.NotifyNoProposalChosen)
		}
		return
	}
	keepOurs := false
	if p.sa != nil && p.sa.state != stEstablished && p.sa.initiator {
		switch {
		case p.sa.state == stMM1 && p.sa.x.tries > 0:
			// Ours went unanswered (the peer may be InitiatorOnly): run
			// both; the first established wins (reauthenticated).
			keepOurs = true
		case p.sa.ci > h.ICookie:
			return // both sides initiated at once: the larger cookie's goes on
		default:
			e.dropSA(now, p.sa, "simultaneous Main Mode")
		}
	}
	if life == 0 || life > p.mmLife {
		life = p.mmLife
	}
	s := &sa{p: p, state: stMM2, ci: h.ICookie, cr: e.randUint64(), suite: suite, life: life, x: &xmit{}, qms: map[uint32]*qm{},
		local: pkt.Local, remote: pkt.Remote, saiB: sap.Raw}
	s.rc = s.cr
	for _, v := range m.All(isakmp.PayloadVendorID) {
		s.vendor(v.(*isakmp.Data).Data)
	}
	resp := &isakmp.SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SituationIdentity,
		Proposals: []isakmp.Proposal{{Num: propNum, Protocol: isakmp.ProtoISAKMP, Transforms: []isakmp.Transform{*chosen}}}}
	ps := []isakmp.Payload{resp}
	if s.natt {
		ps = append(ps, &isakmp.Data{T: isakmp.PayloadVendorID, Data: isakmp.VendorNATT})
	}
	ps = append(ps, &isakmp.Data{T: isakmp.PayloadVendorID, Data: isakmp.VendorDPD})
	msg, err := isakmp.Encode(&isakmp.Message{Header: s.hdr(isakmp.ExchMainMode, 0), Payloads: ps})
	if err != nil {
		return
	}
	if p.sa != nil && p.sa.state != stEstablished && !keepOurs {
		e.dropSA(now, p.sa, "replaced")
	}
	if p.sa == nil {
		p.sa = s
	} // else s re-authenticates the established p.sa: it takes over when established
	e.sas[s.ci] = s
	s.x.lastIn = pkt.Data
	e.log.Info("IKEv1: responding to Main Mode", "peer", p.cfg.Name, "suite", suite)
	e.transmit(now, s, s.x, msg, false)
}

// names lists suites for failure reasons.
func names[S fmt.Stringer](l []S) []string {
	out := make([]string, 0, len(l))
	for _, s := range l {
		out = append(out, s.String())
	}
	return out
}

func (s *sa) vendor(v []byte) {
	switch {
	case bytes.Equal(v, isakmp.VendorNATT):
		s.natt = true
	case bytes.Equal(v, isakmp.VendorDPD):
		s.dpd = true
	}
}

// sendPlainNotify answers a phase 1 message with an unprotected notify.
func (e *Engine) sendPlainNotify(pkt ike.Packet, h isakmp.Header, typ uint16) {
	msg, err := isakmp.Encode(&isakmp.Message{
		Header:   isakmp.Header{ICookie: h.ICookie, RCookie: h.RCookie, Exchange: isakmp.ExchInformational},
		Payloads: []isakmp.Payload{&isakmp.Notification{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoISAKMP, Notify: typ}}})
	if err == nil {
		e.host.SendIKE(ike.Packet{Data: msg, Local: pkt.Local, Remote: pkt.Remote})
	}
}

// handleMainMode processes MM2..MM6.
func (e *Engine) handleMainMode(now time.Time, s *sa, pkt ike.Packet, h isakmp.Header) {
	if !s.initiator && bytes.Equal(pkt.Data, s.x.lastIn) {
		e.send(s, s.x.data) // a retransmitted request
		return
	}
	var m *isakmp.Message
	var err error
	var next []byte
	if h.Flags&isakmp.FlagEncryption != 0 {
		if s.blk == nil {
			return
		}
		m, next, err = isakmp.Decode(pkt.Data, s.blk, s.iv)
	} else {
		m, _, err = isakmp.Decode(pkt.Data, nil, nil)
	}
	if err != nil {
		if h.Flags&isakmp.FlagEncryption != 0 && (s.state == stMM4 || s.state == stMM5) {
			// The keys differ: with PSK authentication that is a key mismatch.
			e.badHash(now, s, "Main Mode", err)
			e.fail(now, s, "Main Mode: AUTHENTICATION_FAILED: cannot decrypt the peer's identity (pre-shared key mismatch?)")
			return
		}
		e.dropLog.Log(now, e.log, &e.drops, ike.DropMalformed, "IKEv1: bad Main Mode message", "peer", s.p.cfg.Name, "err", err)
		return
	}
	if n, ok := m.Get(isakmp.PayloadNotification).(*isakmp.Notification); ok && m.Get(isakmp.PayloadSA) == nil && m.Get(isakmp.PayloadKE) == nil && m.Get(isakmp.PayloadHash) == nil {
		e.fail(now, s, e.mmNotifyReason(s, n.Notify))
		return
	}
	switch {
	case s.initiator && s.state == stMM1:
		e.initMM2(now, s, m)
	case s.initiator && s.state == stMM3:
		e.initMM4(now, s, m)
	case s.initiator && s.state == stMM5 && next != nil:
		e.initMM6(now, s, m, next)
	case !s.initiator && s.state == stMM2:
		s.x.lastIn = pkt.Data
		e.respMM3(now, s, m)
	case !s.initiator && s.state == stMM4 && next != nil:
		e.respMM5(now, s, pkt, m, next)
	}
}

func (e *Engine) initMM2(now time.Time, s *sa, m *isakmp.Message) {
	sap, _ := m.Get(isakmp.PayloadSA).(*isakmp.SA)
	if sap == nil || len(sap.Proposals) != 1 || len(sap.Proposals[0].Transforms) != 1 {
		e.fail(now, s, "Main Mode: response without one chosen transform")
		return
	}
	su, life, ok := parseMM(sap.Proposals[0].Transforms[0])
	if !ok || !containsMM(s.p.mm, su) {
		e.fail(now, s, fmt.Sprintf("Main Mode: peer chose %v, which we did not offer (we offered %v)", su, names(s.p.mm)))
		return
	}
	s.suite, s.cr, s.rc = su, m.Header.RCookie, m.Header.RCookie
	if life != 0 && life < s.life {
		s.life = life
	}
	for _, v := range m.All(isakmp.PayloadVendorID) {
		s.vendor(v.(*isakmp.Data).Data)
	}
	if err := e.makeKE(s); err != nil {
		e.fail(now, s, err.Error())
		return
	}
	s.ni = e.randBytes(32)
	s.gxi = s.dh.Public()
	msg, err := isakmp.Encode(&isakmp.Message{Header: s.hdr(isakmp.ExchMainMode, 0), Payloads: e.kePayloads(s, s.gxi, s.ni)})
	if err != nil {
		return
	}
	s.state = stMM3
	e.transmit(now, s, s.x, msg, true)
}

// makeKE draws our DH key pair for the chosen suite (unless startMainMode
// drew one in its group) and sets up the PRF.
func (e *Engine) makeKE(s *sa) error {
	if s.dh == nil || s.dh.Group() != s.suite.dh {
		dh, err := e.cfg.Keys.Get(s.suite.dh, e.cfg.Rand)
		if err != nil {
			return fmt.Errorf("Main Mode: DH group %d: %w", s.suite.dh, err)
		}
		s.dh = dh
	}
	prf, err := transform.NewPRF(s.suite.prf)
	if err != nil {
		return err
	}
	s.prf = prf
	return nil
}

// kePayloads are KE, nonce and (with NAT-T) the two NAT-D payloads: the
// peer's address as we send to it, then ours (RFC 3947 §3.2).
func (e *Engine) kePayloads(s *sa, ke, nonce []byte) []isakmp.Payload {
	ps := []isakmp.Payload{&isakmp.Data{T: isakmp.PayloadKE, Data: ke}, &isakmp.Data{T: isakmp.PayloadNonce, Data: nonce}}
	if s.natt {
		ps = append(ps, &isakmp.Data{T: isakmp.PayloadNATD, Data: s.natd(s.remote)},
			&isakmp.Data{T: isakmp.PayloadNATD, Data: s.natd(s.local)})
	}
	return ps
}

// natd is HASH(CKY-I | CKY-R | IP | Port) with the negotiated hash.
func (s *sa) natd(ap netip.AddrPort) []byte {
	a := ap.Addr().Unmap().AsSlice()
	h, _ := transform.V1Hash(s.suite.prf, s.cookies(), a, binary.BigEndian.AppendUint16(nil, ap.Port()))
	return h
}

// checkNATD reads the peer's NAT-D payloads: the first should hash our
// address, the others the peer's.
func (s *sa) checkNATD(m *isakmp.Message) {
	nd := m.All(isakmp.PayloadNATD)
	if !s.natt || len(nd) < 2 {
		return
	}
	weBehind := !hmac.Equal(nd[0].(*isakmp.Data).Data, s.natd(s.local))
	peerBehind := true
	for _, p := range nd[1:] {
		if hmac.Equal(p.(*isakmp.Data).Data, s.natd(s.remote)) {
			peerBehind = false
		}
	}
	s.nat = weBehind || peerBehind || s.p.cfg.ForceEncap
}

func (e *Engine) deriveKeys(s *sa, gxPeer []byte) error {
	gxy, err := s.dh.Shared(gxPeer)
	if err != nil {
		return fmt.Errorf("Main Mode: %w", err)
	}
	s.keys, err = transform.DeriveV1Keys(s.prf, s.p.cfg.PSK, s.ni, s.nr, gxy, s.ci, s.cr, s.suite.encr)
	if err != nil {
		return fmt.Errorf("Main Mode: %w", err)
	}
	if s.blk, err = transform.NewBlock(s.suite.encr.ID, s.keys.Enc); err != nil {
		return err
	}
	iv, err := transform.V1Hash(s.suite.prf, s.gxi, s.gxr)
	if err != nil {
		return err
	}
	s.iv = iv[:s.blk.BlockSize()]
	return nil
}

func (e *Engine) initMM4(now time.Time, s *sa, m *isakmp.Message) {
	ke, _ := m.Get(isakmp.PayloadKE).(*isakmp.Data)
	no, _ := m.Get(isakmp.PayloadNonce).(*isakmp.Data)
	if ke == nil || no == nil {
		e.fail(now, s, "Main Mode: MM4 without KE or nonce")
		return
	}
	s.gxr, s.nr = ke.Data, no.Data
	if err := e.deriveKeys(s, s.gxr); err != nil {
		e.fail(now, s, err.Error())
		return
	}
	s.checkNATD(m)
	if s.natt && (s.nat || s.p.cfg.ForceEncap) {
		s.local = netip.AddrPortFrom(s.local.Addr(), 4500)
		s.remote = netip.AddrPortFrom(s.remote.Addr(), 4500)
	}
	id := localID(s)
	hash := s.prf.Sum(nil, s.keys.SKEYID, s.gxi, s.gxr, s.cookies(), s.saiB, id.Body())
	msg, next, err := isakmp.EncodeEncrypted(&isakmp.Message{Header: s.hdr(isakmp.ExchMainMode, 0),
		Payloads: e.authPayloads(s, id, hash)}, s.blk, s.iv)
	if err != nil {
		return
	}
	s.iv = next
	s.state = stMM5
	e.transmit(now, s, s.x, msg, true)
}

// localID is our phase 1 identity: the peer's LocalID if it is an
// address or FQDN, else our address.
func localID(s *sa) *isakmp.ID {
	id := s.p.cfg.LocalID
	switch id.Type {
	case 1: // ike/message IDIPv4Addr (same value in IKEv1)
		return &isakmp.ID{IDType: isakmp.IDIPv4Addr, Data: id.Data}
	case 2:
		return &isakmp.ID{IDType: isakmp.IDFQDN, Data: id.Data}
	case 5:
		return &isakmp.ID{IDType: isakmp.IDIPv6Addr, Data: id.Data}
	}
	a := s.local.Addr()
	if a.Is4() {
		return &isakmp.ID{IDType: isakmp.IDIPv4Addr, Data: a.AsSlice()}
	}
	return &isakmp.ID{IDType: isakmp.IDIPv6Addr, Data: a.AsSlice()}
}

func (e *Engine) initMM6(now time.Time, s *sa, m *isakmp.Message, next []byte) {
	id, _ := m.Get(isakmp.PayloadID).(*isakmp.ID)
	hp, _ := m.Get(isakmp.PayloadHash).(*isakmp.Data)
	if id == nil || hp == nil {
		e.fail(now, s, "Main Mode: MM6 without ID or HASH_R")
		return
	}
	want := s.prf.Sum(nil, s.keys.SKEYID, s.gxr, s.gxi, s.rcookies(), s.saiB, id.Body())
	if !hmac.Equal(want, hp.Data) {
		e.badHash(now, s, "HASH_R", nil)
		e.fail(now, s, "Main Mode: AUTHENTICATION_FAILED: HASH_R does not verify (pre-shared key mismatch?)")
		return
	}
	if reason := checkRemoteID(s.p, id); reason != "" {
		e.fail(now, s, reason)
		return
	}
	s.iv = next
	s.x.waiting = false
	e.initialContact(now, s, m)
	e.established(now, s)
}

// authPayloads are MM5/MM6: our ID and HASH, and INITIAL-CONTACT when we
// have no other SA with the peer (RFC 2407 §4.6.3.3): never on a
// re-authentication, which must leave the peer's SAs alone.
func (e *Engine) authPayloads(s *sa, id *isakmp.ID, hash []byte) []isakmp.Payload {
	ps := []isakmp.Payload{id, &isakmp.Data{T: isakmp.PayloadHash, Data: hash}}
	if e.firstContact(s) {
		ps = append(ps, &isakmp.Notification{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoISAKMP, SPI: s.cookies(), Notify: isakmp.NotifyInitialContact})
	}
	return ps
}

// firstContact reports whether s is the only SA with its peer and no
// Child SA exists.
func (e *Engine) firstContact(s *sa) bool {
	if len(s.p.children) > 0 {
		return false
	}
	for _, o := range e.sasOf(s.p) {
		if o != s && o.state == stEstablished {
			return false
		}
	}
	return true
}

// initialContact honours the peer's INITIAL-CONTACT in MM5/MM6: the peer
// lost its state, so every other SA we have with it goes, without telling.
func (e *Engine) initialContact(now time.Time, s *sa, m *isakmp.Message) {
	found := false
	for _, pl := range m.All(isakmp.PayloadNotification) {
		found = found || pl.(*isakmp.Notification).Notify == isakmp.NotifyInitialContact
	}
	if !found {
		return
	}
	p := s.p
	stale := 0
	for _, c := range slices.Clone(p.children) {
		if c.on != s {
			e.removeChild(now, p, c, "peer sent INITIAL-CONTACT", false)
			stale++
		}
	}
	for _, o := range e.sasOf(p) {
		if o != s {
			e.dropSA(now, o, "peer sent INITIAL-CONTACT")
			stale++
		}
	}
	if stale > 0 {
		e.log.Info("IKEv1: peer sent INITIAL-CONTACT: removed its older SAs", "peer", p.cfg.Name, "removed", stale)
	}
}

// checkRemoteID returns why the peer's identity is refused ("" if it is
// accepted): with RemoteID set, IDii/IDir must be that identity.
func checkRemoteID(p *peer, id *isakmp.ID) string {
	want := p.cfg.RemoteID
	if want.IsZero() {
		return ""
	}
	got := ike.Identity{Type: message.IDType(id.IDType), Data: id.Data}
	if got.Equal(want) {
		return ""
	}
	return fmt.Sprintf("Main Mode: AUTHENTICATION_FAILED: peer identity %v does not match the configured remote identity %v", got, want)
}

// mmNotifyReason explains a notify the peer sent during Main Mode.
func (e *Engine) mmNotifyReason(s *sa, n uint16) string {
	r := "Main Mode: peer sent " + notifyName(n)
	if n == isakmp.NotifyNoProposalChosen {
		r += fmt.Sprintf(": we offered %v", names(s.p.mm))
	}
	return r
}

// rcookies is CKY-R | CKY-I (for HASH_R).
func (s *sa) rcookies() []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, s.cr), s.ci)
}

func (e *Engine) established(now time.Time, s *sa) {
	p := s.p
	s.state = stEstablished
	s.established, s.lastSeen = now, now
	s.expireAt = now.Add(s.life)
	s.reauthAt = now.Add(s.life / 10 * 9)
	if !s.initiator {
		s.reauthAt = now.Add(s.life / 20 * 19)
	}
	s.dh = nil
	p.lastErr = ""
	p.upSince = now
	e.log.Info("IKEv1: Main Mode established", "peer", p.cfg.Name, "suite", s.suite, "natt", s.nat, "initiator", s.initiator)
	e.event(ike.Event{Kind: ike.EventIKEUp, Peer: p.cfg.Name, Time: now})
	if s.nat {
		e.host.PeerEndpoint(p.cfg.Name, s.local, s.remote)
	}
	e.reauthenticated(now, s)
	if !s.initiator {
		// The initiator proposes its pairs first; fill in later.
		for _, pr := range p.pairs {
			if pr.retryAt.Before(now.Add(e.cfg.RetryInterval)) {
				pr.retryAt = now.Add(e.cfg.RetryInterval)
			}
		}
	}
	e.settle(now, p)
}

func (e *Engine) respMM3(now time.Time, s *sa, m *isakmp.Message) {
	ke, _ := m.Get(isakmp.PayloadKE).(*isakmp.Data)
	no, _ := m.Get(isakmp.PayloadNonce).(*isakmp.Data)
	if ke == nil || no == nil {
		e.fail(now, s, "Main Mode: MM3 without KE or nonce")
		return
	}
	if err := e.makeKE(s); err != nil {
		e.fail(now, s, err.Error())
		return
	}
	s.gxi, s.ni = ke.Data, no.Data
	s.gxr, s.nr = s.dh.Public(), e.randBytes(32)
	s.checkNATD(m)
	msg, err := isakmp.Encode(&isakmp.Message{Header: s.hdr(isakmp.ExchMainMode, 0), Payloads: e.kePayloads(s, s.gxr, s.nr)})
	if err != nil {
		return
	}
	// MM4 needs no key: send it first, then compute g^xy while the
	// initiator computes its own (one exponentiation, about 1 ms with
	// MODP-2048, off the setup's critical path). A KE value that Shared
	// refuses fails the SA right after MM4 went out; the initiator's MM5
	// then finds no SA, as its retransmitted MM3 found none before.
	s.state = stMM4
	e.transmit(now, s, s.x, msg, false)
	if err := e.deriveKeys(s, s.gxi); err != nil {
		e.fail(now, s, err.Error())
	}
}

func (e *Engine) respMM5(now time.Time, s *sa, pkt ike.Packet, m *isakmp.Message, next []byte) {
	id, _ := m.Get(isakmp.PayloadID).(*isakmp.ID)
	hp, _ := m.Get(isakmp.PayloadHash).(*isakmp.Data)
	if id == nil || hp == nil {
		e.fail(now, s, "Main Mode: MM5 without ID or HASH_I")
		return
	}
	want := s.prf.Sum(nil, s.keys.SKEYID, s.gxi, s.gxr, s.cookies(), s.saiB, id.Body())
	if !hmac.Equal(want, hp.Data) {
		e.badHash(now, s, "HASH_I", nil)
		e.fail(now, s, "Main Mode: AUTHENTICATION_FAILED: HASH_I does not verify (pre-shared key mismatch?)")
		return
	}
	if reason := checkRemoteID(s.p, id); reason != "" {
		e.fail(now, s, reason)
		return
	}
	s.x.lastIn = pkt.Data
	s.iv = next
	s.local, s.remote = pkt.Local, pkt.Remote // NAT-T: the initiator floated to 4500
	if s.local.Port() == 4500 {
		s.nat = true
	}
	e.initialContact(now, s, m)
	me := localID(s)
	hash := s.prf.Sum(nil, s.keys.SKEYID, s.gxr, s.gxi, s.rcookies(), s.saiB, me.Body())
	msg, next2, err := isakmp.EncodeEncrypted(&isakmp.Message{Header: s.hdr(isakmp.ExchMainMode, 0),
		Payloads: e.authPayloads(s, me, hash)}, s.blk, s.iv)
	if err != nil {
		return
	}
	s.iv = next2
	e.transmit(now, s, s.x, msg, false)
	e.established(now, s)
}
