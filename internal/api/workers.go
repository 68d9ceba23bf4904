package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/store"
)

// Operation workers. Every server serves reads and writes; a write that
// starts a long-running operation commits the resource and the operation
// record in one Txn and returns 201/202 at once. Only a server running the
// workers does the operations' work:
//
//   - StartWorkers resumes every operation left unfinished (resume), then
//     watches the operation records (watchOps): an operation committed by
//     any server sharing the store (a follower replica) is started here.
//     A write on this server starts its operation directly (startOp).
//   - StopWorkers cancels the operations' context and waits: an operation
//     interrupted mid-work does not commit an outcome, and is resumed by
//     the next StartWorkers, here or on another replica.
//
// With one process on its own store, Start runs the workers for the
// server's lifetime. With replicas sharing etcd, the elected leader runs
// them for the length of its term (internal/server).

// workers is one term of the operation workers.
type workers struct {
	// ctx ends the term; cancel ends it.
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts the term's operation, watch and janitor goroutines.
	wg sync.WaitGroup
}

// ErrWorkersRunning is StartWorkers' error while a term is running.
var ErrWorkersRunning = errors.New("api: operation workers already running")

// StartWorkers runs the operation workers until ctx ends or StopWorkers:
// it resumes every operation left in progress (resources in
// provisioningState Updating or Deleting), then starts every operation
// another server commits to the shared store, and the janitor that
// forgets finished operations after OperationRetention. It returns after
// scheduling them.
func (s *Server) StartWorkers(ctx context.Context) error { return s.startWorkers(ctx, ctx) }

// startWorkers starts a term that lasts as long as life; scan bounds the
// first scan.
func (s *Server) startWorkers(life, scan context.Context) error {
	s.opsMu.Lock()
	if s.closed {
		s.opsMu.Unlock()
		return nil
	}
	if s.workers != nil {
		s.opsMu.Unlock()
		return ErrWorkersRunning
	}
	w := &workers{}
	w.ctx, w.cancel = context.WithCancel(life)
	stop := context.AfterFunc(s.ctx, w.cancel) // Close ends the term too
	go func() {
		<-w.ctx.Done()
		stop()
	}()
	s.workers = w
	s.opsMu.Unlock()

	// The watch starts at the revision before the scan, so that an
	// operation committed during the scan is seen by one or both.
	_, rev, err := s.st.List(scan, registry.OperationKeyPrefix+"\xff")
	if err == nil {
		var n int
		n, err = s.resume(scan)
		if n > 0 {
			s.log.Info("resuming operations", "count", n)
		}
	}
	if err != nil {
		s.StopWorkers()
		return fmt.Errorf("api: resume operations: %w", err)
	}
	s.opsMu.Lock()
	defer s.opsMu.Unlock()
	if s.workers != w {
		return nil // stopped meanwhile
	}
	w.wg.Add(2)
	go s.watchOps(w, rev)
	go s.janitor(w)
	return nil
}

// StopWorkers ends the running term, if any, and waits for its
// goroutines: operations stop without committing an outcome, to be
// resumed by the next term (on this server or another sharing the store).
func (s *Server) StopWorkers() {
	s.opsMu.Lock()
	w := s.workers
	s.workers = nil
	s.opsMu.Unlock()
	if w == nil {
		return
	}
	w.cancel()
	w.wg.Wait()
}

// Working reports whether this server runs the operation workers now.
func (s *Server) Working() bool {
	s.opsMu.Lock()
	defer s.opsMu.Unlock()
	return s.workers != nil
}

// watchOps starts each in-progress operation written to the store after
// rev, until w ends. When the watch falls behind the store's change log it
// scans for unfinished operations again (resume) and watches on.
func (s *Server) watchOps(w *workers, rev int64) {
	defer w.wg.Done()
	for w.ctx.Err() == nil {
		ch, err := s.st.Watch(w.ctx, registry.OperationKeyPrefix, rev)
		if err == nil {
			rev, err = s.startWatched(ch, rev)
		}
		if w.ctx.Err() != nil {
			return
		}
		if errors.Is(err, store.ErrCompacted) {
			_, now, lerr := s.st.List(w.ctx, registry.OperationKeyPrefix+"\xff")
			if lerr == nil {
				if _, lerr = s.resume(w.ctx); lerr == nil {
					rev = now
					continue
				}
			}
			err = lerr
		}
		if err != nil && w.ctx.Err() == nil {
			s.log.Warn("watching operations; retrying", "err", err)
		}
		select {
		case <-w.ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// startWatched starts the in-progress operations ch delivers and returns
// the last revision seen and the error that ended the watch.
func (s *Server) startWatched(ch <-chan store.WatchResponse, rev int64) (int64, error) {
	for resp := range ch {
		if resp.Err != nil {
			return rev, resp.Err
		}
		for _, ev := range resp.Events {
			rev = ev.Revision
			if ev.Type != store.EventPut {
				continue
			}
			var op struct {
				Status string `json:"status"`
			}
			if json.Unmarshal(ev.Value, &op) == nil && op.Status == StatusInProgress {
				s.startOp(strings.TrimPrefix(ev.Key, registry.OperationKeyPrefix))
			}
		}
	}
	return rev, nil
}
