// Package twilio is the Twilio SMS and voice provider of tocsin's paging:
// it implements notify.SMSSender with the Messages API and notify.Caller
// with the Calls API, and holds what the inbound webhooks need (signature
// validation, TwiML replies, form parsing).
//
// The requests are
//
//	POST {api_url}/2010-04-01/Accounts/{account_sid}/Messages.json
//	To=…&From=…&Body=…&StatusCallback=…
//
//	POST {api_url}/2010-04-01/Accounts/{account_sid}/Calls.json
//	To=…&From=…&Twiml=<Response><Gather …>…</Gather>…</Response>&StatusCallback=…
//
// with HTTP basic authentication account_sid:auth_token and api_url
// https://api.twilio.com unless configured. When from is a messaging
// service SID ("MG…") a message is sent with MessagingServiceSid instead of
// From; a call needs a phone number in from.
//
// It uses net/http rather than github.com/twilio/twilio-go, because that
// library (v1.31) cannot be pointed at a local test server cleanly (its API
// base URL is an unexported constant, only rewritable through a custom
// BaseClient, and TWILIO_EDGE/TWILIO_REGION in the environment rewrite
// hosts), takes no context.Context (a call cannot be cancelled), and drops
// the response of a failed request, so Retry-After is lost.
//
// Errors: 429, 408 and 5xx are retryable (honouring Retry-After), and so are
// Twilio's queue-full and rate-limit codes (21611, 14107, 20429); every
// other answer (401/403 bad credentials, 400 with 21211 invalid To, 21610
// unsubscribed recipient, …) is permanent. The Twilio error is an *Error
// inside the notify classification, so callers can read its Code with
// errors.As. Network errors and timeouts are retryable: Twilio has no
// idempotency key, so a timeout after Twilio accepted a message may send it
// twice, which a page prefers to sending it never. The auth token never
// appears in an error.
package twilio

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"tocsin"
	"tocsin/config"
	"tocsin/notify"
)

// Name is the provider's config name.
const Name = "twilio"

const (
	// DefaultAPIURL is Twilio's REST API base URL.
	DefaultAPIURL = "https://api.twilio.com"
	// DefaultTimeout bounds one request when neither the config nor
	// Options set a timeout.
	DefaultTimeout = 10 * time.Second
	// MaxBodyLength is Twilio's limit on a message body, in characters;
	// longer bodies are cut (Twilio would reject them with 21617).
	MaxBodyLength = 1600
	// MaxTwimlLength is Twilio's limit on the Twiml parameter of a call.
	MaxTwimlLength = 4000
	// maxResponse bounds how much of a response is read.
	maxResponse = 64 << 10
)

// Options are the provider's dependencies; the zero value is usable.
type Options struct {
	// HTTPClient sends every request. Nil builds one with
	// notify.HTTPClient and the timeout.
	HTTPClient *http.Client
	// Logger receives debug logs. Nil discards them.
	Logger *slog.Logger
	// Timeout bounds each request when the config sets no timeout
	// (DefaultTimeout when neither does).
	Timeout time.Duration
}

// Provider sends SMS and places voice calls through Twilio. It is safe for
// concurrent use.
type Provider struct {
	accountSID string
	authToken  string
	// secrets are what errors must never show: the token, and the
	// Authorization header a misbehaving server might echo.
	secrets []string
	from    string
	// service is set when from is a messaging service SID.
	service  bool
	messages string
	calls    string
	timeout  time.Duration
	client   *http.Client
	logger   *slog.Logger
}

var (
	_ notify.SMSSender = (*Provider)(nil)
	_ notify.Caller    = (*Provider)(nil)
)

