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
