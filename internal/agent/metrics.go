package agent

import (
	"cmp"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/esp"
	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/promtext"
	"github.com/vpngw/vpngw/internal/tunstat"
)

// metricsHandler serves the agent's Prometheus metrics (namespace vpngw)
// in the text exposition format, read at scrape time and written straight
// into the response (package promtext), no metric object per sample: a
// scrape of a gateway with 10,000 point-to-site clients (20,000 samples)
// costs ~20 ms of CPU where client_golang's registry took ~125 ms
// (docs/benchmarks.md, "Metrics scrapes at 10,000 clients"). gzip when the
// scraper asks for it (Prometheus does), at the fastest level. Each agent
// has its own handler: nothing is global.
func metricsHandler(a *Agent) http.Handler {
	gzips := &sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
		return w
	}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, clients := a.metricsStatus()
		w.Header().Set("Content-Type", promtext.ContentType)
		var out io.Writer = w
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			gz := gzips.Get().(*gzip.Writer)
			gz.Reset(w)
			defer func() {
				_ = gz.Close()
				gz.Reset(nil)
				gzips.Put(gz)
			}()
			w.Header().Set("Content-Encoding", "gzip")
			out = gz
		}
		pw := promtext.NewWriter(out)
		a.writeMetrics(pw, st, clients)
		if err := pw.Flush(); err != nil {
			a.log.Debug("metrics scrape not delivered", "err", err)
		}
	})
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(h string) bool {
	for part := range strings.SplitSeq(h, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				return false
			}
		}
		return true
	}
	return false
}

// p2sSample is what the metrics show of a point-to-site client.
type p2sSample struct {
	name, user string
	rx, tx     uint64
}

// metricsStatus reads what a scrape shows: the status without its
// point-to-site clients (the connections with their traffic counters, the
// gateway-wide part), and the clients' names, users and byte counters
// alone, sorted by name. A client costs a map entry's copy and two counter
// loads (Dataplane.TunnelBytes), where Status would copy its whole entry
// and list its SAs' counters.
func (a *Agent) metricsStatus() (Status, []p2sSample) {
	b := &a.book
	b.mu.Lock()
	st, dp, pl := b.gatewayLocked()
	st.Connections = b.connectionsLocked()
	var clients []p2sSample
	if st.PointToSite != nil {
		clients = make([]p2sSample, 0, len(b.clients))
		for _, cs := range b.clients {
			s := p2sSample{name: cs.Name}
			if cs.Client != nil {
				s.user = cs.Client.User
			}
			clients = append(clients, s)
		}
	}
	b.mu.Unlock()
	sortByName(st.Connections)
	slices.SortFunc(clients, func(x, y p2sSample) int { return strings.Compare(x.name, y.name) })
	a.finishStatus(&st, dp, pl) // no clients listed: only the pool's counts for the template
	if dp != nil && len(clients) > 0 {
		ids := make([]string, len(clients))
		rx, tx := make([]uint64, len(clients)), make([]uint64, len(clients))
		for i := range clients {
			ids[i] = clients[i].name
		}
		dp.TunnelBytes(ids, rx, tx)
		for i := range clients {
			clients[i].rx, clients[i].tx = rx[i], tx[i]
		}
	}
	return st, clients
}

// The metric families, in the order a scrape lists them.
const (
	mUp           = "vpngw_connection_up"
	mIngress      = "vpngw_connection_ingress_bytes_total"
	mEgress       = "vpngw_connection_egress_bytes_total"
	mIKESAs       = "vpngw_connection_ike_sas"
	mChildSAs     = "vpngw_connection_child_sas"
	mRateDrops    = "vpngw_connection_rate_limit_drops_total"
	mPolicyDrops  = "vpngw_connection_policy_drops_total"
	mTransitDrops = "vpngw_connection_transit_drops_total"
	mSAPackets    = "vpngw_sa_packets_total"
	mSABytes      = "vpngw_sa_bytes_total"
	mSADrops      = "vpngw_sa_drops_total"
	mDataplane    = "vpngw_dataplane_packets_total"
	mP2SClients   = "vpngw_p2s_clients"
	mP2SPool      = "vpngw_p2s_pool_addresses"
	mP2SIngress   = "vpngw_p2s_client_ingress_bytes_total"
	mP2SEgress    = "vpngw_p2s_client_egress_bytes_total"
	mBGPPeerUp    = "vpngw_bgp_peer_up"
	mBGPRoutes    = "vpngw_bgp_peer_routes_received"
	mBGPInstalled = "vpngw_bgp_installed_routes"
	mIKEDropped   = "vpngw_ike_dropped_total"
)

