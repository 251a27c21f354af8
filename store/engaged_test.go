package store_test

import (
	"strings"
	"testing"

	"tocsin"
	"tocsin/oncall"
	"tocsin/store"
	"tocsin/store/storetest"
)

func TestDeleteRefusedWhileAPlanEngagesSQLite(t *testing.T) {
	testDeleteRefusedWhileAPlanEngages(t, storetest.SQLiteURL(t))
}
func TestDeleteRefusedWhileAPlanEngagesPostgres(t *testing.T) {
	testDeleteRefusedWhileAPlanEngages(t, storetest.PostgresURL(t))
}

// testDeleteRefusedWhileAPlanEngages: an escalation plan, schedule,
// contact or contact group a response plan engages cannot be deleted
// (409 naming the plan and its field), and can once the plan is gone.
func testDeleteRefusedWhileAPlanEngages(t *testing.T, url string) {
	ctx := t.Context()
	clock := storetest.NewClock(storetest.Epoch)
	db := storetest.Open(t, url, store.Options{Now: clock.Now})
	oc := db.OnCall()
	for _, a := range []string{"ann", "ben"} {
		if _, err := oc.PutContact(ctx, &tocsin.Contact{Alias: a, Name: a, Channels: []tocsin.ContactChannel{}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := oc.PutContactGroup(ctx, &tocsin.ContactGroup{Name: "team", Members: []string{"ben"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := oc.PutRotation(ctx, &oncall.Rotation{Name: "r", Members: []string{"ben"}, Start: clock.Now(), TimeZone: "UTC",
		Recurrence: oncall.Recurrence{Type: "daily", HandOffTimes: []string{"08:00"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := oc.PutSchedule(ctx, &tocsin.Schedule{Name: "s", Rotations: []string{"r"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := oc.PutEscalationPlan(ctx, &tocsin.EscalationPlan{Name: "p", Stages: []tocsin.Stage{
		{Duration: tocsin.Duration(60e9), Targets: []tocsin.Target{{Contact: "ben"}}}}}); err != nil {
		t.Fatal(err)
	}
	plan := &tocsin.ResponsePlan{Name: "Outage", IncidentTemplate: tocsin.IncidentTemplate{Title: "outage", Impact: 2},
		Engagements: []tocsin.ResponseEngagement{{EscalationPlan: "p"}, {Schedule: "s"}, {Contact: "ann"}, {ContactGroup: "team"}}}
	if _, err := db.ResponsePlans().PutResponsePlan(ctx, plan); err != nil {
		t.Fatal(err)
	}
	deletes := []struct {
		what string
		del  func() error
	}{
		{`escalation plan "p" is engaged by response plan "Outage" (engagements[0].escalation_plan)`, func() error { return oc.DeleteEscalationPlan(ctx, "p") }},
		{`schedule "s" is engaged by response plan "Outage" (engagements[1].schedule)`, func() error { return oc.DeleteSchedule(ctx, "s") }},
		{`contact "ann" is engaged by response plan "Outage" (engagements[2].contact)`, func() error { return oc.DeleteContact(ctx, "ann") }},
		{`contact group "team" is engaged by response plan "Outage" (engagements[3].contact_group)`, func() error { return oc.DeleteContactGroup(ctx, "team") }},
	}
	for _, d := range deletes {
		if err := d.del(); tocsin.ErrorCode(err) != tocsin.ECONFLICT || !strings.Contains(tocsin.ErrorMessage(err), d.what) {
			t.Errorf("want 409 %q, got %v", d.what, err)
		}
	}
	if _, err := oc.FindEscalationPlan(ctx, "p"); err != nil {
		t.Fatalf("a refused delete removed the plan: %v", err)
	}
	if err := db.ResponsePlans().DeleteResponsePlan(ctx, "Outage"); err != nil {
		t.Fatal(err)
	}
	for _, d := range deletes {
		if err := d.del(); err != nil {
			t.Errorf("after the response plan is gone: %v", err)
		}
	}
}
