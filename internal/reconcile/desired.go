package reconcile

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/bgp/bgprules"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/netx"
	"github.com/vpngw/vpngw/internal/resource"
)

// Snapshot is the stored resources one reconcile pass works from.
type Snapshot struct {
	VNets       []*resource.VirtualNetwork
	PublicIPs   []*resource.PublicIPAddress
	Gateways    []*resource.VirtualNetworkGateway
	LNGs        []*resource.LocalNetworkGateway
	Connections []*resource.Connection
	// Identities are the gateways' point-to-site identities, by gateway
	// key (ensureIdentities).
	Identities map[string]P2SIdentity
}

// GatewayState is the reconciler's persistent state of one gateway.
type GatewayState struct {
	// Active is the index of the active instance (active-standby).
	Active int `json:"active"`
	// Restarts counts each instance's resets; a change restarts the
	// instance from scratch (every SA deleted and negotiated again).
	Restarts [2]int64 `json:"restarts"`
	// ConnectionResets counts each connection's resets (resetconnection),
	// by the name the agents know it by; a change makes the active
	// instances delete the connection's SAs and negotiate them again.
	ConnectionResets map[string]int64 `json:"connectionResets,omitempty"`
	// Disconnects are the latest point-to-site sessions the operator
	// ended (vpnConnectionIds, at most maxDisconnects); the active
	// instances' assignments carry them.
	Disconnects []string `json:"disconnects,omitempty"`
	// P2SOut lists the instances taken out of the point-to-site public IP
	// of an active-active gateway (its third ipConfiguration), which is
	// delivered to the others only. The failover monitor takes an
	// instance out when it falls silent while the other reports, and puts
	// it back when it reports again (updateP2SFrontends); never both.
	P2SOut []int `json:"p2sOut,omitempty"`
}

// Options tune the desired state.
type Options struct {
	// NoThroughputCap disables the SKU's aggregate throughput cap.
	NoThroughputCap bool
}

// Desired is what the infrastructure should look like.
type Desired struct {
	VNets    []*VNetSpec
	Gateways []*GatewaySpec
	// Instances indexes every gateway instance by ID.
	Instances map[string]*InstanceSpec
	// Problems are resources that cannot be realized as asked, by ID key.
	Problems map[string]Problem
}

// Problem says why a resource cannot be realized.
type Problem struct {
	// Msg is the reason, for the client and the logs.
	Msg string
	// Unsupported marks what vpngw does not do (yet): realizing it fails.
	// Otherwise the problem is expected to pass (a peer not ready yet)
	// and the resource is created, not connected.
	Unsupported bool
}

// VNetSpec is a virtual network to realize.
type VNetSpec struct {
	ID           resource.ID
	Key          string // short, stable: namespace names derive from it
	AddressSpace []netip.Prefix
	Subnets      []SubnetSpec
}

// SubnetSpec is one subnet.
type SubnetSpec struct {
	Name   string
	Prefix netip.Prefix
}

// GatewaySpec is a VPN gateway to realize.
type GatewaySpec struct {
	ID            resource.ID
	Key           string
	VNetKey       string
	GatewaySubnet netip.Prefix
	ActiveActive  bool
	SKU           string
	// Instances are the gateway's two instances.
	Instances []*InstanceSpec
	// Routes are the prefixes the VNet routes to the gateway (the remote
	// prefixes of its connections; a pass adds those its active instances
	// learned over BGP: Reconciler.addLearnedRoutes).
	Routes []netip.Prefix
	// LearnedVia maps each prefix of Routes that is known only over BGP to
	// the index of the active instance the VNet routes it through: the
	// first active instance (in index order) whose fresh report lists it
	// as learned from a peer. When that instance loses the route (its
	// session went down), the next pass moves the prefix to the other
	// active instance if that one learned it too (active-active). Routes
	// not in LearnedVia go through the first active instance.
	LearnedVia map[netip.Prefix]int
	// Connections maps each connection's ID key to the name the agents
	// know it by (its tunnel to the peer's first instance).
	Connections map[string]string
	// PeerTunnels maps the ID key of a connection with more than one
	// tunnel per instance to the agent names of the others, in the peer's
	// instance order: a BGP VNet-to-VNet connection to an active-active
	// gateway has one tunnel to each of the peer's instances (Azure's full
	// mesh), Connections names the one to instance 0.
	PeerTunnels map[string][]string
	// PinnedVia maps prefixes of Routes to the instance the VNet routes
	// them through whatever BGP says: each instance's half of the
	// point-to-site pool of an active-active gateway.
	PinnedVia map[netip.Prefix]int
	// P2SAddress is the public IP point-to-site clients of an
	// active-active gateway connect to (the third ipConfiguration's);
	// invalid otherwise, where clients use the active instance's
	// PublicIP. Both instances serve clients.
	P2SAddress netip.Addr
	// P2SFrontends are the indexes (sorted) of the instances the provider
	// delivers P2SAddress to, spreading clients over them by a stable
	// hash of their address: both, or the one left when the other is out
	// (GatewayState.P2SOut).
	P2SFrontends []int
}

