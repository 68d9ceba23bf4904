package eaptls

import (
	"crypto/rand"
	"fmt"
	"io"
	"sync"
	"time"
)

// Ticket key rotation defaults.
const (
	// DefaultTicketPeriod is how long a session ticket key encrypts new
	// tickets before the next one takes over.
	DefaultTicketPeriod = time.Hour
	// DefaultTicketKeep is how many keys decrypt tickets (the current one
	// and its predecessors): a ticket resumes for at most DefaultTicketKeep
	// periods after it was issued.
	DefaultTicketKeep = 4
)

// TicketKeys are one gateway's session ticket keys, shared by all its
// EAP-TLS exchanges so that a client reconnecting to the same gateway can
// resume (TLS 1.2 session tickets, RFC 5077; TLS 1.3 PSK tickets, RFC
// 8446 §4.6.1). Keys come from the random source, rotate every period,
// and live only in memory: they are never logged or stored, so a restart
// ends every session's resumption. Safe for concurrent use.
type TicketKeys struct {
	rand   io.Reader
	period time.Duration
	keep   int

	// mu guards keys, born and the counters.
	mu   sync.Mutex
	keys [][32]byte // newest first
	born time.Time  // when keys[0] was made
	// full and resumed count successful exchanges.
	full, resumed uint64
}

// NewTicketKeys returns an empty key set drawing keys from r (nil:
// crypto/rand), rotating every period and keeping keep keys (0: the
// defaults).
func NewTicketKeys(r io.Reader, period time.Duration, keep int) *TicketKeys {
	if r == nil {
		r = rand.Reader
	}
	if period <= 0 {
		period = DefaultTicketPeriod
	}
	if keep <= 0 {
		keep = DefaultTicketKeep
	}
	return &TicketKeys{rand: r, period: period, keep: keep}
}

// current returns the keys in use at now (the encrypting key first),
// making a new one when the newest is a period old.
func (k *TicketKeys) current(now time.Time) ([][32]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.keys) == 0 || now.Sub(k.born) >= k.period || now.Before(k.born) {
		var key [32]byte
		if _, err := io.ReadFull(k.rand, key[:]); err != nil {
			return nil, fmt.Errorf("eaptls: session ticket key: %w", err)
		}
		k.keys = append([][32]byte{key}, k.keys...)
		k.keys = k.keys[:min(len(k.keys), k.keep)]
		k.born = now
	}
	return append([][32]byte(nil), k.keys...), nil
}

// count records a successful exchange.
func (k *TicketKeys) count(resumed bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if resumed {
		k.resumed++
	} else {
		k.full++
	}
}

// Counts returns how many exchanges using these keys succeeded with a
// full handshake and how many resumed a session.
func (k *TicketKeys) Counts() (full, resumed uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.full, k.resumed
}
