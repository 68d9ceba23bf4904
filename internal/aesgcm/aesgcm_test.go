package aesgcm

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// impls are the implementations under test: the assembly only where
// the CPU has the features.
func impls(t testing.TB) []Impl {
	if hasAsm {
		return []Impl{ImplAuto, ImplGeneric}
	}
	t.Log("CPU lacks VAES/VPCLMULQDQ/AVX-512: testing the generic path only")
	return []Impl{ImplGeneric}
}

func implName(i Impl) string {
	if i == ImplGeneric {
		return "generic"
	}
	return "asm"
}

func newPair(t testing.TB, key []byte, impl Impl) (*AEAD, cipher.AEAD) {
	t.Helper()
	a, err := New(key, nil, impl)
	if err != nil {
		t.Fatal(err)
	}
	if impl == ImplAuto && hasAsm && len(key) != 24 && !a.Accelerated() {
		t.Fatal("ImplAuto on a capable CPU did not pick the assembly")
	}
	if impl == ImplGeneric && a.Accelerated() {
		t.Fatal("ImplGeneric picked the assembly")
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return a, ref
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVectors runs McGrew & Viega's GCM test cases (the ones the ESP and
// transform packages use, plus the empty ones) through Seal and Open.
func TestVectors(t *testing.T) {
	vectors := []struct {
		name, key, nonce, aad, plain, ct string
	}{
		{"TC1", "00000000000000000000000000000000", "000000000000000000000000", "", "",
			"58e2fccefa7e3061367f1d57a4e7455a"},
		{"TC2", "00000000000000000000000000000000", "000000000000000000000000", "",
			"00000000000000000000000000000000",
			"0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf"},
		{"TC3", "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "",
			"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
				"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
			"42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e" +
				"21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985" +
				"4d5c2af327cd64a62cf35abd2ba6fab4"},
		{"TC4", "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
			"feedfacedeadbeeffeedfacedeadbeefabaddad2",
			"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
				"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
			"42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e" +
				"21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091" +
				"5bc94fbc3221a5db94fae95ae7121a47"},
		{"TC13", "0000000000000000000000000000000000000000000000000000000000000000",
			"000000000000000000000000", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
		{"TC15", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
			"cafebabefacedbaddecaf888", "",
			"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
				"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
			"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" +
				"8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad" +
				"b094dac5d93471bdec1a502270e3cc6c"},
		{"TC16", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
			"cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
			"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
				"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
			"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" +
				"8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662" +
				"76fc6ece0f4e1768cddf8853bb2d551b"},
	}
	for _, impl := range impls(t) {
		for _, v := range vectors {
			t.Run(implName(impl)+"/"+v.name, func(t *testing.T) {
				key, nonce, aad := unhex(t, v.key), unhex(t, v.nonce), unhex(t, v.aad)
				plain, want := unhex(t, v.plain), unhex(t, v.ct)
				a, _ := newPair(t, key, impl)
				if got := a.Seal(nil, nonce, plain, aad); !bytes.Equal(got, want) {
					t.Fatalf("Seal = %x, want %x", got, want)
				}
				got, err := a.Open(nil, nonce, want, aad)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("Open = %x, %v; want %x", got, err, plain)
				}
				// The ESP split: salt at New, 8-byte IV per call.
				e, err := New(key, nonce[:SaltSize], impl)
				if err != nil {
					t.Fatal(err)
				}
				if got := e.SealIV(nil, nonce[SaltSize:], plain, aad); !bytes.Equal(got, want) {
					t.Fatalf("SealIV = %x, want %x", got, want)
				}
				if got, err := e.OpenIV(nil, nonce[SaltSize:], want, aad); err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("OpenIV = %x, %v; want %x", got, err, plain)
				}
			})
		}
	}
}

// diffLengths are the plaintext lengths of TestAgainstStdlib: all of
// 0..600 and a selection up to 9000 around the 256-byte batches.
func diffLengths() []int {
	var ls []int
	for n := 0; n <= 600; n++ {
		ls = append(ls, n)
	}
	for _, n := range []int{767, 768, 769, 1023, 1024, 1025, 1279, 1280, 1281, 1350, 1400, 1420, 1438,
		1500, 2047, 2048, 2049, 4095, 4096, 4097, 8191, 8192, 8193, 8999, 9000} {
		ls = append(ls, n)
	}
	return ls
}

// TestAgainstStdlib compares Seal and Open with crypto/cipher's GCM for
// every plaintext length in diffLengths, several AAD lengths, both key
// sizes, in place and out of place, and checks that tampering with the
// ciphertext, tag or AAD fails Open the way it fails in crypto/cipher.
func TestAgainstStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for _, impl := range impls(t) {
		for _, keyLen := range []int{16, 32} {
			for _, aadLen := range []int{0, 8, 12, 16, 20, 33} {
				t.Run(fmt.Sprintf("%s/AES-%d/aad%d", implName(impl), keyLen*8, aadLen), func(t *testing.T) {
					for _, n := range diffLengths() {
						checkOne(t, impl, rnd(keyLen), rnd(NonceSize), rnd(aadLen), rnd(n), n%3)
					}
				})
			}
		}
	}
}

