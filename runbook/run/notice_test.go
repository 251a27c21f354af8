package run

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"tocsin"
)

const stepApprove = `{"name": "approve", "action": "aws:approve", "inputs": {"Approvers": ["dee"], "Message": "restart the primary?"}}`

func noticeJob(msg string) *tocsin.Job {
	return &tocsin.Job{ID: "n1", Kind: tocsin.JobRunbookNotice, Attempts: 1,
		Args: tocsin.MustJSON(tocsin.RunbookNoticeArgs{ExecutionID: "ex1", Seq: 2, Contact: "dee", Message: msg})}
}

func TestHandleNotice(t *testing.T) {
	type sent struct{ contact, subject, text string }
	for _, tc := range []struct {
		name   string
		change func(*world)
		want   *sent
	}{
		{"with the incident's link", func(w *world) {
			w.runner.IncidentURL = func(id string) string { return "https://tocsin.example/incidents/" + id + "?sig=x" }
		}, &sent{"dee", "Runbook check waits for your approval",
			"Runbook check on incident inc1 waits for your approval at step approve: restart the primary? Approve with: tocsin runbook approve ex1 --as dee Incident: https://tocsin.example/incidents/inc1?sig=x"}},
		{"without an incident", func(w *world) { w.exec.IncidentID = "" }, &sent{"dee", "Runbook check waits for your approval",
			"Runbook check waits for your approval at step approve: restart the primary? Approve with: tocsin runbook approve ex1 --as dee"}},
		{"without a message", func(w *world) {
			w.noticeMessage = ""
		}, &sent{"dee", "Runbook check waits for your approval",
			"Runbook check on incident inc1 waits for your approval at step approve. Approve with: tocsin runbook approve ex1 --as dee"}},
		{"approval no longer pending", func(w *world) { w.exec.Steps[1].Status = tocsin.RunbookSuccess; w.exec.Current = 0 }, nil},
		{"execution cancelled", func(w *world) { w.exec.Status = tocsin.RunbookCancelled }, nil},
		{"already answered by the approver", func(w *world) {
			w.exec.Steps[1].Approvals = []tocsin.RunbookApproval{{By: "dee", Approved: true}}
		}, nil},
		{"answered by another approver", func(w *world) {
			w.exec.Steps[1].Approvals = []tocsin.RunbookApproval{{By: "eve", Approved: true}}
		}, &sent{"dee", "Runbook check waits for your approval",
			"Runbook check on incident inc1 waits for your approval at step approve: restart the primary? Approve with: tocsin runbook approve ex1 --as dee"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, stepBefore+","+stepApprove, "approve")
			w.exec.Steps[1].Status = tocsin.RunbookWaiting
			w.exec.Status = tocsin.RunbookWaiting
			var got *sent
			w.runner.Notify = func(_ context.Context, job *tocsin.Job, contact, subject, text string) tocsin.JobOutcome {
				got = &sent{contact, subject, text}
				return tocsin.JobOutcome{Notice: &tocsin.ContactNotice{Contact: contact, Kind: job.Kind, Text: text, Status: tocsin.NoticeSent}}
			}
			w.noticeMessage = "restart the primary?"
			tc.change(w)
			out := w.runner.HandleNotice(context.Background(), noticeJob(w.noticeMessage))
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("sent %+v\nwant %+v", got, tc.want)
			}
			if (out.Notice != nil) != (tc.want != nil) {
				t.Fatalf("outcome %+v", out)
			}
		})
	}
	// Without a sender the job fails visibly rather than vanishing.
	w := newWorld(t, stepBefore+","+stepApprove, "approve")
	if out := w.runner.HandleNotice(context.Background(), noticeJob("x")); !out.Failed || out.Error == "" {
		t.Fatalf("no sender: %+v", out)
	}
}

// TestHandleNoticeTimeline: the approver's notice, sent or failed, is on
// the incident's timeline as a step event; without an incident there is
// no timeline to write.
func TestHandleNoticeTimeline(t *testing.T) {
	for _, tc := range []struct {
		name     string
		incident string
		notice   tocsin.ContactNotice
		want     string // "" = no event
	}{
		{"sent", "inc1", tocsin.ContactNotice{Contact: "dee", Channel: "work", Status: tocsin.NoticeSent}, `Step "approve": asked dee for approval by work`},
		{"failed", "inc1", tocsin.ContactNotice{Contact: "dee", Channel: "work", Status: tocsin.NoticeFailed, Error: "smtp: 550 no such user"},
			`Step "approve": could not ask dee for approval: smtp: 550 no such user`},
		{"no incident", "", tocsin.ContactNotice{Contact: "dee", Channel: "work", Status: tocsin.NoticeSent}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, stepBefore+","+stepApprove, "approve")
			w.exec.Steps[1].Status, w.exec.Status, w.exec.IncidentID = tocsin.RunbookWaiting, tocsin.RunbookWaiting, tc.incident
			w.runner.Notify = func(_ context.Context, job *tocsin.Job, contact, subject, text string) tocsin.JobOutcome {
				n := tc.notice
				return tocsin.JobOutcome{Notice: &n}
			}
			out := w.runner.HandleNotice(context.Background(), noticeJob("restart the primary?"))
			if tc.want == "" {
				if len(out.Events) != 0 {
					t.Fatalf("events without an incident: %+v", out.Events)
				}
				return
			}
			if len(out.Events) != 1 {
				t.Fatalf("events: %+v", out.Events)
			}
			e := out.Events[0]
			var d tocsin.RunbookEventData
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			if e.Kind != tocsin.EventRunbookStep || e.IncidentID != "inc1" || e.Message != tc.want ||
				d != (tocsin.RunbookEventData{ExecutionID: "ex1", Runbook: "check", Step: "approve", Seq: 2, Status: tocsin.RunbookWaiting}) {
				t.Fatalf("event %+v data %+v\nwant message %q", e, d, tc.want)
			}
		})
	}
}
