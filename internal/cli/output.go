package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/vpngw/vpngw/internal/resource"
)

// Output formats (-o/--output), as az spells them.
var outputFormats = []string{"json", "jsonc", "table", "tsv", "none"}

// column is one column of table output: a header and how to get the cell
// from a (flattened) object.
type column struct {
	header string
	value  func(obj any) string
}

// col is a column whose cell is the value at a dotted path of the
// flattened object, e.g. "sku.name" or "addressSpace.addressPrefixes".
func col(header, path string) column {
	return column{header: header, value: func(o any) string { return cell(lookup(o, path)) }}
}

// countCol is a column holding the length of the list at path.
func countCol(header, path string) column {
	return column{header: header, value: func(o any) string {
		l, _ := lookup(o, path).([]any)
		return fmt.Sprint(len(l))
	}}
}

// lookup follows a dotted path through nested objects.
func lookup(o any, path string) any {
	cur := o
	for _, k := range strings.Split(path, ".") {
		switch m := cur.(type) {
		case map[string]any:
			cur = m[k]
		case *ordered:
			cur = m.m[k]
		default:
			return nil
		}
	}
	return cur
}

// cell renders one table cell: scalars as text, lists of scalars joined
// with ", ", objects and lists of objects left empty (as az's table does).
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case json.Number:
		return x.String()
	case []any:
		var parts []string
		for _, e := range x {
			switch e.(type) {
			case map[string]any, *ordered, []any:
				return ""
			}
			parts = append(parts, cell(e))
		}
		return strings.Join(parts, ", ")
	case map[string]any, *ordered:
		return ""
	}
	return fmt.Sprint(v)
}

// decodeOutput decodes a response body for output, keeping numbers exact.
func decodeOutput(data []byte) (any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding the server's response: %w", err)
	}
	return v, nil
}

// azShape rewrites a resource as az prints it: when flatten is set, the
// members of every "properties" object are lifted into the object that
// holds it (the Azure SDKs flatten the properties of network resources, not
// those of resource groups); every object with a resource ID gains
// "resourceGroup"; and shared keys are removed (the API never returns them
// outside the sharedkey sub-resource; this is a second line of defence).
// It rewrites v's objects and arrays in place (v is freshly decoded) and
// returns the result, which may be a different map than v.
func azShape(v any, flatten bool) any {
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			x[i] = azShape(e, flatten)
		}
		return x
	case map[string]any:
		delete(x, "sharedKey")
		delete(x, "radiusServerSecret")
		props, hasProps := x["properties"]
		if flatten {
			delete(x, "properties")
		}
		for k, e := range x {
			x[k] = azShape(e, flatten)
		}
		if pm, ok := props.(map[string]any); ok && flatten {
			// The object's own members win; clashing properties stay
			// under "properties". They are merged into the properties
			// map, usually the larger one.
			pm = azShape(pm, flatten).(map[string]any)
			var leftover map[string]any
			for k, e := range x {
				if p, clash := pm[k]; clash {
					if leftover == nil {
						leftover = map[string]any{}
					}
					leftover[k] = p
				}
				pm[k] = e
			}
			if leftover != nil {
				pm["properties"] = leftover
			}
			x = pm
		} else if hasProps && flatten {
			x["properties"] = azShape(props, flatten)
		}
		if _, has := x["resourceGroup"]; !has {
			if id, ok := x["id"].(string); ok {
				if rid, err := resource.ParseID(stripChildren(id), ""); err == nil {
					x["resourceGroup"] = rid.ResourceGroup
				}
			}
		}
		return x
	}
	return v
}

// stripChildren cuts an ID down to the part ParseID understands (a
// top-level resource or one child level), so that IDs of deeper
// sub-resources still yield their resource group.
func stripChildren(id string) string {
	seg := strings.Split(strings.Trim(id, "/"), "/")
	if len(seg) > 10 {
		seg = seg[:8]
	}
	return "/" + strings.Join(seg, "/")
}

// printer writes command results in the selected output format.
type printer struct {
	// w receives the output (stdout).
	w io.Writer
	// format is the -o/--output format.
	format string
	// query is the parsed --query, or nil.
	query *query
}

// print writes v (decoded JSON, already in az's shape) using table columns
// cols for table output (nil: derive columns from the scalar members).
func (p printer) print(v any, cols []column) error {
	if p.query != nil {
		// As in az, the query runs on the az-shaped result and table
		// columns then follow the query's result.
		var err error
		if v, err = p.query.eval(v); err != nil {
			return err
		}
		cols = nil
	}
	switch p.format {
	case "none":
		return nil
	case "json", "jsonc", "":
		if v == nil {
			return nil
		}
		b, err := appendJSON(nil, v, 0) // as json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		if p.format == "jsonc" {
			b = colorJSON(b)
		}
		_, err = fmt.Fprintf(p.w, "%s\n", b)
		return err
	case "tsv":
		return writeTSV(p.w, v)
	case "table":
		return writeTable(p.w, v, cols)
	}
	return fmt.Errorf("unknown output format %q", p.format)
}

