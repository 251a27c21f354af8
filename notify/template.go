package notify

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	htemplate "html/template"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	ttemplate "text/template"
	"time"
	"unicode/utf8"

	"github.com/Masterminds/sprig/v3"

	"tocsin"
)

//go:embed templates/*
var defaultTemplates embed.FS

const (
	// maxTemplateSize bounds a user's template file.
	maxTemplateSize = 1 << 20
	// maxRenderSize bounds one rendered message, so a runaway template
	// cannot exhaust memory.
	maxRenderSize = 1 << 20
	// maxIncludeDepth bounds nested include calls (a template including
	// itself would otherwise overflow the stack).
	maxIncludeDepth = 1000
)

// Template renders a Message with text/template (or html/template for email
// HTML) and a function set made of:
//
//   - sprig's functions, minus those that read the process environment, the
//     filesystem or the network (env, expandenv, getHostByName);
//   - Versus Incident's functions that sprig lacks (replaceAll, escapeHTML,
//     formatTime, format, stringSlice, truncate, include), so Versus users'
//     templates keep working. Versus's env exists but always returns "":
//     templates never see the process environment;
//   - lenient eq, ne, lt, le, gt, ge, len and index that, like Versus's,
//     do not fail on JSON numbers against integer literals or on missing
//     fields, and a dict whose result has Versus's .Set method;
//   - sprig's date functions (date, dateInZone, htmlDate, ago, dateModify,
//     unixEpoch, …) that also read the payload's string times (RFC 3339
//     and other common forms) and JSON numbers, where sprig prints the
//     current time; see toTime;
//   - join in either argument order (sprig's `join sep list` and Versus's
//     `join list sep`);
//   - tocsin's helpers for the default templates: impactName, mrkdwn and
//     mrkdwnLink.
//
// Where sprig and Versus disagree on a function's argument order (contains,
// default, replace, trimPrefix, trimSuffix, split), sprig's order is used.
//
// A Template is parsed once and safe for concurrent use.
type Template struct {
	name  string
	text  *ttemplate.Template
	html  *htemplate.Template
	depth atomic.Int32
	// builtin is set on tocsin's own templates (notify/templates/), whose
	// data Render may shorten to fit a channel's limit.
	builtin bool
	// fallback is the built-in template a user's template is replaced by
	// for a message it fails to render.
	fallback *Template
}

