// Package inbound serves the webhooks of others: alerts from senders (our
// intake, Versus Incident's /api/incidents, Amazon SNS, PagerDuty's Events
// API v2) and callbacks from providers (Slack interactivity, Twilio's SMS,
// voice and status webhooks). Foreign payloads are decoded leniently; a
// sender's alert is never refused over a detail.
package inbound

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"tocsin"
	"tocsin/api"
	"tocsin/ingest"
)

// Store is what intake and Slack need from the store (store.Incidents).
type Store interface {
	// Ingest commits alerts (tocsin.IncidentService).
	Ingest(ctx context.Context, alerts []*tocsin.Alert, opts tocsin.IngestOptions) ([]tocsin.IngestResult, error)
	// Acknowledge serves Slack's Acknowledge button.
	Acknowledge(ctx context.Context, id string, by tocsin.Actor) (inc *tocsin.Incident, changed bool, err error)
}

// Pacer holds intake's answers while deliveries are behind
// (engine.Pacer); Wait returns how long it held one.
type Pacer interface {
	Wait(ctx context.Context) time.Duration
}

// Options configure a Server.
type Options struct {
	// Tokens are the integration tokens intake accepts.
	Tokens api.Tokens
	// Open accepts alerts without a token (Versus's behaviour).
	Open bool
	// MaxBodyBytes limits request bodies (default api.DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Overrides says which per-request query parameters take effect.
	Overrides Overrides
	// SNS configures CloudWatch alarms delivered by Amazon SNS.
	SNS SNS
	// DebugBody logs intake bodies at debug level (Versus's alert.debug_body).
	DebugBody bool
	// SlackSigningSecret verifies Slack interactivity requests; empty
	// disables the endpoint.
	SlackSigningSecret string
	// TwilioAuthToken verifies Twilio's webhooks (SMS replies, key
	// presses, delivery reports); empty disables them.
	TwilioAuthToken string
	// Pages serves Twilio's webhooks; required with TwilioAuthToken.
	Pages Pages
	// PublicHost is the server's external base URL, the host Twilio signs.
	PublicHost string
	// Changes, when set, records change events (POST /api/v1/changes and
	// PagerDuty's POST /v2/change/enqueue).
	Changes Changes
	// Runbooks, when set, serves a runbook wait's Slack buttons; Contacts
	// maps the clicking Slack user to a contact (an approver), and Slack
	// answers the click (the message updated, an ephemeral refusal).
	Runbooks Runbooks
	Contacts Contacts
	Slack    SlackReplies
	// Pacer, when set, holds an answer (its alerts committed) while
	// deliveries are behind (engine.Pacer).
	Pacer Pacer
	// Metrics, when set, counts alerts, incidents opened, intake warnings
	// and paced answers.
	Metrics *api.Metrics
	Now     func() time.Time
	Logger  *slog.Logger
}

// SNS configures the intake of CloudWatch alarms delivered by Amazon SNS.
type SNS struct {
	// Verifier checks messages' signatures; nil skips verification (tests only).
	Verifier *ingest.SNSVerifier
	// Topics, when set, pins the topics /api/v1/alerts/cloudwatch accepts.
	Topics []string
	// Path is an extra path serving SNS deliveries (Versus's queue.sns
	// path), accepting only PathTopics. With verification on and the
	// topics pinned it needs no integration token, as in Versus.
	Path       string
	PathTopics []string
}

// Server serves the webhooks.
type Server struct {
	store Store
	opts  Options
	// decodes skips decoding a body received before (repeats).
	decodes ingest.DecodeCache
}

// New returns the webhooks over store; Register puts their routes on a mux.
func New(store Store, opts Options) *Server {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = api.DefaultMaxBodyBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.TwilioAuthToken != "" && opts.Pages == nil {
		panic("inbound: Options.Pages is required with Options.TwilioAuthToken")
	}
	return &Server{store: store, opts: opts}
}

// Register adds the webhooks' routes to m.
func (s *Server) Register(m *http.ServeMux) {
	m.HandleFunc("POST /api/v1/alerts/{source}", s.requireIngest(s.handleAlerts))
	// PagerDuty's senders authenticate with the body's routing_key, which
	// handlePagerDuty checks itself; /v2/enqueue is PagerDuty's own path.
	m.HandleFunc("POST /api/v1/alerts/pagerduty", s.handlePagerDuty)
	m.HandleFunc("POST /v2/enqueue", s.handlePagerDuty)
	m.HandleFunc("POST /api/incidents", s.requireIngest(s.handleVersusIncidents))
	m.HandleFunc("POST /api/incidents/", s.requireIngest(s.handleVersusIncidents))
	if p := s.opts.SNS.Path; p != "" && p != "/api/v1/alerts/cloudwatch" {
		h := func(w http.ResponseWriter, r *http.Request) { s.handleSNS(w, r, s.opts.SNS.PathTopics) }
		if s.snsPathTrusted() {
			// Versus's SNS subscriptions carry no token: a signed message
			// from the one pinned topic is authenticated enough, so they
			// keep working unchanged.
			m.HandleFunc("POST "+p, h)
		} else {
			m.HandleFunc("POST "+p, s.requireIngest(h))
		}
	}
	if s.opts.Changes != nil {
		s.changeRoutes(m)
	}
	m.HandleFunc("POST /api/v1/slack/interactions", s.handleSlackInteraction)
	if s.opts.TwilioAuthToken != "" {
		m.HandleFunc("POST /api/v1/twilio/sms", s.twilioSigned(s.handleTwilioSMS))
		m.HandleFunc("POST /api/v1/twilio/voice/{page}", s.twilioSigned(s.handleTwilioVoice))
		m.HandleFunc("POST /api/v1/twilio/status", s.twilioSigned(s.handleTwilioStatus))
	}
}

// ingestToken returns the integration token of an intake request: the
// bearer token or the token query parameter (for senders that cannot set
// headers, such as SNS subscriptions).
func ingestToken(r *http.Request) string {
	if t := api.Bearer(r); t != "" {
		return t
	}
	return r.URL.Query().Get("token")
}

// authenticated reports whether the request carries a valid integration token.
func (s *Server) authenticated(r *http.Request) bool {
	return s.opts.Tokens.Match(ingestToken(r))
}

func (s *Server) requireIngest(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.opts.Open && !s.authenticated(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tocsin-ingest"`)
			api.Error(w, r, tocsin.Errorf(tocsin.EUNAUTHORIZED, "a valid integration token is required (Authorization: Bearer TOKEN or ?token=TOKEN)"))
			return
		}
		h(w, r)
	}
}

// snsPathTrusted reports whether the SNS path (Versus's queue.sns) may be
// used without an integration token: only when every message's signature
// is verified and the path accepts only pinned topics, so nobody but the
// owner of those topics can post there.
func (s *Server) snsPathTrusted() bool {
	if s.opts.SNS.Verifier == nil || len(s.opts.SNS.PathTopics) == 0 {
		return false
	}
	return !slices.Contains(s.opts.SNS.PathTopics, "")
}

// readBody reads the request body within the size limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return api.ReadBody(w, r, s.opts.MaxBodyBytes)
}

// fail logs and writes an error.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	api.Fail(s.opts.Logger, w, r, err)
}
