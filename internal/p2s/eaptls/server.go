package eaptls

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/vpngw/vpngw/internal/p2s/eap"
)

// MSKLen is the length of the MSK (RFC 5216 §2.3: the first 64 bytes of
// the 128-byte Key_Material).
const MSKLen = 64

// mskLabel is RFC 5216 §2.3's PRF label (TLS 1.2).
const mskLabel = "client EAP encryption"

// TLS 1.3 exporter labels (RFC 9190 §2.3), with the EAP Type-Code (13) as
// the context.
const (
	keyMaterialLabel = "EXPORTER_EAP_TLS_Key_Material"
	methodIDLabel    = "EXPORTER_EAP_TLS_Method-Id"
)

// typeCode is EAP-TLS's Type-Code, the exporter context and the first
// octet of the Session-Id.
var typeCode = []byte{byte(eap.TypeTLS)}

// commitment is the TLS 1.3 server's protected success indication (RFC
// 9190 §2.5): one octet of application data after the handshake.
var commitment = []byte{0x00}

// HandshakeTimeout bounds one exchange's TLS goroutine: an exchange the
// caller abandons without Close still ends by then.
const HandshakeTimeout = 3 * time.Minute

// Config is what a Server needs.
type Config struct {
	// Certificate is the gateway's certificate chain and key, presented
	// as the TLS server certificate.
	Certificate tls.Certificate
	// Verify checks the client's certificate chain (end entity first,
	// DER) and returns the end entity certificate.
	Verify func(chain [][]byte) (*x509.Certificate, error)
	// Rand is the TLS randomness (nil: crypto/rand).
	Rand io.Reader
	// Fragment, MaxMessage and MaxRounds override the defaults (0: the
	// package defaults).
	Fragment, MaxMessage, MaxRounds int
	// MinVersion and MaxVersion bound the TLS versions offered
	// (tls.VersionTLS12 or tls.VersionTLS13; 0: DefaultMinVersion,
	// DefaultMaxVersion).
	MinVersion, MaxVersion uint16
	// Tickets, when set, are the gateway's session ticket keys: the
	// server issues tickets and resumes sessions from them. Nil: no
	// resumption.
	Tickets *TicketKeys
	// Now is the clock for ticket key rotation and ticket ages (nil:
	// time.Now).
	Now func() time.Time
}

// The TLS versions offered by default: 1.2 (RFC 5216) only. TLS 1.3
// (RFC 9190) is offered when MaxVersion says so; it is not the default
// because strongSwan 5.9.0 to 5.9.9 clients with TLS 1.3 enabled crash on
// RFC 9190's protected success indication and derive another MSK (a
// draft's), while with 1.2 they connect (see docs/p2s.md).
const (
	DefaultMinVersion = tls.VersionTLS12
	DefaultMaxVersion = tls.VersionTLS12
)

// Result is how a finished exchange ended.
type Result struct {
	// User is the client certificate's subject common name (or the
	// whole subject when it has no CN); empty before the certificate.
	User string
	// Chain is the client's certificate chain (DER, end entity first).
	Chain [][]byte
	// MSK and EMSK are set on success.
	MSK, EMSK []byte
	// SessionID is the EAP Session-Id (RFC 5216 §2.3 for TLS 1.2: 0x0D,
	// client and server random; RFC 9190 §2.3 for TLS 1.3: 0x0D and the
	// Method-Id exported from TLS), set on success.
	SessionID []byte
	// Version is the negotiated TLS version, Resumed whether the session
	// was resumed from a ticket (the client's certificate then comes from
	// the ticket and was checked again).
	Version uint16
	Resumed bool
}

// Server is the authenticator side of one EAP-TLS exchange. It is not
// safe for concurrent use.
type Server struct {
	cfg   Config
	eapID uint8
	state int
	round int
	in    *Reassembler
	out   *Fragmenter
	res   Result

	// The TLS goroutine and its pipe.
	conn      *pipeConn
	cancel    context.CancelFunc
	done      chan error // the handshake's result
	keyLog    bytes.Buffer
	tlsConn   *tls.Conn
	finished  bool  // the handshake ended
	finishErr error // and how
}

