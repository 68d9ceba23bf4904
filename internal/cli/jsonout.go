package cli

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
)

// appendJSON appends v to b exactly as json.MarshalIndent(v, "", "  ")
// writes it, depth levels deep. The values decodeOutput and azShape make
// (objects, arrays, strings, booleans, null) are written directly, with
// no reflection and no second pass to indent, which makes printing 100
// connections about three times faster (BenchmarkShowList); anything else
// (numbers, *ordered, values commands build) goes through encoding/json.
// FuzzAppendJSON holds it to MarshalIndent's output.
func appendJSON(b []byte, v any, depth int) ([]byte, error) {
	var err error
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		if x {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case string:
		return appendJSONString(b, x)
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		if len(x) == 0 {
			return append(b, "[]"...), nil
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendIndent(b, depth+1)
			if b, err = appendJSON(b, e, depth+1); err != nil {
				return b, err
			}
		}
		return append(appendIndent(b, depth), ']'), nil
	case map[string]any:
		if x == nil {
			return append(b, "null"...), nil
		}
		if len(x) == 0 {
			return append(b, "{}"...), nil
		}
		b = append(b, '{')
		for i, k := range slices.Sorted(maps.Keys(x)) { // encoding/json's order
			if i > 0 {
				b = append(b, ',')
			}
			b = appendIndent(b, depth+1)
			if b, err = appendJSONString(b, k); err != nil {
				return b, err
			}
			b = append(b, ": "...)
			if b, err = appendJSON(b, x[k], depth+1); err != nil {
				return b, err
			}
		}
		return append(appendIndent(b, depth), '}'), nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	buf := bytes.NewBuffer(b)
	if err := json.Indent(buf, raw, string(appendIndent(nil, depth)[1:]), "  "); err != nil {
		return b, err
	}
	return buf.Bytes(), nil
}

// appendIndent starts a new line depth levels deep.
func appendIndent(b []byte, depth int) []byte {
	b = append(b, '\n')
	for range depth {
		b = append(b, "  "...)
	}
	return b
}

// appendJSONString appends s quoted. Printable ASCII without the
// characters encoding/json escapes (" \ < > &) is copied; any other string
// is left to encoding/json, whose escaping (HTML-safe, invalid UTF-8
// replaced, U+2028 and U+2029) this must match.
func appendJSONString(b []byte, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			return append(b, q...), err
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), nil
}
