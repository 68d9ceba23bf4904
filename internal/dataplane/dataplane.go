// Package dataplane moves packets for a vpngw gateway: it reads inner IP
// packets from a TUN device, protects them with ESP (internal/esp) and sends
// them over UDP (NAT-T, RFC 3948) or raw IP protocol 50, and does the reverse
// for what it receives. It also carries IKE datagrams on UDP 500/4500
// between the network and the IKE engine (internal/ike), which it otherwise
// knows nothing about: the agent negotiates Child SAs and installs them here.
//
// The packet path is described at the top of pipeline.go. Everything on it
// is batched (TUN with virtio offloads, recvmmsg/sendmmsg with UDP GSO/GRO),
// crypto runs on parallel workers with per-SA in-order transmit, lookups read
// immutable snapshots through atomic pointers, and packet buffers come from
// pools, so the steady state allocates nothing of its own per packet.
//
// # MTU and MSS
//
// The TUN MTU defaults to 1400 bytes, Azure VPN Gateway's guidance for
// tunnel interfaces. An ESP packet for a 1400-byte inner packet with
// AES-256-GCM-16 is 1400 + 8 (SPI, Seq) + 8 (IV) + 2 (trailer) + 2 (pad to
// 4) + 16 (ICV) = 1436 bytes; with the UDP header (NAT-T) and an outer IPv4
// header it is 1464 bytes, which fits a 1500-byte underlay. AES-CBC with
// HMAC-SHA2-256-128 needs 1400 + 8 + 16 + 2..17 + 16 → at most 1457, 1485
// with UDP and IPv4: still fits. TCP SYNs are clamped in both directions to
// MSS = min(TUN MTU, largest inner packet the SA fits into UnderlayMTU) −
// 40 (IPv4 + TCP) or − 60 (IPv6 + TCP): 1360 with the defaults, close to
// Azure's recommended 1350, so end hosts never rely on PMTU discovery.
//
// # Namespaces
//
// Open creates the TUN device, the UDP and raw sockets and a netlink handle
// in the network namespace of the calling thread; they stay there, so all
// later calls (from any goroutine) act on that namespace.
package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/vpngw/vpngw/internal/esp"
	"github.com/vpngw/vpngw/internal/tunstat"
)

// Defaults for Config fields left zero.
const (
	DefaultTUNName     = "vpngw0"
	DefaultMTU         = 1400
	DefaultIKEPort     = 500
	DefaultNATTPort    = 4500
	DefaultUnderlayMTU = 1500
	// DefaultInlineMax is Config.InlineMax's default with more than two
	// CPUs: small batches (ACKs, pings, interactive traffic) run to
	// completion, bulk batches are sealed and opened in parallel.
	DefaultInlineMax = 8
)

// Sentinel errors.
var (
	// ErrClosed: the Dataplane was closed.
	ErrClosed = errors.New("dataplane: closed")
	// ErrNoTunnel: no tunnel with that ID.
	ErrNoTunnel = errors.New("dataplane: no such tunnel")
	// ErrNoSA: no SA with that SPI.
	ErrNoSA = errors.New("dataplane: no such SA")
	// ErrExists: an inbound SA with that SPI is already installed.
	ErrExists = errors.New("dataplane: SPI already in use")
	// ErrInvalid: a configuration value is invalid.
	ErrInvalid = errors.New("dataplane: invalid configuration")
)

// Config configures a Dataplane.
type Config struct {
	// TUNName is the TUN device's name (≤ 15 bytes); default "vpngw0".
	TUNName string
	// MTU is the TUN device's MTU; default 1400 (see the package comment).
	MTU int
	// Addresses are assigned to the TUN device (optional). Give the gateway
	// an address inside its local traffic selectors if it must originate
	// traffic into tunnels itself.
	Addresses []netip.Prefix
	// IKEPort is the UDP port for IKE without NAT traversal; default 500.
	IKEPort uint16
	// NATTPort is the UDP port for IKE and ESP with NAT traversal (RFC 3948);
	// default 4500.
	NATTPort uint16
	// RawESP opens a raw IP protocol 50 socket for tunnels with Encap false.
	// The kernel must not handle ESP itself (it has no CONFIG_INET_ESP here).
	RawESP bool
	// RawSocketSend sends all raw ESP through the raw IP socket, turning
	// off the AF_PACKET send path (rawpacket.go: faster, but past the
	// host's netfilter OUTPUT/POSTROUTING, policy routing and qdisc).
	RawSocketSend bool
	// UnderlayMTU is the path MTU between the gateways, used to compute the
	// MSS clamp; default 1500.
	UnderlayMTU int
	// Workers is the number of encryption and of decryption goroutines;
	// default runtime.NumCPU().
	Workers int
	// InlineMax is the largest batch (in packets) that the goroutine that
	// read it seals and sends, or opens and writes, itself (run to
	// completion) instead of handing it to the workers, when none of that
	// goroutine's earlier batches is still in flight (see pipeline.go);
	// raw ESP batches always go through the workers. 0 means the default:
	// every batch when GOMAXPROCS is 2 or less (the hand-offs cost more
	// than the parallel crypto gains), otherwise DefaultInlineMax; a
	// negative value turns it off (every batch goes through the workers).
	InlineMax int
	// Limiter, if set, caps the aggregate outbound throughput (see Limiter).
	Limiter Limiter
	// Logger receives rare events (errors, lifecycle); nil is silent. The
	// packet path counts instead of logging.
	Logger *slog.Logger
}

