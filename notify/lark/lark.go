// Package lark is the Lark / Feishu channel: it posts an interactive card
// to a group's custom bot webhook (webhook_url, e.g.
// https://open.larksuite.com/open-apis/bot/v2/hook/<token> or
// https://open.feishu.cn/open-apis/bot/v2/hook/<token>):
//
//	{"msg_type": "interactive", "card": {
//	  "config": {"wide_screen_mode": true},
//	  "header": {"title": {"tag": "plain_text", "content": headline}, "template": "red"|"orange"|"green"},
//	  "elements": [
//	    {"tag": "markdown", "content": rendered template},
//	    {"tag": "action", "actions": [
//	      {"tag": "button", "text": {"tag": "plain_text", "content": "Acknowledge"}, "type": "danger", "url": ack},
//	      {"tag": "button", "text": {"tag": "plain_text", "content": "View incident"}, "type": "default", "url": incident}]}]}}
//
// The header is red while the incident is triggered, orange once
// acknowledged, green once resolved. The text is the template (default
// lark.md) rendered as Lark Markdown; the Acknowledge button is there only
// while the incident can be acknowledged. Lark messages are not updated:
// later events are new cards. Custom bots' optional signature ("sign")
// is not supported, as in Versus Incident: turn it off on the bot.
//
// A request's destination "other_webhook_url" is a key of
// alert.lark.other_webhook_urls, never a URL; an unknown key is a permanent
// error (HasKey lets the HTTP layer refuse it up front).
//
// Errors: Lark answers HTTP 200 with {"code": 0, "msg": "success"}, or a
// non-zero code. Code 11232 (frequency limited) is retried, as are HTTP
// 429, 408 and 5xx (honouring Retry-After or x-ogw-ratelimit-reset). Every
// other code is permanent, among them 9499 (bad request), 19001 (invalid
// webhook token), 19021 (signature check failed: the bot requires a
// signature), 19022 (IP not allowed) and 19024 (the message lacks the
// bot's keyword). The webhook URL holds the bot's token and never appears
// in an error.
package lark

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
	// maxText bounds the rendered Markdown: a custom bot takes at most
	// 20 KB per request.
	maxText = 15 << 10
	// maxResponse bounds how much of a response is read.
	maxResponse = 64 << 10
)

// Lark's result codes that tocsin treats specially.
const (
	CodeOK            = 0
	CodeBadRequest    = 9499
	CodeTokenInvalid  = 19001
	CodeSignMismatch  = 19021
	CodeIPNotAllowed  = 19022
	CodeKeywordAbsent = 19024
	// CodeRateLimited is "frequency limited": the only retryable code.
	CodeRateLimited = 11232
)

// hints explain the codes an operator can fix.
var hints = map[int]string{
	CodeTokenInvalid:  "check alert.lark.webhook_url",
	CodeSignMismatch:  "the bot requires signed requests, which tocsin does not send: turn off signature verification on the bot",
	CodeIPNotAllowed:  "the bot's IP allowlist refuses this server",
	CodeKeywordAbsent: "the message lacks the bot's custom keyword: add it to the template or remove the keyword setting",
}

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

// Channel posts to Lark. It is safe for concurrent use.
type Channel struct {
	url     string
	others  map[string]string
	tmpl    *notify.Template
	timeout time.Duration
	client  *http.Client
	logger  *slog.Logger
	// redact lists the secret parts of every configured URL.
	redact []string
}

