package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"tocsin"
)

// MaxAlertsPerRequest is the most alerts one request may carry. A body with
// more is rejected as a whole with EINVALID, so a runaway sender cannot open
// thousands of incidents with one POST.
const MaxAlertsPerRequest = 1000

// Decoder decodes one source's payload into alerts. On success it returns at
// least one alert; malformed input gives a *tocsin.Error with code
// EINVALID. now is the time the payload was received: it becomes each
// alert's ReceivedAt.
//
// The alerts' Raw fields share memory with body, so the caller must not
// reuse body's buffer while it still uses the alerts.
type Decoder func(body []byte, now time.Time) ([]*tocsin.Alert, error)

// decoders are the sources that have their own endpoint, by name.
// CloudWatch is missing on purpose: its alarms arrive through SNS.
var decoders = map[string]Decoder{
	tocsin.SourceAlertmanager: Alertmanager,
	tocsin.SourceGrafana:      Grafana,
	tocsin.SourceSentry:       Sentry,
	tocsin.SourcePagerDuty:    PagerDuty,
	tocsin.SourceGeneric:      Generic,
}

// Lookup returns the decoder for a source name: "alertmanager", "grafana",
// "sentry", "pagerduty" or "generic". CloudWatch alarms are not listed: they
// arrive inside SNS notifications (see ParseSNS and CloudWatchAlarm).
func Lookup(source string) (Decoder, bool) {
	d, ok := decoders[source]
	return d, ok
}

// trimBody strips JSON whitespace around body and rejects an empty one.
func trimBody(body []byte) ([]byte, error) {
	body = bytes.Trim(body, " \t\r\n")
	if len(body) == 0 {
		return nil, tocsin.Errorf(tocsin.EINVALID, "empty body")
	}
	return body, nil
}

// decode unmarshals data into v and turns any error into an EINVALID
// *tocsin.Error that names the source and the offending field. path is
// where data sits in the payload ("" for the whole body).
func decode(source, path string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return jsonError(source, path, err)
	}
	return nil
}

// jsonError translates an encoding/json error into an EINVALID *tocsin.Error.
func jsonError(source, path string, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return tocsin.Errorf(tocsin.EINVALID, "invalid JSON at offset %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		field := path
		if typ.Field != "" {
			field = joinPath(path, typ.Field)
		}
		if field == "" {
			return tocsin.Errorf(tocsin.EINVALID, "%s: body must be a JSON %s", source, kindName(typ.Type))
		}
		return tocsin.Errorf(tocsin.EINVALID, "%s: %q must be %s", source, field, article(kindName(typ.Type)))
	default:
		return tocsin.Errorf(tocsin.EINVALID, "%s: %v", source, err)
	}
}

func joinPath(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// kindName names the JSON kind a Go type is decoded from.
func kindName(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	}
	return "value"
}

func article(kind string) string {
	if kind == "array" || kind == "object" {
		return "an " + kind
	}
	return "a " + kind
}

// jsonKind names the kind of the JSON value in b.
func jsonKind(b []byte) string {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// isObject reports whether the JSON value b is an object.
func isObject(b []byte) bool { return jsonKind(b) == "object" }

// text is a JSON scalar read leniently as a string: strings as they are,
// numbers and booleans as written, null as "". Objects and arrays, which no
// well-formed sender puts where text is expected, are ignored.
type text string

// UnmarshalJSON implements json.Unmarshaler.
func (t *text) UnmarshalJSON(b []byte) error {
	switch jsonKind(b) {
	case "string":
		s, ok := unquote(bytes.TrimSpace(b))
		if !ok {
			var s string
			return json.Unmarshal(b, &s)
		}
		*t = text(s)
	case "number", "bool":
		*t = text(bytes.TrimSpace(b))
	case "null":
		*t = ""
	}
	return nil
}

// String returns t with surrounding white space removed.
func (t text) String() string { return strings.TrimSpace(string(t)) }

// labelSet is a JSON object read leniently as string pairs: numbers and
// booleans are written as text, nested objects and arrays as compact JSON,
// null values are dropped. Anything but an object (or null) is an error.
type labelSet map[string]string

// UnmarshalJSON implements json.Unmarshaler.
func (l *labelSet) UnmarshalJSON(b []byte) error {
	kind := jsonKind(b)
	if kind == "null" {
		return nil
	}
	if kind != "object" {
		return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeFor[labelSet]()}
	}
	out, ok := scanLabels(b)
	if !ok {
		var err error
		if out, err = decodeLabels(b); err != nil {
			return err
		}
	}
	*l = out
	return nil
}

// decodeLabels reads a label set through encoding/json: what scanLabels
// must agree with, and its fallback.
func decodeLabels(b []byte) (labelSet, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	out := make(labelSet, len(m))
	for k, v := range m {
		if s, ok := scalarString(v); ok {
			out[k] = s
		}
	}
	return out, nil
}

// scanLabels reads a label set in one pass over b (see eachMember): as
// the map of raw values would, a later duplicate key wins, a null drops
// the key. ok is false when b cannot be walked (the caller then decodes
// it with encoding/json).
func scanLabels(b []byte) (labelSet, bool) {
	out := make(labelSet, 8)
	ok := true
	walked := eachMember(b, func(key, value []byte) {
		k, kok := unquote(key)
		if !kok {
			ok = false
			return
		}
		if s, vok := scalarString(value); vok {
			out[k] = s
		} else {
			delete(out, k)
		}
	})
	return out, walked && ok
}

