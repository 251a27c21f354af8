package paging

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"tocsin"
	"tocsin/oncall"
)

// handOffRecheck bounds how long a hand-off timer sleeps, so changed
// rotations and new overrides are noticed.
const handOffRecheck = time.Hour

// HandleHandOff tells the people who left or joined a schedule's on-call
// set since the last run, then re-arms for the next hand-off. It compares
// who is on call now with who was last told, so a change made meanwhile
// (an override added or deleted, a rotation edited: they re-arm the timer
// at once) is announced too, and a shift that began and ended between two
// runs is not announced late.
func (e *Engine) HandleHandOff(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	var args tocsin.HandOffArgs
	if err := json.Unmarshal(job.Args, &args); err != nil {
		return tocsin.JobOutcome{}
	}
	now := e.Now().UTC()
	if args.Since.IsZero() || args.Since.After(now) {
		args.Since = now
	}
	sched, ovs, err := e.Store.ResolvedSchedule(ctx, args.Schedule, args.Since.Add(-time.Second), now.Add(handOffRecheck+time.Minute))
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		return tocsin.JobOutcome{} // the schedule was deleted: the timer ends
	} else if err != nil {
		return e.retryErr(job, err)
	}
	next := now.Add(handOffRecheck)
	told := args.OnCall
	current, err := sched.OnCall(ovs, now)
	if err == nil && !args.Known {
		// A new timer: whoever was on call as it started needs no note.
		told, err = sched.OnCall(ovs, args.Since.Add(-time.Nanosecond))
	}
	if err != nil {
		// A rotation the oncall package rejects: check again later.
		nextArgs, _ := json.Marshal(args)
		return tocsin.JobOutcome{Next: []*tocsin.Job{{Kind: tocsin.JobHandOff, Lane: tocsin.JobHandOff, Key: job.Key, Args: nextArgs, DueAt: next}}}
	}
	at := now
	if handoffs, err := oncall.HandOffs(sched, ovs, args.Since, now.Add(handOffRecheck)); err == nil {
		for _, h := range handoffs {
			if h.At.After(now) {
				next = h.At
				break
			}
			at = h.At // the shift change being announced, not the late run
		}
	}
	incoming, outgoing := without(current, told), without(told, current)
	for _, alias := range incoming {
		e.tell(ctx, alias, func(loc *time.Location) string {
			return fmt.Sprintf("tocsin: you are now on call for %s (since %s). Also on call: %s.", args.Schedule, localTime(at, loc), others(current, alias))
		}, job.ID)
	}
	for _, alias := range outgoing {
		e.tell(ctx, alias, func(loc *time.Location) string {
			return fmt.Sprintf("tocsin: your on-call shift for %s ended at %s; handed over to %s.", args.Schedule, localTime(at, loc), list(incoming))
		}, job.ID)
	}
	nextArgs, _ := json.Marshal(tocsin.HandOffArgs{Schedule: args.Schedule, Since: now.Add(time.Nanosecond), OnCall: current, Known: true})
	return tocsin.JobOutcome{Next: []*tocsin.Job{{Kind: tocsin.JobHandOff, Lane: tocsin.JobHandOff, Key: job.Key, Args: nextArgs, DueAt: next}}}
}

// without returns the members of a not in b, in a's order.
func without(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// tell sends a hand-off note to a contact's first activated channel that
// is not a voice call, its times in the contact's own time zone (UTC when
// the contact has none); failures are logged, not retried (the next shift
// change brings the next note).
func (e *Engine) tell(ctx context.Context, alias string, note func(*time.Location) string, deliveryID string) {
	c, err := e.Store.FindContact(ctx, alias)
	if err != nil {
		return
	}
	loc := time.UTC
	if c.TimeZone != "" {
		if l, err := time.LoadLocation(c.TimeZone); err == nil {
			loc = l
		}
	}
	text := note(loc)
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

// localTime writes t in loc with the zone's abbreviation ("2026-11-24
// 04:20 EST"), as the person told reads their clock.
func localTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02 15:04 MST")
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
