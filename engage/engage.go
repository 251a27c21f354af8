// Package engage is tocsin's own on-call engine: it runs escalation plans
// for incidents. A stage job resolves its targets to people at that
// instant (contacts, whoever schedules have on call, nested plans, team
// channels), turns each person's engagement plan into pages, and arms the
// next stage; a page job sends one page (SMS, voice, email, Slack DM,
// Telegram, webhook) with failover between SMS/voice providers and a
// per-number rate limit; hand-off notes and activation codes are jobs of
// their own, one per message. Every handler returns one tocsin.JobOutcome
// that the store records with the job's completion in one transaction;
// the only other write is a page's claim before its send, so a page
// interrupted mid-send is never sent twice (tocsin.PageInterrupted).
// Handlers re-check state, so a crash, a lost lease or a second instance
// never loses a page.
package engage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"time"

	"tocsin"
	"tocsin/notify"
	"tocsin/oncall"
)

// Store is what the engine reads from the store. Handlers change nothing
// through it but a page's claim: what they did is their job's outcome,
// recorded with the job's completion in one transaction.
type Store interface {
	notify.DeliverySource
	FindEngagement(ctx context.Context, id string) (*tocsin.Engagement, error)
	StartEngagement(ctx context.Context, id, incidentID, plan, parentID string, test bool) (string, error)
	FindEscalationPlan(ctx context.Context, name string) (*tocsin.EscalationPlan, error)
	FindContact(ctx context.Context, alias string) (*tocsin.Contact, error)
	FindContactGroup(ctx context.Context, name string) (*tocsin.ContactGroup, error)
	ResolvedSchedule(ctx context.Context, name string, from, to time.Time) (*oncall.ResolvedSchedule, []oncall.Override, error)
	// ClaimPage marks a page sending before it is sent (see
	// tocsin.PageInterrupted); what the send did is the job's outcome.
	ClaimPage(ctx context.Context, id string, limit int, since time.Time) (p *tocsin.Page, outcome string, err error)
	FindPage(ctx context.Context, id string) (*tocsin.Page, error)
	// AcknowledgedContacts returns the contacts who acknowledged a page
	// of the incident.
	AcknowledgedContacts(ctx context.Context, incidentID string) (map[string]bool, error)
}

// Defaults.
const (
	DefaultMaxPerNumberPerHour = 20
	DefaultMaxAttempts         = 8
	// MaxNesting bounds how deep escalation plans engage other plans at
	// run time. Plans that loop are refused when stored; this guards
	// against loops stored before that check, or made by a race.
	MaxNesting = 8
)

// Engine runs escalation plans. Its handlers are registered with the
// engine worker for tocsin.JobStage, tocsin.JobPage and tocsin.JobActivation.
type Engine struct {
	Store Store
	// SMS and Voice are the providers, in failover order.
	SMS   []notify.SMSSender
	Voice []notify.Caller
	// Channels are the configured team channels by name ("slack",
	// "email", "telegram", …): stage targets name them, and contact
	// channels of those types are sent through them with the contact's
	// address as the destination.
	Channels map[string]notify.Channel
	// Webhook returns a channel posting to a contact's webhook URL.
	Webhook func(url string) (notify.Channel, error)
	// PublicHost is the base URL of tocsin's webhooks (voice key presses,
	// delivery reports).
	PublicHost string
	// AckURL returns an incident's signed acknowledgement link.
	AckURL              func(incidentID string) string
	MaxPerNumberPerHour int
	MaxAttempts         int
	Backoff             func(attempt int, retryAfter time.Duration, rnd float64) time.Duration
	Now                 func() time.Time
	Logger              *slog.Logger
	// Observe, when set, is told of every page that gave up, by lane
	// (tocsin.PageLane: "page:sms", "page:voice", …), and of every
	// escalation that gave up ("tocsin"), for the failure metrics.
	Observe func(channel, result string)
	// DefaultPlan is the escalation plan ack-or-escalate engages when the
	// request names none (oncall.escalation_plan).
	DefaultPlan string
}

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
	var plan *tocsin.EscalationPlan
	var err error
	if strings.HasPrefix(eng.Plan, ContactPlanPrefix) {
		plan, err = e.contactPlan(ctx, eng.Plan)
	} else {
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

func event(incidentID, kind, msg string) *tocsin.TimelineEvent {
	return &tocsin.TimelineEvent{IncidentID: incidentID, Kind: kind, Message: msg}
}

func (e *Engine) retryErr(job *tocsin.Job, err error) tocsin.JobOutcome {
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		return tocsin.JobOutcome{}
	}
	return tocsin.JobOutcome{RetryAt: e.Now().Add(e.Backoff(job.Attempts, 0, rand.Float64())), Error: err.Error()}
}

