package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agent"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/tstest"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

type slogLogger = slog.Logger

// newTestLogger logs to a buffer printed when the test fails (or to stderr
// with VPNGW_TEST_LOG=1).
func newTestLogger(t *testing.T) *slog.Logger { return tstest.Logger(t, "agent") }

// The interop matrix: IKE and ESP proposals, each with vpngw and with
// strongSwan initiating; traffic checked both ways with ping and a TCP
// transfer whose checksum is compared.
var matrix = []struct {
	ike, esp string
	v1       bool // connectionProtocol IKEv1, with Azure's IKEv1 offers
}{
	{"aes256gcm16-prfsha256-ecp256", "aes256gcm16", false},
	{"aes128gcm16-prfsha256-ecp256", "aes128gcm16", false},
	{"aes256-sha256-modp2048", "aes256-sha256", false},
	{"aes256-sha1-modp1024", "aes128-sha1", false},
	// IKEv1: strongSwan offers one of Azure's RouteBased Main Mode suites
	// (DH group 2) and Quick Mode offers.
	{"aes256-sha1-modp1024", "aes256-sha1", true},
	{"aes256-sha256-modp1024", "aes256-sha256", true},
	{"aes128-sha1-modp1024", "aes128-sha1", true},
	{"3des-sha1-modp1024", "3des-sha1", true},
}

func TestInteropMatrix(t *testing.T) {
	swantest.Require(t)
	for _, m := range matrix {
		for _, vpngwInitiates := range []bool{true, false} {
			name := m.ike + "/" + m.esp + "/strongswan-initiates"
			if vpngwInitiates {
				name = m.ike + "/" + m.esp + "/vpngw-initiates"
			}
			if m.v1 {
				name = "IKEv1/" + name
			}
			t.Run(name, func(t *testing.T) {
				l := newLab(t, false)
				cfg := l.agentConfig(m.ike, m.esp)
				swan := l.swanB
				if m.v1 {
					cfg, swan = l.v1Config(), l.swanBv1
				}
				a := l.bringUp(cfg, swan(m.ike, m.esp, nil), !vpngwInitiates)
				if loss := ping(t, l.b.host, l.a.lanHost, 5, "0.2"); loss != 0 {
					t.Fatalf("B→A ping loss %d%%", loss)
				}
				transfer(t, l.a.host, l.b.host, l.b.lanHost, 8<<20)
				transfer(t, l.b.host, l.a.host, l.a.lanHost, 8<<20)
				st := a.Status().Connections[0]
				if st.IngressBytes == 0 || st.EgressBytes == 0 {
					t.Fatalf("byte counters not moving: %+v", st)
				}
				if !strings.Contains(fmtStatus(a.Status()), "Connected") {
					t.Fatal("status output lacks Connected")
				}
			})
		}
	}
}

// usePolicyBasedTrafficSelectors on an IKEv2 connection against
// strongSwan with the matching narrow selectors, either side initiating:
// vpngw proposes one Child SA per (local, remote) prefix pair; as the
// responder it accepts strongSwan's narrow selectors. Every pair carries
// traffic.
func TestInteropPolicyBased(t *testing.T) {
	swantest.Require(t)
	for _, swanInitiates := range []bool{false, true} {
		t.Run(fmt.Sprintf("strongswan-initiates=%v", swanInitiates), func(t *testing.T) {
			l := newLab(t, false)
			cfg := l.twoPrefixesEach()
			cfg.Connections[0].UsePolicyBasedTrafficSelectors = true
			sw := l.swanB("aes256-sha256-modp2048", "aes256-sha256", func(c *swantest.Conn) {
				c.LocalTS = []string{"10.2.0.0/24", "10.4.0.0/24"}
				c.RemoteTS = []string{"10.1.0.0/24", "10.3.0.0/24"}
			})
			a := l.bringUp(cfg, sw, swanInitiates)
			if !swanInitiates {
				nstest.WaitFor(t, 10*time.Second, func() bool {
					st := a.Status().Connections[0]
					return len(st.IKE) == 1 && len(st.IKE[0].Children) == 4
				}, "four Child SAs (one per pair): %s", fmtStatus(a.Status()))
			}
			for _, p := range [][2]string{{"10.1.0.2", "10.2.0.2"}, {"10.1.0.2", "10.4.0.10"}, {"10.3.0.10", "10.2.0.2"}, {"10.3.0.10", "10.4.0.10"}} {
				out, err := l.a.host.Run("ping", "-c", "2", "-W", "1", "-I", p[0], p[1])
				if err != nil {
					t.Fatalf("%s → %s: %v %s\n%s", p[0], p[1], err, out, fmtStatus(a.Status()))
				}
			}
			t.Logf("Child SAs: %d", len(a.Status().Connections[0].IKE[0].Children))
		})
	}
}

