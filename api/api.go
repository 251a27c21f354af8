// Package api serves tocsin's HTTP interface: alert intake (ours and
// Versus Incident's), the incident JSON API, acknowledgement links, Slack
// interactivity, health and metrics.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"tocsin"
	"tocsin/ingest"
	"tocsin/netguard"
)

// Store is what the API needs from the store.
type Store interface {
	tocsin.IncidentService
	// Ready reports whether the store can commit a write (readiness).
	Ready(ctx context.Context) error
}

// Options configure a Server.
type Options struct {
	// APITokens are accepted by /api/v1 incident endpoints.
	APITokens []string
	// IngestTokens are accepted by alert intake.
	IngestTokens []string
	// APITokenHashes and IngestTokenHashes accept tokens by their hex
	// SHA-256 (store.TokenHash): generated tokens are kept only so.
	APITokenHashes, IngestTokenHashes []string
	// IngestOpen accepts alerts without a token (Versus's behaviour).
	IngestOpen bool
	// MaxBodyBytes limits request bodies (default 1 MiB).
	MaxBodyBytes int64
	// Acks signs and checks acknowledgement links.
	Acks *AckSigner
	// SlackSigningSecret verifies Slack interactivity requests; empty
	// disables the endpoint.
	SlackSigningSecret string
	// SNS verifies CloudWatch alarms delivered by Amazon SNS; nil skips
	// verification (tests only).
	SNS *ingest.SNSVerifier
	// SNSTopics, when set, pins the topics /api/v1/alerts/cloudwatch accepts.
	SNSTopics []string
	// SNSPath is an extra path serving SNS deliveries (Versus's queue.sns
	// path), accepting only SNSPathTopics. With SNS verification on and
	// the topics pinned it needs no integration token, as in Versus.
	SNSPath       string
	SNSPathTopics []string
	// TwilioAuthToken verifies Twilio's webhooks (SMS replies, key
	// presses, delivery reports); empty disables them.
	TwilioAuthToken string
	// Pages acknowledges pages from those webhooks.
	Pages Pages
	// Overrides says which per-request query parameters take effect.
	Overrides Overrides
	// OnCall serves contacts, rotations, overrides, schedules, escalation
	// plans, who is on call and calendar feeds; nil answers those routes
	// with 404 "on-call is not configured".
	OnCall OnCallStore
	// WebhookGuard judges the URLs of contacts' webhook channels when a
	// contact is saved: one whose host is a literal internal address or
	// localhost is refused with 400 (the pager's client checks every
	// connection again after DNS). Nil allows public addresses only.
	WebhookGuard *netguard.Guard
	// SendActivation sends a new activation code through a contact's
	// channel (POST …/channels/{channel}/activation); nil answers 501.
	SendActivation func(ctx context.Context, alias, channel string) error
	// TestPage pages a contact (kind "contact") or runs an escalation plan
	// (kind "escalation_plan") for real on an incident marked as a test,
	// and returns that incident's id; nil answers 501.
	TestPage func(ctx context.Context, kind, name string) (incidentID string, err error)
	// PublicHost is the server's external base URL, used in calendar links
	// (which fall back to Acks.PublicHost, else the request's host) and to
	// check Twilio's signatures.
	PublicHost string
	// DebugBody logs intake bodies at debug level (Versus's alert.debug_body).
	DebugBody bool
	Now       func() time.Time
	Logger    *slog.Logger
	Metrics   *Metrics
	// MetricsToken, when set, is required as a bearer token on /metrics.
	MetricsToken string
	// MetricsElsewhere leaves /metrics off this handler: the caller serves
	// MetricsHandler on a listener of its own (metrics.listen).
	MetricsElsewhere bool
}

// DefaultMaxBodyBytes is the default intake body limit.
const DefaultMaxBodyBytes = 1 << 20

// Server is tocsin's HTTP handler.
type Server struct {
	store Store
	opts  Options
	mux   *http.ServeMux
}

