package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/reconcile"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
	"github.com/vpngw/vpngw/internal/tunstat"

	"golang.org/x/sys/unix"
)

const sub1 = "00000000-0000-0000-0000-000000000000"

// Site-to-Site to a strongSwan site, with strongSwan initiating and with
// vpngw initiating (and a custom IPsec policy and DPD timeout reaching the
// agent).
func TestSiteToSite(t *testing.T) {
	for _, mode := range []string{"vpngw-initiates", "strongswan-initiates"} {
		t.Run(mode, func(t *testing.T) {
			c := newCloud(t)
			gwIP := c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16")
			vm := c.vm(sub1, "RG1", "VNet1", "vm1")
			s := c.site("onprem", "192.0.2.10", "10.50.0.0/16")
			extra := []string{}
			if mode == "strongswan-initiates" {
				// vpngw waits; strongSwan brings the tunnel up.
				extra = []string{"--connection-mode", "ResponderOnly", "--dpd-timeout", "30"}
				s.strongswan(t, gwIP, "10.1.0.0/16", "s2sKey42", nil)
			} else {
				s.strongswan(t, gwIP, "10.1.0.0/16", "s2sKey42", func(cn *swantest.Conn) {
					cn.IKE, cn.ESP = "aes256-sha256-modp2048", "aes256-sha256"
				})
			}
			start := time.Now()
			c.connect(sub1, "RG1", "VNet1-gw", s, "s2sKey42", extra...)
			if mode == "vpngw-initiates" {
				// A custom policy reaches the agent: only it is offered.
				c.cli("network", "vpn-connection", "ipsec-policy", "add", "-g", "RG1", "--connection-name", "to-onprem",
					"--ike-encryption", "AES256", "--ike-integrity", "SHA256", "--dh-group", "DHGroup14",
					"--ipsec-encryption", "AES256", "--ipsec-integrity", "SHA256", "--pfs-group", "None",
					"--sa-lifetime", "27000", "--sa-max-size", "102400000", "-o", "none")
			}
			if mode == "strongswan-initiates" {
				if err := s.swan.Initiate("azure", 10*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			took := c.waitConnected(sub1, "RG1", "to-onprem", 30*time.Second)
			t.Logf("connection create → Connected in %v", time.Since(start).Round(time.Millisecond))
			_ = took
			vmNS := c.vmNS(sub1, "RG1", "vm1")
			reachable(t, vmNS, s.host, 10*time.Second)
			if loss := pingLoss(t, s.hostNS, vm, 5, "0.2"); loss != 0 {
				t.Fatalf("host → VM: %d%% loss", loss)
			}
			transfer(t, vmNS, s.hostNS, s.host, 4<<20)
			transfer(t, s.hostNS, vmNS, vm, 4<<20)
			conn := c.connection(sub1, "RG1", "to-onprem")
			if conn["connectionStatus"] != "Connected" || conn["ingressBytesTransferred"].(float64) == 0 {
				// The agent refreshes the counters it reports every
				// max(2 s, 1,000 times its last refresh's wall time)
				// (agent countersShare): on a loaded machine a refresh
				// that was preempted for 5 ms defers the next by 5 s.
				nstest.WaitFor(t, 20*time.Second, func() bool {
					conn = c.connection(sub1, "RG1", "to-onprem")
					return conn["ingressBytesTransferred"].(float64) > 0
				}, "byte counters: %v", conn)
			}
			tunnels, _ := conn["tunnelConnectionStatus"].([]any)
			if len(tunnels) != 1 || tunnels[0].(map[string]any)["connectionStatus"] != "Connected" ||
				tunnels[0].(map[string]any)["lastConnectionEstablishedUtcTime"] == "" {
				t.Fatalf("tunnelConnectionStatus: %v", conn["tunnelConnectionStatus"])
			}
			if strings.Contains(fmt.Sprint(conn), "s2sKey42") {
				t.Fatal("connection shows its shared key")
			}
			// What strongSwan negotiated shows the settings reached the agent.
			sas, err := s.swan.SAs()
			if err != nil || len(sas) != 1 {
				t.Fatalf("strongSwan SAs: %v %+v", err, sas)
			}
			if mode == "vpngw-initiates" && (sas[0].Encr != "AES_CBC256" || sas[0].DH != "MODP_2048") {
				t.Fatalf("custom policy not used: %+v", sas[0])
			}
			// Deleting the connection tears the tunnel down on both sides.
			c.cli("network", "vpn-connection", "delete", "-g", "RG1", "-n", "to-onprem")
			nstest.WaitFor(t, 10*time.Second, func() bool {
				sas, _ := s.swan.SAs()
				return len(sas) == 0
			}, "strongSwan still has SAs after the connection was deleted")
		})
	}
}

// branches connects n strongSwan sites, branch0... (192.0.2.20+i, with
// 10.(60+i).0.0/16 and key keyPrefix+i), to VNet1-gw (10.1.0.0/16, group
// RG1) and waits until each is Connected and reachable from vmNS.
func (c *cloud) branches(gwIP string, vmNS *nstest.NS, n int, keyPrefix string) []*labSite {
	c.t.Helper()
	var sites []*labSite
	for i := 0; i < n; i++ {
		s := c.site(fmt.Sprintf("branch%d", i), fmt.Sprintf("192.0.2.%d", 20+i), fmt.Sprintf("10.%d.0.0/16", 60+i))
		key := fmt.Sprintf("%s%d", keyPrefix, i)
		s.strongswan(c.t, gwIP, "10.1.0.0/16", key, nil)
		c.connect(sub1, "RG1", "VNet1-gw", s, key)
		sites = append(sites, s)
	}
	for _, s := range sites {
		c.waitConnected(sub1, "RG1", "to-"+s.name, 30*time.Second)
	}
	for _, s := range sites {
		reachable(c.t, vmNS, s.host, 10*time.Second)
	}
	return sites
}

// Multi-Site: three strongSwan sites on one RouteBased gateway at once.
func TestMultiSite(t *testing.T) {
	c := newCloud(t)
	gwIP := c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16")
	c.vm(sub1, "RG1", "VNet1", "vm1")
	vmNS := c.vmNS(sub1, "RG1", "vm1")
	c.branches(gwIP, vmNS, 3, "branchKey")
	list := c.cli("network", "vnet-gateway", "list-connections", "-g", "RG1", "-n", "VNet1-gw", "-o", "json")
	var conns []map[string]any
	if err := json.Unmarshal([]byte(list), &conns); err != nil || len(conns) != 3 {
		t.Fatalf("list-connections: %v %s", err, list)
	}
}

// VNet-to-VNet between VNets in different resource groups and different
// subscriptions, with the pair of Vnet2Vnet connections Azure uses; a
// change to one VNet's address space reaches the other side without user
// action. The first gateway also has a site-to-site connection (S2S and
// VNet-to-VNet on one gateway).
func TestVNetToVNetAndSiteToSite(t *testing.T) {
	c, gwA, gwB, vmA, vmB := newVNetPair(t, "v2vKey99")
	// Between two vpngw gateways: AES-GCM with elliptic-curve DH, not
	// Azure's default AES256/SHA1/DH group 2 (docs/resources.md).
	for _, gw := range []string{gwA, gwB} {
		id, err := resource.ParseID(gw, "")
		if err != nil {
			t.Fatal(err)
		}
		// The established IKE SA with its Child SA (both gateways initiate,
		// so a duplicate being negotiated or deleted may be listed too).
		var ike tunstat.IKESAStatus
		nstest.WaitFor(t, 5*time.Second, func() bool {
			st := c.agentStatus(reconcile.InstanceID(id, 0))
			if len(st.Connections) != 1 {
				return false
			}
			for _, sa := range st.Connections[0].IKE {
				if sa.State == "established" && len(sa.Children) > 0 {
					ike = sa
					return true
				}
			}
			return false
		}, "%s: no established IKE SA with a Child SA in the agent's status", id.Name)
		if !strings.HasPrefix(ike.Suite, "aes256gcm16-prfsha256-") || strings.Contains(ike.Suite, "modp") ||
			ike.Children[0].Suite != "aes256gcm16" {
			t.Fatalf("%s: negotiated IKE %q ESP %+v, want AES-GCM-256 with ECP/Curve25519", id.Name, ike.Suite, ike.Children)
		}
	}
	nsA, nsB := c.vmNS(sub1, "RG-A", "vma"), c.vmNS(sub2, "RG-B", "vmb")
	reachable(t, nsA, vmB, 10*time.Second)
	reachable(t, nsB, vmA, 10*time.Second)
	transfer(t, nsA, nsB, vmB, 4<<20)

	// A site on gateway A as well.
	gwAIP := strings.TrimSpace(c.cli("network", "public-ip", "show", "-g", "RG-A", "-n", "VNetA-gwip", "--query", "ipAddress", "-o", "tsv"))
	s := c.site("onprem", "192.0.2.30", "10.70.0.0/16")
	s.strongswan(t, gwAIP, "10.1.0.0/16", "siteKey7", nil)
	c.connect(sub1, "RG-A", "VNetA-gw", s, "siteKey7")
	c.waitConnected(sub1, "RG-A", "to-onprem", 30*time.Second)
	reachable(t, nsA, s.host, 10*time.Second)
	reachable(t, nsB, vmA, 5*time.Second)

	// VNet B grows: a new prefix and subnet; a VM there is reachable from
	// VNet A with no change to A's connection.
	c.cli("network", "vnet", "update", "-g", "RG-B", "-n", "VNetB", "--address-prefixes", "10.2.0.0/16", "10.22.0.0/16",
		"--subscription", sub2, "-o", "none")
	c.cli("network", "vnet", "subnet", "create", "-g", "RG-B", "--vnet-name", "VNetB", "-n", "Workload2",
		"--address-prefixes", "10.22.1.0/24", "--subscription", sub2, "-o", "none")
	out := c.cli("lab", "vm", "create", "-g", "RG-B", "--vnet", "VNetB", "--subnet", "Workload2", "-n", "vmb2", "--subscription", sub2)
	var m map[string]any
	_ = json.Unmarshal([]byte(out), &m)
	vmB2 := mustAddr(t, m["ipAddress"])
	reachable(t, nsA, vmB2, 20*time.Second)
}

// The SKU at run time: the aggregate throughput cap (Basic: 100 Mbit/s)
// shared by the gateway's tunnels, the operator switch that lifts it, and
// the tunnel count limit.
func TestSKUThroughputAndTunnelLimit(t *testing.T) {
	c := newCloud(t)
	gwIP := c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16", "--sku", "Basic")
	vm := c.vm(sub1, "RG1", "VNet1", "vm1")
	vmNS := c.vmNS(sub1, "RG1", "vm1")
	var sites []*labSite
	for i := 0; i < 2; i++ {
		s := c.site(fmt.Sprintf("b%d", i), fmt.Sprintf("192.0.2.%d", 40+i), fmt.Sprintf("10.%d.0.0/16", 80+i))
		s.strongswan(t, gwIP, "10.1.0.0/16", "capKey1", nil)
		c.connect(sub1, "RG1", "VNet1-gw", s, "capKey1")
		sites = append(sites, s)
	}
	for _, s := range sites {
		c.waitConnected(sub1, "RG1", "to-"+s.name, 30*time.Second)
		reachable(t, vmNS, s.host, 10*time.Second)
	}
	// Both tunnels at once, VM → hosts (the gateway's egress).
	rates := concurrentIperf(t, vmNS, sites, vm, 5)
	total := rates[0] + rates[1]
	t.Logf("Basic gateway, two tunnels: %.0f + %.0f = %.0f Mbit/s (cap 100)", rates[0], rates[1], total)
	if total > 115 || total < 60 {
		t.Fatalf("aggregate %.0f Mbit/s, want about 100", total)
	}
	for i, r := range rates {
		if r < total*0.35 {
			t.Fatalf("tunnel %d got %.0f of %.0f Mbit/s: not shared fairly", i, r, total)
		}
	}
	// The tunnel count: Basic allows 10 connections; the 11th is refused.
	for i := 2; i < 10; i++ {
		c.cli("network", "local-gateway", "create", "-g", "RG1", "-n", fmt.Sprintf("extra%d", i), "--gateway-ip-address", fmt.Sprintf("192.0.2.%d", 100+i),
			"--local-address-prefixes", fmt.Sprintf("10.%d.0.0/16", 100+i), "-o", "none")
		c.cli("network", "vpn-connection", "create", "-g", "RG1", "-n", fmt.Sprintf("extra%d", i), "--vnet-gateway1", "VNet1-gw",
			"--local-gateway2", fmt.Sprintf("extra%d", i), "--shared-key", "x1", "--no-wait", "-o", "none")
	}
	c.cli("network", "local-gateway", "create", "-g", "RG1", "-n", "extra10", "--gateway-ip-address", "192.0.2.110",
		"--local-address-prefixes", "10.110.0.0/16", "-o", "none")
	out, err := c.cliErr("network", "vpn-connection", "create", "-g", "RG1", "-n", "extra10", "--vnet-gateway1", "VNet1-gw",
		"--local-gateway2", "extra10", "--shared-key", "x1", "-o", "none")
	if err == nil || !strings.Contains(out, "LimitExceeded") {
		t.Fatalf("11th connection on Basic: err %v: %s", err, out)
	}

	// The operator lifts the cap: restart the control plane with
	// --no-throughput-cap; the instances restart with no limit.
	c.stop(syscall.SIGTERM)
	c.args = append(c.args, "--no-throughput-cap")
	c.restart()
	for _, s := range sites {
		c.waitConnected(sub1, "RG1", "to-"+s.name, 40*time.Second)
		reachable(t, vmNS, s.host, 20*time.Second)
	}
	rates = concurrentIperf(t, vmNS, sites, vm, 5)
	t.Logf("without the cap: %.0f + %.0f Mbit/s", rates[0], rates[1])
	if rates[0]+rates[1] < 150 {
		t.Fatalf("the cap is still there: %.0f Mbit/s", rates[0]+rates[1])
	}
}

// concurrentIperf runs iperf3 from the VM to each site host at once for
// secs seconds and returns each stream's Mbit/s.
func concurrentIperf(t *testing.T, vmNS *nstest.NS, sites []*labSite, vm interface{ String() string }, secs int) []float64 {
	t.Helper()
	for i, s := range sites {
		srv := s.hostNS.Command(t.Context(), "iperf3", "-s", "-1", "-p", fmt.Sprint(5400+i))
		if err := s.hostNS.Start(srv); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	type res struct {
		i    int
		mbps float64
		err  error
	}
	ch := make(chan res, len(sites))
	for i, s := range sites {
		go func(i int, s *labSite) {
			out, err := vmNS.Run("iperf3", "-c", s.host.String(), "-p", fmt.Sprint(5400+i), "-t", fmt.Sprint(secs), "-J")
			if err != nil {
				ch <- res{i, 0, fmt.Errorf("%v: %s", err, out)}
				return
			}
			var r struct {
				End struct {
					SumReceived struct {
						BitsPerSecond float64 `json:"bits_per_second"`
					} `json:"sum_received"`
				} `json:"end"`
			}
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				ch <- res{i, 0, err}
				return
			}
			ch <- res{i, r.End.SumReceived.BitsPerSecond / 1e6, nil}
		}(i, s)
	}
	out := make([]float64, len(sites))
	for range sites {
		r := <-ch
		if r.err != nil {
			t.Fatalf("iperf3 to site %d: %v", r.i, r.err)
		}
		out[r.i] = r.mbps
	}
	return out
}

// newSiteCloud builds the active-standby gateway VNet1-gw (10.1.0.0/16,
// group RG1) with a VM, vm1, and the strongSwan site onprem (10.50.0.0/16)
// connected to it with key (edit tunes strongSwan's side), and waits
// until the VM reaches the site's host.
func newSiteCloud(t *testing.T, key string, edit func(*swantest.Conn)) (*cloud, *nstest.NS, *labSite) {
	c := newCloud(t)
	gwIP := c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16")
	c.vm(sub1, "RG1", "VNet1", "vm1")
	vmNS := c.vmNS(sub1, "RG1", "vm1")
	s := c.site("onprem", "192.0.2.10", "10.50.0.0/16")
	s.strongswan(t, gwIP, "10.1.0.0/16", key, edit)
	c.connect(sub1, "RG1", "VNet1-gw", s, key)
	c.waitConnected(sub1, "RG1", "to-onprem", 30*time.Second)
	reachable(t, vmNS, s.host, 10*time.Second)
	return c, vmNS, s
}

// A gateway reset: the active instance restarts, the standby takes over,
// traffic flows again; vpngw serve restarts (even killed) drop no tunnel.
func TestResetAndServeRestart(t *testing.T) {
	c, vmNS, s := newSiteCloud(t, "resetKey5", func(cn *swantest.Conn) { cn.DPDDelay = "5s"; cn.DPDAction = "restart" })

	// Restart the control plane, first gracefully, then with SIGKILL,
	// under continuous ping: no loss.
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		done := make(chan int, 1)
		go func() { done <- pingLoss(t, vmNS, s.host, 100, "0.05") }()
		time.Sleep(time.Second)
		c.stop(sig)
		c.restart()
		if loss := <-done; loss != 0 {
			t.Fatalf("%d%% ping loss across a control plane restart (%v)", loss, sig)
		}
		if c.connection(sub1, "RG1", "to-onprem")["provisioningState"] != "Succeeded" {
			t.Fatal("connection lost after restart")
		}
		c.waitConnected(sub1, "RG1", "to-onprem", 10*time.Second)
	}

	// Reset: the standby takes over.
	start := time.Now()
	c.cli("network", "vnet-gateway", "reset", "-g", "RG1", "-n", "VNet1-gw", "-o", "none")
	resetDone := time.Since(start)
	reachable(t, vmNS, s.host, 60*time.Second)
	t.Logf("gateway reset: operation %v, traffic flowing again %v after the reset began", resetDone.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	c.waitConnected(sub1, "RG1", "to-onprem", 30*time.Second)
	transfer(t, vmNS, s.hostNS, s.host, 2<<20)
}

// An unplanned failover from a hung active instance (SIGSTOP: the process
// holds its sockets and addresses but answers nothing): the connection
// turns Unknown once the instance's report is older than the failover
// timeout, the standby takes over (public IP, VNet routes, a new IKE SA
// with the site) and the connection is Connected again. Pings at 20 per
// second from the VM measure the outage.
func TestHungActiveFailsOver(t *testing.T) {
	c, vmNS, s := newSiteCloud(t, "hungKey3", nil)
	h := stopActive(t, c, syscall.SIGSTOP, sub1, "RG1", "VNet1-gw", "to-onprem", vmNS, s.host)
	if h.outage > reconcile.DefaultFailoverAfter+1500*time.Millisecond {
		t.Fatalf("outage %v", h.outage)
	}
	reachable(t, vmNS, s.host, 5*time.Second)
}

// An unplanned failover from a dead active instance (SIGKILL: the kernel
// closes its sockets, among them its long poll to the control plane): the
// control plane judges it gone at once, without the failover timeout, so
// the outage is shorter than that timeout alone, where a hung instance's
// is longer.
func TestKilledActiveFailsOver(t *testing.T) {
	c, vmNS, s := newSiteCloud(t, "killKey5", nil)
	h := stopActive(t, c, syscall.SIGKILL, sub1, "RG1", "VNet1-gw", "to-onprem", vmNS, s.host)
	if h.outage >= reconcile.DefaultFailoverAfter {
		t.Fatalf("outage %v, not shorter than the failover timeout (%v): the closed connection did not count",
			h.outage, reconcile.DefaultFailoverAfter)
	}
	reachable(t, vmNS, s.host, 5*time.Second)
}

// The same hung active instance on one end of a VNet-to-VNet pair: the
// other gateway (a vpngw that still holds the old IKE SA) must take the
// new instance's IKE SA at once, as it takes any fresh IKE SA from the
// same peer, rather than wait for dead peer detection.
func TestHungActiveFailsOverVNetToVNet(t *testing.T) {
	c, _, _, _, vmB := newVNetPair(t, "v2vHung1")
	nsA := c.vmNS(sub1, "RG-A", "vma")
	reachable(t, nsA, vmB, 10*time.Second)

	h := stopActive(t, c, syscall.SIGSTOP, sub1, "RG-A", "VNetA-gw", "A-to-B", nsA, vmB)
	// Recorded in docs/lab.md; a bound loose enough for a
	// loaded machine, tight enough to fail if B waited for DPD (45 s).
	if h.outage > reconcile.DefaultFailoverAfter+3500*time.Millisecond {
		t.Fatalf("VNet-to-VNet outage %v", h.outage)
	}
	reachable(t, nsA, vmB, 5*time.Second)
	c.waitConnected(sub2, "RG-B", "B-to-A", 10*time.Second)
}

// sub2 is the second subscription of the VNet-to-VNet tests.
const sub2 = "11111111-2222-3333-4444-555555555555"

// newVNetPair builds VNetA (10.1.0.0/16, group RG-A, subscription sub1)
// and VNetB (10.2.0.0/16, RG-B, sub2), each with a gateway and a VM (vma,
// vmb), joined by the pair of Vnet2Vnet connections Azure uses (A-to-B,
// B-to-A) with key, and waits until both are Connected. It returns the
// gateways' IDs and the VMs' addresses.
func newVNetPair(t *testing.T, key string) (c *cloud, gwA, gwB string, vmA, vmB netip.Addr) {
	t.Helper()
	c = newCloud(t)
	c.gateway("RG-A", sub1, "VNetA", "10.1.0.0/16")
	c.gateway("RG-B", sub2, "VNetB", "10.2.0.0/16")
	vmA = c.vm(sub1, "RG-A", "VNetA", "vma")
	vmB = c.vm(sub2, "RG-B", "VNetB", "vmb")
	gwA = "/subscriptions/" + sub1 + "/resourceGroups/RG-A/providers/Microsoft.Network/virtualNetworkGateways/VNetA-gw"
	gwB = "/subscriptions/" + sub2 + "/resourceGroups/RG-B/providers/Microsoft.Network/virtualNetworkGateways/VNetB-gw"
	c.cli("network", "vpn-connection", "create", "-g", "RG-A", "-n", "A-to-B", "--vnet-gateway1", gwA, "--vnet-gateway2", gwB,
		"--shared-key", key, "--subscription", sub1, "-o", "none")
	c.cli("network", "vpn-connection", "create", "-g", "RG-B", "-n", "B-to-A", "--vnet-gateway1", gwB, "--vnet-gateway2", gwA,
		"--shared-key", key, "--subscription", sub2, "-o", "none")
	c.waitConnected(sub1, "RG-A", "A-to-B", 30*time.Second)
	c.waitConnected(sub2, "RG-B", "B-to-A", 30*time.Second)
	return c, gwA, gwB, vmA, vmB
}

// hung is what stopActive measured.
type hung struct {
	// unknownAt and connectedAt are when, after SIGSTOP, the API first
	// reported the connection Unknown (0: the poll missed the window) and
	// then Connected again.
	unknownAt, connectedAt time.Duration
	// outage is the longest run of lost pings; pings is the whole run.
	outage time.Duration
	pings  pingRun
}

// stopActive sends sig (SIGSTOP: hung; SIGKILL: dead) to the active
// instance of gateway gwName while from pings to at 20 per second, watches
// connection conn's status through the API until it is Connected again
// after the failover, and checks that instance 1 is then the active one.
// It fails the test if the connection never recovers, is reported Unknown
// late, or no ping gets through.
func stopActive(t *testing.T, c *cloud, sig syscall.Signal, subscription, group, gwName, conn string, from *nstest.NS, to netip.Addr) hung {
	t.Helper()
	gwPath := "/subscriptions/" + subscription + "/resourceGroups/" + group + "/providers/Microsoft.Network/virtualNetworkGateways/" + gwName
	gw, err := resource.ParseID(gwPath, "")
	if err != nil {
		t.Fatal(err)
	}
	pid := c.labProcessPID("agent-" + reconcile.InstanceID(gw, 0))
	// Nothing stays stopped: continue it (it comes back as the standby);
	// lab down stops it by PID.
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })

	const count, interval = 140, 50 * time.Millisecond // 7 s at 20/s
	pings := make(chan pingRun, 1)
	go func() { pings <- pingGaps(from, to, count, interval) }()
	time.Sleep(time.Second)
	stopped := time.Now()
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatal(err)
	}
	// Watch connectionStatus through the API (every 50 ms) until it is
	// Connected again after Unknown.
	path := "/subscriptions/" + subscription + "/resourceGroups/" + group + "/providers/Microsoft.Network/connections/" + conn
	var h hung
	for deadline := time.Now().Add(20 * time.Second); h.connectedAt == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		code, body, _, err := c.do(context.Background(), "GET", path, "")
		if err != nil || code != 200 {
			continue
		}
		var cn struct {
			Properties struct {
				ConnectionStatus string `json:"connectionStatus"`
			} `json:"properties"`
		}
		_ = json.Unmarshal(body, &cn)
		switch st := cn.Properties.ConnectionStatus; {
		case st == "Unknown" && h.unknownAt == 0:
			h.unknownAt = time.Since(stopped)
		case st == "Connected" && (h.unknownAt != 0 || time.Since(stopped) > reconcile.DefaultFailoverAfter+time.Second):
			// Connected well past the failover timeout means a fresh report
			// from the new active instance (the stopped one never reports
			// again), even if a loaded machine's polling missed the short
			// Unknown window.
			h.connectedAt = time.Since(stopped)
		}
	}
	h.pings = <-pings
	h.outage = time.Duration(h.pings.maxGap) * interval
	t.Logf("active instance of %s stopped (%v): connectionStatus Unknown %v after it, Connected again after %v; "+
		"%d of %d pings lost, longest outage %v (%d consecutive)", gwName, unix.SignalName(sig),
		h.unknownAt.Round(time.Millisecond), h.connectedAt.Round(time.Millisecond), h.pings.lost, h.pings.sent,
		h.outage, h.pings.maxGap)
	if h.connectedAt == 0 {
		t.Fatalf("connectionStatus: Unknown after %v, never Connected again", h.unknownAt)
	}
	if h.unknownAt == 0 {
		// The window is about 0.3 s (SIGSTOP) or shorter (SIGKILL);
		// TestSilentActiveIsUnknownThenFailsOver and
		// TestDeadInstanceIsGoneAtOnce (internal/reconcile) assert the
		// states deterministically.
		t.Logf("the Unknown window was shorter than this poll could see")
	}
	if h.unknownAt > reconcile.DefaultFailoverAfter+time.Second {
		t.Errorf("connectionStatus Unknown only %v after the instance stopped", h.unknownAt)
	}
	if h.pings.received == 0 {
		t.Fatalf("no ping got through (%d sent)", h.pings.sent)
	}
	var list []api.GatewayInstance
	out := c.cli("network", "vnet-gateway", "list-instances", "-g", group, "-n", gwName, "-o", "json", "--subscription", subscription)
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 || list[1].Role != "active" {
		t.Fatalf("instances after the failover (want instance 1 active): %v %s", err, out)
	}
	return h
}

