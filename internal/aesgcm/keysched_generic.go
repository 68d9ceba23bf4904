package aesgcm

import "math/bits"

// The key setup's two primitives in portable Go: the AES S-box on a word
// (subWord) and the carry-less 64×64-bit product (clmul). They are the
// portable build's definitions and what the tests check the amd64
// assembly against. Both branch on their (secret) inputs, so their time
// depends on the key: the amd64 build, the only one that expands keys
// for the assembly, uses AESKEYGENASSIST and PCLMULQDQ instead.

func subWordGeneric(w uint32) uint32 {
	return uint32(sbox(byte(w>>24)))<<24 | uint32(sbox(byte(w>>16)))<<16 |
		uint32(sbox(byte(w>>8)))<<8 | uint32(sbox(byte(w)))
}

// sbox is the AES S-box computed from its definition (the inverse in
// GF(2^8) followed by the affine map).
func sbox(x byte) byte {
	inv := byte(0) // 0 maps to 0
	if x != 0 {
		// x^254 = x^-1
		inv = 1
		for e, p := 254, x; e > 0; e >>= 1 {
			if e&1 == 1 {
				inv = gfMul(inv, p)
			}
			p = gfMul(p, p)
		}
	}
	return inv ^ bits.RotateLeft8(inv, 1) ^ bits.RotateLeft8(inv, 2) ^
		bits.RotateLeft8(inv, 3) ^ bits.RotateLeft8(inv, 4) ^ 0x63
}

// gfMul multiplies in GF(2^8) modulo x^8+x^4+x^3+x+1.
func gfMul(a, b byte) byte {
	var p byte
	for b != 0 {
		if b&1 == 1 {
			p ^= a
		}
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0x1b
		}
		b >>= 1
	}
	return p
}

// clmulGeneric is the carry-less product of two 64-bit values.
func clmulGeneric(a, b uint64) u128 {
	var r u128
	for i := range 64 {
		if b>>i&1 == 1 {
			r.lo ^= a << i
			if i > 0 {
				r.hi ^= a >> (64 - i)
			}
		}
	}
	return r
}
