package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
)

// Operation statuses (the "status" of an operation status body).
const (
	StatusInProgress = "InProgress"
	StatusSucceeded  = "Succeeded"
	StatusFailed     = "Failed"
)

// OpKind says what an operation does and what its result is.
type OpKind string

const (
	// OpPut realizes a created or updated resource (or, with a subnet
	// target, the VNet holding the subnet). Result: the resource.
	OpPut OpKind = "put"
	// OpDelete tears a resource down and removes it (with a subnet
	// target: realizes the VNet without the subnet). Result: 204.
	OpDelete OpKind = "delete"
	// OpReset resets a gateway. Result: the gateway.
	OpReset OpKind = "reset"
	// OpSharedKey realizes a connection after a sharedkey PUT. Result:
	// the shared key.
	OpSharedKey OpKind = "sharedKey"
	// OpResetSharedKey realizes a connection after sharedkey/reset.
	// Result: {"keyLength": n}.
	OpResetSharedKey OpKind = "resetSharedKey"
	// OpResetConnection resets a connection's SAs (resetconnection).
	// Result: 204.
	OpResetConnection OpKind = "resetConnection"
	// OpGroupDelete deletes a resource group and everything in it.
	// Result: 204.
	OpGroupDelete OpKind = "groupDelete"
	// OpAction is a POST action whose work is done when it is accepted
	// (getBgpPeerStatus, getvpnclientconnectionhealth, …): it is stored
	// already finished, and its result is Result (200, or 200 without a
	// body when Result is empty).
	OpAction OpKind = "action"
)

// Operation is the stored record of a long-running operation.
type Operation struct {
	// ID is the operation ID (a UUID), the last segment of its URLs.
	ID string `json:"id"`
	// Kind says what the operation does.
	Kind OpKind `json:"kind"`
	// Target is the ID of the resource the operation acts on (a subnet ID
	// for subnet operations, a group ID for a group delete).
	Target string `json:"target"`
	// Location is the target's location, normalized ("westeurope").
	Location string `json:"location"`
	// APIVersion is the api-version of the request that started it, echoed
	// in the operation URLs.
	APIVersion string `json:"apiVersion"`
	// Status is InProgress, Succeeded or Failed.
	Status string `json:"status"`
	// StartTime and EndTime bound the operation; EndTime is zero while it
	// runs.
	StartTime time.Time `json:"startTime"`
	EndTime   time.Time `json:"endTime,omitzero"`
	// Error is why it failed.
	Error *armerr.Error `json:"error,omitempty"`
	// ErrorStatus is the HTTP status of Error for the operationResults
	// URL.
	ErrorStatus int `json:"errorStatus,omitempty"`
	// KeyLength is the requested length of a sharedkey/reset.
	KeyLength int `json:"keyLength,omitempty"`
	// GatewayVIP is the optional gatewayVip of a gateway reset.
	GatewayVIP string `json:"gatewayVip,omitempty"`
	// Result, when set, is the body the operationResults URL answers once
	// the operation succeeded, instead of the resource: the result of an
	// OpAction, or the policy of a setvpnclientipsecparameters (OpPut).
	Result json.RawMessage `json:"result,omitempty"`
}

// TargetID is the parsed Target.
func (op *Operation) TargetID() resource.ID {
	id, _ := resource.ParseID(op.Target, "target")
	return id
}

// Encode is the stored form of op.
func (op *Operation) Encode() []byte {
	b, err := json.Marshal(op)
	if err != nil {
		panic(fmt.Sprintf("registry: encode operation: %v", err)) // plain struct: cannot fail
	}
	return b
}

// Put is the write that stores op.
func (op *Operation) Put() store.Op { return store.PutOp(OperationKey(op.ID), op.Encode()) }

// LoadOperation returns operation id and its record's ModRevision; a
// missing one is store.ErrNotFound.
func LoadOperation(ctx context.Context, st store.Store, id string) (*Operation, int64, error) {
	kv, err := st.Get(ctx, OperationKey(id))
	if err != nil {
		return nil, 0, err
	}
	var op Operation
	if err := json.Unmarshal(kv.Value, &op); err != nil {
		return nil, 0, fmt.Errorf("registry: decode operation %s: %w", id, err)
	}
	return &op, kv.ModRevision, nil
}

// PruneOperations deletes the records of operations that ended before
// cutoff.
func PruneOperations(ctx context.Context, st store.Store, cutoff time.Time) error {
	kvs, _, err := st.List(ctx, OperationKeyPrefix)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		var op Operation
		if err := json.Unmarshal(kv.Value, &op); err != nil {
			continue
		}
		if op.Status == StatusInProgress || op.EndTime.IsZero() || op.EndTime.After(cutoff) {
			continue
		}
		if _, err := st.Delete(ctx, kv.Key, kv.ModRevision); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}
