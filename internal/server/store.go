package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/vpngw/vpngw/internal/store"
	"github.com/vpngw/vpngw/internal/store/boltstore"
	"github.com/vpngw/vpngw/internal/store/etcdstore"
)

// Stores: where the control plane keeps its state.
const (
	// StoreBolt is the embedded store, DataDir/vpngw.db (the default).
	StoreBolt = "bolt"
	// StoreEtcd is an etcd cluster, which several servers can share.
	StoreEtcd = "etcd"
)

// DefaultEtcdPrefix is the key prefix in etcd when none is given.
const DefaultEtcdPrefix = "/vpngw/"

// StoreOptions say which store to open: the flags --store and --etcd-*.
type StoreOptions struct {
	// Kind is StoreBolt (also when empty) or StoreEtcd.
	Kind string
	// Etcd configures StoreEtcd.
	Etcd EtcdOptions
}

// EtcdOptions are the connection to etcd.
type EtcdOptions struct {
	// Endpoints are client URLs, all http:// or all https://. Required.
	Endpoints []string
	// Prefix is the key prefix, ending in "/" (DefaultEtcdPrefix when
	// empty); installations sharing an etcd need distinct ones.
	Prefix string
	// CertFile and KeyFile are a client certificate and its key (both or
	// neither); CAFile the CA bundle that verifies the servers (the
	// system's roots when empty). They need https endpoints.
	CertFile, KeyFile, CAFile string
	// Username and Password authenticate to etcd when Username is set.
	Username, Password string
}

// CheckStore reports whether o names a store and, for etcd, has usable
// endpoints, prefix, TLS files and credentials; errors name the flags.
func CheckStore(o StoreOptions) error {
	switch o.Kind {
	case "", StoreBolt:
		return nil
	case StoreEtcd:
	default:
		return fmt.Errorf("--store %q: want bolt or etcd", o.Kind)
	}
	e := o.Etcd
	if len(e.Endpoints) == 0 {
		return errors.New("--store etcd needs --etcd-endpoints URL[,URL...]")
	}
	schemes := map[string]bool{}
	for _, ep := range e.Endpoints {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("--etcd-endpoints %q: want http://HOST:PORT or https://HOST:PORT", ep)
		}
		schemes[u.Scheme] = true
	}
	if len(schemes) > 1 {
		return errors.New("--etcd-endpoints: mix http:// and https://; use one scheme for all")
	}
	if e.Prefix != "" {
		if err := etcdstore.CheckPrefix(e.Prefix); err != nil {
			return fmt.Errorf("--etcd-prefix: %w", err)
		}
	}
	if (e.CertFile == "") != (e.KeyFile == "") {
		return errors.New("--etcd-cert and --etcd-key go together")
	}
	if (e.CertFile != "" || e.CAFile != "") && !schemes["https"] {
		return errors.New("--etcd-cert, --etcd-key and --etcd-cacert need https:// --etcd-endpoints")
	}
	if e.Password != "" && e.Username == "" {
		return errors.New("--etcd-password needs --etcd-username")
	}
	return nil
}

// describeStore is the store for the start-up log line.
func describeStore(o StoreOptions, dataDir string) string {
	if o.Kind == StoreEtcd {
		return "etcd " + strings.Join(o.Etcd.Endpoints, ",") + " prefix " + etcdPrefix(o.Etcd)
	}
	return "bolt " + filepath.Join(dataDir, storeFile)
}

func etcdPrefix(e EtcdOptions) string {
	if e.Prefix == "" {
		return DefaultEtcdPrefix
	}
	return e.Prefix
}

// openStore opens the store o names: bbolt in dataDir, or etcd.
func openStore(ctx context.Context, o StoreOptions, dataDir string, log *slog.Logger) (store.Store, error) {
	if err := CheckStore(o); err != nil {
		return nil, err
	}
	if o.Kind != StoreEtcd {
		s, err := boltstore.Open(filepath.Join(dataDir, storeFile), boltstore.Options{Logger: log})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	e := o.Etcd
	var tlsConf *tls.Config
	if strings.HasPrefix(e.Endpoints[0], "https://") {
		c, err := etcdTLS(e)
		if err != nil {
			return nil, err
		}
		tlsConf = c
	}
	s, err := etcdstore.Open(ctx, etcdstore.Options{
		Endpoints: e.Endpoints,
		Prefix:    etcdPrefix(e),
		TLS:       tlsConf,
		Username:  e.Username,
		Password:  e.Password,
		Logger:    log,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// etcdTLS is the client TLS configuration of the --etcd-* files.
func etcdTLS(e EtcdOptions) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if e.CAFile != "" {
		pem, err := os.ReadFile(e.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--etcd-cacert: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--etcd-cacert %s: no PEM certificate in it", e.CAFile)
		}
	}
	if e.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(e.CertFile, e.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--etcd-cert/--etcd-key: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
