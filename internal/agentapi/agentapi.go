// Package agentapi is the contract between the control plane (vpngw serve,
// package reconcile's Hub) and a gateway instance in remote mode (vpngw
// agent --server, package agent's RunRemote): the wire types, the paths,
// and the client the agent uses. Both sides import it; neither imports the
// other.
//
//	agent ── GET  /agent/v1/instances/ID/config?after=REV&wait=25s (long poll) ──► serve
//	      ◄── 200 Assignment | 204 (nothing newer) | 404 (unknown) | 410 (deleted)
//	agent ── PUT  /agent/v1/instances/ID/status  Report ──────────────────────────► serve
//	      ◄── 204 (Vpngw-Status-Seq: the status version it holds) | 409 (a heartbeat it cannot match)
//
// Reports are versioned so that an idle instance costs the control plane
// the same whatever its number of tunnels: an instance numbers each status
// it sends (Report.StatusSeq, unique across its restarts) and, once the
// server in use answered that it holds that version (the StatusSeqHeader
// of its answer), sends bare heartbeats (Report.Unchanged, no Status)
// until the status changes. The control plane keeps the last full status
// per instance; a heartbeat whose version it does not hold (it restarted,
// another replica took over, the instance was deleted and re-created) is
// answered 409 (ErrStatusNeeded) and the instance sends its full status at
// once. Reporter is the instance's side of this. An instance rebuilds its
// status (traffic counters included) when its state changed and otherwise
// every few seconds (up to about a minute with 10,000 clients: the period
// grows with what a build costs), and sends it only if it differs from the
// last one sent, so traffic counters on the control plane lag by that
// much.
//
// A changed status goes to a control plane that holds an earlier version
// as a delta (Report.Delta, StatusDelta): the gateway-wide part in full and
// only the connections and point-to-site clients added, changed or removed
// since that version (Report.BaseSeq), so a change costs both sides work
// proportional to what changed, not to the tunnels. The control plane
// merges it into the status it holds (StatusDelta.Apply) and answers 409
// when it does not hold the base version (restart, takeover, a delta lost
// in between); the instance then sends its full status at once. A control
// plane that takes deltas says so in every answer to a report
// (StatusDeltaHeader); an instance sends deltas only to one that said so.
//
// Compatibility: a control plane that predates versions answers without
// the header, and a new instance then sends its full status every time,
// as before; an instance that predates versions sends no StatusSeq, and
// the control plane stores each of its reports whole, as before. A control
// plane that predates deltas (no StatusDeltaHeader) gets full statuses
// only; an instance that predates them never sends one.
//
// With a token, requests carry "Authorization: Bearer TOKEN"; a wrong or
// missing one is answered 401. The assignment's Config is the same
// gwconfig.Config an operator writes in YAML; the agent checks it on
// arrival (gwconfig.Config.Check).
package agentapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/tunstat"
)

// Routes of the agent API, as net/http patterns with the instance ID as
// {id}.
const (
	ConfigRoute = "GET " + prefix + "{id}/config"
	StatusRoute = "PUT " + prefix + "{id}/status"
	prefix      = "/agent/v1/instances/"
)

// MaxWait is the longest long poll the control plane holds (a longer wait
// parameter is ignored).
const MaxWait = time.Minute

// ReportEvery is how often an instance reports even when nothing changed
// (its heartbeat; it also reports soon after every change). The control
// plane judges an instance by two signals: its long poll (an instance
// whose poll connection closes, because its process exited or its
// connection was reset, is gone at once) and the age of its latest report
// (an instance that stays connected but stops reporting, hung or cut off
// without a reset, is gone after its failover timeout,
// reconcile.DefaultFailoverAfter, three of these periods). An active
// instance that is gone is replaced by its standby. The heartbeat only
// has to catch the second kind, so it can be slower than when it was the
// only signal (150 ms, a 700 ms timeout): each is a request the control
// plane serves for every instance.
const ReportEvery = 500 * time.Millisecond

// ReportTimeout bounds one report (a request and its answer) whose
// context has no deadline of its own: the reporting routine passes its
// long-lived context rather than a context.WithTimeout per heartbeat
// (a timer and a cancel registration every ReportEvery).
const ReportTimeout = 5 * time.Second

