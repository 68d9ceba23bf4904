package esp

import (
	"runtime"
	"testing"

	"github.com/vpngw/vpngw/internal/transform"
)

const benchSize = 1400

// benchCiphers are the AES-256-GCM ciphers the benchmarks run: the
// tests' crypto/cipher one ("aes256gcm16") and transform's, which is
// internal/aesgcm's VAES assembly where the CPU has it
// ("aes256gcm16-transform").
var benchCiphers = []string{"aes256gcm16", "aes256gcm16-transform"}

func benchSA(b testing.TB, name string, esn bool) (*OutboundSA, *InboundSA) {
	key := make([]byte, 36)
	for i := range key {
		key[i] = byte(i * 7)
	}
	newCipher := func() transform.Cipher { return newGCM(key, 16) }
	if name == "aes256gcm16-transform" {
		newCipher = func() transform.Cipher {
			c, err := transform.NewCipher(transform.EncrAESGCM16, 256, transform.IntegNone, key, nil)
			if err != nil {
				b.Fatal(err)
			}
			return c
		}
	}
	return newPair(b, family{"aes256gcm16", transform.EncrAESGCM16, newCipher}, esn)
}

func BenchmarkSeal(b *testing.B) {
	for _, c := range benchCiphers {
		for _, esn := range []bool{false, true} {
			name := c
			if esn {
				name += "-esn"
			}
			b.Run(name, func(b *testing.B) { benchSeal(b, c, esn) })
		}
	}
}

func benchSeal(b *testing.B, c string, esn bool) {
	out, _ := benchSA(b, c, esn)
	const off = MaxHeadroom
	store := make([]byte, off+benchSize+MaxTailroom)
	pkt := testPacket(benchSize, false, 0)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		buf := store[:off+benchSize]
		copy(buf[off:], pkt)
		if _, err := out.Seal(buf, off); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen opens (Check + Decrypt + Commit) 1400-byte packets from a
// ring of pre-sealed packets; each iteration includes copying the packet
// into the work buffer, since decryption is in place.
func BenchmarkOpen(b *testing.B) {
	for _, c := range benchCiphers {
		for _, esn := range []bool{false, true} {
			name := c
			if esn {
				name += "-esn"
			}
			b.Run(name, func(b *testing.B) { benchOpen(b, c, esn) })
		}
	}
}

func benchOpen(b *testing.B, c string, esn bool) {
	out, in := benchSA(b, c, esn)
	const ring = 1024
	pkts := make([][]byte, ring)
	for i := range pkts {
		buf, off := layout(testPacket(benchSize, false, byte(i)))
		s, err := out.Seal(buf, off)
		if err != nil {
			b.Fatal(err)
		}
		pkts[i] = s
	}
	work := make([]byte, ScratchLen+len(pkts[0]))
	b.SetBytes(benchSize)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == ring {
			// Start over: a fresh window accepts the ring again.
			i = 0
			in.mu.Lock()
			in.window.top = 0
			clear(in.window.blocks)
			in.mu.Unlock()
		}
		copy(work[ScratchLen:], pkts[i])
		if _, _, _, err := in.Open(work, ScratchLen); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func TestSealOpenAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count")
	}
	for _, c := range benchCiphers {
		for _, esn := range []bool{false, true} {
			if allocs := sealOpenAllocs(t, c, esn); allocs != 0 {
				t.Errorf("%s esn=%v: %v allocations per Seal+Open, want 0", c, esn, allocs)
			}
		}
	}
}

func sealOpenAllocs(t *testing.T, c string, esn bool) float64 {
	out, in := benchSA(t, c, esn)
	const off = MaxHeadroom
	store := make([]byte, off+benchSize+MaxTailroom)
	pkt := testPacket(benchSize, false, 0)
	work := make([]byte, ScratchLen+benchSize+64)
	return testing.AllocsPerRun(200, func() {
		buf := store[:off+benchSize]
		copy(buf[off:], pkt)
		s, err := out.Seal(buf, off)
		if err != nil {
			t.Fatal(err)
		}
		w := work[:ScratchLen+len(s)]
		copy(w[ScratchLen:], s)
		if _, _, _, err := in.Open(w, ScratchLen); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkMemoryPerSA reports the live heap of one Child SA's ESP state
// in the data plane: an OutboundSA and an InboundSA with AES-256-GCM-16
// ciphers (transform.NewCipher, as the agent installs them), idle (no
// packet sent or received yet), per SA pair.
//
//	go test -run '^$' -bench MemoryPerSA -benchtime 1x ./internal/esp/
func BenchmarkMemoryPerSA(b *testing.B) {
	const n = 10000
	key := make([]byte, 36)
	var per float64
	for b.Loop() {
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		outs, ins := make([]*OutboundSA, n), make([]*InboundSA, n)
		for i := range n {
			key[0], key[1] = byte(i), byte(i>>8)
			co, err := transform.NewCipher(transform.EncrAESGCM16, 256, transform.IntegNone, key, nil)
			if err != nil {
				b.Fatal(err)
			}
			ci, err := transform.NewCipher(transform.EncrAESGCM16, 256, transform.IntegNone, key, nil)
			if err != nil {
				b.Fatal(err)
			}
			spi := uint32(i + 256)
			if outs[i], err = NewOutboundSA(OutboundConfig{SPI: spi, Encr: transform.EncrAESGCM16, Cipher: co}); err != nil {
				b.Fatal(err)
			}
			if ins[i], err = NewInboundSA(InboundConfig{SPI: spi, Encr: transform.EncrAESGCM16, Cipher: ci}); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&ms1)
		per = float64(ms1.HeapAlloc-ms0.HeapAlloc) / n
		runtime.KeepAlive(outs)
		runtime.KeepAlive(ins)
	}
	b.ReportMetric(per, "B/SA-pair")
}
