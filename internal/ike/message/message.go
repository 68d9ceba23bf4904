package message

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Message is an IKEv2 message: the header and its payloads.
type Message struct {
	Header
	// Payloads are the payloads in order. For a protected message they are
	// the inner (decrypted) payloads: the SK or SKF wrapper is not listed.
	Payloads []Payload
	// Protected reports that Decode or a Reassembler found the payloads
	// inside an SK payload or SKF fragments (verified and decrypted). It
	// is ignored when encoding: Encode never protects, EncodeProtected and
	// EncodeFragments always do.
	Protected bool
	// Fragments is the number of SKF fragments a Reassembler joined to
	// build the message, 0 if it was not fragmented. RFC 7383 §2.5.1: a
	// response to a fragmented request should be fragmented too.
	Fragments int
}

// Find returns the first payload of type t, or nil.
func (m *Message) Find(t PayloadType) Payload {
	for _, p := range m.Payloads {
		if p.PayloadType() == t {
			return p
		}
	}
	return nil
}

// Notifies returns the Notify payloads in order.
func (m *Message) Notifies() []*Notify {
	var ns []*Notify
	for _, p := range m.Payloads {
		if n, ok := p.(*Notify); ok {
			ns = append(ns, n)
		}
	}
	return ns
}

// Notify returns the first Notify payload of notify type t, or nil.
func (m *Message) Notify(t NotifyType) *Notify {
	for _, p := range m.Payloads {
		if n, ok := p.(*Notify); ok && n.Type == t {
			return n
		}
	}
	return nil
}

// findAs returns the first payload of type t as a T, or nil.
func findAs[T Payload](m *Message, t PayloadType) T {
	var zero T
	for _, p := range m.Payloads {
		if p.PayloadType() == t {
			if v, ok := p.(T); ok {
				return v
			}
		}
	}
	return zero
}

