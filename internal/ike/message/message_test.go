package message

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/vpngw/vpngw/internal/transform"
)

func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// samplePayloads has every payload type, with the variants that matter.
func samplePayloads() map[string][]Payload {
	v4 := netip.MustParseAddr
	return map[string][]Payload{
		"SA": {
			&SA{Proposals: []Proposal{
				{Number: 1, Protocol: ProtoIKE, Transforms: []Transform{
					{Type: transform.TypeENCR, ID: transform.EncrAESGCM16, KeyLength: 256},
					{Type: transform.TypePRF, ID: transform.PRFHMACSHA2256},
					{Type: transform.TypeDH, ID: transform.DHECP256},
				}},
				{Number: 2, Protocol: ProtoIKE, Transforms: []Transform{
					{Type: transform.TypeENCR, ID: transform.EncrAESCBC, KeyLength: 128, OtherAttributes: []TransformAttribute{
						{Type: 99, TV: true, Value: []byte{0, 1}},
						{Type: 100, Value: []byte("xyz")},
						{Type: 101},
					}},
					{Type: transform.TypeINTEG, ID: transform.IntegHMACSHA2256128},
					{Type: transform.TypePRF, ID: transform.PRFHMACSHA2256},
					{Type: transform.TypeDH, ID: transform.DHMODP2048},
				}},
			}},
			&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtoIKE, SPI: seq(8, 1), Transforms: []Transform{{Type: transform.TypeENCR, ID: transform.EncrChaCha20Poly1305}}}}},
			&SA{Proposals: []Proposal{
				{Number: 1, Protocol: ProtoESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{{Type: transform.TypeENCR, ID: transform.EncrAESGCM16, KeyLength: 256}, {Type: transform.TypeESN}}},
				{Number: 2, Protocol: ProtoAH, SPI: []byte{1, 2, 3, 5}, Transforms: []Transform{{Type: transform.TypeINTEG, ID: transform.IntegHMACSHA2512256}, {Type: transform.TypeESN, ID: transform.ESNYes}}},
				{Number: 3, Protocol: 9, SPI: []byte{7}, Transforms: []Transform{{Type: 77, ID: 7777}}},
			}},
		},
		"KE": {
			&KE{Group: transform.DHECP256, Data: seq(64, 1)},
			&KE{Group: transform.DHCurve25519, Data: seq(32, 2)},
			&KE{Group: transform.DHMODP2048, Data: seq(256, 3)},
			&KE{Group: 1234, Data: []byte{9}},
		},
		"ID": {
			&ID{Initiator: true, IDType: IDFQDN, Data: []byte("gw-a.example.net")},
			&ID{IDType: IDIPv4Addr, Data: []byte{192, 0, 2, 1}},
			&ID{Initiator: true, IDType: IDIPv6Addr, Data: v4("2001:db8::1").AsSlice()},
			&ID{IDType: IDNull},
			&ID{IDType: IDKeyID, Data: []byte{0}},
		},
		"CERT":    {&Cert{Encoding: CertX509Signature, Data: seq(300, 0)}, &Cert{Encoding: CertHashURLX509}},
		"CERTREQ": {&CertReq{Encoding: CertX509Signature, Data: seq(40, 0)}, &CertReq{Encoding: CertX509Signature}},
		"AUTH":    {&Auth{Method: AuthSharedKeyMIC, Data: seq(32, 5)}, &Auth{Method: AuthDigitalSignature, Data: seq(100, 6)}, &Auth{Method: AuthNull}},
		"Nonce":   {&Nonce{Data: seq(16, 0)}, &Nonce{Data: seq(32, 1)}, &Nonce{Data: seq(256, 2)}},
		"N": {
			&Notify{Type: NotifyNATDetectionSourceIP, Data: seq(20, 0)},
			&Notify{Type: NotifyFragmentationSupported},
			&Notify{Protocol: ProtoESP, SPI: []byte{1, 2, 3, 4}, Type: NotifyRekeySA},
			&Notify{Protocol: ProtoIKE, SPI: seq(8, 1), Type: NotifyInvalidSPI, Data: []byte{1}},
			&Notify{Type: NotifyInvalidKEPayload, Data: []byte{0, 19}},
			&Notify{Type: 50000, Data: seq(3, 3)},
		},
		"D": {
			&Delete{Protocol: ProtoIKE},
			&Delete{Protocol: ProtoESP, SPIs: [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}},
			&Delete{Protocol: ProtoAH, SPIs: [][]byte{{1, 2, 3, 4}}},
			&Delete{Protocol: ProtoESP},
			&Delete{Protocol: 8, SPIs: [][]byte{{1, 2}, {3, 4}}},
		},
		"V": {&VendorID{Data: []byte("vpngw")}, &VendorID{}},
		"TS": {
			&TS{Initiator: true, Selectors: []TrafficSelector{
				{Type: TSIPv4AddrRange, EndPort: 65535, StartAddr: v4("10.1.0.0"), EndAddr: v4("10.1.255.255")},
				{Type: TSIPv4AddrRange, IPProtocol: 6, StartPort: 443, EndPort: 443, StartAddr: v4("192.0.2.1"), EndAddr: v4("192.0.2.1")},
				{Type: TSIPv6AddrRange, IPProtocol: 17, StartPort: 65535, EndPort: 0, StartAddr: v4("2001:db8::"), EndAddr: v4("2001:db8::ffff")},
				{Type: 10, IPProtocol: 0, Data: []byte("system_u:object_r:ipsec_spd_t:s0")},
			}},
			&TS{Selectors: []TrafficSelector{{Type: TSIPv6AddrRange, EndPort: 65535, StartAddr: v4("::"), EndAddr: v4("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")}}},
			&TS{},
		},
		"CP": {
			&CP{CPType: CPRequest, Attributes: []CPAttribute{{Type: CPInternalIP4Address}, {Type: CPInternalIP4DNS}, {Type: CPInternalIP6Address}}},
			&CP{CPType: CPReply, Attributes: []CPAttribute{{Type: CPInternalIP4Address, Value: []byte{10, 3, 0, 1}}, {Type: CPInternalIP4Netmask, Value: []byte{255, 255, 255, 0}}}},
			&CP{CPType: CPAck},
		},
		"EAP": {
			&EAP{Data: []byte{2, 7, 0, 10, 1, 'u', 's', 'e', 'r', '1'}}, // Response/Identity
			&EAP{Data: []byte{3, 8, 0, 4}},                              // Success
		},
		"Unknown": {
			&Unknown{PType: 200, Data: []byte("opaque")},
			&Unknown{PType: 49},
			&Unknown{PType: 1, Data: []byte{1}},
		},
	}
}

