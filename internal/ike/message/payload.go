package message

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/crypto/cryptobyte"

	"github.com/vpngw/vpngw/internal/transform"
)

// Payload is one IKEv2 payload. It is implemented (with pointer receivers)
// by *SA, *KE, *ID, *Cert, *CertReq, *Auth, *Nonce, *Notify, *Delete,
// *VendorID, *TS, *CP, *EAP and *Unknown; Encode rejects other
// implementations. The SK and SKF payloads are not Payloads: they are
// produced by EncodeProtected and EncodeFragments and consumed by Decode
// and Reassembler.
//
// The method is PayloadType, not Type, because Notify (like TrafficSelector
// and CPAttribute) has a field Type for the kind of thing it carries.
type Payload interface {
	// PayloadType is the payload type carried in the preceding Next Payload
	// field.
	PayloadType() PayloadType
}

// codec is implemented by every Payload of this package.
type codec interface {
	Payload
	// bodyLen validates the payload for encoding and returns the length of
	// its body (without the generic payload header).
	bodyLen() (int, error)
	// appendBody appends the body; only called after bodyLen succeeded.
	appendBody(b []byte) []byte
}

// SA is a Security Association payload (RFC 7296 §3.3): the proposals of a
// request, or the one accepted proposal of a response.
type SA struct {
	// Proposals in order. Requests number them 1, 2, ... (Decode enforces
	// it); a response carries one proposal with the accepted number.
	Proposals []Proposal
}

// Proposal is a proposal substructure (RFC 7296 §3.3.1).
type Proposal struct {
	// Number is the Proposal Num. When encoding, 0 means "index + 1".
	Number uint8
	// Protocol is IKE, AH or ESP.
	Protocol ProtocolID
	// SPI is the sender's SPI for the new SA: empty in IKE_SA_INIT, 8
	// bytes for an IKE SA rekey, 4 for ESP and AH.
	SPI []byte
	// Transforms in order; at least one.
	Transforms []Transform
}

// Transform is a transform substructure (RFC 7296 §3.3.2).
type Transform struct {
	// Type is the transform type (ENCR, PRF, INTEG, DH, ESN, ...).
	Type transform.Type
	// ID is the transform ID within Type.
	ID transform.ID
	// KeyLength is the Key Length attribute in bits; 0 means absent.
	KeyLength uint16
	// OtherAttributes are the attributes other than one valid Key Length,
	// kept as received. RFC 7296 §3.3.6: a transform with an attribute the
	// receiver does not understand must not be selected (see Usable).
	OtherAttributes []TransformAttribute
}

// Usable reports whether the transform carries only attributes this package
// understands (at most a Key Length), so that proposal selection may pick it.
func (t *Transform) Usable() bool { return len(t.OtherAttributes) == 0 }

// TransformAttribute is a data attribute of a transform (RFC 7296 §3.3.5)
// other than Key Length.
type TransformAttribute struct {
	// Type is the attribute type without the AF bit (0..32767).
	Type uint16
	// TV is true for the Type/Value format (AF=1, a 2-octet value) and
	// false for Type/Length/Value.
	TV bool
	// Value is the attribute value (2 bytes when TV).
	Value []byte
}

const attrKeyLength = 14 // Key Length transform attribute (TV)

// PayloadType implements Payload.
func (*SA) PayloadType() PayloadType { return PayloadSA }

func (p *SA) bodyLen() (int, error) {
	if len(p.Proposals) == 0 {
		return 0, fmt.Errorf("%w: SA payload without proposals", ErrEncode)
	}
	if len(p.Proposals) > MaxProposals {
		return 0, fmt.Errorf("%w: %d proposals", ErrTooLarge, len(p.Proposals))
	}
	n := 0
	for i := range p.Proposals {
		l, err := p.Proposals[i].encodedLen()
		if err != nil {
			return 0, fmt.Errorf("proposal %d: %w", i+1, err)
		}
		n += l
	}
	return n, nil
}

