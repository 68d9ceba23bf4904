package resource

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vpngw/vpngw/internal/p2s/mschapv2"
)

// Point-to-site limits (reference §2.5).
const (
	MaxRootCertificates    = 20
	MaxRevokedCertificates = 300
	MinClientPoolBits      = 29 // P2S pool /29 or larger
	// MinClientPoolBitsActiveActive: /28 or larger on an active-active gateway.
	MinClientPoolBitsActiveActive = 28
	// MaxLocalUsers bounds vpnClientLocalUsers; local user names are at
	// most MaxLocalUserName characters, passwords MinLocalUserPassword to
	// MaxLocalUserPassword.
	MaxLocalUsers        = 100
	MaxLocalUserName     = 64
	MinLocalUserPassword = 8
	MaxLocalUserPassword = 128
)

// Point-to-site enumerations, in ARM's spelling.
const (
	VpnClientIkeV2   = "IkeV2"
	VpnClientSSTP    = "SSTP"
	VpnClientOpenVPN = "OpenVPN"

	AuthCertificate = "Certificate"
	AuthRadius      = "Radius"
	AuthAAD         = "AAD"
)

// VpnClientConfiguration is a gateway's point-to-site configuration.
type VpnClientConfiguration struct {
	// VpnClientAddressPool is the private pool client addresses come from.
	VpnClientAddressPool *AddressSpace `json:"vpnClientAddressPool,omitempty"`
	// VpnClientRootCertificates are trusted root CAs (at most 20).
	VpnClientRootCertificates []VpnClientRootCertificate `json:"vpnClientRootCertificates,omitempty"`
	// VpnClientRevokedCertificates are revoked client certificates (at most 300).
	VpnClientRevokedCertificates []VpnClientRevokedCertificate `json:"vpnClientRevokedCertificates,omitempty"`
	// VpnClientProtocols are IkeV2, SSTP, OpenVPN (SSTP and OpenVPN exclusive).
	VpnClientProtocols []string `json:"vpnClientProtocols,omitempty"`
	// VpnAuthenticationTypes are Certificate, Radius, AAD.
	VpnAuthenticationTypes []string `json:"vpnAuthenticationTypes,omitempty"`
	// VpnClientIpsecPolicies are custom IPsec policies for P2S IKEv2.
	VpnClientIpsecPolicies []IpsecPolicy `json:"vpnClientIpsecPolicies,omitempty"`
	// RadiusServerAddress is the RADIUS server's IP address.
	RadiusServerAddress string `json:"radiusServerAddress,omitempty"`
	// RadiusServerSecret is write-only (removed by Redact).
	RadiusServerSecret string `json:"radiusServerSecret,omitempty"`
	// RadiusServers are several RADIUS servers with scores.
	RadiusServers []RadiusServer `json:"radiusServers,omitempty"`
	// VpnClientLocalUsers (a vpngw extension; Azure checks user names and
	// passwords only through RADIUS) are users the gateway itself checks
	// with EAP-MSCHAPv2. Not with Radius authentication.
	VpnClientLocalUsers []VpnClientLocalUser `json:"vpnClientLocalUsers,omitempty"`
	// AadTenant is the Entra ID tenant URL (AAD authentication).
	AadTenant string `json:"aadTenant,omitempty"`
	// AadAudience is the Entra ID application ID (AAD authentication).
	AadAudience string `json:"aadAudience,omitempty"`
	// AadIssuer is the Entra ID issuer URL (AAD authentication).
	AadIssuer string `json:"aadIssuer,omitempty"`
}

// VpnClientRootCertificate is a trusted P2S root certificate.
type VpnClientRootCertificate struct {
	// ID is read-only.
	ID string `json:"id,omitempty"`
	// Name is the certificate's name.
	Name string `json:"name"`
	// Etag is read-only.
	Etag string `json:"etag,omitempty"`
	// Properties holds the certificate data.
	Properties VpnClientRootCertificateProperties `json:"properties"`
}

// VpnClientRootCertificateProperties hold a root certificate's data.
type VpnClientRootCertificateProperties struct {
	// PublicCertData is the base64 DER certificate, without PEM armour.
	PublicCertData string `json:"publicCertData"`
	// ProvisioningState is read-only.
	ProvisioningState string `json:"provisioningState,omitempty"`
}

