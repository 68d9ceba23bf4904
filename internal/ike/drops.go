package ike

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// DropReason says why the engine refused an IKE message it received. It
// indexes DropCounters.
//
// Refusals are counted, not logged one by one: anyone can send IKE_SA_INIT
// from any (spoofed) source, so a log line or a reply per message would let
// a flood fill the disk and turn the gateway into a reflector. The engine
// logs at most one line per reason per dropLogEvery, with the number of
// refusals it did not log.
type DropReason uint8

// Drop reasons. Their order is the order of DropCounters.
const (
	// DropMalformed: the header or the payloads did not parse, or an
	// IKE_SA_INIT request had a responder SPI or a message ID.
	DropMalformed DropReason = iota
	// DropUnknownPeer: IKE_SA_INIT from an address no peer accepts
	// (none configured there, or only InitiatorOnly ones). Not answered.
	DropUnknownPeer
	// DropUnknownSA: a message for an IKE SA we do not have.
	DropUnknownSA
	// DropInvalidSyntax: IKE_SA_INIT from a peer's address without SA, KE
	// or Nonce, or with an invalid DH public value (answered
	// INVALID_SYNTAX, rate-limited).
	DropInvalidSyntax
	// DropNoProposal: IKE_SA_INIT from a peer's address whose proposals
	// we accept none of (answered NO_PROPOSAL_CHOSEN, rate-limited).
	DropNoProposal
	// DropInvalidKE: IKE_SA_INIT from a peer's address with a KE payload
	// of another DH group than the one we select (answered
	// INVALID_KE_PAYLOAD; normal once per negotiation when the initiator
	// guessed another group).
	DropInvalidKE
	// DropCookie: IKE_SA_INIT without a valid cookie while too many IKE
	// SAs are half open (answered with a cookie, RFC 7296 §2.6).
	DropCookie
	// DropAggressiveMode: an IKEv1 Aggressive Mode message (package
	// ikev1 speaks Main Mode only, as Azure). Not answered.
	DropAggressiveMode
	// DropBadHash: an IKEv1 message on a known ISAKMP SA that did not
	// decrypt or whose HASH did not verify. Not answered.
	DropBadHash

	// NumDropReasons is the number of drop reasons.
	NumDropReasons
)

var dropNames = [NumDropReasons]string{
	DropMalformed:      "malformed",
	DropUnknownPeer:    "unknown_peer",
	DropUnknownSA:      "unknown_sa",
	DropInvalidSyntax:  "invalid_syntax",
	DropNoProposal:     "no_proposal",
	DropInvalidKE:      "invalid_ke",
	DropCookie:         "cookie_required",
	DropAggressiveMode: "aggressive_mode",
	DropBadHash:        "bad_hash",
}

// String is the reason's metric label.
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return "unknown"
}

// DropCounters counts refused messages by reason. The engine writes them;
// Load may be called from any goroutine.
type DropCounters struct {
	n [NumDropReasons]atomic.Uint64
}

// Load returns the count for one reason.
func (c *DropCounters) Load(r DropReason) uint64 {
	if r >= NumDropReasons {
		return 0
	}
	return c.n[r].Load()
}

// Drops returns the engine's drop counters (safe for concurrent reads).
func (e *Engine) Drops() *DropCounters { return &e.drops }

// dropLogEvery is how often the engine logs one refused message per
// reason.
const dropLogEvery = 10 * time.Second

// dropLevel is the level each reason is logged at (once per dropLogEvery).
var dropLevel = [NumDropReasons]slog.Level{
	DropMalformed:      slog.LevelDebug,
	DropUnknownPeer:    slog.LevelWarn,
	DropUnknownSA:      slog.LevelDebug,
	DropInvalidSyntax:  slog.LevelInfo,
	DropNoProposal:     slog.LevelWarn,
	DropInvalidKE:      slog.LevelInfo,
	DropCookie:         slog.LevelInfo,
	DropAggressiveMode: slog.LevelWarn,
	DropBadHash:        slog.LevelInfo,
}

// DropLog rate-limits the log lines of refused messages: one per reason
// per dropLogEvery (by the engine's clock). Each engine (this package's
// and package ikev1's) owns one next to its DropCounters; it is used from
// the engine's goroutine only.
type DropLog struct {
	last       [NumDropReasons]time.Time
	suppressed [NumDropReasons]uint64
}

// Count counts a refused message in c and reports whether to log it (and
// the events it causes); if so, it returns how many of this reason were
// not logged since the last line.
func (d *DropLog) Count(now time.Time, c *DropCounters, r DropReason) (log bool, suppressed uint64) {
	if r >= NumDropReasons {
		return false, 0
	}
	c.n[r].Add(1)
	if !d.last[r].IsZero() && now.Sub(d.last[r]) < dropLogEvery && !now.Before(d.last[r]) {
		d.suppressed[r]++
		return false, 0
	}
	d.last[r] = now
	suppressed, d.suppressed[r] = d.suppressed[r], 0
	return true, suppressed
}

// Log counts a refused message and logs it to log if its reason's line is
// due, with the number of refusals not logged since the last one; it
// reports whether it logged.
func (d *DropLog) Log(now time.Time, log *slog.Logger, c *DropCounters, r DropReason, msg string, args ...any) bool {
	ok, suppressed := d.Count(now, c, r)
	if ok {
		log.Log(context.Background(), dropLevel[r], msg, append(args, "reason", r.String(), "suppressed", suppressed)...)
	}
	return ok
}

// drop counts a refused message and reports whether to log it (see
// DropLog.Count).
func (e *Engine) drop(now time.Time, r DropReason) (log bool, suppressed uint64) {
	return e.dropLog.Count(now, &e.drops, r)
}

// logDrop counts a refused message and logs it if its reason's line is
// due, with the number of refusals not logged since the last one.
func (e *Engine) logDrop(now time.Time, r DropReason, msg string, args ...any) bool {
	return e.dropLog.Log(now, e.log, &e.drops, r, msg, args...)
}

// replyBucket is a token bucket for error replies to IKE_SA_INIT
// (INVALID_SYNTAX, NO_PROPOSAL_CHOSEN): a misconfigured peer learns why,
// a flood spoofing a peer's address is not reflected at its rate.
type replyBucket struct {
	tokens float64
	at     time.Time
}

// Error replies: replyRate per second on average, bursts of replyBurst.
const (
	replyRate  = 5
	replyBurst = 10
)

// take reports whether an error reply may be sent now.
func (b *replyBucket) take(now time.Time) bool {
	if b.at.IsZero() {
		b.tokens = replyBurst
	} else if dt := now.Sub(b.at); dt > 0 {
		b.tokens = min(replyBurst, b.tokens+dt.Seconds()*replyRate)
	}
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
