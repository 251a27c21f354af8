package ingest

import (
	"encoding/json"
	"maps"
	"testing"
)

// FuzzScanLabels checks the one-pass label reader against encoding/json
// on every valid JSON object: the same labels, or a fallback.
func FuzzScanLabels(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":"b"}`, `{"a":1,"b":true,"c":null,"d":{"x":[1,"]"]},"e":[{"}":"{"}]}`,
		`{"a":"x","a":null}`, `{"a":null,"a":"y"}`, `{"k\u00e9y":"v\"al\\ue"}`, "{\"a\":\"\xff\"}", ` { "a" : "b" , "c" : 2.5e3 } `,
		`{"a":"","":"b"}`, `{"esc\/":"\/"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var probe map[string]json.RawMessage
		if json.Unmarshal(b, &probe) != nil || probe == nil {
			return // not an object: encoding/json never hands it to the reader
		}
		want, err := decodeLabels(b)
		if err != nil {
			t.Fatalf("decodeLabels(%q): %v", b, err)
		}
		got, ok := scanLabels(b)
		if ok && !maps.Equal(got, want) {
			t.Fatalf("scanLabels(%q) = %v; encoding/json reads %v", b, got, want)
		}
		var l labelSet
		if err := l.UnmarshalJSON(b); err != nil || !maps.Equal(l, want) {
			t.Fatalf("UnmarshalJSON(%q) = %v, %v; want %v", b, l, err, want)
		}
	})
}

// TestTextFastPath checks text's reading of strings against encoding/json.
func TestTextFastPath(t *testing.T) {
	for _, s := range []string{`"plain"`, `"  padded "`, `"esc\"aped\n"`, "\"bad \xff utf8\"", `"\u00e9"`, `""`} {
		var want string
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatal(err)
		}
		var got text
		if err := got.UnmarshalJSON([]byte(s)); err != nil || string(got) != want {
			t.Errorf("text(%s) = %q, %v; want %q", s, got, err, want)
		}
	}
}
