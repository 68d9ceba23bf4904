package agent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agent"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

// site is a gateway namespace with a host namespace behind it:
//
//	host (lanHost/24) --lan0-- gw (lanGW/24 | wan) ==== ...
type site struct {
	gw, host *nstest.NS
	wan      netip.Addr
	lanGW    netip.Addr
	lanHost  netip.Addr
	prefix   netip.Prefix // the site's LAN
}

// lab is two sites joined by a WAN link (TEST-NET-1), optionally through a
// NAT router in front of site A.
type lab struct {
	t    *testing.T
	a, b *site
	nat  *nstest.NS
}

func newSite(t *testing.T, name string, lan netip.Prefix) *site {
	ns := nstest.NewSite(t, "vag-"+name, lan)
	return &site{gw: ns.GW, host: ns.Host, prefix: lan, lanGW: ns.LANGW, lanHost: ns.LANHost}
}

// newLab builds site A (10.1.0.0/24, WAN 192.0.2.1) and site B
// (10.2.0.0/24, WAN 192.0.2.2). With nat, site A sits behind a masquerading
// router: A's WAN is 172.16.0.2, the router's public side 192.0.2.1.
func newLab(t *testing.T, nat bool) *lab {
	nstest.RequirePriv(t)
	l := &lab{t: t}
	l.a = newSite(t, "a", netip.MustParsePrefix("10.1.0.0/24"))
	l.b = newSite(t, "b", netip.MustParsePrefix("10.2.0.0/24"))
	l.b.wan = netip.MustParseAddr("192.0.2.2")
	if !nat {
		l.a.wan = netip.MustParseAddr("192.0.2.1")
		nstest.Link(t, l.a.gw, "wan0", netip.MustParsePrefix("192.0.2.1/24"), l.b.gw, "wan0", netip.MustParsePrefix("192.0.2.2/24"))
		return l
	}
	l.a.wan = netip.MustParseAddr("172.16.0.2")
	l.nat = nstest.New(t, "vag-nat")
	nstest.Link(t, l.a.gw, "wan0", netip.MustParsePrefix("172.16.0.2/24"), l.nat, "in0", netip.MustParsePrefix("172.16.0.1/24"))
	nstest.Link(t, l.nat, "out0", netip.MustParsePrefix("192.0.2.1/24"), l.b.gw, "wan0", netip.MustParsePrefix("192.0.2.2/24"))
	l.a.gw.MustRun(t, "ip", "route", "add", "default", "via", "172.16.0.1")
	l.nat.Sysctl(t, "net.ipv4.ip_forward", "1")
	l.nat.MustRun(t, "nft", "add table ip nat; add chain ip nat post { type nat hook postrouting priority 100; }; add rule ip nat post oifname out0 masquerade")
	return l
}

// startAgent runs a vpngw agent in-process inside the gateway namespace of
// s; it stops (deleting its SAs on the peer) when the test ends or stop is
// called.
func startAgent(t *testing.T, s *site, cfg *gwconfig.Config) (a *agent.Agent, stop func()) {
	t.Helper()
	return startAgentLog(t, s, cfg, testLog(t))
}

