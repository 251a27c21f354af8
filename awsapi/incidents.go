package awsapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"tocsin"
	"tocsin/api"
	"tocsin/response"
)

// Incident record statuses: AWS has two, tocsin's triggered and
// acknowledged are both OPEN.
const (
	statusOpen     = "OPEN"
	statusResolved = "RESOLVED"
)

func awsStatus(st string) string {
	if st == tocsin.StatusResolved {
		return statusResolved
	}
	return statusOpen
}

// defaultTriggerSource is AWS's source of an incident started by hand.
const defaultTriggerSource = "aws.ssm-incidents.custom"

type recordSource struct {
	CreatedBy string `json:"createdBy"`
	Source    string `json:"source"`
}

// source says who opened an incident: tocsin keeps the sender (an alert
// source, or StartIncident's triggerDetails.source), which is both its
// createdBy and its source.
func source(inc *tocsin.Incident) recordSource {
	return recordSource{CreatedBy: inc.Source, Source: inc.Source}
}

type incidentRecord struct {
	Arn                  string       `json:"arn"`
	Title                string       `json:"title"`
	Summary              string       `json:"summary,omitempty"`
	Status               string       `json:"status"`
	Impact               int          `json:"impact"`
	CreationTime         float64      `json:"creationTime"`
	ResolvedTime         *float64     `json:"resolvedTime,omitempty"`
	LastModifiedBy       string       `json:"lastModifiedBy"`
	LastModifiedTime     float64      `json:"lastModifiedTime"`
	DedupeString         string       `json:"dedupeString"`
	IncidentRecordSource recordSource `json:"incidentRecordSource"`
	AutomationExecutions []any        `json:"automationExecutions"`
	NotificationTargets  []any        `json:"notificationTargets"`
}

type incidentSummary struct {
	Arn                  string       `json:"arn"`
	Title                string       `json:"title"`
	Status               string       `json:"status"`
	Impact               int          `json:"impact"`
	CreationTime         float64      `json:"creationTime"`
	ResolvedTime         *float64     `json:"resolvedTime,omitempty"`
	IncidentRecordSource recordSource `json:"incidentRecordSource"`
}

func (s *Server) record(inc *tocsin.Incident) incidentRecord {
	by := "tocsin"
	for _, e := range inc.Timeline {
		if e.Actor != "" {
			by = e.Actor
		}
	}
	return incidentRecord{
		Arn: s.incidentARN(inc), Title: inc.Title, Summary: inc.Summary, Status: awsStatus(inc.Status), Impact: inc.Impact,
		CreationTime: at(inc.CreatedAt), ResolvedTime: atPtr(inc.ResolvedAt), LastModifiedBy: by, LastModifiedTime: at(inc.UpdatedAt),
		DedupeString: inc.DedupKey, IncidentRecordSource: source(inc), AutomationExecutions: []any{}, NotificationTargets: []any{},
	}
}

// find loads the incident an ARN parameter names.
func (s *Server) find(r *request, field, arn string) (*tocsin.Incident, error) {
	id, err := incidentID(field, arn)
	if err != nil {
		return nil, err
	}
	inc, err := s.store.FindIncident(r.Context(), id)
	return inc, notFound(err, "INCIDENT_RECORD", arn)
}

func (s *Server) getIncidentRecord(w http.ResponseWriter, r *request) error {
	inc, err := s.find(r, "arn", r.URL.Query().Get("arn"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"incidentRecord": s.record(inc)})
	return nil
}

