package server

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/tstest/etcdtest"
)

const etcdTestAPI = "?api-version=2024-05-01"

// etcdOptions are serve's options on the etcd at endpoint under prefix,
// with a fresh data directory.
func etcdOptions(t testing.TB, endpoint, prefix, keyFile string) Options {
	return Options{
		DataDir:        t.TempDir(),
		SecretsKeyFile: keyFile,
		Store:          StoreOptions{Kind: StoreEtcd, Etcd: EtcdOptions{Endpoints: []string{endpoint}, Prefix: prefix}},
	}
}

// startEtcdReplicas starts n `serve --provider none` replicas on the etcd
// at endpoint under prefix, sharing one secrets key, and returns their
// base URLs. They stop at the test's cleanup.
func startEtcdReplicas(t testing.TB, endpoint, prefix string, n int) []string {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "secrets.key")
	bases := make([]string, n)
	for i := range bases {
		addr, _ := startNoneStop(t, etcdOptions(t, endpoint, prefix, keyFile))
		bases[i] = "http://" + addr
	}
	return bases
}

// putJSON PUTs body and fails the test unless the API accepts it.
func putJSON(t *testing.T, url, body string) {
	t.Helper()
	if st, _, b := send(t, http.MethodPut, url, "", "application/json", "", body); st/100 != 2 {
		t.Fatalf("PUT %s: %d %s", url, st, b)
	}
}

// getState GETs url and returns the status and the resource's
// provisioningState.
func getState(t *testing.T, url string) (int, string) {
	t.Helper()
	st, _, b := send(t, http.MethodGet, url, "", "", "", "")
	var r struct {
		Properties struct {
			ProvisioningState string `json:"provisioningState"`
		} `json:"properties"`
	}
	if st == http.StatusOK {
		if err := json.Unmarshal([]byte(b), &r); err != nil {
			t.Fatalf("GET %s: %v: %s", url, err, b)
		}
	}
	return st, r.Properties.ProvisioningState
}

