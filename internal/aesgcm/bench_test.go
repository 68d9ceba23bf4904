package aesgcm

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"testing"
)

var benchSizes = []int{64, 1350, 1420, 8192}

// benchAEADs are the implementations a benchmark compares: crypto/cipher
// directly ("stdlib") and this package's assembly ("vaes") where the CPU
// has it, with an AES-256 key and ESP's 8-byte AAD.
func benchAEADs(b *testing.B) map[string]cipher.AEAD {
	key := make([]byte, 32)
	blk, _ := aes.NewCipher(key)
	std, _ := cipher.NewGCM(blk)
	m := map[string]cipher.AEAD{"stdlib": std}
	if hasAsm {
		a, err := New(key, nil, ImplAuto)
		if err != nil {
			b.Fatal(err)
		}
		m["vaes"] = a
	}
	return m
}

func BenchmarkSeal(b *testing.B) {
	for _, name := range []string{"stdlib", "vaes"} {
		a, ok := benchAEADs(b)[name]
		if !ok {
			continue
		}
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				nonce, aad := make([]byte, NonceSize), make([]byte, 8)
				buf := make([]byte, n, n+TagSize)
				b.SetBytes(int64(n))
				for b.Loop() {
					a.Seal(buf[:0], nonce, buf, aad)
				}
			})
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, name := range []string{"stdlib", "vaes"} {
		a, ok := benchAEADs(b)[name]
		if !ok {
			continue
		}
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				nonce, aad := make([]byte, NonceSize), make([]byte, 8)
				ct := a.Seal(nil, nonce, make([]byte, n), aad)
				out := make([]byte, n)
				b.SetBytes(int64(n))
				for b.Loop() {
					if _, err := a.Open(out[:0], nonce, ct, aad); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
