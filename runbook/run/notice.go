package run

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"tocsin"
)

// HandleNotice runs a JobRunbookNotice job: it tells one approver, on
// their contact channels through Notify, that an aws:approve step waits
// for them, with the step's Message, the command that approves and the
// incident's link. An approval no longer pending (the execution ended or
// moved on), or one the approver has already given, is not announced. The notice, sent or failed, goes on the
// incident's timeline too: asking someone to approve is part of the
// response.
func (r *Runner) HandleNotice(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	var a tocsin.RunbookNoticeArgs
	if err := json.Unmarshal(job.Args, &a); err != nil || a.ExecutionID == "" || a.Contact == "" {
		r.log().Error("runbook notice job with bad arguments", "job_id", job.ID, "err", err)
		return tocsin.JobOutcome{}
	}
	exec, _, err := r.Store.RunbookRun(ctx, a.ExecutionID)
	if err != nil {
		return r.retry(job, fmt.Errorf("load runbook execution: %w", err))
	}
	st := stepBySeq(exec, a.Seq)
	if st == nil || tocsin.RunbookEnded(exec.Status) || exec.Current != a.Seq || tocsin.RunbookEnded(st.Status) || answered(st, a.Contact) {
		return tocsin.JobOutcome{}
	}
	if r.Notify == nil {
		return tocsin.JobOutcome{Failed: true, Error: "runbook notices have no sender (Runner.Notify)"}
	}
	subject := fmt.Sprintf("Runbook %s waits for your approval", exec.Runbook)
	out := r.Notify(ctx, job, a.Contact, subject, r.noticeText(exec, st, a))
	if out.Notice != nil && exec.IncidentID != "" {
		out.Events = append(out.Events, noticeEvent(exec, st, out.Notice))
	}
	return out
}

// answered reports whether contact has already approved or rejected the
// step: one who answered before their notice went out is not asked.
func answered(st *tocsin.RunbookStep, contact string) bool {
	for _, a := range st.Approvals {
		if a.By == contact {
			return true
		}
	}
	return false
}

// noticeEvent is the timeline's record of an approver's notice (At left
// to the store: the job's completion).
func noticeEvent(exec *tocsin.RunbookExecution, st *tocsin.RunbookStep, n *tocsin.ContactNotice) *tocsin.TimelineEvent {
	msg := fmt.Sprintf("Step %q: asked %s for approval", st.Name, n.Contact)
	if n.Channel != "" {
		msg += " by " + n.Channel
	}
	if n.Status == tocsin.NoticeFailed {
		msg = fmt.Sprintf("Step %q: could not ask %s for approval: %s", st.Name, n.Contact, tocsin.Truncate(n.Error, 500))
	}
	data := tocsin.RunbookEventData{ExecutionID: exec.ID, Runbook: exec.Runbook, Step: st.Name, Seq: st.Seq, Status: st.Status}
	return &tocsin.TimelineEvent{IncidentID: exec.IncidentID, Kind: tocsin.EventRunbookStep, Message: msg, Data: tocsin.MustJSON(data)}
}

// noticeText is what an approver reads.
func (r *Runner) noticeText(exec *tocsin.RunbookExecution, st *tocsin.RunbookStep, a tocsin.RunbookNoticeArgs) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Runbook %s", exec.Runbook)
	if exec.IncidentID != "" {
		fmt.Fprintf(&b, " on incident %s", exec.IncidentID)
	}
	fmt.Fprintf(&b, " waits for your approval at step %s", st.Name)
	if m := strings.TrimSpace(a.Message); m != "" {
		fmt.Fprintf(&b, ": %s", m)
	}
	if !strings.HasSuffix(b.String(), ".") && !strings.HasSuffix(b.String(), "?") && !strings.HasSuffix(b.String(), "!") {
		b.WriteString(".")
	}
	fmt.Fprintf(&b, " Approve with: tocsin runbook approve %s --as %s", exec.ID, a.Contact)
	if exec.IncidentID != "" && r.IncidentURL != nil {
		if link := r.IncidentURL(exec.IncidentID); link != "" {
			fmt.Fprintf(&b, " Incident: %s", link)
		}
	}
	return b.String()
}
