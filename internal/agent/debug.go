package agent

import (
	"net/http"
	"net/http/pprof"
)

// debugRoutes adds Go's heap and CPU profiles to the status socket's mux
// (local, mode 0660, like the operator actions beside them), so that the
// agent's memory and CPU can be profiled under load: `curl --unix-socket
// SOCK http://x/debug/pprof/heap > heap.pprof`, or
// /debug/pprof/profile?seconds=30 for the CPU.
func debugRoutes(mux *http.ServeMux) {
	mux.Handle("GET /debug/pprof/heap", pprof.Handler("heap"))
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
}