func (s *Server) listIncidentRecords(w http.ResponseWriter, r *request) error {
	var in struct {
		Filters    []filter `json:"filters"`
		MaxResults int      `json:"maxResults"`
		NextToken  string   `json:"nextToken"`
	}
	if err := r.decode(&in); err != nil {
		return err
	}
	limit, err := pageSize(in.MaxResults)
	if err != nil {
		return err
	}
	f := tocsin.IncidentFilter{Limit: limit, Cursor: in.NextToken}
	empty := false
	for i, flt := range in.Filters {
		field := "filters[" + strconv.Itoa(i) + "]"
		switch flt.Key {
		case "creationTime":
			if err := flt.timeRange(field, &f.Since, &f.Before); err != nil {
				return err
			}
		case "impact":
			c := flt.Condition
			if c.Equals == nil || c.Before != nil || c.After != nil || len(c.Equals.IntegerValues) == 0 {
				return tocsin.Errorf(tocsin.EINVALID, "%s.condition: impact takes equals with integerValues", field)
			}
			f.Impact = intersect(f.Impact, c.Equals.IntegerValues)
		case "status":
			vals, err := flt.strings(field)
			if err != nil {
				return err
			}
			var sts []string
			for _, v := range vals {
				switch v {
				case statusOpen:
					sts = append(sts, tocsin.StatusTriggered, tocsin.StatusAcknowledged)
				case statusResolved:
					sts = append(sts, tocsin.StatusResolved)
				default:
					return tocsin.Errorf(tocsin.EINVALID, "%s.condition.equals.stringValues: %q is not OPEN or RESOLVED", field, v)
				}
			}
			f.Status = intersect(f.Status, sts)
		case "createdBy":
			vals, err := flt.strings(field)
			if err != nil {
				return err
			}
			f.Sources = intersect(f.Sources, vals)
		default:
			return tocsin.Errorf(tocsin.EINVALID, "%s.key: %q is not one of creationTime, impact, status, createdBy", field, flt.Key)
		}
		// Filters on one key AND: values that no longer meet match nothing.
		if (f.Impact != nil && len(f.Impact) == 0) || (f.Status != nil && len(f.Status) == 0) || (f.Sources != nil && len(f.Sources) == 0) {
			empty = true
		}
	}
	out := struct {
		Summaries []incidentSummary `json:"incidentRecordSummaries"`
		NextToken string            `json:"nextToken,omitempty"`
	}{Summaries: []incidentSummary{}}
	if !empty {
		incs, next, err := s.store.ListIncidents(r.Context(), f)
		if tocsin.ErrorCode(err) == tocsin.EINVALID {
			return tocsin.Errorf(tocsin.EINVALID, "nextToken: not a token returned by this API")
		} else if err != nil {
			return err
		}
		for _, inc := range incs {
			out.Summaries = append(out.Summaries, incidentSummary{Arn: s.incidentARN(inc), Title: inc.Title, Status: awsStatus(inc.Status),
				Impact: inc.Impact, CreationTime: at(inc.CreatedAt), ResolvedTime: atPtr(inc.ResolvedAt), IncidentRecordSource: source(inc)})
		}
		out.NextToken = next
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) updateIncidentRecord(w http.ResponseWriter, r *request) error {
	var in struct {
		Arn                 string          `json:"arn"`
		Title               *string         `json:"title"`
		Summary             *string         `json:"summary"`
		Impact              *int            `json:"impact"`
		Status              string          `json:"status"`
		ChatChannel         json.RawMessage `json:"chatChannel"`
		NotificationTargets json.RawMessage `json:"notificationTargets"`
		ClientToken         string          `json:"clientToken"`
	}
	if err := r.decode(&in); err != nil {
		return err
	}
	// Everything is checked before anything is written.
	if in.ChatChannel != nil || in.NotificationTargets != nil {
		return tocsin.Errorf(tocsin.EINVALID, "chatChannel, notificationTargets: not supported by tocsin (a response plan's chat channels and notification targets apply)")
	}
	switch {
	case in.Title != nil && (strings.TrimSpace(*in.Title) == "" || utf8.RuneCountInString(*in.Title) > tocsin.MaxIncidentTitle):
		return tocsin.Errorf(tocsin.EINVALID, "title: must be 1-%d characters", tocsin.MaxIncidentTitle)
	case in.Summary != nil && utf8.RuneCountInString(*in.Summary) > tocsin.MaxIncidentSummary:
		return tocsin.Errorf(tocsin.EINVALID, "summary: longer than %d characters", tocsin.MaxIncidentSummary)
	case in.Impact != nil && (*in.Impact < tocsin.ImpactCritical || *in.Impact > tocsin.ImpactNone):
		return tocsin.Errorf(tocsin.EINVALID, "impact: %d is not between 1 (critical) and 5 (no impact)", *in.Impact)
	}
	changes := Changes{Title: in.Title, Summary: in.Summary, Impact: in.Impact}
	triage := in.Title != nil || in.Summary != nil || in.Impact != nil
	if triage && s.opts.Records == nil {
		return tocsin.Errorf(tocsin.EINVALID, "title, summary, impact: this tocsin cannot change them yet; UpdateIncidentRecord supports status RESOLVED")
	}
	inc, err := s.find(r, "arn", in.Arn)
	if err != nil {
		return err
	}
	switch in.Status {
	case "", statusOpen:
		if in.Status == statusOpen && inc.Status == tocsin.StatusResolved {
			return tocsin.Errorf(tocsin.EINVALID, "status: a resolved incident is not re-opened; start a new one")
		}
	case statusResolved:
	default:
		return tocsin.Errorf(tocsin.EINVALID, "status: %q is not OPEN or RESOLVED", in.Status)
	}
	if triage {
		if _, err := s.opts.Records.UpdateIncident(r.Context(), inc.ID, changes, r.actor()); err != nil {
			return err
		}
	}
	if in.Status == statusResolved {
		if _, _, err := s.store.Resolve(r.Context(), inc.ID, r.actor()); err != nil {
			return err
		}
	}
	api.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

// startInput is StartIncident's body.
type startInput struct {
	ClientToken     string `json:"clientToken"`
	Impact          *int   `json:"impact"`
	ResponsePlanArn string `json:"responsePlanArn"`
	Title           string `json:"title"`
	TriggerDetails  *struct {
		Source     string `json:"source"`
		Timestamp  *epoch `json:"timestamp"`
		TriggerArn string `json:"triggerArn"`
		RawData    string `json:"rawData"`
	} `json:"triggerDetails"`
	RelatedItems []relatedItem `json:"relatedItems"`
}

// startIncident opens an incident from a response plan through the one
// intake path (Ingest), as a generic alert built from the request: the
// plan's incident template rendered, the request's title and impact over
// it. A repeat with the same clientToken opens nothing and answers the
// incident the first opened.
func (s *Server) startIncident(w http.ResponseWriter, r *request) error {
	var in startInput
	if err := r.decode(&in); err != nil {
		return err
	}
	name, err := planName("responsePlanArn", in.ResponsePlanArn)
	if err != nil {
		return err
	}
	if in.Title != "" && utf8.RuneCountInString(in.Title) > tocsin.MaxIncidentTitle {
		return tocsin.Errorf(tocsin.EINVALID, "title: longer than %d characters", tocsin.MaxIncidentTitle)
	}
	if in.Impact != nil && (*in.Impact < tocsin.ImpactCritical || *in.Impact > tocsin.ImpactNone) {
		return tocsin.Errorf(tocsin.EINVALID, "impact: %d is not between 1 (critical) and 5 (no impact)", *in.Impact)
	}
	if len(in.ClientToken) > 128 {
		return tocsin.Errorf(tocsin.EINVALID, "clientToken: longer than 128 characters")
	}
	items, err := s.relatedItems(in.RelatedItems, "relatedItems")
	if err != nil {
		return err
	}
	if s.opts.Plans == nil {
		return notAvailable("response plans")
	}
	plan, err := s.opts.Plans.FindResponsePlan(r.Context(), name)
	if err != nil {
		return notFound(err, "RESPONSE_PLAN", in.ResponsePlanArn)
	}
	a := s.startAlert(&in, plan, r.body)
	token := in.ClientToken
	if token == "" {
		token = uuid.NewString()
	}
	a.Fingerprint = "start:" + token
	if a.DedupKey == "" {
		a.DedupKey = "start:" + token
	}
	// The plan shapes the incident as it does an alert routed to it: its
	// chat channels, engagements and notification targets apply.
	opts := tocsin.IngestOptions{IdempotencyKey: "aws-start-incident:" + token, ResponsePlan: plan.Name, Title: in.Title}
	if in.Impact != nil {
		opts.Impact = *in.Impact
	}
	res, err := s.store.Ingest(r.Context(), []*tocsin.Alert{a}, opts)
	if err != nil {
		return err
	}
	id := res[0].IncidentID
	if res[0].Duplicate {
		// The first call opened (or joined) the open incident under the
		// same dedup key: that is the one to answer.
		incs, _, err := s.store.ListIncidents(r.Context(), tocsin.IncidentFilter{DedupKey: a.DedupKey, Sources: []string{a.Source}, Limit: 1})
		if err != nil {
			return err
		}
		if len(incs) == 0 {
			return tocsin.Errorf(tocsin.ECONFLICT, "clientToken: already used, and its incident is gone")
		}
		id = incs[0].ID
	}
	inc, err := s.store.FindIncident(r.Context(), id)
	if err != nil {
		return err
	}
	if !res[0].Duplicate {
		for _, it := range items {
			if err := s.opts.RelatedItems.AddRelatedItem(r.Context(), id, it, r.actor()); err != nil {
				return err
			}
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"incidentRecordArn": s.incidentARN(inc)})
	return nil
}

// startAlert builds the generic alert a StartIncident opens its incident
// with. Impact travels as a severity the default impacts map ("sev1" … "sev5").
func (s *Server) startAlert(in *startInput, plan *tocsin.ResponsePlan, raw []byte) *tocsin.Alert {
	a := &tocsin.Alert{Source: defaultTriggerSource, Status: tocsin.AlertFiring, Title: plan.Name,
		Labels: map[string]string{}, Annotations: map[string]string{}, Raw: json.RawMessage(raw)}
	if t := in.TriggerDetails; t != nil {
		if t.Source != "" {
			a.Source = tocsin.Truncate(t.Source, 50)
		}
		if t.Timestamp != nil {
			a.StartsAt = t.Timestamp.Time
		}
		if t.TriggerArn != "" {
			a.Annotations["trigger_arn"] = t.TriggerArn
		}
		if t.RawData != "" {
			a.Annotations["raw_data"] = tocsin.Truncate(t.RawData, 10000)
		}
	}
	fields, _ := response.Incident(plan, a, nil)
	a.Title, a.Description, a.DedupKey = fields.Title, fields.Summary, fields.DedupeString
	for k, v := range fields.Tags {
		a.Labels[k] = v
	}
	a.Labels[planLabel] = plan.Name
	impact := fields.Impact
	if in.Title != "" {
		a.Title = in.Title
	}
	if in.Impact != nil {
		impact = *in.Impact
	}
	a.Severity = "sev" + strconv.Itoa(impact)
	if a.StartsAt.IsZero() {
		a.StartsAt = s.opts.Now().UTC()
	}
	return a
}
