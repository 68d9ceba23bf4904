package aesgcm

import (
	"bytes"
	"testing"
)

// FuzzAgainstStdlib seals with both this package and crypto/cipher and
// opens each result with the other.
func FuzzAgainstStdlib(f *testing.F) {
	f.Add(make([]byte, 16), make([]byte, NonceSize), []byte("aad"), []byte("plaintext"), false)
	f.Add(make([]byte, 32), make([]byte, NonceSize), make([]byte, 8), make([]byte, 1350), true)
	f.Fuzz(func(t *testing.T, key, nonce, aad, plain []byte, big bool) {
		n := 16
		if big {
			n = 32
		}
		key = append(key, make([]byte, n)...)[:n]
		nonce = append(nonce, make([]byte, NonceSize)...)[:NonceSize]
		for _, impl := range impls(t) {
			a, ref := newPair(t, key, impl)
			want := ref.Seal(nil, nonce, plain, aad)
			got := a.Seal(nil, nonce, plain, aad)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: Seal = %x, want %x", implName(impl), got, want)
			}
			if pt, err := a.Open(nil, nonce, want, aad); err != nil || !bytes.Equal(pt, plain) {
				t.Fatalf("%s: Open of stdlib's ciphertext = %x, %v", implName(impl), pt, err)
			}
			if pt, err := ref.Open(nil, nonce, got, aad); err != nil || !bytes.Equal(pt, plain) {
				t.Fatalf("%s: stdlib Open of our ciphertext = %x, %v", implName(impl), pt, err)
			}
			// Treat the plaintext as a ciphertext: both must agree on
			// rejecting (or, never in practice, accepting) it.
			_, err1 := a.Open(nil, nonce, plain, aad)
			_, err2 := ref.Open(nil, nonce, plain, aad)
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("%s: Open of arbitrary input: %v, stdlib %v", implName(impl), err1, err2)
			}
		}
	})
}
