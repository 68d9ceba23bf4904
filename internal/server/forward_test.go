package server

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/registry"
)

// fakeElector is an elector whose answers the test sets.
type fakeElector struct {
	leading bool
	leader  replicaInfo
	err     error
}

func (e *fakeElector) Campaign(ctx context.Context) (context.Context, error) { return ctx, nil }
func (e *fakeElector) Resign(context.Context)                                {}
func (e *fakeElector) Leader() bool                                          { return e.leading }
func (e *fakeElector) Solo() bool                                            { return false }
func (e *fakeElector) LeaderInfo(context.Context) (replicaInfo, error)       { return e.leader, e.err }

// forwardPair is a follower's forwarder and a leader's API behind vouch,
// sharing one secrets key file.
type forwardPair struct {
	f      *forwarder
	el     *fakeElector
	leader *httptest.Server
	// hits counts requests that reached the leader's API.
	hits atomic.Int32
}

// leaderAnswer is what the fake leader's API answers: what it saw.
type leaderAnswer struct {
	Principal, Endpoint, Authorization, Path string
}

func newForwardPair(t *testing.T) *forwardPair {
	t.Helper()
	kf, err := registry.CreateKeyFile(filepath.Join(t.TempDir(), "secrets.key"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	p := &forwardPair{el: &fakeElector{}}
	signer := &forwardSigner{kf: kf, now: time.Now}
	p.leader = httptest.NewServer(vouch(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		oid, _ := vouchedPrincipal(r)
		armerr.WriteJSON(w, http.StatusOK, leaderAnswer{Principal: oid, Endpoint: api.RequestEndpoint(r, "http://leader.example"),
			Authorization: r.Header.Get("Authorization"), Path: r.URL.RequestURI()})
	}), signer, log))
	t.Cleanup(p.leader.Close)
	p.f = &forwarder{
		self:      replicaInfo{ID: "cp2/10.0.0.12:8480", URL: "http://10.0.0.12:8480"},
		el:        p.el,
		needs:     needsForTest,
		endpoint:  "http://follower.example:8480",
		signer:    signer,
		principal: func(*http.Request) (string, bool) { return "oid-1", true },
		log:       log,
	}
	return p
}

