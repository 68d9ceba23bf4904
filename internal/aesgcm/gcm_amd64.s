//go:build amd64 && !purego

// AES-GCM pieces with VAES and VPCLMULQDQ on 512-bit registers. A ZMM
// register holds four 16-byte blocks ("lanes"); every loop iteration
// handles 16 blocks (256 bytes) in Z0-Z3. The last iteration loads and
// stores through byte masks K1-K4, so no byte outside the slices is
// read or written (masked-off bytes of a masked load do not fault).
//
// GHASH works on byte-reflected blocks (VPSHUFB with bswapMask) so that a
// block is one little-endian 128-bit integer with bit 127 the coefficient
// of x^0. The Go side (keysched.go) stores the powers H^k premultiplied
// by x; then the carry-less product of a block and a power needs no shift
// and is reduced with two multiplications by gfPoly (the "fold" below,
// clmulReduce in keysched.go is the same computation in Go).

#include "textflag.h"

// bswapMask reverses the bytes of each 128-bit lane.
DATA bswapMask<>+0(SB)/8, $0x08090a0b0c0d0e0f
DATA bswapMask<>+8(SB)/8, $0x0001020304050607
GLOBL bswapMask<>(SB), RODATA|NOPTR, $16

// gfPoly is 0xc2000000000000000000000000000001.
DATA gfPoly<>+0(SB)/8, $0x0000000000000001
DATA gfPoly<>+8(SB)/8, $0xc200000000000000
GLOBL gfPoly<>(SB), RODATA|NOPTR, $16

// laneInc adds 1, 2, 3, 4 to the counters of the four lanes (the low
// dword of a byte-reflected block is the block's last 32 bits).
DATA laneInc<>+0(SB)/8, $1
DATA laneInc<>+8(SB)/8, $0
DATA laneInc<>+16(SB)/8, $2
DATA laneInc<>+24(SB)/8, $0
DATA laneInc<>+32(SB)/8, $3
DATA laneInc<>+40(SB)/8, $0
DATA laneInc<>+48(SB)/8, $4
DATA laneInc<>+56(SB)/8, $0
GLOBL laneInc<>(SB), RODATA|NOPTR, $64

// inc4 advances every lane's counter by 4 (a 512-bit memory operand).
DATA inc4<>+0(SB)/8, $4
DATA inc4<>+8(SB)/8, $0
DATA inc4<>+16(SB)/8, $4
DATA inc4<>+24(SB)/8, $0
DATA inc4<>+32(SB)/8, $4
DATA inc4<>+40(SB)/8, $0
DATA inc4<>+48(SB)/8, $4
DATA inc4<>+56(SB)/8, $0
GLOBL inc4<>(SB), RODATA|NOPTR, $64

// MASKS sets K1-K4 to the byte masks of the next 256 bytes when CX bytes
// remain (CX > 0): chunk i gets min(max(CX-64i, 0), 64) low bits. BZHI
// keeps all 64 bits for an index of 64. Clobbers DX, R10, R11; needs
// R12 = 0 and R13 = 64.
#define MASKS \
	MOVQ $-1, R10 \
	MOVQ CX, DX \
	CMPQ DX, R13 \
	CMOVQGT R13, DX \
	BZHIQ DX, R10, R11 \
	KMOVQ R11, K1 \
	MOVQ CX, DX \
	SUBQ $64, DX \
	CMOVQLT R12, DX \
	CMPQ DX, R13 \
	CMOVQGT R13, DX \
	BZHIQ DX, R10, R11 \
	KMOVQ R11, K2 \
	MOVQ CX, DX \
	SUBQ $128, DX \
	CMOVQLT R12, DX \
	CMPQ DX, R13 \
	CMOVQGT R13, DX \
	BZHIQ DX, R10, R11 \
	KMOVQ R11, K3 \
	MOVQ CX, DX \
	SUBQ $192, DX \
	CMOVQLT R12, DX \
	CMPQ DX, R13 \
	CMOVQGT R13, DX \
	BZHIQ DX, R10, R11 \
	KMOVQ R11, K4

#define AESROUND(k) \
	VAESENC k, Z0, Z0 \
	VAESENC k, Z1, Z1 \
	VAESENC k, Z2, Z2 \
	VAESENC k, Z3, Z3

