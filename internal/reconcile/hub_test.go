package reconcile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/reconcile"
)

func TestHubTokenUnknownAndGone(t *testing.T) {
	hub := reconcile.NewHub("s3cret", nil)
	srv := httptest.NewServer(hub)
	defer srv.Close()
	get := func(id, token string) int {
		req, _ := http.NewRequest("GET", srv.URL+"/agent/v1/instances/"+id+"/config?after=0&wait=50ms", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get("i-0", ""); c != http.StatusUnauthorized {
		t.Fatalf("no token: %d", c)
	}
	if c := get("i-0", "wrong"); c != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", c)
	}
	if c := get("i-0", "s3cret"); c != http.StatusUnauthorized {
		t.Fatalf("the agent key itself: %d", c)
	}
	if c := get("i-0", agentapi.InstanceToken("s3cret", "i-1")); c != http.StatusUnauthorized {
		t.Fatalf("another instance's token: %d", c)
	}
	tok := agentapi.InstanceToken("s3cret", "i-0")
	if c := get("i-0", tok); c != http.StatusNotFound {
		t.Fatalf("unknown instance: %d", c)
	}
	revs := hub.Set(map[string]agentapi.Assignment{"i-0": {Role: agentapi.RoleActive}})
	if c := get("i-0", tok); c != http.StatusOK || revs["i-0"] == 0 {
		t.Fatalf("assigned instance: %d rev %d", c, revs["i-0"])
	}
	// The same assignment again keeps its revision.
	if r2 := hub.Set(map[string]agentapi.Assignment{"i-0": {Role: agentapi.RoleActive}}); r2["i-0"] != revs["i-0"] {
		t.Fatal("unchanged assignment got a new revision")
	}
	hub.Set(nil)
	if c := get("i-0", tok); c != http.StatusGone {
		t.Fatalf("deleted instance: %d", c)
	}
	req, _ := http.NewRequest("PUT", srv.URL+"/agent/v1/instances/i-0/status", strings.NewReader(`{"revision":1}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("report from a deleted instance: %d", resp.StatusCode)
	}
}

// TestHubRevisionFromAnotherReplica: an instance that runs a revision
// above the hub's (handed out by another control plane replica whose
// clock ran ahead) gets the hub's assignment at once, and its report of
// that foreign revision does not count as applying the hub's.
func TestHubRevisionFromAnotherReplica(t *testing.T) {
	hub := reconcile.NewHub("", nil)
	srv := httptest.NewServer(hub)
	defer srv.Close()
	revs := hub.Set(map[string]agentapi.Assignment{"i-0": {Role: agentapi.RoleActive}})
	ahead := revs["i-0"] + int64(time.Hour)
	resp, err := http.Get(srv.URL + agentapi.ConfigPath("i-0", ahead, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var a agentapi.Assignment
	err = json.NewDecoder(resp.Body).Decode(&a)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || a.Revision != revs["i-0"] {
		t.Fatalf("long poll after a foreign revision: %d %v %+v", resp.StatusCode, err, a)
	}
	for _, tc := range []struct {
		reported, want int64
	}{
		{ahead, -1},
		{revs["i-0"], revs["i-0"]},
	} {
		req, _ := http.NewRequest("PUT", srv.URL+agentapi.StatusPath("i-0"), strings.NewReader(fmt.Sprintf(`{"revision":%d}`, tc.reported)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if s, ok := hub.Report("i-0"); !ok || s.Revision != tc.want {
			t.Errorf("reported %d: hub keeps %d, want %d", tc.reported, s.Revision, tc.want)
		}
	}
}

// TestHubClosedPoll: an instance whose long poll ends because its client
// went away (its connection closed) is marked closed (Seen.ClosedAt) until
// its next request; a poll that runs its course is not, also behind a
// server whose read timeout is shorter than the poll (net/http lifts the
// read deadline while it watches the connection during the handler; were
// it to time out, that would read as the client gone); an instance that
// never reported is never marked.
func TestHubClosedPoll(t *testing.T) {
	hub := reconcile.NewHub("", nil)
	srv := httptest.NewUnstartedServer(hub)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	revs := hub.Set(map[string]agentapi.Assignment{"i-0": {Role: agentapi.RoleActive}, "i-1": {Role: agentapi.RoleStandby}})
	poll := func(ctx context.Context, id string, wait time.Duration) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/agent/v1/instances/%s/config?after=%d&wait=%v", srv.URL, id, revs[id], wait), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	report := func(id string) {
		req, _ := http.NewRequest("PUT", srv.URL+"/agent/v1/instances/"+id+"/status", strings.NewReader(fmt.Sprintf(`{"revision":%d}`, revs[id])))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("report: %d", resp.StatusCode)
		}
	}
	closedAt := func(id string) time.Time {
		s, _ := hub.Report(id)
		return s.ClosedAt
	}
	report("i-0")
	// A poll longer than the server's read timeout runs its course.
	if code, err := poll(context.Background(), "i-0", time.Second); err != nil || code != http.StatusNoContent {
		t.Fatalf("a poll past the read timeout: %d %v", code, err)
	}
	if at := closedAt("i-0"); !at.IsZero() {
		t.Fatalf("a poll that ran its course marked the instance closed at %v", at)
	}
	// A client that goes away mid-poll.
	gone := func(id string) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _, _ = poll(ctx, id, 5*time.Second); close(done) }()
		time.Sleep(100 * time.Millisecond)
		cancel()
		<-done
	}
	gone("i-0")
	waitFor(t, 2*time.Second, func() bool { return !closedAt("i-0").IsZero() }, "a poll whose client went away did not mark the instance closed")
	if s, ok := hub.Report("i-0"); !ok || s.Revision != revs["i-0"] {
		t.Fatalf("a closed instance lost its report: %+v %v", s, ok)
	}
	// Its next request clears the mark: a report, or a poll.
	report("i-0")
	if at := closedAt("i-0"); !at.IsZero() {
		t.Fatal("a report did not clear the closed mark")
	}
	gone("i-0")
	waitFor(t, 2*time.Second, func() bool { return !closedAt("i-0").IsZero() }, "not marked closed again")
	if code, err := poll(context.Background(), "i-0", 50*time.Millisecond); err != nil || code != http.StatusNoContent {
		t.Fatalf("poll: %d %v", code, err)
	}
	if at := closedAt("i-0"); !at.IsZero() {
		t.Fatal("a poll did not clear the closed mark")
	}
	// Never reported: nothing to mark.
	gone("i-1")
	time.Sleep(100 * time.Millisecond)
	if _, ok := hub.Report("i-1"); ok {
		t.Fatal("an instance that never reported has a report")
	}
}

func TestCheckFailoverAfter(t *testing.T) {
	for _, tc := range []struct {
		d  time.Duration
		ok bool
	}{
		{0, true}, // the default
		{reconcile.MinFailoverAfter, true},
		{reconcile.DefaultFailoverAfter, true},
		{reconcile.MaxFailoverAfter, true},
		{reconcile.MinFailoverAfter - time.Millisecond, false},
		{agentapi.ReportEvery, false}, // one late heartbeat would fail over
		{reconcile.MaxFailoverAfter + time.Second, false},
		{-time.Second, false},
	} {
		if err := reconcile.CheckFailoverAfter(tc.d); (err == nil) != tc.ok {
			t.Errorf("CheckFailoverAfter(%v) = %v, want ok %v", tc.d, err, tc.ok)
		} else if err != nil && !strings.Contains(err.Error(), "--failover-after") {
			t.Errorf("CheckFailoverAfter(%v) = %v: does not name the flag", tc.d, err)
		}
	}
}
