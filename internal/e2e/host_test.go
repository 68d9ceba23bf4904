package e2e_test

// The host provider end to end: `vpngw serve --provider host` on a control
// plane host and `vpngw agent --server URL --instance ID` on two gateway
// hosts, each a network namespace with its own interfaces, as real machines
// would have them:
//
//	                  ┌──────── vhost-inet (bridge br0: "the internet", 203.0.113.0/24) ────────┐
//	          wan0 203.0.113.10/24          wan0 (no address)              wan0 203.0.113.50/24
//	     ┌──── vhost-gw0 ────┐         ┌──── vhost-gw1 ────┐         ┌─── vhost-site ───┐ strongSwan
//	     │ agent instance -0 │         │ agent instance -1 │         │ lan0 10.50.0.1   │
//	     └ mgmt0 ─── lan0 ───┘         └ mgmt0 ─── lan0 ───┘         └───────┬──────────┘
//	  10.99.0.10   10.1.255.4/27     10.99.0.11   10.1.255.5/27        eth0 10.50.0.2
//	       │            │                 │            │              vhost-sitehost
//	  ┌────┴── vhost-cp (bridge mgmt0 10.99.0.1/24) ───┴┐ │
//	  │ vpngw serve --provider host                     │ │
//	  │   --agent-listen 10.99.0.1:8481                 │ │
//	  └─────────────────────────────────────────────────┘ │
//	            ┌── vhost-vnet (router; bridge gws0 10.1.255.1/27; 10.50.0.0/16 via the active host) ──┐
//	            └── w0 10.1.1.1/24 ── eth0 10.1.1.4/24 vhost-vm (the VNet host) ────────────────────────┘
//
// The gateway's public IP (the pool is exactly 203.0.113.10/32) is on the
// active host only; the standby host's internet leg has no address, like a
// real standby whose floating address is elsewhere. The VNet side routes the
// site's prefix to the active host: the test sets that route, as the
// operator's network would. The control plane reaches nothing itself: the
// agents connect to its agent API over the management network with the
// token it created.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/reconcile"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/tstest/etcdtest"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

// Addresses of the host-provider world.
var (
	hostPublicIP  = netip.MustParseAddr("203.0.113.10")
	hostSiteIP    = netip.MustParseAddr("203.0.113.50")
	hostAgentAPI  = "10.99.0.1:8481"
	hostVM        = netip.MustParseAddr("10.1.1.4")
	hostSiteHost  = netip.MustParseAddr("10.50.0.2")
	hostLANAddrs  = [2]string{"10.1.255.4/27", "10.1.255.5/27"}
	hostMgmtAddrs = [2]string{"10.99.0.10/24", "10.99.0.11/24"}
)

// hostWorld is the namespaces above, the control plane and the agents.
type hostWorld struct {
	t    *testing.T
	bin  string
	dir  string // test files: logs, token copies, agent state
	data string // the control plane's --data-dir

	inet, cp, vnet, vm, site, siteHost *nstest.NS
	gw                                 [2]*nstest.NS

	serve *server // the control plane, in vhost-cp; nil before startServe
	procs []*proc // the agents
	// agentServers is the agents' --server (default https://hostAgentAPI).
	agentServers string
}

func newHostWorld(t *testing.T) *hostWorld {
	swantest.Require(t)
	w := &hostWorld{t: t, bin: vpngwBin(t), dir: t.TempDir()}
	w.data = filepath.Join(w.dir, "data")
	w.inet = nstest.New(t, "vhost-inet")
	w.cp = nstest.New(t, "vhost-cp")
	w.gw[0] = nstest.New(t, "vhost-gw0")
	w.gw[1] = nstest.New(t, "vhost-gw1")
	w.vnet = nstest.New(t, "vhost-vnet")
	w.vm = nstest.New(t, "vhost-vm")
	w.site = nstest.New(t, "vhost-site")
	w.siteHost = nstest.New(t, "vhost-sitehost")
	none := netip.Prefix{}

	bridge(t, w.inet, "br0", none)
	bridge(t, w.cp, "mgmt0", netip.MustParsePrefix("10.99.0.1/24"))
	bridge(t, w.vnet, "gws0", netip.MustParsePrefix("10.1.255.1/27"))
	for i, h := range w.gw {
		// The internet leg: the public IP on the active host only.
		wan := none
		if i == 0 {
			wan = netip.PrefixFrom(hostPublicIP, 24)
		}
		bridgePort(t, w.inet, "br0", fmt.Sprintf("p%d", i), h, "wan0", wan)
		bridgePort(t, w.cp, "mgmt0", fmt.Sprintf("m%d", i), h, "mgmt0", netip.MustParsePrefix(hostMgmtAddrs[i]))
		bridgePort(t, w.vnet, "gws0", fmt.Sprintf("g%d", i), h, "lan0", netip.MustParsePrefix(hostLANAddrs[i]))
		// What docs/host.md asks of a gateway host: forwarding, no strict
		// reverse-path filter, the VNet's address space via the VNet side.
		h.Sysctl(t, "net.ipv4.ip_forward", "1")
		h.Sysctl(t, "net.ipv4.conf.all.rp_filter", "0")
		h.Sysctl(t, "net.ipv4.conf.default.rp_filter", "0")
		h.MustRun(t, "ip", "route", "add", "10.1.0.0/16", "via", "10.1.255.1", "dev", "lan0")
	}
	// The VNet: a router with the GatewaySubnet bridge and a workload
	// subnet with one host.
	nstest.Link(t, w.vnet, "w0", netip.MustParsePrefix("10.1.1.1/24"), w.vm, "eth0", netip.PrefixFrom(hostVM, 24))
	w.vnet.Sysctl(t, "net.ipv4.ip_forward", "1")
	w.vm.MustRun(t, "ip", "route", "add", "default", "via", "10.1.1.1")
	w.routeSiteVia(0)
	// The site: a VPN device on the internet with a host behind it.
	bridgePort(t, w.inet, "br0", "p9", w.site, "wan0", netip.PrefixFrom(hostSiteIP, 24))
	nstest.Link(t, w.site, "lan0", netip.MustParsePrefix("10.50.0.1/24"), w.siteHost, "eth0", netip.PrefixFrom(hostSiteHost, 24))
	w.site.Sysctl(t, "net.ipv4.ip_forward", "1")
	w.siteHost.MustRun(t, "ip", "route", "add", "default", "via", "10.50.0.1")

	// Runs after the processes have stopped (cleanups run last-in
	// first-out), before the namespaces go.
	t.Cleanup(func() {
		if t.Failed() {
			w.dumpLogs()
		}
	})
	return w
}