// sampleMessages are whole messages covering every payload.
func sampleMessages(t testing.TB) []*Message {
	ps := samplePayloads()
	h := Header{SPIi: 0x0102030405060708, SPIr: 0x1112131415161718, Exchange: IKEAuth, Flags: FlagInitiator, MessageID: 1}
	var all []Payload
	for _, name := range []string{"SA", "KE", "ID", "CERT", "CERTREQ", "AUTH", "Nonce", "N", "D", "V", "TS", "CP", "EAP", "Unknown"} {
		all = append(all, ps[name]...)
	}
	if len(all) > MaxPayloads {
		t.Fatalf("%d sample payloads", len(all))
	}
	resp := h
	resp.Flags = FlagResponse
	return []*Message{
		{Header: h, Payloads: all},
		{Header: resp, Payloads: []Payload{ps["SA"][1], ps["ID"][0], ps["N"][2]}},
		{Header: Header{SPIi: 1, Exchange: Informational, MessageID: 7}},
		{Header: Header{SPIi: 1, SPIr: 2, Exchange: IKESAInit}, Payloads: []Payload{ps["SA"][0], ps["KE"][0], ps["Nonce"][1], ps["N"][0], ps["N"][1]}},
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	for name, list := range samplePayloads() {
		for i, p := range list {
			m := &Message{Header: Header{SPIi: 9, Exchange: CreateChildSA, MessageID: 3}, Payloads: []Payload{p}}
			b, err := m.Encode()
			if err != nil {
				t.Fatalf("%s %d: Encode: %v", name, i, err)
			}
			got, err := Decode(b, nil)
			if err != nil {
				t.Fatalf("%s %d: Decode: %v\n%x", name, i, err, b)
			}
			if len(got.Payloads) != 1 || !reflect.DeepEqual(got.Payloads[0], p) {
				t.Errorf("%s %d: round trip\n got %#v\nwant %#v", name, i, got.Payloads, p)
			}
			if got.Payloads[0].PayloadType() != p.PayloadType() || got.NextPayload != p.PayloadType() {
				t.Errorf("%s %d: type %s", name, i, got.Payloads[0].PayloadType())
			}
		}
	}
}

// Encodings written out by hand from the figures of RFC 7296 §3.
func TestGoldenEncodings(t *testing.T) {
	v4 := netip.MustParseAddr
	tests := []struct {
		name string
		p    Payload
		want string // generic header + body, Next Payload 0
	}{
		{"SA", &SA{Proposals: []Proposal{{Protocol: ProtoIKE, Transforms: []Transform{
			{Type: transform.TypeENCR, ID: transform.EncrAESGCM16, KeyLength: 256},
			{Type: transform.TypePRF, ID: transform.PRFHMACSHA2256},
			{Type: transform.TypeDH, ID: transform.DHCurve25519},
		}}}}, `00000028
			00000024 01010003
			0300000c 01000014 800e0100
			03000008 02000005
			00000008 0400001f`},
		{"SA ESP two proposals", &SA{Proposals: []Proposal{
			{Protocol: ProtoESP, SPI: []byte{0xa, 0xb, 0xc, 0xd}, Transforms: []Transform{{Type: transform.TypeENCR, ID: transform.EncrAESGCM16, KeyLength: 128}}},
			{Protocol: ProtoESP, SPI: []byte{0xa, 0xb, 0xc, 0xd}, Transforms: []Transform{{Type: transform.TypeESN, ID: transform.ESNNo}}},
		}}, `00000030
			02000018 01030401 0a0b0c0d 0000000c 01000014 800e0080
			00000014 02030401 0a0b0c0d 00000008 05000000`},
		{"KE", &KE{Group: transform.DHCurve25519, Data: seq(32, 0)},
			`00000028 001f0000 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f`},
		{"IDi", &ID{Initiator: true, IDType: IDIPv4Addr, Data: []byte{192, 0, 2, 1}}, `0000000c 01000000 c0000201`},
		{"CERTREQ", &CertReq{Encoding: CertX509Signature, Data: []byte{1, 2}}, `00000007 040102`},
		{"AUTH", &Auth{Method: AuthSharedKeyMIC, Data: []byte{1, 2, 3}}, `0000000b 02000000 010203`},
		{"Notify REKEY_SA", &Notify{Protocol: ProtoESP, SPI: []byte{1, 2, 3, 4}, Type: NotifyRekeySA}, `0000000c 03044009 01020304`},
		{"Notify cookie", &Notify{Type: NotifyCookie, Data: []byte{0xaa}}, `00000009 00004006 aa`},
		{"Notify protocol without SPI", &Notify{Protocol: ProtoESP, Type: NotifyNoProposalChosen}, `00000008 0000000e`},
		{"Delete ESP", &Delete{Protocol: ProtoESP, SPIs: [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}}, `00000010 03040002 01020304 05060708`},
		{"Delete IKE", &Delete{Protocol: ProtoIKE}, `00000008 01000000`},
		{"TSi", &TS{Initiator: true, Selectors: []TrafficSelector{{Type: TSIPv4AddrRange, IPProtocol: 6, StartPort: 80, EndPort: 80, StartAddr: v4("10.0.0.0"), EndAddr: v4("10.0.0.255")}}},
			`00000018 01000000 07060010 00500050 0a000000 0a0000ff`},
		{"TSr v6", &TS{Selectors: []TrafficSelector{{Type: TSIPv6AddrRange, EndPort: 65535, StartAddr: v4("2001:db8::"), EndAddr: v4("2001:db8::ff")}}},
			`00000030 01000000 08000028 0000ffff 20010db8000000000000000000000000 20010db80000000000000000000000ff`},
		{"CP", &CP{CPType: CPRequest, Attributes: []CPAttribute{{Type: CPInternalIP4Address}, {Type: CPInternalIP4DNS, Value: []byte{10, 0, 0, 53}}}},
			`00000014 01000000 00010000 00030004 0a000035`},
		{"EAP", &EAP{Data: []byte{3, 8, 0, 4}}, `00000008 03080004`},
		{"Unknown critical", &Unknown{PType: 200, Critical: true, Data: []byte{1}}, `00800005 01`},
	}
	for _, tc := range tests {
		m := &Message{Header: Header{SPIi: 0x0102030405060708, Exchange: IKESAInit, Flags: FlagInitiator | 0x47}, Payloads: []Payload{tc.p}}
		b, err := m.Encode()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		want := unhex(t, tc.want)
		hdr := unhex(t, "0102030405060708 0000000000000000")
		hdr = append(hdr, byte(tc.p.PayloadType()), 0x20, 34, FlagInitiator, 0, 0, 0, 0)
		hdr = binary.BigEndian.AppendUint32(hdr, uint32(HeaderLen+len(want)))
		if !bytes.Equal(b, append(hdr, want...)) {
			t.Errorf("%s:\n got %x\nwant %x", tc.name, b, append(hdr, want...))
		}
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for i, m := range sampleMessages(t) {
		b, err := m.Encode()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		got, err := Decode(b, nil)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		want := *m
		want.Version, want.NextPayload, want.Length = Version2, firstType(m.Payloads), uint32(len(b))
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("message %d:\n got %#v\nwant %#v", i, got, &want)
		}
		// Unprotected encoding is canonical: re-encoding gives the same bytes.
		if b2, _ := got.Encode(); !bytes.Equal(b, b2) {
			t.Errorf("message %d: re-encoding differs", i)
		}
	}
}

func TestProtectedRoundTrip(t *testing.T) {
	for cname, ci := range testCiphers(t) {
		for i, m := range sampleMessages(t) {
			c := testCrypto(ci, uint64(i))
			b, err := m.EncodeProtected(c)
			if err != nil {
				t.Fatalf("%s message %d: %v", cname, i, err)
			}
			// Layout: header says SK, SK is the only payload and ends the
			// message, ciphertext is aligned.
			h, err := ParseHeader(b)
			if err != nil || h.NextPayload != PayloadSK {
				t.Fatalf("%s: header %+v %v", cname, h, err)
			}
			if b[HeaderLen] != byte(firstType(m.Payloads)) || b[HeaderLen+1] != 0 ||
				int(binary.BigEndian.Uint16(b[HeaderLen+2:])) != len(b)-HeaderLen {
				t.Errorf("%s: SK header %x", cname, b[HeaderLen:HeaderLen+4])
			}
			if ct := len(b) - HeaderLen - 4 - ci.IVLen() - ci.ICVLen(); ct%ci.Align() != 0 || ct < 1 {
				t.Errorf("%s: %d-byte ciphertext", cname, ct)
			}
			got, err := Decode(b, c)
			if err != nil {
				t.Fatalf("%s message %d: Decode: %v", cname, i, err)
			}
			want := *m
			want.Version, want.NextPayload, want.Length, want.Protected = Version2, PayloadSK, uint32(len(b)), true
			if !reflect.DeepEqual(got, &want) {
				t.Errorf("%s message %d:\n got %#v\nwant %#v", cname, i, got, &want)
			}
			if _, err := Decode(b, nil); !errors.Is(err, ErrNoCrypto) {
				t.Errorf("%s: no keys: %v", cname, err)
			}
		}
	}
}

// Tampering with any byte of a protected message is detected: everything
// but the Next Payload and Version octets is covered by the ICV or the
// length checks around it.
func TestTamper(t *testing.T) {
	m := sampleMessages(t)[1]
	for cname, ci := range testCiphers(t) {
		c := testCrypto(ci, 1)
		b, err := m.EncodeProtected(c)
		if err != nil {
			t.Fatal(err)
		}
		frags, err := m.EncodeFragments(c, 100)
		if err != nil || len(frags) < 2 {
			t.Fatalf("%s: %d fragments, %v", cname, len(frags), err)
		}
		for _, d := range append([][]byte{b}, frags...) {
			for i := range d {
				for _, x := range []byte{0x01, 0x80} {
					bad := bytes.Clone(d)
					bad[i] ^= x
					var err error
					if PayloadType(d[16]) == PayloadSKF {
						_, _, err = NewReassembler(0, 0).Add(bad, c)
					} else {
						_, err = Decode(bad, c)
					}
					switch {
					case err == nil:
						t.Fatalf("%s: flipping bit %#x of byte %d went unnoticed", cname, x, i)
					case i == 16 || i == 17: // Next Payload, Version
					case i == HeaderLen+4 || i == HeaderLen+5 || i == HeaderLen+6 || i == HeaderLen+7:
						// Checked before the ICV, so that hopeless fragments are
						// dropped cheaply: a drop either way.
						if PayloadType(d[16]) == PayloadSKF && !errors.Is(err, ErrAuth) && !errors.Is(err, ErrFragment) && !errors.Is(err, ErrTooLarge) {
							t.Errorf("%s: byte %d (fragment numbers): %v", cname, i, err)
						}
						if PayloadType(d[16]) == PayloadSK && !errors.Is(err, ErrAuth) {
							t.Errorf("%s: byte %d: %v", cname, i, err)
						}
					case !errors.Is(err, ErrAuth):
						t.Errorf("%s: byte %d: want ErrAuth, got %v", cname, i, err)
					case errors.Is(err, ErrSyntax):
						t.Errorf("%s: byte %d: unauthenticated message reported as ErrSyntax: %v", cname, i, err)
					}
				}
			}
		}
		// Truncation and extension.
		for _, bad := range [][]byte{b[:len(b)-1], append(bytes.Clone(b), 0)} {
			if _, err := Decode(bad, c); err == nil {
				t.Errorf("%s: %d-byte message accepted", cname, len(bad))
			}
		}
		// Keys of the wrong direction.
		other := testCiphers(t)
		for oname, oc := range other {
			if oname == cname {
				continue
			}
			if _, err := Decode(b, &Crypto{Cipher: oc}); !errors.Is(err, ErrAuth) {
				t.Errorf("%s message opened with %s: %v", cname, oname, err)
			}
		}
	}
}

func TestFragmentRoundTrip(t *testing.T) {
	big := sampleMessages(t)[0]
	for cname, ci := range testCiphers(t) {
		for _, maxLen := range []int{100, 101, 300, 576, 1280, 10000} {
			c := testCrypto(ci, uint64(maxLen))
			frags, err := big.EncodeFragments(c, maxLen)
			if err != nil {
				t.Fatalf("%s %d: %v", cname, maxLen, err)
			}
			whole, _ := big.EncodeProtected(c)
			if len(whole) <= maxLen {
				if len(frags) != 1 || frags[0][16] != byte(PayloadSK) {
					t.Fatalf("%s %d: fits, but got %d datagrams", cname, maxLen, len(frags))
				}
				continue
			}
			for i, f := range frags {
				n, total, ok := PeekFragment(f)
				if !ok || int(n) != i+1 || int(total) != len(frags) || len(f) > maxLen {
					t.Fatalf("%s %d: fragment %d: %d/%d %v, %d bytes", cname, maxLen, i, n, total, ok, len(f))
				}
				if h, err := ParseHeader(f); err != nil || h.MessageID != big.MessageID || h.Exchange != big.Exchange {
					t.Fatalf("fragment header %+v %v", h, err)
				}
				next := PayloadNone
				if i == 0 {
					next = firstType(big.Payloads)
				}
				if PayloadType(f[HeaderLen]) != next {
					t.Errorf("fragment %d Next Payload %d", i+1, f[HeaderLen])
				}
				if _, err := Decode(f, c); !errors.Is(err, ErrFragment) {
					t.Errorf("Decode of a fragment: %v", err)
				}
			}
			// In order, reversed, and with duplicates interleaved.
			orders := [][]int{{}, {}, {}}
			for i := range frags {
				orders[0] = append(orders[0], i)
				orders[1] = append(orders[1], len(frags)-1-i)
				orders[2] = append(orders[2], i, i)
			}
			for oi, order := range orders {
				r := NewReassembler(0xffff, 0)
				var got *Message
				for k, idx := range order {
					m, done, err := r.Add(frags[idx], c)
					dup := oi == 2 && k%2 == 1
					if dup && !errors.Is(err, ErrFragment) && !(done || k == len(order)-1) {
						t.Fatalf("duplicate fragment: %v", err)
					}
					if !dup && err != nil {
						t.Fatalf("%s %d order %d: fragment %d: %v", cname, maxLen, oi, idx+1, err)
					}
					if done {
						got = m
					}
				}
				if got == nil {
					t.Fatalf("%s %d order %d: never completed", cname, maxLen, oi)
				}
				if !reflect.DeepEqual(got.Payloads, big.Payloads) || got.Fragments != len(frags) || !got.Protected ||
					got.MessageID != big.MessageID || got.NextPayload != PayloadSKF {
					t.Errorf("%s %d order %d: reassembled %s (fragments %d)", cname, maxLen, oi, got, got.Fragments)
				}
			}
		}
	}
}

func TestReassemblerRules(t *testing.T) {
	ci := testCiphers(t)["aes128gcm16"]
	c := testCrypto(ci, 1)
	m := sampleMessages(t)[0]
	small, err := m.EncodeFragments(c, 200) // more fragments
	if err != nil {
		t.Fatal(err)
	}
	large, err := m.EncodeFragments(c, 600) // fewer fragments
	if err != nil {
		t.Fatal(err)
	}
	if len(small) <= len(large) || len(large) < 2 {
		t.Fatalf("%d and %d fragments", len(small), len(large))
	}

	t.Run("higher total restarts, lower total dropped", func(t *testing.T) {
		r := NewReassembler(0, 0)
		if _, _, err := r.Add(large[0], c); err != nil || r.Pending() != 1 {
			t.Fatal(err)
		}
		if _, _, err := r.Add(small[0], c); err != nil || r.Pending() != 1 {
			t.Fatalf("re-fragmented: %v, pending %d", err, r.Pending())
		}
		if _, _, err := r.Add(large[1], c); !errors.Is(err, ErrFragment) || r.Pending() != 1 {
			t.Fatalf("stale total: %v, pending %d", err, r.Pending())
		}
		var got *Message
		for _, f := range small[1:] {
			m, done, err := r.Add(f, c)
			if err != nil {
				t.Fatal(err)
			}
			if done {
				got = m
			}
		}
		if got == nil || !reflect.DeepEqual(got.Payloads, m.Payloads) {
			t.Fatal("not reassembled")
		}
	})
	t.Run("different message restarts", func(t *testing.T) {
		r := NewReassembler(0, 0)
		other := *m
		other.MessageID++
		of, _ := other.EncodeFragments(c, 600)
		r.Add(large[0], c)
		r.Add(large[1], c)
		if _, _, err := r.Add(of[0], c); err != nil || r.Pending() != 1 {
			t.Fatalf("%v, pending %d", err, r.Pending())
		}
		resp := *m
		resp.Flags = FlagResponse
		rf, _ := resp.EncodeFragments(c, 600)
		if _, _, err := r.Add(rf[1], c); err != nil || r.Pending() != 1 {
			t.Fatalf("%v, pending %d", err, r.Pending())
		}
	})
	t.Run("forged fragment changes nothing", func(t *testing.T) {
		r := NewReassembler(0, 0)
		r.Add(large[0], c)
		forged := bytes.Clone(small[0])
		forged[len(forged)-1] ^= 1
		if _, _, err := r.Add(forged, c); !errors.Is(err, ErrAuth) {
			t.Fatal(err)
		}
		other := *m
		other.MessageID = 99
		of, _ := other.EncodeFragments(c, 600)
		of[1][len(of[1])-1] ^= 1
		if _, _, err := r.Add(of[1], c); !errors.Is(err, ErrAuth) {
			t.Fatal(err)
		}
		if r.Pending() != 1 || r.total != len(large) {
			t.Fatalf("state changed: pending %d total %d", r.Pending(), r.total)
		}
	})
	t.Run("limits", func(t *testing.T) {
		if _, _, err := NewReassembler(len(small)-1, 0).Add(small[0], c); !errors.Is(err, ErrTooLarge) {
			t.Errorf("fragment count: %v", err)
		}
		r := NewReassembler(0, 300)
		var err error
		for _, f := range small {
			if _, _, err = r.Add(f, c); err != nil {
				break
			}
		}
		if !errors.Is(err, ErrTooLarge) || r.Pending() != 0 {
			t.Errorf("size: %v, pending %d", err, r.Pending())
		}
	})
	t.Run("fragment numbers", func(t *testing.T) {
		h := Header{SPIi: 1, SPIr: 2, Exchange: IKEAuth, MessageID: 1}
		for _, nt := range [][2]uint16{{0, 1}, {2, 1}, {1, 0}, {0, 0}} {
			d := sealSKF(ci, h, PayloadNotify, nt[0], nt[1], []byte{1}, 0)
			if _, _, err := NewReassembler(0, 0).Add(d, c); !errors.Is(err, ErrFragment) {
				t.Errorf("fragment %d of %d: %v", nt[0], nt[1], err)
			}
		}
		// A single-fragment message is legal.
		inner := appendPayloads(nil, []Payload{&Notify{Type: NotifyCookie, Data: []byte{1}}})
		d := sealSKF(ci, h, PayloadNotify, 1, 1, inner, 0)
		if got, done, err := NewReassembler(0, 0).Add(d, c); err != nil || !done || got.Notify(NotifyCookie) == nil {
			t.Errorf("1 of 1: %v %v", done, err)
		}
		// Not an SKF message; no keys.
		b, _ := m.EncodeProtected(c)
		if _, _, err := NewReassembler(0, 0).Add(b, c); !errors.Is(err, ErrFragment) {
			t.Errorf("SK message: %v", err)
		}
		if _, _, err := NewReassembler(0, 0).Add(d, nil); !errors.Is(err, ErrNoCrypto) {
			t.Errorf("no keys: %v", err)
		}
	})
	t.Run("reset", func(t *testing.T) {
		r := NewReassembler(0, 0)
		r.Add(large[0], c)
		r.Reset()
		if r.Pending() != 0 {
			t.Fatal("pending after reset")
		}
		if _, _, err := r.Add(large[0], c); err != nil {
			t.Fatal(err)
		}
	})
}

func TestEncodeFragmentsTooSmall(t *testing.T) {
	c := testCrypto(testCiphers(t)["aes128-sha256-128"], 1)
	if _, err := sampleMessages(t)[0].EncodeFragments(c, 60); !errors.Is(err, ErrEncode) {
		t.Errorf("maxLen 60: %v", err)
	}
}

// rawPayload is a payload written by hand for malformed-message tests.
type rawPayload struct {
	t     PayloadType
	flags byte
	body  []byte
	len   int // generic header Payload Length; 0 = correct
}

func rawMessage(h Header, ps ...rawPayload) []byte {
	first := PayloadNone
	if len(ps) > 0 {
		first = ps[0].t
	}
	var body []byte
	for i, p := range ps {
		next := PayloadNone
		if i+1 < len(ps) {
			next = ps[i+1].t
		}
		l := p.len
		if l == 0 {
			l = 4 + len(p.body)
		}
		body = append(body, byte(next), p.flags, byte(l>>8), byte(l))
		body = append(body, p.body...)
	}
	return append(appendHeader(nil, &h, first, HeaderLen+len(body)), body...)
}

func TestDecodeErrors(t *testing.T) {
	req := Header{SPIi: 1, Exchange: IKESAInit, Flags: FlagInitiator}
	resp := Header{SPIi: 1, SPIr: 2, Exchange: IKESAInit, Flags: FlagResponse}
	prop := func(last, num, proto, spiSize, n byte, rest string) string {
		b := []byte{last, 0, 0, 0, num, proto, spiSize, n}
		b = append(b, unhex(t, rest)...)
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		return hex.EncodeToString(b)
	}
	xform := "00000008 01000014" // last, ENCR AES-GCM-16
	many := func(n int, unit []byte) []byte { return bytes.Repeat(unit, n) }
	ts4 := unhex(t, "07000010 0000ffff 0a000000 0a0000ff")

	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"short header", make([]byte, 27), ErrSyntax},
		{"length field too big", func() []byte { b := rawMessage(req); b[27]++; return b }(), ErrSyntax},
		{"trailing datagram bytes", append(rawMessage(req), 0), ErrSyntax},
		{"IKEv1", func() []byte { b := rawMessage(req); b[17] = 0x10; return b }(), ErrVersion},
		{"IKEv3", func() []byte { b := rawMessage(req); b[17] = 0x30; return b }(), ErrVersion},
		{"too large", func() []byte {
			b := rawMessage(req, rawPayload{t: PayloadVendorID, body: make([]byte, 0xffff-4)}, rawPayload{t: PayloadVendorID, body: make([]byte, 100)})
			return b
		}(), ErrTooLarge},
		{"payload length < 4", rawMessage(req, rawPayload{t: PayloadVendorID, len: 3}), ErrSyntax},
		{"payload length past end", rawMessage(req, rawPayload{t: PayloadVendorID, body: []byte{1}, len: 6}), ErrSyntax},
		{"truncated generic header", append(rawMessage(req, rawPayload{t: PayloadVendorID})[:HeaderLen], 0, 0), ErrSyntax},
		{"bytes after last payload", func() []byte {
			b := rawMessage(req, rawPayload{t: PayloadVendorID, body: []byte{1, 2}, len: 5})
			return b
		}(), ErrSyntax},
		{"65 payloads", rawMessage(req, func() []rawPayload {
			var ps []rawPayload
			for i := 0; i < 65; i++ {
				ps = append(ps, rawPayload{t: PayloadVendorID})
			}
			return ps
		}()...), ErrTooLarge},
		{"SA empty", rawMessage(req, rawPayload{t: PayloadSA}), ErrSyntax},
		{"SA proposal length short", rawMessage(req, rawPayload{t: PayloadSA, body: unhex(t, "00000007 01010001"+xform)}), ErrSyntax},
		{"SA proposal length long", rawMessage(req, rawPayload{t: PayloadSA, body: unhex(t, "00000020 01010001"+xform)}), ErrSyntax},
		{"SA proposal bytes after transforms", rawMessage(req, rawPayload{t: PayloadSA, body: unhex(t, prop(0, 1, 1, 0, 1, xform+"00"))}), ErrSyntax},
		{"SA proposal last flag", rawMessage(req, rawPayload{t: PayloadSA, body: unhex(t, prop(2, 1, 1, 0, 1, xform))}), ErrSyntax},
		{"SA proposal more flag missing", rawMessage(req, rawPayload{t: PayloadSA, body: unhex(t, prop(0, 1, 1, 0, 1, xform)+prop(0, 2, 1, 0, 1, xform))}), ErrSyntax},
		{"SA transform last flag", rawMessage(req, rawPayload{t: PayloadSA, body: unhex(t, prop(0, 1, 1, 0, 1, "03000008 01000014"))}), ErrSyntax},
		{"SA transform count too high", rawMessage(req, rawPayload{t: PayloadSA, body: unhex(t, prop(0, 1, 1, 0, 2, xform))}), ErrSyntax},
		{"SA transform length < 8", rawMessage(req, rawPayload{t: PayloadSA, body: unhex(t, prop(0, 1, 1, 0, 1, "00000007 01000014"))}), ErrSyntax},
		{"SA transform attribute truncated", rawMessage(req, rawPayload{t: PayloadSA, body: unhex(t, prop(0, 1, 1, 0, 1, "0000000a 01000014 800e"))}), ErrSyntax},
		{"SA TLV attribute too long", rawMessage(req, rawPayload{t: PayloadSA, body: unhex(t, prop(0, 1, 1, 0, 1, "0000000d 01000014 00630005 01"))}), ErrSyntax},
		{"SA zero transforms", rawMessage(req, rawPayload{t: PayloadSA, body: unhex(t, prop(0, 1, 1, 0, 0, ""))}), ErrSyntax},
		{"SA numbering starts at 2", rawMessage(req, rawPayload{t: PayloadSA, body: unhex(t, prop(0, 2, 1, 0, 1, xform))}), ErrSyntax},
		{"SA numbering gap", rawMessage(req, rawPayload{t: PayloadSA, body: unhex(t, prop(2, 1, 1, 0, 1, xform)+prop(0, 3, 1, 0, 1, xform))}), ErrSyntax},
		{"SA response number 0", rawMessage(resp, rawPayload{t: PayloadSA, body: unhex(t, prop(0, 0, 1, 0, 1, xform))}), ErrSyntax},
		{"SA ESP 8-byte SPI", rawMessage(req, rawPayload{t: PayloadSA, body: unhex(t, prop(0, 1, 3, 8, 1, "0102030405060708"+xform))}), ErrSyntax},
		{"SA IKE 4-byte SPI", rawMessage(req, rawPayload{t: PayloadSA, body: unhex(t, prop(0, 1, 1, 4, 1, "01020304"+xform))}), ErrSyntax},
		{"SA SPI past proposal", rawMessage(req, rawPayload{t: PayloadSA, body: unhex(t, prop(0, 1, 3, 4, 1, "0102"))}), ErrSyntax},
		{"SA 65 proposals", rawMessage(req, rawPayload{t: PayloadSA, body: func() []byte {
			var b []byte
			for i := 1; i <= 65; i++ {
				b = append(b, unhex(t, prop(2, byte(i), 1, 0, 1, xform))...)
			}
			return b
		}()}), ErrTooLarge},
		{"SA 65 transforms", rawMessage(req, rawPayload{t: PayloadSA, body: unhex(t, prop(0, 1, 1, 0, 65, strings.Repeat("03000008 01000014", 64)+xform))}), ErrTooLarge},
		{"KE short", rawMessage(req, rawPayload{t: PayloadKE, body: []byte{0, 19, 0}}), ErrSyntax},
		{"KE empty data", rawMessage(req, rawPayload{t: PayloadKE, body: []byte{0, 99, 0, 0}}), ErrSyntax},
		{"KE ECP256 63 bytes", rawMessage(req, rawPayload{t: PayloadKE, body: append([]byte{0, 19, 0, 0}, make([]byte, 63)...)}), ErrSyntax},
		{"KE MODP2048 257 bytes", rawMessage(req, rawPayload{t: PayloadKE, body: append([]byte{0, 14, 0, 0}, make([]byte, 257)...)}), ErrSyntax},
		{"ID short", rawMessage(req, rawPayload{t: PayloadIDi, body: []byte{2, 0, 0}}), ErrSyntax},
		{"ID IPv4 5 bytes", rawMessage(req, rawPayload{t: PayloadIDi, body: []byte{1, 0, 0, 0, 1, 2, 3, 4, 5}}), ErrSyntax},
		{"ID IPv6 4 bytes", rawMessage(req, rawPayload{t: PayloadIDr, body: []byte{5, 0, 0, 0, 1, 2, 3, 4}}), ErrSyntax},
		{"CERT empty", rawMessage(req, rawPayload{t: PayloadCERT}), ErrSyntax},
		{"CERTREQ empty", rawMessage(req, rawPayload{t: PayloadCERTREQ}), ErrSyntax},
		{"AUTH short", rawMessage(req, rawPayload{t: PayloadAUTH, body: []byte{2, 0, 0}}), ErrSyntax},
		{"nonce 15 bytes", rawMessage(req, rawPayload{t: PayloadNonce, body: make([]byte, 15)}), ErrSyntax},
		{"nonce 257 bytes", rawMessage(req, rawPayload{t: PayloadNonce, body: make([]byte, 257)}), ErrSyntax},
		{"notify short", rawMessage(req, rawPayload{t: PayloadNotify, body: []byte{0, 0, 0x40}}), ErrSyntax},
		{"notify SPI size past end", rawMessage(req, rawPayload{t: PayloadNotify, body: []byte{3, 4, 0x40, 0x09, 1, 2, 3}}), ErrSyntax},
		{"delete short", rawMessage(req, rawPayload{t: PayloadDelete, body: []byte{3, 4, 0}}), ErrSyntax},
		{"delete count too high", rawMessage(req, rawPayload{t: PayloadDelete, body: []byte{3, 4, 0, 2, 1, 2, 3, 4}}), ErrSyntax},
		{"delete count too low", rawMessage(req, rawPayload{t: PayloadDelete, body: []byte{3, 4, 0, 1, 1, 2, 3, 4, 5}}), ErrSyntax},
		{"delete ESP SPI size 8", rawMessage(req, rawPayload{t: PayloadDelete, body: []byte{3, 8, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8}}), ErrSyntax},
		{"delete IKE with SPI", rawMessage(req, rawPayload{t: PayloadDelete, body: []byte{1, 8, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8}}), ErrSyntax},
		{"delete IKE with count", rawMessage(req, rawPayload{t: PayloadDelete, body: []byte{1, 0, 0, 5}}), ErrSyntax},
		{"delete zero-size SPIs", rawMessage(req, rawPayload{t: PayloadDelete, body: []byte{9, 0, 0xff, 0xff}}), ErrSyntax},
		{"TS short", rawMessage(req, rawPayload{t: PayloadTSi, body: []byte{1, 0, 0}}), ErrSyntax},
		{"TS count too high", rawMessage(req, rawPayload{t: PayloadTSi, body: append([]byte{2, 0, 0, 0}, ts4...)}), ErrSyntax},
		{"TS count too low", rawMessage(req, rawPayload{t: PayloadTSi, body: append([]byte{0, 0, 0, 0}, ts4...)}), ErrSyntax},
		{"TS IPv4 length 40", rawMessage(req, rawPayload{t: PayloadTSi, body: append([]byte{1, 0, 0, 0}, unhex(t, "07000028 0000ffff"+strings.Repeat("00", 32))...)}), ErrSyntax},
		{"TS IPv6 length 16", rawMessage(req, rawPayload{t: PayloadTSr, body: append([]byte{1, 0, 0, 0}, unhex(t, "08000010 0000ffff 0a000000 0a0000ff")...)}), ErrSyntax},
		{"TS selector length < 4", rawMessage(req, rawPayload{t: PayloadTSr, body: unhex(t, "01000000 0a000003")}), ErrSyntax},
		{"TS selector past end", rawMessage(req, rawPayload{t: PayloadTSr, body: unhex(t, "01000000 07000010 0000ffff")}), ErrSyntax},
		{"TS 65 selectors", rawMessage(req, rawPayload{t: PayloadTSi, body: append([]byte{65, 0, 0, 0}, many(65, ts4)...)}), ErrTooLarge},
		{"CP short", rawMessage(req, rawPayload{t: PayloadCP, body: []byte{1, 0, 0}}), ErrSyntax},
		{"CP attribute past end", rawMessage(req, rawPayload{t: PayloadCP, body: []byte{1, 0, 0, 0, 0, 1, 0, 4, 10, 0}}), ErrSyntax},
		{"CP attribute truncated", rawMessage(req, rawPayload{t: PayloadCP, body: []byte{1, 0, 0, 0, 0, 1, 0}}), ErrSyntax},
		{"CP 257 attributes", rawMessage(req, rawPayload{t: PayloadCP, body: append([]byte{1, 0, 0, 0}, many(257, []byte{0, 1, 0, 0})...)}), ErrTooLarge},
		{"EAP short", rawMessage(req, rawPayload{t: PayloadEAP, body: []byte{3, 1, 0}}), ErrSyntax},
		{"EAP length mismatch", rawMessage(req, rawPayload{t: PayloadEAP, body: []byte{3, 1, 0, 5}}), ErrSyntax},
		{"SK after other payloads", rawMessage(req, rawPayload{t: PayloadNonce, body: make([]byte, 16)}, rawPayload{t: PayloadSK, body: make([]byte, 40)}), ErrSyntax},
		{"SKF after other payloads", rawMessage(req, rawPayload{t: PayloadNonce, body: make([]byte, 16)}, rawPayload{t: PayloadSKF, body: make([]byte, 40)}), ErrSyntax},
		{"SKF", rawMessage(req, rawPayload{t: PayloadSKF, body: make([]byte, 40)}), ErrFragment},
		{"SK without keys", rawMessage(req, rawPayload{t: PayloadSK, body: make([]byte, 40)}), ErrNoCrypto},
	}
	for _, tc := range tests {
		m, err := Decode(tc.b, nil)
		if !errors.Is(err, tc.want) || m != nil {
			t.Errorf("%s: got %v, %v; want %v", tc.name, m, err, tc.want)
		}
	}
}

