package runbook

import (
	"errors"
	"fmt"
	"slices"

	"tocsin"
)

// aws:loop runs its nested Steps once per item of Iterators (for each) or
// again while its LoopCondition holds after an iteration (do while), at
// most MaxIterations times. Its own run stays InProgress while its steps
// run, each as a run of its own; its outputs CurrentIteration and
// CurrentIteratorValue are readable inside the loop and after it.

// Bounds of aws:loop's MaxIterations.
const (
	// DefaultLoopIterations is MaxIterations when a loop does not say
	// (AWS's bound).
	DefaultLoopIterations = 100
	// MaxLoopIterations bounds MaxIterations and a literal Iterators
	// list.
	MaxLoopIterations = 1000
)

// iteratorTypes are the values of IteratorDataType (AWS's).
var iteratorTypes = []string{TypeBoolean, TypeInteger, TypeString, TypeStringMap}

// validateLoop checks what only an aws:loop step has: AWS's limits on its
// own fields, its nested steps (outer is the loop holding it: loops do not
// nest).
func validateLoop(s *Step, path string, outer *Step, names map[string]stepAt) Problems {
	var ps Problems
	add := func(path, format string, args ...any) { ps = append(ps, Problem{path, fmt.Sprintf(format, args...)}) }
	if outer != nil {
		add(path+".action", "step %q: aws:loop cannot be nested in aws:loop %q", s.Name, outer.Name)
		return ps
	}
	if s.OnCancel != "" {
		add(path+".onCancel", "aws:loop takes no onCancel: give it to the steps inside the loop")
	}
	if s.TimeoutSeconds > 0 {
		add(path+".timeoutSeconds", "aws:loop takes no timeoutSeconds: give it to the steps inside the loop")
	}
	if len(s.Outputs) > 0 {
		add(path+".outputs", "aws:loop selects no outputs: its own are CurrentIteration and CurrentIteratorValue")
	}
	for _, p := range s.loopProblems {
		ps = append(ps, Problem{path + ".inputs." + p.Path, p.Message})
	}
	return append(ps, validateSteps(s.Loop, path+".inputs.Steps", s, names)...)
}

// loopInputs checks an aws:loop's inputs at path (…inputs): one of
// Iterators or LoopCondition, MaxIterations, IteratorDataType, Steps.
func loopInputs(in map[string]any, path string) Problems {
	var ps Problems
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{path + key, fmt.Sprintf(format, args...)})
	}
	if steps, ok := in["Steps"]; !ok {
		add(".Steps", "is required by aws:loop")
	} else if l, ok := steps.([]any); !ok || len(l) == 0 {
		add(".Steps", "must be a non-empty list of steps")
	}
	raw, each := in["Iterators"]
	cond, while := in["LoopCondition"]
	if each == while {
		add("", "aws:loop takes one of Iterators or LoopCondition")
	}
	typ := TypeString
	if v, ok := in["IteratorDataType"]; ok {
		typ, _ = v.(string)
		switch {
		case !slices.Contains(iteratorTypes, typ):
			add(".IteratorDataType", "%s is not Boolean, Integer, String or StringMap", textOf(v))
		case !each:
			add(".IteratorDataType", "applies only with Iterators")
		}
	}
	if each && !hasRef(raw) {
		if l, ok := raw.([]any); !ok {
			add(".Iterators", "must be a list or a {{ }} reference to one")
		} else if len(l) > MaxLoopIterations {
			add(".Iterators", "lists %d items, more than %d", len(l), MaxLoopIterations)
		} else if slices.Contains(iteratorTypes, typ) {
			for i, item := range l {
				if _, err := iteratorValue(item, typ); err != nil {
					add(fmt.Sprintf(".Iterators[%d]", i), "%v", err)
				}
			}
		}
	}
	if while {
		if m, ok := cond.(map[string]any); ok {
			_, p := parseCondition(m, path+".LoopCondition")
			ps = append(ps, p...)
		} else {
			add(".LoopCondition", "must be one condition: a Variable with an operator, or And, Or, Not")
		}
	}
	if v, ok := in["MaxIterations"]; ok && !hasRef(v) {
		if _, err := maxIterations(v); err != nil {
			add(".MaxIterations", "%v", err)
		}
	}
	return ps
}

