package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tocsin"
	"tocsin/app"
	"tocsin/apptest"
	"tocsin/config"
	"tocsin/ingest/snstest"
	"tocsin/store/storetest"
)

// The scenario tests of issue 12: runbooks through the real server (the
// app's wiring, the worker, the API and the CLI), each told as an
// incident. Helpers carry a "scn" prefix: other test files of this
// package grow runbook helpers of their own at the same time.

// scnCLIEnv is the CLI's environment for the server ts.
func scnCLIEnv(ts *apptest.Server) map[string]string {
	return map[string]string{"TOCSIN_API_TOKEN": apptest.APIToken, "TOCSIN_SERVER": ts.URL, "USER": "dana"}
}

// scnExecution is GET /api/v1/runbook-executions/{id} decoded: the
// execution and the incident's runbook tab around it.
type scnExecution struct {
	Execution           tocsin.RunbookExecution `json:"execution"`
	CurrentStep         string                  `json:"current_step"`
	CurrentInstructions string                  `json:"current_instructions"`
	Upcoming            []string                `json:"upcoming"`
}

// scnGet decodes the JSON answer of a GET of path into v, failing the
// test unless the status is 200.
func scnGet(t *testing.T, ts *apptest.Server, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+apptest.APIToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// scnView reads an execution as the API shows it.
func scnView(t *testing.T, ts *apptest.Server, id string) scnExecution {
	t.Helper()
	var v scnExecution
	scnGet(t, ts, "/api/v1/runbook-executions/"+id, &v)
	return v
}

// scnIncidentExecutions lists an incident's executions through the API.
func scnIncidentExecutions(t *testing.T, ts *apptest.Server, incidentID string) []tocsin.RunbookExecution {
	t.Helper()
	var list struct {
		Executions []tocsin.RunbookExecution `json:"executions"`
	}
	scnGet(t, ts, "/api/v1/incidents/"+incidentID+"/runbook-executions", &list)
	return list.Executions
}

// scnWaitStatus waits until the execution's status is one of want, and
// returns its view.
func scnWaitStatus(t *testing.T, ts *apptest.Server, id string, want ...string) scnExecution {
	t.Helper()
	var v scnExecution
	deadline := time.Now().Add(15 * time.Second)
	for {
		v = scnView(t, ts, id)
		for _, w := range want {
			if v.Execution.Status == w {
				return v
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s is %s at %q (%s), want %v; steps:\n%s", id, v.Execution.Status, v.CurrentStep,
				v.Execution.FailureMessage, want, scnSteps(v.Execution))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scnSteps lists an execution's steps, one line each, for failures.
func scnSteps(e tocsin.RunbookExecution) string {
	var b strings.Builder
	for _, st := range e.Steps {
		fmt.Fprintf(&b, "  %d %s %s %s attempt %d inputs %v outputs %v %s\n", st.Seq, st.Name, st.Action, st.Status, st.Attempt,
			st.Inputs, st.Outputs, st.FailureMessage)
	}
	return b.String()
}

// scnRunbookEvents are the messages of an incident's runbook timeline
// events of execution id (runbook_started, runbook_step, runbook_ended),
// in the timeline's order.
func scnRunbookEvents(t *testing.T, ts *apptest.Server, incidentID, id string) []string {
	t.Helper()
	var out []string
	for _, e := range ts.Incident(t, incidentID).Timeline {
		switch e.Kind {
		case tocsin.EventRunbookStarted, tocsin.EventRunbookStep, tocsin.EventRunbookEnded:
		default:
			continue
		}
		var d tocsin.RunbookEventData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatalf("%s event's data: %v", e.Kind, err)
		}
		if d.ExecutionID == id {
			out = append(out, e.Kind+": "+e.Message)
		}
	}
	return out
}

// scnWantEvents checks that the events hold want, in want's order (other
// events may come between).
func scnWantEvents(t *testing.T, events []string, want ...string) {
	t.Helper()
	i := 0
	for _, e := range events {
		if i < len(want) && e == want[i] {
			i++
		}
	}
	if i < len(want) {
		t.Fatalf("timeline lacks %q (or has it out of order):\n%s", want[i], strings.Join(events, "\n"))
	}
}

// TestRunbookSeedEC2HighCPU is the AWS blog's incident end to end: the
// seed applied as the README says, the blog's CloudWatch alarm routed to
// EC2HighCPU, whose runbook ec2-cpu-util-runbook starts with the incident
// and waits at Inspect with the blog's instructions; five resumes through
// the CLI walk it to CloseIncident and Success, every step's start and
// end on the timeline; a sixth resume is refused with the 409's message.
func TestRunbookSeedEC2HighCPU(t *testing.T) {
	forBothDatabases(t, testRunbookSeedEC2HighCPU)
}

func testRunbookSeedEC2HighCPU(t *testing.T, dbURL func(testing.TB) string) {
	f := newSNSFixture(t)
	ts := apptest.Start(t, dbURL(t), func(c *config.Config) {
		c.Ingest.CloudWatch.TopicARNs = []string{cwTopic}
	}, f.options)
	env := scnCLIEnv(ts)
	mustCLI(t, env, "apply", "-f", examplesDir, "-f", runbooksDir, "-f", responseDir)

	alarm := readExample(t, "ec2-high-cpu.json")
	status, body := ts.Post(t, "/api/v1/alerts/cloudwatch", apptest.IngestToken, f.body(t, snstest.Notification(f.sns, cwTopic, alarm, time.Now(), "1")))
	if status != http.StatusCreated {
		t.Fatalf("alarm: %d %v", status, body)
	}
	incID := apptest.FirstID(t, body)
	if inc := ts.Incident(t, incID); inc.ResponsePlan != "EC2HighCPU" || inc.Title != "cpu-incident-1" {
		t.Fatalf("incident: plan %q title %q", inc.ResponsePlan, inc.Title)
	}
	execs := scnIncidentExecutions(t, ts, incID)
	if len(execs) != 1 || execs[0].Runbook != "ec2-cpu-util-runbook" || execs[0].Version != 1 || execs[0].IncidentID != incID {
		t.Fatalf("the incident's executions: %+v", execs)
	}
	id := execs[0].ID
	v := scnWaitStatus(t, ts, id, tocsin.RunbookWaiting)
	const inspect = "Navigate to the **Amazon CloudWatch** console, determine the instance in question. Copy the source code of the metrics for CPU utilization."
	if v.CurrentStep != "Inspect" || v.CurrentInstructions != inspect ||
		strings.Join(v.Upcoming, ",") != "AddMetrics,AttachToAutoScalingGroup,Validate,CloseIncident" {
		t.Fatalf("runbook tab: at %q instructions %q upcoming %v", v.CurrentStep, v.CurrentInstructions, v.Upcoming)
	}

	steps := []string{"Inspect", "AddMetrics", "AttachToAutoScalingGroup", "Validate", "CloseIncident"}
	for i := range steps {
		out := mustCLI(t, env, "runbook", "resume", id, "--comment", "done "+steps[i])
		if i+1 < len(steps) {
			containsAll(t, "resume "+steps[i], out, id+": Waiting at "+steps[i+1])
			if v := scnView(t, ts, id); v.CurrentStep != steps[i+1] || len(v.Upcoming) != len(steps)-i-2 {
				t.Fatalf("after resuming %s: at %q, upcoming %v", steps[i], v.CurrentStep, v.Upcoming)
			}
		} else {
			containsAll(t, "last resume", out, id+": Success")
		}
	}
	v = scnView(t, ts, id)
	if e := v.Execution; e.Status != tocsin.RunbookSuccess || len(e.Steps) != 5 || e.Steps[4].Name != "CloseIncident" || e.EndedAt.IsZero() {
		t.Fatalf("ended: %s\n%s", e.Status, scnSteps(e))
	}
	for i, st := range v.Execution.Steps {
		if st.Name != steps[i] || st.Status != tocsin.RunbookSuccess || st.StartedAt.IsZero() || st.EndedAt.Before(st.StartedAt) {
			t.Fatalf("step %d: %+v", i+1, st)
		}
	}
	var want []string
	want = append(want, `runbook_started: Runbook "ec2-cpu-util-runbook" (version 1) started by response plan EC2HighCPU`)
	for _, s := range steps {
		want = append(want, fmt.Sprintf(`runbook_step: Step %q (aws:pause) is waiting for Resume`, s), fmt.Sprintf(`runbook_step: Step %q succeeded`, s))
	}
	want = append(want, `runbook_ended: Runbook "ec2-cpu-util-runbook" succeeded`)
	events := scnRunbookEvents(t, ts, incID, id)
	scnWantEvents(t, events, want...)
	// Each resume is the responder's: the CLI sends $USER as who.
	resumed := 0
	for _, e := range ts.Incident(t, incID).Timeline {
		if e.Kind == tocsin.EventRunbookStep && strings.HasSuffix(e.Message, "succeeded") {
			if !strings.Contains(e.Actor, "dana") {
				t.Fatalf("%q is by %q, want dana", e.Message, e.Actor)
			}
			resumed++
		}
	}
	if resumed != len(steps) {
		t.Fatalf("%d steps ended by a resume, want %d", resumed, len(steps))
	}

	// The CLI shows the ended run: every step, nothing to come.
	out := mustCLI(t, env, "runbook", "show", id)
	containsAll(t, "show", out, "status:   Success", "CloseIncident")
	if strings.Contains(out, "to come:") {
		t.Fatalf("an ended execution has steps to come:\n%s", out)
	}

	// A sixth resume: the execution has ended, 409, and nothing changes.
	out, err := runCLI(t, env, "runbook", "resume", id)
	if err == nil || !strings.Contains(err.Error(), "(HTTP 409)") || !strings.Contains(err.Error(), "has ended (Success)") {
		t.Fatalf("sixth resume: %v\n%s", err, out)
	}
	if after := scnRunbookEvents(t, ts, incID, id); len(after) != len(events) {
		t.Fatalf("a refused resume changed the timeline:\n%s", strings.Join(after, "\n"))
	}

	// Started by hand from the plan, as the README shows, the runbook
	// starts too.
	out = mustCLI(t, env, "incident", "start", "--title", "cpu-incident-2", "--plan", "EC2HighCPU")
	byHand := strings.TrimSuffix(strings.Fields(out)[0], ":")
	if !strings.Contains(out, ": started") || byHand == incID {
		t.Fatalf("incident start:\n%s", out)
	}
	execs = scnIncidentExecutions(t, ts, byHand)
	if len(execs) != 1 || execs[0].Runbook != "ec2-cpu-util-runbook" {
		t.Fatalf("executions of the incident started by hand: %+v", execs)
	}
	if v := scnWaitStatus(t, ts, execs[0].ID, tocsin.RunbookWaiting); v.CurrentStep != "Inspect" {
		t.Fatalf("by hand: waiting at %q", v.CurrentStep)
	}
}

// scnStatusServer is a local service status API: GET /status/{service}
// answers {"state", "load"} from states, and every request is kept.
type scnStatusServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
}

func newScnStatusServer(t *testing.T, states map[string]string) *scnStatusServer {
	s := &scnStatusServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.Path)
		s.mu.Unlock()
		state, ok := states[strings.TrimPrefix(r.URL.Path, "/status/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"service": %q, "state": %q, "load": 97}`, r.URL.Path, state)
	}))
	t.Cleanup(s.Close)
	return s
}

