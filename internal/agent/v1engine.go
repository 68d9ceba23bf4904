package agent

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/vpngw/vpngw/internal/ike"
	"github.com/vpngw/vpngw/internal/ike/ikev1"
	"github.com/vpngw/vpngw/internal/transform"
)

// v1Engine drives the IKEv1 engine (package ikev1) for the loop and keeps
// the status the agent reports for its connections. The IKEv1 engine has
// the IKEv2 engine's driving shape but no status API of its own, so the
// adapter sits between it and the agent's host: every Child SA install,
// removal and event passes through here on the way to the data plane,
// which is where a connection's Child SAs, its IKE SA's up time and its
// "changed" mark are recorded (O(1) per event).
type v1Engine struct {
	eng  *ikev1.Engine
	host ike.Host // the agent's host (the data plane)
	// peers are the configured connections by name.
	peers map[string]*v1Peer
	// owner maps an installed Child SA's inbound SPI to its connection.
	owner map[uint32]string
	// changed are connections whose status may have changed since the
	// last Changed call.
	changed map[string]struct{}
}

// v1Peer is what the adapter knows of one IKEv1 connection.
type v1Peer struct {
	cfg ike.Peer
	// children are the installed Child SAs by inbound SPI; outbound marks
	// those that carry our outbound traffic.
	children map[uint32]*ike.ChildSA
	outbound map[uint32]bool
	// upSince is when the phase 1 SA came up (zero while down); local,
	// remote and encap are its endpoints as the last Child SA saw them.
	upSince       time.Time
	local, remote netip.AddrPort
	encap         bool
	// lastErr is the reason of the last failure or loss of the phase 1 SA
	// (a dead peer, a Delete from the peer, a refused proposal), as the
	// engine's events gave it.
	lastErr string
}

func newV1Engine(cfg ikev1.Config, host ike.Host, log *slog.Logger) *v1Engine {
	v := &v1Engine{host: host, peers: map[string]*v1Peer{}, owner: map[uint32]string{}, changed: map[string]struct{}{}}
	v.eng = ikev1.New(cfg, v1Host{v}, log)
	return v
}

// SetPeers configures the IKEv1 connections.
func (v *v1Engine) SetPeers(now time.Time, peers []ike.Peer) error {
	eng := make([]ike.Peer, len(peers))
	for i, p := range peers {
		eng[i] = p
		if p.OnDemand && eng[i].Mode != ike.ModeResponderOnly {
			// TODO(merge with wt-v1engine): the IKEv1 engine honours
			// ike.Peer.OnDemand itself; until then ResponderOnly gives the
			// same behaviour (it never initiates on its own, Initiate
			// still does), and the agent initiates on traffic.
			eng[i].Mode = ike.ModeResponderOnly
		}
	}
	if err := v.eng.SetPeers(now, eng); err != nil {
		return err
	}
	keep := make(map[string]bool, len(peers))
	for _, p := range peers {
		keep[p.Name] = true
		if vp := v.peers[p.Name]; vp != nil {
			vp.cfg = p
		} else {
			v.peers[p.Name] = &v1Peer{cfg: p, children: map[uint32]*ike.ChildSA{}, outbound: map[uint32]bool{}}
		}
		v.changed[p.Name] = struct{}{}
	}
	for name, vp := range v.peers {
		if !keep[name] {
			for spi := range vp.children {
				delete(v.owner, spi)
			}
			delete(v.peers, name)
			v.changed[name] = struct{}{}
		}
	}
	return nil
}

func (v *v1Engine) HandlePacket(now time.Time, pkt ike.Packet) { v.eng.HandlePacket(now, pkt) }
func (v *v1Engine) Tick(now time.Time)                         { v.eng.Tick(now) }
func (v *v1Engine) NextDeadline() time.Time                    { return v.eng.NextDeadline() }
func (v *v1Engine) Initiate(now time.Time, name string) error  { return v.eng.Initiate(now, name) }
func (v *v1Engine) Close(now time.Time)                        { v.eng.Close(now) }
func (v *v1Engine) Established(name string) bool               { return v.eng.Established(name) }

// Terminate deletes the connection's SAs on both sides.
func (v *v1Engine) Terminate(now time.Time, name string) error {
	v.changed[name] = struct{}{}
	return v.eng.Terminate(now, name)
}

// errV1NoIKERekey: IKEv1 has no in-place phase 1 rekey (Azure: Main Mode
// re-authentication); the engine re-authenticates on its own schedule.
var errV1NoIKERekey = errors.New("agent: an IKEv1 phase 1 SA is not rekeyed on request (Main Mode re-authentication runs at its lifetime)")

// Rekey runs a Quick Mode rekey of each of the connection's Child SAs.
func (v *v1Engine) Rekey(now time.Time, name string, ikeSA bool) error {
	if ikeSA {
		return errV1NoIKERekey
	}
	vp := v.peers[name]
	if vp == nil {
		return fmt.Errorf("agent: unknown connection %q", name)
	}
	if len(vp.children) == 0 {
		return fmt.Errorf("agent: connection %q has no Child SA to rekey", name)
	}
	var errs []error
	for spi := range vp.children {
		errs = append(errs, v.eng.RekeyChild(now, spi))
	}
	return errors.Join(errs...)
}

// SoftLimit rekeys the Child SA. HardLimit does the same: the data plane
// has stopped using the SA, and the rekey replaces it.
func (v *v1Engine) SoftLimit(now time.Time, inSPI uint32) { _ = v.eng.RekeyChild(now, inSPI) }
func (v *v1Engine) HardLimit(now time.Time, inSPI uint32) { _ = v.eng.RekeyChild(now, inSPI) }

