// Package incidentio escalates tocsin incidents to incident.io through an
// HTTP alert source.
//
// Trigger posts a firing alert event, Resolve the same event with status
// resolved:
//
//	POST {api_url}/v2/alert_events/http/{alert_source_config_id}
//	Authorization: Bearer <api_key>
//	{
//	  "title": "Postgresql down (instance pg-prod-01)",
//	  "description": "Postgresql instance is down.",
//	  "deduplication_key": "tocsin-inc_01",
//	  "status": "firing",
//	  "source_url": "https://tocsin.example.com/incidents/inc_01",
//	  "metadata": {"incident_id": "inc_01", "impact": 1, "severity": "critical",
//	    "source": "alertmanager", "labels": {…}}
//	}
//
// The deduplication_key is the escalation's DedupKey, so a retried trigger
// updates incident.io's alert instead of raising a second one; it is the
// reference Trigger returns. An escalation's Target picks an alert source
// from other_alert_source_config_ids, with the same API key.
//
// 2xx (incident.io answers 202) is success; 429, 408 and 5xx are
// retryable, honouring Retry-After; other statuses (401 a bad key, 404 an
// unknown alert source, 422 an invalid event) are permanent. The API key
// never appears in errors.
package incidentio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"tocsin/config"
	"tocsin/integration"
	"tocsin/notify"
)

// Name is the provider's config name.
const Name = "incident_io"

// DefaultAPIURL is incident.io's API base URL.
const DefaultAPIURL = "https://api.incident.io"

// DefaultTimeout bounds one call to incident.io when Options sets none.
const DefaultTimeout = 10 * time.Second

// Alert event statuses.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Options are the provider's dependencies; the zero value is usable.
type Options struct {
	// HTTPClient sends every request. Nil builds one with Timeout that does
	// not follow redirects.
	HTTPClient *http.Client
	// Timeout bounds each call (default DefaultTimeout), whatever the
	// client's own timeout.
	Timeout time.Duration
	// Logger receives debug logs. Nil discards them.
	Logger *slog.Logger
}

// Provider posts alert events to incident.io. It is safe for concurrent use.
type Provider struct {
	base string
	// sources maps a target ("" is the default) to an alert source config ID.
	sources map[string]string
	apiKey  string
	client  *http.Client
	timeout time.Duration
	logger  *slog.Logger
}

var _ integration.Provider = (*Provider)(nil)

// New validates cfg and returns the provider. Errors name the config key.
func New(cfg config.IncidentIO, opts Options) (*Provider, error) {
	switch {
	case cfg.APIKey == "":
		return nil, errors.New("api_key: required")
	case cfg.AlertSourceConfigID == "":
		return nil, errors.New("alert_source_config_id: required")
	}
	p := &Provider{
		sources: map[string]string{"": cfg.AlertSourceConfigID}, apiKey: cfg.APIKey,
		client: opts.HTTPClient, timeout: opts.Timeout, logger: opts.Logger,
	}
	for k, v := range cfg.OtherAlertSourceConfigIDs {
		if k == "" || v == "" {
			return nil, fmt.Errorf("other_alert_source_config_ids.%s: empty key or alert source config ID", k)
		}
		p.sources[k] = v
	}
	p.base = cfg.APIURL
	if p.base == "" {
		p.base = DefaultAPIURL
	}
	u, err := url.Parse(p.base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("api_url: must be an absolute http or https URL")
	}
	p.base = strings.TrimRight(p.base, "/")
	if p.client, p.timeout, p.logger, err = integration.HTTPDefaults(p.client, p.timeout, DefaultTimeout, p.logger); err != nil {
		return nil, err
	}
	return p, nil
}

// Name implements integration.Provider.
func (p *Provider) Name() string { return Name }

// HasTarget reports whether key names an entry of other_alert_source_config_ids.
func (p *Provider) HasTarget(key string) bool {
	_, ok := p.sources[key]
	return ok && key != ""
}

// Event is an HTTP alert source event.
type Event struct {
	Title            string         `json:"title"`
	Description      string         `json:"description,omitempty"`
	DeduplicationKey string         `json:"deduplication_key"`
	Status           string         `json:"status"`
	SourceURL        string         `json:"source_url,omitempty"`
	Metadata         map[string]any `json:"metadata,omitempty"`
}

// Trigger posts a firing event and returns its deduplication key.
func (p *Provider) Trigger(ctx context.Context, e *integration.Escalation) (string, error) {
	if e == nil {
		return "", notify.Permanent(errors.New("trigger: nil escalation"))
	}
	ev := NewEvent(e, StatusFiring, "")
	if ev.DeduplicationKey == "" {
		return "", notify.Permanent(errors.New("trigger: escalation has neither a dedup key nor an incident id"))
	}
	if err := p.send(ctx, e.Target, ev); err != nil {
		return "", err
	}
	p.logger.Debug("incident.io alert fired", "incident_id", e.IncidentID, "deduplication_key", ev.DeduplicationKey, "target", e.Target)
	return ev.DeduplicationKey, nil
}

// Resolve posts the resolved event for the deduplication key ref (derived
// from e when empty) to the alert source of e.Target.
func (p *Provider) Resolve(ctx context.Context, e *integration.Escalation, ref string) error {
	if e == nil {
		e = &integration.Escalation{}
	}
	ev := NewEvent(e, StatusResolved, ref)
	if ev.DeduplicationKey == "" {
		return notify.Permanent(errors.New("resolve: no deduplication key"))
	}
	if err := p.send(ctx, e.Target, ev); err != nil {
		return err
	}
	p.logger.Debug("incident.io alert resolved", "incident_id", e.IncidentID, "deduplication_key", ev.DeduplicationKey, "target", e.Target)
	return nil
}

// NewEvent builds the event for e with status; key, when not empty,
// replaces the deduplication key derived from e.
func NewEvent(e *integration.Escalation, status, key string) *Event {
	if key == "" {
		key = e.DedupKey
	}
	if key == "" && e.IncidentID != "" {
		key = "tocsin-" + e.IncidentID
	}
	title := e.Title
	if title == "" {
		title = "Incident " + e.IncidentID
	}
	md := map[string]any{"incident_id": e.IncidentID}
	if e.Impact != 0 {
		md["impact"] = e.Impact
	}
	for k, v := range map[string]string{"severity": e.Severity, "source": e.Source} {
		if v != "" {
			md[k] = v
		}
	}
	if len(e.Labels) > 0 {
		md["labels"] = e.Labels
	}
	return &Event{
		Title: title, Description: e.Summary, DeduplicationKey: key, Status: status,
		SourceURL: e.URL, Metadata: md,
	}
}

// send posts ev to the alert source of target and classifies the outcome.
func (p *Provider) send(ctx context.Context, target string, ev *Event) error {
	source, ok := p.sources[target]
	if !ok {
		return notify.Permanent(fmt.Errorf("unknown target %q: not in other_alert_source_config_ids", target))
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return notify.Permanent(fmt.Errorf("encode %s event: %w", ev.Status, err))
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	u := p.base + "/v2/alert_events/http/" + url.PathEscape(source)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return notify.Permanent(notify.Redact(fmt.Errorf("build request: %w", err), p.apiKey))
	}
	req.Header.Set("Authorization", "Bearer "+p.apiKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "tocsin")
	resp, err := p.client.Do(req)
	if err != nil {
		return notify.Redact(fmt.Errorf("send %s event: %w", ev.Status, err), p.apiKey)
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	if err := notify.CheckResponse(resp); err != nil {
		return notify.Redact(fmt.Errorf("send %s event: %w", ev.Status, err), p.apiKey)
	}
	return nil
}
