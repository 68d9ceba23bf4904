package e2e_test

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vpngw/vpngw/internal/reconcile"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// TestPointToSiteActiveActive: point-to-site on an active-active gateway,
// as Azure builds it. The gateway has three public IPs (the third for
// point-to-site) and a /24 pool; both instances run point-to-site, each
// leasing from its half (instance 0 the lower /25, instance 1 the upper),
// and the lab's internet delivers the third IP to both (a destination
// NAT, as Azure's load balancer), a client's flows to the instance its
// source address hashes to. The generated profile names the third IP.
// Two real strongSwan clients on the internet, configured from the
// profile unchanged but for their certificates, connect through it from
// addresses that hash to different instances: alice lands on instance 1,
// bob on instance 0 (addresses from both halves in show-health), and both
// ping a VM. Then instance 0 hangs (its agent stopped with SIGSTOP: it
// neither answers nor reports, and the lab does not restart it): the
// control plane delivers the third IP to instance 1 alone, bob's DPD
// finds his gateway gone, he connects again (the profile's dpd_action =
// restart, keyingtries = 0) and lands on instance 1 with an address from
// its half; meanwhile alice pings the VM without a pause and keeps her
// IKE SA. The test reports how long bob was cut off and alice's losses.
func TestPointToSiteActiveActive(t *testing.T) {
	c := newCloud(t)
	const pool = "172.16.220.0/24"
	halves := [2]netip.Prefix{netip.MustParsePrefix("172.16.220.0/25"), netip.MustParsePrefix("172.16.220.128/25")}
	ips := c.activeActiveGatewayWith("VNet1-gw", []string{"ip1", "ip2", "ip3"}, "--address-prefixes", pool, "--client-protocol", "IkeV2")
	vm := c.vm(sub1, "RG1", "VNet1", "vm1")
	users := c.certP2SUsers(pool, "alice@contoso.test", "bob@contoso.test")
	names := []string{"alice@contoso.test", "bob@contoso.test"}

	files := c.generateProfile("VNet1-gw", "EAPTLS")
	if conf := string(files["strongSwan/swanctl.conf"]); !strings.Contains(conf, "remote_addrs = "+ips[2]+"\n") {
		t.Fatalf("the profile does not name the third public IP %s:\n%s", ips[2], conf)
	}
	// The lab's frontend hashes 192.0.2.61 to instance 1 and 192.0.2.62
	// to instance 0 (jhash of the source address, its fixed seed).
	laptops := []*nstest.NS{c.labClient("laptop1", "192.0.2.61"), c.labClient("laptop2", "192.0.2.62")}
	var cls []*p2sClient
	for i, ns := range laptops {
		cl := certClient(t, ns, files, users[i], nil)
		if err := connectWithin(cl, 20*time.Second); err != nil {
			t.Fatalf("%s: %v", names[i], err)
		}
		reachable(t, ns, vm, 10*time.Second)
		cls = append(cls, cl)
	}
	// checkHealth waits until health shows the clients, each with an
	// address from its instance's half of the pool (want[i] for client
	// i), and returns their session IDs.
	checkHealth := func(want ...int) []string {
		t.Helper()
		var h []resource.VpnClientConnectionHealthDetail
		ids := make([]string, len(names))
		nstest.WaitFor(t, 10*time.Second, func() bool {
			h = c.health("VNet1-gw")
			n := 0
			for _, d := range h {
				for i, name := range names {
					if a, err := netip.ParseAddr(d.PrivateIPAddress); err == nil && strings.Contains(d.VpnUserName, name) && halves[want[i]].Contains(a) {
						ids[i] = d.VpnConnectionID
						n++
					}
				}
			}
			return len(h) == len(names) && n == len(names)
		}, "health does not show %v in halves %v: %+v", names, want, h)
		return ids
	}
	before := checkHealth(1, 0)
	for _, ns := range laptops {
		if loss := pingLoss(t, ns, vm, 5, "0.2"); loss != 0 {
			t.Fatalf("%s → VM: %d%% loss", ns.Name, loss)
		}
	}

	// Instance 0 hangs.
	gw, err := resource.ParseID("/subscriptions/"+sub1+"/resourceGroups/RG1/providers/Microsoft.Network/virtualNetworkGateways/VNet1-gw", "")
	if err != nil {
		t.Fatal(err)
	}
	pid := c.labProcessPID("agent-" + reconcile.InstanceID(gw, 0))
	t.Cleanup(func() { _ = unix.Kill(pid, unix.SIGCONT) }) // lab down stops it by PID
	// alice, on instance 1, pings the VM every 200 ms in runs of 5 s
	// until bob is back.
	type tally struct{ sent, lost int }
	stop, done := make(chan struct{}), make(chan tally, 1)
	go func() {
		var tl tally
		for {
			select {
			case <-stop:
				done <- tl
				return
			default:
			}
			out, _ := laptops[0].Run("ping", "-c", "25", "-i", "0.2", "-W", "1", "-q", vm.String())
			sent, got, ok := pingCounts(out)
			if !ok {
				tl.lost += 25 // no summary: count the run as lost
				sent = 25
			}
			tl.sent += sent
			tl.lost += sent - got
		}
	}()
	hung := time.Now()
	if err := unix.Kill(pid, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// bob pings the VM once a second until a reply comes back.
	const bound = 90 * time.Second
	var back time.Duration
	for back == 0 && time.Since(hung) < bound {
		if _, err := laptops[1].Run("ping", "-c", "1", "-W", "1", "-q", vm.String()); err == nil {
			back = time.Since(hung)
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	alice := <-done
	if back == 0 {
		t.Fatalf("bob: no ping through within %v of instance 0 hanging", bound)
	}
	t.Logf("RESULT point-to-site on an active-active gateway: instance 0 hung, bob's traffic back through instance 1 after %v; alice on instance 1 lost %d of %d pings meanwhile",
		back.Round(100*time.Millisecond), alice.lost, alice.sent)
	if alice.lost != 0 || alice.sent < 25 {
		t.Fatalf("alice, on the instance that stayed, lost %d of %d pings during the failover", alice.lost, alice.sent)
	}
	after := checkHealth(1, 1)
	if after[0] != before[0] {
		t.Fatalf("alice's session changed (%s → %s): she was moved", before[0], after[0])
	}
	for i, cl := range cls {
		if !cl.swan.Established(cl.conn) {
			t.Fatalf("%s: no SA after the failover", names[i])
		}
		if loss := pingLoss(t, laptops[i], vm, 5, "0.2"); loss != 0 {
			t.Fatalf("%s → VM after the failover: %d%% loss", laptops[i].Name, loss)
		}
	}
}

// pingCounts reads ping(8)'s summary: packets sent and received.
func pingCounts(out string) (sent, got int, ok bool) {
	i := strings.Index(out, " packets transmitted, ")
	if i < 0 {
		return 0, 0, false
	}
	j := strings.LastIndexAny(out[:i], " \n") + 1
	rest := out[i+len(" packets transmitted, "):]
	k := strings.Index(rest, " received")
	if k < 0 {
		return 0, 0, false
	}
	var err1, err2 error
	sent, err1 = strconv.Atoi(out[j:i])
	got, err2 = strconv.Atoi(rest[:k])
	return sent, got, err1 == nil && err2 == nil
}
