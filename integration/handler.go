package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"tocsin"
	"tocsin/notify"
)

// Handler runs JobEscalate and JobDeescalate jobs: the durable timer of
// ack-or-escalate fires here, and resolves are synced to the provider.
type Handler struct {
	Source    notify.DeliverySource
	Providers map[string]Provider
	// IncidentURL links back to an incident.
	IncidentURL func(id string) string
	// Backoff returns the wait before retry number attempt.
	Backoff     func(attempt int, retryAfter time.Duration, rnd float64) time.Duration
	MaxAttempts int
	// Channels are the team channels told when an escalation or a resolve
	// at the provider gives up.
	Channels []string
	// Observe, when set, is told when a provider call gives up, per
	// provider ("failed").
	Observe func(provider, result string)
	Now     func() time.Time
	Logger  *slog.Logger

	// preloads holds the incidents Preload read until their job takes
	// them.
	preloads notify.Preloads
}

// Preload reads the incidents of claimed escalations and resolves at once
// (one query for a claim's worth) when the source can
// (notify.BatchSource); their handlers take them instead of reading
// alone. A read is fresh for 250 ms at most, less than a provider's
// answer to the call it feeds usually takes: an acknowledgement that
// commits meanwhile cancels the job, as it would between the handler's
// own read and its call.
func (h *Handler) Preload(ctx context.Context, jobs []*tocsin.Job) {
	bs, ok := h.Source.(notify.BatchSource)
	if !ok {
		return
	}
	var js []*tocsin.Job
	var incidents, alerts []string
	for _, j := range jobs {
		if (j.Kind == tocsin.JobEscalate || j.Kind == tocsin.JobDeescalate) && j.IncidentID != "" {
			js, incidents, alerts = append(js, j), append(incidents, j.IncidentID), append(alerts, "")
		}
	}
	h.preloads.Load(ctx, bs, "", js, incidents, alerts, h.Logger)
}

// load is what LoadDelivery answers for job's incident (its first
// alert, no channel), read ahead by Preload or now.
func (h *Handler) load(ctx context.Context, job *tocsin.Job) (*tocsin.Delivery, error) {
	if d := h.preloads.Take(job); d != nil {
		return d, nil
	}
	return h.Source.LoadDelivery(ctx, job.IncidentID, "", "")
}

// DefaultMaxAttempts is when a retryable provider failure becomes final.
const DefaultMaxAttempts = 20

// escalation builds what a provider is told about an incident.
func (h *Handler) escalation(inc *tocsin.Incident, alert *tocsin.Alert, target string) *Escalation {
	e := &Escalation{
		IncidentID: inc.ID, Title: inc.Title, Summary: inc.Summary, Impact: inc.Impact, Source: inc.Source,
		DedupKey: "tocsin-" + inc.ID, Labels: inc.Labels, Target: target,
	}
	if alert != nil {
		e.Severity = alert.Severity
		if e.Summary == "" {
			e.Summary = alert.Description
		}
	}
	if h.IncidentURL != nil {
		e.URL = h.IncidentURL(inc.ID)
	}
	return e
}

// HandleEscalate runs the ack-or-escalate timer: an incident still
// triggered is opened at the provider.
func (h *Handler) HandleEscalate(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	var args tocsin.EscalateArgs
	if err := json.Unmarshal(job.Args, &args); err != nil {
		return h.final(job, args.Provider, "escalation", fmt.Sprintf("escalation failed: unreadable job arguments: %v", err))
	}
	p, ok := h.Providers[args.Provider]
	if !ok {
		// Workers claim escalations only for their provider, so the
		// configuration changed while this one was queued.
		return h.final(job, args.Provider, "escalation", fmt.Sprintf("escalation failed: on-call provider %q is not configured; redeliver once it is", args.Provider))
	}
	d, err := h.load(ctx, job)
	if err != nil {
		if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
			return tocsin.JobOutcome{}
		}
		return h.retry(job, args.Provider, err, 0)
	}
	if d.Incident.Status != tocsin.StatusTriggered {
		// Acknowledged or resolved since the timer was armed: the
		// transaction that did so also recorded the cancellation.
		return tocsin.JobOutcome{}
	}
	e := h.escalation(d.Incident, d.Alert, args.Target)
	ref, err := p.Trigger(ctx, e)
	if err != nil {
		return h.failed(job, args.Provider, "escalation", err)
	}
	args.Ref = ref
	refJSON, _ := json.Marshal(args)
	out := tocsin.JobOutcome{
		Events: []*tocsin.TimelineEvent{{IncidentID: job.IncidentID, Kind: tocsin.EventEscalation, Actor: args.Provider,
			Message: fmt.Sprintf("Not acknowledged: escalated to %s (%s)", args.Provider, ref),
			Data:    tocsin.MustJSON(map[string]any{"provider": args.Provider, "target": args.Target, "ref": ref, "attempt": job.Attempts})}},
		// A resolve that commits while the provider is being called finds
		// no reference to resolve: the store queues the resolve when it
		// saves this one (tocsin.JobStore.CompleteJob).
		Ref: &tocsin.ChannelRef{IncidentID: job.IncidentID, Channel: tocsin.OnCallRefChannel + args.Provider, Ref: string(refJSON)},
	}
	return out
}

