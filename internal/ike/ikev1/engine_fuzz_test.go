package ikev1

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/isakmp"
	"github.com/vpngw/vpngw/internal/transform"
)

// FuzzEngine feeds an arbitrary datagram to either engine of a two-engine
// exchange at any point of it (after stage deliveries: Main Mode, Quick
// Modes, established, rekeying), then lets the exchange run on for three
// minutes of fake time (retransmissions, rekeys, re-authentication, DPD).
// HandlePacket must never panic, the engines must settle (no busy
// deadline), and what each engine believes installed must be what its
// data plane has.
//
// Most datagrams from the peer fail decryption or the HASH, so with
// flags&2 the fuzzer's bytes are sealed with the receiving SA's own keys
// as the payload chain after a valid HASH(1) (or HASH(2) of a Quick Mode
// the receiver started): that reaches the Quick Mode and informational
// handlers with arbitrary authenticated content. flags&1 picks the
// receiver (a, the initiator, or b); flags>>2&3 the exchange (0
// informational, 1 Quick Mode, 2 Main Mode under the phase 1 IV chain);
// flags&16 answers a Quick Mode in progress.
func FuzzEngine(f *testing.F) {
	for i, d := range fuzzSeedDatagrams(f) {
		f.Add(uint8(i), uint8(i&1), d)
	}
	for _, ps := range fuzzSeedChains() {
		for _, flags := range []uint8{2, 3, 2 | 4, 3 | 4, 3 | 4 | 16} {
			f.Add(uint8(40), flags, ps)
			f.Add(uint8(9), flags, ps)
		}
	}
	f.Fuzz(func(t *testing.T, stage, flags uint8, data []byte) {
		n := fuzzNet(t)
		for i := 0; i < int(stage%48) && n.step(); i++ {
		}
		to, from := n.a, n.b
		if flags&1 != 0 {
			to, from = n.b, n.a
		}
		pkt := data
		if flags&2 != 0 {
			pkt = sealFuzz(to.e, flags, data)
		}
		for _, port := range []uint16{500, 4500}[:1+int(flags>>5&1)] {
			to.e.HandlePacket(n.now, ike.Packet{Data: pkt, Local: netip.AddrPortFrom(to.addr, port), Remote: netip.AddrPortFrom(from.addr, port)})
			fuzzConsistent(t, to)
		}
		n.run(3 * time.Minute)
		fuzzConsistent(t, n.a)
		fuzzConsistent(t, n.b)
	})
}

// fuzzNet is a testNet with deterministic randomness and cheap DH
// (Curve25519), a policy-based 1 × 2 pair set (two Quick Modes), PFS,
// short lifetimes (rekeys and re-authentication within the run) and DPD.
func fuzzNet(tb testing.TB) *testNet {
	n := &testNet{now: time.Unix(1_700_000_000, 0)}
	n.t, _ = tb.(*testing.T)
	mk := func(a netip.Addr, seed byte) *side {
		h := newTestHost()
		return &side{e: New(Config{RekeyGrace: 2 * time.Second, Rand: fuzzRand(seed)}, h, nil), h: h, addr: a}
	}
	n.a, n.b = mk(addrA, 1), mk(addrB, 2)
	ikeP, _ := transform.ParseProposals("aes128-sha256-curve25519,3des-sha1-curve25519", false)
	espP, _ := transform.ParseProposals("aes128-sha256-curve25519,aes256gcm16", true)
	pa := peerCfg(addrA, addrB, "10.1.0.0/16", "10.2.0.0/16", ike.ModeDefault)
	pb := peerCfg(addrB, addrA, "10.2.0.0/16", "10.1.0.0/16", ike.ModeResponderOnly)
	for _, p := range []*ike.Peer{&pa, &pb} {
		p.PolicyBased = true
		p.IKEProposals, p.ESPProposals = ikeP, espP
		p.IKELifetime, p.ChildLifetime = 2*time.Minute, time.Minute
		p.DPDTimeout = 30 * time.Second
	}
	pa.RemoteTS = append(pa.RemoteTS, netip.MustParsePrefix("10.3.0.0/24"))
	pb.LocalTS = append(pb.LocalTS, netip.MustParsePrefix("10.3.0.0/24"))
	if err := n.a.e.SetPeers(n.now, []ike.Peer{pa}); err != nil {
		tb.Fatal(err)
	}
	if err := n.b.e.SetPeers(n.now, []ike.Peer{pb}); err != nil {
		tb.Fatal(err)
	}
	return n
}

// fuzzRand is a deterministic random source, so that a crashing input
// reproduces with the same cookies, SPIs and nonces.
func fuzzRand(seed byte) io.Reader { return rand.NewChaCha8([32]byte{seed}) }

// step delivers the oldest datagram in flight, or runs the timers when
// none is; it reports false once nothing is left to do.
func (n *testNet) step() bool {
	for _, s := range []*side{n.a, n.b} {
		other := n.b
		if s == n.b {
			other = n.a
		}
		if len(s.h.sent) > 0 {
			p := s.h.sent[0]
			s.h.sent = s.h.sent[1:]
			other.e.HandlePacket(n.now, ike.Packet{Data: p.Data, Local: p.Remote, Remote: p.Local})
			return true
		}
	}
	next := n.a.e.NextDeadline()
	if d := n.b.e.NextDeadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
		next = d
	}
	if next.IsZero() {
		return false
	}
	if next.After(n.now) {
		n.now = next
	}
	n.a.e.Tick(n.now)
	n.b.e.Tick(n.now)
	return true
}

