package runbook_test

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/runbook"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// runner drives one execution the way the store does: it applies each
// decision's Effects, keeps the execution as JSON between decisions (so
// numbers come back as float64, as from a database) and collects the
// timeline.
type runner struct {
	t      *testing.T
	doc    *runbook.Document
	exec   *tocsin.RunbookExecution
	c      runbook.Context
	now    time.Time
	eff    runbook.Effects
	events []*tocsin.TimelineEvent
	ids    int
}

func newRunner(t *testing.T, src string, params map[string][]string, inc *tocsin.Incident) *runner {
	t.Helper()
	doc := load(t, src)
	if ps := doc.Validate(); len(ps) != 0 {
		t.Fatalf("document: %v", ps)
	}
	typed, err := runbook.Params(doc, params)
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{t: t, doc: doc, now: t0}
	r.exec = &tocsin.RunbookExecution{ID: "ex1", IncidentID: "inc1", Runbook: "rb", Version: 1,
		Parameters: typed, StartedBy: "alice via api", Row: 7}
	r.c = runbook.Context{Incident: inc, NewID: func() string { r.ids++; return fmt.Sprintf("id%d", r.ids) }}
	return r
}

func (r *runner) apply(eff runbook.Effects, err error) runbook.Effects {
	r.t.Helper()
	if err != nil {
		r.t.Fatalf("decision: %v", err)
	}
	r.eff = eff
	if eff.Execution == nil {
		return eff
	}
	if eff.Execution.Row != r.exec.Row {
		r.t.Errorf("Row changed from %d to %d: the store compare-and-sets it", r.exec.Row, eff.Execution.Row)
	}
	b, err := json.Marshal(eff.Execution)
	if err != nil {
		r.t.Fatal(err)
	}
	var e tocsin.RunbookExecution
	if err := json.Unmarshal(b, &e); err != nil {
		r.t.Fatal(err)
	}
	e.Row = eff.Execution.Row
	r.exec = &e
	r.events = append(r.events, eff.Events...)
	return eff
}

func (r *runner) start() runbook.Effects {
	r.t.Helper()
	return r.apply(runbook.Start(r.doc, r.exec, r.c, r.now))
}

func (r *runner) advance(res tocsin.RunbookResult) runbook.Effects {
	r.t.Helper()
	res.ExecutionID = r.exec.ID
	return r.apply(runbook.Advance(r.doc, r.exec, res, r.c, r.now))
}

// result is the result of the current step's current attempt.
func (r *runner) result() tocsin.RunbookResult {
	st := r.cur()
	return tocsin.RunbookResult{ExecutionID: r.exec.ID, Seq: st.Seq, Attempt: st.Attempt}
}

func (r *runner) signal(typ, who, comment string) (runbook.Effects, error) {
	return runbook.Signal(r.doc, r.exec, tocsin.RunbookSignal{ExecutionID: r.exec.ID, Type: typ,
		By: tocsin.Actor{Name: who, Via: "api"}, Comment: comment}, r.c, r.now)
}

func (r *runner) mustSignal(typ, who, comment string) runbook.Effects {
	r.t.Helper()
	return r.apply(r.signal(typ, who, comment))
}

func (r *runner) cur() *tocsin.RunbookStep {
	r.t.Helper()
	if r.exec.Current < 1 || r.exec.Current > len(r.exec.Steps) {
		r.t.Fatalf("no current step (status %s, current %d)", r.exec.Status, r.exec.Current)
	}
	return r.exec.Steps[r.exec.Current-1]
}

// step returns the latest run of the named step.
func (r *runner) step(name string) *tocsin.RunbookStep {
	r.t.Helper()
	for i := len(r.exec.Steps) - 1; i >= 0; i-- {
		if r.exec.Steps[i].Name == name {
			return r.exec.Steps[i]
		}
	}
	r.t.Fatalf("step %s did not run", name)
	return nil
}

// trail is the steps run, as name:status.
func (r *runner) trail() string {
	var s []string
	for _, st := range r.exec.Steps {
		s = append(s, st.Name+":"+st.Status)
	}
	return strings.Join(s, " ")
}

func (r *runner) messages() []string {
	var s []string
	for _, e := range r.events {
		s = append(s, e.Message)
	}
	return s
}

