package dataplane

import (
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// BenchmarkRawESPSendVeth compares two ways of sending 64 ESP packets of
// 1,424 bytes to a peer namespace over a veth pair (the peer's IP input
// runs inline in the sending call, as between the benchmark's gateways):
//
//   - raw: the data plane's raw socket (IP_HDRINCL, one sendmmsg): route
//     lookup, ip_output, neighbour, qdisc per packet;
//   - packet: an AF_PACKET SOCK_DGRAM socket with PACKET_QDISC_BYPASS, the
//     outer IPv4 header complete (source, ID, length, checksum written
//     here) and the next hop's MAC given per message (one sendmmsg): none
//     of the IP output path.
//
// An experiment for issue 15 (the send side of raw ESP), not a data-plane
// path. Privileged; run under the heavy lock.
func BenchmarkRawESPSendVeth(b *testing.B) {
	nstest.RequirePriv(b)
	a, peer := nstest.New(b, "vdp-sa"), nstest.New(b, "vdp-sb")
	nstest.Link(b, a, "wan0", pfx("192.0.2.1/24"), peer, "wan0", pfx("192.0.2.2/24"))
	var peerMAC net.HardwareAddr
	must(b, peer.Do(func() error {
		l, err := netlink.LinkByName("wan0")
		if err == nil {
			peerMAC = l.Attrs().HardwareAddr
		}
		return err
	}))
	a.MustRun(b, "ping", "-c", "1", "-W", "2", "192.0.2.2") // resolve the neighbour
	const batch, size = rawBatch, rawSize
	dst := [4]byte{192, 0, 2, 2}
	elems := rawElems()

	b.Run("raw", func(b *testing.B) {
		var r *rawESP
		must(b, a.Do(func() (err error) { r, err = openRawESP(); return err }))
		defer r.Close()
		defer checkReceived(b, peer)()
		benchRawSend(b, r, dst)
	})

	b.Run("packet", func(b *testing.B) {
		var fd, ifindex int
		must(b, a.Do(func() (err error) {
			l, err := netlink.LinkByName("wan0")
			if err != nil {
				return err
			}
			ifindex = l.Attrs().Index
			fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			return err
		}))
		defer unix.Close(fd)
		must(b, unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1))
		var name unix.RawSockaddrLinklayer
		name.Family = unix.AF_PACKET
		name.Protocol = htons(unix.ETH_P_IP)
		name.Ifindex = int32(ifindex)
		name.Halen = 6
		for i, c := range peerMAC {
			name.Addr[i] = c
		}
		hdrs := make([]mmsghdr, batch)
		iovs := make([]unix.Iovec, batch)
		names := make([]unix.RawSockaddrLinklayer, batch)
		for i := range hdrs {
			names[i] = name
			hdrs[i].hdr.Iov = &iovs[i]
			hdrs[i].hdr.SetIovlen(1)
			hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&names[i]))
			hdrs[i].hdr.Namelen = unix.SizeofSockaddrLinklayer
		}
		r := &rawESP{hdrincl: true}
		var id uint16
		defer checkReceived(b, peer)()
		b.SetBytes(batch * size)
		b.ReportAllocs()
		for b.Loop() {
			for i, e := range elems {
				f := r.rawFrame(e, dst)
				h := f[:rawHeaderLen]
				binary.BigEndian.PutUint16(h[2:], uint16(len(f)))
				binary.BigEndian.PutUint16(h[4:], id)
				id++
				copy(h[12:16], []byte{192, 0, 2, 1})
				binary.BigEndian.PutUint16(h[10:], ^ipv4HeaderSum(h))
				iovs[i].Base = &f[0]
				iovs[i].SetLen(len(f))
			}
			for sent := 0; sent < batch; {
				n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&hdrs[sent])), uintptr(batch-sent), 0, 0, 0)
				if e != 0 {
					b.Fatal(e)
				}
				sent += int(n)
			}
		}
	})
}

// checkReceived returns a function that fails the benchmark unless the
// peer's IP input took b.N batches of rawBatch packets without header
// errors (a well-formed header) since checkReceived was called.
func checkReceived(b *testing.B, peer *nstest.NS) func() {
	in, bad := ipCounter(b, peer, "InReceives"), ipCounter(b, peer, "InHdrErrors")
	return func() {
		n := b.N * rawBatch
		gotIn, gotBad := ipCounter(b, peer, "InReceives")-in, ipCounter(b, peer, "InHdrErrors")-bad
		if gotIn < uint64(n) || gotBad != 0 {
			b.Errorf("peer received %d packets (%d header errors), want >= %d", gotIn, gotBad, n)
		}
	}
}

// ipCounter returns the IP counter key of ns (/proc/net/snmp).
func ipCounter(b *testing.B, ns *nstest.NS, key string) uint64 {
	var keys []string
	for _, line := range strings.Split(ns.MustRun(b, "cat", "/proc/net/snmp"), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Ip:" {
			continue
		}
		if keys == nil {
			keys = f
			continue
		}
		for i, k := range keys {
			if k == key && i < len(f) {
				n, _ := strconv.ParseUint(f[i], 10, 64)
				return n
			}
		}
	}
	b.Fatalf("no Ip %s in /proc/net/snmp", key)
	return 0
}

// ipv4HeaderSum is the ones'-complement sum of h (0xffff for a header
// with a correct checksum).
func ipv4HeaderSum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// htons is the network-order protocol number for sockaddr_ll.
func htons(v uint16) uint16 { return v<<8 | v>>8 }
