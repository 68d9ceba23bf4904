// Package tlsca is the certificate authority `vpngw serve` makes for itself
// so that its API is HTTPS from the first start without an operator's PKI.
//
// The CA (an ECDSA P-256 key and a self-signed certificate valid for ten
// years) lives in one directory, DATA-DIR/tls: ca.key (mode 0600) and
// ca.crt (mode 0644, the file clients trust: `vpngw` reads it from the
// default data directory, az and the SDKs through REQUESTS_CA_BUNDLE or
// their own CA settings). The server certificate is issued again at every
// start, in memory, for the names the server answers to at that start, so
// a new --allowed-host or --endpoint never meets a stale certificate.
package tlsca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/google/renameio/v2"
)

// File names inside the CA's directory.
const (
	// CertFile is the CA certificate (PEM), the file clients trust.
	CertFile = "ca.crt"
	// KeyFile is the CA's private key (PKCS #8 PEM), mode 0600.
	KeyFile = "ca.key"
)

// Validity of what the CA signs.
const (
	caValidity     = 10 * 365 * 24 * time.Hour
	serverValidity = 397 * 24 * time.Hour // the browsers' ceiling
)

// CA is a loaded certificate authority.
type CA struct {
	// Dir is the directory that holds CertFile and KeyFile.
	Dir  string
	cert *x509.Certificate
	der  []byte
	key  crypto.Signer
}

// CertPath is the path of the CA certificate, the file clients trust.
func (ca *CA) CertPath() string { return filepath.Join(ca.Dir, CertFile) }

// LoadOrCreate loads the CA in dir, creating dir (0700) and a new CA when
// neither file exists. created reports a new CA. A key file that group or
// others may read is refused.
func LoadOrCreate(dir string, now time.Time) (ca *CA, created bool, err error) {
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	if errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist) {
		ca, err := create(dir, now)
		return ca, err == nil, err
	}
	ca, err = load(dir)
	return ca, false, err
}

func create(dir string, now time.Time) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "vpngw CA " + host, Organization: []string{"vpngw"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	// The key first: a certificate without its key is never left behind.
	if err := renameio.WriteFile(filepath.Join(dir, KeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	if err := renameio.WriteFile(filepath.Join(dir, CertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	return &CA{Dir: dir, cert: cert, der: der, key: key}, nil
}

func load(dir string) (*CA, error) {
	keyPath := filepath.Join(dir, KeyFile)
	fi, err := os.Stat(keyPath)
	if err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("tlsca: %s: others may read it (mode %v); chmod 600 it", keyPath, fi.Mode().Perm())
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tlsca: %s: %w", dir, err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("tlsca: %s: unsupported key type", keyPath)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("tlsca: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("tlsca: %s is not a CA certificate", filepath.Join(dir, CertFile))
	}
	return &CA{Dir: dir, cert: cert, der: pair.Certificate[0], key: signer}, nil
}

// Issue returns a server certificate, signed by the CA and chained to it,
// for names: DNS names and IP addresses (ports and brackets stripped).
func (ca *CA) Issue(names []string, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsca: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "vpngw", Organization: []string{"vpngw"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(serverValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	seen := map[string]bool{}
	for _, n := range names {
		if h, _, err := net.SplitHostPort(n); err == nil {
			n = h
		}
		if len(n) > 1 && n[0] == '[' && n[len(n)-1] == ']' {
			n = n[1 : len(n)-1]
		}
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	if ca.cert.NotAfter.Before(tmpl.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsca: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsca: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.der}, PrivateKey: key, Leaf: leaf}, nil
}

// Fingerprint is the SHA-256 of the CA certificate, in hex with colons,
// as openssl x509 -fingerprint -sha256 prints it.
func (ca *CA) Fingerprint() string {
	sum := sha256.Sum256(ca.der)
	const hexdigits = "0123456789ABCDEF"
	out := make([]byte, 0, len(sum)*3)
	for i, b := range sum {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hexdigits[b>>4], hexdigits[b&15])
	}
	return string(out)
}

// Pool returns a certificate pool of the system's roots plus the PEM
// certificates in caFile (when not ""), for clients of a vpngw server.
// Loading the system's roots parses every certificate under /etc/ssl/certs
// (30–50 ms of CPU on Debian): a short-lived client that may not need them
// starts with FilePool.
func Pool(caFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile == "" {
		return pool, nil
	}
	if err := appendFile(pool, caFile); err != nil {
		return nil, err
	}
	return pool, nil
}

// FilePool returns a certificate pool of only the PEM certificates in
// caFile.
func FilePool(caFile string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if err := appendFile(pool, caFile); err != nil {
		return nil, err
	}
	return pool, nil
}

func appendFile(pool *x509.CertPool, caFile string) error {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("CA file: %w", err)
	}
	if !pool.AppendCertsFromPEM(b) {
		return fmt.Errorf("CA file %s: no PEM certificate in it", caFile)
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}
