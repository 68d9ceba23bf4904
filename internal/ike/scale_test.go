package ike

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/transform"
)

// scaleNet is an initiator engine A with n peers, each from its own
// address, against a responder engine B with the n matching peers.
type scaleNet struct {
	t     testing.TB
	now   time.Time
	a, b  *Engine
	ha    *testHost
	hb    *testHost
	names []string
	// delivered counts the datagrams deliver moved.
	delivered int
}

func newScaleNet(t testing.TB, n int) *scaleNet {
	t.Helper()
	return newScaleNetWith(t, n, nil)
}

// newScaleNetWith is newScaleNet with the IKE proposals of every peer on
// both sides (nil: the defaults).
func newScaleNetWith(t testing.TB, n int, ikeP []transform.Proposal) *scaleNet {
	t.Helper()
	s := &scaleNet{t: t, now: time.Unix(1_700_000_000, 0), ha: newTestHost("A"), hb: newTestHost("B")}
	s.a, s.b = New(Config{}, s.ha, nil), New(Config{}, s.hb, nil)
	var pa, pb []Peer
	for i := range n {
		name := fmt.Sprintf("site%05d", i)
		addr := netip.AddrFrom4([4]byte{100, 64 + byte(i>>16), byte(i >> 8), byte(i)})
		siteTS := []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)}
		hubTS := []netip.Prefix{netip.MustParsePrefix("172.16.0.0/16")}
		pa = append(pa, Peer{Name: name, Local: addr, Remote: addrB, PSK: []byte("k" + name), LocalTS: siteTS, RemoteTS: hubTS, IKEProposals: ikeP})
		pb = append(pb, Peer{Name: name, Local: addrB, Remote: addr, PSK: []byte("k" + name), Mode: ModeResponderOnly, LocalTS: hubTS, RemoteTS: siteTS, IKEProposals: ikeP})
		s.names = append(s.names, name)
	}
	if err := s.b.SetPeers(s.now, pb); err != nil {
		t.Fatal(err)
	}
	if err := s.a.SetPeers(s.now, pa); err != nil {
		t.Fatal(err)
	}
	s.deliver()
	for _, name := range s.names {
		if !s.b.Established(name) {
			t.Fatalf("B: %s not established", name)
		}
	}
	return s
}

// deliver moves packets between the engines until both are quiet, and
// ticks them when a timer is due (the clock stands still).
func (s *scaleNet) deliver() {
	for range 100 {
		busy := false
		for len(s.ha.sent)+len(s.hb.sent) > 0 {
			busy = true
			q := append(s.ha.sent, s.hb.sent...)
			s.ha.sent, s.hb.sent = nil, nil
			s.delivered += len(q)
			for _, p := range q {
				in := Packet{Data: p.Data, Local: p.Remote, Remote: p.Local}
				if p.Remote.Addr() == addrB {
					s.b.HandlePacket(s.now, in)
				} else {
					s.a.HandlePacket(s.now, in)
				}
			}
		}
		for _, e := range []*Engine{s.a, s.b} {
			if d := e.NextDeadline(); !d.IsZero() && !d.After(s.now) {
				e.Tick(s.now)
				busy = true
			}
		}
		if !busy {
			return
		}
	}
	s.t.Fatal("engines did not settle")
}

// eventWork runs one peer's Child SA rekey, IKE SA rekey and a status
// update of what changed, and returns the responder's bookkeeping work and
// the number of peers it reported as changed.
func (s *scaleNet) eventWork(name string) (work uint64, changed int) {
	s.b.Changed(func(string) {})
	w0 := s.b.Work()
	for _, ike := range []bool{false, true} {
		if err := s.a.Rekey(s.now, name, ike); err != nil {
			s.t.Fatal(err)
		}
		s.deliver()
		s.b.Changed(func(n string) {
			changed++
			if _, ok := s.b.PeerStatus(n); !ok {
				s.t.Fatalf("no status for %s", n)
			}
		})
	}
	return s.b.Work() - w0, changed
}

