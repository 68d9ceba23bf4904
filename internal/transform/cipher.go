package transform

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/subtle"
	"fmt"
	"hash"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/vpngw/vpngw/internal/aesgcm"
)

// NewCipher instantiates encryption algorithm encr (with key length keyBits,
// 0 for algorithms with a single key size) together with integrity
// algorithm integ. encKey is the encryption keying material as EncrKeyLen
// counts it (for AES-GCM and ChaCha20-Poly1305: key ‖ 4-byte salt);
// integKey is the integrity key of IntegKeyLen bytes. Combined-mode
// algorithms require integ == IntegNone; the others require an integrity
// algorithm. Unimplemented algorithms (AES-GCM with 8-byte ICV, AES-CTR,
// single DES) yield ErrUnsupported.
//
// The key slices are copied; the caller may clear them afterwards.
func NewCipher(encr ID, keyBits int, integ ID, encKey, integKey []byte) (Cipher, error) {
	if err := checkPair(encr, integ); err != nil {
		return nil, err
	}
	klen, err := EncrKeyLen(encr, keyBits)
	if err != nil {
		return nil, err
	}
	if len(encKey) != klen {
		return nil, fmt.Errorf("transform: %s encryption key is %d bytes, want %d",
			Name(TypeENCR, encr), len(encKey), klen)
	}
	if IsAEAD(encr) {
		if len(integKey) != 0 {
			return nil, fmt.Errorf("transform: %s takes no integrity key", Name(TypeENCR, encr))
		}
		return newAEADCipher(encr, encKey)
	}
	mac, err := newMAC(integ, integKey)
	if err != nil {
		return nil, err
	}
	switch encr {
	case EncrNULL:
		return &nullCipher{mac: mac}, nil
	case EncrDES3:
		b, err := des.NewTripleDESCipher(encKey)
		if err != nil {
			return nil, fmt.Errorf("transform: 3DES key: %w", err)
		}
		return newCBCCipher(b, mac), nil
	case EncrAESCBC:
		b, err := aes.NewCipher(encKey)
		if err != nil {
			return nil, fmt.Errorf("transform: AES key: %w", err)
		}
		return newCBCCipher(b, mac), nil
	}
	return nil, fmt.Errorf("%w: encryption %s", ErrUnsupported, Name(TypeENCR, encr))
}

// aeadCipher is AES-GCM (RFC 4106, RFC 5282) or ChaCha20-Poly1305
// (RFC 7634): the 12-byte nonce is the 4-byte salt from the keying
// material followed by the 8-byte explicit IV.
type aeadCipher struct {
	aead cipher.AEAD // stateless, safe for concurrent use
	// gcm is set for AES-GCM with a 16-byte ICV (aes*gcm16): it is also
	// aead, and Seal/Open call its SealIV/OpenIV, which take the salt
	// fixed at New and need no nonce buffer. It runs the VAES assembly
	// when the CPU has it (see package aesgcm).
	gcm  *aesgcm.AEAD
	salt [gcmSaltLen]byte
	// nonces recycles *[12]byte nonce buffers: a nonce passed through the
	// cipher.AEAD interface escapes, so a stack array would be allocated
	// on every call.
	nonces sync.Pool
}

func newAEADCipher(encr ID, keyMat []byte) (*aeadCipher, error) {
	key, salt := keyMat[:len(keyMat)-gcmSaltLen], keyMat[len(keyMat)-gcmSaltLen:]
	var (
		aead cipher.AEAD
		gcm  *aesgcm.AEAD
		err  error
	)
	switch encr {
	case EncrAESGCM16:
		gcm, err = aesgcm.New(key, salt, aesgcm.ImplAuto)
		aead = gcm
	case EncrAESGCM12:
		var b cipher.Block
		if b, err = aes.NewCipher(key); err != nil {
			return nil, fmt.Errorf("transform: AES key: %w", err)
		}
		aead, err = cipher.NewGCMWithTagSize(b, 12)
	case EncrChaCha20Poly1305:
		aead, err = chacha20poly1305.New(key)
	default:
		return nil, fmt.Errorf("%w: encryption %s", ErrUnsupported, Name(TypeENCR, encr))
	}
	if err != nil {
		return nil, fmt.Errorf("transform: %s: %w", Name(TypeENCR, encr), err)
	}
	c := &aeadCipher{aead: aead, gcm: gcm}
	copy(c.salt[:], salt)
	c.nonces.New = func() any { return new([12]byte) }
	return c, nil
}

