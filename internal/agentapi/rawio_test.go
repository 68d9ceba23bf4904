//go:build linux

package agentapi

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/tlsca"
)

// rawIOPair returns a connected pair over network ("tcp" or "unix"): the
// client side wrapped by withRawIO, the server side net's own.
func rawIOPair(t *testing.T, network string) (client, server net.Conn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s.sock")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		acc <- c
	}()
	c, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-acc
	if s == nil {
		t.FailNow()
	}
	client = withRawIO(c)
	if _, ok := client.(*rawIOConn); !ok {
		t.Fatalf("withRawIO(%T) did not wrap it", c)
	}
	t.Cleanup(func() { client.Close(); s.Close() })
	return client, s
}

// TestRawIOConn: bytes cross intact both ways, also more than the socket
// buffers hold (writes wait in the poller), the end of the stream reads
// as io.EOF, a read deadline ends a read as net's does, and writing to a
// closed peer fails without a SIGPIPE.
func TestRawIOConn(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			c, s := rawIOPair(t, network)
			big := make([]byte, 4<<20)
			rand.Read(big)

			// client → server, larger than the buffers.
			got := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(io.LimitReader(s, int64(len(big))))
				got <- b
			}()
			if n, err := c.Write(big); err != nil || n != len(big) {
				t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(big))
			}
			if b := <-got; !bytes.Equal(b, big) {
				t.Fatalf("server read %d bytes, not what was written", len(b))
			}

			// server → client.
			go func() { s.Write(big) }()
			b := make([]byte, len(big))
			if _, err := io.ReadFull(c, b); err != nil || !bytes.Equal(b, big) {
				t.Fatalf("client read: %v (equal %v)", err, bytes.Equal(b, big))
			}

			// A read deadline.
			c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
			_, err := c.Read(b[:1])
			var ne net.Error
			if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("read past the deadline: %v, want a timeout (os.ErrDeadlineExceeded)", err)
			}
			c.SetReadDeadline(time.Time{})

			// The end of the stream.
			s.Close()
			if n, err := c.Read(b[:1]); n != 0 || err != io.EOF {
				t.Fatalf("read after the peer closed = %d, %v; want 0, io.EOF", n, err)
			}
			// Writing on: the peer is gone (EPIPE or ECONNRESET, no signal).
			var werr error
			for range 100 {
				if _, werr = c.Write(big[:64<<10]); werr != nil {
					break
				}
			}
			if werr == nil {
				t.Fatal("writes to a closed peer kept succeeding")
			}
			c.Close()
			if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("write after Close: %v, want net.ErrClosed", err)
			}
		})
	}
}

// TestRawIOConnTLS: a TLS client over the wrapper (as the report
// connection to an https:// server) handshakes and exchanges data.
func TestRawIOConnTLS(t *testing.T) {
	dir := t.TempDir()
	ca, _, err := tlsca.LoadOrCreate(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue([]string{"vpngw"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	roots, err := tlsca.FilePool(ca.CertPath())
	if err != nil {
		t.Fatal(err)
	}

	c, s := rawIOPair(t, "tcp")
	srv := tls.Server(s, &tls.Config{Certificates: []tls.Certificate{cert}})
	go func() {
		b := make([]byte, 5)
		if _, err := io.ReadFull(srv, b); err == nil {
			srv.Write(append(b, '!'))
		}
	}()
	tc := tls.Client(c, &tls.Config{RootCAs: roots, ServerName: "vpngw"})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake over rawIOConn: %v", err)
	}
	if _, err := tc.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	if _, err := io.ReadFull(tc, b); err != nil || string(b) != "hello!" {
		t.Fatalf("read %q, %v; want \"hello!\"", b, err)
	}
}

// TestWithRawIOPassesOthers: a connection without a socket is left as is.
func TestWithRawIOPassesOthers(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := withRawIO(a); got != a {
		t.Fatalf("withRawIO(net.Pipe) = %T, want it unchanged", got)
	}
}
