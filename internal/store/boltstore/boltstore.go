// Package boltstore is the embedded implementation of store.Store on bbolt:
// one file, fsync on every commit, a persisted monotonic revision and a
// bounded persisted change log that serves Watch.
//
// Layout (bbolt buckets):
//
//	kv    key -> record (create revision, mod revision, version, value)
//	log   8-byte big-endian revision -> the events of that commit
//	meta  "revision" -> the current store revision
//	      "compacted" -> the newest revision no longer in the log
//
// Every write is one bbolt read-write transaction, which bbolt serialises and
// fsyncs before Commit returns: an acknowledged write survives kill -9. After
// a commit the store wakes its watchers; each watcher reads the log on its own
// goroutine at its own pace, so a slow reader never blocks writers.
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vpngw/vpngw/internal/store"
)

// DefaultLogRetention is the number of revisions the change log keeps when
// Options.LogRetention is 0.
const DefaultLogRetention = 10000

var (
	bucketKV   = []byte("kv")
	bucketLog  = []byte("log")
	bucketMeta = []byte("meta")

	metaRevision  = []byte("revision")
	metaCompacted = []byte("compacted")
)

// watchBatch is how many log entries a watcher reads per bbolt transaction.
const watchBatch = 256

// Options configures Open.
type Options struct {
	// LogRetention is how many of the newest revisions the change log keeps
	// for Watch (DefaultLogRetention when 0).
	LogRetention int
	// LockTimeout bounds the wait for the file lock held by another process
	// (1s when 0), so that a second server on the same file fails instead
	// of hanging.
	LockTimeout time.Duration
	// Logger receives compaction and watch diagnostics; nil is silent.
	Logger *slog.Logger
}

// Store is a store.Store on a bbolt file.
type Store struct {
	db        *bolt.DB
	retention int64
	log       *slog.Logger

	// mu guards closed. Operations hold it for reading while they use db;
	// Close takes it for writing before closing db.
	mu     sync.RWMutex
	closed bool
	// done is closed by Close to stop watchers.
	done chan struct{}
	// wg counts watcher goroutines.
	wg sync.WaitGroup

	// notifyMu guards notify, a channel closed (and replaced) after every
	// commit that advanced the revision.
	notifyMu sync.Mutex
	notify   chan struct{}
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the store file at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.LogRetention <= 0 {
		opts.LogRetention = DefaultLogRetention
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      opts.LockTimeout,
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketKV, bucketLog, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: init %s: %w", path, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{
		db:        db,
		retention: int64(opts.LogRetention),
		log:       log,
		done:      make(chan struct{}),
		notify:    make(chan struct{}),
	}, nil
}

// Path is the file the store lives in.
func (s *Store) Path() string { return s.db.Path() }

// Close stops every watch and closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	s.wg.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	return nil
}

// enter checks ctx and that the store is open, and holds the read lock; the
// caller must call s.mu.RUnlock when it returns nil.
func (s *Store) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	return nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	if err := store.CheckKey(key); err != nil {
		return store.KV{}, err
	}
	if err := s.enter(ctx); err != nil {
		return store.KV{}, err
	}
	defer s.mu.RUnlock()
	var kv store.KV
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketKV).Get([]byte(key))
		if v == nil {
			return fmt.Errorf("%w: %q", store.ErrNotFound, key)
		}
		var err error
		kv, err = decodeRecord(key, v)
		return err
	})
	return kv, err
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, int64, error) {
	if err := s.enter(ctx); err != nil {
		return nil, 0, err
	}
	defer s.mu.RUnlock()
	var (
		out []store.KV
		rev int64
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		rev = getMeta(tx, metaRevision)
		c := tx.Bucket(bucketKV).Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			kv, err := decodeRecord(string(k), v)
			if err != nil {
				return err
			}
			out = append(out, kv)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte) (int64, error) {
	return s.Txn(ctx, nil, []store.Op{store.PutOp(key, value)})
}

// CompareAndSwap implements store.Store.
func (s *Store) CompareAndSwap(ctx context.Context, key string, value []byte, expected int64) (int64, error) {
	return s.Txn(ctx, []store.Cmp{{Key: key, ModRevision: expected}}, []store.Op{store.PutOp(key, value)})
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string, expected int64) (int64, error) {
	if err := store.CheckRevision(expected); err != nil {
		return 0, err
	}
	if err := store.CheckKey(key); err != nil {
		return 0, err
	}
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	var rev int64
	err := s.db.Update(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketKV).Get([]byte(key))
		if v == nil {
			return fmt.Errorf("%w: %q", store.ErrNotFound, key)
		}
		if expected != 0 {
			kv, err := decodeRecord(key, v)
			if err != nil {
				return err
			}
			if kv.ModRevision != expected {
				return fmt.Errorf("%w: %q is at revision %d, not %d", store.ErrConflict, key, kv.ModRevision, expected)
			}
		}
		var err error
		rev, err = s.apply(tx, []store.Op{store.DeleteOp(key)})
		return err
	})
	if err != nil {
		return 0, err
	}
	s.wake()
	return rev, nil
}