func TestInteropRekeyNoLoss(t *testing.T) {
	swantest.Require(t)
	l := newLab(t, false)
	sw := l.swanB("aes256gcm16-prfsha256-ecp256", "aes256gcm16-ecp256", nil)
	a, _ := startAgent(t, l.a, l.agentConfig("aes256gcm16-prfsha256-ecp256", "aes256gcm16-ecp256"))
	waitConnected(t, a, "to-b", 15*time.Second)
	reachable(t, l.a.host, l.b.lanHost, 5*time.Second)
	done := make(chan int, 1)
	go func() { done <- ping(t, l.a.host, l.b.lanHost, 600, "0.01") }() // 6 s of pings
	time.Sleep(500 * time.Millisecond)
	// strongSwan rekeys the Child SA and the IKE SA...
	if err := sw.RekeyChild("vpngw"); err != nil {
		t.Error(err)
	}
	time.Sleep(time.Second)
	if err := sw.RekeyIKE("vpngw"); err != nil {
		t.Error(err)
	}
	time.Sleep(time.Second)
	// ...then vpngw does, through its soft-lifetime path.
	first := currentChild(t, a)
	if err := a.Rekey(context.Background(), "to-b", false); err != nil {
		t.Error(err)
	}
	time.Sleep(time.Second)
	if err := a.Rekey(context.Background(), "to-b", true); err != nil {
		t.Error(err)
	}
	if loss := <-done; loss != 0 {
		t.Fatalf("%d%% ping loss across rekeys\n%s", loss, fmtStatus(a.Status()))
	}
	if currentChild(t, a) == first {
		t.Fatal("our Child SA rekey did not happen")
	}
	if c := a.Status().Connections[0]; len(c.IKE) != 1 || c.Status != "Connected" {
		t.Fatalf("after rekeys: %s", fmtStatus(a.Status()))
	}
	transfer(t, l.a.host, l.b.host, l.b.lanHost, 4<<20)
}

func currentChild(t *testing.T, a *agent.Agent) string {
	for _, c := range a.Status().Connections {
		for _, s := range c.IKE {
			for _, ch := range s.Children {
				if ch.Outbound {
					return ch.InSPI
				}
			}
		}
	}
	t.Fatalf("no Child SA: %s", fmtStatus(a.Status()))
	return ""
}

func TestInteropDPDAndReturn(t *testing.T) {
	swantest.Require(t)
	l := newLab(t, false)
	sw := l.swanB("aes256-sha256-modp2048", "aes256-sha256", nil)
	cfg := l.agentConfig("aes256-sha256-modp2048", "aes256-sha256")
	cfg.Connections[0].DPDTimeoutSeconds = 9
	a, _ := startAgent(t, l.a, cfg)
	waitConnected(t, a, "to-b", 15*time.Second)
	reachable(t, l.a.host, l.b.lanHost, 5*time.Second)
	// The peer goes silent (all its traffic dropped).
	l.b.gw.MustRun(t, "nft", "add table inet silence; add chain inet silence out { type filter hook output priority 0; }; add rule inet silence out oifname wan0 drop")
	start := time.Now()
	nstest.WaitFor(t, 20*time.Second, func() bool { return !a.Status().Connected("to-b") }, "silent peer not declared dead")
	if d := time.Since(start); d < 8*time.Second {
		t.Fatalf("declared dead after %v, before the 9 s DPD timeout", d)
	}
	if !strings.Contains(a.Status().Connections[0].LastError+fmtStatus(a.Status()), "") {
		t.Fatal("no reason")
	}
	// The peer comes back: the tunnel returns without operator action.
	l.b.gw.MustRun(t, "nft", "delete table inet silence")
	_ = sw // strongSwan still holds its old SA; our new INITIAL_CONTACT replaces it.
	waitConnected(t, a, "to-b", 30*time.Second)
	reachable(t, l.a.host, l.b.lanHost, 10*time.Second)
}

func TestInteropShutdownDeletesOnPeer(t *testing.T) {
	swantest.Require(t)
	l := newLab(t, false)
	sw := l.swanB("aes256-sha256-modp2048", "aes256-sha256", nil)
	a, stop := startAgent(t, l.a, l.agentConfig("aes256-sha256-modp2048", "aes256-sha256"))
	waitConnected(t, a, "to-b", 15*time.Second)
	nstest.WaitFor(t, 5*time.Second, func() bool { return sw.Established("vpngw") }, "strongSwan not established")
	stop()
	nstest.WaitFor(t, 3*time.Second, func() bool {
		sas, err := sw.SAs()
		return err == nil && len(sas) == 0
	}, "strongSwan still has SAs after the agent stopped")
}

