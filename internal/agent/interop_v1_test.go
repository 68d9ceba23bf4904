package agent_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agent"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/transform"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

// IKEv1 through the agent against strongSwan 5.9.8 (IKEv1 Main and Quick
// Mode, kernel-libipsec): route-based connections with connectionProtocol
// IKEv1 (their suites and both initiators are rows of TestInteropMatrix)
// and a PolicyBased gateway's on-demand connection. Same lab as the IKEv2
// interop tests (lab_test.go).

// v1Config is site A's agent configuration for an IKEv1 connection to B:
// Azure's IKEv1 offers (no proposals configured).
func (l *lab) v1Config() *gwconfig.Config {
	cfg := l.agentConfig("", "")
	cfg.Connections[0].ConnectionProtocol = gwconfig.IKEv1
	return cfg
}

// swanBv1 is strongSwan on site B speaking IKEv1.
func (l *lab) swanBv1(ikeP, espP string, edit func(*swantest.Conn)) *swantest.Daemon {
	return l.swanB(ikeP, espP, func(c *swantest.Conn) {
		c.Version = 1
		if edit != nil {
			edit(c)
		}
	})
}

// pingCount sends count pings at interval and returns how many were
// answered (the exact figure, for the loss report).
func pingCount(t *testing.T, from *nstest.NS, to string, count int, interval string, extra ...string) (sent, got int) {
	t.Helper()
	args := append([]string{"-c", strconv.Itoa(count), "-i", interval, "-W", "1", "-q"}, extra...)
	out, _ := from.Run("ping", append(args, to)...)
	var rx int
	if _, err := fmt.Sscanf(afterLine(out, "packets transmitted"), "%d packets transmitted, %d received", &sent, &rx); err != nil {
		t.Fatalf("ping output: %v\n%s", err, out)
	}
	return sent, rx
}

// pingLost sends count pings at interval (timestamped, not quiet) and
// returns how many were answered and, for the loss report, which sequence
// numbers went unanswered with the time of the last answer before each.
func pingLost(t *testing.T, from *nstest.NS, to string, count int, interval string) (sent, got int, lost []string) {
	t.Helper()
	out, _ := from.Run("ping", "-c", strconv.Itoa(count), "-i", interval, "-W", "1", "-D", to)
	var rx int
	if _, err := fmt.Sscanf(afterLine(out, "packets transmitted"), "%d packets transmitted, %d received", &sent, &rx); err != nil {
		t.Fatalf("ping output: %v\n%s", err, out)
	}
	answered := map[int]string{}
	for _, line := range strings.Split(out, "\n") {
		var ts string
		var seq int
		i := strings.Index(line, "icmp_seq=")
		if i < 0 || !strings.HasPrefix(line, "[") {
			continue
		}
		ts = strings.Trim(strings.Fields(line)[0], "[]")
		if _, err := fmt.Sscanf(line[i:], "icmp_seq=%d", &seq); err == nil {
			answered[seq] = ts
		}
	}
	last := ""
	for seq := 1; seq <= sent; seq++ {
		if ts, ok := answered[seq]; ok {
			last = ts
			continue
		}
		lost = append(lost, fmt.Sprintf("icmp_seq=%d (last answer before it at %s)", seq, last))
	}
	return sent, rx, lost
}

