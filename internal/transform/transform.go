// Package transform implements the cryptographic transforms that IKEv2 and
// ESP negotiate (RFC 7296 §3.3.2): encryption (with or without combined-mode
// integrity), integrity, pseudo-random functions, Diffie-Hellman groups and
// extended sequence numbers, with their IANA identifiers and names.
//
// It is pure: no sockets, no global mutable state. IKE uses it for the SK
// payload, key derivation (prf+) and key exchange; ESP uses the same Cipher
// values on its hot path, so Cipher implementations are safe for concurrent
// use and do not allocate in steady state.
package transform

import (
	"errors"
)

// Type is an IKEv2 transform type (RFC 7296 §3.3.2).
type Type uint8

// Transform types.
const (
	TypeENCR  Type = 1 // encryption algorithm
	TypePRF   Type = 2 // pseudo-random function
	TypeINTEG Type = 3 // integrity algorithm
	TypeDH    Type = 4 // Diffie-Hellman group (key exchange method)
	TypeESN   Type = 5 // extended sequence numbers
)

// ID is a transform identifier within its Type (IANA "IKEv2 Parameters").
type ID uint16

// Encryption algorithms (transform type 1).
const (
	EncrDES3             ID = 3
	EncrNULL             ID = 11
	EncrAESCBC           ID = 12
	EncrAESCTR           ID = 13
	EncrAESGCM8          ID = 18
	EncrAESGCM12         ID = 19
	EncrAESGCM16         ID = 20
	EncrChaCha20Poly1305 ID = 28
)

// Pseudo-random functions (transform type 2).
const (
	PRFHMACMD5     ID = 1
	PRFHMACSHA1    ID = 2
	PRFHMACSHA2256 ID = 5
	PRFHMACSHA2384 ID = 6
	PRFHMACSHA2512 ID = 7
)

// Integrity algorithms (transform type 3).
const (
	IntegNone           ID = 0
	IntegHMACMD596      ID = 1
	IntegHMACSHA196     ID = 2
	IntegHMACSHA2256128 ID = 12
	IntegHMACSHA2384192 ID = 13
	IntegHMACSHA2512256 ID = 14
)

// Diffie-Hellman groups (transform type 4).
const (
	DHNone         ID = 0
	DHMODP768      ID = 1  // RFC 2409 group 1
	DHMODP1024     ID = 2  // RFC 2409 group 2
	DHMODP1536     ID = 5  // RFC 3526
	DHMODP2048     ID = 14 // RFC 3526
	DHMODP3072     ID = 15
	DHMODP4096     ID = 16
	DHECP256       ID = 19 // RFC 5903
	DHECP384       ID = 20
	DHECP521       ID = 21
	DHMODP2048S256 ID = 24 // RFC 5114 2048-bit MODP with 256-bit prime order subgroup
	DHCurve25519   ID = 31 // RFC 8031
)

// Extended sequence numbers (transform type 5).
const (
	ESNNo  ID = 0
	ESNYes ID = 1
)

// Sentinel errors callers branch on.
var (
	// ErrUnsupported: the transform ID (or key length) is not implemented.
	ErrUnsupported = errors.New("transform: unsupported algorithm")
	// ErrAuth: integrity check (ICV or AEAD tag) failed.
	ErrAuth = errors.New("transform: message authentication failed")
	// ErrInvalidPublic: a peer's DH public value is malformed or invalid
	// (wrong length, not on the curve, out of range).
	ErrInvalidPublic = errors.New("transform: invalid Diffie-Hellman public value")
	// ErrLength: ciphertext too short or not a multiple of the block size.
	ErrLength = errors.New("transform: bad ciphertext length")
)

// Cipher is an instantiated encryption transform together with its integrity
// transform: either a combined-mode (AEAD) algorithm such as AES-GCM, or an
// encrypt-then-MAC pair such as AES-CBC with HMAC-SHA2-256-128, or NULL
// encryption with an integrity algorithm (ESP only).
//
// The same contract serves ESP (RFC 4303 §2, RFC 4106) and IKEv2's SK payload
// (RFC 7296 §3.14, RFC 5282):
//
//   - AEAD: nonce = salt ‖ iv; aad is authenticated; tail must be nil.
//   - encrypt-then-MAC: ciphertext = E(iv, plaintext); ICV = truncated
//     MAC(aad ‖ iv ‖ ciphertext ‖ tail). ESP with ESN passes the high 32
//     bits of the sequence number as tail (RFC 4303 §2.2.1); everyone else
//     passes nil.
//
// The caller lays out the plaintext, including padding to Align(); Cipher
// does not pad. Implementations are safe for concurrent use and do not
// allocate in steady state.
type Cipher interface {
	// IVLen is the length of the explicit IV carried in every packet:
	// 8 for AES-GCM and ChaCha20-Poly1305, 16 for AES-CBC, 8 for 3DES, 0 for NULL.
	IVLen() int
	// ICVLen is the length of the integrity check value appended to the
	// ciphertext (16 for AES-GCM-16, 12 for HMAC-SHA1-96, ...).
	ICVLen() int
	// Align is the length the plaintext must be a multiple of: the cipher's
	// block size for CBC, 1 for AEAD and NULL. ESP additionally requires 4.
	Align() int
	// Seal encrypts and authenticates plaintext, appends ciphertext ‖ ICV
	// to dst and returns the extended slice. To encrypt in place, pass
	// plaintext[:0] as dst. len(iv) must equal IVLen().
	Seal(dst, iv, plaintext, aad, tail []byte) []byte
	// Open verifies and decrypts ciphertext (which ends with the ICV),
	// appends the plaintext to dst and returns it. To decrypt in place pass
	// ciphertext[:0]. It returns ErrAuth if the ICV does not verify and
	// ErrLength if ciphertext is malformed.
	Open(dst, iv, ciphertext, aad, tail []byte) ([]byte, error)
}

// PRF is an instantiated-per-call pseudo-random function (RFC 7296 §2.13).
// Implementations are safe for concurrent use.
type PRF interface {
	// ID is the PRF transform ID.
	ID() ID
	// Size is the output length in bytes (also the preferred key length).
	Size() int
	// Sum returns prf(key, data...) appended to dst.
	Sum(dst, key []byte, data ...[]byte) []byte
}

// DH is one side of a Diffie-Hellman exchange: a private key with its public
// value. It is used once and then discarded.
type DH interface {
	// Group is the DH group transform ID.
	Group() ID
	// Public is the public value as carried in the KE payload (for ECP
	// groups the x ‖ y coordinates without the 0x04 prefix, RFC 5903 §7;
	// for MODP groups left-padded to the prime's length).
	Public() []byte
	// Shared computes the shared secret g^ir from the peer's public value
	// (for ECP, the x coordinate only, RFC 5903 §7). It returns
	// ErrInvalidPublic for a malformed or invalid peer value.
	Shared(peerPublic []byte) ([]byte, error)
}
