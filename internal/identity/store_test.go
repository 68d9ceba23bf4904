package identity

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/store"
	"github.com/vpngw/vpngw/internal/store/boltstore"
)

func testStore(t *testing.T) store.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "store.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openStored(t *testing.T, st store.Store, dir string) (*Issuer, bool) {
	t.Helper()
	now := time.Now()
	i, created, err := Open(Config{Store: st, Dir: dir, Endpoint: func(*http.Request) string { return "https://gw.test" },
		Configured: "https://gw.test", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return i, created
}

// TestStoreMigratesFiles: an installation whose principals and role
// assignments are files is imported into the store on the first start
// with a store, the files renamed *.imported, and its administrator keeps
// signing in with its role; no second administrator is created.
func TestStoreMigratesFiles(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	testIssuer(t, dir, "https://gw.test", &now, nil)
	alice, err := NewUser("alice", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if err := AddPrincipal(dir, alice); err != nil {
		t.Fatal(err)
	}
	if err := Assign(dir, RoleAssignment{Name: newUUID(), Scope: "/subscriptions/s1", RoleID: RoleReader.ID, PrincipalID: alice.ObjectID}); err != nil {
		t.Fatal(err)
	}
	cred := adminCred(t, dir)
	st := testStore(t)
	i, created := openStored(t, st, dir)
	if created {
		t.Fatal("a migrated installation created a new administrator")
	}
	for _, f := range []string{PrincipalsFile, RoleAssignmentsFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there after the import: %v", f, err)
		}
		if _, err := os.Stat(filepath.Join(dir, f+ImportedSuffix)); err != nil {
			t.Errorf("%s: %v", f+ImportedSuffix, err)
		}
	}
	ps, _, _ := st.List(context.Background(), PrincipalsPrefix)
	as, _, _ := st.List(context.Background(), RoleAssignmentsPrefix)
	if len(ps) != 2 || len(as) != 2 {
		t.Fatalf("store holds %d principals and %d assignments, want 2 and 2", len(ps), len(as))
	}
	if st, m := tokenRequest(i, clientCredentials(cred, "https://gw.test/")); st != http.StatusOK {
		t.Fatalf("admin sign-in after the migration: %d %v", st, m)
	}
	admin, ok := i.find(func(p *Principal) bool { return p.AppID == cred.ClientID })
	if !ok {
		t.Fatal("administrator not found")
	}
	if ok, err := i.permitted(admin, "Microsoft.Network/virtualNetworks/write", "/subscriptions/s1"); !ok || err != nil {
		t.Fatalf("administrator lost Owner: %v %v", ok, err)
	}
	if ok, _ := i.permitted(alice, "Microsoft.Network/virtualNetworks/read", "/subscriptions/s1/resourceGroups/rg"); !ok {
		t.Fatal("alice lost Reader")
	}
	// A reopen does not import again or bootstrap.
	if _, created := openStored(t, st, dir); created {
		t.Fatal("reopen created an administrator")
	}
}

// TestStoreBootstrapOnce: two issuers opening one empty store create one
// administrator; the credential file is written only by the one that did.
// A principal added to the file of a running issuer (principal-create on
// a single-node installation) is imported into the store.
func TestStoreBootstrapOnce(t *testing.T) {
	st := testStore(t)
	d1, d2 := t.TempDir(), t.TempDir()
	i1, c1 := openStored(t, st, d1)
	_, c2 := openStored(t, st, d2)
	if !c1 || c2 {
		t.Fatalf("created: %v %v, want true false", c1, c2)
	}
	if _, err := os.Stat(filepath.Join(d2, AdminCredentialFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("second issuer's credential file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d1, AdminCredentialFile+".new")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("temporary credential file left: %v", err)
	}
	if ps, _, _ := st.List(context.Background(), PrincipalsPrefix); len(ps) != 1 {
		t.Fatalf("%d principals, want 1", len(ps))
	}
	bob, err := NewUser("bob", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if err := AddPrincipal(d1, bob); err != nil {
		t.Fatal(err)
	}
	time.Sleep(missTTL)
	if _, ok := i1.find(func(p *Principal) bool { return p.UserName == "bob" }); !ok {
		t.Fatal("bob, added to the inbox file, not found")
	}
	if ps, _, _ := st.List(context.Background(), PrincipalsPrefix); len(ps) != 2 {
		t.Fatalf("%d principals in the store, want 2", len(ps))
	}
	if err := AddPrincipalToStore(context.Background(), st, bob); err == nil {
		t.Fatal("a second bob was added")
	}
}

// TestStoreInboxAtRefresh: a request served from the fresh cache looks
// for no inbox file (it costs no file system call); a role assignment
// left in the inbox is imported at the next refresh, within cacheTTL.
func TestStoreInboxAtRefresh(t *testing.T) {
	st := testStore(t)
	dir := t.TempDir()
	i, _ := openStored(t, st, dir)
	bob, err := NewUser("bob", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if err := AddPrincipalToStore(context.Background(), st, bob); err != nil {
		t.Fatal(err)
	}
	i.invalidate()
	if _, ok := i.find(func(p *Principal) bool { return p.ObjectID == bob.ObjectID }); !ok {
		t.Fatal("bob not found")
	}
	start := time.Now() // the cache was read just now
	if err := Assign(dir, RoleAssignment{Name: newUUID(), Scope: "/subscriptions/s1", RoleID: RoleReader.ID, PrincipalID: bob.ObjectID}); err != nil {
		t.Fatal(err)
	}
	ok, err := i.permitted(bob, "Microsoft.Network/virtualNetworks/read", "/subscriptions/s1")
	if err != nil {
		t.Fatal(err)
	}
	if ok && time.Since(start) < cacheTTL {
		t.Fatal("the inbox was read while the cache was fresh")
	}
	if _, err := os.Stat(filepath.Join(dir, RoleAssignmentsFile)); err != nil && time.Since(start) < cacheTTL {
		t.Fatalf("the inbox file was imported while the cache was fresh: %v", err)
	}
	deadline := time.Now().Add(cacheTTL + 2*time.Second)
	for {
		if ok, _ := i.permitted(bob, "Microsoft.Network/virtualNetworks/read", "/subscriptions/s1"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the inbox's role assignment was not imported after the cache aged")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, RoleAssignmentsFile+ImportedSuffix)); err != nil {
		t.Errorf("imported file: %v", err)
	}
}

// TestRemoveAssignmentRace: a delete whose read of the assignment is
// stale (another replica changed the key since) deletes it when the key
// still holds the same assignment, and says what happened otherwise,
// never an internal error.
func TestRemoveAssignmentRace(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// meanwhile is what another replica does after the read.
		meanwhile func(st store.Store, key string, a RoleAssignment)
		want      error
	}{
		{"deleted and created again alike", func(st store.Store, key string, a RoleAssignment) {
			st.Delete(ctx, key, 0)
			b, _ := json.Marshal(a)
			st.CompareAndSwap(ctx, key, b, 0)
		}, nil},
		{"deleted", func(st store.Store, key string, _ RoleAssignment) { st.Delete(ctx, key, 0) }, errAssignmentGone},
		{"replaced by another role", func(st store.Store, key string, a RoleAssignment) {
			st.Delete(ctx, key, 0)
			a.RoleID = RoleOwner.ID
			b, _ := json.Marshal(a)
			st.CompareAndSwap(ctx, key, b, 0)
		}, errAssignmentChanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := testStore(t)
			i, _ := openStored(t, st, t.TempDir())
			a := RoleAssignment{Name: newUUID(), Scope: "/subscriptions/s1", RoleID: RoleReader.ID, PrincipalID: newUUID()}
			if err := i.addAssignment(a); err != nil {
				t.Fatal(err)
			}
			as, err := i.listAssignments()
			if err != nil {
				t.Fatal(err)
			}
			idx := slices.IndexFunc(as, func(x storedAssignment) bool { return x.Name == a.Name })
			if idx < 0 {
				t.Fatal("the assignment is not listed")
			}
			tt.meanwhile(st, assignmentKey(a.Name), a)
			if err := i.removeAssignment(as[idx]); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("removeAssignment: %v, want %v", err, tt.want)
			}
			_, err = st.Get(ctx, assignmentKey(a.Name))
			if gone := errors.Is(err, store.ErrNotFound); gone != (tt.want != errAssignmentChanged) {
				t.Errorf("the key after the delete: %v", err)
			}
		})
	}
}
