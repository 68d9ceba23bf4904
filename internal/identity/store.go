package identity

// Principals and role assignments in the control plane's store, so that
// every `vpngw serve` replica on one store sees a change made through any
// of them (docs/ha.md).
//
// With Config.Store set, each principal is one key,
// identity/principals/OBJECT-ID, and each role assignment one key,
// identity/roleassignments/NAME (lower case), both JSON. One key per
// item means two replicas adding at once cannot lose either write: a new
// key is created with compare-and-swap against "absent", a delete is
// conditioned on the revision that was read. An Issuer caches both lists
// and re-reads them when the cache is older than cacheTTL, so a change
// made through another replica applies there within that time; a request
// served from the cache touches neither the store nor the file system.
//
// principals.json and roleassignments.json in Config.Dir are an inbox:
// when either exists (the first start after an upgrade, or `vpngw serve
// principal-create` on a single-node bbolt installation whose store the
// running server holds locked), the Issuer imports what the store lacks
// at its next refresh (within cacheTTL, or at once when a principal is
// not found) and renames the file to FILE.imported. The signing key and the
// administrator credential stay files in Config.Dir.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vpngw/vpngw/internal/store"
)

// Store key prefixes.
const (
	PrincipalsPrefix      = "identity/principals/"
	RoleAssignmentsPrefix = "identity/roleassignments/"
	// bootstrapKey marks that an administrator principal was created, so
	// that replicas starting together on an empty store create one only.
	bootstrapKey = "identity/bootstrap"
)

// cacheTTL is how long an Issuer trusts its cached lists; missTTL how
// long when a principal is not in them.
const (
	cacheTTL = time.Second
	missTTL  = 100 * time.Millisecond
)

// storeTimeout bounds one store operation on the request path.
const storeTimeout = 10 * time.Second

// ImportedSuffix is appended to an imported file's name.
const ImportedSuffix = ".imported"

func principalStoreKey(p Principal) string { return PrincipalsPrefix + strings.ToLower(p.ObjectID) }

func assignmentKey(name string) string { return RoleAssignmentsPrefix + strings.ToLower(name) }

