package etcdstore

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vpngw/vpngw/internal/store"
	"github.com/vpngw/vpngw/internal/store/storetest"
	"github.com/vpngw/vpngw/internal/tstest/etcdtest"
)

func openT(t *testing.T, endpoint, prefix string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, Options{Endpoints: []string{endpoint}, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the store suite against a real etcd: a fresh
// member for every store, since the suite compacts (which is
// cluster-wide) and counts revisions exactly.
func TestConformance(t *testing.T) {
	etcdtest.Require(t)
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) store.Store {
			return openT(t, etcdtest.Start(t).Endpoint, "/vpngw/test/")
		},
		Compact: func(t *testing.T, s store.Store, rev int64) {
			if err := s.(*Store).Compact(context.Background(), rev); err != nil {
				t.Fatal(err)
			}
		},
	})
}

// TestPrefixes checks that installations under different prefixes of one
// etcd do not see each other's keys in Get, List or Watch, and that the
// revisions they see are the etcd cluster's.
func TestPrefixes(t *testing.T) {
	srv := etcdtest.Start(t)
	ctx := context.Background()
	a := openT(t, srv.Endpoint, "/vpngw/a/")
	b := openT(t, srv.Endpoint, "/vpngw/ab/") // "/vpngw/a" is a string prefix of it
	_, start, err := a.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	wa, err := a.Watch(ctx, "", start)
	if err != nil {
		t.Fatal(err)
	}
	ra, err := a.Put(ctx, "k", []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.Put(ctx, "k", []byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "only-b", nil); err != nil {
		t.Fatal(err)
	}
	if rb != ra+1 {
		t.Fatalf("revisions %d then %d: want the cluster's, one apart", ra, rb)
	}
	ra2, err := a.Put(ctx, "k2", []byte("a2"))
	if err != nil {
		t.Fatal(err)
	}
	rb2, err := b.Put(ctx, "later", nil)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := a.Get(ctx, "k")
	if err != nil || string(kv.Value) != "a" || kv.Key != "k" {
		t.Fatalf("a.Get(k) = %+v, %v", kv, err)
	}
	if _, err := a.Get(ctx, "only-b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a sees b's key: %v", err)
	}
	kvs, rev, err := a.List(ctx, "")
	if err != nil || len(kvs) != 2 || kvs[0].Key != "k" || kvs[1].Key != "k2" {
		t.Fatalf("a.List = %+v, %v", kvs, err)
	}
	if rev != rb2 {
		t.Fatalf("a.List revision %d, want the cluster's, %d", rev, rb2)
	}
	for i, want := range []int64{ra, ra2} {
		select {
		case r := <-wa:
			if r.Err != nil || len(r.Events) != 1 || r.Events[0].Revision != want || r.Events[0].Key != []string{"k", "k2"}[i] {
				t.Fatalf("a's watch response %d = %+v, want revision %d", i, r, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a's watch got nothing")
		}
	}
	select {
	case r := <-wa:
		t.Fatalf("a's watch saw %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	// Deleting in b leaves a alone.
	if _, err := b.Delete(ctx, "k", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
}

// TestListPages checks that a List longer than one etcd page is complete
// and read at one revision.
func TestListPages(t *testing.T) {
	s := openT(t, etcdtest.Start(t).Endpoint, "/vpngw/")
	ctx := context.Background()
	const n = listPage*2 + 7
	ops := make([]store.Op, 0, 100)
	for i := range n {
		ops = append(ops, store.PutOp("p/"+strconv.Itoa(100000+i), []byte{byte(i)}))
		if len(ops) == cap(ops) || i == n-1 {
			if _, err := s.Txn(ctx, nil, ops); err != nil {
				t.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	last, err := s.Put(ctx, "q", nil) // after the range: not listed
	if err != nil {
		t.Fatal(err)
	}
	kvs, rev, err := s.List(ctx, "p/")
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != n || rev != last {
		t.Fatalf("List = %d keys at revision %d, want %d at %d", len(kvs), rev, n, last)
	}
	for i, kv := range kvs {
		if kv.Key != "p/"+strconv.Itoa(100000+i) {
			t.Fatalf("key %d = %q", i, kv.Key)
		}
	}
}

// TestWatchSurvivesCompaction checks that a watch that has caught up is
// not ended by a compaction behind it.
func TestWatchSurvivesCompaction(t *testing.T) {
	s := openT(t, etcdtest.Start(t).Endpoint, "/vpngw/")
	ctx := context.Background()
	ch, err := s.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for i := range 3 {
		if last, err = s.Put(ctx, "k", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		if r := storetest.Next(t, ch); r.Err != nil || r.Events[0].Revision != last {
			t.Fatalf("event %d = %+v", i, r)
		}
	}
	if err := s.Compact(ctx, last); err != nil {
		t.Fatal(err)
	}
	r, err := s.Put(ctx, "k", []byte("after"))
	if err != nil {
		t.Fatal(err)
	}
	if got := storetest.Next(t, ch); got.Err != nil || got.Events[0].Revision != r {
		t.Fatalf("after compaction: %+v, want revision %d", got, r)
	}
	// Compacting again, or beyond the store, is harmless / refused.
	if err := s.Compact(ctx, last); err != nil {
		t.Fatalf("second Compact: %v", err)
	}
	if err := s.Compact(ctx, r+10); !errors.Is(err, store.ErrInvalidArgument) {
		t.Fatalf("Compact in the future = %v", err)
	}
}

// TestForward checks the translation of etcd watch responses without an
// etcd: a response holding two revisions becomes two, the prefix is
// stripped, and a compaction notice ends the watch with ErrCompacted.
func TestForward(t *testing.T) {
	s := &Store{prefix: "/p/", log: slog.New(slog.DiscardHandler)}
	ev := func(typ mvccpb.Event_EventType, key string, rev int64) *clientv3.Event {
		return &clientv3.Event{Type: typ, Kv: &mvccpb.KeyValue{Key: []byte("/p/" + key), Value: []byte(key), ModRevision: rev}}
	}
	in := make(chan clientv3.WatchResponse, 3)
	in <- clientv3.WatchResponse{Events: []*clientv3.Event{ev(mvccpb.PUT, "a", 5), ev(mvccpb.DELETE, "b", 5), ev(mvccpb.PUT, "c", 7)}}
	in <- clientv3.WatchResponse{CompactRevision: 9}
	in <- clientv3.WatchResponse{Events: []*clientv3.Event{ev(mvccpb.PUT, "never", 10)}}
	close(in)
	out := make(chan store.WatchResponse, 10)
	s.forward(context.Background(), "", in, out)
	close(out)
	var got []store.WatchResponse
	for r := range out {
		got = append(got, r)
	}
	if len(got) != 3 {
		t.Fatalf("got %+v", got)
	}
	if e := got[0].Events; len(e) != 2 || e[0].Key != "a" || e[0].Type != store.EventPut || string(e[0].Value) != "a" ||
		e[1].Key != "b" || e[1].Type != store.EventDelete || e[1].Value != nil || e[1].Revision != 5 {
		t.Fatalf("first response %+v", got[0])
	}
	if e := got[1].Events; len(e) != 1 || e[0].Key != "c" || e[0].Revision != 7 {
		t.Fatalf("second response %+v", got[1])
	}
	if !errors.Is(got[2].Err, store.ErrCompacted) {
		t.Fatalf("third response %+v, want ErrCompacted", got[2])
	}
}

// TestOpenErrors checks Open's argument checks and that an unreachable
// etcd fails within the dial timeout.
func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, Options{Prefix: "/vpngw/"}); err == nil {
		t.Error("Open without endpoints succeeded")
	}
	for _, p := range []string{"", "/vpngw"} {
		if _, err := Open(ctx, Options{Endpoints: []string{"http://127.0.0.1:1"}, Prefix: p}); err == nil {
			t.Errorf("Open with prefix %q succeeded", p)
		}
	}
	start := time.Now()
	_, err := Open(ctx, Options{Endpoints: []string{"http://127.0.0.1:1"}, Prefix: "/vpngw/", DialTimeout: 500 * time.Millisecond})
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Open took %v", d)
	}
	t.Logf("unreachable: %v", err)
}

// TestAuth checks username/password authentication against the etcd
// server (the 3.7 client against Debian's 3.4 server).
func TestAuth(t *testing.T) {
	srv := etcdtest.Start(t)
	ctx := context.Background()
	admin := openT(t, srv.Endpoint, "/vpngw/")
	cli := admin.Client()
	for _, step := range []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "vpngw"); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "vpngw", "/vpngw/", clientv3.GetPrefixRangeEnd("/vpngw/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := cli.UserAdd(ctx, "vpngw", "s3cret"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "vpngw", "vpngw"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Open(ctx, Options{Endpoints: []string{srv.Endpoint}, Prefix: "/vpngw/", Username: "vpngw", Password: "wrong"}); err == nil {
		t.Fatal("Open with a wrong password succeeded")
	} else {
		t.Logf("wrong password: %v", err)
	}
	if _, err := Open(ctx, Options{Endpoints: []string{srv.Endpoint}, Prefix: "/other/", Username: "vpngw", Password: "s3cret"}); err == nil {
		t.Fatal("Open outside the granted prefix succeeded")
	}
	s, err := Open(ctx, Options{Endpoints: []string{srv.Endpoint}, Prefix: "/vpngw/", Username: "vpngw", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rev, err := s.Put(ctx, "k", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := s.Watch(ctx, "", rev-1)
	if err != nil {
		t.Fatal(err)
	}
	if r := storetest.Next(t, ch); r.Err != nil || r.Events[0].Revision != rev {
		t.Fatalf("authenticated watch: %+v", r)
	}
}
