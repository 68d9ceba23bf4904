// Package e2e holds end-to-end tests of the whole service: a real
// `vpngw serve --provider lab` building namespaces and running agents,
// driven through the vpngw CLI as a user would, with strongSwan on the
// on-premises sites and traffic between lab VMs and site hosts.
package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/tstest/testbin"

	"github.com/vishvananda/netns"

	"github.com/vpngw/vpngw/internal/agent"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

func vpngwBin(t *testing.T) string { return testbin.Path(t) }

// cloud is one `vpngw serve --provider lab` with its own lab prefix and
// data directory.
type cloud struct {
	t       *testing.T
	bin     string
	dir     string
	prefix  string
	url     string
	serve   *exec.Cmd
	extra   []string
	logPath string
}

func newCloud(t *testing.T, extraFlags ...string) *cloud {
	swantest.Require(t)
	var r [3]byte
	_, _ = rand.Read(r[:])
	c := &cloud{t: t, bin: vpngwBin(t), dir: t.TempDir(), prefix: "ve" + hex.EncodeToString(r[:]), extra: extraFlags}
	c.start()
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs()
		}
		// Tear the lab down (agents and charons stopped by PID), then
		// stop the server.
		out, err := exec.Command(c.bin, "lab", "down", "--server", c.url, "--lab-prefix", c.prefix).CombinedOutput()
		if err != nil {
			t.Logf("lab down: %v %s", err, out)
		}
		c.stop(syscall.SIGTERM)
	})
	return c
}

func (c *cloud) start() {
	c.t.Helper()
	listenFile := filepath.Join(c.dir, "listen")
	_ = os.Remove(listenFile)
	c.logPath = filepath.Join(c.dir, "serve.log")
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	args := append([]string{"serve", "--provider", "lab", "--lab-prefix", c.prefix, "--data-dir", c.dir,
		"--listen", "127.0.0.1:0", "--listen-file", listenFile, "--log-level", "debug"}, c.extra...)
	c.serve = exec.Command(c.bin, args...)
	c.serve.Stdout, c.serve.Stderr = logf, logf
	if err := c.serve.Start(); err != nil {
		c.t.Fatal(err)
	}
	nstest.WaitFor(c.t, 20*time.Second, func() bool {
		b, err := os.ReadFile(listenFile)
		if err != nil {
			return false
		}
		c.url = "http://" + strings.TrimSpace(string(b))
		return true
	}, "vpngw serve did not start: %s", c.tailLog())
}

// stop stops the server (by PID) with sig and waits.
func (c *cloud) stop(sig syscall.Signal) {
	if c.serve == nil || c.serve.Process == nil {
		return
	}
	_ = c.serve.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = c.serve.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = c.serve.Process.Kill()
		<-done
	}
	c.serve = nil
}

