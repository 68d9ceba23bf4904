package agent

import (
	"net/http"
	"net/http/pprof"
)

// debugRoutes adds Go's heap and CPU profiles and its execution trace to
// the status socket's mux (local, mode 0660, like the operator actions
// beside them), so that the agent's memory, CPU and wake-ups can be
// profiled under load: `curl --unix-socket SOCK http://x/debug/pprof/heap >
// heap.pprof`, /debug/pprof/profile?seconds=30 for the CPU, or
// /debug/pprof/trace?seconds=5 for every goroutine's wake-ups and their
// causes (`go tool trace`).
func debugRoutes(mux *http.ServeMux) {
	mux.Handle("GET /debug/pprof/heap", pprof.Handler("heap"))
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