// tunnelNames lists the agent names of a connection's tunnels on each
// active instance: Connections' name, then PeerTunnels'.
func (g *GatewaySpec) tunnelNames(key string) []string {
	name, ok := g.Connections[key]
	if !ok {
		return nil
	}
	return append([]string{name}, g.PeerTunnels[key]...)
}

// InstanceSpec is one gateway instance (an agent).
type InstanceSpec struct {
	// ID names the instance (the agent's --instance).
	ID string
	// Gateway is the gateway's ID; GatewayKey its short key.
	Gateway    resource.ID
	GatewayKey string
	Index      int
	// PrivateIP is the instance's address in GatewaySubnet.
	PrivateIP netip.Addr
	// PublicIP is the address the instance uses (and holds when active).
	PublicIP netip.Addr
	// Active says the instance runs the connections (both of an
	// active-active pair; one of an active-standby pair).
	Active bool
	// Assignment is what the agent receives (Revision set by the hub).
	Assignment agentapi.Assignment
	// Deps are the ID keys of the resources the assignment derives from:
	// realizing one of them waits for this instance.
	Deps map[string]bool
}

// shortKey is a stable short key for a resource ID.
func shortKey(prefix string, id resource.ID) string {
	h := sha1.Sum([]byte(id.Key()))
	return prefix + hex.EncodeToString(h[:4])
}

// GatewayKey is the short key of a gateway.
func GatewayKey(id resource.ID) string { return shortKey("g", id) }

// VNetKey is the short key of a virtual network.
func VNetKey(id resource.ID) string { return shortKey("v", id) }

// InstanceID names a gateway's instance i.
func InstanceID(gw resource.ID, i int) string { return fmt.Sprintf("%s-%d", GatewayKey(gw), i) }

// agentConnName is the name a connection has in its agents' configuration:
// the resource name plus a short hash of its ID (unique on the gateway even
// for same-named connections in other groups, and stable).
func agentConnName(id resource.ID) string {
	h := sha1.Sum([]byte(id.Key()))
	name := strings.Map(func(r rune) rune {
		if r == ' ' || r == '/' {
			return '_'
		}
		return r
	}, id.Name)
	return name + "-" + hex.EncodeToString(h[:3])
}

// instanceIP is the address of instance i in GatewaySubnet (netx.HostAddr:
// Azure reserves the first four addresses, so instances start at .4).
func instanceIP(p netip.Prefix, i int) netip.Addr {
	a, _ := netx.HostAddr(p, i)
	return a
}

func idOf(s string) (resource.ID, bool) {
	id, err := resource.ParseID(s, "")
	return id, err == nil
}

func ref(r *resource.SubResource) (resource.ID, bool) {
	if r == nil {
		return resource.ID{}, false
	}
	return idOf(r.ID)
}

