// Package message implements the IKEv2 wire format (RFC 7296 §3): the IKE
// header, every payload, the Encrypted and Authenticated (SK) payload with
// AEAD ciphers (RFC 5282) or encrypt-then-MAC, and IKE fragmentation with
// the Encrypted Fragment (SKF) payload (RFC 7383).
//
// It is pure: no sockets, no state beyond a Reassembler's fragments. The
// IKE engine (package ike) builds Messages and encodes them with Encode
// (IKE_SA_INIT), EncodeProtected or EncodeFragments, and parses received
// datagrams with Decode or a Reassembler. Parsing is bounds-checked and
// strict about every length field; it never panics on any input (see the
// fuzz tests) and rejects messages over MaxMessageLen and payload lists over
// the Max* limits.
//
// A message as it travels in one UDP datagram (after the non-ESP marker on
// port 4500):
//
//	                     1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       IKE SA Initiator's SPI                  |
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       IKE SA Responder's SPI                  |
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Payload | MjVer | MnVer | Exchange Type |  Flags: R V I |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                          Message ID                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                   Length (whole message)                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  28 bytes
//	| Next Payload  |C|  RESERVED   |         Payload Length        |  generic
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  payload
//	~                  payload body (SA, KE, Ni, N, ...)            ~  header
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~           more payloads, chained by Next Payload              ~
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Unprotected messages (IKE_SA_INIT) chain their payloads directly. All
// later messages carry exactly one SK payload, whose Next Payload is the
// type of the first inner payload:
//
//	IKE header (Next Payload = SK) ─┐
//	SK generic header ──────────────┴─ AAD (AEAD) / start of the ICV input
//	IV
//	encrypted { inner payloads ‖ padding ‖ Pad Length }   (multiple of Align)
//	ICV  = AEAD tag, or MAC(IKE header … ciphertext)
//
// An SKF fragment (RFC 7383) is the same with Fragment Number and Total
// Fragments after the generic header (both inside the AAD), a chunk of the
// inner payloads instead of all of them, and Next Payload set only in
// fragment 1.
//
// Payload bodies in this package's types map one to one to RFC 7296 §3.3 –
// §3.16; unknown payload types are kept as *Unknown unless their Critical
// bit is set, which fails decoding with *CriticalPayloadError.
package message
