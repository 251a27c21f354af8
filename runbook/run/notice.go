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
// moved on) is not announced.
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
	if st == nil || tocsin.RunbookEnded(exec.Status) || exec.Current != a.Seq || tocsin.RunbookEnded(st.Status) {
		return tocsin.JobOutcome{}
	}
	if r.Notify == nil {
		return tocsin.JobOutcome{Failed: true, Error: "runbook notices have no sender (Runner.Notify)"}
	}
	subject := fmt.Sprintf("Runbook %s waits for your approval", exec.Runbook)
	return r.Notify(ctx, job, a.Contact, subject, r.noticeText(exec, st, a))
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
