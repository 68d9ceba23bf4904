package transform

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// aeadVector is a published AEAD test case in the IPsec layout: the key
// includes the 4-byte salt and the explicit IV is 8 bytes.
type aeadVector struct {
	name         string
	encr         ID
	keyBits      int
	key, iv, aad string
	plain, ct    string // ct includes the ICV
}

var aeadVectors = []aeadVector{
	// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases
	// 3, 4, 9, 15 and 16, split into key ‖ salt and IV as RFC 4106 does
	// (the split used by the Linux kernel's and strongSwan's tests).
	{
		name: "GCM test case 3", encr: EncrAESGCM16, keyBits: 128,
		key: "feffe9928665731c6d6a8f9467308308 cafebabe", iv: "facedbaddecaf888",
		plain: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
			"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
		ct: "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e" +
			"21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985" +
			"4d5c2af327cd64a62cf35abd2ba6fab4",
	},
	{
		name: "GCM test case 3, 12-byte ICV", encr: EncrAESGCM12, keyBits: 128,
		key: "feffe9928665731c6d6a8f9467308308 cafebabe", iv: "facedbaddecaf888",
		plain: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
			"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
		ct: "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e" +
			"21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985" +
			"4d5c2af327cd64a62cf35abd",
	},
	{
		name: "GCM test case 4", encr: EncrAESGCM16, keyBits: 128,
		key: "feffe9928665731c6d6a8f9467308308 cafebabe", iv: "facedbaddecaf888",
		aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		plain: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
			"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		ct: "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e" +
			"21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091" +
			"5bc94fbc3221a5db94fae95ae7121a47",
	},
	{
		name: "GCM test case 9", encr: EncrAESGCM16, keyBits: 192,
		key: "feffe9928665731c6d6a8f9467308308feffe9928665731c cafebabe", iv: "facedbaddecaf888",
		plain: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
			"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
		ct: "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c" +
			"7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710acade256" +
			"9924a7c8587336bfb118024db8674a14",
	},
	{
		name: "GCM test case 15", encr: EncrAESGCM16, keyBits: 256,
		key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308 cafebabe",
		iv:  "facedbaddecaf888",
		plain: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
			"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
		ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" +
			"8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad" +
			"b094dac5d93471bdec1a502270e3cc6c",
	},
	{
		name: "GCM test case 16", encr: EncrAESGCM16, keyBits: 256,
		key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308 cafebabe",
		iv:  "facedbaddecaf888", aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		plain: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
			"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" +
			"8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662" +
			"76fc6ece0f4e1768cddf8853bb2d551b",
	},
	// RFC 7539/8439 §2.8.2: the 12-byte nonce 07000000 ‖ 4041424344454647.
	{
		name: "RFC 8439 2.8.2", encr: EncrChaCha20Poly1305,
		key: "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f 07000000",
		iv:  "4041424344454647", aad: "50515253c0c1c2c3c4c5c6c7",
		plain: fmt.Sprintf("%x", "Ladies and Gentlemen of the class of '99: If I could offer you "+
			"only one tip for the future, sunscreen would be it."),
		ct: "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6" +
			"3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36" +
			"92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc" +
			"3ff4def08e4b7a9de576d26586cec64b6116" +
			"1ae10b594f09e26a7e902ecbd0600691",
	},
	// RFC 7634 Appendix A: ESP packet (AAD = SPI ‖ sequence number).
	{
		name: "RFC 7634 ESP", encr: EncrChaCha20Poly1305,
		key: "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f a0a1a2a3",
		iv:  "1011121314151617", aad: "0102030400000005",
		plain: "45000054a6f200004001e778c6336405c000020508005b7a3a080000553bec10" +
			"000736270809 0a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223" +
			"2425262728292a2b2c2d2e2f3031323334353637 01020204",
		ct: "24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c6" +
			"14ee8099d52844eb61aa95dfab4c02f72aa71e7c4c4f64c9befe2facc638e8f3" +
			"cbec163fac469b502773f6fb94e664da9165b82829f641e076aaa8266b7fb0f7" +
			"b11b369907e1ad43",
	},
	// RFC 7634 Appendix B: IKEv2 SK payload (AAD = IKE header ‖ SK
	// payload header).
	{
		name: "RFC 7634 IKEv2", encr: EncrChaCha20Poly1305,
		key:   "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f a0a1a2a3",
		iv:    "1011121314151617",
		aad:   "c0c1c2c3c4c5c6c7d0d1d2d3d4d5d6d72e202500000000090000004529000029",
		plain: "0000000c000040010000000a00",
		ct:    "610394701f8d017f7c129248896b71bfe25236efd7cdc67066906315b2",
	},
}

