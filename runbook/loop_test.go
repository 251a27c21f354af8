package runbook_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"tocsin"
	"tocsin/runbook"
)

// hostsDoc visits three hosts in turn: a call naming the host and the
// iteration, then a pause a responder resumes; after the loop a call
// reads the loop's last value and the last call's output.
const hostsDoc = `
schemaVersion: '0.3'
parameters:
  Hosts: {type: StringList, default: [web-1, web-2, web-3]}
outputs: [Visit.CurrentIteration, Call.StatusCode]
mainSteps:
- name: Visit
  action: 'aws:loop'
  inputs:
    Iterators: '{{ Hosts }}'
    Steps:
    - name: Call
      action: 'tocsin:http'
      inputs: {Method: GET, URL: 'https://x.test/{{ Visit.CurrentIteratorValue }}/{{ Visit.CurrentIteration }}'}
    - {name: Check, action: 'aws:pause', description: 'Look at {{ Visit.CurrentIteratorValue }}'}
- name: After
  action: 'tocsin:http'
  inputs: {Method: GET, URL: 'https://x.test/done/{{ Visit.CurrentIteratorValue }}/{{ Call.StatusCode }}'}
`

func TestLoopOverListWithPause(t *testing.T) {
	r := newRunner(t, hostsDoc, nil, nil)
	r.start()
	for i, host := range []string{"web-1", "web-2", "web-3"} {
		call := r.cur()
		if call.Name != "Call" || call.Inputs["URL"] != fmt.Sprintf("https://x.test/%s/%d", host, i+1) {
			t.Fatalf("iteration %d: at %s with %v; steps %s", i+1, call.Name, call.Inputs, r.trail())
		}
		if cur, up := runbook.Progress(r.doc, r.exec); cur == nil || cur.Name != "Call" || strings.Join(up, ",") != "Check,After" {
			t.Fatalf("progress at Call: %v %v", cur, up)
		}
		res := r.result()
		res.Outputs = map[string]any{"StatusCode": 200 + i}
		r.advance(res)
		r.wantStatus(tocsin.RunbookWaiting)
		if r.cur().Name != "Check" {
			t.Fatalf("iteration %d: at %s", i+1, r.cur().Name)
		}
		visit := r.step("Visit")
		if visit.Status != tocsin.RunbookInProgress || visit.Outputs["CurrentIteration"] != float64(i+1) || visit.Outputs["CurrentIteratorValue"] != host {
			t.Fatalf("iteration %d: loop step %+v", i+1, visit)
		}
		r.mustSignal(tocsin.SignalResume, "bob", "")
	}
	if got := r.trail(); got != "Visit:Success Call:Success Check:Success Call:Success Check:Success Call:Success Check:Success After:InProgress" {
		t.Fatalf("trail %s", got)
	}
	for i, st := range r.exec.Steps {
		if st.Seq != i+1 {
			t.Fatalf("step %d has Seq %d", i, st.Seq)
		}
	}
	if got := r.cur().Inputs["URL"]; got != "https://x.test/done/web-3/202" {
		t.Fatalf("after the loop: URL %v", got)
	}
	visit := r.step("Visit")
	if want := map[string]any{"CurrentIteration": float64(3), "CurrentIteratorValue": "web-3"}; !reflect.DeepEqual(visit.Outputs, want) {
		t.Fatalf("loop outputs %v", visit.Outputs)
	}
	res := r.result()
	res.Outputs = map[string]any{"StatusCode": 204}
	r.advance(res)
	r.wantStatus(tocsin.RunbookSuccess)
	if want := map[string]any{"Visit.CurrentIteration": float64(3), "Call.StatusCode": float64(202)}; !reflect.DeepEqual(r.exec.Outputs, want) {
		t.Fatalf("outputs %v", r.exec.Outputs)
	}
	msgs := strings.Join(r.messages(), "\n")
	for _, want := range []string{
		`Step "Visit" (aws:loop) started over 3 item(s), at most 100 iteration(s)`,
		`Step "Visit" (aws:loop) iteration 1 of 3: web-1`,
		`Step "Visit" (aws:loop) iteration 3 of 3: web-3`,
		`Step "Visit" (aws:loop) ran 3 iteration(s)`,
		`Step "Visit" succeeded`,
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("timeline lacks %q:\n%s", want, msgs)
		}
	}
}

