package dataplane

/* Raw ESP receive on a packet ring
 *
 * The raw IPv4 socket (raw.go) receives each ESP packet through the
 * kernel's IP input (ip_rcv, route lookup, local delivery), a clone of the
 * skb queued on the socket, and one copy per packet out of recvmmsg. The
 * receive ring takes protocol-50 packets one step earlier:
 *
 *   - an AF_PACKET socket, SOCK_DGRAM (the network header onwards, on any
 *     device type: no link-layer parsing, no VLAN tags to skip), bound to
 *     ETH_P_IP on all devices, with a TPACKET_V2 receive ring mapped into
 *     the agent (ringFrames frames of ringFrameSize bytes). The kernel
 *     copies each matching packet into the next free frame and marks it
 *     TP_STATUS_USER; the reader (routineReceiveRing) walks the frames in
 *     order without a system call while they are ready, copies each
 *     packet into a pool element, hands the frame back (TP_STATUS_KERNEL)
 *     and dispatches up to conn.IdealBatchSize packets at a time into the
 *     same inbound pipeline as the raw socket. It polls (through the
 *     runtime's poller) only when the ring is empty. TPACKET_V3's blocks
 *     were not used: a block reaches the reader only when full or when its
 *     retire timer (1 ms at least) fires, which would hold single packets
 *     (TCP ACKs, pings) for up to a millisecond.
 *   - a classic BPF filter on the ring socket (ringFilter) accepts IPv4
 *     protocol 50 addressed to this host at the link layer (PACKET_HOST)
 *     and no longer than ringMaxPacket, so the ring never truncates.
 *   - the raw socket stays open, so that the kernel's IP input still finds
 *     a socket for protocol 50 and sends no ICMP protocol-unreachable, but
 *     its filter (rawFilterRing) drops what the ring takes. It still
 *     accepts what the ring does not: packets longer than ringMaxPacket,
 *     and broadcast or multicast ones; routineReceiveRaw reads those.
 *
 * Fragments. The ring sees ESP fragments before reassembly and the raw
 * socket sees only the reassembled packet, which no filter can tell from
 * an unfragmented one. So the ring reader drops fragments and, on the first
 * one, opens the raw socket's filter to every packet (rawFilterAll) and
 * leaves unfragmented packets to the raw socket for fragHold after the
 * last fragment seen; then the ring takes them back. The fragments that
 * arrived before the switch may be lost (their reassembled packet dropped
 * by the old filter), and around each switch a packet may reach both
 * readers (the second is a replay, dropped and counted by its SA).
 *
 * What the ring sees that the raw socket would not: packets the kernel's
 * IP input would drop — a bad IPv4 header checksum (checked here, counted
 * malformed), a destination not local (forwarded ESP: its SPI is not
 * ours, counted unknownSPI; the kernel still forwards it, the ring is a
 * tap), reverse-path-filter failures.
 *
 * Fallback: without CAP_NET_RAW for AF_PACKET, or when the ring cannot be
 * set up or mapped, the raw socket keeps its pass-all behaviour and is the
 * only receiver (openRing's error is logged).
 */

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
)

const (
	// ringFrameSize is one ring frame: the TPACKET_V2 header, the
	// sockaddr_ll, alignment, then the packet (netoff 80 for SOCK_DGRAM).
	ringFrameSize = 2048
	// ringBlockSize is the ring's unit of allocation (32 frames).
	ringBlockSize = 1 << 16
	// ringBlocks blocks: 2,048 frames, 4 MiB.
	ringBlocks = 64
	// ringFrames is the number of frames in the ring.
	ringFrames = ringBlocks * ringBlockSize / ringFrameSize
	// ringMaxPacket is the longest IPv4 packet the ring takes (it fits a
	// frame after the kernel's headers with room to spare); longer ones
	// go to the raw socket.
	ringMaxPacket = 1920
	// fragHold is how long after the last ESP fragment the raw socket
	// keeps receiving everything (see the comment on top).
	fragHold = 10 * time.Second
)

// tpacket2Hdr offsets (struct tpacket2_hdr).
const (
	tpStatus  = 0
	tpLen     = 4
	tpSnaplen = 8
	tpNet     = 14
	tpHdrLen  = 32 // sizeof(struct tpacket2_hdr)
)

// espRing is the AF_PACKET receive ring for raw ESP.
type espRing struct {
	f  *os.File // the packet socket, nonblocking, in the runtime's poller
	rc syscall.RawConn
	// mem is the mapped ring: ringFrames frames of ringFrameSize bytes.
	mem []byte
	// rawFD is the raw ESP socket, whose filter the reader switches.
	rawFD int
	// packets counts the ESP packets the ring delivered to the pipeline;
	// fragments counts the ESP fragments it saw (and left to the raw
	// socket). Read by tests.
	packets, fragments atomic.Uint64
}

