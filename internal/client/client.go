// Package client is a Go client for vpngw's ARM-shaped resource API (the API
// that `vpngw serve` answers). It speaks plain Azure Resource Manager: JSON
// resources addressed by resource ID, an api-version query parameter on every
// request, errors in ARM's {"error":{...}} shape and long-running operations
// that answer 201/202 and are followed through the Azure-AsyncOperation and
// Location headers.
//
// The client is deliberately untyped about resource bodies: callers pass any
// value that encodes to the ARM JSON they mean to send and decode responses
// into whatever they like (the resource package's types, or map[string]any).
// What it does own is the protocol: URLs, headers, conditional requests,
// error decoding and polling.
//
//	c, _ := client.New("http://127.0.0.1:8480")
//	p, err := c.Put(ctx, gatewayID, body, nil)
//	if err == nil {
//		err = p.Wait(ctx, nil)
//	}
//	var gw map[string]any
//	err = p.Result(&gw)
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultAPIVersion is the api-version sent with every request unless
// WithAPIVersion overrides it.
const DefaultAPIVersion = "2024-05-01"

// Polling defaults: the interval used when the server sends no Retry-After,
// and the floor and ceiling every interval is clamped to.
const (
	DefaultPollInterval = time.Second
	DefaultPollFloor    = 100 * time.Millisecond
	DefaultPollCeiling  = 30 * time.Second
)

// maxBody bounds how much of a response body the client reads.
const maxBody = 32 << 20

// Client sends requests to one vpngw API endpoint. It is safe for concurrent
// use; its settings are fixed by New.
type Client struct {
	// base is the API root, e.g. http://127.0.0.1:8480 (no trailing slash).
	base *url.URL
	// hc sends the requests.
	hc *http.Client
	// apiVersion is the api-version query parameter.
	apiVersion string
	// log receives one debug record per HTTP exchange (method, URL, status,
	// duration; never bodies, which can carry shared keys). Nil is silent.
	log *slog.Logger
	// userAgent is sent as User-Agent.
	userAgent string
	// token, when set, gives the bearer token of each request.
	token func(context.Context) (string, error)
	// pollDefault, pollFloor and pollCeiling shape the polling interval.
	pollDefault, pollFloor, pollCeiling time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the http.Client used for every request.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithAPIVersion sets the api-version query parameter.
func WithAPIVersion(v string) Option { return func(c *Client) { c.apiVersion = v } }

// WithLogger sets the logger that receives a debug record per HTTP exchange.
// Request and response bodies are never logged.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithToken sets the source of the bearer token sent with every request
// (Authorization: Bearer); it is called for each request, so it may
// refresh an expired token.
func WithToken(token func(context.Context) (string, error)) Option {
	return func(c *Client) { c.token = token }
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithPollInterval sets how long a Poller waits between polls when the server
// sends no Retry-After (def), and the floor and ceiling that every wait,
// including a server-sent Retry-After, is clamped to. Zero values keep the
// defaults.
func WithPollInterval(def, floor, ceiling time.Duration) Option {
	return func(c *Client) {
		if def > 0 {
			c.pollDefault = def
		}
		if floor > 0 {
			c.pollFloor = floor
		}
		if ceiling > 0 {
			c.pollCeiling = ceiling
		}
	}
}

// New returns a client for the API at baseURL (scheme and host, optionally a
// path prefix), e.g. "http://127.0.0.1:8480".
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: invalid server URL %q: %w", baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: invalid server URL %q: want http://host:port or https://host:port", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	c := &Client{
		base:        u,
		hc:          &http.Client{Timeout: 2 * time.Minute},
		apiVersion:  DefaultAPIVersion,
		userAgent:   "vpngw-client",
		pollDefault: DefaultPollInterval,
		pollFloor:   DefaultPollFloor,
		pollCeiling: DefaultPollCeiling,
	}
	for _, o := range opts {
		o(c)
	}
	if c.pollFloor > c.pollCeiling {
		c.pollFloor = c.pollCeiling
	}
	return c, nil
}

// BaseURL returns the API root the client talks to.
func (c *Client) BaseURL() string { return c.base.String() }

// RequestOptions are optional settings for one request.
type RequestOptions struct {
	// IfMatch is sent as If-Match: the request succeeds only if the
	// resource's current etag matches (412 PreconditionFailed otherwise).
	IfMatch string
	// IfNoneMatch is sent as If-None-Match; "*" makes a PUT create-only.
	IfNoneMatch string
	// Query holds extra query parameters (api-version is added by the client).
	Query url.Values
}

// Response is a completed HTTP exchange with a status below 400.
type Response struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Header holds the response headers.
	Header http.Header
	// Body is the response body (possibly empty).
	Body []byte
}

