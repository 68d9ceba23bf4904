package aesgcm

import (
	"encoding/binary"
	"math/bits"
)

// newKeySched expands key (16 or 32 bytes) into AES round keys and
// computes the GHASH key powers of H = AES_K(0^128).
func newKeySched(key []byte) *keySched {
	k := &keySched{nr: 6 + len(key)/4}
	expandKey(k.rk[:16*(k.nr+1)], key)
	var h [16]byte
	encryptBlock(&k.rk, k.nr, &h, &h)
	ghashPowers(&k.powers, &h)
	return k
}

// expandKey is the AES key expansion of FIPS 197 section 5.2: rk gets
// the round keys as the byte strings AESENC takes. On amd64 subWord is
// AESKEYGENASSIST: constant time, where computing the S-box in Go was
// neither constant nor cheap (15 % of the agent's CPU while 10,000
// point-to-site clients connected; New took 9.4 µs, now 1.3).
func expandKey(rk, key []byte) {
	nk := len(key) / 4
	var words [4 * 15]uint32 // AES-256's 15 round keys at most
	w := words[:len(rk)/4]
	for i := range nk {
		w[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	rcon := uint32(1)
	for i := nk; i < len(w); i++ {
		t := w[i-1]
		switch {
		case i%nk == 0:
			t = subWord(bits.RotateLeft32(t, 8)) ^ rcon<<24
			rcon = rcon<<1 ^ rcon>>7*0x11b // times x in GF(2^8)
		case nk > 6 && i%nk == 4:
			t = subWord(t)
		}
		w[i] = w[i-nk] ^ t
	}
	for i, v := range w {
		binary.BigEndian.PutUint32(rk[4*i:], v)
	}
}

// u128 is a GHASH field element as the assembly holds it: the 16-byte
// block byte-reversed, read as a little-endian 128-bit integer (so the
// block's first byte is the high byte). In this form bit 127 is the
// coefficient of x^0.
type u128 struct{ lo, hi uint64 }

// gfPolyHi is the high half of 0xc2000000000000000000000000000001, the
// reduction constant of GHASH's polynomial in the reflected form.
const gfPolyHi = 0xc200000000000000

// ghashPowers stores H^16 … H^1 of the hash key h (a block) into p[0:16],
// as H^k·x in reflected form: with that extra factor x the reflected
// product of clmulReduce comes out aligned.
func ghashPowers(p *[32][16]byte, h *[16]byte) {
	hk := u128{lo: binary.BigEndian.Uint64(h[8:]), hi: binary.BigEndian.Uint64(h[:8])}
	// H·x: shift left by one, reducing the carried-out bit.
	carry := hk.hi >> 63
	hk.hi = hk.hi<<1 | hk.lo>>63
	hk.lo <<= 1
	if carry != 0 {
		hk.lo ^= 1
		hk.hi ^= gfPolyHi
	}
	cur := hk
	for i := 15; i >= 0; i-- {
		binary.LittleEndian.PutUint64(p[i][:8], cur.lo)
		binary.LittleEndian.PutUint64(p[i][8:], cur.hi)
		cur = clmulReduce(cur, hk)
	}
	clear(p[16:])
}

// clmulReduce is the assembly's multiply in Go: for a = A·x and b = B·x
// (reflected form) it returns A·B·x; for a block X (no factor) times
// b = B·x it returns X·B. It runs only at key setup.
func clmulReduce(a, b u128) u128 {
	lo := clmul(a.lo, b.lo)
	hi := clmul(a.hi, b.hi)
	m1, m2 := clmul(a.lo, b.hi), clmul(a.hi, b.lo)
	mi := u128{m1.lo ^ m2.lo, m1.hi ^ m2.hi}
	// Fold the low 64 bits into the middle, then the middle into the high.
	t := clmul(lo.lo, gfPolyHi)
	mi.lo ^= lo.hi ^ t.lo
	mi.hi ^= lo.lo ^ t.hi
	t = clmul(mi.lo, gfPolyHi)
	hi.lo ^= mi.hi ^ t.lo
	hi.hi ^= mi.lo ^ t.hi
	return hi
}
