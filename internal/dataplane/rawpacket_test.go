package dataplane

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

func TestHopFrom(t *testing.T) {
	dst := [4]byte{192, 0, 2, 2}
	mac := net.HardwareAddr{2, 0, 0x5e, 0, 0x53, 1}
	gwMAC := net.HardwareAddr{2, 0, 0x5e, 0, 0x53, 2}
	ether := &netlink.LinkAttrs{Index: 7, MTU: 1500, EncapType: "ether", HardwareAddr: mac, Flags: net.FlagUp}
	direct := netlink.Route{Type: unix.RTN_UNICAST, LinkIndex: 7, Src: net.IPv4(192, 0, 2, 1)}
	neigh := func(ip net.IP, state int, hw net.HardwareAddr) netlink.Neigh {
		return netlink.Neigh{IP: ip, State: state, HardwareAddr: hw}
	}
	reachable := []netlink.Neigh{neigh(net.IPv4(192, 0, 2, 2), unix.NUD_REACHABLE, mac)}
	route := func(f func(r *netlink.Route)) *netlink.Route {
		r := direct
		f(&r)
		return &r
	}
	link := func(f func(l *netlink.LinkAttrs)) *netlink.LinkAttrs {
		l := *ether
		f(&l)
		return &l
	}
	for _, tc := range []struct {
		name     string
		rt       *netlink.Route
		link     *netlink.LinkAttrs
		ns       []netlink.Neigh
		ok, poke bool
		mtu      int
		mac      net.HardwareAddr
		wantWhy  string
	}{
		{name: "direct", rt: &direct, link: ether, ns: reachable, ok: true, mtu: 1500, mac: mac},
		{name: "via gateway", ns: []netlink.Neigh{neigh(net.IPv4(192, 0, 2, 254), unix.NUD_PERMANENT, gwMAC)}, ok: true, mtu: 1500, mac: gwMAC,
			rt: route(func(r *netlink.Route) { r.Gw = net.IPv4(192, 0, 2, 254) }), link: ether},
		{name: "route MTU", ns: reachable, ok: true, mtu: 1280, mac: mac,
			rt: route(func(r *netlink.Route) { r.MTU = 1280 }), link: ether},
		{name: "stale pokes", rt: &direct, link: ether, ns: []netlink.Neigh{neigh(net.IPv4(192, 0, 2, 2), unix.NUD_STALE, mac)}, ok: true, poke: true, mtu: 1500, mac: mac},
		{name: "incomplete", rt: &direct, link: ether, ns: []netlink.Neigh{neigh(net.IPv4(192, 0, 2, 2), unix.NUD_INCOMPLETE, nil)}, wantWhy: "neighbour unresolved"},
		{name: "failed", rt: &direct, link: ether, ns: []netlink.Neigh{neigh(net.IPv4(192, 0, 2, 2), unix.NUD_FAILED, mac)}, wantWhy: "neighbour unresolved"},
		{name: "no neighbour", rt: &direct, link: ether, wantWhy: "neighbour unresolved"},
		{name: "other neighbour", rt: &direct, link: ether, ns: []netlink.Neigh{neigh(net.IPv4(192, 0, 2, 3), unix.NUD_REACHABLE, mac)}, wantWhy: "neighbour unresolved"},
		{name: "local", ns: reachable, wantWhy: "not a unicast route",
			rt: route(func(r *netlink.Route) { r.Type = unix.RTN_LOCAL }), link: ether},
		{name: "no source", ns: reachable, wantWhy: "no source address",
			rt: route(func(r *netlink.Route) { r.Src = nil }), link: ether},
		{name: "no device", rt: &direct, ns: reachable, wantWhy: "no device"},
		{name: "tun", ns: reachable, wantWhy: "not an Ethernet device",
			rt: &direct, link: link(func(l *netlink.LinkAttrs) { l.EncapType, l.HardwareAddr = "none", nil })},
		{name: "down", ns: reachable, wantWhy: "device down",
			rt: &direct, link: link(func(l *netlink.LinkAttrs) { l.Flags = 0 })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hopFrom(dst, tc.rt, tc.link, tc.ns)
			if h.ok != tc.ok || h.why != tc.wantWhy {
				t.Fatalf("ok %v (%q), want %v (%q)", h.ok, h.why, tc.ok, tc.wantWhy)
			}
			if !h.ok {
				return
			}
			if h.mtu != tc.mtu || net.HardwareAddr(h.mac[:]).String() != tc.mac.String() || h.src != [4]byte{192, 0, 2, 1} || h.ifindex != 7 || h.poke.Load() != tc.poke {
				t.Fatalf("hop %+v (poke %v), want mtu %d mac %v poke %v", h, h.poke.Load(), tc.mtu, tc.mac, tc.poke)
			}
		})
	}
}

