// Package resource defines the Azure Resource Manager (ARM) resources vpngw
// serves — resource groups, virtual networks with their subnets, public IP
// addresses, virtual network gateways, local network gateways and
// connections — with their JSON shapes, defaults and every documented Azure
// VPN Gateway rule. docs/resources.md is the user-facing list of fields and
// rules; each rule there names the error code returned here.
//
// The API handles a PUT in four steps, all of them in this package:
//
//	DecodeStrict(body, obj)       // unknown properties, type mismatches: full JSON path
//	Prepare(obj, old, rand)       // defaults, canonical enum spelling, read-only fields from old
//	Validate(obj)                 // rules that need only obj: formats, enums, ranges
//	Resolve(ctx, view, obj, old)  // rules that need other resources: references,
//	                              // overlaps, counts, immutability, relational defaults
//
// and a DELETE with CheckDelete (or CheckSubnetDelete, PlanGroupDelete).
// Every response body goes through Redact, which removes secrets.
//
// Errors are *Error values in ARM's shape with a stable Code and a Target
// naming the offending field as a JSON path ("properties.sku.name"). The
// package is pure: no I/O besides the View it is given, no global mutable
// state; randomness comes from the io.Reader passed to Prepare.
package resource
