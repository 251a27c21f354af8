package response

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"tocsin"
)

// Effects are what a decision changes, as data. The store applies them in
// the transaction that loaded the decision's input, in this order: the
// new incident, the alert's write, the counts, the status change, the
// events, the cancellations, the engagements' stop, the jobs; then the
// follow-up decisions (Acknowledge, Resolve), each on the state after.
type Effects struct {
	// Result is what the sender is told about the alert (Ingest only;
	// Resolved is set by the store when the Resolve follow-up changed
	// the incident).
	Result tocsin.IngestResult
	// Open is an incident to insert (ID, title, summary, impact, status,
	// source, dedup key, labels), with one alert, open.
	Open *tocsin.Incident
	// Alert says how the alert itself is written.
	Alert AlertWrite
	// Count changes the incident's alert counts and impact.
	Count *Count
	// Status changes the incident's status, unless it is no longer From.
	Status *StatusChange
	// Events go on the timeline, in order.
	Events []*tocsin.TimelineEvent
	// Cancel lists the pending jobs to cancel.
	Cancel []Cancel
	// StopEngagements, when set, stops the incident's engagements and
	// cancels their pending pages; it is the reason ("resolved").
	StopEngagements string
	// Jobs are queued (notifications, timers, resolves at providers).
	Jobs []*tocsin.Job
	// Acknowledge and Resolve, when set, ask for the incident to be
	// acknowledged or resolved by that actor, decided by Acknowledge or
	// Resolve on the state after these effects.
	Acknowledge *tocsin.Actor
	Resolve     *tocsin.Actor
	// Record changes the incident's title, summary or impact (triage);
	// applied before the events.
	Record *RecordChange
	// Items are related items to store (a start by hand), with their ids.
	Items []*tocsin.RelatedItem
	// Runbook, when set, is the runbook of the response plan a new
	// incident opens from, to start with it in the same transaction
	// (after the incident and its events); the plan's dynamic parameters
	// are read from the incident then.
	Runbook *tocsin.RunbookRef
}

// Alert writes.
const (
	// AlertNone leaves the stored alert as it is.
	AlertNone = ""
	// AlertInsert stores the alert under AlertWrite.ID.
	AlertInsert = "insert"
	// AlertUpdate records everything the alert says now.
	AlertUpdate = "update"
	// AlertStatus records only the alert's status and end (a resolve).
	AlertStatus = "status"
)

// AlertWrite says how an alert is stored: Op is one of the Alert… writes,
// ID the alert's id, IncidentID its incident's.
type AlertWrite struct {
	Op         string
	ID         string
	IncidentID string
}

// Count changes an incident's alert counts by Alerts and Open, and sets
// its impact to Impact when that is not zero.
type Count struct {
	Alerts int
	Open   int
	Impact int
}

// StatusChange moves an incident to status To, by By. It is applied only
// while the incident is not yet To (acknowledge: only a triggered one);
// a resolve also resolves the incident's alerts.
type StatusChange struct {
	To string
	By tocsin.Actor
}

// Cancel selects an incident's pending jobs of the given kinds. Jobs no
// worker holds are deleted; jobs a worker is running are marked
// cancelled, so their outcome is still recorded.
type Cancel struct {
	IncidentID string
	Kinds      []string
}

// Input is what deciding about one alert needs.
type Input struct {
	Alert *tocsin.Alert
	// Incident is the open incident with the alert's source and dedup key,
	// as it stands (ID, Status, Impact, OpenAlertCount); nil when none is.
	Incident *tocsin.Incident
	// Known is the incident's alert with the same fingerprint (ID, Status,
	// Title); nil when the alert is new to it.
	Known   *tocsin.Alert
	Policy  *tocsin.Policy
	Options tocsin.IngestOptions
	// Routed is what routing made of the alert; nil when it is not
	// routed (see Routed).
	Routed *Routed
	// IncidentPlan is the response plan Incident was opened from (its
	// notification targets hear of impact changes); nil when none.
	IncidentPlan *tocsin.ResponsePlan
	// NewIncidentID and NewAlertID are the ids a new incident and a new
	// alert get.
	NewIncidentID, NewAlertID string
	Now                       time.Time
}

// pagerDutyAcknowledge reports whether an alert is a PagerDuty Events
// acknowledge: an action on the incident, not a report of the alert.
func pagerDutyAcknowledge(a *tocsin.Alert) bool {
	return a.Annotations["pagerduty_action"] == "acknowledge"
}

