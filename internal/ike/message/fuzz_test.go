package message

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vpngw/vpngw/internal/transform"
)

// Fuzz targets. Seed corpora live in testdata/fuzz/<Name>/ (regenerate with
// go test -run TestWriteFuzzSeeds -update-fuzz-seeds); they include the
// strongSwan captures of testdata/strongswan.

var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz seed corpora")

// checkErrClass fails unless err is one this package documents.
func checkErrClass(t *testing.T, err error) {
	t.Helper()
	var ce *CriticalPayloadError
	for _, s := range []error{ErrSyntax, ErrAuth, ErrFragment, ErrTooLarge, ErrVersion, ErrNoCrypto} {
		if errors.Is(err, s) {
			return
		}
	}
	if errors.As(err, &ce) {
		return
	}
	t.Fatalf("unclassified error: %v", err)
}

// normalized returns m with the header fields an encoder recomputes or
// drops reset, for comparing decode(encode(decode(x))) with decode(x).
func normalized(m *Message) *Message {
	c := *m
	c.Length = 0
	c.Flags &= flagsDefined
	c.NextPayload = PayloadNone
	return &c
}

func FuzzParseHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			checkErrClass(t, err)
			return
		}
		if len(b) < HeaderLen || int(h.Length) != len(b) || h.Version>>4 != 2 {
			t.Fatalf("accepted %x as %+v", b, h)
		}
		want := append([]byte(nil), b[:HeaderLen]...)
		want[19] &= flagsDefined
		if got := appendHeader(nil, &h, h.NextPayload, len(b)); !bytes.Equal(got, want) {
			t.Fatalf("header re-encodes as %x, want %x", got, want)
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b, nil)
		if err != nil {
			checkErrClass(t, err)
			return
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("decoded %s but cannot re-encode: %v", m, err)
		}
		// Every field is kept with its size, so the length is the same.
		if len(enc) != len(b) {
			t.Fatalf("re-encoded to %d bytes, input %d", len(enc), len(b))
		}
		m2, err := Decode(enc, nil)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalized(m), normalized(m2)) {
			t.Fatalf("round trip changed the message:\n%#v\n%#v", m, m2)
		}
	})
}

// fuzzCiphers are the fixed-key ciphers of the protected-message fuzzers:
// package transform's production AES-GCM and AES-CBC/HMAC-SHA-256.
func fuzzCiphers(t testing.TB) []transform.Cipher {
	cs := transformCiphers(t)
	return []transform.Cipher{cs["aes256gcm16"], cs["aes256-sha256"]}
}

// sealSK builds a protected message by hand (independently of the
// package's encoder): IKE header, SK header with next payload np, IV, and
// plaintext ‖ minimal zero padding ‖ pad length, sealed with ci.
func sealSK(ci transform.Cipher, h Header, np PayloadType, plain []byte, iv byte) []byte {
	pad := 0
	if a := ci.Align(); a > 1 {
		pad = (a - (len(plain)+1)%a) % a
	}
	pt := append(append(append([]byte(nil), plain...), make([]byte, pad)...), byte(pad))
	total := HeaderLen + 4 + ci.IVLen() + len(pt) + ci.ICVLen()
	b := appendHeader(nil, &h, PayloadSK, total)
	b = append(b, byte(np), 0, byte((total-HeaderLen)>>8), byte(total-HeaderLen))
	ivb := bytes.Repeat([]byte{iv}, ci.IVLen())
	aad := append([]byte(nil), b...)
	b = append(b, ivb...)
	return ci.Seal(b, ivb, pt, aad, nil)
}

