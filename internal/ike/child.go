package ike

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"time"

	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

// childState is the state of a Child SA.
type childState uint8

const (
	chPending   childState = iota + 1 // being negotiated; its inbound SPI is reserved
	chInstalled                       // in use
	chRekeying                        // our rekey of it is outstanding
	chRekeyed                         // replaced; its inbound side lingers until removeAt
	chDeleting                        // our Delete for it is outstanding
)

// tsPair is one set of traffic selectors a peer wants protected: all
// prefixes at once (route-based) or one local × remote pair (policy-based).
type tsPair struct {
	local, remote []message.TrafficSelector
}

// pairs lists the Child SAs the peer's configuration asks for.
func (p *peer) pairs() []tsPair {
	if len(p.cfg.ChildSelectors) > 0 {
		out := make([]tsPair, 0, len(p.cfg.ChildSelectors))
		for _, s := range p.cfg.ChildSelectors {
			out = append(out, tsPair{local: prefixesTS(s.Local), remote: prefixesTS(s.Remote)})
		}
		return out
	}
	if !p.cfg.PolicyBased {
		return []tsPair{{local: prefixesTS(p.cfg.LocalTS), remote: prefixesTS(p.cfg.RemoteTS)}}
	}
	var out []tsPair
	for _, l := range p.cfg.LocalTS {
		for _, r := range p.cfg.RemoteTS {
			out = append(out, tsPair{local: []message.TrafficSelector{prefixTS(l)}, remote: []message.TrafficSelector{prefixTS(r)}})
		}
	}
	return out
}

// espAccept is what we accept as responder: the configured proposals, or
// with none configured Azure's responder list plus modern suites (d's,
// shared: read only).
func (p *peer) espAccept(d *peerDefaults) []transform.Proposal {
	if p.cfg.customESP {
		return p.cfg.ESPProposals
	}
	return d.espAccept
}

// childSA is one Child SA.
type childSA struct {
	sa    *ikeSA
	state childState
	// pair is the index of the tsPair we created it for, -1 if the peer
	// created it.
	pair          int
	inSPI, outSPI uint32
	suite         suite
	// localTS and remoteTS are proposed until the SA is installed, then
	// negotiated.
	localTS, remoteTS []message.TrafficSelector
	// nonceI and nonceR are the nonces of the exchange that created it.
	nonceI, nonceR []byte
	created        time.Time
	rekeyAt        time.Time
	expireAt       time.Time
	removeAt       time.Time
	outActive      bool     // the data plane sends on it
	replaces       *childSA // the SA this one rekeys
	replacedBy     *childSA
	peerRekey      *childSA // created by the peer's rekey of this SA during ours (§2.8.1)
	redundant      *childSA // our own rekey of this SA that lost a collision; deleted with it
	rekeyDue       bool     // the data plane reported the soft byte limit
	rekeyFails     int
}

func spiBytes(spi uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], spi)
	return b[:]
}

// newChild reserves an inbound SPI for a Child SA we are about to propose.
func (sa *ikeSA) newChild(pair int, ts tsPair) *childSA {
	c := &childSA{sa: sa, state: chPending, pair: pair, inSPI: sa.e.newChildSPI(), localTS: ts.local, remoteTS: ts.remote}
	sa.addChild(c)
	return c
}

// addChild registers c with the engine and its IKE SA (whose map is made on
// the first Child SA: a half-open SA has none).
func (sa *ikeSA) addChild(c *childSA) {
	sa.e.children[c.inSPI] = c
	if sa.children == nil {
		sa.children = make(map[uint32]*childSA, 1)
	}
	sa.children[c.inSPI] = c
}

// dropChild releases a Child SA that never got installed.
func (sa *ikeSA) dropChild(c *childSA) {
	if c == nil || c.state != chPending {
		return
	}
	delete(sa.e.children, c.inSPI)
	delete(c.sa.children, c.inSPI)
}

func (sa *ikeSA) sortedChildren() []*childSA {
	out := make([]*childSA, 0, len(sa.children))
	for _, c := range sa.children {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].inSPI < out[j].inSPI })
	return out
}

func (sa *ikeSA) childByOutSPI(spi uint32) *childSA {
	for _, c := range sa.children {
		if c.outSPI == spi && c.state != chPending {
			return c
		}
	}
	return nil
}