// Compute derives the desired infrastructure from stored resources. It is
// pure: same inputs, same output (so that a restarted control plane hands
// running agents identical assignments and disturbs no tunnel).
func Compute(s *Snapshot, states map[string]GatewayState, opts Options) *Desired {
	d := &Desired{Instances: map[string]*InstanceSpec{}, Problems: map[string]Problem{}}
	vnets := map[string]*resource.VirtualNetwork{}
	for _, v := range s.VNets {
		id, ok := idOf(v.ID)
		if !ok {
			continue
		}
		vnets[id.Key()] = v
		spec := &VNetSpec{ID: id, Key: VNetKey(id), AddressSpace: netx.ParsePrefixes(v.Properties.AddressSpace.AddressPrefixes)}
		for i := range v.Properties.Subnets {
			sn := &v.Properties.Subnets[i]
			for _, p := range netx.ParsePrefixes(sn.Prefixes()) {
				if p.Addr().Is4() {
					spec.Subnets = append(spec.Subnets, SubnetSpec{Name: sn.Name, Prefix: p})
					break
				}
			}
		}
		d.VNets = append(d.VNets, spec)
	}
	sort.Slice(d.VNets, func(i, j int) bool { return d.VNets[i].Key < d.VNets[j].Key })
	pips := map[string]netip.Addr{}
	for _, p := range s.PublicIPs {
		if id, ok := idOf(p.ID); ok {
			if a, err := netip.ParseAddr(p.Properties.IPAddress); err == nil {
				pips[id.Key()] = a
			}
		}
	}
	lngs := map[string]*resource.LocalNetworkGateway{}
	for _, l := range s.LNGs {
		if id, ok := idOf(l.ID); ok {
			lngs[id.Key()] = l
		}
	}
	gws := map[string]*resource.VirtualNetworkGateway{}
	for _, g := range s.Gateways {
		if id, ok := idOf(g.ID); ok && strings.EqualFold(g.Properties.GatewayType, resource.GatewayTypeVpn) {
			gws[id.Key()] = g
		}
	}
	// gatewayVNet finds a gateway's VNet and GatewaySubnet (the resource
	// package's rule, the one its validation applies).
	gatewayVNet := func(g *resource.VirtualNetworkGateway) (resource.ID, *resource.VirtualNetwork, netip.Prefix, bool) {
		return resource.GatewayVNet(g, func(id resource.ID) *resource.VirtualNetwork { return vnets[id.Key()] })
	}
	// gatewayPublicIPs lists a gateway's instance addresses (one per
	// ipConfiguration, in order).
	gatewayPublicIPs := func(g *resource.VirtualNetworkGateway) ([]netip.Addr, []string) {
		var out []netip.Addr
		var ids []string
		for _, ic := range g.Properties.IPConfigurations {
			pid, ok := ref(ic.Properties.PublicIPAddress)
			if !ok {
				continue
			}
			if a, ok := pips[pid.Key()]; ok {
				out = append(out, a)
				ids = append(ids, pid.Key())
			}
		}
		return out, ids
	}

	keys := make([]string, 0, len(gws))
	for k := range gws {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := gws[k]
		gid, _ := idOf(g.ID)
		vid, vnet, gwSubnet, ok := gatewayVNet(g)
		if !ok {
			d.Problems[gid.Key()] = Problem{Msg: "the gateway's GatewaySubnet is not found"}
			continue
		}
		addrs, pipIDs := gatewayPublicIPs(g)
		if len(addrs) == 0 {
			d.Problems[gid.Key()] = Problem{Msg: "the gateway's public IP has no address"}
			continue
		}
		aa := g.Properties.ActiveActive && len(addrs) >= 2
		st := states[GatewayKey(gid)]
		if st.Active < 0 || st.Active > 1 {
			st.Active = 0
		}
		spec := &GatewaySpec{ID: gid, Key: GatewayKey(gid), VNetKey: VNetKey(vid), GatewaySubnet: gwSubnet,
			ActiveActive: aa, SKU: g.Properties.SKU.Name, Connections: map[string]string{}}
		local := vnet.Properties.AddressSpace.AddressPrefixes
		throughput := 0
		if sku, ok := resource.LookupSKU(g.Properties.SKU.Name); ok && !opts.NoThroughputCap {
			gen := g.Properties.VpnGatewayGeneration
			if gen == "" {
				gen = sku.DefaultGeneration()
			}
			throughput = int(sku.ThroughputFor(gen) / 1_000_000)
			if aa {
				throughput /= 2
			}
		}
		policyBased := strings.EqualFold(g.Properties.VpnType, resource.VpnTypePolicyBased)
		// gwASN is the gateway's ASN when it speaks BGP (0: it does not).
		var gwASN uint32
		// gwFast and gwGR are the gateway's vpngw BGP extensions.
		var gwFast, gwGR bool
		if b := g.Properties.BgpSettings; g.Properties.EnableBgp && !policyBased && b != nil {
			gwFast, gwGR = b.FastTimers, b.GracefulRestart
			gwASN = uint32(b.ASN)
			if gwASN == 0 {
				gwASN = bgprules.DefaultASN
			}
		}
		space := netx.ParsePrefixes(local)
		// The connections of this gateway, in a stable order.
		var conns []gwconfig.Connection
		deps := map[string]bool{gid.Key(): true, vid.Key(): true}
		for _, pk := range pipIDs {
			deps[pk] = true
		}
		var routes []netip.Prefix
		// locals are the connections' per-instance local BGP addresses
		// (gatewayCustomBgpIpAddresses), by agent name.
		locals := map[string][2]string{}
		cs := append([]*resource.Connection(nil), s.Connections...)
		sort.Slice(cs, func(i, j int) bool { return strings.ToLower(cs[i].ID) < strings.ToLower(cs[j].ID) })
		for _, c := range cs {
			cid, ok := idOf(c.ID)
			g1, ok1 := ref(c.Properties.VirtualNetworkGateway1)
			if !ok || !ok1 || g1.Key() != gid.Key() {
				continue
			}
			deps[cid.Key()] = true
			ac, remote, deps2, problem := connectionFor(c, cid, lngs, gws, vnets, pips, gatewayVNet, gatewayPublicIPs)
			// more are the tunnels to the peer's other instances.
			var more []gwconfig.Connection
			// local is the BGP address each instance uses for it.
			var local [2]string
			if problem.Msg == "" {
				problem = bgpPeerFor(&ac, c, lngs, gwASN, space)
				if problem.Msg == "" && c.Properties.ConnectionType == resource.ConnectionTypeVnet2Vnet {
					more, problem = vnet2VnetBGPPeer(&ac, c, gws, gwASN, space, gatewayVNet, gatewayPublicIPs)
				}
				if problem.Msg == "" && ac.EnableBgp {
					local, problem = gatewayCustomBgp(c, g, aa)
				}
			}
			for dk := range deps2 {
				deps[dk] = true
			}
			if problem.Msg != "" {
				d.Problems[cid.Key()] = problem
				continue
			}
			if policyBased {
				// Azure's PolicyBased tunnels have no DPD (the resource
				// rules refuse a setting; this drops the stored default).
				ac.DPDTimeoutSeconds = 0
			}
			ac.Name = agentConnName(cid)
			spec.Connections[cid.Key()] = ac.Name
			conns = append(conns, ac)
			if local != ([2]string{}) {
				locals[ac.Name] = local
			}
			for j, m := range more {
				m.Name = fmt.Sprintf("%s-i%d", ac.Name, j+1)
				if spec.PeerTunnels == nil {
					spec.PeerTunnels = map[string][]string{}
				}
				spec.PeerTunnels[cid.Key()] = append(spec.PeerTunnels[cid.Key()], m.Name)
				conns = append(conns, m)
			}
			if len(more) > 0 {
				// Learned over BGP only, through whichever instance
				// has it (addLearnedRoutes): a static route would pin
				// the other VNet to one tunnel and one instance.
				remote = nil
			}
			routes = append(routes, remote...)
		}
		ident, haveIdent := s.Identities[spec.Key]
		p2s, pool, problem := pointToSiteFor(g, ident, haveIdent)
		if p2s != nil {
			p2s.DNS = p2sDNS(vnet)
		}
		if problem.Msg != "" {
			// The gateway keeps running (its connections too); its
			// operation fails with the reason.
			d.Problems[gid.Key()] = problem
		}
		// Point-to-site runs on the active instance, where the VNet routes
		// the pool. On an active-active gateway with its third public IP
		// both instances run it, each leasing from its own half of the
		// pool (no address can be handed out twice), and the VNet routes
		// each half to its instance (Azure's design: reference §1.7).
		p2sIndex := st.Active
		var halves [2][]string
		if aa {
			p2sIndex = 0
			if p2s != nil && len(addrs) >= 3 {
				spec.P2SAddress, spec.P2SFrontends = addrs[2], p2sFrontends(st.P2SOut)
				spec.PinnedVia = map[netip.Prefix]int{}
				var split []netip.Prefix
				for _, p := range pool {
					lo, hi, ok := netx.Halves(p)
					if !ok {
						continue // validation keeps pools at /28 or larger
					}
					halves[0], halves[1] = append(halves[0], lo.String()), append(halves[1], hi.String())
					spec.PinnedVia[lo], spec.PinnedVia[hi] = 0, 1
					split = append(split, lo, hi)
				}
				pool = split
			}
		}
		routes = append(routes, pool...)
		spec.Routes = dedupPrefixes(routes)
		for i := 0; i < 2; i++ {
			pub := addrs[0]
			active := i == st.Active
			if aa {
				pub = addrs[min(i, len(addrs)-1)]
				active = true
			}
			inst := &InstanceSpec{ID: InstanceID(gid, i), Gateway: gid, GatewayKey: spec.Key, Index: i,
				PrivateIP: instanceIP(gwSubnet, i), PublicIP: pub, Active: active, Deps: deps}
			cfg := gwconfig.Config{
				Name:                inst.ID,
				LocalAddress:        pub.String(),
				LocalPrefixes:       local,
				ThroughputLimitMbps: throughput,
			}
			if policyBased {
				cfg.VPNType = gwconfig.PolicyBased
			}
			if gwASN != 0 {
				// Both instances run a speaker (the standby's has no
				// neighbors), so a failover changes no restart field.
				cfg.BgpSettings = &gwconfig.BgpSettings{ASN: gwASN, BgpPeeringAddress: bgpPeeringAddress(g, gwSubnet, i, aa).String(),
					CustomBgpIPAddresses: customBgpAddresses(g, i, aa), FastTimers: gwFast, GracefulRestart: gwGR}
			}
			role := agentapi.RoleStandby
			var resets map[string]int64
			if active {
				role = agentapi.RoleActive
				cfg.Connections = withLocalBGP(conns, locals, i)
				resets = connectionResets(st.ConnectionResets, conns)
			}
			var disconnect []string
			if active && p2s != nil && (i == p2sIndex || spec.P2SAddress.IsValid()) {
				c := *p2s
				if spec.P2SAddress.IsValid() {
					c.AddressPool = halves[i]
				}
				cfg.PointToSite = &c
				disconnect = slices.Clone(st.Disconnects)
			}
			inst.Assignment = agentapi.Assignment{Role: role, Restart: st.Restarts[i], ConnectionResets: resets, DisconnectClients: disconnect, Config: cfg}
			spec.Instances = append(spec.Instances, inst)
			d.Instances[inst.ID] = inst
		}
		d.Gateways = append(d.Gateways, spec)
	}
	return d
}

