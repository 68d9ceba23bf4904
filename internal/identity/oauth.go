package identity

import (
	"encoding/json"
	"fmt"
	"math/big"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Paths of the issuer, under the API's endpoint.
const (
	// AuthorityPath is the authority (the loginEndpoint of
	// /metadata/endpoints): ENDPOINT/adfs.
	AuthorityPath = "/adfs"
	discoveryPath = AuthorityPath + "/.well-known/openid-configuration"
	keysPath      = AuthorityPath + "/discovery/keys"
	// TokenPath is the OAuth 2.0 token endpoint.
	TokenPath     = AuthorityPath + "/oauth2/token"
	authorizePath = AuthorityPath + "/oauth2/authorize"
)

// Authority is the authority URL for endpoint (scheme://host[:port]).
func Authority(endpoint string) string { return endpoint + AuthorityPath }

// Audience is the ARM audience for endpoint: the endpoint with a slash,
// as /metadata/endpoints publishes it.
func Audience(endpoint string) string { return endpoint + "/" }

// Handler serves the issuer's paths (everything under /adfs/).
func (i *Issuer) Handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET "+discoveryPath, i.discovery)
	// az login --tenant adfs resolves the tenant name at
	// AUTHORITY/adfs/.well-known/openid-configuration first (and reads the
	// tenant from the issuer's path).
	m.HandleFunc("GET "+AuthorityPath+"/"+Tenant+"/.well-known/openid-configuration", i.discovery)
	m.HandleFunc("GET "+keysPath, i.keys)
	m.HandleFunc("POST "+TokenPath, i.token)
	return m
}

// discovery serves the OpenID provider metadata (AD FS's shape).
func (i *Issuer) discovery(w http.ResponseWriter, r *http.Request) {
	ep := i.cfg.Endpoint(r)
	auth := Authority(ep)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                auth,
		"authorization_endpoint":                ep + authorizePath,
		"token_endpoint":                        ep + TokenPath,
		"jwks_uri":                              ep + keysPath,
		"response_types_supported":              []string{"token"},
		"grant_types_supported":                 []string{"client_credentials", "password"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic", "private_key_jwt"},
		"scopes_supported":                      []string{"openid", "profile", "offline_access"},
		"access_token_issuer":                   auth,
	})
}

// keys serves the signing key as a JWKS.
func (i *Issuer) keys(w http.ResponseWriter, _ *http.Request) {
	pub := i.key.PublicKey
	coord := func(n *big.Int) string { return b64.EncodeToString(n.FillBytes(make([]byte, 32))) }
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": i.kid, "x": coord(pub.X), "y": coord(pub.Y),
	}}})
}

// oauthError is an OAuth 2.0 error answer (RFC 6749 section 5.2).
type oauthError struct {
	status int
	code   string
	desc   string
}

// maxFormBytes bounds a token request.
const maxFormBytes = 64 << 10

