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
)

// Engine is the IKEv2 engine of one gateway instance. See the package doc.
type Engine struct {
	cfg  Config
	log  *slog.Logger
	host Host
	rand io.Reader

	peers map[string]*peer  // by name
	sas   map[uint64]*ikeSA // every live IKE SA, by our SPI
	// initResp remembers responder IKE SAs by the initiator's SPI and
	// address, to answer retransmitted IKE_SA_INIT requests.
	initResp map[initKey]*ikeSA
	// children indexes every Child SA by its inbound SPI (which we chose).
	children map[uint32]*childSA
	halfOpen int
	cookies  cookieJar
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
	retryAt    time.Time
	retryDelay time.Duration
	lastError  string
	// upSince is when the current IKE SA was established.
	upSince time.Time
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
		host:     host,
		rand:     r,
		peers:    map[string]*peer{},
		sas:      map[uint64]*ikeSA{},
		initResp: map[initKey]*ikeSA{},
		children: map[uint32]*childSA{},
	}
	e.cookies.init(r)
	return e
}

// SetPeers replaces the configured peers. Peers whose configuration did not
// change keep their SAs untouched; removed peers are deleted (the peer is
// told); changed peers are torn down and negotiated again. It returns an
// error, and changes nothing, if a configuration is invalid.
func (e *Engine) SetPeers(now time.Time, peers []Peer) error {
	want := make(map[string]Peer, len(peers))
	for _, p := range peers {
		p = p.withDefaults()
		if err := p.Validate(); err != nil {
			return err
		}
		if _, dup := want[p.Name]; dup {
			return fmt.Errorf("%w: duplicate peer name %q", ErrConfig, p.Name)
		}
		want[p.Name] = p
	}
	for name, p := range e.peers {
		cfg, ok := want[name]
		if ok && peerEqual(p.cfg, cfg) {
			continue
		}
		e.log.Info("peer removed or changed: deleting its SAs", "peer", name)
		for _, sa := range e.sasOf(p) {
			sa.deleteIKE(now, "configuration changed")
		}
		delete(e.peers, name)
	}
	for name, cfg := range want {
		if _, ok := e.peers[name]; ok {
			continue
		}
		e.peers[name] = &peer{cfg: cfg}
		e.log.Info("peer configured", "peer", name, "remote", cfg.Remote, "mode", cfg.Mode)
	}
	e.Tick(now)
	return nil
}

// Peers returns the names of the configured peers, sorted.
func (e *Engine) Peers() []string {
	out := make([]string, 0, len(e.peers))
	for n := range e.peers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// sasOf lists the live IKE SAs of a peer.
func (e *Engine) sasOf(p *peer) []*ikeSA {
	var out []*ikeSA
	for _, sa := range e.sas {
		if sa.peer == p {
			out = append(out, sa)
		}
	}
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
	if p.sa == nil {
		e.initiate(now, p)
	}
	return nil
}

// Close deletes every IKE SA, telling the peers (best effort: the Delete
// requests are sent once and not retransmitted), and removes the Child SAs.
func (e *Engine) Close(now time.Time) {
	for _, sa := range e.sortedSAs() {
		sa.deleteIKE(now, "shutting down")
	}
	for _, sa := range e.sortedSAs() {
		sa.destroy(now, "shutting down")
	}
}

func (e *Engine) sortedSAs() []*ikeSA {
	out := make([]*ikeSA, 0, len(e.sas))
	for _, sa := range e.sas {
		out = append(out, sa)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].spiLocal() < out[j].spiLocal() })
	return out
}

// HandlePacket processes one received IKE datagram.
func (e *Engine) HandlePacket(now time.Time, pkt Packet) {
	h, err := message.ParseHeader(pkt.Data)
	if err != nil {
		e.log.Debug("dropping malformed IKE datagram", "from", pkt.Remote, "err", err)
		return
	}
	if h.Exchange == message.IKESAInit && !h.IsResponse() {
		if h.SPIr == 0 && h.MessageID == 0 {
			e.handleInitRequest(now, pkt, h)
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
		e.log.Debug("IKE message for unknown SA", "from", pkt.Remote, "exchange", h.Exchange, "spii", spiHex(h.SPIi), "spir", spiHex(h.SPIr))
		return
	}
	sa.handle(now, pkt, h)
}

func peerSPIOf(h message.Header) uint64 {
	if h.IsInitiator() {
		return h.SPIi
	}
	return h.SPIr
}

// Tick runs timers: retransmissions, rekeys, expiries, liveness checks and
// initiation retries. Call it at NextDeadline (calling it more often is
// harmless).
func (e *Engine) Tick(now time.Time) {
	for _, sa := range e.sortedSAs() {
		sa.tick(now)
	}
	for _, name := range e.Peers() {
		p := e.peers[name]
		if p.sa == nil && e.shouldInitiate(p) && !now.Before(p.retryAt) {
			e.initiate(now, p)
		}
	}
	e.cookies.rotate(now, e.rand)
}

func (e *Engine) shouldInitiate(p *peer) bool {
	return p.cfg.Remote.IsValid() && p.cfg.Mode != ModeResponderOnly
}

// NextDeadline is when Tick must next be called; the zero Time means no
// timer is pending.
func (e *Engine) NextDeadline() time.Time {
	var d time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	for _, sa := range e.sas {
		earlier(sa.deadline())
	}
	for _, p := range e.peers {
		if p.sa == nil && e.shouldInitiate(p) {
			earlier(p.retryAt)
			if p.retryAt.IsZero() {
				earlier(time.Unix(1, 0)) // initiate at once
			}
		}
	}
	return d
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
	p.retryAt = now.Add(p.retryDelay)
	e.host.Event(Event{Kind: EventFailure, Peer: p.cfg.Name, Time: now, Reason: reason})
}

// newSA creates an IKE SA with a fresh local SPI and registers it.
func (e *Engine) newSA(p *peer, initiator bool, now time.Time) *ikeSA {
	sa := &ikeSA{
		e:         e,
		peer:      p,
		initiator: initiator,
		created:   now,
		children:  map[uint32]*childSA{},
		reasm:     message.NewReassembler(0, 0),
	}
	spi := e.newIKESPI()
	if initiator {
		sa.spiI = spi
	} else {
		sa.spiR = spi
	}
	e.sas[spi] = sa
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
	var exact, loose []*peer
	for _, name := range e.Peers() {
		p := e.peers[name]
		if p.cfg.Mode == ModeInitiatorOnly {
			continue
		}
		if p.cfg.Local.IsValid() && local.IsValid() && p.cfg.Local != local {
			continue
		}
		if p.cfg.Remote == remote {
			exact = append(exact, p)
		} else if !p.cfg.Remote.IsValid() || !p.cfg.RemoteID.IsZero() {
			loose = append(loose, p)
		}
	}
	if len(exact) > 0 {
		return exact
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
// the retry delay; in ResponderOnly mode it waits for the peer or Initiate.
func (e *Engine) Terminate(now time.Time, name string) error {
	p, ok := e.peers[name]
	if !ok {
		return fmt.Errorf("ike: no peer %q", name)
	}
	for _, sa := range e.sasOf(p) {
		sa.deleteIKE(now, "terminated by operator")
	}
	return nil
}
