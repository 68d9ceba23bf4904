package ikev1

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/isakmp"
	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

// ErrAggressiveMode is the reason given when a peer starts Aggressive Mode:
// vpngw, like Azure, speaks Main Mode only.
var ErrAggressiveMode = errors.New("ikev1: Aggressive Mode refused (only Main Mode is supported)")

// Config tunes an Engine; zero values select the defaults.
type Config struct {
	// Rand is the randomness source (crypto/rand when nil).
	Rand io.Reader
	// Keys, if set, supplies the DH key pairs of the MODP groups drawn
	// ahead of time (Rand is then not used for them); nil draws each
	// when it is needed.
	Keys *transform.KeyPool
	// RetransmitTimeout is the first retransmission delay (default 1 s),
	// doubled each time, for Retries tries (default 5).
	RetransmitTimeout time.Duration
	Retries           int
	// RekeyGrace is how long the old Child SA stays installed after a
	// Quick Mode rekey (default 5 s), so packets in flight are not lost.
	RekeyGrace time.Duration
	// RetryInterval is the delay before initiating again after a failure
	// (default 10 s).
	RetryInterval time.Duration
}

// Engine is the IKEv1 engine of one gateway instance. It is not safe for
// concurrent use; see the package comment.
type Engine struct {
	cfg  Config
	host ike.Host
	log  *slog.Logger
	// peers by name, and their names in configuration order.
	peers map[string]*peer
	order []string
	// sas are the phase 1 SAs by initiator cookie: every peer's current,
	// re-authenticating and replaced SAs.
	sas map[uint64]*sa
	// closed is set by Close: nothing is initiated any more.
	closed bool
	// drops counts refused messages by reason (read concurrently through
	// Drops); dropLog rate-limits their log lines.
	drops   ike.DropCounters
	dropLog ike.DropLog
	// changed are the peers touched since the last Changed.
	changed map[string]struct{}
	// narrow, set by tests only, gives the selectors (ours, the peer's)
	// a Quick Mode responder answers and installs instead of echoing the
	// proposal: it stands in for strongSwan's narrowing.
	narrow func(local, remote message.TrafficSelector) (message.TrafficSelector, message.TrafficSelector)
}

// peer is a configured connection with its state.
type peer struct {
	cfg ike.Peer
	// mm and qm are the Main Mode and Quick Mode suites we offer/accept;
	// qmInit the ones we offer as initiator.
	mm, qm, qmInit []mmSuite
	qms, qmsInit   []qmSuite
	mmLife, qmLife time.Duration
	// sa is the current phase 1 SA (establishing or established): new
	// Quick Modes run on it. Replaced SAs stay in Engine.sas until their
	// Child SAs are moved (make-before-break re-authentication).
	sa *sa
	// reauth is the Main Mode re-authenticating sa, while it runs.
	reauth *sa
	// pairs are the selector pairs we negotiate Child SAs for; see pairs.go.
	pairs []*pair
	// children are the installed Child SAs.
	children []*child
	// retryAt is when to initiate again after a failure (zero: now).
	retryAt time.Time
	lastErr string
	// upSince is when the current phase 1 SA was established.
	upSince time.Time
}

// child is an installed Child SA pair.
type child struct {
	ike.ChildSA
	// on is the phase 1 SA whose Quick Mode created it.
	on *sa
	// rekeyAt and expireAt are its soft and hard deadlines; deleteAt,
	// when set, is the end of its grace period after a rekey.
	rekeyAt, expireAt, deleteAt time.Time
	// initiator: we ran the Quick Mode that created it (and rekey it).
	initiator bool
	rekeying  bool
	// move: rekey it at rekeyAt although the peer created it, because it
	// lives on a phase 1 SA we replaced (re-authentication), reached its
	// byte lifetime (SoftLimit) or an operator asked (Rekey, RekeyChild).
	move bool
	// activateAt, when set, is when the outbound SA of a rekey we
	// initiated takes over from the one it replaces (see
	// outboundDelay); until then the old SA carries our traffic.
	activateAt time.Time
}

