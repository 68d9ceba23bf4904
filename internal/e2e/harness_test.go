// Package e2e holds every test that drives the vpngw binary, through one
// harness: vpngw serve as a real process (startServe; on loopback or inside
// a namespace, restartable on the same data directory), the CLI run one
// process per command against it, and vpngw agent processes (startProc).
// Every process is stopped by PID at cleanup (internal/tstest).
//
// api_test.go checks durability across SIGKILL; cli_test.go walks the CLI;
// agent_test.go runs the agent from a file; topologies_test.go runs
// `vpngw serve --provider lab` building namespaces and agents, with
// strongSwan on the on-premises sites; host_test.go runs the host provider
// with agents on "real" gateway hosts; secrets_test.go checks that shared
// keys are sealed in the store and the key rotation.
package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agent"
	"github.com/vpngw/vpngw/internal/client"
	"github.com/vpngw/vpngw/internal/tstest"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
	"github.com/vpngw/vpngw/internal/tstest/testbin"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

func vpngwBin(t testing.TB) string { return testbin.Path(t) }

// stopGrace is how long a process gets between SIGTERM and SIGKILL.
const stopGrace = 20 * time.Second

// proc is a process the test started, its output appended to a log file.
type proc struct {
	*tstest.Proc
	log    string
	offset int64 // the log's size when the process started
}

// startProc starts argv (inside ns unless it is nil) with its output
// appended to logPath. The caller stops it.
func startProc(t *testing.T, ns *nstest.NS, logPath string, argv ...string) *proc {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	fi, err := logf.Stat()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if ns != nil {
		cmd = ns.Command(context.Background(), argv[0], argv[1:]...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := tstest.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return &proc{Proc: p, log: logPath, offset: fi.Size()}
}

// startProcT is startProc with the process stopped (SIGTERM) at cleanup
// and its log printed if the test failed.
func startProcT(t *testing.T, ns *nstest.NS, logPath string, argv ...string) *proc {
	t.Helper()
	p := startProc(t, ns, logPath, argv...)
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("%s:\n%s", filepath.Base(p.log), p.logText())
		}
	})
	return p
}

// stop signals the process (by PID) and waits for it, killing it after
// stopGrace; it reports whether the process exited without SIGKILL.
func (p *proc) stop(sig syscall.Signal) bool { return p.Stop(sig, stopGrace) }

// logText returns what this process has logged.
func (p *proc) logText() string {
	b, _ := os.ReadFile(p.log)
	if int64(len(b)) < p.offset {
		return ""
	}
	return string(b[p.offset:])
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string { return tailLines(p.logText(), n) }

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// server is one `vpngw serve` (inside ns unless it is nil), with the CLI and
// HTTP clients that talk to it. restart runs it again with the same flags.
type server struct {
	t    *testing.T
	ns   *nstest.NS
	dir  string   // the log and the listen file
	args []string // after "serve"
	url  string   // the ARM API
	data string   // its --data-dir
	hc   *http.Client
	// token is an administrator's access token (do signs in on first use).
	token string
	// credential, when set, is the administrator's credential file to use
	// instead of the server's own: replicas on one store bootstrap one
	// administrator, whose credential only the first replica writes.
	credential string
	proc       *proc
}

// startServe runs `vpngw serve --listen 127.0.0.1:0 ARGS...`, waits for its
// address and stops it (SIGTERM, by PID) at cleanup. Unless ARGS name one,
// the secrets key file is the server's own (never the default in /etc).
func startServe(t *testing.T, ns *nstest.NS, args ...string) *server {
	t.Helper()
	s := &server{t: t, ns: ns, dir: t.TempDir(), args: args}
	if !slices.Contains(args, "--secrets-key-file") {
		s.args = append(slices.Clone(args), "--secrets-key-file", filepath.Join(s.dir, "secrets.key"))
	}
	if i := slices.Index(s.args, "--data-dir"); i >= 0 {
		s.data = s.args[i+1]
	} else {
		s.data = filepath.Join(s.dir, "data")
		s.args = append(s.args, "--data-dir", s.data)
	}
	t.Cleanup(func() { s.stop(syscall.SIGTERM) })
	s.restart()
	return s
}

// restart starts the server (again) and waits until it has written its
// address.
func (s *server) restart() {
	s.t.Helper()
	listenFile := filepath.Join(s.dir, "listen")
	_ = os.Remove(listenFile)
	argv := append([]string{vpngwBin(s.t), "serve", "--listen", "127.0.0.1:0", "--listen-file", listenFile}, s.args...)
	s.proc = startProc(s.t, s.ns, filepath.Join(s.dir, "serve.log"), argv...)
	nstest.WaitFor(s.t, 30*time.Second, func() bool {
		b, err := os.ReadFile(listenFile)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return !s.proc.Running() // stop waiting: it died
		}
		s.url = "https://" + strings.TrimSpace(string(b))
		return true
	}, "vpngw serve did not start:\n%s", s.proc.tail(40))
	if !s.proc.Running() {
		s.t.Fatalf("vpngw serve exited (%v):\n%s", s.proc.Err(), s.proc.logText())
	}
	s.hc = tlsClient(s.t, s.caFile())
	s.token = "" // for the old address
}

