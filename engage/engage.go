// Package engage is tocsin's own on-call engine: it runs escalation plans
// for incidents — engaged by ack-or-escalate when oncall.provider is
// tocsin, or by a test page. A stage job resolves its targets to people at that
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
	"log/slog"
	"math/rand/v2"
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

// Engine runs escalation plans. Its handlers, one a file, are registered
// with the engine worker: tocsin.JobStage (stage.go), JobPage (page.go),
// JobActivation (activation.go), JobHandOff and JobHandOffNote
// (handoff.go) and, with oncall.provider tocsin, the ack-or-escalate timer
// JobEscalate (escalate.go).
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

func event(incidentID, kind, msg string) *tocsin.TimelineEvent {
	return &tocsin.TimelineEvent{IncidentID: incidentID, Kind: kind, Message: msg}
}

func (e *Engine) retryErr(job *tocsin.Job, err error) tocsin.JobOutcome {
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		return tocsin.JobOutcome{}
	}
	return tocsin.JobOutcome{RetryAt: e.Now().Add(e.Backoff(job.Attempts, 0, rand.Float64())), Error: err.Error()}
}
