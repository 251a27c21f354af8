package runbook_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"tocsin"
	"tocsin/runbook"
)

// stepJobs are the JobRunbookStep jobs among jobs (a step's attempts and
// timers), leaving out the notices that go with a wait.
func stepJobs(jobs []*tocsin.Job) []*tocsin.Job {
	var out []*tocsin.Job
	for _, j := range jobs {
		if j.Kind == tocsin.JobRunbookStep {
			out = append(out, j)
		}
	}
	return out
}

// waits are the RunbookWait arguments of the JobRunbookWait jobs among
// jobs, checked for the lane and incident every one must have.
func waits(t *testing.T, jobs []*tocsin.Job, incidentID string) []tocsin.RunbookWait {
	t.Helper()
	var out []tocsin.RunbookWait
	for _, j := range jobs {
		if j.Kind != tocsin.JobRunbookWait {
			continue
		}
		if j.Lane != tocsin.RunbookLane || j.IncidentID != incidentID || j.Key != "" {
			t.Errorf("wait job lane %q incident %q key %q", j.Lane, j.IncidentID, j.Key)
		}
		var w tocsin.RunbookWait
		if err := json.Unmarshal(j.Args, &w); err != nil {
			t.Fatal(err)
		}
		out = append(out, w)
	}
	return out
}