func (r *runner) wantStatus(status string) {
	r.t.Helper()
	if r.exec.Status != status {
		r.t.Fatalf("execution %s (%s), want %s; steps %s", r.exec.Status, r.exec.FailureMessage, status, r.trail())
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if tocsin.ErrorCode(err) != code {
		t.Fatalf("error %v, want code %s", err, code)
	}
}

func TestBlogRunbookRunsThroughFiveResumes(t *testing.T) {
	src, err := os.ReadFile("testdata/ec2-cpu-util-runbook.yaml")
	if err != nil {
		t.Fatal(err)
	}
	inc := &tocsin.Incident{ID: "inc1", Title: "EC2HighCPU", Impact: 2, Status: "triggered"}
	r := newRunner(t, string(src), nil, inc)
	r.start()
	r.wantStatus(tocsin.RunbookWaiting)
	if st := r.cur(); st.Name != "Inspect" || st.Status != tocsin.RunbookWaiting || st.Seq != 1 || st.Attempt != 1 || !st.StartedAt.Equal(t0) {
		t.Fatalf("current %+v", st)
	}
	if jobs := stepJobs(r.eff.Jobs); len(jobs) != 0 {
		t.Errorf("a pause without timeoutSeconds queues no step job, got %d", len(jobs))
	}
	steps := []string{"Inspect", "AddMetrics", "AttachToAutoScalingGroup", "Validate", "CloseIncident"}
	for i, name := range steps {
		if got := r.cur().Name; got != name {
			t.Fatalf("resume %d: at %s, want %s", i, got, name)
		}
		r.now = t0.Add(time.Duration(i+1) * time.Minute)
		eff := r.mustSignal(tocsin.SignalResume, "bob", "")
		if i < len(steps)-1 {
			r.wantStatus(tocsin.RunbookWaiting)
			if len(eff.Steps) != 2 || eff.Steps[0].Name != name || eff.Steps[1].Name != steps[i+1] {
				t.Errorf("resume %d: changed steps %v", i, eff.Steps)
			}
		}
	}
	r.wantStatus(tocsin.RunbookSuccess)
	if r.exec.Current != 0 || !r.exec.EndedAt.Equal(t0.Add(5*time.Minute)) || r.exec.FailureMessage != "" {
		t.Errorf("ended %+v", r.exec)
	}
	if r.eff.Ended {
		t.Error("Ended is for executions with a parent")
	}
	want := []string{
		`Runbook "rb" (version 1) started by alice via api`,
		`Step "Inspect" (aws:pause) is waiting for Resume`,
		`Step "Inspect" succeeded`,
		`Step "AddMetrics" (aws:pause) is waiting for Resume`,
		`Step "AddMetrics" succeeded`,
		`Step "AttachToAutoScalingGroup" (aws:pause) is waiting for Resume`,
		`Step "AttachToAutoScalingGroup" succeeded`,
		`Step "Validate" (aws:pause) is waiting for Resume`,
		`Step "Validate" succeeded`,
		`Step "CloseIncident" (aws:pause) is waiting for Resume`,
		`Step "CloseIncident" succeeded`,
		`Runbook "rb" succeeded`,
	}
	if got := r.messages(); !reflect.DeepEqual(got, want) {
		t.Fatalf("timeline:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	kinds := map[string]int{}
	for _, e := range r.events {
		kinds[e.Kind]++
		if e.IncidentID != "inc1" {
			t.Errorf("event for %q", e.IncidentID)
		}
		var d tocsin.RunbookEventData
		if err := json.Unmarshal(e.Data, &d); err != nil || d.ExecutionID != "ex1" || d.Runbook != "rb" || d.Status == "" {
			t.Errorf("data %s: %v", e.Data, err)
		}
	}
	if kinds[tocsin.EventRunbookStarted] != 1 || kinds[tocsin.EventRunbookStep] != 10 || kinds[tocsin.EventRunbookEnded] != 1 {
		t.Errorf("kinds %v", kinds)
	}
	// The responder who resumed is the actor of the step's end; the next
	// step's wait is the runbook's own.
	if r.events[2].Actor != "bob via api" || r.events[3].Actor != "" || r.events[0].Actor != "alice via api" {
		t.Errorf("actors %q %q %q", r.events[0].Actor, r.events[2].Actor, r.events[3].Actor)
	}
	if r.events[len(r.events)-1].Actor != "bob via api" {
		t.Errorf("the last resume ended it: actor %q", r.events[len(r.events)-1].Actor)
	}
	_, err = r.signal(tocsin.SignalResume, "bob", "")
	wantCode(t, err, tocsin.ECONFLICT)
	_, err = r.signal(tocsin.SignalCancel, "bob", "")
	wantCode(t, err, tocsin.ECONFLICT)
}

func TestNoTimelineWithoutIncident(t *testing.T) {
	r := newRunner(t, base+"- {name: a, action: 'aws:pause'}\n", nil, nil)
	r.exec.IncidentID = ""
	r.start()
	r.mustSignal(tocsin.SignalResume, "bob", "")
	r.wantStatus(tocsin.RunbookSuccess)
	if len(r.events) != 0 {
		t.Fatalf("events %v", r.messages())
	}
}

func TestSleep(t *testing.T) {
	r := newRunner(t, base+`
- {name: Nap, action: 'aws:sleep', inputs: {Duration: PT10M}}
- {name: Past, action: 'aws:sleep', inputs: {Timestamp: '2020-01-01T00:00:00Z'}}
- {name: Hold, action: 'aws:pause'}
`, nil, nil)
	eff := r.start()
	r.wantStatus(tocsin.RunbookInProgress)
	st := r.cur()
	if st.Name != "Nap" || st.Status != tocsin.RunbookInProgress || !st.WakeAt.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("step %+v", st)
	}
	if len(eff.Jobs) != 1 {
		t.Fatalf("jobs %v", eff.Jobs)
	}
	j := eff.Jobs[0]
	var args tocsin.RunbookStepArgs
	if err := json.Unmarshal(j.Args, &args); err != nil {
		t.Fatal(err)
	}
	if j.Kind != tocsin.JobRunbookStep || j.Lane != tocsin.RunbookLane || j.Key != tocsin.RunbookStepKey("ex1", 1, 1) ||
		!j.DueAt.Equal(t0.Add(10*time.Minute)) || j.IncidentID != "inc1" ||
		args != (tocsin.RunbookStepArgs{ExecutionID: "ex1", Seq: 1, Attempt: 1, Wake: true}) {
		t.Fatalf("job %+v args %+v", j, args)
	}
	if got := r.messages()[1]; got != `Step "Nap" (aws:sleep) sleeps until 2026-12-01T10:10:00Z` {
		t.Errorf("message %q", got)
	}
	r.now = t0.Add(10 * time.Minute)
	res := r.result()
	res.Woke = true
	r.advance(res)
	// Nap woke, Past was over already: both succeed in one decision.
	if got := r.trail(); got != "Nap:Success Past:Success Hold:Waiting" {
		t.Fatalf("trail %s", got)
	}
	if !r.step("Nap").EndedAt.Equal(r.now) {
		t.Errorf("ended %v", r.step("Nap").EndedAt)
	}
	r.wantStatus(tocsin.RunbookWaiting)
	// The same timer firing again is stale.
	if eff := r.advance(res); !reflect.DeepEqual(eff, runbook.Effects{}) {
		t.Errorf("stale wake: %+v", eff)
	}
}

const httpDoc = `
schemaVersion: '0.3'
outputs: [CallAPI.Status, CallAPI.Missing]
parameters:
  Service: {type: String, default: web}
mainSteps:
- name: CallAPI
  action: 'tocsin:http'
  inputs: {Method: GET, URL: 'https://api.example.test/health/{{ Service }}', Headers: {Accept: application/json}}
  outputs:
  - {Name: Status, Selector: $.Body.status, Type: String}
  - {Name: Count, Selector: $.Body.count, Type: Integer}
  - {Name: Code, Selector: $.StatusCode, Type: Integer}
  - {Name: Hosts, Selector: '$.Body.hosts[*].name', Type: StringList}
- name: Decide
  action: 'aws:branch'
  inputs:
    Choices:
    - {NextStep: Good, And: [{Variable: '{{ CallAPI.Status }}', StringEquals: ok}, {Variable: '{{ CallAPI.Count }}', NumericGreater: 2}]}
    Default: Bad
- {name: Good, action: 'aws:pause', isEnd: true}
- {name: Bad, action: 'aws:pause'}
`

func TestHTTPOutputsAndBranch(t *testing.T) {
	for _, tc := range []struct {
		name, body, trail, status, failure string
	}{
		{"ok", `{"status":"ok","count":3,"hosts":[{"name":"a"},{"name":"b"}]}`, "CallAPI:Success Decide:Success Good:Waiting", tocsin.RunbookWaiting, ""},
		{"degraded", `{"status":"degraded","count":3,"hosts":[]}`, "CallAPI:Success Decide:Success Bad:Waiting", tocsin.RunbookWaiting, ""},
		{"few", `{"status":"ok","count":"1","hosts":[]}`, "CallAPI:Success Decide:Success Bad:Waiting", tocsin.RunbookWaiting, ""},
		{"missing", `{"count":3,"hosts":[]}`, "CallAPI:Failed", tocsin.RunbookFailed, `output "Status": $.Body.status selects nothing`},
		{"wrongType", `{"status":"ok","count":"many","hosts":[]}`, "CallAPI:Failed", tocsin.RunbookFailed, `output "Count": $.Body.count is a string, not a Integer`},
		{"wrongList", `{"status":"ok","count":3,"hosts":[{"name":{"x":1}}]}`, "CallAPI:Failed", tocsin.RunbookFailed, `output "Hosts": $.Body.hosts[*].name is a list, not a StringList`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner(t, httpDoc, map[string][]string{"Service": {"db"}}, nil)
			eff := r.start()
			r.wantStatus(tocsin.RunbookInProgress)
			if len(eff.Jobs) != 1 || eff.Jobs[0].Lane != tocsin.RunbookHTTPLane || eff.Jobs[0].Key != tocsin.RunbookStepKey("ex1", 1, 1) || !eff.Jobs[0].DueAt.Equal(t0) {
				t.Fatalf("jobs %+v", eff.Jobs)
			}
			if got := r.cur().Inputs["URL"]; got != "https://api.example.test/health/db" {
				t.Errorf("URL %v", got)
			}
			var body any
			if err := json.Unmarshal([]byte(tc.body), &body); err != nil {
				t.Fatal(err)
			}
			res := r.result()
			res.Outputs = map[string]any{"StatusCode": 200, "Headers": map[string]string{"Content-Type": "application/json"}, "Body": body}
			r.advance(res)
			if got := r.trail(); got != tc.trail {
				t.Fatalf("trail %s", got)
			}
			r.wantStatus(tc.status)
			call := r.step("CallAPI")
			if call.Outputs["StatusCode"] != float64(200) {
				t.Errorf("StatusCode output %#v", call.Outputs["StatusCode"])
			}
			if tc.failure != "" {
				if call.FailureMessage != tc.failure || r.exec.FailureMessage != tc.failure {
					t.Fatalf("failure %q / %q, want %q", call.FailureMessage, r.exec.FailureMessage, tc.failure)
				}
				return
			}
			if tc.name == "ok" {
				want := map[string]any{"StatusCode": float64(200), "Status": "ok", "Count": float64(3), "Code": float64(200), "Hosts": []any{"a", "b"}}
				if !reflect.DeepEqual(call.Outputs, want) {
					t.Errorf("outputs %#v", call.Outputs)
				}
				r.mustSignal(tocsin.SignalResume, "bob", "")
				r.wantStatus(tocsin.RunbookSuccess) // Good isEnd
				if want := map[string]any{"CallAPI.Status": "ok"}; !reflect.DeepEqual(r.exec.Outputs, want) {
					t.Errorf("execution outputs %#v", r.exec.Outputs)
				}
			}
		})
	}
}

const approveDoc = `
schemaVersion: '0.3'
parameters:
  Need: {type: Integer, default: 1}
mainSteps:
- name: Ask
  action: 'aws:approve'
  timeoutSeconds: 3600
  inputs: {Approvers: [alice, bob, carol], MinRequiredApprovals: '{{ Need }}', Message: 'Restart {{ incident:TITLE }}?'}
- {name: Restart, action: 'aws:pause'}
`

func TestApprove(t *testing.T) {
	inc := &tocsin.Incident{ID: "inc1", Title: "db down"}
	t.Run("approved", func(t *testing.T) {
		r := newRunner(t, approveDoc, nil, inc)
		eff := r.start()
		r.wantStatus(tocsin.RunbookWaiting)
		var notices []string
		timers := 0
		for _, j := range eff.Jobs {
			switch j.Kind {
			case tocsin.JobRunbookNotice:
				var a tocsin.RunbookNoticeArgs
				if err := json.Unmarshal(j.Args, &a); err != nil {
					t.Fatal(err)
				}
				if a.Message != "Restart db down?" || a.Seq != 1 || a.ExecutionID != "ex1" || j.Lane != tocsin.RunbookLane {
					t.Errorf("notice %+v", a)
				}
				notices = append(notices, a.Contact)
			case tocsin.JobRunbookStep:
				timers++
				if !j.DueAt.Equal(t0.Add(time.Hour)) {
					t.Errorf("timeout due %v", j.DueAt)
				}
			}
		}
		if strings.Join(notices, ",") != "alice,bob,carol" || timers != 1 {
			t.Fatalf("notices %v timers %d", notices, timers)
		}
		_, err := r.signal(tocsin.SignalApprove, "mallory", "")
		wantCode(t, err, tocsin.EFORBIDDEN)
		if len(r.cur().Approvals) != 0 {
			t.Fatal("a refused signal changed the step")
		}
		_, err = r.signal(tocsin.SignalResume, "alice", "")
		wantCode(t, err, tocsin.ECONFLICT)
		eff = r.mustSignal(tocsin.SignalApprove, "alice", "lgtm")
		if got := r.trail(); got != "Ask:Success Restart:Waiting" {
			t.Fatalf("trail %s", got)
		}
		if len(eff.Cancel) != 1 || eff.Cancel[0] != tocsin.RunbookStepKey("ex1", 1, 1) {
			t.Errorf("cancel %v", eff.Cancel)
		}
		want := map[string]any{"ApprovalStatus": "Approved", "ApproverDecisions": []any{map[string]any{"Approver": "alice", "Decision": "Approve", "Comment": "lgtm"}}}
		if got := r.step("Ask").Outputs; !reflect.DeepEqual(got, want) {
			t.Errorf("outputs %#v", got)
		}
		if a := r.step("Ask").Approvals; len(a) != 1 || a[0].By != "alice" || !a[0].Approved || !a[0].At.Equal(t0) {
			t.Errorf("approvals %+v", a)
		}
	})
	t.Run("rejected", func(t *testing.T) {
		r := newRunner(t, approveDoc, nil, inc)
		r.start()
		r.mustSignal(tocsin.SignalReject, "bob", "not during the sale")
		r.wantStatus(tocsin.RunbookFailed)
		st := r.step("Ask")
		if st.Status != tocsin.RunbookFailed || st.FailureMessage != "rejected by bob: not during the sale" || st.Outputs["ApprovalStatus"] != "Rejected" {
			t.Fatalf("step %+v", st)
		}
		if r.exec.FailureMessage != "rejected by bob: not during the sale" {
			t.Errorf("failure %q", r.exec.FailureMessage)
		}
	})
	t.Run("two needed", func(t *testing.T) {
		r := newRunner(t, approveDoc, map[string][]string{"Need": {"2"}}, inc)
		r.start()
		r.mustSignal(tocsin.SignalApprove, "alice", "")
		r.wantStatus(tocsin.RunbookWaiting)
		if r.cur().Name != "Ask" || r.cur().Outputs["ApprovalStatus"] != "Waiting" {
			t.Fatalf("step %+v", r.cur())
		}
		_, err := r.signal(tocsin.SignalApprove, "alice", "")
		wantCode(t, err, tocsin.ECONFLICT)
		_, err = r.signal(tocsin.SignalReject, "alice", "changed my mind")
		wantCode(t, err, tocsin.ECONFLICT)
		r.mustSignal(tocsin.SignalApprove, "carol", "")
		if got := r.trail(); got != "Ask:Success Restart:Waiting" {
			t.Fatalf("trail %s", got)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		r := newRunner(t, approveDoc, nil, inc)
		r.start()
		r.now = t0.Add(time.Hour)
		res := r.result()
		res.Woke = true
		r.advance(res)
		r.wantStatus(tocsin.RunbookTimedOut)
		if st := r.step("Ask"); st.Status != tocsin.RunbookTimedOut || st.FailureMessage != "timed out after 3600s waiting for approvals" {
			t.Fatalf("step %+v", st)
		}
		_, err := r.signal(tocsin.SignalApprove, "alice", "")
		wantCode(t, err, tocsin.ECONFLICT)
	})
}

func TestRetries(t *testing.T) {
	r := newRunner(t, base+`
- {name: Call, action: 'tocsin:http', maxAttempts: 3, inputs: {Method: POST, URL: 'https://x.test/'}}
- {name: After, action: 'aws:pause'}
`, nil, nil)
	r.start()
	first := r.result()
	for attempt := 1; attempt <= 2; attempt++ {
		res := r.result()
		res.Error = fmt.Sprintf("503 on attempt %d", attempt)
		eff := r.advance(res)
		st := r.cur()
		if st.Name != "Call" || st.Attempt != attempt+1 || st.Status != tocsin.RunbookInProgress || st.Seq != 1 {
			t.Fatalf("after attempt %d: %+v", attempt, st)
		}
		if len(eff.Jobs) != 1 || eff.Jobs[0].Key != tocsin.RunbookStepKey("ex1", 1, attempt+1) || !eff.Jobs[0].DueAt.Equal(r.now) {
			t.Fatalf("retry job %+v", eff.Jobs)
		}
	}
	// A late result of the first attempt changes nothing.
	first.Error = "late"
	if eff := r.advance(first); !reflect.DeepEqual(eff, runbook.Effects{}) {
		t.Fatalf("stale attempt: %+v", eff)
	}
	res := r.result()
	res.Error = "503 on attempt 3"
	r.advance(res)
	r.wantStatus(tocsin.RunbookFailed)
	if got := r.trail(); got != "Call:Failed" || r.exec.FailureMessage != "503 on attempt 3" {
		t.Fatalf("trail %s failure %q", got, r.exec.FailureMessage)
	}
	if got := r.messages()[2]; got != `Step "Call" (tocsin:http) attempt 1 of 3 failed: 503 on attempt 1; trying again` {
		t.Errorf("retry event %q", got)
	}

	// A wait that times out and has attempts left waits again with a new
	// timer.
	p := newRunner(t, base+"- {name: Hold, action: 'aws:pause', timeoutSeconds: 60, maxAttempts: 2}\n", nil, nil)
	p.start()
	p.now = t0.Add(time.Minute)
	res = p.result()
	res.Woke = true
	eff := p.advance(res)
	if st := p.cur(); st.Attempt != 2 || st.Status != tocsin.RunbookWaiting || !st.WakeAt.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("second attempt %+v", st)
	}
	if jobs := stepJobs(eff.Jobs); len(jobs) != 1 || !jobs[0].DueAt.Equal(t0.Add(2*time.Minute)) || jobs[0].Key != tocsin.RunbookStepKey("ex1", 1, 2) {
		t.Fatalf("re-armed %+v", eff.Jobs)
	}
	p.now = t0.Add(2 * time.Minute)
	res = p.result()
	res.Woke = true
	p.advance(res)
	p.wantStatus(tocsin.RunbookTimedOut)
	if p.exec.FailureMessage != "timed out after 60s waiting for Resume" {
		t.Errorf("failure %q", p.exec.FailureMessage)
	}
}

func TestOnFailure(t *testing.T) {
	const tail = `
- {name: Next, action: 'aws:sleep', inputs: {Duration: PT0S}}
- {name: Cleanup, action: 'aws:sleep', inputs: {Duration: PT0S}, isEnd: true}
`
	for _, tc := range []struct {
		name, props, trail, status string
	}{
		{"abort", "", "Call:Failed", tocsin.RunbookFailed},
		{"abortExplicit", "onFailure: Abort,", "Call:Failed", tocsin.RunbookFailed},
		{"continue", "onFailure: Continue,", "Call:Failed Next:Success Cleanup:Success", tocsin.RunbookSuccess},
		{"continueCritical", "onFailure: Continue, isCritical: true,", "Call:Failed Next:Success Cleanup:Success", tocsin.RunbookFailed},
		{"step", "onFailure: 'step:Cleanup',", "Call:Failed Cleanup:Success", tocsin.RunbookFailed},
		{"stepNotCritical", "onFailure: 'step:Cleanup', isCritical: false,", "Call:Failed Cleanup:Success", tocsin.RunbookSuccess},
		{"continueEnd", "onFailure: Continue, isEnd: true,", "Call:Failed", tocsin.RunbookSuccess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner(t, base+"- {name: Call, action: 'tocsin:http', "+tc.props+" inputs: {Method: GET, URL: 'https://x.test/'}}"+tail, nil, nil)
			r.start()
			res := r.result()
			res.Error = "connection refused"
			res.Outputs = map[string]any{"StatusCode": 502}
			r.advance(res)
			if got := r.step("Call").Outputs["StatusCode"]; got != float64(502) {
				t.Errorf("a failed call's StatusCode %#v", got)
			}
			if got := r.trail(); got != tc.trail {
				t.Fatalf("trail %s, want %s", got, tc.trail)
			}
			r.wantStatus(tc.status)
			wantMsg := ""
			if tc.status == tocsin.RunbookFailed {
				wantMsg = "connection refused"
			}
			if r.exec.FailureMessage != wantMsg {
				t.Errorf("failure %q, want %q", r.exec.FailureMessage, wantMsg)
			}
		})
	}
}

func TestTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name, onFailure, status string
	}{
		{"abort", "", tocsin.RunbookTimedOut},
		{"criticalThenGoOn", "onFailure: 'step:After',", tocsin.RunbookTimedOut},
		{"continue", "onFailure: Continue,", tocsin.RunbookSuccess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner(t, base+"- {name: Script, action: 'tocsin:script', timeoutSeconds: 30, "+tc.onFailure+
				" inputs: {Runtime: python3.11, Handler: main, Script: 'def main(e, c): pass'}}\n- {name: After, action: 'aws:sleep', inputs: {Duration: PT0S}}\n", nil, nil)
			eff := r.start()
			if eff.Jobs[0].Lane != tocsin.RunbookScriptLane {
				t.Errorf("lane %s", eff.Jobs[0].Lane)
			}
			res := r.result()
			res.TimedOut = true
			r.advance(res)
			if st := r.step("Script"); st.Status != tocsin.RunbookTimedOut || st.FailureMessage != "timed out after 30s" {
				t.Fatalf("step %+v", st)
			}
			r.wantStatus(tc.status)
		})
	}
}

func TestCancel(t *testing.T) {
	const doc = `
schemaVersion: '0.3'
mainSteps:
- {name: Hold, action: 'aws:pause', timeoutSeconds: 600, onCancel: '%s'}
- {name: Never, action: 'aws:pause'}
- {name: Cleanup, action: 'tocsin:http', inputs: {Method: DELETE, URL: 'https://x.test/lock'}}
- {name: Confirm, action: 'aws:pause'}
`
	t.Run("abort", func(t *testing.T) {
		r := newRunner(t, fmt.Sprintf(doc, "Abort"), nil, nil)
		r.start()
		eff := r.mustSignal(tocsin.SignalCancel, "bob", "")
		r.wantStatus(tocsin.RunbookCancelled)
		if got := r.trail(); got != "Hold:Cancelled" {
			t.Fatalf("trail %s", got)
		}
		if len(eff.Cancel) != 1 || eff.Cancel[0] != tocsin.RunbookStepKey("ex1", 1, 1) {
			t.Errorf("cancel %v", eff.Cancel)
		}
		if r.exec.Current != 0 || r.exec.EndedAt.IsZero() {
			t.Errorf("exec %+v", r.exec)
		}
		if last := r.events[len(r.events)-1]; last.Kind != tocsin.EventRunbookEnded || last.Actor != "bob via api" || last.Message != `Runbook "rb" was cancelled` {
			t.Errorf("last event %+v", last)
		}
		_, err := r.signal(tocsin.SignalCancel, "bob", "")
		wantCode(t, err, tocsin.ECONFLICT)
	})
	t.Run("onCancel", func(t *testing.T) {
		r := newRunner(t, fmt.Sprintf(doc, "step:Cleanup"), nil, nil)
		r.start()
		eff := r.mustSignal(tocsin.SignalCancel, "bob", "")
		r.wantStatus(tocsin.RunbookCancelling)
		if got := r.trail(); got != "Hold:Cancelled Cleanup:InProgress" {
			t.Fatalf("trail %s", got)
		}
		if jobs := stepJobs(eff.Jobs); len(jobs) != 1 || jobs[0].Lane != tocsin.RunbookHTTPLane {
			t.Fatalf("jobs %+v", eff.Jobs)
		}
		r.advance(r.result())
		r.wantStatus(tocsin.RunbookCancelling) // Confirm waits, still cancelling
		if r.cur().Name != "Confirm" {
			t.Fatalf("at %s", r.cur().Name)
		}
		r.mustSignal(tocsin.SignalResume, "bob", "")
		r.wantStatus(tocsin.RunbookCancelled)
		if got := r.trail(); got != "Hold:Cancelled Cleanup:Success Confirm:Success" {
			t.Fatalf("trail %s", got)
		}
	})
	t.Run("twice", func(t *testing.T) {
		r := newRunner(t, fmt.Sprintf(doc, "step:Confirm"), nil, nil)
		r.start()
		r.mustSignal(tocsin.SignalCancel, "bob", "")
		r.mustSignal(tocsin.SignalCancel, "bob", "")
		r.wantStatus(tocsin.RunbookCancelled)
		if got := r.trail(); got != "Hold:Cancelled Confirm:Cancelled" {
			t.Fatalf("trail %s", got)
		}
	})
	t.Run("running", func(t *testing.T) {
		r := newRunner(t, fmt.Sprintf(doc, "Abort"), nil, nil)
		r.start()
		r.mustSignal(tocsin.SignalResume, "bob", "")
		r.mustSignal(tocsin.SignalResume, "bob", "") // Never → Cleanup runs
		res := r.result()
		eff := r.mustSignal(tocsin.SignalCancel, "bob", "")
		if len(eff.Cancel) != 1 || eff.Cancel[0] != tocsin.RunbookStepKey("ex1", 3, 1) {
			t.Errorf("cancel %v", eff.Cancel)
		}
		r.wantStatus(tocsin.RunbookCancelled)
		// The HTTP call that was under way reports too late.
		if eff := r.advance(res); !reflect.DeepEqual(eff, runbook.Effects{}) {
			t.Errorf("result after the end: %+v", eff)
		}
	})
}