// New validates cfg and returns the channel. Its one HTTP client is built
// here and reused for every message.
func New(cfg config.Lark, opts Options) (*Channel, error) {
	c := &Channel{url: cfg.WebhookURL, others: map[string]string{}, timeout: cfg.Timeout.Std(), client: opts.HTTPClient, logger: opts.Logger}
	if cfg.WebhookURL == "" {
		return nil, errors.New("alert.lark.webhook_url: required")
	}
	if err := c.check(cfg.WebhookURL); err != nil {
		return nil, fmt.Errorf("alert.lark.webhook_url: %w", err)
	}
	for key, raw := range cfg.OtherWebhookURLs {
		if err := c.check(raw); err != nil {
			return nil, fmt.Errorf("alert.lark.other_webhook_urls.%s: %w", key, err)
		}
		c.others[key] = raw
	}
	var err error
	if c.tmpl, err = notify.NewTemplate("lark.md", cfg.TemplatePath, false); err != nil {
		return nil, fmt.Errorf("alert.lark.template_path: %w", err)
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.client, err = notify.ChannelClient("lark", c.client, c.timeout, cfg.UseProxy, opts.Proxy); err != nil {
		return nil, err
	}
	return c, nil
}

// check validates a webhook URL without echoing it (it holds the bot's
// token) and notes its secret parts for redaction.
func (c *Channel) check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute http or https URL")
	}
	c.redact = append(c.redact, secretParts(raw, u)...)
	return nil
}

// Name implements notify.Channel.
func (c *Channel) Name() string { return "lark" }

// HasKey reports whether key names one of alert.lark.other_webhook_urls,
// so a request naming an unknown key can be refused before it is queued.
func (c *Channel) HasKey(key string) bool {
	_, ok := c.others[key]
	return ok
}

// Send posts msg's card to the configured webhook, or to the
// other_webhook_urls entry named by msg.Destination["other_webhook_url"].
// A custom bot returns no message reference, so Send returns "".
func (c *Channel) Send(ctx context.Context, msg *notify.Message) (string, error) {
	if msg == nil || msg.Incident == nil {
		return "", notify.Permanent(errors.New("lark: message has no incident"))
	}
	dest := c.url
	if key := msg.Destination["other_webhook_url"]; key != "" {
		u, ok := c.others[key]
		if !ok {
			return "", notify.Permanent(fmt.Errorf("lark: alert.lark.other_webhook_urls has no key %q", key))
		}
		dest = u
	}
	text, err := c.tmpl.Render(msg, textLimit)
	if err != nil {
		return "", notify.Permanent(fmt.Errorf("lark: %w", err))
	}
	body, err := json.Marshal(newCard(msg, strings.TrimSpace(text)))
	if err != nil {
		return "", notify.Permanent(fmt.Errorf("lark: encode card: %w", err))
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dest, bytes.NewReader(body))
	if err != nil {
		return "", notify.Permanent(notify.Redact(fmt.Errorf("lark: build request: %w", err), c.redact...))
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "tocsin")
	resp, err := c.client.Do(req)
	if err != nil {
		return "", notify.Redact(fmt.Errorf("lark: post: %w", err), c.redact...)
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
		resp.Body.Close()
	}()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return "", notify.Redact(fmt.Errorf("lark: read response: %w", err), c.redact...)
	}
	if err := classify(resp, raw); err != nil {
		return "", notify.Redact(err, c.redact...)
	}
	c.logger.Debug("lark card posted", "incident_id", msg.Incident.ID, "event", msg.Event)
	return "", nil
}

// response is a custom bot's answer: {"code":0,"msg":"success"}, and in
// older deployments also {"StatusCode":0,"StatusMessage":"success"}.
type response struct {
	Code          *int   `json:"code"`
	Msg           string `json:"msg"`
	StatusCode    *int   `json:"StatusCode"`
	StatusMessage string `json:"StatusMessage"`
}

// classify turns an answer into nil or a classified error (see the
// package documentation).
func classify(resp *http.Response, raw []byte) error {
	var r response
	decoded := json.Unmarshal(raw, &r) == nil
	code, text := CodeOK, r.Msg
	switch {
	case r.Code != nil:
		code = *r.Code
	case r.StatusCode != nil:
		code, text = *r.StatusCode, r.StatusMessage
	}
	status := resp.StatusCode
	ok := status >= 200 && status < 300
	if ok && code == CodeOK {
		if !decoded && len(bytes.TrimSpace(raw)) > 0 {
			// A 2xx that is not Lark's JSON (a proxy's page?): the card
			// may or may not have arrived; retrying could duplicate it.
			return notify.Permanent(fmt.Errorf("lark: post: HTTP %d: unexpected response %.200q", status, raw))
		}
		return nil
	}
	var err error
	switch {
	case code != CodeOK:
		err = fmt.Errorf("lark: post: HTTP %d: code %d: %s", status, code, text)
		if hint := hints[code]; hint != "" {
			err = fmt.Errorf("%w (%s)", err, hint)
		}
	default:
		err = fmt.Errorf("lark: post: HTTP %d: %s", status, strings.TrimSpace(string(raw[:min(len(raw), 512)])))
	}
	after := notify.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	if after == 0 {
		if n, perr := strconv.Atoi(resp.Header.Get("x-ogw-ratelimit-reset")); perr == nil && n > 0 {
			after = time.Duration(n) * time.Second
		}
	}
	if code == CodeRateLimited || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500 {
		return notify.RetryAfter(err, after)
	}
	return notify.Permanent(err)
}

