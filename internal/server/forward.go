package server

// Forwarding to the leader. Every replica answers every request; what
// only the leader knows (the live state the agents report to it: a
// connection's connectionStatus, the instances view, the BGP and
// point-to-site actions, the lab's API; api.Server.NeedsLeader) a
// follower forwards to the leader:
//
//	client ──► follower: Guard, sign-in, roles ──► forwarder ──► leader's API URL
//	                                                   │  (election value: replicaInfo.URL)
//	                                                   └─ X-Vpngw-Forwarded-{By,Endpoint,Principal,Signature}
//	leader: Guard ──► vouch (signature checked) ──► sign-in (as the vouched principal), roles ──► API
//
// The follower has signed the caller in and checked its roles; it signs
// the forwarded request (HMAC with a key derived from the secrets key
// every replica shares; forwardSigner) naming the caller's principal and
// the endpoint the caller reached. The leader checks the signature, takes
// the request as that principal (which must still exist) and checks its
// roles again, and builds its operation URLs for the caller's endpoint,
// so Location and Azure-AsyncOperation name the replica (or load
// balancer) the caller used; operations are records in the store, valid
// on every replica. The caller's headers (Authorization too) pass
// unchanged. A request that carries X-Vpngw-Forwarded-By is never
// forwarded again: if the replica it reached no longer leads, it answers
// 503 NotLeader. Failures are 503 with Retry-After: no replica leads
// (an election under way), the leader publishes no URL, the leader does
// not answer.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/identity"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/tlsca"
)

// Headers of a forwarded request. A client's own values are never
// trusted: a request with hdrForwardedBy must carry a valid signature.
const (
	// hdrForwardedBy names the replica that forwarded the request; its
	// presence means "do not forward again".
	hdrForwardedBy = "X-Vpngw-Forwarded-By"
	// hdrForwardedEndpoint is the endpoint the caller reached
	// (http(s)://HOST[:PORT]), for the leader's operation URLs.
	hdrForwardedEndpoint = "X-Vpngw-Forwarded-Endpoint"
	// hdrForwardedPrincipal is the object ID of the principal the
	// forwarding replica signed in.
	hdrForwardedPrincipal = "X-Vpngw-Forwarded-Principal"
	// hdrForwardedSignature is KEY-ID.UNIX-SECONDS.BASE64URL-HMAC over the
	// other headers, the method and the request URI.
	hdrForwardedSignature = "X-Vpngw-Forwarded-Signature"
)

// Error codes of forwarding (besides CodeNotLeader).
const (
	// CodeLeaderUnreachable: 503, the leader did not answer the
	// forwarded request (or publishes no URL to reach it at).
	CodeLeaderUnreachable = "LeaderUnreachable"
	// CodeInvalidForwarding: 401, a request claims to be forwarded by a
	// replica but its signature does not check.
	CodeInvalidForwarding = "InvalidForwardedRequest"
)

// forwardRetryAfter is the Retry-After (seconds) of forwarding's 503s:
// about the time a takeover's last step takes.
const forwardRetryAfter = "2"

// forwardSkew is how far a forwarded request's signing time may be from
// the leader's clock (replicas' clocks are synchronized; docs/ha.md).
const forwardSkew = time.Minute

// forwardKeyLabel separates the forwarding key from the sealing key it is
// derived from.
const forwardKeyLabel = "vpngw replica forwarding v1"

// forwardSigner signs and checks forwarded requests with keys derived
// from the secrets key file's keys (the same on every replica).
type forwardSigner struct {
	// kf is the secrets key file; its current key signs, any of its keys
	// checks.
	kf *registry.KeyFile
	// now is the clock.
	now func() time.Time
}

// macKey derives the forwarding key from a secrets key.
func macKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(forwardKeyLabel))
	return m.Sum(nil)
}