// ETag returns the resource's etag: the ETag header, or else the "etag"
// property of a JSON body.
func (r *Response) ETag() string {
	if t := r.Header.Get("ETag"); t != "" {
		return t
	}
	var env struct {
		Etag string `json:"etag"`
	}
	if json.Unmarshal(r.Body, &env) == nil {
		return env.Etag
	}
	return ""
}

// Decode decodes the JSON body into out. An empty body leaves out untouched.
func (r *Response) Decode(out any) error {
	if out == nil || len(bytes.TrimSpace(r.Body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.Body, out); err != nil {
		return fmt.Errorf("client: decoding response body: %w", err)
	}
	return nil
}

// Get reads the resource at path (a resource ID such as
// /subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Network/virtualNetworks/{v})
// and decodes it into out (which may be nil).
func (c *Client) Get(ctx context.Context, path string, out any) (*Response, error) {
	resp, err := c.Do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return nil, err
	}
	return resp, resp.Decode(out)
}

// List reads a collection ({"value":[...],"nextLink":...}) at path, following
// nextLink, and returns the raw items.
func (c *Client) List(ctx context.Context, path string) ([]json.RawMessage, error) {
	return listPages[json.RawMessage](ctx, c, path, func(r *Response, page any) error { return r.Decode(page) })
}

// ListValues reads a collection as List does and returns its items decoded
// as encoding/json decodes into an any, with numbers kept exact as
// json.Number. It decodes each page once (List's raw items need a second
// decoding to be used): for printing what was listed.
func (c *Client) ListValues(ctx context.Context, path string) ([]any, error) {
	return listPages[any](ctx, c, path, func(r *Response, page any) error {
		if len(bytes.TrimSpace(r.Body)) == 0 {
			return nil // as Response.Decode
		}
		d := json.NewDecoder(bytes.NewReader(r.Body))
		d.UseNumber()
		err := d.Decode(page)
		if err == nil {
			if _, end := d.Token(); end != io.EOF { // as json.Unmarshal: one value only
				err = errors.New("invalid data after the top-level value")
			}
		}
		if err != nil {
			return fmt.Errorf("client: decoding response body: %w", err)
		}
		return nil
	})
}

// listPages GETs path and each nextLink, decoding each page with decode,
// and returns the items of all pages.
func listPages[T any](ctx context.Context, c *Client, path string, decode func(r *Response, page any) error) ([]T, error) {
	var all []T
	next := path
	for range 1000 { // bound the pages: a server that links to itself must not hang us
		resp, err := c.Do(ctx, http.MethodGet, next, nil, nil)
		if err != nil {
			return nil, err
		}
		var page struct {
			Value    []T    `json:"value"`
			NextLink string `json:"nextLink"`
		}
		if err := decode(resp, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Value...)
		if page.NextLink == "" {
			return all, nil
		}
		next = page.NextLink
	}
	return nil, fmt.Errorf("client: listing %s: too many pages", path)
}

// Put creates or replaces the resource at path with body and returns a
// Poller for the operation (already done when the server answered
// synchronously).
func (c *Client) Put(ctx context.Context, path string, body any, o *RequestOptions) (*Poller, error) {
	return c.start(ctx, http.MethodPut, path, body, o)
}

// Patch updates the resource at path (ARM uses PATCH for tags) and returns a
// Poller for the operation.
func (c *Client) Patch(ctx context.Context, path string, body any, o *RequestOptions) (*Poller, error) {
	return c.start(ctx, http.MethodPatch, path, body, o)
}

