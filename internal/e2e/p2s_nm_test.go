package e2e_test

import (
	"crypto/x509"
	"encoding/pem"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/p2s/pki"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/tstest/nmtest"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/radiustest"
)

// TestPointToSiteNetworkManager: the client package's NetworkManager
// keyfile, imported into a real NetworkManager 1.42 with strongSwan's VPN
// service (charon-nm) on a lab client, the way a Linux desktop user does
// it: the keyfile copied unchanged into system-connections (the user
// name put in its placeholder for the EAP profile), the certificates
// where it says, `nmcli connection reload` and `nmcli connection up`.
//
// Certificate authentication: NetworkManager activates the connection, its
// IPv4 address is the one the gateway leased from the pool (health shows
// the same), the laptop pings a VM and sends it a checksummed TCP stream,
// and `nmcli connection down` ends the session at the gateway.
// EAP-MSCHAPv2 with a local user: the password is not in the keyfile
// (a desktop's strongSwan dialog asks for it at connect; here it is saved
// with nmcli connection modify, the headless way docs/p2s.md gives), the
// connection comes up through charon-nm's EAP-MSCHAPv2 and reaches the VM.
// The keyfile carries the profile's proposals and routes.
// EAP-TLS with the gateway's RADIUS server (sub-test EAPTLSRadius): a real
// FreeRADIUS with its own server CA on the VM; on a second laptop, whose
// charon-nm reads the package's charon-nm.conf (its CA directory, where
// both roots go: charon-nm takes one CA file in a keyfile), the keyfile
// comes up unchanged, pings, carries a checksummed TCP stream, and health
// shows the client.
func TestPointToSiteNetworkManager(t *testing.T) {
	nmtest.Require(t)
	c := newCloud(t)
	c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16")
	vm := c.vm(sub1, "RG1", "VNet1", "vm1")
	vmNS := c.vmNS(sub1, "RG1", "vm1")
	const pool = "172.16.240.0/24"
	alice := c.certP2S(pool)
	c.cli("network", "vnet-gateway", "local-user", "create", "-g", "RG1", "--gateway-name", "VNet1-gw", "-n", "dave", "--password", "Dave-Secret-42", "-o", "none")

	laptop := c.labClient("nm-laptop", "192.0.2.56")
	nm := nmtest.Start(t, laptop)

	// Certificate authentication.
	files := c.generateProfile("VNet1-gw", "EAPTLS")
	keyfile := files["NetworkManager/VNet1-gw.nmconnection"]
	if !strings.Contains(string(keyfile), "remote-ts=10.1.0.0/16\n") || !strings.Contains(string(keyfile), "proposal=yes\nike=aes256gcm16-prfsha256-ecp256;") {
		t.Fatalf("the keyfile lacks the routes or proposals:\n%s", keyfile)
	}
	nmCertificate(t, nm, files, alice, "VpnServerRoot.pem")
	if err := nm.Import("VNet1-gw.nmconnection", keyfile); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	if err := nm.Up("VNet1-gw"); err != nil {
		t.Fatal(err)
	}
	t.Logf("NetworkManager connected in %v", time.Since(up).Round(time.Millisecond))
	if s := nm.State("VNet1-gw"); s != "activated" {
		t.Fatalf("connection state %q", s)
	}
	addr := nmAddress(t, nm.IP4("VNet1-gw"))
	if !netip.MustParsePrefix(pool).Contains(addr) {
		t.Fatalf("NetworkManager's address %v is not from the pool %s", addr, pool)
	}
	nmReaches(t, c, laptop, vmNS, vm, "alice@contoso.test", addr)
	if err := nm.Down("VNet1-gw"); err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, 10*time.Second, func() bool { return len(c.health("VNet1-gw")) == 0 }, "health still shows the client after nmcli connection down")

	// EAP-MSCHAPv2, a local user; the password asked for at connect.
	files = c.generateProfile("VNet1-gw", "EAPMSCHAPv2")
	keyfile = []byte(strings.ReplaceAll(string(files["NetworkManager/VNet1-gw.nmconnection"]), "USERNAME", "dave"))
	if strings.Contains(string(keyfile), "Dave-Secret-42") {
		t.Fatal("the keyfile carries the password")
	}
	if err := nm.Import("VNet1-gw.nmconnection", keyfile); err != nil {
		t.Fatal(err)
	}
	// The keyfile leaves the password to be asked for at connect (by the
	// desktop's strongSwan dialog); without one, as here, it is saved with
	// the connection, as docs/p2s.md says.
	if _, err := nm.Nmcli("connection", "modify", "VNet1-gw", "+vpn.data", "password-flags=0", "vpn.secrets", "password=Dave-Secret-42"); err != nil {
		t.Fatal(err)
	}
	if err := nm.Up("VNet1-gw"); err != nil {
		t.Fatal(err)
	}
	reachable(t, laptop, vm, 10*time.Second)
	var h []resource.VpnClientConnectionHealthDetail
	nstest.WaitFor(t, 5*time.Second, func() bool {
		h = c.health("VNet1-gw")
		return len(h) == 1 && h[0].VpnUserName == "dave"
	}, "health: %+v", h)
	if !strings.Contains(nm.CharonLog(), "EAP method EAP_MSCHAPV2 succeeded") {
		t.Fatal("charon-nm's log does not show EAP-MSCHAPv2")
	}
	if err := nm.Down("VNet1-gw"); err != nil {
		t.Fatal(err)
	}

	// EAP-TLS with the gateway's RADIUS server: FreeRADIUS on the VM
	// (its eap/tls module, a server certificate from its own CA) trusts
	// carol's root; the gateway relays.
	t.Run("EAPTLSRadius", func(t *testing.T) {
		radiustest.Require(t)
		users, err := pki.NewCA("Contoso Users", pki.ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		carol, err := users.IssueClient("carol@contoso.test", pki.ECDSAP256, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tlsFiles, radiusCA := radiustest.NewTLS(t, "radius.contoso.test", users.Cert)
		radiustest.StartWith(t, radiustest.Options{NS: vmNS, Addr: vm, Clients: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, TLS: tlsFiles})
		c.cli("network", "vnet-gateway", "local-user", "delete", "-g", "RG1", "--gateway-name", "VNet1-gw", "-n", "dave", "-o", "none")
		c.cli("network", "vnet-gateway", "update", "-g", "RG1", "-n", "VNet1-gw", "--vpn-auth-type", "Radius",
			"--radius-server", vm.String(), "--radius-secret", "testing123", "-o", "none")
		caFile := filepath.Join(t.TempDir(), "RadiusCA.cer")
		writeFile(t, caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: radiusCA.Cert.Raw}))
		files := c.generateProfile("VNet1-gw", "EAPTLS", "--radius-server-auth-certificate", caFile)
		keyfile := files["NetworkManager/VNet1-gw.nmconnection"]
		if !strings.Contains(string(keyfile), "method=eap-tls\n") {
			t.Fatalf("not an EAP-TLS keyfile:\n%s", keyfile)
		}
		// Another laptop, whose charon-nm reads the package's
		// charon-nm.conf from the start, as from /etc/strongswan.d.
		laptop := c.labClient("nm-laptop2", "192.0.2.57")
		nm := nmtest.StartWith(t, laptop, nmtest.Options{StrongswanD: "\n" + string(files["NetworkManager/charon-nm.conf"])})
		nmCertificate(t, nm, files, carol, "VpnServerRoot.pem", "RadiusServerRoot.pem")
		if err := nm.Import("VNet1-gw.nmconnection", keyfile); err != nil {
			t.Fatal(err)
		}
		if err := nm.Up("VNet1-gw"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(nm.CharonLog(), "EAP method EAP_TLS succeeded") {
			t.Fatal("charon-nm's log does not show EAP-TLS")
		}
		nmReaches(t, c, laptop, vmNS, vm, "CN=carol@contoso.test", nmAddress(t, nm.IP4("VNet1-gw")))
		if err := nm.Down("VNet1-gw"); err != nil {
			t.Fatal(err)
		}
	})
}

