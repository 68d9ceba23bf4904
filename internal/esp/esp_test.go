package esp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/vpngw/vpngw/internal/transform"
)

// testPacket returns an IPv4 (or IPv6) packet of n bytes with a recognizable body.
func testPacket(n int, v6 bool, fill byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = fill + byte(i)
	}
	if v6 {
		p[0] = 0x60
	} else {
		p[0] = 0x45
	}
	return p
}

// layout copies pkt into a fresh buffer with headroom and tailroom and
// returns buf (len = off+len(pkt)) and off.
func layout(pkt []byte) ([]byte, int) {
	const off = MaxHeadroom + 8
	buf := make([]byte, off+len(pkt), off+len(pkt)+MaxTailroom)
	copy(buf[off:], pkt)
	return buf, off
}

func newPair(t testing.TB, f family, esn bool) (*OutboundSA, *InboundSA) {
	t.Helper()
	c := f.new()
	out, err := NewOutboundSA(OutboundConfig{SPI: 0x01020304, Encr: f.encr, Cipher: c, ESN: esn})
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewInboundSA(InboundConfig{SPI: 0x01020304, Encr: f.encr, Cipher: c, ESN: esn})
	if err != nil {
		t.Fatal(err)
	}
	return out, in
}

func TestRoundTrip(t *testing.T) {
	for _, f := range families() {
		for _, esn := range []bool{false, true} {
			name := f.name
			if esn {
				name += "-esn"
			}
			t.Run(name, func(t *testing.T) {
				out, in := newPair(t, f, esn)
				for n := 20; n <= 1500; n += 37 {
					pkt := testPacket(n, n%2 == 0, byte(n))
					buf, off := layout(pkt)
					sealed, err := out.Seal(buf, off)
					if err != nil {
						t.Fatalf("Seal(%d): %v", n, err)
					}
					if got, want := len(sealed), n+out.Overhead(n); got != want {
						t.Fatalf("sealed len %d, want %d", got, want)
					}
					if spi, err := ParseSPI(sealed); err != nil || spi != 0x01020304 {
						t.Fatalf("ParseSPI = %x, %v", spi, err)
					}
					if (len(sealed)-HeaderLen-c(f).IVLen()-c(f).ICVLen())%max(c(f).Align(), 4) != 0 {
						t.Fatalf("ciphertext not aligned: %d", len(sealed))
					}
					// Copy to a receive buffer at a different offset.
					rbuf := make([]byte, 16+len(sealed))
					copy(rbuf[16:], sealed)
					inner, nh, seq, err := in.Open(rbuf, 16)
					if err != nil {
						t.Fatalf("Open(%d): %v", n, err)
					}
					if seq != out.LastSeq() {
						t.Fatalf("seq %d, want %d", seq, out.LastSeq())
					}
					wantNH := byte(NextHeaderIPv4)
					if n%2 == 0 {
						wantNH = NextHeaderIPv6
					}
					if nh != wantNH || !bytes.Equal(inner, pkt) {
						t.Fatalf("Open(%d) = nh %d, %x; want %d, %x", n, nh, inner, wantNH, pkt)
					}
				}
				st := in.Stats()
				if st.Packets != out.Stats().Packets || st.TotalDrops() != 0 {
					t.Fatalf("stats in %+v out %+v", st, out.Stats())
				}
			})
		}
	}
}

func c(f family) transform.Cipher { return f.new() }

func TestOpenRejects(t *testing.T) {
	f := families()[0]
	for _, esn := range []bool{false, true} {
		out, in := newPair(t, f, esn)
		seal := func(pkt []byte) []byte {
			buf, off := layout(pkt)
			s, err := out.Seal(buf, off)
			if err != nil {
				t.Fatal(err)
			}
			r := make([]byte, ScratchLen+len(s))
			copy(r[ScratchLen:], s)
			return r
		}
		good := seal(testPacket(100, false, 1))
		tamper := append([]byte(nil), good...)
		tamper[len(tamper)-1] ^= 1
		if _, _, _, err := in.Open(tamper, ScratchLen); !errors.Is(err, ErrAuth) {
			t.Fatalf("tampered: %v", err)
		}
		// The failed ICV must not have advanced the window.
		if _, _, _, err := in.Open(append([]byte(nil), good...), ScratchLen); err != nil {
			t.Fatalf("good after tampered: %v", err)
		}
		if _, _, _, err := in.Open(good, ScratchLen); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay: %v", err)
		}
		short := seal(testPacket(100, false, 1))[:ScratchLen+HeaderLen+4]
		if _, _, _, err := in.Open(short, ScratchLen); !errors.Is(err, ErrShort) {
			t.Fatalf("short: %v", err)
		}
		wrongSPI := seal(testPacket(100, false, 1))
		wrongSPI[ScratchLen] ^= 0x80
		if _, _, _, err := in.Open(wrongSPI, ScratchLen); !errors.Is(err, ErrSPI) {
			t.Fatalf("spi: %v", err)
		}
		st := in.Stats()
		if st.Drop(DropAuth) != 1 || st.Drop(DropReplay) != 1 || st.Drop(DropShort) != 1 || st.Packets != 1 {
			t.Fatalf("counters %+v", st)
		}
	}
}

