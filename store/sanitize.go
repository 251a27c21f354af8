package store

import (
	"bytes"
	"database/sql"
	"strings"
	"unicode/utf8"

	"tocsin"
)

// validText returns s as text both databases store alike: invalid UTF-8
// and NUL (PostgreSQL refuses both with SQLSTATE 22021, SQLite keeps
// them) become U+FFFD.
func validText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// validArgs applies validText to a statement's text arguments. Every
// statement of a write transaction goes through it, so whatever reaches
// the store — an alert, a note, a contact's name — is stored the same way
// on SQLite and PostgreSQL, and lookups by such a value find what was
// stored. The slice is copied only when something changes.
func validArgs(args []any) []any {
	var out []any
	for i, a := range args {
		var v any
		switch x := a.(type) {
		case string:
			if c := validText(x); c != x {
				v = c
			}
		case sql.NullString:
			if c := validText(x.String); c != x.String {
				v = sql.NullString{String: c, Valid: x.Valid}
			}
		}
		if v == nil {
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		out[i] = v
	}
	if out == nil {
		return args
	}
	return out
}

// validAlert makes every text of an alert valid before it is stored,
// label and annotation keys and the raw payload included: a sender's
// alert is never refused over its encoding. (Statement arguments are
// checked too, but labels are stored as JSON, whose \u0000 escapes would
// come back as NUL.)
func validAlert(a *tocsin.Alert) {
	for _, p := range []*string{&a.Source, &a.DedupKey, &a.Fingerprint, &a.Status, &a.Severity, &a.Title, &a.Description} {
		*p = validText(*p)
	}
	a.Labels = validMap(a.Labels)
	a.Annotations = validMap(a.Annotations)
	for i := range a.Links {
		a.Links[i].Text, a.Links[i].URL = validText(a.Links[i].Text), validText(a.Links[i].URL)
	}
	if !utf8.Valid(a.Raw) || bytes.IndexByte(a.Raw, 0) >= 0 {
		a.Raw = bytes.ReplaceAll(bytes.ToValidUTF8(a.Raw, []byte("\uFFFD")), []byte{0}, []byte("\uFFFD"))
	}
}

// validMap returns m with valid keys and values (m itself when it is).
func validMap(m map[string]string) map[string]string {
	clean := true
	for k, v := range m {
		if validText(k) != k || validText(v) != v {
			clean = false
			break
		}
	}
	if clean {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[validText(k)] = validText(v)
	}
	return out
}
