package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
)

// rawESP is a raw IPv4 socket for IP protocol 50. With no ESP in the kernel,
// protocol-50 packets addressed to the host are delivered to raw sockets
// only (the kernel sends no ICMP protocol-unreachable when a raw socket took
// the packet). Received packets include their IPv4 header. (IPv6 raw ESP is
// not implemented.)
//
// Sends use IP_HDRINCL: the sender writes a 20-byte outer IPv4 header in
// front of each ESP packet (the headroom is there: see rawFrame) and the
// kernel fills in the source address, identification, total length and
// header checksum. Without it the kernel builds the header itself but goes
// through ip_append_data, which computes a software checksum of every
// packet while copying it in (csum_partial_copy_generic, 4–5 % of the
// agents' CPU in a raw ESP transfer), a checksum nothing uses; with it the
// copy is plain. IP_HDRINCL does not fragment: a packet longer than the
// outgoing device's MTU fails with EMSGSIZE, and send then sends that one
// packet with the option off (the kernel fragments it), see sendOne.
//
// Both directions use recvmmsg/sendmmsg directly on preallocated headers:
// no per-message allocation (x/net's ipv4.PacketConn allocated an address
// per message and packed the headers per call).
//
// With pkt (the default, see rawpacket.go) most sends leave on an
// AF_PACKET socket past the kernel's IP output path instead; the raw
// socket takes the rest, and always receives.
type rawESP struct {
	c  *net.IPConn
	rc syscall.RawConn
	// hdrincl is whether IP_HDRINCL is on: sends carry their own header.
	hdrincl bool
	// pkt is the AF_PACKET send path; nil when off (Config.RawSocketSend)
	// or without IP_HDRINCL.
	pkt *packetSend

	// send scratch, used by one goroutine at a time: routineSend, or the
	// TUN reader for a batch it runs to completion while nothing is in
	// flight (dispatchOut).
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet4
}

// mmsghdr is struct mmsghdr of sendmmsg(2)/recvmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// newMmsgHdrs returns n message headers for sendmmsg, each with one iovec
// (iovs[i]) and a destination address (names[i], of type N).
func newMmsgHdrs[N any](n int) (hdrs []mmsghdr, iovs []unix.Iovec, names []N) {
	hdrs, iovs, names = make([]mmsghdr, n), make([]unix.Iovec, n), make([]N, n)
	for i := range hdrs {
		hdrs[i].hdr.Iov = &iovs[i]
		hdrs[i].hdr.SetIovlen(1)
		hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&names[i]))
		hdrs[i].hdr.Namelen = uint32(unsafe.Sizeof(names[i]))
	}
	return hdrs, iovs, names
}

// rawHeaderLen is the outer IPv4 header rawFrame writes (no options).
const rawHeaderLen = 20

// rawTTL is the outer header's TTL (Linux's default).
const rawTTL = 64

// openRawESP opens the raw socket, and with packet the AF_PACKET send
// path, in the calling thread's network namespace.
func openRawESP(packet bool) (*rawESP, error) {
	c, err := net.ListenIP("ip4:50", nil)
	if err != nil {
		return nil, err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("dataplane: raw ESP socket: %w", err)
	}
	r := &rawESP{c: c, rc: rc}
	rc.Control(func(fd uintptr) {
		// As conn.StdNetBind does for UDP: large buffers, beyond
		// rmem_max when we have CAP_NET_ADMIN.
		const size = 7 << 20
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size)
		r.hdrincl = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_HDRINCL, 1) == nil
	})
	r.hdrs, r.iovs, r.names = newMmsgHdrs[unix.RawSockaddrInet4](conn.IdealBatchSize)
	for i := range r.names {
		r.names[i].Family = unix.AF_INET
	}
	if packet && r.hdrincl {
		if r.pkt, err = openPacketSend(); err != nil {
			c.Close()
			return nil, err
		}
	}
	return r, nil
}

func (r *rawESP) Close() error {
	if r.pkt != nil {
		r.pkt.Close()
	}
	return r.c.Close()
}

// rawFrame returns the packet to send for e's sealed ESP packet (e.pkt) to
// dst: with IP_HDRINCL, the packet with an outer IPv4 header written into
// the headroom in front of it (version 4, no options, TTL 64, protocol 50,
// DF clear; source, identification, length and checksum zero for the
// kernel to fill in); without it, e.pkt itself.
func (r *rawESP) rawFrame(e *element, dst [4]byte) []byte {
	if !r.hdrincl {
		return e.pkt
	}
	off := cap(e.buf) - cap(e.pkt) // e.pkt's offset in e.buf
	if off < rawHeaderLen {
		return nil // cannot happen: the ESP header starts at ≥ txOffset − esp.MaxHeadroom
	}
	f := e.buf[off-rawHeaderLen : off+len(e.pkt)]
	h := f[:rawHeaderLen]
	clear(h)
	h[0] = 0x45 // version 4, IHL 5
	h[8] = rawTTL
	h[9] = unix.IPPROTO_ESP
	copy(h[16:20], dst[:])
	return f
}

