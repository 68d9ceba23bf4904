//go:build !amd64 || purego

package aesgcm

// hasAsm is false: there is no assembly for this architecture.
const hasAsm = false

func ctr32(rk *[15 * 16]byte, nr int, j0 *[16]byte, dst, src []byte) {
	panic("aesgcm: no assembly")
}

func gcmTag(rk *[15 * 16]byte, nr int, p *[32][16]byte, tag, j0 *[16]byte, aad, ct []byte) {
	panic("aesgcm: no assembly")
}
