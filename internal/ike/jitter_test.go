package ike

import (
	"fmt"
	"testing"
	"time"
)

// checkSpread fails unless every value lies in [lo, hi], the values span at
// least minSpan of that window, and none of its buckets equal parts holds more
// than maxShare of them: deadlines of tunnels that started together must
// not fire together.
func checkSpread(t *testing.T, what string, vals []time.Duration, lo, hi time.Duration, minSpan float64, buckets int, maxShare float64) {
	t.Helper()
	if len(vals) == 0 {
		t.Fatalf("%s: no values", what)
	}
	count := make([]int, buckets)
	mn, mx := vals[0], vals[0]
	for _, v := range vals {
		if v < lo || v > hi {
			t.Errorf("%s: %v outside [%v, %v]", what, v, lo, hi)
			return
		}
		mn, mx = min(mn, v), max(mx, v)
		i := int(float64(v-lo) / float64(hi-lo) * float64(buckets))
		count[min(i, buckets-1)]++
	}
	t.Logf("%s: %d values over %v of [%v, %v], per bucket %v", what, len(vals), mx-mn, lo, hi, count)
	if span := mx - mn; float64(span) < minSpan*float64(hi-lo) {
		t.Errorf("%s: %d deadlines span %v, want ≥ %.0f%% of the %v window", what, len(vals), span, 100*minSpan, hi-lo)
	}
	for i, c := range count {
		if share := float64(c) / float64(len(vals)); share > maxShare {
			t.Errorf("%s: %.0f%% of the deadlines in bucket %d of %d, want ≤ %.0f%%", what, 100*share, i, buckets, 100*maxShare)
		}
	}
}

// TestDeadlinesSpread establishes 1,000 tunnels in the same instant and
// checks that their IKE SA and Child SA rekeys (90% of the lifetime minus
// up to 10%) and their first liveness checks (the DPD timeout less the
// retransmission budget, less up to 20%) spread over their windows, and
// that failures at the same instant are retried over half the backoff.
func TestDeadlinesSpread(t *testing.T) {
	const n = 1000
	s := newScaleNet(t, n)
	var ikeRekey, childRekey, dpd []time.Duration
	for _, e := range []*Engine{s.a, s.b} {
		for _, name := range s.names {
			sa := e.peers[name].sa
			ikeRekey = append(ikeRekey, sa.rekeyAt.Sub(s.now))
			for _, c := range sa.children {
				childRekey = append(childRekey, c.rekeyAt.Sub(s.now))
			}
			dpd = append(dpd, sa.livenessDeadline().Sub(s.now))
		}
	}
	tests := []struct {
		name    string
		vals    []time.Duration
		lo, hi  time.Duration
		span    float64
		buckets int
		share   float64
	}{
		{"IKE SA rekey", ikeRekey, DefaultIKELifetime * 8 / 10, DefaultIKELifetime * 9 / 10, 0.8, 10, 0.2},
		{"Child SA rekey", childRekey, DefaultChildLifetime * 8 / 10, DefaultChildLifetime * 9 / 10, 0.8, 10, 0.2},
		// Whole seconds (the coalescing grid) from 24 to 30 s: one
		// bucket per second.
		{"first liveness check", dpd, 23500 * time.Millisecond, 30500 * time.Millisecond, 0.7, 7, 0.25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkSpread(t, tt.name, tt.vals, tt.lo, tt.hi, tt.span, tt.buckets, tt.share)
		})
	}
	t.Run("retry after failure", func(t *testing.T) {
		e := s.b
		var retry []time.Duration
		for i, name := range s.names {
			p := e.peers[name]
			p.retryDelay = 0
			e.failed(s.now, p, fmt.Sprint("injected failure ", i))
			retry = append(retry, p.retryAt.Sub(s.now))
		}
		d := e.cfg.RetryInitiate
		checkSpread(t, "retry", retry, d/2, d, 0.8, 10, 0.2)
	})
}