// mac is the signature of a forwarded request at ts.
func forwardMAC(key []byte, h http.Header, method, uri, ts string) []byte {
	m := hmac.New(sha256.New, key)
	for _, s := range []string{h.Get(hdrForwardedBy), h.Get(hdrForwardedEndpoint), h.Get(hdrForwardedPrincipal), method, uri, ts} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// sign sets the forwarding headers of a request for method and uri.
func (s *forwardSigner) sign(h http.Header, by, endpoint, principal, method, uri string) {
	h.Set(hdrForwardedBy, by)
	h.Set(hdrForwardedEndpoint, endpoint)
	h.Set(hdrForwardedPrincipal, principal)
	kid, secret := s.kf.Current()
	ts := strconv.FormatInt(s.now().Unix(), 10)
	h.Set(hdrForwardedSignature, kid+"."+ts+"."+base64.RawURLEncoding.EncodeToString(forwardMAC(macKey(secret), h, method, uri, ts)))
}

// errBadForwarding is what verify's errors wrap.
var errBadForwarding = errors.New("forwarded request")

// verify checks r's forwarding signature; it returns the principal's
// object ID and the caller's endpoint.
func (s *forwardSigner) verify(r *http.Request) (principal, endpoint string, err error) {
	parts := strings.Split(r.Header.Get(hdrForwardedSignature), ".")
	if len(parts) != 3 {
		return "", "", fmt.Errorf("%w: no signature", errBadForwarding)
	}
	secret, ok := s.kf.Lookup(parts[0])
	if !ok {
		return "", "", fmt.Errorf("%w: signed with secrets key %q, which this replica does not have", errBadForwarding, parts[0])
	}
	sec, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return "", "", fmt.Errorf("%w: bad signing time", errBadForwarding)
	}
	if d := s.now().Sub(time.Unix(sec, 0)); d > forwardSkew || d < -forwardSkew {
		return "", "", fmt.Errorf("%w: signed %v away from this replica's clock (synchronize the clocks)", errBadForwarding, d.Round(time.Second))
	}
	got, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(got, forwardMAC(macKey(secret), r.Header, r.Method, r.URL.RequestURI(), parts[1])) {
		return "", "", fmt.Errorf("%w: the signature does not match", errBadForwarding)
	}
	principal, endpoint = r.Header.Get(hdrForwardedPrincipal), r.Header.Get(hdrForwardedEndpoint)
	if principal == "" {
		return "", "", fmt.Errorf("%w: no principal", errBadForwarding)
	}
	return principal, endpoint, nil
}

// vouchedKey is the context key of a forwarded request's principal.
type vouchedKey struct{}

// vouchedPrincipal is identity.Config.Vouched: the principal a checked
// forwarded request carries.
func vouchedPrincipal(r *http.Request) (string, bool) {
	p, ok := r.Context().Value(vouchedKey{}).(string)
	return p, ok
}

// vouch serves next with forwarded requests checked: a request with
// hdrForwardedBy whose signature checks reaches next as its principal
// (vouchedPrincipal) with the caller's endpoint (api.WithRequestEndpoint);
// one whose signature does not is refused (401).
func vouch(next http.Handler, s *forwardSigner, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(hdrForwardedBy) == "" {
			next.ServeHTTP(w, r)
			return
		}
		principal, endpoint, err := s.verify(r)
		if err != nil {
			log.Warn("refused a forwarded request", "by", r.Header.Get(hdrForwardedBy), "path", r.URL.Path, "err", err)
			armerr.Write(w, &armerr.Error{Code: CodeInvalidForwarding, Status: http.StatusUnauthorized,
				Message: "The request claims to be forwarded by another replica (" + hdrForwardedBy + "), but: " + err.Error() +
					". Replicas must share --secrets-key-file."})
			return
		}
		if endpoint != "" {
			r = api.WithRequestEndpoint(r, endpoint)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), vouchedKey{}, principal)))
	})
}

// forwarder sends a follower's requests that need the leader to it.
type forwarder struct {
	// self is this replica.
	self replicaInfo
	// el says whether this replica leads and who does.
	el elector
	// needs reports how much a request needs the leader.
	needs func(*http.Request) api.LeaderNeed
	// endpoint is the configured endpoint (api.RequestEndpoint).
	endpoint string
	// signer signs the forwarded requests.
	signer *forwardSigner
	// principal is the object ID of the principal signed in for r
	// (identity.PrincipalFrom).
	principal func(r *http.Request) (string, bool)
	// roots verify the leader's API certificate (nil: the API is plain
	// HTTP); pinned is this replica's own, accepted as the leader's.
	roots  *x509.CertPool
	pinned []byte
	log    *slog.Logger

	// mu guards rt, the transport to rtURL (the last leader's URL).
	mu    sync.Mutex
	rt    *http.Transport
	rtURL string
}

