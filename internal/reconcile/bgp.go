package reconcile

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/resource"
)

var _ api.GatewayBGPReporter = (*Reconciler)(nil)

// GatewayBGP implements api.GatewayBGPReporter: the BGP part of the latest
// fresh report of each of gw's instances that runs a speaker, with the
// peers' connections named as the API names them.
func (r *Reconciler) GatewayBGP(ctx context.Context, gw *resource.VirtualNetworkGateway) ([]agentapi.BGPStatus, error) {
	spec, conns, err := r.gatewayView(ctx, gw)
	if spec == nil || err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, c := range conns {
		for _, n := range c.agentNames {
			names[n] = c.id.Name
		}
	}
	now := time.Now()
	var out []agentapi.BGPStatus
	for _, in := range spec.Instances {
		seen, reported := r.cfg.Hub.Report(in.ID)
		if !reported || !r.fresh(seen, now) || seen.Status.BGP == nil {
			continue
		}
		b := *seen.Status.BGP
		b.Peers = slices.Clone(b.Peers)
		for i := range b.Peers {
			b.Peers[i].Connection = names[b.Peers[i].Connection]
		}
		out = append(out, b)
	}
	return out, nil
}

// addLearnedRoutes adds to each gateway's VNet routes the prefixes its
// active instances learned over BGP, as their fresh reports list them
// (Azure's VNet learns the gateway's BGP routes). A learned 0.0.0.0/0
// becomes the VNet's default route (Azure: it forces the VNet's egress
// on-premises; the instance routes it into the tunnel for the VNet's
// packets only, dataplane.SetLocalPrefixes). Left out: prefixes
// overlapping the VNet's address space. Passes run every two
// seconds, so a learned or withdrawn route reaches the VNet within one
// pass after the report. Each learned prefix goes through the first
// active instance that learned it (GatewaySpec.LearnedVia), so in
// active-active it falls back to the other instance when the first loses
// its session.
func (r *Reconciler) addLearnedRoutes(d *Desired, now time.Time) {
	space := map[string][]netip.Prefix{}
	for _, v := range d.VNets {
		space[v.Key] = v.AddressSpace
	}
	for _, g := range d.Gateways {
		routes := slices.Clone(g.Routes)
		static := map[netip.Prefix]bool{}
		for _, p := range g.Routes {
			static[p] = true
		}
		for _, in := range g.Instances {
			seen, reported := r.cfg.Hub.Report(in.ID)
			if !in.Active || !reported || !r.fresh(seen, now) || seen.Status.BGP == nil {
				continue
			}
			for _, rt := range seen.Status.BGP.LearnedRoutes {
				p, err := netip.ParsePrefix(rt.Network)
				if err != nil || rt.Origin == bgpOriginNetwork ||
					p.Bits() > 0 && slices.ContainsFunc(space[g.VNetKey], p.Overlaps) {
					continue
				}
				p = p.Masked()
				if static[p] {
					continue
				}
				if _, ok := g.LearnedVia[p]; !ok {
					if g.LearnedVia == nil {
						g.LearnedVia = map[netip.Prefix]int{}
					}
					g.LearnedVia[p] = in.Index
					routes = append(routes, p)
				}
			}
		}
		g.Routes = dedupPrefixes(routes)
	}
}

// bgpOriginNetwork is the origin of a speaker's own routes in a report
// (bgp.OriginNetwork; the control plane does not link the speaker).
const bgpOriginNetwork = "Network"
