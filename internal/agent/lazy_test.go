package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/dataplane"
	"github.com/vpngw/vpngw/internal/ike/message"
)

func TestIsLazyIKE(t *testing.T) {
	hdr := func(version byte, ex message.ExchangeType, flags byte) []byte {
		b := make([]byte, message.HeaderLen+8)
		b[0], b[8] = 1, 2 // SPIs
		b[17], b[18], b[19] = version, byte(ex), flags
		return b
	}
	for _, c := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"INFORMATIONAL request", hdr(0x20, message.Informational, message.FlagInitiator), true},
		{"INFORMATIONAL request from the responder", hdr(0x20, message.Informational, 0), true},
		{"INFORMATIONAL response", hdr(0x20, message.Informational, message.FlagResponse), false},
		{"IKE_SA_INIT", hdr(0x20, message.IKESAInit, message.FlagInitiator), false},
		{"IKE_AUTH", hdr(0x20, message.IKEAuth, message.FlagInitiator), false},
		{"CREATE_CHILD_SA", hdr(0x20, message.CreateChildSA, 0), false},
		{"IKEv1 with exchange 37", hdr(0x10, message.Informational, 0), false},
		{"IKEv1 Informational", hdr(0x10, 5, 0), false},
		{"short", hdr(0x20, message.Informational, 0)[:message.HeaderLen-1], false},
	} {
		if got := isLazyIKE(c.b); got != c.want {
			t.Errorf("%s: isLazyIKE = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestLivenessChecksHeld hands n tunnels' liveness checks to the agent as
// the data plane does (receiveIKE, one datagram at a time): they must not
// wake the loop each (nothing on ikeIn; one kick), wait lazyHold, and
// then be answered all together, in ⌈n/256⌉ data plane sends, every check
// answered; a setup's datagram still goes to the loop at once.
func TestLivenessChecksHeld(t *testing.T) {
	for _, n := range []int{1, dataplane.IKEBatchMax + 44} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := newLivenessRig(t, n)
			r.checksDue()
			r.batches = nil
			for _, p := range r.client.sent {
				r.a.receiveIKE(dataplane.IKEPacket{Data: p.Data, Local: p.Remote, Remote: p.Local})
			}
			r.client.sent = nil
			if len(r.a.ikeIn) != 0 {
				t.Fatalf("%d liveness checks went to the loop at once, want them held", len(r.a.ikeIn))
			}
			if len(r.a.lazy.kick) != 1 {
				t.Fatalf("%d kicks for the loop after %d checks, want 1", len(r.a.lazy.kick), n)
			}
			// The loop's steps: kicked, it arms the hold; its timer
			// takes the queue when the hold is over.
			<-r.a.lazy.kick
			t0 := r.now
			r.a.lazy.arm(t0)
			r.a.lazy.arm(t0.Add(lazyHold / 2)) // an armed hold keeps its time
			step := func(after time.Duration) {
				r.a.host.sendLater()
				r.a.handleLazy(t0.Add(after))
				r.a.host.flush()
			}
			step(lazyHold - time.Nanosecond)
			if len(r.batches) != 0 {
				t.Fatalf("%d sends before the hold was over", len(r.batches))
			}
			step(lazyHold)
			want := (n + dataplane.IKEBatchMax - 1) / dataplane.IKEBatchMax
			if got := len(r.batches); got != want {
				t.Errorf("%d held liveness answers took %d data plane sends, want %d", n, got, want)
			}
			if got := r.answers(); got != n {
				t.Errorf("%d answers to %d liveness checks", got, n)
			}
			r.deliver()
			r.answered()
			if !r.a.lazy.due.IsZero() || len(r.a.lazy.q) != 0 {
				t.Errorf("after the take: hold armed %v, %d datagrams held", !r.a.lazy.due.IsZero(), len(r.a.lazy.q))
			}

			// A client's IKE_SA_INIT is not held.
			if err := r.s.SetPeers(r.now, nil); err != nil {
				t.Fatal(err)
			}
			r.client.sent = nil
			if err := r.s.SetPeers(r.now, r.sites[:1]); err != nil {
				t.Fatal(err)
			}
			r.s.Tick(r.now)
			for _, p := range r.client.sent {
				r.a.receiveIKE(dataplane.IKEPacket{Data: p.Data, Local: p.Remote, Remote: p.Local})
			}
			if len(r.client.sent) == 0 || len(r.a.ikeIn) != 1 || len(r.a.lazy.q) != 0 {
				t.Errorf("a setup's first datagram: %d sent, %d on ikeIn, %d held; want it on ikeIn", len(r.client.sent), len(r.a.ikeIn), len(r.a.lazy.q))
			}
		})
	}
}
