// Package slack is the Slack channel: it posts an incident's message with
// chat.postMessage and a bot token, keeps it current with chat.update when
// the incident is acknowledged or resolved, and handles the Acknowledge
// button's interactivity requests (VerifyRequest, ParseInteraction).
//
// The message is one attachment (for the colour bar: red while triggered,
// orange once acknowledged, green once resolved) holding Block Kit blocks: a
// section with the rendered mrkdwn text and, while the incident is
// triggered, an actions block. When the Slack app's signing secret is
// configured, the actions block has an interactive Acknowledge button
// (action_id "tocsin_ack", value the incident ID) and an "Open ack link" URL
// button; without it, Slack could not deliver the click to tocsin, so there
// is only the URL button, labelled with button_text, as in Versus Incident.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"tocsin"
	"tocsin/config"
	"tocsin/notify"
)

// Action IDs of the buttons tocsin puts on its messages.
const (
	// AckActionID is the interactive Acknowledge button.
	AckActionID = "tocsin_ack"
	// AckLinkActionID is the URL button that opens the ack link. Slack
	// reports its clicks too; they are not acknowledgements.
	AckLinkActionID = "tocsin_ack_link"
)

// Message colours.
const (
	ColorTriggered    = "#C70039"
	ColorAcknowledged = "#F2A900"
	ColorResolved     = "#36A64F"
)

const (
	// DefaultTimeout bounds one API call when the config sets none.
	DefaultTimeout = 10 * time.Second
	// DefaultButtonText labels the Acknowledge button.
	DefaultButtonText = "Acknowledge"
	// DefaultButtonStyle is the Acknowledge button's style when
	// button_style is empty: Slack's green "primary".
	DefaultButtonStyle = "primary"
	// maxSectionText is Slack's limit on a section's text.
	maxSectionText = 3000
	// maxButtonText is Slack's limit on a button's label.
	maxButtonText = 75
)

// Options are the channel's dependencies; the zero value is usable.
type Options struct {
	// HTTPClient sends every API call of this channel. Nil builds one with
	// the configured timeout.
	HTTPClient *http.Client
	// Logger receives debug logs. Nil discards them.
	Logger *slog.Logger
}

// Channel posts to Slack. It is safe for concurrent use.
type Channel struct {
	api         *slack.Client
	token       string
	channelID   string
	interactive bool
	props       config.SlackMessageProperties
	tmpl        *notify.Template
	timeout     time.Duration
	logger      *slog.Logger
}

