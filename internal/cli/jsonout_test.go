package cli

import (
	"bytes"
	"encoding/json"
	"testing"
)

// jsonOutSeeds are documents whose printing must match MarshalIndent:
// escapes, empty and nested containers, numbers, a resource.
var jsonOutSeeds = []string{
	`null`, `true`, `"plain"`, `12.50`, `-0`, `1e400`, `[]`, `{}`, `[[],{},[{}]]`,
	`{"b":1,"a":{"z":[1,"x",null,false],"y":{}},"A":"<tag> & \"q\" \\ \/"}`,
	`{"ctl":"\u0000\u001f\b\f\n\r\t","uni":"é ☃ 𝄞 \u2028\u2029","bad":"\udc00"}`,
	`{"id":"/subscriptions/s/resourceGroups/RG/providers/Microsoft.Network/connections/c","properties":{"connectionStatus":"Connected","ingressBytesTransferred":123,"sharedKey":"k","tunnelConnectionStatus":[{"tunnel":"t","connectionStatus":"Connected"}]}}`,
}

// FuzzAppendJSON: for any JSON document, decoded as the CLI decodes it
// (with and without azShape), appendJSON writes what MarshalIndent writes.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range jsonOutSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte("\"\xff\xfe invalid UTF-8\""))
	f.Fuzz(func(t *testing.T, doc []byte) {
		v, err := decodeOutput(doc)
		if err != nil {
			return
		}
		shaped, _ := decodeOutput(doc) // azShape rewrites its argument
		for _, val := range []any{v, azShape(shaped, true)} {
			want, wantErr := json.MarshalIndent(val, "", "  ")
			got, gotErr := appendJSON(nil, val, 0)
			if (wantErr != nil) != (gotErr != nil) {
				t.Fatalf("%q: error %v, MarshalIndent's %v", doc, gotErr, wantErr)
			}
			if wantErr == nil && !bytes.Equal(got, want) {
				t.Fatalf("%q:\n got %s\nwant %s", doc, got, want)
			}
		}
	})
}

// TestAppendJSONValues: values commands build themselves (typed maps,
// slices, structs, *ordered from a query) nested in decoded ones print as
// MarshalIndent prints them.
func TestAppendJSONValues(t *testing.T) {
	tests := []any{
		map[string]any{"s": []string{"a", "<b>"}, "m": map[string]string{"k": "v"}, "n": 3, "f": 2.5},
		[]any{struct {
			A string `json:"a"`
			B []int  `json:"b,omitempty"`
		}{A: "x"}, &ordered{keys: []string{"z", "a"}, m: map[string]any{"z": []any{}, "a": map[string]any{"q": json.Number("1")}}}},
		map[string]any{"nilMap": map[string]any(nil), "nilList": []any(nil), "empty": map[string]any{}},
	}
	for _, v := range tests {
		want, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendJSON(nil, v, 0)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%#v: %v\n got %s\nwant %s", v, err, got, want)
		}
	}
}
