package dataplane

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRawESPRecvModes: raw ESP flows both ways (pings, a checksummed TCP
// transfer) with the raw socket blocking outside the runtime's poller (the
// default) and non-blocking in it (Config.RawRecvPoll), and Close returns
// promptly with the receiver waiting in either mode.
func TestRawESPRecvModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		poll bool
	}{{"blocking", false}, {"poll", true}} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLabWith(t, Config{RawESP: true, RawRecvPoll: tc.poll})
			l.connect(t, false, 0x1000, 0x2000)
			for _, dp := range []*Dataplane{l.dpA, l.dpB} {
				var flags int
				var ferr error
				must(t, dp.raw.rc.Control(func(fd uintptr) { flags, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0) }))
				must(t, ferr)
				if got := flags&unix.O_NONBLOCK != 0; got != tc.poll {
					t.Fatalf("raw socket non-blocking = %v, want %v", got, tc.poll)
				}
			}
			ping(t, l.hostA, "10.2.0.10")
			ping(t, l.hostB, "10.1.0.10")
			const size = 8 << 20
			l.transfer(t, size)
			stA, _ := l.dpA.TunnelStats("b")
			stB, _ := l.dpB.TunnelStats("a")
			if stB.RxBytes < size || stA.RxPackets == 0 || stA.DropSend != 0 || stB.DropSend != 0 {
				t.Fatalf("stats A %+v B %+v", stA, stB)
			}
			if m := l.dpA.Stats().Malformed + l.dpB.Stats().Malformed; m != 0 {
				t.Errorf("%d malformed packets", m)
			}
			// Both receivers are idle now, waiting for a packet.
			time.Sleep(50 * time.Millisecond)
			for _, dp := range []*Dataplane{l.dpA, l.dpB} {
				done := make(chan error, 1)
				go func() { done <- dp.Close() }()
				select {
				case err := <-done:
					must(t, err)
				case <-time.After(5 * time.Second):
					t.Fatal("Close hangs with the raw ESP receiver waiting")
				}
			}
		})
	}
}
