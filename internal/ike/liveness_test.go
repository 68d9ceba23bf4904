package ike

import (
	"fmt"
	"testing"

	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

// livenessNet is scaleNet's n established tunnels whose responder (B) is
// fed liveness checks written with the initiators' (A's) keys, as
// point-to-site clients send them: what the gateway does per check of an
// idle client, through HandlePacket.
type livenessNet struct {
	s      *scaleNet
	sas    []*ikeSA // A's IKE SAs (write the checks)
	nextID []uint32
	next   int // the tunnel of the next check (round robin)
}

func newLivenessNet(tb testing.TB, n int, ikeProposal string) *livenessNet {
	tb.Helper()
	ikeP, err := transform.ParseProposals(ikeProposal, false)
	if err != nil {
		tb.Fatal(err)
	}
	l := &livenessNet{s: newScaleNetWith(tb, n, ikeP)}
	for _, name := range l.s.names {
		sa := l.s.a.peers[name].sa
		if sa == nil || sa.state != stEstablished {
			tb.Fatalf("A: %s has no established IKE SA", name)
		}
		l.sas = append(l.sas, sa)
		l.nextID = append(l.nextID, sa.nextID)
	}
	return l
}

// checks returns n liveness checks (empty INFORMATIONAL requests), each
// in its own buffer, as B receives them: the tunnels in turn, each with
// its next message ID.
func (l *livenessNet) checks(tb testing.TB, n int) []Packet {
	tb.Helper()
	out := make([]Packet, n)
	for i := range out {
		k := l.next
		l.next = (l.next + 1) % len(l.sas)
		sa := l.sas[k]
		m := &message.Message{Header: sa.header(message.Informational, l.nextID[k], false)}
		b, err := m.EncodeProtected(sa.out)
		if err != nil {
			tb.Fatal(err)
		}
		l.nextID[k]++
		out[i] = Packet{Data: b, Local: sa.remote, Remote: sa.local}
	}
	return out
}

// answer hands one check to B and checks that one answer left.
func (l *livenessNet) answer(tb testing.TB, check Packet) {
	l.s.b.HandlePacket(l.s.now, check)
	if len(l.s.hb.sent) != 1 {
		tb.Fatalf("B sent %d datagrams for a liveness check, want 1 (the answer)", len(l.s.hb.sent))
	}
	l.s.hb.sent = l.s.hb.sent[:0]
}

// BenchmarkLivenessAnswer is the responder's CPU and allocations for one
// liveness check of an idle tunnel: decrypt, parse, find the SA, build,
// encrypt and hand over the answer, retime the SA. At 10,000 point-to-site
// clients the gateway answers ~370 of these a second, each for another
// tunnel: the 10,000-tunnel case visits them in turn, so that each check
// meets its SA's memory as cold as it is at that scale. AES-GCM is the
// point-to-site bench's client's choice, AES-CBC with HMAC Azure's
// default.
//
//	go test -run '^$' -bench LivenessAnswer -benchmem ./internal/ike/
func BenchmarkLivenessAnswer(b *testing.B) {
	for _, c := range []struct {
		n        int
		proposal string
	}{
		{1, "aes256gcm16-prfsha256-ecp256"},
		{1, "aes256-sha256-modp2048"},
		{10000, "aes256gcm16-prfsha256-ecp256"},
	} {
		b.Run(fmt.Sprintf("%s/%d", c.proposal, c.n), func(b *testing.B) {
			l := newLivenessNet(b, c.n, c.proposal)
			const batch = 4096
			var checks []Packet
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if i%batch == 0 {
					b.StopTimer()
					checks = l.checks(b, batch)
					b.StartTimer()
				}
				l.answer(b, checks[i%batch])
			}
		})
	}
}
