package dataplane

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"
)

// openBinds opens an IKE and a NAT-T bind on free ports (no privileges
// needed) and a Dataplane around them with only what SendIKEBatch uses.
func openBinds(t *testing.T) (*Dataplane, uint16, uint16) {
	t.Helper()
	ike, natt := conn.NewStdNetBind(), conn.NewStdNetBind()
	_, ikePort, err := ike.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ike.Close() })
	_, nattPort, err := natt.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { natt.Close() })
	d := &Dataplane{cfg: Config{IKEPort: ikePort, NATTPort: nattPort}, ikeBind: ike, nattBind: natt}
	d.ikeSock = openIKESockets(ike, natt)
	return d, ikePort, nattPort
}

// TestBindPacketConns fails when wireguard-go's StdNetBind no longer holds
// its sockets where bindPacketConns reads them (SendIKEBatch would then
// send one datagram per system call again).
func TestBindPacketConns(t *testing.T) {
	d, _, _ := openBinds(t)
	if d.ikeSock.ike4 == nil || d.ikeSock.natt4 == nil {
		t.Fatal("no IPv4 batch writer found in conn.StdNetBind (did wireguard-go rename ipv4PC?)")
	}
	if v4, v6 := bindPacketConns(nil); v4 != nil || v6 != nil {
		t.Fatal("batch writers from a nil bind")
	}
}

// TestSendIKEBatch sends datagrams to many peers from both sockets and
// checks that each arrives once, from the right port, with the non-ESP
// marker exactly on NAT-T, and that the batch took one sendmmsg per socket;
// a refused destination in the middle costs only its own message.
func TestSendIKEBatch(t *testing.T) {
	const peers, perPeer = 8, 3
	tests := []struct {
		name   string
		refuse bool
	}{{"all", false}, {"one refused", true}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ikePort, nattPort := openBinds(t)
			lo := netip.MustParseAddr("127.0.0.1")
			var rcv []*net.UDPConn
			var ps []IKEPacket
			for i := range peers {
				c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				rcv = append(rcv, c)
				for j := range perPeer {
					local := netip.AddrPortFrom(lo, ikePort)
					if j == 1 {
						local = netip.AddrPortFrom(lo, nattPort)
					}
					ps = append(ps, IKEPacket{Data: fmt.Appendf(nil, "msg %d/%d", i, j), Local: local, Remote: c.LocalAddr().(*net.UDPAddr).AddrPort()})
				}
				if tc.refuse && i == peers/2 {
					// Larger than a UDP datagram: the kernel refuses it
					// (EMSGSIZE).
					ps = append(ps, IKEPacket{Data: make([]byte, 70000), Local: netip.AddrPortFrom(lo, ikePort), Remote: c.LocalAddr().(*net.UDPAddr).AddrPort()})
				}
			}
			err := d.SendIKEBatch(ps)
			if tc.refuse != (err != nil) {
				t.Fatalf("SendIKEBatch: %v (refused destination: %v)", err, tc.refuse)
			}
			wantCalls := uint64(2)
			if tc.refuse {
				// The IKE socket's first call stops before the refused
				// message, the next reports it, the third sends the rest.
				wantCalls = 4
			}
			if got := d.ikeSock.calls.Load(); got != wantCalls {
				t.Errorf("%d sendmmsg calls for %d datagrams to %d peers, want %d", got, len(ps), peers, wantCalls)
			}
			if got, want := d.stats.ikeOut.Load(), uint64(len(ps)); got < want-1 || got > want {
				t.Errorf("IKEOut = %d, want %d", got, want)
			}
			buf := make([]byte, 1500)
			for i, c := range rcv {
				got := map[string]uint16{}
				for range perPeer {
					_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
					n, from, err := c.ReadFromUDPAddrPort(buf)
					if err != nil {
						t.Fatalf("peer %d: %v (got %v)", i, err, got)
					}
					got[string(buf[:n])] = from.Port()
				}
				for j := range perPeer {
					msg := fmt.Sprintf("msg %d/%d", i, j)
					key, port := msg, ikePort
					if j == 1 {
						key, port = string(append(bytes.Clone(nonESPMarker[:]), msg...)), nattPort
					}
					if p, ok := got[key]; !ok || p != port {
						t.Errorf("peer %d: %q from port %d (found %v), want it from %d", i, key, p, ok, port)
					}
				}
			}
		})
	}
}
