package engage

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"tocsin"
	"tocsin/notify"
	"tocsin/oncall"
)

// HandleStage runs one stage of an engagement: its outcome records the
// pages, nested engagements, channel notifications and the next stage.
func (e *Engine) HandleStage(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	var args tocsin.StageArgs
	if err := json.Unmarshal(job.Args, &args); err != nil {
		return tocsin.JobOutcome{}
	}
	eng, ferr := e.Store.FindEngagement(ctx, args.EngagementID)
	if ferr != nil {
		return e.retryErr(job, ferr)
	}
	if eng.Status != tocsin.EngagementActive || eng.Progress != args.Seq {
		return tocsin.JobOutcome{}
	}
	st := &tocsin.StageProgress{EngagementID: eng.ID, Seq: args.Seq}
	plan, synthetic, err := e.targetPlan(ctx, eng.Plan)
	if !synthetic {
		plan, err = e.Store.FindEscalationPlan(ctx, eng.Plan)
	}
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		st.Final = true
		return tocsin.JobOutcome{Stage: st, Events: []*tocsin.TimelineEvent{event(eng.IncidentID, tocsin.EventStage, "Escalation plan "+eng.Plan+" no longer exists; escalation stopped")}}
	} else if err != nil {
		return e.retryErr(job, err)
	}
	n := len(plan.Stages)
	iteration, idx := args.Seq/n, args.Seq%n
	if iteration > plan.Repeat {
		st.Final = true
		// The end of the plan stops only further stages: the pages of
		// contacts it engaged still go out on their engagement plans'
		// schedules until an acknowledgement or a resolve cancels them.
		msg := fmt.Sprintf("Escalation plan %s ran every stage%s without an essential acknowledgement; pages already scheduled still go out until the incident is acknowledged", plan.Name, repeats(plan.Repeat))
		if alias, ok := strings.CutPrefix(eng.Plan, ContactPlanPrefix); ok {
			msg = "Every page of " + alias + "'s engagement plan is scheduled"
		} else if synthetic {
			msg = "Every page of " + strings.Replace(eng.Plan, ":", " ", 1) + " is scheduled"
		}
		if eng.Test {
			msg = "TEST: " + msg
		}
		return tocsin.JobOutcome{Stage: st, Events: []*tocsin.TimelineEvent{event(eng.IncidentID, tocsin.EventStage, msg)}}
	}
	chain, err := e.ancestry(ctx, eng)
	if err != nil {
		return e.retryErr(job, err)
	}
	out, err := e.plan(ctx, eng, st, plan, idx, iteration, chain, e.Now())
	if err != nil {
		return e.retryErr(job, err)
	}
	return out
}

// ancestry returns the plans engaged from the root engagement down to
// eng, in order (at most MaxNesting+1 of them).
func (e *Engine) ancestry(ctx context.Context, eng *tocsin.Engagement) ([]string, error) {
	chain := []string{eng.Plan}
	for id := eng.ParentID; id != "" && len(chain) <= MaxNesting; {
		parent, err := e.Store.FindEngagement(ctx, id)
		if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
			break
		} else if err != nil {
			return nil, err
		}
		chain = append([]string{parent.Plan}, chain...)
		id = parent.ParentID
	}
	return chain, nil
}

// targets is what a stage's targets resolve to at one instant.
type targets struct {
	people   *people
	plans    []string // nested escalation plans to engage
	channels []string // team channels to notify
	notes    []string // why a target engages nobody
}

