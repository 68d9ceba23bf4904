package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"hash"
	"sync"

	"github.com/vpngw/vpngw/internal/transform"
)

// The ciphers below implement the transform.Cipher contract for tests with
// the standard library only, so that esp can be tested on its own.

// gcmCipher is AES-GCM per RFC 4106: key ‖ 4-byte salt, 8-byte explicit IV.
type gcmCipher struct {
	aead   cipher.AEAD
	salt   [4]byte
	nonces sync.Pool // *[12]byte: a stack nonce would escape through the interface call
}

func newGCM(keySalt []byte, tagLen int) *gcmCipher {
	b, err := aes.NewCipher(keySalt[:len(keySalt)-4])
	if err != nil {
		panic(err)
	}
	a, err := cipher.NewGCMWithTagSize(b, tagLen)
	if err != nil {
		panic(err)
	}
	c := &gcmCipher{aead: a}
	copy(c.salt[:], keySalt[len(keySalt)-4:])
	c.nonces.New = func() any { return new([12]byte) }
	return c
}

func (c *gcmCipher) IVLen() int  { return 8 }
func (c *gcmCipher) ICVLen() int { return c.aead.Overhead() }
func (c *gcmCipher) Align() int  { return 1 }

func (c *gcmCipher) Seal(dst, iv, plaintext, aad, tail []byte) []byte {
	n := c.nonces.Get().(*[12]byte)
	copy(n[:4], c.salt[:])
	copy(n[4:], iv)
	out := c.aead.Seal(dst, n[:], plaintext, aad)
	c.nonces.Put(n)
	return out
}

func (c *gcmCipher) Open(dst, iv, ciphertext, aad, tail []byte) ([]byte, error) {
	if len(ciphertext) < c.aead.Overhead() {
		return nil, transform.ErrLength
	}
	n := c.nonces.Get().(*[12]byte)
	copy(n[:4], c.salt[:])
	copy(n[4:], iv)
	out, err := c.aead.Open(dst, n[:], ciphertext, aad)
	c.nonces.Put(n)
	if err != nil {
		return nil, transform.ErrAuth
	}
	return out, nil
}

// etmCipher is encrypt-then-MAC: AES-CBC (RFC 3602) or NULL (RFC 2410)
// with a truncated HMAC (RFC 2404 HMAC-SHA1-96, RFC 4868 HMAC-SHA2-256-128).
type etmCipher struct {
	block  cipher.Block // nil for NULL encryption
	icvLen int
	macs   sync.Pool // hash.Hash
	sums   sync.Pool // *[64]byte
}

func newETM(encKey, macKey []byte, newHash func() hash.Hash, icvLen int) *etmCipher {
	c := &etmCipher{icvLen: icvLen}
	if encKey != nil {
		b, err := aes.NewCipher(encKey)
		if err != nil {
			panic(err)
		}
		c.block = b
	}
	c.macs.New = func() any { return hmac.New(newHash, macKey) }
	c.sums.New = func() any { return new([64]byte) }
	return c
}

func newCBCSHA256(encKey, macKey []byte) *etmCipher { return newETM(encKey, macKey, sha256.New, 16) }
func newNullSHA1(macKey []byte) *etmCipher          { return newETM(nil, macKey, sha1.New, 12) }

func (c *etmCipher) IVLen() int {
	if c.block == nil {
		return 0
	}
	return 16
}
func (c *etmCipher) ICVLen() int { return c.icvLen }
func (c *etmCipher) Align() int {
	if c.block == nil {
		return 1
	}
	return 16
}

func (c *etmCipher) mac(dst, aad, iv, ct, tail []byte) {
	h := c.macs.Get().(hash.Hash)
	h.Reset()
	h.Write(aad)
	h.Write(iv)
	h.Write(ct)
	h.Write(tail)
	s := c.sums.Get().(*[64]byte)
	sum := h.Sum(s[:0])
	copy(dst, sum[:c.icvLen])
	c.sums.Put(s)
	c.macs.Put(h)
}

func (c *etmCipher) Seal(dst, iv, plaintext, aad, tail []byte) []byte {
	n := len(plaintext)
	out := append(dst, plaintext...) // in place when dst is plaintext[:0]
	if c.block != nil {
		cipher.NewCBCEncrypter(c.block, iv).CryptBlocks(out[len(dst):], out[len(dst):])
	}
	out = append(out, make([]byte, c.icvLen)...)
	c.mac(out[len(dst)+n:], aad, iv, out[len(dst):len(dst)+n], tail)
	return out
}

func (c *etmCipher) Open(dst, iv, ciphertext, aad, tail []byte) ([]byte, error) {
	if len(ciphertext) < c.icvLen {
		return nil, transform.ErrLength
	}
	ct := ciphertext[:len(ciphertext)-c.icvLen]
	if c.block != nil && len(ct)%16 != 0 {
		return nil, transform.ErrLength
	}
	var want [64]byte
	c.mac(want[:c.icvLen], aad, iv, ct, tail)
	if subtle.ConstantTimeCompare(want[:c.icvLen], ciphertext[len(ct):]) != 1 {
		return nil, transform.ErrAuth
	}
	out := append(dst, ct...)
	if c.block != nil {
		cipher.NewCBCDecrypter(c.block, iv).CryptBlocks(out[len(dst):], out[len(dst):])
	}
	return out, nil
}

// family is one cipher family under test.
type family struct {
	name string
	encr transform.ID
	new  func() transform.Cipher
}

func families() []family {
	k32 := make([]byte, 36)
	for i := range k32 {
		k32[i] = byte(i)
	}
	return []family{
		{"aes256gcm16", transform.EncrAESGCM16, func() transform.Cipher { return newGCM(k32, 16) }},
		{"aes128gcm16", transform.EncrAESGCM16, func() transform.Cipher { return newGCM(k32[16:], 16) }},
		{"aes256gcm12", transform.EncrAESGCM12, func() transform.Cipher { return newGCM(k32, 12) }},
		{"aes256cbc-sha256", transform.EncrAESCBC, func() transform.Cipher { return newCBCSHA256(k32[:32], k32[4:]) }},
		{"aes128cbc-sha256", transform.EncrAESCBC, func() transform.Cipher { return newCBCSHA256(k32[:16], k32[4:]) }},
		{"null-sha1", transform.EncrNULL, func() transform.Cipher { return newNullSHA1(k32[:20]) }},
	}
}
