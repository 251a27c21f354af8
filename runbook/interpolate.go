package runbook

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"tocsin"
)

var refRE = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_.:\-]+)\s*\}\}`)

// Globals returns the {{ global:... }} and {{ automation:... }} variables
// of an execution started at now (the caller's clock: this package reads
// none). DATE and DATE_TIME are in AWS's formats, in UTC.
func Globals(now time.Time, executionID string) map[string]any {
	u := now.UTC()
	return map[string]any{
		"global:DATE":             u.Format("2006-01-02"),
		"global:DATE_TIME":        u.Format("2006-01-02_15.04.05"),
		"automation:EXECUTION_ID": executionID,
	}
}

// Interpolate replaces the {{ name }} references in v (a string, or lists
// and maps of them, as step inputs are) with their values in vars: a
// parameter by its name, a step output as "step.Output", globals as
// "global:DATE". A string that is a single reference takes the value with
// its type (a StringList stays a list); a reference inside longer text is
// replaced by its text. Values are data: the text substituted is never
// scanned again, so a value holding "{{ x }}" stays as it is. An unknown
// name is an error naming it. v is not changed.
func Interpolate(v any, vars map[string]any) (any, error) {
	switch x := v.(type) {
	case string:
		return interpolateString(x, vars)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := Interpolate(e, vars)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := Interpolate(e, vars)
			if err != nil {
				return nil, fmt.Errorf("interpolate %s: %w", k, err)
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}

func interpolateString(s string, vars map[string]any) (any, error) {
	return interpolateEscaped(s, vars, nil)
}

// interpolateEscaped is interpolateString with each value substituted
// inside longer text passed through escape (nil: as it is), so a value can
// be made data of the text around it (a URL's component).
func interpolateEscaped(s string, vars map[string]any, escape func(string) string) (any, error) {
	if m := refRE.FindStringSubmatchIndex(s); m != nil && m[0] == 0 && m[1] == len(s) {
		name := s[m[2]:m[3]]
		val, ok := vars[name]
		if !ok {
			return nil, tocsin.Errorf(tocsin.EINVALID, "unknown variable {{ %s }}", name)
		}
		return val, nil
	}
	var b strings.Builder
	last := 0
	for _, m := range refRE.FindAllStringSubmatchIndex(s, -1) {
		name := s[m[2]:m[3]]
		val, ok := vars[name]
		if !ok {
			return nil, tocsin.Errorf(tocsin.EINVALID, "unknown variable {{ %s }}", name)
		}
		b.WriteString(s[last:m[0]])
		if t := textOf(val); escape != nil {
			b.WriteString(escape(t))
		} else {
			b.WriteString(t)
		}
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String(), nil
}

// textOf is a value as text inside a longer string: strings as they are,
// numbers and booleans as Go prints them, lists and maps as JSON.
func textOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case bool:
		return strconv.FormatBool(x)
	case int, int64, float64:
		return fmt.Sprint(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// References returns the names referenced in v, in order of appearance.
func References(v any) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			for _, m := range refRE.FindAllStringSubmatch(x, -1) {
				out = append(out, m[1])
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, k := range sorted(keys(x)) {
				walk(x[k])
			}
		}
	}
	walk(v)
	return out
}

// URLComponent escapes a value substituted inside a URL so it stays one
// component: "x&delete=1" in a query or "../admin" in a path cannot add a
// parameter or leave the path it was put in. Spaces are %20, right in a
// path and in a query.
func URLComponent(v string) string {
	return strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
}

// httpInputs interpolates a tocsin:http step's URL and Body so that values
// stay data of the text they are put in: inside a longer URL a value is
// escaped as one component (a URL that is a single reference is taken
// whole, and checked against the allow-list as any URL), and a string
// Body that is JSON has its values substituted inside its strings, then
// encoded again, so a value holding quotes stays inside its string.
func httpInputs(k string, v any, vars map[string]any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return Interpolate(v, vars)
	}
	switch k {
	case "URL":
		return interpolateEscaped(s, vars, URLComponent)
	case "Body":
		var doc any
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil || dec.More() {
			return Interpolate(s, vars) // text: substituted as it is
		}
		switch doc.(type) {
		case map[string]any, []any:
		default:
			return Interpolate(s, vars)
		}
		out, err := Interpolate(Plain(doc), vars)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(out)
		if err != nil {
			return nil, fmt.Errorf("encode Body: %w", err)
		}
		return string(b), nil
	}
	return Interpolate(v, vars)
}
