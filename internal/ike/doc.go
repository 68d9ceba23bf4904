// Package ike is vpngw's IKEv2 protocol engine (RFC 7296): it negotiates,
// authenticates, rekeys and deletes IKE SAs and their Child SAs. It is pure
// protocol: it opens no sockets, starts no goroutines and reads no clock.
//
// # Architecture
//
// One Engine serves one gateway instance and all of its peers. It is driven
// by a single goroutine (the agent's IKE loop) through three inputs and one
// output interface:
//
//	HandlePacket(now, Packet)  an IKE datagram arrived (port 500, or 4500 with
//	                           the non-ESP marker already stripped)
//	Tick(now)                  time passed; call it at NextDeadline()
//	SetPeers(now, []Peer)      desired connections changed (config reload)
//	         │
//	         ▼
//	Host (implemented by the agent)
//	  SendIKE(Packet)          transmit a datagram
//	  InstallChildSA(ChildSA)  keys and selectors for the data plane
//	  DeleteChildSA / UseOutbound / Event(...)
//
// Inside, each peer has at most one established IKE SA (plus transient ones
// during rekey or simultaneous initiation). An IKE SA runs one request at a
// time in each direction (window size 1): its own requests go through a
// queue with retransmission and exponential backoff; requests from the peer
// are answered in order and the last response is kept for retransmissions.
//
// Exchanges and where they live:
//
//	init.go   IKE_SA_INIT: proposals, KE (INVALID_KE_PAYLOAD retry), nonces,
//	          NAT detection, cookies (§2.6), fragmentation support
//	auth.go   IKE_AUTH: identities, PSK authentication (§2.15), first Child SA
//	child.go  CREATE_CHILD_SA for new and rekeyed Child SAs, collisions (§2.8.1)
//	rekey.go  CREATE_CHILD_SA for IKE SA rekey, collisions (§2.8.2)
//	info.go   INFORMATIONAL: Delete, liveness (DPD)
//
// Rekeying is make-before-break: the new Child SA's inbound side is
// installed before anyone sends on it, the outbound side switches once the
// peer can receive on it, and the old inbound SA stays installed for a grace
// period so that packets in flight are not lost.
//
// The engine is not safe for concurrent use; the Host is called
// synchronously from within the Engine's methods and must not call back
// into the Engine.
package ike