func (p *Proposal) encodedLen() (int, error) {
	if want := p.Protocol.spiLen(); want >= 0 && len(p.SPI) != want && !(p.Protocol == ProtoIKE && len(p.SPI) == 0) {
		return 0, fmt.Errorf("%w: %d-byte SPI for protocol %s", ErrEncode, len(p.SPI), p.Protocol)
	}
	if len(p.SPI) > 255 {
		return 0, fmt.Errorf("%w: %d-byte SPI", ErrEncode, len(p.SPI))
	}
	if len(p.Transforms) == 0 {
		return 0, fmt.Errorf("%w: proposal without transforms", ErrEncode)
	}
	if len(p.Transforms) > MaxTransforms {
		return 0, fmt.Errorf("%w: %d transforms", ErrTooLarge, len(p.Transforms))
	}
	n := 8 + len(p.SPI)
	for i := range p.Transforms {
		l, err := p.Transforms[i].encodedLen()
		if err != nil {
			return 0, err
		}
		n += l
	}
	if n > 0xffff {
		return 0, fmt.Errorf("%w: %d-byte proposal", ErrEncode, n)
	}
	return n, nil
}

func (t *Transform) encodedLen() (int, error) {
	n := 8
	if t.KeyLength != 0 {
		n += 4
	}
	for _, a := range t.OtherAttributes {
		switch {
		case a.Type > 0x7fff:
			return 0, fmt.Errorf("%w: transform attribute type %d", ErrEncode, a.Type)
		case a.TV && len(a.Value) != 2:
			return 0, fmt.Errorf("%w: TV attribute with %d-byte value", ErrEncode, len(a.Value))
		case a.TV:
			n += 4
		default:
			n += 4 + len(a.Value)
		}
	}
	if n > 0xffff {
		return 0, fmt.Errorf("%w: %d-byte transform", ErrEncode, n)
	}
	return n, nil
}

func (p *SA) appendBody(b []byte) []byte {
	for i := range p.Proposals {
		pr := &p.Proposals[i]
		last := byte(2)
		if i == len(p.Proposals)-1 {
			last = 0
		}
		num := pr.Number
		if num == 0 {
			num = uint8(i + 1)
		}
		start := len(b)
		b = append(b, last, 0, 0, 0, num, byte(pr.Protocol), byte(len(pr.SPI)), byte(len(pr.Transforms)))
		b = append(b, pr.SPI...)
		for j := range pr.Transforms {
			t := &pr.Transforms[j]
			tlast := byte(3)
			if j == len(pr.Transforms)-1 {
				tlast = 0
			}
			tstart := len(b)
			b = append(b, tlast, 0, 0, 0, byte(t.Type), 0)
			b = binary.BigEndian.AppendUint16(b, uint16(t.ID))
			if t.KeyLength != 0 {
				b = binary.BigEndian.AppendUint16(b, 0x8000|attrKeyLength)
				b = binary.BigEndian.AppendUint16(b, t.KeyLength)
			}
			for _, a := range t.OtherAttributes {
				if a.TV {
					b = binary.BigEndian.AppendUint16(b, 0x8000|a.Type)
					b = append(b, a.Value...)
				} else {
					b = binary.BigEndian.AppendUint16(b, a.Type)
					b = binary.BigEndian.AppendUint16(b, uint16(len(a.Value)))
					b = append(b, a.Value...)
				}
			}
			binary.BigEndian.PutUint16(b[tstart+2:], uint16(len(b)-tstart))
		}
		binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	}
	return b
}

func parseSA(body []byte, st *decodeState) (*SA, error) {
	s := cryptobyte.String(body)
	if s.Empty() {
		return nil, syntaxf("SA payload without proposals")
	}
	sa := &SA{}
	for !s.Empty() {
		if len(sa.Proposals) == MaxProposals {
			return nil, fmt.Errorf("%w: more than %d proposals", ErrTooLarge, MaxProposals)
		}
		var last uint8
		var plen uint16
		var ps cryptobyte.String
		if !s.ReadUint8(&last) || !s.Skip(1) || !s.ReadUint16(&plen) || plen < 8 || !s.ReadBytes((*[]byte)(&ps), int(plen)-4) {
			return nil, syntaxf("SA: proposal %d: bad proposal length", len(sa.Proposals)+1)
		}
		if want := lastFlag(!s.Empty(), 2); last != want {
			return nil, syntaxf("SA: proposal %d: last-substructure %d, want %d", len(sa.Proposals)+1, last, want)
		}
		pr, err := parseProposal(ps)
		if err != nil {
			return nil, fmt.Errorf("SA: proposal %d: %w", len(sa.Proposals)+1, err)
		}
		if st.response {
			if pr.Number == 0 {
				return nil, syntaxf("SA: proposal number 0")
			}
		} else if int(pr.Number) != len(sa.Proposals)+1 {
			return nil, syntaxf("SA: proposal %d numbered %d", len(sa.Proposals)+1, pr.Number)
		}
		sa.Proposals = append(sa.Proposals, pr)
	}
	return sa, nil
}

