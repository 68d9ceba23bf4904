package tstest

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Request is an HTTP request as a hostile or careless client sends it: the
// Host, Content-Type and Origin headers are set verbatim (empty: left to
// net/http), so tests of the API's browser guards can forge each one.
type Request struct {
	Method, URL string
	// Host overrides the Host header (DNS rebinding sends the page's name).
	Host string
	// ContentType and Origin are sent when not empty.
	ContentType, Origin string
	// Body is sent when not empty.
	Body string
	// Header holds further request headers (X-Forwarded-Host, ...).
	Header http.Header
	// Client sends the request; nil means http.DefaultClient (an HTTPS
	// server's tests pass one that trusts its CA).
	Client *http.Client
}

// Response is what Do read back: the status, the headers and the whole body.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends r with r.Client (default http.DefaultClient) and reads the
// whole response; a transport error fails the test.
func Do(t testing.TB, r Request) Response {
	t.Helper()
	var body io.Reader
	if r.Body != "" {
		body = strings.NewReader(r.Body)
	}
	req, err := http.NewRequest(r.Method, r.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	if r.Host != "" {
		req.Host = r.Host
	}
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	if r.Origin != "" {
		req.Header.Set("Origin", r.Origin)
	}
	hc := r.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", r.Method, r.URL, err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: b}
}
