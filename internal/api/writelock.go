package api

import (
	"context"
	"net/http"
	"time"
)

// CodeWriteLockUnavailable: 503, the writer lock shared with the other
// servers on the store (Config.WriteLock) could not be taken in time.
const CodeWriteLockUnavailable = "WriteLockUnavailable"

// writeLockTimeout bounds the wait for the shared writer lock.
const writeLockTimeout = 10 * time.Second

// lockWrites takes the writer lock: this server's, then the one shared
// with the other servers on the store, if any. unlock releases both.
func (s *Server) lockWrites(ctx context.Context) (unlock func(), err error) {
	s.mu.Lock()
	if s.writeLock == nil {
		return s.mu.Unlock, nil
	}
	lctx, cancel := context.WithTimeout(ctx, writeLockTimeout)
	defer cancel()
	release, err := s.writeLock.Lock(lctx)
	if err != nil {
		s.mu.Unlock()
		return nil, errorf(http.StatusServiceUnavailable, CodeWriteLockUnavailable, "",
			"The writer lock shared by the servers on this store could not be taken: %v. Retry the request.", err)
	}
	return func() { release(); s.mu.Unlock() }, nil
}
