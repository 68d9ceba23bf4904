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

// inc4 advances every lane's counter by 4.
DATA inc4<>+0(SB)/8, $4
DATA inc4<>+8(SB)/8, $0
GLOBL inc4<>(SB), RODATA|NOPTR, $16

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

// func ctr32(rk *[240]byte, nr int, j0 *[16]byte, dst, src []byte)
TEXT ·ctr32(SB), NOSPLIT, $0-72
	MOVQ rk+0(FP), AX
	MOVQ nr+8(FP), R8
	MOVQ j0+16(FP), BX
	MOVQ dst_base+24(FP), DI
	MOVQ src_base+48(FP), SI
	MOVQ src_len+56(FP), CX
	TESTQ CX, CX
	JZ ctrDone
	XORQ R12, R12
	MOVQ $64, R13

	VBROADCASTI32X4 bswapMask<>(SB), Z31
	VBROADCASTI32X4 (BX), Z15
	VPSHUFB Z31, Z15, Z15
	VPADDD laneInc<>(SB), Z15, Z15 // lanes j0+1 … j0+4
	VBROADCASTI32X4 inc4<>(SB), Z14

	// Round keys 0-14 in Z16-Z30 (AES-128 uses 0-10; the rest of rk is
	// in bounds).
	VBROADCASTI32X4 0(AX), Z16
	VBROADCASTI32X4 16(AX), Z17
	VBROADCASTI32X4 32(AX), Z18
	VBROADCASTI32X4 48(AX), Z19
	VBROADCASTI32X4 64(AX), Z20
	VBROADCASTI32X4 80(AX), Z21
	VBROADCASTI32X4 96(AX), Z22
	VBROADCASTI32X4 112(AX), Z23
	VBROADCASTI32X4 128(AX), Z24
	VBROADCASTI32X4 144(AX), Z25
	VBROADCASTI32X4 160(AX), Z26
	VBROADCASTI32X4 176(AX), Z27
	VBROADCASTI32X4 192(AX), Z28
	VBROADCASTI32X4 208(AX), Z29
	VBROADCASTI32X4 224(AX), Z30

ctrLoop:
	MASKS

	VPSHUFB Z31, Z15, Z0
	VPADDD  Z14, Z15, Z15
	VPSHUFB Z31, Z15, Z1
	VPADDD  Z14, Z15, Z15
	VPSHUFB Z31, Z15, Z2
	VPADDD  Z14, Z15, Z15
	VPSHUFB Z31, Z15, Z3
	VPADDD  Z14, Z15, Z15

	VPXORD Z16, Z0, Z0
	VPXORD Z16, Z1, Z1
	VPXORD Z16, Z2, Z2
	VPXORD Z16, Z3, Z3
	AESROUND(Z17)
	AESROUND(Z18)
	AESROUND(Z19)
	AESROUND(Z20)
	AESROUND(Z21)
	AESROUND(Z22)
	AESROUND(Z23)
	AESROUND(Z24)
	AESROUND(Z25)
	CMPQ R8, $10
	JE ctrLast128
	AESROUND(Z26)
	AESROUND(Z27)
	AESROUND(Z28)
	AESROUND(Z29)
	AESLAST(Z30)
	JMP ctrXor

ctrLast128:
	AESLAST(Z26)

ctrXor:
	VMOVDQU8.Z 0(SI), K1, Z4
	VMOVDQU8.Z 64(SI), K2, Z5
	VMOVDQU8.Z 128(SI), K3, Z6
	VMOVDQU8.Z 192(SI), K4, Z7
	VPXORD Z4, Z0, Z0
	VPXORD Z5, Z1, Z1
	VPXORD Z6, Z2, Z2
	VPXORD Z7, Z3, Z3
	VMOVDQU8 Z0, K1, 0(DI)
	VMOVDQU8 Z1, K2, 64(DI)
	VMOVDQU8 Z2, K3, 128(DI)
	VMOVDQU8 Z3, K4, 192(DI)

	ADDQ $256, SI
	ADDQ $256, DI
	SUBQ $256, CX
	JG ctrLoop

	VZEROUPPER

ctrDone:
	RET

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

