package agent_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agent"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

// p2sFQDN is the gateway's identity toward point-to-site clients.
const p2sFQDN = "gw-a.vpngw.test"

// withP2S adds a point-to-site section to site A's configuration: the
// pool 172.16.201.0/29 (five client addresses), a certificate generated
// into pkiDir, users alice and bob.
func (l *lab) withP2S(cfg *gwconfig.Config, pkiDir string) *gwconfig.Config {
	cfg.PointToSite = &gwconfig.PointToSite{
		AddressPool: []string{"172.16.201.0/29"},
		FQDN:        p2sFQDN,
		PKIDir:      pkiDir,
		Users:       []gwconfig.P2SUser{{Name: "alice", Password: "correct horse"}, {Name: "bob", Password: "s3cret!"}},
		DNS:         []string{"10.1.0.53"},
	}
	return cfg
}

// p2sClient is a strongSwan point-to-site client in a namespace of its
// own on the Internet side of site A's gateway (public address
// 203.0.113.N, TEST-NET-3), configured to reach site A's LAN as user.
func (l *lab) p2sClient(name string, n byte, user, password, pkiDir string) (*nstest.NS, *swantest.Daemon) {
	t := l.t
	ns := nstest.New(t, "vag-c"+name)
	addr := netip.AddrFrom4([4]byte{203, 0, 113, n})
	nstest.Link(t, l.a.gw, "p2s"+name, netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, 100 + n}), 32), ns, "wan0", netip.PrefixFrom(addr, 24))
	// The gateway answers from its public address (the one IKE and ESP
	// use), the client reaches that address on its link.
	l.a.gw.MustRun(t, "ip", "route", "replace", addr.String()+"/32", "dev", "p2s"+name, "src", l.a.wan.String())
	ns.MustRun(t, "ip", "route", "replace", l.a.wan.String()+"/32", "dev", "wan0")
	d := swantest.StartClient(t, ns, swantest.Client{LocalAddr: addr.String(), RemoteAddr: l.a.wan.String(), User: user, Password: password,
		GatewayID: p2sFQDN, CACert: filepath.Join(pkiDir, gwconfig.PKICAFile), RemoteTS: []string{l.a.prefix.String()}})
	return ns, d
}

// p2sClientStatus waits for user's client to be Connected and returns it.
func p2sClientStatus(t *testing.T, a *agent.Agent, user string) agent.ConnectionStatus {
	t.Helper()
	var got agent.ConnectionStatus
	nstest.WaitFor(t, 10*time.Second, func() bool {
		c, ok := findClient(a.Status(), user)
		got = c
		return ok && c.Status == "Connected"
	}, "no Connected point-to-site client %s:\n%s", user, fmtStatus(a.Status()))
	return got
}

func findClient(st agent.Status, user string) (agent.ConnectionStatus, bool) {
	if st.PointToSite == nil {
		return agent.ConnectionStatus{}, false
	}
	for _, c := range st.PointToSite.Clients {
		if c.Client != nil && c.Client.User == user {
			return c, true
		}
	}
	return agent.ConnectionStatus{}, false
}

// gwRoutes is the gateway namespace's main routing table.
func (l *lab) gwRoutes() string { return l.a.gw.MustRun(l.t, "ip", "route", "show") }