// New validates cfg and returns the provider. Its one HTTP client is built
// here and reused for every request. Errors name the config key and never
// contain the auth token.
func New(cfg config.Twilio, opts Options) (*Provider, error) {
	switch {
	case cfg.AccountSID == "":
		return nil, errors.New("paging.twilio.account_sid: required")
	case !alphanumeric(cfg.AccountSID):
		// It goes into the URL path.
		return nil, errors.New("paging.twilio.account_sid: must be letters and digits (AC…)")
	case cfg.AuthToken == "":
		return nil, errors.New("paging.twilio.auth_token: required")
	case strings.TrimSpace(cfg.From) == "":
		return nil, errors.New("paging.twilio.from: required (a phone number or a messaging service SID)")
	}
	apiURL := cfg.APIURL
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	if u, err := url.Parse(apiURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("paging.twilio.api_url: must be an absolute http or https URL")
	}
	base := strings.TrimRight(apiURL, "/") + "/2010-04-01/Accounts/" + cfg.AccountSID
	from := strings.TrimSpace(cfg.From)
	p := &Provider{
		accountSID: cfg.AccountSID,
		authToken:  cfg.AuthToken,
		secrets:    []string{cfg.AuthToken, base64.StdEncoding.EncodeToString([]byte(cfg.AccountSID + ":" + cfg.AuthToken))},
		from:       from,
		service:    strings.HasPrefix(from, "MG"),
		messages:   base + "/Messages.json",
		calls:      base + "/Calls.json",
		timeout:    cfg.Timeout.Std(),
		client:     opts.HTTPClient,
		logger:     opts.Logger,
	}
	if p.timeout <= 0 {
		p.timeout = opts.Timeout
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	if p.client == nil {
		var err error
		if p.client, err = notify.HTTPClient(p.timeout, nil); err != nil {
			return nil, fmt.Errorf("paging.twilio: %w", err)
		}
	}
	return p, nil
}

// Name implements notify.SMSSender and notify.Caller.
func (p *Provider) Name() string { return Name }

// AcceptsReplies is true: replies come back through the Twilio number's
// messaging webhook (/api/v1/twilio/sms), so a page may ask for one.
func (p *Provider) AcceptsReplies() bool { return true }

// SendSMS sends m with the Messages API and returns the message SID
// ("SM…"). A body longer than MaxBodyLength is cut.
func (p *Provider) SendSMS(ctx context.Context, m *notify.SMS) (string, error) {
	switch {
	case m == nil:
		return "", notify.Permanent(errors.New("send twilio SMS: nil message"))
	case strings.TrimSpace(m.To) == "":
		return "", notify.Permanent(errors.New("send twilio SMS: no recipient number"))
	case strings.TrimSpace(m.Body) == "":
		return "", notify.Permanent(errors.New("send twilio SMS: empty body"))
	}
	form := url.Values{"To": {strings.TrimSpace(m.To)}, "Body": {tocsin.Truncate(m.Body, MaxBodyLength)}}
	if p.service {
		form.Set("MessagingServiceSid", p.from)
	} else {
		form.Set("From", p.from)
	}
	if m.StatusCallback != "" {
		form.Set("StatusCallback", m.StatusCallback)
	}
	sid, err := p.post(ctx, p.messages, form)
	if err != nil {
		return "", fmt.Errorf("send twilio SMS: %w", err)
	}
	p.logger.Debug("twilio sms sent", "message_sid", sid)
	return sid, nil
}

// Call places c with the Calls API, its TwiML inline (see GatherTwiML), and
// returns the call SID ("CA…").
func (p *Provider) Call(ctx context.Context, c *notify.Call) (string, error) {
	switch {
	case c == nil:
		return "", notify.Permanent(errors.New("place twilio call: nil call"))
	case strings.TrimSpace(c.To) == "":
		return "", notify.Permanent(errors.New("place twilio call: no number to call"))
	case p.service:
		return "", notify.Permanent(errors.New("place twilio call: paging.twilio.from is a messaging service SID; calls need a phone number"))
	}
	form := url.Values{
		"To":    {strings.TrimSpace(c.To)},
		"From":  {p.from},
		"Twiml": {callTwiML(c.Say, c.GatherURL)},
	}
	if c.StatusCallback != "" {
		form.Set("StatusCallback", c.StatusCallback)
	}
	sid, err := p.post(ctx, p.calls, form)
	if err != nil {
		return "", fmt.Errorf("place twilio call: %w", err)
	}
	p.logger.Debug("twilio call placed", "call_sid", sid)
	return sid, nil
}

// post sends one form to endpoint and returns the created resource's SID.
func (p *Provider) post(ctx context.Context, endpoint string, form url.Values) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", notify.Permanent(notify.Redact(err, p.secrets...))
	}
	req.SetBasicAuth(p.accountSID, p.authToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "tocsin")
	resp, err := p.client.Do(req)
	if err != nil {
		return "", notify.Redact(err, p.secrets...)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", notify.Redact(classify(resp, body), p.secrets...)
	}
	var created struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.SID == "" {
		// Twilio accepted the request: retrying would send it again.
		return "", notify.Permanent(fmt.Errorf("HTTP %d: Twilio accepted the request but answered no sid", resp.StatusCode))
	}
	return created.SID, nil
}

// Error is an error answer of Twilio's REST API:
// {"code": 21211, "message": "…", "more_info": "…", "status": 400}.
type Error struct {
	// Status is the HTTP status of the answer.
	Status int
	// Code is Twilio's error code (21211 invalid To, 21610 unsubscribed
	// recipient, 20003 authentication failed, …); 0 when the answer had none.
	Code int
	// Message is Twilio's message, or the start of a body that was not
	// Twilio's JSON (a proxy's error page).
	Message string
	// MoreInfo links to Twilio's description of Code.
	MoreInfo string
}

// Error describes the answer: status, Twilio code, message and link.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", e.Status)
	if e.Code != 0 {
		fmt.Fprintf(&b, ": Twilio error %d", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.MoreInfo != "" {
		b.WriteString(" (" + e.MoreInfo + ")")
	}
	return b.String()
}

// retryableCodes are Twilio error codes worth retrying whatever the status.
var retryableCodes = map[int]bool{
	14107: true, // message rate limit exceeded
	20429: true, // too many requests
	21611: true, // the From number's queue is full
}

// classify turns a non-2xx answer into a classified *Error.
func classify(resp *http.Response, body []byte) error {
	e := &Error{Status: resp.StatusCode}
	var tw struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
	}
	if json.Unmarshal(body, &tw) == nil && (tw.Code != 0 || tw.Message != "") {
		e.Code, e.Message, e.MoreInfo = tw.Code, tocsin.Truncate(tw.Message, 300), tocsin.Truncate(tw.MoreInfo, 200)
	} else {
		e.Message = tocsin.Truncate(strings.TrimSpace(strings.ToValidUTF8(string(body), "")), 200)
	}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests || s == http.StatusRequestTimeout || s >= 500 || retryableCodes[e.Code]:
		return notify.RetryAfter(e, notify.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()))
	default:
		return notify.Permanent(e)
	}
}

// alphanumeric reports whether s is ASCII letters and digits only.
func alphanumeric(s string) bool {
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}
