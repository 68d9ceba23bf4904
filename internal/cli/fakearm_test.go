package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeARM is a small in-memory ARM endpoint for the command tests. It stores
// whatever is PUT (adding id, name, type, etag and provisioningState), runs
// PUTs of gateways and connections and every DELETE as long-running
// operations that finish after opPolls polls, lists collections, honours
// If-Match, serves the sharedkey sub-resources, and records every request.
type fakeARM struct {
	t   *testing.T
	srv *httptest.Server

	mu sync.Mutex
	// objects maps lower-cased resource paths to stored bodies.
	objects map[string]map[string]any
	// keys maps lower-cased connection paths to shared keys.
	keys map[string]string
	// ops maps operation names to their state.
	ops map[string]*fakeOp
	// opPolls is how many polls an operation answers InProgress.
	opPolls int
	// failOp makes the operations of these lower-cased paths fail.
	failOp map[string]*armErr
	// reject answers requests to these "METHOD lower-cased-path" keys
	// with an error at once.
	reject map[string]*armErr
	// requests records every request.
	requests []fakeRequest
	// etagSeq numbers etags.
	etagSeq int
}

type armErr struct {
	status             int
	code, message, tgt string
}

type fakeOp struct {
	polls int
	fail  *armErr
	done  func() // applied when the operation succeeds
}

// fakeRequest is one recorded request.
type fakeRequest struct {
	Method, Path, Query string
	Header              http.Header
	Body                map[string]any
}

func (r fakeRequest) String() string { return r.Method + " " + r.Path }

func newFakeARM(t *testing.T) *fakeARM {
	f := &fakeARM{
		t:       t,
		objects: map[string]map[string]any{},
		keys:    map[string]string{},
		ops:     map[string]*fakeOp{},
		opPolls: 1,
		failOp:  map[string]*armErr{},
		reject:  map[string]*armErr{},
	}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeARM) writeErr(w http.ResponseWriter, e *armErr) {
	writeTestJSON(w, e.status, map[string]any{"error": map[string]any{"code": e.code, "message": e.message, "target": e.tgt}})
}

func writeTestJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// armTypes maps lower-case type segments to ARM types.
var armTypes = map[string]string{
	"virtualnetworks":        "Microsoft.Network/virtualNetworks",
	"subnets":                "Microsoft.Network/virtualNetworks/subnets",
	"publicipaddresses":      "Microsoft.Network/publicIPAddresses",
	"virtualnetworkgateways": "Microsoft.Network/virtualNetworkGateways",
	"localnetworkgateways":   "Microsoft.Network/localNetworkGateways",
	"connections":            "Microsoft.Network/connections",
	"resourcegroups":         "Microsoft.Resources/resourceGroups",
}

func (f *fakeARM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	req := fakeRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone()}
	if b, _ := io.ReadAll(r.Body); len(b) > 0 {
		if err := json.Unmarshal(b, &req.Body); err != nil {
			f.t.Errorf("%s %s: body is not a JSON object: %s", r.Method, r.URL.Path, b)
		}
	}
	f.requests = append(f.requests, req)
	if r.URL.Query().Get("api-version") == "" {
		f.writeErr(w, &armErr{400, "MissingApiVersionParameter", "no api-version", ""})
		return
	}
	path := strings.ToLower(r.URL.Path)
	if e := f.reject[r.Method+" "+path]; e != nil {
		f.writeErr(w, e)
		return
	}
	seg := strings.Split(strings.Trim(path, "/"), "/")
	host := "http://" + r.Host

	switch {
	case strings.HasPrefix(path, "/operations/"):
		f.serveOp(w, strings.TrimPrefix(path, "/operations/"))
	case strings.HasSuffix(path, "/sharedkey/reset") && r.Method == http.MethodPost:
		conn := strings.TrimSuffix(path, "/sharedkey/reset")
		if f.objects[conn] == nil {
			f.notFound(w, conn)
			return
		}
		n, _ := req.Body["keyLength"].(float64)
		f.startOp(w, host, conn, http.StatusAccepted, map[string]any{"keyLength": n}, func() {
			f.keys[conn] = strings.Repeat("k", int(n))
		})
	case strings.HasSuffix(path, "/sharedkey"):
		conn := strings.TrimSuffix(path, "/sharedkey")
		if f.objects[conn] == nil {
			f.notFound(w, conn)
			return
		}
		if r.Method == http.MethodPut {
			v, _ := req.Body["value"].(string)
			f.startOp(w, host, conn, http.StatusOK, map[string]any{"value": v}, func() { f.keys[conn] = v })
			return
		}
		writeTestJSON(w, 200, map[string]any{"id": r.URL.Path, "value": f.keys[conn]})
	case strings.HasSuffix(path, "/reset") && r.Method == http.MethodPost:
		gw := strings.TrimSuffix(path, "/reset")
		if f.objects[gw] == nil {
			f.notFound(w, gw)
			return
		}
		f.startOp(w, host, gw, http.StatusAccepted, nil, func() {})
	case len(seg) == 9 && seg[8] == "connections" && r.Method == http.MethodGet:
		gw := strings.TrimSuffix(path, "/connections")
		var out []any
		for k, o := range f.objects {
			if strings.Contains(k, "/connections/") && strings.EqualFold(fmt.Sprint(lookup(o, "properties.virtualNetworkGateway1.id")), gw) {
				out = append(out, o)
			}
		}
		writeTestJSON(w, 200, map[string]any{"value": out})
	case r.Method == http.MethodGet && (len(seg)%2 == 1 || (len(seg) == 4 && seg[2] == "providers")):
		f.list(w, path)
	case r.Method == http.MethodGet:
		o := f.objects[path]
		if o == nil {
			f.notFound(w, path)
			return
		}
		w.Header().Set("ETag", o["etag"].(string))
		writeTestJSON(w, 200, o)
	case r.Method == http.MethodPut:
		f.put(w, r, req, path, seg, host)
	case r.Method == http.MethodDelete:
		if f.objects[path] == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		f.startOp(w, host, path, http.StatusAccepted, nil, func() {
			for k := range f.objects {
				if k == path || strings.HasPrefix(k, path+"/") {
					delete(f.objects, k)
				}
			}
		})
	default:
		f.writeErr(w, &armErr{405, "MethodNotAllowed", "method not allowed", ""})
	}
}

