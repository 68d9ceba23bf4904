// Package aesgcm is AES-GCM (NIST SP 800-38D) with a 12-byte nonce and a
// 16-byte tag, for 128- and 256-bit keys: the ESP transforms aes128gcm16
// and aes256gcm16 (RFC 4106).
//
// On amd64 CPUs with AVX-512 (F, VL, BW), VAES, VPCLMULQDQ and BMI2 it runs
// assembly that encrypts 16 counter blocks per iteration in four 512-bit
// registers and folds 16 ciphertext blocks into GHASH with one reduction
// (precomputed powers H^1..H^16), in one pass over the data: Seal hashes
// the previous 16 ciphertext blocks while it encrypts the next counters,
// Open hashes 16 ciphertext blocks while it computes their keystream,
// decrypts, and checks the tag afterwards (clearing its output when the
// tag does not match). Go's own crypto/cipher GCM uses 128-bit
// AES-NI and PCLMULQDQ only. Everywhere else (other CPUs, other
// architectures, AES-192, or when New is asked for ImplGeneric) an AEAD is
// crypto/cipher's GCM, so the two paths produce identical bytes.
//
// An AEAD is stateless after New and safe for concurrent use.
package aesgcm

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
)

const (
	// NonceSize is the GCM nonce length.
	NonceSize = 12
	// TagSize is the GCM tag length.
	TagSize = 16
	// SaltSize and IVSize split the nonce the ESP way (RFC 4106):
	// salt from the keying material, then the per-packet IV.
	SaltSize = 4
	IVSize   = 8

	// maxPlaintext is GCM's limit with a 96-bit nonce: 2^32-2 blocks.
	maxPlaintext = (1<<32 - 2) * 16
)

// Impl selects an implementation.
type Impl int

const (
	// ImplAuto uses the assembly when the CPU has the features, the
	// generic path otherwise.
	ImplAuto Impl = iota
	// ImplGeneric always uses crypto/cipher's GCM.
	ImplGeneric
)

var errOpen = errors.New("cipher: message authentication failed")

// AEAD is AES-GCM with a 12-byte nonce and a 16-byte tag. It implements
// cipher.AEAD with crypto/cipher's exact semantics (append to dst,
// in place when dst and the input alias exactly, Open clears its output
// and returns an error when the tag does not verify), and adds
// SealIV/OpenIV that take the nonce as a salt fixed at New plus an
// 8-byte IV, without allocating.
type AEAD struct {
	// k is the expanded key and GHASH powers for the assembly; nil on
	// the generic path.
	k *keySched
	// generic is crypto/cipher's GCM, used when k is nil.
	generic cipher.AEAD
	// salt is the nonce prefix SealIV and OpenIV use.
	salt [SaltSize]byte
	// nonces recycles nonce buffers for the generic path of SealIV and
	// OpenIV (a nonce passed through cipher.AEAD escapes).
	nonces sync.Pool
}

// keySched is what the assembly reads.
type keySched struct {
	// rk holds the nr+1 AES round keys, 16 bytes each.
	rk [15 * 16]byte
	nr int
	// powers holds H^16 … H^1 (entry i is H^(16-i)) in the byte-reflected
	// form the GHASH code multiplies in, each times x (see ghashPowers),
	// followed by 16 zero entries so that a batch of b < 16 blocks can
	// load 16 powers starting at entry 16-b.
	powers [32][16]byte
}

// New returns AES-GCM for key (16, 24 or 32 bytes) with the nonce salt
// salt for SealIV/OpenIV (nil means zero; Seal and Open ignore it). impl
// chooses the implementation; AES-192 always uses the generic one.
func New(key, salt []byte, impl Impl) (*AEAD, error) {
	if salt != nil && len(salt) != SaltSize {
		return nil, fmt.Errorf("aesgcm: salt is %d bytes, want %d", len(salt), SaltSize)
	}
	a := &AEAD{}
	copy(a.salt[:], salt)
	a.nonces.New = func() any { return new([NonceSize]byte) }
	if impl == ImplAuto && hasAsm && (len(key) == 16 || len(key) == 32) {
		a.k = newKeySched(key)
		return a, nil
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aesgcm: %w", err)
	}
	if a.generic, err = cipher.NewGCM(b); err != nil {
		return nil, fmt.Errorf("aesgcm: %w", err)
	}
	return a, nil
}

// Accelerated reports whether a uses the assembly.
func (a *AEAD) Accelerated() bool { return a.k != nil }

// NonceSize returns 12.
func (a *AEAD) NonceSize() int { return NonceSize }

// Overhead returns the tag length, 16.
func (a *AEAD) Overhead() int { return TagSize }

