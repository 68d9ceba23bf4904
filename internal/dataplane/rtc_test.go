package dataplane

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"net/netip"
	"testing"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/vpngw/vpngw/internal/esp"
)

// recvChunks returns a ReceiveFunc that delivers datagrams from remote,
// receive i carrying at most chunks[i] of them, then net.ErrClosed.
func recvChunks(remote netip.AddrPort, datagrams [][]byte, chunks []int) conn.ReceiveFunc {
	return func(bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		if len(datagrams) == 0 {
			return 0, net.ErrClosed
		}
		most := len(bufs)
		if len(chunks) > 0 {
			most, chunks = min(most, chunks[0]), chunks[1:]
		}
		n := 0
		for n < most && len(datagrams) > 0 {
			sizes[n] = copy(bufs[n], datagrams[0])
			eps[n] = &conn.StdNetEndpoint{AddrPort: remote}
			datagrams = datagrams[1:]
			n++
		}
		return n, nil
	}
}

// TestRunToCompletion: with batches run to completion in their reader
// (all of them, none, or the small ones while the large ones go through
// the workers), every packet leaves once, in read order, with consecutive
// sequence numbers, and every received packet reaches the TUN device
// once, in receive order. With inlineMax unlimited no worker, sender or
// TUN writer runs at all: a batch queued by mistake would never leave.
func TestRunToCompletion(t *testing.T) {
	chunks := []int{1, 5, 1, 1, 40, 2, 3, 64, 1, 1, 7}
	total := 0
	for _, c := range chunks {
		total += c
	}
	for _, tc := range []struct {
		name      string
		inlineMax int
		pipeline  bool // start the workers, the sender and the TUN writer
	}{
		{"pipeline only", 0, true},
		{"all inline", math.MaxInt, false},
		{"small batches inline", 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft, fb := &fakeTUN{events: make(chan tun.Event)}, &fakeBind{}
			d := newFakeDataplane(ft, fb, newElemPool(poolLimit))
			d.inlineMax = tc.inlineMax
			addFakeTunnel(d, "t", fuzzRouteRemote, []netip.Prefix{pfx("10.2.0.0/16")})
			d.localCache[fuzzRouteRemote.Addr()] = localEntry{addr: fuzzLocal.Addr()}
			d.mu.Lock()
			d.rebuild()
			d.mu.Unlock()
			out, peerIn := saPair(t, 0x2000, 2)
			must(t, d.SetOutboundSA("t", out, Selectors{}))
			peerOut, in := saPair(t, 0x1000, 1)
			must(t, d.AddInboundSA("t", in, Selectors{}))

			// Outbound.
			var inner [][]byte
			for i := range total {
				inner = append(inner, ipv4TCP("10.1.0.5", "10.2.0.5", 1000, 80, 0x10, []byte(fmt.Sprintf("out %3d", i))))
			}
			ft.in, ft.chunks = inner, chunks
			if tc.pipeline {
				d.wg.Add(2)
				go d.routineEncrypt()
				go d.routineSend()
			}
			d.wg.Add(1)
			d.routineReadTUN()
			d.wg.Wait()
			if len(fb.sent) != total {
				t.Fatalf("%d datagrams sent, want %d", len(fb.sent), total)
			}
			for i, s := range fb.sent {
				buf := append(make([]byte, esp.ScratchLen), s.data...)
				got, _, seq, err := peerIn.Open(buf, esp.ScratchLen)
				if err != nil {
					t.Fatalf("datagram %d: %v", i, err)
				}
				if seq != uint64(i+1) || !bytes.Equal(got, inner[i]) {
					t.Fatalf("datagram %d: sequence number %d or payload out of order", i, seq)
				}
			}

			// Inbound.
			var dgrams, want [][]byte
			for i := range total {
				p := ipv4TCP("10.2.0.5", "10.1.0.5", 80, 1000, 0x10, []byte(fmt.Sprintf("in %3d", i)))
				want = append(want, p)
				dgrams = append(dgrams, sealPeer(t, peerOut, p))
			}
			if tc.pipeline {
				d.wg.Add(2)
				go d.routineDecrypt()
				go d.routineWriteTUN()
			}
			d.recvWG.Add(1)
			d.routineReceive(bindRead(recvChunks(fuzzRouteRemote, dgrams, chunks)), true)
			close(d.decQ)
			close(d.writeQ)
			d.wg.Wait()
			if len(ft.written) != total {
				t.Fatalf("%d packets written to the TUN device, want %d", len(ft.written), total)
			}
			for i := range want {
				if !bytes.Equal(ft.written[i], want[i]) {
					t.Fatalf("packet %d written out of order or changed", i)
				}
			}
			if st := d.tunnels["t"]; st.txPackets.Load() != uint64(total) || st.rxPackets.Load() != uint64(total) {
				t.Errorf("tunnel counted %d sent, %d received; want %d each", st.txPackets.Load(), st.rxPackets.Load(), total)
			}
		})
	}
}
