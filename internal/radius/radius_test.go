package radius

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"errors"
	"net/netip"
	"testing"
	"time"

	"crypto/tls"
	"crypto/x509"
	"github.com/vpngw/vpngw/internal/p2s/eap"
	"github.com/vpngw/vpngw/internal/p2s/eaptls"
	"github.com/vpngw/vpngw/internal/p2s/mschapv2"
	"github.com/vpngw/vpngw/internal/p2s/pki"
	"github.com/vpngw/vpngw/internal/tstest/radiustest"
)

func TestEncodeParse(t *testing.T) {
	p := &Packet{Code: AccessRequest, Identifier: 9}
	copy(p.Authenticator[:], "0123456789abcdef")
	p.Add(AttrUserName, []byte("alice"))
	p.AddEAP(bytes.Repeat([]byte{7}, 600)) // three EAP-Message attributes
	b, err := p.EncodeRequest([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	q, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	msg, ok := q.EAP()
	if !ok || len(msg) != 600 || len(q.Attrs) != 5 {
		t.Fatalf("attrs %d, EAP %d bytes", len(q.Attrs), len(msg))
	}
	mac, off := messageAuthenticator(b, []byte("s3cret"), nil)
	if off < 0 || !bytes.Equal(mac, b[off:off+16]) {
		t.Fatal("Message-Authenticator does not verify")
	}
	for _, bad := range [][]byte{b[:19], append(b[:20:20], 1), {1, 1, 0, 19, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if _, err := Parse(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%x parsed: %v", bad, err)
		}
	}
	if _, err := (&Packet{Attrs: []Attr{{Type: 1, Value: make([]byte, 254)}}}).Encode(); err == nil {
		t.Error("a 254-byte attribute value encoded")
	}
}

// respond builds a server response to req the way RFC 2865 and 3579 say:
// Message-Authenticator over the packet with the Request Authenticator,
// then the Response Authenticator.
func respond(t *testing.T, code Code, req *Packet, secret []byte, attrs ...Attr) []byte {
	t.Helper()
	p := &Packet{Code: code, Identifier: req.Identifier, Authenticator: req.Authenticator, Attrs: append(attrs, Attr{Type: AttrMessageAuthenticator, Value: make([]byte, 16)})}
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	mac, off := messageAuthenticator(b, secret, &req.Authenticator)
	copy(b[off:], mac)
	h := md5.New()
	h.Write(b[:4])
	h.Write(req.Authenticator[:])
	h.Write(b[20:])
	h.Write(secret)
	copy(b[4:20], h.Sum(nil))
	return b
}

func TestVerifyResponse(t *testing.T) {
	req := &Packet{Code: AccessRequest, Identifier: 3}
	copy(req.Authenticator[:], "requestauthentic")
	good := respond(t, AccessChallenge, req, []byte("s3cret"), Attr{Type: AttrEAPMessage, Value: []byte{1, 2, 0, 5, 26}})
	if err := VerifyResponse(good, []byte("s3cret"), req.Authenticator); err != nil {
		t.Fatal(err)
	}
	if err := VerifyResponse(good, []byte("wrong"), req.Authenticator); !errors.Is(err, ErrAuthenticator) {
		t.Fatalf("wrong secret: %v", err)
	}
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)-20] ^= 1 // inside the EAP-Message
	if err := VerifyResponse(tampered, []byte("s3cret"), req.Authenticator); !errors.Is(err, ErrAuthenticator) {
		t.Fatalf("tampered: %v", err)
	}
}

func TestMPPEKeyRoundTrip(t *testing.T) {
	// Encrypt as RFC 2548 §2.4.2 does, then decrypt.
	secret, key := []byte("s3cret"), bytes.Repeat([]byte{0xab}, 32)
	var reqAuth [16]byte
	copy(reqAuth[:], "requestauthentic")
	salt := []byte{0x80, 0x01}
	plain := append([]byte{byte(len(key))}, key...)
	for len(plain)%16 != 0 {
		plain = append(plain, 0)
	}
	c := make([]byte, len(plain))
	prev := append(append([]byte(nil), reqAuth[:]...), salt...)
	for i := 0; i < len(plain); i += 16 {
		h := md5.New()
		h.Write(secret)
		h.Write(prev)
		b := h.Sum(nil)
		for j := range 16 {
			c[i+j] = plain[i+j] ^ b[j]
		}
		prev = c[i : i+16]
	}
	got, err := DecryptMPPEKey(append(salt, c...), secret, reqAuth)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("%x %v", got, err)
	}
	if _, err := DecryptMPPEKey([]byte{0x80, 1, 2}, secret, reqAuth); err == nil {
		t.Fatal("a short key decrypted")
	}
}

