package ike

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"reflect"
	"time"

	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

// saState is the state of an IKE SA.
type saState uint8

const (
	stInitSent    saState = iota + 1 // initiator: IKE_SA_INIT request sent
	stInitDone                       // responder: IKE_SA_INIT answered, waiting for IKE_AUTH
	stAuthSent                       // initiator: IKE_AUTH request sent
	stEstablished                    // authenticated
	stRekeyed                        // replaced by a rekeyed IKE SA; being deleted
	stDeleting                       // Delete sent; waiting for the response
	stDead                           // removed
)

func (s saState) String() string {
	return [...]string{"", "IKE_SA_INIT sent", "IKE_SA_INIT answered", "IKE_AUTH sent", "established", "rekeyed", "deleting", "dead"}[s]
}

// ikeSA is one IKE SA.
type ikeSA struct {
	e    *Engine
	peer *peer // nil for a responder SA until IKE_AUTH identified the peer
	// candidates are the peers a responder SA may belong to (from the
	// initiator's address) until IKE_AUTH identifies one.
	candidates []*peer
	initiator  bool // we are the original initiator
	state      saState
	spiI, spiR uint64
	// local and remote are the IKE endpoints; with a NAT both use 4500.
	local, remote netip.AddrPort
	// natLocal: we are behind a NAT; natRemote: the peer is (or faked it).
	natLocal, natRemote bool
	fragOK              bool // both sides announced IKEV2_FRAGMENTATION_SUPPORTED

	suite suite
	prf   transform.PRF
	keys  transform.IKEKeys
	in    *message.Crypto // decrypts the peer's messages
	out   *message.Crypto // protects ours
	ni    []byte
	nr    []byte
	dh    transform.DH // our DH key until the shared secret is computed
	// initReq and initResp are the IKE_SA_INIT messages as sent, for AUTH;
	// released (with the cookie and SK_pi/SK_pr) once the SA is
	// established.
	initReq, initResp []byte
	cookie            []byte // COOKIE notify data to echo
	initGroup         transform.ID
	initialContact    bool // peer sent INITIAL_CONTACT

	created     time.Time
	established time.Time
	rekeyAt     time.Time // start IKE SA rekey
	expireAt    time.Time // hard lifetime
	lastRecv    time.Time // last authenticated message or ESP from the peer
	halfOpen    bool      // counted in Engine.halfOpen
	// initKey is a responder SA's key in Engine.initResp.
	initKey initKey

	// Our requests (window size 1).
	nextID  uint32
	pending *request
	queue   []*request
	// The peer's requests.
	peerNextID uint32
	lastResp   [][]byte // datagrams of the last response, for retransmissions
	// reasm reassembles the peer's fragmented messages; made on the first
	// fragment (most IKE SAs never see one).
	reasm *message.Reassembler

	children map[uint32]*childSA // by inbound SPI; nil until the first Child SA

	// rekey state
	rekeying  *ikeRekey // our IKE rekey in progress
	rekeyedTo *ikeSA    // the SA that replaced this one
	deleteAt  time.Time // stRekeyed/stDeleting: destroy at this time at the latest
	// pairRetry and pairRetryAt back off Child SA creation for a
	// configured pair after a failure.
	pairRetry   map[int]time.Duration
	pairRetryAt map[int]time.Time
	dpdSent     bool   // a liveness check is outstanding
	reason      string // why it is being deleted

	tm timer // this SA's entry in Engine.timers
	// ra is a remote-access client's authentication in progress
	// (remoteaccess.go).
	ra *eapState
	// proof is a remote-access responder's ID, CERT and AUTH signed while
	// the initiator computed its IKE_AUTH (respondInitKeys); taken by
	// IKE_AUTH's answer.
	proof *gatewayProof
}

// request is one of our requests, with its retransmission state.
type request struct {
	exchange message.ExchangeType
	payloads []message.Payload
	// onResponse handles the response; onTimeout runs when retransmission
	// gives up (nil: the IKE SA is destroyed).
	onResponse func(now time.Time, m *message.Message)
	onTimeout  func(now time.Time)
	// give up at this time at the latest (DPD), zero: after the tries.
	giveUpAt time.Time

	msgID     uint32
	datagrams [][]byte
	tries     int
	nextRetry time.Time
	sentAt    time.Time
}