// StatusSeqHeader is the header of the control plane's answer to a report
// naming the status version (Report.StatusSeq) it holds for the instance,
// absent when it holds none (or predates versions).
const StatusSeqHeader = "Vpngw-Status-Seq"

// StatusDeltaHeader, set to "1" in a control plane's answer to a report,
// says that it takes deltas (Report.Delta). An instance sends deltas only to
// a control plane whose answer carried it: one that predates deltas would
// store a delta's report as an empty status.
const StatusDeltaHeader = "Vpngw-Status-Delta"

// MaxReport is the largest report body the control plane reads: a full
// status costs about 1.5 kB per tunnel or point-to-site client, and an
// instance may have 10,000 clients.
const MaxReport = 64 << 20

// ConfigPath is the long poll for an assignment newer than revision after,
// held at most wait.
func ConfigPath(id string, after int64, wait time.Duration) string {
	return fmt.Sprintf("%s%s/config?after=%d&wait=%s", prefix, url.PathEscape(id), after, wait)
}

// StatusPath is where an instance puts its Report.
func StatusPath(id string) string { return prefix + url.PathEscape(id) + "/status" }

// Roles of an instance.
const (
	// RoleActive runs the configured connections.
	RoleActive = "active"
	// RoleStandby keeps the data plane ready but negotiates nothing (the
	// active-standby pair's second instance).
	RoleStandby = "standby"
)

// Assignment is what the control plane hands an instance.
type Assignment struct {
	// Revision increases whenever the assignment changes.
	Revision int64 `json:"revision"`
	// Role is RoleActive or RoleStandby.
	Role string `json:"role"`
	// Restart changes when the instance must restart from scratch (a
	// gateway reset): every SA is deleted and negotiated again.
	Restart int64 `json:"restart"`
	// ConnectionResets maps a connection's name to a counter that changes
	// when that connection alone must be reset (resetconnection): the
	// instance deletes its SAs and negotiates them again, leaving the
	// other connections alone. Absent means 0.
	ConnectionResets map[string]int64 `json:"connectionResets,omitempty"`
	// DisconnectClients are the point-to-site sessions to end, by
	// VpnConnectionID (Azure's disconnectVirtualNetworkGatewayVpnConnections).
	// A session ID never comes back, so the list may be applied again
	// harmlessly; the control plane keeps the latest few.
	DisconnectClients []string `json:"disconnectClients,omitempty"`
	// Config is the instance's configuration (a standby's has no
	// connections).
	Config gwconfig.Config `json:"config"`
}

// Report is what an instance sends back.
type Report struct {
	// Revision is the assignment revision the instance runs (-1: none).
	Revision int64 `json:"revision"`
	// Error is why the assignment could not be applied, if it could not.
	Error string `json:"error,omitempty"`
	// StatusSeq is the version of the instance's status (0: an instance
	// that predates versions, whose every report carries its status).
	// Each status an instance sends has a larger one than the last, also
	// across its restarts.
	StatusSeq uint64 `json:"statusSeq,omitempty"`
	// Unchanged marks a heartbeat: the status is the one numbered
	// StatusSeq, sent before, and Status is empty.
	Unchanged bool `json:"unchanged,omitempty"`
	// Status is the instance's status (absent from a heartbeat and from a
	// delta).
	Status Status `json:"status,omitzero"`
	// BaseSeq, with Delta, is the version of the status the delta applies
	// to: one the control plane acknowledged holding.
	BaseSeq uint64 `json:"baseSeq,omitempty"`
	// Delta is the status numbered StatusSeq as its changes from the one
	// numbered BaseSeq (nil: Status is the full status, or this is a
	// heartbeat).
	Delta *StatusDelta `json:"delta,omitempty"`
}