// Seal encrypts and authenticates plaintext and aad with nonce and
// appends the result to dst, as cipher.AEAD's Seal.
func (a *AEAD) Seal(dst, nonce, plaintext, aad []byte) []byte {
	if len(nonce) != NonceSize {
		panic("aesgcm: incorrect nonce length given to GCM")
	}
	if a.k == nil {
		return a.generic.Seal(dst, nonce, plaintext, aad)
	}
	var j0 [16]byte
	copy(j0[:], nonce)
	return a.seal(dst, &j0, plaintext, aad)
}

// Open authenticates and decrypts ciphertext and aad with nonce and
// appends the plaintext to dst, as cipher.AEAD's Open.
func (a *AEAD) Open(dst, nonce, ciphertext, aad []byte) ([]byte, error) {
	if len(nonce) != NonceSize {
		panic("aesgcm: incorrect nonce length given to GCM")
	}
	if a.k == nil {
		return a.generic.Open(dst, nonce, ciphertext, aad)
	}
	var j0 [16]byte
	copy(j0[:], nonce)
	return a.open(dst, &j0, ciphertext, aad)
}

// SealIV is Seal with the nonce salt ‖ iv (salt from New), iv 8 bytes.
func (a *AEAD) SealIV(dst, iv, plaintext, aad []byte) []byte {
	if len(iv) != IVSize {
		panic("aesgcm: IV must be 8 bytes")
	}
	if a.k == nil {
		n := a.nonces.Get().(*[NonceSize]byte)
		a.ivNonce(n, iv)
		out := a.generic.Seal(dst, n[:], plaintext, aad)
		a.nonces.Put(n)
		return out
	}
	var j0 [16]byte
	a.ivNonce((*[NonceSize]byte)(j0[:]), iv)
	return a.seal(dst, &j0, plaintext, aad)
}

// OpenIV is Open with the nonce salt ‖ iv (salt from New), iv 8 bytes.
func (a *AEAD) OpenIV(dst, iv, ciphertext, aad []byte) ([]byte, error) {
	if len(iv) != IVSize {
		panic("aesgcm: IV must be 8 bytes")
	}
	if a.k == nil {
		n := a.nonces.Get().(*[NonceSize]byte)
		a.ivNonce(n, iv)
		out, err := a.generic.Open(dst, n[:], ciphertext, aad)
		a.nonces.Put(n)
		return out, err
	}
	var j0 [16]byte
	a.ivNonce((*[NonceSize]byte)(j0[:]), iv)
	return a.open(dst, &j0, ciphertext, aad)
}

// ivNonce writes the nonce salt ‖ iv to n.
func (a *AEAD) ivNonce(n *[NonceSize]byte, iv []byte) {
	copy(n[:], a.salt[:])
	copy(n[SaltSize:], iv)
}

// seal is the assembly path; j0 holds the nonce in its first 12 bytes.
func (a *AEAD) seal(dst []byte, j0 *[16]byte, plaintext, aad []byte) []byte {
	if uint64(len(plaintext)) > maxPlaintext {
		panic("aesgcm: message too large for GCM")
	}
	ret, out := SliceForAppend(dst, len(plaintext)+TagSize)
	if inexactOverlap(out, plaintext) {
		panic("aesgcm: invalid buffer overlap of output and input")
	}
	if anyOverlap(out, aad) {
		panic("aesgcm: invalid buffer overlap of output and additional data")
	}
	j0[15] = 1
	k := a.k
	gcmSeal(&k.rk, k.nr, &k.powers, (*[TagSize]byte)(out[len(plaintext):]), j0, aad, out[:len(plaintext)], plaintext)
	return ret
}

// open is the assembly path; j0 holds the nonce in its first 12 bytes.
// It decrypts into out while it hashes the ciphertext (one pass), then
// compares the tag in constant time and clears out if it does not match,
// as crypto/cipher does.
func (a *AEAD) open(dst []byte, j0 *[16]byte, ciphertext, aad []byte) ([]byte, error) {
	if len(ciphertext) < TagSize || uint64(len(ciphertext)) > maxPlaintext+TagSize {
		return nil, errOpen
	}
	ct, want := ciphertext[:len(ciphertext)-TagSize], ciphertext[len(ciphertext)-TagSize:]
	ret, out := SliceForAppend(dst, len(ct))
	if inexactOverlap(out, ciphertext) {
		panic("aesgcm: invalid buffer overlap of output and input")
	}
	if anyOverlap(out, aad) {
		panic("aesgcm: invalid buffer overlap of output and additional data")
	}
	j0[15] = 1
	var tag [TagSize]byte
	k := a.k
	gcmOpen(&k.rk, k.nr, &k.powers, &tag, j0, aad, out, ct)
	if subtle.ConstantTimeCompare(tag[:], want) != 1 {
		clear(out)
		return nil, errOpen
	}
	return ret, nil
}

// SliceForAppend extends in by n bytes, reusing its capacity when it can,
// and returns the whole slice and the n new bytes: crypto/cipher's rule for
// where an AEAD's output goes, which transform's other ciphers follow too.
func SliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return head, tail
}
