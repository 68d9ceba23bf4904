package ike

// Remote access (point-to-site): a template peer with RemoteAccess set
// answers any number of clients. A client's IKE_AUTH runs over several
// exchanges (RFC 7296 §2.16):
//
//	client                                          gateway
//	IKE_AUTH  IDi, [IDr], CP(CFG_REQUEST), SA, TSi, TSr  (no AUTH)
//	                                     ◄── IDr, CERT, AUTH(signature), EAP(Request)
//	IKE_AUTH  EAP(Response) ──►          ◄── EAP(Request) ... EAP(Success)
//	IKE_AUTH  AUTH(MSK) ──►              ◄── AUTH(MSK), CP(CFG_REPLY), SA, TSi, TSr
//
// The EAP method is EAP-MSCHAPv2 with local users (RemoteAccess.Users),
// EAP-TLS against the client roots (RemoteAccess.Clients: Azure's
// Certificate authentication as its Linux instructions configure it,
// leftauth=eap-tls), or whatever the RADIUS server runs
// (RemoteAccess.Relay). With both local users and roots, a client that
// Naks EAP-MSCHAPv2 asking for EAP-TLS gets EAP-TLS; with both roots and
// RADIUS, EAP-TLS comes first and a client that Naks it for another
// method is relayed to RADIUS.
//
// Only when the client's AUTH verifies with the EAP MSK does the gateway
// lease it an address (so unauthenticated clients cannot drain the pool),
// make it a peer of its own (addClient: "<template>/<user>/<address>",
// with the template's settings, its address as RemoteTS and never
// initiating), and accept the first Child SA narrowed to that address and
// the template's LocalTS. The client peer goes away with its last IKE SA
// (removeClient), and its address returns to the pool.

import (
	"bytes"
	"crypto/hmac"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/p2s/eap"
	"github.com/vpngw/vpngw/internal/p2s/eaptls"
	"github.com/vpngw/vpngw/internal/p2s/mschapv2"
	"github.com/vpngw/vpngw/internal/p2s/pki"
	"github.com/vpngw/vpngw/internal/tunstat"
)

// eapState is a responder SA's remote-access authentication in progress.
type eapState struct {
	tmpl *peer
	// Relayed EAP (RemoteAccess.Relay): waiting is set while a client's
	// message is at the server (the client's retransmissions are
	// dropped); pending is the request to answer when it returns, with
	// ours the gateway's ID, CERT and AUTH still to send (first answer
	// only); session is the relay's state for this client.
	waiting bool
	pending *message.Message
	ours    []message.Payload
	session any
	// first is the client's first IKE_AUTH request: its SA, TS and CP
	// are answered when authentication succeeds.
	first *message.Message
	idi   Identity
	// method is the locally terminated EAP method (nil when relayed).
	method eapMethod
	user   string
	msk    []byte   // set when EAP succeeded
	chain  [][]byte // an EAP-TLS client's certificate chain
}

// eapMethod is an EAP method the gateway terminates itself.
type eapMethod interface {
	// handle answers the client's Response (see mschapv2.Server.Handle).
	handle(now time.Time, resp eap.Packet) (next eap.Packet, done bool, res eapResult, err error)
	// name is the method's name for the log.
	name() string
	// close releases the method's resources (EAP-TLS's goroutine).
	close()
}

// eapResult is a finished (or progressing) method's outcome.
type eapResult struct {
	user  string
	msk   []byte
	chain [][]byte
	// tlsVersion and resumed describe a finished EAP-TLS exchange.
	tlsVersion uint16
	resumed    bool
}

// mschapMethod is EAP-MSCHAPv2 with local users.
type mschapMethod struct{ s *mschapv2.Server }

func (m mschapMethod) handle(_ time.Time, resp eap.Packet) (eap.Packet, bool, eapResult, error) {
	next, done, res, err := m.s.Handle(resp)
	return next, done, eapResult{user: res.User, msk: res.MSK}, err
}
func (mschapMethod) name() string { return "EAP-MSCHAPv2" }
func (mschapMethod) close()       {}

// tlsMethod is EAP-TLS against the template's client roots; now is the
// time of the Response being handled (the certificate check's clock).
type tlsMethod struct {
	s   *eaptls.Server
	now *time.Time
}

