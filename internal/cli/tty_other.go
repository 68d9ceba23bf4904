//go:build !linux

package cli

// isTerminal reports whether w is a terminal; only detected on Linux.
func isTerminal(any) bool { return false }
