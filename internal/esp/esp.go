// Package esp implements IPsec ESP security associations in tunnel mode
// (RFC 4303): in-place encapsulation and decapsulation with the
// transform.Cipher contract (RFC 4106 AES-GCM, RFC 3602 AES-CBC with HMAC,
// NULL with HMAC), sequence numbers with and without extended sequence
// numbers (ESN), and an anti-replay window with RFC 4303 Appendix A2 high-bit
// inference kept as an RFC 6479-style bitmap.
//
// The package is pure: no sockets, no goroutines, no global mutable state.
// The data plane (internal/dataplane) moves packets; IKE (internal/ike)
// creates SAs from negotiated keys.
//
// # Buffers
//
// Nothing is allocated per packet. Seal works in place: the inner IP packet
// sits in a buffer with Headroom() bytes before it (where SPI ‖ Seq ‖ IV is
// written) and Tailroom() bytes of spare capacity after it (padding, pad
// length, next header, ICV). Open works in place too and returns a sub-slice
// of its input.
//
// # Concurrency
//
// Both SA types are safe for concurrent use. An outbound SA hands out
// sequence numbers with an atomic counter (Reserve) and seals packets on any
// number of goroutines. An inbound SA splits Open into three steps so that
// decryption can run on parallel workers:
//
//	seq, err := sa.Check(pkt)          // cheap replay reject, before the ICV check
//	inner, nh, err := sa.Decrypt(...)  // ICV check + decrypt; parallel, no shared state
//	err = sa.Commit(seq, len(inner))   // window update; serialized by a per-SA mutex
//
// Check only reads the window; Commit re-checks and updates it, so two
// copies of one packet decrypted concurrently are accepted once.
package esp

import (
	"encoding/binary"
	"errors"
	"sync/atomic"

	"github.com/vpngw/vpngw/internal/transform"
	"github.com/vpngw/vpngw/internal/tunstat"
)

// Sizes of the fixed parts of an ESP packet and of its encapsulations.
const (
	// HeaderLen is the ESP header: SPI (4) ‖ sequence number (4).
	HeaderLen = 8
	// TrailerLen is the fixed ESP trailer: pad length (1) ‖ next header (1).
	TrailerLen = 2
	// MaxIVLen is the longest explicit IV of any supported cipher (AES-CBC).
	MaxIVLen = 16
	// MaxICVLen is the longest ICV of any supported integrity algorithm
	// (HMAC-SHA2-512-256).
	MaxICVLen = 32
	// MaxAlign is the largest plaintext alignment (the AES block size).
	MaxAlign = 16
	// ScratchLen is the number of bytes before the ESP header that Seal and
	// Open may use as scratch space when ESN is on (to lay out the 12-byte
	// AAD or the ESN high bits without allocating).
	ScratchLen = 4
	// MaxHeadroom is the most Headroom() any outbound SA asks for.
	MaxHeadroom = ScratchLen + HeaderLen + MaxIVLen
	// MaxTailroom is the most Tailroom() any outbound SA asks for: padding
	// (up to MaxAlign-1), trailer, ICV and 4 bytes for the ESN high bits.
	MaxTailroom = MaxAlign - 1 + TrailerLen + MaxICVLen + 4
	// UDPEncapLen is the UDP header that NAT traversal adds (RFC 3948).
	UDPEncapLen = 8
	// NonESPMarkerLen is the zero marker before IKE messages on port 4500
	// (RFC 3948 §2.2).
	NonESPMarkerLen = 4
	// IPv4HeaderLen and IPv6HeaderLen are the outer IP headers without options.
	IPv4HeaderLen = 20
	IPv6HeaderLen = 40
)

// Next header values (IANA protocol numbers) carried in the ESP trailer.
const (
	NextHeaderIPv4 = 4  // IP-in-IP: a tunnel-mode IPv4 packet
	NextHeaderIPv6 = 41 // a tunnel-mode IPv6 packet
	NextHeaderNone = 59 // dummy packet for traffic flow confidentiality (RFC 4303 §2.6)
)

// DefaultReplayWindow is the anti-replay window (in packets) used when
// InboundConfig.ReplayWindow is zero. RFC 4303 §3.4.3 asks for at least 32
// and recommends 64; 4096 absorbs the reordering of parallel crypto workers
// and multi-queue NICs at tens of Gbit/s.
const DefaultReplayWindow = 4096

// MaxReplayWindow is the largest accepted InboundConfig.ReplayWindow.
const MaxReplayWindow = 1 << 16

