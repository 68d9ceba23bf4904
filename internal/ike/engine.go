package ike

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sort"
	"time"

	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/p2s/eaptls"
	"github.com/vpngw/vpngw/internal/p2s/mschapv2"
	"github.com/vpngw/vpngw/internal/p2s/pki"
	"github.com/vpngw/vpngw/internal/p2s/pool"
)

// Engine is the IKEv2 engine of one gateway instance. See the package doc.
type Engine struct {
	cfg Config
	log *slog.Logger
	// defaults are the peers' default proposals and selectors, shared.
	defaults *peerDefaults
	host     Host
	rand     io.Reader

	peers map[string]*peer  // by name
	sas   map[uint64]*ikeSA // every live IKE SA, by our SPI
	// initResp remembers responder IKE SAs by the initiator's SPI and
	// address, to answer retransmitted IKE_SA_INIT requests.
	initResp map[initKey]*ikeSA
	// children indexes every Child SA by its inbound SPI (which we chose).
	children map[uint32]*childSA
	halfOpen int
	cookies  cookieJar

	// drops counts refused messages (read concurrently through Drops);
	// dropLog and replies rate-limit their log lines and error replies.
	drops   DropCounters
	dropLog DropLog
	replies replyBucket

	// byRemote indexes the peers that accept IKE_SA_INIT from an address
	// (not InitiatorOnly), sorted by name; loose lists those without a
	// fixed address or with a remote identity (matched in IKE_AUTH).
	// Both are rebuilt by SetPeers.
	byRemote map[netip.Addr][]*peer
	loose    []*peer

	// timers holds the next deadline of every live IKE SA and of every
	// peer waiting to initiate; see timers.go.
	timers timerHeap
	// dirty and dirtyPeers are touched since the last flush; changed are
	// the peers touched since the last Changed.
	dirty      map[*ikeSA]struct{}
	dirtyPeers map[*peer]struct{}
	// retimed need a deadline recomputation only (see retime).
	retimed map[*ikeSA]struct{}
	changed map[string]struct{}
	// work counts SAs and peers visited by bookkeeping (see Work).
	work uint64
	// tlsTickets are the gateway's EAP-TLS session ticket keys, shared
	// by all its remote-access templates so that clients resume.
	tlsTickets *eaptls.TicketKeys
}

type initKey struct {
	spii   uint64
	remote netip.AddrPort
}

// peer is the engine's state for one configured connection.
type peer struct {
	cfg Peer
	// sa is the IKE SA new Child SAs are negotiated on: the established
	// one, or the one being established. Transient duplicates (rekey,
	// simultaneous initiation) are in Engine.sas with sa.peer == p.
	sa *ikeSA
	// retryAt is when to initiate again after a failure (zero: now).
	retryAt time.Time
	// initiateAfterDelete is an operator's Initiate that arrived while the
	// peer's IKE SA was being deleted: it runs when that SA is gone.
	initiateAfterDelete bool
	retryDelay          time.Duration
	lastError           string
	// upSince is when the current IKE SA was established.
	upSince time.Time
	// sas are the peer's live IKE SAs (sa and transient duplicates).
	sas []*ikeSA
	// tm is the initiation timer (queued while sa is nil).
	tm timer
	// client is set on a remote-access client's peer (remoteaccess.go),
	// pool on it is the template's pool its address came from.
	client *client
	pool   *pool.Pool
}

// attach makes p the owner of sa.
func (e *Engine) attach(sa *ikeSA, p *peer) {
	sa.peer = p
	if p != nil {
		p.sas = append(p.sas, sa)
		e.touchPeer(p)
	}
}

// detach removes a destroyed sa from its peer's list.
func (e *Engine) detach(sa *ikeSA) {
	p := sa.peer
	if p == nil {
		return
	}
	for i, o := range p.sas {
		if o == sa {
			p.sas = append(p.sas[:i], p.sas[i+1:]...)
			break
		}
	}
	e.touchPeer(p)
}

