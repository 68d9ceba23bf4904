// Package gwconfig is a gateway instance's configuration: the YAML file of
// `vpngw agent --config FILE` and the JSON the control plane sends in an
// assignment (package agentapi) are the same type, Config.
//
// A Config is checked once, at the edge where it enters (Check, Parse,
// LoadFile), into an Instance: the same settings with defaults filled in,
// names in canonical spelling, and typed values (addresses, prefixes,
// durations, proposals, the shared key read from sharedKeyFile) that the
// agent uses directly. Errors wrap ErrInvalid and name the field
// ("connections[1].remotePrefixes[0]") and the rule.
//
// Adding a connection setting: a field on Connection (documented, with its
// YAML/JSON name), its rule in check, its typed value on Peer; the agent
// hands it to the IKE engine in agent/peers.go; the control plane fills it
// in reconcile/desired.go (connectionFor).
package gwconfig

import (
	"errors"

	"github.com/vpngw/vpngw/internal/transform"
)

// Config is one gateway instance's configuration: what `vpngw agent
// --config FILE` reads (YAML) and what the control plane sends (JSON, the
// same field names). Field names follow Azure's resource properties where
// one exists. See docs/agent.md for the reference with examples.
type Config struct {
	// Name identifies the instance in logs and status (default: the host name).
	Name string `yaml:"name" json:"name"`
	// LocalAddress is the gateway's public address: the source of IKE and
	// ESP and the default IKE identity.
	LocalAddress string `yaml:"localAddress" json:"localAddress"`
	// LocalPrefixes are the networks behind the gateway (the virtual
	// network's address space). Policy-based connections use them as
	// traffic selectors; route-based ones offer 0.0.0.0/0.
	LocalPrefixes []string `yaml:"localPrefixes" json:"localPrefixes,omitempty"`
	// Tunnel configures the TUN device.
	Tunnel TunnelConfig `yaml:"tunnel" json:"tunnel"`
	// IKEPort and NATTPort are the UDP ports (defaults 500 and 4500).
	IKEPort  int `yaml:"ikePort" json:"ikePort,omitempty"`
	NATTPort int `yaml:"nattPort" json:"nattPort,omitempty"`
	// RawESP enables ESP as IP protocol 50 when no NAT is in the way
	// (default true); without it every tunnel uses UDP encapsulation.
	RawESP *bool `yaml:"rawEsp" json:"rawEsp,omitempty"`
	// StatusSocket is the Unix socket of the status endpoint (default
	// /run/vpngw/agent-NAME.sock).
	StatusSocket string `yaml:"statusSocket" json:"statusSocket,omitempty"`
	// VPNType is the gateway's vpnType: RouteBased (default) or
	// PolicyBased. A PolicyBased gateway's connections are IKEv1, use the
	// gateway's and the site's prefixes as traffic selectors (one Child SA
	// per pair), take Azure's PolicyBased offers and lifetimes, come up on
	// demand and go down after idleTimeoutSeconds without traffic.
	VPNType string `yaml:"vpnType" json:"vpnType,omitempty"`
	// ThroughputLimitMbps caps the gateway's aggregate throughput, shared
	// fairly by its tunnels (0: no cap). The control plane sets it from the
	// SKU.
	ThroughputLimitMbps int `yaml:"throughputLimitMbps" json:"throughputLimitMbps,omitempty"`
	// Connections are the site-to-site and VNet-to-VNet tunnels.
	Connections []Connection `yaml:"connections" json:"connections"`
	// BgpSettings, if set, runs a BGP speaker on the instance that peers
	// with the connections whose enableBgp is set, through their tunnels
	// (RouteBased only); see BgpSettings and docs/bgp.md.
	BgpSettings *BgpSettings `yaml:"bgpSettings" json:"bgpSettings,omitempty"`
	// PointToSite, if set, lets remote-access clients connect (IKEv2,
	// EAP-MSCHAPv2 with local users); see PointToSite.
	PointToSite *PointToSite `yaml:"pointToSite" json:"pointToSite,omitempty"`
}

// TunnelConfig configures the TUN device that carries tunnelled traffic.
type TunnelConfig struct {
	// Device is the TUN device name (default vpngw0).
	Device string `yaml:"device" json:"device,omitempty"`
	// MTU is the TUN MTU (default 1400, Azure's guidance; see docs/dataplane.md).
	MTU int `yaml:"mtu" json:"mtu,omitempty"`
	// Addresses are assigned to the TUN device (optional).
	Addresses []string `yaml:"addresses" json:"addresses,omitempty"`
}

