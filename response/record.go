package response

import (
	"encoding/json"
	"fmt"
	"time"

	"tocsin"
)

// RecordChange sets the fields of an incident's record that are not nil.
type RecordChange struct {
	Title   *string
	Summary *string
	Impact  *int
}

// StartInput is what deciding a start by hand needs.
type StartInput struct {
	Start *tocsin.IncidentStart
	// NewIncidentID is the id the incident gets; NewItemIDs one id per
	// related item of the request, in order.
	NewIncidentID string
	NewItemIDs    []string
	Policy        *tocsin.Policy
	Now           time.Time
	// Routed is the response plan the start names, as intake routes an
	// alert to it (nil without one): the plan's template fills what the
	// request leaves out, and its chat channels, engagements and
	// notification targets apply as for an alert's incident.
	Routed *Routed
}

// Start decides an incident started by hand (see the package
// documentation): it opens triggered with the request's title, impact
// (medium when none is given), summary, tags, plan and trigger, its own
// dedup key (a start never joins another incident), its related items,
// and tells the policy channels as an alert's incident would.
func Start(in StartInput) Effects {
	st, id, now := in.Start, in.NewIncidentID, in.Now
	impact := st.Impact
	if impact == 0 {
		impact = tocsin.ImpactMedium
	}
	by := st.By.String()
	inc := &tocsin.Incident{ID: id, Title: st.Title, Summary: st.Summary, Impact: impact, Status: tocsin.StatusTriggered,
		Source: tocsin.SourceManual, DedupKey: id, Tags: st.Tags, ResponsePlan: st.ResponsePlan, TriggerDetails: st.TriggerDetails,
		CreatedAt: now, UpdatedAt: now}
	eff := Effects{Open: inc}
	var routed []*tocsin.TimelineEvent
	paging := true
	if r := in.Routed; r != nil {
		paging = routedOpen(&eff, r, id, now)
		routed, eff.Events = eff.Events, nil
		// What the request says wins over the plan's template.
		if st.Title != "" {
			inc.Title = st.Title
		}
		if st.Summary != "" {
			inc.Summary = st.Summary
		}
		if st.Impact != 0 {
			inc.Impact = st.Impact
		} else if inc.Impact == 0 {
			inc.Impact = tocsin.ImpactMedium
		}
		for k, v := range st.Tags {
			if inc.Tags == nil {
				inc.Tags = map[string]string{}
			}
			inc.Tags[k] = v
		}
		inc.Source, inc.DedupKey, inc.ResponsePlan = tocsin.SourceManual, id, st.ResponsePlan
		impact = inc.Impact
	}
	data := map[string]any{"impact": impact}
	if st.ResponsePlan != "" {
		data["response_plan"] = st.ResponsePlan
	}
	if t := st.TriggerDetails; t != nil {
		data["trigger_source"] = t.Source
	}
	eff.Events = append([]*tocsin.TimelineEvent{event(id, now, tocsin.EventCreated, by,
		fmt.Sprintf("Incident started by %s: %s (impact %d, %s)", by, inc.Title, impact, tocsin.ImpactName(impact)), data)}, routed...)
	for i, it := range st.RelatedItems {
		item := *it
		item.ID, item.IncidentID, item.CreatedAt, item.CreatedBy = in.NewItemIDs[i], id, now, by
		add := AddItem(&item, now)
		eff.Items = append(eff.Items, add.Items...)
		eff.Events = append(eff.Events, add.Events...)
	}
	if r := in.Routed; r != nil {
		if paging {
			engagements(&eff, r, id, now)
		}
		eff.Jobs = append(eff.Jobs, chatNotifications(in.Policy, inc.ChatChannels, id, "", tocsin.NotifyEventOpened, nil, now)...)
		if len(r.Plans) > 0 {
			eff.Jobs = append(eff.Jobs, planNotifications(r.Plans[0], id, tocsin.LifecycleCreated, inc.Impact, now)...)
		}
	} else {
		eff.Jobs = notifications(in.Policy, id, "", tocsin.NotifyEventOpened, nil, now)
	}
	if d := in.Policy.RenotifyAfter; d > 0 {
		args, _ := json.Marshal(tocsin.RenotifyArgs{})
		eff.Jobs = append(eff.Jobs, &tocsin.Job{Kind: tocsin.JobRenotify, Lane: tocsin.JobRenotify, Key: tocsin.RenotifyKey(id),
			IncidentID: id, Args: args, DueAt: now.Add(d)})
	}
	return eff
}