// token is the token endpoint.
func (i *Issuer) token(w http.ResponseWriter, r *http.Request) {
	res, oe := i.grant(r, i.cfg.Endpoint(r))
	if oe != nil {
		w.Header().Set("Cache-Control", "no-store")
		if oe.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="vpngw"`)
		}
		writeJSON(w, oe.status, map[string]string{"error": oe.code, "error_description": oe.desc})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, res)
}

// grant answers a token request r for the API at ep.
func (i *Issuer) grant(r *http.Request, ep string) (map[string]any, *oauthError) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return nil, &oauthError{http.StatusBadRequest, "invalid_request", "The token request needs Content-Type application/x-www-form-urlencoded."}
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, &oauthError{http.StatusBadRequest, "invalid_request", "The token request's body is not a form."}
	}
	f := r.PostForm
	for k, v := range f {
		if len(v) > 1 {
			return nil, &oauthError{http.StatusBadRequest, "invalid_request", fmt.Sprintf("The parameter %s is repeated.", k)}
		}
	}
	aud, oe := requestedAudience(f, ep)
	if oe != nil {
		return nil, oe
	}
	var p Principal
	switch gt := f.Get("grant_type"); gt {
	case "client_credentials":
		id, secret := f.Get("client_id"), f.Get("client_secret")
		if u, pw, ok := r.BasicAuth(); ok {
			id, secret = u, pw
		}
		assertion := f.Get("client_assertion")
		if assertion != "" && f.Get("client_assertion_type") != AssertionType {
			return nil, &oauthError{http.StatusBadRequest, "invalid_request", "client_assertion_type must be " + AssertionType + "."}
		}
		if id == "" || (secret == "") == (assertion == "") {
			return nil, &oauthError{http.StatusBadRequest, "invalid_request", "client_id and one of client_secret or client_assertion are required."}
		}
		var ok bool
		p, ok = i.find(func(q *Principal) bool { return q.Kind == KindServicePrincipal && strings.EqualFold(q.AppID, id) })
		switch {
		case ok && assertion != "" && p.Certificate != "":
			if err := checkAssertion(assertion, p.AppID, ep+TokenPath, p.Certificate, i.cfg.Now()); err != nil {
				i.log.Warn("sign-in refused: client assertion", "clientId", id, "err", err)
				return nil, &oauthError{http.StatusUnauthorized, "invalid_client", "MSIS9608: The client assertion is not valid: " + strings.TrimPrefix(err.Error(), ErrAssertion.Error()+": ")}
			}
		case ok && secret != "" && p.SecretHash != "" && p.checkSecret(secret):
		default:
			i.log.Warn("sign-in refused: unknown client or wrong credential", "clientId", id)
			return nil, &oauthError{http.StatusUnauthorized, "invalid_client", "MSIS9607: The client is not known or its credential is wrong."}
		}
	case "password":
		user, pw := f.Get("username"), f.Get("password")
		if user == "" || pw == "" {
			return nil, &oauthError{http.StatusBadRequest, "invalid_request", "username and password are required."}
		}
		var ok bool
		p, ok = i.find(func(q *Principal) bool { return q.Kind == KindUser && strings.EqualFold(q.UserName, user) })
		if ok {
			select {
			case i.hashing <- struct{}{}:
			case <-r.Context().Done():
				return nil, &oauthError{http.StatusServiceUnavailable, "temporarily_unavailable", "The sign-in was cancelled."}
			}
			ok = p.checkSecret(pw)
			<-i.hashing
		}
		if !ok {
			i.log.Warn("sign-in refused: unknown user or wrong password", "user", user)
			return nil, &oauthError{http.StatusBadRequest, "invalid_grant", "MSIS9659: Invalid 'username' or 'password'."}
		}
	case "":
		return nil, &oauthError{http.StatusBadRequest, "invalid_request", "grant_type is required."}
	default:
		return nil, &oauthError{http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("The grant type %q is not supported; use client_credentials or password.", gt)}
	}
	now := i.cfg.Now()
	c := Claims{Issuer: Authority(ep), Audience: aud, Subject: p.ObjectID, ObjectID: p.ObjectID, TenantID: Tenant,
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: now.Add(i.cfg.TokenLifetime).Unix(), Version: "1.0"}
	if p.Kind == KindServicePrincipal {
		c.AppID, c.IDType = p.AppID, "app"
	} else {
		c.UPN, c.IDType = p.UserName, "user"
	}
	tok, err := signToken(i.key, i.kid, c)
	if err != nil {
		i.log.Error("signing a token", "err", err)
		return nil, &oauthError{http.StatusInternalServerError, "server_error", "The token could not be signed."}
	}
	i.log.Info("signed in", "principal", p.DisplayName, "kind", p.Kind, "objectId", p.ObjectID, "audience", aud)
	secs := int64(i.cfg.TokenLifetime.Seconds())
	res := map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs,
		"expires_on": strconv.FormatInt(c.Expiry, 10), "not_before": strconv.FormatInt(c.NotBefore, 10), "resource": aud,
	}
	if s := f.Get("scope"); s != "" {
		res["scope"] = s
	}
	// A user's sign-in with the openid scope (MSAL adds it) also gets an
	// ID token: az reads the user's name from its upn claim.
	if p.Kind == KindUser && slices.Contains(strings.Fields(f.Get("scope")), "openid") {
		idc := c
		idc.Audience = f.Get("client_id")
		idt, err := signToken(i.key, i.kid, idc)
		if err != nil {
			i.log.Error("signing an ID token", "err", err)
			return nil, &oauthError{http.StatusInternalServerError, "server_error", "The token could not be signed."}
		}
		res["id_token"] = idt
	}
	return res, nil
}

// requestedAudience is the audience a token request asks for: its v1
// resource parameter or its v2 scope's resource (RESOURCE/.default; the
// OpenID scopes MSAL adds are ignored). It must be this API: the endpoint,
// with or without trailing slashes. The token's aud is Audience(ep).
func requestedAudience(f url.Values, ep string) (string, *oauthError) {
	want := strings.TrimRight(ep, "/")
	var asked []string
	if res := f.Get("resource"); res != "" {
		asked = append(asked, res)
	}
	for _, s := range strings.Fields(f.Get("scope")) {
		switch s {
		case "openid", "profile", "offline_access", "email":
			continue
		}
		asked = append(asked, strings.TrimSuffix(s, ".default"))
	}
	if len(asked) == 0 {
		return "", &oauthError{http.StatusBadRequest, "invalid_request", "The request names no resource (resource, or scope RESOURCE/.default)."}
	}
	for _, a := range asked {
		if !strings.EqualFold(strings.TrimRight(a, "/"), want) {
			return "", &oauthError{http.StatusBadRequest, "invalid_resource",
				fmt.Sprintf("MSIS9602: The resource %q is not known; the one resource is %s.", a, Audience(ep))}
		}
	}
	return Audience(ep), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
