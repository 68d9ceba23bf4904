package ike

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/p2s/pki"
	"github.com/vpngw/vpngw/internal/p2s/pool"
	"github.com/vpngw/vpngw/internal/transform"
)

// raPair is a remote-access gateway (B, a template with certificate
// clients) and certificate clients on A, in memory.
type raPair struct {
	n    *testNet
	ca   *pki.CA
	pool *pool.Pool
	tmpl Peer
}

const raTestFQDN = "gw.vpngw.test"

func newRAPair(t *testing.T, kt pki.KeyType) *raPair {
	t.Helper()
	ca, err := pki.NewCA("client test CA", kt)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.IssueServer(raTestFQDN, kt, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := pool.New([]netip.Prefix{netip.MustParsePrefix("172.16.201.0/29")})
	if err != nil {
		t.Fatal(err)
	}
	v, err := pki.NewVerifier([]string{pki.PublicCertData(ca.Cert)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A refused client does not try again within a test.
	r := &raPair{n: newTestNet(t, Config{RetryInitiate: time.Minute}, Config{}), ca: ca, pool: pl}
	// The certificates are valid around the wall clock.
	r.n.now = time.Now()
	r.tmpl = Peer{Name: "p2s", Local: addrB, LocalID: FQDNIdentity(raTestFQDN), Mode: ModeResponderOnly,
		LocalTS:      []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")},
		RemoteAccess: &RemoteAccess{Cert: [][]byte{srv.Cert.Raw}, Key: srv.Key, Pool: pl, Clients: v}}
	return r
}

// client is a client peer on A named name, with a certificate from ca
// (kt) and trusting roots.
func (r *raPair) client(t *testing.T, name string, ca *pki.CA, kt pki.KeyType, roots ...*x509.Certificate) Peer {
	t.Helper()
	c, err := ca.IssueClient(name+"@vpngw.test", kt, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return Peer{Name: name, Local: addrA, Remote: addrB, LocalID: Identity{Type: message.IDDerASN1DN, Data: c.Cert.RawSubject},
		RemoteID: FQDNIdentity(raTestFQDN), Client: &RemoteAccessClient{Cert: [][]byte{c.Cert.Raw}, Key: c.Key, GatewayRoots: roots}}
}

func (r *raPair) vips() map[string]netip.Addr {
	out := map[string]netip.Addr{}
	for _, e := range r.n.a.h.events {
		if e.Kind == EventIKEUp && e.VirtualIP.IsValid() {
			out[e.Peer] = e.VirtualIP
		}
	}
	return out
}

// TestRemoteAccessClientCertificate: two certificate clients (ECDSA and
// RSA) of the engine get distinct pool addresses with CFG_REQUEST, and
// Child SAs narrowed to them on both sides.
func TestRemoteAccessClientCertificate(t *testing.T) {
	for _, kt := range []pki.KeyType{pki.ECDSAP256, pki.RSA2048} {
		r := newRAPair(t, kt)
		c1 := r.client(t, "laptop1", r.ca, kt, r.ca.Cert)
		c2 := r.client(t, "laptop2", r.ca, kt, r.ca.Cert)
		r.n.setPeers([]Peer{c1, c2}, []Peer{r.tmpl})
		r.n.run(5 * time.Second)
		vips := r.vips()
		if len(vips) != 2 || vips["laptop1"] == vips["laptop2"] {
			t.Fatalf("key %d: virtual IPs %v, want two distinct", kt, vips)
		}
		for name, vip := range vips {
			if !r.pool.Prefixes()[0].Contains(vip) {
				t.Errorf("%s: address %v outside the pool", name, vip)
			}
			if h, ok := r.pool.Holder(vip); !ok || h == "" {
				t.Errorf("%s: %v not leased at the gateway", name, vip)
			}
		}
		if leased, _ := r.pool.Stats(); leased != 2 {
			t.Errorf("pool: %d leased, want 2", leased)
		}
		// Each side: one outbound Child SA per client, the client's local
		// selector its address alone.
		if len(r.n.a.h.outbound) != 2 || len(r.n.b.h.outbound) != 2 {
			t.Fatalf("outbound Child SAs: client %v, gateway %v", keys(r.n.a.h.outbound), keys(r.n.b.h.outbound))
		}
		for _, c := range r.n.a.h.children {
			want := netip.PrefixFrom(vips[c.Peer], 32).String()
			if got := TSString(c.LocalTS); got != want {
				t.Errorf("%s: Child SA local selector %s, want %s", c.Peer, got, want)
			}
			if got := TSString(c.RemoteTS); got != "10.1.0.0/16" {
				t.Errorf("%s: Child SA remote selector %s, want the gateway's 10.1.0.0/16", c.Peer, got)
			}
		}
		r.n.assertNoLoss()
	}
}

// TestRemoteAccessClientRefusesGateway: a client that does not trust the
// gateway's root refuses it (and says why); a gateway that does not trust
// the client's root refuses the client, before leasing it an address.
// (A client refusing the gateway's IKE_AUTH answer drops its SA without a
// Delete, as a PSK initiator does; the gateway keeps that client until its
// dead peer detection.)
func TestRemoteAccessClientRefusesGateway(t *testing.T) {
	r := newRAPair(t, pki.ECDSAP256)
	other, err := pki.NewCA("another CA", pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, want string
		peer       Peer
		leased     int
	}{
		{"untrusted client", "AUTHENTICATION_FAILED", r.client(t, "stranger", other, pki.ECDSAP256, r.ca.Cert), 0},
		{"untrusted gateway", "certificate signed by unknown authority", r.client(t, "wary", r.ca, pki.ECDSAP256, other.Cert), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.n.a.h.events = nil
			r.n.setPeers([]Peer{tt.peer}, []Peer{r.tmpl})
			r.n.run(3 * time.Second)
			if vips := r.vips(); len(vips) != 0 {
				t.Fatalf("client connected: %v", vips)
			}
			if got := r.n.a.h.lastReason(EventFailure); !strings.Contains(got, tt.want) {
				t.Errorf("failure %q, want it to mention %q", got, tt.want)
			}
			if leased, _ := r.pool.Stats(); leased != tt.leased {
				t.Errorf("pool: %d leased after the refusal, want %d", leased, tt.leased)
			}
		})
	}
}

// TestRemoteAccessClientValidate: a client peer's configuration is
// checked.
func TestRemoteAccessClientValidate(t *testing.T) {
	r := newRAPair(t, pki.ECDSAP256)
	good := r.client(t, "ok", r.ca, pki.ECDSAP256, r.ca.Cert)
	noRoots := good
	noRoots.Client = &RemoteAccessClient{Cert: good.Client.Cert, Key: good.Client.Key}
	noRemote := good
	noRemote.Remote = netip.Addr{}
	noKey := good
	noKey.Client = &RemoteAccessClient{Cert: good.Client.Cert, GatewayRoots: good.Client.GatewayRoots}
	for name, p := range map[string]Peer{"no roots": noRoots, "no remote": noRemote, "no key": noKey} {
		err := r.n.a.e.SetPeers(r.n.now, []Peer{p})
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "remote-access client") {
			t.Errorf("%s: %v, want ErrConfig about the remote-access client", name, err)
		}
	}
	if err := r.n.a.e.SetPeers(r.n.now, []Peer{good}); err != nil {
		t.Fatal(err)
	}
}

// raScaleNet is a remote-access gateway (engine B, one template) with n
// certificate clients connected from n addresses (engine A).
type raScaleNet struct {
	*scaleNet
	r     *raPair
	peers []Peer
}

func newRAScaleNet(t *testing.T, n int) *raScaleNet {
	t.Helper()
	r := newRAPair(t, pki.ECDSAP256)
	// Room for the clients (the test's pair has a /29).
	pl, err := pool.New([]netip.Prefix{netip.MustParsePrefix("172.20.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	r.tmpl.RemoteAccess.Pool, r.pool = pl, pl
	s := &raScaleNet{r: r, scaleNet: &scaleNet{t: t, now: r.n.now, ha: newTestHost("A"), hb: newTestHost("B")}}
	s.a, s.b = New(Config{}, s.ha, nil), New(Config{}, s.hb, nil)
	if err := s.b.SetPeers(s.now, []Peer{r.tmpl}); err != nil {
		t.Fatal(err)
	}
	for range n {
		s.addClient()
	}
	return s
}

// addClient connects one more client (from its own address) and returns
// the gateway's bookkeeping work for it, status of what changed included.
func (s *raScaleNet) addClient() uint64 {
	s.t.Helper()
	i := len(s.peers)
	p := s.r.client(s.t.(*testing.T), fmt.Sprintf("c%05d", i), s.r.ca, pki.ECDSAP256, s.r.ca.Cert)
	p.Local = netip.AddrFrom4([4]byte{100, 64 + byte(i>>16), byte(i >> 8), byte(i)})
	p.Mode = ModeResponderOnly // initiated below
	s.peers = append(s.peers, p)
	if err := s.a.SetPeers(s.now, s.peers); err != nil {
		s.t.Fatal(err)
	}
	s.b.Changed(func(string) {})
	w0 := s.b.Work()
	if err := s.a.Initiate(s.now, p.Name); err != nil {
		s.t.Fatal(err)
	}
	s.deliver()
	s.b.Changed(func(n string) {
		if _, ok := s.b.PeerStatus(n); !ok {
			s.t.Fatalf("no status for %s", n)
		}
	})
	if !s.a.Established(p.Name) {
		s.t.Fatalf("client %s not connected", p.Name)
	}
	return s.b.Work() - w0
}

// TestRemoteAccessWorkPerClientIndependentOfClients: connecting one more
// certificate client visits as many SAs and peers at a gateway with 10
// clients as at one with 300 (pool lease, the client's peer, its status:
// no scan of the others), and every client holds its own address.
func TestRemoteAccessWorkPerClientIndependentOfClients(t *testing.T) {
	small, big := newRAScaleNet(t, 10), newRAScaleNet(t, 300)
	ws, wb := small.addClient(), big.addClient()
	t.Logf("gateway work for one client's connect: %d with 10 clients, %d with 300", ws, wb)
	if ws == 0 || wb != ws {
		t.Errorf("work for one client's connect: %d with 10 clients, %d with 300: must not depend on the client count", ws, wb)
	}
	if leased, _ := big.r.pool.Stats(); leased != 301 {
		t.Errorf("pool: %d leased, want 301", leased)
	}
	seen := map[netip.Addr]bool{}
	for _, e := range big.ha.events {
		if e.Kind == EventIKEUp {
			if seen[e.VirtualIP] {
				t.Fatalf("address %v given twice", e.VirtualIP)
			}
			seen[e.VirtualIP] = true
		}
	}
}

// TestESPAcceptDefaultBuiltOnce: a responder without a custom policy
// answers each Child SA with the engine's one default acceptance list
// (no list built per Child SA, as a gateway with thousands of clients
// connecting would pay in allocations), the same as espAcceptDefault.
func TestESPAcceptDefaultBuiltOnce(t *testing.T) {
	d := newPeerDefaults()
	p := &peer{cfg: Peer{Name: "p", Local: addrA, PSK: []byte("k")}.withDefaults(d)}
	if got, want := transform.FormatProposals(p.espAccept(d)), transform.FormatProposals(espAcceptDefault()); got != want {
		t.Fatalf("espAccept = %s, want %s", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { _ = p.espAccept(d) }); n != 0 {
		t.Errorf("espAccept allocates %v times per Child SA, want 0", n)
	}
	custom := &peer{cfg: Peer{Name: "c", Local: addrA, PSK: []byte("k"), ESPProposals: mustProposals(t, "aes128gcm16", true)}.withDefaults(d)}
	if got := transform.FormatProposals(custom.espAccept(d)); got != "aes128gcm16" {
		t.Errorf("custom policy: espAccept = %s, want aes128gcm16 alone", got)
	}
}

// countingSigner is a crypto.Signer that notes, at each signature, what
// at() returns.
type countingSigner struct {
	crypto.Signer
	at    func() int
	signs []int
}

func (s *countingSigner) Sign(r io.Reader, digest []byte, o crypto.SignerOpts) ([]byte, error) {
	s.signs = append(s.signs, s.at())
	return s.Signer.Sign(r, digest, o)
}

// TestRemoteAccessProofSignedAhead: the gateway signs its AUTH for a
// certificate client while handling the client's IKE_SA_INIT, right after
// answering it, not when the client's IKE_AUTH arrives; the client
// accepts that signature and gets its address.
func TestRemoteAccessProofSignedAhead(t *testing.T) {
	for _, kt := range []pki.KeyType{pki.ECDSAP256, pki.RSA2048} {
		r := newRAPair(t, kt)
		// The exchange of the latest request to the gateway.
		var last message.ExchangeType
		r.n.drop = func(p Packet) bool {
			if h, err := message.ParseHeader(p.Data); err == nil && p.Remote.Addr() == addrB && !h.IsResponse() {
				last = h.Exchange
			}
			return false
		}
		signer := &countingSigner{Signer: r.tmpl.RemoteAccess.Key, at: func() int { return int(last) }}
		r.tmpl.RemoteAccess.Key = signer
		r.n.setPeers([]Peer{r.client(t, "laptop1", r.ca, kt, r.ca.Cert)}, []Peer{r.tmpl})
		r.n.run(5 * time.Second)
		if vips := r.vips(); !vips["laptop1"].IsValid() {
			t.Fatalf("key %d: client not connected (%v)", kt, vips)
		}
		if want := []int{int(message.IKESAInit)}; !slices.Equal(signer.signs, want) {
			t.Fatalf("key %d: gateway signed while handling exchanges %v, want once with IKE_SA_INIT %v", kt, signer.signs, want)
		}
	}
}

// TestRemoteAccessClientBehindNAT: a client behind a NAT that maps its
// ports to even ones (as charon-nm's random ports or any NAT may): the
// gateway's Child SA sends ESP-in-UDP to the endpoint the client's
// IKE_AUTH came from, not to a port computed from it. (It used to add
// one to an even port, the convention of tests that run IKE on other
// ports than 500, so such a client's tunnel carried nothing back.)
func TestRemoteAccessClientBehindNAT(t *testing.T) {
	r := newRAPair(t, pki.ECDSAP256)
	c1 := r.client(t, "laptop1", r.ca, pki.ECDSAP256, r.ca.Cert)
	natIKE := netip.AddrPortFrom(addrA, 40000)
	natT := netip.AddrPortFrom(addrA, 40002)
	r.n.snat = map[netip.AddrPort]netip.AddrPort{
		netip.AddrPortFrom(addrA, 500):  natIKE,
		netip.AddrPortFrom(addrA, 4500): natT,
	}
	r.n.setPeers([]Peer{c1}, []Peer{r.tmpl})
	r.n.run(5 * time.Second)
	if len(r.vips()) != 1 {
		t.Fatalf("the client did not connect: %v", r.vips())
	}
	if len(r.n.b.h.children) != 1 {
		t.Fatalf("gateway Child SAs: %d, want one", len(r.n.b.h.children))
	}
	for _, c := range r.n.b.h.children {
		if !c.Encap || c.Remote != natT {
			t.Errorf("gateway Child SA %08x: encap %v, remote %v; want ESP-in-UDP to the NAT's %v", c.InSPI, c.Encap, c.Remote, natT)
		}
	}
}
