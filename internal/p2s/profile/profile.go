// Package profile builds a gateway's point-to-site client package, the zip
// Azure's generatevpnprofile and generatevpnclientpackage link to:
//
//	Generic/VpnSettings.xml              the server, tunnel type and routes (Azure's)
//	Generic/VpnServerRoot.cer            the CA that vouches for the gateway (DER, Azure's)
//	strongSwan/swanctl.conf              a ready strongSwan connection (vpngw's)
//	strongSwan/x509ca/VpnServerRoot.pem  the same CA for swanctl
//	strongSwan/README.txt                where the client's certificate or password goes
//	NetworkManager/NAME.nmconnection     a NetworkManager (strongswan plugin) keyfile
//	NetworkManager/charon-nm.conf        (EAP-TLS with RADIUS) charon-nm's CA directory
//
// The strongSwan directory is laid out like /etc/swanctl: with the
// client's certificate in x509/ and its key in private/ (certificate
// authentication), or its password in swanctl.conf's secrets (RADIUS),
// `swanctl --load-all --file strongSwan/swanctl.conf` loads it as is.
// The package holds no secret. It imports only the standard library.
package profile

import (
	"archive/zip"
	"bytes"
	"cmp"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Client authentication methods a profile is built for.
const (
	// AuthCertificate: the client's certificate inside EAP-TLS (Azure's
	// "Certificate"; EAPTLS in VpnClientParameters). The gateway also
	// takes it in IKEv2 certificate authentication.
	AuthCertificate = "Certificate"
	// AuthEAPMSCHAPv2: a user name and password (Azure's "Radius" with
	// EAPMSCHAPv2).
	AuthEAPMSCHAPv2 = "EAPMSCHAPv2"
	// AuthEAPTLSRadius: the client's certificate inside EAP-TLS, which the
	// gateway relays to its RADIUS server (Azure's "Radius" with EAPTLS);
	// the client checks the server's certificate against
	// RadiusServerRoot.
	AuthEAPTLSRadius = "EAPTLS-Radius"
)

// Profile describes the gateway a package connects to.
type Profile struct {
	// Name names the connection (the gateway's name).
	Name string
	// FQDN is the gateway's IKE identity; its certificate names it.
	FQDN string
	// Addresses are the gateway's public addresses (the first is used).
	Addresses []string
	// RootCertificate is the CA that issued the gateway's certificate (DER).
	RootCertificate []byte
	// Routes are the prefixes reached through the tunnel.
	Routes []string
	// DNS are the DNS servers the gateway gives clients (the VNet's
	// custom DNS servers): VpnSettings.xml's CustomDnsServers and the
	// README (strongSwan installs them itself, with its resolve plugin).
	DNS []string
	// Auth is AuthCertificate, AuthEAPMSCHAPv2 or AuthEAPTLSRadius.
	Auth string
	// RadiusServerRoot is the CA of the RADIUS server's certificate
	// (DER; AuthEAPTLSRadius only): strongSwan/x509ca/RadiusServerRoot.pem.
	RadiusServerRoot []byte
	// IKEProposals and ESPProposals are the gateway's custom suite in
	// strongSwan syntax (from vpnClientIpsecPolicies), offered alone;
	// empty: a default list that Azure's and vpngw's defaults accept.
	IKEProposals, ESPProposals string
}

// Default proposals of the strongSwan profile.
const (
	defaultIKEProposals = "aes256gcm16-prfsha256-ecp256,aes256-sha256-modp2048,default"
	defaultESPProposals = "aes256gcm16,aes256-sha256,default"
)

// ErrInvalid is returned for a profile that cannot be built.
var ErrInvalid = errors.New("profile: invalid")

// vpnSettings is Generic/VpnSettings.xml, in Azure's shape.
type vpnSettings struct {
	XMLName        xml.Name `xml:"VpnProfile"`
	VpnServer      string   `xml:"VpnServer"`
	VpnType        string   `xml:"VpnType"`
	CertPublicKeys struct {
		ServerCertRootCn   string `xml:"ServerCertRootCn"`
		ServerCertIssuerCn string `xml:"ServerCertIssuerCn"`
	} `xml:"CertPublicKeys"`
	Routes           string `xml:"Routes"`
	CustomDNSServers string `xml:"CustomDnsServers"`
	// VpnServerAddress is vpngw's addition: the address to connect to
	// when VpnServer is not in DNS.
	VpnServerAddress string `xml:"VpnServerAddress"`
	// Authentication is vpngw's addition: how the client authenticates.
	Authentication string `xml:"Authentication"`
}

// Build returns the package (a zip) for p, with rootCN the CA's common
// name (as VpnSettings.xml names it).
func Build(p Profile, rootCN string) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	vs := vpnSettings{VpnServer: p.FQDN, VpnType: "IkeV2", Routes: strings.Join(p.Routes, ","),
		CustomDNSServers: strings.Join(p.DNS, ","), VpnServerAddress: p.Addresses[0], Authentication: p.Auth}
	vs.CertPublicKeys.ServerCertRootCn, vs.CertPublicKeys.ServerCertIssuerCn = rootCN, rootCN
	xb, err := xml.MarshalIndent(vs, "", "  ")
	if err != nil {
		return nil, err
	}
	rootPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.RootCertificate})
	files := []struct {
		name string
		data []byte
	}{
		{"Generic/VpnSettings.xml", append([]byte(xml.Header), append(xb, '\n')...)},
		{"Generic/VpnServerRoot.cer", p.RootCertificate},
		{"strongSwan/swanctl.conf", []byte(p.swanctl())},
		{"strongSwan/x509ca/VpnServerRoot.pem", rootPEM},
		{"strongSwan/README.txt", []byte(p.readme())},
		{"NetworkManager/" + p.Name + ".nmconnection", []byte(p.networkManager())},
	}
	if len(p.RadiusServerRoot) > 0 {
		files = append(files, struct {
			name string
			data []byte
		}{"strongSwan/x509ca/RadiusServerRoot.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.RadiusServerRoot})}, struct {
			name string
			data []byte
		}{"NetworkManager/charon-nm.conf", []byte(charonNMConf)})
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: time.Now().UTC()})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (p *Profile) check() error {
	switch {
	case p.Name == "" || strings.ContainsAny(p.Name, " /\\{}\"\n\t#"):
		return fmt.Errorf("%w: name %q", ErrInvalid, p.Name)
	case p.FQDN == "" || strings.ContainsAny(p.FQDN, " {}\"\n\t#"):
		return fmt.Errorf("%w: fqdn %q", ErrInvalid, p.FQDN)
	case len(p.Addresses) == 0:
		return fmt.Errorf("%w: no address", ErrInvalid)
	case len(p.RootCertificate) == 0:
		return fmt.Errorf("%w: no root certificate", ErrInvalid)
	case len(p.Routes) == 0:
		return fmt.Errorf("%w: no routes", ErrInvalid)
	case strings.Trim(p.IKEProposals+p.ESPProposals, "abcdefghijklmnopqrstuvwxyz0123456789,-") != "":
		return fmt.Errorf("%w: proposals %q %q (strongSwan syntax: lower-case letters, digits, '-' and ',')", ErrInvalid, p.IKEProposals, p.ESPProposals)
	case p.Auth != AuthCertificate && p.Auth != AuthEAPMSCHAPv2 && p.Auth != AuthEAPTLSRadius:
		return fmt.Errorf("%w: authentication %q", ErrInvalid, p.Auth)
	case (p.Auth == AuthEAPTLSRadius) != (len(p.RadiusServerRoot) > 0):
		return fmt.Errorf("%w: a RADIUS server root goes with %s alone", ErrInvalid, AuthEAPTLSRadius)
	}
	if _, err := netip.ParseAddr(p.Addresses[0]); err != nil {
		return fmt.Errorf("%w: address %q", ErrInvalid, p.Addresses[0])
	}
	for _, r := range p.Routes {
		if _, err := netip.ParsePrefix(r); err != nil {
			return fmt.Errorf("%w: route %q", ErrInvalid, r)
		}
	}
	for _, d := range p.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return fmt.Errorf("%w: DNS server %q", ErrInvalid, d)
		}
	}
	return nil
}