// StatusDelta is a status as its changes from an earlier version: the
// gateway-wide part whole, the connection and client lists as the entries
// added or changed (whole entries) and the names of those removed. Entries
// are identified by name (ConnectionStatus.Name).
type StatusDelta struct {
	// Gateway is the status without its connections and point-to-site
	// clients: every other field, in full (a nil PointToSite means none,
	// and no clients).
	Gateway Status `json:"gateway"`
	// Connections are the connections added or changed since the base
	// version; Removed names those gone.
	Connections []ConnectionStatus `json:"connections,omitempty"`
	Removed     []string           `json:"removed,omitempty"`
	// Clients and RemovedClients are the same for the point-to-site
	// clients.
	Clients        []ConnectionStatus `json:"clients,omitempty"`
	RemovedClients []string           `json:"removedClients,omitempty"`
}

// Apply returns base with d applied: d's gateway-wide part, and base's
// connections and clients with d's added, changed and removed entries,
// sorted by name (the order an instance reports them in). base is not
// modified, and the result shares no list with it.
func (d *StatusDelta) Apply(base Status) Status { return d.apply(base, mergeEntries) }

// ApplyOwned is Apply for a caller that owns base's client list (the
// hub, which hands no one its clients' backing array): the clients are
// changed in place, not copied. A changed client is found by binary
// search and overwritten; an added or removed one moves the entries after
// it. A delta of a few clients into a status of 10,000 then costs a
// comparison of neighbouring names per client held (the sortedness check)
// and no copy of the list, where Apply copies every entry and leaves the
// old list to the collector; a delta of no client costs nothing per
// client held. The connections (a few, at most 100 per
// gateway) are merged as Apply does. base's client list must not be read
// by anyone else afterwards. A base whose clients are not sorted by name
// or name one twice is merged as Apply does, unless d changes no client:
// the list then stays as it was.
func (d *StatusDelta) ApplyOwned(base Status) Status { return d.apply(base, mergeInPlace) }

// apply is Apply, merging the clients with mergeClients.
func (d *StatusDelta) apply(base Status, mergeClients func(list, changed []ConnectionStatus, removed []string) []ConnectionStatus) Status {
	st := d.Gateway
	st.Connections = mergeEntries(base.Connections, d.Connections, d.Removed)
	if d.Gateway.PointToSite != nil {
		p := *d.Gateway.PointToSite
		var old []ConnectionStatus
		if base.PointToSite != nil {
			old = base.PointToSite.Clients
		}
		p.Clients = mergeClients(old, d.Clients, d.RemovedClients)
		st.PointToSite = &p
	}
	return st
}

// mergeInPlace is mergeEntries changing list in place (see ApplyOwned).
// A delta that changes no client (the gateway-wide part alone: an idle
// gateway's counters) leaves list as it is, at no cost per client.
func mergeInPlace(list, changed []ConnectionStatus, removed []string) []ConnectionStatus {
	if len(changed) == 0 && len(removed) == 0 {
		return list
	}
	if !SortedByName(list) {
		return mergeEntries(list, changed, removed)
	}
	find := func(name string) (int, bool) {
		i := sort.Search(len(list), func(i int) bool { return list[i].Name >= name })
		return i, i < len(list) && list[i].Name == name
	}
	for _, n := range removed {
		if i, ok := find(n); ok {
			list = slices.Delete(list, i, i+1)
		}
	}
	for i := range changed {
		c := &changed[i]
		if j, ok := find(c.Name); ok {
			list[j] = *c
		} else {
			list = slices.Insert(list, j, *c)
		}
	}
	return list
}

// SortedByName reports whether cs is sorted by name with no name twice:
// the order an instance reports its lists in.
func SortedByName(cs []ConnectionStatus) bool {
	for i := 1; i < len(cs); i++ {
		if cs[i-1].Name >= cs[i].Name {
			return false
		}
	}
	return true
}

// ErrBadDelta is Check's error for a delta that cannot be applied.
var ErrBadDelta = errors.New("agentapi: bad status delta")

// Check reports whether d can be applied: every entry named, no name
// twice among the changed entries or among the removed ones of a list,
// and none both changed and removed.
func (d *StatusDelta) Check() error {
	if err := checkEntries("connections", d.Connections, d.Removed); err != nil {
		return err
	}
	if d.Gateway.PointToSite == nil && (len(d.Clients) > 0 || len(d.RemovedClients) > 0) {
		return fmt.Errorf("%w: clients: changed or removed without a pointToSite part", ErrBadDelta)
	}
	return checkEntries("clients", d.Clients, d.RemovedClients)
}

