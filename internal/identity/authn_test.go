package identity

import (
	"bytes"
	"encoding/json"
	"github.com/vpngw/vpngw/internal/armerr"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testIssuer opens an issuer in dir for endpoint with the clock *now.
func testIssuer(t *testing.T, dir, endpoint string, now *time.Time, log *bytes.Buffer) *Issuer {
	t.Helper()
	cfg := Config{Dir: dir, Endpoint: func(*http.Request) string { return endpoint }, Configured: endpoint,
		Now: func() time.Time { return *now }}
	if log != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	i, _, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func adminCred(t *testing.T, dir string) Credential {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, AdminCredentialFile))
	if err != nil {
		t.Fatal(err)
	}
	var c Credential
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// tokenRequest posts form to i's token endpoint.
func tokenRequest(i *Issuer, form url.Values) (int, map[string]any) {
	req := httptest.NewRequest(http.MethodPost, TokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	i.Handler().ServeHTTP(rec, req)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m
}

func clientCredentials(c Credential, resource string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}, "resource": {resource}}
}

// TestTokenEndpoint: the grants and their refusals, in OAuth 2.0's shape.
func TestTokenEndpoint(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	var logs bytes.Buffer
	i := testIssuer(t, dir, "https://vpngw.test:8443", &now, &logs)
	c := adminCred(t, dir)
	for _, f := range []string{SigningKeyFile, PrincipalsFile, AdminCredentialFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi, err)
		}
	}
	user, err := NewUser("alice", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if err := AddPrincipal(dir, user); err != nil {
		t.Fatal(err)
	}
	wrong := c
	wrong.ClientSecret = "nope"
	tests := []struct {
		name   string
		form   url.Values
		status int
		code   string // OAuth error
	}{
		{"client credentials, v1 resource", clientCredentials(c, "https://vpngw.test:8443/"), 200, ""},
		{"client credentials, v2 scope as MSAL sends it", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID},
			"client_secret": {c.ClientSecret}, "scope": {"https://vpngw.test:8443//.default"}}, 200, ""},
		{"password", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse"},
			"scope": {"https://vpngw.test:8443/.default openid profile offline_access"}}, 200, ""},
		{"wrong secret", clientCredentials(wrong, "https://vpngw.test:8443/"), 401, "invalid_client"},
		{"unknown client", clientCredentials(Credential{ClientID: "x", ClientSecret: c.ClientSecret}, "https://vpngw.test:8443/"), 401, "invalid_client"},
		{"wrong password", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wrong horse"}, "resource": {"https://vpngw.test:8443/"}}, 400, "invalid_grant"},
		{"another resource", clientCredentials(c, "https://management.azure.com/"), 400, "invalid_resource"},
		{"no resource", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}}, 400, "invalid_request"},
		{"authorization code", url.Values{"grant_type": {"authorization_code"}, "resource": {"https://vpngw.test:8443/"}}, 400, "unsupported_grant_type"},
	}
	var secrets []string
	for _, tc := range tests {
		st, m := tokenRequest(i, tc.form)
		if st != tc.status || (tc.code != "" && m["error"] != tc.code) {
			t.Errorf("%s: %d %v, want %d %s", tc.name, st, m, tc.status, tc.code)
		}
		if _, ok := m["id_token"]; ok != (tc.name == "password") {
			t.Errorf("%s: id_token %v (only a user's sign-in with openid gets one)", tc.name, ok)
		}
		if tok, ok := m["access_token"].(string); ok {
			secrets = append(secrets, tok)
			if m["token_type"] != "Bearer" || m["expires_in"] != float64(3600) {
				t.Errorf("%s: %v", tc.name, m)
			}
		}
	}
	for _, s := range append(secrets, c.ClientSecret, "correct horse") {
		if strings.Contains(logs.String(), s) {
			t.Errorf("a secret or token is in the log:\n%s", logs.String())
		}
	}
	if !strings.Contains(logs.String(), "signed in") {
		t.Errorf("no sign-in logged:\n%s", logs.String())
	}
}

