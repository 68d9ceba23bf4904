package resource

import (
	"context"
	"errors"
	"strings"
)

// Envelope is the part of every ARM resource outside "properties".
type Envelope struct {
	ID       string            `json:"id,omitempty"`
	Name     string            `json:"name,omitempty"`
	Type     string            `json:"type,omitempty"`
	Location string            `json:"location,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
	// Etag is read-only: a new value on every change, quoted as ARM does
	// (W/"<uuid>").
	Etag string `json:"etag,omitempty"`
}

// Provisioning states (properties.provisioningState, read-only).
const (
	ProvisioningSucceeded = "Succeeded"
	ProvisioningUpdating  = "Updating"
	ProvisioningDeleting  = "Deleting"
	ProvisioningFailed    = "Failed"
)

// Object is one top-level resource of a kind vpngw serves (a virtual network
// with its subnets inline, a public IP, a gateway, a local network gateway, a
// connection). Implementations are plain structs with ARM JSON tags; the API
// decodes request bodies into them with unknown fields disallowed.
type Object interface {
	// Meta returns the envelope (id, name, type, location, tags, etag).
	Meta() *Envelope
	// ProvisioningState returns properties.provisioningState.
	ProvisioningState() string
	// SetProvisioningState sets properties.provisioningState.
	SetProvisioningState(string)
}

// ErrNotFound is returned by View when a resource does not exist.
var ErrNotFound = errors.New("resource: not found")

// View is a consistent read-only view of the stored resources, used by the
// relational rules (references, overlaps, counts). The API implements it over
// the store while it holds its write lock, so a rule sees the state it is
// about to change.
type View interface {
	// Get returns the resource with the given ID (top-level IDs only), or an
	// error wrapping ErrNotFound.
	Get(ctx context.Context, id ID) (Object, error)
	// List returns every stored resource of a type (e.g. TypeConnections)
	// across all subscriptions and groups.
	List(ctx context.Context, typ string) ([]Object, error)
	// GroupExists reports whether the resource group exists.
	GroupExists(ctx context.Context, subscription, group string) (bool, error)
}

// ARM types of the resources (the "type" field).
const (
	ARMTypeResourceGroup         = "Microsoft.Resources/resourceGroups"
	ARMTypeVirtualNetwork        = Provider + "/" + TypeVirtualNetworks
	ARMTypeSubnet                = Provider + "/" + TypeVirtualNetworks + "/" + TypeSubnets
	ARMTypePublicIPAddress       = Provider + "/" + TypePublicIPAddresses
	ARMTypeVirtualNetworkGateway = Provider + "/" + TypeVirtualNetworkGateways
	ARMTypeLocalNetworkGateway   = Provider + "/" + TypeLocalNetworkGateways
	ARMTypeConnection            = Provider + "/" + TypeConnections
)

// TypeResourceGroups is the type segment NewObject accepts for a resource
// group ("/subscriptions/{s}/resourceGroups/{g}").
const TypeResourceGroups = "resourceGroups"

// SubResource is a reference to another resource by its ARM ID.
type SubResource struct {
	// ID is the referenced resource's ID.
	ID string `json:"id"`
}

// AddressSpace is a list of CIDR prefixes.
type AddressSpace struct {
	// AddressPrefixes are CIDR prefixes in canonical form (host bits zero).
	AddressPrefixes []string `json:"addressPrefixes"`
}

// NewObject returns a new zero value for a type segment: "resourceGroups",
// a top-level type ("virtualNetworks", "publicIPAddresses",
// "virtualNetworkGateways", "localNetworkGateways", "connections") or
// "subnets". The segment matches case-insensitively.
func NewObject(typ string) (Object, bool) {
	if strings.EqualFold(typ, TypeResourceGroups) {
		return &ResourceGroup{}, true
	}
	t, _ := CanonicalType(typ)
	switch t {
	case TypeVirtualNetworks:
		return &VirtualNetwork{}, true
	case TypeSubnets:
		return &Subnet{}, true
	case TypePublicIPAddresses:
		return &PublicIPAddress{}, true
	case TypeVirtualNetworkGateways:
		return &VirtualNetworkGateway{}, true
	case TypeLocalNetworkGateways:
		return &LocalNetworkGateway{}, true
	case TypeConnections:
		return &Connection{}, true
	}
	return nil, false
}

// TypeOf returns the type segment of obj ("virtualNetworks", ...,
// "resourceGroups", "subnets"), or "" for a foreign implementation.
func TypeOf(obj Object) string {
	switch obj.(type) {
	case *ResourceGroup:
		return TypeResourceGroups
	case *VirtualNetwork:
		return TypeVirtualNetworks
	case *Subnet:
		return TypeSubnets
	case *PublicIPAddress:
		return TypePublicIPAddresses
	case *VirtualNetworkGateway:
		return TypeVirtualNetworkGateways
	case *LocalNetworkGateway:
		return TypeLocalNetworkGateways
	case *Connection:
		return TypeConnections
	}
	return ""
}

// AssignIDs sets obj's id, name and type from id, and the IDs and types of
// its inline children (a VNet's subnets, a gateway's ipConfigurations).
// The API calls it instead of setting the envelope by hand.
func AssignIDs(obj Object, id ID) {
	m := obj.Meta()
	m.ID = id.String()
	if id.Type == "" {
		m.Name = id.ResourceGroup
	} else if id.Child != "" {
		m.Name = id.ChildName
	} else {
		m.Name = id.Name
	}
	m.Type = id.ARMType()
	assignChildIDs(obj)
}

// assignChildIDs fills child IDs from obj's own ID when it is known.
func assignChildIDs(obj Object) {
	id, err := ParseID(obj.Meta().ID, "id")
	if err != nil || id.Type == "" || id.Child != "" {
		return
	}
	switch o := obj.(type) {
	case *VirtualNetwork:
		for i := range o.Properties.Subnets {
			s := &o.Properties.Subnets[i]
			cid := id
			cid.Child, cid.ChildName = TypeSubnets, s.Name
			s.ID, s.Type = cid.String(), ARMTypeSubnet
		}
	case *VirtualNetworkGateway:
		for i := range o.Properties.IPConfigurations {
			c := &o.Properties.IPConfigurations[i]
			cid := id
			cid.Child, cid.ChildName = TypeIPConfigurations, c.Name
			c.ID = cid.String()
		}
	}
}
