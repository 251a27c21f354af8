package response

import (
	"strings"
	"testing"
	"time"

	"tocsin"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestTriageRecordsOnlyChanges(t *testing.T) {
	inc := &tocsin.Incident{ID: "i", Title: "Slow", Summary: "s", Impact: 3, Status: tocsin.StatusTriggered}
	bob := tocsin.Actor{Name: "bob", Via: "api"}
	two, same := 2, "Slow"
	eff := Triage(inc, &tocsin.IncidentUpdate{Impact: &two, Title: &same, By: bob}, t0)
	if eff.Record == nil || eff.Record.Impact == nil || *eff.Record.Impact != 2 || eff.Record.Title != nil {
		t.Fatalf("record change: %+v", eff.Record)
	}
	if len(eff.Events) != 1 || eff.Events[0].Kind != tocsin.EventTriage || eff.Events[0].Actor != "bob via api" ||
		!strings.Contains(eff.Events[0].Message, "from 3 (medium) to 2 (high)") || len(eff.Jobs) != 0 {
		t.Fatalf("events %+v jobs %d", eff.Events, len(eff.Jobs))
	}
	three := 3
	if eff := Triage(inc, &tocsin.IncidentUpdate{Impact: &three, By: bob}, t0); eff.Record != nil || len(eff.Events) != 0 {
		t.Fatalf("an unchanged impact changed %+v", eff)
	}
	if eff := Triage(inc, &tocsin.IncidentUpdate{Status: tocsin.StatusResolved, By: bob}, t0); eff.Resolve == nil || *eff.Resolve != bob {
		t.Fatalf("status resolved: %+v", eff)
	}
}

func TestStartOpensAndTells(t *testing.T) {
	p := &tocsin.Policy{Channels: []string{"slack"}, RenotifyAfter: time.Hour}
	st := &tocsin.IncidentStart{Title: "Down", By: tocsin.Actor{Name: "alice", Via: "api"},
		RelatedItems: []*tocsin.RelatedItem{{Type: tocsin.RelatedParent, Value: "p"}}}
	eff := Start(StartInput{Start: st, NewIncidentID: "i", NewItemIDs: []string{"r"}, Policy: p, Now: t0})
	if eff.Open == nil || eff.Open.Impact != tocsin.ImpactMedium || eff.Open.DedupKey != "i" || eff.Open.Source != tocsin.SourceManual {
		t.Fatalf("open: %+v", eff.Open)
	}
	if len(eff.Items) != 1 || eff.Items[0].ID != "r" || eff.Items[0].CreatedBy != "alice via api" {
		t.Fatalf("items: %+v", eff.Items)
	}
	// created, the parent link on the incident and on the parent.
	if len(eff.Events) != 3 || eff.Events[2].IncidentID != "p" || len(eff.Jobs) != 2 {
		t.Fatalf("events %d (last on %s), jobs %d", len(eff.Events), eff.Events[len(eff.Events)-1].IncidentID, len(eff.Jobs))
	}
}

func TestEditableOnlyByTheAuthor(t *testing.T) {
	note := &tocsin.TimelineEvent{ID: "e", Kind: tocsin.EventNote, Actor: "alice via api"}
	if err := Editable(note, tocsin.Actor{Name: "alice", Via: "api"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		e    *tocsin.TimelineEvent
		by   tocsin.Actor
		code string
	}{
		{note, tocsin.Actor{Name: "bob", Via: "api"}, tocsin.EFORBIDDEN},
		{note, tocsin.Actor{Via: "api"}, tocsin.EINVALID},
		{&tocsin.TimelineEvent{ID: "c", Kind: tocsin.EventCreated, Actor: "alice via api"}, tocsin.Actor{Name: "alice", Via: "api"}, tocsin.EFORBIDDEN},
		{&tocsin.TimelineEvent{ID: "n", Kind: tocsin.EventNote, Actor: "api"}, tocsin.Actor{Name: "api", Via: "api"}, tocsin.EFORBIDDEN},
	} {
		if code := tocsin.ErrorCode(Editable(c.e, c.by)); code != c.code {
			t.Errorf("%s by %v: %q, want %q", c.e.Kind, c.by, code, c.code)
		}
	}
}