// VpnClientRevokedCertificate is a revoked P2S client certificate.
type VpnClientRevokedCertificate struct {
	// ID is read-only.
	ID string `json:"id,omitempty"`
	// Name is the entry's name.
	Name string `json:"name"`
	// Etag is read-only.
	Etag string `json:"etag,omitempty"`
	// Properties holds the thumbprint.
	Properties VpnClientRevokedCertificateProperties `json:"properties"`
}

// VpnClientRevokedCertificateProperties hold a revoked certificate's thumbprint.
type VpnClientRevokedCertificateProperties struct {
	// Thumbprint is the SHA-1 thumbprint: 40 hex digits (stored upper-case).
	Thumbprint string `json:"thumbprint"`
	// ProvisioningState is read-only.
	ProvisioningState string `json:"provisioningState,omitempty"`
}

// VpnClientLocalUser is a point-to-site user the gateway checks itself
// (vpngw extension).
type VpnClientLocalUser struct {
	// Name is the user name (1 to 64 printable characters, no spaces; a
	// "DOMAIN\" prefix is allowed and ignored when matching); names are
	// unique without domain and case.
	Name string `json:"name"`
	// Properties holds the password.
	Properties VpnClientLocalUserProperties `json:"properties"`
}

// VpnClientLocalUserProperties are a local user's properties.
type VpnClientLocalUserProperties struct {
	// Password is write-only (removed by Redact, sealed at rest): 8 to 128
	// printable characters. A PUT that omits it keeps the stored one of
	// the user with that name.
	Password string `json:"password,omitempty"`
}

// RadiusServer is one RADIUS server.
type RadiusServer struct {
	// RadiusServerAddress is the server's IP address.
	RadiusServerAddress string `json:"radiusServerAddress"`
	// RadiusServerScore orders servers (higher first).
	RadiusServerScore int64 `json:"radiusServerScore,omitempty"`
	// RadiusServerSecret is write-only (removed by Redact).
	RadiusServerSecret string `json:"radiusServerSecret,omitempty"`
}

func prepareVpnClient(g, old *VirtualNetworkGateway) {
	c := g.Properties.VpnClientConfiguration
	if c == nil {
		return
	}
	if vpnClientEmpty(c) {
		g.Properties.VpnClientConfiguration = nil
		return
	}
	for i, p := range c.VpnClientProtocols {
		c.VpnClientProtocols[i] = canonical(p, VpnClientIkeV2, VpnClientSSTP, VpnClientOpenVPN)
	}
	for i, a := range c.VpnAuthenticationTypes {
		c.VpnAuthenticationTypes[i] = canonical(a, AuthCertificate, AuthRadius, AuthAAD)
	}
	for i := range c.VpnClientRevokedCertificates {
		r := &c.VpnClientRevokedCertificates[i]
		r.Properties.Thumbprint = strings.ToUpper(r.Properties.Thumbprint)
		r.ID, r.Etag, r.Properties.ProvisioningState = "", "", ""
	}
	for i := range c.VpnClientRootCertificates {
		r := &c.VpnClientRootCertificates[i]
		r.ID, r.Etag, r.Properties.ProvisioningState = "", "", ""
	}
	for i := range c.VpnClientIpsecPolicies {
		canonicalIpsecPolicy(&c.VpnClientIpsecPolicies[i])
	}
	if len(c.VpnClientProtocols) == 0 && c.VpnClientAddressPool != nil && len(c.VpnClientAddressPool.AddressPrefixes) > 0 {
		// Azure's default is SSTP and IKEv2 (SSTP only on Basic); vpngw
		// does not serve SSTP yet, so its default is IKEv2 alone.
		if strings.EqualFold(g.Properties.SKU.Name, "Basic") {
			c.VpnClientProtocols = []string{VpnClientSSTP}
		} else {
			c.VpnClientProtocols = []string{VpnClientIkeV2}
		}
	}
	// RADIUS secrets and local users' passwords are write-only: GET never
	// shows them, so a GET-modify-PUT omits them; keep the stored ones.
	if old == nil || old.Properties.VpnClientConfiguration == nil {
		return
	}
	oc := old.Properties.VpnClientConfiguration
	for i := range c.VpnClientLocalUsers {
		u := &c.VpnClientLocalUsers[i]
		for _, ou := range oc.VpnClientLocalUsers {
			if u.Properties.Password == "" && strings.EqualFold(u.Name, ou.Name) {
				u.Properties.Password = ou.Properties.Password
			}
		}
	}
	if c.RadiusServerSecret == "" && c.RadiusServerAddress != "" && strings.EqualFold(c.RadiusServerAddress, oc.RadiusServerAddress) {
		c.RadiusServerSecret = oc.RadiusServerSecret
	}
	for i := range c.RadiusServers {
		s := &c.RadiusServers[i]
		if s.RadiusServerSecret != "" {
			continue
		}
		for _, os := range oc.RadiusServers {
			if strings.EqualFold(os.RadiusServerAddress, s.RadiusServerAddress) {
				s.RadiusServerSecret = os.RadiusServerSecret
			}
		}
	}
}

