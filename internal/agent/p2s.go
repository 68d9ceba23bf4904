package agent

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/dataplane"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/p2s/pool"
	"github.com/vpngw/vpngw/internal/radius"
)

// Point-to-site through the agent:
//
//   - the configuration's pointToSite section (gwconfig.P2S) becomes one
//     more IKEv2 peer, the remote-access template (p2sState.peer), given to
//     the IKEv2 engine beside the connections (engines.SetPeers);
//   - the engine makes each authenticated client a peer of its own,
//     "<template>/<user>/<address>"; when the client's first Child SA is
//     installed the host creates its data-plane tunnel on the fly
//     (host.clientTunnel): the client's address as the one routed prefix
//     (in the data plane's prefix table only: the pool's prefixes are
//     routed into the TUN device once, as covering routes, so a client
//     costs no netlink route), its endpoint as IKE found it;
//   - when the engine forgets the client (its last IKE SA gone, or the
//     template changed) the status path, which is told of the change
//     (Engine.Changed), removes the tunnel and its route (host.dropClient);
//   - a reload keeps the template's *ike.RemoteAccess (and so its pool and
//     the connected clients) while the pointToSite section is unchanged
//     (gwconfig.P2S.Equal); when only the client checks changed (roots,
//     revoked thumbprints, local users: gwconfig.P2S.SameServer) the
//     template gets a RemoteAccess sharing everything but Clients and
//     Users, which the engine applies in place, disconnecting only the
//     clients it now refuses (a removed user, a changed password);
//     client tunnels are never pruned as unconfigured connections;
//   - with RADIUS servers, clients' EAP is relayed (radiusRelay): each
//     message is sent from a goroutine of its own and the answer handed
//     back to the engine on the loop (Engine.RelayDone).

// p2sState is the agent's point-to-site template: the checked section it
// was built from and the RemoteAccess the engine compares by pointer.
type p2sState struct {
	cfg *gwconfig.P2S
	ra  *ike.RemoteAccess
}

// newP2S returns the point-to-site state of a configuration: prev itself
// when the section did not change (the same RemoteAccess keeps clients
// connected across a reload), prev's RemoteAccess with the new client
// check when only that changed, a new one (with an empty pool) otherwise,
// nil when there is none. relay makes the RADIUS relay (nil: RADIUS
// servers are refused).
func newP2S(prev *p2sState, in *gwconfig.Instance, relay func([]gwconfig.RadiusServer) (ike.EAPRelay, error)) (*p2sState, error) {
	p := in.P2S
	if p == nil {
		return nil, nil
	}
	if prev != nil && prev.cfg.Equal(p) {
		return prev, nil
	}
	if prev != nil && prev.cfg.SameServer(p) {
		ra := *prev.ra
		ra.Clients, ra.TLSMaxVersion = p.Clients, p.TLSMaxVersion
		if len(p.Users) > 0 {
			ra.Users = p.Lookup
		}
		return &p2sState{cfg: p, ra: &ra}, nil
	}
	pl, err := pool.New(p.Pool)
	if err != nil {
		return nil, fmt.Errorf("%w: pointToSite.addressPool: %w", gwconfig.ErrInvalid, err)
	}
	ra := &ike.RemoteAccess{Cert: p.Cert, Key: p.Key, Clients: p.Clients, Pool: pl, DNS: p.DNS, TLSMaxVersion: p.TLSMaxVersion}
	if len(p.Users) > 0 {
		ra.Users = p.Lookup
	}
	if len(p.Radius) > 0 {
		if relay == nil {
			return nil, fmt.Errorf("%w: pointToSite.radiusServers: no RADIUS relay here", gwconfig.ErrInvalid)
		}
		if ra.Relay, err = relay(p.Radius); err != nil {
			return nil, fmt.Errorf("%w: pointToSite.radiusServers: %w", gwconfig.ErrInvalid, err)
		}
	}
	return &p2sState{cfg: p, ra: ra}, nil
}

// radiusRelay relays point-to-site clients' EAP to RADIUS servers (Azure's
// "Radius" authentication): one radius.EAPSession per client, each
// message sent from a goroutine of its own, the answer handed to the
// engine on the loop.
type radiusRelay struct {
	c *radius.Client
	// nas names the gateway instance to the server (NAS-Identifier).
	nas string
	// done hands an answer to the engine (on the loop).
	done func(id uint64, out ike.RelayResult)
}

// newRelay is the agent's RADIUS relay for servers.
func (a *Agent) newRelay(servers []gwconfig.RadiusServer) (ike.EAPRelay, error) {
	rs := make([]radius.Server, len(servers))
	for i, s := range servers {
		rs[i] = radius.Server{Addr: s.Addr, Secret: s.Secret, Score: s.Score}
	}
	c, err := radius.NewClient(rs, a.log.With("component", "radius"))
	if err != nil {
		return nil, err
	}
	done := func(id uint64, out ike.RelayResult) {
		select {
		case a.calls <- func() { a.eng.v2.RelayDone(time.Now(), id, out) }:
		case <-a.done:
		}
	}
	return &radiusRelay{c: c, nas: a.cfg.Name, done: done}, nil
}