// sealRaw seals a payload with an explicit next header and padding bytes,
// bypassing the checks of SealSeq, to craft bad trailers.
func sealRaw(t *testing.T, out *OutboundSA, payload []byte, nh byte, corruptPad bool) []byte {
	t.Helper()
	buf, off := layout(payload)
	seq, _ := out.Reserve(1)
	iv := buf[off-8 : off]
	binary.BigEndian.PutUint64(iv, seq)
	if corruptPad {
		// Seal with a payload whose last byte is fake padding: pad the
		// payload ourselves and claim it in the trailer below.
		_ = corruptPad
	}
	s, err := out.seal(buf, off, seq, nh, iv)
	if err != nil {
		t.Fatal(err)
	}
	r := make([]byte, ScratchLen+len(s))
	copy(r[ScratchLen:], s)
	return r
}

func TestOpenTrailer(t *testing.T) {
	f := families()[0]
	out, in := newPair(t, f, false)

	// Next header 59: dropped silently, counted as dummy, window advanced.
	dummy := sealRaw(t, out, []byte{1, 2, 3}, NextHeaderNone, false)
	if _, nh, _, err := in.Open(dummy, ScratchLen); !errors.Is(err, ErrDummy) || nh != NextHeaderNone {
		t.Fatalf("dummy: nh %d err %v", nh, err)
	}
	// Next header 6 (TCP, transport mode): refused.
	tcp := sealRaw(t, out, testPacket(40, false, 0), 6, false)
	if _, _, _, err := in.Open(tcp, ScratchLen); !errors.Is(err, ErrNextHeader) {
		t.Fatalf("nh 6: %v", err)
	}
	// Next header 4 with an IPv6 packet inside: refused.
	mismatch := sealRaw(t, out, testPacket(60, true, 0), NextHeaderIPv4, false)
	if _, _, _, err := in.Open(mismatch, ScratchLen); !errors.Is(err, ErrNextHeader) {
		t.Fatalf("nh mismatch: %v", err)
	}
	// Bad padding: payload of 38 bytes gets pad 0 (38+2=40); craft a 37-byte
	// payload (pad 1, byte 0x01) and overwrite the pad byte before sealing by
	// sealing a payload that already ends in a wrong "padding" and a trailer
	// claiming it. We build the plaintext by hand.
	pt := append(testPacket(36, false, 0), 9, 9, 2, NextHeaderIPv4) // pad bytes 9,9 (want 1,2)
	buf, off := layout(pt)
	seq, _ := out.Reserve(1)
	iv := buf[off-8 : off]
	binary.BigEndian.PutUint64(iv, seq)
	hdr := off - 8 - HeaderLen
	binary.BigEndian.PutUint32(buf[hdr:], out.spi)
	binary.BigEndian.PutUint32(buf[hdr+4:], uint32(seq))
	sealed := out.cipher.Seal(buf[off:off], iv, buf[off:], buf[hdr:hdr+8], nil)
	bad := append(make([]byte, ScratchLen), buf[hdr:off+len(sealed)]...)
	if _, _, _, err := in.Open(bad, ScratchLen); !errors.Is(err, ErrPadding) {
		t.Fatalf("bad padding: %v", err)
	}
	st := in.Stats()
	if st.Dummy != 1 || st.Drop(DropNextHeader) != 2 || st.Drop(DropPadding) != 1 {
		t.Fatalf("counters %+v", st)
	}
}

