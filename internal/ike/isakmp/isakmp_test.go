package isakmp

import (
	"bytes"
	"crypto/aes"
	"crypto/des"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
)

func mainModeSA() *SA {
	return &SA{DOI: DOIIPsec, Situation: SituationIdentity, Proposals: []Proposal{{
		Num: 1, Protocol: ProtoISAKMP, Transforms: []Transform{
			{Num: 1, ID: TransformKeyIKE, Attrs: []Attr{{Type: 1, Basic: 7}, {Type: 14, Basic: 256}, {Type: 2, Basic: 4},
				{Type: 3, Basic: 1}, {Type: 4, Basic: 2}, {Type: 11, Basic: 1}, Uint(12, 28800)}},
			{Num: 2, ID: TransformKeyIKE, Attrs: []Attr{{Type: 1, Basic: 5}, {Type: 2, Basic: 2}, Uint(12, 86400)}},
		}}}}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		m    Message
	}{
		{"main mode 1", Message{Header: Header{ICookie: 0x0102030405060708, Exchange: ExchMainMode},
			Payloads: []Payload{mainModeSA(), &Data{T: PayloadVendorID, Data: VendorNATT}, &Data{T: PayloadVendorID, Data: VendorDPD}}}},
		{"main mode 3", Message{Header: Header{ICookie: 1, RCookie: 2, Exchange: ExchMainMode},
			Payloads: []Payload{&Data{T: PayloadKE, Data: bytes.Repeat([]byte{7}, 128)}, &Data{T: PayloadNonce, Data: make([]byte, 32)},
				&Data{T: PayloadNATD, Data: make([]byte, 20)}, &Data{T: PayloadNATD, Data: make([]byte, 20)}}}},
		{"quick mode 1", Message{Header: Header{ICookie: 1, RCookie: 2, Exchange: ExchQuickMode, MessageID: 0xdeadbeef},
			Payloads: []Payload{&Data{T: PayloadHash, Data: make([]byte, 32)},
				&SA{DOI: 1, Situation: 1, Proposals: []Proposal{{Num: 1, Protocol: ProtoESP, SPI: []byte{1, 2, 3, 4},
					Transforms: []Transform{{Num: 1, ID: 12, Attrs: []Attr{{Type: 1, Basic: 1}, Uint(2, 3600), {Type: 4, Basic: 3}, {Type: 5, Basic: 5}, {Type: 6, Basic: 256}}}}}}},
				&ID{IDType: IDIPv4AddrSubnet, Data: []byte{10, 1, 0, 0, 255, 255, 0, 0}},
				&ID{IDType: IDIPv4AddrSubnet, Data: []byte{10, 2, 0, 0, 255, 255, 0, 0}}}}},
		{"informational", Message{Header: Header{ICookie: 1, RCookie: 2, Exchange: ExchInformational, MessageID: 7},
			Payloads: []Payload{&Data{T: PayloadHash, Data: make([]byte, 20)},
				&Notification{DOI: 1, Protocol: ProtoISAKMP, SPI: make([]byte, 16), Notify: NotifyRUThere, Data: []byte{0, 0, 0, 9}},
				&Delete{DOI: 1, Protocol: ProtoESP, SPIs: [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(&tt.m)
			if err != nil {
				t.Fatal(err)
			}
			got, next, err := Decode(b, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if next != nil {
				t.Fatal("IV for plaintext")
			}
			for _, p := range got.Payloads {
				if sa, ok := p.(*SA); ok {
					sa.Raw = nil
				}
			}
			want := tt.m.Header
			want.Version, want.Length, want.NextPayload = Version, uint32(len(b)), tt.m.Payloads[0].Type()
			if got.Header != want {
				t.Fatalf("header %+v, want %+v", got.Header, want)
			}
			if !reflect.DeepEqual(got.Payloads, tt.m.Payloads) {
				t.Fatalf("payloads\n got %#v\nwant %#v", got.Payloads, tt.m.Payloads)
			}
			b2, _ := Encode(got)
			if !bytes.Equal(b, b2) {
				t.Fatal("re-encoding differs")
			}
		})
	}
}

// A Main Mode first message as strongSwan 5.9.8 sends it (SA with one
// AES-256/SHA2-256/MODP-2048 transform, lifetime 10800 s, as its SA payload body), checked field by field.
func TestDecodeKnownSA(t *testing.T) {
	b, _ := hex.DecodeString("00000001" + "00000001" +
		"00000030" + "01010001" +
		"00000028" + "01010000" + "800b0001" + "000c0004" + "00002a30" + "80010007" + "800e0100" + "80020004" + "80030001" + "8004000e")
	sa, err := decodeSA(b)
	if err != nil {
		t.Fatal(err)
	}
	tr := sa.Proposals[0].Transforms[0]
	if life, _ := tr.Attr(12); life != 10800 {
		t.Fatalf("life %d", life)
	}
	if enc, _ := tr.Attr(1); enc != 7 {
		t.Fatal("encr")
	}
	if g, _ := tr.Attr(4); g != 14 {
		t.Fatal("group")
	}
}

func TestDecodeErrors(t *testing.T) {
	good, _ := Encode(&Message{Header: Header{ICookie: 1, Exchange: ExchMainMode}, Payloads: []Payload{mainModeSA()}})
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"short", good[:20], ErrSyntax},
		{"version 2", append(append([]byte{}, good[:17]...), append([]byte{0x20}, good[18:]...)...), ErrVersion},
		{"length beyond buffer", good[:len(good)-1], ErrSyntax},
		{"truncated payload", func() []byte { b := append([]byte{}, good...); b[HeaderLen+3] = 0xff; return b }(), ErrSyntax},
		{"trailing bytes", func() []byte {
			b := append(append([]byte{}, good...), 0, 0)
			b[27] += 2
			return b
		}(), ErrSyntax},
		{"encrypted without keys", func() []byte { b := append([]byte{}, good...); b[19] |= FlagEncryption; return b }(), ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := Decode(tt.b, nil, nil); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

// IV chaining (RFC 2409 Appendix B): the next IV is the last ciphertext
// block, on both sides.
func TestEncryptChain(t *testing.T) {
	for _, key := range [][]byte{make([]byte, 32), make([]byte, 24)} {
		block, _ := aes.NewCipher(key)
		if len(key) == 24 {
			block, _ = des.NewTripleDESCipher(key)
		}
		iv := make([]byte, block.BlockSize())
		m := &Message{Header: Header{ICookie: 1, RCookie: 2, Exchange: ExchMainMode},
			Payloads: []Payload{&ID{IDType: IDIPv4Addr, Data: []byte{192, 0, 2, 1}}, &Data{T: PayloadHash, Data: make([]byte, 20)}}}
		b, next, err := EncodeEncrypted(m, block, iv)
		if err != nil {
			t.Fatal(err)
		}
		if (len(b)-HeaderLen)%block.BlockSize() != 0 || !bytes.Equal(next, b[len(b)-block.BlockSize():]) {
			t.Fatal("bad padding or IV")
		}
		got, next2, err := Decode(b, block, iv)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(next, next2) || len(got.Payloads) != 2 || got.Payloads[0].(*ID).Data[3] != 1 {
			t.Fatalf("decoded %+v", got)
		}
		if _, _, err := Decode(b[:len(b)-1], block, iv); err == nil {
			t.Fatal("truncated ciphertext accepted")
		}
	}
}