// New validates cfg and returns the channel.
func New(cfg config.Slack, opts Options) (*Channel, error) {
	if cfg.Token == "" {
		return nil, errors.New("slack: token is required")
	}
	tmpl, err := notify.NewTemplate("slack.tmpl", cfg.TemplatePath, false)
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	c := &Channel{
		token:       cfg.Token,
		channelID:   cfg.ChannelID,
		interactive: cfg.SigningSecret != "",
		props:       cfg.MessageProperties,
		tmpl:        tmpl,
		timeout:     cfg.Timeout.Std(),
		logger:      opts.Logger,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	client := opts.HTTPClient
	if client == nil {
		var err error
		if client, err = notify.HTTPClient(c.timeout, nil); err != nil {
			return nil, err
		}
	}
	apiOpts := []slack.Option{slack.OptionHTTPClient(client)}
	if cfg.APIURL != "" {
		apiURL := cfg.APIURL
		if !strings.HasSuffix(apiURL, "/") {
			apiURL += "/" // slack-go appends the method name
		}
		apiOpts = append(apiOpts, slack.OptionAPIURL(apiURL))
	}
	c.api = slack.New(cfg.Token, apiOpts...)
	return c, nil
}

// sectionLimit is Slack's limit on a section's text; Render keeps the ack
// link within it.
var sectionLimit = notify.Limit{
	Max: maxSectionText,
	Link: func(ackURL string) string {
		return "\n\n:point_right: " + notify.MrkdwnLink(ackURL, "Acknowledge this incident")
	},
}

// Name implements notify.Channel.
func (c *Channel) Name() string { return "slack" }

// Send posts a new message for an opened incident or a reminder, and
// updates the earlier message (msg.Ref, "<channel>/<ts>") when the incident
// is acknowledged or resolved, removing its buttons. It returns the
// reference of the message that later events should update: for a
// reminder, the original message when there is one.
func (c *Channel) Send(ctx context.Context, msg *notify.Message) (string, error) {
	if msg == nil || msg.Incident == nil {
		return "", notify.Permanent(errors.New("slack: message has no incident"))
	}
	text, err := c.tmpl.Render(msg, sectionLimit)
	if err != nil {
		return "", notify.Permanent(fmt.Errorf("slack: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	refChannel, refTS, hasRef := parseRef(msg.Ref)
	if hasRef && (msg.Event == notify.EventAcknowledged || msg.Event == notify.EventResolved) {
		_, _, _, err := c.api.UpdateMessageContext(ctx, refChannel, refTS, c.options(msg, text)...)
		if err == nil {
			c.logger.Debug("slack message updated", "incident_id", msg.Incident.ID, "event", msg.Event, "ref", msg.Ref)
			return msg.Ref, nil
		}
		if slackCode(err) != "message_not_found" {
			return "", c.classify("update message", err)
		}
		// The message was deleted: post a new one instead.
	}

	channel := c.channelID
	if v := msg.Destination["channel_id"]; v != "" {
		channel = v
	}
	if channel == "" {
		return "", notify.Permanent(errors.New("slack: no channel_id configured"))
	}
	postedChannel, ts, err := c.api.PostMessageContext(ctx, channel, c.options(msg, text)...)
	if err != nil {
		return "", c.classify("post message", err)
	}
	ref := postedChannel + "/" + ts
	c.logger.Debug("slack message posted", "incident_id", msg.Incident.ID, "event", msg.Event, "ref", ref)
	if msg.Event == notify.EventRenotify && hasRef {
		return msg.Ref, nil
	}
	return ref, nil
}

// SendNotice posts n's text, escaped, to n.To (a channel or user id) or
// the configured channel: with no buttons, except a runbook wait's
// (n.Runbook: Resume, or Approve and Reject).
func (c *Channel) SendNotice(ctx context.Context, n *notify.Notice) error {
	_, err := c.PostNotice(ctx, n)
	return err
}

// PostNotice posts n as SendNotice does and returns the message's
// reference ("<channel>/<ts>"), for UpdateNotice (notify.NoticeUpdater).
func (c *Channel) PostNotice(ctx context.Context, n *notify.Notice) (string, error) {
	channel := c.channelID
	if n.To != "" {
		channel = n.To
	}
	if channel == "" {
		return "", notify.Permanent(errors.New("slack: no channel_id configured"))
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	text := tocsin.Truncate(escape(n.Text), maxSectionText)
	opts := []slack.MsgOption{slack.MsgOptionText(text, false)}
	if n.Runbook != nil {
		opts = append(opts, slack.MsgOptionBlocks(c.runbookBlocks(text, n.Runbook)...))
	}
	posted, ts, err := c.api.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return "", c.classify("post notice", err)
	}
	c.logger.Debug("slack notice posted")
	return posted + "/" + ts, nil
}

// options builds the message: one coloured attachment with the rendered
// text and, while the incident is triggered, the buttons.
func (c *Channel) options(msg *notify.Message, text string) []slack.MsgOption {
	text = strings.TrimSpace(text)
	fallback := summary(msg)
	if text == "" {
		text = fallback
	}
	blocks := []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, tocsin.Truncate(text, maxSectionText), false, false), nil, nil),
	}
	if actions := c.actions(msg); actions != nil {
		blocks = append(blocks, actions)
	}
	att := slack.Attachment{
		Color:    color(msg.Incident.Status),
		Fallback: fallback,
		Blocks:   slack.Blocks{BlockSet: blocks},
	}
	return []slack.MsgOption{slack.MsgOptionAttachments(att)}
}

// actions returns the buttons block, or nil when there should be none.
func (c *Channel) actions(msg *notify.Message) slack.Block {
	if c.props.DisableButton || msg.Incident.Status != tocsin.StatusTriggered ||
		(msg.Event != notify.EventOpened && msg.Event != notify.EventRenotify) {
		return nil
	}
	label := c.props.ButtonText
	if label == "" {
		label = DefaultButtonText
	}
	label = tocsin.Truncate(label, maxButtonText)
	// button_style defaults to primary, as in Versus and the README.
	style := slack.Style(DefaultButtonStyle)
	if slack.Style(c.props.ButtonStyle) == slack.StyleDanger {
		style = slack.StyleDanger
	}
	var buttons []slack.BlockElement
	if c.interactive {
		ack := slack.NewButtonBlockElement(AckActionID, msg.Incident.ID, slack.NewTextBlockObject(slack.PlainTextType, label, false, false))
		buttons = append(buttons, ack.WithStyle(style))
		if msg.AckURL != "" {
			link := slack.NewButtonBlockElement(AckLinkActionID, msg.Incident.ID, slack.NewTextBlockObject(slack.PlainTextType, "Open ack link", false, false))
			buttons = append(buttons, link.WithURL(msg.AckURL))
		}
	} else if msg.AckURL != "" {
		link := slack.NewButtonBlockElement(AckLinkActionID, msg.Incident.ID, slack.NewTextBlockObject(slack.PlainTextType, label, false, false))
		buttons = append(buttons, link.WithURL(msg.AckURL).WithStyle(style))
	}
	if len(buttons) == 0 {
		return nil
	}
	return slack.NewActionBlock("tocsin_actions", buttons...)
}

// permanentCodes are Slack Web API errors that retrying will not fix.
var permanentCodes = map[string]bool{
	"invalid_auth": true, "not_authed": true, "account_inactive": true, "token_revoked": true,
	"token_expired": true, "no_permission": true, "missing_scope": true, "not_allowed_token_type": true,
	"ekm_access_denied": true, "org_login_required": true, "team_access_not_granted": true,
	"two_factor_setup_required": true, "access_denied": true, "enterprise_is_restricted": true,
	"channel_not_found": true, "not_in_channel": true, "is_archived": true, "user_not_found": true,
	"msg_too_long": true, "no_text": true, "too_many_attachments": true, "invalid_blocks": true,
	"invalid_blocks_format": true, "invalid_attachments": true, "invalid_arguments": true,
	"invalid_arg_name": true, "invalid_array_arg": true, "invalid_charset": true,
	"invalid_form_data": true, "invalid_post_type": true, "missing_post_type": true,
	"invalid_json": true, "json_not_object": true, "invalid_metadata_format": true,
	"invalid_metadata_schema": true, "metadata_too_large": true, "restricted_action": true,
	"restricted_action_read_only_channel": true, "restricted_action_thread_only_channel": true,
	"restricted_action_non_threadable_channel": true, "cant_update_message": true,
	"edit_window_closed": true, "message_not_found": true, "method_deprecated": true,
	"deprecated_endpoint": true, "as_user_not_supported": true, "duplicate_channel_not_found": true,
}

// classify turns a slack-go error into a classified, token-free error.
// Unknown Slack error codes are retryable: Slack documents its transient
// errors (internal_error, fatal_error, service_unavailable, ratelimited, …)
// less completely than its permanent ones.
func (c *Channel) classify(op string, err error) error {
	wrapped := fmt.Errorf("slack: %s: %w", op, err)
	var (
		limited *slack.RateLimitedError
		status  slack.StatusCodeError
		apiErr  slack.SlackErrorResponse
	)
	switch {
	case errors.As(err, &limited):
		wrapped = notify.RetryAfter(wrapped, limited.RetryAfter)
	case errors.As(err, &status):
		code := status.Code
		if code != http.StatusTooManyRequests && code != http.StatusRequestTimeout && code < 500 {
			wrapped = notify.Permanent(wrapped)
		}
	case errors.As(err, &apiErr):
		if permanentCodes[apiErr.Err] {
			wrapped = notify.Permanent(wrapped)
		}
	}
	return notify.Redact(wrapped, c.token)
}

// slackCode returns the Slack API error code in err, or "".
func slackCode(err error) string {
	var apiErr slack.SlackErrorResponse
	if errors.As(err, &apiErr) {
		return apiErr.Err
	}
	return ""
}

// parseRef splits "<channel>/<ts>".
func parseRef(ref string) (channel, ts string, ok bool) {
	channel, ts, ok = strings.Cut(ref, "/")
	return channel, ts, ok && channel != "" && ts != ""
}

func color(status string) string {
	switch status {
	case tocsin.StatusAcknowledged:
		return ColorAcknowledged
	case tocsin.StatusResolved:
		return ColorResolved
	}
	return ColorTriggered
}

// escape makes text literal for Slack: &, < and > are control characters
// in every text field, the fallback included (the templates' mrkdwn helper
// does the same for the blocks), so a title cannot say <!channel> or
// render a link of its own.
var escape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// summary is the plain-text line Slack shows in notifications, escaped:
// the title and the acknowledger's name come from outside.
func summary(msg *notify.Message) string {
	title := escape(msg.Incident.Title)
	if title == "" {
		title = "Untitled incident"
	}
	switch msg.Event {
	case notify.EventAcknowledged:
		if msg.Incident.AckedBy != "" {
			return "Acknowledged by " + escape(msg.Incident.AckedBy) + ": " + title
		}
		return "Acknowledged: " + title
	case notify.EventResolved:
		return "Resolved: " + title
	case notify.EventRenotify:
		return "Still unacknowledged: " + title
	case notify.EventDeliveryFailed:
		return "Delivery failed: " + title
	}
	return "Incident opened: " + title
}
