package storetest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/store"
)

// runRecord checks the incident record: starts by hand and their tokens,
// triage, responders' timeline events, related items and parents, and
// findings.
func runRecord(t *testing.T, open func(*testing.T, func(*store.Options)) (*store.DB, *Clock)) {
	ctx := context.Background()
	alice := tocsin.Actor{Name: "alice", Via: "api"}
	bob := tocsin.Actor{Name: "bob", Via: "api"}
	start := func(t *testing.T, db *store.DB, title string) *tocsin.Incident {
		t.Helper()
		inc, created, err := db.Incidents().StartIncident(ctx, &tocsin.IncidentStart{Title: title, By: alice})
		if err != nil || !created {
			t.Fatalf("start %q: created=%v %v", title, created, err)
		}
		return inc
	}

	t.Run("StartIsIdempotent", func(t *testing.T) {
		db, clock := open(t, nil)
		st := &tocsin.IncidentStart{Title: "Checkout errors", Impact: 2, Summary: "5xx on /pay", Tags: map[string]string{"service": "checkout"},
			TriggerDetails: &tocsin.TriggerDetails{Source: "deploy-bot", Timestamp: Epoch, RawData: `{"x":1}`},
			RelatedItems:   []*tocsin.RelatedItem{{Type: "metric", Title: "Errors", Value: "https://grafana.example.com/d/1"}},
			ClientToken:    "tok-1", By: alice}
		first, created, err := db.Incidents().StartIncident(ctx, st)
		if err != nil || !created {
			t.Fatalf("first start: created=%v %v", created, err)
		}
		jobs, _ := db.Jobs().PendingJobs(ctx)
		clock.Add(time.Minute)
		again, created, err := db.Incidents().StartIncident(ctx, st)
		if err != nil || created || again.ID != first.ID {
			t.Fatalf("same token again: id %s (first %s) created=%v %v", again.ID, first.ID, created, err)
		}
		if n, _ := db.Jobs().PendingJobs(ctx); n != jobs || n != 2 {
			t.Fatalf("jobs after the repeat: %d (after the first %d); want the 2 notifications once", n, jobs)
		}
		list, _, _ := db.Incidents().ListIncidents(ctx, tocsin.IncidentFilter{})
		if len(list) != 1 {
			t.Fatalf("%d incidents; want 1", len(list))
		}
		if first.Impact != 2 || first.Source != tocsin.SourceManual || first.Tags["service"] != "checkout" || first.TriggerDetails == nil ||
			first.TriggerDetails.Source != "deploy-bot" || len(first.RelatedItems) != 1 || first.RelatedItems[0].CreatedBy != "alice via api" {
			t.Fatalf("started incident: %+v", first)
		}
		if got := kinds(first.Timeline); got != "created,related_item" || first.Timeline[0].Actor != "alice via api" {
			t.Fatalf("timeline %s (actor %q)", got, first.Timeline[0].Actor)
		}
		// Another token is another incident; no token never dedupes.
		st.ClientToken = "tok-2"
		if other, created, err := db.Incidents().StartIncident(ctx, st); err != nil || !created || other.ID == first.ID {
			t.Fatalf("another token: %v %v", created, err)
		}
	})

	t.Run("StartRefusesBadInput", func(t *testing.T) {
		db, _ := open(t, nil)
		for field, st := range map[string]*tocsin.IncidentStart{
			"impact":                 {Title: "x", Impact: 6},
			"title":                  {Title: " "},
			"related_items[0].type":  {Title: "x", RelatedItems: []*tocsin.RelatedItem{{Type: "dashboard", Value: "v"}}},
			"related_items[0].value": {Title: "x", RelatedItems: []*tocsin.RelatedItem{{Type: "parent", Value: "nope"}}},
			"trigger_details.source": {Title: "x", TriggerDetails: &tocsin.TriggerDetails{Timestamp: Epoch}},
		} {
			_, _, err := db.Incidents().StartIncident(ctx, st)
			if tocsin.ErrorCode(err) != tocsin.EINVALID || !strings.Contains(tocsin.ErrorMessage(err), field) {
				t.Errorf("%s: %v", field, err)
			}
		}
		if list, _, _ := db.Incidents().ListIncidents(ctx, tocsin.IncidentFilter{}); len(list) != 0 {
			t.Fatalf("bad starts wrote %d incidents", len(list))
		}
	})

	t.Run("TriageRecordsEachChange", func(t *testing.T) {
		db, clock := open(t, nil)
		inc := start(t, db, "Slow checkout")
		clock.Add(time.Minute)
		two, title := 2, "Checkout down"
		got, err := db.Incidents().UpdateIncident(ctx, inc.ID, &tocsin.IncidentUpdate{Impact: &two, Title: &title, By: bob})
		if err != nil || got.Impact != 2 || got.Title != title {
			t.Fatalf("update: %+v %v", got, err)
		}
		tri := byKind(got.Timeline, tocsin.EventTriage)
		if len(tri) != 2 || tri[1].Actor != "bob via api" || !strings.Contains(tri[1].Message, "from 3 (medium) to 2 (high)") ||
			!strings.Contains(string(tri[1].Data), `"old":3`) {
			t.Fatalf("triage events: %s", eventsText(tri))
		}
		// The same value again changes nothing; a bad impact writes nothing.
		if got, err = db.Incidents().UpdateIncident(ctx, inc.ID, &tocsin.IncidentUpdate{Impact: &two, By: bob}); err != nil || len(byKind(got.Timeline, tocsin.EventTriage)) != 2 {
			t.Fatalf("unchanged impact: %v", err)
		}
		zero := 0
		if _, err := db.Incidents().UpdateIncident(ctx, inc.ID, &tocsin.IncidentUpdate{Impact: &zero, Title: &title}); tocsin.ErrorCode(err) != tocsin.EINVALID ||
			!strings.Contains(tocsin.ErrorMessage(err), "impact") {
			t.Fatalf("impact 0: %v", err)
		}
		// A status goes the way of an acknowledgement.
		got, err = db.Incidents().UpdateIncident(ctx, inc.ID, &tocsin.IncidentUpdate{Status: tocsin.StatusAcknowledged, By: bob})
		if err != nil || got.Status != tocsin.StatusAcknowledged || got.AckedBy != "bob via api" {
			t.Fatalf("status: %+v %v", got, err)
		}
		if _, err := db.Incidents().UpdateIncident(ctx, "nope", &tocsin.IncidentUpdate{Title: &title}); tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
			t.Fatalf("missing incident: %v", err)
		}
	})

	t.Run("TimelineEventsByTheirAuthor", func(t *testing.T) {
		db, clock := open(t, nil)
		inc := start(t, db, "Latency")
		item, err := db.Incidents().AddRelatedItem(ctx, inc.ID, &tocsin.RelatedItem{Type: "url", Title: "Status page", Value: "https://status.example.com"}, alice)
		if err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Minute)
		ev, err := db.Incidents().AddTimelineEvent(ctx, inc.ID, &tocsin.EventInput{Type: tocsin.EventTypeCustom, Data: "Rolled back v42",
			Time: Epoch.Add(30 * time.Second), References: []tocsin.EventReference{{RelatedItemID: item.ID}}, By: alice})
		if err != nil || ev.Kind != tocsin.EventCustom || !ev.At.Equal(Epoch.Add(30*time.Second)) {
			t.Fatalf("custom event: %+v %v", ev, err)
		}
		clock.Add(time.Minute)
		note, err := db.Incidents().AddTimelineEvent(ctx, inc.ID, &tocsin.EventInput{Type: tocsin.EventTypeNote, Data: "Customers notified", By: bob})
		if err != nil {
			t.Fatal(err)
		}
		for what, in := range map[string]*tocsin.EventInput{
			"event_data":                          {Type: tocsin.EventTypeNote, Data: strings.Repeat("x", tocsin.MaxEventData+1)},
			"event_type":                          {Type: "Alarm", Data: "x"},
			"event_references[0].related_item_id": {Type: tocsin.EventTypeNote, Data: "x", References: []tocsin.EventReference{{RelatedItemID: "nope"}}},
		} {
			if _, err := db.Incidents().AddTimelineEvent(ctx, inc.ID, in); tocsin.ErrorCode(err) != tocsin.EINVALID || !strings.Contains(tocsin.ErrorMessage(err), what) {
				t.Errorf("%s: %v", what, err)
			}
		}
		// Only the author edits or deletes; tocsin's own events never.
		text := "Rolled back v42 to v41"
		if _, err := db.Incidents().UpdateTimelineEvent(ctx, inc.ID, ev.ID, &tocsin.EventEdit{Data: &text, By: bob}); tocsin.ErrorCode(err) != tocsin.EFORBIDDEN {
			t.Fatalf("edit by another: %v", err)
		}
		if err := db.Incidents().DeleteTimelineEvent(ctx, inc.ID, inc.Timeline[0].ID, alice); tocsin.ErrorCode(err) != tocsin.EFORBIDDEN {
			t.Fatalf("delete of the created event: %v", err)
		}
		clock.Add(time.Minute)
		edited, err := db.Incidents().UpdateTimelineEvent(ctx, inc.ID, ev.ID, &tocsin.EventEdit{Data: &text, By: alice})
		if err != nil || edited.Message != text || edited.UpdatedAt == nil || len(edited.References) != 1 {
			t.Fatalf("edit by the author: %+v %v", edited, err)
		}
		if err := db.Incidents().DeleteTimelineEvent(ctx, inc.ID, note.ID, bob); err != nil {
			t.Fatalf("delete by the author: %v", err)
		}
		all, err := db.Incidents().Timeline(ctx, inc.ID, tocsin.TimelineFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if got := kinds(all); got != "created,related_item,custom_event,event_edited,event_edited" {
			t.Fatalf("timeline %s", got)
		}
		if strings.Contains(eventsText(all), "Customers notified") {
			t.Fatal("a deleted note's text is still on the timeline")
		}
		from := Epoch.Add(time.Minute)
		got, _ := db.Incidents().Timeline(ctx, inc.ID, tocsin.TimelineFilter{Kinds: []string{tocsin.EventEdited}, From: &from, Descending: true})
		if len(got) != 2 || !strings.Contains(got[0].Message, "deleted by bob") {
			t.Fatalf("filtered: %s", eventsText(got))
		}
		if _, err := db.Incidents().Timeline(ctx, "nope", tocsin.TimelineFilter{}); tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
			t.Fatalf("timeline of nothing: %v", err)
		}
	})

	t.Run("RelatedItemsAndParents", func(t *testing.T) {
		db, _ := open(t, func(o *store.Options) { o.AttachmentMaxBytes = 64 })
		parent, child, grandchild := start(t, db, "Region outage"), start(t, db, "API errors"), start(t, db, "Login errors")
		blob := []byte("line 1\nline 2\n")
		att, err := db.Incidents().AddRelatedItem(ctx, child.ID, &tocsin.RelatedItem{Type: "ATTACHMENT", Title: "app log", Filename: "app.log",
			ContentType: "text/plain; charset=utf-8", Content: blob}, alice)
		if err != nil || att.Size != int64(len(blob)) || att.Type != tocsin.RelatedAttachment {
			t.Fatalf("attachment: %+v %v", att, err)
		}
		back, err := db.Incidents().RelatedItemContent(ctx, child.ID, att.ID)
		if err != nil || !bytes.Equal(back.Content, blob) || back.ContentType != "text/plain; charset=utf-8" || back.Filename != "app.log" {
			t.Fatalf("content: %+v %v", back, err)
		}
		for what, it := range map[string]*tocsin.RelatedItem{
			"type":    {Type: "dashboard", Value: "x"},
			"content": {Type: "attachment", Filename: "big.bin", Content: bytes.Repeat([]byte("x"), 65)},
			"value":   {Type: "url", Value: "javascript:alert(1)"},
		} {
			if _, err := db.Incidents().AddRelatedItem(ctx, child.ID, it, alice); tocsin.ErrorCode(err) != tocsin.EINVALID || !strings.Contains(tocsin.ErrorMessage(err), what) {
				t.Errorf("%s: %v", what, err)
			}
		}
		if _, err := db.Incidents().AddRelatedItem(ctx, child.ID, &tocsin.RelatedItem{Type: "parent", Value: parent.ID}, bob); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Incidents().AddRelatedItem(ctx, grandchild.ID, &tocsin.RelatedItem{Type: "parent", Value: child.ID}, bob); err != nil {
			t.Fatal(err)
		}
		// parent → child → grandchild: the parent under its grandchild is a cycle.
		_, err = db.Incidents().AddRelatedItem(ctx, parent.ID, &tocsin.RelatedItem{Type: "parent", Value: grandchild.ID}, bob)
		if tocsin.ErrorCode(err) != tocsin.EINVALID || !strings.Contains(tocsin.ErrorMessage(err), "cycle") {
			t.Fatalf("cycle: %v", err)
		}
		if _, err := db.Incidents().AddRelatedItem(ctx, child.ID, &tocsin.RelatedItem{Type: "parent", Value: grandchild.ID}, bob); tocsin.ErrorCode(err) == "" {
			t.Fatal("a second parent was accepted")
		}
		if _, err := db.Incidents().AddRelatedItem(ctx, parent.ID, &tocsin.RelatedItem{Type: "parent", Value: parent.ID}, bob); tocsin.ErrorCode(err) != tocsin.EINVALID {
			t.Fatalf("own parent: %v", err)
		}
		p, err := db.Incidents().FindIncident(ctx, parent.ID)
		if err != nil || len(p.Children) != 1 || p.Children[0].ID != child.ID || p.Children[0].Title != "API errors" {
			t.Fatalf("parent's children: %+v %v", p.Children, err)
		}
		if ev := byKind(p.Timeline, tocsin.EventRelatedItem); len(ev) != 1 || !strings.Contains(ev[0].Message, child.ID) || ev[0].Actor != "bob via api" {
			t.Fatalf("parent's timeline: %s", eventsText(p.Timeline))
		}
		c, _ := db.Incidents().FindIncident(ctx, child.ID)
		if len(c.RelatedItems) != 2 || len(c.Children) != 1 {
			t.Fatalf("child: items %d children %d", len(c.RelatedItems), len(c.Children))
		}
		if err := db.Incidents().RemoveRelatedItem(ctx, child.ID, c.RelatedItems[1].ID, bob); err != nil {
			t.Fatal(err)
		}
		if p, _ = db.Incidents().FindIncident(ctx, parent.ID); len(p.Children) != 0 {
			t.Fatalf("children after unlinking: %+v", p.Children)
		}
	})

	t.Run("FindingsAreRecentChangesToTheService", func(t *testing.T) {
		db, clock := open(t, nil)
		for _, c := range []*tocsin.ChangeEvent{
			{Service: "checkout", Summary: "Deploy v42", Timestamp: Epoch.Add(-30 * time.Minute), Source: "ci", Links: []tocsin.Link{{Text: "diff", URL: "https://git.example.com/c/42"}}},
			{Service: "checkout", Summary: "Deploy v41", Timestamp: Epoch.Add(-3 * time.Hour)},
			{Service: "search", Summary: "Index rebuild", Timestamp: Epoch.Add(-10 * time.Minute)},
			{Service: "checkout", Summary: "Deploy v43 (after)", Timestamp: Epoch.Add(time.Hour)},
		} {
			if _, err := db.Incidents().RecordChange(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Incidents().RecordChange(ctx, &tocsin.ChangeEvent{Summary: "x"}); tocsin.ErrorCode(err) != tocsin.EINVALID ||
			!strings.Contains(tocsin.ErrorMessage(err), "service") {
			t.Fatalf("change without service: %v", err)
		}
		a := NewAlert("g", "f", tocsin.AlertFiring, "critical")
		a.Labels["service"] = "checkout"
		res, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{a}, tocsin.IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		clock.Add(2 * time.Hour)
		inc, _ := db.Incidents().FindIncident(ctx, res[0].IncidentID)
		if len(inc.Findings) != 1 || inc.Findings[0].Summary != "Deploy v42" || len(inc.Findings[0].Links) != 1 {
			t.Fatalf("findings: %+v", inc.Findings)
		}
		// By tag, for an incident started by hand.
		st, _, _ := db.Incidents().StartIncident(ctx, &tocsin.IncidentStart{Title: "Search slow", Tags: map[string]string{"service": "search"}})
		if len(st.Findings) != 0 {
			t.Fatalf("a change 2h10m before is outside the window: %+v", st.Findings)
		}
	})
}

func byKind(events []*tocsin.TimelineEvent, kind string) []*tocsin.TimelineEvent {
	var out []*tocsin.TimelineEvent
	for _, e := range events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}