// leaderInfoTimeout bounds the question who leads.
const leaderInfoTimeout = 2 * time.Second

// serve forwards r if it needs the leader and this replica does not lead;
// it reports whether it answered r. A request the leader is only
// preferred for (api.LeaderPreferred) that cannot reach one is served by
// local (its live fields Unknown) instead of a 503.
func (f *forwarder) serve(w http.ResponseWriter, r *http.Request, local http.Handler) bool {
	if f.el.Leader() {
		return false
	}
	need := f.needs(r)
	if need == api.LeaderNotNeeded {
		return false
	}
	unavailable := func(code, format string, args ...any) bool {
		if need == api.LeaderPreferred {
			f.log.Debug("no leader to forward to: answering with live fields Unknown", "path", r.URL.Path, "why", fmt.Sprintf(format, args...))
			local.ServeHTTP(w, r)
			return true
		}
		w.Header().Set("Retry-After", forwardRetryAfter)
		armerr.Write(w, &armerr.Error{Code: code, Status: http.StatusServiceUnavailable, Message: fmt.Sprintf(format, args...)})
		return true
	}
	if by := r.Header.Get(hdrForwardedBy); by != "" {
		// Forwarded here as to the leader, but the leadership moved: never
		// a second hop.
		return unavailable(CodeNotLeader, "Replica %s forwarded this request here as to the leader, but this replica no longer leads; retry.", by)
	}
	oid, ok := f.principal(r)
	if !ok {
		return false // not signed in: nothing to vouch for (open paths)
	}
	ctx, cancel := context.WithTimeout(r.Context(), leaderInfoTimeout)
	l, err := f.el.LeaderInfo(ctx)
	cancel()
	switch {
	case err != nil:
		return unavailable(CodeNotLeader, "This replica does not lead and could not learn which replica does (the store: %v); retry.", err)
	case l.ID == "":
		return unavailable(CodeNotLeader, "No replica leads now (an election is under way); this request needs the leader's live state; retry.")
	case l.ID == f.self.ID:
		return unavailable(CodeNotLeader, "This replica was elected and is starting to lead; retry.")
	case l.URL == "":
		return unavailable(CodeLeaderUnreachable, "The leader, replica %s, publishes no API URL to forward this request to (start it with --advertise-url); send the request to it.", l.ID)
	}
	target, err := url.Parse(l.URL)
	if err != nil {
		return unavailable(CodeLeaderUnreachable, "The leader, replica %s, publishes an invalid API URL %q.", l.ID, l.URL)
	}
	endpoint := api.RequestEndpoint(r, f.endpoint)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			for _, h := range []string{hdrForwardedBy, hdrForwardedEndpoint, hdrForwardedPrincipal, hdrForwardedSignature} {
				pr.Out.Header.Del(h)
			}
			f.signer.sign(pr.Out.Header, f.self.ID, endpoint, oid, pr.Out.Method, pr.Out.URL.RequestURI())
		},
		Transport: f.transport(l.URL),
		ErrorLog:  slog.NewLogLogger(f.log.Handler(), slog.LevelDebug),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			f.log.Warn("forwarding to the leader failed", "leader", l.ID, "url", l.URL, "path", r.URL.Path, "err", err)
			unavailable(CodeLeaderUnreachable, "This replica does not lead; the leader, replica %s at %s, did not answer the forwarded request: %v; retry.", l.ID, l.URL, err)
		},
	}
	f.log.Debug("forwarding to the leader", "leader", l.ID, "method", r.Method, "path", r.URL.Path)
	rp.ServeHTTP(w, r)
	return true
}

// forwardTimeout bounds a forwarded request's wait for the leader's
// answer (an action waits for the agents, well within it).
const forwardTimeout = 60 * time.Second

// transport is the client transport to the leader at u, kept while the
// leader's URL stays the same.
func (f *forwarder) transport(u string) *http.Transport {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rt != nil && f.rtURL == u {
		return f.rt
	}
	if f.rt != nil {
		f.rt.CloseIdleConnections()
	}
	var tc *tls.Config
	if f.roots != nil {
		host := ""
		if pu, err := url.Parse(u); err == nil {
			host = pu.Hostname()
		}
		tc = leaderTLS(f.roots, f.pinned, host)
	}
	f.rt = &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: forwardTimeout,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	f.rtURL = u
	return f.rt
}

