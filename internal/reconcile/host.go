package reconcile

import "context"

// HostProvider is --provider host: gateway instances are real machines
// running `vpngw agent --server URL --instance ID`; the control plane
// creates nothing itself. Each instance host must own the public IP address
// its assignment names (localAddress) and route the VNet's address space
// itself; see docs/host.md.
type HostProvider struct{}

// Name implements Provider.
func (HostProvider) Name() string { return "host" }

// Apply implements Provider: nothing to build; the instances come to the
// agent API by themselves.
func (HostProvider) Apply(context.Context, *Desired) error { return nil }

// InstanceProblem implements Provider: the control plane cannot see the
// hosts, so it can only say how to start the instance.
func (HostProvider) InstanceProblem(id string) string {
	return "start it on its host with `vpngw agent --server URL --instance " + id + " --token-file FILE` (see docs/host.md)"
}