func TestCriticalAndUnknownPayloads(t *testing.T) {
	h := Header{SPIi: 1, Exchange: IKESAInit, Flags: FlagInitiator, MessageID: 5}
	nonce := rawPayload{t: PayloadNonce, body: make([]byte, 16)}

	b := rawMessage(h, nonce, rawPayload{t: 200, flags: flagCritical, body: []byte{1, 2}})
	_, err := Decode(b, nil)
	var ce *CriticalPayloadError
	if !errors.As(err, &ce) || ce.Type != 200 || ce.Header.MessageID != 5 || errors.Is(err, ErrSyntax) {
		t.Fatalf("critical unknown payload: %v", err)
	}

	// Non-critical unknown payloads are kept and re-encoded as they were.
	b = rawMessage(h, nonce, rawPayload{t: 200, flags: 0x7f, body: []byte{1, 2}}, rawPayload{t: 49})
	m, err := Decode(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Payload{&Nonce{Data: make([]byte, 16)}, &Unknown{PType: 200, Data: []byte{1, 2}}, &Unknown{PType: 49}}
	if !reflect.DeepEqual(m.Payloads, want) {
		t.Fatalf("got %#v", m.Payloads)
	}
	if m.Find(200) != want[1] && !reflect.DeepEqual(m.Find(200), want[1]) {
		t.Errorf("Find(200) = %#v", m.Find(200))
	}

	// The Critical bit of a known payload is ignored (RFC 7296 §3.2).
	b = rawMessage(h, rawPayload{t: PayloadNonce, flags: flagCritical | 0x01, body: make([]byte, 16)})
	if m, err := Decode(b, nil); err != nil || m.Nonce() == nil {
		t.Errorf("critical known payload: %v", err)
	}

	// Inside SK as well, after authentication.
	for cname, ci := range testCiphers(t) {
		inner := appendPayloads(nil, []Payload{&Notify{Type: NotifyInitialContact}})
		inner = append(inner, 0, 0, 0, 0) // placeholder patched below
		inner[0] = 201                    // Notify's Next Payload: 201
		copy(inner[len(inner)-4:], []byte{0, flagCritical, 0, 4})
		msg := sealSK(ci, Header{SPIi: 1, SPIr: 2, Exchange: IKEAuth, MessageID: 1}, PayloadNotify, inner, 3)
		_, err := Decode(msg, &Crypto{Cipher: ci})
		if !errors.As(err, &ce) || ce.Type != 201 {
			t.Errorf("%s: critical payload inside SK: %v", cname, err)
		}
		// Nested SK is malformed.
		nested := sealSK(ci, Header{SPIi: 1, SPIr: 2, Exchange: IKEAuth}, PayloadSK, []byte{0, 0, 0, 4}, 3)
		if _, err := Decode(nested, &Crypto{Cipher: ci}); !errors.Is(err, ErrSyntax) {
			t.Errorf("%s: nested SK: %v", cname, err)
		}
		// Bad pad length, authenticated.
		bad := sealSK(ci, Header{SPIi: 1, SPIr: 2, Exchange: IKEAuth}, PayloadNone, nil, 3)
		if ci.Align() == 1 {
			// pad length byte 0 -> make it 5 by sealing a plaintext whose last byte is 5
			pt := []byte{5}
			total := HeaderLen + 4 + ci.IVLen() + 1 + ci.ICVLen()
			hdr := Header{SPIi: 1, Exchange: IKEAuth}
			b := appendHeader(nil, &hdr, PayloadSK, total)
			b = append(b, 0, 0, 0, byte(total-HeaderLen))
			iv := make([]byte, ci.IVLen())
			aad := bytes.Clone(b)
			bad = ci.Seal(append(b, iv...), iv, pt, aad, nil)
		}
		if _, err := Decode(bad, &Crypto{Cipher: ci}); ci.Align() == 1 && !errors.Is(err, ErrSyntax) {
			t.Errorf("%s: bad pad length: %v", cname, err)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	v4 := netip.MustParseAddr
	type foreign struct{ Payload }
	tests := []struct {
		name string
		p    []Payload
		want error
	}{
		{"nil payload", []Payload{nil}, ErrEncode},
		{"typed nil", []Payload{(*Nonce)(nil)}, ErrEncode},
		{"foreign payload", []Payload{foreign{}}, ErrEncode},
		{"short nonce", []Payload{&Nonce{Data: make([]byte, 15)}}, ErrEncode},
		{"long nonce", []Payload{&Nonce{Data: make([]byte, 257)}}, ErrEncode},
		{"KE length", []Payload{&KE{Group: transform.DHECP256, Data: make([]byte, 65)}}, ErrEncode},
		{"KE empty", []Payload{&KE{Group: 999}}, ErrEncode},
		{"SA empty", []Payload{&SA{}}, ErrEncode},
		{"proposal without transforms", []Payload{&SA{Proposals: []Proposal{{Protocol: ProtoIKE}}}}, ErrEncode},
		{"ESP SPI length", []Payload{&SA{Proposals: []Proposal{{Protocol: ProtoESP, SPI: []byte{1}, Transforms: []Transform{{Type: 1, ID: 20}}}}}}, ErrEncode},
		{"65 proposals", []Payload{&SA{Proposals: make([]Proposal, 65)}}, ErrTooLarge},
		{"65 transforms", []Payload{&SA{Proposals: []Proposal{{Protocol: ProtoIKE, Transforms: make([]Transform, 65)}}}}, ErrTooLarge},
		{"TV attribute length", []Payload{&SA{Proposals: []Proposal{{Protocol: ProtoIKE, Transforms: []Transform{{OtherAttributes: []TransformAttribute{{Type: 1, TV: true}}}}}}}}, ErrEncode},
		{"attribute type", []Payload{&SA{Proposals: []Proposal{{Protocol: ProtoIKE, Transforms: []Transform{{OtherAttributes: []TransformAttribute{{Type: 0x8000}}}}}}}}, ErrEncode},
		{"ID IPv4 length", []Payload{&ID{IDType: IDIPv4Addr, Data: []byte{1}}}, ErrEncode},
		{"TS IPv4 with IPv6", []Payload{&TS{Selectors: []TrafficSelector{{Type: TSIPv4AddrRange, StartAddr: v4("::1"), EndAddr: v4("::2")}}}}, ErrEncode},
		{"TS IPv6 with 4in6", []Payload{&TS{Selectors: []TrafficSelector{{Type: TSIPv6AddrRange, StartAddr: v4("::ffff:1.2.3.4"), EndAddr: v4("::ffff:1.2.3.5")}}}}, ErrEncode},
		{"TS invalid addr", []Payload{&TS{Selectors: []TrafficSelector{{Type: TSIPv4AddrRange}}}}, ErrEncode},
		{"65 selectors", []Payload{&TS{Selectors: make([]TrafficSelector, 65)}}, ErrTooLarge},
		{"IKE delete with SPI", []Payload{&Delete{Protocol: ProtoIKE, SPIs: [][]byte{{1}}}}, ErrEncode},
		{"ESP delete SPI length", []Payload{&Delete{Protocol: ProtoESP, SPIs: [][]byte{{1, 2, 3, 4}, {1}}}}, ErrEncode},
		{"notify SPI length", []Payload{&Notify{SPI: make([]byte, 256)}}, ErrEncode},
		{"CP attribute type", []Payload{&CP{Attributes: []CPAttribute{{Type: 0x8001}}}}, ErrEncode},
		{"EAP length", []Payload{&EAP{Data: []byte{1, 1, 0, 9}}}, ErrEncode},
		{"Unknown with known type", []Payload{&Unknown{PType: PayloadSA}}, ErrEncode},
		{"Unknown with type 0", []Payload{&Unknown{}}, ErrEncode},
		{"Unknown SK", []Payload{&Unknown{PType: PayloadSK}}, ErrEncode},
		{"payload over 64 KiB", []Payload{&VendorID{Data: make([]byte, 0xffff)}}, ErrTooLarge},
		{"message over 64 KiB", []Payload{&VendorID{Data: make([]byte, 40000)}, &VendorID{Data: make([]byte, 40000)}}, ErrTooLarge},
		{"65 payloads", func() []Payload {
			ps := make([]Payload, 65)
			for i := range ps {
				ps[i] = &VendorID{}
			}
			return ps
		}(), ErrTooLarge},
	}
	c := testCrypto(testCiphers(t)["aes128gcm16"], 1)
	for _, tc := range tests {
		m := &Message{Payloads: tc.p}
		if _, err := m.Encode(); !errors.Is(err, tc.want) {
			t.Errorf("%s: Encode: %v, want %v", tc.name, err, tc.want)
		}
		if _, err := m.EncodeProtected(c); !errors.Is(err, tc.want) {
			t.Errorf("%s: EncodeProtected: %v, want %v", tc.name, err, tc.want)
		}
		if _, err := m.EncodeFragments(c, 1280); !errors.Is(err, tc.want) {
			t.Errorf("%s: EncodeFragments: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := (&Message{}).EncodeProtected(nil); !errors.Is(err, ErrEncode) {
		t.Errorf("EncodeProtected(nil): %v", err)
	}
	if _, err := (&Message{}).EncodeFragments(&Crypto{}, 1000); !errors.Is(err, ErrEncode) {
		t.Errorf("EncodeFragments without cipher: %v", err)
	}
}

func TestHeader(t *testing.T) {
	h := Header{SPIi: 0x0102030405060708, SPIr: 0x1112131415161718, Exchange: CreateChildSA, Flags: 0xff, MessageID: 0xdeadbeef}
	b, err := (&Message{Header: h}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "0102030405060708 1112131415161718 00 20 24 38 deadbeef 0000001c")
	if !bytes.Equal(b, want) {
		t.Fatalf("got %x\nwant %x", b, want)
	}
	b[19] = 0xff // reserved flag bits are ignored on receipt
	got, err := ParseHeader(b)
	if err != nil || got.Flags != 0xff || !got.IsResponse() || !got.IsInitiator() || got.Length != HeaderLen || got.Version != Version2 {
		t.Fatalf("%+v %v", got, err)
	}
	b[17] = 0x31
	got, err = ParseHeader(b)
	if !errors.Is(err, ErrVersion) || got.Version != 0x31 || got.SPIi != h.SPIi || got.MessageID != h.MessageID {
		t.Errorf("IKEv3: %+v %v", got, err)
	}
	if _, err := ParseHeader(make([]byte, MaxMessageLen+1)); err == nil {
		t.Error("oversized datagram accepted")
	}
	big := make([]byte, MaxMessageLen+1)
	big[17] = Version2
	if _, err := ParseHeader(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
}

func TestIDBody(t *testing.T) {
	id := &ID{Initiator: true, IDType: IDFQDN, Data: []byte("gw")}
	if got := id.Body(); !bytes.Equal(got, []byte{2, 0, 0, 0, 'g', 'w'}) {
		t.Errorf("Body %x", got)
	}
	// Reserved octets received as non-zero are ignored.
	b := rawMessage(Header{SPIi: 1, Exchange: IKEAuth}, rawPayload{t: PayloadIDi, body: []byte{2, 1, 2, 3, 'g', 'w'}})
	m, err := Decode(b, nil)
	if err != nil || !reflect.DeepEqual(m.IDi(), id) {
		t.Errorf("%+v %v", m, err)
	}
}

func TestNotifyProtocolIgnoredWithoutSPI(t *testing.T) {
	b := rawMessage(Header{SPIi: 1, Exchange: IKEAuth}, rawPayload{t: PayloadNotify, body: []byte{3, 0, 0, 14}})
	m, err := Decode(b, nil)
	if err != nil || !reflect.DeepEqual(m.Payloads, []Payload{&Notify{Type: NotifyNoProposalChosen}}) {
		t.Errorf("%#v %v", m.Payloads, err)
	}
}

func TestFinders(t *testing.T) {
	m := sampleMessages(t)[0]
	ps := samplePayloads()
	checks := []struct {
		name     string
		got, wnt any
	}{
		{"SA", m.SA(), ps["SA"][0]},
		{"KE", m.KE(), ps["KE"][0]},
		{"Nonce", m.Nonce(), ps["Nonce"][0]},
		{"IDi", m.IDi(), ps["ID"][0]},
		{"IDr", m.IDr(), ps["ID"][1]},
		{"AUTH", m.Auth(), ps["AUTH"][0]},
		{"TSi", m.TSi(), ps["TS"][0]},
		{"TSr", m.TSr(), ps["TS"][1]},
		{"CP", m.CP(), ps["CP"][0]},
		{"EAP", m.EAP(), ps["EAP"][0]},
		{"Find", m.Find(PayloadVendorID), ps["V"][0]},
		{"Notify", m.Notify(NotifyRekeySA), ps["N"][2]},
		{"Notifies", len(m.Notifies()), len(ps["N"])},
		{"Deletes", len(m.Deletes()), len(ps["D"])},
		{"Certs", len(m.Certs()), len(ps["CERT"])},
		{"CertReqs", len(m.CertReqs()), len(ps["CERTREQ"])},
		{"VendorIDs", len(m.VendorIDs()), len(ps["V"])},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.wnt) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.wnt)
		}
	}
	empty := &Message{}
	if empty.SA() != nil || empty.Notify(NotifyCookie) != nil || empty.Find(PayloadKE) != nil || empty.Notifies() != nil || empty.IDr() != nil {
		t.Error("finders on an empty message")
	}
}

func TestStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{NotifyNoProposalChosen.String(), "NO_PROPOSAL_CHOSEN"},
		{NotifyInvalidKEPayload.String(), "INVALID_KE_PAYLOAD"},
		{NotifyFragmentationSupported.String(), "IKEV2_FRAGMENTATION_SUPPORTED"},
		{NotifySignatureHashAlgorithms.String(), "SIGNATURE_HASH_ALGORITHMS"},
		{NotifyType(16430).String(), "IKEV2_FRAGMENTATION_SUPPORTED"},
		{NotifyType(16431).String(), "SIGNATURE_HASH_ALGORITHMS"},
		{NotifyType(40000).String(), "NOTIFY(40000)"},
		{IKESAInit.String(), "IKE_SA_INIT"},
		{ExchangeType(99).String(), "EXCHANGE(99)"},
		{PayloadSKF.String(), "SKF"},
		{PayloadType(200).String(), "PAYLOAD(200)"},
		{ProtoESP.String(), "ESP"},
		{IDFQDN.String(), "ID_FQDN"},
		{AuthSharedKeyMIC.String(), "SHARED_KEY_MIC"},
		{TSIPv6AddrRange.String(), "TS_IPV6_ADDR_RANGE"},
		{CPReply.String(), "CFG_REPLY"},
		{(&CriticalPayloadError{Type: 200}).Error(), "ike/message: unsupported critical payload type 200"},
		{(&Message{Header: Header{Exchange: Informational, Flags: FlagResponse, MessageID: 4}, Payloads: []Payload{&Delete{Protocol: ProtoESP}, nil}}).String(),
			"INFORMATIONAL response 4 [ D(ESP) nil ]"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if !NotifyTSUnacceptable.IsError() || NotifyCookie.IsError() {
		t.Error("IsError")
	}
	// Every named notify type has a distinct name.
	seen := map[string]NotifyType{}
	for nt, name := range notifyNames {
		if prev, dup := seen[name]; dup {
			t.Errorf("%d and %d both named %s", prev, nt, name)
		}
		seen[name] = nt
	}
}

func TestTransformUsable(t *testing.T) {
	// A Key Length attribute makes a transform no less usable; any other
	// attribute (or a second Key Length, or a zero one) does.
	for _, tc := range []struct {
		attrs  string
		usable bool
		keyLen uint16
	}{
		{"", true, 0},
		{"800e0100", true, 256},
		{"800e0100 800e0080", false, 256},
		{"800e0000", false, 0},
		{"000e0002 0100", false, 0}, // Key Length in TLV format
		{"80630001", false, 0},
	} {
		attrs := unhex(t, tc.attrs)
		body := append(unhex(t, "0000"), 0, 0)
		body = append(append(body, unhex(t, "01010001")...), 0, 0, 0, 0, 1, 0, 0, 20)
		binary.BigEndian.PutUint16(body[10:], uint16(8+len(attrs)))
		body = append(body, attrs...)
		binary.BigEndian.PutUint16(body[2:], uint16(len(body)))
		m, err := Decode(rawMessage(Header{SPIi: 1, Exchange: IKESAInit}, rawPayload{t: PayloadSA, body: body}), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.attrs, err)
		}
		tr := &m.SA().Proposals[0].Transforms[0]
		if tr.Usable() != tc.usable || tr.KeyLength != tc.keyLen {
			t.Errorf("%s: usable %v key length %d", tc.attrs, tr.Usable(), tr.KeyLength)
		}
		// Re-encoding keeps the attributes' sizes.
		if b, err := m.Encode(); err != nil || len(b) != HeaderLen+4+len(body) {
			t.Errorf("%s: re-encoded %d bytes, %v", tc.attrs, len(b), err)
		}
	}
}

// zeroAllocCipher is a trivial Cipher that does not allocate, to measure the
// encoder's own allocations.
type zeroAllocCipher struct{}

func (zeroAllocCipher) IVLen() int  { return 8 }
func (zeroAllocCipher) ICVLen() int { return 16 }
func (zeroAllocCipher) Align() int  { return 16 }
func (zeroAllocCipher) Seal(dst, iv, pt, aad, tail []byte) []byte {
	whole, out := grow(dst, len(pt)+16)
	for i := range pt {
		out[i] = pt[i] ^ iv[i%8]
	}
	clear(out[len(pt):])
	return whole
}
func (zeroAllocCipher) Open(dst, iv, ct, aad, tail []byte) ([]byte, error) {
	whole, out := grow(dst, len(ct)-16)
	for i := range out {
		out[i] = ct[i] ^ iv[i%8]
	}
	return whole, nil
}

func TestEncodeAllocations(t *testing.T) {
	m := sampleMessages(t)[0]
	c := testCrypto(zeroAllocCipher{}, 1)
	if n := testing.AllocsPerRun(20, func() { m.Encode() }); n != 1 {
		t.Errorf("Encode: %v allocations, want 1", n)
	}
	if n := testing.AllocsPerRun(20, func() { m.EncodeProtected(c) }); n != 1 {
		t.Errorf("EncodeProtected: %v allocations, want 1", n)
	}
	if n := testing.AllocsPerRun(20, func() { m.EncodeFragments(c, 500) }); n != 3 {
		t.Errorf("EncodeFragments: %v allocations, want 3 (inner, datagrams, slice headers)", n)
	}
	b, _ := m.EncodeProtected(c)
	if _, err := Decode(b, c); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkDecodeIKESAInit(b *testing.B) {
	r := loadSwanRun(b, "cbc")
	msg := r.msgs[0].data
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := Decode(msg, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeProtected(b *testing.B) {
	m := sampleMessages(b)[0]
	c := testCrypto(testCiphers(b)["aes128gcm16"], 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.EncodeProtected(c); err != nil {
			b.Fatal(err)
		}
	}
}
