package cli

import (
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

// TuneRuntime sets the garbage collector for the process that runs args;
// main calls it before Main (tests that run Main in-process leave the
// runtime alone). A client command lives a fraction of a second and
// allocates a few MB, and collecting them is wasted work: 15% of the CPU
// of `vpngw network vpn-connection list` with 100 connections
// (docs/benchmarks.md). For those commands the collector is off until the
// heap reaches clientMemoryLimit (debug.SetMemoryLimit), so a long wait
// for an operation or a very long listing still runs in bounded memory;
// esbuild's CLI does the same. Daemons keep Go's defaults, and GOGC or
// GOMEMLIMIT in the environment (getenv) win.
func TuneRuntime(args []string, getenv func(string) string) {
	if !shortLived(args) || getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(clientMemoryLimit)
	debug.SetGCPercent(-1)
}
