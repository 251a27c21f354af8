package response

import (
	"fmt"
	"slices"
	"strings"

	"tocsin"
)

// IncidentFields are what an incident opened from a response plan says,
// its template rendered against the alert that opens it.
type IncidentFields struct {
	// Plan is the response plan's name.
	Plan    string
	Title   string
	Summary string
	// Impact is the template's, or the alert severity's under the
	// policy when the template gives none.
	Impact int
	// DedupeString, when not empty, groups incidents as AWS does: an open
	// incident with the same string absorbs the alert instead of a new
	// incident opening. Empty: the alert's source and dedup key group it.
	DedupeString string
	Tags         map[string]string
}

// Incident renders plan's incident template against alert a (see
// tocsin.AlertTemplateData for what templates see). An empty or failed
// title is the alert's own; an empty or failed summary its description; a
// failed dedupe string is empty and a failed tag left out, so an alert
// always opens an incident. When a field fails the fields are still
// returned, with an EINVALID error naming each failed field, for the
// caller to put on the timeline. Texts are cut to AWS's limits. p gives
// the impact when the template has none (nil: the default impacts). The
// plan must have passed Validate.
func Incident(plan *tocsin.ResponsePlan, a *tocsin.Alert, p *tocsin.Policy) (IncidentFields, error) {
	t := &plan.IncidentTemplate
	data := tocsin.AlertTemplateData(a)
	var failed []string
	render := func(field, text string) (string, bool) {
		if text == "" {
			return "", true
		}
		tmpl, err := tocsin.ParseAlertTemplate(field, text)
		if err == nil {
			var b strings.Builder
			if err = tmpl.Execute(&b, data); err == nil {
				return strings.TrimSpace(b.String()), true
			}
		}
		failed = append(failed, fmt.Sprintf("incident_template.%s: %v", field, err))
		return "", false
	}
	f := IncidentFields{Plan: plan.Name, Impact: t.Impact}
	f.Title, _ = render("title", t.Title)
	if f.Title == "" {
		f.Title = a.Title
	}
	f.Title = tocsin.Truncate(f.Title, tocsin.MaxIncidentTitle)
	f.Summary, _ = render("summary", t.Summary)
	if f.Summary == "" {
		f.Summary = a.Description
	}
	f.Summary = tocsin.Truncate(f.Summary, tocsin.MaxIncidentSummary)
	f.DedupeString, _ = render("dedupe_string", t.DedupeString)
	f.DedupeString = tocsin.Truncate(f.DedupeString, tocsin.MaxDedupeString)
	for k, text := range t.Tags {
		if v, ok := render("tags."+k, text); ok {
			if f.Tags == nil {
				f.Tags = map[string]string{}
			}
			f.Tags[k] = v
		}
	}
	if f.Impact < tocsin.ImpactCritical || f.Impact > tocsin.ImpactNone {
		if p == nil {
			p = &tocsin.Policy{Impacts: tocsin.DefaultImpacts()}
		}
		f.Impact = p.ImpactFor(a.Severity)
	}
	if len(failed) > 0 {
		// Sorted for a stable message: tags come from a map.
		slices.Sort(failed)
		return f, tocsin.Errorf(tocsin.EINVALID, "render response plan %s: %s", plan.Name, strings.Join(failed, "; "))
	}
	return f, nil
}
