package reconcile

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
)

// Hub is the control plane's side of the agent API (package agentapi): it
// hands each gateway instance its assignment (long poll) and collects the
// instances' reports.
type Hub struct {
	log *slog.Logger
	// token is the agent key: each instance presents
	// agentapi.InstanceToken(token, its ID); "" lets every request in (the
	// lab's agents, on a Unix socket only the server's user can open).
	token string

	mu      sync.Mutex
	assign  map[string]*agentapi.Assignment // desired, by instance ID
	reports map[string]*Seen                // latest report, by instance ID
	gone    map[string]time.Time            // instances removed recently (answered 410)
	// polls counts each instance's long polls in flight; closed is when
	// an instance's last one ended because its client went away (the
	// connection closed: the process exited or was killed, or the
	// instance abandoned this server), until its next request. See
	// Seen.ClosedAt.
	polls   map[string]int
	closed  map[string]time.Time
	lastRev int64
	changed chan struct{} // closed and replaced on every change
	// refusedAt is when a refused request from each remote host was last
	// logged (one line per host and minute, however often it retries).
	refusedAt map[string]time.Time
	// mux routes the agent API's requests; built once by NewHub (a mux
	// built per request cost each heartbeat its pattern parsing).
	mux *http.ServeMux
}

// Seen is an instance's latest report and when it arrived.
type Seen struct {
	agentapi.Report
	At time.Time
	// ClosedAt, when set, is when the instance's long poll ended because
	// its connection closed, with no request from it since: its process
	// exited (the kernel closes a dead process's sockets, so this comes
	// at once, where a missing heartbeat takes the failover timeout) or
	// it left this server.
	ClosedAt time.Time
}

// NewHub returns an empty hub.
func NewHub(token string, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Hub{log: log, token: token, assign: map[string]*agentapi.Assignment{}, reports: map[string]*Seen{},
		gone: map[string]time.Time{}, polls: map[string]int{}, closed: map[string]time.Time{},
		changed: make(chan struct{}), refusedAt: map[string]time.Time{},
		mux: http.NewServeMux()}
	h.mux.HandleFunc(agentapi.ConfigRoute, h.checked(h.getConfig))
	h.mux.HandleFunc(agentapi.StatusRoute, h.checked(h.putStatus))
	return h
}

// broadcast wakes every waiter (h.mu held).
func (h *Hub) broadcast() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// nextRev returns a revision above every earlier one, also across control
// plane restarts (it follows the clock).
func (h *Hub) nextRev() int64 {
	r := time.Now().UnixNano()
	if r <= h.lastRev {
		r = h.lastRev + 1
	}
	h.lastRev = r
	return r
}

func sameAssignment(a, b *agentapi.Assignment) bool {
	x, y := *a, *b
	x.Revision, y.Revision = 0, 0
	bx, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return string(bx) == string(by)
}

// Set replaces the desired assignments. Instances whose assignment changed
// get a new revision; it returns each instance's current revision.
func (h *Hub) Set(want map[string]agentapi.Assignment) map[string]int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	revs := map[string]int64{}
	changed := false
	for id, a := range want {
		a := a
		cur := h.assign[id]
		if cur == nil || !sameAssignment(cur, &a) {
			a.Revision = h.nextRev()
			h.assign[id] = &a
			changed = true
		}
		revs[id] = h.assign[id].Revision
	}
	for id := range h.assign {
		if _, ok := want[id]; !ok {
			delete(h.assign, id)
			delete(h.reports, id)
			delete(h.closed, id)
			h.gone[id] = time.Now()
			changed = true
		}
	}
	for id, at := range h.gone {
		if _, ok := want[id]; ok || time.Since(at) > time.Hour {
			delete(h.gone, id)
		}
	}
	if changed {
		h.broadcast()
	}
	return revs
}

// Report returns an instance's latest report, without its point-to-site
// clients (Status.PointToSite.Clients is nil; Clients has them).
func (h *Hub) Report(id string) (Seen, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.reports[id]
	if !ok {
		return Seen{}, false
	}
	out := *s
	out.ClosedAt = h.closed[id]
	if p := out.Status.PointToSite; p != nil {
		// The clients' list is the hub's own, changed in place by the
		// next delta (putStatus): Clients copies it.
		cp := *p
		cp.Clients = nil
		out.Status.PointToSite = &cp
	}
	return out, true
}

