package isakmp

import (
	"crypto/cipher"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Sentinel errors; errors returned by this package wrap one of them.
var (
	// ErrSyntax: the message is malformed.
	ErrSyntax = errors.New("isakmp: malformed message")
	// ErrVersion: the header's major version is not 1.
	ErrVersion = errors.New("isakmp: unsupported ISAKMP version")
	// ErrEncode: a Message cannot be encoded.
	ErrEncode = errors.New("isakmp: cannot encode message")
	// ErrLength: ciphertext is not a multiple of the block size.
	ErrLength = errors.New("isakmp: bad ciphertext length")
)

// Limits on what Decode accepts.
const (
	// MaxMessageLen is the largest message Decode accepts.
	MaxMessageLen = 65535
	// MaxPayloads bounds the payloads of one message.
	MaxPayloads = 64
	// MaxProposals and MaxTransforms bound an SA payload.
	MaxProposals  = 64
	MaxTransforms = 64
	// MaxAttributes bounds the attributes of one transform.
	MaxAttributes = 32
)

// HeaderLen is the length of the ISAKMP header.
const HeaderLen = 28

// Version is the version byte of IKEv1 (major 1, minor 0).
const Version = 0x10

// ExchangeType is the ISAKMP exchange type (RFC 2408 §3.1, RFC 2409).
type ExchangeType uint8

// Exchange types.
const (
	ExchMainMode      ExchangeType = 2  // Identity Protection
	ExchAggressive    ExchangeType = 4  // Aggressive
	ExchInformational ExchangeType = 5  // Informational
	ExchQuickMode     ExchangeType = 32 // IKE Quick Mode
)

func (e ExchangeType) String() string {
	switch e {
	case ExchMainMode:
		return "Main Mode"
	case ExchAggressive:
		return "Aggressive Mode"
	case ExchInformational:
		return "Informational"
	case ExchQuickMode:
		return "Quick Mode"
	}
	return fmt.Sprintf("exchange %d", uint8(e))
}

// Header flags.
const (
	FlagEncryption = 0x01
	FlagCommit     = 0x02
	FlagAuthOnly   = 0x04
)

// Header is the ISAKMP header (RFC 2408 §3.1).
type Header struct {
	// ICookie and RCookie are the initiator's and responder's cookies
	// (the ISAKMP SPIs); RCookie is zero in the first message.
	ICookie, RCookie uint64
	// NextPayload is the type of the first payload (Decode fills it;
	// Encode computes it).
	NextPayload PayloadType
	// Version is the version byte (Version for IKEv1).
	Version uint8
	// Exchange is the exchange type.
	Exchange ExchangeType
	// Flags are the header flags (FlagEncryption, ...).
	Flags uint8
	// MessageID is zero in phase 1 and random per Quick Mode and
	// informational exchange.
	MessageID uint32
	// Length is the length of the whole message (Decode fills it).
	Length uint32
}

// ParseHeader parses the header at the start of b.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	s := cryptobyte.String(b)
	var np, ex uint8
	if !s.ReadUint64(&h.ICookie) || !s.ReadUint64(&h.RCookie) || !s.ReadUint8(&np) ||
		!s.ReadUint8(&h.Version) || !s.ReadUint8(&ex) || !s.ReadUint8(&h.Flags) ||
		!s.ReadUint32(&h.MessageID) || !s.ReadUint32(&h.Length) {
		return h, fmt.Errorf("%w: short header", ErrSyntax)
	}
	h.NextPayload, h.Exchange = PayloadType(np), ExchangeType(ex)
	if h.Version>>4 != 1 {
		return h, fmt.Errorf("%w: version %#x", ErrVersion, h.Version)
	}
	if h.Length < HeaderLen || int(h.Length) > len(b) || h.Length > MaxMessageLen {
		return h, fmt.Errorf("%w: header length %d of %d bytes", ErrSyntax, h.Length, len(b))
	}
	return h, nil
}

func (h Header) append(b []byte, first PayloadType, length int) []byte {
	var c cryptobyte.Builder
	c.AddUint64(h.ICookie)
	c.AddUint64(h.RCookie)
	c.AddUint8(uint8(first))
	v := h.Version
	if v == 0 {
		v = Version
	}
	c.AddUint8(v)
	c.AddUint8(uint8(h.Exchange))
	c.AddUint8(h.Flags)
	c.AddUint32(h.MessageID)
	c.AddUint32(uint32(length))
	return append(b, c.BytesOrPanic()...)
}

// Message is a decoded ISAKMP message.
type Message struct {
	Header   Header
	Payloads []Payload
	// Body is, for a decoded message, the (decrypted) payload chain without
	// padding: Quick Mode and informational hashes cover part of it.
	Body []byte
}

// AfterFirst returns the payload chain after the first payload, as
// received: the data of HASH(1) and HASH(2) (RFC 2409 §5.5) when the first
// payload is the HASH.
func (m *Message) AfterFirst() []byte {
	if len(m.Body) < 4 {
		return nil
	}
	n := int(m.Body[2])<<8 | int(m.Body[3])
	return m.Body[n:]
}

// Get returns the first payload of type t, or nil.
func (m *Message) Get(t PayloadType) Payload {
	for _, p := range m.Payloads {
		if p.Type() == t {
			return p
		}
	}
	return nil
}

// All returns the payloads of type t in order.
func (m *Message) All(t PayloadType) []Payload {
	var out []Payload
	for _, p := range m.Payloads {
		if p.Type() == t {
			out = append(out, p)
		}
	}
	return out
}

