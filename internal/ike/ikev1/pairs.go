package ikev1

// Selector pairs, on-demand initiation and make-before-break
// re-authentication: what a peer's Child SAs should be, and how they move
// from one phase 1 SA to the next.
//
// A Quick Mode carries one pair of selectors (IDci, IDcr), so a peer with
// several prefixes gets one Child SA per (LocalTS × RemoteTS) pair, each
// installed with that narrow pair. Pairs are "wanted" from SetPeers for
// peers the engine initiates on its own, and from Initiate/InitiatePair
// for OnDemand (and ResponderOnly) peers. settle, run after every event
// and at Tick, negotiates wanted pairs that have no Child SA, on the
// current phase 1 SA; when we established that SA as Main Mode responder
// it first leaves the peer RetryInterval to propose them itself.
//
// Re-authentication: at 90 % of the ISAKMP SA's lifetime the side that
// initiated it (95 % for the other side) runs a new Main Mode while the
// old SA and its Child SAs carry on. Once the new SA is established it
// becomes current: the side that ran it rekeys every Child SA of the old
// SA over it (Quick Modes with the same selectors, each old SA kept for
// RekeyGrace), and deletes the old ISAKMP SA when no Child SA of it
// remains. No INITIAL-CONTACT is sent then, so the peer keeps its SAs.

import (
	"net/netip"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/message"
)

// pair is one (local, remote) prefix pair of a peer's selectors.
type pair struct {
	local, remote netip.Prefix
	// want: negotiate a Child SA for the pair whenever it has none.
	want bool
	// retryAt: not before then (after a failure, or the Main Mode
	// responder's wait for the peer's own Quick Modes).
	retryAt time.Time
}

// setPairs computes p's pairs from its selectors, keeping the state of
// pairs that stay; new pairs are wanted when auto is set.
func (p *peer) setPairs(auto bool) {
	var out []*pair
	for _, l := range p.cfg.LocalTS {
		for _, r := range p.cfg.RemoteTS {
			pr := p.pair(l.Masked(), r.Masked())
			if pr == nil {
				pr = &pair{local: l.Masked(), remote: r.Masked()}
			}
			pr.want = pr.want || auto
			out = append(out, pr)
		}
	}
	p.pairs = out
}

// pair returns p's pair (local, remote), or nil.
func (p *peer) pair(local, remote netip.Prefix) *pair {
	for _, pr := range p.pairs {
		if pr.local == local && pr.remote == remote {
			return pr
		}
	}
	return nil
}

// covers reports whether Child SA selectors lie within the pair.
func (pr *pair) covers(local, remote []message.TrafficSelector) bool {
	return len(local) == 1 && len(remote) == 1 &&
		within(local[0], []netip.Prefix{pr.local}) && within(remote[0], []netip.Prefix{pr.remote})
}

// pairOf returns the pair whose prefixes contain c's selectors, or nil.
func (p *peer) pairOf(local, remote []message.TrafficSelector) *pair {
	for _, pr := range p.pairs {
		if pr.covers(local, remote) {
			return pr
		}
	}
	return nil
}

// missing reports whether pr has neither a Child SA nor a Quick Mode in
// progress (either side's).
func (e *Engine) missing(p *peer, pr *pair) bool {
	for _, c := range p.children {
		if pr.covers(c.LocalTS, c.RemoteTS) {
			return false
		}
	}
	for _, s := range e.sasOf(p) {
		for _, q := range s.qms {
			if pr.covers([]message.TrafficSelector{q.local}, []message.TrafficSelector{q.remote}) {
				return false
			}
		}
	}
	return true
}

// duePairs lists the pairs settle would negotiate at or after their
// retryAt; ok is false when there are none (or no established SA).
func (e *Engine) duePairs(p *peer) []*pair {
	if e.closed || p.sa == nil || p.sa.state != stEstablished {
		return nil
	}
	var out []*pair
	for _, pr := range p.pairs {
		if pr.want && e.missing(p, pr) {
			out = append(out, pr)
		}
	}
	return out
}

// pairsDeadline is the earliest retryAt of the due pairs (the zero Time:
// now); ok is false when none is due.
func (e *Engine) pairsDeadline(p *peer) (d time.Time, ok bool) {
	for _, pr := range e.duePairs(p) {
		if !ok || pr.retryAt.Before(d) {
			d, ok = pr.retryAt, true
		}
	}
	return d, ok
}