// New returns an Engine that reports to host and logs to log (nil: silent).
func New(cfg Config, host Host, log *slog.Logger) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	r := cfg.Rand
	if r == nil {
		r = rand.Reader
	}
	e := &Engine{
		cfg:      cfg,
		log:      log,
		defaults: newPeerDefaults(),
		host:     host,
		rand:     r,
		peers:    map[string]*peer{},
		sas:      map[uint64]*ikeSA{},
		initResp: map[initKey]*ikeSA{},
		children: map[uint32]*childSA{},
		byRemote: map[netip.Addr][]*peer{},

		dirty:      map[*ikeSA]struct{}{},
		dirtyPeers: map[*peer]struct{}{},
		retimed:    map[*ikeSA]struct{}{},
		changed:    map[string]struct{}{},
		tlsTickets: eaptls.NewTicketKeys(nil, 0, 0), // crypto/rand: secret even when cfg.Rand is a test's
	}
	e.cookies.init(r)
	return e
}

// EAPTLSSessions returns how many EAP-TLS exchanges the gateway
// terminated succeeded with a full TLS handshake and how many resumed a
// session from a ticket. Safe to call from any goroutine.
func (e *Engine) EAPTLSSessions() (full, resumed uint64) { return e.tlsTickets.Counts() }

// SetPeers replaces the configured peers. Peers whose configuration did not
// change keep their SAs untouched; removed peers are deleted (the peer is
// told); changed peers are torn down and negotiated again. It returns an
// error, and changes nothing, if a configuration is invalid.
func (e *Engine) SetPeers(now time.Time, peers []Peer) error {
	want := make(map[string]Peer, len(peers))
	for _, p := range peers {
		p = p.withDefaults(e.defaults)
		if err := p.Validate(); err != nil {
			return err
		}
		if _, dup := want[p.Name]; dup {
			return fmt.Errorf("%w: duplicate peer name %q", ErrConfig, p.Name)
		}
		want[p.Name] = p
	}
	kept := map[string]bool{}
	// recheckOf is a template whose client checks changed, with the
	// local users its clients signed in with and the verifier that
	// accepted their certificates.
	type recheckOf struct {
		tmpl       *peer
		oldUsers   mschapv2.Lookup
		oldClients *pki.Verifier
	}
	var recheck []recheckOf
	for name, p := range e.peers {
		cfg, ok := want[name]
		switch {
		case !ok || p.client != nil:
		case peerEqual(p.cfg, cfg):
			kept[name] = true
		case raCompatible(p.cfg, cfg):
			// Only the client checks changed: keep the clients that
			// still pass them.
			recheck = append(recheck, recheckOf{p, p.cfg.RemoteAccess.Users, p.cfg.RemoteAccess.Clients})
			p.cfg = cfg
			kept[name] = true
			e.touchPeer(p)
		}
	}
	for _, r := range recheck {
		e.recheckClients(now, r.tmpl, r.oldUsers, r.oldClients)
	}
	for name, p := range e.peers {
		if kept[name] || (p.client != nil && kept[p.client.template]) {
			continue
		}
		e.log.Info("peer removed or changed: deleting its SAs", "peer", name)
		for _, sa := range e.sasOf(p) {
			sa.deleteIKE(now, "configuration changed")
		}
		delete(e.peers, name)
		e.touchPeer(p)
	}
	for name, cfg := range want {
		if _, ok := e.peers[name]; ok {
			continue
		}
		p := &peer{cfg: cfg, tm: timer{idx: -1}}
		p.tm.p = p
		e.peers[name] = p
		e.touchPeer(p)
		e.log.Info("peer configured", "peer", name, "remote", cfg.Remote, "mode", cfg.Mode)
	}
	e.indexPeers()
	e.Tick(now)
	return nil
}

