package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpngw/vpngw/internal/server"
	"github.com/vpngw/vpngw/internal/tlsca"
)

// caFileFor is the CA file the CLI trusts: flag, else $VPNGW_CA_FILE, else
// the CA of a server on this host with the default data directory when
// that file exists ("" when none: the system's roots only).
func caFileFor(e *env, flag string) string {
	if flag != "" {
		return flag
	}
	if f := e.getenv("VPNGW_CA_FILE"); f != "" {
		return f
	}
	dir, err := defaultDataDir(e)
	if err != nil {
		return ""
	}
	f := server.CAFile(dir)
	if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) || err != nil {
		return ""
	}
	return f
}

// httpClient is the CLI's HTTP client: it trusts the system's roots plus
// the CA caFileFor names. With a CA file, a server is first verified
// against that file's certificates alone, and the system's roots are
// loaded only for a server whose chain does not end there (see
// rootsTransport): parsing them costs 30–50 ms of CPU, a third of a short
// command, and a vpngw serve with its own CA never needs them.
func httpClient(e *env, caFlag string) (*http.Client, error) {
	caFile := caFileFor(e, caFlag)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// HTTP/1.1 only: a command sends a few requests one after another, and
	// setting up HTTP/2 (framer, HPACK tables, a reader goroutine) was 5%
	// of a short command's CPU. A non-nil empty TLSNextProto turns it off.
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	if caFile == "" {
		// nil RootCAs: crypto/tls loads the system's roots at the first
		// handshake.
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		return &http.Client{Transport: tr, Timeout: 2 * time.Minute}, nil
	}
	own, err := tlsca.FilePool(caFile)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: own, MinVersion: tls.VersionTLS12}
	rt := &rootsTransport{own: tr, caFile: caFile}
	return &http.Client{Transport: rt, Timeout: 2 * time.Minute}, nil
}

// rootsTransport trusts the system's roots plus a CA file's certificates,
// and builds the pool of both only when a server needs it: each request
// goes first through own (the CA file's pool only; crypto/tls's own
// verification, host name included). A handshake that fails because the
// chain ends at an unknown authority sent nothing of the request, so the
// request is sent again through all (system roots plus the file), which
// every later request then uses. A chain verifies against one pool or the
// other exactly when it verifies against their union, so this trusts what
// tlsca.Pool(caFile) trusts.
type rootsTransport struct {
	// own verifies against the CA file alone.
	own *http.Transport
	// caFile is the CA file, read again into the full pool.
	caFile string
	// loadAll builds the full pool from caFile; nil is tlsca.Pool (tests
	// stand in their own "system" root).
	loadAll func(caFile string) (*x509.CertPool, error)
	// useAll is set once a server's chain did not verify against own.
	useAll atomic.Bool
	// once builds all (or allErr).
	once   sync.Once
	all    *http.Transport
	allErr error
}

// RoundTrip implements http.RoundTripper.
func (t *rootsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.useAll.Load() {
		resp, err := t.own.RoundTrip(req)
		var unknown x509.UnknownAuthorityError
		if err == nil || !errors.As(err, &unknown) {
			return resp, err
		}
		if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
			return nil, err // the body is spent: cannot send it again
		}
		t.useAll.Store(true)
	}
	all, err := t.allTransport()
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		req = req.Clone(req.Context())
		req.Body = body
	}
	return all.RoundTrip(req)
}

// allTransport is own's twin trusting the system's roots and the CA file.
func (t *rootsTransport) allTransport() (*http.Transport, error) {
	t.once.Do(func() {
		load := t.loadAll
		if load == nil {
			load = tlsca.Pool
		}
		pool, err := load(t.caFile)
		if err != nil {
			t.allErr = fmt.Errorf("--ca-file: %w", err)
			return
		}
		tr := t.own.Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		t.all = tr
	})
	return t.all, t.allErr
}

// CloseIdleConnections closes both transports' idle connections (for
// http.Client.CloseIdleConnections).
func (t *rootsTransport) CloseIdleConnections() {
	t.own.CloseIdleConnections()
	if t.useAll.Load() {
		if all, err := t.allTransport(); err == nil {
			all.CloseIdleConnections()
		}
	}
}
