package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
)

// The activity log: what was done to the subscription's resources, by
// whom, and how it ended, as Azure Monitor's Activity Log serves it
// (Microsoft.Insights/eventtypes/management/values): every long-running
// operation (one entry, updated from Started to Succeeded or Failed) and
// every write the API refused (Failed, with the ARM error). The portal
// reads it, so that an operation started from the CLI shows there with
// its progress.
//
// The entries live in the store (one key each under ActivityKeyPrefix,
// named by the operation's or the refused request's ID), so every replica
// sharing it shows every replica's entries, and they survive restarts: an
// operation accepted by one replica and finished by the leader is one
// entry. Creates are compare-and-swap on an absent key and updates on the
// key's revision (retried on a conflict), so writers on several replicas
// lose nothing. The log keeps the newest activityRingSize entries: every
// activityCompactEvery entries a replica adds, it deletes the oldest
// beyond that bound (between compactions a few more may be stored; reads
// show the newest activityRingSize). Writing the log is best effort: a
// failure is logged and does not fail the request or the operation.

// activityRingSize bounds the activity log.
const activityRingSize = 500

// activityCompactEvery is how many entries a replica adds between two
// compactions of the log.
const activityCompactEvery = 50

// activityWriteTimeout bounds one write of the log.
const activityWriteTimeout = 5 * time.Second

// activityRetries bounds the compare-and-swap attempts of one update.
const activityRetries = 8

// ActivityKeyPrefix is the store prefix of the activity log's entries.
const ActivityKeyPrefix = "activity/"

// ActivityLogAPIVersion is the api-version of the activity log, Azure
// Monitor's.
const ActivityLogAPIVersion = resource.ActivityLogAPIVersion

// LocalizableString is Azure Monitor's {value, localizedValue} pair.
type LocalizableString struct {
	// Value is the invariant value; LocalizedValue its display form.
	Value          string `json:"value"`
	LocalizedValue string `json:"localizedValue"`
}

// EventData is one activity log entry (Azure Monitor's EventData, the
// fields vpngw fills).
type EventData struct {
	// ID is the event's path.
	ID string `json:"id"`
	// EventDataID identifies the event; OperationID the operation (the
	// operation ID of a long-running operation, else the request ID).
	EventDataID string `json:"eventDataId"`
	OperationID string `json:"operationId"`
	// CorrelationID is the request's x-ms-correlation-request-id.
	CorrelationID string `json:"correlationId"`
	// Caller is who asked: the client program (User-Agent, or the
	// portal) and its address.
	Caller string `json:"caller"`
	// OperationName is what was done, e.g.
	// Microsoft.Network/connections/write.
	OperationName LocalizableString `json:"operationName"`
	// Category is Administrative.
	Category LocalizableString `json:"category"`
	// Level is Informational, or Error for a failure.
	Level string `json:"level"`
	// Status is Started (still running), Succeeded or Failed.
	Status LocalizableString `json:"status"`
	// EventTimestamp is when the status last changed;
	// SubmissionTimestamp when the request came.
	EventTimestamp      time.Time `json:"eventTimestamp"`
	SubmissionTimestamp time.Time `json:"submissionTimestamp"`
	// ResourceID is the target; ResourceGroupName, ResourceType and
	// ResourceProviderName describe it.
	ResourceID           string            `json:"resourceId"`
	ResourceGroupName    string            `json:"resourceGroupName"`
	ResourceProviderName LocalizableString `json:"resourceProviderName"`
	ResourceType         LocalizableString `json:"resourceType"`
	SubscriptionID       string            `json:"subscriptionId"`
	// Properties are Azure's string properties: statusCode, and on
	// failure statusMessage (the ARM error body as JSON); vpngw adds
	// startTime and endTime.
	Properties map[string]string `json:"properties"`
}

// activityLog is the log's entries in the store.
type activityLog struct {
	// st holds the entries under ActivityKeyPrefix.
	st store.Store
	// log receives the failures to write the log.
	log *slog.Logger
	// added counts the entries this replica added (compaction).
	added atomic.Int64
}