// childFailure records why a Child SA could not be created; the pair is
// tried again later.
func (sa *ikeSA) childFailure(now time.Time, c *childSA, reason string) {
	p := sa.peer
	sa.e.log.Warn("Child SA not established", append(sa.logAttrs(), "reason", reason, "local_ts", TSString(c.localTS), "remote_ts", TSString(c.remoteTS))...)
	p.lastError = reason
	sa.e.host.Event(Event{Kind: EventFailure, Peer: p.cfg.Name, Time: now, Reason: reason})
	if c.pair >= 0 {
		if sa.pairRetry == nil {
			sa.pairRetry = map[int]time.Duration{}
		}
		d := sa.pairRetry[c.pair]
		if d == 0 {
			d = sa.e.cfg.RetryInitiate
		} else {
			d = min(2*d, 60*time.Second)
		}
		sa.pairRetry[c.pair] = d
		if sa.pairRetryAt == nil {
			sa.pairRetryAt = map[int]time.Time{}
		}
		sa.pairRetryAt[c.pair] = now.Add(sa.e.backoff(d))
	}
	sa.dropChild(c)
}

// childError returns the first error notify of a Child SA response, with a
// reason for the logs.
func childError(m *message.Message, p *peer, c *childSA) (message.NotifyType, string, bool) {
	for _, n := range m.Notifies() {
		if !n.Type.IsError() {
			continue
		}
		reason := n.Type.String()
		switch n.Type {
		case message.NotifyNoProposalChosen:
			reason += ": the peer accepts none of our ESP proposals (we offered " + transform.FormatProposals(p.cfg.ESPProposals) + ")"
		case message.NotifyTSUnacceptable:
			reason += ": the peer refused our traffic selectors " + TSString(c.localTS) + " <-> " + TSString(c.remoteTS)
		}
		return n.Type, reason, true
	}
	return 0, "", false
}

// finishChildInitiator completes a Child SA we proposed (in IKE_AUTH or
// CREATE_CHILD_SA) from the response m. dh is our PFS key, or nil.
//
// decide, if not nil, is called once the Child SA is negotiated and says
// whether we send on it at once (a rekey that lost a collision does not).
func (sa *ikeSA) finishChildInitiator(now time.Time, m *message.Message, c *childSA, dh transform.DH, exchange string, decide func(*childSA) bool) bool {
	p := sa.peer
	if _, reason, bad := childError(m, p, c); bad {
		sa.childFailure(now, c, reason)
		return false
	}
	prop, s, ok := acceptedProposal(p.cfg.ESPProposals, m.SA(), message.ProtoESP, dh != nil)
	if !ok {
		sa.childFailure(now, c, exchange+": the peer selected an ESP proposal we did not offer")
		return false
	}
	if len(prop.SPI) != 4 {
		sa.childFailure(now, c, exchange+": bad ESP SPI size in response")
		return false
	}
	var gir []byte
	if dh != nil && s.dh != transform.DHNone {
		ke := m.KE()
		if ke == nil || ke.Group != s.dh {
			sa.childFailure(now, c, exchange+": response lacks the KE payload for PFS")
			return false
		}
		var err error
		if gir, err = dh.Shared(ke.Data); err != nil {
			sa.childFailure(now, c, exchange+": invalid PFS public value: "+err.Error())
			return false
		}
	}
	tsi, tsr := m.TSi(), m.TSr()
	if tsi == nil || tsr == nil || !subsetOf(tsi.Selectors, c.localTS) || !subsetOf(tsr.Selectors, c.remoteTS) {
		sa.childFailure(now, c, exchange+": the peer answered with traffic selectors outside what we proposed")
		return false
	}
	ni, nr := sa.ni, sa.nr
	if exchange != "IKE_AUTH" {
		n := m.Nonce()
		if n == nil {
			sa.childFailure(now, c, exchange+": response without nonce")
			return false
		}
		ni, nr = c.nonceI, n.Data
	}
	c.outSPI = binary.BigEndian.Uint32(prop.SPI)
	c.suite = s
	c.localTS, c.remoteTS = tsi.Selectors, tsr.Selectors
	c.nonceI, c.nonceR = ni, nr
	outbound := true
	if decide != nil {
		outbound = decide(c)
	}
	if err := sa.installChild(now, c, gir, true, outbound); err != nil {
		sa.childFailure(now, c, exchange+": "+err.Error())
		return false
	}
	return true
}

