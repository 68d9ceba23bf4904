package transform

import (
	"context"
	"io"
	"sync"
	"time"
)

// KeyPool keeps a few fresh Diffie-Hellman key pairs of the MODP groups
// drawn ahead of time, so that a key exchange does not wait for g^x (0.3–1
// ms with MODP-2048 on a shared vCPU) on its critical path: an IKEv1
// responder answers MM3 and an initiator sends MM3 or IKE_SA_INIT with a
// ready key.
//
// Each pooled key is handed out once and never again: a pooled key is a
// fresh key drawn a little earlier, not a reused one (RFC 7296 §2.12 would
// allow reuse; we do not need it). The elliptic-curve groups are not
// pooled unless Fill asked for them: their key pairs cost tens of
// microseconds, less than the wake-up of Run that a pooled Get causes
// (measured: docs/benchmarks.md, time to first ping, fifth pass).
//
// A group is pooled once Get has asked for it. Run refills the pool on a
// goroutine of its own, one key at a time, only after Quiet has passed
// with no Get: the refill never competes for a core with the exchanges
// that emptied the pool, and under a steady stream of exchanges (more than
// one per Quiet) the pool stays empty and Get draws keys inline as if there
// were no pool. Its CPU is bounded by Size keys per group per quiet spell.
//
// Get and Run may be called concurrently; a nil *KeyPool draws every key
// inline.
type KeyPool struct {
	rand  io.Reader
	size  int
	quiet time.Duration
	kick  chan struct{} // capacity 1: a Get happened

	mu sync.Mutex // guards the fields below
	// keys are the ready key pairs by group; a group is present once Get
	// asked for it.
	keys    map[ID][]DH
	lastGet time.Time
	// drawn counts keys Get handed out from the pool, missed those it
	// drew inline for a pooled group (tests and the log).
	drawn, missed uint64
}

// Pool defaults.
const (
	DefaultKeyPoolSize  = 4
	DefaultKeyPoolQuiet = 20 * time.Millisecond
)

// NewKeyPool returns an empty pool of at most size keys per group (0:
// DefaultKeyPoolSize) that refills after quiet without a Get (0:
// DefaultKeyPoolQuiet). rand supplies the private keys; nil means
// crypto/rand.
func NewKeyPool(size int, quiet time.Duration, rand io.Reader) *KeyPool {
	if size <= 0 {
		size = DefaultKeyPoolSize
	}
	if quiet <= 0 {
		quiet = DefaultKeyPoolQuiet
	}
	return &KeyPool{rand: rand, size: size, quiet: quiet, kick: make(chan struct{}, 1), keys: map[ID][]DH{}}
}

// pooled reports whether keys of group are worth drawing ahead.
func pooled(group ID) bool {
	_, ok := modpGroups[group]
	return ok
}

// Get returns a fresh key pair of group: a pooled one if there is one,
// else one drawn now with rand (the pool's own source when p is not nil).
func (p *KeyPool) Get(group ID, rand io.Reader) (DH, error) {
	if p == nil {
		return NewDH(group, rand)
	}
	p.mu.Lock()
	ks, filled := p.keys[group]
	if !filled && !pooled(group) {
		p.mu.Unlock()
		return NewDH(group, rand)
	}
	var k DH
	if n := len(ks); n > 0 {
		k, ks[n-1] = ks[n-1], nil
		ks = ks[:n-1]
		p.drawn++
	} else {
		p.missed++
	}
	p.keys[group] = ks
	p.lastGet = time.Now()
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
	if k != nil {
		return k, nil
	}
	return NewDH(group, p.rand)
}

// Fill draws key pairs of group now, until the pool holds its size, and
// from then on pools group like the MODP groups (Run refills it), even an
// elliptic-curve group: for a caller that draws its keys ahead itself, as
// a client does before it starts a timer.
func (p *KeyPool) Fill(group ID) error {
	for {
		p.mu.Lock()
		n := len(p.keys[group])
		if n >= p.size {
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock()
		k, err := NewDH(group, p.rand)
		if err != nil {
			return err
		}
		p.mu.Lock()
		if len(p.keys[group]) < p.size {
			p.keys[group] = append(p.keys[group], k)
		}
		p.mu.Unlock()
	}
}

// Stats returns how many keys Get took from the pool and how many it drew
// inline for a pooled group.
func (p *KeyPool) Stats() (drawn, missed uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.drawn, p.missed
}

// Ready returns the number of pooled keys of group.
func (p *KeyPool) Ready(group ID) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.keys[group])
}

// Run refills the pool until ctx ends; see KeyPool.
func (p *KeyPool) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		}
		for {
			group, wait, ok := p.next()
			if !ok {
				break
			}
			if wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
				continue
			}
			k, err := NewDH(group, p.rand)
			if err != nil {
				break // Get draws inline and reports the error
			}
			p.mu.Lock()
			if len(p.keys[group]) < p.size {
				p.keys[group] = append(p.keys[group], k)
			}
			p.mu.Unlock()
		}
	}
}

// next returns a group below its size and how long to wait before drawing
// for it (the rest of the quiet spell); ok is false when every group is
// full.
func (p *KeyPool) next() (group ID, wait time.Duration, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for g, ks := range p.keys {
		if len(ks) < p.size {
			return g, p.quiet - time.Since(p.lastGet), true
		}
	}
	return 0, 0, false
}
