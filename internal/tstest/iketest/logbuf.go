package iketest

import (
	"log/slog"
	"testing"

	"github.com/vpngw/vpngw/internal/tstest"
)

// LogBuffer collects an engine's log (debug level and up) and prints it
// when the test fails, so an interop failure shows what our side did next
// to the peer's log.
type LogBuffer struct{ tstest.SyncBuffer }

// NewLogBuffer returns a LogBuffer that t prints at cleanup if it failed.
func NewLogBuffer(t testing.TB) *LogBuffer {
	b := &LogBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("engine log:\n%s", b.String())
		}
	})
	return b
}

// Logger returns a text logger writing into b at debug level.
func (b *LogBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
