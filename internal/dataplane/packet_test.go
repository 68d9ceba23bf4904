package dataplane

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gaissmai/bart"

	"github.com/vpngw/vpngw/internal/esp"
)

// ipv4TCP builds an IPv4/TCP packet with the given flags and options and a
// valid TCP checksum.
func ipv4TCP(src, dst string, sport, dport uint16, flags byte, opts []byte) []byte {
	tcpLen := 20 + len(opts)
	p := make([]byte, 20+tcpLen)
	p[0], p[9] = 0x45, protoTCP
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8] = 64
	copy(p[12:16], netip.MustParseAddr(src).AsSlice())
	copy(p[16:20], netip.MustParseAddr(dst).AsSlice())
	tcp := p[20:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	tcp[12] = byte(tcpLen/4) << 4
	tcp[13] = flags
	copy(tcp[20:], opts)
	binary.BigEndian.PutUint16(tcp[16:], tcpChecksum(p))
	return p
}

func tcpChecksum(p []byte) uint16 {
	tcp := p[20:]
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(p[12:20])
	sum += protoTCP + uint32(len(tcp))
	saved := binary.BigEndian.Uint16(tcp[16:])
	binary.BigEndian.PutUint16(tcp[16:], 0)
	add(tcp)
	binary.BigEndian.PutUint16(tcp[16:], saved)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func TestClampMSS(t *testing.T) {
	mssOpt := func(v uint16) []byte { return []byte{2, 4, byte(v >> 8), byte(v)} }
	for _, tc := range []struct {
		name    string
		pkt     []byte
		changed bool
		want    uint16 // MSS after
	}{
		{"SYN 1460 clamped", ipv4TCP("10.1.0.10", "10.2.0.10", 40000, 80, 0x02, mssOpt(1460)), true, 1360},
		{"SYN-ACK 1460 clamped", ipv4TCP("10.2.0.10", "10.1.0.10", 80, 40000, 0x12, mssOpt(1460)), true, 1360},
		{"SYN 1200 kept", ipv4TCP("10.1.0.10", "10.2.0.10", 40000, 80, 0x02, mssOpt(1200)), false, 1200},
		{"MSS after NOPs and SACK-permitted", ipv4TCP("10.1.0.10", "10.2.0.10", 1, 2, 0x02, append([]byte{1, 1, 4, 2}, mssOpt(9000)...)), true, 1360},
		{"ACK not touched", ipv4TCP("10.1.0.10", "10.2.0.10", 1, 2, 0x10, mssOpt(1460)), false, 1460},
		{"no MSS option", ipv4TCP("10.1.0.10", "10.2.0.10", 1, 2, 0x02, []byte{1, 1, 1, 0}), false, 0},
		{"bad option length", ipv4TCP("10.1.0.10", "10.2.0.10", 1, 2, 0x02, []byte{8, 0, 2, 4, 5, 0xb4, 0, 0}), false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := append([]byte(nil), tc.pkt...)
			if got := clampMSS(p, 1360, 1340); got != tc.changed {
				t.Fatalf("changed = %v", got)
			}
			if tc.want != 0 {
				opts := p[40:]
				for len(opts) > 0 && opts[0] != 2 {
					if opts[0] == 1 {
						opts = opts[1:]
					} else {
						opts = opts[opts[1]:]
					}
				}
				if got := binary.BigEndian.Uint16(opts[2:]); got != tc.want {
					t.Fatalf("MSS %d, want %d", got, tc.want)
				}
			}
			if got, want := binary.BigEndian.Uint16(p[36:]), tcpChecksum(p); got != want {
				t.Fatalf("checksum %#04x, want %#04x", got, want)
			}
		})
	}
	// Not TCP, fragments, truncated: untouched, no panic.
	udp := ipv4TCP("10.1.0.10", "10.2.0.10", 1, 2, 0x02, mssOpt(1460))
	udp[9] = protoUDP
	frag := ipv4TCP("10.1.0.10", "10.2.0.10", 1, 2, 0x02, mssOpt(1460))
	frag[6] = 0x20 // MF
	for _, p := range [][]byte{udp, frag, frag[:30], nil, {0x60}, {0x45, 0}} {
		if clampMSS(p, 1000, 1000) {
			t.Fatalf("clamped %x", p)
		}
	}
}

