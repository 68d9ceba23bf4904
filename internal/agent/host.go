package agent

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vpngw/vpngw/internal/dataplane"
	"github.com/vpngw/vpngw/internal/esp"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

// host implements ike.Host over the data plane. It is owned by the agent's
// loop goroutine (the engine calls it synchronously), so it needs no locks.
type host struct {
	a  *Agent
	dp *dataplane.Dataplane
	// tunnels are the data plane tunnels by connection name, as last set.
	tunnels map[string]dataplane.TunnelConfig
	// prefixes are each connection's remote prefixes (kernel routes).
	prefixes map[string][]netip.Prefix
	// bgpHost is the /32 of each BGP-enabled connection's peer (bgp.go).
	bgpHost map[string]netip.Prefix
	// learned are the prefixes learned over BGP, by the connection whose
	// peer taught them (bgp.go: applyLearned).
	learned map[string][]netip.Prefix
	// static maps every configured route (remote prefixes, BGP peer
	// addresses) to its connection: learned prefixes never take them.
	static map[netip.Prefix]string
	// children are the installed Child SAs by inbound SPI.
	children map[uint32]*installed
	// outToIn maps an outbound SPI to its Child SA's inbound SPI.
	outToIn map[uint32]uint32
	// lastUp is when each connection last got a Child SA.
	lastUp map[string]time.Time
	// clients are the tunnels made for point-to-site clients (p2s.go):
	// not configured connections, so never pruned as such.
	clients map[string]bool
	// dirty asks the loop to refresh the status snapshot.
	dirty bool
	// out collects the engines' datagrams while the loop handles a burst
	// (batching: sendLater), for one SendIKEBatch at its end (flush):
	// at 10,000 idle tunnels the liveness checks arrive in bursts and each
	// answer goes to another peer.
	out      []dataplane.IKEPacket
	batching bool
	// sendBatch sends a burst's datagrams (the data plane's SendIKEBatch;
	// tests count the calls).
	sendBatch func([]dataplane.IKEPacket) error
}

type installed struct {
	sa  *ike.ChildSA
	out *esp.OutboundSA
	sel dataplane.Selectors
}

func newHost(a *Agent, dp *dataplane.Dataplane) *host {
	h := &host{a: a, dp: dp, tunnels: map[string]dataplane.TunnelConfig{}, prefixes: map[string][]netip.Prefix{},
		bgpHost: map[string]netip.Prefix{}, learned: map[string][]netip.Prefix{}, static: map[netip.Prefix]string{},
		children: map[uint32]*installed{}, outToIn: map[uint32]uint32{}, lastUp: map[string]time.Time{}, clients: map[string]bool{}}
	if dp != nil {
		h.sendBatch = dp.SendIKEBatch
	}
	return h
}

// setTunnels creates or updates the data plane tunnel (and its kernel
// routes) of every connection. The remote endpoint is refined when Child
// SAs are installed (NAT traversal decides the port and encapsulation).
func (h *host) setTunnels(cfg *gwconfig.Instance, peers []ike.Peer) error {
	// A default route learned over BGP carries the VNet's egress only,
	// and packets to the VNet are never transit.
	if err := h.dp.SetLocalPrefixes(cfg.LocalNets); err != nil {
		return fmt.Errorf("agent: local prefixes: %w", err)
	}
	// Learned prefixes the new configuration routes statically leave
	// their tunnels first (the data plane routes a prefix to one tunnel).
	h.static = map[netip.Prefix]string{}
	for _, cn := range cfg.Peers {
		for _, p := range cn.RemoteNets {
			h.static[p] = cn.Name
		}
		if cn.BGP != nil {
			h.static[netip.PrefixFrom(cn.BGP.Addr, 32)] = cn.Name
		}
	}
	h.setLearned(h.learned)
	for i, cn := range cfg.Peers {
		h.prefixes[cn.Name] = cn.RemoteNets
		delete(h.bgpHost, cn.Name)
		if cn.BGP != nil {
			h.bgpHost[cn.Name] = netip.PrefixFrom(cn.BGP.Addr, 32)
		}
		prefixes := h.routes(cn.Name)
		tc, ok := h.tunnels[cn.Name]
		if !ok {
			remote := peers[i].Remote
			if !remote.IsValid() {
				// ResponderOnly without an address: a placeholder until
				// the peer connects.
				remote = netip.IPv4Unspecified()
			}
			tc = dataplane.TunnelConfig{ID: cn.Name, Remote: netip.AddrPortFrom(remote, uint16(cfg.NATTPort)), Encap: true, Local: cfg.Local}
		}
		tc.RemotePrefixes = prefixes
		// Azure: transit through the gateway needs BGP on every
		// connection it crosses; a static connection's tunnel takes no
		// part in it (the data plane drops packets between it and any
		// other tunnel; point-to-site clients reach BGP sites only).
		tc.NoTransit = cn.BGP == nil
		tc.Policy = nil
		if cn.PolicyBased {
			tc.Policy = policySelectors(cn.LocalNets, cn.RemoteNets)
		}
		if err := h.setTunnel(tc); err != nil {
			return fmt.Errorf("agent: connection %s: %w", cn.Name, err)
		}
	}
	return nil
}

