package dataplane

/* Raw ESP sends on an AF_PACKET socket
 *
 * The raw IP socket (raw.go) hands every ESP packet to the kernel's IP
 * output path: a route lookup, netfilter OUTPUT and POSTROUTING, the
 * neighbour layer and the device's qdisc, per packet. packetSend skips all
 * of that for packets whose way out it knows: it completes the outer IPv4
 * header itself (source address, identification, total length, checksum;
 * TTL 64, DF clear, as the raw path) and sends the packet on an AF_PACKET
 * SOCK_DGRAM socket with PACKET_QDISC_BYPASS, with the next hop's MAC and
 * the egress device in each message's sockaddr_ll: the kernel adds the
 * Ethernet header and calls the driver.
 *
 * What it bypasses, on purpose: the host's netfilter OUTPUT and
 * POSTROUTING hooks (SNAT/masquerade, filter rules, marks and conntrack on
 * raw ESP leaving the gateway), policy routing by anything but the
 * destination (fwmark, uid, source rules: the way out is the one
 * `ip route get <peer>` gives), and the egress qdisc (shaping, fq pacing).
 *
 * The way out (hop) of each destination is resolved off the hot path by
 * routineResolve with netlink: the route (egress device, gateway, preferred
 * source, route MTU), the device (Ethernet, up, MTU) and the neighbour
 * entry of the next hop (its MAC). The table is an immutable map behind an
 * atomic pointer, rebuilt on every neighbour, route or link change the
 * kernel reports and every rawHopRefresh; the sender only loads it.
 *
 * A packet takes the raw socket instead (the fallback, which also makes
 * the kernel resolve what is missing) when its destination has no hop yet
 * (the sender asks routineResolve for one), when the route is not a plain
 * unicast route with a preferred source, the device is not an Ethernet
 * device that is up, the neighbour is not resolved (INCOMPLETE, FAILED,
 * none), the packet is longer than the route's or the device's MTU (the
 * kernel fragments it there), the socket could not be opened, or once per
 * refresh while the neighbour entry is STALE: the kernel sees the
 * neighbour used and revalidates it (DELAY, PROBE), so a next hop whose
 * MAC changed is found again as it would be without this path.
 */

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
)

// rawHopRefresh is how often routineResolve re-resolves every known
// destination without a netlink event (addresses, missed events).
const rawHopRefresh = 2 * time.Second

// rawHopMax bounds the hop table; destinations beyond it use the raw socket.
const rawHopMax = 4096

// rawHopIdle is how many resolutions in a row a destination may go without
// a packet before it leaves the table (a minute); its next packet takes the
// raw socket and asks for it again.
const rawHopIdle = 30

// rawHop is the way out to one raw ESP destination. Immutable once
// published, except poke.
type rawHop struct {
	ok      bool // false: use the raw socket (see why)
	why     string
	ifindex int32
	mac     [6]byte
	src     [4]byte
	mtu     int // largest IPv4 packet the device (or route) takes
	// poke is set while the neighbour entry is STALE, once per resolution:
	// the next packet goes through the raw socket.
	poke atomic.Bool
	// used is set by the sender when a packet to the destination comes;
	// idle counts the resolutions before this one that saw none.
	used atomic.Bool
	idle int
}

// hopTable maps a destination to its hop.
type hopTable map[[4]byte]*rawHop

// packetSend is the AF_PACKET send path of rawESP.
type packetSend struct {
	f  *os.File
	rc syscall.RawConn
	nl *netlink.Handle

	// hops is the current table, replaced by routineResolve only.
	hops atomic.Pointer[hopTable]
	// want carries destinations without a hop from the sender to
	// routineResolve (never blocks the sender: a full channel drops).
	want chan [4]byte

	neighs chan netlink.NeighUpdate
	routes chan netlink.RouteUpdate
	links  chan netlink.LinkUpdate
	done   chan struct{}
	wg     sync.WaitGroup

	// Sender scratch, owned like rawESP's.
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrLinklayer
	ways  []*rawHop // per packet of a send call: its hop, nil for the socket
	id    uint16    // the next outer IPv4 identification
	call  struct {  // sendmmsg's arguments and results
		hdrs  []mmsghdr
		n     int
		errno syscall.Errno
	}
	callFn func(fd uintptr) // p.sendmmsgFd

	// sent and dropped count packets sent on the AF_PACKET socket and
	// dropped by the device (ENOBUFS); fellBack counts packets the send
	// path gave to the raw socket instead.
	sent, dropped, fellBack atomic.Uint64
}