// IKEPacket is an IKE datagram. On receive, Data is the IKE message without
// the non-ESP marker; it points into a packet buffer that is reused as soon
// as the handler returns, so a handler that keeps it must copy it.
type IKEPacket struct {
	// Data is the IKE message (header onwards).
	Data []byte
	// Local is the address and port the datagram was received on (or is to
	// be sent from). Port 4500 (NATTPort) means NAT-T framing. On receive
	// the address is the datagram's destination when the kernel reports it,
	// else the source address the routing table selects towards Remote.
	Local netip.AddrPort
	// Remote is the peer's address and port.
	Remote netip.AddrPort
}

// TunnelConfig describes one tunnel (one IKE connection).
type TunnelConfig struct {
	// ID names the tunnel; SAs refer to it.
	ID string
	// Local is the gateway's outer address (informational: the kernel picks
	// the source address of outgoing datagrams by routing).
	Local netip.Addr
	// Remote is the peer: its address and, with Encap, its NAT-T port
	// (normally 4500, or the port its NAT mapped).
	Remote netip.AddrPort
	// Encap sends ESP in UDP (RFC 3948) from NATTPort; otherwise raw IP
	// protocol 50 (Config.RawESP must be set).
	Encap bool
	// RemotePrefixes are routed into the TUN device (kernel routes installed
	// and removed by the Dataplane) and form the lookup table that maps an
	// inner destination to this tunnel.
	RemotePrefixes []netip.Prefix
	// Policy, when set, are the tunnel's configured traffic selectors (a
	// policy-based connection that comes up on demand): an outbound packet
	// no SA takes is counted as DropPolicy when it is outside them, and
	// otherwise as DropNoSA and reported as EventAcquire (at most once per
	// AcquireInterval), so that IKE brings the tunnel up.
	Policy *Selectors
	// NoTransit keeps the tunnel out of transit between tunnels: a packet
	// that arrives through it and whose destination is routed into
	// another tunnel, or that arrives through another tunnel and is
	// routed into it, is dropped (DropTransit of the arriving tunnel)
	// instead of being written to the TUN device, where the kernel would
	// forward it. Azure's rule: transit through the gateway needs BGP on
	// every connection it crosses, so a static connection sets it.
	NoTransit bool
}

// AcquireInterval is the least time between two EventAcquire of a tunnel.
const AcquireInterval = time.Second

// EventKind tells what an Event reports.
type EventKind uint8

// Event kinds.
const (
	// EventSoftLifetime: an SA reached its soft byte/packet lifetime: rekey.
	EventSoftLifetime EventKind = iota + 1
	// EventHardLifetime: an SA reached its hard lifetime and refuses traffic.
	EventHardLifetime
	// EventSeqNearExhaustion: an outbound SA is close to running out of
	// sequence numbers: rekey.
	EventSeqNearExhaustion
	// EventSeqExhausted: an outbound SA ran out of sequence numbers.
	EventSeqExhausted
	// EventAcquire: a packet inside a tunnel's Policy found no SA (SPI 0):
	// negotiate one.
	EventAcquire
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case EventSoftLifetime:
		return "soft-lifetime"
	case EventHardLifetime:
		return "hard-lifetime"
	case EventSeqNearExhaustion:
		return "seq-near-exhaustion"
	case EventSeqExhausted:
		return "seq-exhausted"
	case EventAcquire:
		return "acquire"
	}
	return "unknown"
}

// Event reports an SA condition that needs IKE's attention.
type Event struct {
	// Kind is what happened.
	Kind EventKind
	// TunnelID is the tunnel the SA was installed on.
	TunnelID string
	// SPI identifies the SA.
	SPI uint32
	// Inbound is true for an inbound SA, false for an outbound one.
	Inbound bool
}

