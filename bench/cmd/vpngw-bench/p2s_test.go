package main

import (
	"net/netip"
	"strings"
	"testing"
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
// median.
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
		"1 connects failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
