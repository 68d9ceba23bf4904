package dataplane

// The UDP sockets' batches as raw system calls.
//
// The IKE and NAT-T ports are wireguard-go's conn.StdNetBind sockets; its
// receive (x/net's ReadBatch) and the IKE batch send (x/net's WriteBatch)
// issue recvmmsg and sendmmsg through syscall.Syscall6, which tells the
// scheduler the goroutine may block. An idle gateway with thousands of
// tunnels wakes a few hundred times a second for liveness checks, and each
// wake-up's first such call wakes the runtime's sysmon out of its deep
// sleep (docs/benchmarks.md, "the UDP sockets' batches as raw system
// calls"). The sockets are non-blocking, so here the same calls are
// RawSyscall6 with MSG_DONTWAIT, through each socket's syscall.RawConn
// (mmsg: EAGAIN waits in the poller), as the raw ESP socket's are.
//
//	udpReader.read:  recvmmsg ─► per datagram: source (name), local address (IP_PKTINFO / IPV6_PKTINFO),
//	                 UDP GRO segment size ─► coalesced datagrams split into the following buffers
//	udpWriter.write: ipv4.Message (buffers, destination) ─► mmsghdr ─► sendmmsg
//
// The sockets stay the bind's (it opened them with its options: GRO,
// packet info, buffer sizes) and are read from its fields (udpConns; a
// wireguard-go update that moves them fails TestBindUDPConns, and the data
// plane then falls back to the bind's own calls).

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
)

// udpConns returns an opened conn.StdNetBind's IPv4 and IPv6 sockets (nil
// for those it does not have or that cannot be found).
func udpConns(b conn.Bind) (v4, v6 *net.UDPConn) {
	return bindField[net.UDPConn](b, "ipv4"), bindField[net.UDPConn](b, "ipv6")
}

// openUDPReads opens b on port and returns a read per socket it opened:
// udpReaders on the bind's sockets, or the bind's own ReceiveFuncs where
// those cannot be found.
func openUDPReads(b conn.Bind, port uint16) ([]udpRead, error) {
	fns, _, err := b.Open(port)
	if err != nil {
		return nil, err
	}
	var reads []udpRead
	for _, c := range udpConnList(b) {
		r, err := newUDPReader(c, conn.IdealBatchSize)
		if err != nil {
			reads = nil
			break
		}
		reads = append(reads, r.read)
	}
	if len(reads) != len(fns) {
		// Not every socket found: the bind's own reads, all of them.
		reads = reads[:0]
		for _, fn := range fns {
			reads = append(reads, bindRead(fn))
		}
	}
	return reads, nil
}

