package message

import (
	"reflect"
	"testing"

	"github.com/vpngw/vpngw/internal/transform"
)

// Tests with package transform's production ciphers (transform.NewCipher),
// next to the independent test ciphers of testcipher_test.go.

func newTransformCipher(t testing.TB, encr transform.ID, keyBits int, integ transform.ID, seed byte) transform.Cipher {
	t.Helper()
	ek, err := transform.EncrKeyLen(encr, keyBits)
	if err != nil {
		t.Fatal(err)
	}
	var ak []byte
	if integ != transform.IntegNone {
		n, err := transform.IntegKeyLen(integ)
		if err != nil {
			t.Fatal(err)
		}
		ak = seq(n, seed+100)
	}
	c, err := transform.NewCipher(encr, keyBits, integ, seq(ek, seed), ak)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func transformCiphers(t testing.TB) map[string]transform.Cipher {
	return map[string]transform.Cipher{
		"aes256gcm16":      newTransformCipher(t, transform.EncrAESGCM16, 256, transform.IntegNone, 1),
		"aes128gcm12":      newTransformCipher(t, transform.EncrAESGCM12, 128, transform.IntegNone, 2),
		"chacha20poly1305": newTransformCipher(t, transform.EncrChaCha20Poly1305, 0, transform.IntegNone, 3),
		"aes256-sha256":    newTransformCipher(t, transform.EncrAESCBC, 256, transform.IntegHMACSHA2256128, 4),
		"aes128-sha1":      newTransformCipher(t, transform.EncrAESCBC, 128, transform.IntegHMACSHA196, 5),
		"3des-sha1":        newTransformCipher(t, transform.EncrDES3, 0, transform.IntegHMACSHA196, 6),
		"aes256-sha512":    newTransformCipher(t, transform.EncrAESCBC, 256, transform.IntegHMACSHA2512256, 7),
	}
}

// swanTransformCrypto is cryptoFor with transform.NewCipher.
func (r *swanRun) transformCrypto(t testing.TB, chosen *Proposal, i2r bool) *Crypto {
	t.Helper()
	suffix := "r"
	if i2r {
		suffix = "i"
	}
	encr, integ := transform.ID(0), transform.IntegNone
	keyBits := 0
	for _, tr := range chosen.Transforms {
		switch tr.Type {
		case transform.TypeENCR:
			encr, keyBits = tr.ID, int(tr.KeyLength)
		case transform.TypeINTEG:
			integ = tr.ID
		}
	}
	c, err := transform.NewCipher(encr, keyBits, integ, r.keys["SK_e"+suffix], r.keys["SK_a"+suffix])
	if err != nil {
		t.Fatalf("%s: %v", r.name, err)
	}
	return &Crypto{Cipher: c}
}

// The strongSwan captures decode the same with transform's ciphers.
func TestStrongSwanWithTransformCiphers(t *testing.T) {
	for _, rn := range swanRuns {
		r := loadSwanRun(t, rn)
		initResp, err := Decode(r.msgs[1].data, nil)
		if err != nil {
			t.Fatal(err)
		}
		chosen := &initResp.SA().Proposals[0]
		ra := map[bool][2]*Reassembler{true: {NewReassembler(0, 0), NewReassembler(0, 0)}, false: {NewReassembler(0, 0), NewReassembler(0, 0)}}
		for _, sm := range r.msgs[2:] {
			var got [2]*Message
			for i, c := range []*Crypto{r.transformCrypto(t, chosen, sm.i2r), r.cryptoFor(t, chosen, sm.i2r)} {
				if _, _, frag := PeekFragment(sm.data); frag {
					m, _, err := ra[sm.i2r][i].Add(sm.data, c)
					if err != nil {
						t.Fatalf("%s %s: %v", rn, sm.name, err)
					}
					got[i] = m
				} else if got[i], err = Decode(sm.data, c); err != nil {
					t.Fatalf("%s %s: %v", rn, sm.name, err)
				}
			}
			if !reflect.DeepEqual(got[0], got[1]) {
				t.Errorf("%s %s: transform and test ciphers disagree:\n%v\n%v", rn, sm.name, got[0], got[1])
			}
		}
	}
}

func TestRoundTripTransformCiphers(t *testing.T) {
	for cname, ci := range transformCiphers(t) {
		for i, m := range sampleMessages(t) {
			c := testCrypto(ci, uint64(i))
			b, err := m.EncodeProtected(c)
			if err != nil {
				t.Fatalf("%s: %v", cname, err)
			}
			got, err := Decode(b, c)
			if err != nil || !reflect.DeepEqual(got.Payloads, m.Payloads) {
				t.Fatalf("%s message %d: %v", cname, i, err)
			}
			frags, err := m.EncodeFragments(c, 300)
			if err != nil {
				t.Fatalf("%s: %v", cname, err)
			}
			if len(frags) == 1 {
				continue
			}
			r := NewReassembler(0, 0)
			for j := len(frags) - 1; j >= 0; j-- {
				got, done, err := r.Add(frags[j], c)
				if err != nil || done != (j == 0) {
					t.Fatalf("%s message %d fragment %d: %v %v", cname, i, j+1, done, err)
				}
				if done && !reflect.DeepEqual(got.Payloads, m.Payloads) {
					t.Fatalf("%s message %d: reassembled payloads differ", cname, i)
				}
			}
		}
	}
}

// keDataLen agrees with the groups package transform implements.
func TestKEDataLenMatchesTransform(t *testing.T) {
	for g := transform.ID(0); g < 64; g++ {
		n, err := transform.DHPublicLen(g)
		if err != nil {
			continue
		}
		if keDataLen(g) != n {
			t.Errorf("group %d: keDataLen %d, transform says %d", g, keDataLen(g), n)
		}
	}
}
