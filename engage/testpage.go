package engage

import (
	"context"

	"tocsin"
)

// TestPage runs a contact (as a one-stage plan of its own) or an
// escalation plan for real on a new incident marked as a test.
func (e *Engine) TestPage(ctx context.Context, ingest func(ctx context.Context, title string) (string, error), kind, name string) (string, error) {
	var plan string
	switch kind {
	case "escalation_plan":
		if _, err := e.Store.FindEscalationPlan(ctx, name); err != nil {
			return "", err
		}
		plan = name
	case "contact":
		if _, err := e.Store.FindContact(ctx, name); err != nil {
			return "", err
		}
		plan = ContactPlanPrefix + name
	default:
		return "", tocsin.Errorf(tocsin.EINVALID, "test page: kind %q is not contact or escalation_plan", kind)
	}
	incidentID, err := ingest(ctx, "Test page for "+kind+" "+name)
	if err != nil {
		return "", err
	}
	_, err = e.Store.StartEngagement(ctx, "", incidentID, plan, "", true)
	return incidentID, err
}

// ContactPlanPrefix names the one-stage plan that engages a single contact
// (a contact's test page): "contact:alice".
const ContactPlanPrefix = "contact:"

// contactPlan is the plan behind ContactPlanPrefix: one stage engaging
// the contact that lasts as long as the contact's engagement plan, so a
// test page exercises every step of it (as AWS's "Test" does), not only
// the first.
func (e *Engine) contactPlan(ctx context.Context, name string) (*tocsin.EscalationPlan, error) {
	alias := name[len(ContactPlanPrefix):]
	c, err := e.Store.FindContact(ctx, alias)
	if err != nil {
		return nil, err
	}
	return &tocsin.EscalationPlan{Name: name, Stages: []tocsin.Stage{{Duration: tocsin.Duration(engagementSpan(c)), Targets: []tocsin.Target{{Contact: alias, Essential: true}}}}}, nil
}