func bridge(t *testing.T, ns *nstest.NS, name string, addr netip.Prefix) {
	t.Helper()
	ns.MustRun(t, "ip", "link", "add", name, "type", "bridge")
	if addr.IsValid() {
		ns.MustRun(t, "ip", "addr", "add", addr.String(), "dev", name)
	}
	ns.MustRun(t, "ip", "link", "set", name, "up")
}

// bridgePort links other's interface otherName (with otherAddr) to the
// bridge br in brNS through the port portName.
func bridgePort(t *testing.T, brNS *nstest.NS, br, portName string, other *nstest.NS, otherName string, otherAddr netip.Prefix) {
	t.Helper()
	nstest.Link(t, brNS, portName, netip.Prefix{}, other, otherName, otherAddr)
	brNS.MustRun(t, "ip", "link", "set", portName, "master", br)
}

// routeSiteVia points the VNet's route to the site at gateway host i (the
// operator's job with real hosts).
func (w *hostWorld) routeSiteVia(i int) {
	w.t.Helper()
	via := strings.Split(hostLANAddrs[i], "/")[0]
	w.vnet.MustRun(w.t, "ip", "route", "replace", "10.50.0.0/16", "via", via)
}

// startServe starts the control plane in vhost-cp (again, on the same data
// directory, if it ran before) and waits for its API.
func (w *hostWorld) startServe() {
	w.t.Helper()
	if w.serve != nil {
		w.serve.restart()
		return
	}
	w.serve = startServe(w.t, w.cp, "--provider", "host",
		"--agent-listen", hostAgentAPI, "--data-dir", w.data,
		"--public-ip-pool", netip.PrefixFrom(hostPublicIP, 32).String(), "--log-level", "debug")
}

// startAgent runs `vpngw agent --server ... --instance ID` on gateway host i
// with the token in tokenFile; tag names its files.
func (w *hostWorld) startAgent(i int, instance, tokenFile, tag string) *proc {
	w.t.Helper()
	dir := filepath.Join(w.dir, tag)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		w.t.Fatal(err)
	}
	servers := w.agentServers
	if servers == "" {
		servers = "https://" + hostAgentAPI
	}
	p := startProc(w.t, w.gw[i], filepath.Join(w.dir, tag+".log"), w.bin, "agent", "--server", servers, "--instance", instance,
		"--ca-file", w.serve.caFile(), "--token-file", tokenFile, "--state-dir", dir, "--socket", filepath.Join(dir, "status.sock"), "--log-level", "debug")
	w.t.Cleanup(func() { p.stop(syscall.SIGTERM) })
	w.procs = append(w.procs, p)
	return p
}

func (w *hostWorld) dumpLogs() {
	procs := w.procs
	if w.serve != nil {
		procs = append([]*proc{w.serve.proc}, procs...)
	}
	for _, p := range procs {
		w.t.Logf("%s (tail):\n%s", filepath.Base(p.log), p.tail(60))
	}
}

// instances reads the instances view through the CLI.
func (w *hostWorld) instances(group, gw string) []api.GatewayInstance {
	w.t.Helper()
	out := w.serve.cli("network", "vnet-gateway", "list-instances", "-g", group, "-n", gw, "-o", "json")
	var list []api.GatewayInstance
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		w.t.Fatalf("list-instances: %v: %s", err, out)
	}
	return list
}

func (w *hostWorld) connectionStatus(group, name string) string {
	out, err := w.serve.cliErr("network", "vpn-connection", "show", "-g", group, "-n", name, "--query", "connectionStatus", "-o", "tsv")
	if err != nil {
		return "error: " + out
	}
	return strings.TrimSpace(out)
}

func (w *hostWorld) waitConnected(group, name string, timeout time.Duration) {
	w.t.Helper()
	nstest.WaitFor(w.t, timeout, func() bool { return w.connectionStatus(group, name) == "Connected" },
		"connection %s/%s is %s", group, name, w.connectionStatus(group, name))
}

