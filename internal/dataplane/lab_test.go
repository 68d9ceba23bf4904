package dataplane

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/esp"
	"github.com/vpngw/vpngw/internal/transform"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// lab is the topology of the baseline bench (shared/bench/netns-lab.sh):
//
//	hostA 10.1.0.10 -- gwA 10.1.0.1 | 192.0.2.1 == 192.0.2.2 | 10.2.0.1 gwB -- 10.2.0.10 hostB
//
// Hosts route everything via their gateway; the gateways have no route to
// the other site except through the data plane's TUN device.
type lab struct {
	hostA, gwA, gwB, hostB *nstest.NS
	dpA, dpB               *Dataplane
}

var (
	wanA = netip.MustParseAddr("192.0.2.1")
	wanB = netip.MustParseAddr("192.0.2.2")
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func newLab(t *testing.T, rawESP bool) *lab {
	t.Helper()
	return newLabWith(t, Config{RawESP: rawESP})
}

// newLabWith is newLab with the gateways' data planes opened with cfg (its
// TUNName set).
func newLabWith(t *testing.T, cfg Config) *lab {
	t.Helper()
	nstest.RequirePriv(t)
	l := &lab{
		hostA: nstest.New(t, "vdp-ha"), gwA: nstest.New(t, "vdp-ga"),
		gwB: nstest.New(t, "vdp-gb"), hostB: nstest.New(t, "vdp-hb"),
	}
	nstest.Link(t, l.hostA, "lan0", pfx("10.1.0.10/24"), l.gwA, "lan0", pfx("10.1.0.1/24"))
	nstest.Link(t, l.gwA, "wan0", pfx("192.0.2.1/24"), l.gwB, "wan0", pfx("192.0.2.2/24"))
	nstest.Link(t, l.gwB, "lan0", pfx("10.2.0.1/24"), l.hostB, "lan0", pfx("10.2.0.10/24"))
	l.hostA.MustRun(t, "ip", "route", "add", "default", "via", "10.1.0.1")
	l.hostB.MustRun(t, "ip", "route", "add", "default", "via", "10.2.0.1")
	for _, gw := range []*nstest.NS{l.gwA, l.gwB} {
		gw.Sysctl(t, "net.ipv4.ip_forward", "1")
		gw.Sysctl(t, "net.ipv4.conf.all.rp_filter", "0")
		gw.Sysctl(t, "net.ipv4.conf.default.rp_filter", "0")
	}
	cfg.TUNName = "vdp0"
	l.dpA = openIn(t, l.gwA, cfg)
	l.dpB = openIn(t, l.gwB, cfg)
	return l
}

func openIn(t *testing.T, ns *nstest.NS, cfg Config) *Dataplane {
	t.Helper()
	var dp *Dataplane
	if err := ns.Do(func() (err error) {
		dp, err = Open(context.Background(), cfg)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dp.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return dp
}

// cipher returns an AES-256-GCM-16 cipher for a fixed test key.
func testCipher(t testing.TB, seed byte) transform.Cipher {
	t.Helper()
	k := make([]byte, 36)
	for i := range k {
		k[i] = seed + byte(i)
	}
	c, err := transform.NewCipher(transform.EncrAESGCM16, 256, transform.IntegNone, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// saPair makes the two halves of one direction of a Child SA.
func saPair(t testing.TB, spi uint32, seed byte) (*esp.OutboundSA, *esp.InboundSA) {
	t.Helper()
	c := testCipher(t, seed)
	out, err := esp.NewOutboundSA(esp.OutboundConfig{SPI: spi, Encr: transform.EncrAESGCM16, Cipher: c, ESN: true})
	if err != nil {
		t.Fatal(err)
	}
	in, err := esp.NewInboundSA(esp.InboundConfig{SPI: spi, Encr: transform.EncrAESGCM16, Cipher: c, ESN: true})
	if err != nil {
		t.Fatal(err)
	}
	return out, in
}

// connect installs a route-based tunnel with one Child SA per direction.
func (l *lab) connect(t *testing.T, encap bool, spiAB, spiBA uint32) {
	t.Helper()
	port := uint16(0)
	if encap {
		port = 4500
	}
	must(t, l.dpA.SetTunnel(TunnelConfig{ID: "b", Local: wanA, Remote: netip.AddrPortFrom(wanB, port), Encap: encap, RemotePrefixes: []netip.Prefix{pfx("10.2.0.0/16")}}))
	must(t, l.dpB.SetTunnel(TunnelConfig{ID: "a", Local: wanB, Remote: netip.AddrPortFrom(wanA, port), Encap: encap, RemotePrefixes: []netip.Prefix{pfx("10.1.0.0/16")}}))
	l.installSAs(t, spiAB, spiBA, Selectors{}, Selectors{})
}

func (l *lab) installSAs(t *testing.T, spiAB, spiBA uint32, selA, selB Selectors) {
	t.Helper()
	outAB, inAB := saPair(t, spiAB, byte(spiAB))
	outBA, inBA := saPair(t, spiBA, byte(spiBA))
	must(t, l.dpB.AddInboundSA("a", inAB, selB))
	must(t, l.dpA.AddInboundSA("b", inBA, selA))
	must(t, l.dpA.SetOutboundSA("b", outAB, selA))
	must(t, l.dpB.SetOutboundSA("a", outBA, selB))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ping(t *testing.T, ns *nstest.NS, args ...string) {
	t.Helper()
	ns.MustRun(t, "ping", append([]string{"-c", "3", "-i", "0.05", "-W", "2"}, args...)...)
}

// transfer sends n bytes over TCP from hostA to hostB and compares
// SHA-256 digests at both ends.
func (l *lab) transfer(t *testing.T, n int64) time.Duration {
	t.Helper()
	return nstest.TransferTCP(t, l.hostA.Handle(), l.hostB.Handle(), netip.MustParseAddr("10.2.0.10"), 5001, n)
}

func testTunnel(t *testing.T, encap bool) {
	l := newLab(t, !encap)
	l.connect(t, encap, 0x1000, 0x2000)
	ping(t, l.hostA, "10.2.0.10")
	ping(t, l.hostB, "10.1.0.10")
	const size = 64 << 20
	d := l.transfer(t, size)
	t.Logf("64 MiB in %v (%.2f Gbit/s)", d, float64(size)*8/d.Seconds()/1e9)

	stA, _ := l.dpA.TunnelStats("b")
	stB, _ := l.dpB.TunnelStats("a")
	// The scrape's read: the same byte counters, 0 for a tunnel not there.
	// The connection's last segments (FIN, ACK) may still be crossing, so
	// the read must fall between two TunnelStats reads around it.
	rx, tx := []uint64{1, 1}, []uint64{1, 1}
	l.dpA.TunnelBytes([]string{"b", "nonesuch"}, rx, tx)
	stA2, _ := l.dpA.TunnelStats("b")
	if rx[0] < stA.RxBytes || rx[0] > stA2.RxBytes || tx[0] < stA.TxBytes || tx[0] > stA2.TxBytes || rx[1] != 0 || tx[1] != 0 {
		t.Errorf("TunnelBytes: rx %v tx %v, want [%d..%d 0] [%d..%d 0]", rx, tx,
			stA.RxBytes, stA2.RxBytes, stA.TxBytes, stA2.TxBytes)
	}
	if stA.TxPackets == 0 || stB.RxPackets == 0 || stB.TxPackets == 0 || stA.RxPackets == 0 {
		t.Fatalf("stats A %+v B %+v", stA, stB)
	}
	if stB.RxBytes < size {
		t.Fatalf("B received %d inner bytes, want >= %d", stB.RxBytes, size)
	}
	if last, ok := l.dpA.LastReceived("b"); !ok || time.Since(last) > time.Minute {
		t.Fatalf("LastReceived = %v, %v", last, ok)
	}
	for _, sa := range stB.SAs {
		if sa.Inbound && (sa.Drop(esp.DropAuth) != 0 || sa.Drop(esp.DropSelector) != 0) {
			t.Errorf("inbound SA %#x drops: %+v", sa.SPI, sa.Counters)
		}
	}
	t.Logf("A: %+v", stA)
	t.Logf("B: %+v", stB)
	// The TUN carries no link-local address, so the kernel sends no
	// router solicitations into it to be dropped as unroutable.
	for _, gw := range []*nstest.NS{l.gwA, l.gwB} {
		if out := gw.MustRun(t, "ip", "-6", "-o", "addr", "show", "dev", "vdp0"); strings.TrimSpace(out) != "" {
			t.Errorf("%s: TUN has IPv6 addresses: %s", gw.Name, out)
		}
	}
	if a, b := l.dpA.Stats().NoRoute, l.dpB.Stats().NoRoute; a != 0 || b != 0 {
		t.Errorf("no-route drops A %d B %d, want 0", a, b)
	}
}

func TestTunnelUDPEncap(t *testing.T) { testTunnel(t, true) }
func TestTunnelRawESP(t *testing.T)   { testTunnel(t, false) }

// TestPolicySelectors: two prefixes per site, one Child SA per local ×
// remote prefix pair in each direction, and a deliberately crossed SPI that
// the receiver must refuse by its selectors.
func TestPolicySelectors(t *testing.T) {
	l := newLab(t, false)
	l.hostA.MustRun(t, "ip", "addr", "add", "10.1.1.10/24", "dev", "lan0")
	l.gwA.MustRun(t, "ip", "addr", "add", "10.1.1.1/24", "dev", "lan0")
	l.hostB.MustRun(t, "ip", "addr", "add", "10.2.1.10/24", "dev", "lan0")
	l.gwB.MustRun(t, "ip", "addr", "add", "10.2.1.1/24", "dev", "lan0")
	aNets := []netip.Prefix{pfx("10.1.0.0/24"), pfx("10.1.1.0/24")}
	bNets := []netip.Prefix{pfx("10.2.0.0/24"), pfx("10.2.1.0/24")}
	must(t, l.dpA.SetTunnel(TunnelConfig{ID: "b", Remote: netip.AddrPortFrom(wanB, 4500), Encap: true, RemotePrefixes: bNets}))
	must(t, l.dpB.SetTunnel(TunnelConfig{ID: "a", Remote: netip.AddrPortFrom(wanA, 4500), Encap: true, RemotePrefixes: aNets}))
	type pair struct{ a, b netip.Prefix }
	var pairs []pair
	for _, a := range aNets {
		for _, b := range bNets {
			pairs = append(pairs, pair{a, b})
		}
	}
	spi := uint32(0x100)
	for i, p := range pairs {
		selA := Selectors{Local: []TrafficSelector{{Prefix: p.a}}, Remote: []TrafficSelector{{Prefix: p.b}}}
		selB := Selectors{Local: []TrafficSelector{{Prefix: p.b}}, Remote: []TrafficSelector{{Prefix: p.a}}}
		if i == len(pairs)-1 {
			// Crossed: A sends 10.1.1/24 -> 10.2.1/24 with an SA that B
			// expects for 10.1.0/24 -> 10.2.0/24 (pair 0, SPI 0x100).
			must(t, l.dpB.SetOutboundSA("a", mustOut(t, spi+1, byte(spi+1)), selB))
			// Same key as pair 0's SA; sequence numbers past the ones
			// already used, so that only the selectors can refuse them.
			outAB, err := esp.NewOutboundSA(esp.OutboundConfig{SPI: 0x100, Encr: transform.EncrAESGCM16,
				Cipher: testCipher(t, 0), ESN: true, FirstSeq: 1000})
			must(t, err)
			must(t, l.dpA.SetOutboundSA("b", outAB, selA))
			_, inBA := saPair(t, spi+1, byte(spi+1))
			must(t, l.dpA.AddInboundSA("b", inBA, selA))
			continue
		}
		l.installSAs(t, spi, spi+1, selA, selB)
		spi += 2
	}
	for _, p := range pairs[:3] {
		src := p.a.Addr().Next().String()[:len(p.a.Addr().String())-1] + "10"
		dst := p.b.Addr().String()[:len(p.b.Addr().String())-1] + "10"
		ping(t, l.hostA, "-I", src, dst)
	}
	// The crossed pair gets nowhere, and B counts selector drops.
	out, err := l.hostA.Run("ping", "-c", "2", "-i", "0.1", "-W", "1", "-I", "10.1.1.10", "10.2.1.10")
	if err == nil {
		t.Fatalf("crossed pair answered: %s", out)
	}
	stB, _ := l.dpB.TunnelStats("a")
	var selDrops uint64
	used := 0
	for _, sa := range stB.SAs {
		selDrops += sa.Drop(esp.DropSelector)
		if sa.Inbound && sa.Packets > 0 {
			used++
		}
	}
	if selDrops < 2 {
		t.Fatalf("selector drops %d: %+v", selDrops, stB)
	}
	if used != 3 {
		t.Fatalf("%d inbound SAs carried traffic, want 3: %+v", used, stB)
	}
}

func mustOut(t *testing.T, spi uint32, seed byte) *esp.OutboundSA {
	out, _ := saPair(t, spi, seed)
	return out
}

// TestRekeyNoLoss switches both directions to new SAs make-before-break
// under a continuous ping and expects zero loss.
func TestRekeyNoLoss(t *testing.T) {
	l := newLab(t, false)
	l.connect(t, true, 0x1000, 0x2000)
	ping(t, l.hostA, "10.2.0.10")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out strings.Builder
	cmd := l.hostA.Command(ctx, "ping", "-c", "300", "-i", "0.01", "-W", "1", "10.2.0.10")
	cmd.Stdout = &out
	proc, err := l.hostA.StartProc(cmd, time.Second)
	must(t, err)
	time.Sleep(time.Second)
	for round, spi := range []uint32{0x3000, 0x5000, 0x7000} {
		oldAB, oldBA := uint32(0x1000), uint32(0x2000)
		if round > 0 {
			oldAB, oldBA = spi-0x2000, spi-0x2000+0x1000
		}
		newAB, newBA := spi, spi+0x1000
		outAB, inAB := saPair(t, newAB, byte(newAB>>8))
		outBA, inBA := saPair(t, newBA, byte(newBA>>8))
		// Make: inbound first on both sides, then switch outbound.
		must(t, l.dpB.AddInboundSA("a", inAB, Selectors{}))
		must(t, l.dpA.AddInboundSA("b", inBA, Selectors{}))
		must(t, l.dpA.SetOutboundSA("b", outAB, Selectors{}))
		must(t, l.dpB.SetOutboundSA("a", outBA, Selectors{}))
		time.Sleep(300 * time.Millisecond)
		// Break: remove the old SAs once in-flight packets have landed.
		must(t, l.dpA.RemoveOutboundSA(oldAB))
		must(t, l.dpB.RemoveOutboundSA(oldBA))
		must(t, l.dpB.RemoveInboundSA(oldAB))
		must(t, l.dpA.RemoveInboundSA(oldBA))
		time.Sleep(300 * time.Millisecond)
	}
	if err := proc.Wait(); err != nil {
		t.Fatalf("ping: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), " 0% packet loss") {
		t.Fatalf("loss during rekey:\n%s", out.String())
	}
	st, _ := l.dpA.TunnelStats("b")
	if len(st.SAs) != 2 || st.SAs[0].SPI != 0x7000 {
		t.Fatalf("SAs after rekeys: %+v", st.SAs)
	}
}

// TestIKEDemux checks IKE framing on both ports and NAT-keepalives against
// plain UDP sockets on the other side.
func TestIKEDemux(t *testing.T) {
	nstest.RequirePriv(t)
	gwA, gwB := nstest.New(t, "vdp-ia"), nstest.New(t, "vdp-ib")
	nstest.Link(t, gwA, "wan0", pfx("192.0.2.1/24"), gwB, "wan0", pfx("192.0.2.2/24"))
	dp := openIn(t, gwA, Config{TUNName: "vdp0"})
	got := make(chan IKEPacket, 4)
	dp.SetIKEHandler(func(p IKEPacket) {
		p.Data = append([]byte(nil), p.Data...)
		got <- p
	})
	var u500, u4500 *net.UDPConn
	must(t, gwB.Do(func() (err error) {
		if u500, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 500}); err != nil {
			return err
		}
		u4500, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 4500})
		return err
	}))
	defer u500.Close()
	defer u4500.Close()
	msg := []byte("IKE_SA_INIT-ish payload, 28+ bytes long....")
	read := func(c *net.UDPConn) []byte {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		b := make([]byte, 2048)
		n, _, err := c.ReadFromUDP(b)
		if err != nil {
			t.Fatal(err)
		}
		return b[:n]
	}
	wait := func() IKEPacket {
		select {
		case p := <-got:
			return p
		case <-time.After(3 * time.Second):
			t.Fatal("no IKE packet delivered")
		}
		return IKEPacket{}
	}
	// Outbound: 500 unframed, 4500 with the non-ESP marker.
	must(t, dp.SendIKE(IKEPacket{Data: msg, Remote: netip.MustParseAddrPort("192.0.2.2:500")}))
	if b := read(u500); string(b) != string(msg) {
		t.Fatalf("500: %q", b)
	}
	must(t, dp.SendIKE(IKEPacket{Data: msg, Local: netip.AddrPortFrom(wanA, 4500), Remote: netip.MustParseAddrPort("192.0.2.2:4500")}))
	if b := read(u4500); string(b[:4]) != "\x00\x00\x00\x00" || string(b[4:]) != string(msg) {
		t.Fatalf("4500: %q", b)
	}
	// Inbound.
	if _, err := u500.WriteToUDP(msg, &net.UDPAddr{IP: wanA.AsSlice(), Port: 500}); err != nil {
		t.Fatal(err)
	}
	p := wait()
	if string(p.Data) != string(msg) || p.Local != netip.AddrPortFrom(wanA, 500) || p.Remote != netip.MustParseAddrPort("192.0.2.2:500") {
		t.Fatalf("500 in: %+v", p)
	}
	if _, err := u4500.WriteToUDP(append([]byte{0, 0, 0, 0}, msg...), &net.UDPAddr{IP: wanA.AsSlice(), Port: 4500}); err != nil {
		t.Fatal(err)
	}
	p = wait()
	if string(p.Data) != string(msg) || p.Local != netip.AddrPortFrom(wanA, 4500) || p.Remote != netip.MustParseAddrPort("192.0.2.2:4500") {
		t.Fatalf("4500 in: %+v", p)
	}
	// Keepalive and an ESP packet with an unknown SPI: neither reaches the
	// IKE handler; both are counted.
	must(t, dp.SetTunnel(TunnelConfig{ID: "b", Remote: netip.MustParseAddrPort("192.0.2.2:4500"), Encap: true}))
	u4500.WriteToUDP([]byte{0xff}, &net.UDPAddr{IP: wanA.AsSlice(), Port: 4500})
	u4500.WriteToUDP([]byte{0, 0, 0x12, 0x34, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8}, &net.UDPAddr{IP: wanA.AsSlice(), Port: 4500})
	nstest.WaitFor(t, 3*time.Second, func() bool {
		s := dp.Stats()
		return s.Keepalives == 1 && s.UnknownSPI == 1
	}, "stats %+v", dp.Stats())
	if st, _ := dp.TunnelStats("b"); st.Keepalives != 1 || st.LastKeepalive.IsZero() {
		t.Fatalf("tunnel keepalives: %+v", st)
	}
	if _, ok := dp.LastReceived("b"); ok {
		t.Fatal("keepalive counted as authenticated traffic")
	}
	select {
	case p := <-got:
		t.Fatalf("unexpected IKE delivery %+v", p)
	default:
	}
	// SendKeepalive puts a single 0xFF on the wire.
	must(t, dp.SendKeepalive(netip.AddrPortFrom(wanA, 4500), netip.MustParseAddrPort("192.0.2.2:4500")))
	if b := read(u4500); len(b) != 1 || b[0] != 0xff {
		t.Fatalf("keepalive on the wire: %x", b)
	}
}

// TestCloseNoLeak opens and closes a data plane with traffic and checks that
// every goroutine it started is gone.
func TestCloseNoLeak(t *testing.T) {
	nstest.RequirePriv(t)
	ns := nstest.New(t, "vdp-cl")
	before := runtime.NumGoroutine()
	var dp *Dataplane
	must(t, ns.Do(func() (err error) {
		dp, err = Open(context.Background(), Config{TUNName: "vdp0", RawESP: true, Addresses: []netip.Prefix{pfx("10.9.0.1/24")}})
		return err
	}))
	must(t, dp.SetTunnel(TunnelConfig{ID: "x", Remote: netip.MustParseAddrPort("192.0.2.9:4500"), Encap: true, RemotePrefixes: []netip.Prefix{pfx("10.8.0.0/16")}}))
	events := make(chan Event, 8)
	dp.SetEventHandler(func(ev Event) { events <- ev })
	out, err := esp.NewOutboundSA(esp.OutboundConfig{SPI: 0x42, Encr: transform.EncrAESGCM16, Cipher: testCipher(t, 1),
		Lifetime: esp.Lifetime{SoftPackets: 1, HardPackets: 2}})
	must(t, err)
	must(t, dp.SetOutboundSA("x", out, Selectors{}))
	// Into the tunnel, to nowhere; the third packet is past the hard limit.
	ns.Run("ping", "-c", "3", "-i", "0.05", "-W", "1", "10.8.0.1")
	if routes := ns.MustRun(t, "ip", "route", "show", "10.8.0.0/16"); !strings.Contains(routes, "vdp0") {
		t.Fatalf("route missing: %q", routes)
	}
	// There is no route to 192.0.2.9 here: the packets are sealed, then
	// refused by the socket.
	if st, _ := dp.TunnelStats("x"); st.SAs[0].Packets != 2 || st.SAs[0].Drop(esp.DropExpired) == 0 || st.DropSend == 0 {
		t.Fatalf("no packets sealed: %+v", st)
	}
	for _, want := range []EventKind{EventSoftLifetime, EventHardLifetime} {
		select {
		case ev := <-events:
			if ev.Kind != want || ev.SPI != 0x42 || ev.TunnelID != "x" || ev.Inbound {
				t.Fatalf("event %+v, want %v", ev, want)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("no %v event", want)
		}
	}
	must(t, dp.Close())
	must(t, dp.Close()) // idempotent
	if !nstest.Eventually(5*time.Second, func() bool { return runtime.NumGoroutine() <= before }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d before, %d after Close\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	}
	if links := ns.MustRun(t, "ip", "link"); strings.Contains(links, "vdp0") {
		t.Fatalf("TUN device survived Close: %s", links)
	}
	if err := dp.SetTunnel(TunnelConfig{ID: "y", Remote: netip.MustParseAddrPort("192.0.2.9:4500"), Encap: true}); err != ErrClosed {
		t.Fatalf("SetTunnel after Close: %v", err)
	}
}

var _ = fmt.Sprintf

// TestRawESPOverSmallWANMTU: raw ESP sends carry their own outer header
// (IP_HDRINCL), with which the kernel does not fragment; an ESP packet
// longer than the WAN device's MTU must still leave (sent once without the
// option, fragmented by the kernel) and arrive, both ways, while small
// packets keep the batched path.
func TestRawESPOverSmallWANMTU(t *testing.T) {
	l := newLab(t, true)
	l.connect(t, false, 0x1000, 0x2000)
	for _, gw := range []*nstest.NS{l.gwA, l.gwB} {
		gw.MustRun(t, "ip", "link", "set", "wan0", "mtu", "1280")
	}
	// 1300 bytes of ICMP payload: a 1328-byte inner packet (under the TUN
	// MTU of 1400), about 1370 bytes of ESP: over the WAN MTU.
	ping(t, l.hostA, "-s", "1300", "10.2.0.10")
	ping(t, l.hostB, "-s", "1300", "10.1.0.10")
	ping(t, l.hostA, "10.2.0.10")
	// The sender counts a batch after its send returns, which can be after
	// the echo reply has come back over the veths and ping has exited: wait
	// for the counters rather than read them once.
	var stA, stB TunnelStats
	nstest.Eventually(2*time.Second, func() bool {
		stA, _ = l.dpA.TunnelStats("b")
		stB, _ = l.dpB.TunnelStats("a")
		return stA.TxPackets >= 9 && stB.RxPackets >= 9
	})
	if stA.DropSend != 0 || stB.DropSend != 0 {
		t.Fatalf("send drops: A %d, B %d", stA.DropSend, stB.DropSend)
	}
	if stA.TxPackets < 9 || stB.RxPackets < 9 {
		t.Fatalf("A sent %d, B received %d ESP packets; want >= 9", stA.TxPackets, stB.RxPackets)
	}
}
