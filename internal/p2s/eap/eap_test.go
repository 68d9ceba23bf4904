package eap

import (
	"bytes"
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want Packet
		err  bool
	}{
		{name: "identity request", in: []byte{1, 7, 0, 5, 1}, want: Packet{Code: CodeRequest, Identifier: 7, Type: TypeIdentity, Data: []byte{}}},
		{name: "identity response", in: []byte{2, 7, 0, 9, 1, 'u', 's', 'e', 'r'}, want: Packet{Code: CodeResponse, Identifier: 7, Type: TypeIdentity, Data: []byte("user")}},
		{name: "success", in: []byte{3, 9, 0, 4}, want: Packet{Code: CodeSuccess, Identifier: 9}},
		{name: "failure", in: []byte{4, 9, 0, 4}, want: Packet{Code: CodeFailure, Identifier: 9}},
		{name: "short", in: []byte{1, 7, 0}, err: true},
		{name: "length beyond the buffer", in: []byte{1, 7, 0, 9, 1}, err: true},
		{name: "bytes after length", in: []byte{1, 7, 0, 5, 1, 0}, err: true},
		{name: "request without type", in: []byte{1, 7, 0, 4}, err: true},
		{name: "success with data", in: []byte{3, 7, 0, 5, 1}, err: true},
		{name: "unknown code", in: []byte{5, 7, 0, 4}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.err {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Code != tc.want.Code || got.Identifier != tc.want.Identifier || got.Type != tc.want.Type || !bytes.Equal(got.Data, tc.want.Data) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			out, err := got.Marshal()
			if err != nil || !bytes.Equal(out, tc.in) {
				t.Fatalf("re-encoded %x (%v), want %x", out, err, tc.in)
			}
		})
	}
}

func TestNak(t *testing.T) {
	p, err := Parse([]byte{2, 1, 0, 7, 3, 13, 26})
	if err != nil {
		t.Fatal(err)
	}
	types, ok := p.Nak()
	if !ok || len(types) != 2 || types[0] != TypeTLS || types[1] != TypeMSCHAPv2 {
		t.Fatalf("Nak %v %v", types, ok)
	}
	if _, ok := (Packet{Code: CodeRequest, Type: TypeNak, Data: []byte{1}}).Nak(); ok {
		t.Fatal("a Request read as a Nak")
	}
}

func TestMarshalTooLong(t *testing.T) {
	if _, err := (Packet{Code: CodeRequest, Type: TypeTLS, Data: make([]byte, MaxLen)}).Marshal(); err == nil {
		t.Fatal("a packet beyond 65535 bytes encoded")
	}
}

// FuzzParse: Parse never panics, and what it accepts re-encodes to the
// same bytes.
func FuzzParse(f *testing.F) {
	for _, s := range [][]byte{{1, 7, 0, 5, 1}, {2, 7, 0, 9, 1, 'u', 's', 'e', 'r'}, {3, 9, 0, 4}, {2, 1, 0, 7, 3, 13, 26}, {1, 2, 0, 6, 26, 1}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		out, err := p.Marshal()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("%x re-encoded as %x (%v)", b, out, err)
		}
	})
}
