package inbound

import (
	"net/http"
	"slices"
	"time"

	"tocsin"
	"tocsin/api"
	"tocsin/ingest"
)

// ingestResponse is the body of a successful intake.
type ingestResponse struct {
	Status      string                `json:"status"`
	Count       int                   `json:"count"`
	IncidentIDs []string              `json:"incident_ids"`
	Results     []tocsin.IngestResult `json:"results"`
	// Warnings name the request parameters that were ignored.
	Warnings []string `json:"warnings,omitempty"`
}

// handleAlerts serves POST /api/v1/alerts/{source}.
func (s *Server) handleAlerts(w http.ResponseWriter, r *http.Request) {
	source := r.PathValue("source")
	if source == tocsin.SourceCloudWatch {
		s.handleSNS(w, r, s.opts.SNS.Topics)
		return
	}
	decode, ok := ingest.Lookup(source)
	if !ok {
		api.Error(w, r, tocsin.Errorf(tocsin.ENOTFOUND, "unknown alert source %q (known: alertmanager, grafana, cloudwatch, sentry, pagerduty, generic)", source))
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.debugBody(source, body)
	alerts, err := s.decodes.Decode(source, decode, body, s.opts.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	results, warnings, err := s.ingest(r, source, alerts, "", s.authenticated(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	api.WriteJSON(w, statusFor(results), ingestResponse{Status: "ok", Count: len(alerts), IncidentIDs: incidentIDs(results), Results: results, Warnings: warnings})
}

// handleVersusIncidents serves Versus Incident's POST /api/incidents: any
// JSON object or array, formats auto-detected.
func (s *Server) handleVersusIncidents(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.debugBody("versus", body)
	alerts, err := s.decodes.Decode("versus", ingest.Detect, body, s.opts.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, a := range alerts {
		// CloudWatch alarms are trusted only through SNS, whose signature is
		// checked: an unsigned alarm here must not touch (or resolve) the
		// incidents of signed ones, so it is grouped as plain JSON.
		if a.Source == tocsin.SourceCloudWatch {
			a.Source = tocsin.SourceJSON
		}
	}
	results, warnings, err := s.ingest(r, "versus", alerts, "", s.authenticated(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := "Incident created"
	if len(results) != 1 {
		status = "Incidents created"
	}
	// Versus answers 201 without ids or warnings; we add them.
	api.WriteJSON(w, http.StatusCreated, ingestResponse{Status: status, Count: len(alerts), IncidentIDs: incidentIDs(results), Results: results, Warnings: warnings})
}

// handleSNS serves CloudWatch alarms delivered by Amazon SNS: it confirms
// subscriptions and ingests notifications, after checking the signature.
func (s *Server) handleSNS(w http.ResponseWriter, r *http.Request, topics []string) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.debugBody(tocsin.SourceCloudWatch, body)
	msg, err := ingest.ParseSNS(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(topics) > 0 && !slices.Contains(topics, msg.TopicArn) {
		api.Error(w, r, tocsin.Errorf(tocsin.EFORBIDDEN, "SNS topic %q is not accepted here", msg.TopicArn))
		return
	}
	if s.opts.SNS.Verifier != nil {
		if err := s.opts.SNS.Verifier.Verify(r.Context(), msg); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	switch msg.Type {
	case "SubscriptionConfirmation":
		if s.opts.SNS.Verifier == nil {
			api.Error(w, r, tocsin.Errorf(tocsin.EINVALID, "SNS subscription confirmation needs signature verification enabled"))
			return
		}
		if err := s.opts.SNS.Verifier.Confirm(r.Context(), msg); err != nil {
			s.fail(w, r, err)
			return
		}
		s.opts.Logger.Info("confirmed SNS subscription", "topic_arn", msg.TopicArn)
		api.WriteJSON(w, http.StatusOK, map[string]string{"status": "subscription confirmed"})
		return
	case "UnsubscribeConfirmation":
		api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	case "Notification":
	default:
		api.Error(w, r, tocsin.Errorf(tocsin.EINVALID, "unsupported SNS message type %q", msg.Type))
		return
	}
	alerts, err := ingest.CloudWatchAlarm([]byte(msg.Message), s.opts.Now())
	if err != nil {
		s.fail(w, r, tocsin.Errorf(tocsin.EINVALID, "SNS Message is not a CloudWatch alarm: %s", tocsin.ErrorMessage(err)))
		return
	}
	// SNS delivers at least once and a signed message can be replayed
	// within its validity window: each MessageId is ingested once.
	results, warnings, err := s.ingest(r, tocsin.SourceCloudWatch, alerts, "sns:"+msg.TopicArn+":"+msg.MessageId, s.authenticated(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	api.WriteJSON(w, statusFor(results), ingestResponse{Status: "ok", Count: len(alerts), IncidentIDs: incidentIDs(results), Results: results, Warnings: warnings})
}

// ingest stores decoded alerts with the options of the request's query
// parameters. key, when set, makes a repeat of the request change nothing;
// authed says whether the request carried a valid integration token. It
// returns the warnings about parameters that were ignored.
func (s *Server) ingest(r *http.Request, source string, alerts []*tocsin.Alert, key string, authed bool) ([]tocsin.IngestResult, []string, error) {
	opts, warnings := s.ingestOptions(r, authed)
	opts.IdempotencyKey, opts.Integration = key, source
	results, err := s.store.Ingest(r.Context(), alerts, opts)
	if err != nil {
		return nil, nil, err
	}
	var paced time.Duration
	if s.opts.Pacer != nil {
		// Committed already: the wait slows the sender, it risks nothing.
		paced = s.opts.Pacer.Wait(r.Context())
	}
	if len(warnings) > 0 {
		// Logged without values: the warnings themselves are in the answer
		// and on the timeline.
		params := make([]string, len(warnings))
		for i, w := range warnings {
			params[i] = w.Param + " (" + w.Reason + ")"
		}
		s.opts.Logger.Info("intake ignored request parameters", "source", source, "path", r.URL.Path, "ignored", params)
	}
	if m := s.opts.Metrics; m != nil {
		for _, a := range alerts {
			m.AlertsReceived.WithLabelValues(a.Source).Inc()
		}
		for _, res := range results {
			if res.Created {
				m.IncidentsOpened.Inc()
			}
		}
		for _, w := range warnings {
			m.IntakeWarnings.WithLabelValues(w.Reason).Inc()
		}
		if paced > 0 {
			m.IntakePaced.Inc()
			m.IntakePacedSeconds.Add(paced.Seconds())
		}
	}
	return results, opts.Warnings, nil
}

func (s *Server) debugBody(source string, body []byte) {
	if s.opts.DebugBody {
		s.opts.Logger.Debug("intake body", "source", source, "bytes", len(body), "body", string(body))
	}
}

func statusFor(results []tocsin.IngestResult) int {
	for _, r := range results {
		if r.Created {
			return http.StatusCreated
		}
	}
	return http.StatusOK
}

func incidentIDs(results []tocsin.IngestResult) []string {
	ids := []string{}
	seen := map[string]bool{}
	for _, r := range results {
		if r.IncidentID != "" && !seen[r.IncidentID] {
			seen[r.IncidentID] = true
			ids = append(ids, r.IncidentID)
		}
	}
	return ids
}
