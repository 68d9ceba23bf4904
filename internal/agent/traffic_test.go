package agent

import (
	"fmt"
	"slices"
	"testing"

	"github.com/vpngw/vpngw/internal/tunstat"
)

// TestAddTraffic checks how a status build fills in traffic counters: all
// read without an earlier snapshot; with one (StatusKeepTraffic, remote
// mode's builds between counter refreshes), an entry the snapshot has
// with counters keeps them (the same pointer, no read) and only the
// others are read.
func TestAddTraffic(t *testing.T) {
	stats := func(name string, rx uint64) *tunstat.TunnelStats {
		return &tunstat.TunnelStats{ID: name, RxBytes: rx, TxBytes: rx + 1}
	}
	entries := func(names ...string) []ConnectionStatus {
		cs := make([]ConnectionStatus, len(names))
		for i, n := range names {
			cs[i].Name = n
		}
		return cs
	}
	// prevOf is an earlier snapshot: each name with counters rx = 100
	// (a name ending in "!" has none).
	prevOf := func(names ...string) []ConnectionStatus {
		cs := entries(names...)
		for i := range cs {
			if n := cs[i].Name; n[len(n)-1] != '!' {
				cs[i].Traffic = stats(n, 100)
				cs[i].IngressBytes, cs[i].EgressBytes = 100, 101
			} else {
				cs[i].Name = n[:len(n)-1]
			}
		}
		return cs
	}
	tests := []struct {
		name      string
		cs        []string
		prev      []ConnectionStatus
		noTunnel  []string // names the data plane has no tunnel for
		wantReads []string
		wantKept  []string // names whose counters are prev's
	}{
		{name: "no snapshot: all read", cs: []string{"a", "b", "c"}, wantReads: []string{"a", "b", "c"}},
		{name: "unchanged set: none read", cs: []string{"a", "b", "c"}, prev: prevOf("a", "b", "c"), wantKept: []string{"a", "b", "c"}},
		{name: "added entries read", cs: []string{"a", "b", "c", "d", "e"}, prev: prevOf("b", "d"), wantReads: []string{"a", "c", "e"}, wantKept: []string{"b", "d"}},
		{name: "removed entries ignored", cs: []string{"b"}, prev: prevOf("a", "b", "c"), wantKept: []string{"b"}},
		{name: "no counters in the snapshot: read", cs: []string{"a", "b"}, prev: prevOf("a!", "b"), wantReads: []string{"a"}, wantKept: []string{"b"}},
		{name: "no tunnel: no counters", cs: []string{"a", "b", "c"}, prev: prevOf("b"), noTunnel: []string{"c"}, wantReads: []string{"a", "c"}, wantKept: []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := entries(tt.cs...)
			var reads []string
			addTraffic(cs, tt.prev, func(name string) (tunstat.TunnelStats, bool) {
				reads = append(reads, name)
				if slices.Contains(tt.noTunnel, name) {
					return tunstat.TunnelStats{}, false
				}
				return *stats(name, uint64(len(name)*1000)), true
			})
			if !slices.Equal(reads, tt.wantReads) {
				t.Errorf("read %v, want %v", reads, tt.wantReads)
			}
			for _, c := range cs {
				switch {
				case slices.Contains(tt.noTunnel, c.Name):
					if c.Traffic != nil || c.IngressBytes != 0 {
						t.Errorf("%s: counters %+v without a tunnel", c.Name, c.Traffic)
					}
				case slices.Contains(tt.wantKept, c.Name):
					i := slices.IndexFunc(tt.prev, func(p ConnectionStatus) bool { return p.Name == c.Name })
					if c.Traffic != tt.prev[i].Traffic || c.IngressBytes != 100 || c.EgressBytes != 101 {
						t.Errorf("%s: counters %+v (%d/%d), want the snapshot's", c.Name, c.Traffic, c.IngressBytes, c.EgressBytes)
					}
				default:
					want := uint64(len(c.Name) * 1000)
					if c.Traffic == nil || c.Traffic.ID != c.Name || c.Traffic.RxBytes != want || c.IngressBytes != want || c.EgressBytes != want+1 {
						t.Errorf("%s: counters %+v (%d/%d), want read ones", c.Name, c.Traffic, c.IngressBytes, c.EgressBytes)
					}
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
		addTraffic(cs, nil, read)
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
