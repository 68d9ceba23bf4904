package agentapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Reporter is an instance's side of versioned reports (see the package
// comment): it numbers the statuses it is given, sends a status only to a
// server that does not hold it yet, and a bare heartbeat otherwise. It is
// not safe for concurrent use (one routine reports).
type Reporter struct {
	// seq is the version of last; 0 before the first status.
	seq uint64
	// last is the JSON of the latest status (nil before the first).
	last []byte
	// holder is the server known to hold version seq (nil: none known,
	// the next report carries the full status).
	holder *Client
	// now is the clock (time.Now), which seeds the first version.
	now func() time.Time
}

// NewReporter returns a Reporter whose first version follows the clock,
// so that a restarted instance never reuses a version of its previous
// run.
func NewReporter() *Reporter { return &Reporter{now: time.Now} }

// SetStatus makes st the current status. It reports whether st differs
// from the previous one (a new version); an equal status keeps its
// version, so that the next Send is a heartbeat.
func (r *Reporter) SetStatus(st Status) (bool, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return false, err
	}
	if r.last != nil && bytes.Equal(b, r.last) {
		return false, nil
	}
	r.last = b
	r.seq = max(r.seq+1, uint64(r.now().UnixNano()))
	r.holder = nil
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
}

// Send reports the assignment revision and error with the current status
// (SetStatus) to c: as a heartbeat when c holds the current version, or
// else in full. A heartbeat c cannot match (it restarted, or lost the
// instance) is followed at once by the full status. It reports whether
// the full status went out.
func (r *Reporter) Send(ctx context.Context, c *Client, revision int64, applyErr string) (full bool, err error) {
	w := wireReport{Revision: revision, Error: applyErr, StatusSeq: r.seq}
	if r.holder == c && r.seq != 0 {
		w.Unchanged = true
		held, err := r.put(ctx, c, w)
		if err == nil && held == r.seq {
			return false, nil
		}
		r.holder = nil
		if err != nil && !errors.Is(err, ErrStatusNeeded) {
			return false, err
		}
		w.Unchanged = false
	}
	w.Status = r.last
	held, err := r.put(ctx, c, w)
	if err != nil {
		return true, err
	}
	if held == r.seq && r.seq != 0 {
		r.holder = c
	}
	return true, nil
}

func (r *Reporter) put(ctx context.Context, c *Client, w wireReport) (uint64, error) {
	b, err := json.Marshal(w)
	if err != nil {
		return 0, err
	}
	return c.putReport(ctx, b)
}