// resolve resolves a stage's targets at now. chain lists the plans
// engaged above this one (ending with it), so a loop is not engaged again.
func (e *Engine) resolve(ctx context.Context, stage tocsin.Stage, chain []string, now time.Time) (*targets, error) {
	r := &targets{people: newPeople()}
	for _, t := range stage.Targets {
		switch {
		case t.Contact != "":
			r.people.add(t.Contact, t.Essential)
		case t.ContactGroup != "":
			// A group engages its members together, each with the target's
			// essential flag and their own engagement plan.
			g, err := e.Store.FindContactGroup(ctx, t.ContactGroup)
			if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
				r.notes = append(r.notes, "contact group "+t.ContactGroup+" no longer exists")
				continue
			} else if err != nil {
				return nil, err
			}
			for _, a := range g.Members {
				r.people.add(a, t.Essential)
			}
		case t.Schedule != "":
			if err := e.resolveSchedule(ctx, r, t, now); err != nil {
				return nil, err
			}
		case t.EscalationPlan != "":
			switch {
			case slices.Contains(chain, t.EscalationPlan):
				loop := append(chain[slices.Index(chain, t.EscalationPlan):len(chain):len(chain)], t.EscalationPlan)
				r.notes = append(r.notes, "escalation plan "+t.EscalationPlan+" not engaged again: the plans loop ("+strings.Join(loop, " → ")+")")
			case len(chain) > MaxNesting:
				r.notes = append(r.notes, fmt.Sprintf("escalation plan %s not engaged: plans are nested %d deep (the limit)", t.EscalationPlan, MaxNesting))
			default:
				r.plans = append(r.plans, t.EscalationPlan)
			}
		case t.Channel != "":
			if _, ok := e.Channels[t.Channel]; ok {
				r.channels = append(r.channels, t.Channel)
			} else {
				r.notes = append(r.notes, "channel "+t.Channel+" is not configured")
			}
		}
	}
	return r, nil
}

// resolveSchedule adds whoever a schedule target has on call at now.
func (e *Engine) resolveSchedule(ctx context.Context, r *targets, t tocsin.Target, now time.Time) error {
	sched, ovs, err := e.Store.ResolvedSchedule(ctx, t.Schedule, now, now.Add(time.Second))
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		r.notes = append(r.notes, "schedule "+t.Schedule+" no longer exists")
		return nil
	} else if err != nil {
		return err
	}
	who, err := sched.OnCall(ovs, now)
	if err != nil {
		r.notes = append(r.notes, fmt.Sprintf("schedule %s: %v", t.Schedule, err))
		return nil
	}
	if len(who) == 0 {
		r.notes = append(r.notes, "schedule "+t.Schedule+" has nobody on call")
	}
	for _, a := range who {
		r.people.add(a, t.Essential)
	}
	return nil
}

// plan runs stage idx of plan: the outcome records st with the pages of
// every person engaged, the notifications of the stage's team channels
// and one timeline event that says what the stage did.
func (e *Engine) plan(ctx context.Context, eng *tocsin.Engagement, st *tocsin.StageProgress, plan *tocsin.EscalationPlan, idx, iteration int, chain []string, now time.Time) (tocsin.JobOutcome, error) {
	stage := plan.Stages[idx]
	r, err := e.resolve(ctx, stage, chain, now)
	if err != nil {
		return tocsin.JobOutcome{}, err
	}
	engaged, err := e.pagePeople(ctx, eng.IncidentID, st, r, now)
	if err != nil {
		return tocsin.JobOutcome{}, err
	}
	st.Plans = r.plans
	out := tocsin.JobOutcome{Stage: st}
	for _, ch := range r.channels {
		args, _ := json.Marshal(tocsin.NotifyArgs{Channel: ch, Event: notify.EventOpened})
		out.Next = append(out.Next, &tocsin.Job{Kind: tocsin.JobNotify, Lane: tocsin.NotifyLane(ch), IncidentID: eng.IncidentID, Args: args, DueAt: now})
	}
	prefix := fmt.Sprintf("Stage %d/%d of %s%s", idx+1, len(plan.Stages), plan.Name, iterationLabel(iteration))
	if eng.Test {
		prefix = "TEST: " + prefix
	}
	var msg string
	if len(st.Pages) == 0 && len(r.plans) == 0 && len(r.channels) == 0 {
		// Nobody to wait for: the plan moves on at once.
		st.NextAt = now
		msg = prefix + ": nobody to engage; moving on at once"
	} else {
		st.NextAt = now.Add(stage.Duration.Std())
		var parts []string
		if len(engaged) > 0 {
			parts = append(parts, "paging "+strings.Join(engaged, ", "))
		}
		if len(r.plans) > 0 {
			parts = append(parts, "engaging plan "+strings.Join(r.plans, ", "))
		}
		if len(r.channels) > 0 {
			parts = append(parts, "notifying "+strings.Join(r.channels, ", "))
		}
		msg = prefix + ": " + strings.Join(parts, "; ")
		if idx+1 < len(plan.Stages) || iteration < plan.Repeat {
			msg += fmt.Sprintf("; next stage in %s", stage.Duration.Std())
		}
	}
	if len(r.notes) > 0 {
		msg += " (" + strings.Join(r.notes, "; ") + ")"
	}
	out.Events = []*tocsin.TimelineEvent{event(eng.IncidentID, tocsin.EventStage, msg)}
	return out, nil
}

