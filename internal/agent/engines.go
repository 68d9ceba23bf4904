package agent

import (
	"fmt"
	"time"

	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/ikev1"
)

// engine is one IKE protocol engine as the loop drives it: the IKEv2
// engine (*ike.Engine) or the IKEv1 engine (*ikev1.Engine), which share
// this method set. Every method is called on the loop. Lookups by name visit
// only that peer, and Changed only the peers that changed, so the work per
// event does not grow with the number of connections.
type engine interface {
	SetPeers(now time.Time, peers []ike.Peer) error
	HandlePacket(now time.Time, pkt ike.Packet)
	Tick(now time.Time)
	NextDeadline() time.Time
	Initiate(now time.Time, name string) error
	Terminate(now time.Time, name string) error
	Rekey(now time.Time, name string, ikeSA bool) error
	Close(now time.Time)
	Established(name string) bool
	PeerStatus(name string) (ike.PeerStatus, bool)
	Changed(f func(name string))
	// SoftLimit and HardLimit report that the data plane's byte or
	// sequence-number limit of the Child SA with inbound SPI inSPI was
	// reached.
	SoftLimit(now time.Time, inSPI uint32)
	HardLimit(now time.Time, inSPI uint32)
	Drops() *ike.DropCounters
}

var (
	_ engine = (*ike.Engine)(nil)
	_ engine = (*ikev1.Engine)(nil)
)

// ISAKMP/IKE header version byte (offset 17): major version in the high
// nibble (RFC 2408 §3.1, RFC 7296 §3.1).
const (
	versionOffset = 17
	majorIKEv1    = 1
)

// engines runs both IKE engines on the agent's one pair of IKE sockets:
// datagrams go to an engine by the header's major version, peers by their
// connectionProtocol, and everything the loop asks about a connection to
// the engine that has it. Both engines share the agent's host (one data
// plane), the loop's timer (the earlier NextDeadline) and the status book.
type engines struct {
	v2 *ike.Engine
	v1 *ikev1.Engine
	// byName is the engine of each configured connection.
	byName map[string]engine
}

func newEngines(v2 *ike.Engine, v1 *ikev1.Engine) *engines {
	return &engines{v2: v2, v1: v1, byName: map[string]engine{}}
}

// SetPeers gives each engine its connections: peers[i] is the typed form
// of cfg.Peers[i], and cfg.Peers[i].ConnectionProtocol picks the engine.
// p2s, if not nil, is the point-to-site template, an IKEv2 peer.
func (e *engines) SetPeers(now time.Time, cfg *gwconfig.Instance, peers []ike.Peer, p2s *ike.Peer) error {
	var v1, v2 []ike.Peer
	byName := make(map[string]engine, len(peers)+1)
	if p2s != nil {
		v2 = append(v2, *p2s)
		byName[p2s.Name] = e.v2
	}
	for i, p := range peers {
		if cfg.Peers[i].ConnectionProtocol == gwconfig.IKEv1 {
			v1 = append(v1, p)
			byName[p.Name] = e.v1
		} else {
			v2 = append(v2, p)
			byName[p.Name] = e.v2
		}
	}
	if err := e.v2.SetPeers(now, v2); err != nil {
		return err
	}
	if err := e.v1.SetPeers(now, v1); err != nil {
		return err
	}
	e.byName = byName
	return nil
}

// of returns the engine of the named connection, or of the named
// point-to-site client (the IKEv2 engine's).
func (e *engines) of(name string) (engine, error) {
	if g, ok := e.byName[name]; ok {
		return g, nil
	}
	if _, ok := e.v2.Client(name); ok {
		return e.v2, nil
	}
	return nil, fmt.Errorf("agent: unknown connection %q", name)
}

// HandlePacket hands a datagram to the engine of its IKE version; what is
// neither IKEv1 nor long enough goes to the IKEv2 engine, which counts it.
func (e *engines) HandlePacket(now time.Time, pkt ike.Packet) {
	if len(pkt.Data) > versionOffset && pkt.Data[versionOffset]>>4 == majorIKEv1 {
		e.v1.HandlePacket(now, pkt)
		return
	}
	e.v2.HandlePacket(now, pkt)
}

// NextDeadline is the earlier of the engines' deadlines (zero: none).
func (e *engines) NextDeadline() time.Time {
	a, b := e.v2.NextDeadline(), e.v1.NextDeadline()
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// Tick runs the timers of the engines whose deadline has come.
func (e *engines) Tick(now time.Time) {
	if d := e.v2.NextDeadline(); !d.IsZero() && !now.Before(d) {
		e.v2.Tick(now)
	}
	if d := e.v1.NextDeadline(); !d.IsZero() && !now.Before(d) {
		e.v1.Tick(now)
	}
}

func (e *engines) Initiate(now time.Time, name string) error {
	g, err := e.of(name)
	if err != nil {
		return err
	}
	return g.Initiate(now, name)
}

func (e *engines) Terminate(now time.Time, name string) error {
	g, err := e.of(name)
	if err != nil {
		return err
	}
	return g.Terminate(now, name)
}

func (e *engines) Rekey(now time.Time, name string, ikeSA bool) error {
	g, err := e.of(name)
	if err != nil {
		return err
	}
	return g.Rekey(now, name, ikeSA)
}

func (e *engines) Close(now time.Time) {
	e.v2.Close(now)
	e.v1.Close(now)
}

func (e *engines) Established(name string) bool {
	g, err := e.of(name)
	return err == nil && g.Established(name)
}

func (e *engines) PeerStatus(name string) (ike.PeerStatus, bool) {
	g, err := e.of(name)
	if err != nil {
		return ike.PeerStatus{}, false
	}
	return g.PeerStatus(name)
}

// Peers lists the configured connections (both engines), the
// point-to-site template and its clients.
func (e *engines) Peers() []string {
	return append(e.v2.Peers(), e.v1.Peers()...)
}

// ConfiguredPeers lists the configured connections (both engines) and the
// point-to-site template, not its clients.
func (e *engines) ConfiguredPeers() []string {
	return append(e.v2.ConfiguredPeers(), e.v1.Peers()...)
}

// Changed reports the connections of either engine whose state may have
// changed since the last call.
func (e *engines) Changed(f func(name string)) {
	e.v2.Changed(f)
	e.v1.Changed(f)
}

// SoftLimit and HardLimit go to the engine of the SA's connection (peer
// is its name, as the host knows it).
func (e *engines) SoftLimit(now time.Time, peer string, inSPI uint32) {
	if g, err := e.of(peer); err == nil {
		g.SoftLimit(now, inSPI)
	}
}

func (e *engines) HardLimit(now time.Time, peer string, inSPI uint32) {
	if g, err := e.of(peer); err == nil {
		g.HardLimit(now, inSPI)
	}
}

// Drops are the engines' drop counters for metrics (IKEv2's, IKEv1's);
// metrics adds them up under the same reasons.
func (e *engines) Drops() []*ike.DropCounters { return []*ike.DropCounters{e.v2.Drops(), e.v1.Drops()} }
