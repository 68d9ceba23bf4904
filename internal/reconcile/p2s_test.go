package reconcile_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/p2s/mschapv2"
	"github.com/vpngw/vpngw/internal/p2s/pki"
	"github.com/vpngw/vpngw/internal/reconcile"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/transform"
	"github.com/vpngw/vpngw/internal/tunstat"
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
	// The actions are long-running operations (202); action polls one and
	// returns its result.
	action := func(name string, body any) ([]byte, error) {
		p, err := h.c.Post(h.ctx, gwPath+"/"+name, body, nil)
		if err != nil {
			return nil, err
		}
		if p.Done() {
			return nil, fmt.Errorf("%s answered at once, not as a long-running operation", name)
		}
		if err := p.Wait(h.ctx, nil); err != nil {
			return nil, err
		}
		return p.Body(), nil
	}
	// The profile: a URL to a zip with Azure's files and a swanctl.conf.
	gen, err := action("generatevpnprofile", json.RawMessage(`{"authenticationMethod":"EAPTLS"}`))
	if err != nil {
		t.Fatal(err)
	}
	var url string
	if err := json.Unmarshal(gen, &url); err != nil || !strings.HasPrefix(url, "/vpnclientpackages/") {
		t.Fatalf("generatevpnprofile = %s, %v", gen, err)
	}
	zresp, err := h.c.Do(h.ctx, "GET", url, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(zresp.Body), int64(len(zresp.Body)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	for _, want := range []string{"Generic/VpnSettings.xml", "Generic/VpnServerRoot.cer", "strongSwan/swanctl.conf"} {
		if !slices.Contains(names, want) {
			t.Errorf("the package lacks %s: %v", want, names)
		}
	}
	// Health: the clients the active instance reports.
	up := time.Now().Add(-time.Minute)
	cs := agentapi.ConnectionStatus{Status: agentapi.Connected, IngressBytes: 1000, EgressBytes: 2000}
	cs.Name, cs.UpSince = "p2s/alice/172.16.201.2", up
	cs.Client = &tunstat.ClientStatus{Template: "p2s", User: "alice", VirtualIP: netip.MustParseAddr("172.16.201.2")}
	cs.IKE = []tunstat.IKESAStatus{{SPIi: "0123456789abcdef", Remote: netip.MustParseAddrPort("198.51.100.7:4500")}}
	cs.Traffic = &tunstat.TunnelStats{RxPackets: 10, TxPackets: 20}
	a.mu.Lock()
	a.p2s = &agentapi.PointToSiteStatus{Name: "p2s", Clients: []agentapi.ConnectionStatus{cs}}
	a.mu.Unlock()
	var health resource.VpnClientConnectionHealthDetailListResult
	waitFor(t, 3*time.Second, func() bool {
		r, err := action("getvpnclientconnectionhealth", nil)
		return err == nil && json.Unmarshal(r, &health) == nil && len(health.Value) == 1
	}, "health does not show the client")
	d0 := health.Value[0]
	if d0.VpnConnectionID != "IKEv2_0123456789abcdef" || d0.VpnUserName != "alice" || d0.PrivateIPAddress != "172.16.201.2" ||
		d0.PublicIPAddress != "198.51.100.7:4500" || d0.IngressBytesTransferred != 1000 || d0.EgressPacketsTransferred != 20 || d0.VpnConnectionDuration < 59 {
		t.Fatalf("health: %+v", d0)
	}
	// Disconnect: the session ID reaches the active instance.
	if _, err := action("disconnectvirtualnetworkgatewayvpnconnections", json.RawMessage(`{"vpnConnectionIds":["IKEv2_0123456789abcdef"]}`)); err != nil {
		t.Fatal(err)
	}
	if got := a.assignment().DisconnectClients; !slices.Equal(got, []string{"IKEv2_0123456789abcdef"}) {
		t.Fatalf("DisconnectClients = %v", got)
	}
	if _, err := action("disconnectvirtualnetworkgatewayvpnconnections", json.RawMessage(`{"vpnConnectionIds":[]}`)); err == nil {
		t.Fatal("an empty disconnect was accepted")
	}
	// Revoking a thumbprint keeps the identity.
	h.put(gwPath, gwBody(vc(`{"name":"lost","properties":{"thumbprint":"`+strings.Repeat("ab", 20)+`"}}`, `"IkeV2"`)))
	cfg2 := a.config()
	if cfg2.PointToSite == nil || cfg2.PointToSite.CertificatePEM != cfg.PointToSite.CertificatePEM ||
		!slices.Equal(cfg2.PointToSite.RevokedThumbprints, []string{strings.Repeat("AB", 20)}) {
		t.Fatalf("after revocation: %+v", cfg2.PointToSite)
	}
	// The VNet's custom DNS servers reach the clients (IPv4 only: the
	// CFG_REPLY carries INTERNAL_IP4_DNS), and the identity stays.
	if cfg.PointToSite.DNS != nil {
		t.Fatalf("DNS without dhcpOptions: %v", cfg.PointToSite.DNS)
	}
	h.put(res("rg1", "virtualNetworks", "vnet1"), `{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["10.1.0.0/16"]},
		"dhcpOptions":{"dnsServers":["10.1.0.4","2001:db8::53","10.1.0.5"]},
		"subnets":[{"name":"GatewaySubnet","properties":{"addressPrefix":"10.1.255.0/27"}}]}}`)
	waitFor(t, 5*time.Second, func() bool { return slices.Equal(a.config().PointToSite.DNS, []string{"10.1.0.4", "10.1.0.5"}) },
		"the VNet's DNS servers do not reach the agent")
	if a.config().PointToSite.CertificatePEM != cfg.PointToSite.CertificatePEM {
		t.Fatal("the identity changed with the DNS servers")
	}
	// setvpnclientipsecparameters: the custom policy reaches the agent's
	// pointToSite section and becomes its only proposals.
	if p := in.P2S; p.IKEProposals != nil || p.ESPProposals != nil {
		t.Fatalf("proposals without a custom policy: %+v", p)
	}
	sp, err := h.c.Post(h.ctx, gwPath+"/setvpnclientipsecparameters", json.RawMessage(`{"saLifeTimeSeconds":3600,"saDataSizeKilobytes":102400,
		"ipsecEncryption":"GCMAES256","ipsecIntegrity":"GCMAES256","ikeEncryption":"AES256","ikeIntegrity":"SHA384","dhGroup":"ECP384","pfsGroup":"None"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(h.ctx, 20*time.Second)
	defer cancel()
	if err := sp.Wait(wctx, nil); err != nil {
		t.Fatal(err)
	}
	var setRes resource.IpsecPolicy
	if err := sp.Result(&setRes); err != nil || setRes.IkeIntegrity != "SHA384" {
		t.Fatalf("setvpnclientipsecparameters' result: %s %v", sp.Body(), err)
	}
	cfg3 := a.config()
	in3, err := cfg3.Check()
	if err != nil {
		t.Fatalf("assignment with a policy does not validate: %v", err)
	}
	if got := transform.FormatProposals(in3.P2S.IKEProposals) + " " + transform.FormatProposals(in3.P2S.ESPProposals); got != "aes256-sha384-prfsha384-ecp384 aes256gcm16" ||
		in3.P2S.ChildLifetime != time.Hour || cfg3.PointToSite.CertificatePEM != cfg.PointToSite.CertificatePEM {
		t.Fatalf("after setvpnclientipsecparameters: %q %+v", got, in3.P2S)
	}
	// SSTP: refused with the reason; the gateway keeps running.
	err = h.putErr(gwPath, gwBody(vc("", `"IkeV2","SSTP"`)))
	if err == nil || !strings.Contains(err.Error(), "SSTP is not served by vpngw yet") {
		t.Fatalf("SSTP: %v", err)
	}
	if len(h.desired().Gateways) != 1 {
		t.Fatal("the gateway stopped running")
	}

	// EAPTLS on a Radius-only gateway: EAP-TLS with the RADIUS server,
	// whose root (radiusServerAuthCertificate) the profile ships.
	h.put(gwPath, gwBody(`{"vpnClientAddressPool":{"addressPrefixes":["172.16.201.0/24"]},"vpnClientProtocols":["IkeV2"],
		"vpnAuthenticationTypes":["Radius"],"radiusServerAddress":"10.1.0.10","radiusServerSecret":"radsecret"}`))
	for _, tc := range []struct{ body, want string }{
		{`{"authenticationMethod":"EAPTLS"}`, "radiusServerAuthCertificate is required"},
		{`{"authenticationMethod":"EAPTLS","radiusServerAuthCertificate":"bm90IGEgY2VydA=="}`, "radiusServerAuthCertificate is not an X.509 certificate"},
	} {
		_, err := action("generatevpnprofile", json.RawMessage(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: %v", tc.body, err)
		}
	}
	gen, err = action("generatevpnprofile", json.RawMessage(`{"authenticationMethod":"EAPTLS","radiusServerAuthCertificate":"`+pki.PublicCertData(ca.Cert)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(gen, &url); err != nil {
		t.Fatal(err)
	}
	if zresp, err = h.c.Do(h.ctx, "GET", url, nil, nil); err != nil {
		t.Fatal(err)
	}
	if zr, err = zip.NewReader(bytes.NewReader(zresp.Body), int64(len(zresp.Body))); err != nil {
		t.Fatal(err)
	}
	var sw []byte
	names = nil
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Name == "strongSwan/swanctl.conf" {
			rc, _ := f.Open()
			sw, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	if !slices.Contains(names, "strongSwan/x509ca/RadiusServerRoot.pem") || !strings.Contains(string(sw), "aaa_id = %any") {
		t.Fatalf("EAP-TLS through RADIUS package: %v\n%s", names, sw)
	}
}

// An active-active gateway with point-to-site and its third public IP
// runs point-to-site on both instances, each with its half of the pool,
// which the VNet routes to it; clients connect to the third IP (the
// profile's address), which goes to one instance and moves to the other
// when that one falls silent, and stays there when it comes back.
func TestActiveActivePointToSite(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	for _, ip := range []string{"gw1-ip2", "gw1-ip3"} {
		h.put(res("rg1", "publicIPAddresses", ip), `{"location":"westeurope","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":"Static"}}`)
	}
	gw := res("rg1", "virtualNetworkGateways", "gw1")
	h.put(gw, fmt.Sprintf(`{"location":"westeurope","properties":{"gatewayType":"Vpn","vpnType":"RouteBased","sku":{"name":"VpnGw2"},"vpnGatewayGeneration":"Generation2",
		"activeActive":true,
		"ipConfigurations":[{"name":"default","properties":{"subnet":{"id":"%[1]s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%[2]s"}}},
		{"name":"activeActive","properties":{"subnet":{"id":"%[1]s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%[3]s"}}},
		{"name":"p2s","properties":{"subnet":{"id":"%[1]s/subnets/GatewaySubnet"},"publicIPAddress":{"id":"%[4]s"}}}],
		"vpnClientConfiguration":{"vpnClientAddressPool":{"addressPrefixes":["172.16.201.0/24","172.16.210.0/28"]},"vpnClientProtocols":["IkeV2"],
		"vpnAuthenticationTypes":["Radius"],"radiusServerAddress":"10.1.0.10","radiusServerSecret":"radsecret"}}}`,
		res("rg1", "virtualNetworks", "vnet1"), res("rg1", "publicIPAddresses", "gw1-ip"), res("rg1", "publicIPAddresses", "gw1-ip2"), res("rg1", "publicIPAddresses", "gw1-ip3")))
	third := h.get(res("rg1", "publicIPAddresses", "gw1-ip3"))["properties"].(map[string]any)["ipAddress"]
	g := h.desired().Gateways[0]
	if g.P2SAddress.String() != third || !slices.Equal(g.P2SFrontends, []int{0, 1}) {
		t.Fatalf("point-to-site address %v to instances %v, want the third public IP %v to both", g.P2SAddress, g.P2SFrontends, third)
	}
	halves := [2][]string{{"172.16.201.0/25", "172.16.210.0/29"}, {"172.16.201.128/25", "172.16.210.8/29"}}
	for i, in := range g.Instances {
		cfg := h.agent(in.ID).config()
		if _, err := cfg.Check(); err != nil {
			t.Fatalf("instance %d: assignment does not validate: %v", i, err)
		}
		if p := cfg.PointToSite; p == nil || !slices.Equal(p.AddressPool, halves[i]) || p.FQDN != reconcile.P2SFQDN(g.Key) {
			t.Fatalf("instance %d: pointToSite %+v, want the pool %v", i, p, halves[i])
		}
		for _, s := range halves[i] {
			p := netip.MustParsePrefix(s)
			if via, ok := g.PinnedVia[p]; !ok || via != i || !slices.Contains(g.Routes, p) {
				t.Errorf("the VNet does not route %s to instance %d: %v %v", p, i, g.PinnedVia, g.Routes)
			}
		}
	}
	if slices.Contains(g.Routes, netip.MustParsePrefix("172.16.201.0/24")) {
		t.Errorf("the whole pool is routed as well: %v", g.Routes)
	}
	// Instance 0 falls silent (after the start-up grace, 3 × 1 s here):
	// the address goes to instance 1 alone, and to both again once 0 is
	// back. Then instance 1 falls silent: 0 alone; and while 0 serves
	// alone, its own silence takes nothing out (nobody else would serve).
	time.Sleep(3 * time.Second)
	silence := func(i int, on bool) {
		a := h.agent(g.Instances[i].ID)
		a.mu.Lock()
		a.silent = on
		a.mu.Unlock()
	}
	frontends := func(want ...int) func() bool {
		return func() bool { return slices.Equal(h.desired().Gateways[0].P2SFrontends, want) }
	}
	silence(0, true)
	waitFor(t, 5*time.Second, frontends(1), "the point-to-site address did not go to instance 1 alone")
	silence(0, false)
	waitFor(t, 5*time.Second, frontends(0, 1), "the point-to-site address did not go to both again")
	silence(1, true)
	waitFor(t, 5*time.Second, frontends(0), "the point-to-site address did not go to instance 0 alone")
	silence(0, true)
	time.Sleep(2 * time.Second)
	if f := h.desired().Gateways[0].P2SFrontends; !slices.Equal(f, []int{0}) {
		t.Fatalf("both silent: the point-to-site address goes to %v, want instance 0 (the one left) still", f)
	}
}

// Local users (vpnClientLocalUsers) reach the agent as NT hashes, never
// as passwords; GET shows their names only, and a PUT of that GET (no
// passwords) keeps them.
func TestPointToSiteLocalUsersReachTheAgent(t *testing.T) {
	h := newHarness(t, reconcile.Options{})
	h.site("rg1", "vnet1", "10.1.0.0/16", "10.1.255.0/27", "gw1")
	gw := res("rg1", "virtualNetworkGateways", "gw1")
	body := h.get(gw)
	props := body["properties"].(map[string]any)
	props["vpnClientConfiguration"] = map[string]any{"vpnClientAddressPool": map[string]any{"addressPrefixes": []string{"172.16.230.0/24"}},
		"vpnClientProtocols":  []string{"IkeV2"},
		"vpnClientLocalUsers": []map[string]any{{"name": `CORP\dave`, "properties": map[string]any{"password": "Dave-Secret-42"}}}}
	put := func() {
		t.Helper()
		b, _ := json.Marshal(body)
		h.put(gw, string(b))
	}
	put()
	want := mschapv2.NTPasswordHash("Dave-Secret-42")
	check := func() {
		t.Helper()
		g := h.desired().Gateways[0]
		cfg := h.agent(g.Instances[0].ID).config()
		if _, err := cfg.Check(); err != nil {
			t.Fatalf("assignment does not validate: %v", err)
		}
		if p := cfg.PointToSite; p == nil || len(p.Users) != 1 || p.Users[0].Name != `CORP\dave` || p.Users[0].Password != "" ||
			p.Users[0].NTHash != hex.EncodeToString(want[:]) {
			t.Fatalf("pointToSite users: %+v", p)
		}
		b, _ := json.Marshal(cfg)
		if bytes.Contains(b, []byte("Dave-Secret-42")) {
			t.Fatal("the assignment carries the password")
		}
	}
	check()
	body = h.get(gw)
	if b, _ := json.Marshal(body); bytes.Contains(b, []byte("Dave-Secret-42")) || !bytes.Contains(b, []byte(`dave`)) {
		t.Fatalf("GET: %s", b)
	}
	put() // the GET back, without the password
	check()
}