func (f *fakeARM) notFound(w http.ResponseWriter, path string) {
	f.writeErr(w, &armErr{404, "ResourceNotFound", fmt.Sprintf("The Resource '%s' was not found.", path), ""})
}

func (f *fakeARM) list(w http.ResponseWriter, path string) {
	depth := len(strings.Split(strings.Trim(path, "/"), "/")) + 1
	var out []any
	for k, o := range f.objects {
		if strings.HasPrefix(k, path+"/") && len(strings.Split(strings.Trim(k, "/"), "/")) == depth {
			out = append(out, o)
		}
	}
	if out == nil {
		out = []any{}
	}
	writeTestJSON(w, 200, map[string]any{"value": out})
}

func (f *fakeARM) put(w http.ResponseWriter, r *http.Request, req fakeRequest, path string, seg []string, host string) {
	old := f.objects[path]
	if m := r.Header.Get("If-Match"); m != "" && (old == nil || old["etag"] != m) {
		f.writeErr(w, &armErr{412, "PreconditionFailed", "The etag in If-Match does not match.", ""})
		return
	}
	// Store a copy: the recorded request body must stay as sent.
	body := map[string]any{}
	if b, err := json.Marshal(req.Body); err == nil {
		json.Unmarshal(b, &body)
	}
	if body == nil {
		body = map[string]any{}
	}
	name := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	typ := armTypes[seg[len(seg)-2]]
	body["id"], body["name"], body["type"] = r.URL.Path, name, typ
	f.etagSeq++
	body["etag"] = fmt.Sprintf(`W/"%d"`, f.etagSeq)
	props, _ := body["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		body["properties"] = props
	}
	if k, ok := props["sharedKey"].(string); ok {
		f.keys[path] = k
		delete(props, "sharedKey")
	}
	status := http.StatusCreated
	if old != nil {
		status = http.StatusOK
	}
	lro := strings.Contains(path, "/virtualnetworkgateways/") || strings.Contains(path, "/connections/")
	if !lro {
		props["provisioningState"] = "Succeeded"
		f.objects[path] = body
		w.Header().Set("ETag", body["etag"].(string))
		writeTestJSON(w, status, body)
		return
	}
	props["provisioningState"] = "Updating"
	f.objects[path] = body
	f.startOp(w, host, path, status, body, func() { props["provisioningState"] = "Succeeded" })
}

// startOp answers a long-running request: Azure-AsyncOperation and
// Location headers, Retry-After 0, and body (if any).
func (f *fakeARM) startOp(w http.ResponseWriter, host, target string, status int, body any, done func()) {
	name := fmt.Sprintf("op%d", len(f.ops)+1)
	f.ops[name] = &fakeOp{fail: f.failOp[target], done: done}
	w.Header().Set("Azure-AsyncOperation", host+"/operations/"+name+"?api-version=2024-05-01")
	w.Header().Set("Location", host+"/operations/"+name+"/result?api-version=2024-05-01")
	w.Header().Set("Retry-After", "0")
	if body == nil {
		w.WriteHeader(status)
		return
	}
	writeTestJSON(w, status, body)
}

func (f *fakeARM) serveOp(w http.ResponseWriter, name string) {
	name, result := strings.CutSuffix(name, "/result")
	op := f.ops[name]
	if op == nil {
		f.writeErr(w, &armErr{404, "OperationNotFound", "no such operation", ""})
		return
	}
	if result {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Retry-After", "0")
	op.polls++
	if op.polls <= f.opPolls {
		writeTestJSON(w, 200, map[string]any{"status": "InProgress"})
		return
	}
	if op.fail != nil {
		writeTestJSON(w, 200, map[string]any{"status": "Failed", "error": map[string]any{"code": op.fail.code, "message": op.fail.message, "target": op.fail.tgt}})
		return
	}
	if op.done != nil {
		op.done()
		op.done = nil
	}
	writeTestJSON(w, 200, map[string]any{"status": "Succeeded"})
}

// reqs returns the recorded requests and forgets them.
func (f *fakeARM) reqs() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.requests
	f.requests = nil
	return r
}

// writes returns the recorded requests other than GETs, as "METHOD path".
func writes(reqs []fakeRequest) []string {
	var out []string
	for _, r := range reqs {
		if r.Method != http.MethodGet {
			out = append(out, r.String())
		}
	}
	return out
}

// find returns the first recorded request with method and path.
func find(t *testing.T, reqs []fakeRequest, method, path string) fakeRequest {
	t.Helper()
	for _, r := range reqs {
		if r.Method == method && r.Path == path {
			return r
		}
	}
	t.Fatalf("no %s %s among %v", method, path, reqs)
	return fakeRequest{}
}
