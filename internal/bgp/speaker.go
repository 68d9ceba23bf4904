package bgp

// Architecture
//
// A Speaker wraps one embedded GoBGP server (server.BgpServer, driven
// through its Go API, no gRPC) and owns one goroutine of its own, the
// prefix-limit enforcer; no global state. The layers:
//
//	caller (later: the agent)
//	   | Config, SetNeighbors, SetAdvertised        ^ OnRoute, Peers,
//	   v                                            | LearnedRoutes, AdvertisedRoutes
//	Speaker: validation, diffing of neighbors and prefixes, translation of
//	         GoBGP's types into Azure's shapes (status.go)
//	   |
//	GoBGP:   sessions (TCP 179 on Config.ListenAddr), the RIBs, best-path
//	         selection, and Azure's route rules as import/export policies
//	         on the global RIB (policy.go), which also govern transit.
//
// Sockets are opened by GoBGP: the listener on its server goroutine, and
// outgoing connections on per-peer goroutines. They land in the network
// namespace of the process (GoBGP cannot be pointed at another one), which
// is why the interop tests run the whole test binary inside a namespace.
//
// Prefix limit: GoBGP's own limit counts every prefix in a peer's
// Adj-RIB-In, including our own routes that the peer echoes back and that
// are dropped as AS-path loops (FRR and IOS do send them back), so a peer
// with 3,999 prefixes of its own would be cut off. The speaker therefore
// configures no GoBGP limit and enforces Neighbor.MaxPrefixes itself: every
// received UPDATE kicks the enforcer, which compares each peer's accepted
// count (loops excluded) with its limit and, when it is exceeded, sets
// GoBGP's limit to 1, which makes GoBGP send Cease/Maximum Number of
// Prefixes Reached and keep the peer down (admin state PFX_CT).
//
// Installed routes: GoBGP's best-path watcher reports every change of a
// prefix's best path; the speaker turns those into Route values (learned
// routes only; the gateway's own prefixes are not "installed") and calls
// Config.OnRoute from the watcher's goroutine, in order.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// Lifecycle errors.
var (
	ErrNotStarted     = errors.New("bgp: speaker not started")
	ErrAlreadyStarted = errors.New("bgp: speaker already started")
	ErrStopped        = errors.New("bgp: speaker stopped")
	ErrUnknownPeer    = errors.New("bgp: unknown neighbor")
)

type lifecycle int

const (
	stateNew lifecycle = iota
	stateRunning
	stateStopped
)

// Speaker is the BGP speaker of one gateway instance.
type Speaker struct {
	cfg Config
	log *slog.Logger

	mu         sync.Mutex // guards the fields below; held across GoBGP calls that change them
	state      lifecycle
	srv        *server.BgpServer
	stopWatch  context.CancelFunc // ends the watcher and the enforcer
	enforcer   chan struct{}      // closed when the enforcer has returned
	kick       chan struct{}      // (cap 1) asks the enforcer to check the limits
	neighbors  map[netip.Addr]Neighbor
	advertised map[netip.Prefix]bool

	rmu       sync.Mutex             // guards installed
	installed map[netip.Prefix]Route // learned best paths, as last reported through OnRoute
}

// New checks cfg and returns a speaker that is not started yet.
func New(cfg Config) (*Speaker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Speaker{
		cfg:        cfg,
		log:        cfg.Logger,
		neighbors:  map[netip.Addr]Neighbor{},
		advertised: map[netip.Prefix]bool{},
		installed:  map[netip.Prefix]Route{},
		kick:       make(chan struct{}, 1),
	}, nil
}