// card is the body of a custom bot's interactive message.
type card struct {
	MsgType string      `json:"msg_type"`
	Card    cardContent `json:"card"`
}

// cardContent is a card: header, Markdown and buttons.
type cardContent struct {
	Config   cardConfig `json:"config"`
	Header   cardHeader `json:"header"`
	Elements []any      `json:"elements"`
}

// cardConfig holds the card's display options.
type cardConfig struct {
	WideScreenMode bool `json:"wide_screen_mode"`
}

// cardHeader is the card's coloured title bar.
type cardHeader struct {
	Title    textObject `json:"title"`
	Template string     `json:"template"`
}

// textObject is a card text object.
type textObject struct {
	Tag     string `json:"tag"`
	Content string `json:"content"`
}

// button is a card button that opens a URL.
type button struct {
	Tag  string     `json:"tag"`
	Text textObject `json:"text"`
	Type string     `json:"type"`
	URL  string     `json:"url"`
}

// newCard builds the card for msg with the rendered Markdown text.
func newCard(msg *notify.Message, text string) *card {
	if text == "" {
		// A card needs a body; a user template may render nothing.
		text = headline(msg)
	}
	elements := []any{map[string]string{"tag": "markdown", "content": text}}
	var buttons []button
	if msg.AckURL != "" {
		buttons = append(buttons, button{Tag: "button", Text: textObject{Tag: "plain_text", Content: "Acknowledge"}, Type: "danger", URL: msg.AckURL})
	}
	if msg.IncidentURL != "" {
		buttons = append(buttons, button{Tag: "button", Text: textObject{Tag: "plain_text", Content: "View incident"}, Type: "default", URL: msg.IncidentURL})
	}
	if len(buttons) > 0 {
		elements = append(elements, map[string]any{"tag": "action", "actions": buttons})
	}
	return &card{
		MsgType: "interactive",
		Card: cardContent{
			Config:   cardConfig{WideScreenMode: true},
			Header:   cardHeader{Title: textObject{Tag: "plain_text", Content: headline(msg)}, Template: headerColor(msg.Incident.Status)},
			Elements: elements,
		},
	}
}

// headline is the card's title: what happened to which incident.
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

// headerColor is the header's template colour for an incident status.
func headerColor(status string) string {
	switch status {
	case tocsin.StatusAcknowledged:
		return "orange"
	case tocsin.StatusResolved:
		return "green"
	}
	return "red"
}

// secretParts lists what of a webhook URL must never be shown: all of it,
// its path (which holds the bot's token) and its query.
func secretParts(raw string, u *url.URL) []string {
	parts := []string{raw, u.String(), u.Redacted()}
	if len(u.RawQuery) >= 8 {
		parts = append(parts, u.RawQuery)
	}
	if len(u.EscapedPath()) >= 8 {
		parts = append(parts, u.EscapedPath(), u.Path)
		// The token is the path's last segment.
		if i := strings.LastIndexByte(u.Path, '/'); i >= 0 && len(u.Path)-i > 8 {
			parts = append(parts, u.Path[i+1:])
		}
	}
	if p, ok := u.User.Password(); ok {
		parts = append(parts, p)
	}
	// Longest first, so a part is replaced before its substrings are.
	sort.Slice(parts, func(i, j int) bool { return len(parts[i]) > len(parts[j]) })
	return parts
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
