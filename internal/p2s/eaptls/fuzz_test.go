package eaptls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/p2s/eap"
	"github.com/vpngw/vpngw/internal/p2s/pki"
)

// FuzzReassembler feeds fragments cut from the input (each fragment: a
// flags octet, a length octet, then that many bytes of EAP-TLS data after
// the flags) and checks the limits hold.
func FuzzReassembler(f *testing.F) {
	f.Add([]byte{FlagLength | FlagMore, 4, 0, 0, 0, 6, FlagMore, 2, 'c', 'd', 0, 2, 'e', 'f'})
	f.Add([]byte{0, 3, 'a', 'b', 'c'})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReassembler(64)
		for len(in) >= 2 {
			flags, n := in[0], int(in[1])
			in = in[2:]
			n = min(n, len(in))
			b := append([]byte{flags}, in[:n]...)
			in = in[n:]
			m, err := ParseMessage(b)
			if err != nil {
				continue
			}
			msg, err := r.Add(m)
			if err != nil {
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				r = NewReassembler(64)
				continue
			}
			if len(msg) > 64 {
				t.Fatalf("%d-byte message over the limit", len(msg))
			}
		}
	})
}

// FuzzServer answers the Start with the input cut into EAP-TLS Responses
// (a length octet, then that many bytes of EAP-TLS data, each with the
// expected Identifier): whatever the client sends, Handle does not panic
// or hang, and never succeeds without a certificate. The server offers
// TLS 1.2 and 1.3 and resumes from tickets.
func FuzzServer(f *testing.F) {
	gw, err := pki.NewCA("fuzz gateway", pki.ECDSAP256)
	if err != nil {
		f.Fatal(err)
	}
	srv, err := gw.IssueServer("gw.example.net", pki.ECDSAP256, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{srv.Cert.Raw}, PrivateKey: srv.Key}
	v, err := pki.NewVerifier(nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	tickets := NewTicketKeys(nil, 0, 0)
	f.Add([]byte{5, FlagLength | FlagMore, 0, 0, 1, 0, 3, FlagMore, 1, 2, 1, 0})
	f.Add([]byte{6, 0, 22, 3, 1, 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		s, req, err := NewServer(Config{Certificate: cert, MaxMessage: 4096, MaxRounds: 16, MaxVersion: tls.VersionTLS13, Tickets: tickets,
			Verify: func(c [][]byte) (*x509.Certificate, error) { return v.Verify(c, time.Now()) }}, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for len(in) > 0 {
			n := min(int(in[0]), len(in)-1)
			data := in[1 : 1+n]
			in = in[1+n:]
			next, done, _, err := s.Handle(eap.Packet{Code: eap.CodeResponse, Identifier: req.Identifier, Type: eap.TypeTLS, Data: data})
			if done {
				if err == nil {
					t.Fatal("success without a client certificate")
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v without done", err)
			}
			req = next
		}
	})
}
