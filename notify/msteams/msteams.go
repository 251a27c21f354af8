// Package msteams is the Microsoft Teams channel. It posts to a Power
// Automate / Teams Workflows URL (power_automate_url), or to a legacy
// Office 365 connector ("incoming webhook") URL, the format chosen per URL.
//
// A Workflows URL (any host but the two below) gets a message with one
// Adaptive Card (version 1.4), the format of Teams' "Post to a channel when
// a webhook request is received" workflow:
//
//	{"type": "message", "attachments": [{
//	  "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null,
//	  "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
//	    "type": "AdaptiveCard", "version": "1.4", "msteams": {"width": "Full"},
//	    "body": [headline TextBlock, FactSet, TextBlocks of the rendered Markdown],
//	    "actions": [{"type": "Action.OpenUrl", "title": "Acknowledge", "url": ack},
//	                {"type": "Action.OpenUrl", "title": "View incident", "url": incident}]}}]}
//
// A legacy connector URL (host ending in webhook.office.com or
// outlook.office.com) gets a MessageCard, the connectors' own format.
// Versus Incident sends {"text": …}, which connectors also accept but which
// loses the title, the colour and the buttons:
//
//	{"@type": "MessageCard", "@context": "https://schema.org/extensions",
//	 "themeColor": "C70039", "summary": headline, "title": headline, "text": markdown,
//	 "sections": [{"facts": [{"name": "Impact", "value": "1 (critical)"}, …]}],
//	 "potentialAction": [{"@type": "OpenUri", "name": "Acknowledge",
//	                      "targets": [{"os": "default", "uri": ack}]}, …]}
//
// The headline and facts come from the incident; the text is the template
// (default msteams.md) rendered as Markdown and split into one TextBlock
// per line, because Teams does not reliably honour single line breaks in a
// TextBlock. The Acknowledge button is there only while the incident can be
// acknowledged.
//
// A request's destination "other_power_url" is a key of
// alert.msteams.other_power_urls, never a URL; an unknown key is a
// permanent error (HasKey lets the HTTP layer refuse it up front). Teams
// messages are not updated: later events are new messages.
//
// Errors: Workflows answer 202 (connectors 200 "1"); 429, 408 and 5xx are
// retried (honouring Retry-After), every other status is permanent. Legacy
// connectors also answer 200 with "Webhook message delivery failed with
// error: Microsoft Teams endpoint returned HTTP error 429 …", classified by
// that embedded status. The URLs carry their credentials (the sig query
// parameter, the connector's path) and never appear in an error.
package msteams

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
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"tocsin"
	"tocsin/config"
	"tocsin/notify"
)

const (
	// DefaultTimeout bounds one send when the config sets no timeout.
	DefaultTimeout = 10 * time.Second
	// maxText bounds the rendered Markdown, well inside Teams' 28 KB
	// message limit.
	maxText = 20 << 10
	// maxResponse bounds how much of a response is read.
	maxResponse = 64 << 10
)

// Theme colours of the legacy MessageCard.
const (
	ColorTriggered    = "C70039"
	ColorAcknowledged = "F2A900"
	ColorResolved     = "36A64F"
)

// Options are the channel's dependencies; the zero value is usable.
type Options struct {
	// HTTPClient sends every request of this channel. Nil builds one with
	// notify.HTTPClient, through Proxy when the config's use_proxy is on.
	HTTPClient *http.Client
	// Proxy is the global proxy block, used when use_proxy is on.
	Proxy *config.Proxy
	// Logger receives debug logs. Nil discards them.
	Logger *slog.Logger
}

// Channel posts to Teams. It is safe for concurrent use.
type Channel struct {
	primary target
	others  map[string]target
	tmpl    *notify.Template
	timeout time.Duration
	client  *http.Client
	logger  *slog.Logger
	// redact lists the secret parts of every configured URL.
	redact []string
}

// target is one destination URL and its payload format.
type target struct {
	url    string
	legacy bool
}

