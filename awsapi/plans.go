package awsapi

import (
	"net/http"

	"tocsin"
	"tocsin/api"
)

type planSummary struct {
	Arn         string `json:"arn"`
	Name        string `json:"name"`
	DisplayName string `json:"displayName,omitempty"`
}

type incidentTemplate struct {
	Title        string            `json:"title"`
	Impact       *int              `json:"impact,omitempty"`
	Summary      string            `json:"summary,omitempty"`
	DedupeString string            `json:"dedupeString,omitempty"`
	IncidentTags map[string]string `json:"incidentTags,omitempty"`
}

func (s *Server) listResponsePlans(w http.ResponseWriter, r *request) error {
	var in struct {
		MaxResults int    `json:"maxResults"`
		NextToken  string `json:"nextToken"`
	}
	if err := r.decode(&in); err != nil {
		return err
	}
	limit, err := pageSize(in.MaxResults)
	if err != nil {
		return err
	}
	if s.opts.Plans == nil {
		return notAvailable("response plans")
	}
	plans, err := s.opts.Plans.ListResponsePlans(r.Context())
	if err != nil {
		return err
	}
	var all []planSummary
	for _, p := range plans {
		all = append(all, planSummary{Arn: s.planARN(p.Name), Name: p.Name, DisplayName: p.DisplayName})
	}
	out, next, err := page(all, in.NextToken, limit)
	if err != nil {
		return err
	}
	if out == nil {
		out = []planSummary{}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"responsePlanSummaries": out, "nextToken": next})
	return nil
}

// getResponsePlan answers a plan in AWS's shape: its template (an impact
// taken from the alert's severity is left out), and its engagements as
// ssm-contacts ARNs of the escalation plans, schedules and contacts it
// names. Chat channels and notification targets are tocsin's own and not
// shown.
func (s *Server) getResponsePlan(w http.ResponseWriter, r *request) error {
	arn := r.URL.Query().Get("arn")
	name, err := planName("arn", arn)
	if err != nil {
		return err
	}
	if s.opts.Plans == nil {
		return notAvailable("response plans")
	}
	p, err := s.opts.Plans.FindResponsePlan(r.Context(), name)
	if err != nil {
		return notFound(err, "RESPONSE_PLAN", arn)
	}
	t := p.IncidentTemplate
	tmpl := incidentTemplate{Title: t.Title, Summary: t.Summary, DedupeString: t.DedupeString, IncidentTags: t.Tags}
	if t.Impact >= tocsin.ImpactCritical && t.Impact <= tocsin.ImpactNone {
		tmpl.Impact = &t.Impact
	}
	engagements := []string{}
	for _, e := range p.Engagements {
		_, target := e.Target()
		engagements = append(engagements, "arn:aws:ssm-contacts::"+s.opts.AccountID+":contact/"+target)
	}
	out := map[string]any{"arn": s.planARN(p.Name), "name": p.Name, "incidentTemplate": tmpl, "engagements": engagements}
	if p.DisplayName != "" {
		out["displayName"] = p.DisplayName
	}
	if rb := p.Runbook; rb != nil {
		ssm := map[string]any{"documentName": rb.Name, "parameters": rb.Parameters}
		if len(rb.DynamicParameters) > 0 {
			// AWS's shape: each parameter names the incident's variable.
			dyn := map[string]any{}
			for k, v := range rb.DynamicParameters {
				dyn[k] = map[string]string{"variable": v}
			}
			ssm["dynamicParameters"] = dyn
		}
		out["actions"] = []any{map[string]any{"ssmAutomation": ssm}}
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}
