package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Terminal statuses of a long-running operation (ARM's spelling).
const (
	StatusInProgress = "InProgress"
	StatusSucceeded  = "Succeeded"
	StatusFailed     = "Failed"
	StatusCanceled   = "Canceled"
)

// ErrNotDone is returned by Poller.Result before the operation has finished.
var ErrNotDone = errors.New("client: operation has not finished")

// maxPollFailures is how many transient poll failures in a row (network
// errors, 429, 5xx) Wait tolerates before giving up.
const maxPollFailures = 5

// Operation identifies a long-running operation well enough for another
// process (or a later run) to wait for it with Client.Resume. It encodes to
// JSON, so it can be stored as a resume token.
type Operation struct {
	// Method is the HTTP method that started the operation; it decides the
	// final result: PUT and PATCH end with a GET of ResourcePath, POST with a
	// GET of Location (if any), DELETE with no result.
	Method string `json:"method"`
	// ResourcePath is the resource the operation works on (the request path).
	ResourcePath string `json:"resource,omitempty"`
	// AsyncOperation is the Azure-AsyncOperation URL, if the server sent one.
	AsyncOperation string `json:"asyncOperation,omitempty"`
	// Location is the Location URL, if the server sent one.
	Location string `json:"location,omitempty"`
}

// URL returns the URL the operation is polled at: the Azure-AsyncOperation
// URL if there is one, else the Location URL, else the resource path.
func (o Operation) URL() string {
	switch {
	case o.AsyncOperation != "":
		return o.AsyncOperation
	case o.Location != "":
		return o.Location
	}
	return o.ResourcePath
}

// Progress is what a Poller reports after each poll.
type Progress struct {
	// Status is the operation status: InProgress (or whatever non-terminal
	// status the server reports), Succeeded, Failed or Canceled.
	Status string
	// Elapsed is the time since Wait started.
	Elapsed time.Duration
	// Polls counts the poll requests made so far by Wait.
	Polls int
	// Operation is the operation being polled.
	Operation Operation
}

type pollKind int

const (
	pollNone     pollKind = iota // finished with the first response
	pollAsync                    // poll the Azure-AsyncOperation URL
	pollLocation                 // poll the Location URL (202 = still running)
	pollResource                 // poll the resource's provisioningState
)

// Poller follows one long-running operation. It is not safe for concurrent
// use.
type Poller struct {
	// c sends the poll requests.
	c *Client
	// op identifies the operation.
	op Operation
	// kind says how the operation is polled.
	kind pollKind
	// status is the last status seen.
	status string
	// done is set once the operation reached a terminal status and its
	// result (or error) is known.
	done bool
	// result is the final body (nil when the operation has none).
	result []byte
	// err is the operation's failure, once done.
	err error
	// next is the wait before the next poll; negative means the client's
	// default interval.
	next time.Duration
}

func (c *Client) newPoller(method, path string, resp *Response) *Poller {
	p := &Poller{
		c:      c,
		op:     Operation{Method: method, ResourcePath: path},
		status: StatusInProgress,
		next:   retryAfter(resp.Header),
	}
	async := resp.Header.Get("Azure-AsyncOperation")
	loc := resp.Header.Get("Location")
	if async != "" {
		p.op.AsyncOperation = p.absolute(async)
	}
	if loc != "" {
		p.op.Location = p.absolute(loc)
	}
	switch {
	case async != "":
		p.kind = pollAsync
	case loc != "" && (resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusCreated):
		p.kind = pollLocation
	case (method == http.MethodPut || method == http.MethodPatch) &&
		(resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK) &&
		!terminal(provisioningState(resp.Body)):
		p.kind = pollResource
	default:
		// Finished with the first response (200/201/204, or a 202 that
		// gives nothing to poll).
		p.finish(StatusSucceeded, resp.Body, nil)
	}
	return p
}

// Resume returns a Poller for an operation started earlier (by this process
// or another), identified by op. Only the Azure-AsyncOperation or Location URL
// is needed; Method and ResourcePath decide what the final result is.
func (c *Client) Resume(op Operation) (*Poller, error) {
	p := &Poller{c: c, op: op, status: StatusInProgress, next: 0}
	switch {
	case op.AsyncOperation != "":
		p.kind = pollAsync
	case op.Location != "":
		p.kind = pollLocation
	case op.ResourcePath != "" && (op.Method == http.MethodPut || op.Method == http.MethodPatch):
		p.kind = pollResource
	default:
		return nil, fmt.Errorf("client: cannot resume operation: no Azure-AsyncOperation or Location URL")
	}
	if op.Method == "" {
		p.op.Method = http.MethodGet // unknown: final result is whatever the URLs give
	}
	return p, nil
}

// absolute resolves a header URL against the client's base URL, so that a
// relative Location still works and the Operation is usable elsewhere.
func (p *Poller) absolute(u string) string {
	if strings.HasPrefix(u, "/") {
		return p.c.base.Scheme + "://" + p.c.base.Host + u
	}
	return u
}

// Operation returns what identifies the operation, for Client.Resume.
func (p *Poller) Operation() Operation { return p.op }

// Done reports whether the operation has finished.
func (p *Poller) Done() bool { return p.done }

// Status returns the last status seen: InProgress until the operation
// finishes, then Succeeded, Failed or Canceled.
func (p *Poller) Status() string { return p.status }

// Result decodes the operation's final body into out (which may be nil). It
// returns ErrNotDone before the operation finishes and the operation's error
// if it failed. An operation without a result body leaves out untouched.
func (p *Poller) Result(out any) error {
	if !p.done {
		return ErrNotDone
	}
	if p.err != nil {
		return p.err
	}
	r := Response{Body: p.result}
	return r.Decode(out)
}

// Body returns the final body (nil if there is none or before the operation
// finished).
func (p *Poller) Body() []byte { return p.result }

func (p *Poller) finish(status string, body []byte, err error) {
	p.done, p.status, p.result, p.err = true, status, body, err
}

// Wait polls until the operation finishes or ctx ends, waiting between polls
// as the server asks through Retry-After (clamped to the client's floor and
// ceiling). progress, if not nil, is called after every poll. Wait returns
// nil when the operation succeeded, an *Error matching ErrOperationFailed when
// it failed or was canceled, and other errors when polling itself failed.
func (p *Poller) Wait(ctx context.Context, progress func(Progress)) error {
	start := time.Now()
	polls, failures := 0, 0
	for !p.done {
		t := time.NewTimer(p.c.interval(p.next))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("client: waiting for operation %s: %w", p.op.URL(), ctx.Err())
		case <-t.C:
		}
		err := p.Poll(ctx)
		polls++
		if err != nil {
			if ctx.Err() == nil && transient(err) && failures < maxPollFailures {
				failures++
				p.next = p.c.pollDefault << failures
				continue
			}
			return err
		}
		failures = 0
		if progress != nil {
			progress(Progress{Status: p.status, Elapsed: time.Since(start), Polls: polls, Operation: p.op})
		}
	}
	return p.err
}

