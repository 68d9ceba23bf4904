package ike

// Signature authentication (RFC 7296 §2.15, RFC 4754, RFC 7427): what a
// point-to-site gateway proves its identity with, and what certificate
// clients sign. The signed octets are those of shared key authentication
// (signedOctets); the AUTH data is a signature over them:
//
//	method 14 (RFC 7427): len(AlgorithmIdentifier) | AlgorithmIdentifier | signature
//	method 9/10/11 (RFC 4754): ECDSA r|s, fixed length, SHA-256/384/512 on P-256/384/521
//	method 1: RSASSA-PKCS1-v1_5 with SHA-1
//
// We sign with method 14 (ECDSA with SHA-256/384/512 by curve, or RSA
// PKCS #1 v1.5 with SHA-256) and verify all four.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"math/big"

	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

// ErrSignature: an AUTH signature that does not verify, or uses an
// algorithm or key we do not accept.
var ErrSignature = errors.New("ike: signature authentication failed")

// signedOctets is RFC 7296 §2.15's InitiatorSignedOctets or
// ResponderSignedOctets: RealMessage | Nonce (of the other side) |
// prf(SK_p, IDx').
func signedOctets(prf transform.PRF, realMessage, otherNonce, skp []byte, id Identity) []byte {
	idBody := append([]byte{byte(id.Type), 0, 0, 0}, id.Data...)
	maced := prf.Sum(nil, skp, idBody)
	out := make([]byte, 0, len(realMessage)+len(otherNonce)+len(maced))
	out = append(out, realMessage...)
	out = append(out, otherNonce...)
	return append(out, maced...)
}

// AlgorithmIdentifiers of RFC 7427 Appendix A, DER.
var (
	algECDSASHA256 = []byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}
	algECDSASHA384 = []byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03}
	algECDSASHA512 = []byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04}
	algRSASHA256   = []byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00}
	algRSASHA384   = []byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00}
	algRSASHA512   = []byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00}
)

// sigAlg is one RFC 7427 signature algorithm we accept.
type sigAlg struct {
	id    []byte
	hash  crypto.Hash
	ecdsa bool
}

var sigAlgs = []sigAlg{
	{algECDSASHA256, crypto.SHA256, true}, {algECDSASHA384, crypto.SHA384, true}, {algECDSASHA512, crypto.SHA512, true},
	{algRSASHA256, crypto.SHA256, false}, {algRSASHA384, crypto.SHA384, false}, {algRSASHA512, crypto.SHA512, false},
}

func digest(h crypto.Hash, b []byte) []byte {
	var w hash.Hash
	switch h {
	case crypto.SHA1:
		w = sha1.New()
	case crypto.SHA256:
		w = sha256.New()
	case crypto.SHA384:
		w = sha512.New384()
	default:
		w = sha512.New()
	}
	w.Write(b)
	return w.Sum(nil)
}

// SignatureAuth signs octets with key as RFC 7427 Digital Signature
// (method 14): ECDSA with the hash that matches the curve, or RSA PKCS #1
// v1.5 with SHA-256.
func SignatureAuth(key crypto.Signer, octets []byte) (message.AuthMethod, []byte, error) {
	var alg sigAlg
	switch k := key.Public().(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			alg = sigAlgs[0]
		case elliptic.P384():
			alg = sigAlgs[1]
		default:
			alg = sigAlgs[2]
		}
	case *rsa.PublicKey:
		alg = sigAlgs[3]
	default:
		return 0, nil, fmt.Errorf("%w: %T keys cannot sign AUTH", ErrSignature, k)
	}
	sig, err := key.Sign(rand.Reader, digest(alg.hash, octets), alg.hash)
	if err != nil {
		return 0, nil, fmt.Errorf("ike: signing AUTH: %w", err)
	}
	data := make([]byte, 0, 1+len(alg.id)+len(sig))
	data = append(data, byte(len(alg.id)))
	data = append(data, alg.id...)
	return message.AuthDigitalSignature, append(data, sig...), nil
}

// VerifySignatureAuth checks AUTH data of method m over octets with the
// peer's public key (from its certificate).
func VerifySignatureAuth(pub crypto.PublicKey, m message.AuthMethod, data, octets []byte) error {
	switch m {
	case message.AuthDigitalSignature:
		if len(data) < 1 || len(data) < 1+int(data[0]) {
			return fmt.Errorf("%w: truncated Digital Signature AUTH", ErrSignature)
		}
		id, sig := data[1:1+int(data[0])], data[1+int(data[0]):]
		for _, a := range sigAlgs {
			if bytes.Equal(a.id, id) {
				return verify(pub, a.ecdsa, a.hash, sig, octets, false)
			}
		}
		return fmt.Errorf("%w: signature algorithm %x is not one of ECDSA or RSA PKCS #1 v1.5 with SHA-2", ErrSignature, id)
	case message.AuthECDSA256:
		return verify(pub, true, crypto.SHA256, data, octets, true)
	case message.AuthECDSA384:
		return verify(pub, true, crypto.SHA384, data, octets, true)
	case message.AuthECDSA521:
		return verify(pub, true, crypto.SHA512, data, octets, true)
	case message.AuthRSASig:
		return verify(pub, false, crypto.SHA1, data, octets, false)
	}
	return fmt.Errorf("%w: AUTH method %v is not a signature we accept", ErrSignature, m)
}

// verify checks one signature; rs is RFC 4754's fixed-length r|s form
// instead of DER.
func verify(pub crypto.PublicKey, isECDSA bool, h crypto.Hash, sig, octets []byte, rs bool) error {
	d := digest(h, octets)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !isECDSA {
			return fmt.Errorf("%w: an RSA signature from an ECDSA key", ErrSignature)
		}
		ok := false
		if rs {
			n := (k.Curve.Params().BitSize + 7) / 8
			if len(sig) == 2*n {
				ok = ecdsa.Verify(k, d, new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:]))
			}
		} else {
			ok = ecdsa.VerifyASN1(k, d, sig)
		}
		if !ok {
			return fmt.Errorf("%w: ECDSA signature does not verify", ErrSignature)
		}
		return nil
	case *rsa.PublicKey:
		if isECDSA {
			return fmt.Errorf("%w: an ECDSA signature from an RSA key", ErrSignature)
		}
		if err := rsa.VerifyPKCS1v15(k, h, d, sig); err != nil {
			return fmt.Errorf("%w: RSA signature does not verify", ErrSignature)
		}
		return nil
	}
	return fmt.Errorf("%w: %T public keys are not accepted", ErrSignature, pub)
}
