package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/tlsca"
)

// TestRootsTransport: the CLI's client trusts its CA file without loading
// the system's roots, falls back to them (here a stand-in "system" CA)
// for a server whose chain ends there, sending the request's body again,
// and still refuses an unknown authority and a certificate for another
// name.
func TestRootsTransport(t *testing.T) {
	now := time.Now()
	newCA := func(name string) *tlsca.CA {
		ca, _, err := tlsca.LoadOrCreate(filepath.Join(t.TempDir(), name), now)
		if err != nil {
			t.Fatal(err)
		}
		return ca
	}
	own, system, unknown := newCA("own"), newCA("system"), newCA("unknown")
	serve := func(ca *tlsca.CA, names ...string) string {
		cert, err := ca.Issue(names, now)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			io.WriteString(w, r.Method+" "+string(b))
		}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.URL
	}
	tests := []struct {
		name string
		// ca issues the server's certificate, for names.
		ca    *tlsca.CA
		names []string
		// loads is how often the full pool must be built; wantErr a
		// substring of the error ("" for success).
		loads   int
		wantErr string
	}{
		{name: "own CA", ca: own, names: []string{"127.0.0.1"}},
		{name: "system root", ca: system, names: []string{"127.0.0.1"}, loads: 1},
		{name: "unknown authority", ca: unknown, names: []string{"127.0.0.1"}, loads: 1, wantErr: "unknown authority"},
		{name: "own CA, other name", ca: own, names: []string{"other.example"}, wantErr: "doesn't contain any IP SANs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := serve(tt.ca, tt.names...)
			env := &env{getenv: func(k string) string {
				if k == "VPNGW_CA_FILE" {
					return own.CertPath()
				}
				return ""
			}}
			hc, err := httpClient(env, "")
			if err != nil {
				t.Fatal(err)
			}
			rt := hc.Transport.(*rootsTransport)
			loads := 0
			rt.loadAll = func(caFile string) (*x509.CertPool, error) {
				loads++
				pool, err := tlsca.FilePool(caFile)
				if err != nil {
					return nil, err
				}
				return pool, appendCA(pool, system)
			}
			for i, body := range []string{"first", "second"} {
				resp, err := hc.Post(url, "text/plain", strings.NewReader(body))
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("request %d: err %v, want %q", i, err, tt.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(got) != "POST "+body {
					t.Errorf("request %d: server got %q", i, got)
				}
			}
			if loads != tt.loads {
				t.Errorf("full pool built %d times, want %d", loads, tt.loads)
			}
			hc.CloseIdleConnections()
		})
	}
}

// appendCA adds ca's certificate to pool.
func appendCA(pool *x509.CertPool, ca *tlsca.CA) error {
	b, err := os.ReadFile(ca.CertPath())
	if err != nil {
		return err
	}
	if !pool.AppendCertsFromPEM(b) {
		return errors.New(ca.CertPath() + ": no certificate")
	}
	return nil
}
