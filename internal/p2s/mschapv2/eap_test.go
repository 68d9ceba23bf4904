package mschapv2

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/vpngw/vpngw/internal/p2s/eap"
)

func users(m map[string]string) Lookup {
	return func(u string) ([16]byte, bool) {
		pw, ok := m[UserName(u)]
		if !ok {
			return [16]byte{}, false
		}
		return NTPasswordHash(pw), true
	}
}

// wire round-trips a packet through its encoding, as the IKE payload
// carries it.
func wire(t *testing.T, p eap.Packet) eap.Packet {
	t.Helper()
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	q, err := eap.Parse(b)
	if err != nil {
		t.Fatalf("%x: %v", b, err)
	}
	return q
}

func TestServerPeer(t *testing.T) {
	db := users(map[string]string{"alice": "correct horse", "bob": "s3cret"})
	for _, tc := range []struct {
		name, user, pw string
		err            error
	}{
		{name: "success", user: "alice", pw: "correct horse"},
		{name: "domain user", user: `CORP\bob`, pw: "s3cret"},
		{name: "wrong password", user: "alice", pw: "wrong", err: ErrAuthFailed},
		{name: "unknown user", user: "mallory", pw: "x", err: ErrAuthFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, req, err := NewServer(rand.Reader, db, 10)
			if err != nil {
				t.Fatal(err)
			}
			p := NewPeer(rand.Reader, tc.user, tc.pw)
			var res Result
			for range 4 {
				resp, perr := p.Handle(wire(t, req))
				if perr != nil {
					t.Fatalf("peer: %v", perr)
				}
				next, done, r, err := s.Handle(wire(t, resp))
				if done {
					res = r
					if !errors.Is(err, tc.err) || (tc.err == nil) != (next.Code == eap.CodeSuccess) {
						t.Fatalf("finished with %v %v, want %v", next.Code, err, tc.err)
					}
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				req = next
			}
			if tc.err != nil {
				return
			}
			if res.User != tc.user || !bytes.Equal(res.MSK, p.MSK()) || len(res.MSK) != MSKLen {
				t.Fatalf("result %q %x, peer MSK %x", res.User, res.MSK, p.MSK())
			}
		})
	}
}

// TestServerRefusesOutOfOrder: wrong identifiers, codes and opcodes end in
// errors, not panics or success.
func TestServerRefusesOutOfOrder(t *testing.T) {
	db := users(map[string]string{"alice": "pw"})
	s, req, _ := NewServer(rand.Reader, db, 1)
	if _, _, _, err := s.Handle(eap.Packet{Code: eap.CodeResponse, Identifier: req.Identifier + 1, Type: eap.TypeMSCHAPv2, Data: []byte{OpResponse}}); !errors.Is(err, ErrState) {
		t.Fatalf("wrong identifier: %v", err)
	}
	_, done, _, err := s.Handle(eap.Packet{Code: eap.CodeResponse, Identifier: req.Identifier, Type: eap.TypeMSCHAPv2, Data: []byte{OpSuccess}})
	if !done || !errors.Is(err, ErrState) {
		t.Fatalf("Success before Response: done %v err %v", done, err)
	}
	s, req, _ = NewServer(rand.Reader, db, 1)
	_, done, _, err = s.Handle(eap.Packet{Code: eap.CodeResponse, Identifier: req.Identifier, Type: eap.TypeMSCHAPv2, Data: []byte{OpResponse, req.Data[1], 0, 9, 49}})
	if !done || !errors.Is(err, ErrMalformed) {
		t.Fatalf("short Response: done %v err %v", done, err)
	}
}

// FuzzServer: any client message sequence leaves the server without panics
// and never succeeds without the password.
func FuzzServer(f *testing.F) {
	f.Add([]byte{2, 1, 0, 5, 26}, []byte{2, 2, 0, 6, 26, 3})
	f.Fuzz(func(t *testing.T, m1, m2 []byte) {
		db := users(map[string]string{"alice": "pw"})
		s, _, err := NewServer(bytes.NewReader(make([]byte, 16)), db, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range [][]byte{m1, m2} {
			p, err := eap.Parse(m)
			if err != nil {
				continue
			}
			next, done, _, _ := s.Handle(p)
			if done {
				if next.Code == eap.CodeSuccess {
					t.Fatal("success without the password")
				}
				return
			}
		}
	})
}