func (m tlsMethod) handle(now time.Time, resp eap.Packet) (eap.Packet, bool, eapResult, error) {
	*m.now = now
	next, done, res, err := m.s.Handle(resp)
	return next, done, eapResult{user: res.User, msk: res.MSK, chain: res.Chain, tlsVersion: res.Version, resumed: res.Resumed}, err
}
func (tlsMethod) name() string { return "EAP-TLS" }
func (m tlsMethod) close()     { m.s.Close() }

// newTLSMethod starts EAP-TLS with the gateway's certificate as the TLS
// server's, the template's client check and TLS versions, and the
// engine's session ticket keys; req is the Start Request.
func (e *Engine) newTLSMethod(ra *RemoteAccess, eapID uint8) (eapMethod, eap.Packet, error) {
	now := new(time.Time)
	v := ra.Clients
	s, req, err := eaptls.NewServer(eaptls.Config{
		Certificate: tls.Certificate{Certificate: ra.Cert, PrivateKey: ra.Key},
		Verify:      func(chain [][]byte) (*x509.Certificate, error) { return v.Verify(chain, *now) },
		MinVersion:  ra.TLSMinVersion,
		MaxVersion:  ra.TLSMaxVersion,
		Tickets:     e.tlsTickets,
	}, eapID)
	if err != nil {
		return nil, eap.Packet{}, err
	}
	return tlsMethod{s: s, now: now}, req, nil
}

// client marks a peer made for one remote-access client.
type client struct {
	template string
	user     string
	vip      netip.Addr
	leaseKey string
	// chain is a certificate client's chain (nil for EAP clients),
	// checked again when the template's roots or revocations change.
	chain [][]byte
}

// remoteAccessFor returns the remote-access template among the SA's
// candidates, if any.
func (sa *ikeSA) remoteAccessFor() *peer {
	for _, c := range sa.candidates {
		if c.cfg.RemoteAccess != nil {
			return c
		}
	}
	return nil
}

// gatewayProof is the gateway's ID, CERT and AUTH payloads for template
// tmpl, signed right after the IKE_SA_INIT answer (respondInitKeys).
type gatewayProof struct {
	tmpl     *peer
	payloads []message.Payload
	err      error
}

// ourProof returns the gateway's proof for template t: the one signed
// ahead if it was for t, else a new one.
func (sa *ikeSA) ourProof(t *peer) ([]message.Payload, error) {
	if p := sa.proof; p != nil && p.tmpl == t && sa.e.peers[t.cfg.Name] == t {
		sa.proof = nil
		return p.payloads, p.err
	}
	sa.proof = nil
	return sa.gatewayProof(t)
}

// gatewayProof is how the gateway authenticates to a client: its ID, its
// certificate and its signature over the responder's signed octets.
func (sa *ikeSA) gatewayProof(t *peer) ([]message.Payload, error) {
	ra, lid := t.cfg.RemoteAccess, t.cfg.LocalID
	method, sig, err := SignatureAuth(ra.Key, signedOctets(sa.prf, sa.initResp, sa.ni, sa.keys.SKpr, lid))
	if err != nil {
		return nil, err
	}
	ps := []message.Payload{&message.ID{Initiator: false, IDType: lid.Type, Data: lid.Data}}
	if len(ra.Cert) > 0 {
		ps = append(ps, &message.Cert{Encoding: message.CertX509Signature, Data: ra.Cert[0]})
	}
	return append(ps, &message.Auth{Method: method, Data: sig}), nil
}

// raFail ends a remote-access negotiation: the reason goes to the log and
// the template's status and events, reply (if any) to the client, and
// the SA is removed.
func (sa *ikeSA) raFail(now time.Time, t *peer, m *message.Message, reason string, reply message.Payload) {
	sa.e.log.Warn("remote-access client refused", append(sa.logAttrs(), "remote", sa.remote, "reason", reason)...)
	t.lastError = reason
	sa.e.touchPeer(t)
	sa.e.host.Event(Event{Kind: EventFailure, Peer: t.cfg.Name, Time: now, Reason: reason})
	if reply != nil {
		sa.respond(now, m, []message.Payload{reply})
	}
	sa.destroy(now, reason)
}

