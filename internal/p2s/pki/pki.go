// Package pki is the certificate side of point-to-site: the per-gateway
// certificate authority the control plane creates (its root is what the
// client profile ships as VpnServerRoot.cer), the gateway's server
// certificate for its FQDN identity, client certificates for the lab and
// tests, and the checks the gateway runs on a client certificate: a chain
// to one of the gateway's vpnClientRootCertificates (Azure's Base64 .cer
// bodies), the client-authentication key usage, and the
// vpnClientRevokedCertificates thumbprints.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"strings"
	"sync"
	"time"
)

// Errors a client certificate check returns; callers branch on them.
var (
	// ErrUntrusted: the certificate does not chain to a configured root
	// (or is expired, or not for client authentication).
	ErrUntrusted = errors.New("pki: client certificate not trusted")
	// ErrRevoked: the certificate's thumbprint is revoked.
	ErrRevoked = errors.New("pki: client certificate revoked")
	// ErrInvalid: a certificate or root that does not parse.
	ErrInvalid = errors.New("pki: invalid certificate")
)

// KeyType selects the key of an issued certificate.
type KeyType int

// Key types.
const (
	ECDSAP256 KeyType = iota
	RSA2048
)

// CA is a certificate authority: a self-signed root and its key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

func newKey(kt KeyType) (crypto.Signer, error) {
	if kt == RSA2048 {
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serial() (*big.Int, error) { return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120)) }

// NewCA creates a root CA named cn, valid for ten years.
func NewCA(cn string, kt KeyType) (*CA, error) {
	key, err := newKey(kt)
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: c, Key: key}, nil
}

// Issued is an issued certificate with its key.
type Issued struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

func (ca *CA) issue(tmpl *x509.Certificate, kt KeyType) (*Issued, error) {
	key, err := newKey(kt)
	if err != nil {
		return nil, err
	}
	if tmpl.SerialNumber, err = serial(); err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Issued{Cert: c, Key: key}, nil
}

// IssueServer issues the gateway's certificate for its FQDN (the IKE
// identity clients check), valid for validity.
func (ca *CA) IssueServer(fqdn string, kt KeyType, validity time.Duration) (*Issued, error) {
	now := time.Now()
	return ca.issue(&x509.Certificate{
		Subject: pkix.Name{CommonName: fqdn}, DNSNames: []string{fqdn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		// The IKE intermediate EKU that Windows and macOS clients look
		// for on a VPN server's certificate.
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{ikeIntermediate},
	}, kt)
}

// ikeIntermediate is the id-kp-ipsecIKE-intermediate EKU
// (1.3.6.1.5.5.8.2.2), which Go's x509 has no name for.
var ikeIntermediate = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 8, 2, 2}

// IssueClient issues a client certificate with CN cn (Azure suggests
// name@domain) for client authentication, valid for validity.
func (ca *CA) IssueClient(cn string, kt KeyType, validity time.Duration) (*Issued, error) {
	now := time.Now()
	return ca.issue(&x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, kt)
}

// PublicCertData is a certificate as Azure's publicCertData wants it: the
// Base64 DER body on one line, without PEM armour.
func PublicCertData(c *x509.Certificate) string { return base64.StdEncoding.EncodeToString(c.Raw) }

// Thumbprint is a certificate's SHA-1 thumbprint as Azure shows it: 40
// upper-case hex digits.
func Thumbprint(c *x509.Certificate) string {
	s := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// Verifier checks client certificates against a gateway's roots and
// revoked thumbprints. Its roots and thumbprints never change (a new
// configuration makes a new Verifier); it is safe for concurrent use.
//
// It remembers the chains it accepted (at most maxVerified, forgotten all
// at once when full), so that a client that connects again with the same
// chain costs no chain building and no signature check, only a parse of
// its certificate, the revocation check and the validity window, as
// strongSwan's certificate cache spares it the signature checks. A new
// Verifier with the same roots can take them over (Adopt), so that
// rechecking the connected clients after a revocation (Recheck) costs a
// hash of each chain, not its signatures.
type Verifier struct {
	roots    *x509.CertPool
	rootsSum [sha256.Size]byte // of the roots' DER, in order
	names    []string
	revoked  map[string]bool
	certReq  []byte

	mu sync.Mutex // guards verified
	// verified are the chains Verify accepted, by the SHA-256 of their
	// certificates' DER, with the window in which all of the chain's
	// certificates (its root included) are valid.
	verified map[[sha256.Size]byte]window
}

// maxVerified bounds Verifier.verified (about 100 bytes each): more than a
// gateway's clients (10,000 on the largest SKU), so that all of theirs fit.
const maxVerified = 1 << 15

// window is the time a verified chain stays valid: all its certificates'
// validity periods at once.
type window struct{ notBefore, notAfter time.Time }

// NewVerifier parses the roots (publicCertData values) and the revoked
// thumbprints; a root that does not parse is an error naming its index.
func NewVerifier(roots []string, revoked []string) (*Verifier, error) {
	v := &Verifier{roots: x509.NewCertPool(), revoked: map[string]bool{}, verified: map[[sha256.Size]byte]window{}}
	sum := sha256.New()
	for i, r := range roots {
		der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(r), ""))
		if err != nil {
			return nil, fmt.Errorf("%w: roots[%d]: not Base64: %v", ErrInvalid, i, err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: roots[%d]: %v", ErrInvalid, i, err)
		}
		v.roots.AddCert(c)
		sum.Write(binary.BigEndian.AppendUint32(nil, uint32(len(der))))
		sum.Write(der)
		v.names = append(v.names, c.Subject.CommonName)
		h := sha1.Sum(c.RawSubjectPublicKeyInfo)
		v.certReq = append(v.certReq, h[:]...)
	}
	sum.Sum(v.rootsSum[:0])
	for _, t := range revoked {
		v.revoked[strings.ToUpper(t)] = true
	}
	return v, nil
}