// FuzzDecodeProtected reaches the inner parser through valid ICVs: the
// input's first byte picks the cipher and the SK Next Payload, the rest is
// the inner content, which the harness encrypts. The raw input is also
// decoded as a datagram (exercising the pre-authentication checks).
func FuzzDecodeProtected(f *testing.F) {
	ciphers := fuzzCiphers(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, ci := range ciphers {
			if _, err := Decode(b, &Crypto{Cipher: ci}); err != nil {
				checkErrClass(t, err)
			}
		}
		if len(b) < 2 || len(b) > 60000 {
			return
		}
		ci := ciphers[int(b[0])%len(ciphers)]
		np := PayloadType(b[1])
		h := Header{SPIi: 1, SPIr: 2, Exchange: IKEAuth, Flags: FlagInitiator | b[0]&FlagResponse, MessageID: 1}
		c := &Crypto{Cipher: ci}
		msg := sealSK(ci, h, np, b[2:], b[0])
		m, err := Decode(msg, c)
		if err != nil {
			checkErrClass(t, err)
			if errors.Is(err, ErrAuth) {
				t.Fatalf("validly sealed message fails authentication: %v", err)
			}
			return
		}
		if !m.Protected {
			t.Fatal("not marked protected")
		}
		enc, err := m.EncodeProtected(testCrypto(ci, 7))
		if err != nil {
			t.Fatalf("decoded %s but cannot re-encode: %v", m, err)
		}
		m2, err := Decode(enc, c)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalized(m), normalized(m2)) {
			t.Fatalf("round trip changed the message:\n%#v\n%#v", m, m2)
		}
		// Every field is kept with its size (reserved bits aside, the
		// encoding is the same), so the inner encoding has the sealed length.
		if inner := appendPayloads(nil, m.Payloads); len(inner) != len(b)-2 {
			t.Fatalf("inner re-encodes to %d bytes, sealed %d", len(inner), len(b)-2)
		}
	})
}

// sealSKF builds one SKF datagram by hand.
func sealSKF(ci transform.Cipher, h Header, np PayloadType, num, total uint16, content []byte, iv byte) []byte {
	pad := 0
	if a := ci.Align(); a > 1 {
		pad = (a - (len(content)+1)%a) % a
	}
	pt := append(append(append([]byte(nil), content...), make([]byte, pad)...), byte(pad))
	size := HeaderLen + 8 + ci.IVLen() + len(pt) + ci.ICVLen()
	b := appendHeader(nil, &h, PayloadSKF, size)
	b = append(b, byte(np), 0)
	b = binary.BigEndian.AppendUint16(b, uint16(size-HeaderLen))
	b = binary.BigEndian.AppendUint16(b, num)
	b = binary.BigEndian.AppendUint16(b, total)
	ivb := bytes.Repeat([]byte{iv}, ci.IVLen())
	aad := append([]byte(nil), b...)
	b = append(b, ivb...)
	return ci.Seal(b, ivb, pt, aad, nil)
}

// FuzzReassembler feeds a Reassembler (limits: 8 fragments, 1024 bytes) a
// sequence of fragments described by the input: each record is
// [flags, number, total, next payload, length, content...]; flags bit 0
// selects the message ID, bit 1 corrupts the datagram, bit 2 truncates it.
func FuzzReassembler(f *testing.F) {
	ci := fuzzCiphers(f)[0]
	c := &Crypto{Cipher: ci}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReassembler(8, 1024)
		for len(b) >= 5 {
			flags, num, total, np, l := b[0], b[1], b[2], PayloadType(b[3]), int(b[4])
			b = b[5:]
			l = min(l, len(b))
			content := b[:l]
			b = b[l:]
			h := Header{SPIi: 1, SPIr: 2, Exchange: IKEAuth, Flags: FlagInitiator, MessageID: uint32(flags & 1)}
			d := sealSKF(ci, h, np, uint16(num), uint16(total), content, num)
			if flags&2 != 0 {
				d[len(d)-1-int(num)%len(d)] ^= 0x40
			}
			if flags&4 != 0 {
				d = d[:len(d)/2]
			}
			m, done, err := r.Add(d, c)
			if r.Pending() > 8 || r.bytes > 1024 {
				t.Fatalf("limits exceeded: %d fragments, %d bytes", r.Pending(), r.bytes)
			}
			if err != nil {
				checkErrClass(t, err)
				if m != nil || done {
					t.Fatal("error with a message")
				}
				continue
			}
			if !done {
				if m != nil {
					t.Fatal("message without done")
				}
				continue
			}
			if r.Pending() != 0 || !m.Protected || m.Fragments == 0 {
				t.Fatalf("done: pending %d, %+v", r.Pending(), m)
			}
			// Re-fragment the result and reassemble it again.
			frags, err := m.EncodeFragments(testCrypto(ci, 3), 100)
			if err != nil {
				t.Fatalf("cannot re-encode %s: %v", m, err)
			}
			r2 := NewReassembler(0, 0)
			var m2 *Message
			for i, fr := range frags {
				var ok bool
				if len(frags) == 1 {
					m2, err = Decode(fr, c)
					ok = err == nil
				} else {
					m2, ok, err = r2.Add(fr, c)
				}
				if err != nil || ok != (i == len(frags)-1) {
					t.Fatalf("re-fragmented %s: fragment %d: done %v, %v", m, i+1, ok, err)
				}
			}
			if !reflect.DeepEqual(m.Payloads, m2.Payloads) {
				t.Fatalf("re-fragmenting changed the payloads:\n%#v\n%#v", m.Payloads, m2.Payloads)
			}
		}
	})
}

