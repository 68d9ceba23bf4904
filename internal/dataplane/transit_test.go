package dataplane

import (
	"net/netip"
	"testing"

	"github.com/gaissmai/bart"
)

// TestTransitAllowed: a packet from one tunnel routed into another passes
// only when neither tunnel has NoTransit; destinations outside the tunnels
// and the arriving tunnel's own prefixes always pass.
func TestTransitAllowed(t *testing.T) {
	bgpA, bgpB, static := &tunnel{id: "bgp-a"}, &tunnel{id: "bgp-b"}, &tunnel{id: "static"}
	static.noTransit.Store(true)
	routes := new(bart.Table[*tunnel])
	routes.Insert(pfx("10.2.0.0/16"), bgpA)
	routes.Insert(pfx("10.3.0.0/16"), bgpB)
	routes.Insert(pfx("10.4.0.0/16"), static)
	routes.Insert(pfx("0.0.0.0/0"), bgpB)  // a learned default route
	routes.Insert(pfx("10.0.0.0/8"), bgpA) // a learned supernet of the VNet
	local := []netip.Prefix{pfx("10.1.0.0/16")}
	hosts := &hostIndex{}
	hosts.setHost(netip.MustParseAddr("10.4.0.9"), bgpA) // a host route inside the static /16
	snap := &snapshot{routes: routes, hosts: hosts}
	v4 := func(dst string) []byte {
		p := make([]byte, 20)
		p[0] = 0x45
		d := netip.MustParseAddr(dst).As4()
		copy(p[16:], d[:])
		return p
	}
	for _, tc := range []struct {
		name string
		from *tunnel
		pkt  []byte
		want bool
	}{
		{"bgp to bgp", bgpA, v4("10.3.0.1"), true},
		{"bgp to static", bgpA, v4("10.4.0.1"), false},
		{"static to bgp", static, v4("10.2.0.1"), false},
		{"static to the vnet (inside a learned supernet)", static, v4("10.1.0.4"), true},
		{"static to the supernet outside the vnet", static, v4("10.9.0.1"), false},
		{"bgp to the vnet", bgpB, v4("10.1.0.4"), true},
		{"static to itself", static, v4("10.4.9.9"), true},
		{"bgp to a bgp host route inside the static prefix", bgpB, v4("10.4.0.9"), true},
		{"static to a bgp host route inside its own prefix", static, v4("10.4.0.9"), false},
		{"not ip", static, []byte{0x00}, true},
		{"static to what only the default route covers", static, v4("8.8.8.8"), true},
	} {
		if got := transitAllowed(snap, local, tc.from, tc.pkt); got != tc.want {
			t.Errorf("%s: transitAllowed = %v, want %v", tc.name, got, tc.want)
		}
	}
}
