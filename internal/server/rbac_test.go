package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/client"
	"github.com/vpngw/vpngw/internal/identity"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/tlsca"
	"github.com/vpngw/vpngw/internal/tstest"
)

// TestRBAC: Azure's built-in roles and role assignments through the
// Microsoft.Authorization API, checked on every request of `vpngw serve`:
// a Reader at the subscription lists and reads but gets 403
// AuthorizationFailed on PUT, on DELETE and on a connection's shared key
// (a secret needs a write-level role, as in Azure); a Network Contributor
// scoped to one resource group manages networks there only, and cannot
// create groups; a principal without an assignment can do nothing; an
// assignment's removal takes effect at once; only Owner assigns roles.
func TestRBAC(t *testing.T) {
	data := t.TempDir()
	addr, _ := runNone(t, Options{DataDir: data})
	ep := "https://" + addr
	pool, err := tlsca.Pool(CAFile(data))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	idDir := filepath.Join(data, IdentityDir)
	newSP := func(name string) (identity.Principal, string) {
		p, secret, err := identity.NewServicePrincipal(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := identity.AddPrincipal(idDir, p); err != nil {
			t.Fatal(err)
		}
		return p, secret
	}
	token := func(appID, secret string) string {
		tok, err := client.SignIn(context.Background(), hc, ep, appID, secret, "", "")
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	admin := adminCredential(t, data)
	adminTok := token(admin.ClientID, admin.ClientSecret)
	reader, readerSecret := newSP("reader")
	netc, netcSecret := newSP("netcontrib")
	nobody, nobodySecret := newSP("nobody")
	readerTok, netcTok, nobodyTok := token(reader.AppID, readerSecret), token(netc.AppID, netcSecret), token(nobody.AppID, nobodySecret)

	sub := "/subscriptions/" + resource.DefaultSubscription
	const v = "?api-version=2024-05-01"
	do := func(tok, method, path, body string) (int, string) {
		t.Helper()
		r := tstest.Do(t, tstest.Request{Method: method, URL: ep + path, ContentType: "application/json", Body: body,
			Header: http.Header{"Authorization": {"Bearer " + tok}}, Client: hc})
		return r.Status, string(r.Body)
	}
	vnet := func(rg, name string) string {
		return sub + "/resourceGroups/" + rg + "/providers/Microsoft.Network/virtualNetworks/" + name + v
	}
	const vnetBody = `{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.9.0.0/16"]}}}`
	for _, rg := range []string{"rgA", "rgB"} {
		if st, b := do(adminTok, "PUT", sub+"/resourcegroups/"+rg+v, `{"location":"eastus"}`); st/100 != 2 {
			t.Fatalf("admin group %s: %d %s", rg, st, b)
		}
		if st, b := do(adminTok, "PUT", vnet(rg, "v1"), vnetBody); st/100 != 2 {
			t.Fatalf("admin vnet: %d %s", st, b)
		}
	}
	assign := func(tok, scope, name, roleID, principal string) (int, string) {
		return do(tok, "PUT", scope+"/providers/Microsoft.Authorization/roleAssignments/"+name+"?api-version=2022-04-01",
			`{"properties":{"roleDefinitionId":"`+sub+`/providers/Microsoft.Authorization/roleDefinitions/`+roleID+`","principalId":"`+principal+`"}}`)
	}
	if st, b := assign(adminTok, sub, "11111111-1111-4111-8111-111111111111", identity.RoleReader.ID, reader.ObjectID); st != http.StatusCreated {
		t.Fatalf("assign Reader: %d %s", st, b)
	}
	const netcAssignment = "22222222-2222-4222-8222-222222222222"
	if st, b := assign(adminTok, sub+"/resourceGroups/rgA", netcAssignment, identity.RoleNetworkContributor.ID, netc.ObjectID); st != http.StatusCreated {
		t.Fatalf("assign Network Contributor: %d %s", st, b)
	}
	conn := sub + "/resourceGroups/rgA/providers/Microsoft.Network/connections/c1"
	forbidden := func(action, scope string) string { return "403 " + action + " @ " + scope }
	tests := []struct {
		name, tok, method, path, body string
		want                          string // "2xx", "404", or forbidden(...)
	}{
		{"reader lists groups", readerTok, "GET", sub + "/resourcegroups" + v, "", "2xx"},
		{"reader reads a vnet", readerTok, "GET", vnet("rgB", "v1"), "", "2xx"},
		{"reader reads the role definitions", readerTok, "GET", sub + "/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-04-01", "", "2xx"},
		{"reader cannot PUT", readerTok, "PUT", vnet("rgA", "v2"), vnetBody, forbidden("Microsoft.Network/virtualNetworks/write", sub+"/resourceGroups/rgA/providers/Microsoft.Network/virtualNetworks/v2")},
		{"reader cannot delete", readerTok, "DELETE", sub + "/resourcegroups/rgB" + v, "", forbidden("Microsoft.Resources/subscriptions/resourceGroups/delete", sub+"/resourcegroups/rgB")},
		{"reader cannot read a shared key", readerTok, "GET", conn + "/sharedkey" + v, "", forbidden("Microsoft.Network/connections/write", conn+"/sharedkey")},
		{"reader cannot reset a gateway", readerTok, "POST", sub + "/resourceGroups/rgA/providers/Microsoft.Network/virtualNetworkGateways/g/reset" + v, "",
			forbidden("Microsoft.Network/virtualNetworkGateways/reset/action", sub+"/resourceGroups/rgA/providers/Microsoft.Network/virtualNetworkGateways/g/reset")},
		{"reader cannot assign roles", readerTok, "PUT", sub + "/providers/Microsoft.Authorization/roleAssignments/33333333-3333-4333-8333-333333333333?api-version=2022-04-01",
			`{"properties":{"roleDefinitionId":"x/providers/Microsoft.Authorization/roleDefinitions/` + identity.RoleOwner.ID + `","principalId":"` + reader.ObjectID + `"}}`,
			forbidden("Microsoft.Authorization/roleAssignments/write", sub)},
		{"network contributor manages its group", netcTok, "PUT", vnet("rgA", "v2"), vnetBody, "2xx"},
		{"network contributor may read a shared key there", netcTok, "GET", conn + "/sharedkey" + v, "", "404"},
		{"network contributor cannot touch another group", netcTok, "PUT", vnet("rgB", "v2"), vnetBody, forbidden("Microsoft.Network/virtualNetworks/write", sub+"/resourceGroups/rgB/providers/Microsoft.Network/virtualNetworks/v2")},
		{"network contributor cannot read another group", netcTok, "GET", vnet("rgB", "v1"), "", forbidden("Microsoft.Network/virtualNetworks/read", sub+"/resourceGroups/rgB/providers/Microsoft.Network/virtualNetworks/v1")},
		{"network contributor cannot create groups", netcTok, "PUT", sub + "/resourcegroups/rgC" + v, `{"location":"eastus"}`, forbidden("Microsoft.Resources/subscriptions/resourceGroups/write", sub+"/resourcegroups/rgC")},
		{"no assignment, no access", nobodyTok, "GET", sub + "/resourcegroups" + v, "", forbidden("Microsoft.Resources/subscriptions/resourceGroups/read", sub+"/resourcegroups")},
		{"but the subscription list is open", nobodyTok, "GET", "/subscriptions?api-version=2020-01-01", "", "2xx"},
		{"only Owner uses the lab API", readerTok, "GET", "/lab/v1/status", "", forbidden("vpngw.Lab/read", "/")},
	}
	for _, tc := range tests {
		st, body := do(tc.tok, tc.method, tc.path, tc.body)
		switch {
		case tc.want == "2xx":
			if st/100 != 2 {
				t.Errorf("%s: %d %s", tc.name, st, body)
			}
		case tc.want == "404":
			if st != http.StatusNotFound {
				t.Errorf("%s: %d %s", tc.name, st, body)
			}
		default:
			var e armerr.Body
			_ = json.Unmarshal([]byte(body), &e)
			action, scope, _ := strings.Cut(strings.TrimPrefix(tc.want, "403 "), " @ ")
			if st != http.StatusForbidden || e.Error == nil || e.Error.Code != armerr.CodeAuthorizationFailed ||
				!strings.Contains(e.Error.Message, "action '"+action+"' over scope '"+scope+"'") ||
				!strings.Contains(e.Error.Message, "The client '") {
				t.Errorf("%s: %d %s, want 403 AuthorizationFailed for %s", tc.name, st, body, tc.want)
			}
		}
	}
	// The list shows the assignments at and below a scope; removing one
	// takes effect on the next request.
	st, body := do(adminTok, "GET", sub+"/resourceGroups/rgA/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01", "")
	if st != http.StatusOK || !strings.Contains(body, netcAssignment) || !strings.Contains(body, `"principalType":"ServicePrincipal"`) {
		t.Fatalf("list: %d %s", st, body)
	}
	if st, b := do(adminTok, "DELETE", sub+"/resourceGroups/rgA/providers/Microsoft.Authorization/roleAssignments/"+netcAssignment+"?api-version=2022-04-01", ""); st != http.StatusOK {
		t.Fatalf("delete assignment: %d %s", st, b)
	}
	if st, b := do(netcTok, "GET", vnet("rgA", "v2"), ""); st != http.StatusForbidden {
		t.Fatalf("after the assignment's removal: %d %s", st, b)
	}
	// A user signs in with a password (the password grant) and gets what
	// the role gives.
	alice, err := identity.NewUser("alice", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if err := identity.AddPrincipal(idDir, alice); err != nil {
		t.Fatal(err)
	}
	if st, b := assign(adminTok, sub+"/resourceGroups/rgB", "55555555-5555-4555-8555-555555555555", identity.RoleContributor.ID, alice.ObjectID); st != http.StatusCreated {
		t.Fatalf("assign Contributor: %d %s", st, b)
	}
	if _, err := client.SignIn(context.Background(), hc, ep, "", "", "alice", "wrong horse"); err == nil {
		t.Fatal("a wrong password signed in")
	}
	aliceTok, err := client.SignIn(context.Background(), hc, ep, "", "", "alice", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if st, b := do(aliceTok.AccessToken, "PUT", vnet("rgB", "v3"), vnetBody); st/100 != 2 {
		t.Fatalf("Contributor alice in rgB: %d %s", st, b)
	}
	if st, b := assign(aliceTok.AccessToken, sub+"/resourceGroups/rgB", "66666666-6666-4666-8666-666666666666", identity.RoleOwner.ID, alice.ObjectID); st != http.StatusForbidden {
		t.Fatalf("a Contributor assigned a role: %d %s", st, b)
	}

	// Bad assignments are refused with the field.
	if st, b := assign(adminTok, sub, "44444444-4444-4444-8444-444444444444", "00000000-0000-0000-0000-00000000dead", reader.ObjectID); st != http.StatusBadRequest || !strings.Contains(b, "RoleDefinitionDoesNotExist") {
		t.Errorf("unknown role: %d %s", st, b)
	}
	if st, b := assign(adminTok, sub, "44444444-4444-4444-8444-444444444444", identity.RoleReader.ID, "no-such-principal"); st != http.StatusBadRequest || !strings.Contains(b, "PrincipalNotFound") {
		t.Errorf("unknown principal: %d %s", st, b)
	}
}