// installChild derives the keys of c and hands it to the data plane.
// weInitiated says which half of KEYMAT is ours; outbound whether we send
// on it at once.
func (sa *ikeSA) installChild(now time.Time, c *childSA, gir []byte, weInitiated, outbound bool) error {
	s := c.suite
	ck, err := transform.DeriveChildKeys(sa.prf, sa.keys.SKd, gir, c.nonceI, c.nonceR, s.encr.ID, s.encr.KeyBits, s.integ)
	if err != nil {
		return err
	}
	p := sa.peer
	hs := &ChildSA{
		Peer: p.cfg.Name, InSPI: c.inSPI, OutSPI: c.outSPI,
		Encr: s.encr, Integ: s.integ, ESN: s.esn, PFS: s.dh,
		LocalTS: c.localTS, RemoteTS: c.remoteTS,
		Local: sa.local, Remote: sa.remote, Encap: sa.encap(),
		Established: now,
	}
	if weInitiated {
		hs.OutEncKey, hs.OutIntegKey, hs.InEncKey, hs.InIntegKey = ck.EncrI, ck.IntegI, ck.EncrR, ck.IntegR
	} else {
		hs.OutEncKey, hs.OutIntegKey, hs.InEncKey, hs.InIntegKey = ck.EncrR, ck.IntegR, ck.EncrI, ck.IntegI
	}
	life := p.cfg.ChildLifeBytes
	hs.HardBytes = life
	hs.SoftBytes = uint64(float64(life) * float64(sa.e.jitter(time.Duration(1e9))) / 1e9)
	if c.replaces != nil {
		hs.Replaces = c.replaces.inSPI
	}
	if !hs.Encap {
		hs.Local = netipAddrPortNoPort(sa.local)
		hs.Remote = netipAddrPortNoPort(sa.remote)
	} else if sa.remote.Port() == p.cfg.Port && (p.client == nil || p.cfg.Port == 500) {
		// ESP-in-UDP goes to the NAT-T port even if IKE stayed on 500.
		// A remote-access client's Port is the endpoint its IKE_AUTH came
		// from (behind a NAT, any port): ESP goes back there.
		hs.Remote = netip.AddrPortFrom(sa.remote.Addr(), natTPort(sa.remote.Port()))
		hs.Local = netip.AddrPortFrom(sa.local.Addr(), natTPort(sa.local.Port()))
	}
	if err := sa.e.host.InstallChildSA(hs, outbound); err != nil {
		return err
	}
	c.state = chInstalled
	c.created = now
	c.expireAt = now.Add(p.cfg.ChildLifetime)
	c.rekeyAt = now.Add(sa.e.jitter(p.cfg.ChildLifetime))
	if outbound {
		sa.outboundMovedTo(c)
	}
	// The line's arguments (SPIs, suite and selectors as text: ~10
	// allocations) are built only when Info is on: this runs on the
	// IKE_AUTH answer's path.
	if sa.e.log.Enabled(context.Background(), slog.LevelInfo) {
		sa.e.log.Info("Child SA installed", append(sa.logAttrs(),
			"in_spi", fmt.Sprintf("%08x", c.inSPI), "out_spi", fmt.Sprintf("%08x", c.outSPI),
			"suite", s.String(), "local_ts", TSString(c.localTS), "remote_ts", TSString(c.remoteTS),
			"encap", hs.Encap, "rekey_of", spiOrNone(c.replaces))...)
	}
	sa.e.host.Event(Event{Kind: EventChildUp, Peer: p.cfg.Name, Time: now, InSPI: c.inSPI})
	return nil
}

func spiOrNone(c *childSA) string {
	if c == nil {
		return "-"
	}
	return fmt.Sprintf("%08x", c.inSPI)
}

