package dataplane

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
)

// TestBindUDPConns fails when wireguard-go's StdNetBind no longer holds its
// sockets where udpConns reads them (the data plane would then fall back
// to the bind's own reads and x/net's writes: correct, but the idle
// wake-ups wake sysmon again).
func TestBindUDPConns(t *testing.T) {
	b := conn.NewStdNetBind()
	fns, _, err := b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if v4, _ := udpConns(b); v4 == nil {
		t.Fatal("no IPv4 socket found in conn.StdNetBind (did wireguard-go rename ipv4?)")
	}
	if got := len(udpConnList(b)); got != len(fns) {
		t.Fatalf("%d sockets found, the bind has %d receive functions", got, len(fns))
	}
	if v4, v6 := udpConns(nil); v4 != nil || v6 != nil {
		t.Fatal("sockets from a nil bind")
	}
}

// openReader opens a bind on a free port and returns its IPv4 read (a
// udpReader) and the port.
func openReader(t *testing.T) (udpRead, uint16) {
	t.Helper()
	b := conn.NewStdNetBind()
	reads, err := openUDPReads(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	v4, _ := udpConns(b)
	// A read that waits for what never comes fails the test.
	if err := v4.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return reads[0], uint16(v4.LocalAddr().(*net.UDPAddr).Port)
}

// readAll reads until want datagrams arrived, as routineReceive does.
func readAll(t *testing.T, read udpRead, want int) (data [][]byte, from []netip.AddrPort, to []netip.Addr) {
	t.Helper()
	const n = conn.IdealBatchSize
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, 65535)
	}
	sizes, fr, tl := make([]int, n), make([]netip.AddrPort, n), make([]netip.Addr, n)
	for len(data) < want {
		got, err := read(bufs, sizes, fr, tl)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if sizes[i] == 0 {
				continue
			}
			data = append(data, bytes.Clone(bufs[i][:sizes[i]]))
			from, to = append(from, fr[i]), append(to, tl[i])
		}
	}
	return data, from, to
}

// TestUDPReader: datagrams from several senders arrive with their data,
// their source and the local address they were sent to (IP_PKTINFO, which
// the bind's own read loses behind GRO); a GSO send of three segments,
// which loopback delivers to the GRO socket coalesced, arrives as the
// three datagrams.
func TestUDPReader(t *testing.T) {
	read, port := openReader(t)
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port)}
	lo := netip.MustParseAddr("127.0.0.1")
	var want []string
	senders := map[string]netip.AddrPort{}
	for i := range 3 {
		c, err := net.DialUDP("udp4", nil, dst)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for j := range 4 {
			m := fmt.Sprintf("sender %d message %d", i, j)
			if _, err := c.Write([]byte(m)); err != nil {
				t.Fatal(err)
			}
			want = append(want, m)
			senders[m] = c.LocalAddr().(*net.UDPAddr).AddrPort()
		}
	}
	data, from, to := readAll(t, read, len(want))
	for i, d := range data {
		if src, ok := senders[string(d)]; !ok || from[i] != src || to[i] != lo {
			t.Errorf("datagram %q from %v to %v; want one sent from %v to %v", d, from[i], to[i], src, lo)
		}
		delete(senders, string(d))
	}
	if len(senders) != 0 {
		t.Errorf("missing: %v", senders)
	}

	// One GSO send: three 100-byte segments and a 40-byte tail.
	c, err := net.DialUDP("udp4", nil, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := make([]byte, 340)
	for i := range payload {
		payload[i] = byte(i / 100)
	}
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], 100)
	if _, _, err := c.WriteMsgUDP(payload, oob, nil); err != nil {
		t.Skipf("no UDP GSO here: %v", err)
	}
	data, from, _ = readAll(t, read, 4)
	if len(data) != 4 {
		t.Fatalf("%d datagrams from a GSO send of 4 segments", len(data))
	}
	for i, d := range data {
		n := 100
		if i == 3 {
			n = 40
		}
		if len(d) != n || !bytes.Equal(d, bytes.Repeat([]byte{byte(i)}, n)) || from[i] != c.LocalAddr().(*net.UDPAddr).AddrPort() {
			t.Errorf("segment %d: %d bytes %x… from %v", i, len(d), d[:min(len(d), 4)], from[i])
		}
	}
}