// maxIterations reads MaxIterations: a whole number from 1 to
// MaxLoopIterations, DefaultLoopIterations when not given.
func maxIterations(v any) (int, error) {
	if v == nil {
		return DefaultLoopIterations, nil
	}
	n, err := toNumber(v)
	if err != nil || n != float64(int64(n)) || n < 1 || n > MaxLoopIterations {
		return 0, fmt.Errorf("%s is not a whole number from 1 to %d", textOf(v), MaxLoopIterations)
	}
	return int(n), nil
}

// iteratorValue is one item of Iterators as IteratorDataType says.
func iteratorValue(v any, typ string) (any, error) {
	switch typ {
	case TypeInteger:
		n, err := toNumber(v)
		if err != nil || n != float64(int64(n)) {
			return nil, fmt.Errorf("%s is not an Integer", textOf(v))
		}
		return int64(n), nil
	case TypeBoolean:
		b, err := toBool(v)
		if err != nil {
			return nil, err
		}
		return b, nil
	case TypeStringMap:
		if m, ok := v.(map[string]any); ok {
			return m, nil
		}
		return nil, fmt.Errorf("%s is not a StringMap", textOf(v))
	}
	switch v.(type) {
	case string, int64, float64, bool:
		return textOf(v), nil
	}
	return nil, fmt.Errorf("%s is not a String", textOf(v))
}

