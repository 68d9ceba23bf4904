package dataplane

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/vpngw/vpngw/internal/esp"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// transferBothWays sends n checksummed bytes over TCP host A -> host B and
// then host B -> host A.
func (l *lab) transferBothWays(t *testing.T, n int64) {
	t.Helper()
	l.transfer(t, n)
	nstest.TransferTCP(t, l.hostB.Handle(), l.hostA.Handle(), netip.MustParseAddr("10.1.0.10"), 5002, n)
}

// checkNoAuthDrops fails the test if an inbound SA of dp's tunnel id
// dropped a packet for its ICV or its selectors.
func checkNoAuthDrops(t *testing.T, dp *Dataplane, id string) {
	t.Helper()
	st, _ := dp.TunnelStats(id)
	for _, sa := range st.SAs {
		if sa.Inbound && (sa.Drop(esp.DropAuth) != 0 || sa.Drop(esp.DropSelector) != 0) {
			t.Errorf("%s: inbound SA %#x drops: %+v", id, sa.SPI, sa.Counters)
		}
	}
}

// TestRawESPRing: with the receive ring (the default), raw ESP carries
// checksummed TCP both ways, and the ring, not the raw socket, received
// nearly all of it on both gateways.
func TestRawESPRing(t *testing.T) {
	l := newLab(t, true)
	for _, dp := range []*Dataplane{l.dpA, l.dpB} {
		if dp.raw.ring == nil {
			t.Fatal("no receive ring")
		}
	}
	l.connect(t, false, 0x1000, 0x2000)
	ping(t, l.hostA, "10.2.0.10")
	const size = 32 << 20
	l.transferBothWays(t, size)
	// 32 MiB in at most ~1,400-byte ESP packets: >= 24,000 each way
	// (and the ACKs of the other direction).
	for _, g := range []struct {
		name string
		dp   *Dataplane
		id   string
	}{{"A", l.dpA, "b"}, {"B", l.dpB, "a"}} {
		st, _ := g.dp.TunnelStats(g.id)
		ring := g.dp.raw.ring.packets.Load()
		t.Logf("%s: ESP received %d, by the ring %d, fragments %d", g.name, st.RxPackets, ring, g.dp.raw.ring.fragments.Load())
		if ring < 24000 || ring > st.RxPackets || st.RxPackets-ring > st.RxPackets/100 {
			t.Errorf("%s: the ring took %d of %d ESP packets received", g.name, ring, st.RxPackets)
		}
		checkNoAuthDrops(t, g.dp, g.id)
	}
}

// TestRawESPRingFallback: without the ring (where it cannot be opened), the
// raw socket receives everything: its filter is the kernel's default.
func TestRawESPRingFallback(t *testing.T) {
	l := newLab(t, true)
	l.dpA.Close()
	l.dpB.Close()
	l.dpA = openIn(t, l.gwA, Config{TUNName: "vdp1", RawESP: true, noRawRing: true})
	l.dpB = openIn(t, l.gwB, Config{TUNName: "vdp1", RawESP: true, noRawRing: true})
	if l.dpA.raw.ring != nil || l.dpB.raw.ring != nil {
		t.Fatal("ring opened")
	}
	l.connect(t, false, 0x1000, 0x2000)
	ping(t, l.hostA, "10.2.0.10")
	const size = 16 << 20
	l.transferBothWays(t, size)
	stB, _ := l.dpB.TunnelStats("a")
	if stB.RxBytes < size {
		t.Fatalf("B received %d inner bytes, want >= %d", stB.RxBytes, size)
	}
	checkNoAuthDrops(t, l.dpA, "b")
	checkNoAuthDrops(t, l.dpB, "a")
}

// ipv4ESP builds an IPv4 header (with a correct checksum) for an ESP
// payload of n bytes, with the fragment field frag.
func ipv4ESP(n int, frag uint16) []byte {
	b := make([]byte, 20+n)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(20+n))
	binary.BigEndian.PutUint16(b[6:], frag)
	b[8], b[9] = 64, 50
	copy(b[12:], []byte{192, 0, 2, 1, 192, 0, 2, 2})
	binary.BigEndian.PutUint16(b[10:], ^ipv4HeaderSum(b[:20]))
	return b
}

