package agentapi

// Reports go over a connection of their own, written and read by the
// reporting goroutine itself.
//
// An instance reports every ReportEvery (500 ms), nearly always a bare
// heartbeat of ~60 bytes answered 204. Through net/http's Transport each
// one cost a request and header maps, a context, and three goroutine
// hand-offs (the caller hands the request to the connection's write loop,
// its read loop reads the answer and hands it back), each a scheduler
// wake-up: at 10,000 clients more of the agent's idle CPU than the
// heartbeat's bytes. reportConn keeps one HTTP/1.1 connection to the
// server, writes each PUT from a prebuilt head (only Content-Length
// varies) in one write and reads the answer on the same goroutine: one
// write and one read per heartbeat, nothing else woken (not even the
// runtime's sysmon: the dial wraps the socket in a rawIOConn, rawio.go).
// The requests on the wire are the same as net/http's (same method, path,
// headers and body), so every control plane takes them.
//
//	Reporter.Send ─► Client.putReport ─► reportConn.put: [dial] ─► write head+body ─► http.ReadResponse ─► drain body
//	                                           └─ a reused connection the server closed: redial once, resend

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// reportConn is a Client's connection for reports (see the file comment).
// Its mutex serialises reports (one routine reports; the lock is
// uncontended).
type reportConn struct {
	mu sync.Mutex
	// dial opens a connection to the server (TLS included).
	dial func(ctx context.Context) (net.Conn, error)
	// head is the request up to "Content-Length: " (request line, Host,
	// Authorization, Content-Type).
	head []byte
	// conn and br are the open connection and its reader (nil: none).
	conn net.Conn
	br   *bufio.Reader
	// buf holds one request's head and small body between writes.
	buf []byte
	// dials counts connections opened (tests).
	dials int
	// timeout bounds an attempt whose context has no deadline
	// (ReportTimeout; shorter in tests).
	timeout time.Duration
}

// smallBody is the largest body written together with the head, in one
// write; a larger one (a full status) is written after it.
const smallBody = 16 << 10

// newReportConn returns the report connection of a client whose requests
// go to host (the Host header) through dial.
func newReportConn(host, path, token string, dial func(ctx context.Context) (net.Conn, error)) *reportConn {
	h := "PUT " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: Go-http-client/1.1\r\n"
	if token != "" {
		h += "Authorization: Bearer " + token + "\r\n"
	}
	h += "Content-Type: application/json\r\nContent-Length: "
	return &reportConn{dial: dial, head: []byte(h), timeout: ReportTimeout}
}

// put sends one report (an encoded Report) and hands the answer's header
// to header; it returns the answer's status code. A connection that was
// reused and failed before any answer (the server closed it while idle)
// is replaced and the report sent again, once: a report is idempotent.
// Each attempt ends at ctx's deadline or, without one, rc.timeout
// (ReportTimeout) after it starts.
func (rc *reportConn) put(ctx context.Context, body []byte, header func(http.Header)) (int, error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for attempt := 0; ; attempt++ {
		reused := rc.conn != nil
		if !reused {
			conn, err := rc.dialBounded(ctx)
			if err != nil {
				return 0, err
			}
			rc.dials++
			rc.conn = conn
			if rc.br == nil {
				rc.br = bufio.NewReaderSize(conn, 4096)
			} else {
				rc.br.Reset(conn)
			}
		}
		code, answered, err := rc.roundTrip(ctx, body, header)
		var he *HTTPError
		if err == nil || errors.As(err, &he) {
			return code, err // a complete answer (roundTrip closed the connection if it must)
		}
		rc.close()
		if ctxErr := ctx.Err(); ctxErr != nil || errors.Is(err, os.ErrDeadlineExceeded) {
			if ctxErr == nil { // the connection's deadline: the context's or ReportTimeout
				ctxErr = context.DeadlineExceeded
			}
			return 0, fmt.Errorf("agentapi: report: %w (%w)", ctxErr, err)
		}
		if !reused || answered || attempt > 0 {
			return code, err
		}
	}
}

// roundTrip writes the request on rc.conn and reads the answer; answered
// says whether any of the answer arrived (a failure after that must not
// be retried blindly). The connection is left open only after a complete
// answer that does not close it.
func (rc *reportConn) roundTrip(ctx context.Context, body []byte, header func(http.Header)) (code int, answered bool, err error) {
	conn := rc.conn
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(rc.timeout)
	}
	if err := conn.SetDeadline(dl); err != nil {
		return 0, false, err
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	b := append(rc.buf[:0], rc.head...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	if len(body) <= smallBody {
		b = append(b, body...)
	}
	rc.buf = b
	if _, err := conn.Write(b); err != nil {
		return 0, false, err
	}
	if len(body) > smallBody {
		if _, err := conn.Write(body); err != nil {
			return 0, false, err
		}
	}
	if _, err := rc.br.Peek(1); err != nil {
		return 0, false, err
	}
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		return 0, true, err
	}
	if header != nil {
		header(resp.Header)
	}
	code = resp.StatusCode
	var msg []byte
	if code >= 300 {
		msg, _ = io.ReadAll(io.LimitReader(resp.Body, 4096))
	}
	// Drain what is left so that the connection can carry the next
	// report; a long answer is not worth that.
	_, derr := io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if cerr := resp.Body.Close(); derr == nil {
		derr = cerr
	}
	if derr != nil || resp.Close {
		rc.close()
	}
	if code >= 300 {
		return code, true, &HTTPError{Code: code, msg: fmt.Sprintf("agent: PUT %s: %s: %s", rc.path(), resp.Status, strings.TrimSpace(string(msg)))}
	}
	return code, true, nil
}

// dialBounded dials within ctx's deadline or, without one, rc.timeout
// (a new connection is rare: the timer is not worth saving there).
func (rc *reportConn) dialBounded(ctx context.Context) (net.Conn, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rc.timeout)
		defer cancel()
	}
	return rc.dial(ctx)
}

// path is the request's path, for errors.
func (rc *reportConn) path() string {
	p, _, _ := strings.Cut(strings.TrimPrefix(string(rc.head), "PUT "), " ")
	return p
}

// close closes the connection, if open.
func (rc *reportConn) close() {
	if rc.conn != nil {
		rc.conn.Close()
		rc.conn = nil
	}
}

// tlsDial wraps dial in a TLS client for host (a host:port or a host).
func tlsDial(dial func(ctx context.Context) (net.Conn, error), host string, cfg *tls.Config) func(ctx context.Context) (net.Conn, error) {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	cfg = cfg.Clone()
	cfg.ServerName = name
	cfg.NextProtos = []string{"http/1.1"}
	return func(ctx context.Context) (net.Conn, error) {
		raw, err := dial(ctx)
		if err != nil {
			return nil, err
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("agentapi: TLS: %w", err)
		}
		return tc, nil
	}
}