// Start starts the BGP server: it listens on ListenAddr:Port, loads
// Azure's policies and originates Config.Advertise. Neighbors come with
// SetNeighbors.
func (s *Speaker) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateRunning:
		return ErrAlreadyStarted
	case stateStopped:
		return ErrStopped
	}
	srv := server.NewBgpServer(server.LoggerOption(s.log.With("component", "gobgp"), nil))
	go srv.Serve()
	err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:             s.cfg.ASN,
		RouterId:        s.cfg.RouterID.String(),
		ListenPort:      int32(s.cfg.Port),
		ListenAddresses: s.listenAddresses(),
	}})
	if err != nil {
		srv.Stop()
		return fmt.Errorf("bgp: start on %v port %d: %w", s.cfg.ListenAddr, s.cfg.Port, err)
	}
	fail := func(err error) error {
		srv.Stop()
		return err
	}
	if err := installPolicies(ctx, srv, s.cfg.VNet); err != nil {
		return fail(err)
	}
	watchCtx, cancel := context.WithCancel(context.Background())
	err = srv.WatchEvent(watchCtx, server.WatchEventMessageCallbacks{
		OnBestPath:   s.onBestPath,
		OnPathUpdate: func([]*apiutil.Path, time.Time) { s.kickEnforcer() },
	}, server.WatchBestPath(false), server.WatchUpdate(false, "", ""))
	if err != nil {
		cancel()
		return fail(fmt.Errorf("bgp: watch best paths: %w", err))
	}
	s.enforcer = make(chan struct{})
	go s.enforceLimits(watchCtx, srv, s.enforcer)
	s.srv, s.stopWatch = srv, cancel
	if err := s.setAdvertised(s.cfg.Advertise); err != nil {
		cancel()
		<-s.enforcer
		s.srv = nil
		return fail(err)
	}
	s.state = stateRunning
	s.log.Info("bgp speaker started", "asn", s.cfg.ASN, "listen", s.cfg.ListenAddr, "port", s.cfg.Port,
		"advertise", s.cfg.Advertise, "vnet", s.cfg.VNet)
	return nil
}

// Stop closes every session (with a Cease notification) and stops the
// server. It is idempotent; ctx bounds the wait.
func (s *Speaker) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateRunning {
		s.state = stateStopped
		return nil
	}
	s.state = stateStopped
	s.stopWatch()
	done := make(chan struct{})
	go func() {
		<-s.enforcer
		s.srv.Stop()
		close(done)
	}()
	select {
	case <-done:
		s.log.Info("bgp speaker stopped")
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bgp: stop: %w", ctx.Err())
	}
}

func (s *Speaker) running() error {
	switch s.state {
	case stateNew:
		return ErrNotStarted
	case stateStopped:
		return ErrStopped
	}
	return nil
}

// SetNeighbors makes the speaker's neighbors exactly ns: missing ones are
// added, absent ones removed (Cease, peer de-configured), changed ones are
// re-created (their session restarts; a change of Weight alone does not
// touch the session), and the others are left alone.
func (s *Speaker) SetNeighbors(ctx context.Context, ns []Neighbor) error {
	want := map[netip.Addr]Neighbor{}
	for _, n := range ns {
		n = n.withDefaults()
		if err := n.Validate(s.cfg.ASN); err != nil {
			return err
		}
		if _, dup := want[n.Address]; dup {
			return fmt.Errorf("%w: neighbor %v listed twice", ErrInvalidConfig, n.Address)
		}
		if n.LocalAddress == s.cfg.ListenAddr {
			n.LocalAddress = netip.Addr{} // the default, spelt out
		}
		if a := n.LocalAddress; a.IsValid() && !slices.Contains(s.cfg.LocalAddrs, a) {
			return fmt.Errorf("%w: neighbor %v: local address %v is not one the speaker listens on", ErrInvalidConfig, n.Address, a)
		}
		want[n.Address] = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.running(); err != nil {
		return err
	}
	var errs []error
	for addr := range s.neighbors {
		if _, ok := want[addr]; ok {
			continue
		}
		if err := s.deletePeer(ctx, addr); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(s.neighbors, addr)
	}
	for _, addr := range slices.SortedFunc(maps.Keys(want), netip.Addr.Compare) {
		n := want[addr]
		old, exists := s.neighbors[addr]
		if exists {
			if sameSession(old, n) {
				s.neighbors[addr] = n
				continue
			}
			if err := s.deletePeer(ctx, addr); err != nil {
				errs = append(errs, err)
				continue
			}
			delete(s.neighbors, addr)
		}
		if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: s.apiPeer(n, 0)}); err != nil {
			errs = append(errs, fmt.Errorf("bgp: add neighbor %v: %w", addr, err))
			continue
		}
		s.neighbors[addr] = n
		s.log.Info("bgp neighbor added", "neighbor", addr, "asn", n.ASN, "passive", n.Passive, "maxPrefixes", n.MaxPrefixes, "local", s.localAddr(n))
	}
	return errors.Join(errs...)
}

