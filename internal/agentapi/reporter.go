package agentapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	// holder is the server known to hold version ackedSeq, whose
	// encoding is acked (nil: none known, the next report carries the
	// full status); deltas says it takes deltas.
	holder   *Client
	ackedSeq uint64
	acked    encodedStatus
	deltas   bool
	// now is the clock (time.Now), which seeds the first version.
	now func() time.Time
	// hb is the last bare heartbeat's encoding, for hbRev, hbErr and
	// hbSeq: an idle instance sends the same one every ReportEvery.
	hb    []byte
	hbRev int64
	hbErr string
	hbSeq uint64
}

// encodedStatus is a Status encoded in parts: what a delta is made of and
// compared by.
type encodedStatus struct {
	// st is the status itself (for the full encoding).
	st Status
	// gateway is the JSON of st without its connections and clients
	// (StatusDelta.Gateway).
	gateway []byte
	// conns and clients are the JSON of each connection and client,
	// sorted by name.
	conns, clients []entryJSON
	// dup marks a list with a name twice, which no delta can express
	// (such a status always goes out in full).
	dup bool
}

// entryJSON is one connection's or client's JSON.
type entryJSON struct {
	name string
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
// with the previous status and the JSON encoding of the entries that
// differ and of the gateway-wide part.
func (r *Reporter) SetStatus(st Status) (bool, error) {
	e, err := encodeStatus(st, &r.cur)
	if err != nil {
		return false, err
	}
	if r.seq != 0 && e.equal(&r.cur) {
		return false, nil
	}
	r.cur, r.full = e, nil
	r.seq = max(r.seq+1, uint64(r.now().UnixNano()))
	return true, nil
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
	if r.holder == c && r.seq != 0 && (r.ackedSeq == r.seq || r.deltas && !r.cur.dup) {
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
		b, err := json.Marshal(r.cur.st)
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

// acknowledged records that the holder holds the current version.
func (r *Reporter) acknowledged(a reportAnswer) {
	r.ackedSeq, r.acked, r.deltas = r.seq, r.cur, a.deltas
}

// delta is the current status as changes from the acknowledged one.
func (r *Reporter) delta() *wireDelta {
	d := &wireDelta{Gateway: r.cur.gateway}
	d.Connections, d.Removed = diffEntries(r.acked.conns, r.cur.conns)
	d.Clients, d.RemovedClients = diffEntries(r.acked.clients, r.cur.clients)
	return d
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

// encodeStatus encodes st in parts (see encodedStatus), reusing prev's
// encoding of each entry equal to prev's entry of the same name.
func encodeStatus(st Status, prev *encodedStatus) (encodedStatus, error) {
	e := encodedStatus{st: st}
	gw := st
	gw.Connections = nil
	if st.PointToSite != nil {
		p := *st.PointToSite
		p.Clients = nil
		gw.PointToSite = &p
	}
	var err error
	if e.gateway, err = json.Marshal(gw); err != nil {
		return e, err
	}
	var prevConns, prevClients []ConnectionStatus
	if !prev.dup { // with a name twice, an entry's encoding cannot be found by name
		prevConns = prev.st.Connections
		if prev.st.PointToSite != nil {
			prevClients = prev.st.PointToSite.Clients
		}
	}
	var dup bool
	if e.conns, e.dup, err = encodeEntries(st.Connections, prevConns, prev.conns); err != nil {
		return e, err
	}
	if st.PointToSite != nil {
		e.clients, dup, err = encodeEntries(st.PointToSite.Clients, prevClients, prev.clients)
		e.dup = e.dup || dup
	}
	return e, err
}

// encodeEntries encodes each entry of cs, sorted by name, and reports
// whether a name occurs twice. An entry equal (equalEntry) to prev's
// entry of the same name keeps prev's encoding (prevJSON, sorted by name,
// without a name twice): an unchanged entry costs a comparison, not an
// encoding. An instance lists its entries sorted by name, so prev's entry
// is found by walking both lists together (entries added or removed
// since do not misalign the rest); out of order, an entry is compared
// with the one at its index.
func encodeEntries(cs, prev []ConnectionStatus, prevJSON []entryJSON) ([]entryJSON, bool, error) {
	out := make([]entryJSON, len(cs))
	j := 0
	for i := range cs {
		c := &cs[i]
		for j < len(prev) && prev[j].Name < c.Name {
			j++
		}
		k := j
		if k >= len(prev) || prev[k].Name != c.Name {
			k = i
		}
		if k < len(prev) && equalEntry(c, &prev[k]) {
			if n, ok := slices.BinarySearchFunc(prevJSON, c.Name, func(e entryJSON, n string) int { return strings.Compare(e.name, n) }); ok {
				out[i] = prevJSON[n]
				continue
			}
		}
		b, err := json.Marshal(c)
		if err != nil {
			return nil, false, err
		}
		out[i] = entryJSON{name: c.Name, json: b}
	}
	slices.SortFunc(out, func(a, b entryJSON) int { return strings.Compare(a.name, b.name) })
	dup := false
	for i := range out {
		dup = dup || out[i].name == "" || i > 0 && out[i].name == out[i-1].name
	}
	return out, dup, nil
}

// equal reports whether e and o encode the same status.
func (e *encodedStatus) equal(o *encodedStatus) bool {
	return bytes.Equal(e.gateway, o.gateway) && equalEntries(e.conns, o.conns) && equalEntries(e.clients, o.clients)
}

func equalEntries(a, b []entryJSON) bool {
	return slices.EqualFunc(a, b, func(x, y entryJSON) bool { return x.name == y.name && bytes.Equal(x.json, y.json) })
}

// diffEntries walks two name-sorted entry lists and returns the entries
// of now added or changed since was, and the names of was's entries that
// now lacks.
func diffEntries(was, now []entryJSON) (changed []json.RawMessage, removed []string) {
	i, j := 0, 0
	for i < len(was) || j < len(now) {
		switch {
		case j == len(now) || i < len(was) && was[i].name < now[j].name:
			removed = append(removed, was[i].name)
			i++
		case i == len(was) || now[j].name < was[i].name:
			changed = append(changed, now[j].json)
			j++
		default:
			if !bytes.Equal(was[i].json, now[j].json) {
				changed = append(changed, now[j].json)
			}
			i++
			j++
		}
	}
	return changed, removed
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
