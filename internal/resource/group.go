package resource

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// ResourceGroup is a resource group (Microsoft.Resources/resourceGroups).
type ResourceGroup struct {
	Envelope
	// Properties holds the group's properties.
	Properties ResourceGroupProperties `json:"properties"`
}

// ResourceGroupProperties are a resource group's properties.
type ResourceGroupProperties struct {
	// ProvisioningState is read-only.
	ProvisioningState string `json:"provisioningState,omitempty"`
}

// Meta returns the envelope.
func (r *ResourceGroup) Meta() *Envelope { return &r.Envelope }

// ProvisioningState returns properties.provisioningState.
func (r *ResourceGroup) ProvisioningState() string { return r.Properties.ProvisioningState }

// SetProvisioningState sets properties.provisioningState.
func (r *ResourceGroup) SetProvisioningState(s string) { r.Properties.ProvisioningState = s }

// DeleteOrder returns the top-level resource types in the order a
// resource group delete removes them: users before what they use.
func DeleteOrder() []string {
	return []string{TypeConnections, TypeVirtualNetworkGateways, TypeLocalNetworkGateways, TypePublicIPAddresses, TypeVirtualNetworks}
}

// PlanGroupDelete returns the resources of a resource group in the order
// they can be deleted (connections, gateways, local network gateways,
// public IPs, virtual networks), or a 409 *Error (CodeInUse) naming the
// resources outside the group that refer to resources inside it.
func PlanGroupDelete(ctx context.Context, v View, subscription, group string) ([]Object, error) {
	gid := ID{Subscription: subscription, ResourceGroup: group}
	inGroup := func(id ID) bool { return id.GroupID().Equal(gid) }
	var plan []Object
	var outside []string
	for _, typ := range DeleteOrder() {
		objs, err := v.List(ctx, typ)
		if err != nil {
			return nil, fmt.Errorf("resource: list %s: %w", typ, err)
		}
		for _, o := range objs {
			id, ok := selfID(o)
			if !ok {
				continue
			}
			if inGroup(id) {
				plan = append(plan, o)
				continue
			}
			for _, ref := range References(o) {
				if inGroup(ref) {
					outside = append(outside, fmt.Sprintf("%s (refers to %s)", id, ref))
				}
			}
		}
	}
	if len(outside) > 0 {
		return nil, Errorf(CodeInUse, "",
			"Resource group %s cannot be deleted: resources outside it refer to resources inside it: %s. Delete or change them first.",
			group, strings.Join(outside, "; ")).WithStatus(http.StatusConflict)
	}
	return plan, nil
}
