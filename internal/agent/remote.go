package agent

// Remote mode: the agent takes its configuration from the control plane
// (vpngw serve) instead of a file, and reports its status back.
//
//	agent ── GET  /agent/v1/instances/ID/config?after=REV  (long poll) ──► serve
//	      ◄── {revision, role, restart, config}
//	agent ── PUT  /agent/v1/instances/ID/status {revision, status} ────► serve
//
// The control plane owns desired state; the agent owns packets: when the
// control plane is unreachable the agent keeps running with its last
// configuration (also cached in the state directory, so a restarted agent
// comes back without the control plane) and retries with backoff.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Roles of an instance.
const (
	// RoleActive runs the configured connections.
	RoleActive = "active"
	// RoleStandby keeps the data plane ready but negotiates nothing (the
	// active-standby pair's second instance).
	RoleStandby = "standby"
)

// Assignment is what the control plane hands an instance.
type Assignment struct {
	// Revision increases whenever the assignment changes.
	Revision int64 `json:"revision"`
	// Role is RoleActive or RoleStandby.
	Role string `json:"role"`
	// Restart changes when the instance must restart from scratch (a
	// gateway reset): every SA is deleted and negotiated again.
	Restart int64 `json:"restart"`
	// Config is the instance's configuration (a standby's has no
	// connections).
	Config Config `json:"config"`
}

// Report is what an instance sends back.
type Report struct {
	// Revision is the assignment revision the instance runs.
	Revision int64 `json:"revision"`
	// Error is why the assignment could not be applied, if it could not.
	Error string `json:"error,omitempty"`
	// Status is the instance's status.
	Status Status `json:"status"`
}

// RemoteOptions configure RunRemote.
type RemoteOptions struct {
	// Server is the control plane's agent API: http://host:port or
	// unix:///path/to/socket.
	Server string
	// Instance is this instance's ID, as the control plane named it.
	Instance string
	// Token authenticates to the control plane (empty: none).
	Token string
	// StateDir holds the cached assignment (mode 0600: it contains keys).
	StateDir string
	// Logger receives the logs; nil is silent.
	Logger *slog.Logger
	// StatusSocket overrides the status socket path.
	StatusSocket string
}

// remote is the client side of the agent API.
type remote struct {
	opts RemoteOptions
	log  *slog.Logger
	http *http.Client
	base string
}

