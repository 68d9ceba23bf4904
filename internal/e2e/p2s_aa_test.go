package e2e_test

import (
	"net/netip"
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
// and the lab's internet delivers the third IP to one instance (a
// destination NAT, as Azure's load balancer). The generated profile names
// the third IP. Two real strongSwan clients on the internet, configured
// from the profile unchanged but for their certificates, connect through
// it, get addresses from instance 0's half and ping a VM. Then instance
// 0 hangs (its agent stopped with SIGSTOP: it neither answers nor reports,
// and the lab does not restart it): the control plane moves the third IP
// to instance 1, the clients' DPD finds their gateway gone, they connect
// again (the profile's dpd_action = restart, keyingtries = 0) and land
// on instance 1 with addresses from its half; traffic resumes. The test
// reports how long each client was cut off.
func TestPointToSiteActiveActive(t *testing.T) {
	c := newCloud(t)
	const pool = "172.16.220.0/24"
	halves := [2]netip.Prefix{netip.MustParsePrefix("172.16.220.0/25"), netip.MustParsePrefix("172.16.220.128/25")}
	ips := c.activeActiveGatewayWith("VNet1-gw", []string{"ip1", "ip2", "ip3"}, "--address-prefixes", pool, "--client-protocol", "IkeV2")
	vm := c.vm(sub1, "RG1", "VNet1", "vm1")
	users := c.certP2SUsers(pool, "alice@contoso.test", "bob@contoso.test")

	files := c.generateProfile("VNet1-gw", "EAPTLS")
	if conf := string(files["strongSwan/swanctl.conf"]); !strings.Contains(conf, "remote_addrs = "+ips[2]+"\n") {
		t.Fatalf("the profile does not name the third public IP %s:\n%s", ips[2], conf)
	}
	laptops := []*nstest.NS{c.labClient("laptop1", "192.0.2.61"), c.labClient("laptop2", "192.0.2.62")}
	var cls []*p2sClient
	for i, ns := range laptops {
		cl := certClient(t, ns, files, users[i], nil)
		if err := connectWithin(cl, 20*time.Second); err != nil {
			t.Fatalf("%s: %v", users[i].Cert.Subject.CommonName, err)
		}
		reachable(t, ns, vm, 10*time.Second)
		cls = append(cls, cl)
	}
	// checkHealth waits until health shows both clients with addresses
	// from half i of the pool.
	checkHealth := func(i int) {
		t.Helper()
		var h []resource.VpnClientConnectionHealthDetail
		nstest.WaitFor(t, 10*time.Second, func() bool {
			h = c.health("VNet1-gw")
			n := 0
			for _, d := range h {
				if a, err := netip.ParseAddr(d.PrivateIPAddress); err == nil && halves[i].Contains(a) {
					n++
				}
			}
			return len(h) == 2 && n == 2 && h[0].PrivateIPAddress != h[1].PrivateIPAddress
		}, "health does not show both clients in %s: %+v", halves[i], h)
	}
	checkHealth(0)
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
	hung := time.Now()
	if err := unix.Kill(pid, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Each client pings the VM once a second until a reply comes back.
	const bound = 90 * time.Second
	back := make([]time.Duration, len(laptops))
	for left := len(laptops); left > 0 && time.Since(hung) < bound; {
		for i, ns := range laptops {
			if back[i] != 0 {
				continue
			}
			if _, err := ns.Run("ping", "-c", "1", "-W", "1", "-q", vm.String()); err == nil {
				back[i] = time.Since(hung)
				left--
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	var res []string
	for i, d := range back {
		if d == 0 {
			t.Fatalf("%s: no ping through within %v of instance 0 hanging", laptops[i].Name, bound)
		}
		res = append(res, users[i].Cert.Subject.CommonName+" "+d.Round(100*time.Millisecond).String())
	}
	t.Logf("RESULT point-to-site on an active-active gateway: instance 0 hung, traffic back through instance 1 after: %s", strings.Join(res, ", "))
	checkHealth(1)
	for i, cl := range cls {
		if !cl.swan.Established(cl.conn) {
			t.Fatalf("%s: no SA after the failover", users[i].Cert.Subject.CommonName)
		}
		if loss := pingLoss(t, laptops[i], vm, 5, "0.2"); loss != 0 {
			t.Fatalf("%s → VM after the failover: %d%% loss", laptops[i].Name, loss)
		}
	}
}
