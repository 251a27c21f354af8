package ingest

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// The intake decodes every alert's labels and annotations, so their
// decoding is its JSON hot path. encoding/json hands an Unmarshaler bytes
// it has already checked are one valid JSON value; the helpers here walk
// such bytes once, without reflection or a map of raw values, and fall
// back to encoding/json for anything unusual (escapes, invalid UTF-8) so
// the result is always what encoding/json would give.

// skipSpace returns the index of the first non-space byte of b from i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// stringEnd returns the index just after the JSON string starting at
// b[i] (a quote); ok is false when it does not end.
func stringEnd(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// valueEnd returns the index just after the JSON value starting at b[i].
func valueEnd(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := stringEnd(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for ; j < len(b); j++ {
		if c := b[j]; c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			break
		}
	}
	return j, j > i
}

// eachMember calls fn with the raw key and value of each member of the
// JSON object b, in order. It reports false, having perhaps called fn for
// some members, when b is not an object it can walk.
func eachMember(b []byte, fn func(key, value []byte)) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	for i++; ; {
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case '}':
			return skipSpace(b, i+1) == len(b)
		case ',':
			i++
			continue
		case '"':
		default:
			return false
		}
		kEnd, ok := stringEnd(b, i)
		if !ok {
			return false
		}
		key := b[i:kEnd]
		if i = skipSpace(b, kEnd); i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		vEnd, ok := valueEnd(b, i)
		if !ok {
			return false
		}
		fn(key, b[i:vEnd])
		i = vEnd
	}
}

// unquote returns the text of the JSON string token tok (quotes
// included). Without escapes and in valid UTF-8 it is the bytes between
// the quotes; otherwise encoding/json decodes it (escapes, and invalid
// UTF-8 replaced by U+FFFD).
func unquote(tok []byte) (string, bool) {
	if len(tok) >= 2 && tok[0] == '"' && tok[len(tok)-1] == '"' {
		inner := tok[1 : len(tok)-1]
		if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			return string(inner), true
		}
	}
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return "", false
	}
	return s, true
}
