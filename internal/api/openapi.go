package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/vpngw/vpngw/internal/armjson"
	"github.com/vpngw/vpngw/internal/resource"
)

// objectType is the Go type of a resource type segment.
func objectType(typ string) reflect.Type {
	obj, ok := resource.NewObject(typ)
	if !ok {
		panic("api: no object for type " + typ)
	}
	return reflect.TypeOf(obj).Elem()
}

// Properties that only the server sets, marked readOnly in the spec, and
// secrets, marked writeOnly.
var (
	readOnlyProps  = map[string]bool{"etag": true, "provisioningState": true, "resourceGuid": true, "type": true}
	writeOnlyProps = map[string]bool{"sharedKey": true, "radiusServerSecret": true}
)

// specGen builds component schemas from Go types by reflection.
type specGen struct {
	schemas map[string]any
	// names maps a type to its component name, detecting collisions.
	names map[string]reflect.Type
}

// ref returns the schema of t, registering named struct types as
// components.
func (g *specGen) ref(t reflect.Type) map[string]any {
	switch t {
	case reflect.TypeFor[time.Time]():
		return map[string]any{"type": "string", "format": "date-time"}
	case reflect.TypeFor[json.RawMessage]():
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.ref(t.Elem())
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		return map[string]any{"type": "integer", "format": "int32"}
	case reflect.Int64, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": g.ref(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.ref(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := t.Name()
		if name == "" {
			return g.object(t)
		}
		if prev, ok := g.names[name]; ok && prev != t {
			panic(fmt.Sprintf("api: openapi: schema name %s used by %v and %v", name, prev, t))
		}
		if _, ok := g.names[name]; !ok {
			g.names[name] = t
			g.schemas[name] = nil // reserve: recursive types
			g.schemas[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	panic(fmt.Sprintf("api: openapi: unsupported type %v", t))
}

// object is the schema of a struct type's JSON form: its properties as
// encoding/json (and so the API's decoder) sees them, embedded structs
// flattened.
func (g *specGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	for _, f := range armjson.Fields(t) {
		name := f.Name
		s := g.ref(f.Type)
		if readOnlyProps[name] || writeOnlyProps[name] {
			// Siblings of $ref are ignored in OpenAPI 3.0: wrap.
			if _, isRef := s["$ref"]; isRef {
				s = map[string]any{"allOf": []any{s}}
			} else {
				c := map[string]any{}
				for k, v := range s {
					c[k] = v
				}
				s = c
			}
			if readOnlyProps[name] {
				s["readOnly"] = true
			} else {
				s["writeOnly"] = true
			}
		}
		props[name] = s
	}
	return map[string]any{"type": "object", "properties": props}
}

func (g *specGen) body(sr *schemaRef) map[string]any {
	if sr.raw != nil {
		return sr.raw
	}
	s := g.ref(sr.typ)
	if sr.list {
		return map[string]any{
			"type":       "object",
			"properties": map[string]any{"value": map[string]any{"type": "array", "items": s}},
		}
	}
	return s
}

// openAPI returns the OpenAPI 3.0 document generated from the route table.
func (s *Server) openAPI() map[string]any {
	g := &specGen{schemas: map[string]any{}, names: map[string]reflect.Type{}}
	errRef := g.ref(reflect.TypeFor[errorBody]())
	str := map[string]any{"type": "string"}
	lroHeaders := map[string]any{
		"Azure-AsyncOperation": map[string]any{"description": "URL of the operation status.", "schema": str},
		"Location":             map[string]any{"description": "URL of the operation result.", "schema": str},
		"Retry-After":          map[string]any{"description": "Seconds to wait before polling.", "schema": map[string]any{"type": "integer"}},
	}
	locHeaders := map[string]any{"Location": lroHeaders["Location"], "Retry-After": lroHeaders["Retry-After"]}
	paths := map[string]any{}
	for _, rt := range s.routes {
		item := map[string]any{}
		var params []any
		for _, seg := range rt.segs {
			if isParam(seg) {
				params = append(params, map[string]any{
					"name": seg[1 : len(seg)-1], "in": "path", "required": true, "schema": str,
				})
			}
		}
		for _, ep := range rt.endpoints {
			op := map[string]any{
				"operationId": ep.operationID,
				"summary":     ep.summary,
				"tags":        []any{rt.tag},
			}
			ps := append([]any(nil), params...)
			if !ep.noAPIVersion {
				ps = append(ps, map[string]any{
					"name": "api-version", "in": "query", "required": true,
					"description": "YYYY-MM-DD[-preview], " + MinAPIVersion + " or later.",
					"schema":      map[string]any{"type": "string", "pattern": apiVersionRE().String()},
				})
			}
			if ep.conditional {
				for _, h := range []string{"If-Match", "If-None-Match"} {
					ps = append(ps, map[string]any{"name": h, "in": "header", "required": false, "schema": str})
				}
			}
			if ep.operationID == "VirtualNetworkGateways_Reset" {
				ps = append(ps, map[string]any{"name": "gatewayVip", "in": "query", "required": false, "schema": str})
			}
			if len(ps) > 0 {
				op["parameters"] = ps
			}
			if ep.body != nil {
				op["requestBody"] = map[string]any{
					"required": true,
					"content":  map[string]any{"application/json": map[string]any{"schema": g.body(ep.body)}},
				}
			}
			resps := map[string]any{}
			for _, r := range ep.responses {
				desc := r.desc
				if desc == "" {
					desc = http.StatusText(r.status)
				}
				rs := map[string]any{"description": desc}
				if r.body != nil {
					rs["content"] = map[string]any{"application/json": map[string]any{"schema": g.body(r.body)}}
				}
				if r.lro {
					rs["headers"] = lroHeaders
				} else if r.location {
					rs["headers"] = locHeaders
				}
				resps[strconv.Itoa(r.status)] = rs
			}
			resps["default"] = map[string]any{
				"description": "An error in ARM's shape.",
				"content":     map[string]any{"application/json": map[string]any{"schema": errRef}},
			}
			op["responses"] = resps
			if ep.longRunning {
				op["x-ms-long-running-operation"] = true
			}
			item[strings.ToLower(ep.method)] = op
		}
		paths[rt.pattern] = item
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "vpngw",
			"version":     MinAPIVersion,
			"description": "The ARM-shaped API of vpngw, a self-hosted virtual network gateway. Generated from the server's route table.",
		},
		"paths":      paths,
		"components": map[string]any{"schemas": g.schemas},
	}
}