// Active-active: both instances hold their own public IP and build their
// own tunnel to the site; the one connection reports two tunnels; resetting
// one instance (by its VIP) keeps traffic flowing over the other.
func TestActiveActive(t *testing.T) {
	c := newCloud(t)
	ips := c.activeActiveGateway()
	gw := c.json("network", "vnet-gateway", "show", "-g", "RG1", "-n", "GW1")
	if gw["activeActive"] != true {
		t.Fatalf("two public IPs did not make an active-active gateway: %v", gw["activeActive"])
	}
	c.vm(sub1, "RG1", "VNet1", "vm1")
	vmNS := c.vmNS(sub1, "RG1", "vm1")
	s := c.site("onprem", "192.0.2.10", "10.50.0.0/16")
	// The device builds one tunnel to each instance.
	conns := []swantest.Conn{}
	for i, ip := range ips {
		conns = append(conns, swantest.Conn{Name: fmt.Sprintf("azure%d", i), LocalAddr: "192.0.2.10", RemoteAddr: ip, PSK: "aaKey42",
			IKE: "aes256gcm16-prfsha256-ecp256", ESP: "aes256gcm16", LocalTS: []string{"10.50.0.0/16"}, RemoteTS: []string{"10.1.0.0/16"}})
	}
	s.swan = swantest.Start(t, s.device, conns...)
	c.connect(sub1, "RG1", "GW1", s, "aaKey42")
	c.waitTunnelsConnected(sub1, "RG1", "to-onprem", 2, 30*time.Second)
	reachable(t, vmNS, s.host, 10*time.Second)
	// Reset the second instance by its VIP: traffic keeps flowing.
	done := make(chan int, 1)
	go func() { done <- pingLoss(t, vmNS, s.host, 60, "0.05") }()
	time.Sleep(500 * time.Millisecond)
	c.cli("network", "vnet-gateway", "reset", "-g", "RG1", "-n", "GW1", "--gateway-vip", ips[1], "-o", "none")
	if loss := <-done; loss > 5 {
		t.Fatalf("%d%% loss while resetting the instance that does not carry VNet traffic", loss)
	}
	c.waitConnected(sub1, "RG1", "to-onprem", 30*time.Second)
}

