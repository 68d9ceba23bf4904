package armjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vpngw/vpngw/internal/armerr"
)

// checkWellFormed is Decode's pre-pass over the raw body: it refuses
// what encoding/json would silently accept or alter, naming the field:
//
//   - bytes that are not UTF-8, and \u escapes of lone surrogates
//     (encoding/json turns both into U+FFFD);
//   - NUL characters (\u0000) in names and values;
//   - a property given twice in one object, also in two spellings that
//     differ only in case ("Location" and "location"): encoding/json keeps
//     the last, and property names match case-insensitively.
//
// Syntax errors are left to the decoder that follows.
func checkWellFormed(data []byte) *armerr.Error {
	if utf8.Valid(data) && !bytes.Contains(data, []byte(`\u`)) && !bytes.Contains(data, []byte(`\U`)) {
		// No escapes: nothing can decode to NUL or a replaced surrogate;
		// only duplicates remain to check.
		return checkDuplicates(data, false)
	}
	return checkDuplicates(data, true)
}

// frame is one open object or array of the token walk.
type frame struct {
	path   string
	array  bool
	index  int             // next element's index (arrays)
	key    string          // the current property (objects)
	wantKV bool            // the next string token is a property name
	seen   map[string]bool // folded property names (objects)
}

func (f *frame) elemPath() string {
	if f.array {
		return fmt.Sprintf("%s[%d]", f.path, f.index)
	}
	return joinPath(f.path, f.key)
}

func checkDuplicates(data []byte, checkStrings bool) *armerr.Error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*frame
	prev := int64(0)
	valueDone := func() {
		if n := len(stack); n > 0 {
			top := stack[n-1]
			if top.array {
				top.index++
			} else {
				top.wantKV = true
			}
		}
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // a syntax error: the decoder reports it
		}
		off := dec.InputOffset()
		raw := data[prev:off]
		prev = off
		var top *frame
		if n := len(stack); n > 0 {
			top = stack[n-1]
		}
		path := ""
		if top != nil {
			path = top.elemPath()
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, &frame{path: path, wantKV: true, seen: map[string]bool{}})
			case '[':
				stack = append(stack, &frame{path: path, array: true})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
			continue
		case string:
			isKey := top != nil && !top.array && top.wantKV
			target := path
			if isKey {
				target = joinPath(top.path, t)
			}
			if checkStrings {
				if e := checkString(t, raw, target, isKey); e != nil {
					return e
				}
			}
			if isKey {
				k := FoldName(t)
				if top.seen[k] {
					return armerr.Errorf(armerr.CodeInvalidRequestContent, target,
						"Property '%s' is given twice in %s (names compare case-insensitively); give each property once.", t, pathName(top.path))
				}
				top.seen[k] = true
				top.key, top.wantKV = t, false
				continue
			}
		}
		valueDone()
	}
}

// checkString refuses a decoded string s whose raw JSON text was not UTF-8,
// held a lone surrogate, or holds NUL.
func checkString(s string, raw []byte, target string, isKey bool) *armerr.Error {
	what := "The value of " + pathName(target)
	if isKey {
		what = "The property name at " + pathName(target)
	}
	if !utf8.Valid(raw) {
		return armerr.Errorf(armerr.CodeInvalidRequestContent, target, "%s is not valid UTF-8.", what)
	}
	if strings.ContainsRune(s, utf8.RuneError) && !bytes.Contains(raw, []byte("\uFFFD")) &&
		!bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`)) {
		return armerr.Errorf(armerr.CodeInvalidRequestContent, target, "%s holds an escaped lone UTF-16 surrogate, which is not a character.", what)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return armerr.Errorf(armerr.CodeInvalidRequestContent, target, "%s holds a NUL character (\\u0000).", what)
	}
	return nil
}

// FoldName maps property names that encoding/json matches to one another
// (Unicode simple case folding) to one key.
func FoldName(s string) string {
	var b strings.Builder
	for _, r := range s {
		// The smallest rune of r's folding orbit.
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}
