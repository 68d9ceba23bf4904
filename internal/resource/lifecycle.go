package resource

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// This file holds the entry points of a resource's lifecycle, each a
// dispatch on the resource type into that type's file (vnet.go, subnet.go,
// publicip.go, gateway.go with vpnclient.go, localgateway.go,
// connection.go, group.go): Admit (AssignIDs, Prepare, Validate, Resolve)
// for a write; CheckDelete and References for a delete; Redact and
// Populate for a read.

// Admit runs every rule on obj, the new state of the resource group or
// top-level resource id; old is its stored state (nil on create). It
// assigns obj's IDs (a stored resource keeps the name case it was created
// with: pass the stored ID), prepares it (defaults, read-only fields from
// old), clears what a body may not set (etag, provisioningState), then
// validates it alone and against the other resources in v. Rule
// violations are *Error; failures of v are returned wrapped.
func Admit(ctx context.Context, v View, id ID, obj, old Object, rnd io.Reader) error {
	AssignIDs(obj, id)
	if err := Prepare(obj, old, rnd); err != nil {
		return err
	}
	// Prepare never sets these; make sure a body cannot either.
	SetEtag(obj, "")
	obj.SetProvisioningState("")
	if err := Validate(obj); err != nil {
		return err
	}
	return Resolve(ctx, v, obj, old)
}

// SetEtag sets obj's etag and that of its inline children (a VNet's
// subnets, a gateway's ipConfigurations), which ARM changes with their
// parent.
func SetEtag(obj Object, etag string) {
	obj.Meta().Etag = etag
	switch o := obj.(type) {
	case *VirtualNetwork:
		for i := range o.Properties.Subnets {
			o.Properties.Subnets[i].Etag = etag
		}
	case *VirtualNetworkGateway:
		for i := range o.Properties.IPConfigurations {
			o.Properties.IPConfigurations[i].Etag = etag
		}
	}
}

// Prepare readies a decoded request body before validation. old is the
// stored resource on update, nil on create; rand is the randomness source
// (nil means crypto/rand.Reader).
//
// It fills defaults (gateway type Vpn, vpnType RouteBased, sku.tier from
// sku.name, vpnGatewayGeneration from the SKU, BGP ASN 65515, public IP SKU
// Standard/Static/IPv4, dpdTimeoutSeconds 45, connectionMode Default, P2S
// protocols), rewrites enum values matched case-insensitively into ARM's
// spelling and the location into its canonical form ("westeurope"),
// carries server-owned read-only fields from old (resourceGuid, ipAddress,
// connection status and counters; a new resourceGuid on create) over
// whatever the body says, keeps the stored shared key and RADIUS secrets
// when an update omits them, and generates a random shared key when a
// connection is created without one. Immutable fields omitted on update
// (gatewayType, vpnType, vpnGatewayGeneration, connectionProtocol) keep
// their stored value.
//
// Prepare does not set id, name, type, etag or provisioningState (see
// AssignIDs), but fills child IDs when obj's ID is already set. The
// connection protocol default depends on the gateway and is set by Resolve.
func Prepare(obj, old Object, rnd io.Reader) error {
	if rnd == nil {
		rnd = rand.Reader
	}
	if old != nil && TypeOf(old) != TypeOf(obj) {
		return fmt.Errorf("resource: Prepare: old is a %T, obj a %T", old, obj)
	}
	m := obj.Meta()
	m.Location = canonicalLocation(m.Location)
	var err error
	switch o := obj.(type) {
	case *ResourceGroup:
		// Nothing beyond the location.
	case *VirtualNetwork:
		oldV, _ := old.(*VirtualNetwork)
		err = prepareVirtualNetwork(o, oldV, rnd)
	case *Subnet:
		oldS, _ := old.(*Subnet)
		prepareSubnet(o, oldS)
	case *PublicIPAddress:
		oldP, _ := old.(*PublicIPAddress)
		err = preparePublicIP(o, oldP, rnd)
	case *VirtualNetworkGateway:
		oldG, _ := old.(*VirtualNetworkGateway)
		err = prepareGateway(o, oldG, rnd)
	case *LocalNetworkGateway:
		oldL, _ := old.(*LocalNetworkGateway)
		err = prepareLocalNetworkGateway(o, oldL, rnd)
	case *Connection:
		oldC, _ := old.(*Connection)
		err = prepareConnection(o, oldC, rnd)
	default:
		return fmt.Errorf("resource: Prepare: unsupported type %T", obj)
	}
	if err != nil {
		return err
	}
	assignChildIDs(obj)
	return nil
}