// connectionResets is the part of a gateway's connection reset counters
// that names one of conns (nil if none).
func connectionResets(all map[string]int64, conns []gwconfig.Connection) map[string]int64 {
	var out map[string]int64
	for _, c := range conns {
		if n := all[c.Name]; n != 0 {
			if out == nil {
				out = map[string]int64{}
			}
			out[c.Name] = n
		}
	}
	return out
}

// connectionFor builds the agent's view of one connection: the agent
// connection, the prefixes routed to it, the resources it depends on, or
// why it cannot be realized.
func connectionFor(c *resource.Connection, cid resource.ID,
	lngs map[string]*resource.LocalNetworkGateway, gws map[string]*resource.VirtualNetworkGateway,
	vnets map[string]*resource.VirtualNetwork, pips map[string]netip.Addr,
	gatewayVNet func(*resource.VirtualNetworkGateway) (resource.ID, *resource.VirtualNetwork, netip.Prefix, bool),
	gatewayPublicIPs func(*resource.VirtualNetworkGateway) ([]netip.Addr, []string),
) (gwconfig.Connection, []netip.Prefix, map[string]bool, Problem) {
	p := c.Properties
	deps := map[string]bool{}
	ac := gwconfig.Connection{
		SharedKey:                      c.SharedKeyValue(),
		ConnectionProtocol:             p.ConnectionProtocol,
		ConnectionMode:                 p.ConnectionMode,
		DPDTimeoutSeconds:              p.DpdTimeoutSeconds,
		UsePolicyBasedTrafficSelectors: p.UsePolicyBasedTrafficSelectors,
	}
	for _, ts := range p.TrafficSelectorPolicies {
		ac.TrafficSelectorPolicies = append(ac.TrafficSelectorPolicies, gwconfig.TrafficSelectorPolicy{
			LocalAddressRanges: slices.Clone(ts.LocalAddressRanges), RemoteAddressRanges: slices.Clone(ts.RemoteAddressRanges)})
	}
	if len(p.IpsecPolicies) > 0 {
		ip := p.IpsecPolicies[0]
		ac.IpsecPolicy = &ip
	}
	var remote []netip.Prefix
	switch p.ConnectionType {
	case resource.ConnectionTypeIPsec:
		lid, ok := ref(p.LocalNetworkGateway2)
		if !ok || lngs[lid.Key()] == nil {
			return ac, nil, deps, Problem{Msg: "the local network gateway is not found"}
		}
		deps[lid.Key()] = true
		l := lngs[lid.Key()]
		ac.RemoteAddress = l.Properties.GatewayIPAddress
		if ac.RemoteAddress == "" {
			ac.RemoteFQDN = l.Properties.Fqdn
		}
		remote = netx.ParsePrefixes(l.Properties.LocalNetworkAddressSpace.AddressPrefixes)
		if len(remote) == 0 && !p.EnableBgp {
			return ac, nil, deps, Problem{Msg: "the local network gateway has no address prefixes and the connection does not use BGP"}
		}
	case resource.ConnectionTypeVnet2Vnet:
		g2id, ok := ref(p.VirtualNetworkGateway2)
		if !ok || gws[g2id.Key()] == nil {
			return ac, nil, deps, Problem{Msg: "the peer virtual network gateway is not found"}
		}
		deps[g2id.Key()] = true
		g2 := gws[g2id.Key()]
		addrs, pipIDs := gatewayPublicIPs(g2)
		for _, k := range pipIDs {
			deps[k] = true
		}
		v2id, v2, _, ok := gatewayVNet(g2)
		if len(addrs) == 0 || !ok {
			return ac, nil, deps, Problem{Msg: "the peer gateway has no public IP address or GatewaySubnet yet"}
		}
		// The peer's hidden local network gateway, kept up to date: its
		// first instance address and its VNet's address space.
		deps[v2id.Key()] = true
		ac.RemoteAddress = addrs[0].String()
		remote = netx.ParsePrefixes(v2.Properties.AddressSpace.AddressPrefixes)
		// Both ends are vpngw: encapsulate ESP in UDP even without a NAT.
		// Linux batches UDP (GSO/GRO) but not IP protocol 50, which makes
		// this about 1.5x faster than raw ESP (docs/benchmarks.md).
		ac.UDPEncapsulation = "always"
		// And negotiate the suite vpngw uses between its own gateways
		// (AES-GCM, elliptic-curve DH) rather than Azure's default list,
		// which starts with AES256/SHA1/DH group 2 for third-party devices
		// (docs/resources.md). A custom ipsecPolicy still wins.
		if !strings.EqualFold(p.ConnectionProtocol, gwconfig.IKEv1) {
			ac.PeerType = gwconfig.PeerVpngw // an IKEv2 suite
		}
	default:
		return ac, nil, deps, Problem{Msg: "connectionType " + p.ConnectionType + " is not served by vpngw", Unsupported: true}
	}
	for _, r := range remote {
		ac.RemotePrefixes = append(ac.RemotePrefixes, r.String())
	}
	return ac, remote, deps, Problem{}
}

