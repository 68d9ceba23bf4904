package dataplane

// AF_XDP receive of raw ESP (issue 15, experimental).
//
// An XDP program on the WAN device redirects IPv4 ESP packets addressed to
// one of our addresses (unfragmented, no IP options) into an AF_XDP socket
// (XSK) before the kernel's IP input; every other packet passes
// (XDP_PASS) to the kernel as before. The program is assembled here by
// hand (about 30 eBPF instructions, see xdpESPProgram) and loaded with
// bpf(2); it is attached with a BPF link, so closing the link (or the
// process exiting) detaches it. The socket is in copy mode: the kernel
// copies each packet into a UMEM frame and posts a descriptor on the RX
// ring; the reader copies it out and gives the frame back on the fill
// ring. The rings are shared memory (mmap), and the reader waits in the Go
// runtime's poller only when the RX ring is empty.

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// bpf(2) helpers. Each command's attribute is a prefix of union bpf_attr;
// the kernel takes the size we pass and checks the rest is zero.

func bpfCall(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// bpfMapCreate creates a map and returns its descriptor.
func bpfMapCreate(typ, keySize, valueSize, maxEntries uint32) (int, error) {
	attr := struct {
		typ, keySize, valueSize, maxEntries, flags uint32
	}{typ, keySize, valueSize, maxEntries, 0}
	fd, err := bpfCall(unix.BPF_MAP_CREATE, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return -1, fmt.Errorf("dataplane: bpf map create (type %d): %w", typ, err)
	}
	return fd, nil
}

// bpfMapUpdate sets key to value in the map fd.
func bpfMapUpdate(fd int, key, value unsafe.Pointer) error {
	attr := struct {
		fd, _      uint32
		key, value uint64
		flags      uint64
	}{fd: uint32(fd), key: uint64(uintptr(key)), value: uint64(uintptr(value))}
	_, err := bpfCall(unix.BPF_MAP_UPDATE_ELEM, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return fmt.Errorf("dataplane: bpf map update: %w", err)
	}
	return nil
}

// bpfProgLoad loads an XDP program and returns its descriptor; the
// verifier's log is in the error when it refuses the program.
func bpfProgLoad(insns []bpfInsn) (int, error) {
	license := []byte("GPL\x00")
	log := make([]byte, 64<<10)
	attr := struct {
		typ, insnCnt       uint32
		insns, license     uint64
		logLevel, logSize  uint32
		logBuf             uint64
		kernVersion, flags uint32
		name               [16]byte
		ifindex            uint32
		expectedAttachType uint32
	}{
		typ: unix.BPF_PROG_TYPE_XDP, insnCnt: uint32(len(insns)),
		insns: uint64(uintptr(unsafe.Pointer(&insns[0]))), license: uint64(uintptr(unsafe.Pointer(&license[0]))),
		logLevel: 1, logSize: uint32(len(log)), logBuf: uint64(uintptr(unsafe.Pointer(&log[0]))),
		expectedAttachType: unix.BPF_XDP,
	}
	copy(attr.name[:], "vpngw_esp")
	fd, err := bpfCall(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		if n := indexByte(log, 0); n > 0 {
			return -1, fmt.Errorf("dataplane: bpf prog load: %w: %s", err, log[:n])
		}
		return -1, fmt.Errorf("dataplane: bpf prog load: %w", err)
	}
	return fd, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// bpfLinkCreate attaches the XDP program prog to the device ifindex with
// the XDP flags (mode) and returns the link's descriptor: closing it
// detaches the program.
func bpfLinkCreate(prog, ifindex int, flags uint32) (int, error) {
	attr := struct {
		prog, target, attachType, flags uint32
	}{uint32(prog), uint32(ifindex), unix.BPF_XDP, flags}
	fd, err := bpfCall(unix.BPF_LINK_CREATE, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return -1, fmt.Errorf("dataplane: attach XDP to device %d: %w", ifindex, err)
	}
	return fd, nil
}

// bpfInsn is struct bpf_insn.
type bpfInsn struct {
	code byte
	regs byte // dst (low nibble), src (high nibble)
	off  int16
	imm  int32
}

func insn(code byte, dst, src byte, off int16, imm int32) bpfInsn {
	return bpfInsn{code: code, regs: dst | src<<4, off: off, imm: imm}
}

// eBPF opcodes used below (linux/bpf.h).
const (
	bpfLDXW   = unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W
	bpfLDXH   = unix.BPF_LDX | unix.BPF_MEM | unix.BPF_H
	bpfLDXB   = unix.BPF_LDX | unix.BPF_MEM | unix.BPF_B
	bpfSTXW   = unix.BPF_STX | unix.BPF_MEM | unix.BPF_W
	bpfMOVX   = 0x07 | unix.BPF_MOV | unix.BPF_X // BPF_ALU64
	bpfMOVK   = 0x07 | unix.BPF_MOV | unix.BPF_K
	bpfADDK   = 0x07 | unix.BPF_ADD | unix.BPF_K
	bpfANDK   = 0x07 | unix.BPF_AND | unix.BPF_K
	bpfJGTX   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_X
	bpfJNEK   = unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K
	bpfJEQK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfCALL   = unix.BPF_JMP | unix.BPF_CALL
	bpfEXIT   = unix.BPF_JMP | unix.BPF_EXIT
	bpfLDDW   = unix.BPF_LD | unix.BPF_IMM | unix.BPF_DW
	xdpPass   = 2
	helperMap = 1  // bpf_map_lookup_elem
	helperRed = 51 // bpf_redirect_map
)

// xdpESPProgram returns the XDP program: IPv4 (Ethernet type 0x0800, no
// VLAN tag), IHL 5, protocol 50, neither a fragment nor fragmented, whose
// destination address is a key of the map locals, goes to the XSK of its
// receive queue in the map xsks (XDP_PASS when the queue has none); every
// other packet passes.
func xdpESPProgram(locals, xsks int) []bpfInsn {
	const r0, r1, r2, r3, r4, r5, r6, r10 = 0, 1, 2, 3, 4, 5, 6, 10
	p := []bpfInsn{
		insn(bpfMOVX, r6, r1, 0, 0),      // r6 = ctx
		insn(bpfLDXW, r2, r1, 0, 0),      // r2 = ctx->data
		insn(bpfLDXW, r3, r1, 4, 0),      // r3 = ctx->data_end
		insn(bpfMOVX, r4, r2, 0, 0),      // r4 = data
		insn(bpfADDK, r4, 0, 0, 34),      // r4 += Ethernet + IPv4 header
		insn(bpfJGTX, r4, r3, -1, 0),     // if r4 > data_end goto pass
		insn(bpfLDXH, r5, r2, 12, 0),     // r5 = EtherType (network order)
		insn(bpfJNEK, r5, 0, -1, 0x0008), // != 0x0800 (read little-endian)
		insn(bpfLDXB, r5, r2, 14, 0),     // version, IHL
		insn(bpfJNEK, r5, 0, -1, 0x45),
		insn(bpfLDXB, r5, r2, 23, 0), // protocol
		insn(bpfJNEK, r5, 0, -1, unix.IPPROTO_ESP),
		insn(bpfLDXH, r5, r2, 20, 0),           // flags, fragment offset
		insn(bpfANDK, r5, 0, 0, 0xff3f),        // MF and the offset (little-endian)
		insn(bpfJNEK, r5, 0, -1, 0),            // a fragment: the kernel reassembles
		insn(bpfLDXW, r5, r2, 30, 0),           // destination address
		insn(bpfSTXW, r10, r5, -4, 0),          // key on the stack
		insn(bpfMOVX, r2, r10, 0, 0),           //
		insn(bpfADDK, r2, 0, 0, -4),            // r2 = &key
		insn(bpfLDDW, r1, 1, 0, int32(locals)), // r1 = locals (pseudo map fd)
		{},
		insn(bpfCALL, 0, 0, 0, helperMap),
		insn(bpfJEQK, r0, 0, -1, 0), // not ours
		insn(bpfLDDW, r1, 1, 0, int32(xsks)),
		{},
		insn(bpfLDXW, r2, r6, 16, 0), // ctx->rx_queue_index
		insn(bpfMOVK, r3, 0, 0, xdpPass),
		insn(bpfCALL, 0, 0, 0, helperRed),
		insn(bpfEXIT, 0, 0, 0, 0),
	}
	pass := len(p)
	p = append(p,
		insn(bpfMOVK, r0, 0, 0, xdpPass),
		insn(bpfEXIT, 0, 0, 0, 0),
	)
	for i := range p {
		if p[i].off == -1 && p[i].code&0x07 == unix.BPF_JMP && p[i].code != bpfCALL && p[i].code != bpfEXIT {
			p[i].off = int16(pass - i - 1)
		}
	}
	return p
}

// xskFrame is the UMEM frame size; xskFrames frames are shared by the fill
// and RX rings (both xskFrames entries: every frame is always on one of
// them or being read).
const (
	xskFrame  = 2048
	xskFrames = 4096
)

// xskRing is one of the shared rings: producer and consumer indices and
// the entries, all in the mapping.
type xskRing struct {
	mem      []byte
	producer *uint32
	consumer *uint32
	flags    *uint32
	desc     unsafe.Pointer
	mask     uint32
	// cached is our copy of the index we own (consumer of RX, producer of
	// fill).
	cached uint32
}

func mapRing(fd int, off unix.XDPRingOffset, pgoff int64, n, entry uint32) (xskRing, error) {
	mem, err := unix.Mmap(fd, pgoff, int(off.Desc)+int(n*entry), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return xskRing{}, fmt.Errorf("dataplane: mmap XSK ring: %w", err)
	}
	return xskRing{
		mem:      mem,
		producer: (*uint32)(unsafe.Pointer(&mem[off.Producer])),
		consumer: (*uint32)(unsafe.Pointer(&mem[off.Consumer])),
		flags:    (*uint32)(unsafe.Pointer(&mem[off.Flags])),
		desc:     unsafe.Pointer(&mem[off.Desc]),
		mask:     n - 1,
	}, nil
}

// xskSocket is an AF_XDP socket in copy mode bound to one receive queue,
// with its own UMEM.
type xskSocket struct {
	f      *os.File
	rc     syscall.RawConn
	fd     int
	umem   []byte
	rx, fq xskRing
	cq     []byte // mapped, unused (receive only)
}

func openXSK(ifindex, queue int) (*xskSocket, error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("dataplane: AF_XDP socket: %w", err)
	}
	s := &xskSocket{fd: fd}
	if err := s.setup(ifindex, queue); err != nil {
		s.Close()
		return nil, err
	}
	s.f = os.NewFile(uintptr(fd), "xsk")
	if s.rc, err = s.f.SyscallConn(); err != nil {
		s.Close()
		return nil, fmt.Errorf("dataplane: AF_XDP socket: %w", err)
	}
	return s, nil
}

func (s *xskSocket) setup(ifindex, queue int) error {
	var err error
	s.umem, err = unix.Mmap(-1, 0, xskFrame*xskFrames, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("dataplane: UMEM: %w", err)
	}
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&s.umem[0]))), Len: uint64(len(s.umem)), Size: xskFrame}
	if err := setsockopt(s.fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		return fmt.Errorf("dataplane: XDP_UMEM_REG: %w", err)
	}
	n := uint32(xskFrames)
	for _, opt := range []int{unix.XDP_UMEM_FILL_RING, unix.XDP_UMEM_COMPLETION_RING, unix.XDP_RX_RING} {
		size := n
		if opt == unix.XDP_UMEM_COMPLETION_RING {
			size = 64
		}
		if err := setsockopt(s.fd, opt, unsafe.Pointer(&size), 4); err != nil {
			return fmt.Errorf("dataplane: XSK ring option %d: %w", opt, err)
		}
	}
	var off unix.XDPMmapOffsets
	l := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS, uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&l)), 0); e != 0 {
		return fmt.Errorf("dataplane: XDP_MMAP_OFFSETS: %w", e)
	}
	if s.rx, err = mapRing(s.fd, off.Rx, unix.XDP_PGOFF_RX_RING, n, uint32(unsafe.Sizeof(unix.XDPDesc{}))); err != nil {
		return err
	}
	if s.fq, err = mapRing(s.fd, off.Fr, unix.XDP_UMEM_PGOFF_FILL_RING, n, 8); err != nil {
		return err
	}
	cq, err := mapRing(s.fd, off.Cr, unix.XDP_UMEM_PGOFF_COMPLETION_RING, 64, 8)
	if err != nil {
		return err
	}
	s.cq = cq.mem
	// Every frame on the fill ring.
	for i := range n {
		*(*uint64)(unsafe.Add(s.fq.desc, uintptr(i)*8)) = uint64(i) * xskFrame
	}
	s.fq.cached = n
	atomic.StoreUint32(s.fq.producer, n)
	sa := &unix.SockaddrXDP{Flags: unix.XDP_COPY, Ifindex: uint32(ifindex), QueueID: uint32(queue)}
	// A socket closed just before on the same queue releases it
	// asynchronously (EBUSY meanwhile).
	err = unix.Bind(s.fd, sa)
	for i := 0; errors.Is(err, unix.EBUSY) && i < 50; i++ {
		time.Sleep(20 * time.Millisecond)
		err = unix.Bind(s.fd, sa)
	}
	if err != nil {
		return fmt.Errorf("dataplane: bind AF_XDP socket to device %d queue %d: %w", ifindex, queue, err)
	}
	return nil
}