// Triage decides an update of an incident's record: each field that
// changes is set and goes on the timeline with who changed it and its old
// and new values; a field set to what it is changes nothing. A status
// asks for the acknowledgement or resolve it names, decided as any other
// (Effects.Acknowledge, Effects.Resolve). An impact change tells no
// channel: the channels' templates have no message for it (the response
// plan's lifecycle notifications will carry it).
func Triage(inc *tocsin.Incident, u *tocsin.IncidentUpdate, now time.Time) Effects {
	var eff Effects
	by := u.By.String()
	rc := &RecordChange{}
	changed := false
	if u.Title != nil && *u.Title != inc.Title {
		rc.Title, changed = u.Title, true
		eff.Events = append(eff.Events, event(inc.ID, now, tocsin.EventTriage, by,
			fmt.Sprintf("Title changed by %s from %q to %q", by, inc.Title, *u.Title),
			map[string]any{"field": "title", "old": inc.Title, "new": *u.Title}))
	}
	if u.Summary != nil && *u.Summary != inc.Summary {
		rc.Summary, changed = u.Summary, true
		eff.Events = append(eff.Events, event(inc.ID, now, tocsin.EventTriage, by, "Summary changed by "+by,
			map[string]any{"field": "summary", "old": inc.Summary, "new": *u.Summary}))
	}
	if u.Impact != nil && *u.Impact != inc.Impact {
		rc.Impact, changed = u.Impact, true
		eff.Events = append(eff.Events, event(inc.ID, now, tocsin.EventTriage, by,
			fmt.Sprintf("Impact changed by %s from %d (%s) to %d (%s)", by, inc.Impact, tocsin.ImpactName(inc.Impact), *u.Impact, tocsin.ImpactName(*u.Impact)),
			map[string]any{"field": "impact", "old": inc.Impact, "new": *u.Impact}))
	}
	if changed {
		eff.Record = rc
	}
	switch u.Status {
	case tocsin.StatusAcknowledged:
		eff.Acknowledge = &u.By
	case tocsin.StatusResolved:
		eff.Resolve = &u.By
	}
	return eff
}

// TimelineEvent is a responder's own event (a custom event or a note) as
// it goes on the timeline: at its event time (now when none is given),
// with its author.
func TimelineEvent(incidentID string, in *tocsin.EventInput, now time.Time) *tocsin.TimelineEvent {
	at := in.Time
	if at.IsZero() {
		at = now
	}
	return &tocsin.TimelineEvent{IncidentID: incidentID, At: at.UTC(), Kind: tocsin.EventKind(in.Type), Actor: in.By.String(),
		Message: in.Data, References: in.References}
}

// Editable reports whether e may be edited or deleted by by: only a
// custom event or a note, only by its author (the same "by" name; there
// are no users yet), never one recorded without an author's name.
func Editable(e *tocsin.TimelineEvent, by tocsin.Actor) error {
	if e.Kind != tocsin.EventCustom && e.Kind != tocsin.EventNote {
		return tocsin.Errorf(tocsin.EFORBIDDEN, "timeline event %s: a %s event is tocsin's record and cannot be changed", e.ID, e.Kind)
	}
	if by.Name == "" {
		return tocsin.Errorf(tocsin.EINVALID, "by: required: only the event's author may change it")
	}
	if e.Actor != by.String() {
		return tocsin.Errorf(tocsin.EFORBIDDEN, "timeline event %s: only its author (%s) may change it, not %s", e.ID, e.Actor, by.String())
	}
	return nil
}

