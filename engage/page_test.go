package engage_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tocsin"
	"tocsin/engage"
	"tocsin/engine"
	"tocsin/notify"
	"tocsin/oncall"
	"tocsin/store"
	"tocsin/store/storetest"
)

// fakeSMS is an SMS provider that fails its first failures sends.
type fakeSMS struct {
	name      string
	mu        sync.Mutex
	failures  int
	permanent bool
	replies   bool // replies reach tocsin (engage.Replier)
	sent      []*notify.SMS
}

func (f *fakeSMS) AcceptsReplies() bool { return f.replies }

func (f *fakeSMS) Name() string { return f.name }

func (f *fakeSMS) SendSMS(ctx context.Context, m *notify.SMS) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failures > 0 {
		f.failures--
		err := errors.New(f.name + " is down")
		if f.permanent {
			return "", notify.Permanent(err)
		}
		return "", err
	}
	f.sent = append(f.sent, m)
	return f.name + "-" + m.To, nil
}

func (f *fakeSMS) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.sent) }

func setup(t *testing.T, sms ...notify.SMSSender) (*store.DB, *storetest.Clock, string) {
	t.Helper()
	clock := storetest.NewClock(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	var w *engine.Worker
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{Now: clock.Now, Wake: func() {
		if w != nil {
			w.Wake()
		}
	}})
	ctx := context.Background()
	if _, err := db.PutContact(ctx, &tocsin.Contact{Alias: "gus", Name: "Gus", Channels: []tocsin.ContactChannel{{Name: "m", Type: "sms", Address: "+15550000007"}}}); err != nil {
		t.Fatal(err)
	}
	code, _ := db.StartActivation(ctx, "gus", "m")
	if err := db.Activate(ctx, "gus", "m", code); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutEscalationPlan(ctx, &tocsin.EscalationPlan{Name: "p", Stages: []tocsin.Stage{{Duration: tocsin.Duration(time.Minute), Targets: []tocsin.Target{{Contact: "gus", Essential: true}}}}}); err != nil {
		t.Fatal(err)
	}
	res, err := db.Ingest(ctx, []*tocsin.Alert{storetest.NewAlert("g", "f", tocsin.AlertFiring, "critical")}, tocsin.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := &engage.Engine{Store: db, SMS: sms, Now: clock.Now, Backoff: func(int, time.Duration, float64) time.Duration { return 0 }}
	w = engine.NewWorker(db, map[string]engine.Handler{tocsin.JobStage: engine.HandlerFunc(e.HandleStage), tocsin.JobPage: engine.HandlerFunc(e.HandlePage)})
	w.Now, w.PollInterval = clock.Now, 10*time.Millisecond
	run, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(run) }()
	t.Cleanup(func() { cancel(); <-done })
	if _, err := db.StartEngagement(ctx, "", res[0].IncidentID, "p", "", false); err != nil {
		t.Fatal(err)
	}
	return db, clock, res[0].IncidentID
}

