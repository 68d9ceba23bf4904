// Package tunstat holds the status values of tunnels — IKE SAs, Child SAs,
// per-tunnel and gateway-wide traffic counters — shared by the engine
// (ike), the data plane (dataplane, esp), the agent and the control plane
// (through agentapi). Values only, no behaviour beyond small accessors; it
// imports nothing from vpngw, so the control plane can read a gateway's
// status without importing the gateway.
//
// The JSON of these types is part of the agent API (agentapi.Report) and of
// `vpngw agent --status --json`: change a field name or tag only with both
// sides in mind.
package tunstat

import (
	"net/netip"
	"time"
)

// PeerStatus is the state of one configured peer, for status displays.
type PeerStatus struct {
	Name string `json:"name"`
	// State is "established", "connecting" or "down".
	State     string         `json:"state"`
	Remote    netip.AddrPort `json:"remote"`
	Mode      string         `json:"mode"`
	LastError string         `json:"lastError,omitempty"`
	// UpSince is when the current IKE SA was established.
	UpSince time.Time     `json:"upSince,omitempty"`
	IKE     []IKESAStatus `json:"ikeSAs,omitempty"`
	// Client is set for a point-to-site client's entry.
	Client *ClientStatus `json:"client,omitempty"`
}

// ClientStatus describes a connected point-to-site client.
type ClientStatus struct {
	// Template is the remote-access connection the client connected to.
	Template string `json:"template"`
	// User is the name it authenticated as.
	User string `json:"user"`
	// VirtualIP is the address it was given from the pool.
	VirtualIP netip.Addr `json:"virtualIp"`
}

// IKESAStatus describes one IKE SA.
type IKESAStatus struct {
	SPIi        string          `json:"spii"`
	SPIr        string          `json:"spir"`
	Initiator   bool            `json:"initiator"`
	State       string          `json:"state"`
	Local       netip.AddrPort  `json:"local"`
	Remote      netip.AddrPort  `json:"remote"`
	Suite       string          `json:"suite"`
	NATLocal    bool            `json:"natLocal"`
	NATRemote   bool            `json:"natRemote"`
	Encap       bool            `json:"udpEncapsulation"`
	Established time.Time       `json:"established,omitempty"`
	RekeyAt     time.Time       `json:"rekeyAt,omitempty"`
	Children    []ChildSAStatus `json:"childSAs,omitempty"`
}

// ChildSAStatus describes one Child SA.
type ChildSAStatus struct {
	InSPI       string    `json:"inSpi"`
	OutSPI      string    `json:"outSpi"`
	State       string    `json:"state"`
	Suite       string    `json:"suite"`
	LocalTS     string    `json:"localTs"`
	RemoteTS    string    `json:"remoteTs"`
	Outbound    bool      `json:"outbound"`
	Established time.Time `json:"established,omitempty"`
	RekeyAt     time.Time `json:"rekeyAt,omitempty"`
}