// Sentinel errors; callers branch on them with errors.Is.
var (
	// ErrShort: the packet is shorter than the SA's minimum or malformed
	// (ciphertext not a multiple of the block size).
	ErrShort = errors.New("esp: packet too short or malformed")
	// ErrSPI: the packet's SPI is not this SA's.
	ErrSPI = errors.New("esp: SPI mismatch")
	// ErrReplay: the sequence number was already received or is left of the
	// anti-replay window.
	ErrReplay = errors.New("esp: replayed or too old sequence number")
	// ErrAuth: the ICV did not verify. It wraps transform.ErrAuth.
	ErrAuth = errors.New("esp: integrity check failed")
	// ErrPadding: the padding bytes are not 1, 2, 3, ... (RFC 4303 §2.4) or
	// the pad length exceeds the payload.
	ErrPadding = errors.New("esp: bad padding")
	// ErrNextHeader: the next header is neither IPv4 (4), IPv6 (41) nor
	// "no next header" (59), or does not match the inner packet's version.
	ErrNextHeader = errors.New("esp: unexpected next header")
	// ErrDummy: a dummy (next header 59) packet was authenticated and
	// committed; the caller drops it silently.
	ErrDummy = errors.New("esp: dummy packet")
	// ErrSeqExhausted: the outbound sequence number space is used up (2^32-1
	// without ESN); the SA must not send any more and must be rekeyed.
	ErrSeqExhausted = errors.New("esp: sequence number space exhausted")
	// ErrExpired: the SA reached its hard byte or packet lifetime.
	ErrExpired = errors.New("esp: SA hard lifetime reached")
	// ErrRoom: the buffer lacks the headroom, scratch or tailroom the SA needs.
	ErrRoom = errors.New("esp: not enough room in buffer")
	// ErrConfig: an SA configuration is invalid.
	ErrConfig = errors.New("esp: invalid SA configuration")
)

// ParseSPI returns the SPI of an ESP packet (the first 4 bytes). It fails
// with ErrShort for packets shorter than the ESP header, and with ErrSPI for
// SPI 0, which is reserved (RFC 4303 §2.1) and, on UDP port 4500, marks a
// non-ESP (IKE) message instead.
func ParseSPI(pkt []byte) (uint32, error) {
	if len(pkt) < HeaderLen {
		return 0, ErrShort
	}
	spi := binary.BigEndian.Uint32(pkt)
	if spi == 0 {
		return 0, ErrSPI
	}
	return spi, nil
}

// IsCombinedMode reports whether an encryption transform is an AEAD
// (combined-mode) algorithm. It decides the AAD layout with ESN: AEAD
// ciphers authenticate SPI ‖ SeqHi ‖ SeqLo (RFC 4106 §5), the others
// authenticate SPI ‖ SeqLo and append SeqHi to the MAC input (RFC 4303 §2.2.1).
func IsCombinedMode(encr transform.ID) bool {
	switch encr {
	case transform.EncrAESGCM8, transform.EncrAESGCM12, transform.EncrAESGCM16,
		transform.EncrChaCha20Poly1305:
		return true
	}
	return false
}

// Lifetime holds the byte and packet limits of an SA. Zero means no limit.
// Time limits are IKE's business (it owns the timers); these count inner
// (plaintext) bytes and packets that the SA protected or accepted.
type Lifetime struct {
	SoftBytes   uint64 // report LimitSoftLifetime once when reached
	HardBytes   uint64 // report LimitHardLifetime and refuse traffic when reached
	SoftPackets uint64 // like SoftBytes, in packets
	HardPackets uint64 // like HardBytes, in packets
}

// Limit is an SA event that asks IKE to rekey or delete the SA. Each Limit is
// reported at most once per SA.
type Limit uint8

// Limits reported through the handler installed with SetLimitHandler.
const (
	// LimitSoftLifetime: the soft byte or packet lifetime was reached; rekey.
	LimitSoftLifetime Limit = iota + 1
	// LimitHardLifetime: the hard byte or packet lifetime was reached; the SA
	// refuses traffic (ErrExpired) and must be deleted.
	LimitHardLifetime
	// LimitSeqNearExhaustion: an outbound SA passed its soft sequence limit
	// (2^32 - 2^24 without ESN); rekey before it runs out.
	LimitSeqNearExhaustion
	// LimitSeqExhausted: an outbound SA ran out of sequence numbers; it
	// refuses to send (ErrSeqExhausted).
	LimitSeqExhausted
)

