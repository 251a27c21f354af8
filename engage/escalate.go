package engage

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"tocsin"
	"tocsin/notify"
)

// OnCallProvider is the oncall.provider value that makes ack-or-escalate
// engage tocsin's own escalation plans instead of forwarding the incident
// to another incident system.
const OnCallProvider = "tocsin"

// escalateAttempts is when a store error starting an engagement becomes
// final, as for an integration (integration.DefaultMaxAttempts).
const escalateAttempts = 20

// HandleEscalate is the ack-or-escalate timer of `oncall.provider: tocsin`:
// when the wait ends on an incident still triggered, it engages an
// escalation plan — the request's ?oncall_escalation_plan= (the job's
// Target) or DefaultPlan. The engagement's id is derived from the incident
// and plan, so a re-run job does not start it twice. A plan that cannot
// be engaged fails the job at once: nobody is paged, so the team's
// channels are told.
func (e *Engine) HandleEscalate(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	var args tocsin.EscalateArgs
	if err := json.Unmarshal(job.Args, &args); err != nil {
		return e.escalationFailed(job, fmt.Errorf("unreadable job arguments: %w", err))
	}
	d, err := e.Store.LoadDelivery(ctx, job.IncidentID, "", "")
	if err != nil {
		return e.escalationRetry(job, err)
	}
	if d.Incident.Status != tocsin.StatusTriggered {
		// Acknowledged or resolved since the timer was armed: the
		// transaction that did so also recorded the cancellation.
		return tocsin.JobOutcome{}
	}
	plan := cmp.Or(args.Target, e.DefaultPlan)
	if plan == "" {
		return e.escalationFailed(job, fmt.Errorf("no escalation plan: set oncall.escalation_plan or ?oncall_escalation_plan="))
	}
	if _, err := e.Store.FindEscalationPlan(ctx, plan); tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		return e.escalationFailed(job, fmt.Errorf("escalation plan %q does not exist", plan))
	} else if err != nil {
		return e.escalationRetry(job, err)
	}
	id, err := e.Store.StartEngagement(ctx, "esc-"+job.IncidentID+"-"+plan, job.IncidentID, plan, "", false)
	if err != nil {
		return e.escalationRetry(job, err)
	}
	return tocsin.JobOutcome{Events: []*tocsin.TimelineEvent{{IncidentID: job.IncidentID, Kind: tocsin.EventEscalation, Actor: OnCallProvider,
		Message: fmt.Sprintf("Not acknowledged: escalated to %s (%s)", OnCallProvider, id),
		Data:    tocsin.MustJSON(map[string]any{"provider": OnCallProvider, "target": args.Target, "ref": id, "attempt": job.Attempts})}}}
}

// HandleDeescalate finishes the resolve job of an incident escalated to
// tocsin by an earlier version, which saved the engagement as a
// provider's reference: there is nothing left to do, as the resolve
// stopped the incident's engagements in its own transaction.
func (e *Engine) HandleDeescalate(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	return tocsin.JobOutcome{}
}

// HasPlan reports whether an escalation plan of that name exists (the
// check of ?oncall_escalation_plan=).
func (e *Engine) HasPlan(name string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := e.Store.FindEscalationPlan(ctx, name)
	return err == nil
}

// escalationRetry retries a store error, until it has been tried too often.
func (e *Engine) escalationRetry(job *tocsin.Job, err error) tocsin.JobOutcome {
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		return tocsin.JobOutcome{} // the incident is gone
	}
	if job.Attempts >= escalateAttempts {
		return e.escalationFailed(job, err)
	}
	wait := e.Backoff(job.Attempts, 0, rand.Float64())
	return tocsin.JobOutcome{RetryAt: e.Now().Add(wait), Error: err.Error(),
		Events: []*tocsin.TimelineEvent{{IncidentID: job.IncidentID, Kind: tocsin.EventEscalation, Actor: OnCallProvider,
			Message: fmt.Sprintf("%s: attempt %d failed: %v; retrying in %s", OnCallProvider, job.Attempts, err, wait.Round(time.Millisecond))}}}
}

// escalationFailed gives an escalation up. Nobody is paged when one
// fails, so that is itself an alert: every team channel is told, the
// failure is counted, and the job is kept for POST …/redeliver.
func (e *Engine) escalationFailed(job *tocsin.Job, err error) tocsin.JobOutcome {
	msg := fmt.Sprintf("escalation to %s failed after %d attempt(s): %v", OnCallProvider, job.Attempts, err)
	if e.Logger != nil {
		e.Logger.Error("escalation failed", "provider", OnCallProvider, "incident_id", job.IncidentID, "err", msg)
	}
	if e.Observe != nil {
		e.Observe(OnCallProvider, "failed")
	}
	return tocsin.JobOutcome{Failed: true, Error: msg,
		Events: []*tocsin.TimelineEvent{{IncidentID: job.IncidentID, Kind: tocsin.EventEscalation, Actor: OnCallProvider, Message: msg,
			Data: tocsin.MustJSON(map[string]any{"provider": OnCallProvider, "attempt": job.Attempts, "failed": true})}},
		Next: notify.FailureNotices(job.IncidentID, slices.Sorted(maps.Keys(e.Channels)), "",
			tocsin.DeliveryFailure{Channel: OnCallProvider, What: "escalation", Error: msg, Attempts: job.Attempts}, e.Now()),
	}
}
