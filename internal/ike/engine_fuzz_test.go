package ike

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

// Fuzz targets for the engine: Engine.HandlePacket with arbitrary datagrams
// must never panic, and the engine's bookkeeping (SA and Child SA indexes,
// the half-open count, what the data plane has installed) must stay
// consistent. Datagrams from the peer mostly fail authentication, so the
// harnesses also seal fuzzer-provided payload bytes with the receiving
// SA's own keys: that reaches the exchange handlers with arbitrary
// authenticated content. Seed corpora: testdata/fuzz/<Name>/ (strongSwan
// captures of ike/message/testdata/strongswan and datagrams of
// in-memory exchanges), rewritten by TestWriteEngineFuzzSeeds.

// fuzzRand is a deterministic random source, so that a crashing input
// reproduces with the same SPIs and nonces.
func fuzzRand(seed byte) io.Reader { return rand.NewChaCha8([32]byte{seed}) }

// fuzzNet is a testNet for fuzzing: deterministic randomness, no
// make-before-break assertion (fuzzed exchanges may legitimately break
// traffic), and A (the initiator) uses X25519 so that each iteration's
// handshake is cheap; B (the responder) keeps its default proposals.
func fuzzNet(t *testing.T) *testNet {
	n := newTestNet(t, Config{Rand: fuzzRand(1)}, Config{Rand: fuzzRand(2)})
	n.checkTraffic = false
	return n
}

func fuzzPeers(t *testing.T) (Peer, Peer) {
	pa, pb := basicPeers()
	pa.IKEProposals = mustProposals(t, "aes256gcm16-prfsha256-curve25519,aes128-sha256-curve25519", false)
	pa.ESPProposals = mustProposals(t, "aes256gcm16-curve25519,aes128-sha256", true)
	return pa, pb
}

// ikeHeader encodes an IKE header for a message of total length n.
func ikeHeader(h message.Header, np message.PayloadType, n int) []byte {
	b := make([]byte, message.HeaderLen, n)
	binary.BigEndian.PutUint64(b[0:], h.SPIi)
	binary.BigEndian.PutUint64(b[8:], h.SPIr)
	b[16], b[17], b[18], b[19] = byte(np), 0x20, byte(h.Exchange), h.Flags
	binary.BigEndian.PutUint32(b[20:], h.MessageID)
	binary.BigEndian.PutUint32(b[24:], uint32(n))
	return b
}

// sealPlain builds a protected message by hand: header, SK payload with
// next payload np, and plain (the inner payloads, any bytes) with minimal
// padding, sealed with ci (a cipher with the receiver's inbound keys).
func sealPlain(ci transform.Cipher, h message.Header, np message.PayloadType, plain []byte) []byte {
	pad := 0
	if a := ci.Align(); a > 1 {
		pad = (a - (len(plain)+1)%a) % a
	}
	pt := append(append(bytes.Clone(plain), make([]byte, pad)...), byte(pad))
	total := message.HeaderLen + 4 + ci.IVLen() + len(pt) + ci.ICVLen()
	b := ikeHeader(h, message.PayloadSK, total)
	b = append(b, byte(np), 0, byte((total-message.HeaderLen)>>8), byte(total-message.HeaderLen))
	aad := bytes.Clone(b)
	iv := bytes.Repeat([]byte{byte(len(plain))}, ci.IVLen())
	b = append(b, iv...)
	return ci.Seal(b, iv, pt, aad, nil)
}

