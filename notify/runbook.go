package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"tocsin"
)

// RunbookSource reads runbook executions, so a wait is announced only
// while its step still waits (store.Runbooks).
type RunbookSource interface {
	RunbookExecution(ctx context.Context, id string) (*tocsin.RunbookExecution, error)
}

// maxInstructions bounds the step's instructions in a wait's notice: the
// commands and the link come first, and the page shows them whole.
const maxInstructions = 1500

// noticeAddressed are the channels whose Notice.To is where a chat
// channel's destination points (a Slack channel, a Telegram chat, an
// email address). The others post to their configured place whatever
// the destination, so they are told once.
var noticeAddressed = map[string]bool{"slack": true, "telegram": true, "email": true}

// NoticeUpdater is a channel whose notices can be changed once sent
// (Slack's chat.update): a runbook wait's message loses its buttons when
// the wait ends.
type NoticeUpdater interface {
	// PostNotice sends n as SendNotice does and returns the reference of
	// the message.
	PostNotice(ctx context.Context, n *Notice) (ref string, err error)
	// UpdateNotice replaces the message ref with n, without buttons.
	UpdateNotice(ctx context.Context, ref string, n *Notice) error
}

// RunbookWaitRef is the ChannelRef.Channel under which the message a
// channel posted at destination (its Notice.To, "" for its configured
// place) about a wait is kept, for its update when the wait ends.
func RunbookWaitRef(channel, destination string, w *tocsin.RunbookWait) string {
	return fmt.Sprintf("runbook:%s:%d:%d:%s:%s", w.ExecutionID, w.Seq, w.Attempt, channel, destination)
}

// HandleRunbookWait runs a tocsin.JobRunbookWait: a runbook step of an
// incident waits for a responder, so every channel the incident's
// notifications go to is told, one notify job per channel and chat
// channel destination (each retried on its own, as any notification). A
// step that no longer waits is not announced. A wait that ended
// (RunbookWait.Ended) is told only to the channels that can change the
// message they posted.
func (d *Dispatcher) HandleRunbookWait(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	var w tocsin.RunbookWait
	if err := json.Unmarshal(job.Args, &w); err != nil || w.ExecutionID == "" {
		if d.Logger != nil {
			d.Logger.Error("runbook wait job with bad arguments", "job_id", job.ID, "err", err)
		}
		return tocsin.JobOutcome{}
	}
	if w.Ended == "" {
		if ok, err := d.stillWaits(ctx, &w); err != nil {
			return d.later(job, err)
		} else if !ok {
			return tocsin.JobOutcome{}
		}
	}
	del, err := d.Source.LoadDelivery(ctx, job.IncidentID, "", "")
	if err != nil {
		if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
			return tocsin.JobOutcome{}
		}
		return d.later(job, err)
	}
	now := d.Now().UTC()
	var out tocsin.JobOutcome
	for _, name := range d.channelNames() {
		if _, ok := d.Channels[name].(NoticeUpdater); w.Ended != "" && !ok {
			continue
		}
		for _, dest := range noticeDestinations(name, del.Incident.ChatChannels) {
			a := tocsin.MustJSON(tocsin.NotifyArgs{Channel: name, Event: tocsin.NotifyEventRunbookWaiting, Destination: dest, Runbook: &w})
			out.Next = append(out.Next, &tocsin.Job{Kind: tocsin.JobNotify, Lane: tocsin.NotifyLane(name), IncidentID: job.IncidentID, Args: a, DueAt: now})
		}
	}
	return out
}

// later re-arms a job that could not read what it needs (the store
// briefly unavailable); it sends nothing, so no channel's count moves.
func (d *Dispatcher) later(job *tocsin.Job, err error) tocsin.JobOutcome {
	return tocsin.JobOutcome{RetryAt: d.Now().Add(d.backoff()(job.Attempts, 0, rand.Float64())), Error: err.Error()}
}

// noticeDestinations are where a channel posts an incident's notice: its
// configured place (nil) unless a chat channel of the incident replaces
// it, and each destination the incident's chat channels name for it, as
// response's chat notifications do.
func noticeDestinations(channel string, chats []tocsin.ChatChannel) []map[string]string {
	key := tocsin.ChatDestinationKeys[channel]
	var extra []map[string]string
	replaced := false
	for _, c := range chats {
		if c.Channel != channel || c.Destination == "" || key == "" || !noticeAddressed[channel] {
			continue
		}
		extra = append(extra, map[string]string{key: c.Destination})
		replaced = replaced || c.ReplaceDefaults
	}
	if replaced {
		return extra
	}
	return append([]map[string]string{nil}, extra...)
}

// stillWaits reports whether w's step is still the execution's current
// step, waiting at the same attempt.
func (d *Dispatcher) stillWaits(ctx context.Context, w *tocsin.RunbookWait) (bool, error) {
	if d.Runbooks == nil {
		return true, nil
	}
	exec, err := d.Runbooks.RunbookExecution(ctx, w.ExecutionID)
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("load runbook execution: %w", err)
	}
	return Waits(exec, w.Seq, w.Attempt), nil
}

// Waits reports whether exec waits at step seq (attempt, when not 0) for
// a responder: the step is current and Waiting.
func Waits(exec *tocsin.RunbookExecution, seq, attempt int) bool {
	if exec == nil || tocsin.RunbookEnded(exec.Status) || exec.Current != seq || seq < 1 || seq > len(exec.Steps) {
		return false
	}
	st := exec.Steps[seq-1]
	return st.Status == tocsin.RunbookWaiting && (attempt == 0 || st.Attempt == attempt)
}

