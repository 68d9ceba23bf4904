package gwconfig

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/p2s/mschapv2"
	"github.com/vpngw/vpngw/internal/p2s/pki"
	"github.com/vpngw/vpngw/internal/transform"
)

// p2sConfig is baseConfig with a point-to-site section using the test
// certificate in testdata/p2s (for gw.vpngw.test); extra is appended
// inside the section.
func p2sConfig(extra string) string {
	return baseConfig + `pointToSite:
  addressPool: [172.16.201.0/24]
  fqdn: gw.vpngw.test
  certificateFile: testdata/p2s/server.pem
  keyFile: testdata/p2s/server.key
  users:
    - {name: alice, password: "correct horse"}
    - {name: bob, ntHash: 8846f7eaee8fb117ad06bdd830b7586c}
  dns: [10.1.0.53]
` + extra
}

func TestPointToSiteErrors(t *testing.T) {
	dir := t.TempDir()
	// A certificate for another name, and a key that is not the
	// certificate's.
	ca, err := pki.NewCA("other CA", pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.IssueServer("other.vpngw.test", pki.ECDSAP256, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherCert, otherKey := filepath.Join(dir, "other.pem"), filepath.Join(dir, "other.key")
	kb, _ := x509.MarshalPKCS8PrivateKey(other.Key)
	if err := os.WriteFile(otherCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Cert.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(otherKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	r := strings.Replace
	root := pki.PublicCertData(ca.Cert)
	// noUsers is p2sConfig without its users, extra appended.
	noUsers := func(extra string) string {
		return r(r(p2sConfig(extra), `    - {name: alice, password: "correct horse"}`+"\n", "", 1), "    - {name: bob, ntHash: 8846f7eaee8fb117ad06bdd830b7586c}\n", "", 1)
	}
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown field", p2sConfig("  radius: 10.0.0.1\n"), "field radius not found"},
		{"no pool", r(p2sConfig(""), "addressPool: [172.16.201.0/24]", "", 1), "pointToSite.addressPool: at least one prefix is required"},
		{"pool not a prefix", r(p2sConfig(""), "172.16.201.0/24", "172.16.201.0", 1), `pointToSite.addressPool[0]: "172.16.201.0" is not a CIDR prefix`},
		{"pool too small", r(p2sConfig(""), "172.16.201.0/24", "172.16.201.0/30", 1), "pointToSite.addressPool[0]: 172.16.201.0/30 is smaller than /29"},
		{"pool public", r(p2sConfig(""), "172.16.201.0/24", "198.51.100.0/24", 1), "pointToSite.addressPool[0]: 198.51.100.0/24 is not a private range"},
		{"pool IPv6", r(p2sConfig(""), "172.16.201.0/24", "fd00::/64", 1), "pointToSite.addressPool[0]: fd00::/64 is not IPv4"},
		{"pool overlaps local", r(p2sConfig(""), "172.16.201.0/24", "10.1.8.0/24", 1), "pointToSite.addressPool[0]: 10.1.8.0/24 overlaps localPrefixes[0] 10.1.0.0/16"},
		{"pool overlaps a site", r(p2sConfig(""), "172.16.201.0/24", "10.2.0.0/24", 1), `pointToSite.addressPool[0]: 10.2.0.0/24 overlaps 10.2.0.0/16, routed to connection "c1"`},
		{"pool overlaps itself", r(p2sConfig(""), "[172.16.201.0/24]", "[172.16.201.0/24, 172.16.201.128/25]", 1), "pointToSite.addressPool[1]: 172.16.201.128/25 overlaps addressPool[0]"},
		{"pool too large", r(p2sConfig(""), "172.16.201.0/24", "10.128.0.0/9", 1), "pointToSite.addressPool: pool: invalid prefix"},
		{"no local prefixes", r(p2sConfig(""), "localPrefixes: [10.1.0.0/16]", "", 1), "localPrefixes: point-to-site needs the gateway's prefixes"},
		{"policy-based", p2sConfig("vpnType: PolicyBased\n"), "pointToSite: a PolicyBased gateway has no point-to-site"},
		{"name with slash", p2sConfig("  name: p2s/x\n"), `pointToSite.name: "p2s/x" must not contain spaces or slashes`},
		{"name of a connection", p2sConfig("  name: c1\n"), `pointToSite.name: "c1" is also the name of connections[0]`},
		{"no fqdn", r(p2sConfig(""), "fqdn: gw.vpngw.test", "", 1), "pointToSite.fqdn: is required"},
		{"fqdn an address", r(p2sConfig(""), "fqdn: gw.vpngw.test", "fqdn: 192.0.2.1", 1), `pointToSite.fqdn: "192.0.2.1" is not a DNS name`},
		{"no certificate", r(p2sConfig(""), "certificateFile: testdata/p2s/server.pem", "", 1), "pointToSite.certificateFile: is required (or pkiDir, or certificatePem and keyPem)"},
		{"no key", r(p2sConfig(""), "keyFile: testdata/p2s/server.key", "", 1), "pointToSite.keyFile: is required"},
		{"missing certificate", r(p2sConfig(""), "testdata/p2s/server.pem", "testdata/p2s/nothere.pem", 1), "pointToSite.certificateFile: open testdata/p2s/nothere.pem"},
		{"key not the certificate's", r(p2sConfig(""), "testdata/p2s/server.key", otherKey, 1), "pointToSite.keyFile: testdata/p2s/server.pem and " + otherKey + ": tls: private key does not match public key"},
		{"certificate for another name", r(r(p2sConfig(""), "testdata/p2s/server.key", otherKey, 1), "testdata/p2s/server.pem", otherCert, 1), "pointToSite.certificateFile: " + otherCert + " does not name fqdn gw.vpngw.test"},
		{"pkiDir and files", p2sConfig("  pkiDir: " + dir + "\n"), "pointToSite.pkiDir: give pkiDir or certificateFile/keyFile, not both"},
		{"no users", r(r(p2sConfig(""), `    - {name: alice, password: "correct horse"}`+"\n", "", 1), "    - {name: bob, ntHash: 8846f7eaee8fb117ad06bdd830b7586c}\n", "", 1), "pointToSite.users: at least one user, clientRootCertificates entry or radiusServers entry is required"},
		{"users and radius", p2sConfig("  radiusServers: [{address: 10.1.0.10, secret: radsecret}]\n"), "pointToSite.radiusServers: give users or radiusServers, not both"},
		{"radius not an address", noUsers("  radiusServers: [{address: radius.example, secret: radsecret}]\n"), `pointToSite.radiusServers[0].address: "radius.example" is not an IP address`},
		{"radius port 0", noUsers("  radiusServers: [{address: '10.1.0.10:0', secret: radsecret}]\n"), `pointToSite.radiusServers[0].address: "10.1.0.10:0" is not a server's address`},
		{"radius without secret", noUsers("  radiusServers: [{address: 10.1.0.10}]\n"), "pointToSite.radiusServers[0].secret: is required"},
		{"radius negative score", noUsers("  radiusServers: [{address: 10.1.0.10, secret: radsecret, score: -1}]\n"), "pointToSite.radiusServers[0].score: -1 is negative"},
		{"radius twice", noUsers("  radiusServers: [{address: 10.1.0.10, secret: radsecret}, {address: '10.1.0.10:1812', secret: radsecret}]\n"), "pointToSite.radiusServers[1].address: 10.1.0.10:1812 is also radiusServers[0]"},
		{"root not X.509", noUsers("  clientRootCertificates: [aGVsbG8=]\n"), "pointToSite.clientRootCertificates[0]: not the Base64 DER body of an X.509 certificate"},
		{"root not Base64", noUsers("  clientRootCertificates: ['-----BEGIN']\n"), "pointToSite.clientRootCertificates[0]: not the Base64 DER body"},
		{"bad thumbprint", noUsers("  clientRootCertificates: [" + root + "]\n  revokedThumbprints: [abc]\n"), `pointToSite.revokedThumbprints[0]: "abc" is not a SHA-1 thumbprint`},
		{"revoked without roots", p2sConfig("  revokedThumbprints: [" + strings.Repeat("ab", 20) + "]\n"), "pointToSite.revokedThumbprints: revoked thumbprints need clientRootCertificates"},
		{"inline and files", p2sConfig("  certificatePem: x\n  keyPem: y\n"), "pointToSite.certificatePem: give certificatePem/keyPem, certificateFile/keyFile or pkiDir, only one"},
		{"inline without key", r(r(p2sConfig("  certificatePem: x\n"), "  certificateFile: testdata/p2s/server.pem\n", "", 1), "  keyFile: testdata/p2s/server.key\n", "", 1), "pointToSite.keyPem: is required with certificatePem"},
		{"inline not PEM", r(r(p2sConfig("  certificatePem: x\n  keyPem: notakey\n"), "  certificateFile: testdata/p2s/server.pem\n", "", 1), "  keyFile: testdata/p2s/server.key\n", "", 1), "pointToSite.keyPem: certificatePem and keyPem: tls: failed to find any PEM data"},
		{"user without name", r(p2sConfig(""), "name: alice", "name: ''", 1), `pointToSite.users[0].name: "" is not a user name`},
		{"user twice", r(p2sConfig(""), "name: bob", `name: 'CORP\Alice'`, 1), `pointToSite.users[1].name: "CORP\\Alice" is given twice`},
		{"user without password", r(p2sConfig(""), `, password: "correct horse"`, "", 1), "pointToSite.users[0].password: is required (or ntHash)"},
		{"password and hash", r(p2sConfig(""), `password: "correct horse"`, `password: x, ntHash: 8846f7eaee8fb117ad06bdd830b7586c`, 1), "pointToSite.users[0]: give password or ntHash, not both"},
		{"bad hash", r(p2sConfig(""), "8846f7eaee8fb117ad06bdd830b7586c", "8846f7eaee8fb117ad06bdd830b758", 1), "pointToSite.users[1].ntHash: must be 32 hex digits"},
		{"bad dns", r(p2sConfig(""), "dns: [10.1.0.53]", "dns: [10.1.0.530]", 1), `pointToSite.dns[0]: "10.1.0.530" is not an IP address`},
		{"IPv6 dns", r(p2sConfig(""), "dns: [10.1.0.53]", "dns: ['fd00::53']", 1), "pointToSite.dns[0]: fd00::53 is not IPv4"},
		{"policy field missing", p2sConfig("  ipsecPolicy: {saLifeTimeSeconds: 3600, saDataSizeKilobytes: 102400000, ipsecEncryption: GCMAES256, ipsecIntegrity: GCMAES256, ikeEncryption: GCMAES256, ikeIntegrity: SHA384, dhGroup: ECP384}\n"), "pointToSite.ipsecPolicy.pfsGroup: "},
		{"policy bad value", p2sConfig("  ipsecPolicy: {saLifeTimeSeconds: 3600, saDataSizeKilobytes: 102400000, ipsecEncryption: AES512, ipsecIntegrity: SHA256, ikeEncryption: AES256, ikeIntegrity: SHA384, dhGroup: ECP384, pfsGroup: ECP384}\n"), "pointToSite.ipsecPolicy.ipsecEncryption: "},
		{"TLS version", p2sConfig("  eapTlsMaxVersion: '1.1'\n"), `pointToSite.eapTlsMaxVersion: "1.1" is not a TLS version EAP-TLS offers (1.2 or 1.3)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refused(t, tc.yaml, tc.want, "8846f7eaee8fb117ad06bdd830b758", "correct horse", "radsecret", "notakey")
		})
	}
}

func TestPointToSiteTyped(t *testing.T) {
	in, err := Parse([]byte(p2sConfig("")))
	if err != nil {
		t.Fatal(err)
	}
	p := in.P2S
	if p == nil || p.Name != DefaultP2SName || in.PointToSite.Name != DefaultP2SName || len(p.Pool) != 1 || p.Pool[0].String() != "172.16.201.0/24" ||
		len(p.Cert) != 2 || p.Key == nil || len(p.DNS) != 1 || p.DNS[0].String() != "10.1.0.53" {
		t.Fatalf("typed: %+v", p)
	}
	// Users are found without domain and case; the hash is the password's.
	for _, tc := range []struct {
		user string
		pw   string
		ok   bool
	}{{"alice", "correct horse", true}, {`CORP\Alice`, "correct horse", true}, {"bob", "password", true}, {"carol", "", false}} {
		h, ok := p.Lookup(tc.user)
		if ok != tc.ok || (ok && h != mschapv2.NTPasswordHash(tc.pw)) {
			t.Errorf("Lookup(%q) = %x, %v", tc.user, h, ok)
		}
	}
	again, err := Parse([]byte(p2sConfig("")))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Equal(again.P2S) {
		t.Error("the same configuration is not Equal")
	}
	changed, err := Parse([]byte(strings.Replace(p2sConfig(""), "dns: [10.1.0.53]", "dns: [10.1.0.54]", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if p.Equal(changed.P2S) || p.Equal(nil) || !(*P2S)(nil).Equal(nil) {
		t.Error("Equal does not see a change")
	}
}

// pkiDir generates a CA and server certificate once and reuses them.
func TestPointToSitePKIDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	y := strings.Replace(strings.Replace(p2sConfig(""), "  certificateFile: testdata/p2s/server.pem\n", "", 1), "  keyFile: testdata/p2s/server.key\n", "  pkiDir: "+dir+"\n", 1)
	in, err := Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, PKICAFile))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(caPEM)
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(in.P2S.Cert[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "gw.vpngw.test"}); err != nil {
		t.Fatalf("the server certificate does not chain to ca.pem: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, PKIKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	again, err := Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if !in.P2S.Equal(again.P2S) {
		t.Fatal("a second load generated new certificates")
	}
}

// The control plane's form: the certificate and key inline, certificate
// clients and RADIUS; a change of the revoked list alone keeps the server
// side the same (SameServer), so the agent keeps its clients.
func TestPointToSiteInlineClientsRadius(t *testing.T) {
	certPEM, err := os.ReadFile("testdata/p2s/server.pem")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile("testdata/p2s/server.key")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewCA("clients", pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := ca.IssueClient("alice@vpngw.test", pki.ECDSAP256, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	section := func(revoked string) *PointToSite {
		ps := &PointToSite{AddressPool: []string{"172.16.201.0/24"}, FQDN: "gw.vpngw.test",
			CertificatePEM: string(certPEM), KeyPEM: string(keyPEM),
			ClientRootCertificates: []string{pki.PublicCertData(ca.Cert)},
			RadiusServers:          []P2SRadiusServer{{Address: "10.1.0.10", Secret: "s1", Score: 5}, {Address: "10.1.0.11:1645", Secret: "s2"}}}
		if revoked != "" {
			ps.RevokedThumbprints = []string{revoked}
		}
		return ps
	}
	check := func(ps *PointToSite) *P2S {
		t.Helper()
		c := Config{LocalAddress: "192.0.2.1", LocalPrefixes: []string{"10.1.0.0/16"}, PointToSite: ps}
		in, err := c.Check()
		if err != nil {
			t.Fatal(err)
		}
		return in.P2S
	}
	p := check(section(""))
	if p.Clients == nil || len(p.Cert) != 2 || p.Key == nil || len(p.Users) != 0 {
		t.Fatalf("typed: %+v", p)
	}
	if _, err := p.Clients.Verify([][]byte{alice.Cert.Raw}, time.Now()); err != nil {
		t.Fatalf("alice's certificate is refused: %v", err)
	}
	want := []RadiusServer{{Addr: netip.MustParseAddrPort("10.1.0.10:1812"), Secret: []byte("s1"), Score: 5},
		{Addr: netip.MustParseAddrPort("10.1.0.11:1645"), Secret: []byte("s2")}}
	if !slices.EqualFunc(p.Radius, want, func(a, b RadiusServer) bool {
		return a.Addr == b.Addr && a.Score == b.Score && string(a.Secret) == string(b.Secret)
	}) {
		t.Fatalf("radius: %+v", p.Radius)
	}
	revoked := check(section(strings.ToLower(pki.Thumbprint(alice.Cert))))
	if revoked.RevokedThumbprints[0] != pki.Thumbprint(alice.Cert) {
		t.Errorf("thumbprint not stored upper case: %v", revoked.RevokedThumbprints)
	}
	if _, err := revoked.Clients.Verify([][]byte{alice.Cert.Raw}, time.Now()); !errors.Is(err, pki.ErrRevoked) {
		t.Fatalf("revoked alice: %v", err)
	}
	if !p.SameServer(revoked) || p.Equal(revoked) || !p.Equal(check(section(""))) {
		t.Error("a change of the revoked list: SameServer must hold and Equal must not")
	}
	other := section("")
	other.RadiusServers[1].Secret = "s3"
	if p.SameServer(check(other)) {
		t.Error("a new RADIUS secret is the same server")
	}
}

// pointToSite.ipsecPolicy (Azure's vpnClientIpsecPolicies[0]) becomes the
// one IKE and the one ESP proposal the template accepts, and its
// lifetimes; a change of it is a change of the server side.
func TestPointToSiteIpsecPolicy(t *testing.T) {
	const pol = "  ipsecPolicy: {saLifeTimeSeconds: 3600, saDataSizeKilobytes: 102400, ipsecEncryption: gcmaes256, ipsecIntegrity: GCMAES256, ikeEncryption: AES256, ikeIntegrity: SHA384, dhGroup: ECP384, pfsGroup: ECP384}\n"
	in, err := Parse([]byte(p2sConfig(pol)))
	if err != nil {
		t.Fatal(err)
	}
	p := in.P2S
	if got, want := transform.FormatProposals(p.IKEProposals), "aes256-sha384-prfsha384-ecp384"; got != want {
		t.Errorf("IKE proposals %q, want %q", got, want)
	}
	if got, want := transform.FormatProposals(p.ESPProposals), "aes256gcm16-ecp384"; got != want {
		t.Errorf("ESP proposals %q, want %q", got, want)
	}
	if p.ChildLifetime != time.Hour || p.ChildLifeBytes != 102400*1024 {
		t.Errorf("lifetimes %v %d", p.ChildLifetime, p.ChildLifeBytes)
	}
	if p.IpsecPolicy.IpsecEncryption != "GCMAES256" {
		t.Errorf("not canonicalized: %+v", p.IpsecPolicy)
	}
	none, err := Parse([]byte(p2sConfig("")))
	if err != nil {
		t.Fatal(err)
	}
	if none.P2S.IKEProposals != nil || none.P2S.ESPProposals != nil || none.P2S.ChildLifetime != 0 {
		t.Errorf("proposals without a policy: %+v", none.P2S)
	}
	if p.SameServer(none.P2S) || none.P2S.SameServer(p) {
		t.Error("adding a policy is not a server change")
	}
	again, err := Parse([]byte(p2sConfig(pol)))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Equal(again.P2S) {
		t.Error("the same policy is not Equal")
	}
}