// bgpPeerFor turns on BGP for a site-to-site connection with enableBgp on a
// BGP gateway (gwASN ≠ 0): the peer is the local network gateway's
// bgpSettings. The resource rules checked them on PUT; the agent's rules
// (bgprules) are checked again here so that a connection the agent would
// refuse becomes a problem of that connection rather than of the instance.
// VNet-to-VNet connections are vnet2VnetBGPPeer's.
func bgpPeerFor(ac *gwconfig.Connection, c *resource.Connection, lngs map[string]*resource.LocalNetworkGateway, gwASN uint32, vnet []netip.Prefix) Problem {
	p := c.Properties
	if !p.EnableBgp || gwASN == 0 || p.ConnectionType != resource.ConnectionTypeIPsec {
		if len(ac.RemotePrefixes) == 0 {
			return Problem{Msg: "the local network gateway has no address prefixes and BGP is not in use"}
		}
		return Problem{}
	}
	lid, _ := ref(p.LocalNetworkGateway2)
	l := lngs[lid.Key()]
	b := l.Properties.BgpSettings
	if b == nil {
		return Problem{Msg: "the local network gateway has no bgpSettings"}
	}
	addr, err := netip.ParseAddr(b.BgpPeeringAddress)
	if err != nil || !addr.Is4() {
		return Problem{Msg: "the local network gateway's bgpPeeringAddress " + b.BgpPeeringAddress + " is not an IPv4 address (BGP is IPv4 only in vpngw)", Unsupported: true}
	}
	public, _ := netip.ParseAddr(l.Properties.GatewayIPAddress)
	if b.ASN < 0 || b.ASN > resource.MaxASN {
		return Problem{Msg: fmt.Sprintf("the local network gateway's ASN %d is out of range", b.ASN)}
	}
	if err := errors.Join(bgprules.ValidatePeerASN(uint32(b.ASN), gwASN), bgprules.ValidatePeerAddress(addr, public, vnet)); err != nil {
		return Problem{Msg: "BGP: " + err.Error()}
	}
	ac.EnableBgp = true
	ac.BgpPeer = &gwconfig.BgpPeer{ASN: uint32(b.ASN), BgpPeeringAddress: addr.String(), PeerWeight: int(b.PeerWeight)}
	return Problem{}
}