func setsockopt(fd, opt int, v unsafe.Pointer, size uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(v), size, 0)
	if e != 0 {
		return e
	}
	return nil
}

// errXSKClosed is returned by recv after Close.
var errXSKClosed = errors.New("dataplane: AF_XDP socket closed")

// recv calls f for each packet on the RX ring (the IPv4 packet, past the
// Ethernet header; valid only during the call), up to max, and returns
// how many. With wait and the ring empty it first waits in the runtime's
// poller for one.
func (s *xskSocket) recv(max int, wait bool, f func(pkt []byte)) (int, error) {
	prod := atomic.LoadUint32(s.rx.producer)
	if prod == s.rx.cached && wait {
		err := s.rc.Read(func(uintptr) bool {
			prod = atomic.LoadUint32(s.rx.producer)
			return prod != s.rx.cached
		})
		if err != nil {
			return 0, errXSKClosed
		}
	}
	n := int(prod - s.rx.cached)
	if n > max {
		n = max
	}
	for i := range n {
		d := (*unix.XDPDesc)(unsafe.Add(s.rx.desc, uintptr((s.rx.cached+uint32(i))&s.rx.mask)*16))
		if d.Len > 14 && d.Addr+uint64(d.Len) <= uint64(len(s.umem)) {
			f(s.umem[d.Addr+14 : d.Addr+uint64(d.Len)])
		}
		*(*uint64)(unsafe.Add(s.fq.desc, uintptr((s.fq.cached+uint32(i))&s.fq.mask)*8)) = d.Addr &^ (xskFrame - 1)
	}
	s.rx.cached += uint32(n)
	s.fq.cached += uint32(n)
	atomic.StoreUint32(s.fq.producer, s.fq.cached)
	atomic.StoreUint32(s.rx.consumer, s.rx.cached)
	return n, nil
}