// TestPacketPrepare: a packet to a resolved hop gets a complete outer
// header (length, fresh ID, source, valid checksum); a packet without a
// hop, over the MTU or poked goes to the raw socket unchanged, and a
// missing hop is asked for.
func TestPacketPrepare(t *testing.T) {
	p := &packetSend{want: make(chan [4]byte, 1)}
	dst := [4]byte{198, 51, 100, 7}
	h := &rawHop{ok: true, ifindex: 3, src: [4]byte{203, 0, 113, 1}, mtu: 1400}
	hops := hopTable{dst: h}
	r := &rawESP{hdrincl: true}
	elems := rawElems()
	ids := map[uint16]bool{}
	for _, e := range elems[:3] {
		e.pkt = e.pkt[:1000]
		f := r.rawFrame(e, dst)
		if got := p.prepare(hops, f, dst); got != h {
			t.Fatalf("prepare = %v, want the hop", got)
		}
		hdr := f[:rawHeaderLen]
		if ipv4HeaderSum(hdr) != 0xffff || int(hdr[2])<<8|int(hdr[3]) != len(f) || [4]byte(hdr[12:16]) != h.src || [4]byte(hdr[16:20]) != dst || hdr[8] != rawTTL || hdr[6]&0x40 != 0 {
			t.Fatalf("header % x", hdr)
		}
		ids[uint16(hdr[4])<<8|uint16(hdr[5])] = true
	}
	if len(ids) != 3 {
		t.Fatalf("IDs %v, want 3 distinct", ids)
	}

	big := elems[3]
	big.pkt = big.pkt[:1400] // 1420 with the outer header
	if got := p.prepare(hops, r.rawFrame(big, dst), dst); got != nil {
		t.Fatal("a packet over the MTU took AF_PACKET")
	}
	h.poke.Store(true)
	if p.prepare(hops, r.rawFrame(elems[0], dst), dst) != nil || p.prepare(hops, r.rawFrame(elems[0], dst), dst) != h {
		t.Fatal("a poke must send exactly one packet through the raw socket")
	}
	other := [4]byte{198, 51, 100, 8}
	f := r.rawFrame(elems[1], other)
	if p.prepare(hops, f, other) != nil || f[12] != 0 || f[10] != 0 {
		t.Fatal("a packet without a hop took AF_PACKET or was changed")
	}
	select {
	case got := <-p.want:
		if got != other {
			t.Fatalf("asked for %v", got)
		}
	default:
		t.Fatal("a missing hop was not asked for")
	}
}

// packetCounts returns dp's AF_PACKET sends and raw socket fallbacks.
func packetCounts(t *testing.T, dp *Dataplane) (sent, fellBack uint64) {
	t.Helper()
	if dp.raw == nil || dp.raw.pkt == nil {
		t.Fatal("no AF_PACKET send path")
	}
	return dp.raw.pkt.sent.Load(), dp.raw.pkt.fellBack.Load()
}

