package ike

// The client side of remote access (Peer.Client): the exchange of
// remoteaccess.go seen from the initiator, with certificate
// authentication (Azure's "Certificate" point-to-site authentication):
//
//	client                                                gateway
//	IKE_AUTH  IDi, CERT..., CERTREQ, [IDr], AUTH(signature),
//	          CP(CFG_REQUEST), SA, TSi, TSr  ──►
//	                 ◄── IDr, CERT, AUTH(signature), CP(CFG_REPLY), SA, TSi, TSr
//
// The client proposes its LocalTS (0.0.0.0/0 by default) as TSi; the
// gateway narrows it to the address it assigned.

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vpngw/vpngw/internal/ike/message"
)

// ErrGateway is wrapped by the reasons a remote-access client refuses its
// gateway: an untrusted or wrong certificate, a bad signature, no address.
var ErrGateway = errors.New("ike: remote-access gateway refused")

// clientProof is what a remote-access client authenticates with: its
// certificate chain, a CERTREQ for the roots it trusts (strongSwan sends
// its certificate only when asked), its signature over the initiator's
// signed octets, and the request for an address.
func (sa *ikeSA) clientProof() ([]message.Payload, error) {
	p := sa.peer
	rc, lid := p.cfg.Client, p.cfg.LocalID
	method, sig, err := SignatureAuth(rc.Key, signedOctets(sa.prf, sa.initReq, sa.nr, sa.keys.SKpi, lid))
	if err != nil {
		return nil, err
	}
	var ps []message.Payload
	for _, der := range rc.Cert {
		ps = append(ps, &message.Cert{Encoding: message.CertX509Signature, Data: der})
	}
	return append(ps,
		&message.CertReq{Encoding: message.CertX509Signature, Data: p.cfg.trust.certReq},
		&message.Auth{Method: method, Data: sig},
		&message.CP{CPType: message.CPRequest, Attributes: []message.CPAttribute{{Type: message.CPInternalIP4Address}, {Type: message.CPInternalIP4DNS}}},
	), nil
}

// checkGateway verifies a remote-access gateway's IKE_AUTH response (its
// certificate chain to the client's roots, valid for server
// authentication and naming idr, and its signature) and returns the
// address it assigned.
func (sa *ikeSA) checkGateway(now time.Time, m *message.Message, idr Identity, auth *message.Auth) (netip.Addr, error) {
	certs := m.Certs()
	if len(certs) == 0 {
		return netip.Addr{}, fmt.Errorf("%w: no certificate in its IKE_AUTH response", ErrGateway)
	}
	var leaf *x509.Certificate
	inter := x509.NewCertPool()
	for i, c := range certs {
		if c.Encoding != message.CertX509Signature {
			continue
		}
		x, err := x509.ParseCertificate(c.Data)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("%w: certificate %d: %v", ErrGateway, i, err)
		}
		if leaf == nil {
			leaf = x
		} else {
			inter.AddCert(x)
		}
	}
	if leaf == nil {
		return netip.Addr{}, fmt.Errorf("%w: no X.509 certificate in its IKE_AUTH response", ErrGateway)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: sa.peer.cfg.trust.roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return netip.Addr{}, fmt.Errorf("%w: certificate %q: %v", ErrGateway, leaf.Subject.CommonName, err)
	}
	if !certVouches(leaf, idr) {
		return netip.Addr{}, fmt.Errorf("%w: identity %s is not its certificate's (%s)", ErrGateway, idr, leaf.Subject)
	}
	if err := VerifySignatureAuth(leaf.PublicKey, auth.Method, auth.Data, signedOctets(sa.prf, sa.initResp, sa.ni, sa.keys.SKpr, idr)); err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %v", ErrGateway, err)
	}
	cp := m.CP()
	if cp == nil || cp.CPType != message.CPReply {
		return netip.Addr{}, fmt.Errorf("%w: no CFG_REPLY (no address assigned)", ErrGateway)
	}
	for _, a := range cp.Attributes {
		if a.Type == message.CPInternalIP4Address && len(a.Value) == 4 {
			return netip.AddrFrom4([4]byte(a.Value)), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w: CFG_REPLY without INTERNAL_IP4_ADDRESS", ErrGateway)
}
