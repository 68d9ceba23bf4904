package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/store"
	"github.com/vpngw/vpngw/internal/store/etcdstore"
)

// writerKey is the shared writer lock's key prefix under the store's
// prefix; the registry uses none of it.
const writerKey = "writer/"

// etcdWriteLock is the API's writer lock shared by the replicas on one
// etcd prefix (api.Config.WriteLock): a concurrency.Mutex on a session
// of this replica's, whose lease (ttl) frees the lock if the replica
// dies holding it.
type etcdWriteLock struct {
	cli *clientv3.Client
	// key is the mutex's key prefix.
	key string
	// ttl is the session's lease.
	ttl time.Duration

	// mu guards sess, created on first use and again after it ends.
	mu   sync.Mutex
	sess *concurrency.Session
}

// writeLockFor is the shared writer lock for raw: etcd's, or nil for a
// store only this process writes.
func writeLockFor(raw store.Store, ttl time.Duration) (api.WriteLocker, func()) {
	s, ok := raw.(*etcdstore.Store)
	if !ok {
		return nil, func() {}
	}
	if ttl == 0 {
		ttl = DefaultLeaderTTL
	}
	l := &etcdWriteLock{cli: s.Client(), key: s.Prefix() + writerKey, ttl: ttl}
	return l, l.close
}

// session returns the live session, creating one if needed.
func (l *etcdWriteLock) session(ctx context.Context) (*concurrency.Session, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sess != nil {
		select {
		case <-l.sess.Done():
			l.sess = nil
		default:
			return l.sess, nil
		}
	}
	// The lease is granted under ctx (bounded), the session then keeps
	// it alive for the replica's life.
	lease, err := l.cli.Grant(ctx, int64(l.ttl/time.Second))
	if err != nil {
		return nil, fmt.Errorf("writer lock: lease: %w", err)
	}
	// (WithTTL also bounds Close's revoke, 60 s by default.)
	sess, err := concurrency.NewSession(l.cli, concurrency.WithLease(lease.ID), concurrency.WithTTL(int(l.ttl/time.Second)),
		concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return nil, fmt.Errorf("writer lock: session: %w", err)
	}
	l.sess = sess
	return sess, nil
}

// Lock implements api.WriteLocker. It retries until ctx ends: etcd
// refuses requests for a moment while it elects a new leader member.
func (l *etcdWriteLock) Lock(ctx context.Context) (func(), error) {
	for {
		unlock, err := l.tryLock(ctx)
		if err == nil || ctx.Err() != nil {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lockResult is what a lockWait goroutine returns.
type lockResult struct {
	unlock func()
	err    error
}

// tryLock is lockWait that returns when ctx ends even if lockWait does
// not: concurrency.Mutex.Lock, when its wait fails, deletes its key with
// the etcd client's own context, which on an etcd that cannot be reached
// blocks until the client closes (after the operations that wait on the
// lock have stopped: a deadlock at shutdown). A lock won after the
// caller gave up is released.
func (l *etcdWriteLock) tryLock(ctx context.Context) (func(), error) {
	ch := make(chan lockResult, 1)
	go func() {
		unlock, err := l.lockWait(ctx)
		ch <- lockResult{unlock, err}
	}()
	select {
	case r := <-ch:
		return r.unlock, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.unlock != nil {
				r.unlock()
			}
		}()
		return nil, fmt.Errorf("writer lock: %w", ctx.Err())
	}
}

// lockWait takes the etcd mutex, waiting while another replica holds it.
func (l *etcdWriteLock) lockWait(ctx context.Context) (func(), error) {
	sess, err := l.session(ctx)
	if err != nil {
		return nil, err
	}
	m := concurrency.NewMutex(sess, l.key)
	if err := m.Lock(ctx); err != nil {
		return nil, fmt.Errorf("writer lock: %w", err)
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Unlock(uctx) // else the lease frees it
	}, nil
}

// close revokes the session (and any lock it holds).
func (l *etcdWriteLock) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sess != nil {
		_ = l.sess.Close()
		l.sess = nil
	}
}