// startEAP answers a client's first IKE_AUTH (no AUTH payload): the
// gateway authenticates with its certificate and starts EAP: relayed
// (RADIUS without client roots), EAP-MSCHAPv2 with local users, or else
// EAP-TLS.
func (sa *ikeSA) startEAP(now time.Time, pkt Packet, m *message.Message, t *peer) {
	ra := t.cfg.RemoteAccess
	authFailed := &message.Notify{Type: message.NotifyAuthenticationFailed}
	idi := m.IDi()
	if idi == nil {
		sa.raFail(now, t, m, "IKE_AUTH without IDi", authFailed)
		return
	}
	if m.CP() == nil || m.CP().CPType != message.CPRequest {
		sa.raFail(now, t, m, fmt.Sprintf("client %s (%s) asked for no address (no CFG_REQUEST): point-to-site clients get one from the pool", pkt.Remote, idOf(idi)), authFailed)
		return
	}
	sa.remote, sa.local = pkt.Remote, pkt.Local
	ours, err := sa.ourProof(t)
	if err != nil {
		sa.raFail(now, t, m, err.Error(), authFailed)
		return
	}
	if ra.Relay != nil && ra.Clients == nil {
		// RADIUS: the client's IKE identity is its EAP identity; the
		// server's first Request answers this IKE_AUTH.
		user := eapIdentity(idOf(idi))
		sa.ra = &eapState{tmpl: t, first: m, idi: idOf(idi), user: user, ours: ours}
		ident, err := eap.Packet{Code: eap.CodeResponse, Identifier: 0, Type: eap.TypeIdentity, Data: []byte(user)}.Marshal()
		if err != nil {
			sa.raFail(now, t, m, err.Error(), authFailed)
			return
		}
		sa.relay(m, ident)
		return
	}
	var method eapMethod
	var req eap.Packet
	var err2 error
	if ra.Users != nil && ra.Relay == nil {
		var srv *mschapv2.Server
		srv, req, err2 = mschapv2.NewServer(sa.e.rand, ra.Users, 1)
		method = mschapMethod{srv}
	} else {
		method, req, err2 = sa.e.newTLSMethod(ra, 1)
	}
	if err2 != nil {
		sa.raFail(now, t, m, err2.Error(), authFailed)
		return
	}
	eb, err := req.Marshal()
	if err != nil {
		method.close()
		sa.raFail(now, t, m, err.Error(), authFailed)
		return
	}
	sa.ra = &eapState{tmpl: t, first: m, idi: idOf(idi), method: method}
	sa.respond(now, m, append(ours, &message.EAP{Data: eb}))
}

// eapIdentity is the EAP (and RADIUS User-Name) identity of a client that
// sent IKE identity id: the text of an FQDN, e-mail address or key ID,
// and a distinguished name (an EAP-TLS client's certificate subject) as
// RFC 4514 text, "CN=alice,O=Contoso", not its DER.
func eapIdentity(id Identity) string {
	if id.Type == message.IDDerASN1DN {
		var rdn pkix.RDNSequence
		if rest, err := asn1.Unmarshal(id.Data, &rdn); err == nil && len(rest) == 0 {
			var n pkix.Name
			n.FillFromRDNSequence(&rdn)
			return n.String()
		}
	}
	return string(id.Data)
}

// relay hands one of the client's EAP messages to RemoteAccess.Relay; the
// answer comes back through Engine.RelayDone.
func (sa *ikeSA) relay(m *message.Message, msg []byte) {
	ra := sa.ra
	ra.waiting, ra.pending = true, m
	ra.tmpl.cfg.RemoteAccess.Relay.Relay(RelayRequest{ID: sa.spiLocal(), User: ra.user, EAP: msg, Session: ra.session})
}

