package ike

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

const nonceLen = 32

// startInit sends (or re-sends, after COOKIE or INVALID_KE_PAYLOAD) the
// IKE_SA_INIT request with a KE payload of the given group.
func (sa *ikeSA) startInit(now time.Time, group transform.ID) {
	p := sa.peer
	dh, err := sa.e.cfg.Keys.Get(group, sa.e.rand)
	if err != nil {
		sa.destroy(now, fmt.Sprintf("cannot use DH group %s: %v", transform.Name(transform.TypeDH, group), err))
		return
	}
	sa.state = stInitSent
	sa.dh, sa.initGroup = dh, group
	if sa.ni == nil {
		sa.ni = sa.e.randBytes(nonceLen)
	}
	var ps []message.Payload
	if sa.cookie != nil {
		ps = append(ps, &message.Notify{Type: message.NotifyCookie, Data: sa.cookie})
	}
	ps = append(ps,
		&message.SA{Proposals: offer(p.cfg.IKEProposals, message.ProtoIKE, nil, true)},
		&message.KE{Group: group, Data: dh.Public()},
		&message.Nonce{Data: sa.ni},
	)
	ps = append(ps, sa.natdPayloads(sa.local, sa.remote)...)
	if !p.cfg.NoFragmentation {
		ps = append(ps, &message.Notify{Type: message.NotifyFragmentationSupported})
	}
	sa.nextID = 0
	sa.pending = nil
	sa.request(now, &request{exchange: message.IKESAInit, payloads: ps})
}

// natdPayloads are our NAT_DETECTION_SOURCE_IP and _DESTINATION_IP
// notifies (RFC 7296 §2.23). ForceEncap fakes the source hash so that both
// sides believe we are behind a NAT and encapsulate ESP in UDP.
func (sa *ikeSA) natdPayloads(local, remote netip.AddrPort) []message.Payload {
	src := natHash(sa.spiI, sa.spiR, local)
	if sa.peer != nil && sa.peer.cfg.ForceEncap {
		src = sa.e.randBytes(sha1.Size)
	}
	return []message.Payload{
		&message.Notify{Type: message.NotifyNATDetectionSourceIP, Data: src},
		&message.Notify{Type: message.NotifyNATDetectionDestinationIP, Data: natHash(sa.spiI, sa.spiR, remote)},
	}
}

// natHash is SHA-1(SPIi | SPIr | IP | port).
func natHash(spii, spir uint64, ap netip.AddrPort) []byte {
	h := sha1.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], spii)
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], spir)
	h.Write(b[:])
	h.Write(ap.Addr().Unmap().AsSlice())
	binary.BigEndian.PutUint16(b[:2], ap.Port())
	h.Write(b[:2])
	return h.Sum(nil)
}

// detectNAT compares the peer's NAT detection hashes with the addresses the
// message really travelled between. Without the notifies, no NAT is assumed.
//
// The hashes in an IKE_SA_INIT request are computed with SPIr zero (the
// responder's SPI is not known yet); in the response with both SPIs.
func (sa *ikeSA) detectNAT(m *message.Message, pkt Packet) {
	spir := sa.spiR
	if !m.IsResponse() {
		spir = 0
	}
	var srcs [][]byte
	var dst []byte
	for _, n := range m.Notifies() {
		switch n.Type {
		case message.NotifyNATDetectionSourceIP:
			srcs = append(srcs, n.Data)
		case message.NotifyNATDetectionDestinationIP:
			dst = n.Data
		}
	}
	if len(srcs) == 0 || dst == nil {
		return
	}
	want := natHash(sa.spiI, spir, pkt.Remote)
	sa.natRemote = true
	for _, s := range srcs {
		if bytes.Equal(s, want) {
			sa.natRemote = false
		}
	}
	sa.natLocal = !bytes.Equal(dst, natHash(sa.spiI, spir, pkt.Local))
}

