package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// TokenPath is the token endpoint of a vpngw server (its AD FS-style
// authority is SERVER/adfs; package identity serves it).
const TokenPath = "/adfs/oauth2/token"

// Token is an access token and when it expires.
type Token struct {
	// AccessToken is the bearer token.
	AccessToken string `json:"accessToken"`
	// ExpiresOn is its expiry.
	ExpiresOn time.Time `json:"expiresOn"`
}

// ErrSignIn is returned (wrapped) when the token endpoint refuses a
// sign-in; its message is the server's error description.
var ErrSignIn = errors.New("sign-in refused")

// SignIn gets an access token for the API at server (scheme://host[:port])
// from its token endpoint: with the client-credentials grant for clientID
// and clientSecret, or with the password grant when user is given. The
// token's audience is the one the server publishes in
// /metadata/endpoints (its endpoint, which may be a proxy's).
func SignIn(ctx context.Context, hc *http.Client, server, clientID, clientSecret, user, password string) (Token, error) {
	server = strings.TrimRight(server, "/")
	aud, err := audience(ctx, hc, server)
	if err != nil {
		return Token{}, err
	}
	f := url.Values{"resource": {aud}}
	if user != "" {
		f.Set("grant_type", "password")
		f.Set("username", user)
		f.Set("password", password)
		f.Set("client_id", "vpngw-cli")
	} else {
		f.Set("grant_type", "client_credentials")
		f.Set("client_id", clientID)
		f.Set("client_secret", clientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server+TokenPath, strings.NewReader(f.Encode()))
	if err != nil {
		return Token{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	res, err := hc.Do(req)
	if err != nil {
		return Token{}, fmt.Errorf("sign-in at %s: %w", server, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return Token{}, fmt.Errorf("sign-in at %s: %w", server, err)
	}
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return Token{}, fmt.Errorf("sign-in at %s: HTTP %d, not a token answer", server, res.StatusCode)
	}
	if res.StatusCode != http.StatusOK || body.AccessToken == "" {
		return Token{}, fmt.Errorf("%w: %s: %s", ErrSignIn, body.Error, body.Description)
	}
	return Token{AccessToken: body.AccessToken, ExpiresOn: start.Add(time.Duration(body.ExpiresIn) * time.Second)}, nil
}

// audience reads the token audience server publishes in
// /metadata/endpoints.
func audience(ctx context.Context, hc *http.Client, server string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/metadata/endpoints?api-version=2015-01-01", nil)
	if err != nil {
		return "", err
	}
	res, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("sign-in at %s: %w", server, err)
	}
	defer res.Body.Close()
	var m struct {
		Authentication struct {
			Audiences []string `json:"audiences"`
		} `json:"authentication"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&m); err != nil || res.StatusCode != http.StatusOK || len(m.Authentication.Audiences) == 0 {
		return "", fmt.Errorf("sign-in at %s: no audience in /metadata/endpoints (HTTP %d)", server, res.StatusCode)
	}
	return m.Authentication.Audiences[0], nil
}
