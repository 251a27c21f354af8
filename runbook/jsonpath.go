package runbook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"tocsin"
)

// Path is a compiled JSONPath selector of a step output, the subset AWS's
// documents use: $ the root, .name and ['name'] a member, [n] an element
// (negative counts from the end), [*] and .* every member or element, and
// ..name every member of that name at any depth.
type Path struct {
	text  string
	steps []pathStep
}

// pathStep is one segment of a Path: a member name, an index, a wildcard,
// optionally searched at any depth.
type pathStep struct {
	name     string
	index    int
	isIndex  bool
	wildcard bool
	deep     bool
}

// ParsePath compiles a JSONPath selector such as $.Body.items[0].id. An
// error says where the selector stops making sense.
func ParsePath(s string) (*Path, error) {
	if !strings.HasPrefix(s, "$") {
		return nil, tocsin.Errorf(tocsin.EINVALID, "selector %q must start with $", s)
	}
	p := &Path{text: s}
	rest := s[1:]
	for rest != "" {
		var st pathStep
		var err error
		switch {
		case strings.HasPrefix(rest, ".."):
			st.deep = true
			rest = rest[2:]
			if strings.HasPrefix(rest, "[") {
				st, rest, err = bracket(rest, s)
				st.deep = true
			} else {
				st, rest, err = member(rest, s)
				st.deep = true
			}
		case rest[0] == '.':
			st, rest, err = member(rest[1:], s)
		case rest[0] == '[':
			st, rest, err = bracket(rest, s)
		default:
			err = tocsin.Errorf(tocsin.EINVALID, "selector %q: unexpected %q at %d", s, rest[0], len(s)-len(rest))
		}
		if err != nil {
			return nil, err
		}
		p.steps = append(p.steps, st)
	}
	return p, nil
}

// member reads a dotted member name (or *) at the start of rest.
func member(rest, s string) (pathStep, string, error) {
	end := strings.IndexAny(rest, ".[")
	if end < 0 {
		end = len(rest)
	}
	name := rest[:end]
	if name == "" {
		return pathStep{}, "", tocsin.Errorf(tocsin.EINVALID, "selector %q: a member name is empty", s)
	}
	if name == "*" {
		return pathStep{wildcard: true}, rest[end:], nil
	}
	return pathStep{name: name}, rest[end:], nil
}

// bracket reads [n], [*], ['name'] or ["name"] at the start of rest.
func bracket(rest, s string) (pathStep, string, error) {
	bad := func(why string) (pathStep, string, error) {
		return pathStep{}, "", tocsin.Errorf(tocsin.EINVALID, "selector %q: %s", s, why)
	}
	if len(rest) > 1 && (rest[1] == '\'' || rest[1] == '"') {
		q := rest[1]
		end := strings.IndexByte(rest[2:], q)
		if end < 0 || !strings.HasPrefix(rest[2+end+1:], "]") {
			return bad("an unterminated quoted name")
		}
		return pathStep{name: rest[2 : 2+end]}, rest[2+end+2:], nil
	}
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return bad("a [ without ]")
	}
	in := strings.TrimSpace(rest[1:end])
	if in == "*" {
		return pathStep{wildcard: true}, rest[end+1:], nil
	}
	n, err := strconv.Atoi(in)
	if err != nil {
		return bad(fmt.Sprintf("[%s] is not an index, * or a quoted name", in))
	}
	return pathStep{index: n, isIndex: true}, rest[end+1:], nil
}

// String returns the selector as written.
func (p *Path) String() string { return p.text }

// Definite reports whether the selector names at most one value (no
// wildcard, no ..): its result is that value, not a list of matches.
func (p *Path) Definite() bool {
	for _, st := range p.steps {
		if st.wildcard || st.deep {
			return false
		}
	}
	return true
}

// Select returns the values v holds at the path, in document order (the
// members of an object in the order of their names). v is a decoded JSON
// value: maps of string to any, lists of any, scalars.
func (p *Path) Select(v any) []any {
	cur := []any{v}
	for _, st := range p.steps {
		var next []any
		for _, c := range cur {
			if st.deep {
				next = append(next, descend(c, st)...)
			} else {
				next = append(next, apply(c, st)...)
			}
		}
		cur = next
	}
	return cur
}

