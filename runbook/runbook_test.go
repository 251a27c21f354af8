package runbook_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"tocsin/runbook"
)

func load(t *testing.T, src string) *runbook.Document {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(src), &m); err != nil {
		t.Fatal(err)
	}
	d, err := runbook.FromMap(m)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestBlogRunbookValidates(t *testing.T) {
	src, err := os.ReadFile("testdata/ec2-cpu-util-runbook.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := load(t, string(src))
	if ps := d.Validate(); len(ps) != 0 {
		t.Fatalf("problems: %v", ps)
	}
	var names []string
	for _, s := range d.MainSteps {
		names = append(names, s.Name)
		if s.Action != "aws:pause" || s.Description == "" {
			t.Errorf("%s: %s %q", s.Name, s.Action, s.Description)
		}
	}
	if got := strings.Join(names, ","); got != "Inspect,AddMetrics,AttachToAutoScalingGroup,Validate,CloseIncident" {
		t.Errorf("steps %s", got)
	}
}

const base = `
schemaVersion: '0.3'
assumeRole: arn:aws:iam::1:role/x
parameters:
  Name: {type: String, default: web, allowedValues: [web, db]}
mainSteps:
`

func TestValidateProblems(t *testing.T) {
	for _, tc := range []struct{ name, steps, want string }{
		{"dup", "- {name: a, action: 'aws:pause'}\n- {name: a, action: 'aws:pause'}", `mainSteps[1].name: "a" is also the name of mainSteps[0]`},
		{"next", "- {name: a, action: 'aws:pause', nextStep: x}", `mainSteps[0].nextStep: no step "x"`},
		{"onFailure", "- {name: a, action: 'aws:pause', onFailure: 'step:x'}", `mainSteps[0].onFailure: no step "x"`},
		{"onFailureBad", "- {name: a, action: 'aws:pause', onFailure: Retry}", `mainSteps[0].onFailure: "Retry" is not`},
		{"onCancel", "- {name: a, action: 'aws:pause', onCancel: 'step:y'}", `mainSteps[0].onCancel: no step "y"`},
		{"unsupported", "- {name: Boot, action: 'aws:runInstances', inputs: {ImageId: x}}", `mainSteps[0].action: step "Boot": action "aws:runInstances" is not supported`},
		{"branchTarget", "- {name: a, action: 'aws:branch', inputs: {Choices: [{NextStep: x, Variable: '{{ Name }}', StringEquals: web}], Default: z}}", `mainSteps[0].inputs.Choices[0].NextStep: no step "x"`},
		{"branchDefault", "- {name: a, action: 'aws:branch', inputs: {Choices: [{NextStep: a, Variable: '{{ Name }}', StringEquals: web}], Default: z}}", `mainSteps[0].inputs.Default: no step "z"`},
		{"branchOp", "- {name: a, action: 'aws:branch', inputs: {Choices: [{NextStep: a, Variable: '{{ Name }}', StringMatches: web}]}}", `mainSteps[0].inputs.Choices[0].StringMatches: unknown operator "StringMatches"`},
		{"branchNum", "- {name: a, action: 'aws:branch', inputs: {Choices: [{NextStep: a, Variable: '{{ Name }}', NumericGreater: lots}]}}", `Choices[0].NumericGreater: "lots" is not a number`},
		{"nested", "- {name: a, action: 'aws:branch', inputs: {Choices: [{NextStep: a, And: [{Variable: '{{ Name }}', Like: x}]}]}}", `Choices[0].And[0].Like: unknown operator`},
		{"sleepLong", "- {name: a, action: 'aws:sleep', inputs: {Duration: P8D}}", `mainSteps[0].inputs.Duration: P8D is longer than 7 days`},
		{"sleepBad", "- {name: a, action: 'aws:sleep', inputs: {Duration: 10m}}", `mainSteps[0].inputs.Duration: "10m" is not an ISO 8601 duration`},
		{"sleepTs", "- {name: a, action: 'aws:sleep', inputs: {Timestamp: tomorrow}}", `mainSteps[0].inputs.Timestamp: "tomorrow" is not a timestamp`},
		{"sleepNone", "- {name: a, action: 'aws:sleep', inputs: {}}", `mainSteps[0].inputs: aws:sleep takes one of Duration or Timestamp`},
		{"approve", "- {name: a, action: 'aws:approve', inputs: {Approvers: [x], MinRequiredApprovals: 2}}", `MinRequiredApprovals: 2 is more than the 1 approvers`},
		{"approveNone", "- {name: a, action: 'aws:approve', inputs: {}}", `mainSteps[0].inputs.Approvers: is required by aws:approve`},
		{"pauseInput", "- {name: a, action: 'aws:pause', inputs: {Foo: 1}}", `mainSteps[0].inputs.Foo: is not an input of aws:pause`},
		{"http", "- {name: a, action: 'tocsin:http', inputs: {Method: FETCH, URL: 'http://x'}}", `mainSteps[0].inputs.Method: "FETCH" is not`},
		{"script", "- {name: a, action: 'tocsin:script', inputs: {Runtime: ruby, Script: x}}", `mainSteps[0].inputs.Runtime: "ruby" is not python3 or bash`},
		{"exec", "- {name: a, action: 'aws:executeAutomation', inputs: {}}", `mainSteps[0].inputs.DocumentName: is required`},
		{"outputType", "- {name: a, action: 'tocsin:http', inputs: {Method: GET, URL: 'http://x'}, outputs: [{Name: o, Selector: $.a, Type: Float}]}", `mainSteps[0].outputs[0].Type: "Float" is not a type`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := load(t, base+tc.steps)
			got := d.Validate().Err()
			if got == nil || !strings.Contains(got.Error(), tc.want) {
				t.Fatalf("got %v, want %s", got, tc.want)
			}
		})
	}
}

