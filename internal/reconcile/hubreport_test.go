package reconcile_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
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
	sortClients(st)
	return st
}

// sortClients sorts st's clients by name, as an instance reports them.
func sortClients(st agentapi.Status) {
	slices.SortFunc(st.PointToSite.Clients, func(a, b agentapi.ConnectionStatus) int { return strings.Compare(a.Name, b.Name) })
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
	send := func(want agentapi.SendKind) {
		t.Helper()
		got, err := rep.Send(ctx, c, 0, "")
		if err != nil || got != want {
			t.Fatalf("send: sent %v, err %v; want %v", got, err, want)
		}
	}
	send(agentapi.SentFull)
	first, _ := tap.hub.Load().Report("i-0")
	if first.StatusSeq != rep.Seq() || len(tap.hub.Load().Clients("i-0")) != 3 {
		t.Fatalf("hub holds %+v", first)
	}
	time.Sleep(5 * time.Millisecond)
	send(agentapi.SentHeartbeat)
	s, _ := tap.hub.Load().Report("i-0")
	if !s.At.After(first.At) || len(tap.hub.Load().Clients("i-0")) != 3 || !s.Status.Connected("site-a") || s.Unchanged {
		t.Fatalf("after a heartbeat the hub holds %+v", s)
	}
	// The same status again keeps its version: still heartbeats.
	if changed, _ := rep.SetStatus(manyClients(3)); changed {
		t.Fatal("an equal status counted as changed")
	}
	send(agentapi.SentHeartbeat)
	// A change (counters included) goes out as a delta.
	st = cloneStatus(t, st)
	st.Connections[0].IngressBytes = 8
	seq := rep.Seq()
	if changed, _ := rep.SetStatus(st); !changed || rep.Seq() <= seq {
		t.Fatalf("changed status: version %d after %d", rep.Seq(), seq)
	}
	send(agentapi.SentDelta)
	if s, _ := tap.hub.Load().Report("i-0"); s.Status.Connections[0].IngressBytes != 8 {
		t.Fatalf("hub holds %+v", s.Status.Connections[0])
	}
	// A control plane restart: the heartbeat is refused (409) and the
	// full status follows in the same Send.
	tap.restart()
	send(agentapi.SentFull)
	if _, codes := tap.last(2); codes[0] != http.StatusConflict || codes[1] != http.StatusNoContent {
		t.Fatalf("after a restart: answers %v, want 409 then 204", codes)
	}
	if s, ok := tap.hub.Load().Report("i-0"); !ok || s.StatusSeq != rep.Seq() || s.Status.Connections[0].IngressBytes != 8 {
		t.Fatalf("restarted hub holds %+v", s)
	}
	send(agentapi.SentHeartbeat)
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
		if f, err := rep.Send(ctx, oc, 1, ""); err != nil || f != agentapi.SentFull {
			t.Fatalf("to an old control plane: full %v, %v", f, err)
		}
	}
	if full.Load() != 3 {
		t.Fatalf("old control plane got %d full statuses, want 3", full.Load())
	}

	// A control plane with versions but without deltas (no
	// StatusDeltaHeader): heartbeats while nothing changed, a changed
	// status in full.
	var kinds []string
	noDelta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep struct {
			StatusSeq uint64          `json:"statusSeq"`
			Unchanged bool            `json:"unchanged"`
			Delta     json.RawMessage `json:"delta"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &rep)
		if rep.Delta != nil {
			http.Error(w, "a delta reached a control plane without deltas", http.StatusBadRequest)
			return
		}
		kinds = append(kinds, map[bool]string{true: "heartbeat", false: "full"}[rep.Unchanged])
		w.Header().Set(agentapi.StatusSeqHeader, strconv.FormatUint(rep.StatusSeq, 10))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer noDelta.Close()
	nc, err := agentapi.NewClient(noDelta.URL, "i-0", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	rep = agentapi.NewReporter()
	st := manyClients(2)
	for i := range 4 {
		if i == 2 {
			st = cloneStatus(t, st)
			st.PointToSite.Clients[0].EgressBytes++
		}
		if _, err := rep.SetStatus(st); err != nil {
			t.Fatal(err)
		}
		if _, err := rep.Send(ctx, nc, 1, ""); err != nil {
			t.Fatalf("to a control plane without deltas: %v", err)
		}
	}
	if got := strings.Join(kinds, " "); got != "full heartbeat full heartbeat" {
		t.Fatalf("to a control plane without deltas: %s", got)
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
		if held := tap.hub.Load().Clients("i-0"); len(held) != n {
			t.Fatalf("%d clients: hub holds %d", n, len(held))
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
// agentapi.ReportEvery, cpu-ms/op ÷ ReportEvery (500 ms) is the share of
// a core.
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

// cloneStatus is a deep copy of st (the Reporter keeps the statuses it is
// given: a changed status is a new one).
func cloneStatus(t *testing.T, st agentapi.Status) agentapi.Status {
	t.Helper()
	var c agentapi.Status
	if err := json.Unmarshal([]byte(statusJSON(t, st)), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// statusJSON is st's JSON, for comparing statuses whole.
func statusJSON(t *testing.T, st agentapi.Status) string {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDeltaReports drives per-connection deltas between the agent's side
// (agentapi.Reporter) and the hub: after the full status, a change goes
// out as a delta carrying exactly the changed, added and removed entries,
// and the hub's merged status is the agent's whole; a full report resets
// what the hub holds; a delta whose base the hub does not hold (a lost
// version, a control plane restart) is refused and the full status
// follows at once.
func TestDeltaReports(t *testing.T) {
	ctx := context.Background()
	tap, c := newReportTap(t)
	hub := func() agentapi.Status {
		s, ok := tap.hub.Load().Report("i-0")
		if !ok {
			t.Fatal("the hub holds no report")
		}
		if s.Status.PointToSite != nil {
			if s.Status.PointToSite.Clients != nil {
				t.Fatal("Report handed out the hub's own client list")
			}
			s.Status.PointToSite.Clients = tap.hub.Load().Clients("i-0")
		}
		return s.Status
	}
	rep := agentapi.NewReporter()
	st := manyClients(1000)
	set := func(st agentapi.Status) {
		t.Helper()
		if changed, err := rep.SetStatus(st); err != nil || !changed {
			t.Fatalf("SetStatus: changed %v, %v", changed, err)
		}
	}
	send := func(want agentapi.SendKind) {
		t.Helper()
		got, err := rep.Send(ctx, c, 1, "")
		if err != nil || got != want {
			t.Fatalf("send: sent %v, err %v; want %v", got, err, want)
		}
	}
	set(st)
	send(agentapi.SentFull)
	fullBytes, _ := tap.last(1)

	// One client's counters, one connection's state, a client gone, a
	// client new, the gateway-wide counters.
	next := manyClients(1000)
	cl := next.PointToSite.Clients
	cl[10].IngressBytes, cl[10].Traffic.RxBytes = 99, 99
	next.Connections[0].Status = agentapi.Connecting
	gone := cl[500].Name
	added := cl[500]
	added.Name = "p2s/new/172.16.200.1"
	cl[500] = added
	sortClients(next)
	next.PointToSite.LeasedAddresses = 1000
	set(next)
	send(agentapi.SentDelta)
	deltaBytes, _ := tap.last(1)
	if got, want := statusJSON(t, hub()), statusJSON(t, next); got != want {
		t.Fatal("after a delta the hub's status differs from the agent's")
	}
	if deltaBytes[0]*20 > fullBytes[0] {
		t.Errorf("delta of 3 entries: %d bytes, full status %d", deltaBytes[0], fullBytes[0])
	}
	t.Logf("1,000 clients: full status %d bytes, delta of 3 entries %d bytes", fullBytes[0], deltaBytes[0])
	for _, c := range hub().PointToSite.Clients {
		if c.Name == gone {
			t.Fatalf("removed client %s still held", gone)
		}
	}

	// What the delta carried: exactly the changed entries.
	var body struct {
		Delta agentapi.StatusDelta `json:"delta"`
	}
	rec := &recordingTap{}
	rec.next = tap
	{
		changed := manyClients(1000)
		changed.PointToSite.Clients[500] = added
		sortClients(changed)
		changed.PointToSite.Clients[10].IngressBytes, changed.PointToSite.Clients[10].Traffic.RxBytes = 99, 99
		changed.PointToSite.Clients[11].EgressBytes = 1 // one more
		changed.Connections[0].Status = agentapi.Connecting
		set(changed)
		rc, srv := rec.client(t)
		defer srv.Close()
		// The recording client is another server to the Reporter: hand
		// it over by a full report first, then the delta.
		if got, err := rep.Send(ctx, rc, 1, ""); err != nil || got != agentapi.SentFull {
			t.Fatalf("to the recording client: %v, %v", got, err)
		}
		changed = cloneStatus(t, changed)
		changed.PointToSite.Clients[12].EgressBytes = 2
		set(changed)
		if got, err := rep.Send(ctx, rc, 1, ""); err != nil || got != agentapi.SentDelta {
			t.Fatalf("delta to the recording client: %v, %v", got, err)
		}
		if err := json.Unmarshal(rec.lastBody(), &body); err != nil {
			t.Fatal(err)
		}
		d := body.Delta
		if len(d.Connections) != 0 || len(d.Removed) != 0 || len(d.RemovedClients) != 0 || len(d.Clients) != 1 || d.Clients[0].Name != changed.PointToSite.Clients[12].Name || d.Clients[0].EgressBytes != 2 {
			t.Fatalf("delta of one client's counter: %+v", d)
		}
		if statusJSON(t, hub()) != statusJSON(t, changed) {
			t.Fatal("the hub's status differs after the delta through the recording client")
		}
	}

	// A full report from elsewhere (another run of the instance) resets
	// what the hub holds; the Reporter's next delta names a base the hub
	// no longer holds: 409, then the full status.
	other := manyClients(3)
	if _, err := c.Report(ctx, agentapi.Report{Revision: 1, StatusSeq: 7, Status: other}); err != nil {
		t.Fatal(err)
	}
	if statusJSON(t, hub()) != statusJSON(t, other) {
		t.Fatal("a full report did not replace the status")
	}
	// The Reporter's holder is the recording client: switch back (full),
	// then break the base behind its back.
	last := manyClients(1000)
	last.PointToSite.Clients[1].EgressBytes = 5
	set(last)
	send(agentapi.SentFull)
	if _, err := c.Report(ctx, agentapi.Report{Revision: 1, StatusSeq: 8, Status: other}); err != nil {
		t.Fatal(err)
	}
	// refusedThenFull changes client i: the delta is refused (409) and
	// the full status follows (204), which the hub then holds.
	refusedThenFull := func(what string, i int) {
		t.Helper()
		last = cloneStatus(t, last)
		last.PointToSite.Clients[i].EgressBytes = 5
		set(last)
		send(agentapi.SentFull)
		if _, codes := tap.last(2); codes[0] != http.StatusConflict || codes[1] != http.StatusNoContent {
			t.Fatalf("%s: answers %v, want 409 then 204", what, codes)
		}
		if statusJSON(t, hub()) != statusJSON(t, last) {
			t.Fatalf("%s: after the full status that followed a refused delta the hub's status differs", what)
		}
	}
	refusedThenFull("delta on a lost base", 2)

	// A control plane restart: the delta is refused, the full status
	// follows; then deltas again.
	tap.restart()
	refusedThenFull("after a restart", 3)
	last = cloneStatus(t, last)
	last.PointToSite.Clients[4].EgressBytes = 5
	set(last)
	send(agentapi.SentDelta)
	if statusJSON(t, hub()) != statusJSON(t, last) {
		t.Fatal("after a restart and a delta the hub's status differs")
	}
	send(agentapi.SentHeartbeat)
}

// recordingTap forwards to a reportTap and keeps the last request body.
type recordingTap struct {
	next *reportTap
	mu   sync.Mutex
	body []byte
}

func (r *recordingTap) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.body = b
	r.mu.Unlock()
	req.Body = io.NopCloser(strings.NewReader(string(b)))
	r.next.ServeHTTP(w, req)
}

func (r *recordingTap) lastBody() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.body
}

func (r *recordingTap) client(t *testing.T) (*agentapi.Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(r)
	c, err := agentapi.NewClient(srv.URL, "i-0", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

// TestDeltaRefused: the hub refuses a delta it cannot apply (400, the
// status held unchanged) and one whose base it does not hold (409,
// ErrStatusNeeded, with the version it holds).
func TestDeltaRefused(t *testing.T) {
	ctx := context.Background()
	tap, c := newReportTap(t)
	st := manyClients(2)
	if _, err := c.Report(ctx, agentapi.Report{StatusSeq: 5, Status: st}); err != nil {
		t.Fatal(err)
	}
	entry := st.PointToSite.Clients[0]
	gw := st
	gw.Connections = nil
	p := *st.PointToSite
	p.Clients = nil
	gw.PointToSite = &p
	for _, tc := range []struct {
		name string
		rep  agentapi.Report
		code int
	}{
		{"repeated entry", agentapi.Report{StatusSeq: 6, BaseSeq: 5, Delta: &agentapi.StatusDelta{Gateway: gw, Clients: []agentapi.ConnectionStatus{entry, entry}}}, http.StatusBadRequest},
		{"changed and removed", agentapi.Report{StatusSeq: 6, BaseSeq: 5, Delta: &agentapi.StatusDelta{Gateway: gw, Clients: []agentapi.ConnectionStatus{entry}, RemovedClients: []string{entry.Name}}}, http.StatusBadRequest},
		{"clients without pointToSite", agentapi.Report{StatusSeq: 6, BaseSeq: 5, Delta: &agentapi.StatusDelta{Gateway: agentapi.Status{Name: "gw-0"}, RemovedClients: []string{entry.Name}}}, http.StatusBadRequest},
		{"no version", agentapi.Report{BaseSeq: 5, Delta: &agentapi.StatusDelta{Gateway: gw}}, http.StatusBadRequest},
		{"unknown base", agentapi.Report{StatusSeq: 6, BaseSeq: 4, Delta: &agentapi.StatusDelta{Gateway: gw}}, http.StatusConflict},
	} {
		held, err := c.Report(ctx, tc.rep)
		var he *agentapi.HTTPError
		if !errors.As(err, &he) || he.Code != tc.code {
			t.Errorf("%s: %v, want HTTP %d", tc.name, err, tc.code)
		}
		if tc.code == http.StatusConflict && (!errors.Is(err, agentapi.ErrStatusNeeded) || held != 5) {
			t.Errorf("%s: held %d, %v", tc.name, held, err)
		}
		s, _ := tap.hub.Load().Report("i-0")
		s.Status.PointToSite.Clients = tap.hub.Load().Clients("i-0")
		if s.StatusSeq != 5 || statusJSON(t, s.Status) != statusJSON(t, st) {
			t.Errorf("%s: the hub's status changed", tc.name)
		}
	}
}

// BenchmarkHubHeartbeat measures the hub's side of one bare heartbeat
// (routing, token check, decoding and storing), without the network: the
// control plane's cost per instance per agentapi.ReportEvery. Each op also
// encodes the report and builds the request (the same before and
// after a change to the hub).
func BenchmarkHubHeartbeat(b *testing.B) {
	hub := reconcile.NewHub("", nil)
	hub.Set(map[string]agentapi.Assignment{"i-0": {Role: agentapi.RoleActive}})
	put := func(rep agentapi.Report) int {
		body, err := json.Marshal(rep)
		if err != nil {
			b.Fatal(err)
		}
		w := httptest.NewRecorder()
		hub.ServeHTTP(w, httptest.NewRequest(http.MethodPut, agentapi.StatusPath("i-0"), strings.NewReader(string(body))))
		return w.Code
	}
	if code := put(agentapi.Report{Revision: 1, StatusSeq: 1, Status: manyClients(10)}); code >= 300 {
		b.Fatalf("full report: HTTP %d", code)
	}
	hb := agentapi.Report{Revision: 1, StatusSeq: 1, Unchanged: true}
	for b.Loop() {
		if code := put(hb); code >= 300 {
			b.Fatalf("heartbeat: HTTP %d", code)
		}
	}
}

// TestHubDeltaCopiesNoList checks that the hub merges a delta into the
// clients it holds without copying them: the bytes allocated to report
// and take one client's change (both sides of the request) are the same
// with 10,000 clients held as with 100. A merge that copies the list
// (StatusDelta.Apply) allocates ~2.4 MB more at 10,000.
func TestHubDeltaCopiesNoList(t *testing.T) {
	ctx := context.Background()
	perDelta := map[int]uint64{}
	for _, n := range []int{100, 10000} {
		tap, c := newReportTap(t)
		rep := agentapi.NewReporter()
		st := manyClients(n)
		sortClients(st)
		if _, err := rep.SetStatus(st); err != nil {
			t.Fatal(err)
		}
		if kind, err := rep.Send(ctx, c, 1, ""); err != nil || kind != agentapi.SentFull {
			t.Fatalf("n=%d: %v %v", n, kind, err)
		}
		var least uint64
		for i := range 3 {
			moved := st.PointToSite.Clients[n/2]
			moved.IngressBytes = uint64(100 + i)
			gw := st
			gw.Connections, gw.PointToSite = nil, &agentapi.PointToSiteStatus{Name: "p2s", LeasedAddresses: n}
			if changed, err := rep.Update(gw, nil, nil, []agentapi.ConnectionStatus{moved}, nil); err != nil || !changed {
				t.Fatal(changed, err)
			}
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			kind, err := rep.Send(ctx, c, 1, "")
			runtime.ReadMemStats(&m1)
			if err != nil || kind != agentapi.SentDelta {
				t.Fatalf("n=%d: sent %v, %v; want a delta", n, kind, err)
			}
			if a := m1.TotalAlloc - m0.TotalAlloc; i == 0 || a < least {
				least = a
			}
			held := tap.hub.Load().Clients("i-0")
			if len(held) != n || held[n/2].Name != moved.Name || held[n/2].IngressBytes != moved.IngressBytes {
				t.Fatalf("n=%d: hub holds %d clients, the changed one %+v", n, len(held), held[n/2])
			}
		}
		perDelta[n] = least
	}
	t.Logf("bytes allocated per one-client delta: %d with 100 clients, %d with 10,000", perDelta[100], perDelta[10000])
	if perDelta[10000] > perDelta[100]+256<<10 {
		t.Errorf("a one-client delta allocates %d bytes with 10,000 clients held, %d with 100: the hub copies its list", perDelta[10000], perDelta[100])
	}
}
