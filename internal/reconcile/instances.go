package reconcile

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/resource"
)

var _ api.GatewayInstanceLister = (*Reconciler)(nil)

// GatewayInstances implements api.GatewayInstanceLister from the last
// pass's desired state and the instances' latest reports. A gateway the
// reconciler has not computed yet has no instances; one it cannot realize
// is a ResourceNotRealizable error saying why.
func (r *Reconciler) GatewayInstances(ctx context.Context, gw *resource.VirtualNetworkGateway) ([]api.GatewayInstance, error) {
	spec, conns, err := r.gatewayView(ctx, gw)
	if spec == nil || err != nil {
		return nil, err
	}
	revs := *r.revs.Load()
	now := time.Now()
	out := make([]api.GatewayInstance, 0, len(spec.Instances))
	for _, in := range spec.Instances {
		gi := api.GatewayInstance{
			Name:             in.ID,
			Index:            in.Index,
			Role:             in.Assignment.Role,
			PublicIPAddress:  in.PublicIP.String(),
			PrivateIPAddress: in.PrivateIP.String(),
			DesiredRevision:  revs[in.ID],
			Connections:      []api.GatewayInstanceConnection{},
		}
		seen, reported := r.cfg.Hub.Report(in.ID)
		fresh := reported && r.fresh(seen, now)
		if reported {
			gi.LastReport = seen.At.UTC().Format(time.RFC3339)
			gi.AppliedRevision = seen.Revision
		}
		switch {
		case !reported:
			gi.State = api.InstanceStateNotConnected
			gi.Error = "it has not reported since the control plane started"
			if p := r.cfg.Provider.InstanceProblem(in.ID); p != "" {
				gi.Error += "; " + p
			}
		case seen.Error != "":
			gi.State = api.InstanceStateFailed
			gi.Error = "it cannot apply its configuration: " + seen.Error
		case !fresh:
			gi.State = api.InstanceStateSilent
			gi.Error = silence(seen, now)
		case seen.Revision < gi.DesiredRevision:
			gi.State = api.InstanceStateApplying
		default:
			gi.State = api.InstanceStateReady
		}
		if in.Active {
			for _, c := range conns {
				status := resource.ConnectionStatusUnknown
				if fresh {
					status = resource.ConnectionStatusNotConnected
					for _, cs := range seen.Status.Connections {
						if !slices.Contains(c.agentNames, cs.Name) {
							continue
						}
						// With several tunnels (an active-active
						// VNet-to-VNet peer), the best of them.
						switch {
						case cs.Status == "Connected":
							status = resource.ConnectionStatusConnected
						case cs.Status == "Connecting" && status != resource.ConnectionStatusConnected:
							status = resource.ConnectionStatusConnecting
						}
					}
				}
				gi.Connections = append(gi.Connections, api.GatewayInstanceConnection{ID: c.id.String(), Name: c.id.Name, ConnectionStatus: status})
			}
		}
		out = append(out, gi)
	}
	return out, nil
}

// gatewayView finds gw in the last pass's desired state, with its
// connections: nil if the reconciler has not computed it yet, a
// ResourceNotRealizable error if it cannot realize it.
func (r *Reconciler) gatewayView(ctx context.Context, gw *resource.VirtualNetworkGateway) (*GatewaySpec, []connRef, error) {
	key, id, err := keyOf(gw)
	if err != nil {
		return nil, nil, err
	}
	d := r.desired.Load()
	gk := GatewayKey(id)
	for _, g := range d.Gateways {
		if g.Key == gk {
			conns, err := r.gatewayConnections(ctx, g)
			return g, conns, err
		}
	}
	if p, ok := d.Problems[key]; ok {
		return nil, nil, resource.Errorf(CodeNotRealizable, "", "Gateway %s has no instances: %s.", id.Name, p.Msg).WithStatus(http.StatusConflict)
	}
	return nil, nil, nil
}

// connRef is a connection of a gateway: its ID as stored and the names its
// agents know its tunnels by (GatewaySpec.tunnelNames).
type connRef struct {
	id         resource.ID
	agentNames []string
}

// gatewayConnections lists spec's connections, sorted by ID, with the IDs
// spelled as stored (the desired state keeps only lower-cased keys).
func (r *Reconciler) gatewayConnections(ctx context.Context, spec *GatewaySpec) ([]connRef, error) {
	if len(spec.Connections) == 0 {
		return nil, nil
	}
	objs, err := r.cfg.View.List(ctx, resource.TypeConnections)
	if err != nil {
		return nil, fmt.Errorf("reconcile: listing connections: %w", err)
	}
	var out []connRef
	for _, o := range objs {
		id, err := resource.ParseID(o.Meta().ID, "")
		if err != nil {
			continue
		}
		if names := spec.tunnelNames(id.Key()); names != nil {
			out = append(out, connRef{id: id, agentNames: names})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id.Key() < out[j].id.Key() })
	return out, nil
}
