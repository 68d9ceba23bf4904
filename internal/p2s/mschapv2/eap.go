package mschapv2

// EAP-MSCHAPv2 (draft-kamath-pppext-eap-mschapv2-02) on the authenticator
// side:
//
//	gateway                                   client
//	Request  Challenge(id, 16 random, name) ─►
//	                                        ◄─ Response  Response(peer challenge, NT-Response, user)
//	Request  Success("S=<auth> M=...")      ─►   (or Failure "E=691 R=0 C=... V=3 M=...")
//	                                        ◄─ Response  Success (or Failure)
//	EAP-Success (or EAP-Failure)            ─►
//
// The data after the EAP Type octet is OpCode, MS-CHAPv2-ID, MS-Length
// (the EAP Length minus 5), then the opcode's value.

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/vpngw/vpngw/internal/p2s/eap"
)

// OpCodes.
const (
	OpChallenge      = 1
	OpResponse       = 2
	OpSuccess        = 3
	OpFailure        = 4
	OpChangePassword = 7
)

// Value sizes.
const (
	challengeLen = 16
	responseLen  = 49 // peer challenge 16, reserved 8, NT-Response 24, flags 1
)

// Errors a Server returns; callers branch on them with errors.Is.
var (
	// ErrMalformed: the client's message does not parse.
	ErrMalformed = errors.New("mschapv2: malformed message")
	// ErrAuthFailed: wrong password, unknown user, or the client refused
	// our authenticator response.
	ErrAuthFailed = errors.New("mschapv2: authentication failed")
	// ErrState: a message that does not fit the exchange so far.
	ErrState = errors.New("mschapv2: unexpected message")
)

// Lookup returns the NT password hash of a user (NTPasswordHash of the
// password), or false for an unknown user. The name is the one the client
// sent, domain included; MS-CHAPv2 hashes it without the domain.
type Lookup func(user string) (ntHash [16]byte, ok bool)

// ServerName is the name the gateway sends in its Challenge.
const ServerName = "vpngw"

// Server is the authenticator side of one EAP-MSCHAPv2 exchange. It is
// not safe for concurrent use.
type Server struct {
	lookup    Lookup
	challenge [16]byte
	id        uint8 // MS-CHAPv2-ID of the Challenge
	eapID     uint8 // EAP Identifier of our last Request
	state     int
	user      string
	msk       [MSKLen]byte
}

const (
	stChallenged = iota + 1
	stSucceeded  // Success Request sent, waiting for the Success Response
	stDone
)

// NewServer starts an exchange: the returned packet is the Challenge
// Request with EAP Identifier eapID. rand supplies the challenge.
func NewServer(rand io.Reader, lookup Lookup, eapID uint8) (*Server, eap.Packet, error) {
	s := &Server{lookup: lookup, eapID: eapID, id: eapID}
	if _, err := io.ReadFull(rand, s.challenge[:]); err != nil {
		return nil, eap.Packet{}, fmt.Errorf("mschapv2: challenge: %w", err)
	}
	v := append([]byte{challengeLen}, s.challenge[:]...)
	v = append(v, ServerName...)
	s.state = stChallenged
	return s, s.request(OpChallenge, v), nil
}

// request builds a Request with the next EAP Identifier (the first one
// keeps eapID).
func (s *Server) request(op byte, value []byte) eap.Packet {
	if s.state != 0 {
		s.eapID++
	}
	d := make([]byte, 4, 4+len(value))
	d[0], d[1] = op, s.id
	binary.BigEndian.PutUint16(d[2:], uint16(eap.HeaderLen+1+4+len(value)-5))
	d = append(d, value...)
	return eap.Packet{Code: eap.CodeRequest, Identifier: s.eapID, Type: eap.TypeMSCHAPv2, Data: d}
}

// Result is how a finished exchange ended.
type Result struct {
	// User is the name the client authenticated as (as sent, domain
	// included).
	User string
	// MSK is set on success.
	MSK []byte
}

// Handle processes the client's Response and returns the next packet to
// send. When the exchange is over, done is true and next is EAP-Success or
// EAP-Failure; on success res has the user and the MSK, otherwise err
// says why (wrapping ErrAuthFailed or ErrMalformed).
func (s *Server) Handle(resp eap.Packet) (next eap.Packet, done bool, res Result, err error) {
	if resp.Code != eap.CodeResponse || resp.Identifier != s.eapID {
		return eap.Packet{}, false, Result{}, fmt.Errorf("%w: %v with identifier %d, want a Response to %d", ErrState, resp.Code, resp.Identifier, s.eapID)
	}
	if resp.Type != eap.TypeMSCHAPv2 || len(resp.Data) < 1 {
		return s.finish(fmt.Errorf("%w: client answered with EAP type %v", ErrAuthFailed, resp.Type))
	}
	op := resp.Data[0]
	switch {
	case s.state == stChallenged && op == OpResponse:
		return s.response(resp.Data)
	case s.state == stSucceeded && op == OpSuccess:
		s.state = stDone
		return eap.Packet{Code: eap.CodeSuccess, Identifier: s.eapID}, true, Result{User: s.user, MSK: s.msk[:]}, nil
	case s.state == stSucceeded && op == OpFailure:
		return s.finish(fmt.Errorf("%w: the client did not accept the gateway's authenticator response", ErrAuthFailed))
	}
	return s.finish(fmt.Errorf("%w: opcode %d in state %d", ErrState, op, s.state))
}

func (s *Server) finish(err error) (eap.Packet, bool, Result, error) {
	s.state = stDone
	return eap.Packet{Code: eap.CodeFailure, Identifier: s.eapID}, true, Result{User: s.user}, err
}

