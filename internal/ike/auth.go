package ike

import (
	"crypto/hmac"
	"fmt"
	"net/netip"
	"time"

	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

// pskAuth computes the AUTH payload data for shared key authentication
// (RFC 7296 §2.15):
//
//	AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)
//	SignedOctets = RealMessage | Nonce(of the other side) | prf(SK_p, IDx')
//
// where IDx' is the ID payload body (type, three reserved bytes, data).
// EAP authentication uses it with the MSK as the shared secret (§2.16).
func pskAuth(prf transform.PRF, psk, realMessage, otherNonce, skp []byte, id Identity) []byte {
	key := prf.Sum(nil, psk, []byte("Key Pad for IKEv2"))
	return prf.Sum(nil, key, signedOctets(prf, realMessage, otherNonce, skp, id))
}

func idOf(p *message.ID) Identity { return Identity{Type: p.IDType, Data: p.Data} }

// startAuth sends the initiator's IKE_AUTH request with the first Child SA.
func (sa *ikeSA) startAuth(now time.Time) {
	p := sa.peer
	sa.state = stAuthSent
	lid := p.cfg.LocalID
	ps := []message.Payload{&message.ID{Initiator: true, IDType: lid.Type, Data: lid.Data}}
	if !p.cfg.RemoteID.IsZero() {
		ps = append(ps, &message.ID{Initiator: false, IDType: p.cfg.RemoteID.Type, Data: p.cfg.RemoteID.Data})
	}
	if p.cfg.Client != nil {
		cps, err := sa.clientProof()
		if err != nil {
			sa.destroy(now, "cannot sign IKE_AUTH: "+err.Error())
			return
		}
		ps = append(ps, cps...)
	} else {
		ps = append(ps, &message.Auth{Method: message.AuthSharedKeyMIC, Data: pskAuth(sa.prf, p.cfg.PSK, sa.initReq, sa.nr, sa.keys.SKpi, lid)})
	}
	fresh := true
	for _, o := range sa.e.sasOf(p) {
		if o != sa && o.state == stEstablished {
			fresh = false
		}
	}
	if fresh {
		ps = append(ps, &message.Notify{Type: message.NotifyInitialContact})
	}
	// The first Child SA rides along (RFC 7296 §1.2), without DH.
	pairs := p.pairs()
	c := sa.newChild(0, pairs[0])
	ps = append(ps,
		&message.SA{Proposals: offer(p.cfg.ESPProposals, message.ProtoESP, spiBytes(c.inSPI), false)},
		&message.TS{Initiator: true, Selectors: c.localTS},
		&message.TS{Initiator: false, Selectors: c.remoteTS},
	)
	sa.request(now, &request{
		exchange: message.IKEAuth,
		payloads: ps,
		onResponse: func(now time.Time, m *message.Message) {
			sa.handleAuthResponse(now, m, c)
		},
		onTimeout: func(now time.Time) {
			sa.dropChild(c)
			sa.destroy(now, "peer did not answer IKE_AUTH")
		},
	})
}

// handleAuthResponse completes the IKE SA as initiator.
func (sa *ikeSA) handleAuthResponse(now time.Time, m *message.Message, c *childSA) {
	p := sa.peer
	if m.Notify(message.NotifyAuthenticationFailed) != nil {
		sa.dropChild(c)
		sa.destroy(now, "AUTHENTICATION_FAILED: the peer rejected our identity or pre-shared key")
		return
	}
	idr, auth := m.IDr(), m.Auth()
	if idr == nil || auth == nil {
		for _, n := range m.Notifies() {
			if n.Type.IsError() {
				sa.dropChild(c)
				sa.destroy(now, "IKE_AUTH failed: peer sent "+n.Type.String())
				return
			}
		}
		sa.dropChild(c)
		sa.destroy(now, "IKE_AUTH response without IDr or AUTH")
		return
	}
	if !p.cfg.RemoteID.IsZero() && !p.cfg.RemoteID.Equal(idOf(idr)) {
		sa.dropChild(c)
		sa.deleteIKE(now, fmt.Sprintf("peer identity %s is not the configured %s", idOf(idr), p.cfg.RemoteID))
		return
	}
	var vip netip.Addr
	if p.cfg.Client != nil {
		var err error
		if vip, err = sa.checkGateway(now, m, idOf(idr), auth); err != nil {
			sa.dropChild(c)
			sa.deleteIKE(now, err.Error())
			sa.e.failed(now, p, err.Error())
			return
		}
	} else if auth.Method != message.AuthSharedKeyMIC {
		sa.dropChild(c)
		sa.deleteIKE(now, fmt.Sprintf("peer authenticated with method %d; only pre-shared keys are configured", auth.Method))
		return
	} else if want := pskAuth(sa.prf, p.cfg.PSK, sa.initResp, sa.ni, sa.keys.SKpr, idOf(idr)); !hmac.Equal(want, auth.Data) {
		sa.dropChild(c)
		sa.deleteIKE(now, "AUTHENTICATION_FAILED: the peer's AUTH does not verify (pre-shared keys differ?)")
		sa.e.failed(now, p, "AUTHENTICATION_FAILED: the peer's AUTH does not verify (pre-shared keys differ?)")
		return
	}
	sa.setEstablished(now)
	sa.e.log.Info("IKE SA established", append(sa.logAttrs(), "role", "initiator", "remote", sa.remote, "peer_id", idOf(idr).String(), "suite", sa.suite.String(), "encap", sa.encap())...)
	sa.e.host.Event(Event{Kind: EventIKEUp, Peer: p.cfg.Name, Time: now, VirtualIP: vip})
	sa.e.resolveDuplicates(now, sa)
	if sa.state != stEstablished {
		return
	}
	sa.finishChildInitiator(now, m, c, nil, "IKE_AUTH", nil)
}

// handleAuthRequest is the responder side of IKE_AUTH.
func (sa *ikeSA) handleAuthRequest(now time.Time, pkt Packet, m *message.Message) {
	idi, auth := m.IDi(), m.Auth()
	if t := sa.remoteAccessFor(); t != nil {
		ra := t.cfg.RemoteAccess
		switch {
		case auth == nil && (ra.Users != nil || ra.Relay != nil || ra.Clients != nil):
			sa.startEAP(now, pkt, m, t)
			return
		case auth != nil && auth.Method != message.AuthSharedKeyMIC && ra.Clients != nil:
			sa.certClient(now, pkt, m, t)
			return
		}
	}
	if idi == nil || auth == nil {
		sa.notifyError(now, m, message.NotifyAuthenticationFailed, nil)
		sa.destroy(now, "IKE_AUTH request without IDi or AUTH (EAP is not supported for site-to-site)")
		return
	}
	peerID := idOf(idi)
	var p *peer
	for _, c := range sa.candidates {
		if !c.cfg.RemoteID.IsZero() && !c.cfg.RemoteID.Equal(peerID) {
			continue
		}
		if auth.Method != message.AuthSharedKeyMIC {
			continue
		}
		want := pskAuth(sa.prf, c.cfg.PSK, sa.initReq, sa.nr, sa.keys.SKpi, peerID)
		if hmac.Equal(want, auth.Data) {
			p = c
			break
		}
	}
	if p == nil {
		reason := fmt.Sprintf("AUTHENTICATION_FAILED: peer %s (identity %s) did not prove the pre-shared key", pkt.Remote, peerID)
		if auth.Method != message.AuthSharedKeyMIC {
			reason = fmt.Sprintf("AUTHENTICATION_FAILED: peer %s used auth method %d; only pre-shared keys are configured", pkt.Remote, auth.Method)
		}
		sa.e.log.Warn(reason, sa.logAttrs()...)
		for _, c := range sa.candidates {
			c.lastError = reason
			sa.e.host.Event(Event{Kind: EventFailure, Peer: c.cfg.Name, Time: now, Reason: reason})
		}
		sa.notifyError(now, m, message.NotifyAuthenticationFailed, nil)
		sa.destroy(now, "authentication failed")
		return
	}
	sa.e.attach(sa, p)
	sa.candidates = nil
	sa.initialContact = m.Notify(message.NotifyInitialContact) != nil
	// The peer moves to port 4500 after IKE_SA_INIT with a NAT (or when
	// forcing encapsulation), and may sit behind a NAT: follow it.
	sa.remote, sa.local = pkt.Remote, pkt.Local
	lid := p.cfg.LocalID
	ps := []message.Payload{
		&message.ID{Initiator: false, IDType: lid.Type, Data: lid.Data},
		&message.Auth{Method: message.AuthSharedKeyMIC, Data: pskAuth(sa.prf, p.cfg.PSK, sa.initResp, sa.ni, sa.keys.SKpr, lid)},
	}
	sa.setEstablished(now)
	sa.e.log.Info("IKE SA established", append(sa.logAttrs(), "role", "responder", "remote", sa.remote, "peer_id", peerID.String(), "suite", sa.suite.String(), "encap", sa.encap())...)
	sa.e.host.Event(Event{Kind: EventIKEUp, Peer: p.cfg.Name, Time: now})
	if p.sa == nil {
		p.sa = sa
	}
	// The first Child SA.
	childPs := sa.acceptChild(now, m, nil, nil, false)
	ps = append(ps, childPs...)
	sa.respond(now, m, ps)
	sa.e.resolveDuplicates(now, sa)
}

// resolveDuplicates handles a peer with more than one established IKE SA:
// INITIAL_CONTACT from a peer whose older SA we still hold (it restarted)
// removes the older SA; simultaneous initiation is resolved as RFC 7296
// §2.8.1 resolves simultaneous rekeys: the SA whose exchanges carried the
// lowest of the four nonces is redundant and is deleted by its initiator.
func (e *Engine) resolveDuplicates(now time.Time, sa *ikeSA) {
	p := sa.peer
	for _, o := range e.sasOf(p) {
		if o == sa || o.state != stEstablished || sa.state != stEstablished {
			continue
		}
		if sa.initialContact && now.Sub(o.established) > 30*time.Second {
			e.log.Info("INITIAL_CONTACT: removing the peer's previous IKE SA", append(o.logAttrs(), "new_spii", spiHex(sa.spiI))...)
			o.destroy(now, "replaced after INITIAL_CONTACT")
			continue
		}
		loser, winner := o, sa
		if lowerNonce(minNonce(sa.ni, sa.nr), minNonce(o.ni, o.nr)) {
			loser, winner = sa, o
		}
		p.sa = winner
		e.log.Info("duplicate IKE SA (simultaneous initiation)", append(loser.logAttrs(), "keeping_spii", spiHex(winner.spiI))...)
		if loser.initiator {
			loser.deleteIKE(now, "duplicate IKE SA")
		}
		// The responder of the redundant SA waits for its initiator's
		// Delete; its Child SAs stay usable until then.
	}
	if p.sa == nil || p.sa.state != stEstablished {
		p.sa = sa
	}
}

// deleteIKE tells the peer the IKE SA is going away and removes it once the
// peer answers (or after a short wait).
func (sa *ikeSA) deleteIKE(now time.Time, reason string) {
	switch sa.state {
	case stDead, stDeleting:
		return
	case stEstablished, stRekeyed:
	default:
		sa.destroy(now, reason)
		return
	}
	sa.e.log.Info("deleting IKE SA", append(sa.logAttrs(), "reason", reason)...)
	sa.state = stDeleting
	sa.reason = reason
	sa.deleteAt = now.Add(2 * time.Second)
	if sa.peer != nil && sa.peer.sa == sa {
		sa.peer.sa = nil
		for _, o := range sa.e.sasOf(sa.peer) {
			if o != sa && o.state == stEstablished {
				sa.peer.sa = o
			}
		}
		if sa.peer.sa == nil {
			// Keep the peer pointing here until destroy, so that no new
			// SA is started before the Delete went out.
			sa.peer.sa = sa
		}
	}
	sa.queue = nil
	sa.pending = nil
	sa.request(now, &request{
		exchange: message.Informational,
		payloads: []message.Payload{&message.Delete{Protocol: message.ProtoIKE}},
		giveUpAt: sa.deleteAt,
		onResponse: func(now time.Time, _ *message.Message) {
			sa.destroy(now, reason)
		},
		onTimeout: func(now time.Time) { sa.destroy(now, reason) },
	})
}
