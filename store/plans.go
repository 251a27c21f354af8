package store

import (
	"context"
	"fmt"
	"time"

	"tocsin"
)

// PutEscalationPlan creates or replaces an escalation plan; the contacts,
// schedules and plans it targets must exist.
func (s *OnCall) PutEscalationPlan(ctx context.Context, p *tocsin.EscalationPlan) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	for i, st := range p.Stages {
		for j, t := range st.Targets {
			f := fmt.Sprintf("escalation plan %s: stages[%d].targets[%d]", p.Name, i, j)
			switch {
			case t.Contact != "":
				if err := s.mustContact(ctx, f+".contact", t.Contact); err != nil {
					return false, err
				}
			case t.ContactGroup != "":
				if _, err := s.FindContactGroup(ctx, t.ContactGroup); tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
					return false, tocsin.Errorf(tocsin.EINVALID, "%s.contact_group: no contact group %q", f, t.ContactGroup)
				} else if err != nil {
					return false, err
				}
			case t.Schedule != "":
				if _, err := s.FindSchedule(ctx, t.Schedule); tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
					return false, tocsin.Errorf(tocsin.EINVALID, "%s.schedule: no schedule %q", f, t.Schedule)
				} else if err != nil {
					return false, err
				}
			case t.EscalationPlan != "":
				if _, err := s.FindEscalationPlan(ctx, t.EscalationPlan); tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
					return false, tocsin.Errorf(tocsin.EINVALID, "%s.escalation_plan: no escalation plan %q", f, t.EscalationPlan)
				} else if err != nil {
					return false, err
				}
			}
		}
	}
	plans, err := s.ListEscalationPlans(ctx)
	if err != nil {
		return false, err
	}
	all := map[string]*tocsin.EscalationPlan{p.Name: p}
	for _, q := range plans {
		if q.Name != p.Name {
			all[q.Name] = q
		}
	}
	if err := tocsin.CheckEscalationLoops(all); err != nil {
		return false, fmt.Errorf("escalation plan %s: %w", p.Name, err)
	}
	cp := *p
	cp.CreatedAt, cp.UpdatedAt = time.Time{}, time.Time{}
	return s.putSpec(ctx, "escalation_plans", p.Name, &cp)
}

// FindEscalationPlan returns an escalation plan.
func (s *OnCall) FindEscalationPlan(ctx context.Context, name string) (*tocsin.EscalationPlan, error) {
	return findSpec[tocsin.EscalationPlan](ctx, s.core, "escalation_plans", name, "escalation plan")
}

// ListEscalationPlans returns every escalation plan, by name.
func (s *OnCall) ListEscalationPlans(ctx context.Context) ([]*tocsin.EscalationPlan, error) {
	return listSpecs[tocsin.EscalationPlan](ctx, s.core, "escalation_plans")
}

// planTargeting returns the name of an escalation plan with a target for
// which match is true, or "".
func (s *OnCall) planTargeting(ctx context.Context, match func(tocsin.Target) bool) (string, error) {
	plans, err := s.ListEscalationPlans(ctx)
	if err != nil {
		return "", err
	}
	for _, p := range plans {
		for _, st := range p.Stages {
			for _, t := range st.Targets {
				if match(t) {
					return p.Name, nil
				}
			}
		}
	}
	return "", nil
}

// DeleteEscalationPlan removes an escalation plan unless another plan targets it.
func (s *OnCall) DeleteEscalationPlan(ctx context.Context, name string) error {
	if plan, err := s.planTargeting(ctx, func(t tocsin.Target) bool { return t.EscalationPlan == name }); err != nil {
		return err
	} else if plan != "" {
		return tocsin.Errorf(tocsin.ECONFLICT, "escalation plan %q is a target of escalation plan %q", name, plan)
	}
	if err := s.refuseEngaged(ctx, "escalation_plan", name); err != nil {
		return err
	}
	return s.deleteNamed(ctx, "escalation_plans", "name", name, "escalation plan")
}