// swanctl is strongSwan/swanctl.conf. encap = yes because strongSwan's
// userspace ESP (kernel-libipsec) needs it and every gateway takes it.
func (p *Profile) swanctl() string {
	var local, secrets string
	switch p.Auth {
	case AuthEAPTLSRadius:
		local = `		local {
			# Your certificate (x509/client.pem) and its key (private/),
			# inside EAP-TLS with the gateway's RADIUS server, whose
			# certificate must come from x509ca/RadiusServerRoot.pem. To
			# also pin its name, replace %any with it.
			auth = eap-tls
			certs = client.pem
			aaa_id = %any
		}`
	case AuthCertificate:
		local = `		local {
			# Your certificate (x509/client.pem) and its key (private/);
			# the identity is the certificate's subject. EAP-TLS, as
			# Azure's strongSwan instructions (leftauth=eap-tls); the
			# gateway takes auth = pubkey (IKEv2 certificates) as well.
			auth = eap-tls
			certs = client.pem
		}`
	default:
		local = `		local {
			# Your user name: here and in secrets below.
			auth = eap-mschapv2
			id = USERNAME
			eap_id = USERNAME
		}`
		secrets = `
secrets {
	eap-user {
		id = USERNAME
		secret = "PASSWORD"
	}
}
`
	}
	return fmt.Sprintf(`# vpngw point-to-site profile: gateway %[1]s (IKEv2, %[5]s).
# Load with: swanctl --load-all --file swanctl.conf   then: swanctl --initiate --child %[1]s
connections {
	%[1]s {
		version = 2
		remote_addrs = %[2]s
		vips = 0.0.0.0
		encap = yes
		# A gateway that stops answering (a liveness check after 5 s of
		# silence, given up after charon's retransmissions) is connected
		# to again, with no limit on tries: on an active-active gateway
		# the other instance answers at the same address. (See README.txt
		# for the retransmissions.)
		dpd_delay = 5s
		keyingtries = 0
		proposals = %[8]s
%[6]s
		remote {
			auth = pubkey
			id = %[3]s
			cacerts = VpnServerRoot.pem
		}
		children {
			%[1]s {
				remote_ts = %[4]s
				esp_proposals = %[9]s
				start_action = none
				dpd_action = restart
			}
		}
	}
}
%[7]s`, p.Name, p.Addresses[0], p.FQDN, strings.Join(p.Routes, ","), p.Auth, local, secrets,
		cmp.Or(p.IKEProposals, defaultIKEProposals), cmp.Or(p.ESPProposals, defaultESPProposals))
}

