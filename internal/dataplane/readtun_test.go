package dataplane

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/vpngw/vpngw/internal/esp"
)

// TestReadTUNDrainsQueuedPackets: when the TUN device has more packets
// queued after a read of a single packet (ACKs), the reader takes them
// into the same batch, up to the batch size, so they leave with one Send;
// a read of a super-packet (several packets) ends the batch; every read
// still gets a full batch of buffers; and the packets leave in the order
// the device gave them, with sequence numbers in that order.
func TestReadTUNDrainsQueuedPackets(t *testing.T) {
	n := conn.IdealBatchSize
	for _, tc := range []struct {
		name      string
		chunks    []int // packets per read
		drain     bool  // the device reports queued packets
		wantSends int
	}{
		{"one packet per read, drained", repeatInt(1, 40), true, 1},
		{"one packet per read, no readiness", repeatInt(1, 40), false, 40},
		{"drained up to the batch size", repeatInt(1, 200), true, 2},
		// A super-packet ends the batch: [1 1 1 3] [1 1 5] [2] [1].
		{"a super-packet ends the batch", []int{1, 1, 1, 3, 1, 1, 5, 2, 1}, true, 4},
		{"super-packets are not drained", repeatInt(3, 20), true, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			total := 0
			for _, c := range tc.chunks {
				total += c
			}
			ft, fb := &fakeTUN{events: make(chan tun.Event), chunks: tc.chunks}, &fakeBind{}
			d := newFakeDataplane(ft, fb, newElemPool(poolLimit))
			if tc.drain {
				d.tunReady = ft.ready
			}
			addFakeTunnel(d, "t", fuzzRouteRemote, []netip.Prefix{pfx("10.2.0.0/16")})
			d.localCache[fuzzRouteRemote.Addr()] = localEntry{addr: fuzzLocal.Addr(), at: time.Now().Add(time.Hour)}
			d.mu.Lock()
			d.rebuild()
			d.mu.Unlock()
			out, in := saPair(t, 0x2000, 7)
			must(t, d.SetOutboundSA("t", out, Selectors{}))

			inner := make([][]byte, total)
			for i := range inner {
				// Two interleaved flows, as with many flows in one tunnel.
				inner[i] = ipv4TCP("10.1.0.5", "10.2.0.5", uint16(1000+i%2), 80, 0x10, fmt.Appendf(nil, "packet %04d", i))
			}
			runSend(d, ft, inner)

			if fb.sends != tc.wantSends {
				t.Errorf("%d Send calls for %d reads, want %d", fb.sends, len(tc.chunks), tc.wantSends)
			}
			if ft.minSlots < n {
				t.Errorf("a read was given %d buffers, want at least %d", ft.minSlots, n)
			}
			if len(fb.sent) != total {
				t.Fatalf("%d datagrams sent, want %d", len(fb.sent), total)
			}
			for i, s := range fb.sent {
				buf := append(make([]byte, esp.ScratchLen), s.data...)
				got, _, seq, err := in.Open(buf, esp.ScratchLen)
				if err != nil {
					t.Fatalf("datagram %d: %v", i, err)
				}
				if seq != uint64(i+1) {
					t.Fatalf("datagram %d has sequence number %d, want %d", i, seq, i+1)
				}
				if !bytes.Equal(got, inner[i]) {
					t.Fatalf("datagram %d carries another packet: sent out of order", i)
				}
			}
		})
	}
}

func repeatInt(v, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}
