package gwconfig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/vpngw/vpngw/internal/p2s/mschapv2"
	"github.com/vpngw/vpngw/internal/p2s/pki"
	"github.com/vpngw/vpngw/internal/p2s/pool"
	"github.com/vpngw/vpngw/internal/transform"
)

// PointToSite is the gateway's point-to-site (remote access) setting, Azure's
// vpnClientConfiguration for IKEv2: clients (strongSwan, Windows, macOS,
// iOS, Android) authenticate with a certificate chained to one of
// ClientRootCertificates (Azure's "Certificate"), with EAP relayed to
// RadiusServers ("Radius"), or with EAP-MSCHAPv2 against the local Users
// (a vpngw extension); the gateway authenticates with its certificate for
// FQDN. Each client gets an address from AddressPool and reaches the
// gateway's localPrefixes. At least one of Users, ClientRootCertificates
// and RadiusServers is required; Users and RadiusServers exclude each
// other (both answer EAP).
type PointToSite struct {
	// Name is the remote-access template's name in logs and status
	// (default "p2s"); clients are named "NAME/USER/ADDRESS". It must not
	// be a connection's name.
	Name string `yaml:"name" json:"name,omitempty"`
	// AddressPool are the client address prefixes (Azure's
	// vpnClientAddressPool): IPv4, private, /29 or larger, overlapping
	// neither localPrefixes nor any connection's remotePrefixes. The
	// network, first and last address of each are never leased.
	AddressPool []string `yaml:"addressPool" json:"addressPool"`
	// FQDN is the gateway's IKE identity toward clients (required); the
	// certificate must name it.
	FQDN string `yaml:"fqdn" json:"fqdn"`
	// CertificateFile is the gateway's certificate chain (PEM, its own
	// certificate first) and KeyFile its private key (PEM, ECDSA or RSA).
	CertificateFile string `yaml:"certificateFile" json:"certificateFile,omitempty"`
	KeyFile         string `yaml:"keyFile" json:"keyFile,omitempty"`
	// CertificatePEM and KeyPEM, instead of the files, are the chain and
	// the key themselves (PEM): how the control plane hands its instances
	// the gateway's certificate. KeyPEM is a secret.
	CertificatePEM string `yaml:"certificatePem" json:"certificatePem,omitempty"`
	KeyPEM         string `yaml:"keyPem" json:"keyPem,omitempty"`
	// PKIDir, instead of CertificateFile and KeyFile, is a directory
	// holding ca.pem, server.pem and server.key; when they are absent a
	// self-signed CA and a server certificate for FQDN are generated
	// there (for tests and labs: clients must trust ca.pem).
	PKIDir string `yaml:"pkiDir" json:"pkiDir,omitempty"`
	// Users are the accounts clients authenticate as (EAP-MSCHAPv2).
	Users []P2SUser `yaml:"users" json:"users,omitempty"`
	// ClientRootCertificates are the roots client certificates must chain
	// to (Azure's vpnClientRootCertificates: each the Base64 DER body of a
	// .cer, publicCertData), at most MaxP2SRoots.
	ClientRootCertificates []string `yaml:"clientRootCertificates" json:"clientRootCertificates,omitempty"`
	// RevokedThumbprints are the SHA-1 thumbprints (40 hex digits) of
	// client or intermediate certificates no longer accepted (Azure's
	// vpnClientRevokedCertificates), at most MaxP2SRevoked. A change of
	// the roots or of this list alone keeps the other clients connected;
	// a connected client whose chain is revoked is disconnected.
	RevokedThumbprints []string `yaml:"revokedThumbprints" json:"revokedThumbprints,omitempty"`
	// RadiusServers authenticate EAP clients (Azure's radiusServers, or
	// radiusServerAddress with radiusServerSecret): the client's EAP is
	// relayed to them, highest score first.
	RadiusServers []P2SRadiusServer `yaml:"radiusServers" json:"radiusServers,omitempty"`
	// DNS are the DNS servers (IPv4) sent to clients with their address.
	DNS []string `yaml:"dns" json:"dns,omitempty"`
	// IpsecPolicy is a custom IPsec/IKE policy for clients (Azure's
	// vpnClientIpsecPolicies, which holds at most one; all eight fields,
	// Azure's names and rules, see transform.IpsecPolicy). It replaces
	// the default offer: clients must propose exactly its suite.
	IpsecPolicy *transform.IpsecPolicy `yaml:"ipsecPolicy" json:"ipsecPolicy,omitempty"`
	// EAPTLSMaxVersion is the highest TLS version of EAP-TLS terminated
	// by the gateway: "1.2" (RFC 5216, the default) or "1.3" (RFC 9190).
	// A vpngw extension (Azure has no such setting); 1.3 is not the
	// default because strongSwan 5.9.0 to 5.9.9 clients that enable it
	// fail against RFC 9190 (docs/p2s.md). A change applies to the next
	// EAP-TLS exchange; connected clients stay.
	EAPTLSMaxVersion string `yaml:"eapTlsMaxVersion" json:"eapTlsMaxVersion,omitempty"`
}