func newRemote(o RemoteOptions) (*remote, error) {
	r := &remote{opts: o, log: o.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(o.Server)
	if err != nil {
		return nil, fmt.Errorf("agent: --server %q: %w", o.Server, err)
	}
	tr := &http.Transport{MaxIdleConns: 2, IdleConnTimeout: time.Minute}
	switch u.Scheme {
	case "unix":
		path := u.Path
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		r.base = "http://vpngw"
	case "http", "https":
		r.base = strings.TrimSuffix(o.Server, "/")
	default:
		return nil, fmt.Errorf("agent: --server %q: want http://, https:// or unix://", o.Server)
	}
	r.http = &http.Client{Transport: tr}
	return r, nil
}

func (r *remote) do(ctx context.Context, method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return 0, err
	}
	if r.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.opts.Token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, &httpError{code: resp.StatusCode, msg: fmt.Sprintf("agent: %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))}
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode, nil
}

// fetch long-polls for an assignment newer than after.
func (r *remote) fetch(ctx context.Context, after int64) (*Assignment, error) {
	var a Assignment
	code, err := r.do(ctx, http.MethodGet, fmt.Sprintf("/agent/v1/instances/%s/config?after=%d&wait=25s", url.PathEscape(r.opts.Instance), after), nil, &a)
	if err != nil {
		return nil, err
	}
	if code == http.StatusNoContent {
		return nil, nil
	}
	return &a, nil
}

func (r *remote) report(ctx context.Context, rep Report) error {
	_, err := r.do(ctx, http.MethodPut, "/agent/v1/instances/"+url.PathEscape(r.opts.Instance)+"/status", rep, nil)
	return err
}

// httpError is a non-2xx answer of the agent API.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func (r *remote) removeCache() {
	if p := r.cachePath(); p != "" {
		_ = os.Remove(p)
	}
}

func (r *remote) cachePath() string {
	if r.opts.StateDir == "" {
		return ""
	}
	return filepath.Join(r.opts.StateDir, "agent-"+safeName(r.opts.Instance)+".json")
}

func safeName(s string) string {
	return strings.Map(func(c rune) rune {
		if c == '/' || c == '\\' || c == ' ' {
			return '_'
		}
		return c
	}, s)
}

func (r *remote) saveCache(a *Assignment) {
	p := r.cachePath()
	if p == "" {
		return
	}
	b, err := json.Marshal(a)
	if err != nil {
		return
	}
	_ = os.MkdirAll(filepath.Dir(p), 0o700)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err == nil {
		_ = os.Rename(tmp, p)
	}
}

func (r *remote) loadCache() *Assignment {
	p := r.cachePath()
	if p == "" {
		return nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	var a Assignment
	if json.Unmarshal(b, &a) != nil {
		return nil
	}
	return &a
}

// RunRemote runs an instance fed by the control plane until ctx ends.
func RunRemote(ctx context.Context, o RemoteOptions) error {
	r, err := newRemote(o)
	if err != nil {
		return err
	}
	var (
		mu       sync.Mutex
		cur      *Assignment // the assignment running (or being started)
		running  *Agent
		runDone  chan error
		runStop  context.CancelFunc
		applyErr string
		sock     string // the running instance's status socket
		reported int64  = -1
	)
	statusCh := make(chan struct{}, 1)
	poke := func() {
		select {
		case statusCh <- struct{}{}:
		default:
		}
	}
	start := func(a *Assignment) error {
		cfg := a.Config
		if o.StatusSocket != "" {
			cfg.StatusSocket = o.StatusSocket
		}
		ag, err := New(&cfg, Options{Logger: r.log, OnStatus: func(Status) { poke() }})
		if err != nil {
			return err
		}
		actx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- ag.Run(actx) }()
		go func() { _ = ServeStatus(actx, ag, cfg.StatusSocket) }()
		running, runDone, runStop, sock = ag, done, cancel, cfg.StatusSocket
		return nil
	}
	stop := func() {
		if runStop == nil {
			return
		}
		runStop()
		select {
		case err := <-runDone:
			if err != nil && !errors.Is(err, context.Canceled) {
				r.log.Warn("instance stopped with an error", "err", err)
			}
		case <-time.After(15 * time.Second):
			r.log.Error("instance did not stop in time")
		}
		running, runDone, runStop = nil, nil, nil
	}
	// apply runs an assignment: a restart or a changed local address
	// restarts the instance; anything else is a per-connection reload.
	apply := func(a *Assignment) {
		mu.Lock()
		defer mu.Unlock()
		applyErr = ""
		if a.Role == RoleStandby {
			a.Config.Connections = nil
		}
		needRestart := running == nil || cur == nil || cur.Restart != a.Restart ||
			cur.Config.LocalAddress != a.Config.LocalAddress || cur.Config.Tunnel.Device != a.Config.Tunnel.Device ||
			cur.Config.ThroughputLimitMbps != a.Config.ThroughputLimitMbps
		if needRestart {
			stop()
			if err := start(a); err != nil {
				applyErr = err.Error()
				r.log.Error("cannot start the instance", "revision", a.Revision, "err", err)
				return
			}
		} else {
			cfg := a.Config
			cfg.StatusSocket = sock
			if err := running.Reload(ctx, &cfg); err != nil {
				applyErr = err.Error()
				r.log.Error("cannot apply the assignment", "revision", a.Revision, "err", err)
				return
			}
		}
		cur = a
		r.log.Info("assignment applied", "revision", a.Revision, "role", a.Role, "connections", len(a.Config.Connections))
		poke()
	}

	if c := r.loadCache(); c != nil {
		r.log.Info("starting from the cached assignment until the control plane answers", "revision", c.Revision)
		apply(c)
	}

	// Status reporter: on every change (rate-limited) and every 2 s.
	go func() {
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			case <-statusCh:
				time.Sleep(100 * time.Millisecond)
			}
			mu.Lock()
			rep := Report{Revision: -1, Error: applyErr}
			if cur != nil {
				rep.Revision = cur.Revision
			}
			if running != nil {
				rep.Status = running.Status()
			}
			mu.Unlock()
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := r.report(rctx, rep); err != nil && ctx.Err() == nil {
				if reported != -2 {
					r.log.Warn("cannot report status to the control plane; will retry", "err", err)
				}
				reported = -2
			} else {
				reported = rep.Revision
			}
			cancel()
		}
	}()

	// Assignment poller.
	backoff := time.Second
	var after int64
	mu.Lock()
	if cur != nil {
		after = cur.Revision
	}
	mu.Unlock()
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 35*time.Second)
		a, err := r.fetch(pctx, after)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var he *httpError
			switch {
			case errors.As(err, &he) && he.code == http.StatusUnauthorized:
				r.log.Error("the control plane refused this agent's token; check --token-file", "retry_in", backoff)
			case errors.As(err, &he) && he.code == http.StatusGone:
				// The gateway was deleted: stop its tunnels, keep asking in
				// case an instance of this name comes back.
				mu.Lock()
				if running != nil {
					r.log.Warn("the control plane deleted this instance; stopping its tunnels")
					stop()
					cur = nil
					after = 0
					r.removeCache()
				}
				mu.Unlock()
			default:
				r.log.Warn("control plane unreachable; running with the last assignment", "err", err, "retry_in", backoff)
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, 15*time.Second)
			continue
		}
		backoff = time.Second
		if a == nil {
			continue
		}
		if err := a.Config.Validate(); err != nil {
			r.log.Error("control plane sent an invalid configuration", "revision", a.Revision, "err", err)
			mu.Lock()
			applyErr = err.Error()
			mu.Unlock()
			after = a.Revision
			poke()
			continue
		}
		apply(a)
		r.saveCache(a)
		after = a.Revision
	}
	mu.Lock()
	defer mu.Unlock()
	stop()
	return nil
}
