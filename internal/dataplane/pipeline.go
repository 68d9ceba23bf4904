package dataplane

/* Packet path
 *
 * Outbound (inner packets from the TUN device to the peer):
 *
 *   1. TUN read (routineReadTUN, sequential): a read returns one packet
 *      or one TSO super-packet from the kernel, split into MSS-sized
 *      segments in userspace (virtio-net header, tun package); while the
 *      reads return single packets (ACKs), the batch holds fewer than 128
 *      and the device has more queued, the reader reads again into the
 *      same batch (readTUN: queued ACKs leave together). Each packet lands at
 *      txOffset in its own 64 KiB element buffer, leaving room for the ESP
 *      header in front and the trailer behind.
 *   2. Route and selector lookup (sequential): the inner destination is
 *      looked up in the snapshot's prefix table (bart) to find the tunnel;
 *      the tunnel's outbound SA is the one whose selectors match (one SA
 *      with any-selectors for route-based tunnels: no parsing). TCP SYNs
 *      get their MSS clamped. Each packet records its tunnel and SA; the
 *      read stays one batch (an outBatch) however many tunnels it spans,
 *      so queue operations, locks and system calls per read do not grow
 *      with the number of tunnels. A packet no SA takes is dropped and
 *      counted; on a policy-based tunnel it is either
 *      outside the tunnel's Policy (DropPolicy) or reported to IKE as an
 *      EventAcquire (noOutboundSA), which brings the tunnel up on demand.
 *   3. Sequence numbers (sequential, seqReserver): each SA of the read
 *      reserves consecutive sequence numbers for its packets, handed out
 *      in read order, so sequence order equals send order. Then
 *      (dispatchOut) the batch either runs to completion in the reader
 *      (see below) or is locked and queued twice: on sendQ, which keeps
 *      order, and on encQ, which feeds the workers.
 *   4. Encryption (routineEncrypt, parallel, one per CPU; or the reader):
 *      seals each packet in place (esp.OutboundSA.SealSeq) and unlocks the
 *      batch.
 *   5. Transmission (routineSend, sequential; or the reader): takes
 *      batches from sendQ in order, waits for each batch's lock (its
 *      encryption), and sends it:
 *      one sendmmsg per peer address with UDP encapsulation, where UDP GSO
 *      coalesces equal-sized ESP packets into one super-datagram
 *      (conn.StdNetBind), and one sendmmsg of raw IP protocol 50 for all
 *      raw ESP packets (each message with its own destination, each
 *      packet with its outer IPv4 header written into its headroom:
 *      IP_HDRINCL, raw.go), or, where the next hop is resolved, on an
 *      AF_PACKET socket past the kernel's IP output (rawpacket.go).
 *
 * Inbound (ESP from the peer to the TUN device):
 *
 *   1. Receive (routineReceive per socket, sequential each): recvmmsg with
 *      UDP GRO on NATTPort and IKEPort, as a raw system call, split back
 *      into datagrams with their local addresses (udpReader, udpio.go), or
 *      batched reads of the raw ESP socket.
 *   2. Demultiplex: on NATTPort a 1-byte 0xFF is a NAT-keepalive (counted,
 *      dropped), a zero non-ESP marker means IKE (handed to the IKE handler
 *      without the marker), anything else is ESP. IKEPort carries only IKE.
 *   3. SPI lookup and replay pre-check (esp.InboundSA.Check): unknown SPIs,
 *      replays and too-old packets are dropped before any crypto. Each
 *      packet records its inbound SA; the receive's packets form one
 *      inBatch however many SAs they belong to, which (dispatchIn) either
 *      runs to completion in the receiver (see below) or is locked and
 *      queued on writeQ (in order) and decQ (workers).
 *   4. Decryption (routineDecrypt, parallel; or the receiver): verifies the
 *      ICV and decrypts in place (esp.InboundSA.Decrypt), then unlocks the
 *      batch.
 *   5. Commit and write (routineWriteTUN, sequential; or the receiver): in
 *      receive order,
 *      commits each sequence number to the replay window (Commit re-checks,
 *      so a duplicate decrypted in parallel is dropped here), drops dummy
 *      packets, checks the inner addresses against the SA's selectors,
 *      applies the transit rule (a packet routed on into another tunnel
 *      is dropped when either tunnel has NoTransit; skipped while no
 *      tunnel has it), clamps TCP MSS, and writes the batch (all its
 *      tunnels) to the TUN device with one call, together with the
 *      batches queued behind it whose decryption is done (a writer that
 *      fell behind writes more per call); the tun package coalesces TCP
 *      segments (GRO) into super-packets for the kernel.
 *
 * Run to completion
 *
 * Every queued batch costs wake-ups: a worker, then the sender or writer
 * (futex, context switch). On a machine with few cores, where the peers
 * and the applications share the CPUs, those cost more than parallel
 * crypto gains (AES-GCM is ~10 % of the agent's CPU). So a batch of at most
 * inlineMax packets (Config.InlineMax; every batch when GOMAXPROCS <= 2)
 * runs stages 4 and 5 in the goroutine that read it, when none of that
 * goroutine's earlier batches is still in flight (outInflight for the one
 * TUN reader, receiverState.inflight per receiver, decremented by the
 * sender and the writer once a batch is out): nothing can overtake it, so
 * send order stays sequence order and a receiver's packets reach the TUN
 * device in receive order. Raw ESP keeps the pipeline (batches with a raw
 * ESP packet, and the raw receiver): its per-packet kernel send work
 * overlaps the next read, and its small receives gain from the writer's
 * coalescing. Receivers on different sockets may write to the TUN device
 * at once (tun.Device.Write serialises them; replay windows lock).
 *
 * Locking, producers and consumers
 *
 * As in wireguard-go, a batch's mutex is locked by its producer before it
 * is queued and unlocked by the worker that finished its crypto; the
 * sequential consumer (sender or TUN writer) blocks on Lock until then.
 * Lookups read the immutable snapshot (Dataplane.state) and the tunnels'
 * atomic pointers: the packet path takes no lock except the per-SA replay
 * window mutex (esp) and the batch mutexes. Elements and batches come from
 * bounded pools (elemPool), which is the back-pressure: when all buffers are
 * in flight the readers wait.
 *
 * Shutdown: Close closes the TUN device (the reader exits and closes encQ
 * and sendQ, which drains the encryption workers and the sender) and the
 * sockets (receivers exit; the last one out makes Close close decQ and
 * writeQ, draining the decryption workers and the TUN writer).
 */

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/vpngw/vpngw/internal/esp"
)