// Ingest decides what one alert does (see the package documentation).
func Ingest(in Input) Effects {
	a, inc := in.Alert, in.Incident
	ack := pagerDutyAcknowledge(a)
	if inc == nil {
		if a.Resolved() || ack {
			// A resolve or acknowledge for nothing open: nothing to change
			// (PagerDuty drops these too).
			return Effects{}
		}
		return open(in)
	}
	eff := Effects{Result: tocsin.IngestResult{IncidentID: inc.ID, Deduplicated: true}}
	openAlerts := inc.OpenAlertCount
	if k := in.Known; k == nil {
		eff.Alert = AlertWrite{Op: AlertInsert, ID: in.NewAlertID, IncidentID: inc.ID}
		n := 1
		if a.Resolved() {
			n = 0
		}
		impact := min(inc.Impact, in.Policy.ImpactFor(a.Severity))
		eff.Count = &Count{Alerts: 1, Open: n, Impact: impact}
		eff.Events = append(eff.Events, event(inc.ID, in.Now, tocsin.EventAlertAttached, a.Source, "Alert attached: "+a.Title,
			map[string]any{"alert_id": in.NewAlertID, "status": a.Status}))
		if impact < inc.Impact {
			eff.Events = append(eff.Events, event(inc.ID, in.Now, tocsin.EventAlertAttached, a.Source,
				fmt.Sprintf("Impact raised from %d to %d", inc.Impact, impact), nil))
			eff.Jobs = append(eff.Jobs, planNotifications(in.IncidentPlan, inc.ID, tocsin.LifecycleImpactChanged, impact, in.Now)...)
		}
		eff.Result.AlertID = in.NewAlertID
		openAlerts += n
	} else {
		eff.Result.AlertID = k.ID
		eff.Alert = AlertWrite{ID: k.ID, IncidentID: inc.ID}
		title := k.Title
		switch {
		case ack:
			// What the trigger said stays.
		case a.Resolved():
			// Senders such as PagerDuty's Events API send nothing else
			// with a resolve: the trigger's title, severity, labels and
			// annotations stay.
			eff.Alert.Op = AlertStatus
		default:
			eff.Alert.Op = AlertUpdate
			title = a.Title
		}
		switch {
		case k.Status == tocsin.AlertFiring && a.Resolved():
			openAlerts--
			eff.Count = &Count{Open: -1}
			eff.Events = append(eff.Events, event(inc.ID, in.Now, tocsin.EventAlertResolved, a.Source, "Alert resolved: "+title,
				map[string]any{"alert_id": k.ID}))
		case k.Status == tocsin.AlertResolved && !a.Resolved():
			openAlerts++
			eff.Count = &Count{Open: 1}
			eff.Events = append(eff.Events, event(inc.ID, in.Now, tocsin.EventAlertAttached, a.Source, "Alert firing again: "+a.Title,
				map[string]any{"alert_id": k.ID}))
		}
		// A repeat of a firing alert (Alertmanager's repeat_interval, a
		// sender's retry) changes nothing and adds nothing to the timeline.
	}
	if ack && inc.Status == tocsin.StatusTriggered {
		eff.Acknowledge = &tocsin.Actor{Name: a.Source, Via: "event"}
	}
	if openAlerts <= 0 && a.Resolved() && in.Policy.AutoResolve {
		eff.Resolve = &tocsin.Actor{Name: a.Source, Via: "all alerts resolved"}
	}
	return eff
}