func (c *cloud) tailLog() string {
	b, _ := os.ReadFile(c.logPath)
	lines := strings.Split(string(b), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

func (c *cloud) dumpLogs() {
	c.t.Logf("serve log (tail):\n%s", c.tailLog())
	logs, _ := filepath.Glob(filepath.Join(c.dir, "lab", "logs", "*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		lines := strings.Split(string(b), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		c.t.Logf("%s (tail):\n%s", filepath.Base(l), strings.Join(lines, "\n"))
	}
}

// cli runs `vpngw ARGS...` against the cloud and returns stdout; it fails
// the test on a non-zero exit.
func (c *cloud) cli(args ...string) string {
	c.t.Helper()
	out, err := c.cliErr(args...)
	if err != nil {
		c.t.Fatalf("vpngw %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c *cloud) cliErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = append(os.Environ(), "VPNGW_URL="+c.url)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String() + errb.String(), err
	}
	return out.String(), nil
}

// json runs a CLI command with -o json and decodes its output.
func (c *cloud) json(args ...string) map[string]any {
	c.t.Helper()
	var m map[string]any
	out := c.cli(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		c.t.Fatalf("vpngw %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return m
}

// vnet creates a resource group (if needed), a VNet with a workload
// subnet and a GatewaySubnet, a public IP and a gateway.
func (c *cloud) gateway(group, sub, vnet, space string, extraGW ...string) (gwIP string) {
	c.t.Helper()
	p := netip.MustParsePrefix(space)
	b := p.Addr().As4()
	work := fmt.Sprintf("%d.%d.1.0/24", b[0], b[1])
	gws := fmt.Sprintf("%d.%d.255.0/27", b[0], b[1])
	subf := []string{"--subscription", sub}
	c.cli(append([]string{"group", "create", "-n", group, "-l", "westeurope", "-o", "none"}, subf...)...)
	c.cli(append([]string{"network", "vnet", "create", "-g", group, "-n", vnet, "--address-prefixes", space,
		"--subnet-name", "Workload", "--subnet-prefixes", work, "-o", "none"}, subf...)...)
	c.cli(append([]string{"network", "vnet", "subnet", "create", "-g", group, "--vnet-name", vnet, "-n", "GatewaySubnet",
		"--address-prefixes", gws, "-o", "none"}, subf...)...)
	c.cli(append([]string{"network", "public-ip", "create", "-g", group, "-n", vnet + "-gwip", "-o", "none"}, subf...)...)
	args := append([]string{"network", "vnet-gateway", "create", "-g", group, "-n", vnet + "-gw", "--vnet", vnet,
		"--public-ip-addresses", vnet + "-gwip", "--gateway-type", "Vpn", "--vpn-type", "RouteBased", "-o", "none"}, subf...)
	if len(extraGW) == 0 {
		extraGW = []string{"--sku", "VpnGw2", "--vpn-gateway-generation", "Generation2"}
	}
	start := time.Now()
	c.cli(append(args, extraGW...)...)
	c.t.Logf("gateway %s/%s: create → Succeeded in %v", group, vnet+"-gw", time.Since(start).Round(time.Millisecond))
	return strings.TrimSpace(c.cli(append([]string{"network", "public-ip", "show", "-g", group, "-n", vnet + "-gwip", "--query", "ipAddress", "-o", "tsv"}, subf...)...))
}

// vm adds a VM to a VNet's workload subnet and returns its address.
func (c *cloud) vm(sub, group, vnet, name string) netip.Addr {
	c.t.Helper()
	out := c.cli("lab", "vm", "create", "-g", group, "--vnet", vnet, "--subnet", "Workload", "-n", name, "--subscription", sub)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		c.t.Fatalf("lab vm create: %v: %s", err, out)
	}
	return netip.MustParseAddr(m["ipAddress"].(string))
}

// labSite is an on-premises site in the lab.
type labSite struct {
	name           string
	publicIP, host netip.Addr
	device, hostNS labNS
	prefix         netip.Prefix
	swan           *swantest.Daemon
}

func (c *cloud) site(name, publicIP, prefix string) *labSite {
	c.t.Helper()
	out := c.cli("lab", "site", "create", "-n", name, "--public-ip", publicIP, "--address-prefixes", prefix)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		c.t.Fatalf("lab site create: %v: %s", err, out)
	}
	return &labSite{name: name, publicIP: netip.MustParseAddr(publicIP), host: netip.MustParseAddr(m["hostIp"].(string)),
		device: labNS{t: c.t, name: m["namespace"].(string)}, hostNS: labNS{t: c.t, name: m["hostNamespace"].(string)},
		prefix: netip.MustParsePrefix(prefix)}
}

// strongswan runs charon on the site's device toward a gateway.
func (s *labSite) strongswan(t *testing.T, gwIP, vnetSpace, key string, edit func(*swantest.Conn)) {
	conn := swantest.Conn{Name: "azure", LocalAddr: s.publicIP.String(), RemoteAddr: gwIP, PSK: key,
		IKE: "aes256-sha1-modp1024,aes256gcm16-prfsha256-ecp256", ESP: "aes256gcm16,aes256-sha1",
		LocalTS: []string{s.prefix.String()}, RemoteTS: []string{vnetSpace}}
	if edit != nil {
		edit(&conn)
	}
	s.swan = swantest.Start(t, s.device, conn)
}

// connect creates a site's local network gateway and its connection.
func (c *cloud) connect(sub, group, gw string, s *labSite, key string, extra ...string) {
	c.t.Helper()
	c.cli("network", "local-gateway", "create", "-g", group, "-n", s.name, "--gateway-ip-address", s.publicIP.String(),
		"--local-address-prefixes", s.prefix.String(), "--subscription", sub, "-o", "none")
	c.cli(append([]string{"network", "vpn-connection", "create", "-g", group, "-n", "to-" + s.name, "--vnet-gateway1", gw,
		"--local-gateway2", s.name, "--shared-key", key, "--subscription", sub, "-o", "none"}, extra...)...)
}

func (c *cloud) connection(sub, group, name string) map[string]any {
	return c.json("network", "vpn-connection", "show", "-g", group, "-n", name, "--subscription", sub)
}

func (c *cloud) waitConnected(sub, group, name string, timeout time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	nstest.WaitFor(c.t, timeout, func() bool {
		return c.connection(sub, group, name)["connectionStatus"] == "Connected"
	}, "connection %s/%s not Connected: %v", group, name, c.connection(sub, group, name))
	return time.Since(start)
}

// labNS runs commands in a namespace the lab made.
type labNS struct {
	t    *testing.T
	name string
}

func (n labNS) String() string { return n.name }

func (n labNS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name, name}, args...)...)
}

func (n labNS) Start(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	n.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _, _ = cmd.Process.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	return nil
}

func (n labNS) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := n.Command(ctx, args[0], args[1:]...).CombinedOutput()
	return string(out), err
}

