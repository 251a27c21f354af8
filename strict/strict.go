// Package strict decodes our own JSON and YAML — API bodies, the
// configuration file, `tocsin apply` documents — strictly into Go structs.
// Where the input does not fit the struct it reports every unknown key and
// every value of the wrong type, each with its path (`channels[1].address`)
// and, for YAML, its line, which neither encoding/json nor yaml.v3 does.
//
// Third-party payloads are decoded leniently elsewhere (ingest); this
// package is for input whose shape we define.
package strict

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// UnknownKey and UnknownField are the Msg of a Problem for a key that
// matches no field, in YAML's and in JSON's words.
const (
	UnknownKey   = "unknown key"
	UnknownField = "unknown field"
)

// Problem is one key or value that does not fit the struct.
type Problem struct {
	// Path names the key: `alert.slack.token`, `stages[0].duration`; ""
	// is the whole document.
	Path string
	// Line is the line of the key or value in a YAML document, 0 in JSON.
	Line int
	// Msg says what is wrong: UnknownKey, `"abc" is not a valid integer`.
	Msg string
	// Hint, when set, names a known key the input probably meant:
	// `did you mean "token"?`.
	Hint string
}

// Error reads like `alert.slack.tokn: unknown key (line 6); did you mean "token"?`.
func (p Problem) Error() string {
	var b strings.Builder
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	if p.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", p.Line)
	}
	if p.Hint != "" {
		b.WriteString("; " + p.Hint)
	}
	return b.String()
}

// Problems are every problem found in one document, in document order.
type Problems []Problem

// Error joins the problems with "; ".
func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Error()
	}
	return strings.Join(s, "; ")
}

// Options change how YAML values are read.
type Options struct {
	// Coerce gives every scalar its field's type whatever its YAML tag, as
	// Versus (viper) does: a quoted or ${VAR}-expanded "587" in an integer
	// field is the number 587. An empty value in a field that is not text
	// (an unset variable) is absent, so the field keeps what it had.
	Coerce bool
	// Text rewrites, before it is decoded, the text of a scalar whose
	// field has one of these types, or says why it is not valid (the
	// configuration takes a number of seconds as a duration).
	Text map[reflect.Type]func(string) (string, error)
}

// YAML decodes the YAML node n (a document's root mapping) into v, a
// pointer to a struct, strictly: keys match the fields' yaml tags (or
// lower-cased names), and every unknown or repeated key and every value
// that does not fit its field is a Problem with its path and line. v holds
// what could be decoded all the same, so a caller can check it further and
// report everything at once. With Options.Coerce, n is rewritten in place
// to hold each value in its field's type.
func YAML(n *yaml.Node, v any, opts Options) Problems {
	w := walker{yaml: true, opts: opts}
	w.walk(n, reflect.TypeOf(v), "")
	err := decode(n, v)
	if len(w.probs) > 0 || err == nil {
		return w.probs
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return Problems{{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	probs := make(Problems, len(te.Errors))
	for i, e := range te.Errors {
		probs[i] = Problem{Msg: e}
	}
	return probs
}

// JSON decodes data, one JSON value, into v as encoding/json does with
// DisallowUnknownFields (keys match field names case-insensitively). When
// the value does not fit v, the error is Problems naming every unknown
// field and value of the wrong type with its path; a syntax error is
// encoding/json's. Data after the value is a Problem too.
func JSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
			return err
		}
		// JSON is YAML, so the same walk names the field; should the YAML
		// parser disagree (a repeated key), encoding/json's error stands.
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
			return err
		}
		w := walker{}
		w.walk(doc.Content[0], reflect.TypeOf(v), "")
		if len(w.probs) > 0 {
			return w.probs
		}
		return err
	}
	if dec.More() {
		return Problems{{Msg: "trailing data after the object"}}
	}
	return nil
}