// response checks the client's Response and answers Success or Failure.
func (s *Server) response(d []byte) (eap.Packet, bool, Result, error) {
	// OpCode, MS-CHAPv2-ID, MS-Length(2), Value-Size, Value(49), Name.
	if len(d) < 5+responseLen || d[4] != responseLen {
		return s.finish(fmt.Errorf("%w: Response of %d bytes", ErrMalformed, len(d)))
	}
	if int(binary.BigEndian.Uint16(d[2:4])) != len(d)+eap.HeaderLen+1-5 {
		return s.finish(fmt.Errorf("%w: MS-Length %d in a %d-byte Response", ErrMalformed, binary.BigEndian.Uint16(d[2:4]), len(d)))
	}
	if d[1] != s.id {
		return s.finish(fmt.Errorf("%w: MS-CHAPv2-ID %d, want %d", ErrMalformed, d[1], s.id))
	}
	v := d[5 : 5+responseLen]
	var peer [16]byte
	var nt [24]byte
	copy(peer[:], v[:16])
	copy(nt[:], v[24:48])
	s.user = string(d[5+responseLen:])
	ch := ChallengeHash(peer, s.challenge, UserName(s.user))
	hash, ok := s.lookup(s.user)
	if !ok {
		hash = NTPasswordHash("\x00unknown user") // same work either way
	}
	want := NTResponse(ch, hash)
	if !ok || subtle.ConstantTimeCompare(want[:], nt[:]) != 1 {
		// EAP-Failure at once rather than an MS-CHAPv2 Failure Request:
		// clients (strongSwan, Windows) do not answer that Request, so
		// waiting for its Response would only stall the IKE exchange.
		if !ok {
			return s.finish(fmt.Errorf("%w: unknown user %q", ErrAuthFailed, s.user))
		}
		return s.finish(fmt.Errorf("%w: wrong password for %q", ErrAuthFailed, s.user))
	}
	ar := AuthenticatorResponse(hash, nt, ch)
	s.msk = MSK(hash, nt)
	s.state = stSucceeded
	return s.request(OpSuccess, []byte(fmt.Sprintf("S=%X M=Welcome to vpngw", ar))), false, Result{User: s.user}, nil
}

// Peer is the client side of EAP-MSCHAPv2, for tests and load clients: it
// answers a Challenge and checks the Success message.
type Peer struct {
	User, Password string
	// PeerChallenge is used instead of random bytes when set (tests).
	PeerChallenge *[16]byte
	rand          io.Reader
	authResp      string
	msk           [MSKLen]byte
}

// NewPeer returns a client that authenticates as user with password.
func NewPeer(rand io.Reader, user, password string) *Peer {
	return &Peer{User: user, Password: password, rand: rand}
}

// Handle answers one Request; an error says why the client refuses (a
// malformed Request, a Failure, or a wrong authenticator response).
func (p *Peer) Handle(req eap.Packet) (resp eap.Packet, err error) {
	if req.Code != eap.CodeRequest || req.Type != eap.TypeMSCHAPv2 || len(req.Data) < 4 {
		return eap.Packet{}, fmt.Errorf("%w: not an MS-CHAPv2 Request", ErrMalformed)
	}
	d := req.Data
	out := func(op byte, value []byte) eap.Packet {
		if op != OpResponse {
			// Success and Failure Responses are the opcode alone.
			return eap.Packet{Code: eap.CodeResponse, Identifier: req.Identifier, Type: eap.TypeMSCHAPv2, Data: []byte{op}}
		}
		b := make([]byte, 4, 4+len(value))
		b[0], b[1] = op, d[1]
		binary.BigEndian.PutUint16(b[2:], uint16(eap.HeaderLen+1+4+len(value)-5))
		return eap.Packet{Code: eap.CodeResponse, Identifier: req.Identifier, Type: eap.TypeMSCHAPv2, Data: append(b, value...)}
	}
	switch d[0] {
	case OpChallenge:
		if len(d) < 5+challengeLen || d[4] != challengeLen {
			return eap.Packet{}, fmt.Errorf("%w: Challenge of %d bytes", ErrMalformed, len(d))
		}
		var auth, peer [16]byte
		copy(auth[:], d[5:21])
		if p.PeerChallenge != nil {
			peer = *p.PeerChallenge
		} else if _, err := io.ReadFull(p.rand, peer[:]); err != nil {
			return eap.Packet{}, err
		}
		hash := NTPasswordHash(p.Password)
		ch := ChallengeHash(peer, auth, UserName(p.User))
		nt := NTResponse(ch, hash)
		ar := AuthenticatorResponse(hash, nt, ch)
		p.authResp = fmt.Sprintf("S=%X", ar)
		p.msk = MSK(hash, nt)
		v := make([]byte, 0, 1+responseLen+len(p.User))
		v = append(v, responseLen)
		v = append(v, peer[:]...)
		v = append(v, make([]byte, 8)...)
		v = append(v, nt[:]...)
		v = append(v, 0)
		v = append(v, p.User...)
		return out(OpResponse, v), nil
	case OpSuccess:
		if !bytes.HasPrefix(d[4:], []byte(p.authResp)) || p.authResp == "" {
			return out(OpFailure, nil), fmt.Errorf("%w: the gateway's authenticator response %q is wrong", ErrAuthFailed, d[4:])
		}
		return out(OpSuccess, nil), nil
	case OpFailure:
		return out(OpFailure, nil), fmt.Errorf("%w: %s", ErrAuthFailed, strings.TrimSpace(string(d[4:])))
	}
	return eap.Packet{}, fmt.Errorf("%w: opcode %d", ErrMalformed, d[0])
}

// MSK is the key the client derived (valid after the Challenge).
func (p *Peer) MSK() []byte { return p.msk[:] }