func waitEvent(t *testing.T, db *store.DB, id, contains string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		inc, _ := db.FindIncident(context.Background(), id)
		for _, e := range inc.Timeline {
			if strings.Contains(e.Message, contains) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	inc, _ := db.FindIncident(context.Background(), id)
	var got []string
	for _, e := range inc.Timeline {
		got = append(got, e.Message)
	}
	t.Fatalf("no timeline event containing %q in %q", contains, got)
}

func TestFailoverToTheNextProvider(t *testing.T) {
	first := &fakeSMS{name: "twilio", failures: 1}
	second := &fakeSMS{name: "sns"}
	db, _, id := setup(t, first, second)
	waitEvent(t, db, id, "Paged gus by sms (m) via sns after twilio failed: twilio is down")
	if first.count() != 0 || second.count() != 1 {
		t.Fatalf("sent: first %d, second %d", first.count(), second.count())
	}
}

func TestPermanentFailureOfEveryProviderEndsThePage(t *testing.T) {
	only := &fakeSMS{name: "twilio", failures: 1, permanent: true}
	db, _, id := setup(t, only)
	waitEvent(t, db, id, "Page to gus by sms (m) failed")
	engs, _ := db.Engagements(context.Background(), id)
	if p := engs[0].Pages[0]; p.Status != tocsin.PageError {
		t.Fatalf("page status %s", p.Status)
	}
}

func TestPagesFromEngagementPlan(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &tocsin.Contact{Alias: "h", Channels: []tocsin.ContactChannel{
		{Name: "mail", Type: "email", Address: "h@example.com", Activated: true},
		{Name: "sms", Type: "sms", Address: "+15550000008", Activated: true},
		{Name: "voice", Type: "voice", Address: "+15550000008"},
	}, EngagementPlan: []tocsin.EngagementStep{{Channel: "mail"}, {Channel: "sms", After: tocsin.Duration(5 * time.Minute)}, {Channel: "voice", After: tocsin.Duration(10 * time.Minute)}}}
	pages, skipped := engage.Pages(c, true, now)
	if len(pages) != 2 || !pages[1].DueAt.Equal(now.Add(5*time.Minute)) || !pages[0].Essential {
		t.Fatalf("pages: %+v", pages)
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0], "voice is not activated") {
		t.Fatalf("skipped: %v", skipped)
	}
	c.EngagementPlan = nil
	if pages, _ := engage.Pages(c, false, now); len(pages) != 2 || !pages[1].DueAt.Equal(now) {
		t.Fatalf("default plan: every activated channel at once: %+v", pages)
	}
	// The engine reads the plan as the previews do (oncall.EngagementPages):
	// the same notes for what pages nobody.
	for i := range c.Channels {
		c.Channels[i].Activated = false
	}
	pages, skipped = engage.Pages(c, false, now)
	if _, want := oncall.EngagementPages(c, now); len(pages) != 0 || !slices.Equal(skipped, want) || !slices.Equal(skipped, []string{"h has no activated channel"}) {
		t.Fatalf("nothing activated: %d pages, notes %q", len(pages), skipped)
	}
}