func TestCsumReplace(t *testing.T) {
	p := ipv4TCP("192.0.2.1", "198.51.100.7", 1234, 443, 0x02, []byte{2, 4, 0xff, 0xff})
	for _, v := range []uint16{0, 1, 536, 1360, 0xfffe} {
		old := binary.BigEndian.Uint16(p[42:])
		binary.BigEndian.PutUint16(p[42:], v)
		binary.BigEndian.PutUint16(p[36:], csumReplace16(binary.BigEndian.Uint16(p[36:]), old, v))
		if got, want := binary.BigEndian.Uint16(p[36:]), tcpChecksum(p); got != want {
			t.Fatalf("v=%d: %#04x want %#04x", v, got, want)
		}
	}
}

func TestClassify4500(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want datagramKind
	}{
		{[]byte{0xff}, kindKeepalive},
		{[]byte{0xfe}, kindInvalid},
		{[]byte{0, 0, 0, 0}, kindInvalid},
		{[]byte{0, 0, 0, 0, 0x11, 0x22}, kindIKE},
		{[]byte{0, 0, 0, 1, 0, 0, 0}, kindInvalid},
		{[]byte{0, 0, 0, 1, 0, 0, 0, 1}, kindESP},
		{[]byte{0xff, 0xff}, kindInvalid},
		{nil, kindInvalid},
	} {
		if got := classify4500(tc.in); got != tc.want {
			t.Errorf("classify4500(%x) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestSelectors(t *testing.T) {
	syn := ipv4TCP("10.1.0.10", "10.2.0.10", 40000, 443, 0x02, nil)
	f, ok := parseFlow(syn)
	if !ok || f.sport != 40000 || f.dport != 443 || f.proto != protoTCP {
		t.Fatalf("parseFlow = %+v %v", f, ok)
	}
	ts := func(p string, proto uint8, lo, hi uint16) TrafficSelector {
		return TrafficSelector{Prefix: pfx(p), Proto: proto, Ports: PortRange{lo, hi}}
	}
	for _, tc := range []struct {
		name     string
		sel      Selectors
		out, in  bool // matchOutbound(f), matchInbound(f)
		matchAll bool
	}{
		{"empty", Selectors{}, true, true, true},
		{"v4 any both", Selectors{Local: []TrafficSelector{ts("0.0.0.0/0", 0, 0, 0)}, Remote: []TrafficSelector{ts("0.0.0.0/0", 0, 0, 0)}}, true, true, false},
		{"v4+v6 any", Selectors{Local: []TrafficSelector{ts("0.0.0.0/0", 0, 0, 0), ts("::/0", 0, 0, 0)}}, true, true, true},
		{"prefixes", Selectors{Local: []TrafficSelector{ts("10.1.0.0/24", 0, 0, 0)}, Remote: []TrafficSelector{ts("10.2.0.0/16", 0, 0, 0)}}, true, false, false},
		{"second prefix", Selectors{Local: []TrafficSelector{ts("10.9.0.0/24", 0, 0, 0), ts("10.1.0.0/16", 0, 0, 0)}}, true, false, false},
		{"wrong remote", Selectors{Remote: []TrafficSelector{ts("10.3.0.0/16", 0, 0, 0)}}, false, false, false},
		{"proto tcp port 443", Selectors{Remote: []TrafficSelector{ts("10.2.0.0/16", protoTCP, 443, 443)}}, true, false, false},
		{"proto udp", Selectors{Remote: []TrafficSelector{ts("10.2.0.0/16", protoUDP, 0, 0)}}, false, false, false},
		{"port range miss", Selectors{Remote: []TrafficSelector{ts("10.2.0.0/16", 0, 1, 100)}}, false, false, false},
		{"inbound view", Selectors{Local: []TrafficSelector{ts("10.2.0.0/24", 0, 0, 0)}, Remote: []TrafficSelector{ts("10.1.0.0/24", protoTCP, 40000, 40000)}}, false, true, false},
	} {
		if got := tc.sel.matchOutbound(&f); got != tc.out {
			t.Errorf("%s: matchOutbound = %v", tc.name, got)
		}
		if got := tc.sel.matchInbound(&f); got != tc.in {
			t.Errorf("%s: matchInbound = %v", tc.name, got)
		}
		if got := tc.sel.matchesAll(); got != tc.matchAll {
			t.Errorf("%s: matchesAll = %v", tc.name, got)
		}
	}
}

func TestLookup(t *testing.T) {
	// Route table: longest prefix wins; policy SA choice by selectors.
	ta, tb := &tunnel{id: "a"}, &tunnel{id: "b"}
	routes := new(bart.Table[*tunnel])
	routes.Insert(pfx("10.2.0.0/16"), ta)
	routes.Insert(pfx("10.2.5.0/24"), tb)
	hosts := &hostIndex{}
	hosts.setHost(netip.MustParseAddr("10.2.5.9"), ta) // a host route inside b's /24
	snap := &snapshot{routes: routes, hosts: hosts}
	for _, tc := range []struct {
		dst  string
		want *tunnel
	}{{"10.2.0.10", ta}, {"10.2.5.1", tb}, {"10.2.5.9", ta}, {"10.3.0.1", nil}} {
		got, _ := snap.lookup(netip.MustParseAddr(tc.dst))
		if got != tc.want {
			t.Errorf("lookup %s = %v", tc.dst, got)
		}
	}
	c := func(spi uint32) *esp.OutboundSA {
		sa, err := esp.NewOutboundSA(esp.OutboundConfig{SPI: spi, Encr: 20, Cipher: fakeCipher{}})
		if err != nil {
			t.Fatal(err)
		}
		return sa
	}
	sa1, sa2 := c(1), c(2)
	sel := func(l, r string) Selectors {
		return Selectors{Local: []TrafficSelector{{Prefix: pfx(l)}}, Remote: []TrafficSelector{{Prefix: pfx(r)}}}
	}
	sas := []outboundSA{{sa: sa1, sel: sel("10.1.0.0/24", "10.2.0.0/24")}, {sa: sa2, sel: sel("10.1.1.0/24", "10.2.0.0/24")}}
	ta.out.Store(&sas)
	for _, tc := range []struct {
		src  string
		want *esp.OutboundSA
	}{{"10.1.0.5", sa1}, {"10.1.1.5", sa2}, {"10.1.2.5", nil}} {
		p := ipv4TCP(tc.src, "10.2.0.10", 1, 2, 0x10, nil)
		if got := ta.pickOutbound(p); got != tc.want {
			t.Errorf("pickOutbound from %s = %v", tc.src, got)
		}
	}
	// A single any-selector SA takes everything without parsing.
	anySA := []outboundSA{{sa: sa1, any: true}}
	tb.out.Store(&anySA)
	if got := tb.pickOutbound([]byte{0x45}); got != sa1 {
		t.Errorf("any SA not picked")
	}
}

// fakeCipher has AES-GCM's shape; lookups never call it.
type fakeCipher struct{}

func (fakeCipher) IVLen() int                                         { return 8 }
func (fakeCipher) ICVLen() int                                        { return 16 }
func (fakeCipher) Align() int                                         { return 1 }
func (fakeCipher) Seal(dst, iv, pt, aad, tail []byte) []byte          { return append(dst, pt...) }
func (fakeCipher) Open(dst, iv, ct, aad, tail []byte) ([]byte, error) { return ct, nil }

func TestMSSFromSA(t *testing.T) {
	tu := &tunnel{id: "x"}
	tu.setPath(TunnelConfig{Remote: netip.MustParseAddrPort("192.0.2.2:4500"), Encap: true}, nil)
	tu.updateMSS(1400, 1500)
	if got := tu.mss.Load() & 0xffff; got > 1360 {
		t.Fatalf("mss without SA %d", got)
	}
	sa, _ := esp.NewOutboundSA(esp.OutboundConfig{SPI: 1, Encr: 20, Cipher: fakeCipher{}})
	sas := []outboundSA{{sa: sa, any: true}}
	tu.out.Store(&sas)
	tu.updateMSS(1400, 1500)
	if got := tu.mss.Load() & 0xffff; got != 1360 {
		t.Fatalf("mss with TUN MTU 1400: %d", got)
	}
	// A small underlay: 1400 - 20 - 8 = 1372 outer; GCM overhead 34 with
	// alignment -> inner 1338 -> MSS 1298.
	tu.updateMSS(1400, 1400)
	if got, want := tu.mss.Load()&0xffff, uint32(sa.MaxInner(1372)-40); got != want {
		t.Fatalf("mss with underlay 1400: %d, want %d", got, want)
	}
}

func TestTokenBucket(t *testing.T) {
	now := time.Unix(0, 0)
	b := NewTokenBucket(8e6, 100000) // 1 MB/s, 100 kB burst
	b.now = func() time.Time { return now }
	allowed := 0
	for b.Allow("t", 1000) {
		allowed++
	}
	if allowed != 100 {
		t.Fatalf("burst allowed %d packets", allowed)
	}
	now = now.Add(10 * time.Millisecond) // 10 kB of tokens
	allowed = 0
	for b.Allow("t", 1000) {
		allowed++
	}
	if allowed != 10 {
		t.Fatalf("after 10ms allowed %d", allowed)
	}
}

// TestHostRoutes: host routes (/32, /128) live in the exact-match index,
// not the route table; moving them publishes no new snapshot, a tunnel
// removes only its own, and rebuild puts them back.
func TestHostRoutes(t *testing.T) {
	d := &Dataplane{tunnels: map[string]*tunnel{}, inSAs: map[uint32]*inboundSA{}}
	d.state.Store(d.emptySnapshot())
	ta, tb := &tunnel{id: "a"}, &tunnel{id: "b"}
	route := func(dst string) *tunnel {
		got, _ := d.state.Load().lookup(netip.MustParseAddr(dst))
		return got
	}
	aNets := []netip.Prefix{pfx("10.2.0.0/16"), pfx("10.2.5.7/32"), pfx("fd00::5/128")}
	d.setRoutes(ta, nil, aNets)
	snap := d.state.Load()
	if n := snap.routes.Size(); n != 1 {
		t.Fatalf("route table holds %d prefixes, want 1 (host routes apart)", n)
	}
	if n := d.hosts.n.Load(); n != 2 {
		t.Fatalf("host index holds %d, want 2", n)
	}
	for dst, want := range map[string]*tunnel{"10.2.5.7": ta, "10.2.5.8": ta, "fd00::5": ta, "fd00::6": nil} {
		if got := route(dst); got != want {
			t.Errorf("lookup %s = %v, want %v", dst, got, want)
		}
	}
	// b takes a host route of its own; only the index changes.
	d.setRoutes(tb, nil, []netip.Prefix{pfx("10.2.9.9/32")})
	if d.state.Load() != snap {
		t.Error("a host route change published a new snapshot")
	}
	if got := route("10.2.9.9"); got != tb {
		t.Errorf("lookup 10.2.9.9 = %v, want b", got)
	}
	// a drops its host routes; b's stays.
	d.setRoutes(ta, aNets, aNets[:1])
	if got := route("10.2.5.7"); got != ta { // now by a's /16
		t.Errorf("after removal, lookup 10.2.5.7 = %v, want a by its /16", got)
	}
	if got := route("fd00::5"); got != nil {
		t.Errorf("after removal, lookup fd00::5 = %v", got)
	}
	if n := d.hosts.n.Load(); n != 1 {
		t.Errorf("host index holds %d, want 1 (b's)", n)
	}
	if m := d.hosts.blocks.Load(); m == nil || len(*m) != 1 {
		t.Errorf("host index blocks = %v, want b's /24 only (a's emptied one removed)", m)
	}
	// a removing a host route it does not own leaves it.
	d.setRoutes(ta, []netip.Prefix{pfx("10.2.9.9/32")}, nil)
	if got := route("10.2.9.9"); got != tb {
		t.Errorf("a removed b's host route: lookup = %v", got)
	}
	// rebuild (tests assembling tunnels by hand) puts both kinds back.
	ta.prefixes, tb.prefixes = aNets, []netip.Prefix{pfx("10.2.9.9/32")}
	for _, x := range []*tunnel{ta, tb} {
		x.path.Store(&tunnelPath{remote: netip.MustParseAddrPort("192.0.2.1:4500")})
		d.tunnels[x.id] = x
	}
	d.rebuild()
	for dst, want := range map[string]*tunnel{"10.2.5.7": ta, "fd00::5": ta, "10.2.9.9": tb, "10.2.1.1": ta} {
		if got := route(dst); got != want {
			t.Errorf("after rebuild, lookup %s = %v, want %v", dst, got, want)
		}
	}
	if n := d.hosts.n.Load(); n != 3 {
		t.Errorf("after rebuild the host index holds %d, want 3", n)
	}
}

// BenchmarkSetRoutesClients is a point-to-site client's route leaving and
// coming back (one op) with 10,000 clients' host routes in place.
func BenchmarkSetRoutesClients(b *testing.B) {
	d := &Dataplane{}
	d.state.Store(d.emptySnapshot())
	const n = 10000
	ts := make([]*tunnel, n)
	ps := make([][]netip.Prefix, n)
	base := netip.MustParseAddr("10.8.0.0").As4()
	for i := range ts {
		a := base
		a[2], a[3] = byte(i>>8), byte(i)
		ts[i] = &tunnel{id: fmt.Sprint(i)}
		ps[i] = []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4(a), 32)}
		d.setRoutes(ts[i], nil, ps[i])
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := i % n
		d.setRoutes(ts[k], ps[k], nil)
		d.setRoutes(ts[k], nil, ps[k])
		i += 7919
	}
}

