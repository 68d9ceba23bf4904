package agentapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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
	tr := &http.Transport{MaxIdleConns: 2, IdleConnTimeout: time.Minute,
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	switch u.Scheme {
	case "unix":
		path := u.Path
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		c.base = "http://vpngw"
	case "http", "https":
		c.base = strings.TrimSuffix(server, "/")
	default:
		return nil, fmt.Errorf("agentapi: --server %q: want http://, https:// or unix://", server)
	}
	c.http = &http.Client{Transport: tr}
	return c, nil
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

// Report sends the instance's report.
func (c *Client) Report(ctx context.Context, rep Report) error {
	_, err := c.do(ctx, http.MethodPut, StatusPath(c.instance), rep, nil)
	return err
}

func (c *Client) do(ctx context.Context, method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
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
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, &HTTPError{Code: resp.StatusCode, msg: fmt.Sprintf("agent: %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))}
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode, nil
}