#define AESLAST(k) \
	VAESENCLAST k, Z0, Z0 \
	VAESENCLAST k, Z1, Z1 \
	VAESENCLAST k, Z2, Z2 \
	VAESENCLAST k, Z3, Z3

// MULACC multiplies the blocks in a by the powers in b lane by lane and
// XORs the three partial products into Z10 (low), Z11 (middle), Z13
// (high). Clobbers Z12.
#define MULACC(a, b) \
	VPCLMULQDQ $0x00, b, a, Z12 \
	VPXORD Z12, Z10, Z10 \
	VPCLMULQDQ $0x01, b, a, Z12 \
	VPXORD Z12, Z11, Z11 \
	VPCLMULQDQ $0x10, b, a, Z12 \
	VPXORD Z12, Z11, Z11 \
	VPCLMULQDQ $0x11, b, a, Z12 \
	VPXORD Z12, Z13, Z13

// POWPTR sets r to the powers for the next min(ceil(CX/16), 16) = b
// blocks: entry 16-b at BX, so the batch's last block gets H^1 and the
// lanes past it multiply by zero entries. Clobbers DX; needs R9 = 16.
#define POWPTR(r) \
	MOVQ CX, DX \
	ADDQ $15, DX \
	SHRQ $4, DX \
	CMPQ DX, R9 \
	CMOVQGT R9, DX \
	MOVQ R9, r \
	SUBQ DX, r \
	SHLQ $4, r \
	ADDQ BX, r

// ZEROACC clears the product accumulators.
#define ZEROACC \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11 \
	VPXORD Z13, Z13, Z13

// FOLD XORs the four lanes of Z13 into X8 (upper lanes of Z8 zeroed).
// Clobbers Z12.
#define FOLD \
	VEXTRACTI64X4 $1, Z13, Y12 \
	VPXOR Y12, Y13, Y13 \
	VEXTRACTI128 $1, Y13, X12 \
	VPXOR X12, X13, X8

// REDUCE reduces the products in Z10, Z11, Z13 into Z13, lane by lane.
// Needs Z9 = gfPoly; clobbers Z12.
#define REDUCE \
	VPCLMULQDQ $0x01, Z10, Z9, Z12 \
	VPSHUFD $0x4e, Z10, Z10 \
	VPXORD Z10, Z11, Z11 \
	VPXORD Z12, Z11, Z11 \
	VPCLMULQDQ $0x01, Z11, Z9, Z12 \
	VPSHUFD $0x4e, Z11, Z11 \
	VPXORD Z11, Z13, Z13 \
	VPXORD Z12, Z13, Z13

// GHASHBATCH folds the next min(CX, 256) bytes at SI (zero-padded to
// whole blocks) into the state X8 (Z8, upper lanes zero) with the powers
// at BX, and advances SI and CX by 256. Needs Z31 = bswapMask, Z9 =
// gfPoly, R9 = 16, R12 = 0, R13 = 64. Clobbers Z0-Z3, Z10-Z13, DX, R10,
// R11, R14, K1-K4.
#define GHASHBATCH \
	MASKS \
	VMOVDQU8.Z 0(SI), K1, Z0 \
	VMOVDQU8.Z 64(SI), K2, Z1 \
	VMOVDQU8.Z 128(SI), K3, Z2 \
	VMOVDQU8.Z 192(SI), K4, Z3 \
	VPSHUFB Z31, Z0, Z0 \
	VPSHUFB Z31, Z1, Z1 \
	VPSHUFB Z31, Z2, Z2 \
	VPSHUFB Z31, Z3, Z3 \
	VPXORD Z8, Z0, Z0 \
	POWPTR(R14) \
	ZEROACC \
	MULACC(Z0, 0(R14)) \
	MULACC(Z1, 64(R14)) \
	MULACC(Z2, 128(R14)) \
	MULACC(Z3, 192(R14)) \
	REDUCE \
	FOLD \
	ADDQ $256, SI \
	SUBQ $256, CX