// lastFlag is the Last Substruc value: more when more follow, else 0.
func lastFlag(haveMore bool, more uint8) uint8 {
	if haveMore {
		return more
	}
	return 0
}

func parseProposal(s cryptobyte.String) (Proposal, error) {
	var pr Proposal
	var proto, spiSize, n uint8
	if !s.ReadUint8(&pr.Number) || !s.ReadUint8(&proto) || !s.ReadUint8(&spiSize) || !s.ReadUint8(&n) {
		return pr, syntaxf("short proposal")
	}
	pr.Protocol = ProtocolID(proto)
	if want := pr.Protocol.spiLen(); want >= 0 && int(spiSize) != want && !(pr.Protocol == ProtoIKE && spiSize == 0) {
		return pr, syntaxf("%d-byte SPI for protocol %s", spiSize, pr.Protocol)
	}
	var spi []byte
	if !s.ReadBytes(&spi, int(spiSize)) {
		return pr, syntaxf("SPI size %d exceeds the proposal", spiSize)
	}
	pr.SPI = nilIfEmpty(spi)
	if n == 0 {
		return pr, syntaxf("no transforms")
	}
	if n > MaxTransforms {
		return pr, fmt.Errorf("%w: %d transforms", ErrTooLarge, n)
	}
	pr.Transforms = make([]Transform, 0, n)
	for i := 0; i < int(n); i++ {
		var last uint8
		var tlen uint16
		var ts cryptobyte.String
		if !s.ReadUint8(&last) || !s.Skip(1) || !s.ReadUint16(&tlen) || tlen < 8 || !s.ReadBytes((*[]byte)(&ts), int(tlen)-4) {
			return pr, syntaxf("transform %d: bad transform length", i+1)
		}
		if want := lastFlag(i < int(n)-1, 3); last != want {
			return pr, syntaxf("transform %d: last-substructure %d, want %d", i+1, last, want)
		}
		t, err := parseTransform(ts)
		if err != nil {
			return pr, fmt.Errorf("transform %d: %w", i+1, err)
		}
		pr.Transforms = append(pr.Transforms, t)
	}
	if !s.Empty() {
		return pr, syntaxf("%d bytes after the last transform", len(s))
	}
	return pr, nil
}

func parseTransform(s cryptobyte.String) (Transform, error) {
	var t Transform
	var typ uint8
	var id uint16
	if !s.ReadUint8(&typ) || !s.Skip(1) || !s.ReadUint16(&id) {
		return t, syntaxf("short transform")
	}
	t.Type, t.ID = transform.Type(typ), transform.ID(id)
	for !s.Empty() {
		var at uint16
		var v []byte
		if !s.ReadUint16(&at) {
			return t, syntaxf("truncated attribute")
		}
		tv := at&0x8000 != 0
		if tv {
			if !s.ReadBytes(&v, 2) {
				return t, syntaxf("truncated attribute")
			}
		} else {
			var l uint16
			if !s.ReadUint16(&l) || !s.ReadBytes(&v, int(l)) {
				return t, syntaxf("attribute length exceeds the transform")
			}
		}
		at &= 0x7fff
		if tv && at == attrKeyLength && t.KeyLength == 0 && binary.BigEndian.Uint16(v) != 0 {
			t.KeyLength = binary.BigEndian.Uint16(v)
			continue
		}
		t.OtherAttributes = append(t.OtherAttributes, TransformAttribute{Type: at, TV: tv, Value: nilIfEmpty(v)})
	}
	return t, nil
}

// KE is a Key Exchange payload (RFC 7296 §3.4).
type KE struct {
	// Group is the Diffie-Hellman group of Data.
	Group transform.ID
	// Data is the public value; its length is fixed by the group.
	Data []byte
}

// PayloadType implements Payload.
func (*KE) PayloadType() PayloadType { return PayloadKE }