// TestWriteFuzzSeeds rewrites the seed corpora with -update-fuzz-seeds.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateFuzzSeeds {
		t.Skip("use -update-fuzz-seeds to rewrite testdata/fuzz")
	}
	seeds := map[string][][]byte{}
	add := func(name string, b []byte) { seeds[name] = append(seeds[name], b) }

	for _, rn := range swanRuns {
		r := loadSwanRun(t, rn)
		initResp, err := Decode(r.msgs[1].data, nil)
		if err != nil {
			t.Fatal(err)
		}
		chosen := &initResp.SA().Proposals[0]
		for i, m := range r.msgs {
			add("FuzzParseHeader", m.data)
			add("FuzzDecode", m.data)
			add("FuzzDecodeProtected", m.data)
			if i < 2 {
				continue
			}
			content, _ := decryptSwan(t, r.cryptoFor(t, chosen, m.i2r), m.data)
			if _, _, frag := PeekFragment(m.data); frag {
				continue
			}
			np := m.data[HeaderLen]
			add("FuzzDecodeProtected", append([]byte{0, np}, content...))
			add("FuzzDecodeProtected", append([]byte{1, np}, content...))
		}
	}
	for _, m := range sampleMessages(t) {
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		add("FuzzDecode", b)
		add("FuzzParseHeader", b)
		inner := appendPayloads(nil, m.Payloads)
		add("FuzzDecodeProtected", append([]byte{0, byte(firstType(m.Payloads))}, inner...))
		// Reassembler: the message in 3 fragments, in order and reversed.
		var rec, rev [][]byte
		n := (len(inner) + 2) / 3
		for i := 0; i < 3; i++ {
			chunk := inner[min(i*n, len(inner)):min((i+1)*n, len(inner))]
			if len(chunk) > 255 {
				chunk = chunk[:255]
			}
			np := byte(0)
			if i == 0 {
				np = byte(firstType(m.Payloads))
			}
			rec = append(rec, append([]byte{0, byte(i + 1), 3, np, byte(len(chunk))}, chunk...))
		}
		for i := len(rec) - 1; i >= 0; i-- {
			rev = append(rev, rec[i])
		}
		add("FuzzReassembler", bytes.Join(rec, nil))
		add("FuzzReassembler", bytes.Join(rev, nil))
	}
	add("FuzzReassembler", []byte{0, 1, 2, 41, 4, 0, 0, 0, 8, 0, 2, 2, 0, 4, 0, 1, 0, 0, 2, 1, 2, 41, 0})
	add("FuzzReassembler", []byte{1, 1, 1, 40, 20, 0, 0, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})

	for name, list := range seeds {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, b := range list {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%03d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
