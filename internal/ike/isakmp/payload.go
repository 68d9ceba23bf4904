package isakmp

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// PayloadType is an ISAKMP payload type (RFC 2408 §3.1, RFC 3947).
type PayloadType uint8

// Payload types.
const (
	PayloadNone         PayloadType = 0
	PayloadSA           PayloadType = 1
	PayloadProposal     PayloadType = 2
	PayloadTransform    PayloadType = 3
	PayloadKE           PayloadType = 4
	PayloadID           PayloadType = 5
	PayloadCert         PayloadType = 6
	PayloadCertReq      PayloadType = 7
	PayloadHash         PayloadType = 8
	PayloadSig          PayloadType = 9
	PayloadNonce        PayloadType = 10
	PayloadNotification PayloadType = 11
	PayloadDelete       PayloadType = 12
	PayloadVendorID     PayloadType = 13
	PayloadNATD         PayloadType = 20 // RFC 3947
	PayloadNATOA        PayloadType = 21 // RFC 3947
)

func (t PayloadType) String() string {
	switch t {
	case PayloadSA:
		return "SA"
	case PayloadKE:
		return "KE"
	case PayloadID:
		return "ID"
	case PayloadHash:
		return "HASH"
	case PayloadNonce:
		return "No"
	case PayloadNotification:
		return "N"
	case PayloadDelete:
		return "D"
	case PayloadVendorID:
		return "V"
	case PayloadNATD:
		return "NAT-D"
	}
	return fmt.Sprintf("payload %d", uint8(t))
}

// Payload is one decoded payload.
type Payload interface {
	Type() PayloadType
	// body returns the payload without its generic header.
	body() ([]byte, error)
}

// DOI and situation values (RFC 2407 §4.2, §4.6.1).
const (
	DOIIPsec                = 1
	SituationIdentity       = 1
	ProtoISAKMP       uint8 = 1
	ProtoESP          uint8 = 3
	TransformKeyIKE         = 1 // phase 1 transform ID
)

// Attr is a data attribute of a transform (RFC 2408 §3.3): in the basic
// (TV) form when Var is nil, the variable (TLV) form otherwise.
type Attr struct {
	Type uint16
	// Basic is the value of a basic attribute.
	Basic uint16
	// Var is the value of a variable-length attribute (non-nil).
	Var []byte
}

// Value returns the attribute's value as an integer (variable values of
// up to 8 bytes, as lifetimes are sent).
func (a Attr) Value() (uint64, bool) {
	if a.Var == nil {
		return uint64(a.Basic), true
	}
	if len(a.Var) > 8 {
		return 0, false
	}
	var v uint64
	for _, b := range a.Var {
		v = v<<8 | uint64(b)
	}
	return v, true
}

// Uint returns an attribute of type t with value v, basic when it fits.
func Uint(t uint16, v uint64) Attr {
	if v <= 0xffff {
		return Attr{Type: t, Basic: uint16(v)}
	}
	return Attr{Type: t, Var: []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}}
}

// Transform is a transform of a proposal.
type Transform struct {
	Num   uint8
	ID    uint8
	Attrs []Attr
}

// Attr returns the value of the first attribute of type t.
func (t Transform) Attr(typ uint16) (uint64, bool) {
	for _, a := range t.Attrs {
		if a.Type == typ {
			return a.Value()
		}
	}
	return 0, false
}

// Proposal is a proposal of an SA payload.
type Proposal struct {
	Num        uint8
	Protocol   uint8
	SPI        []byte
	Transforms []Transform
}

// SA is the Security Association payload with the IPsec DOI.
type SA struct {
	DOI       uint32
	Situation uint32
	Proposals []Proposal
	// Raw is the payload body as received (SAi_b), nil when built.
	Raw []byte
}

func (*SA) Type() PayloadType { return PayloadSA }

// Body returns the payload body: Raw when decoded, else the encoding
// (SAi_b of HASH_I and HASH_R).
func (p *SA) Body() ([]byte, error) {
	if p.Raw != nil {
		return p.Raw, nil
	}
	return p.body()
}