func TestExecuteAutomation(t *testing.T) {
	const parent = `
schemaVersion: '0.3'
parameters:
  Ids: {type: StringList, default: [i-1, i-2]}
mainSteps:
- name: Nested
  action: 'aws:executeAutomation'
  timeoutSeconds: 900
  inputs: {DocumentName: restart-rb, DocumentVersion: '3', RuntimeParameters: {InstanceIds: '{{ Ids }}', Reason: 'cpu {{ incident:IMPACT }}'}}
- {name: After, action: 'aws:pause'}
`
	inc := &tocsin.Incident{ID: "inc1", Impact: 2}
	start := func(t *testing.T) *runner {
		r := newRunner(t, parent, nil, inc)
		eff := r.start()
		r.wantStatus(tocsin.RunbookInProgress)
		want := []runbook.Child{{ID: "id1", Runbook: "restart-rb", Version: 3, ParentStep: 1,
			Parameters: map[string][]string{"InstanceIds": {"i-1", "i-2"}, "Reason": {"cpu 2"}}}}
		if !reflect.DeepEqual(eff.Children, want) {
			t.Fatalf("children %+v", eff.Children)
		}
		if r.cur().ChildID != "id1" || len(eff.Jobs) != 1 || !eff.Jobs[0].DueAt.Equal(t0.Add(15*time.Minute)) {
			t.Fatalf("step %+v jobs %+v", r.cur(), eff.Jobs)
		}
		return r
	}
	child := func(status, msg string) *tocsin.RunbookExecution {
		return &tocsin.RunbookExecution{ID: "id1", Runbook: "restart-rb", ParentID: "ex1", ParentStep: 1, Status: status,
			FailureMessage: msg, Outputs: map[string]any{"Restart.Count": float64(2)}}
	}
	t.Run("success", func(t *testing.T) {
		r := start(t)
		eff := r.apply(runbook.ChildEnded(r.doc, r.exec, child(tocsin.RunbookSuccess, ""), r.c, r.now))
		if got := r.trail(); got != "Nested:Success After:Waiting" {
			t.Fatalf("trail %s", got)
		}
		want := map[string]any{"ExecutionId": "id1", "Status": "Success", "Output": map[string]any{"Restart.Count": float64(2)}}
		if got := r.step("Nested").Outputs; !reflect.DeepEqual(got, want) {
			t.Errorf("outputs %#v", got)
		}
		if len(eff.Cancel) != 1 {
			t.Errorf("the timeout timer stays: %v", eff.Cancel)
		}
		// The same child ending again is stale.
		if eff := r.apply(runbook.ChildEnded(r.doc, r.exec, child(tocsin.RunbookSuccess, ""), r.c, r.now)); !reflect.DeepEqual(eff, runbook.Effects{}) {
			t.Errorf("stale child end: %+v", eff)
		}
	})
	for _, tc := range []struct{ status, step, exec, msg string }{
		{tocsin.RunbookFailed, tocsin.RunbookFailed, tocsin.RunbookFailed, `execution id1 of "restart-rb": step "Restart" failed: boom`},
		{tocsin.RunbookTimedOut, tocsin.RunbookTimedOut, tocsin.RunbookTimedOut, `execution id1 of "restart-rb": step "Restart" failed: boom`},
		{tocsin.RunbookCancelled, tocsin.RunbookFailed, tocsin.RunbookFailed, `execution id1 of "restart-rb": runbook "restart-rb" ended Cancelled`},
	} {
		t.Run(tc.status, func(t *testing.T) {
			r := start(t)
			msg := `step "Restart" failed: boom`
			if tc.status == tocsin.RunbookCancelled {
				msg = ""
			}
			r.apply(runbook.ChildEnded(r.doc, r.exec, child(tc.status, msg), r.c, r.now))
			st := r.step("Nested")
			if st.Status != tc.step || st.FailureMessage != tc.msg {
				t.Fatalf("step %s %q", st.Status, st.FailureMessage)
			}
			r.wantStatus(tc.exec)
		})
	}
	t.Run("timeout", func(t *testing.T) {
		r := start(t)
		res := r.result()
		res.Woke = true
		eff := r.advance(res)
		if !reflect.DeepEqual(eff.CancelChildren, []string{"id1"}) {
			t.Errorf("cancel children %v", eff.CancelChildren)
		}
		r.wantStatus(tocsin.RunbookTimedOut)
	})
	t.Run("cancel", func(t *testing.T) {
		r := start(t)
		eff := r.mustSignal(tocsin.SignalCancel, "bob", "")
		if !reflect.DeepEqual(eff.CancelChildren, []string{"id1"}) {
			t.Errorf("cancel children %v", eff.CancelChildren)
		}
	})
	t.Run("child", func(t *testing.T) {
		// The child's own end tells the store to tell its parent.
		c := newRunner(t, base+"- {name: a, action: 'aws:pause'}\n", nil, nil)
		c.exec.ParentID, c.exec.ParentStep = "ex0", 1
		c.start()
		eff := c.mustSignal(tocsin.SignalResume, "bob", "")
		if !eff.Ended {
			t.Error("Ended not set for an execution with a parent")
		}
	})
}