// P2SRadiusServer is one RADIUS server point-to-site relays EAP to.
type P2SRadiusServer struct {
	// Address is the server's IP address, with ":PORT" if not 1812.
	Address string `yaml:"address" json:"address"`
	// Secret is the RADIUS shared secret (never logged or reported).
	Secret string `yaml:"secret" json:"secret"`
	// Score orders the servers: higher first (Azure's radiusServerScore).
	Score int64 `yaml:"score" json:"score,omitempty"`
}

// Point-to-site limits (Azure's: reference §2.5).
const (
	MaxP2SRoots   = 20
	MaxP2SRevoked = 300
)

// RadiusServer is a checked P2SRadiusServer.
type RadiusServer struct {
	Addr   netip.AddrPort
	Secret []byte
	Score  int64
}

// P2SUser is one point-to-site account: a Password, or the NT hash of
// the password (NTHash, 32 hex digits; what MS-CHAPv2 needs, so the
// password itself need not be stored). Names are matched without their
// domain ("CORP\alice" is alice) and without regard to case.
type P2SUser struct {
	Name     string `yaml:"name" json:"name"`
	Password string `yaml:"password" json:"password,omitempty"`
	NTHash   string `yaml:"ntHash" json:"ntHash,omitempty"`
}

// DefaultP2SName is PointToSite.Name's default.
const DefaultP2SName = "p2s"

// PKI file names in PointToSite.PKIDir.
const (
	PKICAFile   = "ca.pem"
	PKICertFile = "server.pem"
	PKIKeyFile  = "server.key"
)

// P2S is a checked PointToSite in typed form.
type P2S struct {
	// PointToSite is the section with defaults filled in.
	PointToSite
	// Pool are AddressPool's prefixes.
	Pool []netip.Prefix
	// Cert is the certificate chain (DER, the gateway's first) and Key
	// its private key.
	Cert [][]byte
	Key  crypto.Signer
	// Users maps each user name (lower case, without domain) to its NT
	// password hash.
	Users map[string][16]byte
	// DNS are the DNS addresses.
	DNS []netip.Addr
	// Clients checks client certificates (nil: no ClientRootCertificates).
	Clients *pki.Verifier
	// Radius are the RADIUS servers (nil: none).
	Radius []RadiusServer
	// IKEProposals and ESPProposals are IpsecPolicy's one suite each, and
	// ChildLifetime and ChildLifeBytes its SA lifetimes (zero without a
	// policy: the engine's defaults).
	IKEProposals, ESPProposals []transform.Proposal
	ChildLifetime              time.Duration
	ChildLifeBytes             uint64
	// TLSMaxVersion is EAPTLSMaxVersion (tls.VersionTLS12 or
	// tls.VersionTLS13).
	TLSMaxVersion uint16
}

// Lookup finds a user's NT hash by the name a client sent (domain and
// case ignored); it is an mschapv2.Lookup.
func (p *P2S) Lookup(user string) ([16]byte, bool) {
	h, ok := p.Users[strings.ToLower(mschapv2.UserName(user))]
	return h, ok
}

