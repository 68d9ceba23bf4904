package ikev1

import (
	"fmt"
	"strings"
	"time"

	"github.com/vpngw/vpngw/internal/ike/isakmp"
	"github.com/vpngw/vpngw/internal/transform"
)

// Phase 1 attribute types and values (RFC 2409 Appendix A).
const (
	attrEncr      = 1
	attrHash      = 2
	attrAuth      = 3
	attrGroup     = 4
	attrLifeType  = 11
	attrLifeDur   = 12
	attrKeyLength = 14

	authPSK      = 1
	lifeSeconds  = 1
	lifeKilobyte = 2
)

// Phase 2 (IPsec DOI) attribute types and values (RFC 2407 §4.5, RFC 3947).
const (
	attr2LifeType  = 1
	attr2LifeDur   = 2
	attr2Group     = 3
	attr2EncapMode = 4
	attr2Auth      = 5
	attr2KeyLength = 6

	encapTunnel    = 1
	encapUDPTunnel = 3
)

// v1Encr maps phase 1 encryption algorithm values to transforms.
var v1Encr = map[uint64]transform.ID{5: transform.EncrDES3, 7: transform.EncrAESCBC}

// v1Hash maps phase 1 hash values to the HMAC PRF built on that hash.
var v1Hash = map[uint64]transform.ID{1: transform.PRFHMACMD5, 2: transform.PRFHMACSHA1, 4: transform.PRFHMACSHA2256,
	5: transform.PRFHMACSHA2384, 6: transform.PRFHMACSHA2512}

// v1Auth maps phase 2 authentication algorithm values to integrity
// transforms (HMAC-SHA2 truncated per RFC 4868, as strongSwan does).
var v1Auth = map[uint64]transform.ID{1: transform.IntegHMACMD596, 2: transform.IntegHMACSHA196,
	5: transform.IntegHMACSHA2256128, 6: transform.IntegHMACSHA2384192, 7: transform.IntegHMACSHA2512256}

