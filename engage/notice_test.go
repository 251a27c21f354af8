package engage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/engage"
	"tocsin/notify"
	"tocsin/oncall"
	"tocsin/store"
	"tocsin/store/storetest"
)

// Issue 10: a hand-off note is a durable job of its own whose delivery is
// recorded on the contact's record, so neither a crash of the hand-off
// timer nor a re-run after the notes went out sends one twice.
func TestHandOffNoteIsNotResentAfterACrash(t *testing.T) {
	sms := &fakeSMS{name: "twilio"}
	clock := storetest.NewClock(time.Date(2026, 11, 24, 9, 59, 0, 0, time.UTC))
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{Now: clock.Now})
	ctx := context.Background()
	for i, alias := range []string{"ann", "ben"} {
		if _, err := db.PutContact(ctx, &tocsin.Contact{Alias: alias, Name: alias, Channels: []tocsin.ContactChannel{{Name: "m", Type: "sms", Address: "+1555000002" + string(rune('0'+i))}}}); err != nil {
			t.Fatal(err)
		}
		code, _ := db.StartActivation(ctx, alias, "m")
		if err := db.Activate(ctx, alias, "m", code); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.PutRotation(ctx, &oncall.Rotation{Name: "r", Members: []string{"ann", "ben"}, Start: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC),
		TimeZone: "UTC", Recurrence: oncall.Recurrence{Type: "hourly"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutSchedule(ctx, &tocsin.Schedule{Name: "s", Rotations: []string{"r"}}); err != nil {
		t.Fatal(err)
	}
	e := &engage.Engine{Store: db, SMS: []notify.SMSSender{sms}, Now: clock.Now, Backoff: func(int, time.Duration, float64) time.Duration { return 0 }}
	handlers := map[string]func(context.Context, *tocsin.Job) tocsin.JobOutcome{
		tocsin.JobHandOff: e.HandleHandOff, tocsin.JobHandOffNote: e.HandleHandOffNote,
	}
	const lease = 10 * time.Second
	// run claims the due jobs as one worker and runs them; complete false
	// is a process killed after its handlers ran, before it recorded them.
	run := func(owner string, complete bool) int {
		t.Helper()
		jobs, err := db.ClaimJobs(ctx, tocsin.JobClaim{Owner: owner, Now: clock.Now(), Lease: lease, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			out := handlers[j.Kind](ctx, j)
			if complete {
				if err := db.CompleteJob(ctx, j, owner, out); err != nil {
					t.Fatal(err)
				}
			}
		}
		return len(jobs)
	}
	run("setup", true) // the new timer sleeps until the 10:00 hand-off
	clock.Add(90 * time.Second)
	// The hand-off timer runs and the process dies before its outcome
	// is recorded: nothing was sent, so nothing can be sent twice.
	if n := run("killed", false); n != 1 {
		t.Fatalf("due at 10:00:30: %d jobs, want the hand-off timer", n)
	}
	if n := sms.count(); n != 0 {
		t.Fatalf("the hand-off timer sent %d notes itself", n)
	}
	// Restarted: the timer's lease lapses and it runs again, queueing one
	// note per person, which the next round sends.
	clock.Add(lease + time.Second)
	run("restarted", true)
	run("restarted", true)
	if n := sms.count(); n != 2 {
		t.Fatalf("notes after the restart: %d, want 2", n)
	}
	// Run again, as after another restart: the notes are delivered and
	// recorded, so nothing is re-sent.
	clock.Add(lease + time.Second)
	run("again", true)
	run("again", true)
	if n := sms.count(); n != 2 {
		t.Fatalf("notes after a re-run: %d, want 2 (a delivered note was sent again)", n)
	}
	// Each note is on its contact's record.
	for alias, want := range map[string]string{"ben": "you are now on call for s", "ann": "handed over to ben"} {
		ns, err := db.ContactNotices(ctx, alias)
		if err != nil {
			t.Fatal(err)
		}
		if len(ns) != 1 || ns[0].Kind != tocsin.JobHandOffNote || ns[0].Status != tocsin.NoticeSent || ns[0].Channel != "m" || !strings.Contains(ns[0].Text, want) {
			t.Fatalf("%s's record: %+v", alias, ns)
		}
	}
}

// Issue 10: an activation code is its own job, recorded once on the
// contact's record without the code (a secret); a re-run sends nothing.
func TestActivationCodeIsRecordedOnTheContactWithoutTheCode(t *testing.T) {
	sms := &fakeSMS{name: "twilio"}
	clock := storetest.NewClock(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{Now: clock.Now})
	ctx := context.Background()
	if _, err := db.PutContact(ctx, &tocsin.Contact{Alias: "cy", Name: "Cy", Channels: []tocsin.ContactChannel{{Name: "m", Type: "sms", Address: "+15550000030"}}}); err != nil {
		t.Fatal(err)
	}
	code, err := db.StartActivation(ctx, "cy", "m")
	if err != nil {
		t.Fatal(err)
	}
	args := []byte(`{"contact":"cy","channel":"m","code":"` + code + `"}`)
	if err := db.ScheduleJob(ctx, &tocsin.Job{Kind: tocsin.JobActivation, Lane: tocsin.JobActivation, Args: args, DueAt: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	e := &engage.Engine{Store: db, SMS: []notify.SMSSender{sms}, Now: clock.Now, Backoff: func(int, time.Duration, float64) time.Duration { return 0 }}
	for range 2 {
		jobs, err := db.ClaimJobs(ctx, tocsin.JobClaim{Owner: "w", Now: clock.Now(), Lease: 10 * time.Second, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if err := db.CompleteJob(ctx, j, "w", e.HandleActivation(ctx, j)); err != nil {
				t.Fatal(err)
			}
		}
		clock.Add(time.Minute)
	}
	if n := sms.count(); n != 1 || !strings.Contains(sms.sent[0].Body, code) {
		t.Fatalf("codes sent: %d", n)
	}
	ns, err := db.ContactNotices(ctx, "cy")
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 || ns[0].Kind != tocsin.JobActivation || ns[0].Status != tocsin.NoticeSent || strings.Contains(ns[0].Text+ns[0].Error, code) {
		t.Fatalf("cy's record: %+v", ns)
	}
}
