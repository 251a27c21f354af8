package engage

import (
	"context"

	"tocsin"
)

// NotifyContact sends one notice to a contact that is not about paging
// them — a runbook's aws:approve step asking for their approval
// (JobRunbookNotice) — the way hand-off notes go: through their first
// activated channel that is not a voice call, recorded on the contact's
// record as the job's Notice, retried a few times, then recorded as
// failed. A contact with no such channel is not told (nothing recorded);
// a deleted one ends the job.
func (e *Engine) NotifyContact(ctx context.Context, job *tocsin.Job, alias, subject, text string) tocsin.JobOutcome {
	c, err := e.Store.FindContact(ctx, alias)
	if err != nil {
		return e.retryErr(job, err)
	}
	for _, ch := range c.Channels {
		if !ch.Activated || ch.Type == tocsin.ChannelVoice {
			continue
		}
		return e.noticeOutcome(job, alias, &ch, text, "notice not sent", e.sendNotice(ctx, &ch, subject, text, job.ID))
	}
	return tocsin.JobOutcome{}
}
