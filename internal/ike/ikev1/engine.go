package ikev1

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/isakmp"
	"github.com/vpngw/vpngw/internal/transform"
)

// ErrAggressiveMode is the reason given when a peer starts Aggressive Mode:
// vpngw, like Azure, speaks Main Mode only.
var ErrAggressiveMode = errors.New("ikev1: Aggressive Mode refused (only Main Mode is supported)")

// Config tunes an Engine; zero values select the defaults.
type Config struct {
	// Rand is the randomness source (crypto/rand when nil).
	Rand io.Reader
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
	// sas are the phase 1 SAs by initiator cookie.
	sas map[uint64]*sa
	// closed is set by Close: nothing is initiated any more.
	closed bool
}

// peer is a configured connection with its state.
type peer struct {
	cfg ike.Peer
	// mm and qm are the Main Mode and Quick Mode suites we offer/accept;
	// qmInit the ones we offer as initiator.
	mm, qm, qmInit []mmSuite
	qms, qmsInit   []qmSuite
	mmLife, qmLife time.Duration
	// sa is the current (establishing or established) phase 1 SA.
	sa *sa
	// children are the installed Child SAs.
	children []*child
	// retryAt is when to initiate again after a failure (zero: now).
	retryAt time.Time
	lastErr string
}

// child is an installed Child SA pair.
type child struct {
	ike.ChildSA
	// rekeyAt and expireAt are its soft and hard deadlines; deleteAt,
	// when set, is the end of its grace period after a rekey.
	rekeyAt, expireAt, deleteAt time.Time
	// initiator: we ran the Quick Mode that created it (and rekey it).
	initiator bool
	rekeying  bool
}

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
	return &Engine{cfg: cfg, host: host, log: log, peers: map[string]*peer{}, sas: map[uint64]*sa{}}
}

// SetPeers replaces the configured peers. Removed peers are closed (their
// SAs deleted); new peers in Default or InitiatorOnly mode are initiated
// at the next Tick.
func (e *Engine) SetPeers(now time.Time, peers []ike.Peer) error {
	want := map[string]ike.Peer{}
	var order []string
	for _, p := range peers {
		if p.Name == "" || !p.Remote.IsValid() || len(p.PSK) == 0 {
			return fmt.Errorf("%w: peer %q: IKEv1 needs a name, a remote address and a pre-shared key", ike.ErrConfig, p.Name)
		}
		want[p.Name] = p
		order = append(order, p.Name)
	}
	for name, p := range e.peers {
		if _, ok := want[name]; !ok {
			e.closePeer(now, p, "peer removed")
			delete(e.peers, name)
		}
	}
	for _, name := range order {
		cfg := want[name]
		if p, ok := e.peers[name]; ok {
			p.cfg = withDefaults(cfg)
			p.setSuites()
			continue
		}
		p := &peer{cfg: withDefaults(cfg)}
		p.setSuites()
		e.peers[name] = p
	}
	e.order = order
	return nil
}