// activityKey is the store key of the entry with operation ID id.
func activityKey(id string) string { return ActivityKeyPrefix + id }

// writeCtx is a context for one write of the log that outlives a
// canceled request.
func writeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), activityWriteTimeout)
}

// add stores e, a new entry, and compacts the log every
// activityCompactEvery entries.
func (l *activityLog) add(ctx context.Context, e *EventData) {
	ctx, cancel := writeCtx(ctx)
	defer cancel()
	b, err := json.Marshal(e)
	if err == nil {
		_, err = l.st.CompareAndSwap(ctx, activityKey(e.OperationID), b, 0)
	}
	if err != nil {
		l.log.Warn("activity log: adding an entry", "operation", e.OperationID, "err", err)
		return
	}
	if l.added.Add(1)%activityCompactEvery == 0 {
		l.compact(ctx)
	}
}

// update applies f to the entry of operation id, or stores missing() with
// f applied when there is none (an operation whose start was not logged).
// A concurrent change of the entry makes it read and apply f again.
func (l *activityLog) update(ctx context.Context, id string, f func(*EventData), missing func() *EventData) {
	ctx, cancel := writeCtx(ctx)
	defer cancel()
	key := activityKey(id)
	var err error
	for range activityRetries {
		var (
			e   *EventData
			rev int64
		)
		kv, gerr := l.st.Get(ctx, key)
		switch {
		case gerr == nil:
			e = new(EventData)
			if err = json.Unmarshal(kv.Value, e); err != nil {
				break
			}
			rev = kv.ModRevision
		case errors.Is(gerr, store.ErrNotFound):
			e = missing()
		default:
			err = gerr
		}
		if err != nil {
			break
		}
		f(e)
		b, merr := json.Marshal(e)
		if merr != nil {
			err = merr
			break
		}
		if _, err = l.st.CompareAndSwap(ctx, key, b, rev); !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	if err != nil {
		l.log.Warn("activity log: updating an entry", "operation", id, "err", err)
	}
}

// entries reads the log: the newest activityRingSize entries, newest
// first (by submission, then by the last change).
func (l *activityLog) entries(ctx context.Context) ([]*EventData, error) {
	kvs, _, err := l.st.List(ctx, ActivityKeyPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]*EventData, 0, len(kvs))
	for _, kv := range kvs {
		e := new(EventData)
		if err := json.Unmarshal(kv.Value, e); err != nil {
			l.log.Warn("activity log: an unreadable entry", "key", kv.Key, "err", err)
			continue
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b *EventData) int {
		return cmp.Or(b.SubmissionTimestamp.Compare(a.SubmissionTimestamp), b.EventTimestamp.Compare(a.EventTimestamp),
			strings.Compare(b.OperationID, a.OperationID))
	})
	if len(out) > activityRingSize {
		out = out[:activityRingSize]
	}
	return out, nil
}

// compact deletes the entries beyond the newest activityRingSize.
// Several replicas compacting at once delete the same keys: a delete of a
// key already gone is a no-op.
func (l *activityLog) compact(ctx context.Context) {
	kvs, _, err := l.st.List(ctx, ActivityKeyPrefix)
	if err != nil || len(kvs) <= activityRingSize {
		return
	}
	type entry struct {
		key  string
		sub  time.Time
		last time.Time
	}
	all := make([]entry, 0, len(kvs))
	for _, kv := range kvs {
		var e EventData
		_ = json.Unmarshal(kv.Value, &e) // unreadable: zero times, the oldest
		all = append(all, entry{kv.Key, e.SubmissionTimestamp, e.EventTimestamp})
	}
	slices.SortFunc(all, func(a, b entry) int {
		return cmp.Or(b.sub.Compare(a.sub), b.last.Compare(a.last), strings.Compare(b.key, a.key))
	})
	var ops []store.Op
	for _, e := range all[activityRingSize:] {
		ops = append(ops, store.DeleteOp(e.key))
	}
	for len(ops) > 0 { // etcd bounds a transaction's operations
		n := min(len(ops), 100)
		if _, err := l.st.Txn(ctx, nil, ops[:n]); err != nil {
			l.log.Warn("activity log: compacting", "err", err)
			return
		}
		ops = ops[n:]
	}
}