// credentialFile is the administrator's credential, which the server
// wrote on its first start.
func (s *server) credentialFile() string {
	if s.credential != "" {
		return s.credential
	}
	return filepath.Join(s.data, "identity", "admin-credential.json")
}

// bearer returns an administrator's access token, signing in once.
func (s *server) bearer(ctx context.Context) (string, error) {
	if s.token != "" {
		return s.token, nil
	}
	b, err := os.ReadFile(s.credentialFile())
	if err != nil {
		return "", err
	}
	var c struct{ ClientID, ClientSecret string }
	if err := json.Unmarshal(b, &c); err != nil {
		return "", err
	}
	tok, err := client.SignIn(ctx, s.hc, s.url, c.ClientID, c.ClientSecret, "", "")
	if err != nil {
		return "", err
	}
	s.token = tok.AccessToken
	return s.token, nil
}

// caFile is the server's own CA, which its HTTPS certificate chains to.
func (s *server) caFile() string { return filepath.Join(s.data, "tls", "ca.crt") }

// env is what a CLI process needs to reach the server: its URL, its CA,
// the administrator's credential and a CLI config directory of its own
// (no login of the user running the tests).
func (s *server) env() []string {
	return []string{"VPNGW_URL=" + s.url, "VPNGW_CA_FILE=" + s.caFile(), "VPNGW_CREDENTIAL_FILE=" + s.credentialFile(),
		"VPNGW_CONFIG_DIR=" + filepath.Join(s.dir, "cli")}
}

// tlsClient is an HTTP client that trusts the CA in caFile.
func tlsClient(t testing.TB, caFile string) *http.Client {
	t.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("%s: no certificate", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	return &http.Client{Timeout: 10 * time.Second, Transport: tr}
}

// stop stops the server with sig (by PID) and waits for it; it reports
// whether it exited without SIGKILL.
func (s *server) stop(sig syscall.Signal) bool {
	if s.proc == nil {
		return true
	}
	return s.proc.stop(sig)
}

// logText returns what the running (or last) server process has logged.
func (s *server) logText() string { return s.proc.logText() }

// run runs `vpngw ARGS...` against the server (in its namespace), bounded
// by 2 minutes, and returns the exit code, stdout and stderr.
func (s *server) run(args ...string) (int, string, string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, vpngwBin(s.t), args...)
	if s.ns != nil {
		cmd = s.ns.Command(ctx, vpngwBin(s.t), args...)
	}
	cmd.Env = append(append(os.Environ(), s.env()...), "VPNGW_SUBSCRIPTION=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errOut.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errOut.String()
	}
	s.t.Fatalf("running vpngw %v: %v", args, err)
	return 0, "", ""
}

