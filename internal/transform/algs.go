package transform

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
)

// gcmSaltLen is the length of the salt that follows the key in the keying
// material of AES-GCM (RFC 4106 §8.1, RFC 5282 §7.1) and ChaCha20-Poly1305
// (RFC 7634 §2); the 12-byte nonce is salt ‖ IV.
const gcmSaltLen = 4

// aeadIVLen is the explicit per-packet IV of the combined-mode algorithms.
const aeadIVLen = 8

// IsAEAD reports whether encr is a combined-mode (AEAD) algorithm, which
// must be negotiated without an integrity algorithm (RFC 7296 §3.3).
func IsAEAD(encr ID) bool {
	switch encr {
	case EncrAESGCM8, EncrAESGCM12, EncrAESGCM16, EncrChaCha20Poly1305:
		return true
	}
	return false
}

// EncrKeyLen returns the number of bytes of keying material encr with the
// given key length in bits takes from prf+ (RFC 7296 §2.14, §2.17): the
// cipher key plus, for AES-GCM and ChaCha20-Poly1305, the 4-byte salt.
// keyBits 0 selects the only key size of algorithms that have one (3DES,
// ChaCha20-Poly1305, NULL); AES needs 128, 192 or 256.
func EncrKeyLen(encr ID, keyBits int) (int, error) {
	switch encr {
	case EncrNULL:
		if keyBits == 0 {
			return 0, nil
		}
	case EncrDES3:
		if keyBits == 0 || keyBits == 192 {
			return 24, nil
		}
	case EncrAESCBC:
		if validAESBits(keyBits) {
			return keyBits / 8, nil
		}
	case EncrAESGCM12, EncrAESGCM16:
		if validAESBits(keyBits) {
			return keyBits/8 + gcmSaltLen, nil
		}
	case EncrChaCha20Poly1305:
		if keyBits == 0 || keyBits == 256 {
			return 32 + gcmSaltLen, nil
		}
	default:
		return 0, fmt.Errorf("%w: encryption %s", ErrUnsupported, Name(TypeENCR, encr))
	}
	return 0, fmt.Errorf("%w: encryption %s with %d-bit key", ErrUnsupported, Name(TypeENCR, encr), keyBits)
}

func validAESBits(bits int) bool {
	return bits == 128 || bits == 192 || bits == 256
}

// EncrIVLen returns the length of the explicit IV encr carries in every
// packet (the same value the Cipher's IVLen method returns).
func EncrIVLen(encr ID) (int, error) {
	switch encr {
	case EncrNULL:
		return 0, nil
	case EncrDES3:
		return 8, nil
	case EncrAESCBC:
		return 16, nil
	case EncrAESGCM12, EncrAESGCM16, EncrChaCha20Poly1305:
		return aeadIVLen, nil
	}
	return 0, fmt.Errorf("%w: encryption %s", ErrUnsupported, Name(TypeENCR, encr))
}

// EncrBlockSize returns the length the plaintext of encr must be padded to
// a multiple of (the Cipher's Align): 16 for AES-CBC, 8 for 3DES, 1 for the
// combined-mode algorithms and NULL. ESP additionally aligns to 4 bytes.
func EncrBlockSize(encr ID) (int, error) {
	switch encr {
	case EncrNULL, EncrAESGCM12, EncrAESGCM16, EncrChaCha20Poly1305:
		return 1, nil
	case EncrDES3:
		return 8, nil
	case EncrAESCBC:
		return 16, nil
	}
	return 0, fmt.Errorf("%w: encryption %s", ErrUnsupported, Name(TypeENCR, encr))
}

// IntegKeyLen returns the key length in bytes of integrity algorithm integ
// (RFC 2404, RFC 2403, RFC 4868 §2.1.1: the HMAC's output size). IntegNone
// has a zero-length key.
func IntegKeyLen(integ ID) (int, error) {
	m, ok := integAlgs[integ]
	if !ok {
		if integ == IntegNone {
			return 0, nil
		}
		return 0, fmt.Errorf("%w: integrity %s", ErrUnsupported, Name(TypeINTEG, integ))
	}
	return m.keyLen, nil
}

// ICVLen returns the length of the integrity check value a Cipher for encr
// and integ appends (the Cipher's ICVLen method), without needing keys; use
// it to size buffers and fragments before keys exist.
func ICVLen(encr, integ ID) (int, error) {
	if err := checkPair(encr, integ); err != nil {
		return 0, err
	}
	switch encr {
	case EncrAESGCM12:
		return 12, nil
	case EncrAESGCM16, EncrChaCha20Poly1305:
		return 16, nil
	}
	return integAlgs[integ].icvLen, nil
}

// integAlg describes an HMAC integrity algorithm (RFC 2403, 2404, 4868).
type integAlg struct {
	hash   func() hash.Hash // underlying hash
	keyLen int              // key length in bytes
	icvLen int              // truncated output length in bytes
}

var integAlgs = map[ID]integAlg{
	IntegHMACMD596:      {md5.New, 16, 12},
	IntegHMACSHA196:     {sha1.New, 20, 12},
	IntegHMACSHA2256128: {sha256.New, 32, 16},
	IntegHMACSHA2384192: {sha512.New384, 48, 24},
	IntegHMACSHA2512256: {sha512.New, 64, 32},
}

// prfAlgs maps the HMAC PRFs (RFC 2104, RFC 4868 §2.1.2) to their hashes.
var prfAlgs = map[ID]func() hash.Hash{
	PRFHMACMD5:     md5.New,
	PRFHMACSHA1:    sha1.New,
	PRFHMACSHA2256: sha256.New,
	PRFHMACSHA2384: sha512.New384,
	PRFHMACSHA2512: sha512.New,
}

// checkPair checks that encr and integ form a usable combination:
// combined-mode algorithms without integrity, everything else with one.
func checkPair(encr, integ ID) error {
	if _, err := EncrIVLen(encr); err != nil {
		return err
	}
	if IsAEAD(encr) {
		if integ != IntegNone {
			return fmt.Errorf("transform: combined-mode %s cannot be used with integrity %s",
				Name(TypeENCR, encr), Name(TypeINTEG, integ))
		}
		return nil
	}
	if integ == IntegNone {
		return fmt.Errorf("%w: %s without an integrity algorithm", ErrUnsupported, Name(TypeENCR, encr))
	}
	if _, ok := integAlgs[integ]; !ok {
		return fmt.Errorf("%w: integrity %s", ErrUnsupported, Name(TypeINTEG, integ))
	}
	return nil
}
