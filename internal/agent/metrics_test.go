package agent

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vpngw/vpngw/internal/esp"
	"github.com/vpngw/vpngw/internal/tunstat"
)

// metricsAgent is an agent whose book holds a site-to-site connection
// with traffic counters (its outbound SA listed twice, as while it is being
// retired) and n point-to-site clients; no data plane.
func metricsAgent(n int) *Agent {
	a := &Agent{log: slog.New(slog.DiscardHandler)}
	b := &a.book
	b.name = "gw"
	var drops esp.Counters
	drops.Drops[esp.DropReplay] = 3
	traffic := &tunstat.TunnelStats{ID: "hq", RxBytes: 500, TxBytes: 700, DropPolicy: 2, SAs: []tunstat.SAStats{
		{SPI: 0xc0ffee, Counters: esp.Counters{Packets: 10, Bytes: 700}},
		{SPI: 0xc0ffee, Counters: esp.Counters{Packets: 10, Bytes: 700}},
		{SPI: 0xbeef, Inbound: true, Counters: drops},
	}}
	b.conns = map[string]ConnectionStatus{
		"hq": {PeerStatus: tunstat.PeerStatus{Name: "hq", IKE: []tunstat.IKESAStatus{{Children: make([]tunstat.ChildSAStatus, 2)}}},
			Status: "Connected", IngressBytes: 500, EgressBytes: 700, Traffic: traffic},
		"branch": {PeerStatus: tunstat.PeerStatus{Name: "branch"}, Status: "NotConnected"},
	}
	b.p2s = &PointToSiteStatus{Name: "p2s"}
	b.clients = map[string]ConnectionStatus{}
	for i := range n {
		name := fmt.Sprintf("p2s/user%05d/172.16.%d.%d", i, i>>8, i&0xff)
		user := fmt.Sprintf("user%05d", i)
		b.clients[name] = ConnectionStatus{PeerStatus: tunstat.PeerStatus{Name: name,
			Client: &tunstat.ClientStatus{Template: "p2s", User: user, VirtualIP: netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)})}}}
	}
	return a
}

func scrape(t testing.TB, h http.Handler, gz bool) (map[string]*dto.MetricFamily, http.Header) {
	t.Helper()
	req := httptest.NewRequest("GET", "/metrics", nil)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body io.Reader = rec.Body
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("Prometheus's parser refused the scrape: %v", err)
	}
	return fams, rec.Header()
}

// value is the sample of family name whose labels are labels (name, value
// pairs, in the order the exposition has them); ok false when there is
// none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
metrics:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		for i, l := range m.GetLabel() {
			if l.GetName() != labels[2*i] || l.GetValue() != labels[2*i+1] {
				continue metrics
			}
		}
		return m.GetGauge().GetValue() + m.GetCounter().GetValue(), true
	}
	return 0, false
}

// TestMetrics: a scrape is valid exposition to Prometheus's own parser,
// plain and gzipped, and holds every connection's, SA's and client's
// samples with their values, each once.
//
// A client's identity is the client's own bytes (a RADIUS server may
// accept a name that is not UTF-8): client 0's user here has every
// character the format escapes and an invalid byte. It costs that sample a
// replacement character, not the scrape (client_golang's registry, which
// served /metrics before, refused the whole scrape with HTTP 500).
func TestMetrics(t *testing.T) {
	a := metricsAgent(3)
	weird := a.book.clients["p2s/user00000/172.16.0.0"]
	weird.Client.User = "we\"ird\\\n\xff"
	h := metricsHandler(a)
	for _, gz := range []bool{false, true} {
		fams, hdr := scrape(t, h, gz)
		if ce := hdr.Get("Content-Encoding"); (ce == "gzip") != gz {
			t.Errorf("gzip %v: Content-Encoding %q", gz, ce)
		}
		if ct := hdr.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"vpngw_connection_up", []string{"connection", "hq"}, 1},
			{"vpngw_connection_up", []string{"connection", "branch"}, 0},
			{"vpngw_connection_ingress_bytes_total", []string{"connection", "hq"}, 500},
			{"vpngw_connection_egress_bytes_total", []string{"connection", "hq"}, 700},
			{"vpngw_connection_ike_sas", []string{"connection", "hq"}, 1},
			{"vpngw_connection_child_sas", []string{"connection", "hq"}, 2},
			{"vpngw_connection_policy_drops_total", []string{"connection", "hq"}, 2},
			{"vpngw_sa_packets_total", []string{"connection", "hq", "direction", "out", "spi", "00c0ffee"}, 10},
			{"vpngw_sa_bytes_total", []string{"connection", "hq", "direction", "out", "spi", "00c0ffee"}, 700},
			{"vpngw_sa_drops_total", []string{"connection", "hq", "direction", "in", "reason", esp.DropReplay.String(), "spi", "0000beef"}, 3},
			{"vpngw_p2s_clients", nil, 3},
			{"vpngw_p2s_client_ingress_bytes_total", []string{"client", "p2s/user00002/172.16.0.2", "user", "user00002"}, 0},
			{"vpngw_p2s_client_egress_bytes_total", []string{"client", "p2s/user00000/172.16.0.0", "user", "we\"ird\\\n\uFFFD"}, 0},
		} {
			if v, ok := value(fams, c.name, c.labels...); !ok || v != c.want {
				t.Errorf("gzip %v: %s%v = %v (found %v), want %v", gz, c.name, c.labels, v, ok, c.want)
			}
		}
		// The drop counters exist where the data plane has the tunnel; the
		// duplicate outbound SA is listed once.
		if _, ok := value(fams, "vpngw_connection_policy_drops_total", "connection", "branch"); ok {
			t.Error("branch has drop counters without traffic counters")
		}
		if n := len(fams["vpngw_sa_packets_total"].GetMetric()); n != 2 {
			t.Errorf("%d SA packet samples, want 2 (one per SA)", n)
		}
		if _, ok := fams["vpngw_bgp_peer_up"]; ok {
			t.Error("BGP families without BGP")
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "deflate, gzip;q=1.0, *;q=0.5": true,
		"gzip;q=0": false, "identity": false, "x-gzip": false, " gzip ; q=0.3": true,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", h, got, want)
		}
	}
}

// BenchmarkMetricsScrape: one scrape of a gateway with 10,000 point-to-site
// clients (20,000 samples), without the data plane's reads.
func BenchmarkMetricsScrape(b *testing.B) {
	for _, gz := range []bool{false, true} {
		b.Run(fmt.Sprintf("gzip=%v", gz), func(b *testing.B) {
			h := metricsHandler(metricsAgent(10000))
			req := httptest.NewRequest("GET", "/metrics", nil)
			if gz {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(discardResponse{}, req)
			}
		})
	}
}

// discardResponse is an http.ResponseWriter that keeps nothing.
type discardResponse struct{}

func (discardResponse) Header() http.Header         { return http.Header{} }
func (discardResponse) Write(b []byte) (int, error) { return len(b), nil }
func (discardResponse) WriteHeader(int)             {}