// NewTemplate parses the user's template file when path != "" (read once,
// here), else the embedded default template defaultName (a file in
// notify/templates/). html selects html/template, for email bodies. A
// user's template falls back to the default for a message it fails to
// render (see Execute).
func NewTemplate(defaultName, path string, html bool) (*Template, error) {
	if path == "" {
		return builtinTemplate(defaultName, html)
	}
	src, err := readLimited(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	return ParseTemplateWithDefault(defaultName, filepath.Base(path), string(src), html)
}

// builtinTemplate parses the embedded template name.
func builtinTemplate(name string, html bool) (*Template, error) {
	src, err := defaultTemplates.ReadFile("templates/" + name)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	t, err := ParseTemplate(name, string(src), html)
	if err != nil {
		return nil, err
	}
	t.builtin = true
	return t, nil
}

// ParseTemplate parses src as a template named name, with the same
// functions as NewTemplate. Channels use it for short templates kept in
// configuration, such as an email subject. It has no fallback: Execute
// returns its errors.
func ParseTemplate(name, src string, html bool) (*Template, error) {
	t := &Template{name: name}
	funcs := t.funcs(html)
	var err error
	if html {
		t.html, err = htemplate.New(name).Funcs(funcs).Parse(src)
	} else {
		t.text, err = ttemplate.New(name).Funcs(funcs).Parse(src)
	}
	if err != nil {
		return nil, fmt.Errorf("parse template %s: %w", name, err)
	}
	return t, nil
}

// ParseTemplateWithDefault parses src like ParseTemplate, with the
// embedded template defaultName as its fallback for a message src fails
// to render (see Execute).
func ParseTemplateWithDefault(defaultName, name, src string, html bool) (*Template, error) {
	t, err := ParseTemplate(name, src, html)
	if err != nil {
		return nil, err
	}
	if t.fallback, err = builtinTemplate(defaultName, html); err != nil {
		return nil, err
	}
	return t, nil
}

// maxWarning bounds a template error noted on a message, and so on the
// timeline.
const maxWarning = 1000

// Execute renders msg. When a user's template fails (a payload field of
// another type than it expects, a missing key, …), msg is rendered with
// the built-in template instead and the failure is appended to
// msg.Warnings, so the team still hears about the incident. An error means
// no template could render msg; retrying will not help.
func (t *Template) Execute(msg *Message) (string, error) {
	out, _, err := t.render(msg)
	return out, err
}

// render is Execute that also returns the template that rendered msg.
func (t *Template) render(msg *Message) (string, *Template, error) {
	out, err := t.executeMessage(msg)
	if err == nil || t.fallback == nil {
		return out, t, err
	}
	out, ferr := t.fallback.executeMessage(msg)
	if ferr != nil {
		return "", nil, errors.Join(err, ferr)
	}
	if msg != nil {
		msg.Warnings = append(msg.Warnings, cutRunes(fmt.Sprintf("template %s failed, so the built-in template was used instead: %v", t.name, errors.Unwrap(err)), maxWarning))
	}
	return out, t.fallback, nil
}

// executeMessage renders msg with t alone.
func (t *Template) executeMessage(msg *Message) (string, error) {
	var b limitedBuilder
	if err := t.execute(&b, "", TemplateData(msg)); err != nil {
		return "", fmt.Errorf("render template %s: %w", t.name, err)
	}
	return b.String(), nil
}

// execute runs the named template (the main one when name is "").
func (t *Template) execute(w io.Writer, name string, data any) error {
	switch {
	case t.html != nil && name == "":
		return t.html.Execute(w, data)
	case t.html != nil:
		return t.html.ExecuteTemplate(w, name, data)
	case name == "":
		return t.text.Execute(w, data)
	default:
		return t.text.ExecuteTemplate(w, name, data)
	}
}

// TemplateData builds the data a template sees: every top-level field of
// msg.Payload (a JSON object; anything else is ignored; when Payload is
// empty, the alert's Raw payload is used), plus "AckURL", "IncidentURL",
// "Event", "Incident", "Alert", "Alerts" (the incident's alerts) and
// "Failure" (the delivery that gave up, for a "delivery_failed" notice), which
// take precedence over payload fields of the same name so a sender cannot
// plant its own acknowledgement link. Each object in the payload's "alerts"
// array also gets "AckURL", so Versus templates that print $alert.AckURL
// show the link for Alertmanager and Grafana payloads too.
func TemplateData(msg *Message) map[string]any {
	data := map[string]any{}
	if msg == nil {
		return data
	}
	payload := msg.Payload
	if len(payload) == 0 && msg.Alert != nil {
		payload = msg.Alert.Raw
	}
	var obj map[string]any
	if len(payload) > 0 && json.Unmarshal(payload, &obj) == nil {
		maps.Copy(data, obj)
	}
	if alerts, ok := data["alerts"].([]any); ok {
		withAck := make([]any, len(alerts))
		for i, a := range alerts {
			if m, ok := a.(map[string]any); ok {
				m = maps.Clone(m)
				m["AckURL"] = msg.AckURL
				a = m
			}
			withAck[i] = a
		}
		data["alerts"] = withAck
	}
	data["AckURL"] = msg.AckURL
	data["IncidentURL"] = msg.IncidentURL
	data["Event"] = msg.Event
	data["Incident"] = msg.Incident
	data["Alert"] = msg.Alert
	data["Failure"] = msg.Failure
	if msg.Incident != nil {
		data["Alerts"] = msg.Incident.Alerts
	} else {
		data["Alerts"] = nil
	}
	return data
}

// funcs builds the function map described on Template.
func (t *Template) funcs(html bool) map[string]any {
	f := sprig.GenericFuncMap()
	// No access to the process environment, the filesystem or the network.
	delete(f, "expandenv")
	delete(f, "getHostByName")
	f["env"] = func(string) string { return "" }
	// sprig's date functions print "now" for a string time.
	maps.Copy(f, dateFuncs())

	// Versus Incident's functions that sprig lacks.
	f["replaceAll"] = strings.ReplaceAll
	f["escapeHTML"] = escapeHTML
	f["formatTime"] = formatTime
	f["format"] = formatLayout
	f["stringSlice"] = stringSlice
	f["truncate"] = cutRunes
	f["dict"] = dict
	f["join"] = join
	f["include"] = func(name string, data any) (any, error) { return t.include(name, data, html) }

	// Lenient versions of builtins, as Versus has them.
	f["eq"] = func(a any, bs ...any) bool {
		for _, b := range bs {
			if equal(a, b) {
				return true
			}
		}
		return false
	}
	f["ne"] = func(a, b any) bool { return !equal(a, b) }
	f["lt"] = func(a, b any) bool { c, ok := compare(a, b); return ok && c < 0 }
	f["le"] = func(a, b any) bool { c, ok := compare(a, b); return ok && c <= 0 }
	f["gt"] = func(a, b any) bool { c, ok := compare(a, b); return ok && c > 0 }
	f["ge"] = func(a, b any) bool { c, ok := compare(a, b); return ok && c >= 0 }
	f["len"] = length
	f["index"] = index

	// tocsin's helpers for the default templates.
	f["impactName"] = tocsin.ImpactName
	f["mrkdwn"] = mrkdwn
	f["mrkdwnLink"] = mrkdwnLink
	return f
}

// include renders the named template with data, as Helm's include does.
func (t *Template) include(name string, data any, html bool) (any, error) {
	if t.depth.Add(1) > maxIncludeDepth {
		t.depth.Add(-1)
		return "", errors.New("include: nested too deeply")
	}
	defer t.depth.Add(-1)
	var b limitedBuilder
	if err := t.execute(&b, name, data); err != nil {
		return "", err
	}
	if html {
		// Already escaped by html/template while rendering the named template.
		return htemplate.HTML(b.String()), nil
	}
	return b.String(), nil
}

// Dict is what the dict template function returns: a map with Versus's Set
// method. It is also accepted by sprig's map functions (set, hasKey, …).
type Dict map[string]any

// Set sets key to value and returns the dictionary, for chaining.
func (d Dict) Set(key string, value any) Dict {
	d[key] = value
	return d
}

func dict(kv ...any) Dict {
	d := make(Dict, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		key := fmt.Sprint(kv[i])
		if i+1 < len(kv) {
			d[key] = kv[i+1]
		} else {
			d[key] = ""
		}
	}
	return d
}

// join accepts sprig's order (join sep list) and Versus's (join list sep).
func join(a, b any) string {
	sep, list := a, b
	if _, ok := a.(string); !ok {
		if _, ok := b.(string); ok {
			sep, list = b, a
		}
	}
	s, _ := sep.(string)
	return strings.Join(stringSlice(list), s)
}

// stringSlice turns a list of anything into strings.
func stringSlice(v any) []string {
	switch l := v.(type) {
	case nil:
		return nil
	case []string:
		return l
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return []string{fmt.Sprint(v)}
	}
	out := make([]string, rv.Len())
	for i := range out {
		out[i] = fmt.Sprint(rv.Index(i).Interface())
	}
	return out
}

// cutRunes is the template function truncate of Versus's templates: it
// keeps the first n characters (runes, not bytes) with no mark, and a
// negative n keeps all — unlike tocsin.Truncate, which marks the cut.
func cutRunes(s string, n int) string {
	if n < 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// escapeHTML escapes <, >, &, ' and ".
func escapeHTML(v any) string {
	if v == nil {
		return ""
	}
	return html.EscapeString(fmt.Sprint(v))
}

// formatTime formats an RFC 3339 string or a time as "2006-01-02 15:04:05",
// or returns "Invalid time", as Versus does.
func formatTime(v any) string {
	return formatLayout("2006-01-02 15:04:05", v)
}

// formatLayout is Versus's format: layout first, then a time, or a string
// or number toTime reads; anything else is "Invalid time".
func formatLayout(layout string, v any) string {
	if p, ok := v.(*time.Time); ok && p == nil {
		return ""
	}
	if t, ok := toTime(v); ok {
		return t.Format(layout)
	}
	return "Invalid time"
}

// number returns v as a float64 when it is any kind of number.
func number(v any) (float64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	}
	return 0, false
}

// equal compares numbers by value (a JSON 1.0 equals the literal 1),
// strings and bools by kind, and anything else deeply. It never fails.
func equal(a, b any) bool {
	if c, ok := compare(a, b); ok {
		return c == 0
	}
	ra, rb := reflect.ValueOf(a), reflect.ValueOf(b)
	if ra.IsValid() && rb.IsValid() && ra.Kind() == reflect.Bool && rb.Kind() == reflect.Bool {
		return ra.Bool() == rb.Bool()
	}
	return reflect.DeepEqual(a, b)
}

// compare orders two numbers or two strings; ok is false for anything else.
func compare(a, b any) (int, bool) {
	if x, ok := number(a); ok {
		if y, ok := number(b); ok {
			switch {
			case x < y:
				return -1, true
			case x > y:
				return 1, true
			}
			return 0, true
		}
		return 0, false
	}
	ra, rb := reflect.ValueOf(a), reflect.ValueOf(b)
	if ra.IsValid() && rb.IsValid() && ra.Kind() == reflect.String && rb.Kind() == reflect.String {
		return strings.Compare(ra.String(), rb.String()), true
	}
	return 0, false
}

// length is len that returns 0 for nil and for things without a length.
func length(v any) int {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String, reflect.Slice, reflect.Array, reflect.Map, reflect.Chan:
		return rv.Len()
	case reflect.Pointer:
		if !rv.IsNil() {
			return length(rv.Elem().Interface())
		}
	}
	return 0
}

