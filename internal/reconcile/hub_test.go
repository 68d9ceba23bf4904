package reconcile_test

import (
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
