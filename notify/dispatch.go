package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"tocsin"
)

// DeliverySource loads what a notify job needs; the store implements it.
type DeliverySource interface {
	LoadDelivery(ctx context.Context, incidentID, alertID, channel string) (*tocsin.Delivery, error)
}

// BatchSource is a DeliverySource that also reads many notifications of
// one channel at once: out[i] answers incidentIDs[i] and alertIDs[i] as
// LoadDelivery would, or is nil where the caller must load it alone.
type BatchSource interface {
	LoadDeliveries(ctx context.Context, channel string, incidentIDs, alertIDs []string) ([]*tocsin.Delivery, error)
}

// preloadFresh is how long a delivery read ahead by Preload may serve its
// job: a job that starts later (behind a slow channel's queue) reads the
// incident again, so a notification never shows an older state than a
// moment before it is sent. Real time, not Now: it is the age of a read.
const preloadFresh = 250 * time.Millisecond

// preloaded is a delivery read ahead for a job, and when.
type preloaded struct {
	del *tocsin.Delivery
	at  time.Time
}

// Preloads holds deliveries read ahead for claimed jobs, by job id, until
// their job takes them or they grow old (preloadFresh): the Dispatcher's
// notifications and the on-call handler's escalations. Its zero value is
// ready to use; it is safe for concurrent use.
type Preloads struct {
	mu sync.Mutex
	m  map[string]preloaded
}

// Load reads the deliveries of jobs (their incidents[i] and alerts[i] on
// channel) in one LoadDeliveries, when there are two or more, and keeps
// them for Take. A failed read is logged: each job then reads its own.
func (p *Preloads) Load(ctx context.Context, bs BatchSource, channel string, jobs []*tocsin.Job, incidents, alerts []string, logger *slog.Logger) {
	if len(jobs) < 2 {
		return
	}
	dels, err := bs.LoadDeliveries(ctx, channel, incidents, alerts)
	if err != nil {
		if logger != nil {
			logger.Warn("preload deliveries; each job reads its own", "channel", channel, "jobs", len(jobs), "err", err)
		}
		return
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]preloaded{}
	}
	for id, old := range p.m {
		// A job handed back or gone another way never takes its own.
		if now.Sub(old.at) > preloadFresh {
			delete(p.m, id)
		}
	}
	for i, del := range dels {
		if del != nil {
			p.m[jobs[i].ID] = preloaded{del: del, at: now}
		}
	}
}

// Take is the delivery read ahead for job, if it is fresh; it is taken
// either way, so a job that runs again reads anew.
func (p *Preloads) Take(job *tocsin.Job) *tocsin.Delivery {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.m[job.ID]
	if !ok {
		return nil
	}
	delete(p.m, job.ID)
	if time.Since(r.at) > preloadFresh {
		return nil
	}
	return r.del
}

// Defaults of Dispatcher.
const (
	DefaultMaxAttempts = 12
	DefaultSendTimeout = 30 * time.Second
)

// Dispatcher runs notify jobs (render → send → record) and renotify timers.
// It is the engine's handler for tocsin.JobNotify and tocsin.JobRenotify.
type Dispatcher struct {
	Source   DeliverySource
	Channels map[string]Channel
	// AckURL returns the signed acknowledgement link of an incident.
	AckURL func(incidentID string) string
	// IncidentURL returns the API link of an incident.
	IncidentURL func(incidentID string) string
	// Runbooks, when set, is read before a runbook step's wait is
	// announced, so a step resumed meanwhile is not (HandleRunbookWait).
	Runbooks RunbookSource
	// Backoff returns the wait before retry number attempt.
	Backoff func(attempt int, retryAfter time.Duration, rnd float64) time.Duration
	// RenotifyAfter is the interval of reminders (0: none are re-armed).
	RenotifyAfter time.Duration
	// MaxAttempts is when a retryable failure becomes final.
	MaxAttempts int
	// SendTimeout bounds one Send, whatever the channel's own timeouts.
	SendTimeout time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
	// Observe, when set, is told each attempt's result per channel:
	// "sent", "retry" or "failed" (the delivery gave up).
	Observe func(channel, result string)

	// preloads holds deliveries read by Preload until their job takes
	// them.
	preloads Preloads
}