func (s *xskSocket) Close() error {
	for _, m := range [][]byte{s.rx.mem, s.fq.mem, s.cq} {
		if m != nil {
			unix.Munmap(m)
		}
	}
	s.rx.mem, s.fq.mem, s.cq = nil, nil, nil
	if s.f != nil {
		s.f.Close()
	} else if s.fd >= 0 {
		unix.Close(s.fd)
	}
	s.fd = -1
	if s.umem != nil {
		unix.Munmap(s.umem)
		s.umem = nil
	}
	return nil
}

// xdpESP is the XDP program attached to one device with an XSK per
// receive queue.
type xdpESP struct {
	prog, link, locals, xsks int
	socks                    []*xskSocket
}

// openXDPESP attaches the program to the device ifindex (queues receive
// queues) in mode (unix.XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE), taking
// ESP to the IPv4 addresses locals.
func openXDPESP(ifindex, queues int, mode uint32, locals [][4]byte) (_ *xdpESP, err error) {
	x := &xdpESP{prog: -1, link: -1, locals: -1, xsks: -1}
	defer func() {
		if err != nil {
			x.Close()
		}
	}()
	if x.locals, err = bpfMapCreate(unix.BPF_MAP_TYPE_HASH, 4, 4, 64); err != nil {
		return nil, err
	}
	for _, a := range locals {
		one := uint32(1)
		if err = bpfMapUpdate(x.locals, unsafe.Pointer(&a), unsafe.Pointer(&one)); err != nil {
			return nil, err
		}
	}
	if x.xsks, err = bpfMapCreate(unix.BPF_MAP_TYPE_XSKMAP, 4, 4, uint32(queues)); err != nil {
		return nil, err
	}
	for q := range queues {
		s, err := openXSK(ifindex, q)
		if err != nil {
			return nil, err
		}
		x.socks = append(x.socks, s)
		key, fd := uint32(q), uint32(s.fd)
		if err = bpfMapUpdate(x.xsks, unsafe.Pointer(&key), unsafe.Pointer(&fd)); err != nil {
			return nil, err
		}
	}
	if x.prog, err = bpfProgLoad(xdpESPProgram(x.locals, x.xsks)); err != nil {
		return nil, err
	}
	if x.link, err = bpfLinkCreate(x.prog, ifindex, mode); err != nil {
		return nil, err
	}
	return x, nil
}

func (x *xdpESP) Close() error {
	for _, fd := range []*int{&x.link, &x.prog, &x.xsks, &x.locals} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
	for _, s := range x.socks {
		s.Close()
	}
	x.socks = nil
	return nil
}