// handleInitResponse processes the responder's IKE_SA_INIT answer.
func (sa *ikeSA) handleInitResponse(now time.Time, pkt Packet, h message.Header) {
	r := sa.pending
	if r == nil || r.exchange != message.IKESAInit || h.MessageID != 0 {
		return
	}
	m, err := message.Decode(pkt.Data, nil)
	if err != nil {
		sa.e.log.Debug("dropping malformed IKE_SA_INIT response", append(sa.logAttrs(), "err", err)...)
		return
	}
	p := sa.peer
	if n := m.Notify(message.NotifyCookie); n != nil && h.SPIr == 0 {
		if sa.cookie != nil && bytes.Equal(sa.cookie, n.Data) {
			return // the same cookie again: keep retransmitting
		}
		sa.e.log.Info("responder asked for a cookie", sa.logAttrs()...)
		sa.cookie = append([]byte(nil), n.Data...)
		sa.startInit(now, sa.initGroup)
		return
	}
	if n := m.Notify(message.NotifyInvalidKEPayload); n != nil {
		if len(n.Data) != 2 {
			return
		}
		g := transform.ID(binary.BigEndian.Uint16(n.Data))
		ok := false
		for _, x := range dhGroupsOf(p.cfg.IKEProposals) {
			ok = ok || x == g
		}
		if !ok || g == sa.initGroup {
			sa.destroy(now, fmt.Sprintf("INVALID_KE_PAYLOAD: peer wants DH group %s, which we do not offer (we offer %s)",
				transform.Name(transform.TypeDH, g), groupNames(dhGroupsOf(p.cfg.IKEProposals))))
			return
		}
		sa.e.log.Info("INVALID_KE_PAYLOAD: retrying with the peer's DH group", append(sa.logAttrs(), "group", transform.Name(transform.TypeDH, g))...)
		sa.startInit(now, g)
		return
	}
	for _, n := range m.Notifies() {
		if n.Type.IsError() {
			reason := n.Type.String()
			if n.Type == message.NotifyNoProposalChosen {
				reason += ": the peer accepts none of our IKE proposals (we offered " + transform.FormatProposals(p.cfg.IKEProposals) + ")"
			}
			sa.destroy(now, reason)
			return
		}
	}
	if h.SPIr == 0 {
		return
	}
	saP, ke, nonce := m.SA(), m.KE(), m.Nonce()
	if saP == nil || ke == nil || nonce == nil {
		sa.destroy(now, "IKE_SA_INIT response without SA, KE or Nonce")
		return
	}
	_, s, ok := acceptedProposal(p.cfg.IKEProposals, saP, message.ProtoIKE, true)
	if !ok {
		sa.destroy(now, "IKE_SA_INIT response selected a proposal we did not offer: "+describe(saP.Proposals))
		return
	}
	if ke.Group != sa.initGroup || s.dh != sa.initGroup {
		sa.destroy(now, fmt.Sprintf("IKE_SA_INIT response KE group %d does not match ours %d", ke.Group, sa.initGroup))
		return
	}
	gir, err := sa.dh.Shared(ke.Data)
	if err != nil {
		sa.destroy(now, "invalid DH public value from peer: "+err.Error())
		return
	}
	sa.pending = nil
	sa.nextID = 1
	sa.spiR = h.SPIr
	sa.nr = append([]byte(nil), nonce.Data...)
	sa.suite = s
	if err := sa.deriveKeys(gir); err != nil {
		sa.destroy(now, err.Error())
		return
	}
	sa.dh = nil
	sa.initResp = append([]byte(nil), pkt.Data...)
	sa.detectNAT(m, pkt)
	sa.fragOK = !p.cfg.NoFragmentation && m.Notify(message.NotifyFragmentationSupported) != nil
	if sa.encap() {
		sa.local = netip.AddrPortFrom(sa.local.Addr(), natTPort(sa.local.Port()))
		sa.remote = netip.AddrPortFrom(sa.remote.Addr(), natTPort(sa.remote.Port()))
	}
	sa.e.log.Info("IKE_SA_INIT done", append(sa.logAttrs(), "suite", s.String(), "nat_local", sa.natLocal, "nat_remote", sa.natRemote)...)
	sa.startAuth(now)
}

// natTPort is the NAT-T port for an IKE port: 4500 for 500 (tests using
// other ports add 1).
func natTPort(p uint16) uint16 {
	if p == 500 || p == 4500 {
		return 4500
	}
	if p%2 == 0 {
		return p + 1
	}
	return p
}

// deriveKeys computes the IKE SA keys from the DH secret and the nonces.
func (sa *ikeSA) deriveKeys(gir []byte) error {
	prf, err := transform.NewPRF(sa.suite.prf)
	if err != nil {
		return err
	}
	keys, err := transform.DeriveIKEKeys(prf, sa.ni, sa.nr, gir, sa.spiI, sa.spiR, sa.suite.encr.ID, sa.suite.encr.KeyBits, sa.suite.integ)
	if err != nil {
		return err
	}
	sa.prf = prf
	return sa.useKeys(keys)
}

