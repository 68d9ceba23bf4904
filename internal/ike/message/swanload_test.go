package message

import (
	"bufio"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vpngw/vpngw/internal/transform"
)

// swanMsg is one captured datagram.
type swanMsg struct {
	name string // file name, e.g. "03-i2r.hex"
	i2r  bool   // sent by the initiator
	data []byte
}

// swanRun is one capture of testdata/strongswan (see its README).
type swanRun struct {
	name string
	msgs []swanMsg
	keys map[string][]byte // "SK_ei" -> key
}

func loadSwanRun(t testing.TB, name string) *swanRun {
	t.Helper()
	dir := filepath.Join("testdata", "strongswan", name)
	files, err := filepath.Glob(filepath.Join(dir, "*.hex"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in %s: %v", dir, err)
	}
	sort.Strings(files)
	r := &swanRun{name: name, keys: map[string][]byte{}}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := hex.DecodeString(strings.Join(strings.Fields(string(raw)), ""))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		base := filepath.Base(f)
		r.msgs = append(r.msgs, swanMsg{name: base, i2r: strings.Contains(base, "i2r"), data: b})
	}
	kf, err := os.Open(filepath.Join(dir, "keys.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Close()
	sc := bufio.NewScanner(kf)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		k, err := hex.DecodeString(f[1])
		if err != nil {
			t.Fatalf("keys.txt: %v", err)
		}
		r.keys[f[0]] = k
	}
	return r
}

var swanRuns = []string{"gcm", "cbc", "sha1", "frag", "cp"}

// cryptoFor builds the test cipher of the IKE SA's negotiated proposal (from
// the IKE_SA_INIT response) for one direction, with the keys charon logged.
func (r *swanRun) cryptoFor(t testing.TB, chosen *Proposal, i2r bool) *Crypto {
	t.Helper()
	suffix := "r"
	if i2r {
		suffix = "i"
	}
	ek, ak := r.keys["SK_e"+suffix], r.keys["SK_a"+suffix]
	var encr, integ Transform
	for _, tr := range chosen.Transforms {
		switch tr.Type {
		case transform.TypeENCR:
			encr = tr
		case transform.TypeINTEG:
			integ = tr
		}
	}
	if int(encr.KeyLength)/8 != len(ek)-map[bool]int{true: 4, false: 0}[encr.ID == transform.EncrAESGCM16] {
		t.Fatalf("%s: SK_e%s is %d bytes for %+v", r.name, suffix, len(ek), encr)
	}
	switch {
	case encr.ID == transform.EncrAESGCM16:
		return testCrypto(newGCMCipher(t, ek, 16), 1)
	case encr.ID == transform.EncrAESCBC && integ.ID == transform.IntegHMACSHA2256128:
		return testCrypto(newCBCCipher(t, ek, ak, sha256.New, 16), 1)
	case encr.ID == transform.EncrAESCBC && integ.ID == transform.IntegHMACSHA196:
		return testCrypto(newCBCCipher(t, ek, ak, sha1.New, 12), 1)
	case encr.ID == transform.EncrAESCBC && integ.ID == transform.IntegHMACSHA2384192:
		return testCrypto(newCBCCipher(t, ek, ak, sha512.New384, 24), 1)
	}
	t.Fatalf("%s: no test cipher for %+v %+v", r.name, encr, integ)
	return nil
}
