package tocsin

import (
	"encoding/json"
	"time"
)

// Alert statuses.
const (
	AlertFiring   = "firing"
	AlertResolved = "resolved"
)

// Alert sources known to tocsin. The generic source is the documented plain
// JSON format; "json" is any other JSON posted to the Versus endpoint.
const (
	SourceAlertmanager = "alertmanager"
	SourceGrafana      = "grafana"
	SourceCloudWatch   = "cloudwatch"
	SourceSentry       = "sentry"
	SourcePagerDuty    = "pagerduty"
	SourceGeneric      = "generic"
	SourceJSON         = "json"
)

// Link is a named URL carried by an alert (a dashboard, a runbook, a source).
type Link struct {
	Text string `json:"text,omitempty"`
	URL  string `json:"url"`
}

// Alert is one event from a source, decoded by an ingest adapter.
//
// DedupKey groups alerts into one incident while it is open: alerts with the
// same source and dedup key attach to the same open incident. Fingerprint
// identifies the individual alert inside that group, so a resolved alert
// resolves its own earlier firing alert.
type Alert struct {
	ID          string            `json:"id,omitempty"`
	IncidentID  string            `json:"incident_id,omitempty"`
	Source      string            `json:"source"`
	DedupKey    string            `json:"dedup_key"`
	Fingerprint string            `json:"fingerprint"`
	Status      string            `json:"status"`
	Severity    string            `json:"severity,omitempty"`
	Title       string            `json:"title"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Links       []Link            `json:"links,omitempty"`
	StartsAt    time.Time         `json:"starts_at,omitzero"`
	EndsAt      time.Time         `json:"ends_at,omitzero"`
	ReceivedAt  time.Time         `json:"received_at,omitzero"`
	// RepeatCount counts the reports of the alert that changed nothing (a
	// sender's repeat): they are counted, not stored again.
	RepeatCount int `json:"repeat_count,omitempty"`
	// LastSeenAt is when the alert was last reported, a repeat included.
	LastSeenAt time.Time `json:"last_seen_at,omitzero"`
	// Raw is the part of the payload this alert came from, handed to
	// templates as the Versus-compatible data.
	Raw json.RawMessage `json:"raw,omitempty"`
	// LegacyDedupKey is the dedup key an earlier version of tocsin gave
	// this alert, when the decoder's key has changed since (Alertmanager's
	// now includes the sender). With no open incident under DedupKey, the
	// alert joins the open incident under LegacyDedupKey, so an upgrade
	// does not split an incident that is open. It is not stored.
	LegacyDedupKey string `json:"-"`
}

// Resolved reports whether the alert says its condition has cleared.
func (a *Alert) Resolved() bool { return a.Status == AlertResolved }