// useKeys installs the SK_e/SK_a ciphers for both directions.
//
// The SA keeps them expanded (AES-GCM: key schedule and GHASH table, ~1.3
// kB each). It used to keep only the keys and expand them for each
// message, to save that memory on idle tunnels; but an idle tunnel with
// DPD still protects a message in each direction every 24–30 s, and at
// 10,000 tunnels the expansions (~7 µs each here) and the garbage they
// left cost over 1 % of a core of the agent's idle CPU (docs/benchmarks.md,
// "Idle at 10,000: liveness checks batched").
func (sa *ikeSA) useKeys(keys transform.IKEKeys) error {
	s := sa.suite
	ci, err := transform.NewCipher(s.encr.ID, s.encr.KeyBits, s.integ, keys.SKei, keys.SKai)
	if err != nil {
		return err
	}
	cr, err := transform.NewCipher(s.encr.ID, s.encr.KeyBits, s.integ, keys.SKer, keys.SKar)
	if err != nil {
		return err
	}
	sa.keys = keys
	if sa.initiator {
		sa.out, sa.in = &message.Crypto{Cipher: ci, Rand: sa.e.rand}, &message.Crypto{Cipher: cr}
	} else {
		sa.out, sa.in = &message.Crypto{Cipher: cr, Rand: sa.e.rand}, &message.Crypto{Cipher: ci}
	}
	return nil
}