// pollDoc polls until the answer says ready (a do-while loop).
const pollDoc = `
schemaVersion: '0.3'
mainSteps:
- name: Wait
  action: 'aws:loop'
  inputs:
    %s
    LoopCondition: {Variable: '{{ Poll.Ready }}', BooleanEquals: false}
    Steps:
    - name: Poll
      action: 'tocsin:http'
      inputs: {Method: GET, URL: 'https://x.test/ready?try={{ Wait.CurrentIteration }}'}
      outputs: [{Name: Ready, Selector: $.Body.ready, Type: Boolean}]
- {name: Done, action: 'aws:pause'}
`

func TestLoopCondition(t *testing.T) {
	for _, tc := range []struct {
		name, max string
		answers   []bool
		n         int
		capped    bool
	}{
		{"endsByCondition", "", []bool{false, false, true}, 3, false},
		{"readyAtOnce", "MaxIterations: 5", []bool{true}, 1, false},
		{"maxIterations", "MaxIterations: 2", []bool{false, false}, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner(t, fmt.Sprintf(pollDoc, tc.max), nil, nil)
			r.start()
			for i, ready := range tc.answers {
				if got := r.cur().Inputs["URL"]; got != fmt.Sprintf("https://x.test/ready?try=%d", i+1) {
					t.Fatalf("try %d: URL %v", i+1, got)
				}
				res := r.result()
				res.Outputs = map[string]any{"StatusCode": 200, "Body": map[string]any{"ready": ready}}
				r.advance(res)
			}
			r.wantStatus(tocsin.RunbookWaiting)
			if r.cur().Name != "Done" {
				t.Fatalf("at %s, steps %s", r.cur().Name, r.trail())
			}
			loop := r.step("Wait")
			if loop.Status != tocsin.RunbookSuccess || !reflect.DeepEqual(loop.Outputs, map[string]any{"CurrentIteration": float64(tc.n)}) {
				t.Fatalf("loop %+v", loop)
			}
			capped := strings.Contains(strings.Join(r.messages(), "\n"), "reached MaxIterations")
			if capped != tc.capped {
				t.Fatalf("capped %v, want %v:\n%s", capped, tc.capped, strings.Join(r.messages(), "\n"))
			}
		})
	}
}

func TestLoopDefaultMaxIterations(t *testing.T) {
	// A condition that always holds runs the body AWS's 100 times; steps
	// that finish at once chain within one decision.
	r := newRunner(t, `
schemaVersion: '0.3'
mainSteps:
- name: Spin
  action: 'aws:loop'
  inputs:
    LoopCondition: {Variable: '{{ Spin.CurrentIteration }}', NumericGreater: 0}
    Steps: [{name: Nap, action: 'aws:sleep', inputs: {Duration: PT0S}}]
`, nil, nil)
	r.start()
	r.wantStatus(tocsin.RunbookSuccess)
	if got := r.step("Spin").Outputs["CurrentIteration"]; got != float64(runbook.DefaultLoopIterations) || len(r.exec.Steps) != 101 {
		t.Fatalf("iterations %v, %d steps", got, len(r.exec.Steps))
	}
}

// failDoc has a call inside a loop over two hosts fail, with the inner
// step's and the loop's onFailure given by the test.
const failDoc = `
schemaVersion: '0.3'
mainSteps:
- name: Each
  action: 'aws:loop'
  %s
  inputs:
    Iterators: [a, b]
    Steps:
    - {name: Call, action: 'tocsin:http', %s inputs: {Method: GET, URL: 'https://x.test/{{ Each.CurrentIteratorValue }}'}}
    - {name: Undo, action: 'aws:sleep', inputs: {Duration: PT0S}}
- {name: After, action: 'aws:sleep', inputs: {Duration: PT0S}}
`