// RelayDone gives the engine the server's answer to RelayRequest id
// (call it on the engine's goroutine). An answer for an SA that is gone or
// no longer waiting is ignored.
func (e *Engine) RelayDone(now time.Time, id uint64, r RelayResult) {
	defer e.flush()
	sa := e.sas[id]
	if sa == nil || sa.ra == nil || !sa.ra.waiting || sa.state != stInitDone {
		return
	}
	ra := sa.ra
	t, m := ra.tmpl, ra.pending
	ra.waiting, ra.pending, ra.session = false, nil, r.Session
	e.touch(sa)
	var reply []message.Payload
	if len(ra.ours) > 0 {
		reply, ra.ours = ra.ours, nil
	}
	if r.Err != nil {
		var fail message.Payload = &message.Notify{Type: message.NotifyAuthenticationFailed}
		if len(r.EAP) > 0 {
			fail = &message.EAP{Data: r.EAP}
		}
		if reply != nil {
			// The first answer: the gateway's identity too, so the client
			// can tell why.
			sa.respond(now, m, append(reply, fail))
			sa.raFail(now, t, m, fmt.Sprintf("RADIUS for %q (%s): %v", ra.user, sa.remote, r.Err), nil)
			return
		}
		sa.raFail(now, t, m, fmt.Sprintf("RADIUS for %q (%s): %v", ra.user, sa.remote, r.Err), fail)
		return
	}
	p, err := eap.Parse(r.EAP)
	if err != nil {
		sa.raFail(now, t, m, fmt.Sprintf("RADIUS for %q: the server's EAP message: %v", ra.user, err), &message.Notify{Type: message.NotifyAuthenticationFailed})
		return
	}
	if p.Code == eap.CodeSuccess {
		if len(r.MSK) == 0 {
			sa.raFail(now, t, m, fmt.Sprintf("RADIUS for %q: accepted without an MSK (MS-MPPE keys)", ra.user), &message.EAP{Data: []byte{byte(eap.CodeFailure), p.Identifier, 0, 4}})
			return
		}
		ra.msk = r.MSK
	}
	sa.respond(now, m, append(reply, &message.EAP{Data: r.EAP}))
}

// continueEAP handles the client's later IKE_AUTH requests: EAP
// Responses until EAP succeeds, then the client's AUTH.
func (sa *ikeSA) continueEAP(now time.Time, m *message.Message) {
	ra := sa.ra
	t := ra.tmpl
	authFailed := &message.Notify{Type: message.NotifyAuthenticationFailed}
	if ra.waiting {
		return // a retransmission while the server thinks
	}
	if ra.msk == nil {
		ep := m.EAP()
		if ep == nil {
			sa.raFail(now, t, m, "IKE_AUTH without EAP while EAP runs", authFailed)
			return
		}
		in, err := eap.Parse(ep.Data)
		if err != nil {
			sa.raFail(now, t, m, err.Error(), authFailed)
			return
		}
		if ra.method == nil {
			sa.relay(m, ep.Data)
			return
		}
		if types, ok := in.Nak(); ok && !slices.Contains(types, eap.TypeTLS) && t.cfg.RemoteAccess.Relay != nil {
			// Certificate and RADIUS both configured: a client that
			// wants another method than local EAP-TLS goes to RADIUS,
			// which starts with the client's identity.
			ra.method.close()
			ra.method, ra.user = nil, eapIdentity(ra.idi)
			ident, err := eap.Packet{Code: eap.CodeResponse, Identifier: in.Identifier, Type: eap.TypeIdentity, Data: []byte(ra.user)}.Marshal()
			if err != nil {
				sa.raFail(now, t, m, err.Error(), authFailed)
				return
			}
			sa.relay(m, ident)
			return
		}
		if types, ok := in.Nak(); ok && slices.Contains(types, eap.TypeTLS) && t.cfg.RemoteAccess.Clients != nil && ra.method.name() != "EAP-TLS" {
			// The client wants EAP-TLS instead (RFC 3748 §5.3.1).
			method, req, err := sa.e.newTLSMethod(t.cfg.RemoteAccess, in.Identifier+1)
			b, merr := req.Marshal()
			if err != nil || merr != nil {
				sa.raFail(now, t, m, fmt.Sprintf("EAP-TLS for %s: %v", sa.remote, errors.Join(err, merr)), authFailed)
				return
			}
			ra.method.close()
			ra.method = method
			sa.respond(now, m, []message.Payload{&message.EAP{Data: b}})
			return
		}
		next, done, res, err := ra.method.handle(now, in)
		if res.user != "" {
			ra.user = res.user
		}
		b, merr := next.Marshal()
		if merr != nil || (err != nil && !done) {
			sa.raFail(now, t, m, fmt.Sprintf("%s from %s: %v", ra.method.name(), sa.remote, errors.Join(err, merr)), authFailed)
			return
		}
		if err != nil {
			sa.raFail(now, t, m, fmt.Sprintf("%s from %s: %v", ra.method.name(), sa.remote, err), &message.EAP{Data: b})
			return
		}
		if done {
			ra.msk, ra.chain = res.msk, res.chain
			ra.method.close()
			if res.tlsVersion != 0 {
				sa.e.log.Info("EAP-TLS succeeded", append(sa.logAttrs(), "user", res.user, "tls", tls.VersionName(res.tlsVersion), "resumed", res.resumed)...)
			}
		}
		sa.respond(now, m, []message.Payload{&message.EAP{Data: b}})
		return
	}
	auth := m.Auth()
	if auth == nil || auth.Method != message.AuthSharedKeyMIC ||
		!hmac.Equal(auth.Data, pskAuth(sa.prf, ra.msk, sa.initReq, sa.nr, sa.keys.SKpi, ra.idi)) {
		sa.raFail(now, t, m, fmt.Sprintf("AUTHENTICATION_FAILED: client %s (%s) did not prove the EAP key", sa.remote, ra.user), authFailed)
		return
	}
	lid := t.cfg.LocalID
	chain := ra.chain
	if p := sa.raAccept(now, m, ra.first, t, ra.user, ra.idi,
		&message.Auth{Method: message.AuthSharedKeyMIC, Data: pskAuth(sa.prf, ra.msk, sa.initResp, sa.ni, sa.keys.SKpr, lid)}); p != nil && chain != nil {
		// An EAP-TLS client: revoking its certificate ends its session
		// as for certificate clients.
		p.client.chain = chain
	}
}