// Equal reports whether two checked point-to-site settings are the same,
// certificate and key content included (files may change under the same
// names). Either may be nil.
func (p *P2S) Equal(o *P2S) bool {
	return p.SameServer(o) && (p == nil || p.ClientsEqual(o) && mapsEqual(p.Users, o.Users) && p.TLSMaxVersion == o.TLSMaxVersion)
}

// SameServer reports whether two checked point-to-site settings are the
// same but for the client checks: the client-certificate check
// (ClientRootCertificates and RevokedThumbprints) and the local users
// (added, removed or with new passwords, as long as there are some before
// and after). Such a change applies without disconnecting the clients it
// still accepts. Either may be nil.
func (p *P2S) SameServer(o *P2S) bool {
	if p == nil || o == nil {
		return p == o
	}
	return p.Name == o.Name && p.FQDN == o.FQDN && slices.Equal(p.Pool, o.Pool) && slices.Equal(p.DNS, o.DNS) &&
		slices.EqualFunc(p.Cert, o.Cert, func(a, b []byte) bool { return string(a) == string(b) }) &&
		keyEqual(p.Key, o.Key) && (len(p.Users) > 0) == (len(o.Users) > 0) &&
		reflect.DeepEqual(p.IpsecPolicy, o.IpsecPolicy) &&
		slices.EqualFunc(p.Radius, o.Radius, func(a, b RadiusServer) bool {
			return a.Addr == b.Addr && a.Score == b.Score && string(a.Secret) == string(b.Secret)
		})
}

// ClientsEqual reports whether two checked settings check client
// certificates alike (the same roots and revoked thumbprints).
func (p *P2S) ClientsEqual(o *P2S) bool {
	return slices.Equal(p.ClientRootCertificates, o.ClientRootCertificates) && slices.Equal(p.RevokedThumbprints, o.RevokedThumbprints)
}

func keyEqual(a, b crypto.Signer) bool {
	type eq interface{ Equal(crypto.PrivateKey) bool }
	k, ok := a.(eq)
	return ok && k.Equal(b)
}