// Clients returns a copy of the point-to-site clients in instance id's
// latest report, sorted by name (nil: none, or no report). Report leaves
// them out: the hub merges each delta into its own list in place
// (agentapi.StatusDelta.ApplyOwned), which costs a report of one client's
// change among 10,000 no copy of the list; a reader pays for the copy
// when it asks.
func (h *Hub) Clients(id string) []agentapi.ConnectionStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.reports[id]
	if !ok || s.Status.PointToSite == nil {
		return nil
	}
	return slices.Clone(s.Status.PointToSite.Clients)
}

// Wait blocks until cond (called with the hub unlocked) returns true,
// re-checking after every change and at least every 500 ms.
func (h *Hub) Wait(ctx context.Context, cond func() bool) error {
	for {
		h.mu.Lock()
		ch := h.changed
		h.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// authorized reports whether r carries the token of the instance its
// path names (agentapi.InstanceToken of the hub's key).
func (h *Hub) authorized(r *http.Request) bool {
	if h.token == "" {
		return true
	}
	got := r.Header.Get("Authorization")
	want := "Bearer " + agentapi.InstanceToken(h.token, r.PathValue("id"))
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// ServeHTTP implements the agent API.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// checked runs next for a request with its instance's token.
func (h *Hub) checked(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.authorized(r) {
			h.logRefused(r)
			http.Error(w, "missing or wrong agent token", http.StatusUnauthorized)
			return
		}
		next(w, r)
	}
}

// logRefused logs a request refused for its token, at most once a minute
// per remote host.
func (h *Hub) logRefused(r *http.Request) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr // a Unix socket's peer has no port (often "@" or "")
	}
	now := time.Now()
	h.mu.Lock()
	last, seen := h.refusedAt[host]
	if seen && now.Sub(last) < time.Minute {
		h.mu.Unlock()
		return
	}
	if len(h.refusedAt) > 1024 {
		clear(h.refusedAt)
	}
	h.refusedAt[host] = now
	h.mu.Unlock()
	why := "wrong token"
	if r.Header.Get("Authorization") == "" {
		why = "no token"
	}
	h.log.Warn("agent API request refused: "+why+"; the agent needs --token-file with its instance's token (vpngw serve agent-token --instance ID)",
		"remote", host, "method", r.Method, "path", r.URL.Path)
}

