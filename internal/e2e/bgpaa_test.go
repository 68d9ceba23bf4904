package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/reconcile"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/tstest/bgptest"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

// TestBGPDualRedundancy: Azure's "active-active with dual redundancy"
// with real routers. One on-premises network reached through two devices
// (two lab sites, onprem-a 192.0.2.10 and onprem-b 192.0.2.11, each
// device running strongSwan 5.9.8 and FRR 8.4 in ASN 65010), two local
// network gateways and two enableBgp connections. The on-premises prefix
// 10.60.0.0/24 exists only in BGP: both devices advertise it, and its
// address 10.60.0.10 is on both devices (anycast: whichever device a
// packet reaches answers it, as a host behind both devices would).
//
// Active-active: 2 instances × 2 devices = 4 tunnels and 4 BGP sessions.
// Active-standby: the active instance has 2 tunnels and 2 sessions.
//
// Each case pings 10.60.0.10 from the VNet's VM at 100 per second while
// (a) the agent of the instance that carries the traffic is killed
// (SIGKILL, by PID; the lab's next pass starts it again) and then (b) the
// device that carries the traffic is cut off the internet (nftables drops
// everything through its wan0, like a device that lost power or its link). Traffic must
// come back on its own; the test prints the interruption (lost pings ×
// 10 ms and the time from the event to the first reply after the loss).
// docs/bgp.md records the figures.
//
// The default-timer cases wait out Azure's 180 s hold time when a device
// vanishes, so they run only with VPNGW_BGP_SLOW=1.
func TestBGPDualRedundancy(t *testing.T) {
	bgptest.RequireFRR(t)
	for _, tc := range []struct {
		name         string
		activeActive bool
		fast, gr     bool
	}{
		{"ActiveActive/FastTimers", true, true, false},
		{"ActiveStandby/FastTimers", false, true, false},
		{"ActiveStandby/FastTimers+GracefulRestart", false, true, true},
		{"ActiveActive/DefaultTimers", true, false, false},
		{"ActiveStandby/DefaultTimers", false, false, false},
		{"ActiveStandby/DefaultTimers+GracefulRestart", false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.fast && os.Getenv("VPNGW_BGP_SLOW") == "" {
				t.Skip("default BGP timers (180 s hold): set VPNGW_BGP_SLOW=1")
			}
			dualRedundancy(t, tc.activeActive, tc.fast, tc.gr)
		})
	}
}

