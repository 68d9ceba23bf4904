package agent

import (
	"fmt"
	"net/netip"

	"github.com/vpngw/vpngw/internal/dataplane"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/p2s/pool"
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
//     (a kernel route into the TUN device), its endpoint as IKE found it;
//   - when the engine forgets the client (its last IKE SA gone, or the
//     template changed) the status path, which is told of the change
//     (Engine.Changed), removes the tunnel and its route (host.dropClient);
//   - a reload keeps the template's *ike.RemoteAccess (and so its pool and
//     the connected clients) while the pointToSite section is unchanged
//     (gwconfig.P2S.Equal); client tunnels are never pruned as
//     unconfigured connections.

// p2sState is the agent's point-to-site template: the checked section it
// was built from and the RemoteAccess the engine compares by pointer.
type p2sState struct {
	cfg *gwconfig.P2S
	ra  *ike.RemoteAccess
}

// newP2S returns the point-to-site state of a configuration: prev itself
// when the section did not change (the same RemoteAccess keeps clients
// connected across a reload), a new one (with an empty pool) when it did,
// nil when there is none.
func newP2S(prev *p2sState, in *gwconfig.Instance) (*p2sState, error) {
	if in.P2S == nil {
		return nil, nil
	}
	if prev != nil && prev.cfg.Equal(in.P2S) {
		return prev, nil
	}
	pl, err := pool.New(in.P2S.Pool)
	if err != nil {
		return nil, fmt.Errorf("%w: pointToSite.addressPool: %w", gwconfig.ErrInvalid, err)
	}
	return &p2sState{cfg: in.P2S, ra: &ike.RemoteAccess{
		Cert: in.P2S.Cert, Key: in.P2S.Key, Users: in.P2S.Lookup, Pool: pl, DNS: in.P2S.DNS,
	}}, nil
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
	}
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
// into it. It reports false for a name that is no client.
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
