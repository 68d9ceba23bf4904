package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/store"
)

// storeFile is the store's file in the data directory.
const storeFile = "vpngw.db"

// openSealed wraps st so that record secrets are sealed with the key file
// at path. A missing file is created (one new key) unless the store
// already holds sealed secrets; a key file that lacks a key the store
// needs is an error naming the file. Records left in plain text by an
// older version, or sealed with a key that is no longer current, are
// sealed again with the current key.
func openSealed(ctx context.Context, st store.Store, path string, log *slog.Logger) (*registry.Sealed, error) {
	kf, err := registry.LoadKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		ids, lerr := registry.SealedKeyIDs(ctx, st)
		if lerr != nil {
			return nil, lerr
		}
		if len(ids) > 0 {
			return nil, fmt.Errorf("secrets key file %s does not exist, but the store's secrets are sealed with key %v: restore the file or pass --secrets-key-file", path, ids)
		}
		if kf, err = registry.CreateKeyFile(path); err == nil {
			log.Info("created secrets key file", "path", path, "keyID", kf.IDs()[0])
		}
	}
	if err != nil {
		return nil, err
	}
	sealed := registry.NewSealed(st, kf)
	if err := sealed.CheckKeys(ctx); err != nil {
		return nil, fmt.Errorf("secrets key file %s: %w (the wrong key file?)", path, err)
	}
	n, err := sealed.Reseal(ctx)
	if err != nil {
		return nil, fmt.Errorf("sealing secrets: %w", err)
	}
	if n > 0 {
		log.Info("sealed the secrets of stored records", "records", n, "keyID", kf.IDs()[0])
	}
	return sealed, nil
}

// RotateSecretsKey is `vpngw serve rotate-key`: with the server (every
// server, on a shared etcd) stopped, it adds a new key to the key file at
// keyFile as the current one, seals every record's secrets in the store
// (st: dataDir's bbolt file, or etcd) with it, and then removes the old
// keys from the file. Until the last step both keys are in the file, so
// a rotation cut short leaves every record readable; running it again
// finishes it.
func RotateSecretsKey(ctx context.Context, st StoreOptions, dataDir, keyFile string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if st.Kind != StoreEtcd {
		if _, err := os.Stat(filepath.Join(dataDir, storeFile)); err != nil {
			return fmt.Errorf("rotate-key: store: %w", err)
		}
	}
	raw, err := openStore(ctx, st, dataDir, log.With("component", "store"))
	if err != nil {
		return fmt.Errorf("rotate-key: %w (stop vpngw serve first)", err)
	}
	defer raw.Close()
	kf, err := registry.LoadKeyFile(keyFile)
	if err != nil {
		return fmt.Errorf("rotate-key: %w", err)
	}
	if err := registry.NewSealed(raw, kf).CheckKeys(ctx); err != nil {
		return fmt.Errorf("rotate-key: secrets key file %s: %w (the wrong key file?)", keyFile, err)
	}
	old := kf.IDs()
	kf, err = kf.AddKey()
	if err != nil {
		return fmt.Errorf("rotate-key: %w", err)
	}
	n, err := registry.NewSealed(raw, kf).Reseal(ctx)
	if err != nil {
		return fmt.Errorf("rotate-key: sealing with the new key (both keys stay in %s; run rotate-key again): %w", keyFile, err)
	}
	if kf, err = kf.KeepCurrent(); err != nil {
		return fmt.Errorf("rotate-key: %w", err)
	}
	log.Info("rotated the secrets key", "keyFile", keyFile, "keyID", kf.IDs()[0], "removed", old, "records", n)
	return nil
}