func TestLoopNestedFailure(t *testing.T) {
	for _, tc := range []struct {
		name, loop, inner string
		calls             int
		trail, status     string
		failure           string
	}{
		{"abort", "", "", 1, "Each:Failed Call:Failed", tocsin.RunbookFailed, `step "Call" failed: boom`},
		{"abortThenLoopContinues", "onFailure: Continue,", "", 1, "Each:Failed Call:Failed After:Success", tocsin.RunbookSuccess, ""},
		{"abortThenLoopStep", "onFailure: 'step:After',", "", 1, "Each:Failed Call:Failed After:Success", tocsin.RunbookFailed, `step "Call" failed: boom`},
		{"loopRetried", "maxAttempts: 2,", "", 2, "Each:Failed Call:Failed Call:Failed", tocsin.RunbookFailed, `step "Call" failed: boom`},
		{"continue", "", "onFailure: Continue,", 2, "Each:Success Call:Failed Undo:Success Call:Failed Undo:Success After:Success", tocsin.RunbookSuccess, ""},
		{"stepInLoop", "", "onFailure: 'step:Undo', isCritical: false,", 2, "Each:Success Call:Failed Undo:Success Call:Failed Undo:Success After:Success", tocsin.RunbookSuccess, ""},
		{"timedOut", "", "timeoutSeconds: 5,", 1, "Each:TimedOut Call:TimedOut", tocsin.RunbookTimedOut, `step "Call" timed out: timed out after 5s`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loop := strings.TrimSuffix(tc.loop, ",")
			r := newRunner(t, fmt.Sprintf(failDoc, loop, tc.inner), nil, nil)
			r.start()
			calls := 0
			for !tocsin.RunbookEnded(r.exec.Status) && r.cur().Name == "Call" {
				calls++
				res := r.result()
				if tc.name == "timedOut" {
					res.TimedOut = true
				} else {
					res.Error = "boom"
				}
				r.advance(res)
			}
			if calls != tc.calls {
				t.Errorf("%d calls, want %d", calls, tc.calls)
			}
			if got := r.trail(); got != tc.trail {
				t.Fatalf("trail %s, want %s", got, tc.trail)
			}
			r.wantStatus(tc.status)
			if r.exec.FailureMessage != tc.failure {
				t.Fatalf("failure %q, want %q", r.exec.FailureMessage, tc.failure)
			}
		})
	}
}

func TestLoopCancel(t *testing.T) {
	const doc = `
schemaVersion: '0.3'
mainSteps:
- name: Each
  action: 'aws:loop'
  inputs:
    Iterators: [a, b, c]
    Steps:
    - {name: Hold, action: 'aws:pause', onCancel: '%s'}
    - {name: Undo, action: 'aws:sleep', inputs: {Duration: PT0S}}
- {name: After, action: 'aws:sleep', inputs: {Duration: PT0S}}
`
	t.Run("abort", func(t *testing.T) {
		r := newRunner(t, fmt.Sprintf(doc, "Abort"), nil, nil)
		r.start()
		r.mustSignal(tocsin.SignalResume, "bob", "")
		r.mustSignal(tocsin.SignalCancel, "bob", "")
		r.wantStatus(tocsin.RunbookCancelled)
		if got := r.trail(); got != "Each:Cancelled Hold:Success Undo:Success Hold:Cancelled" {
			t.Fatalf("trail %s", got)
		}
		if r.step("Each").EndedAt.IsZero() {
			t.Error("the loop's run did not end")
		}
	})
	t.Run("onCancel", func(t *testing.T) {
		// The onCancel step runs inside the loop; the loop ends
		// Cancelled after it, no further iteration, and the execution
		// goes on as after any onCancel step, ending Cancelled.
		r := newRunner(t, fmt.Sprintf(doc, "step:Undo"), nil, nil)
		r.start()
		r.mustSignal(tocsin.SignalCancel, "bob", "")
		r.wantStatus(tocsin.RunbookCancelled)
		if got := r.trail(); got != "Each:Cancelled Hold:Cancelled Undo:Success After:Success" {
			t.Fatalf("trail %s", got)
		}
	})
}

func TestLoopIteratorTypes(t *testing.T) {
	r := newRunner(t, `
schemaVersion: '0.3'
mainSteps:
- name: Each
  action: 'aws:loop'
  inputs:
    Iterators: [10, 20]
    IteratorDataType: Integer
    MaxIterations: 1
    Steps:
    - {name: Hold, action: 'aws:pause'}
`, nil, nil)
	r.start()
	if got := r.step("Each").Outputs["CurrentIteratorValue"]; got != float64(10) {
		t.Fatalf("value %#v", got)
	}
	r.mustSignal(tocsin.SignalResume, "bob", "")
	r.wantStatus(tocsin.RunbookSuccess) // MaxIterations 1 ends it with an item left
	if got := r.trail(); got != "Each:Success Hold:Success" {
		t.Fatalf("trail %s", got)
	}
}

