package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/renameio/v2"
	"github.com/spf13/cobra"

	"github.com/vpngw/vpngw/internal/client"
	"github.com/vpngw/vpngw/internal/identity"
	"github.com/vpngw/vpngw/internal/server"
)

// loginsFile is where `vpngw login` keeps its sign-ins, in the CLI's
// config directory ($VPNGW_CONFIG_DIR, else $XDG_CONFIG_HOME/vpngw or
// ~/.config/vpngw), mode 0600.
const loginsFile = "logins.json"

// login is one server's sign-in: a service principal's credential (kept,
// as az keeps it, to get new tokens) or a user's name, and the cached
// token.
type login struct {
	// Kind is servicePrincipal or user.
	Kind string `json:"kind"`
	// ClientID and ClientSecret are a service principal's.
	ClientID     string `json:"clientId,omitempty"`
	ClientSecret string `json:"clientSecret,omitempty"`
	// UserName is a user's (whose password is not kept).
	UserName string `json:"userName,omitempty"`
	// Token is the cached access token.
	Token client.Token `json:"token"`
}

// logins is loginsFile: sign-ins by server URL.
type logins map[string]login

func configDir(e *env) (string, error) {
	if d := e.getenv("VPNGW_CONFIG_DIR"); d != "" {
		return d, nil
	}
	return userDir(e, "XDG_CONFIG_HOME", ".config", "$VPNGW_CONFIG_DIR")
}

func readLogins(e *env) (logins, string, error) {
	dir, err := configDir(e)
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, loginsFile)
	l := logins{}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return l, path, nil
	}
	if err != nil {
		return nil, path, err
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, path, fmt.Errorf("%s: %w", path, err)
	}
	return l, path, nil
}

func writeLogins(path string, l logins) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	return renameio.WriteFile(path, append(b, '\n'), 0o600)
}

// serverKey is how a server is named in loginsFile.
func serverKey(s string) string { return strings.ToLower(strings.TrimRight(s, "/")) }

// readCredential reads a service principal credential file
// (admin-credential.json's shape).
func readCredential(path string) (identity.Credential, error) {
	var c identity.Credential
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil || c.ClientID == "" || c.ClientSecret == "" {
		return c, fmt.Errorf("%s: not a credential file (clientId, clientSecret)", path)
	}
	return c, nil
}

