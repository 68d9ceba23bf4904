package transform

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// RFC 4868 §2.7.1 PRF test vectors (the same as RFC 4231's HMAC-SHA-2
// tests 1, 2, 3, 4, 6 and 7) and RFC 2202 test case 1 for HMAC-MD5/SHA1.
func TestPRFVectors(t *testing.T) {
	bigKey := repeat(0xaa, 131)
	cases := []struct {
		prf       ID
		key, data []byte
		out       string
	}{
		{PRFHMACMD5, repeat(0x0b, 16), []byte("Hi There"), "9294727a3638bb1c13f48ef8158bfc9d"},
		{PRFHMACSHA1, repeat(0x0b, 20), []byte("Hi There"), "b617318655057264e28bc0b6fb378c8ef146be00"},

		{PRFHMACSHA2256, repeat(0x0b, 20), []byte("Hi There"),
			"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{PRFHMACSHA2256, []byte("Jefe"), []byte("what do ya want for nothing?"),
			"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{PRFHMACSHA2256, repeat(0xaa, 20), repeat(0xdd, 50),
			"773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
		{PRFHMACSHA2256, seq(1, 25), repeat(0xcd, 50),
			"82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
		{PRFHMACSHA2256, bigKey, []byte("Test Using Larger Than Block-Size Key - Hash Key First"),
			"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
		{PRFHMACSHA2256, bigKey, []byte("This is a test using a larger than block-size key and a larger " +
			"than block-size data. The key needs to be hashed before being used by the HMAC algorithm."),
			"9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},

		{PRFHMACSHA2384, repeat(0x0b, 20), []byte("Hi There"),
			"afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"},
		{PRFHMACSHA2384, []byte("Jefe"), []byte("what do ya want for nothing?"),
			"af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"},
		{PRFHMACSHA2384, repeat(0xaa, 20), repeat(0xdd, 50),
			"88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27"},
		{PRFHMACSHA2384, seq(1, 25), repeat(0xcd, 50),
			"3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e6801dd23c4a7d679ccf8a386c674cffb"},
		{PRFHMACSHA2384, bigKey, []byte("Test Using Larger Than Block-Size Key - Hash Key First"),
			"4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952"},
		{PRFHMACSHA2384, bigKey, []byte("This is a test using a larger than block-size key and a larger " +
			"than block-size data. The key needs to be hashed before being used by the HMAC algorithm."),
			"6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e"},

		{PRFHMACSHA2512, repeat(0x0b, 20), []byte("Hi There"),
			"87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde" +
				"daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
		{PRFHMACSHA2512, []byte("Jefe"), []byte("what do ya want for nothing?"),
			"164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554" +
				"9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
		{PRFHMACSHA2512, repeat(0xaa, 20), repeat(0xdd, 50),
			"fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39" +
				"bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb"},
		{PRFHMACSHA2512, seq(1, 25), repeat(0xcd, 50),
			"b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db" +
				"a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd"},
		{PRFHMACSHA2512, bigKey, []byte("Test Using Larger Than Block-Size Key - Hash Key First"),
			"80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352" +
				"6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"},
		{PRFHMACSHA2512, bigKey, []byte("This is a test using a larger than block-size key and a larger " +
			"than block-size data. The key needs to be hashed before being used by the HMAC algorithm."),
			"e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944" +
				"b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58"},
	}
	for _, tc := range cases {
		prf, err := NewPRF(tc.prf)
		if err != nil {
			t.Fatal(err)
		}
		want := unhex(t, tc.out)
		if prf.ID() != tc.prf || prf.Size() != len(want) {
			t.Errorf("%s: ID/Size = %d/%d", Name(TypePRF, tc.prf), prf.ID(), prf.Size())
		}
		// Split the data across several arguments: Sum hashes their
		// concatenation.
		d := tc.data
		got := prf.Sum([]byte("x"), tc.key, d[:3], d[3:])
		if !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Errorf("%s key %x…: got %x, want %x", Name(TypePRF, tc.prf), tc.key[:4], got[1:], want)
		}
		if got := refHMAC(tc.prf, tc.key, d); !bytes.Equal(got, want) {
			t.Errorf("%s: reference HMAC disagrees with the RFC vector: %x", Name(TypePRF, tc.prf), got)
		}
	}
}

func TestNewPRFUnsupported(t *testing.T) {
	for _, id := range []ID{0, 3 /* TIGER */, 4 /* AES128_XCBC */, 8 /* AES128_CMAC */} {
		if _, err := NewPRF(id); !errors.Is(err, ErrUnsupported) {
			t.Errorf("NewPRF(%d): %v, want ErrUnsupported", id, err)
		}
	}
}

// refHMAC is an independent HMAC (RFC 2104) written from the definition,
// H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)), over the hashes' one-shot Sum
// functions rather than crypto/hmac, for checking prf and prf+ results.
func refHMAC(prf ID, key, msg []byte) []byte {
	var (
		sum       func([]byte) []byte
		blockSize int
	)
	switch prf {
	case PRFHMACMD5:
		sum, blockSize = func(b []byte) []byte { s := md5.Sum(b); return s[:] }, 64
	case PRFHMACSHA1:
		sum, blockSize = func(b []byte) []byte { s := sha1.Sum(b); return s[:] }, 64
	case PRFHMACSHA2256:
		sum, blockSize = func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }, 64
	case PRFHMACSHA2384:
		sum, blockSize = func(b []byte) []byte { s := sha512.Sum384(b); return s[:] }, 128
	case PRFHMACSHA2512:
		sum, blockSize = func(b []byte) []byte { s := sha512.Sum512(b); return s[:] }, 128
	default:
		panic("refHMAC: unknown PRF")
	}
	if len(key) > blockSize {
		key = sum(key)
	}
	k := make([]byte, blockSize)
	copy(k, key)
	inner := make([]byte, 0, blockSize+len(msg))
	outer := make([]byte, 0, blockSize+64)
	for _, b := range k {
		inner = append(inner, b^0x36)
		outer = append(outer, b^0x5c)
	}
	return sum(append(outer, sum(append(inner, msg...))...))
}

// refPRFPlus is prf+ (RFC 7296 §2.13) written from the definition over
// refHMAC: T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n).
func refPRFPlus(prf ID, key, seed []byte, n int) []byte {
	var out, t []byte
	for i := 1; len(out) < n; i++ {
		msg := append(append(append([]byte{}, t...), seed...), byte(i))
		t = refHMAC(prf, key, msg)
		out = append(out, t...)
	}
	return out[:n]
}

func TestPRFPlusMatchesReference(t *testing.T) {
	key := []byte("a key that is longer than nothing")
	seed := seq(0, 99)
	for _, id := range []ID{PRFHMACMD5, PRFHMACSHA1, PRFHMACSHA2256, PRFHMACSHA2384, PRFHMACSHA2512} {
		prf, _ := NewPRF(id)
		size := prf.Size()
		for _, n := range []int{1, size - 1, size, size + 1, 3*size + 7, 255 * size} {
			got := PRFPlus(prf, key, seed, n)
			if want := refPRFPlus(id, key, seed, n); !bytes.Equal(got, want) {
				t.Errorf("%s prf+ %d bytes differs from reference", Name(TypePRF, id), n)
			}
			if cap(got) != n {
				t.Errorf("%s prf+ %d bytes: cap %d, want capped", Name(TypePRF, id), n, cap(got))
			}
		}
		if got := PRFPlus(prf, key, seed, 0); len(got) != 0 {
			t.Errorf("prf+ of 0 bytes = %x", got)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: prf+ of 255·size+1 bytes did not panic", Name(TypePRF, id))
				}
			}()
			PRFPlus(prf, key, seed, 255*size+1)
		}()
	}
}

// opensslHMAC runs openssl(1) to compute an HMAC-SHA256, as a check that
// shares no code with Go; it skips the test when openssl is missing.
func opensslHMAC(t *testing.T, key, msg []byte) []byte {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		if _, err := os.Stat("/usr/bin/openssl"); err != nil {
			t.Skip("openssl not available")
		}
		path = "/usr/bin/openssl"
	}
	cmd := exec.Command(path, "dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:"+hex.EncodeToString(key))
	cmd.Stdin = bytes.NewReader(msg)
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("openssl dgst failed: %v", err)
	}
	f := strings.Fields(string(out))
	got, err := hex.DecodeString(f[len(f)-1])
	if err != nil {
		t.Fatalf("parsing openssl output %q: %v", out, err)
	}
	return got
}