// cliErr runs a CLI command and returns its stdout, or its stdout and
// stderr and an error if it failed.
func (s *server) cliErr(args ...string) (string, error) {
	s.t.Helper()
	code, out, errOut := s.run(args...)
	if code != 0 {
		return out + errOut, fmt.Errorf("exit code %d", code)
	}
	return out, nil
}

// cli runs a CLI command and returns stdout; it fails the test on a
// non-zero exit.
func (s *server) cli(args ...string) string {
	s.t.Helper()
	out, err := s.cliErr(args...)
	if err != nil {
		s.t.Fatalf("vpngw %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// tsv runs a CLI command with -o tsv and returns its trimmed output.
func (s *server) tsv(args ...string) string {
	s.t.Helper()
	return strings.TrimSpace(s.cli(append(args, "-o", "tsv")...))
}

// json runs a CLI command with -o json and decodes its output.
func (s *server) json(args ...string) map[string]any {
	s.t.Helper()
	var m map[string]any
	out := s.cli(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		s.t.Fatalf("vpngw %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return m
}

// ok runs a command that must succeed without writing to stderr and
// decodes its JSON output (if any).
func (s *server) ok(args ...string) map[string]any {
	s.t.Helper()
	code, out, errOut := s.run(args...)
	if code != 0 {
		s.t.Fatalf("vpngw %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	if errOut != "" {
		s.t.Errorf("vpngw %s wrote to stderr: %s", strings.Join(args, " "), errOut)
	}
	var v map[string]any
	if strings.HasPrefix(strings.TrimSpace(out), "{") {
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			s.t.Fatalf("vpngw %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return v
}

// fails runs a command that must exit with code and mention every string
// on stderr.
func (s *server) fails(code int, mention []string, args ...string) {
	s.t.Helper()
	got, out, errOut := s.run(args...)
	if got != code {
		s.t.Errorf("vpngw %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out, errOut)
	}
	for _, m := range mention {
		if !strings.Contains(errOut, m) {
			s.t.Errorf("vpngw %s: stderr lacks %q:\n%s", strings.Join(args, " "), m, errOut)
		}
	}
}

// do sends an ARM request (api-version added unless the path has a query)
// and returns the status, body and headers.
func (s *server) do(ctx context.Context, method, path, body string) (int, []byte, http.Header, error) {
	u := path
	if !strings.HasPrefix(u, "http") {
		u = s.url + path
	}
	if !strings.Contains(u, "?") {
		u += "?api-version=" + apiVersion
	}
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	// As every ARM client: the API refuses writes without it.
	req.Header.Set("Content-Type", "application/json")
	tok, err := s.bearer(ctx)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := s.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header, err
}

// apiVersion is the api-version do sends.
const apiVersion = "2024-05-01"

// cloud is one `vpngw serve --provider lab` with its own lab prefix and
// data directory.
type cloud struct {
	*server
	t      *testing.T
	dir    string
	prefix string
}

func newCloud(t *testing.T, extraFlags ...string) *cloud {
	swantest.Require(t)
	var r [3]byte
	_, _ = rand.Read(r[:])
	c := &cloud{t: t, dir: t.TempDir(), prefix: "ve" + hex.EncodeToString(r[:])}
	c.server = startServe(t, nil, append([]string{"--provider", "lab", "--lab-prefix", c.prefix, "--data-dir", c.dir,
		"--log-level", "debug"}, extraFlags...)...)
	// Runs before the server stops (cleanups run last-in first-out).
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs()
		}
		// Tear the lab down (agents and charons stopped by PID), then
		// the server stops.
		down := exec.Command(vpngwBin(t), "lab", "down", "--force", "--server", c.url, "--lab-prefix", c.prefix)
		down.Env = append(os.Environ(), c.env()...)
		out, err := down.CombinedOutput()
		if err != nil {
			t.Logf("lab down: %v %s", err, out)
		}
	})
	return c
}

func (c *cloud) dumpLogs() {
	c.t.Logf("serve log (tail):\n%s", c.proc.tail(40))
	logs, _ := filepath.Glob(filepath.Join(c.dir, "lab", "logs", "*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		c.t.Logf("%s (tail):\n%s", filepath.Base(l), tailLines(string(b), 30))
	}
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

// activeActiveGateway creates group RG1 with VNet1 (10.1.0.0/16: Workload
// 10.1.1.0/24 and GatewaySubnet), public IPs ip1 and ip2 and the
// active-active VpnGw2 gateway GW1 on them, and returns the two addresses.
func (c *cloud) activeActiveGateway() []string {
	c.t.Helper()
	return c.activeActiveGatewayWith("GW1", []string{"ip1", "ip2"})
}

// activeActiveGatewayWith is activeActiveGateway with the gateway's name,
// its public IPs' names (a third for point-to-site) and more flags of
// vnet-gateway create.
func (c *cloud) activeActiveGatewayWith(name string, pips []string, extra ...string) []string {
	c.t.Helper()
	c.cli("group", "create", "-n", "RG1", "-l", "westeurope", "-o", "none")
	c.cli("network", "vnet", "create", "-g", "RG1", "-n", "VNet1", "--address-prefixes", "10.1.0.0/16",
		"--subnet-name", "Workload", "--subnet-prefixes", "10.1.1.0/24", "-o", "none")
	c.cli("network", "vnet", "subnet", "create", "-g", "RG1", "--vnet-name", "VNet1", "-n", "GatewaySubnet", "--address-prefixes", "10.1.255.0/27", "-o", "none")
	var ips []string
	for _, n := range pips {
		c.cli("network", "public-ip", "create", "-g", "RG1", "-n", n, "-o", "none")
		ips = append(ips, strings.TrimSpace(c.cli("network", "public-ip", "show", "-g", "RG1", "-n", n, "--query", "ipAddress", "-o", "tsv")))
	}
	args := append([]string{"network", "vnet-gateway", "create", "-g", "RG1", "-n", name, "--vnet", "VNet1", "--public-ip-addresses"}, pips...)
	c.cli(append(append(args, "--sku", "VpnGw2", "--vpn-gateway-generation", "Generation2", "-o", "none"), extra...)...)
	return ips
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
	device, hostNS *nstest.NS
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
		device: nstest.Open(c.t, m["namespace"].(string)), hostNS: nstest.Open(c.t, m["hostNamespace"].(string)),
		prefix: netip.MustParsePrefix(prefix)}
}

// labClient creates a point-to-site client on the lab's internet (vpngw
// lab client create) and returns its namespace.
func (c *cloud) labClient(name, publicIP string) *nstest.NS {
	c.t.Helper()
	out := c.cli("lab", "client", "create", "-n", name, "--public-ip", publicIP)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		c.t.Fatalf("lab client create: %v: %s", err, out)
	}
	return nstest.Open(c.t, m["namespace"].(string))
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

// waitTunnelsConnected waits until connection name reports n tunnels, all
// Connected.
func (c *cloud) waitTunnelsConnected(sub, group, name string, n int, timeout time.Duration) {
	c.t.Helper()
	nstest.WaitFor(c.t, timeout, func() bool {
		tun, _ := c.connection(sub, group, name)["tunnelConnectionStatus"].([]any)
		if len(tun) != n {
			return false
		}
		for _, x := range tun {
			if x.(map[string]any)["connectionStatus"] != "Connected" {
				return false
			}
		}
		return true
	}, "%d Connected tunnels: %v", n, c.connection(sub, group, name)["tunnelConnectionStatus"])
}

// vmNS is a VM's namespace (from `vpngw lab status`).
func (c *cloud) vmNS(sub, group, name string) *nstest.NS {
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
			return nstest.Open(c.t, v["namespace"].(string))
		}
	}
	c.t.Fatalf("no VM %s in %s", name, out)
	return nil
}

// pingLoss pings addr count times at interval from ns and returns the loss
// in percent.
func pingLoss(t *testing.T, ns *nstest.NS, addr netip.Addr, count int, interval string) int {
	t.Helper()
	out, _ := ns.Run("ping", "-c", strconv.Itoa(count), "-i", interval, "-W", "1", "-q", addr.String())
	loss, err := nstest.PingLoss(out)
	if err != nil {
		t.Fatal(err)
	}
	return loss
}

func reachable(t *testing.T, ns *nstest.NS, addr netip.Addr, timeout time.Duration) {
	t.Helper()
	nstest.WaitFor(t, timeout, func() bool {
		_, err := ns.Run("ping", "-c", "1", "-W", "1", "-q", addr.String())
		return err == nil
	}, "%s cannot reach %s", ns.Name, addr)
}

// transfer sends n bytes over TCP from one namespace to a listener in
// another and compares checksums.
func transfer(t *testing.T, from, to *nstest.NS, toAddr netip.Addr, n int) {
	t.Helper()
	nstest.TransferTCP(t, from.Handle(), to.Handle(), toAddr, 5301, int64(n))
}

// instanceSocket finds the status socket of a gateway's active instance.
func (c *cloud) agentStatus(instance string) agent.Status {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	st, _ := agent.FetchStatus(ctx, "/run/vpngw/agent-"+instance+".sock", agent.StatusQuery{})
	return st
}

func mustAddr(t *testing.T, v any) netip.Addr {
	t.Helper()
	str, _ := v.(string)
	a, err := netip.ParseAddr(str)
	if err != nil {
		t.Fatalf("address %v: %v", v, err)
	}
	return a
}

// labProcessPID is the PID of a process the lab recorded (`vpngw lab
// status`), e.g. "agent-" + an instance ID.
func (c *cloud) labProcessPID(name string) int {
	c.t.Helper()
	var st struct {
		Processes []struct {
			Name    string `json:"name"`
			PID     int    `json:"pid"`
			Running bool   `json:"running"`
		} `json:"processes"`
	}
	out := c.cli("lab", "status", "-o", "json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		c.t.Fatalf("lab status: %v: %s", err, out)
	}
	for _, p := range st.Processes {
		if p.Name == name && p.Running && p.PID > 0 {
			return p.PID
		}
	}
	c.t.Fatalf("no running lab process %s: %s", name, out)
	return 0
}

// pingRun is the outcome of pingGaps.
type pingRun struct {
	sent, received, lost int
	// maxGap is the longest run of consecutive lost pings, and gapFrom
	// the sequence number (from 1) of its first.
	maxGap, gapFrom int
	// lostSeqs are the sequence numbers (from 1) of the lost pings.
	lostSeqs []int
}

// pingGaps pings addr count times at interval from ns and finds the
// longest run of lost replies (the outage, in pings). NS.Run kills a
// command after 30 s: keep count × interval well under that, or the last
// pings count as lost.
func pingGaps(ns *nstest.NS, addr netip.Addr, count int, interval time.Duration) pingRun {
	out, _ := ns.Run("ping", "-n", "-c", strconv.Itoa(count), "-i", strconv.FormatFloat(interval.Seconds(), 'f', 3, 64), "-W", "1", addr.String())
	got := map[int]bool{}
	for _, line := range strings.Split(out, "\n") {
		i := strings.Index(line, "icmp_seq=")
		if i < 0 || !strings.Contains(line, "bytes from") { // not "Destination Host Unreachable"
			continue
		}
		f := strings.Fields(line[i+len("icmp_seq="):])
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.Atoi(f[0]); err == nil {
			got[n] = true
		}
	}
	r := pingRun{sent: count, received: len(got), lost: count - len(got)}
	gap := 0
	for seq := 1; seq <= count; seq++ {
		if got[seq] {
			gap = 0
			continue
		}
		gap++
		r.lostSeqs = append(r.lostSeqs, seq)
		if gap > r.maxGap {
			r.maxGap, r.gapFrom = gap, seq-gap+1
		}
	}
	return r
}
