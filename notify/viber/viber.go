// Package viber is the Viber channel. It posts plain text (at most 7000
// characters; default template text.tmpl) in one of two modes, api_type.
//
// # api_type: channel (the default)
//
// A post to a Viber Channel with the Channels Post API, authenticated by
// the channel's token (bot_token):
//
//	POST {api_url}/pa/post
//	X-Viber-Auth-Token: <bot_token>
//	{"auth_token": "<bot_token>", "from": "<channel_id>", "type": "text", "text": "…"}
//
// The token alone selects the channel. channel_id is the "from" of the
// post: the Viber member ID of one of the channel's super admins, as Viber
// requires (e.g. "01234567890A="). When it is empty, tocsin asks
// POST /pa/get_account_info once and posts as the first member whose role
// is "superadmin". Versus Incident's post_to_channel/<channel_id> endpoint
// does not exist in Viber's API; its channel_id values that are a super
// admin's ID keep working here. A request's destination "channel_id"
// changes the poster, not the channel. Viber also requires the channel to
// have a webhook set (set_webhook) before it accepts posts.
//
// # api_type: bot
//
// A message from a bot to one subscribed user:
//
//	POST {api_url}/pa/send_message
//	X-Viber-Auth-Token: <bot_token>
//	{"receiver": "<user_id>", "min_api_version": 1, "sender": {"name": "tocsin"}, "type": "text", "text": "…"}
//
// The receiver is the request's destination "user_id" when set, else
// alert.viber.user_id.
//
// # Both
//
// api_url is https://chatapi.viber.com unless configured. Viber messages
// are not edited: later events are new messages. The reference returned is
// "<from or receiver>/<message_token>" of the first message.
//
// Errors: Viber answers HTTP 200 with {"status": 0, "status_message": "ok",
// "message_token": …} or a non-zero status. Status 12 (tooManyRequests) is
// retried, as are HTTP 429, 408 and 5xx; the documented failures 1–11 and
// 13–24 (2 invalidAuthToken, 3 badData, 6 receiverNotSubscribed, 10
// webhookNotSet, …) are permanent. Any other status is Viber's "general
// error" and is retried, up to the dispatcher's attempt limit. The token
// never appears in an error.
package viber

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
	"sync"
	"time"

	"tocsin/config"
	"tocsin/notify"
)

const (
	// DefaultAPIURL is Viber's API base URL.
	DefaultAPIURL = "https://chatapi.viber.com"
	// DefaultTimeout bounds one send when the config sets no timeout.
	DefaultTimeout = 10 * time.Second
	// MaxTextLength is Viber's limit on a text message, in characters.
	MaxTextLength = 7000
	// SenderName is the bot sender's name shown in bot mode.
	SenderName = "tocsin"
	// maxResponse bounds how much of a response is read.
	maxResponse = 64 << 10
)

// API types (api_type).
const (
	APIChannel = "channel"
	APIBot     = "bot"
)

// Viber status codes tocsin treats specially.
const (
	StatusOK              = 0
	StatusTooManyRequests = 12
	// statusLastDocumented is the highest documented failure status; any
	// higher one is Viber's "general error".
	statusLastDocumented = 24
)

