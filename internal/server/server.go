// Package server wires `vpngw serve`: it opens the store, builds the
// provider (the lab or agents on hosts), the agent hub and the reconciler,
// and serves the ARM API and the agent API until its context ends. The CLI
// only turns flags into Options.
//
// Run starts, in order: the store (DataDir/vpngw.db, or etcd with
// Options.Store; its records' secrets sealed with the key in
// SecretsKeyFile); for the lab and host
// providers, the agent hub and its listener, the lab (restored from
// DataDir/lab) and the reconciler; the API server, which resumes unfinished
// operations; the portal (package portal) in front of it; the HTTP
// listener. It stops them in reverse order.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/identity"
	"github.com/vpngw/vpngw/internal/portal"
	"github.com/vpngw/vpngw/internal/reconcile"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/tlsca"
)

// Providers: what realizes the resources.
const (
	// ProviderLab builds network namespaces on this host (package lab).
	ProviderLab = "lab"
	// ProviderHost serves agents on real hosts.
	ProviderHost = "host"
	// ProviderNone is the control plane alone.
	ProviderNone = "none"
)

// CheckProvider reports whether p is one of the providers.
func CheckProvider(p string) error {
	switch p {
	case ProviderLab, ProviderHost, ProviderNone:
		return nil
	}
	return fmt.Errorf("--provider %q: want lab, host or none", p)
}

// DefaultProvider is lab as root on Linux (with ip(8)), else none.
func DefaultProvider() string {
	if runtime.GOOS == "linux" && os.Geteuid() == 0 {
		if _, err := exec.LookPath("ip"); err == nil {
			return ProviderLab
		}
	}
	return ProviderNone
}

// Options configure Run; the fields are the flags of `vpngw serve`,
// already parsed.
type Options struct {
	// Listen is the API's TCP address (port 0 picks a free port).
	Listen string
	// AllowedHosts are further names (HOST or HOST:PORT; the listen port
	// when none) clients may reach the API by, such as a DNS name: the API
	// refuses any other Host header (DNS rebinding). The first is the
	// endpoint of operation URLs when Listen is a wildcard address.
	AllowedHosts []string
	// Endpoint is the URL clients reach the API at (http(s)://HOST[:PORT],
	// e.g. a TLS proxy's): operation URLs and /metadata/endpoints are
	// built from it, and its HOST:PORT is an allowed host. Empty: http://
	// and the listen address (or the first AllowedHosts for a wildcard
	// Listen).
	Endpoint string
	// AdvertiseURL is this replica's API URL as the other replicas reach
	// it (http(s)://HOST:PORT): the leader publishes it, and followers
	// forward the requests only the leader can answer to it (forward.go).
	// Empty: derived from Listen's bound address (none for a wildcard
	// address: such a leader cannot be forwarded to). Its HOST:PORT is an
	// allowed host.
	AdvertiseURL string
	// TrustProxy honours X-Forwarded-Proto and X-Forwarded-Host (whose
	// host must be an allowed one) in operation URLs: only for a server
	// reached solely through a reverse proxy that sets them.
	TrustProxy bool
	// TLSCertFile and TLSKeyFile are the API's certificate chain and key
	// (PEM); empty: a certificate issued at every start by the server's own
	// CA in DataDir/tls (package tlsca).
	TLSCertFile, TLSKeyFile string
	// InsecureHTTP serves plain HTTP instead of HTTPS; only on a loopback
	// Listen.
	InsecureHTTP bool
	// ListenFile, when set, receives the bound address once the socket is
	// open.
	ListenFile string
	// DataDir holds the store (unless it is etcd), the lab's state and
	// agent sockets; created if missing. Required.
	DataDir string
	// Store is the store: bbolt in DataDir (the default) or etcd.
	Store StoreOptions
	// LeaderTTL is the lease of the elected leader among replicas on
	// etcd (DefaultLeaderTTL when 0; CheckLeaderTTL): a dead leader is
	// replaced about this long after its last renewal.
	LeaderTTL time.Duration
	// Provider is ProviderLab, ProviderHost or ProviderNone.
	Provider string
	// PublicIPPool is where public IP addresses come from; nil means
	// registry.DefaultPublicIPPool().
	PublicIPPool *registry.AddressPool
	// AgentListen is where agents reach the control plane: unix:///PATH or
	// HOST:PORT; empty means DataDir/agent.sock for the lab, 127.0.0.1:8481
	// for hosts.
	AgentListen string
	// AgentTokenFile holds the token agents present; empty means none for
	// the lab and DataDir/agent-token (created if missing) for hosts.
	AgentTokenFile string
	// SecretsKeyFile is the key file that seals secrets (shared keys,
	// RADIUS secrets) in the store (registry.KeyFile), created 0600 if
	// missing while the store holds no sealed secrets. Required; the CLI
	// defaults it to a path apart from DataDir (docs/security.md).
	SecretsKeyFile string
	// LabPrefix prefixes the lab's network namespace names.
	LabPrefix string
	// NoThroughputCap leaves gateways' aggregate throughput uncapped.
	NoThroughputCap bool
	// FailoverAfter is how long an active gateway instance that stays
	// connected may go without a report before its standby takes over
	// (reconcile.Config.FailoverAfter; reconcile.DefaultFailoverAfter
	// when 0; reconcile.CheckFailoverAfter).
	FailoverAfter time.Duration
	// Logger receives the logs of every component; nil is silent.
	Logger *slog.Logger

	// provisioner replaces api.NoneProvisioner for ProviderNone: tests
	// give a provider that holds operations, to stop a leader mid-way.
	provisioner api.Provisioner
}

