package dataplane

import (
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gaissmai/bart"
	"golang.org/x/sys/cpu"
	"golang.zx2c4.com/wireguard/conn"

	"github.com/vpngw/vpngw/internal/esp"
)

// snapshot is the immutable route table of the packet path. Control-plane
// calls derive a new one under Dataplane.mu with bart's persistent
// (path-copying) updates, which copy only the nodes on the changed
// prefixes' paths, and publish it with an atomic store; the packet path
// loads it once per batch and never locks.
//
// Host routes (/32, /128: a point-to-site client's virtual address each)
// are not in the table but in hosts, an exact-match index shared by every
// snapshot. A host route is the longest prefix there can be, so a hit
// there is the answer. The reason is the cost of an update: bart's
// persistent insert clones the changed node's leaf and fringe children,
// and thousands of clients in one pool put up to 256 fringes under a
// node: with 10,000 clients a route removed and added back cost ~26 µs
// and 24 kB in 532 allocations (BenchmarkSetRoutesClients; ~5 % of a
// setup's CPU); the index stores a pointer (~130 ns, no allocation).
type snapshot struct {
	routes *bart.Table[*tunnel] // inner destination -> tunnel, host routes excepted
	hosts  *hostIndex           // host routes; nil: none
}

// emptySnapshot is a snapshot with no routes.
func (d *Dataplane) emptySnapshot() *snapshot {
	return &snapshot{routes: new(bart.Table[*tunnel]), hosts: &d.hosts}
}

// hostIndex holds the host routes: IPv4 ones in blocks of 256 addresses
// (a /24 each, found by a copy-on-write map that changes only when a
// block comes or goes, its slots stored atomically), IPv6 ones in a
// copy-on-write index; n counts them all (while 0, lookups skip it). A
// client's route then costs one atomic store, and a lookup one map
// access with an integer key and one load.
type hostIndex struct {
	blocks atomic.Pointer[map[uint32]*hostBlock] // by the address's top 24 bits
	v6     cowIndex[netip.Addr, *tunnel]
	n      atomic.Int64
}

// hostBlock holds the host routes of one IPv4 /24 by the last octet.
type hostBlock struct {
	slots [256]atomic.Pointer[tunnel]
	used  int // slots set; guarded by Dataplane.mu
}

func (h *hostIndex) get(a netip.Addr) (*tunnel, bool) {
	if a.Is4() {
		m := h.blocks.Load()
		if m == nil {
			return nil, false
		}
		v := a.As4()
		blk := (*m)[uint32(v[0])<<16|uint32(v[1])<<8|uint32(v[2])]
		if blk == nil {
			return nil, false
		}
		t := blk.slots[v[3]].Load()
		return t, t != nil
	}
	return h.v6.get(hostShard(a), a)
}

// setHost stores (or with t nil, deletes) the host route a; called with
// Dataplane.mu held.
func (h *hostIndex) setHost(a netip.Addr, t *tunnel) {
	_, had := h.get(a)
	switch {
	case t == nil && had:
		h.n.Add(-1)
	case t != nil && !had:
		h.n.Add(1)
	}
	if !a.Is4() {
		h.v6.set(hostShard(a), a, t, t == nil)
		return
	}
	v := a.As4()
	key := uint32(v[0])<<16 | uint32(v[1])<<8 | uint32(v[2])
	var blk *hostBlock
	if m := h.blocks.Load(); m != nil {
		blk = (*m)[key]
	}
	if blk == nil {
		if t == nil {
			return
		}
		blk = &hostBlock{}
		h.putBlock(key, blk)
	}
	switch {
	case t == nil && had:
		blk.used--
	case t != nil && !had:
		blk.used++
	}
	blk.slots[v[3]].Store(t)
	if blk.used == 0 {
		h.putBlock(key, nil)
	}
}

// putBlock publishes the block map with key set to blk (nil: removed).
func (h *hostIndex) putBlock(key uint32, blk *hostBlock) {
	next := map[uint32]*hostBlock{}
	if m := h.blocks.Load(); m != nil {
		next = maps.Clone(*m)
	}
	if blk == nil {
		delete(next, key)
	} else {
		next[key] = blk
	}
	h.blocks.Store(&next)
}

// clearHosts empties the index; called with Dataplane.mu held.
func (h *hostIndex) clearHosts() {
	h.blocks.Store(nil)
	h.v6.reset()
	h.n.Store(0)
}