func (sa *ikeSA) spiLocal() uint64 {
	if sa.initiator {
		return sa.spiI
	}
	return sa.spiR
}

func (sa *ikeSA) spiPeer() uint64 {
	if sa.initiator {
		return sa.spiR
	}
	return sa.spiI
}

func (sa *ikeSA) name() string {
	if sa.peer != nil {
		return sa.peer.cfg.Name
	}
	return "?" + sa.remote.String()
}

func (sa *ikeSA) logAttrs() []any {
	return []any{"peer", sa.name(), "spii", spiHex(sa.spiI), "spir", spiHex(sa.spiR)}
}

// encap reports whether ESP must be UDP-encapsulated.
func (sa *ikeSA) encap() bool {
	return sa.natLocal || sa.natRemote || (sa.peer != nil && sa.peer.cfg.ForceEncap)
}

// header builds the IKE header for a message we send.
func (sa *ikeSA) header(ex message.ExchangeType, id uint32, response bool) message.Header {
	h := message.Header{SPIi: sa.spiI, SPIr: sa.spiR, Version: 0x20, Exchange: ex, MessageID: id}
	if sa.initiator {
		h.Flags |= message.FlagInitiator
	}
	if response {
		h.Flags |= message.FlagResponse
	}
	return h
}

func (sa *ikeSA) send(datagrams [][]byte) {
	for _, d := range datagrams {
		sa.e.host.SendIKE(Packet{Data: d, Local: sa.local, Remote: sa.remote})
	}
}

// encode protects m for sending, fragmenting when the peer supports it and
// the message is too large.
func (sa *ikeSA) encode(m *message.Message) ([][]byte, error) {
	if sa.fragOK && m.Exchange != message.IKESAInit {
		return m.EncodeFragments(sa.out, sa.e.cfg.FragmentSize)
	}
	b, err := m.EncodeProtected(sa.out)
	if err != nil {
		return nil, err
	}
	return [][]byte{b}, nil
}

// request queues one of our requests; it is sent when no other is
// outstanding.
func (sa *ikeSA) request(now time.Time, r *request) {
	if sa.state == stDead {
		return
	}
	sa.queue = append(sa.queue, r)
	sa.sendNext(now)
}

func (sa *ikeSA) sendNext(now time.Time) {
	if sa.pending != nil || len(sa.queue) == 0 || sa.state == stDead {
		return
	}
	r := sa.queue[0]
	sa.queue = sa.queue[1:]
	r.msgID = sa.nextID
	m := &message.Message{Header: sa.header(r.exchange, r.msgID, false), Payloads: r.payloads}
	var d [][]byte
	var err error
	if r.exchange == message.IKESAInit {
		var b []byte
		if b, err = m.Encode(); err == nil {
			sa.initReq, d = b, [][]byte{b}
		}
	} else {
		d, err = sa.encode(m)
	}
	if err != nil {
		sa.e.log.Error("cannot encode IKE request", append(sa.logAttrs(), "exchange", r.exchange, "err", err)...)
		sa.sendNext(now)
		return
	}
	r.datagrams = d
	r.tries = 1
	r.sentAt = now
	r.nextRetry = now.Add(sa.e.cfg.Retransmit)
	sa.pending = r
	sa.send(d)
}

// respond sends the response to the peer's current request and keeps it for
// retransmissions.
func (sa *ikeSA) respond(now time.Time, req *message.Message, payloads []message.Payload) {
	m := &message.Message{Header: sa.header(req.Exchange, req.MessageID, true), Payloads: payloads}
	var d [][]byte
	var err error
	if req.Fragments > 0 && sa.fragOK {
		d, err = m.EncodeFragments(sa.out, sa.e.cfg.FragmentSize)
	} else {
		d, err = sa.encode(m)
	}
	if err != nil {
		sa.e.log.Error("cannot encode IKE response", append(sa.logAttrs(), "exchange", req.Exchange, "err", err)...)
		return
	}
	sa.lastResp = d
	sa.peerNextID = req.MessageID + 1
	sa.send(d)
}

// notifyError answers a request with a single error notify.
func (sa *ikeSA) notifyError(now time.Time, req *message.Message, t message.NotifyType, data []byte) {
	sa.respond(now, req, []message.Payload{&message.Notify{Type: t, Data: data}})
}