// index walks maps, slices and structs by the given keys and returns nil
// for anything missing, where the builtin would fail.
func index(item any, keys ...any) any {
	for _, key := range keys {
		rv := reflect.ValueOf(item)
		for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
			if rv.IsNil() {
				return nil
			}
			rv = rv.Elem()
		}
		item = nil
		switch rv.Kind() {
		case reflect.Map:
			k := reflect.ValueOf(key)
			if !k.IsValid() {
				return nil
			}
			if kt := rv.Type().Key(); !k.Type().AssignableTo(kt) {
				if kt.Kind() != reflect.String {
					return nil
				}
				k = reflect.ValueOf(fmt.Sprint(key)).Convert(kt)
			}
			if v := rv.MapIndex(k); v.IsValid() {
				item = v.Interface()
			}
		case reflect.Slice, reflect.Array, reflect.String:
			if n, ok := number(key); ok && n >= 0 && int(n) < rv.Len() {
				item = rv.Index(int(n)).Interface()
			}
		case reflect.Struct:
			if name, ok := key.(string); ok {
				if f, ok := rv.Type().FieldByName(name); ok && f.IsExported() {
					item = rv.FieldByIndex(f.Index).Interface()
				}
			}
		}
		if item == nil {
			return nil
		}
	}
	return item
}

// mrkdwn escapes text for Slack's mrkdwn, where &, < and > are control
// characters.
func mrkdwn(v any) string {
	if v == nil {
		return ""
	}
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(fmt.Sprint(v))
}

// MrkdwnLink renders a Slack link <url|text>; characters that would end
// the link early are escaped. It is the template function mrkdwnLink.
func MrkdwnLink(url string, text any) string { return mrkdwnLink(url, text) }

func mrkdwnLink(url string, text any) string {
	if url == "" {
		return ""
	}
	label := mrkdwn(text)
	if label == "" {
		label = mrkdwn(url)
	}
	url = strings.NewReplacer("<", "%3C", ">", "%3E", "|", "%7C", " ", "%20").Replace(url)
	return "<" + url + "|" + strings.ReplaceAll(label, "|", "¦") + ">"
}

// limitedBuilder is a strings.Builder that fails past maxRenderSize.
type limitedBuilder struct{ strings.Builder }

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxRenderSize {
		return 0, fmt.Errorf("rendered message is larger than %d bytes", maxRenderSize)
	}
	return b.Builder.Write(p)
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTemplateSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxTemplateSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxTemplateSize)
	}
	return b, nil
}
