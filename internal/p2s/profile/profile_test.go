package profile

import (
	"archive/zip"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/xml"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"
)

func testRoot(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "root"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func unzip(t *testing.T, b []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		out[f.Name] = string(data)
	}
	return out
}

func TestBuild(t *testing.T) {
	root := testRoot(t)
	p := Profile{Name: "gw1", FQDN: "azuregateway-g1.vpn.vpngw.internal", Addresses: []string{"203.0.113.5"}, RootCertificate: root,
		Routes: []string{"10.1.0.0/16", "10.2.0.0/16"}, DNS: []string{"10.1.0.4", "10.1.0.5"}, Auth: AuthCertificate}
	b, err := Build(p, "root")
	if err != nil {
		t.Fatal(err)
	}
	files := unzip(t, b)
	if files["Generic/VpnServerRoot.cer"] != string(root) {
		t.Error("VpnServerRoot.cer is not the root's DER")
	}
	var vs vpnSettings
	if err := xml.Unmarshal([]byte(files["Generic/VpnSettings.xml"]), &vs); err != nil {
		t.Fatal(err)
	}
	if vs.VpnServer != p.FQDN || vs.VpnType != "IkeV2" || vs.Routes != "10.1.0.0/16,10.2.0.0/16" || vs.CertPublicKeys.ServerCertRootCn != "root" || vs.VpnServerAddress != "203.0.113.5" ||
		vs.CustomDNSServers != "10.1.0.4,10.1.0.5" {
		t.Fatalf("VpnSettings.xml: %+v", vs)
	}
	sw := files["strongSwan/swanctl.conf"]
	for _, want := range []string{"remote_addrs = 203.0.113.5", "dpd_delay = 5s", "keyingtries = 0", "dpd_action = restart", "id = azuregateway-g1.vpn.vpngw.internal", "vips = 0.0.0.0", "remote_ts = 10.1.0.0/16,10.2.0.0/16",
		"auth = eap-tls\n\t\t\tcerts = client.pem", "cacerts = VpnServerRoot.pem"} {
		if !strings.Contains(sw, want) {
			t.Errorf("swanctl.conf lacks %q:\n%s", want, sw)
		}
	}
	if !strings.Contains(sw, "proposals = "+defaultIKEProposals+"\n") || !strings.Contains(sw, "esp_proposals = "+defaultESPProposals+"\n") {
		t.Errorf("default proposals:\n%s", sw)
	}
	// A custom policy's suite is offered alone.
	custom := p
	custom.IKEProposals, custom.ESPProposals = "aes256-sha256-prfsha256-ecp256", "aes128gcm16"
	if b, err := Build(custom, "root"); err != nil {
		t.Fatal(err)
	} else if sw := unzip(t, b)["strongSwan/swanctl.conf"]; !strings.Contains(sw, "\tproposals = aes256-sha256-prfsha256-ecp256\n") || !strings.Contains(sw, "esp_proposals = aes128gcm16\n") {
		t.Errorf("custom proposals:\n%s", sw)
	}
	if !strings.Contains(files["strongSwan/README.txt"], "DNS servers: 10.1.0.4, 10.1.0.5") || !strings.Contains(files["strongSwan/README.txt"], "retransmit_tries = 5") {
		t.Errorf("README:\n%s", files["strongSwan/README.txt"])
	}
	bad := p
	bad.DNS = []string{"ns1"}
	if _, err := Build(bad, "root"); !errors.Is(err, ErrInvalid) {
		t.Errorf("a DNS server that is no address: %v", err)
	}
	if !strings.Contains(files["strongSwan/x509ca/VpnServerRoot.pem"], "BEGIN CERTIFICATE") || !strings.Contains(files["NetworkManager/gw1.nmconnection"], "method=key") {
		t.Errorf("files: %v", files)
	}
	p.Auth = AuthEAPMSCHAPv2
	b, err = Build(p, "root")
	if err != nil {
		t.Fatal(err)
	}
	files = unzip(t, b)
	if sw := files["strongSwan/swanctl.conf"]; !strings.Contains(sw, "auth = eap-mschapv2") || !strings.Contains(sw, "secrets {") {
		t.Errorf("EAP swanctl.conf:\n%s", sw)
	}
	// EAP-TLS through RADIUS: the RADIUS server's root in x509ca.
	rp := p
	rp.Auth, rp.RadiusServerRoot = AuthEAPTLSRadius, root
	if b, err = Build(rp, "root"); err != nil {
		t.Fatal(err)
	}
	files = unzip(t, b)
	if sw := files["strongSwan/swanctl.conf"]; !strings.Contains(sw, "auth = eap-tls\n\t\t\tcerts = client.pem\n\t\t\taaa_id = %any") ||
		!strings.Contains(files["strongSwan/x509ca/RadiusServerRoot.pem"], "BEGIN CERTIFICATE") || strings.Contains(sw, "secrets {") ||
		!strings.Contains(files["NetworkManager/gw1.nmconnection"], "method=eap-tls") {
		t.Errorf("EAP-TLS through RADIUS: %v", files)
	}
	// charon-nm takes one CA file: this keyfile names none, and the
	// package points charon-nm's CA directory at both roots.
	if nm := files["NetworkManager/gw1.nmconnection"]; strings.Contains(nm, "certificate=") ||
		!strings.Contains(files["NetworkManager/charon-nm.conf"], "ca_dir = /etc/swanctl/x509ca") {
		t.Errorf("EAP-TLS through RADIUS, NetworkManager: %s\n%s", nm, files["NetworkManager/charon-nm.conf"])
	}
	for _, tc := range []struct {
		name string
		mut  func(*Profile)
	}{
		{"name with a brace", func(p *Profile) { p.Name = "gw}" }},
		{"no address", func(p *Profile) { p.Addresses = nil }},
		{"address not IP", func(p *Profile) { p.Addresses = []string{"x"} }},
		{"no root", func(p *Profile) { p.RootCertificate = nil }},
		{"bad route", func(p *Profile) { p.Routes = []string{"10.1.0.0"} }},
		{"bad auth", func(p *Profile) { p.Auth = "PSK" }},
		{"RADIUS root without EAP-TLS through RADIUS", func(p *Profile) { p.RadiusServerRoot = p.RootCertificate }},
		{"EAP-TLS through RADIUS without its root", func(p *Profile) { p.Auth = AuthEAPTLSRadius }},
		{"proposals with a newline", func(p *Profile) { p.ESPProposals = "aes128gcm16\n}" }},
	} {
		q := p
		tc.mut(&q)
		if _, err := Build(q, "root"); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
