package agent

// BGP over the tunnels
//
// With bgpSettings the instance runs one BGP speaker (package bgp, GoBGP
// embedded). Its sessions are kernel TCP connections between the
// instance's peering address (or, for a connection that names one in
// bgpPeer.localBgpAddress, one of its customBgpIpAddresses), which the
// data plane puts on the TUN device (gwconfig adds them to TunnelAddrs),
// and each BGP-enabled connection's
// peer address, which host.routes routes into that connection's tunnel as
// a /32. Route-based tunnels negotiate 0.0.0.0/0 selectors, so the
// session's packets, and those of every learned prefix, fit the Child SA.
//
//	GoBGP watcher ──OnRoute──► bgpRouting.learned ──kick──► loop: applyLearned
//	                                                          │
//	        host.setLearned: learned prefix ─► the tunnel of the peer that taught it
//	        (data-plane prefix table + kernel route "PREFIX dev TUN")
//
// The loop owns the speaker's lifecycle and configuration (setBGP): a
// reload that leaves the ASN, the peering and custom BGP addresses, the
// timers and the VNet alone keeps the speaker and its sessions, and only changes
// neighbors (bgp.Speaker.SetNeighbors re-creates only changed ones) and
// advertised prefixes. Status queries the speaker from the caller's
// goroutine (GoBGP's management loop answers them), never the loop.

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/bgp"
	"github.com/vpngw/vpngw/internal/gwconfig"
)

// bgpRouting is the running speaker and what it learned.
type bgpRouting struct {
	sp   *bgp.Speaker
	key  bgpKey             // the settings it was started with
	stop context.CancelFunc // ends routineRefresh

	mu      sync.Mutex                 // guards the fields below
	learned map[netip.Prefix]bgp.Route // best learned paths, from OnRoute
	byPeer  map[netip.Addr]string      // peer address → connection name
	// installed counts the learned prefixes routed into tunnels.
	installed int
}

// bgpKey are the settings whose change restarts the speaker.
type bgpKey struct {
	asn  uint32
	addr netip.Addr
	fast bool
	gr   bool
	vnet string
	// custom lists the further listen addresses (customBgpIpAddresses).
	custom string
}

func bgpKeyOf(cfg *gwconfig.Instance) bgpKey {
	b := cfg.BGP
	var custom []netip.Prefix
	for _, a := range b.CustomAddrs {
		custom = append(custom, netip.PrefixFrom(a, 32))
	}
	return bgpKey{asn: b.ASN, addr: b.PeeringAddr, fast: b.Fast, gr: b.GracefulRestart, vnet: fmtPrefixes(cfg.LocalNets), custom: fmtPrefixes(custom)}
}

func fmtPrefixes(ps []netip.Prefix) string {
	var s []byte
	for _, p := range ps {
		s = p.AppendTo(append(s, ' '))
	}
	return string(s)
}

// bgpQueryTimeout bounds the speaker queries of a status snapshot.
const bgpQueryTimeout = 2 * time.Second

// bgpRefreshEvery is how often the status is refreshed while a speaker
// runs: session states and durations change without a route changing,
// and reports to the control plane go out on status changes.
const bgpRefreshEvery = 10 * time.Second

// routineRefresh pokes the status notifier every bgpRefreshEvery until
// ctx ends.
func (a *Agent) routineRefresh(ctx context.Context) {
	t := time.NewTicker(bgpRefreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.poke()
		}
	}
}

// setBGP makes the speaker match cfg (on the loop): started, restarted
// when its key changed, stopped without bgpSettings; neighbors and
// advertised prefixes updated in place otherwise.
func (a *Agent) setBGP(ctx context.Context, cfg *gwconfig.Instance) error {
	if r := a.bgp; r != nil && (cfg.BGP == nil || r.key != bgpKeyOf(cfg)) {
		a.stopBGP()
	}
	if cfg.BGP == nil {
		return nil
	}
	r := a.bgp
	if r == nil {
		r = &bgpRouting{key: bgpKeyOf(cfg), learned: map[netip.Prefix]bgp.Route{}, byPeer: map[netip.Addr]string{}}
		bc := bgp.Config{
			ASN:             cfg.BGP.ASN,
			ListenAddr:      cfg.BGP.PeeringAddr,
			LocalAddrs:      cfg.BGP.CustomAddrs,
			GracefulRestart: cfg.BGP.GracefulRestart,
			VNet:            cfg.LocalNets,
			Advertise:       advertised(cfg),
			Logger:          a.log.With("component", "bgp"),
			OnRoute:         func(rt bgp.Route) { r.onRoute(rt, a.bgpKick) },
		}
		if cfg.BGP.Fast {
			bc.HoldTime, bc.KeepAlive, bc.ConnectRetry = bgp.FastHoldTime, bgp.FastKeepAlive, 2*time.Second
		}
		sp, err := bgp.New(bc)
		if err != nil {
			return err
		}
		if err := sp.Start(ctx); err != nil {
			return err
		}
		r.sp = sp
		var rctx context.Context
		rctx, r.stop = context.WithCancel(context.Background())
		go a.routineRefresh(rctx)
		a.bgp = r
		a.bgpCur.Store(r)
	} else if err := r.sp.SetAdvertised(ctx, advertised(cfg)); err != nil {
		return err
	}
	var ns []bgp.Neighbor
	byPeer := map[netip.Addr]string{}
	for _, p := range cfg.Peers {
		if b := p.BGP; b != nil {
			ns = append(ns, bgp.Neighbor{Address: b.Addr, ASN: b.ASN, Passive: b.Passive, Weight: b.Weight, Gateway: b.Gateway, LocalAddress: b.Local})
			byPeer[b.Addr] = p.Name
		}
	}
	r.mu.Lock()
	r.byPeer = byPeer
	r.mu.Unlock()
	return r.sp.SetNeighbors(ctx, ns)
}

