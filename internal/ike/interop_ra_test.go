package ike_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/p2s/mschapv2"
	"github.com/vpngw/vpngw/internal/p2s/pki"
	"github.com/vpngw/vpngw/internal/p2s/pool"
	"github.com/vpngw/vpngw/internal/radius"
	"github.com/vpngw/vpngw/internal/tstest/iketest"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
	"github.com/vpngw/vpngw/internal/tstest/radiustest"
	"github.com/vpngw/vpngw/internal/tstest/swantest"
)

// raLab is a point-to-site gateway (the Engine with a remote-access
// template, over real UDP sockets) and strongSwan clients in their own
// namespaces on the same link.
type raLab struct {
	t    *testing.T
	gw   *nstest.NS
	drv  *iketest.Driver[*ike.Engine]
	ca   *pki.CA
	pool *pool.Pool
	dir  string
	tmpl ike.Peer // the template as last set
}

const raFQDN = "gw.vpngw.test"

func newRALab(t *testing.T, poolPrefix string, users map[string]string) *raLab {
	swantest.Require(t)
	l := &raLab{t: t, dir: t.TempDir()}
	l.gw = nstest.New(t, "vra-gw")
	l.gw.MustRun(t, "ip", "addr", "add", ipA.String()+"/32", "dev", "lo")
	var err error
	if l.ca, err = pki.NewCA("vpngw P2S test CA", pki.ECDSAP256); err != nil {
		t.Fatal(err)
	}
	srv, err := l.ca.IssueServer(raFQDN, pki.ECDSAP256, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if l.pool, err = pool.New([]netip.Prefix{netip.MustParsePrefix(poolPrefix)}); err != nil {
		t.Fatal(err)
	}
	l.drv = iketest.Start(t, l.gw, ipA, func(h ike.Host) *ike.Engine { return ike.New(ike.Config{}, h, nil) })
	clients, err := pki.NewVerifier([]string{pki.PublicCertData(l.ca.Cert)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ra := &ike.RemoteAccess{Cert: [][]byte{srv.Cert.Raw}, Key: srv.Key, Pool: l.pool, DNS: []netip.Addr{netip.MustParseAddr("10.1.0.53")},
		Users: func(u string) ([16]byte, bool) {
			pw, ok := users[mschapv2.UserName(u)]
			return mschapv2.NTPasswordHash(pw), ok
		}, Clients: clients}
	l.tmpl = ike.Peer{Name: "p2s", Local: ipA, LocalID: ike.FQDNIdentity(raFQDN), Mode: ike.ModeResponderOnly,
		LocalTS: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, RemoteAccess: ra}
	l.setTemplate()
	return l
}

// setTemplate gives the engine l.tmpl.
func (l *raLab) setTemplate() {
	var err error
	l.drv.Do(func(e *ike.Engine) { err = e.SetPeers(time.Now(), []ike.Peer{l.tmpl}) })
	if err != nil {
		l.t.Fatal(err)
	}
}

// clientNS makes a client namespace at addr on the gateway's link.
func (l *raLab) clientNS(name string, addr netip.Addr) *nstest.NS {
	t := l.t
	ns := nstest.New(t, "vra-"+name)
	nstest.Link(t, l.gw, "c"+name, netip.PrefixFrom(netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", 100+addr.As4()[3])), 32), ns, "wan0", netip.PrefixFrom(addr, 24))
	l.gw.MustRun(t, "ip", "route", "replace", addr.String()+"/32", "dev", "c"+name)
	ns.MustRun(t, "ip", "route", "replace", ipA.String()+"/32", "dev", "wan0")
	return ns
}

// certClient starts a strongSwan client at addr that authenticates with
// the certificate c (its key in PEM next to it), checking the gateway's
// certificate against the lab's CA.
func (l *raLab) certClient(name string, addr netip.Addr, c *pki.Issued) *swantest.Daemon {
	return l.certClientWith(name, addr, c, certOpts{auth: "pubkey"})
}

// certOpts are a certificate client's options.
type certOpts struct {
	// auth is pubkey (IKE signatures) or eap-tls.
	auth string
	// aaaID is the EAP server's identity (an EAP-TLS server that is not
	// the gateway: RADIUS), and aaaCA its root.
	aaaID string
	aaaCA *x509.Certificate
	// tlsMax is the client's charon.tls.version_max (empty: 1.2).
	tlsMax string
}

// certClientWith is certClient with options.
func (l *raLab) certClientWith(name string, addr netip.Addr, c *pki.Issued, o certOpts) *swantest.Daemon {
	t := l.t
	ns := l.clientNS(name, addr)
	dir := t.TempDir()
	for _, d := range []string{"x509", "x509ca", "private"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path string, blk *pem.Block) {
		if err := os.WriteFile(filepath.Join(dir, path), pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("x509ca/ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: l.ca.Cert.Raw})
	aaa := ""
	if o.aaaCA != nil {
		write("x509ca/aaa.pem", &pem.Block{Type: "CERTIFICATE", Bytes: o.aaaCA.Raw})
		aaa = "\n\t\t\taaa_id = " + o.aaaID
	}
	write("x509/client.pem", &pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
	switch k := c.Key.(type) {
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		write("private/client.key", &pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	case *rsa.PrivateKey:
		write("private/client.key", &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	}
	conf := fmt.Sprintf(`connections {
	p2s {
		version = 2
		local_addrs = %s
		remote_addrs = %s
		vips = 0.0.0.0
		encap = yes
		proposals = aes256gcm16-prfsha256-ecp256
		local {
			auth = %s
			certs = client.pem%s
		}
		remote {
			auth = pubkey
			id = %s
		}
		children {
			p2s-net {
				remote_ts = 10.1.0.0/16
				esp_proposals = aes256gcm16
				start_action = none
			}
		}
	}
}
`, addr, ipA, o.auth, aaa, raFQDN)
	f := filepath.Join(dir, "swanctl.conf")
	if err := os.WriteFile(f, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return swantest.StartFileWith(t, ns, f, swantest.Options{TLSVersionMax: o.tlsMax})
}

// client starts a strongSwan client at addr (on the gateway's link) that
// authenticates as user with password, checking the gateway's certificate
// against the lab's CA, and asks for a virtual IP.
func (l *raLab) client(name string, addr netip.Addr, user, password string) *swantest.Daemon {
	t := l.t
	ns := l.clientNS(name, addr)
	caFile := filepath.Join(l.dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: l.ca.Cert.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return swantest.StartClient(t, ns, swantest.Client{LocalAddr: addr.String(), RemoteAddr: ipA.String(), User: user, Password: password,
		GatewayID: raFQDN, CACert: caFile, RemoteTS: []string{"10.1.0.0/16"}})
}

func (l *raLab) status() []ike.PeerStatus {
	var st []ike.PeerStatus
	l.drv.Do(func(e *ike.Engine) { st = e.Status() })
	return st
}

func (l *raLab) template() ike.PeerStatus {
	for _, p := range l.status() {
		if p.Name == "p2s" {
			return p
		}
	}
	l.t.Fatal("no template in the status")
	return ike.PeerStatus{}
}

func (l *raLab) clients() map[string]ike.PeerStatus {
	out := map[string]ike.PeerStatus{}
	for _, p := range l.status() {
		if p.Client != nil {
			out[p.Client.User] = p
		}
	}
	return out
}

// TestInteropRemoteAccessEAPMSCHAPv2: strongSwan clients authenticate with
// EAP-MSCHAPv2 against a gateway that proves itself with its certificate;
// each gets its own address from the pool, a Child SA narrowed to that
// address and the VNet, and the address returns to the pool when it
// leaves. A wrong password is refused with a reason in the template's
// status.
func TestInteropRemoteAccessEAPMSCHAPv2(t *testing.T) {
	l := newRALab(t, "172.16.201.0/29", map[string]string{"alice": "correct horse", "bob": "s3cret!", "carol": "pw-carol"})
	alice := l.client("a", netip.MustParseAddr("192.0.2.11"), "alice", "correct horse")
	if err := alice.Initiate("p2s", 15*time.Second); err != nil {
		t.Fatalf("alice: %v\n%s", err, alice.Log())
	}
	bob := l.client("b", netip.MustParseAddr("192.0.2.12"), `CORP\bob`, "s3cret!")
	if err := bob.Initiate("p2s", 15*time.Second); err != nil {
		t.Fatalf("bob: %v", err)
	}
	cs := l.clients()
	a, b := cs["alice"], cs[`CORP\bob`]
	if a.Client == nil || b.Client == nil || a.Client.VirtualIP == b.Client.VirtualIP || !netip.MustParsePrefix("172.16.201.0/29").Contains(a.Client.VirtualIP) {
		t.Fatalf("clients: %+v", cs)
	}
	for _, c := range []ike.PeerStatus{a, b} {
		if len(c.IKE) != 1 || len(c.IKE[0].Children) != 1 {
			t.Fatalf("%s: %+v", c.Name, c)
		}
		ch := c.IKE[0].Children[0]
		if ch.RemoteTS != c.Client.VirtualIP.String()+"/32" || ch.LocalTS != "10.1.0.0/16" {
			t.Fatalf("%s: Child SA %s <-> %s", c.Name, ch.LocalTS, ch.RemoteTS)
		}
	}
	// strongSwan installed the address it was given.
	if out, _ := alice.Swanctl("--list-sas"); !strings.Contains(out, a.Client.VirtualIP.String()) {
		t.Fatalf("alice's charon does not show %v:\n%s", a.Client.VirtualIP, out)
	}
	// What strongSwan says it checked: our certificate signature, the
	// EAP method and its MSK, the address.
	log := alice.Log()
	for _, want := range []string{"authentication of '" + raFQDN + "' with ECDSA", "EAP method EAP_MSCHAPV2 succeeded, MSK established",
		"installing new virtual IP " + a.Client.VirtualIP.String()} {
		if !strings.Contains(log, want) {
			t.Errorf("alice's charon log lacks %q", want)
		}
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "authentication of") || strings.Contains(line, "EAP method") || strings.Contains(line, "virtual IP") {
			t.Log(strings.TrimSpace(line))
		}
	}
	t.Logf("alice %v, bob %v", a.Client.VirtualIP, b.Client.VirtualIP)

	// The pool exhausted: the next client gets a clear IKE failure, not a
	// hang (the /29 has five client addresses: fill the other three).
	for i := range 3 {
		if _, err := l.pool.Lease(fmt.Sprint("filler", i)); err != nil {
			t.Fatal(err)
		}
	}
	carol := l.client("c", netip.MustParseAddr("192.0.2.14"), "carol", "pw-carol")
	start := time.Now()
	if err := carol.Initiate("p2s", 10*time.Second); err == nil {
		t.Fatal("a client connected with the pool exhausted")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the refusal took %v", d)
	}
	if !strings.Contains(carol.Log(), "N(INT_ADDR_FAIL)") { // charon's name for INTERNAL_ADDRESS_FAILURE
		t.Error("carol's charon was not told INTERNAL_ADDRESS_FAILURE")
	}
	if st := l.template(); !strings.Contains(st.LastError, "every client address is in use") {
		t.Fatalf("template's last error %q", st.LastError)
	}
	for i := range 3 {
		l.pool.Release(fmt.Sprint("filler", i))
	}

	// Leaving returns the address.
	if err := alice.Terminate("p2s"); err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, 5*time.Second, func() bool { _, ok := l.clients()["alice"]; return !ok }, "alice still listed after leaving")
	if n, _ := l.pool.Stats(); n != 1 {
		t.Fatalf("%d addresses leased after alice left, want 1", n)
	}

	// A wrong password.
	eve := l.client("e", netip.MustParseAddr("192.0.2.13"), "alice", "guess")
	if err := eve.Initiate("p2s", 10*time.Second); err == nil {
		t.Fatal("a wrong password connected")
	}
	if tmpl := l.template(); !strings.Contains(tmpl.LastError, "wrong password") {
		t.Fatalf("template's last error %q", tmpl.LastError)
	}
	if n, _ := l.pool.Stats(); n != 1 {
		t.Fatalf("%d addresses leased after a refused client, want 1", n)
	}

	// Changing the users keeps the sessions of those still allowed: a user
	// added, another removed, bob unchanged.
	bobSA := l.clients()[`CORP\bob`].IKE[0].SPIi
	l.setUsers(map[string]string{"bob": "s3cret!", "dave": "pw-dave"})
	time.Sleep(500 * time.Millisecond)
	if c, ok := l.clients()[`CORP\bob`]; !ok || len(c.IKE) != 1 || c.IKE[0].SPIi != bobSA {
		t.Fatalf("bob's session did not survive adding dave and removing alice and carol: %+v", c)
	}
	// His password changed: his session ends, as when he is removed.
	l.setUsers(map[string]string{"bob": "new-s3cret!", "dave": "pw-dave"})
	nstest.WaitFor(t, 5*time.Second, func() bool { _, ok := l.clients()[`CORP\bob`]; return !ok }, "bob still connected after his password changed")
}

// setUsers gives the template local users (name: password) in place of
// its current ones.
func (l *raLab) setUsers(users map[string]string) {
	ra := *l.tmpl.RemoteAccess
	ra.Users = func(u string) ([16]byte, bool) {
		pw, ok := users[mschapv2.UserName(u)]
		return mschapv2.NTPasswordHash(pw), ok
	}
	l.tmpl.RemoteAccess = &ra
	l.setTemplate()
}

// revoke gives the template the lab's root with c's thumbprint revoked.
func (l *raLab) revoke(c *pki.Issued) {
	v, err := pki.NewVerifier([]string{pki.PublicCertData(l.ca.Cert)}, []string{pki.Thumbprint(c.Cert)})
	if err != nil {
		l.t.Fatal(err)
	}
	ra := *l.tmpl.RemoteAccess
	ra.Clients = v
	l.tmpl.RemoteAccess = &ra
	l.setTemplate()
}

// certificates issues the certificate tests' clients: dave (ECDSA) and
// erin (RSA) from the lab's root, mallory from another.
func (l *raLab) certificates() (dave, erin, mallory *pki.Issued) {
	t := l.t
	dave, err := l.ca.IssueClient("dave@contoso.com", pki.ECDSAP256, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if erin, err = l.ca.IssueClient("erin@contoso.com", pki.RSA2048, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("Another root", pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	if mallory, err = other.IssueClient("mallory@evil.example", pki.ECDSAP256, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	return dave, erin, mallory
}

// TestInteropRemoteAccessCertificates: strongSwan clients with ECDSA and
// RSA client certificates from the gateway's root connect (Azure's
// "Certificate" authentication); a certificate from another root is
// refused; revoking a thumbprint ends that client's live session and
// refuses it afterwards, without disturbing the others.
func TestInteropRemoteAccessCertificates(t *testing.T) {
	l := newRALab(t, "172.16.202.0/28", nil)
	dave, erin, mallory := l.certificates()

	d := l.certClient("d", netip.MustParseAddr("192.0.2.21"), dave)
	e := l.certClient("e", netip.MustParseAddr("192.0.2.22"), erin)
	for _, c := range []*swantest.Daemon{d, e} {
		if err := c.Initiate("p2s", 15*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	cs := l.clients()
	if cs["dave@contoso.com"].Client == nil || cs["erin@contoso.com"].Client == nil {
		t.Fatalf("clients: %+v", cs)
	}
	for name, c := range cs {
		if ch := c.IKE[0].Children; len(ch) != 1 || ch[0].RemoteTS != c.Client.VirtualIP.String()+"/32" {
			t.Fatalf("%s: %+v", name, c.IKE[0])
		}
	}
	if !strings.Contains(e.Log(), "authentication of '"+raFQDN+"' with ECDSA_WITH_SHA256_DER successful") {
		t.Error("erin's charon did not verify the gateway's signature")
	}

	m := l.certClient("m", netip.MustParseAddr("192.0.2.23"), mallory)
	if err := m.Initiate("p2s", 10*time.Second); err == nil {
		t.Fatal("a certificate from another root connected")
	}
	if st := l.template(); !strings.Contains(st.LastError, "not trusted") {
		t.Fatalf("template's last error %q", st.LastError)
	}

	// Revoke erin's thumbprint: her live session ends (the gateway deletes
	// it), dave's stays, and she cannot come back.
	daveIKE := cs["dave@contoso.com"].IKE[0].SPIi
	l.revoke(erin)
	nstest.WaitFor(t, 5*time.Second, func() bool { _, ok := l.clients()["erin@contoso.com"]; return !ok }, "erin still connected after her certificate was revoked")
	nstest.WaitFor(t, 5*time.Second, func() bool { return !e.Established("p2s") }, "erin's charon still has the IKE SA")
	if c, ok := l.clients()["dave@contoso.com"]; !ok || c.IKE[0].SPIi != daveIKE || !d.Established("p2s") {
		t.Fatalf("dave was disturbed by erin's revocation: %+v", l.clients())
	}
	if err := e.Initiate("p2s", 10*time.Second); err == nil {
		t.Fatal("a revoked certificate connected")
	}
	if st := l.template(); !strings.Contains(st.LastError, "revoked") {
		t.Fatalf("template's last error %q", st.LastError)
	}
	if len(l.clients()) != 1 {
		t.Fatalf("clients after revocation: %+v", l.clients())
	}
}

// TestInteropRemoteAccessEAPTLS: strongSwan clients configured as Azure's
// Linux instructions say (leftauth=eap-tls with the client certificate)
// authenticate with EAP-TLS terminated in the gateway: with local users
// configured too, the client Naks EAP-MSCHAPv2 and gets EAP-TLS; without,
// EAP-TLS starts at once. charon checks the gateway's TLS certificate and
// derives the same MSK (its AUTH verifies). A certificate from another
// root is refused, and revoking a client's thumbprint ends its session.
func TestInteropRemoteAccessEAPTLS(t *testing.T) {
	l := newRALab(t, "172.16.204.0/28", map[string]string{"alice": "pw"})
	dave, erin, mallory := l.certificates()

	d := l.certClientWith("d", netip.MustParseAddr("192.0.2.31"), dave, certOpts{auth: "eap-tls"})
	if err := d.Initiate("p2s", 15*time.Second); err != nil {
		t.Fatalf("dave (after a Nak of EAP-MSCHAPv2): %v\n%s", err, d.Log())
	}
	// No local users: EAP-TLS is the gateway's first offer.
	ra := *l.tmpl.RemoteAccess
	ra.Users = nil
	l.tmpl.RemoteAccess = &ra
	l.setTemplate()
	nstest.WaitFor(t, 5*time.Second, func() bool { _, ok := l.clients()["dave@contoso.com"]; return !ok }, "dave kept across a change of EAP methods")
	if err := d.Initiate("p2s", 15*time.Second); err != nil {
		t.Fatalf("dave: %v\n%s", err, d.Log())
	}
	e := l.certClientWith("e", netip.MustParseAddr("192.0.2.32"), erin, certOpts{auth: "eap-tls"})
	if err := e.Initiate("p2s", 15*time.Second); err != nil {
		t.Fatalf("erin: %v\n%s", err, e.Log())
	}
	cs := l.clients()
	for _, u := range []string{"dave@contoso.com", "erin@contoso.com"} {
		c := cs[u]
		if c.Client == nil || len(c.IKE) != 1 || len(c.IKE[0].Children) != 1 || c.IKE[0].Children[0].RemoteTS != c.Client.VirtualIP.String()+"/32" {
			t.Fatalf("%s: %+v", u, c)
		}
	}
	log := e.Log()
	for _, want := range []string{"EAP method EAP_TLS succeeded, MSK established", "authentication of '" + raFQDN + "' with ECDSA",
		"installing new virtual IP " + cs["erin@contoso.com"].Client.VirtualIP.String()} {
		if !strings.Contains(log, want) {
			t.Errorf("erin's charon log lacks %q", want)
		}
	}
	if !strings.Contains(d.Log(), "EAP_TLS") {
		t.Error("dave's charon log does not mention EAP_TLS")
	}
	// The template's DNS server reached the client (INTERNAL_IP4_DNS,
	// installed by charon's resolve plugin).
	if rc := e.ResolvConf(); !strings.Contains(rc, "nameserver 10.1.0.53") {
		t.Errorf("erin's resolv.conf: %q", rc)
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "EAP") || strings.Contains(line, "authentication of") || strings.Contains(line, "TLS") {
			t.Log(strings.TrimSpace(line))
		}
	}

	m := l.certClientWith("m", netip.MustParseAddr("192.0.2.33"), mallory, certOpts{auth: "eap-tls"})
	if err := m.Initiate("p2s", 10*time.Second); err == nil {
		t.Fatal("a certificate from another root connected over EAP-TLS")
	}
	if st := l.template(); !strings.Contains(st.LastError, "EAP-TLS") || !strings.Contains(st.LastError, "not trusted") {
		t.Fatalf("template's last error %q", st.LastError)
	}

	// Revoking erin's thumbprint ends her EAP-TLS session; dave stays.
	daveIKE := l.clients()["dave@contoso.com"].IKE[0].SPIi
	l.revoke(erin)
	nstest.WaitFor(t, 5*time.Second, func() bool { _, ok := l.clients()["erin@contoso.com"]; return !ok }, "erin still connected after her certificate was revoked")
	if c, ok := l.clients()["dave@contoso.com"]; !ok || c.IKE[0].SPIi != daveIKE {
		t.Fatalf("dave was disturbed by erin's revocation: %+v", l.clients())
	}
	if err := e.Initiate("p2s", 10*time.Second); err == nil {
		t.Fatal("a revoked certificate connected over EAP-TLS")
	}
	if st := l.template(); !strings.Contains(st.LastError, "revoked") {
		t.Fatalf("template's last error %q", st.LastError)
	}
}

// radiusRelay relays clients' EAP to a RADIUS server, as the agent will:
// one EAPSession per client, the answer handed back on the engine's
// goroutine.
type radiusRelay struct {
	c   *radius.Client
	drv *iketest.Driver[*ike.Engine]
}

func (r *radiusRelay) Relay(req ike.RelayRequest) {
	go func() {
		s, _ := req.Session.(*radius.EAPSession)
		if s == nil {
			s = r.c.NewEAPSession(req.User, radius.Attr{Type: radius.AttrNASIdentifier, Value: []byte("vpngw-test")})
		}
		res, err := s.Send(context.Background(), req.EAP)
		out := ike.RelayResult{EAP: res.EAP, MSK: res.MSK, Session: s, Err: err}
		r.drv.Do(func(e *ike.Engine) { e.RelayDone(time.Now(), req.ID, out) })
	}()
}

// useRADIUS makes the template relay EAP to srv (no local users, no
// client roots).
func (l *raLab) useRADIUS(srv *radiustest.Server) {
	c, err := radius.NewClient([]radius.Server{{Addr: srv.Addr, Secret: []byte(srv.Secret)}}, nil)
	if err != nil {
		l.t.Fatal(err)
	}
	ra := *l.tmpl.RemoteAccess
	ra.Users, ra.Clients, ra.Relay = nil, nil, &radiusRelay{c: c, drv: l.drv}
	l.tmpl.RemoteAccess = &ra
	l.setTemplate()
}

// TestInteropRemoteAccessRADIUS: the gateway knows no passwords; a real
// FreeRADIUS 3.2 does. EAP-MSCHAPv2 between a strongSwan client and
// FreeRADIUS is relayed through the gateway, whose IKE AUTH then uses the
// MSK FreeRADIUS sent in its Access-Accept. A wrong password is rejected
// by the server and the client told.
func TestInteropRemoteAccessRADIUS(t *testing.T) {
	srv := radiustest.Start(t, map[string]string{"alice": "correct horse"})
	l := newRALab(t, "172.16.203.0/29", nil)
	l.useRADIUS(srv)

	alice := l.client("a", netip.MustParseAddr("192.0.2.31"), "alice", "correct horse")
	if err := alice.Initiate("p2s", 15*time.Second); err != nil {
		t.Fatalf("alice: %v", err)
	}
	a, ok := l.clients()["alice"]
	if !ok || !netip.MustParsePrefix("172.16.203.0/29").Contains(a.Client.VirtualIP) {
		t.Fatalf("clients: %+v", l.clients())
	}
	if !strings.Contains(alice.Log(), "EAP method EAP_MSCHAPV2 succeeded, MSK established") ||
		!strings.Contains(alice.Log(), "authentication of '"+raFQDN+"' with EAP successful") {
		t.Fatal("alice's charon did not verify the gateway's MSK AUTH")
	}
	if !strings.Contains(srv.Log(), "Sent Access-Accept") {
		t.Fatal("FreeRADIUS did not accept alice")
	}

	mallory := l.client("m", netip.MustParseAddr("192.0.2.32"), "alice", "guess")
	if err := mallory.Initiate("p2s", 10*time.Second); err == nil {
		t.Fatal("a wrong password connected through RADIUS")
	}
	if st := l.template(); !strings.Contains(st.LastError, "RADIUS") || !strings.Contains(st.LastError, "rejected") {
		t.Fatalf("template's last error %q", st.LastError)
	}
	if n, _ := l.pool.Stats(); n != 1 {
		t.Fatalf("%d addresses leased, want 1 (alice)", n)
	}
}

// TestInteropRemoteAccessEAPTLSRADIUS: EAP-TLS between a strongSwan
// client and a real FreeRADIUS 3.2 (its eap/tls module with the client
// root), relayed by the gateway: the many round trips and the TLS flights
// over 253 bytes cross the relay, FreeRADIUS's MS-MPPE keys give the MSK
// the client's AUTH proves, and the client gets an address. The client
// checks FreeRADIUS's certificate (aaa_id). A certificate from another
// root is rejected by the server. With client roots as well (Certificate
// and Radius), EAP-TLS clients are served by the gateway and a client
// that Naks EAP-TLS for EAP-MSCHAPv2 is relayed to RADIUS.
func TestInteropRemoteAccessEAPTLSRADIUS(t *testing.T) {
	l := newRALab(t, "172.16.205.0/29", nil)
	tlsFiles, aaaCA := radiustest.NewTLS(t, "radius.contoso.test", l.ca.Cert)
	srv := radiustest.StartWith(t, radiustest.Options{TLS: tlsFiles, Users: map[string]string{"hank": "Hank-pw-7"}})
	l.useRADIUS(srv)

	frank, err := l.ca.IssueClient("frank@contoso.com", pki.ECDSAP256, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f := l.certClientWith("f", netip.MustParseAddr("192.0.2.41"), frank, certOpts{auth: "eap-tls", aaaID: "radius.contoso.test", aaaCA: aaaCA.Cert})
	if err := f.Initiate("p2s", 15*time.Second); err != nil {
		t.Fatalf("frank: %v\n%s", err, f.Log())
	}
	cs := l.clients()
	if len(cs) != 1 {
		t.Fatalf("clients: %+v", cs)
	}
	for user, c := range cs {
		// The client's IKE identity is its certificate's subject DN,
		// sent to RADIUS (and shown) as text.
		if user != "CN=frank@contoso.com" || !netip.MustParsePrefix("172.16.205.0/29").Contains(c.Client.VirtualIP) {
			t.Fatalf("client %q: %+v", user, c)
		}
	}
	log := f.Log()
	for _, want := range []string{"EAP method EAP_TLS succeeded, MSK established", "authentication of '" + raFQDN + "' with EAP successful"} {
		if !strings.Contains(log, want) {
			t.Errorf("frank's charon log lacks %q", want)
		}
	}
	if !strings.Contains(srv.Log(), "Sent Access-Accept") {
		t.Fatal("FreeRADIUS did not accept frank")
	}
	// aaa_id = %any (what a generated profile says when it knows only the
	// RADIUS server's root): any server certificate from that root.
	grace, _ := l.ca.IssueClient("grace@contoso.com", pki.ECDSAP256, 24*time.Hour)
	g := l.certClientWith("g", netip.MustParseAddr("192.0.2.43"), grace, certOpts{auth: "eap-tls", aaaID: "%any", aaaCA: aaaCA.Cert})
	if err := g.Initiate("p2s", 15*time.Second); err != nil {
		t.Fatalf("grace (aaa_id = %%any): %v\n%s", err, g.Log())
	}

	other, _ := pki.NewCA("Another root", pki.ECDSAP256)
	mallory, _ := other.IssueClient("mallory@evil.example", pki.ECDSAP256, 24*time.Hour)
	m := l.certClientWith("m", netip.MustParseAddr("192.0.2.42"), mallory, certOpts{auth: "eap-tls", aaaID: "radius.contoso.test", aaaCA: aaaCA.Cert})
	if err := m.Initiate("p2s", 10*time.Second); err == nil {
		t.Fatal("a certificate from another root connected through RADIUS")
	}
	if st := l.template(); !strings.Contains(st.LastError, "RADIUS") {
		t.Fatalf("template's last error %q", st.LastError)
	}

	// Certificate and Radius together (Azure's two types on one
	// gateway): EAP-TLS against the roots in the gateway first; a client
	// that Naks it for EAP-MSCHAPv2 is relayed to RADIUS.
	ra := *l.tmpl.RemoteAccess
	if ra.Clients, err = pki.NewVerifier([]string{pki.PublicCertData(l.ca.Cert)}, nil); err != nil {
		t.Fatal(err)
	}
	l.tmpl.RemoteAccess = &ra
	l.setTemplate()
	ivy, _ := l.ca.IssueClient("ivy@contoso.com", pki.ECDSAP256, 24*time.Hour)
	i := l.certClientWith("i", netip.MustParseAddr("192.0.2.44"), ivy, certOpts{auth: "eap-tls"})
	if err := i.Initiate("p2s", 15*time.Second); err != nil {
		t.Fatalf("ivy (local EAP-TLS beside RADIUS): %v\n%s", err, i.Log())
	}
	hank := l.client("h", netip.MustParseAddr("192.0.2.45"), "hank", "Hank-pw-7")
	if err := hank.Initiate("p2s", 15*time.Second); err != nil {
		t.Fatalf("hank (EAP-MSCHAPv2 to RADIUS after a Nak of EAP-TLS): %v\n%s", err, hank.Log())
	}
	if !strings.Contains(hank.Log(), "EAP method EAP_MSCHAPV2 succeeded") {
		t.Fatal("hank's charon did not use EAP-MSCHAPv2")
	}
	cs = l.clients()
	if _, ok := cs["ivy@contoso.com"]; !ok {
		t.Fatalf("clients: %+v", cs)
	}
	if _, ok := cs["hank"]; !ok {
		t.Fatalf("clients: %+v", cs)
	}
}

// TestInteropRemoteAccessEAPTLSVersions: a strongSwan client with TLS
// 1.3 enabled (charon.tls.version_max = 1.3) against the gateway's
// default (TLS 1.2 only) connects with TLS 1.2. With the gateway offering
// 1.3 as well, strongSwan 5.9.8 negotiates TLS 1.3 and cannot finish: its
// eap-tls plugin has no TLS application for RFC 9190's protected success
// indication (added in 5.9.10) and charon crashes in libtls on that
// record (its MSK would not match either: 5.9.8 exports "client EAP
// encryption" with an empty context). So 1.2 stays the default; this test
// keeps that finding true (a newer strongSwan must connect instead).
func TestInteropRemoteAccessEAPTLSVersions(t *testing.T) {
	l := newRALab(t, "172.16.206.0/29", nil)
	dave, erin, _ := l.certificates()
	sessions := func() (full, resumed uint64) {
		l.drv.Do(func(e *ike.Engine) { full, resumed = e.EAPTLSSessions() })
		return
	}
	d := l.certClientWith("d", netip.MustParseAddr("192.0.2.51"), dave, certOpts{auth: "eap-tls", tlsMax: "1.3"})
	if err := d.Initiate("p2s", 15*time.Second); err != nil {
		t.Fatalf("dave with TLS 1.3 enabled, gateway default: %v", err)
	}
	if !strings.Contains(d.Log(), "negotiated TLS 1.2") || !strings.Contains(d.Log(), "EAP method EAP_TLS succeeded, MSK established") {
		t.Fatal("dave's charon log lacks TLS 1.2 or the MSK")
	}
	if c, ok := l.clients()["dave@contoso.com"]; !ok || c.Client == nil {
		t.Fatalf("dave not connected: %+v", l.clients())
	}
	if full, resumed := sessions(); full != 1 || resumed != 0 {
		t.Fatalf("EAP-TLS sessions: %d full, %d resumed", full, resumed)
	}

	ra := *l.tmpl.RemoteAccess
	ra.TLSMaxVersion = tls.VersionTLS13
	l.tmpl.RemoteAccess = &ra
	l.setTemplate()
	e := l.certClientWith("e", netip.MustParseAddr("192.0.2.52"), erin, certOpts{auth: "eap-tls", tlsMax: "1.3"})
	err := e.Initiate("p2s", 10*time.Second)
	log := e.Log()
	if !strings.Contains(log, "negotiated TLS 1.3") {
		t.Fatalf("erin did not negotiate TLS 1.3 (%v)", err)
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "TLS") || strings.Contains(line, "libtls") || strings.Contains(line, "received") {
			t.Log(strings.TrimSpace(line))
		}
	}
	if strings.Contains(log, "strongSwan 5.9.8") {
		// charon dies on the indication's record ("thread N received
		// 11", a SIGSEGV in libtls); vici's initiate may report no error.
		if _, ok := l.clients()["erin@contoso.com"]; ok {
			t.Fatal("strongSwan 5.9.8 connected with EAP-TLS 1.3: update docs/p2s.md and the default")
		}
		if !strings.Contains(log, "received 11") || !strings.Contains(log, "libtls") {
			t.Fatalf("strongSwan 5.9.8 failed EAP-TLS 1.3 otherwise than by its libtls crash (%v)", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("erin with TLS 1.3: %v", err)
	}
}
