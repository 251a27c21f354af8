package runbook

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"tocsin"
)

// Operators of aws:branch that compare a Variable with a value.
var compareOps = map[string]bool{
	"StringEquals": true, "EqualsIgnoreCase": true, "StartsWith": true, "EndsWith": true, "Contains": true,
	"NumericEquals": true, "NumericGreater": true, "NumericLesser": true,
	"NumericGreaterOrEquals": true, "NumericLesserOrEquals": true, "BooleanEquals": true,
}

// Choice is one entry of an aws:branch step's Choices: the step to go to
// when its condition holds.
type Choice struct {
	NextStep string
	Cond     Condition
}

// Condition is a comparison (Variable, Op, Value) or a combination: And and
// Or of several conditions, Not of one.
type Condition struct {
	Variable string
	Op       string
	Value    any
	And, Or  []Condition
	Not      *Condition
}

// ParseChoices reads the Choices input of aws:branch. Every problem is
// returned with its path under prefix.
func ParseChoices(raw any, prefix string) ([]Choice, Problems) {
	list, ok := raw.([]any)
	if !ok || len(list) == 0 {
		return nil, Problems{{prefix, "must be a non-empty list of choices"}}
	}
	var out []Choice
	var probs Problems
	for i, item := range list {
		path := fmt.Sprintf("%s[%d]", prefix, i)
		m, ok := item.(map[string]any)
		if !ok {
			probs = append(probs, Problem{path, "must be an object"})
			continue
		}
		next, _ := m["NextStep"].(string)
		if next == "" {
			probs = append(probs, Problem{path + ".NextStep", "is required"})
		}
		rest := map[string]any{}
		for k, v := range m {
			if k != "NextStep" {
				rest[k] = v
			}
		}
		c, p := parseCondition(rest, path)
		probs = append(probs, p...)
		out = append(out, Choice{NextStep: next, Cond: c})
	}
	return out, probs
}

func parseCondition(m map[string]any, path string) (Condition, Problems) {
	var c Condition
	var probs Problems
	var ops []string
	for k := range m {
		if k != "Variable" {
			ops = append(ops, k)
		}
	}
	if len(ops) != 1 {
		return c, Problems{{path, fmt.Sprintf("must have exactly one operator, has %d (%s)", len(ops), strings.Join(sorted(ops), ", "))}}
	}
	op := ops[0]
	v := m[op]
	switch {
	case op == "And" || op == "Or":
		if _, has := m["Variable"]; has {
			probs = append(probs, Problem{path + ".Variable", "is not allowed with " + op})
		}
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return c, append(probs, Problem{path + "." + op, "must be a non-empty list of conditions"})
		}
		var subs []Condition
		for i, item := range list {
			sp := fmt.Sprintf("%s.%s[%d]", path, op, i)
			sm, ok := item.(map[string]any)
			if !ok {
				probs = append(probs, Problem{sp, "must be an object"})
				continue
			}
			sc, p := parseCondition(sm, sp)
			probs = append(probs, p...)
			subs = append(subs, sc)
		}
		if op == "And" {
			c.And = subs
		} else {
			c.Or = subs
		}
	case op == "Not":
		if _, has := m["Variable"]; has {
			probs = append(probs, Problem{path + ".Variable", "is not allowed with Not"})
		}
		// AWS prints Not both as an object and as a one-element list.
		if l, ok := v.([]any); ok && len(l) == 1 {
			v = l[0]
		}
		sm, ok := v.(map[string]any)
		if !ok {
			return c, append(probs, Problem{path + ".Not", "must be one condition"})
		}
		sc, p := parseCondition(sm, path+".Not")
		probs = append(probs, p...)
		c.Not = &sc
	case compareOps[op]:
		variable, ok := m["Variable"].(string)
		if !ok || strings.TrimSpace(variable) == "" {
			probs = append(probs, Problem{path + ".Variable", "is required with " + op})
		}
		c.Variable, c.Op, c.Value = variable, op, v
		if !hasRef(v) {
			if err := checkOperand(op, v); err != nil {
				probs = append(probs, Problem{path + "." + op, err.Error()})
			}
		}
	default:
		probs = append(probs, Problem{path + "." + op, fmt.Sprintf("unknown operator %q", op)})
	}
	return c, probs
}

