package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"tocsin"
	"tocsin/oncall"
)

// Coverage check windows.
const (
	// PlanCheckWindow is how far ahead a saved escalation plan is checked
	// for reaching somebody: the coming week.
	PlanCheckWindow = 7 * 24 * time.Hour
	// DefaultCheckDays is the window of GET /api/v1/oncall/check.
	DefaultCheckDays = 7
	// previewWindow is how far ahead of the previewed instant overrides
	// are loaded for a page preview.
	previewWindow = 7 * 24 * time.Hour
)

// onCallSetup loads everything the coverage check and the page preview
// need, with the overrides that overlap [from, to).
func (s *Server) onCallSetup(ctx context.Context, from, to time.Time) (*oncall.Setup, error) {
	st := s.opts.OnCall
	contacts, err := st.ListContacts(ctx)
	if err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	groups, err := st.ListContactGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list contact groups: %w", err)
	}
	rotations, err := st.ListRotations(ctx)
	if err != nil {
		return nil, fmt.Errorf("list rotations: %w", err)
	}
	schedules, err := st.ListSchedules(ctx)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	plans, err := st.ListEscalationPlans(ctx)
	if err != nil {
		return nil, fmt.Errorf("list escalation plans: %w", err)
	}
	stored, err := st.ListOverrides(ctx, "", from, to)
	if err != nil {
		return nil, fmt.Errorf("list overrides: %w", err)
	}
	return NewSetup(contacts, groups, rotations, schedules, plans, stored), nil
}

// NewSetup assembles an oncall.Setup from the objects as the API lists
// them. `tocsin apply` uses it too, on the server's objects merged with
// its files.
func NewSetup(contacts []*tocsin.Contact, groups []*tocsin.ContactGroup, rotations []*oncall.Rotation,
	schedules []*tocsin.Schedule, plans []*tocsin.EscalationPlan, overrides []oncall.StoredOverride) *oncall.Setup {
	out := &oncall.Setup{Contacts: map[string]*tocsin.Contact{}, Groups: map[string]*tocsin.ContactGroup{},
		Schedules: map[string]*oncall.ResolvedSchedule{}, Plans: map[string]*tocsin.EscalationPlan{}}
	for _, c := range contacts {
		out.Contacts[c.Alias] = c
	}
	for _, g := range groups {
		out.Groups[g.Name] = g
	}
	byName := map[string]*oncall.Rotation{}
	for _, r := range rotations {
		byName[r.Name] = r
	}
	for _, sc := range schedules {
		rs := &oncall.ResolvedSchedule{Name: sc.Name}
		for _, n := range sc.Rotations {
			if r := byName[n]; r != nil {
				rs.Rotations = append(rs.Rotations, r)
			}
		}
		out.Schedules[sc.Name] = rs
	}
	for _, p := range plans {
		out.Plans[p.Name] = p
	}
	for _, o := range overrides {
		out.Overrides = append(out.Overrides, o.Override)
	}
	return out
}

// planWarnings checks a saved plan for reaching somebody in the coming
// week: a plan nobody can answer is accepted, but not silently.
func (s *Server) planWarnings(ctx context.Context, p *tocsin.EscalationPlan) ([]oncall.Finding, error) {
	now := s.opts.Now()
	setup, err := s.onCallSetup(ctx, now, now.Add(PlanCheckWindow))
	if err != nil {
		return nil, err
	}
	return oncall.CheckPlan(setup, p.Name, now, now.Add(PlanCheckWindow))
}

// handleCheck serves GET /api/v1/oncall/check?days=&from=: the coverage
// gaps of every schedule and escalation plan in the next days (default
// 7), and the contacts plans engage that paging cannot reach.
func (s *Server) handleCheck(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from := s.opts.Now()
	if v := q.Get("from"); v != "" {
		var err error
		if from, err = parseInstant("from", v); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	days := DefaultCheckDays
	if v := q.Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.fail(w, r, tocsin.Errorf(tocsin.EINVALID, "days: %q is not a whole number of days of at least 1", v))
			return
		}
		days = n
	}
	to := from.AddDate(0, 0, days)
	if err := checkWindow(from, to); err != nil {
		s.fail(w, r, tocsin.Errorf(tocsin.EINVALID, "days: at most %d", int(MaxWindow/(24*time.Hour))))
		return
	}
	setup, err := s.onCallSetup(r.Context(), from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	findings, err := oncall.Check(setup, from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if findings == nil {
		findings = []oncall.Finding{}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"from": from, "to": to, "findings": findings})
}

// previewAt reads the at query parameter (default now).
func (s *Server) previewAt(r *http.Request) (time.Time, error) {
	if v := r.URL.Query().Get("at"); v != "" {
		return parseInstant("at", v)
	}
	return s.opts.Now(), nil
}

// handlePlanPreview serves GET /api/v1/escalation-plans/{name}/preview?at=:
// whom engaging the plan at (default now) would page, by which channel and
// when, if nobody acknowledged (AWS ListPageResolutions).
func (s *Server) handlePlanPreview(w http.ResponseWriter, r *http.Request) {
	at, err := s.previewAt(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	name := r.PathValue("name")
	if _, err := s.opts.OnCall.FindEscalationPlan(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	setup, err := s.onCallSetup(r.Context(), at.Add(-time.Second), at.Add(previewWindow))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pv, err := oncall.PreviewPlan(setup, name, at)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, struct {
		Plan string `json:"escalation_plan"`
		*oncall.PagePreview
	}{name, pv})
}

// handleContactPreview serves GET /api/v1/contacts/{alias}/preview?at=:
// the pages engaging the contact would send under its engagement plan.
func (s *Server) handleContactPreview(w http.ResponseWriter, r *http.Request) {
	at, err := s.previewAt(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.opts.OnCall.FindContact(r.Context(), r.PathValue("alias"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, struct {
		Contact string `json:"contact"`
		*oncall.PagePreview
	}{c.Alias, oncall.PreviewContact(c, at)})
}

// handleRotateCalendarKey serves POST /api/v1/ical-key/rotate: a new key
// signs calendar links, so every link handed out before stops working.
func (s *Server) handleRotateCalendarKey(w http.ResponseWriter, r *http.Request) {
	if err := s.opts.Keys.RotateSecret(r.Context(), calendarKeyName); err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "rotated"})
}
