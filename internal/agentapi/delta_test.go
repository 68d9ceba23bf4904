package agentapi

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// names lists the names of cs, in order.
func names(cs []ConnectionStatus) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.Name)
	}
	return strings.Join(s, " ")
}

func named(tmpl ConnectionStatus, ns ...string) []ConnectionStatus {
	var out []ConnectionStatus
	for _, n := range ns {
		c := tmpl
		c.Name = n
		out = append(out, c)
	}
	return out
}

// TestDeltaApply: a delta replaces, adds and removes entries by name,
// keeps the rest, sorts by name, takes the gateway-wide part whole and
// leaves the base alone.
func TestDeltaApply(t *testing.T) {
	tmpl := populatedStatus().Connections[1]
	base := Status{Name: "gw-0", Connections: named(tmpl, "a", "b", "c"),
		PointToSite: &PointToSiteStatus{Name: "p2s", LeasedAddresses: 2, Clients: named(tmpl, "p/1", "p/2")}}
	changedB := tmpl
	changedB.Name, changedB.Status = "b", Connected
	for _, tc := range []struct {
		name            string
		d               StatusDelta
		conns, clients  string
		noP2S           bool
		leased          int
		bStatus, gwName string
	}{
		{name: "gateway part only", d: StatusDelta{Gateway: Status{Name: "gw-1", PointToSite: &PointToSiteStatus{Name: "p2s", LeasedAddresses: 2}}},
			conns: "a b c", clients: "p/1 p/2", leased: 2, bStatus: tmpl.Status, gwName: "gw-1"},
		{name: "change, add, remove", d: StatusDelta{Gateway: Status{Name: "gw-0", PointToSite: &PointToSiteStatus{LeasedAddresses: 2}},
			Connections: append([]ConnectionStatus{changedB}, named(tmpl, "0", "bb")...), Removed: []string{"c"},
			Clients: named(tmpl, "p/0"), RemovedClients: []string{"p/2"}},
			conns: "0 a b bb", clients: "p/0 p/1", leased: 2, bStatus: Connected, gwName: "gw-0"},
		{name: "point-to-site gone", d: StatusDelta{Gateway: Status{Name: "gw-0"}},
			conns: "a b c", noP2S: true, bStatus: tmpl.Status, gwName: "gw-0"},
		{name: "removing an unknown name", d: StatusDelta{Gateway: Status{Name: "gw-0", PointToSite: &PointToSiteStatus{}}, Removed: []string{"zz"}, RemovedClients: []string{"p/9"}},
			conns: "a b c", clients: "p/1 p/2", bStatus: tmpl.Status, gwName: "gw-0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := json.Marshal(base)
			if err := tc.d.Check(); err != nil {
				t.Fatal(err)
			}
			got := tc.d.Apply(base)
			if after, _ := json.Marshal(base); string(after) != string(before) {
				t.Fatal("Apply modified the base")
			}
			if got.Name != tc.gwName || names(got.Connections) != tc.conns || got.Connections[slices.IndexFunc(got.Connections, func(c ConnectionStatus) bool { return c.Name == "b" })].Status != tc.bStatus {
				t.Fatalf("connections %q (b %+v), gateway %q", names(got.Connections), got.Connections, got.Name)
			}
			if tc.noP2S != (got.PointToSite == nil) {
				t.Fatalf("pointToSite %+v", got.PointToSite)
			}
			if got.PointToSite != nil && (names(got.PointToSite.Clients) != tc.clients || got.PointToSite.LeasedAddresses != tc.leased) {
				t.Fatalf("clients %q, leased %d", names(got.PointToSite.Clients), got.PointToSite.LeasedAddresses)
			}
		})
	}
}

// TestReporterDelta: the Reporter's delta between two versions holds
// exactly the entries that differ.
func TestReporterDelta(t *testing.T) {
	tmpl := populatedStatus().Connections[1]
	was := Status{Name: "gw-0", Connections: named(tmpl, "a", "b", "c", "d")}
	now := Status{Name: "gw-0", Connections: named(tmpl, "b", "c", "d", "e")}
	now.Connections[1].IngressBytes = 5 // c
	r := NewReporter()
	if _, err := r.SetStatus(was); err != nil {
		t.Fatal(err)
	}
	r.acknowledged(reportAnswer{held: r.seq, deltas: true})
	if changed, err := r.SetStatus(now); err != nil || !changed {
		t.Fatal(changed, err)
	}
	d := r.delta()
	var got []string
	for _, c := range d.Connections {
		var cs ConnectionStatus
		if err := json.Unmarshal(c, &cs); err != nil {
			t.Fatal(err)
		}
		got = append(got, cs.Name)
	}
	if strings.Join(got, " ") != "c e" || fmt.Sprint(d.Removed) != "[a]" || len(d.Clients)+len(d.RemovedClients) != 0 {
		t.Fatalf("delta: changed %v, removed %v", got, d.Removed)
	}
}

// FuzzStatusDelta decodes a delta as the control plane does and, when
// Check accepts it, applies it: no panic, and the result's lists are
// sorted by name with no name twice.
func FuzzStatusDelta(f *testing.F) {
	f.Add([]byte(`{"gateway":{"name":"gw","pointToSite":{"name":"p"}},"connections":[{"name":"x"}],"removed":["a"],"clients":[{"name":"p/1"}],"removedClients":["p/2"]}`))
	f.Add([]byte(`{"gateway":{"name":"gw"},"connections":[{"name":"b"},{"name":"a"}]}`))
	base := Status{Connections: named(ConnectionStatus{}, "a", "b", "c"), PointToSite: &PointToSiteStatus{Clients: named(ConnectionStatus{}, "p/1", "p/2")}}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d StatusDelta
		if json.Unmarshal(b, &d) != nil || d.Check() != nil {
			return
		}
		st := d.Apply(base)
		lists := [][]ConnectionStatus{st.Connections}
		if st.PointToSite != nil {
			lists = append(lists, st.PointToSite.Clients)
		}
		for _, l := range lists {
			for i := 1; i < len(l); i++ {
				if l[i-1].Name >= l[i].Name {
					t.Fatalf("not sorted or repeated: %q", names(l))
				}
			}
		}
	})
}
