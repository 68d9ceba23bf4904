package tunstat

import "time"

// Stats are gateway-wide counters of packets that belong to no tunnel.
type Stats struct {
	NoRoute       uint64 // TUN packets whose destination is in no tunnel's prefixes
	UnknownSPI    uint64 // ESP packets with no installed inbound SA
	Malformed     uint64 // datagrams too short or not IP
	IKEIn         uint64 // IKE datagrams received (both ports)
	IKEOut        uint64 // IKE datagrams sent (both ports)
	Keepalives    uint64 // NAT-keepalives received (from any peer)
	EventsDropped uint64 // events lost because the queue was full
	TUNWriteErrs  uint64 // failed TUN write calls
}

// TunnelStats are one tunnel's counters.
type TunnelStats struct {
	// ID is the tunnel's ID.
	ID string
	// TxPackets/TxBytes: ESP packets sent and their size on the wire (ESP
	// header to ICV). RxPackets/RxBytes: inner packets delivered to the TUN
	// device and their size.
	TxPackets, TxBytes, RxPackets, RxBytes uint64
	// DropNoSA: outbound packets routed to the tunnel with no matching SA.
	DropNoSA uint64
	// DropPolicy: outbound packets routed to a policy-based tunnel that are
	// outside its configured selectors (no SA may ever carry them).
	DropPolicy uint64
	// DropTransit: inbound packets from the tunnel whose destination is
	// routed into another tunnel, refused because one of the two does not
	// allow transit (a static connection: Azure's transit needs BGP on
	// both).
	DropTransit uint64
	// DropSend: ESP packets the socket refused.
	DropSend uint64
	// DropRateLimit: outbound packets dropped by the data plane's rate
	// limiter.
	DropRateLimit uint64
	// Keepalives counts NAT-keepalives received from the peer.
	Keepalives uint64
	// LastReceived is the time of the last authenticated ESP packet;
	// LastKeepalive of the last NAT-keepalive.
	LastReceived, LastKeepalive time.Time
	// SAs are the tunnel's installed SAs (outbound first).
	SAs []SAStats
}

// SAStats are one SA's counters.
type SAStats struct {
	// SPI identifies the SA.
	SPI uint32
	// Inbound is true for an inbound SA.
	Inbound bool
	// Counters are the SA's packet, byte and drop counters.
	Counters
}

// Counters is a snapshot of an ESP SA's counters.
type Counters struct {
	Packets uint64 // packets sealed, or opened and committed
	Bytes   uint64 // inner (plaintext) bytes of those packets
	Dummy   uint64 // inbound next-header-59 packets dropped silently
	// Drops counts refused packets, indexed by DropReason.
	Drops [NumDropReasons]uint64
}

// Drop returns the count for one reason.
func (c Counters) Drop(r DropReason) uint64 {
	if int(r) >= len(c.Drops) {
		return 0
	}
	return c.Drops[r]
}

// TotalDrops is the sum over all reasons.
func (c Counters) TotalDrops() uint64 {
	var t uint64
	for _, v := range c.Drops {
		t += v
	}
	return t
}

// DropReason classifies packets an SA (or the data plane on its behalf)
// refused; it indexes Counters.Drops.
type DropReason uint8

// Drop reasons counted per SA. Their order is the order of Counters.Drops
// on the wire: add new reasons at the end.
const (
	DropReplay       DropReason = iota // sequence number replayed or too old
	DropAuth                           // ICV did not verify
	DropPadding                        // padding bytes wrong
	DropNextHeader                     // next header not 4/41/59 or mismatched
	DropShort                          // too short or malformed
	DropSelector                       // inner packet outside the SA's traffic selectors
	DropSeqExhausted                   // outbound sequence numbers used up
	DropExpired                        // hard lifetime reached
	DropNoRoom                         // buffer too small (a caller bug)
)

// NumDropReasons is the number of drop reasons, the length of
// Counters.Drops.
const NumDropReasons = int(DropNoRoom) + 1

// String returns the reason's name as used in stats.
func (r DropReason) String() string {
	switch r {
	case DropReplay:
		return "replay"
	case DropAuth:
		return "auth"
	case DropPadding:
		return "padding"
	case DropNextHeader:
		return "next-header"
	case DropShort:
		return "short"
	case DropSelector:
		return "selector"
	case DropSeqExhausted:
		return "seq-exhausted"
	case DropExpired:
		return "expired"
	case DropNoRoom:
		return "no-room"
	}
	return "unknown"
}