// PROLOGUE writes AES(j0) to the tag (the epilogue XORs the hash
// into it; computing it first lets its latency overlap the hashing),
// loads the common registers and hashes the aad into X8: BX = powers, R9 = 16, R12 = 0, R13 = 64, Z31 = bswapMask, Z9 =
// gfPoly, then AX = round keys, R8 = nr, Z15 = the counters j0+1 …
// j0+4 (byte-reflected), Z16-Z30 = round keys 0-14 (AES-128 uses 0-10;
// the rest of rk is in bounds), SI = src, DI = dst, CX = len(src).
#define PROLOGUE \
	MOVQ rk+0(FP), AX \
	MOVQ nr+8(FP), R8 \
	MOVQ j0+32(FP), DX \
	MOVQ tag+24(FP), DI \
	VMOVDQU (DX), X0 \
	VPXOR 0(AX), X0, X0 \
	VAESENC 16(AX), X0, X0 \
	VAESENC 32(AX), X0, X0 \
	VAESENC 48(AX), X0, X0 \
	VAESENC 64(AX), X0, X0 \
	VAESENC 80(AX), X0, X0 \
	VAESENC 96(AX), X0, X0 \
	VAESENC 112(AX), X0, X0 \
	VAESENC 128(AX), X0, X0 \
	VAESENC 144(AX), X0, X0 \
	CMPQ R8, $10 \
	JE j0Last128 \
	VAESENC 160(AX), X0, X0 \
	VAESENC 176(AX), X0, X0 \
	VAESENC 192(AX), X0, X0 \
	VAESENC 208(AX), X0, X0 \
	VAESENCLAST 224(AX), X0, X0 \
	JMP j0Done \
j0Last128: \
	VAESENCLAST 160(AX), X0, X0 \
j0Done: \
	VMOVDQU X0, (DI) \
	MOVQ p+16(FP), BX \
	XORQ R12, R12 \
	MOVQ $64, R13 \
	MOVQ $16, R9 \
	VBROADCASTI32X4 bswapMask<>(SB), Z31 \
	VBROADCASTI32X4 gfPoly<>(SB), Z9 \
	VPXOR X8, X8, X8 \
	MOVQ aad_base+40(FP), SI \
	MOVQ aad_len+48(FP), CX \
	TESTQ CX, CX \
	JZ aadDone \
aadLoop: \
	GHASHBATCH \
	JG aadLoop \
aadDone: \
	MOVQ j0+32(FP), DX \
	VBROADCASTI32X4 (DX), Z15 \
	VPSHUFB Z31, Z15, Z15 \
	VPADDD laneInc<>(SB), Z15, Z15 \
	VBROADCASTI32X4 0(AX), Z16 \
	VBROADCASTI32X4 16(AX), Z17 \
	VBROADCASTI32X4 32(AX), Z18 \
	VBROADCASTI32X4 48(AX), Z19 \
	VBROADCASTI32X4 64(AX), Z20 \
	VBROADCASTI32X4 80(AX), Z21 \
	VBROADCASTI32X4 96(AX), Z22 \
	VBROADCASTI32X4 112(AX), Z23 \
	VBROADCASTI32X4 128(AX), Z24 \
	VBROADCASTI32X4 144(AX), Z25 \
	VBROADCASTI32X4 160(AX), Z26 \
	VBROADCASTI32X4 176(AX), Z27 \
	VBROADCASTI32X4 192(AX), Z28 \
	VBROADCASTI32X4 208(AX), Z29 \
	VBROADCASTI32X4 224(AX), Z30 \
	MOVQ dst_base+64(FP), DI \
	MOVQ src_base+88(FP), SI \
	MOVQ src_len+96(FP), CX

// COUNTERS puts the next 16 counter blocks, in byte order and XORed
// with round key 0, in Z0-Z3, and advances Z15.
#define COUNTERS \
	VPSHUFB Z31, Z15, Z0 \
	VPADDD  inc4<>(SB), Z15, Z15 \
	VPSHUFB Z31, Z15, Z1 \
	VPADDD  inc4<>(SB), Z15, Z15 \
	VPSHUFB Z31, Z15, Z2 \
	VPADDD  inc4<>(SB), Z15, Z15 \
	VPSHUFB Z31, Z15, Z3 \
	VPADDD  inc4<>(SB), Z15, Z15 \
	VPXORD Z16, Z0, Z0 \
	VPXORD Z16, Z1, Z1 \
	VPXORD Z16, Z2, Z2 \
	VPXORD Z16, Z3, Z3