// vpnClientEmpty reports a vpnClientConfiguration with nothing in it, which
// means no point-to-site configuration.
func vpnClientEmpty(c *VpnClientConfiguration) bool {
	return (c.VpnClientAddressPool == nil || len(c.VpnClientAddressPool.AddressPrefixes) == 0) &&
		len(c.VpnClientRootCertificates) == 0 && len(c.VpnClientRevokedCertificates) == 0 &&
		len(c.VpnClientProtocols) == 0 && len(c.VpnAuthenticationTypes) == 0 &&
		len(c.VpnClientIpsecPolicies) == 0 && c.RadiusServerAddress == "" && c.RadiusServerSecret == "" &&
		len(c.RadiusServers) == 0 && len(c.VpnClientLocalUsers) == 0 && c.AadTenant == "" && c.AadAudience == "" && c.AadIssuer == ""
}

// vpnClientConfigured reports whether a gateway has point-to-site settings.
func vpnClientConfigured(g *VirtualNetworkGateway) bool {
	c := g.Properties.VpnClientConfiguration
	return c != nil && !vpnClientEmpty(c)
}

func validateVpnClient(l *errList, g *VirtualNetworkGateway, sku SKU, skuOK bool) {
	const t = "properties.vpnClientConfiguration"
	c := g.Properties.VpnClientConfiguration
	pt := t + ".vpnClientAddressPool.addressPrefixes"
	if c.VpnClientAddressPool == nil || len(c.VpnClientAddressPool.AddressPrefixes) == 0 {
		l.addf(CodeMissingParameter, pt, "Point-to-site needs a client address pool (vpnClientAddressPool.addressPrefixes), a private range such as 172.16.201.0/24.")
	} else {
		pool := parsePrefixList(l, c.VpnClientAddressPool.AddressPrefixes, pt)
		for i, p := range pool {
			et := fmt.Sprintf("%s[%d]", pt, i)
			if !p.Addr().IsPrivate() {
				l.addf(CodeVpnClientConfiguration, et, "Client address pool %s is not a private range; use RFC 1918 (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) or IPv6 ULA space.", p)
			}
			limit, where := MinClientPoolBits, ""
			if g.Properties.ActiveActive {
				limit, where = MinClientPoolBitsActiveActive, " on an active-active gateway"
			}
			if p.Addr().Is4() && p.Bits() > limit {
				l.addf(CodeVpnClientConfiguration, et, "Client address pool %s is too small: it must be /%d or larger%s.", p, limit, where)
			}
			for _, q := range pool[:i] {
				if p.Overlaps(q) {
					l.addf(CodeAddressOverlap, et, "Client address pool prefixes %s and %s overlap.", q, p)
				}
			}
		}
	}
	protos := c.VpnClientProtocols
	for i, p := range protos {
		et := fmt.Sprintf("%s.vpnClientProtocols[%d]", t, i)
		checkEnum(l, et, p, VpnClientIkeV2, VpnClientSSTP, VpnClientOpenVPN)
		if slices.Contains(protos[:i], p) {
			l.addf(CodeVpnClientConfiguration, et, "Protocol %s is listed twice.", p)
		}
	}
	if slices.Contains(protos, VpnClientSSTP) && slices.Contains(protos, VpnClientOpenVPN) {
		l.addf(CodeVpnClientConfiguration, t+".vpnClientProtocols", "SSTP and OpenVPN cannot be enabled together; choose IkeV2 with one of them.")
	}
	auth := c.VpnAuthenticationTypes
	for i, a := range auth {
		et := fmt.Sprintf("%s.vpnAuthenticationTypes[%d]", t, i)
		checkEnum(l, et, a, AuthCertificate, AuthRadius, AuthAAD)
		if slices.Contains(auth[:i], a) {
			l.addf(CodeVpnClientConfiguration, et, "Authentication type %s is listed twice.", a)
		}
	}
	// Without vpnAuthenticationTypes (2018 API) the types follow from the
	// fields present.
	radius := slices.Contains(auth, AuthRadius) || len(auth) == 0 && (c.RadiusServerAddress != "" || len(c.RadiusServers) > 0)
	aad := slices.Contains(auth, AuthAAD) || len(auth) == 0 && (c.AadTenant != "" || c.AadAudience != "" || c.AadIssuer != "")
	if slices.Contains(auth, AuthCertificate) && len(c.VpnClientRootCertificates) == 0 {
		l.addf(CodeMissingParameter, t+".vpnClientRootCertificates", "Certificate authentication needs at least one root certificate (vpnClientRootCertificates).")
	}
	for i := range c.VpnClientRootCertificates {
		r := &c.VpnClientRootCertificates[i]
		et := fmt.Sprintf("%s.vpnClientRootCertificates[%d]", t, i)
		if r.Name == "" {
			l.addf(CodeMissingParameter, et+".name", "Every root certificate needs a name.")
		} else {
			l.add(validateName(TypeVirtualNetworkGateways, r.Name, et+".name"))
			for j := range i {
				if strings.EqualFold(c.VpnClientRootCertificates[j].Name, r.Name) {
					l.addf(CodeVpnClientConfiguration, et+".name", "Root certificate name %q is used twice.", r.Name)
				}
			}
		}
		if e := checkCertData(r.Properties.PublicCertData, et+".properties.publicCertData"); e != nil {
			l.add(e)
		}
	}
	for i := range c.VpnClientRevokedCertificates {
		r := &c.VpnClientRevokedCertificates[i]
		et := fmt.Sprintf("%s.vpnClientRevokedCertificates[%d]", t, i)
		if r.Name == "" {
			l.addf(CodeMissingParameter, et+".name", "Every revoked certificate entry needs a name.")
		} else {
			l.add(validateName(TypeVirtualNetworkGateways, r.Name, et+".name"))
		}
		tp := r.Properties.Thumbprint
		if b, err := hex.DecodeString(tp); err != nil || len(b) != 20 {
			l.addf(CodeVpnClientConfiguration, et+".properties.thumbprint", "Thumbprint %q is invalid: it must be the certificate's SHA-1 thumbprint, 40 hexadecimal digits.", tp)
		}
		for j := range i {
			if c.VpnClientRevokedCertificates[j].Properties.Thumbprint == tp {
				l.addf(CodeVpnClientConfiguration, et+".properties.thumbprint", "Thumbprint %s is listed twice.", tp)
			}
		}
	}
	if radius {
		if c.RadiusServerAddress == "" && len(c.RadiusServers) == 0 {
			l.addf(CodeMissingParameter, t+".radiusServerAddress", "RADIUS authentication needs radiusServerAddress and radiusServerSecret, or radiusServers.")
		}
		if c.RadiusServerAddress != "" {
			if _, e := parseAddr(c.RadiusServerAddress, t+".radiusServerAddress", "RADIUS server address"); e != nil {
				l.add(e)
			}
			if c.RadiusServerSecret == "" {
				l.addf(CodeMissingParameter, t+".radiusServerSecret", "radiusServerSecret is required with radiusServerAddress.")
			}
		}
		for i, s := range c.RadiusServers {
			et := fmt.Sprintf("%s.radiusServers[%d]", t, i)
			if _, e := parseAddr(s.RadiusServerAddress, et+".radiusServerAddress", "RADIUS server address"); e != nil {
				l.add(e)
			}
			if s.RadiusServerSecret == "" {
				l.addf(CodeMissingParameter, et+".radiusServerSecret", "Every RADIUS server needs radiusServerSecret.")
			}
			if s.RadiusServerScore < 0 {
				l.addf(CodeInvalidParameter, et+".radiusServerScore", "radiusServerScore must not be negative.")
			}
		}
	}
	validateLocalUsers(l, c, t, radius)
	if aad {
		for _, f := range []struct{ name, v string }{{"aadTenant", c.AadTenant}, {"aadAudience", c.AadAudience}, {"aadIssuer", c.AadIssuer}} {
			if f.v == "" {
				l.addf(CodeMissingParameter, t+"."+f.name, "Azure AD (Entra ID) authentication needs aadTenant, aadAudience and aadIssuer; %s is missing.", f.name)
			}
		}
		for _, f := range []struct{ name, v string }{{"aadTenant", c.AadTenant}, {"aadIssuer", c.AadIssuer}} {
			if u, err := url.Parse(f.v); f.v != "" && (err != nil || u.Scheme != "https" || u.Host == "") {
				l.addf(CodeVpnClientConfiguration, t+"."+f.name, "%s %q must be an https URL, such as https://login.microsoftonline.com/{tenantId}/.", f.name, f.v)
			}
		}
		if !slices.Contains(protos, VpnClientOpenVPN) {
			l.addf(CodeVpnClientConfiguration, t+".vpnClientProtocols", "Azure AD authentication works only with the OpenVPN protocol; add OpenVPN to vpnClientProtocols.")
		}
	}
	for i := range c.VpnClientIpsecPolicies {
		validateIpsecPolicy(l, &c.VpnClientIpsecPolicies[i], fmt.Sprintf("%s.vpnClientIpsecPolicies[%d]", t, i))
	}
	if skuOK && sku.Name == "Basic" {
		for _, p := range protos {
			if p != VpnClientSSTP {
				l.addf(CodeVpnClientConfiguration, t+".vpnClientProtocols", "The Basic SKU supports only SSTP for point-to-site; %s needs VpnGw1 or larger.", p)
			}
		}
		if radius {
			l.addf(CodeVpnClientConfiguration, t+".vpnAuthenticationTypes", "RADIUS authentication is not supported on the Basic SKU; use VpnGw1 or larger.")
		}
		if len(c.VpnClientIpsecPolicies) > 0 {
			l.addf(CodeVpnClientConfiguration, t+".vpnClientIpsecPolicies", "Custom point-to-site IPsec policies are not supported on the Basic SKU.")
		}
	}
}

