package api

import (
	"context"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tocsin"
)

// Record is what the incident record's routes need from the store
// (store.Incidents): starts by hand, triage, responders' timeline events,
// related items and findings.
type Record interface {
	StartIncident(ctx context.Context, st *tocsin.IncidentStart) (inc *tocsin.Incident, created bool, err error)
	UpdateIncident(ctx context.Context, id string, u *tocsin.IncidentUpdate) (*tocsin.Incident, error)
	AddTimelineEvent(ctx context.Context, id string, in *tocsin.EventInput) (*tocsin.TimelineEvent, error)
	UpdateTimelineEvent(ctx context.Context, id, eventID string, ed *tocsin.EventEdit) (*tocsin.TimelineEvent, error)
	DeleteTimelineEvent(ctx context.Context, id, eventID string, by tocsin.Actor) error
	Timeline(ctx context.Context, id string, f tocsin.TimelineFilter) ([]*tocsin.TimelineEvent, error)
	AddRelatedItem(ctx context.Context, id string, it *tocsin.RelatedItem, by tocsin.Actor) (*tocsin.RelatedItem, error)
	RemoveRelatedItem(ctx context.Context, id, itemID string, by tocsin.Actor) error
	RelatedItems(ctx context.Context, id string) ([]*tocsin.RelatedItem, error)
	RelatedItemContent(ctx context.Context, id, itemID string) (*tocsin.RelatedItem, error)
}

func (s *Server) recordRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /api/v1/incidents", s.requireAPI(s.handleStartIncident))
	m.HandleFunc("PATCH /api/v1/incidents/{id}", s.requireAPI(s.handleUpdateIncident))
	m.HandleFunc("GET /api/v1/incidents/{id}/timeline", s.requireAPI(s.handleTimeline))
	m.HandleFunc("POST /api/v1/incidents/{id}/timeline", s.requireAPI(s.handleAddEvent))
	m.HandleFunc("PATCH /api/v1/incidents/{id}/timeline/{event}", s.requireAPI(s.handleEditEvent))
	m.HandleFunc("DELETE /api/v1/incidents/{id}/timeline/{event}", s.requireAPI(s.handleDeleteEvent))
	m.HandleFunc("GET /api/v1/incidents/{id}/related-items", s.requireAPI(s.handleRelatedItems))
	m.HandleFunc("POST /api/v1/incidents/{id}/related-items", s.requireAPI(s.handleAddItem))
	m.HandleFunc("DELETE /api/v1/incidents/{id}/related-items/{item}", s.requireAPI(s.handleRemoveItem))
	m.HandleFunc("GET /api/v1/incidents/{id}/related-items/{item}/content", s.requireAPI(s.handleItemContent))
	m.HandleFunc("GET /api/v1/incidents/{id}/findings", s.requireAPI(s.handleFindings))
}