// sealFuzz wraps data (first byte: the type of the payload after HASH;
// the rest: the payload chain) in a message protected with the keys of
// one of e's phase 1 SAs, with a HASH that verifies.
func sealFuzz(e *Engine, flags uint8, data []byte) []byte {
	var s *sa
	for _, x := range e.sortedSAs() {
		if x.blk != nil {
			s = x
		}
	}
	if s == nil || len(data) == 0 {
		return data
	}
	next, inner := data[0], data[1:]
	ex := isakmp.ExchInformational
	mid := binary.BigEndian.Uint32(append(make([]byte, 0, 4), 0x7f, 1, 2, byte(len(data))))
	iv := s.phase2IV(mid)
	var ni []byte
	switch flags >> 2 & 3 {
	case 1:
		ex = isakmp.ExchQuickMode
		if flags&16 != 0 {
			for _, q := range s.qms {
				if q.initiator {
					mid, iv, ni = q.mid, q.iv, q.ni
					break
				}
			}
		}
	case 2:
		ex, mid, iv = isakmp.ExchMainMode, 0, s.iv
	}
	hash := s.prf.Sum(nil, s.keys.A, be32(mid), ni, inner)
	pt := append([]byte{next, 0, byte((len(hash) + 4) >> 8), byte(len(hash) + 4)}, hash...)
	pt = append(pt, inner...)
	ct, _, err := isakmp.Encrypt(s.blk, iv, pt)
	if err != nil {
		return data
	}
	b := binary.BigEndian.AppendUint64(nil, s.ci)
	b = binary.BigEndian.AppendUint64(b, s.cr)
	b = append(b, byte(isakmp.PayloadHash), isakmp.Version, byte(ex), isakmp.FlagEncryption)
	b = binary.BigEndian.AppendUint32(b, mid)
	b = binary.BigEndian.AppendUint32(b, uint32(isakmp.HeaderLen+len(ct)))
	return append(b, ct...)
}

// fuzzConsistent checks that the engine's Child SAs are exactly those its
// data plane has installed, and that its SA index is sound.
func fuzzConsistent(t *testing.T, s *side) {
	t.Helper()
	seen := map[uint32]bool{}
	for _, p := range s.e.peers {
		for _, c := range p.children {
			if s.h.children[c.InSPI] == nil || seen[c.InSPI] {
				t.Fatalf("engine's Child SA %08x not installed (or twice)", c.InSPI)
			}
			seen[c.InSPI] = true
		}
		if p.sa != nil && s.e.sas[p.sa.ci] != p.sa {
			t.Fatal("current SA not indexed")
		}
	}
	for in := range s.h.children {
		if !seen[in] {
			// A responder's SA awaiting HASH(3) is installed inbound first.
			pending := false
			for _, x := range s.e.sas {
				for _, q := range x.qms {
					pending = pending || (q.child != nil && q.child.InSPI == in)
				}
			}
			if !pending {
				t.Fatalf("installed Child SA %08x unknown to the engine", in)
			}
		}
	}
	for ci, x := range s.e.sas {
		if x.ci != ci || x.state == stDead {
			t.Fatalf("SA index: %016x -> %016x state %d", ci, x.ci, x.state)
		}
	}
}

// fuzzSeedDatagrams are the datagrams of a complete exchange in fuzzNet.
func fuzzSeedDatagrams(f *testing.F) [][]byte {
	n := fuzzNet(f)
	var out [][]byte
	for i := 0; i < 48; i++ {
		for _, s := range []*side{n.a, n.b} {
			for _, p := range s.h.sent {
				out = append(out, p.Data)
			}
		}
		if !n.step() {
			break
		}
	}
	if len(out) == 0 {
		f.Fatal("no seed datagrams")
	}
	return out
}

// fuzzSeedChains are payload chains (first byte: the first payload's
// type) for sealFuzz: a Quick Mode proposal, a Delete of each kind,
// R-U-THERE, INITIAL-CONTACT and an error notify.
func fuzzSeedChains() [][]byte {
	sub := func(p string) *isakmp.ID {
		pr := netip.MustParsePrefix(p)
		return tsID(ike.PrefixTS(pr))
	}
	qm := []isakmp.Payload{
		&isakmp.SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SituationIdentity, Proposals: []isakmp.Proposal{{Num: 1, Protocol: isakmp.ProtoESP,
			SPI: []byte{1, 2, 3, 4}, Transforms: []isakmp.Transform{qmSuite{transform.Encr{ID: transform.EncrAESGCM16, KeyBits: 256}, transform.IntegNone, transform.DHNone}.transform(1, qmLife{seconds: time.Hour})}}}},
		&isakmp.Data{T: isakmp.PayloadNonce, Data: make([]byte, 32)},
		sub("10.2.0.0/16"), sub("10.1.0.0/16"),
	}
	var out [][]byte
	for _, ps := range [][]isakmp.Payload{
		qm,
		{&isakmp.Delete{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoESP, SPIs: [][]byte{{1, 2, 3, 4}}}},
		{&isakmp.Delete{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoISAKMP, SPIs: [][]byte{make([]byte, 16)}}},
		{&isakmp.Notification{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoISAKMP, SPI: make([]byte, 16), Notify: isakmp.NotifyRUThere, Data: []byte{0, 0, 0, 1}}},
		{&isakmp.Notification{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoISAKMP, SPI: make([]byte, 16), Notify: isakmp.NotifyInitialContact}},
		{&isakmp.Notification{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtoESP, Notify: isakmp.NotifyNoProposalChosen}},
	} {
		body, first, err := isakmp.EncodePayloads(ps)
		if err != nil {
			panic(err)
		}
		out = append(out, append([]byte{byte(first)}, body...))
	}
	return out
}
