package api

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
)

// maxBodyBytes bounds request bodies.
const maxBodyBytes = 4 << 20

// Config configures a Server.
type Config struct {
	// Store holds resources and operations. Required.
	Store store.Store
	// Provisioner realizes resources; nil means NoneProvisioner.
	Provisioner Provisioner
	// Logger receives the access log and diagnostics; nil is silent.
	Logger *slog.Logger
	// PublicIPPool is where public IP addresses come from; nil means
	// registry.DefaultPublicIPPool().
	PublicIPPool *registry.AddressPool
	// Endpoint is the URL clients reach the API at (scheme://host:port,
	// no path); the Azure-AsyncOperation and Location URLs are built from
	// it, never from a request's Host header. Empty: they are
	// server-relative paths.
	Endpoint string
	// RetryAfter is the poll interval suggested to clients (Retry-After);
	// 1s when 0.
	RetryAfter time.Duration
	// OperationRetention is how long finished operations stay queryable;
	// 24h when 0.
	OperationRetention time.Duration
	// Rand is the source of randomness for IDs, etags and generated keys;
	// crypto/rand when nil.
	Rand io.Reader
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// WriteLock, when set, serializes writes with the other servers
	// sharing Store (replicas on etcd): every write holds it, besides
	// this server's own lock, from validation to commit. Nil: this
	// server is the store's only writer.
	WriteLock WriteLocker
}

// WriteLocker is a writer lock shared by the servers on one store, so
// that a rule spanning resources (a VNet in use, an address space that
// must not overlap) is checked and committed with no other server's write
// in between.
type WriteLocker interface {
	// Lock returns once this server holds the lock, or an error (ctx
	// ended, the store unreachable). unlock releases it.
	Lock(ctx context.Context) (unlock func(), err error)
}

// Server is the ARM-shaped API. It is an http.Handler; Start resumes the
// operations a previous process left unfinished, Close stops operation
// goroutines.
type Server struct {
	st         store.Store
	view       resource.View
	prov       Provisioner
	log        *slog.Logger
	pool       *registry.AddressPool
	rand       io.Reader
	now        func() time.Time
	retryAfter time.Duration
	// endpoint is Config.Endpoint without a trailing slash.
	endpoint    string
	opRetention time.Duration

	routes []*route
	router *router
	// spec is the generated OpenAPI document.
	spec []byte

	// mu is the writer lock within this process: every write holds it
	// (lockWrites) from validation to commit, operation goroutines hold it
	// to commit their outcome.
	mu sync.Mutex
	// writeLock, when set, is the writer lock across the servers sharing
	// the store, taken under mu (Config.WriteLock).
	writeLock WriteLocker

	// ctx is the server's lifetime, the parent of the workers Start
	// starts; cancel is called by Close.
	ctx    context.Context
	cancel context.CancelFunc
	// opsMu guards closed, workers and running.
	opsMu sync.Mutex
	// closed is set by Close; no operation starts after it.
	closed bool
	// workers is the running term of the operation workers (workers.go);
	// nil while this server does not run operations (a follower).
	workers *workers
	// running holds the IDs of operations with a live goroutine.
	running map[string]bool

	// activity is the activity log (activity.go).
	activity activityLog
}

