package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
)

// Modes of a fakeReplica.
const (
	replicaDown     = iota // drops every connection, like a killed process
	replicaFollower        // answers 503, like a replica that does not lead
	replicaLeader          // serves the agent API
)

// fakeReplica is one control plane replica's agent API as the agent sees
// it. Its assignment is invalid (no localAddress), so the agent reports
// an error instead of starting an instance: the test needs no privileges
// and still sees which replica the agent talks to.
type fakeReplica struct {
	srv *httptest.Server

	mu      sync.Mutex
	mode    int
	changed chan struct{} // closed and replaced on every mode change
	reports int           // reports received while leading
	// held is the status version it holds (0: none); full and bare
	// count the reports with the status and the heartbeats it took.
	held       uint64
	full, bare int
}

func newFakeReplica(t *testing.T, mode int) *fakeReplica {
	f := &fakeReplica{mode: mode, changed: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeReplica) setMode(m int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = m
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeReplica) reported() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reports
}

// counts returns the full reports and bare heartbeats taken.
func (f *fakeReplica) counts() (full, bare int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.full, f.bare
}

// forget drops the status held, as a control plane restart does.
func (f *fakeReplica) forget() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held = 0
}

// putStatus takes a report as the hub does: a heartbeat only for the
// version held (else 409), the version held in the answer.
func (f *fakeReplica) putStatus(w http.ResponseWriter, r *http.Request) {
	var rep agentapi.Report
	if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case !rep.Unchanged:
		f.full++
		f.held = rep.StatusSeq
	case rep.StatusSeq != f.held:
		http.Error(w, "status version unknown", http.StatusConflict)
		return
	default:
		f.bare++
	}
	w.Header().Set(agentapi.StatusSeqHeader, strconv.FormatUint(f.held, 10))
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeReplica) serve(w http.ResponseWriter, r *http.Request) {
	for {
		f.mu.Lock()
		mode, changed := f.mode, f.changed
		if mode == replicaLeader && r.Method == http.MethodPut {
			f.reports++
		}
		f.mu.Unlock()
		switch mode {
		case replicaDown:
			panic(http.ErrAbortHandler) // the connection is dropped
		case replicaFollower:
			http.Error(w, "not leader", http.StatusServiceUnavailable)
			return
		}
		if r.Method == http.MethodPut {
			f.putStatus(w, r)
			return
		}
		after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		if after < 7 {
			_ = json.NewEncoder(w).Encode(agentapi.Assignment{Revision: 7, Role: agentapi.RoleActive})
			return
		}
		select { // the long poll: nothing newer until the mode changes
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

// TestRemoteSeveralServers runs RunRemote with four control plane URLs:
// one that refuses connections, two followers answering 503 and a
// leader. The agent finds the leader without waiting, reports to it, and
// follows a takeover (the leader drops its connections, a follower
// leads) within a second or two, as routinePoll's backoff promises.
func TestRemoteSeveralServers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()
	r := []*fakeReplica{newFakeReplica(t, replicaFollower), newFakeReplica(t, replicaFollower), newFakeReplica(t, replicaLeader)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunRemote(ctx, RemoteOptions{Servers: []string{refused, r[0].srv.URL, r[1].srv.URL, r[2].srv.URL},
			Instance: "g-0", StateDir: t.TempDir()})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunRemote: %v", err)
		}
	}()
	waitReports := func(f *fakeReplica, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		n := f.reported()
		for time.Since(start) < within {
			if f.reported() > n { // the first report (one every agentapi.ReportEvery)
				return time.Since(start)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("no reports at the leader within %v", within)
		return 0
	}
	if d := waitReports(r[2], 2*time.Second); d > time.Second {
		t.Errorf("found the leader after %v: the first round should not wait", d)
	}

	// A takeover: the leader dies (its connections dropped, the long poll
	// with them), replica 0 leads a moment later.
	r[2].setMode(replicaDown)
	time.Sleep(300 * time.Millisecond)
	r[0].setMode(replicaLeader)
	d := waitReports(r[0], 5*time.Second)
	t.Logf("reports reach the new leader %v after it leads", d.Round(time.Millisecond))
	if d > retryMaxSeveral+time.Second {
		t.Errorf("the agent took %v to follow the new leader, want within %v", d, retryMaxSeveral+time.Second)
	}
	if r[1].reported() != 0 {
		t.Error("a follower counted reports")
	}
}

// TestRemoteHeartbeatsCarryNoStatus: an agent whose status does not
// change sends it once and then bare heartbeats, also across the counter
// refreshes (countersEvery); a server that lost it (a restart) gets it
// again at the next heartbeat, and so does the next leader.
func TestRemoteHeartbeatsCarryNoStatus(t *testing.T) {
	r := []*fakeReplica{newFakeReplica(t, replicaLeader), newFakeReplica(t, replicaFollower)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunRemote(ctx, RemoteOptions{Servers: []string{r[0].srv.URL, r[1].srv.URL}, Instance: "g-0", StateDir: t.TempDir()})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunRemote: %v", err)
		}
	}()
	// waitBare waits for n more heartbeats at f and returns the full
	// reports it took meanwhile.
	waitBare := func(f *fakeReplica, n int, within time.Duration) int {
		t.Helper()
		full0, bare0 := f.counts()
		for start := time.Now(); time.Since(start) < within; time.Sleep(20 * time.Millisecond) {
			if full, bare := f.counts(); bare >= bare0+n {
				return full - full0
			}
		}
		full, bare := f.counts()
		t.Fatalf("%d heartbeats within %v (full reports %d), want %d", bare-bare0, within, full-full0, n)
		return 0
	}
	// Past two counter refreshes: one status, the rest heartbeats.
	if full := waitBare(r[0], int(2*countersEvery/agentapi.ReportEvery)+2, 4*countersEvery); full != 1 {
		t.Errorf("%d full reports for one unchanged status, want 1", full)
	}
	r[0].forget()
	if full := waitBare(r[0], 3, 4*time.Second); full != 1 {
		t.Errorf("after a restart of the server: %d full reports, want 1", full)
	}
	r[0].setMode(replicaDown)
	r[1].setMode(replicaLeader)
	if full := waitBare(r[1], 3, 7*time.Second); full != 1 {
		t.Errorf("at the next leader: %d full reports, want 1", full)
	}
}

// TestRemoteServersRefused: RunRemote checks its URLs before it starts.
func TestRemoteServersRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		servers []string
		want    string
	}{
		{"none", nil, ErrNoServer.Error()},
		{"twice", []string{"http://127.0.0.1:1", "http://127.0.0.1:1"}, `agent: --server "http://127.0.0.1:1" given twice`},
		{"scheme", []string{"http://127.0.0.1:1", "ftp://x"}, `agentapi: --server "ftp://x": want http://, https:// or unix://`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := RunRemote(context.Background(), RemoteOptions{Servers: tc.servers, Instance: "g-0"})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if tc.servers == nil && !errors.Is(err, ErrNoServer) {
				t.Fatal("not ErrNoServer")
			}
		})
	}
}
