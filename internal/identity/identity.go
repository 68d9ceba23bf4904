// Package identity is vpngw's sign-in, the way Azure Stack Hub does it with
// AD FS: `vpngw serve` is its own token issuer, and every API request
// carries an access token it issued.
//
// The issuer lives under ENDPOINT/adfs (the loginEndpoint that
// /metadata/endpoints publishes, so `az cloud register` and the SDKs find
// it): OpenID discovery at /adfs/.well-known/openid-configuration, the
// signing keys at /adfs/discovery/keys, and an OAuth 2.0 token endpoint at
// /adfs/oauth2/token with the client-credentials grant (service principals
// with a client secret) and the password grant (users). Access tokens are
// ES256 JWTs for the ARM audience (ENDPOINT/), valid for TokenLifetime.
//
// Authenticate checks every API request's bearer token — signature,
// expiry, issuer, audience, and that the principal still exists — and
// refuses with 401 and Azure's codes (AuthenticationFailed,
// InvalidAuthenticationToken, ExpiredAuthenticationToken,
// InvalidAuthenticationTokenAudience) and a WWW-Authenticate header that
// names the authority.
//
// Authorize then checks the principal's role assignments (authz.go):
// Azure's built-in Owner, Contributor, Reader and Network Contributor
// roles, assigned at a scope and inherited below it, and the
// Microsoft.Authorization API that manages them (Roles); a refusal is 403
// AuthorizationFailed.
//
// State: principals (service principals and users with their secrets'
// hashes) and role assignments in Config.Store when set (store.go, shared
// by replicas), else principals.json and roleassignments.json (0600); in
// Config.Dir (DATA-DIR/identity, mode 0700): signing.key (the ES256 key,
// 0600) and, written once on the first start,
// admin-credential.json (the administrator service principal's client ID
// and secret, 0600): the only place a secret is ever written in clear.
// Nothing here logs a secret or a token.
package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/renameio/v2"
	"golang.org/x/crypto/argon2"

	"github.com/vpngw/vpngw/internal/store"
)

// Files in Config.Dir.
const (
	SigningKeyFile      = "signing.key"
	PrincipalsFile      = "principals.json"
	AdminCredentialFile = "admin-credential.json"
)

// Tenant is the tenant every token and sign-in uses, as on Azure Stack
// Hub with AD FS.
const Tenant = "adfs"

// DefaultTokenLifetime is how long an access token is valid.
const DefaultTokenLifetime = time.Hour

// Principal kinds.
const (
	KindServicePrincipal = "ServicePrincipal"
	KindUser             = "User"
)

// Principal is a service principal or a user that may sign in.
type Principal struct {
	// Kind is KindServicePrincipal or KindUser.
	Kind string `json:"kind"`
	// ObjectID is the principal's ID, the tokens' oid and sub.
	ObjectID string `json:"objectId"`
	// AppID is a service principal's client ID (az's --username).
	AppID string `json:"appId,omitempty"`
	// UserName is a user's sign-in name.
	UserName string `json:"userName,omitempty"`
	// DisplayName names the principal in logs.
	DisplayName string `json:"displayName"`
	// SecretHash is the SHA-256 (hex) of a service principal's client
	// secret, a random 256-bit value, or a user's password as
	// argon2id$SALT$HASH (base64); "" for a principal with a certificate
	// only.
	SecretHash string `json:"secretHash,omitempty"`
	// Certificate is a service principal's certificate (PEM, RSA key),
	// for client assertions (assertion.go).
	Certificate string `json:"certificate,omitempty"`
}

// principalsDoc is principals.json.
type principalsDoc struct {
	Principals []Principal `json:"principals"`
}

