package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"tocsin"
	"tocsin/runbook"
)

// ResponsePlanStore keeps response plans and the one routing document
// (store.ResponsePlans). Puts validate, and check that what they name
// exists; a notification target put without its secret keeps the stored
// one.
type ResponsePlanStore interface {
	PutResponsePlan(ctx context.Context, p *tocsin.ResponsePlan) (created bool, err error)
	FindResponsePlan(ctx context.Context, name string) (*tocsin.ResponsePlan, error)
	ListResponsePlans(ctx context.Context) ([]*tocsin.ResponsePlan, error)
	DeleteResponsePlan(ctx context.Context, name string) error
	PutRouting(ctx context.Context, r *tocsin.Routing) (created bool, err error)
	FindRouting(ctx context.Context) (*tocsin.Routing, error)
	DeleteRouting(ctx context.Context) error
}

// responsePlanRoutes registers /api/v1/response-plans and /api/v1/routing.
func (s *Server) responsePlanRoutes() {
	st := s.opts.ResponsePlans
	if st == nil {
		return
	}
	resource[tocsin.ResponsePlan]{
		path: "/api/v1/response-plans", key: "name", one: "response_plan", many: "response_plans",
		list: func(ctx context.Context) ([]*tocsin.ResponsePlan, error) {
			plans, err := st.ListResponsePlans(ctx)
			for _, p := range plans {
				hideSecrets(p)
			}
			return plans, err
		},
		find: func(ctx context.Context, name string) (*tocsin.ResponsePlan, error) {
			p, err := st.FindResponsePlan(ctx, name)
			if p != nil {
				hideSecrets(p)
			}
			return p, err
		},
		put: func(ctx context.Context, p *tocsin.ResponsePlan) (bool, error) {
			if err := s.checkPlanRunbook(ctx, p); err != nil {
				return false, err
			}
			return st.PutResponsePlan(ctx, p)
		},
		del:   st.DeleteResponsePlan,
		name:  func(p *tocsin.ResponsePlan) *string { return &p.Name },
		check: s.checkResponsePlan,
	}.register(s)
	s.mux.HandleFunc("GET /api/v1/routing", s.requireAPI(func(w http.ResponseWriter, r *http.Request) {
		rt, err := st.FindRouting(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		WriteJSON(w, http.StatusOK, map[string]any{"routing": rt})
	}))
	s.mux.HandleFunc("PUT /api/v1/routing", s.requireAPI(func(w http.ResponseWriter, r *http.Request) {
		var rt tocsin.Routing
		if err := s.decodeStrict(w, r, &rt); err != nil {
			s.fail(w, r, err)
			return
		}
		created, err := st.PutRouting(r.Context(), &rt)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		stored, err := st.FindRouting(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		WriteJSON(w, status, map[string]any{"routing": stored})
	}))
	s.mux.HandleFunc("DELETE /api/v1/routing", s.requireAPI(func(w http.ResponseWriter, r *http.Request) {
		if err := st.DeleteRouting(r.Context()); err != nil {
			s.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
}

// hideSecrets blanks the secrets of a plan's notification targets: they
// are write-only.
func hideSecrets(p *tocsin.ResponsePlan) {
	ts := p.IncidentTemplate.NotificationTargets
	for i := range ts {
		ts[i].Secret = ""
	}
}

// checkPlanRunbook refuses a plan whose runbook does not exist, when the
// API keeps runbooks (without a runbook store the name is not checked, as
// before runbooks were stored).
func (s *Server) checkPlanRunbook(ctx context.Context, p *tocsin.ResponsePlan) error {
	if p.Runbook == nil || s.opts.Runbooks == nil {
		return nil
	}
	rb, err := s.opts.Runbooks.Runbook(ctx, p.Runbook.Name, 0)
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		return tocsin.Errorf(tocsin.EINVALID, "response plan %s: runbook.name: no runbook %q (put it first: PUT /api/v1/runbooks/%s)", p.Name, p.Runbook.Name, p.Runbook.Name)
	}
	if err != nil {
		return fmt.Errorf("find runbook %s: %w", p.Runbook.Name, err)
	}
	doc, err := runbook.Parse(rb.Document)
	if err != nil {
		return fmt.Errorf("read runbook %s: %w", p.Runbook.Name, err)
	}
	// The parameters are checked now, not when an incident starts the
	// runbook: a mistyped one would only show on that incident's timeline.
	if probs := runbook.PlanParams(doc, p.Runbook.Parameters, p.Runbook.DynamicParameters); len(probs) > 0 {
		msgs := make([]string, len(probs))
		for i, pr := range probs {
			msgs[i] = pr.String()
		}
		return tocsin.Errorf(tocsin.EINVALID, "response plan %s: %s", p.Name, strings.Join(msgs, "; "))
	}
	return nil
}

// checkResponsePlan makes the checks the store cannot: chat channels name
// enabled channels, and notification targets' webhook URLs show no
// internal address (as contacts' webhooks; the URL is never repeated, it
// may carry a token).
func (s *Server) checkResponsePlan(p *tocsin.ResponsePlan) error {
	if err := p.Validate(); err != nil {
		return err
	}
	var bad []string
	for i, c := range p.ChatChannels {
		if !s.opts.Channels[c.Channel] {
			bad = append(bad, fmt.Sprintf("chat_channels[%d].channel: %q is not an enabled channel (enabled: %s)", i, c.Channel, enabledChannels(s.opts.Channels)))
		} else if has := s.opts.ChannelKeys[c.Channel]; has != nil && c.Destination != "" && !has(c.Destination) {
			bad = append(bad, fmt.Sprintf("chat_channels[%d].destination: %q is not a configured alternate of %s (its %s keys)",
				i, c.Destination, c.Channel, tocsin.ChatDestinationKeys[c.Channel]))
		}
	}
	for i, t := range p.IncidentTemplate.NotificationTargets {
		if err := s.opts.WebhookGuard.CheckURL(t.Webhook); err != nil {
			bad = append(bad, fmt.Sprintf("incident_template.notification_targets[%d].webhook: %v", i, err))
		}
	}
	if len(bad) > 0 {
		return tocsin.Errorf(tocsin.EINVALID, "response plan %s: %s", p.Name, strings.Join(bad, "; "))
	}
	return nil
}