func (h *host) setTunnel(tc dataplane.TunnelConfig) error {
	if !tc.Remote.Addr().IsValid() || tc.Remote.Addr().IsUnspecified() {
		// The data plane needs a real peer; keep routes via a placeholder
		// that no packet can reach until IKE tells us the peer.
		tc.Remote = netip.AddrPortFrom(netip.MustParseAddr("192.0.2.0"), tc.Remote.Port())
	}
	if err := h.dp.SetTunnel(tc); err != nil {
		return err
	}
	h.tunnels[tc.ID] = tc
	return nil
}

// pruneTunnels removes the tunnels of connections no longer configured
// (point-to-site clients' tunnels go with their clients: dropClient).
func (h *host) pruneTunnels(peers []ike.Peer) {
	keep := map[string]bool{}
	for _, p := range peers {
		keep[p.Name] = true
	}
	for name := range h.tunnels {
		if keep[name] || h.clients[name] {
			continue
		}
		h.removeTunnel(name)
	}
}

// removeTunnel removes a tunnel from the data plane, with its SAs and
// routes.
func (h *host) removeTunnel(name string) {
	if err := h.dp.RemoveTunnel(name); err != nil && !errors.Is(err, dataplane.ErrNoTunnel) {
		h.a.log.Warn("removing tunnel", "connection", name, "err", err)
	}
	delete(h.tunnels, name)
	delete(h.prefixes, name)
	delete(h.bgpHost, name)
	delete(h.learned, name)
}

// routes are the prefixes a connection's tunnel carries: its remote
// prefixes, its BGP peer's address and what it taught over BGP (minus what
// another connection routes statically).
func (h *host) routes(name string) []netip.Prefix {
	out := slices.Clone(h.prefixes[name])
	if p, ok := h.bgpHost[name]; ok {
		out = append(out, p)
	}
	for _, p := range h.learned[name] {
		if c := h.static[p]; c == "" || c == name {
			out = append(out, p)
		}
	}
	return sortPrefixes(out)
}

// setLearned makes the tunnels carry the learned prefixes byConn (by
// connection name). Prefixes leave their old tunnels before they join new
// ones, as a best path that moves between peers must.
func (h *host) setLearned(byConn map[string][]netip.Prefix) {
	h.learned = byConn
	next := map[string][]netip.Prefix{}
	for name, tc := range h.tunnels {
		if h.clients[name] {
			continue
		}
		want := h.routes(name)
		if slices.Equal(want, tc.RemotePrefixes) {
			continue
		}
		next[name] = want
		// First pass: only what stays.
		tc.RemotePrefixes = slices.DeleteFunc(slices.Clone(tc.RemotePrefixes), func(p netip.Prefix) bool { return !slices.Contains(want, p) })
		if err := h.setTunnel(tc); err != nil {
			h.a.log.Warn("removing learned routes", "connection", name, "err", err)
		}
	}
	for name, want := range next {
		tc := h.tunnels[name]
		tc.RemotePrefixes = want
		if err := h.setTunnel(tc); err != nil {
			h.a.log.Warn("installing learned routes", "connection", name, "err", err)
		}
	}
	if len(next) > 0 {
		h.a.log.Info("learned routes changed", "tunnels", len(next))
	}
}

