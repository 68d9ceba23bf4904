// Package storetest is the conformance suite for store.Store
// implementations. An implementation's test calls Run with a Harness that
// opens fresh, empty stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{Open: func(t *testing.T) store.Store { ... }})
//	}
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/store"
)

// Harness tells the suite how to get stores.
type Harness struct {
	// Open returns a new, empty store. The suite closes it (closing twice
	// must be harmless); Open may also register its own cleanup.
	Open func(t *testing.T) store.Store
	// Compact, if set, makes every revision up to and including rev
	// unavailable to Watch (etcd's Compact). The compaction subtests are
	// skipped without it.
	Compact func(t *testing.T, s store.Store, rev int64)
}

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"RevisionsMonotonic", testRevisionsMonotonic},
		{"List", testList},
		{"CompareAndSwap", testCompareAndSwap},
		{"Delete", testDelete},
		{"Txn", testTxn},
		{"InvalidArguments", testInvalidArguments},
		{"CanceledContext", testCanceledContext},
		{"ConcurrentCAS", testConcurrentCAS},
		{"WatchOrder", testWatchOrder},
		{"WatchReplay", testWatchReplay},
		{"WatchTxnOneRevision", testWatchTxnOneRevision},
		{"WatchConcurrentWriters", testWatchConcurrentWriters},
		{"WatchCancel", testWatchCancel},
		{"WatchCompacted", testWatchCompacted},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, h) })
	}
}

func open(t *testing.T, h Harness) store.Store {
	t.Helper()
	s := h.Open(t)
	t.Cleanup(func() { s.Close() })
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustPut(t *testing.T, s store.Store, k, v string) int64 {
	t.Helper()
	rev, err := s.Put(ctxT(t), k, []byte(v))
	if err != nil {
		t.Fatalf("Put(%q): %v", k, err)
	}
	return rev
}

func mustGet(t *testing.T, s store.Store, k string) store.KV {
	t.Helper()
	kv, err := s.Get(ctxT(t), k)
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	return kv
}

func testGetMissing(t *testing.T, h Harness) {
	s := open(t, h)
	if _, err := s.Get(ctxT(t), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
}

func testPutGet(t *testing.T, h Harness) {
	s := open(t, h)
	r1 := mustPut(t, s, "a", "one")
	kv := mustGet(t, s, "a")
	want := store.KV{Key: "a", Value: []byte("one"), CreateRevision: r1, ModRevision: r1, Version: 1}
	if !kvEqual(kv, want) {
		t.Fatalf("after create: %+v, want %+v", kv, want)
	}
	r2 := mustPut(t, s, "a", "two")
	if r2 <= r1 {
		t.Fatalf("second Put revision %d not after %d", r2, r1)
	}
	kv = mustGet(t, s, "a")
	want = store.KV{Key: "a", Value: []byte("two"), CreateRevision: r1, ModRevision: r2, Version: 2}
	if !kvEqual(kv, want) {
		t.Fatalf("after update: %+v, want %+v", kv, want)
	}
	// The returned value is the caller's to modify.
	kv.Value[0] = 'X'
	if got := mustGet(t, s, "a"); string(got.Value) != "two" {
		t.Fatalf("modifying a returned value changed the store: %q", got.Value)
	}
	// Empty values are values.
	mustPut(t, s, "empty", "")
	if got := mustGet(t, s, "empty"); len(got.Value) != 0 {
		t.Fatalf("empty value came back as %q", got.Value)
	}
}

func testRevisionsMonotonic(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := ctxT(t)
	var last int64
	for i := range 20 {
		var (
			rev int64
			err error
		)
		switch i % 4 {
		case 0, 1:
			rev, err = s.Put(ctx, "k"+strconv.Itoa(i%3), []byte{byte(i)})
		case 2:
			rev, err = s.CompareAndSwap(ctx, "cas"+strconv.Itoa(i), []byte("x"), 0)
		case 3:
			rev, err = s.Delete(ctx, "cas"+strconv.Itoa(i-1), 0)
		}
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if rev != last+1 && last != 0 {
			t.Fatalf("write %d: revision %d, want %d (one per commit)", i, rev, last+1)
		}
		if rev <= last {
			t.Fatalf("write %d: revision %d not after %d", i, rev, last)
		}
		last = rev
		// A failed write does not advance the revision.
		if _, err := s.CompareAndSwap(ctx, "k0", []byte("y"), 1<<40); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale CAS = %v, want ErrConflict", err)
		}
	}
	_, rev, err := s.List(ctx, "")
	if err != nil || rev != last {
		t.Fatalf("List revision = %d, %v; want %d", rev, err, last)
	}
}

func testList(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := ctxT(t)
	for _, k := range []string{"b/2", "a/1", "b/1", "b", "c/1", "b/10"} {
		mustPut(t, s, k, "v-"+k)
	}
	kvs, rev, err := s.List(ctx, "b/")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(kvs), []string{"b/1", "b/10", "b/2"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("List(b/) = %v, want %v", got, want)
	}
	for _, kv := range kvs {
		if string(kv.Value) != "v-"+kv.Key || kv.ModRevision == 0 || kv.CreateRevision == 0 {
			t.Fatalf("List entry %+v", kv)
		}
	}
	for _, kv := range kvs {
		if kv.ModRevision > rev {
			t.Fatalf("List revision %d older than entry %+v", rev, kv)
		}
	}
	all, _, err := s.List(ctx, "")
	if err != nil || len(all) != 6 || all[0].Key != "a/1" || all[5].Key != "c/1" {
		t.Fatalf("List(\"\") = %v, %v", keys(all), err)
	}
	none, _, err := s.List(ctx, "zzz")
	if err != nil || len(none) != 0 {
		t.Fatalf("List(zzz) = %v, %v", keys(none), err)
	}
}

func testCompareAndSwap(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := ctxT(t)
	r1, err := s.CompareAndSwap(ctx, "k", []byte("1"), 0)
	if err != nil {
		t.Fatalf("create with expected 0: %v", err)
	}
	if _, err := s.CompareAndSwap(ctx, "k", []byte("x"), 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("create over existing = %v, want ErrConflict", err)
	}
	r2, err := s.CompareAndSwap(ctx, "k", []byte("2"), r1)
	if err != nil {
		t.Fatalf("swap at current revision: %v", err)
	}
	if _, err := s.CompareAndSwap(ctx, "k", []byte("x"), r1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("swap at stale revision = %v, want ErrConflict", err)
	}
	if _, err := s.CompareAndSwap(ctx, "absent", []byte("x"), r2); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("swap of absent key at nonzero revision = %v, want ErrConflict", err)
	}
	if kv := mustGet(t, s, "k"); string(kv.Value) != "2" || kv.ModRevision != r2 {
		t.Fatalf("after CAS: %+v", kv)
	}
	if _, err := s.Get(ctx, "absent"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("failed CAS created the key: %v", err)
	}
}