func checkEntries(field string, changed []ConnectionStatus, removed []string) error {
	seen := make(map[string]bool, len(changed)+len(removed))
	for _, c := range changed {
		if c.Name == "" || seen[c.Name] {
			return fmt.Errorf("%w: %s: entry name %q empty or repeated", ErrBadDelta, field, c.Name)
		}
		seen[c.Name] = true
	}
	for _, n := range removed {
		if n == "" || seen[n] {
			return fmt.Errorf("%w: %s: removed name %q empty, repeated or also changed", ErrBadDelta, field, n)
		}
		seen[n] = true
	}
	return nil
}

// mergeEntries returns base with the entries of changed replacing or
// joining those of the same name and those named in removed left out,
// sorted by name, in a new slice.
func mergeEntries(base, changed []ConnectionStatus, removed []string) []ConnectionStatus {
	byName := make(map[string]int, len(changed))
	for i, c := range changed {
		byName[c.Name] = i
	}
	gone := make(map[string]bool, len(removed))
	for _, n := range removed {
		gone[n] = true
	}
	out := make([]ConnectionStatus, 0, len(base)+len(changed))
	sorted := true
	for _, c := range base {
		if gone[c.Name] {
			continue
		}
		if i, ok := byName[c.Name]; ok {
			c = changed[i]
			delete(byName, c.Name)
		}
		if n := len(out); n > 0 && out[n-1].Name > c.Name {
			sorted = false
		}
		out = append(out, c)
	}
	for _, c := range changed {
		if _, ok := byName[c.Name]; ok {
			out = append(out, c)
			sorted = false
		}
	}
	if !sorted {
		slices.SortStableFunc(out, func(a, b ConnectionStatus) int { return strings.Compare(a.Name, b.Name) })
	}
	return out
}

// Status is a snapshot of an instance: what it reports to the control
// plane and serves on its status socket (`vpngw agent --status`). It never
// contains keys.
type Status struct {
	Name         string             `json:"name"`
	LocalAddress string             `json:"localAddress"`
	TUN          string             `json:"tun,omitempty"`
	Started      time.Time          `json:"started"`
	Connections  []ConnectionStatus `json:"connections"`
	// PointToSite is the point-to-site state (nil: not configured).
	PointToSite *PointToSiteStatus `json:"pointToSite,omitempty"`
	Dataplane   *tunstat.Stats     `json:"dataplane,omitempty"`
	// BGP is the instance's BGP speaker (nil: no bgpSettings).
	BGP *BGPStatus `json:"bgp,omitempty"`
}

// BGPStatus is an instance's BGP speaker: what the gateway's
// getBgpPeerStatus, getLearnedRoutes and getAdvertisedRoutes report, in
// Azure's shapes.
type BGPStatus struct {
	// ASN and LocalAddress are the speaker's ASN and peering address.
	ASN          uint32 `json:"asn"`
	LocalAddress string `json:"localAddress"`
	// Peers are the neighbors (one per BGP-enabled connection), sorted by
	// address.
	Peers []BGPPeerStatus `json:"peers"`
	// LearnedRoutes are the RIB's routes: the gateway's own (origin
	// Network) and every path learned from a peer.
	LearnedRoutes []GatewayRoute `json:"learnedRoutes"`
	// AdvertisedRoutes are what the gateway sends each peer, by the
	// peer's address.
	AdvertisedRoutes map[string][]GatewayRoute `json:"advertisedRoutes,omitempty"`
	// Installed counts the learned prefixes routed into tunnels.
	Installed int `json:"installedRoutes"`
	// Error says why the speaker or a query failed, if one did.
	Error string `json:"error,omitempty"`
}

// BGPPeerStatus is one entry of getBgpPeerStatus (Azure's BgpPeerStatus),
// plus the connection it belongs to and why a session is down.
type BGPPeerStatus struct {
	LocalAddress string `json:"localAddress"`
	Neighbor     string `json:"neighbor"`
	ASN          uint32 `json:"asn"`
	// State is Unknown, Stopped, Idle, Connecting or Connected.
	State string `json:"state"`
	// ConnectedDuration is "hh:mm:ss.fffffff".
	ConnectedDuration string `json:"connectedDuration"`
	RoutesReceived    int64  `json:"routesReceived"`
	MessagesSent      int64  `json:"messagesSent"`
	MessagesReceived  int64  `json:"messagesReceived"`
	Connection        string `json:"connection,omitempty"`
	Reason            string `json:"reason,omitempty"`
}

