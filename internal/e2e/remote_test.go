package e2e_test

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// fakeControlPlane serves the agent API for one instance from a Unix
// socket: the assignment set last, and the reports it receives.
type fakeControlPlane struct {
	mu     sync.Mutex
	assign agentapi.Assignment
	last   agentapi.Report
}

func (f *fakeControlPlane) set(a agentapi.Assignment) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.assign = a
}

func (f *fakeControlPlane) report() agentapi.Report {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func (f *fakeControlPlane) serve(t *testing.T, sock string) {
	mux := http.NewServeMux()
	mux.HandleFunc(agentapi.ConfigRoute, func(w http.ResponseWriter, r *http.Request) {
		after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			f.mu.Lock()
			a := f.assign
			f.mu.Unlock()
			if a.Revision > after {
				_ = json.NewEncoder(w).Encode(a)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc(agentapi.StatusRoute, func(w http.ResponseWriter, r *http.Request) {
		var rep agentapi.Report
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.last = rep
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// TestRemoteRestartsForMTUAndPorts: an assignment that changes the TUN
// MTU or the ports (which Reload cannot apply) restarts the instance's data
// plane instead of failing; the cached assignment is private.
func TestRemoteRestartsForMTUAndPorts(t *testing.T) {
	nstest.RequirePriv(t)
	ns := nstest.New(t, "vag-rem")
	ns.MustRun(t, "ip", "link", "set", "lo", "up")
	ns.MustRun(t, "ip", "addr", "add", "192.0.2.1/32", "dev", "lo")
	dir := t.TempDir()
	cp := &fakeControlPlane{}
	cfg := gwconfig.Config{Name: "rem", LocalAddress: "192.0.2.1", Tunnel: gwconfig.TunnelConfig{Device: "vpngwr0", MTU: 1400}}
	cp.set(agentapi.Assignment{Revision: 1, Role: agentapi.RoleActive, Config: cfg})
	cp.serve(t, filepath.Join(dir, "cp.sock"))
	startProcT(t, ns, filepath.Join(dir, "agent.log"), vpngwBin(t), "agent",
		"--server", "unix://"+filepath.Join(dir, "cp.sock"), "--instance", "i-0",
		"--state-dir", filepath.Join(dir, "state"), "--socket", filepath.Join(dir, "agent.sock"), "--log-level", "debug")

	// applied waits until the instance reports revision rev without an
	// error, and returns when its data plane started.
	applied := func(rev int64) time.Time {
		t.Helper()
		var rep agentapi.Report
		nstest.WaitFor(t, 15*time.Second, func() bool {
			rep = cp.report()
			return rep.Revision == rev && rep.Error == "" && !rep.Status.Started.IsZero()
		}, "revision %d not applied: %+v", rev, &rep)
		return rep.Status.Started
	}
	mtu := func() string {
		out := ns.MustRun(t, "ip", "-o", "link", "show", "vpngwr0")
		f := strings.Fields(out)
		for i := range f[:len(f)-1] {
			if f[i] == "mtu" {
				return f[i+1]
			}
		}
		return out
	}
	started1 := applied(1)
	if m := mtu(); m != "1400" {
		t.Fatalf("TUN MTU %s, want 1400", m)
	}

	cfg.Tunnel.MTU = 1300
	cp.set(agentapi.Assignment{Revision: 2, Role: agentapi.RoleActive, Config: cfg})
	started2 := applied(2)
	if !started2.After(started1) {
		t.Fatal("an MTU change did not restart the data plane")
	}
	if m := mtu(); m != "1300" {
		t.Fatalf("TUN MTU %s after the change, want 1300", m)
	}

	cfg.IKEPort, cfg.NATTPort = 1500, 4501
	cp.set(agentapi.Assignment{Revision: 3, Role: agentapi.RoleActive, Config: cfg})
	if started3 := applied(3); !started3.After(started2) {
		t.Fatal("a port change did not restart the data plane")
	}
	if out := ns.MustRun(t, "ss", "-Hulnp"); !strings.Contains(out, ":1500 ") || !strings.Contains(out, ":4501 ") {
		t.Fatalf("not listening on the new ports:\n%s", out)
	}

	fi, err := os.Stat(filepath.Join(dir, "state", "agent-i-0.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("cached assignment has mode %v, want 0600 (it holds shared keys)", fi.Mode().Perm())
	}
	var cached agentapi.Assignment
	b, _ := os.ReadFile(filepath.Join(dir, "state", "agent-i-0.json"))
	if err := json.Unmarshal(b, &cached); err != nil || cached.Revision != 3 {
		t.Fatalf("cached assignment: %v %s", err, b)
	}
}
