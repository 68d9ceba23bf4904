package ike

import (
	"github.com/vpngw/vpngw/internal/ike/message"
	"github.com/vpngw/vpngw/internal/transform"
)

// suite is one selected transform of each type: the algorithms an SA uses.
type suite struct {
	encr  transform.Encr
	prf   transform.ID // IKE SAs only
	integ transform.ID // IntegNone with AEAD
	dh    transform.ID // DHNone if absent
	esn   bool         // Child SAs only
}

func (s suite) String() string {
	p := transform.Proposal{Encr: []transform.Encr{s.encr}}
	if s.prf != 0 {
		p.PRF = []transform.ID{s.prf}
	}
	if s.integ != transform.IntegNone {
		p.Integ = []transform.ID{s.integ}
	}
	if s.dh != transform.DHNone {
		p.DH = []transform.ID{s.dh}
	}
	return p.String()
}

// offer converts our proposals into SA payload proposals. For IKE_AUTH's
// Child SA, withDH is false: RFC 7296 §1.2 says to omit DH transforms there.
func offer(props []transform.Proposal, proto message.ProtocolID, spi []byte, withDH bool) []message.Proposal {
	out := make([]message.Proposal, 0, len(props))
	for i, p := range props {
		mp := message.Proposal{Number: uint8(i + 1), Protocol: proto, SPI: spi}
		for _, e := range p.Encr {
			mp.Transforms = append(mp.Transforms, message.Transform{Type: transform.TypeENCR, ID: e.ID, KeyLength: uint16(e.KeyBits)})
		}
		if proto == message.ProtoIKE {
			for _, id := range p.PRF {
				mp.Transforms = append(mp.Transforms, message.Transform{Type: transform.TypePRF, ID: id})
			}
		}
		for _, id := range p.Integ {
			if id == transform.IntegNone && len(p.Integ) == 1 {
				continue
			}
			mp.Transforms = append(mp.Transforms, message.Transform{Type: transform.TypeINTEG, ID: id})
		}
		if withDH {
			for _, id := range p.DH {
				if id == transform.DHNone && proto == message.ProtoIKE {
					continue
				}
				mp.Transforms = append(mp.Transforms, message.Transform{Type: transform.TypeDH, ID: id})
			}
		}
		if proto == message.ProtoESP {
			esn := p.ESN
			if len(esn) == 0 {
				esn = []transform.ID{transform.ESNNo}
			}
			for _, id := range esn {
				mp.Transforms = append(mp.Transforms, message.Transform{Type: transform.TypeESN, ID: id})
			}
		}
		out = append(out, mp)
	}
	return out
}

// transformsOf groups the usable transforms of a received proposal by type.
func transformsOf(p *message.Proposal) map[transform.Type][]message.Transform {
	m := make(map[transform.Type][]message.Transform, 5)
	for i := range p.Transforms {
		t := &p.Transforms[i]
		if !t.Usable() {
			continue
		}
		m[t.Type] = append(m[t.Type], *t)
	}
	return m
}

// pick finds, for one of our proposals and one received proposal, a common
// transform of every type. withDH false ignores DH transforms (IKE_AUTH);
// dhWanted non-zero requires that group (the KE payload's), when the
// proposal has DH at all.
func pick(ours transform.Proposal, theirs *message.Proposal, proto message.ProtocolID, withDH bool) (suite, bool) {
	got := transformsOf(theirs)
	var s suite
	// Encryption: exactly one type-1 transform must match ID and key length.
	found := false
	for _, e := range ours.Encr {
		for _, t := range got[transform.TypeENCR] {
			if t.ID == e.ID && int(t.KeyLength) == e.KeyBits {
				s.encr, found = e, true
				break
			}
		}
		if found {
			break
		}
	}
	if !found {
		return s, false
	}
	aead := transform.IsAEAD(s.encr.ID)
	if proto == message.ProtoIKE {
		if s.prf, found = common(ours.PRF, got[transform.TypePRF]); !found {
			return s, false
		}
	}
	switch {
	case aead:
		// AEAD: the peer may list no integrity or NONE.
		for _, t := range got[transform.TypeINTEG] {
			if t.ID != transform.IntegNone {
				return s, false
			}
		}
		s.integ = transform.IntegNone
	default:
		if s.integ, found = common(ours.Integ, got[transform.TypeINTEG]); !found || s.integ == transform.IntegNone {
			return s, false
		}
	}
	if withDH {
		theirsDH := got[transform.TypeDH]
		oursDH := ours.DH
		switch {
		case proto == message.ProtoIKE:
			if s.dh, found = common(oursDH, theirsDH); !found || s.dh == transform.DHNone {
				return s, false
			}
		default:
			// ESP: no DH on either side, or NONE, means no PFS.
			if len(oursDH) == 0 {
				oursDH = []transform.ID{transform.DHNone}
			}
			if len(theirsDH) == 0 {
				theirsDH = []message.Transform{{Type: transform.TypeDH, ID: transform.DHNone}}
			}
			if s.dh, found = common(oursDH, theirsDH); !found {
				return s, false
			}
		}
	}
	if proto == message.ProtoESP {
		esn := ours.ESN
		if len(esn) == 0 {
			esn = []transform.ID{transform.ESNNo}
		}
		theirsESN := got[transform.TypeESN]
		if len(theirsESN) == 0 {
			theirsESN = []message.Transform{{Type: transform.TypeESN, ID: transform.ESNNo}}
		}
		id, ok := common(esn, theirsESN)
		if !ok {
			return s, false
		}
		s.esn = id == transform.ESNYes
	}
	return s, true
}

