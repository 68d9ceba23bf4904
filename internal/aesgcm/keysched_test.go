package aesgcm

import (
	"crypto/aes"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// TestSubWord checks subWord (the assembly on amd64) against the S-box
// computed from its definition, every byte value in every position.
func TestSubWord(t *testing.T) {
	needKeyAsm(t)
	for v := range 256 {
		for shift := 0; shift < 32; shift += 8 {
			w := uint32(v)<<shift | uint32(0x5a)<<((shift+8)%32)
			if got, want := subWord(w), subWordGeneric(w); got != want {
				t.Fatalf("subWord(%#08x) = %#08x, want %#08x", w, got, want)
			}
		}
	}
	// FIPS 197 section 5.1.1: S-box(0x53) = 0xed.
	if got := sbox(0x53); got != 0xed {
		t.Fatalf("sbox(0x53) = %#02x, want 0xed", got)
	}
}

// TestClmul checks clmul (the assembly on amd64) against the portable
// product on edge and random values.
func TestClmul(t *testing.T) {
	needKeyAsm(t)
	r := rand.New(rand.NewPCG(1, 2))
	vals := []uint64{0, 1, 2, 1 << 63, ^uint64(0), gfPolyHi}
	for range 200 {
		vals = append(vals, r.Uint64())
	}
	for _, a := range vals {
		for _, b := range vals[:20] {
			if got, want := clmul(a, b), clmulGeneric(a, b); got != want {
				t.Fatalf("clmul(%#x, %#x) = %+v, want %+v", a, b, got, want)
			}
		}
	}
	// (x+1)·(x+1) = x²+1; x^63·x^63 = x^126.
	if got := clmul(3, 3); got != (u128{lo: 5}) {
		t.Fatalf("clmul(3, 3) = %+v", got)
	}
	if got := clmul(1<<63, 1<<63); got != (u128{hi: 1 << 62}) {
		t.Fatalf("clmul(x^63, x^63) = %+v", got)
	}
}

// TestExpandKey checks the last round key against FIPS 197 appendix A.
func TestExpandKey(t *testing.T) {
	needKeyAsm(t)
	for _, c := range []struct{ key, last string }{
		{"2b7e151628aed2a6abf7158809cf4f3c", "d014f9a8c9ee2589e13f0cc8b6630ca6"},
		{"603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", "fe4890d1e6188d0b046df344706c631e"},
	} {
		key, _ := hex.DecodeString(c.key)
		nr := 6 + len(key)/4
		rk := make([]byte, 16*(nr+1))
		expandKey(rk, key)
		if got := hex.EncodeToString(rk[16*nr:]); got != c.last {
			t.Errorf("AES-%d: last round key %s, want %s", 8*len(key), got, c.last)
		}
	}
}

func needKeyAsm(t *testing.T) {
	t.Helper()
	if !hasKeyAsm {
		t.Skip("the CPU has no AES-NI or PCLMULQDQ")
	}
}

// TestEncryptBlock checks the round keys and encryptBlock against
// crypto/aes on random keys and blocks, AES-128 and AES-256.
func TestEncryptBlock(t *testing.T) {
	if !hasAsm {
		t.Skip("CPU lacks the assembly's features")
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{16, 32} {
		for range 100 {
			key := make([]byte, n)
			var src, got, want [16]byte
			for i := range key {
				key[i] = byte(r.Uint32())
			}
			for i := range src {
				src[i] = byte(r.Uint32())
			}
			b, _ := aes.NewCipher(key)
			b.Encrypt(want[:], src[:])
			k := newKeySched(key)
			encryptBlock(&k.rk, k.nr, &got, &src)
			if got != want {
				t.Fatalf("AES-%d key %x: encryptBlock(%x) = %x, want %x", 8*n, key, src, got, want)
			}
		}
	}
}

// BenchmarkNew is the cost of a new AES-256-GCM key (four per Child SA
// pair and IKE SA set up).
func BenchmarkNew(b *testing.B) {
	key := make([]byte, 32)
	salt := make([]byte, SaltSize)
	for i := range key {
		key[i] = byte(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(key, salt, ImplAuto); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewStdlib is crypto/aes's key setup alone, for comparison.
func BenchmarkNewStdlib(b *testing.B) {
	key := make([]byte, 32)
	for b.Loop() {
		if _, err := aes.NewCipher(key); err != nil {
			b.Fatal(err)
		}
	}
}
