package dataplane

import (
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkRawESPRecvVeth compares two ways of waiting on the raw ESP
// socket: a batch of 64 ESP packets of 1,424 bytes is sent over a veth
// pair (the data plane's AF_PACKET send path; the peer's IP input and the
// raw socket's delivery run inline in the sending call) and the peer reads
// all 64 with the data plane's recvmmsg before the next batch. The time
// per batch covers both sides; cpu-ns/op is the process's CPU time (both
// cores: the runtime's spinning threads included).
//
//   - poll: the socket non-blocking in the runtime's poller (epoll), as
//     before 2026-12-03;
//   - blocking: the socket blocking, recvmmsg waits in the kernel.
//
// Privileged; run under the heavy lock.
func BenchmarkRawESPRecvVeth(b *testing.B) {
	a, peer, dst := vethPeers(b, "vdp-x")
	var s *rawESP
	must(b, a.Do(func() (err error) { s, err = openRawESP(true, false); return err }))
	defer s.Close()
	waitHop(b, s, dst)
	for _, tc := range []struct {
		name string
		poll bool
	}{{"poll", true}, {"blocking", false}} {
		b.Run(tc.name, func(b *testing.B) {
			var r *rawESP
			must(b, peer.Do(func() (err error) { r, err = openRawESP(false, tc.poll); return err }))
			defer r.Close()
			// A lost packet fails the benchmark instead of hanging it.
			r.rc.Control(func(fd uintptr) {
				must(b, unix.SetsockoptTimeval(int(fd), unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2}))
			})
			hdrs := make([]mmsghdr, rawBatch)
			iovs := make([]unix.Iovec, rawBatch)
			for i := range hdrs {
				buf := make([]byte, 2048)
				iovs[i].Base = &buf[0]
				iovs[i].SetLen(len(buf))
				hdrs[i].hdr.Iov = &iovs[i]
				hdrs[i].hdr.SetIovlen(1)
			}
			benchRecv(b, s, dst, func() (int, error) { return r.recvmmsg(hdrs) })
		})
	}
}

// benchRecv measures sending rawBatch packets to dst on s, each batch
// followed by calls of recv until it has returned that many.
func benchRecv(b *testing.B, s *rawESP, dst [4]byte, recv func() (int, error)) {
	cpu0 := cpuTime(b)
	benchRawSendThen(b, s, dst, func() {
		for got := 0; got < rawBatch; {
			n, err := recv()
			if err != nil {
				b.Fatalf("after %d of %d packets: %v", got, rawBatch, err)
			}
			got += n
		}
	})
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user and system time, in ns (the softirq work
// run inline in its system calls included).
func cpuTime(b *testing.B) int64 {
	var ru unix.Rusage
	must(b, unix.Getrusage(unix.RUSAGE_SELF, &ru))
	return ru.Utime.Nano() + ru.Stime.Nano()
}