// Relay implements ike.EAPRelay.
func (r *radiusRelay) Relay(req ike.RelayRequest) {
	go func() {
		s, _ := req.Session.(*radius.EAPSession)
		if s == nil {
			s = r.c.NewEAPSession(req.User, radius.Attr{Type: radius.AttrNASIdentifier, Value: []byte(r.nas)})
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.c.Timeout+time.Second)
		defer cancel()
		res, err := s.Send(ctx, req.EAP)
		out := ike.RelayResult{EAP: res.EAP, MSK: res.MSK, Session: s, Err: err}
		r.done(req.ID, out)
	}()
}

// peer is the template peer for the IKEv2 engine: it answers clients at
// the gateway's address with its FQDN identity, offers the gateway's
// prefixes, and never initiates.
func (s *p2sState) peer(in *gwconfig.Instance) *ike.Peer {
	if s == nil {
		return nil
	}
	return &ike.Peer{
		Name:         s.cfg.Name,
		Local:        in.Local,
		LocalID:      ike.FQDNIdentity(s.cfg.FQDN),
		LocalTS:      in.LocalNets,
		Mode:         ike.ModeResponderOnly,
		ForceEncap:   !*in.RawESP,
		RemoteAccess: s.ra,
		// A custom policy (pointToSite.ipsecPolicy) replaces the default
		// offer; nil keeps the engine's defaults.
		IKEProposals:   s.cfg.IKEProposals,
		ESPProposals:   s.cfg.ESPProposals,
		ChildLifetime:  s.cfg.ChildLifetime,
		ChildLifeBytes: s.cfg.ChildLifeBytes,
	}
}

// routes are the prefixes the kernel routes into the TUN device for the
// clients (dataplane.SetCoveringRoutes): the address pool; nil without
// point-to-site.
func (s *p2sState) routes() []netip.Prefix {
	if s == nil {
		return nil
	}
	return s.cfg.Pool
}

// name is the template's name ("" without point-to-site).
func (s *p2sState) name() string {
	if s == nil {
		return ""
	}
	return s.cfg.Name
}

// clientTunnel creates the data-plane tunnel of a remote-access client
// whose first Child SA is being installed: its virtual address is routed
// into it (by the data plane's prefix table; the kernel's route is the
// pool's). It reports false for a name that is no client.
func (h *host) clientTunnel(name string, local, remote netip.AddrPort, encap bool) (bool, error) {
	c, ok := h.a.eng.v2.Client(name)
	if !ok {
		return false, nil
	}
	tc := dataplane.TunnelConfig{ID: name, Local: local.Addr(), Remote: remote, Encap: encap,
		RemotePrefixes: []netip.Prefix{netip.PrefixFrom(c.VirtualIP, 32)}}
	if !encap {
		tc.Remote = netip.AddrPortFrom(remote.Addr(), 0)
	}
	if err := h.setTunnel(tc); err != nil {
		return true, fmt.Errorf("agent: tunnel of client %s: %w", name, err)
	}
	h.prefixes[name] = tc.RemotePrefixes
	h.clients[name] = true
	h.a.log.Info("point-to-site client tunnel", "client", name, "user", c.User, "address", c.VirtualIP, "remote", remote)
	return true, nil
}

// dropClient removes a gone client's tunnel (its SAs and its route).
func (h *host) dropClient(name string) {
	if !h.clients[name] {
		return
	}
	h.removeTunnel(name)
	delete(h.clients, name)
	delete(h.lastUp, name)
	h.a.log.Info("point-to-site client tunnel removed", "client", name)
}

// DisconnectClients ends the point-to-site sessions named by their
// agentapi.VpnConnectionID (Azure's disconnectVirtualNetworkGatewayVpnConnections):
// each client's IKE SA is deleted (the client told) and its address goes
// back to the pool. IDs of sessions that are gone, or that name no
// session, are ignored; it returns how many clients it disconnected. On
// the loop it looks at each client's IKE SAs and builds no status.
func (a *Agent) DisconnectClients(ctx context.Context, ids []string) (int, error) {
	spis := sessionSPIs(ids)
	if len(spis) == 0 {
		return 0, nil
	}
	n := 0
	err := a.do(ctx, func() {
		now := time.Now()
		names := a.eng.v2.ClientsByInitiatorSPI(spis)
		a.log.Info("disconnecting point-to-site sessions", "vpnConnectionIds", ids, "clients", names)
		for _, name := range names {
			if err := a.eng.v2.Terminate(now, name); err == nil {
				n++
			}
		}
	})
	return n, err
}

// sessionSPIs reads the IKE SA initiator SPIs out of vpnConnectionIds
// ("IKEv2_" and 16 hex digits); IDs of another shape name no session.
func sessionSPIs(ids []string) map[uint64]bool {
	spis := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		if hex, ok := strings.CutPrefix(id, agentapi.VpnConnectionID("")); ok && len(hex) == 16 {
			if spi, err := strconv.ParseUint(hex, 16, 64); err == nil {
				spis[spi] = true
			}
		}
	}
	return spis
}
