// Package eaptls is EAP-TLS on the authenticator side, as a point-to-site
// gateway terminates it inside IKEv2: RFC 5216 with TLS 1.2 and RFC 9190
// with TLS 1.3. It has the EAP-TLS framing (Flags with L, M and S, the
// TLS Message Length, fragmentation and reassembly both ways with
// limits), Go's crypto/tls as the TLS server over that framing, the
// client's certificate chain checked by a callback (the gateway's roots
// and revoked thumbprints, again on a resumed session), the MSK, EMSK
// and Session-Id of each RFC, and session resumption from the gateway's
// rotating ticket keys (TicketKeys).
//
// The exchange with TLS 1.2 (the default; Config.MaxVersion offers 1.3):
//
//	gateway                                       client
//	Request  TLS Start (S)                  ─►
//	                                        ◄─ Response  ClientHello
//	Request  ServerHello..ServerHelloDone   ─►   (fragments: L+M first,
//	                                        ◄─ Response  (empty: ack)   M on all but the last,
//	Request  (next fragment) ...            ─►   each acknowledged)
//	                                        ◄─ Response  Certificate..Finished (fragmented too)
//	Request  [NewSessionTicket,] CCS, Finished ─►
//	                                        ◄─ Response  (empty)
//	EAP-Success                             ─►
//
// With TLS 1.3 (RFC 9190 §2.1.1), the server's first flight runs from
// ServerHello to its Finished; after the client's Certificate..Finished
// the gateway sends [NewSessionTicket and] the protected success
// indication (one octet 0x00 of application data), the client
// acknowledges with an empty Response, and EAP-Success follows. A resumed
// 1.3 session skips the certificates (ServerHello, EncryptedExtensions,
// Finished; the client's Finished; the indication; the ack); a resumed
// 1.2 session ends with EAP-Success right after the client's Finished.
//
// Server.Handle is synchronous: crypto/tls runs in a goroutine of its own
// over an in-memory connection, and Handle hands it the client's
// reassembled TLS bytes and waits until it wants more or is done, so the
// caller (the IKE engine's goroutine) sees one call per EAP message. The
// goroutine ends with the handshake, with Close, or after
// HandshakeTimeout.
package eaptls

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Flags of an EAP-TLS message (RFC 5216 §3.1).
const (
	FlagLength = 0x80 // L: the TLS Message Length field is present
	FlagMore   = 0x40 // M: more fragments follow
	FlagStart  = 0x20 // S: EAP-TLS Start (server only)
)

// Limits.
const (
	// DefaultFragment is the largest TLS payload the server puts in one
	// EAP-TLS Request (strongSwan's own default is 1024 bytes of EAP).
	DefaultFragment = 1000
	// DefaultMaxMessage bounds a reassembled TLS message from the client
	// (the TLS Message Length it announces and the bytes it sends).
	DefaultMaxMessage = 64 << 10
	// DefaultMaxRounds bounds the EAP round trips of one exchange.
	DefaultMaxRounds = 64
)

// Errors; callers branch on them with errors.Is.
var (
	// ErrMalformed: an EAP-TLS message that does not parse or does not
	// fit the fragments before it.
	ErrMalformed = errors.New("eaptls: malformed message")
	// ErrTooLarge: a message over the reassembly limit.
	ErrTooLarge = errors.New("eaptls: message too large")
	// ErrAuthFailed: the TLS handshake failed (the client's certificate
	// was refused, or the client gave up).
	ErrAuthFailed = errors.New("eaptls: authentication failed")
	// ErrState: a message that does not fit the exchange so far.
	ErrState = errors.New("eaptls: unexpected message")
)

// Message is the data of one EAP-TLS packet (what follows the EAP Type
// octet).
type Message struct {
	Flags uint8
	// Length is the TLS Message Length (meaningful with FlagLength).
	Length uint32
	// Data is this fragment of TLS data; it aliases the parsed buffer.
	Data []byte
}

