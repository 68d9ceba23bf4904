package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
	"github.com/vpngw/vpngw/internal/store/boltstore"
)

func activityStore(t *testing.T) store.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "vpngw.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestActivityLogBounded: the log keeps the newest activityRingSize
// entries; compaction deletes the older keys.
func TestActivityLogBounded(t *testing.T) {
	st := activityStore(t)
	l := &activityLog{st: st, log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	const n = activityRingSize + activityCompactEvery + 10
	for i := range n {
		ts := t0.Add(time.Duration(i) * time.Second)
		l.add(ctx, &EventData{OperationID: fmt.Sprintf("op%04d", i), SubmissionTimestamp: ts, EventTimestamp: ts, SubscriptionID: testSub})
	}
	kvs, _, err := st.List(ctx, ActivityKeyPrefix)
	if err != nil {
		t.Fatal(err)
	}
	// Compacted at the last multiple of activityCompactEvery, then 10 more.
	if want := activityRingSize + n%activityCompactEvery; len(kvs) != want {
		t.Errorf("%d keys stored, want %d", len(kvs), want)
	}
	es, err := l.entries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != activityRingSize || es[0].OperationID != fmt.Sprintf("op%04d", n-1) || es[len(es)-1].OperationID != fmt.Sprintf("op%04d", n-activityRingSize) {
		t.Errorf("entries: %d, newest %s, oldest %s", len(es), es[0].OperationID, es[len(es)-1].OperationID)
	}
}

// TestActivityLogConcurrentUpdates: updates of one entry from several
// writers (replicas) at once are compare-and-swaps: none is lost.
func TestActivityLogConcurrentUpdates(t *testing.T) {
	st := activityStore(t)
	ctx := context.Background()
	writers := []*activityLog{{st: st, log: slog.New(slog.DiscardHandler)}, {st: st, log: slog.New(slog.DiscardHandler)}}
	missing := func() *EventData { return &EventData{OperationID: "op", Properties: map[string]string{}} }
	const each = 15
	var wg sync.WaitGroup
	for _, l := range writers {
		wg.Go(func() {
			for range each {
				l.update(ctx, "op", func(e *EventData) {
					n, _ := strconv.Atoi(e.Properties["n"])
					e.Properties["n"] = strconv.Itoa(n + 1)
				}, missing)
			}
		})
	}
	wg.Wait()
	es, err := writers[0].entries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Properties["n"] != strconv.Itoa(len(writers)*each) {
		t.Errorf("entries after %d concurrent updates: %+v", len(writers)*each, es)
	}
}

// TestActivityLogSharedByServers: two API servers on one store (replicas):
// an operation through one and a refused write through the other show in
// both servers' activity logs.
func TestActivityLogSharedByServers(t *testing.T) {
	h1 := newHarness(t, Config{})
	h2 := newHarness(t, Config{Store: h1.st})
	h1.put(groupPathOf("rg"), map[string]any{"location": "westeurope"})
	lng := rid("rg", "localNetworkGateways", "site")
	h1.wait(h1.put(lng, map[string]any{"location": "westeurope", "properties": map[string]any{
		"gatewayIpAddress": "192.0.2.1", "localNetworkAddressSpace": map[string]any{"addressPrefixes": []string{"192.168.1.0/24"}}}}))
	bad := rid("rg", "localNetworkGateways", "bad")
	h2.expect(h2.do(http.MethodPut, bad+"?api-version="+testAPIVersion, map[string]any{"location": "westeurope",
		"properties": map[string]any{"gatewayIpAddress": "not-an-ip"}}), http.StatusBadRequest)
	for i, h := range []*harness{h1, h2} {
		var log struct {
			Value []EventData `json:"value"`
		}
		h.expect(h.do(http.MethodGet, resource.ActivityLogPath(testSub)+"?api-version="+ActivityLogAPIVersion, nil), http.StatusOK).json(t, &log)
		got := map[string]string{}
		for _, e := range log.Value {
			got[e.ResourceID] = e.Status.Value
		}
		if got[lng] != StatusSucceeded || got[bad] != StatusFailed {
			t.Errorf("server %d's activity log: %v", i+1, got)
		}
	}
}
