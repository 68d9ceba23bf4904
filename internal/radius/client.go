package radius

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Server is one RADIUS server.
type Server struct {
	// Addr is its address and port (1812 by default).
	Addr netip.AddrPort
	// Secret is the shared secret.
	Secret []byte
	// Score orders servers: higher first (Azure's radiusServerScore).
	Score int64
}

// Azure's RADIUS timeout (reference §4): a request is given up after 30 s.
const DefaultTimeout = 30 * time.Second

// Errors a Client returns.
var (
	// ErrNoServer: no server answered within the timeout.
	ErrNoServer = errors.New("radius: no server answered")
	// ErrRejected: the server sent Access-Reject.
	ErrRejected = errors.New("radius: access rejected")
)

// Client sends Access-Requests to its servers, highest score first,
// retransmitting to each and moving to the next when one stays silent.
// It is safe for concurrent use.
type Client struct {
	servers []Server
	// Timeout bounds one exchange over all servers (DefaultTimeout).
	Timeout time.Duration
	// Retransmit is the wait before resending to the same server (3 s);
	// each server gets Tries sends (3) before the next is tried.
	Retransmit time.Duration
	Tries      int
	log        *slog.Logger

	mu   sync.Mutex
	next uint8 // the next Identifier
}

// NewClient returns a client for servers (at least one), ordered by score.
func NewClient(servers []Server, log *slog.Logger) (*Client, error) {
	if len(servers) == 0 {
		return nil, errors.New("radius: no servers")
	}
	s := slices.Clone(servers)
	slices.SortStableFunc(s, func(a, b Server) int { return int(b.Score - a.Score) })
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{servers: s, Timeout: DefaultTimeout, Retransmit: 3 * time.Second, Tries: 3, log: log}, nil
}

// Exchange sends req to server i (or, with i < 0, to the servers in score
// order) and returns the verified response and the server that gave it.
// req.Identifier and req.Authenticator are set here.
func (c *Client) Exchange(ctx context.Context, req *Packet, i int) (*Packet, int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	order := []int{i}
	if i < 0 {
		order = order[:0]
		for j := range c.servers {
			order = append(order, j)
		}
	}
	var errs []error
	for _, j := range order {
		resp, err := c.exchange(ctx, req, c.servers[j])
		if err == nil {
			return resp, j, nil
		}
		errs = append(errs, fmt.Errorf("%v: %w", c.servers[j].Addr, err))
		c.log.Warn("RADIUS server did not answer", "server", c.servers[j].Addr, "err", err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, -1, fmt.Errorf("%w: %w", ErrNoServer, errors.Join(errs...))
}

func (c *Client) exchange(ctx context.Context, req *Packet, s Server) (*Packet, error) {
	c.mu.Lock()
	req.Identifier = c.next
	c.next++
	c.mu.Unlock()
	if _, err := rand.Read(req.Authenticator[:]); err != nil {
		return nil, err
	}
	b, err := req.EncodeRequest(s.Secret)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", s.Addr.String())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, MaxLen)
	for try := 0; try < c.Tries; try++ {
		if _, err := conn.Write(b); err != nil {
			return nil, err
		}
		_ = conn.SetReadDeadline(time.Now().Add(c.Retransmit))
		for {
			n, err := conn.Read(buf)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break // retransmit
				}
				return nil, err
			}
			if n < HeaderLen || buf[1] != req.Identifier {
				continue // a late answer to an earlier request
			}
			if err := VerifyResponse(buf[:n], s.Secret, req.Authenticator); err != nil {
				c.log.Warn("RADIUS response refused", "server", s.Addr, "err", err)
				continue
			}
			return Parse(append([]byte(nil), buf[:n]...))
		}
	}
	return nil, fmt.Errorf("no answer after %d tries", c.Tries)
}

// EAPSession relays one EAP conversation: each EAP packet from the client
// goes out as an Access-Request with the last State, all to the server
// that answered first (the State means nothing to another).
type EAPSession struct {
	c      *Client
	user   string
	attrs  []Attr
	server int // -1 until a server answered
	state  []byte
	// reqAuth is the Request Authenticator of the last request (the MPPE
	// keys of an Access-Accept are encrypted with it).
	reqAuth [16]byte
}

// NewEAPSession starts a relay for user; attrs are added to every request
// (NAS-Identifier, Calling-Station-Id, ...).
func (c *Client) NewEAPSession(user string, attrs ...Attr) *EAPSession {
	return &EAPSession{c: c, user: user, attrs: attrs, server: -1}
}

// Result is the outcome of one relayed EAP message.
type Result struct {
	// Code is Access-Challenge (EAP continues), Access-Accept or
	// Access-Reject.
	Code Code
	// EAP is the server's EAP packet (a Request, Success or Failure).
	EAP []byte
	// MSK is the EAP master session key from an Access-Accept:
	// MS-MPPE-Recv-Key then MS-MPPE-Send-Key (RFC 3748 §7.10, RFC 5216).
	MSK []byte
	// Reply is the Reply-Message, if any (a reason for a reject).
	Reply string
}

// Send relays one EAP packet from the client.
func (s *EAPSession) Send(ctx context.Context, eapMsg []byte) (Result, error) {
	req := &Packet{Code: AccessRequest}
	req.Add(AttrUserName, []byte(s.user))
	req.Attrs = append(req.Attrs, s.attrs...)
	req.Add(AttrNASPortType, []byte{0, 0, 0, NASPortTypeVirtal})
	if s.state != nil {
		req.Add(AttrState, s.state)
	}
	req.AddEAP(eapMsg)
	resp, i, err := s.c.Exchange(ctx, req, s.server)
	if err != nil {
		return Result{}, err
	}
	s.server, s.reqAuth = i, req.Authenticator
	r := Result{Code: resp.Code}
	r.EAP, _ = resp.EAP()
	if m, ok := resp.Get(AttrReplyMessage); ok {
		r.Reply = string(m)
	}
	switch resp.Code {
	case AccessChallenge:
		s.state, _ = resp.Get(AttrState)
		s.state = slices.Clone(s.state)
	case AccessAccept:
		secret := s.c.servers[i].Secret
		recv, rok := resp.Vendor(VendorMicrosoft, MSMPPERecvKey)
		send, sok := resp.Vendor(VendorMicrosoft, MSMPPESendKey)
		if !rok || !sok {
			return r, fmt.Errorf("radius: Access-Accept without MS-MPPE keys (the EAP method must export keys)")
		}
		rk, err := DecryptMPPEKey(recv, secret, s.reqAuth)
		if err != nil {
			return r, err
		}
		sk, err := DecryptMPPEKey(send, secret, s.reqAuth)
		if err != nil {
			return r, err
		}
		r.MSK = append(rk, sk...)
	case AccessReject:
		return r, fmt.Errorf("%w: %s", ErrRejected, r.Reply)
	default:
		return r, fmt.Errorf("%w: unexpected %v", ErrMalformed, resp.Code)
	}
	return r, nil
}
