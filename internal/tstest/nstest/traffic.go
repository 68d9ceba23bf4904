package nstest

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// TransferTCP sends n bytes of pseudo-random data over TCP from a socket in
// namespace from to a listener on toAddr:port in namespace to, compares the
// SHA-256 digests at both ends, and returns how long the transfer took. It
// fails the test on any error or mismatch; both ends time out after 90 s.
func TransferTCP(t testing.TB, from, to netns.NsHandle, toAddr netip.Addr, port uint16, n int64) time.Duration {
	t.Helper()
	dst := netip.AddrPortFrom(toAddr, port)
	var ln net.Listener
	if err := Do(to, func() (err error) {
		ln, err = net.Listen("tcp", dst.String())
		return err
	}); err != nil {
		t.Fatalf("nstest: listen on %v: %v", dst, err)
	}
	defer ln.Close()
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(90 * time.Second))
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r result
		copy(r.sum[:], h.Sum(nil))
		r.n, r.err = n, err
		got <- r
	}()
	var c net.Conn
	if err := Do(from, func() (err error) {
		c, err = net.DialTimeout("tcp", dst.String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatalf("nstest: connect to %v: %v", dst, err)
	}
	_ = c.SetDeadline(time.Now().Add(90 * time.Second))
	h := sha256.New()
	rng := rand.New(rand.NewPCG(uint64(n), 9))
	buf := make([]byte, 256<<10)
	start := time.Now()
	for sent := int64(0); sent < n; {
		chunk := buf[:min(int64(len(buf)), n-sent)]
		for i := 0; i+8 <= len(chunk); i += 8 {
			v := rng.Uint64()
			for k := 0; k < 8; k++ {
				chunk[i+k] = byte(v >> (8 * k))
			}
		}
		h.Write(chunk)
		if _, err := c.Write(chunk); err != nil {
			c.Close()
			t.Fatalf("nstest: TCP write to %v after %d bytes: %v", dst, sent, err)
		}
		sent += int64(len(chunk))
	}
	c.Close()
	r := <-got
	elapsed := time.Since(start)
	if r.err != nil || r.n != n {
		t.Fatalf("nstest: TCP receiver at %v got %d of %d bytes: %v", dst, r.n, n, r.err)
	}
	var want [32]byte
	copy(want[:], h.Sum(nil))
	if r.sum != want {
		t.Fatalf("nstest: TCP transfer to %v: SHA-256 mismatch (data corrupted)", dst)
	}
	return elapsed
}

// PingLoss extracts the packet loss percentage from ping(8)'s summary.
func PingLoss(out string) (int, error) {
	i := strings.Index(out, "% packet loss")
	if i < 0 {
		return 0, fmt.Errorf("nstest: no ping summary in %q", out)
	}
	j := strings.LastIndexAny(out[:i], " ,") + 1
	loss, err := strconv.ParseFloat(out[j:i], 64)
	if err != nil {
		return 0, fmt.Errorf("nstest: ping summary %q: %w", out[j:i], err)
	}
	return int(loss), nil
}