// handleInitRequest is the responder side of IKE_SA_INIT.
func (e *Engine) handleInitRequest(now time.Time, pkt Packet, h message.Header) {
	key := initKey{h.SPIi, pkt.Remote}
	if sa := e.initResp[key]; sa != nil {
		if bytes.Equal(sa.initReq, pkt.Data) && sa.initResp != nil {
			sa.send([][]byte{sa.initResp})
		}
		return
	}
	// Only configured peers get an answer, and unknown addresses cost one
	// map lookup: sources are trivially spoofed (see DropReason).
	cands := e.peersFor(pkt.Local.Addr(), pkt.Remote.Addr())
	if len(cands) == 0 {
		e.logDrop(now, DropUnknownPeer, "IKE_SA_INIT from an unknown peer: no connection for this address; not answered", "from", pkt.Remote, "to", pkt.Local)
		return
	}
	m, err := message.Decode(pkt.Data, nil)
	if err != nil {
		e.logDrop(now, DropMalformed, "dropping malformed IKE_SA_INIT", "from", pkt.Remote, "err", err)
		return
	}
	reply := func(payloads ...message.Payload) {
		r := &message.Message{
			Header:   message.Header{SPIi: h.SPIi, Version: 0x20, Exchange: message.IKESAInit, Flags: message.FlagResponse},
			Payloads: payloads,
		}
		if b, err := r.Encode(); err == nil {
			e.host.SendIKE(Packet{Data: b, Local: pkt.Local, Remote: pkt.Remote})
		}
	}
	// replyError is an error reply, sent within the rate of replyBucket.
	replyError := func(t message.NotifyType) {
		if e.replies.take(now) {
			reply(&message.Notify{Type: t})
		}
	}
	saP, ke, nonce := m.SA(), m.KE(), m.Nonce()
	if saP == nil || ke == nil || nonce == nil {
		e.logDrop(now, DropInvalidSyntax, "IKE_SA_INIT without SA, KE or Nonce", "from", pkt.Remote)
		replyError(message.NotifyInvalidSyntax)
		return
	}
	if e.halfOpen >= e.cfg.CookieThreshold {
		c := m.Notify(message.NotifyCookie)
		if c == nil || len(m.Payloads) == 0 || m.Payloads[0] != message.Payload(c) || !e.cookies.valid(c.Data, nonce.Data, pkt.Remote, h.SPIi) {
			// Stateless and no larger than the request (RFC 7296 §2.6):
			// a peer that really sent it returns the cookie.
			e.logDrop(now, DropCookie, "many half-open IKE SAs: asking for a cookie", "from", pkt.Remote, "half_open", e.halfOpen)
			reply(&message.Notify{Type: message.NotifyCookie, Data: e.cookies.make(nonce.Data, pkt.Remote, h.SPIi)})
			return
		}
	}
	var props []transformProposals
	for _, p := range cands {
		props = append(props, p.cfg.ikeAccept())
	}
	ours := flatten(props)
	idx, s, ok := selectProposal(ours, saP.Proposals, message.ProtoIKE, true)
	if !ok {
		reason := "NO_PROPOSAL_CHOSEN: peer offered " + describe(saP.Proposals) + "; we accept " + transform.FormatProposals(ours)
		for _, p := range cands {
			if p.lastError != reason {
				p.lastError = reason
				e.touchPeer(p)
			}
		}
		// The log line and the failure events are rate-limited: the
		// address may be spoofed.
		if e.logDrop(now, DropNoProposal, "IKE_SA_INIT: no acceptable proposal", "from", pkt.Remote, "offered", describe(saP.Proposals), "accepted", transform.FormatProposals(ours)) {
			for _, p := range cands {
				e.host.Event(Event{Kind: EventFailure, Peer: p.cfg.Name, Time: now, Reason: reason})
			}
		}
		replyError(message.NotifyNoProposalChosen)
		return
	}
	if ke.Group != s.dh {
		// Accept the KE group if both sides allow it in this proposal.
		alt, ok2 := pick(transform.Proposal{Encr: []transform.Encr{s.encr}, PRF: []transform.ID{s.prf}, Integ: []transform.ID{s.integ}, DH: []transform.ID{ke.Group}}, &saP.Proposals[idx], message.ProtoIKE, true)
		allowed := false
		for _, g := range dhGroupsOf(ours) {
			allowed = allowed || g == ke.Group
		}
		if !ok2 || !allowed {
			var d [2]byte
			binary.BigEndian.PutUint16(d[:], uint16(s.dh))
			e.logDrop(now, DropInvalidKE, "IKE_SA_INIT: asking for another DH group", "from", pkt.Remote, "got", transform.Name(transform.TypeDH, ke.Group), "want", transform.Name(transform.TypeDH, s.dh))
			reply(&message.Notify{Type: message.NotifyInvalidKEPayload, Data: d[:]})
			return
		}
		s = alt
	}
	dh, err := e.cfg.Keys.Get(s.dh, e.rand)
	if err != nil {
		reply(&message.Notify{Type: message.NotifyNoProposalChosen})
		return
	}
	// The peer's value is checked now; the exchange itself (g^ir and the
	// keys) waits until our answer is out (respondInitKeys).
	if err := transform.CheckPublic(s.dh, ke.Data); err != nil {
		e.logDrop(now, DropInvalidSyntax, "IKE_SA_INIT: invalid DH public value", "from", pkt.Remote, "err", err)
		replyError(message.NotifyInvalidSyntax)
		return
	}
	sa := e.newSA(nil, false, now)
	sa.spiI = h.SPIi
	sa.candidates = cands
	sa.local, sa.remote = pkt.Local, pkt.Remote
	sa.ni = append([]byte(nil), nonce.Data...)
	sa.nr = e.randBytes(nonceLen)
	sa.suite = s
	sa.detectNAT(m, pkt)
	if cands[0].cfg.ForceEncap {
		sa.natLocal = true
	}
	fragWanted := !cands[0].cfg.NoFragmentation
	sa.fragOK = fragWanted && m.Notify(message.NotifyFragmentationSupported) != nil
	ps := []message.Payload{
		&message.SA{Proposals: []message.Proposal{responseProposal(saP.Proposals[idx].Number, message.ProtoIKE, nil, s, true)}},
		&message.KE{Group: s.dh, Data: dh.Public()},
		&message.Nonce{Data: sa.nr},
	}
	ps = append(ps, sa.natdPayloadsResponder(cands[0], pkt)...)
	if sa.fragOK {
		ps = append(ps, &message.Notify{Type: message.NotifyFragmentationSupported})
	}
	if t := sa.remoteAccessFor(); t != nil && t.cfg.RemoteAccess.Clients != nil {
		// Ask certificate clients for their certificate (clients send
		// it only when asked), naming the roots we trust.
		ps = append(ps, &message.CertReq{Encoding: message.CertX509Signature, Data: t.cfg.RemoteAccess.Clients.CertReq()})
	}
	r := &message.Message{Header: sa.header(message.IKESAInit, 0, true), Payloads: ps}
	b, err := r.Encode()
	if err != nil {
		sa.destroy(now, "cannot encode IKE_SA_INIT response: "+err.Error())
		return
	}
	sa.initReq = append([]byte(nil), pkt.Data...)
	sa.initResp = b
	sa.peerNextID = 1
	sa.nextID = 0
	sa.state = stInitDone
	sa.halfOpen = true
	e.halfOpen++
	sa.initKey = key
	e.initResp[key] = sa
	// The answer first: the log line's arguments alone cost tens of
	// microseconds on a shared vCPU.
	sa.send([][]byte{b})
	e.log.Info("IKE_SA_INIT answered", append(sa.logAttrs(), "from", pkt.Remote, "suite", s.String(), "nat_local", sa.natLocal, "nat_remote", sa.natRemote)...)
	sa.respondInitKeys(now, dh, ke.Data)
}

