package esp

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/vpngw/vpngw/internal/transform"
)

// Sequence number limits. Without ESN the 32-bit counter must not cycle
// (RFC 4303 §3.3.3); the soft limit leaves 2^24 packets (minutes at line
// rate) for IKE to rekey.
const (
	MaxSeq32     = math.MaxUint32
	SoftSeq32    = 1<<32 - 1<<24
	MaxSeq64     = math.MaxUint64
	SoftSeq64    = math.MaxUint64 - 1<<56
	seqCacheLine = 64
)

// OutboundConfig describes an outbound SA.
type OutboundConfig struct {
	// SPI is the peer-chosen SPI carried in every packet. Must not be 0.
	SPI uint32
	// Encr is the negotiated encryption transform; it selects the AAD layout
	// with ESN (see IsCombinedMode). Required.
	Encr transform.ID
	// Cipher seals packets; it must match Encr.
	Cipher transform.Cipher
	// ESN enables 64-bit extended sequence numbers (RFC 4303 §2.2.1).
	ESN bool
	// Lifetime holds byte and packet limits (zero: none).
	Lifetime Lifetime
	// FirstSeq is the sequence number of the first packet; 0 means 1. Tests
	// use it to start near the end of the sequence space.
	FirstSeq uint64
}

// OutboundSA seals inner packets into ESP packets. It is safe for concurrent
// use; see the package comment for the buffer layout.
type OutboundSA struct {
	// seq is the last sequence number handed out (0: none yet). It sits on
	// its own cache line because every packet touches it.
	seq atomic.Uint64
	_   [seqCacheLine - 8]byte

	spi     uint32
	cipher  transform.Cipher
	aead    bool
	esn     bool
	ivLen   int
	icvLen  int
	align   int
	maxSeq  uint64
	softSeq uint64
	life    Lifetime
	ivs     *ivSource // random IVs for non-AEAD ciphers; nil otherwise

	counters
	limits limitNotifier
}

// NewOutboundSA creates an outbound SA.
func NewOutboundSA(cfg OutboundConfig) (*OutboundSA, error) {
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
	sa := &OutboundSA{
		spi:    cfg.SPI,
		cipher: cfg.Cipher,
		aead:   IsCombinedMode(cfg.Encr),
		esn:    cfg.ESN,
		ivLen:  ivLen,
		icvLen: icvLen,
		align:  align,
		life:   cfg.Lifetime,
	}
	if sa.aead && ivLen != 8 {
		return nil, fmt.Errorf("%w: combined-mode cipher with %d-byte IV (want 8)", ErrConfig, ivLen)
	}
	if !sa.aead && ivLen > 0 {
		sa.ivs = newIVSource()
	}
	if cfg.ESN {
		sa.maxSeq, sa.softSeq = MaxSeq64, SoftSeq64
	} else {
		sa.maxSeq, sa.softSeq = MaxSeq32, SoftSeq32
	}
	if cfg.FirstSeq > 1 {
		if cfg.FirstSeq > sa.maxSeq {
			return nil, fmt.Errorf("%w: FirstSeq beyond the sequence space", ErrConfig)
		}
		sa.seq.Store(cfg.FirstSeq - 1)
	}
	return sa, nil
}

// SPI returns the SPI.
func (sa *OutboundSA) SPI() uint32 { return sa.spi }

// ESN reports whether extended sequence numbers are on.
func (sa *OutboundSA) ESN() bool { return sa.esn }

// Headroom is the number of bytes Seal needs before the inner packet:
// SPI ‖ Seq ‖ IV, plus ScratchLen when ESN is on.
func (sa *OutboundSA) Headroom() int {
	h := HeaderLen + sa.ivLen
	if sa.esn {
		h += ScratchLen
	}
	return h
}

// Tailroom is the spare capacity Seal needs after the inner packet: the
// largest padding, the trailer, the ICV, and 4 bytes of scratch for ESN with
// non-AEAD ciphers.
func (sa *OutboundSA) Tailroom() int {
	t := sa.align - 1 + TrailerLen + sa.icvLen
	if sa.esn && !sa.aead {
		t += 4
	}
	return t
}