func TestAEADVectors(t *testing.T) {
	for _, v := range aeadVectors {
		t.Run(v.name, func(t *testing.T) {
			key, iv, aad := unhex(t, v.key), unhex(t, v.iv), unhex(t, v.aad)
			plain, want := unhex(t, v.plain), unhex(t, v.ct)
			c, err := NewCipher(v.encr, v.keyBits, IntegNone, key, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Seal(nil, iv, plain, aad, nil); !bytes.Equal(got, want) {
				t.Fatalf("Seal = %x\nwant   %x", got, want)
			}
			if c.ICVLen() != len(want)-len(plain) {
				t.Errorf("ICVLen = %d, want %d", c.ICVLen(), len(want)-len(plain))
			}
			got, err := c.Open(nil, iv, want, aad, nil)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("Open = %x, %v; want %x", got, err, plain)
			}
		})
	}
}

// RFC 3602 §4 cases 1–3 (AES-128-CBC). The ICV is checked against an
// HMAC computed directly with crypto/hmac over aad ‖ IV ‖ ciphertext ‖
// tail, i.e. without the pooled code path under test.
func TestAESCBCVectors(t *testing.T) {
	cases := []struct{ key, iv, plain, ct string }{
		{"06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41",
			fmt.Sprintf("%x", "Single block msg"), "e353779c1079aeb82708942dbe77181a"},
		{"c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
			"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
			"d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"},
		{"56e47a38c5598974bc46903dba290349", "8ce82eefbea0da3c44699ed7db51b7d9",
			"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf" +
				"c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf",
			"c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e" +
				"35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55"},
	}
	integKey := seq(0x40, 0x40+31)
	aad, tail := unhex(t, "0000123400000001"), unhex(t, "00000007")
	for i, tc := range cases {
		key, iv, plain, ct := unhex(t, tc.key), unhex(t, tc.iv), unhex(t, tc.plain), unhex(t, tc.ct)
		c, err := NewCipher(EncrAESCBC, 128, IntegHMACSHA2256128, key, integKey)
		if err != nil {
			t.Fatal(err)
		}
		got := c.Seal(nil, iv, plain, aad, tail)
		if !bytes.Equal(got[:len(ct)], ct) {
			t.Errorf("case %d: ciphertext %x, want %x", i+1, got[:len(ct)], ct)
		}
		h := hmac.New(integAlgs[IntegHMACSHA2256128].hash, integKey)
		for _, p := range [][]byte{aad, iv, ct, tail} {
			h.Write(p)
		}
		if icv := h.Sum(nil)[:16]; !bytes.Equal(got[len(ct):], icv) {
			t.Errorf("case %d: ICV %x, want %x", i+1, got[len(ct):], icv)
		}
		back, err := c.Open(nil, iv, got, aad, tail)
		if err != nil || !bytes.Equal(back, plain) {
			t.Errorf("case %d: Open = %x, %v", i+1, back, err)
		}
	}
}