func TestSealRoom(t *testing.T) {
	out, _ := newPair(t, families()[0], true)
	pkt := testPacket(100, false, 0)
	buf := make([]byte, out.Headroom()-1+len(pkt), 1000)
	if _, err := out.Seal(buf, out.Headroom()-1); !errors.Is(err, ErrRoom) {
		t.Fatalf("headroom: %v", err)
	}
	buf = make([]byte, out.Headroom()+len(pkt), out.Headroom()+len(pkt)+out.Tailroom()-1)
	copy(buf[out.Headroom():], pkt)
	if _, err := out.Seal(buf, out.Headroom()); !errors.Is(err, ErrRoom) {
		t.Fatalf("tailroom: %v", err)
	}
	buf = make([]byte, out.Headroom()+len(pkt), out.Headroom()+len(pkt)+out.Tailroom())
	copy(buf[out.Headroom():], pkt)
	if _, err := out.Seal(buf, out.Headroom()); err != nil {
		t.Fatalf("exact room: %v", err)
	}
}

func TestMaxInner(t *testing.T) {
	for _, f := range families() {
		out, _ := newPair(t, f, false)
		for _, mtu := range []int{1400, 1472, 1480, 1000} {
			n := out.MaxInner(mtu)
			if got := n + out.Overhead(n); got > mtu {
				t.Errorf("%s: MaxInner(%d)=%d gives %d bytes", f.name, mtu, n, got)
			}
			if got := n + 1 + out.Overhead(n+1); got <= mtu {
				t.Errorf("%s: MaxInner(%d)=%d not maximal (%d fits)", f.name, mtu, n, n+1)
			}
		}
	}
}

func TestSeqExhaustion(t *testing.T) {
	f := families()[0]
	var got []Limit
	out, err := NewOutboundSA(OutboundConfig{SPI: 1, Encr: f.encr, Cipher: f.new(), FirstSeq: SoftSeq32 - 1})
	if err != nil {
		t.Fatal(err)
	}
	out.SetLimitHandler(func(l Limit) { got = append(got, l) })
	pkt := testPacket(64, false, 0)
	seal := func() error {
		buf, off := layout(pkt)
		_, err := out.Seal(buf, off)
		return err
	}
	if err := seal(); err != nil || len(got) != 0 {
		t.Fatalf("before soft: %v %v", err, got)
	}
	if err := seal(); err != nil || len(got) != 1 || got[0] != LimitSeqNearExhaustion {
		t.Fatalf("at soft: %v %v", err, got)
	}
	if first, n := out.Reserve(MaxSeq32); n != int(MaxSeq32-SoftSeq32) || first != SoftSeq32+1 {
		t.Fatalf("Reserve = %d, %d", first, n)
	}
	if out.LastSeq() != MaxSeq32 || len(got) != 2 || got[1] != LimitSeqExhausted {
		t.Fatalf("last %d limits %v", out.LastSeq(), got)
	}
	if err := seal(); !errors.Is(err, ErrSeqExhausted) {
		t.Fatalf("after exhaustion: %v", err)
	}
	if out.LastSeq() != MaxSeq32 {
		t.Fatalf("counter moved past 2^32-1: %d", out.LastSeq())
	}
	if out.Stats().Drop(DropSeqExhausted) != 1 || len(got) != 2 {
		t.Fatalf("stats %+v limits %v", out.Stats(), got)
	}

	// With ESN the same numbers are fine and the packet carries the low bits.
	esn, _ := NewOutboundSA(OutboundConfig{SPI: 1, Encr: f.encr, Cipher: f.new(), ESN: true, FirstSeq: MaxSeq32})
	for i := 0; i < 3; i++ {
		buf, off := layout(pkt)
		s, err := esn.Seal(buf, off)
		if err != nil {
			t.Fatal(err)
		}
		if lo := binary.BigEndian.Uint32(s[4:]); lo != uint32(MaxSeq32+uint64(i)) {
			t.Fatalf("low bits %x", lo)
		}
	}
}

