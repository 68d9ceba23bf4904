package server

import (
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vpngw/vpngw/internal/tstest/etcdtest"
)

// BenchmarkAPIWrite measures the API's write latency (ns/op: one PUT of a
// new local network gateway, answered 201 once committed) and throughput
// (writes/s) on bbolt and on etcd in the same run, with one client and
// with eight, and on etcd through one replica and alternately through two
// (the shared writer lock's cost). A benchmark, not a test (make
// bench-store; docs/ha.md):
//
//	flock /tmp/vpngw-heavy.lock go test -run '^$' -bench BenchmarkAPIWrite -benchtime 3s ./internal/server/
func BenchmarkAPIWrite(b *testing.B) {
	etcd := etcdtest.Start(b)
	keyFile := filepath.Join(b.TempDir(), "secrets.key")
	type setup struct {
		name  string
		bases []string
	}
	// The etcd replicas start first: only the first bootstraps an
	// administrator, and the second signs in with that one's credential
	// (adminToken remembers the first credential it reads per test).
	etcdBases := startEtcdReplicas(b, etcd.Endpoint, "/vpngw/bench/", 2)
	bolt, stopBolt := startNoneStop(b, Options{SecretsKeyFile: keyFile})
	defer stopBolt()
	setups := []setup{{"bolt", []string{"http://" + bolt}},
		{"etcd-1-replica", etcdBases[:1]}, {"etcd-2-replicas", etcdBases}}
	var seq atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for i, s := range setups {
		rg := fmt.Sprintf("%s/resourceGroups/bench%d", haSub, i)
		for _, base := range s.bases {
			put(b, client, base+rg+etcdTestAPI, `{"location":"westeurope"}`)
		}
		write := func(b *testing.B) {
			n := seq.Add(1)
			base := s.bases[int(n)%len(s.bases)]
			put(b, client, base+rg+"/providers/Microsoft.Network/localNetworkGateways/"+fmt.Sprintf("l%d", n)+etcdTestAPI,
				`{"location":"westeurope","properties":{"gatewayIpAddress":"192.0.2.1","localNetworkAddressSpace":{"addressPrefixes":["192.168.1.0/24"]}}}`)
		}
		for _, clients := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/clients=%d", s.name, clients), func(b *testing.B) {
				if clients == 1 {
					for b.Loop() {
						write(b)
					}
				} else {
					b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							write(b)
						}
					})
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
			})
		}
	}
}

// put PUTs body and fails the benchmark unless it is accepted.
func put(b *testing.B, c *http.Client, url, body string) {
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if tok, ok := serverTokens.Load(req.URL.Host); ok { // runNone signed in
		req.Header.Set("Authorization", "Bearer "+tok.(string))
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b.Errorf("PUT %s: %d", url, resp.StatusCode)
	}
}
