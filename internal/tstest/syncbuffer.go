package tstest

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

// SyncBuffer is a goroutine-safe in-memory sink (for a logger that
// background goroutines write to while the test reads it).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Logger returns a debug logger for t that writes to a buffer printed when
// the test fails (name introduces it), or to stderr with VPNGW_TEST_LOG=1.
func Logger(t testing.TB, name string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	if os.Getenv("VPNGW_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	w := &SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", name, w.String())
		}
	})
	return slog.New(slog.NewTextHandler(w, opts))
}

// TailLines is the last n lines of s (a daemon's log for a failed test's
// output).
func TailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
