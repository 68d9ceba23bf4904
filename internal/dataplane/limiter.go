package dataplane

import (
	"sync"
	"time"
)

// Limiter caps a gateway's aggregate outbound throughput (the SKU's
// bandwidth). The TUN reader calls Allow once per inner packet, on the
// packet path, before encryption: it must be fast and must not block.
// Refused packets are dropped and counted (TunnelStats.DropRateLimit); TCP
// reacts to the loss like to any bottleneck.
type Limiter interface {
	// Allow reports whether n more bytes for tunnel tunnelID may be sent now.
	Allow(tunnelID string, n int) bool
}

// TokenBucket is a Limiter with one bucket shared by all tunnels: rate bytes
// per second, bursts up to burst bytes. It is fair across tunnels only in the
// statistical sense (each packet competes for the same tokens), which is
// what a single bottleneck link gives too.
type TokenBucket struct {
	mu     sync.Mutex
	rate   float64 // bytes per second
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

// NewTokenBucket returns a bucket that allows bitsPerSecond on average with
// bursts of burstBytes (at least 64 KiB, so that one TSO super-packet's
// segments pass together).
func NewTokenBucket(bitsPerSecond float64, burstBytes int) *TokenBucket {
	burst := float64(max(burstBytes, 64<<10))
	return &TokenBucket{rate: bitsPerSecond / 8, burst: burst, tokens: burst, now: time.Now}
}

// Allow implements Limiter.
func (b *TokenBucket) Allow(_ string, n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < float64(n) {
		return false
	}
	b.tokens -= float64(n)
	return true
}

// FairShare is a Limiter that caps the aggregate at a rate and shares it
// fairly among the tunnels that are sending: when they all want more than
// their share, each gets rate/N (N = tunnels that sent in the last
// activeWindow); capacity a tunnel leaves unused can be borrowed by the
// others, so the cap stays work-conserving. Azure's SKUs document exactly
// this: "all tunnels share the gateway's aggregate throughput".
//
// It holds one global bucket (rate, burst) and one bucket per active
// tunnel (refilled at rate/N). A packet passes if the global bucket has the
// tokens and either its tunnel's bucket has them too, or the global bucket
// would still hold what the other active tunnels are entitled to send in
// the next 10 ms (borrowing takes nothing from a tunnel that wants its
// share).
type FairShare struct {
	mu      sync.Mutex
	rate    float64 // bytes per second
	burst   float64
	tokens  float64
	last    time.Time
	now     func() time.Time
	tunnels map[string]*fairTunnel
	// active is the number of active tunnels, recounted at most every
	// millisecond (at countedAt) so that a packet does not walk the map.
	active    int
	countedAt time.Time
}

type fairTunnel struct {
	tokens float64
	last   time.Time // last refill
	seen   time.Time // last packet
}

// activeWindow is how recently a tunnel must have sent to count as active.
const activeWindow = 100 * time.Millisecond

// NewFairShare returns a FairShare limiter for bitsPerSecond with bursts of
// burstBytes, at least 256 KiB and 20 ms at the rate: TCP segmentation
// offload hands the TUN reader bursts of up to 64 KiB per flow, and a
// policer much tighter than that makes TCP collapse far below the rate.
func NewFairShare(bitsPerSecond float64, burstBytes int) *FairShare {
	rate := bitsPerSecond / 8
	burst := max(float64(burstBytes), 256<<10, rate*0.020)
	return &FairShare{rate: rate, burst: burst, tokens: burst, now: time.Now, tunnels: map[string]*fairTunnel{}}
}

// Allow implements Limiter.
func (f *FairShare) Allow(tunnelID string, n int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if !f.last.IsZero() {
		f.tokens = min(f.burst, f.tokens+now.Sub(f.last).Seconds()*f.rate)
	}
	f.last = now
	t := f.tunnels[tunnelID]
	if t == nil {
		t = &fairTunnel{last: now}
		f.tunnels[tunnelID] = t
	}
	t.seen = now
	if now.Sub(f.countedAt) > time.Millisecond || f.active == 0 {
		f.active = 0
		for id, o := range f.tunnels {
			switch {
			case now.Sub(o.seen) <= activeWindow:
				f.active++
			case now.Sub(o.seen) > 10*time.Second:
				delete(f.tunnels, id)
			}
		}
		f.countedAt = now
	}
	share := f.rate / float64(f.active)
	t.tokens = min(f.burst, t.tokens+now.Sub(t.last).Seconds()*share)
	t.last = now
	need := float64(n)
	if f.tokens < need {
		return false
	}
	switch {
	case t.tokens >= need:
		t.tokens -= need
	case f.tokens-need >= f.reserved(t, share, now):
		// Borrow capacity the other tunnels are not using: what remains
		// still covers what they are entitled to send in the next 10 ms.
	default:
		return false
	}
	f.tokens -= need
	return true
}

// reserved is what the active tunnels other than t may send within the next
// 10 ms at their share: kept back from borrowers. Walked only when t has
// used up its own share.
func (f *FairShare) reserved(t *fairTunnel, share float64, now time.Time) float64 {
	r := 0.0
	for _, o := range f.tunnels {
		if o != t && now.Sub(o.seen) <= activeWindow {
			r += min(o.tokens, share*0.010)
		}
	}
	return r
}
