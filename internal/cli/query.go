package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// A subset of JMESPath for --query, enough for what az users write most:
//
//	name                    a field
//	sku.name                a sub-expression
//	"odd-name"              a quoted field
//	ipConfigurations[0]     an index (negative counts from the end)
//	[*].name, [].name       a list projection ([] also flattens one level)
//	[].{Name:name, IP:ipAddress}   a multi-select hash (keeps key order)
//	[name, location]        a multi-select list
//	@                       the current value
//
// Filters, functions, pipes, slices and comparisons are not implemented and
// are refused with a usage error.

// queryNode is a parsed --query expression.
type queryNode interface {
	eval(v any) any
}

type (
	qCurrent struct{}
	qField   struct{ name string }
	qIndex   struct{ i int }
	qSub     struct{ left, right queryNode }
	qProject struct {
		left, right queryNode
		flatten     bool
	}
	qMultiList struct{ items []queryNode }
	qMultiHash struct {
		keys  []string
		items []queryNode
	}
)

func (qCurrent) eval(v any) any { return v }

func (q qField) eval(v any) any {
	switch m := v.(type) {
	case map[string]any:
		return m[q.name]
	case *ordered:
		return m.m[q.name]
	}
	return nil
}

func (q qIndex) eval(v any) any {
	l, ok := v.([]any)
	if !ok {
		return nil
	}
	i := q.i
	if i < 0 {
		i += len(l)
	}
	if i < 0 || i >= len(l) {
		return nil
	}
	return l[i]
}

func (q qSub) eval(v any) any {
	l := q.left.eval(v)
	if l == nil {
		return nil
	}
	return q.right.eval(l)
}

func (q qProject) eval(v any) any {
	l, ok := q.left.eval(v).([]any)
	if !ok {
		return nil
	}
	if q.flatten {
		var flat []any
		for _, e := range l {
			if inner, ok := e.([]any); ok {
				flat = append(flat, inner...)
			} else {
				flat = append(flat, e)
			}
		}
		l = flat
	}
	out := []any{}
	for _, e := range l {
		if r := q.right.eval(e); r != nil {
			out = append(out, r)
		}
	}
	return out
}

func (q qMultiList) eval(v any) any {
	if v == nil {
		return nil
	}
	out := make([]any, len(q.items))
	for i, it := range q.items {
		out[i] = it.eval(v)
	}
	return out
}