// checkCertData checks a root certificate's publicCertData: the base64 body
// of a DER X.509 certificate, line breaks allowed, no PEM armour.
func checkCertData(data, target string) *Error {
	if data == "" {
		return Errorf(CodeMissingParameter, target, "publicCertData is required: the base64 body of the root certificate (.cer), without the BEGIN/END lines.")
	}
	if strings.Contains(data, "-----BEGIN") {
		return Errorf(CodeVpnClientConfiguration, target, "publicCertData must be only the base64 body of the certificate: remove the -----BEGIN CERTIFICATE----- and -----END CERTIFICATE----- lines.")
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(data), ""))
	if err != nil {
		return Errorf(CodeVpnClientConfiguration, target, "publicCertData is not valid base64: %v.", err)
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return Errorf(CodeVpnClientConfiguration, target, "publicCertData is not an X.509 certificate: %v.", err)
	}
	return nil
}

// VpnClientParameters is the body of generatevpnclientpackage and
// generatevpnprofile.
type VpnClientParameters struct {
	// ProcessorArchitecture is Amd64 or X86 (Windows installers; vpngw
	// builds none and ignores it).
	ProcessorArchitecture string `json:"processorArchitecture,omitempty"`
	// AuthenticationMethod is EAPTLS or EAPMSCHAPv2 (the profile's
	// client authentication; by default the gateway's first
	// vpnAuthenticationTypes).
	AuthenticationMethod string `json:"authenticationMethod,omitempty"`
	// RadiusServerAuthCertificate is, for EAPTLS on a gateway with Radius
	// authentication (and no Certificate), the CA certificate (Base64 DER
	// or PEM) of the RADIUS server's certificate: the profile's client
	// checks the server against it.
	RadiusServerAuthCertificate string `json:"radiusServerAuthCertificate,omitempty"`
	// ClientRootCertificates are for Azure's Windows installers
	// (accepted, unused).
	ClientRootCertificates []string `json:"clientRootCertificates,omitempty"`
}