// udpConnList is udpConns as a list of the sockets found.
func udpConnList(b conn.Bind) []*net.UDPConn {
	var out []*net.UDPConn
	v4, v6 := udpConns(b)
	for _, c := range []*net.UDPConn{v4, v6} {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

// udpGROSegments is the most segments of one coalesced datagram: a read
// from a socket with UDP GRO on takes one datagram per udpGROSegments
// buffers, into the last slots, and splits them into the buffers before
// (wireguard-go's StdNetBind reads the same way).
const (
	udpGROSegments = 64
	// udpOOBSize holds a GRO segment size and a packet info message.
	udpOOBSize = 128
)

// udpReader reads one UDP socket (see the file comment). It is used by one
// goroutine at a time.
type udpReader struct {
	rc  syscall.RawConn
	gro bool // UDP_GRO is on: coalesced datagrams arrive
	// Scratch, one per buffer of a read.
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	oob   []byte
}

// newUDPReader returns a reader of c for batches of up to n buffers.
func newUDPReader(c *net.UDPConn, n int) (*udpReader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &udpReader{rc: rc, gro: true}
	// A socket whose GRO state cannot be read is taken to coalesce: a
	// reader that splits what is not coalesced only reads fewer per call.
	_ = rc.Control(func(fd uintptr) {
		if v, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO); err == nil {
			r.gro = v != 0
		}
	})
	r.hdrs, r.iovs, r.names = newMmsgHdrs[unix.RawSockaddrInet6](n)
	r.oob = make([]byte, n*udpOOBSize)
	return r, nil
}

// read fills bufs with datagrams: sizes[i] is datagram i's length (0: a
// slot to skip), from[i] its source and to[i] the local address it was
// sent to (invalid when the kernel did not say). It waits for the first.
func (r *udpReader) read(bufs [][]byte, sizes []int, from []netip.AddrPort, to []netip.Addr) (int, error) {
	n := min(len(bufs), len(r.hdrs))
	at := 0
	if r.gro {
		at = n - max(n/udpGROSegments, 1)
	}
	for i := at; i < n; i++ {
		h := &r.hdrs[i]
		r.iovs[i].Base, r.iovs[i].Len = &bufs[i][0], uint64(len(bufs[i]))
		h.hdr.Namelen = unix.SizeofSockaddrInet6
		h.hdr.Control = &r.oob[i*udpOOBSize]
		h.hdr.SetControllen(udpOOBSize)
		h.hdr.Flags, h.len = 0, 0
	}
	got, err := mmsg(r.rc, false, r.hdrs[at:n])
	if err != nil {
		return 0, err
	}
	out := 0
	for i := at; i < at+got; i++ {
		h := &r.hdrs[i]
		size := int(h.len)
		src := sockaddrAddrPort(&r.names[i], h.hdr.Namelen)
		seg, local := parseUDPControl(r.oob[i*udpOOBSize : i*udpOOBSize+int(h.hdr.Controllen)])
		if h.hdr.Flags&unix.MSG_TRUNC != 0 || !src.IsValid() {
			continue // cut short (a buffer too small) or no source: dropped
		}
		if seg <= 0 || seg >= size {
			seg = size
		}
		for start := 0; start < size; start += seg {
			if out > i {
				return out, errors.New("dataplane: splitting a coalesced UDP datagram overflowed the batch")
			}
			end := min(start+seg, size)
			if out != i || start != 0 {
				copy(bufs[out], bufs[i][start:end])
			}
			sizes[out], from[out], to[out] = end-start, src, local
			out++
		}
	}
	return out, nil
}

// sockaddrAddrPort decodes a sockaddr_in or sockaddr_in6 of length n.
func sockaddrAddrPort(sa *unix.RawSockaddrInet6, n uint32) netip.AddrPort {
	b := unsafe.Slice((*byte)(unsafe.Pointer(sa)), unix.SizeofSockaddrInet6)[:min(n, unix.SizeofSockaddrInet6)]
	return parseSockaddr(b)
}

// parseSockaddr decodes a sockaddr_in or sockaddr_in6 (host byte order
// family, network byte order port); invalid for anything else.
func parseSockaddr(b []byte) netip.AddrPort {
	if len(b) < 2 {
		return netip.AddrPort{}
	}
	switch binary.NativeEndian.Uint16(b) {
	case unix.AF_INET:
		if len(b) < unix.SizeofSockaddrInet4 {
			return netip.AddrPort{}
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[2:4]))
	case unix.AF_INET6:
		if len(b) < unix.SizeofSockaddrInet6 {
			return netip.AddrPort{}
		}
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), binary.BigEndian.Uint16(b[2:4]))
	}
	return netip.AddrPort{}
}

// parseUDPControl reads a received datagram's control messages: the UDP
// GRO segment size (0: not coalesced) and the local address from
// IP_PKTINFO (its spec_dst, as conn.StdNetEndpoint.SrcIP) or
// IPV6_PKTINFO. Malformed messages end the parse with what was found.
func parseUDPControl(b []byte) (seg int, local netip.Addr) {
	for len(b) >= unix.SizeofCmsghdr {
		hdr, data, rest, err := unix.ParseOneSocketControlMessage(b)
		if err != nil {
			return seg, local
		}
		switch {
		case hdr.Level == unix.SOL_UDP && hdr.Type == unix.UDP_GRO && len(data) >= 4:
			seg = int(int32(binary.NativeEndian.Uint32(data)))
		case hdr.Level == unix.SOL_UDP && hdr.Type == unix.UDP_GRO && len(data) >= 2:
			seg = int(binary.NativeEndian.Uint16(data))
		case hdr.Level == unix.IPPROTO_IP && hdr.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			local = netip.AddrFrom4([4]byte(data[4:8]))
		case hdr.Level == unix.IPPROTO_IPV6 && hdr.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			local = netip.AddrFrom16([16]byte(data[0:16]))
		}
		b = rest
	}
	return seg, local
}

