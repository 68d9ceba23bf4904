package main

import (
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/vpngw/vpngw/internal/esp"
	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/transform"
)

func TestCheckAddresses(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	for _, tc := range []struct {
		name string
		in   map[string]netip.Addr
		n    int
		err  string
	}{
		{"distinct", map[string]netip.Addr{"c1": a("192.168.0.2"), "c2": a("192.168.0.3")}, 2, ""},
		{"clash", map[string]netip.Addr{"c1": a("192.168.0.2"), "c2": a("192.168.0.2")}, 1, "both got 192.168.0.2"},
		{"outside the pool", map[string]netip.Addr{"c1": a("10.0.0.2")}, 0, "outside the pool"},
	} {
		n, err := checkAddresses(tc.in)
		if n != tc.n || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %d, %v; want %d, %q", tc.name, n, err, tc.n, tc.err)
		}
	}
}

// TestP2SReport: the P2S report names its figures, lists the addresses
// per sample, and gives the first-ping ratio of every repeat and their
// median (for a vpngw-before binary too), and the Go client's steps.
func TestP2SReport(t *testing.T) {
	dir := t.TempDir()
	for _, s := range []ScaleSample{
		{Repeat: 1, Impl: "vpngw", N: 10, Up: 10, Addresses: 10, SetupsPerSec: 400, KBPerTunnel: 20, Mode: "p2s"},
		{Repeat: 1, Impl: "strongswan", N: 10, Up: 10, Addresses: 10, SetupsPerSec: 100, KBPerTunnel: 40, Mode: "p2s"},
	} {
		if err := appendJSONLine(dir, scaleFile, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []PingSample{
		{Repeat: 1, Impl: "vpngw", Try: 1, FirstPingMs: 10}, {Repeat: 1, Impl: "vpngw", Try: 2, FirstPingMs: 30},
		{Repeat: 1, Impl: "strongswan", Try: 1, FirstPingMs: 40},
		{Repeat: 2, Impl: "vpngw", Try: 1, FirstPingMs: 10}, {Repeat: 2, Impl: "strongswan", Try: 1, FirstPingMs: 50},
		{Repeat: 2, Impl: "strongswan", Try: 2, Error: "no echo reply"},
		{Repeat: 1, Impl: "vpngw-before", Try: 1, FirstPingMs: 20}, {Repeat: 2, Impl: "vpngw-before", Try: 1, FirstPingMs: 40},
		{Repeat: 3, Impl: "vpngw", Client: "go", Try: 1, FirstPingMs: 4, InitiateMs: 3.5, IKEInMs: []float64{1, 3}, IKEOutMs: []float64{0, 1.5}, AuthCPUMs: 0.25},
		{Repeat: 3, Impl: "strongswan", Client: "go", Try: 1, FirstPingMs: 8, InitiateMs: 7, IKEInMs: []float64{2, 6}},
	} {
		if err := appendJSONLine(dir, pingFile, s); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	if err := writeScaleReport(dir, &b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"### 10 point-to-site clients",
		"| P2S client connects/s (certificate auth, CP address, Child SA) | vpngw | 400 | 100 | 4.00 | 4.00 |",
		"| responder memory per connected client (kB) | vpngw | 20.00 | 40.00 | 0.500 | 0.50 |",
		"r1 vpngw 10/10, r1 strongswan 10/10",
		"| ratio vpngw/strongSwan | **0.350** (median of the per-repeat ratios) | 0.50 0.20 |",
		"| ratio vpngw-before/strongSwan | **0.650** (median of the per-repeat ratios) | 0.50 0.80 |",
		"1 connects failed",
		"| ratio vpngw/strongSwan | **0.500** (median of the per-repeat ratios) | 0.50 |",
		"| step | vpngw | strongswan |",
		"| IKE_SA_INIT answer in → IKE_AUTH answer in | 2.00 | 4.00 |",
		"| Child SA → first echo reply | 0.500 | 1.00 |",
		"| … of which the client's (→ its IKE_AUTH out) | 0.500 | – |",
		"| … and the gateway's round trip (→ the answer in) | 1.50 | – |",
		"| … the client's CPU time over its part (getrusage) | 0.250 | – |",
		"| start → IKE_SA_INIT answer in (the client's IKE_SA_INIT included) | 1.00 | 2.00 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestEchoPacketRoundTrip: the Go client's ICMP echo request sealed for
// one SA opens with the other direction's keys as an IPv4 ICMP echo with
// a valid header checksum; a reply with our ID is recognized.
func TestEchoPacketRoundTrip(t *testing.T) {
	key := make([]byte, 36) // AES-256-GCM key and salt
	c := &ike.ChildSA{InSPI: 0x1234, OutSPI: 0x1234, Encr: transform.Encr{ID: transform.EncrAESGCM16, KeyBits: 256},
		InEncKey: key, OutEncKey: key}
	out, in, err := espSAs(c)
	if err != nil {
		t.Fatal(err)
	}
	src, dst := netip.MustParseAddr("192.168.0.2"), netip.MustParseAddr("172.16.0.1")
	b, err := echoPacket(src, dst, 0x4242, 1, out)
	if err != nil {
		t.Fatal(err)
	}
	buf := append(make([]byte, esp.ScratchLen), b...)
	inner, _, _, err := in.Open(buf, esp.ScratchLen)
	if err != nil {
		t.Fatal(err)
	}
	if ipChecksum(inner[:20]) != 0 || netip.AddrFrom4([4]byte(inner[12:16])) != src || netip.AddrFrom4([4]byte(inner[16:20])) != dst {
		t.Fatalf("bad IPv4 header % x", inner[:20])
	}
	// The same packet as a reply: type 0, checksum fixed.
	inner[20], inner[22], inner[23] = 0, 0, 0
	m, _ := icmp.ParseMessage(1, inner[20:])
	m.Type = ipv4.ICMPTypeEchoReply
	body, _ := m.Marshal(nil)
	reply := append(append([]byte(nil), inner[:20]...), body...)
	out2, in2, _ := espSAs(c)
	off := out2.Headroom()
	rb := make([]byte, off+len(reply), off+len(reply)+out2.Tailroom())
	copy(rb[off:], reply)
	sealed, err := out2.Seal(rb, off)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := isEchoReply(sealed, in2, 0x4242); !ok || err != nil {
		t.Errorf("reply not recognized: %v %v", ok, err)
	}
	sealed2, _ := out2.Seal(append(make([]byte, off, off+len(reply)+out2.Tailroom()), reply...), off)
	if ok, _ := isEchoReply(sealed2, in2, 0x4343); ok {
		t.Error("reply with another ID recognized")
	}
}
