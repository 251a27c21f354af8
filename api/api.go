// Package api serves tocsin's JSON API to its own users and tools: the
// incident API, the on-call API (contacts, rotations, schedules,
// escalation plans, coverage, calendar feeds), health and readiness. It
// holds the one table from error codes to HTTP status, the JSON error
// writer and the token checks that inbound/ and web/ reuse.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tocsin"
	"tocsin/netguard"
	"tocsin/runbook"
)

// Store is what the incident routes need from the store (store.Incidents).
type Store interface {
	FindIncident(ctx context.Context, id string) (*tocsin.Incident, error)
	ListIncidents(ctx context.Context, f tocsin.IncidentFilter) (incidents []*tocsin.Incident, next string, err error)
	Acknowledge(ctx context.Context, id string, by tocsin.Actor) (inc *tocsin.Incident, changed bool, err error)
	Resolve(ctx context.Context, id string, by tocsin.Actor) (inc *tocsin.Incident, changed bool, err error)
	AddNote(ctx context.Context, id string, by tocsin.Actor, text string) (*tocsin.TimelineEvent, error)
	Redeliver(ctx context.Context, id, channel string, by tocsin.Actor) (int, error)
}

// Health is what readiness needs from the store.
type Health interface {
	// Ready reports whether the store can commit a write.
	Ready(ctx context.Context) error
}

// EngagementLister lists an incident's engagements (store.Engagements).
type EngagementLister interface {
	ForIncident(ctx context.Context, incidentID string) ([]*tocsin.Engagement, error)
}

// Keys keeps the key that signs calendar links (store.Secrets).
type Keys interface {
	Secret(ctx context.Context, name string) (string, error)
	RotateSecret(ctx context.Context, name string) error
}

// Options configure a Server.
type Options struct {
	// Tokens are accepted by every /api/v1 route of this package.
	Tokens Tokens
	// MaxBodyBytes limits request bodies (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// ChannelKeys, by channel, report whether a key names one of its
	// configured alternates (Teams' other_power_urls, Lark's
	// other_webhook_urls): a response plan's chat destination for such a
	// channel must be one of them.
	ChannelKeys map[string]func(key string) bool
	// Channels are the enabled team channels by name: an escalation plan
	// may target only these.
	Channels map[string]bool
	// Health answers /readyz; nil answers it 503.
	Health Health
	// Engagements, when set, adds its engagements to an incident's GET.
	Engagements EngagementLister
	// OnCall serves contacts, rotations, overrides, schedules, escalation
	// plans, who is on call and calendar feeds; nil answers those routes
	// with 404 "on-call is not configured".
	OnCall OnCallStore
	// ResponsePlans serves /api/v1/response-plans and /api/v1/routing,
	// and says whether a start's response_plan exists; nil leaves those
	// routes out (404) and refuses every named plan.
	ResponsePlans ResponsePlanStore
	// Runbooks keeps runbook documents and their executions: it serves
	// /api/v1/runbooks and /api/v1/runbook-executions, and response plans
	// may name only its runbooks. Nil leaves those routes out (404) and
	// response plans' runbooks unchecked.
	Runbooks tocsin.RunbookStore
	// RunbookPolicy is what the configuration lets runbooks do
	// (runbooks.http.allow, runbooks.scripts.*): a document it does not
	// allow is refused when put, naming the key that would allow it.
	RunbookPolicy runbook.Policy
	// Keys keeps the key of calendar links; required with OnCall.
	Keys Keys
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
	// Record serves the incident record: POST and PATCH of incidents,
	// their timeline events, related items and findings; nil leaves
	// those routes out.
	Record Record
	// AttachmentMaxBytes is the attachment limit, which raises the body
	// limit of the routes that carry one.
	AttachmentMaxBytes int64
	// PublicHost is the server's external base URL, used in calendar
	// links (else the request's host).
	PublicHost string
	Now        func() time.Time
	Logger     *slog.Logger
}

// DefaultMaxBodyBytes is the default request body limit.
const DefaultMaxBodyBytes = 1 << 20

// Server serves the JSON API.
type Server struct {
	store Store
	opts  Options
	mux   *http.ServeMux
}

// New returns the JSON API over store; Register puts its routes on a mux.
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
	if opts.OnCall != nil && opts.Keys == nil {
		panic("api: Options.Keys is required with Options.OnCall")
	}
	return &Server{store: store, opts: opts}
}

// Register adds the API's routes to m, with the JSON 404 that answers
// every /api/ path no package claims.
func (s *Server) Register(m *http.ServeMux) {
	s.mux = m
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("GET /readyz", s.handleReady)

	m.HandleFunc("GET /api/v1/incidents", s.requireAPI(s.handleListIncidents))
	m.HandleFunc("GET /api/v1/incidents/{id}", s.requireAPI(s.handleGetIncident))
	m.HandleFunc("POST /api/v1/incidents/{id}/acknowledge", s.requireAPI(s.handleAcknowledge))
	m.HandleFunc("POST /api/v1/incidents/{id}/resolve", s.requireAPI(s.handleResolve))
	m.HandleFunc("POST /api/v1/incidents/{id}/notes", s.requireAPI(s.handleAddNote))
	m.HandleFunc("POST /api/v1/incidents/{id}/redeliver", s.requireAPI(s.handleRedeliver))
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, tocsin.Errorf(tocsin.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path))
	})
	s.oncallRoutes()
	s.responsePlanRoutes()
	s.runbookRoutes()
	if s.opts.Record != nil {
		s.recordRoutes(m)
	}
}

// NoSniff sets the headers every answer of the server carries.
func NoSniff(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// handleReady answers 200 only when the store can commit: a database that
// answers reads but cannot write (a full disk, a lost lock) cannot take alerts.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if s.opts.Health == nil {
		Error(w, r, tocsin.Errorf(tocsin.EUNAVAILABLE, "readiness is not configured"))
		return
	}
	if err := s.opts.Health.Ready(ctx); err != nil {
		s.opts.Logger.Warn("readiness: the database cannot commit", "err", err)
		Error(w, r, tocsin.Errorf(tocsin.EUNAVAILABLE, "the database cannot commit"))
		return
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// fail logs and writes an error.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	Fail(s.opts.Logger, w, r, err)
}

// jsonProblem describes a JSON decoding error without echoing the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error at offset " + strconv.FormatInt(se.Offset, 10) + ": " + se.Error()
	case errors.As(err, &te):
		return "field " + strings.TrimPrefix(te.Field, ".") + " must be " + te.Type.String() + ", not " + te.Value
	}
	return err.Error()
}