// Run serves the control plane until ctx ends, then shuts down gracefully:
// operations interrupted by the stop resume on the next start.
func Run(ctx context.Context, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := CheckProvider(o.Provider); err != nil {
		return err
	}
	if err := CheckStore(o.Store); err != nil {
		return err
	}
	if err := CheckLeaderTTL(o.LeaderTTL); err != nil {
		return err
	}
	if err := reconcile.CheckFailoverAfter(o.FailoverAfter); err != nil {
		return err
	}
	if o.DataDir == "" {
		return errors.New("server: Options.DataDir is required")
	}
	if o.SecretsKeyFile == "" {
		return errors.New("server: Options.SecretsKeyFile is required")
	}
	pool := o.PublicIPPool
	if pool == nil {
		p, err := registry.ParseAddressPool(registry.DefaultPublicIPPool())
		if err != nil {
			return err
		}
		pool = p
	}
	// The socket first: a refused address fails before anything is built.
	ln, hosts, endpoint, err := listenAPI(o, log)
	if err != nil {
		return err
	}
	defer ln.Close() // on early returns; Shutdown closes it otherwise
	advertise, hosts, err := advertiseURL(o, ln.Addr(), hosts)
	if err != nil {
		return err
	}
	dir := o.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	defer log.Info("stopped")
	// The server's own CA signs the API's certificate (unless the
	// operator gave one) and the TCP agent API's.
	var (
		ca     *tlsca.CA
		tlsCfg *tls.Config
	)
	if !o.InsecureHTTP {
		if ca, err = loadCA(o, log); err != nil {
			return err
		}
		if tlsCfg, err = apiTLS(o, ca, hosts, log); err != nil {
			return err
		}
	}
	raw, err := openStore(ctx, o.Store, dir, log.With("component", "store"))
	if err != nil {
		return err
	}
	defer func() {
		if err := raw.Close(); err != nil {
			log.Error("closing store", "err", err)
		}
	}()
	st, err := openSealed(ctx, raw, o.SecretsKeyFile, log.With("component", "store"))
	if err != nil {
		return err
	}
	// Leadership (leader.go): the provider and the operation workers run
	// only in this replica's terms as leader; on bbolt, one term for the
	// whole run, started before the API serves.
	host, _ := os.Hostname()
	id := replicaID(host, ln.Addr().String())
	self := replicaInfo{ID: id, URL: advertise}
	el := newElector(raw, self, o.LeaderTTL, log.With("component", "leader"))
	var prov api.Provisioner = api.NoneProvisioner{}
	if o.provisioner != nil {
		prov = o.provisioner
	}
	terms := &termProvider{name: o.Provider}
	if o.Provider != ProviderNone {
		prov = terms
	}
	wlock, closeLock := writeLockFor(raw, o.LeaderTTL) // shared by replicas on etcd
	defer closeLock()
	srv, err := api.New(api.Config{
		Store:        st,
		Provisioner:  prov,
		Logger:       log.With("component", "api"),
		PublicIPPool: pool,
		Endpoint:     endpoint,
		WriteLock:    wlock,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	stopLeading, err := lead(ctx, el, o, st, pool, ca, hosts, srv, terms, log)
	if err != nil {
		return err
	}
	defer stopLeading() // the last term stops before the API and the store close
	mounts := map[string]http.Handler{}
	for _, path := range providerMounts(o.Provider) {
		mounts[path] = terms.mount(path)
	}

	// The portal serves its pages and hands every other request (every
	// write) to the API, behind the same guard.
	web, err := portal.New(portal.Config{API: srv, Logger: log.With("component", "portal")})
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	iss, err := openIssuer(o, raw, endpoint, log.With("component", "identity"))
	if err != nil {
		return err
	}
	fwd, err := newForwarder(o, self, el, srv, endpoint, ca, tlsCfg, log.With("component", "forward"))
	if err != nil {
		return err
	}
	handler := withHealth(apiHandler(web, iss, mounts, hosts, o.TrustProxy, fwd), &health{el: el, id: id, st: raw, kind: storeKind(o.Store)})
	hs := newHTTPServer(ctx, handler, apiLimits, log)
	served := make(chan error, 1)
	if tlsCfg == nil {
		go func() { served <- hs.Serve(limitListener(ln, apiLimits)) }()
	} else {
		hs.TLSConfig = tlsCfg
		go func() { served <- hs.ServeTLS(limitListener(ln, apiLimits), "", "") }()
	}
	log.Info("listening", "addr", addr, "endpoint", endpoint, "dataDir", dir, "store", describeStore(o.Store, dir), "provider", prov.Name(),
		"publicIPPool", joinPrefixes(pool))
	if o.ListenFile != "" {
		if err := renameio.WriteFile(o.ListenFile, []byte(addr+"\n"), 0o644); err != nil {
			hs.Close()
			return fmt.Errorf("--listen-file: %w", err)
		}
	}

	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		log.Warn("graceful shutdown incomplete", "err", err)
		hs.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http server", "err", err)
	}
	// Deferred: the last term stops (operation goroutines and the
	// provider; unfinished operations resume on the next start), then
	// srv.Close, then the store.
	return nil
}

func joinPrefixes(pool *registry.AddressPool) string {
	var s []string
	for _, p := range pool.Prefixes() {
		s = append(s, p.String())
	}
	return strings.Join(s, ",")
}

// apiHandler is everything served on the API listener: the token issuer
// (/adfs/), and behind its token check and role check the API with the
// portal in front of it (srv), the role API and the provider's mounts
// (the lab's /lab/v1/); all behind api.Guard for hosts. With fwd (nil:
// one replica), a follower forwards what needs the leader once the
// caller passed both checks, and requests forwarded by another replica
// are checked (vouch) before the sign-in.
func apiHandler(srv http.Handler, iss *identity.Issuer, mounts map[string]http.Handler, hosts []string, trustProxy bool, fwd *forwarder) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", srv)
	for path, h := range mounts {
		mux.Handle(path, h)
	}
	// The role API (SCOPE/providers/Microsoft.Authorization/...) beside
	// the rest, all behind the token check and the role check.
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if identity.IsAuthorizationPath(r) {
			iss.Roles(w, r)
			return
		}
		if fwd != nil && fwd.serve(w, r, mux) {
			return
		}
		mux.ServeHTTP(w, r)
	})
	top := http.NewServeMux()
	top.Handle(identity.AuthorityPath+"/", iss.Handler())
	top.HandleFunc("POST "+portal.SignInPath, iss.SessionSignIn)
	top.Handle("/", iss.Authenticate(iss.Authorize(inner, classify), openPath, portalPage, portal.SignInPath))
	var h http.Handler = top
	if fwd != nil {
		h = vouch(top, fwd.signer, fwd.log)
	}
	if trustProxy {
		return api.GuardBehindProxy(h, hosts)
	}
	return api.Guard(h, hosts)
}
