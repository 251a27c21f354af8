package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"tocsin"
)

// ResponsePlans holds the response plans and the one routing document.
type ResponsePlans struct{ *core }

// routingName is the key of the one routing document's row.
const routingName = "routing"

// PutResponsePlan creates or replaces a response plan. It must pass
// Validate and what it engages must exist; a notification target sent
// without its secret keeps the secret stored for the same webhook (the
// API never shows secrets, so a plan read and written back keeps them).
func (s *ResponsePlans) PutResponsePlan(ctx context.Context, p *tocsin.ResponsePlan) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	sets, err := s.names(ctx)
	if err != nil {
		return false, err
	}
	if err := p.CheckPlanReferences(sets["escalation_plans"], sets["schedules"], sets["contacts"], sets["contact_groups"]); err != nil {
		return false, err
	}
	cp := *p
	cp.CreatedAt, cp.UpdatedAt = time.Time{}, time.Time{}
	if old, err := s.FindResponsePlan(ctx, p.Name); err == nil {
		cp.IncidentTemplate.NotificationTargets = keepSecrets(p.IncidentTemplate.NotificationTargets, old.IncidentTemplate.NotificationTargets)
	} else if tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
		return false, err
	}
	return s.putSpec(ctx, "response_plans", p.Name, &cp, bumpRouting(ctx))
}

// keepSecrets fills the empty secrets of targets with the stored secret of
// the same webhook.
func keepSecrets(targets, stored []tocsin.NotificationTarget) []tocsin.NotificationTarget {
	out := make([]tocsin.NotificationTarget, len(targets))
	for i, t := range targets {
		if t.Secret == "" {
			for _, o := range stored {
				if o.Webhook == t.Webhook {
					t.Secret = o.Secret
					break
				}
			}
		}
		out[i] = t
	}
	return out
}

// names returns the names of what response plans engage, by table.
func (s *ResponsePlans) names(ctx context.Context) (map[string]map[string]bool, error) {
	out := map[string]map[string]bool{}
	for table, col := range map[string]string{"escalation_plans": "name", "schedules": "name", "contacts": "alias", "contact_groups": "name"} {
		set, err := s.column(ctx, `SELECT `+col+` FROM `+table)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", table, err)
		}
		out[table] = set
	}
	return out, nil
}

func (s *core) column(ctx context.Context, q string, args ...any) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	set := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, translate(err)
		}
		set[n] = true
	}
	return set, translate(rows.Err())
}

// FindResponsePlan returns a response plan, its secrets included (the API
// leaves them out).
func (s *ResponsePlans) FindResponsePlan(ctx context.Context, name string) (*tocsin.ResponsePlan, error) {
	p, err := findSpec[tocsin.ResponsePlan](ctx, s.core, "response_plans", name, "response plan")
	if err != nil {
		return nil, err
	}
	if err := s.specTimes(ctx, "response_plans", name, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return nil, err
	}
	return p, nil
}

// ListResponsePlans returns every response plan, by name.
func (s *ResponsePlans) ListResponsePlans(ctx context.Context) ([]*tocsin.ResponsePlan, error) {
	return listSpecs[tocsin.ResponsePlan](ctx, s.core, "response_plans")
}

// DeleteResponsePlan removes a response plan unless the routing names it
// (ECONFLICT naming the field).
func (s *ResponsePlans) DeleteResponsePlan(ctx context.Context, name string) error {
	r, err := s.FindRouting(ctx)
	if err != nil && tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
		return err
	}
	if r != nil {
		for i, rule := range r.Rules {
			if rule.ResponsePlan == name {
				return tocsin.Errorf(tocsin.ECONFLICT, "response plan %q is named by routing rules[%d] (%s)", name, i, rule.Name)
			}
		}
		if d := r.Default; d != nil && d.ResponsePlan == name {
			return tocsin.Errorf(tocsin.ECONFLICT, "response plan %q is the routing's default.response_plan", name)
		}
	}
	return s.deleteNamed(ctx, "response_plans", "name", name, "response plan", bumpRouting(ctx))
}

// PutRouting replaces the routing document; it must pass Validate and
// every plan it names must exist. It reports whether there was none.
func (s *ResponsePlans) PutRouting(ctx context.Context, r *tocsin.Routing) (bool, error) {
	if err := r.Validate(); err != nil {
		return false, err
	}
	plans, err := s.column(ctx, `SELECT name FROM response_plans`)
	if err != nil {
		return false, fmt.Errorf("list response plans: %w", err)
	}
	if err := r.CheckPlans(plans); err != nil {
		return false, err
	}
	if r.Rules == nil {
		r.Rules = []tocsin.RoutingRule{}
	}
	return s.putSpec(ctx, "routing", routingName, r, bumpRouting(ctx))
}

// FindRouting returns the routing document; ENOTFOUND when there is none.
func (s *ResponsePlans) FindRouting(ctx context.Context) (*tocsin.Routing, error) {
	r, err := findSpec[tocsin.Routing](ctx, s.core, "routing", routingName, "routing")
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "no routing document: alerts open incidents without response plans (PUT /api/v1/routing)")
	}
	return r, err
}

// DeleteRouting removes the routing document: alerts open incidents as if
// there had never been one.
func (s *ResponsePlans) DeleteRouting(ctx context.Context) error {
	err := s.deleteNamed(ctx, "routing", "name", routingName, "routing", bumpRouting(ctx))
	var te *tocsin.Error
	if errors.As(err, &te) && te.Code == tocsin.ENOTFOUND {
		return tocsin.Errorf(tocsin.ENOTFOUND, "no routing document")
	}
	return err
}

// refuseEngaged fails with ECONFLICT when a response plan engages the
// escalation plan, schedule, contact or contact group kind/name (as
// tocsin.ResponseEngagement.Target names them): deleting it would leave
// the plan's incidents engaging nothing.
func (s *core) refuseEngaged(ctx context.Context, kind, name string) error {
	plans, err := listSpecs[tocsin.ResponsePlan](ctx, s, "response_plans")
	if err != nil {
		return err
	}
	for _, p := range plans {
		for i, e := range p.Engagements {
			if k, n := e.Target(); k == kind && n == name {
				return tocsin.Errorf(tocsin.ECONFLICT, "%s %q is engaged by response plan %q (engagements[%d].%s)",
					strings.ReplaceAll(kind, "_", " "), name, p.Name, i, kind)
			}
		}
	}
	return nil
}