// EPILOGUE hashes the length block into X8 and XORs the hash into the
// tag, which holds AES(j0) from the prologue. The length block reflected: low half ct bits,
// high half aad bits.
#define EPILOGUE \
	MOVQ src_len+96(FP), DX \
	SHLQ $3, DX \
	MOVQ DX, X0 \
	MOVQ aad_len+48(FP), DX \
	SHLQ $3, DX \
	VPINSRQ $1, DX, X0, X0 \
	VPXOR X8, X0, X0 \
	VMOVDQU 240(BX), X4 \
	ZEROACC \
	MULACC(Z0, Z4) \
	REDUCE \
	VPSHUFB X31, X13, X13 \
	MOVQ tag+24(FP), DI \
	VPXOR (DI), X13, X13 \
	VMOVDQU X13, (DI) \
	VZEROUPPER \
	RET

// AESTAIL runs AES rounds 7 to the last on Z0-Z3 (nr in R8, 10 or 14)
// and continues at label done; l128 is a label name for the macro's use.
#define AESTAIL(l128, done) \
	AESROUND(Z23) \
	AESROUND(Z24) \
	AESROUND(Z25) \
	CMPQ R8, $10 \
	JE l128 \
	AESROUND(Z26) \
	AESROUND(Z27) \
	AESROUND(Z28) \
	AESROUND(Z29) \
	AESLAST(Z30) \
	JMP done \
l128: \
	AESLAST(Z26) \
done:

// XORSTORE XORs Z4-Z7 into the keystream in Z0-Z3 and stores the result
// at DI through the masks K1-K4.
#define XORSTORE \
	VPXORD Z4, Z0, Z0 \
	VPXORD Z5, Z1, Z1 \
	VPXORD Z6, Z2, Z2 \
	VPXORD Z7, Z3, Z3 \
	VMOVDQU8 Z0, K1, 0(DI) \
	VMOVDQU8 Z1, K2, 64(DI) \
	VMOVDQU8 Z2, K3, 128(DI) \
	VMOVDQU8 Z3, K4, 192(DI)

// func gcmSeal(rk *[240]byte, nr int, p *[32][16]byte, tag, j0 *[16]byte, aad, dst, src []byte)
//
// Seal, stitched: iteration i encrypts the counters of 16-block chunk i
// while it multiplies chunk i-1's ciphertext (byte-reflected in Z4-Z7,
// the hash state already XORed into its first block; powers at R14) by
// the key powers, reduces once per chunk, and then XORs chunk i with
// the keystream and keeps its ciphertext in Z4-Z7 for the next
// iteration. The first iteration has no previous chunk: Z4-Z7 are zero
// with the zero powers (R14 = BX+256), and Z14 carries the aad's hash
// into the high accumulator instead. After the loop the last chunk is
// hashed alone.
TEXT ·gcmSeal(SB), NOSPLIT, $0-112
	PROLOGUE
	TESTQ CX, CX
	JZ sealLengths

	VMOVDQA64 Z8, Z14
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	LEAQ 256(BX), R14

sealLoop:
	MASKS
	COUNTERS
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VMOVDQA64 Z14, Z13
	VPXORD Z14, Z14, Z14
	AESROUND(Z17)
	MULACC(Z4, 0(R14))
	AESROUND(Z18)
	MULACC(Z5, 64(R14))
	AESROUND(Z19)
	MULACC(Z6, 128(R14))
	AESROUND(Z20)
	MULACC(Z7, 192(R14))
	AESROUND(Z21)
	REDUCE
	AESROUND(Z22)
	FOLD
	AESTAIL(sealLast128, sealXor)
	VMOVDQU8.Z 0(SI), K1, Z4
	VMOVDQU8.Z 64(SI), K2, Z5
	VMOVDQU8.Z 128(SI), K3, Z6
	VMOVDQU8.Z 192(SI), K4, Z7
	XORSTORE
	// The ciphertext to hash next: masked-off bytes zero (they hold
	// keystream in Z0-Z3), byte-reflected, the state in the first block.
	VMOVDQU8.Z Z0, K1, Z4
	VMOVDQU8.Z Z1, K2, Z5
	VMOVDQU8.Z Z2, K3, Z6
	VMOVDQU8.Z Z3, K4, Z7
	VPSHUFB Z31, Z4, Z4
	VPSHUFB Z31, Z5, Z5
	VPSHUFB Z31, Z6, Z6
	VPSHUFB Z31, Z7, Z7
	VPXORD Z8, Z4, Z4
	POWPTR(R14)

	ADDQ $256, SI
	ADDQ $256, DI
	SUBQ $256, CX
	JG sealLoop

	ZEROACC
	MULACC(Z4, 0(R14))
	MULACC(Z5, 64(R14))
	MULACC(Z6, 128(R14))
	MULACC(Z7, 192(R14))
	REDUCE
	FOLD