func hasRef(v any) bool {
	s, ok := v.(string)
	return ok && strings.Contains(s, "{{")
}

// checkOperand checks the literal compared with, so a document that could
// only fail at run time is refused when applied.
func checkOperand(op string, v any) error {
	switch {
	case strings.HasPrefix(op, "Numeric"):
		if _, err := toNumber(v); err != nil {
			return err
		}
	case op == "BooleanEquals":
		if _, err := toBool(v); err != nil {
			return err
		}
	default:
		if _, ok := v.(string); !ok {
			return fmt.Errorf("must be a string")
		}
	}
	return nil
}

// EvalBranch returns the step an aws:branch step goes to: the NextStep of
// the first choice whose condition holds, else defaultStep, else "" (the
// caller goes on to the step after the branch, as AWS does). vars resolves
// the choices' {{ }} references (see Interpolate). An error (an unknown
// variable, a non-number under a Numeric operator) fails the step.
func EvalBranch(choices []Choice, defaultStep string, vars map[string]any) (string, error) {
	for i, c := range choices {
		ok, err := eval(c.Cond, vars)
		if err != nil {
			return "", fmt.Errorf("evaluate choice %d: %w", i, err)
		}
		if ok {
			return c.NextStep, nil
		}
	}
	return defaultStep, nil
}

func eval(c Condition, vars map[string]any) (bool, error) {
	switch {
	case c.And != nil:
		for _, s := range c.And {
			if ok, err := eval(s, vars); err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case c.Or != nil:
		for _, s := range c.Or {
			if ok, err := eval(s, vars); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case c.Not != nil:
		ok, err := eval(*c.Not, vars)
		return !ok && err == nil, err
	}
	left, err := Interpolate(c.Variable, vars)
	if err != nil {
		return false, err
	}
	right, err := Interpolate(c.Value, vars)
	if err != nil {
		return false, err
	}
	return compare(c.Op, left, right)
}

func compare(op string, left, right any) (bool, error) {
	switch op {
	case "NumericEquals", "NumericGreater", "NumericLesser", "NumericGreaterOrEquals", "NumericLesserOrEquals":
		l, err := toNumber(left)
		if err != nil {
			return false, tocsin.Errorf(tocsin.EINVALID, "%s: variable %v", op, err)
		}
		r, err := toNumber(right)
		if err != nil {
			return false, tocsin.Errorf(tocsin.EINVALID, "%s: value %v", op, err)
		}
		switch op {
		case "NumericEquals":
			return l == r, nil
		case "NumericGreater":
			return l > r, nil
		case "NumericLesser":
			return l < r, nil
		case "NumericGreaterOrEquals":
			return l >= r, nil
		default:
			return l <= r, nil
		}
	case "BooleanEquals":
		l, err := toBool(left)
		if err != nil {
			return false, tocsin.Errorf(tocsin.EINVALID, "BooleanEquals: variable %v", err)
		}
		r, err := toBool(right)
		if err != nil {
			return false, tocsin.Errorf(tocsin.EINVALID, "BooleanEquals: value %v", err)
		}
		return l == r, nil
	}
	r := textOf(right)
	// Contains on a StringList asks whether the list holds the value.
	if list, ok := left.([]any); ok && op == "Contains" {
		for _, e := range list {
			if textOf(e) == r {
				return true, nil
			}
		}
		return false, nil
	}
	if list, ok := left.([]string); ok && op == "Contains" {
		for _, e := range list {
			if e == r {
				return true, nil
			}
		}
		return false, nil
	}
	l := textOf(left)
	switch op {
	case "StringEquals":
		return l == r, nil
	case "EqualsIgnoreCase":
		return strings.EqualFold(l, r), nil
	case "StartsWith":
		return strings.HasPrefix(l, r), nil
	case "EndsWith":
		return strings.HasSuffix(l, r), nil
	case "Contains":
		return strings.Contains(l, r), nil
	}
	return false, tocsin.Errorf(tocsin.EINVALID, "unknown operator %q", op)
}

func toNumber(v any) (float64, error) {
	switch x := v.(type) {
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case float64:
		return x, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("%q is not a number", x)
		}
		return f, nil
	}
	return 0, fmt.Errorf("%v is not a number", v)
}

func toBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, fmt.Errorf("%v is not a boolean", v)
}
