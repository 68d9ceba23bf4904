//go:build amd64 && !purego

package aesgcm

import "golang.org/x/sys/cpu"

// hasAsm reports whether the CPU runs gcm_amd64.s: VAES and VPCLMULQDQ on
// 512-bit registers (AVX-512 F, VL, BW for the byte masks) and BMI2.
var hasAsm = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW &&
	cpu.X86.HasAVX512VAES && cpu.X86.HasAVX512VPCLMULQDQ && cpu.X86.HasBMI2 &&
	cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ

// gcmSeal encrypts src into dst (len(dst) >= len(src)) with the AES-CTR
// keystream of the counter blocks j0+1, j0+2, … (the last 32 bits
// counting big-endian, mod 2^32) and writes the GCM tag of aad and the
// ciphertext to tag: GHASH with the key powers p, XORed with the
// encryption of j0. One pass: the hashing of each 16-block chunk of
// ciphertext overlaps the encryption of the next. rk holds nr+1 round
// keys, nr 10 or 14. dst may be src exactly.
//
//go:noescape
func gcmSeal(rk *[15 * 16]byte, nr int, p *[32][16]byte, tag, j0 *[16]byte, aad, dst, src []byte)

// gcmOpen decrypts src into dst as gcmSeal encrypts and writes the GCM
// tag of aad and src (the ciphertext) to tag, hashing each chunk while
// its keystream is computed; the caller compares the tag. dst may be
// src exactly.
//
//go:noescape
func gcmOpen(rk *[15 * 16]byte, nr int, p *[32][16]byte, tag, j0 *[16]byte, aad, dst, src []byte)

// hasKeyAsm reports whether the CPU runs subWord and clmul.
var hasKeyAsm = cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ

// subWord applies the AES S-box to each byte of w (AESKEYGENASSIST).
func subWord(w uint32) uint32

// clmul is the carry-less product of two 64-bit values (PCLMULQDQ).
func clmul(a, b uint64) u128

// encryptBlock encrypts src into dst with the nr+1 round keys rk (AESENC).
//
//go:noescape
func encryptBlock(rk *[15 * 16]byte, nr int, dst, src *[16]byte)
