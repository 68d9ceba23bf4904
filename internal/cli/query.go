package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jmespath-community/go-jmespath"
	"github.com/jmespath-community/go-jmespath/pkg/parsing"
)

// query is a parsed --query: a JMESPath expression (evaluated by
// jmespath-community/go-jmespath), plus the key order of each multi-select
// hash in it, which JMESPath's objects do not keep but az prints (and makes
// table columns) in.
type query struct {
	expr   jmespath.JMESPath
	hashes [][]string // keys of each multi-select hash, in the order written
}

// parseQuery parses a --query expression.
func parseQuery(s string) (*query, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("--query: empty JMESPath expression")
	}
	ast, err := jmespath.NewParser().Parse(s)
	if err != nil {
		return nil, fmt.Errorf("--query: invalid JMESPath expression %q: %w", s, err)
	}
	expr, err := jmespath.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("--query: invalid JMESPath expression %q: %w", s, err)
	}
	q := &query{expr: expr}
	q.collect(ast)
	return q, nil
}

func (q *query) collect(n parsing.ASTNode) {
	if n.NodeType == parsing.ASTMultiSelectHash {
		keys := make([]string, 0, len(n.Children))
		for _, kv := range n.Children {
			k, _ := kv.Value.(string)
			keys = append(keys, k)
		}
		q.hashes = append(q.hashes, keys)
	}
	for _, c := range n.Children {
		q.collect(c)
	}
}

// eval runs the query on v (decoded JSON). Objects a multi-select hash
// made come back as *ordered.
func (q *query) eval(v any) (any, error) {
	r, err := q.expr.Search(v)
	if err != nil {
		return nil, fmt.Errorf("--query: %w", err)
	}
	return q.order(r), nil
}

// order returns v with every object whose keys are exactly a multi-select
// hash's turned into an *ordered with the hash's key order. It copies
// instead of changing v, which may share objects with the input.
func (q *query) order(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = q.order(e)
		}
		return out
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = q.order(e)
		}
		for _, keys := range q.hashes {
			if len(keys) == len(m) && !slices.ContainsFunc(keys, func(k string) bool { _, ok := m[k]; return !ok }) {
				return &ordered{keys: keys, m: m}
			}
		}
		return m
	}
	return v
}

// ordered is an object whose keys keep the order a multi-select hash gave
// them (az prints such objects, and their table columns, in that order).
type ordered struct {
	keys []string
	m    map[string]any
}

func (o *ordered) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(o.m[k])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// keysOf returns the keys of an object in output order: a multi-select
// hash's own order, else sorted (the caller sorts).
func keysOf(v any) ([]string, map[string]any, bool) {
	switch o := v.(type) {
	case *ordered:
		return o.keys, o.m, true
	case map[string]any:
		keys := make([]string, 0, len(o))
		for k := range o {
			keys = append(keys, k)
		}
		return keys, o, false
	}
	return nil, nil, false
}

// headerOf is az's table header for a key: the first letter upper-cased.
func headerOf(k string) string {
	if k == "" {
		return k
	}
	return strings.ToUpper(k[:1]) + k[1:]
}