// AddPrincipalToStore adds p to st (for `vpngw serve principal-create`
// against a shared store); a principal with the same client ID or user
// name, or object ID, is refused.
func AddPrincipalToStore(ctx context.Context, st store.Store, p Principal) error {
	kvs, _, err := st.List(ctx, PrincipalsPrefix)
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	for _, kv := range kvs {
		var q Principal
		if json.Unmarshal(kv.Value, &q) == nil && sameName(p, q) {
			return fmt.Errorf("identity: a principal named %s%s exists", p.AppID, p.UserName)
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if _, err := st.CompareAndSwap(ctx, principalStoreKey(p), b, 0); err != nil {
		return fmt.Errorf("identity: adding principal %s: %w", p.ObjectID, err)
	}
	return nil
}

// sameName reports whether p and q share a client ID or a user name.
func sameName(p, q Principal) bool {
	return (p.AppID != "" && strings.EqualFold(q.AppID, p.AppID)) || (p.UserName != "" && strings.EqualFold(q.UserName, p.UserName))
}

// storeState is the cached content of the store.
type storeState struct {
	principals  []Principal
	assignments []storedAssignment
	read        time.Time
}

// storedAssignment is an assignment with the revision it was read at.
type storedAssignment struct {
	RoleAssignment
	modRevision int64
}

// loadStore returns the principals and assignments, from the cache when
// it is fresh, else from the store (importing the inbox files first).
func (i *Issuer) loadStore(ctx context.Context) (storeState, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	// The inbox files are looked for only here, at a refresh (at most
	// every cacheTTL, or on a miss): a request served from the cache costs
	// no file system call.
	if !i.cache.read.IsZero() && time.Since(i.cache.read) < cacheTTL {
		return i.cache, nil
	}
	if err := i.importFiles(ctx); err != nil {
		return storeState{}, err
	}
	var s storeState
	kvs, _, err := i.cfg.Store.List(ctx, PrincipalsPrefix)
	if err != nil {
		return s, fmt.Errorf("identity: %w", err)
	}
	for _, kv := range kvs {
		var p Principal
		if err := json.Unmarshal(kv.Value, &p); err != nil {
			return s, fmt.Errorf("identity: %s: %w", kv.Key, err)
		}
		s.principals = append(s.principals, p)
	}
	kvs, _, err = i.cfg.Store.List(ctx, RoleAssignmentsPrefix)
	if err != nil {
		return s, fmt.Errorf("identity: %w", err)
	}
	for _, kv := range kvs {
		var a RoleAssignment
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			return s, fmt.Errorf("identity: %s: %w", kv.Key, err)
		}
		s.assignments = append(s.assignments, storedAssignment{a, kv.ModRevision})
	}
	s.read = time.Now()
	i.cache = s
	return s, nil
}

// invalidate makes the next read go to the store.
func (i *Issuer) invalidate() {
	i.mu.Lock()
	i.cache = storeState{}
	i.mu.Unlock()
}

// inboxWaiting reports whether principals.json or roleassignments.json
// waits to be imported.
func (i *Issuer) inboxWaiting() bool {
	for _, f := range []string{PrincipalsFile, RoleAssignmentsFile} {
		if _, err := os.Stat(filepath.Join(i.cfg.Dir, f)); err == nil {
			return true
		}
	}
	return false
}

// importFiles moves principals.json and roleassignments.json into the
// store: every item the store lacks is created (an existing key is kept),
// then the file is renamed FILE.imported. Called with i.mu held.
func (i *Issuer) importFiles(ctx context.Context) error {
	ppath := filepath.Join(i.cfg.Dir, PrincipalsFile)
	if _, err := os.Stat(ppath); err == nil {
		doc, err := readPrincipals(i.cfg.Dir)
		if err != nil {
			return err
		}
		for _, p := range doc.Principals {
			b, _ := json.Marshal(p)
			if err := putIfAbsent(ctx, i.cfg.Store, principalStoreKey(p), b); err != nil {
				return err
			}
		}
		if err := os.Rename(ppath, ppath+ImportedSuffix); err != nil {
			return fmt.Errorf("identity: %w", err)
		}
		i.log.Info("imported principals into the store", "file", ppath, "principals", len(doc.Principals))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("identity: %w", err)
	}
	apath := filepath.Join(i.cfg.Dir, RoleAssignmentsFile)
	if _, err := os.Stat(apath); err == nil {
		as, err := readAssignments(i.cfg.Dir)
		if err != nil {
			return err
		}
		for _, a := range as {
			b, _ := json.Marshal(a)
			if err := putIfAbsent(ctx, i.cfg.Store, assignmentKey(a.Name), b); err != nil {
				return err
			}
		}
		if err := os.Rename(apath, apath+ImportedSuffix); err != nil {
			return fmt.Errorf("identity: %w", err)
		}
		i.log.Info("imported role assignments into the store", "file", apath, "roleAssignments", len(as))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("identity: %w", err)
	}
	return nil
}

// putIfAbsent creates key; an existing key is left as it is.
func putIfAbsent(ctx context.Context, st store.Store, key string, value []byte) error {
	if _, err := st.CompareAndSwap(ctx, key, value, 0); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("identity: %s: %w", key, err)
	}
	return nil
}

// bootstrapStore creates the administrator principal in the store when no
// replica has: its credential goes to a temporary file, the principal, its
// Owner assignment at / and bootstrapKey in one transaction, and only if
// that commits is the file renamed to AdminCredentialFile. created is
// false when the store already had principals or another replica won.
func (i *Issuer) bootstrapStore(ctx context.Context) (created bool, err error) {
	if _, err := i.loadStore(ctx); err != nil {
		return false, err
	}
	kvs, _, err := i.cfg.Store.List(ctx, PrincipalsPrefix)
	if err != nil {
		return false, fmt.Errorf("identity: %w", err)
	}
	if len(kvs) > 0 {
		return false, nil
	}
	if _, err := i.cfg.Store.Get(ctx, bootstrapKey); err == nil {
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("identity: %w", err)
	}
	p, secret, err := NewServicePrincipal("vpngw-admin")
	if err != nil {
		return false, err
	}
	final := filepath.Join(i.cfg.Dir, AdminCredentialFile)
	tmp := final + ".new"
	if err := writeCredential(tmp, Credential{TenantID: Tenant, ClientID: p.AppID, ClientSecret: secret}); err != nil {
		return false, err
	}
	a := RoleAssignment{Name: newUUID(), Scope: "/", RoleID: RoleOwner.ID, PrincipalID: p.ObjectID}
	pb, _ := json.Marshal(p)
	ab, _ := json.Marshal(a)
	_, err = i.cfg.Store.Txn(ctx, []store.Cmp{{Key: bootstrapKey}, {Key: principalStoreKey(p)}, {Key: assignmentKey(a.Name)}},
		[]store.Op{store.PutOp(bootstrapKey, []byte(p.ObjectID)), store.PutOp(principalStoreKey(p), pb), store.PutOp(assignmentKey(a.Name), ab)})
	if errors.Is(err, store.ErrConflict) {
		_ = os.Remove(tmp)
		return false, nil
	}
	if err != nil {
		_ = os.Remove(tmp)
		return false, fmt.Errorf("identity: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return false, fmt.Errorf("identity: %w", err)
	}
	i.invalidate()
	return true, nil
}

// storeCtx returns a context for one store operation.
func storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), storeTimeout)
}

