package api

import (
	"context"

	"github.com/vpngw/vpngw/internal/resource"
)

// Provisioner turns stored resources into running infrastructure: networks,
// gateway instances, tunnels. The API calls it from operation goroutines,
// never while holding its writer lock, and never for two operations on the
// same resource at once; calls for different resources may run concurrently.
//
// Calls are level-triggered: obj is the whole desired state, not a diff, and
// after a restart the API repeats the call for every operation that had not
// finished. Implementations must make repeated calls harmless.
//
// The View reads the stored resources (for example a connection's gateways
// and local network gateway); it reflects the store at the time of the read.
// Objects passed in include secrets (shared keys); a Provisioner must not log
// them.
type Provisioner interface {
	// Name identifies the provider in logs ("none", "lab", "host").
	Name() string

	// Realize creates or updates the infrastructure for obj: a resource
	// group, VNet, public IP, gateway, local network gateway or
	// connection. A returned *armerr.Error is shown to the client as the
	// operation's error; any other error becomes an internal error. If ctx
	// is canceled because the server is shutting down, the operation is
	// resumed on the next start.
	Realize(ctx context.Context, v resource.View, obj resource.Object) error

	// Teardown removes obj's infrastructure. Tearing down something that
	// was never realized, or is already gone, succeeds.
	Teardown(ctx context.Context, v resource.View, obj resource.Object) error

	// ResetGateway restarts a gateway's instances (Azure's gateway reset);
	// gatewayVIP, when not empty, names the public IP of the one
	// active-active instance to reset.
	ResetGateway(ctx context.Context, v resource.View, gw *resource.VirtualNetworkGateway, gatewayVIP string) error

	// ResetConnection resets one connection (Azure's resetconnection):
	// every instance running it deletes its SAs and negotiates them again;
	// the gateway's other connections are not touched.
	ResetConnection(ctx context.Context, v resource.View, c *resource.Connection) error

	// ConnectionStatus reports the live status of a realized connection
	// (provisioningState Succeeded): connectionStatus, per-tunnel status and
	// byte counters. It must be honest: Connected only when a tunnel is up.
	// The API calls it on every read of a connection (GET, lists), so it
	// must answer from memory, not by probing. A status outside ARM's four
	// values, or an error, is shown as Unknown.
	ConnectionStatus(ctx context.Context, c *resource.Connection) (resource.ConnectionStatusReport, error)
}

// NoneProvisioner is --provider none: the control plane alone. It realizes
// and tears down instantly without creating anything, and reports every
// connection NotConnected, because no tunnel exists.
type NoneProvisioner struct{}

var _ Provisioner = NoneProvisioner{}

// Name implements Provisioner.
func (NoneProvisioner) Name() string { return "none" }

// Realize implements Provisioner; it does nothing.
func (NoneProvisioner) Realize(ctx context.Context, _ resource.View, _ resource.Object) error {
	return ctx.Err()
}

// Teardown implements Provisioner; it does nothing.
func (NoneProvisioner) Teardown(ctx context.Context, _ resource.View, _ resource.Object) error {
	return ctx.Err()
}

// ResetGateway implements Provisioner; it does nothing.
func (NoneProvisioner) ResetGateway(ctx context.Context, _ resource.View, _ *resource.VirtualNetworkGateway, _ string) error {
	return ctx.Err()
}

// ResetConnection implements Provisioner; it does nothing.
func (NoneProvisioner) ResetConnection(ctx context.Context, _ resource.View, _ *resource.Connection) error {
	return ctx.Err()
}

// ConnectionStatus implements Provisioner: NotConnected, no tunnels, no
// traffic.
func (NoneProvisioner) ConnectionStatus(context.Context, *resource.Connection) (resource.ConnectionStatusReport, error) {
	return resource.ConnectionStatusReport{Status: resource.ConnectionStatusNotConnected}, nil
}