// acceptChild negotiates, as responder, the Child SA carried by an IKE_AUTH
// request and returns the payloads of our answer (SA, TSi, TSr), or the
// error notify.
func (sa *ikeSA) acceptChild(now time.Time, m *message.Message, _ *childSA, _ *message.KE, _ bool) []message.Payload {
	p := sa.peer
	saP, tsi, tsr := m.SA(), m.TSi(), m.TSr()
	if saP == nil || tsi == nil || tsr == nil {
		return nil // childless IKE_AUTH (RFC 6023): nothing to answer
	}
	if m.Notify(message.NotifyUseTransportMode) != nil {
		sa.e.log.Info("peer asked for transport mode; answering with tunnel mode", sa.logAttrs()...)
	}
	accept := p.espAccept(sa.e.defaults)
	idx, s, ok := selectProposal(accept, saP.Proposals, message.ProtoESP, false)
	if !ok {
		reason := "NO_PROPOSAL_CHOSEN (Child SA): peer offered " + describe(saP.Proposals) + "; we accept " + transform.FormatProposals(accept)
		sa.e.log.Warn(reason, sa.logAttrs()...)
		p.lastError = reason
		sa.e.host.Event(Event{Kind: EventFailure, Peer: p.cfg.Name, Time: now, Reason: reason})
		return []message.Payload{&message.Notify{Type: message.NotifyNoProposalChosen}}
	}
	if len(saP.Proposals[idx].SPI) != 4 {
		return []message.Payload{&message.Notify{Type: message.NotifyInvalidSyntax}}
	}
	nTSi, nTSr := narrow(tsi.Selectors, p.cfg.RemoteTS), narrow(tsr.Selectors, p.cfg.LocalTS)
	if len(nTSi) == 0 || len(nTSr) == 0 {
		reason := "TS_UNACCEPTABLE: peer proposed " + TSString(tsi.Selectors) + " <-> " + TSString(tsr.Selectors) +
			"; we allow " + prefixList(p.cfg.RemoteTS) + " <-> " + prefixList(p.cfg.LocalTS)
		sa.e.log.Warn(reason, sa.logAttrs()...)
		p.lastError = reason
		sa.e.host.Event(Event{Kind: EventFailure, Peer: p.cfg.Name, Time: now, Reason: reason})
		return []message.Payload{&message.Notify{Type: message.NotifyTSUnacceptable}}
	}
	c := &childSA{sa: sa, state: chPending, pair: -1, inSPI: sa.e.newChildSPI(), suite: s,
		localTS: nTSr, remoteTS: nTSi, nonceI: sa.ni, nonceR: sa.nr}
	c.outSPI = binary.BigEndian.Uint32(saP.Proposals[idx].SPI)
	sa.addChild(c)
	c.pair = sa.matchPair(c)
	if err := sa.installChild(now, c, nil, false, true); err != nil {
		sa.dropChild(c)
		return []message.Payload{&message.Notify{Type: message.NotifyTemporaryFailure}}
	}
	return []message.Payload{
		&message.SA{Proposals: []message.Proposal{responseProposal(saP.Proposals[idx].Number, message.ProtoESP, spiBytes(c.inSPI), s, false)}},
		&message.TS{Initiator: true, Selectors: nTSi},
		&message.TS{Initiator: false, Selectors: nTSr},
	}
}

// matchPair returns the index of the configured pair a peer-created Child
// SA serves, or -1.
func (sa *ikeSA) matchPair(c *childSA) int {
	for i, pr := range sa.peer.pairs() {
		if overlaps(c.localTS, pr.local) && overlaps(c.remoteTS, pr.remote) {
			return i
		}
	}
	return -1
}

func overlaps(a, b []message.TrafficSelector) bool {
	for _, x := range a {
		for _, y := range b {
			if _, ok := intersect(x, y); ok {
				return true
			}
		}
	}
	return false
}

