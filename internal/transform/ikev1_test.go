package transform

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"testing"
)

func hmacSHA1(key []byte, data ...[]byte) []byte {
	m := hmac.New(sha1.New, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// The derivations spelled out with crypto/hmac, independently of PRF.
func TestDeriveV1Keys(t *testing.T) {
	prf, _ := NewPRF(PRFHMACSHA1)
	psk, ni, nr, gxy := []byte("secret"), bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 16), bytes.Repeat([]byte{3}, 128)
	k, err := DeriveV1Keys(prf, psk, ni, nr, gxy, 0x1111, 0x2222, Encr{EncrAESCBC, 256})
	if err != nil {
		t.Fatal(err)
	}
	cky := []byte{0, 0, 0, 0, 0, 0, 0x11, 0x11, 0, 0, 0, 0, 0, 0, 0x22, 0x22}
	skeyid := hmacSHA1(psk, ni, nr)
	d := hmacSHA1(skeyid, gxy, cky, []byte{0})
	a := hmacSHA1(skeyid, d, gxy, cky, []byte{1})
	e := hmacSHA1(skeyid, a, gxy, cky, []byte{2})
	k1 := hmacSHA1(e, []byte{0})
	k2 := hmacSHA1(e, k1)
	if !bytes.Equal(k.SKEYID, skeyid) || !bytes.Equal(k.D, d) || !bytes.Equal(k.A, a) || !bytes.Equal(k.E, e) {
		t.Fatal("SKEYID derivation")
	}
	if !bytes.Equal(k.Enc, append(k1, k2...)[:32]) {
		t.Fatal("key expansion for a 256-bit key from SHA1")
	}
	k, _ = DeriveV1Keys(prf, psk, ni, nr, gxy, 0x1111, 0x2222, Encr{EncrAESCBC, 128})
	if !bytes.Equal(k.Enc, e[:16]) {
		t.Fatal("short key is SKEYID_e truncated")
	}
	if _, err := DeriveV1Keys(prf, psk, ni, nr, gxy, 1, 2, Encr{EncrAESGCM16, 256}); err == nil {
		t.Fatal("GCM accepted for phase 1")
	}
}

func TestV1KeyMat(t *testing.T) {
	prf, _ := NewPRF(PRFHMACSHA1)
	skd, ni, nr := []byte("skeyid_d"), []byte("ni"), []byte("nr")
	got := V1KeyMat(prf, skd, nil, 3, 0x01020304, ni, nr, 52)
	seed := [][]byte{{3}, {1, 2, 3, 4}, ni, nr}
	k1 := hmacSHA1(skd, seed...)
	k2 := hmacSHA1(skd, append([][]byte{k1}, seed...)...)
	k3 := hmacSHA1(skd, append([][]byte{k2}, seed...)...)
	if want := append(append(k1, k2...), k3...)[:52]; !bytes.Equal(got, want) {
		t.Fatal("KEYMAT")
	}
	gxy := []byte("gxy")
	if bytes.Equal(V1KeyMat(prf, skd, gxy, 3, 1, ni, nr, 20), hmacSHA1(skd, []byte{3}, []byte{0, 0, 0, 1}, ni, nr)) {
		t.Fatal("PFS secret ignored")
	}
}

func TestAzureV1Offers(t *testing.T) {
	if n := len(AzureV1MainModeProposals(true)); n != 4 {
		t.Fatalf("PolicyBased main mode offers %d", n)
	}
	if n := len(AzureV1MainModeProposals(false)); n != 6 {
		t.Fatalf("RouteBased main mode offers %d", n)
	}
	pb := AzureV1QuickModeProposals(true, true)
	if len(pb) != 4 || pb[0].Encr[0] != (Encr{EncrAESCBC, 256}) || pb[0].Integ[0] != IntegHMACSHA2256128 {
		t.Fatalf("PolicyBased quick mode %+v", pb)
	}
}
