package agentapi

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/vpngw/vpngw/internal/tunstat"
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

// leafPaths lists the paths (field indices; 0 for a slice's or array's
// first element) to every leaf value under v: strings, numbers, bools and
// the opaque structs time.Time, netip.Addr and netip.AddrPort.
func leafPaths(t *testing.T, v reflect.Value, path []int, out *[][]int) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			t.Fatalf("nil pointer at %v: populate it", path)
		}
		leafPaths(t, v.Elem(), path, out)
	case reflect.Slice, reflect.Array:
		if v.Len() == 0 {
			t.Fatalf("empty list at %v: populate it", path)
		}
		leafPaths(t, v.Index(0), append(slices.Clone(path), 0), out)
	case reflect.Struct:
		switch v.Interface().(type) {
		case time.Time, netip.Addr, netip.AddrPort:
			*out = append(*out, path)
			return
		}
		for i := range v.NumField() {
			leafPaths(t, v.Field(i), append(slices.Clone(path), i), out)
		}
	default:
		*out = append(*out, path)
	}
}

// mutate changes the leaf of v at path.
func mutate(t *testing.T, v reflect.Value, path []int) {
	for _, i := range path {
		for v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		if v.Kind() == reflect.Slice || v.Kind() == reflect.Array {
			v = v.Index(i)
		} else {
			v = v.Field(i)
		}
	}
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	switch x := v.Interface().(type) {
	case time.Time:
		v.Set(reflect.ValueOf(x.Add(time.Nanosecond)))
	case netip.Addr:
		v.Set(reflect.ValueOf(x.Next()))
	case netip.AddrPort:
		v.Set(reflect.ValueOf(netip.AddrPortFrom(x.Addr(), x.Port()+1)))
	default:
		switch v.Kind() {
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Bool:
			v.SetBool(!v.Bool())
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			v.SetInt(v.Int() + 1)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			v.SetUint(v.Uint() + 1)
		default:
			t.Fatalf("leaf of kind %v at %v: teach mutate", v.Kind(), path)
		}
	}
}

