package message

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"hash"
	"math/rand/v2"
	"testing"

	"github.com/vpngw/vpngw/internal/transform"
)

// Test-only implementations of transform.Cipher, independent of package
// transform's, so that this package's tests check the SK layout against the
// Cipher contract (and against strongSwan) on their own.

// gcmCipher is AES-GCM per RFC 5282: key ‖ 4-byte salt, 8-byte explicit IV.
type gcmCipher struct {
	aead cipher.AEAD
	salt [4]byte
}

func newGCMCipher(t testing.TB, keyAndSalt []byte, icvLen int) transform.Cipher {
	t.Helper()
	if len(keyAndSalt) < 4 {
		t.Fatalf("GCM key material of %d bytes", len(keyAndSalt))
	}
	b, err := aes.NewCipher(keyAndSalt[:len(keyAndSalt)-4])
	if err != nil {
		t.Fatal(err)
	}
	a, err := cipher.NewGCMWithTagSize(b, icvLen)
	if err != nil {
		t.Fatal(err)
	}
	c := &gcmCipher{aead: a}
	copy(c.salt[:], keyAndSalt[len(keyAndSalt)-4:])
	return c
}

func (c *gcmCipher) IVLen() int  { return 8 }
func (c *gcmCipher) ICVLen() int { return c.aead.Overhead() }
func (c *gcmCipher) Align() int  { return 1 }

func (c *gcmCipher) nonce(iv []byte) []byte {
	n := make([]byte, 12)
	copy(n, c.salt[:])
	copy(n[4:], iv)
	return n
}

func (c *gcmCipher) Seal(dst, iv, plaintext, aad, tail []byte) []byte {
	return c.aead.Seal(dst, c.nonce(iv), plaintext, aad)
}

func (c *gcmCipher) Open(dst, iv, ciphertext, aad, tail []byte) ([]byte, error) {
	if len(ciphertext) < c.aead.Overhead() {
		return nil, transform.ErrLength
	}
	out, err := c.aead.Open(dst, c.nonce(iv), ciphertext, aad)
	if err != nil {
		return nil, transform.ErrAuth
	}
	return out, nil
}

// cbcCipher is AES-CBC with a truncated HMAC (encrypt-then-MAC): ICV =
// HMAC(aad ‖ iv ‖ ciphertext ‖ tail)[:icvLen].
type cbcCipher struct {
	block  cipher.Block
	newMAC func() hash.Hash
	macKey []byte
	icvLen int
}

func newCBCCipher(t testing.TB, encKey, macKey []byte, h func() hash.Hash, icvLen int) transform.Cipher {
	t.Helper()
	b, err := aes.NewCipher(encKey)
	if err != nil {
		t.Fatal(err)
	}
	return &cbcCipher{block: b, newMAC: h, macKey: macKey, icvLen: icvLen}
}

func (c *cbcCipher) IVLen() int  { return aes.BlockSize }
func (c *cbcCipher) ICVLen() int { return c.icvLen }
func (c *cbcCipher) Align() int  { return aes.BlockSize }

func (c *cbcCipher) icv(aad, iv, ct, tail []byte) []byte {
	m := hmac.New(c.newMAC, c.macKey)
	m.Write(aad)
	m.Write(iv)
	m.Write(ct)
	m.Write(tail)
	return m.Sum(nil)[:c.icvLen]
}

func grow(dst []byte, n int) (whole, tail []byte) {
	if total := len(dst) + n; cap(dst) >= total {
		whole = dst[:total]
	} else {
		whole = make([]byte, total)
		copy(whole, dst)
	}
	return whole, whole[len(dst):]
}

func (c *cbcCipher) Seal(dst, iv, plaintext, aad, tail []byte) []byte {
	if len(plaintext)%aes.BlockSize != 0 {
		panic("cbcCipher: unaligned plaintext")
	}
	whole, out := grow(dst, len(plaintext)+c.icvLen)
	cipher.NewCBCEncrypter(c.block, iv).CryptBlocks(out[:len(plaintext)], plaintext)
	copy(out[len(plaintext):], c.icv(aad, iv, out[:len(plaintext)], tail))
	return whole
}

func (c *cbcCipher) Open(dst, iv, ciphertext, aad, tail []byte) ([]byte, error) {
	if len(ciphertext) < c.icvLen {
		return nil, transform.ErrLength
	}
	body := ciphertext[:len(ciphertext)-c.icvLen]
	if len(body)%aes.BlockSize != 0 {
		return nil, transform.ErrLength
	}
	if subtle.ConstantTimeCompare(c.icv(aad, iv, body, tail), ciphertext[len(body):]) != 1 {
		return nil, transform.ErrAuth
	}
	whole, out := grow(dst, len(body))
	cipher.NewCBCDecrypter(c.block, iv).CryptBlocks(out, body)
	return whole, nil
}

// testCiphers are the fixed-key ciphers the table tests and fuzzers use.
func testCiphers(t testing.TB) map[string]transform.Cipher {
	key := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i)
		}
		return b
	}
	return map[string]transform.Cipher{
		"aes128gcm16":       newGCMCipher(t, key(20, 1), 16),
		"aes256gcm12":       newGCMCipher(t, key(36, 2), 12),
		"aes128-sha256-128": newCBCCipher(t, key(16, 3), key(32, 4), sha256.New, 16),
		"aes256-sha1-96":    newCBCCipher(t, key(32, 5), key(20, 6), sha1.New, 12),
		"aes256-sha384-192": newCBCCipher(t, key(32, 7), key(48, 8), sha512.New384, 24),
	}
}

// testCrypto wraps a cipher with a deterministic IV source.
func testCrypto(c transform.Cipher, seed uint64) *Crypto {
	var s [32]byte
	s[0] = byte(seed)
	return &Crypto{Cipher: c, Rand: rand.NewChaCha8(s)}
}