// caller names who sent r: the portal (which says so in
// x-ms-command-name, as Azure's portal does) or the client's User-Agent
// product, and the client's address.
func caller(r *http.Request) string {
	who := r.Header.Get("x-ms-command-name")
	if who == "" {
		who, _, _ = strings.Cut(r.UserAgent(), " ")
	}
	if who == "" {
		who = "unknown client"
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		who += " (" + host + ")"
	}
	return who
}

// resumedCaller is the caller of an operation whose start the log does
// not hold (resumed after a restart of an older server, which kept the
// log in memory).
const resumedCaller = "vpngw serve (resumed after a restart)"

// correlationID is the request's x-ms-correlation-request-id (ServeHTTP
// answers with the request ID when the client sent none).
func correlationID(r *request) string {
	return cmp.Or(r.Header.Get("x-ms-correlation-request-id"), r.requestID)
}

// newEvent builds the event of an operation on target asked for by who,
// with the request's correlation ID.
func (s *Server) newEvent(who, correlation, opID string, target resource.ID, opName, display string) *EventData {
	now := s.now().UTC()
	typ := "Microsoft.Resources/subscriptions/resourceGroups"
	provider := "Microsoft.Resources"
	if target.Type != "" {
		typ, provider = resource.Provider+"/"+target.Type, resource.Provider
		if target.Child != "" {
			typ += "/" + target.Child
		}
	}
	return &EventData{
		ID:                   target.String() + "/events/" + opID,
		EventDataID:          opID,
		OperationID:          opID,
		CorrelationID:        correlation,
		Caller:               who,
		OperationName:        LocalizableString{Value: opName, LocalizedValue: display},
		Category:             LocalizableString{Value: "Administrative", LocalizedValue: "Administrative"},
		Level:                "Informational",
		Status:               LocalizableString{Value: "Started", LocalizedValue: "Started"},
		EventTimestamp:       now,
		SubmissionTimestamp:  now,
		ResourceID:           target.String(),
		ResourceGroupName:    target.ResourceGroup,
		ResourceProviderName: LocalizableString{Value: provider, LocalizedValue: provider},
		ResourceType:         LocalizableString{Value: typ, LocalizedValue: typ},
		SubscriptionID:       target.Subscription,
		Properties:           map[string]string{"statusCode": "Accepted", "startTime": now.Format(time.RFC3339Nano)},
	}
}

// operationName is the Azure operation name of op and its display text
// ("Reset virtual network gateway gw1").
func operationName(kind registry.OpKind, target resource.ID) (string, string) {
	typ, noun := "Microsoft.Resources/subscriptions/resourceGroups", "resource group"
	switch {
	case target.Child != "":
		typ, noun = resource.Provider+"/"+target.Type+"/"+target.Child, strings.TrimSuffix(target.Child, "s")
	case target.Type != "":
		typ, noun = resource.Provider+"/"+target.Type, target.Type
		for _, k := range kinds {
			if k.typ == target.Type {
				noun = k.noun
			}
		}
	}
	noun += " " + leafName(target)
	switch kind {
	case registry.OpPut:
		return typ + "/write", "Create or update " + noun
	case registry.OpDelete, registry.OpGroupDelete:
		return typ + "/delete", "Delete " + noun
	case registry.OpReset:
		return typ + "/reset/action", "Reset " + noun
	case registry.OpSharedKey:
		return typ + "/sharedKey/write", "Set the shared key of " + noun
	case registry.OpResetSharedKey:
		return typ + "/sharedKey/reset/action", "Reset the shared key of " + noun
	case opDeviceScript:
		return typ + "/vpndeviceconfigurationscript/action", "Generate the VPN device configuration of " + noun
	case opSupportedDevices:
		return typ + "/supportedvpndevices/action", "List the supported VPN devices of " + noun
	}
	return typ + "/" + string(kind), string(kind) + " " + noun
}

