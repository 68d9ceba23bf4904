package dataplane

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/vpngw/vpngw/internal/esp"
)

// TestManyTunnelsOneCallPerRead checks that the system calls of the packet
// path do not grow with the number of tunnels a read spans: the packets
// of one TUN read spread over N tunnels leave with one Send per peer
// address (one in all when the tunnels share the peer's address), and the
// ESP datagrams of one receive spread over N inbound SAs reach the TUN
// device with one Write. Every packet still goes out on its own tunnel's
// SA, arrives intact, and is counted on its own tunnel.
func TestManyTunnelsOneCallPerRead(t *testing.T) {
	const n = 40
	pool := newElemPool(poolLimit)
	for _, tc := range []struct {
		name      string
		remote    func(i int) netip.AddrPort
		wantSends int
	}{
		{"one peer address", func(int) netip.AddrPort { return fuzzRouteRemote }, 1},
		{"a peer address per tunnel", func(i int) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)}), 4500)
		}, n},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft, fb := &fakeTUN{events: make(chan tun.Event)}, &fakeBind{}
			d := newFakeDataplane(ft, fb, pool)
			peerOut := make([]*esp.OutboundSA, n)
			peerIn := map[uint32]*esp.InboundSA{}
			for i := range n {
				id := fmt.Sprintf("t%d", i)
				addFakeTunnel(d, id, tc.remote(i), []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 2, byte(i), 0}), 24)})
				d.localCache[tc.remote(i).Addr()] = localEntry{addr: fuzzLocal.Addr(), at: time.Now().Add(time.Hour)}
			}
			d.mu.Lock()
			d.rebuild()
			d.mu.Unlock()
			for i := range n {
				id := fmt.Sprintf("t%d", i)
				out, in := saPair(t, uint32(0x1000+i), byte(i))
				must(t, d.AddInboundSA(id, in, Selectors{}))
				peerOut[i] = out
				out, in = saPair(t, uint32(0x2000+i), byte(100+i))
				must(t, d.SetOutboundSA(id, out, Selectors{}))
				peerIn[uint32(0x2000+i)] = in
			}

			// Outbound: one TUN read with a packet for each tunnel.
			inner := make([][]byte, n)
			for i := range inner {
				inner[i] = ipv4TCP("10.1.0.5", fmt.Sprintf("10.2.%d.5", i), 1000, 80, 0x10, nil)
			}
			runSend(d, ft, inner)
			if fb.sends != tc.wantSends {
				t.Errorf("%d Send calls for one TUN read over %d tunnels, want %d", fb.sends, n, tc.wantSends)
			}
			if len(fb.sent) != n {
				t.Fatalf("%d datagrams sent, want %d", len(fb.sent), n)
			}
			for _, s := range fb.sent {
				spi, err := esp.ParseSPI(s.data)
				if err != nil {
					t.Fatal(err)
				}
				i := int(spi - 0x2000)
				if i < 0 || i >= n || s.to != tc.remote(i) {
					t.Fatalf("datagram with SPI %#x sent to %v", spi, s.to)
				}
				buf := append(make([]byte, esp.ScratchLen), s.data...)
				got, _, _, err := peerIn[spi].Open(buf, esp.ScratchLen)
				if err != nil {
					t.Fatalf("SPI %#x: %v", spi, err)
				}
				if !bytes.Equal(got, inner[i]) {
					t.Fatalf("SPI %#x carried a packet for another tunnel", spi)
				}
			}

			// Inbound: one receive with an ESP datagram on each tunnel's SA.
			var natt [][]byte
			for i := range n {
				p := ipv4TCP(fmt.Sprintf("10.2.%d.5", i), "10.1.0.5", 80, 1000, 0x10, nil)
				natt = append(natt, sealPeer(t, peerOut[i], p))
			}
			runReceive(d, tc.remote(0), natt, nil)
			if ft.writes != 1 || len(ft.written) != n {
				t.Errorf("%d TUN writes carrying %d packets for one receive over %d SAs, want 1 write of %d", ft.writes, len(ft.written), n, n)
			}
			for i := range n {
				st := d.tunnels[fmt.Sprintf("t%d", i)]
				if st.txPackets.Load() != 1 || st.rxPackets.Load() != 1 {
					t.Errorf("tunnel t%d counted %d sent, %d received; want 1, 1", i, st.txPackets.Load(), st.rxPackets.Load())
				}
			}
		})
	}
}

// TestWriteCoalescesReadyBatches: receives that queued up behind the TUN
// writer, already decrypted, reach the TUN device with one Write (so that
// its GRO sees every segment of a flow), in receive order, each packet
// once.
func TestWriteCoalescesReadyBatches(t *testing.T) {
	const receives, per = 3, 10
	ft, fb := &fakeTUN{events: make(chan tun.Event)}, &fakeBind{}
	d := newFakeDataplane(ft, fb, newElemPool(poolLimit))
	addFakeTunnel(d, "t", fuzzRouteRemote, []netip.Prefix{pfx("10.2.0.0/16")})
	d.mu.Lock()
	d.rebuild()
	d.mu.Unlock()
	out, in := saPair(t, 0x1000, 1)
	must(t, d.AddInboundSA("t", in, Selectors{}))

	var want [][]byte
	d.recvWG.Add(receives)
	for r := range receives {
		var dgrams [][]byte
		for i := range per {
			p := ipv4TCP("10.2.0.5", "10.1.0.5", 80, 1000, 0x10, []byte(fmt.Sprintf("receive %d packet %d", r, i)))
			want = append(want, p)
			dgrams = append(dgrams, sealPeer(t, out, p))
		}
		d.routineReceive(bindRead(recvFrom(fuzzRouteRemote, dgrams)), true) // one batch each
	}
	// Decrypt every batch, then let the writer find them all ready.
	close(d.decQ)
	d.wg.Add(1)
	d.routineDecrypt()
	close(d.writeQ)
	d.wg.Add(1)
	d.routineWriteTUN()

	if ft.writes != 1 {
		t.Errorf("%d TUN writes for %d ready receives, want 1", ft.writes, receives)
	}
	if len(ft.written) != len(want) {
		t.Fatalf("%d packets written, want %d", len(ft.written), len(want))
	}
	for i := range want {
		if !bytes.Equal(ft.written[i], want[i]) {
			t.Fatalf("packet %d written out of order or changed", i)
		}
	}
	if st := d.tunnels["t"]; st.rxPackets.Load() != receives*per {
		t.Errorf("tunnel counted %d received, want %d", st.rxPackets.Load(), receives*per)
	}
}