// dualRedundancy runs one case of TestBGPDualRedundancy.
func dualRedundancy(t *testing.T, activeActive, fast, gr bool) {
	c := newCloud(t)
	gwName, gwIPs := "VNet1-gw", []string(nil)
	if activeActive {
		gwName, gwIPs = "GW1", c.activeActiveGateway()
	} else {
		gwIPs = []string{c.gateway("RG1", sub1, "VNet1", "10.1.0.0/16")}
	}
	gwPath := "/subscriptions/" + sub1 + "/resourceGroups/RG1/providers/Microsoft.Network/virtualNetworkGateways/" + gwName
	bgpAddrs := enableGatewayBGP(t, c, gwPath, fast, gr)
	if want := len(gwIPs); len(bgpAddrs) != want {
		t.Fatalf("gateway BGP addresses %v, want %d", bgpAddrs, want)
	}
	c.vm(sub1, "RG1", "VNet1", "vm1")
	vmNS := c.vmNS(sub1, "RG1", "vm1")
	anycast := netip.MustParseAddr("10.60.0.10")

	type device struct {
		site *labSite
		bgp  string
		frr  *bgptest.FRR
	}
	var devs []device
	for _, d := range []struct{ name, pub, prefix, bgp string }{
		{"onprem-a", "192.0.2.10", "10.50.0.0/16", "10.50.255.1"},
		{"onprem-b", "192.0.2.11", "10.51.0.0/16", "10.51.255.1"},
	} {
		s := c.site(d.name, d.pub, d.prefix)
		s.device.MustRun(t, "ip", "addr", "add", d.bgp+"/32", "dev", "lo")
		s.device.MustRun(t, "ip", "addr", "add", anycast.String()+"/32", "dev", "lo")
		// One tunnel to each gateway instance. The instance's BGP address
		// as a /32 in the remote selectors makes libipsec send each
		// session into its own instance's tunnel (the more specific
		// policy wins); the VNet's /16 is in every tunnel.
		var conns []swantest.Conn
		for j, ip := range gwIPs {
			conns = append(conns, swantest.Conn{Name: fmt.Sprintf("azure%d", j), LocalAddr: d.pub, RemoteAddr: ip, PSK: "dualKey42",
				IKE: "aes256gcm16-prfsha256-ecp256", ESP: "aes256gcm16",
				LocalTS: []string{d.prefix, "10.60.0.0/24"}, RemoteTS: []string{bgpAddrs[j] + "/32", "10.1.0.0/16"}})
		}
		s.swan = swantest.Start(t, s.device, conns...)
		conf := fmt.Sprintf("hostname %s\nrouter bgp 65010\n bgp router-id %s\n no bgp ebgp-requires-policy\n no bgp network import-check\n", d.name, d.bgp)
		for _, a := range bgpAddrs {
			conf += fmt.Sprintf(" neighbor %[1]s remote-as 65515\n neighbor %[1]s update-source %[2]s\n neighbor %[1]s ebgp-multihop 2\n neighbor %[1]s timers connect 1\n", a, d.bgp)
		}
		conf += " address-family ipv4 unicast\n  network 10.60.0.0/24\n exit-address-family\n"
		frr := bgptest.StartFRR(t, s.device, conf)
		c.cli("network", "local-gateway", "create", "-g", "RG1", "-n", d.name, "--gateway-ip-address", d.pub,
			"--local-address-prefixes", d.prefix, "--asn", "65010", "--bgp-peering-address", d.bgp, "-o", "none")
		c.cli("network", "vpn-connection", "create", "-g", "RG1", "-n", "to-"+d.name, "--vnet-gateway1", gwName,
			"--local-gateway2", d.name, "--shared-key", "dualKey42", "--enable-bgp", "-o", "none")
		devs = append(devs, device{site: s, bgp: d.bgp, frr: frr})
	}
	for _, d := range devs {
		c.waitTunnelsConnected(sub1, "RG1", "to-"+d.site.name, len(gwIPs), 60*time.Second)
	}
	sessions := 2 * len(gwIPs)
	waitSessions := func(timeout time.Duration) {
		t.Helper()
		var peers []map[string]any
		nstest.WaitFor(t, timeout, func() bool {
			peers = bgpPeers(t, c, gwName)
			return countConnected(peers) == sessions
		}, "want %d BGP sessions Connected: %v", sessions, peers)
	}
	waitSessions(60 * time.Second)
	// Every session of each device is up on FRR's side too.
	for _, d := range devs {
		for _, a := range bgpAddrs {
			nstest.WaitFor(t, 20*time.Second, func() bool {
				n, err := d.frr.Neighbor(a)
				return err == nil && n.State == "Established"
			}, "FRR on %s: no session with %s", d.site.name, a)
		}
	}
	reachable(t, vmNS, anycast, 30*time.Second)
	mode := "active-standby"
	if activeActive {
		mode = "active-active"
	}
	timers := "default timers (hold 180 s)"
	if fast {
		timers = "fastTimers (hold 9 s)"
	}
	if gr {
		timers += " + gracefulRestart"
	}
	t.Logf("%s, %s: %d tunnels, %d BGP sessions Connected; the VM reaches %s (BGP only)", mode, timers, 2*len(gwIPs), sessions, anycast)

	gw, err := resource.ParseID(gwPath, "")
	if err != nil {
		t.Fatal(err)
	}
	// The VNet routes a learned prefix through the first active instance
	// that learned it (GatewaySpec.LearnedVia): instance 0.
	inst := reconcile.InstanceID(gw, 0)
	bound := 60 * time.Second
	if !fast {
		bound = 240 * time.Second
	}

	// (a) The agent carrying the VNet's traffic dies.
	pid := c.labProcessPID("agent-" + inst)
	o := measureOutage(t, vmNS, anycast, bound, func() {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("RESULT %s, %s: kill -9 of instance 0's agent: %s", mode, timers, o)
	if !o.recovered {
		t.Fatalf("traffic did not come back within %v after the agent was killed: %s", bound, o)
	}
	waitSessions(bound)

	// (b) The device carrying the traffic goes off line.
	var carrier *device
	before := make([]int64, len(devs))
	for i, d := range devs {
		before[i] = ipsecRx(t, d.site.device)
	}
	if loss := pingLoss(t, vmNS, anycast, 100, "0.01"); loss > 5 {
		t.Fatalf("%d%% loss before taking a device down", loss)
	}
	for i := range devs {
		if ipsecRx(t, devs[i].site.device)-before[i] >= 90 {
			carrier = &devs[i]
		}
	}
	if carrier == nil {
		t.Fatalf("no device received the 100 pings through its tunnels")
	}
	// Cut the device off the internet: drop everything through its wan0
	// (the lab would set a downed link up again). Nothing tells the
	// gateway; its hold timer does.
	o = measureOutage(t, vmNS, anycast, bound, func() {
		carrier.site.device.MustRun(t, "nft", `add table ip devdown; `+
			`add chain ip devdown pre { type filter hook prerouting priority -300; }; add rule ip devdown pre iifname "wan0" drop; `+
			`add chain ip devdown post { type filter hook postrouting priority -300; }; add rule ip devdown post oifname "wan0" drop`)
	})
	t.Logf("RESULT %s, %s: device %s cut off (all of its wan0 traffic dropped): %s", mode, timers, carrier.site.name, o)
	if !o.recovered {
		t.Fatalf("traffic did not come back within %v after %s went down: %s", bound, carrier.site.name, o)
	}
	// Half the sessions are gone with the device; the others stay.
	nstest.WaitFor(t, 20*time.Second, func() bool { return countConnected(bgpPeers(t, c, gwName)) == sessions/2 },
		"want %d sessions after %s went down: %v", sessions/2, carrier.site.name, bgpPeers(t, c, gwName))
}

// enableGatewayBGP turns BGP on for the gateway at path (ASN 65515, with
// the vpngw extensions fastTimers if fast and gracefulRestart if gr)
// through the ARM API and returns its instances' BGP peering addresses, in
// instance order.
func enableGatewayBGP(t *testing.T, c *cloud, path string, fast, gr bool) []string {
	t.Helper()
	return enableGatewayBGPASN(t, c, path, 65515, fast, gr)
}

// enableGatewayBGPASN is enableGatewayBGP with the gateway's ASN.
func enableGatewayBGPASN(t *testing.T, c *cloud, path string, asn int, fast, gr bool) []string {
	t.Helper()
	ctx := context.Background()
	code, body, _, err := c.do(ctx, "GET", path, "")
	if err != nil || code != 200 {
		t.Fatalf("GET gateway: %v %d %s", err, code, body)
	}
	var gw map[string]any
	if err := json.Unmarshal(body, &gw); err != nil {
		t.Fatal(err)
	}
	pr := gw["properties"].(map[string]any)
	pr["enableBgp"] = true
	pr["bgpSettings"] = map[string]any{"asn": asn, "fastTimers": fast, "gracefulRestart": gr}
	b, _ := json.Marshal(gw)
	if code, body, _, err = c.do(ctx, "PUT", path, string(b)); err != nil || (code != 200 && code != 201) {
		t.Fatalf("PUT gateway: %v %d %s", err, code, body)
	}
	var addrs []string
	nstest.WaitFor(t, 60*time.Second, func() bool {
		_, body, _, err := c.do(ctx, "GET", path, "")
		var g struct {
			Properties struct {
				ProvisioningState string                `json:"provisioningState"`
				BgpSettings       *resource.BgpSettings `json:"bgpSettings"`
			} `json:"properties"`
		}
		if err != nil || json.Unmarshal(body, &g) != nil || g.Properties.ProvisioningState != "Succeeded" || g.Properties.BgpSettings == nil {
			return false
		}
		if g.Properties.BgpSettings.FastTimers != fast {
			t.Fatalf("bgpSettings.fastTimers %v after PUT %v", g.Properties.BgpSettings.FastTimers, fast)
		}
		addrs = strings.Split(g.Properties.BgpSettings.BgpPeeringAddress, ",")
		return addrs[0] != ""
	}, "gateway %s not Succeeded with BGP", path)
	return addrs
}

// bgpPeers is list-bgp-peer-status's value.
func bgpPeers(t *testing.T, c *cloud, gw string) []map[string]any {
	t.Helper()
	var peers struct {
		Value []map[string]any `json:"value"`
	}
	out := c.cli("network", "vnet-gateway", "list-bgp-peer-status", "-g", "RG1", "-n", gw)
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		t.Fatalf("list-bgp-peer-status: %v: %s", err, out)
	}
	return peers.Value
}

func countConnected(peers []map[string]any) int {
	n := 0
	for _, p := range peers {
		if p["state"] == "Connected" {
			n++
		}
	}
	return n
}

// ipsecRx is the received-packets counter of a strongSwan device's
// libipsec TUN (ipsec0): what came out of its tunnels.
func ipsecRx(t *testing.T, ns *nstest.NS) int64 {
	t.Helper()
	b := ns.MustRun(t, "cat", "/sys/class/net/ipsec0/statistics/rx_packets")
	n, err := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	if err != nil {
		t.Fatalf("ipsec0 rx_packets in %s: %q", ns.Name, b)
	}
	return n
}

// outage is what measureOutage saw.
type outage struct {
	// sent is the last sequence number answered; lost is how many pings
	// from just before the event to sent got no answer.
	sent, lost int
	// firstReply is the time from the event to the first reply after the
	// first lost ping (0 if none was lost).
	firstReply time.Duration
	// recovered: replies came back after the loss (or nothing was lost).
	recovered bool
	// gaps lists the runs of lost pings by sequence number (event at
	// eventSeq).
	gaps     []string
	eventSeq int
}

// pingInterval is measureOutage's ping interval (100 per second).
const pingInterval = 10 * time.Millisecond

func (o outage) String() string {
	return fmt.Sprintf("%d of %d pings lost (%v at 100/s), first reply %v after the event (event near ping %d; lost %v)",
		o.lost, o.sent, time.Duration(o.lost)*pingInterval, o.firstReply.Round(time.Millisecond), o.eventSeq, o.gaps)
}

// measureOutage pings addr from ns at 100 per second, runs event after 1
// s of pings, and stops once replies have been back from an interruption
// for 2 s and at least minWatch has passed since the event (or at bound;
// or 20 s after the event if nothing was lost). Every lost ping counts,
// including those of a second interruption.
func measureOutage(t *testing.T, ns *nstest.NS, addr netip.Addr, bound time.Duration, event func()) outage {
	// minWatch covers what follows a recovery: a killed agent is started
	// again by the lab's next pass, re-negotiates its tunnels and sessions,
	// and the VNet's route may move back to it.
	const minWatch = 15 * time.Second
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound+3*time.Second)
	defer cancel()
	cmd := ns.Command(ctx, "ping", "-n", "-D", "-i", "0.01", "-W", "1", addr.String())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type reply struct {
		seq int
		at  time.Time
	}
	replies := make(chan reply, 1024)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(replies)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			i, j := strings.Index(line, "["), strings.Index(line, "]")
			k := strings.Index(line, "icmp_seq=")
			if i != 0 || j < 0 || k < 0 || !strings.Contains(line, "bytes from") {
				continue
			}
			ts, err := strconv.ParseFloat(line[1:j], 64)
			f := strings.Fields(line[k+len("icmp_seq="):])
			if err != nil || len(f) == 0 {
				continue
			}
			seq, err := strconv.Atoi(f[0])
			if err != nil {
				continue
			}
			replies <- reply{seq, time.Unix(0, int64(ts*1e9))}
		}
	}()
	// Stop ping, let the reader finish (draining what it still sends)
	// and reap ping.
	defer func() {
		cancel()
		for range replies {
		}
		wg.Wait()
		_ = cmd.Wait()
	}()

	got := map[int]bool{}
	last := 0
	var evAt, backAt time.Time
	evSeq := 0
	lastAt := time.Now() // when the latest reply came
	start := time.Now()
	deadline := time.After(bound + time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	// lostSince reports whether a ping between the event (less the few in
	// flight then) and seq got no reply.
	lostSince := func(seq int) bool {
		for s := max(evSeq-5, 1); s < seq; s++ {
			if !got[s] {
				return true
			}
		}
		return false
	}
loop:
	for {
		select {
		case r, ok := <-replies:
			if !ok {
				break loop
			}
			if !evAt.IsZero() && backAt.IsZero() && r.seq > evSeq && lostSince(r.seq) {
				backAt = r.at
			}
			got[r.seq] = true
			last, lastAt = max(last, r.seq), time.Now()
			if evAt.IsZero() {
				evSeq = last
			}
		case <-tick.C:
			if evAt.IsZero() && time.Since(start) > time.Second {
				evAt = time.Now()
				event()
			}
			switch {
			case evAt.IsZero():
			case !backAt.IsZero() && time.Since(backAt) > 2*time.Second && time.Since(evAt) > minWatch:
				break loop // back for 2 s, and watched long enough to see a second interruption
			case backAt.IsZero() && time.Since(evAt) > 20*time.Second && last > evSeq && !lostSince(last+1) &&
				time.Since(lastAt) < 500*time.Millisecond:
				break loop // nothing lost in 20 s (and replies still coming)
			}
		case <-deadline:
			break loop
		}
	}
	// Count from just before the event (pings then in flight): a ping
	// lost while ping started up is not the event's.
	o := outage{sent: last, eventSeq: evSeq}
	for s := max(evSeq-5, 1); s <= last; s++ {
		if got[s] {
			continue
		}
		o.lost++
		if !got[s-1] && s > max(evSeq-5, 1) {
			continue
		}
		e := s
		for e < last && !got[e+1] {
			e++
		}
		if len(o.gaps) < 6 {
			o.gaps = append(o.gaps, fmt.Sprintf("%d-%d", s, e))
		}
	}
	if !backAt.IsZero() {
		o.firstReply = backAt.Sub(evAt)
	}
	// Pings after the last reply are lost too: no recovery unless
	// replies were still coming at the end.
	o.recovered = last > evSeq && (o.lost == 0 || !backAt.IsZero()) && time.Since(lastAt) < time.Second
	return o
}