// IKEv1 through the CLI to a strongSwan site speaking IKEv1: a Basic
// PolicyBased gateway (its connection defaults to IKEv1, with Azure's
// PolicyBased suite) and a RouteBased VpnGw2 gateway with
// connectionProtocol IKEv1 (Azure's RouteBased suite). Each becomes
// Connected and carries traffic both ways; the PolicyBased gateway refuses
// a second site with the ARM error.
func TestIKEv1SiteToSite(t *testing.T) {
	for _, tc := range []struct {
		name             string
		gwArgs, connArgs []string
		ike, esp         string
	}{
		{name: "PolicyBased", gwArgs: []string{"--sku", "Basic", "--vpn-type", "PolicyBased"},
			ike: "aes256-sha256-modp1024", esp: "aes256-sha256"},
		{name: "RouteBased", connArgs: []string{"--connection-protocol", "IKEv1"},
			ike: "aes256-sha1-modp1024", esp: "aes256-sha1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCloud(t)
			gwIP := c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16", tc.gwArgs...)
			vm := c.vm(sub1, "RG1", "VNet1", "vm1")
			s := c.site("onprem", "192.0.2.10", "10.50.0.0/16")
			s.strongswan(t, gwIP, "10.1.0.0/16", "v1Key42", func(cn *swantest.Conn) {
				cn.Version = 1
				cn.IKE, cn.ESP = tc.ike, tc.esp
			})
			start := time.Now()
			c.connect(sub1, "RG1", "VNet1-gw", s, "v1Key42", tc.connArgs...)
			c.waitConnected(sub1, "RG1", "to-onprem", 30*time.Second)
			t.Logf("%s IKEv1 connection create → Connected in %v", tc.name, time.Since(start).Round(time.Millisecond))
			if p := c.connection(sub1, "RG1", "to-onprem")["connectionProtocol"]; p != "IKEv1" {
				t.Fatalf("connectionProtocol %v", p)
			}
			vmNS := c.vmNS(sub1, "RG1", "vm1")
			reachable(t, vmNS, s.host, 10*time.Second)
			if loss := pingLoss(t, s.hostNS, vm, 5, "0.2"); loss != 0 {
				t.Fatalf("host → VM: %d%% loss", loss)
			}
			transfer(t, vmNS, s.hostNS, s.host, 2<<20)
			sas, err := s.swan.SAs()
			if err != nil || len(sas) != 1 || len(sas[0].Children) == 0 {
				t.Fatalf("strongSwan SAs: %v %+v", err, sas)
			}
			t.Logf("strongSwan: IKEv1 %s/%s/%s, Quick Mode %s/%s", sas[0].Encr, sas[0].Integ, sas[0].DH, sas[0].Children[0].Encr, sas[0].Children[0].Integ)
			if tc.name != "PolicyBased" {
				return
			}
			// The one-tunnel rule: a second site is refused with the ARM error.
			s2 := c.site("onprem2", "192.0.2.11", "10.60.0.0/16")
			c.cli("network", "local-gateway", "create", "-g", "RG1", "-n", s2.name, "--gateway-ip-address", s2.publicIP.String(),
				"--local-address-prefixes", s2.prefix.String(), "--subscription", sub1, "-o", "none")
			if out, err := c.cliErr("network", "vpn-connection", "create", "-g", "RG1", "-n", "to-onprem2", "--vnet-gateway1", "VNet1-gw",
				"--local-gateway2", s2.name, "--shared-key", "v1Key43", "--subscription", sub1, "-o", "none"); err == nil || !strings.Contains(out, "PolicyBased") {
				t.Fatalf("a second connection on a PolicyBased gateway: %v %s", err, out)
			}
		})
	}
}