// keDataLen is the length of the key exchange data of a DH group, or 0 when
// this package does not know it.
func keDataLen(g transform.ID) int {
	switch g {
	case transform.DHMODP768:
		return 96
	case transform.DHMODP1024, 22: // 22: MODP-1024 with 160-bit subgroup (RFC 5114)
		return 128
	case transform.DHMODP1536:
		return 192
	case transform.DHMODP2048, 23, transform.DHMODP2048S256: // 23: MODP-2048/224 (RFC 5114)
		return 256
	case transform.DHMODP3072:
		return 384
	case transform.DHMODP4096:
		return 512
	case 17: // MODP-6144
		return 768
	case 18: // MODP-8192
		return 1024
	case transform.DHECP256, 28: // 28: brainpoolP256r1 (RFC 6954)
		return 64
	case transform.DHECP384, 29: // 29: brainpoolP384r1
		return 96
	case transform.DHECP521:
		return 132
	case 25: // ECP-192 (RFC 5114)
		return 48
	case 26, 27, 32: // ECP-224, brainpoolP224r1, Curve448 (RFC 8031)
		return 56
	case 30: // brainpoolP512r1
		return 128
	case transform.DHCurve25519:
		return 32
	}
	return 0
}

func checkKE(g transform.ID, data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("empty key exchange data for group %d", g)
	}
	if want := keDataLen(g); want != 0 && len(data) != want {
		return fmt.Errorf("%d-byte key exchange data for group %d, want %d", len(data), g, want)
	}
	return nil
}

func (p *KE) bodyLen() (int, error) {
	if err := checkKE(p.Group, p.Data); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	return 4 + len(p.Data), nil
}

func (p *KE) appendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(p.Group))
	return append(append(b, 0, 0), p.Data...)
}

func parseKE(body []byte) (*KE, error) {
	if len(body) < 4 {
		return nil, syntaxf("short KE payload")
	}
	p := &KE{Group: transform.ID(binary.BigEndian.Uint16(body)), Data: body[4:]}
	if err := checkKE(p.Group, p.Data); err != nil {
		return nil, fmt.Errorf("%w: KE: %w", ErrSyntax, err)
	}
	return p, nil
}

// ID is an Identification payload (RFC 7296 §3.5): IDi or IDr.
type ID struct {
	// Initiator selects IDi (true) or IDr (false).
	Initiator bool
	// IDType is the type of Data.
	IDType IDType
	// Data is the identification data (4 bytes for IDIPv4Addr, 16 for
	// IDIPv6Addr).
	Data []byte
}

// PayloadType implements Payload: PayloadIDi or PayloadIDr.
func (p *ID) PayloadType() PayloadType {
	if p.Initiator {
		return PayloadIDi
	}
	return PayloadIDr
}

func checkID(t IDType, data []byte) error {
	switch {
	case t == IDIPv4Addr && len(data) != 4:
		return fmt.Errorf("%d-byte ID_IPV4_ADDR", len(data))
	case t == IDIPv6Addr && len(data) != 16:
		return fmt.Errorf("%d-byte ID_IPV6_ADDR", len(data))
	}
	return nil
}

// Body returns the payload body, ID Type ‖ three zero octets ‖ Data: the
// RestOfInitIDPayload / RestOfRespIDPayload that RFC 7296 §2.15 signs or
// MACs in the AUTH payload. (Reserved octets are taken as zero, as
// strongSwan does, whatever was received.)
func (p *ID) Body() []byte {
	return p.appendBody(make([]byte, 0, 4+len(p.Data)))
}

func (p *ID) bodyLen() (int, error) {
	if err := checkID(p.IDType, p.Data); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	return 4 + len(p.Data), nil
}

func (p *ID) appendBody(b []byte) []byte {
	return append(append(b, byte(p.IDType), 0, 0, 0), p.Data...)
}

func parseID(body []byte, initiator bool) (*ID, error) {
	if len(body) < 4 {
		return nil, syntaxf("short ID payload")
	}
	p := &ID{Initiator: initiator, IDType: IDType(body[0]), Data: nilIfEmpty(body[4:])}
	if err := checkID(p.IDType, p.Data); err != nil {
		return nil, fmt.Errorf("%w: ID: %w", ErrSyntax, err)
	}
	return p, nil
}

// Cert is a Certificate payload (RFC 7296 §3.6).
type Cert struct {
	// Encoding is the certificate encoding (CertX509Signature, ...).
	Encoding uint8
	// Data is the certificate data.
	Data []byte
}

// PayloadType implements Payload.
func (*Cert) PayloadType() PayloadType { return PayloadCERT }