// afterLine returns the line of out that contains s.
func afterLine(out, s string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

// Quick Mode rekeys under 100 pps of ping, with no loss: on request by
// each side, and by time (strongSwan initiates with a Child SA rekey time
// of 3 s and a lifetime of 10 s, so it rekeys twice during the run).
//
// Not covered yet (IKEv1 engine follow-ups, measured here): with
// strongSwan's default lifetime of 110 % of a 3 s rekey time, (1) as
// responder we delete the Child SA at exactly the lifetime strongSwan
// proposed (3 s), before its rekey falls due, and (2) as initiator toward
// strongSwan's shorter lifetime, strongSwan deletes the Child SA at its
// expiry and the engine keeps the phase 1 SA without a Child SA: 78-80 %
// of 800 pings lost in both cases.
func TestInteropIKEv1RekeyNoLoss(t *testing.T) {
	swantest.Require(t)
	for _, tc := range []struct {
		name       string
		rekeyTime  string // strongSwan's child rekey_time ("": none)
		onRequest  bool   // rekeys by swanctl and by Agent.Rekey
		swanStarts bool   // strongSwan initiates (vpngw is ResponderOnly)
	}{
		{name: "on-request", onRequest: true},
		{name: "by-time", rekeyTime: "3s", swanStarts: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, false)
			sw := l.swanBv1("aes256-sha1-modp1024", "aes256-sha1", func(c *swantest.Conn) {
				c.ChildRekeyTime = tc.rekeyTime
				if tc.rekeyTime != "" {
					c.ChildLifeTime, c.ChildRandTime = "10s", "0s"
				}
			})
			a := l.bringUp(l.v1Config(), sw, tc.swanStarts)
			type result struct {
				sent, got int
				lost      []string
			}
			done := make(chan result, 1)
			go func() {
				s, g, lost := pingLost(t, l.a.host, l.b.lanHost.String(), 800, "0.01") // 8 s at 100 pps
				done <- result{s, g, lost}
			}()
			time.Sleep(time.Second)
			first := currentChild(t, a)
			// mark logs when a rekey starts, in ping -D's clock.
			mark := func(what string) { t.Logf("%s at %.6f", what, float64(time.Now().UnixMicro())/1e6) }
			if tc.onRequest {
				mark("strongSwan rekeys")
				if err := sw.RekeyChild("vpngw"); err != nil {
					t.Error(err)
				}
				time.Sleep(2 * time.Second)
				mark("vpngw rekeys")
				if err := a.Rekey(context.Background(), "to-b", false); err != nil {
					t.Error(err)
				}
				time.Sleep(2 * time.Second)
				mark("strongSwan rekeys")
				if err := sw.RekeyChild("vpngw"); err != nil {
					t.Error(err)
				}
			}
			r := <-done
			t.Logf("Quick Mode rekeys (%s) under 100 pps: %d of %d pings answered, %d lost; %s", tc.name, r.got, r.sent, r.sent-r.got,
				strings.TrimSpace(afterLine(fmtStatus(a.Status()), "Data plane")))
			if r.sent != r.got {
				t.Fatalf("%d of %d pings lost across Quick Mode rekeys (%s)\n%s", r.sent-r.got, r.sent, strings.Join(r.lost, ", "), fmtStatus(a.Status()))
			}
			if currentChild(t, a) == first {
				t.Fatalf("the Child SA was not replaced:\n%s", fmtStatus(a.Status()))
			}
			transfer(t, l.a.host, l.b.host, l.b.lanHost, 4<<20)
		})
	}
}

// Dead peer detection on a route-based IKEv1 connection: a silent peer is
// declared dead after the DPD timeout, and the tunnel returns when it
// answers again.
func TestInteropIKEv1DPDAndReturn(t *testing.T) {
	swantest.Require(t)
	l := newLab(t, false)
	l.swanBv1("aes256-sha1-modp1024", "aes256-sha1", func(c *swantest.Conn) { c.DPDDelay = "3s" })
	cfg := l.v1Config()
	cfg.Connections[0].DPDTimeoutSeconds = 9
	a, _ := startAgent(t, l.a, cfg)
	waitConnected(t, a, "to-b", 15*time.Second)
	reachable(t, l.a.host, l.b.lanHost, 5*time.Second)
	l.b.gw.MustRun(t, "nft", "add table inet silence; add chain inet silence out { type filter hook output priority 0; }; add rule inet silence out oifname wan0 drop")
	start := time.Now()
	nstest.WaitFor(t, 25*time.Second, func() bool { return !a.Status().Connected("to-b") }, "silent peer not declared dead")
	reason := a.Status().Connections[0].LastError
	t.Logf("declared dead after %v: %q", time.Since(start).Round(100*time.Millisecond), reason)
	if !strings.Contains(reason, "dead peer") {
		t.Errorf("status gives the reason %q, want the dead peer", reason)
	}
	l.b.gw.MustRun(t, "nft", "delete table inet silence")
	waitConnected(t, a, "to-b", 40*time.Second)
	reachable(t, l.a.host, l.b.lanHost, 10*time.Second)
}

