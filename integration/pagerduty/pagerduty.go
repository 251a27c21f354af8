// Package pagerduty escalates tocsin incidents to PagerDuty through the
// Events API v2 (POST {api_url}/v2/enqueue).
//
// Trigger sends a "trigger" event to the configured routing key (or the
// alternate in other_routing_keys named by the escalation's Target) with
// the incident's real context:
//
//	{
//	  "routing_key": "…", "event_action": "trigger", "dedup_key": "tocsin-inc_01",
//	  "payload": {
//	    "summary": "Postgresql down (instance pg-prod-01)",
//	    "source": "pg-prod-01", "severity": "critical",
//	    "component": "billing-db", "group": "postgres", "class": "PostgresqlDown",
//	    "custom_details": {"incident_id": "inc_01", "url": "…", "impact": 1,
//	      "severity": "critical", "source": "alertmanager", "summary": "…", "labels": {…}}
//	  },
//	  "links": [{"href": "https://tocsin.example.com/incidents/inc_01", "text": "tocsin incident"}],
//	  "client": "tocsin", "client_url": "https://tocsin.example.com/incidents/inc_01"
//	}
//
// The dedup_key is the escalation's DedupKey, so a retried trigger updates
// PagerDuty's alert instead of opening a second one; it is the reference
// Trigger returns, and Resolve sends a "resolve" event with it.
//
// Mappings: severity from impact 1 critical, 2 error, 3 warning, 4–5 info
// (an impact out of range falls back to the alert's severity word when it
// is one of PagerDuty's, else critical, as Versus always sent). source is
// the first of the labels host, hostname, instance, then the alert's
// source, then "tocsin". component is the label component or service;
// group the label group or job; class the label class or alertname.
// summary is the title cut to 1024 characters.
//
// 202 (any 2xx) is success; 429, 408 and 5xx are retryable, honouring
// Retry-After; other statuses (400 invalid event, a bad routing key) are
// permanent. Routing keys never appear in errors.
package pagerduty

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"tocsin"
	"tocsin/config"
	"tocsin/integration"
	"tocsin/notify"
)

// Name is the provider's config name.
const Name = "pagerduty"

// DefaultAPIURL is the Events API's base URL.
const DefaultAPIURL = "https://events.pagerduty.com"

// DefaultTimeout bounds one call to PagerDuty when Options sets none.
const DefaultTimeout = 10 * time.Second

// Limits of the Events API v2.
const (
	maxSummary  = 1024
	maxDedupKey = 255
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

// Provider sends Events API v2 events. It is safe for concurrent use.
type Provider struct {
	endpoint string
	// keys maps a target ("" is the default) to its routing key.
	keys    map[string]string
	client  *http.Client
	timeout time.Duration
	logger  *slog.Logger
	secrets []string
}

var _ integration.Provider = (*Provider)(nil)

// New validates cfg and returns the provider. Errors name the config key.
func New(cfg config.PagerDuty, opts Options) (*Provider, error) {
	if cfg.RoutingKey == "" {
		return nil, errors.New("routing_key: required")
	}
	p := &Provider{keys: map[string]string{"": cfg.RoutingKey}, client: opts.HTTPClient, timeout: opts.Timeout, logger: opts.Logger}
	p.secrets = append(p.secrets, cfg.RoutingKey)
	for k, v := range cfg.OtherRoutingKeys {
		if k == "" || v == "" {
			return nil, fmt.Errorf("other_routing_keys.%s: empty key or routing key", k)
		}
		p.keys[k] = v
		p.secrets = append(p.secrets, v)
	}
	base := cfg.APIURL
	if base == "" {
		base = DefaultAPIURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("api_url: must be an absolute http or https URL")
	}
	p.endpoint = strings.TrimRight(base, "/")
	if !strings.HasSuffix(p.endpoint, "/v2/enqueue") {
		p.endpoint += "/v2/enqueue"
	}
	if p.client, p.timeout, p.logger, err = integration.HTTPDefaults(p.client, p.timeout, DefaultTimeout, p.logger); err != nil {
		return nil, err
	}
	return p, nil
}

// Name implements integration.Provider.
func (p *Provider) Name() string { return Name }

// HasTarget reports whether key names an entry of other_routing_keys.
func (p *Provider) HasTarget(key string) bool {
	_, ok := p.keys[key]
	return ok && key != ""
}

// Event is an Events API v2 request body.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key,omitempty"`
	Payload     *Payload `json:"payload,omitempty"`
	Links       []Link   `json:"links,omitempty"`
	Client      string   `json:"client,omitempty"`
	ClientURL   string   `json:"client_url,omitempty"`
}