func TestStaleResults(t *testing.T) {
	r := newRunner(t, base+`
- {name: Call, action: 'tocsin:http', maxAttempts: 2, inputs: {Method: GET, URL: 'https://x.test/'}}
- {name: Hold, action: 'aws:pause'}
`, nil, nil)
	r.start()
	first := r.result()
	r.advance(first) // Call succeeds, Hold waits
	for name, res := range map[string]tocsin.RunbookResult{
		"done step":    first,
		"future step":  {Seq: 9, Attempt: 1},
		"old attempt":  {Seq: 2, Attempt: 0},
		"wake no time": {Seq: 2, Attempt: 1, Woke: true},
		"no result":    {Seq: 2, Attempt: 1},
	} {
		before := r.exec
		if eff := r.advance(res); !reflect.DeepEqual(eff, runbook.Effects{}) {
			t.Errorf("%s: %+v", name, eff)
		}
		if r.exec != before {
			t.Errorf("%s changed the execution", name)
		}
	}
	if _, err := runbook.Advance(r.doc, r.exec, tocsin.RunbookResult{ExecutionID: "other", Seq: 2, Attempt: 1}, r.c, r.now); tocsin.ErrorCode(err) != tocsin.EINVALID {
		t.Errorf("another execution's result: %v", err)
	}
}

