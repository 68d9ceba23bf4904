//go:build amd64 && !purego

package aesgcm

import "golang.org/x/sys/cpu"

// hasAsm reports whether the CPU runs gcm_amd64.s: VAES and VPCLMULQDQ on
// 512-bit registers (AVX-512 F, VL, BW for the byte masks) and BMI2.
var hasAsm = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW &&
	cpu.X86.HasAVX512VAES && cpu.X86.HasAVX512VPCLMULQDQ && cpu.X86.HasBMI2 &&
	cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ

// ctr32 XORs src with the AES-CTR keystream of the counter blocks j0+1,
// j0+2, … (the last 32 bits counting big-endian, mod 2^32) into dst,
// len(dst) >= len(src). rk holds nr+1 round keys, nr 10 or 14.
//
//go:noescape
func ctr32(rk *[15 * 16]byte, nr int, j0 *[16]byte, dst, src []byte)

// gcmTag computes the GCM tag of ciphertext ct and aad into tag: GHASH
// with the key powers p, XORed with the encryption of the pre-counter
// block j0.
//
//go:noescape
func gcmTag(rk *[15 * 16]byte, nr int, p *[32][16]byte, tag, j0 *[16]byte, aad, ct []byte)