// do sends a request through the follower's forwarder (or, when it does
// not forward, to a 418 handler).
func (p *forwardPair) do(t *testing.T, path string, hdr http.Header) *http.Response {
	t.Helper()
	follower := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
		if !p.f.serve(w, r, local) {
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer follower.Close()
	req, _ := http.NewRequest(http.MethodGet, follower.URL+path, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func armCode(t *testing.T, resp *http.Response) (string, string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("not an ARM error (%d): %s", resp.StatusCode, b)
	}
	return e.Error.Code, e.Error.Message
}

func TestForwardToLeader(t *testing.T) {
	p := newForwardPair(t)
	p.el.leader = replicaInfo{ID: "cp1/10.0.0.11:8480", URL: p.leader.URL}
	resp := p.do(t, "/gw/instances?api-version=2024-05-01", http.Header{"Authorization": {"Bearer caller-token"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var got leaderAnswer
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := leaderAnswer{Principal: "oid-1", Endpoint: "http://follower.example:8480", Authorization: "Bearer caller-token",
		Path: "/gw/instances?api-version=2024-05-01"}
	if got != want {
		t.Errorf("the leader saw %+v, want %+v", got, want)
	}
}

func TestForwardNotNeeded(t *testing.T) {
	tests := []struct {
		name    string
		leading bool
		path    string
	}{
		{"a request the follower answers", false, "/gw"},
		{"on the leader", true, "/gw/instances"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newForwardPair(t)
			p.el.leading = tt.leading
			p.el.leader = replicaInfo{ID: "cp1", URL: p.leader.URL}
			if resp := p.do(t, tt.path, nil); resp.StatusCode != http.StatusTeapot || p.hits.Load() != 0 {
				t.Errorf("status %d, %d requests reached the leader: want served here", resp.StatusCode, p.hits.Load())
			}
		})
	}
}

func TestForwardFailures(t *testing.T) {
	deadURL := deadURL(t)
	tests := []struct {
		name     string
		leader   func(p *forwardPair) replicaInfo
		hdr      http.Header
		code     string
		inMesage string
	}{
		{"no leader known", func(*forwardPair) replicaInfo { return replicaInfo{} }, nil, CodeNotLeader, "No replica leads now"},
		{"leader unreachable", func(*forwardPair) replicaInfo { return replicaInfo{ID: "cp1/dead", URL: deadURL} }, nil,
			CodeLeaderUnreachable, "replica cp1/dead at " + deadURL + ", did not answer"},
		{"leader without URL", func(*forwardPair) replicaInfo { return replicaInfo{ID: "cp1/old"} }, nil,
			CodeLeaderUnreachable, "--advertise-url"},
		{"a second hop", func(p *forwardPair) replicaInfo { return replicaInfo{ID: "cp1", URL: p.leader.URL} },
			http.Header{hdrForwardedBy: {"cp3/10.0.0.13:8480"}}, CodeNotLeader, "no longer leads"},
		{"elected, not yet leading", func(p *forwardPair) replicaInfo { return p.f.self }, nil, CodeNotLeader, "starting to lead"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newForwardPair(t)
			p.el.leader = tt.leader(p)
			resp := p.do(t, "/gw/instances", tt.hdr)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Errorf("status %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if code, msg := armCode(t, resp); code != tt.code || !strings.Contains(msg, tt.inMesage) {
				t.Errorf("error %s %q, want %s containing %q", code, msg, tt.code, tt.inMesage)
			}
			if p.hits.Load() != 0 {
				t.Errorf("%d requests reached the leader", p.hits.Load())
			}
		})
	}
}

// TestVouchRefusesForgedForwarding: a client cannot pass as a forwarded
// request (to borrow a principal) without the replicas' key.
func TestVouchRefusesForgedForwarding(t *testing.T) {
	p := newForwardPair(t)
	other, err := registry.CreateKeyFile(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	signed := func(s *forwardSigner, mutate func(h http.Header)) http.Header {
		h := http.Header{}
		s.sign(h, "cp2", "http://follower.example", "oid-admin", http.MethodGet, "/gw/instances")
		if mutate != nil {
			mutate(h)
		}
		return h
	}
	stale := &forwardSigner{kf: p.f.signer.kf, now: func() time.Time { return time.Now().Add(-2 * forwardSkew) }}
	tests := []struct {
		name string
		hdr  http.Header
		want int
	}{
		{"valid", signed(p.f.signer, nil), http.StatusOK},
		{"no signature", http.Header{hdrForwardedBy: {"cp2"}, hdrForwardedPrincipal: {"oid-admin"}}, http.StatusUnauthorized},
		{"another key", signed(&forwardSigner{kf: other, now: time.Now}, nil), http.StatusUnauthorized},
		{"principal changed", signed(p.f.signer, func(h http.Header) { h.Set(hdrForwardedPrincipal, "oid-other") }), http.StatusUnauthorized},
		{"endpoint changed", signed(p.f.signer, func(h http.Header) { h.Set(hdrForwardedEndpoint, "http://evil.example") }), http.StatusUnauthorized},
		{"too old", signed(stale, nil), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, p.leader.URL+"/gw/instances", nil)
			req.Header = tt.hdr
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want != http.StatusOK {
				if code, _ := armCode(t, resp); code != CodeInvalidForwarding {
					t.Errorf("code %s", code)
				}
			}
		})
	}
	// Another path than the one signed.
	h := signed(p.f.signer, nil)
	req, _ := http.NewRequest(http.MethodGet, p.leader.URL+"/gw/connections", nil)
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a signature replayed on another path: %d", resp.StatusCode)
	}
}

// TestForwardLeaderCertificate: the leader's certificate is accepted when
// it is this replica's own (one --tls-cert everywhere) and refused with a
// clear 503 otherwise.
func TestForwardLeaderCertificate(t *testing.T) {
	p := newForwardPair(t)
	tlsLeader := httptest.NewTLSServer(p.leader.Config.Handler)
	defer tlsLeader.Close()
	p.el.leader = replicaInfo{ID: "cp1", URL: tlsLeader.URL}
	p.f.roots = x509.NewCertPool()
	resp := p.do(t, "/gw/instances", nil)
	if code, msg := armCode(t, resp); resp.StatusCode != http.StatusServiceUnavailable || code != CodeLeaderUnreachable || !strings.Contains(msg, "certificate") {
		t.Errorf("an untrusted leader certificate: %d %s %q", resp.StatusCode, code, msg)
	}
	p.f.pinned = tlsLeader.Certificate().Raw
	p.f.rt = nil // a new transport for the new trust
	if resp := p.do(t, "/gw/instances", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the shared certificate: status %d", resp.StatusCode)
	}
}

// needsForTest: .../instances needs the leader, .../connections prefers
// it.
func needsForTest(r *http.Request) api.LeaderNeed {
	switch {
	case strings.HasSuffix(r.URL.Path, "/instances"):
		return api.LeaderRequired
	case strings.HasSuffix(r.URL.Path, "/connections"):
		return api.LeaderPreferred
	}
	return api.LeaderNotNeeded
}

// TestForwardPreferredFallsBack: a read the leader is only preferred for
// (a connection: its connectionStatus) is answered here when no leader
// can be reached, and forwarded when one can.
func TestForwardPreferredFallsBack(t *testing.T) {
	deadURL := deadURL(t)
	tests := []struct {
		name   string
		leader func(p *forwardPair) replicaInfo
		want   int
	}{
		{"leader reachable", func(p *forwardPair) replicaInfo { return replicaInfo{ID: "cp1", URL: p.leader.URL} }, http.StatusOK},
		{"no leader known", func(*forwardPair) replicaInfo { return replicaInfo{} }, http.StatusTeapot},
		{"leader unreachable", func(*forwardPair) replicaInfo { return replicaInfo{ID: "cp1", URL: deadURL} }, http.StatusTeapot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newForwardPair(t)
			p.el.leader = tt.leader(p)
			if resp := p.do(t, "/gw/connections", nil); resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// deadURL is the URL of a loopback port nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "http://" + ln.Addr().String()
}

// FuzzForwardVerify: any forwarding headers a client may send are
// refused without panicking, unless they carry the replicas' signature.
func FuzzForwardVerify(f *testing.F) {
	kf, err := registry.CreateKeyFile(filepath.Join(f.TempDir(), "secrets.key"))
	if err != nil {
		f.Fatal(err)
	}
	s := &forwardSigner{kf: kf, now: time.Now}
	kid, _ := kf.Current()
	f.Add("cp2", "oid", "http://a.example", kid+".1700000000.AAAA")
	f.Add("", "", "", "..")
	f.Add("x", "y", "z", kid+"."+strconv.FormatInt(time.Now().Unix(), 10)+".")
	f.Fuzz(func(t *testing.T, by, principal, endpoint, sig string) {
		r := httptest.NewRequest(http.MethodGet, "/gw/instances", nil)
		r.Header.Set(hdrForwardedBy, by)
		r.Header.Set(hdrForwardedPrincipal, principal)
		r.Header.Set(hdrForwardedEndpoint, endpoint)
		r.Header.Set(hdrForwardedSignature, sig)
		if _, _, err := s.verify(r); err == nil {
			t.Fatalf("forged forwarding headers verified: %q %q %q %q", by, principal, endpoint, sig)
		}
	})
}