// allAs returns the payloads of type T in order.
func allAs[T Payload](m *Message) []T {
	var out []T
	for _, p := range m.Payloads {
		if v, ok := p.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// SA returns the first SA payload, or nil.
func (m *Message) SA() *SA { return findAs[*SA](m, PayloadSA) }

// KE returns the first KE payload, or nil.
func (m *Message) KE() *KE { return findAs[*KE](m, PayloadKE) }

// Nonce returns the first Nonce payload, or nil.
func (m *Message) Nonce() *Nonce { return findAs[*Nonce](m, PayloadNonce) }

// IDi returns the first IDi payload, or nil.
func (m *Message) IDi() *ID { return findAs[*ID](m, PayloadIDi) }

// IDr returns the first IDr payload, or nil.
func (m *Message) IDr() *ID { return findAs[*ID](m, PayloadIDr) }

// Auth returns the first AUTH payload, or nil.
func (m *Message) Auth() *Auth { return findAs[*Auth](m, PayloadAUTH) }

// TSi returns the first TSi payload, or nil.
func (m *Message) TSi() *TS { return findAs[*TS](m, PayloadTSi) }

// TSr returns the first TSr payload, or nil.
func (m *Message) TSr() *TS { return findAs[*TS](m, PayloadTSr) }

// CP returns the first CP payload, or nil.
func (m *Message) CP() *CP { return findAs[*CP](m, PayloadCP) }

// EAP returns the first EAP payload, or nil.
func (m *Message) EAP() *EAP { return findAs[*EAP](m, PayloadEAP) }

// Deletes returns the Delete payloads in order.
func (m *Message) Deletes() []*Delete { return allAs[*Delete](m) }

// Certs returns the CERT payloads in order.
func (m *Message) Certs() []*Cert { return allAs[*Cert](m) }

// CertReqs returns the CERTREQ payloads in order.
func (m *Message) CertReqs() []*CertReq { return allAs[*CertReq](m) }

// VendorIDs returns the Vendor ID payloads in order.
func (m *Message) VendorIDs() []*VendorID { return allAs[*VendorID](m) }

// String summarises the message for logs, in the style of strongSwan:
// "IKE_AUTH request 1 [ IDi N(INITIAL_CONTACT) IDr AUTH SA TSi TSr ]".
// It contains no key material or payload data.
func (m *Message) String() string {
	var sb strings.Builder
	sb.WriteString(m.Exchange.String())
	if m.IsResponse() {
		sb.WriteString(" response ")
	} else {
		sb.WriteString(" request ")
	}
	sb.WriteString(fmt.Sprint(m.MessageID))
	sb.WriteString(" [")
	for _, p := range m.Payloads {
		sb.WriteByte(' ')
		if isNilPayload(p) {
			sb.WriteString("nil")
			continue
		}
		switch v := p.(type) {
		case *Notify:
			sb.WriteString("N(" + v.Type.String() + ")")
		case *Delete:
			sb.WriteString("D(" + v.Protocol.String() + ")")
		case *CP:
			sb.WriteString("CP(" + v.CPType.String() + ")")
		default:
			sb.WriteString(p.PayloadType().String())
		}
	}
	sb.WriteString(" ]")
	return sb.String()
}

// Encode encodes an unprotected message (IKE_SA_INIT, or an unprotected
// INFORMATIONAL such as INVALID_IKE_SPI): the IKE header followed by the
// payloads. It computes NextPayload and Length; reserved bits are zero.
func (m *Message) Encode() ([]byte, error) {
	n, err := payloadsLen(m.Payloads)
	if err != nil {
		return nil, err
	}
	total := HeaderLen + n
	if total > MaxMessageLen {
		return nil, fmt.Errorf("%w: %d-byte message", ErrTooLarge, total)
	}
	b := make([]byte, 0, total)
	b = appendHeader(b, &m.Header, firstType(m.Payloads), total)
	return appendPayloads(b, m.Payloads), nil
}

// firstType is the type of the first payload, or PayloadNone.
func firstType(ps []Payload) PayloadType {
	if len(ps) == 0 {
		return PayloadNone
	}
	return ps[0].PayloadType()
}

// payloadsLen validates ps for encoding and returns the length of their
// encoding, generic headers included.
func payloadsLen(ps []Payload) (int, error) {
	if len(ps) > MaxPayloads {
		return 0, fmt.Errorf("%w: %d payloads", ErrTooLarge, len(ps))
	}
	n := 0
	for i, p := range ps {
		if isNilPayload(p) {
			return 0, fmt.Errorf("%w: payload %d is nil", ErrEncode, i+1)
		}
		c, ok := p.(codec)
		if !ok {
			return 0, fmt.Errorf("%w: payload %d: unsupported payload implementation %T", ErrEncode, i+1, p)
		}
		l, err := c.bodyLen()
		if err != nil {
			return 0, fmt.Errorf("payload %d (%s): %w", i+1, p.PayloadType(), err)
		}
		if l+genericHeaderLen > 0xffff {
			return 0, fmt.Errorf("%w: payload %d (%s): %d bytes", ErrTooLarge, i+1, p.PayloadType(), l+genericHeaderLen)
		}
		n += genericHeaderLen + l
	}
	return n, nil
}

// isNilPayload reports whether p is a typed nil pointer of this package.
func isNilPayload(p Payload) bool {
	switch v := p.(type) {
	case *SA:
		return v == nil
	case *KE:
		return v == nil
	case *ID:
		return v == nil
	case *Cert:
		return v == nil
	case *CertReq:
		return v == nil
	case *Auth:
		return v == nil
	case *Nonce:
		return v == nil
	case *Notify:
		return v == nil
	case *Delete:
		return v == nil
	case *VendorID:
		return v == nil
	case *TS:
		return v == nil
	case *CP:
		return v == nil
	case *EAP:
		return v == nil
	case *Unknown:
		return v == nil
	}
	return p == nil
}

// appendPayloads appends the payloads with their generic headers; ps must
// have passed payloadsLen.
func appendPayloads(b []byte, ps []Payload) []byte {
	for i, p := range ps {
		c := p.(codec)
		next := PayloadNone
		if i+1 < len(ps) {
			next = ps[i+1].PayloadType()
		}
		var flags byte
		if u, ok := p.(*Unknown); ok && u.Critical {
			flags = flagCritical
		}
		start := len(b)
		b = append(b, byte(next), flags, 0, 0)
		b = c.appendBody(b)
		binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	}
	return b
}

// decodeState carries what payload parsers need to know about the message.
type decodeState struct {
	header   Header
	response bool
	payloads int // payloads parsed so far (MaxPayloads)
}

// Decode parses the datagram b, starting at the IKE header (the non-ESP
// marker already stripped). Byte slices in the result never alias b.
//
// If the message is protected (the first payload is SK), c must hold the
// keys of the sender's direction: the SK payload is verified and decrypted
// and the inner payloads are returned. An SKF message returns an error
// wrapping ErrFragment: feed it to a Reassembler.
//
// Errors wrap ErrSyntax (malformed), ErrAuth (a protected message that does
// not verify, or whose SK structure is too damaged to verify: drop it
// silently), ErrTooLarge, ErrVersion (use ParseHeader to get the header for
// an INVALID_MAJOR_VERSION answer) or ErrNoCrypto, or are a
// *CriticalPayloadError (answer UNSUPPORTED_CRITICAL_PAYLOAD). Unknown
// payloads without the Critical bit are kept as *Unknown.
func Decode(b []byte, c *Crypto) (*Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, protectedHeaderError(b, h, err)
	}
	switch h.NextPayload {
	case PayloadSK:
		return decodeProtected(b, h, c)
	case PayloadSKF:
		return nil, fmt.Errorf("%w: SKF message: use a Reassembler", ErrFragment)
	}
	buf := append([]byte(nil), b[HeaderLen:]...)
	st := &decodeState{header: h, response: h.IsResponse()}
	ps, err := parsePayloads(buf, h.NextPayload, st, false)
	if err != nil {
		return nil, err
	}
	return &Message{Header: h, Payloads: ps}, nil
}

// protectedHeaderError turns a syntax error in the IKE header of what
// claims to be a protected message into an authentication error: nothing
// about it has been verified, so the caller must not answer it.
func protectedHeaderError(b []byte, h Header, err error) error {
	if len(b) >= HeaderLen && (h.NextPayload == PayloadSK || h.NextPayload == PayloadSKF) && errors.Is(err, ErrSyntax) {
		return fmt.Errorf("%w: %v", ErrAuth, err)
	}
	return err
}

// parsePayloads parses a payload chain starting with type first. inner
// reports that b is the decrypted content of SK/SKF; in the outer chain SK
// and SKF may only appear first, which the caller has handled already.
func parsePayloads(b []byte, first PayloadType, st *decodeState, inner bool) ([]Payload, error) {
	var ps []Payload
	next := first
	for next != PayloadNone {
		if st.payloads == MaxPayloads {
			return nil, fmt.Errorf("%w: more than %d payloads", ErrTooLarge, MaxPayloads)
		}
		st.payloads++
		if len(b) < genericHeaderLen {
			return nil, syntaxf("payload %d (%s): truncated generic payload header", st.payloads, next)
		}
		np, flags, plen := PayloadType(b[0]), b[1], int(binary.BigEndian.Uint16(b[2:]))
		if plen < genericHeaderLen || plen > len(b) {
			return nil, syntaxf("payload %d (%s): length %d, %d bytes remain", st.payloads, next, plen, len(b))
		}
		body := b[genericHeaderLen:plen:plen]
		b = b[plen:]
		p, err := parseBody(next, flags&flagCritical != 0, body, st, inner)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
		next = np
	}
	if len(b) != 0 {
		return nil, syntaxf("%d bytes after the last payload", len(b))
	}
	return ps, nil
}

// parseBody parses one payload body of type t.
func parseBody(t PayloadType, critical bool, body []byte, st *decodeState, inner bool) (Payload, error) {
	var (
		p   Payload
		err error
	)
	switch t {
	case PayloadSA:
		p, err = parseSA(body, st)
	case PayloadKE:
		p, err = parseKE(body)
	case PayloadIDi, PayloadIDr:
		p, err = parseID(body, t == PayloadIDi)
	case PayloadCERT:
		if len(body) < 1 {
			return nil, syntaxf("empty CERT payload")
		}
		p = &Cert{Encoding: body[0], Data: nilIfEmpty(body[1:])}
	case PayloadCERTREQ:
		if len(body) < 1 {
			return nil, syntaxf("empty CERTREQ payload")
		}
		p = &CertReq{Encoding: body[0], Data: nilIfEmpty(body[1:])}
	case PayloadAUTH:
		if len(body) < 4 {
			return nil, syntaxf("short AUTH payload")
		}
		p = &Auth{Method: AuthMethod(body[0]), Data: nilIfEmpty(body[4:])}
	case PayloadNonce:
		if len(body) < MinNonceLen || len(body) > MaxNonceLen {
			return nil, syntaxf("%d-byte nonce", len(body))
		}
		p = &Nonce{Data: body}
	case PayloadNotify:
		p, err = parseNotify(body)
	case PayloadDelete:
		p, err = parseDelete(body)
	case PayloadVendorID:
		p = &VendorID{Data: nilIfEmpty(body)}
	case PayloadTSi, PayloadTSr:
		p, err = parseTS(body, t == PayloadTSi)
	case PayloadCP:
		p, err = parseCP(body)
	case PayloadEAP:
		if err := checkEAP(body); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
		}
		p = &EAP{Data: body}
	case PayloadSK, PayloadSKF:
		if inner {
			return nil, syntaxf("%s payload inside an encrypted payload", t)
		}
		return nil, syntaxf("%s payload after unprotected payloads", t)
	default:
		if critical {
			return nil, &CriticalPayloadError{Header: st.header, Type: t}
		}
		p = &Unknown{PType: t, Data: nilIfEmpty(body)}
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}