// String returns the limit's name.
func (l Limit) String() string {
	switch l {
	case LimitSoftLifetime:
		return "soft-lifetime"
	case LimitHardLifetime:
		return "hard-lifetime"
	case LimitSeqNearExhaustion:
		return "seq-near-exhaustion"
	case LimitSeqExhausted:
		return "seq-exhausted"
	}
	return "unknown"
}

// DropReason classifies packets an SA (or the data plane on its behalf)
// refused. The reasons live with Counters in package tunstat, where the
// control plane reads them too.
type DropReason = tunstat.DropReason

// Drop reasons counted per SA.
const (
	DropReplay       = tunstat.DropReplay       // sequence number replayed or too old
	DropAuth         = tunstat.DropAuth         // ICV did not verify
	DropPadding      = tunstat.DropPadding      // padding bytes wrong
	DropNextHeader   = tunstat.DropNextHeader   // next header not 4/41/59 or mismatched
	DropShort        = tunstat.DropShort        // too short or malformed
	DropSelector     = tunstat.DropSelector     // inner packet outside the SA's traffic selectors
	DropSeqExhausted = tunstat.DropSeqExhausted // outbound sequence numbers used up
	DropExpired      = tunstat.DropExpired      // hard lifetime reached
	DropNoRoom       = tunstat.DropNoRoom       // buffer too small (a caller bug)
)

// Counters is a snapshot of an SA's counters (Drop and TotalDrops read
// it).
type Counters = tunstat.Counters

// counters is the live, atomic form of Counters. The fields are padded
// apart from the hot sequence counter by the embedding structs.
type counters struct {
	packets atomic.Uint64
	bytes   atomic.Uint64
	dummy   atomic.Uint64
	drops   [tunstat.NumDropReasons]atomic.Uint64
}

func (c *counters) snapshot() Counters {
	s := Counters{Packets: c.packets.Load(), Bytes: c.bytes.Load(), Dummy: c.dummy.Load()}
	for i := range c.drops {
		s.Drops[i] = c.drops[i].Load()
	}
	return s
}

func (c *counters) drop(r DropReason) {
	if int(r) < len(c.drops) {
		c.drops[r].Add(1)
	}
}

// limitNotifier reports each Limit at most once.
type limitNotifier struct {
	fired   atomic.Uint32 // bit (1 << Limit) set once reported
	handler atomic.Pointer[func(Limit)]
}

func (n *limitNotifier) fire(l Limit) {
	bit := uint32(1) << l
	for {
		old := n.fired.Load()
		if old&bit != 0 {
			return
		}
		if n.fired.CompareAndSwap(old, old|bit) {
			break
		}
	}
	if h := n.handler.Load(); h != nil {
		(*h)(l)
	}
}

func (n *limitNotifier) set(h func(Limit)) {
	if h == nil {
		n.handler.Store(nil)
		return
	}
	n.handler.Store(&h)
}

// Reached reports whether a limit has been reached (and reported).
func (n *limitNotifier) reached(l Limit) bool {
	return n.fired.Load()&(uint32(1)<<l) != 0
}

// checkLifetime fires soft/hard lifetime limits for the new totals and
// reports whether the hard lifetime is reached.
func checkLifetime(lt *Lifetime, n *limitNotifier, packets, bytes uint64) (hard bool) {
	if (lt.HardPackets != 0 && packets >= lt.HardPackets) || (lt.HardBytes != 0 && bytes >= lt.HardBytes) {
		n.fire(LimitHardLifetime)
		return true
	}
	if (lt.SoftPackets != 0 && packets >= lt.SoftPackets) || (lt.SoftBytes != 0 && bytes >= lt.SoftBytes) {
		n.fire(LimitSoftLifetime)
	}
	return false
}

// cipherParams validates the cipher's shape.
func cipherParams(c transform.Cipher) (ivLen, icvLen, align int, err error) {
	if c == nil {
		return 0, 0, 0, errors.Join(ErrConfig, errors.New("esp: nil cipher"))
	}
	ivLen, icvLen, align = c.IVLen(), c.ICVLen(), c.Align()
	if ivLen < 0 || ivLen > MaxIVLen || icvLen < 0 || icvLen > MaxICVLen ||
		align < 1 || align > MaxAlign || align&(align-1) != 0 {
		return 0, 0, 0, errors.Join(ErrConfig, errors.New("esp: unsupported cipher shape"))
	}
	if align < 4 {
		align = 4 // RFC 4303 §2.4: the ciphertext ends on a 4-byte boundary
	}
	return ivLen, icvLen, align, nil
}