// Overhead returns how many bytes ESP adds to an inner packet of n bytes:
// header, IV, padding, trailer and ICV (not the outer IP or UDP header).
func (sa *OutboundSA) Overhead(n int) int {
	return HeaderLen + sa.ivLen + sa.padLen(n) + TrailerLen + sa.icvLen
}

// MaxInner returns the largest inner packet whose ESP packet fits in
// outerMTU bytes (ESP header to ICV), i.e. after subtracting the outer IP and
// optional UDP header from the path MTU.
func (sa *OutboundSA) MaxInner(outerMTU int) int {
	room := outerMTU - HeaderLen - sa.ivLen - sa.icvLen
	room -= room % sa.align // the padded plaintext is a multiple of align
	return room - TrailerLen
}

func (sa *OutboundSA) padLen(n int) int {
	return (sa.align - (n+TrailerLen)%sa.align) % sa.align
}

// SetLimitHandler installs a function called (at most once per Limit, from
// the goroutine that crossed it) when the SA reaches a lifetime or sequence
// limit. It must not block. nil removes the handler.
func (sa *OutboundSA) SetLimitHandler(h func(Limit)) { sa.limits.set(h) }

// Reached reports whether the SA has reached a limit.
func (sa *OutboundSA) Reached(l Limit) bool { return sa.limits.reached(l) }

// Stats returns a snapshot of the SA's counters.
func (sa *OutboundSA) Stats() Counters { return sa.snapshot() }

// CountDrop counts a packet the caller dropped on this SA's behalf.
func (sa *OutboundSA) CountDrop(r DropReason) { sa.drop(r) }

// LastSeq returns the last sequence number handed out (0 if none).
func (sa *OutboundSA) LastSeq() uint64 { return sa.seq.Load() }

// Reserve hands out up to n consecutive sequence numbers and returns the
// first and how many were granted. got < n means the sequence space is
// exhausted: the remaining packets must be dropped (ErrSeqExhausted). A
// sequential stage can reserve numbers for a batch and let parallel workers
// seal with SealSeq, keeping sequence order equal to send order.
func (sa *OutboundSA) Reserve(n int) (first uint64, got int) {
	if n <= 0 {
		return 0, 0
	}
	for {
		cur := sa.seq.Load()
		if cur >= sa.maxSeq {
			sa.limits.fire(LimitSeqExhausted)
			return 0, 0
		}
		g := uint64(n)
		if left := sa.maxSeq - cur; g > left {
			g = left
		}
		if !sa.seq.CompareAndSwap(cur, cur+g) {
			continue
		}
		if cur+g >= sa.softSeq {
			sa.limits.fire(LimitSeqNearExhaustion)
		}
		if cur+g >= sa.maxSeq {
			sa.limits.fire(LimitSeqExhausted)
		}
		return cur + 1, int(g)
	}
}

// Seal encapsulates the inner packet buf[off:] in place with the next
// sequence number and returns the ESP packet, buf[off-HeaderLen-IVLen :
// len(buf)+Overhead]. The next header is derived from the IP version of the
// inner packet. It needs off >= Headroom() and cap(buf)-len(buf) >= Tailroom().
func (sa *OutboundSA) Seal(buf []byte, off int) ([]byte, error) {
	seq, got := sa.Reserve(1)
	if got == 0 {
		sa.drop(DropSeqExhausted)
		return nil, ErrSeqExhausted
	}
	return sa.SealSeq(buf, off, seq, 0)
}