func reverse[K, V comparable](m map[K]V) map[V]K {
	out := make(map[V]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

var (
	v1EncrVal = reverse(v1Encr)
	v1HashVal = reverse(v1Hash)
	v1AuthVal = reverse(v1Auth)
)

// mmSuite is one Main Mode transform: an ISAKMP SA's algorithms.
type mmSuite struct {
	encr transform.Encr
	prf  transform.ID // the HMAC of the negotiated hash
	dh   transform.ID
}

func (s mmSuite) String() string {
	return strings.ToLower(fmt.Sprintf("%s-%s-%s", s.encr, shortName(transform.TypePRF, s.prf), shortName(transform.TypeDH, s.dh)))
}

func shortName(t transform.Type, id transform.ID) string {
	return transform.Name(t, id)
}

// mmSuites flattens IKE proposals into Main Mode transforms, in order.
// IKEv1 negotiates one hash for both PRF and integrity: the PRF's hash.
func mmSuites(props []transform.Proposal) []mmSuite {
	var out []mmSuite
	for _, p := range props {
		for _, e := range p.Encr {
			if _, ok := v1EncrVal[e.ID]; !ok {
				continue
			}
			for _, prf := range p.PRF {
				if _, ok := v1HashVal[prf]; !ok {
					continue
				}
				for _, dh := range p.DH {
					out = append(out, mmSuite{e, prf, dh})
				}
			}
		}
	}
	return out
}

func (s mmSuite) transform(num uint8, life time.Duration) isakmp.Transform {
	attrs := []isakmp.Attr{{Type: attrEncr, Basic: uint16(v1EncrVal[s.encr.ID])}}
	if s.encr.KeyBits != 0 && s.encr.ID == transform.EncrAESCBC {
		attrs = append(attrs, isakmp.Attr{Type: attrKeyLength, Basic: uint16(s.encr.KeyBits)})
	}
	attrs = append(attrs,
		isakmp.Attr{Type: attrHash, Basic: uint16(v1HashVal[s.prf])},
		isakmp.Attr{Type: attrAuth, Basic: authPSK},
		isakmp.Attr{Type: attrGroup, Basic: uint16(s.dh)},
		isakmp.Attr{Type: attrLifeType, Basic: lifeSeconds},
		isakmp.Uint(attrLifeDur, uint64(life/time.Second)))
	return isakmp.Transform{Num: num, ID: isakmp.TransformKeyIKE, Attrs: attrs}
}

// parseMM reads a phase 1 transform; ok is false for anything vpngw does
// not implement (or an authentication method other than PSK).
func parseMM(t isakmp.Transform) (s mmSuite, life time.Duration, ok bool) {
	if t.ID != isakmp.TransformKeyIKE {
		return s, 0, false
	}
	e, _ := t.Attr(attrEncr)
	h, _ := t.Attr(attrHash)
	a, _ := t.Attr(attrAuth)
	g, _ := t.Attr(attrGroup)
	kl, _ := t.Attr(attrKeyLength)
	var found bool
	if s.encr.ID, found = v1Encr[e]; !found || a != authPSK {
		return s, 0, false
	}
	if s.encr.ID == transform.EncrAESCBC {
		if kl == 0 {
			kl = 128
		}
		s.encr.KeyBits = int(kl)
	}
	if s.prf, found = v1Hash[h]; !found {
		return s, 0, false
	}
	s.dh = transform.ID(g)
	lt, _ := t.Attr(attrLifeType)
	if lt == lifeSeconds {
		d, _ := t.Attr(attrLifeDur)
		life = time.Duration(d) * time.Second
	}
	return s, life, true
}

// qmSuite is one Quick Mode transform: an ESP SA's algorithms.
type qmSuite struct {
	encr  transform.Encr
	integ transform.ID // IntegNone with AES-GCM
	pfs   transform.ID // DHNone without PFS
}

func (s qmSuite) String() string {
	out := s.encr.String()
	if s.integ != transform.IntegNone {
		out += "-" + transform.Name(transform.TypeINTEG, s.integ)
	}
	if s.pfs != transform.DHNone {
		out += "-" + transform.Name(transform.TypeDH, s.pfs)
	}
	return strings.ToLower(out)
}

// qmSuites flattens ESP proposals into Quick Mode transforms, in order.
func qmSuites(props []transform.Proposal) []qmSuite {
	var out []qmSuite
	for _, p := range props {
		dhs := p.DH
		if len(dhs) == 0 {
			dhs = []transform.ID{transform.DHNone}
		}
		integs := p.Integ
		if len(integs) == 0 {
			integs = []transform.ID{transform.IntegNone}
		}
		for _, e := range p.Encr {
			for _, i := range integs {
				if _, ok := v1AuthVal[i]; !ok && i != transform.IntegNone {
					continue
				}
				for _, dh := range dhs {
					out = append(out, qmSuite{e, i, dh})
				}
			}
		}
	}
	return out
}

// qmLife is what a Quick Mode transform says about lifetimes and
// encapsulation.
type qmLife struct {
	seconds time.Duration
	kb      uint64
	encap   bool
}

func (s qmSuite) transform(num uint8, l qmLife) isakmp.Transform {
	attrs := []isakmp.Attr{
		{Type: attr2LifeType, Basic: lifeSeconds}, isakmp.Uint(attr2LifeDur, uint64(l.seconds/time.Second)),
	}
	if l.kb != 0 {
		attrs = append(attrs, isakmp.Attr{Type: attr2LifeType, Basic: lifeKilobyte}, isakmp.Uint(attr2LifeDur, l.kb))
	}
	if s.pfs != transform.DHNone {
		attrs = append(attrs, isakmp.Attr{Type: attr2Group, Basic: uint16(s.pfs)})
	}
	mode := uint16(encapTunnel)
	if l.encap {
		mode = encapUDPTunnel
	}
	attrs = append(attrs, isakmp.Attr{Type: attr2EncapMode, Basic: mode})
	if s.integ != transform.IntegNone {
		attrs = append(attrs, isakmp.Attr{Type: attr2Auth, Basic: uint16(v1AuthVal[s.integ])})
	}
	if s.encr.KeyBits != 0 && s.encr.ID != transform.EncrDES3 {
		attrs = append(attrs, isakmp.Attr{Type: attr2KeyLength, Basic: uint16(s.encr.KeyBits)})
	}
	return isakmp.Transform{Num: num, ID: uint8(s.encr.ID), Attrs: attrs}
}

// parseQM reads a phase 2 transform.
func parseQM(t isakmp.Transform) (s qmSuite, l qmLife, ok bool) {
	s.encr.ID = transform.ID(t.ID)
	if kl, found := t.Attr(attr2KeyLength); found {
		s.encr.KeyBits = int(kl)
	} else if s.encr.ID == transform.EncrAESCBC || transform.IsAEAD(s.encr.ID) {
		s.encr.KeyBits = 128
	}
	if a, found := t.Attr(attr2Auth); found {
		if s.integ, ok = v1Auth[a]; !ok {
			return s, l, false
		}
	}
	if g, found := t.Attr(attr2Group); found {
		s.pfs = transform.ID(g)
	}
	mode, _ := t.Attr(attr2EncapMode)
	switch mode {
	case encapTunnel:
	case encapUDPTunnel, 61443: // RFC 3947; draft-ietf-ipsec-nat-t-ike-0x
		l.encap = true
	default:
		return s, l, false // transport mode is not offered by vpngw
	}
	// Life type/duration come in pairs, in order.
	var typ uint64
	for _, a := range t.Attrs {
		v, _ := a.Value()
		switch a.Type {
		case attr2LifeType:
			typ = v
		case attr2LifeDur:
			if typ == lifeSeconds {
				l.seconds = time.Duration(v) * time.Second
			} else if typ == lifeKilobyte {
				l.kb = v
			}
		}
	}
	return s, l, true
}

func containsMM(list []mmSuite, s mmSuite) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsQM(list []qmSuite, s qmSuite) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