// writeToken writes a token file as an operator would install it.
func writeToken(t *testing.T, path, token string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestHostProvider runs a gateway on two "real" gateway hosts fed by
// `vpngw serve --provider host`: the gateway succeeds only once both agents
// report, a wrong token is refused, the tunnel to a strongSwan site carries
// traffic between the VNet and the site, it keeps doing so while the
// control plane is killed and comes back with it, and a failover works
// once the operator moves the public IP (which vpngw does not do).
func TestHostProvider(t *testing.T) {
	w := newHostWorld(t)
	const (
		group, vnet, pip, gw = "HostRG", "HostVNet", "HostGWIP", "HostGW"
		key                  = "hostKey4242"
	)
	w.startServe()
	tokenPath := filepath.Join(w.data, "agent-token")
	fi, err := os.Stat(tokenPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("agent token %s: %v %v", tokenPath, fi, err)
	}
	// Each instance's own token, as the operator prints it for its host.
	instanceToken := func(id string) string {
		out, err := exec.Command(w.bin, "serve", "agent-token", "--data-dir", w.data, "--instance", id).Output()
		if err != nil {
			t.Fatalf("serve agent-token: %v", err)
		}
		return strings.TrimSpace(string(out))
	}

	w.serve.cli("group", "create", "-n", group, "-l", "westeurope", "-o", "none")
	w.serve.cli("network", "vnet", "create", "-g", group, "-n", vnet, "--address-prefixes", "10.1.0.0/16",
		"--subnet-name", "Workload", "--subnet-prefixes", "10.1.1.0/24", "-o", "none")
	w.serve.cli("network", "vnet", "subnet", "create", "-g", group, "--vnet-name", vnet, "-n", "GatewaySubnet",
		"--address-prefixes", "10.1.255.0/27", "-o", "none")
	w.serve.cli("network", "public-ip", "create", "-g", group, "-n", pip, "-o", "none")
	if got := w.serve.tsv("network", "public-ip", "show", "-g", group, "-n", pip, "--query", "ipAddress"); got != hostPublicIP.String() {
		t.Fatalf("public IP %q, want %s (the address gateway host 0 owns)", got, hostPublicIP)
	}
	w.serve.cli("network", "vnet-gateway", "create", "-g", group, "-n", gw, "--vnet", vnet, "--public-ip-addresses", pip,
		"--sku", "VpnGw1", "--no-wait", "-o", "none")
	gwState := func() string {
		return w.serve.tsv("network", "vnet-gateway", "show", "-g", group, "-n", gw, "--query", "provisioningState")
	}

	// The instance IDs, as the operator learns them.
	var list []api.GatewayInstance
	nstest.WaitFor(t, 30*time.Second, func() bool {
		list = w.instances(group, gw)
		return len(list) == 2
	}, "list-instances: %+v", list)
	gwID := resource.ID{Subscription: resource.DefaultSubscription, ResourceGroup: group, Type: resource.TypeVirtualNetworkGateways, Name: gw}
	var ids [2]string
	for i, in := range list {
		ids[i] = in.Name
		if in.Name != reconcile.InstanceID(gwID, i) || in.Index != i || in.PublicIPAddress != hostPublicIP.String() ||
			in.PrivateIPAddress+"/27" != hostLANAddrs[i] || in.State != api.InstanceStateNotConnected ||
			!strings.Contains(in.Error, "--instance "+in.Name) {
			t.Fatalf("instance %d: %+v", i, in)
		}
	}
	if list[0].Role != "active" || list[1].Role != "standby" {
		t.Fatalf("roles %s/%s", list[0].Role, list[1].Role)
	}

	// A wrong token is refused, with a line in both logs saying so: here
	// the other instance's own token (each host's token is good for its
	// instance only).
	writeToken(t, filepath.Join(w.dir, "wrong", "agent-token"), instanceToken(ids[1]))
	wrong := w.startAgent(0, ids[0], filepath.Join(w.dir, "wrong", "agent-token"), "agent-wrong-token")
	nstest.WaitFor(t, 30*time.Second, func() bool {
		return strings.Contains(wrong.logText(), "401 Unauthorized: missing or wrong agent token") &&
			regexp.MustCompile(`agent API request refused: wrong token.*remote=10\.99\.0\.10`).MatchString(w.serve.logText())
	}, "no refusal in the logs")
	wrong.stop(syscall.SIGTERM)
	// The gateway waits for its instances meanwhile.
	if st := gwState(); st != "Updating" {
		t.Fatalf("gateway %s before any agent reported", st)
	}
	for _, in := range w.instances(group, gw) {
		if in.State != api.InstanceStateNotConnected {
			t.Fatalf("instance %s is %s after a refused agent", in.Name, in.State)
		}
	}

	// The operator installs the token on each gateway host and starts the
	// agents: the active instance first (see docs/host.md).
	var agents [2]*proc
	for i := range agents {
		tok := filepath.Join(w.dir, fmt.Sprintf("host%d", i), "agent-token")
		writeToken(t, tok, instanceToken(ids[i]))
		agents[i] = w.startAgent(i, ids[i], tok, fmt.Sprintf("agent%d", i))
		nstest.WaitFor(t, 30*time.Second, func() bool { return w.instances(group, gw)[i].LastReport != "" },
			"instance %s never reported", ids[i])
		if i == 0 {
			// One instance is not enough: the gateway waits for both.
			if st := gwState(); st != "Updating" {
				t.Fatalf("gateway %s with only instance 0 running", st)
			}
		}
	}
	nstest.WaitFor(t, 60*time.Second, func() bool { return gwState() != "Updating" }, "gateway still Updating")
	if st := gwState(); st != "Succeeded" {
		t.Fatalf("gateway %s", st)
	}
	t.Logf("list-instances -o table:\n%s", w.serve.cli("network", "vnet-gateway", "list-instances", "-g", group, "-n", gw, "-o", "table"))
	for _, in := range w.instances(group, gw) {
		if in.State != api.InstanceStateReady || in.AppliedRevision != in.DesiredRevision {
			t.Fatalf("instance %s: %+v", in.Name, in)
		}
	}

	// The site: strongSwan on the VPN device, the local network gateway
	// and the connection.
	swan := swantest.Start(t, w.site, swantest.Conn{Name: "azure", LocalAddr: hostSiteIP.String(), RemoteAddr: hostPublicIP.String(), PSK: key,
		IKE: "aes256-sha1-modp1024,aes256gcm16-prfsha256-ecp256", ESP: "aes256gcm16,aes256-sha1",
		LocalTS: []string{"10.50.0.0/16"}, RemoteTS: []string{"10.1.0.0/16"}, DPDDelay: "5s", DPDAction: "restart"})
	w.serve.cli("network", "local-gateway", "create", "-g", group, "-n", "onprem", "--gateway-ip-address", hostSiteIP.String(),
		"--local-address-prefixes", "10.50.0.0/16", "-o", "none")
	w.serve.cli("network", "vpn-connection", "create", "-g", group, "-n", "to-onprem", "--vnet-gateway1", gw,
		"--local-gateway2", "onprem", "--shared-key", key, "-o", "none")
	w.waitConnected(group, "to-onprem", 60*time.Second)
	out := w.serve.cli("network", "vnet-gateway", "list-instances", "-g", group, "-n", gw, "-o", "json")
	if strings.Contains(out, key) {
		t.Fatal("list-instances shows the shared key")
	}
	list = w.instances(group, gw)
	if len(list[0].Connections) != 1 || list[0].Connections[0].Name != "to-onprem" || list[0].Connections[0].ConnectionStatus != "Connected" ||
		len(list[1].Connections) != 0 {
		t.Fatalf("instances' connections: %+v", list)
	}
	if sas, err := swan.SAs(); err != nil || len(sas) != 1 {
		t.Fatalf("strongSwan SAs: %v %+v", err, sas)
	}

	vmNS, siteHostNS := w.vm, w.siteHost
	reachable(t, vmNS, hostSiteHost, 20*time.Second)
	if loss := pingLoss(t, siteHostNS, hostVM, 5, "0.2"); loss != 0 {
		t.Fatalf("site host → VNet host: %d%% loss", loss)
	}
	transfer(t, vmNS, siteHostNS, hostSiteHost, 4<<20)
	transfer(t, siteHostNS, vmNS, hostVM, 4<<20)

	// The control plane dies (SIGKILL): traffic keeps flowing.
	pinged := make(chan int, 1)
	go func() { pinged <- pingLoss(t, vmNS, hostSiteHost, 100, "0.05") }()
	time.Sleep(time.Second) // kill it in the middle of the pings
	w.serve.stop(syscall.SIGKILL)
	nstest.WaitFor(t, 30*time.Second, func() bool {
		return strings.Contains(agents[0].logText(), "control plane unreachable") && strings.Contains(agents[1].logText(), "control plane unreachable")
	}, "the agents did not notice the control plane was gone")
	if loss := <-pinged; loss != 0 {
		t.Fatalf("%d%% ping loss while the control plane was killed", loss)
	}
	// Bulk data too, once the pings are done: a TCP transfer fills the
	// tunnel's queues, and a ping dropped behind it would be congestion,
	// not the control plane's absence.
	transfer(t, vmNS, siteHostNS, hostSiteHost, 2<<20)
	// It comes back: the agents report again and the status returns.
	restarted := time.Now()
	w.startServe()
	w.waitConnected(group, "to-onprem", 60*time.Second)
	nstest.WaitFor(t, 60*time.Second, func() bool {
		for _, in := range w.instances(group, gw) {
			at, err := time.Parse(time.RFC3339, in.LastReport)
			if err != nil || at.Before(restarted.Add(-time.Second)) || in.State != api.InstanceStateReady {
				return false
			}
		}
		return true
	}, "instances not Ready after the restart: %+v", w.instances(group, gw))
	if st := gwState(); st != "Succeeded" {
		t.Fatalf("gateway %s after the restart", st)
	}
	reachable(t, vmNS, hostSiteHost, 10*time.Second)

	// The active host dies. The control plane promotes the standby after
	// its silence; the public IP and the VNet's route do not move by
	// themselves: the operator (or their tooling) moves them.
	agents[0].stop(syscall.SIGKILL)
	nstest.WaitFor(t, 90*time.Second, func() bool {
		l := w.instances(group, gw)
		return l[0].Role == "standby" && l[1].Role == "active"
	}, "no failover to the standby: %+v", w.instances(group, gw))
	failedOver := time.Now()
	w.gw[0].MustRun(t, "ip", "addr", "del", netip.PrefixFrom(hostPublicIP, 24).String(), "dev", "wan0")
	w.gw[1].MustRun(t, "ip", "addr", "add", netip.PrefixFrom(hostPublicIP, 24).String(), "dev", "wan0")
	w.routeSiteVia(1)
	w.waitConnected(group, "to-onprem", 90*time.Second)
	reachable(t, vmNS, hostSiteHost, 30*time.Second)
	t.Logf("failover: traffic flows %v after the control plane promoted the standby", time.Since(failedOver).Round(time.Millisecond))
	transfer(t, siteHostNS, vmNS, hostVM, 2<<20)
	// The view tells the story: the dead instance silent, the new active
	// one Ready with the connection up.
	nstest.WaitFor(t, 30*time.Second, func() bool {
		list = w.instances(group, gw)
		return list[0].State == api.InstanceStateSilent && list[1].State == api.InstanceStateReady &&
			len(list[1].Connections) == 1 && list[1].Connections[0].ConnectionStatus == "Connected"
	}, "instances after the failover: %+v", list)
}

// The systemd units in deploy/systemd: systemd-analyze verify accepts them,
// and their command lines (with the example settings) parse with this
// vpngw, so that neither can drift from the other.
func TestSystemdUnits(t *testing.T) {
	bin := vpngwBin(t)
	unitDir := filepath.Join("..", "..", "deploy", "systemd")
	env := map[string]string{}
	for _, f := range []string{"vpngw.env.example", "agent.env.example"} {
		b, err := os.ReadFile(filepath.Join(unitDir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(k, "#") {
				env[k] = v
			}
		}
	}
	for _, tc := range []struct {
		unit, sub string
		want      []string // lines the unit must have
	}{
		{"vpngw.service", "serve", []string{"EnvironmentFile=/etc/vpngw/vpngw.env", "Restart=on-failure"}},
		{"vpngw-agent@.service", "agent", []string{"EnvironmentFile=/etc/vpngw/agent.env", "Restart=on-failure",
			"DeviceAllow=/dev/net/tun rw", "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE"}},
	} {
		t.Run(tc.unit, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(unitDir, tc.unit))
			if err != nil {
				t.Fatal(err)
			}
			text := string(b)
			lines := strings.Split(text, "\n")
			for _, want := range tc.want {
				found := false
				for _, l := range lines {
					found = found || l == want
				}
				if !found {
					t.Errorf("%s lacks %q", tc.unit, want)
				}
			}
			var execStart []string
			for _, l := range lines {
				if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
					execStart = strings.Fields(v)
				}
			}
			if len(execStart) < 2 || execStart[0] != "/usr/local/bin/vpngw" || execStart[1] != tc.sub {
				t.Fatalf("ExecStart %v", execStart)
			}
			// Expand as systemd would with the example settings, and let
			// vpngw parse the flags (--help: parse, print usage, exit 0).
			args := []string{}
			for _, a := range execStart[1:] {
				a = strings.ReplaceAll(a, "%i", "g0123abcd-0")
				a = regexp.MustCompile(`\$\{(\w+)\}`).ReplaceAllStringFunc(a, func(v string) string {
					name := v[2 : len(v)-1]
					val, ok := env[name]
					if !ok {
						if m := regexp.MustCompile(`(?m)^Environment=` + name + `=(.*)$`).FindStringSubmatch(text); m != nil {
							return m[1]
						}
						t.Errorf("%s uses ${%s}, which neither the unit nor the example settings define", tc.unit, name)
					}
					return val
				})
				args = append(args, a)
			}
			out, err := runOut(bin, append(args, "--help")...)
			if err != nil || !strings.Contains(out, "Usage:") {
				t.Fatalf("vpngw %s --help: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}

	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze not installed: units checked against vpngw's flags only")
		return
	}
	// systemd-analyze verify checks every key and value (it needs the
	// binary to exist, so the copies point at the one under test).
	dir := t.TempDir()
	for _, u := range []string{"vpngw.service", "vpngw-agent@.service"} {
		b, err := os.ReadFile(filepath.Join(unitDir, u))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, u), bytes.ReplaceAll(b, []byte("/usr/local/bin/vpngw"), []byte(bin)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("systemd-analyze", "verify", "--man=no", "./vpngw.service", "./vpngw-agent@.service")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	// verify also loads the units ours depend on and may warn about the
	// system's own (e.g. a package's freeradius.service): only lines
	// about vpngw's units count.
	var ours []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "vpngw") {
			ours = append(ours, line)
		}
	}
	if err != nil || len(ours) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// exec_ runs a command and returns its combined output.
func runOut(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// A replicated control plane with real gateway hosts: three `vpngw serve
// --provider host --store etcd` replicas in vhost-cp, each with its own
// agent API address on the management network, and the agents of the host
// provider's world above given all three. etcd runs on the test
// host's loopback; the replicas reach it through a TCP forwarder the test
// listens with inside vhost-cp (127.0.0.1:2379 there).
//
//	vhost-cp: mgmt0 10.99.0.1, .2, .3 ── replica 0, 1, 2 (--agent-listen 10.99.0.N:8481)
//	          127.0.0.1:2379 ── forwarder ──► etcd on the host's loopback

// replicaAgentAPIs are the replicas' agent API addresses in vhost-cp.
var replicaAgentAPIs = [3]string{"10.99.0.1:8481", "10.99.0.2:8481", "10.99.0.3:8481"}

// forwardInto listens on addr inside ns and forwards each connection to
// target (on the test's own network): how the replicas in a namespace
// reach an etcd on the host's loopback.
func forwardInto(t *testing.T, ns *nstest.NS, addr, target string) {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
}

// nsClient is an HTTPS client trusting caFile whose connections are made
// inside ns (to reach a server listening on ns's loopback).
func nsClient(t *testing.T, ns *nstest.NS, caFile string) *http.Client {
	t.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = ns.Do(func() error {
				var d net.Dialer
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}}
	return &http.Client{Timeout: 3 * time.Second, Transport: tr}
}

// leads asks a replica's /readyz whether it leads.
func leads(hc *http.Client, s *server) bool {
	resp, err := hc.Get(s.url + "/readyz")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h struct {
		Leader bool `json:"leader"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&h) == nil && h.Leader
}

// TestReplicasTunnelsThroughTakeover is issue 14's proof with real
// tunnels: three replicas on one etcd, a gateway on two gateway hosts
// whose agents are given the three agent API URLs, a strongSwan site
// connected, and pings at 10 pps from the VNet host to the site host
// throughout. A second connection is created through a follower and the
// leader is killed (SIGKILL) while that operation is in flight; more
// writes go to the followers during the takeover. It checks: no ping
// lost (25 s of them, the leader killed 1 s in); a follower leads within
// the lease plus a margin; the agents
// report to the new leader (both instances Ready there, the connection
// Connected read from it); a follower answers a connection's live status,
// the instances view and a BGP action with the leader's answers, before
// the kill and after it (the new leader's); the in-flight operation
// reaches Succeeded; and
// every acknowledged write is on both live replicas. It logs the takeover
// and agent reconnect times.
func TestReplicasTunnelsThroughTakeover(t *testing.T) {
	etcd := etcdtest.Start(t)
	w := newHostWorld(t)
	const (
		group, vnet, pip, gw = "HARG", "HAVNet", "HAGWIP", "HAGW"
		key                  = "haKey4242"
		lease                = 5 * time.Second
	)
	for _, a := range replicaAgentAPIs[1:] {
		ip, _, _ := strings.Cut(a, ":")
		w.cp.MustRun(t, "ip", "addr", "add", ip+"/24", "dev", "mgmt0")
	}
	u, err := url.Parse(etcd.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	forwardInto(t, w.cp, "127.0.0.1:2379", u.Host)

	// The replicas share the secrets key, the agent key and the CA (an
	// operator copies DATA-DIR/tls; the agents trust that one CA for
	// every replica's agent API).
	shared := filepath.Join(w.dir, "shared")
	if err := os.MkdirAll(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	var reps [3]*server
	start := func(i int) {
		data := filepath.Join(w.dir, fmt.Sprintf("data%d", i))
		if i > 0 {
			if err := os.MkdirAll(filepath.Join(data, "tls"), 0o700); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"ca.crt", "ca.key"} {
				b, err := os.ReadFile(filepath.Join(reps[0].data, "tls", f))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(data, "tls", f), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		reps[i] = startServe(t, w.cp, "--provider", "host", "--data-dir", data,
			"--agent-listen", replicaAgentAPIs[i], "--agent-token-file", filepath.Join(shared, "agent-token"),
			"--secrets-key-file", filepath.Join(shared, "secrets.key"),
			"--public-ip-pool", "203.0.113.10/32", "--store", "etcd", "--etcd-endpoints", "http://127.0.0.1:2379",
			"--etcd-prefix", "/vpngw/e2e-ha/", "--leader-ttl", lease.String(), "--log-level", "debug")
		w.procs = append(w.procs, reps[i].proc)
	}
	for i := range reps {
		start(i)
	}
	// Replica 0 bootstrapped the administrator in the shared store; the
	// others sign in with its credential (principals live in the store).
	for i := 1; i < len(reps); i++ {
		reps[i].credential = reps[0].credentialFile()
	}
	w.serve = reps[0] // the CA and the agent key every replica shares
	var urls []string
	for _, a := range replicaAgentAPIs {
		urls = append(urls, "https://"+a)
	}
	w.agentServers = strings.Join(urls, ",")
	hc := nsClient(t, w.cp, reps[0].caFile())
	leaderOf := func(live []int) int {
		for _, i := range live {
			if leads(hc, reps[i]) {
				return i
			}
		}
		return -1
	}
	leader := -1
	nstest.WaitFor(t, 30*time.Second, func() bool { leader = leaderOf([]int{0, 1, 2}); return leader >= 0 }, "no replica leads")
	follower := (leader + 1) % 3
	ld, fw := reps[leader], reps[follower]
	t.Logf("replica %d leads", leader)

	// The gateway, through a follower; the instances view is the leader's.
	fw.cli("group", "create", "-n", group, "-l", "westeurope", "-o", "none")
	fw.cli("network", "vnet", "create", "-g", group, "-n", vnet, "--address-prefixes", "10.1.0.0/16",
		"--subnet-name", "Workload", "--subnet-prefixes", "10.1.1.0/24", "-o", "none")
	fw.cli("network", "vnet", "subnet", "create", "-g", group, "--vnet-name", vnet, "-n", "GatewaySubnet",
		"--address-prefixes", "10.1.255.0/27", "-o", "none")
	fw.cli("network", "public-ip", "create", "-g", group, "-n", pip, "-o", "none")
	fw.cli("network", "vnet-gateway", "create", "-g", group, "-n", gw, "--vnet", vnet, "--public-ip-addresses", pip,
		"--sku", "VpnGw1", "--asn", "65515", "--no-wait", "-o", "none")
	instancesOn := func(s *server) []api.GatewayInstance {
		var list []api.GatewayInstance
		out, err := s.cliErr("network", "vnet-gateway", "list-instances", "-g", group, "-n", gw, "-o", "json")
		if err == nil {
			_ = json.Unmarshal([]byte(out), &list)
		}
		return list
	}
	var list []api.GatewayInstance
	nstest.WaitFor(t, 30*time.Second, func() bool { list = instancesOn(ld); return len(list) == 2 }, "list-instances: %+v", list)
	for i, in := range list {
		tok, err := ld.cliErr("serve", "agent-token", "--agent-token-file", filepath.Join(shared, "agent-token"), "--instance", in.Name)
		if err != nil {
			t.Fatalf("serve agent-token: %v: %s", err, tok)
		}
		p := filepath.Join(w.dir, fmt.Sprintf("host%d", i), "agent-token")
		writeToken(t, p, strings.TrimSpace(tok))
		w.startAgent(i, in.Name, p, fmt.Sprintf("agent%d", i))
	}
	gwState := func(s *server) string {
		out, _ := s.cliErr("network", "vnet-gateway", "show", "-g", group, "-n", gw, "--query", "provisioningState", "-o", "tsv")
		return strings.TrimSpace(out)
	}
	nstest.WaitFor(t, 60*time.Second, func() bool { return gwState(fw) == "Succeeded" }, "gateway %s", gwState(fw))

	swantest.Start(t, w.site, swantest.Conn{Name: "azure", LocalAddr: hostSiteIP.String(), RemoteAddr: hostPublicIP.String(), PSK: key,
		IKE: "aes256-sha1-modp1024,aes256gcm16-prfsha256-ecp256", ESP: "aes256gcm16,aes256-sha1",
		LocalTS: []string{"10.50.0.0/16"}, RemoteTS: []string{"10.1.0.0/16"}, DPDDelay: "5s", DPDAction: "restart"})
	fw.cli("network", "local-gateway", "create", "-g", group, "-n", "onprem", "--gateway-ip-address", hostSiteIP.String(),
		"--local-address-prefixes", "10.50.0.0/16", "-o", "none")
	fw.cli("network", "vpn-connection", "create", "-g", group, "-n", "to-onprem", "--vnet-gateway1", gw,
		"--local-gateway2", "onprem", "--shared-key", key, "-o", "none")
	// A second site (nothing answers there): its connection is the
	// operation in flight when the leader dies.
	fw.cli("network", "local-gateway", "create", "-g", group, "-n", "onprem2", "--gateway-ip-address", "203.0.113.51",
		"--local-address-prefixes", "10.60.0.0/16", "-o", "none")
	status := func(s *server, name, query string) string {
		out, err := s.cliErr("network", "vpn-connection", "show", "-g", group, "-n", name, "--query", query, "-o", "tsv")
		if err != nil {
			return "error: " + out
		}
		return strings.TrimSpace(out)
	}
	nstest.WaitFor(t, 60*time.Second, func() bool { return status(ld, "to-onprem", "connectionStatus") == "Connected" },
		"to-onprem is %s on the leader", status(ld, "to-onprem", "connectionStatus"))
	reachable(t, w.vm, hostSiteHost, 20*time.Second)
	// A follower answers what only the leader knows (the agents report to
	// it) by forwarding the request to the leader.
	bgpPeers := func(s *server) string {
		out, err := s.cliErr("network", "vnet-gateway", "list-bgp-peer-status", "-g", group, "-n", gw, "-o", "json")
		if err != nil {
			return "error: " + out
		}
		return strings.Join(strings.Fields(out), "")
	}
	askFollower := func(f, l *server, when string) {
		t.Helper()
		if got := status(f, "to-onprem", "connectionStatus"); got != "Connected" {
			t.Errorf("%s: to-onprem is %q read through a follower, want the leader's Connected", when, got)
		}
		if fl, ll := instancesOn(f), instancesOn(l); len(fl) != 2 || fl[0].Name != ll[0].Name || fl[0].State != api.InstanceStateReady {
			t.Errorf("%s: the instances view through a follower: %+v; the leader's: %+v", when, fl, ll)
		}
		if got, want := bgpPeers(f), bgpPeers(l); got != want || strings.HasPrefix(got, "error") {
			t.Errorf("%s: list-bgp-peer-status through a follower: %s; the leader's: %s", when, got, want)
		}
	}
	askFollower(fw, ld, "before the kill")

	// Pings at 10 pps throughout; the leader is killed a second in.
	const pings = 250 // 25 s: NS.Run kills a command after 30 s
	pinged := make(chan pingRun, 1)
	pingStart := time.Now()
	go func() { pinged <- pingGaps(w.vm, hostSiteHost, pings, 100*time.Millisecond) }()
	time.Sleep(time.Second)
	fw.cli("network", "vpn-connection", "create", "-g", group, "-n", "to-onprem2", "--vnet-gateway1", gw,
		"--local-gateway2", "onprem2", "--shared-key", key, "--no-wait", "-o", "none")
	killed := time.Now()
	ld.stop(syscall.SIGKILL)
	if st := status(fw, "to-onprem2", "provisioningState"); st == "Succeeded" || strings.HasPrefix(st, "error") {
		t.Fatalf("to-onprem2 is %q right after the kill: the operation was not in flight", st)
	}
	live := []int{follower, (leader + 2) % 3}
	// Writes through both followers during the takeover, every 300 ms
	// until a replica leads.
	acked := []string{"onprem", "onprem2"}
	next := -1
	var took time.Duration
	for n := 0; next < 0; n++ {
		if time.Since(killed) > lease+10*time.Second {
			t.Fatalf("no replica leads %v after the leader was killed", time.Since(killed))
		}
		name := fmt.Sprintf("takeover%d", n)
		reps[live[n%2]].cli("network", "local-gateway", "create", "-g", group, "-n", name, "--gateway-ip-address",
			fmt.Sprintf("198.51.100.%d", n%250+1), "--local-address-prefixes", fmt.Sprintf("192.168.%d.0/24", n%250), "--no-wait", "-o", "none")
		acked = append(acked, name)
		if next = leaderOf(live); next >= 0 {
			took = time.Since(killed)
		}
		time.Sleep(300 * time.Millisecond)
	}
	nl := reps[next]
	t.Logf("leader %d killed (SIGKILL): replica %d leads after %v (lease %v); %d writes accepted meanwhile",
		leader, next, took.Round(time.Millisecond), lease, len(acked)-2)
	if took > lease+3*time.Second {
		t.Errorf("takeover took %v, want within the lease %v + 3 s", took, lease)
	}

	// The agents find the new leader: both instances report to it.
	nstest.WaitFor(t, 30*time.Second, func() bool {
		list = instancesOn(nl)
		return len(list) == 2 && list[0].State == api.InstanceStateReady && list[1].State == api.InstanceStateReady
	}, "instances on the new leader: %+v", list)
	reconnected := time.Since(killed) - took
	t.Logf("agents report to the new leader %v after it leads (%v after the kill)", reconnected.Round(time.Millisecond),
		time.Since(killed).Round(time.Millisecond))
	if got := status(nl, "to-onprem", "connectionStatus"); got != "Connected" {
		t.Errorf("to-onprem is %s read from the new leader", got)
	}
	other := live[0]
	if other == next {
		other = live[1]
	}
	askFollower(reps[other], nl, "after the takeover")
	nstest.WaitFor(t, 60*time.Second, func() bool { return status(nl, "to-onprem2", "provisioningState") == "Succeeded" },
		"to-onprem2 is %s", status(nl, "to-onprem2", "provisioningState"))
	settled := time.Now()
	t.Logf("the connection created as the leader died is Succeeded %v after the kill", time.Since(killed).Round(time.Millisecond))

	r := <-pinged
	t.Logf("pings VNet host → site host at 10 pps across the takeover: %d sent, %d received, longest gap %d from seq %d "+
		"(pings began %v before the kill, at %s)", r.sent, r.received, r.maxGap, r.gapFrom,
		killed.Sub(pingStart).Round(time.Millisecond), pingStart.UTC().Format("15:04:05.000"))
	// Every ping must come back. (The run lasts 25 s: a command in a
	// namespace is killed after 30 s, and a 30 s run of pings lost its last
	// ones that way, which looked like a loss late in the takeover.)
	if settled.Sub(pingStart)+2*time.Second > time.Duration(pings)*100*time.Millisecond {
		t.Logf("the operation completed %v after the pings began, near their end: the pings do not cover 2 s after it",
			settled.Sub(pingStart).Round(time.Millisecond))
	}
	if len(r.lostSeqs) != 0 {
		t.Errorf("pings lost across the takeover: %v", r.lostSeqs)
		out, _ := w.gw[0].Run(w.bin, "agent", "--status", "--socket", filepath.Join(w.dir, "agent0", "status.sock"))
		t.Logf("active instance's status:\n%s", out)
	}

	// Every acknowledged write is on both live replicas, and completes.
	for _, i := range live {
		s := reps[i]
		for _, name := range acked {
			nstest.WaitFor(t, 30*time.Second, func() bool {
				out, err := s.cliErr("network", "local-gateway", "show", "-g", group, "-n", name, "--query", "provisioningState", "-o", "tsv")
				return err == nil && strings.TrimSpace(out) == "Succeeded"
			}, "local gateway %s on replica %d", name, i)
		}
		for _, c := range []string{"to-onprem", "to-onprem2"} {
			if st := status(s, c, "provisioningState"); st != "Succeeded" {
				t.Errorf("%s on replica %d: %s", c, i, st)
			}
		}
		if st := gwState(s); st != "Succeeded" {
			t.Errorf("gateway on replica %d: %s", i, st)
		}
	}
}
