package identity

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/vpngw/vpngw/internal/armerr"
)

// SessionCookie is the portal's session cookie: an access token, HttpOnly,
// SameSite=Strict, Secure over HTTPS. Authenticate accepts it when a
// request has no Authorization header; the guard's Origin and JSON
// Content-Type checks keep other sites from using it.
const SessionCookie = "vpngw_session"

// signInRequest is the body of the portal's sign-in: a service principal's
// client ID and secret, or a user's name and password.
type signInRequest struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// SessionSignIn serves the portal's POST sign-in (JSON {"id","secret"}):
// a service principal or a user, as the token endpoint grants, answered
// with 204 and the session cookie, or 401 AuthenticationFailed.
func (i *Issuer) SessionSignIn(w http.ResponseWriter, r *http.Request) {
	var req signInRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxFormBytes)).Decode(&req); err != nil || req.ID == "" || req.Secret == "" {
		armerr.Write(w, armerr.Errorf(armerr.CodeInvalidRequestContent, "", "The sign-in needs a JSON body {\"id\":...,\"secret\":...}."))
		return
	}
	ep := i.cfg.Endpoint(r)
	form := url.Values{"resource": {Audience(ep)}}
	if _, ok := i.find(func(q *Principal) bool { return q.Kind == KindServicePrincipal && strings.EqualFold(q.AppID, req.ID) }); ok {
		form.Set("grant_type", "client_credentials")
		form.Set("client_id", req.ID)
		form.Set("client_secret", req.Secret)
	} else {
		form.Set("grant_type", "password")
		form.Set("username", req.ID)
		form.Set("password", req.Secret)
	}
	tr, err := http.NewRequestWithContext(r.Context(), http.MethodPost, TokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		armerr.Write(w, armerr.Errorf(armerr.CodeInternal, "", "The sign-in failed."))
		return
	}
	tr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, oe := i.grant(tr.WithContext(r.Context()), ep)
	if oe != nil {
		e := armerr.Errorf(armerr.CodeAuthenticationFailed, "", "Sign-in failed: the client ID or user name, or the secret or password, is wrong.")
		e.Status = http.StatusUnauthorized
		armerr.Write(w, e)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: res["access_token"].(string), Path: "/", HttpOnly: true,
		Secure: strings.HasPrefix(ep, "https://"), SameSite: http.SameSiteStrictMode, MaxAge: int(i.cfg.TokenLifetime.Seconds())})
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