// The synchronous actions a refused write may name (registry's kinds are
// the long-running ones).
const (
	opDeviceScript     registry.OpKind = "vpndeviceconfigurationscript"
	opSupportedDevices registry.OpKind = "supportedvpndevices"
)

// logStarted records an accepted long-running operation.
func (s *Server) logStarted(r *request, op *registry.Operation) {
	target := op.TargetID()
	name, display := operationName(op.Kind, target)
	e := s.newEvent(caller(r.Request), correlationID(r), op.ID, target, name, display)
	e.SubmissionTimestamp, e.EventTimestamp = op.StartTime, op.StartTime
	e.Properties["startTime"] = op.StartTime.Format(time.RFC3339Nano)
	s.activity.add(r.Context(), e)
}

// logFinished records the end of op (its status and error are set).
func (s *Server) logFinished(op *registry.Operation) {
	apply := func(e *EventData) {
		e.EventTimestamp = op.EndTime
		e.Properties["endTime"] = op.EndTime.Format(time.RFC3339Nano)
		e.Status = LocalizableString{Value: op.Status, LocalizedValue: op.Status}
		e.Properties["statusCode"] = "OK"
		if op.Status == StatusFailed {
			markFailed(e, op.ErrorStatus, op.Error)
		}
	}
	// An operation whose start the log does not hold (resumed after a
	// restart of a server of an older version) gets an entry now.
	resumed := func() *EventData {
		target := op.TargetID()
		name, display := operationName(op.Kind, target)
		e := s.newEvent(resumedCaller, op.ID, op.ID, target, name, display)
		e.SubmissionTimestamp = op.StartTime
		e.Properties["startTime"] = op.StartTime.Format(time.RFC3339Nano)
		return e
	}
	s.activity.update(context.Background(), op.ID, apply, resumed)
}

// markFailed makes e a failure with the ARM error.
func markFailed(e *EventData, status int, err *armerr.Error) {
	e.Level = "Error"
	e.Status = LocalizableString{Value: StatusFailed, LocalizedValue: StatusFailed}
	if status == 0 {
		status = http.StatusInternalServerError
	}
	e.Properties["statusCode"] = strings.ReplaceAll(http.StatusText(status), " ", "")
	if err != nil {
		b, _ := json.Marshal(armerr.Body{Error: err})
		e.Properties["statusMessage"] = string(b)
	}
}

// logRefused records a write the API refused with err (not reads, not
// requests that name no resource). The target is the resource the path
// names, without an action's suffix (.../reset, .../sharedkey).
func (s *Server) logRefused(r *request, err *armerr.Error) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	action := ""
	target, perr := resource.ParseID(path, "")
	for i := 0; perr != nil && i < 2; i++ {
		cut := strings.LastIndexByte(path, '/')
		if cut <= 0 {
			return
		}
		suffix := ""
		if action != "" {
			suffix = "/" + action
		}
		path, action = path[:cut], path[cut+1:]+suffix
		target, perr = resource.ParseID(path, "")
	}
	if perr != nil {
		return
	}
	kind := map[string]registry.OpKind{http.MethodPut: registry.OpPut, http.MethodPatch: registry.OpPut, http.MethodDelete: registry.OpDelete}[r.Method]
	switch strings.ToLower(action) {
	case "":
	case "reset":
		kind = registry.OpReset
	case "sharedkey":
		kind = registry.OpSharedKey
	case "sharedkey/reset":
		kind = registry.OpResetSharedKey
	default:
		kind = registry.OpKind(strings.ToLower(action))
	}
	name, display := operationName(kind, target)
	e := s.newEvent(caller(r.Request), correlationID(r), r.requestID, target, name, display)
	e.EventTimestamp = e.SubmissionTimestamp
	e.Properties["endTime"] = e.EventTimestamp.Format(time.RFC3339Nano)
	markFailed(e, err.HTTPStatus(), err)
	s.activity.add(r.Context(), e)
}

