package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"tocsin"
)

// PlanSource reads the response plan whose notification targets a job
// tells (store.ResponsePlans), secrets included.
type PlanSource interface {
	FindResponsePlan(ctx context.Context, name string) (*tocsin.ResponsePlan, error)
}

// TargetNotifier runs tocsin.JobPlanNotify jobs: it tells one notification
// target of a response plan of an incident's lifecycle (created,
// acknowledged, impact_changed, resolved), as a signed webhook — the
// webhook channel's payload and X-Tocsin-Signature, with the target's
// secret. The target's URL and secret are read from the plan when the job
// runs, so no job holds them, and neither ever reaches the timeline.
type TargetNotifier struct {
	Source DeliverySource
	Plans  PlanSource
	// Webhook returns a channel posting to url, signed with secret (the
	// webhook channel, through a client that refuses internal addresses).
	Webhook func(url, secret string) (Channel, error)
	// IncidentURL returns the link of an incident.
	IncidentURL func(incidentID string) string
	Backoff     func(attempt int, retryAfter time.Duration, rnd float64) time.Duration
	// MaxAttempts is when a retryable failure becomes final
	// (DefaultMaxAttempts when 0).
	MaxAttempts int
	Now         func() time.Time
	Logger      *slog.Logger
}

// HandlePlanNotify runs one tocsin.JobPlanNotify job.
func (n *TargetNotifier) HandlePlanNotify(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	var args tocsin.PlanNotifyArgs
	if err := json.Unmarshal(job.Args, &args); err != nil {
		return n.final(job, "response plan target", fmt.Sprintf("unreadable job arguments: %v", err))
	}
	who := fmt.Sprintf("response plan %s notification_targets[%d]", args.ResponsePlan, args.Index)
	plan, err := n.Plans.FindResponsePlan(ctx, args.ResponsePlan)
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		return n.final(job, who, "the response plan no longer exists")
	} else if err != nil {
		return n.retry(job, who, err, 0)
	}
	targets := plan.IncidentTemplate.NotificationTargets
	if args.Index >= len(targets) {
		return n.final(job, who, "the response plan no longer has this target")
	}
	t := targets[args.Index]
	del, err := n.Source.LoadDelivery(ctx, job.IncidentID, "", "")
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		return tocsin.JobOutcome{}
	} else if err != nil {
		return n.retry(job, who, err, 0)
	}
	ch, err := n.Webhook(t.Webhook, t.Secret)
	if err != nil {
		return n.final(job, who, Redact(err, t.Webhook, t.Secret).Error())
	}
	msg := &Message{Event: args.Event, Incident: del.Incident, DeliveryID: job.ID, SentAt: n.Now().UTC()}
	if n.IncidentURL != nil {
		msg.IncidentURL = n.IncidentURL(job.IncidentID)
	}
	if _, err := ch.Send(ctx, msg); err != nil {
		err = Redact(err, t.Webhook, t.Secret)
		permanent, after := Classify(err)
		max := n.MaxAttempts
		if max <= 0 {
			max = DefaultMaxAttempts
		}
		if permanent || job.Attempts >= max {
			return n.final(job, who, fmt.Sprintf("%s notification failed after %d attempt(s): %v", args.Event, job.Attempts, err))
		}
		return n.retry(job, who, err, after)
	}
	return tocsin.JobOutcome{Events: []*tocsin.TimelineEvent{{IncidentID: job.IncidentID, Kind: tocsin.EventNotificationSent, Actor: who,
		Message: fmt.Sprintf("%s: %s notification sent (attempt %d)", who, args.Event, job.Attempts),
		Data:    tocsin.MustJSON(map[string]any{"response_plan": args.ResponsePlan, "index": args.Index, "event": args.Event, "delivery_id": job.ID})}}}
}

func (n *TargetNotifier) retry(job *tocsin.Job, who string, err error, after time.Duration) tocsin.JobOutcome {
	wait := n.Backoff(job.Attempts, after, rand.Float64())
	return tocsin.JobOutcome{RetryAt: n.Now().Add(wait), Error: err.Error(),
		Events: []*tocsin.TimelineEvent{{IncidentID: job.IncidentID, Kind: tocsin.EventNotificationRetry, Actor: who,
			Message: fmt.Sprintf("%s: attempt %d failed: %v; retrying in %s", who, job.Attempts, err, wait.Round(time.Millisecond))}}}
}

// final gives a target's notification up; it is kept as a failed job.
func (n *TargetNotifier) final(job *tocsin.Job, who, msg string) tocsin.JobOutcome {
	if n.Logger != nil {
		n.Logger.Warn("response plan notification failed", "target", who, "incident_id", job.IncidentID, "err", msg)
	}
	return tocsin.JobOutcome{Failed: true, Error: msg,
		Events: []*tocsin.TimelineEvent{{IncidentID: job.IncidentID, Kind: tocsin.EventNotificationFailed, Actor: who, Message: who + ": " + msg}}}
}
