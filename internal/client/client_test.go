package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const vnetID = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v1"

// fastPolling keeps tests quick: the fake servers send Retry-After: 0.
var fastPolling = WithPollInterval(time.Millisecond, time.Millisecond, 50*time.Millisecond)

func newTestClient(t *testing.T, h http.Handler, opts ...Option) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, append([]Option{fastPolling}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func armError(w http.ResponseWriter, status int, code, msg, target string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg, "target": target}})
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8480", "ftp://x", "http://", "://"} {
		if _, err := New(u); err == nil {
			t.Errorf("New(%q) succeeded, want error", u)
		}
	}
	c, err := New("http://127.0.0.1:8480/prefix/")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.BaseURL(), "http://127.0.0.1:8480/prefix"; got != want {
		t.Errorf("BaseURL = %q, want %q", got, want)
	}
}

func TestGetSendsAPIVersionAndDecodes(t *testing.T) {
	var gotURL, gotAccept string
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotURL, gotAccept = r.URL.String(), r.Header.Get("Accept")
		w.Header().Set("ETag", `W/"e1"`)
		writeJSON(w, 200, map[string]any{"id": vnetID, "name": "v1", "etag": `W/"body"`})
	}))
	var v struct{ Name string }
	resp, err := c.Get(context.Background(), vnetID, &v)
	if err != nil {
		t.Fatal(err)
	}
	if want := vnetID + "?api-version=" + DefaultAPIVersion; gotURL != want {
		t.Errorf("URL = %q, want %q", gotURL, want)
	}
	if gotAccept != "application/json" {
		t.Errorf("Accept = %q", gotAccept)
	}
	if v.Name != "v1" {
		t.Errorf("decoded name %q", v.Name)
	}
	if resp.ETag() != `W/"e1"` {
		t.Errorf("ETag() = %q, want the header's value", resp.ETag())
	}
	resp.Header.Del("ETag")
	if resp.ETag() != `W/"body"` {
		t.Errorf("ETag() without header = %q, want the body's etag", resp.ETag())
	}
}

func TestListFollowsNextLink(t *testing.T) {
	var srvURL string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("api-version") == "" {
			t.Errorf("request %s without api-version", r.URL)
		}
		switch r.URL.Query().Get("page") {
		case "":
			writeJSON(w, 200, map[string]any{"value": []any{map[string]any{"name": "a"}}, "nextLink": srvURL + r.URL.Path + "?page=2&api-version=" + DefaultAPIVersion})
		case "2":
			writeJSON(w, 200, map[string]any{"value": []any{map[string]any{"name": "b"}, map[string]any{"name": "c"}}})
		}
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	srvURL = srv.URL
	c, _ := New(srv.URL)
	items, err := c.List(context.Background(), "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range items {
		var v struct{ Name string }
		json.Unmarshal(it, &v)
		names = append(names, v.Name)
	}
	if got := strings.Join(names, ","); got != "a,b,c" {
		t.Errorf("names = %s, want a,b,c", got)
	}
	values, err := c.ListValues(context.Background(), "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks")
	if err != nil {
		t.Fatal(err)
	}
	names = nil
	for _, v := range values {
		names = append(names, v.(map[string]any)["name"].(string))
	}
	if got := strings.Join(names, ","); got != "a,b,c" {
		t.Errorf("ListValues: names = %s, want a,b,c", got)
	}
}

// TestListValues: items decoded once, numbers kept exact; an empty body
// is an empty list and data after the page an error, as with List.
func TestListValues(t *testing.T) {
	tests := []struct {
		body    string
		want    string // the items, re-encoded
		wantErr bool
	}{
		{body: `{"value":[{"n":12345678901234567890,"f":1.50}]}`, want: `[{"f":1.50,"n":12345678901234567890}]`},
		{body: ``, want: `null`},
		{body: `{"value":[]}`, want: `null`},
		{body: `{"value":[]} {}`, wantErr: true},
		{body: `{"value":[}`, wantErr: true},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, tt.body)
		}))
		c, _ := New(srv.URL)
		values, err := c.ListValues(context.Background(), "/subscriptions/s1/resourcegroups")
		srv.Close()
		if tt.wantErr {
			if err == nil {
				t.Errorf("%q: no error", tt.body)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.body, err)
			continue
		}
		if got, _ := json.Marshal(values); string(got) != tt.want {
			t.Errorf("%q: %s, want %s", tt.body, got, tt.want)
		}
	}
}