// Dataplane is a running data plane. Its methods are safe for concurrent use.
type Dataplane struct {
	cfg     Config
	log     *slog.Logger
	tun     tun.Device
	tunName string
	tunMTU  int
	nl      *netlink.Handle
	link    netlink.Link

	ikeBind   conn.Bind // UDP IKEPort
	nattBind  conn.Bind // UDP NATTPort
	ikeRecv   []udpRead // the IKE socket's reads, one per family
	nattRecv  []udpRead // the NAT-T socket's
	raw       *rawESP   // nil without Config.RawESP
	batchSize int
	// tunReady reports whether the TUN device has a packet queued (a poll
	// that does not wait), so that the reader drains it into one batch
	// (readTUN); nil when the device has no file descriptor: one read per
	// batch.
	tunReady func() bool

	// state is the immutable route table read by the packet path; bySPI
	// and byRemote are its other lookups (see state.go).
	state    atomic.Pointer[snapshot]
	hosts    hostIndex // every snapshot's host routes
	bySPI    cowIndex[uint32, *inboundSA]
	byRemote cowIndex[netip.AddrPort, *tunnel]
	// noTransit counts the tunnels with TunnelConfig.NoTransit (written
	// under mu): while it is 0 the TUN writer skips the transit check.
	noTransit atomic.Int32
	// local are the local prefixes for the packet path (SetLocalPrefixes).
	local atomic.Pointer[[]netip.Prefix]

	mu       sync.Mutex         // guards the fields below and snapshot rebuilds
	tunnels  map[string]*tunnel // by ID
	inSAs    map[uint32]*inboundSA
	outOwner map[uint32]*tunnel // outbound SPI -> tunnel
	routes   map[netip.Prefix]string
	// retiredOwner maps an outbound SPI replaced by SetOutboundSA to its
	// tunnel until RemoveOutboundSA (created on first use).
	retiredOwner map[uint32]*tunnel
	// remotes are the tunnels by peer address, behind byRemote.
	remotes map[netip.AddrPort][]*tunnel
	// egressFrom are the local prefixes (SetLocalPrefixes), the sources a
	// 0.0.0.0/0 tunnel route carries, and defaultRoute tells whether one
	// is installed (defaultroute.go).
	egressFrom   []netip.Prefix
	defaultRoute bool
	// throws are the peer addresses the default route table throws back
	// to the main table.
	throws map[netip.Addr]bool
	// covers are the covering routes (cover.go): kernel routes into the
	// TUN device that no tunnel owns.
	covers []netip.Prefix

	localMu    sync.Mutex // guards localCache and srcSel
	localCache map[netip.Addr]localEntry
	// srcSel asks the kernel for the source address towards a peer
	// (localFor, on a cache miss).
	srcSel srcSelector

	ikeHandler atomic.Pointer[func(IKEPacket)]
	evHandler  atomic.Pointer[func(Event)]
	events     chan Event    // SA events, drained by runEvents
	done       chan struct{} // closed when the packet path has stopped
	evWG       sync.WaitGroup

	pool *elemPool
	// inlineMax is Config.InlineMax resolved: batches of at most this many
	// packets run to completion in their reader when it has nothing in
	// flight; 0 never.
	inlineMax int
	// outInflight counts the outbound batches queued by the TUN reader and
	// not yet sent (the reader sends inline only when it is 0).
	outInflight atomic.Int32
	encQ        chan *outBatch // TUN reader -> encryption workers
	sendQ       chan *outBatch // TUN reader -> sequential sender (in order)
	decQ        chan *inBatch  // receivers -> decryption workers
	writeQ      chan *inBatch  // receivers -> sequential TUN writer (in order)

	stats globalCounters
	// moved marks every change of a tunnel's or SA's counters
	// (TrafficSeq).
	moved trafficSeq

	// ikeSock sends IKE in batches over the two binds' sockets
	// (SendIKEBatch, ikebatch.go).
	ikeSock *ikeSockets

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	recvWG    sync.WaitGroup // receive goroutines (producers of decQ/writeQ)
	wg        sync.WaitGroup // every other goroutine
}

