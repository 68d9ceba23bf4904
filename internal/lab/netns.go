package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vpngw/vpngw/internal/namedns"
)

// netnsDir is where ip-netns(8) keeps named namespaces (bind mounts of
// nsfs files).
const netnsDir = "/run/netns"

// runIP runs ip(8) with args, bounded by ctx and 30 s.
func runIP(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Exists reports whether the named network namespace exists (as ip-netns(8)
// names it).
func Exists(ns string) bool { return nsPresent(ns) }

// nsPresent reports whether the named namespace exists: its file in
// /run/netns is an nsfs mount, not a leftover empty file.
func nsPresent(name string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Join(netnsDir, name), &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// ensureNS creates the named namespace unless it exists, repairing a
// leftover mount point, and reports whether it created it. A new namespace
// has its loopback up.
func ensureNS(ctx context.Context, name string) (bool, error) {
	if nsPresent(name) {
		return false, nil
	}
	// A file that is not a namespace is what an interrupted `ip netns add`
	// leaves behind; ip refuses to add over it.
	if err := os.Remove(filepath.Join(netnsDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("lab: stale namespace file %s: %w", name, err)
	}
	h, err := namedns.Create(name)
	if err != nil {
		return false, fmt.Errorf("lab: create namespace %s: %w", name, err)
	}
	h.Close()
	if err := runIP(ctx, "-n", name, "link", "set", "lo", "up"); err != nil {
		return true, fmt.Errorf("lab: %w", err)
	}
	return true, nil
}

// deleteNS stops every process inside the named namespace (SIGTERM, then
// SIGKILL after grace, by PID) and deletes it. Deleting a namespace that does
// not exist succeeds.
func deleteNS(ctx context.Context, name string, grace time.Duration) error {
	path := filepath.Join(netnsDir, name)
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := killIn(ctx, name, grace); err != nil {
		return err
	}
	if nsPresent(name) {
		if err := netns.DeleteNamed(name); err != nil {
			return fmt.Errorf("lab: delete namespace %s: %w", name, err)
		}
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lab: stale namespace file %s: %w", name, err)
	}
	return nil
}

// listNS returns the named namespaces that the names own, sorted.
func listNS(n Names) ([]string, error) {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lab: list namespaces: %w", err)
	}
	var out []string
	for _, e := range ents {
		if n.Owns(e.Name()) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

// pidsIn returns the processes whose network namespace is the named one
// (other than this process).
func pidsIn(name string) []int {
	var want unix.Stat_t
	if err := unix.Stat(filepath.Join(netnsDir, name), &want); err != nil {
		return nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+e.Name()+"/ns/net", &st) == nil && st.Ino == want.Ino && st.Dev == want.Dev {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killIn stops every process inside the namespace: SIGTERM, then SIGKILL
// for those still there after grace. Processes are addressed by PID only.
func killIn(ctx context.Context, name string, grace time.Duration) error {
	pids := pidsIn(name)
	if len(pids) == 0 {
		return nil
	}
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for len(pidsIn(name)) > 0 && time.Now().Before(deadline) {
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	for range 50 {
		pids = pidsIn(name)
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("lab: processes %v in namespace %s survive SIGKILL", pids, name)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// sysctl is one /proc/sys setting, e.g. {"net/ipv4/ip_forward", "1"}.
type sysctl struct{ key, value string }

// setSysctls writes settings inside the named namespace. /proc/sys/net
// resolves to the namespace of the thread that opens it, so the writes run
// on a locked OS thread switched into the namespace.
func setSysctls(name string, settings []sysctl) error {
	h, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("lab: open namespace %s: %w", name, err)
	}
	defer h.Close()
	return inNS(h, func() error {
		for _, s := range settings {
			if err := os.WriteFile("/proc/sys/"+s.key, []byte(s.value), 0o644); err != nil {
				return fmt.Errorf("lab: sysctl %s=%s in %s: %w", strings.ReplaceAll(s.key, "/", "."), s.value, name, err)
			}
		}
		return nil
	})
}

// inNS runs fn on a locked OS thread switched into namespace h. If the
// thread cannot be switched back it stays locked, so the runtime discards it
// with the goroutine instead of reusing it in the wrong namespace.
func inNS(h netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("lab: current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(h); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("lab: enter namespace: %w", err)
	}
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		return errors.Join(fnErr, fmt.Errorf("lab: restore namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return fnErr
}

// routerSysctls are the settings of a namespace that forwards: forwarding
// on, reverse-path filtering off (addresses move between interfaces and
// tunnels deliver packets from anywhere), no ICMP redirects.
func routerSysctls() []sysctl {
	return append(hostSysctls(),
		sysctl{"net/ipv4/ip_forward", "1"},
		sysctl{"net/ipv4/conf/all/send_redirects", "0"},
		sysctl{"net/ipv4/conf/default/send_redirects", "0"},
	)
}

// hostSysctls are the settings of every lab namespace: reverse-path
// filtering off for interfaces created from now on and for all.
func hostSysctls() []sysctl {
	return []sysctl{
		{"net/ipv4/conf/all/rp_filter", "0"},
		{"net/ipv4/conf/default/rp_filter", "0"},
	}
}

// ifSysctls turns reverse-path filtering off on the named interfaces (they
// inherit "default", but a namespace made by someone else may differ).
func ifSysctls(ifs ...string) []sysctl {
	var out []sysctl
	for _, i := range ifs {
		out = append(out, sysctl{"net/ipv4/conf/" + i + "/rp_filter", "0"})
	}
	return out
}