// decode decodes n into v. yaml.v3 panics on some inputs instead of
// returning an error (a merge key whose value is a mapping used as a key,
// found by config's FuzzParse); a file we read must never crash tocsin, so
// such a panic is the document's problem.
func decode(n *yaml.Node, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML cannot be decoded (check merge keys `<<` and anchors): %v", r)
		}
	}()
	return n.Decode(v)
}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	yamlUnmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	timeType            = reflect.TypeFor[time.Time]()
)

// walker walks a node tree beside the Go type it is decoded into. JSON
// input arrives as YAML nodes too (JSON is YAML); yaml says which rules
// apply: YAML's keys and tags, or encoding/json's.
type walker struct {
	yaml  bool
	opts  Options
	probs Problems
}

func (w *walker) add(path string, n *yaml.Node, format string, args ...any) {
	p := Problem{Path: path, Msg: fmt.Sprintf(format, args...)}
	if w.yaml {
		p.Line = n.Line
	}
	w.probs = append(w.probs, p)
}

// bad reports value n and makes it null, so that decoding what is left
// keeps the field as it was and carries on to the other fields (yaml.v3
// stops at the first value an unmarshaler rejects).
func (w *walker) bad(path string, n *yaml.Node, format string, args ...any) {
	w.add(path, n, format, args...)
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if w.opts.Coerce && n.Kind == yaml.ScalarNode && strings.TrimSpace(n.Value) == "" && !isText(t) {
		// An unset variable in a list: absent, as in a mapping (dropEmpty).
		n.Tag, n.Style, n.Value = "!!null", 0, ""
		return
	}
	if conv, ok := w.opts.Text[t]; ok && n.Kind == yaml.ScalarNode {
		text, err := conv(strings.TrimSpace(n.Value))
		if err != nil {
			w.bad(path, n, "%s", err)
			return
		}
		n.Tag, n.Style, n.Value = "!!str", 0, text
	}
	if w.unmarshaler(n, t, path) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		w.object(n, t, path)
	case reflect.Map:
		if !w.isMapping(n, path) {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.walk(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))
		}
		w.dropEmpty(n, func(int) reflect.Type { return t.Elem() })
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			w.bad(path, n, "must be a list")
			return
		}
		for i, e := range n.Content {
			w.walk(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.String, reflect.Bool, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		w.scalar(n, t, path)
	}
}

// unmarshaler checks a value whose type decodes itself (a time, a
// duration) by decoding it into a fresh value; it reports whether t is such
// a type.
func (w *walker) unmarshaler(n *yaml.Node, t reflect.Type, path string) bool {
	pt := reflect.PointerTo(t)
	var err error
	switch {
	case t == timeType:
		if _, perr := time.Parse(time.RFC3339, n.Value); n.Kind != yaml.ScalarNode || perr != nil {
			w.bad(path, n, "%q is not an RFC 3339 time like 2026-03-02T09:00:00+01:00", n.Value)
		}
		return true
	case !w.yaml && (pt.Implements(jsonUnmarshalerType) || pt.Implements(textUnmarshalerType)):
		var v any
		if err = decode(n, &v); err == nil {
			b, _ := json.Marshal(v)
			err = json.Unmarshal(b, reflect.New(t).Interface())
		}
	case w.yaml && pt.Implements(yamlUnmarshalerType):
		err = decode(n, reflect.New(t).Interface())
	case w.yaml && pt.Implements(textUnmarshalerType):
		if n.Kind != yaml.ScalarNode {
			w.bad(path, n, "must be a single value")
			return true
		}
		err = reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value))
	default:
		return false
	}
	var te *json.UnmarshalTypeError
	var ye *yaml.TypeError
	switch {
	case err == nil:
	case errors.As(err, &te):
		w.bad(path, n, "must be %s, not %s", te.Type, te.Value)
	case errors.As(err, &ye):
		msgs := make([]string, len(ye.Errors))
		for i, e := range ye.Errors {
			msgs[i] = stripLine(e)
		}
		w.bad(path, n, "%s", strings.Join(msgs, "; "))
	default:
		w.bad(path, n, "%s", err)
	}
	return true
}