// interval clamps a requested wait to the client's floor and ceiling; a
// negative request means the default interval.
func (c *Client) interval(d time.Duration) time.Duration {
	if d < 0 {
		d = c.pollDefault
	}
	return min(max(d, c.pollFloor), c.pollCeiling)
}

// transient reports whether a poll failure is worth retrying.
func transient(err error) bool {
	if e, ok := AsError(err); ok {
		return e.OperationStatus == "" && (e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500)
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, errConnection)
}

// errConnection marks transport failures (connection refused, reset).
var errConnection = errors.New("client: connection failed")

// Poll makes one poll request and updates the Poller's state. It does not
// wait; use Wait to poll until done.
func (p *Poller) Poll(ctx context.Context) error {
	if p.done {
		return nil
	}
	switch p.kind {
	case pollAsync:
		return p.pollAsync(ctx)
	case pollLocation:
		return p.pollLocation(ctx, p.op.Location)
	case pollResource:
		return p.pollResource(ctx)
	}
	return nil
}

// get is one poll GET; transport errors are marked for retry.
func (p *Poller) get(ctx context.Context, u string) (*Response, error) {
	resp, err := p.c.Do(ctx, http.MethodGet, u, nil, nil)
	if err != nil {
		if _, ok := AsError(err); !ok && ctx.Err() == nil {
			return nil, fmt.Errorf("%w: %w", errConnection, err)
		}
		return nil, err
	}
	p.next = retryAfter(resp.Header)
	return resp, nil
}

func (p *Poller) pollAsync(ctx context.Context) error {
	resp, err := p.get(ctx, p.op.AsyncOperation)
	if err != nil {
		return err
	}
	var st struct {
		Status string          `json:"status"`
		Error  json.RawMessage `json:"error"`
	}
	if err := resp.Decode(&st); err != nil {
		return err
	}
	if st.Status == "" {
		return fmt.Errorf("client: operation status at %s has no status", p.op.AsyncOperation)
	}
	switch {
	case strings.EqualFold(st.Status, StatusSucceeded):
		return p.succeed(ctx)
	case strings.EqualFold(st.Status, StatusFailed), strings.EqualFold(st.Status, StatusCanceled):
		status := StatusFailed
		if strings.EqualFold(st.Status, StatusCanceled) {
			status = StatusCanceled
		}
		p.finish(status, nil, operationError(status, resp.StatusCode, st.Error))
	default:
		p.status = st.Status
	}
	return nil
}