// Requests are the requests so far, "METHOD /path" each.
func (s *scnStatusServer) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// scnAutomateDoc is a runbook that automates: it lets the service settle
// ten minutes, asks the status API how it is, and when it is degraded
// asks ann to approve a restart that a python3 script performs with the
// status API's numbers; otherwise a bash script says all is well.
const scnAutomateDoc = `schemaVersion: '0.3'
description: Restart a degraded service, with an approval.
parameters:
  Service: {type: String, allowedValues: [web, db]}
outputs: [Check.StatusCode, Check.State, Restart.Payload, Restart.Restarted, AllGood.Payload]
mainSteps:
  - name: Settle
    action: 'aws:sleep'
    inputs: {Duration: PT10M}
  - name: Check
    action: 'tocsin:http'
    inputs: {Method: GET, URL: '%s/status/{{ Service }}'}
    outputs:
      - {Name: State, Selector: $.Body.state, Type: String}
      - {Name: Load, Selector: $.Body.load, Type: Integer}
  - name: Decide
    action: 'aws:branch'
    inputs:
      Choices:
        - {NextStep: Approve, Variable: '{{ Check.State }}', StringEquals: degraded}
      Default: AllGood
  - name: Approve
    action: 'aws:approve'
    inputs: {Approvers: [ann], Message: 'Restart {{ Service }} (load {{ Check.Load }})?'}
  - name: Restart
    action: 'tocsin:script'
    isEnd: true
    inputs:
      Runtime: python3.11
      Handler: restart
      InputPayload: {service: '{{ Service }}', load: '{{ Check.Load }}', status: '{{ Check.StatusCode }}'}
      Script: |-
        def restart(events, context):
            return {"restarted": events["service"], "load_seen": events["load"] + 1, "status": events["status"]}
    outputs:
      - {Name: Restarted, Selector: $.Payload.restarted, Type: String}
  - name: AllGood
    action: 'tocsin:script'
    inputs:
      Runtime: bash
      Script: 'echo "{\"healthy\": true}"'
`