func (p *Cert) bodyLen() (int, error) { return 1 + len(p.Data), nil }

func (p *Cert) appendBody(b []byte) []byte { return append(append(b, p.Encoding), p.Data...) }

// CertReq is a Certificate Request payload (RFC 7296 §3.7).
type CertReq struct {
	// Encoding is the requested certificate encoding.
	Encoding uint8
	// Data is the certification authority field: for X.509, concatenated
	// SHA-1 hashes of trusted CAs' public keys.
	Data []byte
}

// PayloadType implements Payload.
func (*CertReq) PayloadType() PayloadType { return PayloadCERTREQ }

func (p *CertReq) bodyLen() (int, error) { return 1 + len(p.Data), nil }

func (p *CertReq) appendBody(b []byte) []byte { return append(append(b, p.Encoding), p.Data...) }

// Auth is an Authentication payload (RFC 7296 §3.8).
type Auth struct {
	// Method is the authentication method.
	Method AuthMethod
	// Data is the authentication data (MAC or signature).
	Data []byte
}

// PayloadType implements Payload.
func (*Auth) PayloadType() PayloadType { return PayloadAUTH }

func (p *Auth) bodyLen() (int, error) { return 4 + len(p.Data), nil }

func (p *Auth) appendBody(b []byte) []byte {
	return append(append(b, byte(p.Method), 0, 0, 0), p.Data...)
}

// Nonce is a Nonce payload (RFC 7296 §3.9).
type Nonce struct {
	// Data is the nonce: 16 to 256 bytes.
	Data []byte
}

// PayloadType implements Payload.
func (*Nonce) PayloadType() PayloadType { return PayloadNonce }

// Nonce length bounds (RFC 7296 §3.9).
const (
	MinNonceLen = 16
	MaxNonceLen = 256
)

func (p *Nonce) bodyLen() (int, error) {
	if len(p.Data) < MinNonceLen || len(p.Data) > MaxNonceLen {
		return 0, fmt.Errorf("%w: %d-byte nonce", ErrEncode, len(p.Data))
	}
	return len(p.Data), nil
}

func (p *Nonce) appendBody(b []byte) []byte { return append(b, p.Data...) }

// Notify is a Notify payload (RFC 7296 §3.10).
type Notify struct {
	// Protocol is the protocol of the SA the notify is about (ESP or AH for
	// Child SAs). RFC 7296 §3.10: it is sent as zero, and ignored on
	// receipt (Decode sets 0), when SPI is empty.
	Protocol ProtocolID
	// SPI is the SPI of that SA; empty for notifies about the IKE SA. Its
	// length is the SPI Size field.
	SPI []byte
	// Type is the notify message type.
	Type NotifyType
	// Data is the notification data.
	Data []byte
}

// PayloadType implements Payload. (The notify message type is the field
// Type.)
func (*Notify) PayloadType() PayloadType { return PayloadNotify }

func (p *Notify) bodyLen() (int, error) {
	if len(p.SPI) > 255 {
		return 0, fmt.Errorf("%w: %d-byte notify SPI", ErrEncode, len(p.SPI))
	}
	return 4 + len(p.SPI) + len(p.Data), nil
}

func (p *Notify) appendBody(b []byte) []byte {
	proto := p.Protocol
	if len(p.SPI) == 0 {
		proto = 0
	}
	b = append(b, byte(proto), byte(len(p.SPI)))
	b = binary.BigEndian.AppendUint16(b, uint16(p.Type))
	return append(append(b, p.SPI...), p.Data...)
}

func parseNotify(body []byte) (*Notify, error) {
	if len(body) < 4 {
		return nil, syntaxf("short Notify payload")
	}
	spi := int(body[1])
	if spi > len(body)-4 {
		return nil, syntaxf("Notify: SPI size %d exceeds the payload", spi)
	}
	n := &Notify{
		Type: NotifyType(binary.BigEndian.Uint16(body[2:])),
		SPI:  nilIfEmpty(body[4 : 4+spi]),
		Data: nilIfEmpty(body[4+spi:]),
	}
	if spi > 0 {
		n.Protocol = ProtocolID(body[0])
	}
	return n, nil
}

// Delete is a Delete payload (RFC 7296 §3.11).
type Delete struct {
	// Protocol is IKE (SPIs empty: the IKE SA of the message), ESP or AH.
	Protocol ProtocolID
	// SPIs are the SPIs to delete (4 bytes each for ESP and AH). The SPI
	// Size field is derived: 0 for IKE, 4 for ESP and AH.
	SPIs [][]byte
}

