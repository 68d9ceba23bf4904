package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/lab"
	"github.com/vpngw/vpngw/internal/reconcile"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/store"
	"github.com/vpngw/vpngw/internal/tlsca"
)

// labMount is the path of the lab's API (ProviderLab) on the API's
// listener.
const labMount = "/lab/v1/"

// providerMounts are the paths of the handlers startProvider mounts for
// provider.
func providerMounts(provider string) []string {
	if provider == ProviderLab {
		return []string{labMount}
	}
	return nil
}

// startProvider builds the reconciler over the lab or host provider, serves
// the agent API, and returns the Provisioner, the extra HTTP handlers to
// mount on the API's server, and a cleanup function.
//
// A TCP agent API is served over HTTPS with a certificate from ca for its
// address and hosts (the API's names), or plain HTTP when ca is nil
// (--insecure-http).
func startProvider(ctx context.Context, o Options, st store.Store, pool *registry.AddressPool, ca *tlsca.CA, hosts []string, log *slog.Logger) (api.Provisioner, map[string]http.Handler, func(), error) {
	dir := o.DataDir
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	fail := func(err error) (api.Provisioner, map[string]http.Handler, func(), error) {
		cleanup()
		return nil, nil, nil, err
	}
	listen := o.AgentListen
	if listen == "" {
		if o.Provider == ProviderLab {
			listen = "unix://" + filepath.Join(dir, "agent.sock")
		} else {
			listen = "127.0.0.1:8481"
		}
	}
	token := ""
	if o.Provider == ProviderHost || o.AgentTokenFile != "" {
		path := o.AgentTokenFile
		if path == "" {
			path = filepath.Join(dir, "agent-token")
		}
		t, err := loadOrCreateToken(path)
		if err != nil {
			return fail(fmt.Errorf("--agent-token-file: %w", err))
		}
		token = t
		log.Info("each agent authenticates with its instance's own token, derived from the agent key in this file: "+
			"vpngw serve agent-token --instance ID prints it", "agentKeyFile", path)
	}
	hub := reconcile.NewHub(token, log.With("component", "agents"))
	mounts := map[string]http.Handler{}
	var provider reconcile.Provider
	switch o.Provider {
	case ProviderLab:
		exe, err := os.Executable()
		if err != nil {
			return fail(err)
		}
		l, err := lab.Open(lab.Options{Dir: filepath.Join(dir, "lab"), Prefix: o.LabPrefix, PublicIPPool: pool.Prefixes(), Logger: log.With("component", "lab")})
		if err != nil {
			return fail(err)
		}
		cleanups = append(cleanups, func() {
			// A lab with nothing in it leaves nothing behind (its
			// internet router would otherwise outlive the server).
			if l.Empty() {
				dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				if err := l.Down(dctx); err != nil {
					log.Warn("removing the empty lab", "err", err)
				}
				cancel()
			}
			l.Close()
		})
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = l.Restore(rctx)
		cancel()
		if err != nil {
			log.Warn("restoring the lab", "err", err)
		}
		provider = &reconcile.LabProvider{Lab: l, AgentArgv: []string{exe, "agent", "--server", listen, "--state-dir", filepath.Join(dir, "agents")}}
		mounts[labMount] = lab.Handler(l, vnetResolver{view: registry.NewView(st)})
	case ProviderHost:
		provider = reconcile.HostProvider{}
	}
	rec := reconcile.New(reconcile.Config{
		Store: st, View: registry.NewView(st), WatchPrefix: registry.ResourceKeyPrefix,
		Provider: provider, Hub: hub, Options: reconcile.Options{NoThroughputCap: o.NoThroughputCap},
		FailoverAfter: o.FailoverAfter, Logger: log.With("component", "reconcile"),
	})
	ln, err := listenAgentAPI(listen)
	if err != nil {
		return fail(err)
	}
	hs := newHTTPServer(ctx, hub, agentLimits, log.With("component", "agents"))
	// A TCP agent API is HTTPS with a certificate from the server's CA
	// (plain HTTP only with --insecure-http); a Unix socket is plain.
	serve := func() error { return hs.Serve(limitListener(ln, agentLimits)) }
	scheme := "unix"
	if ca != nil && !strings.HasPrefix(listen, "unix://") {
		if hs.TLSConfig, err = agentTLS(ca, listen, hosts); err != nil {
			ln.Close()
			return fail(err)
		}
		serve = func() error { return hs.ServeTLS(limitListener(ln, agentLimits), "", "") }
		scheme = "https"
	} else if !strings.HasPrefix(listen, "unix://") {
		scheme = "http"
	}
	go func() {
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("agent API", "err", err)
		}
	}()
	cleanups = append(cleanups, func() { hs.Close() })
	log.Info("agent API listening", "addr", listen, "scheme", scheme)
	if err := rec.Start(ctx); err != nil {
		return fail(err)
	}
	return rec, mounts, cleanup, nil
}

func listenAgentAPI(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix://"); ok {
		_ = os.Remove(path)
		ln, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("agent API: %w", err)
		}
		_ = os.Chmod(path, 0o600)
		return ln, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("agent API: %w", err)
	}
	return ln, nil
}

// loadOrCreateToken reads a token file, creating it (mode 0600) with a
// random token if missing.
func loadOrCreateToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", fmt.Errorf("%s is empty", path)
		}
		return t, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var r [24]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	t := hex.EncodeToString(r[:])
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", err
	}
	return t, nil
}
