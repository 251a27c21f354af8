package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"tocsin"
	"tocsin/oncall"
	"tocsin/strict"
)

// OnCallStore is what the on-call API needs from the store (store.OnCall):
// contacts, rotations and their overrides, schedules and escalation plans.
type OnCallStore interface {
	PutContact(ctx context.Context, c *tocsin.Contact) (created bool, err error)
	FindContact(ctx context.Context, alias string) (*tocsin.Contact, error)
	ListContacts(ctx context.Context) ([]*tocsin.Contact, error)
	DeleteContact(ctx context.Context, alias string) error
	Activate(ctx context.Context, alias, channel, code string) error

	PutRotation(ctx context.Context, r *oncall.Rotation) (created bool, err error)
	FindRotation(ctx context.Context, name string) (*oncall.Rotation, error)
	ListRotations(ctx context.Context) ([]*oncall.Rotation, error)
	DeleteRotation(ctx context.Context, name string) error

	AddOverride(ctx context.Context, o *oncall.Override) (id string, err error)
	ListOverrides(ctx context.Context, rotation string, from, to time.Time) ([]oncall.StoredOverride, error)
	DeleteOverride(ctx context.Context, id string) error

	PutContactGroup(ctx context.Context, g *tocsin.ContactGroup) (created bool, err error)
	FindContactGroup(ctx context.Context, name string) (*tocsin.ContactGroup, error)
	ListContactGroups(ctx context.Context) ([]*tocsin.ContactGroup, error)
	DeleteContactGroup(ctx context.Context, name string) error

	PutSchedule(ctx context.Context, sc *tocsin.Schedule) (created bool, err error)
	FindSchedule(ctx context.Context, name string) (*tocsin.Schedule, error)
	ListSchedules(ctx context.Context) ([]*tocsin.Schedule, error)
	DeleteSchedule(ctx context.Context, name string) error
	ResolvedSchedule(ctx context.Context, name string, from, to time.Time) (*oncall.ResolvedSchedule, []oncall.Override, error)

	PutEscalationPlan(ctx context.Context, p *tocsin.EscalationPlan) (created bool, err error)
	FindEscalationPlan(ctx context.Context, name string) (*tocsin.EscalationPlan, error)
	ListEscalationPlans(ctx context.Context) ([]*tocsin.EscalationPlan, error)
	DeleteEscalationPlan(ctx context.Context, name string) error
}

// Windows of the shift and override listings.
const (
	// DefaultShiftWindow is how far ahead shifts are listed when the
	// request does not say.
	DefaultShiftWindow = 7 * 24 * time.Hour
	// MaxWindow is the longest window a listing may ask for.
	MaxWindow = 400 * 24 * time.Hour
)

