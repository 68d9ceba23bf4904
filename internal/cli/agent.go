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
		clients                                         string
		clientTerms                                     []string
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
  vpngw agent --status --socket PATH --client alice     one point-to-site user's sessions
  vpngw agent --server https://cp:8481 --instance NAME --token-file /etc/vpngw/token \
      --ca-file /etc/vpngw/ca.crt
  vpngw agent --server https://cp1:8481,https://cp2:8481,https://cp3:8481 --instance NAME ...

The token file holds the instance's own token (vpngw serve agent-token
--instance NAME prints it on the control plane); --ca-file is the control
plane's CA (its DATA-DIR/tls/ca.crt), which its agent API's certificate
chains to.

--status lists point-to-site clients when there are at most 100 of them;
with more it prints their count and the rest of the status (--clients all
lists them all, --client picks some by name, user, virtual IP, public
address or vpnConnectionId). -o json lists them all unless told otherwise.

Environment: VPNGW_RAW_ESP_SEND=socket sends raw ESP (IP protocol 50)
through the kernel's IP output path only, not on AF_PACKET past it: use it
when the host's netfilter OUTPUT/POSTROUTING rules, policy routing or egress
qdisc must see the gateway's ESP packets (docs/dataplane.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status {
				return agentStatus(cmd.Context(), e, configPath, socket, output, clients, clientTerms)
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
	f.StringVar(&clients, "clients", "auto", "with --status: the point-to-site clients to list, all, none or auto (a table lists them when there are at most 100, -o json always)")
	f.StringArrayVar(&clientTerms, "client", nil, "with --status: list only this point-to-site client (its name, user, virtual IP, public address or vpnConnectionId); repeatable")
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

// autoClients is how many point-to-site clients --status lists in a table
// without --clients all.
const autoClients = 100

func agentStatus(ctx context.Context, e *env, configPath, socket, output, clients string, terms []string) error {
	if output != "table" && output != "json" {
		return usageError{fmt.Errorf("--output %q: want table or json", output)}
	}
	var q agent.StatusQuery
	auto := false
	switch clients {
	case "all":
	case "none":
		q.NoClients = true
	case "auto":
		auto = output == "table" && len(terms) == 0
	default:
		return usageError{fmt.Errorf("--clients %q: want all, none or auto", clients)}
	}
	if len(terms) > 0 {
		if q.NoClients {
			return usageError{fmt.Errorf("--client with --clients none lists nothing: give one of them")}
		}
		q.Clients = terms
	}
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
	// auto asks for the summary first: a gateway with 10,000 clients is
	// not made to list them for a table no one reads to the end.
	q.NoClients = q.NoClients || auto
	st, err := agent.FetchStatus(ctx, socket, q)
	if err != nil {
		return err
	}
	if p := st.PointToSite; auto && p != nil && p.ClientCount > 0 && p.ClientCount <= autoClients {
		if st, err = agent.FetchStatus(ctx, socket, agent.StatusQuery{}); err != nil {
			return err
		}
	}
	if output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	agent.WriteStatus(e.stdout, st)
	if p := st.PointToSite; auto && p != nil && len(p.Clients) < p.ClientCount {
		fmt.Fprintf(e.stdout, "\n%d point-to-site clients, not listed: --clients all lists them, --client USER|ADDRESS picks some.\n", p.ClientCount)
	}
	return nil
}