func FuzzParse(f *testing.F) {
	req := &Packet{Code: AccessRequest}
	req.Add(AttrUserName, []byte("alice"))
	req.AddEAP([]byte{2, 0, 0, 10, 1, 'a', 'l', 'i', 'c', 'e'})
	b, _ := req.EncodeRequest([]byte("x"))
	f.Add(b)
	f.Add([]byte{2, 1, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		_ = VerifyResponse(b, []byte("x"), [16]byte{})
		if err != nil {
			return
		}
		p.EAP()
		p.Vendor(VendorMicrosoft, MSMPPERecvKey)
		if v, ok := p.Vendor(VendorMicrosoft, MSMPPESendKey); ok {
			_, _ = DecryptMPPEKey(v, []byte("x"), [16]byte{})
		}
		if _, err := p.Encode(); err != nil {
			t.Fatalf("a parsed packet does not encode: %v", err)
		}
	})
}

// relay runs EAP-MSCHAPv2 between a client and the RADIUS server through
// an EAPSession, as the gateway will.
func relay(t *testing.T, c *Client, user, password string) (Result, *mschapv2.Peer, error) {
	t.Helper()
	s := c.NewEAPSession(user, Attr{Type: AttrNASIdentifier, Value: []byte("vpngw-test")})
	peer := mschapv2.NewPeer(rand.Reader, user, password)
	msg, _ := eap.Packet{Code: eap.CodeResponse, Identifier: 0, Type: eap.TypeIdentity, Data: []byte(user)}.Marshal()
	ctx := context.Background()
	for range 5 {
		res, err := s.Send(ctx, msg)
		if err != nil || res.Code == AccessAccept {
			return res, peer, err
		}
		req, err := eap.Parse(res.EAP)
		if err != nil {
			t.Fatalf("server's EAP: %v", err)
		}
		resp, err := peer.Handle(req)
		if err != nil {
			return res, peer, err
		}
		if msg, err = resp.Marshal(); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("no Access-Accept after 5 round trips")
	return Result{}, nil, nil
}

// TestEAPMSCHAPv2ThroughFreeRADIUS: a real FreeRADIUS 3.2 authenticates
// EAP-MSCHAPv2 relayed through EAPSession; the MSK from its MS-MPPE keys
// is the one the client derived; a wrong password is rejected; a wrong
// secret gets no answer; a dead server is skipped for the next by score.
func TestEAPMSCHAPv2ThroughFreeRADIUS(t *testing.T) {
	srv := radiustest.Start(t, map[string]string{"alice": "correct horse"})
	c, err := NewClient([]Server{{Addr: srv.Addr, Secret: []byte(srv.Secret)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, peer, err := relay(t, c, "alice", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != AccessAccept || !bytes.Equal(res.MSK, peer.MSK()[:len(res.MSK)]) || len(res.MSK) < 32 {
		t.Fatalf("Accept %v, MSK %x, client's %x", res.Code, res.MSK, peer.MSK())
	}
	if m, err := eap.Parse(res.EAP); err != nil || m.Code != eap.CodeSuccess {
		t.Fatalf("EAP in the Accept: %+v %v", m, err)
	}

	t.Run("wrong password", func(t *testing.T) {
		_, _, err := relay(t, c, "alice", "wrong")
		if !errors.Is(err, ErrRejected) && !errors.Is(err, mschapv2.ErrAuthFailed) {
			t.Fatalf("wrong password: %v", err)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		c, _ := NewClient([]Server{{Addr: srv.Addr, Secret: []byte("not-the-secret")}}, nil)
		c.Timeout, c.Retransmit, c.Tries = 3*time.Second, 300*time.Millisecond, 2
		if _, _, err := relay(t, c, "alice", "correct horse"); !errors.Is(err, ErrNoServer) {
			t.Fatalf("wrong secret: %v", err)
		}
	})
	t.Run("failover by score", func(t *testing.T) {
		dead := netip.AddrPortFrom(srv.Addr.Addr(), srv.Addr.Port()+2) // nothing listens there
		c, _ := NewClient([]Server{
			{Addr: srv.Addr, Secret: []byte(srv.Secret), Score: 1},
			{Addr: dead, Secret: []byte(srv.Secret), Score: 10},
		}, nil)
		c.Retransmit, c.Tries = 300*time.Millisecond, 2
		start := time.Now()
		res, _, err := relay(t, c, "alice", "correct horse")
		if err != nil || res.Code != AccessAccept {
			t.Fatalf("with a dead first server: %v %v", res.Code, err)
		}
		t.Logf("authenticated through the second server in %v", time.Since(start).Round(time.Millisecond))
	})
}

// tlsRelay runs EAP-TLS between peer and the RADIUS server through an
// EAPSession, as the gateway relays it, and returns the largest EAP
// message that crossed (either way) and the round trips.
func tlsRelay(t *testing.T, c *Client, user string, peer *eaptls.Peer) (res Result, largest, rounds int, err error) {
	t.Helper()
	s := c.NewEAPSession(user, Attr{Type: AttrNASIdentifier, Value: []byte("vpngw-test")})
	msg, _ := eap.Packet{Code: eap.CodeResponse, Identifier: 0, Type: eap.TypeIdentity, Data: []byte(user)}.Marshal()
	ctx := context.Background()
	for rounds = 1; rounds <= 40; rounds++ {
		largest = max(largest, len(msg))
		res, err = s.Send(ctx, msg)
		if err != nil || res.Code == AccessAccept {
			return res, largest, rounds, err
		}
		largest = max(largest, len(res.EAP))
		req, err := eap.Parse(res.EAP)
		if err != nil {
			t.Fatalf("server's EAP: %v", err)
		}
		resp, err := peer.Handle(req)
		if err != nil {
			return res, largest, rounds, err
		}
		if msg, err = resp.Marshal(); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("no Access-Accept after 40 round trips")
	return
}

// startTLS runs FreeRADIUS with EAP-TLS (server name
// radius.example.test, tls_max_version maxVersion, "" for 1.2) for
// clients of clientCA, and returns a client for it and the roots its
// certificate chains to.
func startTLS(t *testing.T, clientCA *pki.CA, maxVersion string) (*Client, *x509.CertPool, *radiustest.Server) {
	t.Helper()
	tlsFiles, srvCA := radiustest.NewTLS(t, "radius.example.test", clientCA.Cert)
	tlsFiles.MaxVersion = maxVersion
	srv := radiustest.StartWith(t, radiustest.Options{TLS: tlsFiles})
	c, err := NewClient([]Server{{Addr: srv.Addr, Secret: []byte(srv.Secret)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(srvCA.Cert)
	return c, roots, srv
}

// TestEAPTLSThroughFreeRADIUS: a real FreeRADIUS 3.2 with its eap/tls
// module authenticates a client certificate over EAP-TLS relayed through
// EAPSession: many round trips, EAP messages far over one attribute's 253
// bytes (split into several EAP-Message attributes and joined again),
// the State carried; the MSK from the MS-MPPE keys equals the client's
// RFC 5216 MSK. A certificate from another root is rejected.
func TestEAPTLSThroughFreeRADIUS(t *testing.T) {
	clientCA, err := pki.NewCA("Contoso clients", pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := clientCA.IssueClient("alice@contoso.test", pki.ECDSAP256, time.Hour)
	other, _ := pki.NewCA("Another root", pki.ECDSAP256)
	mallory, _ := other.IssueClient("mallory@evil.example", pki.ECDSAP256, time.Hour)
	c, roots, _ := startTLS(t, clientCA, "")
	peerFor := func(cert *pki.Issued) *eaptls.Peer {
		p := eaptls.NewPeer(&tls.Config{RootCAs: roots, ServerName: "radius.example.test", MaxVersion: tls.VersionTLS12,
			Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Cert.Raw}, PrivateKey: cert.Key}}}, 1000)
		t.Cleanup(p.Close)
		return p
	}

	p := peerFor(alice)
	res, largest, rounds, err := tlsRelay(t, c, "alice@contoso.test", p)
	if err != nil || res.Code != AccessAccept {
		t.Fatalf("EAP-TLS: %v %v", res.Code, err)
	}
	msk, err := p.MSK()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.MSK) != eaptls.MSKLen || !bytes.Equal(res.MSK, msk) {
		t.Fatalf("MSK from the Access-Accept %x, the client's %x", res.MSK, msk)
	}
	if largest <= 253 || rounds < 4 {
		t.Fatalf("largest EAP message %d bytes, %d round trips: nothing exercised attribute splitting", largest, rounds)
	}
	t.Logf("EAP-TLS through FreeRADIUS: %d round trips, largest EAP message %d bytes, %s", rounds, largest, tls.CipherSuiteName(p.State().CipherSuite))

	t.Run("another root", func(t *testing.T) {
		res, _, _, err := tlsRelay(t, c, "mallory@evil.example", peerFor(mallory))
		if err == nil && res.Code == AccessAccept {
			t.Fatal("a certificate from another root was accepted")
		}
		t.Logf("refused: %v", err)
	})
}

// TestEAPTLS13ThroughFreeRADIUS: EAP-TLS with TLS 1.3 (RFC 9190) between
// eaptls.Peer and FreeRADIUS 3.2 (tls_max_version 1.3, OpenSSL): the
// Peer reads FreeRADIUS's protected success indication, and the MSK in
// the Access-Accept equals the Peer's, exported with
// EXPORTER_EAP_TLS_Key_Material and context 0x0D: an independent
// implementation checks the derivation and flow the gateway's own
// EAP-TLS 1.3 server (same package, same exporter) uses.
func TestEAPTLS13ThroughFreeRADIUS(t *testing.T) {
	clientCA, err := pki.NewCA("Contoso clients", pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := clientCA.IssueClient("alice@contoso.test", pki.ECDSAP256, time.Hour)
	c, roots, srv := startTLS(t, clientCA, "1.3")
	p := eaptls.NewPeer(&tls.Config{RootCAs: roots, ServerName: "radius.example.test", MaxVersion: tls.VersionTLS13,
		Certificates: []tls.Certificate{{Certificate: [][]byte{alice.Cert.Raw}, PrivateKey: alice.Key}}}, 1000)
	t.Cleanup(p.Close)
	res, _, rounds, err := tlsRelay(t, c, "alice@contoso.test", p)
	if err != nil || res.Code != AccessAccept {
		t.Fatalf("EAP-TLS 1.3: %v %v\n%s", res.Code, err, srv.Log())
	}
	if v := p.State().Version; v != tls.VersionTLS13 {
		t.Fatalf("negotiated %s", tls.VersionName(v))
	}
	msk, err := p.MSK()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.MSK) != eaptls.MSKLen || !bytes.Equal(res.MSK, msk) {
		t.Fatalf("MSK from the Access-Accept %x, the client's (RFC 9190) %x", res.MSK, msk)
	}
	t.Logf("EAP-TLS 1.3 through FreeRADIUS: %d round trips, %s", rounds, tls.CipherSuiteName(p.State().CipherSuite))
}
