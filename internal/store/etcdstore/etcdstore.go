// Package etcdstore is the implementation of store.Store on an etcd v3
// cluster, for running several `vpngw serve` replicas on one shared state
// (`vpngw serve --store etcd`); internal/store/boltstore stays the
// embedded default for a single server.
//
// Mapping. Every store key K lives in etcd under Options.Prefix+K, so that
// several installations can share one etcd cluster under different
// prefixes. The store's revisions, CreateRevision, ModRevision and
// Version are etcd's own: etcd already advances its revision by one per
// committed write (a transaction that changes nothing does not advance
// it), and CompareAndSwap, a revision-conditioned Delete and Txn are etcd
// transactions comparing mod_revision (0 for an absent key). List reads
// one consistent snapshot, paginated at one revision. Watch is an etcd
// watch from afterRevision+1; etcd's compaction is the store's change-log
// bound: a watch from before etcd's compacted revision fails with
// store.ErrCompacted, and a watcher that falls behind a later compaction
// gets ErrCompacted as its last response.
//
// One difference from boltstore follows from sharing: the revision is
// the whole etcd cluster's, so writes by other installations (or anything
// else) in the same etcd advance it too. Revisions stay unique and
// increasing, and List's revision is still the right one to Watch from,
// but consecutive writes of one installation may be more than one apart.
//
// A slow watcher's backlog waits in the etcd client's memory (etcd sends
// events as they commit), so unlike boltstore a slow reader is not cut off
// with ErrCompacted; it still delays only its own watch.
//
// Limits come from the etcd server: a Txn may hold at most
// --max-txn-ops comparisons and as many operations (128 by default), and a
// request at most --max-request-bytes (1.5 MiB by default). How much
// history Watch can replay is etcd's --auto-compaction-* setting.
package etcdstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vpngw/vpngw/internal/store"
)

// DefaultDialTimeout bounds Open's first round trip when
// Options.DialTimeout is 0.
const DefaultDialTimeout = 5 * time.Second

// listPage is how many keys one List request reads.
const listPage = 1000

// Options configures Open.
type Options struct {
	// Endpoints are the etcd client URLs (http://HOST:PORT or
	// https://HOST:PORT). Required.
	Endpoints []string
	// Prefix is prepended to every key; it must be non-empty and end in
	// "/", e.g. "/vpngw/". Installations sharing an etcd need prefixes
	// of which none is a prefix of another.
	Prefix string
	// TLS, if set, is used for https endpoints (client certificate, CA).
	TLS *tls.Config
	// Username and Password, if Username is set, authenticate to etcd.
	Username, Password string
	// DialTimeout bounds the connection check Open makes
	// (DefaultDialTimeout when 0).
	DialTimeout time.Duration
	// Logger receives the etcd client's warnings and errors; nil is
	// silent.
	Logger *slog.Logger
}

// CheckPrefix reports whether p can be a key prefix: non-empty and
// ending in "/".
func CheckPrefix(p string) error {
	if p == "" || !strings.HasSuffix(p, "/") {
		return fmt.Errorf("etcd key prefix %q: want a non-empty prefix ending in \"/\", such as /vpngw/", p)
	}
	return nil
}

// Store is a store.Store on etcd.
type Store struct {
	cli    *clientv3.Client
	prefix string
	log    *slog.Logger

	// root is canceled by Close; every request and watch runs under a
	// context that it also cancels.
	root   context.Context
	cancel context.CancelFunc

	// mu guards closed and orders watcher starts (wg.Add) before
	// Close's wg.Wait.
	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

var _ store.Store = (*Store)(nil)

// Open connects to etcd and checks, within Options.DialTimeout, that it
// answers a read under the prefix (which also checks the credentials).
func Open(ctx context.Context, opts Options) (*Store, error) {
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("etcdstore: no endpoints")
	}
	if err := CheckPrefix(opts.Prefix); err != nil {
		return nil, fmt.Errorf("etcdstore: %w", err)
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	root, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   opts.Endpoints,
		DialTimeout: opts.DialTimeout,
		TLS:         opts.TLS,
		Username:    opts.Username,
		Password:    opts.Password,
		Logger:      zapLogger(log),
		Context:     root,
		// Keep the connection checked while watches idle.
		DialKeepAliveTime:    30 * time.Second,
		DialKeepAliveTimeout: 10 * time.Second,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("etcdstore: %s: %w", strings.Join(opts.Endpoints, ","), err)
	}
	s := &Store{cli: cli, prefix: opts.Prefix, log: log, root: root, cancel: cancel}
	cctx, ccancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer ccancel()
	if _, err := cli.Get(cctx, opts.Prefix, clientv3.WithCountOnly()); err != nil {
		s.Close()
		return nil, fmt.Errorf("etcdstore: etcd at %s did not answer a read under %s within %v: %w", strings.Join(opts.Endpoints, ","), opts.Prefix, opts.DialTimeout, err)
	}
	return s, nil
}

// Prefix is the prefix the store's keys live under in etcd.
func (s *Store) Prefix() string { return s.prefix }

