package tocsin

import (
	"context"
	"encoding/json"
	"time"
)

// Incident statuses, in lifecycle order.
const (
	StatusTriggered    = "triggered"
	StatusAcknowledged = "acknowledged"
	StatusResolved     = "resolved"
)

// Impact bounds: 1 is critical, 5 is no impact (AWS Incident Manager's scale).
const (
	ImpactCritical = 1
	ImpactHigh     = 2
	ImpactMedium   = 3
	ImpactLow      = 4
	ImpactNone     = 5
)

// ImpactName is an impact's word: critical, high, medium, low, none (or
// unknown outside 1–5).
func ImpactName(impact int) string {
	switch impact {
	case ImpactCritical:
		return "critical"
	case ImpactHigh:
		return "high"
	case ImpactMedium:
		return "medium"
	case ImpactLow:
		return "low"
	case ImpactNone:
		return "none"
	}
	return "unknown"
}

// Incident is what people respond to. It is opened from alerts with the same
// source and dedup key and lives until it is resolved.
type Incident struct {
	ID         string            `json:"id"`
	Title      string            `json:"title"`
	Summary    string            `json:"summary,omitempty"`
	Impact     int               `json:"impact"`
	Status     string            `json:"status"`
	Source     string            `json:"source"`
	DedupKey   string            `json:"dedup_key"`
	Labels     map[string]string `json:"labels,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
	AckedAt    *time.Time        `json:"acknowledged_at,omitempty"`
	AckedBy    string            `json:"acknowledged_by,omitempty"`
	ResolvedAt *time.Time        `json:"resolved_at,omitempty"`
	ResolvedBy string            `json:"resolved_by,omitempty"`
	// AlertCount and OpenAlertCount are filled by the store.
	AlertCount     int `json:"alert_count"`
	OpenAlertCount int `json:"open_alert_count"`
	// ResponsePlan is the plan the incident was opened from ("" when
	// none); Tags and DedupeString its template's, rendered; ChatChannels
	// the plans' chat channels its notifications go to.
	ResponsePlan string            `json:"response_plan,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
	DedupeString string            `json:"dedupe_string,omitempty"`
	ChatChannels []ChatChannel     `json:"chat_channels,omitempty"`

	// Alerts and Timeline are filled only when one incident is read in full.
	Alerts   []*Alert         `json:"alerts,omitempty"`
	Timeline []*TimelineEvent `json:"timeline,omitempty"`
	// Engagements are the escalation plans run for the incident, with
	// their pages and receipts (filled when one incident is read in full).
	Engagements []*Engagement `json:"engagements,omitempty"`

	// The incident record (record.go): the trigger of an incident started
	// by hand, and — when one incident is read in full — its related items,
	// the incidents linked under it as their parent, and the changes to its
	// service before it opened. (Tags and ResponsePlan are above.)
	TriggerDetails *TriggerDetails `json:"trigger_details,omitempty"`
	RelatedItems   []*RelatedItem  `json:"related_items,omitempty"`
	Children       []*IncidentLink `json:"children,omitempty"`
	Findings       []*ChangeEvent  `json:"findings,omitempty"`
}

// Timeline event kinds.
const (
	EventCreated            = "created"
	EventAlertAttached      = "alert_attached"
	EventAlertResolved      = "alert_resolved"
	EventNotificationSent   = "notification_sent"
	EventNotificationFailed = "notification_failed"
	EventNotificationRetry  = "notification_retry"
	EventAcknowledged       = "acknowledged"
	EventResolved           = "resolved"
	EventNote               = "note"
	EventRenotify           = "renotify"
	EventEscalation         = "escalation"
	// EventTemplateFailed: a user's template failed to render a message,
	// which was sent with the built-in template instead.
	EventTemplateFailed = "template_failed"
	// EventIntakeWarning records request parameters that intake ignored
	// (unknown, not configured, not allowed) while accepting the alerts.
	EventIntakeWarning = "intake_warning"
	// EventRedelivery records a request to redeliver failed deliveries.
	EventRedelivery = "redelivery"
	// EventRouted records the routing rule that matched an alert and the
	// response plan it picked (or notify-only).
	EventRouted = "routed"
	// EventPagingRefused records that the paging policy (or a notify-only
	// rule) kept an incident from paging anybody.
	EventPagingRefused = "paging_refused"
	// EventCustom is a responder's own timeline event (AWS's "Custom
	// Event"); a note is EventNote (AWS's "Note").
	EventCustom = "custom_event"
	// EventTriage records a change of an incident's title, summary or
	// impact, with who made it and the old and new values.
	EventTriage = "triage"
	// EventRelatedItem records a related item added or removed.
	EventRelatedItem = "related_item"
	// EventEdited records a custom event or note edited or deleted by
	// its author (the audit of what the timeline no longer shows).
	EventEdited = "event_edited"
)

