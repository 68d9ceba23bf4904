package resource

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// References returns the IDs of the resources obj refers to: a gateway's
// subnets (child IDs .../virtualNetworks/{v}/subnets/{s}), public IPs and
// default site; a connection's gateways and local network gateway.
// References that do not parse are left out.
func References(obj Object) []ID {
	var refs []string
	switch o := obj.(type) {
	case *VirtualNetworkGateway:
		for _, c := range o.Properties.IPConfigurations {
			refs = append(refs, refID(c.Properties.Subnet), refID(c.Properties.PublicIPAddress))
		}
		refs = append(refs, refID(o.Properties.GatewayDefaultSite))
	case *Connection:
		refs = append(refs, refID(o.Properties.VirtualNetworkGateway1), refID(o.Properties.VirtualNetworkGateway2), refID(o.Properties.LocalNetworkGateway2))
	}
	var out []ID
	for _, s := range refs {
		if s == "" {
			continue
		}
		id, err := ParseID(s, "")
		if err != nil || slices.ContainsFunc(out, id.Equal) {
			continue
		}
		out = append(out, id)
	}
	return out
}

// inUse is the 409 error for deleting something still referenced.
func inUse(what string, users []string) *Error {
	them := "them"
	if len(users) == 1 {
		them = "it"
	}
	return Errorf(CodeInUse, "", "%s is in use by %s and cannot be deleted; delete or change %s first.",
		what, strings.Join(users, ", "), them).WithStatus(http.StatusConflict)
}

// CheckDelete reports whether obj may be deleted: a 409 *Error with Code
// CodeInUse naming the resources that still use it, nil when it is free.
// A VNet is refused while a gateway uses one of its subnets (its subnets
// are deleted with it); a public IP while a gateway uses it; a gateway
// while a connection uses it; a local network gateway while a connection
// uses it or a gateway has it as its default site; a resource group while
// a resource outside the group refers to one inside (see PlanGroupDelete).
func CheckDelete(ctx context.Context, v View, obj Object) error {
	id, ok := selfID(obj)
	if !ok {
		return fmt.Errorf("resource: CheckDelete: %T has no ID", obj)
	}
	var users []string
	switch o := obj.(type) {
	case *ResourceGroup:
		_, err := PlanGroupDelete(ctx, v, id.Subscription, id.ResourceGroup)
		return err
	case *Subnet:
		vid := id.Parent()
		vo, err := v.Get(ctx, vid)
		if err != nil {
			return fmt.Errorf("resource: get %s: %w", vid, err)
		}
		vnet, ok := vo.(*VirtualNetwork)
		if !ok {
			return fmt.Errorf("resource: %s is a %T", vid, vo)
		}
		return CheckSubnetDelete(ctx, v, vnet, id.ChildName)
	case *VirtualNetwork:
		gws, err := listGateways(ctx, v)
		if err != nil {
			return err
		}
		for _, g := range gws {
			for _, c := range g.Properties.IPConfigurations {
				if sid, err := ParseID(refID(c.Properties.Subnet), ""); err == nil && sid.Parent().Equal(id) {
					users = append(users, ipConfigID(g, c.Name))
				}
			}
		}
		if len(users) > 0 {
			return inUse(fmt.Sprintf("Virtual network %s (its GatewaySubnet)", o.Name), users)
		}
	case *PublicIPAddress:
		gws, err := listGateways(ctx, v)
		if err != nil {
			return err
		}
		for _, g := range gws {
			for _, c := range g.Properties.IPConfigurations {
				if sameID(refID(c.Properties.PublicIPAddress), o.ID) {
					users = append(users, ipConfigID(g, c.Name))
				}
			}
		}
		if len(users) > 0 {
			return inUse("Public IP address "+o.Name, users)
		}
	case *VirtualNetworkGateway:
		conns, err := listConnections(ctx, v)
		if err != nil {
			return err
		}
		for _, c := range conns {
			if sameID(refID(c.Properties.VirtualNetworkGateway1), o.ID) || sameID(refID(c.Properties.VirtualNetworkGateway2), o.ID) {
				users = append(users, c.ID)
			}
		}
		if len(users) > 0 {
			return inUse("Virtual network gateway "+o.Name, users)
		}
	case *LocalNetworkGateway:
		conns, err := listConnections(ctx, v)
		if err != nil {
			return err
		}
		for _, c := range conns {
			if sameID(refID(c.Properties.LocalNetworkGateway2), o.ID) {
				users = append(users, c.ID)
			}
		}
		gws, err := listGateways(ctx, v)
		if err != nil {
			return err
		}
		for _, g := range gws {
			if sameID(refID(g.Properties.GatewayDefaultSite), o.ID) {
				users = append(users, g.ID+" (gatewayDefaultSite)")
			}
		}
		if len(users) > 0 {
			return inUse("Local network gateway "+o.Name, users)
		}
	case *Connection:
	default:
		return fmt.Errorf("resource: CheckDelete: unsupported type %T", obj)
	}
	return nil
}

