package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"tocsin"
	"tocsin/response"
	"tocsin/route"
)

// routing is what routing an ingest's alerts needs: the routing document
// (nil when there is none) and every response plan by name, as they were
// at version (routing_version's row, bumped by every write of either).
// It is never changed once loaded: transactions share it.
type routing struct {
	version int64
	doc     *tocsin.Routing
	plans   map[string]*tocsin.ResponsePlan
}

// fits reports whether rt can route a request with opts: one loaded
// without plans (no routing document, no plan picked) serves only requests
// that pick none.
func (rt *routing) fits(opts tocsin.IngestOptions) bool {
	return rt.plans != nil || (rt.doc == nil && opts.ResponsePlan == "")
}

// bumpRouting returns an also-step (putSpec, deleteNamed) recording that
// the routing document or a response plan changed: every instance's next
// look-up (findForAlert) sees the new version and reads them again.
func bumpRouting(ctx context.Context) func(tx *txn, now time.Time) error {
	return func(tx *txn, _ time.Time) error {
		if _, err := tx.ExecContext(ctx, `UPDATE routing_version SET version = version + 1 WHERE id = 1`); err != nil {
			return fmt.Errorf("bump routing version: %w", err)
		}
		return nil
	}
}

// routingCache is the newest committed routing this instance read, kept
// across transactions. It is a guess checked for every alert: the look-up
// an alert needs anyway reads the stored version in the same statement
// (findForAlert), and load reads the routing again when it differs — so a
// write committed on any instance is seen by the next alert, as when every
// transaction read the routing itself.
type routingCache struct{ p atomic.Pointer[routing] }

// get returns the cached routing when it can route a request with opts.
func (c *routingCache) get(opts tocsin.IngestOptions) *routing {
	if rt := c.p.Load(); rt != nil && rt.fits(opts) {
		return rt
	}
	return nil
}

// put keeps rt, read from committed rows (outside a transaction, or by one
// that committed), unless the cache holds a newer one or the same version
// with plans where rt has none.
func (c *routingCache) put(rt *routing) {
	for {
		cur := c.p.Load()
		if cur != nil && (cur.version > rt.version || (cur.version == rt.version && (cur.plans != nil || rt.plans == nil))) {
			return
		}
		if c.p.CompareAndSwap(cur, rt) {
			return
		}
	}
}

// routingFor returns the routing an ingest reading through r (its
// transaction, or dbReader before one) routes by. Unless stale (load found
// the stored version differs from what it was given): the routing the
// transaction last loaded, else the instance's cached one, else read now.
// A transaction's read is cached once it commits (txn.Commit): it may
// hold the transaction's own uncommitted write.
func routingFor(ctx context.Context, r reader, opts tocsin.IngestOptions, stale bool) (*routing, error) {
	t, _ := r.(*txn)
	var c *core
	if t != nil {
		c = t.db
		// The routing document and plans are never held back: no flush.
		r = unflushed{t}
	} else {
		c = r.(dbReader).core
	}
	if !stale {
		if t != nil && t.routing != nil && t.routing.fits(opts) {
			return t.routing, nil
		}
		if rt := c.routings.get(opts); rt != nil {
			return rt, nil
		}
	}
	rt, err := loadRouting(ctx, r, opts)
	if err != nil {
		return nil, err
	}
	if t != nil {
		t.routing = rt
	} else {
		c.routings.put(rt)
	}
	return rt, nil
}

// loadRouting loads the routing version and document and the response
// plans, unless there is no routing document and the request picks no
// plan (then nothing is routed, and nothing more is read).
func loadRouting(ctx context.Context, tx reader, opts tocsin.IngestOptions) (*routing, error) {
	rt := &routing{}
	var spec sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT version, (SELECT spec FROM routing WHERE name = $1) FROM routing_version WHERE id = 1`, routingName).
		Scan(&rt.version, &spec)
	switch {
	case err != nil:
		return nil, fmt.Errorf("read routing: %w", err)
	case spec.Valid:
		rt.doc = new(tocsin.Routing)
		if err := json.Unmarshal([]byte(spec.String), rt.doc); err != nil {
			return nil, fmt.Errorf("read routing: %w", err)
		}
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
		var spec string
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
