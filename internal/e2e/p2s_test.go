package e2e_test

import (
	"archive/zip"
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/p2s/pki"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/radiustest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

// p2sClient is a strongSwan point-to-site client in the lab, configured
// from the gateway's generated profile.
type p2sClient struct {
	ns   *nstest.NS
	swan *swantest.Daemon
	conn string
}

// connect brings the client's tunnel up (swanctl --initiate, as the
// profile's README says).
func (p *p2sClient) connect(timeout time.Duration) error {
	_, err := p.swan.Swanctl("--initiate", "--child", p.conn, "--timeout", strconv.Itoa(int(timeout.Seconds())))
	return err
}

// generateProfile asks the gateway for its client package and returns its
// files, by name (args: more flags of vpn-client generate).
func (c *cloud) generateProfile(gwName, authMethod string, args ...string) map[string][]byte {
	c.t.Helper()
	url := strings.TrimSpace(c.cli(append([]string{"network", "vnet-gateway", "vpn-client", "generate", "-g", "RG1", "-n", gwName,
		"--authentication-method", authMethod, "-o", "tsv"}, args...)...))
	if !strings.HasPrefix(url, c.url+"/vpnclientpackages/") {
		c.t.Fatalf("vpn-client generate printed %q", url)
	}
	resp, err := c.hc.Get(url) // no token: the URL is the capability
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	zb, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" {
		c.t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	zr, err := zip.NewReader(bytes.NewReader(zb), int64(len(zb)))
	if err != nil {
		c.t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			c.t.Fatal(err)
		}
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	return files
}

// health is the gateway's getvpnclientconnectionhealth (vpn-client show-health).
func (c *cloud) health(gwName string) []resource.VpnClientConnectionHealthDetail {
	c.t.Helper()
	out := c.cli("network", "vnet-gateway", "vpn-client", "show-health", "-g", "RG1", "-n", gwName, "-o", "json")
	var h resource.VpnClientConnectionHealthDetailListResult
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		c.t.Fatalf("show-health: %v: %s", err, out)
	}
	return h.Value
}

// TestPointToSiteCertificate: point-to-site end to end through the real
// path. A gateway gets a vpnClientConfiguration (IkeV2, Certificate, a
// test root CA) and its VNet a custom DNS server, which the profile and
// the client's resolv.conf show; the control plane gives it its own CA
// and certificate;
// generatevpnprofile's zip, unchanged but for the client's certificate
// and key dropped into it, configures a real strongSwan client on the
// emulated internet, which connects, gets an address from the pool,
// pings a VM and sends it a checksummed TCP stream. Health shows the
// client; disconnect by its vpnConnectionId drops it; it reconnects; its
// thumbprint added to the revoked list ends its session and it cannot
// connect again.
//
// The client authenticates as the profile's swanctl.conf says, with
// EAP-TLS (Azure's strongSwan instructions), here edited to IKEv2
// certificate authentication (auth = pubkey), which the gateway also
// takes; TestPointToSiteEAPTLS runs the profile unchanged.
func TestPointToSiteCertificate(t *testing.T) {
	pointToSiteCertificate(t, strings.NewReplacer("auth = eap-tls", "auth = pubkey"), "(myself) with ECDSA")
}

// TestPointToSiteEAPTLS is TestPointToSiteCertificate with the profile's
// swanctl.conf unchanged: the client's certificate goes inside EAP-TLS,
// which the gateway terminates (internal/p2s/eaptls).
func TestPointToSiteEAPTLS(t *testing.T) {
	pointToSiteCertificate(t, nil, "EAP method EAP_TLS succeeded, MSK established")
}

