// Package nmtest runs a real NetworkManager (Debian's network-manager 1.42)
// with strongSwan's VPN service (strongswan-nm: charon-nm) inside a test's
// network namespace, so that a point-to-site profile's NetworkManager
// keyfile can be imported and brought up the way a Linux desktop does it.
//
// Everything NetworkManager and charon-nm would touch on the host is
// private to the test: they run in a mount namespace of their own (the one
// `ip netns exec` makes) where temporary directories are bind-mounted over
// /run, /etc/NetworkManager, /var/lib/NetworkManager,
// /usr/lib/NetworkManager/VPN (which holds the strongswan service's .name
// file, normally shipped by the GUI package network-manager-strongswan)
// and /etc/swanctl (where the profile's keyfile expects the certificates);
// they talk over a D-Bus "system" bus of the test's own (a dbus-daemon with
// a socket in the test's directory). /sys is remounted read-only in that
// mount namespace, which makes NetworkManager run without udev and treat
// the namespace's devices as ready. charon-nm has no kernel ESP on this
// kernel, so it loads strongSwan's kernel-libipsec plugin (see
// docs in internal/tstest/swantest). Processes are stopped by PID when the
// test ends.
package nmtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/tstest"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// Binaries used.
const (
	NetworkManager = "/usr/sbin/NetworkManager"
	Nmcli          = "/usr/bin/nmcli"
	CharonNM       = "/usr/lib/ipsec/charon-nm"
	DBusDaemon     = "/usr/bin/dbus-daemon"
)

const stopGrace = 5 * time.Second

// Require skips the test when NetworkManager or charon-nm is missing, or
// fails it under VPNGW_REQUIRE_PRIV=1 (make test installs them).
func Require(t testing.TB) {
	t.Helper()
	nstest.RequirePriv(t)
	for _, b := range []string{NetworkManager, Nmcli, CharonNM, DBusDaemon} {
		if _, err := os.Stat(b); err != nil {
			nstest.Missing(t, "NetworkManager with strongSwan is not installed (%s missing; apt-get install network-manager strongswan-nm, see scripts/install-deps.sh)", b)
		}
	}
}

// NM is a running NetworkManager with its own bus.
type NM struct {
	t       testing.TB
	ns      *nstest.NS
	dir     string
	bus     string // D-Bus address
	Swanctl string // mounted over /etc/swanctl: put the profile's certificates here
	conns   string // keyfile directory (/etc/NetworkManager/system-connections)
	device  string // the namespace's first device but lo
	dbus    *tstest.Proc
	nm      *tstest.Proc
}

