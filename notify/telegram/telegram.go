// Package telegram is the Telegram channel: it posts an incident's message
// to a chat with the Bot API's sendMessage method, in Telegram's HTML
// dialect (parse_mode "HTML"), without link previews.
//
// The request is
//
//	POST {api_url}/bot<bot_token>/sendMessage
//	{"chat_id": "…", "text": "…", "parse_mode": "HTML", "disable_web_page_preview": true}
//
// with api_url https://api.telegram.org unless configured. The chat is the
// request's destination "chat_id" when set (already authorised by the
// caller), else alert.telegram.chat_id.
//
// Telegram messages are not edited: the acknowledgement, resolution and
// reminders of an incident are new messages sent as replies to the first
// one (reply_parameters with allow_sending_without_reply, so a deleted
// original does not block them), in the chat of the first one. The
// reference returned is "<chat_id>/<message_id>" of the first message.
//
// Text longer than Telegram's 4096 characters is shortened with
// notify.Template.Render: the built-in template's description is cut, a
// user template's text is cut without breaking a tag or an entity (see
// truncateHTML) and its ack link appended again. When Telegram cannot parse the HTML
// (a user template that forgot to escape a "<"), the message is sent again
// once as plain text, so an alert is never lost to a template mistake.
//
// Errors: HTTP 429 is retried after the parameters.retry_after Telegram
// sends; 5xx and 408 are retried; every other error (400 "chat not found",
// 401 Unauthorized, 403 "bot was blocked by the user", …) is permanent. The
// bot token, which is part of the request URL, never appears in an error.
package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"tocsin/config"
	"tocsin/notify"
)