// isHost reports whether p is a host route, kept in hostIndex.
func isHost(p netip.Prefix) bool { return p.Bits() == p.Addr().BitLen() }

// hostShard spreads IPv6 host routes over hostIndex.v6's shards.
func hostShard(a netip.Addr) uint8 {
	b := a.As16()
	return b[15] ^ b[14] ^ b[13] ^ b[12]
}

// lookup returns the tunnel that routes dst.
func (s *snapshot) lookup(dst netip.Addr) (*tunnel, bool) {
	if h := s.hosts; h != nil && h.n.Load() > 0 {
		if t, ok := h.get(dst); ok {
			return t, true
		}
	}
	return s.routes.Lookup(dst)
}

// lookupLPM returns the tunnel that routes dst and the prefix it routes.
func (s *snapshot) lookupLPM(dst netip.Addr) (netip.Prefix, *tunnel, bool) {
	if h := s.hosts; h != nil && h.n.Load() > 0 {
		if t, ok := h.get(dst); ok {
			return netip.PrefixFrom(dst, dst.BitLen()), t, true
		}
	}
	return s.routes.LookupPrefixLPM(netip.PrefixFrom(dst, dst.BitLen()))
}

// cowIndex is a map read without locks by the packet path and written
// under Dataplane.mu: 256 copy-on-write shards, so that one write copies
// 1/256 of the entries instead of all of them. The zero value is empty.
type cowIndex[K comparable, V any] struct {
	shards [256]atomic.Pointer[map[K]V]
}