// Published HMAC authenticator vectors, run through ENCR_NULL so that the
// ICV is exactly the truncated MAC of the data: RFC 4868 §2.7.2.1–2.7.2.3
// (HMAC-SHA-256-128, -384-192, -512-256) and RFC 2202 test case 1
// truncated as RFC 2403/2404 specify (HMAC-MD5-96, HMAC-SHA1-96).
func TestIntegrityVectors(t *testing.T) {
	jefe := func(n int) []byte { return bytes.Repeat([]byte("Jefe"), n/4) }
	hiThere, what := []byte("Hi There"), []byte("what do ya want for nothing?")
	cases := []struct {
		integ     ID
		key, data []byte
		icv       string
	}{
		{IntegHMACMD596, repeat(0x0b, 16), hiThere, "9294727a3638bb1c13f48ef8"},
		{IntegHMACSHA196, repeat(0x0b, 20), hiThere, "b617318655057264e28bc0b6"},
		{IntegHMACSHA2256128, repeat(0x0b, 32), hiThere, "198a607eb44bfbc69903a0f1cf2bbdc5"},
		{IntegHMACSHA2256128, jefe(32), what, "167f928588c5cc2eef8e3093caa0e87c"},
		{IntegHMACSHA2256128, repeat(0xaa, 32), repeat(0xdd, 50), "cdcb1220d1ecccea91e53aba3092f962"},
		{IntegHMACSHA2384192, repeat(0x0b, 48), hiThere, "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee973"},
		{IntegHMACSHA2384192, jefe(48), what, "2c7353974f1842fd66d53c452ca42122b28c0b594cfb184d"},
		{IntegHMACSHA2384192, repeat(0xaa, 48), repeat(0xdd, 50), "809f439be00274321d4a538652164b53554a508184a0c316"},
		{IntegHMACSHA2512256, repeat(0x0b, 64), hiThere, "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8"},
		{IntegHMACSHA2512256, jefe(64), what, "cb370917ae8a7ce28cfd1d8f4705d6141c173b2a9362c15df235dfb251b15454"},
		{IntegHMACSHA2512256, repeat(0xaa, 64), repeat(0xdd, 50), "2ee7acd783624ca9398710f3ee05ae41b9f9b0510c87e49e586cc9bf961733d8"},
	}
	for _, tc := range cases {
		c, err := NewCipher(EncrNULL, 0, tc.integ, nil, tc.key)
		if err != nil {
			t.Fatal(err)
		}
		out := c.Seal(nil, nil, tc.data, nil, nil)
		if got := out[len(tc.data):]; !bytes.Equal(got, unhex(t, tc.icv)) {
			t.Errorf("%s(%q...): ICV %x, want %s", Name(TypeINTEG, tc.integ), tc.key[:4], got, tc.icv)
		}
		// The same bytes split between aad, payload and tail must give
		// the same ICV: the MAC covers their concatenation.
		d := tc.data
		split := c.Seal(nil, nil, d[2:len(d)-1], d[:2], d[len(d)-1:])
		if !bytes.Equal(split[len(d)-3:], out[len(d):]) {
			t.Errorf("%s: ICV over aad ‖ payload ‖ tail differs from ICV over the whole", Name(TypeINTEG, tc.integ))
		}
	}
}

// suite is one cipher configuration of the round-trip matrix.
type suite struct {
	encr    ID
	keyBits int
	integ   ID
}

func (s suite) String() string {
	if s.integ == IntegNone {
		return Encr{s.encr, s.keyBits}.Name()
	}
	return Encr{s.encr, s.keyBits}.Name() + "/" + Name(TypeINTEG, s.integ)
}

// allSuites is every encryption × integrity combination NewCipher accepts.
func allSuites() []suite {
	var out []suite
	integs := []ID{IntegHMACMD596, IntegHMACSHA196, IntegHMACSHA2256128, IntegHMACSHA2384192, IntegHMACSHA2512256}
	for _, e := range []Encr{{EncrNULL, 0}, {EncrDES3, 0}, {EncrAESCBC, 128}, {EncrAESCBC, 192}, {EncrAESCBC, 256}} {
		for _, i := range integs {
			out = append(out, suite{e.ID, e.KeyBits, i})
		}
	}
	for _, e := range []Encr{{EncrAESGCM12, 128}, {EncrAESGCM12, 192}, {EncrAESGCM12, 256},
		{EncrAESGCM16, 128}, {EncrAESGCM16, 192}, {EncrAESGCM16, 256}, {EncrChaCha20Poly1305, 0}} {
		out = append(out, suite{e.ID, e.KeyBits, IntegNone})
	}
	return out
}

// newSuiteCipher builds a cipher of suite s with random keys.
func newSuiteCipher(t testing.TB, s suite) Cipher {
	t.Helper()
	elen, err := EncrKeyLen(s.encr, s.keyBits)
	if err != nil {
		t.Fatal(err)
	}
	ilen, err := IntegKeyLen(s.integ)
	if err != nil {
		t.Fatal(err)
	}
	ek, ik := make([]byte, elen), make([]byte, ilen)
	rand.Read(ek)
	rand.Read(ik)
	c, err := NewCipher(s.encr, s.keyBits, s.integ, ek, ik)
	if err != nil {
		t.Fatalf("%v: %v", s, err)
	}
	return c
}