func (p *Profile) readme() string {
	how := "Certificate authentication: put your client certificate (PEM, issued by a root\n" +
		"uploaded to the gateway's vpnClientRootCertificates) in x509/client.pem and its\n" +
		"private key (PEM) in private/."
	switch p.Auth {
	case AuthEAPMSCHAPv2:
		how = "User name and password (EAP-MSCHAPv2, checked by the gateway's RADIUS server or\n" +
			"its local users):\n" +
			"replace USERNAME and PASSWORD in swanctl.conf."
	case AuthEAPTLSRadius:
		how = "Certificate authentication with EAP-TLS, checked by the gateway's RADIUS server:\n" +
			"put your client certificate (PEM, from a root the RADIUS server trusts) in\n" +
			"x509/client.pem and its private key (PEM) in private/. The RADIUS server's\n" +
			"certificate is checked against x509ca/RadiusServerRoot.pem."
	}
	dns := "none (the client keeps its own)"
	if len(p.DNS) > 0 {
		dns = strings.Join(p.DNS, ", ") + " (sent with the address; strongSwan's resolve plugin installs them)"
	}
	return fmt.Sprintf(`vpngw point-to-site profile for gateway %s

Server: %s (identity %s), IKEv2.
Routes through the tunnel: %s
DNS servers: %s

This directory is laid out like /etc/swanctl. %s

Then, with charon running:
  swanctl --load-all --file swanctl.conf
  swanctl --initiate --child %s

If the gateway instance serving you stops, charon notices after 5 s without
traffic from it (dpd_delay), then retransmits its check until it gives up
and connects again, to another instance. With charon's default
retransmissions (4 s, base 1.8, 5 tries) giving up takes 165 s; with these
in strongswan.conf (they apply to all of charon's connections, and a lossy
link gives up on a connect sooner too) 16 s:
  charon {
    retransmit_timeout = 1.0
    retransmit_base = 1.4
    retransmit_tries = 5
  }
`, p.Name, p.Addresses[0], p.FQDN, strings.Join(p.Routes, ", "), dns, how, p.Name)
}

