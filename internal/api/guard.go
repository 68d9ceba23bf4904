package api

import (
	"context"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/identity"
)

// Guard returns next behind the checks that keep a web browser from using
// the API on the operator's behalf; `vpngw serve` puts everything it serves
// on the API listener (the API and the lab's /lab/v1) behind it. A refused
// request never reaches next and is answered in ARM's error shape:
//
//   - Host must name this server (one of hosts): otherwise 400 InvalidHost.
//     A page on attacker.example whose name a DNS rebinding points at
//     127.0.0.1 sends Host: attacker.example.
//   - Origin, when present, must be http(s)://H for one of hosts: otherwise
//     403 CrossOriginRequestRefused. Browsers send Origin on every
//     cross-origin request and on every POST, PUT and PATCH.
//   - PUT, POST and PATCH, with or without a body, must carry Content-Type
//     application/json (a charset parameter, utf-8, is allowed): otherwise
//     415 UnsupportedMediaType. The forms a page can send without a CORS
//     preflight (text/plain, form encodings) are all refused, and the API
//     answers no preflight. The token endpoint (identity.TokenPath) takes
//     the form encoding OAuth 2.0 prescribes. One exception: a POST with an empty body, no
//     Content-Type and an x-ms-client-request-id header, which is what the
//     Azure SDKs send for body-less actions (reset, resetconnection); a
//     page cannot add that header without a CORS preflight, which the API
//     never grants.
//
// hosts are HOST:PORT pairs, compared case-insensitively (IPv6 addresses
// in brackets); a Host header without a port means port 80.
func Guard(next http.Handler, hosts []string) http.Handler {
	return newGuard(next, hosts, false)
}

// GuardBehindProxy is Guard for a server behind a reverse proxy it trusts
// (vpngw serve --trust-proxy): a request's X-Forwarded-Proto (http or
// https) and X-Forwarded-Host (the first of a list) say where the client
// reached the proxy, and the API builds its operation URLs and
// /metadata/endpoints from them instead of the configured endpoint. The
// forwarded host must be one of hosts too (with the forwarded scheme's
// default port when it has none), or the request is 400 InvalidHost: a
// proxy that passes a rebound name through is refused as a direct
// request would be.
func GuardBehindProxy(next http.Handler, hosts []string) http.Handler {
	return newGuard(next, hosts, true)
}

func newGuard(next http.Handler, hosts []string, trustProxy bool) *guard {
	g := &guard{next: next, hosts: make(map[string]bool, len(hosts)), trustProxy: trustProxy}
	for _, h := range hosts {
		if n, ok := normalizeHost(h, ""); ok {
			g.hosts[n] = true
		}
	}
	return g
}

type guard struct {
	next  http.Handler
	hosts map[string]bool
	// trustProxy: honour X-Forwarded-Proto and X-Forwarded-Host.
	trustProxy bool
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := g.check(r); err != nil {
		armerr.Write(w, err)
		return
	}
	if g.trustProxy {
		fw, err := g.forwarded(r)
		if err != nil {
			armerr.Write(w, err)
			return
		}
		if fw != (forwarded{}) {
			r = r.WithContext(context.WithValue(r.Context(), forwardedKey{}, fw))
		}
	}
	g.next.ServeHTTP(w, r)
}

// forwarded is what a trusted proxy said about the client's request: the
// scheme and HOST[:PORT] it reached the proxy at ("" when not said).
type forwarded struct{ scheme, host string }

// forwardedKey is the context key of a request's forwarded value.
type forwardedKey struct{}

// firstValue is the first element of a comma-separated header (proxies
// append theirs to the client's).
func firstValue(h http.Header, name string) string {
	v, _, _ := strings.Cut(h.Get(name), ",")
	return strings.TrimSpace(v)
}

