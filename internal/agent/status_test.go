package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/tunstat"
)

// statusAgent is metricsAgent with its n clients as the book holds real
// ones: each from its own public address, with an IKE SA and a Child SA.
func statusAgent(n int) *Agent {
	a := metricsAgent(n)
	now := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	i := 0
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range a.book.clients {
			if !yield(k) {
				return
			}
		}
	}) {
		c := a.book.clients[name]
		c.State, c.Status, c.UpSince = "established", "Connected", now
		c.Remote = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i % 250)}), uint16(10000+i))
		c.IKE = []tunstat.IKESAStatus{{SPIi: fmt.Sprintf("%016x", 0xa000+i), SPIr: fmt.Sprintf("%016x", 0xb000+i),
			State: "established", Suite: "aes256gcm16-prfsha256-ecp256",
			Local: netip.MustParseAddrPort("203.0.113.1:4500"), Remote: c.Remote, Encap: true, NATRemote: true,
			Established: now, RekeyAt: now.Add(8 * time.Hour),
			Children: []tunstat.ChildSAStatus{{InSPI: fmt.Sprintf("%08x", 0xc000+i), OutSPI: fmt.Sprintf("%08x", 0xd000+i),
				State: "installed", Suite: "aes256gcm16", LocalTS: "0.0.0.0/0", RemoteTS: c.Client.VirtualIP.String() + "/32",
				Outbound: true, Established: now, RekeyAt: now.Add(7 * time.Hour)}}}}
		a.book.clients[name] = c
		i++
	}
	return a
}

func getStatus(t *testing.T, h http.Handler, query string) (Status, *httptest.ResponseRecorder) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/status?"+query, nil))
	var st Status
	if rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	return st, rec
}

// TestStatusQuery: GET /status lists the point-to-site clients its query
// picks (all, none, or those a term names by name, user, virtual IP,
// public address or vpnConnectionId), counts them all in every case, and
// refuses a query it does not understand with 400 and the reason.
func TestStatusQuery(t *testing.T) {
	const n = 300
	h := statusHandler(statusAgent(n))
	for _, c := range []struct {
		query string
		want  []string // the clients listed; nil: all n
	}{
		{"", nil},
		{"clients=all", nil},
		{"clients=none", []string{}},
		{"client=p2s/user00007/172.16.0.7", []string{"p2s/user00007/172.16.0.7"}},
		{"client=user00042", []string{"p2s/user00042/172.16.0.42"}},
		{"client=172.16.1.3", []string{"p2s/user00259/172.16.1.3"}},
		{"client=::ffff:172.16.1.3", []string{"p2s/user00259/172.16.1.3"}},
		// Clients 5 and 255 share a public address (198.51.100.5); a port
		// picks one.
		{"client=198.51.100.5", []string{"p2s/user00005/172.16.0.5", "p2s/user00255/172.16.0.255"}},
		{"client=198.51.100.5:10255", []string{"p2s/user00255/172.16.0.255"}},
		{"client=IKEv2_000000000000a00c", []string{"p2s/user00012/172.16.0.12"}},
		{"client=IKEv2_000000000000A00C", []string{"p2s/user00012/172.16.0.12"}},
		{"client=user00001&client=user00002&client=nobody", []string{"p2s/user00001/172.16.0.1", "p2s/user00002/172.16.0.2"}},
		{"client=nobody", []string{}},
		{"client=user0000", []string{}}, // a prefix names no one
		{"clients=all&client=user00003", []string{"p2s/user00003/172.16.0.3"}},
	} {
		st, rec := getStatus(t, h, c.query)
		if rec.Code != http.StatusOK {
			t.Errorf("%q: %d %s", c.query, rec.Code, rec.Body)
			continue
		}
		p := st.PointToSite
		if p == nil || p.ClientCount != n || len(st.Connections) != 2 {
			t.Errorf("%q: point-to-site %+v, %d connections; want %d clients counted and both connections", c.query, p, len(st.Connections), n)
			continue
		}
		var got []string
		for _, cl := range p.Clients {
			got = append(got, cl.Name)
			if len(cl.IKE) != 1 || len(cl.IKE[0].Children) != 1 || cl.Client == nil {
				t.Errorf("%q: client %s listed without its SAs: %+v", c.query, cl.Name, cl)
			}
		}
		if c.want == nil {
			if len(got) != n || !slices.IsSorted(got) {
				t.Errorf("%q: %d clients listed (sorted %v), want all %d by name", c.query, len(got), slices.IsSorted(got), n)
			}
		} else if !slices.Equal(got, c.want) && (len(got) != 0 || len(c.want) != 0) {
			t.Errorf("%q: listed %v, want %v", c.query, got, c.want)
		}
	}
	for _, c := range []struct{ query, want string }{
		{"clients=some", "clients=some"},
		{"clients=none&clients=all", "clients=none,all"},
		{"client=", "client="},
		{"clients=none&client=alice", "together"},
		{"user=alice", `unknown parameter "user"`},
	} {
		_, rec := getStatus(t, h, c.query)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("%q: %d %q, want 400 naming %q", c.query, rec.Code, rec.Body, c.want)
		}
	}
}

