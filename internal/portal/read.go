package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/resource"
)

// The portal reads through the API handler in-process: a GET built here is
// served by the same code as a client's, with the same redaction.

// recorder is the http.ResponseWriter of an in-process API call.
type recorder struct {
	// header is the response header.
	header http.Header
	// status is the status written (200 if none).
	status int
	// body is the response body.
	body bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// get GETs path (an ARM path without a query) from the API and decodes the
// JSON answer into out. An ARM error answer is returned as *armerr.Error.
func (p *Portal) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, path+"?api-version="+url.QueryEscape(p.apiVersion), nil)
	if err != nil {
		return fmt.Errorf("portal: GET %s: %w", path, err)
	}
	rec := &recorder{header: make(http.Header)}
	p.api.ServeHTTP(rec, req)
	if rec.status >= 300 {
		var body armerr.Body
		if err := json.Unmarshal(rec.body.Bytes(), &body); err != nil || body.Error == nil {
			return fmt.Errorf("portal: GET %s: status %d", path, rec.status)
		}
		body.Error.Status = rec.status
		return body.Error
	}
	if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
		return fmt.Errorf("portal: GET %s: decoding: %w", path, err)
	}
	return nil
}

// list GETs a collection ({"value":[...]}) from the API.
func list[T any](ctx context.Context, p *Portal, path string) ([]T, error) {
	var page struct {
		Value []T `json:"value"`
	}
	if err := p.get(ctx, path, &page); err != nil {
		return nil, err
	}
	return page.Value, nil
}

// notFound reports whether err is an API 404.
func notFound(err error) bool {
	var e *armerr.Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// subPath is the subscription's ARM path.
func (p *Portal) subPath() string { return "/subscriptions/" + url.PathEscape(p.sub) }

// groupPath is a resource group's ARM path.
func (p *Portal) groupPath(group string) string {
	return p.subPath() + "/resourceGroups/" + url.PathEscape(group)
}

// typePath is the path of a group's resources of one type, e.g.
// .../providers/Microsoft.Network/virtualNetworks.
func (p *Portal) typePath(group, typ string) string {
	if group == "" {
		return p.subPath() + "/providers/" + resource.Provider + "/" + typ
	}
	return p.groupPath(group) + "/providers/" + resource.Provider + "/" + typ
}

// itemPath is one resource's ARM path.
func (p *Portal) itemPath(group, typ, name string) string {
	return p.typePath(group, typ) + "/" + url.PathEscape(name)
}

// groupOf is the resource group named in a resource ID.
func groupOf(id string) string {
	segs := strings.Split(id, "/")
	for i := 0; i+1 < len(segs); i++ {
		if strings.EqualFold(segs[i], "resourceGroups") {
			return segs[i+1]
		}
	}
	return ""
}
