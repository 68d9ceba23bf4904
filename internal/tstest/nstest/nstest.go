// Package nstest builds throw-away network labs for tests: network
// namespaces, veth links between them, processes and Go code running inside
// them, all cleaned up by the test that made them.
//
// A test that needs a lab starts with RequirePriv, which skips when the test
// is not root or namespaces are unavailable, and fails instead when
// VPNGW_REQUIRE_PRIV=1 (as `make test` and CI set it):
//
//	func TestTunnel(t *testing.T) {
//		nstest.RequirePriv(t)
//		a, b := nstest.New(t, "vdp-a"), nstest.New(t, "vdp-b")
//		nstest.Link(t, a, "wan0", netip.MustParsePrefix("192.0.2.1/24"),
//			b, "wan0", netip.MustParsePrefix("192.0.2.2/24"))
//		a.MustRun(t, "ping", "-c1", "-W1", "192.0.2.2")
//		err := b.Do(func() error { ln, err = net.Listen("tcp", ":80"); return err })
//	}
//
// Namespace names are the given prefix plus a random suffix, so parallel
// tests and concurrent test runs do not collide. Cleanup (registered with
// t.Cleanup) kills every process started through the NS by PID, then any
// process still inside the namespace by PID, and deletes the namespace
// (a namespace from Open keeps its other processes and stays);
// veth links vanish with their namespaces. Nothing is ever killed by name.
//
// Do runs Go code with the calling OS thread switched into the namespace:
// sockets, TUN devices and netlink handles created there stay in that
// namespace for their whole life, whichever goroutine uses them later.
// Goroutines started inside Do run in the original namespace.
package nstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/vpngw/vpngw/internal/namedns"

	"github.com/vpngw/vpngw/internal/tstest"
)

// EnvRequirePriv is the environment variable that turns RequirePriv's skip
// into a failure.
const EnvRequirePriv = "VPNGW_REQUIRE_PRIV"

// RequirePriv skips the test unless it runs as root with network namespace
// support and the ip(8) tool. With VPNGW_REQUIRE_PRIV=1 it fails instead of
// skipping, so that privileged tests cannot silently stop running in CI.
func RequirePriv(t testing.TB) {
	t.Helper()
	if reason := privMissing(); reason != "" {
		Missing(t, "privileged test cannot run: %s", reason)
	}
}

// Missing ends a privileged test that lacks something it needs (a tool, a
// package): it skips, or fails when VPNGW_REQUIRE_PRIV=1.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(EnvRequirePriv) == "1" {
		t.Fatalf("%s (and %s=1)", msg, EnvRequirePriv)
	}
	t.Skip(msg)
}

var (
	privOnce   sync.Once
	privReason string
)

func privMissing() string {
	privOnce.Do(func() {
		switch {
		case runtime.GOOS != "linux":
			privReason = "not Linux"
		case os.Geteuid() != 0:
			privReason = "not root"
		default:
			if _, err := exec.LookPath("ip"); err != nil {
				privReason = "ip(8) not found"
				return
			}
			if _, err := os.Stat("/proc/self/ns/net"); err != nil {
				privReason = "no network namespaces"
			}
		}
	})
	return privReason
}

// NS is a network namespace used by one test (created by New, or made by
// someone else and opened with Open).
type NS struct {
	// Name is the namespace's name as `ip netns` knows it.
	Name string

	t      testing.TB
	handle netns.NsHandle

	owned bool // created by New: deleted at cleanup

	mu    sync.Mutex // guards procs
	procs []tracked  // started processes, stopped at cleanup
}

// tracked is a process Start started, with its grace between SIGTERM and
// SIGKILL at cleanup.
type tracked struct {
	p     *tstest.Proc
	grace time.Duration
}

// New creates a namespace named prefix-<random>, brings its loopback up and
// registers its removal with t.Cleanup. The prefix should identify the test
// suite (namespace names are not limited to 15 bytes, but keep them short).
func New(t testing.TB, prefix string) *NS {
	t.Helper()
	var rnd [4]byte
	rand.Read(rnd[:])
	name := prefix + "-" + hex.EncodeToString(rnd[:])
	h, err := namedns.Create(name)
	if err != nil {
		t.Fatalf("nstest: create namespace %s: %v", name, err)
	}
	ns := &NS{Name: name, t: t, handle: h, owned: true}
	t.Cleanup(ns.cleanup)
	ns.MustRun(t, "ip", "link", "set", "lo", "up")
	return ns
}

// Open returns an NS for a namespace someone else made (a lab's, say):
// processes started through it are stopped at cleanup, but other
// processes inside it are left alone and the namespace is not deleted.
func Open(t testing.TB, name string) *NS {
	t.Helper()
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("nstest: open namespace %s: %v", name, err)
	}
	ns := &NS{Name: name, t: t, handle: h}
	t.Cleanup(ns.cleanup)
	return ns
}

// String returns the namespace's name.
func (ns *NS) String() string { return ns.Name }

// Handle returns the namespace's file handle (owned by the NS; do not close).
func (ns *NS) Handle() netns.NsHandle { return ns.handle }