// respondInitKeys is the responder's work after its IKE_SA_INIT answer
// went out, done while the answer is on the wire and the initiator
// computes its own: g^ir, the SA's keys and, for a point-to-site
// template, the gateway's AUTH for IKE_AUTH (gatewayProof; not while
// half-open SAs are many, so that a flood of IKE_SA_INITs costs no
// signatures). A failure here (a degenerate shared secret, which
// CheckPublic cannot see) removes the SA: the initiator's IKE_AUTH then
// finds none.
func (sa *ikeSA) respondInitKeys(now time.Time, dh transform.DH, peerKE []byte) {
	gir, err := dh.Shared(peerKE)
	if err == nil {
		err = sa.deriveKeys(gir)
	}
	if err != nil {
		sa.e.logDrop(now, DropInvalidSyntax, "IKE_SA_INIT: no keys from the DH exchange", "from", sa.remote, "err", err)
		sa.destroy(now, err.Error())
		return
	}
	if t := sa.remoteAccessFor(); t != nil && sa.e.halfOpen < sa.e.cfg.CookieThreshold/2 {
		sa.proof = &gatewayProof{tmpl: t}
		sa.proof.payloads, sa.proof.err = sa.gatewayProof(t)
	}
}

func (sa *ikeSA) natdPayloadsResponder(p *peer, pkt Packet) []message.Payload {
	src := natHash(sa.spiI, sa.spiR, pkt.Local)
	if p.cfg.ForceEncap {
		src = sa.e.randBytes(sha1.Size)
	}
	return []message.Payload{
		&message.Notify{Type: message.NotifyNATDetectionSourceIP, Data: src},
		&message.Notify{Type: message.NotifyNATDetectionDestinationIP, Data: natHash(sa.spiI, sa.spiR, pkt.Remote)},
	}
}

type transformProposals = []transform.Proposal

// flatten joins the candidates' proposals; one candidate's are returned
// as they are (read only).
func flatten(ps []transformProposals) []transform.Proposal {
	if len(ps) == 1 {
		return ps[0]
	}
	var out []transform.Proposal
	for _, p := range ps {
		out = append(out, p...)
	}
	return out
}

func groupNames(gs []transform.ID) string {
	s := ""
	for i, g := range gs {
		if i > 0 {
			s += ","
		}
		s += transform.Name(transform.TypeDH, g)
	}
	return s
}

// cookieJar makes and checks stateless cookies (RFC 7296 §2.6):
// cookie = version ‖ HMAC-SHA256(secret, Ni ‖ IPi ‖ SPIi)[:16]. The secret
// rotates every few minutes; the previous one stays valid.
type cookieJar struct {
	version   uint32
	cur, prev [32]byte
	rotatedAt time.Time
}

func (c *cookieJar) init(r io.Reader) {
	_, _ = io.ReadFull(r, c.cur[:])
	c.prev = c.cur
}

func (c *cookieJar) rotate(now time.Time, r io.Reader) {
	if c.rotatedAt.IsZero() {
		c.rotatedAt = now
		return
	}
	if now.Sub(c.rotatedAt) < 5*time.Minute {
		return
	}
	c.prev = c.cur
	_, _ = io.ReadFull(r, c.cur[:])
	c.version++
	c.rotatedAt = now
}

func cookieMAC(secret []byte, version uint32, ni []byte, from netip.AddrPort, spii uint64) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(ni)
	m.Write(from.Addr().AsSlice())
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], spii)
	m.Write(b[:])
	out := make([]byte, 4, 20)
	binary.BigEndian.PutUint32(out, version)
	return append(out, m.Sum(nil)[:16]...)
}

func (c *cookieJar) make(ni []byte, from netip.AddrPort, spii uint64) []byte {
	return cookieMAC(c.cur[:], c.version, ni, from, spii)
}

func (c *cookieJar) valid(cookie, ni []byte, from netip.AddrPort, spii uint64) bool {
	if len(cookie) != 20 {
		return false
	}
	v := binary.BigEndian.Uint32(cookie)
	switch v {
	case c.version:
		return hmac.Equal(cookie, cookieMAC(c.cur[:], v, ni, from, spii))
	case c.version - 1:
		return hmac.Equal(cookie, cookieMAC(c.prev[:], v, ni, from, spii))
	}
	return false
}