// isLoopback reports whether the URL's host is a loopback address or
// localhost.
func isLoopback(server string) bool {
	u, err := url.Parse(server)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Hostname(), "localhost") {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// tokenSource is the CLI's bearer token for srv, in this order: the
// sign-in `vpngw login` cached for srv (renewed with a service principal's
// kept secret when it expires); the credential file $VPNGW_CREDENTIAL_FILE;
// for a server on loopback, the administrator credential of a vpngw serve
// with the default data directory, when this user can read it.
func tokenSource(e *env, srv string, hc *http.Client) func(context.Context) (string, error) {
	var cached client.Token
	return func(ctx context.Context) (string, error) {
		if cached.AccessToken != "" && time.Until(cached.ExpiresOn) > time.Minute {
			return cached.AccessToken, nil
		}
		l, path, err := readLogins(e)
		if err != nil {
			return "", err
		}
		if in, ok := l[serverKey(srv)]; ok {
			if time.Until(in.Token.ExpiresOn) > time.Minute {
				cached = in.Token
				return cached.AccessToken, nil
			}
			if in.Kind != "servicePrincipal" {
				return "", fmt.Errorf("the sign-in of %s at %s expired: run vpngw login again", in.UserName, srv)
			}
			tok, err := client.SignIn(ctx, hc, srv, in.ClientID, in.ClientSecret, "", "")
			if err != nil {
				return "", err
			}
			in.Token, cached = tok, tok
			l[serverKey(srv)] = in
			if err := writeLogins(path, l); err != nil {
				return "", err
			}
			return tok.AccessToken, nil
		}
		credFile := e.getenv("VPNGW_CREDENTIAL_FILE")
		if credFile == "" && isLoopback(srv) {
			if dir, err := defaultDataDir(e); err == nil {
				if f := server.AdminCredentialFile(dir); fileReadable(f) {
					credFile = f
				}
			}
		}
		if credFile == "" {
			return "", fmt.Errorf("not signed in to %s: run vpngw login (see vpngw login --help)", srv)
		}
		c, err := readCredential(credFile)
		if err != nil {
			return "", err
		}
		tok, err := client.SignIn(ctx, hc, srv, c.ClientID, c.ClientSecret, "", "")
		if err != nil {
			return "", err
		}
		cached = tok
		return tok.AccessToken, nil
	}
}

func fileReadable(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// serverURL is --server, else $VPNGW_URL, else DefaultServer.
func serverURL(e *env, flag string) string {
	if flag != "" {
		return flag
	}
	if s := e.getenv("VPNGW_URL"); s != "" {
		return s
	}
	return DefaultServer
}

func addLoginCommands(root *cobra.Command, e *env) {
	var (
		srv, caFile, user, password, tenant, credFile string
		sp                                            bool
	)
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in to a vpngw server and cache the token (as az login does)",
		Long: `Sign in to the vpngw server at --server (default $VPNGW_URL, else ` + DefaultServer + `)
and cache the access token for the other commands, in $VPNGW_CONFIG_DIR/logins.json
(default $XDG_CONFIG_HOME/vpngw or ~/.config/vpngw; mode 0600).

  vpngw login --credential-file DATA-DIR/identity/admin-credential.json
  vpngw login --service-principal -u CLIENT-ID -p SECRET
  vpngw login -u USER -p PASSWORD

A service principal's client ID and secret are kept in the file, as az
keeps them, to get a new token when the cached one expires (after an hour);
a user's password is not kept: sign in again when the token expires.
vpngw serve writes the administrator's credential file on its first start.
Without a login, the commands use the credential file in
$VPNGW_CREDENTIAL_FILE, and for a server on loopback the administrator
credential of a vpngw serve with the default data directory when it is
readable.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant != "" && !strings.EqualFold(tenant, identity.Tenant) {
				return usageError{fmt.Errorf("--tenant %q: vpngw's tenant is %s", tenant, identity.Tenant)}
			}
			s := serverURL(e, srv)
			hc, err := httpClient(e, caFile)
			if err != nil {
				return usageError{err}
			}
			var in login
			switch {
			case credFile != "":
				if user != "" || password != "" || sp {
					return usageError{errors.New("--credential-file goes without --service-principal, --username and --password")}
				}
				c, err := readCredential(credFile)
				if err != nil {
					return usageError{fmt.Errorf("--credential-file: %w", err)}
				}
				in = login{Kind: "servicePrincipal", ClientID: c.ClientID, ClientSecret: c.ClientSecret}
			case user == "" || password == "":
				return usageError{errors.New("give --credential-file, or --username and --password (with --service-principal for a client ID and secret)")}
			case sp:
				in = login{Kind: "servicePrincipal", ClientID: user, ClientSecret: password}
			default:
				in = login{Kind: "user", UserName: user}
			}
			ctx := cmd.Context()
			if in.Kind == "user" {
				in.Token, err = client.SignIn(ctx, hc, s, "", "", user, password)
			} else {
				in.Token, err = client.SignIn(ctx, hc, s, in.ClientID, in.ClientSecret, "", "")
			}
			if err != nil {
				return err
			}
			l, path, err := readLogins(e)
			if err != nil {
				return err
			}
			l[serverKey(s)] = in
			if err := writeLogins(path, l); err != nil {
				return err
			}
			name := in.ClientID + in.UserName
			out, _ := json.MarshalIndent([]map[string]any{{
				"cloudName": "vpngw", "environmentName": s, "isDefault": true, "state": "Enabled", "tenantId": identity.Tenant,
				"user": map[string]string{"name": name, "type": in.Kind},
			}}, "", "  ")
			fmt.Fprintln(e.stdout, string(out))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&srv, "server", "", "URL of the vpngw API. Default: $VPNGW_URL, else "+DefaultServer+".")
	f.StringVar(&caFile, "ca-file", "", "CA certificate (PEM) of the API's HTTPS. Default: $VPNGW_CA_FILE, else the CA of a vpngw serve on this host.")
	f.StringVarP(&user, "username", "u", "", "User name, or a service principal's client ID (with --service-principal).")
	f.StringVarP(&password, "password", "p", "", "The user's password or the service principal's client secret.")
	f.BoolVar(&sp, "service-principal", false, "Sign in as a service principal: --username is its client ID, --password its secret.")
	f.StringVarP(&tenant, "tenant", "t", "", "Tenant: only "+identity.Tenant+", as on Azure Stack Hub with AD FS (accepted for az's command lines).")
	f.StringVar(&credFile, "credential-file", "", "Sign in as the service principal in this credential file (vpngw serve's DATA-DIR/identity/admin-credential.json).")
	root.AddCommand(cmd)

	logout := &cobra.Command{
		Use:   "logout",
		Short: "Forget the sign-in to a vpngw server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, path, err := readLogins(e)
			if err != nil {
				return err
			}
			delete(l, serverKey(serverURL(e, srv)))
			return writeLogins(path, l)
		},
	}
	logout.Flags().StringVar(&srv, "server", "", "URL of the vpngw API. Default: $VPNGW_URL, else "+DefaultServer+".")
	root.AddCommand(logout)
}