// checkOne is one differential case. pad is the number of bytes in front
// of the output in dst (a prefix Seal and Open must keep).
func checkOne(t *testing.T, impl Impl, key, nonce, aad, plain []byte, pad int) {
	t.Helper()
	a, ref := newPair(t, key, impl)
	n := len(plain)
	prefix := bytes.Repeat([]byte{0xa5}, pad)

	want := ref.Seal(append([]byte(nil), prefix...), nonce, plain, aad)
	got := a.Seal(append([]byte(nil), prefix...), nonce, plain, aad)
	if !bytes.Equal(got, want) {
		t.Fatalf("len %d aad %d: Seal differs from crypto/cipher:\n got %x\nwant %x", n, len(aad), got, want)
	}
	// In place: the plaintext in a buffer with room for the tag.
	buf := make([]byte, n, n+TagSize)
	copy(buf, plain)
	if got := a.Seal(buf[:0], nonce, buf, aad); !bytes.Equal(got, want[pad:]) {
		t.Fatalf("len %d: in-place Seal differs", n)
	}
	ct := want[pad:]

	// Open out of place, with a prefix, and in place.
	pt, err := a.Open(append([]byte(nil), prefix...), nonce, ct, aad)
	if err != nil || !bytes.Equal(pt[:pad], prefix) || !bytes.Equal(pt[pad:], plain) {
		t.Fatalf("len %d: Open = %x, %v", n, pt, err)
	}
	inPlace := append([]byte(nil), ct...)
	if pt, err := a.Open(inPlace[:0], nonce, inPlace, aad); err != nil || !bytes.Equal(pt, plain) {
		t.Fatalf("len %d: in-place Open = %x, %v", n, pt, err)
	}

	// Tampering: a flipped ciphertext, tag or AAD bit fails both
	// implementations, and both leave dst the same (cleared output).
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 0x10
		return c
	}
	cases := [][2][]byte{{flip(ct, len(ct)-1), aad}}
	if n > 0 {
		cases = append(cases, [2][]byte{flip(ct, int(nonce[0])%n), aad})
	}
	if len(aad) > 0 {
		cases = append(cases, [2][]byte{ct, flip(aad, int(nonce[1])%len(aad))})
	}
	for _, c := range cases {
		dst1 := append(bytes.Repeat([]byte{7}, pad), bytes.Repeat([]byte{9}, n)...)[:pad]
		dst2 := append(bytes.Repeat([]byte{7}, pad), bytes.Repeat([]byte{9}, n)...)[:pad]
		out1, err1 := a.Open(dst1, nonce, c[0], c[1])
		out2, err2 := ref.Open(dst2, nonce, c[0], c[1])
		if err1 == nil || err2 == nil || out1 != nil || out2 != nil {
			t.Fatalf("len %d: tampered Open = %x, %v (stdlib %v)", n, out1, err1, err2)
		}
		if !bytes.Equal(dst1[:pad+n], dst2[:pad+n]) {
			t.Fatalf("len %d: tampered Open leaves dst %x, stdlib %x", n, dst1[:pad+n], dst2[:pad+n])
		}
	}
	// In-place Open of a tampered ciphertext: Open decrypts over its
	// input while it hashes, so on failure the whole output (the
	// ciphertext's place) must be zero, as crypto/cipher leaves it, and
	// the tag bytes behind it untouched.
	for _, c := range cases {
		buf1, buf2 := append([]byte(nil), c[0]...), append([]byte(nil), c[0]...)
		out1, err1 := a.Open(buf1[:0], nonce, buf1, c[1])
		out2, err2 := ref.Open(buf2[:0], nonce, buf2, c[1])
		if err1 == nil || err2 == nil || out1 != nil || out2 != nil {
			t.Fatalf("len %d: tampered in-place Open = %x, %v (stdlib %v)", n, out1, err1, err2)
		}
		if !bytes.Equal(buf1[:n], make([]byte, n)) || !bytes.Equal(buf1, buf2) {
			t.Fatalf("len %d: tampered in-place Open leaves %x, stdlib %x", n, buf1, buf2)
		}
	}
	if _, err := a.Open(nil, nonce, ct[:min(len(ct), TagSize-1)], aad); err == nil {
		t.Fatalf("Open of a too short ciphertext succeeded")
	}
}

