// Package integration forwards incidents to other incident systems: it is
// ack-or-escalate (Versus Incident's `oncall` block) when oncall.provider
// names one. A durable timer waits `wait_minutes`; an acknowledgement or
// a resolve cancels it; when it fires, Handler opens the incident at the
// integration (AWS Incident Manager, PagerDuty, ServiceNow, incident.io)
// with its real context, and resolving the incident later resolves it
// there too, where the integration's API allows. One package per
// integration implements Provider; integrationtest holds their local
// fakes. tocsin's own escalation plans are not an integration: see
// package engage.
package integration

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"tocsin/notify"
)

// Escalation is what tocsin tells a provider about an incident.
type Escalation struct {
	IncidentID string
	Title      string
	Summary    string
	// Impact is 1 (critical) … 5 (none); Severity the alert's own word.
	Impact   int
	Severity string
	Source   string
	// URL links back to the incident in tocsin.
	URL string
	// DedupKey is stable for the incident ("tocsin-<incident id>") so a
	// retried trigger does not open a second incident at the provider.
	DedupKey string
	Labels   map[string]string
	// Target selects an alternate configured destination by key (Versus's
	// awsim_other_response_plan, pagerduty_other_routing_key, …); "" is the
	// default one.
	Target string
}

// Provider opens and resolves incidents in an external on-call system.
// Errors are classified with notify.Permanent / notify.RetryAfter; others
// are retried.
type Provider interface {
	// Name is the provider's config name: aws_incident_manager, pagerduty,
	// servicenow, incident_io.
	Name() string
	// Trigger opens (or, for the same DedupKey, finds) the incident at the
	// provider and returns its reference there (an ARN, a dedup key, a
	// sys_id).
	Trigger(ctx context.Context, e *Escalation) (ref string, err error)
	// Resolve resolves the provider's incident ref. It returns
	// ErrUnsupported when the provider's API cannot.
	Resolve(ctx context.Context, e *Escalation, ref string) error
	// HasTarget reports whether key names a configured alternate.
	HasTarget(key string) bool
}

// ErrUnsupported is returned by Resolve when the provider cannot resolve.
var ErrUnsupported = errors.New("not supported by this provider")

// HTTPDefaults settles what every HTTP integration's constructor settles
// the same way: the timeout (def when unset), the shared tuned client
// (connection reuse, no redirects) unless the options gave one, and a
// logger that discards when none was given.
func HTTPDefaults(client *http.Client, timeout, def time.Duration, logger *slog.Logger) (*http.Client, time.Duration, *slog.Logger, error) {
	if timeout <= 0 {
		timeout = def
	}
	if client == nil {
		c, err := notify.HTTPClient(timeout, nil)
		if err != nil {
			return nil, 0, nil, err
		}
		client = c
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return client, timeout, logger, nil
}