// Client is the etcd client, for what the store interface does not cover
// (maintenance, leases); the store owns and closes it.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Close stops every watch, aborts requests in flight and closes the
// client.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	s.mu.Unlock()
	s.wg.Wait()
	if err := s.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("etcdstore: close: %w", err)
	}
	return nil
}

// begin checks ctx and that the store is open, and returns a context for
// one request that Close also cancels; the caller must call done.
func (s *Store) begin(ctx context.Context) (rctx context.Context, done func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, nil, fmt.Errorf("etcdstore: %w", store.ErrClosed)
	}
	rctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.root, cancel)
	return rctx, func() { stop(); cancel() }, nil
}

// fail wraps a request's error: ErrClosed if Close interrupted it, the
// caller's context error if that ended it, else the etcd error.
func (s *Store) fail(ctx context.Context, what string, err error) error {
	switch {
	case s.root.Err() != nil:
		return fmt.Errorf("etcdstore: %s: %w", what, store.ErrClosed)
	case ctx.Err() != nil:
		return fmt.Errorf("etcdstore: %s: %w", what, ctx.Err())
	}
	return fmt.Errorf("etcdstore: %s: %w", what, err)
}

// kv converts an etcd key-value, stripping the prefix.
func (s *Store) kv(k *mvccpb.KeyValue) store.KV {
	return store.KV{
		Key:            strings.TrimPrefix(string(k.Key), s.prefix),
		Value:          k.Value,
		CreateRevision: k.CreateRevision,
		ModRevision:    k.ModRevision,
		Version:        k.Version,
	}
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	if err := store.CheckKey(key); err != nil {
		return store.KV{}, err
	}
	rctx, done, err := s.begin(ctx)
	if err != nil {
		return store.KV{}, err
	}
	defer done()
	resp, err := s.cli.Get(rctx, s.prefix+key)
	if err != nil {
		return store.KV{}, s.fail(ctx, "get", err)
	}
	if len(resp.Kvs) == 0 {
		return store.KV{}, fmt.Errorf("%w: %q", store.ErrNotFound, key)
	}
	return s.kv(resp.Kvs[0]), nil
}

// List implements store.Store. Large results are read in pages, all at
// the revision of the first page.
func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, int64, error) {
	rctx, done, err := s.begin(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer done()
	from := s.prefix + prefix
	end := clientv3.GetPrefixRangeEnd(from)
	var (
		out []store.KV
		rev int64
	)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(listPage)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.cli.Get(rctx, from, opts...)
		if err != nil {
			return nil, 0, s.fail(ctx, "list", err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			out = append(out, s.kv(kv))
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, rev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte) (int64, error) {
	return s.Txn(ctx, nil, []store.Op{store.PutOp(key, value)})
}

// CompareAndSwap implements store.Store.
func (s *Store) CompareAndSwap(ctx context.Context, key string, value []byte, expected int64) (int64, error) {
	return s.Txn(ctx, []store.Cmp{{Key: key, ModRevision: expected}}, []store.Op{store.PutOp(key, value)})
}

// Delete implements store.Store: one etcd transaction that deletes the key
// if it exists (at revision expected, unless 0) and otherwise reads it to
// tell ErrNotFound from ErrConflict.
func (s *Store) Delete(ctx context.Context, key string, expected int64) (int64, error) {
	if err := store.CheckRevision(expected); err != nil {
		return 0, err
	}
	if err := store.CheckKey(key); err != nil {
		return 0, err
	}
	rctx, done, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	k := s.prefix + key
	cmp := clientv3.Compare(clientv3.CreateRevision(k), ">", 0)
	if expected != 0 {
		cmp = clientv3.Compare(clientv3.ModRevision(k), "=", expected)
	}
	resp, err := s.cli.Txn(rctx).If(cmp).Then(clientv3.OpDelete(k)).Else(clientv3.OpGet(k, clientv3.WithKeysOnly())).Commit()
	if err != nil {
		return 0, s.fail(ctx, "delete", err)
	}
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().GetKvs()
		if len(kvs) == 0 {
			return 0, fmt.Errorf("%w: %q", store.ErrNotFound, key)
		}
		return 0, fmt.Errorf("%w: %q is at revision %d, not %d", store.ErrConflict, key, kvs[0].ModRevision, expected)
	}
	return resp.Header.Revision, nil
}

// Txn implements store.Store as one etcd transaction: the comparisons
// are mod_revision equalities, the operations puts and deletes. etcd
// itself leaves the revision alone when nothing changes (deletes of
// missing keys, no operations).
func (s *Store) Txn(ctx context.Context, cmps []store.Cmp, ops []store.Op) (int64, error) {
	if err := store.CheckTxn(cmps, ops); err != nil {
		return 0, err
	}
	ifs := make([]clientv3.Cmp, 0, len(cmps))
	for _, c := range cmps {
		ifs = append(ifs, clientv3.Compare(clientv3.ModRevision(s.prefix+c.Key), "=", c.ModRevision))
	}
	thens := make([]clientv3.Op, 0, len(ops))
	for _, op := range ops {
		if op.Type == store.OpPut {
			thens = append(thens, clientv3.OpPut(s.prefix+op.Key, string(op.Value)))
		} else {
			thens = append(thens, clientv3.OpDelete(s.prefix+op.Key))
		}
	}
	rctx, done, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	resp, err := s.cli.Txn(rctx).If(ifs...).Then(thens...).Commit()
	if err != nil {
		return 0, s.fail(ctx, "txn", err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("%w: a compared key changed (%d comparisons)", store.ErrConflict, len(cmps))
	}
	return resp.Header.Revision, nil
}

// Compact makes every revision up to and including rev unavailable to
// Watch (store.ErrCompacted), as boltstore's Compact does, by compacting
// etcd at rev; it waits until etcd has compacted. It compacts the whole
// etcd keyspace, not just the prefix, and is meant for tests and
// maintenance: in production etcd's --auto-compaction-* does it. A rev
// already compacted is a no-op; a rev newer than etcd's is an error
// wrapping ErrInvalidArgument.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	if rev <= 0 {
		return fmt.Errorf("%w: compact revision %d", store.ErrInvalidArgument, rev)
	}
	rctx, done, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	_, err = s.cli.Compact(rctx, rev, clientv3.WithCompactPhysical())
	switch {
	case err == nil, errors.Is(err, rpctypes.ErrCompacted):
		return nil
	case errors.Is(err, rpctypes.ErrFutureRev):
		return fmt.Errorf("%w: compact revision %d is newer than the store revision", store.ErrInvalidArgument, rev)
	}
	return s.fail(ctx, "compact", err)
}

// Watch implements store.Store with an etcd watch from afterRevision+1.
//
// etcd lets a watch start at its compacted revision C itself, but C no
// longer holds the keys deleted at C; so this store treats C as gone too:
// Watch needs afterRevision >= C (etcd's read at afterRevision must
// succeed), which is also what boltstore's Compact(C) means.
func (s *Store) Watch(ctx context.Context, prefix string, afterRevision int64) (<-chan store.WatchResponse, error) {
	if err := store.CheckRevision(afterRevision); err != nil {
		return nil, err
	}
	if err := s.checkCompacted(ctx, afterRevision); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("etcdstore: %w", store.ErrClosed)
	}
	wctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.root, cancel)
	from := s.prefix + prefix
	wch := s.cli.Watch(wctx, from, clientv3.WithRange(clientv3.GetPrefixRangeEnd(from)), clientv3.WithRev(afterRevision+1))
	ch := make(chan store.WatchResponse, 16)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(ch)
		defer stop()
		defer cancel()
		s.forward(wctx, prefix, wch, ch)
	}()
	return ch, nil
}

