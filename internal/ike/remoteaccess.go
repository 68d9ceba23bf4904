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
// Only when the client's AUTH verifies with the EAP MSK does the gateway
// lease it an address (so unauthenticated clients cannot drain the pool),
// make it a peer of its own (addClient: "<template>/<user>/<address>",
// with the template's settings, its address as RemoteTS and never
// initiating), and accept the first Child SA narrowed to that address and
// the template's LocalTS. The client peer goes away with its last IKE SA
// (removeClient), and its address returns to the pool.

import (
	"crypto/hmac"
	"fmt"
	"net/netip"
	"time"

	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/p2s/eap"
	"github.com/vpngw/vpngw/internal/p2s/mschapv2"
	"github.com/vpngw/vpngw/internal/tunstat"
)

// eapState is a responder SA's remote-access authentication in progress.
type eapState struct {
	tmpl *peer
	// first is the client's first IKE_AUTH request: its SA, TS and CP
	// are answered when authentication succeeds.
	first  *message.Message
	idi    Identity
	server *mschapv2.Server
	user   string
	msk    []byte // set when EAP succeeded
}

// client marks a peer made for one remote-access client.
type client struct {
	template string
	user     string
	vip      netip.Addr
	leaseKey string
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
// gateway authenticates with its certificate and starts EAP-MSCHAPv2.
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
	lid := t.cfg.LocalID
	method, sig, err := SignatureAuth(ra.Key, signedOctets(sa.prf, sa.initResp, sa.ni, sa.keys.SKpr, lid))
	if err != nil {
		sa.raFail(now, t, m, err.Error(), authFailed)
		return
	}
	srv, req, err := mschapv2.NewServer(sa.e.rand, ra.Users, 1)
	if err != nil {
		sa.raFail(now, t, m, err.Error(), authFailed)
		return
	}
	eb, err := req.Marshal()
	if err != nil {
		sa.raFail(now, t, m, err.Error(), authFailed)
		return
	}
	sa.ra = &eapState{tmpl: t, first: m, idi: idOf(idi), server: srv}
	ps := []message.Payload{&message.ID{Initiator: false, IDType: lid.Type, Data: lid.Data}}
	if len(ra.Cert) > 0 {
		ps = append(ps, &message.Cert{Encoding: message.CertX509Signature, Data: ra.Cert[0]})
	}
	ps = append(ps, &message.Auth{Method: method, Data: sig}, &message.EAP{Data: eb})
	sa.respond(now, m, ps)
}

// continueEAP handles the client's later IKE_AUTH requests: EAP
// Responses until EAP succeeds, then the client's AUTH.
func (sa *ikeSA) continueEAP(now time.Time, m *message.Message) {
	ra := sa.ra
	t := ra.tmpl
	authFailed := &message.Notify{Type: message.NotifyAuthenticationFailed}
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
		next, done, res, err := ra.server.Handle(in)
		if res.User != "" {
			ra.user = res.User
		}
		b, merr := next.Marshal()
		if merr != nil || (err != nil && !done) {
			sa.raFail(now, t, m, fmt.Sprintf("EAP-MSCHAPv2 from %s: %v", sa.remote, err), authFailed)
			return
		}
		if err != nil {
			sa.raFail(now, t, m, fmt.Sprintf("EAP-MSCHAPv2 from %s: %v", sa.remote, err), &message.EAP{Data: b})
			return
		}
		if done {
			ra.msk = res.MSK
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
	key := spiHex(sa.spiI) + "@" + sa.remote.String()
	vip, err := t.cfg.RemoteAccess.Pool.Lease(key)
	if err != nil {
		sa.raFail(now, t, m, fmt.Sprintf("client %s (%s): %v", sa.remote, ra.user, err), &message.Notify{Type: message.NotifyInternalAddressFailure})
		return
	}
	lid := t.cfg.LocalID
	ps := []message.Payload{&message.Auth{Method: message.AuthSharedKeyMIC, Data: pskAuth(sa.prf, ra.msk, sa.initResp, sa.ni, sa.keys.SKpr, lid)}}
	ps = append(ps, cpReply(vip, t.cfg.RemoteAccess.DNS, t.cfg.LocalTS))
	p := sa.e.addClient(t, sa, ra, vip, key)
	sa.e.attach(sa, p)
	sa.candidates, sa.ra = nil, nil
	p.sa = sa
	sa.setEstablished(now)
	sa.e.log.Info("remote-access client connected", append(sa.logAttrs(), "user", ra.user, "remote", sa.remote, "address", vip, "suite", sa.suite.String())...)
	sa.e.host.Event(Event{Kind: EventIKEUp, Peer: p.cfg.Name, Time: now})
	ps = append(ps, sa.acceptChild(now, ra.first, nil, nil, false)...)
	sa.respond(now, m, ps)
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
func (e *Engine) addClient(t *peer, sa *ikeSA, ra *eapState, vip netip.Addr, key string) *peer {
	cfg := t.cfg
	cfg.Name = fmt.Sprintf("%s/%s/%s", t.cfg.Name, ra.user, vip)
	cfg.Remote, cfg.Port = sa.remote.Addr(), sa.remote.Port()
	cfg.RemoteID = ra.idi
	cfg.Mode = ModeResponderOnly
	cfg.RemoteTS = []netip.Prefix{netip.PrefixFrom(vip, 32)}
	cfg.RemoteAccess = nil
	cfg.ChildSelectors, cfg.PolicyBased = nil, false
	p := &peer{cfg: cfg, tm: timer{idx: -1}, client: &client{template: t.cfg.Name, user: ra.user, vip: vip, leaseKey: key}}
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