func (c *aeadCipher) IVLen() int  { return aeadIVLen }
func (c *aeadCipher) ICVLen() int { return c.aead.Overhead() }
func (c *aeadCipher) Align() int  { return 1 }

func (c *aeadCipher) nonce(iv []byte) *[12]byte {
	n := c.nonces.Get().(*[12]byte)
	copy(n[:gcmSaltLen], c.salt[:])
	copy(n[gcmSaltLen:], iv)
	return n
}

func (c *aeadCipher) Seal(dst, iv, plaintext, aad, tail []byte) []byte {
	if len(iv) != aeadIVLen {
		panic("transform: AEAD Seal: IV must be 8 bytes")
	}
	if len(tail) != 0 {
		panic("transform: AEAD Seal: tail must be empty; put the ESN into aad")
	}
	if c.gcm != nil {
		return c.gcm.SealIV(dst, iv, plaintext, aad)
	}
	n := c.nonce(iv)
	out := c.aead.Seal(dst, n[:], plaintext, aad)
	c.nonces.Put(n)
	return out
}

func (c *aeadCipher) Open(dst, iv, ciphertext, aad, tail []byte) ([]byte, error) {
	if len(iv) != aeadIVLen || len(ciphertext) < c.aead.Overhead() {
		return nil, ErrLength
	}
	if len(tail) != 0 {
		panic("transform: AEAD Open: tail must be empty; put the ESN into aad")
	}
	if c.gcm != nil {
		if out, err := c.gcm.OpenIV(dst, iv, ciphertext, aad); err == nil {
			return out, nil
		}
		return nil, ErrAuth
	}
	n := c.nonce(iv)
	out, err := c.aead.Open(dst, n[:], ciphertext, aad)
	c.nonces.Put(n)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}

// mac is a truncated HMAC (RFC 2104 with the truncations of RFC 2403,
// 2404, 4868) that hands out pre-keyed hash states from a pool, so that
// computing an ICV allocates nothing.
type mac struct {
	icvLen int
	states sync.Pool // *macState
}

// macState is one keyed HMAC and the buffer its Sum writes into.
type macState struct {
	h   hash.Hash
	sum [64]byte
}

func newMAC(integ ID, key []byte) (*mac, error) {
	alg, ok := integAlgs[integ]
	if !ok {
		return nil, fmt.Errorf("%w: integrity %s", ErrUnsupported, Name(TypeINTEG, integ))
	}
	if len(key) != alg.keyLen {
		return nil, fmt.Errorf("transform: %s key is %d bytes, want %d",
			Name(TypeINTEG, integ), len(key), alg.keyLen)
	}
	k := append([]byte(nil), key...)
	m := &mac{icvLen: alg.icvLen}
	m.states.New = func() any { return &macState{h: hmac.New(alg.hash, k)} }
	return m, nil
}

// icv writes the truncated MAC of the concatenation of parts to out,
// which must be icvLen bytes long.
func (m *mac) icv(out []byte, parts ...[]byte) {
	s := m.states.Get().(*macState)
	s.h.Reset()
	for _, p := range parts {
		s.h.Write(p)
	}
	sum := s.h.Sum(s.sum[:0])
	copy(out, sum[:m.icvLen])
	m.states.Put(s)
}

// verify reports in constant time whether want is the ICV of parts.
func (m *mac) verify(want []byte, parts ...[]byte) bool {
	s := m.states.Get().(*macState)
	s.h.Reset()
	for _, p := range parts {
		s.h.Write(p)
	}
	sum := s.h.Sum(s.sum[:0])
	ok := subtle.ConstantTimeCompare(sum[:m.icvLen], want) == 1
	m.states.Put(s)
	return ok
}