// VpnClientConnectionHealthDetail is one connected point-to-site client
// (getvpnclientconnectionhealth).
type VpnClientConnectionHealthDetail struct {
	// VpnConnectionID identifies the session (disconnect takes it).
	VpnConnectionID string `json:"vpnConnectionId"`
	// VpnConnectionDuration is how long it has been connected, in seconds.
	VpnConnectionDuration int64 `json:"vpnConnectionDuration"`
	// VpnConnectionTime is when it connected (RFC 3339, UTC).
	VpnConnectionTime string `json:"vpnConnectionTime"`
	// PublicIPAddress is where it connects from (address:port).
	PublicIPAddress string `json:"publicIpAddress"`
	// PrivateIPAddress is its address from the pool.
	PrivateIPAddress string `json:"privateIpAddress"`
	// VpnUserName is who it authenticated as.
	VpnUserName string `json:"vpnUserName"`
	// MaxBandwidth and MaxPacketsPerSecond are not measured (0).
	MaxBandwidth        int64 `json:"maxBandwidth"`
	MaxPacketsPerSecond int64 `json:"maxPacketsPerSecond"`
	// Egress is toward the client, ingress from it.
	EgressPacketsTransferred  int64 `json:"egressPacketsTransferred"`
	EgressBytesTransferred    int64 `json:"egressBytesTransferred"`
	IngressPacketsTransferred int64 `json:"ingressPacketsTransferred"`
	IngressBytesTransferred   int64 `json:"ingressBytesTransferred"`
}