const (
	stStarted   = iota + 1 // Start sent
	stReceiving            // fragments of a client message arriving
	stSending              // our fragments going out
	stFinal                // our last flight sent after the handshake; waiting for the empty ack
	stDone
)

// NewServer starts an exchange: the returned packet is the EAP-TLS Start
// Request with EAP Identifier eapID.
func NewServer(cfg Config, eapID uint8) (*Server, eap.Packet, error) {
	if cfg.Verify == nil || len(cfg.Certificate.Certificate) == 0 || cfg.Certificate.PrivateKey == nil {
		return nil, eap.Packet{}, errors.New("eaptls: a server certificate, key and Verify are required")
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = DefaultMinVersion
	}
	if cfg.MaxVersion == 0 {
		cfg.MaxVersion = max(DefaultMaxVersion, cfg.MinVersion)
	}
	for _, v := range []uint16{cfg.MinVersion, cfg.MaxVersion} {
		if v != tls.VersionTLS12 && v != tls.VersionTLS13 {
			return nil, eap.Packet{}, fmt.Errorf("eaptls: TLS version %#x: only 1.2 (%#x) and 1.3 (%#x) are supported", v, tls.VersionTLS12, tls.VersionTLS13)
		}
	}
	if cfg.MinVersion > cfg.MaxVersion {
		return nil, eap.Packet{}, fmt.Errorf("eaptls: minimum TLS version %s over the maximum %s", tls.VersionName(cfg.MinVersion), tls.VersionName(cfg.MaxVersion))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Fragment <= 0 {
		cfg.Fragment = DefaultFragment
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = DefaultMaxMessage
	}
	if cfg.MaxRounds <= 0 {
		cfg.MaxRounds = DefaultMaxRounds
	}
	s := &Server{cfg: cfg, eapID: eapID, state: stStarted, in: NewReassembler(cfg.MaxMessage)}
	return s, s.request(Message{Flags: FlagStart}), nil
}

func (s *Server) request(m Message) eap.Packet {
	return eap.Packet{Code: eap.CodeRequest, Identifier: s.eapID, Type: eap.TypeTLS, Data: m.Append(nil)}
}

// next sends m as the next Request.
func (s *Server) next(m Message) (eap.Packet, bool, Result, error) {
	s.eapID++
	return s.request(m), false, s.res, nil
}

func (s *Server) fail(err error) (eap.Packet, bool, Result, error) {
	s.state = stDone
	s.Close()
	s.eapID++
	return eap.Packet{Code: eap.CodeFailure, Identifier: s.eapID}, true, s.res, err
}

// Handle processes the client's Response and returns the next packet to
// send. When the exchange is over, done is true and next is EAP-Success or
// EAP-Failure; on success res has the user, the chain and the MSK,
// otherwise err says why (wrapping ErrAuthFailed, ErrMalformed,
// ErrTooLarge or ErrState). A Response with the wrong Identifier (a
// retransmission) returns ErrState with done false: the caller ignores it.
func (s *Server) Handle(resp eap.Packet) (next eap.Packet, done bool, res Result, err error) {
	if s.state == stDone {
		return eap.Packet{}, true, s.res, fmt.Errorf("%w: the exchange is over", ErrState)
	}
	if resp.Code != eap.CodeResponse || resp.Identifier != s.eapID {
		return eap.Packet{}, false, s.res, fmt.Errorf("%w: %v with identifier %d, want a Response to %d", ErrState, resp.Code, resp.Identifier, s.eapID)
	}
	if resp.Type != eap.TypeTLS {
		return s.fail(fmt.Errorf("%w: client answered with EAP type %v, not TLS", ErrAuthFailed, resp.Type))
	}
	if s.round++; s.round > s.cfg.MaxRounds {
		return s.fail(fmt.Errorf("%w: over %d EAP-TLS round trips", ErrState, s.cfg.MaxRounds))
	}
	m, err := ParseMessage(resp.Data)
	if err != nil {
		return s.fail(err)
	}
	switch s.state {
	case stSending:
		if len(m.Data) != 0 || m.Flags&FlagMore != 0 {
			return s.fail(fmt.Errorf("%w: %d bytes of TLS data while the gateway's fragments go out", ErrState, len(m.Data)))
		}
		return s.sendNext()
	case stFinal:
		if len(m.Data) != 0 {
			return s.fail(fmt.Errorf("%w: %d bytes of TLS data after the handshake", ErrState, len(m.Data)))
		}
		return s.success()
	}
	// stStarted, stReceiving: TLS data from the client.
	msg, err := s.in.Add(m)
	if err != nil {
		return s.fail(err)
	}
	if msg == nil {
		s.state = stReceiving
		return s.next(Message{}) // acknowledge the fragment
	}
	out, err := s.feed(msg)
	if err != nil {
		// The alert crypto/tls wrote is not sent: EAP-Failure says it.
		return s.fail(err)
	}
	if len(out) == 0 {
		if s.finished {
			return s.success()
		}
		return s.fail(fmt.Errorf("%w: the TLS server had nothing to say to %d bytes", ErrState, len(msg)))
	}
	s.out = NewFragmenter(out, s.cfg.Fragment)
	return s.sendNext()
}

// sendNext sends the next fragment of our flight.
func (s *Server) sendNext() (eap.Packet, bool, Result, error) {
	m, last := s.out.Next()
	switch {
	case !last:
		s.state = stSending
	case s.finished:
		s.state = stFinal
	default:
		s.state = stStarted // the client's next flight
	}
	return s.next(m)
}

// success ends the exchange with EAP-Success and the MSK.
func (s *Server) success() (eap.Packet, bool, Result, error) {
	if s.finishErr != nil || !s.finished {
		return s.fail(fmt.Errorf("%w: the TLS handshake did not complete", ErrAuthFailed))
	}
	if err := s.keys(); err != nil {
		return s.fail(err)
	}
	if s.cfg.Tickets != nil {
		s.cfg.Tickets.count(s.res.Resumed)
	}
	s.state = stDone
	s.Close()
	s.eapID++
	return eap.Packet{Code: eap.CodeSuccess, Identifier: s.eapID}, true, s.res, nil
}

// Close stops the TLS goroutine, if it runs. Safe to call more than once.
func (s *Server) Close() {
	if s.cancel != nil {
		s.cancel()
	}
}

// start runs the TLS server goroutine.
func (s *Server) start() error {
	ctx, cancel := context.WithTimeout(context.Background(), HandshakeTimeout)
	s.cancel = cancel
	s.conn = newPipeConn(ctx)
	s.done = make(chan error, 1)
	tc := &tls.Config{
		Certificates: []tls.Certificate{s.cfg.Certificate},
		Rand:         s.cfg.Rand,
		Time:         s.cfg.Now,
		MinVersion:   s.cfg.MinVersion,
		MaxVersion:   s.cfg.MaxVersion,
		// Any certificate: Verify checks it against the gateway's roots
		// and revocations, in VerifyConnection, which (unlike
		// VerifyPeerCertificate) also runs for a resumed session, whose
		// chain comes from the ticket: a certificate revoked or expired
		// since cannot resume.
		ClientAuth:             tls.RequireAnyClientCert,
		SessionTicketsDisabled: s.cfg.Tickets == nil,
		KeyLogWriter:           &s.keyLog,
		VerifyConnection:       s.verify,
	}
	if s.cfg.Tickets != nil {
		keys, err := s.cfg.Tickets.current(s.cfg.Now())
		if err != nil {
			cancel()
			return err
		}
		tc.SetSessionTicketKeys(keys)
	}
	s.tlsConn = tls.Server(s.conn, tc)
	go func() {
		err := s.tlsConn.HandshakeContext(ctx)
		if err == nil && s.tlsConn.ConnectionState().Version >= tls.VersionTLS13 {
			// RFC 9190 §2.5: the server commits to not sending more
			// handshake messages with one octet of application data,
			// after its tickets, in the flight that answers the
			// client's Finished.
			_, err = s.tlsConn.Write(commitment)
		}
		s.done <- err
	}()
	return nil
}

// verify checks the client's certificate chain, on full handshakes and
// resumptions alike, and records the user.
func (s *Server) verify(st tls.ConnectionState) error {
	raw := make([][]byte, len(st.PeerCertificates))
	for i, c := range st.PeerCertificates {
		raw[i] = c.Raw
	}
	if len(raw) == 0 {
		return errors.New("eaptls: the client sent no certificate")
	}
	leaf, err := s.cfg.Verify(raw)
	if leaf != nil {
		s.res.User = leaf.Subject.CommonName
		if s.res.User == "" {
			s.res.User = leaf.Subject.String()
		}
	}
	if err != nil {
		return err
	}
	s.res.Chain = raw
	return nil
}

// feed gives the TLS server the client's bytes and returns what it wrote
// before it wanted more or ended.
func (s *Server) feed(b []byte) ([]byte, error) {
	if s.conn == nil {
		if err := s.start(); err != nil {
			return nil, err
		}
		s.wait() // its first Read
	}
	if s.finished {
		return nil, fmt.Errorf("%w: TLS data after the handshake", ErrState)
	}
	s.conn.push(b)
	s.wait()
	out := s.conn.take()
	if s.finishErr != nil {
		return out, fmt.Errorf("%w: %v", ErrAuthFailed, s.finishErr)
	}
	return out, nil
}

// wait lets the TLS goroutine run until it wants input or is done.
func (s *Server) wait() {
	select {
	case <-s.conn.want:
	case err := <-s.done:
		s.finished, s.finishErr = true, err
	}
}

// keys sets the result's version, MSK, EMSK and Session-Id.
func (s *Server) keys() error {
	st := s.tlsConn.ConnectionState()
	s.res.Version, s.res.Resumed = st.Version, st.DidResume
	if st.Version >= tls.VersionTLS13 {
		// RFC 9190 §2.3.
		k, err := st.ExportKeyingMaterial(keyMaterialLabel, typeCode, 2*MSKLen)
		if err != nil {
			return fmt.Errorf("eaptls: TLS 1.3 key material: %w", err)
		}
		id, err := st.ExportKeyingMaterial(methodIDLabel, typeCode, 64)
		if err != nil {
			return fmt.Errorf("eaptls: TLS 1.3 Method-Id: %w", err)
		}
		s.res.MSK, s.res.EMSK, s.res.SessionID = k[:MSKLen], k[MSKLen:], append(append([]byte(nil), typeCode...), id...)
		return nil
	}
	k, err := s.keyMaterial12(st)
	if err != nil {
		return err
	}
	clientRandom, serverRandom := s.conn.randoms()
	if clientRandom == nil || serverRandom == nil {
		return errors.New("eaptls: no hello randoms for the Session-Id")
	}
	s.res.MSK, s.res.EMSK = k[:MSKLen], k[MSKLen:]
	s.res.SessionID = append(append(append([]byte(nil), typeCode...), clientRandom...), serverRandom...)
	return nil
}

// keyMaterial12 derives RFC 5216's 128-byte Key_Material (MSK, then
// EMSK). crypto/tls exports it (RFC 5705) when the client negotiated the
// extended master secret; otherwise the master secret comes from the
// connection's key log and the TLS 1.2 PRF of the cipher suite derives it
// (the same computation).
func (s *Server) keyMaterial12(st tls.ConnectionState) ([]byte, error) {
	if k, err := st.ExportKeyingMaterial(mskLabel, nil, 2*MSKLen); err == nil {
		return k, nil
	}
	_, master, err := fromKeyLog(s.keyLog.Bytes())
	if err != nil {
		return nil, err
	}
	clientRandom, serverRandom := s.conn.randoms()
	if clientRandom == nil || serverRandom == nil {
		return nil, errors.New("eaptls: no hello randoms for the MSK")
	}
	h := sha256.New
	if strings.HasSuffix(tls.CipherSuiteName(st.CipherSuite), "SHA384") {
		h = sha512.New384
	}
	return prf12(h, master, mskLabel, append(append([]byte(nil), clientRandom...), serverRandom...), 2*MSKLen), nil
}

// fromKeyLog reads the client random and the master secret from an NSS
// key log line ("CLIENT_RANDOM <client random> <master secret>").
func fromKeyLog(b []byte) (clientRandom, master []byte, err error) {
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "CLIENT_RANDOM" {
			continue
		}
		if clientRandom, err = hex.DecodeString(f[1]); err == nil {
			master, err = hex.DecodeString(f[2])
		}
		return clientRandom, master, err
	}
	return nil, nil, errors.New("eaptls: no master secret for the MSK")
}

