package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// Fuzz targets for the inner-packet parsing of the hot path. Seed corpora
// live in testdata/fuzz/<Name>/; f.Add adds hand-built packets.

// seedPackets are inner packets for the seed corpora: TCP SYNs with MSS
// options at even and odd offsets, IPv6, UDP, fragments, truncations.
func seedPackets() [][]byte {
	mss := []byte{2, 4, 0x05, 0xb4} // 1460
	v6 := ipv6TCP(0x02, append([]byte{1, 1, 1}, append(mss, 0)...))
	frag := ipv4TCP("10.1.0.10", "10.2.0.10", 1, 2, 0x02, mss)
	frag[6] = 0x20
	udp := ipv4TCP("10.1.0.10", "10.3.0.10", 53, 1500, 0x02, nil)
	udp[9] = protoUDP
	return [][]byte{
		ipv4TCP("10.1.0.10", "10.2.0.10", 40000, 80, 0x02, mss),
		ipv4TCP("10.1.0.10", "10.3.0.10", 1500, 443, 0x12, append([]byte{1, 1, 4, 2}, mss...)),
		ipv4TCP("10.1.0.10", "10.3.0.10", 1500, 443, 0x02, append([]byte{1}, append(mss, 0, 0, 0)...)),
		ipv4TCP("10.1.0.10", "10.2.0.10", 1, 2, 0x10, nil),
		v6,
		frag,
		udp,
		{0x45},
		{0x60, 0, 0, 0},
	}
}

// ipv6TCP builds an IPv6/TCP packet fd00:1::10 -> fd00:2::10 with a valid
// TCP checksum.
func ipv6TCP(flags byte, opts []byte) []byte {
	tcpLen := 20 + (len(opts)+3)/4*4
	p := make([]byte, 40+tcpLen)
	p[0], p[6], p[7] = 0x60, protoTCP, 64
	binary.BigEndian.PutUint16(p[4:], uint16(tcpLen))
	copy(p[8:24], netip.MustParseAddr("fd00:1::10").AsSlice())
	copy(p[24:40], netip.MustParseAddr("fd00:2::10").AsSlice())
	tcp := p[40:]
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 443)
	tcp[12] = byte(tcpLen/4) << 4
	tcp[13] = flags
	copy(tcp[20:], opts)
	fixTCPChecksum(p)
	return p
}

// tcpSegment returns the TCP segment of an IPv4 or IPv6 packet as
// clampMSS sees it (everything after the IP header) and the pseudo-header
// sum, or ok false when p is not TCP.
func tcpSegment(p []byte) (seg []byte, pseudo uint32, ok bool) {
	if len(p) < 1 {
		return nil, 0, false
	}
	switch p[0] >> 4 {
	case 4:
		ihl := int(p[0]&0x0f) * 4
		if len(p) < 20 || ihl < 20 || len(p) < ihl || p[9] != protoTCP {
			return nil, 0, false
		}
		seg = p[ihl:]
		pseudo = onesSum(0, p[12:20]) + protoTCP + uint32(len(seg))
	case 6:
		if len(p) < 40 || p[6] != protoTCP {
			return nil, 0, false
		}
		seg = p[40:]
		pseudo = onesSum(0, p[8:40]) + protoTCP + uint32(len(seg))>>16 + uint32(len(seg))&0xffff
	default:
		return nil, 0, false
	}
	return seg, pseudo, true
}

