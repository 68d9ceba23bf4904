package reconcile_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/reconcile"
	"github.com/vpngw/vpngw/internal/tunstat"
)

// reportTap serves the agent API of a hub that can be replaced (a control
// plane restart) and counts the report requests and their bytes.
type reportTap struct {
	hub atomic.Pointer[reconcile.Hub]

	mu       sync.Mutex
	requests int
	bytes    []int // per report request, in order
	codes    []int
}

func newReportTap(t *testing.T) (*reportTap, *agentapi.Client) {
	t.Helper()
	tap := &reportTap{}
	tap.restart()
	srv := httptest.NewServer(tap)
	t.Cleanup(srv.Close)
	c, err := agentapi.NewClient(srv.URL, "i-0", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return tap, c
}

// restart replaces the hub with a new one holding the same assignment.
func (tap *reportTap) restart() *reconcile.Hub {
	h := reconcile.NewHub("", nil)
	h.Set(map[string]agentapi.Assignment{"i-0": {Role: agentapi.RoleActive}})
	tap.hub.Store(h)
	return h
}

func (tap *reportTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	rec := httptest.NewRecorder()
	tap.hub.Load().ServeHTTP(rec, r)
	tap.mu.Lock()
	tap.requests++
	tap.bytes = append(tap.bytes, len(body))
	tap.codes = append(tap.codes, rec.Code)
	tap.mu.Unlock()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// last returns the bytes and status code of the latest n requests.
func (tap *reportTap) last(n int) ([]int, []int) {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	return append([]int(nil), tap.bytes[len(tap.bytes)-n:]...), append([]int(nil), tap.codes[len(tap.codes)-n:]...)
}

// manyClients is a status with n connected point-to-site clients.
func manyClients(n int) agentapi.Status {
	st := agentapi.Status{Name: "gw-0", LocalAddress: "192.0.2.10", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Connections: []agentapi.ConnectionStatus{{PeerStatus: tunstat.PeerStatus{Name: "site-a"}, Status: agentapi.Connected, IngressBytes: 7}},
		PointToSite: &agentapi.PointToSiteStatus{Name: "p2s", AddressPool: []string{"172.16.0.0/16"}, LeasedAddresses: n, PoolSize: 65534}}
	for i := range n {
		st.PointToSite.Clients = append(st.PointToSite.Clients, agentapi.ConnectionStatus{
			PeerStatus: tunstat.PeerStatus{Name: fmt.Sprintf("p2s/user%d/172.16.%d.%d", i, i/250, i%250+1), State: "established",
				IKE: []tunstat.IKESAStatus{{SPIi: fmt.Sprintf("%016x", i), SPIr: fmt.Sprintf("%016x", i+1), State: "established",
					Children: []tunstat.ChildSAStatus{{InSPI: "c0000001", OutSPI: "c0000002", State: "installed", LocalTS: "0.0.0.0/0", RemoteTS: "172.16.0.1/32"}}}}},
			Status: agentapi.Connected, IngressBytes: uint64(i), EgressBytes: uint64(2 * i),
			Traffic: &tunstat.TunnelStats{ID: "t", RxBytes: uint64(i), TxBytes: uint64(2 * i)}})
	}
	return st
}

// TestVersionedReports drives the agent's side (agentapi.Reporter) against
// the control plane's (Hub): the full status once, then bare heartbeats
// that keep the instance fresh; a changed status in full; a control plane
// restart answered by the full status at once.
func TestVersionedReports(t *testing.T) {
	ctx := context.Background()
	tap, c := newReportTap(t)
	rep := agentapi.NewReporter()
	st := manyClients(3)
	if _, err := rep.SetStatus(st); err != nil {
		t.Fatal(err)
	}
	send := func(wantFull bool) {
		t.Helper()
		full, err := rep.Send(ctx, c, 0, "")
		if err != nil || full != wantFull {
			t.Fatalf("send: full %v, err %v; want full %v", full, err, wantFull)
		}
	}
	send(true)
	first, _ := tap.hub.Load().Report("i-0")
	if first.StatusSeq != rep.Seq() || len(first.Status.PointToSite.Clients) != 3 {
		t.Fatalf("hub holds %+v", first)
	}
	time.Sleep(5 * time.Millisecond)
	send(false)
	s, _ := tap.hub.Load().Report("i-0")
	if !s.At.After(first.At) || len(s.Status.PointToSite.Clients) != 3 || !s.Status.Connected("site-a") || s.Unchanged {
		t.Fatalf("after a heartbeat the hub holds %+v", s)
	}
	// The same status again keeps its version: still heartbeats.
	if changed, _ := rep.SetStatus(manyClients(3)); changed {
		t.Fatal("an equal status counted as changed")
	}
	send(false)
	// A change (counters included) goes out in full.
	st.Connections[0].IngressBytes = 8
	seq := rep.Seq()
	if changed, _ := rep.SetStatus(st); !changed || rep.Seq() <= seq {
		t.Fatalf("changed status: version %d after %d", rep.Seq(), seq)
	}
	send(true)
	if s, _ := tap.hub.Load().Report("i-0"); s.Status.Connections[0].IngressBytes != 8 {
		t.Fatalf("hub holds %+v", s.Status.Connections[0])
	}
	// A control plane restart: the heartbeat is refused (409) and the
	// full status follows in the same Send.
	tap.restart()
	send(true)
	if _, codes := tap.last(2); codes[0] != http.StatusConflict || codes[1] != http.StatusNoContent {
		t.Fatalf("after a restart: answers %v, want 409 then 204", codes)
	}
	if s, ok := tap.hub.Load().Report("i-0"); !ok || s.StatusSeq != rep.Seq() || s.Status.Connections[0].IngressBytes != 8 {
		t.Fatalf("restarted hub holds %+v", s)
	}
	send(false)
}

// TestReportVersionGap: a heartbeat naming a version the hub does not hold
// is refused with ErrStatusNeeded and changes nothing, not even the time
// of the latest report (the status held is not the instance's).
func TestReportVersionGap(t *testing.T) {
	ctx := context.Background()
	tap, c := newReportTap(t)
	hub := tap.hub.Load()
	if _, err := c.Report(ctx, agentapi.Report{StatusSeq: 5, Unchanged: true}); !errors.Is(err, agentapi.ErrStatusNeeded) {
		t.Fatalf("heartbeat before any status: %v", err)
	}
	if _, ok := hub.Report("i-0"); ok {
		t.Fatal("a heartbeat without a status counted as a report")
	}
	held, err := c.Report(ctx, agentapi.Report{StatusSeq: 5, Status: manyClients(1)})
	if err != nil || held != 5 {
		t.Fatalf("full status: held %d, %v", held, err)
	}
	before, _ := hub.Report("i-0")
	held, err = c.Report(ctx, agentapi.Report{StatusSeq: 7, Unchanged: true})
	if !errors.Is(err, agentapi.ErrStatusNeeded) || held != 5 {
		t.Fatalf("heartbeat after a gap: held %d, %v", held, err)
	}
	if after, _ := hub.Report("i-0"); after.At != before.At || after.StatusSeq != 5 {
		t.Fatalf("a refused heartbeat changed the report: %+v", after)
	}
}

// TestReportCompatibility: an instance that predates versions (no
// StatusSeq) has each report stored whole; a control plane that predates
// them (no StatusSeqHeader in its answers) gets the full status every
// time from a new instance.
func TestReportCompatibility(t *testing.T) {
	ctx := context.Background()
	_, c := newReportTap(t)
	held, err := c.Report(ctx, agentapi.Report{Revision: -1, Status: manyClients(2)})
	if err != nil || held != 0 {
		t.Fatalf("old instance's report: held %d, %v", held, err)
	}

	var full atomic.Int32
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), `"unchanged"`) || !strings.Contains(string(b), `"status"`) {
			http.Error(w, "a heartbeat without status reached an old control plane", http.StatusBadRequest)
			return
		}
		full.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer old.Close()
	oc, err := agentapi.NewClient(old.URL, "i-0", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := agentapi.NewReporter()
	if _, err := rep.SetStatus(manyClients(2)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if f, err := rep.Send(ctx, oc, 1, ""); err != nil || !f {
			t.Fatalf("to an old control plane: full %v, %v", f, err)
		}
	}
	if full.Load() != 3 {
		t.Fatalf("old control plane got %d full statuses, want 3", full.Load())
	}
}

// TestHeartbeatWorkIndependentOfTunnels counts the bytes a heartbeat puts
// on the wire (what the agent encodes and the control plane decodes) with
// 10 and with 10,000 point-to-site clients: when nothing changed it is the
// same, and small.
func TestHeartbeatWorkIndependentOfTunnels(t *testing.T) {
	ctx := context.Background()
	per := map[int][]int{}
	for _, n := range []int{10, 10000} {
		tap, c := newReportTap(t)
		rep := agentapi.NewReporter()
		if _, err := rep.SetStatus(manyClients(n)); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			if _, err := rep.Send(ctx, c, 1, ""); err != nil {
				t.Fatal(err)
			}
		}
		b, codes := tap.last(5)
		t.Logf("%d clients: report bytes %v (answers %v)", n, b, codes)
		if s, _ := tap.hub.Load().Report("i-0"); len(s.Status.PointToSite.Clients) != n {
			t.Fatalf("%d clients: hub holds %d", n, len(s.Status.PointToSite.Clients))
		}
		per[n] = b[1:]
	}
	for i, small := range per[10] {
		big := per[10000][i]
		// The versions follow the clock and may differ in length by a
		// digit at most.
		if big-small > 1 || small-big > 1 || big > 100 {
			t.Errorf("heartbeat %d: %d bytes with 10 clients, %d with 10,000", i+1, small, big)
		}
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHeartbeat measures one heartbeat of an instance with N
// point-to-site clients, both sides in this process over loopback HTTP
// (the agent's encoding, the hub's decoding and storing): "full" sends
// the whole status every time (every heartbeat before reports were
// versioned, and what a changed status still costs), "versioned" the
// bare heartbeat an unchanged status now costs. cpu-ms/op is the
// process's CPU per heartbeat; at one heartbeat per
// agentapi.ReportEvery, cpu-ms/op ÷ 150 ms is the share of a core.
func BenchmarkHeartbeat(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1000, 10000} {
		st := manyClients(n)
		for _, mode := range []string{"full", "versioned"} {
			b.Run(fmt.Sprintf("clients=%d/%s", n, mode), func(b *testing.B) {
				hub := reconcile.NewHub("", nil)
				hub.Set(map[string]agentapi.Assignment{"i-0": {Role: agentapi.RoleActive}})
				srv := httptest.NewServer(hub)
				defer srv.Close()
				c, err := agentapi.NewClient(srv.URL, "i-0", "", nil)
				if err != nil {
					b.Fatal(err)
				}
				rep := agentapi.NewReporter()
				if _, err := rep.SetStatus(st); err != nil {
					b.Fatal(err)
				}
				if _, err := rep.Send(ctx, c, 1, ""); err != nil {
					b.Fatal(err)
				}
				var bytes int
				cpu0 := cpuTime()
				for b.Loop() {
					var err error
					if mode == "full" {
						_, err = c.Report(ctx, agentapi.Report{Revision: 1, Status: st})
					} else {
						_, err = rep.Send(ctx, c, 1, "")
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
				if mode == "full" {
					body, _ := json.Marshal(agentapi.Report{Revision: 1, Status: st})
					bytes = len(body)
				} else {
					body, _ := json.Marshal(agentapi.Report{Revision: 1, StatusSeq: rep.Seq(), Unchanged: true})
					bytes = len(body)
				}
				b.ReportMetric(float64(bytes), "bytes/op")
			})
		}
	}
}