// handleCreateChildRequest answers a CREATE_CHILD_SA request: a new Child
// SA, a Child SA rekey, or an IKE SA rekey.
func (sa *ikeSA) handleCreateChildRequest(now time.Time, m *message.Message) {
	saP, nonce := m.SA(), m.Nonce()
	if saP == nil || nonce == nil || len(saP.Proposals) == 0 {
		sa.notifyError(now, m, message.NotifyInvalidSyntax, nil)
		return
	}
	if saP.Proposals[0].Protocol == message.ProtoIKE {
		sa.handleIKERekeyRequest(now, m)
		return
	}
	p := sa.peer
	var old *childSA
	if n := m.Notify(message.NotifyRekeySA); n != nil {
		if len(n.SPI) != 4 {
			sa.notifyError(now, m, message.NotifyInvalidSyntax, nil)
			return
		}
		old = sa.childByOutSPI(binary.BigEndian.Uint32(n.SPI))
		if old == nil {
			sa.respond(now, m, []message.Payload{&message.Notify{Protocol: message.ProtoESP, SPI: n.SPI, Type: message.NotifyChildSANotFound}})
			return
		}
		if old.state == chRekeyed || old.state == chDeleting || (old.state == chRekeying && old.peerRekey != nil) {
			sa.notifyError(now, m, message.NotifyTemporaryFailure, nil)
			return
		}
	}
	if sa.rekeying != nil {
		// Our IKE SA rekey is running (RFC 7296 §2.25.2).
		sa.notifyError(now, m, message.NotifyTemporaryFailure, nil)
		return
	}
	tsi, tsr := m.TSi(), m.TSr()
	if tsi == nil || tsr == nil {
		sa.notifyError(now, m, message.NotifyInvalidSyntax, nil)
		return
	}
	accept := p.espAccept(sa.e.defaults)
	ke := m.KE()
	idx, s, ok := selectProposal(accept, saP.Proposals, message.ProtoESP, true)
	if !ok {
		reason := "NO_PROPOSAL_CHOSEN (CREATE_CHILD_SA): peer offered " + describe(saP.Proposals) + "; we accept " + transform.FormatProposals(accept)
		sa.e.log.Warn(reason, sa.logAttrs()...)
		sa.notifyError(now, m, message.NotifyNoProposalChosen, nil)
		return
	}
	var gir []byte
	var ourKE *message.KE
	if s.dh != transform.DHNone {
		if ke == nil || ke.Group != s.dh {
			var d [2]byte
			binary.BigEndian.PutUint16(d[:], uint16(s.dh))
			sa.notifyError(now, m, message.NotifyInvalidKEPayload, d[:])
			return
		}
		dh, err := sa.e.cfg.Keys.Get(s.dh, sa.e.rand)
		if err != nil {
			sa.notifyError(now, m, message.NotifyNoProposalChosen, nil)
			return
		}
		if gir, err = dh.Shared(ke.Data); err != nil {
			sa.notifyError(now, m, message.NotifyInvalidSyntax, nil)
			return
		}
		ourKE = &message.KE{Group: s.dh, Data: dh.Public()}
	}
	nTSi, nTSr := narrow(tsi.Selectors, p.cfg.RemoteTS), narrow(tsr.Selectors, p.cfg.LocalTS)
	if len(nTSi) == 0 || len(nTSr) == 0 {
		sa.e.log.Warn("TS_UNACCEPTABLE (CREATE_CHILD_SA)", append(sa.logAttrs(), "peer_tsi", TSString(tsi.Selectors), "peer_tsr", TSString(tsr.Selectors))...)
		sa.notifyError(now, m, message.NotifyTSUnacceptable, nil)
		return
	}
	if len(saP.Proposals[idx].SPI) != 4 {
		sa.notifyError(now, m, message.NotifyInvalidSyntax, nil)
		return
	}
	nr := sa.e.randBytes(nonceLen)
	c := &childSA{sa: sa, state: chPending, pair: -1, inSPI: sa.e.newChildSPI(), suite: s,
		localTS: nTSr, remoteTS: nTSi, nonceI: append([]byte(nil), nonce.Data...), nonceR: nr, replaces: old}
	c.outSPI = binary.BigEndian.Uint32(saP.Proposals[idx].SPI)
	sa.addChild(c)
	if old != nil {
		c.pair = old.pair
	} else {
		c.pair = sa.matchPair(c)
	}
	// A rekeyed SA's outbound side switches when the initiator deletes
	// the old SA (make-before-break); a new SA is used at once.
	if err := sa.installChild(now, c, gir, false, old == nil); err != nil {
		sa.dropChild(c)
		sa.notifyError(now, m, message.NotifyTemporaryFailure, nil)
		return
	}
	if old != nil {
		if old.state == chRekeying {
			old.peerRekey = c // simultaneous rekey: resolved when ours completes
		} else {
			old.replacedBy = c
		}
	}
	ps := []message.Payload{
		&message.SA{Proposals: []message.Proposal{responseProposal(saP.Proposals[idx].Number, message.ProtoESP, spiBytes(c.inSPI), s, s.dh != transform.DHNone)}},
		&message.Nonce{Data: nr},
	}
	if ourKE != nil {
		ps = append(ps, ourKE)
	}
	ps = append(ps, &message.TS{Initiator: true, Selectors: nTSi}, &message.TS{Initiator: false, Selectors: nTSr})
	sa.respond(now, m, ps)
}

// createChild negotiates an additional Child SA for a configured pair.
func (sa *ikeSA) createChild(now time.Time, pair int, ts tsPair) {
	c := sa.newChild(pair, ts)
	sa.proposeChild(now, c, nil, pfsGroup(sa.peer.cfg.ESPProposals), 0)
}