func TestCipherRoundTrip(t *testing.T) {
	for _, s := range allSuites() {
		t.Run(s.String(), func(t *testing.T) {
			c := newSuiteCipher(t, s)
			ivLen, _ := EncrIVLen(s.encr)
			align, _ := EncrBlockSize(s.encr)
			icvLen, _ := ICVLen(s.encr, s.integ)
			if c.IVLen() != ivLen || c.Align() != align || c.ICVLen() != icvLen {
				t.Fatalf("IVLen/Align/ICVLen = %d/%d/%d, package functions say %d/%d/%d",
					c.IVLen(), c.Align(), c.ICVLen(), ivLen, align, icvLen)
			}
			var tail []byte
			if !IsAEAD(s.encr) {
				tail = []byte{0, 0, 0, 1} // ESN high bits
			}
			aad := []byte("SPI+SEQ.")
			iv := make([]byte, c.IVLen())
			rand.Read(iv)
			for _, n := range []int{0, align, 4 * align, 1400 / align * align} {
				plain := make([]byte, n)
				rand.Read(plain)
				sealed := c.Seal(nil, iv, plain, aad, tail)
				if len(sealed) != n+c.ICVLen() {
					t.Fatalf("len(Seal) = %d, want %d", len(sealed), n+c.ICVLen())
				}
				if s.encr != EncrNULL && n >= 16 && bytes.Equal(sealed[:n], plain) {
					t.Fatal("ciphertext equals plaintext")
				}
				got, err := c.Open(nil, iv, sealed, aad, tail)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("Open(Seal(%d bytes)) = %v", n, err)
				}

				// dst with a prefix is kept and extended.
				pre := []byte("prefix")
				withPre := c.Seal(append([]byte(nil), pre...), iv, plain, aad, tail)
				if !bytes.Equal(withPre[:len(pre)], pre) || !bytes.Equal(withPre[len(pre):], sealed) {
					t.Fatal("Seal with a non-empty dst did not append")
				}

				// Every modification must fail authentication.
				tamper := func(what string, sealed, iv, aad, tail []byte) {
					t.Helper()
					if _, err := c.Open(nil, iv, sealed, aad, tail); !errors.Is(err, ErrAuth) {
						t.Errorf("%d bytes, tampered %s: err = %v, want ErrAuth", n, what, err)
					}
				}
				flip := func(b []byte, i int) []byte {
					b = append([]byte(nil), b...)
					b[i] ^= 0x80
					return b
				}
				if n > 0 {
					tamper("ciphertext", flip(sealed, n/2), iv, aad, tail)
				}
				tamper("ICV", flip(sealed, len(sealed)-1), iv, aad, tail)
				tamper("aad", sealed, iv, flip(aad, 0), tail)
				if len(iv) > 0 {
					tamper("IV", sealed, flip(iv, len(iv)-1), aad, tail)
				}
				if tail != nil {
					tamper("tail", sealed, iv, aad, flip(tail, 3))
					tamper("missing tail", sealed, iv, aad, nil)
				}
			}
		})
	}
}

func TestCipherInPlace(t *testing.T) {
	for _, s := range allSuites() {
		t.Run(s.String(), func(t *testing.T) {
			c := newSuiteCipher(t, s)
			iv := make([]byte, c.IVLen())
			rand.Read(iv)
			aad := []byte{1, 2, 3, 4, 5, 6, 7, 8}
			n := 64
			plain := make([]byte, n)
			rand.Read(plain)
			want := c.Seal(nil, iv, plain, aad, nil)

			buf := make([]byte, n, n+c.ICVLen())
			copy(buf, plain)
			sealed := c.Seal(buf[:0], iv, buf, aad, nil)
			if &sealed[0] != &buf[0] || !bytes.Equal(sealed, want) {
				t.Fatal("in-place Seal differs from out-of-place Seal or reallocated")
			}
			opened, err := c.Open(sealed[:0], iv, sealed, aad, nil)
			if err != nil || &opened[0] != &buf[0] || !bytes.Equal(opened, plain) {
				t.Fatalf("in-place Open: %v", err)
			}
		})
	}
}

func TestCipherZeroAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts are not meaningful under coverage or the race detector")
	}
	for _, s := range allSuites() {
		c := newSuiteCipher(t, s)
		iv := make([]byte, c.IVLen())
		aad := make([]byte, 8)
		buf := make([]byte, 1408, 1408+c.ICVLen())
		sealed := c.Seal(nil, iv, buf, aad, nil)
		work := make([]byte, len(sealed))
		// Warm up the pools, then count.
		c.Seal(buf[:0], iv, buf, aad, nil)
		seal := testing.AllocsPerRun(200, func() { c.Seal(buf[:0], iv, buf[:1408], aad, nil) })
		open := testing.AllocsPerRun(200, func() {
			copy(work, sealed)
			if _, err := c.Open(work[:0], iv, work, aad, nil); err != nil {
				t.Fatal(err)
			}
		})
		if seal != 0 || open != 0 {
			t.Errorf("%v: %v allocs/Seal, %v allocs/Open, want 0", s, seal, open)
		}
	}
}

// Many goroutines share one Cipher, as ESP workers do.
func TestCipherConcurrent(t *testing.T) {
	for _, s := range []suite{{EncrAESGCM16, 256, IntegNone}, {EncrAESCBC, 256, IntegHMACSHA2256128}, {EncrChaCha20Poly1305, 0, IntegNone}} {
		c := newSuiteCipher(t, s)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Go(func() {
				iv := make([]byte, c.IVLen())
				plain := make([]byte, 256)
				for i := range 200 {
					iv[0], plain[0], plain[1] = byte(i), byte(g), byte(i)
					sealed := c.Seal(nil, iv, plain, []byte{byte(g)}, nil)
					got, err := c.Open(nil, iv, sealed, []byte{byte(g)}, nil)
					if err != nil || !bytes.Equal(got, plain) {
						errs <- fmt.Errorf("%v goroutine %d: %v", s, g, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}

func TestCipherMalformed(t *testing.T) {
	for _, s := range allSuites() {
		c := newSuiteCipher(t, s)
		iv := make([]byte, c.IVLen())
		sealed := c.Seal(nil, iv, make([]byte, 2*c.Align()), nil, nil)
		if _, err := c.Open(nil, iv, sealed[:c.ICVLen()-1], nil, nil); !errors.Is(err, ErrLength) {
			t.Errorf("%v: shorter than the ICV: %v, want ErrLength", s, err)
		}
		if c.Align() > 1 {
			if _, err := c.Open(nil, iv, sealed[1:], nil, nil); !errors.Is(err, ErrLength) {
				t.Errorf("%v: not block aligned: %v, want ErrLength", s, err)
			}
		}
		if _, err := c.Open(nil, append(iv, 0), sealed, nil, nil); !errors.Is(err, ErrLength) {
			t.Errorf("%v: IV too long: %v, want ErrLength", s, err)
		}
	}
}

func TestNewCipherErrors(t *testing.T) {
	k := func(n int) []byte { return make([]byte, n) }
	cases := []struct {
		name            string
		encr            ID
		keyBits         int
		integ           ID
		ek, ik          []byte
		wantUnsupported bool
	}{
		{"GCM with 8-byte ICV", EncrAESGCM8, 128, IntegNone, k(20), nil, true},
		{"AES-CTR", EncrAESCTR, 128, IntegHMACSHA196, k(20), k(20), true},
		{"single DES", 2, 0, IntegHMACSHA196, k(8), k(20), true},
		{"AES without key size", EncrAESCBC, 0, IntegHMACSHA196, k(16), k(20), true},
		{"AES-512", EncrAESGCM16, 512, IntegNone, k(68), nil, true},
		{"CBC without integrity", EncrAESCBC, 128, IntegNone, k(16), nil, true},
		{"NULL without integrity", EncrNULL, 0, IntegNone, nil, nil, true},
		{"unknown integrity", EncrAESCBC, 128, 99, k(16), k(20), true},
		{"AEAD with integrity", EncrAESGCM16, 128, IntegHMACSHA196, k(20), k(20), false},
		{"AEAD with integrity key", EncrAESGCM16, 128, IntegNone, k(20), k(20), false},
		{"short GCM key (no salt)", EncrAESGCM16, 128, IntegNone, k(16), nil, false},
		{"long CBC key", EncrAESCBC, 128, IntegHMACSHA196, k(20), k(20), false},
		{"short integrity key", EncrAESCBC, 128, IntegHMACSHA2256128, k(16), k(20), false},
		{"3DES 128-bit", EncrDES3, 128, IntegHMACSHA196, k(16), k(20), true},
	}
	for _, tc := range cases {
		c, err := NewCipher(tc.encr, tc.keyBits, tc.integ, tc.ek, tc.ik)
		if err == nil {
			t.Errorf("%s: NewCipher succeeded (%T)", tc.name, c)
			continue
		}
		if errors.Is(err, ErrUnsupported) != tc.wantUnsupported {
			t.Errorf("%s: err = %v, ErrUnsupported %v", tc.name, err, tc.wantUnsupported)
		}
	}
}

// The caller may reuse its key buffers once NewCipher returns.
func TestNewCipherCopiesKeys(t *testing.T) {
	for _, s := range []suite{{EncrAESCBC, 128, IntegHMACSHA2256128}, {EncrAESGCM16, 128, IntegNone}} {
		elen, _ := EncrKeyLen(s.encr, s.keyBits)
		ilen, _ := IntegKeyLen(s.integ)
		ek, ik := seq(1, byte(elen)), seq(1, byte(ilen))
		c, err := NewCipher(s.encr, s.keyBits, s.integ, ek, ik)
		if err != nil {
			t.Fatal(err)
		}
		iv := make([]byte, c.IVLen())
		want := c.Seal(nil, iv, make([]byte, 32), nil, nil)
		clear(ek)
		clear(ik)
		if got := c.Seal(nil, iv, make([]byte, 32), nil, nil); !bytes.Equal(got, want) {
			t.Errorf("%v: output changed after clearing the caller's key buffers", s)
		}
	}
}

// The 3DES path uses crypto/des through pooled CBC modes; compare with a
// direct composition of crypto/cipher and crypto/hmac.
func TestDES3MatchesDirectComposition(t *testing.T) {
	ek, ik := seq(0x10, 0x10+23), seq(0x80, 0x80+19)
	iv, aad := seq(1, 8), []byte("hdr")
	plain := seq(0, 63)
	c, err := NewCipher(EncrDES3, 0, IntegHMACSHA196, ek, ik)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := des.NewTripleDESCipher(ek)
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(ct, plain)
	h := hmac.New(integAlgs[IntegHMACSHA196].hash, ik)
	h.Write(aad)
	h.Write(iv)
	h.Write(ct)
	want := append(ct, h.Sum(nil)[:12]...)
	if got := c.Seal(nil, iv, plain, aad, nil); !bytes.Equal(got, want) {
		t.Errorf("Seal = %x\nwant   %x", got, want)
	}
	// And AES-CBC-256 for good measure.
	ek = seq(0, 31)
	c, _ = NewCipher(EncrAESCBC, 256, IntegHMACSHA196, ek, ik)
	ab, _ := aes.NewCipher(ek)
	iv = seq(1, 16)
	cipher.NewCBCEncrypter(ab, iv).CryptBlocks(ct, plain)
	h.Reset()
	h.Write(aad)
	h.Write(iv)
	h.Write(ct)
	want = append(ct[:len(plain):len(plain)], h.Sum(nil)[:12]...)
	if got := c.Seal(nil, iv, plain, aad, nil); !bytes.Equal(got, want) {
		t.Errorf("AES-256 Seal = %x\nwant   %x", got, want)
	}
}

func benchmarkCipher(b *testing.B, s suite, open bool) {
	c := newSuiteCipher(b, s)
	iv := make([]byte, c.IVLen())
	aad := make([]byte, 8)
	// A 1400-byte payload, padded up to the block size for CBC as ESP
	// would pad it.
	n := (1400 + c.Align() - 1) / c.Align() * c.Align()
	plain := make([]byte, n, n+c.ICVLen())
	sealed := c.Seal(nil, iv, plain, aad, nil)
	work := make([]byte, len(sealed))
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		if open {
			copy(work, sealed)
			if _, err := c.Open(work[:0], iv, work, aad, nil); err != nil {
				b.Fatal(err)
			}
		} else {
			c.Seal(plain[:0], iv, plain[:n], aad, nil)
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	for _, s := range benchSuites {
		b.Run(s.String(), func(b *testing.B) { benchmarkCipher(b, s, false) })
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, s := range benchSuites {
		b.Run(s.String(), func(b *testing.B) { benchmarkCipher(b, s, true) })
	}
}

var benchSuites = []suite{
	{EncrAESGCM16, 256, IntegNone},
	{EncrAESCBC, 256, IntegHMACSHA2256128},
	{EncrChaCha20Poly1305, 0, IntegNone},
}
