package server

import (
	"context"
	"net/http"
	"time"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/store"
)

// Health endpoints, for load balancers and operators (docs/ha.md). They
// sit in front of the host check and any sign-in: they reveal only the
// replica's ID, its role and its store's state.
const (
	// healthzPath answers 200 while the process serves HTTP (alive).
	healthzPath = "/healthz"
	// readyzPath answers 200 when the replica can serve the API (its
	// store answers a read), else 503.
	readyzPath = "/readyz"
)

// storeProbeTimeout bounds the store read of a health request.
const storeProbeTimeout = 2 * time.Second

// HealthStatus is the JSON body of /healthz and /readyz.
type HealthStatus struct {
	// Status is "ok", or "unavailable" when /readyz answers 503 (/healthz
	// says "ok" while the process serves).
	Status string `json:"status"`
	// Replica is this replica's ID (host name / API address).
	Replica string `json:"replica"`
	// Leader says whether this replica runs the provider and the
	// operation workers now.
	Leader bool `json:"leader"`
	// LeaderID is the leading replica's ID, when the store could tell.
	LeaderID string `json:"leaderId,omitempty"`
	// Store is the store's state.
	Store StoreHealth `json:"store"`
}

// StoreHealth is the state of a replica's store.
type StoreHealth struct {
	// Kind is "bolt" or "etcd".
	Kind string `json:"kind"`
	// State is "ok" when a read succeeded within 2 s, else "unreachable".
	State string `json:"state"`
	// Revision is the store's revision seen by that read.
	Revision int64 `json:"revision,omitempty"`
	// Error is why the read failed.
	Error string `json:"error,omitempty"`
}

// health serves the health endpoints of one replica.
type health struct {
	// el says whether this replica leads.
	el elector
	// id is the replica's ID.
	id string
	// st is the raw store (not sealed: the probe reads no secret).
	st store.Store
	// kind is StoreBolt or StoreEtcd.
	kind string
}

// storeKind is o's store kind as /readyz names it.
func storeKind(o StoreOptions) string {
	if o.Kind == StoreEtcd {
		return StoreEtcd
	}
	return StoreBolt
}

// withHealth serves the health endpoints in front of next.
func withHealth(next http.Handler, h *health) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != healthzPath && r.URL.Path != readyzPath {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			armerr.Write(w, &armerr.Error{Code: armerr.CodeMethodNotAllowed, Status: http.StatusMethodNotAllowed,
				Message: "The method " + r.Method + " is not allowed on " + r.URL.Path + "; allowed: GET, HEAD."})
			return
		}
		s := h.status(r.Context())
		code := http.StatusOK
		if r.URL.Path == readyzPath && s.Store.State != "ok" {
			s.Status, code = "unavailable", http.StatusServiceUnavailable
		}
		w.Header().Set("Cache-Control", "no-store")
		armerr.WriteJSON(w, code, s)
	})
}

// status probes the store and asks who leads.
func (h *health) status(ctx context.Context) HealthStatus {
	ctx, cancel := context.WithTimeout(ctx, storeProbeTimeout)
	defer cancel()
	s := HealthStatus{Status: "ok", Replica: h.id, Leader: h.el.Leader(), Store: StoreHealth{Kind: h.kind, State: "ok"}}
	// A List of an empty range reads the current revision only.
	_, rev, err := h.st.List(ctx, "readyz\xff")
	if err != nil {
		s.Store.State, s.Store.Error = "unreachable", err.Error()
		return s
	}
	s.Store.Revision = rev
	if l, err := h.el.LeaderInfo(ctx); err == nil {
		s.LeaderID = l.ID
	}
	return s
}