// New validates cfg and returns the channel. Its one HTTP client is built
// here and reused for every message.
func New(cfg config.MSTeams, opts Options) (*Channel, error) {
	c := &Channel{others: map[string]target{}, timeout: cfg.Timeout.Std(), client: opts.HTTPClient, logger: opts.Logger}
	var err error
	if cfg.PowerAutomateURL == "" {
		return nil, errors.New("alert.msteams.power_automate_url: required")
	}
	if c.primary, err = c.parseTarget(cfg.PowerAutomateURL); err != nil {
		return nil, fmt.Errorf("alert.msteams.power_automate_url: %w", err)
	}
	for key, raw := range cfg.OtherPowerURLs {
		if c.others[key], err = c.parseTarget(raw); err != nil {
			return nil, fmt.Errorf("alert.msteams.other_power_urls.%s: %w", key, err)
		}
	}
	if c.tmpl, err = notify.NewTemplate("msteams.md", cfg.TemplatePath, false); err != nil {
		return nil, fmt.Errorf("alert.msteams.template_path: %w", err)
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.client, err = notify.ChannelClient("msteams", c.client, c.timeout, cfg.UseProxy, opts.Proxy); err != nil {
		return nil, err
	}
	return c, nil
}

// parseTarget validates raw (without echoing it: it is a credential),
// notes its secret parts for redaction and detects a legacy connector.
func (c *Channel) parseTarget(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return target{}, errors.New("must be an absolute http or https URL")
	}
	c.redact = append(c.redact, secretParts(raw, u)...)
	host := strings.ToLower(u.Hostname())
	legacy := host == "webhook.office.com" || strings.HasSuffix(host, ".webhook.office.com") ||
		host == "outlook.office.com" || strings.HasSuffix(host, ".outlook.office.com")
	return target{url: raw, legacy: legacy}, nil
}

// Name implements notify.Channel.
func (c *Channel) Name() string { return "msteams" }

// HasKey reports whether key names one of alert.msteams.other_power_urls,
// so a request naming an unknown key can be refused before it is queued.
func (c *Channel) HasKey(key string) bool {
	_, ok := c.others[key]
	return ok
}

// Send posts msg to the configured URL, or to the other_power_urls entry
// named by msg.Destination["other_power_url"]. Teams returns no message
// reference, so Send returns "".
func (c *Channel) Send(ctx context.Context, msg *notify.Message) (string, error) {
	if msg == nil || msg.Incident == nil {
		return "", notify.Permanent(errors.New("msteams: message has no incident"))
	}
	dest := c.primary
	if key := msg.Destination["other_power_url"]; key != "" {
		t, ok := c.others[key]
		if !ok {
			return "", notify.Permanent(fmt.Errorf("msteams: alert.msteams.other_power_urls has no key %q", key))
		}
		dest = t
	}
	text, err := c.tmpl.Render(msg, textLimit)
	if err != nil {
		return "", notify.Permanent(fmt.Errorf("msteams: %w", err))
	}
	text = strings.TrimSpace(text)
	var payload any
	if dest.legacy {
		payload = messageCard(msg, text)
	} else {
		payload = adaptiveMessage(msg, text)
	}
	if err := c.post(ctx, dest, payload); err != nil {
		return "", err
	}
	c.logger.Debug("msteams message posted", "incident_id", msg.Incident.ID, "event", msg.Event, "legacy", dest.legacy)
	return "", nil
}

// SendNotice posts n's text alone, with no facts or buttons, to the
// configured URL (a Teams channel has one destination: n.To is not used).
func (c *Channel) SendNotice(ctx context.Context, n *notify.Notice) error {
	text := tocsin.TruncateBytes(n.Text, textLimit.Max)
	var payload any = object{"type": "message", "attachments": []any{object{
		"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": nil,
		"content": object{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
			"body": []any{object{"type": "TextBlock", "text": text, "wrap": true}}},
	}}}
	if c.primary.legacy {
		payload = object{"@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": text, "text": text}
	}
	if err := c.post(ctx, c.primary, payload); err != nil {
		return err
	}
	c.logger.Debug("msteams notice posted", "legacy", c.primary.legacy)
	return nil
}

