package inbound

import (
	"net/http"

	"tocsin"
	"tocsin/api"
	"tocsin/ingest"
)

// pagerDutyResponse is the answer of PagerDuty's Events API v2, which its
// senders (Alertmanager's pagerduty_configs, go-pagerduty, …) read.
type pagerDutyResponse struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key,omitempty"`
	Errors   []string `json:"errors,omitempty"`
	// Ours: the incidents touched and the query parameters ignored.
	IncidentIDs []string `json:"incident_ids,omitempty"`
	Warnings    []string `json:"warnings,omitempty"`
}

// handlePagerDuty serves PagerDuty's Events API v2 at its own path,
// POST /v2/enqueue, and at POST /api/v1/alerts/pagerduty, so a sender
// needs only a new URL. Like PagerDuty it authenticates with the body's
// routing_key, which must be an integration token (ingest.tokens); a
// bearer or ?token= token works too. It answers as PagerDuty does: 202
// {"status":"success","message":"Event processed","dedup_key":…}, and 400
// {"status":"invalid event","message":"Event object is invalid","errors":[…]}
// for an invalid event or routing key.
func (s *Server) handlePagerDuty(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.pagerDutyFail(w, r, err)
		return
	}
	if s.opts.DebugBody {
		s.debugBody(tocsin.SourcePagerDuty, ingest.RedactPagerDuty(body))
	}
	authed := s.authenticated(r) || s.opts.Tokens.Match(ingest.PagerDutyRoutingKey(body))
	if !authed && !s.opts.Open {
		// PagerDuty's answer to a routing key it does not know.
		api.WriteJSON(w, http.StatusBadRequest, pagerDutyResponse{Status: "invalid event", Message: "Event object is invalid",
			Errors: []string{"Invalid routing key: routing_key must be one of this server's integration tokens (ingest.tokens)"}})
		return
	}
	alerts, err := ingest.PagerDuty(body, s.opts.Now())
	if err != nil {
		s.pagerDutyFail(w, r, err)
		return
	}
	results, warnings, err := s.ingest(r, tocsin.SourcePagerDuty, alerts, "", authed)
	if err != nil {
		s.pagerDutyFail(w, r, err)
		return
	}
	// The sender's own dedup_key (or the one generated for it), which it
	// sends back to acknowledge or resolve: the alert's fingerprint.
	api.WriteJSON(w, http.StatusAccepted, pagerDutyResponse{Status: "success", Message: "Event processed", DedupKey: alerts[0].Fingerprint,
		IncidentIDs: incidentIDs(results), Warnings: warnings})
}

// pagerDutyFail answers an error in the Events API v2's shape: a bad event
// is 400 "invalid event" with the problem in errors; anything else keeps
// the status of its code (5xx and 503 are retried by senders).
func (s *Server) pagerDutyFail(w http.ResponseWriter, r *http.Request, err error) {
	api.LogError(s.opts.Logger, r, err)
	code, msg := tocsin.ErrorCode(err), tocsin.ErrorMessage(err)
	switch code {
	case tocsin.EINVALID, tocsin.ETOOLARGE:
		api.WriteJSON(w, http.StatusBadRequest, pagerDutyResponse{Status: "invalid event", Message: "Event object is invalid", Errors: []string{msg}})
		return
	case tocsin.EUNAVAILABLE:
		w.Header().Set("Retry-After", "5")
	}
	api.WriteJSON(w, api.StatusCode(code), pagerDutyResponse{Status: "error", Message: msg})
}
