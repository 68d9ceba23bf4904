package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/netutil"

	"github.com/vpngw/vpngw/internal/agentapi"
)

// httpLimits bound what clients can hold of one HTTP server: each
// connection's time to send its request and read the answer, and the number
// of connections served at once (more wait in the kernel's accept queue).
// The API and the agent API each have their own, on their own listener, so
// that a flood of slow API clients cannot starve the agents.
type httpLimits struct {
	// readHeader bounds reading a request's header, read its header and
	// body, write the handler's run and the writing of its answer, idle a
	// kept-alive connection's wait for the next request.
	readHeader, read, write, idle time.Duration
	// maxConns is the most connections served at once.
	maxConns int
	// maxHeaderBytes bounds a request's header.
	maxHeaderBytes int
}

// apiLimits are the ARM API's (and the lab API's, on the same listener):
// requests are small (4 MiB at most) and answered at once, except the
// lab's, whose work is bounded by 2 minutes.
var apiLimits = httpLimits{
	readHeader:     10 * time.Second,
	read:           time.Minute,
	write:          3 * time.Minute,
	idle:           2 * time.Minute,
	maxConns:       256,
	maxHeaderBytes: 64 << 10,
}

// agentLimits are the agent API's: a config request is a long poll of up
// to agentapi.MaxWait; every gateway instance holds one poll and sends
// status reports.
var agentLimits = httpLimits{
	readHeader:     10 * time.Second,
	read:           30 * time.Second,
	write:          agentapi.MaxWait + 30*time.Second,
	idle:           2 * time.Minute,
	maxConns:       1024,
	maxHeaderBytes: 64 << 10,
}

// newHTTPServer returns an http.Server for h with lim's timeouts; serve it
// on limitListener(ln, lim).
func newHTTPServer(ctx context.Context, h http.Handler, lim httpLimits, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.readHeader,
		ReadTimeout:       lim.read,
		WriteTimeout:      lim.write,
		IdleTimeout:       lim.idle,
		MaxHeaderBytes:    lim.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// limitListener serves at most lim.maxConns connections of ln at once.
func limitListener(ln net.Listener, lim httpLimits) net.Listener {
	return netutil.LimitListener(ln, lim.maxConns)
}

// errInsecureHTTP refuses --insecure-http on a non-loopback --listen.
var errInsecureHTTP = errors.New("--insecure-http: plain HTTP is served on loopback only (tokens and shared keys would cross the network in clear)")

// listenAPI opens the API's socket and returns it with the HOST:PORT names
// the API answers to (api.Guard) and the endpoint its operation URLs use.
//
// Any address is served over HTTPS; plain HTTP (o.InsecureHTTP) only on a
// loopback address. The names are the bound address; localhost, 127.0.0.1
// and [::1] when the socket accepts loopback connections; and
// o.AllowedHosts (a name without a port gets the bound port). The endpoint
// is https:// (http:// with o.InsecureHTTP) and the bound address, or the
// first allowed host when the address is a wildcard (0.0.0.0, ::), which
// then needs one.
func listenAPI(o Options, log *slog.Logger) (net.Listener, []string, string, error) {
	// Refuse plain HTTP on a literal non-loopback address before binding.
	if host, _, err := net.SplitHostPort(o.Listen); err == nil && o.InsecureHTTP {
		if ip := net.ParseIP(host); host == "" || (ip != nil && !ip.IsLoopback()) {
			return nil, nil, "", fmt.Errorf("--listen %s: %w", o.Listen, errInsecureHTTP)
		}
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, nil, "", fmt.Errorf("listen: %w", err)
	}
	hosts, endpoint, err := apiNames(ln.Addr().(*net.TCPAddr), o)
	if err != nil {
		ln.Close()
		return nil, nil, "", err
	}
	return ln, hosts, endpoint, nil
}

// apiNames is listenAPI's policy for a bound address.
func apiNames(a *net.TCPAddr, o Options) ([]string, string, error) {
	port := strconv.Itoa(a.Port)
	if o.InsecureHTTP && !a.IP.IsLoopback() {
		return nil, "", fmt.Errorf("--listen %s: %w", o.Listen, errInsecureHTTP)
	}
	var hosts []string
	if !a.IP.IsUnspecified() {
		hosts = append(hosts, net.JoinHostPort(a.IP.String(), port))
	}
	if a.IP.IsLoopback() || a.IP.IsUnspecified() {
		for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
			if hp := net.JoinHostPort(h, port); !slices.Contains(hosts, hp) {
				hosts = append(hosts, hp)
			}
		}
	}
	var extra []string
	for _, h := range o.AllowedHosts {
		hp := h
		if _, _, err := net.SplitHostPort(h); err != nil {
			hp = net.JoinHostPort(trimBrackets(h), port)
		}
		if _, p, err := net.SplitHostPort(hp); err != nil || hp == "" || p == "" {
			return nil, "", fmt.Errorf("--allowed-host %q: want HOST or HOST:PORT", h)
		}
		extra = append(extra, hp)
	}
	hosts = append(hosts, extra...)
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, "", fmt.Errorf("--endpoint %q: want http(s)://HOST[:PORT]", o.Endpoint)
		}
		hp := u.Host
		if u.Port() == "" {
			hp = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
		}
		if !slices.Contains(hosts, hp) {
			hosts = append(hosts, hp)
		}
		return hosts, u.Scheme + "://" + u.Host, nil
	}
	scheme := "https://"
	if o.InsecureHTTP {
		scheme = "http://"
	}
	switch {
	case !a.IP.IsUnspecified():
		return hosts, scheme + net.JoinHostPort(a.IP.String(), port), nil
	case len(extra) > 0:
		return hosts, scheme + extra[0], nil
	}
	return nil, "", fmt.Errorf("--listen %s binds every address: name the one clients use with --allowed-host (operation URLs are built from it)", o.Listen)
}

func trimBrackets(h string) string {
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}
