package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
)

// serveLimited serves h on loopback with lim, as Run does, and returns the
// address and the most connections it held at once.
func serveLimited(t *testing.T, h http.Handler, lim httpLimits) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := newHTTPServer(context.Background(), h, lim, slog.New(slog.DiscardHandler))
	cl := &countingListener{Listener: limitListener(ln, lim)}
	go hs.Serve(cl)
	t.Cleanup(func() { hs.Close() })
	peak := &cl.peak
	return ln.Addr().String(), peak
}

// countingListener records the most connections open at once; a
// connection counts until it is closed (before the limit's slot is freed).
type countingListener struct {
	net.Listener
	open, peak atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.open.Add(1)
	for p := l.peak.Load(); n > p && !l.peak.CompareAndSwap(p, n); p = l.peak.Load() {
	}
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// slowClients opens n connections that send a request header and one byte
// of a 1000-byte body, then stall.
func slowClients(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "PUT /x HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", addr)
		conns = append(conns, c)
	}
	return conns
}

func quickGet(t *testing.T, addr string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	hc := &http.Client{Timeout: within}
	res, err := hc.Get("http://" + addr + "/ok")
	if err != nil {
		t.Fatalf("a normal request behind slow clients: %v", err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	return time.Since(start)
}

var readAll = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
})

// TestSlowloris: 200 connections trickling a request body neither starve a
// normal request nor hold the server: with the API's limits the normal
// request is answered at once; with the same shape scaled down in time and
// connections (50 at once, 500 ms to read a request), the server holds no
// more than its cap, drops every slow client within its read timeout, and
// still answers the normal request within a few seconds. Bounded: about
// 3 s.
func TestSlowloris(t *testing.T) {
	addr, _ := serveLimited(t, readAll, apiLimits)
	slowClients(t, addr, 200)
	if d := quickGet(t, addr, 2*time.Second); d > time.Second {
		t.Errorf("normal request behind 200 slow clients took %v", d)
	}

	lim := httpLimits{readHeader: 300 * time.Millisecond, read: 500 * time.Millisecond, write: time.Second,
		idle: time.Second, maxConns: 50, maxHeaderBytes: 4 << 10}
	addr, peak := serveLimited(t, readAll, lim)
	conns := slowClients(t, addr, 200)
	if d := quickGet(t, addr, 6*time.Second); d > 5*time.Second {
		t.Errorf("normal request behind 200 slow clients took %v", d)
	}
	// Every slow client is dropped by the server (EOF or reset), well
	// before our own deadline.
	var wg sync.WaitGroup
	var held atomic.Int32
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := io.Copy(io.Discard, c)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				held.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := held.Load(); n > 0 {
		t.Errorf("%d slow clients still held after 5 s", n)
	}
	if p := peak.Load(); p > int64(lim.maxConns) {
		t.Errorf("served %d connections at once, cap %d", p, lim.maxConns)
	}
}

// TestAgentAPIBudget: the agent API's long poll fits its write timeout, and
// its connection budget is its own.
func TestAgentAPIBudget(t *testing.T) {
	if agentLimits.write <= agentapi.MaxWait || agentLimits.read <= 0 || agentLimits.readHeader <= 0 {
		t.Errorf("agent limits %+v do not fit a %v long poll", agentLimits, agentapi.MaxWait)
	}
	if apiLimits.read <= 0 || apiLimits.write <= 0 || apiLimits.maxConns <= 0 || agentLimits.maxConns <= 0 {
		t.Errorf("API limits %+v", apiLimits)
	}
}