// TestRunbookAutomates runs a runbook that automates, three times on one
// incident with the clock in the test's hands: it sleeps ten minutes,
// calls a local status API, branches on its answer and, for a degraded
// service, asks ann (a contact: her email brings the notice) to approve
// a python3 script. Approved, it ends Success with the document's
// outputs as AWS computes them; rejected, it ends Failed with the
// rejection's message and the script never runs; for a healthy service
// the branch's Default runs a bash script instead.
func TestRunbookAutomates(t *testing.T) {
	forBothDatabases(t, testRunbookAutomates)
}

func testRunbookAutomates(t *testing.T, dbURL func(testing.TB) string) {
	clock := storetest.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	status := newScnStatusServer(t, map[string]string{"web": "degraded", "db": "healthy"})
	ts := apptest.Start(t, dbURL(t), func(c *config.Config) {
		c.Runbooks.HTTP.Allow = []string{status.URL + "/status/"}
		c.Runbooks.Scripts.Enabled = true
	}, func(o *app.Options) { o.Now = clock.Now })
	env := scnCLIEnv(ts)
	addContact(t, ts, &tocsin.Contact{Alias: "ann", Name: "Ann", Channels: []tocsin.ContactChannel{{Name: "work", Type: "email", Address: "ann@example.com"}}})
	if code, body := ts.Put(t, "/api/v1/runbooks/restart-degraded", fmt.Sprintf(scnAutomateDoc, status.URL)); code != http.StatusCreated {
		t.Fatalf("put runbook: %d %v", code, body)
	}
	_, body := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"web slow","severity":"high","dedup_key":"web-slow"}`)
	incID := apptest.FirstID(t, body)

	start := func(service string) string {
		t.Helper()
		code, body := ts.Post(t, "/api/v1/runbooks/restart-degraded/executions", apptest.APIToken,
			fmt.Sprintf(`{"incident_id": %q, "parameters": {"Service": [%q]}, "by": "dana"}`, incID, service))
		exec, _ := body["execution"].(map[string]any)
		if code != http.StatusCreated || exec == nil {
			t.Fatalf("start for %s: %d %v", service, code, body)
		}
		return exec["id"].(string)
	}
	// Each run sleeps first: nothing is called until the clock has
	// moved ten minutes.
	sleepThenCheck := func(id string) {
		t.Helper()
		v := scnWaitStatus(t, ts, id, tocsin.RunbookInProgress)
		if v.CurrentStep != "Settle" || len(v.Execution.Steps) != 1 || !v.Execution.Steps[0].WakeAt.Equal(clock.Now().Add(10*time.Minute)) {
			t.Fatalf("not sleeping at Settle:\n%s", scnSteps(v.Execution))
		}
		before := len(status.Requests())
		advance(ts, clock, 9*time.Minute)
		time.Sleep(200 * time.Millisecond)
		if n := len(status.Requests()); n != before || scnView(t, ts, id).CurrentStep != "Settle" {
			t.Fatalf("after nine minutes: %d calls (want %d), at %q", n, before, scnView(t, ts, id).CurrentStep)
		}
		advance(ts, clock, time.Minute)
	}

	// asks counts the approval notices ann's mailbox got.
	asks := func() int {
		n := 0
		for i := range ts.Mail.Count() {
			if strings.Contains(ts.Mail.Message(i), "waits for your approval") {
				n++
			}
		}
		return n
	}

	// 1. web is degraded: the approval is asked of ann, she approves, the
	// script restarts it.
	id := start("web")
	sleepThenCheck(id)
	v := scnWaitStatus(t, ts, id, tocsin.RunbookWaiting)
	if v.CurrentStep != "Approve" || strings.Join(v.Upcoming, ",") != "Restart,AllGood" {
		t.Fatalf("waiting at %q, upcoming %v:\n%s", v.CurrentStep, v.Upcoming, scnSteps(v.Execution))
	}
	if got := status.Requests(); len(got) != 1 || got[0] != "GET /status/web" {
		t.Fatalf("status API calls: %v", got)
	}
	notice := scnWaitMail(t, ts, "waits for your approval at step Approve")
	containsAll(t, "ann's notice", notice, "Runbook restart-degraded on incident "+incID, "Restart web (load 97)?",
		"tocsin runbook approve "+id+" --as ann")
	apptest.Eventually(t, "the notice on the timeline", func() bool {
		return hasEvent(ts.Incident(t, incID), tocsin.EventRunbookStep, `Step "Approve": asked ann for approval by work`)
	})
	if code, body := ts.Post(t, "/api/v1/runbook-executions/"+id+"/approve", apptest.APIToken, `{"by": "mallory"}`); code != http.StatusForbidden {
		t.Fatalf("approval by a stranger: %d %v", code, body)
	}
	mustCLI(t, env, "runbook", "approve", id, "--as", "ann", "--comment", "go ahead")
	v = scnWaitStatus(t, ts, id, tocsin.RunbookSuccess, tocsin.RunbookFailed)
	e := v.Execution
	if e.Status != tocsin.RunbookSuccess {
		t.Fatalf("approved run: %s %s\n%s", e.Status, e.FailureMessage, scnSteps(e))
	}
	wantOutputs := map[string]any{
		"Check.StatusCode":  200.0,
		"Check.State":       "degraded",
		"Restart.Payload":   map[string]any{"restarted": "web", "load_seen": 98.0, "status": 200.0},
		"Restart.Restarted": "web",
	}
	if !reflect.DeepEqual(e.Outputs, wantOutputs) {
		t.Fatalf("outputs %v, want %v", e.Outputs, wantOutputs)
	}
	names := []string{}
	for _, st := range e.Steps {
		names = append(names, st.Name+":"+st.Status)
	}
	if got := strings.Join(names, " "); got != "Settle:Success Check:Success Decide:Success Approve:Success Restart:Success" {
		t.Fatalf("approved run's steps: %s", got)
	}
	if s := e.Steps[0]; !s.EndedAt.Equal(s.StartedAt.Add(10*time.Minute)) || !e.Steps[1].StartedAt.Equal(s.EndedAt) {
		t.Fatalf("Settle slept from %s to %s, Check started %s", s.StartedAt, s.EndedAt, e.Steps[1].StartedAt)
	}
	if a := e.Steps[3]; a.Outputs["ApprovalStatus"] != "Approved" || len(a.Approvals) != 1 || a.Approvals[0].By != "ann" || a.Approvals[0].Comment != "go ahead" {
		t.Fatalf("approval step: %+v", a)
	}
	if in := e.Steps[4].Inputs["InputPayload"]; !reflect.DeepEqual(in, map[string]any{"service": "web", "load": 97.0, "status": 200.0}) {
		t.Fatalf("the script's resolved input: %#v", in)
	}
	scnWantEvents(t, scnRunbookEvents(t, ts, incID, id),
		`runbook_step: Step "Settle" (aws:sleep) sleeps until 2026-12-01T09:10:00Z`,
		`runbook_step: Step "Settle" succeeded`,
		`runbook_step: Step "Check" (tocsin:http) started`,
		`runbook_step: Step "Check" succeeded`,
		`runbook_step: Step "Decide" (aws:branch) started`,
		`runbook_step: Step "Decide" succeeded: going to "Approve"`,
		`runbook_step: Step "Approve" (aws:approve) is waiting for 1 approval(s) of ann`,
		`runbook_step: Step "Approve": asked ann for approval by work`,
		`runbook_step: Step "Approve" succeeded`,
		`runbook_step: Step "Restart" (tocsin:script) started`,
		`runbook_step: Step "Restart" succeeded`,
		`runbook_ended: Runbook "restart-degraded" succeeded`)

	// 2. Again, and ann rejects: the step and the run fail with her
	// words; the script never runs.
	id = start("web")
	sleepThenCheck(id)
	scnWaitStatus(t, ts, id, tocsin.RunbookWaiting)
	// She is asked again (and answers once asked, so no notice of
	// this run is still on its way when the next one starts).
	apptest.Eventually(t, "ann asked again", func() bool { return asks() == 2 })
	if code, body := ts.Post(t, "/api/v1/runbook-executions/"+id+"/reject", apptest.APIToken, `{"by": "ann", "comment": "not during the sale"}`); code != http.StatusOK {
		t.Fatalf("reject: %d %v", code, body)
	}
	e = scnWaitStatus(t, ts, id, tocsin.RunbookFailed, tocsin.RunbookSuccess).Execution
	if e.Status != tocsin.RunbookFailed || e.FailureMessage != "rejected by ann: not during the sale" {
		t.Fatalf("rejected run: %s %q\n%s", e.Status, e.FailureMessage, scnSteps(e))
	}
	if len(e.Steps) != 4 || e.Steps[3].Status != tocsin.RunbookFailed || e.Steps[3].Outputs["ApprovalStatus"] != "Rejected" {
		t.Fatalf("rejected run's steps (Restart must not run):\n%s", scnSteps(e))
	}
	// AWS reports the outputs of the steps that succeeded.
	if want := map[string]any{"Check.StatusCode": 200.0, "Check.State": "degraded"}; !reflect.DeepEqual(e.Outputs, want) {
		t.Fatalf("rejected run's outputs %v, want %v", e.Outputs, want)
	}
	events := scnRunbookEvents(t, ts, incID, id)
	scnWantEvents(t, events, `runbook_step: Step "Approve" failed: rejected by ann: not during the sale`,
		`runbook_ended: Runbook "restart-degraded" failed: rejected by ann: not during the sale`)
	if strings.Contains(strings.Join(events, "\n"), `"Restart"`) {
		t.Fatalf("the rejected run started Restart:\n%s", strings.Join(events, "\n"))
	}

	// 3. db is healthy: the branch's Default runs the bash script; no
	// approval is asked.
	asked := asks()
	id = start("db")
	sleepThenCheck(id)
	e = scnWaitStatus(t, ts, id, tocsin.RunbookSuccess, tocsin.RunbookFailed).Execution
	names = names[:0]
	for _, st := range e.Steps {
		names = append(names, st.Name+":"+st.Status)
	}
	if got := strings.Join(names, " "); e.Status != tocsin.RunbookSuccess || got != "Settle:Success Check:Success Decide:Success AllGood:Success" {
		t.Fatalf("healthy run: %s %s %s\n%s", e.Status, e.FailureMessage, got, scnSteps(e))
	}
	if want := map[string]any{"Check.StatusCode": 200.0, "Check.State": "healthy", "AllGood.Payload": map[string]any{"healthy": true}}; !reflect.DeepEqual(e.Outputs, want) {
		t.Fatalf("healthy run's outputs %v, want %v", e.Outputs, want)
	}
	scnWantEvents(t, scnRunbookEvents(t, ts, incID, id), `runbook_step: Step "Decide" succeeded: going to "AllGood"`)
	time.Sleep(100 * time.Millisecond)
	if n := asks(); n != asked {
		t.Fatalf("the healthy run asked for %d approvals", n-asked)
	}

	// 4. Cancelled while it sleeps: the timer is gone, the clock passing
	// ten minutes calls nobody.
	id = start("web")
	scnWaitStatus(t, ts, id, tocsin.RunbookInProgress)
	calls := len(status.Requests())
	containsAll(t, "cancel", mustCLI(t, env, "runbook", "cancel", id), id+": Cancelled")
	advance(ts, clock, 11*time.Minute)
	time.Sleep(300 * time.Millisecond)
	e = scnView(t, ts, id).Execution
	if e.Status != tocsin.RunbookCancelled || len(e.Steps) != 1 || e.Steps[0].Status != tocsin.RunbookCancelled || len(status.Requests()) != calls {
		t.Fatalf("cancelled run: %s, %d calls (want %d)\n%s", e.Status, len(status.Requests()), calls, scnSteps(e))
	}
	scnWantEvents(t, scnRunbookEvents(t, ts, incID, id), `runbook_step: Step "Settle" cancelled`, `runbook_ended: Runbook "restart-degraded" was cancelled`)
	// The CLI lists the incident's four runs as they ended.
	out := mustCLI(t, env, "runbook", "executions", "--incident", incID)
	for _, want := range []string{"Success", "Failed", "Cancelled"} {
		if !strings.Contains(out, want) {
			t.Fatalf("executions of the incident lack %s:\n%s", want, out)
		}
	}
}

// scnWaitMail waits for an email holding text and returns it.
func scnWaitMail(t *testing.T, ts *apptest.Server, text string) string {
	t.Helper()
	var found string
	apptest.Eventually(t, "a mail with "+text, func() bool {
		for i := range ts.Mail.Count() {
			if m := ts.Mail.Message(i); strings.Contains(m, text) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// scnCatcher is a local HTTP endpoint that keeps what it is sent.
type scnCatcher struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []scnCaught
}

// scnCaught is one request the catcher got.
type scnCaught struct {
	ContentType string
	Body        []byte
}

func newScnCatcher(t *testing.T) *scnCatcher {
	c := &scnCatcher{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.bodies = append(c.bodies, scnCaught{ContentType: r.Header.Get("Content-Type"), Body: b})
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok": true}`)
	}))
	t.Cleanup(c.Close)
	return c
}