// resetconnection resets one connection: its IKE and Child SAs are
// negotiated again (new SPIs) while the gateway's other connection keeps
// its SAs untouched, and traffic flows over both afterwards.
func TestResetConnection(t *testing.T) {
	c := newCloud(t)
	gwIP := c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16")
	c.vm(sub1, "RG1", "VNet1", "vm1")
	vmNS := c.vmNS(sub1, "RG1", "vm1")
	sites := c.branches(gwIP, vmNS, 2, "resetConnKey")
	gw, err := resource.ParseID("/subscriptions/"+sub1+"/resourceGroups/RG1/providers/Microsoft.Network/virtualNetworkGateways/VNet1-gw", "")
	if err != nil {
		t.Fatal(err)
	}
	active := reconcile.InstanceID(gw, 0)
	// spis is a connection's established IKE SAs on the active instance,
	// each with its Child SAs' inbound SPIs ("SPIi/in1,in2").
	spis := func(conn string) []string {
		var out []string
		for _, cn := range c.agentStatus(active).Connections {
			if !strings.HasPrefix(cn.Name, conn+"-") {
				continue
			}
			for _, sa := range cn.IKE {
				if sa.State != "established" {
					continue
				}
				id := sa.SPIi + "/"
				for _, ch := range sa.Children {
					id += ch.InSPI + ","
				}
				out = append(out, id)
			}
		}
		return out
	}
	var a0, b0 []string
	nstest.WaitFor(t, 10*time.Second, func() bool {
		a0, b0 = spis("to-branch0"), spis("to-branch1")
		return len(a0) == 1 && len(b0) == 1 && !strings.HasSuffix(a0[0], "/") && !strings.HasSuffix(b0[0], "/")
	}, "one established IKE SA with Child SAs per connection: %v %v", a0, b0)

	path := "/subscriptions/" + sub1 + "/resourceGroups/RG1/providers/Microsoft.Network/connections/to-branch0/resetconnection"
	code, body, hdr, err := c.do(context.Background(), "POST", path, "")
	if err != nil || code != 202 || hdr.Get("Azure-AsyncOperation") == "" || hdr.Get("Location") == "" {
		t.Fatalf("resetconnection: %v %d %s %v", err, code, body, hdr)
	}
	nstest.WaitFor(t, 60*time.Second, func() bool {
		_, b, _, err := c.do(context.Background(), "GET", hdr.Get("Azure-AsyncOperation"), "")
		var st api.OperationStatus
		if err != nil || json.Unmarshal(b, &st) != nil {
			return false
		}
		if st.Status == api.StatusFailed {
			t.Fatalf("resetconnection failed: %s", b)
		}
		return st.Status == api.StatusSucceeded
	}, "resetconnection did not finish")
	if code, _, _, _ := c.do(context.Background(), "GET", hdr.Get("Location"), ""); code != 204 {
		t.Fatalf("resetconnection result: %d, want 204", code)
	}

	// The reset connection comes back with new SAs.
	var a1 []string
	nstest.WaitFor(t, 30*time.Second, func() bool {
		a1 = spis("to-branch0")
		return len(a1) == 1 && !strings.HasSuffix(a1[0], "/") && a1[0] != a0[0]
	}, "to-branch0 kept its SAs after resetconnection: before %v, now %v", a0, a1)
	if strings.Split(a1[0], "/")[0] == strings.Split(a0[0], "/")[0] {
		t.Fatalf("to-branch0's IKE SA was not replaced: %v → %v", a0, a1)
	}
	c.waitConnected(sub1, "RG1", "to-branch0", 30*time.Second)
	reachable(t, vmNS, sites[0].host, 10*time.Second)
	// The other connection was not touched.
	if b1 := spis("to-branch1"); len(b1) != 1 || b1[0] != b0[0] {
		t.Fatalf("to-branch1's SAs changed: %v → %v", b0, b1)
	}
	reachable(t, vmNS, sites[1].host, 5*time.Second)
	if st := c.connection(sub1, "RG1", "to-branch0")["provisioningState"]; st != "Succeeded" {
		t.Fatalf("connection after reset: provisioningState %v", st)
	}
	t.Logf("resetconnection: to-branch0 %v → %v; to-branch1 kept %v", a0, a1, b0)
}