// Preload reads the deliveries of claimed notify jobs at once, a query
// per channel, when the source can (BatchSource); HandleNotify takes them
// instead of reading alone. Jobs it cannot read, or a failed read, are
// left to HandleNotify.
func (d *Dispatcher) Preload(ctx context.Context, jobs []*tocsin.Job) {
	bs, ok := d.Source.(BatchSource)
	if !ok {
		return
	}
	type batch struct {
		jobs              []*tocsin.Job
		incidents, alerts []string
	}
	byChannel := map[string]*batch{}
	for _, j := range jobs {
		var args tocsin.NotifyArgs
		if j.Kind != tocsin.JobNotify || j.IncidentID == "" || json.Unmarshal(j.Args, &args) != nil ||
			args.Event == tocsin.NotifyEventRunbookWaiting || d.Channels[args.Channel] == nil {
			continue
		}
		b := byChannel[args.Channel]
		if b == nil {
			b = &batch{}
			byChannel[args.Channel] = b
		}
		b.jobs, b.incidents, b.alerts = append(b.jobs, j), append(b.incidents, j.IncidentID), append(b.alerts, args.AlertID)
	}
	for channel, b := range byChannel {
		d.preloads.Load(ctx, bs, channel, b.jobs, b.incidents, b.alerts, d.Logger)
	}
}