// New returns the HTTP handler over store.
func New(store Store, opts Options) *Server {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{store: store, opts: opts, mux: http.NewServeMux()}
	s.routes()
	return s
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("GET /readyz", s.handleReady)
	if s.opts.Metrics != nil && !s.opts.MetricsElsewhere {
		m.Handle("GET /metrics", s.MetricsHandler())
	}

	m.HandleFunc("POST /api/v1/alerts/{source}", s.requireIngest(s.handleAlerts))
	// PagerDuty's senders authenticate with the body's routing_key, which
	// handlePagerDuty checks itself; /v2/enqueue is PagerDuty's own path.
	m.HandleFunc("POST /api/v1/alerts/pagerduty", s.handlePagerDuty)
	m.HandleFunc("POST /v2/enqueue", s.handlePagerDuty)
	m.HandleFunc("POST /api/incidents", s.requireIngest(s.handleVersusIncidents))
	m.HandleFunc("POST /api/incidents/", s.requireIngest(s.handleVersusIncidents))
	if p := s.opts.SNSPath; p != "" && p != "/api/v1/alerts/cloudwatch" {
		h := func(w http.ResponseWriter, r *http.Request) { s.handleSNS(w, r, s.opts.SNSPathTopics) }
		if s.snsPathTrusted() {
			// Versus's SNS subscriptions carry no token: a signed message
			// from the one pinned topic is authenticated enough, so they
			// keep working unchanged.
			m.HandleFunc("POST "+p, h)
		} else {
			m.HandleFunc("POST "+p, s.requireIngest(h))
		}
	}

	m.HandleFunc("GET /api/ack/{id}", s.handleAckPage)
	m.HandleFunc("HEAD /api/ack/{id}", s.handleAckHead)
	m.HandleFunc("POST /api/ack/{id}", s.handleAckPost)
	m.HandleFunc("GET /incidents/{id}", s.handleIncidentPage)
	m.HandleFunc("POST /api/v1/slack/interactions", s.handleSlackInteraction)

	m.HandleFunc("GET /api/v1/incidents", s.requireAPI(s.handleListIncidents))
	m.HandleFunc("GET /api/v1/incidents/{id}", s.requireAPI(s.handleGetIncident))
	m.HandleFunc("POST /api/v1/incidents/{id}/acknowledge", s.requireAPI(s.handleAcknowledge))
	m.HandleFunc("POST /api/v1/incidents/{id}/resolve", s.requireAPI(s.handleResolve))
	m.HandleFunc("POST /api/v1/incidents/{id}/notes", s.requireAPI(s.handleAddNote))
	m.HandleFunc("POST /api/v1/incidents/{id}/redeliver", s.requireAPI(s.handleRedeliver))
	s.twilioRoutes()
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, tocsin.Errorf(tocsin.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path))
	})
	s.oncallRoutes()
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

// handleReady answers 200 only when the store can commit: a database that
// answers reads but cannot write (a full disk, a lost lock) cannot take alerts.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ready(ctx); err != nil {
		s.opts.Logger.Warn("readiness: the database cannot commit", "err", err)
		Error(w, r, tocsin.Errorf(tocsin.EUNAVAILABLE, "the database cannot commit"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// MetricsHandler serves Prometheus metrics, behind MetricsToken when set.
func (s *Server) MetricsHandler() http.Handler {
	h := s.opts.Metrics.Handler()
	if s.opts.MetricsToken == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tokenMatches(bearer(r), []string{s.opts.MetricsToken}) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tocsin-metrics"`)
			Error(w, r, tocsin.Errorf(tocsin.EUNAUTHORIZED, "a valid metrics token is required (Authorization: Bearer TOKEN)"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// codes maps application error codes to HTTP status codes: the one table.
var codes = map[string]int{
	tocsin.EINVALID:        http.StatusBadRequest,
	tocsin.EUNAUTHORIZED:   http.StatusUnauthorized,
	tocsin.EFORBIDDEN:      http.StatusForbidden,
	tocsin.ENOTFOUND:       http.StatusNotFound,
	tocsin.ECONFLICT:       http.StatusConflict,
	tocsin.ETOOLARGE:       http.StatusRequestEntityTooLarge,
	tocsin.EUNAVAILABLE:    http.StatusServiceUnavailable,
	tocsin.ENOTIMPLEMENTED: http.StatusNotImplemented,
	tocsin.EINTERNAL:       http.StatusInternalServerError,
}

// StatusCode returns the HTTP status of an application error code.
func StatusCode(code string) int {
	if s, ok := codes[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error writes err as {"error": {"code", "message"}} with the status of its
// code. Internal errors are logged by the caller's logger and shown generically.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := tocsin.ErrorCode(err), tocsin.ErrorMessage(err)
	status := StatusCode(code)
	if code == tocsin.EUNAVAILABLE {
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// logError logs errors that are the server's fault once, at the edge.
func (s *Server) logError(r *http.Request, err error) {
	switch tocsin.ErrorCode(err) {
	case tocsin.EINTERNAL, tocsin.EUNAVAILABLE:
		s.opts.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
}

// fail logs and writes an error.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.logError(r, err)
	Error(w, r, err)
}

// decodeJSON strictly decodes an API body into v: unknown fields and
// trailing data are errors naming the problem.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return tocsin.Errorf(tocsin.EINVALID, "invalid JSON body: %s", jsonProblem(err))
	}
	if dec.More() {
		return tocsin.Errorf(tocsin.EINVALID, "invalid JSON body: trailing data after the object")
	}
	return nil
}

// jsonProblem describes a JSON decoding error without echoing the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error at offset " + itoa(se.Offset) + ": " + se.Error()
	case errors.As(err, &te):
		return "field " + strings.TrimPrefix(te.Field, ".") + " must be " + te.Type.String() + ", not " + te.Value
	}
	return err.Error()
}