// open decides a new incident for a firing alert.
func open(in Input) Effects {
	a, id, now := in.Alert, in.NewIncidentID, in.Now
	eff := Effects{
		Result: tocsin.IngestResult{AlertID: in.NewAlertID, IncidentID: id, Created: true},
		Open: &tocsin.Incident{ID: id, Title: a.Title, Summary: a.Description, Impact: in.Policy.ImpactFor(a.Severity),
			Status: tocsin.StatusTriggered, Source: a.Source, DedupKey: a.DedupKey, Labels: a.Labels,
			CreatedAt: now, UpdatedAt: now, AlertCount: 1, OpenAlertCount: 1},
		Alert: AlertWrite{Op: AlertInsert, ID: in.NewAlertID, IncidentID: id},
		Events: []*tocsin.TimelineEvent{event(id, now, tocsin.EventCreated, a.Source, "Incident opened: "+a.Title,
			map[string]any{"alert_id": in.NewAlertID, "dedup_key": a.DedupKey})},
	}
	paging, oc := true, in.Options.OnCall
	if r := in.Routed; r != nil {
		paging = routedOpen(&eff, r, id, now)
		if paging {
			engagements(&eff, r, id, now)
		}
		// A plan's engagements are tocsin's own paging: the
		// ack-or-escalate timer of oncall.provider tocsin would page again.
		if !paging || (r.hasEngagements() && oc != nil && oc.Provider == tocsin.OnCallTocsin) {
			oc = nil
		}
	}
	if !in.Options.Quiet {
		eff.Jobs = append(eff.Jobs, chatNotifications(in.Policy, eff.Open.ChatChannels, id, in.NewAlertID, tocsin.NotifyEventOpened, in.Options.Destinations, now)...)
	}
	if r := in.Routed; r != nil && len(r.Plans) > 0 {
		eff.Jobs = append(eff.Jobs, planNotifications(r.Plans[0], id, tocsin.LifecycleCreated, eff.Open.Impact, now)...)
	}
	if oc != nil {
		args, _ := json.Marshal(tocsin.EscalateArgs{Provider: oc.Provider, Target: oc.Target})
		eff.Jobs = append(eff.Jobs, &tocsin.Job{Kind: tocsin.JobEscalate, Lane: tocsin.EscalateLane(oc.Provider), Key: tocsin.EscalateKey(id),
			IncidentID: id, Args: args, DueAt: now.Add(oc.Wait)})
		msg := fmt.Sprintf("On-call armed: escalating to %s in %s unless acknowledged", oc.Provider, oc.Wait)
		if oc.Wait <= 0 {
			msg = "On-call: escalating to " + oc.Provider + " at once"
		}
		eff.Events = append(eff.Events, event(id, now, tocsin.EventEscalation, "", msg,
			map[string]any{"provider": oc.Provider, "target": oc.Target, "wait_seconds": oc.Wait.Seconds()}))
	}
	// A quiet incident (a test page) tells no channel, reminders included.
	if d := in.Policy.RenotifyAfter; d > 0 && !in.Options.Quiet {
		args, _ := json.Marshal(tocsin.RenotifyArgs{Destinations: in.Options.Destinations})
		eff.Jobs = append(eff.Jobs, &tocsin.Job{Kind: tocsin.JobRenotify, Lane: tocsin.JobRenotify, Key: tocsin.RenotifyKey(id),
			IncidentID: id, Args: args, DueAt: now.Add(d)})
	}
	return eff
}

// Warnings are the timeline events telling every incident one intake
// request touched which of its parameters were ignored, once each.
func Warnings(results []tocsin.IngestResult, warnings []string, now time.Time) []*tocsin.TimelineEvent {
	if len(warnings) == 0 {
		return nil
	}
	var out []*tocsin.TimelineEvent
	seen := map[string]bool{}
	for _, r := range results {
		if r.IncidentID == "" || seen[r.IncidentID] {
			continue
		}
		seen[r.IncidentID] = true
		out = append(out, event(r.IncidentID, now, tocsin.EventIntakeWarning, "intake",
			"Request parameters ignored: "+strings.Join(warnings, "; "), map[string]any{"warnings": warnings}))
	}
	return out
}

// Change is what deciding an acknowledgement or a resolve needs.
type Change struct {
	// Incident is the incident as it stands (ID, Status).
	Incident *tocsin.Incident
	By       tocsin.Actor
	// AlertID is the alert whose resolve resolved the incident, named in
	// the notifications ("" when a person did).
	AlertID string
	Policy  *tocsin.Policy
	// Escalation is the incident's pending ack-or-escalate timer; nil
	// when there is none.
	Escalation *Escalation
	// Refs are the incident's channel references: a resolve is synced to
	// every on-call provider that saved one.
	Refs []tocsin.ChannelRef
	// ChatChannels are the incident's (from its response plans): its
	// notifications go there too. Plan is the plan it was opened from,
	// whose notification targets hear of the change; nil when none.
	ChatChannels []tocsin.ChatChannel
	Plan         *tocsin.ResponsePlan
	// Delayed are the response plan engagements still waiting out their
	// delay: cancelled, each on the timeline.
	Delayed []tocsin.EngageArgs
	Now     time.Time
}

// Escalation is a pending ack-or-escalate timer: its arguments, and
// whether a worker is running it now.
type Escalation struct {
	Args    tocsin.EscalateArgs
	Running bool
}

// Acknowledge decides the acknowledgement of an incident: a triggered one
// becomes acknowledged, its timers and engagements stop and the channels
// are told; any other changes nothing.
func Acknowledge(c Change) Effects {
	if c.Incident.Status != tocsin.StatusTriggered {
		return Effects{}
	}
	eff := settle(c, tocsin.StatusAcknowledged, tocsin.EventAcknowledged, "Acknowledged by ", tocsin.NotifyEventAcknowledged)
	eff.Jobs = append(eff.Jobs, planNotifications(c.Plan, c.Incident.ID, tocsin.LifecycleAcknowledged, 0, c.Now)...)
	return eff
}