func TestErrorDecoding(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantCode   string
		wantMsg    string
		wantTarget string
		is         error
	}{
		{"arm", 404, `{"error":{"code":"ResourceNotFound","message":"The Resource 'x' was not found.","target":""}}`, "ResourceNotFound", "The Resource 'x' was not found.", "", ErrNotFound},
		{"target and details", 400, `{"error":{"code":"InvalidParameter","message":"bad","target":"properties.sku.name","details":[{"code":"A","message":"b"}]}}`, "InvalidParameter", "bad", "properties.sku.name", nil},
		{"precondition", 412, `{"error":{"code":"PreconditionFailed","message":"etag mismatch"}}`, "PreconditionFailed", "etag mismatch", "", ErrPreconditionFailed},
		{"conflict", 409, `{"error":{"code":"InUseCannotDelete","message":"in use"}}`, "InUseCannotDelete", "in use", "", ErrConflict},
		{"bare", 400, `{"code":"Bad","message":"bare error"}`, "Bad", "bare error", "", nil},
		{"html", 502, "<html>bad gateway</html>\nmore", "BadGateway", "<html>bad gateway</html>", "", nil},
		{"empty", 500, "", "InternalServerError", "Internal Server Error", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			_, err := c.Get(context.Background(), vnetID, nil)
			e, ok := AsError(err)
			if !ok {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if e.StatusCode != tt.status || e.Code != tt.wantCode || e.Message != tt.wantMsg || e.Target != tt.wantTarget {
				t.Errorf("got %+v", e)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			if errors.Is(err, ErrOperationFailed) {
				t.Errorf("a direct error matches ErrOperationFailed")
			}
			if tt.name == "target and details" && (len(e.Details) != 1 || e.Details[0].Code != "A") {
				t.Errorf("details = %+v", e.Details)
			}
		})
	}
}

func TestConditionalHeadersAndQuery(t *testing.T) {
	var got http.Header
	var gotQuery string
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		gotQuery = r.URL.RawQuery
		b, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPut && !bytes.Contains(b, []byte(`"addressPrefixes"`)) {
			t.Errorf("body %s", b)
		}
		writeJSON(w, 200, map[string]any{"name": "v1", "properties": map[string]any{"provisioningState": "Succeeded"}})
	}))
	body := map[string]any{"properties": map[string]any{"addressSpace": map[string]any{"addressPrefixes": []string{"10.0.0.0/16"}}}}
	p, err := c.Put(context.Background(), vnetID, body, &RequestOptions{IfMatch: `W/"1"`, IfNoneMatch: "*"})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Done() {
		t.Errorf("a synchronous 200 is not done")
	}
	if got.Get("If-Match") != `W/"1"` || got.Get("If-None-Match") != "*" || got.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", got)
	}
	if _, err := c.Post(context.Background(), vnetID+"/reset", nil, &RequestOptions{Query: map[string][]string{"gatewayVip": {"203.0.113.1"}}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(gotQuery, "gatewayVip=203.0.113.1") || !strings.Contains(gotQuery, "api-version=") {
		t.Errorf("query %q", gotQuery)
	}
}

// fakeLRO is an ARM-style server for one resource whose PUT, DELETE and POST
// run as long-running operations: the operation reports InProgress for
// `steps` polls, then the final status.
type fakeLRO struct {
	t        *testing.T
	steps    int    // polls answered InProgress
	final    string // Succeeded, Failed or Canceled
	useAsync bool   // Azure-AsyncOperation (else Location only)
	flaky    int    // poll requests answered 503 first

	mu       sync.Mutex
	polls    int
	resource map[string]any
	log      []string
}

func (f *fakeLRO) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, r.Method+" "+r.URL.Path)
	host := "http://" + r.Host
	switch {
	case strings.HasPrefix(r.URL.Path, "/operations/"):
		if f.flaky > 0 {
			f.flaky--
			armError(w, 503, "ServiceUnavailable", "try again", "")
			return
		}
		f.polls++
		w.Header().Set("Retry-After", "0")
		if f.polls <= f.steps {
			if !f.useAsync {
				w.WriteHeader(http.StatusAccepted)
				return
			}
			writeJSON(w, 200, map[string]any{"status": "InProgress"})
			return
		}
		if f.resource != nil {
			f.resource["properties"].(map[string]any)["provisioningState"] = f.final
		}
		if !f.useAsync {
			if f.final != "Succeeded" {
				armError(w, 400, "GatewaySubnetInvalid", "subnet must be named GatewaySubnet", "properties.ipConfigurations[0].properties.subnet.id")
				return
			}
			if strings.HasSuffix(r.URL.Path, "/delete") {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			writeJSON(w, 200, map[string]any{"result": "from-location"})
			return
		}
		st := map[string]any{"status": f.final}
		if f.final == "Failed" {
			st["error"] = map[string]any{"code": "GatewaySubnetInvalid", "message": "subnet must be named GatewaySubnet", "target": "properties.ipConfigurations[0].properties.subnet.id"}
		}
		writeJSON(w, 200, st)
	case strings.HasSuffix(r.URL.Path, "/result"):
		writeJSON(w, 200, map[string]any{"result": "from-location"})
	case r.Method == http.MethodGet:
		if f.resource == nil {
			armError(w, 404, "ResourceNotFound", "not found", "")
			return
		}
		writeJSON(w, 200, f.resource)
	case r.Method == http.MethodPut:
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		body["id"] = r.URL.Path
		body["properties"].(map[string]any)["provisioningState"] = "Updating"
		f.resource = body
		if f.useAsync {
			w.Header().Set("Azure-AsyncOperation", host+"/operations/put?api-version=x")
		} else {
			w.Header().Set("Location", "/operations/put")
		}
		w.Header().Set("Retry-After", "0")
		writeJSON(w, 201, body)
	case r.Method == http.MethodDelete:
		f.resource = nil
		w.Header().Set("Location", host+"/operations/delete")
		if f.useAsync {
			w.Header().Set("Azure-AsyncOperation", host+"/operations/delete")
		}
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost:
		if f.useAsync {
			w.Header().Set("Azure-AsyncOperation", host+"/operations/post")
		}
		w.Header().Set("Location", host+"/result")
		w.WriteHeader(http.StatusAccepted)
	}
}

