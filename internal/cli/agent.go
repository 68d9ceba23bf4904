package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpngw/vpngw/internal/agent"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/tlsca"
)

func addAgentCommand(root *cobra.Command, e *env) {
	var (
		configPath, socket, logLevel, logFormat, output string
		instance, tokenFile, stateDir, caFile           string
		servers                                         []string
		status, check                                   bool
	)
	cmd := &cobra.Command{
		Use:   "agent --config FILE",
		Short: "Run one gateway instance (IKEv2 and IKEv1, ESP, routing)",
		Long: `Run one gateway instance: IKEv2 or IKEv1 negotiation with each configured peer and
the userspace ESP data plane (a TUN device, UDP 500/4500 and raw ESP).

The configuration is a YAML file (see docs/agent.md); SIGHUP reloads it and
applies changes per connection, leaving unchanged connections untouched.
SIGINT or SIGTERM deletes the SAs on the peers and exits.

With --server and --instance the configuration comes from the control plane
(vpngw serve) instead, and the agent reports its status back; it keeps
forwarding with its last configuration while the control plane is away.
A replicated control plane (several vpngw serve on etcd, docs/ha.md) has one
agent API per replica, of which only the leader's answers: give them all
(--server repeated, or a comma-separated list); the agent uses one at a time
and moves to the next when it cannot be reached or fails.

  vpngw agent --config /etc/vpngw/agent.yaml
  vpngw agent --check --config /etc/vpngw/agent.yaml   validate and exit
  vpngw agent --status [--config FILE | --socket PATH]  show SAs and counters
  vpngw agent --server https://cp:8481 --instance NAME --token-file /etc/vpngw/token \
      --ca-file /etc/vpngw/ca.crt
  vpngw agent --server https://cp1:8481,https://cp2:8481,https://cp3:8481 --instance NAME ...

The token file holds the instance's own token (vpngw serve agent-token
--instance NAME prints it on the control plane); --ca-file is the control
plane's CA (its DATA-DIR/tls/ca.crt), which its agent API's certificate
chains to.

Environment: VPNGW_RAW_ESP_SEND=socket sends raw ESP (IP protocol 50)
through the kernel's IP output path only, not on AF_PACKET past it: use it
when the host's netfilter OUTPUT/POSTROUTING rules, policy routing or egress
qdisc must see the gateway's ESP packets (docs/dataplane.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status {
				return agentStatus(cmd.Context(), e, configPath, socket, output)
			}
			if len(servers) > 0 {
				if configPath != "" {
					return usageError{fmt.Errorf("give --config or --server, not both")}
				}
				if instance == "" {
					return usageError{fmt.Errorf("--server needs --instance")}
				}
				log, err := newLogger(e, logLevel, logFormat)
				if err != nil {
					return err
				}
				token := ""
				if tokenFile != "" {
					b, err := os.ReadFile(tokenFile)
					if err != nil {
						return usageError{fmt.Errorf("--token-file: %w", err)}
					}
					token = strings.TrimSpace(string(b))
				}
				var roots *x509.CertPool
				if caFile != "" {
					if roots, err = tlsca.Pool(caFile); err != nil {
						return usageError{fmt.Errorf("--ca-file: %w", err)}
					}
				}
				ctx, stop := signal.NotifyContext(contextOf(cmd), syscall.SIGINT, syscall.SIGTERM)
				defer stop()
				return agent.RunRemote(ctx, agent.RemoteOptions{Servers: servers, Instance: instance, Token: token, RootCAs: roots,
					StateDir: stateDir, Logger: log.With("instance", instance), StatusSocket: socket})
			}
			if configPath == "" {
				return usageError{fmt.Errorf("--config (or --server with --instance) is required")}
			}
			cfg, err := gwconfig.LoadFile(configPath)
			if err != nil {
				return err
			}
			if check {
				fmt.Fprintf(e.stdout, "%s: valid (%d connections)\n", configPath, len(cfg.Connections))
				return nil
			}
			if socket != "" {
				cfg.StatusSocket = socket
			}
			log, err := newLogger(e, logLevel, logFormat)
			if err != nil {
				return usageError{err}
			}
			return runAgent(cmd.Context(), cfg, configPath, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "configuration file (YAML)")
	f.StringSliceVar(&servers, "server", nil, "take the configuration from the control plane's agent API (https://HOST:PORT, http://HOST:PORT or unix:///PATH); repeat it or give a comma-separated list for the replicas of a replicated control plane")
	f.StringVar(&caFile, "ca-file", "", "CA certificate (PEM) of the control plane's agent API, with an https --server (the control plane's DATA-DIR/tls/ca.crt; default: the system's roots)")
	f.StringVar(&instance, "instance", "", "this instance's name at the control plane (with --server)")
	f.StringVar(&tokenFile, "token-file", "", "file with this instance's agent API token, from vpngw serve agent-token (with --server)")
	f.StringVar(&stateDir, "state-dir", "/var/lib/vpngw", "where the last assignment is cached (with --server)")
	f.BoolVar(&status, "status", false, "show a running agent's status and exit")
	f.BoolVar(&check, "check", false, "validate the configuration and exit")
	f.StringVar(&socket, "socket", "", "status socket (default: statusSocket from the config, /run/vpngw/agent-NAME.sock)")
	f.StringVarP(&output, "output", "o", "table", "status output: table or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(cmd)
}

func contextOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

func runAgent(ctx context.Context, cfg *gwconfig.Instance, path string, log *slog.Logger) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	a, err := agent.New(cfg, agent.Options{Logger: log})
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				next, err := gwconfig.LoadFile(path)
				if err == nil {
					err = a.Reload(ctx, next)
				}
				if err != nil {
					log.Error("reload refused; keeping the running configuration", "err", err)
				}
			}
		}
	}()
	go func() {
		if err := agent.ServeStatus(ctx, a, cfg.StatusSocket); err != nil {
			log.Error("status endpoint", "err", err)
		}
	}()
	return a.Run(ctx)
}

func agentStatus(ctx context.Context, e *env, configPath, socket, output string) error {
	if socket == "" {
		if configPath == "" {
			return usageError{fmt.Errorf("--status needs --config or --socket")}
		}
		cfg, err := gwconfig.LoadFile(configPath)
		if err != nil {
			return err
		}
		socket = cfg.StatusSocket
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := agent.FetchStatus(ctx, socket)
	if err != nil {
		return err
	}
	if output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	agent.WriteStatus(e.stdout, st)
	return nil
}
