// Package webhook is tocsin's outbound JSON webhook channel.
//
// # Request
//
// Every notification is one HTTP POST to the configured URL with this JSON
// body (schema version 1):
//
//	{
//	  "version": "1",
//	  "event": "opened|acknowledged|resolved|renotify",
//	  "delivery_id": "…",
//	  "sent_at": "RFC3339Nano",
//	  "incident": {…tocsin.Incident JSON without alerts/timeline…},
//	  "alert": {…tocsin.Alert JSON without raw…}|null,
//	  "ack_url": "…",
//	  "incident_url": "…"
//	}
//
// For example:
//
//	{
//	  "version": "1",
//	  "event": "opened",
//	  "delivery_id": "dlv_01",
//	  "sent_at": "2026-03-01T12:35:01Z",
//	  "incident": {
//	    "id": "inc_01", "title": "Postgresql down (instance pg-prod-01)", "impact": 1,
//	    "status": "triggered", "source": "alertmanager", "dedup_key": "PostgresqlDown",
//	    "labels": {"severity": "critical"},
//	    "created_at": "2026-03-01T12:35:00Z", "updated_at": "2026-03-01T12:35:00Z",
//	    "alert_count": 1, "open_alert_count": 1
//	  },
//	  "alert": {
//	    "id": "al_01", "incident_id": "inc_01", "source": "alertmanager",
//	    "dedup_key": "PostgresqlDown", "fingerprint": "c0ffee", "status": "firing",
//	    "severity": "critical", "title": "PostgresqlDown",
//	    "description": "Postgresql instance is down.",
//	    "labels": {"alertname": "PostgresqlDown", "instance": "pg-prod-01", "severity": "critical"},
//	    "annotations": {"summary": "Postgresql down (instance pg-prod-01)"},
//	    "links": [{"text": "Prometheus", "url": "http://prometheus:9090/graph?g0.expr=pg_up"}],
//	    "starts_at": "2026-03-01T12:34:00Z", "received_at": "2026-03-01T12:35:00Z"
//	  },
//	  "ack_url": "https://tocsin.example.com/ack/inc_01?exp=1772369700&sig=…",
//	  "incident_url": "https://tocsin.example.com/api/v1/incidents/inc_01"
//	}
//
// Fields:
//
//   - version: the schema version, "1". Fields may be added within a version;
//     receivers must ignore fields they do not know.
//   - event: what happened: "opened" (a new incident), "acknowledged",
//     "resolved", or "renotify" (still unacknowledged after renotify_after).
//   - delivery_id: identifies this notification. It is the same on every
//     retry of it: delivery is at least once, so receivers drop duplicates by
//     delivery_id.
//   - sent_at: when this attempt was made (RFC 3339 with nanoseconds, UTC).
//   - incident: the incident as it is after the event. Optional fields
//     (summary, labels, acknowledged_at/_by, resolved_at/_by) are left out
//     when empty.
//   - alert: the alert that caused the event, or null (an acknowledgement,
//     an incident opened by hand). Optional fields are left out when empty.
//   - ack_url: a signed link that acknowledges the incident when opened; ""
//     once it is acknowledged or resolved.
//   - incident_url: the incident in tocsin's API.
//
// # Headers
//
//	Content-Type: application/json
//	User-Agent: tocsin
//	X-Tocsin-Event: <event>
//	X-Tocsin-Delivery: <delivery_id>
//	X-Tocsin-Timestamp: <unix seconds when the request was signed>
//	X-Tocsin-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// plus the configured headers (which cannot replace the ones above).
// X-Tocsin-Signature is sent only when a secret is configured. To verify
// it, compute the HMAC-SHA256 of the timestamp header, a ".", and the raw
// request body with the shared secret, compare it with the header in
// constant time, and reject timestamps more than a few minutes from your
// clock, so a captured request cannot be replayed later. Verify in this
// package does exactly that.
//
// # Response
//
// Any 2xx status means delivered. 408, 429 and 5xx are retried with backoff,
// honouring Retry-After; any other status (including redirects, which are
// not followed) is a permanent failure and is not retried.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"tocsin"
	"tocsin/config"
	"tocsin/notify"
)