// Txn implements store.Store.
func (s *Store) Txn(ctx context.Context, cmps []store.Cmp, ops []store.Op) (int64, error) {
	if err := store.CheckTxn(cmps, ops); err != nil {
		return 0, err
	}
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	var (
		rev     int64
		changed bool
	)
	err := s.db.Update(func(tx *bolt.Tx) error {
		kvb := tx.Bucket(bucketKV)
		for _, c := range cmps {
			var mod int64
			if v := kvb.Get([]byte(c.Key)); v != nil {
				kv, err := decodeRecord(c.Key, v)
				if err != nil {
					return err
				}
				mod = kv.ModRevision
			}
			if mod != c.ModRevision {
				return fmt.Errorf("%w: %q is at revision %d, not %d", store.ErrConflict, c.Key, mod, c.ModRevision)
			}
		}
		before := getMeta(tx, metaRevision)
		var err error
		rev, err = s.apply(tx, ops)
		changed = rev != before
		return err
	})
	if err != nil {
		return 0, err
	}
	if changed {
		s.wake()
	}
	return rev, nil
}

// apply writes ops as one new revision inside tx, appends them to the change
// log and compacts the log. If no op changes anything, it writes nothing and
// returns the current revision.
func (s *Store) apply(tx *bolt.Tx, ops []store.Op) (int64, error) {
	kvb, logb := tx.Bucket(bucketKV), tx.Bucket(bucketLog)
	cur := getMeta(tx, metaRevision)
	rev := cur + 1
	events := make([]store.Event, 0, len(ops))
	for _, op := range ops {
		k := []byte(op.Key)
		old := kvb.Get(k)
		switch op.Type {
		case store.OpPut:
			rec := store.KV{Key: op.Key, Value: op.Value, CreateRevision: rev, ModRevision: rev, Version: 1}
			if old != nil {
				prev, err := decodeRecord(op.Key, old)
				if err != nil {
					return 0, err
				}
				rec.CreateRevision, rec.Version = prev.CreateRevision, prev.Version+1
			}
			if err := kvb.Put(k, encodeRecord(rec)); err != nil {
				return 0, err
			}
			events = append(events, store.Event{Type: store.EventPut, Key: op.Key, Value: op.Value, Revision: rev})
		case store.OpDelete:
			if old == nil {
				continue
			}
			if err := kvb.Delete(k); err != nil {
				return 0, err
			}
			events = append(events, store.Event{Type: store.EventDelete, Key: op.Key, Revision: rev})
		}
	}
	if len(events) == 0 {
		return cur, nil
	}
	if err := logb.Put(revKey(rev), encodeEvents(events)); err != nil {
		return 0, err
	}
	if err := putMeta(tx, metaRevision, rev); err != nil {
		return 0, err
	}
	if rev-getMeta(tx, metaCompacted) > s.retention {
		if err := compact(tx, rev-s.retention); err != nil {
			return 0, err
		}
	}
	return rev, nil
}

// Compact drops the change log up to and including rev (at most the current
// revision): a later Watch from a revision below rev fails with ErrCompacted.
// The log is also compacted automatically to Options.LogRetention.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		cur := getMeta(tx, metaRevision)
		if rev > cur {
			return fmt.Errorf("%w: compact revision %d is newer than the store revision %d", store.ErrInvalidArgument, rev, cur)
		}
		if rev <= getMeta(tx, metaCompacted) {
			return nil
		}
		return compact(tx, rev)
	})
	if err != nil {
		return err
	}
	// Wake watchers so that one behind rev learns it promptly.
	s.wake()
	return nil
}

// compact deletes log entries up to rev and records rev as compacted.
func compact(tx *bolt.Tx, rev int64) error {
	c := tx.Bucket(bucketLog).Cursor()
	end := revKey(rev)
	for k, _ := c.First(); k != nil && bytes.Compare(k, end) <= 0; k, _ = c.Next() {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return putMeta(tx, metaCompacted, rev)
}

// wake tells every watcher that the log has grown.
func (s *Store) wake() {
	s.notifyMu.Lock()
	close(s.notify)
	s.notify = make(chan struct{})
	s.notifyMu.Unlock()
}

func (s *Store) notifyChan() <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	return s.notify
}