// bpf builds one classic BPF instruction.
func bpf(code uint16, jt, jf uint8, k uint32) unix.SockFilter {
	return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
}

const (
	bpfLdB    = unix.BPF_LD | unix.BPF_B | unix.BPF_ABS
	bpfLdH    = unix.BPF_LD | unix.BPF_H | unix.BPF_ABS
	bpfLdW    = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeq    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJgt    = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	bpfRet    = unix.BPF_RET | unix.BPF_K
	skfPkttyp = 0xfffff000 + 4 // SKF_AD_OFF + SKF_AD_PKTTYPE (linux/filter.h)
)

// ringFilter is the ring socket's filter; offsets are from the IPv4 header
// (SOCK_DGRAM): protocol 50, PACKET_HOST, total length <= ringMaxPacket.
var ringFilter = []unix.SockFilter{
	bpf(bpfLdB, 0, 0, 9), // protocol
	bpf(bpfJeq, 0, 5, unix.IPPROTO_ESP),
	bpf(bpfLdW, 0, 0, skfPkttyp),
	bpf(bpfJeq, 0, 3, unix.PACKET_HOST),
	bpf(bpfLdH, 0, 0, 2), // total length
	bpf(bpfJgt, 1, 0, ringMaxPacket),
	bpf(bpfRet, 0, 0, ringFrameSize),
	bpf(bpfRet, 0, 0, 0),
}

// rawFilterRing is the raw socket's filter while the ring runs: it accepts
// only what ringFilter leaves (not PACKET_HOST, or longer than
// ringMaxPacket). A raw socket's filter sees the packet from its IPv4
// header.
var rawFilterRing = []unix.SockFilter{
	bpf(bpfLdW, 0, 0, skfPkttyp),
	bpf(bpfJeq, 0, 2, unix.PACKET_HOST),
	bpf(bpfLdH, 0, 0, 2),
	bpf(bpfJgt, 0, 1, ringMaxPacket),
	bpf(bpfRet, 0, 0, 1<<16),
	bpf(bpfRet, 0, 0, 0),
}

// rawFilterAll accepts every packet (the raw socket alone, while ESP
// fragments arrive).
var rawFilterAll = []unix.SockFilter{bpf(bpfRet, 0, 0, 1<<16)}

// attachFilter sets fd's classic BPF filter.
func attachFilter(fd int, prog []unix.SockFilter) error {
	p := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &p)
}

// htons is the network-order protocol number for sockaddr_ll and socket(2).
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openRing opens the receive ring and switches rawFD's filter to
// rawFilterRing. On error nothing is left open and the raw socket's filter
// is unchanged.
func openRing(rawFD int) (_ *espRing, err error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dataplane: packet socket: %w", err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return nil, fmt.Errorf("dataplane: TPACKET_V2: %w", err)
	}
	if err := attachFilter(fd, ringFilter); err != nil {
		return nil, fmt.Errorf("dataplane: ring filter: %w", err)
	}
	req := unix.TpacketReq{Block_size: ringBlockSize, Block_nr: ringBlocks, Frame_size: ringFrameSize, Frame_nr: ringFrames}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("dataplane: PACKET_RX_RING: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, ringBlocks*ringBlockSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("dataplane: ring mmap: %w", err)
	}
	defer func() {
		if err != nil {
			unix.Munmap(mem)
		}
	}()
	// The filter goes on the raw socket before the ring starts: for a
	// moment a packet may reach neither (lost, like any packet in flight
	// at start), never both.
	if err := attachFilter(rawFD, rawFilterRing); err != nil {
		return nil, fmt.Errorf("dataplane: raw socket filter: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP)}); err != nil {
		attachFilter(rawFD, rawFilterAll)
		return nil, fmt.Errorf("dataplane: packet socket bind: %w", err)
	}
	f := os.NewFile(uintptr(fd), "esp-ring")
	rc, err := f.SyscallConn()
	if err != nil {
		attachFilter(rawFD, rawFilterAll)
		f.Close()
		fd = -1
		return nil, fmt.Errorf("dataplane: packet socket: %w", err)
	}
	return &espRing{f: f, rc: rc, mem: mem, rawFD: rawFD}, nil
}

// Close closes the packet socket; the reader unmaps the ring when it
// returns (routineReceiveRing).
func (r *espRing) Close() error { return r.f.Close() }