// Resolve decides the resolve of an incident: an open one becomes
// resolved with its alerts, its timers and engagements stop, every
// provider it was escalated to is told and so are the channels; a
// resolved one changes nothing.
func Resolve(c Change) Effects {
	if c.Incident.Status == tocsin.StatusResolved {
		return Effects{}
	}
	eff := settle(c, tocsin.StatusResolved, tocsin.EventResolved, "Resolved by ", tocsin.NotifyEventResolved)
	var deesc []*tocsin.Job
	for _, r := range c.Refs {
		if strings.HasPrefix(r.Channel, tocsin.OnCallRefChannel) {
			if j := Deescalate(c.Incident.ID, r.Ref, c.Now); j != nil {
				deesc = append(deesc, j)
			}
		}
	}
	// The providers are told before the channels, as they always were.
	eff.Jobs = append(deesc, eff.Jobs...)
	eff.Jobs = append(eff.Jobs, planNotifications(c.Plan, c.Incident.ID, tocsin.LifecycleResolved, 0, c.Now)...)
	return eff
}

// settle is what acknowledging and resolving share: the status to, the
// timeline's kind and verb, and the notifications' event.
func settle(c Change, to, kind, verb, notifyEvent string) Effects {
	id, now, by := c.Incident.ID, c.Now, c.By.String()
	eff := Effects{
		Status: &StatusChange{To: to, By: c.By},
		Events: []*tocsin.TimelineEvent{event(id, now, kind, by, verb+by, nil)},
		// An escalation a worker is running is marked cancelled, not
		// deleted: the provider's reference it saves is still recorded,
		// and resolved there when the incident is resolved by then.
		Cancel:          []Cancel{{IncidentID: id, Kinds: []string{tocsin.JobRenotify, tocsin.JobEscalate}}},
		StopEngagements: to,
	}
	if len(c.Delayed) > 0 {
		eff.Cancel[0].Kinds = append(eff.Cancel[0].Kinds, tocsin.JobEngage)
		for _, d := range c.Delayed {
			eff.Events = append(eff.Events, event(id, now, tocsin.EventEngaged, "", fmt.Sprintf("Response plan %s: engaging %s %s cancelled: %s",
				d.ResponsePlan, strings.ReplaceAll(d.Kind, "_", " "), d.Name, to), map[string]any{"response_plan": d.ResponsePlan, "index": d.Index}))
		}
	}
	if e := c.Escalation; e != nil {
		p := e.Args.Provider
		msg := "Escalation to " + p + " cancelled: " + to
		if e.Running {
			msg = "Escalation to " + p + " was under way when the incident was " + to + "; its answer is still recorded"
		}
		eff.Events = append(eff.Events, event(id, now, tocsin.EventEscalation, "", msg, map[string]any{"provider": p}))
	}
	eff.Jobs = chatNotifications(c.Policy, c.ChatChannels, id, c.AlertID, notifyEvent, nil, now)
	return eff
}

// Deescalate is the job resolving an incident at the provider it was
// escalated to; ref is the JSON of tocsin.EscalateArgs with Ref set, as
// the escalation saved it. It is nil when ref is unreadable.
func Deescalate(incidentID, ref string, now time.Time) *tocsin.Job {
	var a tocsin.EscalateArgs
	if json.Unmarshal([]byte(ref), &a) != nil {
		return nil
	}
	args, _ := json.Marshal(a)
	return &tocsin.Job{Kind: tocsin.JobDeescalate, Lane: tocsin.EscalateLane(a.Provider), IncidentID: incidentID, Args: args, DueAt: now}
}

// notifications are one notify job per policy channel.
func notifications(p *tocsin.Policy, incidentID, alertID, ev string, dest map[string]map[string]string, now time.Time) []*tocsin.Job {
	var jobs []*tocsin.Job
	for _, ch := range p.Channels {
		args, _ := json.Marshal(tocsin.NotifyArgs{Channel: ch, Event: ev, AlertID: alertID, Destination: dest[ch]})
		jobs = append(jobs, &tocsin.Job{Kind: tocsin.JobNotify, Lane: tocsin.NotifyLane(ch), IncidentID: incidentID, Args: args, DueAt: now})
	}
	return jobs
}

// event is a timeline event with data marshalled (none when data is nil).
func event(incidentID string, at time.Time, kind, actor, msg string, data map[string]any) *tocsin.TimelineEvent {
	e := &tocsin.TimelineEvent{IncidentID: incidentID, At: at, Kind: kind, Actor: actor, Message: msg}
	if data != nil {
		e.Data, _ = json.Marshal(data)
	}
	return e
}