// channelNames lists the configured channels in a stable order.
func (d *Dispatcher) channelNames() []string {
	names := make([]string, 0, len(d.Channels))
	for n := range d.Channels {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// HandleNotify runs one tocsin.JobNotify job.
func (d *Dispatcher) HandleNotify(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	var args tocsin.NotifyArgs
	if err := json.Unmarshal(job.Args, &args); err != nil {
		return d.final(job, args, fmt.Sprintf("notification failed: unreadable job arguments: %v", err))
	}
	ch, ok := d.Channels[args.Channel]
	if !ok {
		// Workers claim notifications only for channels they have, so this
		// one lost its channel while queued (a configuration change).
		return d.final(job, args, fmt.Sprintf("%s: channel is no longer configured; redeliver once it is", args.Channel))
	}
	if args.Event == tocsin.NotifyEventRunbookWaiting {
		return d.sendRunbookWait(ctx, job, args, ch)
	}
	del := d.preloads.Take(job)
	if del == nil {
		var err error
		if del, err = d.Source.LoadDelivery(ctx, job.IncidentID, args.AlertID, args.Channel); err != nil {
			if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
				return tocsin.JobOutcome{}
			}
			return d.retry(job, args.Channel, err, 0)
		}
	}
	msg := &Message{
		Event: args.Event, Incident: del.Incident, Alert: del.Alert, Payload: del.Payload,
		Destination: args.Destination, Ref: del.Ref, DeliveryID: job.ID, SentAt: d.Now().UTC(), Failure: args.Failure,
	}
	if del.Incident.Status == tocsin.StatusTriggered && d.AckURL != nil {
		msg.AckURL = d.AckURL(del.Incident.ID)
	}
	if d.IncidentURL != nil {
		msg.IncidentURL = d.IncidentURL(del.Incident.ID)
	}
	sendCtx, cancel := context.WithTimeout(ctx, d.sendTimeout())
	defer cancel()
	ref, err := ch.Send(sendCtx, msg)
	if err != nil {
		permanent, after := Classify(err)
		if permanent || job.Attempts >= d.maxAttempts() {
			why := "permanent error"
			if !permanent {
				why = fmt.Sprintf("gave up after %d attempts", job.Attempts)
			}
			out := d.final(job, args, fmt.Sprintf("%s: %s notification failed (%s): %v", args.Channel, args.Event, why, err))
			out.Events = append(out.Events, d.warnings(job, args, msg)...)
			return out
		}
		return d.retry(job, args.Channel, err, after)
	}
	d.observe(args.Channel, "sent")
	out := tocsin.JobOutcome{Events: []*tocsin.TimelineEvent{{
		IncidentID: job.IncidentID, Kind: tocsin.EventNotificationSent, Actor: args.Channel,
		Message: fmt.Sprintf("%s: %s notification sent (attempt %d)", args.Channel, args.Event, job.Attempts),
		Data:    tocsin.MustJSON(map[string]any{"channel": args.Channel, "event": args.Event, "attempt": job.Attempts, "delivery_id": job.ID, "ref": ref}),
	}}}
	out.Events = append(out.Events, d.warnings(job, args, msg)...)
	if ref != "" && del.Ref == "" {
		out.Ref = &tocsin.ChannelRef{IncidentID: job.IncidentID, Channel: args.Channel, Ref: ref}
	}
	return out
}

// warnings logs what went wrong in a delivery without stopping it (a user
// template replaced by the built-in one) and returns it as timeline
// events. They are recorded with the job's final outcome only, so a
// delivery retried twelve times notes each problem once. Templates never
// see secrets, so their errors carry none.
func (d *Dispatcher) warnings(job *tocsin.Job, args tocsin.NotifyArgs, msg *Message) []*tocsin.TimelineEvent {
	var events []*tocsin.TimelineEvent
	for _, w := range msg.Warnings {
		if d.Logger != nil {
			d.Logger.Warn("notification template failed", "channel", args.Channel, "incident_id", job.IncidentID, "event", args.Event, "err", w)
		}
		events = append(events, &tocsin.TimelineEvent{IncidentID: job.IncidentID, Kind: tocsin.EventTemplateFailed, Actor: args.Channel,
			Message: args.Channel + ": " + w,
			Data:    tocsin.MustJSON(map[string]any{"channel": args.Channel, "event": args.Event, "attempt": job.Attempts, "delivery_id": job.ID})})
	}
	return events
}

func (d *Dispatcher) retry(job *tocsin.Job, channel string, err error, after time.Duration) tocsin.JobOutcome {
	d.observe(channel, "retry")
	wait := d.backoff()(job.Attempts, after, rand.Float64())
	msg := fmt.Sprintf("%s: attempt %d failed: %v; retrying in %s", channel, job.Attempts, err, wait.Round(time.Millisecond))
	return tocsin.JobOutcome{
		RetryAt: d.Now().Add(wait), Error: err.Error(),
		Events: []*tocsin.TimelineEvent{{IncidentID: job.IncidentID, Kind: tocsin.EventNotificationRetry, Actor: channel, Message: msg,
			Data: tocsin.MustJSON(map[string]any{"channel": channel, "attempt": job.Attempts, "delivery_id": job.ID})}},
	}
}

// final gives a notification up: it is kept as a failed delivery (POST
// …/redeliver queues it again), counted, and the incident's other channels
// are told, since a team that was not notified does not know it.
func (d *Dispatcher) final(job *tocsin.Job, args tocsin.NotifyArgs, msg string) tocsin.JobOutcome {
	d.observe(args.Channel, "failed")
	if d.Logger != nil {
		d.Logger.Warn("notification failed", "channel", args.Channel, "incident_id", job.IncidentID, "err", msg)
	}
	out := tocsin.JobOutcome{Failed: true, Error: msg,
		Events: []*tocsin.TimelineEvent{{IncidentID: job.IncidentID, Kind: tocsin.EventNotificationFailed, Actor: args.Channel, Message: msg,
			Data: tocsin.MustJSON(map[string]any{"channel": args.Channel, "event": args.Event, "attempt": job.Attempts, "delivery_id": job.ID})}}}
	// A failed notice is not announced in turn: notices would bounce
	// between two broken channels.
	if args.Event != tocsin.NotifyEventDeliveryFailed && job.IncidentID != "" {
		what := args.Event + " notification"
		out.Next = FailureNotices(job.IncidentID, d.channelNames(), args.Channel,
			tocsin.DeliveryFailure{Channel: args.Channel, What: what, Error: msg, Attempts: job.Attempts}, d.Now())
	}
	return out
}

// FailureNotices are the notify jobs telling channels (except the one
// that failed) that a delivery of an incident gave up.
func FailureNotices(incidentID string, channels []string, failed string, f tocsin.DeliveryFailure, now time.Time) []*tocsin.Job {
	var jobs []*tocsin.Job
	for _, name := range channels {
		if name == failed {
			continue
		}
		a := tocsin.MustJSON(tocsin.NotifyArgs{Channel: name, Event: tocsin.NotifyEventDeliveryFailed, Failure: &f})
		jobs = append(jobs, &tocsin.Job{Kind: tocsin.JobNotify, Lane: tocsin.NotifyLane(name), IncidentID: incidentID, Args: a, DueAt: now})
	}
	return jobs
}

// HandleRenotify runs a tocsin.JobRenotify timer: if the incident is still
// unacknowledged, every channel is notified again and the timer re-armed.
func (d *Dispatcher) HandleRenotify(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	del, err := d.Source.LoadDelivery(ctx, job.IncidentID, "", "")
	if err != nil {
		if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
			return tocsin.JobOutcome{}
		}
		return tocsin.JobOutcome{RetryAt: d.Now().Add(d.backoff()(job.Attempts, 0, rand.Float64())), Error: err.Error()}
	}
	if del.Incident.Status != tocsin.StatusTriggered {
		return tocsin.JobOutcome{}
	}
	var args tocsin.RenotifyArgs
	_ = json.Unmarshal(job.Args, &args)
	now := d.Now().UTC()
	out := tocsin.JobOutcome{Events: []*tocsin.TimelineEvent{{IncidentID: job.IncidentID, Kind: tocsin.EventRenotify,
		Message: fmt.Sprintf("Still unacknowledged after %s; notifying again", now.Sub(del.Incident.CreatedAt).Round(time.Second))}}}
	for _, name := range d.channelNames() {
		a := tocsin.MustJSON(tocsin.NotifyArgs{Channel: name, Event: EventRenotify, Destination: args.Destinations[name]})
		out.Next = append(out.Next, &tocsin.Job{Kind: tocsin.JobNotify, Lane: tocsin.NotifyLane(name), IncidentID: job.IncidentID, Args: a, DueAt: now})
	}
	if d.RenotifyAfter > 0 {
		// The finished timer's key is free again once this job is deleted
		// in the same transaction, so the re-armed one can take it.
		out.Next = append(out.Next, &tocsin.Job{Kind: tocsin.JobRenotify, Lane: tocsin.JobRenotify, Key: tocsin.RenotifyKey(job.IncidentID),
			IncidentID: job.IncidentID, Args: job.Args, DueAt: now.Add(d.RenotifyAfter)})
	}
	return out
}

func (d *Dispatcher) observe(channel, result string) {
	if d.Observe != nil {
		d.Observe(channel, result)
	}
}

func (d *Dispatcher) maxAttempts() int {
	if d.MaxAttempts > 0 {
		return d.MaxAttempts
	}
	return DefaultMaxAttempts
}

func (d *Dispatcher) sendTimeout() time.Duration {
	if d.SendTimeout > 0 {
		return d.SendTimeout
	}
	return DefaultSendTimeout
}

func (d *Dispatcher) backoff() func(int, time.Duration, float64) time.Duration {
	if d.Backoff != nil {
		return d.Backoff
	}
	return func(attempt int, after time.Duration, _ float64) time.Duration {
		return max(time.Duration(attempt)*time.Second, after)
	}
}
