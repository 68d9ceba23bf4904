package ike

import (
	"net/netip"
	"time"
)

// Timers and per-event work
//
// The engine keeps one timer per live IKE SA (the earliest of its
// retransmission, lifetime, rekey, liveness and Child SA deadlines) and one
// per peer waiting to (re)initiate, in a binary heap ordered by due time.
// Tick pops only what is due and NextDeadline reads the top: the cost of
// time passing does not grow with the number of tunnels.
//
// A timer may be early, never late: every exported method that can move a
// deadline earlier touches the SAs and peers it worked on, and before
// returning the engine recomputes just those timers (flush). Deadlines that
// only move later (PeerAlive) are left alone: the early timer fires, finds
// nothing to do and is rescheduled.
//
// The same touched set records which peers' status may have changed, for
// Changed. A packet or timer that left everything PeerStatus shows as it
// was (a liveness check sent or answered: most events of idle tunnels) only
// retimes its SA (statusSig, retouch), so idle tunnels cost no status
// rebuilds.

// timer is one IKE SA's or one peer's next deadline, queued in
// Engine.timers.
type timer struct {
	at  time.Time
	idx int // position in Engine.timers; -1 when not queued
	sa  *ikeSA
	p   *peer
}

// timerHeap is a binary min-heap of timers by due time. Each entry carries
// its due time inline, as nanoseconds from the heap's epoch (monotonic
// where both times have a monotonic reading, as time.Time.Before
// compares): sifting an entry through a heap of 10,000 SAs (every answered
// liveness check moves its SA's deadline later) compares keys in
// contiguous memory and reads no timer, and the sift is plain code, not
// container/heap's interface calls.
type timerHeap struct {
	epoch time.Time // when the first timer was queued (time.Now: a monotonic reading)
	h     []heapEntry
}

type heapEntry struct {
	key int64 // t.at, in nanoseconds from epoch
	t   *timer
}

func (q *timerHeap) len() int { return len(q.h) }

// top returns the earliest timer; the heap must not be empty.
func (q *timerHeap) top() *timer { return q.h[0].t }

func (q *timerHeap) key(at time.Time) int64 {
	if q.epoch.IsZero() {
		q.epoch = time.Now()
	}
	return int64(at.Sub(q.epoch))
}

// set queues t at at, or moves it there if queued.
func (q *timerHeap) set(t *timer, at time.Time) {
	k := q.key(at)
	t.at = at
	if i := t.idx; i >= 0 {
		old := q.h[i].key
		q.h[i].key = k
		switch {
		case k > old:
			q.down(i)
		case k < old:
			q.up(i)
		}
		return
	}
	t.idx = len(q.h)
	q.h = append(q.h, heapEntry{k, t})
	q.up(t.idx)
}

// pop removes and returns the earliest timer; the heap must not be empty.
func (q *timerHeap) pop() *timer {
	t := q.h[0].t
	q.remove(0)
	return t
}

// remove unqueues the timer at position i.
func (q *timerHeap) remove(i int) {
	last := len(q.h) - 1
	t := q.h[i].t
	if i != last {
		q.swap(i, last)
	}
	q.h[last] = heapEntry{}
	q.h = q.h[:last]
	t.idx = -1
	if i != last {
		if !q.down(i) {
			q.up(i)
		}
	}
}

func (q *timerHeap) swap(i, j int) {
	h := q.h
	h[i], h[j] = h[j], h[i]
	h[i].t.idx, h[j].t.idx = i, j
}

func (q *timerHeap) up(j int) {
	h := q.h
	for j > 0 {
		i := (j - 1) / 2 // parent
		if h[i].key <= h[j].key {
			break
		}
		q.swap(i, j)
		j = i
	}
}

// down sifts the entry at i0 toward the leaves; it reports whether it
// moved.
func (q *timerHeap) down(i0 int) bool {
	h, n := q.h, len(q.h)
	i := i0
	for {
		j := 2*i + 1
		if j >= n || j < 0 {
			break
		}
		if r := j + 1; r < n && h[r].key < h[j].key {
			j = r
		}
		if h[j].key >= h[i].key {
			break
		}
		q.swap(i, j)
		i = j
	}
	return i > i0
}

// schedule (re)queues t at at; the zero Time unqueues it.
func (e *Engine) schedule(t *timer, at time.Time) {
	if at.IsZero() {
		e.unschedule(t)
		return
	}
	e.timers.set(t, at)
}

func (e *Engine) unschedule(t *timer) {
	if t.idx >= 0 {
		e.timers.remove(t.idx)
	}
}

