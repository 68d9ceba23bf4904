// Package tstest holds what vpngw's tests share: the process reaper here,
// network namespace labs (nstest), strongSwan as a peer (swantest) and the
// vpngw binary under test (testbin), and Do, the raw HTTP request the API
// guard tests forge headers with.
//
// Every process a test starts is stopped by PID, never by name: Start
// returns a Proc with exactly one goroutine waiting for the process, so the
// test, its cleanup and a namespace's cleanup can all stop or wait for it
// without racing on exec.Cmd.Wait. The process is killed if the test
// process dies first (PR_SET_PDEATHSIG): a test binary that a timeout kills
// leaves no etcd, charon or FreeRADIUS behind holding ports, namespaces or
// the inherited file descriptors of the benchmark lock.
//
//	p := tstest.StartT(t, exec.Command("sleep", "60"), 5*time.Second)
//	...
//	if !p.Stop(syscall.SIGTERM, 5*time.Second) { t.Error("needed SIGKILL") }
package tstest

import (
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// Proc is a started process and its single waiter.
type Proc struct {
	// Cmd is the started command. Do not call Cmd.Wait: Proc does.
	Cmd *exec.Cmd

	done chan struct{} // closed when the process has exited
	err  error         // Cmd.Wait's result, valid once done is closed
}

// Start starts cmd and a goroutine that waits for it.
func Start(cmd *exec.Cmd) (*Proc, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if cmd.SysProcAttr.Pdeathsig == 0 {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The death signal fires when the thread that forked the child
		// exits, not the process: keep this goroutine on its thread for
		// the child's whole life, so that Go never retires it early.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("tstest: start %v: %w", cmd.Args, err)
	}
	return p, nil
}

// StartT starts cmd, failing the test if that fails, and stops it at
// cleanup: SIGTERM, then SIGKILL once grace has passed.
func StartT(t testing.TB, cmd *exec.Cmd, grace time.Duration) *Proc {
	t.Helper()
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(syscall.SIGTERM, grace) })
	return p
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit status (nil for exit code 0), valid once Done
// is closed.
func (p *Proc) Err() error { return p.err }

// Running reports whether the process has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Wait waits for the process to exit and returns its exit status.
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// Stop sends sig to the process (by PID), waits up to grace for it to
// exit, then sends SIGKILL and waits for it. It reports whether the
// process exited without SIGKILL (true if it had exited already).
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) bool {
	if !p.Running() {
		return true
	}
	_ = p.Cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
	}
	_ = p.Cmd.Process.Kill()
	<-p.done
	return false
}
