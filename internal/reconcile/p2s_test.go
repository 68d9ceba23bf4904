package reconcile_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vpngw/vpngw/internal/p2s/pki"
	"github.com/vpngw/vpngw/internal/reconcile"
)

// A gateway's vpnClientConfiguration reaches its active instance as a
// pointToSite section the agent accepts: the pool (routed by the VNet to
// that instance), the gateway's generated identity, the roots and revoked
// thumbprints, the RADIUS servers. The identity is made once and survives
// updates; SSTP is refused with the reason and the gateway keeps running.
func TestPointToSiteReachesTheAgent(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	ca, err := pki.NewCA("clients", pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	gwPath := res("rg1", "virtualNetworkGateways", "gw1")
	gwBody := func(vc string) string {
		return fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw2"},"vpnGatewayGeneration":"Generation2",
		"ipConfigurations":[{"name":"default","properties":{"subnet":{"id":"%s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%s"}}}],
		"vpnClientConfiguration":%s}}`, res("rg1", "virtualNetworks", "vnet1"), res("rg1", "publicIPAddresses", "gw1-ip"), vc)
	}
	vc := func(revoked, protocols string) string {
		return fmt.Sprintf(`{"vpnClientAddressPool":{"addressPrefixes":["172.16.201.0/24"]},"vpnClientProtocols":[%s],
			"vpnAuthenticationTypes":["Certificate","Radius"],
			"vpnClientRootCertificates":[{"name":"root1","properties":{"publicCertData":"%s"}}],
			"vpnClientRevokedCertificates":[%s],
			"radiusServers":[{"radiusServerAddress":"10.1.0.10","radiusServerScore":5,"radiusServerSecret":"radsecret"}]}`,
			protocols, pki.PublicCertData(ca.Cert), revoked)
	}
	h.put(gwPath, gwBody(vc("", `"IkeV2"`)))
	d := h.desired()
	g := d.Gateways[0]
	if !slices.Contains(g.Routes, netip.MustParsePrefix("172.16.201.0/24")) {
		t.Fatalf("the VNet does not route the pool to the gateway: %v", g.Routes)
	}
	a := h.agent(g.Instances[0].ID)
	cfg := a.config()
	in, err := cfg.Check()
	if err != nil {
		t.Fatalf("assignment does not validate: %v", err)
	}
	p := in.P2S
	if p == nil || p.Clients == nil || len(p.Radius) != 1 || p.Radius[0].Score != 5 || p.FQDN != reconcile.P2SFQDN(g.Key) || len(p.Cert) != 2 {
		t.Fatalf("pointToSite: %+v", p)
	}
	if st := h.desired().Instances[g.Instances[1].ID]; st.Assignment.Config.PointToSite != nil {
		t.Fatal("the standby runs point-to-site")
	}
	// GET never shows the RADIUS secret; the identity's key is nowhere in the gateway.
	out := h.get(gwPath)
	if b := fmt.Sprint(out); strings.Contains(b, "radsecret") || strings.Contains(b, "PRIVATE KEY") {
		t.Fatalf("GET shows a secret: %s", b)
	}
	// Revoking a thumbprint keeps the identity.
	h.put(gwPath, gwBody(vc(`{"name":"lost","properties":{"thumbprint":"`+strings.Repeat("ab", 20)+`"}}`, `"IkeV2"`)))
	cfg2 := a.config()
	if cfg2.PointToSite == nil || cfg2.PointToSite.CertificatePEM != cfg.PointToSite.CertificatePEM ||
		!slices.Equal(cfg2.PointToSite.RevokedThumbprints, []string{strings.Repeat("AB", 20)}) {
		t.Fatalf("after revocation: %+v", cfg2.PointToSite)
	}
	// SSTP: refused with the reason; the gateway keeps running.
	err = h.putErr(gwPath, gwBody(vc("", `"IkeV2","SSTP"`)))
	if err == nil || !strings.Contains(err.Error(), "SSTP is not served by vpngw yet") {
		t.Fatalf("SSTP: %v", err)
	}
	if len(h.desired().Gateways) != 1 {
		t.Fatal("the gateway stopped running")
	}
}