// proposeChild sends a CREATE_CHILD_SA request for c (rekeying old when
// non-nil) with PFS group g.
func (sa *ikeSA) proposeChild(now time.Time, c *childSA, old *childSA, g transform.ID, attempt int) {
	p := sa.peer
	c.nonceI = sa.e.randBytes(nonceLen)
	var dh transform.DH
	var ps []message.Payload
	if old != nil {
		ps = append(ps, &message.Notify{Protocol: message.ProtoESP, SPI: spiBytes(old.inSPI), Type: message.NotifyRekeySA})
	}
	props := p.cfg.ESPProposals
	if g != transform.DHNone {
		var err error
		if dh, err = sa.e.cfg.Keys.Get(g, sa.e.rand); err != nil {
			sa.childFailure(now, c, "cannot use PFS group: "+err.Error())
			return
		}
		props = withPFS(props, g)
	}
	ps = append(ps, &message.SA{Proposals: offer(props, message.ProtoESP, spiBytes(c.inSPI), dh != nil)}, &message.Nonce{Data: c.nonceI})
	if dh != nil {
		ps = append(ps, &message.KE{Group: g, Data: dh.Public()})
	}
	ps = append(ps, &message.TS{Initiator: true, Selectors: c.localTS}, &message.TS{Initiator: false, Selectors: c.remoteTS})
	sa.request(now, &request{
		exchange: message.CreateChildSA,
		payloads: ps,
		onResponse: func(now time.Time, m *message.Message) {
			if c.sa != sa || sa.state == stDead {
				return
			}
			if n := m.Notify(message.NotifyInvalidKEPayload); n != nil && len(n.Data) == 2 && attempt == 0 {
				want := transform.ID(binary.BigEndian.Uint16(n.Data))
				sa.e.log.Info("INVALID_KE_PAYLOAD for Child SA: retrying with the peer's PFS group", append(sa.logAttrs(), "group", transform.Name(transform.TypeDH, want))...)
				sa.proposeChild(now, c, old, want, attempt+1)
				return
			}
			if old != nil {
				sa.finishRekeyInitiator(now, m, c, old, dh)
				return
			}
			sa.finishChildInitiator(now, m, c, dh, "CREATE_CHILD_SA", nil)
		},
	})
}

// withPFS restricts proposals to DH group g (the group the peer asked for,
// or our first PFS group).
func withPFS(props []transform.Proposal, g transform.ID) []transform.Proposal {
	out := make([]transform.Proposal, 0, len(props))
	for _, p := range props {
		q := p
		q.DH = []transform.ID{g}
		out = append(out, q)
	}
	return out
}

// startChildRekey rekeys c (RFC 7296 §2.8).
func (sa *ikeSA) startChildRekey(now time.Time, c *childSA) {
	c.state = chRekeying
	c.rekeyDue = false
	n := sa.newChild(c.pair, tsPair{local: c.localTS, remote: c.remoteTS})
	n.replaces = c
	sa.e.log.Info("rekeying Child SA", append(sa.logAttrs(), "in_spi", fmt.Sprintf("%08x", c.inSPI))...)
	sa.proposeChild(now, n, c, pfsGroup(sa.peer.cfg.ESPProposals), 0)
}

// finishRekeyInitiator completes our rekey of old with the response m.
func (sa *ikeSA) finishRekeyInitiator(now time.Time, m *message.Message, n, old *childSA, dh transform.DH) {
	if t, reason, bad := childError(m, sa.peer, n); bad {
		sa.dropChild(n)
		if old.state == chRekeying {
			old.state = chInstalled
		}
		switch t {
		case message.NotifyChildSANotFound:
			// The peer lost the SA: replace it with a fresh one.
			sa.e.log.Info("peer does not know the Child SA we rekey; creating a new one", sa.logAttrs()...)
			sa.removeChild(now, old, "unknown to the peer")
			return
		case message.NotifyTemporaryFailure:
			old.rekeyAt = now.Add(sa.e.backoff(time.Duration(2+old.rekeyFails) * time.Second))
		default:
			old.rekeyFails++
			old.rekeyAt = now.Add(sa.e.backoff(time.Duration(min(60, 5<<min(old.rekeyFails, 4))) * time.Second))
			sa.e.log.Warn("Child SA rekey refused", append(sa.logAttrs(), "reason", reason)...)
		}
		return
	}
	// Simultaneous rekey (§2.8.1): the SA created by the exchange with the
	// lowest of the four nonces is redundant and its creator deletes it.
	// If the peer already deleted old, its exchange won.
	weWin := true
	theirs := old.peerRekey
	decide := func(n *childSA) bool {
		if old.state == chRekeyed {
			weWin = false
		} else if theirs != nil && theirs.state == chInstalled {
			low := minNonce(n.nonceI, n.nonceR, theirs.nonceI, theirs.nonceR)
			weWin = !(string(low) == string(n.nonceI) || string(low) == string(n.nonceR))
		}
		return weWin
	}
	if !sa.finishChildInitiator(now, m, n, dh, "CREATE_CHILD_SA", decide) {
		if old.state == chRekeying {
			old.state = chInstalled
			old.rekeyFails++
			old.rekeyAt = now.Add(sa.e.backoff(10 * time.Second))
		}
		return
	}
	old.rekeyFails = 0
	if weWin {
		if theirs != nil && theirs.state == chInstalled {
			sa.e.log.Info("simultaneous Child SA rekey: theirs is redundant", append(sa.logAttrs(), "ours", fmt.Sprintf("%08x", n.inSPI), "theirs", fmt.Sprintf("%08x", theirs.inSPI))...)
			// The peer deletes it; remove it ourselves if it does not.
			theirs.state = chRekeyed
			theirs.removeAt = now.Add(sa.e.cfg.RekeyGrace * 3)
		}
		old.state = chRekeyed
		old.replacedBy = n
		sa.deleteChildren(now, []*childSA{old})
		return
	}
	sa.e.log.Info("simultaneous Child SA rekey: ours is redundant", append(sa.logAttrs(), "ours", fmt.Sprintf("%08x", n.inSPI), "theirs", fmt.Sprintf("%08x", spiOf(theirs)))...)
	n.state = chRekeyed
	if old.state == chRekeyed {
		// The peer deleted old already and we switched to theirs.
		sa.deleteChildren(now, []*childSA{n})
		return
	}
	// Keep sending on old until the peer (whose exchange won) deletes it:
	// only then has it installed the inbound side of theirs.
	old.state = chRekeyed
	old.replacedBy = theirs
	old.redundant = n
	old.removeAt = now.Add(sa.e.cfg.RekeyGrace * 3)
}

