package eaptls

import (
	"context"
	"crypto/tls"
	"fmt"

	"github.com/vpngw/vpngw/internal/p2s/eap"
)

// Peer is the client side of EAP-TLS over Go's crypto/tls, for tests and
// load clients: it answers Requests as strongSwan's eap-tls does
// (acknowledging fragments, fragmenting its own flights). Close it when
// done.
type Peer struct {
	cfg      *tls.Config
	fragment int
	// The TLS goroutine and its pipe (set by the Start Request).
	conn     *pipeConn
	tc       *tls.Conn
	cancel   context.CancelFunc
	done     chan error
	finished bool
	err      error // the handshake's result, once finished
	// committed: the TLS 1.3 server's protected success indication
	// arrived.
	committed bool
	in        *Reassembler
	out       *Fragmenter
}

// NewPeer returns a client with TLS configuration cfg (its certificate,
// the roots and name of the server) sending fragments of up to fragment
// bytes.
func NewPeer(cfg *tls.Config, fragment int) *Peer {
	return &Peer{cfg: cfg, fragment: fragment, in: NewReassembler(DefaultMaxMessage)}
}

// Close stops the TLS goroutine.
func (p *Peer) Close() {
	if p.cancel != nil {
		p.cancel()
	}
}

// wait lets the TLS client run until it wants input or is done.
func (p *Peer) wait() []byte {
	select {
	case <-p.conn.want:
	case err := <-p.done:
		p.finished, p.err = true, err
	}
	return p.conn.take()
}

func (p *Peer) respond(req eap.Packet, m Message) eap.Packet {
	return eap.Packet{Code: eap.CodeResponse, Identifier: req.Identifier, Type: eap.TypeTLS, Data: m.Append(nil)}
}

// send starts sending a flight (or acknowledges with an empty message).
func (p *Peer) send(req eap.Packet, flight []byte) eap.Packet {
	if len(flight) == 0 {
		return p.respond(req, Message{})
	}
	p.out = NewFragmenter(flight, p.fragment)
	m, last := p.out.Next()
	if last {
		p.out = nil
	}
	return p.respond(req, m)
}

// Handle answers one Request.
func (p *Peer) Handle(req eap.Packet) (eap.Packet, error) {
	if req.Code != eap.CodeRequest || req.Type != eap.TypeTLS {
		return eap.Packet{}, fmt.Errorf("not an EAP-TLS Request: %v %v", req.Code, req.Type)
	}
	m, err := ParseMessage(req.Data)
	if err != nil {
		return eap.Packet{}, err
	}
	if m.Flags&FlagStart != 0 {
		ctx, cancel := context.WithCancel(context.Background())
		p.cancel = cancel
		p.conn = newPipeConn(ctx)
		p.done = make(chan error, 1)
		p.tc = tls.Client(p.conn, p.cfg)
		go func() { p.done <- p.run(ctx) }()
		return p.send(req, p.wait()), nil
	}
	if p.out != nil {
		// The server acknowledged our fragment.
		if len(m.Data) != 0 {
			return eap.Packet{}, fmt.Errorf("server sent data while our fragments go out")
		}
		f, last := p.out.Next()
		if last {
			p.out = nil
		}
		return p.respond(req, f), nil
	}
	msg, err := p.in.Add(m)
	if err != nil {
		return eap.Packet{}, err
	}
	if msg == nil {
		return p.respond(req, Message{}), nil
	}
	p.conn.push(msg)
	return p.send(req, p.wait()), nil
}

// run is the TLS goroutine: the handshake and, with TLS 1.3, the
// server's protected success indication (RFC 9190 §2.5), read after the
// client's Finished went out (the server's tickets come before it).
func (p *Peer) run(ctx context.Context) error {
	if err := p.tc.HandshakeContext(ctx); err != nil {
		return err
	}
	if p.tc.ConnectionState().Version < tls.VersionTLS13 {
		return nil
	}
	b := make([]byte, 16)
	n, err := p.tc.Read(b)
	if err != nil {
		return fmt.Errorf("waiting for the protected success indication: %w", err)
	}
	if n != 1 || b[0] != commitment[0] {
		return fmt.Errorf("%w: protected success indication %x, want %x", ErrAuthFailed, b[:n], commitment)
	}
	p.committed = true
	return nil
}

// MSK is the MSK as the client derives it (after the handshake): RFC
// 5216's for TLS 1.2, RFC 9190's for TLS 1.3 (only after the server's
// protected success indication).
func (p *Peer) MSK() ([]byte, error) {
	if !p.finished || p.err != nil {
		return nil, fmt.Errorf("%w: the handshake did not complete: %v", ErrAuthFailed, p.err)
	}
	st := p.tc.ConnectionState()
	label, context := mskLabel, []byte(nil)
	if st.Version >= tls.VersionTLS13 {
		if !p.committed {
			return nil, fmt.Errorf("%w: no protected success indication", ErrAuthFailed)
		}
		label, context = keyMaterialLabel, typeCode
	}
	k, err := st.ExportKeyingMaterial(label, context, 2*MSKLen)
	if err != nil {
		return nil, err
	}
	return k[:MSKLen], nil
}

// State is the TLS connection's state.
func (p *Peer) State() tls.ConnectionState { return p.tc.ConnectionState() }