// sameSession reports whether a and b need the same session (all but
// Weight equal).
func sameSession(a, b Neighbor) bool {
	a.Weight, b.Weight = 0, 0
	return a == b
}

func (s *Speaker) deletePeer(ctx context.Context, addr netip.Addr) error {
	if err := s.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: addr.String()}); err != nil {
		return fmt.Errorf("bgp: delete neighbor %v: %w", addr, err)
	}
	s.log.Info("bgp neighbor removed", "neighbor", addr)
	return nil
}

var ipv4Unicast = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}

// listenAddresses are the addresses GoBGP listens on: ListenAddr and
// LocalAddrs.
func (s *Speaker) listenAddresses() []string {
	out := []string{s.cfg.ListenAddr.String()}
	for _, a := range s.cfg.LocalAddrs {
		if a != s.cfg.ListenAddr {
			out = append(out, a.String())
		}
	}
	return out
}

// localAddr is our address for n's session.
func (s *Speaker) localAddr(n Neighbor) netip.Addr {
	if n.LocalAddress.IsValid() {
		return n.LocalAddress
	}
	return s.cfg.ListenAddr
}

// apiPeer is n as GoBGP's peer configuration, with GoBGP's own prefix
// limit set to gobgpLimit (0: none; the speaker enforces n.MaxPrefixes).
func (s *Speaker) apiPeer(n Neighbor, gobgpLimit uint32) *api.Peer {
	secs := func(d time.Duration) uint64 { return uint64(d / time.Second) }
	afi := &api.AfiSafi{
		Config:       &api.AfiSafiConfig{Family: ipv4Unicast, Enabled: true},
		PrefixLimits: &api.PrefixLimit{Family: ipv4Unicast, MaxPrefixes: gobgpLimit},
	}
	p := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: n.Address.String(), PeerAsn: n.ASN},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:      secs(s.cfg.ConnectRetry),
			HoldTime:          secs(s.cfg.HoldTime),
			KeepaliveInterval: secs(s.cfg.KeepAlive),
		}},
		Transport: &api.Transport{LocalAddress: s.localAddr(n).String(), PassiveMode: n.Passive},
		AfiSafis:  []*api.AfiSafi{afi},
	}
	if s.cfg.GracefulRestart {
		p.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: 120}
		afi.MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
	}
	return p
}

func (s *Speaker) kickEnforcer() {
	select {
	case s.kick <- struct{}{}:
	default: // a check is pending already
	}
}

// enforceLimits runs until ctx ends: on every kick it stops the peers that
// sent more prefixes than their MaxPrefixes (see the architecture comment).
func (s *Speaker) enforceLimits(ctx context.Context, srv *server.BgpServer, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
		var over []Neighbor
		err := srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
			if p.GetState().GetAdminState() != api.PeerState_ADMIN_STATE_UP {
				return
			}
			addr, err := netip.ParseAddr(p.GetConf().GetNeighborAddress())
			if err != nil {
				return
			}
			var accepted uint64
			for _, a := range p.GetAfiSafis() {
				accepted += a.GetState().GetAccepted()
			}
			s.mu.Lock()
			n, ok := s.neighbors[addr]
			s.mu.Unlock()
			if ok && accepted > uint64(n.MaxPrefixes) {
				over = append(over, n)
			}
		})
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("bgp: prefix limit check", "err", err)
			}
			continue
		}
		for _, n := range over {
			s.log.Warn("bgp neighbor exceeded its prefix limit: stopping the session", "neighbor", n.Address, "maxPrefixes", n.MaxPrefixes)
			if _, err := srv.UpdatePeer(ctx, &api.UpdatePeerRequest{Peer: s.apiPeer(n, 1)}); err != nil && ctx.Err() == nil {
				s.log.Error("bgp: stop neighbor over its prefix limit", "neighbor", n.Address, "err", err)
			}
		}
	}
}