func TestInterruptedAndRerun(t *testing.T) {
	r := newRunner(t, base+`
- {name: Script, action: 'tocsin:script', maxAttempts: 3, inputs: {Runtime: bash, Script: 'echo hi'}}
`, nil, nil)
	r.start()
	res := r.result()
	res.Interrupted = true
	r.advance(res)
	r.wantStatus(tocsin.RunbookFailed)
	want := "interrupted by a restart; tocsin:script is not idempotent, not run again"
	if st := r.step("Script"); st.Attempt != 1 || st.FailureMessage != want {
		t.Fatalf("step %+v", st)
	}

	h := newRunner(t, base+"- {name: Get, action: 'tocsin:http', inputs: {Method: GET, URL: 'https://x.test/'}}\n", nil, nil)
	h.start()
	res = h.result()
	res.Rerun = true
	res.Outputs = map[string]any{"StatusCode": 204}
	h.advance(res)
	h.wantStatus(tocsin.RunbookSuccess)
	found := false
	for _, m := range h.messages() {
		found = found || m == `Step "Get" (tocsin:http) attempt 1 ran again after a restart interrupted it`
	}
	if !found {
		t.Errorf("no rerun event in %q", h.messages())
	}
}

func TestHostileIncidentIsData(t *testing.T) {
	const hostile = `{{ Secret }} $(rm -rf /) '; DROP TABLE`
	inc := &tocsin.Incident{ID: "inc1", Title: hostile, Summary: "`id`", Labels: map[string]string{"service": "{{ global:DATE }}"}}
	r := newRunner(t, `
schemaVersion: '0.3'
parameters:
  Secret: {type: String, default: hunter2}
mainSteps:
- name: Post
  action: 'tocsin:http'
  inputs: {Method: POST, URL: 'https://x.test/', Body: '{{ incident:TITLE }}', Headers: {X-Note: 'title={{ incident:TITLE }} svc={{ incident:LABEL.service }}'}}
- name: Script
  action: 'tocsin:script'
  inputs: {Runtime: bash, Script: 'cat', InputPayload: {title: '{{ incident:TITLE }}', summary: '{{ incident:SUMMARY }}', both: 'a {{ incident:TITLE }} b'}}
`, nil, inc)
	r.start()
	post := r.cur()
	if post.Inputs["Body"] != hostile {
		t.Errorf("Body %q", post.Inputs["Body"])
	}
	if h := post.Inputs["Headers"].(map[string]any)["X-Note"]; h != "title="+hostile+" svc={{ global:DATE }}" {
		t.Errorf("header %q", h)
	}
	r.advance(r.result())
	payload := r.cur().Inputs["InputPayload"].(map[string]any)
	if payload["title"] != hostile || payload["summary"] != "`id`" || payload["both"] != "a "+hostile+" b" {
		t.Errorf("payload %#v", payload)
	}
	b, _ := json.Marshal(r.exec.Steps)
	if strings.Contains(string(b), "hunter2") {
		t.Error("a value was expanded: the secret parameter leaked into the inputs")
	}
}

