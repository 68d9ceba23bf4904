package agentapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vpngw/vpngw/internal/tunstat"
)

// Reporter is an instance's side of versioned reports (see the package
// comment): it numbers the statuses it is given, sends a bare heartbeat to
// a server that holds the current one, a delta to one that holds an
// earlier one and takes deltas, and the full status otherwise. It is not
// safe for concurrent use (one routine reports).
type Reporter struct {
	// seq is the version of cur; 0 before the first status.
	seq uint64
	// cur is the current status, encoded per entry.
	cur encodedStatus
	// full is cur's full Status JSON, encoded when needed and kept until
	// a server acknowledged it (nil: not encoded, or acknowledged).
	full []byte
	// holder is the server known to hold version ackedSeq (nil: none
	// known, the next report carries the full status); deltas says it
	// takes deltas.
	holder   *Client
	ackedSeq uint64
	deltas   bool
	// dirtyConns and dirtyClients name the entries added, changed or
	// removed since version ackedSeq: what the next delta carries (an
	// entry cur holds goes as its JSON, one it lacks as a removal).
	dirtyConns, dirtyClients map[string]struct{}
	// now is the clock (time.Now), which seeds the first version.
	now func() time.Time
	// hb is the last bare heartbeat's encoding, for hbRev, hbErr and
	// hbSeq: an idle instance sends the same one every ReportEvery.
	hb    []byte
	hbRev int64
	hbErr string
	hbSeq uint64
	// work counts the entries compared, encoded or removed by SetStatus
	// and Update (for tests of the work per change).
	work uint64
}

// encodedStatus is a Status held in parts, each with its JSON: what a
// delta is made of. Entries are kept by name, so that a change costs work
// proportional to the entries it touches (Update), not to the status.
type encodedStatus struct {
	// gw is the gateway-wide part: the status without its connections
	// and clients (StatusDelta.Gateway); gateway is its JSON.
	gw      Status
	gateway []byte
	// conns and clients are the connections and clients by name.
	conns, clients map[string]entry
	// raw is a status given to SetStatus with a list naming an entry
	// twice (or not at all), which no delta can express: it goes out in
	// full, as given, until the next SetStatus or Update (nil: none).
	raw *Status
}

// entry is one connection's or client's status and, while a delta may
// carry it (its name is in a dirty set), its JSON; nil once the holder
// acknowledged it (a full status is encoded from the statuses), so that
// an instance does not keep its whole status twice, as values and as
// JSON (~1.6 kB per point-to-site client).
type entry struct {
	cs   ConnectionStatus
	json []byte
}

// SendKind is what Send sent.
type SendKind int

// What Send sent.
const (
	// SentHeartbeat is a bare heartbeat: the server holds the current
	// status.
	SentHeartbeat SendKind = iota
	// SentDelta is the current status as a delta from the version the
	// server held.
	SentDelta
	// SentFull is the full status.
	SentFull
)

func (k SendKind) String() string {
	return [...]string{"heartbeat", "delta", "full"}[k]
}

// NewReporter returns a Reporter whose first version follows the clock,
// so that a restarted instance never reuses a version of its previous
// run.
func NewReporter() *Reporter { return &Reporter{now: time.Now} }

// SetStatus makes st the current status; the Reporter keeps it, and the
// caller must not modify it (or anything it points to) afterwards: a
// changed status is a new one. It reports whether st differs
// from the previous one (a new version); an equal status keeps its
// version, so that the next Send is a heartbeat. The work is a comparison
// of every entry with the previous status's entry of the same name and
// the JSON encoding of the entries that differ and of the gateway-wide
// part; Update does the same for a known set of changes.
func (r *Reporter) SetStatus(st Status) (bool, error) {
	var clients []ConnectionStatus
	if st.PointToSite != nil {
		clients = st.PointToSite.Clients
	}
	var raw *Status
	if dupNames(st.Connections) || dupNames(clients) {
		raw = &st
	}
	removed := func(m map[string]entry, now []ConnectionStatus) []string {
		if len(m) == 0 {
			return nil
		}
		keep := make(map[string]struct{}, len(now))
		for i := range now {
			keep[now[i].Name] = struct{}{}
		}
		var out []string
		for name := range m {
			if _, ok := keep[name]; !ok {
				out = append(out, name)
			}
		}
		return out
	}
	return r.update(st, st.Connections, removed(r.cur.conns, st.Connections), clients, removed(r.cur.clients, clients), raw)
}

