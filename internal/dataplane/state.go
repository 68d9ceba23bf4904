package dataplane

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gaissmai/bart"
	"golang.zx2c4.com/wireguard/conn"

	"github.com/vpngw/vpngw/internal/esp"
)

// snapshot is the immutable lookup state of the packet path. Control-plane
// calls build a new one under Dataplane.mu and publish it with an atomic
// store (copy-on-write); the packet path loads it once per batch and never
// locks.
type snapshot struct {
	routes   *bart.Table[*tunnel]       // inner destination -> tunnel
	bySPI    map[uint32]*inboundSA      // inbound SPI -> SA
	byRemote map[netip.AddrPort]*tunnel // outer peer address -> tunnel (keepalives)
}

func emptySnapshot() *snapshot {
	return &snapshot{routes: new(bart.Table[*tunnel]), bySPI: map[uint32]*inboundSA{}, byRemote: map[netip.AddrPort]*tunnel{}}
}

// rebuild publishes a new snapshot from the control-plane maps. Called with
// d.mu held.
func (d *Dataplane) rebuild() {
	s := &snapshot{
		routes:   new(bart.Table[*tunnel]),
		bySPI:    make(map[uint32]*inboundSA, len(d.inSAs)),
		byRemote: make(map[netip.AddrPort]*tunnel, len(d.tunnels)),
	}
	for _, t := range d.tunnels {
		for _, p := range t.prefixes {
			s.routes.Insert(p.Masked(), t)
		}
		s.byRemote[t.path.Load().remote] = t
	}
	for spi, in := range d.inSAs {
		s.bySPI[spi] = in
	}
	d.state.Store(s)
}

// tunnel is the packet path's view of one tunnel. The pointer is stable for
// the tunnel's life; what changes is behind atomic pointers.
type tunnel struct {
	id       string
	prefixes []netip.Prefix // guarded by Dataplane.mu

	path atomic.Pointer[tunnelPath]   // where to send
	out  atomic.Pointer[[]outboundSA] // outbound SAs, copy-on-write
	// retired holds outbound SAs replaced by SetOutboundSA until
	// RemoveOutboundSA (uint32 SPI -> *esp.OutboundSA).
	retired sync.Map

	// mss is the MSS clamp: low 16 bits IPv4, high 16 bits IPv6.
	mss atomic.Uint32

	// Counters, updated once per batch.
	txPackets, txBytes   atomic.Uint64
	rxPackets, rxBytes   atomic.Uint64
	dropNoSA, dropSend   atomic.Uint64
	dropRate, keepalives atomic.Uint64
	lastRx               atomic.Int64 // unix ns of the last authenticated ESP packet
	lastKeepalive        atomic.Int64
}

// tunnelPath is the immutable outer addressing of a tunnel.
type tunnelPath struct {
	remote netip.AddrPort
	encap  bool
	ep     *conn.StdNetEndpoint // for UDP sends
	ipAddr *net.IPAddr          // for raw ESP sends
}

func (t *tunnel) setPath(tc TunnelConfig, raw *rawESP) {
	p := &tunnelPath{remote: tc.Remote, encap: tc.Encap}
	if !tc.Encap {
		// Raw ESP has no ports; keep the key stable for byRemote lookups.
		p.remote = netip.AddrPortFrom(tc.Remote.Addr(), 0)
	}
	p.ep = &conn.StdNetEndpoint{AddrPort: tc.Remote}
	p.ipAddr = &net.IPAddr{IP: tc.Remote.Addr().AsSlice()}
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