// sealFragments splits plain into k SKF fragments (RFC 7383), each sealed
// with ci; the first carries np.
func sealFragments(ci transform.Cipher, h message.Header, np message.PayloadType, plain []byte, k int) [][]byte {
	k = max(1, min(k, len(plain)))
	var out [][]byte
	size := (len(plain) + k - 1) / max(k, 1)
	for i := 0; i < k; i++ {
		chunk := plain[min(i*size, len(plain)):min((i+1)*size, len(plain))]
		pad := 0
		if a := ci.Align(); a > 1 {
			pad = (a - (len(chunk)+1)%a) % a
		}
		pt := append(append(bytes.Clone(chunk), make([]byte, pad)...), byte(pad))
		total := message.HeaderLen + 8 + ci.IVLen() + len(pt) + ci.ICVLen()
		b := ikeHeader(h, message.PayloadSKF, total)
		first := byte(0)
		if i == 0 {
			first = byte(np)
		}
		b = append(b, first, 0, byte((total-message.HeaderLen)>>8), byte(total-message.HeaderLen))
		b = binary.BigEndian.AppendUint16(b, uint16(i+1))
		b = binary.BigEndian.AppendUint16(b, uint16(k))
		aad := bytes.Clone(b)
		iv := bytes.Repeat([]byte{byte(i)}, ci.IVLen())
		b = append(b, iv...)
		out = append(out, ci.Seal(b, iv, pt, aad, nil))
	}
	return out
}

// fixAuth replaces the AUTH data of a protected message that the receiving
// SA would check with want(id), where id is the sender's identity
// payload, so that fuzzed IKE_AUTH messages get past authentication. It
// returns msg unchanged when it does not decode or lacks ID or AUTH.
func fixAuth(msg []byte, in *message.Crypto, idType message.PayloadType, want func(Identity) []byte) []byte {
	m, err := message.Decode(msg, in)
	if err != nil {
		return msg
	}
	var id *message.ID
	var auth *message.Auth
	for _, p := range m.Payloads {
		switch q := p.(type) {
		case *message.ID:
			if p.PayloadType() == idType && id == nil {
				id = q
			}
		case *message.Auth:
			if auth == nil {
				auth = q
			}
		}
	}
	if id == nil || auth == nil {
		return msg
	}
	auth.Method = message.AuthSharedKeyMIC
	auth.Data = want(idOf(id))
	b, err := m.EncodeProtected(&message.Crypto{Cipher: in.Cipher, Rand: fuzzRand(9)})
	if err != nil {
		return msg
	}
	return b
}

// checkEngine asserts the engine's internal consistency and that its host
// (the data plane) holds exactly the installed Child SAs.
func checkEngine(t *testing.T, s *side) {
	t.Helper()
	e := s.e
	half := 0
	for spi, sa := range e.sas {
		if sa.spiLocal() != spi {
			t.Fatalf("%s: SA %s filed under SPI %s", s.name, spiHex(sa.spiLocal()), spiHex(spi))
		}
		if sa.state == stDead {
			t.Fatalf("%s: dead SA %s still indexed", s.name, spiHex(spi))
		}
		if sa.halfOpen {
			half++
		}
		for cspi, c := range sa.children {
			if c.sa != sa || e.children[cspi] != c {
				t.Fatalf("%s: Child SA %08x of SA %s not indexed consistently", s.name, cspi, spiHex(spi))
			}
		}
	}
	if half != e.halfOpen || e.halfOpen < 0 {
		t.Fatalf("%s: half-open count %d, %d SAs half open", s.name, e.halfOpen, half)
	}
	installed := 0
	for spi, c := range e.children {
		if e.sas[c.sa.spiLocal()] != c.sa || c.sa.children[spi] != c {
			t.Fatalf("%s: Child SA %08x belongs to an SA that is gone", s.name, spi)
		}
		if c.state != chPending {
			installed++
			if s.h.children[spi] == nil {
				t.Fatalf("%s: Child SA %08x (state %d) is not installed in the data plane", s.name, spi, c.state)
			}
		}
	}
	if installed != len(s.h.children) {
		t.Fatalf("%s: data plane holds %d Child SAs, engine %d", s.name, len(s.h.children), installed)
	}
	for p := range e.peers {
		if sa := e.peers[p].sa; sa != nil && e.sas[sa.spiLocal()] != sa {
			t.Fatalf("%s: peer %s points at a removed IKE SA", s.name, p)
		}
	}
}