// raAccept completes an authenticated client: it leases an address, makes
// the client's peer, and answers m with ours (the gateway's ID, CERT and
// AUTH, as the method needs), CFG_REPLY and the first Child SA of first.
func (sa *ikeSA) raAccept(now time.Time, m, first *message.Message, t *peer, user string, idi Identity, ours ...message.Payload) *peer {
	key := spiHex(sa.spiI) + "@" + sa.remote.String()
	vip, err := t.cfg.RemoteAccess.Pool.Lease(key)
	if err != nil {
		sa.raFail(now, t, m, fmt.Sprintf("client %s (%s): %v", sa.remote, user, err), &message.Notify{Type: message.NotifyInternalAddressFailure})
		return nil
	}
	ps := append(ours, cpReply(vip, t.cfg.RemoteAccess.DNS, t.cfg.LocalTS))
	p := sa.e.addClient(t, sa, user, idi, vip, key)
	sa.e.attach(sa, p)
	sa.candidates, sa.ra = nil, nil
	p.sa = sa
	sa.setEstablished(now)
	sa.e.host.Event(Event{Kind: EventIKEUp, Peer: p.cfg.Name, Time: now})
	// The Child SA is installed before the answer leaves (the client's
	// first ESP packet may follow it at once); the log line after it.
	ps = append(ps, sa.acceptChild(now, first, nil, nil, false)...)
	sa.respond(now, m, ps)
	sa.e.log.Info("remote-access client connected", append(sa.logAttrs(), "user", user, "remote", sa.remote, "address", vip, "suite", sa.suite.String())...)
	return p
}

// raCompatible reports whether template configuration b can replace a
// without disconnecting its clients: both remote access, the same pool,
// key, certificate, relay and DNS, and nothing else changed but the
// client checks: the client certificates (new roots or revoked
// thumbprints) and the local users (added, removed, new passwords).
// recheckClients then ends the sessions those changes refuse.
func raCompatible(a, b Peer) bool {
	ra, rb := a.RemoteAccess, b.RemoteAccess
	if ra == nil || rb == nil || ra.Pool != rb.Pool || ra.Key != rb.Key || ra.Relay != rb.Relay || !reflect.DeepEqual(ra.Cert, rb.Cert) ||
		!reflect.DeepEqual(ra.DNS, rb.DNS) || (ra.Users == nil) != (rb.Users == nil) {
		return false
	}
	a.RemoteAccess, b.RemoteAccess = nil, nil
	return reflect.DeepEqual(a, b)
}