// frame returns frame i of the ring.
func (r *espRing) frame(i int) []byte {
	return r.mem[i*ringFrameSize : (i+1)*ringFrameSize : (i+1)*ringFrameSize]
}

// status returns the frame's tp_status (written by the kernel).
func frameStatus(f []byte) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&f[tpStatus])))
}

// release hands the frame back to the kernel.
func releaseFrame(f []byte) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&f[tpStatus])), unix.TP_STATUS_KERNEL)
}

// errRingFrame is a frame whose header does not describe a whole packet
// inside the frame.
var errRingFrame = errors.New("dataplane: bad ring frame")

// ringPacket returns the packet in a ring frame: tp_snaplen bytes at
// tp_net, which must lie inside the frame and be the whole packet
// (tp_snaplen == tp_len).
func ringPacket(f []byte) ([]byte, error) {
	if len(f) < tpHdrLen {
		return nil, errRingFrame
	}
	n := int(binary.NativeEndian.Uint32(f[tpLen:]))
	snap := int(binary.NativeEndian.Uint32(f[tpSnaplen:]))
	net := int(binary.NativeEndian.Uint16(f[tpNet:]))
	if snap != n || net < tpHdrLen || net > len(f) || snap > len(f)-net {
		return nil, errRingFrame
	}
	return f[net : net+snap], nil
}

// ipv4Kind is what parseIPv4ESP found.
type ipv4Kind int

const (
	ipv4Bad      ipv4Kind = iota // not a well-formed IPv4 packet
	ipv4Whole                    // an unfragmented packet
	ipv4Fragment                 // a fragment (MF set or an offset)
)

// parseIPv4ESP checks an IPv4 packet as the kernel's ip_rcv would (version,
// header length, total length within the data, header checksum) and
// returns its header length and total length (the data may carry link
// padding behind it).
func parseIPv4ESP(b []byte) (ihl, total int, kind ipv4Kind) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return 0, 0, ipv4Bad
	}
	ihl = int(b[0]&0x0f) * 4
	total = int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || total < ihl || total > len(b) || ipv4HeaderSum(b[:ihl]) != 0xffff {
		return 0, 0, ipv4Bad
	}
	if binary.BigEndian.Uint16(b[6:])&0x3fff != 0 {
		return ihl, total, ipv4Fragment
	}
	return ihl, total, ipv4Whole
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

// routineReceiveRing is the inbound stages 1-3 for the receive ring (see
// the comment on top).
func (d *Dataplane) routineReceiveRing() {
	defer d.recvWG.Done()
	r := d.raw.ring
	defer unix.Munmap(r.mem)
	n := conn.IdealBatchSize
	elems := make([]*element, n)
	d.pool.fill(elems)
	defer d.pool.putAll(elems)
	var (
		batch     *inBatch
		rs        = receiverState{pipeline: true}
		next      int       // the next frame to read
		count     int       // elements used in this batch
		fragMode  bool      // the raw socket takes everything
		fragUntil time.Time // fragMode ends then (renewed by each fragment)
	)
	flush := func() {
		if count == 0 {
			return
		}
		r.packets.Add(uint64(count))
		d.pool.fill(elems[:count])
		d.dispatchIn(batch, &rs)
		batch, count = nil, 0
	}
	ready := func(uintptr) bool { return frameStatus(r.frame(next))&unix.TP_STATUS_USER != 0 }
	snap := d.state.Load()
	for {
		f := r.frame(next)
		if frameStatus(f)&unix.TP_STATUS_USER == 0 {
			flush()
			if err := r.rc.Read(ready); err != nil {
				return // closed
			}
			snap = d.state.Load()
			continue
		}
		pkt, err := ringPacket(f)
		if err == nil {
			ihl, total, kind := parseIPv4ESP(pkt)
			switch {
			case kind == ipv4Bad:
				d.stats.malformed.Add(1)
			case kind == ipv4Fragment:
				r.fragments.Add(1)
				fragUntil = time.Now().Add(fragHold)
				if !fragMode {
					fragMode = attachFilter(r.rawFD, rawFilterAll) == nil
				}
			case fragMode && time.Now().Before(fragUntil):
				// the raw socket takes it
			default:
				if fragMode {
					fragMode = attachFilter(r.rawFD, rawFilterRing) != nil
				}
				e := elems[count]
				copy(e.buf[rxOffset:], pkt[:total])
				if d.acceptESP(snap, e, rxOffset+ihl, total-ihl, &batch) {
					elems[count] = nil
					count++
				}
			}
		} else {
			d.stats.malformed.Add(1)
		}
		releaseFrame(f)
		next = (next + 1) % ringFrames
		if count == n {
			flush()
			snap = d.state.Load()
		}
	}
}
