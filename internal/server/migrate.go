package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/vpngw/vpngw/internal/store"
	"github.com/vpngw/vpngw/internal/store/boltstore"
)

// migrateBatch is how many writes one migration Txn holds, below etcd's
// default --max-txn-ops (128).
const migrateBatch = 100

// ErrTargetNotEmpty is Migrate's error when the target holds keys and
// MigrateOptions.Force is not set.
var ErrTargetNotEmpty = errors.New("the target store is not empty")

// MigrateOptions configure Migrate: `vpngw serve migrate`.
type MigrateOptions struct {
	// FromBolt is the bbolt store to copy: the file (DATA-DIR/vpngw.db) or
	// the data directory holding it. It must exist; no server may have
	// it open.
	FromBolt string
	// To is the target store; it must be etcd.
	To StoreOptions
	// Force replaces whatever the target holds under its prefix (by
	// default a non-empty target is refused with ErrTargetNotEmpty).
	Force bool
	// Logger receives progress; nil is silent.
	Logger *slog.Logger
}

// MigrateResult says what Migrate did.
type MigrateResult struct {
	// Copied is how many keys were copied (and verified).
	Copied int
	// Removed is how many keys the target held before (Force).
	Removed int
	// SourceRevision is the source's revision the copy was read at.
	SourceRevision int64
}

// Migrate copies every key of a bbolt store into an etcd prefix, then
// reads the target back and checks that it holds exactly the source's
// keys and values. Values are copied as stored: sealed secrets stay
// sealed with the same --secrets-key-file, which the servers on the
// target need. Stop every server on the source and the target first.
func Migrate(ctx context.Context, o MigrateOptions) (MigrateResult, error) {
	var res MigrateResult
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.To.Kind != StoreEtcd {
		return res, errors.New("migrate: --to: want etcd:URL[,URL...]")
	}
	path := o.FromBolt
	if fi, err := os.Stat(path); err != nil {
		return res, fmt.Errorf("migrate: --from: %w", err)
	} else if fi.IsDir() {
		path = filepath.Join(path, storeFile)
		if _, err := os.Stat(path); err != nil {
			return res, fmt.Errorf("migrate: --from: %w", err)
		}
	}
	src, err := boltstore.Open(path, boltstore.Options{Logger: log})
	if err != nil {
		return res, fmt.Errorf("migrate: --from %s: %w (stop vpngw serve first)", path, err)
	}
	defer src.Close()
	dst, err := openStore(ctx, o.To, "", log)
	if err != nil {
		return res, fmt.Errorf("migrate: --to: %w", err)
	}
	defer dst.Close()

	kvs, rev, err := src.List(ctx, "")
	if err != nil {
		return res, fmt.Errorf("migrate: reading the source: %w", err)
	}
	res.SourceRevision = rev
	old, _, err := dst.List(ctx, "")
	if err != nil {
		return res, fmt.Errorf("migrate: reading the target: %w", err)
	}
	if len(old) > 0 && !o.Force {
		return res, fmt.Errorf("migrate: %w: prefix %s holds %d keys (is a server running on it?); --force replaces them",
			ErrTargetNotEmpty, etcdPrefix(o.To.Etcd), len(old))
	}
	var dels []store.Op
	for _, kv := range old {
		dels = append(dels, store.DeleteOp(kv.Key))
	}
	if err := txnBatches(ctx, dst, dels); err != nil {
		return res, fmt.Errorf("migrate: clearing the target: %w", err)
	}
	res.Removed = len(old)
	var puts []store.Op
	for _, kv := range kvs {
		puts = append(puts, store.PutOp(kv.Key, kv.Value))
	}
	if err := txnBatches(ctx, dst, puts); err != nil {
		return res, fmt.Errorf("migrate: copying (the target holds part of the copy; run again with --force): %w", err)
	}
	log.Info("copied", "keys", len(kvs), "removed", len(old))
	if err := verifyCopy(ctx, kvs, dst); err != nil {
		return res, fmt.Errorf("migrate: verifying: %w", err)
	}
	res.Copied = len(kvs)
	return res, nil
}

// txnBatches applies ops in transactions of migrateBatch.
func txnBatches(ctx context.Context, st store.Store, ops []store.Op) error {
	for len(ops) > 0 {
		n := min(len(ops), migrateBatch)
		if _, err := st.Txn(ctx, nil, ops[:n]); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// verifyCopy checks that dst holds exactly want's keys and values.
func verifyCopy(ctx context.Context, want []store.KV, dst store.Store) error {
	got, _, err := dst.List(ctx, "")
	if err != nil {
		return err
	}
	if len(got) != len(want) {
		return fmt.Errorf("the target holds %d keys, the source %d", len(got), len(want))
	}
	byKey := make(map[string][]byte, len(got))
	for _, kv := range got {
		byKey[kv.Key] = kv.Value
	}
	for _, kv := range want {
		v, ok := byKey[kv.Key]
		if !ok {
			return fmt.Errorf("key %q missing from the target", kv.Key)
		}
		if !bytes.Equal(v, kv.Value) {
			return fmt.Errorf("key %q differs in the target", kv.Key)
		}
	}
	return nil
}