// waitSucceeded polls url until its provisioningState is Succeeded.
func waitSucceeded(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, ps := getState(t, url)
		if st == http.StatusOK && ps == "Succeeded" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %q, want 200 Succeeded", url, st, ps)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeEtcd runs `serve --provider none --store etcd` against a real
// etcd: a resource group and a VNet created on one server are read back
// on a second server sharing the etcd (and the second's writes on the
// first), then again after both stopped and a third started with a new
// data directory; a server under another prefix of the same etcd sees
// none of it.
//
// Both servers run the API's operation workers; with --provider none an
// operation finishes before its PUT returns, so they do not race here
// (leader election for the reconciler and operations is issue 14's
// next part).
func TestServeEtcd(t *testing.T) {
	etcd := etcdtest.Start(t)
	keyFile := filepath.Join(t.TempDir(), "secrets.key") // shared: both seal and open
	const prefix = "/vpngw/e2e/"
	sub := "/subscriptions/00000000-0000-0000-0000-000000000001"
	rg := sub + "/resourceGroups/rg"
	vnet1 := rg + "/providers/Microsoft.Network/virtualNetworks/v1"
	vnet2 := rg + "/providers/Microsoft.Network/virtualNetworks/v2"
	lng := rg + "/providers/Microsoft.Network/localNetworkGateways/site"

	addr1, stop1 := startNoneStop(t, etcdOptions(t, etcd.Endpoint, prefix, keyFile))
	base1 := "http://" + addr1
	putJSON(t, base1+rg+etcdTestAPI, `{"location":"westeurope"}`)
	putJSON(t, base1+vnet1+etcdTestAPI, `{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["10.1.0.0/16"]}}}`)
	waitSucceeded(t, base1+vnet1+etcdTestAPI)

	// A second server on the same etcd sees the first one's writes, and
	// the first sees the second's.
	addr2, stop2 := startNoneStop(t, etcdOptions(t, etcd.Endpoint, prefix, keyFile))
	base2 := "http://" + addr2
	if st, _ := getState(t, base2+rg+etcdTestAPI); st != http.StatusOK {
		t.Fatalf("server 2: GET resource group: %d", st)
	}
	waitSucceeded(t, base2+vnet1+etcdTestAPI)
	putJSON(t, base2+vnet2+etcdTestAPI, `{"location":"westeurope","properties":{"addressSpace":{"addressPrefixes":["10.2.0.0/16"]}}}`)
	putJSON(t, base2+lng+etcdTestAPI, `{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.1","localNetworkAddressSpace":{"addressPrefixes":["192.168.1.0/24"]}}}`)
	waitSucceeded(t, base1+vnet2+etcdTestAPI)
	waitSucceeded(t, base1+lng+etcdTestAPI)
	st, _, list := send(t, http.MethodGet, base1+rg+"/providers/Microsoft.Network/virtualNetworks"+etcdTestAPI, "", "", "", "")
	if st != http.StatusOK || !strings.Contains(list, "/virtualNetworks/v1") || !strings.Contains(list, "/virtualNetworks/v2") {
		t.Fatalf("server 1: list VNets: %d %s", st, list)
	}
	// An update on one server is the other's next read.
	putJSON(t, base1+vnet2+etcdTestAPI, `{"location":"westeurope","tags":{"changed":"by-1"},"properties":{"addressSpace":{"addressPrefixes":["10.2.0.0/16"]}}}`)
	if _, _, b := send(t, http.MethodGet, base2+vnet2+etcdTestAPI, "", "", "", ""); !strings.Contains(b, `"by-1"`) {
		t.Fatalf("server 2 does not see server 1's update: %s", b)
	}

	// Everything lives in etcd: stop both, start a third with an empty
	// data directory.
	stop1()
	stop2()
	addr3, _ := startNoneStop(t, etcdOptions(t, etcd.Endpoint, prefix, keyFile))
	base3 := "http://" + addr3
	for _, id := range []string{rg, vnet1, vnet2, lng} {
		if st, _ := getState(t, base3+id+etcdTestAPI); st != http.StatusOK {
			t.Fatalf("after restart: GET %s: %d", id, st)
		}
	}

	// Another installation on the same etcd, under its own prefix.
	addr4, _ := startNoneStop(t, etcdOptions(t, etcd.Endpoint, "/vpngw/other/", filepath.Join(t.TempDir(), "other.key")))
	if st, _ := getState(t, "http://"+addr4+rg+etcdTestAPI); st != http.StatusNotFound {
		t.Fatalf("another prefix: GET resource group: %d, want 404", st)
	}
}

// TestCheckStore covers the store flags' validation.
func TestCheckStore(t *testing.T) {
	ok := []StoreOptions{
		{},
		{Kind: StoreBolt},
		{Kind: StoreEtcd, Etcd: EtcdOptions{Endpoints: []string{"http://127.0.0.1:2379"}}},
		{Kind: StoreEtcd, Etcd: EtcdOptions{Endpoints: []string{"https://a:2379", "https://b:2379/"}, Prefix: "/x/", CertFile: "c", KeyFile: "k", CAFile: "ca", Username: "u", Password: "p"}},
	}
	for _, o := range ok {
		if err := CheckStore(o); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	bad := map[string]StoreOptions{
		"--store":          {Kind: "redis"},
		"--etcd-endpoints": {Kind: StoreEtcd},
		"want http://":     {Kind: StoreEtcd, Etcd: EtcdOptions{Endpoints: []string{"127.0.0.1:2379"}}},
		"mix":              {Kind: StoreEtcd, Etcd: EtcdOptions{Endpoints: []string{"http://a:1", "https://b:1"}}},
		"--etcd-prefix":    {Kind: StoreEtcd, Etcd: EtcdOptions{Endpoints: []string{"http://a:1"}, Prefix: "/x"}},
		"go together":      {Kind: StoreEtcd, Etcd: EtcdOptions{Endpoints: []string{"https://a:1"}, CertFile: "c"}},
		"need https://":    {Kind: StoreEtcd, Etcd: EtcdOptions{Endpoints: []string{"http://a:1"}, CAFile: "ca"}},
		"--etcd-username":  {Kind: StoreEtcd, Etcd: EtcdOptions{Endpoints: []string{"http://a:1"}, Password: "p"}},
	}
	for want, o := range bad {
		if err := CheckStore(o); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want an error about %s", o, err, want)
		}
	}
}

// TestServeEtcdTLS runs serve on an etcd that serves https and requires a
// client certificate: --etcd-cacert, --etcd-cert and --etcd-key.
func TestServeEtcdTLS(t *testing.T) {
	etcd := etcdtest.StartWith(t, etcdtest.Config{TLS: true})
	o := etcdOptions(t, etcd.Endpoint, "/vpngw/", filepath.Join(t.TempDir(), "secrets.key"))
	o.Store.Etcd.CAFile, o.Store.Etcd.CertFile, o.Store.Etcd.KeyFile = etcd.TLS.CA, etcd.TLS.ClientCert, etcd.TLS.ClientKey
	base := "http://" + startNone(t, o)
	rg := "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/tls"
	putJSON(t, base+rg+etcdTestAPI, `{"location":"westeurope"}`)
	if st, _ := getState(t, base+rg+etcdTestAPI); st != http.StatusOK {
		t.Fatalf("GET resource group over TLS etcd: %d", st)
	}
}

// TestRotateKeyEtcd runs rotate-key on an etcd store: the key file gets a
// new current key, and a server starts on it and reads what it stored.
func TestRotateKeyEtcd(t *testing.T) {
	etcd := etcdtest.Start(t)
	keyFile := filepath.Join(t.TempDir(), "secrets.key")
	o := etcdOptions(t, etcd.Endpoint, "/vpngw/", keyFile)
	addr, stop := startNoneStop(t, o)
	rg := "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rot"
	putJSON(t, "http://"+addr+rg+etcdTestAPI, `{"location":"westeurope"}`)
	stop()
	before, err := registry.LoadKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := RotateSecretsKey(context.Background(), o.Store, o.DataDir, keyFile, nil); err != nil {
		t.Fatal(err)
	}
	after, err := registry.LoadKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if ids := after.IDs(); len(ids) != 1 || ids[0] == before.IDs()[0] {
		t.Fatalf("key IDs %v after rotating %v", ids, before.IDs())
	}
	addr, _ = startNoneStop(t, etcdOptions(t, etcd.Endpoint, "/vpngw/", keyFile))
	if st, _ := getState(t, "http://"+addr+rg+etcdTestAPI); st != http.StatusOK {
		t.Fatalf("after rotate-key: GET resource group: %d", st)
	}
}