// TimelineEvent is an immutable, timestamped record on an incident.
type TimelineEvent struct {
	ID         string          `json:"id"`
	IncidentID string          `json:"incident_id"`
	At         time.Time       `json:"at"`
	Kind       string          `json:"kind"`
	Actor      string          `json:"actor,omitempty"`
	Message    string          `json:"message"`
	Data       json.RawMessage `json:"data,omitempty"`
	// References and UpdatedAt are a custom event's or note's: what it
	// refers to, and when its author last edited it.
	References []EventReference `json:"references,omitempty"`
	UpdatedAt  *time.Time       `json:"updated_at,omitempty"`
}

// IncidentFilter selects incidents for a list.
type IncidentFilter struct {
	Status []string   // any of these statuses; empty means all
	Impact []int      // any of these impacts; empty means all
	Since  *time.Time // created at or after
	Before *time.Time // created before
	// Sources, when set, keeps incidents opened by any of these sources.
	Sources []string
	// DedupKey, when set, keeps incidents grouped under this dedup key.
	DedupKey string
	Cursor   string // opaque cursor from a previous page
	Limit    int    // page size; 0 means the default
}

// Actor says who did something and how: "alice via slack", "api", "link".
type Actor struct {
	Name string `json:"name"`
	Via  string `json:"via"`
}

// String renders the actor for timelines.
func (a Actor) String() string {
	switch {
	case a.Name == "":
		return a.Via
	case a.Via == "":
		return a.Name
	}
	return a.Name + " via " + a.Via
}

// IngestResult reports what happened to one alert.
type IngestResult struct {
	AlertID    string `json:"alert_id"`
	IncidentID string `json:"incident_id"`
	// Created is true when the alert opened a new incident.
	Created bool `json:"created"`
	// Deduplicated is true when the alert attached to an open incident.
	Deduplicated bool `json:"deduplicated"`
	// Resolved is true when this alert resolved its incident.
	Resolved bool `json:"resolved,omitempty"`
	// Duplicate is true when the request was already ingested.
	Duplicate bool `json:"duplicate,omitempty"`
}

// IngestOptions carry per-request choices that travel with alerts (Versus's
// query parameters). They are stored with the jobs they affect.
type IngestOptions struct {
	// Destinations override channel destinations, by channel name then
	// key ("slack" → "channel_id"). The HTTP layer has authorised them.
	Destinations map[string]map[string]string `json:"destinations,omitempty"`
	// OnCall, when set, arms ack-or-escalate for incidents these alerts open.
	OnCall *OnCallOptions `json:"oncall,omitempty"`
	// Quiet opens incidents without telling the team channels (test pages).
	Quiet bool `json:"quiet,omitempty"`
	// IdempotencyKey, when set, makes a repeat of the same request (an SNS
	// redelivery) change nothing: its alerts are reported as duplicates.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Warnings name the request parameters that were ignored; each
	// incident the request touches gets them on its timeline.
	Warnings []string `json:"warnings,omitempty"`
	// Integration is the intake the alerts came in on (one of Intakes),
	// as routing rules' match.integration names it.
	Integration string `json:"integration,omitempty"`
	// ResponsePlan, when set, is the response plan incidents these alerts
	// open start from, whatever the routing says (Versus's
	// ?awsim_other_response_plan= with oncall.provider tocsin).
	ResponsePlan string `json:"response_plan,omitempty"`
	// Title and Impact, when set, win over the response plan's incident
	// template (AWS StartIncident's title and impact overrides).
	Title  string `json:"title,omitempty"`
	Impact int    `json:"impact,omitempty"`
}

// OnCallOptions arm ack-or-escalate: unless the incident is acknowledged or
// resolved within Wait, it is escalated to Provider.
type OnCallOptions struct {
	// Provider is the provider's config name (aws_incident_manager, …).
	Provider string `json:"provider"`
	// Target selects an alternate destination at the provider by key.
	Target string `json:"target,omitempty"`
	// Wait is how long an acknowledgement may take; 0 escalates at once.
	Wait time.Duration `json:"wait"`
}

// OnCallTocsin is the oncall.provider of tocsin's own engagements.
const OnCallTocsin = "tocsin"

// IncidentService is the use-case interface of incidents, implemented by the
// store. HTTP handlers and the CLI depend on it.
type IncidentService interface {
	// Ingest commits alerts: each attaches to the open incident with the same
	// source and dedup key or opens one; notifications are queued in the same
	// transaction.
	Ingest(ctx context.Context, alerts []*Alert, opts IngestOptions) ([]IngestResult, error)
	FindIncident(ctx context.Context, id string) (*Incident, error)
	ListIncidents(ctx context.Context, f IncidentFilter) (incidents []*Incident, next string, err error)
	// Acknowledge moves a triggered incident to acknowledged. changed is
	// false when it was already acknowledged or resolved.
	Acknowledge(ctx context.Context, id string, by Actor) (inc *Incident, changed bool, err error)
	Resolve(ctx context.Context, id string, by Actor) (inc *Incident, changed bool, err error)
	AddNote(ctx context.Context, id string, by Actor, text string) (*TimelineEvent, error)
	// Redeliver queues an incident's failed deliveries again (only those
	// to channel, a channel or on-call provider, when it is not empty) and
	// returns how many; ENOTFOUND when there is none.
	Redeliver(ctx context.Context, id, channel string, by Actor) (int, error)
}