func TestLoopEmptyIterators(t *testing.T) {
	r := newRunner(t, hostsDoc, map[string][]string{"Hosts": {}}, nil)
	r.start()
	if got := r.trail(); got != "Visit:Success After:Failed" {
		t.Fatalf("trail %s", got) // After reads a value no iteration gave
	}
	if !strings.Contains(r.step("After").FailureMessage, "unknown variable {{ Visit.CurrentIteratorValue }}") {
		t.Fatalf("After: %s", r.step("After").FailureMessage)
	}
}

func TestLoopValidation(t *testing.T) {
	loop := func(inputs string, more ...string) string {
		return "- name: L\n  action: 'aws:loop'\n" + strings.Join(more, "") + "  inputs:\n" + inputs
	}
	const steps = "    Steps: [{name: In, action: 'aws:pause'}]\n"
	for _, tc := range []struct{ name, steps, want string }{
		{"nextOut", "- {name: a, action: 'aws:pause'}\n" + loop("    Iterators: [x]\n    Steps: [{name: In, action: 'aws:pause', nextStep: a}]\n"),
			`mainSteps[1].inputs.Steps[0].nextStep: step "a" is not in loop "L"`},
		{"onFailureOut", "- {name: a, action: 'aws:pause'}\n" + loop("    Iterators: [x]\n    Steps: [{name: In, action: 'aws:pause', onFailure: 'step:a'}]\n"),
			`mainSteps[1].inputs.Steps[0].onFailure: step "a" is not in loop "L"`},
		{"branchOut", "- {name: a, action: 'aws:pause'}\n" + loop("    Iterators: [x]\n    Steps: [{name: In, action: 'aws:branch', inputs: {Choices: [{NextStep: a, Variable: x, StringEquals: y}]}}]\n"),
			`mainSteps[1].inputs.Steps[0].inputs.Choices[0].NextStep: step "a" is not in loop "L"`},
		{"jumpIn", "- {name: a, action: 'aws:pause', nextStep: In}\n" + loop("    Iterators: [x]\n"+steps),
			`mainSteps[0].nextStep: step "In" is inside loop "L": only the steps of that loop may go to it`},
		{"missing", loop("    Iterators: [x]\n    Steps: [{name: In, action: 'aws:pause', nextStep: Nope}]\n"),
			`mainSteps[0].inputs.Steps[0].nextStep: no step "Nope"`},
		{"dup", "- {name: In, action: 'aws:pause'}\n" + loop("    Iterators: [x]\n"+steps),
			`mainSteps[1].inputs.Steps[0].name: "In" is also the name of mainSteps[0]`},
		{"dupInside", loop("    Iterators: [x]\n    Steps: [{name: In, action: 'aws:pause'}, {name: In, action: 'aws:pause'}]\n"),
			`mainSteps[0].inputs.Steps[1].name: "In" is also the name of mainSteps[0].inputs.Steps[0]`},
		{"both", loop("    Iterators: [x]\n    LoopCondition: {Variable: x, StringEquals: y}\n" + steps), `mainSteps[0].inputs: aws:loop takes one of Iterators or LoopCondition`},
		{"neither", loop(steps), `mainSteps[0].inputs: aws:loop takes one of Iterators or LoopCondition`},
		{"noSteps", loop("    Iterators: [x]\n    Steps: []\n"), `mainSteps[0].inputs.Steps: must be a non-empty list of steps`},
		{"iteratorsText", loop("    Iterators: a,b\n" + steps), `mainSteps[0].inputs.Iterators: must be a list or a {{ }} reference to one`},
		{"iteratorType", loop("    Iterators: [1, x]\n    IteratorDataType: Integer\n" + steps), `mainSteps[0].inputs.Iterators[1]: x is not an Integer`},
		{"dataType", loop("    Iterators: [x]\n    IteratorDataType: Float\n" + steps), `mainSteps[0].inputs.IteratorDataType: Float is not Boolean, Integer, String or StringMap`},
		{"maxZero", loop("    Iterators: [x]\n    MaxIterations: 0\n" + steps), `mainSteps[0].inputs.MaxIterations: 0 is not a whole number from 1 to 1000`},
		{"maxBig", loop("    Iterators: [x]\n    MaxIterations: 1001\n" + steps), `mainSteps[0].inputs.MaxIterations: 1001 is not a whole number from 1 to 1000`},
		{"condOp", loop("    LoopCondition: {Variable: x, Like: y}\n" + steps), `mainSteps[0].inputs.LoopCondition.Like: unknown operator "Like"`},
		{"condNested", loop("    LoopCondition: {Not: {Variable: x, NumericGreater: lots}}\n" + steps), `mainSteps[0].inputs.LoopCondition.Not.NumericGreater: "lots" is not a number`},
		{"condList", loop("    LoopCondition: [{Variable: x, StringEquals: y}]\n" + steps), `mainSteps[0].inputs.LoopCondition: must be one condition`},
		{"loopInLoop", loop("    Iterators: [x]\n    Steps: [{name: In, action: 'aws:loop', inputs: {Iterators: [y], Steps: [{name: Deep, action: 'aws:pause'}]}}]\n"),
			`mainSteps[0].inputs.Steps[0].action: step "In": aws:loop cannot be nested in aws:loop "L"`},
		{"onCancel", loop("    Iterators: [x]\n"+steps, "  onCancel: Abort\n"), `mainSteps[0].onCancel: aws:loop takes no onCancel`},
		{"timeout", loop("    Iterators: [x]\n"+steps, "  timeoutSeconds: 60\n"), `mainSteps[0].timeoutSeconds: aws:loop takes no timeoutSeconds`},
		{"unknownKey", loop("    Iterators: [x]\n    Steps: [{name: In, action: 'aws:pause', next_step: x}]\n"), `mainSteps[0].inputs.Steps[0]: unknown field "next_step"`},
		{"nullStep", loop("    Iterators: [x]\n    Steps: [null]\n"), `mainSteps[0].inputs.Steps[0]: is empty`},
		{"unsupported", loop("    Iterators: [x]\n    Steps: [{name: Boot, action: 'aws:runInstances'}]\n"), `mainSteps[0].inputs.Steps[0].action: step "Boot": action "aws:runInstances" is not supported`},
		{"innerInput", loop("    Iterators: [x]\n    Steps: [{name: In, action: 'aws:sleep', inputs: {Duration: P8D}}]\n"), `mainSteps[0].inputs.Steps[0].inputs.Duration: P8D is longer than 7 days`},
		{"unknownInput", loop("    Iterators: [x]\n    Count: 3\n" + steps), `mainSteps[0].inputs.Count: is not an input of aws:loop`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := load(t, "schemaVersion: '0.3'\nmainSteps:\n"+tc.steps)
			got := d.Validate().Err()
			if got == nil || !strings.Contains(got.Error(), tc.want) {
				t.Fatalf("got %v, want %s", got, tc.want)
			}
		})
	}
}