const (
	// bufSize holds the largest datagram or coalesced super-packet (64 KiB)
	// plus the offsets below.
	bufSize = 65536 + 128
	// txOffset is where the TUN reader places inner packets: room for the
	// ESP header, IV and ESN scratch (esp.MaxHeadroom).
	txOffset = 64
	// rxOffset is where receivers place datagrams: room for esp.ScratchLen
	// before the packet, and for the virtio-net header before the inner
	// packet when it is written to the TUN device.
	rxOffset = 32
	// tunWriteOffset is the offset passed to tun.Device.Write; the tun
	// package writes its virtio-net header (10 bytes) in front of the packet.
	tunWriteOffset = 16
	// queueLen bounds each queue (in batches).
	queueLen = 1024
	// poolLimit bounds the number of element buffers in existence (128 MiB).
	// The readers hold conn.IdealBatchSize each; the rest is in flight.
	poolLimit = 2048
)

// element is one packet buffer moving through the pipeline.
type element struct {
	buf *[bufSize]byte
	pkt []byte // the current packet: inner before sealing / after opening, ESP otherwise
	seq uint64 // sequence number; 0 on the outbound path means "no number: drop"
	nh  byte   // next header after decryption
	ok  bool   // crypto succeeded
	// t and sa are the packet's tunnel and SA on the outbound path.
	t  *tunnel
	sa *esp.OutboundSA
	// in is the packet's inbound SA on the inbound path.
	in *inboundSA
}

// elemPool hands out elements, at most limit at a time (blocking beyond).
// It keeps freed elements on a free list rather than in a sync.Pool: a
// sync.Pool drops its contents at every other GC, and re-allocating (and
// zeroing) 64 KiB buffers showed up in CPU profiles. The free list holds at
// most the peak number of elements in flight.
type elemPool struct {
	mu    sync.Mutex
	cond  sync.Cond
	free  []*element
	count int // elements handed out and not yet returned
	limit int
	// arena holds the buffers, outside the Go heap (see bufs.go).
	arena bufArena
}

func newElemPool(limit int) *elemPool {
	p := &elemPool{limit: limit}
	p.cond.L = &p.mu
	return p
}

// fill replaces the nil entries of es with elements under one lock (the
// readers refill the slots they handed on once per batch) and reports
// whether it replaced any.
func (p *elemPool) fill(es []*element) bool {
	filled := false
	p.mu.Lock()
	for i := range es {
		if es[i] != nil {
			continue
		}
		for p.count >= p.limit {
			p.cond.Wait()
		}
		p.count++
		if n := len(p.free); n > 0 {
			es[i] = p.free[n-1]
			p.free[n-1] = nil
			p.free = p.free[:n-1]
		} else {
			es[i] = &element{buf: p.arena.get()}
		}
		filled = true
	}
	p.mu.Unlock()
	return filled
}

