package transform

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// keyCase is one algorithm combination for the key derivation tests.
type keyCase struct {
	prf     ID
	encr    ID
	keyBits int
	integ   ID
	// lengths of SK_d/SK_p, integrity and encryption keys
	prfLen, integLen, encrLen int
}

var keyCases = []keyCase{
	{PRFHMACSHA2256, EncrAESCBC, 256, IntegHMACSHA2256128, 32, 32, 32},
	{PRFHMACSHA1, EncrDES3, 0, IntegHMACSHA196, 20, 20, 24},
	{PRFHMACSHA2384, EncrAESGCM16, 128, IntegNone, 48, 0, 20},
	{PRFHMACSHA2512, EncrChaCha20Poly1305, 0, IntegNone, 64, 0, 36},
	{PRFHMACMD5, EncrAESCBC, 128, IntegHMACMD596, 16, 16, 16},
	{PRFHMACSHA2256, EncrAESGCM12, 192, IntegNone, 32, 0, 28},
}

// splitKeys cuts km into pieces of the given lengths (nil for 0).
func splitKeys(km []byte, lens ...int) [][]byte {
	var out [][]byte
	for _, n := range lens {
		if n == 0 {
			out = append(out, nil)
			continue
		}
		out = append(out, km[:n])
		km = km[n:]
	}
	return out
}

// The expected values come from refHMAC/refPRFPlus (prf_test.go), an
// independent implementation of HMAC and prf+ written from RFC 2104 and
// RFC 7296 §2.13 over the hash functions' one-shot Sum.
func TestDeriveIKEKeys(t *testing.T) {
	ni, nr := seq(0x00, 0x1f), seq(0x80, 0x9f)
	gir := seq(0x40, 0x7f)
	spii, spir := uint64(0x0102030405060708), uint64(0x1112131415161718)
	for _, kc := range keyCases {
		prf, _ := NewPRF(kc.prf)
		got, err := DeriveIKEKeys(prf, ni, nr, gir, spii, spir, kc.encr, kc.keyBits, kc.integ)
		if err != nil {
			t.Fatalf("%s: %v", Name(TypePRF, kc.prf), err)
		}
		skeyseed := refHMAC(kc.prf, append(append([]byte{}, ni...), nr...), gir)
		seed := append(append([]byte{}, ni...), nr...)
		seed = binary.BigEndian.AppendUint64(seed, spii)
		seed = binary.BigEndian.AppendUint64(seed, spir)
		total := 3*kc.prfLen + 2*kc.integLen + 2*kc.encrLen
		want := splitKeys(refPRFPlus(kc.prf, skeyseed, seed, total),
			kc.prfLen, kc.integLen, kc.integLen, kc.encrLen, kc.encrLen, kc.prfLen, kc.prfLen)
		gotKeys := [][]byte{got.SKd, got.SKai, got.SKar, got.SKei, got.SKer, got.SKpi, got.SKpr}
		names := []string{"SK_d", "SK_ai", "SK_ar", "SK_ei", "SK_er", "SK_pi", "SK_pr"}
		for i := range want {
			if !bytes.Equal(gotKeys[i], want[i]) {
				t.Errorf("%s/%s: %s = %x, want %x", Name(TypePRF, kc.prf), Encr{kc.encr, kc.keyBits}.Name(),
					names[i], gotKeys[i], want[i])
			}
		}
		// Keys must not share spare capacity: appending to one must
		// not change the next.
		_ = append(got.SKd, 0xff)
		if kc.integLen > 0 && !bytes.Equal(got.SKai, want[1]) {
			t.Error("appending to SK_d overwrote SK_ai")
		}
	}
}

// SKEYSEED checked against openssl(1) for one case (HMAC-SHA-256): no Go
// code in common with the implementation.
func TestDeriveIKEKeysSKEYSEEDAgainstOpenSSL(t *testing.T) {
	ni, nr, gir := seq(1, 32), seq(101, 132), seq(201, 255)
	key := append(append([]byte{}, ni...), nr...)
	skeyseed := opensslHMAC(t, key, gir)
	seed := append(append([]byte{}, key...), 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2)
	t1 := opensslHMAC(t, skeyseed, append(append([]byte{}, seed...), 1))
	prf, _ := NewPRF(PRFHMACSHA2256)
	got, err := DeriveIKEKeys(prf, ni, nr, gir, 1, 2, EncrAESGCM16, 256, IntegNone)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.SKd, t1) { // SK_d is the first prf-size block, T1
		t.Errorf("SK_d = %x, openssl says %x", got.SKd, t1)
	}
}