func TestHandOffNotifications(t *testing.T) {
	sms := &fakeSMS{name: "twilio"}
	clock := storetest.NewClock(time.Date(2026, 11, 24, 9, 59, 0, 0, time.UTC))
	var w *engine.Worker
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{Now: clock.Now, Wake: func() {
		if w != nil {
			w.Wake()
		}
	}})
	ctx := context.Background()
	for i, alias := range []string{"ann", "ben"} {
		if _, err := db.PutContact(ctx, &tocsin.Contact{Alias: alias, Name: alias, Channels: []tocsin.ContactChannel{{Name: "m", Type: "sms", Address: "+1555000001" + string(rune('0'+i))}}}); err != nil {
			t.Fatal(err)
		}
		code, _ := db.StartActivation(ctx, alias, "m")
		db.Activate(ctx, alias, "m", code)
	}
	if _, err := db.PutRotation(ctx, &oncall.Rotation{Name: "r", Members: []string{"ann", "ben"}, Start: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC),
		TimeZone: "UTC", Recurrence: oncall.Recurrence{Type: "hourly"}}); err != nil {
		t.Fatal(err)
	}
	e := &engage.Engine{Store: db, SMS: []notify.SMSSender{sms}, Now: clock.Now, Backoff: func(int, time.Duration, float64) time.Duration { return 0 }}
	w = engine.NewWorker(db, map[string]engine.Handler{tocsin.JobHandOff: engine.HandlerFunc(e.HandleHandOff),
		tocsin.JobHandOffNote: engine.HandlerFunc(e.HandleHandOffNote)})
	w.Now, w.PollInterval = clock.Now, 10*time.Millisecond
	run, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(run) }()
	t.Cleanup(func() { cancel(); <-done })
	if _, err := db.PutSchedule(ctx, &tocsin.Schedule{Name: "s", Rotations: []string{"r"}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := sms.count(); n != 0 {
		t.Fatalf("notes before the hand-off: %d", n)
	}
	clock.Add(90 * time.Second) // 10:00:30 — ann hands over to ben at 10:00
	w.Wake()
	deadline := time.Now().Add(5 * time.Second)
	for sms.count() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	sms.mu.Lock()
	defer sms.mu.Unlock()
	if len(sms.sent) != 2 {
		t.Fatalf("hand-off notes: %d", len(sms.sent))
	}
	var incoming, outgoing bool
	for _, m := range sms.sent {
		incoming = incoming || (m.To == "+15550000011" && strings.Contains(m.Body, "you are now on call for s"))
		outgoing = outgoing || (m.To == "+15550000010" && strings.Contains(m.Body, "handed over to ben"))
	}
	if !incoming || !outgoing {
		t.Fatalf("notes: %+v %+v", sms.sent[0], sms.sent[1])
	}
}

func TestNonEssentialAcknowledgementStopsOnlyThatContact(t *testing.T) {
	sms := &fakeSMS{name: "twilio"}
	clock := storetest.NewClock(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	var w *engine.Worker
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{Now: clock.Now, Wake: func() {
		if w != nil {
			w.Wake()
		}
	}})
	ctx := context.Background()
	if _, err := db.PutContact(ctx, &tocsin.Contact{Alias: "hal", Name: "Hal", Channels: []tocsin.ContactChannel{
		{Name: "a", Type: "sms", Address: "+15550000040"}, {Name: "b", Type: "sms", Address: "+15550000041"},
	}, EngagementPlan: []tocsin.EngagementStep{{Channel: "a"}, {Channel: "b", After: tocsin.Duration(5 * time.Minute)}}}); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{"a", "b"} {
		code, _ := db.StartActivation(ctx, "hal", ch)
		db.Activate(ctx, "hal", ch, code)
	}
	db.PutEscalationPlan(ctx, &tocsin.EscalationPlan{Name: "np", Stages: []tocsin.Stage{{Duration: tocsin.Duration(10 * time.Minute), Targets: []tocsin.Target{{Contact: "hal"}}}}})
	res, _ := db.Ingest(ctx, []*tocsin.Alert{storetest.NewAlert("g", "f", tocsin.AlertFiring, "critical")}, tocsin.IngestOptions{})
	id := res[0].IncidentID
	e := &engage.Engine{Store: db, SMS: []notify.SMSSender{sms}, Now: clock.Now, Backoff: func(int, time.Duration, float64) time.Duration { return 0 }}
	w = engine.NewWorker(db, map[string]engine.Handler{tocsin.JobStage: engine.HandlerFunc(e.HandleStage), tocsin.JobPage: engine.HandlerFunc(e.HandlePage)})
	w.Now, w.PollInterval = clock.Now, 10*time.Millisecond
	run, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(run) }()
	t.Cleanup(func() { cancel(); <-done })
	db.StartEngagement(ctx, "", id, "np", "", false)
	waitEvent(t, db, id, "Paged hal by sms (a)")
	engs, _ := db.Engagements(ctx, id)
	ack, err := db.AcknowledgePage(ctx, engs[0].Pages[0].ID, "sms")
	if err != nil || ack.Stopped {
		t.Fatalf("non-essential ack: %+v %v", ack, err)
	}
	clock.Add(6 * time.Minute)
	w.Wake()
	time.Sleep(100 * time.Millisecond)
	if sms.count() != 1 {
		t.Fatalf("hal paged again after acknowledging: %d", sms.count())
	}
	inc, _ := db.FindIncident(ctx, id)
	engs, _ = db.Engagements(ctx, id)
	if inc.Status != tocsin.StatusTriggered || engs[0].Status != tocsin.EngagementActive || engs[0].Pages[1].Status != tocsin.PageCancelled {
		t.Fatalf("incident %s, engagement %s, second page %s", inc.Status, engs[0].Status, engs[0].Pages[1].Status)
	}
}
