package cli

import (
	"runtime"
	"runtime/debug"
	"slices"
)

// clientMemoryLimit is the heap at which a client command's garbage
// collector starts (see TuneRuntime).
const clientMemoryLimit = 256 << 20

// clientCommands are the top-level commands that run as a short client of
// a server: they start, send a few requests, print and exit.
var clientCommands = []string{"version", "login", "logout", "group", "network", "monitor"}

// shortLived reports whether args (without the program name) run a client
// command rather than a daemon (serve, agent) or the lab's own processes.
func shortLived(args []string) bool {
	return len(args) > 0 && slices.Contains(clientCommands, args[0])
}

// TuneRuntime sets the garbage collector (and the agent's GOMAXPROCS) for
// the process that runs args;
// main calls it before Main (tests that run Main in-process leave the
// runtime alone). A client command lives a fraction of a second and
// allocates a few MB, and collecting them is wasted work: 15% of the CPU
// of `vpngw network vpn-connection list` with 100 connections
// (docs/benchmarks.md). For those commands the collector is off until the
// heap reaches clientMemoryLimit (debug.SetMemoryLimit), so a long wait
// for an operation or a very long listing still runs in bounded memory;
// esbuild's CLI does the same. Daemons keep Go's collector defaults, and
// GOGC or GOMEMLIMIT in the environment (getenv) win.
//
// The agent on a machine with at most two CPUs runs with one P
// (agentProcs), unless GOMAXPROCS is in the environment.
func TuneRuntime(args []string, getenv func(string) string) {
	if n := agentProcs(args, getenv, runtime.GOMAXPROCS(0)); n > 0 {
		runtime.GOMAXPROCS(n)
	}
	if !shortLived(args) || getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(clientMemoryLimit)
	debug.SetGCPercent(-1)
}

// agentProcs returns the GOMAXPROCS for the process that runs args, given
// the runtime's default procs, or 0 to leave it. `vpngw agent` on a
// machine with at most two CPUs gets one P: its data plane runs every
// batch to completion in the goroutine that read it there (see
// dataplane.Config.InlineMax), so a second P adds no parallel work, only
// scheduling (likely: with an idle P the runtime wakes a spinning thread
// for every goroutine that becomes ready). With one P the two gateways of
// `make bench` carried 1.07x (one stream) and 1.10x (four streams) main's
// throughput in one run, at 0.94x / 0.89x the daemon CPU per Gbit
// (docs/benchmarks.md, udp2x). An explicit GOMAXPROCS wins.
func agentProcs(args []string, getenv func(string) string, procs int) int {
	if len(args) == 0 || args[0] != "agent" || getenv("GOMAXPROCS") != "" || procs > 2 || procs <= 1 {
		return 0
	}
	return 1
}
