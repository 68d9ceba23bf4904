package dataplane

import (
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// BenchmarkRawESPSendVeth compares two ways of sending 64 ESP packets of
// 1,424 bytes to a peer namespace over a veth pair (the peer's IP input
// runs inline in the sending call, as between the benchmark's gateways):
//
//   - raw: the data plane's raw socket (IP_HDRINCL, one sendmmsg): route
//     lookup, ip_output, neighbour, qdisc per packet;
//   - packet: the data plane's AF_PACKET send path (rawpacket.go): a
//     SOCK_DGRAM socket with PACKET_QDISC_BYPASS, the outer IPv4 header
//     completed by us and the next hop's MAC given per message (one
//     sendmmsg): none of the IP output path.
//
// Privileged; run under the heavy lock.
func BenchmarkRawESPSendVeth(b *testing.B) {
	nstest.RequirePriv(b)
	a, peer := nstest.New(b, "vdp-sa"), nstest.New(b, "vdp-sb")
	nstest.Link(b, a, "wan0", pfx("192.0.2.1/24"), peer, "wan0", pfx("192.0.2.2/24"))
	a.MustRun(b, "ping", "-c", "1", "-W", "2", "192.0.2.2") // resolve the neighbour
	const batch = rawBatch
	dst := [4]byte{192, 0, 2, 2}

	b.Run("raw", func(b *testing.B) {
		var r *rawESP
		must(b, a.Do(func() (err error) { r, err = openRawESP(false); return err }))
		defer r.Close()
		defer checkReceived(b, peer)()
		benchRawSend(b, r, dst)
	})

	b.Run("packet", func(b *testing.B) {
		var r *rawESP
		must(b, a.Do(func() (err error) { r, err = openRawESP(true); return err }))
		defer r.Close()
		waitHop(b, r, dst)
		defer checkReceived(b, peer)()
		sent := r.pkt.sent.Load()
		benchRawSend(b, r, dst)
		if got := r.pkt.sent.Load() - sent; got < uint64(b.N*batch) {
			b.Errorf("%d packets left on AF_PACKET, want %d", got, b.N*batch)
		}
	})
}

// waitHop asks r's AF_PACKET path for the hop to dst and waits until it is
// resolved.
func waitHop(tb testing.TB, r *rawESP, dst [4]byte) {
	tb.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if h := (*r.pkt.hops.Load())[dst]; h != nil && h.ok {
			return
		}
		select {
		case r.pkt.want <- dst:
		default:
		}
	}
	h := (*r.pkt.hops.Load())[dst]
	tb.Fatalf("no AF_PACKET hop to %v: %+v", dst, h)
}

// checkReceived returns a function that fails the benchmark unless the
// peer's IP input took b.N batches of rawBatch packets without header
// errors (a well-formed header) since checkReceived was called.
func checkReceived(b *testing.B, peer *nstest.NS) func() {
	in, bad := ipCounter(b, peer, "InReceives"), ipCounter(b, peer, "InHdrErrors")
	return func() {
		n := b.N * rawBatch
		gotIn, gotBad := ipCounter(b, peer, "InReceives")-in, ipCounter(b, peer, "InHdrErrors")-bad
		if gotIn < uint64(n) || gotBad != 0 {
			b.Errorf("peer received %d packets (%d header errors), want >= %d", gotIn, gotBad, n)
		}
	}
}

// ipCounter returns the IP counter key of ns (/proc/net/snmp).
func ipCounter(b *testing.B, ns *nstest.NS, key string) uint64 {
	var keys []string
	for _, line := range strings.Split(ns.MustRun(b, "cat", "/proc/net/snmp"), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Ip:" {
			continue
		}
		if keys == nil {
			keys = f
			continue
		}
		for i, k := range keys {
			if k == key && i < len(f) {
				n, _ := strconv.ParseUint(f[i], 10, 64)
				return n
			}
		}
	}
	b.Fatalf("no Ip %s in /proc/net/snmp", key)
	return 0
}

// ipv4HeaderSum is the ones'-complement sum of h (0xffff for a header
// with a correct checksum).
func ipv4HeaderSum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