// pageFailed counts a page that gave up and tells the team's channels: a
// person who was not reached is itself an alert, as a failed notification
// or escalation is. A test page's failure is on its own quiet incident only.
func (e *Engine) pageFailed(job *tocsin.Job, p *tocsin.Page, test bool, msg string) []*tocsin.Job {
	kind := tocsin.PageLane(p.ChannelType)
	if e.Logger != nil {
		e.Logger.Error("page failed", "incident_id", p.IncidentID, "contact", p.Contact, "channel", p.ChannelName, "type", p.ChannelType, "err", msg)
	}
	if e.Observe != nil {
		e.Observe(kind, "failed")
	}
	if test {
		return nil
	}
	names := slices.Sorted(maps.Keys(e.Channels))
	return notify.FailureNotices(p.IncidentID, names, "", tocsin.DeliveryFailure{Channel: kind,
		What: fmt.Sprintf("page to %s by %s (%s)", p.Contact, p.ChannelType, p.ChannelName), Error: msg, Attempts: job.Attempts}, e.Now())
}

// HandlePage sends one page. The page is claimed (marked sending) before
// the send, so a send interrupted by a crash is never repeated (see
// tocsin.PageInterrupted); the result is recorded by the job's outcome.
func (e *Engine) HandlePage(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	var args tocsin.PageArgs
	if err := json.Unmarshal(job.Args, &args); err != nil {
		return tocsin.JobOutcome{}
	}
	limit := e.MaxPerNumberPerHour
	if limit <= 0 {
		limit = DefaultMaxPerNumberPerHour
	}
	// Read what the message needs before claiming, so nothing after the
	// claim but the send itself can fail.
	pre, err := e.Store.FindPage(ctx, args.PageID)
	if err != nil {
		return e.retryErr(job, err)
	}
	d, err := e.Store.LoadDelivery(ctx, pre.IncidentID, "", "")
	if err != nil {
		return e.retryErr(job, err)
	}
	eng, err := e.Store.FindEngagement(ctx, pre.EngagementID)
	if err != nil {
		return e.retryErr(job, err)
	}
	p, claim, err := e.Store.ClaimPage(ctx, args.PageID, limit, e.Now().Add(-time.Hour))
	if err != nil {
		return e.retryErr(job, err)
	}
	switch claim {
	case tocsin.PageInterrupted:
		msg := fmt.Sprintf("tocsin stopped while paging %s by %s (%s); the provider may have sent it, so it is not sent again (no duplicate pages). The escalation plan continues.",
			p.Contact, p.ChannelType, p.ChannelName)
		return pageOutcome(p, tocsin.PageUpdate{Status: tocsin.PageError, Error: "interrupted during send"}, msg)
	case tocsin.PageLimited:
		msg := fmt.Sprintf("Page to %s (%s) not sent: %s reached its limit of %d pages an hour", p.Contact, p.ChannelName, p.Address, limit)
		return pageOutcome(p, tocsin.PageUpdate{Status: tocsin.PageRateLimited, Error: "rate limited"}, msg)
	case tocsin.PageClaimed:
		provider, ref, failed, err := e.send(ctx, p, d, eng.Test, job.ID)
		return e.sent(job, p, eng.Test, provider, ref, failed, err)
	}
	return tocsin.JobOutcome{}
}