func (f *fakeLRO) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

var gwBody = map[string]any{"location": "westeurope", "properties": map[string]any{"gatewayType": "Vpn"}}

const gwID = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworkGateways/gw"

func TestPutAsyncOperationSucceeds(t *testing.T) {
	f := &fakeLRO{t: t, steps: 2, final: "Succeeded", useAsync: true}
	c := newTestClient(t, f)
	p, err := c.Put(context.Background(), gwID, gwBody, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Done() || p.Status() != StatusInProgress {
		t.Fatalf("poller done=%v status=%s right after 201", p.Done(), p.Status())
	}
	if err := p.Result(nil); !errors.Is(err, ErrNotDone) {
		t.Errorf("Result before done = %v, want ErrNotDone", err)
	}
	var seen []string
	if err := p.Wait(context.Background(), func(pr Progress) { seen = append(seen, pr.Status) }); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(seen, ","); got != "InProgress,InProgress,Succeeded" {
		t.Errorf("progress = %s", got)
	}
	var gw map[string]any
	if err := p.Result(&gw); err != nil {
		t.Fatal(err)
	}
	if ps := gw["properties"].(map[string]any)["provisioningState"]; ps != "Succeeded" {
		t.Errorf("final provisioningState %v; the result must come from the GET after Succeeded", ps)
	}
	reqs := f.requests()
	if last := reqs[len(reqs)-1]; last != "GET "+gwID {
		t.Errorf("last request %q, want the final GET of the resource", last)
	}
}

func TestPutAsyncOperationFails(t *testing.T) {
	for _, final := range []string{"Failed", "Canceled"} {
		t.Run(final, func(t *testing.T) {
			f := &fakeLRO{t: t, steps: 1, final: final, useAsync: true}
			c := newTestClient(t, f)
			p, err := c.Put(context.Background(), gwID, gwBody, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Wait(context.Background(), nil)
			if !errors.Is(err, ErrOperationFailed) {
				t.Fatalf("Wait = %v, want ErrOperationFailed", err)
			}
			e, _ := AsError(err)
			if e.OperationStatus != final || p.Status() != final {
				t.Errorf("OperationStatus=%q Status()=%q, want %s", e.OperationStatus, p.Status(), final)
			}
			if final == "Failed" && (e.Code != "GatewaySubnetInvalid" || e.Target != "properties.ipConfigurations[0].properties.subnet.id") {
				t.Errorf("error %+v", e)
			}
			if final == "Canceled" && e.Code != "OperationCanceled" {
				t.Errorf("code %q, want OperationCanceled", e.Code)
			}
			if err := p.Result(nil); err != e {
				t.Errorf("Result = %v, want the operation error", err)
			}
		})
	}
}

func TestLocationPolling(t *testing.T) {
	t.Run("put succeeds", func(t *testing.T) {
		f := &fakeLRO{t: t, steps: 2, final: "Succeeded"}
		c := newTestClient(t, f)
		p, err := c.Put(context.Background(), gwID, gwBody, nil)
		if err != nil {
			t.Fatal(err)
		}
		if op := p.Operation(); !strings.HasPrefix(op.Location, "http://") {
			t.Errorf("relative Location not resolved: %q", op.Location)
		}
		if err := p.Wait(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		var res map[string]any
		p.Result(&res)
		if res["result"] != "from-location" {
			t.Errorf("result %v", res)
		}
	})
	t.Run("put fails", func(t *testing.T) {
		f := &fakeLRO{t: t, steps: 1, final: "Failed"}
		c := newTestClient(t, f)
		p, _ := c.Put(context.Background(), gwID, gwBody, nil)
		err := p.Wait(context.Background(), nil)
		e, ok := AsError(err)
		if !ok || !errors.Is(err, ErrOperationFailed) || e.Code != "GatewaySubnetInvalid" || e.StatusCode != 400 {
			t.Fatalf("Wait = %#v", err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		f := &fakeLRO{t: t, steps: 1, final: "Succeeded"}
		c := newTestClient(t, f)
		p, err := c.Delete(context.Background(), gwID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		if p.Body() != nil {
			t.Errorf("delete has a result body %q", p.Body())
		}
	})
}

func TestPostFinalResultFromLocation(t *testing.T) {
	f := &fakeLRO{t: t, steps: 1, final: "Succeeded", useAsync: true}
	c := newTestClient(t, f)
	p, err := c.Post(context.Background(), gwID+"/reset", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := p.Wait(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Result(&res); err != nil || res["result"] != "from-location" {
		t.Errorf("result %v, %v", res, err)
	}
}

func TestResume(t *testing.T) {
	f := &fakeLRO{t: t, steps: 3, final: "Succeeded", useAsync: true}
	c := newTestClient(t, f)
	p, err := c.Put(context.Background(), gwID, gwBody, nil)
	if err != nil {
		t.Fatal(err)
	}
	// One poll, then the first process "exits"; its resume token survives.
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	token, err := json.Marshal(p.Operation())
	if err != nil {
		t.Fatal(err)
	}

	c2, _ := New(c.BaseURL(), fastPolling)
	var op Operation
	if err := json.Unmarshal(token, &op); err != nil {
		t.Fatal(err)
	}
	p2, err := c2.Resume(op)
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Wait(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	var gw map[string]any
	p2.Result(&gw)
	if gw["id"] != gwID || gw["properties"].(map[string]any)["provisioningState"] != "Succeeded" {
		t.Errorf("resumed result %v", gw)
	}
	if f.polls != 4 {
		t.Errorf("polls = %d, want 4 (1 before and 3 after re-attaching)", f.polls)
	}

	// A bare operation URL works too (no final GET without a method).
	f.polls = 0
	p3, err := c2.Resume(Operation{AsyncOperation: op.AsyncOperation})
	if err != nil {
		t.Fatal(err)
	}
	if err := p3.Wait(context.Background(), nil); err != nil || p3.Status() != StatusSucceeded {
		t.Errorf("bare resume: %v, status %s", err, p3.Status())
	}
	if _, err := c2.Resume(Operation{Method: "DELETE"}); err == nil {
		t.Errorf("Resume without URLs succeeded")
	}
}

func TestResourceBodyPolling(t *testing.T) {
	var gets atomic.Int32
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps := "Updating"
		if r.Method == http.MethodGet && gets.Add(1) >= 2 {
			ps = "Succeeded"
		}
		w.Header().Set("Retry-After", "0")
		writeJSON(w, map[bool]int{true: 201, false: 200}[r.Method == http.MethodPut], map[string]any{"properties": map[string]any{"provisioningState": ps}})
	}))
	p, err := c.Put(context.Background(), gwID, gwBody, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Done() {
		t.Fatal("201 with provisioningState Updating is done")
	}
	if err := p.Wait(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if gets.Load() != 2 {
		t.Errorf("GETs = %d, want 2", gets.Load())
	}
}

func TestWaitRetriesTransientFailures(t *testing.T) {
	f := &fakeLRO{t: t, steps: 1, final: "Succeeded", useAsync: true, flaky: 2}
	c := newTestClient(t, f)
	p, _ := c.Put(context.Background(), gwID, gwBody, nil)
	if err := p.Wait(context.Background(), nil); err != nil {
		t.Fatalf("Wait = %v; two 503s must be retried", err)
	}

	f = &fakeLRO{t: t, steps: 1, final: "Succeeded", useAsync: true, flaky: maxPollFailures + 1}
	c = newTestClient(t, f)
	p, _ = c.Put(context.Background(), gwID, gwBody, nil)
	err := p.Wait(context.Background(), nil)
	if e, ok := AsError(err); !ok || e.StatusCode != 503 {
		t.Fatalf("Wait = %v, want the 503 after %d retries", err, maxPollFailures)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	f := &fakeLRO{t: t, steps: 1 << 30, final: "Succeeded", useAsync: true}
	c := newTestClient(t, f)
	p, _ := c.Put(context.Background(), gwID, gwBody, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := p.Wait(ctx, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want deadline exceeded", err)
	}
	if !strings.Contains(err.Error(), "/operations/put") {
		t.Errorf("error %q does not name the operation to re-attach to", err)
	}
}

func TestRetryAfterAndClamp(t *testing.T) {
	c, _ := New("http://x", WithPollInterval(2*time.Second, 500*time.Millisecond, 10*time.Second))
	tests := []struct {
		header map[string]string
		want   time.Duration // after clamping
	}{
		{nil, 2 * time.Second},
		{map[string]string{"Retry-After": "0"}, 500 * time.Millisecond},
		{map[string]string{"Retry-After": "3"}, 3 * time.Second},
		{map[string]string{"Retry-After": "600"}, 10 * time.Second},
		{map[string]string{"Retry-After": "junk"}, 2 * time.Second},
		{map[string]string{"Retry-After-Ms": "1500", "Retry-After": "9"}, 1500 * time.Millisecond},
		{map[string]string{"Retry-After": time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)}, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.header {
			h.Set(k, v)
		}
		if got := c.interval(retryAfter(h)); got != tt.want {
			t.Errorf("%v: interval %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestDebugLogNeverHasBodies(t *testing.T) {
	const secret = "s3cr3tPSK"
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"value": secret})
	}), WithLogger(log))
	if _, err := c.Put(context.Background(), "/x/sharedkey", map[string]string{"value": secret}, nil); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "method=PUT") || !strings.Contains(out, "status=200") || !strings.Contains(out, "/x/sharedkey") {
		t.Errorf("debug log lacks method/status/url: %s", out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("debug log contains a body: %s", out)
	}
}

func TestTransportErrorIsWrapped(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	c, _ := New(u)
	_, err := c.Get(context.Background(), vnetID, nil)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("GET %s%s", u, vnetID)) {
		t.Fatalf("err = %v", err)
	}
	if _, ok := AsError(err); ok {
		t.Errorf("a transport failure is an *Error")
	}
}

// TestEmptyWritesSendJSONContentType: the server refuses a PUT, POST or
// PATCH without Content-Type application/json (cross-site request
// forgery), so actions without a body carry it too; GET and DELETE do not.
func TestEmptyWritesSendJSONContentType(t *testing.T) {
	got := map[string]string{}
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got[r.Method] = r.Header.Get("Content-Type")
		writeJSON(w, 200, map[string]any{})
	}))
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodGet, http.MethodDelete} {
		if _, err := c.Do(context.Background(), m, "/subscriptions/s/x", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	for m, want := range map[string]string{http.MethodPost: "application/json", http.MethodPut: "application/json",
		http.MethodPatch: "application/json", http.MethodGet: "", http.MethodDelete: ""} {
		if got[m] != want {
			t.Errorf("%s Content-Type %q, want %q", m, got[m], want)
		}
	}
}