// pagePeople adds to st the pages of everyone r engages and returns their
// labels ("alice (essential)"); why someone is not paged goes to r.notes.
func (e *Engine) pagePeople(ctx context.Context, incidentID string, st *tocsin.StageProgress, r *targets, now time.Time) ([]string, error) {
	acked, err := e.Store.AcknowledgedContacts(ctx, incidentID)
	if err != nil {
		return nil, err
	}
	var engaged []string
	for _, alias := range r.people.order {
		if acked[alias] {
			// The acknowledgement's reply promised this: no further page
			// for this incident, from this plan, its repeats or another.
			r.notes = append(r.notes, alias+" acknowledged earlier; not paged again")
			continue
		}
		c, err := e.Store.FindContact(ctx, alias)
		if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
			r.notes = append(r.notes, "contact "+alias+" no longer exists")
			continue
		} else if err != nil {
			return nil, err
		}
		essential := r.people.essential[alias]
		pages, skipped := Pages(c, essential, now)
		r.notes = append(r.notes, skipped...)
		for _, p := range pages {
			// Pages() keys each page by its step and retry, so the same
			// channel twice in a plan makes two pages.
			p.Key = fmt.Sprintf("%s:%d:%s:%s", st.EngagementID, st.Seq, p.Contact, p.Key)
		}
		st.Pages = append(st.Pages, pages...)
		if len(pages) > 0 {
			label := alias
			if essential {
				label += " (essential)"
			}
			engaged = append(engaged, label)
		}
	}
	return engaged, nil
}

// Pages turns a contact's engagement plan into pages due from now, as
// oncall.EngagementPages plans them for previews: each step pages one
// activated channel after its delay, and again every RetryInterval,
// Repages() times; without a plan every activated channel is paged at
// once. Each page's Key is "step.retry", unique within the contact's
// pages. skipped explains steps left out.
func Pages(c *tocsin.Contact, essential bool, now time.Time) (pages []*tocsin.Page, skipped []string) {
	planned, skipped := oncall.EngagementPages(c, now)
	address := map[string]string{}
	for _, ch := range c.Channels {
		address[ch.Name] = ch.Address
	}
	for _, p := range planned {
		pages = append(pages, &tocsin.Page{Key: fmt.Sprintf("%d.%d", p.Step, p.Retry), Contact: p.Contact, ChannelName: p.Channel,
			ChannelType: p.Type, Address: address[p.Channel], Essential: essential, DueAt: p.At})
	}
	return pages, skipped
}

// people keeps engaged aliases in order; essential if any target said so.
type people struct {
	order     []string
	essential map[string]bool
}

func newPeople() *people { return &people{essential: map[string]bool{}} }

func (p *people) add(alias string, essential bool) {
	if _, ok := p.essential[alias]; !ok {
		p.order = append(p.order, alias)
	}
	p.essential[alias] = p.essential[alias] || essential
}

func iterationLabel(i int) string {
	if i == 0 {
		return ""
	}
	return fmt.Sprintf(" (repeat %d)", i)
}

func repeats(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" %d times", n+1)
}
