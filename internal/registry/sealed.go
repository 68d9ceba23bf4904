package registry

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/vpngw/vpngw/internal/store"
)

// Sealed is a store.Store over another that keeps the secrets of records
// sealed at rest (the package comment has the format): writes of resource
// group and resource records (keys under GroupKeyPrefix and
// ResourceKeyPrefix) are sealed with the keyring's current key, and so are
// whole values under SecretKeyPrefix (the control plane's own secrets,
// such as each gateway's point-to-site CA and key); reads
// and watch events of them are opened, so that callers — Load, List, the
// view, the API — see the records Encode writes. Every other key passes
// through unchanged. The control plane opens its store once and wraps it
// (server.Run); nothing else needs to know.
type Sealed struct {
	inner store.Store
	kr    Keyring
}

var _ store.Store = (*Sealed)(nil)

// NewSealed returns st with the secrets of its records sealed with kr.
func NewSealed(st store.Store, kr Keyring) *Sealed { return &Sealed{inner: st, kr: kr} }

func (s *Sealed) sealValue(key string, value []byte) ([]byte, error) {
	switch {
	case isSecretKey(key):
		return sealWhole(s.kr, key, value)
	case isRecordKey(key):
		return seal(s.kr, key, value)
	}
	return value, nil
}

func (s *Sealed) openKV(kv store.KV) (store.KV, error) {
	if !isRecordKey(kv.Key) && !isSecretKey(kv.Key) {
		return kv, nil
	}
	v, err := openAny(s.kr, kv.Key, kv.Value)
	if err != nil {
		return store.KV{}, err
	}
	kv.Value = v
	return kv, nil
}

// Get implements store.Store.
func (s *Sealed) Get(ctx context.Context, key string) (store.KV, error) {
	kv, err := s.inner.Get(ctx, key)
	if err != nil {
		return kv, err
	}
	return s.openKV(kv)
}

// List implements store.Store.
func (s *Sealed) List(ctx context.Context, prefix string) ([]store.KV, int64, error) {
	kvs, rev, err := s.inner.List(ctx, prefix)
	if err != nil {
		return nil, rev, err
	}
	for i := range kvs {
		if kvs[i], err = s.openKV(kvs[i]); err != nil {
			return nil, 0, err
		}
	}
	return kvs, rev, nil
}

// Put implements store.Store.
func (s *Sealed) Put(ctx context.Context, key string, value []byte) (int64, error) {
	v, err := s.sealValue(key, value)
	if err != nil {
		return 0, err
	}
	return s.inner.Put(ctx, key, v)
}

// CompareAndSwap implements store.Store.
func (s *Sealed) CompareAndSwap(ctx context.Context, key string, value []byte, expected int64) (int64, error) {
	v, err := s.sealValue(key, value)
	if err != nil {
		return 0, err
	}
	return s.inner.CompareAndSwap(ctx, key, v, expected)
}

// Delete implements store.Store.
func (s *Sealed) Delete(ctx context.Context, key string, expected int64) (int64, error) {
	return s.inner.Delete(ctx, key, expected)
}

// Txn implements store.Store.
func (s *Sealed) Txn(ctx context.Context, cmps []store.Cmp, ops []store.Op) (int64, error) {
	sealed := make([]store.Op, len(ops))
	for i, op := range ops {
		if op.Type == store.OpPut {
			v, err := s.sealValue(op.Key, op.Value)
			if err != nil {
				return 0, err
			}
			op.Value = v
		}
		sealed[i] = op
	}
	return s.inner.Txn(ctx, cmps, sealed)
}

// Watch implements store.Store. An event whose record does not open ends
// the watch with that error as its last response.
func (s *Sealed) Watch(ctx context.Context, prefix string, afterRevision int64) (<-chan store.WatchResponse, error) {
	in, err := s.inner.Watch(ctx, prefix, afterRevision)
	if err != nil {
		return nil, err
	}
	out := make(chan store.WatchResponse)
	go func() {
		defer close(out)
		failed := false
		for resp := range in {
			if failed {
				continue // drain until the inner watch ends with ctx
			}
			for i, ev := range resp.Events {
				if ev.Type != store.EventPut || (!isRecordKey(ev.Key) && !isSecretKey(ev.Key)) {
					continue
				}
				v, err := openAny(s.kr, ev.Key, ev.Value)
				if err != nil {
					resp = store.WatchResponse{Err: err}
					failed = true
					break
				}
				resp.Events[i].Value = v
			}
			select {
			case out <- resp:
			case <-ctx.Done():
				failed = true
			}
		}
	}()
	return out, nil
}

// Close implements store.Store: it closes the inner store.
func (s *Sealed) Close() error { return s.inner.Close() }

// CheckKeys reports whether the keyring holds every key that sealed a
// record: an error wrapping ErrUnknownKey names the keys it lacks (a wrong
// or replaced key file). Run it at start, before serving.
func (s *Sealed) CheckKeys(ctx context.Context) error {
	ids, err := SealedKeyIDs(ctx, s.inner)
	if err != nil {
		return err
	}
	var missing []string
	for _, id := range ids {
		if _, ok := s.kr.Lookup(id); !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w (key %s)", ErrUnknownKey, strings.Join(missing, ", "))
	}
	return nil
}

// SealedKeyIDs returns the IDs of the keys that sealed the records in st
// (an unwrapped store), sorted.
func SealedKeyIDs(ctx context.Context, st store.Store) ([]string, error) {
	seen := map[string]bool{}
	for _, prefix := range []string{GroupKeyPrefix, ResourceKeyPrefix, SecretKeyPrefix} {
		kvs, _, err := st.List(ctx, prefix)
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			if id := sealedWith(kv.Value); id != "" {
				seen[id] = true
			}
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// Reseal rewrites every record that has secrets and is not sealed with the
// keyring's current key — sealed with an older key, or stored in plain
// text by an older version — so that it is. It returns how many records it
// rewrote. Run it after making a new key current (key rotation); a record
// changed concurrently is read again.
func (s *Sealed) Reseal(ctx context.Context) (int, error) {
	cur, _ := s.kr.Current()
	n := 0
	for _, prefix := range []string{GroupKeyPrefix, ResourceKeyPrefix, SecretKeyPrefix} {
		kvs, _, err := s.inner.List(ctx, prefix)
		if err != nil {
			return n, err
		}
		for _, kv := range kvs {
			for {
				if sealedWith(kv.Value) == cur {
					break
				}
				plain, err := s.openKV(kv)
				if err != nil {
					return n, err
				}
				v, err := s.sealValue(kv.Key, plain.Value)
				if err != nil {
					return n, err
				}
				if sealedWith(v) == "" {
					break // no secrets
				}
				_, err = s.inner.CompareAndSwap(ctx, kv.Key, v, kv.ModRevision)
				if err == nil {
					n++
					break
				}
				if !errors.Is(err, store.ErrConflict) {
					return n, err
				}
				if kv, err = s.inner.Get(ctx, kv.Key); errors.Is(err, store.ErrNotFound) {
					break
				} else if err != nil {
					return n, err
				}
			}
		}
	}
	return n, nil
}