// pointToSiteCertificate runs the certificate tests with the profile's
// swanctl.conf edited by r (nil: unchanged); the client's charon log must
// say want.
func pointToSiteCertificate(t *testing.T, r *strings.Replacer, want string) {
	c := newCloud(t)
	start := time.Now()
	c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16")
	vm := c.vm(sub1, "RG1", "VNet1", "vm1")
	vmNS := c.vmNS(sub1, "RG1", "vm1")
	// A laptop on the internet: a site's device namespace has a public
	// address and nothing else that matters here.
	laptop := c.site("laptop", "192.0.2.50", "10.70.0.0/24")

	// The VNet's custom DNS server goes to clients with their address
	// (set first: changing it later changes the point-to-site template,
	// which reconnects clients).
	c.cli("network", "vnet", "update", "-g", "RG1", "-n", "VNet1", "--dns-servers", "10.1.0.4", "-o", "none")
	alice := c.certP2S("172.16.201.0/24")
	t.Logf("gateway with point-to-site: %v", time.Since(start).Round(time.Millisecond))

	files := c.generateProfile("VNet1-gw", "EAPTLS")
	if !strings.Contains(string(files["Generic/VpnSettings.xml"]), "<CustomDnsServers>10.1.0.4</CustomDnsServers>") {
		t.Fatalf("VpnSettings.xml:\n%s", files["Generic/VpnSettings.xml"])
	}
	for _, f := range []string{"Generic/VpnSettings.xml", "Generic/VpnServerRoot.cer", "strongSwan/swanctl.conf", "strongSwan/x509ca/VpnServerRoot.pem", "NetworkManager/VNet1-gw.nmconnection"} {
		if len(files[f]) == 0 {
			t.Fatalf("the package lacks %s", f)
		}
	}
	if _, err := x509.ParseCertificate(files["Generic/VpnServerRoot.cer"]); err != nil {
		t.Fatalf("VpnServerRoot.cer: %v", err)
	}
	// The profile's strongSwan directory, with alice's certificate and key.
	cl := certClient(t, laptop.device, files, alice, r)

	up := time.Now()
	if err := cl.connect(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cl.swan.Log(), want) {
		t.Fatalf("the client's charon log lacks %q", want)
	}
	if rc := cl.swan.ResolvConf(); !strings.Contains(rc, "nameserver 10.1.0.4") {
		t.Fatalf("the client was not given the VNet's DNS server: resolv.conf %q", rc)
	}
	t.Logf("client connected in %v", time.Since(up).Round(time.Millisecond))
	reachable(t, laptop.device, vm, 10*time.Second)
	if loss := pingLoss(t, laptop.device, vm, 5, "0.2"); loss != 0 {
		t.Fatalf("laptop → VM: %d%% loss", loss)
	}
	transfer(t, laptop.device, vmNS, vm, 1<<20)

	// Health shows alice: her address from the pool, where she is, traffic.
	var h []resource.VpnClientConnectionHealthDetail
	nstest.WaitFor(t, 5*time.Second, func() bool {
		h = c.health("VNet1-gw")
		return len(h) == 1 && h[0].IngressBytesTransferred > 1<<20 && h[0].EgressPacketsTransferred > 0
	}, "health: %+v", h)
	sas, err := cl.swan.SAs()
	if err != nil || len(sas) != 1 {
		t.Fatalf("client SAs: %+v %v", sas, err)
	}
	d := h[0]
	if d.VpnUserName != "alice@contoso.test" || !netip.MustParsePrefix("172.16.201.0/24").Contains(netip.MustParseAddr(d.PrivateIPAddress)) ||
		!strings.HasPrefix(d.PublicIPAddress, "192.0.2.50:") || !strings.EqualFold(d.VpnConnectionID, "IKEv2_"+sas[0].SPIi) ||
		d.VpnConnectionTime == "" {
		t.Fatalf("health: %+v (client SPIi %s)", d, sas[0].SPIi)
	}

	// Disconnect by vpnConnectionId: the client is told and is gone.
	c.cli("network", "vnet-gateway", "disconnect-vpn-connections", "-g", "RG1", "-n", "VNet1-gw", "--vpn-connection-ids", d.VpnConnectionID, "-o", "none")
	nstest.WaitFor(t, 10*time.Second, func() bool { return !cl.swan.Established(cl.conn) }, "the client still has its SA after disconnect")
	nstest.WaitFor(t, 5*time.Second, func() bool { return len(c.health("VNet1-gw")) == 0 }, "health still shows the client after disconnect")

	// It may come back; revoking its certificate ends that for good.
	if err := cl.connect(15 * time.Second); err != nil {
		t.Fatalf("reconnect after disconnect: %v", err)
	}
	reachable(t, laptop.device, vm, 10*time.Second)
	c.cli("network", "vnet-gateway", "revoked-cert", "create", "-g", "RG1", "--gateway-name", "VNet1-gw", "-n", "alice-laptop",
		"--thumbprint", pki.Thumbprint(alice.Cert), "-o", "none")
	nstest.WaitFor(t, 10*time.Second, func() bool { return !cl.swan.Established(cl.conn) }, "the revoked client still has its SA")
	if err := cl.connect(10 * time.Second); err == nil {
		t.Fatal("a revoked certificate connected")
	}
	if h := c.health("VNet1-gw"); len(h) != 0 {
		t.Fatalf("health after revocation: %+v", h)
	}
	t.Logf("whole test: %v", time.Since(start).Round(time.Millisecond))
}