func TestParseIPv4ESP(t *testing.T) {
	padded := append(ipv4ESP(30, 0), 0, 0, 0, 0)
	badSum := ipv4ESP(30, 0)
	badSum[10]++
	long := ipv4ESP(30, 0)
	binary.BigEndian.PutUint16(long[2:], 60)
	for _, tc := range []struct {
		name       string
		b          []byte
		ihl, total int
		kind       ipv4Kind
	}{
		{"whole", ipv4ESP(100, 0), 20, 120, ipv4Whole},
		{"DF", ipv4ESP(100, 0x4000), 20, 120, ipv4Whole},
		{"link padding", padded, 20, 50, ipv4Whole},
		{"more fragments", ipv4ESP(100, 0x2000), 20, 120, ipv4Fragment},
		{"offset", ipv4ESP(100, 0x0010), 20, 120, ipv4Fragment},
		{"bad checksum", badSum, 0, 0, ipv4Bad},
		{"total past the data", long, 0, 0, ipv4Bad},
		{"short", ipv4ESP(0, 0)[:19], 0, 0, ipv4Bad},
		{"IPv6", append([]byte{0x60}, make([]byte, 40)...), 0, 0, ipv4Bad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ihl, total, kind := parseIPv4ESP(tc.b)
			if ihl != tc.ihl || total != tc.total || kind != tc.kind {
				t.Fatalf("parseIPv4ESP = %d, %d, %d; want %d, %d, %d", ihl, total, kind, tc.ihl, tc.total, tc.kind)
			}
		})
	}
}

// ringFrameOf builds a ring frame holding pkt at net with the given
// tp_len and tp_snaplen.
func ringFrameOf(pkt []byte, net uint16, n, snap uint32) []byte {
	f := make([]byte, ringFrameSize)
	binary.NativeEndian.PutUint32(f[tpStatus:], 1)
	binary.NativeEndian.PutUint32(f[tpLen:], n)
	binary.NativeEndian.PutUint32(f[tpSnaplen:], snap)
	binary.NativeEndian.PutUint16(f[tpNet:], net)
	copy(f[net:], pkt)
	return f
}

func TestRingPacket(t *testing.T) {
	pkt := ipv4ESP(100, 0)
	for _, tc := range []struct {
		name string
		f    []byte
		ok   bool
	}{
		{"whole", ringFrameOf(pkt, 80, 120, 120), true},
		{"truncated", ringFrameOf(pkt, 80, 1200, 120), false},
		{"net inside the header", ringFrameOf(pkt, 16, 120, 120), false},
		{"past the frame", ringFrameOf(nil, 80, ringFrameSize, ringFrameSize), false},
		{"net past the frame", ringFrameOf(nil, 80, 0, 0)[:40], false},
		{"short frame", make([]byte, 20), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ringPacket(tc.f)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && string(got) != string(pkt) {
				t.Fatal("wrong packet")
			}
		})
	}
}

// FuzzRingFrame: untrusted frames (the kernel writes the header, the peer
// the packet) never make ringPacket or parseIPv4ESP read out of bounds,
// and what they return lies inside the frame.
func FuzzRingFrame(f *testing.F) {
	f.Add(ringFrameOf(ipv4ESP(100, 0), 80, 120, 120))
	f.Add(ringFrameOf(ipv4ESP(100, 0x2000), 80, 120, 120))
	f.Add(ringFrameOf(ipv4ESP(10, 0), 32, 30, 30)[:62])
	f.Fuzz(func(t *testing.T, frame []byte) {
		pkt, err := ringPacket(frame)
		if err != nil {
			return
		}
		ihl, total, kind := parseIPv4ESP(pkt)
		if kind == ipv4Bad {
			return
		}
		if ihl < 20 || ihl > total || total > len(pkt) {
			t.Fatalf("ihl %d, total %d, packet %d", ihl, total, len(pkt))
		}
	})
}