// sendRunbookWait sends one channel a runbook wait's notice (a
// NotifyEventRunbookWaiting job): plain text through the channel's
// NoticeSender, with the runbook's buttons where the channel has them,
// the message's reference kept when it can be changed; or, once the
// wait ended, that message changed to say how.
func (d *Dispatcher) sendRunbookWait(ctx context.Context, job *tocsin.Job, args tocsin.NotifyArgs, ch Channel) tocsin.JobOutcome {
	w := args.Runbook
	if w == nil {
		return d.final(job, args, fmt.Sprintf("%s: runbook notice without its step", args.Channel))
	}
	if w.Ended == "" {
		if ok, err := d.stillWaits(ctx, w); err != nil {
			return d.retry(job, args.Channel, err, 0)
		} else if !ok {
			return tocsin.JobOutcome{}
		}
	}
	ns, ok := ch.(NoticeSender)
	if !ok {
		return d.final(job, args, fmt.Sprintf("%s: the channel cannot send notices", args.Channel))
	}
	dest := args.Destination[tocsin.ChatDestinationKeys[args.Channel]]
	key := RunbookWaitRef(args.Channel, dest, w)
	del, err := d.Source.LoadDelivery(ctx, job.IncidentID, "", key)
	if err != nil {
		if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
			return tocsin.JobOutcome{}
		}
		return d.retry(job, args.Channel, err, 0)
	}
	link := ""
	if d.IncidentURL != nil {
		link = d.IncidentURL(job.IncidentID)
	}
	n := &Notice{To: dest, Subject: RunbookWaitSubject(w), Text: RunbookWaitText(w, del.Incident, link),
		DeliveryID: job.ID, SentAt: d.Now().UTC(), Runbook: w}
	sendCtx, cancel := context.WithTimeout(ctx, d.sendTimeout())
	defer cancel()
	up, updates := ch.(NoticeUpdater)
	var ref, what string
	switch {
	case w.Ended == "" && del.Ref != "":
		return tocsin.JobOutcome{} // posted already, by a duplicate of this job
	case w.Ended != "" && (!updates || del.Ref == ""):
		return tocsin.JobOutcome{} // nothing was posted that could change
	case w.Ended != "":
		what = "message updated: " + w.Ended
		err = up.UpdateNotice(sendCtx, del.Ref, n)
	case updates:
		what = "notice sent"
		ref, err = up.PostNotice(sendCtx, n)
	default:
		what = "notice sent"
		err = ns.SendNotice(sendCtx, n)
	}
	if err != nil {
		permanent, after := Classify(err)
		if permanent || job.Attempts >= d.maxAttempts() {
			return d.final(job, args, fmt.Sprintf("%s: runbook step %s notice failed: %v", args.Channel, w.Step, err))
		}
		return d.retry(job, args.Channel, err, after)
	}
	d.observe(args.Channel, "sent")
	out := tocsin.JobOutcome{Events: []*tocsin.TimelineEvent{{
		IncidentID: job.IncidentID, Kind: tocsin.EventNotificationSent, Actor: args.Channel,
		Message: fmt.Sprintf("%s: runbook %s, step %s: %s (attempt %d)", args.Channel, w.Runbook, w.Step, what, job.Attempts),
		Data: tocsin.MustJSON(map[string]any{"channel": args.Channel, "event": args.Event, "attempt": job.Attempts, "delivery_id": job.ID,
			"execution_id": w.ExecutionID, "seq": w.Seq}),
	}}}
	if ref != "" {
		out.Ref = &tocsin.ChannelRef{IncidentID: job.IncidentID, Channel: key, Ref: ref}
	}
	return out
}

// RunbookWaitSubject is a wait's notice's subject line (email's).
func RunbookWaitSubject(w *tocsin.RunbookWait) string {
	if w.Action == "aws:approve" {
		return fmt.Sprintf("Runbook %s waits for approval at step %s", w.Runbook, w.Step)
	}
	return fmt.Sprintf("Runbook %s waits at step %s", w.Runbook, w.Step)
}

// RunbookWaitText is what a team's channel reads of a wait, as plain text
// (each channel escapes it for its markup): which step of which runbook
// of which incident waits, how to resume or answer it from the CLI (or,
// once it ended, how it did), the incident's page, then the approval's
// message and the step's Markdown instructions, as written.
func RunbookWaitText(w *tocsin.RunbookWait, inc *tocsin.Incident, link string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Runbook %s", w.Runbook)
	if inc != nil {
		fmt.Fprintf(&b, " on incident %q (%s)", inc.Title, inc.ID)
	}
	approve := w.Action == "aws:approve"
	switch {
	case w.Ended != "":
		fmt.Fprintf(&b, ", step %s (%s): %s.\n", w.Step, w.Action, w.Ended)
	case approve:
		fmt.Fprintf(&b, " waits for approval at step %s (%s): %d approval(s) of %s.\n", w.Step, w.Action, max(w.MinApprovals, 1), strings.Join(w.Approvers, ", "))
		fmt.Fprintf(&b, "Approve with: tocsin runbook approve %s --as <approver>\nReject with: tocsin runbook reject %s --as <approver>\n", w.ExecutionID, w.ExecutionID)
	default:
		fmt.Fprintf(&b, " waits at step %s (%s).\n", w.Step, w.Action)
		fmt.Fprintf(&b, "Resume with: tocsin runbook resume %s\n", w.ExecutionID)
	}
	if link != "" {
		fmt.Fprintf(&b, "Incident: %s\n", link)
	}
	if m := strings.TrimSpace(w.Message); approve && m != "" {
		fmt.Fprintf(&b, "\n%s\n", m)
	}
	if in := strings.TrimSpace(w.Instructions); in != "" {
		fmt.Fprintf(&b, "\n%s\n", tocsin.Truncate(in, maxInstructions))
	}
	return strings.TrimRight(b.String(), "\n")
}
