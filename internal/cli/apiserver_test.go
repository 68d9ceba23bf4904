package cli

import (
	"fmt"
	"path/filepath"

	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/identity"

	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/api/apitest"
	"github.com/vpngw/vpngw/internal/registry"
)

// testAPI is the real API server (api.Server over a bbolt store, with an
// apitest.Provisioner) behind httptest, for the command tests. In front of
// it sits a recorder that keeps every request, and that can hold an
// operation in progress for a set number of polls (holdPolls) or run a hook
// just before a request reaches the server (before). Nothing it does
// changes an answer of the server.
type testAPI struct {
	t    *testing.T
	srv  *httptest.Server
	api  *api.Server
	prov *apitest.Provisioner

	// mu guards the fields below.
	mu sync.Mutex
	// requests records every request.
	requests []apiRequest
	// opTarget maps the path of an operation status URL to the lower-cased
	// path of the request that started it.
	opTarget map[string]string
	// held maps lower-cased resource paths to their polls hold.
	held map[string]*pollHold
	// before maps "METHOD lower-cased-path" to a hook run once, before the
	// next such request reaches the server.
	before map[string]func()
}

// pollHold holds a resource's operations in progress for n polls.
type pollHold struct {
	n    int
	gate *apitest.Gate
	// polls counts the polls of each operation status path.
	polls map[string]int
}

// apiRequest is one recorded request.
type apiRequest struct {
	Method, Path, Query string
	Header              http.Header
	Body                map[string]any
}

func (r apiRequest) String() string { return r.Method + " " + r.Path }

func newTestAPI(t *testing.T) *testAPI {
	return newTestAPIWith(t, nil)
}

// newTestAPIWith starts a server with prov as its Provisioner; nil means a
// new apitest.Provisioner.
func newTestAPIWith(t *testing.T, prov api.Provisioner) *testAPI {
	a := &testAPI{t: t, opTarget: map[string]string{}, held: map[string]*pollHold{}, before: map[string]func(){}}
	if prov == nil {
		a.prov = apitest.NewProvisioner()
		prov = a.prov
	}
	// The default pool and an IPv6 prefix, for IPv6 public IPs.
	pool, err := registry.ParseAddressPool(append(registry.DefaultPublicIPPool(), "2001:db8:100::/120"))
	if err != nil {
		t.Fatal(err)
	}
	a.api = apitest.NewServer(t, api.Config{Provisioner: prov, PublicIPPool: pool})
	a.srv = httptest.NewServer(signedIn(t, http.HandlerFunc(a.serve)))
	// Cleanups run last-in first-out: the HTTP server closes before the
	// API server and store apitest registered.
	t.Cleanup(a.srv.Close)
	return a
}