// EncodePayloads returns the payload chain of ps (generic headers
// included), the body of a message, and the type of the first payload.
func EncodePayloads(ps []Payload) ([]byte, PayloadType, error) {
	var out []byte
	for i, p := range ps {
		next := PayloadNone
		if i+1 < len(ps) {
			next = ps[i+1].Type()
		}
		body, err := p.body()
		if err != nil {
			return nil, 0, err
		}
		if len(body)+4 > 0xffff {
			return nil, 0, fmt.Errorf("%w: payload %v too long", ErrEncode, p.Type())
		}
		out = append(out, uint8(next), 0, uint8((len(body)+4)>>8), uint8(len(body)+4))
		out = append(out, body...)
	}
	if len(ps) == 0 {
		return nil, PayloadNone, nil
	}
	return out, ps[0].Type(), nil
}

// Encode returns the unencrypted message m (the Flags are used as given).
func Encode(m *Message) ([]byte, error) {
	body, first, err := EncodePayloads(m.Payloads)
	if err != nil {
		return nil, err
	}
	if HeaderLen+len(body) > MaxMessageLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrEncode, HeaderLen+len(body))
	}
	b := m.Header.append(make([]byte, 0, HeaderLen+len(body)), first, HeaderLen+len(body))
	return append(b, body...), nil
}

// EncodeEncrypted encodes m with its payloads encrypted in CBC mode under
// block with the given IV (RFC 2409 Appendix B), padding the body with
// zeros to the block size. It sets FlagEncryption and returns the message
// and the IV for the next message (the last ciphertext block).
func EncodeEncrypted(m *Message, block cipher.Block, iv []byte) (msg, nextIV []byte, err error) {
	body, first, err := EncodePayloads(m.Payloads)
	if err != nil {
		return nil, nil, err
	}
	ct, next, err := Encrypt(block, iv, body)
	if err != nil {
		return nil, nil, err
	}
	h := m.Header
	h.Flags |= FlagEncryption
	b := h.append(make([]byte, 0, HeaderLen+len(ct)), first, HeaderLen+len(ct))
	return append(b, ct...), next, nil
}

// Encrypt pads plaintext with zeros to the block size and encrypts it in
// CBC mode. It returns the ciphertext and its last block (the next IV).
func Encrypt(block cipher.Block, iv, plaintext []byte) (ct, nextIV []byte, err error) {
	bs := block.BlockSize()
	if len(iv) != bs {
		return nil, nil, fmt.Errorf("%w: IV is %d bytes, block %d", ErrEncode, len(iv), bs)
	}
	n := (len(plaintext)/bs + 1) * bs
	if len(plaintext)%bs == 0 && len(plaintext) > 0 {
		n = len(plaintext)
	}
	ct = make([]byte, n)
	copy(ct, plaintext)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)
	return ct, append([]byte(nil), ct[n-bs:]...), nil
}

// Decrypt decrypts ciphertext in CBC mode. It returns the plaintext
// (padding included) and the last ciphertext block (the next IV).
func Decrypt(block cipher.Block, iv, ct []byte) (pt, nextIV []byte, err error) {
	bs := block.BlockSize()
	if len(iv) != bs || len(ct) == 0 || len(ct)%bs != 0 {
		return nil, nil, fmt.Errorf("%w: %d bytes, block %d", ErrLength, len(ct), bs)
	}
	next := append([]byte(nil), ct[len(ct)-bs:]...)
	pt = make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, ct)
	return pt, next, nil
}

// Decode parses a message. If its header has FlagEncryption, block and iv
// decrypt the body first (block nil is an error); the IV for the next
// message is returned (nil for plaintext messages). Padding after the last
// payload is ignored.
func Decode(b []byte, block cipher.Block, iv []byte) (*Message, []byte, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, nil, err
	}
	body := b[HeaderLen:h.Length]
	var next []byte
	if h.Flags&FlagEncryption != 0 {
		if block == nil {
			return nil, nil, fmt.Errorf("%w: encrypted message without keys", ErrSyntax)
		}
		if body, next, err = Decrypt(block, iv, body); err != nil {
			return nil, nil, err
		}
	}
	ps, n, err := decodePayloads(h.NextPayload, body, h.Flags&FlagEncryption != 0)
	if err != nil {
		return nil, nil, err
	}
	return &Message{Header: h, Payloads: ps, Body: body[:n]}, next, nil
}

// DecodePayloads parses a payload chain starting with type first. With
// padded set, bytes after the last payload are allowed (encryption
// padding); otherwise they are an error.
func DecodePayloads(first PayloadType, body []byte, padded bool) ([]Payload, error) {
	ps, _, err := decodePayloads(first, body, padded)
	return ps, err
}

func decodePayloads(first PayloadType, body []byte, padded bool) ([]Payload, int, error) {
	s := cryptobyte.String(body)
	var out []Payload
	for t := first; t != PayloadNone; {
		if len(out) == MaxPayloads {
			return nil, 0, fmt.Errorf("%w: more than %d payloads", ErrSyntax, MaxPayloads)
		}
		var next, reserved uint8
		var length uint16
		var data []byte
		if !s.ReadUint8(&next) || !s.ReadUint8(&reserved) || !s.ReadUint16(&length) || length < 4 ||
			!s.ReadBytes(&data, int(length)-4) {
			return nil, 0, fmt.Errorf("%w: payload %v truncated", ErrSyntax, t)
		}
		p, err := decodePayload(t, data)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, p)
		t = PayloadType(next)
	}
	if !padded && len(s) != 0 {
		return nil, 0, fmt.Errorf("%w: %d bytes after the last payload", ErrSyntax, len(s))
	}
	return out, len(body) - len(s), nil
}
