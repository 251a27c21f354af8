package runbook

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Params checks an execution's parameters against the document and types
// them: given holds each parameter's values as text (one value for a
// String, Integer, Boolean or StringMap; one per item for a StringList;
// JSON objects for a MapList). Defaults fill what is not given. Every
// problem is reported in one EINVALID error.
func Params(doc *Document, given map[string][]string) (map[string]any, error) {
	var probs Problems
	for _, name := range sorted(keys(given)) {
		if _, ok := doc.Parameters[name]; !ok {
			probs = append(probs, Problem{"parameters." + name, "is not a parameter of the document"})
		}
	}
	out := map[string]any{}
	for _, name := range sorted(keys(doc.Parameters)) {
		p := doc.Parameters[name]
		path := "parameters." + name
		vals, ok := given[name]
		var v any
		var err error
		switch {
		case ok:
			v, err = fromText(p.Type, vals)
		case p.Default != nil:
			v, err = fromDefault(p.Type, p.Default)
		default:
			probs = append(probs, Problem{path, "is required"})
			continue
		}
		if err == nil {
			err = p.check(v)
		}
		if err != nil {
			probs = append(probs, Problem{path, err.Error()})
			continue
		}
		out[name] = v
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func fromText(typ string, vals []string) (any, error) {
	one := func() (string, error) {
		if len(vals) != 1 {
			return "", fmt.Errorf("takes one value, got %d", len(vals))
		}
		return vals[0], nil
	}
	switch typ {
	case TypeString:
		return one()
	case TypeStringList:
		l := make([]any, len(vals))
		for i, s := range vals {
			l[i] = s
		}
		return l, nil
	case TypeInteger:
		s, err := one()
		if err != nil {
			return nil, err
		}
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an Integer", s)
		}
		return i, nil
	case TypeBoolean:
		s, err := one()
		if err != nil {
			return nil, err
		}
		switch s {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not a Boolean (true or false)", s)
	case TypeStringMap:
		s, err := one()
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
			return nil, fmt.Errorf("is not a StringMap (a JSON object)")
		}
		return m, nil
	case TypeMapList:
		var l []any
		if len(vals) == 1 && strings.HasPrefix(strings.TrimSpace(vals[0]), "[") {
			if err := json.Unmarshal([]byte(vals[0]), &l); err != nil {
				return nil, fmt.Errorf("is not a MapList (a JSON list of objects)")
			}
		} else {
			for _, s := range vals {
				var m map[string]any
				if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
					return nil, fmt.Errorf("is not a MapList (JSON objects)")
				}
				l = append(l, m)
			}
		}
		return fromDefault(TypeMapList, l)
	}
	return nil, fmt.Errorf("unknown type %q", typ)
}

// fromDefault types a value decoded from the document (a default).
func fromDefault(typ string, v any) (any, error) {
	bad := fmt.Errorf("default %s is not a %s", textOf(v), typ)
	switch typ {
	case TypeString:
		if _, ok := v.(string); ok {
			return v, nil
		}
	case TypeStringList:
		if l, ok := v.([]any); ok {
			for _, e := range l {
				if _, ok := e.(string); !ok {
					return nil, bad
				}
			}
			return l, nil
		}
	case TypeInteger:
		switch x := v.(type) {
		case int64:
			return x, nil
		case int:
			return int64(x), nil
		case float64:
			if x == float64(int64(x)) {
				return int64(x), nil
			}
		case string:
			// YAML documents often quote numbers; AWS accepts them.
			if i, err := strconv.ParseInt(x, 10, 64); err == nil {
				return i, nil
			}
		}
	case TypeBoolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			if x == "true" || x == "false" {
				return x == "true", nil
			}
		}
	case TypeStringMap:
		if _, ok := v.(map[string]any); ok {
			return v, nil
		}
	case TypeMapList:
		if l, ok := v.([]any); ok {
			for _, e := range l {
				if _, ok := e.(map[string]any); !ok {
					return nil, bad
				}
			}
			return l, nil
		}
	default:
		return nil, fmt.Errorf("unknown type %q", typ)
	}
	return nil, bad
}

// check holds a typed value to allowedValues, allowedPattern and the
// item and character bounds.
func (p *Parameter) check(v any) error {
	var texts []string
	switch x := v.(type) {
	case string:
		texts = []string{x}
	case []any:
		if p.Type == TypeStringList {
			for _, e := range x {
				texts = append(texts, e.(string))
			}
		}
		if p.MinItems != nil && len(x) < *p.MinItems {
			return fmt.Errorf("has %d items, fewer than minItems %d", len(x), *p.MinItems)
		}
		if p.MaxItems != nil && len(x) > *p.MaxItems {
			return fmt.Errorf("has %d items, more than maxItems %d", len(x), *p.MaxItems)
		}
	case int64:
		texts = []string{strconv.FormatInt(x, 10)}
	case bool:
		texts = []string{strconv.FormatBool(x)}
	}
	var re *regexp.Regexp
	if p.AllowedPattern != "" {
		var err error
		if re, err = regexp.Compile(p.AllowedPattern); err != nil {
			return fmt.Errorf("allowedPattern does not compile: %v", err)
		}
	}
	for _, t := range texts {
		if len(p.AllowedValues) > 0 && !slices.Contains(p.AllowedValues, t) {
			return fmt.Errorf("%q is not one of allowedValues %s", t, strings.Join(p.AllowedValues, ", "))
		}
		if re != nil && !re.MatchString(t) {
			return fmt.Errorf("%q does not match allowedPattern %s", t, p.AllowedPattern)
		}
		n := utf8.RuneCountInString(t)
		if p.MinChars != nil && n < *p.MinChars {
			return fmt.Errorf("%q is shorter than minChars %d", t, *p.MinChars)
		}
		if p.MaxChars != nil && n > *p.MaxChars {
			return fmt.Errorf("%q is longer than maxChars %d", t, *p.MaxChars)
		}
	}
	return nil
}

// PlanParams checks a response plan's parameters for doc before any
// incident starts it: every static parameter is one of the document's and
// types, every dynamic one (its value comes from the incident) is one of
// the document's, and every parameter without a default is given one way
// or the other. Paths are the plan's (runbook.parameters.X).
func PlanParams(doc *Document, static map[string][]string, dynamic map[string]string) Problems {
	var probs Problems
	for _, name := range sorted(keys(static)) {
		path := "runbook.parameters." + name
		p, ok := doc.Parameters[name]
		if !ok {
			probs = append(probs, Problem{path, "is not a parameter of the runbook"})
			continue
		}
		v, err := fromText(p.Type, static[name])
		if err == nil {
			err = p.check(v)
		}
		if err != nil {
			probs = append(probs, Problem{path, err.Error()})
		}
	}
	for _, name := range sorted(keys(dynamic)) {
		if _, ok := doc.Parameters[name]; !ok {
			probs = append(probs, Problem{"runbook.dynamic_parameters." + name, "is not a parameter of the runbook"})
		}
	}
	for _, name := range sorted(keys(doc.Parameters)) {
		_, s := static[name]
		_, d := dynamic[name]
		if !s && !d && doc.Parameters[name].Default == nil {
			probs = append(probs, Problem{"runbook.parameters." + name, "is required by the runbook (it has no default)"})
		}
	}
	return probs
}
