package response

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"tocsin"
)

// Routed is what routing made of an alert, for Ingest: the matched rule,
// the response plans that shape the incident it opens, and the paging
// policy's answer. The store builds it from route.Match, Incident and
// route.MayPage; nil means the alert is not routed (no routing document,
// or no rule and no default matched) and opens an incident as if there
// were no routing.
type Routed struct {
	// Rule is the first matched rule ("default" for the routing's
	// default, "" when the request picked the plan); Reasons are the
	// conditions that held.
	Rule    string
	Reasons []string
	// Plans are the response plans of the matched rules, in order (the
	// first shapes the incident; those of continue matches add their
	// engagements and chat channels). Empty for a notify-only match.
	Plans []*tocsin.ResponsePlan
	// NotifyOnly is set when a matched rule says notify_only: the
	// channels are told and nobody is paged.
	NotifyOnly bool
	// Fields are the first plan's incident template rendered against the
	// alert (zero without a plan); RenderError says what failed to render.
	Fields      IncidentFields
	RenderError string
	// MayPage and PageWhy are the paging policy's answer for the first
	// plan at Fields.Impact (route.MayPage).
	MayPage bool
	PageWhy string
}

// DedupeString is the string that groups the routed alert with an open
// incident ("" when none does).
func (r *Routed) DedupeString() string {
	if r == nil {
		return ""
	}
	return r.Fields.DedupeString
}

// chatChannels are the chat channels of every routed plan, in order.
func (r *Routed) chatChannels() []tocsin.ChatChannel {
	var out []tocsin.ChatChannel
	for _, p := range r.Plans {
		out = append(out, p.ChatChannels...)
	}
	return out
}

// routedOpen shapes the incident an alert opens after routing: its
// fields, the routing on the timeline, and whether it pages (paging
// reports false when nobody may be paged).
func routedOpen(eff *Effects, r *Routed, id string, now time.Time) (paging bool) {
	o := eff.Open
	o.ChatChannels = r.chatChannels()
	by := "rule " + r.Rule
	if r.Rule == "" {
		by = "the request"
	}
	var msg string
	if len(r.Plans) > 0 {
		f := r.Fields
		o.Title, o.Summary, o.Impact, o.Tags, o.DedupeString, o.ResponsePlan = f.Title, f.Summary, f.Impact, f.Tags, f.DedupeString, f.Plan
		names := make([]string, len(r.Plans))
		for i, p := range r.Plans {
			names[i] = p.Name
		}
		msg = fmt.Sprintf("Routed by %s to response plan %s", by, strings.Join(names, ", "))
		eff.Runbook = r.Plans[0].Runbook
	} else {
		msg = fmt.Sprintf("Routed by %s: notify only", by)
	}
	eff.Events = append(eff.Events, event(id, now, tocsin.EventRouted, "routing", msg,
		map[string]any{"rule": r.Rule, "reasons": r.Reasons, "response_plan": o.ResponsePlan, "notify_only": r.NotifyOnly}))
	if r.RenderError != "" {
		eff.Events = append(eff.Events, event(id, now, tocsin.EventTemplateFailed, "routing",
			"Response plan template failed, the alert's own text is used: "+r.RenderError, nil))
	}
	switch {
	case r.NotifyOnly:
		eff.Events = append(eff.Events, event(id, now, tocsin.EventPagingRefused, "routing",
			fmt.Sprintf("Notify only (%s): the channels are told, nobody is paged", by), map[string]any{"rule": r.Rule}))
		return false
	case len(r.Plans) > 0 && !r.MayPage:
		eff.Events = append(eff.Events, event(id, now, tocsin.EventPagingRefused, "paging policy",
			"Paging refused: "+r.PageWhy+"; the channels are told, nobody is paged",
			map[string]any{"response_plan": o.ResponsePlan, "impact": o.Impact}))
		return false
	}
	return true
}

// engagements are the jobs starting the routed plans' engagements, each
// after its delay, with one timeline event each saying so.
func engagements(eff *Effects, r *Routed, id string, now time.Time) {
	for _, p := range r.Plans {
		for i, e := range p.Engagements {
			kind, name := e.Target()
			args, _ := json.Marshal(tocsin.EngageArgs{ResponsePlan: p.Name, Index: i, Kind: kind, Name: name})
			d := e.Delay.Std()
			eff.Jobs = append(eff.Jobs, &tocsin.Job{Kind: tocsin.JobEngage, Lane: tocsin.JobEngage, Key: tocsin.EngageKey(id, p.Name, i),
				IncidentID: id, Args: args, DueAt: now.Add(d)})
			what := strings.ReplaceAll(kind, "_", " ") + " " + name
			msg := fmt.Sprintf("Response plan %s: engaging %s", p.Name, what)
			if d > 0 {
				msg = fmt.Sprintf("Response plan %s: engaging %s in %s unless acknowledged", p.Name, what, d)
			}
			eff.Events = append(eff.Events, event(id, now, tocsin.EventEngaged, "routing", msg,
				map[string]any{"response_plan": p.Name, "index": i, "kind": kind, "name": name, "delay_seconds": d.Seconds()}))
		}
	}
}

// hasEngagements reports whether any routed plan engages somebody.
func (r *Routed) hasEngagements() bool {
	for _, p := range r.Plans {
		if len(p.Engagements) > 0 {
			return true
		}
	}
	return false
}

// chatNotifications are the notify jobs of one event: one per policy
// channel, as notifications, except that an incident's chat channels add
// a job for each destination they name and, with replace_defaults, take
// the channel's configured destination's place.
func chatNotifications(p *tocsin.Policy, chats []tocsin.ChatChannel, incidentID, alertID, ev string, dest map[string]map[string]string, now time.Time) []*tocsin.Job {
	var jobs []*tocsin.Job
	add := func(ch string, d map[string]string) {
		args, _ := json.Marshal(tocsin.NotifyArgs{Channel: ch, Event: ev, AlertID: alertID, Destination: d})
		jobs = append(jobs, &tocsin.Job{Kind: tocsin.JobNotify, Lane: tocsin.NotifyLane(ch), IncidentID: incidentID, Args: args, DueAt: now})
	}
	for _, ch := range p.Channels {
		replaced := false
		var extra []map[string]string
		for _, c := range chats {
			key := tocsin.ChatDestinationKeys[ch]
			if c.Channel != ch || c.Destination == "" || key == "" {
				continue
			}
			d := map[string]string{}
			for k, v := range dest[ch] {
				d[k] = v
			}
			d[key] = c.Destination
			extra = append(extra, d)
			replaced = replaced || c.ReplaceDefaults
		}
		if !replaced {
			add(ch, dest[ch])
		}
		for _, d := range extra {
			add(ch, d)
		}
	}
	return jobs
}

// planNotifications are the jobs telling plan's notification targets of
// a lifecycle event ("created", "acknowledged", "impact_changed",
// "resolved"); none when plan is nil.
func planNotifications(plan *tocsin.ResponsePlan, incidentID, ev string, impact int, now time.Time) []*tocsin.Job {
	if plan == nil {
		return nil
	}
	var jobs []*tocsin.Job
	for i := range plan.IncidentTemplate.NotificationTargets {
		args, _ := json.Marshal(tocsin.PlanNotifyArgs{ResponsePlan: plan.Name, Index: i, Event: ev, Impact: impact})
		jobs = append(jobs, &tocsin.Job{Kind: tocsin.JobPlanNotify, Lane: tocsin.PlanNotifyLane, IncidentID: incidentID, Args: args, DueAt: now})
	}
	return jobs
}
