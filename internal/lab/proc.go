package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a long-running process started in a lab namespace. It is
// identified by PID, command line and start time together, so that a PID
// reused by an unrelated process is never taken for it.
type Process struct {
	// Name is the name the process is recorded under (EnsureProcess);
	// empty for one started with StartDetached alone.
	Name string `json:"name,omitempty"`
	// Namespace is the network namespace it runs in.
	Namespace string `json:"namespace"`
	// Argv is its command line.
	Argv []string `json:"argv"`
	// LogFile receives its stdout and stderr.
	LogFile string `json:"logFile"`
	// PID is its process ID; it leads its own session and process group.
	PID int `json:"pid"`
	// StartTime is its start time in clock ticks since boot
	// (/proc/PID/stat field 22).
	StartTime uint64 `json:"startTime"`
}

// execTimeout bounds how long StartDetached waits for `ip netns exec` to
// become the command.
const execTimeout = 5 * time.Second

// startGrace is how long StartDetached watches a started command before it
// calls it running.
const startGrace = 50 * time.Millisecond

// StartDetached starts argv inside namespace ns so that it outlives the
// caller: through `ip netns exec` (which execs argv, keeping the PID), in a
// new session and process group, stdin from /dev/null and stdout and stderr
// appended to logFile. It returns once the process runs argv, or an error
// (with the log's tail) if it exits first. The caller's process reaps it if
// it exits while the caller lives; afterwards init does.
func StartDetached(ctx context.Context, ns string, argv []string, logFile string) (Process, error) {
	if len(argv) == 0 {
		return Process{}, fmt.Errorf("%w: empty command", ErrInvalid)
	}
	if !nsPresent(ns) {
		return Process{}, fmt.Errorf("%w: namespace %s", ErrNotFound, ns)
	}
	if err := os.MkdirAll(filepath.Dir(logFile), 0o700); err != nil {
		return Process{}, fmt.Errorf("lab: log directory: %w", err)
	}
	log, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return Process{}, fmt.Errorf("lab: log file: %w", err)
	}
	defer log.Close()
	var logStart int64
	if fi, err := log.Stat(); err == nil {
		logStart = fi.Size()
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		return Process{}, fmt.Errorf("lab: %w", err)
	}
	cmd := exec.Command(ip, append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Process{}, fmt.Errorf("lab: start %s in %s: %w", argv[0], ns, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	p := Process{Namespace: ns, Argv: slices.Clone(argv), LogFile: logFile, PID: cmd.Process.Pid}
	deadline := time.NewTimer(execTimeout)
	defer deadline.Stop()
	for {
		if st, ok := startTime(p.PID); ok && sameCmdline(p.PID, argv) {
			// The command runs; give one that fails at once (a bad flag, a
			// missing file) a moment to show it, so the caller gets its
			// error instead of a process that is already gone.
			select {
			case <-exited:
				return Process{}, fmt.Errorf("lab: %s in %s exited at once: %s", argv[0], ns, strings.TrimSpace(string(readFrom(logFile, logStart, 2048))))
			case <-time.After(startGrace):
			}
			p.StartTime = st
			return p, nil
		}
		select {
		case <-exited:
			return Process{}, fmt.Errorf("lab: %s in %s exited at once: %s", argv[0], ns, strings.TrimSpace(string(readFrom(logFile, logStart, 2048))))
		case <-ctx.Done():
			syscall.Kill(-p.PID, syscall.SIGKILL)
			return Process{}, ctx.Err()
		case <-deadline.C:
			syscall.Kill(-p.PID, syscall.SIGKILL)
			return Process{}, fmt.Errorf("lab: %s in %s did not start within %v", argv[0], ns, execTimeout)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// maxLogSize caps each lab process's log file; see capLog.
const maxLogSize = 8 << 20

// capLog keeps the log file path under max bytes for a process that
// appends to it (O_APPEND) and cannot be asked to reopen it: once the file
// is larger, its last max bytes move to path.1 (replacing the previous
// one) and the file is truncated, so that the process goes on writing at
// its start (copy and truncate, as logrotate's copytruncate; a line
// written between the two is lost). EnsureProcess calls it on every
// reconcile pass (every 2 s), so a process's logs take at most 2×max plus
// what it writes in one pass, whatever it logs: a flood of packets cannot
// fill the disk. A missing file is no error.
func capLog(path string, max int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() <= max {
		return err
	}
	tmp, err := os.OpenFile(path+".1.tmp", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, io.NewSectionReader(f, fi.Size()-max, max))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(path+".1.tmp", path+".1")
	}
	if err != nil {
		os.Remove(path + ".1.tmp")
		return fmt.Errorf("lab: rotating %s: %w", path, err)
	}
	return f.Truncate(0)
}

// readFrom returns up to n bytes of a file from offset off.
func readFrom(path string, off, n int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	b := make([]byte, n)
	nr, _ := f.ReadAt(b, off)
	return b[:nr]
}

// Running reports whether p is still running: its PID exists, is not a
// zombie, runs the same command line and started at the same time.
func Running(p Process) bool {
	if p.PID <= 0 {
		return false
	}
	st, ok := startTime(p.PID)
	if !ok || (p.StartTime != 0 && st != p.StartTime) {
		return false
	}
	return sameCmdline(p.PID, p.Argv)
}

// Stop ends p: SIGTERM to its process group, then SIGKILL if it is still
// running after grace. Stopping a process that is not running succeeds.
func Stop(ctx context.Context, p Process, grace time.Duration) error {
	if !Running(p) {
		return nil
	}
	syscall.Kill(-p.PID, syscall.SIGTERM)
	syscall.Kill(p.PID, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for Running(p) && time.Now().Before(deadline) {
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	for range 100 {
		if !Running(p) {
			return nil
		}
		syscall.Kill(-p.PID, syscall.SIGKILL)
		syscall.Kill(p.PID, syscall.SIGKILL)
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("lab: process %d (%s) survives SIGKILL", p.PID, p.Argv[0])
}

// startTime reads field 22 of /proc/PID/stat; false if the process is gone
// or a zombie.
func startTime(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may contain spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field 22 is f[19].
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	return st, err == nil
}

// sameCmdline reports whether /proc/PID/cmdline is argv.
func sameCmdline(pid int, argv []string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return false
	}
	got := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	return slices.Equal(got, argv)
}

// ProcessSpec describes a recorded process for EnsureProcess.
type ProcessSpec struct {
	// Name identifies the process in the lab (e.g. "agent-<namespace>"):
	// letters, digits, '.', '_' and '-'.
	Name string
	// Namespace is a lab namespace (it must exist).
	Namespace string
	// Argv is the command line.
	Argv []string
	// LogFile receives stdout and stderr; empty means
	// <state dir>/logs/<name>.log.
	LogFile string
}

// procNameRE is compiled on first use, not at every start of the binary.
var procNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`) })

// EnsureProcess makes sure the named process runs: if the recorded one
// still runs with the same namespace and command line it is returned as is;
// otherwise the old one (if running) is stopped and a new one started with
// StartDetached and recorded.
func (l *Lab) EnsureProcess(ctx context.Context, spec ProcessSpec) (Process, error) {
	if !procNameRE().MatchString(spec.Name) {
		return Process{}, fmt.Errorf("%w: process name %q", ErrInvalid, spec.Name)
	}
	if !l.names.Owns(spec.Namespace) {
		return Process{}, fmt.Errorf("%w: namespace %s is not one of the lab's", ErrInvalid, spec.Namespace)
	}
	if spec.LogFile == "" {
		spec.LogFile = filepath.Join(l.dir, "logs", spec.Name+".log")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.st.Processes[spec.Name]; ok {
		if Running(*old) && old.Namespace == spec.Namespace && slices.Equal(old.Argv, spec.Argv) {
			if err := capLog(old.LogFile, maxLogSize); err != nil {
				l.log.Warn("capping a process log", "name", spec.Name, "err", err)
			}
			return *old, nil
		}
		if err := Stop(ctx, *old, l.stopTimeout); err != nil {
			return Process{}, err
		}
		delete(l.st.Processes, spec.Name)
	}
	if err := capLog(spec.LogFile, maxLogSize); err != nil {
		l.log.Warn("capping a process log", "name", spec.Name, "err", err)
	}
	p, err := StartDetached(ctx, spec.Namespace, spec.Argv, spec.LogFile)
	if err != nil {
		if err2 := l.save(); err2 != nil {
			return Process{}, errors.Join(err, err2)
		}
		return Process{}, err
	}
	p.Name = spec.Name
	l.st.Processes[spec.Name] = &p
	if err := l.save(); err != nil {
		return p, err
	}
	l.log.Info("started process", "name", p.Name, "ns", p.Namespace, "pid", p.PID)
	return p, nil
}

// StopProcess stops the named process and forgets it. Stopping a name that
// is not recorded succeeds.
func (l *Lab) StopProcess(ctx context.Context, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.st.Processes[name]
	if !ok {
		return nil
	}
	if err := Stop(ctx, *p, l.stopTimeout); err != nil {
		return err
	}
	delete(l.st.Processes, name)
	l.log.Info("stopped process", "name", name, "pid", p.PID)
	return l.save()
}

// Processes returns the recorded processes by name, with whether each is
// running.
func (l *Lab) Processes() []ProcessStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.processStatus()
}

// ProcessStatus is a recorded process and whether it runs.
type ProcessStatus struct {
	Process
	// Running reports whether the process still runs (see Running).
	Running bool `json:"running"`
}

func (l *Lab) processStatus() []ProcessStatus {
	out := []ProcessStatus{}
	for _, name := range sortedKeys(l.st.Processes) {
		p := *l.st.Processes[name]
		out = append(out, ProcessStatus{Process: p, Running: Running(p)})
	}
	return out
}

// stopProcessesIn stops and forgets the recorded processes in namespace ns
// (before it is deleted).
func (l *Lab) stopProcessesIn(ctx context.Context, ns string) error {
	for _, name := range sortedKeys(l.st.Processes) {
		p := l.st.Processes[name]
		if p.Namespace != ns {
			continue
		}
		if err := Stop(ctx, *p, l.stopTimeout); err != nil {
			return err
		}
		delete(l.st.Processes, name)
	}
	return nil
}
