package agent

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/ikev1"
	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/p2s/pki"
)

// p2sGateway is an agent's status path and engines (no loop, no data
// plane) with a point-to-site template and n certificate clients
// connected in memory, each from its own address.
type p2sGateway struct {
	t       *testing.T
	a       *Agent
	gw, cl  *sendHost
	clients *ike.Engine
	now     time.Time
	config  func(dns string) *gwconfig.Instance
}

func newP2SGateway(t *testing.T, n int) *p2sGateway {
	t.Helper()
	gwCA, err := os.ReadFile("../gwconfig/testdata/p2s/ca.pem") // signed the gateway's certificate
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(gwCA)
	gwRoot, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewCA("clients", pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	g := &p2sGateway{t: t, gw: &sendHost{}, cl: &sendHost{}, now: time.Now()}
	g.config = func(dns string) *gwconfig.Instance {
		t.Helper()
		s := strings.NewReplacer(`"users":[{"name":"alice","password":"pw"}]`, `"clientRootCertificates":["`+base64.StdEncoding.EncodeToString(ca.Cert.Raw)+`"]`,
			`"192.168.50.0/29"`, `"172.20.0.0/16"`, `"10.1.0.53"`, `"`+dns+`"`,
			`"connections":[]`, `"connections":[{"name":"site","remoteAddress":"198.51.100.200","remotePrefixes":["10.2.0.0/16"],"sharedKey":"k"}]`).Replace(p2sConfig)
		in, err := gwconfig.Parse([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	g.a = &Agent{log: slog.New(slog.DiscardHandler), host: &host{lastUp: map[string]time.Time{}}}
	g.a.book.conns, g.a.book.clients, g.a.book.trackChanges = map[string]ConnectionStatus{}, map[string]ConnectionStatus{}, true
	g.a.eng = newEngines(ike.New(ike.Config{}, g.gw, nil), ikev1.New(ikev1.Config{}, g.gw, nil))
	g.reload(g.config("10.1.0.53"))
	g.clients = ike.New(ike.Config{}, g.cl, nil)
	var peers []ike.Peer
	for i := range n {
		c, err := ca.IssueClient(fmt.Sprintf("c%05d@vpngw.test", i), pki.ECDSAP256, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, ike.Peer{Name: fmt.Sprintf("c%05d", i), Local: netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)}),
			Remote: netip.MustParseAddr("192.0.2.1"), Mode: ike.ModeResponderOnly,
			LocalID: ike.Identity{Type: message.IDDerASN1DN, Data: c.Cert.RawSubject}, RemoteID: ike.FQDNIdentity("gw.vpngw.test"),
			Client: &ike.RemoteAccessClient{Cert: [][]byte{c.Cert.Raw}, Key: c.Key, GatewayRoots: []*x509.Certificate{gwRoot}}})
	}
	if err := g.clients.SetPeers(g.now, peers); err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		if err := g.clients.Initiate(g.now, p.Name); err != nil {
			t.Fatal(err)
		}
	}
	g.deliver()
	for _, p := range peers {
		if !g.clients.Established(p.Name) {
			t.Fatalf("client %s not connected", p.Name)
		}
	}
	return g
}

