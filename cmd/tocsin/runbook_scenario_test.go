package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/apptest"
	"tocsin/config"
	"tocsin/ingest/snstest"
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
	deadline := time.Now().Add(10 * time.Second)
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
	if v.CurrentStep != "Inspect" || !strings.HasPrefix(v.CurrentInstructions, "Navigate to the **Amazon CloudWatch** console, determine the instance in question.") ||
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

	// A sixth resume: the execution has ended, 409, and nothing changes.
	out, err := runCLI(t, env, "runbook", "resume", id)
	if err == nil || !strings.Contains(err.Error(), "(HTTP 409)") || !strings.Contains(err.Error(), "has ended (Success)") {
		t.Fatalf("sixth resume: %v\n%s", err, out)
	}
	if after := scnRunbookEvents(t, ts, incID, id); len(after) != len(events) {
		t.Fatalf("a refused resume changed the timeline:\n%s", strings.Join(after, "\n"))
	}
}
