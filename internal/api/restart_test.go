package api

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
	"github.com/vpngw/vpngw/internal/store/boltstore"
)

// TestRestartResumesOperations stops a server with operations in progress
// and starts a new one on the same data directory: a client re-attaches to
// the same operation URLs and sees them finish.
func TestRestartResumesOperations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vpngw.db")
	st1, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	gate := newGate()
	gate.teardown = true
	close(gate.release)
	h := newHarness(t, Config{Store: st1, Provisioner: gate})
	h.put(groupPathOf("rg"), groupBody())
	h.put(groupPathOf("doomed"), groupBody())
	h.put(rid("doomed", "publicIPAddresses", "p"), pipBody())
	h.put(rid("doomed", "localNetworkGateways", "l"), lngBody("192.0.2.7", "192.168.7.0/24"))
	h.put(rid("rg", "localNetworkGateways", "lost"), lngBody("192.0.2.8", "192.168.8.0/24"))
	for len(gate.started) > 0 {
		<-gate.started
	}
	gate.release = make(chan struct{}) // from now on, hold operations

	put := h.expect(h.do(http.MethodPut, rid("rg", "localNetworkGateways", "site"), lngBody("192.0.2.1", "192.168.1.0/24")), http.StatusCreated)
	gate.waitStarted(t)
	del := h.expect(h.do(http.MethodDelete, groupPathOf("doomed"), nil), http.StatusAccepted)
	gate.waitStarted(t)
	lost := h.expect(h.do(http.MethodPut, rid("rg", "localNetworkGateways", "lost"), lngBody("192.0.2.9", "192.168.8.0/24")), http.StatusOK)
	gate.waitStarted(t)
	oldBase := h.ts.URL
	h.stop()
	if err := st1.Close(); err != nil {
		t.Fatal(err)
	}

	// The store file holds the operations in progress. Lose one operation
	// record: the resource still says Updating, so it is resumed anyway.
	st2, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	lostOp := lost.header.Get("Azure-AsyncOperation")
	lostOp = lostOp[strings.LastIndex(lostOp, "/")+1 : strings.Index(lostOp, "?")]
	if _, err := st2.Delete(t.Context(), registry.OperationKey(lostOp), 0); err != nil {
		t.Fatal(err)
	}

	h2 := newHarness(t, Config{Store: st2})
	rebase := func(u string) string { return strings.Replace(u, oldBase, h2.ts.URL, 1) }
	if st := h2.waitURL(rebase(put.header.Get("Azure-AsyncOperation"))); st.Status != StatusSucceeded {
		t.Fatalf("resumed PUT: %+v", st)
	}
	h2.expect(h2.do(http.MethodGet, rebase(put.header.Get("Location")), nil), http.StatusOK)
	if s := provState(h2.get(rid("rg", "localNetworkGateways", "site"))); s != resource.ProvisioningSucceeded {
		t.Fatalf("resumed resource: %s", s)
	}
	if st := h2.waitURL(rebase(del.header.Get("Azure-AsyncOperation"))); st.Status != StatusSucceeded {
		t.Fatalf("resumed group delete: %+v", st)
	}
	h2.expect(h2.do(http.MethodGet, rebase(del.header.Get("Location")), nil), http.StatusNoContent)
	h2.expectErr(h2.do(http.MethodGet, groupPathOf("doomed"), nil), http.StatusNotFound, armerr.CodeResourceGroupNotFound)
	h2.expectErr(h2.do(http.MethodGet, rebase(lost.header.Get("Azure-AsyncOperation")), nil), http.StatusNotFound, armerr.CodeOperationNotFound)
	lostPath := rid("rg", "localNetworkGateways", "lost")
	for i := 0; provState(h2.get(lostPath)) != resource.ProvisioningSucceeded; i++ {
		if i > 1000 {
			t.Fatalf("resource with a lost operation not resumed: %s", provState(h2.get(lostPath)))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if ip := h2.get(lostPath)["properties"].(map[string]any)["gatewayIpAddress"]; ip != "192.0.2.9" {
		t.Fatalf("resumed update lost its state: %v", ip)
	}
	// The new server's activity log has the resumed operations' ends.
	var log struct {
		Value []EventData `json:"value"`
	}
	h2.expect(h2.do(http.MethodGet, resource.ActivityLogPath(testSub)+"?api-version="+ActivityLogAPIVersion, nil), http.StatusOK).json(t, &log)
	// The log is in the store: the group delete the first server accepted
	// is one entry, its start by the client and its end by the new server;
	// the operation whose start was never logged gets an entry of its own.
	resumed, deletes := map[string]string{}, map[string]string{}
	for _, e := range log.Value {
		if e.Caller == resumedCaller {
			resumed[e.OperationName.Value] = e.Status.Value
		}
		if e.OperationName.Value == "Microsoft.Resources/subscriptions/resourceGroups/delete" {
			deletes[e.OperationID] = e.Caller + ": " + e.Status.Value
		}
	}
	if resumed["Microsoft.Network/localNetworkGateways/write"] != StatusSucceeded {
		t.Errorf("resumed operations in the activity log: %v (%+v)", resumed, log.Value)
	}
	if len(deletes) != 1 {
		t.Errorf("the group delete's entries: %v, want one", deletes)
	}
	for _, d := range deletes {
		if !strings.HasSuffix(d, ": "+StatusSucceeded) || strings.HasPrefix(d, resumedCaller) {
			t.Errorf("the group delete's entry: %s, want the client's, Succeeded", d)
		}
	}
	// The deleted group's public IP address was released.
	kvs, _, err := st2.List(t.Context(), registry.AddressKeyPrefix)
	if err != nil || len(kvs) != 0 {
		t.Fatalf("address reservations after the group delete: %v %v", kvs, err)
	}
}

// faultyStore fails Get when told to, with an error text that must not
// reach clients.
type faultyStore struct {
	store.Store
	fail atomic.Bool
}

func (f *faultyStore) Get(ctx context.Context, key string) (store.KV, error) {
	if f.fail.Load() {
		return store.KV{}, errors.New("disk error at /very/secret/internal/path")
	}
	return f.Store.Get(ctx, key)
}

// TestInternalErrors: unexpected errors are 500 InternalServerError,
// logged with the request ID, not shown to the client.
func TestInternalErrors(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "vpngw.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fs := &faultyStore{Store: st}
	h := newHarness(t, Config{Store: fs})
	h.put(groupPathOf("rg"), groupBody())
	fs.fail.Store(true)
	r := h.do(http.MethodGet, groupPathOf("rg"), nil)
	h.expectErr(r, http.StatusInternalServerError, armerr.CodeInternal)
	if strings.Contains(string(r.body), "secret") {
		t.Fatalf("500 body leaks internals: %s", r.body)
	}
	reqID := r.header.Get("x-ms-request-id")
	logs := h.logs.String()
	if reqID == "" || !strings.Contains(logs, reqID) || !strings.Contains(logs, "/very/secret/internal/path") {
		t.Fatalf("internal error not logged with request ID %q:\n%s", reqID, logs)
	}
}
