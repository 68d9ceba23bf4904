// Package ikev1 is vpngw's IKEv1 protocol engine (RFC 2409 with the ISAKMP
// framework of RFC 2408): Main Mode with pre-shared keys, Quick Mode with
// optional PFS and ID payloads as traffic selectors, informational Delete
// and dead peer detection (RFC 3706), NAT traversal (RFC 3947). Aggressive
// Mode is refused (ErrAggressiveMode), as Azure offers Main Mode only.
//
// It has the shape of package ike and is driven the same way: pure
// protocol, no sockets, no goroutines, no clock; one goroutine calls
// HandlePacket, Tick (at NextDeadline) and SetPeers, and the engine calls
// back into an ike.Host to send datagrams and to install the Child SAs it
// negotiates, in the same ike.ChildSA form the IKEv2 engine produces, so
// both feed one data plane.
//
//	mainmode.go   Main Mode (identity protection), both roles: proposals,
//	              KE and nonces with NAT-D, SKEYID derivation, HASH_I/HASH_R
//	quickmode.go  Quick Mode, both roles: HASH(1..3), PFS, IDci/IDcr,
//	              KEYMAT, rekey by time or on request
//	info.go       informational exchanges: Delete, DPD R-U-THERE/ACK
//	suite.go      transform.Proposal lists <-> ISAKMP transforms with
//	              attributes (RFC 2409 Appendix A, RFC 2407 §4.5)
//
// Each phase 1 SA keeps its CBC IV chain; every Quick Mode and
// informational exchange derives its own IV from the last phase 1 block and
// its message ID (RFC 2409 Appendix B). Messages of an exchange are
// retransmitted by the side waiting for an answer; a side that answered
// resends its last answer when the same request arrives again.
package ikev1