// checkSent asserts that everything s sent is an IKE datagram.
func checkSent(t *testing.T, s *side) {
	t.Helper()
	for _, p := range s.h.sent {
		if _, err := message.ParseHeader(p.Data); err != nil {
			t.Fatalf("%s sent a malformed datagram: %v", s.name, err)
		}
		if !p.Remote.IsValid() {
			t.Fatalf("%s sent to an invalid address", s.name)
		}
	}
}

// record reads one record [op, len_hi, len_lo, data...] from *in.
func record(in *[]byte) (op byte, data []byte, ok bool) {
	b := *in
	if len(b) < 3 {
		return 0, nil, false
	}
	op, n := b[0], int(b[1])<<8|int(b[2])
	b = b[3:]
	data = b[:min(n, len(b))]
	*in = b[len(data):]
	return op, data, true
}

// rec encodes one record.
func rec(op byte, data []byte) []byte {
	return append([]byte{op, byte(len(data) >> 8), byte(len(data))}, data...)
}

// patchHeader makes d's header length field match and, with spiI/spiR
// nonzero, sets the SPIs: raw datagrams then reach the SA lookup.
func patchHeader(d []byte, spiI, spiR uint64) []byte {
	if len(d) < message.HeaderLen {
		return d
	}
	d = bytes.Clone(d)
	if spiI != 0 {
		binary.BigEndian.PutUint64(d[0:], spiI)
	}
	if spiR != 0 {
		binary.BigEndian.PutUint64(d[8:], spiR)
	}
	binary.BigEndian.PutUint32(d[24:], uint32(len(d)))
	return d
}