// forwarded reads and checks X-Forwarded-Proto and X-Forwarded-Host.
func (g *guard) forwarded(r *http.Request) (forwarded, *armerr.Error) {
	fw := forwarded{scheme: strings.ToLower(firstValue(r.Header, "X-Forwarded-Proto")), host: firstValue(r.Header, "X-Forwarded-Host")}
	port := "80"
	switch fw.scheme {
	case "", "http":
	case "https":
		port = "443"
	default:
		return forwarded{}, errorf(http.StatusBadRequest, armerr.CodeInvalidHost, "",
			"The X-Forwarded-Proto header must be http or https.")
	}
	if fw.host != "" {
		if h, ok := normalizeHost(fw.host, port); !ok || !g.hosts[h] || strings.ContainsAny(fw.host, "/?#@ ") {
			return forwarded{}, errorf(http.StatusBadRequest, armerr.CodeInvalidHost, "",
				"The request's X-Forwarded-Host header does not name this server; add the name with vpngw serve --allowed-host.")
		}
	}
	return fw, nil
}

func (g *guard) check(r *http.Request) *armerr.Error {
	if h, ok := normalizeHost(r.Host, "80"); !ok || !g.hosts[h] {
		// The Host is not echoed: it is the attacker's text.
		return errorf(http.StatusBadRequest, armerr.CodeInvalidHost, "",
			"The request's Host header does not name this server; add the name with vpngw serve --allowed-host.")
	}
	if origin := r.Header.Get("Origin"); origin != "" && !g.sameOrigin(origin) {
		return errorf(http.StatusForbidden, armerr.CodeCrossOriginRequest, "",
			"Cross-origin requests are refused: the Origin header is not this server.")
	}
	switch r.Method {
	case http.MethodPut, http.MethodPost, http.MethodPatch:
		if sdkAction(r) || tokenRequest(r) {
			break
		}
		if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
			return errorf(http.StatusUnsupportedMediaType, armerr.CodeUnsupportedMediaType, "",
				"%s requests need Content-Type application/json (%v).", r.Method, err)
		}
	}
	return nil
}

// sdkAction reports whether r is a body-less POST action as the Azure SDKs
// send it: no body, no Content-Type, and an x-ms-client-request-id or an
// Authorization header (headers no cross-origin page can send without a
// preflight; the Go SDK sends only the latter).
func sdkAction(r *http.Request) bool {
	return r.Method == http.MethodPost && r.ContentLength == 0 && r.Header.Get("Content-Type") == "" &&
		(r.Header.Get("X-Ms-Client-Request-Id") != "" || r.Header.Get("Authorization") != "")
}

// tokenRequest reports whether r is a POST to the token endpoint
// (identity.TokenPath), which OAuth 2.0 clients send form-encoded. It
// changes nothing and its answer is only readable by the sender, and the
// Origin check still applies.
func tokenRequest(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return r.Method == http.MethodPost && r.URL.Path == identity.TokenPath && mt == "application/x-www-form-urlencoded"
}

// sameOrigin reports whether origin is http(s)://H for an allowed H.
func (g *guard) sameOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Path != "" || u.User != nil {
		return false
	}
	port := ""
	switch u.Scheme {
	case "http":
		port = "80"
	case "https":
		port = "443"
	default:
		return false
	}
	h, ok := normalizeHost(u.Host, port)
	return ok && g.hosts[h]
}

// checkJSONContentType accepts application/json with at most a utf-8
// charset parameter.
func checkJSONContentType(ct string) error {
	if ct == "" {
		return fmt.Errorf("none given")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("malformed Content-Type")
	}
	if mt != "application/json" {
		return fmt.Errorf("got %s", mt)
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return fmt.Errorf("only the parameter charset=utf-8 is accepted")
		}
	}
	return nil
}

// normalizeHost returns HOST:PORT in lower case without a trailing dot on
// the name; defPort is used when hostport has none ("" means a port is
// required).
func normalizeHost(hostport, defPort string) (string, bool) {
	if hostport == "" {
		return "", false
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		if defPort == "" || strings.Count(hostport, ":") == 1 {
			return "", false
		}
		host, port = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), defPort
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || port == "" {
		return "", false
	}
	return net.JoinHostPort(host, port), true
}