// NAT traversal: site A behind nftables masquerade initiates (Azure: a
// device behind NAT must initiate); ESP floats to UDP 4500.
func TestInteropIKEv1ThroughNAT(t *testing.T) {
	swantest.Require(t)
	l := newLab(t, true)
	l.swanBv1("aes256-sha256-modp1024", "aes256-sha256", func(c *swantest.Conn) { c.NoEncap = true })
	a, _ := startAgent(t, l.a, l.v1Config())
	waitConnected(t, a, "to-b", 15*time.Second)
	if st := a.Status().Connections[0]; !st.IKE[0].Encap {
		t.Fatalf("no UDP encapsulation behind a NAT: %s", fmtStatus(a.Status()))
	}
	reachable(t, l.a.host, l.b.lanHost, 5*time.Second)
	reachable(t, l.b.host, l.a.lanHost, 5*time.Second)
	transfer(t, l.a.host, l.b.host, l.b.lanHost, 4<<20)
	transfer(t, l.b.host, l.a.host, l.a.lanHost, 4<<20)
}

// A PolicyBased gateway: its one IKEv1 connection comes up at start, goes
// down after the (test-shortened) idle timeout, comes back with the next
// packet, and drops packets outside its selectors, counted.
func TestInteropPolicyBasedGateway(t *testing.T) {
	swantest.Require(t)
	for _, tc := range []struct {
		name          string
		local, remote []string // extra prefixes beyond the sites' /24s
	}{
		{name: "1x1"},
		{name: "2x3", local: []string{"10.3.0.0/24"}, remote: []string{"10.4.0.0/24", "10.5.0.0/24"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, false)
			// Each extra prefix gets a host address (.10) behind its site,
			// routed by that site's gateway; B's gateway also gets .1 in
			// each of its prefixes (libipsec wants a local address per TS).
			var hostsA, hostsB []string
			for _, p := range tc.local {
				h := strings.TrimSuffix(p, "0/24") + "10"
				l.a.host.MustRun(t, "ip", "addr", "add", h+"/32", "dev", "lan0")
				l.a.gw.MustRun(t, "ip", "route", "add", h+"/32", "via", l.a.lanHost.String())
				hostsA = append(hostsA, h)
			}
			for _, p := range tc.remote {
				h := strings.TrimSuffix(p, "0/24") + "10"
				l.b.host.MustRun(t, "ip", "addr", "add", h+"/32", "dev", "lan0")
				l.b.gw.MustRun(t, "ip", "route", "add", h+"/32", "via", l.b.lanHost.String())
				l.b.gw.MustRun(t, "ip", "addr", "add", strings.TrimSuffix(p, "0/24")+"1/32", "dev", "lan0")
				hostsB = append(hostsB, h)
			}
			cfg := l.v1Config()
			cfg.VPNType = gwconfig.PolicyBased
			cfg.LocalPrefixes = append(cfg.LocalPrefixes, tc.local...)
			cfg.Connections[0].RemotePrefixes = append(cfg.Connections[0].RemotePrefixes, tc.remote...)
			cfg.Connections[0].IdleTimeoutSeconds = 4
			sw := l.swanBv1("aes256-sha256-modp1024", "aes256-sha256", func(c *swantest.Conn) {
				c.LocalTS, c.RemoteTS = cfg.Connections[0].RemotePrefixes, cfg.LocalPrefixes
			})
			a, _ := startAgent(t, l.a, cfg)
			waitConnected(t, a, "to-b", 15*time.Second)
			reachable(t, l.a.host, l.b.lanHost, 5*time.Second)
			transfer(t, l.a.host, l.b.host, l.b.lanHost, 2<<20)
			// Every pair carries traffic, on its own Child SA.
			pairs := 0
			for _, src := range append([]string{l.a.lanHost.String()}, hostsA...) {
				for _, dst := range append([]string{l.b.lanHost.String()}, hostsB...) {
					if out, err := l.a.host.Run("ping", "-c", "2", "-W", "1", "-I", src, dst); err != nil {
						t.Fatalf("%s → %s: %v %s", src, dst, err, out)
					}
					pairs++
				}
			}
			nstest.WaitFor(t, 10*time.Second, func() bool {
				st := a.Status().Connections[0]
				return len(st.IKE) == 1 && len(st.IKE[0].Children) == pairs
			}, "want %d Child SAs (one per pair): %s", pairs, fmtStatus(a.Status()))

			// Idle: no traffic for 4 s ends the SAs on both sides.
			start := time.Now()
			nstest.WaitFor(t, 15*time.Second, func() bool { return !a.Status().Connected("to-b") }, "idle connection not torn down: %s", fmtStatus(a.Status()))
			t.Logf("idle teardown after %v", time.Since(start).Round(100*time.Millisecond))
			nstest.WaitFor(t, 5*time.Second, func() bool { return !sw.Established("vpngw") }, "strongSwan still has the SA after the idle teardown")
			if st := a.Status().Connections[0]; st.Status != "NotConnected" {
				t.Errorf("idle connection status %q, want NotConnected", st.Status)
			}
			time.Sleep(2 * time.Second)
			if a.Status().Connected("to-b") {
				t.Fatal("the idle connection came back without traffic")
			}

			// Traffic brings it back.
			start = time.Now()
			reachable(t, l.a.host, l.b.lanHost, 10*time.Second)
			t.Logf("re-established by traffic in %v", time.Since(start).Round(100*time.Millisecond))
			waitConnected(t, a, "to-b", 5*time.Second)

			// A packet outside the selectors (from the gateway's WAN
			// address, not a VNet prefix) is dropped and counted.
			before := policyDrops(a)
			_, _ = l.a.gw.Run("ping", "-c", "3", "-i", "0.2", "-W", "1", "-I", l.a.wan.String(), l.b.lanHost.String())
			if d := policyDrops(a) - before; d < 3 {
				t.Fatalf("%d packets counted outside the selectors, want 3\n%s", d, fmtStatus(a.Status()))
			}
			if m := metric(t, cfg.StatusSocket, `vpngw_connection_policy_drops_total{connection="to-b"}`); m < 3 {
				t.Fatalf("vpngw_connection_policy_drops_total %v, want ≥ 3", m)
			}
			if !strings.Contains(fmtStatus(a.Status()), "OUTSIDE SELECTORS") {
				t.Fatal("--status does not show the packets outside the selectors")
			}
			if !a.Status().Connected("to-b") {
				t.Fatal("packets outside the selectors disturbed the tunnel")
			}
		})
	}
}