// Delete deletes the resource at path and returns a Poller for the operation.
// ARM answers 204 for a resource that does not exist; that is a success.
func (c *Client) Delete(ctx context.Context, path string, o *RequestOptions) (*Poller, error) {
	return c.start(ctx, http.MethodDelete, path, nil, o)
}

// Post invokes the action at path (e.g. .../virtualNetworkGateways/{g}/reset)
// with body (nil for none) and returns a Poller for the operation.
func (c *Client) Post(ctx context.Context, path string, body any, o *RequestOptions) (*Poller, error) {
	return c.start(ctx, http.MethodPost, path, body, o)
}

func (c *Client) start(ctx context.Context, method, path string, body any, o *RequestOptions) (*Poller, error) {
	resp, err := c.Do(ctx, method, path, body, o)
	if err != nil {
		return nil, err
	}
	return c.newPoller(method, path, resp), nil
}

// Do sends one request and returns the response. body, if not nil, is sent as
// JSON (a []byte or json.RawMessage is sent as is). A status of 400 or more is
// returned as *Error; a transport failure as a wrapped error.
func (c *Client) Do(ctx context.Context, method, path string, body any, o *RequestOptions) (*Response, error) {
	u, err := c.resolve(path, o)
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		var b []byte
		switch v := body.(type) {
		case []byte:
			b = v
		case json.RawMessage:
			b = v
		default:
			if b, err = json.Marshal(body); err != nil {
				return nil, fmt.Errorf("client: encoding %s %s body: %w", method, path, err)
			}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, u, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != nil {
		tok, err := c.token(ctx)
		if err != nil {
			return nil, fmt.Errorf("client: signing in: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	// Every PUT, POST and PATCH carries the JSON Content-Type, even
	// without a body: the server refuses writes without it (see api.Guard).
	if rd != nil || method == http.MethodPut || method == http.MethodPost || method == http.MethodPatch {
		req.Header.Set("Content-Type", "application/json")
	}
	if o != nil {
		if o.IfMatch != "" {
			req.Header.Set("If-Match", o.IfMatch)
		}
		if o.IfNoneMatch != "" {
			req.Header.Set("If-None-Match", o.IfNoneMatch)
		}
	}
	start := time.Now()
	hresp, err := c.hc.Do(req)
	if err != nil {
		c.debug(method, u, 0, time.Since(start))
		return nil, fmt.Errorf("client: %s %s: %w", method, u, err)
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hresp.Body, maxBody))
	c.debug(method, u, hresp.StatusCode, time.Since(start))
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: reading response: %w", method, u, err)
	}
	if hresp.StatusCode >= 400 {
		return nil, decodeError(hresp.StatusCode, data)
	}
	return &Response{StatusCode: hresp.StatusCode, Header: hresp.Header, Body: data}, nil
}

func (c *Client) debug(method, u string, status int, d time.Duration) {
	if c.log == nil {
		return
	}
	c.log.Debug("http", "method", method, "url", u, "status", status, "duration", d.Round(time.Millisecond))
}

// resolve turns a resource path or an absolute URL (a nextLink, an operation
// URL) into the request URL, adding api-version unless already present.
func (c *Client) resolve(path string, o *RequestOptions) (string, error) {
	ref, err := url.Parse(path)
	if err != nil {
		return "", fmt.Errorf("client: invalid path %q: %w", path, err)
	}
	var u *url.URL
	if ref.IsAbs() {
		u = ref
	} else {
		if !strings.HasPrefix(ref.Path, "/") {
			return "", fmt.Errorf("client: path %q must start with /", path)
		}
		cp := *c.base
		cp.Path = c.base.Path + ref.Path
		cp.RawPath = ""
		cp.RawQuery = ref.RawQuery
		u = &cp
	}
	q := u.Query()
	if o != nil {
		for k, vs := range o.Query {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
	}
	if q.Get("api-version") == "" && c.apiVersion != "" {
		q.Set("api-version", c.apiVersion)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