// checkCompacted fails with ErrCompacted when afterRevision is older than
// etcd's compacted revision: it reads one key at max(afterRevision, 1),
// which etcd refuses below its compacted revision. A compaction between
// this check and the watch's start is reported on the stream instead.
func (s *Store) checkCompacted(ctx context.Context, afterRevision int64) error {
	rctx, done, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	_, err = s.cli.Get(rctx, s.prefix, clientv3.WithRev(max(afterRevision, 1)), clientv3.WithCountOnly())
	switch {
	case err == nil, errors.Is(err, rpctypes.ErrFutureRev):
		return nil
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("etcdstore: watch after revision %d: %w", afterRevision, store.ErrCompacted)
	}
	return s.fail(ctx, "watch", err)
}

// forward turns etcd watch responses into one store.WatchResponse per
// revision until wctx ends or the watch fails.
func (s *Store) forward(wctx context.Context, prefix string, wch clientv3.WatchChan, ch chan<- store.WatchResponse) {
	send := func(r store.WatchResponse) bool {
		select {
		case ch <- r:
			return true
		case <-wctx.Done():
			return false
		}
	}
	for wr := range wch {
		if wctx.Err() != nil {
			return
		}
		if wr.CompactRevision != 0 {
			s.log.Debug("watcher fell behind etcd's compaction", "prefix", prefix, "compacted", wr.CompactRevision)
			send(store.WatchResponse{Err: fmt.Errorf("etcdstore: etcd compacted revision %d: %w", wr.CompactRevision, store.ErrCompacted)})
			return
		}
		if err := wr.Err(); err != nil {
			s.log.Warn("etcd watch failed", "prefix", prefix, "err", err)
			send(store.WatchResponse{Err: fmt.Errorf("etcdstore: watch: %w", err)})
			return
		}
		// etcd batches whole revisions into one response, in order:
		// split them into one response per revision.
		var cur store.WatchResponse
		for _, ev := range wr.Events {
			e := store.Event{
				Type:     store.EventPut,
				Key:      strings.TrimPrefix(string(ev.Kv.Key), s.prefix),
				Revision: ev.Kv.ModRevision,
			}
			if ev.Type == clientv3.EventTypeDelete {
				e.Type = store.EventDelete
			} else {
				e.Value = ev.Kv.Value
			}
			if len(cur.Events) > 0 && cur.Events[0].Revision != e.Revision {
				if !send(cur) {
					return
				}
				cur = store.WatchResponse{}
			}
			cur.Events = append(cur.Events, e)
		}
		if len(cur.Events) > 0 && !send(cur) {
			return
		}
	}
}