func TestInterpolationErrorFailsStep(t *testing.T) {
	r := newRunner(t, base+"- {name: Call, action: 'tocsin:http', maxAttempts: 3, inputs: {Method: GET, URL: 'https://x.test/{{ Nope.Out }}'}}\n", nil, nil)
	eff := r.start()
	r.wantStatus(tocsin.RunbookFailed)
	st := r.step("Call")
	if st.FailureMessage != "input URL: unknown variable {{ Nope.Out }}" || st.Attempt != 1 {
		t.Fatalf("step %+v", st)
	}
	if len(eff.Jobs) != 0 {
		t.Errorf("jobs %v", eff.Jobs)
	}
}

func TestLoopCap(t *testing.T) {
	r := newRunner(t, `
schemaVersion: '0.3'
mainSteps:
- {name: Ping, action: 'aws:branch', inputs: {Choices: [{NextStep: Pong, Variable: 'x', StringEquals: x}]}}
- {name: Pong, action: 'aws:sleep', inputs: {Duration: PT0S}, nextStep: Ping}
`, nil, nil)
	r.start()
	r.wantStatus(tocsin.RunbookFailed)
	if r.exec.FailureMessage != "runbook loops without waiting" || len(r.exec.Steps) != runbook.MaxEntries {
		t.Fatalf("failure %q after %d steps", r.exec.FailureMessage, len(r.exec.Steps))
	}
}

func TestBranchDefaultAndNext(t *testing.T) {
	for _, tc := range []struct{ env, trail string }{
		{"prod", "Pick:Success Prod:Success"},
		{"staging", "Pick:Success Other:Success"},
		{"dev", "Pick:Success Other:Success"},
	} {
		def := ""
		if tc.env == "staging" {
			def = ", Default: Other"
		}
		r := newRunner(t, `
schemaVersion: '0.3'
parameters:
  Env: {type: String}
mainSteps:
- {name: Pick, action: 'aws:branch', inputs: {Choices: [{NextStep: Prod, Variable: '{{ Env }}', StringEquals: prod}, {NextStep: Prod, Variable: '{{ Missing.Out }}', StringEquals: x}]`+def+`}}
- {name: Other, action: 'aws:sleep', inputs: {Duration: PT0S}, isEnd: true}
- {name: Prod, action: 'aws:sleep', inputs: {Duration: PT0S}}
`, map[string][]string{"Env": {tc.env}}, nil)
		r.start()
		if tc.env == "prod" {
			r.wantStatus(tocsin.RunbookSuccess)
		}
		if tc.env == "dev" || tc.env == "staging" {
			// The second choice names an output that does not exist: the
			// branch fails only when it gets to it.
			r.wantStatus(tocsin.RunbookFailed)
			if !strings.Contains(r.exec.FailureMessage, "{{ Missing.Out }}") {
				t.Errorf("%s: %q", tc.env, r.exec.FailureMessage)
			}
			continue
		}
		if got := r.trail(); got != tc.trail {
			t.Errorf("%s: %s", tc.env, got)
		}
	}
}

