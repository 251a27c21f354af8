package inbound

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"tocsin"
	"tocsin/api"
	"tocsin/ingest"
	"tocsin/strict"
)

// Changes records change events (store.Incidents): the deploys and
// configuration changes an incident shows as findings.
type Changes interface {
	RecordChange(ctx context.Context, c *tocsin.ChangeEvent) (*tocsin.ChangeEvent, error)
}

func (s *Server) changeRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /api/v1/changes", s.requireIngest(s.handleChange))
	// PagerDuty's own path: senders authenticate with the routing_key.
	m.HandleFunc("POST /v2/change/enqueue", s.handlePagerDutyChange)
}

// changeRequest is the body of POST /api/v1/changes: our own format,
// decoded strictly.
type changeRequest struct {
	Service   string         `json:"service"`
	Summary   string         `json:"summary"`
	Timestamp time.Time      `json:"timestamp"`
	Source    string         `json:"source"`
	Links     []tocsin.Link  `json:"links"`
	Custom    map[string]any `json:"custom"`
}

// handleChange records a change event: 201 with it, or 400 naming the field.
func (s *Server) handleChange(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req changeRequest
	if err := strict.JSON(body, &req); err != nil {
		var probs strict.Problems
		if errors.As(err, &probs) {
			s.fail(w, r, tocsin.Errorf(tocsin.EINVALID, "invalid JSON body: %s", probs))
		} else {
			s.fail(w, r, tocsin.Errorf(tocsin.EINVALID, "invalid JSON body: %v", err))
		}
		return
	}
	c := &tocsin.ChangeEvent{Service: req.Service, Summary: req.Summary, Timestamp: req.Timestamp, Source: req.Source, Links: req.Links}
	if req.Custom != nil {
		c.Custom, _ = json.Marshal(req.Custom)
	}
	c, err = s.opts.Changes.RecordChange(r.Context(), c)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"change": c})
}

// handlePagerDutyChange serves PagerDuty's change events at their own
// path, authenticated and answered as PagerDuty does (202 "Change event
// processed"; 400 "invalid event" with the problem); ?service= names the
// service when the event does not.
func (s *Server) handlePagerDutyChange(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.pagerDutyFail(w, r, err)
		return
	}
	if !s.opts.Open && !s.authenticated(r) && !s.opts.Tokens.Match(ingest.PagerDutyRoutingKey(body)) {
		api.WriteJSON(w, http.StatusBadRequest, pagerDutyResponse{Status: "invalid event", Message: "Event object is invalid",
			Errors: []string{"Invalid routing key: routing_key must be one of this server's integration tokens (ingest.tokens)"}})
		return
	}
	c, err := ingest.PagerDutyChange(body, r.URL.Query().Get("service"), s.opts.Now())
	if err != nil {
		s.pagerDutyFail(w, r, err)
		return
	}
	if _, err := s.opts.Changes.RecordChange(r.Context(), c); err != nil {
		s.pagerDutyFail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusAccepted, pagerDutyResponse{Status: "success", Message: "Change event processed"})
}