// sent is the outcome of a claimed page's send: sent, failed for good
// (the team's channels are told), or back to pending for a retry.
func (e *Engine) sent(job *tocsin.Job, p *tocsin.Page, test bool, provider, ref string, failed []string, err error) tocsin.JobOutcome {
	if err == nil {
		msg := fmt.Sprintf("Paged %s by %s (%s) via %s", p.Contact, p.ChannelType, p.ChannelName, provider)
		if len(failed) > 0 {
			msg += " after " + strings.Join(failed, "; ")
		}
		out := pageOutcome(p, tocsin.PageUpdate{Status: tocsin.PageSent, Provider: provider, Ref: ref}, msg)
		out.Events[0].Actor = provider
		out.Events[0].Data = tocsin.MustJSON(map[string]any{"page_id": p.ID, "contact": p.Contact, "channel": p.ChannelName, "provider": provider, "ref": ref})
		return out
	}
	permanent, after := notify.Classify(err)
	max := e.MaxAttempts
	if max <= 0 {
		max = DefaultMaxAttempts
	}
	if permanent || job.Attempts >= max {
		msg := fmt.Sprintf("Page to %s by %s (%s) failed: %v", p.Contact, p.ChannelType, p.ChannelName, err)
		out := pageOutcome(p, tocsin.PageUpdate{Status: tocsin.PageError, Error: err.Error()}, msg)
		out.Next = e.pageFailed(job, p, test, msg)
		return out
	}
	return tocsin.JobOutcome{Page: &tocsin.PageUpdate{PageID: p.ID, Status: tocsin.PagePending, Error: err.Error()},
		RetryAt: e.Now().Add(e.Backoff(job.Attempts, after, rand.Float64())), Error: err.Error()}
}

// pageOutcome records a page's final result u with a timeline event.
func pageOutcome(p *tocsin.Page, u tocsin.PageUpdate, msg string) tocsin.JobOutcome {
	u.PageID = p.ID
	return tocsin.JobOutcome{Page: &u, Events: []*tocsin.TimelineEvent{event(p.IncidentID, tocsin.EventPage, msg)}}
}

// send delivers a page through its channel type; failed lists providers
// that failed before one delivered.
func (e *Engine) send(ctx context.Context, p *tocsin.Page, d *tocsin.Delivery, test bool, deliveryID string) (provider, ref string, failed []string, err error) {
	inc := d.Incident
	ack := ""
	if e.AckURL != nil {
		ack = e.AckURL(inc.ID)
	}
	switch p.ChannelType {
	case tocsin.ChannelSMS:
		var errs []error
		for _, s := range e.SMS {
			// Only a provider whose replies reach tocsin may ask for one;
			// through any other the ack link is the way to acknowledge.
			code := ""
			if r, ok := s.(Replier); ok && r.AcceptsReplies() {
				code = p.AckCode
			}
			body := SMSText(inc, code, ack, test)
			id, err := s.SendSMS(ctx, &notify.SMS{To: p.Address, Body: body, StatusCallback: e.webhookURL("/api/v1/twilio/status")})
			if err == nil {
				return s.Name(), id, failed, nil
			}
			failed = append(failed, s.Name()+" failed: "+err.Error())
			errs = append(errs, err)
		}
		return "", "", failed, allFailed("sms", errs)
	case tocsin.ChannelVoice:
		var errs []error
		for _, c := range e.Voice {
			id, err := c.Call(ctx, &notify.Call{To: p.Address, Say: VoiceText(inc, test),
				GatherURL: e.webhookURL("/api/v1/twilio/voice/" + url.PathEscape(p.ID)), StatusCallback: e.webhookURL("/api/v1/twilio/status")})
			if err == nil {
				return c.Name(), id, failed, nil
			}
			failed = append(failed, c.Name()+" failed: "+err.Error())
			errs = append(errs, err)
		}
		return "", "", failed, allFailed("voice", errs)
	}
	ch, dest, err := e.channelFor(p.ChannelType, p.Address)
	if err != nil {
		return "", "", nil, err
	}
	if test && p.ChannelType == tocsin.ChannelEmail {
		dest["subject"] = "[TEST page] " + inc.Title
	}
	ref, err = ch.Send(ctx, &notify.Message{Event: notify.EventOpened, Incident: inc, Alert: d.Alert, Payload: d.Payload, AckURL: ack,
		Destination: dest, DeliveryID: deliveryID, SentAt: e.Now().UTC()})
	return ch.Name(), ref, nil, err
}