func mapsEqual(a, b map[string][16]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// check checks the point-to-site section against the gateway's prefixes
// (localNets) and the connections' routes (routed) and returns it in
// typed form; ps is filled in with its defaults.
func (ps *PointToSite) check(localNets []netip.Prefix, routed map[netip.Prefix]string, policyBased bool) (*P2S, error) {
	const f = "pointToSite"
	out := &P2S{Users: map[string][16]byte{}}
	if policyBased {
		return nil, fieldErr(f, "a PolicyBased gateway has no point-to-site (Azure: RouteBased only)")
	}
	if ps.Name == "" {
		ps.Name = DefaultP2SName
	}
	if strings.ContainsAny(ps.Name, " /\t\n") {
		return nil, fieldErr(f+".name", "%q must not contain spaces or slashes", ps.Name)
	}
	if len(localNets) == 0 {
		return nil, fieldErr("localPrefixes", "point-to-site needs the gateway's prefixes (the networks clients reach)")
	}
	if len(ps.AddressPool) == 0 {
		return nil, fieldErr(f+".addressPool", "at least one prefix is required")
	}
	var err error
	if out.Pool, err = parsePrefixes(ps.AddressPool, f+".addressPool"); err != nil {
		return nil, err
	}
	for i, p := range out.Pool {
		pf := fmt.Sprintf("%s.addressPool[%d]", f, i)
		switch {
		case !p.Addr().Is4():
			return nil, fieldErr(pf, "%v is not IPv4 (clients get IPv4 addresses)", p)
		case p.Bits() > 29:
			return nil, fieldErr(pf, "%v is smaller than /29", p)
		case !p.Addr().IsPrivate():
			return nil, fieldErr(pf, "%v is not a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)", p)
		}
		for j, o := range out.Pool[:i] {
			if o.Overlaps(p) {
				return nil, fieldErr(pf, "%v overlaps addressPool[%d] %v", p, j, o)
			}
		}
		for j, l := range localNets {
			if l.Overlaps(p) {
				return nil, fieldErr(pf, "%v overlaps localPrefixes[%d] %v", p, j, l)
			}
		}
		for r, cn := range routed {
			if r.Overlaps(p) {
				return nil, fieldErr(pf, "%v overlaps %v, routed to connection %q", p, r, cn)
			}
		}
	}
	if err := pool.Check(out.Pool); err != nil {
		return nil, fieldErr(f+".addressPool", "%v", err)
	}
	ps.FQDN = strings.TrimSuffix(strings.ToLower(ps.FQDN), ".")
	if ps.FQDN == "" {
		return nil, fieldErr(f+".fqdn", "is required (the gateway's IKE identity; its certificate names it)")
	}
	if _, err := netip.ParseAddr(ps.FQDN); err == nil || strings.ContainsAny(ps.FQDN, " /@\\") || !strings.Contains(ps.FQDN, ".") {
		return nil, fieldErr(f+".fqdn", "%q is not a DNS name", ps.FQDN)
	}
	if err := ps.loadCert(out); err != nil {
		return nil, err
	}
	if len(ps.Users) == 0 && len(ps.ClientRootCertificates) == 0 && len(ps.RadiusServers) == 0 {
		return nil, fieldErr(f+".users", "at least one user, clientRootCertificates entry or radiusServers entry is required (how clients authenticate)")
	}
	if len(ps.Users) > 0 && len(ps.RadiusServers) > 0 {
		return nil, fieldErr(f+".radiusServers", "give users or radiusServers, not both (both answer the clients' EAP)")
	}
	if err := ps.checkClients(out); err != nil {
		return nil, err
	}
	if err := ps.checkRadius(out); err != nil {
		return nil, err
	}
	for i, u := range ps.Users {
		uf := fmt.Sprintf("%s.users[%d]", f, i)
		name := strings.ToLower(mschapv2.UserName(u.Name))
		if name == "" || strings.ContainsAny(u.Name, " \t\n") {
			return nil, fieldErr(uf+".name", "%q is not a user name (required, no spaces)", u.Name)
		}
		if _, dup := out.Users[name]; dup {
			return nil, fieldErr(uf+".name", "%q is given twice (names are matched without domain and case)", u.Name)
		}
		switch {
		case u.Password != "" && u.NTHash != "":
			return nil, fieldErr(uf, "give password or ntHash, not both")
		case u.Password != "":
			out.Users[name] = mschapv2.NTPasswordHash(u.Password)
		case u.NTHash != "":
			b, err := hex.DecodeString(u.NTHash)
			if err != nil || len(b) != 16 {
				// Never echo the hash in an error.
				return nil, fieldErr(uf+".ntHash", "must be 32 hex digits (the MD4 of the UTF-16LE password)")
			}
			out.Users[name] = [16]byte(b)
		default:
			return nil, fieldErr(uf+".password", "is required (or ntHash)")
		}
	}
	for i, d := range ps.DNS {
		a, err := parseAddr(d, fmt.Sprintf("%s.dns[%d]", f, i))
		if err != nil {
			return nil, err
		}
		if !a.Is4() {
			return nil, fieldErr(fmt.Sprintf("%s.dns[%d]", f, i), "%v is not IPv4 (clients are told IPv4 DNS servers)", a)
		}
		out.DNS = append(out.DNS, a)
	}
	if ps.IpsecPolicy != nil {
		ap, err := checkPolicy(ps.IpsecPolicy, f+".ipsecPolicy")
		if err != nil {
			return nil, err
		}
		ps.IpsecPolicy = &ap.Policy
		ap.apply(&out.IKEProposals, &out.ESPProposals, &out.ChildLifetime, &out.ChildLifeBytes)
	}
	switch ps.EAPTLSMaxVersion {
	case "", "1.2":
		ps.EAPTLSMaxVersion, out.TLSMaxVersion = "1.2", tls.VersionTLS12
	case "1.3":
		out.TLSMaxVersion = tls.VersionTLS13
	default:
		return nil, fieldErr(f+".eapTlsMaxVersion", "%q is not a TLS version EAP-TLS offers (1.2 or 1.3)", ps.EAPTLSMaxVersion)
	}
	ps.AddressPool = slices.Clone(ps.AddressPool)
	ps.Users = slices.Clone(ps.Users)
	ps.DNS = slices.Clone(ps.DNS)
	ps.ClientRootCertificates = slices.Clone(ps.ClientRootCertificates)
	ps.RevokedThumbprints = slices.Clone(ps.RevokedThumbprints)
	ps.RadiusServers = slices.Clone(ps.RadiusServers)
	out.PointToSite = *ps
	return out, nil
}

// checkClients checks the client-certificate settings: the roots parse
// as X.509 and the thumbprints are SHA-1 thumbprints (stored upper case).
func (ps *PointToSite) checkClients(out *P2S) error {
	const f = "pointToSite"
	if len(ps.ClientRootCertificates) > MaxP2SRoots {
		return fieldErr(f+".clientRootCertificates", "%d roots; at most %d", len(ps.ClientRootCertificates), MaxP2SRoots)
	}
	if len(ps.RevokedThumbprints) > MaxP2SRevoked {
		return fieldErr(f+".revokedThumbprints", "%d thumbprints; at most %d", len(ps.RevokedThumbprints), MaxP2SRevoked)
	}
	revoked := make([]string, len(ps.RevokedThumbprints))
	for i, t := range ps.RevokedThumbprints {
		if b, err := hex.DecodeString(t); err != nil || len(b) != 20 {
			return fieldErr(fmt.Sprintf("%s.revokedThumbprints[%d]", f, i), "%q is not a SHA-1 thumbprint (40 hex digits)", t)
		}
		revoked[i] = strings.ToUpper(t)
	}
	ps.RevokedThumbprints = revoked
	if len(ps.ClientRootCertificates) == 0 {
		if len(revoked) > 0 {
			return fieldErr(f+".revokedThumbprints", "revoked thumbprints need clientRootCertificates (certificate clients)")
		}
		return nil
	}
	for i, r := range ps.ClientRootCertificates {
		if _, err := pki.NewVerifier([]string{r}, nil); err != nil {
			return fieldErr(fmt.Sprintf("%s.clientRootCertificates[%d]", f, i), "not the Base64 DER body of an X.509 certificate (%v)", err)
		}
	}
	v, err := pki.NewVerifier(ps.ClientRootCertificates, revoked)
	if err != nil {
		return fieldErr(f+".clientRootCertificates", "%v", err)
	}
	out.Clients = v
	return nil
}

// checkRadius checks the RADIUS servers: an IP address (and port), a
// secret, a score not negative.
func (ps *PointToSite) checkRadius(out *P2S) error {
	for i, s := range ps.RadiusServers {
		sf := fmt.Sprintf("pointToSite.radiusServers[%d]", i)
		ap, err := netip.ParseAddrPort(s.Address)
		if err != nil {
			a, aerr := netip.ParseAddr(s.Address)
			if aerr != nil {
				return fieldErr(sf+".address", "%q is not an IP address (with an optional :port)", s.Address)
			}
			ap = netip.AddrPortFrom(a, 1812)
		}
		if ap.Port() == 0 || ap.Addr().IsUnspecified() {
			return fieldErr(sf+".address", "%q is not a server's address", s.Address)
		}
		if s.Secret == "" {
			// Never echo a secret in an error.
			return fieldErr(sf+".secret", "is required (the RADIUS shared secret)")
		}
		if len(s.Secret) > 128 {
			return fieldErr(sf+".secret", "is longer than 128 bytes")
		}
		if s.Score < 0 {
			return fieldErr(sf+".score", "%d is negative", s.Score)
		}
		for j, o := range out.Radius {
			if o.Addr == ap {
				return fieldErr(sf+".address", "%v is also radiusServers[%d]", ap, j)
			}
		}
		out.Radius = append(out.Radius, RadiusServer{Addr: ap, Secret: []byte(s.Secret), Score: s.Score})
	}
	return nil
}

// loadCert reads (or, with PKIDir, generates) the certificate and key
// and checks that they belong together, are valid now and name the FQDN.
func (ps *PointToSite) loadCert(out *P2S) error {
	const f = "pointToSite"
	certField, keyField := f+".certificateFile", f+".keyFile"
	certFile, keyFile := ps.CertificateFile, ps.KeyFile
	var certPEM, keyPEM []byte
	inline := ps.CertificatePEM != "" || ps.KeyPEM != ""
	switch {
	case inline && (ps.PKIDir != "" || certFile != "" || keyFile != ""):
		return fieldErr(f+".certificatePem", "give certificatePem/keyPem, certificateFile/keyFile or pkiDir, only one")
	case inline:
		certField, keyField = f+".certificatePem", f+".keyPem"
		certFile, keyFile = "certificatePem", "keyPem"
		if ps.CertificatePEM == "" {
			return fieldErr(certField, "is required with keyPem")
		}
		if ps.KeyPEM == "" {
			return fieldErr(keyField, "is required with certificatePem")
		}
		certPEM, keyPEM = []byte(ps.CertificatePEM), []byte(ps.KeyPEM)
	case ps.PKIDir != "" && (certFile != "" || keyFile != ""):
		return fieldErr(f+".pkiDir", "give pkiDir or certificateFile/keyFile, not both")
	case ps.PKIDir != "":
		certField, keyField = f+".pkiDir", f+".pkiDir"
		certFile, keyFile = filepath.Join(ps.PKIDir, PKICertFile), filepath.Join(ps.PKIDir, PKIKeyFile)
		if err := generatePKI(ps.PKIDir, ps.FQDN); err != nil {
			return fieldErr(f+".pkiDir", "%v", err)
		}
	case certFile == "":
		return fieldErr(certField, "is required (or pkiDir, or certificatePem and keyPem)")
	case keyFile == "":
		return fieldErr(keyField, "is required")
	}
	var err error
	if !inline {
		if certPEM, err = os.ReadFile(certFile); err != nil {
			return fieldErr(certField, "%v", err)
		}
		if keyPEM, err = os.ReadFile(keyFile); err != nil {
			return fieldErr(keyField, "%v", err)
		}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// crypto/tls's errors name no key material.
		return fieldErr(keyField, "%s and %s: %v", certFile, keyFile, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fieldErr(certField, "%s: %v", certFile, err)
	}
	switch pair.PrivateKey.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey:
	default:
		return fieldErr(keyField, "%s: a %T key; want ECDSA or RSA", keyFile, pair.PrivateKey)
	}
	if err := leaf.VerifyHostname(ps.FQDN); err != nil {
		return fieldErr(certField, "%s does not name fqdn %s: %v", certFile, ps.FQDN, err)
	}
	if now := time.Now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return fieldErr(certField, "%s is valid %s to %s, not now", certFile, leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
	}
	out.Cert, out.Key = pair.Certificate, pair.PrivateKey.(crypto.Signer)
	return nil
}

// generatePKI makes dir's CA and server certificate for fqdn unless the
// server certificate and key are there already.
func generatePKI(dir, fqdn string) error {
	certFile, keyFile := filepath.Join(dir, PKICertFile), filepath.Join(dir, PKIKeyFile)
	_, cerr := os.Stat(certFile)
	_, kerr := os.Stat(keyFile)
	if cerr == nil && kerr == nil {
		return nil
	}
	if !errors.Is(cerr, fs.ErrNotExist) && cerr != nil {
		return cerr
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ca, err := pki.NewCA("vpngw point-to-site CA ("+fqdn+")", pki.ECDSAP256)
	if err != nil {
		return err
	}
	srv, err := ca.IssueServer(fqdn, pki.ECDSAP256, 5*365*24*time.Hour)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srv.Key)
	if err != nil {
		return err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Cert.Raw}), caPEM...)
	for _, w := range []struct {
		name string
		b    []byte
		mode fs.FileMode
	}{
		{PKICAFile, caPEM, 0o644},
		{PKICertFile, chain, 0o644},
		{PKIKeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600},
	} {
		if err := os.WriteFile(filepath.Join(dir, w.name), w.b, w.mode); err != nil {
			return err
		}
	}
	return nil
}
