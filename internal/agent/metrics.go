package agent

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vpngw/vpngw/internal/esp"
	"github.com/vpngw/vpngw/internal/ike"
)

// metricsHandler serves the agent's Prometheus metrics (namespace vpngw),
// read from its status snapshot at scrape time. Each agent has its own
// registry: nothing is global.
func metricsHandler(a *Agent) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{a: a})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

type collector struct{ a *Agent }

var (
	descUp = prometheus.NewDesc("vpngw_connection_up",
		"1 when the connection has an established IKE SA with an installed Child SA (Azure: Connected).", []string{"connection"}, nil)
	descIngress = prometheus.NewDesc("vpngw_connection_ingress_bytes_total",
		"Bytes received from the peer through the tunnel (Azure: ingressBytesTransferred).", []string{"connection"}, nil)
	descEgress = prometheus.NewDesc("vpngw_connection_egress_bytes_total",
		"Bytes sent to the peer through the tunnel (Azure: egressBytesTransferred).", []string{"connection"}, nil)
	descIKESAs = prometheus.NewDesc("vpngw_connection_ike_sas",
		"IKE SAs of the connection (more than one during a rekey).", []string{"connection"}, nil)
	descChildSAs = prometheus.NewDesc("vpngw_connection_child_sas",
		"Child SAs of the connection (Azure's QMSA count).", []string{"connection"}, nil)
	descRateDrops = prometheus.NewDesc("vpngw_connection_rate_limit_drops_total",
		"Outbound packets dropped by the gateway's throughput cap.", []string{"connection"}, nil)
	descPolicyDrops = prometheus.NewDesc("vpngw_connection_policy_drops_total",
		"Outbound packets routed to a PolicyBased connection but outside its selectors (gateway prefixes x site prefixes), dropped.", []string{"connection"}, nil)
	descTransitDrops = prometheus.NewDesc("vpngw_connection_transit_drops_total",
		"Packets from the connection's tunnel routed on into another tunnel and dropped because one of the two connections has no BGP (Azure: transit needs BGP on every connection it crosses).", []string{"connection"}, nil)
	descSAPackets = prometheus.NewDesc("vpngw_sa_packets_total",
		"Packets an ESP SA protected (out) or accepted (in).", []string{"connection", "spi", "direction"}, nil)
	descSABytes = prometheus.NewDesc("vpngw_sa_bytes_total",
		"Inner bytes an ESP SA protected (out) or accepted (in).", []string{"connection", "spi", "direction"}, nil)
	descSADrops = prometheus.NewDesc("vpngw_sa_drops_total",
		"Packets an ESP SA refused, by reason (replay, auth, selector, ...).", []string{"connection", "spi", "direction", "reason"}, nil)
	descDataplane = prometheus.NewDesc("vpngw_dataplane_packets_total",
		"Gateway-wide packet counters that belong to no tunnel.", []string{"kind"}, nil)
	descP2SClients = prometheus.NewDesc("vpngw_p2s_clients",
		"Point-to-site clients connected (one per leased address).", nil, nil)
	descP2SPool = prometheus.NewDesc("vpngw_p2s_pool_addresses",
		"Point-to-site pool addresses, leased and in all.", []string{"state"}, nil)
	descP2SIngress = prometheus.NewDesc("vpngw_p2s_client_ingress_bytes_total",
		"Bytes received from a point-to-site client through its tunnel.", []string{"client", "user"}, nil)
	descP2SEgress = prometheus.NewDesc("vpngw_p2s_client_egress_bytes_total",
		"Bytes sent to a point-to-site client through its tunnel.", []string{"client", "user"}, nil)
	descBGPPeerUp = prometheus.NewDesc("vpngw_bgp_peer_up",
		"1 when the BGP session with the peer is established (getBgpPeerStatus: Connected).", []string{"peer", "connection"}, nil)
	descBGPPeerRoutes = prometheus.NewDesc("vpngw_bgp_peer_routes_received",
		"Prefixes accepted from the BGP peer (getBgpPeerStatus: routesReceived).", []string{"peer", "connection"}, nil)
	descBGPInstalled = prometheus.NewDesc("vpngw_bgp_installed_routes",
		"Prefixes learned over BGP and routed into tunnels.", nil, nil)
	descIKEDropped = prometheus.NewDesc("vpngw_ike_dropped_total",
		"IKE messages refused, by reason (unknown_peer: IKE_SA_INIT from an address with no connection, not answered; malformed, unknown_sa, invalid_syntax, no_proposal, invalid_ke, cookie_required, queue_full).", []string{"reason"}, nil)
)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descIngress, descEgress, descIKESAs, descChildSAs, descRateDrops, descPolicyDrops, descTransitDrops, descSAPackets, descSABytes, descSADrops, descDataplane, descIKEDropped,
		descP2SClients, descP2SPool, descP2SIngress, descP2SEgress, descBGPPeerUp, descBGPPeerRoutes, descBGPInstalled} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.a.Status()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	for _, cs := range st.Connections {
		up := 0.0
		if cs.Status == "Connected" {
			up = 1
		}
		gauge(descUp, up, cs.Name)
		counter(descIngress, cs.IngressBytes, cs.Name)
		counter(descEgress, cs.EgressBytes, cs.Name)
		gauge(descIKESAs, float64(len(cs.IKE)), cs.Name)
		children := 0
		for _, s := range cs.IKE {
			children += len(s.Children)
		}
		gauge(descChildSAs, float64(children), cs.Name)
		if cs.Traffic == nil {
			continue
		}
		counter(descRateDrops, cs.Traffic.DropRateLimit, cs.Name)
		counter(descPolicyDrops, cs.Traffic.DropPolicy, cs.Name)
		counter(descTransitDrops, cs.Traffic.DropTransit, cs.Name)
		// The data plane may list an outbound SA twice (while it is both
		// in use and being retired); a repeated sample would fail the
		// whole scrape, so the first one counts.
		seen := map[[2]uint32]bool{}
		for _, sa := range cs.Traffic.SAs {
			dir := "out"
			if sa.Inbound {
				dir = "in"
			}
			key := [2]uint32{sa.SPI, 0}
			if sa.Inbound {
				key[1] = 1
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			spi := fmt.Sprintf("%08x", sa.SPI)
			counter(descSAPackets, sa.Packets, cs.Name, spi, dir)
			counter(descSABytes, sa.Bytes, cs.Name, spi, dir)
			for r := esp.DropReason(0); r < esp.DropReason(len(sa.Drops)); r++ {
				if n := sa.Drop(r); n > 0 {
					counter(descSADrops, n, cs.Name, spi, dir, r.String())
				}
			}
		}
	}
	if p := st.PointToSite; p != nil {
		gauge(descP2SClients, float64(len(p.Clients)))
		gauge(descP2SPool, float64(p.LeasedAddresses), "leased")
		gauge(descP2SPool, float64(p.PoolSize), "size")
		for _, cs := range p.Clients {
			user := ""
			if cs.Client != nil {
				user = cs.Client.User
			}
			counter(descP2SIngress, cs.IngressBytes, cs.Name, user)
			counter(descP2SEgress, cs.EgressBytes, cs.Name, user)
		}
	}
	if b := st.BGP; b != nil {
		gauge(descBGPInstalled, float64(b.Installed))
		for _, p := range b.Peers {
			up := 0.0
			if p.State == "Connected" {
				up = 1
			}
			gauge(descBGPPeerUp, up, p.Neighbor, p.Connection)
			gauge(descBGPPeerRoutes, float64(p.RoutesReceived), p.Neighbor, p.Connection)
		}
	}
	if ds := c.a.ikeDrops(); ds != nil {
		for r := ike.DropReason(0); r < ike.NumDropReasons; r++ {
			var n uint64
			for _, d := range ds {
				n += d.Load(r)
			}
			counter(descIKEDropped, n, r.String())
		}
		counter(descIKEDropped, c.a.ikeQueueFull.Load(), "queue_full")
	}

	if d := st.Dataplane; d != nil {
		for kind, v := range map[string]uint64{
			"no_route": d.NoRoute, "unknown_spi": d.UnknownSPI, "malformed": d.Malformed,
			"ike_in": d.IKEIn, "ike_out": d.IKEOut, "keepalives": d.Keepalives,
		} {
			counter(descDataplane, v, kind)
		}
	}
}

// ikeDrops returns the engines' drop counters, or nil before Run started them.
func (a *Agent) ikeDrops() []*ike.DropCounters {
	a.book.mu.Lock()
	defer a.book.mu.Unlock()
	return a.book.ikeDrops
}