func testDelete(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := ctxT(t)
	if _, err := s.Delete(ctx, "nope", 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Delete(missing) = %v, want ErrNotFound", err)
	}
	r1 := mustPut(t, s, "k", "v")
	if _, err := s.Delete(ctx, "k", r1+100); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Delete at wrong revision = %v, want ErrConflict", err)
	}
	mustGet(t, s, "k")
	r2, err := s.Delete(ctx, "k", r1)
	if err != nil || r2 <= r1 {
		t.Fatalf("Delete at revision = %d, %v", r2, err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
	// Re-creating starts a new life.
	r3 := mustPut(t, s, "k", "again")
	if kv := mustGet(t, s, "k"); kv.CreateRevision != r3 || kv.Version != 1 {
		t.Fatalf("re-created key: %+v, want CreateRevision %d Version 1", kv, r3)
	}
	// Unconditional delete.
	if _, err := s.Delete(ctx, "k", 0); err != nil {
		t.Fatal(err)
	}
}

func testTxn(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := ctxT(t)
	ra := mustPut(t, s, "a", "1")
	mustPut(t, s, "b", "1")

	// A failing comparison writes nothing.
	_, before, _ := s.List(ctx, "")
	_, err := s.Txn(ctx,
		[]store.Cmp{{Key: "a", ModRevision: ra}, {Key: "c", ModRevision: 5}},
		[]store.Op{store.PutOp("a", []byte("2")), store.DeleteOp("b"), store.PutOp("c", []byte("new"))})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Txn with failing cmp = %v, want ErrConflict", err)
	}
	_, after, _ := s.List(ctx, "")
	if after != before || string(mustGet(t, s, "a").Value) != "1" {
		t.Fatal("failed Txn changed the store")
	}
	mustGet(t, s, "b")

	// A passing one applies everything at one revision.
	rev, err := s.Txn(ctx,
		[]store.Cmp{{Key: "a", ModRevision: ra}, {Key: "c", ModRevision: 0}},
		[]store.Op{store.PutOp("a", []byte("2")), store.DeleteOp("b"), store.PutOp("c", []byte("new")), store.DeleteOp("never-existed")})
	if err != nil {
		t.Fatalf("Txn: %v", err)
	}
	if rev != before+1 {
		t.Fatalf("Txn revision %d, want %d", rev, before+1)
	}
	if kv := mustGet(t, s, "a"); string(kv.Value) != "2" || kv.ModRevision != rev {
		t.Fatalf("a after Txn: %+v", kv)
	}
	if kv := mustGet(t, s, "c"); kv.CreateRevision != rev {
		t.Fatalf("c after Txn: %+v", kv)
	}
	if _, err := s.Get(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("b after Txn: %v", err)
	}

	// A Txn that changes nothing does not advance the revision.
	r, err := s.Txn(ctx, nil, []store.Op{store.DeleteOp("b")})
	if err != nil || r != rev {
		t.Fatalf("no-op Txn = %d, %v; want %d", r, err, rev)
	}
	r, err = s.Txn(ctx, []store.Cmp{{Key: "c", ModRevision: rev}}, nil)
	if err != nil || r != rev {
		t.Fatalf("compare-only Txn = %d, %v; want %d", r, err, rev)
	}
}

