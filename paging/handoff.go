package paging

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"tocsin"
	"tocsin/oncall"
)

// handOffRecheck bounds how long a hand-off timer sleeps, so changed
// rotations and new overrides are noticed.
const handOffRecheck = time.Hour

// HandleHandOff tells the outgoing and incoming people of a schedule's
// hand-offs since the last run, then re-arms for the next hand-off.
func (e *Engine) HandleHandOff(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	var args tocsin.HandOffArgs
	if err := json.Unmarshal(job.Args, &args); err != nil {
		return tocsin.JobOutcome{}
	}
	now := e.Now().UTC()
	if args.Since.IsZero() || args.Since.After(now) {
		args.Since = now
	}
	sched, ovs, err := e.Store.ResolvedSchedule(ctx, args.Schedule, args.Since, now.Add(handOffRecheck+time.Minute))
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		return tocsin.JobOutcome{} // the schedule was deleted: the timer ends
	} else if err != nil {
		return e.retryErr(job, err)
	}
	handoffs, err := oncall.HandOffs(sched, ovs, args.Since, now.Add(handOffRecheck))
	if err != nil {
		// A rotation the oncall package rejects: check again later.
		handoffs = nil
	}
	next := now.Add(handOffRecheck)
	for _, h := range handoffs {
		if h.At.After(now) {
			next = h.At
			break
		}
		if !h.At.After(args.Since) && !h.At.Equal(args.Since) {
			continue
		}
		for _, alias := range h.Incoming {
			e.tell(ctx, alias, fmt.Sprintf("tocsin: you are now on call for %s (since %s UTC). Also on call: %s.", args.Schedule, h.At.Format("2006-01-02 15:04"), others(h.Incoming, alias)), job.ID)
		}
		for _, alias := range h.Outgoing {
			e.tell(ctx, alias, fmt.Sprintf("tocsin: your on-call shift for %s ended at %s UTC; handed over to %s.", args.Schedule, h.At.Format("2006-01-02 15:04"), list(h.Incoming)), job.ID)
		}
	}
	nextArgs, _ := json.Marshal(tocsin.HandOffArgs{Schedule: args.Schedule, Since: now.Add(time.Nanosecond)})
	return tocsin.JobOutcome{Next: []*tocsin.Job{{Kind: tocsin.JobHandOff, Lane: tocsin.JobHandOff, Key: job.Key, Args: nextArgs, DueAt: next}}}
}

// tell sends a hand-off note to a contact's first activated channel that
// is not a voice call; failures are logged, not retried (the next shift
// change brings the next note).
func (e *Engine) tell(ctx context.Context, alias, text, deliveryID string) {
	c, err := e.Store.FindContact(ctx, alias)
	if err != nil {
		return
	}
	for _, ch := range c.Channels {
		if !ch.Activated || ch.Type == tocsin.ChannelVoice {
			continue
		}
		if err := e.sendText(ctx, &ch, text, deliveryID+":"+alias); err != nil && e.Logger != nil {
			e.Logger.Warn("hand-off note not sent", "contact", alias, "channel", ch.Name, "err", err)
		}
		return
	}
}

func others(all []string, me string) string {
	var out []string
	for _, a := range all {
		if a != me {
			out = append(out, a)
		}
	}
	return list(out)
}

func list(aliases []string) string {
	if len(aliases) == 0 {
		return "nobody"
	}
	return strings.Join(aliases, ", ")
}