func withDefaults(p ike.Peer) ike.Peer {
	if len(p.LocalTS) == 0 {
		p.LocalTS = []netip.Prefix{netip.PrefixFrom(p.Local, p.Local.BitLen())}
	}
	if len(p.RemoteTS) == 0 {
		p.RemoteTS = []netip.Prefix{netip.PrefixFrom(p.Remote, p.Remote.BitLen())}
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

func orDefault(a, b []transform.Proposal) []transform.Proposal {
	if len(a) > 0 {
		return a
	}
	return b
}

func (e *Engine) initiates(p *peer) bool { return !e.closed && p.cfg.Mode != ike.ModeResponderOnly }

// Initiate starts Main Mode (then Quick Mode) with the named peer now,
// unless an SA is already being set up or established.
func (e *Engine) Initiate(now time.Time, name string) error {
	p := e.peers[name]
	if p == nil {
		return fmt.Errorf("ikev1: unknown peer %q", name)
	}
	if p.sa == nil {
		e.startMainMode(now, p)
	}
	return nil
}

// Established reports whether the named peer has an established phase 1
// SA and at least one Child SA.
func (e *Engine) Established(name string) bool {
	p := e.peers[name]
	return p != nil && p.sa != nil && p.sa.state == stEstablished && len(p.children) > 0
}

// Children returns the inbound SPIs of the named peer's Child SAs.
func (e *Engine) Children(name string) []uint32 {
	p := e.peers[name]
	if p == nil {
		return nil
	}
	var out []uint32
	for _, c := range p.children {
		out = append(out, c.InSPI)
	}
	return out
}

// LastError is the reason of the named peer's last failure.
func (e *Engine) LastError(name string) string {
	if p := e.peers[name]; p != nil {
		return p.lastErr
	}
	return ""
}

// Close deletes every SA (telling the peers) and forgets them.
func (e *Engine) Close(now time.Time) {
	e.closed = true
	for _, name := range e.order {
		e.closePeer(now, e.peers[name], "closed")
	}
}

// Terminate deletes the named peer's SAs; a Default-mode peer is
// initiated again after RetryInterval.
func (e *Engine) Terminate(now time.Time, name string) error {
	p := e.peers[name]
	if p == nil {
		return fmt.Errorf("ikev1: unknown peer %q", name)
	}
	e.closePeer(now, p, "terminated")
	p.retryAt = now.Add(e.cfg.RetryInterval)
	return nil
}

func (e *Engine) closePeer(now time.Time, p *peer, reason string) {
	s := p.sa
	if s != nil && s.state == stEstablished {
		var spis [][]byte
		for _, c := range p.children {
			spis = append(spis, be32(c.InSPI))
		}
		if len(spis) > 0 {
			e.sendInfo(now, s, &isakmp.Delete{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoESP, SPIs: spis})
		}
		e.sendInfo(now, s, &isakmp.Delete{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoISAKMP, SPIs: [][]byte{s.cookies()}})
	}
	for _, c := range p.children {
		e.host.DeleteChildSA(c.InSPI)
		e.host.Event(ike.Event{Kind: ike.EventChildDown, Peer: p.cfg.Name, Time: now, InSPI: c.InSPI, Reason: reason})
	}
	p.children = nil
	if s != nil {
		e.dropSA(now, s, reason)
	}
}

// dropSA forgets a phase 1 SA (not its Child SAs).
func (e *Engine) dropSA(now time.Time, s *sa, reason string) {
	delete(e.sas, s.ci)
	if s.p.sa == s {
		s.p.sa = nil
		if s.state == stEstablished {
			e.host.Event(ike.Event{Kind: ike.EventIKEDown, Peer: s.p.cfg.Name, Time: now, Reason: reason})
		}
	}
	s.state = stDead
}

// fail ends a negotiation with a reason in the peer's status and events.
func (e *Engine) fail(now time.Time, s *sa, reason string) {
	p := s.p
	p.lastErr = reason
	e.log.Warn("IKEv1 negotiation failed", "peer", p.cfg.Name, "reason", reason)
	e.host.Event(ike.Event{Kind: ike.EventFailure, Peer: p.cfg.Name, Time: now, Reason: reason})
	e.dropSA(now, s, reason)
	p.retryAt = now.Add(e.cfg.RetryInterval)
}

// HandlePacket processes one datagram (the non-ESP marker already removed
// on port 4500).
func (e *Engine) HandlePacket(now time.Time, pkt ike.Packet) {
	h, err := isakmp.ParseHeader(pkt.Data)
	if err != nil {
		e.log.Debug("IKEv1: dropped datagram", "from", pkt.Remote, "err", err)
		return
	}
	if h.Exchange == isakmp.ExchAggressive {
		e.log.Warn("IKEv1: refusing Aggressive Mode", "from", pkt.Remote, "err", ErrAggressiveMode)
		for _, p := range e.peersFor(pkt) {
			p.lastErr = ErrAggressiveMode.Error()
			e.host.Event(ike.Event{Kind: ike.EventFailure, Peer: p.cfg.Name, Time: now, Reason: p.lastErr})
		}
		return
	}
	s := e.sas[h.ICookie]
	if s == nil {
		if h.Exchange != isakmp.ExchMainMode || h.RCookie != 0 {
			e.log.Debug("IKEv1: no SA for message", "from", pkt.Remote, "exchange", h.Exchange)
			return
		}
		e.respondMainMode(now, pkt, h)
		return
	}
	if s.rc != 0 && h.RCookie != s.rc && !(s.initiator && s.state == stMM1) {
		return
	}
	if s.remote.Addr() != pkt.Remote.Addr() {
		return
	}
	switch h.Exchange {
	case isakmp.ExchMainMode:
		e.handleMainMode(now, s, pkt, h)
	case isakmp.ExchQuickMode:
		e.handleQuickMode(now, s, pkt, h)
	case isakmp.ExchInformational:
		e.handleInfo(now, s, pkt, h)
	}
}

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
func (e *Engine) NextDeadline() time.Time {
	var d time.Time
	at := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	for _, name := range e.order {
		p := e.peers[name]
		if p.sa == nil && e.initiates(p) {
			at(p.retryAt)
			if p.retryAt.IsZero() {
				return time.Unix(0, 1)
			}
		}
		for _, c := range p.children {
			if c.initiator && !c.rekeying {
				at(c.rekeyAt)
			}
			at(c.expireAt)
			at(c.deleteAt)
		}
	}
	for _, s := range e.sas {
		at(s.deadline())
	}
	return d
}

// Tick runs timers: retransmissions, initiation, rekeys, expiry, DPD.
func (e *Engine) Tick(now time.Time) {
	for _, s := range e.sortedSAs() {
		e.tickSA(now, s)
	}
	for _, name := range e.order {
		p := e.peers[name]
		if p.sa == nil && e.initiates(p) && !now.Before(p.retryAt) {
			e.startMainMode(now, p)
		}
		for _, c := range slices.Clone(p.children) {
			switch {
			case !c.deleteAt.IsZero() && !now.Before(c.deleteAt):
				e.removeChild(now, p, c, "rekeyed", true)
			case !now.Before(c.expireAt):
				e.removeChild(now, p, c, "lifetime expired", true)
			case c.initiator && !c.rekeying && c.deleteAt.IsZero() && !now.Before(c.rekeyAt):
				if p.sa != nil && p.sa.state == stEstablished {
					c.rekeying = true
					e.startQuickMode(now, p.sa, c.LocalTS[0], c.RemoteTS[0], c.InSPI)
				}
			}
		}
	}
}

// RekeyChild starts a Quick Mode rekey of the Child SA with inbound SPI
// inSPI (for tests and the data plane's byte limits).
func (e *Engine) RekeyChild(now time.Time, inSPI uint32) error {
	for _, name := range e.order {
		p := e.peers[name]
		for _, c := range p.children {
			if c.InSPI == inSPI && c.deleteAt.IsZero() {
				if p.sa == nil || p.sa.state != stEstablished {
					return fmt.Errorf("ikev1: peer %q has no phase 1 SA", name)
				}
				c.rekeying = true
				e.startQuickMode(now, p.sa, c.LocalTS[0], c.RemoteTS[0], c.InSPI)
				return nil
			}
		}
	}
	return fmt.Errorf("ikev1: no Child SA %08x", inSPI)
}

// removeChild uninstalls a Child SA, telling the peer when tell is set.
func (e *Engine) removeChild(now time.Time, p *peer, c *child, reason string, tell bool) {
	p.children = slices.DeleteFunc(p.children, func(x *child) bool { return x == c })
	if tell && p.sa != nil && p.sa.state == stEstablished {
		e.sendInfo(now, p.sa, &isakmp.Delete{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoESP, SPIs: [][]byte{be32(c.InSPI)}})
	}
	e.host.DeleteChildSA(c.InSPI)
	e.host.Event(ike.Event{Kind: ike.EventChildDown, Peer: p.cfg.Name, Time: now, InSPI: c.InSPI, Reason: reason})
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
			if p.sa != nil {
				for _, q := range p.sa.qms {
					dup = dup || q.spiIn == v
				}
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