func (x *cowIndex[K, V]) get(shard uint8, k K) (V, bool) {
	if m := x.shards[shard].Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// set stores (or with del, deletes) k; called with Dataplane.mu held.
func (x *cowIndex[K, V]) set(shard uint8, k K, v V, del bool) {
	var next map[K]V
	if m := x.shards[shard].Load(); m != nil {
		next = maps.Clone(*m) // copies the table whole, not entry by entry
	} else {
		next = map[K]V{}
	}
	if del {
		delete(next, k)
	} else {
		next[k] = v
	}
	x.shards[shard].Store(&next)
}

// reset empties the index; called with Dataplane.mu held.
func (x *cowIndex[K, V]) reset() {
	for i := range x.shards {
		x.shards[i].Store(nil)
	}
}

func spiShard(spi uint32) uint8 { return uint8(spi) ^ uint8(spi>>8) }

func remoteShard(ap netip.AddrPort) uint8 {
	b := ap.Addr().As16()
	return b[15] ^ b[14] ^ uint8(ap.Port())
}

// inboundByID returns the inbound SA with SPI spi, or nil.
func (d *Dataplane) inboundByID(spi uint32) *inboundSA {
	in, _ := d.bySPI.get(spiShard(spi), spi)
	return in
}

// tunnelByRemote returns the tunnel whose peer is remote (keepalives).
func (d *Dataplane) tunnelByRemote(remote netip.AddrPort) *tunnel {
	t, _ := d.byRemote.get(remoteShard(remote), remote)
	return t
}

// rebuild publishes every index anew from the control-plane maps (for
// tests that assemble tunnels by hand). Called with d.mu held.
func (d *Dataplane) rebuild() {
	routes := new(bart.Table[*tunnel])
	d.byRemote.reset()
	d.hosts.clearHosts()
	d.remotes = map[netip.AddrPort][]*tunnel{}
	for _, t := range d.tunnels {
		for _, p := range t.prefixes {
			if isHost(p) {
				d.hosts.setHost(p.Addr(), t)
				continue
			}
			routes.Insert(p.Masked(), t)
		}
		d.addRemote(t, t.path.Load().remote)
	}
	d.state.Store(&snapshot{routes: routes, hosts: &d.hosts})
	d.bySPI.reset()
	for spi, in := range d.inSAs {
		d.bySPI.set(spiShard(spi), spi, in, false)
		if in.tun.in == nil {
			in.tun.in = map[uint32]*inboundSA{}
		}
		in.tun.in[spi] = in
	}
}

// setRoutes moves the tunnel's prefixes in the route table from old to
// new. Called with d.mu held.
func (d *Dataplane) setRoutes(t *tunnel, old, new []netip.Prefix) {
	tab := d.state.Load().routes
	changed := false
	keep := map[netip.Prefix]bool{}
	for _, p := range new {
		keep[p.Masked()] = true
	}
	for _, p := range old {
		p = p.Masked()
		switch {
		case keep[p]:
		case isHost(p):
			if cur, ok := d.hosts.get(p.Addr()); ok && cur == t {
				d.hosts.setHost(p.Addr(), nil)
			}
		default:
			if cur, ok := tab.Get(p); ok && cur == t {
				tab, changed = tab.DeletePersist(p), true
			}
		}
	}
	for _, p := range new {
		p = p.Masked()
		if isHost(p) {
			if cur, ok := d.hosts.get(p.Addr()); !ok || cur != t {
				d.hosts.setHost(p.Addr(), t)
			}
			continue
		}
		if cur, ok := tab.Get(p); !ok || cur != t {
			tab, changed = tab.InsertPersist(p, t), true
		}
	}
	if changed {
		d.state.Store(&snapshot{routes: tab, hosts: &d.hosts})
	}
}

// addRemote and dropRemote keep byRemote pointing at a tunnel with that
// peer address, if any. Called with d.mu held.
func (d *Dataplane) addRemote(t *tunnel, r netip.AddrPort) {
	if d.remotes == nil {
		d.remotes = map[netip.AddrPort][]*tunnel{}
	}
	d.remotes[r] = append(d.remotes[r], t)
	d.byRemote.set(remoteShard(r), r, d.remotes[r][0], false)
}

func (d *Dataplane) dropRemote(t *tunnel, r netip.AddrPort) {
	ts := d.remotes[r]
	for i, o := range ts {
		if o == t {
			ts = append(ts[:i:i], ts[i+1:]...)
			break
		}
	}
	if len(ts) == 0 {
		delete(d.remotes, r)
		d.byRemote.set(remoteShard(r), r, nil, true)
		return
	}
	d.remotes[r] = ts
	d.byRemote.set(remoteShard(r), r, ts[0], false)
}

// tunnel is the packet path's view of one tunnel. The pointer is stable for
// the tunnel's life; what changes is behind atomic pointers.
type tunnel struct {
	id       string
	prefixes []netip.Prefix // guarded by Dataplane.mu
	// in are the tunnel's inbound SAs by SPI, guarded by Dataplane.mu
	// (created on first use).
	in map[uint32]*inboundSA

	path atomic.Pointer[tunnelPath]   // where to send
	out  atomic.Pointer[[]outboundSA] // outbound SAs, copy-on-write
	// retired holds outbound SAs replaced by SetOutboundSA until
	// RemoveOutboundSA (uint32 SPI -> *esp.OutboundSA).
	retired sync.Map

	// mss is the MSS clamp: low 16 bits IPv4, high 16 bits IPv6.
	mss atomic.Uint32

	// Counters, updated once per batch.
	txPackets, txBytes atomic.Uint64
	rxPackets, rxBytes atomic.Uint64
	dropNoSA, dropSend atomic.Uint64
	dropPolicy         atomic.Uint64
	// dropTransit counts inbound packets refused by the transit rule
	// (TunnelConfig.NoTransit); noTransit is the tunnel's setting.
	dropTransit atomic.Uint64
	noTransit   atomic.Bool
	// policy are the configured selectors of an on-demand tunnel (nil
	// otherwise); lastAcquire is the unix ns of its last EventAcquire.
	policy               atomic.Pointer[Selectors]
	lastAcquire          atomic.Int64
	dropRate, keepalives atomic.Uint64
	lastRx               atomic.Int64 // unix ns of the last authenticated ESP packet
	lastKeepalive        atomic.Int64
}

// tunnelPath is the immutable outer addressing of a tunnel.
type tunnelPath struct {
	remote netip.AddrPort
	encap  bool
	ep     *conn.StdNetEndpoint // for UDP sends
	// raw4 is the destination of raw ESP sends; raw4OK is false when the
	// remote is not IPv4 (raw ESP is IPv4 only: its packets are dropped).
	raw4   [4]byte
	raw4OK bool
}

func (t *tunnel) setPath(tc TunnelConfig, raw *rawESP) {
	p := &tunnelPath{remote: tc.Remote, encap: tc.Encap}
	if !tc.Encap {
		// Raw ESP has no ports; keep the key stable for byRemote lookups.
		p.remote = netip.AddrPortFrom(tc.Remote.Addr(), 0)
	}
	p.ep = &conn.StdNetEndpoint{AddrPort: tc.Remote}
	if a := tc.Remote.Addr().Unmap(); a.Is4() {
		p.raw4, p.raw4OK = a.As4(), true
	}
	t.path.Store(p)
}

func (t *tunnel) outSAs() []outboundSA {
	if p := t.out.Load(); p != nil {
		return *p
	}
	return nil
}

// updateMSS recomputes the MSS clamp from the TUN MTU and the largest inner
// packet the tunnel's outbound SAs fit into the underlay MTU. Called with
// Dataplane.mu held.
func (t *tunnel) updateMSS(tunMTU, underlayMTU int) {
	p := t.path.Load()
	outer := underlayMTU - esp.IPv4HeaderLen
	if p != nil && p.remote.Addr().Is6() {
		outer = underlayMTU - esp.IPv6HeaderLen
	}
	if p == nil || p.encap {
		outer -= esp.UDPEncapLen
	}
	inner := tunMTU
	sas := t.outSAs()
	if len(sas) == 0 {
		// Worst case until an SA is installed.
		inner = min(inner, outer-esp.HeaderLen-esp.MaxIVLen-esp.MaxICVLen-esp.MaxAlign-esp.TrailerLen+1)
	}
	for _, o := range sas {
		inner = min(inner, o.sa.MaxInner(outer))
	}
	mss4 := max(inner-40, 536)
	mss6 := max(inner-60, 1220)
	t.mss.Store(uint32(mss4) | uint32(mss6)<<16)
}

// outboundSA is an installed outbound SA with its selectors.
type outboundSA struct {
	sa  *esp.OutboundSA
	sel Selectors
	any bool // sel matches everything: skip parsing
}

// inboundSA is an installed inbound SA with its tunnel and selectors.
type inboundSA struct {
	sa  *esp.InboundSA
	tun *tunnel
	sel Selectors
	any bool
}

// pickOutbound returns the outbound SA for an inner packet, or nil.
func (t *tunnel) pickOutbound(pkt []byte) *esp.OutboundSA {
	sas := t.outSAs()
	if len(sas) == 1 && sas[0].any {
		return sas[0].sa
	}
	f, ok := parseFlow(pkt)
	if !ok {
		return nil
	}
	for i := range sas {
		if sas[i].any || sas[i].sel.matchOutbound(&f) {
			return sas[i].sa
		}
	}
	return nil
}

func selectorsEqual(a, b Selectors) bool {
	return slices.Equal(a.Local, b.Local) && slices.Equal(a.Remote, b.Remote)
}

// globalCounters are the gateway-wide counters.
type globalCounters struct {
	noRoute, unknownSPI, malformed atomic.Uint64
	ikeIn, ikeOut, keepalives      atomic.Uint64
	eventsDropped, tunWriteErrs    atomic.Uint64
}

// trafficSeq tells readers whether tunnel or SA counters moved
// (Dataplane.TrafficSeq). The packet path marks it after its counter
// updates, once per batch: a load of moved, and a store only when it is
// clear, which a reader makes it at most every few seconds; so the line
// stays shared between the cores whatever the packet rate. A reader
// clears moved and, if it was set, counts a new seq.
type trafficSeq struct {
	_     cpu.CacheLinePad
	moved atomic.Bool
	seq   atomic.Uint64
	_     cpu.CacheLinePad
}

// mark notes that counters moved (after the updates it covers).
func (t *trafficSeq) mark() {
	if !t.moved.Load() {
		t.moved.Store(true)
	}
}

// read returns the sequence, a new number if counters moved since the
// last read (by any reader).
func (t *trafficSeq) read() uint64 {
	if t.moved.Swap(false) {
		return t.seq.Add(1)
	}
	return t.seq.Load()
}

func (c *globalCounters) snapshot() Stats {
	return Stats{
		NoRoute:       c.noRoute.Load(),
		UnknownSPI:    c.unknownSPI.Load(),
		Malformed:     c.malformed.Load(),
		IKEIn:         c.ikeIn.Load(),
		IKEOut:        c.ikeOut.Load(),
		Keepalives:    c.keepalives.Load(),
		EventsDropped: c.eventsDropped.Load(),
		TUNWriteErrs:  c.tunWriteErrs.Load(),
	}
}