// cbcMode is the interface crypto/cipher's CBC modes implement beyond
// cipher.BlockMode; SetIV lets a pooled mode be reused for another packet.
type cbcMode interface {
	cipher.BlockMode
	SetIV([]byte)
}

// cbcCipher is a CBC block cipher (AES-CBC, RFC 3602; 3DES-CBC, RFC 2451)
// with an encrypt-then-MAC integrity algorithm.
type cbcCipher struct {
	bs  int
	mac *mac
	// enc and dec recycle CBC modes (which carry the chaining state)
	// built over the one shared, stateless cipher.Block.
	enc, dec sync.Pool // cbcMode
}

func newCBCCipher(b cipher.Block, m *mac) *cbcCipher {
	c := &cbcCipher{bs: b.BlockSize(), mac: m}
	zero := make([]byte, b.BlockSize())
	c.enc.New = func() any { return cipher.NewCBCEncrypter(b, zero).(cbcMode) }
	c.dec.New = func() any { return cipher.NewCBCDecrypter(b, zero).(cbcMode) }
	return c
}

func (c *cbcCipher) IVLen() int  { return c.bs }
func (c *cbcCipher) ICVLen() int { return c.mac.icvLen }
func (c *cbcCipher) Align() int  { return c.bs }

func (c *cbcCipher) Seal(dst, iv, plaintext, aad, tail []byte) []byte {
	if len(iv) != c.bs {
		panic("transform: CBC Seal: IV length must equal the block size")
	}
	if len(plaintext)%c.bs != 0 {
		panic("transform: CBC Seal: plaintext is not a multiple of the block size")
	}
	ret, out := aesgcm.SliceForAppend(dst, len(plaintext)+c.mac.icvLen)
	ct := out[:len(plaintext)]
	if len(plaintext) > 0 {
		m := c.enc.Get().(cbcMode)
		m.SetIV(iv)
		m.CryptBlocks(ct, plaintext)
		c.enc.Put(m)
	}
	c.mac.icv(out[len(plaintext):], aad, iv, ct, tail)
	return ret
}

func (c *cbcCipher) Open(dst, iv, ciphertext, aad, tail []byte) ([]byte, error) {
	n := len(ciphertext) - c.mac.icvLen
	if len(iv) != c.bs || n < 0 || n%c.bs != 0 {
		return nil, ErrLength
	}
	body, icv := ciphertext[:n], ciphertext[n:]
	if !c.mac.verify(icv, aad, iv, body, tail) {
		return nil, ErrAuth
	}
	ret, out := aesgcm.SliceForAppend(dst, n)
	if n > 0 {
		m := c.dec.Get().(cbcMode)
		m.SetIV(iv)
		m.CryptBlocks(out, body)
		c.dec.Put(m)
	}
	return ret, nil
}

// nullCipher is ENCR_NULL (RFC 2410) with an integrity algorithm: the
// payload travels in clear and only the ICV protects it. ESP only.
type nullCipher struct {
	mac *mac
}

func (c *nullCipher) IVLen() int  { return 0 }
func (c *nullCipher) ICVLen() int { return c.mac.icvLen }
func (c *nullCipher) Align() int  { return 1 }

func (c *nullCipher) Seal(dst, iv, plaintext, aad, tail []byte) []byte {
	if len(iv) != 0 {
		panic("transform: NULL Seal: IV must be empty")
	}
	ret, out := aesgcm.SliceForAppend(dst, len(plaintext)+c.mac.icvLen)
	ct := out[:len(plaintext)]
	copy(ct, plaintext)
	c.mac.icv(out[len(plaintext):], aad, ct, tail)
	return ret
}

func (c *nullCipher) Open(dst, iv, ciphertext, aad, tail []byte) ([]byte, error) {
	n := len(ciphertext) - c.mac.icvLen
	if len(iv) != 0 || n < 0 {
		return nil, ErrLength
	}
	body, icv := ciphertext[:n], ciphertext[n:]
	if !c.mac.verify(icv, aad, body, tail) {
		return nil, ErrAuth
	}
	ret, out := aesgcm.SliceForAppend(dst, n)
	copy(out, body)
	return ret, nil
}