// TestRawESPPacketSend: raw ESP both ways with the AF_PACKET path taking
// the packets once the neighbours are resolved (the first packets, before
// that, take the raw socket), checksummed TCP both ways and pings.
func TestRawESPPacketSend(t *testing.T) {
	l := newLab(t, true)
	l.connect(t, false, 0x1000, 0x2000)
	ping(t, l.hostA, "10.2.0.10")
	for _, dp := range []*Dataplane{l.dpA, l.dpB} {
		if _, fb := packetCounts(t, dp); fb == 0 {
			t.Error("the first packets (neighbour unresolved) did not fall back to the raw socket")
		}
	}
	// Resolution follows the fallback's ARP exchange.
	nstest.WaitFor(t, 5*time.Second, func() bool {
		return hopOK(l.dpA, wanB) && hopOK(l.dpB, wanA)
	}, "hops not resolved")
	sentA, fbA := packetCounts(t, l.dpA)
	sentB, fbB := packetCounts(t, l.dpB)
	ping(t, l.hostB, "10.1.0.10")
	l.transfer(t, 16<<20)
	nstest.TransferTCP(t, l.hostB.Handle(), l.hostA.Handle(), netip.MustParseAddr("10.1.0.10"), 5002, 16<<20)
	sentA2, fbA2 := packetCounts(t, l.dpA)
	sentB2, fbB2 := packetCounts(t, l.dpB)
	// 16 MiB are ~12,000 ESP packets each way; a STALE neighbour costs one
	// raw socket packet per refresh.
	if sentA2-sentA < 10000 || sentB2-sentB < 10000 || fbA2-fbA > 10 || fbB2-fbB > 10 {
		t.Fatalf("AF_PACKET sends A %d B %d, fallbacks A %d B %d", sentA2-sentA, sentB2-sentB, fbA2-fbA, fbB2-fbB)
	}
	stA, _ := l.dpA.TunnelStats("b")
	stB, _ := l.dpB.TunnelStats("a")
	if stA.DropSend != 0 || stB.DropSend != 0 {
		t.Fatalf("send drops: A %d, B %d", stA.DropSend, stB.DropSend)
	}
}

// TestRawESPSocketSend: with Config.RawSocketSend there is no AF_PACKET
// path and raw ESP still flows both ways on the raw socket.
func TestRawESPSocketSend(t *testing.T) {
	l := newLabWith(t, Config{RawESP: true, RawSocketSend: true})
	l.connect(t, false, 0x1000, 0x2000)
	if l.dpA.raw.pkt != nil || l.dpB.raw.pkt != nil {
		t.Fatal("AF_PACKET path open with RawSocketSend")
	}
	ping(t, l.hostA, "10.2.0.10")
	l.transfer(t, 4<<20)
	stA, _ := l.dpA.TunnelStats("b")
	stB, _ := l.dpB.TunnelStats("a")
	if stA.TxPackets < 3000 || stB.RxPackets < 3000 || stB.TxPackets == 0 || stA.DropSend != 0 {
		t.Fatalf("stats A %+v B %+v", stA, stB)
	}
}

// TestRawESPPacketSmallMTU: ESP packets over the WAN device's MTU take the
// raw socket (the kernel fragments them), smaller ones AF_PACKET.
func TestRawESPPacketSmallMTU(t *testing.T) {
	l := newLab(t, true)
	l.connect(t, false, 0x1000, 0x2000)
	for _, gw := range []*nstest.NS{l.gwA, l.gwB} {
		gw.MustRun(t, "ip", "link", "set", "wan0", "mtu", "1280")
	}
	ping(t, l.hostA, "10.2.0.10")
	nstest.WaitFor(t, 5*time.Second, func() bool {
		h := (*l.dpA.raw.pkt.hops.Load())[wanB.As4()]
		return h != nil && h.ok && h.mtu == 1280
	}, "hop with MTU 1280 not resolved")
	sent, fb := packetCounts(t, l.dpA)
	ping(t, l.hostA, "-s", "1300", "10.2.0.10") // ~1370 bytes of ESP
	sent2, fb2 := packetCounts(t, l.dpA)
	if fb2-fb < 3 {
		t.Fatalf("%d of 3 large packets fell back to the raw socket", fb2-fb)
	}
	ping(t, l.hostA, "10.2.0.10")
	if sent3, _ := packetCounts(t, l.dpA); sent3-sent2 < 3 {
		t.Fatalf("%d of 3 small packets took AF_PACKET (before: %d)", sent3-sent2, sent2-sent)
	}
}