func TestStartRefusesInvalidDocument(t *testing.T) {
	doc := load(t, "schemaVersion: '0.3'\nmainSteps:\n- {name: a, action: 'aws:runInstances'}\n")
	_, err := runbook.Start(doc, &tocsin.RunbookExecution{ID: "x"}, runbook.Context{}, t0)
	wantCode(t, err, tocsin.EINVALID)
}

func TestSignalRefusals(t *testing.T) {
	r := newRunner(t, base+"- {name: Call, action: 'tocsin:http', inputs: {Method: GET, URL: 'https://x.test/'}}\n", nil, nil)
	r.start()
	before, _ := json.Marshal(r.exec)
	for _, tc := range []struct{ typ, code string }{
		{tocsin.SignalResume, tocsin.ECONFLICT},
		{tocsin.SignalApprove, tocsin.ECONFLICT},
		{"StopStep", tocsin.EINVALID},
	} {
		_, err := r.signal(tc.typ, "bob", "")
		wantCode(t, err, tc.code)
		if tc.typ == tocsin.SignalResume && !strings.Contains(err.Error(), "not waiting at a pause") {
			t.Errorf("resume: %v", err)
		}
	}
	if after, _ := json.Marshal(r.exec); string(after) != string(before) {
		t.Error("a refused signal changed the execution")
	}
}

func TestResumeCancelsTimeout(t *testing.T) {
	r := newRunner(t, base+"- {name: Hold, action: 'aws:pause', timeoutSeconds: 300}\n- {name: Then, action: 'aws:pause'}\n", nil, nil)
	eff := r.start()
	if st, jobs := r.cur(), stepJobs(eff.Jobs); !st.WakeAt.Equal(t0.Add(5*time.Minute)) || len(jobs) != 1 || jobs[0].Lane != tocsin.RunbookLane {
		t.Fatalf("step %+v jobs %+v", st, eff.Jobs)
	}
	eff = r.mustSignal(tocsin.SignalResume, "bob", "")
	if !reflect.DeepEqual(eff.Cancel, []string{tocsin.RunbookStepKey("ex1", 1, 1)}) {
		t.Fatalf("cancel %v", eff.Cancel)
	}
	// The timer, had it fired before its cancellation, is stale now.
	if eff := r.advance(tocsin.RunbookResult{Seq: 1, Attempt: 1, Woke: true}); !reflect.DeepEqual(eff, runbook.Effects{}) {
		t.Errorf("stale timeout: %+v", eff)
	}
	// Then has no timer: a resume cancels nothing.
	if eff := r.mustSignal(tocsin.SignalResume, "bob", ""); len(eff.Cancel) != 0 {
		t.Errorf("cancel %v", eff.Cancel)
	}
}

// TestHTTPValuesStayInTheirPlace: a value substituted inside a URL is one
// component (it cannot add a query parameter or climb the path), a URL
// that is one reference is taken whole, and a JSON string Body keeps a
// value holding quotes inside its string.
func TestHTTPValuesStayInTheirPlace(t *testing.T) {
	inc := &tocsin.Incident{ID: "inc1", Title: `x&delete=1 ../admin`, Summary: `x","admin":true,"y":"`}
	r := newRunner(t, `
schemaVersion: '0.3'
parameters:
  Whole: {type: String, default: 'https://x.test/a?b=c&d=e'}
mainSteps:
- name: Query
  action: 'tocsin:http'
  inputs: {Method: GET, URL: 'https://x.test/items/{{ incident:TITLE }}?q={{ incident:TITLE }}', Body: '{"note": "{{ incident:SUMMARY }}", "n": 2, "list": ["{{ incident:ID }}"]}'}
- name: Whole
  action: 'tocsin:http'
  inputs: {Method: GET, URL: '{{ Whole }}', Body: 'text {{ incident:SUMMARY }}'}
`, nil, inc)
	r.start()
	q := r.cur().Inputs
	if q["URL"] != "https://x.test/items/x%26delete%3D1%20..%2Fadmin?q=x%26delete%3D1%20..%2Fadmin" {
		t.Errorf("URL %q", q["URL"])
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(q["Body"].(string)), &body); err != nil {
		t.Fatalf("Body %q: %v", q["Body"], err)
	}
	if body["note"] != inc.Summary || body["admin"] != nil || body["n"] != float64(2) || body["list"].([]any)[0] != "inc1" {
		t.Errorf("Body %q", q["Body"])
	}
	r.advance(r.result())
	w := r.cur().Inputs
	if w["URL"] != "https://x.test/a?b=c&d=e" || w["Body"] != "text "+inc.Summary {
		t.Errorf("whole URL %q, text Body %q", w["URL"], w["Body"])
	}
}

// TestMaxSteps: an execution going round through steps that wait ends
// once it has run MaxSteps steps, instead of growing for ever.
func TestMaxSteps(t *testing.T) {
	defer func(n int) { runbook.MaxSteps = n }(runbook.MaxSteps)
	runbook.MaxSteps = 40
	r := newRunner(t, `
schemaVersion: '0.3'
mainSteps:
- name: Nap
  action: 'aws:sleep'
  inputs: {Duration: PT1S}
  nextStep: Nap
`, nil, nil)
	r.start()
	for i := 0; i < runbook.MaxSteps && !tocsin.RunbookEnded(r.exec.Status); i++ {
		r.advance(tocsin.RunbookResult{ExecutionID: r.exec.ID, Seq: r.cur().Seq, Attempt: r.cur().Attempt, Woke: true})
	}
	r.wantStatus(tocsin.RunbookFailed)
	if len(r.exec.Steps) != runbook.MaxSteps || !strings.Contains(r.exec.FailureMessage, "the most one execution may run") {
		t.Fatalf("%d steps, %q", len(r.exec.Steps), r.exec.FailureMessage)
	}
}