const (
	// DefaultAPIURL is the Bot API's base URL.
	DefaultAPIURL = "https://api.telegram.org"
	// DefaultTimeout bounds one send when the config sets no timeout.
	DefaultTimeout = 10 * time.Second
	// MaxTextLength is Telegram's limit on a message's text, in UTF-16 code
	// units after entity parsing.
	MaxTextLength = 4096
	// maxResponse bounds how much of a response is read.
	maxResponse = 64 << 10
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

// Channel posts to Telegram. It is safe for concurrent use.
type Channel struct {
	token    string
	chatID   string
	endpoint string
	tmpl     *notify.Template
	timeout  time.Duration
	client   *http.Client
	logger   *slog.Logger
}

// New validates cfg and returns the channel. Its one HTTP client is built
// here and reused for every message.
func New(cfg config.Telegram, opts Options) (*Channel, error) {
	if cfg.BotToken == "" {
		return nil, errors.New("alert.telegram.bot_token: required")
	}
	if strings.ContainsAny(cfg.BotToken, "/?#% \t\r\n") {
		// It goes into the URL path; never echo it.
		return nil, errors.New("alert.telegram.bot_token: must not contain '/', '?', '#', '%' or spaces")
	}
	apiURL := cfg.APIURL
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	if u, err := url.Parse(apiURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("alert.telegram.api_url: must be an absolute http or https URL")
	}
	tmpl, err := notify.NewTemplate("telegram.tmpl", cfg.TemplatePath, false)
	if err != nil {
		return nil, fmt.Errorf("alert.telegram.template_path: %w", err)
	}
	c := &Channel{
		token:    cfg.BotToken,
		chatID:   cfg.ChatID,
		endpoint: strings.TrimRight(apiURL, "/") + "/bot" + cfg.BotToken + "/sendMessage",
		tmpl:     tmpl,
		timeout:  cfg.Timeout.Std(),
		client:   opts.HTTPClient,
		logger:   opts.Logger,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.client, err = notify.ChannelClient("telegram", c.client, c.timeout, cfg.UseProxy, opts.Proxy); err != nil {
		return nil, err
	}
	return c, nil
}

// textLimit is Telegram's limit on a message, measured and cut as Telegram
// counts: visible text after parsing the HTML.
var textLimit = notify.Limit{
	Max: MaxTextLength,
	Len: visibleLen,
	Cut: truncateHTML,
	Link: func(ackURL string) string {
		return "\n\n👉 <a href=\"" + html.EscapeString(ackURL) + "\">Acknowledge this incident</a>"
	},
}

// Name implements notify.Channel.
func (c *Channel) Name() string { return "telegram" }

// sendMessage is the body of a sendMessage call.
type sendMessage struct {
	ChatID                string           `json:"chat_id"`
	Text                  string           `json:"text"`
	ParseMode             string           `json:"parse_mode,omitempty"`
	DisableWebPagePreview bool             `json:"disable_web_page_preview"`
	ReplyParameters       *replyParameters `json:"reply_parameters,omitempty"`
}

type replyParameters struct {
	MessageID                int64 `json:"message_id"`
	AllowSendingWithoutReply bool  `json:"allow_sending_without_reply"`
}

// Send posts msg. An opened incident gets a new message; any later event
// with a reference (msg.Ref) is a reply to the first message, and returns
// that reference again so every later event replies to the same message.
func (c *Channel) Send(ctx context.Context, msg *notify.Message) (string, error) {
	if msg == nil || msg.Incident == nil {
		return "", notify.Permanent(errors.New("telegram: message has no incident"))
	}
	text, err := c.tmpl.Render(msg, textLimit)
	if err != nil {
		return "", notify.Permanent(fmt.Errorf("telegram: %w", err))
	}
	text = strings.TrimSpace(text)
	if text == "" {
		text = html.EscapeString(summary(msg))
	}
	body := sendMessage{Text: truncateHTML(text, MaxTextLength), ParseMode: "HTML", DisableWebPagePreview: true}
	refChat, refID, hasRef := parseRef(msg.Ref)
	reply := hasRef && msg.Event != notify.EventOpened
	if reply {
		body.ChatID = refChat
		body.ReplyParameters = &replyParameters{MessageID: refID, AllowSendingWithoutReply: true}
	} else {
		body.ChatID = c.chatID
		if v := msg.Destination["chat_id"]; v != "" {
			body.ChatID = v
		}
		if body.ChatID == "" {
			return "", notify.Permanent(errors.New("telegram: alert.telegram.chat_id: required (or a per-request chat_id)"))
		}
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := c.call(ctx, &body)
	if err == nil && res.unparsableHTML() {
		// A template produced HTML Telegram rejects: deliver it as plain
		// text rather than lose the alert.
		c.logger.Warn("telegram rejected the message's HTML; sending it as plain text", "incident_id", msg.Incident.ID, "error", res.Description)
		body.ParseMode = ""
		body.Text = truncatePlain(plainText(text), MaxTextLength)
		res, err = c.call(ctx, &body)
	}
	if err != nil {
		return "", err
	}
	if err := res.err(); err != nil {
		return "", notify.Redact(err, c.token)
	}
	chat := body.ChatID
	if res.Result.Chat.ID != 0 {
		chat = strconv.FormatInt(res.Result.Chat.ID, 10)
	}
	ref := chat + "/" + strconv.FormatInt(res.Result.MessageID, 10)
	c.logger.Debug("telegram message sent", "incident_id", msg.Incident.ID, "event", msg.Event, "ref", ref)
	if reply {
		return msg.Ref, nil
	}
	return ref, nil
}

// apiResponse is the Bot API's answer, with the HTTP status it came with.
type apiResponse struct {
	OK     bool `json:"ok"`
	Result struct {
		MessageID int64 `json:"message_id"`
		Chat      struct {
			ID int64 `json:"id"`
		} `json:"chat"`
	} `json:"result"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
	Parameters  struct {
		RetryAfter      int   `json:"retry_after"`
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
	} `json:"parameters"`

	status     int
	retryAfter string
	raw        string
}

// SendNotice sends n's text as plain text (no HTML) to n.To (a chat id)
// or the configured chat.
func (c *Channel) SendNotice(ctx context.Context, n *notify.Notice) error {
	chat := c.chatID
	if n.To != "" {
		chat = n.To
	}
	if chat == "" {
		return notify.Permanent(errors.New("telegram: alert.telegram.chat_id: required (or a per-request chat_id)"))
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := c.call(ctx, &sendMessage{ChatID: chat, Text: truncatePlain(n.Text, MaxTextLength), DisableWebPagePreview: true})
	if err != nil {
		return err
	}
	if err := res.err(); err != nil {
		return notify.Redact(err, c.token)
	}
	c.logger.Debug("telegram notice sent")
	return nil
}

// call posts body to sendMessage. Its error is a transport failure
// (retryable, token redacted); a Bot API error is in the response.
func (c *Channel) call(ctx context.Context, body *sendMessage) (*apiResponse, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, notify.Permanent(fmt.Errorf("telegram: encode message: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(data))
	if err != nil {
		return nil, notify.Permanent(notify.Redact(fmt.Errorf("telegram: build request: %w", err), c.token))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tocsin")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, notify.Redact(fmt.Errorf("telegram: send message: %w", err), c.token)
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
		resp.Body.Close()
	}()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, notify.Redact(fmt.Errorf("telegram: read response: %w", err), c.token)
	}
	res := &apiResponse{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	if json.Unmarshal(raw, res) != nil {
		res.OK = false
		res.raw = strings.TrimSpace(string(raw[:min(len(raw), 512)]))
	}
	return res, nil
}

// unparsableHTML reports Telegram's answer to HTML it cannot parse.
func (r *apiResponse) unparsableHTML() bool {
	return !r.OK && r.status == http.StatusBadRequest &&
		strings.Contains(strings.ToLower(r.Description), "can't parse entities")
}

// err classifies a Bot API answer: nil for success, retryable for 429
// (after parameters.retry_after), 5xx and 408, permanent otherwise.
func (r *apiResponse) err() error {
	if r.OK && r.status >= 200 && r.status < 300 {
		return nil
	}
	code := r.status
	if code >= 200 && code < 300 && r.ErrorCode != 0 {
		code = r.ErrorCode
	}
	desc := r.Description
	if desc == "" {
		desc = r.raw
	}
	if desc == "" {
		desc = http.StatusText(code)
	}
	err := fmt.Errorf("telegram: send message: HTTP %d: %s", code, desc)
	if id := r.Parameters.MigrateToChatID; id != 0 {
		err = fmt.Errorf("%w (the group is now the supergroup %d: update chat_id)", err, id)
	}
	after := notify.ParseRetryAfter(r.retryAfter, time.Now())
	if r.Parameters.RetryAfter > 0 {
		after = time.Duration(r.Parameters.RetryAfter) * time.Second
	}
	switch {
	case code == http.StatusTooManyRequests || code >= 500 || code == http.StatusRequestTimeout:
		return notify.RetryAfter(err, after)
	default:
		return notify.Permanent(err)
	}
}

// parseRef splits "<chat_id>/<message_id>". A chat ID never holds "/".
func parseRef(ref string) (chat string, messageID int64, ok bool) {
	i := strings.LastIndexByte(ref, '/')
	if i <= 0 {
		return "", 0, false
	}
	id, err := strconv.ParseInt(ref[i+1:], 10, 64)
	if err != nil || id <= 0 {
		return "", 0, false
	}
	return ref[:i], id, true
}

// summary is the one-line text sent when a template renders nothing.
func summary(msg *notify.Message) string {
	title := msg.Incident.Title
	if title == "" {
		title = "Untitled incident"
	}
	line := "Incident opened: " + title
	switch msg.Event {
	case notify.EventAcknowledged:
		line = "Acknowledged: " + title
	case notify.EventResolved:
		line = "Resolved: " + title
	case notify.EventRenotify:
		line = "Still unacknowledged: " + title
	case notify.EventDeliveryFailed:
		line = "Delivery failed: " + title
	}
	if msg.AckURL != "" {
		line += "\nAcknowledge: " + msg.AckURL
	}
	return line
}