func testInvalidArguments(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := ctxT(t)
	calls := map[string]func() error{
		"Get empty":  func() error { _, err := s.Get(ctx, ""); return err },
		"Put empty":  func() error { _, err := s.Put(ctx, "", nil); return err },
		"CAS empty":  func() error { _, err := s.CompareAndSwap(ctx, "", nil, 0); return err },
		"CAS neg":    func() error { _, err := s.CompareAndSwap(ctx, "k", nil, -1); return err },
		"Delete neg": func() error { _, err := s.Delete(ctx, "k", -1); return err },
		"Txn dup": func() error {
			_, err := s.Txn(ctx, nil, []store.Op{store.PutOp("k", nil), store.DeleteOp("k")})
			return err
		},
		"Txn empty cmp": func() error { _, err := s.Txn(ctx, []store.Cmp{{}}, nil); return err },
		"Watch neg":     func() error { _, err := s.Watch(ctx, "", -1); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("%s = %v, want ErrInvalidArgument", name, err)
		}
	}
	if kvs, _, _ := s.List(ctx, ""); len(kvs) != 0 {
		t.Fatalf("invalid calls wrote %v", keys(kvs))
	}
}

func testCanceledContext(t *testing.T, h Harness) {
	s := open(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Put(ctx, "k", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with canceled ctx = %v", err)
	}
	if _, err := s.Get(ctxT(t), "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Put with canceled ctx wrote: %v", err)
	}
}