// oncallRoutes registers the on-call API: contacts, rotations, overrides,
// schedules, escalation plans, who is on call, calendars and test pages.
func (s *Server) oncallRoutes() {
	m := s.mux
	st := s.opts.OnCall
	if st == nil {
		off := func(w http.ResponseWriter, r *http.Request) {
			Error(w, r, tocsin.Errorf(tocsin.ENOTFOUND, "on-call is not configured"))
		}
		for _, p := range []string{"contacts", "contact-groups", "rotations", "overrides", "schedules", "escalation-plans", "oncall", "ical-key"} {
			m.HandleFunc("/api/v1/"+p, off)
			m.HandleFunc("/api/v1/"+p+"/", off)
		}
		return
	}
	resource[tocsin.Contact]{
		path: "/api/v1/contacts", key: "alias", one: "contact", many: "contacts",
		list: st.ListContacts, find: st.FindContact, put: st.PutContact, del: st.DeleteContact,
		name:  func(c *tocsin.Contact) *string { return &c.Alias },
		check: s.checkContactWebhooks,
	}.register(s)
	resource[tocsin.ContactGroup]{
		path: "/api/v1/contact-groups", key: "name", one: "contact_group", many: "contact_groups",
		list: st.ListContactGroups, find: st.FindContactGroup, put: st.PutContactGroup, del: st.DeleteContactGroup,
		name: func(g *tocsin.ContactGroup) *string { return &g.Name },
	}.register(s)
	resource[oncall.Rotation]{
		path: "/api/v1/rotations", key: "name", one: "rotation", many: "rotations",
		list: st.ListRotations, find: st.FindRotation, put: st.PutRotation, del: st.DeleteRotation,
		name: func(r *oncall.Rotation) *string { return &r.Name },
	}.register(s)
	resource[tocsin.Schedule]{
		path: "/api/v1/schedules", key: "name", one: "schedule", many: "schedules",
		list: st.ListSchedules, find: st.FindSchedule, put: st.PutSchedule, del: st.DeleteSchedule,
		name: func(sc *tocsin.Schedule) *string { return &sc.Name },
	}.register(s)
	resource[tocsin.EscalationPlan]{
		path: "/api/v1/escalation-plans", key: "name", one: "escalation_plan", many: "escalation_plans",
		list: st.ListEscalationPlans, find: st.FindEscalationPlan, put: st.PutEscalationPlan, del: st.DeleteEscalationPlan,
		name:  func(p *tocsin.EscalationPlan) *string { return &p.Name },
		check: s.checkPlanChannels,
		warn:  s.planWarnings,
	}.register(s)

	m.HandleFunc("POST /api/v1/contacts/{alias}/channels/{channel}/activation", s.requireAPI(s.handleSendActivation))
	m.HandleFunc("POST /api/v1/contacts/{alias}/channels/{channel}/activate", s.requireAPI(s.handleActivate))
	m.HandleFunc("POST /api/v1/contacts/{alias}/test-page", s.requireAPI(s.handleTestPage("contact")))
	m.HandleFunc("POST /api/v1/escalation-plans/{name}/test-page", s.requireAPI(s.handleTestPage("escalation_plan")))

	m.HandleFunc("GET /api/v1/rotations/{name}/shifts", s.requireAPI(s.handleRotationShifts))
	m.HandleFunc("POST /api/v1/rotations/preview", s.requireAPI(s.handlePreview))
	m.HandleFunc("GET /api/v1/overrides", s.requireAPI(s.handleListOverrides))
	m.HandleFunc("POST /api/v1/overrides", s.requireAPI(s.handleAddOverride))
	m.HandleFunc("DELETE /api/v1/overrides/{id}", s.requireAPI(s.handleDeleteOverride))
	m.HandleFunc("GET /api/v1/schedules/{name}/shifts", s.requireAPI(s.handleScheduleShifts))
	m.HandleFunc("GET /api/v1/oncall", s.requireAPI(s.handleWhoIsOnCall))
	m.HandleFunc("GET /api/v1/oncall/check", s.requireAPI(s.handleCheck))
	m.HandleFunc("GET /api/v1/escalation-plans/{name}/preview", s.requireAPI(s.handlePlanPreview))
	m.HandleFunc("GET /api/v1/contacts/{alias}/preview", s.requireAPI(s.handleContactPreview))
	m.HandleFunc("POST /api/v1/ical-key/rotate", s.requireAPI(s.handleRotateCalendarKey))

	// Calendar feeds carry their own signed token: calendar apps cannot
	// send an API token.
	m.HandleFunc("GET /api/v1/schedules/{name}/ical", s.handleScheduleCalendar)
	m.HandleFunc("GET /api/v1/contacts/{alias}/ical", s.handleContactCalendar)
	m.HandleFunc("GET /api/v1/schedules/{name}/ical-url", s.requireAPI(s.handleCalendarURL("schedule", "name")))
	m.HandleFunc("GET /api/v1/contacts/{alias}/ical-url", s.requireAPI(s.handleCalendarURL("contact", "alias")))
}