// relatedItemRequest is a related item in a request body; an
// attachment's content is base64.
type relatedItemRequest struct {
	Type        string `json:"type"`
	Title       string `json:"title"`
	Value       string `json:"value"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Content     []byte `json:"content"`
	By          string `json:"by"`
}

func (r *relatedItemRequest) item() *tocsin.RelatedItem {
	return &tocsin.RelatedItem{Type: r.Type, Title: r.Title, Value: r.Value, Filename: r.Filename, ContentType: r.ContentType, Content: r.Content}
}

// startRequest is the body of POST /api/v1/incidents (AWS's StartIncident).
type startRequest struct {
	Title          string                 `json:"title"`
	Impact         int                    `json:"impact"`
	Summary        string                 `json:"summary"`
	Tags           map[string]string      `json:"tags"`
	RelatedItems   []relatedItemRequest   `json:"related_items"`
	TriggerDetails *tocsin.TriggerDetails `json:"trigger_details"`
	ResponsePlan   string                 `json:"response_plan"`
	ClientToken    string                 `json:"client_token"`
	By             string                 `json:"by"`
}

// bodyLimit is the body limit of requests that may carry attachments
// (base64 makes them a third larger).
func (s *Server) bodyLimit() int64 {
	return max(s.opts.MaxBodyBytes, s.opts.AttachmentMaxBytes/3*4+64<<10)
}

func (s *Server) decodeLarge(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeBody(w, r, s.bodyLimit(), v)
}

func apiActor(by string) tocsin.Actor {
	return tocsin.Actor{Name: SanitizeActor(strings.TrimSpace(by)), Via: "api"}
}

// handleStartIncident starts an incident by hand: 201 with the incident,
// or 200 with the one a request with the same client_token started.
func (s *Server) handleStartIncident(w http.ResponseWriter, r *http.Request) {
	var req startRequest
	if err := s.decodeLarge(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	st := &tocsin.IncidentStart{Title: req.Title, Impact: req.Impact, Summary: req.Summary, Tags: req.Tags, TriggerDetails: req.TriggerDetails,
		ResponsePlan: req.ResponsePlan, ClientToken: req.ClientToken, By: apiActor(req.By)}
	for _, it := range req.RelatedItems {
		st.RelatedItems = append(st.RelatedItems, it.item())
	}
	if p := req.ResponsePlan; p != "" {
		ok := false
		if s.opts.ResponsePlans != nil {
			_, err := s.opts.ResponsePlans.FindResponsePlan(r.Context(), p)
			if err != nil && tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
				s.fail(w, r, err)
				return
			}
			ok = err == nil
		}
		if !ok {
			Error(w, r, tocsin.Errorf(tocsin.EINVALID, "response_plan: no response plan %q", p))
			return
		}
	}
	inc, created, err := s.opts.Record.StartIncident(r.Context(), st)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	WriteJSON(w, status, map[string]any{"incident": inc, "created": created})
}

// updateRequest is the body of PATCH /api/v1/incidents/{id}.
type updateRequest struct {
	Title   *string `json:"title"`
	Summary *string `json:"summary"`
	Impact  *int    `json:"impact"`
	Status  string  `json:"status"`
	By      string  `json:"by"`
}

func (s *Server) handleUpdateIncident(w http.ResponseWriter, r *http.Request) {
	var req updateRequest
	if err := s.decodeStrict(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	inc, err := s.opts.Record.UpdateIncident(r.Context(), r.PathValue("id"),
		&tocsin.IncidentUpdate{Title: req.Title, Summary: req.Summary, Impact: req.Impact, Status: req.Status, By: apiActor(req.By)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"incident": inc})
}

// handleTimeline serves GET …/timeline?type=&from=&to=&order=: type is a
// kind (custom_event, note, triage, …) or AWS's "Custom Event" / "Note",
// comma-separated; from and to RFC 3339 times; order asc (default) or desc.
func (s *Server) handleTimeline(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f tocsin.TimelineFilter
	for _, t := range splitList(q["type"]) {
		if k := tocsin.EventKind(t); k != "" {
			t = k
		}
		f.Kinds = append(f.Kinds, t)
	}
	for _, p := range []struct {
		key string
		dst **time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(p.key); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				Error(w, r, tocsin.Errorf(tocsin.EINVALID, "%s: %q is not an RFC 3339 time", p.key, v))
				return
			}
			*p.dst = &t
		}
	}
	switch o := q.Get("order"); o {
	case "", "asc", "ASCENDING":
	case "desc", "DESCENDING":
		f.Descending = true
	default:
		Error(w, r, tocsin.Errorf(tocsin.EINVALID, "order: %q is not asc or desc", o))
		return
	}
	events, err := s.opts.Record.Timeline(r.Context(), r.PathValue("id"), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if events == nil {
		events = []*tocsin.TimelineEvent{}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"events": events})
}

// eventRequest is the body of POST …/timeline (AWS's CreateTimelineEvent).
type eventRequest struct {
	EventType       string                  `json:"event_type"`
	EventTime       time.Time               `json:"event_time"`
	EventData       string                  `json:"event_data"`
	EventReferences []tocsin.EventReference `json:"event_references"`
	By              string                  `json:"by"`
}

func (s *Server) handleAddEvent(w http.ResponseWriter, r *http.Request) {
	var req eventRequest
	if err := s.decodeStrict(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	ev, err := s.opts.Record.AddTimelineEvent(r.Context(), r.PathValue("id"), &tocsin.EventInput{Type: req.EventType, Time: req.EventTime,
		Data: req.EventData, References: req.EventReferences, By: apiActor(req.By)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, map[string]any{"event": ev})
}

// editRequest is the body of PATCH …/timeline/{event}; by must be the
// event's author.
type editRequest struct {
	EventTime       *time.Time               `json:"event_time"`
	EventData       *string                  `json:"event_data"`
	EventReferences *[]tocsin.EventReference `json:"event_references"`
	By              string                   `json:"by"`
}

func (s *Server) handleEditEvent(w http.ResponseWriter, r *http.Request) {
	var req editRequest
	if err := s.decodeStrict(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	ev, err := s.opts.Record.UpdateTimelineEvent(r.Context(), r.PathValue("id"), r.PathValue("event"),
		&tocsin.EventEdit{Time: req.EventTime, Data: req.EventData, References: req.EventReferences, By: apiActor(req.By)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"event": ev})
}

// deleteActor reads who deletes: the body's by, or ?by=.
func (s *Server) deleteActor(w http.ResponseWriter, r *http.Request) (tocsin.Actor, error) {
	if r.ContentLength > 0 {
		return s.actor(w, r)
	}
	return apiActor(r.URL.Query().Get("by")), nil
}

func (s *Server) handleDeleteEvent(w http.ResponseWriter, r *http.Request) {
	by, err := s.deleteActor(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.opts.Record.DeleteTimelineEvent(r.Context(), r.PathValue("id"), r.PathValue("event"), by); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleRelatedItems(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.store.FindIncident(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	items, err := s.opts.Record.RelatedItems(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if items == nil {
		items = []*tocsin.RelatedItem{}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"related_items": items})
}

func (s *Server) handleAddItem(w http.ResponseWriter, r *http.Request) {
	var req relatedItemRequest
	if err := s.decodeLarge(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	it, err := s.opts.Record.AddRelatedItem(r.Context(), r.PathValue("id"), req.item(), apiActor(req.By))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, map[string]any{"related_item": it})
}

func (s *Server) handleRemoveItem(w http.ResponseWriter, r *http.Request) {
	by, err := s.deleteActor(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.opts.Record.RemoveRelatedItem(r.Context(), r.PathValue("id"), r.PathValue("item"), by); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleItemContent serves an attachment as a download: its content type
// as given, but always as an attachment (never rendered in the API's
// origin) and sandboxed should a browser render it anyway.
func (s *Server) handleItemContent(w http.ResponseWriter, r *http.Request) {
	it, err := s.opts.Record.RelatedItemContent(r.Context(), r.PathValue("id"), r.PathValue("item"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", it.ContentType)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": it.Filename}))
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(it.Content)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(it.Content)
}

func (s *Server) handleFindings(w http.ResponseWriter, r *http.Request) {
	inc, err := s.store.FindIncident(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := inc.Findings
	if f == nil {
		f = []*tocsin.ChangeEvent{}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"findings": f})
}