func (ns *NS) cleanup() {
	ns.mu.Lock()
	procs := ns.procs
	ns.procs = nil
	ns.mu.Unlock()
	for _, tp := range procs {
		tp.p.Stop(syscall.SIGTERM, tp.grace)
	}
	if !ns.owned {
		ns.handle.Close()
		return
	}
	// Anything else still inside (children of ip netns exec, daemons that
	// forked): kill by PID.
	for range 3 {
		pids := ns.pids()
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ns.handle >= 0 {
		ns.handle.Close()
	}
	if err := netns.DeleteNamed(ns.Name); err != nil {
		ns.t.Errorf("nstest: delete namespace %s: %v", ns.Name, err)
	}
}

func (ns *NS) pids() []int {
	out, err := exec.Command("ip", "netns", "pids", ns.Name).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Command returns an exec.Cmd that runs name with args inside the
// namespace (through `ip netns exec`, which execs the command, so the
// process keeps the PID that Start reports). Start it with ns.Start to have
// it killed at cleanup.
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Start starts cmd and tracks it: at cleanup it gets SIGTERM, then SIGKILL
// a second later, by PID. Do not call cmd.Wait; use StartProc to wait.
func (ns *NS) Start(cmd *exec.Cmd) error {
	_, err := ns.StartProc(cmd, time.Second)
	return err
}

// StartProc is Start with grace between SIGTERM and SIGKILL at cleanup; it
// returns the process's waiter, through which the test may also stop it.
func (ns *NS) StartProc(cmd *exec.Cmd, grace time.Duration) (*tstest.Proc, error) {
	p, err := tstest.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("nstest: %w", err)
	}
	ns.mu.Lock()
	ns.procs = append(ns.procs, tracked{p, grace})
	ns.mu.Unlock()
	return p, nil
}

// Run runs a command inside the namespace, bounded by 30 s, and returns its
// combined output.
func (ns *NS) Run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := ns.Command(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("nstest: %s in %s: %w: %s", strings.Join(append([]string{name}, args...), " "), ns.Name, err, out.Bytes())
	}
	return out.String(), err
}

// MustRun is Run that fails the test on error.
func (ns *NS) MustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := ns.Run(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Do runs fn on a locked OS thread switched into the namespace and switches
// back afterwards. Sockets, TUN devices and netlink handles that fn creates
// belong to the namespace. Goroutines that fn starts do not inherit it.
func (ns *NS) Do(fn func() error) error {
	return Do(ns.handle, fn)
}

// Do runs fn in the network namespace h (see NS.Do).
func Do(h netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("nstest: current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(h); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("nstest: enter namespace: %w", err)
	}
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: it dies with this goroutine instead of
		// running other goroutines in the wrong namespace.
		return errors.Join(fnErr, fmt.Errorf("nstest: restore namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return fnErr
}

// Link creates a veth pair between a and b (interface aName in a, bName in
// b), assigns the addresses (if valid) and brings both ends up. Interface
// names must be at most 15 bytes. The link disappears with the namespaces.
func Link(t testing.TB, a *NS, aName string, aAddr netip.Prefix, b *NS, bName string, bAddr netip.Prefix) {
	t.Helper()
	if len(aName) > 15 || len(bName) > 15 {
		t.Fatalf("nstest: interface names %q/%q longer than 15 bytes", aName, bName)
	}
	// Create with temporary unique names in the root namespace would race
	// with other tests; create directly in the target namespaces instead.
	out, err := exec.Command("ip", "link", "add", aName, "netns", a.Name, "type", "veth",
		"peer", "name", bName, "netns", b.Name).CombinedOutput()
	if err != nil {
		t.Fatalf("nstest: veth %s/%s: %v: %s", aName, bName, err, out)
	}
	for _, end := range []struct {
		ns   *NS
		name string
		addr netip.Prefix
	}{{a, aName, aAddr}, {b, bName, bAddr}} {
		if end.addr.IsValid() {
			end.ns.MustRun(t, "ip", "addr", "add", end.addr.String(), "dev", end.name)
		}
		end.ns.MustRun(t, "ip", "link", "set", end.name, "up")
	}
}

// Site is a gateway namespace with a host namespace behind it on a LAN:
//
//	Host (LANHost) --lan0-- GW (LANGW) ...the test builds the WAN side
//
// The gateway forwards without a strict reverse-path filter; the host's
// default route is the gateway.
type Site struct {
	GW, Host       *NS
	LAN            netip.Prefix
	LANGW, LANHost netip.Addr // the LAN's first and second addresses
}

// NewSite builds a Site with namespaces named prefix+"g" and prefix+"h".
func NewSite(t testing.TB, prefix string, lan netip.Prefix) *Site {
	t.Helper()
	s := &Site{GW: New(t, prefix+"g"), Host: New(t, prefix+"h"), LAN: lan}
	s.LANGW = lan.Addr().Next()
	s.LANHost = s.LANGW.Next()
	Link(t, s.Host, "lan0", netip.PrefixFrom(s.LANHost, lan.Bits()), s.GW, "lan0", netip.PrefixFrom(s.LANGW, lan.Bits()))
	s.Host.MustRun(t, "ip", "route", "add", "default", "via", s.LANGW.String())
	s.GW.Sysctl(t, "net.ipv4.ip_forward", "1")
	s.GW.Sysctl(t, "net.ipv4.conf.all.rp_filter", "0")
	s.GW.Sysctl(t, "net.ipv4.conf.default.rp_filter", "0")
	return s
}

// Sysctl sets a sysctl (like "net.ipv4.ip_forward") inside the namespace.
func (ns *NS) Sysctl(t testing.TB, key, value string) {
	t.Helper()
	ns.MustRun(t, "sysctl", "-qw", key+"="+value)
}

// WaitFor polls cond every 20 ms until it returns true or timeout passes,
// then fails the test with the message.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	if !Eventually(timeout, cond) {
		t.Fatalf("nstest: timed out after %v: "+format, append([]any{timeout}, args...)...)
	}
}

// Eventually polls cond every 20 ms until it returns true (true) or timeout
// passes (false).
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