// onesSum adds b as big-endian 16-bit words (odd length padded with a zero
// byte) to sum, without folding.
func onesSum(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// tcpChecksumOK reports whether p is TCP with a header-sized segment and a
// valid checksum.
func tcpChecksumOK(p []byte) bool {
	seg, pseudo, ok := tcpSegment(p)
	if !ok || len(seg) < 20 {
		return false
	}
	return fold(onesSum(pseudo, seg)) == 0xffff
}

// fixTCPChecksum writes the correct checksum into a TCP packet (no-op for
// other packets).
func fixTCPChecksum(p []byte) {
	seg, pseudo, ok := tcpSegment(p)
	if !ok || len(seg) < 20 {
		return
	}
	binary.BigEndian.PutUint16(seg[16:], 0)
	binary.BigEndian.PutUint16(seg[16:], ^fold(onesSum(pseudo, seg)))
}

// FuzzParseFlow checks parseFlow and dstAddr against the bytes they read:
// no panics, fields taken from where RFC 791/8200 put them, ports only for
// first fragments of TCP/UDP/SCTP, and the selector and route lookups of
// the outbound path agree with the parsed flow.
func FuzzParseFlow(f *testing.F) {
	for _, p := range seedPackets() {
		f.Add(p)
	}
	policy := Selectors{
		Local:  []TrafficSelector{{Prefix: pfx("10.1.0.0/16")}, {Prefix: pfx("fd00:1::/32"), Proto: protoTCP}},
		Remote: []TrafficSelector{{Prefix: pfx("10.3.0.0/24"), Proto: protoTCP, Ports: PortRange{80, 443}}, {Prefix: pfx("::/0"), Ports: PortRange{443, 443}}},
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		orig := bytes.Clone(p)
		fl, ok := parseFlow(p)
		dst, dok := dstAddr(p)
		if !bytes.Equal(p, orig) {
			t.Fatal("parseFlow changed the packet")
		}
		if ok && (!dok || dst != fl.dst) {
			t.Fatalf("parseFlow dst %v, dstAddr %v %v", fl.dst, dst, dok)
		}
		if !ok {
			if fl != (flow{}) {
				t.Fatalf("failed parse returned %+v", fl)
			}
			return
		}
		var l4 []byte
		switch p[0] >> 4 {
		case 4:
			ihl := int(p[0]&0x0f) * 4
			if ihl < 20 || len(p) < ihl {
				t.Fatalf("accepted IPv4 with IHL %d in %d bytes", ihl, len(p))
			}
			if fl.src != netip.AddrFrom4([4]byte(p[12:16])) || fl.proto != p[9] {
				t.Fatalf("IPv4 flow %+v", fl)
			}
			if binary.BigEndian.Uint16(p[6:])&0x1fff == 0 {
				l4 = p[ihl:]
			}
		case 6:
			if fl.src != netip.AddrFrom16([16]byte(p[8:24])) || fl.proto != p[6] {
				t.Fatalf("IPv6 flow %+v", fl)
			}
			l4 = p[40:]
		default:
			t.Fatalf("accepted IP version %d", p[0]>>4)
		}
		var sport, dport uint16
		if hasPorts(fl.proto) && len(l4) >= 4 {
			sport, dport = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
		}
		if fl.sport != sport || fl.dport != dport {
			t.Fatalf("ports %d->%d, want %d->%d", fl.sport, fl.dport, sport, dport)
		}
		// The lookups must not disagree with themselves: an any-selector
		// SA takes everything, and in/out matching are mirror images.
		var zero Selectors
		if !zero.matchOutbound(&fl) || !zero.matchInbound(&fl) {
			t.Fatal("zero selectors refused a packet")
		}
		mirror := flow{src: fl.dst, dst: fl.src, proto: fl.proto, sport: fl.dport, dport: fl.sport}
		if policy.matchOutbound(&fl) != policy.matchInbound(&mirror) {
			t.Fatalf("outbound and inbound matching disagree on %+v", fl)
		}
	})
}

// FuzzClampMSS checks clampMSS's invariants on arbitrary packets: it never
// changes the length, changes nothing but the MSS value and the checksum,
// only lowers an MSS above the limit to the limit, is idempotent, and keeps
// a valid TCP checksum valid. fixCsum makes the input's checksum valid
// first, so that the last property is exercised on most inputs.
func FuzzClampMSS(f *testing.F) {
	for _, p := range seedPackets() {
		f.Add(p, uint16(1360), uint16(1340), false)
		f.Add(p, uint16(536), uint16(1220), true)
	}
	f.Fuzz(func(t *testing.T, p []byte, mss4, mss6 uint16, fixCsum bool) {
		if fixCsum {
			fixTCPChecksum(p)
		}
		before := bytes.Clone(p)
		validBefore := tcpChecksumOK(p)
		changed := clampMSS(p, mss4, mss6)
		if len(p) != len(before) {
			t.Fatalf("length changed from %d to %d", len(before), len(p))
		}
		if !changed {
			if !bytes.Equal(p, before) {
				t.Fatal("reported no change but changed the packet")
			}
			return
		}
		var diff []int
		for i := range p {
			if p[i] != before[i] {
				diff = append(diff, i)
			}
		}
		if len(diff) == 0 || len(diff) > 4 {
			t.Fatalf("changed bytes %v", diff)
		}
		seg, _, ok := tcpSegment(p)
		if !ok || len(seg) < 20 || seg[13]&0x02 == 0 {
			t.Fatal("changed a packet that is not a TCP SYN")
		}
		limit := mss4
		if p[0]>>4 == 6 {
			limit = mss6
		}
		// The changed MSS is an option "2, 4, value" inside the header.
		segOff := len(p) - len(seg)
		doff := int(seg[12]>>4) * 4
		found := false
		for i := 20; i+4 <= doff; i++ {
			if seg[i] == 2 && seg[i+1] == 4 && binary.BigEndian.Uint16(seg[i+2:]) == limit &&
				binary.BigEndian.Uint16(before[segOff+i+2:]) > limit {
				found = true
			}
		}
		if !found {
			t.Fatalf("no MSS option lowered to %d", limit)
		}
		if validBefore && !tcpChecksumOK(p) {
			t.Fatalf("checksum no longer valid: %x", p)
		}
		if clampMSS(p, mss4, mss6) {
			t.Fatal("second clamp changed the packet again")
		}
	})
}
