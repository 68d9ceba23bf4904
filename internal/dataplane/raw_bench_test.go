package dataplane

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// BenchmarkRawESPSend measures the raw ESP send path (rawFrame and one
// sendmmsg per 64 packets of 1,424 bytes, to the loopback of a fresh
// namespace) with the outer header written by us (IP_HDRINCL, the default)
// and by the kernel (the option off: ip_append_data and its software
// checksum). Privileged; run under the heavy lock.
func BenchmarkRawESPSend(b *testing.B) {
	nstest.RequirePriv(b)
	ns := nstest.New(b, "vdp-rb")
	for _, tc := range []struct {
		name    string
		hdrincl bool
	}{{"hdrincl", true}, {"kernel-header", false}} {
		b.Run(tc.name, func(b *testing.B) {
			var r *rawESP
			must(b, ns.Do(func() (err error) {
				r, err = openRawESP(false)
				return err
			}))
			defer r.Close()
			if !r.hdrincl {
				b.Skip("IP_HDRINCL unavailable")
			}
			if !tc.hdrincl {
				r.rc.Control(func(fd uintptr) {
					must(b, unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_HDRINCL, 0))
				})
				r.hdrincl = false
			}
			// Received copies fill the socket's queue and are dropped
			// by the kernel; a small queue keeps that cheap.
			r.rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) })
			benchRawSend(b, r, [4]byte{127, 0, 0, 1})
		})
	}
}

// rawBatch and rawSize are the benchmarks' batch: 64 ESP packets of 1,424
// bytes.
const rawBatch, rawSize = 64, 1424

// rawElems returns rawBatch elements holding a rawSize-byte packet each.
func rawElems() []*element {
	elems := make([]*element, rawBatch)
	for i := range elems {
		e := &element{buf: new([bufSize]byte)}
		e.pkt = e.buf[txOffset-24 : txOffset-24+rawSize]
		elems[i] = e
	}
	return elems
}

// benchRawSend measures r.send of rawBatch packets to dst.
func benchRawSend(b *testing.B, r *rawESP, dst [4]byte) {
	elems := rawElems()
	bufs := make([][]byte, 0, rawBatch)
	dsts := make([][4]byte, 0, rawBatch)
	b.SetBytes(rawBatch * rawSize)
	b.ReportAllocs()
	for b.Loop() {
		bufs, dsts = bufs[:0], dsts[:0]
		for _, e := range elems {
			bufs = append(bufs, r.rawFrame(e, dst))
			dsts = append(dsts, dst)
		}
		if err := r.send(bufs, dsts); err != nil {
			b.Fatal(err)
		}
	}
}