// resource serves list, get, put and delete of one kind of named object.
type resource[T any] struct {
	path, key string // "/api/v1/contacts", and the path wildcard and JSON field naming one: "alias"
	one, many string // the JSON keys of one object and of a list
	list      func(context.Context) ([]*T, error)
	find      func(context.Context, string) (*T, error)
	put       func(context.Context, *T) (bool, error)
	del       func(context.Context, string) error
	name      func(*T) *string
	check     func(*T) error // optional checks the store cannot make
	// warn, optional, lists problems worth knowing about a stored object
	// that do not stop it being saved; a PUT answers them as "warnings".
	warn func(context.Context, *T) ([]oncall.Finding, error)
}

func (res resource[T]) register(s *Server) {
	one := res.path + "/{" + res.key + "}"
	s.mux.HandleFunc("GET "+res.path, s.requireAPI(func(w http.ResponseWriter, r *http.Request) {
		items, err := res.list(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if items == nil {
			items = []*T{}
		}
		WriteJSON(w, http.StatusOK, map[string]any{res.many: items})
	}))
	s.mux.HandleFunc("GET "+one, s.requireAPI(func(w http.ResponseWriter, r *http.Request) {
		v, err := res.find(r.Context(), r.PathValue(res.key))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		WriteJSON(w, http.StatusOK, map[string]any{res.one: v})
	}))
	s.mux.HandleFunc("PUT "+one, s.requireAPI(func(w http.ResponseWriter, r *http.Request) {
		var v T
		if err := s.decodeStrict(w, r, &v); err != nil {
			s.fail(w, r, err)
			return
		}
		key := r.PathValue(res.key)
		switch n := res.name(&v); *n {
		case "":
			*n = key
		case key:
		default:
			s.fail(w, r, tocsin.Errorf(tocsin.EINVALID, "%s: %q does not match %q in the path", res.key, *n, key))
			return
		}
		if res.check != nil {
			if err := res.check(&v); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		created, err := res.put(r.Context(), &v)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		stored, err := res.find(r.Context(), key)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		out := map[string]any{res.one: stored}
		if res.warn != nil {
			warnings, err := res.warn(r.Context(), stored)
			if err != nil {
				// The object is saved; a check that fails is logged, not
				// turned into a failed PUT.
				s.opts.Logger.Warn("coverage check failed", "kind", res.one, "name", key, "err", err)
			}
			if warnings == nil {
				warnings = []oncall.Finding{}
			}
			out["warnings"] = warnings
		}
		WriteJSON(w, status, out)
	}))
	s.mux.HandleFunc("DELETE "+one, s.requireAPI(func(w http.ResponseWriter, r *http.Request) {
		if err := res.del(r.Context(), r.PathValue(res.key)); err != nil {
			s.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
}

// checkPlanChannels refuses team-channel targets that are not enabled here:
// the store does not know the configuration.
func (s *Server) checkPlanChannels(p *tocsin.EscalationPlan) error {
	var bad []string
	for i, st := range p.Stages {
		for j, t := range st.Targets {
			if t.Channel != "" && !s.opts.Channels[t.Channel] {
				bad = append(bad, fmt.Sprintf("stages[%d].targets[%d].channel: %q is not an enabled channel (enabled: %s)",
					i, j, t.Channel, enabledChannels(s.opts.Channels)))
			}
		}
	}
	if len(bad) > 0 {
		return tocsin.Errorf(tocsin.EINVALID, "escalation plan %s: %s", p.Name, strings.Join(bad, "; "))
	}
	return nil
}

// checkContactWebhooks refuses webhook channels whose URL already shows an
// internal target (a literal loopback, link-local, private… address, or
// localhost), so the mistake is found when the contact is saved rather
// than at the first page. The error names the field, never the URL.
func (s *Server) checkContactWebhooks(c *tocsin.Contact) error {
	var bad []string
	for i, ch := range c.Channels {
		if ch.Type != tocsin.ChannelWebhook {
			continue
		}
		if err := s.opts.WebhookGuard.CheckURL(ch.Address); err != nil {
			bad = append(bad, fmt.Sprintf("channels[%d].address: %v", i, err))
		}
	}
	if len(bad) > 0 {
		return tocsin.Errorf(tocsin.EINVALID, "contact %s: %s", c.Alias, strings.Join(bad, "; "))
	}
	return nil
}

func enabledChannels(m map[string]bool) string {
	var names []string
	for n, on := range m {
		if on {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// handleSendActivation serves POST /api/v1/contacts/{alias}/channels/{channel}/activation:
// a new code is sent through the channel.
func (s *Server) handleSendActivation(w http.ResponseWriter, r *http.Request) {
	alias, name := r.PathValue("alias"), r.PathValue("channel")
	ch, err := s.contactChannel(r.Context(), alias, name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ch.Activated {
		s.fail(w, r, tocsin.Errorf(tocsin.ECONFLICT, "channel %q of contact %q is already activated", name, alias))
		return
	}
	if s.opts.SendActivation == nil {
		s.fail(w, r, tocsin.Errorf(tocsin.ENOTIMPLEMENTED, "sending activation codes is not configured"))
		return
	}
	if err := s.opts.SendActivation(r.Context(), alias, name); err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusAccepted, map[string]string{"status": "sent"})
}

// activateRequest is the body of POST …/channels/{channel}/activate.
type activateRequest struct {
	Code string `json:"code"`
}

// handleActivate serves POST /api/v1/contacts/{alias}/channels/{channel}/activate.
func (s *Server) handleActivate(w http.ResponseWriter, r *http.Request) {
	var req activateRequest
	if err := s.decodeStrict(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	alias, name := r.PathValue("alias"), r.PathValue("channel")
	if req.Code == "" {
		s.fail(w, r, tocsin.Errorf(tocsin.EINVALID, "code: is required"))
		return
	}
	if err := s.opts.OnCall.Activate(r.Context(), alias, name, req.Code); err != nil {
		s.fail(w, r, err)
		return
	}
	ch, err := s.contactChannel(r.Context(), alias, name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"channel": ch})
}

// contactChannel finds one channel of a contact.
func (s *Server) contactChannel(ctx context.Context, alias, name string) (*tocsin.ContactChannel, error) {
	c, err := s.opts.OnCall.FindContact(ctx, alias)
	if err != nil {
		return nil, err
	}
	for i := range c.Channels {
		if c.Channels[i].Name == name {
			return &c.Channels[i], nil
		}
	}
	return nil, tocsin.Errorf(tocsin.ENOTFOUND, "contact %q has no channel %q", alias, name)
}

// handleTestPage serves POST …/test-page for a contact or an escalation
// plan: it pages for real, on an incident marked as a test.
func (s *Server) handleTestPage(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var name string
		var err error
		if kind == "contact" {
			name = r.PathValue("alias")
			_, err = s.opts.OnCall.FindContact(r.Context(), name)
		} else {
			name = r.PathValue("name")
			_, err = s.opts.OnCall.FindEscalationPlan(r.Context(), name)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if s.opts.TestPage == nil {
			s.fail(w, r, tocsin.Errorf(tocsin.ENOTIMPLEMENTED, "test pages are not configured"))
			return
		}
		id, err := s.opts.TestPage(r.Context(), kind, name)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		WriteJSON(w, http.StatusAccepted, map[string]string{"incident_id": id})
	}
}

// window reads the from and to query parameters (RFC 3339): from defaults
// to now, to to from plus def; the window may not exceed MaxWindow.
func (s *Server) window(r *http.Request, def time.Duration) (from, to time.Time, err error) {
	return s.windowFrom(r, s.opts.Now(), def)
}

// windowFrom is window with another default start.
func (s *Server) windowFrom(r *http.Request, from time.Time, def time.Duration) (_, to time.Time, err error) {
	q := r.URL.Query()
	if v := q.Get("from"); v != "" {
		if from, err = parseInstant("from", v); err != nil {
			return from, to, err
		}
	}
	to = from.Add(def)
	if v := q.Get("to"); v != "" {
		if to, err = parseInstant("to", v); err != nil {
			return from, to, err
		}
	}
	return from, to, checkWindow(from, to)
}

func checkWindow(from, to time.Time) error {
	if to.Before(from) {
		return tocsin.Errorf(tocsin.EINVALID, "to: must not be before from")
	}
	if to.Sub(from) > MaxWindow {
		return tocsin.Errorf(tocsin.EINVALID, "to: must be at most %d days after from (the longest window)", int(MaxWindow/(24*time.Hour)))
	}
	return nil
}

func parseInstant(field, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, tocsin.Errorf(tocsin.EINVALID, "%s: %q is not an RFC 3339 time like 2026-03-02T09:00:00+01:00", field, v)
	}
	return t, nil
}

// handleRotationShifts serves GET /api/v1/rotations/{name}/shifts?from=&to=:
// the rotation's shifts with its stored overrides applied, in its zone.
func (s *Server) handleRotationShifts(w http.ResponseWriter, r *http.Request) {
	from, to, err := s.window(r, DefaultShiftWindow)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, name := r.Context(), r.PathValue("name")
	rot, err := s.opts.OnCall.FindRotation(ctx, name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	stored, err := s.opts.OnCall.ListOverrides(ctx, name, from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ovs := make([]oncall.Override, len(stored))
	for i, o := range stored {
		ovs[i] = o.Override
	}
	shifts, err := oncall.Shifts(rot, ovs, from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"rotation": name, "time_zone": rot.TimeZone, "from": from, "to": to, "shifts": shifts})
}

// previewRequest is the body of POST /api/v1/rotations/preview.
type previewRequest struct {
	Rotation  oncall.Rotation   `json:"rotation"`
	Overrides []oncall.Override `json:"overrides,omitempty"`
	From      *time.Time        `json:"from,omitempty"`
	To        *time.Time        `json:"to,omitempty"`
}

// handlePreview serves POST /api/v1/rotations/preview: the shifts of a
// rotation that is not saved (AWS ListPreviewRotationShifts). Its members
// need not be contacts yet.
func (s *Server) handlePreview(w http.ResponseWriter, r *http.Request) {
	var req previewRequest
	if err := s.decodeStrict(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	rot := &req.Rotation
	if rot.Name == "" {
		rot.Name = "preview"
	}
	if err := rot.Validate(); err != nil {
		s.fail(w, r, tocsin.Errorf(tocsin.EINVALID, "rotation: %s", tocsin.ErrorMessage(err)))
		return
	}
	for i := range req.Overrides {
		switch o := &req.Overrides[i]; o.Rotation {
		case "":
			o.Rotation = rot.Name
		case rot.Name:
		default:
			s.fail(w, r, tocsin.Errorf(tocsin.EINVALID, "overrides[%d].rotation: %q is not the previewed rotation %q", i, o.Rotation, rot.Name))
			return
		}
	}
	from := s.opts.Now()
	if req.From != nil {
		from = *req.From
	}
	to := from.Add(DefaultShiftWindow)
	if req.To != nil {
		to = *req.To
	}
	if err := checkWindow(from, to); err != nil {
		s.fail(w, r, err)
		return
	}
	shifts, err := oncall.Shifts(rot, req.Overrides, from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"shifts": shifts})
}

// OverrideListBack is how far back GET /api/v1/overrides lists without ?from=.
const OverrideListBack = 30 * 24 * time.Hour

// handleListOverrides serves GET /api/v1/overrides?rotation=&from=&to=:
// the overrides that overlap the window (default: from OverrideListBack ago,
// MaxWindow long).
func (s *Server) handleListOverrides(w http.ResponseWriter, r *http.Request) {
	// From a month back by default, so an override just past (or added
	// for past dates, to record who covered) is listed too, as the CLI does.
	from, to, err := s.windowFrom(r, s.opts.Now().Add(-OverrideListBack), MaxWindow)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rot := r.URL.Query().Get("rotation")
	if rot != "" {
		if _, err := s.opts.OnCall.FindRotation(r.Context(), rot); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	ovs, err := s.opts.OnCall.ListOverrides(r.Context(), rot, from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ovs == nil {
		ovs = []oncall.StoredOverride{}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"overrides": ovs})
}

// handleAddOverride serves POST /api/v1/overrides.
func (s *Server) handleAddOverride(w http.ResponseWriter, r *http.Request) {
	var o oncall.Override
	if err := s.decodeStrict(w, r, &o); err != nil {
		s.fail(w, r, err)
		return
	}
	if o.Members == nil {
		o.Members = []string{}
	}
	id, err := s.opts.OnCall.AddOverride(r.Context(), &o)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, map[string]string{"id": id})
}

// handleDeleteOverride serves DELETE /api/v1/overrides/{id}.
func (s *Server) handleDeleteOverride(w http.ResponseWriter, r *http.Request) {
	if err := s.opts.OnCall.DeleteOverride(r.Context(), r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleScheduleShifts serves GET /api/v1/schedules/{name}/shifts?from=&to=:
// the schedule's final timeline, overrides applied, in UTC.
func (s *Server) handleScheduleShifts(w http.ResponseWriter, r *http.Request) {
	from, to, err := s.window(r, DefaultShiftWindow)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	name := r.PathValue("name")
	shifts, err := s.scheduleShifts(r.Context(), name, from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"schedule": name, "from": from, "to": to, "shifts": shifts})
}

func (s *Server) scheduleShifts(ctx context.Context, name string, from, to time.Time) ([]oncall.Shift, error) {
	sc, ovs, err := s.opts.OnCall.ResolvedSchedule(ctx, name, from, to)
	if err != nil {
		return nil, err
	}
	return sc.Shifts(ovs, from, to)
}

// scheduleOnCall is one schedule's entry in the who-is-on-call answer.
type scheduleOnCall struct {
	Name   string   `json:"name"`
	OnCall []string `json:"on_call"`
	// Rotations say who is on call from which rotation (follow-the-sun).
	Rotations []oncall.LayerOnCall `json:"rotations"`
}

// handleWhoIsOnCall serves GET /api/v1/oncall?schedule=&at=: who is on call
// at an instant (default now) in one schedule or in all of them.
func (s *Server) handleWhoIsOnCall(w http.ResponseWriter, r *http.Request) {
	ctx, q := r.Context(), r.URL.Query()
	at := s.opts.Now()
	if v := q.Get("at"); v != "" {
		var err error
		if at, err = parseInstant("at", v); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	var names []string
	if n := q.Get("schedule"); n != "" {
		names = []string{n}
	} else {
		all, err := s.opts.OnCall.ListSchedules(ctx)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, sc := range all {
			names = append(names, sc.Name)
		}
	}
	out := []scheduleOnCall{}
	for _, n := range names {
		// A second either side catches every override in force at at.
		sc, ovs, err := s.opts.OnCall.ResolvedSchedule(ctx, n, at.Add(-time.Second), at.Add(time.Second))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		members, err := sc.OnCall(ovs, at)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if members == nil {
			members = []string{}
		}
		layers, err := sc.OnCallByRotation(ovs, at)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out = append(out, scheduleOnCall{Name: n, OnCall: members, Rotations: layers})
	}
	WriteJSON(w, http.StatusOK, map[string]any{"at": at, "schedules": out})
}

// decodeStrict decodes an API body like decodeJSON, and when the body does
// not fit v it names every offending field with its path
// ("stages[0].duration: ..."), which encoding/json does not do for unknown
// nested fields or for values its unmarshalers reject.
func (s *Server) decodeStrict(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeBody(w, r, s.opts.MaxBodyBytes, v)
}

// decodeBody reads a body within limit and decodes it strictly into v.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	body, err := ReadBody(w, r, limit)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return tocsin.Errorf(tocsin.EINVALID, "invalid JSON body: the body is empty")
	}
	if err := strict.JSON(body, v); err != nil {
		var probs strict.Problems
		if errors.As(err, &probs) {
			return tocsin.Errorf(tocsin.EINVALID, "invalid JSON body: %s", probs)
		}
		return tocsin.Errorf(tocsin.EINVALID, "invalid JSON body: %s", jsonProblem(err))
	}
	return nil
}