// rows turns a result into the objects (or scalars) that make table/tsv rows.
func rows(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

// writeTable writes az's table format: a header row, a row of dashes, then
// one row per object, columns separated by two spaces.
func writeTable(w io.Writer, v any, cols []column) error {
	rs := rows(v)
	if len(rs) == 0 {
		return nil
	}
	if cols == nil {
		cols = autoColumns(rs)
	}
	if len(cols) == 0 {
		// A list of scalars: one "Result" column, as az does.
		cols = []column{{header: "Result", value: nil}}
	}
	cells := make([][]string, 0, len(rs)+2)
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = c.header
	}
	cells = append(cells, head, nil)
	for _, r := range rs {
		line := make([]string, len(cols))
		for i, c := range cols {
			if _, _, isObj := objectOf(r); isObj && c.value != nil {
				line[i] = c.value(r)
			} else if !isObj {
				line[i] = cell(r)
			}
		}
		cells = append(cells, line)
	}
	width := make([]int, len(cols))
	for _, line := range cells {
		for i, s := range line {
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	dash := make([]string, len(cols))
	for i := range cols {
		dash[i] = strings.Repeat("-", width[i])
	}
	cells[1] = dash
	var b strings.Builder
	for _, line := range cells {
		var l strings.Builder
		for i, s := range line {
			if i > 0 {
				l.WriteString("  ")
			}
			l.WriteString(s)
			l.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(s)))
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// autoColumns derives table columns from the scalar members of the first
// object with az's header spelling (first letter upper case): in the order
// of a --query multi-select hash, else sorted and without id, etag and type.
func autoColumns(rs []any) []column {
	keys, m, isObj := objectOf(rs[0])
	if !isObj {
		return nil
	}
	_, isOrdered := rs[0].(*ordered)
	var cols []column
	for _, k := range keys {
		switch m[k].(type) {
		case map[string]any, *ordered, []any:
			continue
		}
		if !isOrdered && (k == "id" || k == "etag" || k == "type") {
			continue
		}
		cols = append(cols, col(headerOf(k), k))
	}
	return cols
}

// objectOf returns an object's keys in output order (a multi-select hash's
// order, else sorted) and its members.
func objectOf(v any) ([]string, map[string]any, bool) {
	keys, m, isOrdered := keysOf(v)
	if m == nil {
		return nil, nil, false
	}
	if !isOrdered {
		slices.Sort(keys)
	}
	return keys, m, true
}

// writeTSV writes az's tsv format: one line per object with the values of
// its members in key order, tab-separated; nested objects print as empty
// fields and lists as their length, so that columns stay aligned.
func writeTSV(w io.Writer, v any) error {
	var b strings.Builder
	for _, r := range rows(v) {
		switch x := r.(type) {
		case map[string]any, *ordered:
			keys, m, _ := objectOf(x)
			for i, k := range keys {
				if i > 0 {
					b.WriteByte('\t')
				}
				b.WriteString(tsvField(m[k]))
			}
		case []any:
			for i, e := range x {
				if i > 0 {
					b.WriteByte('\t')
				}
				b.WriteString(tsvField(e))
			}
		default:
			b.WriteString(tsvField(x))
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func tsvField(v any) string {
	switch x := v.(type) {
	case []any:
		return fmt.Sprint(len(x))
	case map[string]any, *ordered:
		return ""
	}
	return cell(v)
}

// ANSI colours of jsonc output.
const (
	ansiKey    = "\x1b[94m"
	ansiString = "\x1b[32m"
	ansiNumber = "\x1b[36m"
	ansiReset  = "\x1b[0m"
)

// colorJSON colours indented JSON for a terminal (az's jsonc).
func colorJSON(b []byte) []byte {
	var out bytes.Buffer
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(b))
			k := j
			for k < len(b) && b[k] == ' ' {
				k++
			}
			color := ansiString
			if k < len(b) && b[k] == ':' {
				color = ansiKey
			}
			out.WriteString(color)
			out.Write(b[i:j])
			out.WriteString(ansiReset)
			i = j
		case c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n':
			j := i
			for j < len(b) && !strings.ContainsRune(",]}\n ", rune(b[j])) {
				j++
			}
			out.WriteString(ansiNumber)
			out.Write(b[i:j])
			out.WriteString(ansiReset)
			i = j
		default:
			out.WriteByte(c)
			i++
		}
	}
	return out.Bytes()
}