// TestPerEventWorkIndependentOfPeers checks that negotiating on one tunnel
// visits the same number of SAs and peers whether the engine has 10 or
// 1,000 of them: no scans, timers in a heap, status per changed peer.
func TestPerEventWorkIndependentOfPeers(t *testing.T) {
	small := newScaleNet(t, 10)
	big := newScaleNet(t, 1000)
	ws, cs := small.eventWork(small.names[3])
	wb, cb := big.eventWork(big.names[3])
	t.Logf("work per event: %d with 10 peers, %d with 1000; peers changed %d / %d", ws, wb, cs, cb)
	if cs != 2 || cb != 2 {
		t.Errorf("peers reported changed after two rekeys: %d with 10 peers, %d with 1000; want 2 (the one peer, once each)", cs, cb)
	}
	if ws == 0 || wb != ws {
		t.Errorf("work for one tunnel's rekeys: %d with 10 peers, %d with 1000: must not depend on the peer count", ws, wb)
	}
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// writeHeapProfile writes the live heap (inuse_space) to path.
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkMemoryPerTunnel reports the responder engine's live heap per
// configured peer with its IKE SA and Child SA established: the engine's
// share of the scale benchmark's "memory per tunnel" (per-peer
// configuration included; the data plane's ESP SAs are esp's
// BenchmarkMemoryPerSA). The initiator engine is dropped before measuring.
//
//	go test -run '^$' -bench MemoryPerTunnel -benchtime 1x ./internal/ike/
//
// IKE_HEAP_PROFILE_DIR=dir also writes the heap profile at the measurement
// (dir/ike-heap-N.pprof, for go tool pprof -sample_index inuse_space).
func BenchmarkMemoryPerTunnel(b *testing.B) {
	if os.Getenv("IKE_HEAP_PROFILE_DIR") != "" {
		defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
		runtime.MemProfileRate = 64
	}
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var per float64
			for b.Loop() {
				base := heapInUse()
				s := newScaleNet(b, n)
				// What stays is B's engine; its host's copies of the
				// Child SAs stand for the data plane and are not counted.
				s.a, s.ha = nil, nil
				s.hb.children, s.hb.outbound, s.hb.events, s.hb.sent = nil, nil, nil, nil
				after := heapInUse()
				per = float64(after-base) / float64(n)
				if dir := os.Getenv("IKE_HEAP_PROFILE_DIR"); dir != "" {
					writeHeapProfile(b, filepath.Join(dir, fmt.Sprintf("ike-heap-%d.pprof", n)))
				}
				runtime.KeepAlive(s.b)
			}
			b.ReportMetric(per, "B/tunnel")
		})
	}
}

// BenchmarkLivenessRound measures one round of liveness checks of n idle
// tunnels (both engines: the probes, the answers, the timers), per tunnel.
func BenchmarkLivenessRound(b *testing.B) {
	const n = 1000
	s := newScaleNet(b, n)
	for b.Loop() {
		s.now = s.now.Add(DefaultDPDTimeout)
		s.deliver()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/tunnel")
}

// TestIdleLiveness checks the cost of idle tunnels: over two DPD timeouts
// (90 s) of silence each tunnel sees at most 3.5 liveness exchanges (checks
// start when the timeout minus the retransmission budget has passed, 24–30
// s, not at a third of it, and one end's check spares the other's), no
// peer's status is reported changed by them, and the
// engine's timers fall on few distinct instants (coalesced wakeups) while
// still spread over the check window.
func TestIdleLiveness(t *testing.T) {
	const n = 300
	s := newScaleNet(t, n)
	s.b.Changed(func(string) {})
	s.delivered = 0
	var deadlines map[time.Time]bool
	changed := 0
	for step := range 2 * int(DefaultDPDTimeout/time.Second) {
		s.now = s.now.Add(time.Second)
		s.deliver()
		s.b.Changed(func(string) { changed++ })
		if step == 0 {
			deadlines = map[time.Time]bool{}
			for _, en := range s.b.timers.h {
				deadlines[en.t.at] = true
			}
		}
	}
	for _, name := range s.names {
		if !s.b.Established(name) {
			t.Fatalf("%s went down while idle", name)
		}
	}
	// An exchange is two datagrams.
	per := float64(s.delivered) / 2 / n
	if per > 3.5 {
		t.Errorf("%.2f liveness exchanges per tunnel in %v of silence, want ≤ 3.5", per, 2*DefaultDPDTimeout)
	}
	if changed != 0 {
		t.Errorf("liveness checks reported %d status changes, want 0", changed)
	}
	var lo, hi time.Time
	for d := range deadlines {
		if lo.IsZero() || d.Before(lo) {
			lo = d
		}
		if d.After(hi) {
			hi = d
		}
	}
	t.Logf("%.2f exchanges per tunnel; B's %d timers on %d instants over %v", per, s.b.timers.len(), len(deadlines), hi.Sub(lo))
	if len(deadlines) > 6 {
		t.Errorf("B's timers fall on %d distinct instants, want them coalesced on the %v grid (≤ 6)", len(deadlines), livenessGrid)
	}
	if hi.Sub(lo) < 2*time.Second {
		t.Errorf("B's liveness checks span %v, want them spread (≥ 2 s)", hi.Sub(lo))
	}
}

// TestLivenessAllocations bounds the heap allocated per liveness exchange
// of an idle tunnel (both engines: the check, its answer, the timers). The
// IKE SA keeps its ciphers: expanding them for every message (AES-GCM: 1.3
// kB in two allocations, four times per exchange) was most of the idle
// CPU at 10,000 tunnels, with the collections that garbage caused.
func TestLivenessAllocations(t *testing.T) {
	const n = 200
	s := newScaleNet(t, n)
	s.now = s.now.Add(DefaultDPDTimeout)
	s.deliver() // a first round: every SA's state warm
	s.delivered = 0
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	s.now = s.now.Add(DefaultDPDTimeout)
	s.deliver()
	runtime.ReadMemStats(&m1)
	exchanges := s.delivered / 2
	if exchanges < n {
		t.Fatalf("%d liveness exchanges for %d tunnels", exchanges, n)
	}
	per := float64(m1.TotalAlloc-m0.TotalAlloc) / float64(exchanges)
	allocs := float64(m1.Mallocs-m0.Mallocs) / float64(exchanges)
	t.Logf("%d exchanges: %.0f B and %.1f allocations each", exchanges, per, allocs)
	if per > 2500 {
		t.Errorf("%.0f bytes allocated per liveness exchange, want ≤ 2,500 (ciphers expanded per message?)", per)
	}
}
