package tocsin

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// ellipsis marks a cut made by Truncate and TruncateBytes.
const ellipsis = "…"

// Truncate shortens s to at most n characters (runes), ending with "…"
// when it cuts. A bound of 0 or less gives "".
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	return string([]rune(s)[:n-1]) + ellipsis
}

// TruncateBytes shortens s to at most n bytes on a character boundary,
// ending with "…" when it cuts, for APIs that bound a text in bytes. A
// bound too small for the mark gives "".
func TruncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len(ellipsis)
	if cut < 0 {
		return ""
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// MustJSON encodes v, a value of our own types that always encodes, as a
// job's or an event's JSON payload. It panics when v does not encode,
// since that is a programming error that must not become an empty payload.
func MustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T as JSON: %v", v, err))
	}
	return b
}