// apply is one step on one value.
func apply(v any, st pathStep) []any {
	switch x := v.(type) {
	case map[string]any:
		if st.wildcard {
			var out []any
			for _, k := range sorted(keys(x)) {
				out = append(out, x[k])
			}
			return out
		}
		if st.isIndex {
			return nil
		}
		if e, ok := x[st.name]; ok {
			return []any{e}
		}
	case []any:
		switch {
		case st.wildcard:
			return append([]any(nil), x...)
		case st.isIndex:
			i := st.index
			if i < 0 {
				i += len(x)
			}
			if i >= 0 && i < len(x) {
				return []any{x[i]}
			}
		}
	}
	return nil
}

// descend applies a step to v and to everything below it (..).
func descend(v any, st pathStep) []any {
	out := apply(v, st)
	switch x := v.(type) {
	case map[string]any:
		for _, k := range sorted(keys(x)) {
			out = append(out, descend(x[k], st)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, descend(e, st)...)
		}
	}
	return out
}

// canonical turns an action's result, however its handler built it (Go
// ints, map[string]string headers, json.RawMessage bodies), into the
// plain decoded JSON a Path walks: maps of any, lists of any, strings,
// bools, int64 for whole numbers and float64 for the others.
func canonical(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decode result: %w", err)
	}
	return Plain(out), nil
}

// SelectOutput selects one declared output of a step from its action's
// raw result and types it as the output's Type says. A selector with a
// wildcard or .. gives a StringList or MapList of its matches (none: an
// empty list); any other output takes the one value selected. A selector
// that selects nothing, or a value of the wrong type, is an EINVALID
// error naming the output.
func SelectOutput(o Output, raw any) (any, error) {
	p, err := ParsePath(o.Selector)
	if err != nil {
		return nil, tocsin.Errorf(tocsin.EINVALID, "output %q: %s", o.Name, tocsin.ErrorMessage(err))
	}
	doc, err := canonical(raw)
	if err != nil {
		return nil, tocsin.Errorf(tocsin.EINVALID, "output %q: %v", o.Name, err)
	}
	vals := p.Select(doc)
	var v any
	switch {
	case !p.Definite() && (o.Type == TypeStringList || o.Type == TypeMapList):
		// Every match is an item: none is an empty list.
		v = append([]any{}, vals...)
	case len(vals) == 0:
		return nil, tocsin.Errorf(tocsin.EINVALID, "output %q: %s selects nothing", o.Name, o.Selector)
	case len(vals) == 1:
		v = vals[0]
	default:
		return nil, tocsin.Errorf(tocsin.EINVALID, "output %q: %s selects %d values, a %s is one", o.Name, o.Selector, len(vals), o.Type)
	}
	typed, ok := coerce(o.Type, v)
	if !ok {
		return nil, tocsin.Errorf(tocsin.EINVALID, "output %q: %s is %s, not a %s", o.Name, o.Selector, kindOf(v), o.Type)
	}
	return typed, nil
}

// coerce types a selected value. Scalars become text for a String, and
// text that reads as a whole number or a boolean is accepted for an
// Integer or a Boolean: APIs often quote them.
func coerce(typ string, v any) (any, bool) {
	switch typ {
	case TypeString:
		switch v.(type) {
		case string, int64, float64, bool:
			return textOf(v), true
		}
	case TypeInteger:
		switch x := v.(type) {
		case int64:
			return x, true
		case float64:
			if x == float64(int64(x)) {
				return int64(x), true
			}
		case string:
			if i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
				return i, true
			}
		}
	case TypeBoolean:
		switch x := v.(type) {
		case bool:
			return x, true
		case string:
			if x == "true" || x == "false" {
				return x == "true", true
			}
		}
	case TypeStringList:
		l, ok := v.([]any)
		if !ok {
			return nil, false
		}
		out := make([]any, len(l))
		for i, e := range l {
			s, ok := coerce(TypeString, e)
			if !ok {
				return nil, false
			}
			out[i] = s
		}
		return out, true
	case TypeStringMap:
		if m, ok := v.(map[string]any); ok {
			return m, true
		}
	case TypeMapList:
		l, ok := v.([]any)
		if !ok {
			return nil, false
		}
		for _, e := range l {
			if _, ok := e.(map[string]any); !ok {
				return nil, false
			}
		}
		return l, true
	}
	return nil, false
}

// kindOf names a decoded JSON value's kind for error messages.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case int64, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}