// retime marks an IKE SA for a deadline recomputation only: nothing its
// peer's status shows changed (a liveness check sent or answered).
func (e *Engine) retime(sa *ikeSA) { e.retimed[sa] = struct{}{} }

// statusSig summarises what PeerStatus shows of an IKE SA and its peer, so
// that handling a packet or a timer that changed none of it (liveness
// checks: with thousands of idle tunnels, most of the events) does not
// make the peer's status be rebuilt.
type statusSig struct {
	state             saState
	remote            netip.AddrPort
	rekeyAt           time.Time
	peerSA            *ikeSA
	lastError         string
	upSince           time.Time
	nChildren         int
	children, rekeyNs uint64 // the Child SAs' states, SPIs and rekey times, mixed
}

func (sa *ikeSA) statusSig() statusSig {
	s := statusSig{state: sa.state, remote: sa.remote, rekeyAt: sa.rekeyAt, nChildren: len(sa.children)}
	if p := sa.peer; p != nil {
		s.peerSA, s.lastError, s.upSince = p.sa, p.lastError, p.upSince
	}
	for _, c := range sa.children {
		// Order-independent: a sum of per-Child SA mixes.
		v := uint64(c.inSPI)<<32 | uint64(c.outSPI)
		v ^= uint64(c.state)<<8 | uint64(c.pair)&0xff
		if c.outActive {
			v ^= 1 << 63
		}
		s.children += v * 0x9e3779b97f4a7c15
		s.rekeyNs += uint64(c.rekeyAt.UnixNano())
	}
	return s
}

// retouch touches sa if its status signature moved from before, else only
// retimes it.
func (e *Engine) retouch(sa *ikeSA, before statusSig) {
	if sa.statusSig() != before {
		e.touch(sa)
		return
	}
	e.retime(sa)
}

// touch marks an IKE SA (and at flush, every SA of its peer) for a
// deadline recomputation and its peer as changed.
func (e *Engine) touch(sa *ikeSA) { e.dirty[sa] = struct{}{} }

// touchPeer marks a peer and all its IKE SAs.
func (e *Engine) touchPeer(p *peer) { e.dirtyPeers[p] = struct{}{} }

// flush recomputes the timers of what was touched since the last flush.
func (e *Engine) flush() {
	for sa := range e.dirty {
		if sa.peer != nil {
			e.dirtyPeers[sa.peer] = struct{}{}
		}
	}
	for p := range e.dirtyPeers {
		for _, o := range p.sas {
			e.dirty[o] = struct{}{}
		}
		e.changed[p.cfg.Name] = struct{}{}
		e.work++
		if e.peers[p.cfg.Name] == p && p.sa == nil && e.shouldInitiate(p) {
			at := p.retryAt
			if at.IsZero() {
				at = time.Unix(1, 0) // initiate at once
			}
			e.schedule(&p.tm, at)
		} else {
			e.unschedule(&p.tm)
		}
	}
	for sa := range e.retimed {
		e.dirty[sa] = struct{}{}
	}
	for sa := range e.dirty {
		e.work++
		if sa.state == stDead {
			e.unschedule(&sa.tm)
			continue
		}
		e.schedule(&sa.tm, sa.deadline())
	}
	e.dirty = emptied(e.dirty)
	e.retimed = emptied(e.retimed)
	e.dirtyPeers = emptied(e.dirtyPeers)
}

// emptied returns m emptied. A map keeps its table when cleared and
// iterating it costs as much as its largest size, so a set that once held
// every SA (configuration, a mass setup) is replaced by a fresh one:
// otherwise every later event would pay a scan of the peer count.
func emptied[K comparable](m map[K]struct{}) map[K]struct{} {
	if len(m) > 32 {
		return map[K]struct{}{}
	}
	clear(m)
	return m
}

// Changed calls f with the name of every peer whose state may have changed
// since the last call (configured, removed, SAs negotiated, rekeyed,
// deleted, failures), each once, and forgets them. A status display that
// updates only these peers does work proportional to the events, not to
// the number of peers.
func (e *Engine) Changed(f func(name string)) {
	e.flush()
	for name := range e.changed {
		f(name)
	}
	e.changed = emptied(e.changed)
}

// Work is a running count of IKE SAs and peers the engine visited outside
// their own exchanges (timer bookkeeping, status, lookups). Tests use it to
// check that the work per event does not grow with the number of peers.
func (e *Engine) Work() uint64 { return e.work }