func TestInteropThroughNAT(t *testing.T) {
	swantest.Require(t)
	l := newLab(t, true)
	l.swanB("aes256gcm16-prfsha256-ecp256", "aes256gcm16", func(c *swantest.Conn) { c.NoEncap = true })
	cfg := l.agentConfig("aes256gcm16-prfsha256-ecp256", "aes256gcm16")
	a, _ := startAgent(t, l.a, cfg)
	waitConnected(t, a, "to-b", 15*time.Second)
	st := a.Status().Connections[0]
	if !st.IKE[0].NATLocal || !st.IKE[0].Encap {
		t.Fatalf("NAT not detected: %+v", st.IKE[0])
	}
	reachable(t, l.a.host, l.b.lanHost, 5*time.Second)
	reachable(t, l.b.host, l.a.lanHost, 5*time.Second)
	transfer(t, l.a.host, l.b.host, l.b.lanHost, 4<<20)
}

// vpngw ↔ vpngw, with raw ESP (no NAT) and with UDP encapsulation.
func TestVpngwToVpngw(t *testing.T) {
	nstest.RequirePriv(t)
	for _, encap := range []string{"auto", "always"} {
		t.Run("udpEncapsulation="+encap, func(t *testing.T) {
			l := newLab(t, false)
			ca := l.agentConfig("aes256gcm16-prfsha256-ecp256", "aes256gcm16")
			ca.Connections[0].UDPEncapsulation = encap
			cb := &gwconfig.Config{Name: "gw-b", LocalAddress: l.b.wan.String(), LocalPrefixes: []string{l.b.prefix.String()},
				Connections: []gwconfig.Connection{{Name: "to-a", RemoteAddress: l.a.wan.String(), RemotePrefixes: []string{l.a.prefix.String()},
					SharedKey: "interopPSK123", IKEProposals: "aes256gcm16-prfsha256-ecp256", ESPProposals: "aes256gcm16", UDPEncapsulation: encap}}}
			a, _ := startAgent(t, l.a, ca)
			b, _ := startAgent(t, l.b, cb)
			waitConnected(t, a, "to-b", 15*time.Second)
			waitConnected(t, b, "to-a", 15*time.Second)
			reachable(t, l.a.host, l.b.lanHost, 5*time.Second)
			transfer(t, l.a.host, l.b.host, l.b.lanHost, 16<<20)
			transfer(t, l.b.host, l.a.host, l.a.lanHost, 16<<20)
			enc := a.Status().Connections[0].IKE[0].Encap
			if enc != (encap == "always") {
				t.Fatalf("UDP encapsulation %v with udpEncapsulation=%s", enc, encap)
			}
			// Both Default mode: simultaneous initiation converges on one
			// IKE SA.
			nstest.WaitFor(t, 10*time.Second, func() bool {
				return len(a.Status().Connections[0].IKE) == 1 && len(b.Status().Connections[0].IKE) == 1
			}, "duplicate IKE SAs remain: %s", fmtStatus(a.Status()))
		})
	}
}

var _ = netip.Addr{}
var _ = syscall.SIGTERM

// Operator actions: initiate (waiting for the tunnel, as the benchmark
// measures setup latency), terminate, and again.
func TestInitiateWaitTerminate(t *testing.T) {
	nstest.RequirePriv(t)
	l := newLab(t, false)
	ca := l.agentConfig("aes256gcm16-prfsha256-ecp256", "aes256gcm16")
	ca.Connections[0].ConnectionMode = "ResponderOnly"
	cb := &gwconfig.Config{Name: "gw-b", LocalAddress: l.b.wan.String(), LocalPrefixes: []string{l.b.prefix.String()},
		Connections: []gwconfig.Connection{{Name: "to-a", RemoteAddress: l.a.wan.String(), RemotePrefixes: []string{l.a.prefix.String()},
			SharedKey: "interopPSK123", ConnectionMode: "ResponderOnly"}}}
	a, _ := startAgent(t, l.a, ca)
	b, _ := startAgent(t, l.b, cb)
	time.Sleep(200 * time.Millisecond)
	if a.Status().Connected("to-b") {
		t.Fatal("ResponderOnly on both sides connected by itself")
	}
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		took, err := a.InitiateWait(ctx, "to-b")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if took <= 0 || took > 2*time.Second {
			t.Fatalf("setup took %v", took)
		}
		t.Logf("IKE_SA+CHILD_SA setup: %v", took)
		waitConnected(t, b, "to-a", 2*time.Second)
		reachable(t, l.a.host, l.b.lanHost, 5*time.Second)
		if err := a.Terminate(context.Background(), "to-b"); err != nil {
			t.Fatal(err)
		}
		nstest.WaitFor(t, 5*time.Second, func() bool { return !b.Status().Connected("to-a") }, "peer still connected after terminate")
	}
}

