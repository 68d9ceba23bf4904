package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/identity"
	"github.com/vpngw/vpngw/internal/reconcile"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/server"
)

// serveOptions are the flags of vpngw serve.
type serveOptions struct {
	listen       string
	listenFile   string
	allowedHost  []string
	endpoint     string
	trustProxy   bool
	advertiseURL string
	insecure     bool
	insecureHTTP bool
	tlsCert      string
	tlsKey       string
	dataDir      string
	keyFile      string
	provider     string
	logLevel     string
	logFormat    string
	pool         []string
	agentListen  string
	agentToken   string
	labPrefix    string
	noCap        bool
	leaderTTL    time.Duration
	failover     time.Duration
	store        storeFlags
}

// storeFlags are the --store and --etcd-* flags of serve and rotate-key.
type storeFlags struct {
	kind               string
	endpoints          []string
	prefix             string
	cert, key, cacert  string
	username, password string
	flags              *pflag.FlagSet
}

// Environment variables the etcd credentials are read from when their
// flags are not given (a password on the command line is visible to
// every user in ps).
const (
	envEtcdUsername = "VPNGW_ETCD_USERNAME"
	envEtcdPassword = "VPNGW_ETCD_PASSWORD"
)

func addStoreFlags(f *pflag.FlagSet, o *storeFlags) {
	o.flags = f
	f.StringVar(&o.kind, "store", server.StoreBolt, "where the state lives: bolt (embedded, DATA-DIR/vpngw.db) or etcd (an etcd v3 cluster that several servers can share; --etcd-*)")
	f.StringSliceVar(&o.endpoints, "etcd-endpoints", nil, "with --store etcd: etcd client URLs, http://HOST:PORT or https://HOST:PORT, comma-separated")
	addEtcdFlags(f, o)
}

// addEtcdFlags adds the --etcd-* flags but the endpoints.
func addEtcdFlags(f *pflag.FlagSet, o *storeFlags) {
	o.flags = f
	f.StringVar(&o.prefix, "etcd-prefix", server.DefaultEtcdPrefix, "with --store etcd: key prefix, ending in /; installations sharing an etcd need distinct ones")
	f.StringVar(&o.cert, "etcd-cert", "", "with --store etcd: client certificate (PEM) for https endpoints, with --etcd-key")
	f.StringVar(&o.key, "etcd-key", "", "with --store etcd: the client certificate's private key (PEM)")
	f.StringVar(&o.cacert, "etcd-cacert", "", "with --store etcd: CA bundle (PEM) that verifies the etcd servers (default: the system's)")
	f.StringVar(&o.username, "etcd-username", "", "with --store etcd: user to authenticate as (default $"+envEtcdUsername+")")
	f.StringVar(&o.password, "etcd-password", "", "with --store etcd: the user's password (default $"+envEtcdPassword+", which ps does not show)")
}

// options turns the flags into server.StoreOptions, checked; errors are
// usage errors.
func (o *storeFlags) options(e *env) (server.StoreOptions, error) {
	so := server.StoreOptions{Kind: o.kind}
	if o.kind != server.StoreEtcd {
		var set []string
		o.flags.Visit(func(f *pflag.Flag) {
			if strings.HasPrefix(f.Name, "etcd-") {
				set = append(set, "--"+f.Name)
			}
		})
		if len(set) > 0 {
			return so, usageError{fmt.Errorf("%s: only with --store etcd", strings.Join(set, ", "))}
		}
	} else {
		so.Etcd = server.EtcdOptions{
			Endpoints: o.endpoints,
			Prefix:    o.prefix,
			CertFile:  o.cert,
			KeyFile:   o.key,
			CAFile:    o.cacert,
			Username:  o.username,
			Password:  o.password,
		}
		if so.Etcd.Username == "" {
			so.Etcd.Username = e.getenv(envEtcdUsername)
		}
		if so.Etcd.Password == "" {
			so.Etcd.Password = e.getenv(envEtcdPassword)
		}
	}
	if err := server.CheckStore(so); err != nil {
		return so, usageError{err}
	}
	return so, nil
}