// Payload is a trigger event's payload.
type Payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// Link is a link shown on PagerDuty's alert.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// Trigger sends a trigger event and returns its dedup_key.
func (p *Provider) Trigger(ctx context.Context, e *integration.Escalation) (string, error) {
	if e == nil {
		return "", notify.Permanent(errors.New("trigger: nil escalation"))
	}
	key, err := p.routingKey(e.Target)
	if err != nil {
		return "", err
	}
	ev := NewTrigger(e)
	if ev.DedupKey == "" {
		return "", notify.Permanent(errors.New("trigger: escalation has neither a dedup key nor an incident id"))
	}
	ev.RoutingKey = key
	if err := p.send(ctx, ev); err != nil {
		return "", err
	}
	p.logger.Debug("pagerduty alert triggered", "incident_id", e.IncidentID, "dedup_key", ev.DedupKey, "target", e.Target)
	return ev.DedupKey, nil
}

// Resolve sends a resolve event for the dedup_key ref (derived from e when
// ref is empty) to the routing key of e.Target.
func (p *Provider) Resolve(ctx context.Context, e *integration.Escalation, ref string) error {
	target := ""
	if e != nil {
		target = e.Target
	}
	if ref == "" && e != nil {
		ref = dedupKey(e)
	}
	if ref == "" {
		return notify.Permanent(errors.New("resolve: no dedup key"))
	}
	key, err := p.routingKey(target)
	if err != nil {
		return err
	}
	if err := p.send(ctx, &Event{RoutingKey: key, EventAction: "resolve", DedupKey: ref}); err != nil {
		return err
	}
	p.logger.Debug("pagerduty alert resolved", "dedup_key", ref, "target", target)
	return nil
}

// routingKey returns the routing key of target; an unknown target is a
// permanent error that names it (never the key itself).
func (p *Provider) routingKey(target string) (string, error) {
	if k, ok := p.keys[target]; ok {
		return k, nil
	}
	return "", notify.Permanent(fmt.Errorf("unknown target %q: not in other_routing_keys", target))
}

// NewTrigger builds the trigger event for e, without its routing key.
func NewTrigger(e *integration.Escalation) *Event {
	title := e.Title
	if title == "" {
		title = "Incident " + e.IncidentID
	}
	details := map[string]any{
		"incident_id": e.IncidentID,
		"impact":      e.Impact,
	}
	for k, v := range map[string]string{"url": e.URL, "severity": e.Severity, "source": e.Source, "summary": e.Summary} {
		if v != "" {
			details[k] = v
		}
	}
	if len(e.Labels) > 0 {
		details["labels"] = e.Labels
	}
	ev := &Event{
		EventAction: "trigger",
		DedupKey:    dedupKey(e),
		Payload: &Payload{
			Summary:       tocsin.Truncate(title, maxSummary),
			Source:        firstOf(label(e, "host", "hostname", "instance"), e.Source, "tocsin"),
			Severity:      Severity(e.Impact, e.Severity),
			Component:     label(e, "component", "service"),
			Group:         label(e, "group", "job"),
			Class:         label(e, "class", "alertname"),
			CustomDetails: details,
		},
		Client:    "tocsin",
		ClientURL: e.URL,
	}
	if e.URL != "" {
		ev.Links = []Link{{Href: e.URL, Text: "tocsin incident"}}
	}
	return ev
}

// Severity maps an impact to PagerDuty's severity: 1 critical, 2 error, 3
// warning, 4 and 5 info. Out of range, a severity word PagerDuty knows is
// kept, and anything else is critical.
func Severity(impact int, severity string) string {
	switch impact {
	case 1:
		return "critical"
	case 2:
		return "error"
	case 3:
		return "warning"
	case 4, 5:
		return "info"
	}
	switch s := strings.ToLower(severity); s {
	case "critical", "error", "warning", "info":
		return s
	}
	return "critical"
}

// send posts ev and classifies the outcome.
func (p *Provider) send(ctx context.Context, ev *Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return notify.Permanent(fmt.Errorf("encode %s event: %w", ev.EventAction, err))
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, bytes.NewReader(body))
	if err != nil {
		return notify.Permanent(notify.Redact(fmt.Errorf("build request: %w", err), p.secrets...))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "tocsin")
	resp, err := p.client.Do(req)
	if err != nil {
		return notify.Redact(fmt.Errorf("send %s event: %w", ev.EventAction, err), p.secrets...)
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	if err := notify.CheckResponse(resp); err != nil {
		return notify.Redact(fmt.Errorf("send %s event: %w", ev.EventAction, err), p.secrets...)
	}
	return nil
}

// dedupKey is e's dedup key (or "tocsin-<incident id>"), hashed when longer
// than the API allows.
func dedupKey(e *integration.Escalation) string {
	k := e.DedupKey
	if k == "" && e.IncidentID != "" {
		k = "tocsin-" + e.IncidentID
	}
	if utf8.RuneCountInString(k) > maxDedupKey {
		sum := sha256.Sum256([]byte(k))
		k = "tocsin-" + hex.EncodeToString(sum[:])
	}
	return k
}

// label returns the first non-empty of e's labels names.
func label(e *integration.Escalation, names ...string) string {
	for _, n := range names {
		if v := e.Labels[n]; v != "" {
			return v
		}
	}
	return ""
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