// post sends payload to dest within the channel's timeout.
func (c *Channel) post(ctx context.Context, dest target, payload any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return notify.Permanent(fmt.Errorf("msteams: encode message: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dest.url, bytes.NewReader(body))
	if err != nil {
		return notify.Permanent(notify.Redact(fmt.Errorf("msteams: build request: %w", err), c.redact...))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tocsin")
	resp, err := c.client.Do(req)
	if err != nil {
		return notify.Redact(fmt.Errorf("msteams: post: %w", err), c.redact...)
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
		resp.Body.Close()
	}()
	if err := notify.CheckResponse(resp); err != nil {
		return notify.Redact(fmt.Errorf("msteams: post: %w", err), c.redact...)
	}
	if dest.legacy {
		if err := connectorError(resp.Body); err != nil {
			return notify.Redact(err, c.redact...)
		}
	}
	return nil
}

// connectorHTTPError finds the status a legacy connector reports in a 200
// body: "… Microsoft Teams endpoint returned HTTP error 429 with ContextId …".
var connectorHTTPError = regexp.MustCompile(`HTTP error (\d{3})`)

// connectorError classifies a legacy connector's 200 answer: "1" is
// success; a "delivery failed" text is an error, retryable when the status
// it reports is 429, 408 or 5xx.
func connectorError(body io.Reader) error {
	raw, _ := io.ReadAll(io.LimitReader(body, 512))
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "1" || !strings.Contains(strings.ToLower(s), "failed") {
		return nil
	}
	err := fmt.Errorf("msteams: post: %s", s)
	if m := connectorHTTPError.FindStringSubmatch(s); m != nil {
		code, _ := strconv.Atoi(m[1])
		if code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500 {
			return err
		}
	}
	return notify.Permanent(err)
}

// secretParts lists what of a webhook URL must never be shown: all of it,
// its query (Workflows' sig) and its path (a connector's IDs and key).
func secretParts(raw string, u *url.URL) []string {
	parts := []string{raw, u.String(), u.Redacted()}
	if len(u.RawQuery) >= 8 {
		parts = append(parts, u.RawQuery)
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			if len(v) >= 8 {
				parts = append(parts, v, url.QueryEscape(v))
			}
		}
	}
	if len(u.EscapedPath()) >= 8 {
		parts = append(parts, u.EscapedPath(), u.Path)
	}
	if p, ok := u.User.Password(); ok {
		parts = append(parts, p)
	}
	// Longest first, so a part is replaced before its substrings are.
	sort.Slice(parts, func(i, j int) bool { return len(parts[i]) > len(parts[j]) })
	return parts
}

// headline is the message's first line: what happened to which incident.
func headline(msg *notify.Message) string {
	inc := msg.Incident
	title := inc.Title
	if title == "" {
		title = "Untitled incident"
	}
	switch msg.Event {
	case notify.EventAcknowledged:
		if inc.AckedBy != "" {
			return "🟠 Acknowledged by " + inc.AckedBy + ": " + title
		}
		return "🟠 Acknowledged: " + title
	case notify.EventResolved:
		if inc.ResolvedBy != "" {
			return "🟢 Resolved by " + inc.ResolvedBy + ": " + title
		}
		return "🟢 Resolved: " + title
	case notify.EventRenotify:
		return "🚨 Still unacknowledged: " + title
	case notify.EventDeliveryFailed:
		return "⚠️ Delivery failed: " + title
	}
	return "🔴 Incident opened: " + title
}

// fact is one name/value pair of the incident's summary.
type fact struct{ name, value string }

// facts summarises the incident: impact, status, source, severity, alerts.
func facts(msg *notify.Message) []fact {
	inc := msg.Incident
	out := []fact{
		{"Impact", fmt.Sprintf("%d (%s)", inc.Impact, tocsin.ImpactName(inc.Impact))},
		{"Status", inc.Status},
	}
	if inc.Source != "" {
		out = append(out, fact{"Source", inc.Source})
	}
	severity := inc.Labels["severity"]
	if msg.Alert != nil && msg.Alert.Severity != "" {
		severity = msg.Alert.Severity
	}
	if severity != "" {
		out = append(out, fact{"Severity", severity})
	}
	if inc.AlertCount > 1 {
		out = append(out, fact{"Alerts", fmt.Sprintf("%d open of %d", inc.OpenAlertCount, inc.AlertCount)})
	}
	return out
}

// textLimit bounds the rendered Markdown in bytes, keeping the ack link.
var textLimit = notify.Limit{
	Max: maxText,
	Len: func(s string) int { return len(s) },
	Cut: tocsin.TruncateBytes,
	Link: func(ackURL string) string {
		return "\n\n👉 [Acknowledge this incident](" + ackURL + ")"
	},
}
