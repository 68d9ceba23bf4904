package bgp

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// PeerState is a peer's state as Azure's getBgpPeerStatus reports it.
type PeerState string

// The states of getBgpPeerStatus.
const (
	PeerUnknown    PeerState = "Unknown"
	PeerStopped    PeerState = "Stopped"
	PeerIdle       PeerState = "Idle"
	PeerConnecting PeerState = "Connecting"
	PeerConnected  PeerState = "Connected"
)

// PeerStatus is one entry of getBgpPeerStatus.
type PeerStatus struct {
	LocalAddress      netip.Addr    `json:"localAddress"`
	Neighbor          netip.Addr    `json:"neighbor"`
	ASN               uint32        `json:"asn"`
	State             PeerState     `json:"state"`
	ConnectedDuration AzureDuration `json:"connectedDuration"`
	RoutesReceived    int64         `json:"routesReceived"`
	MessagesSent      int64         `json:"messagesSent"`
	MessagesReceived  int64         `json:"messagesReceived"`
	// Reason says why a session is down (the last disconnect, or the
	// prefix limit that stopped it). Not in Azure's shape.
	Reason string `json:"reason,omitempty"`
}

// AzureDuration marshals as Azure writes durations: "hh:mm:ss.fffffff".
type AzureDuration time.Duration

// String formats d as "hh:mm:ss.fffffff" (hours may exceed 24).
func (d AzureDuration) String() string {
	t := time.Duration(d)
	if t < 0 {
		t = 0
	}
	h := t / time.Hour
	m := (t % time.Hour) / time.Minute
	s := (t % time.Minute) / time.Second
	ticks := (t % time.Second) / 100 // .NET ticks of 100 ns
	return fmt.Sprintf("%02d:%02d:%02d.%07d", h, m, s, ticks)
}

// MarshalText implements encoding.TextMarshaler.
func (d AzureDuration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Origin is where a route came from, in Azure's words.
type Origin string

// Route origins.
const (
	OriginNetwork Origin = "Network" // the gateway's own prefix
	OriginEBGP    Origin = "EBgp"
	OriginIBGP    Origin = "IBgp"
)

// GatewayRoute is one entry of getLearnedRoutes / getAdvertisedRoutes.
type GatewayRoute struct {
	LocalAddress netip.Addr   `json:"localAddress"`
	Network      netip.Prefix `json:"network"`
	NextHop      netip.Addr   `json:"nextHop"`
	SourcePeer   netip.Addr   `json:"sourcePeer"`
	Origin       Origin       `json:"origin"`
	ASPath       string       `json:"asPath"`
	Weight       int          `json:"weight"`
}

// FormatASPath writes an AS path as Azure does: ASNs joined by "-".
func FormatASPath(path []uint32) string {
	s := make([]string, len(path))
	for i, a := range path {
		s[i] = strconv.FormatUint(uint64(a), 10)
	}
	return strings.Join(s, "-")
}

// Route is a route the speaker installed, or withdrew: the best path
// learned from a peer for one prefix. An update replaces the earlier route
// for the same prefix.
type Route struct {
	Prefix  netip.Prefix
	NextHop netip.Addr
	ASPath  []uint32
	Peer    netip.Addr // the neighbor it was learned from
	Origin  Origin
	// Withdrawn: the prefix has no learned route any more (only Prefix is
	// set).
	Withdrawn bool
}
