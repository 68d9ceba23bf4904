package dataplane

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// BenchmarkRawESPRecvVeth compares ways of receiving raw ESP: a batch of
// 64 ESP packets of 1,424 bytes is sent over a veth pair (the data plane's
// AF_PACKET send path) and the peer namespace reads all 64, copying each
// into a buffer, before the next batch; the time per batch covers both
// gateways' kernel work, as in a transfer.
//
//   - raw: the data plane's raw socket and recvmmsg (IP input and the raw
//     socket's delivery run inline in the sender's call);
//   - xdp-drv / xdp-skb: the XDP program and an AF_XDP socket in copy mode
//     on the peer's veth, native (veth's NAPI) or generic (SKB) mode; the
//     peer's raw socket stays open, as in the data plane.
//
// Privileged; run under the heavy lock.
func BenchmarkRawESPRecvVeth(b *testing.B) {
	nstest.RequirePriv(b)
	a, peer := nstest.New(b, "vdp-xa"), nstest.New(b, "vdp-xb")
	nstest.Link(b, a, "wan0", pfx("192.0.2.1/24"), peer, "wan0", pfx("192.0.2.2/24"))
	a.MustRun(b, "ping", "-c", "1", "-W", "2", "192.0.2.2")
	dst := [4]byte{192, 0, 2, 2}
	var s *rawESP
	must(b, a.Do(func() (err error) { s, err = openRawESP(true); return err }))
	defer s.Close()
	waitHop(b, s, dst)
	var r *rawESP
	must(b, peer.Do(func() (err error) { r, err = openRawESP(false); return err }))
	defer r.Close()
	var ifindex int
	must(b, peer.Do(func() error {
		ifc, err := net.InterfaceByName("wan0")
		if err == nil {
			ifindex = ifc.Index
		}
		return err
	}))
	buf := make([]byte, bufSize)

	b.Run("raw", func(b *testing.B) {
		hdrs := make([]mmsghdr, rawBatch)
		iovs := make([]unix.Iovec, rawBatch)
		bufs := make([][]byte, rawBatch)
		for i := range hdrs {
			bufs[i] = make([]byte, 2048)
			iovs[i].Base = &bufs[i][0]
			iovs[i].SetLen(len(bufs[i]))
			hdrs[i].hdr.Iov = &iovs[i]
			hdrs[i].hdr.SetIovlen(1)
		}
		benchRecv(b, s, dst, func() (int, error) {
			r.c.SetReadDeadline(time.Now().Add(2 * time.Second))
			return r.recvmmsg(hdrs)
		})
	})
	for _, m := range []struct {
		name string
		mode uint32
	}{{"xdp-drv", unix.XDP_FLAGS_DRV_MODE}, {"xdp-skb", unix.XDP_FLAGS_SKB_MODE}} {
		b.Run(m.name, func(b *testing.B) {
			var x *xdpESP
			if err := peer.Do(func() (err error) {
				x, err = openXDPESP(ifindex, 1, m.mode, [][4]byte{dst})
				return err
			}); err != nil {
				b.Skip(err)
			}
			defer x.Close()
			xs := x.socks[0]
			got := 0
			f := func(p []byte) { got += copy(buf, p) }
			benchRecv(b, s, dst, func() (int, error) {
				xs.f.SetReadDeadline(time.Now().Add(2 * time.Second))
				return xs.recv(rawBatch, true, f)
			})
			if got == 0 {
				b.Error("no bytes")
			}
		})
	}
}

// benchRecv sends rawBatch packets to dst on s and calls recv until it
// has returned that many, per iteration.
func benchRecv(b *testing.B, s *rawESP, dst [4]byte, recv func() (int, error)) {
	elems := rawElems()
	bufs := make([][]byte, 0, rawBatch)
	dsts := make([][4]byte, 0, rawBatch)
	b.SetBytes(rawBatch * rawSize)
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		bufs, dsts = bufs[:0], dsts[:0]
		for _, e := range elems {
			bufs = append(bufs, s.rawFrame(e, dst))
			dsts = append(dsts, dst)
		}
		if err := s.send(bufs, dsts); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < rawBatch; {
			n, err := recv()
			if err != nil {
				b.Fatalf("after %d of %d packets: %v", got, rawBatch, err)
			}
			got += n
		}
	}
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user and system time, in ns (the softirq work
// run inline in its system calls included).
func cpuTime(b *testing.B) int64 {
	var ru unix.Rusage
	must(b, unix.Getrusage(unix.RUSAGE_SELF, &ru))
	return ru.Utime.Nano() + ru.Stime.Nano()
}