// SetAdvertised makes the originated prefixes exactly ps (the VNet's and
// the connected sites'). 0.0.0.0/0 is refused with ErrDefaultRoute.
func (s *Speaker) SetAdvertised(ctx context.Context, ps []netip.Prefix) error {
	ps = maskAll(ps)
	if err := validateAdvertised(ps); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.running(); err != nil {
		return err
	}
	return s.setAdvertised(ps)
}

func (s *Speaker) setAdvertised(ps []netip.Prefix) error {
	want := map[netip.Prefix]bool{}
	var add []*apiutil.Path
	for _, p := range ps {
		want[p] = true
		if !s.advertised[p] {
			add = append(add, s.originPath(p))
		}
	}
	var del []*apiutil.Path
	for p := range s.advertised {
		if !want[p] {
			del = append(del, s.originPath(p))
		}
	}
	if len(add) > 0 {
		res, err := s.srv.AddPath(apiutil.AddPathRequest{Paths: add})
		if err == nil {
			for _, r := range res {
				err = errors.Join(err, r.Error)
			}
		}
		if err != nil {
			return fmt.Errorf("bgp: advertise: %w", err)
		}
	}
	if len(del) > 0 {
		if err := s.srv.DeletePath(apiutil.DeletePathRequest{Paths: del}); err != nil {
			return fmt.Errorf("bgp: withdraw: %w", err)
		}
	}
	s.advertised = want
	return nil
}

// originPath is the gateway's own path to p.
func (s *Speaker) originPath(p netip.Prefix) *apiutil.Path {
	nlri, _ := bgp.NewIPAddrPrefix(p) // p is valid: checked by validateAdvertised
	nh, _ := bgp.NewPathAttributeNextHop(s.cfg.ListenAddr)
	return &apiutil.Path{
		Family: bgp.RF_IPv4_UC,
		Nlri:   nlri,
		Attrs: []bgp.PathAttributeInterface{
			bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
			bgp.NewPathAttributeAsPath(nil),
			nh,
		},
	}
}

// onBestPath turns GoBGP's best-path changes into OnRoute calls.
func (s *Speaker) onBestPath(paths []*apiutil.Path, _ time.Time) {
	for _, p := range paths {
		r, ok := s.route(p)
		if !ok {
			continue
		}
		learned := !p.Withdrawal && r.Peer.IsValid()
		s.rmu.Lock()
		old, had := s.installed[r.Prefix]
		switch {
		case learned:
			s.installed[r.Prefix] = r
		case had:
			delete(s.installed, r.Prefix)
			r = Route{Prefix: r.Prefix, Withdrawn: true}
		}
		s.rmu.Unlock()
		if !learned && !had || learned && had && sameRoute(old, r) {
			continue
		}
		s.log.Debug("bgp route", "prefix", r.Prefix, "nextHop", r.NextHop, "peer", r.Peer, "asPath", r.ASPath, "withdrawn", r.Withdrawn)
		if s.cfg.OnRoute != nil {
			s.cfg.OnRoute(r)
		}
	}
}

func sameRoute(a, b Route) bool {
	return a.Prefix == b.Prefix && a.NextHop == b.NextHop && a.Peer == b.Peer && a.Origin == b.Origin &&
		a.Withdrawn == b.Withdrawn && slices.Equal(a.ASPath, b.ASPath)
}