// outboundDelay is how long after our HASH(3) the outbound SA of a Quick
// Mode rekey we initiated waits before it carries traffic. The responder
// installs the new SA only when HASH(3) arrives (strongSwan does, RFC 2409
// leaves it open), so a packet sent on it at once can overtake HASH(3) and
// be dropped as of an unknown SPI; the old SA is valid on both sides until
// its Delete, RekeyGrace later. A fifth of RekeyGrace (1 s by default)
// leaves the responder time to process HASH(3) on a loaded host.
func (e *Engine) outboundDelay() time.Duration { return e.cfg.RekeyGrace / 5 }

// New returns an Engine that calls host; log may be nil.
func New(cfg Config, host ike.Host, log *slog.Logger) *Engine {
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.RetransmitTimeout == 0 {
		cfg.RetransmitTimeout = time.Second
	}
	if cfg.Retries == 0 {
		cfg.Retries = 5
	}
	if cfg.RekeyGrace == 0 {
		cfg.RekeyGrace = 5 * time.Second
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 10 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{cfg: cfg, host: host, log: log, peers: map[string]*peer{}, sas: map[uint64]*sa{}, changed: map[string]struct{}{}}
}

// SetPeers replaces the configured peers. Peers whose configuration did
// not change keep their SAs; removed and changed peers are closed (their
// SAs deleted, the peer told); new and changed peers in Default or
// InitiatorOnly mode that are not OnDemand are initiated at the next Tick.
// It returns an error wrapping ike.ErrConfig, and changes nothing, if a
// configuration is invalid.
func (e *Engine) SetPeers(now time.Time, peers []ike.Peer) error {
	want := map[string]ike.Peer{}
	var order []string
	for _, p := range peers {
		if p.Name == "" || !p.Remote.IsValid() || len(p.PSK) == 0 {
			return fmt.Errorf("%w: peer %q: IKEv1 needs a name, a remote address and a pre-shared key", ike.ErrConfig, p.Name)
		}
		if _, dup := want[p.Name]; dup {
			return fmt.Errorf("%w: duplicate peer name %q", ike.ErrConfig, p.Name)
		}
		p = withDefaults(p)
		if n := len(p.LocalTS) * len(p.RemoteTS); n > transform.AzureMaxSelectorPairs {
			return fmt.Errorf("%w: peer %q: %d local × %d remote prefixes make %d Child SAs; at most %d subnet SA pairs are allowed per connection",
				ike.ErrConfig, p.Name, len(p.LocalTS), len(p.RemoteTS), n, transform.AzureMaxSelectorPairs)
		}
		want[p.Name] = p
		order = append(order, p.Name)
	}
	for name, p := range e.peers {
		if _, ok := want[name]; !ok {
			e.closePeer(now, p, "peer removed")
			delete(e.peers, name)
			e.touch(p)
		}
	}
	for _, name := range order {
		cfg := want[name]
		p, ok := e.peers[name]
		if ok && reflect.DeepEqual(p.cfg, cfg) {
			continue
		}
		if ok {
			e.log.Info("IKEv1: peer changed: deleting its SAs", "peer", name)
			e.closePeer(now, p, "configuration changed")
		}
		p = &peer{}
		e.peers[name] = p
		p.cfg = cfg
		p.setSuites()
		p.setPairs(e.autoInitiates(p))
		e.touch(p)
	}
	e.order = order
	return nil
}

// withDefaults fills what IKEv1 needs: without selectors a peer protects
// 0.0.0.0/0 on both sides (route-based, as package ike).
func withDefaults(p ike.Peer) ike.Peer {
	any4 := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if len(p.LocalTS) == 0 {
		p.LocalTS = []netip.Prefix{any4}
	}
	if len(p.RemoteTS) == 0 {
		p.RemoteTS = []netip.Prefix{any4}
	}
	if p.Port == 0 {
		p.Port = 500
	}
	return p
}

// setSuites computes the offers: the peer's custom proposals, or Azure's
// IKEv1 defaults for its gateway type (reference §3.1).
func (p *peer) setSuites() {
	mmProps := p.cfg.IKEProposals
	if len(mmProps) == 0 {
		mmProps = transform.AzureV1MainModeProposals(p.cfg.PolicyBased)
	}
	p.mm = mmSuites(mmProps)
	p.qms = qmSuites(orDefault(p.cfg.ESPProposals, transform.AzureV1QuickModeProposals(p.cfg.PolicyBased, false)))
	p.qmsInit = qmSuites(orDefault(p.cfg.ESPProposals, transform.AzureV1QuickModeProposals(p.cfg.PolicyBased, true)))
	if len(p.cfg.ESPProposals) == 0 && !p.cfg.PolicyBased {
		// Accept the responder list plus modern suites as the IKEv2 engine does.
		p.qms = append(p.qms, qmSuites(transform.ModernESPProposals())...)
	}
	p.mmLife = p.cfg.IKELifetime
	if p.mmLife == 0 {
		p.mmLife = transform.AzureV1MainModeLifetime
	}
	p.qmLife = p.cfg.ChildLifetime
	if p.qmLife == 0 {
		p.qmLife = transform.AzureV1QuickModeLifetimeRouteBased
		if p.cfg.PolicyBased {
			p.qmLife = transform.AzureV1QuickModeLifetimePolicyBased
		}
	}
}

// lifeKB is the Child SA byte lifetime we offer, in kilobytes.
func (p *peer) lifeKB() uint64 {
	if p.cfg.ChildLifeBytes != 0 {
		return max(p.cfg.ChildLifeBytes/1024, 1)
	}
	return transform.AzureV1QuickModeLifeKB
}

func orDefault(a, b []transform.Proposal) []transform.Proposal {
	if len(a) > 0 {
		return a
	}
	return b
}

// autoInitiates reports whether the engine starts Main Mode with p on its
// own (at SetPeers, after failures and Deletes).
func (e *Engine) autoInitiates(p *peer) bool {
	return !e.closed && p.cfg.Mode != ike.ModeResponderOnly && !p.cfg.OnDemand
}

// Initiate starts Main Mode (then one Quick Mode per selector pair) with
// the named peer now, unless an SA is already being set up; with an
// established SA it negotiates the pairs that have no Child SA. It works
// in every mode (an explicit request) and is how OnDemand peers come up.
func (e *Engine) Initiate(now time.Time, name string) error {
	p := e.peers[name]
	if p == nil {
		return fmt.Errorf("ikev1: unknown peer %q", name)
	}
	for _, pr := range p.pairs {
		pr.want, pr.retryAt = true, time.Time{}
	}
	e.initiate(now, p)
	return nil
}

// InitiatePair is Initiate for one selector pair: local and remote must be
// one of the peer's LocalTS and one of its RemoteTS prefixes. Main Mode
// is started if needed; only that pair's Quick Mode is wanted (the others
// of an OnDemand peer stay down until asked for).
func (e *Engine) InitiatePair(now time.Time, name string, local, remote netip.Prefix) error {
	p := e.peers[name]
	if p == nil {
		return fmt.Errorf("ikev1: unknown peer %q", name)
	}
	pr := p.pair(local.Masked(), remote.Masked())
	if pr == nil {
		return fmt.Errorf("%w: peer %q has no selector pair %v === %v (local %v, remote %v)", ike.ErrConfig, name, local, remote, p.cfg.LocalTS, p.cfg.RemoteTS)
	}
	pr.want, pr.retryAt = true, time.Time{}
	e.initiate(now, p)
	return nil
}

func (e *Engine) initiate(now time.Time, p *peer) {
	p.retryAt = time.Time{}
	switch {
	case p.sa == nil:
		p.sa = e.startMainMode(now, p)
	case p.sa.state == stEstablished:
		e.settle(now, p)
	}
	e.touch(p)
}

// Close deletes every SA (telling the peers) and forgets them.
func (e *Engine) Close(now time.Time) {
	e.closed = true
	for _, name := range e.order {
		e.closePeer(now, e.peers[name], "closed")
	}
}

// Terminate deletes the named peer's SAs, telling the peer (a Delete for
// the Child SAs, then for each ISAKMP SA). A Default or InitiatorOnly
// peer is initiated again after RetryInterval; ResponderOnly and OnDemand
// peers wait for the peer or Initiate.
func (e *Engine) Terminate(now time.Time, name string) error {
	p := e.peers[name]
	if p == nil {
		return fmt.Errorf("ikev1: unknown peer %q", name)
	}
	e.closePeer(now, p, "terminated")
	p.retryAt = now.Add(e.cfg.RetryInterval)
	if p.cfg.OnDemand {
		for _, pr := range p.pairs {
			pr.want = false
		}
	}
	return nil
}

// closePeer deletes all of p's Child SAs and phase 1 SAs, telling the
// peer over each established SA.
func (e *Engine) closePeer(now time.Time, p *peer, reason string) {
	for _, c := range slices.Clone(p.children) {
		e.removeChild(now, p, c, reason, true)
	}
	for _, s := range e.sasOf(p) {
		e.deleteSA(now, s, reason)
	}
	e.touch(p)
}

// deleteSA tells the peer (if s is established) and forgets s.
func (e *Engine) deleteSA(now time.Time, s *sa, reason string) {
	if s.state == stEstablished {
		e.sendInfo(now, s, &isakmp.Delete{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoISAKMP, SPIs: [][]byte{s.cookies()}})
	}
	e.dropSA(now, s, reason)
}

// sasOf lists p's phase 1 SAs, by cookie.
func (e *Engine) sasOf(p *peer) []*sa {
	var out []*sa
	for _, s := range e.sortedSAs() {
		if s.p == p {
			out = append(out, s)
		}
	}
	return out
}

// dropSA forgets a phase 1 SA (not its Child SAs).
func (e *Engine) dropSA(now time.Time, s *sa, reason string) {
	delete(e.sas, s.ci)
	for _, mid := range slices.Sorted(maps.Keys(s.qms)) {
		if q := s.qms[mid]; q.child != nil {
			e.host.DeleteChildSA(q.child.InSPI) // installed inbound, never confirmed
		}
	}
	clear(s.qms)
	p := s.p
	if p.reauth == s {
		p.reauth = nil
	}
	if p.sa == s {
		p.sa = nil
		if s.state == stEstablished {
			p.lastErr = reason // why the connection went down, until it is up again
			e.event(ike.Event{Kind: ike.EventIKEDown, Peer: p.cfg.Name, Time: now, Reason: reason})
		}
	}
	s.state = stDead
	e.touch(p)
}

// fail ends a negotiation with a reason in the peer's status and events.
func (e *Engine) fail(now time.Time, s *sa, reason string) {
	p := s.p
	p.lastErr = reason
	e.log.Warn("IKEv1 negotiation failed", "peer", p.cfg.Name, "reason", reason)
	e.event(ike.Event{Kind: ike.EventFailure, Peer: p.cfg.Name, Time: now, Reason: reason})
	reauth := p.reauth == s
	e.dropSA(now, s, reason)
	if reauth && p.sa != nil {
		p.sa.reauthAt = now.Add(e.cfg.RetryInterval) // the current SA carries on
		return
	}
	p.retryAt = now.Add(e.cfg.RetryInterval)
}

// event reports e to the host and marks its peer changed.
func (e *Engine) event(ev ike.Event) {
	e.changed[ev.Peer] = struct{}{}
	e.host.Event(ev)
}

// touch marks p changed (for Changed).
func (e *Engine) touch(p *peer) { e.changed[p.cfg.Name] = struct{}{} }

// HandlePacket processes one datagram (the non-ESP marker already removed
// on port 4500). What it refuses is counted in Drops and logged at most
// once per reason every few seconds.
func (e *Engine) HandlePacket(now time.Time, pkt ike.Packet) {
	h, err := isakmp.ParseHeader(pkt.Data)
	if err != nil {
		e.dropLog.Log(now, e.log, &e.drops, ike.DropMalformed, "IKEv1: dropped datagram", "from", pkt.Remote, "err", err)
		return
	}
	if h.Exchange == isakmp.ExchAggressive {
		if !e.dropLog.Log(now, e.log, &e.drops, ike.DropAggressiveMode, "IKEv1: refusing Aggressive Mode", "from", pkt.Remote, "err", ErrAggressiveMode) {
			return
		}
		for _, p := range e.peersFor(pkt) {
			p.lastErr = ErrAggressiveMode.Error()
			e.event(ike.Event{Kind: ike.EventFailure, Peer: p.cfg.Name, Time: now, Reason: p.lastErr})
		}
		return
	}
	s := e.sas[h.ICookie]
	if s == nil {
		if h.Exchange != isakmp.ExchMainMode || h.RCookie != 0 {
			e.dropLog.Log(now, e.log, &e.drops, ike.DropUnknownSA, "IKEv1: no SA for message", "from", pkt.Remote, "exchange", h.Exchange)
			return
		}
		e.respondMainMode(now, pkt, h)
		return
	}
	if h.RCookie == 0 && h.Exchange == isakmp.ExchMainMode && !s.initiator && s.remote.Addr() == pkt.Remote.Addr() &&
		bytes.Equal(pkt.Data, s.x.lastIn) {
		// A retransmitted MM1 (its responder cookie is still zero): the
		// peer did not get our MM2. Send it again; without this the
		// exchange stalls until the peer gives up (strongSwan's
		// re-authentication from port 4500 once lost 10 s this way).
		e.send(s, s.x.data)
		return
	}
	if s.rc != 0 && h.RCookie != s.rc && !(s.initiator && s.state == stMM1) {
		e.dropLog.Log(now, e.log, &e.drops, ike.DropUnknownSA, "IKEv1: responder cookie mismatch", "from", pkt.Remote, "exchange", h.Exchange)
		return
	}
	if s.remote.Addr() != pkt.Remote.Addr() {
		e.dropLog.Log(now, e.log, &e.drops, ike.DropUnknownSA, "IKEv1: message for an SA of another address", "from", pkt.Remote, "exchange", h.Exchange)
		return
	}
	switch h.Exchange {
	case isakmp.ExchMainMode:
		e.handleMainMode(now, s, pkt, h)
	case isakmp.ExchQuickMode:
		e.handleQuickMode(now, s, pkt, h)
	case isakmp.ExchInformational:
		e.handleInfo(now, s, pkt, h)
	default:
		e.dropLog.Log(now, e.log, &e.drops, ike.DropMalformed, "IKEv1: unsupported exchange", "from", pkt.Remote, "exchange", h.Exchange)
	}
}

// badHash counts (and now and then logs) a protected message that did not
// decrypt or authenticate.
func (e *Engine) badHash(now time.Time, s *sa, what string, err error) {
	args := []any{"peer", s.p.cfg.Name, "what", what}
	if err != nil {
		args = append(args, "err", err)
	}
	e.dropLog.Log(now, e.log, &e.drops, ike.DropBadHash, "IKEv1: message does not decrypt or authenticate", args...)
}

// Drops returns the engine's counters of refused messages, with the
// reasons of package ike (safe for concurrent reads).
func (e *Engine) Drops() *ike.DropCounters { return &e.drops }

func (e *Engine) peersFor(pkt ike.Packet) []*peer {
	var out []*peer
	for _, name := range e.order {
		p := e.peers[name]
		if p.cfg.Remote == pkt.Remote.Addr() && (!p.cfg.Local.IsValid() || p.cfg.Local == pkt.Local.Addr()) {
			out = append(out, p)
		}
	}
	return out
}

// NextDeadline is when Tick must next be called (zero: nothing pending).
// It may be early, never late.
func (e *Engine) NextDeadline() time.Time {
	var d time.Time
	at := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	for _, name := range e.order {
		p := e.peers[name]
		if p.sa == nil && e.autoInitiates(p) {
			if p.retryAt.IsZero() {
				return time.Unix(0, 1)
			}
			at(p.retryAt)
		}
		if t, ok := e.pairsDeadline(p); ok && e.room(p) > 0 {
			if t.IsZero() {
				return time.Unix(0, 1)
			}
			at(t)
		}
		room := e.room(p) > 0
		for _, c := range p.children {
			if room && e.rekeyable(p, c) {
				at(c.rekeyAt)
			}
			at(c.expireAt)
			at(c.deleteAt)
			at(c.activateAt)
		}
	}
	for _, s := range e.sas {
		at(s.deadline())
		at(s.retireAt)
		if s.state == stEstablished {
			at(s.expireAt)
			if e.mayReauth(s) {
				at(s.reauthAt)
			}
		}
	}
	return d
}

// rekeyable reports whether Tick rekeys c at its rekeyAt.
func (e *Engine) rekeyable(p *peer, c *child) bool {
	return (c.initiator || c.move) && !c.rekeying && c.deleteAt.IsZero() && p.sa != nil && p.sa.state == stEstablished
}

// Tick runs timers: retransmissions, initiation, re-authentication,
// rekeys, expiry, DPD.
func (e *Engine) Tick(now time.Time) {
	for _, s := range e.sortedSAs() {
		if !s.retireAt.IsZero() && !now.Before(s.retireAt) {
			s.retireAt = time.Time{} // settle may delete it now
		}
		if s.state != stDead {
			e.tickSA(now, s)
		}
	}
	for _, name := range e.order {
		p := e.peers[name]
		if p.sa == nil && e.autoInitiates(p) && !now.Before(p.retryAt) {
			p.sa = e.startMainMode(now, p)
		}
		for _, c := range slices.Clone(p.children) {
			if !c.activateAt.IsZero() && !now.Before(c.activateAt) {
				e.activate(c)
			}
			switch {
			case !c.deleteAt.IsZero() && !now.Before(c.deleteAt):
				e.removeChild(now, p, c, "rekeyed", true)
			case !now.Before(c.expireAt):
				e.removeChild(now, p, c, "lifetime expired", true)
				e.pairLost(now, p, c)
			}
		}
		e.settle(now, p) // rekeys and new pairs
	}
}

// rekey starts a Quick Mode rekey of c on p's current phase 1 SA.
func (e *Engine) rekey(now time.Time, p *peer, c *child) {
	c.rekeying = true
	e.startQuickMode(now, p.sa, c.LocalTS[0], c.RemoteTS[0], c.InSPI)
}

// rekeyNow makes c due for a rekey now; settle starts it as soon as fewer
// than maxQuickModes of ours are in flight.
func (e *Engine) rekeyNow(now time.Time, c *child) {
	if !c.initiator {
		c.move = true
	}
	c.rekeyAt = now
}

// RekeyChild starts a Quick Mode rekey of the Child SA with inbound SPI
// inSPI now (for tests and operators).
func (e *Engine) RekeyChild(now time.Time, inSPI uint32) error {
	p, c := e.childByIn(inSPI)
	if c == nil || !c.deleteAt.IsZero() {
		return fmt.Errorf("ikev1: no Child SA %08x", inSPI)
	}
	if p.sa == nil || p.sa.state != stEstablished {
		return fmt.Errorf("ikev1: peer %q has no phase 1 SA", p.cfg.Name)
	}
	if !c.rekeying {
		e.rekeyNow(now, c)
		e.settle(now, p)
	}
	return nil
}

// Rekey is the operator's rekey, as ike.Engine.Rekey: with ikeSA set it
// re-authenticates the phase 1 SA (a new Main Mode, make-before-break);
// otherwise it rekeys every Child SA of the peer.
func (e *Engine) Rekey(now time.Time, name string, ikeSA bool) error {
	p := e.peers[name]
	if p == nil {
		return fmt.Errorf("ikev1: unknown peer %q", name)
	}
	if p.sa == nil || p.sa.state != stEstablished {
		return fmt.Errorf("ikev1: peer %q has no established phase 1 SA", name)
	}
	if ikeSA {
		if p.reauth == nil {
			e.startReauth(now, p)
		}
		return nil
	}
	for _, c := range p.children {
		if c.deleteAt.IsZero() && !c.rekeying {
			e.rekeyNow(now, c)
		}
	}
	e.settle(now, p)
	return nil
}

// softRekeyDelay is how long we leave the peer to rekey a Child SA it
// created when the data plane reports its byte lifetime (both sides
// count the same bytes; the creator goes first, as with time).
const softRekeyDelay = 5 * time.Second

// SoftLimit tells the engine that the Child SA with inbound SPI inSPI
// reached its soft byte lifetime (or sequence number limit) in the data
// plane: it is rekeyed now if we created it, else after a short delay
// unless the peer rekeys it first. It mirrors ike.Engine.SoftLimit.
func (e *Engine) SoftLimit(now time.Time, inSPI uint32) {
	p, c := e.childByIn(inSPI)
	if c == nil || !c.deleteAt.IsZero() || c.rekeying {
		return
	}
	if !c.initiator {
		c.move = true
		c.rekeyAt = minTime(c.rekeyAt, now.Add(softRekeyDelay))
		return
	}
	e.rekeyNow(now, c)
	e.settle(now, p)
}

// HardLimit tells the engine a Child SA reached its hard byte lifetime in
// the data plane: it is deleted (the peer is told). It mirrors
// ike.Engine.HardLimit.
func (e *Engine) HardLimit(now time.Time, inSPI uint32) {
	p, c := e.childByIn(inSPI)
	if c == nil {
		return
	}
	e.removeChild(now, p, c, "byte lifetime reached", true)
	e.pairLost(now, p, c)
	e.settle(now, p)
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func (e *Engine) childByIn(inSPI uint32) (*peer, *child) {
	for _, name := range e.order {
		p := e.peers[name]
		for _, c := range p.children {
			if c.InSPI == inSPI {
				return p, c
			}
		}
	}
	return nil, nil
}

// removeChild uninstalls a Child SA, telling the peer when tell is set
// (over the phase 1 SA that created it if it still lives, else the
// current one).
func (e *Engine) removeChild(now time.Time, p *peer, c *child, reason string, tell bool) {
	p.children = slices.DeleteFunc(p.children, func(x *child) bool { return x == c })
	for _, x := range p.children {
		if x.Replaces == c.InSPI && !x.activateAt.IsZero() {
			e.activate(x) // its predecessor is gone: no reason to wait
		}
	}
	if tell {
		via := c.on
		if via == nil || via.state != stEstablished {
			via = p.sa
		}
		if via != nil && via.state == stEstablished {
			e.sendInfo(now, via, &isakmp.Delete{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoESP, SPIs: [][]byte{be32(c.InSPI)}})
			if via != p.sa {
				via.retireAt = now.Add(retireDelay)
			}
		}
	}
	e.host.DeleteChildSA(c.InSPI)
	e.event(ike.Event{Kind: ike.EventChildDown, Peer: p.cfg.Name, Time: now, InSPI: c.InSPI, Reason: reason})
}

func (e *Engine) sortedSAs() []*sa {
	out := make([]*sa, 0, len(e.sas))
	for _, s := range e.sas {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *sa) int {
		if a.ci < b.ci {
			return -1
		}
		return 1
	})
	return out
}

func (e *Engine) randBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(e.cfg.Rand, b); err != nil {
		panic("ikev1: randomness source failed: " + err.Error())
	}
	return b
}