// TestRawESPPacketMACChange: the peer gateway's WAN MAC changes in the
// middle of a TCP transfer (it announces it: arp_notify); the sender's
// neighbour entry follows, and so must the AF_PACKET path.
func TestRawESPPacketMACChange(t *testing.T) {
	l := newLab(t, true)
	l.connect(t, false, 0x1000, 0x2000)
	l.gwB.Sysctl(t, "net.ipv4.conf.wan0.arp_notify", "1")
	l.gwA.Sysctl(t, "net.ipv4.neigh.wan0.locktime", "0") // take the announcement at once
	ping(t, l.hostA, "10.2.0.10")
	nstest.WaitFor(t, 5*time.Second, func() bool { return hopOK(l.dpA, wanB) }, "hop not resolved")
	const newMAC = "02:00:5e:00:53:99"
	changed := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, err := l.gwB.Run("ip", "link", "set", "wan0", "address", newMAC)
		changed <- err
	}()
	// Long enough to span the change at ~1 Gbit/s (slower under load).
	l.transfer(t, 256<<20)
	if err := <-changed; err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, 5*time.Second, func() bool {
		h := (*l.dpA.raw.pkt.hops.Load())[wanB.As4()]
		return h != nil && h.ok && net.HardwareAddr(h.mac[:]).String() == newMAC
	}, "the hop did not follow the new MAC")
	sent, _ := packetCounts(t, l.dpA)
	l.transfer(t, 4<<20)
	if sent2, _ := packetCounts(t, l.dpA); sent2-sent < 2000 {
		t.Fatalf("%d packets took AF_PACKET after the change", sent2-sent)
	}
}

// hopOK is whether dp's AF_PACKET path has a usable hop to dst.
func hopOK(dp *Dataplane, dst netip.Addr) bool {
	h := (*dp.raw.pkt.hops.Load())[dst.As4()]
	return h != nil && h.ok
}

// TestResolveAllIdle: resolveAll keeps destinations with packets, counts
// the resolutions without any, and drops one idle for more than
// rawHopIdle; a requested destination is added. (The host's own
// namespace, unprivileged: 127.0.0.x resolves to a local route, which
// the raw socket must take.)
func TestResolveAllIdle(t *testing.T) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		t.Skip("no netlink:", err)
	}
	defer h.Close()
	p := &packetSend{nl: h}
	used, fresh, old, added := [4]byte{127, 0, 0, 1}, [4]byte{127, 0, 0, 2}, [4]byte{127, 0, 0, 3}, [4]byte{127, 0, 0, 4}
	tab := hopTable{used: {}, fresh: {idle: 3}, old: {idle: rawHopIdle}}
	tab[used].used.Store(true)
	p.hops.Store(&tab)
	p.resolveAll([][4]byte{added})
	got := *p.hops.Load()
	if len(got) != 3 || got[old] != nil || got[used] == nil || got[fresh] == nil || got[added] == nil {
		t.Fatalf("table %v", got)
	}
	if got[used].idle != 0 || got[fresh].idle != 4 || got[added].idle != 0 {
		t.Fatalf("idle: used %d fresh %d added %d", got[used].idle, got[fresh].idle, got[added].idle)
	}
	if h := got[used]; h.ok || h.why != "not a unicast route" {
		t.Fatalf("hop to a local address: %+v", h)
	}
}