// FuzzEngineHandshake fuzzes the IKE_SA_INIT and IKE_AUTH handlers. The
// first input byte picks the phase (bit 2: B demands cookies once one SA
// is half open), the rest are records [op, len, data]:
//
//	0  responder: each record's data is a datagram to B (a fresh engine
//	   with a configured ResponderOnly peer). op bit 0: on port 4500;
//	   bit 1: with B's responder SPI (of the last IKE_SA_INIT it
//	   answered) and a matching length field; bit 2: from an address no
//	   peer has; bits 4-7: seconds to advance before the next record.
//	1  initiator: A has sent IKE_SA_INIT; each datagram is delivered to A
//	   as the response (op bit 1: with A's SPI and a matching length).
//	2  responder IKE_AUTH: after a real IKE_SA_INIT exchange, each
//	   record's data is [next payload, inner payloads...] that the
//	   harness seals with the SA's keys as A's IKE_AUTH request (op bit 1:
//	   with an AUTH that verifies; bit 2: as 2 or 3 SKF fragments; bit 3:
//	   message ID 0 instead of the expected one).
//	3  initiator IKE_AUTH: the same as B's IKE_AUTH response to A.
//
// After the records, the two engines exchange whatever is left and run
// their timers for an hour; the engines must stay consistent throughout.
func FuzzEngineHandshake(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 1 {
			return
		}
		in0, mode := in[0], in[0]%4
		in = in[1:]
		n := fuzzNet(t)
		pa, pb := fuzzPeers(t)
		must := func(err error) {
			if err != nil {
				t.Fatal(err)
			}
		}
		must(n.b.e.SetPeers(n.now, []Peer{pb}))
		if in0&4 != 0 {
			// Demand cookies from the second half-open SA on (§2.6).
			n.b.e.cfg.CookieThreshold = 1
		}
		switch mode {
		case 0:
			var respSPI uint64
			for {
				op, d, ok := record(&in)
				if !ok {
					break
				}
				local, remote := netip.AddrPortFrom(addrB, 500), netip.AddrPortFrom(addrA, 500)
				if op&1 != 0 {
					local, remote = netip.AddrPortFrom(addrB, 4500), netip.AddrPortFrom(addrA, 4500)
				}
				if op&4 != 0 {
					remote = netip.MustParseAddrPort("198.51.100.7:500")
				}
				if op&2 != 0 {
					d = patchHeader(d, 0, respSPI)
				}
				n.b.e.HandlePacket(n.now, Packet{Data: d, Local: local, Remote: remote})
				checkSent(t, n.b)
				for _, p := range n.b.h.sent {
					if h, err := message.ParseHeader(p.Data); err == nil && h.Exchange == message.IKESAInit && h.SPIr != 0 {
						respSPI = h.SPIr
					}
				}
				n.b.h.sent = nil
				checkEngine(t, n.b)
				n.now = n.now.Add(time.Duration(op>>4) * time.Second)
				n.b.e.Tick(n.now)
				checkEngine(t, n.b)
			}
		case 1:
			must(n.a.e.SetPeers(n.now, []Peer{pa}))
			var sa *ikeSA
			for _, s := range n.a.e.sas {
				sa = s
			}
			n.a.h.sent = nil
			for {
				op, d, ok := record(&in)
				if !ok {
					break
				}
				if op&2 != 0 && sa != nil {
					d = patchHeader(d, sa.spiI, 0)
				}
				n.a.e.HandlePacket(n.now, Packet{Data: d, Local: netip.AddrPortFrom(addrA, 500), Remote: netip.AddrPortFrom(addrB, 500)})
				checkSent(t, n.a)
				checkEngine(t, n.a)
				n.a.h.sent = nil
			}
		case 2, 3:
			must(n.a.e.SetPeers(n.now, []Peer{pa}))
			// IKE_SA_INIT request to B, its response to A; A's IKE_AUTH
			// request is then queued.
			n.collect()
			req := n.queue[0]
			n.queue = nil
			n.b.e.HandlePacket(n.now, Packet{Data: req.Data, Local: req.Remote, Remote: req.Local})
			n.collect()
			if len(n.queue) != 1 {
				t.Fatalf("IKE_SA_INIT: B sent %d datagrams", len(n.queue))
			}
			resp := n.queue[0]
			n.queue = nil
			n.a.e.HandlePacket(n.now, Packet{Data: resp.Data, Local: resp.Remote, Remote: resp.Local})
			n.collect()
			var saA, saB *ikeSA
			for _, s := range n.a.e.sas {
				saA = s
			}
			for _, s := range n.b.e.sas {
				saB = s
			}
			if saA == nil || saB == nil || saA.state != stAuthSent || saB.state != stInitDone {
				t.Fatal("IKE_SA_INIT did not complete")
			}
			authReq := n.queue
			n.queue = nil
			// The side that receives the fuzzed message, and how its
			// AUTH is computed.
			recv, sa, sender := n.b, saB, n.a
			want := func(id Identity) []byte {
				return pskAuth(saB.prf, pb.PSK, saB.initReq, saB.nr, saB.keys.SKpi, id)
			}
			idType, hdrFlags, msgID := message.PayloadIDi, byte(message.FlagInitiator), uint32(1)
			if mode == 3 {
				// B answers A's real IKE_AUTH; A gets the fuzzed response.
				for _, p := range authReq {
					n.b.e.HandlePacket(n.now, Packet{Data: p.Data, Local: p.Remote, Remote: p.Local})
				}
				n.b.h.sent = nil
				recv, sa, sender = n.a, saA, n.b
				want = func(id Identity) []byte {
					return pskAuth(saA.prf, pa.PSK, saA.initResp, saA.ni, saA.keys.SKpr, id)
				}
				idType, hdrFlags = message.PayloadIDr, message.FlagResponse
			}
			for {
				op, d, ok := record(&in)
				if !ok || len(d) < 1 {
					break
				}
				if sa.in == nil {
					break // the SA is gone
				}
				h := message.Header{SPIi: sa.spiI, SPIr: sa.spiR, Exchange: message.IKEAuth, Flags: hdrFlags, MessageID: msgID}
				if op&8 != 0 {
					h.MessageID = 0
				}
				np := message.PayloadType(d[0])
				var dgs [][]byte
				if op&4 != 0 {
					dgs = sealFragments(sa.in.Cipher, h, np, d[1:], 2+int(op>>4)%2)
				} else {
					msg := sealPlain(sa.in.Cipher, h, np, d[1:])
					if op&2 != 0 {
						msg = fixAuth(msg, sa.in, idType, want)
					}
					dgs = [][]byte{msg}
				}
				for _, dg := range dgs {
					recv.e.HandlePacket(n.now, Packet{Data: dg, Local: sa.local, Remote: sa.remote})
				}
				checkSent(t, recv)
				checkEngine(t, recv)
				checkEngine(t, sender)
			}
			n.queue = nil
			recv.h.sent = nil
			sender.h.sent = nil
		}
		// Whatever happened, both engines must wind down cleanly.
		n.drop = func(p Packet) bool { return p.Remote.Addr() != addrA && p.Remote.Addr() != addrB }
		n.run(time.Hour)
		checkEngine(t, n.a)
		checkEngine(t, n.b)
		for _, s := range []*side{n.a, n.b} {
			for _, sa := range s.e.sas {
				half := sa.state == stInitDone || sa.state == stInitSent || sa.state == stAuthSent
				if half && n.now.Sub(sa.created) > 2*time.Minute {
					t.Fatalf("%s: SA %s still %s after %v", s.name, spiHex(sa.spiLocal()), sa.state, n.now.Sub(sa.created))
				}
			}
		}
	})
}

