package gwconfig

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/vpngw/vpngw/internal/bgp/bgprules"
)

// BgpSettings are an instance's BGP settings: with them the agent runs a
// BGP speaker (package bgp) that peers with the BGP-enabled connections
// through their tunnels. Names follow the gateway's bgpSettings.
type BgpSettings struct {
	// ASN is the gateway's ASN (default 65515, Azure's). Reserved ASNs
	// are refused (see docs/bgp.md).
	ASN uint32 `yaml:"asn" json:"asn,omitempty"`
	// BgpPeeringAddress is this instance's BGP address: its GatewaySubnet
	// address, or a custom APIPA address (169.254.21.0–169.254.22.255).
	// The agent puts it on the TUN device (as a /32) unless it is already
	// one of tunnel.addresses, listens on TCP 179 there and opens its
	// sessions from it. Required.
	BgpPeeringAddress string `yaml:"bgpPeeringAddress" json:"bgpPeeringAddress"`
	// CustomBgpIPAddresses are further custom APIPA addresses of this
	// instance (its ipConfiguration's customBgpIpAddresses beyond the
	// bgpPeeringAddress), in 169.254.21.0–169.254.22.255, for connections
	// that choose one with bgpPeer.localBgpAddress (Azure's per-connection
	// gatewayCustomBgpIpAddresses). The agent puts each on the TUN device
	// (as a /32) and its speaker listens on each.
	CustomBgpIPAddresses []string `yaml:"customBgpIpAddresses" json:"customBgpIpAddresses,omitempty"`
	// FastTimers use a 9 s hold time and 3 s keepalives instead of
	// Azure's 180 s / 60 s (a vpngw extension for peers that agree; Azure
	// has no BFD).
	FastTimers bool `yaml:"fastTimers" json:"fastTimers,omitempty"`
	// GracefulRestart announces the BGP graceful restart capability
	// (RFC 4724, restart time 120 s) to every peer: a peer that also
	// announces it keeps our routes while our session restarts, and a
	// new session from us replaces an old one the peer still holds.
	GracefulRestart bool `yaml:"gracefulRestart" json:"gracefulRestart,omitempty"`
}

// BgpPeer is the BGP speaker at the other end of a connection: the local
// network gateway's bgpSettings, or for a VNet-to-VNet connection the
// other gateway's.
type BgpPeer struct {
	// ASN is the peer's ASN: not reserved, not the gateway's. A Gateway
	// peer may use 65515, Azure's default gateway ASN.
	ASN uint32 `yaml:"asn" json:"asn"`
	// BgpPeeringAddress is the peer's BGP address, reached through this
	// connection's tunnel (the agent routes it there as a /32). Not the
	// peer's public address, not inside the gateway's localPrefixes. An
	// APIPA (169.254.x.x) peer must open the session: the gateway only
	// listens for it.
	BgpPeeringAddress string `yaml:"bgpPeeringAddress" json:"bgpPeeringAddress"`
	// PeerWeight is reported with the routes learned from this peer
	// (Azure's peerWeight, 0–100).
	PeerWeight int `yaml:"peerWeight" json:"peerWeight,omitempty"`
	// Gateway says the peer is another gateway (a VNet-to-VNet
	// connection), whose ASN follows the gateway rules: 65515 allowed.
	Gateway bool `yaml:"gateway" json:"gateway,omitempty"`
	// LocalBgpAddress is the gateway's address for this session (Azure's
	// gatewayCustomBgpIpAddresses of the connection, for this instance):
	// bgpSettings.bgpPeeringAddress or one of bgpSettings.customBgpIpAddresses.
	// Empty: bgpSettings.bgpPeeringAddress. An APIPA local address makes
	// the gateway only listen: the peer must open the session.
	LocalBgpAddress string `yaml:"localBgpAddress" json:"localBgpAddress,omitempty"`
}

// BGP is BgpSettings in typed form.
type BGP struct {
	// ASN is the gateway's ASN, defaulted.
	ASN uint32
	// PeeringAddr is BgpPeeringAddress.
	PeeringAddr netip.Addr
	// Fast is FastTimers.
	Fast bool
	// GracefulRestart is BgpSettings.GracefulRestart.
	GracefulRestart bool
	// CustomAddrs are CustomBgpIPAddresses.
	CustomAddrs []netip.Addr
}

// PeerBGP is a BGP-enabled connection's peer in typed form.
type PeerBGP struct {
	// ASN is the peer's ASN.
	ASN uint32
	// Addr is the peer's BGP address.
	Addr netip.Addr
	// Weight is PeerWeight.
	Weight int
	// Passive: the peer or Local is APIPA, so the peer must initiate.
	Passive bool
	// Local is LocalBgpAddress (zero: the gateway's PeeringAddr).
	Local netip.Addr
	// Gateway: the peer is another gateway (BgpPeer.Gateway).
	Gateway bool
}

// MaxPeerWeight is the largest peerWeight Azure takes.
const MaxPeerWeight = 100

