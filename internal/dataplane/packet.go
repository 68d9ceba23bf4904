package dataplane

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// IP protocol numbers used by the packet helpers.
const (
	protoTCP  = 6
	protoUDP  = 17
	protoSCTP = 132
)

// flow is the part of an inner packet that selectors and routes look at.
type flow struct {
	src, dst     netip.Addr
	proto        uint8
	sport, dport uint16 // 0 when not TCP/UDP/SCTP or a non-first fragment
}

// parseFlow reads addresses, protocol and ports of an IPv4 or IPv6 packet.
// It does not allocate. ok is false for packets too short to hold their
// header. For IPv6, extension headers are not walked: proto is the first
// next header.
func parseFlow(p []byte) (f flow, ok bool) {
	if len(p) < 1 {
		return f, false
	}
	var l4 []byte
	switch p[0] >> 4 {
	case 4:
		if len(p) < 20 {
			return f, false
		}
		ihl := int(p[0]&0x0f) * 4
		if ihl < 20 || len(p) < ihl {
			return f, false
		}
		f.src = netip.AddrFrom4([4]byte(p[12:16]))
		f.dst = netip.AddrFrom4([4]byte(p[16:20]))
		f.proto = p[9]
		if binary.BigEndian.Uint16(p[6:])&0x1fff == 0 { // first (or only) fragment
			l4 = p[ihl:]
		}
	case 6:
		if len(p) < 40 {
			return f, false
		}
		f.src = netip.AddrFrom16([16]byte(p[8:24]))
		f.dst = netip.AddrFrom16([16]byte(p[24:40]))
		f.proto = p[6]
		l4 = p[40:]
	default:
		return f, false
	}
	switch f.proto {
	case protoTCP, protoUDP, protoSCTP:
		if len(l4) >= 4 {
			f.sport = binary.BigEndian.Uint16(l4)
			f.dport = binary.BigEndian.Uint16(l4[2:])
		}
	}
	return f, true
}

// dstAddr returns the destination address of an IP packet without parsing
// the rest (the route lookup on the outbound fast path).
func dstAddr(p []byte) (netip.Addr, bool) {
	if len(p) < 1 {
		return netip.Addr{}, false
	}
	switch p[0] >> 4 {
	case 4:
		if len(p) >= 20 {
			return netip.AddrFrom4([4]byte(p[16:20])), true
		}
	case 6:
		if len(p) >= 40 {
			return netip.AddrFrom16([16]byte(p[24:40])), true
		}
	}
	return netip.Addr{}, false
}

// PortRange is an inclusive range of ports. The zero value means any port.
type PortRange struct {
	Lo, Hi uint16
}

// Any reports whether the range is unrestricted.
func (r PortRange) Any() bool { return r.Hi == 0 || (r.Lo == 0 && r.Hi == 65535) }

func (r PortRange) contains(port uint16) bool {
	return r.Any() || (port >= r.Lo && port <= r.Hi)
}

// TrafficSelector is one IKEv2 traffic selector (RFC 7296 §3.13.1) in prefix
// form: addresses in Prefix and, optionally, one IP protocol and a port range.
type TrafficSelector struct {
	// Prefix is the address range; it must be valid.
	Prefix netip.Prefix
	// Proto is the IP protocol number; 0 means any protocol.
	Proto uint8
	// Ports restricts TCP/UDP/SCTP ports (zero value: any). A packet that
	// carries no port (other protocols, non-first fragments) matches only
	// an unrestricted range.
	Ports PortRange
}

// Selectors are the traffic selectors of a Child SA from the local point of
// view: a packet from a Local address to a Remote address belongs to the
// outbound SA; an inbound packet must come from a Remote address and go to
// a Local one. Each side matches if any of its selectors matches; an empty
// side matches everything. Route-based tunnels use 0.0.0.0/0 ↔ 0.0.0.0/0
// (or the zero Selectors) and let the routing table pick the tunnel;
// policy-based tunnels install one child SA per local × remote prefix pair.
// The zero Selectors matches all traffic.
type Selectors struct {
	// Local covers the gateway's side: sources of outbound packets,
	// destinations of inbound ones.
	Local []TrafficSelector
	// Remote covers the peer's side.
	Remote []TrafficSelector
}

// matchesAll reports whether the selectors accept every packet, so that the
// hot path can skip parsing.
func (s Selectors) matchesAll() bool {
	return sideAll(s.Local) && sideAll(s.Remote)
}

func sideAll(ts []TrafficSelector) bool {
	if len(ts) == 0 {
		return true
	}
	var v4, v6 bool
	for _, t := range ts {
		if t.Prefix.Bits() == 0 && t.Proto == 0 && t.Ports.Any() {
			if t.Prefix.Addr().Is4() {
				v4 = true
			} else {
				v6 = true
			}
		}
	}
	return v4 && v6
}