// recheckClients disconnects the clients of template t that its changed
// configuration refuses: certificate clients whose chain no longer
// verifies (a revoked thumbprint, a removed root), as Azure does when a
// certificate is revoked, and local EAP-MSCHAPv2 users who were removed or
// whose password changed (oldUsers is the lookup they signed in with).
// The new verifier takes over the chains oldClients accepted when the
// roots are the same (pki.Verifier.Adopt), so that a revocation at 10,000
// certificate clients costs the loop a hash per client, not a signature
// check.
func (e *Engine) recheckClients(now time.Time, t *peer, oldUsers mschapv2.Lookup, oldClients *pki.Verifier) {
	ra := t.cfg.RemoteAccess
	v := ra.Clients
	if v != nil {
		v.Adopt(oldClients)
	}
	for _, p := range e.peers {
		c := p.client
		if c == nil || c.template != t.cfg.Name {
			continue
		}
		var err error
		switch {
		case c.chain != nil && v == nil:
			err = fmt.Errorf("certificate clients are no longer accepted")
		case c.chain != nil:
			err = v.Recheck(c.chain, now)
		case ra.Relay == nil && ra.Users != nil && oldUsers != nil:
			// A local EAP-MSCHAPv2 user (a RADIUS relay's users are the
			// RADIUS server's to judge).
			newHash, ok := ra.Users(c.user)
			oldHash, had := oldUsers(c.user)
			switch {
			case !ok:
				err = fmt.Errorf("user %q was removed", c.user)
			case had && newHash != oldHash:
				err = fmt.Errorf("user %q's password changed", c.user)
			}
		}
		if err == nil {
			continue
		}
		e.log.Info("disconnecting remote-access client", "peer", p.cfg.Name, "reason", err)
		for _, sa := range e.sasOf(p) {
			sa.deleteIKE(now, err.Error())
		}
	}
}

// certClient authenticates a client by its certificate (Azure's
// "Certificate" authentication): the chain to a configured root, no
// revoked thumbprint, an identity the certificate vouches for, and a
// signature over its signed octets. The gateway answers with its own
// certificate and signature.
func (sa *ikeSA) certClient(now time.Time, pkt Packet, m *message.Message, t *peer) {
	ra := t.cfg.RemoteAccess
	authFailed := &message.Notify{Type: message.NotifyAuthenticationFailed}
	idi, auth := m.IDi(), m.Auth()
	if idi == nil {
		sa.raFail(now, t, m, "IKE_AUTH without IDi", authFailed)
		return
	}
	if m.CP() == nil || m.CP().CPType != message.CPRequest {
		sa.raFail(now, t, m, fmt.Sprintf("client %s (%s) asked for no address (no CFG_REQUEST): point-to-site clients get one from the pool", pkt.Remote, idOf(idi)), authFailed)
		return
	}
	var chain [][]byte
	for _, c := range m.Certs() {
		if c.Encoding == message.CertX509Signature {
			chain = append(chain, c.Data)
		}
	}
	leaf, err := ra.Clients.Verify(chain, now)
	if err != nil {
		sa.raFail(now, t, m, fmt.Sprintf("client %s: %v", pkt.Remote, err), authFailed)
		return
	}
	id := idOf(idi)
	if !certVouches(leaf, id) {
		sa.raFail(now, t, m, fmt.Sprintf("client %s: identity %s is not its certificate's (%s)", pkt.Remote, id, leaf.Subject), authFailed)
		return
	}
	if err := VerifySignatureAuth(leaf.PublicKey, auth.Method, auth.Data, signedOctets(sa.prf, sa.initReq, sa.nr, sa.keys.SKpi, id)); err != nil {
		sa.raFail(now, t, m, fmt.Sprintf("client %s (%s): %v", pkt.Remote, leaf.Subject.CommonName, err), authFailed)
		return
	}
	sa.remote, sa.local = pkt.Remote, pkt.Local
	ours, err := sa.ourProof(t)
	if err != nil {
		sa.raFail(now, t, m, err.Error(), authFailed)
		return
	}
	if p := sa.raAccept(now, m, m, t, leaf.Subject.CommonName, id, ours...); p != nil {
		p.client.chain = chain
	}
}

