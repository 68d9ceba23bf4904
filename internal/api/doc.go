// Package api is vpngw's ARM-shaped HTTP API: the Azure Resource Manager
// paths, bodies, errors, etags, api-version handling and long-running
// operations for resource groups, virtual networks (and their subnets),
// public IP addresses, virtual network gateways, local network gateways and
// connections. docs/api.md is the user-facing description.
//
// # Request flow
//
// A request passes through Server.ServeHTTP: request ID, access log (method,
// path, status; never bodies), panic recovery, then the router, which
// matches the path case-insensitively against the route table (routes.go),
// answers 404 or 405 itself, checks api-version and calls the endpoint's
// handler. The same table generates /openapi.json, so the served API and
// its description cannot drift apart.
//
// # Writes
//
// Reads go straight to the store. Every write holds Server.mu, the single
// writer lock, from validation to commit, so the relational rules of package
// resource (references, overlaps, counts) see exactly the state they are
// about to change through a View over the store. A PUT runs
//
//	resource.DecodeStrict → Prepare → Validate → Resolve
//
// then commits, in one store transaction, the resource with
// provisioningState Updating and a new etag, the operation record, and for a
// new public IP its address reservation. The response (201/200/202) points at
// the operation; an operation goroutine calls the Provisioner and commits the
// outcome (Succeeded, Failed, or for a delete the removal) under the writer
// lock again. A resource whose operation is in progress refuses other writes
// with 409 AnotherOperationInProgress.
//
// # Operations and restarts
//
// Operation records live in the store, and a resource being changed names its
// operation in its own record. Start resumes every operation that a previous
// process left in progress, so a client can re-attach to the operation URL
// after a restart and see it finish. The work is level-triggered: an
// operation realizes the resource as it is stored now, so running it twice
// is harmless.
//
// # Secrets
//
// Stored resources hold connection shared keys and RADIUS secrets. Every
// response body passes through resource.Redact; only the
// connections/{name}/sharedkey sub-resource returns a key. Logs carry
// resource IDs, never bodies.
package api