// route converts an IPv4 unicast path; Peer stays invalid for the
// gateway's own paths.
func (s *Speaker) route(p *apiutil.Path) (Route, bool) {
	n, ok := p.Nlri.(*bgp.IPAddrPrefix)
	if !ok {
		return Route{}, false
	}
	r := Route{Prefix: n.Prefix, Origin: OriginNetwork}
	for _, a := range p.Attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			r.NextHop = a.Value
		case *bgp.PathAttributeMpReachNLRI:
			r.NextHop = a.Nexthop
		case *bgp.PathAttributeAsPath:
			for _, seg := range a.Value {
				r.ASPath = append(r.ASPath, seg.GetAS()...)
			}
		}
	}
	if p.PeerAddress.IsValid() && !p.PeerAddress.IsUnspecified() {
		r.Peer = p.PeerAddress
		r.Origin = OriginEBGP
		if p.PeerASN == s.cfg.ASN {
			r.Origin = OriginIBGP
		}
	} else {
		r.NextHop = netip.Addr{}
	}
	return r, true
}

// InstalledRoutes returns the routes reported through OnRoute that are
// still installed: one best learned path per prefix, sorted by prefix.
func (s *Speaker) InstalledRoutes() []Route {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	out := slices.Collect(maps.Values(s.installed))
	slices.SortFunc(out, func(a, b Route) int { return comparePrefix(a.Prefix, b.Prefix) })
	return out
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// Peers reports every neighbor as getBgpPeerStatus does, sorted by
// address.
func (s *Speaker) Peers(ctx context.Context) ([]PeerStatus, error) {
	s.mu.Lock()
	srv, err := s.srv, s.running()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var out []PeerStatus
	err = srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		out = append(out, s.peerStatus(p))
	})
	if err != nil {
		return nil, fmt.Errorf("bgp: list peers: %w", err)
	}
	slices.SortFunc(out, func(a, b PeerStatus) int { return a.Neighbor.Compare(b.Neighbor) })
	return out, nil
}

// Peer reports one neighbor (ErrUnknownPeer if it is not configured).
func (s *Speaker) Peer(ctx context.Context, addr netip.Addr) (PeerStatus, error) {
	ps, err := s.Peers(ctx)
	if err != nil {
		return PeerStatus{}, err
	}
	for _, p := range ps {
		if p.Neighbor == addr {
			return p, nil
		}
	}
	return PeerStatus{}, fmt.Errorf("%w: %v", ErrUnknownPeer, addr)
}

func (s *Speaker) peerStatus(p *api.Peer) PeerStatus {
	st := PeerStatus{LocalAddress: s.cfg.ListenAddr, State: PeerUnknown}
	if c := p.GetConf(); c != nil {
		st.Neighbor, _ = netip.ParseAddr(c.NeighborAddress)
		st.ASN = c.PeerAsn
	}
	s.mu.Lock()
	if n, ok := s.neighbors[st.Neighbor]; ok {
		st.LocalAddress = s.localAddr(n)
	}
	s.mu.Unlock()
	ps := p.GetState()
	if ps == nil {
		return st
	}
	if m := ps.GetMessages(); m != nil {
		st.MessagesSent = int64(m.GetSent().GetTotal())
		st.MessagesReceived = int64(m.GetReceived().GetTotal())
	}
	for _, a := range p.GetAfiSafis() {
		// Accepted: received less the paths dropped as AS-path loops
		// (our own routes echoed back).
		st.RoutesReceived += int64(a.GetState().GetAccepted())
	}
	switch ps.AdminState {
	case api.PeerState_ADMIN_STATE_DOWN:
		st.State, st.Reason = PeerStopped, "administratively down"
	case api.PeerState_ADMIN_STATE_PFX_CT:
		limit := DefaultMaxPrefixes
		s.mu.Lock()
		if n, ok := s.neighbors[st.Neighbor]; ok {
			limit = n.MaxPrefixes
		}
		s.mu.Unlock()
		st.State = PeerStopped
		st.Reason = fmt.Sprintf("maximum number of prefixes reached: the peer sent more than %d (Cease/Maximum Number of Prefixes Reached sent)", limit)
	default:
		switch ps.SessionState {
		case api.PeerState_SESSION_STATE_ESTABLISHED:
			st.State = PeerConnected
			if up := p.GetTimers().GetState().GetUptime(); up != nil {
				st.ConnectedDuration = AzureDuration(time.Since(up.AsTime()))
			}
		case api.PeerState_SESSION_STATE_IDLE:
			st.State = PeerIdle
		case api.PeerState_SESSION_STATE_CONNECT, api.PeerState_SESSION_STATE_ACTIVE,
			api.PeerState_SESSION_STATE_OPENSENT, api.PeerState_SESSION_STATE_OPENCONFIRM:
			st.State = PeerConnecting
		}
		if st.State != PeerConnected {
			st.Reason = ps.DisconnectMessage
		}
	}
	return st
}