// removeAll removes every tunnel (shutdown).
func (h *host) removeAll() {
	for name := range h.tunnels {
		_ = h.dp.RemoveTunnel(name)
		delete(h.tunnels, name)
	}
}

// policySelectors are a policy-based connection's configured selectors
// for the data plane: any gateway prefix to any site prefix.
func policySelectors(local, remote []netip.Prefix) *dataplane.Selectors {
	conv := func(ps []netip.Prefix) []dataplane.TrafficSelector {
		out := make([]dataplane.TrafficSelector, len(ps))
		for i, p := range ps {
			out[i] = dataplane.TrafficSelector{Prefix: p}
		}
		return out
	}
	return &dataplane.Selectors{Local: conv(local), Remote: conv(remote)}
}

// SendIKE implements ike.Host: at once, or at the end of the burst the loop
// is handling (sendLater).
func (h *host) SendIKE(p ike.Packet) {
	if h.batching && h.sendBatch != nil {
		h.out = append(h.out, dataplane.IKEPacket{Data: append([]byte(nil), p.Data...), Local: p.Local, Remote: p.Remote})
		if len(h.out) >= dataplane.IKEBatchMax {
			h.sendOut()
		}
		return
	}
	if err := h.dp.SendIKE(dataplane.IKEPacket{Data: p.Data, Local: p.Local, Remote: p.Remote}); err != nil {
		h.a.log.Debug("sending IKE", "to", p.Remote, "err", err)
	}
}

// sendLater collects the engines' datagrams until flush.
func (h *host) sendLater() { h.batching = true }

// flush sends the datagrams collected since sendLater and sends the next
// ones at once again.
func (h *host) flush() {
	h.batching = false
	h.sendOut()
}

func (h *host) sendOut() {
	if len(h.out) == 0 {
		return
	}
	if err := h.sendBatch(h.out); err != nil {
		h.a.log.Debug("sending IKE", "datagrams", len(h.out), "err", err)
	}
	clear(h.out)
	h.out = h.out[:0]
}

// selectors converts negotiated traffic selectors for the data plane.
func selectors(local, remote []message.TrafficSelector) dataplane.Selectors {
	conv := func(ts []message.TrafficSelector) []dataplane.TrafficSelector {
		var out []dataplane.TrafficSelector
		for _, t := range ts {
			for _, p := range ike.TSPrefixes(t) {
				out = append(out, dataplane.TrafficSelector{Prefix: p, Proto: t.IPProtocol, Ports: dataplane.PortRange{Lo: t.StartPort, Hi: t.EndPort}})
			}
		}
		return out
	}
	return dataplane.Selectors{Local: conv(local), Remote: conv(remote)}
}