func (p *SA) body() ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint32(p.DOI)
	b.AddUint32(p.Situation)
	for i, pr := range p.Proposals {
		next := uint8(PayloadNone)
		if i+1 < len(p.Proposals) {
			next = uint8(PayloadProposal)
		}
		if len(pr.SPI) > 255 || len(pr.Transforms) > 255 {
			return nil, fmt.Errorf("%w: proposal too large", ErrEncode)
		}
		b.AddUint8(next)
		b.AddUint8(0)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint8(pr.Num)
			b.AddUint8(pr.Protocol)
			b.AddUint8(uint8(len(pr.SPI)))
			b.AddUint8(uint8(len(pr.Transforms)))
			b.AddBytes(pr.SPI)
			for j, t := range pr.Transforms {
				next := uint8(PayloadNone)
				if j+1 < len(pr.Transforms) {
					next = uint8(PayloadTransform)
				}
				b.AddUint8(next)
				b.AddUint8(0)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
					b.AddUint8(t.Num)
					b.AddUint8(t.ID)
					b.AddUint16(0)
					for _, a := range t.Attrs {
						if a.Var == nil {
							b.AddUint16(a.Type | 0x8000)
							b.AddUint16(a.Basic)
						} else {
							b.AddUint16(a.Type &^ 0x8000)
							b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(a.Var) })
						}
					}
				})
			}
		})
	}
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: SA payload: %v", ErrEncode, err)
	}
	// The proposal and transform lengths include their 4-byte generic
	// headers; cryptobyte's length prefix counts only what follows it.
	return fixLengths(out), nil
}

// fixLengths adds 2 (the next/reserved bytes before the length field) +2
// (the length field itself) to each proposal and transform length written
// by cryptobyte, which counts only the bytes after the length field.
func fixLengths(b []byte) []byte {
	s := b[8:]
	for len(s) >= 4 {
		pl := int(s[2])<<8 | int(s[3])
		putLen(s[2:], pl+4)
		np := int(s[6])
		t := s[8+np : 4+pl]
		for len(t) >= 4 {
			tl := int(t[2])<<8 | int(t[3])
			putLen(t[2:], tl+4)
			t = t[4+tl:]
		}
		s = s[4+pl:]
	}
	return b
}

func putLen(b []byte, n int) { b[0], b[1] = byte(n>>8), byte(n) }

func decodeSA(data []byte) (*SA, error) {
	p := &SA{Raw: append([]byte(nil), data...)}
	s := cryptobyte.String(data)
	if !s.ReadUint32(&p.DOI) || !s.ReadUint32(&p.Situation) {
		return nil, fmt.Errorf("%w: SA truncated", ErrSyntax)
	}
	if p.DOI != DOIIPsec {
		return nil, fmt.Errorf("%w: SA DOI %d", ErrSyntax, p.DOI)
	}
	for next := uint8(PayloadProposal); next != 0; {
		if next != uint8(PayloadProposal) {
			return nil, fmt.Errorf("%w: payload %d inside SA", ErrSyntax, next)
		}
		if len(p.Proposals) == MaxProposals {
			return nil, fmt.Errorf("%w: too many proposals", ErrSyntax)
		}
		var res, spiLen, ntr uint8
		var plen uint16
		var pr Proposal
		var body cryptobyte.String
		if !s.ReadUint8(&next) || !s.ReadUint8(&res) || !s.ReadUint16(&plen) || plen < 8 ||
			!s.ReadBytes((*[]byte)(&body), int(plen)-4) ||
			!body.ReadUint8(&pr.Num) || !body.ReadUint8(&pr.Protocol) || !body.ReadUint8(&spiLen) ||
			!body.ReadUint8(&ntr) || !body.ReadBytes(&pr.SPI, int(spiLen)) {
			return nil, fmt.Errorf("%w: proposal truncated", ErrSyntax)
		}
		pr.SPI = append([]byte(nil), pr.SPI...)
		for tnext := uint8(PayloadTransform); tnext != 0; {
			if tnext != uint8(PayloadTransform) || len(pr.Transforms) == MaxTransforms {
				return nil, fmt.Errorf("%w: bad transform chain", ErrSyntax)
			}
			var tlen uint16
			var t Transform
			var tb cryptobyte.String
			var res16 uint16
			if !body.ReadUint8(&tnext) || !body.ReadUint8(&res) || !body.ReadUint16(&tlen) || tlen < 8 ||
				!body.ReadBytes((*[]byte)(&tb), int(tlen)-4) ||
				!tb.ReadUint8(&t.Num) || !tb.ReadUint8(&t.ID) || !tb.ReadUint16(&res16) {
				return nil, fmt.Errorf("%w: transform truncated", ErrSyntax)
			}
			for len(tb) > 0 {
				if len(t.Attrs) == MaxAttributes {
					return nil, fmt.Errorf("%w: too many attributes", ErrSyntax)
				}
				var at, v uint16
				if !tb.ReadUint16(&at) || !tb.ReadUint16(&v) {
					return nil, fmt.Errorf("%w: attribute truncated", ErrSyntax)
				}
				a := Attr{Type: at &^ 0x8000}
				if at&0x8000 != 0 {
					a.Basic = v
				} else {
					var val []byte
					if !tb.ReadBytes(&val, int(v)) {
						return nil, fmt.Errorf("%w: attribute value truncated", ErrSyntax)
					}
					a.Var = append([]byte{}, val...)
				}
				t.Attrs = append(t.Attrs, a)
			}
			pr.Transforms = append(pr.Transforms, t)
		}
		if len(pr.Transforms) != int(ntr) || len(body) != 0 {
			return nil, fmt.Errorf("%w: proposal %d: %d transforms, header says %d", ErrSyntax, pr.Num, len(pr.Transforms), ntr)
		}
		p.Proposals = append(p.Proposals, pr)
	}
	if len(s) != 0 || len(p.Proposals) == 0 {
		return nil, fmt.Errorf("%w: SA payload has trailing bytes or no proposal", ErrSyntax)
	}
	return p, nil
}

