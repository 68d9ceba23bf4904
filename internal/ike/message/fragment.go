package message

import (
	"encoding/binary"
	"fmt"
)

// EncodeFragments encodes m as a protected message that fits in datagrams
// of at most maxLen bytes each, counted from the IKE header (the caller
// subtracts the IP and UDP headers and the non-ESP marker). If the whole
// message fits it returns one ordinary SK message, otherwise RFC 7383 SKF
// fragments: the inner payloads are encoded once, split into equal chunks
// (the last one shorter), and each chunk is padded, encrypted and
// authenticated on its own with a fresh IV. Every fragment carries m's
// header fields (same Message ID); the first one's Next Payload is the type
// of the first inner payload, the others' zero. The datagrams share one
// allocation.
func (m *Message) EncodeFragments(c *Crypto, maxLen int) ([][]byte, error) {
	if c == nil || c.Cipher == nil {
		return nil, fmt.Errorf("%w: EncodeFragments without a cipher", ErrEncode)
	}
	ci := c.Cipher
	n, err := payloadsLen(m.Payloads)
	if err != nil {
		return nil, err
	}
	if HeaderLen+genericHeaderLen+n > MaxMessageLen {
		return nil, fmt.Errorf("%w: %d bytes of payloads", ErrTooLarge, n)
	}
	if HeaderLen+genericHeaderLen+sealedLen(ci, n) <= maxLen {
		b, err := m.EncodeProtected(c)
		if err != nil {
			return nil, err
		}
		return [][]byte{b}, nil
	}
	overhead := HeaderLen + skfHeaderLen + ci.IVLen() + ci.ICVLen()
	room := maxLen - overhead // content + padding + Pad Length
	if a := ci.Align(); a > 1 && room > 0 {
		room -= room % a
	}
	chunk := room - 1
	if chunk < 1 {
		return nil, fmt.Errorf("%w: fragment size %d leaves no room for content", ErrEncode, maxLen)
	}
	count := max((n+chunk-1)/chunk, 1)
	if count > 0xffff {
		return nil, fmt.Errorf("%w: %d fragments", ErrTooLarge, count)
	}
	inner := appendPayloads(make([]byte, 0, n), m.Payloads)

	total := 0
	for i := 0; i < count; i++ {
		total += HeaderLen + skfHeaderLen + sealedLen(ci, min(chunk, n-i*chunk))
	}
	buf := make([]byte, total)
	out := make([][]byte, count)
	off := 0
	for i := range out {
		content := inner[i*chunk : min((i+1)*chunk, n)]
		dl := HeaderLen + skfHeaderLen + sealedLen(ci, len(content))
		d := buf[off : off+dl : off+dl]
		off += dl
		next := PayloadNone
		if i == 0 {
			next = firstType(m.Payloads)
		}
		appendHeader(d[:0], &m.Header, PayloadSKF, dl)
		d[HeaderLen] = byte(next)
		d[HeaderLen+1] = 0
		binary.BigEndian.PutUint16(d[HeaderLen+2:], uint16(dl-HeaderLen))
		binary.BigEndian.PutUint16(d[HeaderLen+4:], uint16(i+1))
		binary.BigEndian.PutUint16(d[HeaderLen+6:], uint16(count))
		copy(d[HeaderLen+skfHeaderLen+ci.IVLen():], content)
		if err := seal(c, d, HeaderLen+skfHeaderLen, len(content)); err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// PeekFragment returns the Fragment Number and Total Fragments of an SKF
// message without verifying anything (ok is false if b is not one). It lets
// a responder retransmit its response to an already processed, fragmented
// request once per retransmission (on fragment 1) instead of once per
// fragment (see RFC 7383 §2.6.1).
func PeekFragment(b []byte) (number, total uint16, ok bool) {
	if len(b) < HeaderLen+skfHeaderLen || PayloadType(b[16]) != PayloadSKF {
		return 0, 0, false
	}
	return binary.BigEndian.Uint16(b[HeaderLen+4:]), binary.BigEndian.Uint16(b[HeaderLen+6:]), true
}

// Reassembler defaults.
const (
	// DefaultMaxFragments is the fragment limit of NewReassembler(0, ...).
	DefaultMaxFragments = 64
	// DefaultMaxBytes is the size limit of NewReassembler(..., 0).
	DefaultMaxBytes = MaxMessageLen
)

// Reassembler joins the SKF fragments of one message (RFC 7383 §2.6). Use
// one per IKE SA and direction. It holds the fragments of one message at a
// time, identified by the SPIs, exchange type, Response flag and Message
// ID; a fragment of a different message replaces the collection. The caller
// checks the Message ID is one it expects (and not one it has already
// processed: that is a retransmission) before calling Add.
//
// Every fragment is verified before it changes any state, so forged
// datagrams cannot disturb a reassembly. A Reassembler is not safe for
// concurrent use.
type Reassembler struct {
	maxFragments int // limit on Total Fragments
	maxBytes     int // limit on the reassembled content

	active bool        // a reassembly is in progress
	id     fragID      // message being reassembled
	total  int         // its Total Fragments
	first  Header      // IKE header of fragment 1 (once it arrived)
	next   PayloadType // Next Payload of fragment 1: the first inner payload
	frags  [][]byte    // decrypted content by Fragment Number - 1; nil = missing
	have   int         // fragments present
	bytes  int         // content bytes present
}

// fragID identifies the message a fragment belongs to.
type fragID struct {
	spii, spir uint64
	exchange   ExchangeType
	response   bool
	messageID  uint32
}

// NewReassembler returns a Reassembler accepting messages of at most
// maxFragments fragments and maxBytes bytes of reassembled (decrypted)
// content; values ≤ 0 select DefaultMaxFragments and DefaultMaxBytes.
func NewReassembler(maxFragments, maxBytes int) *Reassembler {
	if maxFragments <= 0 {
		maxFragments = DefaultMaxFragments
	}
	if maxFragments > 0xffff {
		maxFragments = 0xffff
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Reassembler{maxFragments: maxFragments, maxBytes: maxBytes}
}

// Pending returns the number of fragments held for the message being
// reassembled.
func (r *Reassembler) Pending() int { return r.have }

// Reset drops the fragments held (for example when the exchange times out).
func (r *Reassembler) Reset() {
	r.active, r.id, r.total, r.first, r.next = false, fragID{}, 0, Header{}, PayloadNone
	r.frags, r.have, r.bytes = nil, 0, 0
}

// Add verifies and decrypts one SKF datagram b (from the IKE header on) with
// c. When it completes the message, Add returns it with done set: its
// Header is fragment 1's, Protected is true and Fragments the fragment
// count, and the Reassembler is empty again.
//
// Rules of RFC 7383 §2.6.1: a fragment with a higher Total Fragments than
// those held replaces them (the sender re-fragmented); a lower one, a
// duplicate, or a Fragment Number of 0 or above Total Fragments is dropped
// (ErrFragment). Total Fragments above the limit or content above the size
// limit fail with ErrTooLarge (the latter also drops what was held).
// Verification failures wrap ErrAuth; a complete but malformed message
// wraps ErrSyntax or is a *CriticalPayloadError.
func (r *Reassembler) Add(b []byte, c *Crypto) (m *Message, done bool, err error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, false, protectedHeaderError(b, h, err)
	}
	if h.NextPayload != PayloadSKF {
		return nil, false, fmt.Errorf("%w: not an SKF message (first payload %s)", ErrFragment, h.NextPayload)
	}
	body := b[HeaderLen:]
	if len(body) < skfHeaderLen {
		return nil, false, fmt.Errorf("%w: truncated SKF payload header", ErrAuth)
	}
	np := PayloadType(body[0])
	plen := int(binary.BigEndian.Uint16(body[2:]))
	num := int(binary.BigEndian.Uint16(body[4:]))
	total := int(binary.BigEndian.Uint16(body[6:]))
	if plen != len(body) {
		return nil, false, fmt.Errorf("%w: SKF payload length %d, %d bytes remain", ErrAuth, plen, len(body))
	}
	if num == 0 || total == 0 || num > total {
		return nil, false, fmt.Errorf("%w: fragment %d of %d", ErrFragment, num, total)
	}
	if total > r.maxFragments {
		return nil, false, fmt.Errorf("%w: %d fragments, limit %d", ErrTooLarge, total, r.maxFragments)
	}
	id := fragID{spii: h.SPIi, spir: h.SPIr, exchange: h.Exchange, response: h.IsResponse(), messageID: h.MessageID}
	same := r.active && r.id == id
	if same && total < r.total {
		return nil, false, fmt.Errorf("%w: fragment %d of %d, collecting %d", ErrFragment, num, total, r.total)
	}
	if same && total == r.total && r.frags[num-1] != nil {
		return nil, false, fmt.Errorf("%w: duplicate fragment %d of %d", ErrFragment, num, total)
	}
	if c == nil || c.Cipher == nil {
		return nil, false, fmt.Errorf("%w: SKF fragment", ErrNoCrypto)
	}
	content, err := open(c, b, HeaderLen+skfHeaderLen)
	if err != nil {
		return nil, false, fmt.Errorf("fragment %d of %d: %w", num, total, err)
	}
	// Authenticated: from here on the fragment may change state.
	if !same || total > r.total {
		r.Reset()
		r.active, r.id, r.total = true, id, total
		r.frags = make([][]byte, total)
	}
	if r.bytes+len(content) > r.maxBytes {
		r.Reset()
		return nil, false, fmt.Errorf("%w: reassembled message over %d bytes", ErrTooLarge, r.maxBytes)
	}
	r.frags[num-1] = content
	r.have++
	r.bytes += len(content)
	if num == 1 {
		r.first, r.next = h, np
	}
	if r.have < r.total {
		return nil, false, nil
	}

	joined := make([]byte, 0, r.bytes)
	for _, f := range r.frags {
		joined = append(joined, f...)
	}
	first, next, count := r.first, r.next, r.total
	r.Reset()
	st := &decodeState{header: first, response: first.IsResponse()}
	ps, err := parsePayloads(joined, next, st, true)
	if err != nil {
		return nil, false, err
	}
	return &Message{Header: first, Payloads: ps, Protected: true, Fragments: count}, true, nil
}