// fuzzSAs lists the IKE SAs of s that have keys, in SPI order.
func fuzzSAs(s *side) []*ikeSA {
	var out []*ikeSA
	for _, sa := range s.e.sortedSAs() {
		if sa.in != nil {
			out = append(out, sa)
		}
	}
	return out
}

// fuzzAction runs one operator or timer action on side s.
func fuzzAction(n *testNet, s *side, peer string, a byte) {
	switch a % 8 {
	case 0:
		_ = s.e.Rekey(n.now, peer, false)
	case 1:
		_ = s.e.Rekey(n.now, peer, true)
	case 2:
		_ = s.e.Terminate(n.now, peer)
	case 3, 4:
		if p := s.e.peers[peer]; p != nil && p.sa != nil {
			for _, c := range p.sa.sortedChildren() {
				if a%8 == 3 {
					s.e.SoftLimit(n.now, c.inSPI)
				} else {
					s.e.HardLimit(n.now, c.inSPI)
				}
				break
			}
		}
	case 5:
		// Silence: liveness checks start.
		n.now = n.now.Add(time.Duration(a>>3+1) * 10 * time.Second)
		s.e.Tick(n.now)
	case 6:
		_ = s.e.Initiate(n.now, peer)
	case 7:
		// Reconfigure: policy-based with two remote prefixes.
		pa, pb := basicPeers()
		p := pb
		if s == n.a {
			p = pa
		}
		p.PolicyBased = true
		p.RemoteTS = append(p.RemoteTS, netip.MustParsePrefix("10.9.0.0/24"))
		_ = s.e.SetPeers(n.now, []Peer{p})
	}
}

