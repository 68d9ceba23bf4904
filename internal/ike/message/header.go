package message

import (
	"encoding/binary"
	"fmt"
)

// Header flags (RFC 7296 §3.1). The other bits of the Flags octet are
// reserved: ignored on receipt, sent as zero.
const (
	FlagInitiator = 0x08 // I: set by the original initiator of the IKE SA
	FlagVersion   = 0x10 // V: the sender can speak a higher major version
	FlagResponse  = 0x20 // R: the message is a response
)

// flagsDefined are the Flags bits IKEv2 defines.
const flagsDefined = FlagInitiator | FlagVersion | FlagResponse

// Limits and sizes.
const (
	// HeaderLen is the length of the IKE header.
	HeaderLen = 28
	// Version2 is the IKE header Version octet of IKEv2.0 (major 2,
	// minor 0).
	Version2 = 0x20
	// MaxMessageLen is the largest message Decode and Encode accept.
	MaxMessageLen = 64 << 10
	// MaxPayloads is the largest number of payloads in a message (for a
	// protected message: of inner payloads).
	MaxPayloads = 64
	// MaxProposals is the largest number of proposals in an SA payload.
	MaxProposals = 64
	// MaxTransforms is the largest number of transforms in a proposal.
	MaxTransforms = 64
	// MaxSelectors is the largest number of traffic selectors in a TS
	// payload.
	MaxSelectors = 64
	// MaxCPAttributes is the largest number of attributes in a CP payload.
	MaxCPAttributes = 256

	genericHeaderLen = 4
	skfHeaderLen     = 8 // generic header + Fragment Number + Total Fragments
	flagCritical     = 0x80
)

// Header is the IKE header (RFC 7296 §3.1).
type Header struct {
	// SPIi is the initiator's IKE SA SPI (never zero).
	SPIi uint64
	// SPIr is the responder's IKE SA SPI (zero in the first IKE_SA_INIT
	// request).
	SPIr uint64
	// NextPayload is the type of the first payload. Encoders fill it in
	// from the payloads; its value in Message.Header is ignored when
	// encoding.
	NextPayload PayloadType
	// Version is major<<4 | minor; 0x20 (Version2) for IKEv2. Encoders
	// write Version2 when it is zero.
	Version uint8
	// Exchange is the exchange type.
	Exchange ExchangeType
	// Flags holds FlagInitiator, FlagVersion and FlagResponse. Reserved
	// bits are kept as received and not sent.
	Flags uint8
	// MessageID is the message ID.
	MessageID uint32
	// Length is the length of the whole message including the header.
	// Encoders compute it; its value in Message.Header is ignored when
	// encoding.
	Length uint32
}

// IsResponse reports whether the Response flag is set.
func (h Header) IsResponse() bool { return h.Flags&FlagResponse != 0 }

// IsInitiator reports whether the Initiator flag is set, that is whether
// the sender is the original initiator of the IKE SA.
func (h Header) IsInitiator() bool { return h.Flags&FlagInitiator != 0 }

// ParseHeader parses the IKE header at the start of the datagram b (the
// non-ESP marker already stripped). The Length field must equal len(b),
// which must not exceed MaxMessageLen (ErrTooLarge). A major version other
// than 2 returns the parsed header together with an error wrapping
// ErrVersion.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("%w: %d bytes, shorter than the IKE header", ErrSyntax, len(b))
	}
	h := Header{
		SPIi:        binary.BigEndian.Uint64(b[0:8]),
		SPIr:        binary.BigEndian.Uint64(b[8:16]),
		NextPayload: PayloadType(b[16]),
		Version:     b[17],
		Exchange:    ExchangeType(b[18]),
		Flags:       b[19],
		MessageID:   binary.BigEndian.Uint32(b[20:24]),
		Length:      binary.BigEndian.Uint32(b[24:28]),
	}
	if h.Version>>4 != 2 {
		return h, fmt.Errorf("%w: version %d.%d", ErrVersion, h.Version>>4, h.Version&0x0f)
	}
	if len(b) > MaxMessageLen {
		return h, fmt.Errorf("%w: %d-byte message", ErrTooLarge, len(b))
	}
	if h.Length != uint32(len(b)) {
		return h, fmt.Errorf("%w: header length %d, datagram %d bytes", ErrSyntax, h.Length, len(b))
	}
	return h, nil
}

// appendHeader appends the IKE header h with the given first payload type
// and total length. Reserved flag bits are cleared; a zero Version becomes
// Version2.
func appendHeader(b []byte, h *Header, next PayloadType, length int) []byte {
	v := h.Version
	if v == 0 {
		v = Version2
	}
	b = binary.BigEndian.AppendUint64(b, h.SPIi)
	b = binary.BigEndian.AppendUint64(b, h.SPIr)
	b = append(b, byte(next), v, byte(h.Exchange), h.Flags&flagsDefined)
	b = binary.BigEndian.AppendUint32(b, h.MessageID)
	return binary.BigEndian.AppendUint32(b, uint32(length))
}