// udpWriter sends batches of datagrams, each to its own destination, on
// one socket (see the file comment); it has ipv4.PacketConn.WriteBatch's
// shape (batchWriter) and, as ikeSockets uses it, one caller at a time.
type udpWriter struct {
	rc    syscall.RawConn
	hdrs  []mmsghdr
	iovs  []unix.Iovec // udpWriterIovs per message
	names []unix.RawSockaddrInet6
}

// udpWriterIovs is the most buffers of one message (the non-ESP marker and
// the IKE message).
const udpWriterIovs = 2

func newUDPWriter(c *net.UDPConn, n int) (*udpWriter, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	w := &udpWriter{rc: rc, hdrs: make([]mmsghdr, n), iovs: make([]unix.Iovec, n*udpWriterIovs), names: make([]unix.RawSockaddrInet6, n)}
	for i := range w.hdrs {
		w.hdrs[i].hdr.Iov = &w.iovs[i*udpWriterIovs]
		w.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&w.names[i]))
	}
	return w, nil
}

// errUDPMessage is write's error for a message it cannot encode (more
// buffers than udpWriterIovs, an empty buffer or a destination that is not
// a *net.UDPAddr).
var errUDPMessage = errors.New("dataplane: UDP message not sendable in a batch")

// write sends ms (at most len(w.hdrs)) and returns how many went out; an
// error concerns ms[n].
func (w *udpWriter) write(ms []ipv4.Message, _ int) (int, error) {
	ms = ms[:min(len(ms), len(w.hdrs))]
	for i := range ms {
		h := &w.hdrs[i]
		ua, ok := ms[i].Addr.(*net.UDPAddr)
		if !ok || len(ms[i].Buffers) == 0 || len(ms[i].Buffers) > udpWriterIovs {
			if i == 0 {
				return 0, errUDPMessage
			}
			ms = ms[:i]
			break
		}
		nb := 0
		for _, b := range ms[i].Buffers {
			if len(b) == 0 {
				continue
			}
			w.iovs[i*udpWriterIovs+nb] = unix.Iovec{Base: &b[0], Len: uint64(len(b))}
			nb++
		}
		h.hdr.SetIovlen(nb)
		h.hdr.Namelen = putSockaddr(&w.names[i], ua.AddrPort())
		h.len = 0
	}
	n, err := mmsg(w.rc, true, w.hdrs[:len(ms)])
	clear(w.iovs) // drop the references to the callers' buffers
	return n, err
}

// putSockaddr encodes a as a sockaddr_in (an IPv4 or IPv4-mapped address)
// or sockaddr_in6 into sa and returns its length.
func putSockaddr(sa *unix.RawSockaddrInet6, a netip.AddrPort) uint32 {
	b := unsafe.Slice((*byte)(unsafe.Pointer(sa)), unix.SizeofSockaddrInet6)
	clear(b)
	binary.BigEndian.PutUint16(b[2:4], a.Port())
	if ip := a.Addr(); ip.Is4() || ip.Is4In6() {
		binary.NativeEndian.PutUint16(b, unix.AF_INET)
		v4 := ip.Unmap().As4()
		copy(b[4:8], v4[:])
		return unix.SizeofSockaddrInet4
	}
	binary.NativeEndian.PutUint16(b, unix.AF_INET6)
	v6 := a.Addr().As16()
	copy(b[8:24], v6[:])
	return unix.SizeofSockaddrInet6
}