// object checks a mapping against struct type t.
func (w *walker) object(n *yaml.Node, t reflect.Type, path string) {
	if !w.isMapping(n, path) {
		return
	}
	fields := w.fields(t, nil)
	seen := map[string]bool{}
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		p := join(path, k.Value)
		if w.yaml && seen[k.Value] {
			// Dropped, or yaml.v3 would stop decoding at it.
			w.add(p, k, "key is repeated")
			continue
		}
		seen[k.Value] = true
		kept = append(kept, k, n.Content[i+1])
		ft, ok := w.field(fields, k.Value)
		if !ok {
			w.unknown(p, k, k.Value, fields)
			continue
		}
		w.walk(n.Content[i+1], ft, p)
	}
	n.Content = kept
	w.dropEmpty(n, func(i int) reflect.Type {
		ft, _ := w.field(fields, n.Content[i].Value)
		return ft
	})
}

func (w *walker) isMapping(n *yaml.Node, path string) bool {
	if n.Kind == yaml.MappingNode {
		return true
	}
	if w.yaml {
		w.bad(path, n, "must be a mapping")
	} else {
		w.bad(path, n, "must be an object")
	}
	return false
}

// field finds the field a key names: exactly, or in JSON (as encoding/json
// does) ignoring case.
func (w *walker) field(fields map[string]reflect.Type, key string) (reflect.Type, bool) {
	if ft, ok := fields[key]; ok {
		return ft, true
	}
	if !w.yaml {
		for name, ft := range fields {
			if strings.EqualFold(name, key) {
				return ft, true
			}
		}
	}
	return nil, false
}

// unknown reports key, naming a known key that differs only slightly.
func (w *walker) unknown(path string, k *yaml.Node, key string, fields map[string]reflect.Type) {
	msg := UnknownKey
	if !w.yaml {
		msg = UnknownField
	}
	w.add(path, k, "%s", msg)
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.EqualFold(strings.ReplaceAll(name, "_", ""), strings.ReplaceAll(key, "_", "")) || levenshtein(name, key) <= 2 {
			w.probs[len(w.probs)-1].Hint = fmt.Sprintf("did you mean %q?", name)
			return
		}
	}
}

// fields maps the keys of t's fields to their types: yaml tags (or the
// lower-cased name) with ",inline" structs flattened, or json tags (or the
// field name) with untagged embedded structs flattened.
func (w *walker) fields(t reflect.Type, into map[string]reflect.Type) map[string]reflect.Type {
	if into == nil {
		into = map[string]reflect.Type{}
	}
	tagKey := "json"
	if w.yaml {
		tagKey = "yaml"
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get(tagKey)
		name, opts, _ := strings.Cut(tag, ",")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		inline := w.yaml && strings.Contains(opts, "inline") ||
			!w.yaml && f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct
		switch {
		case inline:
			w.fields(f.Type, into)
			continue
		case !f.IsExported():
			continue
		case name == "" && w.yaml:
			name = strings.ToLower(f.Name)
		case name == "":
			name = f.Name
		}
		into[name] = f.Type
	}
	return into
}

// dropEmpty removes, with Options.Coerce, the pairs of mapping n whose
// value is empty (an unset ${VAR}, "" or null) where the field is not text:
// such a key is absent, so a default stays and a map gets no zero entry.
// typeOf gives the field type of the pair whose key is at index i (nil: an
// unknown key).
func (w *walker) dropEmpty(n *yaml.Node, typeOf func(i int) reflect.Type) {
	if !w.opts.Coerce {
		return
	}
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		v := n.Content[i+1]
		if t := typeOf(i); t != nil && v.Kind == yaml.ScalarNode && strings.TrimSpace(v.Value) == "" && !isText(t) {
			continue
		}
		kept = append(kept, n.Content[i], v)
	}
	n.Content = kept
}

