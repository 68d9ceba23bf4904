// Package resource defines the Azure Resource Manager (ARM) resources vpngw
// serves — resource groups, virtual networks with their subnets, public IP
// addresses, virtual network gateways, local network gateways and
// connections — with their JSON shapes, defaults and every documented Azure
// VPN Gateway rule. docs/resources.md is the user-facing list of fields and
// rules; each rule there names the error code returned here.
//
// The API handles a PUT with DecodeStrict and one call to Admit, which runs
// the steps below (lifecycle.go):
//
//	DecodeStrict(body, obj)       // unknown properties, type mismatches: full JSON path
//	AssignIDs(obj, id)            // id, name, type, child IDs
//	Prepare(obj, old, rand)       // defaults, canonical enum spelling, read-only fields from old
//	Validate(obj)                 // rules that need only obj: formats, enums, ranges
//	Resolve(ctx, view, obj, old)  // rules that need other resources: references,
//	                              // overlaps, counts, immutability, relational defaults
//
// and a DELETE with CheckDelete (or CheckSubnetDelete, PlanGroupDelete).
//
// The code is organised by resource type: each type's file holds its Go
// type, defaults, limits, Prepare, Validate and Resolve rules and delete
// rules (group.go, vnet.go, subnet.go, publicip.go, gateway.go and its
// point-to-site configuration vpnclient.go, localgateway.go,
// connection.go with ipsec.go). lifecycle.go dispatches to them;
// resolver.go is the machinery Resolve's rules share; check.go the
// parsing and enum helpers; errors.go re-exports package armerr's error.
// Every response body goes through Redact, which removes secrets.
//
// Errors are *Error values in ARM's shape with a stable Code and a Target
// naming the offending field as a JSON path ("properties.sku.name"). The
// package is pure: no I/O besides the View it is given, no global mutable
// state; randomness comes from the io.Reader passed to Prepare.
package resource
