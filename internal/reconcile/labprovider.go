package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/vpngw/vpngw/internal/lab"
)

// LabProvider is --provider lab: every VNet, gateway instance and public IP
// becomes network namespaces on this host (package lab), and every instance
// runs `vpngw agent --server unix://SOCKET --instance ID` inside its
// namespace, detached so that it survives the control plane.
type LabProvider struct {
	Lab *lab.Lab
	// AgentArgv is the command that starts an agent; the provider appends
	// --instance ID. E.g. [/usr/bin/vpngw agent --server unix:///var/lib/vpngw/agent.sock --state-dir /var/lib/vpngw/agents].
	AgentArgv []string

	mu sync.Mutex // one Apply at a time
}

// Name implements Provider.
func (p *LabProvider) Name() string { return "lab" }

func (p *LabProvider) agentName(id string) string { return "agent-" + id }

// Apply implements Provider.
func (p *LabProvider) Apply(ctx context.Context, d *Desired) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.Lab
	var errs []error
	// The internet only when a gateway needs it: with nothing desired the
	// lab creates nothing (lab down stays down, a test leaves nothing).
	if len(d.Gateways) > 0 {
		if err := l.EnsureInternet(ctx); err != nil {
			return err
		}
	}
	wantVNets := map[string]bool{}
	vnetIDs := map[string]string{} // key -> ID string
	for _, v := range d.VNets {
		spec := lab.VNetSpec{ID: v.ID.String(), AddressSpace: v.AddressSpace}
		byName := map[string]int{}
		for _, s := range v.Subnets {
			if i, ok := byName[s.Name]; ok {
				spec.Subnets[i].Prefixes = append(spec.Subnets[i].Prefixes, s.Prefix)
				continue
			}
			byName[s.Name] = len(spec.Subnets)
			spec.Subnets = append(spec.Subnets, lab.SubnetSpec{Name: s.Name, Prefixes: []netip.Prefix{s.Prefix}})
		}
		if err := l.EnsureVNet(ctx, spec); err != nil {
			errs = append(errs, fmt.Errorf("virtual network %s: %w", v.ID, err))
			continue
		}
		wantVNets[strings.ToLower(spec.ID)] = true
		vnetIDs[v.Key] = spec.ID
	}
	routes := map[string][]lab.Route{}
	wantGW := map[string]bool{}
	for _, g := range d.Gateways {
		vnetID, ok := vnetIDs[g.VNetKey]
		if !ok {
			continue
		}
		gid := g.ID.String()
		wantGW[strings.ToLower(gid)] = true
		var via netip.Addr
		viaOf := map[int]netip.Addr{} // each active instance's address
		// Release the public IPs first (a failover moves them), then
		// give them to the active instances.
		ordered := append([]*InstanceSpec(nil), g.Instances...)
		for pass := 0; pass < 2; pass++ {
			for _, in := range ordered {
				if in.Active != (pass == 1) {
					continue
				}
				gi, err := l.EnsureGatewayInstance(ctx, lab.GatewayInstanceSpec{Gateway: gid, Instance: in.Index, VNet: vnetID, Subnet: "GatewaySubnet", Address: in.PrivateIP})
				if err != nil {
					errs = append(errs, fmt.Errorf("gateway %s instance %d: %w", g.ID, in.Index, err))
					continue
				}
				var ips []netip.Addr
				if in.Active {
					ips = []netip.Addr{in.PublicIP}
					if !via.IsValid() {
						via = gi.Address.Addr()
					}
					viaOf[in.Index] = gi.Address.Addr()
				}
				if err := l.SetPublicIPs(ctx, gid, in.Index, ips); err != nil {
					errs = append(errs, fmt.Errorf("gateway %s instance %d public IP: %w", g.ID, in.Index, err))
				}
				argv := append(append([]string(nil), p.AgentArgv...), "--instance", in.ID)
				if _, err := l.EnsureProcess(ctx, lab.ProcessSpec{Name: p.agentName(in.ID), Namespace: gi.Namespace, Argv: argv}); err != nil {
					errs = append(errs, fmt.Errorf("gateway %s instance %d agent: %w", g.ID, in.Index, err))
				}
			}
		}
		// The point-to-site public IP of an active-active gateway goes to
		// the instances that work, clients spread over them by their
		// address, translated like Azure's load balancer does.
		var fronts map[netip.Addr][]int
		if g.P2SAddress.IsValid() {
			fronts = map[netip.Addr][]int{g.P2SAddress: g.P2SFrontends}
		}
		if err := l.SetFrontends(ctx, gid, fronts); err != nil {
			errs = append(errs, fmt.Errorf("gateway %s point-to-site public IP: %w", g.ID, err))
		}
		if via.IsValid() {
			for _, r := range g.Routes {
				v := via
				if i, ok := g.LearnedVia[r]; ok && viaOf[i].IsValid() {
					v = viaOf[i] // learned over BGP by this instance
				}
				if i, ok := g.PinnedVia[r]; ok && viaOf[i].IsValid() {
					v = viaOf[i] // this instance's half of the P2S pool
				}
				routes[vnetID] = append(routes[vnetID], lab.Route{Prefix: r, Via: v})
			}
		}
	}
	for _, v := range d.VNets {
		id := v.ID.String()
		if !wantVNets[strings.ToLower(id)] {
			continue
		}
		if err := l.SetVNetRoutes(ctx, id, routes[id]); err != nil {
			errs = append(errs, fmt.Errorf("virtual network %s routes: %w", v.ID, err))
		}
	}
	// Remove what is no longer desired, as recorded by the lab (also
	// across restarts): gateways (their agents first), then VNets.
	st := l.Status()
	for _, g := range st.Gateways {
		if wantGW[strings.ToLower(g.ID)] {
			continue
		}
		for _, in := range g.Instances {
			_ = l.StopProcess(ctx, p.agentName(InstanceIDFromLab(in.GatewayInstance)))
		}
		if err := l.DeleteGateway(ctx, g.ID); err != nil && !errors.Is(err, lab.ErrNotFound) {
			errs = append(errs, fmt.Errorf("removing gateway %s: %w", g.ID, err))
		}
	}
	for _, v := range st.VNets {
		if wantVNets[strings.ToLower(v.ID)] {
			continue
		}
		if err := l.DeleteVNet(ctx, v.ID); err != nil && !errors.Is(err, lab.ErrNotFound) {
			errs = append(errs, fmt.Errorf("removing virtual network %s: %w", v.ID, err))
		}
	}
	return errors.Join(errs...)
}

// InstanceIDFromLab names the agent of a lab gateway instance.
func InstanceIDFromLab(gi lab.GatewayInstance) string {
	id, err := parseGatewayID(gi.Gateway)
	if err != nil {
		return ""
	}
	return InstanceID(id, gi.Instance)
}

// InstanceProblem implements Provider: an agent that is not running, with
// the end of its log.
func (p *LabProvider) InstanceProblem(id string) string {
	for _, ps := range p.Lab.Processes() {
		if ps.Name != p.agentName(id) {
			continue
		}
		if ps.Running {
			return ""
		}
		return "its agent process exited; log " + ps.LogFile + ": " + tailFile(ps.LogFile, 5)
	}
	return "its agent was not started"
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
