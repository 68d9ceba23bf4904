package dataplane

import (
	"testing"
	"time"
)

// offer simulates tunnels offering traffic in 1 KiB packets at given rates
// (bytes/s) for a duration against a limiter with a fake clock, and returns
// the bytes each got through.
func offer(l interface{ Allow(string, int) bool }, setNow func(time.Time), rates map[string]float64, d time.Duration) map[string]float64 {
	const pkt = 1024
	got := map[string]float64{}
	credit := map[string]float64{}
	start := time.Unix(1000, 0)
	step := 100 * time.Microsecond
	for now := start; now.Before(start.Add(d)); now = now.Add(step) {
		setNow(now)
		for id, r := range rates {
			credit[id] += r * step.Seconds()
			for credit[id] >= pkt {
				credit[id] -= pkt
				if l.Allow(id, pkt) {
					got[id] += pkt
				}
			}
		}
	}
	return got
}

func TestFairShare(t *testing.T) {
	const rate = 100e6 / 8 // 100 Mbit/s in bytes/s
	mk := func() (*FairShare, func(time.Time)) {
		f := NewFairShare(100e6, 0)
		var now time.Time
		f.now = func() time.Time { return now }
		return f, func(t time.Time) { now = t }
	}
	within := func(got, want float64) bool { return got > want*0.9 && got < want*1.1 }
	d := 2 * time.Second
	secs := d.Seconds()

	// One tunnel alone gets the whole rate.
	f, set := mk()
	got := offer(f, set, map[string]float64{"a": 3 * rate}, d)
	if !within(got["a"]/secs, rate) {
		t.Errorf("alone: %.1f MB/s, want %.1f", got["a"]/secs/1e6, rate/1e6)
	}
	// Two greedy tunnels split it evenly.
	f, set = mk()
	got = offer(f, set, map[string]float64{"a": 3 * rate, "b": 3 * rate}, d)
	if !within(got["a"]/secs, rate/2) || !within(got["b"]/secs, rate/2) {
		t.Errorf("two greedy: a %.2f b %.2f MB/s, want %.2f each", got["a"]/secs/1e6, got["b"]/secs/1e6, rate/2e6)
	}
	// One light tunnel (10%) keeps all it asks; the greedy one gets the rest.
	f, set = mk()
	got = offer(f, set, map[string]float64{"light": 0.1 * rate, "greedy": 3 * rate}, d)
	if !within(got["light"]/secs, 0.1*rate) || !within(got["greedy"]/secs, 0.9*rate) {
		t.Errorf("light+greedy: light %.2f greedy %.2f MB/s", got["light"]/secs/1e6, got["greedy"]/secs/1e6)
	}
	// Three greedy tunnels: a third each, never above the cap in total.
	f, set = mk()
	got = offer(f, set, map[string]float64{"a": 2 * rate, "b": 2 * rate, "c": 2 * rate}, d)
	total := got["a"] + got["b"] + got["c"]
	if total/secs > rate*1.05 {
		t.Errorf("three greedy exceed the cap: %.2f MB/s", total/secs/1e6)
	}
	for _, id := range []string{"a", "b", "c"} {
		if !within(got[id]/secs, rate/3) {
			t.Errorf("three greedy: %s %.2f MB/s, want %.2f", id, got[id]/secs/1e6, rate/3e6)
		}
	}
}

func BenchmarkFairShareAllow(b *testing.B) {
	f := NewFairShare(10e9, 0)
	ids := []string{"a", "b", "c", "d"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.Allow(ids[i&3], 1400)
	}
}
