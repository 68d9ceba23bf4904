package reconcile

import (
	"context"
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
	spec, conns, err := r.gatewaySpec(ctx, gw)
	if spec == nil || err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, c := range conns {
		names[c.agentName] = c.id.Name
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