// Connection is one tunnel to a peer gateway.
type Connection struct {
	// Name identifies the connection (unique).
	Name string `yaml:"name" json:"name"`
	// RemoteAddress is the peer's public address (the local network
	// gateway's gatewayIpAddress); or give RemoteFQDN.
	RemoteAddress string `yaml:"remoteAddress" json:"remoteAddress,omitempty"`
	// RemoteFQDN is resolved when the configuration is loaded.
	RemoteFQDN string `yaml:"remoteFqdn" json:"remoteFqdn,omitempty"`
	// RemotePrefixes are the peer's networks, routed into the tunnel
	// (may be empty with EnableBgp: the peer's routes are learned).
	RemotePrefixes []string `yaml:"remotePrefixes" json:"remotePrefixes"`
	// LocalPrefixes override the gateway's LocalPrefixes for this
	// connection's traffic selectors.
	LocalPrefixes []string `yaml:"localPrefixes" json:"localPrefixes,omitempty"`
	// SharedKey is the pre-shared key; or SharedKeyFile holds it.
	SharedKey     string `yaml:"sharedKey" json:"sharedKey,omitempty"`
	SharedKeyFile string `yaml:"sharedKeyFile" json:"sharedKeyFile,omitempty"`
	// ConnectionProtocol is IKEv2 (default on RouteBased gateways) or
	// IKEv1 (the only one, and the default, on PolicyBased gateways).
	ConnectionProtocol string `yaml:"connectionProtocol" json:"connectionProtocol,omitempty"`
	// ConnectionMode is Default, InitiatorOnly or ResponderOnly.
	ConnectionMode string `yaml:"connectionMode" json:"connectionMode,omitempty"`
	// DPDTimeoutSeconds is the dead peer detection timeout, 9–3600
	// (default 45).
	DPDTimeoutSeconds int `yaml:"dpdTimeoutSeconds" json:"dpdTimeoutSeconds,omitempty"`
	// UsePolicyBasedTrafficSelectors negotiates one Child SA per local ×
	// remote prefix instead of 0.0.0.0/0 ↔ 0.0.0.0/0.
	UsePolicyBasedTrafficSelectors bool `yaml:"usePolicyBasedTrafficSelectors" json:"usePolicyBasedTrafficSelectors,omitempty"`
	// TrafficSelectorPolicies are the Child SAs proposed when this side
	// initiates, one per policy with its local and remote ranges as the
	// traffic selectors (Azure's trafficSelectorPolicies: proposed only
	// when Azure initiates; as the responder the peer's selectors are
	// accepted as usual). IKEv2 only.
	TrafficSelectorPolicies []TrafficSelectorPolicy `yaml:"trafficSelectorPolicies" json:"trafficSelectorPolicies,omitempty"`
	// IpsecPolicy is an Azure custom IPsec/IKE policy (all eight fields;
	// Azure's names and rules, see transform.IpsecPolicy).
	IpsecPolicy *transform.IpsecPolicy `yaml:"ipsecPolicy" json:"ipsecPolicy,omitempty"`
	// IKEProposals and ESPProposals give proposals in strongSwan syntax
	// ("aes256gcm16-prfsha256-ecp256,aes256-sha256-modp2048") instead of an
	// ipsecPolicy (a vpngw extension).
	IKEProposals string `yaml:"ikeProposals" json:"ikeProposals,omitempty"`
	ESPProposals string `yaml:"espProposals" json:"espProposals,omitempty"`
	// PeerType says what the peer is: "any" (default: offer Azure's
	// default proposals, for any device configured from Azure's
	// documentation) or "vpngw" (the peer is another vpngw gateway: offer
	// and accept only transform.VpngwIKEProposals/VpngwESPProposals,
	// AES-GCM with elliptic-curve DH). An ipsecPolicy or ikeProposals/
	// espProposals take precedence.
	PeerType string `yaml:"peerType" json:"peerType,omitempty"`
	// LocalID and RemoteID are IKE identities: an IP address or a name
	// (FQDN). Default: our address; any identity from the peer.
	LocalID  string `yaml:"localId" json:"localId,omitempty"`
	RemoteID string `yaml:"remoteId" json:"remoteId,omitempty"`
	// UDPEncapsulation is "auto" (default: when a NAT is detected) or
	// "always".
	UDPEncapsulation string `yaml:"udpEncapsulation" json:"udpEncapsulation,omitempty"`
	// RemotePort is the peer's IKE port (default 500).
	RemotePort int `yaml:"remotePort" json:"remotePort,omitempty"`
	// IdleTimeoutSeconds is how long a PolicyBased connection may carry
	// no traffic before its SAs are deleted (it comes up again with the
	// next packet); 0 means Azure's 300. PolicyBased gateways only; a
	// test setting (Azure's timeout is not configurable).
	IdleTimeoutSeconds int `yaml:"idleTimeoutSeconds" json:"idleTimeoutSeconds,omitempty"`
	// EnableBgp peers with BgpPeer through this tunnel: the routes it
	// advertises are routed into the tunnel, and the gateway advertises
	// its prefixes, the other sites' and the routes learned from other
	// BGP peers (transit). Needs the gateway's bgpSettings.
	EnableBgp bool `yaml:"enableBgp" json:"enableBgp,omitempty"`
	// BgpPeer is the on-premises BGP speaker (the local network gateway's
	// bgpSettings); required with EnableBgp.
	BgpPeer *BgpPeer `yaml:"bgpPeer" json:"bgpPeer,omitempty"`
}

// TrafficSelectorPolicy is one Child SA's selectors: local (gateway-side)
// and remote (peer-side) prefixes.
type TrafficSelectorPolicy struct {
	LocalAddressRanges  []string `yaml:"localAddressRanges" json:"localAddressRanges"`
	RemoteAddressRanges []string `yaml:"remoteAddressRanges" json:"remoteAddressRanges"`
}

// MaxTrafficSelectorPolicies is Azure's limit of traffic selector
// policies (reference §1.6: 100 per gateway; here per connection).
const MaxTrafficSelectorPolicies = 100

// Config.VPNType values.
const (
	RouteBased  = "RouteBased"
	PolicyBased = "PolicyBased"
)

// Connection.ConnectionProtocol values.
const (
	IKEv2 = "IKEv2"
	IKEv1 = "IKEv1"
)

// DefaultIdleTimeoutSeconds is Azure's idle timeout of PolicyBased tunnels
// (reference §2.2: torn down after 5 minutes without traffic).
const DefaultIdleTimeoutSeconds = 300

// Connection.PeerType values.
const (
	PeerAny   = "any"
	PeerVpngw = "vpngw"
)

// ErrInvalid is wrapped by every configuration error; the message names the
// field and the rule.
var ErrInvalid = errors.New("invalid agent configuration")
