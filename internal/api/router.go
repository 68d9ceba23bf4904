package api

import (
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/resource"
)

// route is one path pattern of the route table with the methods it serves.
// The router and the OpenAPI generator both read it.
type route struct {
	// pattern is the path in ARM's spelling with {param} placeholders,
	// e.g. "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}".
	pattern string
	// segs is pattern split at "/".
	segs []string
	// tag groups the route in the OpenAPI description.
	tag string
	// endpoints are the methods served, in the order the spec lists them.
	endpoints []*endpoint
}

// endpoint is one method of a route.
type endpoint struct {
	// method is the HTTP method.
	method string
	// operationID and summary describe the endpoint in the spec.
	operationID, summary string
	// handle serves the request; an error becomes an ARM error response.
	handle func(w http.ResponseWriter, r *request) error
	// body is the request body's schema; nil for none.
	body *schemaRef
	// responses are the documented success responses.
	responses []responseSpec
	// conditional: the endpoint honours If-Match / If-None-Match.
	conditional bool
	// longRunning: the endpoint starts a long-running operation.
	longRunning bool
	// noAPIVersion: the endpoint does not take api-version (openapi.json).
	noAPIVersion bool
	// minAPIVersion is the oldest api-version the endpoint takes;
	// MinAPIVersion when empty (another provider's endpoint has its own).
	minAPIVersion string
	// leader says whether the answer needs the leader's live state (the
	// agents' reports: connection status, instances, BGP, point-to-site),
	// which a follower replica forwards the request to the leader for
	// (Server.NeedsLeader).
	leader LeaderNeed
}

// responseSpec documents one success response.
type responseSpec struct {
	// status is the HTTP status.
	status int
	// desc describes it.
	desc string
	// body is its schema; nil for no body.
	body *schemaRef
	// lro: the response carries Azure-AsyncOperation, Location and
	// Retry-After.
	lro bool
	// location: the response carries Location and Retry-After only.
	location bool
}

// schemaRef names the Go type a body has; list wraps it in {"value":[...]}.
type schemaRef struct {
	// typ is the Go type whose JSON shape the body has.
	typ reflect.Type
	// list: the body is {"value":[typ...]}.
	list bool
	// raw is a literal schema used instead of typ (e.g. the OpenAPI
	// document itself).
	raw map[string]any
}

func schemaOf[T any]() *schemaRef { return &schemaRef{typ: reflect.TypeFor[T]()} }
func listOf[T any]() *schemaRef   { return &schemaRef{typ: reflect.TypeFor[T](), list: true} }

// request is what a handler gets: the HTTP request, the path parameters and
// the validated api-version.
type request struct {
	*http.Request
	// params are the path parameters, by the names in the pattern.
	params map[string]string
	// apiVersion is the request's api-version ("" for endpoints without).
	apiVersion string
	// requestID is the x-ms-request-id of the response.
	requestID string
}

// param returns a path parameter.
func (r *request) param(name string) string { return r.params[name] }

// router matches paths against a route table.
type router struct {
	routes []*route
}

func newRouter(routes []*route) *router {
	for _, rt := range routes {
		rt.segs = strings.Split(strings.TrimPrefix(rt.pattern, "/"), "/")
	}
	return &router{routes: routes}
}

// splitPath splits an escaped URL path into unescaped segments. A trailing
// slash is ignored, and so are repeated leading ones: az cloud register
// --endpoint-resource-manager http://host/ asks for //metadata/endpoints.
func splitPath(escaped string) ([]string, error) {
	p := strings.TrimSuffix(strings.TrimLeft(escaped, "/"), "/")
	if p == "" {
		return nil, nil
	}
	raw := strings.Split(p, "/")
	segs := make([]string, len(raw))
	for i, s := range raw {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, armerr.CodeInvalidResourceID, "", "The request path is not a valid URL path: %v", err)
		}
		segs[i] = u
	}
	return segs, nil
}

func isParam(seg string) bool { return strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") }

// match returns the route for the path segments and its parameters. Literal
// segments match case-insensitively, as in ARM; when several routes match,
// the one with the most literal segments wins.
func (rt *router) match(segs []string) (*route, map[string]string) {
	var (
		best      *route
		bestScore = -1
	)
	for _, r := range rt.routes {
		if len(r.segs) != len(segs) {
			continue
		}
		score, ok := 0, true
		for i, s := range r.segs {
			if isParam(s) {
				if segs[i] == "" {
					ok = false
					break
				}
				continue
			}
			if !strings.EqualFold(s, segs[i]) {
				ok = false
				break
			}
			score++
		}
		if ok && score > bestScore {
			best, bestScore = r, score
		}
	}
	if best == nil {
		return nil, nil
	}
	params := make(map[string]string)
	for i, s := range best.segs {
		if isParam(s) {
			params[s[1:len(s)-1]] = segs[i]
		}
	}
	return best, params
}

// endpoint returns the route's endpoint for method.
func (r *route) endpoint(method string) *endpoint {
	for _, e := range r.endpoints {
		if e.method == method {
			return e
		}
	}
	return nil
}

// allow is the Allow header value for the route.
func (r *route) allow() string {
	var ms []string
	for _, e := range r.endpoints {
		ms = append(ms, e.method)
	}
	slices.Sort(ms)
	return strings.Join(ms, ", ")
}

// notFound is the 404 for a path no route serves. A path into
// Microsoft.Network with an unknown type gets ARM's InvalidResourceType.
func notFound(method string, segs []string) error {
	for i, s := range segs {
		if strings.EqualFold(s, "providers") && i+2 < len(segs) {
			if !strings.EqualFold(segs[i+1], resource.Provider) {
				return errorf(http.StatusNotFound, armerr.CodeInvalidResourceType, "",
					"The resource namespace '%s' is not served; vpngw serves only %s.", segs[i+1], resource.Provider)
			}
			if _, ok := resource.CanonicalType(segs[i+2]); !ok && !strings.EqualFold(segs[i+2], "locations") {
				return errorf(http.StatusNotFound, armerr.CodeInvalidResourceType, "",
					"The resource type '%s' could not be found in the namespace '%s'.", segs[i+2], resource.Provider)
			}
		}
	}
	return errorf(http.StatusNotFound, armerr.CodePathNotFound, "", "No API serves %s /%s.", method, strings.Join(segs, "/"))
}
