package boltstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vpngw/vpngw/internal/store/boltstore"
)

// The list-then-watch pattern: List returns the revision it read at, and
// Watch continues from there without missing or repeating a change.
func Example_listThenWatch() {
	dir, _ := os.MkdirTemp("", "boltstore-example")
	defer os.RemoveAll(dir)
	s, err := boltstore.Open(filepath.Join(dir, "vpngw.db"), boltstore.Options{})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	s.Put(ctx, "gw/a", []byte("1"))
	kvs, rev, _ := s.List(ctx, "gw/")
	for _, kv := range kvs {
		fmt.Printf("listed %s=%s at revision %d\n", kv.Key, kv.Value, rev)
	}
	ch, _ := s.Watch(ctx, "gw/", rev)

	// Create b only if it does not exist; change a only if unchanged.
	s.CompareAndSwap(ctx, "gw/b", []byte("2"), 0)
	s.CompareAndSwap(ctx, "gw/a", []byte("3"), kvs[0].ModRevision)
	s.Delete(ctx, "gw/b", 0)

	for range 3 {
		r := <-ch
		for _, e := range r.Events {
			fmt.Println(e.Revision, e.Type, e.Key, string(e.Value))
		}
	}
	// Output:
	// listed gw/a=1 at revision 1
	// 2 PUT gw/b 2
	// 3 PUT gw/a 3
	// 4 DELETE gw/b
}