func TestValidateParameters(t *testing.T) {
	for _, tc := range []struct{ params, want string }{
		{"P: {type: Float}", `parameters.P.type: "Float" is not`},
		{"P: {type: Integer, default: ten}", `parameters.P.default: default ten is not a Integer`},
		{"P: {type: String, default: x, allowedValues: [a, b]}", `parameters.P.default: "x" is not one of allowedValues`},
		{"P: {type: String, default: x1, allowedPattern: '^[a-z]+$'}", `parameters.P.default: "x1" does not match allowedPattern`},
		{"P: {type: String, allowedPattern: '('}", `parameters.P.allowedPattern: does not compile`},
		{"P: {type: StringList, default: [a, b, c], maxItems: 2}", `more than maxItems 2`},
		{"P: {type: Boolean, minChars: 2}", `parameters.P.minChars: applies only to String`},
	} {
		d := load(t, "schemaVersion: '0.3'\nparameters:\n  "+tc.params+"\nmainSteps:\n- {name: a, action: 'aws:pause'}\n")
		if got := d.Validate().Err(); got == nil || !strings.Contains(got.Error(), tc.want) {
			t.Errorf("%s: got %v, want %s", tc.params, got, tc.want)
		}
	}
}

func TestValidateEveryProblem(t *testing.T) {
	d := load(t, "schemaVersion: '0.2'\nmainSteps:\n- {name: a, action: 'aws:runInstances', nextStep: b}\n")
	if ps := d.Validate(); len(ps) != 3 {
		t.Fatalf("want 3 problems, got %v", ps)
	}
}

func TestParseRefusesUnknownKey(t *testing.T) {
	if _, err := runbook.Parse([]byte(`{"schemaVersion":"0.3","mainStep":[]}`)); err == nil {
		t.Fatal("unknown key accepted")
	}
}

func TestParams(t *testing.T) {
	d := load(t, `
schemaVersion: '0.3'
parameters:
  S: {type: String, default: web, allowedValues: [web, db]}
  L: {type: StringList, default: [a]}
  I: {type: Integer, default: 3}
  B: {type: Boolean, default: false}
  M: {type: StringMap, default: {k: v}}
  ML: {type: MapList, default: [{k: v}]}
mainSteps:
- {name: a, action: 'aws:pause'}
`)
	got, err := runbook.Params(d, map[string][]string{"I": {"42"}, "B": {"true"}, "L": {"x", "y"}, "ML": {`[{"a":1}]`}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"S": "web", "L": []any{"x", "y"}, "I": int64(42), "B": true,
		"M": map[string]any{"k": "v"}, "ML": []any{map[string]any{"a": float64(1)}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}
	for _, tc := range []struct {
		given map[string][]string
		want  string
	}{
		{map[string][]string{"I": {"x"}}, `parameters.I: "x" is not an Integer`},
		{map[string][]string{"B": {"yes"}}, `parameters.B: "yes" is not a Boolean`},
		{map[string][]string{"S": {"mail"}}, `parameters.S: "mail" is not one of allowedValues`},
		{map[string][]string{"S": {"web", "db"}}, `parameters.S: takes one value, got 2`},
		{map[string][]string{"M": {"[1]"}}, `parameters.M: is not a StringMap`},
		{map[string][]string{"Z": {"1"}}, `parameters.Z: is not a parameter of the document`},
	} {
		if _, err := runbook.Params(d, tc.given); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %s", tc.given, err, tc.want)
		}
	}
	req := load(t, "schemaVersion: '0.3'\nparameters:\n  R: {type: String}\nmainSteps:\n- {name: a, action: 'aws:pause'}\n")
	if _, err := runbook.Params(req, nil); err == nil || !strings.Contains(err.Error(), "parameters.R: is required") {
		t.Errorf("required: %v", err)
	}
}

func TestInterpolate(t *testing.T) {
	vars := runbook.Globals(time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC), "e1")
	vars["Title"] = "CPU {{ Secret }} $(rm -rf /)"
	vars["Ids"] = []any{"i-1", "i-2"}
	vars["Check.Status"] = int64(200)
	in := map[string]any{"Body": "t={{Title}} s={{ Check.Status }} on {{ global:DATE }}", "Ids": "{{ Ids }}", "N": []any{"{{ automation:EXECUTION_ID }}"}}
	got, err := runbook.Interpolate(in, vars)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"Body": "t=CPU {{ Secret }} $(rm -rf /) s=200 on 2024-03-04", "Ids": []any{"i-1", "i-2"}, "N": []any{"e1"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}
	if _, err := runbook.Interpolate("{{ Nope }}", vars); err == nil || !strings.Contains(err.Error(), "{{ Nope }}") {
		t.Errorf("unknown: %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	for s, want := range map[string]time.Duration{"PT10M": 10 * time.Minute, "P1DT2H": 26 * time.Hour, "P1W": 7 * 24 * time.Hour, "PT1.5S": 1500 * time.Millisecond} {
		if got, err := runbook.ParseDuration(s); err != nil || got != want {
			t.Errorf("%s: %v %v", s, got, err)
		}
	}
	for _, s := range []string{"P", "PT", "10M", "P1M", "P1Y"} {
		if _, err := runbook.ParseDuration(s); err == nil {
			t.Errorf("%s accepted", s)
		}
	}
}