// VpnClientConnectionHealthDetailListResult is getvpnclientconnectionhealth's answer.
type VpnClientConnectionHealthDetailListResult struct {
	Value []VpnClientConnectionHealthDetail `json:"value"`
}

// P2SVpnConnectionRequest is the body of
// disconnectvirtualnetworkgatewayvpnconnections.
type P2SVpnConnectionRequest struct {
	// VpnConnectionIDs are the sessions to end (vpnConnectionId of
	// getvpnclientconnectionhealth).
	VpnConnectionIDs []string `json:"vpnConnectionIds"`
}

// VpnServer is what a client needs to know of a gateway's point-to-site
// server: its identity, where it listens, and the root that vouches for
// it (what generatevpnprofile packages).
type VpnServer struct {
	// FQDN is the gateway's IKE identity (its certificate names it).
	FQDN string
	// Addresses are the public addresses clients connect to.
	Addresses []string
	// RootCertificate is the CA that issued the gateway's certificate
	// (DER): Azure's VpnServerRoot.cer.
	RootCertificate []byte
	// Routes are the prefixes clients reach through the gateway.
	Routes []string
	// DNS are the DNS servers clients are given (the VNet's custom DNS
	// servers).
	DNS []string
}

// validateLocalUsers checks vpnClientLocalUsers (their count is
// checkLimits' rule, MaxLocalUsers): names unique as EAP-MSCHAPv2 matches them (without domain and case),
// passwords present and of a sane length; never with Radius (the RADIUS
// server checks the passwords then). Errors never show a password.
func validateLocalUsers(l *errList, c *VpnClientConfiguration, t string, radius bool) {
	ut := t + ".vpnClientLocalUsers"
	if len(c.VpnClientLocalUsers) == 0 {
		return
	}
	if radius {
		l.addf(CodeVpnClientConfiguration, ut, "Local users and Radius authentication exclude each other: with Radius the RADIUS server checks user names and passwords. Remove vpnClientLocalUsers or Radius.")
	}
	seen := map[string]bool{}
	for i, u := range c.VpnClientLocalUsers {
		et := fmt.Sprintf("%s[%d]", ut, i)
		match := strings.ToLower(mschapv2.UserName(u.Name))
		switch {
		case u.Name == "":
			l.addf(CodeMissingParameter, et+".name", "Every local user needs a name.")
		case utf8.RuneCountInString(u.Name) > MaxLocalUserName || !printableNoSpace(u.Name) || match == "":
			l.addf(CodeInvalidParameter, et+".name", "User name %q is invalid: 1 to %d printable characters without spaces (a DOMAIN\\ prefix is allowed).", u.Name, MaxLocalUserName)
		case seen[match]:
			l.addf(CodeVpnClientConfiguration, et+".name", "User %q is listed twice (names are matched without domain and case).", u.Name)
		}
		seen[match] = true
		pw := u.Properties.Password
		switch n := utf8.RuneCountInString(pw); {
		case pw == "":
			l.addf(CodeMissingParameter, et+".properties.password", "Local user %q needs a password.", u.Name)
		case n < MinLocalUserPassword || n > MaxLocalUserPassword || !utf8.ValidString(pw) || strings.ContainsFunc(pw, unicode.IsControl):
			l.addf(CodeInvalidParameter, et+".properties.password", "The password of local user %q must be %d to %d characters without control characters.", u.Name, MinLocalUserPassword, MaxLocalUserPassword)
		}
	}
}

// printableNoSpace reports whether s is valid UTF-8 of printable
// characters other than spaces.
func printableNoSpace(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) })
}