// metrics scrapes the agent's Prometheus endpoint on its status socket.
func metrics(t *testing.T, socket string) string {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}}
	resp, err := c.Get("http://agent/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInteropP2SClientsAndSite: one agent serves a site-to-site tunnel
// (strongSwan at site B) and point-to-site clients (strongSwan with
// EAP-MSCHAPv2, on the Internet side) at once. Each client gets its own
// address from the pool and a tunnel (the pool has one kernel route into
// the TUN device, the clients none of their own), and passes ping and
// checksummed TCP both ways to site A's LAN; the site tunnel carries
// traffic without loss throughout. A client that leaves loses its tunnel
// (packets to its address are dropped in the data plane) and frees its
// address; a reload with the same configuration keeps the other client
// connected.
func TestInteropP2SClientsAndSite(t *testing.T) {
	swantest.Require(t)
	const poolRoute = "172.16.201.0/29 dev vpngw0"
	l := newLab(t, false)
	pkiDir := filepath.Join(t.TempDir(), "pki")
	const ikeP, espP = "aes256gcm16-prfsha256-ecp256", "aes256gcm16"
	cfg := l.withP2S(l.agentConfig(ikeP, espP), pkiDir)
	a := l.bringUp(cfg, l.swanB(ikeP, espP, nil), false)

	// The site tunnel keeps passing traffic while clients come and go.
	siteLoss := make(chan int, 1)
	go func() { siteLoss <- ping(t, l.a.host, l.b.lanHost, 300, "0.05") }() // 15 s

	aliceNS, alice := l.p2sClient("a", 11, "alice", "correct horse", pkiDir)
	if err := alice.Initiate("p2s", 15*time.Second); err != nil {
		t.Fatalf("alice: %v\n%s", err, fmtStatus(a.Status()))
	}
	ac := p2sClientStatus(t, a, "alice")
	aliceIP := ac.Client.VirtualIP
	if !netip.MustParsePrefix("172.16.201.0/29").Contains(aliceIP) || ac.Remote.Addr() != netip.MustParseAddr("203.0.113.11") {
		t.Fatalf("alice: %+v", ac)
	}
	if r := l.gwRoutes(); !strings.Contains(r, poolRoute) || strings.Contains(r, aliceIP.String()+" ") {
		t.Fatalf("want the pool's route (%s) and none of alice's %v own in the gateway:\n%s", poolRoute, aliceIP, r)
	}
	reachable(t, aliceNS, l.a.lanHost, 5*time.Second)
	if loss := ping(t, l.a.host, aliceIP, 5, "0.2"); loss != 0 {
		t.Fatalf("LAN → alice ping loss %d%%", loss)
	}
	transfer(t, aliceNS, l.a.host, l.a.lanHost, 4<<20)
	transfer(t, l.a.host, aliceNS, aliceIP, 4<<20)

	bobNS, bob := l.p2sClient("b", 12, "bob", "s3cret!", pkiDir)
	if err := bob.Initiate("p2s", 15*time.Second); err != nil {
		t.Fatalf("bob: %v", err)
	}
	bc := p2sClientStatus(t, a, "bob")
	bobIP := bc.Client.VirtualIP
	if bobIP == aliceIP || !netip.MustParsePrefix("172.16.201.0/29").Contains(bobIP) {
		t.Fatalf("alice %v, bob %v", aliceIP, bobIP)
	}
	reachable(t, bobNS, l.a.lanHost, 5*time.Second)
	transfer(t, bobNS, l.a.host, l.a.lanHost, 4<<20)
	transfer(t, l.a.host, bobNS, bobIP, 4<<20)
	if loss := ping(t, aliceNS, l.a.lanHost, 5, "0.2"); loss != 0 {
		t.Fatalf("alice's ping loss %d%% with bob connected", loss)
	}
	t.Logf("alice %v (from %v), bob %v (from %v)", aliceIP, ac.Remote, bobIP, bc.Remote)

	if loss := <-siteLoss; loss != 0 {
		t.Fatalf("site-to-site ping loss %d%% while clients connected\n%s", loss, fmtStatus(a.Status()))
	}
	transfer(t, l.a.host, l.b.host, l.b.lanHost, 4<<20)
	transfer(t, l.b.host, l.a.host, l.a.lanHost, 4<<20)

	// Status, --status output and metrics show both clients with traffic.
	st := a.Status()
	p := st.PointToSite
	if p == nil || len(p.Clients) != 2 || p.LeasedAddresses != 2 || p.PoolSize != 5 || !st.Connected("to-b") || len(st.Connections) != 1 {
		t.Fatalf("status:\n%s", fmtStatus(st))
	}
	for _, c := range p.Clients {
		if c.IngressBytes < 4<<20 || c.EgressBytes < 4<<20 {
			t.Errorf("client %s: %d bytes in, %d out", c.Name, c.IngressBytes, c.EgressBytes)
		}
	}
	out := fmtStatus(st)
	t.Logf("status:\n%s", out)
	for _, want := range []string{"POINT-TO-SITE CLIENTS", "p2s/alice/" + aliceIP.String(), "203.0.113.12", "2 of 5 addresses leased"} {
		if !strings.Contains(out, want) {
			t.Errorf("--status output lacks %q", want)
		}
	}
	m := metrics(t, cfg.StatusSocket)
	for _, want := range []string{"vpngw_p2s_clients 2", `vpngw_p2s_pool_addresses{state="leased"} 2`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Each client's byte counters, read for the scrape from the data plane
	// (Dataplane.TunnelBytes), hold its transfers.
	for _, c := range []struct{ name, user string }{{"p2s/alice/" + aliceIP.String(), "alice"}, {"p2s/bob/" + bobIP.String(), "bob"}} {
		for _, fam := range []string{"vpngw_p2s_client_ingress_bytes_total", "vpngw_p2s_client_egress_bytes_total"} {
			sample := fmt.Sprintf(`%s{client=%q,user=%q} `, fam, c.name, c.user)
			_, rest, ok := strings.Cut(m, "\n"+sample)
			v, err := strconv.ParseUint(strings.SplitN(rest, "\n", 2)[0], 10, 64)
			if !ok || err != nil || v < 4<<20 {
				t.Errorf("metrics: %s is %q, want at least %d bytes", sample, strings.SplitN(rest, "\n", 2)[0], 4<<20)
			}
		}
	}

	// The status socket lists the clients a query names: alice by her
	// user name, bob by his public address, with their counters; the
	// summary counts both and lists neither.
	for _, c := range []struct {
		term, want string
	}{{"alice", "p2s/alice/" + aliceIP.String()}, {"203.0.113.12", "p2s/bob/" + bobIP.String()}} {
		qs, err := agent.FetchStatus(context.Background(), cfg.StatusSocket, agent.StatusQuery{Clients: []string{c.term}})
		if err != nil || qs.PointToSite == nil || qs.PointToSite.ClientCount != 2 || len(qs.PointToSite.Clients) != 1 {
			t.Fatalf("status for client=%s: %v\n%s", c.term, err, fmtStatus(qs))
		}
		if cl := qs.PointToSite.Clients[0]; cl.Name != c.want || cl.IngressBytes < 4<<20 || len(cl.IKE) == 0 {
			t.Errorf("client=%s: listed %s with %d bytes in and %d IKE SAs, want %s with its transfer and SA", c.term, cl.Name, cl.IngressBytes, len(cl.IKE), c.want)
		}
	}
	if qs, err := agent.FetchStatus(context.Background(), cfg.StatusSocket, agent.StatusQuery{NoClients: true}); err != nil || qs.PointToSite == nil ||
		qs.PointToSite.ClientCount != 2 || len(qs.PointToSite.Clients) != 0 || !qs.Connected("to-b") {
		t.Errorf("summary status: %v\n%s", err, fmtStatus(qs))
	}

	// A reload with the same configuration keeps the clients (the same
	// template) and their tunnels.
	in, err := l.withP2S(l.agentConfig(ikeP, espP), pkiDir).Check()
	if err != nil {
		t.Fatal(err)
	}
	in.StatusSocket = cfg.StatusSocket
	if err := a.Reload(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if loss := ping(t, bobNS, l.a.lanHost, 5, "0.2"); loss != 0 {
		t.Fatalf("bob's ping loss %d%% after a reload", loss)
	}
	if c, ok := findClient(a.Status(), "bob"); !ok || c.Client.VirtualIP != bobIP {
		t.Fatalf("bob after a reload: %+v", a.Status().PointToSite)
	}

	// Alice leaves: her tunnel, route and address go; bob stays.
	if err := alice.Terminate("p2s"); err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, 5*time.Second, func() bool { _, ok := findClient(a.Status(), "alice"); return !ok }, "alice still listed after leaving")
	noRoute := a.Status().Dataplane.NoRoute
	if loss := ping(t, l.a.host, aliceIP, 2, "0.2"); loss != 100 {
		t.Fatalf("LAN → alice's old %v after she left: %d%% loss", aliceIP, loss)
	}
	if n := a.Status().Dataplane.NoRoute - noRoute; n < 2 {
		t.Fatalf("the data plane dropped %d packets to alice's old %v as unrouted, want 2: her tunnel outlived her", n, aliceIP)
	}
	if p := a.Status().PointToSite; p.LeasedAddresses != 1 || len(p.Clients) != 1 {
		t.Fatalf("after alice left: %d addresses leased, %d clients", p.LeasedAddresses, len(p.Clients))
	}
	if loss := ping(t, bobNS, l.a.lanHost, 5, "0.2"); loss != 0 {
		t.Fatalf("bob's ping loss %d%% after alice left", loss)
	}
	// And comes back, with an address of her own again.
	if err := alice.Initiate("p2s", 15*time.Second); err != nil {
		t.Fatalf("alice again: %v", err)
	}
	again := p2sClientStatus(t, a, "alice").Client.VirtualIP
	if again == bobIP {
		t.Fatalf("alice got bob's address %v", again)
	}
	reachable(t, aliceNS, l.a.lanHost, 5*time.Second)
	t.Logf("alice came back as %v", again)

	// A changed pointToSite section (another DNS server) is a new
	// template: its clients are disconnected, their tunnels and routes
	// go, the new pool is empty; they connect again under it.
	changed := l.withP2S(l.agentConfig(ikeP, espP), pkiDir)
	changed.PointToSite.DNS = []string{"10.1.0.54"}
	changed.StatusSocket = cfg.StatusSocket
	if in, err = changed.Check(); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, 5*time.Second, func() bool { p := a.Status().PointToSite; return p != nil && len(p.Clients) == 0 },
		"clients of the old template still listed:\n%s", fmtStatus(a.Status()))
	if r := l.gwRoutes(); !strings.Contains(r, poolRoute) {
		t.Fatalf("the pool's route went with the old template:\n%s", r)
	}
	if p := a.Status().PointToSite; p.LeasedAddresses != 0 {
		t.Fatalf("the new pool has %d addresses leased", p.LeasedAddresses)
	}
	_ = bob.Terminate("p2s") // strongSwan may not have noticed yet
	if err := bob.Initiate("p2s", 15*time.Second); err != nil {
		t.Fatalf("bob under the new template: %v", err)
	}
	p2sClientStatus(t, a, "bob")
	reachable(t, bobNS, l.a.lanHost, 5*time.Second)
	if !a.Status().Connected("to-b") {
		t.Fatal("the site tunnel went down with the point-to-site reloads")
	}
}