// Data is a payload whose body is opaque bytes: KE, Nonce, HASH, Vendor
// ID, NAT-D.
type Data struct {
	T    PayloadType
	Data []byte
}

func (p *Data) Type() PayloadType     { return p.T }
func (p *Data) body() ([]byte, error) { return p.Data, nil }

// ID types of the IPsec DOI (RFC 2407 §4.6.2.1).
const (
	IDIPv4Addr       uint8 = 1
	IDFQDN           uint8 = 2
	IDUserFQDN       uint8 = 3
	IDIPv4AddrSubnet uint8 = 4
	IDIPv6Addr       uint8 = 5
	IDIPv6AddrSubnet uint8 = 6
	IDIPv4AddrRange  uint8 = 7
	IDIPv6AddrRange  uint8 = 8
	IDKeyID          uint8 = 11
)

// ID is the Identification payload (RFC 2407 §4.6.2).
type ID struct {
	IDType   uint8
	Protocol uint8
	Port     uint16
	Data     []byte
}

func (*ID) Type() PayloadType { return PayloadID }

func (p *ID) body() ([]byte, error) {
	return append([]byte{p.IDType, p.Protocol, byte(p.Port >> 8), byte(p.Port)}, p.Data...), nil
}

// Body returns the payload body (IDii_b / IDir_b of HASH_I and HASH_R).
func (p *ID) Body() []byte { b, _ := p.body(); return b }

// Notify message types used by IKEv1 (RFC 2408 §3.14.1, RFC 2407 §4.6.3,
// RFC 3706).
const (
	NotifyInvalidPayloadType   uint16 = 1
	NotifyInvalidCookie        uint16 = 4
	NotifyNoProposalChosen     uint16 = 14
	NotifyPayloadMalformed     uint16 = 16
	NotifyInvalidIDInfo        uint16 = 18
	NotifyAuthenticationFailed uint16 = 24
	NotifyInvalidHashInfo      uint16 = 23
	NotifyInitialContact       uint16 = 24578
	NotifyRUThere              uint16 = 36136
	NotifyRUThereAck           uint16 = 36137
)

// Notification is the Notification payload.
type Notification struct {
	DOI      uint32
	Protocol uint8
	SPI      []byte
	Notify   uint16
	Data     []byte
}

func (*Notification) Type() PayloadType { return PayloadNotification }

func (p *Notification) body() ([]byte, error) {
	if len(p.SPI) > 255 {
		return nil, fmt.Errorf("%w: notify SPI", ErrEncode)
	}
	var b cryptobyte.Builder
	b.AddUint32(p.DOI)
	b.AddUint8(p.Protocol)
	b.AddUint8(uint8(len(p.SPI)))
	b.AddUint16(p.Notify)
	b.AddBytes(p.SPI)
	b.AddBytes(p.Data)
	return b.BytesOrPanic(), nil
}