// prf12 is the TLS 1.2 PRF (RFC 5246 §5) with hash h.
func prf12(h func() hash.Hash, secret []byte, label string, seed []byte, n int) []byte {
	seed = append([]byte(label), seed...)
	mac := hmac.New(h, secret)
	mac.Write(seed)
	a := mac.Sum(nil)
	var out []byte
	for len(out) < n {
		mac.Reset()
		mac.Write(a)
		mac.Write(seed)
		out = mac.Sum(out)
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(nil)
	}
	return out[:n]
}

// pipeConn is the TLS side's net.Conn, driven by one caller in turns:
// a Read with nothing buffered sends on want and then waits for the
// caller's bytes on in; the caller waits for want (or the handshake's
// end) before it pushes and after. So between the caller's turns the TLS
// goroutine is always blocked on in, and a want always means "everything
// pushed was consumed". Write collects what the TLS side says.
type pipeConn struct {
	ctx  context.Context
	want chan struct{}
	in   chan []byte
	rbuf []byte // the TLS goroutine's only

	// mu guards wbuf and the randoms.
	mu   sync.Mutex
	wbuf []byte
	// random is the random of the first hello written (the server's
	// ServerHello), peerRandom of the first one pushed (the client's
	// ClientHello), each from the first record.
	random, peerRandom []byte
	wrote, pushed      bool
}

