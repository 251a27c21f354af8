package tocsin

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 5, "hello"},
		{"hello", 4, "hel…"},
		{"héllo wörld", 3, "hé…"},
		{"hello", 1, "…"},
		{"hello", 0, ""},
		{"hello", -1, ""},
		{"", 0, ""},
	} {
		if got := Truncate(tc.s, tc.n); got != tc.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestTruncateBytes(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 5, "hello"},
		{"hello", 4, "h…"},
		{"ééé", 6, "ééé"},
		// 5 bytes leave 2 for text: "é" fits, a half "é" does not.
		{"ééé", 5, "é…"},
		{"ééé", 4, "…"},
		{"hello", 2, ""},
	} {
		got := TruncateBytes(tc.s, tc.n)
		if got != tc.want {
			t.Errorf("TruncateBytes(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
		if len(got) > tc.n || !utf8.ValidString(got) {
			t.Errorf("TruncateBytes(%q, %d) = %q: longer than the bound or not UTF-8", tc.s, tc.n, got)
		}
	}
}

func TestMustJSON(t *testing.T) {
	if got := string(MustJSON(map[string]int{"a": 1})); got != `{"a":1}` {
		t.Errorf("MustJSON = %s", got)
	}
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "float64") {
			t.Errorf("MustJSON(NaN) did not panic naming the type: %v", r)
		}
	}()
	MustJSON(math.NaN())
}