sealLengths:
	EPILOGUE

// func gcmOpen(rk *[240]byte, nr int, p *[32][16]byte, tag, j0 *[16]byte, aad, dst, src []byte)
//
// Open, stitched: each iteration loads a 16-block chunk of ciphertext
// (all of it before anything is stored, so dst may be src), multiplies
// its blocks by the key powers while the AES rounds of their counters
// run (Z14 holds one byte-reflected block at a time), reduces once, and
// XORs the keystream into dst. tag gets the computed tag; the caller
// compares it.
TEXT ·gcmOpen(SB), NOSPLIT, $0-112
	PROLOGUE
	TESTQ CX, CX
	JZ openLengths

openLoop:
	MASKS
	POWPTR(R14)
	VMOVDQU8.Z 0(SI), K1, Z4
	VMOVDQU8.Z 64(SI), K2, Z5
	VMOVDQU8.Z 128(SI), K3, Z6
	VMOVDQU8.Z 192(SI), K4, Z7
	COUNTERS
	ZEROACC
	VPSHUFB Z31, Z4, Z14
	VPXORD Z8, Z14, Z14
	AESROUND(Z17)
	MULACC(Z14, 0(R14))
	VPSHUFB Z31, Z5, Z14
	AESROUND(Z18)
	MULACC(Z14, 64(R14))
	VPSHUFB Z31, Z6, Z14
	AESROUND(Z19)
	MULACC(Z14, 128(R14))
	VPSHUFB Z31, Z7, Z14
	AESROUND(Z20)
	MULACC(Z14, 192(R14))
	AESROUND(Z21)
	REDUCE
	AESROUND(Z22)
	FOLD
	AESTAIL(openLast128, openXor)
	XORSTORE

	ADDQ $256, SI
	ADDQ $256, DI
	SUBQ $256, CX
	JG openLoop

openLengths:
	EPILOGUE

// func subWord(w uint32) uint32
// AESKEYGENASSIST's low dword is SubWord of the source's second dword;
// the S-box works bytewise, so the bytes' order does not matter.
TEXT ·subWord(SB), NOSPLIT, $0-12
	MOVL w+0(FP), AX
	MOVQ AX, X0
	PSHUFD $0x00, X0, X0
	AESKEYGENASSIST $0x00, X0, X1
	MOVQ X1, AX
	MOVL AX, ret+8(FP)
	RET

// func clmul(a, b uint64) u128
TEXT ·clmul(SB), NOSPLIT, $0-32
	MOVQ a+0(FP), X0
	MOVQ b+8(FP), X1
	PCLMULQDQ $0x00, X1, X0
	MOVQ X0, ret_lo+16(FP)
	PEXTRQ $1, X0, AX
	MOVQ AX, ret_hi+24(FP)
	RET

// func encryptBlock(rk *[15 * 16]byte, nr int, dst, src *[16]byte)
TEXT ·encryptBlock(SB), NOSPLIT, $0-32
	MOVQ rk+0(FP), AX
	MOVQ nr+8(FP), CX
	MOVQ dst+16(FP), DI
	MOVQ src+24(FP), SI
	MOVOU (SI), X0
	MOVOU (AX), X1
	PXOR X1, X0
	DECQ CX

encRound:
	ADDQ $16, AX
	MOVOU (AX), X1
	AESENC X1, X0
	DECQ CX
	JNZ encRound
	ADDQ $16, AX
	MOVOU (AX), X1
	AESENCLAST X1, X0
	MOVOU X0, (DI)
	RET