// LearnedRoutes lists every path in the gateway's RIB as getLearnedRoutes
// does: its own prefixes (origin Network) and every accepted path learned
// from a peer (not only the best), sorted by prefix then source.
func (s *Speaker) LearnedRoutes(ctx context.Context) ([]GatewayRoute, error) {
	return s.listRoutes(ctx, apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: bgp.RF_IPv4_UC}, netip.Addr{})
}

// AdvertisedRoutes lists what the gateway sends to peer, as
// getAdvertisedRoutes does (the gateway's ASN first in each AS path, its
// own address as next hop).
func (s *Speaker) AdvertisedRoutes(ctx context.Context, peer netip.Addr) ([]GatewayRoute, error) {
	s.mu.Lock()
	n, ok := s.neighbors[peer]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrUnknownPeer, peer)
	}
	return s.listRoutes(ctx, apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_ADJ_OUT, Name: peer.String(), Family: bgp.RF_IPv4_UC}, s.localAddr(n))
}

// listRoutes lists the paths of req; out is our address for the peer
// whose Adj-RIB-Out req lists (zero: the global RIB).
func (s *Speaker) listRoutes(ctx context.Context, req apiutil.ListPathRequest, out netip.Addr) ([]GatewayRoute, error) {
	s.mu.Lock()
	srv, err := s.srv, s.running()
	weights := map[netip.Addr]int{}
	locals := map[netip.Addr]netip.Addr{}
	for a, n := range s.neighbors {
		weights[a], locals[a] = n.Weight, s.localAddr(n)
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("bgp: list routes: %w", ctx.Err())
	}
	var routes []GatewayRoute
	err = srv.ListPath(req, func(_ bgp.NLRI, paths []*apiutil.Path) {
		for _, p := range paths {
			r, ok := s.route(p)
			if !ok || p.Filtered {
				continue
			}
			g := GatewayRoute{LocalAddress: s.cfg.ListenAddr, Network: r.Prefix, NextHop: r.NextHop,
				SourcePeer: r.Peer, Origin: r.Origin, Weight: weights[r.Peer]}
			if l, ok := locals[r.Peer]; ok {
				g.LocalAddress = l
			}
			if r.Origin == OriginNetwork {
				g.SourcePeer, g.Weight = s.cfg.ListenAddr, LocalWeight
			}
			path := r.ASPath
			if out.IsValid() {
				g.LocalAddress, g.NextHop = out, out
				if len(path) == 0 || path[0] != s.cfg.ASN {
					path = append([]uint32{s.cfg.ASN}, path...)
				}
			}
			g.ASPath = FormatASPath(path)
			routes = append(routes, g)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("bgp: list routes: %w", err)
	}
	slices.SortFunc(routes, func(a, b GatewayRoute) int {
		if c := comparePrefix(a.Network, b.Network); c != 0 {
			return c
		}
		return a.SourcePeer.Compare(b.SourcePeer)
	})
	return routes, nil
}
