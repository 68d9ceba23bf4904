package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/client"
	"github.com/vpngw/vpngw/internal/identity"
	"github.com/vpngw/vpngw/internal/store"
	"github.com/vpngw/vpngw/internal/store/boltstore"
	"github.com/vpngw/vpngw/internal/tstest"
	"github.com/vpngw/vpngw/internal/tstest/etcdtest"
)

// replica is one API listener (the real apiHandler: token issuer, token
// check, role check, role API) with its own identity directory on a
// shared store.
type replica struct {
	base string
	dir  string
}

// startReplica serves apiHandler with an issuer in dir on st; the API
// behind it answers 200 to anything the role check lets through.
func startReplica(t *testing.T, st store.Store, dir string) (replica, bool) {
	t.Helper()
	iss, created, err := identity.Open(identity.Config{Store: st, Dir: dir, Endpoint: func(r *http.Request) string { return "http://" + r.Host }})
	if err != nil {
		t.Fatal(err)
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metadata/endpoints" { // for the sign-in
			w.Write([]byte(`{"authentication":{"audiences":["http://` + r.Host + `/"]}}`))
			return
		}
		w.Write([]byte(`{"value":[]}`))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: apiHandler(api, iss, nil, []string{ln.Addr().String()}, false, nil)}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return replica{base: "http://" + ln.Addr().String(), dir: dir}, created
}

func (r replica) signIn(t *testing.T, id, secret string) string {
	t.Helper()
	tok, err := client.SignIn(context.Background(), &http.Client{Timeout: 10 * time.Second}, r.base, id, secret, "", "")
	if err != nil {
		t.Fatalf("sign-in at %s: %v", r.base, err)
	}
	return tok.AccessToken
}

func (r replica) do(t *testing.T, method, path, tok, body string) (int, string) {
	t.Helper()
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	resp := tstest.Do(t, tstest.Request{Method: method, URL: r.base + path, ContentType: ct, Body: body,
		Header: http.Header{"Authorization": {"Bearer " + tok}}})
	return resp.Status, string(resp.Body)
}