func policyDrops(a *agent.Agent) uint64 {
	if tr := a.Status().Connections[0].Traffic; tr != nil {
		return tr.DropPolicy
	}
	return 0
}

// An Azure custom policy on an IKEv1 connection: it is all that is offered
// and accepted, in Main Mode and in Quick Mode, with either side initiating.
func TestInteropIKEv1CustomPolicy(t *testing.T) {
	swantest.Require(t)
	for _, vpngwInitiates := range []bool{true, false} {
		t.Run(fmt.Sprintf("vpngw-initiates=%v", vpngwInitiates), func(t *testing.T) {
			l := newLab(t, false)
			cfg := l.v1Config()
			cfg.Connections[0].IpsecPolicy = &transform.IpsecPolicy{IkeEncryption: "AES256", IkeIntegrity: "SHA256", DhGroup: "DHGroup14",
				IpsecEncryption: "AES128", IpsecIntegrity: "SHA256", PfsGroup: "None", SaLifeTimeSeconds: 3600, SaDataSizeKilobytes: 102400000}
			sw := l.swanBv1("aes256-sha1-modp1024,aes256-sha256-modp2048", "aes256-sha1,aes128-sha256", nil)
			l.bringUp(cfg, sw, !vpngwInitiates)
			sas, err := sw.SAs()
			if err != nil || len(sas) != 1 || len(sas[0].Children) == 0 {
				t.Fatalf("strongSwan SAs: %v %+v", err, sas)
			}
			if s, c := sas[0], sas[0].Children[0]; s.Encr != "AES_CBC256" || s.DH != "MODP_2048" || c.Encr != "AES_CBC128" || c.Integ != "HMAC_SHA2_256_128" {
				t.Fatalf("the custom policy was not what was negotiated: IKE %s/%s/%s, ESP %s/%s", s.Encr, s.Integ, s.DH, c.Encr, c.Integ)
			}
		})
	}
}

