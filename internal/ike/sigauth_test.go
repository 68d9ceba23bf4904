package ike

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"

	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

func TestSignatureAuth(t *testing.T) {
	prf, err := transform.NewPRF(transform.PRFHMACSHA2256)
	if err != nil {
		t.Fatal(err)
	}
	octets := signedOctets(prf, []byte("IKE_SA_INIT message"), []byte("nonce"), []byte("SK_p"), FQDNIdentity("gw.example"))
	other := signedOctets(prf, []byte("IKE_SA_INIT message"), []byte("nonce"), []byte("SK_p"), FQDNIdentity("evil.example"))
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, key := range map[string]crypto.Signer{"P-256": p256, "P-384": p384, "RSA": rsaKey} {
		t.Run(name, func(t *testing.T) {
			m, data, err := SignatureAuth(key, octets)
			if err != nil || m != message.AuthDigitalSignature {
				t.Fatal(m, err)
			}
			if err := VerifySignatureAuth(key.Public(), m, data, octets); err != nil {
				t.Fatal(err)
			}
			if err := VerifySignatureAuth(key.Public(), m, data, other); !errors.Is(err, ErrSignature) {
				t.Fatalf("signature over other octets: %v", err)
			}
			wrongKey := crypto.PublicKey(&p256.PublicKey)
			if key == crypto.Signer(p256) {
				wrongKey = &rsaKey.PublicKey
			}
			if err := VerifySignatureAuth(wrongKey, m, data, octets); !errors.Is(err, ErrSignature) {
				t.Fatalf("another key: %v", err)
			}
			if err := VerifySignatureAuth(key.Public(), m, data[:1], octets); !errors.Is(err, ErrSignature) {
				t.Fatalf("truncated: %v", err)
			}
		})
	}
	// RFC 4754 (method 9): r|s of 32 bytes each.
	r, s, _ := ecdsa.Sign(rand.Reader, p256, digest(crypto.SHA256, octets))
	rs := make([]byte, 64)
	r.FillBytes(rs[:32])
	s.FillBytes(rs[32:])
	if err := VerifySignatureAuth(&p256.PublicKey, message.AuthECDSA256, rs, octets); err != nil {
		t.Fatalf("RFC 4754: %v", err)
	}
	// Method 1: RSA PKCS #1 v1.5 with SHA-1.
	sig, _ := rsa.SignPKCS1v15(rand.Reader, rsaKey, crypto.SHA1, digest(crypto.SHA1, octets))
	if err := VerifySignatureAuth(&rsaKey.PublicKey, message.AuthRSASig, sig, octets); err != nil {
		t.Fatalf("RSA_SIG: %v", err)
	}
	if err := VerifySignatureAuth(&rsaKey.PublicKey, message.AuthSharedKeyMIC, sig, octets); !errors.Is(err, ErrSignature) {
		t.Fatalf("PSK method accepted as a signature: %v", err)
	}
}
