package dataplane

import (
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
)

// TestSrcSelectorMatchesRouteGet checks that srcSelector picks the source
// address the kernel's route lookup (netlink RTM_GETROUTE, what localFor
// asked before) reports, towards loopback, on-link and routed addresses of
// this host's own routing table, IPv4 and IPv6; and that it fails where
// the kernel has no route.
func TestSrcSelectorMatchesRouteGet(t *testing.T) {
	var s srcSelector
	if err := s.open(); err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for _, remote := range []string{"127.0.0.1", "127.0.0.2", "192.0.2.1", "198.51.100.7", "203.0.113.9", "::1", "fd00::1", "2001:db8::1"} {
		t.Run(remote, func(t *testing.T) {
			a := netip.MustParseAddr(remote)
			routes, rerr := netlink.RouteGet(a.AsSlice())
			got, err := s.pick(a)
			if rerr != nil || len(routes) == 0 {
				if err == nil {
					t.Fatalf("pick(%v) = %v, but the kernel has no route (%v)", a, got, rerr)
				}
				return
			}
			want, ok := netip.AddrFromSlice(routes[0].Src)
			if !ok {
				t.Skipf("the kernel's route towards %v names no source", a)
			}
			if err != nil {
				t.Fatalf("pick(%v): %v; the kernel's route lookup says %v", a, err, want)
			}
			if got != want.Unmap() {
				t.Fatalf("pick(%v) = %v, the kernel's route lookup says %v", a, got, want)
			}
		})
	}
	// Both sockets are reused, not reopened, and close leaves none open.
	fd := s.fds
	if _, err := s.pick(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if s.fds != fd {
		t.Fatalf("sockets reopened: %v then %v", fd, s.fds)
	}
	s.close()
	if s.ok != [2]bool{} {
		t.Fatalf("open after close: %v", s.ok)
	}
	if _, err := s.pick(netip.MustParseAddr("127.0.0.1")); err == nil {
		t.Fatal("pick after close succeeded")
	}
}

// BenchmarkLocalLookup compares srcSelector with the netlink lookup it
// replaced (one cache miss of localFor each).
func BenchmarkLocalLookup(b *testing.B) {
	remote := netip.MustParseAddr("192.0.2.1")
	b.Run("connect", func(b *testing.B) {
		var s srcSelector
		if err := s.open(); err != nil {
			b.Fatal(err)
		}
		defer s.close()
		for b.Loop() {
			if _, err := s.pick(remote); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("netlink", func(b *testing.B) {
		h, err := netlink.NewHandle()
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		for b.Loop() {
			if _, err := h.RouteGet(remote.AsSlice()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