// openPacketSend opens the AF_PACKET socket and netlink subscriptions in
// the calling thread's network namespace and starts routineResolve.
func openPacketSend() (_ *packetSend, err error) {
	// A blocking socket, outside the runtime's poller: registered with
	// epoll, every sent packet's skb, freed by the receiving end, would
	// wake the poller (sock_def_write_space; a third more time a batch
	// in BenchmarkRawESPSendVeth). A full send buffer blocks the sender's
	// thread in sendmmsg instead.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dataplane: AF_PACKET socket: %w", err)
	}
	p := &packetSend{
		f:      os.NewFile(uintptr(fd), "af_packet"),
		want:   make(chan [4]byte, 64),
		neighs: make(chan netlink.NeighUpdate, 64),
		routes: make(chan netlink.RouteUpdate, 64),
		links:  make(chan netlink.LinkUpdate, 64),
		done:   make(chan struct{}),
	}
	defer func() {
		if err != nil {
			close(p.done)
			p.f.Close()
			if p.nl != nil {
				p.nl.Close()
			}
		}
	}()
	// Protocol 0: the socket receives nothing. Without the qdisc the
	// kernel hands each packet to the driver directly.
	if err = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return nil, fmt.Errorf("dataplane: PACKET_QDISC_BYPASS: %w", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 7<<20)
	if p.rc, err = p.f.SyscallConn(); err != nil {
		return nil, fmt.Errorf("dataplane: AF_PACKET socket: %w", err)
	}
	if p.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		return nil, fmt.Errorf("dataplane: netlink: %w", err)
	}
	// The subscriptions' sockets live in this thread's namespace; an error
	// closes a channel, and the periodic refresh still follows changes.
	if err = netlink.NeighSubscribeWithOptions(p.neighs, p.done, netlink.NeighSubscribeOptions{}); err != nil {
		return nil, fmt.Errorf("dataplane: neighbour updates: %w", err)
	}
	if err = netlink.RouteSubscribeWithOptions(p.routes, p.done, netlink.RouteSubscribeOptions{}); err != nil {
		return nil, fmt.Errorf("dataplane: route updates: %w", err)
	}
	if err = netlink.LinkSubscribeWithOptions(p.links, p.done, netlink.LinkSubscribeOptions{}); err != nil {
		return nil, fmt.Errorf("dataplane: link updates: %w", err)
	}
	p.hdrs, p.iovs, p.names = newMmsgHdrs[unix.RawSockaddrLinklayer](conn.IdealBatchSize)
	for i := range p.names {
		p.names[i].Family = unix.AF_PACKET
		p.names[i].Protocol = htons(unix.ETH_P_IP)
		p.names[i].Halen = 6
	}
	p.callFn = p.sendmmsgFd
	p.hops.Store(&hopTable{})
	p.wg.Add(1)
	go p.routineResolve()
	return p, nil
}

// Close stops routineResolve and closes the socket.
func (p *packetSend) Close() error {
	close(p.done)
	p.wg.Wait()
	p.nl.Close()
	return p.f.Close()
}

// prepare decides how the framed packet b (rawFrame's, with IP_HDRINCL)
// to dst leaves: on the AF_PACKET socket (it returns the hop, and b's outer
// header is complete) or on the raw socket (nil; b is unchanged).
func (p *packetSend) prepare(hops hopTable, b []byte, dst [4]byte) *rawHop {
	h := hops[dst]
	if h == nil {
		select {
		case p.want <- dst:
		default:
		}
		return nil
	}
	if !h.used.Load() {
		h.used.Store(true)
	}
	switch {
	case !h.ok, len(b) > h.mtu, len(b) < rawHeaderLen:
		return nil
	case h.poke.Load() && h.poke.CompareAndSwap(true, false):
		return nil
	}
	completeIPv4Header(b[:rawHeaderLen], len(b), p.id, h.src)
	p.id++
	return h
}

