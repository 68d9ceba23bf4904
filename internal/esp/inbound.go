package esp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/vpngw/vpngw/internal/transform"
)

// InboundConfig describes an inbound SA.
type InboundConfig struct {
	// SPI is the locally chosen SPI. Must not be 0.
	SPI uint32
	// Encr is the negotiated encryption transform (see IsCombinedMode).
	Encr transform.ID
	// Cipher opens packets; it must match Encr.
	Cipher transform.Cipher
	// ESN enables 64-bit extended sequence numbers.
	ESN bool
	// ReplayWindow is the anti-replay window in packets; 0 means
	// DefaultReplayWindow. It is rounded up to a multiple of 64.
	ReplayWindow int
	// Lifetime holds byte and packet limits (zero: none).
	Lifetime Lifetime
}

// InboundSA verifies and decapsulates ESP packets. It is safe for concurrent
// use; see the package comment for the Check/Decrypt/Commit split.
type InboundSA struct {
	spi    uint32
	cipher transform.Cipher
	aead   bool
	esn    bool
	ivLen  int
	icvLen int
	align  int
	minLen int
	life   Lifetime

	mu     sync.Mutex   // guards window
	window replayWindow // anti-replay state

	counters
	limits limitNotifier
}

// NewInboundSA creates an inbound SA.
func NewInboundSA(cfg InboundConfig) (*InboundSA, error) {
	ivLen, icvLen, align, err := cipherParams(cfg.Cipher)
	if err != nil {
		return nil, err
	}
	if cfg.SPI == 0 {
		return nil, fmt.Errorf("%w: SPI 0 is reserved", ErrConfig)
	}
	if cfg.Encr == 0 {
		return nil, fmt.Errorf("%w: Encr is required", ErrConfig)
	}
	w := cfg.ReplayWindow
	switch {
	case w == 0:
		w = DefaultReplayWindow
	case w < 0 || w > MaxReplayWindow:
		return nil, fmt.Errorf("%w: replay window %d out of range", ErrConfig, w)
	}
	w = (w + 63) &^ 63
	sa := &InboundSA{
		spi:    cfg.SPI,
		cipher: cfg.Cipher,
		aead:   IsCombinedMode(cfg.Encr),
		esn:    cfg.ESN,
		ivLen:  ivLen,
		icvLen: icvLen,
		align:  align,
		life:   cfg.Lifetime,
		window: newReplayWindow(w),
	}
	if sa.aead && ivLen != 8 {
		return nil, fmt.Errorf("%w: combined-mode cipher with %d-byte IV (want 8)", ErrConfig, ivLen)
	}
	// Smallest valid packet: header, IV, one aligned block holding at least
	// the trailer, ICV.
	sa.minLen = HeaderLen + ivLen + align + icvLen
	return sa, nil
}

// SPI returns the SPI.
func (sa *InboundSA) SPI() uint32 { return sa.spi }

// ESN reports whether extended sequence numbers are on.
func (sa *InboundSA) ESN() bool { return sa.esn }

// Scratch is the number of bytes Open and Decrypt need before the packet in
// its buffer (ScratchLen with ESN, else 0).
func (sa *InboundSA) Scratch() int {
	if sa.esn {
		return ScratchLen
	}
	return 0
}

// Overhead is the ESP overhead before the inner packet: header and IV.
func (sa *InboundSA) Overhead() int { return HeaderLen + sa.ivLen }

// ReplayWindow returns the window size in packets.
func (sa *InboundSA) ReplayWindow() int { return int(sa.window.size) }

// SetLimitHandler installs a function called (at most once per Limit) when
// the SA reaches a lifetime limit. It must not block. nil removes it.
func (sa *InboundSA) SetLimitHandler(h func(Limit)) { sa.limits.set(h) }

// Reached reports whether the SA has reached a limit.
func (sa *InboundSA) Reached(l Limit) bool { return sa.limits.reached(l) }

// Stats returns a snapshot of the SA's counters.
func (sa *InboundSA) Stats() Counters { return sa.snapshot() }

// CountDrop counts a packet the caller dropped on this SA's behalf (for
// example DropSelector after a traffic-selector check).
func (sa *InboundSA) CountDrop(r DropReason) { sa.drop(r) }

// Open verifies and decapsulates the ESP packet buf[off:] in place. It
// returns the inner packet (a sub-slice of buf), the next header and the
// full sequence number. It is Check, Decrypt and Commit in one call. A dummy
// packet (next header 59) is committed and reported as ErrDummy. With ESN, off
// must be at least ScratchLen: the 4 bytes before the packet and the packet's
// header are overwritten.
func (sa *InboundSA) Open(buf []byte, off int) (inner []byte, nextHeader byte, seq uint64, err error) {
	if off < 0 || off > len(buf) {
		sa.drop(DropNoRoom)
		return nil, 0, 0, ErrRoom
	}
	seq, err = sa.Check(buf[off:])
	if err != nil {
		return nil, 0, 0, err
	}
	inner, nextHeader, err = sa.Decrypt(buf, off, seq)
	if err != nil {
		return nil, 0, 0, err
	}
	if err = sa.Commit(seq, len(inner)); err != nil {
		return nil, 0, 0, err
	}
	if nextHeader == NextHeaderNone {
		sa.dummy.Add(1)
		return nil, nextHeader, seq, ErrDummy
	}
	return inner, nextHeader, seq, nil
}