// PayloadType implements Payload.
func (*Delete) PayloadType() PayloadType { return PayloadDelete }

func (p *Delete) spiSize() (int, error) {
	switch want := p.Protocol.spiLen(); {
	case p.Protocol == ProtoIKE:
		if len(p.SPIs) != 0 {
			return 0, fmt.Errorf("%w: IKE SA delete with SPIs", ErrEncode)
		}
		return 0, nil
	case want > 0:
		for _, s := range p.SPIs {
			if len(s) != want {
				return 0, fmt.Errorf("%w: %d-byte %s SPI", ErrEncode, len(s), p.Protocol)
			}
		}
		return want, nil
	default:
		if len(p.SPIs) == 0 {
			return 0, nil
		}
		size := len(p.SPIs[0])
		for _, s := range p.SPIs {
			if len(s) != size || size == 0 || size > 255 {
				return 0, fmt.Errorf("%w: delete SPIs of unequal or bad size", ErrEncode)
			}
		}
		return size, nil
	}
}

func (p *Delete) bodyLen() (int, error) {
	size, err := p.spiSize()
	if err != nil {
		return 0, err
	}
	if len(p.SPIs) > 0xffff {
		return 0, fmt.Errorf("%w: %d SPIs", ErrTooLarge, len(p.SPIs))
	}
	return 4 + size*len(p.SPIs), nil
}

func (p *Delete) appendBody(b []byte) []byte {
	size, _ := p.spiSize()
	b = append(b, byte(p.Protocol), byte(size))
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.SPIs)))
	for _, s := range p.SPIs {
		b = append(b, s...)
	}
	return b
}

func parseDelete(body []byte) (*Delete, error) {
	if len(body) < 4 {
		return nil, syntaxf("short Delete payload")
	}
	p := &Delete{Protocol: ProtocolID(body[0])}
	size, n, rest := int(body[1]), int(binary.BigEndian.Uint16(body[2:])), body[4:]
	switch want := p.Protocol.spiLen(); {
	case p.Protocol == ProtoIKE:
		if size != 0 || n != 0 {
			return nil, syntaxf("Delete: IKE SA delete with SPI size %d, %d SPIs", size, n)
		}
	case want > 0 && size != want:
		return nil, syntaxf("Delete: SPI size %d for protocol %s", size, p.Protocol)
	case size == 0 && n != 0:
		return nil, syntaxf("Delete: %d SPIs of size 0", n)
	}
	if size*n != len(rest) {
		return nil, syntaxf("Delete: %d SPIs of %d bytes in %d bytes", n, size, len(rest))
	}
	if n > 0 {
		p.SPIs = make([][]byte, n)
		for i := range p.SPIs {
			p.SPIs[i] = rest[i*size : (i+1)*size : (i+1)*size]
		}
	}
	return p, nil
}

// VendorID is a Vendor ID payload (RFC 7296 §3.12).
type VendorID struct {
	// Data is the vendor ID (usually a hash).
	Data []byte
}

// PayloadType implements Payload.
func (*VendorID) PayloadType() PayloadType { return PayloadVendorID }

func (p *VendorID) bodyLen() (int, error) { return len(p.Data), nil }

func (p *VendorID) appendBody(b []byte) []byte { return append(b, p.Data...) }

// TrafficSelector is one traffic selector (RFC 7296 §3.13.1).
type TrafficSelector struct {
	// Type is TSIPv4AddrRange or TSIPv6AddrRange (others are kept raw in
	// Data).
	Type TSType
	// IPProtocol is the IP protocol number; 0 means any.
	IPProtocol uint8
	// StartPort and EndPort bound the port range (0..65535 is any; 65535..0
	// is OPAQUE).
	StartPort, EndPort uint16
	// StartAddr and EndAddr bound the address range (IPv4 addresses for
	// TSIPv4AddrRange, IPv6 for TSIPv6AddrRange).
	StartAddr, EndAddr netip.Addr
	// Data is, for selector types other than the address ranges, the
	// selector after its 4-octet header (TS Type, IP Protocol ID / reserved,
	// Selector Length); nil for address ranges.
	Data []byte
}

