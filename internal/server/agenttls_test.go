package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/tlsca"
)

// TestAgentAPITLSAndInstanceTokens: with the host provider the TCP agent
// API is HTTPS with a certificate from the server's CA, and each instance
// is served only with its own token: the agent key itself and another
// instance's token are refused (401), the instance's own passes the check
// (404: no such instance yet); a client without the CA refuses the server.
func TestAgentAPITLSAndInstanceTokens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	agentAddr := ln.Addr().String()
	ln.Close()
	data := t.TempDir()
	runNone(t, Options{DataDir: data, Provider: ProviderHost, AgentListen: agentAddr})
	b, err := os.ReadFile(filepath.Join(data, "agent-token"))
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(b))
	roots, err := tlsca.Pool(CAFile(data))
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(instance, token string, pool *x509.CertPool) error {
		c, err := agentapi.NewClient("https://"+agentAddr, instance, token, pool)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Fetch(context.Background(), 0)
		return err
	}
	code := func(err error) int {
		var he *agentapi.HTTPError
		if errors.As(err, &he) {
			return he.Code
		}
		return 0
	}
	// The instance's own token passes the check: a short poll for an
	// instance not assigned yet is 404.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	req, _ := http.NewRequest(http.MethodGet, "https://"+agentAddr+"/agent/v1/instances/g1-0/config?after=0&wait=50ms", nil)
	req.Header.Set("Authorization", "Bearer "+agentapi.InstanceToken(key, "g1-0"))
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("own token: %d", res.StatusCode)
	}
	if err := fetch("g1-0", agentapi.InstanceToken(key, "g1-1"), roots); code(err) != http.StatusUnauthorized {
		t.Errorf("another instance's token: %v", err)
	}
	if err := fetch("g1-0", key, roots); code(err) != http.StatusUnauthorized {
		t.Errorf("the agent key: %v", err)
	}
	if err := fetch("g1-0", agentapi.InstanceToken(key, "g1-0"), nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA: %v", err)
	}
	// Reports take a connection of their own (agentapi's reportConn),
	// with the same checks: the instance's token reaches the hub (an
	// instance not assigned yet is 404), another's is refused, and the
	// server's certificate is verified.
	report := func(token string, pool *x509.CertPool) error {
		c, err := agentapi.NewClient("https://"+agentAddr, "g1-0", token, pool)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Report(context.Background(), agentapi.Report{Revision: 1})
		return err
	}
	if err := report(agentapi.InstanceToken(key, "g1-0"), roots); code(err) != http.StatusNotFound {
		t.Errorf("report, own token: %v", err)
	}
	if err := report(agentapi.InstanceToken(key, "g1-1"), roots); code(err) != http.StatusUnauthorized {
		t.Errorf("report, another instance's token: %v", err)
	}
	if err := report(agentapi.InstanceToken(key, "g1-0"), nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("report without the CA: %v", err)
	}
}
