package lab

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

// TestStrongSwanSiteToSite runs strongSwan on a site's device and, standing
// in for the gateway agent, on an active gateway instance: a VM and the
// site's host talk through a real IKEv2/ESP tunnel across the lab's
// internet. It shows that an IPsec daemon on the device finds what it needs
// (an address inside its local traffic selector, a route to the peer).
func TestStrongSwanSiteToSite(t *testing.T) {
	swantest.Require(t)
	tl := newTestLab(t)
	ctx := ctxT(t)
	tp := build(t, tl.l)
	check(t, tl.l.SetVNetRoutes(ctx, vnetID("vnet1"), []Route{{Prefix: netip.MustParsePrefix("10.50.0.0/16"), Via: tp.gw10.Address.Addr()}}))
	conn := func(name string, local, remote netip.Addr, lts, rts string) swantest.Conn {
		return swantest.Conn{Name: name, LocalAddr: local.String(), RemoteAddr: remote.String(), PSK: "lab-test-psk",
			IKE: "aes256gcm16-prfsha256-ecp256", ESP: "aes256gcm16", LocalTS: []string{lts}, RemoteTS: []string{rts}}
	}
	gw := swantest.Start(t, nstest.Open(t, tp.gw10.Namespace), conn("site", pip1, spip, "10.1.0.0/16", "10.50.0.0/16"))
	swantest.Start(t, nstest.Open(t, tp.site.Namespace), conn("azure", spip, pip1, "10.50.0.0/16", "10.1.0.0/16"))
	if err := gw.Initiate("site", 20*time.Second); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	reach(t, tp.vm1.Namespace, tp.site.HostIP, true)
	reach(t, tp.site.HostNamespace, tp.vm1.IPAddress, true)
	reach(t, tp.vm2.Namespace, tp.site.HostIP, false)
	// The traffic went through the tunnel (there is no other path).
	sas, err := gw.SAs()
	if err != nil || len(sas) != 1 || len(sas[0].Children) != 1 || sas[0].Children[0].BytesIn == "0" || sas[0].Children[0].BytesIn == "" {
		t.Errorf("SAs = %+v, %v", sas, err)
	}
}