// Credential is a service principal's client ID and secret, as
// admin-credential.json holds them (and `vpngw login --credential-file`
// reads them).
type Credential struct {
	TenantID     string `json:"tenantId"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
}

// Config configures an Issuer.
type Config struct {
	// Dir holds the issuer's state; created 0700 if missing. Required.
	Dir string
	// Endpoint is the API's scheme://host[:port] for a request (the
	// configured endpoint, or a trusted proxy's). Required.
	Endpoint func(*http.Request) string
	// Configured is the configured endpoint: tokens for it are accepted on
	// every request (with a proxy, also those for the request's endpoint).
	Configured string
	// TokenLifetime is an access token's validity; DefaultTokenLifetime
	// when zero.
	TokenLifetime time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives sign-ins and refusals (never secrets or tokens); nil
	// is silent.
	Logger *slog.Logger
	// Store, when set, holds the principals and role assignments
	// (store.go), shared by every replica on it; nil keeps them in files
	// in Dir.
	Store store.Store
	// Vouched, when set, reports the object ID of the principal another
	// replica authenticated for r when that replica forwarded r and its
	// signature checked (package server's forwarding): such a request
	// passes as that principal, which must still exist, whatever its
	// token's audience or signing key; its roles are checked here as on
	// the replica that forwarded it.
	Vouched func(r *http.Request) (objectID string, ok bool)
}

// Issuer issues and checks access tokens.
type Issuer struct {
	cfg Config
	log *slog.Logger
	key *ecdsa.PrivateKey
	kid string
	// mu guards principals (re-read from the file when it changes).
	mu         sync.Mutex
	principals []Principal
	// modTime is principals.json's when it was read (without a Store).
	modTime time.Time
	// cache is the store's content as last read (with a Store).
	cache storeState
	// amu serializes reads and writes of the role assignments file.
	amu sync.Mutex
	// hashing holds a slot per password hash running (maxHashing).
	hashing chan struct{}
}

// Open loads the issuer's state from cfg.Dir, creating the signing key
// and, when there is no principals file, an administrator service
// principal whose credential it writes to AdminCredentialFile. created
// reports that first start.
func Open(cfg Config) (iss *Issuer, created bool, err error) {
	if cfg.Dir == "" || cfg.Endpoint == nil {
		return nil, false, errors.New("identity: Config.Dir and Config.Endpoint are required")
	}
	if cfg.TokenLifetime == 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	i := &Issuer{cfg: cfg, log: cfg.Logger, hashing: make(chan struct{}, maxHashing)}
	if i.log == nil {
		i.log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("identity: %w", err)
	}
	if i.key, err = loadOrCreateKey(filepath.Join(cfg.Dir, SigningKeyFile)); err != nil {
		return nil, false, err
	}
	der, _ := x509.MarshalPKIXPublicKey(&i.key.PublicKey)
	sum := sha256.Sum256(der)
	i.kid = hex.EncodeToString(sum[:8])
	if cfg.Store != nil {
		ctx, cancel := storeCtx()
		defer cancel()
		created, err := i.bootstrapStore(ctx)
		if err != nil {
			return nil, false, err
		}
		return i, created, nil
	}
	path := filepath.Join(cfg.Dir, PrincipalsFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := i.bootstrap(); err != nil {
			return nil, false, err
		}
		created = true
	}
	if err := i.reload(); err != nil {
		return nil, false, err
	}
	return i, created, nil
}

// bootstrap creates the administrator service principal.
func (i *Issuer) bootstrap() error {
	p, secret, err := NewServicePrincipal("vpngw-admin")
	if err != nil {
		return err
	}
	// The credential first: a principal whose secret was lost is useless.
	if err := writeCredential(filepath.Join(i.cfg.Dir, AdminCredentialFile), Credential{TenantID: Tenant, ClientID: p.AppID, ClientSecret: secret}); err != nil {
		return err
	}
	// The administrator is Owner at the root scope.
	if err := Assign(i.cfg.Dir, RoleAssignment{Name: newUUID(), Scope: "/", RoleID: RoleOwner.ID, PrincipalID: p.ObjectID}); err != nil {
		return err
	}
	return writePrincipals(i.cfg.Dir, []Principal{p})
}

// writeCredential writes c to path (mode 0600).
func writeCredential(path string, c Credential) error {
	b, _ := json.MarshalIndent(c, "", "  ")
	if err := renameio.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	return nil
}

// AddPrincipal adds p to the principals file in dir (for `vpngw serve
// principal-create` and tests); a running server reads it on its next
// sign-in, and one with a Store imports it into the store (store.go).
func AddPrincipal(dir string, p Principal) error {
	doc, err := readPrincipals(dir)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err != nil {
		return err
	}
	for _, q := range doc.Principals {
		if sameName(p, q) {
			return fmt.Errorf("identity: a principal named %s%s exists", p.AppID, p.UserName)
		}
	}
	return writePrincipals(dir, append(doc.Principals, p))
}

// NewServicePrincipal returns a service principal named name with a new
// client ID and a new random client secret (returned once, never stored).
func NewServicePrincipal(name string) (Principal, string, error) {
	// A secret never starts with '-' or '_': az's argument parser would
	// take "-p -xyz" for an option.
	var secret string
	for secret == "" || secret[0] == '-' || secret[0] == '_' {
		var s [32]byte
		if _, err := rand.Read(s[:]); err != nil {
			return Principal{}, "", err
		}
		secret = base64.RawURLEncoding.EncodeToString(s[:])
	}
	sum := sha256.Sum256([]byte(secret))
	return Principal{Kind: KindServicePrincipal, ObjectID: newUUID(), AppID: newUUID(), DisplayName: name,
		SecretHash: hex.EncodeToString(sum[:])}, secret, nil
}

// NewCertificatePrincipal returns a service principal named name that
// signs in with certificate (PEM; RSA key) and has no secret.
func NewCertificatePrincipal(name string, certificate []byte) (Principal, error) {
	if _, err := ParseCertificate(certificate); err != nil {
		return Principal{}, err
	}
	return Principal{Kind: KindServicePrincipal, ObjectID: newUUID(), AppID: newUUID(), DisplayName: name,
		Certificate: string(certificate)}, nil
}

// NewUser returns a user named name with password (stored as argon2id).
func NewUser(name, password string) (Principal, error) {
	if name == "" || len(password) < 8 {
		return Principal{}, errors.New("identity: a user needs a name and a password of at least 8 characters")
	}
	var salt [16]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return Principal{}, err
	}
	h := hashPassword(password, salt[:])
	return Principal{Kind: KindUser, ObjectID: newUUID(), UserName: name, DisplayName: name,
		SecretHash: "argon2id$" + b64.EncodeToString(salt[:]) + "$" + b64.EncodeToString(h)}, nil
}

