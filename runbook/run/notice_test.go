package run

import (
	"context"
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
