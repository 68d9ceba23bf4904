package transform

import (
	"crypto/hmac"
	"fmt"
	"hash"
)

// NewPRF returns the pseudo-random function id. The HMAC PRFs are
// implemented: PRF_HMAC_MD5, PRF_HMAC_SHA1 (RFC 2104) and
// PRF_HMAC_SHA2_256/384/512 (RFC 4868 §2.1.2); others yield ErrUnsupported.
func NewPRF(id ID) (PRF, error) {
	h, ok := prfAlgs[id]
	if !ok {
		return nil, fmt.Errorf("%w: PRF %s", ErrUnsupported, Name(TypePRF, id))
	}
	return &hmacPRF{id: id, hash: h, size: h().Size()}, nil
}

// hmacPRF is an HMAC used as a PRF. HMAC takes keys of any length, which
// RFC 7296 §2.13 relies on (SKEYSEED is keyed with Ni ‖ Nr whole).
type hmacPRF struct {
	id   ID
	hash func() hash.Hash
	size int
}

func (p *hmacPRF) ID() ID    { return p.id }
func (p *hmacPRF) Size() int { return p.size }

func (p *hmacPRF) Sum(dst, key []byte, data ...[]byte) []byte {
	m := hmac.New(p.hash, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(dst)
}

// keyed returns the HMAC keyed with key, for many inputs under one key.
func (p *hmacPRF) keyed(key []byte) hash.Hash { return hmac.New(p.hash, key) }

// keyedPRF is a PRF that can be keyed once for several inputs: prf+
// computes all its blocks under one key, and keying an HMAC (two hash
// states and two compressions) cost as much as a block.
type keyedPRF interface {
	keyed(key []byte) hash.Hash
}

// PRFPlus returns the first n bytes of prf+(key, seed) (RFC 7296 §2.13):
//
//	prf+ (K,S) = T1 | T2 | T3 | T4 | ...
//	T1 = prf (K, S | 0x01)
//	Tn = prf (K, Tn-1 | S | n)
//
// The single-octet counter limits the output to 255 blocks; asking for
// more than 255·prf.Size() bytes is a programming error and panics (the
// Derive functions check their lengths and return an error instead).
func PRFPlus(prf PRF, key, seed []byte, n int) []byte {
	size := prf.Size()
	if n > 255*size {
		panic(fmt.Sprintf("transform: prf+ of %d bytes exceeds 255 blocks of %d bytes", n, size))
	}
	if n <= 0 {
		return []byte{}
	}
	out := make([]byte, 0, n+size)
	var prev []byte
	if k, ok := prf.(keyedPRF); ok {
		m := k.keyed(key)
		var ctr [1]byte
		for i := 1; len(out) < n; i++ {
			if i > 1 {
				m.Reset()
			}
			m.Write(prev)
			m.Write(seed)
			ctr[0] = byte(i)
			m.Write(ctr[:])
			start := len(out)
			out = m.Sum(out)
			prev = out[start:len(out):len(out)]
		}
		return out[:n:n]
	}
	for i := 1; len(out) < n; i++ {
		start := len(out)
		out = prf.Sum(out, key, prev, seed, []byte{byte(i)})
		prev = out[start:len(out):len(out)]
	}
	return out[:n:n]
}