// TestAuthenticate: what the token check lets through and how it refuses,
// with Azure's codes and a WWW-Authenticate header naming the authority.
func TestAuthenticate(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	const ep = "https://vpngw.test:8443"
	i := testIssuer(t, dir, ep, &now, nil)
	c := adminCred(t, dir)
	get := func(i *Issuer, endpoint string) string {
		t.Helper()
		st, m := tokenRequest(i, clientCredentials(c, endpoint+"/"))
		if st != 200 {
			t.Fatalf("token: %d %v", st, m)
		}
		return m["access_token"].(string)
	}
	good := get(i, ep)
	// The same key and principals behind another endpoint: a valid
	// signature for the wrong audience.
	otherAud := get(testIssuer(t, dir, "https://other.test", &now, nil), "https://other.test")
	// Another server's key: a forged signature.
	forgedDir := t.TempDir()
	forger := testIssuer(t, forgedDir, ep, &now, nil)
	c2 := adminCred(t, forgedDir)
	st, m := tokenRequest(forger, clientCredentials(c2, ep+"/"))
	if st != 200 {
		t.Fatal(m)
	}
	forged := m["access_token"].(string)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + b64.EncodeToString([]byte(`{"aud":"https://vpngw.test:8443/","iss":"https://vpngw.test:8443/adfs","exp":99999999999}`)) + "." + parts[2]

	var reached int
	h := i.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := PrincipalFrom(r.Context()); r.URL.Path == "/api" && (!ok || p.AppID != c.ClientID) {
			t.Errorf("principal %+v", p)
		}
		reached++
	}), func(r *http.Request) bool { return r.URL.Path == "/open" }, func(r *http.Request) bool { return r.URL.Path == "/page" }, "/signin")
	do := func(path, auth string, cookie *http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if cookie != nil {
			req.AddCookie(cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	tests := []struct {
		name  string
		auth  string
		after time.Duration // clock moved
		code  string        // "" passes
	}{
		{"valid", "Bearer " + good, 0, ""},
		{"no token", "", 0, armerr.CodeAuthenticationFailed},
		{"not bearer", "Basic " + good, 0, armerr.CodeAuthenticationFailed},
		{"wrong audience", "Bearer " + otherAud, 0, armerr.CodeInvalidTokenAudience},
		{"forged signature", "Bearer " + forged, 0, armerr.CodeInvalidToken},
		{"tampered payload", "Bearer " + tampered, 0, armerr.CodeInvalidToken},
		{"garbage", "Bearer abc", 0, armerr.CodeInvalidToken},
		{"expired", "Bearer " + good, 2 * time.Hour, armerr.CodeExpiredToken},
		{"within the clock skew", "Bearer " + good, time.Hour + time.Minute, ""},
	}
	base := now
	for _, tc := range tests {
		now = base.Add(tc.after)
		before := reached
		rec := do("/api", tc.auth, nil)
		if tc.code == "" {
			if rec.Code != 200 || reached != before+1 {
				t.Errorf("%s: %d %s", tc.name, rec.Code, rec.Body)
			}
			continue
		}
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != http.StatusUnauthorized || e.Error.Code != tc.code || reached != before {
			t.Errorf("%s: %d %s, want 401 %s", tc.name, rec.Code, rec.Body, tc.code)
		}
		if w := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(w, `Bearer authorization_uri="https://vpngw.test:8443/adfs"`) {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, w)
		}
	}
	now = base
	if rec := do("/open", "", nil); rec.Code != 200 {
		t.Errorf("open path: %d", rec.Code)
	}
	if rec := do("/page", "", nil); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/signin?next=%2Fpage" {
		t.Errorf("page: %d %v", rec.Code, rec.Header())
	}
	if rec := do("/api", "", &http.Cookie{Name: SessionCookie, Value: good}); rec.Code != 200 {
		t.Errorf("session cookie: %d %s", rec.Code, rec.Body)
	}
	// A principal removed from the file: its tokens stop working.
	if err := writePrincipals(dir, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a new modification time
	os.Chtimes(filepath.Join(dir, PrincipalsFile), time.Now(), time.Now().Add(time.Second))
	if rec := do("/api", "Bearer "+good, nil); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), armerr.CodeInvalidToken) {
		t.Errorf("removed principal: %d %s", rec.Code, rec.Body)
	}
}