// leaderTLS is the client configuration towards the leader's API at
// host: its certificate must verify for host against roots (the system's
// and this replica's own CA, the same on every replica when DATA-DIR/tls
// was copied, as docs/ha.md says), or be this replica's own serving
// certificate, pinned (one --tls-cert on every replica).
func leaderTLS(roots *x509.CertPool, pinned []byte, host string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         host,
		InsecureSkipVerify: true, // verified by VerifyConnection: chain or pin
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the leader presented no certificate")
			}
			if pinned != nil && bytes.Equal(cs.PeerCertificates[0].Raw, pinned) {
				return nil
			}
			inter := x509.NewCertPool()
			for _, pc := range cs.PeerCertificates[1:] {
				inter.AddCert(pc)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host})
			if err != nil {
				return fmt.Errorf("the leader's certificate: %w (give every replica the same CA in DATA-DIR/tls, or the same --tls-cert)", err)
			}
			return nil
		},
	}
}

// forwardRoots is the system's roots and the CA in caPEM.
func forwardRoots(caPEM []byte) *x509.CertPool {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	roots.AppendCertsFromPEM(caPEM)
	return roots
}

// advertiseURL is the replica's API URL for the others (o.AdvertiseURL,
// or http(s)://the bound address unless it is a wildcard) and hosts with
// its HOST:PORT allowed.
func advertiseURL(o Options, bound net.Addr, hosts []string) (string, []string, error) {
	scheme := "https"
	if o.InsecureHTTP {
		scheme = "http"
	}
	if o.AdvertiseURL == "" {
		a, ok := bound.(*net.TCPAddr)
		if !ok || a.IP.IsUnspecified() {
			return "", hosts, nil
		}
		return scheme + "://" + a.String(), hosts, nil
	}
	u, err := url.Parse(o.AdvertiseURL)
	if err != nil || u.Scheme != scheme || u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", nil, fmt.Errorf("--advertise-url %q: want %s://HOST:PORT (this replica's API as the other replicas reach it)", o.AdvertiseURL, scheme)
	}
	if !slices.Contains(hosts, u.Host) {
		hosts = append(hosts, u.Host)
	}
	return scheme + "://" + u.Host, hosts, nil
}

// newForwarder is the forwarder of a replica on etcd whose provider
// holds live state (nil otherwise: one replica always leads, and
// --provider none has no live state to ask the leader for).
func newForwarder(o Options, self replicaInfo, el elector, srv *api.Server, endpoint string, ca *tlsca.CA, tlsCfg *tls.Config, log *slog.Logger) (*forwarder, error) {
	if el.Solo() || (o.Provider == ProviderNone && o.provisioner == nil) {
		return nil, nil
	}
	kf, err := registry.LoadKeyFile(o.SecretsKeyFile)
	if err != nil {
		return nil, fmt.Errorf("forwarding key: %w", err)
	}
	f := &forwarder{self: self, el: el, endpoint: endpoint, signer: &forwardSigner{kf: kf, now: time.Now}, principal: signedIn, log: log}
	mounts := providerMounts(o.Provider)
	f.needs = func(r *http.Request) api.LeaderNeed {
		for _, m := range mounts {
			if strings.HasPrefix(r.URL.Path, m) {
				return api.LeaderRequired
			}
		}
		return srv.NeedsLeader(r)
	}
	if tlsCfg != nil {
		var caPEM []byte
		if ca != nil {
			if caPEM, err = os.ReadFile(ca.CertPath()); err != nil {
				return nil, fmt.Errorf("forwarding: the CA: %w", err)
			}
		}
		f.roots = forwardRoots(caPEM)
		if len(tlsCfg.Certificates) > 0 && len(tlsCfg.Certificates[0].Certificate) > 0 {
			f.pinned = tlsCfg.Certificates[0].Certificate[0]
		}
	}
	return f, nil
}

// signedIn is the object ID of the principal identity.Authenticate let
// through with r.
func signedIn(r *http.Request) (string, bool) {
	p, ok := identity.PrincipalFrom(r.Context())
	return p.ObjectID, ok
}