// CertReq is the certification authority field of an IKEv2 CERTREQ
// for X.509 (RFC 7296 §3.7): the SHA-1 hashes of the roots' public keys
// (SubjectPublicKeyInfo), concatenated.
func (v *Verifier) CertReq() []byte { return v.certReq }

// Verify checks a client's certificate chain (end entity first, DER) at
// time now: revoked thumbprints first (of every certificate in the chain,
// as a revoked intermediate revokes its clients), then the chain to a
// root, its validity and client-authentication usage (or, for a chain it
// accepted before, the validity window it found then).
func (v *Verifier) Verify(chain [][]byte, now time.Time) (*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w: no certificate", ErrUntrusted)
	}
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %v", ErrInvalid, i, err)
		}
		certs[i] = c
	}
	for _, c := range certs {
		if v.revoked[Thumbprint(c)] {
			return certs[0], fmt.Errorf("%w: %q (thumbprint %s)", ErrRevoked, c.Subject.CommonName, Thumbprint(c))
		}
	}
	key := chainKey(chain)
	v.mu.Lock()
	w, ok := v.verified[key]
	v.mu.Unlock()
	if ok && !now.Before(w.notBefore) && !now.After(w.notAfter) {
		return certs[0], nil
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{Roots: v.roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return certs[0], fmt.Errorf("%w: %q: %v (roots: %s)", ErrUntrusted, certs[0].Subject.CommonName, err, strings.Join(v.names, ", "))
	}
	w = window{notAfter: certs[0].NotAfter}
	for _, c := range chains[0] {
		if c.NotBefore.After(w.notBefore) {
			w.notBefore = c.NotBefore
		}
		if c.NotAfter.Before(w.notAfter) {
			w.notAfter = c.NotAfter
		}
	}
	v.mu.Lock()
	if len(v.verified) >= maxVerified {
		clear(v.verified)
	}
	v.verified[key] = w
	v.mu.Unlock()
	return certs[0], nil
}

// Adopt takes over the chains old accepted, if old has the same roots (a
// configuration that changed only the revoked thumbprints): they chain to
// the same roots, so only the revocation and validity checks, which
// Verify and Recheck make anyway, can refuse them now.
func (v *Verifier) Adopt(old *Verifier) {
	if old == nil || old == v || old.rootsSum != v.rootsSum {
		return
	}
	old.mu.Lock()
	taken := maps.Clone(old.verified) // one lock at a time
	old.mu.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, w := range taken {
		if len(v.verified) >= maxVerified {
			return
		}
		v.verified[k] = w
	}
}

// Recheck is Verify for a chain accepted before (a connected client's,
// after the configuration changed), without returning the certificate: a
// chain it remembers costs the thumbprints and a hash, no parse and no
// signature check.
func (v *Verifier) Recheck(chain [][]byte, now time.Time) error {
	if len(chain) == 0 {
		return fmt.Errorf("%w: no certificate", ErrUntrusted)
	}
	for _, der := range chain {
		s := sha1.Sum(der)
		if t := strings.ToUpper(hex.EncodeToString(s[:])); v.revoked[t] {
			name := ""
			if c, err := x509.ParseCertificate(der); err == nil {
				name = c.Subject.CommonName
			}
			return fmt.Errorf("%w: %q (thumbprint %s)", ErrRevoked, name, t)
		}
	}
	key := chainKey(chain)
	v.mu.Lock()
	w, ok := v.verified[key]
	v.mu.Unlock()
	if ok && !now.Before(w.notBefore) && !now.After(w.notAfter) {
		return nil
	}
	_, err := v.Verify(chain, now)
	return err
}

// chainKey identifies a chain: the SHA-256 of its certificates' DER, each
// preceded by its length.
func chainKey(chain [][]byte) [sha256.Size]byte {
	h := sha256.New()
	for _, der := range chain {
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(len(der)>>24), byte(len(der)>>16), byte(len(der)>>8), byte(len(der))
		h.Write(n[:])
		h.Write(der)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}
