package ike

import (
	"encoding/binary"
	"time"

	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

// ikeRekey is our IKE SA rekey in progress (RFC 7296 §1.3.2, §2.18).
type ikeRekey struct {
	spi   uint64 // our SPI for the new IKE SA
	ni    []byte
	dh    transform.DH
	tries int
	// peerNew is the IKE SA the peer created by rekeying this one while our
	// rekey was outstanding (simultaneous rekey, §2.8.2).
	peerNew *ikeSA
}

func spi8(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// startIKERekey rekeys the IKE SA in place (make-before-break: the Child
// SAs move to the new IKE SA without touching the data plane).
func (sa *ikeSA) startIKERekey(now time.Time) {
	if sa.rekeying != nil || sa.state != stEstablished {
		return
	}
	sa.rekeying = &ikeRekey{}
	sa.e.log.Info("rekeying IKE SA", sa.logAttrs()...)
	sa.proposeIKERekey(now, sa.suite.dh)
}

func (sa *ikeSA) proposeIKERekey(now time.Time, g transform.ID) {
	rk := sa.rekeying
	dh, err := sa.e.cfg.Keys.Get(g, sa.e.rand)
	if err != nil {
		sa.rekeying = nil
		sa.rekeyAt = now.Add(sa.e.backoff(time.Minute))
		return
	}
	rk.dh = dh
	rk.spi = sa.e.newIKESPI()
	rk.ni = sa.e.randBytes(nonceLen)
	props := sa.peer.cfg.IKEProposals
	sa.request(now, &request{
		exchange: message.CreateChildSA,
		payloads: []message.Payload{
			&message.SA{Proposals: offer(props, message.ProtoIKE, spi8(rk.spi), true)},
			&message.Nonce{Data: rk.ni},
			&message.KE{Group: g, Data: dh.Public()},
		},
		onResponse: func(now time.Time, m *message.Message) { sa.finishIKERekey(now, m) },
		onTimeout: func(now time.Time) {
			if pn := rk.peerNew; pn != nil && pn.state == stEstablished {
				sa.moveTo(now, pn)
				sa.deleteAt = now.Add(30 * time.Second)
				return
			}
			sa.destroy(now, "peer did not answer the IKE SA rekey")
		},
	})
}

// finishIKERekey completes our IKE SA rekey with the response m.
func (sa *ikeSA) finishIKERekey(now time.Time, m *message.Message) {
	rk := sa.rekeying
	if rk == nil || sa.state != stEstablished {
		return
	}
	p := sa.peer
	retryLater := func(d time.Duration, reason string) {
		sa.e.log.Info("IKE SA rekey not done", append(sa.logAttrs(), "reason", reason, "retry_in", d)...)
		if pn := rk.peerNew; pn != nil && pn.state == stEstablished {
			// The peer's simultaneous rekey stands.
			sa.rekeying = nil
			sa.moveTo(now, pn)
			sa.deleteAt = now.Add(30 * time.Second)
			return
		}
		sa.rekeying = nil
		sa.rekeyAt = now.Add(sa.e.backoff(d))
	}
	if n := m.Notify(message.NotifyInvalidKEPayload); n != nil && len(n.Data) == 2 && rk.tries == 0 {
		rk.tries++
		sa.proposeIKERekey(now, transform.ID(binary.BigEndian.Uint16(n.Data)))
		return
	}
	for _, n := range m.Notifies() {
		if n.Type.IsError() {
			d := time.Minute
			if n.Type == message.NotifyTemporaryFailure {
				d = 3 * time.Second
			}
			retryLater(d, n.Type.String())
			return
		}
	}
	prop, s, ok := acceptedProposal(p.cfg.IKEProposals, m.SA(), message.ProtoIKE, true)
	ke, nonce := m.KE(), m.Nonce()
	if !ok || len(prop.SPI) != 8 || ke == nil || nonce == nil || ke.Group != rk.dh.Group() || s.dh != ke.Group {
		retryLater(time.Minute, "malformed IKE rekey response")
		return
	}
	gir, err := rk.dh.Shared(ke.Data)
	if err != nil {
		retryLater(time.Minute, "invalid DH public value: "+err.Error())
		return
	}
	n := sa.newRekeyedSA(now, true, rk.spi, binary.BigEndian.Uint64(prop.SPI), s)
	n.ni, n.nr = rk.ni, append([]byte(nil), nonce.Data...)
	if err := n.deriveRekeyedKeys(sa, gir); err != nil {
		n.destroy(now, err.Error())
		retryLater(time.Minute, err.Error())
		return
	}
	sa.rekeying = nil
	winner := n
	if pn := rk.peerNew; pn != nil && pn.state == stEstablished {
		low := minNonce(n.ni, n.nr, pn.ni, pn.nr)
		if string(low) == string(n.ni) || string(low) == string(n.nr) {
			// Ours is redundant: we delete it; the peer deletes the old SA.
			sa.e.log.Info("simultaneous IKE SA rekey: ours is redundant", append(n.logAttrs(), "keeping_spii", spiHex(pn.spiI))...)
			winner = pn
			sa.moveTo(now, pn)
			sa.deleteAt = now.Add(30 * time.Second)
			n.state = stEstablished
			n.deleteIKE(now, "redundant after simultaneous IKE SA rekey")
			return
		}
		sa.e.log.Info("simultaneous IKE SA rekey: theirs is redundant", append(n.logAttrs(), "dropping_spii", spiHex(pn.spiI))...)
		pn.deleteAt = now.Add(30 * time.Second)
		pn.state = stRekeyed // the peer deletes it
	}
	sa.moveTo(now, winner)
	sa.e.log.Info("IKE SA rekeyed", append(winner.logAttrs(), "old_spii", spiHex(sa.spiI), "suite", s.String())...)
	// We initiated the surviving exchange: we delete the old IKE SA.
	sa.request(now, &request{
		exchange:   message.Informational,
		payloads:   []message.Payload{&message.Delete{Protocol: message.ProtoIKE}},
		giveUpAt:   now.Add(10 * time.Second),
		onResponse: func(now time.Time, _ *message.Message) { sa.destroy(now, "rekeyed") },
		onTimeout:  func(now time.Time) { sa.destroy(now, "rekeyed") },
	})
}

// newRekeyedSA creates the IKE SA that results from a rekey of sa.
func (sa *ikeSA) newRekeyedSA(now time.Time, initiator bool, spii, spir uint64, s suite) *ikeSA {
	n := &ikeSA{
		e: sa.e, initiator: initiator, spiI: spii, spiR: spir,
		local: sa.local, remote: sa.remote, natLocal: sa.natLocal, natRemote: sa.natRemote, fragOK: sa.fragOK,
		suite: s, created: now,
		state: stEstablished, established: now, lastRecv: now,
	}
	n.tm = timer{idx: -1, sa: n}
	sa.e.sas[n.spiLocal()] = n
	sa.e.attach(n, sa.peer)
	sa.e.touch(n)
	n.scheduleLifetime(now)
	return n
}

// deriveRekeyedKeys computes the new SA's keys from the old SA's SK_d
// (§2.18: SKEYSEED with the old PRF, prf+ with the new one).
func (n *ikeSA) deriveRekeyedKeys(old *ikeSA, gir []byte) error {
	prf, err := transform.NewPRF(n.suite.prf)
	if err != nil {
		return err
	}
	keys, err := transform.DeriveRekeyedIKEKeysPRFs(old.prf, prf, old.keys.SKd, gir, n.ni, n.nr, n.spiI, n.spiR, n.suite.encr.ID, n.suite.encr.KeyBits, n.suite.integ)
	if err != nil {
		return err
	}
	n.prf = prf
	return n.useKeys(keys)
}

// moveTo hands sa's Child SAs and queued requests to the new IKE SA n and
// makes n the peer's SA; sa is then only waiting to be deleted.
func (sa *ikeSA) moveTo(now time.Time, n *ikeSA) {
	for spi, c := range sa.children {
		c.sa = n
		if n.children == nil {
			n.children = make(map[uint32]*childSA, len(sa.children))
		}
		n.children[spi] = c
	}
	sa.children = map[uint32]*childSA{}
	n.queue = append(n.queue, sa.queue...)
	sa.queue = nil
	n.pairRetryAt = sa.pairRetryAt
	sa.state = stRekeyed
	sa.rekeyedTo = n
	sa.deleteAt = now.Add(30 * time.Second)
	if sa.peer != nil {
		sa.peer.sa = n
	}
	n.sendNext(now)
}

// handleIKERekeyRequest answers the peer's IKE SA rekey.
func (sa *ikeSA) handleIKERekeyRequest(now time.Time, m *message.Message) {
	if sa.pending != nil && sa.pending.exchange == message.CreateChildSA && sa.rekeying == nil {
		// A Child SA exchange of ours is running (RFC 7296 §2.25.2).
		sa.notifyError(now, m, message.NotifyTemporaryFailure, nil)
		return
	}
	p := sa.peer
	saP, ke, nonce := m.SA(), m.KE(), m.Nonce()
	if ke == nil {
		sa.notifyError(now, m, message.NotifyInvalidSyntax, nil)
		return
	}
	idx, s, ok := selectProposal(p.cfg.ikeAccept(), saP.Proposals, message.ProtoIKE, true)
	if !ok {
		sa.e.log.Warn("IKE SA rekey: no acceptable proposal", append(sa.logAttrs(), "offered", describe(saP.Proposals))...)
		sa.notifyError(now, m, message.NotifyNoProposalChosen, nil)
		return
	}
	if ke.Group != s.dh {
		var d [2]byte
		binary.BigEndian.PutUint16(d[:], uint16(s.dh))
		sa.notifyError(now, m, message.NotifyInvalidKEPayload, d[:])
		return
	}
	if len(saP.Proposals[idx].SPI) != 8 {
		sa.notifyError(now, m, message.NotifyInvalidSyntax, nil)
		return
	}
	dh, err := sa.e.cfg.Keys.Get(s.dh, sa.e.rand)
	if err != nil {
		sa.notifyError(now, m, message.NotifyNoProposalChosen, nil)
		return
	}
	gir, err := dh.Shared(ke.Data)
	if err != nil {
		sa.notifyError(now, m, message.NotifyInvalidSyntax, nil)
		return
	}
	n := sa.newRekeyedSA(now, false, binary.BigEndian.Uint64(saP.Proposals[idx].SPI), sa.e.newIKESPI(), s)
	n.ni, n.nr = append([]byte(nil), nonce.Data...), sa.e.randBytes(nonceLen)
	if err := n.deriveRekeyedKeys(sa, gir); err != nil {
		n.destroy(now, err.Error())
		sa.notifyError(now, m, message.NotifyNoProposalChosen, nil)
		return
	}
	sa.respond(now, m, []message.Payload{
		&message.SA{Proposals: []message.Proposal{responseProposal(saP.Proposals[idx].Number, message.ProtoIKE, spi8(n.spiR), s, true)}},
		&message.Nonce{Data: n.nr},
		&message.KE{Group: s.dh, Data: dh.Public()},
	})
	if sa.rekeying != nil {
		// Simultaneous rekey: decided when our own rekey completes.
		sa.rekeying.peerNew = n
		return
	}
	sa.e.log.Info("IKE SA rekeyed by peer", append(n.logAttrs(), "old_spir", spiHex(sa.spiR), "suite", s.String())...)
	sa.moveTo(now, n)
}