// networkManager is a keyfile for NetworkManager's strongswan plugin
// (/etc/NetworkManager/system-connections/, mode 0600); the certificate
// paths are where the user puts the files. It offers the same proposals
// and asks for the same routes as swanctl.conf (charon-nm takes one
// proposal per item, separated by ';', and has no "default" keyword: the
// gateway's own suites are listed).
//
// With EAP-TLS through RADIUS the keyfile names no CA certificate:
// charon-nm takes one file there, and the client must trust two roots, the
// gateway's (IKE) and the RADIUS server's (inside EAP-TLS). Without one,
// charon-nm trusts the CAs of its charon-nm.ca_dir, which charonNMConf
// points at /etc/swanctl/x509ca, where both go; remote-identity still
// pins the gateway's name.
func (p *Profile) networkManager() string {
	method, ca, creds := "key", "certificate=/etc/swanctl/x509ca/VpnServerRoot.pem\n", "usercert=/etc/swanctl/x509/client.pem\nuserkey=/etc/swanctl/private/client.key\n"
	switch p.Auth {
	case AuthEAPMSCHAPv2:
		// The password is asked for when connecting (not saved).
		method, creds = "eap", "user=USERNAME\npassword-flags=2\n"
	case AuthEAPTLSRadius:
		method, ca = "eap-tls", ""
	}
	nmList := func(list string) string {
		var out []string
		for _, s := range strings.Split(list, ",") {
			if s = strings.TrimSpace(s); s != "" && s != "default" {
				out = append(out, s)
			}
		}
		return strings.Join(out, ";")
	}
	return fmt.Sprintf(`[connection]
id=%[1]s
type=vpn
autoconnect=false

[vpn]
service-type=org.freedesktop.NetworkManager.strongswan
address=%[2]s
remote-identity=%[3]s
%[9]smethod=%[4]s
%[5]svirtual=yes
encap=yes
ipcomp=no
proposal=yes
ike=%[6]s
esp=%[7]s
remote-ts=%[8]s

[ipv4]
method=auto
never-default=true
`, p.Name, p.Addresses[0], p.FQDN, method, creds,
		nmList(cmp.Or(p.IKEProposals, defaultIKEProposals)), nmList(cmp.Or(p.ESPProposals, defaultESPProposals)), strings.Join(p.Routes, ";"), ca)
}

// charonNMConf is NetworkManager/charon-nm.conf, for /etc/strongswan.d/.
const charonNMConf = `# For /etc/strongswan.d/charon-nm.conf (root, mode 0644). NetworkManager's
# strongSwan plugin (charon-nm) then trusts the CAs in /etc/swanctl/x509ca
# (copy VpnServerRoot.pem and RadiusServerRoot.pem there) for connections
# that name no CA certificate, as the EAP-TLS keyfile beside this file;
# instead of the system's CAs (/etc/ssl/certs), its default.
charon-nm {
	ca_dir = /etc/swanctl/x509ca
}
`