// getActivityLog serves GET /subscriptions/{s}/providers/Microsoft.Insights/eventtypes/management/values:
// the subscription's events, newest first, filtered by $filter.
func (s *Server) getActivityLog(w http.ResponseWriter, r *request) error {
	sub := r.param(paramSub)
	f, err := parseActivityFilter(r.URL.Query().Get("$filter"))
	if err != nil {
		return err
	}
	all, err := s.activity.entries(r.Context())
	if err != nil {
		return err
	}
	events := []EventData{}
	for _, e := range all {
		if strings.EqualFold(e.SubscriptionID, sub) && f.keep(e) {
			events = append(events, *e)
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Value []EventData `json:"value"`
	}{events})
	return nil
}

// activityFilter is a parsed $filter: eventTimestamp bounds, a resource
// group, a resource.
type activityFilter struct {
	// from and to bound eventTimestamp (zero: unbounded).
	from, to time.Time
	// group and resourceURI must match when not empty.
	group, resourceURI string
}

// parseActivityFilter reads Azure's filter syntax, the clauses vpngw
// serves joined by "and": eventTimestamp ge/le 'TIME',
// resourceGroupName eq 'NAME', resourceUri eq 'ID'.
func parseActivityFilter(s string) (activityFilter, error) {
	var f activityFilter
	bad := func(clause, why string) error {
		return errorf(http.StatusBadRequest, armerr.CodeInvalidParameter, "$filter",
			"The filter clause '%s' is not supported: %s. Supported: eventTimestamp ge|le 'RFC 3339 time', resourceGroupName eq 'name', resourceUri eq 'ID', joined by 'and'.", clause, why)
	}
	if strings.TrimSpace(s) == "" {
		return f, nil
	}
	for _, clause := range splitAnd(s) {
		toks := strings.SplitN(strings.TrimSpace(clause), " ", 3)
		if len(toks) != 3 {
			return f, bad(clause, "want FIELD OP 'VALUE'")
		}
		v := strings.TrimSpace(toks[2])
		if len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
			return f, bad(clause, "the value must be in single quotes")
		}
		v = v[1 : len(v)-1]
		switch field, op := strings.ToLower(toks[0]), strings.ToLower(toks[1]); {
		case field == "eventtimestamp" && (op == "ge" || op == "le"):
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, bad(clause, "the time is not RFC 3339")
			}
			if op == "ge" {
				f.from = t
			} else {
				f.to = t
			}
		case field == "resourcegroupname" && op == "eq":
			f.group = v
		case field == "resourceuri" && op == "eq":
			f.resourceURI = v
		default:
			return f, bad(clause, "unknown field or operator")
		}
	}
	return f, nil
}

// splitAnd splits a filter at " and " (any case).
func splitAnd(s string) []string {
	var out []string
	for {
		i := strings.Index(strings.ToLower(s), " and ")
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i])
		s = s[i+5:]
	}
}

func (f activityFilter) keep(e *EventData) bool {
	switch {
	case !f.from.IsZero() && e.EventTimestamp.Before(f.from),
		!f.to.IsZero() && e.EventTimestamp.After(f.to),
		f.group != "" && !strings.EqualFold(f.group, e.ResourceGroupName),
		f.resourceURI != "" && !strings.EqualFold(f.resourceURI, e.ResourceID):
		return false
	}
	return true
}

// leafName is the name of the resource an ID names (the child's for a
// subnet, the group's for a group).
func leafName(id resource.ID) string {
	switch {
	case id.ChildName != "":
		return id.ChildName
	case id.Name != "":
		return id.Name
	}
	return id.ResourceGroup
}