// TestMasksStayInBounds seals and opens messages that end right before
// bytes the assembly must neither read nor write: the input and output
// are sub-slices of a larger buffer whose surrounding bytes are checked.
func TestMasksStayInBounds(t *testing.T) {
	for _, impl := range impls(t) {
		a, ref := newPair(t, bytes.Repeat([]byte{3}, 32), impl)
		nonce := make([]byte, NonceSize)
		for _, n := range []int{1, 15, 16, 17, 63, 64, 65, 255, 256, 257, 1350} {
			guard := 300
			src := bytes.Repeat([]byte{0xee}, guard+n+guard)
			plain := src[guard : guard+n : guard+n]
			dst := bytes.Repeat([]byte{0xdd}, guard+n+TagSize+guard)
			out := a.Seal(dst[guard:guard], nonce, plain, nil)
			if !bytes.Equal(out, ref.Seal(nil, nonce, plain, nil)) {
				t.Fatalf("len %d: Seal differs", n)
			}
			for i, b := range dst {
				if (i < guard || i >= guard+n+TagSize) && b != 0xdd {
					t.Fatalf("len %d: Seal wrote byte %d outside its output", n, i-guard)
				}
			}
			back := bytes.Repeat([]byte{0xcc}, guard+n+guard)
			if _, err := a.Open(back[guard:guard], nonce, out, nil); err != nil {
				t.Fatal(err)
			}
			for i, b := range back {
				if (i < guard || i >= guard+n) && b != 0xcc {
					t.Fatalf("len %d: Open wrote byte %d outside its output", n, i-guard)
				}
			}
		}
	}
}

// TestOverlapPanics checks the aliasing rules of cipher.AEAD.
func TestOverlapPanics(t *testing.T) {
	for _, impl := range impls(t) {
		a, _ := newPair(t, make([]byte, 16), impl)
		buf := make([]byte, 100)
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Seal with an inexactly overlapping dst did not panic", implName(impl))
				}
			}()
			a.Seal(buf[1:1], make([]byte, NonceSize), buf[:50], nil)
		}()
	}
}

// TestCounterWrap checks the key schedule and inc32 against crypto/aes:
// the counter's last 32 bits wrap without carrying into the nonce. GCM
// with a 12-byte nonce starts the counter at 2, so only a long message
// wraps; instead this drives gcmSeal and gcmOpen directly with a
// pre-counter block close to the wrap (zero input: the output is the
// keystream), in place and out of place.
func TestCounterWrap(t *testing.T) {
	if !hasAsm {
		t.Skip("CPU lacks the assembly's features")
	}
	for _, n := range []int{16, 32} {
		key := bytes.Repeat([]byte{byte(n)}, n)
		key[3] = 0x99
		b, _ := aes.NewCipher(key)
		counterWrap(t, newKeySched(key), b)
	}
}

func counterWrap(t *testing.T, k *keySched, b cipher.Block) {
	j0 := [16]byte{0: 1, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xf0}
	const size = 40*16 + 5
	want := make([]byte, size)
	ctr := j0
	var ks [16]byte
	for i := 0; i < size; i += 16 {
		c := uint32(ctr[12])<<24 | uint32(ctr[13])<<16 | uint32(ctr[14])<<8 | uint32(ctr[15])
		c++
		ctr[12], ctr[13], ctr[14], ctr[15] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
		b.Encrypt(ks[:], ctr[:])
		copy(want[i:], ks[:])
	}
	fns := []struct {
		name string
		fn   func(rk *[15 * 16]byte, nr int, p *[32][16]byte, tag, j0 *[16]byte, aad, dst, src []byte)
	}{{"gcmSeal", gcmSeal}, {"gcmOpen", gcmOpen}}
	for _, f := range fns {
		var tag [16]byte
		got := make([]byte, size)
		f.fn(&k.rk, k.nr, &k.powers, &tag, &j0, nil, got, make([]byte, size))
		if !bytes.Equal(got, want) {
			t.Fatalf("AES-%d: %s across the 32-bit wrap differs", (k.nr-6)*32, f.name)
		}
		inPlace := make([]byte, size)
		f.fn(&k.rk, k.nr, &k.powers, &tag, &j0, nil, inPlace, inPlace)
		if !bytes.Equal(inPlace, want) {
			t.Fatalf("AES-%d: in-place %s across the 32-bit wrap differs", (k.nr-6)*32, f.name)
		}
	}
}