// Password hashing: argon2id with OWASP's parameters (19 MiB, two passes,
// one lane). At most maxHashing run at once (Issuer.hashing), so a flood
// of password sign-ins costs time, not memory.
const (
	argonTime, argonMemoryKiB, argonThreads = 2, 19 << 10, 1
	maxHashing                              = 2
)

func hashPassword(password string, salt []byte) []byte {
	return argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, 32)
}

// checkSecret reports whether secret is p's.
func (p *Principal) checkSecret(secret string) bool {
	if salt, hash, ok := strings.Cut(strings.TrimPrefix(p.SecretHash, "argon2id$"), "$"); ok && strings.HasPrefix(p.SecretHash, "argon2id$") {
		s, err1 := b64.DecodeString(salt)
		want, err2 := b64.DecodeString(hash)
		if err1 != nil || err2 != nil {
			return false
		}
		got := hashPassword(secret, s)
		return subtle.ConstantTimeCompare(got, want) == 1
	}
	sum := sha256.Sum256([]byte(secret))
	want, err := hex.DecodeString(p.SecretHash)
	return err == nil && len(want) == sha256.Size && subtle.ConstantTimeCompare(sum[:], want) == 1
}

// reload reads principals.json when it changed since the last read.
func (i *Issuer) reload() error {
	path := filepath.Join(i.cfg.Dir, PrincipalsFile)
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if fi.ModTime().Equal(i.modTime) && i.principals != nil {
		return nil
	}
	doc, err := readPrincipals(i.cfg.Dir)
	if err != nil {
		return err
	}
	i.principals, i.modTime = doc.Principals, fi.ModTime()
	return nil
}

// find returns the principal matching pred, reloading the file (or the
// store) first.
func (i *Issuer) find(pred func(*Principal) bool) (Principal, bool) {
	if i.cfg.Store != nil {
		ctx, cancel := storeCtx()
		defer cancel()
		s, err := i.loadStore(ctx)
		if err != nil {
			i.log.Error("reading principals", "err", err)
			return Principal{}, false
		}
		for _, p := range s.principals {
			if pred(&p) {
				return p, true
			}
		}
		// A miss re-reads a cache older than missTTL, or one with an inbox
		// file waiting (principal-create on bbolt): a principal just
		// created through another replica or the inbox signs in at once.
		// (Only a miss looks for the inbox; a hit costs no file system
		// call.)
		i.mu.Lock()
		stale := time.Since(i.cache.read) >= missTTL || i.inboxWaiting()
		if stale {
			i.cache = storeState{}
		}
		i.mu.Unlock()
		if !stale {
			return Principal{}, false
		}
		if s, err = i.loadStore(ctx); err != nil {
			i.log.Error("reading principals", "err", err)
			return Principal{}, false
		}
		for _, p := range s.principals {
			if pred(&p) {
				return p, true
			}
		}
		return Principal{}, false
	}
	if err := i.reload(); err != nil {
		i.log.Error("reading principals", "err", err)
		return Principal{}, false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, p := range i.principals {
		if pred(&p) {
			return p, true
		}
	}
	return Principal{}, false
}

func readPrincipals(dir string) (principalsDoc, error) {
	var doc principalsDoc
	path := filepath.Join(dir, PrincipalsFile)
	fi, err := os.Stat(path)
	if err != nil {
		return doc, fmt.Errorf("identity: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return doc, fmt.Errorf("identity: %s: others may read it (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return doc, fmt.Errorf("identity: %w", err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return doc, fmt.Errorf("identity: %s: %w", path, err)
	}
	return doc, nil
}

func writePrincipals(dir string, ps []Principal) error {
	b, err := json.MarshalIndent(principalsDoc{Principals: ps}, "", "  ")
	if err != nil {
		return err
	}
	if err := renameio.WriteFile(filepath.Join(dir, PrincipalsFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	return nil
}

func loadOrCreateKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		if err := renameio.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("identity: %s: others may read it (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("identity: %s: no PEM key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("identity: %s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("identity: %s: want an ECDSA P-256 key", path)
	}
	return ek, nil
}

func newUUID() string {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