// completeIPv4Header fills in what the kernel fills in for IP_HDRINCL:
// the total length, identification, source address and header checksum.
func completeIPv4Header(h []byte, total int, id uint16, src [4]byte) {
	h[2], h[3] = byte(total>>8), byte(total)
	h[4], h[5] = byte(id>>8), byte(id)
	copy(h[12:16], src[:])
	h[10], h[11] = 0, 0
	var s uint32
	for i := 0; i < rawHeaderLen; i += 2 {
		s += uint32(h[i])<<8 | uint32(h[i+1])
	}
	s = s>>16 + s&0xffff
	s += s >> 16
	c := ^uint16(s)
	h[10], h[11] = byte(c>>8), byte(c)
}

// send writes bufs[i] (prepared) to hops[i] with one sendmmsg per
// conn.IdealBatchSize packets. A packet the device refuses (ENOBUFS, a
// full transmit queue) is dropped and counted, as a qdisc would.
func (p *packetSend) send(bufs [][]byte, hops []*rawHop) error {
	for start := 0; start < len(bufs); {
		n := min(len(bufs)-start, len(p.hdrs))
		for i := range n {
			b, h := bufs[start+i], hops[start+i]
			p.iovs[i].Base = &b[0]
			p.iovs[i].SetLen(len(b))
			p.names[i].Ifindex = h.ifindex
			copy(p.names[i].Addr[:6], h.mac[:])
		}
		sent, err := p.sendmmsg(p.hdrs[:n])
		switch {
		case errors.Is(err, unix.ENOBUFS):
			p.dropped.Add(1)
			sent = 1
		case err != nil:
			return fmt.Errorf("dataplane: raw ESP send (AF_PACKET): %w", err)
		default:
			p.sent.Add(uint64(sent))
		}
		start += sent
	}
	return nil
}

// sendmmsg sends hdrs with one (blocking) system call and returns how many
// went out. Control keeps the descriptor open while the call runs.
// The call's arguments and results pass through p.call, so that the
// function given to Control (p.callFn) is made once, not per call.
func (p *packetSend) sendmmsg(hdrs []mmsghdr) (int, error) {
	p.call.hdrs = hdrs
	err := p.rc.Control(p.callFn)
	p.call.hdrs = nil
	if err != nil {
		return 0, err
	}
	if p.call.errno != 0 {
		return 0, p.call.errno
	}
	return p.call.n, nil
}

// sendmmsgFd is p.callFn: sendmmsg(2) of p.call.hdrs on fd. It first
// tries without blocking, as a RawSyscall (see mmsg: no P retaken from a
// long batch, no sysmon woken); only a full send buffer (EAGAIN before
// the first packet) makes it wait in a blocking call the runtime knows
// about.
func (p *packetSend) sendmmsgFd(fd uintptr) {
	h := p.call.hdrs
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&h[0])), uintptr(len(h)), unix.MSG_DONTWAIT, 0, 0)
	if errno == unix.EAGAIN {
		n, _, errno = unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&h[0])), uintptr(len(h)), 0, 0, 0)
	}
	p.call.n, p.call.errno = int(n), errno
}

// routineResolve keeps the hop table: it resolves destinations the sender
// asks for, and re-resolves all of them on kernel changes and every
// rawHopRefresh.
func (p *packetSend) routineResolve() {
	defer p.wg.Done()
	tick := time.NewTicker(rawHopRefresh)
	defer tick.Stop()
	now := make(chan time.Time)
	close(now)
	var add [][4]byte
	pending := false // add or a kernel change waits for resolveAll
	for {
		// With something pending, resolve once nothing else is ready:
		// a burst of changes costs one resolution (mostly: select picks
		// among ready cases at random).
		wait := tick.C
		if pending {
			wait = now
		}
		select {
		case <-p.done:
			return
		case dst := <-p.want:
			if len(*p.hops.Load()) < rawHopMax { // else it stays on the raw socket
				add, pending = append(add, dst), true
			}
		case _, ok := <-p.neighs:
			if !ok { // the subscription failed: the ticker remains
				p.neighs = nil
			}
			pending = true
		case _, ok := <-p.routes:
			if !ok {
				p.routes = nil
			}
			pending = true
		case _, ok := <-p.links:
			if !ok {
				p.links = nil
			}
			pending = true
		case <-wait:
			p.resolveAll(add)
			add, pending = add[:0], false
		}
	}
}