// Check validates the packet's length and SPI and checks its sequence number
// against the replay window, without decrypting (the cheap reject that RFC
// 4303 §3.4.3 asks for before the ICV check). It returns the full sequence
// number (inferred with ESN) to pass to Decrypt and Commit. The window is
// not changed.
func (sa *InboundSA) Check(pkt []byte) (seq uint64, err error) {
	if len(pkt) < sa.minLen {
		sa.drop(DropShort)
		return 0, ErrShort
	}
	if binary.BigEndian.Uint32(pkt) != sa.spi {
		return 0, ErrSPI
	}
	lo := binary.BigEndian.Uint32(pkt[4:])
	sa.mu.Lock()
	ok := true
	if sa.esn {
		seq, ok = sa.window.inferSeq(lo)
	} else {
		seq = uint64(lo)
	}
	ok = ok && sa.window.check(seq)
	sa.mu.Unlock()
	if !ok {
		sa.drop(DropReplay)
		return 0, ErrReplay
	}
	return seq, nil
}

// Decrypt verifies the ICV of the packet buf[off:] (whose sequence number
// Check returned) and decrypts it in place. It returns the inner packet and
// the next header, and touches no shared state apart from drop counters, so
// it can run on parallel workers. With ESN, buf[off-ScratchLen:off] and the
// packet header are overwritten.
func (sa *InboundSA) Decrypt(buf []byte, off int, seq uint64) (inner []byte, nextHeader byte, err error) {
	pt, err := sa.decrypt(buf, off, seq)
	if err != nil {
		return nil, 0, err
	}
	inner, nextHeader, err = sa.trailer(pt)
	if err != nil {
		return nil, 0, err
	}
	switch nextHeader {
	case NextHeaderNone:
		return inner, nextHeader, nil
	case NextHeaderIPv4, NextHeaderIPv6:
		if len(inner) == 0 || (inner[0]>>4 == 4) != (nextHeader == NextHeaderIPv4) ||
			(inner[0]>>4 != 4 && inner[0]>>4 != 6) {
			sa.drop(DropNextHeader)
			return nil, 0, ErrNextHeader
		}
		return inner, nextHeader, nil
	}
	sa.drop(DropNextHeader)
	return nil, 0, ErrNextHeader
}

// decrypt checks the ICV and decrypts, returning the plaintext with its
// trailer.
func (sa *InboundSA) decrypt(buf []byte, off int, seq uint64) ([]byte, error) {
	if off < sa.Scratch() || off > len(buf) {
		sa.drop(DropNoRoom)
		return nil, ErrRoom
	}
	pkt := buf[off:]
	if len(pkt) < sa.minLen {
		sa.drop(DropShort)
		return nil, ErrShort
	}
	iv := pkt[HeaderLen : HeaderLen+sa.ivLen]
	ct := pkt[HeaderLen+sa.ivLen:]
	var aad, tail []byte
	switch {
	case !sa.esn:
		aad = pkt[:HeaderLen]
	case sa.aead:
		// SPI ‖ SeqHi ‖ SeqLo, laid out over the scratch bytes and the header.
		s := buf[off-ScratchLen:]
		binary.BigEndian.PutUint32(s, sa.spi)
		binary.BigEndian.PutUint64(s[4:], seq)
		aad = s[:12]
	default:
		aad = pkt[:HeaderLen]
		tail = buf[off-ScratchLen : off]
		binary.BigEndian.PutUint32(tail, uint32(seq>>32))
	}
	pt, err := sa.cipher.Open(ct[:0], iv, ct, aad, tail)
	if err != nil {
		if errors.Is(err, transform.ErrAuth) {
			sa.drop(DropAuth)
			return nil, fmt.Errorf("%w: %w", ErrAuth, err)
		}
		sa.drop(DropShort)
		return nil, fmt.Errorf("%w: %w", ErrShort, err)
	}
	return pt, nil
}

// trailer strips and verifies padding, pad length and next header.
func (sa *InboundSA) trailer(pt []byte) (inner []byte, nextHeader byte, err error) {
	if len(pt) < TrailerLen {
		sa.drop(DropShort)
		return nil, 0, ErrShort
	}
	padLen := int(pt[len(pt)-2])
	nextHeader = pt[len(pt)-1]
	end := len(pt) - TrailerLen - padLen
	if end < 0 {
		sa.drop(DropPadding)
		return nil, 0, ErrPadding
	}
	for i, b := range pt[end : len(pt)-TrailerLen] {
		if b != byte(i+1) {
			sa.drop(DropPadding)
			return nil, 0, ErrPadding
		}
	}
	return pt[:end], nextHeader, nil
}

// Commit records seq, whose packet Decrypt authenticated, in the replay
// window and counts the packet (n inner bytes). It fails with ErrReplay if
// seq was committed meanwhile (a duplicate decrypted in parallel) or fell
// out of the window, and with ErrExpired once the hard lifetime is reached.
func (sa *InboundSA) Commit(seq uint64, n int) error {
	if sa.life != (Lifetime{}) && sa.limits.reached(LimitHardLifetime) {
		sa.drop(DropExpired)
		return ErrExpired
	}
	sa.mu.Lock()
	if !sa.window.check(seq) {
		sa.mu.Unlock()
		sa.drop(DropReplay)
		return ErrReplay
	}
	sa.window.update(seq)
	sa.mu.Unlock()
	p := sa.packets.Add(1)
	b := sa.bytes.Add(uint64(n))
	if sa.life != (Lifetime{}) {
		// The packet that reaches the hard limit is the last one accepted.
		checkLifetime(&sa.life, &sa.limits, p, b)
	}
	return nil
}

// CountDummy counts a dummy packet dropped silently by a caller that uses
// Decrypt and Commit directly (Open counts them itself).
func (sa *InboundSA) CountDummy() { sa.dummy.Add(1) }