func decodeNotification(data []byte) (*Notification, error) {
	p := &Notification{}
	s := cryptobyte.String(data)
	var spiLen uint8
	if !s.ReadUint32(&p.DOI) || !s.ReadUint8(&p.Protocol) || !s.ReadUint8(&spiLen) ||
		!s.ReadUint16(&p.Notify) || !s.ReadBytes(&p.SPI, int(spiLen)) {
		return nil, fmt.Errorf("%w: notification truncated", ErrSyntax)
	}
	p.SPI = append([]byte(nil), p.SPI...)
	p.Data = append([]byte(nil), s...)
	return p, nil
}

// Delete is the Delete payload.
type Delete struct {
	DOI      uint32
	Protocol uint8
	// SPIs all have the same length: 16 (both cookies) for ISAKMP, 4 for
	// ESP.
	SPIs [][]byte
}

func (*Delete) Type() PayloadType { return PayloadDelete }

func (p *Delete) body() ([]byte, error) {
	size := 0
	if len(p.SPIs) > 0 {
		size = len(p.SPIs[0])
	}
	if size > 255 || len(p.SPIs) > 0xffff {
		return nil, fmt.Errorf("%w: delete SPIs", ErrEncode)
	}
	var b cryptobyte.Builder
	b.AddUint32(p.DOI)
	b.AddUint8(p.Protocol)
	b.AddUint8(uint8(size))
	b.AddUint16(uint16(len(p.SPIs)))
	for _, spi := range p.SPIs {
		if len(spi) != size {
			return nil, fmt.Errorf("%w: delete SPIs of different sizes", ErrEncode)
		}
		b.AddBytes(spi)
	}
	return b.BytesOrPanic(), nil
}

func decodeDelete(data []byte) (*Delete, error) {
	p := &Delete{}
	s := cryptobyte.String(data)
	var size uint8
	var n uint16
	if !s.ReadUint32(&p.DOI) || !s.ReadUint8(&p.Protocol) || !s.ReadUint8(&size) || !s.ReadUint16(&n) ||
		len(s) != int(size)*int(n) {
		return nil, fmt.Errorf("%w: delete payload", ErrSyntax)
	}
	for range int(n) {
		var spi []byte
		s.ReadBytes(&spi, int(size))
		p.SPIs = append(p.SPIs, append([]byte(nil), spi...))
	}
	return p, nil
}

// Raw is a payload of a type this package does not decode.
type Raw struct {
	T    PayloadType
	Data []byte
}

func (p *Raw) Type() PayloadType     { return p.T }
func (p *Raw) body() ([]byte, error) { return p.Data, nil }

func decodePayload(t PayloadType, data []byte) (Payload, error) {
	switch t {
	case PayloadSA:
		return decodeSA(data)
	case PayloadKE, PayloadNonce, PayloadHash, PayloadVendorID, PayloadNATD:
		return &Data{T: t, Data: append([]byte(nil), data...)}, nil
	case PayloadID:
		if len(data) < 4 {
			return nil, fmt.Errorf("%w: ID payload truncated", ErrSyntax)
		}
		return &ID{IDType: data[0], Protocol: data[1], Port: uint16(data[2])<<8 | uint16(data[3]),
			Data: append([]byte(nil), data[4:]...)}, nil
	case PayloadNotification:
		return decodeNotification(data)
	case PayloadDelete:
		return decodeDelete(data)
	case PayloadProposal, PayloadTransform:
		return nil, fmt.Errorf("%w: %d outside an SA payload", ErrSyntax, t)
	}
	return &Raw{T: t, Data: append([]byte(nil), data...)}, nil
}

// Vendor IDs vpngw sends and recognises.
var (
	// VendorNATT is MD5("RFC 3947").
	VendorNATT = []byte{0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45, 0x5c, 0x57, 0x28, 0xf2, 0x0e, 0x95, 0x45, 0x2f}
	// VendorDPD is the RFC 3706 vendor ID (version 1.0).
	VendorDPD = []byte{0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00}
)
