package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"tocsin"
	"tocsin/apptest"
	"tocsin/store/storetest"
)

// TestPagingContactGroupEngagesEveryMember: a stage that targets a contact
// group pages every member at once, each by their own engagement plan.
func TestPagingContactGroupEngagesEveryMember(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	ts, tw := pagingServer(t, storetest.SQLiteURL(t), clock, "team")
	ctx := context.Background()
	addContact(t, ts, &tocsin.Contact{Alias: "alice", Name: "Alice", Channels: []tocsin.ContactChannel{{Name: "mobile", Type: "sms", Address: "+15550000001"}}})
	addContact(t, ts, &tocsin.Contact{Alias: "bob", Name: "Bob", Channels: []tocsin.ContactChannel{{Name: "mobile", Type: "sms", Address: "+15550000002"}}})
	if _, err := ts.App.Store().OnCall().PutContactGroup(ctx, &tocsin.ContactGroup{Name: "platform-team", Members: []string{"alice", "bob"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.App.Store().OnCall().PutEscalationPlan(ctx, &tocsin.EscalationPlan{Name: "team", Stages: []tocsin.Stage{
		{Duration: minutes(5), Targets: []tocsin.Target{{ContactGroup: "platform-team", Essential: true}}},
	}}); err != nil {
		t.Fatal(err)
	}
	_, body := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"payments API down","severity":"critical"}`)
	id := apptest.FirstID(t, body)
	msgs := tw.WaitMessages(t, 2, 10*time.Second)
	to := []string{msgs[0].To, msgs[1].To}
	slices.Sort(to)
	if !slices.Equal(to, []string{"+15550000001", "+15550000002"}) {
		t.Fatalf("pages went to %v", to)
	}
	apptest.Eventually(t, "the stage names both members", func() bool {
		return hasEvent(ts.Incident(t, id), tocsin.EventStage, "paging alice (essential), bob (essential)")
	})
}