func TestLoopDocumentRoundTrips(t *testing.T) {
	// The API stores the parsed document as JSON and executions parse
	// it again: the nested steps must come back.
	d := load(t, hostsDoc)
	if ps := d.Validate(); len(ps) != 0 {
		t.Fatal(ps)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	again, err := runbook.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if ps := again.Validate(); len(ps) != 0 {
		t.Fatal(ps)
	}
	if s := again.Step("Check"); s == nil || s.Action != "aws:pause" || s.Description != "Look at {{ Visit.CurrentIteratorValue }}" {
		t.Fatalf("nested step after a round trip: %+v", s)
	}
	if len(again.MainSteps[0].Loop) != 2 {
		t.Fatalf("loop steps %v", again.MainSteps[0].Loop)
	}
}

func TestLoopPolicyWalksNestedSteps(t *testing.T) {
	d := load(t, `
schemaVersion: '0.3'
mainSteps:
- name: Each
  action: 'aws:loop'
  inputs:
    Iterators: [a]
    Steps:
    - {name: Run, action: 'tocsin:script', inputs: {Runtime: bash, Script: 'echo hi'}}
    - {name: Call, action: 'tocsin:http', inputs: {Method: GET, URL: 'https://evil.test/{{ Each.CurrentIteratorValue }}'}}
`)
	got := d.Allowed(runbook.Policy{HTTPAllow: []string{"https://ok.test/"}}).Err()
	for _, want := range []string{
		`mainSteps[0].inputs.Steps[0].action: step "Run": tocsin:script is not allowed: set runbooks.scripts.enabled: true`,
		`mainSteps[0].inputs.Steps[1].inputs.URL: step "Call": https://evil.test is the host of no prefix of runbooks.http.allow`,
	} {
		if got == nil || !strings.Contains(got.Error(), want) {
			t.Errorf("got %v, want %s", got, want)
		}
	}
	if ps := d.Allowed(runbook.Policy{HTTPAllow: []string{"https://evil.test/"}, Scripts: true, Interpreters: []string{"bash"}}); len(ps) != 0 {
		t.Errorf("allowed by the policy: %v", ps)
	}
}