// Update changes the current status by a known set of changes: gw is the
// new gateway-wide part (its connection and client lists are ignored),
// conns and clients the connections and clients added or changed, and
// removed and removedClients the names of those gone (a name the status
// lacks is ignored). It reports whether the status changed (a new
// version), as SetStatus. The work is proportional to the entries given,
// not to the entries held: an instance with 10,000 clients reports one
// client's rekey by comparing and encoding that client. The Reporter
// keeps the entries; the caller must not modify them afterwards.
func (r *Reporter) Update(gw Status, conns []ConnectionStatus, removed []string, clients []ConnectionStatus, removedClients []string) (bool, error) {
	if dupNames(conns) || dupNames(clients) {
		return false, fmt.Errorf("agentapi: status update names an entry twice or not at all")
	}
	return r.update(gw, conns, removed, clients, removedClients, nil)
}

// update is SetStatus and Update; raw is SetStatus's status when it
// names an entry twice (see encodedStatus.raw).
func (r *Reporter) update(gw Status, conns []ConnectionStatus, removed []string, clients []ConnectionStatus, removedClients []string, raw *Status) (bool, error) {
	gw.Connections = nil
	if gw.PointToSite != nil {
		p := *gw.PointToSite
		p.Clients = nil
		gw.PointToSite = &p
	}
	gwJSON, err := json.Marshal(gw)
	if err != nil {
		return false, err
	}
	// Encode first: an entry that cannot be encoded changes nothing.
	type change struct {
		m     *map[string]entry
		dirty *map[string]struct{}
		e     entry
	}
	var changes []change
	for _, l := range []struct {
		m     *map[string]entry
		dirty *map[string]struct{}
		cs    []ConnectionStatus
	}{{&r.cur.conns, &r.dirtyConns, conns}, {&r.cur.clients, &r.dirtyClients, clients}} {
		for i := range l.cs {
			c := &l.cs[i]
			r.work++
			if old, ok := (*l.m)[c.Name]; ok && equalEntry(c, &old.cs) {
				continue
			}
			b, err := json.Marshal(c)
			if err != nil {
				return false, err
			}
			e := entry{*c, b}
			if c.Traffic != nil {
				// Its own copy: the callers' entries share one
				// allocation of counters per build (agent.addTraffic),
				// which an entry kept for long would keep alive whole.
				tr := *c.Traffic
				e.cs.Traffic = &tr
			}
			changes = append(changes, change{l.m, l.dirty, e})
		}
	}
	changed := raw != nil || r.cur.raw != nil || !bytes.Equal(gwJSON, r.cur.gateway)
	r.cur.gw, r.cur.gateway, r.cur.raw = gw, gwJSON, raw
	for _, c := range changes {
		put(c.m, c.e.cs.Name, c.e)
		mark(c.dirty, c.e.cs.Name)
		changed = true
	}
	for _, l := range []struct {
		m     map[string]entry
		dirty *map[string]struct{}
		names []string
	}{{r.cur.conns, &r.dirtyConns, removed}, {r.cur.clients, &r.dirtyClients, removedClients}} {
		for _, name := range l.names {
			r.work++
			if _, ok := l.m[name]; ok {
				delete(l.m, name)
				mark(l.dirty, name)
				changed = true
			}
		}
	}
	if r.seq != 0 && !changed {
		return false, nil
	}
	r.full = nil
	r.seq = max(r.seq+1, uint64(r.now().UnixNano()))
	return true, nil
}

func put(m *map[string]entry, name string, e entry) {
	if *m == nil {
		*m = map[string]entry{}
	}
	(*m)[name] = e
}

func mark(m *map[string]struct{}, name string) {
	if *m == nil {
		*m = map[string]struct{}{}
	}
	(*m)[name] = struct{}{}
}

// dupNames reports whether cs names an entry twice or not at all.
func dupNames(cs []ConnectionStatus) bool {
	seen := make(map[string]struct{}, len(cs))
	for i := range cs {
		if _, ok := seen[cs[i].Name]; ok || cs[i].Name == "" {
			return true
		}
		seen[cs[i].Name] = struct{}{}
	}
	return false
}