// send writes packets, bufs[i] to dsts[i] (framed by rawFrame): each run
// of packets taking the same way (AF_PACKET or the raw socket, see
// packetSend.prepare) with one sendmmsg per conn.IdealBatchSize packets,
// the runs in order.
func (r *rawESP) send(bufs [][]byte, dsts [][4]byte) error {
	p := r.pkt
	if p == nil {
		return r.sendSocket(bufs, dsts)
	}
	hops := *p.hops.Load()
	p.ways = p.ways[:0]
	for i, b := range bufs {
		if len(b) == 0 {
			return fmt.Errorf("dataplane: raw ESP send: no headroom for the outer header")
		}
		p.ways = append(p.ways, p.prepare(hops, b, dsts[i]))
	}
	var first error
	for start := 0; start < len(bufs); {
		viaPacket := p.ways[start] != nil
		end := start + 1
		for end < len(bufs) && (p.ways[end] != nil) == viaPacket {
			end++
		}
		var err error
		if viaPacket {
			err = p.send(bufs[start:end], p.ways[start:end])
		} else {
			p.fellBack.Add(uint64(end - start))
			err = r.sendSocket(bufs[start:end], dsts[start:end])
		}
		if first == nil {
			first = err
		}
		start = end
	}
	clear(p.ways)
	return first
}

// sendSocket writes packets on the raw socket, bufs[i] to dsts[i] (framed
// by rawFrame), with one sendmmsg per conn.IdealBatchSize packets.
func (r *rawESP) sendSocket(bufs [][]byte, dsts [][4]byte) error {
	for start := 0; start < len(bufs); {
		n := min(len(bufs)-start, len(r.hdrs))
		for i := range n {
			b := bufs[start+i]
			if len(b) == 0 {
				return fmt.Errorf("dataplane: raw ESP send: no headroom for the outer header")
			}
			r.iovs[i].Base = &b[0]
			r.iovs[i].SetLen(len(b))
			r.names[i].Addr = dsts[start+i]
		}
		sent, err := r.sendmmsg(r.hdrs[:n])
		if errors.Is(err, unix.EMSGSIZE) && r.hdrincl {
			// The first packet is longer than the device MTU.
			if err = r.sendOne(bufs[start], dsts[start]); err != nil {
				return err
			}
			sent = 1
		} else if err != nil {
			return fmt.Errorf("dataplane: raw ESP send: %w", err)
		}
		start += sent
	}
	return nil
}

// sendmmsg sends hdrs with one system call (waiting while the socket
// buffer is full) and returns how many went out.
func (r *rawESP) sendmmsg(hdrs []mmsghdr) (int, error) { return mmsg(r.rc, true, hdrs) }

// recvmmsg reads up to len(hdrs) packets with one system call (waiting for
// the first) and returns how many arrived; hdrs[i].len is each one's size.
func (r *rawESP) recvmmsg(hdrs []mmsghdr) (int, error) { return mmsg(r.rc, false, hdrs) }