// certP2S gives VNet1-gw point-to-site with certificate authentication
// the way az's steps go (the pool and protocol, then a root .cer) and
// returns a client certificate the root issued (alice@contoso.test).
func (c *cloud) certP2S(pool string) *pki.Issued {
	c.t.Helper()
	return c.certP2SUsers(pool, "alice@contoso.test")[0]
}

// certP2SUsers is certP2S with a client certificate for each name.
func (c *cloud) certP2SUsers(pool string, names ...string) []*pki.Issued {
	t := c.t
	t.Helper()
	ca, err := pki.NewCA("Contoso P2S Root", pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	var users []*pki.Issued
	for _, n := range names {
		u, err := ca.IssueClient(n, pki.ECDSAP256, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	c.cli("network", "vnet-gateway", "update", "-g", "RG1", "-n", "VNet1-gw", "--address-prefixes", pool,
		"--client-protocol", "IkeV2", "-o", "none")
	rootFile := filepath.Join(t.TempDir(), "ContosoRoot.cer")
	writeFile(t, rootFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
	c.cli("network", "vnet-gateway", "root-cert", "create", "-g", "RG1", "--gateway-name", "VNet1-gw", "-n", "ContosoRoot",
		"--public-cert-data", rootFile, "-o", "none")
	return users
}

// certClient starts a strongSwan client in ns configured from the
// profile's strongSwan directory (swanctl.conf edited by r when not nil)
// with cert's certificate and key dropped into it.
func certClient(t *testing.T, ns *nstest.NS, files map[string][]byte, cert *pki.Issued, r *strings.Replacer) *p2sClient {
	t.Helper()
	dir := strongSwanDir(t, files, r)
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.Key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "x509", "client.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Cert.Raw}))
	writeFile(t, filepath.Join(dir, "private", "client.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return &p2sClient{ns: ns, conn: "VNet1-gw", swan: swantest.StartFile(t, ns, filepath.Join(dir, "swanctl.conf"))}
}

// Proposal lines of the generated swanctl.conf (internal/p2s/profile)
// with the policy TestPointToSiteIpsecPolicy sets.
const (
	profileIKEProposals = "proposals = aes256-sha256-prfsha256-ecp256\n"
	profileESPProposals = "esp_proposals = aes128gcm16\n"
)

// TestPointToSiteIpsecPolicy: a custom point-to-site policy applied for
// real. After 'vpn-client ipsec-policy set' (AES256/SHA256/ECP256 for
// IKE, AES128-GCM without PFS for ESP) the generated profile offers only
// that suite and a strongSwan client configured from it unchanged
// connects and reaches a VM; one offering only an IKE suite
// outside it (which the default offer accepts) is refused with
// NO_PROPOSAL_CHOSEN, and so is one whose IKE suite fits but whose ESP
// suite does not; 'ipsec-policy clear' brings the default offer back.
func TestPointToSiteIpsecPolicy(t *testing.T) {
	c := newCloud(t)
	c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16")
	vm := c.vm(sub1, "RG1", "VNet1", "vm1")
	alice := c.certP2S("172.16.203.0/24")
	out := c.cli("network", "vnet-gateway", "vpn-client", "ipsec-policy", "set", "-g", "RG1", "-n", "VNet1-gw",
		"--ike-encryption", "AES256", "--ike-integrity", "SHA256", "--dh-group", "ECP256",
		"--ipsec-encryption", "GCMAES128", "--ipsec-integrity", "GCMAES128", "--pfs-group", "None",
		"--sa-lifetime", "3600", "--sa-max-size", "102400", "-o", "tsv", "--query", "ipsecEncryption")
	if strings.TrimSpace(out) != "GCMAES128" {
		t.Fatalf("ipsec-policy set printed %q", out)
	}
	files := c.generateProfile("VNet1-gw", "EAPTLS")
	only := func(ike, esp string) *strings.Replacer {
		return strings.NewReplacer(profileIKEProposals, "proposals = "+ike+"\n", profileESPProposals, "esp_proposals = "+esp+"\n")
	}
	if !bytes.Contains(files["strongSwan/swanctl.conf"], []byte(profileIKEProposals)) || !bytes.Contains(files["strongSwan/swanctl.conf"], []byte(profileESPProposals)) {
		t.Fatalf("the profile does not offer the policy's suite alone: %s", files["strongSwan/swanctl.conf"])
	}

	good := certClient(t, c.site("laptop1", "192.0.2.61", "10.72.0.0/24").device, files, alice, nil)
	if err := good.connect(20 * time.Second); err != nil {
		t.Fatalf("a client offering only the custom suite: %v", err)
	}
	reachable(t, good.ns, vm, 10*time.Second)
	sas, err := good.swan.SAs()
	if err != nil || len(sas) != 1 {
		t.Fatalf("client SAs: %+v %v", sas, err)
	}

	badIKE := certClient(t, c.site("laptop2", "192.0.2.62", "10.73.0.0/24").device, files, alice, only("aes256gcm16-prfsha384-ecp384", "aes128gcm16"))
	err = badIKE.connect(10 * time.Second)
	if err == nil || !strings.Contains(err.Error(), "NO_PROPOSAL_CHOSEN") {
		t.Fatalf("a client offering only another IKE suite: %v", err)
	}
	t.Logf("refused as it should be: %v", lastLine(err.Error(), "NO_PROPOSAL_CHOSEN"))
	badESP := certClient(t, c.site("laptop3", "192.0.2.63", "10.74.0.0/24").device, files, alice, only("aes256-sha256-ecp256", "aes256-sha256"))
	err = badESP.connect(10 * time.Second)
	if err == nil || !strings.Contains(err.Error(), "NO_PROPOSAL_CHOSEN") {
		t.Fatalf("a client offering only another ESP suite: %v", err)
	}
	t.Logf("refused as it should be: %v", lastLine(err.Error(), "NO_PROPOSAL_CHOSEN"))

	// Clear: the default offer accepts the other IKE suite again.
	c.cli("network", "vnet-gateway", "vpn-client", "ipsec-policy", "clear", "-g", "RG1", "-n", "VNet1-gw", "-o", "none")
	if err := connectWithin(badIKE, 20*time.Second); err != nil {
		t.Fatalf("after clear, the other suite: %v", err)
	}
	reachable(t, badIKE.ns, vm, 10*time.Second)
}

// lastLine is the last line of s that contains sub ("" if none).
func lastLine(s, sub string) string {
	var out string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = strings.TrimSpace(l)
		}
	}
	return out
}

// connectWithin retries connect until it succeeds or d passes (the
// gateway applies a configuration change a moment after the API
// operation ends).
func connectWithin(p *p2sClient, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		err := p.connect(5 * time.Second)
		if err == nil || time.Now().After(end) {
			return err
		}
		time.Sleep(time.Second)
	}
}

// strongSwanDir writes the profile's strongSwan directory, swanctl.conf
// edited by r (the user name and password of an EAP profile).
func strongSwanDir(t *testing.T, files map[string][]byte, r *strings.Replacer) string {
	dir := t.TempDir()
	for name, b := range files {
		rel, ok := strings.CutPrefix(name, "strongSwan/")
		if !ok {
			continue
		}
		if rel == "swanctl.conf" && r != nil {
			b = []byte(r.Replace(string(b)))
		}
		writeFile(t, filepath.Join(dir, rel), b)
	}
	return dir
}

// TestPointToSiteRADIUS: Azure's Radius authentication through the real
// path. A real FreeRADIUS 3.2 runs on a VM in the gateway's VNet and
// alone knows bob's password; the gateway's vpnClientConfiguration names
// it (vnet-gateway update --vpn-auth-type Radius --radius-server
// --radius-secret); the generated EAP-MSCHAPv2 profile, with bob's name
// and password put in its placeholders, connects a real strongSwan client
// whose EAP the gateway relays to FreeRADIUS; the client reaches the VM;
// health shows bob; the secret is in no GET.
func TestPointToSiteRADIUS(t *testing.T) {
	radiustest.Require(t)
	c := newCloud(t)
	c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16")
	vm := c.vm(sub1, "RG1", "VNet1", "radius1")
	vmNS := c.vmNS(sub1, "RG1", "radius1")
	radiustest.StartWith(t, radiustest.Options{Users: map[string]string{"bob": "Bob-Secret-42"}, NS: vmNS, Addr: vm,
		Clients: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}})
	laptop := c.site("laptop", "192.0.2.51", "10.71.0.0/24")
	c.cli("network", "vnet-gateway", "update", "-g", "RG1", "-n", "VNet1-gw", "--address-prefixes", "172.16.202.0/24",
		"--client-protocol", "IkeV2", "--vpn-auth-type", "Radius", "--radius-server", vm.String(), "--radius-secret", "testing123", "-o", "none")
	if out := c.cli("network", "vnet-gateway", "show", "-g", "RG1", "-n", "VNet1-gw", "-o", "json"); strings.Contains(out, "testing123") {
		t.Fatalf("the gateway shows its RADIUS secret: %s", out)
	}
	files := c.generateProfile("VNet1-gw", "EAPMSCHAPv2")
	dir := strongSwanDir(t, files, strings.NewReplacer("USERNAME", "bob", "PASSWORD", "Bob-Secret-42"))
	cl := &p2sClient{ns: laptop.device, conn: "VNet1-gw", swan: swantest.StartFile(t, laptop.device, filepath.Join(dir, "swanctl.conf"))}
	if err := cl.connect(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	reachable(t, laptop.device, vm, 10*time.Second)
	var h []resource.VpnClientConnectionHealthDetail
	nstest.WaitFor(t, 5*time.Second, func() bool {
		h = c.health("VNet1-gw")
		return len(h) == 1 && h[0].VpnUserName == "bob" && netip.MustParsePrefix("172.16.202.0/24").Contains(netip.MustParseAddr(h[0].PrivateIPAddress))
	}, "health: %+v", h)
}

// TestPointToSiteEAPTLSRADIUS: EAP-TLS with a RADIUS server through the
// real path. A real FreeRADIUS 3.2 on a VM in the gateway's VNet runs
// its eap/tls module with its own server certificate and trusts the
// users' root; the gateway has Radius authentication only; the EAPTLS
// profile, generated with --radius-server-auth-certificate (the RADIUS
// server's CA), configures a real strongSwan client unchanged but for
// carol's certificate and key. The gateway relays the EAP-TLS exchange,
// the client reaches the VM and health shows it. A certificate from
// another root is refused by FreeRADIUS.
func TestPointToSiteEAPTLSRADIUS(t *testing.T) {
	radiustest.Require(t)
	users, err := pki.NewCA("Contoso Users", pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	carol, _ := users.IssueClient("carol@contoso.test", pki.ECDSAP256, time.Hour)
	other, _ := pki.NewCA("Another root", pki.ECDSAP256)
	mallory, _ := other.IssueClient("mallory@evil.example", pki.ECDSAP256, time.Hour)
	tlsFiles, radiusCA := radiustest.NewTLS(t, "radius.contoso.test", users.Cert)

	c := newCloud(t)
	c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16")
	vm := c.vm(sub1, "RG1", "VNet1", "radius1")
	vmNS := c.vmNS(sub1, "RG1", "radius1")
	radiustest.StartWith(t, radiustest.Options{NS: vmNS, Addr: vm, Clients: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, TLS: tlsFiles})
	// A laptop on the internet: a lab client (vpngw lab client create).
	laptop := c.labClient("laptop", "192.0.2.52")
	c.cli("network", "vnet-gateway", "update", "-g", "RG1", "-n", "VNet1-gw", "--address-prefixes", "172.16.203.0/24",
		"--client-protocol", "IkeV2", "--vpn-auth-type", "Radius", "--radius-server", vm.String(), "--radius-secret", "testing123", "-o", "none")
	caFile := filepath.Join(t.TempDir(), "RadiusCA.cer")
	writeFile(t, caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: radiusCA.Cert.Raw}))
	files := c.generateProfile("VNet1-gw", "EAPTLS", "--radius-server-auth-certificate", caFile)
	if len(files["strongSwan/x509ca/RadiusServerRoot.pem"]) == 0 {
		t.Fatal("the package lacks the RADIUS server's root")
	}
	cl := certClient(t, laptop, files, carol, nil)
	if err := cl.connect(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if log := cl.swan.Log(); !strings.Contains(log, "EAP method EAP_TLS succeeded, MSK established") {
		t.Fatal("the client's charon log does not show EAP-TLS")
	}
	reachable(t, laptop, vm, 10*time.Second)
	if loss := pingLoss(t, laptop, vm, 5, "0.2"); loss != 0 {
		t.Fatalf("laptop → VM: %d%% loss", loss)
	}
	var h []resource.VpnClientConnectionHealthDetail
	nstest.WaitFor(t, 5*time.Second, func() bool {
		h = c.health("VNet1-gw")
		return len(h) == 1 && h[0].VpnUserName == "CN=carol@contoso.test" && netip.MustParsePrefix("172.16.203.0/24").Contains(netip.MustParseAddr(h[0].PrivateIPAddress))
	}, "health: %+v", h)

	m := certClient(t, c.labClient("laptop2", "192.0.2.53"), files, mallory, nil)
	if err := m.connect(10 * time.Second); err == nil {
		t.Fatal("a certificate from another root connected through RADIUS")
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestPointToSiteRADIUSOverS2S: Azure's on-premises RADIUS case. The
// FreeRADIUS server runs on a host of an on-premises site reached only
// through a site-to-site tunnel (a real strongSwan on the site's device);
// the gateway relays a point-to-site client's EAP to it through that
// tunnel, and the client connects and reaches a VM.
func TestPointToSiteRADIUSOverS2S(t *testing.T) {
	radiustest.Require(t)
	c := newCloud(t)
	gwIP := c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16")
	vm := c.vm(sub1, "RG1", "VNet1", "vm1")
	s := c.site("onprem", "192.0.2.10", "10.50.0.0/16")
	s.strongswan(t, gwIP, "10.1.0.0/16", "s2sKey42", nil)
	c.connect(sub1, "RG1", "VNet1-gw", s, "s2sKey42")
	c.waitConnected(sub1, "RG1", "to-onprem", 30*time.Second)
	radiustest.StartWith(t, radiustest.Options{Users: map[string]string{"carol": "Carol-Secret-7"}, NS: s.hostNS, Addr: s.host,
		Clients: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}})
	laptop := c.site("laptop", "192.0.2.52", "10.75.0.0/24")
	c.cli("network", "vnet-gateway", "update", "-g", "RG1", "-n", "VNet1-gw", "--address-prefixes", "172.16.204.0/24",
		"--client-protocol", "IkeV2", "--vpn-auth-type", "Radius", "--radius-server", s.host.String(), "--radius-secret", "testing123", "-o", "none")
	files := c.generateProfile("VNet1-gw", "EAPMSCHAPv2")
	dir := strongSwanDir(t, files, strings.NewReplacer("USERNAME", "carol", "PASSWORD", "Carol-Secret-7"))
	cl := &p2sClient{ns: laptop.device, conn: "VNet1-gw", swan: swantest.StartFile(t, laptop.device, filepath.Join(dir, "swanctl.conf"))}
	if err := connectWithin(cl, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	reachable(t, laptop.device, vm, 10*time.Second)
	var h []resource.VpnClientConnectionHealthDetail
	nstest.WaitFor(t, 5*time.Second, func() bool {
		h = c.health("VNet1-gw")
		return len(h) == 1 && h[0].VpnUserName == "carol"
	}, "health: %+v", h)
	// The RADIUS exchange is the only traffic the site-to-site tunnel
	// carried (the client's pings go to the VNet): it went through it,
	// both ways. FreeRADIUS only answers clients in 10.1.0.0/16, so the
	// gateway sourced it from its VNet address.
	var cn map[string]any
	nstest.WaitFor(t, 10*time.Second, func() bool {
		cn = c.connection(sub1, "RG1", "to-onprem")
		in, _ := cn["ingressBytesTransferred"].(float64)
		out, _ := cn["egressBytesTransferred"].(float64)
		return in > 0 && out > 0
	}, "the site-to-site connection carried no RADIUS traffic: %v", cn)
	t.Logf("site-to-site tunnel: %v bytes in, %v bytes out", cn["ingressBytesTransferred"], cn["egressBytesTransferred"])
}