// TestEqualEntryCoversEveryField changes each leaf of a fully populated
// entry in turn and checks that equalEntry sees the change (the Reporter
// reuses an entry's encoding when equalEntry says it is unchanged, so a
// field it missed would never reach the control plane).
func TestEqualEntryCoversEveryField(t *testing.T) {
	base := populatedStatus().Connections[0]
	base.Client = &tunstat.ClientStatus{Template: "p2s", User: "alice", VirtualIP: netip.MustParseAddr("172.16.0.2")}
	copyOf := func() ConnectionStatus {
		b, err := json.Marshal(base)
		if err != nil {
			t.Fatal(err)
		}
		var c ConnectionStatus
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := copyOf(); !equalEntry(&c, &base) {
		t.Fatal("a copy is not equal")
	}
	var paths [][]int
	leafPaths(t, reflect.ValueOf(base), nil, &paths)
	if len(paths) < 40 {
		t.Fatalf("only %d leaves found", len(paths))
	}
	for _, p := range paths {
		c := copyOf()
		mutate(t, reflect.ValueOf(&c).Elem(), p)
		if equalEntry(&c, &base) {
			t.Errorf("a change of the leaf at %v went unseen", p)
		}
	}
	// Lists of another length, and pointers set on one side only.
	for _, change := range []func(*ConnectionStatus){
		func(c *ConnectionStatus) { c.IKE = nil },
		func(c *ConnectionStatus) { c.IKE[0].Children = nil },
		func(c *ConnectionStatus) { c.Traffic.SAs = c.Traffic.SAs[:1] },
		func(c *ConnectionStatus) { c.RemotePrefixes = c.RemotePrefixes[:1] },
		func(c *ConnectionStatus) { c.Traffic = nil },
		func(c *ConnectionStatus) { c.Client = nil },
	} {
		c := copyOf()
		change(&c)
		if equalEntry(&c, &base) || equalEntry(&base, &c) {
			t.Error("a shorter list or a nil pointer went unseen")
		}
	}
}

// TestReporterReusesUnchanged: a status build that changed one client
// re-encodes that client only, also when clients were added and removed
// before it (an instance lists them sorted by name), and the Reporter's
// encoding of the others is still what json.Marshal makes of them.
func TestReporterReusesUnchanged(t *testing.T) {
	sorted := func(st Status) Status {
		slices.SortFunc(st.PointToSite.Clients, func(a, b ConnectionStatus) int { return strings.Compare(a.Name, b.Name) })
		return st
	}
	r := NewReporter()
	if _, err := r.SetStatus(sorted(scaleStatus(100))); err != nil {
		t.Fatal(err)
	}
	// reused counts the entries whose encoding is the previous build's.
	reused := func(set Status) int {
		t.Helper()
		old := map[string]*byte{}
		for name, e := range r.cur.clients {
			old[name] = &e.json[0]
		}
		if changed, err := r.SetStatus(set); err != nil || !changed {
			t.Fatal(changed, err)
		}
		n := 0
		if len(r.cur.clients) != len(set.PointToSite.Clients) {
			t.Fatalf("%d clients held, want %d", len(r.cur.clients), len(set.PointToSite.Clients))
		}
		for name, e := range r.cur.clients {
			if old[name] == &e.json[0] {
				n++
			}
			want, _ := json.Marshal(&set.PointToSite.Clients[slices.IndexFunc(set.PointToSite.Clients, func(c ConnectionStatus) bool { return c.Name == name })])
			if string(e.json) != string(want) {
				t.Fatalf("client %s: encoding %s, want %s", name, e.json, want)
			}
		}
		return n
	}
	next := sorted(scaleStatus(100))
	next.PointToSite.Clients[70].EgressBytes++
	if n := reused(next); n != 99 {
		t.Fatalf("%d of 100 encodings reused, want 99", n)
	}
	// A client added before all the others, one removed, one changed.
	third := next
	p := *next.PointToSite
	added := p.Clients[0]
	added.Name = "p2s/aaa/172.16.255.1"
	p.Clients = append([]ConnectionStatus{added}, slices.Delete(slices.Clone(p.Clients), 50, 51)...)
	p.Clients[80].IngressBytes++
	third.PointToSite = &p
	if n := reused(third); n != 98 {
		t.Fatalf("after an insertion and a removal: %d of 100 encodings reused, want 98 (all but the new client and the changed one)", n)
	}
}

// TestReporterUpdateWorkPerChange checks that Update's work is the
// changes', whatever the number of clients held: one client's change
// compares and encodes that client, and the next delta carries it alone.
func TestReporterUpdateWorkPerChange(t *testing.T) {
	for _, n := range []int{10, 1000} {
		st := scaleStatus(n)
		r := NewReporter()
		if _, err := r.SetStatus(st); err != nil {
			t.Fatal(err)
		}
		r.acknowledged(reportAnswer{held: r.seq, deltas: true})
		gw := st
		gw.Connections, gw.PointToSite = nil, &PointToSiteStatus{Name: st.PointToSite.Name, AddressPool: st.PointToSite.AddressPool, PoolSize: st.PointToSite.PoolSize, LeasedAddresses: n}

		// Unchanged: no new version.
		same := st.PointToSite.Clients[n/2]
		r.work = 0
		if changed, err := r.Update(gw, nil, nil, []ConnectionStatus{same}, []string{"p2s/nobody"}); err != nil || changed {
			t.Fatalf("n=%d: an unchanged client and an unknown removal: changed %v, %v", n, changed, err)
		}

		moved := same
		moved.State = "connecting"
		gone := st.PointToSite.Clients[0].Name
		if changed, err := r.Update(gw, nil, nil, []ConnectionStatus{moved}, []string{gone}); err != nil || !changed {
			t.Fatalf("n=%d: changed %v, %v", n, changed, err)
		}
		if r.work != 4 {
			t.Errorf("n=%d: %d entries visited for 2 + 2 given, want 4", n, r.work)
		}
		d := r.delta()
		if len(d.Clients) != 1 || !strings.Contains(string(d.Clients[0]), moved.Name) || fmt.Sprint(d.RemovedClients) != "["+gone+"]" || len(d.Connections)+len(d.Removed) != 0 {
			t.Fatalf("n=%d: delta %d clients, removed %v, connections %d/%d", n, len(d.Clients), d.RemovedClients, len(d.Connections), len(d.Removed))
		}
		// The full status is the base with the change applied.
		full := r.Status()
		want := d.apply(t, st)
		if !reflect.DeepEqual(names(full.PointToSite.Clients), names(want.PointToSite.Clients)) || len(full.PointToSite.Clients) != n-1 {
			t.Fatalf("n=%d: full status has %d clients, the delta applied %d", n, len(full.PointToSite.Clients), len(want.PointToSite.Clients))
		}
		// Acknowledged, the next delta is empty but for the gateway part,
		// and no entry keeps its encoding (a full status is encoded from
		// the statuses).
		r.acknowledged(reportAnswer{held: r.seq, deltas: true})
		if d := r.delta(); len(d.Clients)+len(d.RemovedClients)+len(d.Connections)+len(d.Removed) != 0 {
			t.Fatalf("n=%d: delta after the acknowledgement not empty", n)
		}
		if k := encoded(r); k != 0 {
			t.Fatalf("n=%d: %d entries keep their JSON after the acknowledgement", n, k)
		}
		// The next change is encoded for its delta, alone.
		moved.State = "established"
		if changed, err := r.Update(gw, nil, nil, []ConnectionStatus{moved}, nil); err != nil || !changed {
			t.Fatalf("n=%d: changed %v, %v", n, changed, err)
		}
		if d := r.delta(); len(d.Clients) != 1 || !strings.Contains(string(d.Clients[0]), `"established"`) || encoded(r) != 1 {
			t.Fatalf("n=%d: after a change, delta of %d clients, %d entries encoded", n, len(d.Clients), encoded(r))
		}
	}
}

// apply decodes d as the control plane does and applies it to base.
func (d *wireDelta) apply(t *testing.T, base Status) Status {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var sd StatusDelta
	if err := json.Unmarshal(b, &sd); err != nil {
		t.Fatal(err)
	}
	if err := sd.Check(); err != nil {
		t.Fatal(err)
	}
	return sd.Apply(base)
}

// TestApplyOwned checks the in-place merge against Apply on random
// deltas Check accepts (changes, additions, removals, unknown removals,
// the point-to-site part gone), on sorted client lists and on unsorted
// ones (merged as Apply does, unless the delta changes no client: then
// the list stays as it was).
func TestApplyOwned(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	name := func() string { return fmt.Sprintf("p/%02d", rng.IntN(40)) }
	entry := func(n, status string) ConnectionStatus {
		return ConnectionStatus{PeerStatus: tunstat.PeerStatus{Name: n}, Status: status}
	}
	same := func(a, b ConnectionStatus) bool { return a.Name == b.Name && a.Status == b.Status }
	for round := range 3000 {
		seen := map[string]bool{}
		var clients []ConnectionStatus
		for range rng.IntN(30) {
			if n := name(); !seen[n] {
				seen[n] = true
				clients = append(clients, entry(n, "base"))
			}
		}
		if rng.IntN(5) > 0 {
			slices.SortFunc(clients, func(a, b ConnectionStatus) int { return strings.Compare(a.Name, b.Name) })
		}
		base := Status{Name: "gw", Connections: named(ConnectionStatus{}, "a", "b"), PointToSite: &PointToSiteStatus{Name: "p2s", Clients: clients}}
		used := map[string]bool{}
		d := StatusDelta{Gateway: Status{Name: "gw", PointToSite: &PointToSiteStatus{Name: "p2s", LeasedAddresses: round}}, Removed: []string{"a"}}
		for i := range rng.IntN(6) {
			if n := name(); !used[n] {
				used[n] = true
				d.Clients = append(d.Clients, entry(n, fmt.Sprint("changed", i)))
			}
		}
		for range rng.IntN(6) {
			if n := name(); !used[n] {
				used[n] = true
				d.RemovedClients = append(d.RemovedClients, n)
			}
		}
		if rng.IntN(10) == 0 {
			d.Gateway.PointToSite, d.Clients, d.RemovedClients = nil, nil, nil
		}
		if err := d.Check(); err != nil {
			t.Fatal(err)
		}
		want := d.Apply(base)
		got := d.ApplyOwned(base) // base's clients are not read after this
		if (got.PointToSite == nil) != (want.PointToSite == nil) || names(got.Connections) != names(want.Connections) {
			t.Fatalf("round %d: pointToSite %v / %v, connections %q / %q", round, got.PointToSite, want.PointToSite, names(got.Connections), names(want.Connections))
		}
		if got.PointToSite == nil {
			continue
		}
		untouched := len(d.Clients)+len(d.RemovedClients) == 0
		if untouched {
			want.PointToSite.Clients = clients // no client changed: the list as it was, unsorted or not
		}
		if got.PointToSite.LeasedAddresses != round || !slices.EqualFunc(got.PointToSite.Clients, want.PointToSite.Clients, same) {
			t.Fatalf("round %d: clients\n got %q\nwant %q", round, names(got.PointToSite.Clients), names(want.PointToSite.Clients))
		}
		if !untouched && !SortedByName(got.PointToSite.Clients) {
			t.Fatalf("round %d: result not sorted: %q", round, names(got.PointToSite.Clients))
		}
	}
}

// encoded counts the entries r holds with their JSON.
func encoded(r *Reporter) int {
	k := 0
	for _, m := range []map[string]entry{r.cur.conns, r.cur.clients} {
		for _, e := range m {
			if e.json != nil {
				k++
			}
		}
	}
	return k
}

// TestReporterDoesNotPinCallersCounters: the agent hands each build's
// traffic counters to the Reporter in one allocation for all entries
// (agent.addTraffic). An entry the Reporter keeps must not keep that
// allocation alive: on a gateway where one client's counters move per
// build and the others' stay put, every build's whole allocation would
// otherwise stay in memory, growing without bound.
func TestReporterDoesNotPinCallersCounters(t *testing.T) {
	const n, builds = 2000, 100
	base := scaleStatus(n)
	build := func(k int) Status {
		st := base
		p := *base.PointToSite
		p.Clients = slices.Clone(p.Clients)
		counters := make([]tunstat.TunnelStats, n) // one allocation, as the agent's
		for i := range p.Clients {
			counters[i] = *p.Clients[i].Traffic
			p.Clients[i].Traffic = &counters[i]
		}
		if k > 0 {
			counters[k].RxBytes += uint64(k) // one client's traffic
		}
		st.PointToSite = &p
		return st
	}
	r := NewReporter()
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	if _, err := r.SetStatus(build(0)); err != nil {
		t.Fatal(err)
	}
	before := heap()
	for k := 1; k <= builds; k++ {
		if changed, err := r.SetStatus(build(k)); err != nil || !changed {
			t.Fatalf("build %d: changed %v, %v", k, changed, err)
		}
	}
	grown := int64(heap()) - int64(before)
	perBuild := int64(n) * int64(unsafe.Sizeof(tunstat.TunnelStats{}))
	t.Logf("heap grew %d kB over %d builds (one build's counters: %d kB)", grown>>10, builds, perBuild>>10)
	if grown > 10*perBuild {
		t.Fatalf("heap grew %d kB over %d builds of one changed client each: the Reporter keeps the callers' counters alive (%d kB a build)", grown>>10, builds, perBuild>>10)
	}
	runtime.KeepAlive(r)
}

// TestApplyOwnedGatewayOnly: a delta of the gateway-wide part alone (an
// idle gateway's counters, every few seconds) takes the new gateway part
// and leaves the hub's client list as it is, untouched: no work per
// client held.
func TestApplyOwnedGatewayOnly(t *testing.T) {
	base := scaleStatus(3)
	slices.SortFunc(base.PointToSite.Clients, func(a, b ConnectionStatus) int { return strings.Compare(a.Name, b.Name) })
	want := names(base.PointToSite.Clients)
	gw := Status{Name: base.Name, PointToSite: &PointToSiteStatus{Name: "p2s", LeasedAddresses: 7}}
	d := StatusDelta{Gateway: gw}
	got := d.ApplyOwned(base)
	if got.PointToSite.LeasedAddresses != 7 || names(got.PointToSite.Clients) != want {
		t.Fatalf("leased %d, clients %q; want 7, %q", got.PointToSite.LeasedAddresses, names(got.PointToSite.Clients), want)
	}
	if &got.PointToSite.Clients[0] != &base.PointToSite.Clients[0] {
		t.Fatal("the client list was rebuilt for a delta that changes no client")
	}
}