func (q qMultiHash) eval(v any) any {
	if v == nil {
		return nil
	}
	o := &ordered{keys: q.keys, m: map[string]any{}}
	for i, it := range q.items {
		o.m[q.keys[i]] = it.eval(v)
	}
	return o
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

// parseQuery parses a --query expression.
func parseQuery(s string) (queryNode, error) {
	p := &queryParser{s: s}
	n, err := p.chain(nil, false)
	if err != nil {
		return nil, err
	}
	p.skip()
	if p.pos < len(p.s) {
		return nil, p.errorf("unexpected %q", p.s[p.pos:])
	}
	return n, nil
}

type queryParser struct {
	s   string
	pos int
}

func (p *queryParser) errorf(format string, args ...any) error {
	return fmt.Errorf("--query %q: %s (vpngw supports fields, '.', [n], [*], [], {key: expr, ...} and [expr, ...] of JMESPath)",
		p.s, fmt.Sprintf(format, args...))
}

func (p *queryParser) skip() {
	for p.pos < len(p.s) && unicode.IsSpace(rune(p.s[p.pos])) {
		p.pos++
	}
}

func (p *queryParser) peek() byte {
	p.skip()
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *queryParser) expect(c byte) error {
	if p.peek() != c {
		return p.errorf("expected %q at offset %d", c, p.pos)
	}
	p.pos++
	return nil
}

// chain parses a primary expression (or starts from left) followed by any
// number of ".x" and "[...]" suffixes. A projection takes the rest of the
// chain as its right-hand side; inside one (inProjection), a flatten "[]"
// ends the right-hand side and applies to the whole projection, as in
// JMESPath (a[].b[].c is one flat list).
func (p *queryParser) chain(left queryNode, inProjection bool) (queryNode, error) {
	if left == nil {
		var err error
		if left, err = p.primary(); err != nil {
			return nil, err
		}
	}
	for {
		switch p.peek() {
		case '.':
			p.pos++
			right, err := p.afterDot()
			if err != nil {
				return nil, err
			}
			left = qSub{left, right}
		case '[':
			if inProjection && p.flattenNext() {
				return left, nil
			}
			n, proj, flatten, err := p.bracket()
			if err != nil {
				return nil, err
			}
			if !proj {
				left = qSub{left, n}
				continue
			}
			rest, err := p.chain(qCurrent{}, true)
			if err != nil {
				return nil, err
			}
			left = qProject{left: left, right: rest, flatten: flatten}
		default:
			return left, nil
		}
	}
}

// flattenNext reports whether the input continues with "[]".
func (p *queryParser) flattenNext() bool {
	save := p.pos
	defer func() { p.pos = save }()
	p.pos++ // '['
	return p.peek() == ']'
}

// bracket parses "[n]" (an index), "[*]" or "[]" (projections).
func (p *queryParser) bracket() (n queryNode, projection, flatten bool, err error) {
	start := p.pos
	p.pos++ // '['
	switch p.peek() {
	case '*':
		p.pos++
		return nil, true, false, p.expect(']')
	case ']':
		p.pos++
		return nil, true, true, nil
	}
	p.skip()
	j := p.pos
	for j < len(p.s) && (p.s[j] == '-' || (p.s[j] >= '0' && p.s[j] <= '9')) {
		j++
	}
	i, convErr := strconv.Atoi(p.s[p.pos:j])
	if convErr != nil {
		p.pos = start
		return nil, false, false, p.errorf("unsupported bracket expression at offset %d", start)
	}
	p.pos = j
	return qIndex{i}, false, false, p.expect(']')
}

func (p *queryParser) afterDot() (queryNode, error) {
	switch p.peek() {
	case '{':
		return p.multiHash()
	case '[':
		return p.multiList()
	}
	return p.identifier()
}

func (p *queryParser) primary() (queryNode, error) {
	switch c := p.peek(); c {
	case '@':
		p.pos++
		return qCurrent{}, nil
	case '{':
		return p.multiHash()
	case '[':
		save := p.pos
		p.pos++
		next := p.peek()
		p.pos = save
		if next == '*' || next == ']' || next == '-' || (next >= '0' && next <= '9') {
			n, proj, flatten, err := p.bracket()
			if err != nil {
				return nil, err
			}
			if !proj {
				return n, nil
			}
			rest, err := p.chain(qCurrent{}, true)
			if err != nil {
				return nil, err
			}
			return qProject{left: qCurrent{}, right: rest, flatten: flatten}, nil
		}
		return p.multiList()
	case 0:
		return nil, p.errorf("expression expected")
	}
	return p.identifier()
}

func (p *queryParser) identifier() (queryNode, error) {
	p.skip()
	if p.pos < len(p.s) && p.s[p.pos] == '"' {
		j := p.pos + 1
		for j < len(p.s) && p.s[j] != '"' {
			if p.s[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(p.s) {
			return nil, p.errorf("unterminated quoted identifier")
		}
		name, err := strconv.Unquote(p.s[p.pos : j+1])
		if err != nil {
			return nil, p.errorf("bad quoted identifier %s", p.s[p.pos:j+1])
		}
		p.pos = j + 1
		return qField{name}, nil
	}
	j := p.pos
	for j < len(p.s) && (p.s[j] == '_' || unicode.IsLetter(rune(p.s[j])) || (j > p.pos && unicode.IsDigit(rune(p.s[j])))) {
		j++
	}
	if j == p.pos {
		if p.pos < len(p.s) {
			return nil, p.errorf("unsupported syntax at offset %d: %q", p.pos, p.s[p.pos:])
		}
		return nil, p.errorf("identifier expected")
	}
	name := p.s[p.pos:j]
	p.pos = j
	return qField{name}, nil
}

func (p *queryParser) multiList() (queryNode, error) {
	p.pos++ // '['
	var items []queryNode
	for {
		n, err := p.chain(nil, false)
		if err != nil {
			return nil, err
		}
		items = append(items, n)
		switch p.peek() {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return qMultiList{items}, nil
		default:
			return nil, p.errorf("expected ',' or ']' at offset %d", p.pos)
		}
	}
}

func (p *queryParser) multiHash() (queryNode, error) {
	p.pos++ // '{'
	var h qMultiHash
	for {
		key, err := p.identifier()
		if err != nil {
			return nil, err
		}
		if err := p.expect(':'); err != nil {
			return nil, err
		}
		n, err := p.chain(nil, false)
		if err != nil {
			return nil, err
		}
		h.keys = append(h.keys, key.(qField).name)
		h.items = append(h.items, n)
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return h, nil
		default:
			return nil, p.errorf("expected ',' or '}' at offset %d", p.pos)
		}
	}
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