// Status returns the current status, its lists sorted by name: what a
// full report carries. It costs work proportional to the status.
func (r *Reporter) Status() Status {
	if r.cur.raw != nil {
		return *r.cur.raw
	}
	st := r.cur.gw
	st.Connections = sortedEntries(r.cur.conns)
	if st.PointToSite != nil {
		p := *st.PointToSite
		p.Clients = sortedEntries(r.cur.clients)
		st.PointToSite = &p
	}
	return st
}

func sortedEntries(m map[string]entry) []ConnectionStatus {
	if len(m) == 0 {
		return nil
	}
	out := make([]ConnectionStatus, 0, len(m))
	for _, e := range m {
		out = append(out, e.cs)
	}
	slices.SortFunc(out, func(a, b ConnectionStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Seq is the current status version (0: none yet).
func (r *Reporter) Seq() uint64 { return r.seq }

// wireReport is a Report with its status already encoded.
type wireReport struct {
	Revision  int64           `json:"revision"`
	Error     string          `json:"error,omitempty"`
	StatusSeq uint64          `json:"statusSeq,omitempty"`
	Unchanged bool            `json:"unchanged,omitempty"`
	Status    json.RawMessage `json:"status,omitempty"`
	BaseSeq   uint64          `json:"baseSeq,omitempty"`
	Delta     *wireDelta      `json:"delta,omitempty"`
}

// wireDelta is a StatusDelta with its parts already encoded.
type wireDelta struct {
	Gateway        json.RawMessage   `json:"gateway"`
	Connections    []json.RawMessage `json:"connections,omitempty"`
	Removed        []string          `json:"removed,omitempty"`
	Clients        []json.RawMessage `json:"clients,omitempty"`
	RemovedClients []string          `json:"removedClients,omitempty"`
}

// Send reports the assignment revision and error with the current status
// (SetStatus) to c: as a heartbeat when c holds the current version, as a
// delta when it holds an earlier one and takes deltas, or else in full. A
// heartbeat or delta c cannot match (it restarted, or lost the instance)
// is followed at once by the full status. It reports what went out last.
func (r *Reporter) Send(ctx context.Context, c *Client, revision int64, applyErr string) (SendKind, error) {
	w := wireReport{Revision: revision, Error: applyErr, StatusSeq: r.seq}
	if r.holder == c && r.seq != 0 && (r.ackedSeq == r.seq || r.deltas && r.cur.raw == nil) {
		kind := SentHeartbeat
		if r.ackedSeq == r.seq {
			w.Unchanged = true
		} else {
			kind, w.BaseSeq, w.Delta = SentDelta, r.ackedSeq, r.delta()
		}
		a, err := r.put(ctx, c, w)
		if err == nil && a.held == r.seq {
			r.acknowledged(a)
			return kind, nil
		}
		if err != nil && !errors.Is(err, ErrStatusNeeded) {
			return kind, err
		}
		r.holder = nil
		w.Unchanged, w.BaseSeq, w.Delta = false, 0, nil
	}
	if r.full == nil {
		b, err := json.Marshal(r.Status())
		if err != nil {
			return SentFull, err
		}
		r.full = b
	}
	w.Status = r.full
	a, err := r.put(ctx, c, w)
	if err != nil {
		return SentFull, err
	}
	r.holder = nil
	if a.held == r.seq && r.seq != 0 {
		r.holder = c
		r.acknowledged(a)
		r.full = nil // held by c: not needed again unless c loses it
	}
	return SentFull, nil
}

// acknowledged records that the holder holds the current version: the
// entries changed since the last acknowledgement lose their JSON, which
// no delta needs any more (work proportional to those entries).
func (r *Reporter) acknowledged(a reportAnswer) {
	r.ackedSeq, r.deltas = r.seq, a.deltas
	dropJSON(r.dirtyConns, r.cur.conns)
	dropJSON(r.dirtyClients, r.cur.clients)
	r.dirtyConns, r.dirtyClients = emptied(r.dirtyConns), emptied(r.dirtyClients)
}

// dropJSON forgets the JSON of the entries of m named in dirty.
func dropJSON(dirty map[string]struct{}, m map[string]entry) {
	for name := range dirty {
		if e, ok := m[name]; ok && e.json != nil {
			e.json = nil
			m[name] = e
		}
	}
}

// emptied returns m emptied; a map that grew large (a full status's
// worth of changes) is dropped rather than cleared, since clearing and
// iterating a map costs its largest size.
func emptied(m map[string]struct{}) map[string]struct{} {
	if len(m) > 64 {
		return nil
	}
	clear(m)
	return m
}

// delta is the current status as changes from the acknowledged one: the
// entries marked dirty since, sorted by name.
func (r *Reporter) delta() *wireDelta {
	d := &wireDelta{Gateway: r.cur.gateway}
	d.Connections, d.Removed = dirtyEntries(r.dirtyConns, r.cur.conns)
	if r.cur.gw.PointToSite != nil { // without it the clients are gone with it
		d.Clients, d.RemovedClients = dirtyEntries(r.dirtyClients, r.cur.clients)
	}
	return d
}

// dirtyEntries returns the JSON of the entries named in dirty that m
// holds and the names of those it does not, each sorted by name.
func dirtyEntries(dirty map[string]struct{}, m map[string]entry) (changed []json.RawMessage, removed []string) {
	names := make([]string, 0, len(dirty))
	for name := range dirty {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if e, ok := m[name]; ok {
			changed = append(changed, e.json)
		} else {
			removed = append(removed, name)
		}
	}
	return changed, removed
}

func (r *Reporter) put(ctx context.Context, c *Client, w wireReport) (reportAnswer, error) {
	heartbeat := w.Unchanged && w.Status == nil && w.Delta == nil
	if heartbeat && r.hb != nil && r.hbRev == w.Revision && r.hbErr == w.Error && r.hbSeq == w.StatusSeq {
		return c.putReport(ctx, r.hb)
	}
	b, err := json.Marshal(w)
	if err != nil {
		return reportAnswer{}, err
	}
	if heartbeat {
		r.hb, r.hbRev, r.hbErr, r.hbSeq = b, w.Revision, w.Error, w.StatusSeq
	}
	return c.putReport(ctx, b)
}

// equalEntry reports whether a and b are equal in every field (times to
// the bit, as ==), so that they encode the same. It compares without
// reflection or encoding (an instance with 10,000 clients compares them
// all at each status build); TestEqualEntryCoversEveryField fails when a
// field is added to ConnectionStatus or what it holds and not compared
// here.
func equalEntry(a, b *ConnectionStatus) bool {
	return a.Name == b.Name && a.State == b.State && a.Remote == b.Remote && a.Mode == b.Mode && a.LastError == b.LastError &&
		a.UpSince == b.UpSince && a.Status == b.Status && a.IngressBytes == b.IngressBytes && a.EgressBytes == b.EgressBytes &&
		a.LastConnected == b.LastConnected && slices.Equal(a.RemotePrefixes, b.RemotePrefixes) &&
		(a.Client == nil) == (b.Client == nil) && (a.Client == nil || *a.Client == *b.Client) &&
		slices.EqualFunc(a.IKE, b.IKE, equalIKESA) &&
		(a.Traffic == nil) == (b.Traffic == nil) && (a.Traffic == nil || equalTraffic(a.Traffic, b.Traffic))
}

func equalIKESA(x, y tunstat.IKESAStatus) bool {
	return x.SPIi == y.SPIi && x.SPIr == y.SPIr && x.Initiator == y.Initiator && x.State == y.State &&
		x.Local == y.Local && x.Remote == y.Remote && x.Suite == y.Suite && x.NATLocal == y.NATLocal &&
		x.NATRemote == y.NATRemote && x.Encap == y.Encap && x.Established == y.Established && x.RekeyAt == y.RekeyAt &&
		slices.Equal(x.Children, y.Children)
}

func equalTraffic(x, y *tunstat.TunnelStats) bool {
	return x.ID == y.ID && x.TxPackets == y.TxPackets && x.TxBytes == y.TxBytes && x.RxPackets == y.RxPackets &&
		x.RxBytes == y.RxBytes && x.DropNoSA == y.DropNoSA && x.DropPolicy == y.DropPolicy && x.DropTransit == y.DropTransit &&
		x.DropSend == y.DropSend && x.DropRateLimit == y.DropRateLimit && x.Keepalives == y.Keepalives &&
		x.LastReceived == y.LastReceived && x.LastKeepalive == y.LastKeepalive && slices.Equal(x.SAs, y.SAs)
}
