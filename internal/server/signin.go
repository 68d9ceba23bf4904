package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/identity"
	"github.com/vpngw/vpngw/internal/portal"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
)

// IdentityDir is where the token issuer keeps its signing key and
// principals, under the data directory.
const IdentityDir = "identity"

// AdminCredentialFile is the path of the administrator service
// principal's credential in dataDir, written on the first start.
func AdminCredentialFile(dataDir string) string {
	return filepath.Join(dataDir, IdentityDir, identity.AdminCredentialFile)
}

// openIssuer opens the token issuer in DataDir/identity with its
// principals and role assignments in st (shared by every replica); on the
// first start it creates the administrator service principal and logs how
// to use it (its client ID and file, never the secret).
func openIssuer(o Options, st store.Store, endpoint string, log *slog.Logger) (*identity.Issuer, error) {
	iss, created, err := identity.Open(identity.Config{
		Store:      st,
		Dir:        filepath.Join(o.DataDir, IdentityDir),
		Endpoint:   func(r *http.Request) string { return api.RequestEndpoint(r, endpoint) },
		Configured: endpoint,
		Logger:     log,
		Vouched:    vouchedPrincipal, // requests another replica forwarded (forward.go)
	})
	if err != nil {
		return nil, err
	}
	if created {
		path := AdminCredentialFile(o.DataDir)
		log.Info("created the administrator service principal; its client ID and secret are in the credential file (mode 0600). "+
			"Sign in with: vpngw login --credential-file FILE (az: az login --service-principal -u CLIENT-ID -p SECRET --tenant adfs)",
			"credentialFile", path)
	}
	log.Info("sign-in: API requests need a bearer token from the token issuer", "authority", identity.Authority(endpoint))
	return iss, nil
}

// portalPage reports whether r is a browser's load of a portal page,
// which is sent to the sign-in page rather than refused.
func portalPage(r *http.Request) bool {
	return r.Method == http.MethodGet && (r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, portal.Prefix)) &&
		strings.Contains(r.Header.Get("Accept"), "text/html")
}

// openPath reports whether r may reach the API without a token: the
// cloud metadata (az cloud register reads it before signing in) and the
// portal's sign-in page and assets.
func openPath(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return r.URL.Path == "/metadata/endpoints" || r.URL.Path == portal.SignInPath || strings.HasPrefix(r.URL.Path, portal.Prefix+"static/") ||
		// A point-to-site client package, by the random 128-bit ID that
		// generatevpnprofile returned, for an hour: the URL is the
		// capability, like the SAS URL Azure returns.
		strings.HasPrefix(r.URL.Path, "/vpnclientpackages/")
}

// classify is what a request on the API listener asks to do, for the role
// check (identity.Authorize): open for what any signed-in principal may
// read (the subscription and tenant lists, the OpenAPI document, an
// operation's status by its random ID); the role API's and ARM's actions
// at the request's path; a portal page reads the default subscription;
// the lab's API (/lab/v1) needs the vpngw.Lab actions, which only Owner
// grants.
func classify(r *http.Request) identity.Request {
	p := strings.ToLower(strings.TrimRight(r.URL.Path, "/"))
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case openPath(r):
		return identity.Request{Open: true}
	case read && (p == "/openapi.json" || p == "/subscriptions" || p == "/tenants"):
		return identity.Request{Open: true}
	case read && strings.Count(p, "/") == 2 && strings.HasPrefix(p, "/subscriptions/"):
		return identity.Request{Open: true}
	case read && strings.Contains(p, "/providers/microsoft.network/locations/") &&
		(strings.Contains(p, "/operations/") || strings.Contains(p, "/operationresults/")):
		return identity.Request{Open: true}
	case identity.IsAuthorizationPath(r):
		return identity.ClassifyAuthorization(r)
	case read && (p == "" || strings.HasPrefix(p+"/", portal.Prefix)):
		return identity.Request{Actions: []string{"Microsoft.Resources/subscriptions/read"}, Scope: "/subscriptions/" + resource.DefaultSubscription}
	}
	return identity.ClassifyARM(r)
}

// AddPrincipal adds p for `vpngw serve principal-create`. With etcd it
// writes p to the store, where every replica sees it; with bbolt, whose
// file a running server holds locked, it adds p to
// DATA-DIR/identity/principals.json, which the server imports into its
// store at its next sign-in or start (identity/store.go).
func AddPrincipal(ctx context.Context, so StoreOptions, dataDir string, p identity.Principal, log *slog.Logger) error {
	if so.Kind != StoreEtcd {
		return identity.AddPrincipal(filepath.Join(dataDir, IdentityDir), p)
	}
	st, err := openStore(ctx, so, dataDir, log)
	if err != nil {
		return err
	}
	defer st.Close()
	return identity.AddPrincipalToStore(ctx, st, p)
}

// PrincipalSelector names the principal `vpngw serve principal-delete`
// deletes: exactly one field is set.
type PrincipalSelector struct {
	// ClientID is a service principal's client (application) ID.
	ClientID string
	// UserName is a user's sign-in name.
	UserName string
	// ObjectID is any principal's object ID.
	ObjectID string
}

func (s PrincipalSelector) match(p identity.Principal) bool {
	switch {
	case s.ObjectID != "":
		return strings.EqualFold(p.ObjectID, s.ObjectID)
	case s.ClientID != "":
		return p.AppID != "" && strings.EqualFold(p.AppID, s.ClientID)
	case s.UserName != "":
		return p.UserName != "" && strings.EqualFold(p.UserName, s.UserName)
	}
	return false
}

// DeletePrincipal deletes the principal sel names and its role
// assignments from the store (identity.DeletePrincipalFromStore), for
// `vpngw serve principal-delete`. The embedded bbolt store can be opened
// by one process only: stop the server first. Every replica refuses the
// principal's tokens within a second.
func DeletePrincipal(ctx context.Context, so StoreOptions, dataDir string, sel PrincipalSelector, log *slog.Logger) (identity.Principal, int, error) {
	st, err := openStore(ctx, so, dataDir, log)
	if err != nil {
		if so.Kind != StoreEtcd {
			return identity.Principal{}, 0, fmt.Errorf("%w (the embedded store is open in one process at a time: stop vpngw serve first)", err)
		}
		return identity.Principal{}, 0, err
	}
	defer st.Close()
	return identity.DeletePrincipalFromStore(ctx, st, sel.match)
}
