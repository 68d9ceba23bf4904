package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vpngw/vpngw/internal/armerr"
)

// clockSkew is how far a token's exp and nbf may be off, as Azure allows.
const clockSkew = 5 * time.Minute

// principalKey is the context key of the authenticated principal.
type principalKey struct{}

// PrincipalFrom returns the principal Authenticate let through with r.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Authenticate returns next behind the token check: a request passes with
// a valid bearer token (or session cookie) of a principal that still
// exists, and reaches next with the principal in its context
// (PrincipalFrom). Requests for which open returns true pass without one
// (/metadata/endpoints, the portal's sign-in page). A refused request for
// which pages returns true (a portal page) is redirected to signInPage.
func (i *Issuer) Authenticate(next http.Handler, open, pages func(*http.Request) bool, signInPage string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if open != nil && open(r) {
			next.ServeHTTP(w, r)
			return
		}
		p, err := i.Check(r)
		if err != nil {
			if pages != nil && pages(r) {
				// A browser's page load: to the sign-in page, and back.
				http.Redirect(w, r, signInPage+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			i.refuse(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// errorDescriptionMissingToken is Azure's WWW-Authenticate description for
// a request without a token.
const errorDescriptionMissingToken = "The authentication failed because of missing 'Authorization' header."

// Check returns the principal of r's bearer token, or the ARM error
// (401) that refuses it.
func (i *Issuer) Check(r *http.Request) (Principal, *armerr.Error) {
	if i.cfg.Vouched != nil {
		if oid, ok := i.cfg.Vouched(r); ok {
			p, found := i.find(func(q *Principal) bool { return q.ObjectID == oid })
			if !found {
				return Principal{}, armerr.Errorf(armerr.CodeInvalidToken, "", "The access token's principal '%s' does not exist (any more).", oid)
			}
			return p, nil
		}
	}
	h := r.Header.Get("Authorization")
	if c, err := r.Cookie(SessionCookie); h == "" && err == nil && c.Value != "" {
		h = "Bearer " + c.Value
	}
	if h == "" {
		return Principal{}, armerr.Errorf(armerr.CodeAuthenticationFailed, "", "Authentication failed. The 'Authorization' header is missing.")
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return Principal{}, armerr.Errorf(armerr.CodeAuthenticationFailed, "", "Authentication failed. The 'Authorization' header is provided in an invalid format.")
	}
	c, err := parseToken(strings.TrimSpace(tok), &i.key.PublicKey, i.kid)
	if err != nil {
		msg := "The access token is invalid."
		if errors.Is(err, ErrSignature) {
			msg = "The access token has an invalid signature."
		}
		return Principal{}, armerr.Errorf(armerr.CodeInvalidToken, "", "%s", msg)
	}
	now := i.cfg.Now()
	if exp := time.Unix(c.Expiry, 0); !now.Before(exp.Add(clockSkew)) {
		return Principal{}, armerr.Errorf(armerr.CodeExpiredToken, "", "The access token expiry UTC time '%s' is earlier than current UTC time '%s'.",
			exp.UTC().Format("1/2/2006 3:04:05 PM"), now.UTC().Format("1/2/2006 3:04:05 PM"))
	}
	if nbf := time.Unix(c.NotBefore, 0); now.Add(clockSkew).Before(nbf) {
		return Principal{}, armerr.Errorf(armerr.CodeInvalidToken, "", "The access token is not yet valid.")
	}
	eps := []string{i.cfg.Endpoint(r)}
	if i.cfg.Configured != "" && i.cfg.Configured != eps[0] {
		eps = append(eps, i.cfg.Configured)
	}
	audOK, issOK := false, false
	var allowed []string
	for _, ep := range eps {
		allowed = append(allowed, Audience(ep), strings.TrimSuffix(Audience(ep), "/"))
		audOK = audOK || strings.EqualFold(strings.TrimRight(c.Audience, "/"), ep)
		issOK = issOK || c.Issuer == Authority(ep)
	}
	if !audOK {
		return Principal{}, armerr.Errorf(armerr.CodeInvalidTokenAudience, "", "The access token has been obtained for wrong audience or resource '%s'. It should exactly match with one of the allowed audiences '%s'.",
			c.Audience, strings.Join(allowed, "','"))
	}
	if !issOK {
		return Principal{}, armerr.Errorf(armerr.CodeInvalidTokenIssuer, "", "The access token is from the wrong issuer '%s'. It must match the tenant '%s' associated with this subscription.",
			c.Issuer, Authority(eps[0]))
	}
	p, ok := i.find(func(q *Principal) bool { return q.ObjectID == c.ObjectID })
	if !ok {
		return Principal{}, armerr.Errorf(armerr.CodeInvalidToken, "", "The access token's principal '%s' does not exist (any more).", c.ObjectID)
	}
	return p, nil
}

// refuse answers 401 with err and Azure's WWW-Authenticate header.
func (i *Issuer) refuse(w http.ResponseWriter, r *http.Request, err *armerr.Error) {
	desc := "The access token is invalid."
	if err.Code == armerr.CodeAuthenticationFailed {
		desc = errorDescriptionMissingToken
	} else if err.Code == armerr.CodeExpiredToken {
		desc = "The access token expired."
	}
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization_uri="%s", error="invalid_token", error_description="%s"`,
		Authority(i.cfg.Endpoint(r)), desc))
	err.Status = http.StatusUnauthorized
	armerr.Write(w, err)
}