// FuzzEngineEstablished fuzzes an engine (B, the responder) with an
// established IKE SA and Child SA to A. The input is records [op, len,
// data...]; op&7 selects:
//
//	0  a datagram from A to B; op bit 3: with the SPIs of one of B's SAs
//	   and a matching length, bit 4: and the message ID B expects next
//	1  a request from A: data is [exchange, next payload, inner...]; the
//	   harness seals the inner payloads with the keys of one of B's SAs
//	   (op>>6 picks it) and B's expected message ID (op bit 3: the
//	   previous one, a retransmission; bit 4: as 2 SKF fragments; bit 5:
//	   from port 4500)
//	2  a response from A to B's outstanding request on that SA: data is
//	   [next payload, inner...] (op bit 4: as 2 SKF fragments)
//	3  an action of B: data[0] picks rekey of the Child SAs or the IKE
//	   SA, terminate, soft or hard Child SA limit, silence (DPD),
//	   initiate, reconfigure
//	4  the same action on A (its requests are then in flight)
//	5  deliver everything in flight between A and B, both ways
//	6  corrupt one of A's datagrams in flight (data: [which, offset,
//	   bytes to XOR in...]) and deliver A's datagrams to B; with op bit 3
//	   (or short data), lose everything in flight instead
//	7  advance the clock by data[0] seconds and run the timers
//
// Afterwards both engines run for ten minutes of simulated time (past
// every retransmission, half-open and grace timer) with every datagram
// delivered. Both must stay consistent throughout.
func FuzzEngineEstablished(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		n := fuzzNet(t)
		pa, pb := fuzzPeers(t)
		n.setPeers([]Peer{pa}, []Peer{pb})
		n.run(time.Second)
		if !n.a.e.Established("to-b") || !n.b.e.Established("to-a") {
			t.Fatal("not established")
		}
		check := func() {
			t.Helper()
			checkSent(t, n.a)
			checkSent(t, n.b)
			checkEngine(t, n.a)
			checkEngine(t, n.b)
		}
		for {
			op, d, ok := record(&in)
			if !ok {
				break
			}
			sas := fuzzSAs(n.b)
			var sa *ikeSA
			if len(sas) > 0 {
				sa = sas[int(op>>6)%len(sas)]
			}
			local, remote := netip.AddrPortFrom(addrB, 500), netip.AddrPortFrom(addrA, 500)
			if sa != nil {
				local, remote = sa.local, sa.remote
			}
			// Messages from A: the I flag when A is the SA's original
			// initiator.
			var flags byte
			if sa != nil && !sa.initiator {
				flags = message.FlagInitiator
			}
			deliver := func(dgs ...[]byte) {
				for _, dg := range dgs {
					n.b.e.HandlePacket(n.now, Packet{Data: dg, Local: local, Remote: remote})
				}
			}
			switch op & 7 {
			case 0:
				if op&8 != 0 && sa != nil {
					d = patchHeader(d, sa.spiI, sa.spiR)
					if op&16 != 0 && len(d) >= message.HeaderLen {
						binary.BigEndian.PutUint32(d[20:], sa.peerNextID)
					}
				}
				deliver(d)
			case 1:
				if sa == nil || len(d) < 2 {
					continue
				}
				ex := message.ExchangeType(34 + d[0]%5) // IKE_SA_INIT .. INFORMATIONAL, and one unknown
				h := message.Header{SPIi: sa.spiI, SPIr: sa.spiR, Exchange: ex, Flags: flags, MessageID: sa.peerNextID}
				if op&8 != 0 {
					h.MessageID--
				}
				if op&32 != 0 {
					local, remote = netip.AddrPortFrom(local.Addr(), 4500), netip.AddrPortFrom(remote.Addr(), 4500)
				}
				if op&16 != 0 {
					deliver(sealFragments(sa.in.Cipher, h, message.PayloadType(d[1]), d[2:], 2)...)
				} else {
					deliver(sealPlain(sa.in.Cipher, h, message.PayloadType(d[1]), d[2:]))
				}
			case 2:
				if sa == nil || sa.pending == nil || len(d) < 1 {
					continue
				}
				h := message.Header{SPIi: sa.spiI, SPIr: sa.spiR, Exchange: sa.pending.exchange, Flags: flags | message.FlagResponse, MessageID: sa.pending.msgID}
				if op&16 != 0 {
					deliver(sealFragments(sa.in.Cipher, h, message.PayloadType(d[0]), d[1:], 2)...)
				} else {
					deliver(sealPlain(sa.in.Cipher, h, message.PayloadType(d[0]), d[1:]))
				}
			case 3, 4:
				s := n.b
				if op&7 == 4 {
					s = n.a
				}
				a := byte(0)
				if len(d) > 0 {
					a = d[0]
				}
				peer := "to-a"
				if s == n.a {
					peer = "to-b"
				}
				fuzzAction(n, s, peer, a)
			case 5:
				check()
				n.deliverAll()
			case 6:
				if op&8 != 0 || len(d) < 2 {
					n.a.h.sent, n.b.h.sent, n.queue = nil, nil, nil
					continue
				}
				// Corrupt one of A's datagrams in flight (XOR d[2:] in
				// at offset d[1]) and deliver them all to B.
				sent := n.a.h.sent
				n.a.h.sent = nil
				if len(sent) > 0 {
					k := int(d[0]) % len(sent)
					dg := bytes.Clone(sent[k].Data)
					for i, x := range d[2:] {
						if j := int(d[1]) + i; j < len(dg) {
							dg[j] ^= x
						}
					}
					sent[k].Data = dg
				}
				for _, p := range sent {
					n.b.e.HandlePacket(n.now, Packet{Data: p.Data, Local: p.Remote, Remote: p.Local})
				}
			case 7:
				if len(d) > 0 {
					n.now = n.now.Add(time.Duration(d[0]) * time.Second)
				}
				for _, s := range []*side{n.a, n.b} {
					if dl := s.e.NextDeadline(); !dl.IsZero() && !dl.After(n.now) {
						s.e.Tick(n.now)
					}
				}
			}
			check()
		}
		n.run(10 * time.Minute)
		check()
	})
}

var updateEngineFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz seed corpora")

// swanCaptures returns the datagrams of each strongSwan capture run of
// ike/message/testdata/strongswan, in capture order.
func swanCaptures() ([][][]byte, error) {
	dirs, err := filepath.Glob(filepath.Join("message", "testdata", "strongswan", "*"))
	if err != nil {
		return nil, err
	}
	var runs [][][]byte
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.hex"))
		if len(files) < 4 {
			continue
		}
		sort.Strings(files)
		var msgs [][]byte
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			b, err := hex.DecodeString(strings.Join(strings.Fields(string(raw)), ""))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			msgs = append(msgs, b)
		}
		runs = append(runs, msgs)
	}
	return runs, nil
}

// openPlain returns the next payload type and the decrypted inner payloads
// of an unfragmented protected message, using ci (the receiver's keys).
func openPlain(ci transform.Cipher, b []byte) (message.PayloadType, []byte, bool) {
	const skStart = message.HeaderLen + 4
	if len(b) < skStart+ci.IVLen()+ci.ICVLen() || message.PayloadType(b[16]) != message.PayloadSK {
		return 0, nil, false
	}
	iv := b[skStart : skStart+ci.IVLen()]
	pt, err := ci.Open(nil, iv, b[skStart+ci.IVLen():], b[:skStart], nil)
	if err != nil || len(pt) < 1 || int(pt[len(pt)-1])+1 > len(pt) {
		return 0, nil, false
	}
	return message.PayloadType(b[message.HeaderLen]), pt[:len(pt)-1-int(pt[len(pt)-1])], true
}