// trafficSelectorPolicies: when vpngw initiates it proposes one Child SA
// per policy with exactly that policy's selectors (Azure: proposed only
// when Azure initiates); a flow no policy covers has no SA and is not
// sent.
func TestInteropTrafficSelectorPolicies(t *testing.T) {
	swantest.Require(t)
	l := newLab(t, false)
	cfg := l.twoPrefixesEach()
	cfg.Connections[0].TrafficSelectorPolicies = []gwconfig.TrafficSelectorPolicy{
		{LocalAddressRanges: []string{"10.1.0.0/24"}, RemoteAddressRanges: []string{"10.2.0.0/24"}},
		{LocalAddressRanges: []string{"10.3.0.0/24"}, RemoteAddressRanges: []string{"10.4.0.0/24"}},
	}
	l.swanB("aes256-sha256-modp2048", "aes256-sha256", func(c *swantest.Conn) {
		c.LocalTS = []string{"10.2.0.0/24", "10.4.0.0/24"}
		c.RemoteTS = []string{"10.1.0.0/24", "10.3.0.0/24"}
	})
	a, _ := startAgent(t, l.a, cfg)
	waitConnected(t, a, "to-b", 15*time.Second)
	var got []string
	nstest.WaitFor(t, 10*time.Second, func() bool {
		got = nil
		for _, s := range a.Status().Connections[0].IKE {
			for _, c := range s.Children {
				got = append(got, c.LocalTS+" === "+c.RemoteTS)
			}
		}
		return len(got) == 2
	}, "two Child SAs (one per policy): %s", fmtStatus(a.Status()))
	slices.Sort(got)
	if want := []string{"10.1.0.0/24 === 10.2.0.0/24", "10.3.0.0/24 === 10.4.0.0/24"}; !slices.Equal(got, want) {
		t.Fatalf("Child SA selectors %q, want %q", got, want)
	}
	for _, p := range [][2]string{{"10.1.0.2", "10.2.0.2"}, {"10.3.0.10", "10.4.0.10"}} {
		if out, err := l.a.host.Run("ping", "-c", "2", "-W", "1", "-I", p[0], p[1]); err != nil {
			t.Fatalf("%s → %s: %v %s\n%s", p[0], p[1], err, out, fmtStatus(a.Status()))
		}
	}
	if out, err := l.a.host.Run("ping", "-c", "2", "-W", "1", "-I", "10.1.0.2", "10.4.0.10"); err == nil {
		t.Fatalf("10.1.0.2 → 10.4.0.10 crossed the tunnel though no policy covers it: %s", out)
	}
}

// twoPrefixesEach gives each site a second prefix with a host in it
// (10.1.0.0/24 + 10.3.0.0/24 behind A, 10.2.0.0/24 + 10.4.0.0/24 behind
// B) and returns A's agent configuration for both, AES-CBC with MODP-2048.
func (l *lab) twoPrefixesEach() *gwconfig.Config {
	t := l.t
	l.a.host.MustRun(t, "ip", "addr", "add", "10.3.0.10/32", "dev", "lan0")
	l.a.gw.MustRun(t, "ip", "route", "add", "10.3.0.10/32", "via", l.a.lanHost.String())
	l.b.host.MustRun(t, "ip", "addr", "add", "10.4.0.10/32", "dev", "lan0")
	l.b.gw.MustRun(t, "ip", "route", "add", "10.4.0.10/32", "via", l.b.lanHost.String())
	l.b.gw.MustRun(t, "ip", "addr", "add", "10.4.0.1/32", "dev", "lan0") // libipsec wants a local address per TS
	cfg := l.agentConfig("aes256-sha256-modp2048", "aes256-sha256")
	cfg.LocalPrefixes = []string{"10.1.0.0/24", "10.3.0.0/24"}
	cfg.Connections[0].RemotePrefixes = []string{"10.2.0.0/24", "10.4.0.0/24"}
	return cfg
}