// TestRoleAssignmentSharedByReplicas: two API servers on one store (each
// with its own identity directory holding a copy of the signing key, as
// docs/ha.md says to install replicas). A principal created in the store
// signs in at either; a role assignment created through server 1
// authorizes its requests on server 2 within two seconds, and deleting it
// through server 1 revokes them on server 2 as fast. Assignments created
// at once through both servers are all kept.
func TestRoleAssignmentSharedByReplicas(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "store.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	data1, data2 := t.TempDir(), t.TempDir()
	dir1, dir2 := filepath.Join(data1, IdentityDir), filepath.Join(data2, IdentityDir)
	r1, created := startReplica(t, st, dir1)
	if !created {
		t.Fatal("the first replica did not create the administrator")
	}
	key, err := os.ReadFile(filepath.Join(dir1, identity.SigningKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir2, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir2, identity.SigningKeyFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	r2, created := startReplica(t, st, dir2)
	if created {
		t.Fatal("the second replica created a second administrator")
	}
	if _, err := os.Stat(filepath.Join(dir2, identity.AdminCredentialFile)); err == nil {
		t.Fatal("the second replica wrote an administrator credential")
	}
	admin := adminCredential(t, data1)
	admin1 := r1.signIn(t, admin.ClientID, admin.ClientSecret)
	admin2 := r2.signIn(t, admin.ClientID, admin.ClientSecret)

	bob, secret, err := identity.NewServicePrincipal("bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := identity.AddPrincipalToStore(context.Background(), st, bob); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // past the issuer's re-read on a miss
	bob2 := r2.signIn(t, bob.AppID, secret)
	const rgs = "/subscriptions/s1/resourcegroups?api-version=2024-05-01"
	if s, b := r2.do(t, http.MethodGet, rgs, bob2, ""); s != http.StatusForbidden || !strings.Contains(b, "AuthorizationFailed") {
		t.Fatalf("bob without a role on server 2: %d %s", s, b)
	}
	const ra = "/subscriptions/s1/providers/Microsoft.Authorization/roleAssignments/"
	const name = "12121212-1212-4212-8212-121212121212"
	body := `{"properties":{"roleDefinitionId":"/subscriptions/s1/providers/Microsoft.Authorization/roleDefinitions/` + identity.RoleReader.ID + `","principalId":"` + bob.ObjectID + `"}}`
	if s, b := r1.do(t, http.MethodPut, ra+name+"?api-version=2022-04-01", admin1, body); s != http.StatusCreated {
		t.Fatalf("assigning Reader through server 1: %d %s", s, b)
	}
	waitStatus := func(what string, want int) {
		t.Helper()
		start := time.Now()
		for {
			s, b := r2.do(t, http.MethodGet, rgs, bob2, "")
			if s == want {
				t.Logf("%s on server 2 after %v", what, time.Since(start).Round(time.Millisecond))
				return
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("%s: server 2 still answers %d %s after 2 s", what, s, b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitStatus("granted", http.StatusOK)
	if s, b := r1.do(t, http.MethodDelete, ra+name+"?api-version=2022-04-01", admin1, ""); s != http.StatusOK {
		t.Fatalf("deleting the assignment through server 1: %d %s", s, b)
	}
	waitStatus("revoked", http.StatusForbidden)

	// Racing writers: 10 assignments through each server at once.
	var wg sync.WaitGroup
	for k, r := range []struct {
		rep replica
		tok string
	}{{r1, admin1}, {r2, admin2}} {
		for n := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g := fmt.Sprintf("%08d-0000-4000-8000-%012d", k, n)
				if s, b := r.rep.do(t, http.MethodPut, ra+g+"?api-version=2022-04-01", r.tok, body); s != http.StatusCreated {
					t.Errorf("PUT %s: %d %s", g, s, b)
				}
			}()
		}
	}
	wg.Wait()
	kvs, _, err := st.List(context.Background(), identity.RoleAssignmentsPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != 21 { // the administrator's and 20
		t.Fatalf("%d role assignments in the store, want 21", len(kvs))
	}
}

// TestPrincipalCreateEtcd: `serve principal-create` with --store etcd
// (AddPrincipal) writes the principal to the shared store, where a
// running replica's administrator and the new principal sign in, and
// refuses a second principal of the same name.
func TestPrincipalCreateEtcd(t *testing.T) {
	etcd := etcdtest.Start(t)
	keyFile := filepath.Join(t.TempDir(), "secrets.key")
	o := etcdOptions(t, etcd.Endpoint, "/vpngw/principals/", keyFile)
	addr, _ := startNoneStop(t, o)
	p, secret, err := identity.NewServicePrincipal("carol")
	if err != nil {
		t.Fatal(err)
	}
	if err := AddPrincipal(context.Background(), o.Store, t.TempDir(), p, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(o.DataDir, IdentityDir, identity.PrincipalsFile)); err == nil {
		t.Fatal("principal-create with etcd wrote principals.json")
	}
	time.Sleep(150 * time.Millisecond) // past the issuer's re-read on a miss
	replica{base: "http://" + addr}.signIn(t, p.AppID, secret)
	if err := AddPrincipal(context.Background(), o.Store, t.TempDir(), p, nil); err == nil {
		t.Fatal("a second carol was added")
	}
}

// TestPrincipalDelete: `serve principal-delete` (DeletePrincipal) on a
// real etcd while a replica runs: the principal and its role assignment
// are deleted and its credential no longer signs in; the administrator
// (the last Owner of /) and an unknown principal are refused. On bbolt
// it refuses while the server holds the store, and works once stopped.
func TestPrincipalDelete(t *testing.T) {
	etcd := etcdtest.Start(t)
	keyFile := filepath.Join(t.TempDir(), "secrets.key")
	o := etcdOptions(t, etcd.Endpoint, "/vpngw/principal-delete/", keyFile)
	addr, _ := startNoneStop(t, o)
	rep := replica{base: "http://" + addr}
	ctx := context.Background()
	p, secret, err := identity.NewServicePrincipal("dave")
	if err != nil {
		t.Fatal(err)
	}
	if err := AddPrincipal(ctx, o.Store, t.TempDir(), p, nil); err != nil {
		t.Fatal(err)
	}
	admin := adminCredential(t, o.DataDir)
	adminTok := rep.signIn(t, admin.ClientID, admin.ClientSecret)
	time.Sleep(150 * time.Millisecond) // past the issuer's re-read on a miss
	assignment := haSub + "/providers/Microsoft.Authorization/roleAssignments/88888888-8888-4888-8888-888888888888?api-version=2022-04-01"
	if st, b := rep.do(t, http.MethodPut, assignment, adminTok, fmt.Sprintf(`{"properties":{"roleDefinitionId":%q,"principalId":%q}}`,
		haSub+"/providers/Microsoft.Authorization/roleDefinitions/"+identity.RoleReader.ID, p.ObjectID)); st != http.StatusCreated {
		t.Fatalf("role assignment: %d %s", st, b)
	}
	rep.signIn(t, p.AppID, secret)

	tests := []struct {
		name string
		sel  PrincipalSelector
		want error
	}{
		{"unknown", PrincipalSelector{ClientID: "00000000-0000-4000-8000-000000000000"}, identity.ErrPrincipalNotFound},
		{"the last Owner of /", PrincipalSelector{ClientID: admin.ClientID}, identity.ErrLastOwner},
	}
	for _, tt := range tests {
		if _, _, err := DeletePrincipal(ctx, o.Store, o.DataDir, tt.sel, nil); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	got, roles, err := DeletePrincipal(ctx, o.Store, o.DataDir, PrincipalSelector{ClientID: p.AppID}, nil)
	if err != nil || got.ObjectID != p.ObjectID || roles != 1 {
		t.Fatalf("deleting dave: %+v, %d role assignments, %v", got, roles, err)
	}
	time.Sleep(1100 * time.Millisecond) // the replica's cache ages
	if _, err := client.SignIn(ctx, &http.Client{Timeout: 10 * time.Second}, rep.base, p.AppID, secret, "", ""); err == nil {
		t.Error("a deleted principal signed in")
	}
	if st, _ := rep.do(t, http.MethodGet, assignment, adminTok, ""); st != http.StatusNotFound {
		t.Errorf("the deleted principal's role assignment: %d, want 404", st)
	}

	// bbolt: one process at a time.
	bo := Options{DataDir: t.TempDir()}
	_, stop := startNoneStop(t, bo)
	boltAdmin := adminCredential(t, bo.DataDir)
	if _, _, err := DeletePrincipal(ctx, bo.Store, bo.DataDir, PrincipalSelector{ClientID: boltAdmin.ClientID}, nil); err == nil ||
		!strings.Contains(err.Error(), "stop vpngw serve first") {
		t.Errorf("principal-delete on a running bbolt server: %v", err)
	}
	stop()
	if _, _, err := DeletePrincipal(ctx, bo.Store, bo.DataDir, PrincipalSelector{ClientID: boltAdmin.ClientID}, nil); !errors.Is(err, identity.ErrLastOwner) {
		t.Errorf("principal-delete of the bbolt administrator, stopped: %v, want ErrLastOwner", err)
	}
}
