package engage

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"tocsin"
)

// Prefixes of the one-stage plans that engage one schedule or one contact
// group, as a response plan's engagement names them ("schedule:app");
// a contact is ContactPlanPrefix's, an escalation plan its own name.
const (
	SchedulePlanPrefix     = "schedule:"
	ContactGroupPlanPrefix = "contact_group:"
)

// HandleEngage is a response plan engagement's delay: when it ends on an
// incident still triggered, the engagement starts — an escalation plan as
// it is, a schedule, contact or contact group as a one-stage plan of its
// own. The engagement's id is derived from the incident, plan and index,
// so a re-run job does not start it twice. An acknowledgement or resolve
// before the delay ends cancelled the job in its own transaction; one
// that races it is caught here by the status check.
func (e *Engine) HandleEngage(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	var args tocsin.EngageArgs
	if err := json.Unmarshal(job.Args, &args); err != nil {
		return tocsin.JobOutcome{}
	}
	d, err := e.Store.LoadDelivery(ctx, job.IncidentID, "", "")
	if err != nil {
		return e.retryErr(job, err)
	}
	if d.Incident.Status != tocsin.StatusTriggered {
		return tocsin.JobOutcome{}
	}
	plan := args.Name
	switch args.Kind {
	case "escalation_plan":
	case "contact":
		plan = ContactPlanPrefix + args.Name
	case "schedule":
		plan = SchedulePlanPrefix + args.Name
	case "contact_group":
		plan = ContactGroupPlanPrefix + args.Name
	default:
		return tocsin.JobOutcome{Events: []*tocsin.TimelineEvent{event(job.IncidentID, tocsin.EventEngaged,
			fmt.Sprintf("Response plan %s: engagement %d names nothing tocsin can engage (%q)", args.ResponsePlan, args.Index, args.Kind))}}
	}
	id := fmt.Sprintf("rp-%s-%s-%d", job.IncidentID, args.ResponsePlan, args.Index)
	if _, err := e.Store.StartEngagement(ctx, id, job.IncidentID, plan, "", false); err != nil {
		return e.retryErr(job, err)
	}
	return tocsin.JobOutcome{}
}

// targetPlan is the one-stage plan behind a prefixed engagement name (a
// contact, schedule or contact group); ok is false for an escalation
// plan's own name.
func (e *Engine) targetPlan(ctx context.Context, name string) (plan *tocsin.EscalationPlan, ok bool, err error) {
	switch {
	case strings.HasPrefix(name, ContactPlanPrefix):
		p, err := e.contactPlan(ctx, name)
		return p, true, err
	case strings.HasPrefix(name, SchedulePlanPrefix):
		// Whoever is on call when the stage runs; their pages follow
		// their own engagement plans.
		return &tocsin.EscalationPlan{Name: name, Stages: []tocsin.Stage{{Targets: []tocsin.Target{{Schedule: name[len(SchedulePlanPrefix):], Essential: true}}}}}, true, nil
	case strings.HasPrefix(name, ContactGroupPlanPrefix):
		g, err := e.Store.FindContactGroup(ctx, name[len(ContactGroupPlanPrefix):])
		if err != nil {
			return nil, true, err
		}
		var span time.Duration
		for _, m := range g.Members {
			if c, err := e.Store.FindContact(ctx, m); err == nil {
				span = max(span, engagementSpan(c))
			}
		}
		return &tocsin.EscalationPlan{Name: name, Stages: []tocsin.Stage{{Duration: tocsin.Duration(span), Targets: []tocsin.Target{{ContactGroup: g.Name, Essential: true}}}}}, true, nil
	}
	return nil, false, nil
}

// engagementSpan is how long a contact's engagement plan runs.
func engagementSpan(c *tocsin.Contact) time.Duration {
	var span time.Duration
	for _, st := range c.EngagementPlan {
		span = max(span, st.After.Std()+time.Duration(st.Repages())*st.RetryInterval.Std())
	}
	return span
}