func spiOf(c *childSA) uint32 {
	if c == nil {
		return 0
	}
	return c.inSPI
}

// activateOutbound makes c the outbound SA for its selectors.
func (sa *ikeSA) activateOutbound(c *childSA) {
	if c.outActive || (c.state != chInstalled && c.state != chRekeying) {
		return
	}
	sa.e.host.ActivateOutbound(c.inSPI)
	sa.outboundMovedTo(c)
}

// outboundMovedTo records that c now carries the outbound traffic of its
// selectors: no other Child SA of the peer does (the data plane replaced
// them), whichever IKE SA they belong to (simultaneous initiation leaves
// two IKE SAs for a while).
func (sa *ikeSA) outboundMovedTo(c *childSA) {
	c.outActive = true
	for _, o := range sa.peerChildren() {
		if o != c && o.outActive && tsListEqual(o.localTS, c.localTS) && tsListEqual(o.remoteTS, c.remoteTS) {
			o.outActive = false
		}
	}
}

// peerChildren lists the Child SAs of every IKE SA of this SA's peer.
func (sa *ikeSA) peerChildren() []*childSA {
	if sa.peer == nil {
		return sa.sortedChildren()
	}
	var out []*childSA
	for _, o := range sa.e.sasOf(sa.peer) {
		out = append(out, o.sortedChildren()...)
	}
	return out
}

// deleteChildren sends a Delete for Child SAs (rekeyed or unwanted). Their
// inbound sides stay installed for the rekey grace period.
func (sa *ikeSA) deleteChildren(now time.Time, cs []*childSA) {
	d := &message.Delete{Protocol: message.ProtoESP}
	for _, c := range cs {
		if c.state != chRekeyed {
			c.state = chDeleting
		}
		d.SPIs = append(d.SPIs, spiBytes(c.inSPI))
	}
	sa.request(now, &request{
		exchange: message.Informational,
		payloads: []message.Payload{d},
		onResponse: func(now time.Time, _ *message.Message) {
			for _, c := range cs {
				if c.state == chRekeyed {
					c.removeAt = now.Add(sa.e.cfg.RekeyGrace)
				} else {
					c.sa.removeChild(now, c, "deleted")
				}
			}
		},
	})
}

// removeChild takes a Child SA out of the data plane.
func (sa *ikeSA) removeChild(now time.Time, c *childSA, reason string) {
	if sa.e.children[c.inSPI] != c {
		// Already removed: both sides deleted it at once (RFC 7296
		// §1.4.1) and the response to our Delete came after the peer's.
		return
	}
	if c.state == chPending {
		sa.dropChild(c)
		return
	}
	if c.outActive {
		// Hand the outbound traffic to a replacement first.
		var repl *childSA
		if r := c.replacedBy; r != nil && r.state == chInstalled {
			repl = r
		} else {
			for _, o := range sa.peerChildren() {
				if o != c && o.sa.state != stDead && (o.state == chInstalled || o.state == chRekeying) && tsListEqual(o.localTS, c.localTS) && tsListEqual(o.remoteTS, c.remoteTS) {
					repl = o
					break
				}
			}
		}
		c.outActive = false
		if repl != nil {
			repl.sa.activateOutbound(repl)
		}
	}
	if r := c.redundant; r != nil && r.sa == sa && sa.children[r.inSPI] == r && sa.state != stDead {
		c.redundant = nil
		sa.deleteChildren(now, []*childSA{r})
	}
	delete(sa.children, c.inSPI)
	delete(sa.e.children, c.inSPI)
	sa.e.host.DeleteChildSA(c.inSPI)
	sa.e.log.Info("Child SA removed", append(sa.logAttrs(), "in_spi", fmt.Sprintf("%08x", c.inSPI), "reason", reason)...)
	if sa.peer != nil {
		sa.e.host.Event(Event{Kind: EventChildDown, Peer: sa.peer.cfg.Name, Time: now, InSPI: c.inSPI, Reason: reason})
	}
}

