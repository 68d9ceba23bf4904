package api

import (
	"context"
	"net/http"

	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/resource"
)

// The instances view is a vpngw extension (Azure has no such API): GET
// virtualNetworkGateways/{gw}/instances lists the gateway's instances, the
// `vpngw agent` processes that run it, with their IDs, roles, addresses and
// what they last reported. It is how an operator of the host provider learns
// the instance IDs to start agents with, and sees whether they run.

// GatewayInstance is one gateway instance in the instances view. It never
// carries shared keys or any other part of the instance's configuration.
type GatewayInstance struct {
	// Name is the instance ID, the agent's --instance (e.g. g29654c69-0).
	Name string `json:"name"`
	// Index is the instance's index in the gateway: 0 or 1.
	Index int `json:"index"`
	// Role is "active" (runs the connections) or "standby".
	Role string `json:"role"`
	// State summarizes the instance: one of the InstanceState constants.
	State string `json:"state"`
	// PublicIPAddress is the address the instance negotiates from; the
	// instance's host must own it while the instance is active.
	PublicIPAddress string `json:"publicIpAddress"`
	// PrivateIPAddress is the instance's address in the GatewaySubnet.
	PrivateIPAddress string `json:"privateIpAddress"`
	// LastReport is when the instance last reported (RFC 3339, UTC), or
	// "" if it never did since the control plane started.
	LastReport string `json:"lastReport"`
	// AppliedRevision is the revision of the assignment the instance runs
	// (0 before its first report, -1 while it has none).
	AppliedRevision int64 `json:"appliedRevision"`
	// DesiredRevision is the revision of the assignment the control plane
	// hands the instance.
	DesiredRevision int64 `json:"desiredRevision"`
	// Error explains a State other than Ready, or is "".
	Error string `json:"error"`
	// Connections are the connections the instance runs (none on a
	// standby), with their status as the instance reports it.
	Connections []GatewayInstanceConnection `json:"connections"`
}

// GatewayInstanceConnection is one connection on a gateway instance.
type GatewayInstanceConnection struct {
	// ID is the connection's resource ID.
	ID string `json:"id"`
	// Name is the connection's name.
	Name string `json:"name"`
	// ConnectionStatus is Connected, Connecting, NotConnected or Unknown
	// (no recent report).
	ConnectionStatus string `json:"connectionStatus"`
}

// States of a gateway instance (GatewayInstance.State).
const (
	// InstanceStateReady: the instance runs its current assignment and
	// reports regularly.
	InstanceStateReady = "Ready"
	// InstanceStateApplying: the instance reports, but has not applied its
	// newest assignment yet.
	InstanceStateApplying = "Applying"
	// InstanceStateFailed: the instance cannot apply its assignment (Error
	// says why).
	InstanceStateFailed = "Failed"
	// InstanceStateNotConnected: the instance has not reported since the
	// control plane started (its agent is not running, or cannot reach
	// the agent API).
	InstanceStateNotConnected = "NotConnected"
	// InstanceStateSilent: the instance reported once but not recently.
	InstanceStateSilent = "Silent"
)

// GatewayInstanceLister is an optional interface of a Provisioner whose
// gateways run as instances (the lab and host providers). The API serves
// the instances view only when the Provisioner implements it; otherwise
// (--provider none) the view answers 404 InstancesNotAvailable.
type GatewayInstanceLister interface {
	// GatewayInstances lists gw's instances in index order, answering
	// from memory. A gateway that is not (yet) realized has none; a
	// returned *armerr.Error is shown to the client.
	GatewayInstances(ctx context.Context, gw *resource.VirtualNetworkGateway) ([]GatewayInstance, error)
}

// CodeInstancesNotAvailable: 404, the server's provider runs no gateway
// instances (--provider none).
const CodeInstancesNotAvailable = "InstancesNotAvailable"

// instanceList is the body of the instances view.
type instanceList struct {
	// Value holds the instances.
	Value []GatewayInstance `json:"value"`
}

// listGatewayInstances serves GET virtualNetworkGateways/{name}/instances.
func (s *Server) listGatewayInstances(w http.ResponseWriter, r *request) error {
	ctx := r.Context()
	id, err := resourceID(r, gatewayKind)
	if err != nil {
		return err
	}
	st, err := registry.Load(ctx, s.st, id)
	if err != nil {
		return err
	}
	if st == nil {
		return s.notFoundIn(ctx, id)
	}
	lister, ok := s.prov.(GatewayInstanceLister)
	if !ok {
		return errorf(http.StatusNotFound, CodeInstancesNotAvailable, "",
			"The server runs with --provider %s, which runs no gateway instances; the instances view needs --provider host or lab.", s.prov.Name())
	}
	list, err := lister.GatewayInstances(ctx, st.Obj.(*resource.VirtualNetworkGateway))
	if err != nil {
		return err
	}
	if list == nil {
		list = []GatewayInstance{}
	}
	for i := range list {
		if list[i].Connections == nil {
			list[i].Connections = []GatewayInstanceConnection{}
		}
	}
	writeJSON(w, http.StatusOK, instanceList{Value: list})
	return nil
}