// startAgentLog is startAgent with the agent's logger.
func startAgentLog(t *testing.T, s *site, cfg *gwconfig.Config, log *slogLogger) (a *agent.Agent, stop func()) {
	t.Helper()
	if cfg.StatusSocket == "" {
		cfg.StatusSocket = t.TempDir() + "/agent.sock"
	}
	in, err := cfg.Check()
	if err != nil {
		t.Fatal(err)
	}
	a, err = agent.New(in, agent.Options{Logger: log, IKE: ike.Config{RekeyGrace: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.gw.Do(func() error { return a.Run(ctx) })
	}()
	go func() { _ = agent.ServeStatus(ctx, a, cfg.StatusSocket) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("agent: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("agent did not stop")
		}
	}
	t.Cleanup(stop)
	return a, stop
}

// ping sends count pings from one namespace to addr and returns the loss
// percentage.
func ping(t *testing.T, from *nstest.NS, addr netip.Addr, count int, interval string) int {
	t.Helper()
	out, _ := from.Run("ping", "-c", strconv.Itoa(count), "-i", interval, "-W", "1", "-q", addr.String())
	loss, err := nstest.PingLoss(out)
	if err != nil {
		t.Fatal(err)
	}
	return loss
}

// reachable waits until a ping gets through.
func reachable(t *testing.T, from *nstest.NS, addr netip.Addr, timeout time.Duration) {
	t.Helper()
	nstest.WaitFor(t, timeout, func() bool {
		_, err := from.Run("ping", "-c", "1", "-W", "1", "-q", addr.String())
		return err == nil
	}, "%s cannot reach %s", from.Name, addr)
}

// transfer sends n bytes over TCP from one host to the other and checks
// the SHA-256 on arrival.
func transfer(t *testing.T, from, to *nstest.NS, toAddr netip.Addr, n int) {
	t.Helper()
	nstest.TransferTCP(t, from.Handle(), to.Handle(), toAddr, 5201, int64(n))
}

// agentConfig is site A's agent configuration toward site B.
func (l *lab) agentConfig(ikeP, espP string) *gwconfig.Config {
	return &gwconfig.Config{
		Name:          "gw-a",
		LocalAddress:  l.a.wan.String(),
		LocalPrefixes: []string{l.a.prefix.String()},
		Connections: []gwconfig.Connection{{
			Name:           "to-b",
			RemoteAddress:  l.b.wan.String(),
			RemotePrefixes: []string{l.b.prefix.String()},
			SharedKey:      "interopPSK123",
			IKEProposals:   ikeP,
			ESPProposals:   espP,
		}},
	}
}

// swanB is strongSwan on site B's gateway toward site A.
func (l *lab) swanB(ikeP, espP string, edit func(*swantest.Conn)) *swantest.Daemon {
	c := swantest.Conn{Name: "vpngw", LocalAddr: l.b.wan.String(), RemoteAddr: "%any", PSK: "interopPSK123",
		RemoteID: "%any", IKE: ikeP, ESP: espP,
		LocalTS: []string{l.b.prefix.String()}, RemoteTS: []string{l.a.prefix.String()}}
	if l.nat == nil {
		c.RemoteAddr = l.a.wan.String()
		c.RemoteID = l.a.wan.String()
	}
	if edit != nil {
		edit(&c)
	}
	return swantest.Start(l.t, l.b.gw, c)
}

// bringUp starts site A's agent with cfg against strongSwan sw and waits
// until the tunnel carries traffic from A to B. With swanInitiates the
// agent is ResponderOnly and strongSwan initiates; otherwise vpngw does.
func (l *lab) bringUp(cfg *gwconfig.Config, sw *swantest.Daemon, swanInitiates bool) *agent.Agent {
	t := l.t
	t.Helper()
	if swanInitiates {
		cfg.Connections[0].ConnectionMode = "ResponderOnly"
	}
	a, _ := startAgent(t, l.a, cfg)
	if swanInitiates {
		if err := sw.Initiate("vpngw", 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	waitConnected(t, a, "to-b", 15*time.Second)
	reachable(t, l.a.host, l.b.lanHost, 5*time.Second)
	return a
}

func waitConnected(t *testing.T, a *agent.Agent, name string, timeout time.Duration) {
	t.Helper()
	nstest.WaitFor(t, timeout, func() bool { return a.Status().Connected(name) }, "connection %s not Connected: %+v", name, a.Status())
}

func testLog(t *testing.T) *slogLogger {
	return newTestLogger(t)
}

func fmtStatus(st agent.Status) string {
	var b bytes.Buffer
	agent.WriteStatus(&b, st)
	return b.String()
}

var _ = fmt.Sprintf
