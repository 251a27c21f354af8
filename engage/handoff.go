package engage

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

// HandleHandOff queues a note (JobHandOffNote) to each person who left or
// joined a schedule's on-call set since the last run, then re-arms for the
// next hand-off, in the one outcome. It compares
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
	out := tocsin.JobOutcome{}
	// One job per note: each is sent and recorded on its own, so a crash
	// re-sends none that was delivered, and one failing address delays
	// no other.
	note := func(alias string, in bool, with []string) {
		a, _ := json.Marshal(tocsin.HandOffNoteArgs{Schedule: args.Schedule, Contact: alias, At: at, Incoming: in, With: with})
		out.Next = append(out.Next, &tocsin.Job{Kind: tocsin.JobHandOffNote, Lane: tocsin.JobHandOffNote, Args: a, DueAt: now,
			Key: tocsin.HandOffNoteKey(args.Schedule, alias, at, in)})
	}
	for _, alias := range incoming {
		note(alias, true, without(current, []string{alias}))
	}
	for _, alias := range outgoing {
		note(alias, false, incoming)
	}
	nextArgs, _ := json.Marshal(tocsin.HandOffArgs{Schedule: args.Schedule, Since: now.Add(time.Nanosecond), OnCall: current, Known: true})
	out.Next = append(out.Next, &tocsin.Job{Kind: tocsin.JobHandOff, Lane: tocsin.JobHandOff, Key: job.Key, Args: nextArgs, DueAt: next})
	return out
}

// HandleHandOffNote tells one person their on-call shift starts or ends,
// through their first activated channel that is not a voice call, the
// times in their own time zone (UTC when they have none). The note is
// recorded on the contact's record; one that cannot be sent is retried a
// few times, then recorded as failed (the next shift change brings the
// next note).
func (e *Engine) HandleHandOffNote(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	var a tocsin.HandOffNoteArgs
	if err := json.Unmarshal(job.Args, &a); err != nil {
		return tocsin.JobOutcome{}
	}
	c, err := e.Store.FindContact(ctx, a.Contact)
	if err != nil {
		return e.retryErr(job, err) // a deleted contact: nobody to tell
	}
	loc := time.UTC
	if c.TimeZone != "" {
		if l, err := time.LoadLocation(c.TimeZone); err == nil {
			loc = l
		}
	}
	text := fmt.Sprintf("tocsin: your on-call shift for %s ended at %s; handed over to %s.", a.Schedule, localTime(a.At, loc), list(a.With))
	if a.Incoming {
		text = fmt.Sprintf("tocsin: you are now on call for %s (since %s). Also on call: %s.", a.Schedule, localTime(a.At, loc), list(a.With))
	}
	for _, ch := range c.Channels {
		if !ch.Activated || ch.Type == tocsin.ChannelVoice {
			continue
		}
		return e.noticeOutcome(job, a.Contact, &ch, text, "hand-off note not sent", e.sendNotice(ctx, &ch, text, text, job.ID))
	}
	return tocsin.JobOutcome{}
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

// localTime writes t in loc with the zone's abbreviation ("2026-11-24
// 04:20 EST"), as the person told reads their clock.
func localTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02 15:04 MST")
}

func list(aliases []string) string {
	if len(aliases) == 0 {
		return "nobody"
	}
	return strings.Join(aliases, ", ")
}