// matchSide reports whether addr (with port) is covered by one of ts.
func matchSide(ts []TrafficSelector, addr netip.Addr, proto uint8, port uint16, hasPorts bool) bool {
	if len(ts) == 0 {
		return true
	}
	for i := range ts {
		t := &ts[i]
		if !t.Prefix.Contains(addr) {
			continue
		}
		if t.Proto != 0 && t.Proto != proto {
			continue
		}
		if !t.Ports.Any() && (!hasPorts || !t.Ports.contains(port)) {
			continue
		}
		return true
	}
	return false
}

func hasPorts(proto uint8) bool {
	return proto == protoTCP || proto == protoUDP || proto == protoSCTP
}

// matchOutbound: src in Local, dst in Remote.
func (s *Selectors) matchOutbound(f *flow) bool {
	hp := hasPorts(f.proto) && (f.sport != 0 || f.dport != 0)
	return matchSide(s.Local, f.src, f.proto, f.sport, hp) &&
		matchSide(s.Remote, f.dst, f.proto, f.dport, hp)
}

// matchInbound: src in Remote, dst in Local.
func (s *Selectors) matchInbound(f *flow) bool {
	hp := hasPorts(f.proto) && (f.sport != 0 || f.dport != 0)
	return matchSide(s.Remote, f.src, f.proto, f.sport, hp) &&
		matchSide(s.Local, f.dst, f.proto, f.dport, hp)
}

// clampMSS lowers the MSS option of a TCP SYN (or SYN-ACK) in an IPv4 or
// IPv6 packet to at most mss4 (IPv4) or mss6 (IPv6), updating the TCP
// checksum incrementally (RFC 1624). It reports whether it changed the
// packet. Non-SYN segments, fragments and IPv6 packets with extension
// headers are left alone.
func clampMSS(p []byte, mss4, mss6 uint16) bool {
	if len(p) < 1 {
		return false
	}
	var tcp []byte
	var limit uint16
	switch p[0] >> 4 {
	case 4:
		if len(p) < 20 || p[9] != protoTCP {
			return false
		}
		if binary.BigEndian.Uint16(p[6:])&0x3fff != 0 { // MF or offset: fragment
			return false
		}
		ihl := int(p[0]&0x0f) * 4
		if ihl < 20 || len(p) < ihl {
			return false
		}
		tcp, limit = p[ihl:], mss4
	case 6:
		if len(p) < 40 || p[6] != protoTCP {
			return false
		}
		tcp, limit = p[40:], mss6
	default:
		return false
	}
	if limit == 0 || len(tcp) < 20 || tcp[13]&0x02 == 0 { // SYN flag
		return false
	}
	doff := int(tcp[12]>>4) * 4
	if doff < 20 || doff > len(tcp) {
		return false
	}
	opts := tcp[20:doff]
	for i := 0; i < len(opts); {
		switch kind := opts[i]; kind {
		case 0: // end of option list
			return false
		case 1: // NOP
			i++
			continue
		case 2: // MSS
			if i+4 > len(opts) || opts[i+1] != 4 {
				return false
			}
			old := binary.BigEndian.Uint16(opts[i+2:])
			if old <= limit {
				return false
			}
			binary.BigEndian.PutUint16(opts[i+2:], limit)
			// An option at an odd offset (after one NOP, say) puts the
			// value across two 16-bit checksum words, where its bytes
			// count swapped (RFC 1071 §2(B)).
			o, n := old, limit
			if i%2 == 1 {
				o, n = bits.ReverseBytes16(old), bits.ReverseBytes16(limit)
			}
			sum := binary.BigEndian.Uint16(tcp[16:])
			binary.BigEndian.PutUint16(tcp[16:], csumReplace16(sum, o, n))
			return true
		default:
			if i+1 >= len(opts) || opts[i+1] < 2 {
				return false
			}
			i += int(opts[i+1])
		}
	}
	return false
}

// csumReplace16 updates a ones'-complement checksum for a 16-bit field that
// changed from old to new (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')).
func csumReplace16(sum, old, new uint16) uint16 {
	s := uint32(^sum) + uint32(^old) + uint32(new)
	s = (s & 0xffff) + (s >> 16)
	s = (s & 0xffff) + (s >> 16)
	return ^uint16(s)
}

// Datagram kinds on the NAT-T port (RFC 3948 §2).
type datagramKind uint8

const (
	kindInvalid   datagramKind = iota // too short to be anything
	kindKeepalive                     // a single 0xFF byte (RFC 3948 §2.3)
	kindIKE                           // non-ESP marker (4 zero bytes) + IKE message
	kindESP                           // SPI != 0: ESP
)

// classify4500 tells what a UDP datagram received on port 4500 carries.
func classify4500(b []byte) datagramKind {
	switch {
	case len(b) == 1 && b[0] == 0xff:
		return kindKeepalive
	case len(b) < 4:
		return kindInvalid
	case b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0:
		if len(b) == 4 {
			return kindInvalid
		}
		return kindIKE
	case len(b) < 8:
		return kindInvalid
	}
	return kindESP
}