// Errors of DeletePrincipalFromStore.
var (
	// ErrPrincipalNotFound: no principal matches.
	ErrPrincipalNotFound = errors.New("identity: no such principal")
	// ErrLastOwner: the principal is the last one with the Owner role at
	// the root scope "/"; without one, nobody could assign roles.
	ErrLastOwner = errors.New("identity: the last Owner of /")
)

// DeletePrincipalFromStore deletes the principal match selects (for
// `vpngw serve principal-delete`) and its role assignments, in one
// transaction conditioned on the revisions read (a concurrent change is
// store.ErrConflict: run it again). It refuses the last principal with
// Owner at "/" (ErrLastOwner). It returns the deleted principal and how
// many role assignments went with it. Replicas' caches forget it within
// cacheTTL.
func DeletePrincipalFromStore(ctx context.Context, st store.Store, match func(Principal) bool) (Principal, int, error) {
	pkvs, _, err := st.List(ctx, PrincipalsPrefix)
	if err != nil {
		return Principal{}, 0, fmt.Errorf("identity: %w", err)
	}
	var (
		gone    Principal
		goneKV  store.KV
		found   bool
		present = map[string]bool{}
	)
	for _, kv := range pkvs {
		var p Principal
		if json.Unmarshal(kv.Value, &p) != nil {
			continue
		}
		present[p.ObjectID] = true
		if match(p) {
			if found {
				return Principal{}, 0, fmt.Errorf("identity: more than one principal matches (%s, %s)", gone.ObjectID, p.ObjectID)
			}
			gone, goneKV, found = p, kv, true
		}
	}
	if !found {
		return Principal{}, 0, ErrPrincipalNotFound
	}
	akvs, _, err := st.List(ctx, RoleAssignmentsPrefix)
	if err != nil {
		return Principal{}, 0, fmt.Errorf("identity: %w", err)
	}
	cmps := []store.Cmp{{Key: goneKV.Key, ModRevision: goneKV.ModRevision}}
	ops := []store.Op{store.DeleteOp(goneKV.Key)}
	otherOwner := false
	for _, kv := range akvs {
		var a RoleAssignment
		if json.Unmarshal(kv.Value, &a) != nil {
			continue
		}
		switch {
		case a.PrincipalID == gone.ObjectID:
			cmps = append(cmps, store.Cmp{Key: kv.Key, ModRevision: kv.ModRevision})
			ops = append(ops, store.DeleteOp(kv.Key))
		case a.RoleID == RoleOwner.ID && a.Scope == "/" && present[a.PrincipalID]:
			otherOwner = true
		}
	}
	ownsRoot := slices.ContainsFunc(akvs, func(kv store.KV) bool {
		var a RoleAssignment
		return json.Unmarshal(kv.Value, &a) == nil && a.PrincipalID == gone.ObjectID && a.RoleID == RoleOwner.ID && a.Scope == "/"
	})
	if ownsRoot && !otherOwner {
		return Principal{}, 0, ErrLastOwner
	}
	if _, err := st.Txn(ctx, cmps, ops); err != nil {
		return Principal{}, 0, fmt.Errorf("identity: deleting principal %s: %w", gone.ObjectID, err)
	}
	return gone, len(ops) - 1, nil
}
