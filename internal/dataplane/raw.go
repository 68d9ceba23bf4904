package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
)

// rawESP is a raw IPv4 socket for IP protocol 50. With no ESP in the kernel,
// protocol-50 packets addressed to the host are delivered to raw sockets
// only (the kernel sends no ICMP protocol-unreachable when a raw socket took
// the packet). Received packets include their IPv4 header; sent packets get
// one from the kernel. (IPv6 raw ESP is not implemented.)
type rawESP struct {
	c  *net.IPConn
	pc *ipv4.PacketConn
}

func openRawESP() (*rawESP, error) {
	c, err := net.ListenIP("ip4:50", nil)
	if err != nil {
		return nil, err
	}
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			// As conn.StdNetBind does for UDP: large buffers, beyond
			// rmem_max when we have CAP_NET_ADMIN.
			const size = 7 << 20
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size)
		})
	}
	return &rawESP{c: c, pc: ipv4.NewPacketConn(c)}, nil
}

func (r *rawESP) Close() error { return r.c.Close() }

// send writes ESP packets, bufs[i] to dsts[i], with one sendmmsg per
// len(msgs) packets; msgs is scratch space of messages with one buffer each.
func (r *rawESP) send(bufs [][]byte, dsts []*net.IPAddr, msgs []ipv4.Message) error {
	for start := 0; start < len(bufs); {
		n := min(len(bufs)-start, len(msgs))
		for i := 0; i < n; i++ {
			msgs[i].Buffers[0] = bufs[start+i]
			msgs[i].Addr = dsts[start+i]
		}
		sent, err := r.pc.WriteBatch(msgs[:n], 0)
		if err != nil {
			return fmt.Errorf("dataplane: raw ESP send: %w", err)
		}
		start += sent
	}
	return nil
}

// routineReceiveRaw is the inbound stages 1-3 for the raw ESP socket.
func (d *Dataplane) routineReceiveRaw() {
	defer d.recvWG.Done()
	n := conn.IdealBatchSize
	elems := make([]*element, n)
	msgs := make([]ipv4.Message, n)
	d.pool.fill(elems)
	for i := range elems {
		msgs[i].Buffers = [][]byte{elems[i].buf[rxOffset:]}
	}
	defer d.pool.putAll(elems)
	var batch *inBatch
	errorsInARow := 0
	for {
		count, err := d.raw.pc.ReadBatch(msgs, 0)
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
			size := msgs[i].N
			b := elems[i].buf[rxOffset : rxOffset+size]
			if size < 20 || b[0]>>4 != 4 {
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
			msgs[i].Addr = nil
		}
		if d.pool.fill(elems[:count]) {
			for i := range count {
				msgs[i].Buffers[0] = elems[i].buf[rxOffset:]
			}
		}
		d.dispatchIn(batch)
		batch = nil
	}
}

// localFor returns the local address and port a datagram from ep arrived
// on: the IP_PKTINFO destination when the kernel reported it (conn drops it
// for datagrams that went through UDP GRO), else the source address the
// routing table picks towards the peer, cached for localTTL. IKE needs it
// for NAT detection (RFC 7296 §2.23).
//
// The cache holds every peer (up to localCacheMax): with 10,000 idle
// tunnels each liveness check arrives through GRO without IP_PKTINFO, and a
// smaller cache (it was 4,096, cleared when full) or a shorter life (it
// was a minute) made a netlink route lookup of most of them, a fifth of
// the idle agent's CPU.
func (d *Dataplane) localFor(ep *conn.StdNetEndpoint, port uint16) netip.AddrPort {
	if a := ep.SrcIP(); a.IsValid() && !a.IsUnspecified() {
		return netip.AddrPortFrom(a.Unmap(), port)
	}
	remote := ep.AddrPort.Addr().Unmap()
	now := time.Now()
	d.localMu.Lock()
	defer d.localMu.Unlock()
	if c, ok := d.localCache[remote]; ok && now.Sub(c.at) < localTTL {
		return netip.AddrPortFrom(c.addr, port)
	}
	local := netip.IPv4Unspecified()
	if remote.Is6() {
		local = netip.IPv6Unspecified()
	}
	if routes, err := d.nl.RouteGet(remote.AsSlice()); err == nil && len(routes) > 0 {
		if a, ok := netip.AddrFromSlice(routes[0].Src); ok {
			local = a.Unmap()
		}
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