// TestWaitsTellTheTeam checks that each wait of a pause or an approval
// queues one JobRunbookWait with what the channels show, that steps which
// do not wait queue none, and that an execution without an incident
// tells no team.
func TestWaitsTellTheTeam(t *testing.T) {
	const doc = base + `- name: Look
  action: 'aws:pause'
  description: '## Look at **the graphs**'
- name: Nap
  action: 'aws:sleep'
  inputs: {Duration: PT0S}
- name: Ask
  action: 'aws:approve'
  description: Ask first.
  inputs: {Approvers: [ann, ben], MinRequiredApprovals: 2, Message: 'Restart {{ incident:TITLE }}?'}
`
	inc := &tocsin.Incident{ID: "inc1", Title: "db down"}
	r := newRunner(t, doc, nil, inc)
	eff := r.start()
	got := waits(t, eff.Jobs, "inc1")
	want := []tocsin.RunbookWait{{ExecutionID: "ex1", Runbook: "rb", Seq: 1, Attempt: 1, Step: "Look", Action: "aws:pause",
		Instructions: "## Look at **the graphs**"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("pause wait %+v, want %+v", got, want)
	}

	// The resume ends the pause's wait, runs the sleep (no wait) and
	// reaches the approval.
	eff = r.mustSignal(tocsin.SignalResume, "bob", "")
	got = waits(t, eff.Jobs, "inc1")
	want = []tocsin.RunbookWait{
		{ExecutionID: "ex1", Runbook: "rb", Seq: 1, Attempt: 1, Step: "Look", Action: "aws:pause", Instructions: "## Look at **the graphs**", Ended: "Resumed by bob via api"},
		{ExecutionID: "ex1", Runbook: "rb", Seq: 3, Attempt: 1, Step: "Ask", Action: "aws:approve",
			Instructions: "Ask first.", Message: "Restart db down?", Approvers: []string{"ann", "ben"}, MinApprovals: 2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("approval wait\n%+v, want\n%+v", got, want)
	}

	// A first approval of two leaves the step waiting: nothing new to say.
	eff = r.mustSignal(tocsin.SignalApprove, "ann", "")
	if got := waits(t, eff.Jobs, "inc1"); len(got) != 0 {
		t.Fatalf("a partial approval announced %+v", got)
	}
	// The second ends the wait.
	eff = r.mustSignal(tocsin.SignalApprove, "ben", "")
	want = []tocsin.RunbookWait{{ExecutionID: "ex1", Runbook: "rb", Seq: 3, Attempt: 1, Step: "Ask", Action: "aws:approve",
		Instructions: "Ask first.", Message: "Restart db down?", Approvers: []string{"ann", "ben"}, MinApprovals: 2, Ended: "Approved by ben via api"}}
	if got := waits(t, eff.Jobs, "inc1"); !reflect.DeepEqual(got, want) {
		t.Fatalf("approved: %+v", got)
	}

	t.Run("no incident", func(t *testing.T) {
		r := newRunner(t, doc, nil, nil)
		r.exec.IncidentID = ""
		if got := waits(t, r.start().Jobs, ""); len(got) != 0 {
			t.Fatalf("an execution without an incident announced %+v", got)
		}
	})
}

// TestTimedOutPauseWaitsAgain checks that a pause retried after its
// timeout (maxAttempts) ends its first wait and announces the next, for
// its new attempt.
func TestTimedOutPauseWaitsAgain(t *testing.T) {
	r := newRunner(t, base+"- {name: Hold, action: 'aws:pause', timeoutSeconds: 60, maxAttempts: 2}\n", nil, nil)
	if got := waits(t, r.start().Jobs, "inc1"); len(got) != 1 || got[0].Attempt != 1 || got[0].Ended != "" {
		t.Fatalf("first wait %+v", got)
	}
	res := r.result()
	res.Woke = true
	got := waits(t, r.advance(res).Jobs, "inc1")
	if len(got) != 2 || got[0].Attempt != 1 || got[0].Ended != "Timed out after 60s" || got[1].Attempt != 2 || got[1].Seq != 1 || got[1].Ended != "" {
		t.Fatalf("timed out and waiting again %+v", got)
	}
}

// TestWaitEndings checks how each other end of a wait is told: a
// rejection, a cancellation, an approval's timeout; and that a
// cancellation of a step that does not wait tells nothing.
func TestWaitEndings(t *testing.T) {
	const ask = "- {name: Ask, action: 'aws:approve', timeoutSeconds: 60, inputs: {Approvers: [ann]}}\n"
	for _, tc := range []struct {
		name, doc string
		act       func(r *runner) []*tocsin.Job
		want      string // Ended, "" for no wait job
	}{
		{"rejected", ask, func(r *runner) []*tocsin.Job { return r.mustSignal(tocsin.SignalReject, "ann", "no").Jobs }, "Rejected by ann via api"},
		{"cancelled", ask, func(r *runner) []*tocsin.Job { return r.mustSignal(tocsin.SignalCancel, "dana", "").Jobs }, "Cancelled by dana via api"},
		{"timed out", ask, func(r *runner) []*tocsin.Job { res := r.result(); res.Woke = true; return r.advance(res).Jobs }, "Timed out after 60s"},
		{"a sleep cancelled", "- {name: Nap, action: 'aws:sleep', inputs: {Duration: PT1H}}\n",
			func(r *runner) []*tocsin.Job { return r.mustSignal(tocsin.SignalCancel, "dana", "").Jobs }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner(t, base+tc.doc, nil, nil)
			r.start()
			got := waits(t, tc.act(r), "inc1")
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("told %+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].Ended != tc.want || got[0].Seq != 1 || got[0].Attempt != 1 || got[0].Step != "Ask" {
				t.Fatalf("told %+v, want one ended %q", got, tc.want)
			}
		})
	}
}

// TestSignalForAStep checks that a signal naming its step (a chat
// button's) answers only that step: once the execution moved on, the
// same click is refused and changes nothing.
func TestSignalForAStep(t *testing.T) {
	r := newRunner(t, base+"- {name: One, action: 'aws:pause'}\n- {name: Two, action: 'aws:pause'}\n", nil, nil)
	r.start()
	sig := tocsin.RunbookSignal{ExecutionID: "ex1", Type: tocsin.SignalResume, By: tocsin.Actor{Name: "bob", Via: "slack"}, Seq: 1}
	r.apply(runbook.Signal(r.doc, r.exec, sig, r.c, r.now))
	if st := r.cur(); st.Name != "Two" {
		t.Fatalf("at %s after resuming step 1", st.Name)
	}
	_, err := runbook.Signal(r.doc, r.exec, sig, r.c, r.now)
	wantCode(t, err, tocsin.ECONFLICT)
	sig.Seq = 2
	r.apply(runbook.Signal(r.doc, r.exec, sig, r.c, r.now))
	r.wantStatus(tocsin.RunbookSuccess)
}