// Open creates the TUN device, addresses it, opens the UDP (and raw ESP)
// sockets in the current network namespace and starts the packet path. ctx
// bounds the setup only; the Dataplane runs until Close.
func Open(ctx context.Context, cfg Config) (*Dataplane, error) {
	if cfg.TUNName == "" {
		cfg.TUNName = DefaultTUNName
	}
	if len(cfg.TUNName) > 15 {
		return nil, fmt.Errorf("%w: TUN name %q longer than 15 bytes", ErrInvalid, cfg.TUNName)
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.MTU < 576 || cfg.MTU > 65535-esp.MaxHeadroom-esp.MaxTailroom {
		return nil, fmt.Errorf("%w: MTU %d", ErrInvalid, cfg.MTU)
	}
	if cfg.IKEPort == 0 {
		cfg.IKEPort = DefaultIKEPort
	}
	if cfg.NATTPort == 0 {
		cfg.NATTPort = DefaultNATTPort
	}
	if cfg.UnderlayMTU == 0 {
		cfg.UnderlayMTU = DefaultUnderlayMTU
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.NumCPU()
	}
	inlineMax := cfg.InlineMax
	switch {
	case inlineMax < 0:
		inlineMax = 0
	case inlineMax == 0 && runtime.GOMAXPROCS(0) <= 2:
		inlineMax = math.MaxInt
	case inlineMax == 0:
		inlineMax = DefaultInlineMax
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dataplane{
		cfg:        cfg,
		log:        log,
		tunMTU:     cfg.MTU,
		tunnels:    map[string]*tunnel{},
		inSAs:      map[uint32]*inboundSA{},
		outOwner:   map[uint32]*tunnel{},
		routes:     map[netip.Prefix]string{},
		localCache: map[netip.Addr]localEntry{},
		events:     make(chan Event, 256),
		done:       make(chan struct{}),
		pool:       newElemPool(poolLimit),
		inlineMax:  inlineMax,
		encQ:       make(chan *outBatch, queueLen),
		sendQ:      make(chan *outBatch, queueLen),
		decQ:       make(chan *inBatch, queueLen),
		writeQ:     make(chan *inBatch, queueLen),
	}
	d.state.Store(d.emptySnapshot())
	if err := d.open(ctx); err != nil {
		d.teardown()
		return nil, err
	}
	d.start()
	log.Info("dataplane open", "tun", d.tunName, "mtu", cfg.MTU, "ike", cfg.IKEPort, "natt", cfg.NATTPort, "rawESP", cfg.RawESP)
	return d, nil
}

// in6AddrGenModeNone is IN6_ADDR_GEN_MODE_NONE (linux/if_link.h).
const in6AddrGenModeNone = 1

func (d *Dataplane) open(ctx context.Context) error {
	var err error
	if d.nl, err = netlink.NewHandle(); err != nil {
		return fmt.Errorf("dataplane: netlink: %w", err)
	}
	if err := d.srcSel.open(); err != nil {
		return err
	}
	if d.tun, err = tun.CreateTUN(d.cfg.TUNName, d.cfg.MTU); err != nil {
		return fmt.Errorf("dataplane: create TUN %s: %w", d.cfg.TUNName, err)
	}
	if d.tunName, err = d.tun.Name(); err != nil {
		return fmt.Errorf("dataplane: TUN name: %w", err)
	}
	d.batchSize = max(d.tun.BatchSize(), conn.IdealBatchSize)
	d.tunReady = fileReady(d.tun.File())
	if d.link, err = d.nl.LinkByName(d.tunName); err != nil {
		return fmt.Errorf("dataplane: TUN link: %w", err)
	}
	for _, p := range d.cfg.Addresses {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := d.nl.AddrReplace(d.link, &netlink.Addr{IPNet: prefixToIPNet(p)}); err != nil {
			return fmt.Errorf("dataplane: address %s on %s: %w", p, d.tunName, err)
		}
	}
	// No IPv6 link-local address on the TUN: with one, the kernel sends
	// router solicitations (and MLD reports) into it, which no tunnel
	// routes and which would show as no-route drops. Configured IPv6
	// addresses and routes are unaffected. A kernel or namespace without
	// IPv6 refuses the setting, and then has nothing to solicit with.
	if err := d.nl.LinkSetIP6AddrGenMode(d.link, in6AddrGenModeNone); err != nil {
		d.log.Debug("dataplane: TUN IPv6 address generation left on", "tun", d.tunName, "err", err)
	}
	if err := d.nl.LinkSetUp(d.link); err != nil {
		return fmt.Errorf("dataplane: set %s up: %w", d.tunName, err)
	}
	d.ikeBind = conn.NewStdNetBind()
	if d.ikeRecv, err = openUDPReads(d.ikeBind, d.cfg.IKEPort); err != nil {
		return fmt.Errorf("dataplane: UDP %d: %w", d.cfg.IKEPort, err)
	}
	d.nattBind = conn.NewStdNetBind()
	if d.nattRecv, err = openUDPReads(d.nattBind, d.cfg.NATTPort); err != nil {
		return fmt.Errorf("dataplane: UDP %d: %w", d.cfg.NATTPort, err)
	}
	d.ikeSock = openIKESockets(d.ikeBind, d.nattBind)
	if d.cfg.RawESP {
		if d.raw, err = openRawESP(!d.cfg.RawSocketSend); err != nil {
			return fmt.Errorf("dataplane: raw ESP socket: %w", err)
		}
	}
	return ctx.Err()
}

// teardown releases what open created (for a failed Open).
func (d *Dataplane) teardown() {
	if d.raw != nil {
		d.raw.Close()
	}
	if d.nattBind != nil {
		d.nattBind.Close()
	}
	if d.ikeBind != nil {
		d.ikeBind.Close()
	}
	if d.tun != nil {
		d.tun.Close()
	}
	if d.nl != nil {
		d.nl.Close()
	}
	d.srcSel.close()
}

// TUNName returns the TUN device's name.
func (d *Dataplane) TUNName() string { return d.tunName }

// Close stops the packet path, joins all goroutines, removes the routes and
// the TUN device and closes the sockets. It is idempotent.
func (d *Dataplane) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		// Routes go first, while the link exists (they would vanish with
		// it anyway, but explicit removal keeps the kernel table honest if
		// the device outlives us).
		d.mu.Lock()
		for p := range d.routes {
			d.delTunnelRoute(p)
		}
		for _, p := range d.covers {
			d.delRoute(p)
		}
		d.mu.Unlock()
		var errs []error
		// The TUN reader ends when the device closes and closes encQ/sendQ.
		if err := d.tun.Close(); err != nil {
			errs = append(errs, err)
		}
		// Receivers end when their sockets close; the last one closes
		// decQ/writeQ.
		if err := d.ikeBind.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := d.nattBind.Close(); err != nil {
			errs = append(errs, err)
		}
		if d.raw != nil {
			if err := d.raw.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		d.recvWG.Wait()
		close(d.decQ)
		close(d.writeQ)
		d.wg.Wait()
		close(d.done)
		d.evWG.Wait()
		d.pool.release()
		d.nl.Close()
		d.localMu.Lock()
		d.srcSel.close()
		d.localMu.Unlock()
		d.closeErr = errors.Join(errs...)
		d.log.Info("dataplane closed", "tun", d.tunName)
	})
	return d.closeErr
}