// Caught are the requests so far.
func (c *scnCatcher) Caught() []scnCaught {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]scnCaught(nil), c.bodies...)
}

// scnHostileFiles are a runbook, a response plan naming it and a routing
// rule sending alerts labelled kind=hostile to that plan. The runbook
// passes the incident's title and a label to an HTTP call's JSON body
// and to two scripts' input, which echo it, and a third script fails
// quoting it (a step that may fail: the run goes on); its parameter
// Secret is what a title reading "{{ Secret }}" would leak if it were
// interpolated.
func scnHostileFiles(catcherURL string) string {
	return fmt.Sprintf(`kind: Runbook
name: echo-incident
document:
  schemaVersion: '0.3'
  parameters:
    Secret: {type: String, default: hunter2-never-in-a-title}
    Note: {type: String}
  mainSteps:
    - name: Tell
      action: 'tocsin:http'
      inputs:
        Method: POST
        URL: '%s/incidents'
        Body: {title: '{{ incident:TITLE }}', note: '{{ incident:LABEL.note }}', id: '{{ incident:ID }}'}
    - name: EchoPython
      action: 'tocsin:script'
      inputs:
        Runtime: python3
        InputPayload: {title: '{{ incident:TITLE }}', note: '{{ Note }}'}
        Script: |-
          def handler(events, context):
              return events
      outputs:
        - {Name: Title, Selector: $.Payload.title, Type: String}
    - name: EchoBash
      action: 'tocsin:script'
      inputs:
        Runtime: bash
        InputPayload: {title: '{{ incident:TITLE }}', note: '{{ incident:LABEL.note }}'}
        Script: cat
    - name: Complain
      action: 'tocsin:script'
      onFailure: Continue
      isCritical: false
      inputs:
        Runtime: python3
        InputPayload: {title: '{{ incident:TITLE }}'}
        Script: |-
          import sys
          def handler(events, context):
              sys.stderr.write("cannot fix: " + events["title"] + "\n")
              sys.exit(3)
---
kind: ResponsePlan
name: Hostile-Fields
incident_template:
  title: "{{ .title }}"
  impact: 4
runbook:
  name: echo-incident
  dynamic_parameters:
    Note: LABEL:note
---
kind: Routing
rules:
  - name: hostile
    match:
      labels:
        kind: {equals: hostile}
    response_plan: Hostile-Fields
default:
  notify_only: true
`, catcherURL)
}

