package agent

import (
	"fmt"
	"slices"
	"testing"

	"github.com/vpngw/vpngw/internal/tunstat"
)

// TestAddTraffic checks how a status build fills in traffic counters:
// each entry's are read, and an entry without a tunnel has none.
func TestAddTraffic(t *testing.T) {
	tests := []struct {
		name     string
		cs       []string
		noTunnel []string // names the data plane has no tunnel for
	}{
		{name: "none", cs: nil},
		{name: "all read", cs: []string{"a", "b", "c"}},
		{name: "no tunnel: no counters", cs: []string{"a", "b", "c"}, noTunnel: []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := make([]ConnectionStatus, len(tt.cs))
			for i, n := range tt.cs {
				cs[i].Name = n
			}
			var reads []string
			addTraffic(cs, func(name string) (tunstat.TunnelStats, bool) {
				reads = append(reads, name)
				if slices.Contains(tt.noTunnel, name) {
					return tunstat.TunnelStats{}, false
				}
				return tunstat.TunnelStats{ID: name, RxBytes: uint64(len(name) * 1000), TxBytes: uint64(len(name)*1000 + 1)}, true
			})
			if !slices.Equal(reads, tt.cs) {
				t.Errorf("read %v, want %v", reads, tt.cs)
			}
			for _, c := range cs {
				if slices.Contains(tt.noTunnel, c.Name) {
					if c.Traffic != nil || c.IngressBytes != 0 {
						t.Errorf("%s: counters %+v without a tunnel", c.Name, c.Traffic)
					}
					continue
				}
				want := uint64(len(c.Name) * 1000)
				if c.Traffic == nil || c.Traffic.ID != c.Name || c.Traffic.RxBytes != want || c.IngressBytes != want || c.EgressBytes != want+1 {
					t.Errorf("%s: counters %+v (%d/%d), want read ones", c.Name, c.Traffic, c.IngressBytes, c.EgressBytes)
				}
			}
		})
	}
}

// TestAddTrafficOneAllocation checks that the counters read in one build
// share one allocation (a status of 10,000 clients used to allocate
// 10,000 of them).
func TestAddTrafficOneAllocation(t *testing.T) {
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("c%04d", i)
	}
	cs := make([]ConnectionStatus, len(names))
	read := func(name string) (tunstat.TunnelStats, bool) { return tunstat.TunnelStats{ID: name}, true }
	allocs := testing.AllocsPerRun(10, func() {
		for i := range cs {
			cs[i] = ConnectionStatus{}
			cs[i].Name = names[i]
		}
		addTraffic(cs, read)
	})
	if allocs > 1 {
		t.Errorf("%v allocations for 1,000 tunnels' counters, want 1", allocs)
	}
	for i := range cs {
		if cs[i].Traffic == nil || cs[i].Traffic.ID != names[i] {
			t.Fatalf("entry %d: counters %+v", i, cs[i].Traffic)
		}
	}
}
