package armjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/vpngw/vpngw/internal/armerr"
)

// Decode decodes a JSON request body into v (a non-nil pointer),
// rejecting what encoding/json would silently accept: invalid UTF-8, NUL
// characters, properties given twice (also in two spellings differing only
// in case), unknown properties, values of the wrong JSON type, integers
// with a fraction or out of range, and trailing data. Errors are *armerr.Error with Code
// armerr.CodeInvalidRequestContent and a Target naming the full JSON path, such as
// "properties.ipConfigurations[0].properties.foo".
//
// Property names match case-insensitively (preferring an exact match), as
// in encoding/json and ARM; null is accepted anywhere and leaves the Go
// zero value.
func Decode(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("armjson: Decode needs a non-nil pointer, got %T", v)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return armerr.Errorf(armerr.CodeInvalidRequestContent, "", "The request body is empty; a JSON object is required.")
	}
	if e := checkWellFormed(data); e != nil {
		return e
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return syntaxError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return armerr.Errorf(armerr.CodeInvalidRequestContent, "", "The request body has data after the JSON value (at byte %d).", dec.InputOffset())
	}
	if e := checkJSON(raw, rv.Type().Elem(), ""); e != nil {
		return e
	}
	if err := json.Unmarshal(data, v); err != nil {
		// checkJSON accepted the document, so this is a value a custom
		// unmarshaler refused; report it with what encoding/json knows.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return armerr.Errorf(armerr.CodeInvalidRequestContent, te.Field, "Property %s has an invalid value: %v.", te.Field, err)
		}
		return armerr.Errorf(armerr.CodeInvalidRequestContent, "", "The request body could not be decoded: %v.", err)
	}
	return nil
}

func syntaxError(err error) *armerr.Error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return armerr.Errorf(armerr.CodeInvalidRequestContent, "", "The request body is not valid JSON: %v (at byte %d).", se, se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return armerr.Errorf(armerr.CodeInvalidRequestContent, "", "The request body is not valid JSON: it ends too early.")
	}
	return armerr.Errorf(armerr.CodeInvalidRequestContent, "", "The request body is not valid JSON: %v.", err)
}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// checkJSON walks a generic JSON value (decoded with UseNumber) against the
// Go type it will be decoded into.
func checkJSON(raw any, t reflect.Type, path string) *armerr.Error {
	return checkValue(raw, t, path, false)
}

// checkValue is checkJSON; reference means the value is a whole resource
// given where a reference is expected (a field tagged armjson:"reference"):
// its known properties are checked, the others are ignored.
func checkValue(raw any, t reflect.Type, path string, reference bool) *armerr.Error {
	if raw == nil {
		return nil // null: encoding/json leaves the zero value
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(jsonUnmarshalerType) || reflect.PointerTo(t).Implements(jsonUnmarshalerType) {
		return nil // the type decodes itself
	}
	if textDecoded(t) {
		// encoding/json hands a string to UnmarshalText (netip.Addr,
		// netip.Prefix, ...), which then judges the value.
		if _, ok := raw.(string); ok {
			return nil
		}
		return armerr.Errorf(armerr.CodeInvalidRequestContent, path, "Property %s must be a string, not %s.", pathName(path), describeJSON(raw))
	}
	mismatch := func() *armerr.Error {
		return armerr.Errorf(armerr.CodeInvalidRequestContent, path, "Property %s must be %s, not %s.", pathName(path), describeType(t), describeJSON(raw))
	}
	switch t.Kind() {
	case reflect.Interface:
		return nil
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			return mismatch()
		}
		fields := Fields(t)
		for _, key := range sortedKeys(obj) {
			f, ok := lookupField(fields, key)
			if !ok && reference {
				continue // a property of the referenced resource
			}
			if !ok {
				return armerr.Errorf(armerr.CodeInvalidRequestContent, joinPath(path, key),
					"Could not find member '%s' on object of type '%s' at %s: unknown properties are not allowed.",
					key, typeLabel(t), pathName(path))
			}
			if e := checkValue(obj[key], f.Type, joinPath(path, f.Name), f.Reference); e != nil {
				return e
			}
		}
		return nil
	case reflect.Map:
		obj, ok := raw.(map[string]any)
		if !ok {
			return mismatch()
		}
		if t.Key().Kind() != reflect.String && !reflect.PointerTo(t.Key()).Implements(textUnmarshalerType) {
			return nil
		}
		for _, key := range sortedKeys(obj) {
			if e := checkJSON(obj[key], t.Elem(), joinPath(path, key)); e != nil {
				return e
			}
		}
		return nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			if _, ok := raw.(string); ok {
				return nil // []byte is base64 text
			}
		}
		arr, ok := raw.([]any)
		if !ok {
			return mismatch()
		}
		if t.Kind() == reflect.Array && len(arr) > t.Len() {
			return armerr.Errorf(armerr.CodeInvalidRequestContent, path, "Property %s has at most %d elements.", pathName(path), t.Len())
		}
		for i, el := range arr {
			if e := checkJSON(el, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); e != nil {
				return e
			}
		}
		return nil
	case reflect.String:
		if _, ok := raw.(string); !ok {
			return mismatch()
		}
		return nil
	case reflect.Bool:
		if _, ok := raw.(bool); !ok {
			return mismatch()
		}
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := raw.(json.Number)
		if !ok {
			return mismatch()
		}
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			return numberError(path, n, t, err)
		}
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, ok := raw.(json.Number)
		if !ok {
			return mismatch()
		}
		if _, err := strconv.ParseUint(string(n), 10, t.Bits()); err != nil {
			if strings.HasPrefix(string(n), "-") {
				return armerr.Errorf(armerr.CodeInvalidRequestContent, path, "Property %s must not be negative, got %s.", pathName(path), n)
			}
			return numberError(path, n, t, err)
		}
		return nil
	case reflect.Float32, reflect.Float64:
		n, ok := raw.(json.Number)
		if !ok {
			return mismatch()
		}
		if _, err := strconv.ParseFloat(string(n), t.Bits()); err != nil {
			return armerr.Errorf(armerr.CodeInvalidRequestContent, path, "Property %s: %s is out of range.", pathName(path), n)
		}
		return nil
	}
	return armerr.Errorf(armerr.CodeInvalidRequestContent, path, "Property %s cannot be decoded.", pathName(path))
}

