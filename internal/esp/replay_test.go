package esp

import (
	"errors"
	"testing"
)

func TestReplayWindow(t *testing.T) {
	type step struct {
		seq    uint64
		accept bool
	}
	const W = 128
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"in order", []step{{1, true}, {2, true}, {3, true}, {4, true}}},
		{"zero refused", []step{{0, false}, {1, true}}},
		{"duplicate", []step{{1, true}, {2, true}, {2, false}, {1, false}}},
		{"reorder within window", []step{{10, true}, {5, true}, {9, true}, {5, false}, {1, true}, {11, true}}},
		{"edge of window", []step{{200, true}, {200 - W + 1, true}, {200 - W, false}, {200 - W + 1, false}}},
		{"jump clears stale bits", []step{{5, true}, {5 + 10*W, true}, {5 + 10*W - 1, true}, {5, false}, {5 + 10*W, false}}},
		{"jump by less than the ring", []step{{63, true}, {64, true}, {64 + 130, true}, {64 + 130 - 127, true}, {64, false}, {127, true}}},
		{"block boundary bits", []step{{64, true}, {128, true}, {127, true}, {65, true}, {63, true}, {64, false}, {128, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newReplayWindow(W)
			for i, s := range tc.steps {
				got := w.check(s.seq)
				if got != s.accept {
					t.Fatalf("step %d: check(%d) = %v, want %v", i, s.seq, got, s.accept)
				}
				if got {
					w.update(s.seq)
				}
			}
		})
	}
}

func TestReplayWindowModel(t *testing.T) {
	// Compare the ring bitmap against a plain set model over a long,
	// jumpy sequence.
	const W = 256
	w := newReplayWindow(W)
	seen := map[uint64]bool{}
	var top uint64
	x := uint64(88172645463325252)
	for i := 0; i < 200000; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		var seq uint64
		switch x % 8 {
		case 0:
			seq = top + 1 + x%(3*W) // jump ahead
		default:
			d := x % (W + 40)
			if d > top {
				d = top
			}
			seq = top - d + x%3 // around the edge and inside
		}
		want := seq != 0 && !seen[seq] && (seq > top || top-seq < W)
		if got := w.check(seq); got != want {
			t.Fatalf("iteration %d: check(%d) top %d = %v, want %v", i, seq, top, got, want)
		}
		if want {
			w.update(seq)
			seen[seq] = true
			if seq > top {
				top = seq
			}
		}
	}
}

func TestInferSeq(t *testing.T) {
	const W = 4096
	for _, tc := range []struct {
		name string
		top  uint64
		lo   uint32
		want uint64
		ok   bool
	}{
		{"fresh SA", 0, 1, 1, true},
		{"fresh SA, high low bits", 0, 0xffffffff, 0, false},
		{"case A same subspace", 5<<32 | 100000, 99000, 5<<32 | 99000, true},
		{"case A next subspace", 5<<32 | 100000, 3, 6<<32 | 3, true},
		{"case A ahead", 5<<32 | 100000, 200000, 5<<32 | 200000, true},
		{"case B previous subspace", 5<<32 | 10, 0xfffffff0, 4<<32 | 0xfffffff0, true},
		{"case B current subspace", 5<<32 | 10, 20, 5<<32 | 20, true},
		{"case B current subspace behind", 5<<32 | 10, 5, 5<<32 | 5, true},
		{"wrap across 2^32", 0xffffff00, 0x10, 1<<32 | 0x10, true},
		{"wrap, late packet", 1<<32 | 0x10, 0xffffff00, 0xffffff00, true},
		{"end of space", 0xffffffff<<32 | 0xfffff000, 5, 0, false},
	} {
		w := newReplayWindow(W)
		w.top = tc.top
		got, ok := w.inferSeq(tc.lo)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%s: inferSeq(%#x) with top %#x = %#x, %v; want %#x, %v", tc.name, tc.lo, tc.top, got, ok, tc.want, tc.ok)
		}
	}
}

// TestESNWrap sends packets across the 2^32 boundary through a real SA pair
// with reordering, and checks that the receiver infers the high bits.
func TestESNWrap(t *testing.T) {
	f := families()[0]
	c := f.new()
	start := uint64(1<<32 - 50)
	out, err := NewOutboundSA(OutboundConfig{SPI: 9, Encr: f.encr, Cipher: c, ESN: true, FirstSeq: start})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := NewInboundSA(InboundConfig{SPI: 9, Encr: f.encr, Cipher: c, ESN: true})
	in.window.top = start - 1
	var pkts [][]byte
	for i := 0; i < 100; i++ {
		buf, off := layout(testPacket(60, false, byte(i)))
		s, err := out.Seal(buf, off)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, append(make([]byte, ScratchLen), s...))
	}
	// Deliver in pairs swapped: 1,0,3,2,... so the wrap is crossed out of order.
	for i := 0; i < len(pkts); i += 2 {
		for _, j := range []int{i + 1, i} {
			p := append([]byte(nil), pkts[j]...)
			_, _, seq, err := in.Open(p, ScratchLen)
			if err != nil {
				t.Fatalf("packet %d: %v", j, err)
			}
			if seq != start+uint64(j) {
				t.Fatalf("packet %d: seq %#x, want %#x", j, seq, start+uint64(j))
			}
		}
	}
	// Replays of both sides of the boundary are refused.
	for _, j := range []int{10, 49, 50, 99} {
		if _, _, _, err := in.Open(append([]byte(nil), pkts[j]...), ScratchLen); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay %d: %v", j, err)
		}
	}
}

// TestReplayWindowAllocatedOnFirstUpdate checks that an SA that has not
// received anything holds no bitmap, and that the window behaves the same
// once it has one.
func TestReplayWindowAllocatedOnFirstUpdate(t *testing.T) {
	w := newReplayWindow(4096)
	if w.blocks != nil {
		t.Fatalf("new window has %d blocks, want none until the first packet", len(w.blocks))
	}
	for _, seq := range []uint64{1, 4096, 5000} {
		if !w.check(seq) {
			t.Errorf("empty window refuses %d", seq)
		}
	}
	w.update(7)
	if len(w.blocks) != 128 {
		t.Fatalf("after the first packet: %d blocks, want 128", len(w.blocks))
	}
	if w.check(7) || !w.check(6) || !w.check(8) {
		t.Errorf("after 7: check(7)=%v check(6)=%v check(8)=%v, want false true true", w.check(7), w.check(6), w.check(8))
	}
}
