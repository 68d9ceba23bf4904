package agentapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// PollWait is how long the client asks the control plane to hold a long
// poll; a request gives up PollWait + 10 s after it started.
const PollWait = 25 * time.Second

// Client is an instance's side of the agent API.
type Client struct {
	instance string
	token    string
	base     string
	http     *http.Client
	// rep carries the reports (reportconn.go); http the rest.
	rep *reportConn
}

// NewClient returns a client of the control plane at server
// (https://host:port, http://host:port or unix:///path/to/socket) for the
// instance named instance; token may be empty. roots verify an https
// server (nil: the system's roots).
func NewClient(server, instance, token string, roots *x509.CertPool) (*Client, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("agentapi: --server %q: %w", server, err)
	}
	c := &Client{instance: instance, token: token}
	tlsConf := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	tr := &http.Transport{MaxIdleConns: 2, IdleConnTimeout: time.Minute, TLSClientConfig: tlsConf}
	host := u.Host
	var dial func(ctx context.Context) (net.Conn, error)
	switch u.Scheme {
	case "unix":
		path := u.Path
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		c.base, host = "http://vpngw", "vpngw"
		dial = rawIODial(func(ctx context.Context) (net.Conn, error) { return tr.DialContext(ctx, "unix", path) })
	case "http", "https":
		c.base = strings.TrimSuffix(server, "/")
		addr := u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
		}
		dial = func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}
		dial = rawIODial(dial)
		if u.Scheme == "https" {
			dial = tlsDial(dial, u.Hostname(), tlsConf)
		}
	default:
		return nil, fmt.Errorf("agentapi: --server %q: want http://, https:// or unix://", server)
	}
	c.http = &http.Client{Transport: tr}
	c.rep = newReportConn(host, StatusPath(instance), token, dial)
	return c, nil
}

// Close closes the client's idle connections; a request made afterwards
// opens new ones.
func (c *Client) Close() {
	c.rep.mu.Lock()
	c.rep.close()
	c.rep.mu.Unlock()
	c.http.CloseIdleConnections()
}

// HTTPError is a non-2xx answer of the agent API.
type HTTPError struct {
	// Code is the HTTP status: 401 for a refused token, 404 for an
	// unknown instance, 410 for a deleted one.
	Code int
	msg  string
}

func (e *HTTPError) Error() string { return e.msg }

// Fetch long-polls for an assignment newer than revision after. It returns
// nil, nil when there is none within PollWait.
func (c *Client) Fetch(ctx context.Context, after int64) (*Assignment, error) {
	ctx, cancel := context.WithTimeout(ctx, PollWait+10*time.Second)
	defer cancel()
	var a Assignment
	code, err := c.do(ctx, http.MethodGet, ConfigPath(c.instance, after, PollWait), nil, &a)
	if err != nil {
		return nil, err
	}
	if code == http.StatusNoContent {
		return nil, nil
	}
	return &a, nil
}

// ErrStatusNeeded is Report's error for a heartbeat (Report.Unchanged) or a
// delta (Report.Delta) whose status version (base version) the control
// plane does not hold: the instance must send its full status.
var ErrStatusNeeded = errors.New("agentapi: the control plane does not hold this status version; send the full status")

// Report sends the instance's report. It returns the status version the
// control plane holds after it (StatusSeqHeader; 0 when it holds none or
// predates versions). A heartbeat it cannot match is ErrStatusNeeded.
func (c *Client) Report(ctx context.Context, rep Report) (uint64, error) {
	b, err := json.Marshal(rep)
	if err != nil {
		return 0, err
	}
	a, err := c.putReport(ctx, b)
	return a.held, err
}

// reportAnswer is what the control plane's answer to a report says.
type reportAnswer struct {
	// held is the status version it holds (StatusSeqHeader; 0: none).
	held uint64
	// deltas says it takes deltas (StatusDeltaHeader).
	deltas bool
}

// putReport sends an encoded Report (see Report).
func (c *Client) putReport(ctx context.Context, body []byte) (reportAnswer, error) {
	var a reportAnswer
	code, err := c.rep.put(ctx, body, func(h http.Header) {
		a.held, _ = strconv.ParseUint(h.Get(StatusSeqHeader), 10, 64)
		a.deltas = h.Get(StatusDeltaHeader) == "1"
	})
	if code == http.StatusConflict {
		return a, fmt.Errorf("%w (%w)", ErrStatusNeeded, err)
	}
	return a, err
}

func (c *Client) do(ctx context.Context, method, path string, body any, out any) (int, error) {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return 0, err
		}
	}
	return c.send(ctx, method, path, b, out, nil)
}

// send makes one request with an encoded JSON body (nil: none), decodes
// a 200 answer's body into out (if not nil) and hands the answer's header
// to header (if not nil).
func (c *Client) send(ctx context.Context, method, path string, body []byte, out any, header func(http.Header)) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if header != nil {
		header(resp.Header)
	}
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, &HTTPError{Code: resp.StatusCode, msg: fmt.Sprintf("agent: %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))}
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode, nil
}