// resolveAll publishes a new table with every known destination and add
// resolved anew.
func (p *packetSend) resolveAll(add [][4]byte) {
	old := *p.hops.Load()
	next := make(hopTable, len(old)+len(add))
	links := map[int]*netlink.LinkAttrs{}
	neighs := map[int][]netlink.Neigh{}
	resolve := func(dst [4]byte) {
		if _, done := next[dst]; done || len(next) >= rawHopMax {
			return
		}
		next[dst] = p.resolve(dst, links, neighs)
	}
	for dst, h := range old {
		idle := 0
		if !h.used.Load() {
			idle = h.idle + 1
		}
		if idle > rawHopIdle {
			continue
		}
		resolve(dst)
		if h := next[dst]; h != nil {
			h.idle = idle
		}
	}
	for _, dst := range add {
		resolve(dst)
	}
	p.hops.Store(&next)
}

// resolve looks up the hop to dst with netlink; links and neighs cache the
// devices and neighbour tables of one resolveAll.
func (p *packetSend) resolve(dst [4]byte, links map[int]*netlink.LinkAttrs, neighs map[int][]netlink.Neigh) *rawHop {
	routes, err := p.nl.RouteGet(net.IP(dst[:]))
	if err != nil || len(routes) == 0 {
		return &rawHop{why: "no route"}
	}
	rt := routes[0]
	link, ok := links[rt.LinkIndex]
	if !ok {
		if l, err := p.nl.LinkByIndex(rt.LinkIndex); err == nil {
			link = l.Attrs()
		}
		links[rt.LinkIndex] = link
	}
	ns, ok := neighs[rt.LinkIndex]
	if !ok && link != nil {
		ns, _ = p.nl.NeighList(rt.LinkIndex, unix.AF_INET)
		neighs[rt.LinkIndex] = ns
	}
	return hopFrom(dst, &rt, link, ns)
}

// hopFrom is the hop to dst by route rt over device link (nil: unknown)
// with the device's IPv4 neighbour entries ns.
func hopFrom(dst [4]byte, rt *netlink.Route, link *netlink.LinkAttrs, ns []netlink.Neigh) *rawHop {
	src := rt.Src.To4()
	switch {
	case rt.Type != unix.RTN_UNICAST:
		return &rawHop{why: "not a unicast route"}
	case src == nil:
		return &rawHop{why: "no source address"}
	case link == nil:
		return &rawHop{why: "no device"}
	case link.EncapType != "ether" || len(link.HardwareAddr) != 6:
		return &rawHop{why: "not an Ethernet device"}
	case link.Flags&net.FlagUp == 0 || link.MTU < rawHeaderLen:
		return &rawHop{why: "device down"}
	}
	next := net.IP(dst[:])
	if gw := rt.Gw.To4(); gw != nil {
		next = gw
	}
	var n *netlink.Neigh
	for i := range ns {
		if ns[i].IP.Equal(next) {
			n = &ns[i]
			break
		}
	}
	const usable = unix.NUD_REACHABLE | unix.NUD_STALE | unix.NUD_DELAY | unix.NUD_PROBE | unix.NUD_PERMANENT
	if n == nil || n.State&usable == 0 || len(n.HardwareAddr) != 6 {
		return &rawHop{why: "neighbour unresolved"}
	}
	h := &rawHop{ok: true, ifindex: int32(link.Index), mtu: link.MTU}
	if rt.MTU > 0 && rt.MTU < h.mtu {
		h.mtu = rt.MTU
	}
	copy(h.mac[:], n.HardwareAddr)
	copy(h.src[:], src)
	h.poke.Store(n.State&unix.NUD_STALE != 0)
	return h
}

// htons is the network-order protocol number for sockaddr_ll.
func htons(v uint16) uint16 { return v<<8 | v>>8 }