// signedIn puts next behind the token check of a real token issuer, as
// vpngw serve does, and points the CLI at its administrator's credential
// ($VPNGW_CREDENTIAL_FILE, in a CLI config directory of the test's own).
// The sign-in's requests (the issuer's, and the audience from
// /metadata/endpoints, answered here) do not reach next: next records
// only the commands' own requests.
func signedIn(t *testing.T, next http.Handler) http.Handler {
	t.Helper()
	dir := t.TempDir()
	iss, _, err := identity.Open(identity.Config{Dir: dir, Endpoint: func(r *http.Request) string { return "http://" + r.Host }})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("VPNGW_CREDENTIAL_FILE", filepath.Join(dir, identity.AdminCredentialFile))
	t.Setenv("VPNGW_CONFIG_DIR", t.TempDir())
	m := http.NewServeMux()
	m.Handle(identity.AuthorityPath+"/", iss.Handler())
	m.HandleFunc("GET /metadata/endpoints", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"authentication":{"loginEndpoint":"http://%s/adfs","audiences":["http://%s/"]}}`, r.Host, r.Host)
	})
	m.Handle("/", iss.Authenticate(next, nil, nil, ""))
	return m
}

func (a *testAPI) serve(w http.ResponseWriter, r *http.Request) {
	req := apiRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone()}
	b, _ := io.ReadAll(r.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &req.Body); err != nil {
			a.t.Errorf("%s %s: body is not a JSON object: %s", r.Method, r.URL.Path, b)
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	path := strings.ToLower(r.URL.Path)

	a.mu.Lock()
	a.requests = append(a.requests, req)
	hook := a.before[r.Method+" "+path]
	delete(a.before, r.Method+" "+path)
	var release *pollHold
	if target, ok := a.opTarget[r.URL.Path]; ok && r.Method == http.MethodGet {
		if h := a.held[target]; h != nil {
			h.polls[r.URL.Path]++
			if h.polls[r.URL.Path] > h.n {
				release = h
			}
		}
	}
	a.mu.Unlock()

	if hook != nil {
		hook()
	}
	if release != nil {
		// This poll is the first past the hold: let the operation finish,
		// and answer once the server no longer says InProgress.
		release.gate.Release()
		a.serveSettled(w, r)
		return
	}
	rec := httptest.NewRecorder()
	a.api.ServeHTTP(rec, r)
	if op := rec.Header().Get("Azure-AsyncOperation"); op != "" {
		a.mu.Lock()
		a.opTarget[opPath(a.t, op)] = path
		a.mu.Unlock()
	}
	copyResponse(w, rec)
}

// serveSettled answers the operation status request r once its status is
// no longer InProgress (the unrecorded retries stay inside the test).
func (a *testAPI) serveSettled(w http.ResponseWriter, r *http.Request) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := httptest.NewRecorder()
		a.api.ServeHTTP(rec, r.Clone(r.Context()))
		var st struct{ Status string }
		json.Unmarshal(rec.Body.Bytes(), &st)
		if st.Status != api.StatusInProgress || time.Now().After(deadline) {
			copyResponse(w, rec)
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// opPath is the path of an operation URL.
func opPath(t *testing.T, u string) string {
	t.Helper()
	p, _, _ := strings.Cut(strings.TrimPrefix(u, "http://"), "?")
	if i := strings.Index(p, "/"); i >= 0 {
		return p[i:]
	}
	t.Fatalf("operation URL %q has no path", u)
	return ""
}

// holdPolls makes the operations started by requests to path (a resource,
// or a sub-resource or action of it) answer InProgress to their first n
// polls and end at the next one. The Provisioner holds the resource whose
// ID is id.
func (a *testAPI) holdPolls(path, id string, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.held[strings.ToLower(path)] = &pollHold{n: n, gate: a.prov.Hold(id), polls: map[string]int{}}
}

// beforeNext runs hook once, just before the next request with method and
// path reaches the server.
func (a *testAPI) beforeNext(method, path string, hook func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.before[method+" "+strings.ToLower(path)] = hook
}

// reqs returns the recorded requests and forgets them.
func (a *testAPI) reqs() []apiRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.requests
	a.requests = nil
	return r
}

// writes returns the recorded requests other than GETs, as "METHOD path".
func writes(reqs []apiRequest) []string {
	var out []string
	for _, r := range reqs {
		if r.Method != http.MethodGet {
			out = append(out, r.String())
		}
	}
	return out
}

// polls counts the recorded polls of operation status URLs
// (Azure-AsyncOperation).
func polls(reqs []apiRequest) int {
	n := 0
	for _, r := range reqs {
		if r.Method == http.MethodGet && strings.Contains(r.Path, "/operations/") {
			n++
		}
	}
	return n
}

// find returns the first recorded request with method and path.
func find(t *testing.T, reqs []apiRequest, method, path string) apiRequest {
	t.Helper()
	for _, r := range reqs {
		if r.Method == method && r.Path == path {
			return r
		}
	}
	t.Fatalf("no %s %s among %v", method, path, reqs)
	return apiRequest{}
}