// SetIKEHandler installs the function that receives IKE datagrams (from
// IKEPort, and from NATTPort with the non-ESP marker stripped). It is called
// on a receive goroutine, which it blocks: it should hand the packet off
// quickly. It must copy Data to keep it. nil drops IKE datagrams.
func (d *Dataplane) SetIKEHandler(h func(IKEPacket)) {
	if h == nil {
		d.ikeHandler.Store(nil)
		return
	}
	d.ikeHandler.Store(&h)
}

// SendIKE sends an IKE message. If p.Local's port is NATTPort (or p.Remote's
// port is 4500 and p.Local's port is unset) it goes out of the NAT-T socket
// with the non-ESP marker prepended; otherwise out of the IKE socket. The
// source address is chosen by the kernel. Data is not retained.
func (d *Dataplane) SendIKE(p IKEPacket) error {
	if d.closed.Load() {
		return ErrClosed
	}
	if !p.Remote.IsValid() {
		return fmt.Errorf("%w: invalid remote %v", ErrInvalid, p.Remote)
	}
	ep := &conn.StdNetEndpoint{AddrPort: p.Remote}
	if !d.viaNATT(p) {
		d.stats.ikeOut.Add(1)
		return d.ikeBind.Send([][]byte{p.Data}, ep)
	}
	buf := make([]byte, esp.NonESPMarkerLen+len(p.Data))
	copy(buf[esp.NonESPMarkerLen:], p.Data)
	d.stats.ikeOut.Add(1)
	return d.nattBind.Send([][]byte{buf}, ep)
}

// viaNATT reports whether p leaves from the NAT-T socket (behind the
// non-ESP marker): when its local port is NATTPort, or unset with the
// remote's port 4500.
func (d *Dataplane) viaNATT(p IKEPacket) bool {
	return p.Local.Port() == d.cfg.NATTPort || (p.Local.Port() == 0 && p.Remote.Port() == DefaultNATTPort)
}

// SendKeepalive sends a NAT-keepalive (a single 0xFF byte, RFC 3948 §2.3)
// from the NAT-T socket to remote. local is informational, as in SendIKE.
func (d *Dataplane) SendKeepalive(local, remote netip.AddrPort) error {
	if d.closed.Load() {
		return ErrClosed
	}
	_ = local
	return d.nattBind.Send([][]byte{{0xff}}, &conn.StdNetEndpoint{AddrPort: remote})
}

// SetEventHandler installs the function that receives SA events. It is
// called from one dedicated goroutine, in order; events that find the
// internal queue (256) full are dropped and counted. nil drops events.
func (d *Dataplane) SetEventHandler(h func(Event)) {
	if h == nil {
		d.evHandler.Store(nil)
		return
	}
	d.evHandler.Store(&h)
}

func (d *Dataplane) emit(ev Event) {
	select {
	case d.events <- ev:
	default:
		d.stats.eventsDropped.Add(1)
	}
}

func (d *Dataplane) runEvents() {
	defer d.evWG.Done()
	for {
		select {
		case ev := <-d.events:
			if h := d.evHandler.Load(); h != nil {
				(*h)(ev)
			}
		case <-d.done:
			return
		}
	}
}

