// Package ikev1 is vpngw's IKEv1 protocol engine (RFC 2409 with the ISAKMP
// framework of RFC 2408): Main Mode with pre-shared keys, Quick Mode with
// optional PFS and ID payloads as traffic selectors, informational Delete,
// INITIAL-CONTACT and dead peer detection (RFC 3706), NAT traversal (RFC
// 3947). Aggressive Mode is refused (ErrAggressiveMode), as Azure offers
// Main Mode only.
//
// It has the shape of package ike and is driven the same way: pure
// protocol, no sockets, no goroutines, no clock; one goroutine calls
// HandlePacket, Tick (at NextDeadline) and SetPeers, and the engine calls
// back into an ike.Host to send datagrams and to install the Child SAs it
// negotiates, in the same ike.ChildSA form the IKEv2 engine produces, so
// both feed one data plane. Its other methods mirror ike.Engine's
// (Initiate, Terminate, Rekey, SoftLimit, HardLimit, PeerAlive, Status,
// PeerStatus, Changed, Drops, Close); InitiatePair is its own.
//
// A Quick Mode carries one pair of selectors, so every peer gets one Child
// SA per (LocalTS × RemoteTS) prefix pair, each installed with that
// narrow pair (route-based peers have 0.0.0.0/0 on both sides: one pair);
// at most transform.AzureMaxSelectorPairs. As responder a proposed pair is
// accepted when it lies within the configured prefixes, and installed as
// proposed. As initiator the Child SA gets the IDci/IDcr the responder
// returns when they lie within the proposed pair (strongSwan narrows a
// 0.0.0.0/0 proposal to its configured subnets), so the peer's later
// rekeys of it match; an answer wider than or disjoint from the proposal
// fails the Quick Mode (INVALID_ID_INFORMATION, naming both) and is
// answered with that notify, on which a responder waiting for HASH(3)
// drops the inbound SA it installed at once. Pairs of
// OnDemand peers are negotiated only when asked
// (Initiate, InitiatePair). The phase 1 SA is re-authenticated before it
// expires by a new Main Mode, make-before-break: the Child SAs move to it
// by Quick Mode rekeys before the old SA is deleted. Refused messages are
// counted by reason in Drops (package ike's reasons) and logged at most
// once per reason every few seconds.
//
//	engine.go     Engine, peers, Tick/NextDeadline, Child SA lifetimes
//	              (time; bytes through SoftLimit/HardLimit)
//	pairs.go      selector pairs, on-demand initiation, re-authentication
//	mainmode.go   Main Mode (identity protection), both roles: proposals,
//	              KE and nonces with NAT-D, SKEYID derivation, HASH_I/HASH_R,
//	              RemoteID, INITIAL-CONTACT
//	quickmode.go  Quick Mode, both roles: HASH(1..3), PFS, IDci/IDcr,
//	              KEYMAT, rekey by time or on request
//	info.go       informational exchanges: Delete, DPD R-U-THERE/ACK
//	suite.go      transform.Proposal lists <-> ISAKMP transforms with
//	              attributes (RFC 2409 Appendix A, RFC 2407 §4.5)
//	status.go     status and bookkeeping methods shared with ike.Engine
//
// Each phase 1 SA keeps its CBC IV chain; every Quick Mode and
// informational exchange derives its own IV from the last phase 1 block and
// its message ID (RFC 2409 Appendix B). Messages of an exchange are
// retransmitted by the side waiting for an answer; a side that answered
// resends its last answer when the same request arrives again. A
// responder's Quick Mode SA is installed inbound when it answers and
// becomes outbound on HASH(3); it is removed if HASH(3) never comes. An
// initiator's rekey SA is installed inbound before it sends HASH(3) and
// becomes outbound a moment later (a fifth of RekeyGrace), as the
// responder may install it only when HASH(3) arrives.
package ikev1
