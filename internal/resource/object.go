package resource

import (
	"context"
	"errors"
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
