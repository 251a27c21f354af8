package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tocsin"
)

// handleListIncidents serves GET /api/v1/incidents?status=&impact=&since=&cursor=&limit=.
func (s *Server) handleListIncidents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f tocsin.IncidentFilter
	for _, st := range splitList(q["status"]) {
		switch st {
		case tocsin.StatusTriggered, tocsin.StatusAcknowledged, tocsin.StatusResolved:
			f.Status = append(f.Status, st)
		case "open":
			f.Status = append(f.Status, tocsin.StatusTriggered, tocsin.StatusAcknowledged)
		default:
			Error(w, r, tocsin.Errorf(tocsin.EINVALID, "status: %q is not one of triggered, acknowledged, resolved, open", st))
			return
		}
	}
	for _, im := range splitList(q["impact"]) {
		n, err := strconv.Atoi(im)
		if err != nil || n < 1 || n > 5 {
			Error(w, r, tocsin.Errorf(tocsin.EINVALID, "impact: %q is not an integer from 1 to 5", im))
			return
		}
		f.Impact = append(f.Impact, n)
	}
	if v := q.Get("since"); v != "" {
		t, err := parseSince(v, s.opts.Now())
		if err != nil {
			Error(w, r, err)
			return
		}
		f.Since = &t
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			Error(w, r, tocsin.Errorf(tocsin.EINVALID, "limit: %q is not an integer from 1 to 500", v))
			return
		}
		f.Limit = n
	}
	f.Cursor = q.Get("cursor")
	incs, next, err := s.store.ListIncidents(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if incs == nil {
		incs = []*tocsin.Incident{}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"incidents": incs, "next_cursor": next})
}

// parseSince reads an RFC 3339 time or a duration back from now ("24h").
func parseSince(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, tocsin.Errorf(tocsin.EINVALID, "since: %q is neither an RFC 3339 time nor a duration like 24h", v)
}

func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func (s *Server) handleGetIncident(w http.ResponseWriter, r *http.Request) {
	inc, err := s.store.FindIncident(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if es := s.opts.Engagements; es != nil {
		if inc.Engagements, err = es.ForIncident(r.Context(), inc.ID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"incident": inc})
}

// actorRequest is the optional body of acknowledge and resolve.
type actorRequest struct {
	By string `json:"by"`
}

func (s *Server) actor(w http.ResponseWriter, r *http.Request) (tocsin.Actor, error) {
	var req actorRequest
	if r.ContentLength != 0 {
		if err := s.decodeStrict(w, r, &req); err != nil {
			return tocsin.Actor{}, err
		}
	}
	return tocsin.Actor{Name: SanitizeActor(strings.TrimSpace(req.By)), Via: "api"}, nil
}

func (s *Server) handleAcknowledge(w http.ResponseWriter, r *http.Request) {
	s.transition(w, r, s.store.Acknowledge)
}

func (s *Server) handleResolve(w http.ResponseWriter, r *http.Request) {
	s.transition(w, r, s.store.Resolve)
}

func (s *Server) transition(w http.ResponseWriter, r *http.Request, op func(ctx context.Context, id string, by tocsin.Actor) (*tocsin.Incident, bool, error)) {
	by, err := s.actor(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	inc, changed, err := op(r.Context(), r.PathValue("id"), by)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"incident": inc, "changed": changed})
}

// noteRequest is the body of POST /api/v1/incidents/{id}/notes.
type noteRequest struct {
	Text string `json:"text"`
	By   string `json:"by"`
}

func (s *Server) handleAddNote(w http.ResponseWriter, r *http.Request) {
	var req noteRequest
	if err := s.decodeStrict(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(req.Text) > 10000 {
		Error(w, r, tocsin.Errorf(tocsin.EINVALID, "text: longer than 10000 characters"))
		return
	}
	ev, err := s.store.AddNote(r.Context(), r.PathValue("id"), tocsin.Actor{Name: SanitizeActor(strings.TrimSpace(req.By)), Via: "api"}, req.Text)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, map[string]any{"event": ev})
}

// redeliverRequest is the optional body of POST /api/v1/incidents/{id}/redeliver.
type redeliverRequest struct {
	// Channel limits the redelivery to one channel or on-call provider.
	Channel string `json:"channel"`
	By      string `json:"by"`
}

// handleRedeliver queues an incident's failed deliveries again.
func (s *Server) handleRedeliver(w http.ResponseWriter, r *http.Request) {
	var req redeliverRequest
	if r.ContentLength != 0 {
		if err := s.decodeStrict(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	channel := strings.TrimSpace(req.Channel)
	if len(channel) > 100 || strings.ContainsAny(channel, ":\x00") {
		Error(w, r, tocsin.Errorf(tocsin.EINVALID, "channel: not a channel or on-call provider name"))
		return
	}
	by := tocsin.Actor{Name: SanitizeActor(strings.TrimSpace(req.By)), Via: "api"}
	n, err := s.store.Redeliver(r.Context(), r.PathValue("id"), channel, by)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusAccepted, map[string]any{"requeued": n})
}