// ParseMessage decodes the data of an EAP-TLS packet. It never panics.
func ParseMessage(b []byte) (Message, error) {
	if len(b) < 1 {
		return Message{}, fmt.Errorf("%w: no Flags octet", ErrMalformed)
	}
	m := Message{Flags: b[0], Data: b[1:]}
	if m.Flags&FlagLength != 0 {
		if len(b) < 5 {
			return Message{}, fmt.Errorf("%w: L flag set, %d bytes", ErrMalformed, len(b))
		}
		m.Length = binary.BigEndian.Uint32(b[1:5])
		m.Data = b[5:]
	}
	return m, nil
}

// Append encodes m after b.
func (m Message) Append(b []byte) []byte {
	b = append(b, m.Flags)
	if m.Flags&FlagLength != 0 {
		b = binary.BigEndian.AppendUint32(b, m.Length)
	}
	return append(b, m.Data...)
}

// Reassembler collects the fragments of one TLS message (RFC 5216 §2.1.5).
// The zero value is not usable; make one with a limit.
type Reassembler struct {
	max  int
	want int // announced TLS Message Length, -1 when none
	buf  []byte
	open bool // a fragment with M arrived: more are due
}

// NewReassembler returns a Reassembler accepting messages of up to max
// bytes.
func NewReassembler(max int) *Reassembler { return &Reassembler{max: max, want: -1} }

// Add takes one fragment. It returns the whole message (and resets) when
// m is the last fragment, or nil when more are due (the caller
// acknowledges with an empty message). The returned slice is the
// reassembler's own until the next Add.
func (r *Reassembler) Add(m Message) ([]byte, error) {
	if m.Flags&FlagLength != 0 {
		switch {
		case int64(m.Length) > int64(r.max):
			return nil, fmt.Errorf("%w: TLS Message Length %d over the limit of %d", ErrTooLarge, m.Length, r.max)
		case r.open && int(m.Length) != r.want && r.want >= 0:
			return nil, fmt.Errorf("%w: TLS Message Length changed from %d to %d between fragments", ErrMalformed, r.want, m.Length)
		case !r.open:
			r.want = int(m.Length)
		}
	}
	if m.Flags&FlagMore != 0 && len(m.Data) == 0 {
		return nil, fmt.Errorf("%w: empty fragment with M set", ErrMalformed)
	}
	if len(r.buf)+len(m.Data) > r.max {
		return nil, fmt.Errorf("%w: fragments of over %d bytes", ErrTooLarge, r.max)
	}
	if r.want >= 0 && len(r.buf)+len(m.Data) > r.want {
		return nil, fmt.Errorf("%w: %d bytes of fragments for a TLS Message Length of %d", ErrMalformed, len(r.buf)+len(m.Data), r.want)
	}
	r.buf = append(r.buf, m.Data...)
	if m.Flags&FlagMore != 0 {
		r.open = true
		return nil, nil
	}
	if r.want >= 0 && len(r.buf) != r.want {
		return nil, fmt.Errorf("%w: %d bytes for a TLS Message Length of %d", ErrMalformed, len(r.buf), r.want)
	}
	out := r.buf
	r.buf, r.want, r.open = r.buf[len(r.buf):], -1, false
	return out, nil
}

// Pending reports whether fragments of an unfinished message are held.
func (r *Reassembler) Pending() bool { return r.open }

// Fragmenter cuts an outgoing TLS message into EAP-TLS messages of at most
// size bytes of TLS data each: the first carries L (when there is more
// than one), all but the last M.
type Fragmenter struct {
	size  int
	total int
	rest  []byte
	first bool
}

// NewFragmenter starts sending msg in fragments of size bytes.
func NewFragmenter(msg []byte, size int) *Fragmenter {
	return &Fragmenter{size: size, total: len(msg), rest: msg, first: true}
}

// Next returns the next fragment; last is true for the final one.
func (f *Fragmenter) Next() (m Message, last bool) {
	n := min(len(f.rest), f.size)
	m.Data, f.rest = f.rest[:n], f.rest[n:]
	if len(f.rest) > 0 {
		m.Flags |= FlagMore
		if f.first {
			m.Flags |= FlagLength
			m.Length = uint32(f.total)
		}
	}
	f.first = false
	return m, len(f.rest) == 0
}

// Done reports whether every fragment was returned.
func (f *Fragmenter) Done() bool { return !f.first && len(f.rest) == 0 }