// GatewayRoute is one entry of getLearnedRoutes / getAdvertisedRoutes
// (Azure's GatewayRoute).
type GatewayRoute struct {
	LocalAddress string `json:"localAddress"`
	Network      string `json:"network"`
	NextHop      string `json:"nextHop"`
	SourcePeer   string `json:"sourcePeer"`
	// Origin is Network, EBgp or IBgp.
	Origin string `json:"origin"`
	// ASPath is the AS path joined by "-" (Azure's spelling).
	ASPath string `json:"asPath"`
	Weight int    `json:"weight"`
}

// PointToSiteStatus is the state of the gateway's point-to-site
// configuration: its address pool and the connected clients.
type PointToSiteStatus struct {
	// Name is the remote-access template's name.
	Name        string   `json:"name"`
	AddressPool []string `json:"addressPool"`
	// LeasedAddresses and PoolSize count the pool's addresses in use and
	// in all.
	LeasedAddresses int `json:"leasedAddresses"`
	PoolSize        int `json:"poolSize"`
	// LastError is why the last client was refused, if one was.
	LastError string `json:"lastError,omitempty"`
	// ClientCount counts the connected clients, listed or not.
	ClientCount int `json:"clientCount"`
	// Clients are the connected clients, by name ("NAME/USER/ADDRESS"):
	// PeerStatus.Client says who (user, virtual IP), PeerStatus.Remote
	// where from (public address and port), and the byte counters are
	// the client's tunnel's. The agent's status socket lists those its
	// query picks (agent.StatusQuery); a status reported to the control
	// plane lists them all.
	Clients []ConnectionStatus `json:"clients"`
}

// Connection states, Azure's connectionStatus.
const (
	Connected    = "Connected"
	Connecting   = "Connecting"
	NotConnected = "NotConnected"
)

// ConnectionStatus is one connection's state, in Azure's vocabulary where
// it has one (Connected, Connecting, NotConnected) plus the IKE detail.
type ConnectionStatus struct {
	tunstat.PeerStatus
	// Status is Azure's connectionStatus: Connected, Connecting or
	// NotConnected.
	Status         string   `json:"connectionStatus"`
	RemotePrefixes []string `json:"remotePrefixes,omitempty"`
	// IngressBytes and EgressBytes count inner bytes received from and
	// sent to the peer (Azure's ingressBytesTransferred /
	// egressBytesTransferred).
	IngressBytes  uint64               `json:"ingressBytesTransferred"`
	EgressBytes   uint64               `json:"egressBytesTransferred"`
	LastConnected time.Time            `json:"lastConnectionEstablishedUtcTime,omitempty"`
	Traffic       *tunstat.TunnelStats `json:"traffic,omitempty"`
}

// VpnConnectionID is the ID of a point-to-site client's session (Azure's
// vpnConnectionId): the protocol and the initiator SPI of the client's
// IKE SA, unique per session. Connection health shows it and
// disconnectVirtualNetworkGatewayVpnConnections takes it.
func VpnConnectionID(spii string) string { return "IKEv2_" + spii }

// Connected reports whether a connection of st is Connected.
func (st Status) Connected(name string) bool {
	for _, c := range st.Connections {
		if strings.EqualFold(c.Name, name) {
			return c.Status == Connected
		}
	}
	return false
}

// InstanceToken is the token the agent of instance presents, derived from
// the control plane's agent key (its --agent-token-file):
// base64url(HMAC-SHA256(key, instance)). Each instance has its own, so a
// gateway host's token fetches only its own instance's assignment (shared
// keys included); the control plane refuses it for any other instance,
// and answers 410 once the instance is deleted. `vpngw serve agent-token
// --instance ID` prints one.
func InstanceToken(key, instance string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("vpngw agent instance\x00" + instance))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