func newPipeConn(ctx context.Context) *pipeConn {
	return &pipeConn{ctx: ctx, want: make(chan struct{}), in: make(chan []byte)}
}

// push hands the TLS goroutine the peer's bytes (the caller's side; only
// after a want).
func (c *pipeConn) push(b []byte) {
	c.mu.Lock()
	if !c.pushed {
		c.pushed = true
		c.peerRandom = helloRandom(b)
	}
	c.mu.Unlock()
	select {
	case c.in <- append([]byte(nil), b...):
	case <-c.ctx.Done():
	}
}

// take returns and clears what the TLS side wrote (the caller's side).
func (c *pipeConn) take() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.wbuf
	c.wbuf = nil
	return b
}

// randoms returns the peer's (client's) and our (server's) hello
// randoms, nil until seen.
func (c *pipeConn) randoms() (peer, ours []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peerRandom, c.random
}

func (c *pipeConn) Read(p []byte) (int, error) {
	for len(c.rbuf) == 0 {
		select {
		case c.want <- struct{}{}:
		case <-c.ctx.Done():
			return 0, c.ctx.Err()
		}
		select {
		case b := <-c.in:
			c.rbuf = b
		case <-c.ctx.Done():
			return 0, c.ctx.Err()
		}
	}
	n := copy(p, c.rbuf)
	c.rbuf = c.rbuf[n:]
	return n, nil
}

func (c *pipeConn) Write(p []byte) (int, error) {
	if c.ctx.Err() != nil {
		return 0, c.ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.wrote {
		c.wrote = true
		c.random = helloRandom(p)
	}
	c.wbuf = append(c.wbuf, p...)
	return len(p), nil
}

func (c *pipeConn) Close() error                     { return nil }
func (c *pipeConn) LocalAddr() net.Addr              { return pipeAddr{} }
func (c *pipeConn) RemoteAddr() net.Addr             { return pipeAddr{} }
func (c *pipeConn) SetDeadline(time.Time) error      { return nil }
func (c *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(time.Time) error { return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "eap-tls" }
func (pipeAddr) String() string  { return "eap-tls" }

// helloRandom returns the 32-byte Random of the ClientHello or
// ServerHello at the start of b (a side's first record), or nil.
func helloRandom(b []byte) []byte {
	// record: type(1)=22 version(2) length(2); handshake: type(1)=1 or 2
	// length(3) version(2) random(32)
	if len(b) < 5+4+2+32 || b[0] != 22 || (b[5] != 1 && b[5] != 2) {
		return nil
	}
	return append([]byte(nil), b[11:43]...)
}