// handle processes a datagram for this SA.
func (sa *ikeSA) handle(now time.Time, pkt Packet, h message.Header) {
	if h.Exchange == message.IKESAInit {
		if h.IsResponse() && sa.state == stInitSent && sa.initiator {
			sa.handleInitResponse(now, pkt, h)
		}
		return
	}
	if sa.in == nil {
		return // no keys yet
	}
	if h.IsResponse() {
		if sa.pending == nil || h.MessageID != sa.pending.msgID {
			return
		}
	} else {
		switch {
		case h.MessageID == sa.peerNextID-1 && sa.lastResp != nil && h.MessageID < sa.peerNextID:
			// Retransmitted request: resend the response (once per
			// datagram of the request; for fragments only on fragment 1).
			if n, _, frag := message.PeekFragment(pkt.Data); !frag || n == 1 {
				sa.send(sa.lastResp)
			}
			return
		case h.MessageID != sa.peerNextID:
			return
		}
	}
	var m *message.Message
	var err error
	if h.NextPayload == message.PayloadSKF {
		var done bool
		if sa.reasm == nil {
			sa.reasm = message.NewReassembler(0, 0)
		}
		m, done, err = sa.reasm.Add(pkt.Data, sa.in)
		if err == nil && !done {
			return
		}
	} else {
		m, err = message.Decode(pkt.Data, sa.in)
	}
	if err != nil {
		var ce *message.CriticalPayloadError
		switch {
		case errors.As(err, &ce) && !h.IsResponse():
			sa.notifyError(now, &message.Message{Header: h}, message.NotifyUnsupportedCriticalPayload, []byte{byte(ce.Type)})
		case errors.Is(err, message.ErrSyntax) && !h.IsResponse():
			sa.notifyError(now, &message.Message{Header: h}, message.NotifyInvalidSyntax, nil)
		default:
			sa.e.log.Debug("dropping IKE message", append(sa.logAttrs(), "exchange", h.Exchange, "err", err)...)
		}
		return
	}
	sa.lastRecv = now
	sa.dpdSent = false
	// RFC 7296 §2.23: with a NAT, follow the peer's address.
	if (sa.natLocal || sa.natRemote) && pkt.Remote != sa.remote && sa.state == stEstablished {
		sa.e.log.Info("peer address changed", append(sa.logAttrs(), "from", sa.remote, "to", pkt.Remote)...)
		sa.remote = pkt.Remote
		sa.local = pkt.Local
		sa.updateChildEndpoints(now)
	}
	if h.IsResponse() {
		r := sa.pending
		sa.pending = nil
		sa.nextID++
		if r.onResponse != nil {
			r.onResponse(now, m)
		}
		sa.sendNext(now)
		return
	}
	sa.handleRequest(now, pkt, m)
}

// handleRequest dispatches a request from the peer.
func (sa *ikeSA) handleRequest(now time.Time, pkt Packet, m *message.Message) {
	switch m.Exchange {
	case message.IKEAuth:
		switch {
		case sa.initiator || sa.state != stInitDone:
		case sa.ra != nil:
			sa.continueEAP(now, m)
		default:
			sa.handleAuthRequest(now, pkt, m)
		}
	case message.CreateChildSA:
		if sa.state != stEstablished {
			sa.notifyError(now, m, message.NotifyTemporaryFailure, nil)
			return
		}
		sa.handleCreateChildRequest(now, m)
	case message.Informational:
		sa.handleInformationalRequest(now, m)
	default:
		// Unknown exchange types are answered with nothing useful:
		// INVALID_SYNTAX keeps the message IDs in step.
		sa.notifyError(now, m, message.NotifyInvalidSyntax, nil)
	}
}

