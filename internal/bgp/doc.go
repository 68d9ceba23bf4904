// Package bgp is the BGP speaker of one vpngw gateway instance: it peers
// with the on-premises routers of BGP-enabled connections, advertises the
// VNet prefixes and the prefixes of connected sites, learns the sites'
// routes, re-advertises them between peers (transit), and enforces Azure's
// BGP rules on what it accepts and what it sends (see docs/bgp.md).
//
// The speaker embeds GoBGP (github.com/osrg/gobgp/v4) as a library: no
// gRPC, no second daemon. The agent will own one Speaker per instance; it
// is driven by a typed Config and Neighbor list and reports learned routes
// through a callback, and status in the shapes of Azure's getBgpPeerStatus
// and getLearnedRoutes/getAdvertisedRoutes.
//
// Azure's rules for BGP settings (reserved ASNs, the APIPA range) live
// in the leaf package bgprules, which the control plane reuses.
package bgp
