// Package isakmp is the IKEv1 wire format: the ISAKMP header and payloads of
// RFC 2408 with the IPsec DOI of RFC 2407 and the IKE profile of RFC 2409,
// plus NAT-D (RFC 3947) and the CBC encryption with IV chaining of RFC 2409
// Appendix B.
//
// The package is named for the protocol it encodes: IKEv1 messages are
// ISAKMP messages (the IKEv2 wire format lives in ike/message). It is pure:
// Decode parses untrusted bytes with bounds checks (cryptobyte) and never
// panics; Encode lays out a Message; Encrypt and Decrypt apply the
// negotiated block cipher to the payload body of a message and return the
// IV for the next message of the exchange. Which IV to start from (phase 1,
// or per Quick Mode and informational exchange) is the engine's business.
//
// Payload bodies that enter a hash (SAi_b, IDii_b in HASH_I, whole payloads
// in the Quick Mode HASH(1..3)) are kept as received in each payload's Raw
// field, so that hashes are computed over the peer's exact bytes.
package isakmp