// Changed reports the connections whose status may have changed.
func (v *v1Engine) Changed(f func(name string)) {
	for name := range v.changed {
		f(name)
	}
	clear(v.changed)
}

// Drops is the seam for the IKEv1 engine's drop counters (nil until the
// engine counts its drops; metrics then add them to vpngw_ike_dropped_total).
func (v *v1Engine) Drops() *ike.DropCounters { return nil }

// PeerStatus reports one IKEv1 connection in the IKEv2 engine's form: one
// IKE SA entry for the phase 1 SA (cookies and suite are not exposed by
// the engine) with the installed Child SAs.
func (v *v1Engine) PeerStatus(name string) (ike.PeerStatus, bool) {
	vp := v.peers[name]
	if vp == nil {
		return ike.PeerStatus{}, false
	}
	ps := ike.PeerStatus{Name: name, State: "down", Mode: vp.cfg.Mode.String(), LastError: vp.lastErr}
	if vp.cfg.OnDemand {
		ps.Mode = "OnDemand"
	}
	if vp.cfg.Remote.IsValid() {
		port := vp.cfg.Port
		if port == 0 {
			port = 500
		}
		ps.Remote = netip.AddrPortFrom(vp.cfg.Remote, port)
	}
	if vp.upSince.IsZero() && len(vp.children) == 0 {
		return ps, true
	}
	ps.State = "connecting"
	st := ike.IKESAStatus{State: "connecting", Local: vp.local, Remote: vp.remote, Encap: vp.encap, Suite: "IKEv1"}
	if v.eng.Established(name) {
		ps.State, st.State = "established", "established"
		ps.UpSince, st.Established = vp.upSince, vp.upSince
		if vp.remote.IsValid() {
			ps.Remote = vp.remote
		}
	}
	for _, c := range sortedChildren(vp.children) {
		st.Children = append(st.Children, ike.ChildSAStatus{
			InSPI: fmt.Sprintf("%08x", c.InSPI), OutSPI: fmt.Sprintf("%08x", c.OutSPI), State: "installed",
			Suite:   childSuite(c),
			LocalTS: ike.TSString(c.LocalTS), RemoteTS: ike.TSString(c.RemoteTS), Outbound: vp.outbound[c.InSPI],
			Established: c.Established,
		})
	}
	ps.IKE = []ike.IKESAStatus{st}
	return ps, true
}

// v1Host is the host the IKEv1 engine calls: the agent's host, with the
// adapter's bookkeeping on the way.
type v1Host struct{ v *v1Engine }

func (h v1Host) SendIKE(p ike.Packet) { h.v.host.SendIKE(p) }

func (h v1Host) InstallChildSA(c *ike.ChildSA, outbound bool) error {
	if err := h.v.host.InstallChildSA(c, outbound); err != nil {
		return err
	}
	if vp := h.v.peers[c.Peer]; vp != nil {
		vp.children[c.InSPI] = c
		vp.outbound[c.InSPI] = outbound
		if outbound && c.Replaces != 0 {
			vp.outbound[c.Replaces] = false
		}
		vp.local, vp.remote, vp.encap = c.Local, c.Remote, c.Encap
		h.v.owner[c.InSPI] = c.Peer
		h.v.changed[c.Peer] = struct{}{}
	}
	return nil
}

func (h v1Host) ActivateOutbound(inSPI uint32) {
	h.v.host.ActivateOutbound(inSPI)
	if name, ok := h.v.owner[inSPI]; ok {
		vp := h.v.peers[name]
		for spi := range vp.outbound {
			vp.outbound[spi] = spi == inSPI
		}
		h.v.changed[name] = struct{}{}
	}
}

func (h v1Host) DeleteChildSA(inSPI uint32) {
	h.v.host.DeleteChildSA(inSPI)
	if name, ok := h.v.owner[inSPI]; ok {
		delete(h.v.owner, inSPI)
		if vp := h.v.peers[name]; vp != nil {
			delete(vp.children, inSPI)
			delete(vp.outbound, inSPI)
		}
		h.v.changed[name] = struct{}{}
	}
}

func (h v1Host) PeerEndpoint(peer string, local, remote netip.AddrPort) {
	h.v.host.PeerEndpoint(peer, local, remote)
	if vp := h.v.peers[peer]; vp != nil {
		vp.local, vp.remote = local, remote
		h.v.changed[peer] = struct{}{}
	}
}

func (h v1Host) Event(e ike.Event) {
	h.v.host.Event(e)
	vp := h.v.peers[e.Peer]
	if vp == nil {
		return
	}
	switch e.Kind {
	case ike.EventIKEUp:
		vp.upSince = e.Time
	case ike.EventIKEDown:
		vp.upSince = time.Time{}
		vp.lastErr = e.Reason
	case ike.EventFailure:
		vp.lastErr = e.Reason
	}
	h.v.changed[e.Peer] = struct{}{}
}

// sortedChildren lists Child SAs oldest first (then by SPI), so the
// status is stable.
func sortedChildren(m map[uint32]*ike.ChildSA) []*ike.ChildSA {
	out := make([]*ike.ChildSA, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *ike.ChildSA) int {
		if c := a.Established.Compare(b.Established); c != 0 {
			return c
		}
		return cmp.Compare(a.InSPI, b.InSPI)
	})
	return out
}

// childSuite names a Child SA's ESP transforms in strongSwan's proposal
// syntax ("aes256-sha256", "aes128-sha1-modp1024" with PFS).
func childSuite(c *ike.ChildSA) string {
	p := transform.Proposal{Encr: []transform.Encr{c.Encr}}
	if c.Integ != transform.IntegNone {
		p.Integ = []transform.ID{c.Integ}
	}
	if c.PFS != transform.DHNone {
		p.DH = []transform.ID{c.PFS}
	}
	return p.String()
}