func addServeCommand(root *cobra.Command, e *env) {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the control plane: the ARM-shaped REST API and its store",
		Long: `Run the vpngw control plane: the Azure Resource Manager-shaped REST API
(see docs/api.md and GET /openapi.json) over an embedded bbolt store, or
over etcd with --store etcd (several servers can share one etcd; see
docs/api.md#the-store).

The server logs "listening" with the bound address (useful with --listen
127.0.0.1:0); --listen-file also writes the address to a file once the socket
is open. SIGINT or SIGTERM stops it gracefully; operations interrupted by a
stop resume on the next start.

The API is HTTPS: on the first start the server creates its own CA in
DATA-DIR/tls (ca.crt is what clients trust; the vpngw CLI on this host
trusts it by itself, az through REQUESTS_CA_BUNDLE) and issues its
certificate from it at every start, unless --tls-cert and --tls-key name
one. --insecure-http serves plain HTTP, on a loopback --listen only.

Every API request needs an access token from the server's own token
issuer (DATA-DIR/identity; an AD FS-style authority at /adfs, published in
/metadata/endpoints for az cloud register and the Azure SDKs). The first
start creates an administrator service principal and writes its client ID
and secret to DATA-DIR/identity/admin-credential.json (mode 0600); sign in
with "vpngw login --credential-file FILE" or "az login --service-principal
-u ID -p SECRET --tenant adfs" (docs/security.md). Every request's action
is checked against the principal's role assignments (Azure's Owner,
Contributor, Reader and Network Contributor; the administrator is Owner);
"vpngw serve principal-create" adds principals (docs/api.md).

The API answers only requests whose Host header names it: the listen
address, localhost, 127.0.0.1 and [::1] on loopback, and each --allowed-host
(for a DNS name or a proxy). Browsers are kept out: PUT, POST and PATCH need
Content-Type application/json, and a request from another web origin is
refused; the portal signs in with a SameSite=Strict session cookie.

Secrets in the store (connection shared keys, RADIUS secrets) are sealed
with AES-256-GCM under a key kept apart from the data directory, in
--secrets-key-file (created 0600 on first start). Keep it and back it up
apart from the data: without it the stored secrets cannot be read.
"vpngw serve rotate-key" replaces it (docs/security.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, e, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8480", "address to serve HTTP on (port 0 picks a free port)")
	f.StringSliceVar(&o.allowedHost, "allowed-host", nil, "further HOST or HOST:PORT the API answers to (its Host header); the first is used in operation URLs when --listen is a wildcard address")
	f.StringVar(&o.endpoint, "endpoint", "", "URL clients reach the API at, http(s)://HOST[:PORT] (e.g. a TLS proxy's): operation URLs and /metadata/endpoints use it, and its host is allowed (default: http:// and the listen address)")
	f.BoolVar(&o.trustProxy, "trust-proxy", false, "build operation URLs from X-Forwarded-Proto and X-Forwarded-Host (which must name an allowed host): only behind a reverse proxy that sets them")
	f.BoolVar(&o.insecure, "insecure-listen", false, "no effect: any --listen address is allowed now that the API has HTTPS and sign-in")
	_ = f.MarkDeprecated("insecure-listen", "the API has HTTPS and sign-in: any --listen address is allowed (plain HTTP, --insecure-http, only on loopback)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "the API's certificate chain (PEM), with --tls-key (default: a certificate from the server's own CA, DATA-DIR/tls/ca.crt, created on the first start)")
	f.StringVar(&o.tlsKey, "tls-key", "", "the private key (PEM) of --tls-cert")
	f.BoolVar(&o.insecureHTTP, "insecure-http", false, "serve plain HTTP instead of HTTPS (loopback --listen only)")
	f.StringVar(&o.listenFile, "listen-file", "", "write the bound address to this file when ready")
	f.StringVar(&o.dataDir, "data-dir", "", "directory for the bbolt store, the lab's state and agent sockets (default /var/lib/vpngw as root, else $XDG_DATA_HOME/vpngw or ~/.local/share/vpngw)")
	f.StringVar(&o.keyFile, "secrets-key-file", "", "key file that seals secrets in the store, created if missing (default /etc/vpngw/secrets.key as root, else $XDG_CONFIG_HOME/vpngw/secrets.key or ~/.config/vpngw/secrets.key)")
	f.StringVar(&o.provider, "provider", server.DefaultProvider(), "what realizes resources: lab (network namespaces on this host; the default as root on Linux), host (agents on real hosts), none (control plane only)")
	f.StringVar(&o.agentListen, "agent-listen", "", "where agents reach the control plane: unix:///PATH or HOST:PORT (default: unix socket DATA-DIR/agent.sock for lab, 127.0.0.1:8481 for host)")
	f.StringVar(&o.agentToken, "agent-token-file", "", "the agent key: each instance's agent presents its own token derived from it, printed by vpngw serve agent-token (default for host: DATA-DIR/agent-token, created if missing)")
	f.StringVar(&o.labPrefix, "lab-prefix", "vpngw", "prefix of the lab's network namespace names")
	f.DurationVar(&o.failover, "failover-after", reconcile.DefaultFailoverAfter, "how long an active gateway instance that stays connected may go without a report (agents report every 500 ms) before its standby takes over, from 1s to 1m; one whose connection to the control plane closes (its process exited) is replaced at once. Raise it for an agent API reached over a slow or lossy link")
	f.BoolVar(&o.noCap, "no-throughput-cap", false, "do not cap each gateway's aggregate throughput at its SKU's benchmark")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringSliceVar(&o.pool, "public-ip-pool", registry.DefaultPublicIPPool(), "CIDRs public IP addresses are allocated from (network and broadcast addresses excluded)")
	addStoreFlags(f, &o.store)
	f.StringVar(&o.advertiseURL, "advertise-url", "", "with --store etcd: this replica's API as the other replicas reach it, http(s)://HOST:PORT; followers forward what only the leader knows (live status, instances, BGP and point-to-site actions) to the leader's (default: the listen address, none for a wildcard one)")
	f.DurationVar(&o.leaderTTL, "leader-ttl", server.DefaultLeaderTTL, "with --store etcd: lease of the elected leader among servers sharing the prefix, whole seconds from 2s to 60s; a dead leader is replaced about this long after its last renewal")
	addRotateKeyCommand(cmd, e)
	addMigrateCommand(cmd, e)
	addAgentTokenCommand(cmd, e)
	addPrincipalCommand(cmd, e)
	addPrincipalDeleteCommand(cmd, e)
	root.AddCommand(cmd)
}

func addRotateKeyCommand(serve *cobra.Command, e *env) {
	var (
		dataDir, keyFile, logLevel string
		sf                         storeFlags
	)
	cmd := &cobra.Command{
		Use:   "rotate-key",
		Short: "Replace the key that seals secrets in the store (with the server stopped)",
		Long: `Replace the key that seals the secrets in the store (connection shared
keys, RADIUS secrets): add a new key to the key file as the current one,
seal every record's secrets with it, then remove the old key from the file.
Stop vpngw serve first (the bbolt store is locked while it runs; with
--store etcd, stop every server sharing the etcd prefix) and pass the same
--data-dir, --secrets-key-file and store flags it uses. A rotation cut short keeps
both keys in the file, so nothing becomes unreadable; run it again to
finish. See docs/security.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(e, logLevel, "text")
			if err != nil {
				return err
			}
			so, err := sf.options(e)
			if err != nil {
				return err
			}
			dir, key, err := storePaths(e, dataDir, keyFile)
			if err != nil {
				return err
			}
			return server.RotateSecretsKey(cmd.Context(), so, dir, key, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "", "the server's --data-dir (same default)")
	f.StringVar(&keyFile, "secrets-key-file", "", "the server's --secrets-key-file (same default)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	addStoreFlags(f, &sf)
	serve.AddCommand(cmd)
}

func addPrincipalCommand(serve *cobra.Command, e *env) {
	var (
		dataDir, name, user, certFile string
		sf                            storeFlags
	)
	cmd := &cobra.Command{
		Use:   "principal-create",
		Short: "Create a service principal (prints its credential) or a user (password on stdin)",
		Long: `Create a principal that can sign in to vpngw serve. With --store etcd (and
the server's etcd flags) it is written to the store, where every replica
sees it at once; with the embedded bbolt store it goes to the server's
DATA-DIR/identity/principals.json, which the server imports into its store
at its next sign-in or start:

  vpngw serve principal-create --name NAME      a service principal: prints its
                                                credential JSON (tenantId, clientId,
                                                clientSecret, objectId) once
  vpngw serve principal-create --name NAME --cert-file CERT.pem
                                                a service principal that signs in with
                                                a client assertion signed by the
                                                certificate's key (RSA; azidentity's
                                                ClientCertificateCredential): no secret
  vpngw serve principal-create --user NAME      a user: reads the password (at least
                                                8 characters) from the first line of stdin

A new principal has no role: give it one with a role assignment (PUT
SCOPE/providers/Microsoft.Authorization/roleAssignments/GUID with its
objectId; docs/api.md#role-based-access-control).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (name == "") == (user == "") {
				return usageError{fmt.Errorf("give --name (a service principal) or --user")}
			}
			dir, so, err := dataDirAndStore(e, dataDir, sf)
			if err != nil {
				return err
			}
			add := func(p identity.Principal) error {
				return server.AddPrincipal(cmd.Context(), so, dir, p, nil)
			}
			if user != "" {
				line, err := bufio.NewReader(e.stdin).ReadString('\n')
				if err != nil && line == "" {
					return usageError{fmt.Errorf("--user: give the password on stdin")}
				}
				p, err := identity.NewUser(user, strings.TrimRight(line, "\r\n"))
				if err != nil {
					return usageError{err}
				}
				if err := add(p); err != nil {
					return err
				}
				return json.NewEncoder(e.stdout).Encode(map[string]string{"userName": p.UserName, "objectId": p.ObjectID})
			}
			var (
				p      identity.Principal
				secret string
			)
			if certFile != "" {
				b, err := os.ReadFile(certFile)
				if err != nil {
					return usageError{fmt.Errorf("--cert-file: %w", err)}
				}
				if p, err = identity.NewCertificatePrincipal(name, b); err != nil {
					return usageError{fmt.Errorf("--cert-file: %w", err)}
				}
			} else if p, secret, err = identity.NewServicePrincipal(name); err != nil {
				return err
			}
			if err := add(p); err != nil {
				return err
			}
			cred := map[string]string{"tenantId": identity.Tenant, "clientId": p.AppID, "objectId": p.ObjectID, "displayName": p.DisplayName}
			if secret != "" {
				cred["clientSecret"] = secret
			}
			out, _ := json.MarshalIndent(cred, "", "  ")
			fmt.Fprintln(e.stdout, string(out))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "create a service principal with this display name")
	f.StringVar(&user, "user", "", "create a user with this sign-in name")
	f.StringVar(&certFile, "cert-file", "", "with --name: the service principal signs in with this certificate (PEM, RSA key) instead of a secret")
	f.StringVar(&dataDir, "data-dir", "", "the server's --data-dir (same default)")
	addStoreFlags(f, &sf)
	serve.AddCommand(cmd)
}

func addPrincipalDeleteCommand(serve *cobra.Command, e *env) {
	var (
		dataDir string
		sel     server.PrincipalSelector
		sf      storeFlags
	)
	cmd := &cobra.Command{
		Use:   "principal-delete",
		Short: "Delete a principal and its role assignments",
		Long: `Delete a principal (a service principal by --client-id, a user by --user,
either by --object-id) and its role assignments from the store, in one
transaction. With --store etcd (and the server's etcd flags) it works
while the replicas run: each refuses the principal's tokens within a
second. The embedded bbolt store is opened by one process at a time: stop
vpngw serve first. The last principal with the Owner role at "/" (the
administrator, unless another was given Owner) is refused: nobody could
assign roles after it. Prints {"objectId", "deletedRoleAssignments"}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n := 0
			for _, v := range []string{sel.ClientID, sel.UserName, sel.ObjectID} {
				if v != "" {
					n++
				}
			}
			if n != 1 {
				return usageError{fmt.Errorf("give one of --client-id, --user, --object-id")}
			}
			dir, so, err := dataDirAndStore(e, dataDir, sf)
			if err != nil {
				return err
			}
			p, roles, err := server.DeletePrincipal(cmd.Context(), so, dir, sel, nil)
			if err != nil {
				return err
			}
			return json.NewEncoder(e.stdout).Encode(map[string]any{"objectId": p.ObjectID, "deletedRoleAssignments": roles})
		},
	}
	f := cmd.Flags()
	f.StringVar(&sel.ClientID, "client-id", "", "delete the service principal with this client ID")
	f.StringVar(&sel.UserName, "user", "", "delete the user with this sign-in name")
	f.StringVar(&sel.ObjectID, "object-id", "", "delete the principal with this object ID")
	f.StringVar(&dataDir, "data-dir", "", "the server's --data-dir (same default)")
	addStoreFlags(f, &sf)
	serve.AddCommand(cmd)
}

// dataDirAndStore is a serve subcommand's data directory (--data-dir,
// same default as serve) and store (its store flags).
func dataDirAndStore(e *env, dataDir string, sf storeFlags) (string, server.StoreOptions, error) {
	dir, err := dataDirOf(e, dataDir)
	if err != nil {
		return "", server.StoreOptions{}, err
	}
	so, err := sf.options(e)
	return dir, so, err
}

func addAgentTokenCommand(serve *cobra.Command, e *env) {
	var dataDir, keyFile, instance string
	cmd := &cobra.Command{
		Use:   "agent-token --instance ID",
		Short: "Print a gateway instance's own agent API token",
		Long: `Print the token the agent of one gateway instance presents to the agent API
(vpngw agent --token-file), derived from the control plane's agent key
(--agent-token-file, default DATA-DIR/agent-token, which vpngw serve
creates for the host provider). Each instance has its own: a gateway
host's token fetches only its own instance's assignment, and is refused
once the instance is deleted. Instance IDs are in the gateway's
instances view (vpngw network vnet-gateway instances, or GET
.../virtualNetworkGateways/{gw}/instances). See docs/host.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if instance == "" {
				return usageError{fmt.Errorf("--instance is required")}
			}
			if keyFile == "" {
				dir, err := dataDirOf(e, dataDir)
				if err != nil {
					return err
				}
				keyFile = filepath.Join(dir, "agent-token")
			}
			b, err := os.ReadFile(keyFile)
			if err != nil {
				return fmt.Errorf("agent key: %w", err)
			}
			fmt.Fprintln(e.stdout, agentapi.InstanceToken(strings.TrimSpace(string(b)), instance))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&instance, "instance", "", "the instance's ID")
	f.StringVar(&dataDir, "data-dir", "", "the server's --data-dir (same default)")
	f.StringVar(&keyFile, "agent-token-file", "", "the server's --agent-token-file (default DATA-DIR/agent-token)")
	serve.AddCommand(cmd)
}

// dataDirOf is dataDir, else the default data directory.
func dataDirOf(e *env, dataDir string) (string, error) {
	if dataDir != "" {
		return dataDir, nil
	}
	return defaultDataDir(e)
}

// storePaths are the data directory and the secrets key file, defaulted.
func storePaths(e *env, dataDir, keyFile string) (string, string, error) {
	var err error
	if dataDir == "" {
		if dataDir, err = defaultDataDir(e); err != nil {
			return "", "", err
		}
	}
	if keyFile == "" {
		if keyFile, err = defaultSecretsKeyFile(e); err != nil {
			return "", "", err
		}
	}
	return dataDir, keyFile, nil
}

// defaultDataDir is /var/lib/vpngw for root, else the user's data dir.
func defaultDataDir(e *env) (string, error) {
	if os.Geteuid() == 0 {
		return "/var/lib/vpngw", nil
	}
	return userDir(e, "XDG_DATA_HOME", ".local/share", "--data-dir")
}

// defaultSecretsKeyFile is where the key that seals secrets in the store
// lives: /etc/vpngw/secrets.key for root, else in the user's config
// directory; apart from the data directory either way, so that a copy of
// the data directory alone does not carry the key.
func defaultSecretsKeyFile(e *env) (string, error) {
	if os.Geteuid() == 0 {
		return "/etc/vpngw/secrets.key", nil
	}
	dir, err := userDir(e, "XDG_CONFIG_HOME", ".config", "--secrets-key-file")
	return filepath.Join(dir, "secrets.key"), err
}

// userDir is $xdgVar/vpngw, else ~/fallback/vpngw.
func userDir(e *env, xdgVar, fallback, flag string) (string, error) {
	if d := e.getenv(xdgVar); d != "" {
		return filepath.Join(d, "vpngw"), nil
	}
	home := e.getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no %s given and no home directory: %w", flag, err)
		}
		home = h
	}
	return filepath.Join(home, fallback, "vpngw"), nil
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

// runServe turns the flags into server.Options and runs the control plane.
func runServe(ctx context.Context, e *env, o serveOptions) error {
	log, err := newLogger(e, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	if err := server.CheckProvider(o.provider); err != nil {
		return usageError{err}
	}
	pool, err := registry.ParseAddressPool(o.pool)
	if err != nil {
		return usageError{fmt.Errorf("--public-ip-pool: %w", err)}
	}
	so, err := o.store.options(e)
	if err != nil {
		return err
	}
	if err := server.CheckLeaderTTL(o.leaderTTL); err != nil {
		return usageError{err}
	}
	if err := reconcile.CheckFailoverAfter(o.failover); err != nil {
		return usageError{err}
	}
	dir, keyFile, err := storePaths(e, o.dataDir, o.keyFile)
	if err != nil {
		return err
	}
	return server.Run(ctx, server.Options{
		Listen:          o.listen,
		ListenFile:      o.listenFile,
		AllowedHosts:    o.allowedHost,
		Endpoint:        o.endpoint,
		TrustProxy:      o.trustProxy,
		AdvertiseURL:    o.advertiseURL,
		InsecureHTTP:    o.insecureHTTP,
		TLSCertFile:     o.tlsCert,
		TLSKeyFile:      o.tlsKey,
		DataDir:         dir,
		Store:           so,
		SecretsKeyFile:  keyFile,
		Provider:        o.provider,
		PublicIPPool:    pool,
		AgentListen:     o.agentListen,
		AgentTokenFile:  o.agentToken,
		LabPrefix:       o.labPrefix,
		NoThroughputCap: o.noCap,
		LeaderTTL:       o.leaderTTL,
		FailoverAfter:   o.failover,
		Logger:          log,
	})
}