// vmNS is a VM's namespace (from `vpngw lab status`).
func (c *cloud) vmNS(sub, group, name string) labNS {
	out := c.cli("lab", "vm", "list", "-g", group, "--subscription", sub, "-o", "json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		var wrapped struct {
			Value []map[string]any `json:"value"`
		}
		if err2 := json.Unmarshal([]byte(out), &wrapped); err2 != nil {
			c.t.Fatalf("lab vm list: %v: %s", err, out)
		}
		list = wrapped.Value
	}
	for _, v := range list {
		if strings.EqualFold(v["name"].(string), name) {
			return labNS{t: c.t, name: v["namespace"].(string)}
		}
	}
	c.t.Fatalf("no VM %s in %s", name, out)
	return labNS{}
}

// pingLoss pings addr count times at interval from ns and returns the loss
// in percent.
func pingLoss(t *testing.T, ns labNS, addr netip.Addr, count int, interval string) int {
	t.Helper()
	out, _ := ns.run("ping", "-c", strconv.Itoa(count), "-i", interval, "-W", "1", "-q", addr.String())
	loss, err := nstest.PingLoss(out)
	if err != nil {
		t.Fatal(err)
	}
	return loss
}

func reachable(t *testing.T, ns labNS, addr netip.Addr, timeout time.Duration) {
	t.Helper()
	nstest.WaitFor(t, timeout, func() bool {
		_, err := ns.run("ping", "-c", "1", "-W", "1", "-q", addr.String())
		return err == nil
	}, "%s cannot reach %s", ns.name, addr)
}

// transfer sends n bytes over TCP from one namespace to a listener in
// another and compares checksums.
func transfer(t *testing.T, from, to labNS, toAddr netip.Addr, n int) {
	t.Helper()
	fromH, err := netnsHandle(from.name)
	if err != nil {
		t.Fatal(err)
	}
	defer fromH.Close()
	toH, err := netnsHandle(to.name)
	if err != nil {
		t.Fatal(err)
	}
	defer toH.Close()
	nstest.TransferTCP(t, fromH, toH, toAddr, 5301, int64(n))
}

// instanceSocket finds the status socket of a gateway's active instance.
func (c *cloud) agentStatus(instance string) agent.Status {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	st, _ := agent.FetchStatus(ctx, "/run/vpngw/agent-"+instance+".sock")
	return st
}

func netnsHandle(name string) (netns.NsHandle, error) { return netns.GetFromName(name) }

type addrT = netip.Addr

func parseAddr(s string) (netip.Addr, error) { return netip.ParseAddr(s) }