// hints explain the statuses an operator can fix.
var hints = map[int]string{
	2:  "check alert.viber.bot_token",
	3:  "for a channel, channel_id must be a super admin's member ID",
	6:  "the user has not subscribed to the bot",
	10: "set the channel's webhook first: Viber refuses posts without one",
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

// Channel posts to Viber. It is safe for concurrent use.
type Channel struct {
	token     string
	apiType   string
	channelID string
	userID    string
	apiURL    string
	tmpl      *notify.Template
	timeout   time.Duration
	client    *http.Client
	logger    *slog.Logger

	mu         sync.Mutex
	superAdmin string // found by get_account_info when channel_id is empty
}

// New validates cfg and returns the channel. Its one HTTP client is built
// here and reused for every message.
func New(cfg config.Viber, opts Options) (*Channel, error) {
	if cfg.BotToken == "" {
		return nil, errors.New("alert.viber.bot_token: required")
	}
	apiType := cfg.APIType
	switch apiType {
	case "":
		apiType = APIChannel
	case APIChannel, APIBot:
	default:
		return nil, fmt.Errorf("alert.viber.api_type: %q is not channel or bot", cfg.APIType)
	}
	apiURL := cfg.APIURL
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	if u, err := url.Parse(apiURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("alert.viber.api_url: must be an absolute http or https URL")
	}
	tmpl, err := notify.NewTemplate("text.tmpl", cfg.TemplatePath, false)
	if err != nil {
		return nil, fmt.Errorf("alert.viber.template_path: %w", err)
	}
	c := &Channel{
		token:     cfg.BotToken,
		apiType:   apiType,
		channelID: cfg.ChannelID,
		userID:    cfg.UserID,
		apiURL:    strings.TrimRight(apiURL, "/"),
		tmpl:      tmpl,
		timeout:   cfg.Timeout.Std(),
		client:    opts.HTTPClient,
		logger:    opts.Logger,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.client, err = notify.ChannelClient("viber", c.client, c.timeout, cfg.UseProxy, opts.Proxy); err != nil {
		return nil, err
	}
	return c, nil
}

// Name implements notify.Channel.
func (c *Channel) Name() string { return "viber" }

// Send posts msg as a channel post or a bot message (see the package
// documentation). Later events about an incident are new messages; the
// reference of the first one is kept.
func (c *Channel) Send(ctx context.Context, msg *notify.Message) (string, error) {
	if msg == nil || msg.Incident == nil {
		return "", notify.Permanent(errors.New("viber: message has no incident"))
	}
	// Render keeps the ack link within Viber's limit.
	text, err := c.tmpl.Render(msg, notify.Limit{Max: MaxTextLength})
	if err != nil {
		return "", notify.Permanent(fmt.Errorf("viber: %w", err))
	}
	text = strings.TrimSpace(text)
	if text == "" {
		text = "Incident: " + msg.Incident.Title
	}

	to := msg.Destination["channel_id"]
	if c.apiType == APIBot {
		to = msg.Destination["user_id"]
	}
	ref, err := c.post(ctx, to, text)
	if err != nil {
		return "", err
	}
	c.logger.Debug("viber message sent", "incident_id", msg.Incident.ID, "event", msg.Event, "api_type", c.apiType, "ref", ref)
	if msg.Ref != "" && msg.Event != notify.EventOpened {
		return msg.Ref, nil
	}
	return ref, nil
}

// SendNotice sends n's text to n.To (a bot's user id, or the channel
// post's sender) or the configured one.
func (c *Channel) SendNotice(ctx context.Context, n *notify.Notice) error {
	text := n.Text
	if r := []rune(text); len(r) > MaxTextLength {
		text = string(r[:MaxTextLength-1]) + "…"
	}
	if _, err := c.post(ctx, n.To, text); err != nil {
		return err
	}
	c.logger.Debug("viber notice sent", "api_type", c.apiType)
	return nil
}

// post sends text as a bot message to user id to (or the configured
// user), or as a channel post from member to (or the configured member,
// or the channel's first super admin). It returns the message's reference.
func (c *Channel) post(ctx context.Context, to, text string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var (
		path string
		who  string
		body any
		err  error
	)
	if c.apiType == APIBot {
		who = c.userID
		if to != "" {
			who = to
		}
		if who == "" {
			return "", notify.Permanent(errors.New("viber: alert.viber.user_id: required (or a per-request user_id)"))
		}
		path = "/pa/send_message"
		body = botMessage{Receiver: who, MinAPIVersion: 1, Sender: sender{Name: SenderName}, Type: "text", Text: text}
	} else {
		who = c.channelID
		if to != "" {
			who = to
		}
		if who == "" {
			if who, err = c.findSuperAdmin(ctx); err != nil {
				return "", err
			}
		}
		path = "/pa/post"
		body = channelPost{AuthToken: c.token, From: who, Type: "text", Text: text}
	}
	var res response
	if err := c.call(ctx, path, body, &res); err != nil {
		return "", err
	}
	ref := who
	if tok := res.MessageToken.String(); tok != "" {
		ref += "/" + tok
	}
	return ref, nil
}

type channelPost struct {
	AuthToken string `json:"auth_token"`
	From      string `json:"from"`
	Type      string `json:"type"`
	Text      string `json:"text"`
}

type botMessage struct {
	Receiver      string `json:"receiver"`
	MinAPIVersion int    `json:"min_api_version"`
	Sender        sender `json:"sender"`
	Type          string `json:"type"`
	Text          string `json:"text"`
}

type sender struct {
	Name string `json:"name"`
}

// response is what every Viber API call answers, with the fields tocsin uses.
type response struct {
	Status        int         `json:"status"`
	StatusMessage string      `json:"status_message"`
	MessageToken  json.Number `json:"message_token"`
	Members       []struct {
		ID   string `json:"id"`
		Role string `json:"role"`
	} `json:"members"`
}

// findSuperAdmin returns the channel's first super admin, asking
// get_account_info once and remembering the answer.
func (c *Channel) findSuperAdmin(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.superAdmin != "" {
		return c.superAdmin, nil
	}
	var res response
	if err := c.call(ctx, "/pa/get_account_info", struct {
		AuthToken string `json:"auth_token"`
	}{c.token}, &res); err != nil {
		return "", err
	}
	for _, m := range res.Members {
		if m.Role == "superadmin" && m.ID != "" {
			c.superAdmin = m.ID
			return m.ID, nil
		}
	}
	return "", notify.Permanent(errors.New("viber: alert.viber.channel_id: required: get_account_info lists no super admin to post as"))
}

// call posts body to the API method at path and decodes the answer into
// res. Its errors are classified and carry no token.
func (c *Channel) call(ctx context.Context, path string, body any, res *response) error {
	data, err := json.Marshal(body)
	if err != nil {
		return notify.Permanent(fmt.Errorf("viber: encode request: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.apiURL+path, bytes.NewReader(data))
	if err != nil {
		return notify.Permanent(notify.Redact(fmt.Errorf("viber: build request: %w", err), c.token))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tocsin")
	req.Header.Set("X-Viber-Auth-Token", c.token)
	method := strings.TrimPrefix(path, "/pa/")
	resp, err := c.client.Do(req)
	if err != nil {
		return notify.Redact(fmt.Errorf("viber: %s: %w", method, err), c.token)
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
		resp.Body.Close()
	}()
	if err := notify.CheckResponse(resp); err != nil {
		return notify.Redact(fmt.Errorf("viber: %s: %w", method, err), c.token)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return notify.Redact(fmt.Errorf("viber: %s: read response: %w", method, err), c.token)
	}
	if err := json.Unmarshal(raw, res); err != nil {
		// Not Viber's JSON (a proxy's page?): the message may or may not
		// have arrived; retrying could duplicate it.
		return notify.Permanent(fmt.Errorf("viber: %s: HTTP %d: unexpected response %.200q", method, resp.StatusCode, raw))
	}
	return notify.Redact(statusError(method, res), c.token)
}

// statusError classifies a non-zero Viber status (see the package
// documentation).
func statusError(method string, st *response) error {
	if st.Status == StatusOK {
		return nil
	}
	err := fmt.Errorf("viber: %s: status %d: %s", method, st.Status, st.StatusMessage)
	if hint := hints[st.Status]; hint != "" {
		err = fmt.Errorf("%w (%s)", err, hint)
	}
	if st.Status == StatusTooManyRequests || st.Status < 0 || st.Status > statusLastDocumented {
		return err
	}
	return notify.Permanent(err)
}