func TestDeriveRekeyedIKEKeys(t *testing.T) {
	oldSKd, gir, ni, nr := seq(1, 32), seq(0x30, 0x6f), seq(0x70, 0x8f), seq(0x90, 0xaf)
	spii, spir := uint64(0xaaaaaaaabbbbbbbb), uint64(0xccccccccdddddddd)
	seed := append(append([]byte{}, ni...), nr...)
	seed = binary.BigEndian.AppendUint64(seed, spii)
	seed = binary.BigEndian.AppendUint64(seed, spir)

	// Same PRF: SKEYSEED = prf(SK_d(old), g^ir | Ni | Nr).
	p256, _ := NewPRF(PRFHMACSHA2256)
	got, err := DeriveRekeyedIKEKeys(p256, oldSKd, gir, ni, nr, spii, spir, EncrAESCBC, 128, IntegHMACSHA196)
	if err != nil {
		t.Fatal(err)
	}
	skeyseed := refHMAC(PRFHMACSHA2256, oldSKd, append(append(append([]byte{}, gir...), ni...), nr...))
	km := refPRFPlus(PRFHMACSHA2256, skeyseed, seed, 3*32+2*20+2*16)
	if !bytes.Equal(got.SKd, km[:32]) || !bytes.Equal(got.SKpr, km[len(km)-32:]) {
		t.Errorf("rekeyed keys differ from reference")
	}

	// Different PRFs: the old one makes SKEYSEED, the new one runs prf+
	// and sizes SK_d/SK_p (RFC 7296 §2.18).
	p384, _ := NewPRF(PRFHMACSHA2384)
	got, err = DeriveRekeyedIKEKeysPRFs(p256, p384, oldSKd, gir, ni, nr, spii, spir, EncrAESGCM16, 256, IntegNone)
	if err != nil {
		t.Fatal(err)
	}
	km = refPRFPlus(PRFHMACSHA2384, skeyseed, seed, 3*48+2*36)
	want := splitKeys(km, 48, 36, 36, 48, 48)
	for i, k := range [][]byte{got.SKd, got.SKei, got.SKer, got.SKpi, got.SKpr} {
		if !bytes.Equal(k, want[i]) {
			t.Errorf("two-PRF rekey: key %d = %x, want %x", i, k, want[i])
		}
	}
	if got.SKai != nil || got.SKar != nil {
		t.Error("AEAD rekey produced integrity keys")
	}
}

func TestDeriveChildKeys(t *testing.T) {
	skd, ni, nr, gir := seq(0xa0, 0xbf), seq(1, 16), seq(17, 48), seq(100, 163)
	for _, kc := range keyCases {
		prf, _ := NewPRF(kc.prf)
		for _, pfs := range [][]byte{nil, gir} {
			got, err := DeriveChildKeys(prf, skd, pfs, ni, nr, kc.encr, kc.keyBits, kc.integ)
			if err != nil {
				t.Fatal(err)
			}
			seed := append(append(append([]byte{}, pfs...), ni...), nr...)
			want := splitKeys(refPRFPlus(kc.prf, skd, seed, 2*(kc.encrLen+kc.integLen)),
				kc.encrLen, kc.integLen, kc.encrLen, kc.integLen)
			for i, k := range [][]byte{got.EncrI, got.IntegI, got.EncrR, got.IntegR} {
				if !bytes.Equal(k, want[i]) {
					t.Errorf("%s/%s pfs=%v: key %d = %x, want %x", Name(TypePRF, kc.prf),
						Encr{kc.encr, kc.keyBits}.Name(), pfs != nil, i, k, want[i])
				}
			}
			// The derived keys must be usable as they are.
			if _, err := NewCipher(kc.encr, kc.keyBits, kc.integ, got.EncrI, got.IntegI); err != nil {
				t.Errorf("NewCipher with derived keys: %v", err)
			}
		}
	}
	// ESP with NULL encryption is fine for a Child SA.
	prf, _ := NewPRF(PRFHMACSHA2256)
	got, err := DeriveChildKeys(prf, skd, nil, ni, nr, EncrNULL, 0, IntegHMACSHA2256128)
	if err != nil || got.EncrI != nil || len(got.IntegR) != 32 {
		t.Errorf("NULL child keys: %v, %+v", err, got)
	}
}

func TestDeriveErrors(t *testing.T) {
	prf, _ := NewPRF(PRFHMACSHA2256)
	n := seq(1, 32)
	if _, err := DeriveIKEKeys(prf, n, n, n, 1, 2, EncrNULL, 0, IntegHMACSHA196); err == nil {
		t.Error("NULL encryption accepted for IKE")
	}
	if _, err := DeriveIKEKeys(prf, n, n, n, 1, 2, EncrAESGCM16, 128, IntegHMACSHA196); err == nil {
		t.Error("AEAD with integrity accepted")
	}
	if _, err := DeriveIKEKeys(prf, n, n, nil, 1, 2, EncrAESGCM16, 128, IntegNone); err == nil {
		t.Error("empty g^ir accepted")
	}
	if _, err := DeriveRekeyedIKEKeys(prf, n, nil, n, n, 1, 2, EncrAESGCM16, 128, IntegNone); err == nil {
		t.Error("IKE rekey without a new DH accepted")
	}
	if _, err := DeriveChildKeys(prf, nil, nil, n, n, EncrAESGCM16, 128, IntegNone); err == nil {
		t.Error("child keys without SK_d accepted")
	}
	if _, err := DeriveChildKeys(prf, n, nil, n, n, EncrAESCBC, 0, IntegHMACSHA196); err == nil {
		t.Error("AES without key size accepted")
	}
}