func TestLifetime(t *testing.T) {
	f := families()[0]
	c := f.new()
	var outLimits, inLimits []Limit
	lt := Lifetime{SoftPackets: 3, HardPackets: 5, SoftBytes: 1 << 40}
	out, _ := NewOutboundSA(OutboundConfig{SPI: 7, Encr: f.encr, Cipher: c, Lifetime: lt})
	in, _ := NewInboundSA(InboundConfig{SPI: 7, Encr: f.encr, Cipher: c, Lifetime: lt})
	out.SetLimitHandler(func(l Limit) { outLimits = append(outLimits, l) })
	in.SetLimitHandler(func(l Limit) { inLimits = append(inLimits, l) })
	var sealed [][]byte
	for i := 1; i <= 6; i++ {
		buf, off := layout(testPacket(50, false, 0))
		s, err := out.Seal(buf, off)
		if i <= 5 && err != nil || i == 6 && !errors.Is(err, ErrExpired) {
			t.Fatalf("seal %d: %v", i, err)
		}
		if err == nil {
			sealed = append(sealed, append([]byte(nil), s...))
		}
	}
	if len(outLimits) != 2 || outLimits[0] != LimitSoftLifetime || outLimits[1] != LimitHardLifetime {
		t.Fatalf("out limits %v", outLimits)
	}
	// Inbound accepts 5 packets and refuses afterwards (the outbound
	// packet 5 is replayed by sealing with a fresh SA is not needed: just
	// check the limit events and a 6th packet from another sender).
	for i, s := range sealed {
		if _, _, _, err := in.Open(s, 0); err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
	}
	out2, _ := NewOutboundSA(OutboundConfig{SPI: 7, Encr: f.encr, Cipher: c, FirstSeq: 6})
	buf, off := layout(testPacket(50, false, 0))
	s, _ := out2.Seal(buf, off)
	if _, _, _, err := in.Open(s, 0); !errors.Is(err, ErrExpired) {
		t.Fatalf("open after hard: %v", err)
	}
	if len(inLimits) != 2 || inLimits[0] != LimitSoftLifetime || inLimits[1] != LimitHardLifetime {
		t.Fatalf("in limits %v", inLimits)
	}
}

func TestConcurrentOpen(t *testing.T) {
	// Parallel workers decrypt duplicates of the same packets; each sequence
	// number must be committed exactly once.
	f := families()[0]
	out, in := newPair(t, f, true)
	const n = 2000
	pkts := make([][]byte, n)
	for i := range pkts {
		buf, off := layout(testPacket(200, false, byte(i)))
		s, err := out.Seal(buf, off)
		if err != nil {
			t.Fatal(err)
		}
		pkts[i] = s
	}
	rng := rand.New(rand.NewPCG(1, 2))
	order := rng.Perm(2 * n)
	var ok [4]int
	done := make(chan struct{})
	for w := 0; w < 4; w++ {
		go func(w int) {
			defer func() { done <- struct{}{} }()
			for i := w; i < len(order); i += 4 {
				p := pkts[order[i]%n]
				buf := make([]byte, ScratchLen+len(p))
				copy(buf[ScratchLen:], p)
				seq, err := in.Check(buf[ScratchLen:])
				if err != nil {
					continue
				}
				inner, _, err := in.Decrypt(buf, ScratchLen, seq)
				if err != nil {
					panic(err)
				}
				if in.Commit(seq, len(inner)) == nil {
					ok[w]++
				}
			}
		}(w)
	}
	for range 4 {
		<-done
	}
	if total := ok[0] + ok[1] + ok[2] + ok[3]; total != n {
		t.Fatalf("committed %d, want %d", total, n)
	}
}

func TestParseSPI(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		spi  uint32
		want error
	}{
		{[]byte{0, 0, 0, 1, 0, 0, 0, 1}, 1, nil},
		{[]byte{0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 9, 1}, 0xdeadbeef, nil},
		{[]byte{0, 0, 0, 0, 0, 0, 0, 1}, 0, ErrSPI},
		{[]byte{1, 2, 3}, 0, ErrShort},
	} {
		spi, err := ParseSPI(tc.in)
		if spi != tc.spi || !errors.Is(err, tc.want) {
			t.Errorf("ParseSPI(%x) = %x, %v; want %x, %v", tc.in, spi, err, tc.spi, tc.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	f := families()[0]
	for _, cfg := range []InboundConfig{
		{SPI: 0, Encr: f.encr, Cipher: f.new()},
		{SPI: 1, Encr: 0, Cipher: f.new()},
		{SPI: 1, Encr: f.encr},
		{SPI: 1, Encr: f.encr, Cipher: f.new(), ReplayWindow: -1},
		{SPI: 1, Encr: f.encr, Cipher: f.new(), ReplayWindow: MaxReplayWindow + 1},
	} {
		if _, err := NewInboundSA(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("NewInboundSA(%+v): %v", cfg, err)
		}
	}
	if _, err := NewOutboundSA(OutboundConfig{SPI: 1, Encr: f.encr, Cipher: f.new(), FirstSeq: 1 << 33}); !errors.Is(err, ErrConfig) {
		t.Errorf("FirstSeq beyond 2^32: %v", err)
	}
	in, _ := NewInboundSA(InboundConfig{SPI: 1, Encr: f.encr, Cipher: f.new(), ReplayWindow: 100})
	if in.ReplayWindow() != 128 {
		t.Errorf("window %d, want 128", in.ReplayWindow())
	}
}