func (h *Hub) getConfig(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	wait, err := time.ParseDuration(r.URL.Query().Get("wait"))
	if err != nil || wait > agentapi.MaxWait {
		wait = 0
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	h.mu.Lock()
	h.polls[id]++
	delete(h.closed, id)
	h.mu.Unlock()
	clientGone := false
	defer func() { h.pollEnded(id, clientGone) }()
	for {
		h.mu.Lock()
		a := h.assign[id]
		ch := h.changed
		var out agentapi.Assignment
		if a != nil {
			out = *a
		}
		h.mu.Unlock()
		// A revision above this hub's is one it never issued: another
		// control plane replica's, whose clock ran ahead of this one's
		// (revisions follow the clock). The instance gets this hub's
		// assignment at once rather than after the clock catches up.
		if a != nil && out.Revision != after {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(out)
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			if a == nil {
				// Unknown instances wait too: a new gateway's agents may
				// ask before the pass that created them hands out their
				// assignments. A deleted gateway's instances are told so.
				h.mu.Lock()
				_, wasGone := h.gone[id]
				h.mu.Unlock()
				if wasGone {
					http.Error(w, "gateway instance "+id+" was deleted", http.StatusGone)
					return
				}
				http.Error(w, "no such gateway instance: "+id, http.StatusNotFound)
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		case <-r.Context().Done():
			// The client went away: net/http cancels the request when
			// the connection closes (HTTP/1.1: its read of the idle
			// connection ends) or the stream is reset (HTTP/2).
			clientGone = true
			return
		}
	}
}

// pollEnded counts a long poll of instance id out; when its client went
// away and it was the instance's last, the instance is marked closed
// (Seen.ClosedAt) and waiters are woken.
func (h *Hub) pollEnded(id string, clientGone bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.polls[id]--; h.polls[id] > 0 {
		return
	}
	delete(h.polls, id)
	if clientGone {
		if _, known := h.reports[id]; known {
			h.closed[id] = time.Now()
			h.broadcast()
		}
	}
}

func (h *Hub) putStatus(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var rep agentapi.Report
	if err := json.NewDecoder(io.LimitReader(r.Body, agentapi.MaxReport)).Decode(&rep); err != nil {
		http.Error(w, "bad report: "+err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	if _, ok := h.assign[id]; !ok {
		h.mu.Unlock()
		http.Error(w, "no such gateway instance: "+id, http.StatusNotFound)
		return
	}
	if rep.Revision > h.assign[id].Revision {
		// Not an assignment of this hub (see getConfig): the instance
		// has not applied this hub's yet.
		rep.Revision = -1
	}
	if rep.Delta != nil {
		if err := rep.Delta.Check(); err != nil || rep.StatusSeq == 0 || rep.Unchanged {
			h.mu.Unlock()
			if err == nil {
				err = errors.New("a delta needs a statusSeq and is no heartbeat")
			}
			w.Header().Set(agentapi.StatusDeltaHeader, "1")
			http.Error(w, "bad report: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	w.Header().Set(agentapi.StatusDeltaHeader, "1")
	prev := h.reports[id]
	if rep.Delta != nil {
		// A delta: merged into the status this hub holds, if it holds
		// the base version; otherwise (as for a heartbeat) the instance
		// must send its full status.
		if prev == nil || prev.StatusSeq == 0 || prev.StatusSeq != rep.BaseSeq {
			h.mu.Unlock()
			if prev != nil && prev.StatusSeq != 0 {
				w.Header().Set(agentapi.StatusSeqHeader, strconv.FormatUint(prev.StatusSeq, 10))
			}
			http.Error(w, "status base version unknown: send the full status", http.StatusConflict)
			return
		}
		// The previous report's client list is the hub's alone (Report
		// leaves it out), so the delta is merged into it in place.
		rep.Status, rep.Delta, rep.BaseSeq = rep.Delta.ApplyOwned(prev.Status), nil, 0
	} else if p := rep.Status.PointToSite; p != nil && !rep.Unchanged && !agentapi.SortedByName(p.Clients) {
		// A full status: kept sorted by name, the order deltas merge in
		// (an instance sends it sorted; this is for one that did not).
		slices.SortStableFunc(p.Clients, func(a, b agentapi.ConnectionStatus) int { return strings.Compare(a.Name, b.Name) })
	}
	if rep.Unchanged {
		// A heartbeat: the status this hub holds, if it holds that
		// version; otherwise the instance must send it (this hub
		// restarted or took over, or the instance was re-created).
		if prev == nil || prev.StatusSeq != rep.StatusSeq {
			h.mu.Unlock()
			if prev != nil && prev.StatusSeq != 0 {
				w.Header().Set(agentapi.StatusSeqHeader, strconv.FormatUint(prev.StatusSeq, 10))
			}
			http.Error(w, "status version unknown: send the full status", http.StatusConflict)
			return
		}
		rep.Status, rep.Unchanged = prev.Status, false
	}
	h.reports[id] = &Seen{Report: rep, At: time.Now()}
	delete(h.closed, id)
	// Wake waiters only when something they may wait for changed.
	if prev == nil || prev.Revision != rep.Revision || prev.Error != rep.Error || (rep.StatusSeq == 0 || prev.StatusSeq != rep.StatusSeq) && statusDigest(prev.Status) != statusDigest(rep.Status) {
		h.broadcast()
	}
	h.mu.Unlock()
	if rep.StatusSeq != 0 {
		w.Header().Set(agentapi.StatusSeqHeader, strconv.FormatUint(rep.StatusSeq, 10))
	}
	if rep.Error != "" && (prev == nil || prev.Error != rep.Error) {
		h.log.Warn("gateway instance cannot apply its assignment", "instance", id, "revision", rep.Revision, "err", rep.Error)
	}
	w.WriteHeader(http.StatusNoContent)
}

// statusDigest summarizes what waiters care about: each connection's state.
func statusDigest(s agentapi.Status) string {
	d := ""
	for _, c := range s.Connections {
		d += c.Name + "=" + c.Status + ";"
	}
	return d
}