// writeMetrics writes every family, each once with its samples together,
// from st and clients (metricsStatus). Label names go in alphabetical
// order, as client_golang's registry wrote them before, so each sample's
// line reads as it did; samples come in a stable order (connections,
// their SAs and the clients by name).
func (a *Agent) writeMetrics(w *promtext.Writer, st Status, clients []p2sSample) {
	perConn := func(name, help string, typ promtext.Type, v func(cs *ConnectionStatus) (uint64, bool)) {
		w.Family(name, help, typ)
		for i := range st.Connections {
			if n, ok := v(&st.Connections[i]); ok {
				w.Sample(name, n, "connection", st.Connections[i].Name)
			}
		}
	}
	perConn(mUp, "1 when the connection has an established IKE SA with an installed Child SA (Azure: Connected).", promtext.Gauge,
		func(cs *ConnectionStatus) (uint64, bool) { return b2u(cs.Status == agentapi.Connected), true })
	perConn(mIngress, "Bytes received from the peer through the tunnel (Azure: ingressBytesTransferred).", promtext.Counter,
		func(cs *ConnectionStatus) (uint64, bool) { return cs.IngressBytes, true })
	perConn(mEgress, "Bytes sent to the peer through the tunnel (Azure: egressBytesTransferred).", promtext.Counter,
		func(cs *ConnectionStatus) (uint64, bool) { return cs.EgressBytes, true })
	perConn(mIKESAs, "IKE SAs of the connection (more than one during a rekey).", promtext.Gauge,
		func(cs *ConnectionStatus) (uint64, bool) { return uint64(len(cs.IKE)), true })
	perConn(mChildSAs, "Child SAs of the connection (Azure's QMSA count).", promtext.Gauge,
		func(cs *ConnectionStatus) (uint64, bool) {
			n := 0
			for _, s := range cs.IKE {
				n += len(s.Children)
			}
			return uint64(n), true
		})
	// The drop counters exist for connections the data plane has.
	drops := func(v func(t *tunstat.TunnelStats) uint64) func(cs *ConnectionStatus) (uint64, bool) {
		return func(cs *ConnectionStatus) (uint64, bool) {
			if cs.Traffic == nil {
				return 0, false
			}
			return v(cs.Traffic), true
		}
	}
	perConn(mRateDrops, "Outbound packets dropped by the gateway's throughput cap.", promtext.Counter,
		drops(func(t *tunstat.TunnelStats) uint64 { return t.DropRateLimit }))
	perConn(mPolicyDrops, "Outbound packets routed to a PolicyBased connection but outside its selectors (gateway prefixes x site prefixes), dropped.", promtext.Counter,
		drops(func(t *tunstat.TunnelStats) uint64 { return t.DropPolicy }))
	perConn(mTransitDrops, "Packets from the connection's tunnel routed on into another tunnel and dropped because one of the two connections has no BGP (Azure: transit needs BGP on every connection it crosses).", promtext.Counter,
		drops(func(t *tunstat.TunnelStats) uint64 { return t.DropTransit }))

	// Per SA. The data plane may list an outbound SA twice (while it is
	// both in use and being retired); a repeated sample would make a
	// scraper refuse the whole exposition, so the first one counts.
	type saRef struct {
		conn, spi, dir string
		sa             *tunstat.SAStats
	}
	var sas []saRef
	for i := range st.Connections {
		cs := &st.Connections[i]
		if cs.Traffic == nil {
			continue
		}
		seen := map[[2]uint32]bool{}
		for j := range cs.Traffic.SAs {
			sa := &cs.Traffic.SAs[j]
			key, dir := [2]uint32{sa.SPI, 0}, "out"
			if sa.Inbound {
				key[1], dir = 1, "in"
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			sas = append(sas, saRef{conn: cs.Name, spi: fmt.Sprintf("%08x", sa.SPI), dir: dir, sa: sa})
		}
	}
	// Connections are in name order; within one, by direction and SPI (the
	// data plane lists inbound SAs in map order).
	slices.SortFunc(sas, func(x, y saRef) int {
		return cmp.Or(strings.Compare(x.conn, y.conn), strings.Compare(x.dir, y.dir), strings.Compare(x.spi, y.spi))
	})
	w.Family(mSAPackets, "Packets an ESP SA protected (out) or accepted (in).", promtext.Counter)
	for _, s := range sas {
		w.Sample(mSAPackets, s.sa.Packets, "connection", s.conn, "direction", s.dir, "spi", s.spi)
	}
	w.Family(mSABytes, "Inner bytes an ESP SA protected (out) or accepted (in).", promtext.Counter)
	for _, s := range sas {
		w.Sample(mSABytes, s.sa.Bytes, "connection", s.conn, "direction", s.dir, "spi", s.spi)
	}
	w.Family(mSADrops, "Packets an ESP SA refused, by reason (replay, auth, selector, ...).", promtext.Counter)
	for _, s := range sas {
		for r := esp.DropReason(0); r < esp.DropReason(len(s.sa.Drops)); r++ {
			if n := s.sa.Drop(r); n > 0 {
				w.Sample(mSADrops, n, "connection", s.conn, "direction", s.dir, "reason", r.String(), "spi", s.spi)
			}
		}
	}

	if d := st.Dataplane; d != nil {
		w.Family(mDataplane, "Gateway-wide packet counters that belong to no tunnel.", promtext.Counter)
		for _, k := range []struct {
			kind string
			v    uint64
		}{
			{"ike_in", d.IKEIn}, {"ike_out", d.IKEOut}, {"keepalives", d.Keepalives},
			{"malformed", d.Malformed}, {"no_route", d.NoRoute}, {"unknown_spi", d.UnknownSPI},
		} {
			w.Sample(mDataplane, k.v, "kind", k.kind)
		}
	}

	if p := st.PointToSite; p != nil {
		w.Family(mP2SClients, "Point-to-site clients connected (one per leased address).", promtext.Gauge)
		w.Sample(mP2SClients, uint64(len(clients)))
		w.Family(mP2SPool, "Point-to-site pool addresses, leased and in all.", promtext.Gauge)
		w.Sample(mP2SPool, uint64(p.LeasedAddresses), "state", "leased")
		w.Sample(mP2SPool, uint64(p.PoolSize), "state", "size")
		w.Family(mP2SIngress, "Bytes received from a point-to-site client through its tunnel.", promtext.Counter)
		for i := range clients {
			w.Sample(mP2SIngress, clients[i].rx, "client", clients[i].name, "user", clients[i].user)
		}
		w.Family(mP2SEgress, "Bytes sent to a point-to-site client through its tunnel.", promtext.Counter)
		for i := range clients {
			w.Sample(mP2SEgress, clients[i].tx, "client", clients[i].name, "user", clients[i].user)
		}
	}

	if b := st.BGP; b != nil {
		w.Family(mBGPPeerUp, "1 when the BGP session with the peer is established (getBgpPeerStatus: Connected).", promtext.Gauge)
		for _, p := range b.Peers {
			w.Sample(mBGPPeerUp, b2u(p.State == "Connected"), "connection", p.Connection, "peer", p.Neighbor)
		}
		w.Family(mBGPRoutes, "Prefixes accepted from the BGP peer (getBgpPeerStatus: routesReceived).", promtext.Gauge)
		for _, p := range b.Peers {
			w.Sample(mBGPRoutes, uint64(p.RoutesReceived), "connection", p.Connection, "peer", p.Neighbor)
		}
		w.Family(mBGPInstalled, "Prefixes learned over BGP and routed into tunnels.", promtext.Gauge)
		w.Sample(mBGPInstalled, uint64(b.Installed))
	}

	if ds := a.ikeDrops(); ds != nil {
		w.Family(mIKEDropped, "IKE messages refused, by reason (unknown_peer: IKE_SA_INIT from an address with no connection, not answered; malformed, unknown_sa, invalid_syntax, no_proposal, invalid_ke, cookie_required, queue_full).", promtext.Counter)
		for r := ike.DropReason(0); r < ike.NumDropReasons; r++ {
			var n uint64
			for _, d := range ds {
				n += d.Load(r)
			}
			w.Sample(mIKEDropped, n, "reason", r.String())
		}
		w.Sample(mIKEDropped, a.ikeQueueFull.Load(), "reason", "queue_full")
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// ikeDrops returns the engines' drop counters, or nil before Run started them.
func (a *Agent) ikeDrops() []*ike.DropCounters {
	a.book.mu.Lock()
	defer a.book.mu.Unlock()
	return a.book.ikeDrops
}