// InstallChildSA implements ike.Host: build the ESP SAs and install them.
func (h *host) InstallChildSA(c *ike.ChildSA, outbound bool) error {
	inC, err := transform.NewCipher(c.Encr.ID, c.Encr.KeyBits, c.Integ, c.InEncKey, c.InIntegKey)
	if err != nil {
		return err
	}
	outC, err := transform.NewCipher(c.Encr.ID, c.Encr.KeyBits, c.Integ, c.OutEncKey, c.OutIntegKey)
	if err != nil {
		return err
	}
	life := esp.Lifetime{SoftBytes: c.SoftBytes, HardBytes: c.HardBytes}
	in, err := esp.NewInboundSA(esp.InboundConfig{SPI: c.InSPI, Encr: c.Encr.ID, Cipher: inC, ESN: c.ESN, Lifetime: life})
	if err != nil {
		return err
	}
	out, err := esp.NewOutboundSA(esp.OutboundConfig{SPI: c.OutSPI, Encr: c.Encr.ID, Cipher: outC, ESN: c.ESN, Lifetime: life})
	if err != nil {
		return err
	}
	// Point the tunnel at the peer as IKE found it: UDP encapsulation to
	// its (possibly NAT-mapped) port 4500, or raw ESP.
	tc, ok := h.tunnels[c.Peer]
	if !ok {
		client, err := h.clientTunnel(c.Peer, c.Local, c.Remote, c.Encap)
		if err != nil {
			return err
		}
		if !client {
			return fmt.Errorf("agent: no tunnel for connection %s", c.Peer)
		}
		tc = h.tunnels[c.Peer]
	}
	tc.Encap = c.Encap
	if c.Encap {
		tc.Remote = c.Remote
	} else {
		tc.Remote = netip.AddrPortFrom(c.Remote.Addr(), 0)
	}
	if c.Local.Addr().IsValid() {
		tc.Local = c.Local.Addr()
	}
	if tcChanged(tc, h.tunnels[c.Peer]) {
		if err := h.setTunnel(tc); err != nil {
			return err
		}
	}
	sel := selectors(c.LocalTS, c.RemoteTS)
	if err := h.dp.AddInboundSA(c.Peer, in, sel); err != nil {
		return err
	}
	if outbound {
		if err := h.dp.SetOutboundSA(c.Peer, out, sel); err != nil {
			_ = h.dp.RemoveInboundSA(c.InSPI)
			return err
		}
	}
	h.children[c.InSPI] = &installed{sa: c, out: out, sel: sel}
	h.outToIn[c.OutSPI] = c.InSPI
	h.lastUp[c.Peer] = c.Established
	h.dirty = true
	return nil
}

func tcChanged(a, b dataplane.TunnelConfig) bool {
	return a.Remote != b.Remote || a.Encap != b.Encap || a.Local != b.Local
}

// ActivateOutbound implements ike.Host.
func (h *host) ActivateOutbound(inSPI uint32) {
	c := h.children[inSPI]
	if c == nil {
		return
	}
	if err := h.dp.SetOutboundSA(c.sa.Peer, c.out, c.sel); err != nil {
		h.a.log.Warn("activating outbound SA", "connection", c.sa.Peer, "spi", fmt.Sprintf("%08x", c.sa.OutSPI), "err", err)
	}
	h.dirty = true
}

// DeleteChildSA implements ike.Host.
func (h *host) DeleteChildSA(inSPI uint32) {
	c := h.children[inSPI]
	if c == nil {
		return
	}
	delete(h.children, inSPI)
	delete(h.outToIn, c.sa.OutSPI)
	if err := h.dp.RemoveInboundSA(inSPI); err != nil && !errors.Is(err, dataplane.ErrNoSA) {
		h.a.log.Warn("removing inbound SA", "spi", fmt.Sprintf("%08x", inSPI), "err", err)
	}
	if err := h.dp.RemoveOutboundSA(c.sa.OutSPI); err != nil && !errors.Is(err, dataplane.ErrNoSA) {
		h.a.log.Warn("removing outbound SA", "spi", fmt.Sprintf("%08x", c.sa.OutSPI), "err", err)
	}
	h.dirty = true
}

// PeerEndpoint implements ike.Host: a NAT mapping changed.
func (h *host) PeerEndpoint(peer string, local, remote netip.AddrPort) {
	tc, ok := h.tunnels[peer]
	if !ok || !tc.Encap {
		return
	}
	tc.Remote = remote
	if err := h.setTunnel(tc); err != nil {
		h.a.log.Warn("updating tunnel endpoint", "connection", peer, "err", err)
	}
}

// Event implements ike.Host: log and mark the status stale.
func (h *host) Event(e ike.Event) {
	h.dirty = true
	switch e.Kind {
	case ike.EventFailure:
		h.a.log.Warn("connection failed", "connection", e.Peer, "reason", e.Reason)
	case ike.EventIKEDown:
		h.a.log.Info("connection down", "connection", e.Peer, "reason", e.Reason)
	case ike.EventIKEUp:
		h.a.log.Info("connection up", "connection", e.Peer)
	}
}

func (h *host) inSPIForOut(out uint32) uint32 { return h.outToIn[out] }