// tick runs a Child SA's timers.
func (c *childSA) tick(now time.Time) {
	sa := c.sa
	switch c.state {
	case chInstalled:
		if !now.Before(c.expireAt) {
			sa.e.log.Info("Child SA lifetime expired", append(sa.logAttrs(), "in_spi", fmt.Sprintf("%08x", c.inSPI))...)
			c.state = chDeleting
			sa.deleteChildren(now, []*childSA{c})
			return
		}
		if (c.rekeyDue || !now.Before(c.rekeyAt)) && sa.rekeying == nil {
			sa.startChildRekey(now, c)
		}
	case chRekeyed:
		if !c.removeAt.IsZero() && !now.Before(c.removeAt) {
			sa.removeChild(now, c, "rekeyed")
		}
	}
}

func (c *childSA) deadline() time.Time {
	switch c.state {
	case chInstalled:
		if c.sa.rekeying != nil {
			// tick starts no rekey while the IKE SA is being rekeyed:
			// until then only the expiry is due (else the engine would
			// ask to be ticked at once, again and again).
			return c.expireAt
		}
		if c.rekeyDue {
			return time.Unix(1, 0)
		}
		if c.rekeyAt.Before(c.expireAt) {
			return c.rekeyAt
		}
		return c.expireAt
	case chRekeyed:
		return c.removeAt
	}
	return time.Time{}
}

// ensureChildren creates the Child SAs the configuration asks for and the
// IKE SA lacks (policy-based pairs beyond the first, or a Child SA that was
// refused or deleted).
func (sa *ikeSA) ensureChildren(now time.Time) {
	for _, i := range sa.missingPairs() {
		if now.Before(sa.pairRetryAt[i]) {
			continue
		}
		sa.createChild(now, i, sa.peer.pairs()[i])
	}
}

// missingPairs lists the configured pairs without a Child SA (installed or
// being negotiated), when this SA is the one to create them.
func (sa *ikeSA) missingPairs() []int {
	p := sa.peer
	if p == nil || p.sa != sa || !sa.initiator || p.cfg.Mode == ModeResponderOnly || sa.rekeying != nil || sa.state != stEstablished {
		return nil
	}
	var out []int
	for i := range p.pairs() {
		covered := false
		for _, c := range sa.children {
			if c.state != chDeleting && c.state != chRekeyed && c.pair == i {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, i)
		}
	}
	return out
}

// pairsDeadline is when ensureChildren has work to do.
func (sa *ikeSA) pairsDeadline() time.Time {
	var d time.Time
	for _, i := range sa.missingPairs() {
		t := sa.pairRetryAt[i]
		if t.IsZero() {
			t = time.Unix(1, 0)
		}
		if d.IsZero() || t.Before(d) {
			d = t
		}
	}
	return d
}

// SoftLimit tells the engine that the Child SA with inbound or outbound
// SPI spi reached its soft lifetime in the data plane (bytes, packets or
// sequence numbers): it is rekeyed soon.
func (e *Engine) SoftLimit(now time.Time, inSPI uint32) {
	if c := e.children[inSPI]; c != nil && c.state == chInstalled {
		c.rekeyDue = true
		c.sa.tick(now)
		e.touch(c.sa)
		e.flush()
	}
}

// HardLimit tells the engine a Child SA reached its hard lifetime in the
// data plane; it is deleted.
func (e *Engine) HardLimit(now time.Time, inSPI uint32) {
	if c := e.children[inSPI]; c != nil && c.state != chPending && c.state != chDeleting {
		c.state = chDeleting
		c.sa.deleteChildren(now, []*childSA{c})
		e.touch(c.sa)
		e.flush()
	}
}

func prefixList(ps []netipPrefix) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ","
		}
		s += p.String()
	}
	return s
}
