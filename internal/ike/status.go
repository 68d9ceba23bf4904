package ike

import (
	"fmt"
	"net/netip"

	"github.com/vpngw/vpngw/internal/tunstat"
)

// The status values the engine reports; they live in package tunstat so
// the control plane can read them without importing the engine.
type (
	// PeerStatus is the state of one configured peer, for status displays.
	PeerStatus = tunstat.PeerStatus
	// IKESAStatus describes one IKE SA.
	IKESAStatus = tunstat.IKESAStatus
	// ChildSAStatus describes one Child SA.
	ChildSAStatus = tunstat.ChildSAStatus
)

var childStateNames = map[childState]string{
	chPending: "negotiating", chInstalled: "installed", chRekeying: "rekeying", chRekeyed: "rekeyed", chDeleting: "deleting",
}

// Status reports every configured peer with its SAs, sorted by name.
func (e *Engine) Status() []PeerStatus {
	var out []PeerStatus
	for _, name := range e.Peers() {
		out = append(out, e.peerStatus(e.peers[name]))
	}
	return out
}

// PeerStatus reports one configured peer with its SAs; it visits only that
// peer's SAs.
func (e *Engine) PeerStatus(name string) (PeerStatus, bool) {
	p := e.peers[name]
	if p == nil {
		return PeerStatus{}, false
	}
	return e.peerStatus(p), true
}

func (e *Engine) peerStatus(p *peer) PeerStatus {
	ps := PeerStatus{Name: p.cfg.Name, State: "down", Mode: p.cfg.ModeName(), LastError: p.lastError}
	if c := p.client; c != nil {
		cs := c.status()
		ps.Client = &cs
	}
	if p.cfg.Remote.IsValid() {
		ps.Remote = netip.AddrPortFrom(p.cfg.Remote, p.cfg.Port)
	}
	if p.sa != nil {
		ps.State = "connecting"
		if p.sa.state == stEstablished {
			ps.State = "established"
			ps.UpSince = p.upSince
			ps.Remote = p.sa.remote
		}
	}
	for _, sa := range e.sasOf(p) {
		st := IKESAStatus{
			SPIi: spiHex(sa.spiI), SPIr: spiHex(sa.spiR), Initiator: sa.initiator, State: sa.state.String(),
			Local: sa.local, Remote: sa.remote, NATLocal: sa.natLocal, NATRemote: sa.natRemote, Encap: sa.encap(),
			Established: sa.established, RekeyAt: sa.rekeyAt,
		}
		if sa.suite.encr.ID != 0 {
			st.Suite = sa.suite.String()
		}
		for _, c := range sa.sortedChildren() {
			if c.state == chPending {
				continue
			}
			st.Children = append(st.Children, ChildSAStatus{
				InSPI: fmt.Sprintf("%08x", c.inSPI), OutSPI: fmt.Sprintf("%08x", c.outSPI),
				State: childStateNames[c.state], Suite: c.suite.String(),
				LocalTS: TSString(c.localTS), RemoteTS: TSString(c.remoteTS), Outbound: c.outActive,
				Established: c.created, RekeyAt: c.rekeyAt,
			})
		}
		ps.IKE = append(ps.IKE, st)
	}
	return ps
}

// Established reports whether the peer has an established IKE SA with at
// least one installed Child SA.
func (e *Engine) Established(name string) bool {
	p := e.peers[name]
	if p == nil || p.sa == nil || p.sa.state != stEstablished {
		return false
	}
	for _, c := range p.sa.children {
		if c.state == chInstalled || c.state == chRekeying {
			return true
		}
	}
	return false
}
