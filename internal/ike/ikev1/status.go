package ikev1

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
)

// The methods below mirror ike.Engine's, so the agent drives either
// engine through one set of calls.

// Peers returns the names of the configured peers, in configuration
// order.
func (e *Engine) Peers() []string { return append([]string(nil), e.order...) }

// Established reports whether the named peer has an established phase 1
// SA and at least one Child SA.
func (e *Engine) Established(name string) bool {
	p := e.peers[name]
	return p != nil && p.sa != nil && p.sa.state == stEstablished && len(p.children) > 0
}

// Children returns the inbound SPIs of the named peer's Child SAs.
func (e *Engine) Children(name string) []uint32 {
	p := e.peers[name]
	if p == nil {
		return nil
	}
	var out []uint32
	for _, c := range p.children {
		out = append(out, c.InSPI)
	}
	return out
}

// LastError is the reason of the named peer's last failure.
func (e *Engine) LastError(name string) string {
	if p := e.peers[name]; p != nil {
		return p.lastErr
	}
	return ""
}

// Changed calls f with the name of every peer whose state may have
// changed since the last call, each once, and forgets them.
func (e *Engine) Changed(f func(name string)) {
	for name := range e.changed {
		f(name)
	}
	clear(e.changed)
}

// PeerAlive tells the engine that authenticated traffic from the peer
// arrived at t: dead peer detection waits its interval again. (A Host
// that implements ike.LastReceiver is asked instead, when a check is due.)
func (e *Engine) PeerAlive(name string, t time.Time) {
	if p := e.peers[name]; p != nil && p.sa != nil && t.After(p.sa.lastSeen) {
		p.sa.lastSeen = t
	}
}

// Status reports every configured peer with its SAs, in configuration
// order.
func (e *Engine) Status() []ike.PeerStatus {
	var out []ike.PeerStatus
	for _, name := range e.order {
		out = append(out, e.peerStatus(e.peers[name]))
	}
	return out
}

// PeerStatus reports one configured peer with its SAs.
func (e *Engine) PeerStatus(name string) (ike.PeerStatus, bool) {
	p := e.peers[name]
	if p == nil {
		return ike.PeerStatus{}, false
	}
	return e.peerStatus(p), true
}

var stateNames = map[state]string{stMM1: "MM1 sent", stMM3: "MM3 sent", stMM5: "MM5 sent", stMM2: "MM2 sent", stMM4: "MM4 sent",
	stEstablished: "established", stDead: "dead"}

// peerStatus lists p's phase 1 SAs as IKE SAs; each Child SA is listed
// under the SA whose Quick Mode created it.
func (e *Engine) peerStatus(p *peer) ike.PeerStatus {
	ps := ike.PeerStatus{Name: p.cfg.Name, State: "down", Mode: p.cfg.ModeName(), LastError: p.lastErr,
		Remote: netip.AddrPortFrom(p.cfg.Remote, p.cfg.Port)}
	if p.sa != nil {
		ps.State = "connecting"
		if p.sa.state == stEstablished {
			ps.State, ps.UpSince, ps.Remote = "established", p.upSince, p.sa.remote
		}
	}
	for _, s := range e.sasOf(p) {
		st := ike.IKESAStatus{SPIi: fmt.Sprintf("%016x", s.ci), SPIr: fmt.Sprintf("%016x", s.cr), Initiator: s.initiator,
			State: stateNames[s.state], Local: s.local, Remote: s.remote, NATLocal: s.nat, NATRemote: s.nat, Encap: s.nat,
			Established: s.established}
		if s.state == stEstablished {
			st.Suite = s.suite.String()
			st.RekeyAt = s.reauthAt
		}
		for _, c := range p.children {
			if c.on != s {
				continue
			}
			state := "installed"
			switch {
			case !c.deleteAt.IsZero():
				state = "rekeyed"
			case c.rekeying:
				state = "rekeying"
			}
			st.Children = append(st.Children, ike.ChildSAStatus{
				InSPI: fmt.Sprintf("%08x", c.InSPI), OutSPI: fmt.Sprintf("%08x", c.OutSPI), State: state,
				Suite: qmSuite{c.Encr, c.Integ, c.PFS}.String(), LocalTS: ike.TSString(c.LocalTS), RemoteTS: ike.TSString(c.RemoteTS),
				Outbound: c.deleteAt.IsZero() && c.activateAt.IsZero(), Established: c.Established, RekeyAt: c.rekeyAt,
			})
		}
		ps.IKE = append(ps.IKE, st)
	}
	return ps
}
