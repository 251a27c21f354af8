package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"tocsin"
	"tocsin/response"
	"tocsin/route"
)

// routing is what routing an ingest's alerts needs, loaded once per
// transaction: the routing document (nil when there is none) and every
// response plan by name.
type routing struct {
	doc   *tocsin.Routing
	plans map[string]*tocsin.ResponsePlan
}

// loadRouting loads the routing document and the response plans, unless
// there is no routing document and the request picks no plan (then
// nothing is routed, and nothing more is read).
func loadRouting(ctx context.Context, tx reader, opts tocsin.IngestOptions) (*routing, error) {
	rt := &routing{}
	var spec string
	err := tx.QueryRowContext(ctx, `SELECT spec FROM routing WHERE name = $1`, routingName).Scan(&spec)
	switch {
	case err == nil:
		rt.doc = new(tocsin.Routing)
		if err := json.Unmarshal([]byte(spec), rt.doc); err != nil {
			return nil, fmt.Errorf("read routing: %w", err)
		}
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("read routing: %w", err)
	case opts.ResponsePlan == "":
		return rt, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT spec FROM response_plans`)
	if err != nil {
		return nil, fmt.Errorf("read response plans: %w", err)
	}
	defer rows.Close()
	rt.plans = map[string]*tocsin.ResponsePlan{}
	for rows.Next() {
		p := new(tocsin.ResponsePlan)
		if err := rows.Scan(&spec); err != nil {
			return nil, fmt.Errorf("read response plans: %w", err)
		}
		if err := json.Unmarshal([]byte(spec), p); err != nil {
			return nil, fmt.Errorf("read response plan: %w", err)
		}
		rt.plans[p.Name] = p
	}
	return rt, rows.Err()
}

// route composes the pure decisions about one alert's routing —
// route.Match, response.Incident, route.MayPage — into what Ingest takes;
// nil when the alert is not routed.
func (rt *routing) route(a *tocsin.Alert, opts tocsin.IngestOptions, policy *tocsin.Policy, now time.Time) *response.Routed {
	r := &response.Routed{}
	if p := rt.plans[opts.ResponsePlan]; p != nil {
		r.Reasons = []string{"the request names response plan " + p.Name}
		r.Plans = []*tocsin.ResponsePlan{p}
	} else {
		if rt.doc == nil {
			return nil
		}
		res := route.Match(rt.doc, a, opts.Integration, now)
		if len(res.Matches) == 0 {
			return nil
		}
		r.Rule, r.Reasons = res.Matches[0].Rule, res.Matches[0].Reasons
		for _, m := range res.Matches {
			r.NotifyOnly = r.NotifyOnly || m.NotifyOnly
			if p := rt.plans[m.ResponsePlan]; p != nil {
				r.Plans = append(r.Plans, p)
			}
		}
	}
	if len(r.Plans) == 0 {
		return r
	}
	f, err := response.Incident(r.Plans[0], a, policy)
	// The request's own title and impact win over the template; the
	// paging policy judges the impact the incident will have.
	if opts.Title != "" {
		f.Title = opts.Title
	}
	if opts.Impact != 0 {
		f.Impact = opts.Impact
	}
	r.Fields = f
	if err != nil {
		r.RenderError = tocsin.ErrorMessage(err)
	}
	var pp *tocsin.PagingPolicy
	if rt.doc != nil {
		pp = rt.doc.PagingPolicy
	}
	r.MayPage, r.PageWhy = route.MayPage(pp, r.Plans[0].Name, f.Impact)
	return r
}

// planOf returns the response plan an incident was opened from, from the
// loaded plans or the database; nil when it has none or it is gone.
func (rt *routing) planOf(ctx context.Context, tx reader, name string) (*tocsin.ResponsePlan, error) {
	if name == "" {
		return nil, nil
	}
	if p := rt.plans[name]; p != nil {
		return p, nil
	}
	return findPlanTx(ctx, tx, name)
}

// findPlanTx reads a response plan in a transaction; nil when it is gone.
func findPlanTx(ctx context.Context, tx reader, name string) (*tocsin.ResponsePlan, error) {
	var spec string
	err := tx.QueryRowContext(ctx, `SELECT spec FROM response_plans WHERE name = $1`, name).Scan(&spec)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read response plan: %w", err)
	}
	p := new(tocsin.ResponsePlan)
	if err := json.Unmarshal([]byte(spec), p); err != nil {
		return nil, fmt.Errorf("read response plan: %w", err)
	}
	return p, nil
}