// TestRunbookHostileIncidentFields opens an incident whose title is a
// template reference, a command substitution and SQL, with a label of
// quotes and newlines, from a plan whose runbook hands them to an HTTP
// body and to scripts: each receives the characters as they were (a JSON
// string, a script's input echoed back), no command runs, no parameter
// leaks, and the timeline holds the text.
func TestRunbookHostileIncidentFields(t *testing.T) {
	forBothDatabases(t, testRunbookHostileIncidentFields)
}

func testRunbookHostileIncidentFields(t *testing.T, dbURL func(testing.TB) string) {
	marker := filepath.Join("/tmp", fmt.Sprintf("pwned-%d", time.Now().UnixNano()))
	t.Cleanup(func() { os.Remove(marker); os.Remove(marker + "-bt") })
	title := "{{ Secret }} $(touch " + marker + ") `touch " + marker + "-bt` '; DROP TABLE incidents; --"
	note := "\"quotes\" \\n and a real\nnewline {{ Secret }}"
	catcher := newScnCatcher(t)
	ts := apptest.Start(t, dbURL(t), func(c *config.Config) {
		c.Runbooks.HTTP.Allow = []string{catcher.URL + "/"}
		c.Runbooks.Scripts.Enabled = true
	})
	env := scnCLIEnv(ts)
	dir := writeFiles(t, map[string]string{"hostile.yaml": scnHostileFiles(catcher.URL)})
	mustCLI(t, env, "apply", "-f", dir)

	alert, _ := json.Marshal(map[string]any{"title": title, "severity": "low", "labels": map[string]string{"kind": "hostile", "note": note}})
	code, body := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, string(alert))
	if code != http.StatusCreated {
		t.Fatalf("alert: %d %v", code, body)
	}
	incID := apptest.FirstID(t, body)
	if inc := ts.Incident(t, incID); inc.Title != title || inc.ResponsePlan != "Hostile-Fields" || inc.Labels["note"] != note {
		t.Fatalf("incident: plan %q title %q labels %q", inc.ResponsePlan, inc.Title, inc.Labels)
	}
	execs := scnIncidentExecutions(t, ts, incID)
	if len(execs) != 1 {
		t.Fatalf("executions: %+v", execs)
	}
	e := scnWaitStatus(t, ts, execs[0].ID, tocsin.RunbookSuccess, tocsin.RunbookFailed).Execution
	if e.Status != tocsin.RunbookSuccess {
		t.Fatalf("execution %s: %s\n%s", e.Status, e.FailureMessage, scnSteps(e))
	}

	// The HTTP call's body: JSON strings holding the characters as they
	// were.
	caught := catcher.Caught()
	if len(caught) != 1 || caught[0].ContentType != "application/json" {
		t.Fatalf("requests: %+v", caught)
	}
	var sent map[string]string
	if err := json.Unmarshal(caught[0].Body, &sent); err != nil {
		t.Fatalf("the body is not JSON of strings: %v\n%s", err, caught[0].Body)
	}
	if want := map[string]string{"title": title, "note": note, "id": incID}; !reflect.DeepEqual(sent, want) {
		t.Fatalf("the HTTP body:\n got %q\nwant %q", sent, want)
	}
	// The scripts got the same text on stdin and echoed it.
	want := map[string]any{"title": title, "note": note}
	for _, st := range e.Steps[1:3] {
		if !reflect.DeepEqual(st.Outputs["Payload"], want) {
			t.Fatalf("%s echoed %q, want %q", st.Name, st.Outputs["Payload"], want)
		}
	}
	if got := e.Steps[1].Outputs["Title"]; got != title {
		t.Fatalf("EchoPython.Title %q", got)
	}
	for _, m := range []string{marker, marker + "-bt"} {
		if _, err := os.Stat(m); !os.IsNotExist(err) {
			t.Fatalf("%s exists (%v): a command in the title ran", m, err)
		}
	}
	// Nothing expanded {{ Secret }} (the execution's parameters hold it,
	// as they should), and the incidents table is there.
	steps, _ := json.Marshal(e.Steps)
	inc := ts.Incident(t, incID)
	timeline, _ := json.Marshal(inc.Timeline)
	for what, text := range map[string]string{"HTTP body": string(caught[0].Body), "steps": string(steps), "timeline": string(timeline)} {
		if strings.Contains(text, "hunter2") {
			t.Fatalf("the %s holds the Secret parameter's value:\n%s", what, text)
		}
	}
	if ts.IncidentCount(t) != 1 {
		t.Fatal("the incidents are gone")
	}
	// The timeline holds the title as text: where the incident opened,
	// and where the failing script quoted it.
	if !hasEvent(inc, tocsin.EventCreated, "Incident opened: "+title) ||
		!hasEvent(inc, tocsin.EventRunbookStep, `Step "Complain" failed: tocsin:script: exited with status 3: cannot fix: `+title) {
		t.Fatalf("timeline:\n%s", strings.Join(eventsOf(inc), "\n"))
	}
	if c := e.Steps[3]; c.Name != "Complain" || c.Status != tocsin.RunbookFailed || !strings.HasSuffix(c.FailureMessage, "cannot fix: "+title) {
		t.Fatalf("Complain: %+v", c)
	}
}

