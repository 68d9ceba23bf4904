//go:build !amd64 || purego

package aesgcm

// hasAsm is false: there is no assembly for this architecture.
const hasAsm = false

func ctr32(rk *[15 * 16]byte, nr int, j0 *[16]byte, dst, src []byte) {
	panic("aesgcm: no assembly")
}

func ghash(y *[16]byte, p *[32][16]byte, data []byte) { panic("aesgcm: no assembly") }

func encBlock(rk *[15 * 16]byte, nr int, dst, src *[16]byte) { panic("aesgcm: no assembly") }
