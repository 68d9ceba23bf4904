package resource

import (
	"net/http"
	"strings"
)

// Provider is the only resource provider vpngw serves.
const Provider = "Microsoft.Network"

// DefaultSubscription is the subscription the CLI uses when none is given
// (--subscription, VPNGW_SUBSCRIPTION). Any subscription ID is accepted; the
// control plane has no subscription registry.
const DefaultSubscription = "00000000-0000-0000-0000-000000000000"

// Resource type segments as ARM spells them (after providers/Microsoft.Network/).
const (
	TypeVirtualNetworks        = "virtualNetworks"
	TypeSubnets                = "subnets" // child of virtualNetworks
	TypePublicIPAddresses      = "publicIPAddresses"
	TypeVirtualNetworkGateways = "virtualNetworkGateways"
	TypeIPConfigurations       = "ipConfigurations" // child of virtualNetworkGateways
	TypeLocalNetworkGateways   = "localNetworkGateways"
	TypeConnections            = "connections"
)

// canonicalTypes maps lower-case type segments to ARM's spelling.
var canonicalTypes = map[string]string{
	"virtualnetworks":        TypeVirtualNetworks,
	"subnets":                TypeSubnets,
	"publicipaddresses":      TypePublicIPAddresses,
	"virtualnetworkgateways": TypeVirtualNetworkGateways,
	"ipconfigurations":       TypeIPConfigurations,
	"localnetworkgateways":   TypeLocalNetworkGateways,
	"connections":            TypeConnections,
}

// CanonicalType returns ARM's spelling of a type segment matched
// case-insensitively, and whether it is known.
func CanonicalType(seg string) (string, bool) {
	t, ok := canonicalTypes[strings.ToLower(seg)]
	return t, ok
}

// ID is a parsed ARM resource ID. Segment names match case-insensitively
// (as in ARM); names keep the case the client gave when the resource was
// created.
//
//	/subscriptions/{Subscription}/resourceGroups/{ResourceGroup}
//	/subscriptions/{Subscription}/resourceGroups/{ResourceGroup}/providers/Microsoft.Network/{Type}/{Name}
//	/subscriptions/{Subscription}/resourceGroups/{ResourceGroup}/providers/Microsoft.Network/{Type}/{Name}/{Child}/{ChildName}
type ID struct {
	Subscription  string
	ResourceGroup string
	Type          string // e.g. "virtualNetworks"; empty for a resource group
	Name          string
	Child         string // e.g. "subnets"; empty for a top-level resource
	ChildName     string
}

// ParseID parses an ARM resource ID. Type segments are canonicalised to ARM's
// spelling; unknown types are an error. target names the field the ID came
// from, for the error.
func ParseID(s, target string) (ID, error) {
	bad := func(why string) (ID, error) {
		return ID{}, Errorf(CodeInvalidResourceID, target, "resource ID %q is invalid: %s", s, why)
	}
	if !strings.HasPrefix(s, "/") {
		return bad("it must start with /subscriptions/")
	}
	seg := strings.Split(strings.TrimSuffix(s[1:], "/"), "/")
	for _, p := range seg {
		if p == "" {
			return bad("it has an empty segment")
		}
	}
	if len(seg) < 4 || !strings.EqualFold(seg[0], "subscriptions") || !strings.EqualFold(seg[2], "resourceGroups") {
		return bad("expected /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/...")
	}
	id := ID{Subscription: seg[1], ResourceGroup: seg[3]}
	rest := seg[4:]
	if len(rest) == 0 {
		return id, nil
	}
	if len(rest) < 4 || !strings.EqualFold(rest[0], "providers") || !strings.EqualFold(rest[1], Provider) {
		return bad("expected .../providers/Microsoft.Network/{type}/{name}")
	}
	t, ok := CanonicalType(rest[2])
	if !ok || t == TypeSubnets || t == TypeIPConfigurations {
		return bad("unknown resource type " + rest[2])
	}
	id.Type, id.Name = t, rest[3]
	rest = rest[4:]
	switch len(rest) {
	case 0:
		return id, nil
	case 2:
		c, ok := CanonicalType(rest[0])
		if !ok || !validChild(id.Type, c) {
			return bad("unknown child resource type " + rest[0] + " of " + id.Type)
		}
		id.Child, id.ChildName = c, rest[1]
		return id, nil
	default:
		return bad("too many segments")
	}
}

func validChild(parent, child string) bool {
	return (parent == TypeVirtualNetworks && child == TypeSubnets) ||
		(parent == TypeVirtualNetworkGateways && child == TypeIPConfigurations)
}

// String is the ID in ARM's canonical form.
func (id ID) String() string {
	var b strings.Builder
	b.WriteString("/subscriptions/")
	b.WriteString(id.Subscription)
	b.WriteString("/resourceGroups/")
	b.WriteString(id.ResourceGroup)
	if id.Type != "" {
		b.WriteString("/providers/" + Provider + "/")
		b.WriteString(id.Type)
		b.WriteString("/")
		b.WriteString(id.Name)
		if id.Child != "" {
			b.WriteString("/" + id.Child + "/" + id.ChildName)
		}
	}
	return b.String()
}

// Key is the case-folded form of the ID, used as the store key and for
// equality: ARM IDs compare case-insensitively.
func (id ID) Key() string { return strings.ToLower(id.String()) }

// Equal reports whether two IDs name the same resource.
func (id ID) Equal(o ID) bool { return id.Key() == o.Key() }

// Parent is the top-level resource that contains a child ID (a subnet's
// virtual network); for a top-level ID it is the ID itself.
func (id ID) Parent() ID {
	id.Child, id.ChildName = "", ""
	return id
}

// GroupID is the ID of the resource group that contains id.
func (id ID) GroupID() ID {
	return ID{Subscription: id.Subscription, ResourceGroup: id.ResourceGroup}
}

// ARMType is the full ARM type, e.g. "Microsoft.Network/virtualNetworks" or
// "Microsoft.Network/virtualNetworks/subnets".
func (id ID) ARMType() string {
	switch {
	case id.Type == "":
		return "Microsoft.Resources/resourceGroups"
	case id.Child != "":
		return Provider + "/" + id.Type + "/" + id.Child
	default:
		return Provider + "/" + id.Type
	}
}

// NotFound returns the ARM 404 error for id.
func NotFound(id ID) *Error {
	if id.Type == "" {
		return Errorf(CodeResourceGroupNotFound, "", "Resource group '%s' could not be found.", id.ResourceGroup).WithStatus(http.StatusNotFound)
	}
	return Errorf(CodeResourceNotFound, "", "The Resource '%s' under resource group '%s' was not found.",
		strings.TrimPrefix(id.ARMType(), "")+"/"+id.Name+childSuffix(id), id.ResourceGroup).WithStatus(http.StatusNotFound)
}

func childSuffix(id ID) string {
	if id.Child == "" {
		return ""
	}
	return "/" + id.ChildName
}
