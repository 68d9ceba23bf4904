package transform

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"encoding/binary"
	"fmt"
	"time"
)

// This file holds IKEv1 (RFC 2409) key derivation and Azure's IKEv1 offer
// lists. IKEv1 reuses the HMAC PRFs, the DH groups and the ciphers above;
// only the derivations differ from IKEv2.

// V1Keys are the keys of an IKEv1 ISAKMP SA authenticated with a pre-shared
// key (RFC 2409 §5, §5.4). They are secret: never log them.
type V1Keys struct {
	// SKEYID = prf(pre-shared-key, Ni_b | Nr_b).
	SKEYID []byte
	// D derives Quick Mode keying material, A authenticates phase 1 and
	// phase 2 messages (HASH(n)), E yields the encryption key.
	D, A, E []byte
	// Enc is the encryption key of the ISAKMP SA: SKEYID_e truncated, or
	// expanded per RFC 2409 Appendix B when it is too short.
	Enc []byte
}

// DeriveV1Keys computes the keys of a Main Mode exchange with pre-shared
// key authentication:
//
//	SKEYID   = prf(psk, Ni_b | Nr_b)
//	SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
//	SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
//	SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
//
// encr names the ISAKMP SA's cipher, which fixes the length of Enc.
func DeriveV1Keys(prf PRF, psk, ni, nr, gxy []byte, ci, cr uint64, encr Encr) (V1Keys, error) {
	klen, err := EncrKeyLen(encr.ID, encr.KeyBits)
	if err != nil {
		return V1Keys{}, err
	}
	if IsAEAD(encr.ID) || encr.ID == EncrNULL {
		return V1Keys{}, fmt.Errorf("%w: %s in IKEv1 phase 1", ErrUnsupported, encr.Name())
	}
	var k V1Keys
	var cookies [16]byte
	binary.BigEndian.PutUint64(cookies[:8], ci)
	binary.BigEndian.PutUint64(cookies[8:], cr)
	k.SKEYID = prf.Sum(nil, psk, ni, nr)
	k.D = prf.Sum(nil, k.SKEYID, gxy, cookies[:], []byte{0})
	k.A = prf.Sum(nil, k.SKEYID, k.D, gxy, cookies[:], []byte{1})
	k.E = prf.Sum(nil, k.SKEYID, k.A, gxy, cookies[:], []byte{2})
	k.Enc = V1ExpandKey(prf, k.E, klen)
	return k, nil
}

// V1ExpandKey returns n bytes of key from SKEYID_e (RFC 2409 Appendix B):
// its first n bytes when it is long enough, else K1 | K2 | ... with
// K1 = prf(SKEYID_e, 0) and Ki = prf(SKEYID_e, Ki-1), truncated.
func V1ExpandKey(prf PRF, skeyidE []byte, n int) []byte {
	if len(skeyidE) >= n {
		return append([]byte(nil), skeyidE[:n]...)
	}
	var out []byte
	k := []byte{0}
	for len(out) < n {
		k = prf.Sum(nil, skeyidE, k)
		out = append(out, k...)
	}
	return out[:n]
}

// V1KeyMat returns n bytes of Quick Mode keying material for one SA
// (RFC 2409 §5.5): KEYMAT = K1 | K2 | ... with
//
//	K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)
//	Ki = prf(SKEYID_d, Ki-1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)
//
// gxy is nil without PFS; spi is the SPI of the receiving side of the SA.
func V1KeyMat(prf PRF, skeyidD, gxy []byte, protocol uint8, spi uint32, ni, nr []byte, n int) []byte {
	var s [4]byte
	binary.BigEndian.PutUint32(s[:], spi)
	var out, k []byte
	for len(out) < n {
		k = prf.Sum(nil, skeyidD, k, gxy, []byte{protocol}, s[:], ni, nr)
		out = append(out, k...)
	}
	return out[:n]
}

// V1Hash returns the hash of an HMAC PRF (the "hash algorithm" IKEv1
// negotiates and uses for IVs and NAT-D) applied to data.
func V1Hash(prf ID, data ...[]byte) ([]byte, error) {
	h, ok := prfAlgs[prf]
	if !ok {
		return nil, fmt.Errorf("%w: hash of %s", ErrUnsupported, Name(TypePRF, prf))
	}
	d := h()
	for _, b := range data {
		d.Write(b)
	}
	return d.Sum(nil), nil
}

// NewBlock returns the block cipher of a CBC encryption transform (AES-CBC
// or 3DES), as IKEv1 uses it for its messages.
func NewBlock(encr ID, key []byte) (cipher.Block, error) {
	switch encr {
	case EncrAESCBC:
		return aes.NewCipher(key)
	case EncrDES3:
		return des.NewTripleDESCipher(key)
	}
	return nil, fmt.Errorf("%w: %s as a block cipher", ErrUnsupported, Name(TypeENCR, encr))
}

// Azure's IKEv2 lifetimes without a custom policy (reference §3.1): the
// IKE SA and the Child SA. Package ike's defaults and the device
// configuration scripts both use them.
const (
	AzureIKELifetime   = 28800 * time.Second
	AzureChildLifetime = 27000 * time.Second
)

// Azure's IKEv1 lifetimes (reference §3.1).
const (
	// AzureV1MainModeLifetime is the Main Mode SA lifetime of both
	// gateway types.
	AzureV1MainModeLifetime = 28800 * time.Second
	// AzureV1QuickModeLifetimePolicyBased and …RouteBased are the Quick
	// Mode SA lifetimes.
	AzureV1QuickModeLifetimePolicyBased = 3600 * time.Second
	AzureV1QuickModeLifetimeRouteBased  = 27000 * time.Second
	// AzureV1QuickModeLifeKB is the Quick Mode byte lifetime in kilobytes.
	AzureV1QuickModeLifeKB = 102400000
)

// AzureMaxSelectorPairs is the most Child SAs (subnet SA pairs: local
// prefixes × remote prefixes) one policy-based connection may ask for
// (reference §2.2: "a limit of 200 subnet SA pairs").
const AzureMaxSelectorPairs = 200

// AzureV1MainModeProposals returns Azure's IKEv1 Main Mode offers (reference
// §3.1), DH group 2, in preference order: for PolicyBased gateways
// AES256/SHA256, AES256/SHA1, AES128/SHA1, 3DES/SHA1; for RouteBased the
// six of AzureDefaultIKEProposals.
func AzureV1MainModeProposals(policyBased bool) []Proposal {
	if !policyBased {
		return AzureDefaultIKEProposals()
	}
	return []Proposal{
		azureIKE(aes256, "SHA256"),
		azureIKE(aes256, "SHA1"),
		azureIKE(aes128, "SHA1"),
		azureIKE(des3, "SHA1"),
	}
}

// AzureV1QuickModeProposals returns Azure's IKEv1 Quick Mode offers
// (reference §3.1): for PolicyBased gateways the four phase 1 suites
// without PFS; for RouteBased, the initiator's six or the responder's
// list of AzureDefaultESPInitiator / AzureDefaultESPResponder.
func AzureV1QuickModeProposals(policyBased, initiator bool) []Proposal {
	switch {
	case policyBased:
		return []Proposal{
			azureESP(aes256, "SHA256", DHNone),
			azureESP(aes256, "SHA1", DHNone),
			azureESP(aes128, "SHA1", DHNone),
			azureESP(des3, "SHA1", DHNone),
		}
	case initiator:
		return AzureDefaultESPInitiator()
	}
	return AzureDefaultESPResponder()
}
