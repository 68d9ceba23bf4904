package etcdtest

import (
	"net/http"
	"testing"
	"time"
)

// TestStartStop starts a member, checks it answers and stops it by PID.
func TestStartStop(t *testing.T) {
	start := time.Now()
	s := Start(t)
	t.Logf("etcd %s healthy after %v", s.Endpoint, time.Since(start))
	resp, err := http.Get(s.Endpoint + "/version")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.Stop()
	if s.proc.Running() {
		t.Fatal("etcd still running after Stop")
	}
	s.Stop() // harmless
}

// TestStartTLS starts a member that serves https and requires client
// certificates.
func TestStartTLS(t *testing.T) {
	s := StartWith(t, Config{TLS: true})
	if _, err := http.Get(s.Endpoint + "/version"); err == nil {
		t.Fatal("plain client reached a TLS member with client-cert-auth")
	}
	tc, err := s.TLS.clientTLS()
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	resp, err := hc.Get(s.Endpoint + "/version")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}