// TestFetchStatusQuery: FetchStatus sends its query over the socket and
// returns a refusal as ErrStatusQuery with the agent's reason.
func TestFetchStatusQuery(t *testing.T) {
	a := statusAgent(20)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeStatus(ctx, a, sock) }()
	t.Cleanup(func() { cancel(); <-done })
	var st Status
	var err error
	for range 100 {
		if st, err = FetchStatus(ctx, sock, StatusQuery{Clients: []string{"user00003", "172.16.0.9"}}); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if st.PointToSite == nil {
		t.Fatal("status without its point-to-site part")
	}
	if p := st.PointToSite; p.ClientCount != 20 || len(p.Clients) != 2 ||
		p.Clients[0].Name != "p2s/user00003/172.16.0.3" || p.Clients[1].Name != "p2s/user00009/172.16.0.9" {
		t.Fatalf("status lists %v of %d clients, want user00003's and user00009's of 20", names(p.Clients), p.ClientCount)
	}
	if st, err = FetchStatus(ctx, sock, StatusQuery{NoClients: true}); err != nil || st.PointToSite.ClientCount != 20 || len(st.PointToSite.Clients) != 0 {
		t.Fatalf("summary: %v, %d clients counted, %d listed; want 20, 0", err, st.PointToSite.ClientCount, len(st.PointToSite.Clients))
	}
	_, err = FetchStatus(ctx, sock, StatusQuery{NoClients: true, Clients: []string{"alice"}})
	if !errors.Is(err, ErrStatusQuery) || !strings.Contains(err.Error(), "together") {
		t.Fatalf("refused query: %v, want ErrStatusQuery with the reason", err)
	}
}

// TestParseStatusQueryRoundTrip: what FetchStatus sends, the agent reads
// back as the same query.
func TestParseStatusQueryRoundTrip(t *testing.T) {
	for _, q := range []StatusQuery{{}, {NoClients: true}, {Clients: []string{"a b", "IKEv2_00ff", "198.51.100.1:4500", "Ünï"}}} {
		v, err := url.ParseQuery(q.values().Encode())
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseStatusQuery(v)
		if err != nil || got.NoClients != q.NoClients || !slices.Equal(got.Clients, q.Clients) {
			t.Errorf("%+v: read back %+v, %v", q, got, err)
		}
	}
}

// BenchmarkStatus: GET /status of a gateway with 10,000 point-to-site
// clients (without the data plane's counters): all of them, the summary,
// one client.
func BenchmarkStatus(b *testing.B) {
	h := statusHandler(statusAgent(10000))
	for _, query := range []string{"", "clients=none", "client=user04242"} {
		b.Run("query="+query, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/status?"+query, nil)
			var w countingResponse
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(&w, req)
			}
			b.ReportMetric(float64(w.n)/float64(b.N), "B/response")
		})
	}
}

// countingResponse is an http.ResponseWriter that counts what is written.
type countingResponse struct{ n int }

func (*countingResponse) Header() http.Header           { return http.Header{} }
func (w *countingResponse) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }
func (*countingResponse) WriteHeader(int)               {}