// GHASHBATCH folds the next min(CX, 256) bytes at SI (zero-padded to
// whole blocks) into the state X8 (Z8, upper lanes zero) with the powers
// at BX, and advances SI and CX by 256. Needs Z31 = bswapMask, Z30 =
// gfPoly, R9 = 16, R12 = 0, R13 = 64. Clobbers Z0-Z7, Z10-Z13, DX, R10,
// R11, K1-K4.
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
	MOVQ CX, DX \
	ADDQ $15, DX \
	SHRQ $4, DX \
	CMPQ DX, R9 \
	CMOVQGT R9, DX \
	MOVQ R9, R10 \
	SUBQ DX, R10 \
	SHLQ $4, R10 \
	ADDQ BX, R10 \
	VMOVDQU64 0(R10), Z4 \
	VMOVDQU64 64(R10), Z5 \
	VMOVDQU64 128(R10), Z6 \
	VMOVDQU64 192(R10), Z7 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11 \
	VPXORD Z13, Z13, Z13 \
	MULACC(Z0, Z4) \
	MULACC(Z1, Z5) \
	MULACC(Z2, Z6) \
	MULACC(Z3, Z7) \
	REDUCE \
	VEXTRACTI64X4 $1, Z13, Y12 \
	VPXOR Y12, Y13, Y13 \
	VEXTRACTI128 $1, Y13, X12 \
	VPXOR X12, X13, X8 \
	ADDQ $256, SI \
	SUBQ $256, CX

// REDUCE reduces the products in Z10, Z11, Z13 into Z13, lane by lane.
#define REDUCE \
	VPCLMULQDQ $0x01, Z10, Z30, Z12 \
	VPSHUFD $0x4e, Z10, Z10 \
	VPXORD Z10, Z11, Z11 \
	VPXORD Z12, Z11, Z11 \
	VPCLMULQDQ $0x01, Z11, Z30, Z12 \
	VPSHUFD $0x4e, Z11, Z11 \
	VPXORD Z11, Z13, Z13 \
	VPXORD Z12, Z13, Z13

// func gcmTag(rk *[240]byte, nr int, p *[32][16]byte, tag, j0 *[16]byte, aad, ct []byte)
//
// The GCM tag: GHASH of aad, ct and the length block, XORed with the
// encrypted pre-counter block j0.
TEXT ·gcmTag(SB), NOSPLIT, $0-88
	MOVQ p+16(FP), BX
	XORQ R12, R12
	MOVQ $64, R13
	MOVQ $16, R9
	VBROADCASTI32X4 bswapMask<>(SB), Z31
	VBROADCASTI32X4 gfPoly<>(SB), Z30
	VPXOR X8, X8, X8
	MOVQ aad_base+40(FP), SI
	MOVQ aad_len+48(FP), CX
	XORQ R8, R8 // 0 while hashing aad, 1 while hashing ct

tagSegment:
	TESTQ CX, CX
	JZ tagNextSegment

tagLoop:
	GHASHBATCH
	JG tagLoop

tagNextSegment:
	TESTQ R8, R8
	JNZ tagLengths
	INCQ R8
	MOVQ ct_base+64(FP), SI
	MOVQ ct_len+72(FP), CX
	JMP tagSegment

tagLengths:
	// The length block reflected: low half ct bits, high half aad bits.
	MOVQ ct_len+72(FP), DX
	SHLQ $3, DX
	MOVQ DX, X0
	MOVQ aad_len+48(FP), DX
	SHLQ $3, DX
	VPINSRQ $1, DX, X0, X0
	VPXOR X8, X0, X0
	VMOVDQU 240(BX), X4 // H^1
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z13, Z13, Z13
	MULACC(Z0, Z4)
	REDUCE
	VPSHUFB X31, X13, X13 // back to byte order

	// X13 ^= AES(j0)
	MOVQ rk+0(FP), AX
	MOVQ nr+8(FP), CX
	MOVQ j0+32(FP), DX
	VMOVDQU (DX), X0
	VPXOR (AX), X0, X0
	ADDQ $16, AX
	DECQ CX

tagAES:
	VAESENC (AX), X0, X0
	ADDQ $16, AX
	DECQ CX
	JNZ tagAES
	VAESENCLAST (AX), X0, X0
	VPXOR X0, X13, X13
	MOVQ tag+24(FP), DI
	VMOVDQU X13, (DI)
	VZEROUPPER
	RET
