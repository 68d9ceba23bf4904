package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
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

// loadCA loads the server's own CA from DataDir/tls, creating it on the
// first start, and logs where it is.
func loadCA(o Options, log *slog.Logger) (*tlsca.CA, error) {
	ca, created, err := tlsca.LoadOrCreate(filepath.Join(o.DataDir, TLSDir), time.Now())
	if err != nil {
		return nil, err
	}
	msg := "the server's own CA: clients trust this file (the vpngw CLI on this host does so by itself; az: export REQUESTS_CA_BUNDLE=CA; agents: --ca-file CA)"
	if created {
		msg = "created " + msg
	}
	log.Info(msg, "CA", ca.CertPath(), "sha256", ca.Fingerprint())
	return ca, nil
}

// serverTLS is a TLS configuration with a certificate issued now by ca for
// names and this host's name.
func serverTLS(ca *tlsca.CA, names []string) (*tls.Config, error) {
	names = append([]string(nil), names...)
	if h, err := os.Hostname(); err == nil {
		names = append(names, h)
	}
	cert, err := ca.Issue(names, time.Now())
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// apiTLS is the API listener's TLS configuration: the operator's
// certificate (--tls-cert, --tls-key) or one from the server's own CA for
// the names the API answers to.
func apiTLS(o Options, ca *tlsca.CA, hosts []string, log *slog.Logger) (*tls.Config, error) {
	if o.TLSCertFile != "" || o.TLSKeyFile != "" {
		if o.TLSCertFile == "" || o.TLSKeyFile == "" {
			return nil, errors.New("--tls-cert and --tls-key go together")
		}
		pair, err := tls.LoadX509KeyPair(o.TLSCertFile, o.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		log.Info("the API's TLS certificate is the given one", "cert", o.TLSCertFile)
		return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}, nil
	}
	return serverTLS(ca, hosts)
}

// agentTLS is the TCP agent API's TLS configuration: a certificate from
// the server's own CA for the agent listen address (when it names one)
// and the names the API answers to.
func agentTLS(ca *tlsca.CA, listen string, hosts []string) (*tls.Config, error) {
	names := append([]string(nil), hosts...)
	if h, _, err := net.SplitHostPort(listen); err == nil {
		if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
			names = append(names, h)
		}
	}
	return serverTLS(ca, names)
}