// channelFor returns the team channel that carries a contact channel of
// type typ (email, Slack DM, Telegram, webhook) and the destination that
// points it at address.
func (e *Engine) channelFor(typ, address string) (notify.Channel, map[string]string, error) {
	var ch notify.Channel
	dest := map[string]string{}
	switch typ {
	case tocsin.ChannelEmail:
		ch, dest["to"] = e.Channels["email"], address
	case tocsin.ChannelSlack:
		ch, dest["channel_id"] = e.Channels["slack"], address
	case tocsin.ChannelTelegram:
		ch, dest["chat_id"] = e.Channels["telegram"], address
	case tocsin.ChannelWebhook:
		if e.Webhook != nil {
			var err error
			if ch, err = e.Webhook(address); err != nil {
				return nil, nil, notify.Permanent(err)
			}
		}
	}
	if ch == nil {
		return nil, nil, notify.Permanent(fmt.Errorf("the %s channel is not configured in tocsin", typ))
	}
	return ch, dest, nil
}

// allFailed combines the errors of every provider: permanent only if all were.
func allFailed(kind string, errs []error) error {
	if len(errs) == 0 {
		return notify.Permanent(fmt.Errorf("no %s provider is configured (paging.%s)", kind, kind))
	}
	permanent := true
	var after time.Duration
	for _, err := range errs {
		p, a := notify.Classify(err)
		permanent = permanent && p
		after = max(after, a)
	}
	err := errors.Join(errs...)
	if permanent {
		return notify.Permanent(err)
	}
	return notify.RetryAfter(err, after)
}

func (e *Engine) webhookURL(path string) string {
	if e.PublicHost == "" {
		return ""
	}
	return strings.TrimRight(e.PublicHost, "/") + path
}

// Replier is an SMS provider that can report whether replies to its
// messages reach tocsin (Twilio's messaging webhook does). A page sent
// through a provider that is not one asks for no reply code.
type Replier interface {
	AcceptsReplies() bool
}

// SMSText is a page's text message: what, how bad, and how to acknowledge
// (reply with code, when one is given, or open the ack link).
func SMSText(inc *tocsin.Incident, code, ackURL string, test bool) string {
	prefix := "[tocsin]"
	if test {
		prefix = "[tocsin TEST]"
	}
	title := inc.Title
	if r := []rune(title); len(r) > 80 {
		title = string(r[:79]) + "…"
	}
	s := fmt.Sprintf("%s Impact %d: %s.", prefix, inc.Impact, title)
	switch {
	case code != "":
		s += " Reply " + code + " to acknowledge."
		if ackURL != "" {
			s += " " + ackURL
		}
	case ackURL != "":
		s += " Acknowledge: " + ackURL
	}
	return s
}

// VoiceText is what a page's voice call says.
func VoiceText(inc *tocsin.Incident, test bool) string {
	s := fmt.Sprintf("This is tocsin. Impact %d incident: %s. Press 1 to acknowledge.", inc.Impact, inc.Title)
	if test {
		s = "This is a test page from tocsin. " + s
	}
	return s
}