// resourceGUID returns old's GUID, or a new random (version 4) UUID.
func resourceGUID(old string, rnd io.Reader) (string, error) {
	if old != "" {
		return old, nil
	}
	var b [16]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return "", fmt.Errorf("resource: generate resourceGuid: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// Validate checks the rules that need only obj: required fields, formats,
// enumerations, ranges, and the relations inside one resource (a VNet's
// subnets inside its address space, a gateway's SKU against its features).
// Call it after Prepare. It returns an *Error: the first violation, with
// the others as Details (at most 20 listed, the rest counted); a list over
// its count limit (CheckLimits) stops it before any other rule.
func Validate(obj Object) error {
	var l errList
	// The count limits first: the other rules run on bounded lists only.
	if checkLimits(&l, obj); !l.empty() {
		return l.err()
	}
	switch o := obj.(type) {
	case *ResourceGroup:
		validateEnvelope(&l, obj, TypeResourceGroups)
	case *VirtualNetwork:
		validateEnvelope(&l, obj, TypeVirtualNetworks)
		validateVirtualNetwork(&l, o)
	case *Subnet:
		validateEnvelope(&l, obj, TypeSubnets)
		validateSubnet(&l, o, "properties")
	case *PublicIPAddress:
		validateEnvelope(&l, obj, TypePublicIPAddresses)
		validatePublicIP(&l, o)
	case *VirtualNetworkGateway:
		validateEnvelope(&l, obj, TypeVirtualNetworkGateways)
		validateGateway(&l, o)
	case *LocalNetworkGateway:
		validateEnvelope(&l, obj, TypeLocalNetworkGateways)
		validateLocalNetworkGateway(&l, o)
	case *Connection:
		validateEnvelope(&l, obj, TypeConnections)
		validateConnection(&l, o)
	default:
		return fmt.Errorf("resource: Validate: unsupported type %T", obj)
	}
	return l.err()
}

func validateEnvelope(l *errList, obj Object, typ string) {
	m := obj.Meta()
	if m.Name != "" {
		l.add(validateName(typ, m.Name, "name"))
	}
	if typ == TypeSubnets {
		if m.Location != "" {
			l.addf(CodeInvalidParameter, "location", "A subnet has no location of its own; remove 'location' (the subnet is in its virtual network's location).")
		}
		if len(m.Tags) > 0 {
			l.addf(CodeInvalidParameter, "tags", "A subnet cannot have tags; tag its virtual network instead.")
		}
		return
	}
	if m.Location == "" {
		l.addf(CodeInvalidLocation, "location", "Property 'location' is required: the Azure region, such as \"westeurope\".")
	}
	validateTags(l, m.Tags, "tags")
}

// Resolve applies the rules that need other resources, reading them from v:
// referenced resources exist; a gateway sits in a subnet named exactly
// GatewaySubnet of sufficient size, in the same location as its VNet and
// public IPs; one Vpn and one ExpressRoute gateway per VNet; public IPs
// serve one ipConfiguration; address spaces of connected sites do not
// overlap; SKU connection limits; BGP ASNs; immutable fields and resize
// rules against old (nil on create); and changes that would break existing
// connections (an LNG's or a VNet's prefixes, a gateway's BGP settings).
//
// It also sets relational defaults and computed read-only fields on obj:
// the connection protocol (IKEv1 on a PolicyBased gateway, else IKEv2), a
// gateway's private IP addresses and BGP peering addresses.
//
// obj's ID (Meta().ID) should be set, so that Resolve can tell obj from
// the stored copy of itself. Rule violations are *Error (the first, with
// the others as Details); failures of v are returned wrapped.
func Resolve(ctx context.Context, v View, obj, old Object) error {
	if old != nil && TypeOf(old) != TypeOf(obj) {
		return fmt.Errorf("resource: Resolve: old is a %T, obj a %T", old, obj)
	}
	r := &resolver{ctx: ctx, v: v}
	if old != nil && TypeOf(obj) != TypeSubnets && old.Meta().Location != "" &&
		canonicalLocation(old.Meta().Location) != obj.Meta().Location {
		r.l.addf(CodeInvalidLocation, "location",
			"The resource already exists in location %q; a resource's location cannot change (got %q). Delete and re-create it to move it.",
			old.Meta().Location, obj.Meta().Location)
	}
	if id, ok := selfID(obj); ok && id.Type != "" {
		exists, err := v.GroupExists(ctx, id.Subscription, id.ResourceGroup)
		if err != nil {
			return fmt.Errorf("resource: resolve %s: %w", id, err)
		}
		if !exists {
			return NotFound(id.GroupID())
		}
	}
	switch o := obj.(type) {
	case *ResourceGroup:
	case *VirtualNetwork:
		oldV, _ := old.(*VirtualNetwork)
		r.virtualNetwork(o, oldV)
	case *Subnet:
		oldS, _ := old.(*Subnet)
		r.subnet(o, oldS)
	case *PublicIPAddress:
		oldP, _ := old.(*PublicIPAddress)
		r.publicIP(o, oldP)
	case *VirtualNetworkGateway:
		oldG, _ := old.(*VirtualNetworkGateway)
		r.gateway(o, oldG)
	case *LocalNetworkGateway:
		oldL, _ := old.(*LocalNetworkGateway)
		r.localNetworkGateway(o, oldL)
	case *Connection:
		oldC, _ := old.(*Connection)
		r.connection(o, oldC)
	default:
		return fmt.Errorf("resource: Resolve: unsupported type %T", obj)
	}
	if r.fatal != nil {
		return r.fatal
	}
	return r.l.err()
}

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
		return checkVirtualNetworkDelete(ctx, v, id, o)
	case *PublicIPAddress:
		return checkPublicIPDelete(ctx, v, o)
	case *VirtualNetworkGateway:
		return checkGatewayDelete(ctx, v, o)
	case *LocalNetworkGateway:
		return checkLocalNetworkGatewayDelete(ctx, v, o)
	case *Connection:
		return nil // nothing refers to a connection
	}
	return fmt.Errorf("resource: CheckDelete: unsupported type %T", obj)
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

// Secrets returns a pointer to every secret field of obj: a connection's
// sharedKey, and the RADIUS server secrets and local users' passwords of a
// gateway's point-to-site configuration. It is the one list of secrets: Redact clears them for
// responses, and the registry seals them at rest. For objects of the same
// shape (the same RADIUS servers) the order is the same.
func Secrets(obj Object) []*string {
	switch o := obj.(type) {
	case *Connection:
		return []*string{&o.Properties.SharedKey}
	case *VirtualNetworkGateway:
		c := o.Properties.VpnClientConfiguration
		if c == nil {
			return nil
		}
		out := []*string{&c.RadiusServerSecret}
		for i := range c.RadiusServers {
			out = append(out, &c.RadiusServers[i].RadiusServerSecret)
		}
		for i := range c.VpnClientLocalUsers {
			out = append(out, &c.VpnClientLocalUsers[i].Properties.Password)
		}
		return out
	}
	return nil
}

// Redact returns a deep copy of obj with every secret (Secrets) removed.
// Every API response body goes through it.
func Redact(obj Object) Object {
	out := Clone(obj)
	for _, p := range Secrets(out) {
		*p = ""
	}
	return out
}
