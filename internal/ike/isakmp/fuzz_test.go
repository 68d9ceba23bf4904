package isakmp

import (
	"crypto/aes"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode (plaintext, and encrypted
// with a fixed key) and checks that whatever decodes re-encodes and decodes
// to the same payload types.
func FuzzDecode(f *testing.F) {
	for _, m := range []*Message{
		{Header: Header{ICookie: 1, Exchange: ExchMainMode}, Payloads: []Payload{mainModeSA(), &Data{T: PayloadVendorID, Data: VendorNATT}}},
		{Header: Header{ICookie: 1, RCookie: 2, Exchange: ExchInformational}, Payloads: []Payload{&Data{T: PayloadHash, Data: make([]byte, 20)},
			&Notification{DOI: 1, Protocol: ProtoISAKMP, SPI: make([]byte, 16), Notify: NotifyRUThere, Data: []byte{0, 0, 0, 1}},
			&Delete{DOI: 1, Protocol: ProtoESP, SPIs: [][]byte{{1, 2, 3, 4}}}, &ID{IDType: IDIPv4AddrSubnet, Data: make([]byte, 8)}}},
	} {
		b, err := Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	block, _ := aes.NewCipher(make([]byte, 16))
	iv := make([]byte, 16)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _, err := Decode(b, block, iv)
		if err != nil {
			return
		}
		m.Header.Flags &^= FlagEncryption // Encode writes plaintext
		out, err := Encode(m)
		if err != nil {
			return // e.g. a decoded variable attribute longer than 64 KiB cannot occur; others may not re-encode
		}
		m2, _, err := Decode(out, nil, nil)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if len(m2.Payloads) != len(m.Payloads) {
			t.Fatalf("%d payloads, then %d", len(m.Payloads), len(m2.Payloads))
		}
		for i := range m.Payloads {
			if m.Payloads[i].Type() != m2.Payloads[i].Type() {
				t.Fatalf("payload %d type changed", i)
			}
		}
	})
}
