package cli

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestTuneRuntime: the client commands turn the collector off below
// clientMemoryLimit; daemons, the lab and an explicit GOGC or GOMEMLIMIT
// keep the runtime's settings.
func TestTuneRuntime(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		tune bool
	}{
		{args: []string{"network", "vpn-connection", "list", "-g", "RG"}, tune: true},
		{args: []string{"group", "list"}, tune: true},
		{args: []string{"login", "--credential-file", "f"}, tune: true},
		{args: []string{"monitor", "activity-log", "list"}, tune: true},
		{args: []string{"version"}, tune: true},
		{args: []string{"serve"}},
		{args: []string{"agent", "--config", "f"}},
		{args: []string{"lab", "exec", "inet", "--", "ip", "route"}},
		{args: []string{"--help"}},
		{args: nil},
		{args: []string{"network", "list"}, env: map[string]string{"GOGC": "100"}},
		{args: []string{"network", "list"}, env: map[string]string{"GOMEMLIMIT": "1GiB"}},
	}
	for _, tt := range tests {
		// Restore what the test process had after each case.
		gc := debug.SetGCPercent(100)
		limit := debug.SetMemoryLimit(math.MaxInt64)
		TuneRuntime(tt.args, func(k string) string { return tt.env[k] })
		gotGC := debug.SetGCPercent(gc)
		gotLimit := debug.SetMemoryLimit(limit)
		tuned := gotGC == -1 && gotLimit == clientMemoryLimit
		untouched := gotGC == 100 && gotLimit == math.MaxInt64
		if tt.tune && !tuned || !tt.tune && !untouched {
			t.Errorf("%q %v: GC percent %d, memory limit %d; want tuned=%v", tt.args, tt.env, gotGC, gotLimit, tt.tune)
		}
	}
}
