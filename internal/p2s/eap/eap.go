// Package eap is the wire format of the Extensible Authentication Protocol
// (RFC 3748) as a point-to-site gateway speaks it inside IKEv2 (RFC 7296
// §2.16) and relays it to RADIUS (RFC 3579): the four-byte header, the
// Type of Requests and Responses, and the Identity and Nak types. The
// methods themselves (EAP-MSCHAPv2, EAP-TLS) live in their own packages
// and build on Packet.
//
// Parse checks every length against the buffer and never panics; the
// result aliases the input.
package eap

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Code is the EAP packet code (RFC 3748 §4).
type Code uint8

// EAP codes.
const (
	CodeRequest  Code = 1
	CodeResponse Code = 2
	CodeSuccess  Code = 3
	CodeFailure  Code = 4
)

// String returns the code's RFC name.
func (c Code) String() string {
	switch c {
	case CodeRequest:
		return "Request"
	case CodeResponse:
		return "Response"
	case CodeSuccess:
		return "Success"
	case CodeFailure:
		return "Failure"
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// Type is the EAP method type of a Request or Response (RFC 3748 §5,
// IANA "EAP Method Types").
type Type uint8

// EAP types.
const (
	TypeIdentity     Type = 1
	TypeNotification Type = 2
	TypeNak          Type = 3 // legacy Nak: Response only
	TypeTLS          Type = 13
	TypeMSCHAPv2     Type = 26
)

// String returns the type's name.
func (t Type) String() string {
	switch t {
	case TypeIdentity:
		return "Identity"
	case TypeNotification:
		return "Notification"
	case TypeNak:
		return "Nak"
	case TypeTLS:
		return "TLS"
	case TypeMSCHAPv2:
		return "MSCHAPv2"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// HeaderLen is the length of the Code, Identifier and Length fields.
const HeaderLen = 4

// MaxLen is the largest EAP packet: its Length field is 16 bits.
const MaxLen = 0xffff

// ErrMalformed is returned for a packet that does not parse.
var ErrMalformed = errors.New("eap: malformed packet")

// Packet is one EAP packet. Type and Data are set for Requests and
// Responses only (Success and Failure have no Type).
type Packet struct {
	Code       Code
	Identifier uint8
	Type       Type
	// Data follows the Type octet (Requests and Responses).
	Data []byte
}

// Parse decodes one EAP packet. b may be longer than the packet (IKEv2's
// EAP payload is exactly one packet; bytes after Length are refused so
// that nothing is silently ignored).
func Parse(b []byte) (Packet, error) {
	if len(b) < HeaderLen {
		return Packet{}, fmt.Errorf("%w: %d bytes, shorter than the header", ErrMalformed, len(b))
	}
	p := Packet{Code: Code(b[0]), Identifier: b[1]}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n != len(b) {
		return Packet{}, fmt.Errorf("%w: Length %d, packet of %d bytes", ErrMalformed, n, len(b))
	}
	switch p.Code {
	case CodeSuccess, CodeFailure:
		if n != HeaderLen {
			return Packet{}, fmt.Errorf("%w: %v with %d data bytes", ErrMalformed, p.Code, n-HeaderLen)
		}
	case CodeRequest, CodeResponse:
		if n < HeaderLen+1 {
			return Packet{}, fmt.Errorf("%w: %v without a Type", ErrMalformed, p.Code)
		}
		p.Type = Type(b[4])
		p.Data = b[5:n]
		if p.Type == 254 || p.Type == 255 {
			// Expanded types and experimental use: not spoken here.
			return p, nil
		}
	default:
		return Packet{}, fmt.Errorf("%w: unknown code %d", ErrMalformed, b[0])
	}
	return p, nil
}

// Len is the packet's encoded length.
func (p Packet) Len() int {
	if p.Code == CodeRequest || p.Code == CodeResponse {
		return HeaderLen + 1 + len(p.Data)
	}
	return HeaderLen
}

// Append encodes p after b. It fails only if the packet is longer than
// MaxLen.
func (p Packet) Append(b []byte) ([]byte, error) {
	n := p.Len()
	if n > MaxLen {
		return b, fmt.Errorf("eap: %d-byte packet exceeds %d", n, MaxLen)
	}
	b = append(b, byte(p.Code), p.Identifier, byte(n>>8), byte(n))
	if p.Code == CodeRequest || p.Code == CodeResponse {
		b = append(b, byte(p.Type))
		b = append(b, p.Data...)
	}
	return b, nil
}

// Marshal encodes p.
func (p Packet) Marshal() ([]byte, error) { return p.Append(make([]byte, 0, p.Len())) }

// Nak returns the types a legacy Nak Response asks for instead (RFC 3748
// §5.3.1); ok is false when p is not a Nak Response or lists nothing.
func (p Packet) Nak() (types []Type, ok bool) {
	if p.Code != CodeResponse || p.Type != TypeNak || len(p.Data) == 0 {
		return nil, false
	}
	for _, t := range p.Data {
		types = append(types, Type(t))
	}
	return types, true
}
