// Package bgptest runs real BGP peers for internal/bgp's interop tests:
// FRR's bgpd (without zebra) and BIRD 2, each inside a test's network
// namespace, stopped by PID at cleanup.
//
// The speaker under test embeds GoBGP, which opens its sockets on its own
// goroutines; nstest's Do cannot pin those to a namespace. So a test
// binary that uses this package runs itself inside a namespace of its own,
// the way a `vpngw agent` instance runs inside its namespace in the e2e
// tests: TestMain calls Main, which creates the namespace, re-runs the
// binary there (nsenter --net) and deletes the namespace afterwards.
//
//	func TestMain(m *testing.M) { os.Exit(bgptest.Main(m, "bgp")) }
//
//	func TestX(t *testing.T) {
//		self := bgptest.Self(t) // the namespace the test process runs in
//		peer := nstest.New(t, "bgpx")
//		nstest.Link(t, self, "x0", ..., peer, "x0", ...)
//		frr := bgptest.StartFRR(t, peer, conf)
//	}
package bgptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/vpngw/vpngw/internal/namedns"
	"github.com/vpngw/vpngw/internal/tstest"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// Binaries Debian installs (packages frr and bird2).
const (
	BGPD  = "/usr/lib/frr/bgpd"
	Vtysh = "/usr/bin/vtysh"
	Bird  = "/usr/sbin/bird"
	Birdc = "/usr/sbin/birdc"
)

// envNS names the namespace a re-run test binary is inside.
const envNS = "VPNGW_BGPTEST_NS"

// Main runs the tests of m inside a fresh network namespace named
// prefix-<random> and returns the exit code for os.Exit. Unprivileged, it
// runs them where they are (the tests then skip, or fail under
// VPNGW_REQUIRE_PRIV=1, through Require).
func Main(m *testing.M, prefix string) int {
	if os.Getenv(envNS) != "" {
		return m.Run()
	}
	nsenter, err := exec.LookPath("nsenter")
	if os.Geteuid() != 0 || err != nil {
		return m.Run()
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bgptest:", err)
		return 2
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	name := prefix + "-" + hex.EncodeToString(rnd[:])
	h, err := namedns.Create(name)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bgptest: create namespace %s: %v\n", name, err)
		return 2
	}
	h.Close()
	defer func() {
		if err := netns.DeleteNamed(name); err != nil {
			fmt.Fprintf(os.Stderr, "bgptest: delete namespace %s: %v\n", name, err)
		}
	}()
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "bgptest: lo up in %s: %v: %s\n", name, err, out)
		return 2
	}
	cmd := exec.Command(nsenter, append([]string{"--net=/run/netns/" + name, "--", self}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envNS+"="+name)
	// If this process dies (go test's timeout), the child dies with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread() // Pdeathsig fires when the creating thread exits
	defer runtime.UnlockOSThread()
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return exit.ExitCode()
	default:
		fmt.Fprintln(os.Stderr, "bgptest: run tests in namespace:", err)
		return 2
	}
}

// Self returns the namespace the test process runs in (see Main). It
// skips or fails like nstest.RequirePriv when there is none.
func Self(t testing.TB) *nstest.NS {
	t.Helper()
	nstest.RequirePriv(t)
	name := os.Getenv(envNS)
	if name == "" {
		nstest.Missing(t, "test binary is not running inside its own namespace (TestMain must call bgptest.Main; nsenter needed)")
	}
	return nstest.Open(t, name)
}

func require(t testing.TB, what string, bins ...string) {
	t.Helper()
	nstest.RequirePriv(t)
	for _, b := range bins {
		if _, err := os.Stat(b); err != nil {
			nstest.Missing(t, "%s is not installed (%s missing; apt-get install frr bird2, see scripts/install-deps.sh)", what, b)
		}
	}
}

// RequireFRR skips (or fails under VPNGW_REQUIRE_PRIV=1) without FRR.
func RequireFRR(t testing.TB) { t.Helper(); require(t, "FRR", BGPD, Vtysh) }

// RequireBIRD skips (or fails under VPNGW_REQUIRE_PRIV=1) without BIRD 2.
func RequireBIRD(t testing.TB) { t.Helper(); require(t, "BIRD 2", Bird, Birdc) }

// daemon is a started routing daemon with its files in dir.
type daemon struct {
	t    testing.TB
	dir  string
	log  string
	proc *tstest.Proc
}