// mmsg is sendmmsg(2) (write) or recvmmsg(2) on the socket of rc, through
// the runtime's poller (EAGAIN waits for readiness).
//
// The call is a RawSyscall with MSG_DONTWAIT: it never blocks, so the
// runtime need not know the goroutine is in the kernel. Through
// Syscall (entersyscall), a batch that runs longer than sysmon's 20 µs
// tick (a send runs the receiving side's IP input inline on a veth) has
// its P retaken and handed to another thread, and the first call after
// the process idled wakes sysmon back to 20 µs polling
// (docs/benchmarks.md, "Raw ESP system calls outside the scheduler").
func mmsg(rc syscall.RawConn, write bool, hdrs []mmsghdr) (int, error) {
	trap, wait := uintptr(unix.SYS_RECVMMSG), rc.Read
	if write {
		trap, wait = unix.SYS_SENDMMSG, rc.Write
	}
	var n int
	var errno syscall.Errno
	err := wait(func(fd uintptr) bool {
		m, _, e := unix.RawSyscall6(trap, fd, uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EAGAIN {
			return false
		}
		n, errno = int(m), e
		return true
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return n, nil
}

// sendOne sends one packet framed by rawFrame with IP_HDRINCL off for the
// call, so that the kernel builds the header and fragments the packet.
// Only one goroutine sends on the socket at a time (see the scratch
// fields), so switching the option is safe.
func (r *rawESP) sendOne(b []byte, dst [4]byte) error {
	var err error
	cerr := r.rc.Control(func(fd uintptr) {
		if err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_HDRINCL, 0); err != nil {
			return
		}
		defer unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_HDRINCL, 1)
		err = unix.Sendto(int(fd), b[rawHeaderLen:], 0, &unix.SockaddrInet4{Addr: dst})
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("dataplane: raw ESP send (fragmented): %w", err)
	}
	return nil
}

// routineReceiveRaw is the inbound stages 1-3 for the raw ESP socket.
func (d *Dataplane) routineReceiveRaw() {
	defer d.recvWG.Done()
	n := conn.IdealBatchSize
	elems := make([]*element, n)
	hdrs := make([]mmsghdr, n)
	iovs := make([]unix.Iovec, n)
	d.pool.fill(elems)
	setBuf := func(i int) {
		b := elems[i].buf[rxOffset:]
		iovs[i].Base = &b[0]
		iovs[i].SetLen(len(b))
	}
	for i := range elems {
		hdrs[i].hdr.Iov = &iovs[i]
		hdrs[i].hdr.SetIovlen(1)
		setBuf(i)
	}
	defer d.pool.putAll(elems)
	var batch *inBatch
	rs := receiverState{pipeline: true}
	errorsInARow := 0
	for {
		count, err := d.raw.recvmmsg(hdrs)
		if err != nil {
			if d.closed.Load() {
				return
			}
			errorsInARow++
			if errorsInARow > 10 {
				d.log.Error("raw ESP receive keeps failing; receiver stopped", "err", err)
				return
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		errorsInARow = 0
		snap := d.state.Load()
		for i := 0; i < count; i++ {
			size := int(hdrs[i].len)
			b := elems[i].buf[rxOffset : rxOffset+size]
			if size < 20 || b[0]>>4 != 4 || hdrs[i].hdr.Flags&unix.MSG_TRUNC != 0 {
				d.stats.malformed.Add(1)
				continue
			}
			ihl := int(b[0]&0x0f) * 4
			if ihl < 20 || ihl > size {
				d.stats.malformed.Add(1)
				continue
			}
			if d.acceptESP(snap, elems[i], rxOffset+ihl, size-ihl, &batch) {
				elems[i] = nil
			}
		}
		if d.pool.fill(elems[:count]) {
			for i := range count {
				setBuf(i)
			}
		}
		d.dispatchIn(batch, &rs)
		batch = nil
	}
}

// errRawNotIPv4 accounts raw ESP packets to a remote that is not IPv4 as
// send drops.
var errRawNotIPv4 = errors.New("dataplane: raw ESP is IPv4 only")

// localFor returns the local address and port a datagram from remote
// arrived on: local, the IP_PKTINFO destination, when the kernel reported
// it (udpReader keeps it; conn.StdNetBind, the fallback, drops it whenever
// the socket has UDP GRO, that is always on Linux: its split of coalesced
// datagrams keeps no control message), else the source address
// the routing table picks towards the peer (srcSelector: a connect on a
// UDP socket, not a netlink lookup), cached for localTTL. IKE needs it for
// NAT detection (RFC 7296 §2.23), before the answer to a new client's
// IKE_SA_INIT.
//
// The cache holds every peer (up to localCacheMax): with 10,000 idle
// tunnels each liveness check arrives through GRO without IP_PKTINFO, and a
// smaller cache (it was 4,096, cleared when full) or a shorter life (it
// was a minute) made a netlink route lookup of most of them, a fifth of
// the idle agent's CPU.
func (d *Dataplane) localFor(local netip.Addr, from netip.AddrPort, port uint16) netip.AddrPort {
	if local.IsValid() && !local.IsUnspecified() {
		return netip.AddrPortFrom(local.Unmap(), port)
	}
	remote := from.Addr().Unmap()
	now := time.Now()
	d.localMu.Lock()
	defer d.localMu.Unlock()
	if c, ok := d.localCache[remote]; ok && now.Sub(c.at) < localTTL {
		return netip.AddrPortFrom(c.addr, port)
	}
	local = netip.IPv4Unspecified()
	if remote.Is6() {
		local = netip.IPv6Unspecified()
	}
	if a, err := d.srcSel.pick(remote); err == nil {
		local = a.Unmap()
	}
	if len(d.localCache) >= localCacheMax {
		clear(d.localCache)
	}
	d.localCache[remote] = localEntry{addr: local, at: now}
	return netip.AddrPortFrom(local, port)
}

// localTTL is how long a routing lookup for localFor is trusted; a source
// address that changes with the routes is followed within it.
const localTTL = 10 * time.Minute

// localCacheMax bounds localFor's cache (~64 bytes an entry); past it the
// cache starts over.
const localCacheMax = 1 << 17

type localEntry struct {
	addr netip.Addr
	at   time.Time
}
