// Package notify renders and delivers notifications about incidents to
// team channels. One package per channel (notify/slack, notify/email, …)
// implements Channel; the engine calls Send from its outbox worker, after the
// state change that caused the message has been committed.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tocsin"
	"tocsin/netguard"
)

// Events a message can be about.
const (
	EventOpened       = tocsin.NotifyEventOpened
	EventAcknowledged = tocsin.NotifyEventAcknowledged
	EventResolved     = tocsin.NotifyEventResolved
	EventRenotify     = tocsin.NotifyEventRenotify
	// EventNotice names a Notice where a channel labels what it sends
	// (a webhook's "event").
	EventNotice = "notice"
	// EventDeliveryFailed tells a channel that another delivery about the
	// incident gave up (Message.Failure says which).
	EventDeliveryFailed = tocsin.NotifyEventDeliveryFailed
)

// Message is one notification about one incident for one channel.
type Message struct {
	// Event is one of the Event constants.
	Event string
	// Incident is the incident as it is now, with its alerts.
	Incident *tocsin.Incident
	// Alert is the alert that caused the event, if any.
	Alert *tocsin.Alert
	// Payload is the JSON object the alert was decoded from; templates see
	// its fields at the top level, as Versus Incident's templates do.
	Payload json.RawMessage
	// AckURL is the signed acknowledgement link ("" once acknowledged or resolved).
	AckURL string
	// IncidentURL links to the incident in tocsin's API.
	IncidentURL string
	// Destination holds per-request overrides for this channel (e.g.
	// "channel_id", "to", "subject"), already authorised by the caller.
	Destination map[string]string
	// DeliveryID identifies this delivery; it is the same on every retry,
	// so receivers can drop duplicates of an at-least-once delivery.
	DeliveryID string
	// SentAt is when this attempt was made.
	SentAt time.Time
	// Ref is what this channel returned from its first send about this
	// incident (e.g. Slack's "channel/ts"), so it can update that message.
	Ref string
	// Warnings are what went wrong without stopping the delivery, such as
	// a user's template that failed and was replaced by the built-in one
	// (see Template.Execute). The dispatcher puts them on the incident's
	// timeline and in the log.
	Warnings []string
	// Failure is the delivery that gave up, for EventDeliveryFailed.
	Failure *tocsin.DeliveryFailure
}

// Channel delivers messages to one configured destination.
type Channel interface {
	// Name is the channel's name as used in configuration: "slack", "email", …
	Name() string
	// Send delivers msg. It returns a reference to the delivered message
	// that later sends about the same incident receive in Message.Ref.
	// Errors are retryable unless wrapped with Permanent.
	Send(ctx context.Context, msg *Message) (ref string, err error)
}

// Notice is a plain message that is not an incident's notification: to
// one person (an on-call hand-off note, an activation code), or to a
// team's channel (a runbook step's wait). Channels send its text as it
// is, through no incident template, with no buttons or links but a
// runbook step's (Runbook).
type Notice struct {
	// To is the recipient's address on the channel: an email address, a
	// Slack channel or user id, a Telegram chat id, a Viber user id.
	// Empty, or for channels that post to one configured place (a
	// webhook, Teams, Lark), the channel's configured destination.
	To string
	// Subject is a short summary, for channels that have one (email);
	// empty means Text.
	Subject string
	Text    string
	// DeliveryID identifies this notice, the same on every retry.
	DeliveryID string
	// SentAt is when this attempt was made.
	SentAt time.Time
	// Runbook, when set, is the runbook step whose wait the notice
	// announces: a channel with buttons (Slack) offers Resume, or Approve
	// and Reject, beside the text; the others send the text alone.
	Runbook *tocsin.RunbookWait
}

// NoticeSender sends notices. Every channel implements it; SMS and voice
// providers take plain text already (SMS.Body, Call.Say).
type NoticeSender interface {
	// SendNotice delivers n. Errors are classified as Send's are.
	SendNotice(ctx context.Context, n *Notice) error
}

// ChannelFunc adapts a function to Channel, for tests.
type ChannelFunc struct {
	ChannelName string
	Func        func(ctx context.Context, msg *Message) (string, error)
}

// Name implements Channel.
func (f ChannelFunc) Name() string { return f.ChannelName }

// Send implements Channel.
func (f ChannelFunc) Send(ctx context.Context, msg *Message) (string, error) {
	return f.Func(ctx, msg)
}

// DeliveryError classifies a failed send.
type DeliveryError struct {
	Err error
	// Permanent errors are not retried (bad credentials, a rejected payload).
	Permanent bool
	// RetryAfter is the provider's requested wait (429 Retry-After), or 0.
	RetryAfter time.Duration
}

func (e *DeliveryError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *DeliveryError) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &DeliveryError{Err: err, Permanent: true}
}

// RetryAfter marks err as retryable no sooner than after d.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &DeliveryError{Err: err, RetryAfter: d}
}

// Classify reports whether err is permanent and how long the provider asked
// to wait. Errors not classified by a channel (network errors, timeouts) are
// retryable, except an address refused by a netguard.Guard, which is
// permanent.
func Classify(err error) (permanent bool, retryAfter time.Duration) {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.Permanent, de.RetryAfter
	}
	// A target refused by the address policy stays refused.
	var be *netguard.BlockedError
	if errors.As(err, &be) {
		return true, 0
	}
	return false, 0
}

// CheckResponse turns a non-2xx HTTP response into a classified error: 429
// and 5xx are retryable (honouring Retry-After), 408 too, and every other
// 4xx is permanent. It reads at most 512 bytes of the body for the message
// and never includes the request URL, which may hold a secret.
func CheckResponse(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	err := fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		return RetryAfter(err, ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()))
	default:
		return Permanent(err)
	}
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// It returns 0 when the header is absent or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Redact replaces every non-empty secret in err's message. Channels wrap
// transport errors with it, because net/http puts the request URL (which
// carries Telegram's bot token, a webhook's key, …) into its errors. The
// classification of err is kept.
func Redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "[REDACTED]")
			changed = true
		}
	}
	if !changed {
		return err
	}
	permanent, after := Classify(err)
	return &DeliveryError{Err: errors.New(msg), Permanent: permanent, RetryAfter: after}
}