// Main Mode re-authentication under 10 pps ping, run by each side: a new
// phase 1 SA comes up next to the old one while traffic flows
// (make-before-break). Azure documents a gap of up to 5 s here; the goal
// is none. When vpngw re-authenticates it also moves the Child SA to the
// new phase 1 SA and deletes the old one; strongSwan's `swanctl --rekey
// --ike` only adds a phase 1 SA (its Child SAs stay, as IKEv1 allows).
func TestInteropIKEv1MainModeReauthLoss(t *testing.T) {
	swantest.Require(t)
	for _, vpngwReauths := range []bool{true, false} {
		name := map[bool]string{true: "vpngw-reauthenticates", false: "strongswan-reauthenticates"}[vpngwReauths]
		t.Run(name, func(t *testing.T) {
			l := newLab(t, false)
			sw := l.swanBv1("aes256-sha256-modp1024", "aes256-sha256", nil)
			a := l.bringUp(l.v1Config(), sw, false)
			firstIKE := a.Status().Connections[0].IKE[0].SPIi
			firstChild := currentChild(t, a)
			type result struct{ sent, got int }
			done := make(chan result, 1)
			go func() {
				s, g := pingCount(t, l.a.host, l.b.lanHost.String(), 80, "0.1") // 8 s at 10 pps
				done <- result{s, g}
			}()
			time.Sleep(2 * time.Second)
			var err error
			if vpngwReauths {
				err = a.Rekey(context.Background(), "to-b", true)
			} else {
				err = sw.RekeyIKE("vpngw")
			}
			if err != nil {
				t.Fatal(err)
			}
			r := <-done
			t.Logf("Main Mode re-authentication (%s) under 10 pps: %d of %d pings answered, %d lost", name, r.got, r.sent, r.sent-r.got)
			st := a.Status().Connections[0]
			newIKE := false
			for _, s := range st.IKE {
				newIKE = newIKE || (s.SPIi != firstIKE && s.State == "established")
			}
			if !newIKE {
				t.Fatalf("no new phase 1 SA:\n%s", fmtStatus(a.Status()))
			}
			if r.sent != r.got {
				t.Fatalf("%d of %d pings lost across Main Mode re-authentication\n%s", r.sent-r.got, r.sent, fmtStatus(a.Status()))
			}
			// The old Child SA goes RekeyGrace (5 s) after the new one is
			// up, the old phase 1 SA a second after it (ikev1's
			// retireDelay): by the end of the pings or shortly after.
			if vpngwReauths && !nstest.Eventually(5*time.Second, func() bool {
				return len(a.Status().Connections[0].IKE) == 1 && currentChild(t, a) != firstChild
			}) {
				t.Errorf("after re-authenticating, want one phase 1 SA and a new Child SA:\n%s", fmtStatus(a.Status()))
			}
		})
	}
}
