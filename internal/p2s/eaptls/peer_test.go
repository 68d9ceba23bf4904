package eaptls

import (
	"context"
	"crypto/tls"
	"fmt"

	"github.com/vpngw/vpngw/internal/p2s/eap"
)

// testPeer is the client side of EAP-TLS over Go's crypto/tls, for the
// tests: it answers Requests as strongSwan's eap-tls does (acknowledging
// fragments, fragmenting its own flights).
type testPeer struct {
	cfg      *tls.Config
	fragment int
	conn     *pipeConn
	tc       *tls.Conn
	cancel   context.CancelFunc
	done     chan error
	finished bool
	err      error
	in       *Reassembler
	out      *Fragmenter
}

func newTestPeer(cfg *tls.Config, fragment int) *testPeer {
	return &testPeer{cfg: cfg, fragment: fragment, in: NewReassembler(DefaultMaxMessage)}
}

func (p *testPeer) close() {
	if p.cancel != nil {
		p.cancel()
	}
}

// wait lets the TLS client run until it wants input or is done.
func (p *testPeer) wait() []byte {
	select {
	case <-p.conn.want:
	case err := <-p.done:
		p.finished, p.err = true, err
	}
	return p.conn.take()
}

func (p *testPeer) respond(req eap.Packet, m Message) eap.Packet {
	return eap.Packet{Code: eap.CodeResponse, Identifier: req.Identifier, Type: eap.TypeTLS, Data: m.Append(nil)}
}

// send starts sending a flight (or acknowledges with an empty message).
func (p *testPeer) send(req eap.Packet, flight []byte) eap.Packet {
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

// handle answers one Request.
func (p *testPeer) handle(req eap.Packet) (eap.Packet, error) {
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
		go func() { p.done <- p.tc.HandshakeContext(ctx) }()
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