// SetTunnel creates a tunnel or updates one with the same ID: remote
// address, encapsulation and routed prefixes (routes are added and removed
// to match). SAs of an updated tunnel stay installed.
func (d *Dataplane) SetTunnel(tc TunnelConfig) error {
	if tc.ID == "" {
		return fmt.Errorf("%w: empty tunnel ID", ErrInvalid)
	}
	if !tc.Remote.Addr().IsValid() {
		return fmt.Errorf("%w: tunnel %s: invalid remote %v", ErrInvalid, tc.ID, tc.Remote)
	}
	if tc.Encap && tc.Remote.Port() == 0 {
		return fmt.Errorf("%w: tunnel %s: UDP encapsulation needs a remote port", ErrInvalid, tc.ID)
	}
	if !tc.Encap && d.raw == nil {
		return fmt.Errorf("%w: tunnel %s: raw ESP needs Config.RawESP", ErrInvalid, tc.ID)
	}
	for _, p := range tc.RemotePrefixes {
		if !p.IsValid() {
			return fmt.Errorf("%w: tunnel %s: invalid prefix %v", ErrInvalid, tc.ID, p)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() {
		return ErrClosed
	}
	for _, p := range tc.RemotePrefixes {
		if owner, ok := d.routes[p.Masked()]; ok && owner != tc.ID {
			return fmt.Errorf("%w: prefix %v already routed to tunnel %s", ErrInvalid, p, owner)
		}
	}
	t := d.tunnels[tc.ID]
	if t == nil {
		t = &tunnel{id: tc.ID}
		d.tunnels[tc.ID] = t
	}
	oldRemote, hadPath := netip.AddrPort{}, false
	if p := t.path.Load(); p != nil {
		oldRemote, hadPath = p.remote, true
	}
	t.setPath(tc, d.raw)
	t.policy.Store(tc.Policy)
	if t.noTransit.Swap(tc.NoTransit) != tc.NoTransit {
		if tc.NoTransit {
			d.noTransit.Add(1)
		} else {
			d.noTransit.Add(-1)
		}
	}
	if r := t.path.Load().remote; !hadPath || r != oldRemote {
		if hadPath {
			d.dropRemote(t, oldRemote)
		}
		d.addRemote(t, r)
	}
	t.updateMSS(d.tunMTU, d.cfg.UnderlayMTU)
	want := map[netip.Prefix]bool{}
	for _, p := range tc.RemotePrefixes {
		want[p.Masked()] = true
	}
	var errs []error
	for _, p := range t.prefixes {
		p = p.Masked()
		if owner, ok := d.routes[p]; ok && owner == tc.ID && !want[p] {
			errs = append(errs, d.delTunnelRoute(p))
			delete(d.routes, p)
		}
	}
	for p := range want {
		if _, ok := d.routes[p]; ok {
			continue
		}
		if err := d.addTunnelRoute(p); err != nil {
			errs = append(errs, err)
			continue
		}
		d.routes[p] = tc.ID
	}
	d.setRoutes(t, t.prefixes, tc.RemotePrefixes)
	t.prefixes = tc.RemotePrefixes
	if d.defaultRoute {
		errs = append(errs, d.syncThrowRoutes())
	}
	return errors.Join(errs...)
}

// RemoveTunnel removes a tunnel, its routes and all its SAs.
func (d *Dataplane) RemoveTunnel(id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tunnels[id]
	if t == nil {
		return fmt.Errorf("%w: %s", ErrNoTunnel, id)
	}
	var errs []error
	for _, p := range t.prefixes {
		p = p.Masked()
		if owner, ok := d.routes[p]; ok && owner == id {
			errs = append(errs, d.delTunnelRoute(p))
			delete(d.routes, p)
		}
	}
	d.setRoutes(t, t.prefixes, nil)
	for spi := range t.in {
		delete(d.inSAs, spi)
		d.bySPI.set(spiShard(spi), spi, nil, true)
	}
	t.in = nil
	for _, o := range t.outSAs() {
		delete(d.outOwner, o.sa.SPI())
	}
	t.retired.Range(func(k, _ any) bool {
		delete(d.retiredOwner, k.(uint32))
		return true
	})
	if p := t.path.Load(); p != nil {
		d.dropRemote(t, p.remote)
	}
	t.out.Store(nil)
	if t.noTransit.Swap(false) {
		d.noTransit.Add(-1)
	}
	delete(d.tunnels, id)
	if d.defaultRoute {
		errs = append(errs, d.syncThrowRoutes())
	}
	return errors.Join(errs...)
}

// AddInboundSA installs an inbound SA for a tunnel. Packets with its SPI are
// decrypted and, if their inner addresses match sel (from Remote to Local),
// written to the TUN device. Several inbound SAs may be live at once (old
// and new during a rekey, or one per selector pair for policy-based
// tunnels).
func (d *Dataplane) AddInboundSA(tunnelID string, sa *esp.InboundSA, sel Selectors) error {
	if sa == nil {
		return fmt.Errorf("%w: nil SA", ErrInvalid)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tunnels[tunnelID]
	if t == nil {
		return fmt.Errorf("%w: %s", ErrNoTunnel, tunnelID)
	}
	if _, ok := d.inSAs[sa.SPI()]; ok {
		return fmt.Errorf("%w: %#x", ErrExists, sa.SPI())
	}
	in := &inboundSA{sa: sa, tun: t, sel: sel, any: sel.matchesAll()}
	spi := sa.SPI()
	sa.SetLimitHandler(func(l esp.Limit) {
		d.emit(Event{Kind: limitEvent(l), TunnelID: tunnelID, SPI: spi, Inbound: true})
	})
	d.inSAs[spi] = in
	if t.in == nil {
		t.in = map[uint32]*inboundSA{}
	}
	t.in[spi] = in
	d.bySPI.set(spiShard(spi), spi, in, false)
	return nil
}

// SetOutboundSA installs an outbound SA for a tunnel. If the tunnel already
// has an outbound SA with equal selectors, the new one replaces it
// atomically (make-before-break: install the new inbound SA first, then
// switch the outbound one, then remove the old SAs); otherwise it is added
// next to the others (policy-based tunnels pick the SA whose selectors
// match each packet).
func (d *Dataplane) SetOutboundSA(tunnelID string, sa *esp.OutboundSA, sel Selectors) error {
	if sa == nil {
		return fmt.Errorf("%w: nil SA", ErrInvalid)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tunnels[tunnelID]
	if t == nil {
		return fmt.Errorf("%w: %s", ErrNoTunnel, tunnelID)
	}
	spi := sa.SPI()
	sa.SetLimitHandler(func(l esp.Limit) {
		d.emit(Event{Kind: limitEvent(l), TunnelID: tunnelID, SPI: spi})
	})
	cur := t.outSAs()
	next := make([]outboundSA, 0, len(cur)+1)
	replaced := false
	for _, o := range cur {
		if !replaced && selectorsEqual(o.sel, sel) {
			delete(d.outOwner, o.sa.SPI())
			t.retired.Store(o.sa.SPI(), o.sa) // stats stay readable until removed
			if d.retiredOwner == nil {
				d.retiredOwner = map[uint32]*tunnel{}
			}
			d.retiredOwner[o.sa.SPI()] = t
			next = append(next, outboundSA{sa: sa, sel: sel, any: sel.matchesAll()})
			replaced = true
			continue
		}
		next = append(next, o)
	}
	if !replaced {
		next = append(next, outboundSA{sa: sa, sel: sel, any: sel.matchesAll()})
	}
	d.outOwner[spi] = t
	t.out.Store(&next)
	t.updateMSS(d.tunMTU, d.cfg.UnderlayMTU)
	return nil
}

// RemoveInboundSA removes an inbound SA.
func (d *Dataplane) RemoveInboundSA(spi uint32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	in := d.inSAs[spi]
	if in == nil {
		return fmt.Errorf("%w: inbound %#x", ErrNoSA, spi)
	}
	in.sa.SetLimitHandler(nil)
	delete(d.inSAs, spi)
	delete(in.tun.in, spi)
	d.bySPI.set(spiShard(spi), spi, nil, true)
	return nil
}

// RemoveOutboundSA removes an outbound SA. Removing one that SetOutboundSA
// already replaced only forgets it.
func (d *Dataplane) RemoveOutboundSA(spi uint32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t := d.retiredOwner[spi]; t != nil {
		delete(d.retiredOwner, spi)
		if sa, ok := t.retired.LoadAndDelete(spi); ok {
			sa.(*esp.OutboundSA).SetLimitHandler(nil)
			return nil
		}
	}
	t := d.outOwner[spi]
	if t == nil {
		return fmt.Errorf("%w: outbound %#x", ErrNoSA, spi)
	}
	delete(d.outOwner, spi)
	cur := t.outSAs()
	next := make([]outboundSA, 0, len(cur))
	for _, o := range cur {
		if o.sa.SPI() == spi {
			o.sa.SetLimitHandler(nil)
			continue
		}
		next = append(next, o)
	}
	t.out.Store(&next)
	t.updateMSS(d.tunMTU, d.cfg.UnderlayMTU)
	return nil
}

// LastReceived returns when the tunnel last received an authenticated ESP
// packet (for dead peer detection), and false if it never did or does not
// exist. NAT-keepalives, being unauthenticated, do not count; see
// TunnelStats.LastKeepalive.
func (d *Dataplane) LastReceived(tunnelID string) (time.Time, bool) {
	d.mu.Lock()
	t := d.tunnels[tunnelID]
	d.mu.Unlock()
	if t == nil {
		return time.Time{}, false
	}
	ns := t.lastRx.Load()
	if ns == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// TunnelPackets returns how many packets the tunnel sent and received so
// far (two atomic loads: the agent's idle check reads it per tunnel).
func (d *Dataplane) TunnelPackets(tunnelID string) (uint64, bool) {
	d.mu.Lock()
	t := d.tunnels[tunnelID]
	d.mu.Unlock()
	if t == nil {
		return 0, false
	}
	return t.txPackets.Load() + t.rxPackets.Load(), true
}

// TunnelBytes reads the inner byte counters of the tunnels ids names,
// under one lock: rx[i] and tx[i] are tunnel ids[i]'s bytes received and
// sent (TunnelStats' RxBytes and TxBytes), 0 for a tunnel the data plane
// does not have. rx and tx must be as long as ids. It is the read of a
// metrics scrape: two loads per tunnel, no SA list and no allocation.
func (d *Dataplane) TunnelBytes(ids []string, rx, tx []uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, id := range ids {
		rx[i], tx[i] = 0, 0
		if t := d.tunnels[id]; t != nil {
			rx[i], tx[i] = t.rxBytes.Load(), t.txBytes.Load()
		}
	}
}

// The counters the data plane reports; they live in package tunstat so the
// control plane can read them without importing the data plane.
type (
	// SAStats are one SA's counters.
	SAStats = tunstat.SAStats
	// TunnelStats are one tunnel's counters.
	TunnelStats = tunstat.TunnelStats
	// Stats are gateway-wide counters of packets that belong to no tunnel.
	Stats = tunstat.Stats
)

// TunnelStats returns a tunnel's counters; reading them takes a few atomic
// loads per counter.
func (d *Dataplane) TunnelStats(id string) (TunnelStats, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tunnels[id]
	if t == nil {
		return TunnelStats{}, false
	}
	st := TunnelStats{
		ID:            id,
		TxPackets:     t.txPackets.Load(),
		TxBytes:       t.txBytes.Load(),
		RxPackets:     t.rxPackets.Load(),
		RxBytes:       t.rxBytes.Load(),
		DropNoSA:      t.dropNoSA.Load(),
		DropPolicy:    t.dropPolicy.Load(),
		DropTransit:   t.dropTransit.Load(),
		DropSend:      t.dropSend.Load(),
		DropRateLimit: t.dropRate.Load(),
		Keepalives:    t.keepalives.Load(),
		LastReceived:  unixNano(t.lastRx.Load()),
		LastKeepalive: unixNano(t.lastKeepalive.Load()),
	}
	outs := t.outSAs()
	for _, o := range outs {
		st.SAs = append(st.SAs, SAStats{SPI: o.sa.SPI(), Counters: o.sa.Stats()})
	}
	t.retired.Range(func(k, v any) bool {
		// An SA can be retired and still in use for a moment (both ends
		// initiated at once): list it once.
		spi := k.(uint32)
		if !slices.ContainsFunc(outs, func(o outboundSA) bool { return o.sa.SPI() == spi }) {
			st.SAs = append(st.SAs, SAStats{SPI: spi, Counters: v.(*esp.OutboundSA).Stats()})
		}
		return true
	})
	for spi, in := range t.in {
		st.SAs = append(st.SAs, SAStats{SPI: spi, Inbound: true, Counters: in.sa.Stats()})
	}
	return st, true
}

// Stats returns the gateway-wide counters.
func (d *Dataplane) Stats() Stats { return d.stats.snapshot() }

// TrafficSeq returns a number that changes after every change of any
// tunnel's counters (TunnelStats, its SAs' included): counters read after
// TrafficSeq returned s are stale only if a later call returns another
// number. A reader that refreshes every tunnel's counters periodically
// (remote mode's reports) skips the refresh while it stays the same,
// which it does while no tunnel carries traffic, however many tunnels
// there are. The packet path pays a load of a shared flag per batch
// (trafficSeq), not a write per packet.
func (d *Dataplane) TrafficSeq() uint64 { return d.moved.read() }

func limitEvent(l esp.Limit) EventKind {
	switch l {
	case esp.LimitSoftLifetime:
		return EventSoftLifetime
	case esp.LimitHardLifetime:
		return EventHardLifetime
	case esp.LimitSeqNearExhaustion:
		return EventSeqNearExhaustion
	case esp.LimitSeqExhausted:
		return EventSeqExhausted
	}
	return 0
}

func unixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// addRoute routes p into the TUN device (called with d.mu held); the
// default route goes into a table of its own (defaultroute.go).
func (d *Dataplane) addRoute(p netip.Prefix) error {
	if isDefault(p) {
		return d.addDefaultRoute()
	}
	r := &netlink.Route{LinkIndex: d.link.Attrs().Index, Dst: prefixToIPNet(p.Masked()), Scope: netlink.SCOPE_LINK}
	if err := d.nl.RouteReplace(r); err != nil {
		return fmt.Errorf("dataplane: route %v dev %s: %w", p, d.tunName, err)
	}
	return nil
}

func (d *Dataplane) delRoute(p netip.Prefix) error {
	if isDefault(p) {
		return d.delDefaultRoute()
	}
	r := &netlink.Route{LinkIndex: d.link.Attrs().Index, Dst: prefixToIPNet(p), Scope: netlink.SCOPE_LINK}
	if err := d.nl.RouteDel(r); err != nil {
		return fmt.Errorf("dataplane: delete route %v: %w", p, err)
	}
	return nil
}