// tick runs the SA's timers.
func (sa *ikeSA) tick(now time.Time) {
	if sa.state == stDead {
		return
	}
	if r := sa.pending; r != nil && !now.Before(r.nextRetry) {
		if r.tries >= sa.e.cfg.RetransmitTries || (!r.giveUpAt.IsZero() && !now.Before(r.giveUpAt)) {
			sa.pending = nil
			sa.e.log.Info("IKE exchange timed out", append(sa.logAttrs(), "exchange", r.exchange, "tries", r.tries)...)
			if r.onTimeout != nil {
				r.onTimeout(now)
			} else {
				sa.destroy(now, "peer not responding ("+r.exchange.String()+" timed out)")
			}
			if sa.state == stDead {
				return
			}
			sa.sendNext(now)
		} else {
			d := sa.e.cfg.Retransmit << r.tries
			if d > sa.e.cfg.RetransmitMax || d <= 0 {
				d = sa.e.cfg.RetransmitMax
			}
			r.tries++
			r.nextRetry = now.Add(d)
			if !r.giveUpAt.IsZero() && r.nextRetry.After(r.giveUpAt) {
				r.nextRetry = r.giveUpAt
			}
			sa.send(r.datagrams)
		}
	}
	switch sa.state {
	case stInitDone, stInitSent, stAuthSent:
		if now.Sub(sa.created) > sa.halfOpenTimeout() {
			sa.destroy(now, "negotiation did not complete")
			return
		}
	case stRekeyed, stDeleting:
		if !sa.deleteAt.IsZero() && !now.Before(sa.deleteAt) {
			sa.destroy(now, sa.reason)
			return
		}
	case stEstablished:
		if !sa.expireAt.IsZero() && !now.Before(sa.expireAt) {
			sa.deleteIKE(now, "IKE SA lifetime expired")
			return
		}
		if !sa.rekeyAt.IsZero() && !now.Before(sa.rekeyAt) && sa.rekeying == nil {
			sa.startIKERekey(now)
		}
		sa.liveness(now)
		for _, c := range sa.sortedChildren() {
			c.tick(now)
		}
		if sa.initiator || sa.peer != nil {
			sa.ensureChildren(now)
		}
	}
}

// raHalfOpen is how long a point-to-site client's IKE_AUTH may take: EAP
// takes several round trips, and a RADIUS server may take 30 s to answer
// (or fail over to the next).
const raHalfOpen = 2 * time.Minute

// halfOpenTimeout is when an unauthenticated responder SA is dropped.
func (sa *ikeSA) halfOpenTimeout() time.Duration {
	if sa.ra != nil {
		return max(raHalfOpen, sa.e.cfg.HalfOpenTimeout)
	}
	return sa.e.cfg.HalfOpenTimeout
}

// deadline is when tick must run next for this SA.
func (sa *ikeSA) deadline() time.Time {
	var d time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	if sa.pending != nil {
		earlier(sa.pending.nextRetry)
	}
	switch sa.state {
	case stInitDone, stInitSent, stAuthSent:
		earlier(sa.created.Add(sa.halfOpenTimeout() + time.Millisecond))
	case stRekeyed, stDeleting:
		earlier(sa.deleteAt)
	case stEstablished:
		earlier(sa.expireAt)
		if sa.rekeying == nil {
			earlier(sa.rekeyAt)
		}
		earlier(sa.livenessDeadline())
		earlier(sa.pairsDeadline())
		for _, c := range sa.children {
			earlier(c.deadline())
		}
	}
	return d
}

// destroy removes the SA and its Child SAs without telling the peer.
func (sa *ikeSA) destroy(now time.Time, reason string) {
	if sa.state == stDead {
		return
	}
	wasEstablished := sa.state == stEstablished || sa.state == stRekeyed || sa.state == stDeleting
	prev := sa.state
	sa.state = stDead
	sa.pending, sa.queue = nil, nil
	if sa.ra != nil && sa.ra.method != nil {
		sa.ra.method.close()
	}
	for _, c := range sa.sortedChildren() {
		sa.removeChild(now, c, reason)
	}
	delete(sa.e.sas, sa.spiLocal())
	sa.e.unschedule(&sa.tm)
	sa.e.touch(sa)
	sa.e.detach(sa)
	if !sa.initiator {
		sa.e.forgetInit(sa)
	}
	if sa.halfOpen {
		sa.halfOpen = false
		sa.e.halfOpen--
	}
	p := sa.peer
	if p != nil && p.sa == sa {
		p.sa = nil
		// Another live SA of the peer (simultaneous initiation) takes over.
		for _, o := range sa.e.sasOf(p) {
			if o.state == stEstablished {
				p.sa = o
				break
			}
		}
		if p.sa == nil {
			if wasEstablished {
				sa.e.host.Event(Event{Kind: EventIKEDown, Peer: p.cfg.Name, Time: now, Reason: reason})
				p.retryAt = now.Add(sa.e.backoff(sa.e.cfg.RetryInitiate / 4))
				if reason == "deleted by peer" || reason == "configuration changed" {
					p.retryAt = now.Add(sa.e.backoff(sa.e.cfg.RetryInitiate))
				}
			} else if prev != stRekeyed {
				sa.e.failed(now, p, reason)
			}
			if p.initiateAfterDelete && sa.e.peers[p.cfg.Name] == p {
				p.initiateAfterDelete = false
				sa.e.initiate(now, p)
			}
		}
	}
	if p != nil && p.client != nil && len(p.sas) == 0 {
		sa.e.removeClient(p)
	}
	sa.e.log.Info("IKE SA removed", append(sa.logAttrs(), "reason", reason, "state", prev)...)
}

