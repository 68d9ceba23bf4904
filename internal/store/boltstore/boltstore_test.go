package boltstore

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vpngw/vpngw/internal/store"
	"github.com/vpngw/vpngw/internal/store/storetest"
)

func openTemp(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "vpngw.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) store.Store { return openTemp(t, Options{}) },
		Compact: func(t *testing.T, s store.Store, rev int64) {
			if err := s.(*Store).Compact(context.Background(), rev); err != nil {
				t.Fatal(err)
			}
		},
	})
}

// TestReopen checks that data, revisions and the change log survive a
// close and reopen.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vpngw.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for i := range 5 {
		if last, err = s.Put(ctx, "k"+strconv.Itoa(i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delete(ctx, "k0", 0); err != nil {
		t.Fatal(err)
	}
	last++
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kvs, rev, err := s.List(ctx, "")
	if err != nil || len(kvs) != 4 || rev != last {
		t.Fatalf("after reopen: %d keys at revision %d (%v), want 4 at %d", len(kvs), rev, err, last)
	}
	r, err := s.Put(ctx, "new", nil)
	if err != nil || r != last+1 {
		t.Fatalf("first write after reopen at revision %d (%v), want %d", r, err, last+1)
	}
	ch, err := s.Watch(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for range 6 {
		select {
		case resp := <-ch:
			got = append(got, resp.Events[0].Revision)
		case <-time.After(5 * time.Second):
			t.Fatalf("log replay after reopen stopped at %v", got)
		}
	}
	if got[0] != 1 || got[5] != last {
		t.Fatalf("replayed revisions %v", got)
	}
}

// TestLockedByAnotherOpen checks that a second Open of the same file fails
// fast instead of hanging.
func TestLockedByAnotherOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vpngw.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	if s2, err := Open(path, Options{LockTimeout: 100 * time.Millisecond}); err == nil {
		s2.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("second Open took too long")
	}
}

// TestRetention checks the automatic bound on the change log.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, Options{LogRetention: 10})
	for i := range 30 {
		if _, err := s.Put(ctx, "k", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Watch(ctx, "", 19); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("Watch(19) with 10 retained of 30 = %v, want ErrCompacted", err)
	}
	ch, err := s.Watch(ctx, "", 20)
	if err != nil {
		t.Fatalf("Watch(20): %v", err)
	}
	for want := int64(21); want <= 30; want++ {
		resp := <-ch
		if resp.Err != nil || resp.Events[0].Revision != want {
			t.Fatalf("got %+v, want revision %d", resp, want)
		}
	}
	var n int
	s.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bucketLog).Stats().KeyN; return nil })
	if n != 10 {
		t.Fatalf("log holds %d entries, want 10", n)
	}
}

// TestSlowWatcherCompacted checks that a watcher that falls behind the
// retained log gets ErrCompacted as its last response, after a gapless
// prefix of events.
func TestSlowWatcherCompacted(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, Options{LogRetention: 20})
	ch, err := s.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	const writes = 2000 // far more than the channel buffer plus one read batch
	for i := range writes {
		if _, err := s.Put(ctx, "k", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	var last int64
	timeout := time.After(10 * time.Second)
	for {
		select {
		case resp, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after revision %d without ErrCompacted", last)
			}
			if resp.Err != nil {
				if !errors.Is(resp.Err, store.ErrCompacted) {
					t.Fatalf("err = %v", resp.Err)
				}
				if last >= writes {
					t.Fatalf("saw every event and then ErrCompacted")
				}
				if _, ok := <-ch; ok {
					t.Fatal("channel not closed after ErrCompacted")
				}
				return
			}
			if r := resp.Events[0].Revision; r != last+1 {
				t.Fatalf("revision %d after %d", r, last)
			}
			last++
		case <-timeout:
			t.Fatalf("stuck at revision %d", last)
		}
	}
}