// succeed fetches the final result of an operation whose status said
// Succeeded.
func (p *Poller) succeed(ctx context.Context) error {
	switch p.op.Method {
	case http.MethodPut, http.MethodPatch:
		resp, err := p.c.Do(ctx, http.MethodGet, p.op.ResourcePath, nil, nil)
		if err != nil {
			return err
		}
		p.finish(StatusSucceeded, resp.Body, nil)
	case http.MethodPost:
		if p.op.Location == "" {
			p.finish(StatusSucceeded, nil, nil)
			return nil
		}
		resp, err := p.c.Do(ctx, http.MethodGet, p.op.Location, nil, nil)
		if err != nil {
			return err
		}
		var body []byte
		if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNoContent {
			body = resp.Body
		}
		p.finish(StatusSucceeded, body, nil)
	default:
		p.finish(StatusSucceeded, nil, nil)
	}
	return nil
}

func (p *Poller) pollLocation(ctx context.Context, loc string) error {
	resp, err := p.get(ctx, loc)
	if err != nil {
		if e, ok := AsError(err); ok && e.StatusCode != http.StatusTooManyRequests && e.StatusCode < 500 {
			// The Location URL answers the operation's error.
			e.OperationStatus = StatusFailed
			p.finish(StatusFailed, nil, e)
			return nil
		}
		return err
	}
	if resp.StatusCode == http.StatusAccepted {
		return nil
	}
	switch p.op.Method {
	case http.MethodPut, http.MethodPatch:
		if len(resp.Body) == 0 {
			return p.succeed(ctx)
		}
		p.finish(StatusSucceeded, resp.Body, nil)
	case http.MethodDelete:
		p.finish(StatusSucceeded, nil, nil)
	default:
		var body []byte
		if resp.StatusCode != http.StatusNoContent {
			body = resp.Body
		}
		p.finish(StatusSucceeded, body, nil)
	}
	return nil
}

func (p *Poller) pollResource(ctx context.Context) error {
	resp, err := p.get(ctx, p.op.ResourcePath)
	if err != nil {
		return err
	}
	switch ps := provisioningState(resp.Body); {
	case strings.EqualFold(ps, StatusSucceeded) || ps == "":
		p.finish(StatusSucceeded, resp.Body, nil)
	case strings.EqualFold(ps, StatusFailed), strings.EqualFold(ps, StatusCanceled):
		status := StatusFailed
		if strings.EqualFold(ps, StatusCanceled) {
			status = StatusCanceled
		}
		p.finish(status, resp.Body, &Error{
			StatusCode:      resp.StatusCode,
			Code:            "Provisioning" + status,
			Message:         fmt.Sprintf("provisioning of %s ended %s", p.op.ResourcePath, status),
			OperationStatus: status,
		})
	default:
		p.status = ps
	}
	return nil
}

// operationError builds the error of a Failed or Canceled operation from the
// status body's "error" member (ARM's error object, occasionally wrapped in
// another {"error":...}).
func operationError(status string, httpStatus int, raw json.RawMessage) *Error {
	var e Error
	if len(raw) > 0 && json.Unmarshal(raw, &e) == nil && e.Code == "" {
		var wrapped struct {
			Error Error `json:"error"`
		}
		if json.Unmarshal(raw, &wrapped) == nil {
			e = wrapped.Error
		}
	}
	if e.Code == "" {
		e.Code = "Operation" + status
		e.Message = "the operation ended " + status + " without an error description"
	}
	e.StatusCode = httpStatus
	e.OperationStatus = status
	return &e
}

// provisioningState returns properties.provisioningState of a resource body,
// or "" if there is none.
func provisioningState(body []byte) string {
	var r struct {
		Properties struct {
			ProvisioningState string `json:"provisioningState"`
		} `json:"properties"`
	}
	if json.Unmarshal(body, &r) != nil {
		return ""
	}
	return r.Properties.ProvisioningState
}

func terminal(ps string) bool {
	return ps == "" || strings.EqualFold(ps, StatusSucceeded) || strings.EqualFold(ps, StatusFailed) || strings.EqualFold(ps, StatusCanceled)
}

// retryAfter reads the server's requested poll interval from Retry-After
// (seconds or an HTTP date) or retry-after-ms; -1 when absent.
func retryAfter(h http.Header) time.Duration {
	for _, k := range []string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if v := h.Get(k); v != "" {
			if ms, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && ms >= 0 {
				return time.Duration(ms) * time.Millisecond
			}
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return -1
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		if s > 3600 {
			s = 3600
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return -1
}
