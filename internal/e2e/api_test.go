package e2e_test

// vpngw serve as a real process, killed with SIGKILL in the middle of a
// write burst and restarted on the same data directory, to check that every
// acknowledged write survives.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sub is the subscription of the API tests' requests.
const sub = "00000000-0000-0000-0000-000000000000"

// startAPIServer runs `vpngw serve --provider none` on dataDir.
func startAPIServer(t *testing.T, dataDir string) *server {
	t.Helper()
	s := startServe(t, nil, "--provider", "none", "--data-dir", dataDir, "--log-level", "info")
	checkListeningLog(t, s)
	return s
}

// checkListeningLog checks that the server logged the address it listens on.
func checkListeningLog(t *testing.T, s *server) {
	t.Helper()
	if !strings.Contains(s.logText(), "msg=listening addr="+strings.TrimPrefix(s.url, "https://")) {
		t.Errorf("no 'listening' log line with the address:\n%s", s.logText())
	}
}

func groupPath(name string) string { return "/subscriptions/" + sub + "/resourcegroups/" + name }

type group struct {
	Name string            `json:"name"`
	Tags map[string]string `json:"tags"`
}

// TestDurabilityKill9 acknowledges a burst of concurrent writes, kills the
// server with SIGKILL in the middle of it, restarts it on the same data
// directory and checks that every acknowledged write is there.
func TestDurabilityKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the vpngw binary")
	}
	dataDir := t.TempDir()
	s := startAPIServer(t, dataDir)
	ctx := context.Background()

	// Before the burst: a network resource through its long-running
	// operation.
	if st, b, _, err := s.do(ctx, http.MethodPut, groupPath("base"), `{"location":"westeurope"}`); err != nil || st != http.StatusCreated {
		t.Fatalf("PUT base group: %d %s %v", st, b, err)
	}
	vnet := "/subscriptions/" + sub + "/resourceGroups/base/providers/Microsoft.Network/virtualNetworks/v1"
	st, b, hdr, err := s.do(ctx, http.MethodPut, vnet, `{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]}}}`)
	if err != nil || st != http.StatusCreated {
		t.Fatalf("PUT vnet: %d %s %v", st, b, err)
	}
	waitOp(t, s, hdr.Get("Azure-AsyncOperation"))

	const workers = 8
	var (
		mu       sync.Mutex
		created  = map[string]bool{} // acknowledged creates
		updated  = map[string]int{}  // highest acknowledged seq per updated group
		attempts int
		wg       sync.WaitGroup
	)
	burstCtx, stopBurst := context.WithCancel(ctx)
	defer stopBurst()
	for w := range workers {
		wg.Go(func() {
			for i := 0; burstCtx.Err() == nil; i++ {
				var path, body, name string
				if i%2 == 0 {
					name = fmt.Sprintf("g-%d-%d", w, i)
					path, body = groupPath(name), `{"location":"westeurope","tags":{"seq":"0"}}`
				} else {
					name = fmt.Sprintf("upd-%d", w)
					path, body = groupPath(name), fmt.Sprintf(`{"location":"westeurope","tags":{"seq":"%d"}}`, i)
				}
				st, _, _, err := s.do(burstCtx, http.MethodPut, path, body)
				mu.Lock()
				attempts++
				if err == nil && st >= 200 && st < 300 {
					if i%2 == 0 {
						created[name] = true
					} else {
						updated[name] = max(updated[name], i)
					}
				}
				mu.Unlock()
				if err != nil {
					return // the server is gone
				}
			}
		})
	}
	// Kill mid-burst, once enough writes were acknowledged.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(created) + len(updated)
		mu.Unlock()
		if n >= 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.stop(syscall.SIGKILL)
	wg.Wait()
	stopBurst()
	mu.Lock()
	t.Logf("%d writes attempted, %d creates and %d updated groups acknowledged before SIGKILL", attempts, len(created), len(updated))
	if len(created) < 50 {
		t.Fatalf("only %d creates acknowledged: the burst did not get going", len(created))
	}
	mu.Unlock()

	// Restart on the same directory.
	s2 := s
	s2.restart()
	checkListeningLog(t, s2)
	st, b, _, err = s2.do(ctx, http.MethodGet, "/subscriptions/"+sub+"/resourcegroups", "")
	if err != nil || st != http.StatusOK {
		t.Fatalf("list groups after restart: %d %s %v", st, b, err)
	}
	var list struct{ Value []group }
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	stored := map[string]group{}
	for _, g := range list.Value {
		stored[g.Name] = g
	}
	var lost []string
	for name := range created {
		if _, ok := stored[name]; !ok {
			lost = append(lost, name)
		}
	}
	for name, seq := range updated {
		g, ok := stored[name]
		got, _ := strconv.Atoi(g.Tags["seq"])
		if !ok || got < seq {
			lost = append(lost, fmt.Sprintf("%s (seq %d acknowledged, %q stored)", name, seq, g.Tags["seq"]))
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d acknowledged writes lost after SIGKILL: %v", len(lost), lost)
	}
	if st, b, _, err := s2.do(ctx, http.MethodGet, vnet, ""); err != nil || st != http.StatusOK || !bytes.Contains(b, []byte(`"provisioningState":"Succeeded"`)) {
		t.Fatalf("VNet after restart: %d %s %v", st, b, err)
	}
	// The restarted server takes writes and stops cleanly on SIGTERM.
	if st, b, _, err := s2.do(ctx, http.MethodPut, groupPath("after"), `{"location":"westeurope"}`); err != nil || st != http.StatusCreated {
		t.Fatalf("PUT after restart: %d %s %v", st, b, err)
	}
	if !s2.stop(syscall.SIGTERM) {
		t.Fatalf("vpngw serve did not stop on SIGTERM:\n%s", s2.logText())
	}
	if err := s2.proc.Err(); err != nil {
		t.Fatalf("vpngw serve exited with %v after SIGTERM:\n%s", err, s2.logText())
	}
	if !strings.Contains(s2.logText(), "shutting down") {
		t.Errorf("no shutdown log:\n%s", s2.logText())
	}
}

// TestServeFlags checks flag errors exit with the usage code before
// touching anything.
func TestServeFlags(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--provider", "cloud"},
		{"serve", "--public-ip-pool", "not-a-cidr"},
		{"serve", "--log-level", "loud"},
		{"serve", "--bogus"},
	} {
		cmd := exec.Command(vpngwBin(t), append(args, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0")...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit code 2\n%s", args, err, out)
		}
	}
}

// waitOp polls an Azure-AsyncOperation URL until the operation succeeds.
func waitOp(t *testing.T, s *server, u string) {
	t.Helper()
	if u == "" {
		t.Fatal("no Azure-AsyncOperation header")
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st, b, _, err := s.do(context.Background(), http.MethodGet, u, "")
		if err != nil || st != http.StatusOK {
			t.Fatalf("poll %s: %d %s %v", u, st, b, err)
		}
		var op struct{ Status string }
		json.Unmarshal(b, &op)
		switch op.Status {
		case "Succeeded":
			return
		case "InProgress":
			time.Sleep(10 * time.Millisecond)
		default:
			t.Fatalf("operation %s: %s", u, b)
		}
	}
	t.Fatalf("operation %s did not finish", u)
}