// certVouches reports whether the certificate names the identity: its
// subject DN, or a DNS name, e-mail address or IP address in it (or the
// subject CN).
func certVouches(c *x509.Certificate, id Identity) bool {
	switch id.Type {
	case message.IDDerASN1DN:
		return bytes.Equal(id.Data, c.RawSubject)
	case message.IDFQDN, message.IDRFC822Addr:
		s := string(id.Data)
		if c.Subject.CommonName == s || slices.Contains(c.DNSNames, s) || slices.Contains(c.EmailAddresses, s) {
			return true
		}
	case message.IDIPv4Addr, message.IDIPv6Addr:
		a, ok := netip.AddrFromSlice(id.Data)
		for _, ip := range c.IPAddresses {
			if b, ok2 := netip.AddrFromSlice(ip); ok && ok2 && a.Unmap() == b.Unmap() {
				return true
			}
		}
	}
	return false
}

// cpReply is the CFG_REPLY: the client's address, the DNS servers, and
// the networks behind the gateway (split tunnelling).
func cpReply(vip netip.Addr, dns []netip.Addr, nets []netip.Prefix) *message.CP {
	cp := &message.CP{CPType: message.CPReply}
	a := vip.As4()
	cp.Attributes = append(cp.Attributes, message.CPAttribute{Type: message.CPInternalIP4Address, Value: a[:]})
	for _, d := range dns {
		if d.Is4() {
			b := d.As4()
			cp.Attributes = append(cp.Attributes, message.CPAttribute{Type: message.CPInternalIP4DNS, Value: b[:]})
		}
	}
	for _, n := range nets {
		if !n.Addr().Is4() || n.Bits() == 0 {
			continue
		}
		b := n.Addr().As4()
		m := uint32(0xffffffff) << (32 - n.Bits())
		v := append(b[:], byte(m>>24), byte(m>>16), byte(m>>8), byte(m))
		cp.Attributes = append(cp.Attributes, message.CPAttribute{Type: message.CPInternalIP4Subnet, Value: v})
	}
	return cp
}

// addClient makes the peer of one authenticated remote-access client.
func (e *Engine) addClient(t *peer, sa *ikeSA, user string, idi Identity, vip netip.Addr, key string) *peer {
	cfg := t.cfg
	cfg.Name = fmt.Sprintf("%s/%s/%s", t.cfg.Name, user, vip)
	cfg.Remote, cfg.Port = sa.remote.Addr(), sa.remote.Port()
	cfg.RemoteID = idi
	cfg.Mode = ModeResponderOnly
	cfg.RemoteTS = []netip.Prefix{netip.PrefixFrom(vip, 32)}
	cfg.RemoteAccess = nil
	cfg.ChildSelectors, cfg.PolicyBased = nil, false
	p := &peer{cfg: cfg, tm: timer{idx: -1}, client: &client{template: t.cfg.Name, user: user, vip: vip, leaseKey: key}}
	p.tm.p = p
	p.pool = t.cfg.RemoteAccess.Pool
	e.peers[cfg.Name] = p
	e.touchPeer(p)
	return p
}

// Client reports whether the named peer is a remote-access client, and
// which: its template, user and address (O(1)).
func (e *Engine) Client(name string) (tunstat.ClientStatus, bool) {
	p := e.peers[name]
	if p == nil || p.client == nil {
		return tunstat.ClientStatus{}, false
	}
	return p.client.status(), true
}

// ClientsByInitiatorSPI returns the clients with an IKE SA whose initiator
// SPI is in spis (a session's vpnConnectionId names it), sorted by name.
// It visits each client's IKE SAs and builds no status.
func (e *Engine) ClientsByInitiatorSPI(spis map[uint64]bool) []string {
	var out []string
	e.work += uint64(len(e.peers))
	for name, p := range e.peers {
		if p.client == nil {
			continue
		}
		for _, sa := range p.sas {
			if spis[sa.spiI] {
				out = append(out, name)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

func (c *client) status() tunstat.ClientStatus {
	return tunstat.ClientStatus{Template: c.template, User: c.user, VirtualIP: c.vip}
}

// removeClient forgets a client peer whose last IKE SA is gone and returns
// its address to the pool.
func (e *Engine) removeClient(p *peer) {
	if e.peers[p.cfg.Name] != p {
		return
	}
	delete(e.peers, p.cfg.Name)
	p.pool.Release(p.client.leaseKey)
	e.unschedule(&p.tm)
	e.touchPeer(p)
	e.log.Info("remote-access client gone", "peer", p.cfg.Name, "user", p.client.user, "address", p.client.vip)
}