func TestPRFPlusAgainstOpenSSL(t *testing.T) {
	prf, _ := NewPRF(PRFHMACSHA2256)
	key, seed := seq(0x20, 0x3f), []byte("Ni | Nr | SPIi | SPIr")
	got := PRFPlus(prf, key, seed, 3*32)
	// T1 = prf(K, S | 0x01), T2 = prf(K, T1 | S | 0x02), T3 = ...
	t1 := opensslHMAC(t, key, append(append([]byte{}, seed...), 1))
	t2 := opensslHMAC(t, key, append(append(append([]byte{}, t1...), seed...), 2))
	t3 := opensslHMAC(t, key, append(append(append([]byte{}, t2...), seed...), 3))
	if want := append(append(t1, t2...), t3...); !bytes.Equal(got, want) {
		t.Errorf("prf+ = %x\nopenssl %x", got, want)
	}
}

// BenchmarkPRFPlus derives an IKE SA's key material (RFC 7296 §2.14:
// SK_d, SK_ei/er with salts, SK_pi/pr; AES-256-GCM with PRF_HMAC_SHA2_256,
// 196 bytes) and a Child SA pair's (2 × 36 bytes).
func BenchmarkPRFPlus(b *testing.B) {
	for _, c := range []struct {
		name string
		id   ID
		n    int
	}{{"ike-sha256", PRFHMACSHA2256, 196}, {"child-sha256", PRFHMACSHA2256, 72}, {"ike-sha512", PRFHMACSHA2512, 328}} {
		b.Run(c.name, func(b *testing.B) {
			prf, err := NewPRF(c.id)
			if err != nil {
				b.Fatal(err)
			}
			key, seed := bytes.Repeat([]byte{7}, prf.Size()), bytes.Repeat([]byte{9}, 80)
			b.ReportAllocs()
			for b.Loop() {
				PRFPlus(prf, key, seed, c.n)
			}
		})
	}
}
