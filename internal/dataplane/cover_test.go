package dataplane

import (
	"net/netip"
	"strings"
	"testing"
)

// TestCoveringRoutes: a tunnel's /32 inside a covering route gets no
// kernel route of its own and still carries traffic (the data plane's
// host index finds it); an address of the cover that no tunnel owns is
// dropped as NoRoute; removing the cover gives the /32 its own route back,
// and covering again takes it away.
func TestCoveringRoutes(t *testing.T) {
	l := newLab(t, false)
	must(t, l.dpA.SetCoveringRoutes([]netip.Prefix{pfx("10.2.0.0/16")}))
	must(t, l.dpA.SetTunnel(TunnelConfig{ID: "b", Local: wanA, Remote: netip.AddrPortFrom(wanB, 4500), Encap: true, RemotePrefixes: []netip.Prefix{pfx("10.2.0.10/32")}}))
	must(t, l.dpB.SetTunnel(TunnelConfig{ID: "a", Local: wanB, Remote: netip.AddrPortFrom(wanA, 4500), Encap: true, RemotePrefixes: []netip.Prefix{pfx("10.1.0.0/16")}}))
	l.installSAs(t, 0x1000, 0x2000, Selectors{}, Selectors{})

	routes := func() string { return l.gwA.MustRun(t, "ip", "-4", "route", "show", "dev", "vdp0") }
	has := func(out, p string) bool {
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == p {
				return true
			}
		}
		return false
	}
	if r := routes(); !has(r, "10.2.0.0/16") || has(r, "10.2.0.10") {
		t.Fatalf("covered: want the /16 and no /32 route, have:\n%s", r)
	}
	ping(t, l.hostA, "10.2.0.10")
	ping(t, l.hostB, "10.1.0.10")

	before := l.dpA.Stats().NoRoute
	if out, err := l.hostA.Run("ping", "-c", "2", "-i", "0.05", "-W", "1", "10.2.0.99"); err == nil {
		t.Fatalf("a covered address with no tunnel answered:\n%s", out)
	}
	if n := l.dpA.Stats().NoRoute - before; n < 2 {
		t.Fatalf("NoRoute grew by %d, want >= 2", n)
	}

	must(t, l.dpA.SetCoveringRoutes(nil))
	if r := routes(); has(r, "10.2.0.0/16") || !has(r, "10.2.0.10") {
		t.Fatalf("uncovered: want the /32 and no /16 route, have:\n%s", r)
	}
	ping(t, l.hostA, "10.2.0.10")

	must(t, l.dpA.SetCoveringRoutes([]netip.Prefix{pfx("10.2.0.0/16")}))
	if r := routes(); !has(r, "10.2.0.0/16") || has(r, "10.2.0.10") {
		t.Fatalf("covered again: want the /16 and no /32 route, have:\n%s", r)
	}
	ping(t, l.hostA, "10.2.0.10")
	must(t, l.dpA.RemoveTunnel("b"))
	if r := routes(); !has(r, "10.2.0.0/16") {
		t.Fatalf("the cover went with the tunnel:\n%s", r)
	}
	if err := l.dpA.SetCoveringRoutes([]netip.Prefix{pfx("0.0.0.0/0")}); err == nil {
		t.Fatal("0.0.0.0/0 accepted as a covering route")
	}
}