// scalarString renders one JSON value as a label value; ok is false for null.
func scalarString(v json.RawMessage) (s string, ok bool) {
	switch jsonKind(v) {
	case "null", "nothing":
		return "", false
	case "string":
		return unquote(bytes.TrimSpace(v))
	case "number", "bool":
		return string(bytes.TrimSpace(v)), true
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, v); err != nil {
		return "", false
	}
	return buf.String(), true
}

// objects is a JSON array of objects read leniently: elements that are
// not objects, or whose fields do not decode, are skipped. Anything but an
// array (or null) is an error.
type objects[T any] []T

// UnmarshalJSON implements json.Unmarshaler.
func (o *objects[T]) UnmarshalJSON(b []byte) error {
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[[]T]()}
	}
	out := make(objects[T], 0, len(items))
	for _, item := range items {
		var v T
		if isObject(item) && json.Unmarshal(item, &v) == nil {
			out = append(out, v)
		}
	}
	*o = out
	return nil
}

// stamp is a timestamp read leniently: RFC 3339 and the common variants
// sources use, or seconds since the Unix epoch. Anything unparseable, and
// Go's zero time "0001-01-01T00:00:00Z", read as the zero time.
type stamp time.Time

// UnmarshalJSON implements json.Unmarshaler.
func (s *stamp) UnmarshalJSON(b []byte) error {
	*s = stamp(parseTime(b))
	return nil
}

// Time returns s as a time.Time.
func (s stamp) Time() time.Time { return time.Time(s) }

// timeLayouts are tried in order on timestamp strings. CloudWatch writes
// "2024-05-01T10:00:00.000+0000"; Sentry sometimes omits the zone.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

// maxUnix is the first second of the year 10000, past which times cannot
// be written as RFC 3339.
const maxUnix = 253402300800

func parseTime(b []byte) time.Time {
	switch jsonKind(b) {
	case "string":
		var s string
		if json.Unmarshal(b, &s) != nil {
			return time.Time{}
		}
		s = strings.TrimSpace(s)
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, s); err == nil {
				return validTime(t)
			}
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return unixTime(f)
		}
	case "number":
		if f, err := strconv.ParseFloat(string(bytes.TrimSpace(b)), 64); err == nil {
			return unixTime(f)
		}
	}
	return time.Time{}
}

func validTime(t time.Time) time.Time {
	if t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}
	}
	return t
}

func unixTime(f float64) time.Time {
	if f >= 1e12 && f < maxUnix*1000 {
		f /= 1000 // milliseconds
	}
	if !(f > 0 && f < maxUnix) {
		return time.Time{}
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
}

// hashKey returns a stable 32-hex-digit SHA-256 digest of parts; parts are
// separated so that ("ab","c") and ("a","bc") differ.
func hashKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// labelsFingerprint is Prometheus's label-set fingerprint (FNV-1a 64 over
// sorted names and values, each followed by 0xff), so a fallback fingerprint
// matches the one Alertmanager would have sent for the same labels.
func labelsFingerprint(labels map[string]string) string {
	h := fnv.New64a()
	for _, name := range slices.Sorted(maps.Keys(labels)) {
		h.Write([]byte(name))
		h.Write([]byte{0xff})
		h.Write([]byte(labels[name]))
		h.Write([]byte{0xff})
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// labelString writes labels the way Alertmanager writes them in a group
// key: {a="1", b="2"}, sorted by name.
func labelString(labels map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range slices.Sorted(maps.Keys(labels)) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(labels[name]))
	}
	b.WriteByte('}')
	return b.String()
}

// firstOf returns the first of values that is not blank, trimmed.
func firstOf(values ...string) string {
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// severityOf normalises a source's severity: trimmed and lower-cased.
func severityOf(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// statusOf maps a source's status word to AlertResolved when it is
// "resolved" in any case, and to AlertFiring otherwise.
func statusOf(s string) string {
	if strings.EqualFold(strings.TrimSpace(s), tocsin.AlertResolved) {
		return tocsin.AlertResolved
	}
	return tocsin.AlertFiring
}

// addLink appends a link when raw is an absolute http(s) URL not already
// in links. Other schemes (javascript:, data:, relative paths) are dropped
// so nothing a sender writes turns into an unsafe link in a chat message.
func addLink(links []tocsin.Link, name, raw string) []tocsin.Link {
	raw = strings.TrimSpace(raw)
	if !isWebURL(raw) {
		return links
	}
	for _, l := range links {
		if l.URL == raw {
			return links
		}
	}
	return append(links, tocsin.Link{Text: name, URL: raw})
}

func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// tooMany is the error for a body that carries more than MaxAlertsPerRequest alerts.
// An empty source leaves the message unprefixed.
func tooMany(source string, n int) error {
	if source != "" {
		source += ": "
	}
	return tocsin.Errorf(tocsin.EINVALID, "%stoo many alerts (%d, at most %d per request)", source, n, MaxAlertsPerRequest)
}

// copyMap returns a copy of m, or nil when m is empty.
func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}