// reload does what Agent.Reload does with a configuration, but for the
// data plane and the loop: the engines get the new peers, and the status
// book is refreshed.
func (g *p2sGateway) reload(in *gwconfig.Instance) {
	g.t.Helper()
	peers, err := peers(in, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	s, err := newP2S(g.a.p2s, in, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	if err := g.a.eng.SetPeers(g.now, in, peers, s.peer(in)); err != nil {
		g.t.Fatal(err)
	}
	g.a.p2s, g.a.cfg = s, in
	g.a.refresh()
}

// deliver passes datagrams both ways until both sides are quiet, the
// agent's status published after every one the gateway handles.
func (g *p2sGateway) deliver() {
	for range 20 {
		if len(g.gw.sent)+len(g.cl.sent) == 0 {
			return
		}
		toGW, toCl := g.cl.sent, g.gw.sent
		g.cl.sent, g.gw.sent = nil, nil
		for _, p := range toGW {
			g.a.eng.HandlePacket(g.now, ike.Packet{Data: p.Data, Local: p.Remote, Remote: p.Local})
			g.a.publish()
		}
		for _, p := range toCl {
			g.clients.HandlePacket(g.now, ike.Packet{Data: p.Data, Local: p.Remote, Remote: p.Local})
		}
	}
	g.t.Fatal("the exchanges did not settle")
}

// TestReloadKeepsClientEntries: a configuration change that keeps the
// point-to-site template rebuilds the configured part of the status (the
// connection and the template), not one entry per client, and remote
// mode's changes name that part alone; one that ends the clients (the
// template changed) removes their entries and names them removed.
func TestReloadKeepsClientEntries(t *testing.T) {
	const n = 40
	g := newP2SGateway(t, n)
	a := g.a
	if st := a.Status(); st.PointToSite == nil || st.PointToSite.ClientCount != n || len(st.PointToSite.Clients) != n {
		t.Fatalf("status after the clients connected: %+v", st.PointToSite)
	}
	a.TakeChanges()

	u0 := a.book.updates
	g.reload(g.config("10.1.0.53")) // the same configuration
	ch := a.TakeChanges()
	if d := a.book.updates - u0; d != 2 {
		t.Errorf("a reload rebuilt %d status entries at %d clients, want 2 (the connection and the template)", d, n)
	}
	if ch.All || len(ch.Conns) != 1 || ch.Conns[0].Name != "site" || len(ch.Clients) != 0 || len(ch.Removed) != 0 {
		t.Errorf("changes after a reload: all %v, connections %v, %d clients, removed %v; want the connection alone",
			ch.All, names(ch.Conns), len(ch.Clients), ch.Removed)
	}
	st := a.Status()
	if p := st.PointToSite; p == nil || p.ClientCount != n || len(p.Clients) != n || p.Clients[0].Status != "Connected" || len(p.Clients[0].IKE) != 1 {
		t.Fatalf("clients after a reload: %+v", p)
	}

	// DisconnectClients' lookup: the sessions its IDs name, by a look at
	// each client's IKE SAs; IDs of another shape name none.
	c3, c7 := st.PointToSite.Clients[3], st.PointToSite.Clients[7]
	ids := []string{agentapi.VpnConnectionID(c7.IKE[0].SPIi), "IKEv2_" + strings.ToUpper(c3.IKE[0].SPIi),
		"IKEv2_0000000000000001", "IKEv2_12", "IKEv1_" + c3.IKE[0].SPIi, "IKEv2_" + c3.IKE[0].SPIi + "0"}
	if got := a.eng.v2.ClientsByInitiatorSPI(sessionSPIs(ids)); !slices.Equal(got, []string{c3.Name, c7.Name}) {
		t.Errorf("the sessions %q name clients %v, want %s and %s", ids, got, c3.Name, c7.Name)
	}
	if spis := sessionSPIs(ids[2:]); len(spis) != 1 || !spis[1] {
		t.Errorf("sessionSPIs(%q) = %v, want only SPI 1", ids[2:], spis)
	}

	// Another DNS server ends every client's session (docs/agent.md).
	g.reload(g.config("10.1.0.54"))
	g.deliver()
	ch = a.TakeChanges()
	var want []string
	for _, c := range st.PointToSite.Clients {
		want = append(want, c.Name)
	}
	slices.Sort(ch.Removed)
	if !slices.Equal(ch.Removed, want) || len(ch.Clients) != 0 {
		t.Errorf("changes after the template changed: %d clients changed, removed %v; want the %d clients removed", len(ch.Clients), ch.Removed, n)
	}
	if p := a.Status().PointToSite; p == nil || p.ClientCount != 0 || len(p.Clients) != 0 {
		t.Errorf("clients after the template changed: %+v", p)
	}
}