// indexPeers rebuilds byRemote and loose (on configuration changes).
func (e *Engine) indexPeers() {
	clear(e.byRemote)
	e.loose = e.loose[:0]
	for _, name := range e.ConfiguredPeers() { // clients reconnect through their template
		p := e.peers[name]
		if p.cfg.Mode == ModeInitiatorOnly {
			continue
		}
		if p.cfg.Remote.IsValid() {
			e.byRemote[p.cfg.Remote] = append(e.byRemote[p.cfg.Remote], p)
		}
		if !p.cfg.Remote.IsValid() || !p.cfg.RemoteID.IsZero() {
			e.loose = append(e.loose, p)
		}
	}
}

// ConfiguredPeers returns the names of the configured peers (connections
// and point-to-site templates, not the templates' clients), sorted. It
// walks the peers, clients included, without building anything for them.
func (e *Engine) ConfiguredPeers() []string {
	var out []string
	e.work += uint64(len(e.peers))
	for n, p := range e.peers {
		if p.client == nil {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Peers returns the names of the configured peers and the point-to-site
// clients, sorted.
func (e *Engine) Peers() []string {
	out := make([]string, 0, len(e.peers))
	e.work += uint64(len(e.peers))
	for n := range e.peers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// sasOf lists the live IKE SAs of a peer, by local SPI.
func (e *Engine) sasOf(p *peer) []*ikeSA {
	out := append([]*ikeSA(nil), p.sas...)
	e.work += uint64(len(out))
	sort.Slice(out, func(i, j int) bool { return out[i].spiLocal() < out[j].spiLocal() })
	return out
}

// Initiate starts negotiating with a peer now, if it has no IKE SA (even in
// ResponderOnly mode: an operator's explicit request).
func (e *Engine) Initiate(now time.Time, name string) error {
	p, ok := e.peers[name]
	if !ok {
		return fmt.Errorf("ike: no peer %q", name)
	}
	if !p.cfg.Remote.IsValid() {
		return fmt.Errorf("ike: peer %q has no remote address", name)
	}
	switch {
	case p.sa == nil:
		e.initiate(now, p)
	case p.sa.state == stDeleting:
		// The Delete is still in flight (the peer keeps pointing at the
		// SA until it is gone); start again once it is.
		p.initiateAfterDelete = true
	}
	e.touchPeer(p)
	e.flush()
	return nil
}

// Close deletes every IKE SA, telling the peers (best effort: the Delete
// requests are sent once and not retransmitted), and removes the Child SAs.
func (e *Engine) Close(now time.Time) {
	defer e.flush()
	for _, sa := range e.sortedSAs() {
		sa.deleteIKE(now, "shutting down")
	}
	for _, sa := range e.sortedSAs() {
		sa.destroy(now, "shutting down")
	}
}

func (e *Engine) sortedSAs() []*ikeSA {
	out := make([]*ikeSA, 0, len(e.sas))
	e.work += uint64(len(e.sas))
	for _, sa := range e.sas {
		out = append(out, sa)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].spiLocal() < out[j].spiLocal() })
	return out
}

// HandlePacket processes one received IKE datagram.
func (e *Engine) HandlePacket(now time.Time, pkt Packet) {
	defer e.flush()
	h, err := message.ParseHeader(pkt.Data)
	if err != nil {
		e.logDrop(now, DropMalformed, "dropping malformed IKE datagram", "from", pkt.Remote, "err", err)
		return
	}
	if h.Exchange == message.IKESAInit && !h.IsResponse() {
		if h.SPIr == 0 && h.MessageID == 0 {
			e.handleInitRequest(now, pkt, h)
		} else {
			e.logDrop(now, DropMalformed, "dropping IKE_SA_INIT request with a responder SPI or message ID", "from", pkt.Remote)
		}
		return
	}
	var ours uint64
	if h.IsInitiator() {
		ours = h.SPIr // the sender is the original initiator
	} else {
		ours = h.SPIi
	}
	sa := e.sas[ours]
	if sa == nil || sa.spiPeer() != peerSPIOf(h) && !(h.Exchange == message.IKESAInit && sa.state == stInitSent) {
		e.logDrop(now, DropUnknownSA, "IKE message for unknown SA", "from", pkt.Remote, "exchange", h.Exchange, "spii", spiHex(h.SPIi), "spir", spiHex(h.SPIr))
		return
	}
	before := sa.statusSig()
	sa.handle(now, pkt, h)
	e.retouch(sa, before)
}

func peerSPIOf(h message.Header) uint64 {
	if h.IsInitiator() {
		return h.SPIi
	}
	return h.SPIr
}

// Tick runs timers: retransmissions, rekeys, expiries, liveness checks and
// initiation retries. Call it at NextDeadline (calling it more often is
// harmless). Only the SAs and peers whose timers are due are visited.
func (e *Engine) Tick(now time.Time) {
	e.flush()
	var sas []*ikeSA
	var peers []*peer
	for e.timers.len() > 0 && !e.timers.top().at.After(now) {
		t := e.timers.pop()
		e.work++
		if t.sa != nil {
			sas = append(sas, t.sa)
		} else {
			peers = append(peers, t.p)
		}
	}
	sort.Slice(sas, func(i, j int) bool { return sas[i].spiLocal() < sas[j].spiLocal() })
	for _, sa := range sas {
		before := sa.statusSig()
		sa.tick(now)
		e.retouch(sa, before)
	}
	// Peers whose timer is due, and peers the ticks left without an SA.
	for _, sa := range sas {
		if p := sa.peer; p != nil && p.sa == nil {
			peers = append(peers, p)
		}
	}
	for sa := range e.dirty {
		if p := sa.peer; p != nil && p.sa == nil {
			peers = append(peers, p)
		}
	}
	for p := range e.dirtyPeers {
		peers = append(peers, p)
	}
	sort.Slice(peers, func(i, j int) bool { return peers[i].cfg.Name < peers[j].cfg.Name })
	for i, p := range peers {
		if i > 0 && peers[i-1] == p {
			continue
		}
		e.touchPeer(p)
		if e.peers[p.cfg.Name] == p && p.sa == nil && e.shouldInitiate(p) && !now.Before(p.retryAt) {
			e.initiate(now, p)
		}
	}
	e.cookies.rotate(now, e.rand)
	e.flush()
}

func (e *Engine) shouldInitiate(p *peer) bool {
	return p.cfg.Remote.IsValid() && p.cfg.Mode != ModeResponderOnly && !p.cfg.OnDemand
}

// NextDeadline is when Tick must next be called; the zero Time means no
// timer is pending. It may be early (Tick then has nothing to do), never
// late.
func (e *Engine) NextDeadline() time.Time {
	e.flush()
	if e.timers.len() == 0 {
		return time.Time{}
	}
	return e.timers.top().at
}

// initiate starts an IKE SA with p as original initiator.
func (e *Engine) initiate(now time.Time, p *peer) {
	sa := e.newSA(p, true, now)
	p.sa = sa
	sa.local = netip.AddrPortFrom(p.cfg.Local, 500)
	if p.cfg.Port != 0 && p.cfg.Port != 500 {
		sa.local = netip.AddrPortFrom(p.cfg.Local, p.cfg.Port)
	}
	sa.remote = netip.AddrPortFrom(p.cfg.Remote, p.cfg.Port)
	e.log.Info("initiating IKE SA", "peer", p.cfg.Name, "remote", sa.remote, "spi", spiHex(sa.spiI))
	sa.startInit(now, p.cfg.IKEProposals[0].DH[0])
}

// maxRetryInitiate caps the initiation backoff: Azure "retries a failed
// negotiation every few seconds".
const maxRetryInitiate = 10 * time.Second

// failed records a failed negotiation for p and schedules a retry.
func (e *Engine) failed(now time.Time, p *peer, reason string) {
	if p == nil {
		return
	}
	p.lastError = reason
	if p.retryDelay == 0 {
		p.retryDelay = e.cfg.RetryInitiate
	} else {
		p.retryDelay = min(2*p.retryDelay, maxRetryInitiate)
	}
	p.retryAt = now.Add(e.backoff(p.retryDelay))
	e.touchPeer(p)
	e.host.Event(Event{Kind: EventFailure, Peer: p.cfg.Name, Time: now, Reason: reason})
}

// newSA creates an IKE SA with a fresh local SPI and registers it.
func (e *Engine) newSA(p *peer, initiator bool, now time.Time) *ikeSA {
	sa := &ikeSA{
		e:         e,
		initiator: initiator,
		created:   now,
	}
	sa.tm = timer{idx: -1, sa: sa}
	spi := e.newIKESPI()
	if initiator {
		sa.spiI = spi
	} else {
		sa.spiR = spi
	}
	e.sas[spi] = sa
	e.attach(sa, p)
	e.touch(sa)
	return sa
}

func (e *Engine) newIKESPI() uint64 {
	var b [8]byte
	for {
		if _, err := io.ReadFull(e.rand, b[:]); err != nil {
			panic("ike: random source failed: " + err.Error())
		}
		spi := binary.BigEndian.Uint64(b[:])
		if spi != 0 && e.sas[spi] == nil {
			return spi
		}
	}
}

// newChildSPI allocates an inbound ESP SPI (≥ 256, RFC 4303 §2.1).
func (e *Engine) newChildSPI() uint32 {
	var b [4]byte
	for {
		if _, err := io.ReadFull(e.rand, b[:]); err != nil {
			panic("ike: random source failed: " + err.Error())
		}
		spi := binary.BigEndian.Uint32(b[:])
		if spi >= 256 && e.children[spi] == nil {
			return spi
		}
	}
}

func (e *Engine) randBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(e.rand, b); err != nil {
		panic("ike: random source failed: " + err.Error())
	}
	return b
}

// peersFor lists the peers an IKE_SA_INIT from remote may belong to: those
// with that address, else those without a fixed address or that may be
// behind a NAT (matched by identity in IKE_AUTH).
func (e *Engine) peersFor(local netip.Addr, remote netip.Addr) []*peer {
	ok := func(p *peer) bool {
		e.work++
		return !(p.cfg.Local.IsValid() && local.IsValid() && p.cfg.Local != local)
	}
	var exact, loose []*peer
	for _, p := range e.byRemote[remote] {
		if ok(p) {
			exact = append(exact, p)
		}
	}
	if len(exact) > 0 {
		return exact
	}
	for _, p := range e.loose {
		if p.cfg.Remote != remote && ok(p) {
			loose = append(loose, p)
		}
	}
	return loose
}

func spiHex(v uint64) string { return fmt.Sprintf("%016x", v) }

// errDropped marks messages silently dropped (logged at debug).
var errDropped = errors.New("ike: message dropped")

// Rekey rekeys a peer's Child SAs (ikeSA false) or its IKE SA now, as an
// operator's request.
func (e *Engine) Rekey(now time.Time, name string, ikeSA bool) error {
	p, ok := e.peers[name]
	if !ok {
		return fmt.Errorf("ike: no peer %q", name)
	}
	sa := p.sa
	if sa == nil || sa.state != stEstablished {
		return fmt.Errorf("ike: peer %q has no established IKE SA", name)
	}
	defer e.flush()
	e.touchPeer(p)
	if ikeSA {
		sa.startIKERekey(now)
		return nil
	}
	for _, c := range sa.sortedChildren() {
		if c.state == chInstalled {
			sa.startChildRekey(now, c)
		}
	}
	return nil
}

// Terminate deletes a peer's IKE SAs (telling the peer) without removing
// the peer: in Default and InitiatorOnly modes it is negotiated again after
// the retry delay; in ResponderOnly mode, and for OnDemand peers, it waits
// for the peer or Initiate.
func (e *Engine) Terminate(now time.Time, name string) error {
	p, ok := e.peers[name]
	if !ok {
		return fmt.Errorf("ike: no peer %q", name)
	}
	for _, sa := range e.sasOf(p) {
		sa.deleteIKE(now, "terminated by operator")
	}
	e.touchPeer(p)
	e.flush()
	return nil
}