// iterators reads the interpolated Iterators input as a typed list.
func iterators(raw any, typ string) ([]any, error) {
	var list []any
	switch x := raw.(type) {
	case []any:
		list = x
	case []string:
		for _, s := range x {
			list = append(list, s)
		}
	default:
		return nil, fmt.Errorf("input Iterators: must be a list, is %s", kindOf(raw))
	}
	out := make([]any, len(list))
	for i, item := range list {
		v, err := iteratorValue(item, typ)
		if err != nil {
			return nil, fmt.Errorf("input Iterators: item %d: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}

// loop starts a run of an aws:loop step: its first iteration, unless its
// Iterators list is empty.
func (m *machine) loop(step *Step, st *tocsin.RunbookStep) {
	max, err := m.planLoop(step, st)
	if err != nil {
		m.stepEvent(st, fmt.Sprintf("Step %q (aws:loop) started", st.Name))
		m.fail(step, st, err.Error(), false, false)
		return
	}
	st.Outputs = map[string]any{"CurrentIteration": int64(0)}
	items, each := st.Inputs["Iterators"].([]any)
	switch {
	case each && len(items) == 0:
		m.stepEvent(st, fmt.Sprintf("Step %q (aws:loop) started: Iterators is empty", st.Name))
		m.succeed(step, st, "")
		return
	case each:
		m.stepEvent(st, fmt.Sprintf("Step %q (aws:loop) started over %d item(s), at most %d iteration(s)", st.Name, len(items), max))
	default:
		m.stepEvent(st, fmt.Sprintf("Step %q (aws:loop) started: at most %d iteration(s) while its LoopCondition holds", st.Name, max))
	}
	m.iterate(step, st)
}

// planLoop checks a loop's interpolated inputs as it starts, typing its
// Iterators in place, and returns its MaxIterations.
func (m *machine) planLoop(step *Step, st *tocsin.RunbookStep) (int, error) {
	if len(step.Loop) == 0 {
		return 0, errors.New("input Steps: no steps")
	}
	max, err := maxIterations(st.Inputs["MaxIterations"])
	if err != nil {
		return 0, fmt.Errorf("input MaxIterations: %w", err)
	}
	if raw, ok := st.Inputs["Iterators"]; ok {
		typ, _ := st.Inputs["IteratorDataType"].(string)
		items, err := iterators(raw, typ)
		if err != nil {
			return 0, err
		}
		st.Inputs["Iterators"] = items
	}
	return max, nil
}

// iteration is the loop run's current iteration (0 before the first).
func iteration(st *tocsin.RunbookStep) int {
	n, _ := toNumber(st.Outputs["CurrentIteration"])
	return int(n)
}

// iterate begins the loop's next iteration at its first nested step.
func (m *machine) iterate(step *Step, st *tocsin.RunbookStep) {
	n := iteration(st) + 1
	out := map[string]any{"CurrentIteration": int64(n)}
	msg := fmt.Sprintf("Step %q (aws:loop) iteration %d", st.Name, n)
	if items, ok := st.Inputs["Iterators"].([]any); ok && n <= len(items) {
		out["CurrentIteratorValue"] = items[n-1]
		msg += fmt.Sprintf(" of %d: %s", len(items), tocsin.Truncate(textOf(items[n-1]), 200))
	}
	st.Outputs = out
	m.changed[st.Seq] = true
	m.stepEvent(st, msg)
	m.pending = step.Loop[0].Name
}

// iterationEnded decides what follows an iteration of the loop: another
// while items remain or the LoopCondition holds (and MaxIterations is not
// reached, else the loop ends a success, as AWS's does), or the loop's
// end and the step after it. A cancellation's onCancel step ends the loop
// Cancelled.
func (m *machine) iterationEnded(loop *Step) {
	st := m.openLoop(loop.Name)
	if st == nil {
		m.err = tocsin.Errorf(tocsin.EINTERNAL, "runbook %s: loop %q has no open run", m.exec.Runbook, loop.Name)
		return
	}
	n := iteration(st)
	if m.exec.Status == tocsin.RunbookCancelling {
		m.close(st, tocsin.RunbookCancelled, "")
		m.stepEvent(st, fmt.Sprintf("Step %q cancelled after iteration %d", st.Name, n))
		m.next(loop)
		return
	}
	max, _ := maxIterations(st.Inputs["MaxIterations"]) // checked as the loop began
	var more bool
	if items, each := st.Inputs["Iterators"].([]any); each {
		more = n < len(items)
	} else {
		raw, _ := loop.Inputs["LoopCondition"].(map[string]any)
		cond, probs := parseCondition(raw, "input LoopCondition")
		var err error
		if len(probs) > 0 {
			err = probs.Err()
		} else {
			more, err = eval(cond, m.vars())
		}
		if err != nil {
			m.fail(loop, st, "input LoopCondition: "+tocsin.ErrorText(err), false, false)
			return
		}
	}
	if more && n < max {
		m.iterate(loop, st)
		return
	}
	if more {
		m.stepEvent(st, fmt.Sprintf("Step %q (aws:loop) reached MaxIterations %d", st.Name, max))
	}
	m.stepEvent(st, fmt.Sprintf("Step %q (aws:loop) ran %d iteration(s)", st.Name, n))
	m.succeed(loop, st, "")
}

// openLoop is the run of the named loop under way (a loop is never
// entered again while it runs: its steps go only to each other).
func (m *machine) openLoop(name string) *tocsin.RunbookStep {
	for i := len(m.exec.Steps) - 1; i >= 0; i-- {
		st := m.exec.Steps[i]
		if st.Name == name && st.Action == "aws:loop" && st.Status == tocsin.RunbookInProgress {
			return st
		}
	}
	return nil
}

// loopFailed fails the open run of the loop holding a nested step that
// failed with onFailure Abort: the loop's own onFailure decides what
// follows (its maxAttempts runs it again from its first iteration).
func (m *machine) loopFailed(loop *Step, st *tocsin.RunbookStep, msg string, timedOut bool) bool {
	lst := m.openLoop(loop.Name)
	if lst == nil {
		return false
	}
	verb := "failed"
	if timedOut {
		verb = "timed out"
	}
	m.fail(loop, lst, fmt.Sprintf("step %q %s: %s", st.Name, verb, msg), timedOut, true)
	return true
}

// closeLoops ends the loops still open when the execution ends (a
// cancellation, a runbook that loops without waiting) with its status.
func (m *machine) closeLoops(status, msg string) {
	if status == tocsin.RunbookTimedOut {
		status = tocsin.RunbookFailed
	}
	for _, st := range m.exec.Steps {
		if st.Action != "aws:loop" || st.Status != tocsin.RunbookInProgress {
			continue
		}
		m.close(st, status, msg)
		switch status {
		case tocsin.RunbookCancelled:
			m.stepEvent(st, fmt.Sprintf("Step %q cancelled", st.Name))
		case tocsin.RunbookFailed:
			m.stepEvent(st, fmt.Sprintf("Step %q failed: %s", st.Name, tocsin.Truncate(msg, 1000)))
		}
	}
}