func testConcurrentCAS(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := ctxT(t)
	const workers, each = 4, 25
	mustPut(t, s, "counter", "0")
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				for {
					kv, err := s.Get(ctx, "counter")
					if err != nil {
						errs <- err
						return
					}
					n, _ := strconv.Atoi(string(kv.Value))
					_, err = s.CompareAndSwap(ctx, "counter", []byte(strconv.Itoa(n+1)), kv.ModRevision)
					if err == nil {
						break
					}
					if !errors.Is(err, store.ErrConflict) {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := string(mustGet(t, s, "counter").Value); got != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %s, want %d: a CAS lost an update", got, workers*each)
	}
}

// Next receives one response from a watch channel, failing the test if
// the channel is closed or nothing arrives within 10 seconds.
func Next(t *testing.T, ch <-chan store.WatchResponse) store.WatchResponse {
	t.Helper()
	select {
	case r, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed early")
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a watch event")
	}
	panic("unreachable")
}

func testWatchOrder(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := ctxT(t)
	_, rev, err := s.List(ctx, "w/")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := s.Watch(ctx, "w/", rev)
	if err != nil {
		t.Fatal(err)
	}
	r1 := mustPut(t, s, "w/a", "1")
	mustPut(t, s, "other", "x") // not under the prefix
	r2 := mustPut(t, s, "w/b", "2")
	r3, err := s.Delete(ctx, "w/a", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Event{
		{Type: store.EventPut, Key: "w/a", Value: []byte("1"), Revision: r1},
		{Type: store.EventPut, Key: "w/b", Value: []byte("2"), Revision: r2},
		{Type: store.EventDelete, Key: "w/a", Revision: r3},
	}
	for i, w := range want {
		r := Next(t, ch)
		if r.Err != nil || len(r.Events) != 1 || !eventEqual(r.Events[0], w) {
			t.Fatalf("response %d = %+v, want %+v", i, r, w)
		}
	}
	select {
	case r := <-ch:
		t.Fatalf("unexpected extra response %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
}

func testWatchReplay(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := ctxT(t)
	var revs []int64
	for i := range 5 {
		revs = append(revs, mustPut(t, s, "p/k", strconv.Itoa(i)))
	}
	// From the second write: the last four.
	ch, err := s.Watch(ctx, "p/", revs[0])
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 5; i++ {
		r := Next(t, ch)
		if len(r.Events) != 1 || r.Events[0].Revision != revs[i] || string(r.Events[0].Value) != strconv.Itoa(i) {
			t.Fatalf("replay %d = %+v", i, r)
		}
	}
	// Then live events.
	rl := mustPut(t, s, "p/k", "live")
	if r := Next(t, ch); r.Events[0].Revision != rl {
		t.Fatalf("live event = %+v", r)
	}
	// From 0: everything retained.
	ch0, err := s.Watch(ctx, "p/", 0)
	if err != nil {
		t.Fatal(err)
	}
	if r := Next(t, ch0); r.Events[0].Revision != revs[0] {
		t.Fatalf("watch from 0 starts at %+v, want revision %d", r, revs[0])
	}
}

func testWatchTxnOneRevision(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := ctxT(t)
	mustPut(t, s, "t/old", "x")
	_, rev, _ := s.List(ctx, "")
	ch, err := s.Watch(ctx, "t/", rev)
	if err != nil {
		t.Fatal(err)
	}
	trev, err := s.Txn(ctx, nil, []store.Op{store.PutOp("t/b", []byte("b")), store.DeleteOp("t/old"), store.PutOp("u/x", nil), store.PutOp("t/a", []byte("a"))})
	if err != nil {
		t.Fatal(err)
	}
	r := Next(t, ch)
	want := []store.Event{
		{Type: store.EventPut, Key: "t/b", Value: []byte("b"), Revision: trev},
		{Type: store.EventDelete, Key: "t/old", Revision: trev},
		{Type: store.EventPut, Key: "t/a", Value: []byte("a"), Revision: trev},
	}
	if len(r.Events) != len(want) {
		t.Fatalf("Txn delivered %+v, want %+v", r.Events, want)
	}
	for i := range want {
		if !eventEqual(r.Events[i], want[i]) {
			t.Fatalf("event %d = %+v, want %+v", i, r.Events[i], want[i])
		}
	}
}

func testWatchConcurrentWriters(t *testing.T, h Harness) {
	s := open(t, h)
	ctx := ctxT(t)
	ch, err := s.Watch(ctx, "c/", 0)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 20
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		acc = map[int64]string{}
	)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				k := fmt.Sprintf("c/%d/%d", w, i)
				rev, err := s.Put(ctx, k, []byte(k))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acc[rev] = k
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	var last int64
	for range workers * each {
		r := Next(t, ch)
		if len(r.Events) != 1 {
			t.Fatalf("response %+v", r)
		}
		e := r.Events[0]
		if e.Revision <= last {
			t.Fatalf("revision %d after %d: out of order", e.Revision, last)
		}
		last = e.Revision
		if acc[e.Revision] != e.Key {
			t.Fatalf("event %+v, but revision %d was acknowledged for %q", e, e.Revision, acc[e.Revision])
		}
		delete(acc, e.Revision)
	}
	if len(acc) != 0 {
		t.Fatalf("acknowledged writes never seen by the watcher: %v", acc)
	}
}

func testWatchCancel(t *testing.T, h Harness) {
	s := open(t, h)
	ctx, cancel := context.WithCancel(ctxT(t))
	ch, err := s.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("watch channel not closed after cancel")
		}
	}
}

func testWatchCompacted(t *testing.T, h Harness) {
	if h.Compact == nil {
		t.Skip("harness has no Compact")
	}
	s := open(t, h)
	ctx := ctxT(t)
	var revs []int64
	for i := range 10 {
		revs = append(revs, mustPut(t, s, "k", strconv.Itoa(i)))
	}
	h.Compact(t, s, revs[5])
	if _, err := s.Watch(ctx, "", revs[4]); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("Watch before the compacted revision = %v, want ErrCompacted", err)
	}
	ch, err := s.Watch(ctx, "", revs[5])
	if err != nil {
		t.Fatalf("Watch at the compacted revision: %v", err)
	}
	if r := Next(t, ch); r.Err != nil || r.Events[0].Revision != revs[6] {
		t.Fatalf("first event after compaction = %+v, want revision %d", r, revs[6])
	}
	// Data is unaffected by compaction.
	if kv := mustGet(t, s, "k"); string(kv.Value) != "9" || kv.Version != 10 {
		t.Fatalf("after compaction: %+v", kv)
	}
}

func testClose(t *testing.T, h Harness) {
	s := h.Open(t)
	ctx := ctxT(t)
	mustPut(t, s, "k", "v")
	ch, err := s.Watch(ctx, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	deadline := time.After(10 * time.Second)
loop:
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				break loop
			}
		case <-deadline:
			t.Fatal("watch channel not closed by Close")
		}
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Put(ctx, "k", nil); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Put after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Watch(ctx, "", 0); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Watch after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func keys(kvs []store.KV) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = kv.Key
	}
	return out
}

func kvEqual(a, b store.KV) bool {
	return a.Key == b.Key && bytes.Equal(a.Value, b.Value) && a.CreateRevision == b.CreateRevision &&
		a.ModRevision == b.ModRevision && a.Version == b.Version
}

func eventEqual(a, b store.Event) bool {
	return a.Type == b.Type && a.Key == b.Key && bytes.Equal(a.Value, b.Value) && a.Revision == b.Revision
}
