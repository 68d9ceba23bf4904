//go:build !amd64 || purego

package aesgcm

// hasAsm is false: there is no assembly for this architecture.
const hasAsm = false

func gcmSeal(rk *[15 * 16]byte, nr int, p *[32][16]byte, tag, j0 *[16]byte, aad, dst, src []byte) {
	panic("aesgcm: no assembly")
}

func gcmOpen(rk *[15 * 16]byte, nr int, p *[32][16]byte, tag, j0 *[16]byte, aad, dst, src []byte) {
	panic("aesgcm: no assembly")
}

func encryptBlock(rk *[15 * 16]byte, nr int, dst, src *[16]byte) {
	panic("aesgcm: no assembly")
}

// hasKeyAsm is true: subWord and clmul are portable Go here.
const hasKeyAsm = true

func subWord(w uint32) uint32 { return subWordGeneric(w) }

func clmul(a, b uint64) u128 { return clmulGeneric(a, b) }
