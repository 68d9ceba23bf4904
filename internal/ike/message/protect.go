package message

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/vpngw/vpngw/internal/transform"
)

// Crypto holds one direction's keys for the SK and SKF payloads.
type Crypto struct {
	// Cipher encrypts and authenticates: transform.NewCipher(SK_e?, SK_a?)
	// for the direction of the message (SK_ei/SK_ai for messages sent by
	// the original initiator, SK_er/SK_ar for the responder's).
	Cipher transform.Cipher
	// Rand supplies IVs when encoding; nil means crypto/rand.Reader. Tests
	// may pass a deterministic reader.
	Rand io.Reader
}

func (c *Crypto) rand() io.Reader {
	if c.Rand != nil {
		return c.Rand
	}
	return rand.Reader
}

// padLen is the number of padding bytes that make n content bytes plus the
// Pad Length octet a multiple of align (RFC 7296 §3.14).
func padLen(n, align int) int {
	if align <= 1 {
		return 0
	}
	return (align - (n+1)%align) % align
}

// sealedLen is the length of IV ‖ ciphertext ‖ ICV for n content bytes.
func sealedLen(ci transform.Cipher, n int) int {
	return ci.IVLen() + n + padLen(n, ci.Align()) + 1 + ci.ICVLen()
}

// seal encrypts in place: b[:aadEnd] is the associated data (IKE header
// through the SK/SKF payload header), followed by room for the IV and the
// content of length n already written at b[aadEnd+ivLen:], then padding,
// pad length and ICV. len(b) must be exactly aadEnd+sealedLen(n).
func seal(c *Crypto, b []byte, aadEnd, n int) error {
	ci := c.Cipher
	iv := b[aadEnd : aadEnd+ci.IVLen()]
	if _, err := io.ReadFull(c.rand(), iv); err != nil {
		return fmt.Errorf("ike/message: IV: %w", err)
	}
	p := aadEnd + ci.IVLen()
	pad := padLen(n, ci.Align())
	clear(b[p+n : p+n+pad])
	b[p+n+pad] = byte(pad)
	pt := b[p : p+n+pad+1]
	out := ci.Seal(pt[:0], iv, pt, b[:aadEnd], nil)
	if len(out) != len(pt)+ci.ICVLen() || &out[0] != &b[p] {
		return fmt.Errorf("%w: cipher produced %d bytes for %d", ErrEncode, len(out), len(pt))
	}
	return nil
}

// EncodeProtected encodes m as a protected message (RFC 7296 §3.14): the IKE
// header and one SK payload holding m.Payloads, encrypted and authenticated
// with c. The SK payload's Next Payload is the type of the first inner
// payload. The IV comes from c.Rand; padding is zero bytes, the minimum
// Cipher.Align requires. The result is one allocation.
func (m *Message) EncodeProtected(c *Crypto) ([]byte, error) {
	if c == nil || c.Cipher == nil {
		return nil, fmt.Errorf("%w: EncodeProtected without a cipher", ErrEncode)
	}
	n, err := payloadsLen(m.Payloads)
	if err != nil {
		return nil, err
	}
	skLen := genericHeaderLen + sealedLen(c.Cipher, n)
	total := HeaderLen + skLen
	if total > MaxMessageLen || skLen > 0xffff {
		return nil, fmt.Errorf("%w: %d-byte message", ErrTooLarge, total)
	}
	b := make([]byte, 0, total)
	b = appendHeader(b, &m.Header, PayloadSK, total)
	b = append(b, byte(firstType(m.Payloads)), 0)
	b = binary.BigEndian.AppendUint16(b, uint16(skLen))
	aadEnd := len(b)
	b = b[:total]
	if got := len(appendPayloads(b[aadEnd+c.Cipher.IVLen():aadEnd+c.Cipher.IVLen()], m.Payloads)); got != n {
		return nil, fmt.Errorf("%w: payloads encoded to %d bytes, expected %d", ErrEncode, got, n)
	}
	if err := seal(c, b, aadEnd, n); err != nil {
		return nil, err
	}
	return b, nil
}

// open verifies and decrypts the SK/SKF content of b: b[:aadEnd] is the
// associated data, b[aadEnd:] the IV, ciphertext and ICV. It returns the
// content without padding (in a new buffer). Failures before the ICV is
// verified wrap ErrAuth; a bad Pad Length after it wraps ErrSyntax.
func open(c *Crypto, b []byte, aadEnd int) ([]byte, error) {
	if c == nil || c.Cipher == nil {
		return nil, ErrNoCrypto
	}
	ci := c.Cipher
	rest := b[aadEnd:]
	if len(rest) < ci.IVLen()+ci.ICVLen()+1 {
		return nil, fmt.Errorf("%w: %d-byte encrypted payload too short", ErrAuth, len(rest))
	}
	iv, ct := rest[:ci.IVLen()], rest[ci.IVLen():]
	pt, err := ci.Open(make([]byte, 0, len(ct)), iv, ct, b[:aadEnd], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAuth, err)
	}
	if len(pt) == 0 {
		return nil, syntaxf("empty encrypted content")
	}
	pad := int(pt[len(pt)-1])
	if pad+1 > len(pt) {
		return nil, syntaxf("pad length %d exceeds %d-byte content", pad, len(pt))
	}
	return pt[: len(pt)-1-pad : len(pt)-1-pad], nil
}

// decodeProtected handles a message whose first payload is SK.
func decodeProtected(b []byte, h Header, c *Crypto) (*Message, error) {
	if c == nil || c.Cipher == nil {
		return nil, fmt.Errorf("%w: %s message with an SK payload", ErrNoCrypto, h.Exchange)
	}
	body := b[HeaderLen:]
	if len(body) < genericHeaderLen {
		return nil, fmt.Errorf("%w: truncated SK payload header", ErrAuth)
	}
	np, plen := PayloadType(body[0]), int(binary.BigEndian.Uint16(body[2:]))
	if plen != len(body) {
		// SK must be the last payload and, in IKEv2, the only one.
		return nil, fmt.Errorf("%w: SK payload length %d, %d bytes remain", ErrAuth, plen, len(body))
	}
	inner, err := open(c, b, HeaderLen+genericHeaderLen)
	if err != nil {
		return nil, err
	}
	st := &decodeState{header: h, response: h.IsResponse()}
	ps, err := parsePayloads(inner, np, st, true)
	if err != nil {
		return nil, err
	}
	return &Message{Header: h, Payloads: ps, Protected: true}, nil
}
