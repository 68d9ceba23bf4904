package registry

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
	"github.com/vpngw/vpngw/internal/store/boltstore"
	"github.com/vpngw/vpngw/internal/store/storetest"
)

const testSharedKey = "Sup3rSecretSharedKeyValue"

var connID = resource.ID{Subscription: "Sub", ResourceGroup: "RG", Type: resource.TypeConnections, Name: "C1"}

func openBolt(t *testing.T, path string) store.Store {
	t.Helper()
	st, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newKeyFile(t *testing.T, path string) *KeyFile {
	t.Helper()
	kf, err := CreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return kf
}

// connRecord is the stored form (Encode) of a connection with key.
func connRecord(t *testing.T, key string) []byte {
	t.Helper()
	c := &resource.Connection{}
	resource.AssignIDs(c, connID)
	c.SetSharedKey(key)
	b, err := Encode(c, "")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sharedKeyOf(t *testing.T, st store.Store) string {
	t.Helper()
	rec, err := Load(context.Background(), st, connID)
	if err != nil || rec == nil {
		t.Fatalf("Load = %v, %v", rec, err)
	}
	return rec.Obj.(*resource.Connection).SharedKeyValue()
}

func fileHas(t *testing.T, path, s string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b, []byte(s))
}

// TestSealedAtRest: a shared key written through Sealed is nowhere in the
// bbolt file, and a store reopened with the same key file reads it back.
func TestSealedAtRest(t *testing.T) {
	dir := t.TempDir()
	db, keyPath := filepath.Join(dir, "vpngw.db"), filepath.Join(dir, "keys", "secrets.key")
	kf := newKeyFile(t, keyPath)
	bolt, err := boltstore.Open(db, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := NewSealed(bolt, kf)
	ctx := t.Context()
	if _, err := st.Put(ctx, Key(connID), connRecord(t, testSharedKey)); err != nil {
		t.Fatal(err)
	}
	if got := sharedKeyOf(t, st); got != testSharedKey {
		t.Errorf("shared key through Sealed = %q", got)
	}
	if raw, _ := bolt.Get(ctx, Key(connID)); bytes.Contains(raw.Value, []byte(testSharedKey)) || !bytes.Contains(raw.Value, []byte(`"enc":"v1"`)) {
		t.Errorf("stored record = %s, want the key sealed", raw.Value)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if fileHas(t, db, testSharedKey) {
		t.Fatal("the bbolt file holds the shared key in plain text")
	}

	kf2, err := LoadKeyFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	st2 := NewSealed(openBolt(t, db), kf2)
	if err := st2.CheckKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sharedKeyOf(t, st2); got != testSharedKey {
		t.Errorf("shared key after reopening = %q", got)
	}
	// List and Watch open records too.
	rs, err := List(ctx, st2, TypePrefix(resource.TypeConnections), resource.TypeConnections)
	if err != nil || len(rs) != 1 || rs[0].Obj.(*resource.Connection).SharedKeyValue() != testSharedKey {
		t.Errorf("List = %v, %v", rs, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, rev, _ := st2.List(ctx, "")
	w, err := st2.Watch(wctx, ResourceKeyPrefix, rev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st2.Put(ctx, Key(connID), connRecord(t, "An0therKey")); err != nil {
		t.Fatal(err)
	}
	resp := <-w
	if resp.Err != nil || len(resp.Events) != 1 || !bytes.Contains(resp.Events[0].Value, []byte("An0therKey")) {
		t.Errorf("watch response = %+v, want the opened record", resp)
	}
}

// TestPlainRecordSealedOnNextWrite: a record stored in plain text by an
// older version loads, and is sealed by its next write.
func TestPlainRecordSealedOnNextWrite(t *testing.T) {
	ctx := t.Context()
	db := filepath.Join(t.TempDir(), "vpngw.db")
	bolt := openBolt(t, db)
	if _, err := bolt.Put(ctx, Key(connID), connRecord(t, testSharedKey)); err != nil { // the old way
		t.Fatal(err)
	}
	st := NewSealed(bolt, newKeyFile(t, filepath.Join(t.TempDir(), "secrets.key")))
	if err := st.CheckKeys(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err := Load(ctx, st, connID)
	if err != nil || rec.Obj.(*resource.Connection).SharedKeyValue() != testSharedKey {
		t.Fatalf("Load of a plain record = %+v, %v", rec, err)
	}
	b, err := Encode(rec.Obj, "op1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CompareAndSwap(ctx, Key(connID), b, rec.Rev); err != nil {
		t.Fatal(err)
	}
	raw, _ := bolt.Get(ctx, Key(connID))
	if bytes.Contains(raw.Value, []byte(testSharedKey)) || sealedWith(raw.Value) == "" {
		t.Errorf("record after its next write = %s, want it sealed", raw.Value)
	}
	if rec, err := Load(ctx, st, connID); err != nil || rec.Op != "op1" || rec.Obj.(*resource.Connection).SharedKeyValue() != testSharedKey {
		t.Errorf("Load after the write = %+v, %v", rec, err)
	}
	// Records without secrets are stored as they are.
	gid := resource.ID{Subscription: "Sub", ResourceGroup: "RG"}
	g := &resource.ResourceGroup{}
	resource.AssignIDs(g, gid)
	gb, _ := Encode(g, "")
	if _, err := st.Txn(ctx, nil, []store.Op{store.PutOp(Key(gid), gb)}); err != nil {
		t.Fatal(err)
	}
	if raw, _ := bolt.Get(ctx, Key(gid)); !bytes.Equal(raw.Value, gb) {
		t.Errorf("group record = %s, want %s", raw.Value, gb)
	}
}

// TestWrongOrMissingKey: a record sealed with another key fails to load
// with ErrUnknownKey (CheckKeys finds it first), and a sealed value moved
// to another key does not open.
func TestWrongOrMissingKey(t *testing.T) {
	ctx := t.Context()
	bolt := openBolt(t, filepath.Join(t.TempDir(), "vpngw.db"))
	a := newKeyFile(t, filepath.Join(t.TempDir(), "a.key"))
	if _, err := NewSealed(bolt, a).Put(ctx, Key(connID), connRecord(t, testSharedKey)); err != nil {
		t.Fatal(err)
	}
	b := NewSealed(bolt, newKeyFile(t, filepath.Join(t.TempDir(), "b.key")))
	if err := b.CheckKeys(ctx); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), a.IDs()[0]) {
		t.Errorf("CheckKeys with the wrong key = %v, want ErrUnknownKey naming %s", err, a.IDs()[0])
	}
	if _, err := Load(ctx, b, connID); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Load with the wrong key = %v, want ErrUnknownKey", err)
	}
	raw, _ := bolt.Get(ctx, Key(connID))
	other := resource.ID{Subscription: "Sub", ResourceGroup: "RG", Type: resource.TypeConnections, Name: "C2"}
	if _, err := bolt.Put(ctx, Key(other), raw.Value); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSealed(bolt, a).Get(ctx, Key(other)); err == nil || !strings.Contains(err.Error(), "do not open") {
		t.Errorf("a sealed record moved to another key opened: %v", err)
	}

	if _, err := LoadKeyFile(filepath.Join(t.TempDir(), "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadKeyFile of a missing file = %v, want fs.ErrNotExist", err)
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d", "secrets.key")
	kf, created, err := OpenOrCreateKeyFile(path, true)
	if err != nil || !created {
		t.Fatalf("OpenOrCreateKeyFile = %v, %v", created, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	if again, created, err := OpenOrCreateKeyFile(path, true); err != nil || created || again.IDs()[0] != kf.IDs()[0] {
		t.Errorf("second OpenOrCreateKeyFile = %v, %v, %v; want the same key", again, created, err)
	}
	if _, err := CreateKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("CreateKeyFile over a key file = %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadKeyFile of a world-readable file = %v, want an error naming it", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	if err := os.WriteFile(bad, []byte("# comment\nnot-a-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(bad); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("LoadKeyFile of a malformed file = %v", err)
	}
}

// TestRotation: a new current key, Reseal, then dropping the old key
// leaves every record readable with the new key alone.
func TestRotation(t *testing.T) {
	ctx := t.Context()
	bolt := openBolt(t, filepath.Join(t.TempDir(), "vpngw.db"))
	keyPath := filepath.Join(t.TempDir(), "secrets.key")
	old := newKeyFile(t, keyPath)
	if _, err := NewSealed(bolt, old).Put(ctx, Key(connID), connRecord(t, testSharedKey)); err != nil {
		t.Fatal(err)
	}
	plainID := connID
	plainID.Name = "Plain"
	c := &resource.Connection{}
	resource.AssignIDs(c, plainID)
	c.SetSharedKey("PlainOldKey")
	pb, _ := Encode(c, "")
	if _, err := bolt.Put(ctx, Key(plainID), pb); err != nil {
		t.Fatal(err)
	}

	both, err := old.AddKey()
	if err != nil {
		t.Fatal(err)
	}
	if ids := both.IDs(); len(ids) != 2 || ids[1] != old.IDs()[0] {
		t.Fatalf("key IDs after AddKey = %v", ids)
	}
	n, err := NewSealed(bolt, both).Reseal(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Reseal = %d, %v; want 2 records", n, err)
	}
	if n, err := NewSealed(bolt, both).Reseal(ctx); err != nil || n != 0 {
		t.Errorf("a second Reseal = %d, %v; want nothing to do", n, err)
	}
	if ids, err := SealedKeyIDs(ctx, bolt); err != nil || len(ids) != 1 || ids[0] != both.IDs()[0] {
		t.Errorf("SealedKeyIDs = %v, %v; want only the new key", ids, err)
	}
	cur, err := both.KeepCurrent()
	if err != nil {
		t.Fatal(err)
	}
	st := NewSealed(bolt, cur)
	if err := st.CheckKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sharedKeyOf(t, st); got != testSharedKey {
		t.Errorf("shared key after rotation = %q", got)
	}
	if rec, err := Load(ctx, st, plainID); err != nil || rec.Obj.(*resource.Connection).SharedKeyValue() != "PlainOldKey" {
		t.Errorf("formerly plain record after rotation = %+v, %v", rec, err)
	}
	if err := NewSealed(bolt, old).CheckKeys(ctx); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("the old key after rotation: CheckKeys = %v, want ErrUnknownKey", err)
	}
}

// TestSealedConformance: Sealed is a store.Store like any other.
func TestSealedConformance(t *testing.T) {
	kf := newKeyFile(t, filepath.Join(t.TempDir(), "secrets.key"))
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) store.Store {
			return NewSealed(openBolt(t, filepath.Join(t.TempDir(), "vpngw.db")), kf)
		},
	})
}

// TestSecretValuesSealedWhole: a value under SecretKeyPrefix (the control
// plane's own secrets) is sealed whole: nowhere in plain text in the
// store, read back through Sealed (Get, List), bound to its key, and
// counted by SealedKeyIDs so a wrong key file is noticed.
func TestSecretValuesSealedWhole(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	kf := newKeyFile(t, filepath.Join(dir, "secrets.key"))
	bolt := openBolt(t, filepath.Join(dir, "vpngw.db"))
	st := NewSealed(bolt, kf)
	key, val := SecretKeyPrefix+"p2s/g1", []byte(`{"key":"-----BEGIN PRIVATE KEY-----\nTOPSECRET"}`)
	if _, err := st.Put(ctx, key, val); err != nil {
		t.Fatal(err)
	}
	raw, err := bolt.Get(ctx, key)
	if err != nil || bytes.Contains(raw.Value, []byte("TOPSECRET")) {
		t.Fatalf("stored %s, %v", raw.Value, err)
	}
	if kv, err := st.Get(ctx, key); err != nil || !bytes.Equal(kv.Value, val) {
		t.Fatalf("Get = %s, %v", kv.Value, err)
	}
	if kvs, _, err := st.List(ctx, SecretKeyPrefix); err != nil || len(kvs) != 1 || !bytes.Equal(kvs[0].Value, val) {
		t.Fatalf("List = %v, %v", kvs, err)
	}
	if ids, err := SealedKeyIDs(ctx, bolt); err != nil || len(ids) != 1 {
		t.Fatalf("SealedKeyIDs = %v, %v", ids, err)
	}
	// Moved to another key, the envelope does not open.
	if _, err := bolt.Put(ctx, SecretKeyPrefix+"p2s/g2", raw.Value); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, SecretKeyPrefix+"p2s/g2"); err == nil {
		t.Fatal("an envelope opened under another key")
	}
	other := NewSealed(bolt, newKeyFile(t, filepath.Join(dir, "other.key")))
	if err := other.CheckKeys(ctx); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("CheckKeys with another key file: %v", err)
	}
}

// TestGatewaySecretsSealedAtRest: a gateway's RADIUS secret and its local
// users' passwords (resource.Secrets) are sealed in the stored record and
// come back when it is loaded; the user names stay readable.
func TestGatewaySecretsSealedAtRest(t *testing.T) {
	dir := t.TempDir()
	bolt := openBolt(t, filepath.Join(dir, "vpngw.db"))
	st := NewSealed(bolt, newKeyFile(t, filepath.Join(dir, "secrets.key")))
	id := resource.ID{Subscription: "Sub", ResourceGroup: "RG", Type: resource.TypeVirtualNetworkGateways, Name: "GW"}
	g := &resource.VirtualNetworkGateway{}
	resource.AssignIDs(g, id)
	g.Properties.VpnClientConfiguration = &resource.VpnClientConfiguration{RadiusServerSecret: "RadSecretValue",
		VpnClientLocalUsers: []resource.VpnClientLocalUser{{Name: "dave", Properties: resource.VpnClientLocalUserProperties{Password: "DavePasswordValue"}}}}
	b, err := Encode(g, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := st.Put(ctx, Key(id), b); err != nil {
		t.Fatal(err)
	}
	raw, err := bolt.Get(ctx, Key(id))
	if err != nil || bytes.Contains(raw.Value, []byte("RadSecretValue")) || bytes.Contains(raw.Value, []byte("DavePasswordValue")) || !bytes.Contains(raw.Value, []byte(`"dave"`)) {
		t.Fatalf("stored record = %s, %v: want the secrets sealed and the name readable", raw.Value, err)
	}
	rec, err := Load(ctx, st, id)
	if err != nil || rec == nil {
		t.Fatalf("Load = %v, %v", rec, err)
	}
	c := rec.Obj.(*resource.VirtualNetworkGateway).Properties.VpnClientConfiguration
	if c.RadiusServerSecret != "RadSecretValue" || c.VpnClientLocalUsers[0].Properties.Password != "DavePasswordValue" {
		t.Fatalf("loaded %+v", c)
	}
}
