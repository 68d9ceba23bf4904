package agent_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

// TestInteropDeadPeerDoesNotDisturbOthers: a connection whose peer never
// answers (its IKE_SA_INIT retransmissions run out, then it retries) must
// not cost a single packet of another connection's tunnel.
func TestInteropDeadPeerDoesNotDisturbOthers(t *testing.T) {
	swantest.Require(t)
	l := newLab(t, false)
	l.swanB("aes256gcm16-prfsha256-ecp256", "aes256gcm16", nil)
	cfg := l.agentConfig("aes256gcm16-prfsha256-ecp256", "aes256gcm16")
	cfg.Connections = append(cfg.Connections, gwconfig.Connection{
		Name:           "to-nowhere",
		RemoteAddress:  "203.0.113.51",
		RemotePrefixes: []string{"10.60.0.0/16"},
		SharedKey:      "interopPSK123",
		IKEProposals:   "aes256gcm16-prfsha256-ecp256",
		ESPProposals:   "aes256gcm16",
	})
	start := time.Now()
	a, _ := startAgent(t, l.a, cfg)
	waitConnected(t, a, "to-b", 15*time.Second)
	reachable(t, l.a.host, l.b.lanHost, 5*time.Second)
	// 40 s of pings at 10 pps in two runs (a command in a namespace may
	// take 30 s at most): the dead peer's first attempt gives up 30 s
	// after the start, and its next attempt begins.
	for run := 1; run <= 2; run++ {
		const n = 200
		out, _ := l.a.host.Run("ping", "-c", strconv.Itoa(n), "-i", "0.1", "-W", "1", l.b.lanHost.String())
		t.Logf("run %d, %v after start:\n%s", run, time.Since(start).Round(time.Second), tail(out, 3))
		if lost := countLost(t, out, n); len(lost) != 0 {
			t.Fatalf("run %d: lost %d pings (seq %v) while the other connection failed\n%s", run, len(lost), lost, fmtStatus(a.Status()))
		}
	}
	if st := a.Status(); !st.Connected("to-b") || st.Connected("to-nowhere") {
		t.Fatalf("status:\n%s", fmtStatus(st))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// countLost returns the sequence numbers (1..n) ping printed no reply for.
func countLost(t *testing.T, out string, n int) []int {
	t.Helper()
	got := map[int]bool{}
	for _, line := range strings.Split(out, "\n") {
		i := strings.Index(line, "icmp_seq=")
		if i < 0 || !strings.Contains(line, "bytes from") {
			continue
		}
		f := strings.Fields(line[i+len("icmp_seq="):])
		if len(f) > 0 {
			if s, err := strconv.Atoi(f[0]); err == nil {
				got[s] = true
			}
		}
	}
	var lost []int
	for s := 1; s <= n; s++ {
		if !got[s] {
			lost = append(lost, s)
		}
	}
	return lost
}