const busConf = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`

// The service file network-manager-strongswan installs, without the GUI
// editor plugin NetworkManager itself does not need.
const serviceName = `[VPN Connection]
name=strongswan
service=org.freedesktop.NetworkManager.strongswan
program=` + CharonNM + `
supports-multiple-connections=false
`

const nmConf = `[main]
plugins=keyfile
no-auto-default=*
dhcp=internal
dns=none
[logging]
level=DEBUG
domains=VPN,VPN_PLUGIN,IP4,CORE,SETTINGS
`

// charon-nm's strongswan.conf: kernel-libipsec (no kernel ESP here), a log
// file in the private /run.
const strongswanConf = `charon-nm {
	load_modular = no
	load = random nonce openssl aes aesni gcm md5 sha1 sha2 hmac kdf pem pkcs1 pkcs8 x509 pubkey curve25519 eap-identity eap-mschapv2 eap-tls kernel-libipsec kernel-netlink socket-default
	install_routes = yes
	retransmit_timeout = 1.0
	retransmit_base = 1.4
	retransmit_tries = 3
	filelog {
		charon {
			path = /run/charon-nm.log
			time_format = %T
			default = 1
			ike = 2
			cfg = 2
			knl = 2
			flush_line = yes
		}
	}
}
`

// Options tune StartWith.
type Options struct {
	// StrongswanD is appended to charon-nm's strongswan.conf, as a file
	// the user puts in /etc/strongswan.d is included in the host's.
	StrongswanD string
}

// Start runs dbus-daemon and NetworkManager for ns and waits until
// NetworkManager answers; every device of ns but lo is set managed (it
// stays as configured: NetworkManager "connects" it externally).
func Start(t testing.TB, ns *nstest.NS) *NM {
	t.Helper()
	return StartWith(t, ns, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, ns *nstest.NS, o Options) *NM {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	m := &NM{t: t, ns: ns, dir: dir, Swanctl: filepath.Join(dir, "swanctl"), conns: filepath.Join(dir, "etc", "system-connections")}
	sock := filepath.Join(dir, "bus")
	m.bus = "unix:path=" + sock
	for _, d := range []string{"run", "lib", "vpn", "etc/conf.d", m.Swanctl, m.conns} {
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(dir, "bus.conf"), fmt.Sprintf(busConf, sock))
	write(t, filepath.Join(dir, "vpn", "nm-strongswan-service.name"), serviceName)
	write(t, filepath.Join(dir, "etc", "NetworkManager.conf"), nmConf)
	write(t, filepath.Join(dir, "strongswan.conf"), strongswanConf+o.StrongswanD)

	m.dbus = m.start("dbus", DBusDaemon, "--nofork", "--nopidfile", "--config-file="+filepath.Join(dir, "bus.conf"))
	if !nstest.Eventually(5*time.Second, func() bool { _, err := os.Stat(sock); return err == nil }) {
		t.Fatalf("nmtest: dbus-daemon did not start: %s", m.output("dbus"))
	}
	mounts := []struct{ src, dst string }{
		{filepath.Join(dir, "run"), "/run"},
		{filepath.Join(dir, "etc"), "/etc/NetworkManager"},
		{filepath.Join(dir, "lib"), "/var/lib/NetworkManager"},
		{filepath.Join(dir, "vpn"), "/usr/lib/NetworkManager/VPN"},
		{m.Swanctl, "/etc/swanctl"},
	}
	var sh strings.Builder
	for _, mt := range mounts {
		fmt.Fprintf(&sh, "mount --bind '%s' '%s' && ", mt.src, mt.dst)
	}
	fmt.Fprintf(&sh, "mount -o remount,ro /sys && exec env DBUS_SYSTEM_BUS_ADDRESS='%s' STRONGSWAN_CONF='%s' %s --debug --config=/etc/NetworkManager/NetworkManager.conf --config-dir=/etc/NetworkManager/conf.d --system-config-dir=/etc/NetworkManager/conf.d --state-file=/var/lib/NetworkManager/state --intern-config=/var/lib/NetworkManager/intern.conf --pid-file=/run/NetworkManager.pid",
		m.bus, filepath.Join(dir, "strongswan.conf"), NetworkManager)
	m.nm = m.start("nm", "sh", "-c", sh.String())
	t.Cleanup(m.stopCharon)
	if !nstest.Eventually(15*time.Second, func() bool { _, err := m.Nmcli("general", "status"); return err == nil }) {
		t.Fatalf("nmtest: NetworkManager did not answer: %s", m.Log())
	}
	out := ns.MustRun(t, "ip", "-o", "link", "show")
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		dev, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if dev == "lo" {
			continue
		}
		if _, err := m.Nmcli("device", "set", dev, "managed", "yes"); err != nil {
			t.Fatalf("nmtest: %v", err)
		}
		if m.device == "" {
			m.device = dev
		}
	}
	return m
}

// start runs one process in the namespace, output to dir/name.out, stopped
// by PID when the test ends (its output printed if the test failed).
func (m *NM) start(name string, bin string, args ...string) *tstest.Proc {
	m.t.Helper()
	cmd := m.ns.Command(context.Background(), bin, args...)
	out, err := os.Create(filepath.Join(m.dir, name+".out"))
	if err != nil {
		m.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	p, err := m.ns.StartProc(cmd, stopGrace)
	if err != nil {
		m.t.Fatal(err)
	}
	m.t.Cleanup(func() {
		p.Stop(syscall.SIGTERM, stopGrace)
		out.Close()
		if m.t.Failed() && name == "nm" {
			m.t.Logf("NetworkManager log (tail):\n%s\ncharon-nm log (tail):\n%s", tstest.TailLines(m.output(name), 80), tstest.TailLines(m.CharonLog(), 120))
		}
	})
	return p
}

// stopCharon stops the VPN services NetworkManager started (charon-nm,
// its child: found by its parent's PID, not by name), which would outlive
// NetworkManager otherwise. It runs before NetworkManager is stopped.
func (m *NM) stopCharon() {
	nm := m.nm.Cmd.Process.Pid
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(nm) {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		for end := time.Now().Add(stopGrace); time.Now().Before(end) && syscall.Kill(pid, 0) == nil; time.Sleep(50 * time.Millisecond) {
		}
		if syscall.Kill(pid, 0) == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// Nmcli runs nmcli against this NetworkManager, in a mount namespace that
// sees the strongswan service's .name file too (nmcli reads it to know the
// VPN's secrets when it answers for them, as with passwd-file).
func (m *NM) Nmcli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	cmd := m.ns.Command(ctx, "sh", "-c", fmt.Sprintf("mount --bind '%s' /usr/lib/NetworkManager/VPN && exec %s %s",
		filepath.Join(m.dir, "vpn"), Nmcli, strings.Join(q, " ")))
	cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+m.bus)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("nmcli %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Import puts a keyfile where NetworkManager keeps its connections
// (/etc/NetworkManager/system-connections, mode 0600, as the profile's
// README says) and has it reread them (nmcli connection reload).
func (m *NM) Import(name string, keyfile []byte) error {
	if err := os.WriteFile(filepath.Join(m.conns, name), keyfile, 0o600); err != nil {
		return err
	}
	_, err := m.Nmcli("connection", "reload")
	return err
}

// Up brings a connection up (nmcli connection up). The VPN is activated
// over the namespace's device by name (ifname): NetworkManager did not
// configure that device (it is "connected externally"), so it is no
// primary connection a VPN would otherwise default to, as a desktop's
// Wi-Fi or Ethernet is.
func (m *NM) Up(name string) error {
	_, err := m.Nmcli("--wait", "25", "connection", "up", name, "ifname", m.device)
	return err
}

// Down takes a connection down.
func (m *NM) Down(name string) error {
	_, err := m.Nmcli("connection", "down", name)
	return err
}

// State is the connection's GENERAL.STATE as nmcli shows it ("activated"),
// "" when it is not active.
func (m *NM) State(name string) string {
	out, err := m.Nmcli("-g", "GENERAL.STATE", "connection", "show", name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// IP4 is what NetworkManager shows of an active connection's IPv4
// configuration (IP4.ADDRESS, IP4.DNS, ... as nmcli -t prints them).
func (m *NM) IP4(name string) string {
	out, _ := m.Nmcli("-t", "-f", "IP4", "connection", "show", name)
	return out
}

// Log is NetworkManager's output so far.
func (m *NM) Log() string { return m.output("nm") }

// CharonLog is charon-nm's log so far.
func (m *NM) CharonLog() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "run", "charon-nm.log"))
	return string(b)
}

func (m *NM) output(name string) string {
	b, _ := os.ReadFile(filepath.Join(m.dir, name+".out"))
	return string(b)
}

func write(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