// common returns the first of ours that appears in theirs.
func common(ours []transform.ID, theirs []message.Transform) (transform.ID, bool) {
	for _, id := range ours {
		for _, t := range theirs {
			if t.ID == id && t.KeyLength == 0 {
				return id, true
			}
		}
	}
	return 0, false
}

// selectProposal chooses, as responder, the first of our proposals (our
// preference order, as strongSwan does by default) that one of the
// initiator's proposals can satisfy. It returns the index of that received
// proposal and the suite.
func selectProposal(ours []transform.Proposal, theirs []message.Proposal, proto message.ProtocolID, withDH bool) (int, suite, bool) {
	for _, o := range ours {
		for i := range theirs {
			if theirs[i].Protocol != proto {
				continue
			}
			if s, ok := pick(o, &theirs[i], proto, withDH); ok {
				return i, s, true
			}
		}
	}
	return 0, suite{}, false
}

// acceptedProposal checks, as initiator, that the responder's single
// proposal is one we offered, and returns its suite.
func acceptedProposal(ours []transform.Proposal, resp *message.SA, proto message.ProtocolID, withDH bool) (*message.Proposal, suite, bool) {
	if resp == nil || len(resp.Proposals) != 1 {
		return nil, suite{}, false
	}
	p := &resp.Proposals[0]
	if p.Protocol != proto {
		return nil, suite{}, false
	}
	// Each type must carry exactly one transform in a response.
	seen := map[transform.Type]int{}
	for _, t := range p.Transforms {
		seen[t.Type]++
		if seen[t.Type] > 1 {
			return nil, suite{}, false
		}
	}
	for _, o := range ours {
		if s, ok := pick(o, p, proto, withDH); ok {
			return p, s, true
		}
	}
	return nil, suite{}, false
}

// responseProposal renders the chosen suite as the one proposal of a
// response, keeping the initiator's proposal number.
func responseProposal(num uint8, proto message.ProtocolID, spi []byte, s suite, withDH bool) message.Proposal {
	mp := message.Proposal{Number: num, Protocol: proto, SPI: spi}
	mp.Transforms = append(mp.Transforms, message.Transform{Type: transform.TypeENCR, ID: s.encr.ID, KeyLength: uint16(s.encr.KeyBits)})
	if proto == message.ProtoIKE {
		mp.Transforms = append(mp.Transforms, message.Transform{Type: transform.TypePRF, ID: s.prf})
	}
	if s.integ != transform.IntegNone {
		mp.Transforms = append(mp.Transforms, message.Transform{Type: transform.TypeINTEG, ID: s.integ})
	}
	if withDH && s.dh != transform.DHNone {
		mp.Transforms = append(mp.Transforms, message.Transform{Type: transform.TypeDH, ID: s.dh})
	}
	if proto == message.ProtoESP {
		esn := transform.ESNNo
		if s.esn {
			esn = transform.ESNYes
		}
		mp.Transforms = append(mp.Transforms, message.Transform{Type: transform.TypeESN, ID: esn})
	}
	return mp
}

// dhGroupsOf lists the DH groups of our proposals in preference order.
func dhGroupsOf(props []transform.Proposal) []transform.ID {
	var out []transform.ID
	for _, p := range props {
		for _, g := range p.DH {
			if g == transform.DHNone {
				continue
			}
			dup := false
			for _, h := range out {
				dup = dup || h == g
			}
			if !dup {
				out = append(out, g)
			}
		}
	}
	return out
}

// pfsGroup is the DH group to use in CREATE_CHILD_SA for Child SAs: the
// first group of our ESP proposals, or DHNone.
func pfsGroup(props []transform.Proposal) transform.ID {
	for _, p := range props {
		for _, g := range p.DH {
			if g != transform.DHNone {
				return g
			}
		}
		return transform.DHNone
	}
	return transform.DHNone
}

// describe renders offered proposals for logs ("what each side offered").
func describe(ps []message.Proposal) string {
	out := ""
	for i := range ps {
		if i > 0 {
			out += ", "
		}
		out += describeOne(&ps[i])
	}
	return out
}

func describeOne(p *message.Proposal) string {
	tp := transform.Proposal{}
	for _, t := range p.Transforms {
		switch t.Type {
		case transform.TypeENCR:
			tp.Encr = append(tp.Encr, transform.Encr{ID: t.ID, KeyBits: int(t.KeyLength)})
		case transform.TypePRF:
			tp.PRF = append(tp.PRF, t.ID)
		case transform.TypeINTEG:
			tp.Integ = append(tp.Integ, t.ID)
		case transform.TypeDH:
			tp.DH = append(tp.DH, t.ID)
		case transform.TypeESN:
			tp.ESN = append(tp.ESN, t.ID)
		}
	}
	return tp.String()
}