// Version is the schema version of the JSON body.
const Version = "1"

// DefaultTimeout bounds one delivery when the config sets no timeout.
const DefaultTimeout = 10 * time.Second

// DefaultTolerance is the clock skew Verify accepts when given none.
const DefaultTolerance = 5 * time.Minute

// Header names.
const (
	HeaderEvent     = "X-Tocsin-Event"
	HeaderDelivery  = "X-Tocsin-Delivery"
	HeaderTimestamp = "X-Tocsin-Timestamp"
	HeaderSignature = "X-Tocsin-Signature"
)

// Payload is the JSON body of a webhook request, for Go receivers.
type Payload struct {
	Version     string           `json:"version"`
	Event       string           `json:"event"`
	DeliveryID  string           `json:"delivery_id"`
	SentAt      string           `json:"sent_at"`
	Incident    *tocsin.Incident `json:"incident"`
	Alert       *tocsin.Alert    `json:"alert"`
	AckURL      string           `json:"ack_url"`
	IncidentURL string           `json:"incident_url"`
	// Failure is the delivery that gave up (event "delivery_failed").
	Failure *tocsin.DeliveryFailure `json:"failure,omitempty"`
	// Notice is a message to a person that is not about an incident
	// (event "notice": a hand-off note, an activation code).
	Notice *NoticePayload `json:"notice,omitempty"`
}

// NoticePayload is the notice of an event "notice" payload.
type NoticePayload struct {
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text"`
}

// Options are the channel's dependencies; the zero value is usable.
type Options struct {
	// HTTPClient sends every request of this channel. Nil builds one with
	// the configured timeout that does not follow redirects.
	HTTPClient *http.Client
	// Logger receives debug logs. Nil discards them.
	Logger *slog.Logger
	// Now is the clock for the signature timestamp. Nil is time.Now.
	Now func() time.Time
	// Proxy is the global proxy block, used when use_proxy is set.
	Proxy *config.Proxy
}

// Channel posts signed JSON to one URL. It is safe for concurrent use.
type Channel struct {
	url     string
	secret  string
	headers http.Header
	timeout time.Duration
	client  *http.Client
	logger  *slog.Logger
	now     func() time.Time
	// redact lists the secret parts of the URL and the signing secret.
	redact []string
}

