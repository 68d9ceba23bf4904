package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestServeRefusesBadFlags: vpngw serve checks its timing flags before it
// opens anything, and names the flag and its range.
func TestServeRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--failover-after", "100ms"}, "--failover-after 100ms: want from 1s to 1m0s"},
		{[]string{"--failover-after", "2m"}, "--failover-after 2m0s: want from 1s to 1m0s"},
		{[]string{"--leader-ttl", "1500ms"}, "--leader-ttl 1.5s: want whole seconds"},
	} {
		t.Run(strings.Join(tc.args, "="), func(t *testing.T) {
			dir := t.TempDir()
			var out, errOut bytes.Buffer
			args := append([]string{"serve", "--provider", "none", "--data-dir", dir, "--secrets-key-file", dir + "/key"}, tc.args...)
			if code := Main(args, strings.NewReader(""), &out, &errOut); code != ExitUsage || !strings.Contains(errOut.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut.String(), ExitUsage, tc.want)
			}
		})
	}
}