func startDaemon(t testing.TB, ns *nstest.NS, dir, log, sock string, name string, args ...string) daemon {
	t.Helper()
	cmd := ns.Command(context.Background(), name, args...)
	out, err := os.Create(filepath.Join(dir, "output"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close() // the child has its own copy
	cmd.Stdout, cmd.Stderr = out, out
	p, err := ns.StartProc(cmd, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	d := daemon{t: t, dir: dir, log: log, proc: p}
	t.Cleanup(func() {
		p.Stop(syscall.SIGTERM, 5*time.Second)
		if t.Failed() {
			d.dumpLog()
		}
	})
	if !nstest.Eventually(10*time.Second, func() bool {
		_, err := os.Stat(sock)
		return err == nil || !p.Running()
	}) || !p.Running() {
		d.dumpLog()
		t.Fatalf("bgptest: %s did not come up (control socket %s): %v", filepath.Base(name), sock, p.Err())
	}
	return d
}

func (d daemon) dumpLog() {
	if b, _ := os.ReadFile(filepath.Join(d.dir, "output")); len(b) > 0 {
		d.t.Logf("bgptest: output of the daemon:\n%s", tail(string(b), 4<<10))
	}
	b, _ := os.ReadFile(d.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	d.t.Logf("bgptest: last lines of %s:\n%s", d.log, strings.Join(lines, "\n"))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// run runs a control command bounded by 20 s.
func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("bgptest: %s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// FRR is a running FRR bgpd (no zebra: -Z, routes not installed: -n).
type FRR struct {
	daemon
}

// StartFRR starts bgpd inside ns with the configuration conf (bgpd.conf
// syntax) and waits for its vty socket.
func StartFRR(t testing.TB, ns *nstest.NS, conf string) *FRR {
	t.Helper()
	RequireFRR(t)
	dir := t.TempDir()
	cf := filepath.Join(dir, "bgpd.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "bgpd.log")
	d := startDaemon(t, ns, dir, log, filepath.Join(dir, "bgpd.vty"), BGPD,
		"-Z", "-n", "-S", "-P", "0", "-f", cf, "-i", filepath.Join(dir, "bgpd.pid"),
		"--vty_socket", dir, "--log", "file:"+log, "--log-level", "debug")
	return &FRR{d}
}

// Vtysh runs vtysh commands (each one -c) against this bgpd.
func (f *FRR) Vtysh(cmds ...string) (string, error) {
	args := []string{"--vty_socket", f.dir}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	return run(Vtysh, args...)
}

// Configure runs configuration commands (after `configure terminal`).
func (f *FRR) Configure(t testing.TB, cmds ...string) {
	t.Helper()
	if out, err := f.Vtysh(append([]string{"configure terminal"}, cmds...)...); err != nil || strings.Contains(out, "%") {
		t.Fatalf("bgptest: FRR configure %q: %v %s", cmds, err, out)
	}
}

// JSON runs a show command ending in "json" and decodes its output.
func (f *FRR) JSON(cmd string, v any) error {
	out, err := f.Vtysh(cmd)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("bgptest: %q: %w: %s", cmd, err, out)
	}
	return nil
}

// FRRPath is one path of `show bgp ipv4 unicast json`.
type FRRPath struct {
	Valid    bool   `json:"valid"`
	Best     bool   `json:"bestpath"`
	Path     string `json:"path"` // AS path, space separated
	PeerID   string `json:"peerId"`
	NextHops []struct {
		IP string `json:"ip"`
	} `json:"nexthops"`
}

// Routes returns FRR's BGP table: the paths of each prefix.
func (f *FRR) Routes() (map[string][]FRRPath, error) {
	var tbl struct {
		Routes map[string][]FRRPath `json:"routes"`
	}
	err := f.JSON("show bgp ipv4 unicast json", &tbl)
	return tbl.Routes, err
}

// FRRNeighbor is part of `show bgp neighbors A json`.
type FRRNeighbor struct {
	State                  string `json:"bgpState"`
	ConnectionsEstablished int    `json:"connectionsEstablished"`
	ConnectionsDropped     int    `json:"connectionsDropped"`
	LastResetDueTo         string `json:"lastResetDueTo"`
	LastNotificationReason string `json:"lastNotificationReason"`
	HostLocal              string `json:"hostLocal"`
	PortLocal              int    `json:"portLocal"`
	HostForeign            string `json:"hostForeign"`
	PortForeign            int    `json:"portForeign"`
	// NeighborCapabilities maps a capability to FRR's word for it, like
	// "gracefulRestart": "advertisedAndReceived".
	NeighborCapabilities map[string]any `json:"neighborCapabilities"`
	AddressFamilyInfo    struct {
		IPv4Unicast struct {
			Accepted int `json:"acceptedPrefixCounter"`
			Sent     int `json:"sentPrefixCounter"`
		} `json:"ipv4Unicast"`
	} `json:"addressFamilyInfo"`
}

// Neighbor returns FRR's view of its neighbor addr.
func (f *FRR) Neighbor(addr string) (FRRNeighbor, error) {
	var m map[string]FRRNeighbor
	if err := f.JSON("show bgp neighbors "+addr+" json", &m); err != nil {
		return FRRNeighbor{}, err
	}
	n, ok := m[addr]
	if !ok {
		return FRRNeighbor{}, fmt.Errorf("bgptest: FRR has no neighbor %s", addr)
	}
	return n, nil
}

// BIRD is a running BIRD 2.
type BIRD struct {
	daemon
	sock string
}

// StartBIRD starts bird inside ns with the configuration conf; a `log`
// line sending everything to the daemon's log file is prepended.
func StartBIRD(t testing.TB, ns *nstest.NS, conf string) *BIRD {
	t.Helper()
	RequireBIRD(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "bird.log")
	cf := filepath.Join(dir, "bird.conf")
	conf = fmt.Sprintf("log %q all;\ndebug protocols { states, events };\n", log) + conf
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "bird.ctl")
	d := startDaemon(t, ns, dir, log, sock, Bird, "-f", "-c", cf, "-s", sock, "-P", filepath.Join(dir, "bird.pid"))
	b := &BIRD{daemon: d, sock: sock}
	// bird opens its control socket before it reads the configuration:
	// it is up when it answers and still runs (a bad configuration makes
	// it exit).
	var err error
	if !nstest.Eventually(10*time.Second, func() bool {
		_, err = b.Cmd("show", "status")
		return (err == nil && d.proc.Running()) || !d.proc.Running()
	}) || !d.proc.Running() {
		d.dumpLog()
		t.Fatalf("bgptest: bird did not come up: %v (exit: %v)", err, d.proc.Err())
	}
	return b
}

// Cmd runs a birdc command (e.g. "show route all") and returns its output.
func (b *BIRD) Cmd(args ...string) (string, error) {
	return run(Birdc, append([]string{"-s", b.sock}, args...)...)
}
