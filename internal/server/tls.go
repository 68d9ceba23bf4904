package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/vpngw/vpngw/internal/tlsca"
)

// TLSDir is where `vpngw serve` keeps its own CA, under the data
// directory; clients on the same host trust TLSDir/ca.crt.
const TLSDir = "tls"

// CAFile is the path of the server's CA certificate in dataDir, the file
// the CLI trusts by default and REQUESTS_CA_BUNDLE names for az.
func CAFile(dataDir string) string { return filepath.Join(dataDir, TLSDir, tlsca.CertFile) }

// apiTLS is the API listener's TLS configuration: the operator's
// certificate (--tls-cert, --tls-key) or one issued now by the server's
// own CA (created in DataDir/tls on the first start) for the names the
// API answers to and this host's name.
func apiTLS(o Options, hosts []string, log *slog.Logger) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	switch {
	case o.TLSCertFile != "" || o.TLSKeyFile != "":
		if o.TLSCertFile == "" || o.TLSKeyFile == "" {
			return nil, errors.New("--tls-cert and --tls-key go together")
		}
		pair, err := tls.LoadX509KeyPair(o.TLSCertFile, o.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
		log.Info("TLS with the given certificate", "cert", o.TLSCertFile)
		return cfg, nil
	}
	now := time.Now()
	ca, created, err := tlsca.LoadOrCreate(filepath.Join(o.DataDir, TLSDir), now)
	if err != nil {
		return nil, err
	}
	names := append([]string(nil), hosts...)
	if h, err := os.Hostname(); err == nil {
		names = append(names, h)
	}
	cert, err := ca.Issue(names, now)
	if err != nil {
		return nil, err
	}
	cfg.Certificates = []tls.Certificate{cert}
	msg := "TLS with a certificate from the server's own CA; clients trust the CA file (the vpngw CLI on this host does so by itself; az: export REQUESTS_CA_BUNDLE=CA)"
	if created {
		msg = "created the server's own CA; " + msg
	}
	log.Info(msg, "CA", ca.CertPath(), "sha256", ca.Fingerprint())
	return cfg, nil
}
