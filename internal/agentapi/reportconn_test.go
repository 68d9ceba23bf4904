package agentapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/tunstat"
)

// rawHub is a minimal agent API status endpoint on a Unix socket, written
// to allocate little so that AllocsPerRun measures the client: it answers
// each PUT with answer(seq) where seq is the report's statusSeq, and
// counts connections and requests.
type rawHub struct {
	ln       net.Listener
	accepts  atomic.Int32
	requests atomic.Int32
	// closeAfter closes each connection after answering (no
	// "Connection: close"): the server dropping an idle connection.
	closeAfter bool
	// status is the answer's status line ("204 No Content" if empty).
	status string
	// mute reads requests and never answers.
	mute bool
}

func newRawHub(t *testing.T, h *rawHub) (*rawHub, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "hub.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	h.ln = ln
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.accepts.Add(1)
			go h.serve(c)
		}
	}()
	return h, "unix://" + sock
}

func (h *rawHub) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	var body, out []byte
	for {
		n := -1
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				break
			}
			if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
				n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
		}
		if n < 0 {
			return
		}
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		h.requests.Add(1)
		if h.mute {
			continue
		}
		var seq []byte
		if _, v, ok := bytes.Cut(body, []byte(`"statusSeq":`)); ok {
			end := bytes.IndexAny(v, ",}")
			seq = v[:end]
		}
		status := h.status
		if status == "" {
			status = "204 No Content"
		}
		out = append(out[:0], "HTTP/1.1 "...)
		out = append(out, status...)
		out = append(out, "\r\nVpngw-Status-Delta: 1\r\nVpngw-Status-Seq: "...)
		out = append(out, seq...)
		if status[0] != '2' {
			out = append(out, "\r\nContent-Length: 8\r\n\r\nconflict"...)
		} else {
			out = append(out, "\r\n\r\n"...)
		}
		if _, err := c.Write(out); err != nil || h.closeAfter {
			return
		}
	}
}

// rawClient starts h and returns a client of it.
func rawClient(t *testing.T, h *rawHub) (*rawHub, *Client) {
	t.Helper()
	h, url := newRawHub(t, h)
	c, err := NewClient(url, "i1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return h, c
}

// heartbeating returns a Reporter whose status hub holds, so that each
// Send is a bare heartbeat.
func heartbeating(t *testing.T, c *Client) *Reporter {
	t.Helper()
	r := NewReporter()
	st := Status{Connections: []ConnectionStatus{{PeerStatus: tunstat.PeerStatus{Name: "a", State: "up"}, Status: "Connected"}}}
	if _, err := r.SetStatus(st); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if k, err := r.Send(ctx, c, 3, ""); err != nil || k != SentFull {
		t.Fatalf("first Send: %v, %v; want full", k, err)
	}
	if k, err := r.Send(ctx, c, 3, ""); err != nil || k != SentHeartbeat {
		t.Fatalf("second Send: %v, %v; want a heartbeat", k, err)
	}
	return r
}

// TestHeartbeatConnection: heartbeats share one connection, and an idle
// heartbeat allocates far less than the same request through net/http's
// client (the path reports took before reportConn; same run).
func TestHeartbeatConnection(t *testing.T) {
	h, url := newRawHub(t, &rawHub{})
	c, err := NewClient(url, "i1", "tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := heartbeating(t, c)
	ctx := context.Background()
	var failed error
	allocs := testing.AllocsPerRun(200, func() {
		if k, err := r.Send(ctx, c, 3, ""); err != nil || k != SentHeartbeat {
			failed = errors.Join(failed, err)
		}
	})
	if failed != nil {
		t.Fatal(failed)
	}
	body := r.hb
	viaHTTP := testing.AllocsPerRun(200, func() {
		if _, err := c.send(ctx, http.MethodPut, StatusPath("i1"), body, nil, func(http.Header) {}); err != nil {
			failed = errors.Join(failed, err)
		}
	})
	if failed != nil {
		t.Fatal(failed)
	}
	t.Logf("allocations per heartbeat: %.0f (net/http client: %.0f)", allocs, viaHTTP)
	if allocs > 30 || allocs > viaHTTP/2 {
		t.Errorf("a heartbeat allocates %.0f times (net/http: %.0f); want at most 30 and half of net/http's", allocs, viaHTTP)
	}
	// The reports (2 + 201 runs) took one connection; net/http's
	// requests another.
	if got := c.rep.dials; got != 1 {
		t.Errorf("reports opened %d connections, want 1", got)
	}
	if got := h.accepts.Load(); got != 2 {
		t.Errorf("hub accepted %d connections, want 2 (reports, net/http)", got)
	}
}

// TestReportConnRecovers: a server that drops the connection after each
// answer costs a redial, not a failed report; a 409 answer is
// ErrStatusNeeded and the full status follows on the same connection; a
// server that does not answer fails the report at the context's deadline.
func TestReportConnRecovers(t *testing.T) {
	t.Run("dropped", func(t *testing.T) {
		h, c := rawClient(t, &rawHub{closeAfter: true})
		r := heartbeating(t, c)
		for i := range 5 {
			if k, err := r.Send(context.Background(), c, 3, ""); err != nil || k != SentHeartbeat {
				t.Fatalf("heartbeat %d: %v, %v", i, k, err)
			}
		}
		if got, want := h.requests.Load(), int32(7); got != want {
			t.Errorf("hub took %d reports, want %d", got, want)
		}
	})
	t.Run("conflict", func(t *testing.T) {
		h, c := rawClient(t, &rawHub{status: "409 Conflict"})
		_, err := c.putReport(context.Background(), []byte(`{"revision":1,"statusSeq":5,"unchanged":true}`))
		if !errors.Is(err, ErrStatusNeeded) {
			t.Fatalf("409: %v, want ErrStatusNeeded", err)
		}
		h.status = ""
		if a, err := c.putReport(context.Background(), []byte(`{"revision":1,"statusSeq":5,"status":{}}`)); err != nil || a.held != 5 || !a.deltas {
			t.Fatalf("after 409: %+v, %v; want held 5, deltas", a, err)
		}
		if got := h.accepts.Load(); got != 1 {
			t.Errorf("%d connections, want 1 (a 409 keeps it)", got)
		}
	})
	t.Run("mute", func(t *testing.T) {
		_, c := rawClient(t, &rawHub{mute: true})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := c.putReport(ctx, []byte(`{"revision":1}`)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("unanswered report: %v, want the deadline", err)
		}
	})
	t.Run("mute, context without deadline", func(t *testing.T) {
		// The reporting routine passes a context without a deadline:
		// the report's own timeout (ReportTimeout) still ends it.
		_, c := rawClient(t, &rawHub{mute: true})
		c.rep.timeout = 200 * time.Millisecond
		start := time.Now()
		_, err := c.putReport(context.Background(), []byte(`{"revision":1}`))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("unanswered report: %v, want the deadline", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("unanswered report took %v, want about the 200ms timeout", d)
		}
	})
}
