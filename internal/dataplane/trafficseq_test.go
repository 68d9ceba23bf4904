package dataplane

import (
	"encoding/binary"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// TestTrafficSeq: every change of a tunnel's counters, on each path that
// makes one (sent and received packets, drops before and after
// decryption, drops without an SA, NAT-keepalives), is followed by a
// change of TrafficSeq; IKE and packets that belong to no tunnel leave it
// as it was. Remote mode skips its periodic refresh of every tunnel's
// counters on that promise.
func TestTrafficSeq(t *testing.T) {
	nstest.RequirePriv(t)
	gwA, gwB := nstest.New(t, "vdp-sa"), nstest.New(t, "vdp-sb")
	nstest.Link(t, gwA, "wan0", pfx("192.0.2.1/24"), gwB, "wan0", pfx("192.0.2.2/24"))
	dp := openIn(t, gwA, Config{TUNName: "vdp0", Addresses: []netip.Prefix{pfx("10.9.0.1/24")}})
	dp.SetIKEHandler(func(IKEPacket) {})
	var peer *net.UDPConn
	must(t, gwB.Do(func() (err error) {
		peer, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 4500})
		return err
	}))
	defer peer.Close()
	toA := &net.UDPAddr{IP: wanA.AsSlice(), Port: 4500}
	must(t, dp.SetTunnel(TunnelConfig{ID: "b", Local: wanA, Remote: netip.AddrPortFrom(wanB, 4500), Encap: true,
		RemotePrefixes: []netip.Prefix{pfx("10.8.0.0/16")}}))
	// The peer's SA into A, and the packets it seals.
	outBA, inBA := saPair(t, 0x2000, 2)
	must(t, dp.AddInboundSA("b", inBA, Selectors{}))
	seal := func() []byte {
		inner := make([]byte, 28) // IPv4 to A's TUN address, no payload to speak of
		inner[0], inner[8], inner[9] = 0x45, 64, 1
		binary.BigEndian.PutUint16(inner[2:], uint16(len(inner)))
		copy(inner[12:], netip.MustParseAddr("10.8.0.1").AsSlice())
		copy(inner[16:], netip.MustParseAddr("10.9.0.1").AsSlice())
		off := outBA.Headroom()
		buf := make([]byte, off+len(inner), off+len(inner)+outBA.Tailroom())
		copy(buf[off:], inner)
		p, err := outBA.Seal(buf, off)
		must(t, err)
		return p
	}
	sent := seal()
	forged := append([]byte(nil), seal()...)
	forged[len(forged)-1] ^= 1 // fails its ICV
	send := func(b []byte) func() {
		return func() {
			if _, err := peer.WriteToUDP(b, toA); err != nil {
				t.Fatal(err)
			}
		}
	}
	ping := func() { _, _ = gwA.Run("ping", "-c", "1", "-W", "1", "10.8.0.1") }
	// Into the TUN device, to no tunnel.
	gwA.MustRun(t, "ip", "route", "add", "10.7.0.0/16", "dev", "vdp0")
	withSA := func() {
		out, _ := saPair(t, 0x1000, 1)
		must(t, dp.SetOutboundSA("b", out, Selectors{}))
		ping()
	}
	counters := func() TunnelStats {
		st, _ := dp.TunnelStats("b")
		st.LastReceived, st.LastKeepalive = time.Time{}, time.Time{} // moved with the counters
		return st
	}
	for _, tc := range []struct {
		name  string
		do    func()
		moves bool
	}{
		{"IKE", send(append([]byte{0, 0, 0, 0}, "an IKE message of 28 bytes or more"...)), false},
		{"unknown SPI", send([]byte{0, 0, 0x12, 0x34, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8}), false},
		{"no route", func() { _, _ = gwA.Run("ping", "-c", "1", "-W", "1", "10.7.0.1") }, false},
		{"keepalive", send([]byte{0xff}), true},
		{"no SA", ping, true},
		{"received", send(sent), true},
		{"replayed", send(sent), true},
		{"forged", send(forged), true},
		{"sent", withSA, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seq, st, gw := dp.TrafficSeq(), counters(), dp.Stats()
			tc.do()
			// The datagram or packet was handled once a counter moved:
			// the tunnel's, or the gateway's for what is none of its.
			nstest.WaitFor(t, 3*time.Second, func() bool {
				return !reflect.DeepEqual(counters(), st) || dp.Stats() != gw
			}, "no counter moved")
			if !tc.moves {
				time.Sleep(50 * time.Millisecond)
				if got := counters(); !reflect.DeepEqual(got, st) {
					t.Fatalf("tunnel counters moved: %+v, was %+v", got, st)
				}
				if s := dp.TrafficSeq(); s != seq {
					t.Fatalf("TrafficSeq moved from %d to %d with no tunnel counter", seq, s)
				}
				return
			}
			nstest.WaitFor(t, 3*time.Second, func() bool { return dp.TrafficSeq() != seq },
				"tunnel counters moved (%+v, was %+v) and TrafficSeq stayed %d", counters(), st, seq)
		})
	}
}

// TestTrafficSeqReaders: a mark gives every reader a new number at its
// next read, whichever reader read first.
func TestTrafficSeqReaders(t *testing.T) {
	var ts trafficSeq
	a := ts.read()
	if b := ts.read(); b != a {
		t.Fatalf("no mark: %d then %d", a, b)
	}
	ts.mark()
	ts.mark()
	b := ts.read() // reader 1 clears the mark
	if b == a {
		t.Fatal("a mark did not change the number")
	}
	if c := ts.read(); c != b { // reader 2, last at a: sees b
		t.Fatalf("reader 2 got %d, want %d", c, b)
	}
}
