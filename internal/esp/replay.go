package esp

// replayWindow is an anti-replay window over 64-bit sequence numbers kept as
// a ring of 64-bit blocks (RFC 6479): advancing the window clears whole
// blocks instead of shifting bits, so an update costs O(1) amortized. The
// ring has one block more than the window needs, so the block holding the
// window's left edge is never reused while still inside the window.
//
// The ring is allocated when the first sequence number is recorded: an SA
// that never receives (an idle tunnel, the lingering inbound half of a
// rekeyed SA) costs no bitmap (1 KiB for the default 4096-packet window).
//
// It is not safe for concurrent use; InboundSA guards it with a mutex.
type replayWindow struct {
	top    uint64   // highest sequence number accepted; 0: none yet
	size   uint64   // window size W in packets
	blocks []uint64 // ring of bitmaps, mask+1 long once allocated; nil: nothing recorded
	mask   uint64   // ring length - 1 (a power of two minus one)
}

func newReplayWindow(size int) replayWindow {
	n := size/64 + 1
	p := 1
	for p < n {
		p <<= 1
	}
	return replayWindow{size: uint64(size), mask: uint64(p - 1)}
}

// check reports whether seq is acceptable: not 0, not left of the window,
// not already received.
func (w *replayWindow) check(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if seq > w.top {
		return true
	}
	if w.top-seq >= w.size {
		return false
	}
	if w.blocks == nil {
		return true // nothing recorded yet
	}
	return w.blocks[(seq>>6)&w.mask]&(1<<(seq&63)) == 0
}

// update marks seq as received, advancing the window if seq is new. The
// caller has checked seq.
func (w *replayWindow) update(seq uint64) {
	if w.blocks == nil {
		w.blocks = make([]uint64, w.mask+1)
	}
	if seq > w.top {
		cur, nb := w.top>>6, seq>>6
		if diff := nb - cur; diff > w.mask {
			clear(w.blocks)
		} else {
			for i := cur + 1; i <= nb; i++ {
				w.blocks[i&w.mask] = 0
			}
		}
		w.top = seq
	}
	w.blocks[(seq>>6)&w.mask] |= 1 << (seq & 63)
}

// inferSeq reconstructs the full 64-bit sequence number from its low 32
// bits with the window's top (RFC 4303 Appendix A2.2). ok is false when the
// inferred number would lie below zero (a packet from before the SA began).
func (w *replayWindow) inferSeq(seqLo uint32) (seq uint64, ok bool) {
	tl := uint32(w.top)
	th := uint32(w.top >> 32)
	wm1 := uint32(w.size - 1)
	var sh uint32
	if tl >= wm1 {
		// Case A: the window lies within one 2^32 subspace.
		if seqLo >= tl-wm1 {
			sh = th
		} else {
			sh = th + 1
			if sh == 0 {
				return 0, false // would wrap the 64-bit space
			}
		}
	} else {
		// Case B: the window spans two subspaces.
		if seqLo >= tl-wm1 { // mod 2^32: in the previous subspace
			if th == 0 {
				return 0, false
			}
			sh = th - 1
		} else {
			sh = th
		}
	}
	return uint64(sh)<<32 | uint64(seqLo), true
}
