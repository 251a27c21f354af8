package awsapi

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"tocsin"
	"tocsin/api"
)

// Event types a responder may create (AWS accepts only these two).
const (
	eventTypeNote   = "Note"
	eventTypeCustom = "Custom Event"
)

// MaxEventData is AWS's limit on a timeline event's eventData.
const MaxEventData = 12000

// eventType is the AWS eventType of a timeline event: a note is a Note;
// tocsin's own events (created, acknowledged, paged …) are "tocsin:KIND",
// as Incident Manager's automatic events carry types of their own.
func eventType(kind string) string {
	if kind == tocsin.EventNote {
		return eventTypeNote
	}
	return "tocsin:" + kind
}

type eventReference struct {
	Resource      string `json:"resource,omitempty"`
	RelatedItemID string `json:"relatedItemId,omitempty"`
}

type eventSummary struct {
	IncidentRecordArn string           `json:"incidentRecordArn"`
	EventID           string           `json:"eventId"`
	EventTime         float64          `json:"eventTime"`
	EventUpdatedTime  float64          `json:"eventUpdatedTime"`
	EventType         string           `json:"eventType"`
	EventReferences   []eventReference `json:"eventReferences"`
}

type timelineEvent struct {
	eventSummary
	EventData string `json:"eventData"`
}

func (s *Server) event(arn string, e *tocsin.TimelineEvent) timelineEvent {
	return timelineEvent{eventSummary{IncidentRecordArn: arn, EventID: e.ID, EventTime: at(e.At), EventUpdatedTime: at(e.At),
		EventType: eventType(e.Kind), EventReferences: []eventReference{}}, e.Message}
}

// createTimelineEvent writes a responder's event as a note: tocsin's
// timeline has notes, so a Custom Event is kept as one, at the time it is
// received (eventTime is not back-dated).
func (s *Server) createTimelineEvent(w http.ResponseWriter, r *request) error {
	var in struct {
		IncidentRecordArn string           `json:"incidentRecordArn"`
		EventType         string           `json:"eventType"`
		EventData         string           `json:"eventData"`
		EventTime         *epoch           `json:"eventTime"`
		EventReferences   []eventReference `json:"eventReferences"`
		ClientToken       string           `json:"clientToken"`
	}
	if err := r.decode(&in); err != nil {
		return err
	}
	if in.EventType != eventTypeNote && in.EventType != eventTypeCustom {
		return tocsin.Errorf(tocsin.EINVALID, "eventType: %q is not %q or %q", in.EventType, eventTypeNote, eventTypeCustom)
	}
	if strings.TrimSpace(in.EventData) == "" || utf8.RuneCountInString(in.EventData) > MaxEventData {
		return tocsin.Errorf(tocsin.EINVALID, "eventData: must be 1-%d characters", MaxEventData)
	}
	inc, err := s.find(r, "incidentRecordArn", in.IncidentRecordArn)
	if err != nil {
		return err
	}
	arn := s.incidentARN(inc)
	for i, ref := range in.EventReferences {
		// A note about the incident itself is what a note is; other
		// references need related items, which this face does not keep.
		if id, err := incidentID("", ref.Resource); ref.RelatedItemID != "" || err != nil || id != inc.ID {
			return tocsin.Errorf(tocsin.EINVALID, "eventReferences[%d]: only the incident's own ARN can be referenced", i)
		}
	}
	e, err := s.store.AddNote(r.Context(), inc.ID, r.actor(), in.EventData)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"eventId": e.ID, "incidentRecordArn": arn})
	return nil
}

func (s *Server) getTimelineEvent(w http.ResponseWriter, r *request) error {
	q := r.URL.Query()
	inc, err := s.find(r, "incidentRecordArn", q.Get("incidentRecordArn"))
	if err != nil {
		return err
	}
	id := q.Get("eventId")
	for _, e := range inc.Timeline {
		if e.ID == id {
			api.WriteJSON(w, http.StatusOK, map[string]any{"event": s.event(s.incidentARN(inc), e)})
			return nil
		}
	}
	return &awsError{status: http.StatusNotFound, kind: "ResourceNotFoundException", msg: "timeline event " + strconv.Quote(id) + " not found",
		resourceType: "TIMELINE_EVENT", resourceID: id}
}

func (s *Server) listTimelineEvents(w http.ResponseWriter, r *request) error {
	var in struct {
		IncidentRecordArn string   `json:"incidentRecordArn"`
		Filters           []filter `json:"filters"`
		MaxResults        int      `json:"maxResults"`
		NextToken         string   `json:"nextToken"`
		SortBy            string   `json:"sortBy"`
		SortOrder         string   `json:"sortOrder"`
	}
	if err := r.decode(&in); err != nil {
		return err
	}
	limit, err := pageSize(in.MaxResults)
	if err != nil {
		return err
	}
	if in.SortBy != "" && in.SortBy != "EVENT_TIME" {
		return tocsin.Errorf(tocsin.EINVALID, "sortBy: %q is not EVENT_TIME", in.SortBy)
	}
	if in.SortOrder != "" && in.SortOrder != "ASCENDING" && in.SortOrder != "DESCENDING" {
		return tocsin.Errorf(tocsin.EINVALID, "sortOrder: %q is not ASCENDING or DESCENDING", in.SortOrder)
	}
	var from, until *time.Time
	var types []string
	for i, f := range in.Filters {
		field := "filters[" + strconv.Itoa(i) + "]"
		switch f.Key {
		case "eventTime":
			if err := f.timeRange(field, &from, &until); err != nil {
				return err
			}
		case "eventType":
			vals, err := f.strings(field)
			if err != nil {
				return err
			}
			types = intersect(types, vals)
		default:
			return tocsin.Errorf(tocsin.EINVALID, "%s.key: %q is not one of eventTime, eventType", field, f.Key)
		}
	}
	inc, err := s.find(r, "incidentRecordArn", in.IncidentRecordArn)
	if err != nil {
		return err
	}
	arn := s.incidentARN(inc)
	var events []eventSummary
	for _, e := range inc.Timeline {
		if (from != nil && e.At.Before(*from)) || (until != nil && !e.At.Before(*until)) ||
			(types != nil && !slices.Contains(types, eventType(e.Kind))) {
			continue
		}
		events = append(events, s.event(arn, e).eventSummary)
	}
	if in.SortOrder == "DESCENDING" {
		slices.Reverse(events)
	}
	out, next, err := page(events, in.NextToken, limit)
	if err != nil {
		return err
	}
	if out == nil {
		out = []eventSummary{}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"eventSummaries": out, "nextToken": next})
	return nil
}