// vnet2VnetBGPPeer turns on BGP for a VNet-to-VNet connection with
// enableBgp when both gateways speak BGP: the peer is the other gateway's
// ASN and the BGP address of the instance the tunnel ends on. Without BGP
// on our side or theirs, the connection stays static, as before.
//
// An active-standby peer has one tunnel (to its first instance, the one
// connectionFor dials); the connection keeps the other VNet's address
// space as static prefixes (Azure's hidden local network gateway has them
// too) and BGP adds what the other gateway learned (transit to its
// sites). An active-active peer gets Azure's full mesh: ac becomes the
// tunnel to its instance 0 and more the tunnels to its other instances,
// each with that instance's public address and BGP address; all of them
// carry no static prefixes, so the other VNet's address space is learned
// over BGP from every instance and the speaker's best path picks the
// tunnel (one per prefix), which moves when a session goes down.
func vnet2VnetBGPPeer(ac *gwconfig.Connection, c *resource.Connection, gws map[string]*resource.VirtualNetworkGateway, gwASN uint32, vnet []netip.Prefix,
	gatewayVNet func(*resource.VirtualNetworkGateway) (resource.ID, *resource.VirtualNetwork, netip.Prefix, bool),
	gatewayPublicIPs func(*resource.VirtualNetworkGateway) ([]netip.Addr, []string),
) (more []gwconfig.Connection, _ Problem) {
	p := c.Properties
	if !p.EnableBgp || gwASN == 0 {
		return nil, Problem{}
	}
	g2id, _ := ref(p.VirtualNetworkGateway2)
	g2 := gws[g2id.Key()]
	if !g2.Properties.EnableBgp || strings.EqualFold(g2.Properties.VpnType, resource.VpnTypePolicyBased) {
		return nil, Problem{Msg: "BGP: the peer gateway does not have BGP enabled; a BGP Vnet2Vnet connection needs BGP on both gateways"}
	}
	b := resource.BgpSettings{}
	if g2.Properties.BgpSettings != nil {
		b = *g2.Properties.BgpSettings
	}
	asn := uint32(b.ASN)
	if b.ASN == 0 {
		asn = bgprules.DefaultASN
	}
	if b.ASN < 0 || b.ASN > resource.MaxASN {
		return nil, Problem{Msg: fmt.Sprintf("BGP: the peer gateway's ASN %d is out of range", b.ASN)}
	}
	if asn == gwASN {
		return nil, Problem{Msg: fmt.Sprintf("BGP: both gateways use ASN %d; a BGP Vnet2Vnet connection needs different ASNs", asn)}
	}
	_, _, subnet2, _ := gatewayVNet(g2)
	addrs, _ := gatewayPublicIPs(g2)
	aa := g2.Properties.ActiveActive && len(addrs) >= 2
	n := 1
	if aa {
		n = 2
	}
	tunnels := make([]gwconfig.Connection, n)
	for j := range tunnels {
		addr := bgpPeeringAddress(g2, subnet2, j, aa)
		if err := bgprules.ValidatePeerAddress(addr, addrs[j], vnet); err != nil {
			return nil, Problem{Msg: "BGP: " + err.Error()}
		}
		t := *ac
		t.RemoteAddress = addrs[j].String()
		t.EnableBgp = true
		t.BgpPeer = &gwconfig.BgpPeer{ASN: asn, BgpPeeringAddress: addr.String(), PeerWeight: int(b.PeerWeight), Gateway: true}
		if aa {
			t.RemotePrefixes = nil
		}
		tunnels[j] = t
	}
	*ac = tunnels[0]
	return tunnels[1:], Problem{}
}

