// Package cli builds the vpngw command tree: the server and agent daemons and
// the az-style resource commands. Each command group lives in its own file and
// registers itself through newRootCommand; nothing here keeps global state, so
// tests can run Main in-process.
package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit codes a script can rely on.
const (
	ExitOK       = 0 // success
	ExitError    = 1 // the request failed: an API error, a failed operation, a network error
	ExitUsage    = 2 // bad command line: unknown command or flag, missing required flag
	ExitNotFound = 3 // the resource does not exist (show/delete of a missing resource)
)

// usageError marks errors caused by the command line itself.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitError carries an explicit exit code.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// env is what every command needs from its surroundings; passed explicitly so
// that tests can run the CLI in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// Main runs the vpngw command line with args (without the program name) and
// returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: osGetenv}
	root := newRootCommand(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteC()
	if err == nil {
		return ExitOK
	}
	var ee exitError
	var ue usageError
	switch {
	case cmd == root && !errors.As(err, &ee) && !errors.As(err, &ue):
		// The root runs nothing itself: its errors are cobra's "unknown
		// command" and argument errors, i.e. usage errors.
		fmt.Fprintln(stderr, "ERROR:", err)
		return ExitUsage
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintln(stderr, "ERROR:", ee.err)
		}
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "ERROR:", ue.err)
		return ExitUsage
	default:
		fmt.Fprintln(stderr, "ERROR:", err)
		return ExitError
	}
}

func newRootCommand(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "vpngw",
		Short: "Self-hosted virtual network gateway with an Azure-style API",
		Long: `vpngw is a self-hosted virtual network gateway: IPsec (IKEv2, IKEv1) tunnels between
virtual networks and on-premises sites, driven by an Azure-style resource API.

  vpngw serve        run the control plane (REST API, store, reconciler)
  vpngw agent        run one gateway instance (IKE, ESP, routing)
  vpngw login        sign in to a server (the token the other commands send)
  vpngw group ...    manage resource groups
  vpngw network ...  manage network resources, in the style of 'az network'`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	for _, add := range commandGroups {
		add(root, e)
	}
	return root
}

// commandGroups lists the functions that attach each command group to the
// root. Files add to it from init-free constructors listed here, so that the
// tree is visible in one place.
var commandGroups = []func(root *cobra.Command, e *env){
	addVersionCommand,
	addServeCommand,
	addLoginCommands,
	addAgentCommand,
	addGroupCommands,
	addNetworkCommands,
	addMonitorCommands,
	addLabCommands,
}