// isText reports whether t (under its pointers) holds text, so an empty
// value is a value and not an absent one.
func isText(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.String || t.Kind() == reflect.Interface
}

// noun names what a scalar of kind k must be.
func noun(k reflect.Kind) string {
	switch {
	case k == reflect.String:
		return "string"
	case k == reflect.Bool:
		return "boolean (true or false)"
	case k == reflect.Float32 || k == reflect.Float64:
		return "number"
	}
	return "integer"
}

// scalar checks a value for a string, boolean or number field. JSON's
// value must have the field's JSON type; YAML's must be what yaml.v3
// decodes into the field; with Options.Coerce its text must parse as the
// field's type, and it is rewritten in that type's canonical form and tag
// so the decoder takes it whether it was quoted, expanded or plain.
func (w *walker) scalar(n *yaml.Node, t reflect.Type, path string) {
	k := t.Kind()
	article := "a "
	if k != reflect.String && k != reflect.Bool && k != reflect.Float32 && k != reflect.Float64 {
		article = "an "
	}
	if n.Kind != yaml.ScalarNode {
		w.bad(path, n, "must be %s%s", article, noun(k))
		return
	}
	switch {
	case !w.yaml:
		if !jsonFits(n, k) {
			w.bad(path, n, "must be %s%s", article, noun(k))
		}
	case w.opts.Coerce:
		if !coerce(n, t) {
			w.bad(path, n, "%q is not a valid %s", n.Value, noun(k))
		}
	case k != reflect.String:
		if decode(n, reflect.New(t).Interface()) != nil {
			w.bad(path, n, "%q is not a valid %s", n.Value, noun(k))
		}
	}
}

// jsonFits reports whether a JSON scalar (as YAML resolved it) has the
// JSON type encoding/json decodes into kind k.
func jsonFits(n *yaml.Node, k reflect.Kind) bool {
	switch k {
	case reflect.String:
		return n.Tag == "!!str"
	case reflect.Bool:
		return n.Tag == "!!bool"
	case reflect.Float32, reflect.Float64:
		return n.Tag == "!!int" || n.Tag == "!!float"
	}
	return n.Tag == "!!int" && !strings.ContainsAny(n.Value, ".eE")
}

// coerce rewrites scalar n as a value of t's kind, reporting whether its
// text parses as one.
func coerce(n *yaml.Node, t reflect.Type) bool {
	v := strings.TrimSpace(n.Value)
	set := func(tag, value string) { n.Tag, n.Style, n.Value = tag, 0, value }
	switch k := t.Kind(); {
	case k == reflect.String:
	case k == reflect.Bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false
		}
		set("!!bool", strconv.FormatBool(b))
	case k == reflect.Float32 || k == reflect.Float64:
		f, err := strconv.ParseFloat(strings.ReplaceAll(v, "_", ""), t.Bits())
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
		set("!!float", strconv.FormatFloat(f, 'g', -1, 64))
	case k >= reflect.Uint && k <= reflect.Uint64:
		u, err := strconv.ParseUint(strings.ReplaceAll(v, "_", ""), 0, t.Bits())
		if err != nil {
			return false
		}
		set("!!int", strconv.FormatUint(u, 10))
	default:
		i, err := strconv.ParseInt(strings.ReplaceAll(v, "_", ""), 0, t.Bits())
		if err != nil {
			return false
		}
		set("!!int", strconv.FormatInt(i, 10))
	}
	return true
}

// stripLine drops yaml.v3's "line N: " prefix, the line being reported
// apart.
func stripLine(e string) string {
	if rest, ok := strings.CutPrefix(e, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if _, err := strconv.Atoi(rest[:i]); err == nil {
				return rest[i+2:]
			}
		}
	}
	return e
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