// bgpPeeringAddress is instance i's BGP address: the first custom APIPA
// address of its ipConfiguration if it has one, else Azure's default (the
// last usable GatewaySubnet address when active-standby, the instance's
// own address when active-active). Connections may choose another of the
// ipConfiguration's custom addresses (customBgpAddresses).
func bgpPeeringAddress(g *resource.VirtualNetworkGateway, gwSubnet netip.Prefix, i int, activeActive bool) netip.Addr {
	if custom := instanceCustomBgp(g, i, activeActive); len(custom) > 0 {
		return custom[0]
	}
	if activeActive {
		return instanceIP(gwSubnet, i)
	}
	return netx.LastUsable(gwSubnet)
}

// instanceIPConfig is the name of the ipConfiguration instance i runs on:
// its own when active-active, the first one when active-standby (the
// standby takes over the active one's).
func instanceIPConfig(g *resource.VirtualNetworkGateway, i int, activeActive bool) string {
	ics := g.Properties.IPConfigurations
	if len(ics) == 0 {
		return ""
	}
	if !activeActive {
		return ics[0].Name
	}
	return ics[min(i, len(ics)-1)].Name
}

// instanceCustomBgp lists the custom APIPA BGP addresses of instance i's
// ipConfiguration (the valid IPv4 ones, once each, in order).
func instanceCustomBgp(g *resource.VirtualNetworkGateway, i int, activeActive bool) []netip.Addr {
	var out []netip.Addr
	for _, s := range g.CustomBgpIPAddressesOf(instanceIPConfig(g, i, activeActive)) {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// customBgpAddresses are instance i's custom BGP addresses other than its
// bgpPeeringAddress, as the agent's bgpSettings.customBgpIpAddresses.
func customBgpAddresses(g *resource.VirtualNetworkGateway, i int, activeActive bool) []string {
	var out []string
	for j, a := range instanceCustomBgp(g, i, activeActive) {
		if j > 0 {
			out = append(out, a.String())
		}
	}
	return out
}

// gatewayCustomBgp is, per instance, the local BGP address that c's
// gatewayCustomBgpIpAddresses choose for its session ("" for the
// instance's bgpPeeringAddress), or why it cannot be used: the resource
// rules checked it against the gateway when c was written, the gateway
// may have changed since.
func gatewayCustomBgp(c *resource.Connection, g *resource.VirtualNetworkGateway, activeActive bool) ([2]string, Problem) {
	var out [2]string
	if len(c.Properties.GatewayCustomBgpIPAddresses) == 0 {
		return out, Problem{}
	}
	if c.Properties.ConnectionType != resource.ConnectionTypeIPsec {
		return out, Problem{Msg: "BGP: gatewayCustomBgpIpAddresses are served on IPsec connections only"}
	}
	for i := range out {
		ic := instanceIPConfig(g, i, activeActive)
		s := c.GatewayCustomBgpIPAddressFor(ic)
		if s == "" {
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || !slices.Contains(instanceCustomBgp(g, i, activeActive), a) {
			return out, Problem{Msg: fmt.Sprintf("BGP: gatewayCustomBgpIpAddresses: %s is not one of ipConfiguration %s's customBgpIpAddresses on the gateway", s, ic)}
		}
		out[i] = a.String()
	}
	return out, Problem{}
}

// withLocalBGP returns conns as instance i sees them: each BGP peer with
// the local address its connection chose for i (locals, by agent name).
func withLocalBGP(conns []gwconfig.Connection, locals map[string][2]string, i int) []gwconfig.Connection {
	if len(locals) == 0 {
		return conns
	}
	out := slices.Clone(conns)
	for k := range out {
		if l := locals[out[k].Name][i]; l != "" && out[k].BgpPeer != nil {
			p := *out[k].BgpPeer
			p.LocalBgpAddress = l
			out[k].BgpPeer = &p
		}
	}
	return out
}

func dedupPrefixes(ps []netip.Prefix) []netip.Prefix {
	seen := map[netip.Prefix]bool{}
	var out []netip.Prefix
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func parseGatewayID(s string) (resource.ID, error) { return resource.ParseID(s, "") }

// p2sFrontends is the instances of an active-active gateway its
// point-to-site public IP is delivered to: those not out, or both if
// (against updateP2SFrontends' rule) both are.
func p2sFrontends(out []int) []int {
	var in []int
	for i := 0; i < 2; i++ {
		if !slices.Contains(out, i) {
			in = append(in, i)
		}
	}
	if len(in) == 0 {
		return []int{0, 1}
	}
	return in
}
