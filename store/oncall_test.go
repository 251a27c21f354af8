package store_test

import (
	"testing"
	"time"

	"tocsin"
	"tocsin/store"
	"tocsin/store/storetest"
)

func TestContactGroupsSQLite(t *testing.T)   { testContactGroups(t, storetest.SQLiteURL(t)) }
func TestContactGroupsPostgres(t *testing.T) { testContactGroups(t, storetest.PostgresURL(t)) }

func testContactGroups(t *testing.T, url string) {
	ctx := t.Context()
	clock := storetest.NewClock(storetest.Epoch)
	db := storetest.Open(t, url, store.Options{Now: clock.Now})
	for _, a := range []string{"ann", "ben"} {
		if _, err := db.OnCall().PutContact(ctx, &tocsin.Contact{Alias: a, Name: a, Channels: []tocsin.ContactChannel{}}); err != nil {
			t.Fatal(err)
		}
	}
	g := &tocsin.ContactGroup{Name: "platform-team", Members: []string{"ann", "ben"}}
	if created, err := db.OnCall().PutContactGroup(ctx, g); err != nil || !created {
		t.Fatalf("put: %v %v", created, err)
	}
	if _, err := db.OnCall().PutContactGroup(ctx, &tocsin.ContactGroup{Name: "bad", Members: []string{"ann", "zed"}}); tocsin.ErrorCode(err) != tocsin.EINVALID ||
		tocsin.ErrorMessage(err) != `contact group bad: members[1]: no contact "zed"` {
		t.Fatalf("unknown member: %v", err)
	}
	if _, err := db.OnCall().PutContactGroup(ctx, &tocsin.ContactGroup{Name: "empty"}); tocsin.ErrorCode(err) != tocsin.EINVALID {
		t.Fatalf("no members: %v", err)
	}
	clock.Add(time.Minute)
	if created, err := db.OnCall().PutContactGroup(ctx, &tocsin.ContactGroup{Name: "platform-team", Members: []string{"ben"}}); err != nil || created {
		t.Fatalf("replace: %v %v", created, err)
	}
	got, err := db.OnCall().FindContactGroup(ctx, "platform-team")
	if err != nil || len(got.Members) != 1 || got.Members[0] != "ben" || !got.UpdatedAt.After(got.CreatedAt) {
		t.Fatalf("find: %+v %v", got, err)
	}
	if list, err := db.OnCall().ListContactGroups(ctx); err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}

	// A plan may target the group; then the group and its members stay.
	plan := &tocsin.EscalationPlan{Name: "p", Stages: []tocsin.Stage{{Targets: []tocsin.Target{{ContactGroup: "platform-team", Essential: true}}}}}
	if _, err := db.OnCall().PutEscalationPlan(ctx, plan); err != nil {
		t.Fatal(err)
	}
	bad := &tocsin.EscalationPlan{Name: "q", Stages: []tocsin.Stage{{Targets: []tocsin.Target{{ContactGroup: "nope"}}}}}
	if _, err := db.OnCall().PutEscalationPlan(ctx, bad); tocsin.ErrorCode(err) != tocsin.EINVALID ||
		tocsin.ErrorMessage(err) != `escalation plan q: stages[0].targets[0].contact_group: no contact group "nope"` {
		t.Fatalf("plan with unknown group: %v", err)
	}
	if err := db.OnCall().DeleteContactGroup(ctx, "platform-team"); tocsin.ErrorCode(err) != tocsin.ECONFLICT {
		t.Fatalf("delete targeted group: %v", err)
	}
	if err := db.OnCall().DeleteContact(ctx, "ben"); tocsin.ErrorCode(err) != tocsin.ECONFLICT ||
		tocsin.ErrorMessage(err) != `contact "ben" is a member of contact group "platform-team"` {
		t.Fatalf("delete group member: %v", err)
	}
	if err := db.OnCall().DeleteContact(ctx, "ann"); err != nil {
		t.Fatalf("delete non-member: %v", err)
	}
	if err := db.OnCall().DeleteEscalationPlan(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if err := db.OnCall().DeleteContactGroup(ctx, "platform-team"); err != nil {
		t.Fatal(err)
	}
	if err := db.OnCall().DeleteContactGroup(ctx, "platform-team"); tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
		t.Fatalf("second delete: %v", err)
	}
	if err := db.OnCall().DeleteContact(ctx, "ben"); err != nil {
		t.Fatalf("delete former member: %v", err)
	}
}

func TestICalKeyRotationSQLite(t *testing.T)   { testSecretRotation(t, storetest.SQLiteURL(t)) }
func TestICalKeyRotationPostgres(t *testing.T) { testSecretRotation(t, storetest.PostgresURL(t)) }

func testSecretRotation(t *testing.T, url string) {
	ctx := t.Context()
	db := storetest.Open(t, url, store.Options{})
	// Rotating a secret never read creates it.
	if err := db.Secrets().RotateSecret(ctx, "fresh"); err != nil {
		t.Fatal(err)
	}
	a, err := db.Secrets().Secret(ctx, "ical-key")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Secrets().RotateSecret(ctx, "ical-key"); err != nil {
		t.Fatal(err)
	}
	b, err := db.Secrets().Secret(ctx, "ical-key")
	if err != nil || a == b || len(b) != 64 {
		t.Fatalf("after rotation: %q (was %q) %v", b, a, err)
	}
}