// HandleDeescalate resolves the provider's incident.
func (h *Handler) HandleDeescalate(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	var args tocsin.EscalateArgs
	if err := json.Unmarshal(job.Args, &args); err != nil {
		return h.final(job, args.Provider, "resolve at provider", fmt.Sprintf("resolve at provider failed: unreadable job arguments: %v", err))
	}
	p, ok := h.Providers[args.Provider]
	if !ok {
		return h.final(job, args.Provider, "resolve at provider", fmt.Sprintf("resolve at provider failed: on-call provider %q is not configured; redeliver once it is", args.Provider))
	}
	d, err := h.load(ctx, job)
	if err != nil {
		if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
			return tocsin.JobOutcome{}
		}
		return h.retry(job, args.Provider, err, 0)
	}
	err = p.Resolve(ctx, h.escalation(d.Incident, d.Alert, args.Target), args.Ref)
	switch {
	case err == ErrUnsupported:
		return tocsin.JobOutcome{Events: []*tocsin.TimelineEvent{{IncidentID: job.IncidentID, Kind: tocsin.EventEscalation, Actor: args.Provider,
			Message: fmt.Sprintf("%s cannot resolve incidents through its API; resolve %s there", args.Provider, args.Ref)}}}
	case err != nil:
		return h.failed(job, args.Provider, "resolve at provider", err)
	}
	return tocsin.JobOutcome{Events: []*tocsin.TimelineEvent{{IncidentID: job.IncidentID, Kind: tocsin.EventEscalation, Actor: args.Provider,
		Message: fmt.Sprintf("Resolved at %s (%s)", args.Provider, args.Ref),
		Data:    tocsin.MustJSON(map[string]any{"provider": args.Provider, "ref": args.Ref})}}}
}

func (h *Handler) failed(job *tocsin.Job, provider, what string, err error) tocsin.JobOutcome {
	permanent, after := notify.Classify(err)
	max := h.MaxAttempts
	if max <= 0 {
		max = DefaultMaxAttempts
	}
	if permanent || job.Attempts >= max {
		return h.final(job, provider, what, fmt.Sprintf("%s to %s failed after %d attempt(s): %v", what, provider, job.Attempts, err))
	}
	return h.retry(job, provider, err, after)
}

func (h *Handler) retry(job *tocsin.Job, provider string, err error, after time.Duration) tocsin.JobOutcome {
	wait := h.Backoff(job.Attempts, after, rand.Float64())
	return tocsin.JobOutcome{RetryAt: h.Now().Add(wait), Error: err.Error(),
		Events: []*tocsin.TimelineEvent{{IncidentID: job.IncidentID, Kind: tocsin.EventEscalation, Actor: provider,
			Message: fmt.Sprintf("%s: attempt %d failed: %v; retrying in %s", provider, job.Attempts, err, wait.Round(time.Millisecond))}}}
}

// final gives a provider call up. Nobody is paged when an escalation
// fails, so that is itself an alert: every team channel is told, the
// failure is counted, and the job is kept for POST …/redeliver.
func (h *Handler) final(job *tocsin.Job, provider, what, msg string) tocsin.JobOutcome {
	if h.Logger != nil {
		h.Logger.Error("escalation failed", "provider", provider, "incident_id", job.IncidentID, "err", msg)
	}
	if h.Observe != nil {
		h.Observe(provider, "failed")
	}
	return tocsin.JobOutcome{Failed: true, Error: msg,
		Events: []*tocsin.TimelineEvent{{IncidentID: job.IncidentID, Kind: tocsin.EventEscalation, Actor: provider, Message: msg,
			Data: tocsin.MustJSON(map[string]any{"provider": provider, "attempt": job.Attempts, "failed": true})}},
		Next: notify.FailureNotices(job.IncidentID, h.Channels, "",
			tocsin.DeliveryFailure{Channel: provider, What: what, Error: msg, Attempts: job.Attempts}, h.Now()),
	}
}
