package transform

import (
	"bytes"
	"errors"
	"math/big"
	"testing"
)

// fuzzSuites are the ciphers FuzzOpen exercises, selected by a byte.
var fuzzSuites = []suite{
	{EncrAESGCM16, 128, IntegNone},
	{EncrAESGCM12, 256, IntegNone},
	{EncrChaCha20Poly1305, 0, IntegNone},
	{EncrAESCBC, 256, IntegHMACSHA2256128},
	{EncrDES3, 0, IntegHMACSHA196},
	{EncrNULL, 0, IntegHMACSHA2512256},
}

// fuzzCiphers builds the fuzzSuites ciphers with fixed keys (bytes 1, 2,
// 3, ...), so that seeds can carry valid ciphertexts.
func fuzzCiphers(t testing.TB) []Cipher {
	var cs []Cipher
	for _, s := range fuzzSuites {
		elen, _ := EncrKeyLen(s.encr, s.keyBits)
		ilen, _ := IntegKeyLen(s.integ)
		c, err := NewCipher(s.encr, s.keyBits, s.integ, seq(1, byte(elen)), seq(1, byte(ilen)))
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs
}

// FuzzOpen feeds arbitrary packets to Open: it must never panic, and when
// it succeeds the input must be exactly what Seal makes of the result
// (that is, only genuine ciphertexts open). The first IVLen bytes of data
// are the IV, the next aadLen%16 bytes the AAD, the rest the ciphertext.
func FuzzOpen(f *testing.F) {
	ciphers := fuzzCiphers(f)
	for i, c := range ciphers {
		iv := seq(0x10, byte(0x10+c.IVLen()-1))[:c.IVLen()]
		aad := []byte("SPI0SEQ0")
		sealed := c.Seal(nil, iv, seq(0, byte(4*c.Align()-1)), aad, nil)
		f.Add(uint8(i), uint8(len(aad)), append(append(append([]byte{}, iv...), aad...), sealed...))
		f.Add(uint8(i), uint8(0), []byte{})
	}
	f.Fuzz(func(t *testing.T, sel, aadLen uint8, data []byte) {
		c := ciphers[int(sel)%len(ciphers)]
		if len(data) < c.IVLen() {
			if _, err := c.Open(nil, data, nil, nil, nil); err == nil {
				t.Fatal("Open accepted a short IV")
			}
			return
		}
		iv, rest := data[:c.IVLen()], data[c.IVLen():]
		n := min(int(aadLen)%16, len(rest))
		aad, ct := rest[:n], rest[n:]
		pt, err := c.Open(nil, iv, ct, aad, nil)
		if err != nil {
			if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrLength) {
				t.Fatalf("Open error %v is neither ErrAuth nor ErrLength", err)
			}
			return
		}
		if again := c.Seal(nil, iv, pt, aad, nil); !bytes.Equal(again, ct) {
			t.Fatalf("Open accepted %x, which Seal does not produce", ct)
		}
		// In-place decryption agrees.
		buf := append([]byte(nil), ct...)
		if inPlace, err := c.Open(buf[:0], iv, buf, aad, nil); err != nil || !bytes.Equal(inPlace, pt) {
			t.Fatalf("in-place Open = %x, %v; want %x", inPlace, err, pt)
		}
	})
}

// fuzzGroups are the groups FuzzDHShared exercises, selected by a byte.
var fuzzGroups = []ID{DHMODP768, DHMODP2048, DHMODP2048S256, DHECP256, DHECP384, DHECP521, DHCurve25519}

// FuzzDHShared feeds arbitrary peer public values to Shared: it must never
// panic, must fail with ErrInvalidPublic for anything malformed, and a
// value it accepts must be well-formed for the group.
func FuzzDHShared(f *testing.F) {
	keys := make([]DH, len(fuzzGroups))
	for i, g := range fuzzGroups {
		priv := seq(1, 32)
		if _, coord, ok := ecdhCurve(g); ok {
			priv = seq(1, byte(coord))
		}
		k, err := newDHFromPrivate(g, priv)
		if err != nil {
			f.Fatal(err)
		}
		keys[i] = k
	}
	for i, k := range keys {
		f.Add(uint8(i), k.Public())
		f.Add(uint8(i), []byte{})
		f.Add(uint8(i), make([]byte, len(k.Public())))
	}
	f.Fuzz(func(t *testing.T, sel uint8, peer []byte) {
		i := int(sel) % len(keys)
		g, k := fuzzGroups[i], keys[i]
		z, err := k.Shared(peer)
		if err != nil {
			if !errors.Is(err, ErrInvalidPublic) {
				t.Fatalf("%s: error %v is not ErrInvalidPublic", Name(TypeDH, g), err)
			}
			return
		}
		n, _ := DHPublicLen(g)
		if len(peer) != n {
			t.Fatalf("%s: accepted a %d-byte public value, want %d", Name(TypeDH, g), len(peer), n)
		}
		if grp, ok := modpGroups[g]; ok {
			y := new(big.Int).SetBytes(peer)
			if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(grp.pMinus1) >= 0 {
				t.Fatalf("%s: accepted out-of-range public value", Name(TypeDH, g))
			}
			if len(z) != grp.size {
				t.Fatalf("%s: shared secret of %d bytes", Name(TypeDH, g), len(z))
			}
		}
		if bytes.Equal(z, make([]byte, len(z))) {
			t.Fatalf("%s: all-zero shared secret", Name(TypeDH, g))
		}
	})
}