// stopBGP stops the speaker and removes its routes (on the loop).
func (a *Agent) stopBGP() {
	r := a.bgp
	if r == nil {
		return
	}
	a.bgp = nil
	a.bgpCur.Store(nil)
	r.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.sp.Stop(ctx); err != nil {
		a.log.Warn("stopping the BGP speaker", "err", err)
	}
	a.applyLearned()
}

// advertised is what the gateway originates: its prefixes and those of
// every BGP-enabled connection's site (Azure advertises the connected
// local network gateways' prefixes), never 0.0.0.0/0. A static
// connection's prefixes are not advertised: transit through the gateway
// needs BGP on every connection it crosses, so a BGP site cannot reach a
// static one through the gateway (the data plane drops such packets:
// host.setTunnels sets NoTransit) and an advertisement would only draw
// its traffic into a black hole.
func advertised(cfg *gwconfig.Instance) []netip.Prefix {
	out := slices.Clone(cfg.LocalNets)
	for _, p := range cfg.Peers {
		if p.BGP != nil {
			out = append(out, p.RemoteNets...)
		}
	}
	out = slices.DeleteFunc(out, func(p netip.Prefix) bool { return !p.Addr().Is4() || p.Bits() == 0 })
	return sortPrefixes(out)
}

// sortPrefixes sorts ps and removes duplicates.
func sortPrefixes(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(ps)
}

// onRoute records a change of a learned best path and kicks the loop
// (GoBGP's watcher goroutine; never blocks).
func (r *bgpRouting) onRoute(rt bgp.Route, kick chan<- struct{}) {
	r.mu.Lock()
	if rt.Withdrawn {
		delete(r.learned, rt.Prefix)
	} else {
		r.learned[rt.Prefix] = rt
	}
	r.mu.Unlock()
	select {
	case kick <- struct{}{}:
	default:
	}
}

// applyLearned routes every learned prefix into the tunnel of the
// connection whose peer taught it, and removes the routes of prefixes no
// longer learned (on the loop). A learned 0.0.0.0/0 steers the VNet's
// egress (Azure: it forces the VNet's Internet traffic on-premises): the
// data plane routes it for packets from the VNet prefixes only
// (dataplane.SetLocalPrefixes), so the instance's own default route, which
// carries the tunnels, stays. Any other prefix is not installed when it
// contains the instance's or a peer's public address (the tunnel would
// carry itself), nor when a connection routes it statically
// (remotePrefixes win).
func (a *Agent) applyLearned() {
	byConn := map[string][]netip.Prefix{}
	if r := a.bgp; r != nil {
		publics := []netip.Addr{a.cfg.Local}
		for _, tc := range a.host.tunnels {
			publics = append(publics, tc.Remote.Addr())
		}
		n := 0
		r.mu.Lock()
		for p, rt := range r.learned {
			conn, ok := r.byPeer[rt.Peer]
			if !ok || a.host.static[p] != "" || !p.Addr().Is4() ||
				p.Bits() > 0 && slices.ContainsFunc(publics, p.Contains) {
				continue
			}
			byConn[conn] = append(byConn[conn], p)
			n++
		}
		r.installed = n
		r.mu.Unlock()
	}
	a.host.setLearned(byConn)
	a.poke()
}

// bgpStatus queries the speaker for a status snapshot (nil without one).
func (a *Agent) bgpStatus() *agentapi.BGPStatus {
	r := a.bgpCur.Load()
	if r == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), bgpQueryTimeout)
	defer cancel()
	st := &agentapi.BGPStatus{ASN: r.key.asn, LocalAddress: r.key.addr.String(), Peers: []agentapi.BGPPeerStatus{}, LearnedRoutes: []agentapi.GatewayRoute{}}
	r.mu.Lock()
	byPeer := r.byPeer
	st.Installed = r.installed
	r.mu.Unlock()
	peers, err := r.sp.Peers(ctx)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	for _, p := range peers {
		st.Peers = append(st.Peers, agentapi.BGPPeerStatus{
			LocalAddress: p.LocalAddress.String(), Neighbor: p.Neighbor.String(), ASN: p.ASN, State: string(p.State),
			ConnectedDuration: p.ConnectedDuration.String(), RoutesReceived: p.RoutesReceived,
			MessagesSent: p.MessagesSent, MessagesReceived: p.MessagesReceived,
			Connection: byPeer[p.Neighbor], Reason: p.Reason,
		})
	}
	learned, err := r.sp.LearnedRoutes(ctx)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	st.LearnedRoutes = gatewayRoutes(learned)
	st.AdvertisedRoutes = map[string][]agentapi.GatewayRoute{}
	for _, p := range peers {
		adv, err := r.sp.AdvertisedRoutes(ctx, p.Neighbor)
		if err != nil {
			st.Error = err.Error()
			continue
		}
		st.AdvertisedRoutes[p.Neighbor.String()] = gatewayRoutes(adv)
	}
	return st
}

func gatewayRoutes(rs []bgp.GatewayRoute) []agentapi.GatewayRoute {
	out := make([]agentapi.GatewayRoute, len(rs))
	for i, r := range rs {
		out[i] = agentapi.GatewayRoute{
			LocalAddress: r.LocalAddress.String(), Network: r.Network.String(), NextHop: addrString(r.NextHop),
			SourcePeer: addrString(r.SourcePeer), Origin: string(r.Origin), ASPath: r.ASPath, Weight: r.Weight,
		}
	}
	return out
}

// addrString is a.String(), or "" for the zero Addr (Azure leaves such
// fields empty).
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
