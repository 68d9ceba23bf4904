package ike

import (
	"net/netip"
	"time"

	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

// Packet is one IKE datagram: the IKE message without the non-ESP marker.
type Packet struct {
	// Data is the message, starting at the IKE header.
	Data []byte
	// Local and Remote are our and the peer's UDP endpoints. A packet sent
	// to or received from port 4500 is NAT-T framed on the wire (the Host
	// adds or strips the 4-byte non-ESP marker).
	Local, Remote netip.AddrPort
}

// ChildSA is a negotiated Child SA (one ESP SA in each direction) with
// everything the data plane needs. Keys are secret: never log them.
type ChildSA struct {
	// Peer is the name of the peer (connection) the SA belongs to.
	Peer string
	// InSPI is the SPI of the inbound SA (chosen by us); OutSPI of the
	// outbound SA (chosen by the peer).
	InSPI, OutSPI uint32
	// Encr, Integ and ESN are the negotiated ESP transforms; Integ is
	// IntegNone for AEAD ciphers.
	Encr  transform.Encr
	Integ transform.ID
	ESN   bool
	// PFS is the DH group of the exchange that created the SA (DHNone when
	// the keys came from the IKE SA alone).
	PFS transform.ID
	// InEncKey/InIntegKey decrypt and verify packets from the peer;
	// OutEncKey/OutIntegKey protect ours.
	InEncKey, InIntegKey, OutEncKey, OutIntegKey []byte
	// LocalTS and RemoteTS are the negotiated traffic selectors: traffic
	// from LocalTS to RemoteTS goes out on this SA; traffic arriving on it
	// must come from RemoteTS to LocalTS.
	LocalTS, RemoteTS []message.TrafficSelector
	// Local and Remote are the outer endpoints for ESP. With Encap, ESP is
	// UDP-encapsulated (RFC 3948) between these UDP endpoints (port 4500);
	// without it, raw ESP (IP protocol 50) between the addresses.
	Local, Remote netip.AddrPort
	Encap         bool
	// SoftBytes and HardBytes are the byte lifetimes: at SoftBytes the data
	// plane reports that a rekey is due; at HardBytes the SA must stop.
	SoftBytes, HardBytes uint64
	// Replaces is the inbound SPI of the Child SA this one rekeys, or 0.
	Replaces uint32
	// Established is when the SA was negotiated.
	Established time.Time
}

// Host is what the engine needs from its surroundings. The agent implements
// it over the data plane; tests implement it in memory. Methods are called
// synchronously from within Engine methods and must not call back into the
// Engine.
type Host interface {
	// SendIKE transmits one datagram.
	SendIKE(p Packet)
	// InstallChildSA installs sa's inbound SA and, when outbound is set,
	// makes sa the outbound SA for its selectors (replacing the one it
	// rekeys, if any). An error aborts the Child SA (the peer is told with
	// a Delete).
	InstallChildSA(sa *ChildSA, outbound bool) error
	// ActivateOutbound makes the installed Child SA with inbound SPI inSPI
	// the outbound SA for its selectors (the responder's switch-over
	// during a rekey).
	ActivateOutbound(inSPI uint32)
	// DeleteChildSA removes both directions of the Child SA with inbound
	// SPI inSPI (the outbound one only if it is still in use).
	DeleteChildSA(inSPI uint32)
	// PeerEndpoint reports that the peer's IKE (and, with UDP
	// encapsulation, ESP) endpoint moved: a NAT mapping changed.
	PeerEndpoint(peer string, local, remote netip.AddrPort)
	// Event reports a state change.
	Event(e Event)
}

// EventKind is the kind of an Event.
type EventKind uint8

// Event kinds.
const (
	// EventIKEUp: an IKE SA with the peer is established (or rekeyed).
	EventIKEUp EventKind = iota + 1
	// EventIKEDown: the peer has no IKE SA any more (Reason says why).
	EventIKEDown
	// EventChildUp: a Child SA was installed (InSPI).
	EventChildUp
	// EventChildDown: a Child SA was removed (InSPI).
	EventChildDown
	// EventFailure: a negotiation failed (Reason says what each side
	// offered or which notify the peer sent).
	EventFailure
)

func (k EventKind) String() string {
	switch k {
	case EventIKEUp:
		return "ike-up"
	case EventIKEDown:
		return "ike-down"
	case EventChildUp:
		return "child-up"
	case EventChildDown:
		return "child-down"
	case EventFailure:
		return "failure"
	}
	return "unknown"
}

// Event is a state change of a peer.
type Event struct {
	Kind   EventKind
	Peer   string
	Time   time.Time
	InSPI  uint32 // Child SA events
	Reason string
	// VirtualIP is, with EventIKEUp of a remote-access client
	// (Peer.Client), the address the gateway assigned.
	VirtualIP netip.Addr
}