func (s *TrafficSelector) encodedLen() (int, error) {
	switch s.Type {
	case TSIPv4AddrRange:
		if !s.StartAddr.Is4() || !s.EndAddr.Is4() {
			return 0, fmt.Errorf("%w: TS_IPV4_ADDR_RANGE with %v-%v", ErrEncode, s.StartAddr, s.EndAddr)
		}
		return 16, nil
	case TSIPv6AddrRange:
		if !s.StartAddr.Is6() || s.StartAddr.Is4In6() || !s.EndAddr.Is6() || s.EndAddr.Is4In6() {
			return 0, fmt.Errorf("%w: TS_IPV6_ADDR_RANGE with %v-%v", ErrEncode, s.StartAddr, s.EndAddr)
		}
		return 40, nil
	}
	if 4+len(s.Data) > 0xffff {
		return 0, fmt.Errorf("%w: %d-byte selector", ErrEncode, len(s.Data))
	}
	return 4 + len(s.Data), nil
}

// TS is a Traffic Selector payload (RFC 7296 §3.13): TSi or TSr.
type TS struct {
	// Initiator selects TSi (true) or TSr (false).
	Initiator bool
	// Selectors in order.
	Selectors []TrafficSelector
}

// PayloadType implements Payload: PayloadTSi or PayloadTSr.
func (p *TS) PayloadType() PayloadType {
	if p.Initiator {
		return PayloadTSi
	}
	return PayloadTSr
}

func (p *TS) bodyLen() (int, error) {
	if len(p.Selectors) > MaxSelectors {
		return 0, fmt.Errorf("%w: %d traffic selectors", ErrTooLarge, len(p.Selectors))
	}
	n := 4
	for i := range p.Selectors {
		l, err := p.Selectors[i].encodedLen()
		if err != nil {
			return 0, err
		}
		n += l
	}
	return n, nil
}

func (p *TS) appendBody(b []byte) []byte {
	b = append(b, byte(len(p.Selectors)), 0, 0, 0)
	for i := range p.Selectors {
		s := &p.Selectors[i]
		l, _ := s.encodedLen()
		b = append(b, byte(s.Type), s.IPProtocol)
		b = binary.BigEndian.AppendUint16(b, uint16(l))
		switch s.Type {
		case TSIPv4AddrRange, TSIPv6AddrRange:
			b = binary.BigEndian.AppendUint16(b, s.StartPort)
			b = binary.BigEndian.AppendUint16(b, s.EndPort)
			b = append(b, s.StartAddr.AsSlice()...)
			b = append(b, s.EndAddr.AsSlice()...)
		default:
			b = append(b, s.Data...)
		}
	}
	return b
}

func parseTS(body []byte, initiator bool) (*TS, error) {
	if len(body) < 4 {
		return nil, syntaxf("short TS payload")
	}
	n := int(body[0])
	if n > MaxSelectors {
		return nil, fmt.Errorf("%w: %d traffic selectors", ErrTooLarge, n)
	}
	p := &TS{Initiator: initiator}
	if n > 0 {
		p.Selectors = make([]TrafficSelector, 0, n)
	}
	s := cryptobyte.String(body[4:])
	for i := 0; i < n; i++ {
		var typ, proto uint8
		var l uint16
		var sel cryptobyte.String
		if !s.ReadUint8(&typ) || !s.ReadUint8(&proto) || !s.ReadUint16(&l) || l < 4 || !s.ReadBytes((*[]byte)(&sel), int(l)-4) {
			return nil, syntaxf("TS: selector %d: bad selector length", i+1)
		}
		ts := TrafficSelector{Type: TSType(typ), IPProtocol: proto}
		switch ts.Type {
		case TSIPv4AddrRange, TSIPv6AddrRange:
			alen := 4
			if ts.Type == TSIPv6AddrRange {
				alen = 16
			}
			var start, end []byte
			if len(sel) != 4+2*alen || !sel.ReadUint16(&ts.StartPort) || !sel.ReadUint16(&ts.EndPort) ||
				!sel.ReadBytes(&start, alen) || !sel.ReadBytes(&end, alen) {
				return nil, syntaxf("TS: selector %d: %d-byte %s", i+1, l, ts.Type)
			}
			ts.StartAddr, _ = netip.AddrFromSlice(start)
			ts.EndAddr, _ = netip.AddrFromSlice(end)
		default:
			ts.Data = nilIfEmpty(sel)
		}
		p.Selectors = append(p.Selectors, ts)
	}
	if !s.Empty() {
		return nil, syntaxf("TS: %d bytes after %d selectors", len(s), n)
	}
	return p, nil
}