// checkBGP checks the instance's bgpSettings (filling in the ASN) and
// returns it typed; nil without one.
func checkBGP(b *BgpSettings, vpnType string) (*BGP, error) {
	if b == nil {
		return nil, nil
	}
	if vpnType != RouteBased {
		return nil, fieldErr("bgpSettings", "BGP needs a RouteBased gateway")
	}
	if b.ASN == 0 {
		b.ASN = bgprules.DefaultASN
	}
	if err := bgprules.ValidateGatewayASN(b.ASN); err != nil {
		return nil, fieldErr("bgpSettings.asn", "%v", err)
	}
	a, err := parseAddr(b.BgpPeeringAddress, "bgpSettings.bgpPeeringAddress")
	if err != nil {
		return nil, err
	}
	if !a.Is4() {
		return nil, fieldErr("bgpSettings.bgpPeeringAddress", "%s is not an IPv4 address (BGP is IPv4 only)", a)
	}
	if bgprules.IsAPIPA(a) {
		if err := bgprules.ValidateAPIPA(a); err != nil {
			return nil, fieldErr("bgpSettings.bgpPeeringAddress", "%v", err)
		}
	}
	out := &BGP{ASN: b.ASN, PeeringAddr: a, Fast: b.FastTimers, GracefulRestart: b.GracefulRestart}
	for i, s := range b.CustomBgpIPAddresses {
		f := fmt.Sprintf("bgpSettings.customBgpIpAddresses[%d]", i)
		c, err := parseAddr(s, f)
		if err != nil {
			return nil, err
		}
		if err := bgprules.ValidateAPIPA(c); err != nil {
			return nil, fieldErr(f, "%v", err)
		}
		if c == a || slices.Contains(out.CustomAddrs, c) {
			return nil, fieldErr(f, "%s is listed twice (bgpPeeringAddress and customBgpIpAddresses together name each address once)", c)
		}
		out.CustomAddrs = append(out.CustomAddrs, c)
	}
	return out, nil
}

// checkBgpPeer checks a connection's BGP settings (f names the connection)
// against the instance's; p's Remote and LocalNets are set already.
func (cn *Connection) checkBgpPeer(f string, gw *BGP, p *Peer) error {
	if !cn.EnableBgp {
		if cn.BgpPeer != nil {
			return fieldErr(f+".bgpPeer", "is set but enableBgp is false")
		}
		return nil
	}
	switch {
	case gw == nil:
		return fieldErr(f+".enableBgp", "needs the gateway's bgpSettings")
	case cn.BgpPeer == nil:
		return fieldErr(f+".bgpPeer", "is required with enableBgp (the peer's asn and bgpPeeringAddress)")
	case cn.UsePolicyBasedTrafficSelectors || len(cn.TrafficSelectorPolicies) > 0:
		return fieldErr(f+".enableBgp", "needs the route-based selectors 0.0.0.0/0 (the BGP session and the learned prefixes are routed into the tunnel); not with usePolicyBasedTrafficSelectors or trafficSelectorPolicies")
	}
	bp := cn.BgpPeer
	asnErr := bgprules.ValidatePeerASN(bp.ASN, gw.ASN)
	if bp.Gateway {
		asnErr = bgprules.ValidateGatewayPeerASN(bp.ASN, gw.ASN)
	}
	if asnErr != nil {
		return fieldErr(f+".bgpPeer.asn", "%v", asnErr)
	}
	a, err := parseAddr(bp.BgpPeeringAddress, f+".bgpPeer.bgpPeeringAddress")
	if err != nil {
		return err
	}
	if !a.Is4() {
		return fieldErr(f+".bgpPeer.bgpPeeringAddress", "%s is not an IPv4 address (BGP is IPv4 only)", a)
	}
	if err := bgprules.ValidatePeerAddress(a, p.Remote, p.LocalNets); err != nil {
		return fieldErr(f+".bgpPeer.bgpPeeringAddress", "%v", err)
	}
	if a == gw.PeeringAddr {
		return fieldErr(f+".bgpPeer.bgpPeeringAddress", "%s is the gateway's own bgpPeeringAddress", a)
	}
	if slices.Contains(gw.CustomAddrs, a) {
		return fieldErr(f+".bgpPeer.bgpPeeringAddress", "%s is one of the gateway's own customBgpIpAddresses", a)
	}
	if bp.PeerWeight < 0 || bp.PeerWeight > MaxPeerWeight {
		return fieldErr(f+".bgpPeer.peerWeight", "%d is outside 0..%d", bp.PeerWeight, MaxPeerWeight)
	}
	p.BGP = &PeerBGP{ASN: bp.ASN, Addr: a, Weight: bp.PeerWeight, Passive: bgprules.IsAPIPA(a), Gateway: bp.Gateway}
	if bp.LocalBgpAddress != "" {
		f := f + ".bgpPeer.localBgpAddress"
		l, err := parseAddr(bp.LocalBgpAddress, f)
		if err != nil {
			return err
		}
		if l != gw.PeeringAddr && !slices.Contains(gw.CustomAddrs, l) {
			return fieldErr(f, "%s is not one of the instance's BGP addresses (bgpSettings.bgpPeeringAddress, bgpSettings.customBgpIpAddresses)", l)
		}
		p.BGP.Local = l
		p.BGP.Passive = p.BGP.Passive || bgprules.IsAPIPA(l)
	}
	c := *bp
	cn.BgpPeer = &c
	return nil
}

// checkBgpPeers checks what concerns several connections: each peer
// address once, and not one of the other connections' remote prefixes.
func checkBgpPeers(peers []Peer) error {
	seen := map[netip.Addr]int{}
	for i, p := range peers {
		if p.BGP == nil {
			continue
		}
		f := fmt.Sprintf("connections[%d].bgpPeer.bgpPeeringAddress", i)
		if j, dup := seen[p.BGP.Addr]; dup {
			return fieldErr(f, "%s is also the BGP peer of connections[%d]", p.BGP.Addr, j)
		}
		seen[p.BGP.Addr] = i
		host := netip.PrefixFrom(p.BGP.Addr, 32)
		for j, o := range peers {
			if j != i && containsPrefix(o.RemoteNets, host) {
				return fieldErr(f, "%s is routed to connections[%d] (its remotePrefixes)", p.BGP.Addr, j)
			}
		}
	}
	return nil
}

func containsPrefix(ps []netip.Prefix, p netip.Prefix) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}