// TestWriteEngineFuzzSeeds rewrites the seed corpora of the engine fuzz
// targets with -update-fuzz-seeds: strongSwan's captured datagrams, and
// the inner payloads of every exchange of two engines (establishment,
// Child SA and IKE SA rekeys in both directions, liveness checks, Delete)
// as records for the harnesses to seal again.
func TestWriteEngineFuzzSeeds(t *testing.T) {
	if !*updateEngineFuzzSeeds {
		t.Skip("use -update-fuzz-seeds to rewrite testdata/fuzz")
	}
	seeds := map[string][][]byte{}
	add := func(name string, b ...[]byte) { seeds[name] = append(seeds[name], bytes.Join(b, nil)) }

	runs, err := swanCaptures()
	if err != nil || len(runs) == 0 {
		t.Fatalf("strongSwan captures: %d runs, %v", len(runs), err)
	}
	for _, msgs := range runs {
		add("FuzzEngineHandshake", []byte{0}, rec(0, msgs[0]))
		add("FuzzEngineHandshake", []byte{0}, rec(0, msgs[0]), rec(3, msgs[2]))
		add("FuzzEngineHandshake", []byte{1}, rec(2, msgs[1]))
		add("FuzzEngineEstablished", rec(0, msgs[0]), rec(8, msgs[2]), rec(8|16, msgs[len(msgs)-2]))
	}

	// Two initiators at once: the second must present a cookie.
	add("FuzzEngineHandshake", []byte{4}, rec(0, runs[0][0]), rec(0, runs[1%len(runs)][0]))

	// Two engines; every protected message is recorded with its inner
	// payloads, decrypted with the receiver's keys before delivery.
	n := fuzzNet(t)
	pa, pb := fuzzPeers(t)
	type seen struct {
		fromA bool
		h     message.Header
		np    message.PayloadType
		inner []byte
	}
	var log []seen
	n.drop = func(p Packet) bool {
		h, err := message.ParseHeader(p.Data)
		if err != nil {
			return false
		}
		fromA := p.Remote.Addr() == addrB
		if h.Exchange == message.IKESAInit {
			if h.IsResponse() {
				add("FuzzEngineHandshake", []byte{1}, rec(2, p.Data))
			} else {
				add("FuzzEngineHandshake", []byte{0}, rec(0, p.Data))
			}
			return false
		}
		dst := n.other(p.Remote.Addr())
		for _, sa := range dst.e.sas {
			if sa.in == nil || sa.spiI != h.SPIi || sa.spiR != h.SPIr {
				continue
			}
			if np, inner, ok := openPlain(sa.in.Cipher, p.Data); ok {
				log = append(log, seen{fromA, h, np, inner})
			}
		}
		return false
	}
	n.setPeers([]Peer{pa}, []Peer{pb})
	n.run(time.Second)
	for _, s := range []*side{n.a, n.b} {
		peer := map[*side]string{n.a: "to-b", n.b: "to-a"}[s]
		c := s.e.peers[peer].sa.sortedChildren()[0]
		s.e.SoftLimit(n.now, c.inSPI) // CREATE_CHILD_SA rekey
		n.run(time.Minute)
		_ = s.e.Rekey(n.now, peer, true) // IKE SA rekey
		n.run(time.Minute)
	}
	n.a.h.sent, n.b.h.sent = nil, nil
	n.now = n.now.Add(40 * time.Second) // liveness checks
	n.run(time.Minute)
	_ = n.a.e.Terminate(n.now, "to-b")
	n.run(time.Second)

	for _, m := range log {
		body := append([]byte{byte(m.np)}, m.inner...)
		switch {
		case m.h.Exchange == message.IKEAuth && !m.h.IsResponse():
			add("FuzzEngineHandshake", []byte{2}, rec(2, body))
			add("FuzzEngineHandshake", []byte{2}, rec(2|4, body))
		case m.h.Exchange == message.IKEAuth:
			add("FuzzEngineHandshake", []byte{3}, rec(2, body))
		case m.fromA && !m.h.IsResponse():
			add("FuzzEngineEstablished", rec(1, append([]byte{byte(m.h.Exchange - 34)}, body...)))
			add("FuzzEngineEstablished", rec(1|16, append([]byte{byte(m.h.Exchange - 34)}, body...)), rec(5, nil))
		case m.fromA:
			// A's answer to B's request: B first makes a request of the
			// same kind, then gets this as the answer.
			actions := []byte{0, 1}
			if m.h.Exchange == message.Informational {
				actions = []byte{5, 2}
			}
			for _, a := range actions {
				add("FuzzEngineEstablished", rec(3, []byte{a}), rec(2, body))
			}
		}
	}
	add("FuzzEngineEstablished", rec(4, []byte{1}), rec(5, nil), rec(3, []byte{0}), rec(5, nil))
	add("FuzzEngineEstablished", rec(3, []byte{7}), rec(5, nil), rec(7, []byte{200}))
	add("FuzzEngineEstablished", rec(4, []byte{0}), rec(3, []byte{0}), rec(5, nil))
	add("FuzzEngineEstablished", rec(4, []byte{0}), rec(6, []byte{0, 19, 0x20}), rec(5, nil))
	add("FuzzEngineEstablished", rec(4, []byte{1}), rec(6, []byte{0, 60, 0xff}), rec(7, []byte{30}))

	for name, list := range seeds {
		dir := filepath.Join("testdata", "fuzz", name)
		// Only the generated seeds: regression inputs stay.
		old, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, b := range list {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%03d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%s: %d seeds", name, len(list))
	}
}
