package eaptls

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/p2s/eap"
	"github.com/vpngw/vpngw/internal/p2s/pki"
)

// testPKI is a gateway CA with a server certificate, and a client root
// with a client certificate.
type testPKI struct {
	server   tls.Certificate
	serverCA *x509.CertPool
	client   tls.Certificate
	clientCN string
	verifier *pki.Verifier
	foreign  tls.Certificate // a client certificate from another root
}

func newTestPKI(t *testing.T, kt pki.KeyType) *testPKI {
	t.Helper()
	gw, err := pki.NewCA("gateway root", kt)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gw.IssueServer("gw.example.net", kt, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	root, err := pki.NewCA("client root", kt)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := root.IssueClient("alice", kt, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("other root", kt)
	if err != nil {
		t.Fatal(err)
	}
	fo, err := other.IssueClient("mallory", kt, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	v, err := pki.NewVerifier([]string{pki.PublicCertData(root.Cert)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(gw.Cert)
	return &testPKI{
		server:   tls.Certificate{Certificate: [][]byte{srv.Cert.Raw}, PrivateKey: srv.Key},
		serverCA: pool,
		client:   tls.Certificate{Certificate: [][]byte{cl.Cert.Raw}, PrivateKey: cl.Key},
		clientCN: "alice",
		verifier: v,
		foreign:  tls.Certificate{Certificate: [][]byte{fo.Cert.Raw}, PrivateKey: fo.Key},
	}
}

// run drives a whole exchange and returns the server's result, its error
// and the number of round trips.
func run(t *testing.T, s *Server, start eap.Packet, p *Peer) (Result, error, int) {
	t.Helper()
	req := start
	for rounds := 1; rounds < 200; rounds++ {
		resp, err := p.Handle(req)
		if err != nil {
			t.Fatalf("peer: %v", err)
		}
		next, done, res, err := s.Handle(resp)
		if done {
			if err == nil && next.Code != eap.CodeSuccess || err != nil && next.Code != eap.CodeFailure {
				t.Fatalf("done with %v, err %v", next.Code, err)
			}
			return res, err, rounds
		}
		if err != nil {
			t.Fatalf("server error without done: %v", err)
		}
		if next.Identifier != req.Identifier+1 {
			t.Fatalf("identifier %d after %d", next.Identifier, req.Identifier)
		}
		req = next
	}
	t.Fatal("no end")
	return Result{}, nil, 0
}

func TestExchange(t *testing.T) {
	for _, tc := range []struct {
		name           string
		kt             pki.KeyType
		suite          uint16
		serverFragment int
		peerFragment   int
	}{
		{"ECDSA unfragmented", pki.ECDSAP256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 16000, 16000},
		{"ECDSA fragments both ways", pki.ECDSAP256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, 100, 77},
		{"RSA", pki.RSA2048, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, DefaultFragment, 1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newTestPKI(t, tc.kt)
			s, start, err := NewServer(Config{Certificate: k.server, Fragment: tc.serverFragment,
				Verify: func(c [][]byte) (*x509.Certificate, error) { return k.verifier.Verify(c, time.Now()) }}, 7)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			p := NewPeer(&tls.Config{RootCAs: k.serverCA, ServerName: "gw.example.net", Certificates: []tls.Certificate{k.client},
				MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tc.suite}}, tc.peerFragment)
			defer p.Close()
			res, err, rounds := run(t, s, start, p)
			if err != nil {
				t.Fatal(err)
			}
			if res.User != k.clientCN || len(res.Chain) != 1 || !bytes.Equal(res.Chain[0], k.client.Certificate[0]) {
				t.Errorf("user %q, chain of %d", res.User, len(res.Chain))
			}
			st := p.State()
			if st.CipherSuite != tc.suite {
				t.Errorf("suite %s", tls.CipherSuiteName(st.CipherSuite))
			}
			want, err := st.ExportKeyingMaterial("client EAP encryption", nil, 128)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(res.MSK, want[:64]) {
				t.Errorf("MSK differs from the client's")
			}
			// The key-log path (clients without the extended master
			// secret) computes the same.
			cr, master, err := fromKeyLog(s.keyLog.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New
			if strings.HasSuffix(tls.CipherSuiteName(st.CipherSuite), "SHA384") {
				h = sha512.New384
			}
			pr, sr := s.conn.randoms()
			if !bytes.Equal(pr, cr) {
				t.Errorf("the ClientHello's random is not the key log's")
			}
			if got := prf12(h, master, mskLabel, append(cr, sr...), 128); !bytes.Equal(got, want) {
				t.Errorf("PRF over the key log's master secret differs from ExportKeyingMaterial")
			}
			if tc.serverFragment < 200 && rounds < 10 {
				t.Errorf("only %d round trips with %d-byte fragments", rounds, tc.serverFragment)
			}
			t.Logf("%d round trips", rounds)
		})
	}
}

func TestRefused(t *testing.T) {
	k := newTestPKI(t, pki.ECDSAP256)
	for _, tc := range []struct {
		name string
		cert []tls.Certificate
		want string
	}{
		{"another root", []tls.Certificate{k.foreign}, "mallory"},
		{"no certificate", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, start, err := NewServer(Config{Certificate: k.server,
				Verify: func(c [][]byte) (*x509.Certificate, error) { return k.verifier.Verify(c, time.Now()) }}, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			p := NewPeer(&tls.Config{RootCAs: k.serverCA, ServerName: "gw.example.net", Certificates: tc.cert, MaxVersion: tls.VersionTLS12}, 1024)
			defer p.Close()
			res, err, _ := run(t, s, start, p)
			if !errors.Is(err, ErrAuthFailed) || res.MSK != nil || res.User != tc.want {
				t.Fatalf("err %v, user %q, MSK %x", err, res.User, res.MSK)
			}
		})
	}
}

func TestServerRefusesOtherTypesAndStaleIdentifiers(t *testing.T) {
	k := newTestPKI(t, pki.ECDSAP256)
	s, start, err := NewServer(Config{Certificate: k.server,
		Verify: func(c [][]byte) (*x509.Certificate, error) { return k.verifier.Verify(c, time.Now()) }}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, done, _, err := s.Handle(eap.Packet{Code: eap.CodeResponse, Identifier: start.Identifier + 5, Type: eap.TypeTLS, Data: []byte{0}}); done || !errors.Is(err, ErrState) {
		t.Fatalf("stale identifier: done %v err %v", done, err)
	}
	next, done, _, err := s.Handle(eap.Packet{Code: eap.CodeResponse, Identifier: start.Identifier, Type: eap.TypeNak, Data: []byte{26}})
	if !done || next.Code != eap.CodeFailure || !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("Nak: %v %v %v", next.Code, done, err)
	}
}

func TestReassembler(t *testing.T) {
	for _, tc := range []struct {
		name  string
		max   int
		frags []Message
		want  string // the message, or the error's text
		err   error
	}{
		{"one", 10, []Message{{Data: []byte("abc")}}, "abc", nil},
		{"with L", 10, []Message{{Flags: FlagLength, Length: 3, Data: []byte("abc")}}, "abc", nil},
		{"three", 10, []Message{{Flags: FlagLength | FlagMore, Length: 6, Data: []byte("ab")}, {Flags: FlagMore, Data: []byte("cd")}, {Data: []byte("ef")}}, "abcdef", nil},
		{"no L", 10, []Message{{Flags: FlagMore, Data: []byte("ab")}, {Data: []byte("cd")}}, "abcd", nil},
		{"L over limit", 10, []Message{{Flags: FlagLength | FlagMore, Length: 11, Data: []byte("ab")}}, "", ErrTooLarge},
		{"bytes over limit", 4, []Message{{Flags: FlagMore, Data: []byte("abc")}, {Data: []byte("de")}}, "", ErrTooLarge},
		{"short of L", 10, []Message{{Flags: FlagLength | FlagMore, Length: 6, Data: []byte("ab")}, {Data: []byte("cd")}}, "", ErrMalformed},
		{"beyond L", 10, []Message{{Flags: FlagLength | FlagMore, Length: 3, Data: []byte("ab")}, {Data: []byte("cd")}}, "", ErrMalformed},
		{"L changes", 10, []Message{{Flags: FlagLength | FlagMore, Length: 6, Data: []byte("ab")}, {Flags: FlagLength, Length: 4, Data: []byte("cd")}}, "", ErrMalformed},
		{"empty M", 10, []Message{{Flags: FlagMore}}, "", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReassembler(tc.max)
			var got []byte
			var err error
			for i, f := range tc.frags {
				got, err = r.Add(f)
				if err != nil {
					break
				}
				if (got == nil) != (i < len(tc.frags)-1) {
					t.Fatalf("fragment %d: message %q", i, got)
				}
			}
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestFragmenterAndParse(t *testing.T) {
	msg := bytes.Repeat([]byte("0123456789"), 25)
	f := NewFragmenter(msg, 100)
	r := NewReassembler(1000)
	var n int
	for {
		m, last := f.Next()
		n++
		b := m.Append(nil)
		pm, err := ParseMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 && (pm.Flags != FlagLength|FlagMore || pm.Length != 250) {
			t.Fatalf("first fragment flags %#x length %d", pm.Flags, pm.Length)
		}
		got, err := r.Add(pm)
		if err != nil {
			t.Fatal(err)
		}
		if last {
			if !bytes.Equal(got, msg) || n != 3 || !f.Done() {
				t.Fatalf("%d fragments, got %d bytes", n, len(got))
			}
			break
		}
	}
	if _, err := ParseMessage([]byte{FlagLength, 0, 0}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short L: %v", err)
	}
	if _, err := ParseMessage(nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty: %v", err)
	}
}

// TestVersionsAndResumption: each version, full handshake then a
// resumption from the ticket the first exchange left in the client's
// cache; the MSK is what the client derives (RFC 5216 for 1.2, RFC 9190
// for 1.3), the resumed exchange keeps the user, and the
// gateway's counters say so. A certificate revoked after the first
// exchange cannot resume.
func TestVersionsAndResumption(t *testing.T) {
	for _, tc := range []struct {
		name     string
		max      uint16 // the client's
		fragment int
	}{
		{"TLS 1.2", tls.VersionTLS12, DefaultFragment},
		{"TLS 1.3", tls.VersionTLS13, DefaultFragment},
		{"TLS 1.3 fragmented", tls.VersionTLS13, 90},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newTestPKI(t, pki.ECDSAP256)
			tickets := NewTicketKeys(nil, 0, 0)
			revoked := false
			cfg := Config{Certificate: k.server, Tickets: tickets, Fragment: tc.fragment, MaxVersion: tls.VersionTLS13,
				Verify: func(c [][]byte) (*x509.Certificate, error) {
					if revoked {
						return nil, errors.New("revoked")
					}
					return k.verifier.Verify(c, time.Now())
				}}
			cache := tls.NewLRUClientSessionCache(4)
			connect := func() (Result, error, int, *Peer) {
				s, start, err := NewServer(cfg, 3)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				p := NewPeer(&tls.Config{RootCAs: k.serverCA, ServerName: "gw.example.net", Certificates: []tls.Certificate{k.client},
					MaxVersion: tc.max, ClientSessionCache: cache}, tc.fragment)
				t.Cleanup(p.Close)
				res, err, rounds := run(t, s, start, p)
				return res, err, rounds, p
			}
			check := func(res Result, p *Peer, resumed bool) {
				t.Helper()
				if res.Version != tc.max || res.Resumed != resumed || res.User != k.clientCN || len(res.Chain) != 1 {
					t.Fatalf("version %s resumed %v user %q chain %d", tls.VersionName(res.Version), res.Resumed, res.User, len(res.Chain))
				}
				msk, err := p.MSK()
				if err != nil || len(res.MSK) != MSKLen || !bytes.Equal(msk, res.MSK) {
					t.Fatalf("MSK differs from the client's (%v)", err)
				}
				if len(res.EMSK) != MSKLen || len(res.SessionID) != 65 || res.SessionID[0] != 13 {
					t.Fatalf("EMSK %d bytes, Session-Id %x", len(res.EMSK), res.SessionID)
				}
				st := p.State()
				label, ctx := "client EAP encryption", []byte(nil)
				if tc.max == tls.VersionTLS13 {
					label, ctx = "EXPORTER_EAP_TLS_Key_Material", []byte{13}
				}
				want, _ := st.ExportKeyingMaterial(label, ctx, 128)
				if !bytes.Equal(want, append(append([]byte(nil), res.MSK...), res.EMSK...)) {
					t.Fatalf("Key_Material is not %s's", label)
				}
			}
			res, err, full, p := connect()
			if err != nil {
				t.Fatal(err)
			}
			check(res, p, false)
			res, err, short, p := connect()
			if err != nil {
				t.Fatal(err)
			}
			check(res, p, true)
			if f, r := tickets.Counts(); f != 1 || r != 1 {
				t.Fatalf("counts: %d full, %d resumed", f, r)
			}
			t.Logf("full handshake %d round trips, resumption %d", full, short)

			revoked = true
			if res, err, _, _ = connect(); !errors.Is(err, ErrAuthFailed) || res.MSK != nil {
				t.Fatalf("revoked certificate: err %v", err)
			}
			if f, r := tickets.Counts(); f != 1 || r != 1 {
				t.Fatalf("counts after the refusal: %d full, %d resumed", f, r)
			}
		})
	}
}

// TestNoTicketsNoResumption: without ticket keys the server issues no
// tickets and every exchange is a full handshake.
func TestNoTicketsNoResumption(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		k := newTestPKI(t, pki.ECDSAP256)
		cache := tls.NewLRUClientSessionCache(4)
		for i := range 2 {
			s, start, err := NewServer(Config{Certificate: k.server, MaxVersion: tls.VersionTLS13,
				Verify: func(c [][]byte) (*x509.Certificate, error) { return k.verifier.Verify(c, time.Now()) }}, 1)
			if err != nil {
				t.Fatal(err)
			}
			p := NewPeer(&tls.Config{RootCAs: k.serverCA, ServerName: "gw.example.net", Certificates: []tls.Certificate{k.client},
				MaxVersion: v, ClientSessionCache: cache}, 1024)
			res, err, _ := run(t, s, start, p)
			s.Close()
			p.Close()
			if err != nil || res.Resumed || res.Version != v {
				t.Fatalf("%s exchange %d: err %v resumed %v version %s", tls.VersionName(v), i, err, res.Resumed, tls.VersionName(res.Version))
			}
		}
	}
}

// TestVersionBounds: the server's versions are configurable and checked
// (1.2 only by default); a client below the minimum is refused.
func TestVersionBounds(t *testing.T) {
	k := newTestPKI(t, pki.ECDSAP256)
	verify := func(c [][]byte) (*x509.Certificate, error) { return k.verifier.Verify(c, time.Now()) }
	for _, tc := range []struct {
		name     string
		min, max uint16
		err      string
	}{
		{"1.1", tls.VersionTLS11, 0, "only 1.2"},
		{"min over max", tls.VersionTLS13, tls.VersionTLS12, "over the maximum"},
		{"1.0 max", 0, tls.VersionTLS10, "only 1.2"},
	} {
		if _, _, err := NewServer(Config{Certificate: k.server, Verify: verify, MinVersion: tc.min, MaxVersion: tc.max}, 1); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// A server capped at 1.2 serves a 1.3-capable client at 1.2; a
	// server requiring 1.3 refuses a 1.2 client.
	for _, tc := range []struct {
		min, max, client, want uint16
	}{
		{0, tls.VersionTLS12, tls.VersionTLS13, tls.VersionTLS12},
		{0, 0, tls.VersionTLS13, tls.VersionTLS12}, // the default
		{0, tls.VersionTLS13, tls.VersionTLS13, tls.VersionTLS13},
		{tls.VersionTLS13, 0, tls.VersionTLS12, 0},
	} {
		s, start, err := NewServer(Config{Certificate: k.server, Verify: verify, MinVersion: tc.min, MaxVersion: tc.max}, 1)
		if err != nil {
			t.Fatal(err)
		}
		p := NewPeer(&tls.Config{RootCAs: k.serverCA, ServerName: "gw.example.net", Certificates: []tls.Certificate{k.client}, MaxVersion: tc.client}, 1024)
		res, err, _ := run(t, s, start, p)
		s.Close()
		p.Close()
		if tc.want == 0 {
			if !errors.Is(err, ErrAuthFailed) {
				t.Errorf("1.2 client at a 1.3-only server: %v", err)
			}
			continue
		}
		if err != nil || res.Version != tc.want {
			t.Errorf("client max %s: %v, version %s", tls.VersionName(tc.client), err, tls.VersionName(res.Version))
		}
	}
}

// TestTicketKeysRotate: a new key every period, at most keep of them,
// the newest first.
func TestTicketKeysRotate(t *testing.T) {
	k := NewTicketKeys(nil, time.Minute, 2)
	t0 := time.Unix(1e9, 0)
	a, err := k.current(t0)
	if err != nil || len(a) != 1 {
		t.Fatal(a, err)
	}
	if b, _ := k.current(t0.Add(59 * time.Second)); len(b) != 1 || b[0] != a[0] {
		t.Fatal("rotated within the period")
	}
	b, _ := k.current(t0.Add(time.Minute))
	if len(b) != 2 || b[1] != a[0] || b[0] == a[0] {
		t.Fatal("no rotation after a period")
	}
	c, _ := k.current(t0.Add(2 * time.Minute))
	if len(c) != 2 || c[1] != b[0] {
		t.Fatal("kept more than 2 keys")
	}
}