// scnFiveProblems is a document with five problems, one of each kind
// apply names: a default of the wrong type, an action tocsin does not
// run, an unknown branch operator, a duplicate step name and a nextStep
// to no step.
const scnFiveProblems = `schemaVersion: '0.3'
parameters:
  Count: {type: Integer, default: many}
mainSteps:
  - {name: Boot, action: 'aws:runInstances'}
  - {name: Check, action: 'aws:branch', inputs: {Choices: [{NextStep: Boot, Variable: '{{ Count }}', NumericBigger: 3}]}}
  - {name: Check, action: 'aws:pause', nextStep: Nowhere}
`

// scnErrorMessage is the message of an API error answer.
func scnErrorMessage(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// TestRunbookRefusals sends the real server bad runbook input, through
// the API and the CLI: each is refused with a clear 4xx naming what is
// wrong, and nothing is stored, started or changed.
func TestRunbookRefusals(t *testing.T) {
	forBothDatabases(t, testRunbookRefusals)
}

func testRunbookRefusals(t *testing.T, dbURL func(testing.TB) string) {
	ts := apptest.Start(t, dbURL(t), nil) // no runbooks block: no scripts, no HTTP
	env := scnCLIEnv(ts)

	// A document with five problems: 400 listing the five, nothing kept.
	code, body := ts.Put(t, "/api/v1/runbooks/broken-one", scnFiveProblems)
	e, _ := body["error"].(map[string]any)
	probs, _ := e["problems"].([]any)
	if code != http.StatusBadRequest || e["code"] != tocsin.EINVALID || len(probs) != 5 {
		t.Fatalf("five problems: %d %v", code, body)
	}
	wantPaths := []string{"parameters.Count.default", "mainSteps[0].action", "mainSteps[1].inputs.Choices[0].NumericBigger", "mainSteps[2].name", "mainSteps[2].nextStep"}
	var paths []string
	for _, p := range probs {
		paths = append(paths, p.(map[string]any)["path"].(string))
	}
	slices.Sort(paths)
	slices.Sort(wantPaths)
	if !slices.Equal(paths, wantPaths) {
		t.Fatalf("problems at %v, want %v", paths, wantPaths)
	}
	containsAll(t, "five problems' message", scnErrorMessage(body), `action "aws:runInstances" is not supported`, `unknown operator "NumericBigger"`,
		`"Check" is also the name of mainSteps[1]`, `no step "Nowhere"`, "default many is not a Integer")
	dir := writeFiles(t, map[string]string{"broken-one.yaml": scnFiveProblems})
	out, err := runCLI(t, env, "runbook", "put", "-f", filepath.Join(dir, "broken-one.yaml"))
	if err == nil {
		t.Fatalf("the CLI put a broken document:\n%s", out)
	}
	containsAll(t, "CLI put", err.Error()+out, "HTTP 400", "mainSteps[2].nextStep", "mainSteps[0].action", "NumericBigger")
	if code, _ := ts.Get(t, "/api/v1/runbooks/broken-one"); code != http.StatusNotFound {
		t.Fatalf("a refused document was stored: GET %d", code)
	}

	// A script on a server without scripts: 400 naming the key.
	const script = "schemaVersion: '0.3'\nmainSteps:\n  - {name: Fix, action: 'tocsin:script', inputs: {Runtime: bash, Script: 'echo {}'}}\n"
	code, body = ts.Put(t, "/api/v1/runbooks/fix-it", script)
	if code != http.StatusBadRequest || !strings.Contains(scnErrorMessage(body), "mainSteps[0].action") ||
		!strings.Contains(scnErrorMessage(body), "runbooks.scripts.enabled") {
		t.Fatalf("script without scripts: %d %v", code, body)
	}
	const call = "schemaVersion: '0.3'\nmainSteps:\n  - {name: Ask, action: 'tocsin:http', inputs: {Method: GET, URL: 'http://127.0.0.1:1/status'}}\n"
	if code, body = ts.Put(t, "/api/v1/runbooks/ask-it", call); code != http.StatusBadRequest || !strings.Contains(scnErrorMessage(body), "runbooks.http.allow") {
		t.Fatalf("HTTP call without an allow-list: %d %v", code, body)
	}
	for _, name := range []string{"fix-it", "ask-it"} {
		if code, _ := ts.Get(t, "/api/v1/runbooks/"+name); code != http.StatusNotFound {
			t.Fatalf("refused %s was stored: GET %d", name, code)
		}
	}

	// Parameters that do not fit: 400 with the reason, no execution.
	const approve = "schemaVersion: '0.3'\nparameters:\n  Count: {type: Integer, default: 1}\n  Host: {type: String, allowedPattern: '^web-[0-9]+$'}\n" +
		"mainSteps:\n  - {name: Approve, action: 'aws:approve', inputs: {Approvers: [ann], Message: 'Scale {{ Host }} to {{ Count }}?'}}\n" +
		"  - {name: Done, action: 'aws:pause'}\n"
	if code, body := ts.Put(t, "/api/v1/runbooks/scale-web", approve); code != http.StatusCreated {
		t.Fatalf("put scale-web: %d %v", code, body)
	}
	for _, tc := range []struct{ params, want string }{
		{`{"Count": ["ten"], "Host": ["web-1"]}`, "parameters.Count: "},
		{`{"Count": ["1", "2"], "Host": ["web-1"]}`, "parameters.Count: takes one value, got 2"},
		{`{"Host": ["db-1"]}`, `parameters.Host: "db-1" does not match allowedPattern ^web-[0-9]+$`},
		{`{}`, "parameters.Host: is required"},
		{`{"Host": ["web-1"], "Region": ["eu"]}`, "parameters.Region: is not a parameter of the document"},
	} {
		code, body := ts.Post(t, "/api/v1/runbooks/scale-web/executions", apptest.APIToken, `{"parameters": `+tc.params+`}`)
		if code != http.StatusBadRequest || !strings.Contains(scnErrorMessage(body), tc.want) {
			t.Errorf("start with %s: %d %v, want 400 %q", tc.params, code, body, tc.want)
		}
	}
	if _, err := runCLI(t, env, "runbook", "run", "scale-web", "-p", "Host=web-1", "-p", "Count=ten"); err == nil || !strings.Contains(err.Error(), "parameters.Count") {
		t.Fatalf("CLI run with a bad parameter: %v", err)
	}
	var list struct {
		Executions []tocsin.RunbookExecution `json:"executions"`
	}
	scnGet(t, ts, "/api/v1/runbook-executions?runbook=scale-web", &list)
	if len(list.Executions) != 0 {
		t.Fatalf("refused starts left executions: %+v", list.Executions)
	}

	// Signals the execution does not wait for, or from someone who may
	// not give them: 403 and 409, nothing changed.
	_, body = ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"web saturated","severity":"high"}`)
	incID := apptest.FirstID(t, body)
	out = mustCLI(t, env, "runbook", "run", "scale-web", "--incident", incID, "-p", "Host=web-7", "-p", "Count=3")
	id := strings.TrimSuffix(strings.Fields(out)[0], ":")
	containsAll(t, "run", out, id+": Waiting at Approve")
	before, _ := json.Marshal(scnView(t, ts, id))
	eventsBefore := scnRunbookEvents(t, ts, incID, id)
	for _, tc := range []struct {
		verb, body string
		status     int
		want       string
	}{
		{"approve", `{"by": "mallory", "comment": "sure"}`, http.StatusForbidden, `"mallory" is not an approver of step "Approve" (approvers: ann)`},
		{"reject", `{"by": "mallory"}`, http.StatusForbidden, "is not an approver"},
		{"approve", `{}`, http.StatusBadRequest, "by: who approves or rejects is required"},
		{"resume", `{"by": "dana"}`, http.StatusConflict, "is not waiting at a pause"},
		{"approve", `{"by": "ann", "nope": 1}`, http.StatusBadRequest, "nope"},
	} {
		code, body := ts.Post(t, "/api/v1/runbook-executions/"+id+"/"+tc.verb, apptest.APIToken, tc.body)
		if code != tc.status || !strings.Contains(scnErrorMessage(body), tc.want) {
			t.Errorf("%s %s: %d %v, want %d %q", tc.verb, tc.body, code, body, tc.status, tc.want)
		}
	}
	if _, err := runCLI(t, env, "runbook", "approve", id, "--as", "mallory"); err == nil || !strings.Contains(err.Error(), "(HTTP 403)") {
		t.Fatalf("CLI approve by a stranger: %v", err)
	}
	if _, err := runCLI(t, env, "runbook", "resume", id); err == nil || !strings.Contains(err.Error(), "(HTTP 409)") {
		t.Fatalf("CLI resume of an approval: %v", err)
	}
	if after, _ := json.Marshal(scnView(t, ts, id)); string(after) != string(before) {
		t.Fatalf("refused signals changed the execution:\n%s\n%s", before, after)
	}
	if after := scnRunbookEvents(t, ts, incID, id); !slices.Equal(after, eventsBefore) {
		t.Fatalf("refused signals changed the timeline:\n%s", strings.Join(after, "\n"))
	}
	// ann approves; now at the pause, an approval is what is refused.
	containsAll(t, "approve", mustCLI(t, env, "runbook", "approve", id, "--as", "ann"), id+": Waiting at Done")
	before, _ = json.Marshal(scnView(t, ts, id))
	if code, body := ts.Post(t, "/api/v1/runbook-executions/"+id+"/approve", apptest.APIToken, `{"by": "ann"}`); code != http.StatusConflict ||
		!strings.Contains(scnErrorMessage(body), "is not waiting for an approval") {
		t.Fatalf("approval at a pause: %d %v", code, body)
	}
	if after, _ := json.Marshal(scnView(t, ts, id)); string(after) != string(before) {
		t.Fatalf("a refused approval changed the execution:\n%s\n%s", before, after)
	}
	// Unknown things: 404.
	for _, path := range []string{"/api/v1/runbook-executions/no-such-execution", "/api/v1/incidents/no-such-incident/runbook-executions", "/api/v1/runbooks/no-such-runbook"} {
		if code, _ := ts.Get(t, path); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
	if code, _ := ts.Post(t, "/api/v1/runbook-executions/no-such-execution/resume", apptest.APIToken, ""); code != http.StatusNotFound {
		t.Errorf("resume of an unknown execution: %d, want 404", code)
	}
	if code, body := ts.Post(t, "/api/v1/runbooks/scale-web/executions", apptest.APIToken, `{"incident_id": "no-such-incident", "parameters": {"Host": ["web-1"]}}`); code != http.StatusBadRequest ||
		!strings.Contains(scnErrorMessage(body), `incident_id: no incident "no-such-incident"`) {
		t.Errorf("start for an unknown incident: %d %v", code, body)
	}
}