func numberError(path string, n json.Number, t reflect.Type, err error) *armerr.Error {
	if errors.Is(err, strconv.ErrRange) {
		return armerr.Errorf(armerr.CodeInvalidRequestContent, path, "Property %s: %s is out of range for %s.", pathName(path), n, describeType(t))
	}
	return armerr.Errorf(armerr.CodeInvalidRequestContent, path, "Property %s must be an integer, not %s.", pathName(path), n)
}

// Field is one JSON property of a struct type.
type Field struct {
	// Name is the property's name: the json tag's, else the Go field's.
	Name string
	// Type is the Go type its value decodes into.
	Type reflect.Type
	// Reference is set by the struct tag armjson:"reference": the value
	// refers to another resource (a struct with its id), and clients may
	// send that whole resource, as GET returned it, in its place (the Azure
	// SDKs do for a connection's gateways). Its known properties are
	// checked and decoded; the others are ignored, though the whole body
	// must still be well-formed (UTF-8, no NUL, no duplicate names).
	Reference bool
}

// Fields lists the JSON properties of a struct type the way encoding/json
// sees them: tagged names, promoted fields of untagged embedded structs
// (shallower fields win), "-" and unexported fields skipped.
func Fields(t reflect.Type) []Field {
	var out []Field
	seen := map[string]bool{}
	current := []reflect.Type{t}
	for len(current) > 0 {
		var next []reflect.Type
		var found []Field
		for _, lt := range current {
			for i := 0; i < lt.NumField(); i++ {
				sf := lt.Field(i)
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, _, _ := strings.Cut(tag, ",")
				if sf.Anonymous && name == "" {
					ft := sf.Type
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if ft.Kind() == reflect.Struct {
						next = append(next, ft)
						continue
					}
				}
				if !sf.IsExported() {
					continue
				}
				if name == "" {
					name = sf.Name
				}
				found = append(found, Field{Name: name, Type: sf.Type, Reference: sf.Tag.Get("armjson") == "reference"})
			}
		}
		for _, f := range found {
			if !seen[f.Name] {
				seen[f.Name] = true
				out = append(out, f)
			}
		}
		current = next
	}
	return out
}

func lookupField(fields []Field, key string) (Field, bool) {
	for _, f := range fields {
		if f.Name == key {
			return f, true
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.Name, key) {
			return f, true
		}
	}
	return Field{}, false
}

// sortedKeys makes errors deterministic: the first offending key in sorted
// order is reported.
func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func pathName(path string) string {
	if path == "" {
		return "(the request body)"
	}
	return "'" + path + "'"
}

// textDecoded reports whether encoding/json decodes a JSON string into t
// with encoding.TextUnmarshaler.
func textDecoded(t reflect.Type) bool {
	return t.Implements(textUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType)
}

func typeLabel(t reflect.Type) string {
	if t.Name() != "" {
		return t.Name()
	}
	return t.String()
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return fmt.Sprintf("an integer (%d-bit)", t.Bits())
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}

func describeJSON(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return fmt.Sprintf("the string %q", v)
	case bool:
		return fmt.Sprintf("the boolean %t", v)
	case json.Number:
		return "the number " + string(v)
	}
	return "null"
}