// SealSeq is Seal with a sequence number obtained from Reserve and an
// explicit next header (0: derive from the inner packet's IP version;
// NextHeaderNone for a dummy packet).
func (sa *OutboundSA) SealSeq(buf []byte, off int, seq uint64, nextHeader byte) ([]byte, error) {
	n := len(buf) - off
	if off < sa.Headroom() || cap(buf)-len(buf) < sa.Tailroom() || n < 0 {
		sa.drop(DropNoRoom)
		return nil, ErrRoom
	}
	if nextHeader == 0 {
		if n < 1 {
			sa.drop(DropShort)
			return nil, ErrShort
		}
		switch buf[off] >> 4 {
		case 4:
			nextHeader = NextHeaderIPv4
		case 6:
			nextHeader = NextHeaderIPv6
		default:
			sa.drop(DropNextHeader)
			return nil, ErrNextHeader
		}
	}
	if sa.life != (Lifetime{}) && sa.limits.reached(LimitHardLifetime) {
		sa.drop(DropExpired)
		return nil, ErrExpired
	}
	var iv []byte
	if sa.aead {
		iv = buf[off-sa.ivLen : off]
		binary.BigEndian.PutUint64(iv, seq) // RFC 4106 §3.1: unique per key
	} else if sa.ivLen > 0 {
		iv = buf[off-sa.ivLen : off]
		sa.ivs.fill(iv)
	}
	pkt, err := sa.seal(buf, off, seq, nextHeader, iv)
	if err != nil {
		return nil, err
	}
	p := sa.packets.Add(1)
	b := sa.bytes.Add(uint64(n))
	if sa.life != (Lifetime{}) {
		// The packet that reaches the hard limit is the last one sent.
		checkLifetime(&sa.life, &sa.limits, p, b)
	}
	return pkt, nil
}

// seal lays out header, padding and trailer and encrypts. iv is already in
// place (buf[off-ivLen:off]).
func (sa *OutboundSA) seal(buf []byte, off int, seq uint64, nextHeader byte, iv []byte) ([]byte, error) {
	n := len(buf) - off
	pad := sa.padLen(n)
	end := len(buf) + pad + TrailerLen // end of plaintext
	b := buf[:end+sa.icvLen]
	for i := 0; i < pad; i++ {
		b[off+n+i] = byte(i + 1)
	}
	b[end-2] = byte(pad)
	b[end-1] = nextHeader

	hdr := off - sa.ivLen - HeaderLen
	var aad, tail []byte
	switch {
	case !sa.esn:
		binary.BigEndian.PutUint32(b[hdr:], sa.spi)
		binary.BigEndian.PutUint32(b[hdr+4:], uint32(seq))
		aad = b[hdr : hdr+HeaderLen]
	case sa.aead:
		// AAD = SPI ‖ SeqHi ‖ SeqLo (RFC 4106 §5), laid out in the scratch
		// bytes before the header; the header is rewritten afterwards.
		s := hdr - ScratchLen
		binary.BigEndian.PutUint32(b[s:], sa.spi)
		binary.BigEndian.PutUint64(b[s+4:], seq)
		aad = b[s : s+12]
	default:
		// AAD = SPI ‖ SeqLo; SeqHi is appended to the ICV input (RFC 4303
		// §2.2.1), placed after the ICV where the cipher will not write.
		binary.BigEndian.PutUint32(b[hdr:], sa.spi)
		binary.BigEndian.PutUint32(b[hdr+4:], uint32(seq))
		aad = b[hdr : hdr+HeaderLen]
		t := buf[end+sa.icvLen : end+sa.icvLen+4]
		binary.BigEndian.PutUint32(t, uint32(seq>>32))
		tail = t
	}
	pt := b[off:end]
	out := sa.cipher.Seal(pt[:0], iv, pt, aad, tail)
	if len(out) != len(pt)+sa.icvLen || (len(out) > 0 && &out[0] != &pt[0]) {
		return nil, fmt.Errorf("%w: cipher did not seal in place", ErrConfig)
	}
	if sa.esn && sa.aead {
		binary.BigEndian.PutUint32(b[hdr:], sa.spi)
		binary.BigEndian.PutUint32(b[hdr+4:], uint32(seq))
	}
	return b[hdr:], nil
}