// CheckSubnetDelete reports whether the named subnet of vnet may be
// deleted: a 409 *Error (CodeInUse) naming the gateway ipConfigurations
// that use it, nil when it is free or does not exist.
func CheckSubnetDelete(ctx context.Context, v View, vnet *VirtualNetwork, subnet string) error {
	id, ok := selfID(vnet)
	if !ok {
		return fmt.Errorf("resource: CheckSubnetDelete: the virtual network has no ID")
	}
	gws, err := listGateways(ctx, v)
	if err != nil {
		return err
	}
	var users []string
	for _, g := range gws {
		for _, c := range g.Properties.IPConfigurations {
			sid, err := ParseID(refID(c.Properties.Subnet), "")
			if err == nil && sid.Parent().Equal(id) && strings.EqualFold(sid.ChildName, subnet) {
				users = append(users, ipConfigID(g, c.Name))
			}
		}
	}
	if len(users) > 0 {
		return inUse("Subnet "+subnet, users)
	}
	return nil
}

// PlanGroupDelete returns the resources of a resource group in the order
// they can be deleted (connections, gateways, local network gateways,
// public IPs, virtual networks), or a 409 *Error (CodeInUse) naming the
// resources outside the group that refer to resources inside it.
func PlanGroupDelete(ctx context.Context, v View, subscription, group string) ([]Object, error) {
	gid := ID{Subscription: subscription, ResourceGroup: group}
	inGroup := func(id ID) bool { return id.GroupID().Equal(gid) }
	// Users before what they use.
	order := [...]string{TypeConnections, TypeVirtualNetworkGateways, TypeLocalNetworkGateways, TypePublicIPAddresses, TypeVirtualNetworks}
	var plan []Object
	var outside []string
	for _, typ := range order {
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

func listGateways(ctx context.Context, v View) ([]*VirtualNetworkGateway, error) {
	objs, err := v.List(ctx, TypeVirtualNetworkGateways)
	if err != nil {
		return nil, fmt.Errorf("resource: list gateways: %w", err)
	}
	var out []*VirtualNetworkGateway
	for _, o := range objs {
		if g, ok := o.(*VirtualNetworkGateway); ok {
			out = append(out, g)
		}
	}
	return out, nil
}

func listConnections(ctx context.Context, v View) ([]*Connection, error) {
	objs, err := v.List(ctx, TypeConnections)
	if err != nil {
		return nil, fmt.Errorf("resource: list connections: %w", err)
	}
	var out []*Connection
	for _, o := range objs {
		if c, ok := o.(*Connection); ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// Populate fills the read-only back-references of obj from v: each
// subnet's ipConfigurations (the gateway ipConfigurations using it) and a
// public IP's ipConfiguration. It modifies obj: call it on the copy being
// returned (after Redact), not on a stored object.
func Populate(ctx context.Context, v View, obj Object) error {
	switch o := obj.(type) {
	case *VirtualNetwork, *Subnet, *PublicIPAddress:
		gws, err := listGateways(ctx, v)
		if err != nil {
			return err
		}
		uses := func(match func(c *VirtualNetworkGatewayIPConfiguration) bool) []SubResource {
			var out []SubResource
			for _, g := range gws {
				for i := range g.Properties.IPConfigurations {
					c := &g.Properties.IPConfigurations[i]
					if match(c) {
						out = append(out, SubResource{ID: ipConfigID(g, c.Name)})
					}
				}
			}
			return out
		}
		subnetUses := func(subnetID ID) []SubResource {
			return uses(func(c *VirtualNetworkGatewayIPConfiguration) bool {
				id, err := ParseID(refID(c.Properties.Subnet), "")
				return err == nil && id.Equal(subnetID)
			})
		}
		switch o := o.(type) {
		case *VirtualNetwork:
			vid, ok := selfID(o)
			if !ok {
				return nil
			}
			for i := range o.Properties.Subnets {
				s := &o.Properties.Subnets[i]
				sid := vid
				sid.Child, sid.ChildName = TypeSubnets, s.Name
				s.Properties.IPConfigurations = subnetUses(sid)
			}
		case *Subnet:
			if sid, ok := selfID(o); ok {
				o.Properties.IPConfigurations = subnetUses(sid)
			}
		case *PublicIPAddress:
			o.Properties.IPConfiguration = nil
			if o.ID != "" {
				if u := uses(func(c *VirtualNetworkGatewayIPConfiguration) bool {
					return sameID(refID(c.Properties.PublicIPAddress), o.ID)
				}); len(u) > 0 {
					o.Properties.IPConfiguration = &u[0]
				}
			}
		}
	}
	return nil
}

// Clone returns a deep copy of obj.
func Clone(obj Object) Object {
	out, ok := NewObject(TypeOf(obj))
	if !ok {
		panic(fmt.Sprintf("resource: Clone: unsupported type %T", obj))
	}
	b, err := json.Marshal(obj)
	if err == nil {
		err = json.Unmarshal(b, out)
	}
	if err != nil {
		panic(fmt.Sprintf("resource: Clone %T: %v", obj, err)) // plain structs always round-trip
	}
	return out
}

// Redact returns a deep copy of obj with every secret removed: a
// connection's sharedKey and the RADIUS server secrets of a gateway's
// point-to-site configuration. Every API response body goes through it.
func Redact(obj Object) Object {
	out := Clone(obj)
	switch o := out.(type) {
	case *Connection:
		o.Properties.SharedKey = ""
	case *VirtualNetworkGateway:
		if c := o.Properties.VpnClientConfiguration; c != nil {
			c.RadiusServerSecret = ""
			for i := range c.RadiusServers {
				c.RadiusServers[i].RadiusServerSecret = ""
			}
		}
	}
	return out
}
