package agent

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/dataplane"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tunstat"
)

// TestCounterRefreshSkippedWhileIdle: remote mode's periodic refresh of
// every tunnel's counters builds the full status only when a tunnel's
// counters moved since the last full build (a real data plane's
// TrafficSeq); otherwise it reports the changes alone, and they still
// reach the Reporter.
func TestCounterRefreshSkippedWhileIdle(t *testing.T) {
	nstest.RequirePriv(t)
	ns := nstest.New(t, "vag-rf")
	var dp *dataplane.Dataplane
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ns.Do(func() (err error) {
		dp, err = dataplane.Open(context.Background(), dataplane.Config{TUNName: "vag0", Addresses: []netip.Prefix{netip.MustParsePrefix("10.9.0.1/24")}})
		return err
	}))
	defer dp.Close()
	must(dp.SetTunnel(dataplane.TunnelConfig{ID: "b", Remote: netip.MustParseAddrPort("192.0.2.2:4500"), Encap: true,
		RemotePrefixes: []netip.Prefix{netip.MustParsePrefix("10.8.0.0/16")}}))

	a := &Agent{}
	a.book.name, a.book.dp, a.book.trackChanges = "gw", dp, true
	a.book.conns = map[string]ConnectionStatus{"b": {PeerStatus: tunstat.PeerStatus{Name: "b"}, Status: "Connected"}}
	s := &supervisor{log: slog.New(slog.DiscardHandler), run: &instance{ag: a}}
	rep := agentapi.NewReporter()
	drops := func() uint64 {
		for _, c := range rep.Status().Connections {
			if c.Name == "b" && c.Traffic != nil {
				return c.Traffic.DropNoSA
			}
		}
		t.Fatalf("no traffic counters for b in %+v", rep.Status().Connections)
		return 0
	}
	for i, step := range []struct {
		name     string
		do       func()
		counters bool
		want     buildKind
	}{
		{"first", nil, true, builtFull},
		{"idle", nil, true, builtIdle},
		{"changes", nil, false, builtChanges},
		{"a packet for the tunnel", func() {
			seq := a.TrafficSeq()
			_, _ = ns.Run("ping", "-c", "1", "-W", "1", "10.8.0.1") // no SA: a drop
			nstest.WaitFor(t, 3*time.Second, func() bool { return a.TrafficSeq() != seq }, "TrafficSeq stayed %d", seq)
		}, true, builtFull},
		{"idle again", nil, true, builtIdle},
		{"a change while idle", func() {
			a.book.mu.Lock()
			a.book.conns["b"] = ConnectionStatus{PeerStatus: tunstat.PeerStatus{Name: "b"}, Status: "NotConnected"}
			a.book.logChange("b")
			a.book.mu.Unlock()
		}, true, builtIdle},
	} {
		if step.do != nil {
			step.do()
		}
		if got := s.snapshot(rep, true, step.counters); got != step.want {
			t.Fatalf("step %d (%s): built %v, want %v", i, step.name, got, step.want)
		}
		if i == 3 && drops() == 0 {
			t.Fatal("the full build after the packet has no drop counted")
		}
	}
	if got := rep.Status().Connections; len(got) != 1 || got[0].Status != "NotConnected" || got[0].Traffic == nil || got[0].Traffic.DropNoSA == 0 {
		t.Fatalf("reported %+v: want b NotConnected, its drop kept", got)
	}
}
