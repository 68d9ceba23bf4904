package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/renameio/v2"
	"github.com/spf13/cobra"

	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/store/boltstore"
)

// serveOptions are the flags of vpngw serve.
type serveOptions struct {
	listen      string
	listenFile  string
	dataDir     string
	provider    string
	logLevel    string
	logFormat   string
	pool        []string
	agentListen string
	agentToken  string
	labPrefix   string
	noCap       bool
}

func addServeCommand(root *cobra.Command, e *env) {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the control plane: the ARM-shaped REST API and its store",
		Long: `Run the vpngw control plane: the Azure Resource Manager-shaped REST API
(see docs/api.md and GET /openapi.json) over an embedded bbolt store.

The server logs "listening" with the bound address (useful with --listen
127.0.0.1:0); --listen-file also writes the address to a file once the socket
is open. SIGINT or SIGTERM stops it gracefully; operations interrupted by a
stop resume on the next start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, e, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8480", "address to serve HTTP on (port 0 picks a free port)")
	f.StringVar(&o.listenFile, "listen-file", "", "write the bound address to this file when ready")
	f.StringVar(&o.dataDir, "data-dir", "", "directory for the store (default /var/lib/vpngw as root, else $XDG_DATA_HOME/vpngw or ~/.local/share/vpngw)")
	f.StringVar(&o.provider, "provider", defaultProvider(), "what realizes resources: lab (network namespaces on this host; the default as root on Linux), host (agents on real hosts), none (control plane only)")
	f.StringVar(&o.agentListen, "agent-listen", "", "where agents reach the control plane: unix:///PATH or HOST:PORT (default: unix socket DATA-DIR/agent.sock for lab, 127.0.0.1:8481 for host)")
	f.StringVar(&o.agentToken, "agent-token-file", "", "token agents must present (default for host: DATA-DIR/agent-token, created if missing)")
	f.StringVar(&o.labPrefix, "lab-prefix", "vpngw", "prefix of the lab's network namespace names")
	f.BoolVar(&o.noCap, "no-throughput-cap", false, "do not cap each gateway's aggregate throughput at its SKU's benchmark")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringSliceVar(&o.pool, "public-ip-pool", api.DefaultPublicIPPool(), "CIDRs public IP addresses are allocated from (network and broadcast addresses excluded)")
	root.AddCommand(cmd)
}

// defaultDataDir is /var/lib/vpngw for root, else the user's data dir.
func defaultDataDir(e *env) (string, error) {
	if os.Geteuid() == 0 {
		return "/var/lib/vpngw", nil
	}
	if d := e.getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "vpngw"), nil
	}
	home := e.getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no --data-dir given and no home directory: %w", err)
		}
		home = h
	}
	return filepath.Join(home, ".local", "share", "vpngw"), nil
}

func newLogger(e *env, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(e.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(e.stderr, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format %q: want text or json", format)}
}

func runServe(ctx context.Context, e *env, o serveOptions) error {
	log, err := newLogger(e, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	switch o.provider {
	case "none", "lab", "host":
	default:
		return usageError{fmt.Errorf("--provider %q: want lab, host or none", o.provider)}
	}
	pool, err := api.ParseAddressPool(o.pool)
	if err != nil {
		return usageError{fmt.Errorf("--public-ip-pool: %w", err)}
	}
	dir := o.dataDir
	if dir == "" {
		if dir, err = defaultDataDir(e); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	dbPath := filepath.Join(dir, "vpngw.db")
	defer log.Info("stopped")
	st, err := boltstore.Open(dbPath, boltstore.Options{Logger: log.With("component", "store")})
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing store", "err", err)
		}
	}()
	var prov api.Provisioner = api.NoneProvisioner{}
	var mounts map[string]http.Handler
	if o.provider != "none" {
		p, m, cleanup, err := startProvider(ctx, e, o, dir, st, pool, log)
		if err != nil {
			return err
		}
		defer cleanup()
		prov, mounts = p, m
	}
	srv, err := api.New(api.Config{
		Store:        st,
		Provisioner:  prov,
		Logger:       log.With("component", "api"),
		PublicIPPool: pool,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Start(ctx); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	addr := ln.Addr().String()
	var handler http.Handler = srv
	if len(mounts) > 0 {
		mux := http.NewServeMux()
		mux.Handle("/", srv)
		for path, h := range mounts {
			mux.Handle(path, h)
		}
		handler = mux
	}
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	log.Info("listening", "addr", addr, "dataDir", dir, "provider", prov.Name(),
		"publicIPPool", strings.Join(o.pool, ","))
	if o.listenFile != "" {
		if err := renameio.WriteFile(o.listenFile, []byte(addr+"\n"), 0o644); err != nil {
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
	// Deferred: srv.Close (operation goroutines stop; unfinished ones
	// resume on the next start), then the store.
	return nil
}