// New returns a Server over cfg.Store.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("api: Config.Store is required")
	}
	s := &Server{
		st:          cfg.Store,
		view:        registry.NewView(cfg.Store),
		prov:        cfg.Provisioner,
		log:         cfg.Logger,
		pool:        cfg.PublicIPPool,
		rand:        cfg.Rand,
		now:         cfg.Now,
		retryAfter:  cfg.RetryAfter,
		endpoint:    strings.TrimSuffix(cfg.Endpoint, "/"),
		opRetention: cfg.OperationRetention,
		writeLock:   cfg.WriteLock,
		running:     make(map[string]bool),
	}
	if s.prov == nil {
		s.prov = NoneProvisioner{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.pool == nil {
		p, err := registry.ParseAddressPool(registry.DefaultPublicIPPool())
		if err != nil {
			return nil, err
		}
		s.pool = p
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.endpoint != "" {
		u, err := url.Parse(s.endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
			return nil, fmt.Errorf("api: Config.Endpoint %q: want http(s)://HOST[:PORT]", cfg.Endpoint)
		}
	}
	if s.retryAfter <= 0 {
		s.retryAfter = time.Second
	}
	if s.opRetention <= 0 {
		s.opRetention = 24 * time.Hour
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.routes = s.buildRoutes()
	s.router = newRouter(s.routes)
	spec, err := json.MarshalIndent(s.openAPI(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("api: openapi: %w", err)
	}
	s.spec = spec
	return s, nil
}

// Start runs the operation workers for the server's lifetime (until
// Close): StartWorkers for a server that is always the one running
// operations (one process on its own store). ctx bounds only the scan of
// unfinished operations.
func (s *Server) Start(ctx context.Context) error { return s.startWorkers(s.ctx, ctx) }

// Close stops the operation workers (an interrupted operation is resumed
// by the next start) and waits for them. It does not close the store.
func (s *Server) Close() error {
	s.opsMu.Lock()
	s.closed = true
	s.opsMu.Unlock()
	s.cancel()
	s.StopWorkers()
	return nil
}

// OpenAPI returns the OpenAPI 3.0 document served at /openapi.json.
func (s *Server) OpenAPI() []byte { return bytes.Clone(s.spec) }

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := s.newUUID()
	corr := r.Header.Get("x-ms-correlation-request-id")
	if corr == "" {
		corr = reqID
	}
	w.Header().Set("x-ms-request-id", reqID)
	w.Header().Set("x-ms-correlation-request-id", corr)
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic serving request", "requestId", reqID, "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if sw.status == 0 {
				s.writeError(sw, reqID, internalf("panic: %v", p))
			}
		}
		// Log IDs and status only: never bodies, never the query.
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		s.log.Log(r.Context(), level, "request", "requestId", reqID, "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "duration", time.Since(start).Round(time.Microsecond))
	}()
	if req, err := s.dispatch(sw, r, reqID); err != nil {
		e := s.writeError(sw, reqID, err)
		if req != nil {
			s.logRefused(req, e)
		}
	}
}

// dispatch routes r and calls its handler. It returns the request once
// an endpoint serves it (nil before), for the activity log.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, reqID string) (*request, error) {
	segs, err := splitPath(r.URL.EscapedPath())
	if err != nil {
		return nil, err
	}
	rt, params := s.router.match(segs)
	if rt == nil {
		return nil, notFound(r.Method, segs)
	}
	ep := rt.endpoint(r.Method)
	if ep == nil {
		w.Header().Set("Allow", rt.allow())
		return nil, errorf(http.StatusMethodNotAllowed, armerr.CodeMethodNotAllowed, "",
			"The method %s is not allowed on this path; allowed: %s.", r.Method, rt.allow())
	}
	req := &request{Request: r, params: params, requestID: reqID}
	if !ep.noAPIVersion {
		v, err := checkAPIVersion(r, cmp.Or(ep.minAPIVersion, MinAPIVersion))
		if err != nil {
			return req, err
		}
		req.apiVersion = v
	}
	return req, ep.handle(w, req)
}

// endpointFor is the scheme://host[:port] the operation URLs of r's
// response are built from (RequestEndpoint).
func (s *Server) endpointFor(r *http.Request) string { return RequestEndpoint(r, s.endpoint) }

// RequestEndpoint is the scheme://host[:port] a client reached the API at
// for r: configured (the server's endpoint), or what a trusted proxy
// forwarded (GuardBehindProxy, which checked the host). Never the
// request's Host header. Operation URLs, /metadata/endpoints and the
// token issuer's URLs are built from it.
func RequestEndpoint(r *http.Request, configured string) string {
	fw, ok := r.Context().Value(forwardedKey{}).(forwarded)
	if !ok {
		return configured
	}
	scheme, host := "http", ""
	if u, err := url.Parse(configured); err == nil && configured != "" {
		scheme, host = u.Scheme, u.Host
	}
	if fw.scheme != "" {
		scheme = fw.scheme
	}
	if fw.host != "" {
		host = fw.host
	}
	if host == "" {
		return configured
	}
	return scheme + "://" + host
}

// writeError writes err in ARM's error shape and returns what it wrote.
// Internal errors are logged with the request ID and answered without
// their text.
func (s *Server) writeError(w http.ResponseWriter, reqID string, err error) *armerr.Error {
	e, internal := apiError(err)
	if internal {
		s.log.Error("internal error", "requestId", reqID, "err", err)
	}
	armerr.Write(w, e)
	return e
}

// writeJSON writes v as the JSON response body with status.
func writeJSON(w http.ResponseWriter, status int, v any) { armerr.WriteJSON(w, status, v) }

// decodeBody reads a required JSON request body into v
// (resource.DecodeStrict: unknown properties are errors).
func decodeBody(w http.ResponseWriter, r *request, v any) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	return resource.DecodeStrict(body, v)
}

// readBody reads a required JSON request body.
func readBody(w http.ResponseWriter, r *request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, errorf(http.StatusRequestEntityTooLarge, armerr.CodeRequestTooLarge, "",
			"The request body is larger than %d bytes.", maxBodyBytes)
	}
	if err != nil {
		return nil, errorf(http.StatusBadRequest, armerr.CodeInvalidRequestContent, "", "Reading the request body failed: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errorf(http.StatusBadRequest, armerr.CodeInvalidRequestContent, "", "The request body is required.")
	}
	return b, nil
}

// newUUID returns a random (version 4) UUID.
func (s *Server) newUUID() string {
	var b [16]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		// crypto/rand does not fail; a broken test reader is a bug.
		panic(fmt.Sprintf("api: reading randomness: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// newEtag returns a fresh weak etag as ARM writes them.
func (s *Server) newEtag() string { return `W/"` + s.newUUID() + `"` }

// subRE is what vpngw accepts as a subscription ID (Azure uses GUIDs; any
// token of these characters is accepted, there is no subscription
// registry). Compiled on first use, not at every start of the binary.
var subRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`) })