func (e *Engine) randUint64() uint64 {
	for {
		if v := binary.BigEndian.Uint64(e.randBytes(8)); v != 0 && e.sas[v] == nil {
			return v
		}
	}
}

func (e *Engine) newSPI() uint32 {
	for {
		v := binary.BigEndian.Uint32(e.randBytes(4))
		if v < 256 {
			continue // reserved (RFC 4303 §2.1)
		}
		dup := false
		for _, p := range e.peers {
			for _, c := range p.children {
				dup = dup || c.InSPI == v
			}
		}
		for _, s := range e.sas {
			for _, q := range s.qms {
				dup = dup || q.spiIn == v
			}
		}
		if !dup {
			return v
		}
	}
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// xmit is the last message of an exchange with its retransmission state.
type xmit struct {
	data []byte
	// lastIn is the request this message answers (responders resend data
	// when it comes again); waiting is set while we expect an answer.
	lastIn  []byte
	waiting bool
	next    time.Time
	tries   int
}

func (x *xmit) deadline() time.Time {
	if x == nil || !x.waiting {
		return time.Time{}
	}
	return x.next
}

// blockOf returns the phase 1 cipher of s.
func (s *sa) block() cipher.Block { return s.blk }

// activate makes the outbound SA of c, a rekey we initiated, carry the
// traffic of its selectors (see outboundDelay).
func (e *Engine) activate(c *child) {
	c.activateAt = time.Time{}
	e.host.ActivateOutbound(c.InSPI)
}
