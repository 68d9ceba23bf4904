package agent

import (
	"sync"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/message"
)

// lazyHold is how long a peer's IKEv2 INFORMATIONAL request may wait for
// the loop: its liveness checks (an empty INFORMATIONAL, one per tunnel
// every 24–30 s: ~370 a second at 10,000 point-to-site clients) and
// Deletes. Nothing waits on their answers but the peer's retransmission
// timer (seconds), so the loop takes them in one go once per hold instead
// of waking for each as it arrives: one wake-up of the loop and one
// sendmmsg per hold for all of them, instead of a wake-up, a hand-off
// between threads and a system call per check. Everything else (setups,
// rekeys, responses to our requests) goes to the loop at once.
const lazyHold = 50 * time.Millisecond

// lazyMax bounds the datagrams held; beyond it they are dropped as when
// ikeIn is full (the peer retransmits).
const lazyMax = 4096

// lazyQueue holds the peers' INFORMATIONAL requests between the data
// plane's receive goroutines (put) and the loop (take, after lazyHold).
// With window size 1 (RFC 7296 §2.3) a peer sends nothing else on an IKE
// SA until its request is answered, so holding a request reorders nothing
// within an SA.
type lazyQueue struct {
	mu    sync.Mutex
	q     []ike.Packet
	spare []ike.Packet // the previous take's slice, reused
	// kick (capacity 1) tells the loop that the queue became non-empty.
	kick chan struct{}
	// due is when the loop takes the queue (zero: not armed); loop-owned.
	due time.Time
}

func newLazyQueue() *lazyQueue { return &lazyQueue{kick: make(chan struct{}, 1)} }

// isLazyIKE reports whether an IKE datagram may wait lazyHold: an IKEv2
// INFORMATIONAL request (liveness check, Delete). IKEv1 and everything
// else may not.
func isLazyIKE(b []byte) bool {
	if len(b) < message.HeaderLen {
		return false
	}
	version, exchange, flags := b[17], message.ExchangeType(b[18]), b[19]
	return version>>4 == 2 && exchange == message.Informational && flags&message.FlagResponse == 0
}

// put queues p; it reports false if the queue is full.
func (l *lazyQueue) put(p ike.Packet) bool {
	l.mu.Lock()
	if len(l.q) >= lazyMax {
		l.mu.Unlock()
		return false
	}
	l.q = append(l.q, p)
	first := len(l.q) == 1
	l.mu.Unlock()
	if first {
		select {
		case l.kick <- struct{}{}:
		default: // a kick is pending: the loop will take this one with it
		}
	}
	return true
}

// arm starts the hold when the loop is kicked (an armed hold keeps its
// time).
func (l *lazyQueue) arm(now time.Time) {
	if l.due.IsZero() {
		l.due = now.Add(lazyHold)
	}
}

// take returns the held datagrams if the hold is over (nil otherwise) and
// disarms it. The slice is valid until the next take.
func (l *lazyQueue) take(now time.Time) []ike.Packet {
	if l.due.IsZero() || now.Before(l.due) {
		return nil
	}
	l.due = time.Time{}
	l.mu.Lock()
	out := l.q
	l.q = l.spare[:0]
	l.mu.Unlock()
	l.spare = out
	return out
}