// nmCertificate puts what a certificate keyfile expects under nm's
// /etc/swanctl: the package's roots named, the client's certificate and
// its key.
func nmCertificate(t *testing.T, nm *nmtest.NM, files map[string][]byte, client *pki.Issued, roots ...string) {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(client.Key)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range roots {
		writeFile(t, filepath.Join(nm.Swanctl, "x509ca", f), files["strongSwan/x509ca/"+f])
	}
	writeFile(t, filepath.Join(nm.Swanctl, "x509", "client.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: client.Cert.Raw}))
	writeFile(t, filepath.Join(nm.Swanctl, "private", "client.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

// nmReaches checks that a laptop whose NetworkManager connection is up
// reaches the VM (ping, a checksummed 1 MiB TCP stream) and that health
// shows the user with NetworkManager's address.
func nmReaches(t *testing.T, c *cloud, laptop, vmNS *nstest.NS, vm netip.Addr, user string, addr netip.Addr) {
	t.Helper()
	reachable(t, laptop, vm, 10*time.Second)
	if loss := pingLoss(t, laptop, vm, 5, "0.2"); loss != 0 {
		t.Fatalf("%s → VM: %d%% loss", laptop.Name, loss)
	}
	transfer(t, laptop, vmNS, vm, 1<<20)
	var h []resource.VpnClientConnectionHealthDetail
	nstest.WaitFor(t, 5*time.Second, func() bool {
		h = c.health("VNet1-gw")
		return len(h) == 1 && h[0].VpnUserName == user && h[0].PrivateIPAddress == addr.String()
	}, "health: %+v (NetworkManager's address %v)", h, addr)
}

// nmAddress is the address of nmcli -t -f IP4's IP4.ADDRESS[1] line.
func nmAddress(t *testing.T, ip4 string) netip.Addr {
	t.Helper()
	for _, line := range strings.Split(ip4, "\n") {
		if v, ok := strings.CutPrefix(line, "IP4.ADDRESS[1]:"); ok {
			if p, err := netip.ParsePrefix(v); err == nil {
				return p.Addr()
			}
		}
	}
	t.Fatalf("no address in NetworkManager's IPv4 configuration: %q", ip4)
	return netip.Addr{}
}
