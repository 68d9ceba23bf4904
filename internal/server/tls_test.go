package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	pemlib "encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/tlsca"
)

// TestServeTLS: by default the API is HTTPS with a certificate from the
// server's own CA (created once in DATA-DIR/tls, kept across restarts)
// for the names it answers to; operation URLs say https; plain HTTP is
// refused; --insecure-http is loopback only; --tls-cert/--tls-key serve
// the operator's certificate.
func TestServeTLS(t *testing.T) {
	data := t.TempDir()
	addr, stop := runNone(t, Options{DataDir: data})
	caFile := CAFile(data)
	fi, err := os.Stat(filepath.Join(data, TLSDir, "ca.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key: %v %v", fi, err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	port := addr[strings.LastIndex(addr, ":")+1:]
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for i, host := range []string{addr, "localhost:" + port} {
		if i == 0 {
			req, _ := http.NewRequest(http.MethodPut, "https://"+host+"/subscriptions/s1/resourcegroups/rg?api-version=2024-05-01", strings.NewReader(`{"location":"westeurope"}`))
			req.Header.Set("Content-Type", "application/json")
			tok, _ := serverTokens.Load(addr)
			req.Header.Set("Authorization", "Bearer "+tok.(string))
			res, err := hc.Do(req)
			if err != nil || res.StatusCode/100 != 2 {
				t.Fatalf("group: %v %v", res, err)
			}
			res.Body.Close()
		}
		req, _ := http.NewRequest(http.MethodPut, "https://"+host+"/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/localNetworkGateways/l"+port+host[:1]+"?api-version=2024-05-01",
			strings.NewReader(`{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.1","localNetworkAddressSpace":{"addressPrefixes":["192.168.1.0/24"]}}}`))
		req.Header.Set("Content-Type", "application/json")
		tok, _ := serverTokens.Load(addr)
		req.Header.Set("Authorization", "Bearer "+tok.(string))
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("https via %s: %v", host, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode/100 != 2 || !strings.HasPrefix(res.Header.Get("Azure-AsyncOperation"), "https://"+addr+"/") {
			t.Fatalf("via %s: %d, Azure-AsyncOperation %q", host, res.StatusCode, res.Header.Get("Azure-AsyncOperation"))
		}
	}
	// A client that does not trust the CA is refused by its own TLS.
	if _, err := http.Get("https://" + addr + "/metadata/endpoints"); err == nil {
		t.Error("the system roots accepted the server's certificate")
	}
	// Plain HTTP on the TLS port gets no API.
	if res, err := http.Get("http://" + addr + "/metadata/endpoints"); err == nil {
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP: %d", res.StatusCode)
		}
	}
	// A restart keeps the CA.
	stop()
	runNone(t, Options{DataDir: data})
	if again, _ := os.ReadFile(caFile); string(again) != string(pem) {
		t.Error("the CA changed across a restart")
	}

	// --insecure-http only on loopback.
	err = Run(context.Background(), Options{Listen: "0.0.0.0:0", InsecureHTTP: true, AllowedHosts: []string{"a.test"},
		DataDir: t.TempDir(), SecretsKeyFile: filepath.Join(t.TempDir(), "k"), Provider: ProviderNone})
	if err == nil || !strings.Contains(err.Error(), "--insecure-http") {
		t.Errorf("--insecure-http on a wildcard: %v", err)
	}

	// --tls-cert/--tls-key: the given chain is served (a leaf of another
	// CA, written to files).
	ca, _, err := tlsca.LoadOrCreate(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue([]string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(t.TempDir(), "c.pem"), filepath.Join(t.TempDir(), "k.pem")
	var chain []byte
	for _, der := range leaf.Certificate {
		chain = append(chain, pemlib.EncodeToMemory(&pemlib.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(leaf.PrivateKey)
	os.WriteFile(certFile, chain, 0o644)
	os.WriteFile(keyFile, pemlib.EncodeToMemory(&pemlib.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	addr3, _ := runNone(t, Options{TLSCertFile: certFile, TLSKeyFile: keyFile})
	pool2, err := tlsca.Pool(ca.CertPath())
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool2}}}).Get("https://" + addr3 + "/metadata/endpoints")
	if err != nil {
		t.Fatalf("--tls-cert: %v", err)
	}
	res.Body.Close()
}