// established marks the SA authenticated and schedules its lifetime.
func (sa *ikeSA) setEstablished(now time.Time) {
	sa.state = stEstablished
	sa.established = now
	sa.lastRecv = now
	if sa.halfOpen {
		sa.halfOpen = false
		sa.e.halfOpen--
	}
	sa.scheduleLifetime(now)
	sa.releaseHandshake()
	p := sa.peer
	p.retryDelay, p.retryAt, p.lastError = 0, time.Time{}, ""
	p.upSince = now
}

// releaseHandshake drops what only IKE_SA_INIT and IKE_AUTH needed: the
// IKE_SA_INIT messages (AUTH signs them), the cookie, SK_pi and SK_pr, and
// the responder's index entry for retransmitted IKE_SA_INIT requests (a
// late retransmission now meets a fresh half-open SA, which times out).
// That is most of a handshake's memory; an established SA keeps its keys,
// nonces (simultaneous initiation compares them) and last response.
func (sa *ikeSA) releaseHandshake() {
	if !sa.initiator && sa.initResp != nil {
		sa.e.forgetInit(sa)
	}
	sa.initReq, sa.initResp, sa.cookie = nil, nil, nil
	sa.keys.SKpi, sa.keys.SKpr = nil, nil
}

// scheduleLifetime sets the rekey time with jitter (rekey at 90% of the
// lifetime minus up to 10% random, as strongSwan's rekey_time and
// rand_time) and the hard expiry.
func (sa *ikeSA) scheduleLifetime(now time.Time) {
	life := sa.peer.cfg.IKELifetime
	sa.expireAt = now.Add(life)
	sa.rekeyAt = now.Add(sa.e.jitter(life))
}

// jitter returns a rekey delay for a lifetime: 90% minus up to 10%, so
// that SAs established in the same instant (thousands of peers after a
// restart) spread their rekeys over a tenth of the lifetime.
func (e *Engine) jitter(life time.Duration) time.Duration {
	return time.Duration(float64(life) * (0.90 - 0.10*e.randFrac()))
}

// backoff returns a retry delay of between half of d and d ("equal
// jitter"): failures that happen together (a link down for thousands of
// tunnels) are retried apart.
func (e *Engine) backoff(d time.Duration) time.Duration {
	return d/2 + time.Duration(float64(d/2)*e.randFrac())
}

// randFrac is a random number in [0, 1] from the engine's random source.
func (e *Engine) randFrac() float64 {
	var b [2]byte
	if _, err := io.ReadFull(e.rand, b[:]); err != nil {
		panic("ike: random source failed: " + err.Error())
	}
	return float64(binary.BigEndian.Uint16(b[:])) / 65535
}

// peerEqual compares configurations; RemoteAccess (which holds functions
// and keys) by pointer.
func peerEqual(a, b Peer) bool {
	if a.RemoteAccess != b.RemoteAccess || a.Client != b.Client {
		return false
	}
	a.RemoteAccess, b.RemoteAccess = nil, nil
	a.Client, b.Client, a.trust, b.trust = nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}

// lowerNonce reports whether nonce a sorts before b (RFC 7296 §2.8.1:
// octet by octet; a shorter prefix sorts first).
func lowerNonce(a, b []byte) bool { return bytes.Compare(a, b) < 0 }

// minNonce returns the lowest of the nonces.
func minNonce(ns ...[]byte) []byte {
	m := ns[0]
	for _, n := range ns[1:] {
		if lowerNonce(n, m) {
			m = n
		}
	}
	return m
}

// forgetInit removes a responder SA from the index of answered IKE_SA_INIT
// requests (keyed by the address the request came from: the peer may have
// moved to port 4500 since).
func (e *Engine) forgetInit(sa *ikeSA) {
	if e.initResp[sa.initKey] == sa {
		delete(e.initResp, sa.initKey)
	}
}