// BenchmarkLookupClients is the packet path's route lookup with 10,000
// client host routes and one site prefix: "table" with the host routes in
// the route table (as before the host index), "index" as now; "client"
// looks up a client's address, "site" an address of the site.
func BenchmarkLookupClients(b *testing.B) {
	site := &tunnel{id: "site"}
	inTable := new(bart.Table[*tunnel])
	inTable.Insert(pfx("10.20.0.0/16"), site)
	d := &Dataplane{}
	d.state.Store(d.emptySnapshot())
	d.setRoutes(site, nil, []netip.Prefix{pfx("10.20.0.0/16")})
	base := netip.MustParseAddr("10.8.0.0").As4()
	var clients []netip.Addr
	for i := range 10000 {
		a := base
		a[2], a[3] = byte(i>>8), byte(i)
		t := &tunnel{id: fmt.Sprint(i)}
		p := netip.PrefixFrom(netip.AddrFrom4(a), 32)
		inTable.Insert(p, t)
		d.setRoutes(t, nil, []netip.Prefix{p})
		clients = append(clients, p.Addr())
	}
	siteAddr := netip.MustParseAddr("10.20.3.4")
	for _, c := range []struct {
		name string
		snap *snapshot
	}{{"table", &snapshot{routes: inTable}}, {"index", d.state.Load()}} {
		b.Run(c.name+"/client", func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, ok := c.snap.lookup(clients[i%len(clients)]); !ok {
					b.Fatal("no route")
				}
				i += 7919
			}
		})
		b.Run(c.name+"/site", func(b *testing.B) {
			for b.Loop() {
				if t, _ := c.snap.lookup(siteAddr); t != site {
					b.Fatal("wrong route")
				}
			}
		})
	}
}