// release drops the free list and unmaps every buffer; the caller
// guarantees that no element is used again (Close, after the joins).
func (p *elemPool) release() {
	p.mu.Lock()
	p.free = nil
	p.mu.Unlock()
	p.arena.release()
}

// putAll returns elements under one lock; es is cleared.
func (p *elemPool) putAll(es []*element) {
	p.mu.Lock()
	for i, e := range es {
		if e == nil {
			continue
		}
		e.pkt, e.seq, e.nh, e.ok = nil, 0, 0, false
		e.t, e.sa, e.in = nil, nil, nil
		p.free = append(p.free, e)
		p.count--
		es[i] = nil
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// outBatch is the packets of one TUN read, whatever tunnels they belong
// to (each element names its tunnel and SA): one batch per read, so the
// queues, locks and system calls per read do not grow with the number of
// tunnels it spans.
type outBatch struct {
	mu    sync.Mutex // locked until encryption finished
	elems []*element
}

// inBatch is the ESP packets of one receive, whatever SAs they belong to
// (each element names its inbound SA).
type inBatch struct {
	mu    sync.Mutex // locked until decryption finished
	elems []*element
	// inflight is the receiving goroutine's count of queued batches,
	// decremented by the TUN writer once the batch is written.
	inflight *atomic.Int32
}

var (
	outBatchPool = sync.Pool{New: func() any { return &outBatch{elems: make([]*element, 0, conn.IdealBatchSize)} }}
	inBatchPool  = sync.Pool{New: func() any { return &inBatch{elems: make([]*element, 0, conn.IdealBatchSize)} }}
)

func (d *Dataplane) freeOut(b *outBatch) {
	d.pool.putAll(b.elems)
	b.elems = b.elems[:0]
	outBatchPool.Put(b)
}

func (d *Dataplane) freeIn(b *inBatch) {
	d.pool.putAll(b.elems)
	b.elems = b.elems[:0]
	b.inflight = nil
	inBatchPool.Put(b)
}

// start launches the packet path goroutines.
func (d *Dataplane) start() {
	d.evWG.Add(1)
	go d.runEvents()
	d.wg.Add(4 + 2*d.cfg.Workers)
	go d.routineReadTUN()
	go d.routineTUNEvents()
	go d.routineSend()
	go d.routineWriteTUN()
	for range d.cfg.Workers {
		go d.routineEncrypt()
		go d.routineDecrypt()
	}
	for _, r := range d.ikeRecv {
		d.recvWG.Add(1)
		go d.routineReceive(r, false)
	}
	for _, r := range d.nattRecv {
		d.recvWG.Add(1)
		go d.routineReceive(r, true)
	}
	if d.raw != nil {
		d.recvWG.Add(1)
		go d.routineReceiveRaw()
	}
}

// routineTUNEvents drains the TUN device's event channel (it blocks its
// netlink listener otherwise) until the device closes.
func (d *Dataplane) routineTUNEvents() {
	defer d.wg.Done()
	for ev := range d.tun.Events() {
		if ev&tun.EventMTUUpdate == 0 {
			d.log.Debug("tun event", "event", int(ev))
		}
	}
}

// routineReadTUN is stages 1-3 of the outbound path.
func (d *Dataplane) routineReadTUN() {
	defer func() {
		close(d.encQ)
		close(d.sendQ)
		d.wg.Done()
	}()
	n := d.batchSize
	// Twice the batch size: readTUN gives every read at least n slots.
	elems := make([]*element, 2*n)
	bufs := make([][]byte, 2*n)
	sizes := make([]int, 2*n)
	d.pool.fill(elems)
	for i := range elems {
		bufs[i] = elems[i].buf[:]
	}
	defer d.pool.putAll(elems)
	var seqs seqReserver
	limiter := d.cfg.Limiter
	s := newSendBufs() // for batches run to completion
	for {
		count, err := d.readTUN(bufs, sizes, n)
		if count > 0 {
			b := outBatchPool.Get().(*outBatch)
			snap := d.state.Load()
			raw := false     // a packet of the batch leaves as raw ESP
			dropped := false // a tunnel counted a drop
			for i := 0; i < count; i++ {
				size := sizes[i]
				if size < 1 {
					continue
				}
				e := elems[i]
				pkt := e.buf[txOffset : txOffset+size]
				dst, ok := dstAddr(pkt)
				if !ok {
					d.stats.malformed.Add(1)
					continue
				}
				t, ok := snap.lookup(dst)
				if !ok {
					d.stats.noRoute.Add(1)
					continue
				}
				sa := t.pickOutbound(pkt)
				if sa == nil {
					d.noOutboundSA(t, pkt)
					dropped = true
					continue
				}
				if limiter != nil && !limiter.Allow(t.id, size) {
					t.dropRate.Add(1)
					dropped = true
					continue
				}
				mss := t.mss.Load()
				clampMSS(pkt, uint16(mss), uint16(mss>>16))
				e.pkt, e.t, e.sa = pkt, t, sa
				raw = raw || !t.path.Load().encap
				seqs.count(sa)
				b.elems = append(b.elems, e)
				elems[i] = nil
			}
			if d.pool.fill(elems[:count]) {
				for i := range count {
					bufs[i] = elems[i].buf[:]
				}
			}
			if dropped {
				d.moved.mark()
			}
			if len(b.elems) == 0 {
				outBatchPool.Put(b)
			} else {
				seqs.assign(b.elems)
				d.dispatchOut(b, raw, &s)
			}
		}
		if err != nil {
			if errors.Is(err, tun.ErrTooManySegments) {
				d.stats.malformed.Add(1)
				continue
			}
			if !d.closed.Load() && !errors.Is(err, os.ErrClosed) {
				d.log.Error("TUN read failed; outbound path stopped", "err", err)
			}
			return
		}
	}
}

// dispatchOut is the end of stage 3: a batch of at most inlineMax packets,
// none of them raw ESP, read while no earlier batch is in flight runs to
// completion here (stages 4 and 5 in the TUN reader: s is its scratch);
// any other is locked and queued for the workers and the sender. The
// reader is the only producer, so with nothing in flight no other
// goroutine sends, and send order stays sequence order. Raw ESP keeps the
// pipeline: its sendmmsg does per-packet kernel work (on a veth, the
// peer's receive too), and overlapping it with the next read was worth
// more than the hand-offs (docs/benchmarks.md, run to completion).
// readTUN reads one outbound batch into bufs (2n slots): one read, then,
// while each read so far returned a single packet (an ACK, not a
// super-packet), the batch holds fewer than n packets and d.tunReady says
// the device has another packet queued, more reads, each given at least n
// slots (a super-packet splits into up to n segments). Read one per
// batch, every ACK was its own send (a sendmmsg of one datagram) and, on
// the peer, its own receive; drained, they leave together. A super-packet
// ends the batch: drained behind one another, the super-packets of
// different flows (all MSS-sized segments) merged into shared UDP GSO
// datagrams, whose boundaries then cut flows' runs of segments on the
// peer's receives, so its TUN writes carried less per write (21 kB
// against 27 kB with 100 flows) and drew more ACKs. Packets keep the
// device's order.
func (d *Dataplane) readTUN(bufs [][]byte, sizes []int, n int) (int, error) {
	count, err := d.tun.Read(bufs, sizes, txOffset)
	for c := count; err == nil && c == 1 && count < n && d.tunReady != nil && d.tunReady(); count += c {
		c, err = d.tun.Read(bufs[count:], sizes[count:], txOffset)
	}
	return count, err
}

func (d *Dataplane) dispatchOut(b *outBatch, raw bool, s *sendBufs) {
	if !raw && len(b.elems) <= d.inlineMax && d.outInflight.Load() == 0 {
		sealBatch(b)
		if !d.closed.Load() {
			d.sendBatch(b, s)
		}
		d.freeOut(b)
		return
	}
	d.outInflight.Add(1)
	b.mu.Lock()
	d.sendQ <- b
	d.encQ <- b
}

// routineEncrypt is stage 4 of the outbound path.
func (d *Dataplane) routineEncrypt() {
	defer d.wg.Done()
	for b := range d.encQ {
		sealBatch(b)
		b.mu.Unlock()
	}
}

// sealBatch seals b's packets in place, each with its sequence number.
func sealBatch(b *outBatch) {
	for _, e := range b.elems {
		if e.seq == 0 {
			continue
		}
		start := cap(e.buf) - cap(e.pkt)
		p, err := e.sa.SealSeq(e.buf[:start+len(e.pkt)], start, e.seq, 0)
		if err != nil {
			continue // counted by the SA
		}
		e.pkt, e.ok = p, true
	}
}

// seqReserver gives the packets of one TUN read their sequence numbers:
// one Reserve per SA for all its packets in the read, consecutive numbers
// in read order (so sequence order is send order).
type seqReserver struct {
	sas []seqRange
}

// seqRange is one SA's packets in the read and, after reserve, the next
// number to hand out and how many are left.
type seqRange struct {
	sa         *esp.OutboundSA
	n          int
	next       uint64
	got, given int
}

// count notes one more packet for sa (reads mostly hold few SAs; the last
// one is checked first).
func (r *seqReserver) count(sa *esp.OutboundSA) {
	for i := len(r.sas) - 1; i >= 0; i-- {
		if r.sas[i].sa == sa {
			r.sas[i].n++
			return
		}
	}
	r.sas = append(r.sas, seqRange{sa: sa, n: 1})
}

// assign reserves each SA's numbers and hands them out in order; packets
// beyond an exhausted SA keep seq 0 (dropped) and are counted.
func (r *seqReserver) assign(elems []*element) {
	for i := range r.sas {
		g := &r.sas[i]
		g.next, g.got = g.sa.Reserve(g.n)
		for range g.n - g.got {
			g.sa.CountDrop(esp.DropSeqExhausted)
		}
	}
	last := 0
	for _, e := range elems {
		if r.sas[last].sa != e.sa {
			for i := range r.sas {
				if r.sas[i].sa == e.sa {
					last = i
					break
				}
			}
		}
		g := &r.sas[last]
		if g.given < g.got {
			e.seq = g.next
			g.next++
			g.given++
		}
	}
	clear(r.sas)
	r.sas = r.sas[:0]
}

// routineSend is stage 5 of the outbound path. A batch is one TUN read,
// however many tunnels it spans: its UDP-encapsulated packets leave with
// one Send per peer address (UDP GSO coalesces across tunnels to the same
// address), its raw ESP packets with one sendmmsg (each message has its
// own destination).
func (d *Dataplane) routineSend() {
	defer d.wg.Done()
	s := newSendBufs()
	for b := range d.sendQ {
		b.mu.Lock()
		if !d.closed.Load() {
			d.sendBatch(b, &s)
		}
		b.mu.Unlock()
		d.outInflight.Add(-1) // sent: the reader may send the next itself
		d.freeOut(b)
	}
}

func newSendBufs() sendBufs {
	return sendBufs{
		bufs: make([][]byte, 0, conn.IdealBatchSize),
		dsts: make([][4]byte, 0, conn.IdealBatchSize),
	}
}

// sendBufs is the sender's scratch space (routineSend's, and the TUN
// reader's for the batches it runs to completion).
type sendBufs struct {
	bufs  [][]byte
	dsts  [][4]byte     // raw ESP: each buffer's destination
	drops []*element    // raw ESP: packets to a remote that is not IPv4
	paths []*tunnelPath // the batch's distinct UDP paths
	sent  []*element    // the packets of the current call
}

// sendBatch sends the sealed packets of b (in order within each path) and
// accounts them to their tunnels.
func (d *Dataplane) sendBatch(b *outBatch, s *sendBufs) {
	s.paths = s.paths[:0]
	raw := false
	for _, e := range b.elems {
		if !e.ok {
			continue
		}
		p := e.t.path.Load()
		if !p.encap {
			raw = true
			continue
		}
		if !slices.ContainsFunc(s.paths, func(q *tunnelPath) bool { return q.remote == p.remote }) {
			s.paths = append(s.paths, p)
		}
	}
	for _, path := range s.paths {
		s.bufs, s.sent = s.bufs[:0], s.sent[:0]
		for _, e := range b.elems {
			if e.ok {
				if p := e.t.path.Load(); p.encap && p.remote == path.remote {
					s.bufs = append(s.bufs, e.pkt)
					s.sent = append(s.sent, e)
				}
			}
		}
		var err error
		// StdNetBind.Send takes at most IdealBatchSize buffers.
		for k := 0; k < len(s.bufs) && err == nil; k += conn.IdealBatchSize {
			if err = d.nattBind.Send(s.bufs[k:min(k+conn.IdealBatchSize, len(s.bufs))], path.ep); err != nil {
				var gso conn.ErrUDPGSODisabled
				if errors.As(err, &gso) {
					d.log.Warn("UDP GSO disabled", "err", err)
					err = gso.RetryErr
				}
			}
		}
		countSent(s.sent, err)
	}
	if raw {
		s.bufs, s.dsts, s.sent, s.drops = s.bufs[:0], s.dsts[:0], s.sent[:0], s.drops[:0]
		for _, e := range b.elems {
			if e.ok {
				if p := e.t.path.Load(); !p.encap {
					if !p.raw4OK {
						s.drops = append(s.drops, e)
						continue
					}
					s.bufs = append(s.bufs, d.raw.rawFrame(e, p.raw4))
					s.dsts = append(s.dsts, p.raw4)
					s.sent = append(s.sent, e)
				}
			}
		}
		countSent(s.sent, d.raw.send(s.bufs, s.dsts))
		countSent(s.drops, errRawNotIPv4)
		clear(s.drops)
	}
	clear(s.sent)
	d.moved.mark() // after the seals' counts and the sends'
}

// countSent accounts the packets of one send call to their tunnels (sent,
// or dropped when the call failed), one counter update per run of packets
// of the same tunnel.
func countSent(es []*element, err error) {
	for i := 0; i < len(es); {
		t := es[i].t
		var n, bytes uint64
		for ; i < len(es) && es[i].t == t; i++ {
			n++
			bytes += uint64(len(es[i].pkt))
		}
		if err != nil {
			t.dropSend.Add(n)
		} else {
			t.txPackets.Add(n)
			t.txBytes.Add(bytes)
		}
	}
}

// udpRead is one UDP socket's batch read: it fills bufs, sizes[i] each
// datagram's length (0: skip the slot), from[i] its source and to[i] the
// local address it was sent to (invalid: unknown), and waits for the
// first. udpReader.read, or a bind's ReceiveFunc through bindRead.
type udpRead func(bufs [][]byte, sizes []int, from []netip.AddrPort, to []netip.Addr) (int, error)

// bindRead adapts a conn.Bind's ReceiveFunc to udpRead (the fallback when
// the bind's sockets cannot be read directly, and the tests' fakes).
func bindRead(fn conn.ReceiveFunc) udpRead {
	var eps []conn.Endpoint
	return func(bufs [][]byte, sizes []int, from []netip.AddrPort, to []netip.Addr) (int, error) {
		if len(eps) < len(bufs) {
			eps = make([]conn.Endpoint, len(bufs))
		}
		n, err := fn(bufs, sizes, eps[:len(bufs)])
		for i := range n {
			from[i], to[i] = netip.AddrPort{}, netip.Addr{}
			if ep, ok := eps[i].(*conn.StdNetEndpoint); ok && ep != nil {
				from[i], to[i] = ep.AddrPort, ep.SrcIP()
			} else {
				sizes[i] = 0
			}
			eps[i] = nil
		}
		return n, err
	}
}

// routineReceive is stages 1-3 of the inbound path for one UDP socket
// family (natt: the NAT-T port with demultiplexing; else the IKE port).
func (d *Dataplane) routineReceive(read udpRead, natt bool) {
	defer d.recvWG.Done()
	n := conn.IdealBatchSize
	elems := make([]*element, n)
	bufs := make([][]byte, n)
	sizes := make([]int, n)
	from := make([]netip.AddrPort, n)
	to := make([]netip.Addr, n)
	d.pool.fill(elems)
	for i := range elems {
		bufs[i] = elems[i].buf[rxOffset:]
	}
	defer d.pool.putAll(elems)
	port := d.cfg.IKEPort
	if natt {
		port = d.cfg.NATTPort
	}
	var batch *inBatch
	var rs receiverState
	errorsInARow := 0
	for {
		count, err := read(bufs, sizes, from, to)
		if err != nil {
			if d.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			errorsInARow++
			if errorsInARow > 10 {
				d.log.Error("UDP receive keeps failing; receiver stopped", "port", port, "err", err)
				return
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		errorsInARow = 0
		snap := d.state.Load()
		for i := 0; i < count; i++ {
			size := sizes[i]
			if size == 0 {
				continue
			}
			data := elems[i].buf[rxOffset : rxOffset+size]
			remote := from[i]
			if !remote.IsValid() {
				continue
			}
			if !natt {
				d.deliverIKE(data, d.localFor(to[i], remote, port), remote)
				continue
			}
			switch classify4500(data) {
			case kindKeepalive:
				d.stats.keepalives.Add(1)
				if t := d.tunnelByRemote(remote); t != nil {
					t.keepalives.Add(1)
					t.lastKeepalive.Store(time.Now().UnixNano())
					d.moved.mark()
				}
			case kindIKE:
				d.deliverIKE(data[esp.NonESPMarkerLen:], d.localFor(to[i], remote, port), remote)
			case kindESP:
				if d.acceptESP(snap, elems[i], rxOffset, size, &batch) {
					elems[i] = nil
				}
			default:
				d.stats.malformed.Add(1)
			}
		}
		if d.pool.fill(elems[:count]) {
			for i := range count {
				bufs[i] = elems[i].buf[rxOffset:]
			}
		}
		d.dispatchIn(batch, &rs)
		batch = nil
	}
}

// deliverIKE hands an IKE datagram to the handler.
func (d *Dataplane) deliverIKE(data []byte, local, remote netip.AddrPort) {
	d.stats.ikeIn.Add(1)
	if h := d.ikeHandler.Load(); h != nil {
		(*h)(IKEPacket{Data: data, Local: local, Remote: remote})
	}
}

// acceptESP looks up the SA of the ESP packet e.buf[off:off+size], runs the
// replay pre-check and adds it to the receive's batch (*b, taken from the
// pool on first use). It reports whether it took the element.
func (d *Dataplane) acceptESP(snap *snapshot, e *element, off, size int, b **inBatch) bool {
	pkt := e.buf[off : off+size]
	spi, err := esp.ParseSPI(pkt)
	if err != nil {
		d.stats.malformed.Add(1)
		return false
	}
	in := d.inboundByID(spi)
	if in == nil {
		d.stats.unknownSPI.Add(1)
		return false
	}
	seq, err := in.sa.Check(pkt)
	if err != nil {
		d.moved.mark()
		return false // counted by the SA
	}
	e.pkt, e.seq, e.in = pkt, seq, in
	if *b == nil {
		*b = inBatchPool.Get().(*inBatch)
	}
	(*b).elems = append((*b).elems, e)
	return true
}

// receiverState is one receiving goroutine's part in running batches to
// completion.
type receiverState struct {
	// pipeline turns running to completion off for this receiver (raw
	// ESP: its receives are small, and the TUN writer's coalescing of
	// queued batches gives GRO more segments per write).
	pipeline bool
	// inflight counts this receiver's batches queued and not yet written.
	inflight atomic.Int32
	// bufs is the scratch for writing a batch run to completion.
	bufs [][]byte
}

// dispatchIn is the end of stage 3 for the batch of one receive (nil: no
// ESP in it). A batch of at most inlineMax packets, received while none
// of this receiver's earlier batches is in flight, runs to completion here
// (stages 4 and 5 in the receiver), so a flow's packets still reach the
// TUN device in receive order; any other is locked and queued for the
// workers and the TUN writer. Receivers on other sockets may write at the
// same time (tun.Device.Write serialises them; the replay windows take
// their own locks).
func (d *Dataplane) dispatchIn(b *inBatch, r *receiverState) {
	if b == nil {
		return
	}
	if !r.pipeline && len(b.elems) <= d.inlineMax && r.inflight.Load() == 0 {
		openBatch(b)
		r.bufs = d.commitIn(b, r.bufs[:0])
		d.writeTUN(r.bufs)
		clear(r.bufs)
		d.freeIn(b)
		return
	}
	r.inflight.Add(1)
	b.inflight = &r.inflight
	b.mu.Lock()
	d.writeQ <- b
	d.decQ <- b
}

// routineDecrypt is stage 4 of the inbound path.
func (d *Dataplane) routineDecrypt() {
	defer d.wg.Done()
	for b := range d.decQ {
		openBatch(b)
		b.mu.Unlock()
	}
}

// openBatch verifies and decrypts b's packets in place.
func openBatch(b *inBatch) {
	for _, e := range b.elems {
		start := cap(e.buf) - cap(e.pkt)
		inner, nh, err := e.in.sa.Decrypt(e.buf[:start+len(e.pkt)], start, e.seq)
		if err != nil {
			continue // counted by the SA
		}
		e.pkt, e.nh, e.ok = inner, nh, true
	}
}

// writeTUN writes committed packets (with tunWriteOffset of headroom) to
// the TUN device with one call.
func (d *Dataplane) writeTUN(bufs [][]byte) {
	if len(bufs) == 0 {
		return
	}
	if _, err := d.tun.Write(bufs, tunWriteOffset); err != nil && !d.closed.Load() {
		d.stats.tunWriteErrs.Add(1)
	}
}

// routineWriteTUN is stage 5 of the inbound path. A batch is one receive,
// however many SAs it spans: it is written to the TUN device with one
// call, so that the tun package coalesces (GRO) across tunnels, together
// with the batches queued behind it that are already decrypted (up to
// writeCoalesceMax packets).
func (d *Dataplane) routineWriteTUN() {
	defer d.wg.Done()
	bufs := make([][]byte, 0, writeCoalesceMax+conn.IdealBatchSize)
	held := make([]*inBatch, 0, 8)
	var next *inBatch // taken from writeQ but not yet decrypted
	for {
		b := next
		next = nil
		if b == nil {
			var ok bool
			if b, ok = <-d.writeQ; !ok {
				return
			}
		}
		b.mu.Lock()
		bufs = d.commitIn(b, bufs[:0])
		held = append(held, b)
		// Batches queued behind b and already decrypted join its write:
		// when the writer falls behind (small receives, as raw ESP's
		// without GRO, or many interleaved flows), the tun package's GRO
		// sees more segments of each flow per write. A batch still being
		// decrypted is not waited for; it starts the next write.
	coalesce:
		for len(bufs) < writeCoalesceMax {
			select {
			case b2, ok := <-d.writeQ:
				if !ok {
					break coalesce // closed: the next receive returns
				}
				if !b2.mu.TryLock() {
					next = b2
					break coalesce
				}
				bufs = d.commitIn(b2, bufs)
				held = append(held, b2)
			default:
				break coalesce
			}
		}
		d.writeTUN(bufs)
		clear(bufs)
		for i, h := range held {
			h.mu.Unlock()
			if h.inflight != nil {
				h.inflight.Add(-1) // written: its receiver may write the next itself
			}
			d.freeIn(h)
			held[i] = nil
		}
		held = held[:0]
	}
}

// writeCoalesceMax is the number of packets past which the TUN writer
// stops adding ready batches to a write.
const writeCoalesceMax = 4 * conn.IdealBatchSize

// transitAllowed applies the transit rule to a packet that arrived
// through tunnel from: when its destination is routed into another tunnel
// and either of the two has NoTransit, the kernel must not forward it
// there. Destinations in the local prefixes (the VNet, which the kernel
// routes there even when a tunnel carries a supernet), outside every
// tunnel, or in the tunnel's own prefixes always pass, and so does a
// destination only a tunnel's default route covers: the kernel routes
// packets from the VNet alone by it (defaultroute.go), not packets from a
// tunnel.
func transitAllowed(snap *snapshot, local []netip.Prefix, from *tunnel, pkt []byte) bool {
	dst, ok := dstAddr(pkt)
	if !ok {
		return true
	}
	for _, p := range local {
		if p.Contains(dst) {
			return true
		}
	}
	lpm, to, ok := snap.lookupLPM(dst)
	if !ok || to == from || lpm.Bits() == 0 {
		return true
	}
	return !from.noTransit.Load() && !to.noTransit.Load()
}

// commitIn commits the decrypted packets of b to their SAs' replay
// windows, checks them, accounts them to their tunnels (one counter update
// per run of packets of the same SA) and appends the ones to write to bufs
// (with tunWriteOffset of headroom).
func (d *Dataplane) commitIn(b *inBatch, bufs [][]byte) [][]byte {
	var (
		cur      *inboundSA
		n, bytes uint64
		local    []netip.Prefix
	)
	checkTransit := d.noTransit.Load() > 0
	snap := d.state.Load()
	if l := d.local.Load(); l != nil {
		local = *l
	}
	account := func() {
		if cur != nil && n > 0 {
			t := cur.tun
			t.lastRx.Store(time.Now().UnixNano())
			t.rxPackets.Add(n)
			t.rxBytes.Add(bytes)
		}
		n, bytes = 0, 0
	}
	for _, e := range b.elems {
		if !e.ok {
			continue
		}
		in := e.in
		if in != cur {
			account()
			cur = in
		}
		if in.sa.Commit(e.seq, len(e.pkt)) != nil {
			continue // replayed meanwhile or expired; counted by the SA
		}
		if e.nh == esp.NextHeaderNone {
			in.sa.CountDummy()
			continue
		}
		if !in.any {
			f, ok := parseFlow(e.pkt)
			if !ok || !in.sel.matchInbound(&f) {
				in.sa.CountDrop(esp.DropSelector)
				continue
			}
		}
		if checkTransit && !transitAllowed(snap, local, in.tun, e.pkt) {
			in.tun.dropTransit.Add(1)
			continue
		}
		mss := in.tun.mss.Load()
		clampMSS(e.pkt, uint16(mss), uint16(mss>>16))
		start := cap(e.buf) - cap(e.pkt)
		bufs = append(bufs, e.buf[start-tunWriteOffset:start+len(e.pkt)])
		n++
		bytes += uint64(len(e.pkt))
	}
	account()
	d.moved.mark() // after the batch's counts, the decryption's included
	return bufs
}

// noOutboundSA accounts for a packet routed into t that no outbound SA
// takes. Outside the tunnel's Policy it is a DropPolicy; otherwise a
// DropNoSA, and an on-demand tunnel (one with a Policy) reports
// EventAcquire, at most once per AcquireInterval.
func (d *Dataplane) noOutboundSA(t *tunnel, pkt []byte) {
	pol := t.policy.Load()
	if pol == nil {
		t.dropNoSA.Add(1)
		return
	}
	if f, ok := parseFlow(pkt); !ok || !pol.matchOutbound(&f) {
		t.dropPolicy.Add(1)
		return
	}
	t.dropNoSA.Add(1)
	now := time.Now().UnixNano()
	last := t.lastAcquire.Load()
	if now-last >= int64(AcquireInterval) && t.lastAcquire.CompareAndSwap(last, now) {
		d.emit(Event{Kind: EventAcquire, TunnelID: t.id})
	}
}