// CPAttribute is a configuration attribute (RFC 7296 §3.15.1).
type CPAttribute struct {
	// Type is the attribute type (CPInternalIP4Address, ...), 0..32767.
	Type uint16
	// Value is the attribute value; empty in requests for "any".
	Value []byte
}

// CP is a Configuration payload (RFC 7296 §3.15).
type CP struct {
	// CPType is CFG_REQUEST, CFG_REPLY, CFG_SET or CFG_ACK.
	CPType CPType
	// Attributes in order.
	Attributes []CPAttribute
}

// PayloadType implements Payload.
func (*CP) PayloadType() PayloadType { return PayloadCP }

func (p *CP) bodyLen() (int, error) {
	if len(p.Attributes) > MaxCPAttributes {
		return 0, fmt.Errorf("%w: %d configuration attributes", ErrTooLarge, len(p.Attributes))
	}
	n := 4
	for _, a := range p.Attributes {
		if a.Type > 0x7fff || len(a.Value) > 0xffff {
			return 0, fmt.Errorf("%w: configuration attribute %d", ErrEncode, a.Type)
		}
		n += 4 + len(a.Value)
	}
	return n, nil
}

func (p *CP) appendBody(b []byte) []byte {
	b = append(b, byte(p.CPType), 0, 0, 0)
	for _, a := range p.Attributes {
		b = binary.BigEndian.AppendUint16(b, a.Type)
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.Value)))
		b = append(b, a.Value...)
	}
	return b
}

func parseCP(body []byte) (*CP, error) {
	if len(body) < 4 {
		return nil, syntaxf("short CP payload")
	}
	p := &CP{CPType: CPType(body[0])}
	s := cryptobyte.String(body[4:])
	for !s.Empty() {
		if len(p.Attributes) == MaxCPAttributes {
			return nil, fmt.Errorf("%w: more than %d configuration attributes", ErrTooLarge, MaxCPAttributes)
		}
		var typ uint16
		var v []byte
		if !s.ReadUint16(&typ) || !s.ReadUint16LengthPrefixed((*cryptobyte.String)(&v)) {
			return nil, syntaxf("CP: attribute %d: bad length", len(p.Attributes)+1)
		}
		// The R bit is reserved: ignored on receipt.
		p.Attributes = append(p.Attributes, CPAttribute{Type: typ & 0x7fff, Value: nilIfEmpty(v)})
	}
	return p, nil
}

// EAP is an Extensible Authentication payload (RFC 7296 §3.16).
type EAP struct {
	// Data is one EAP message (RFC 3748), whose own Length field must equal
	// len(Data).
	Data []byte
}

// PayloadType implements Payload.
func (*EAP) PayloadType() PayloadType { return PayloadEAP }

func checkEAP(b []byte) error {
	if len(b) < 4 || int(binary.BigEndian.Uint16(b[2:])) != len(b) {
		return fmt.Errorf("EAP message length does not match its %d bytes", len(b))
	}
	return nil
}

func (p *EAP) bodyLen() (int, error) {
	if err := checkEAP(p.Data); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	return len(p.Data), nil
}

func (p *EAP) appendBody(b []byte) []byte { return append(b, p.Data...) }

// Unknown is a payload of a type this package does not parse, kept raw.
// Decode only produces it for non-critical payloads (a critical one fails
// with *CriticalPayloadError).
type Unknown struct {
	// PType is the payload type; encoding rejects the types this package
	// knows and PayloadNone.
	PType PayloadType
	// Critical is the Critical bit of the generic payload header.
	Critical bool
	// Data is the payload body after the generic payload header.
	Data []byte
}

// PayloadType implements Payload.
func (p *Unknown) PayloadType() PayloadType { return p.PType }

func (p *Unknown) bodyLen() (int, error) {
	if p.PType == PayloadNone || p.PType.known() {
		return 0, fmt.Errorf("%w: Unknown payload with type %s", ErrEncode, p.PType)
	}
	return len(p.Data), nil
}

func (p *Unknown) appendBody(b []byte) []byte { return append(b, p.Data...) }

// nilIfEmpty returns nil for an empty slice, so that decoded messages compare
// equal to ones built with nil fields.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func syntaxf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrSyntax}, args...)...)
}
