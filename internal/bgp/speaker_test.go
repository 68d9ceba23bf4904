package bgp_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/bgp"
	"github.com/vpngw/vpngw/internal/bgp/bgprules"
)

// TestLifecycle runs a speaker without peers on loopback and a high port
// (no privileges needed): lifecycle errors, its own routes, idempotent
// Stop.
func TestLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lo := netip.MustParseAddr("127.0.0.1")
	sp, err := bgp.New(bgp.Config{ListenAddr: lo, Port: 17979, VNet: []netip.Prefix{vnet}, Advertise: []netip.Prefix{vnet, site}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.SetNeighbors(ctx, nil); !errors.Is(err, bgp.ErrNotStarted) {
		t.Errorf("SetNeighbors before Start: %v", err)
	}
	if err := sp.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sp.Start(ctx); !errors.Is(err, bgp.ErrAlreadyStarted) {
		t.Errorf("second Start: %v", err)
	}
	err = sp.SetNeighbors(ctx, []bgp.Neighbor{{Address: netip.MustParseAddr("192.0.2.2"), ASN: 65515}})
	if !errors.Is(err, bgprules.ErrReservedASN) || !errors.Is(err, bgp.ErrInvalidConfig) {
		t.Errorf("neighbor with ASN 65515: %v", err)
	}
	if err := sp.SetAdvertised(ctx, []netip.Prefix{pfx("0.0.0.0/0")}); !errors.Is(err, bgp.ErrDefaultRoute) {
		t.Errorf("advertising 0.0.0.0/0: %v", err)
	}
	peers, err := sp.Peers(ctx)
	if err != nil || len(peers) != 0 {
		t.Errorf("Peers = %v, %v", peers, err)
	}
	rs, err := sp.LearnedRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Network != vnet || rs[1].Network != site {
		t.Fatalf("LearnedRoutes = %+v", rs)
	}
	for _, r := range rs {
		if r.Origin != bgp.OriginNetwork || r.SourcePeer != lo || r.LocalAddress != lo || r.Weight != bgp.LocalWeight || r.NextHop.IsValid() || r.ASPath != "" {
			t.Errorf("own route %+v", r)
		}
	}
	if _, err := sp.AdvertisedRoutes(ctx, netip.MustParseAddr("192.0.2.9")); !errors.Is(err, bgp.ErrUnknownPeer) {
		t.Errorf("AdvertisedRoutes of an unknown peer: %v", err)
	}
	if got := sp.InstalledRoutes(); len(got) != 0 {
		t.Errorf("own routes reported as installed: %+v", got)
	}
	if err := sp.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sp.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := sp.SetAdvertised(ctx, nil); !errors.Is(err, bgp.ErrStopped) {
		t.Errorf("SetAdvertised after Stop: %v", err)
	}
	if err := sp.Start(ctx); !errors.Is(err, bgp.ErrStopped) {
		t.Errorf("Start after Stop: %v", err)
	}
}