// Edit applies an edit to the author's event e (Editable has allowed it)
// and returns the audit event that records it without repeating the text.
func Edit(e *tocsin.TimelineEvent, ed *tocsin.EventEdit, now time.Time) *tocsin.TimelineEvent {
	if ed.Time != nil {
		e.At = ed.Time.UTC()
	}
	if ed.Data != nil {
		e.Message = *ed.Data
	}
	if ed.References != nil {
		e.References = *ed.References
	}
	e.UpdatedAt = &now
	by := ed.By.String()
	return event(e.IncidentID, now, tocsin.EventEdited, by, fmt.Sprintf("%s edited by %s", kindName(e.Kind), by), map[string]any{"event_id": e.ID})
}

// Deleted is the audit event of e deleted by its author.
func Deleted(e *tocsin.TimelineEvent, by tocsin.Actor, now time.Time) *tocsin.TimelineEvent {
	return event(e.IncidentID, now, tocsin.EventEdited, by.String(), fmt.Sprintf("%s deleted by %s", kindName(e.Kind), by.String()),
		map[string]any{"event_id": e.ID, "deleted": true})
}

func kindName(kind string) string {
	if kind == tocsin.EventNote {
		return "Note"
	}
	return "Custom event"
}

// AddItem decides a related item added (ID, IncidentID, CreatedAt and
// CreatedBy set; the store has checked that an incident or parent item
// names another incident and that a parent link makes no cycle): it is
// stored and goes on the timeline; a parent link goes on the parent's
// timeline too, so the parent shows its new child.
func AddItem(it *tocsin.RelatedItem, now time.Time) Effects {
	eff := Effects{Items: []*tocsin.RelatedItem{it}, Events: []*tocsin.TimelineEvent{itemAdded(it, now)}}
	if it.Type == tocsin.RelatedParent {
		eff.Events = append(eff.Events, childLinked(it.Value, it, now))
	}
	return eff
}

func itemAdded(it *tocsin.RelatedItem, now time.Time) *tocsin.TimelineEvent {
	what := it.Title
	if what == "" {
		what = it.Value
	}
	if it.Type == tocsin.RelatedAttachment && what == "" {
		what = it.Filename
	}
	msg := fmt.Sprintf("Related item added by %s: %s %q", it.CreatedBy, it.Type, what)
	if it.Type == tocsin.RelatedParent {
		msg = fmt.Sprintf("Linked by %s under parent incident %s", it.CreatedBy, it.Value)
	}
	return event(it.IncidentID, now, tocsin.EventRelatedItem, it.CreatedBy, msg,
		map[string]any{"related_item_id": it.ID, "type": it.Type, "action": "added"})
}

// ItemRemoved is the timeline event of a related item removed by by.
func ItemRemoved(it *tocsin.RelatedItem, by tocsin.Actor, now time.Time) *tocsin.TimelineEvent {
	return event(it.IncidentID, now, tocsin.EventRelatedItem, by.String(), fmt.Sprintf("Related item removed by %s: %s %q", by.String(), it.Type, it.Title),
		map[string]any{"related_item_id": it.ID, "type": it.Type, "action": "removed"})
}

// childLinked is the event on a parent's timeline when an incident is
// linked under it.
func childLinked(parentID string, child *tocsin.RelatedItem, now time.Time) *tocsin.TimelineEvent {
	return event(parentID, now, tocsin.EventRelatedItem, child.CreatedBy, fmt.Sprintf("Incident %s linked under this one by %s", child.IncidentID, child.CreatedBy),
		map[string]any{"child_id": child.IncidentID, "action": "child_linked"})
}