// New validates cfg and returns the channel.
func New(cfg config.Webhook, opts Options) (*Channel, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || cfg.URL == "" || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL may carry a secret: never echo it.
		return nil, errors.New("webhook: url must be an absolute http or https URL")
	}
	c := &Channel{
		url:     cfg.URL,
		secret:  cfg.Secret,
		headers: http.Header{},
		timeout: cfg.Timeout.Std(),
		client:  opts.HTTPClient,
		logger:  opts.Logger,
		now:     opts.Now,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.client, err = notify.ChannelClient("webhook", c.client, c.timeout, cfg.UseProxy, opts.Proxy); err != nil {
		return nil, err
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	for name, value := range cfg.Headers {
		if !validHeaderName(name) || strings.ContainsAny(value, "\r\n\x00") {
			return nil, fmt.Errorf("webhook: invalid header %q", name)
		}
		c.headers.Set(name, value)
	}
	password, _ := u.User.Password()
	c.redact = []string{cfg.URL, u.Redacted(), u.RawQuery, password, cfg.Secret}
	return c, nil
}

// Name implements notify.Channel.
func (c *Channel) Name() string { return "webhook" }

// Send posts msg. It returns no reference: a webhook has nothing to update.
func (c *Channel) Send(ctx context.Context, msg *notify.Message) (string, error) {
	if msg == nil {
		return "", notify.Permanent(errors.New("webhook: nil message"))
	}
	if err := c.post(ctx, NewPayload(msg, c.now())); err != nil {
		return "", err
	}
	return "", nil
}

// SendNotice posts n as a payload whose event is "notice": incident and
// alert are null, and notice holds the subject and text. The webhook
// posts to one URL: n.To is not used.
func (c *Channel) SendNotice(ctx context.Context, n *notify.Notice) error {
	sent := n.SentAt
	if sent.IsZero() {
		sent = c.now()
	}
	return c.post(ctx, &Payload{Version: Version, Event: notify.EventNotice, DeliveryID: n.DeliveryID, SentAt: sent.UTC().Format(time.RFC3339Nano),
		Notice: &NoticePayload{Subject: n.Subject, Text: n.Text}})
}

// post signs and posts p.
func (c *Channel) post(ctx context.Context, p *Payload) error {
	body, err := json.Marshal(p)
	if err != nil {
		return notify.Permanent(fmt.Errorf("webhook: encode payload: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return notify.Permanent(notify.Redact(fmt.Errorf("webhook: build request: %w", err), c.redact...))
	}
	for name, values := range c.headers {
		req.Header[name] = slices.Clone(values)
	}
	ts := c.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tocsin")
	req.Header.Set(HeaderEvent, p.Event)
	req.Header.Set(HeaderDelivery, p.DeliveryID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	if c.secret != "" {
		req.Header.Set(HeaderSignature, Sign(c.secret, ts, body))
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return notify.Redact(fmt.Errorf("webhook: post: %w", err), c.redact...)
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	if err := notify.CheckResponse(resp); err != nil {
		return notify.Redact(fmt.Errorf("webhook: post: %w", err), c.redact...)
	}
	c.logger.Debug("webhook delivered", "event", p.Event, "delivery_id", p.DeliveryID, "status", resp.StatusCode)
	return nil
}

// NewPayload builds the body for msg: the incident without its alerts and
// timeline, the alert without its raw payload. now is used when msg.SentAt
// is zero.
func NewPayload(msg *notify.Message, now time.Time) *Payload {
	sent := msg.SentAt
	if sent.IsZero() {
		sent = now
	}
	p := &Payload{
		Version:     Version,
		Event:       msg.Event,
		DeliveryID:  msg.DeliveryID,
		SentAt:      sent.UTC().Format(time.RFC3339Nano),
		AckURL:      msg.AckURL,
		IncidentURL: msg.IncidentURL,
		Failure:     msg.Failure,
	}
	if msg.Incident != nil {
		inc := *msg.Incident
		inc.Alerts, inc.Timeline = nil, nil
		p.Incident = &inc
	}
	if msg.Alert != nil {
		a := *msg.Alert
		a.Raw = nil
		p.Alert = &a
	}
	return p
}

// Sign returns the X-Tocsin-Signature value for body sent at timestamp
// (unix seconds): "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a received request's X-Tocsin-Signature and
// X-Tocsin-Timestamp headers against body, for receivers written in Go.
// The timestamp must be within tolerance of now (DefaultTolerance when
// tolerance is 0), so a captured request cannot be replayed later.
func Verify(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if secret == "" {
		return errors.New("webhook: no secret to verify with")
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ts, err := strconv.ParseInt(header.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return errors.New("webhook: missing or invalid " + HeaderTimestamp)
	}
	if skew := now.Sub(time.Unix(ts, 0)); skew > tolerance || skew < -tolerance {
		return fmt.Errorf("webhook: timestamp is %v away from now, more than %v", skew.Round(time.Second), tolerance)
	}
	got := header.Get(HeaderSignature)
	if got == "" {
		return errors.New("webhook: missing " + HeaderSignature)
	}
	if !hmac.Equal([]byte(got), []byte(Sign(secret, ts, body))) {
		return errors.New("webhook: signature mismatch")
	}
	return nil
}

// validHeaderName reports whether name is an HTTP token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}
