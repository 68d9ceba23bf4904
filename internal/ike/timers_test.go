package ike

import (
	"container/heap"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// checkHeap fails unless q is a min-heap whose entries know their
// positions and carry their timers' due times.
func checkHeap(t *testing.T, q *timerHeap) {
	t.Helper()
	for i, en := range q.h {
		if en.t.idx != i {
			t.Fatalf("entry %d: timer says idx %d", i, en.t.idx)
		}
		if en.key != int64(en.t.at.Sub(q.epoch)) {
			t.Fatalf("entry %d: key %d, timer due %v", i, en.key, en.t.at)
		}
		if i > 0 && q.h[(i-1)/2].key > en.key {
			t.Fatalf("entry %d (key %d) under a later parent (key %d)", i, en.key, q.h[(i-1)/2].key)
		}
	}
}

// TestTimerHeap drives the heap with random moves, removals and pops
// against a plain list of what is queued: pops come out in due order and
// the heap invariants hold after every step.
func TestTimerHeap(t *testing.T) {
	for _, tc := range []struct {
		name   string
		timers int
		grid   time.Duration // due times rounded to this (equal keys)
	}{
		{"one", 1, 0},
		{"few", 7, 0},
		{"many", 300, 0},
		{"many on a grid", 300, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(tc.timers)))
			base := time.Unix(1_800_000_000, 0)
			due := func() time.Time {
				at := base.Add(time.Duration(r.Int64N(int64(time.Minute))))
				if tc.grid > 0 {
					at = at.Truncate(tc.grid)
				}
				return at
			}
			var q timerHeap
			ts := make([]*timer, tc.timers)
			for i := range ts {
				ts[i] = &timer{idx: -1}
			}
			for step := range 20 * tc.timers {
				tm := ts[r.IntN(len(ts))]
				switch op := r.IntN(10); {
				case op < 7:
					q.set(tm, due())
				case op < 9:
					if tm.idx >= 0 {
						q.remove(tm.idx)
						if tm.idx != -1 {
							t.Fatalf("step %d: removed timer keeps idx %d", step, tm.idx)
						}
					}
				default:
					if q.len() > 0 {
						min := q.top().at
						for _, o := range ts {
							if o.idx >= 0 && o.at.Before(min) {
								t.Fatalf("step %d: top due %v, but a timer is due %v", step, min, o.at)
							}
						}
						q.pop()
					}
				}
				checkHeap(t, &q)
			}
			// Drain: in due order, and everything queued comes out.
			queued := 0
			for _, o := range ts {
				if o.idx >= 0 {
					queued++
				}
			}
			var got []time.Time
			for q.len() > 0 {
				got = append(got, q.pop().at)
			}
			if len(got) != queued {
				t.Fatalf("drained %d timers, %d were queued", len(got), queued)
			}
			if !slices.IsSortedFunc(got, func(a, b time.Time) int { return a.Compare(b) }) {
				t.Fatalf("drained out of order: %v", got)
			}
		})
	}
}

// TestTimerHeapMonotonic: due times with a monotonic reading order as
// time.Time.Before orders them, also against one without (the "at once"
// time of a peer to initiate).
func TestTimerHeapMonotonic(t *testing.T) {
	var q timerHeap
	now := time.Now()
	a, b, c := &timer{idx: -1}, &timer{idx: -1}, &timer{idx: -1}
	q.set(a, now.Add(2*time.Second))
	q.set(b, now.Add(time.Second))
	q.set(c, time.Unix(1, 0))
	for _, want := range []*timer{c, b, a} {
		if got := q.pop(); got != want {
			t.Fatalf("popped the timer due %v, want the one due %v", got.at, want.at)
		}
	}
}

// The heap as it was: container/heap over the timers, compared by
// time.Time.Before (BenchmarkTimerRetime's baseline, same run).
type refHeap []*timer

func (h refHeap) Len() int           { return len(h) }
func (h refHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h refHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *refHeap) Push(x any) {
	t := x.(*timer)
	t.idx = len(*h)
	*h = append(*h, t)
}
func (h *refHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	t.idx = -1
	return t
}

// BenchmarkTimerRetime is what an answered liveness check costs the timer
// heap of an idle gateway with 10,000 tunnels: one SA's deadline moves
// from its slot on the one-second liveness grid to the latest slot, 30 s
// on, while the clock advances (10,000 checks per 30 s), so it sifts to
// the leaves. Each timer sits in an SA-sized block of its own, as in the
// engine (an ikeSA is about a kilobyte), so that comparing through the
// timers misses the cache as it does there. "heap" is the engine's
// timerHeap, "container" the container/heap version it replaced, in the
// same run.
func BenchmarkTimerRetime(b *testing.B) {
	const n = 10_000
	type saSized struct {
		_  [512]byte
		tm timer
		_  [512]byte
	}
	setup := func() ([]*timer, time.Time) {
		r := rand.New(rand.NewPCG(7, 7))
		base := time.Now()
		ts := make([]*timer, n)
		for i := range ts {
			s := &saSized{}
			s.tm = timer{idx: -1, at: base.Add(time.Duration(r.IntN(30)) * time.Second)}
			ts[i] = &s.tm
		}
		r.Shuffle(n, func(i, j int) { ts[i], ts[j] = ts[j], ts[i] })
		return ts, base
	}
	// due is the deadline of the i-th check: the clock advances 3 ms per
	// check and the deadline is 30 s on, on the one-second grid.
	due := func(base time.Time, i int) time.Time {
		return base.Add(30*time.Second + time.Duration(i)*3*time.Millisecond).Truncate(time.Second)
	}
	b.Run("heap", func(b *testing.B) {
		ts, base := setup()
		var q timerHeap
		for _, t := range ts {
			q.set(t, t.at)
		}
		b.ResetTimer()
		for i := range b.N {
			q.set(ts[i%n], due(base, i))
		}
	})
	b.Run("container", func(b *testing.B) {
		ts, base := setup()
		var q refHeap
		for _, t := range ts {
			heap.Push(&q, t)
		}
		b.ResetTimer()
		for i := range b.N {
			t := ts[i%n]
			t.at = due(base, i)
			heap.Fix(&q, t.idx)
		}
	})
}
