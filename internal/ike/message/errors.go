package message

import (
	"errors"
	"strconv"
)

// Sentinel errors. Errors returned by this package wrap one of them (test
// with errors.Is), except *CriticalPayloadError (test with errors.As).
var (
	// ErrSyntax: the message is malformed (a length, count, type or value
	// out of range). For a protected message it is only returned once the
	// message has been authenticated, so the caller may answer with
	// INVALID_SYNTAX (RFC 7296 §3.10.1).
	ErrSyntax = errors.New("ike/message: malformed message")
	// ErrAuth: a protected message could not be authenticated: its ICV or
	// AEAD tag does not verify, or its SK/SKF structure is too damaged to
	// verify it at all. RFC 7296 §2.21: drop such messages silently.
	ErrAuth = errors.New("ike/message: message authentication failed")
	// ErrFragment: Decode was given an SKF message (use a Reassembler), or
	// a Reassembler dropped a fragment (duplicate, out of range, stale).
	ErrFragment = errors.New("ike/message: IKE fragment")
	// ErrTooLarge: a limit was exceeded: message size (MaxMessageLen),
	// payloads (MaxPayloads), proposals, transforms, selectors, CP
	// attributes, or a Reassembler's fragment count or size.
	ErrTooLarge = errors.New("ike/message: message exceeds limits")
	// ErrVersion: the IKE header carries a major version other than 2.
	// ParseHeader still returns the parsed header with it, so a responder
	// can answer INVALID_MAJOR_VERSION (RFC 7296 §2.5).
	ErrVersion = errors.New("ike/message: unsupported IKE major version")
	// ErrNoCrypto: the message is protected (SK or SKF) but no keys were
	// given.
	ErrNoCrypto = errors.New("ike/message: protected message without keys")
	// ErrEncode: a Message cannot be encoded (a field out of range, a
	// payload of a foreign type, inconsistent lengths).
	ErrEncode = errors.New("ike/message: cannot encode message")
)

// CriticalPayloadError reports a payload of a type this package does not
// know with the Critical bit set. RFC 7296 §2.5: the whole message is
// rejected and, for a request, answered with an UNSUPPORTED_CRITICAL_PAYLOAD
// notify whose data is the payload type.
type CriticalPayloadError struct {
	// Header is the IKE header of the rejected message.
	Header Header
	// Type is the unsupported payload type.
	Type PayloadType
}

// Error implements error.
func (e *CriticalPayloadError) Error() string {
	return "ike/message: unsupported critical payload type " + strconv.Itoa(int(e.Type))
}