// maxQuickModes bounds the Quick Modes we run at once on one phase 1 SA.
// strongSwan keeps the CBC IVs of only three phase 2 exchanges per IKE SA
// (MAX_IV in its keymat_v1.c) and cannot decrypt the HASH(3) of an older
// one; the rest wait their turn (settle starts them as others finish).
// One, not two: our HASH(3) ends a Quick Mode for us, but the peer's
// worker threads may process it after the next exchanges' first messages
// (seen with strongSwan: with two at a time the HASH(3) of a Quick Mode
// met three newer exchanges and failed to decrypt). With one, that takes
// a HASH(3) delayed by two whole round trips. Setting up n pairs takes n
// round trips.
const maxQuickModes = 1

// room is how many more Quick Modes we may start on p's current SA.
func (e *Engine) room(p *peer) int {
	s := p.sa
	if e.closed || s == nil || s.state != stEstablished {
		return 0
	}
	n := maxQuickModes
	for _, q := range s.qms {
		if q.initiator {
			n--
		}
	}
	return n
}

// settle brings p towards its configuration: due rekeys first, then Quick
// Modes for wanted pairs without a Child SA (at most maxQuickModes at a
// time), and the deletion of replaced phase 1 SAs whose Child SAs are
// gone.
func (e *Engine) settle(now time.Time, p *peer) {
	room := e.room(p)
	for _, c := range p.children {
		if room > 0 && e.rekeyable(p, c) && !now.Before(c.rekeyAt) {
			e.rekey(now, p, c)
			room--
		}
	}
	for _, pr := range e.duePairs(p) {
		if room > 0 && !now.Before(pr.retryAt) {
			e.startQuickMode(now, p.sa, ike.PrefixTS(pr.local), ike.PrefixTS(pr.remote), 0)
			room--
		}
	}
	cur := p.sa
	if cur == nil || cur.state != stEstablished || !cur.initiator {
		return // the side that re-authenticated cleans up
	}
	for _, s := range e.sasOf(p) {
		if s == cur || s == p.reauth || s.state != stEstablished || len(s.qms) > 0 || !s.established.Before(cur.established) ||
			!s.retireAt.IsZero() {
			continue
		}
		used := false
		for _, c := range p.children {
			used = used || c.on == s
		}
		if !used {
			e.log.Info("IKEv1: deleting the replaced ISAKMP SA", "peer", p.cfg.Name)
			e.deleteSA(now, s, "re-authenticated")
		}
	}
}

// pairLost notes that c went away without a replacement: an OnDemand
// peer does not negotiate its pair again until asked; others retry after
// RetryInterval.
func (e *Engine) pairLost(now time.Time, p *peer, c *child) {
	pr := p.pairOf(c.LocalTS, c.RemoteTS)
	if pr == nil {
		return
	}
	if p.cfg.OnDemand {
		pr.want = false
		return
	}
	pr.retryAt = now.Add(e.cfg.RetryInterval)
}

// mayReauth reports whether s is the current SA of a peer we keep up by
// re-authenticating before it expires.
func (e *Engine) mayReauth(s *sa) bool {
	p := s.p
	return !e.closed && p.sa == s && p.reauth == nil && s.state == stEstablished && p.cfg.Mode != ike.ModeResponderOnly
}

// startReauth runs a new Main Mode with p while its current SA carries on.
func (e *Engine) startReauth(now time.Time, p *peer) {
	e.log.Info("IKEv1: re-authenticating (new Main Mode, make-before-break)", "peer", p.cfg.Name)
	p.reauth = e.startMainMode(now, p)
}

// reauthenticated makes s, just established, p's current SA; if we ran
// the Main Mode, the Child SAs of the SAs it replaces are rekeyed over it.
func (e *Engine) reauthenticated(now time.Time, s *sa) {
	p := s.p
	old := p.sa
	if p.reauth == s {
		p.reauth = nil
	}
	p.sa = s
	if old != nil && old != s && old.state != stEstablished {
		e.dropSA(now, old, "replaced by a new Main Mode")
	}
	if !s.initiator {
		return
	}
	for _, c := range p.children {
		if c.on != s && c.deleteAt.IsZero() {
			c.move = true
			c.rekeyAt = now
		}
	}
}
