package runbook_test

import (
	"testing"

	"gopkg.in/yaml.v3"

	"tocsin/runbook"
)

func choices(t *testing.T, src string) []runbook.Choice {
	t.Helper()
	var raw any
	if err := yaml.Unmarshal([]byte(src), &raw); err != nil {
		t.Fatal(err)
	}
	cs, ps := runbook.ParseChoices(raw, "Choices")
	if len(ps) != 0 {
		t.Fatalf("%s: %v", src, ps)
	}
	return cs
}

func TestEvalBranch(t *testing.T) {
	vars := map[string]any{"S": "Hello World", "N": int64(5), "F": "2.5", "B": true, "L": []any{"a", "b"}}
	for _, tc := range []struct {
		choice string
		want   bool
	}{
		{"{Variable: '{{ S }}', StringEquals: Hello World}", true},
		{"{Variable: '{{ S }}', StringEquals: hello world}", false},
		{"{Variable: '{{ S }}', EqualsIgnoreCase: hello world}", true},
		{"{Variable: '{{ S }}', StartsWith: Hell}", true},
		{"{Variable: '{{ S }}', StartsWith: World}", false},
		{"{Variable: '{{ S }}', EndsWith: World}", true},
		{"{Variable: '{{ S }}', Contains: o W}", true},
		{"{Variable: '{{ S }}', Contains: xyz}", false},
		{"{Variable: '{{ L }}', Contains: b}", true},
		{"{Variable: '{{ L }}', Contains: c}", false},
		{"{Variable: '{{ N }}', NumericEquals: 5}", true},
		{"{Variable: '{{ N }}', NumericGreater: 4}", true},
		{"{Variable: '{{ N }}', NumericGreater: 5}", false},
		{"{Variable: '{{ N }}', NumericLesser: 6}", true},
		{"{Variable: '{{ N }}', NumericGreaterOrEquals: 5}", true},
		{"{Variable: '{{ N }}', NumericLesserOrEquals: 4}", false},
		{"{Variable: '{{ F }}', NumericLesser: 3}", true},
		{"{Variable: '{{ B }}', BooleanEquals: true}", true},
		{"{Variable: '{{ B }}', BooleanEquals: false}", false},
		{"{And: [{Variable: '{{ N }}', NumericGreater: 1}, {Variable: '{{ B }}', BooleanEquals: true}]}", true},
		{"{And: [{Variable: '{{ N }}', NumericGreater: 1}, {Variable: '{{ B }}', BooleanEquals: false}]}", false},
		{"{Or: [{Variable: '{{ N }}', NumericGreater: 9}, {Variable: '{{ S }}', Contains: World}]}", true},
		{"{Or: [{Variable: '{{ N }}', NumericGreater: 9}, {Variable: '{{ S }}', Contains: x}]}", false},
		{"{Not: {Variable: '{{ S }}', StringEquals: x}}", true},
		{"{Not: [{Variable: '{{ S }}', Contains: World}]}", false},
	} {
		cs := choices(t, "- {NextStep: yes, "+tc.choice[1:])
		got, err := runbook.EvalBranch(cs, "no", vars)
		if err != nil {
			t.Fatalf("%s: %v", tc.choice, err)
		}
		if (got == "yes") != tc.want {
			t.Errorf("%s: went to %s", tc.choice, got)
		}
	}
}

func TestEvalBranchOrderAndDefault(t *testing.T) {
	cs := choices(t, "- {NextStep: one, Variable: '{{ X }}', StringEquals: a}\n- {NextStep: two, Variable: '{{ X }}', StartsWith: a}")
	if got, _ := runbook.EvalBranch(cs, "d", map[string]any{"X": "a"}); got != "one" {
		t.Errorf("first wins: %s", got)
	}
	if got, _ := runbook.EvalBranch(cs, "d", map[string]any{"X": "b"}); got != "d" {
		t.Errorf("default: %s", got)
	}
	if got, _ := runbook.EvalBranch(cs, "", map[string]any{"X": "b"}); got != "" {
		t.Errorf("no default: %s", got)
	}
	num := choices(t, "- {NextStep: one, Variable: '{{ X }}', NumericEquals: 1}")
	if _, err := runbook.EvalBranch(num, "", map[string]any{"X": "abc"}); err == nil {
		t.Error("non-number compared")
	}
}
