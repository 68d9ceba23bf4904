// Package store defines the storage interface of the vpngw control plane: a
// small, ordered key-value store with a global revision, compare-and-swap,
// multi-key transactions and watches, with etcd's semantics so that the etcd
// implementation (internal/store/etcdstore) can replace the embedded one
// (internal/store/boltstore) without touching callers. Both pass the
// conformance suite in internal/store/storetest.
//
// Revisions. Every committed write (Put, CompareAndSwap, Delete or a Txn with
// at least one effective change) advances the store's revision by exactly one;
// revisions are positive and never repeat, also across restarts. (On an etcd
// shared with other writers the revision is the cluster's, so a write may
// advance it by more than one.) Every key remembers the revision that created
// it (CreateRevision) and the revision of its last change (ModRevision);
// compare-and-swap compares ModRevision.
//
// Watches. The store keeps a bounded change log. Watch delivers, in revision
// order, every change to keys under a prefix after a given revision; a watcher
// that asks for (or falls behind to) a revision the log no longer holds gets
// ErrCompacted and must re-list. The usual pattern is list-then-watch: List
// returns the revision it read at, and Watch continues from it.
//
// Keys are non-empty strings compared bytewise; values are opaque bytes.
package store

import (
	"context"
	"errors"
)

// Sentinel errors. Implementations wrap them; callers test with errors.Is.
var (
	// ErrNotFound: the key does not exist (Get, Delete).
	ErrNotFound = errors.New("store: key not found")
	// ErrConflict: a revision comparison failed (CompareAndSwap, a
	// revision-conditioned Delete, Txn). Nothing was written.
	ErrConflict = errors.New("store: revision mismatch")
	// ErrCompacted: a watch asked for, or fell behind to, a revision that the
	// change log no longer retains. Re-list and watch again from the list's
	// revision.
	ErrCompacted = errors.New("store: required revision has been compacted")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store: closed")
	// ErrInvalidArgument: an empty key, a duplicate key in one Txn, or a
	// negative revision.
	ErrInvalidArgument = errors.New("store: invalid argument")
)

// KV is one stored key with its value and revisions.
type KV struct {
	// Key is the key.
	Key string
	// Value is the stored value; callers may keep and modify it.
	Value []byte
	// CreateRevision is the revision at which the key was (last) created.
	CreateRevision int64
	// ModRevision is the revision of the key's last change; CompareAndSwap
	// and Txn compare against it.
	ModRevision int64
	// Version counts the changes since creation: 1 after the create.
	Version int64
}

// EventType says what happened to a key.
type EventType int

// Event types.
const (
	EventPut    EventType = 1 // the key was created or changed
	EventDelete EventType = 2 // the key was deleted
)

// String returns "PUT" or "DELETE".
func (t EventType) String() string {
	switch t {
	case EventPut:
		return "PUT"
	case EventDelete:
		return "DELETE"
	default:
		return "UNKNOWN"
	}
}

// Event is one change to one key.
type Event struct {
	// Type is EventPut or EventDelete.
	Type EventType
	// Key is the changed key.
	Key string
	// Value is the new value for EventPut, nil for EventDelete.
	Value []byte
	// Revision is the store revision of the commit that made the change.
	Revision int64
}

// WatchResponse is what a watch channel delivers: the events of one committed
// revision that match the watched prefix, in the order the commit applied
// them, or a terminal error.
type WatchResponse struct {
	// Events all carry the same Revision. Empty when Err is set.
	Events []Event
	// Err is set on the last response before the channel closes when the
	// watch cannot continue: ErrCompacted when the watcher fell behind the
	// retained change log.
	Err error
}

// Cmp is a condition of a Txn: the key's ModRevision must equal ModRevision;
// ModRevision 0 means the key must not exist.
type Cmp struct {
	// Key is the compared key.
	Key string
	// ModRevision is the expected ModRevision, or 0 for "absent".
	ModRevision int64
}

// OpType is the kind of a Txn operation.
type OpType int

// Txn operation types.
const (
	OpPut    OpType = 1
	OpDelete OpType = 2
)

// Op is one write in a Txn.
type Op struct {
	// Type is OpPut or OpDelete.
	Type OpType
	// Key is the written key.
	Key string
	// Value is the value for OpPut.
	Value []byte
}

// PutOp returns an Op that sets key to value.
func PutOp(key string, value []byte) Op { return Op{Type: OpPut, Key: key, Value: value} }

// DeleteOp returns an Op that deletes key (a no-op if it does not exist).
func DeleteOp(key string) Op { return Op{Type: OpDelete, Key: key} }

// Store is the control plane's storage. Implementations are safe for
// concurrent use. A write returns only after it is durable: an acknowledged
// write survives a crash of the process or the machine.
type Store interface {
	// Get returns the key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (KV, error)

	// List returns every key that starts with prefix (all keys for ""),
	// sorted by key, and the store revision the list was read at, which
	// is the revision to pass to Watch to see every later change.
	List(ctx context.Context, prefix string) ([]KV, int64, error)

	// Put sets key to value unconditionally and returns the new store
	// revision.
	Put(ctx context.Context, key string, value []byte) (int64, error)

	// CompareAndSwap sets key to value if the key's ModRevision equals
	// expected, where expected 0 means the key must not exist; otherwise it
	// writes nothing and returns an error wrapping ErrConflict. It returns
	// the new store revision (the key's new ModRevision).
	CompareAndSwap(ctx context.Context, key string, value []byte, expected int64) (int64, error)

	// Delete removes key and returns the new store revision. If expected
	// is not 0 the key's ModRevision must equal it (else ErrConflict). A
	// missing key is an error wrapping ErrNotFound.
	Delete(ctx context.Context, key string, expected int64) (int64, error)

	// Txn atomically checks every Cmp and, if all hold, applies ops in
	// order as one commit with one new revision; otherwise it writes
	// nothing and returns an error wrapping ErrConflict. A key may appear
	// in at most one op. Deleting a missing key is a no-op; a Txn that
	// changes nothing does not advance the revision and returns the
	// current one.
	Txn(ctx context.Context, cmps []Cmp, ops []Op) (int64, error)

	// Watch delivers the changes to keys under prefix with a revision
	// greater than afterRevision, in revision order, one WatchResponse per
	// revision that touched the prefix, until ctx is done or the store is
	// closed, when the channel is closed. If afterRevision is older than
	// the retained change log, Watch returns an error wrapping ErrCompacted;
	// if the watcher falls that far behind later, the last response carries
	// ErrCompacted. A slow reader delays only its own watch.
	Watch(ctx context.Context, prefix string, afterRevision int64) (<-chan WatchResponse, error)

	// Close stops every watch and releases the store. Later calls return
	// errors wrapping ErrClosed.
	Close() error
}