// Watch implements store.Store.
func (s *Store) Watch(ctx context.Context, prefix string, afterRevision int64) (<-chan store.WatchResponse, error) {
	if err := store.CheckRevision(afterRevision); err != nil {
		return nil, err
	}
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	err := s.db.View(func(tx *bolt.Tx) error {
		if c := getMeta(tx, metaCompacted); afterRevision < c {
			return fmt.Errorf("%w: watch after revision %d, log starts after %d", store.ErrCompacted, afterRevision, c)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ch := make(chan store.WatchResponse, 16)
	s.wg.Add(1)
	go s.watch(ctx, prefix, afterRevision, ch)
	return ch, nil
}

// watch is the goroutine behind one Watch: it reads the log after next and
// sends what matches prefix, then waits for the next commit.
func (s *Store) watch(ctx context.Context, prefix string, next int64, ch chan<- store.WatchResponse) {
	defer s.wg.Done()
	defer close(ch)
	for {
		wake := s.notifyChan()
		resps, last, full, err := s.readLog(prefix, next)
		if errors.Is(err, store.ErrClosed) {
			return
		}
		if err != nil {
			if errors.Is(err, store.ErrCompacted) {
				s.log.Debug("watcher fell behind the change log", "prefix", prefix, "after", next)
			}
			select {
			case ch <- store.WatchResponse{Err: err}:
			case <-ctx.Done():
			case <-s.done:
			}
			return
		}
		for _, r := range resps {
			select {
			case ch <- r:
			case <-ctx.Done():
				return
			case <-s.done:
				return
			}
		}
		next = last
		if full {
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return
		case <-s.done:
			return
		}
	}
}

// readLog returns the responses for up to watchBatch log entries after rev,
// the last revision read, and whether the batch was full (more may follow).
func (s *Store) readLog(prefix string, rev int64) (resps []store.WatchResponse, last int64, full bool, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, rev, false, store.ErrClosed
	}
	last = rev
	err = s.db.View(func(tx *bolt.Tx) error {
		if c := getMeta(tx, metaCompacted); rev < c {
			return fmt.Errorf("%w: watcher at revision %d, log starts after %d", store.ErrCompacted, rev, c)
		}
		c := tx.Bucket(bucketLog).Cursor()
		n := 0
		for k, v := c.Seek(revKey(rev + 1)); k != nil; k, v = c.Next() {
			if n == watchBatch {
				full = true
				break
			}
			n++
			r := int64(binary.BigEndian.Uint64(k))
			evs, err := decodeEvents(v, r, prefix)
			if err != nil {
				return err
			}
			if len(evs) > 0 {
				resps = append(resps, store.WatchResponse{Events: evs})
			}
			last = r
		}
		return nil
	})
	return resps, last, full, err
}

func revKey(rev int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(rev))
	return b[:]
}

func getMeta(tx *bolt.Tx, k []byte) int64 {
	v := tx.Bucket(bucketMeta).Get(k)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func putMeta(tx *bolt.Tx, k []byte, v int64) error {
	return tx.Bucket(bucketMeta).Put(k, revKey(v))
}

// errCorrupt reports an undecodable record or log entry.
var errCorrupt = errors.New("boltstore: corrupt data")

// encodeRecord: uvarint create, mod, version, then the value.
func encodeRecord(kv store.KV) []byte {
	b := make([]byte, 0, 3*binary.MaxVarintLen64+len(kv.Value))
	b = binary.AppendUvarint(b, uint64(kv.CreateRevision))
	b = binary.AppendUvarint(b, uint64(kv.ModRevision))
	b = binary.AppendUvarint(b, uint64(kv.Version))
	return append(b, kv.Value...)
}

func decodeRecord(key string, b []byte) (store.KV, error) {
	kv := store.KV{Key: key}
	for _, p := range []*int64{&kv.CreateRevision, &kv.ModRevision, &kv.Version} {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return store.KV{}, fmt.Errorf("%w: record %q", errCorrupt, key)
		}
		*p = int64(v)
		b = b[n:]
	}
	kv.Value = bytes.Clone(b)
	if kv.Value == nil {
		kv.Value = []byte{}
	}
	return kv, nil
}

// encodeEvents: uvarint count, then per event a type byte, uvarint key
// length, key, and for puts uvarint value length and value.
func encodeEvents(evs []store.Event) []byte {
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(evs)))
	for _, e := range evs {
		b = append(b, byte(e.Type))
		b = binary.AppendUvarint(b, uint64(len(e.Key)))
		b = append(b, e.Key...)
		if e.Type == store.EventPut {
			b = binary.AppendUvarint(b, uint64(len(e.Value)))
			b = append(b, e.Value...)
		}
	}
	return b
}

// decodeEvents decodes a log entry, keeping the events under prefix.
func decodeEvents(b []byte, rev int64, prefix string) ([]store.Event, error) {
	bad := fmt.Errorf("%w: log entry %d", errCorrupt, rev)
	field := func() ([]byte, bool) {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return nil, false
		}
		f := b[n : n+int(l)]
		b = b[n+int(l):]
		return f, true
	}
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, bad
	}
	b = b[n:]
	var out []store.Event
	for range count {
		if len(b) == 0 {
			return nil, bad
		}
		e := store.Event{Type: store.EventType(b[0]), Revision: rev}
		b = b[1:]
		k, ok := field()
		if !ok {
			return nil, bad
		}
		e.Key = string(k)
		switch e.Type {
		case store.EventPut:
			v, ok := field()
			if !ok {
				return nil, bad
			}
			e.Value = append([]byte{}, v...)
		case store.EventDelete:
		default:
			return nil, bad
		}
		if len(e.Key) >= len(prefix) && e.Key[:len(prefix)] == prefix {
			out = append(out, e)
		}
	}
	return out, nil
}