// TestUDPWriter sends a batch to several destinations, one message in two
// buffers (as the NAT-T port's non-ESP marker and IKE message), and
// refuses what it cannot encode.
func TestUDPWriter(t *testing.T) {
	b := conn.NewStdNetBind()
	if _, _, err := b.Open(0); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	v4, _ := udpConns(b)
	w, err := newUDPWriter(v4, 8)
	if err != nil {
		t.Fatal(err)
	}
	var rcv []*net.UDPConn
	var ms []ipv4.Message
	for i := range 3 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		rcv = append(rcv, c)
		m := ipv4.Message{Addr: c.LocalAddr(), Buffers: net.Buffers{[]byte(fmt.Sprintf("to %d", i))}}
		if i == 1 {
			m.Buffers = net.Buffers{{0, 0, 0, 0}, []byte("to 1")}
		}
		ms = append(ms, m)
	}
	if n, err := w.write(ms, 0); n != 3 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	buf := make([]byte, 100)
	for i, c := range rcv {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("to %d", i)
		if i == 1 {
			want = "\x00\x00\x00\x00to 1"
		}
		if string(buf[:n]) != want || from.Port != v4.LocalAddr().(*net.UDPAddr).Port {
			t.Errorf("receiver %d: %q from %v", i, buf[:n], from)
		}
	}
	bad := []ipv4.Message{{Addr: &net.IPAddr{IP: net.IPv4(127, 0, 0, 1)}, Buffers: net.Buffers{[]byte("x")}}}
	if n, err := w.write(bad, 0); n != 0 || err == nil {
		t.Fatalf("a message to an IP address (no port): %d, %v", n, err)
	}
}

// cmsg builds one control message.
func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func TestParseUDPControl(t *testing.T) {
	gro4 := binary.NativeEndian.AppendUint32(nil, 1400)
	pkt4 := append(binary.NativeEndian.AppendUint32(nil, 2), 192, 0, 2, 1, 192, 0, 2, 9) // ifindex, spec_dst, addr
	pkt6 := append(netip.MustParseAddr("2001:db8::1").AsSlice(), 2, 0, 0, 0)
	tests := []struct {
		name  string
		b     []byte
		seg   int
		local netip.Addr
	}{
		{"none", nil, 0, netip.Addr{}},
		{"gro and pktinfo", append(cmsg(unix.SOL_UDP, unix.UDP_GRO, gro4), cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, pkt4)...), 1400, netip.MustParseAddr("192.0.2.1")},
		{"gro as 16 bits", cmsg(unix.SOL_UDP, unix.UDP_GRO, []byte{0x78, 0x05}), 0x578, netip.Addr{}},
		{"ipv6 pktinfo", cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, pkt6), 0, netip.MustParseAddr("2001:db8::1")},
		{"short pktinfo ignored", cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, pkt4[:8]), 0, netip.Addr{}},
		{"truncated after the first", append(cmsg(unix.SOL_UDP, unix.UDP_GRO, gro4), 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 1400, netip.Addr{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seg, local := parseUDPControl(tc.b)
			if seg != tc.seg || local != tc.local {
				t.Fatalf("parseUDPControl = %d, %v; want %d, %v", seg, local, tc.seg, tc.local)
			}
		})
	}
}

func TestSockaddrRoundTrip(t *testing.T) {
	for _, s := range []string{"192.0.2.1:500", "[2001:db8::7]:4500", "[::ffff:198.51.100.2]:4500"} {
		a := netip.MustParseAddrPort(s)
		var sa unix.RawSockaddrInet6
		n := putSockaddr(&sa, a)
		got := sockaddrAddrPort(&sa, n)
		want := a
		if a.Addr().Is4In6() {
			want = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		}
		if got != want {
			t.Errorf("%v: round trip %v", a, got)
		}
	}
	if a := parseSockaddr([]byte{0xff, 0xff, 0, 0}); a.IsValid() {
		t.Errorf("unknown family parsed as %v", a)
	}
}

// FuzzParseUDPControl: any control bytes parse without a panic, and a
// local address found is one the parse could have read.
func FuzzParseUDPControl(f *testing.F) {
	f.Add(cmsg(unix.SOL_UDP, unix.UDP_GRO, binary.NativeEndian.AppendUint32(nil, 1400)))
	f.Add(cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, make([]byte, unix.SizeofInet4Pktinfo)))
	f.Add(cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, make([]byte, unix.SizeofInet6Pktinfo)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, local := parseUDPControl(b)
		if local.IsValid() && !local.Is4() && !local.Is6() {
			t.Fatalf("local %v", local)
		}
		_ = parseSockaddr(b)
	})
}
