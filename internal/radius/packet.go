// Package radius is the RADIUS client a point-to-site gateway relays EAP
// through (RFC 2865, RFC 3579, RFC 2548's MS-MPPE keys): packets and
// attributes, the Response and Message-Authenticator checks, and a client
// that tries servers in score order with retransmissions within Azure's
// 30-second timeout.
//
// Parse checks every length against the buffer and never panics; attribute
// values alias the input.
package radius

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
)

// Code is a RADIUS packet code (RFC 2865 §3).
type Code uint8

// Packet codes.
const (
	AccessRequest   Code = 1
	AccessAccept    Code = 2
	AccessReject    Code = 3
	AccessChallenge Code = 11
)

// String returns the code's RFC name.
func (c Code) String() string {
	switch c {
	case AccessRequest:
		return "Access-Request"
	case AccessAccept:
		return "Access-Accept"
	case AccessReject:
		return "Access-Reject"
	case AccessChallenge:
		return "Access-Challenge"
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// Attribute types used here (RFC 2865 §5, RFC 3579, RFC 2548).
const (
	AttrUserName             = 1
	AttrNASIPAddress         = 4
	AttrServiceType          = 6
	AttrFramedMTU            = 12
	AttrReplyMessage         = 18
	AttrState                = 24
	AttrClass                = 25
	AttrVendorSpecific       = 26
	AttrSessionTimeout       = 27
	AttrCalledStationID      = 30
	AttrCallingStationID     = 31
	AttrNASIdentifier        = 32
	AttrNASPortType          = 61
	AttrEAPMessage           = 79
	AttrMessageAuthenticator = 80
)

// Microsoft vendor attributes (RFC 2548).
const (
	VendorMicrosoft   = 311
	MSMPPESendKey     = 16
	MSMPPERecvKey     = 17
	NASPortTypeVirtal = 5
)

// Lengths.
const (
	HeaderLen = 20
	// MaxLen is the largest RADIUS packet (RFC 2865 §3).
	MaxLen = 4096
	// maxAttrValue is the largest attribute value (its length octet
	// counts the two header octets).
	maxAttrValue = 253
)

// Errors.
var (
	// ErrMalformed: a packet or attribute that does not parse.
	ErrMalformed = errors.New("radius: malformed packet")
	// ErrAuthenticator: a response whose Response Authenticator or
	// Message-Authenticator does not verify with the shared secret.
	ErrAuthenticator = errors.New("radius: response does not authenticate (wrong shared secret?)")
)

// Attr is one attribute.
type Attr struct {
	Type  uint8
	Value []byte
}

// Packet is one RADIUS packet.
type Packet struct {
	Code          Code
	Identifier    uint8
	Authenticator [16]byte
	Attrs         []Attr
}

// Parse decodes a packet; bytes after its Length are padding and ignored
// (RFC 2865 §3).
func Parse(b []byte) (*Packet, error) {
	if len(b) < HeaderLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < HeaderLen || n > MaxLen || n > len(b) {
		return nil, fmt.Errorf("%w: Length %d in %d bytes", ErrMalformed, n, len(b))
	}
	p := &Packet{Code: Code(b[0]), Identifier: b[1]}
	copy(p.Authenticator[:], b[4:20])
	for a := b[HeaderLen:n]; len(a) > 0; {
		if len(a) < 2 || a[1] < 2 || int(a[1]) > len(a) {
			return nil, fmt.Errorf("%w: attribute at offset %d", ErrMalformed, n-len(a))
		}
		p.Attrs = append(p.Attrs, Attr{Type: a[0], Value: a[2:a[1]]})
		a = a[a[1]:]
	}
	return p, nil
}

// Encode returns the packet's bytes. It fails when an attribute value is
// longer than 253 bytes or the packet longer than 4096.
func (p *Packet) Encode() ([]byte, error) {
	n := HeaderLen
	for _, a := range p.Attrs {
		if len(a.Value) > maxAttrValue {
			return nil, fmt.Errorf("radius: attribute %d of %d bytes exceeds %d", a.Type, len(a.Value), maxAttrValue)
		}
		n += 2 + len(a.Value)
	}
	if n > MaxLen {
		return nil, fmt.Errorf("radius: packet of %d bytes exceeds %d", n, MaxLen)
	}
	b := make([]byte, HeaderLen, n)
	b[0], b[1] = byte(p.Code), p.Identifier
	binary.BigEndian.PutUint16(b[2:], uint16(n))
	copy(b[4:], p.Authenticator[:])
	for _, a := range p.Attrs {
		b = append(b, a.Type, byte(2+len(a.Value)))
		b = append(b, a.Value...)
	}
	return b, nil
}

// Get returns the first attribute of type t.
func (p *Packet) Get(t uint8) ([]byte, bool) {
	for _, a := range p.Attrs {
		if a.Type == t {
			return a.Value, true
		}
	}
	return nil, false
}

// Add appends an attribute.
func (p *Packet) Add(t uint8, v []byte) { p.Attrs = append(p.Attrs, Attr{Type: t, Value: v}) }

// AddEAP appends an EAP packet as EAP-Message attributes of at most 253
// bytes each (RFC 3579 §3.1).
func (p *Packet) AddEAP(msg []byte) {
	for len(msg) > maxAttrValue {
		p.Add(AttrEAPMessage, msg[:maxAttrValue])
		msg = msg[maxAttrValue:]
	}
	p.Add(AttrEAPMessage, msg)
}

// EAP joins the packet's EAP-Message attributes; ok is false without one.
func (p *Packet) EAP() (msg []byte, ok bool) {
	for _, a := range p.Attrs {
		if a.Type == AttrEAPMessage {
			msg = append(msg, a.Value...)
			ok = true
		}
	}
	return msg, ok
}

// Vendor returns the first vendor-specific sub-attribute (vendor, typ)
// (RFC 2865 §5.26 with the usual one-octet type and length).
func (p *Packet) Vendor(vendor uint32, typ uint8) ([]byte, bool) {
	for _, a := range p.Attrs {
		v := a.Value
		if a.Type != AttrVendorSpecific || len(v) < 6 || binary.BigEndian.Uint32(v) != vendor {
			continue
		}
		for s := v[4:]; len(s) >= 2 && s[1] >= 2 && int(s[1]) <= len(s); s = s[s[1]:] {
			if s[0] == typ {
				return s[2:s[1]], true
			}
		}
	}
	return nil, false
}

// messageAuthenticator computes the Message-Authenticator of the encoded
// packet b (RFC 3579 §3.2): HMAC-MD5 over the packet with that attribute's
// value zeroed and, for a response, the Request Authenticator in place of
// its own. It returns the offset of the attribute's value (-1: none).
func messageAuthenticator(b []byte, secret []byte, reqAuth *[16]byte) (mac []byte, off int) {
	off = -1
	for i := HeaderLen; i+2 <= len(b) && b[i+1] >= 2 && i+int(b[i+1]) <= len(b); i += int(b[i+1]) {
		if b[i] == AttrMessageAuthenticator && b[i+1] == 18 {
			off = i + 2
			break
		}
	}
	if off < 0 {
		return nil, -1
	}
	c := append([]byte(nil), b...)
	clear(c[off : off+16])
	if reqAuth != nil {
		copy(c[4:20], reqAuth[:])
	}
	h := hmac.New(md5.New, secret)
	h.Write(c)
	return h.Sum(nil), off
}

// EncodeRequest encodes an Access-Request with a Message-Authenticator
// (required with EAP-Message, RFC 3579 §3.2); p.Authenticator must be the
// random Request Authenticator.
func (p *Packet) EncodeRequest(secret []byte) ([]byte, error) {
	q := *p
	q.Attrs = append(append([]Attr(nil), p.Attrs...), Attr{Type: AttrMessageAuthenticator, Value: make([]byte, 16)})
	b, err := q.Encode()
	if err != nil {
		return nil, err
	}
	mac, off := messageAuthenticator(b, secret, nil)
	copy(b[off:], mac)
	return b, nil
}

// VerifyResponse checks a response to the request with Request
// Authenticator reqAuth: its Response Authenticator (RFC 2865 §3) and,
// when present (required with EAP-Message), its Message-Authenticator.
func VerifyResponse(b []byte, secret []byte, reqAuth [16]byte) error {
	if len(b) < HeaderLen {
		return ErrMalformed
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < HeaderLen || n > len(b) {
		return ErrMalformed
	}
	b = b[:n]
	h := md5.New()
	h.Write(b[:4])
	h.Write(reqAuth[:])
	h.Write(b[20:])
	h.Write(secret)
	if !hmac.Equal(h.Sum(nil), b[4:20]) {
		return fmt.Errorf("%w: Response Authenticator", ErrAuthenticator)
	}
	mac, off := messageAuthenticator(b, secret, &reqAuth)
	if off >= 0 && !hmac.Equal(mac, b[off:off+16]) {
		return fmt.Errorf("%w: Message-Authenticator", ErrAuthenticator)
	}
	p, err := Parse(b)
	if err != nil {
		return err
	}
	if _, eap := p.Get(AttrEAPMessage); eap && off < 0 {
		return fmt.Errorf("%w: EAP-Message without a Message-Authenticator", ErrAuthenticator)
	}
	return nil
}

// DecryptMPPEKey recovers an MS-MPPE-Send-Key or -Recv-Key value (RFC 2548
// §2.4.2): Salt(2) then the key encrypted with MD5(secret | request
// authenticator | salt) chains; the plaintext is Key-Length(1), the key,
// padding.
func DecryptMPPEKey(v []byte, secret []byte, reqAuth [16]byte) ([]byte, error) {
	if len(v) < 2+16 || (len(v)-2)%16 != 0 || v[0]&0x80 == 0 {
		return nil, fmt.Errorf("%w: MPPE key attribute of %d bytes", ErrMalformed, len(v))
	}
	salt, c := v[:2], v[2:]
	plain := make([]byte, len(c))
	prev := append(append([]byte(nil), reqAuth[:]...), salt...)
	for i := 0; i < len(c); i += 16 {
		h := md5.New()
		h.Write(secret)
		h.Write(prev)
		b := h.Sum(nil)
		for j := range 16 {
			plain[i+j] = c[i+j] ^ b[j]
		}
		prev = c[i : i+16]
	}
	k := int(plain[0])
	if k == 0 || 1+k > len(plain) {
		return nil, fmt.Errorf("%w: MPPE key length %d in %d bytes", ErrMalformed, k, len(plain))
	}
	return plain[1 : 1+k], nil
}
