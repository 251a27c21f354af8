package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/config"
	"tocsin/notify/twiliotest"
	"tocsin/oncall"
	"tocsin/store/storetest"
)

// pagingServer starts tocsin with its own on-call (provider tocsin,
// escalating at once) paging through a local Twilio, the clock in the
// test's hands.
func pagingServer(t *testing.T, dbURL string, clock *storetest.Clock, plan string) (*testServer, *twiliotest.Twilio) {
	t.Helper()
	tw := twiliotest.New(t)
	ts := startServer(t, dbURL, func(c *config.Config) {
		c.Alert.Slack.Enable = false
		zero := 0.0
		c.OnCall = config.OnCall{Enable: true, Provider: "tocsin", EscalationPlan: plan, WaitMinutes: &zero}
		c.Paging = config.Paging{SMS: []string{"twilio"}, Voice: []string{"twilio"},
			Twilio: config.Twilio{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, From: twiliotest.From, APIURL: tw.URL}}
	}, func(o *appOptions) { o.Now = clock.Now })
	return ts, tw
}

// addContact stores a contact whose channels are all activated.
func addContact(t *testing.T, ts *testServer, c *tocsin.Contact) {
	t.Helper()
	ctx := context.Background()
	db := ts.app.store
	if _, err := db.PutContact(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, ch := range c.Channels {
		code, err := db.StartActivation(ctx, c.Alias, ch.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Activate(ctx, c.Alias, ch.Name, code); err != nil {
			t.Fatal(err)
		}
	}
}

func minutes(n int) tocsin.Duration { return tocsin.Duration(time.Duration(n) * time.Minute) }

func TestPagingSMSThenVoiceKeyPressStops(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	ts, tw := pagingServer(t, storetest.SQLiteURL(t), clock, "tiered")
	ctx := context.Background()
	addContact(t, ts, &tocsin.Contact{Alias: "alice", Name: "Alice", Channels: []tocsin.ContactChannel{{Name: "mobile", Type: "sms", Address: "+15550000001"}}})
	addContact(t, ts, &tocsin.Contact{Alias: "bob", Name: "Bob", Channels: []tocsin.ContactChannel{{Name: "phone", Type: "voice", Address: "+15550000002"}}})
	addContact(t, ts, &tocsin.Contact{Alias: "carol", Name: "Carol", Channels: []tocsin.ContactChannel{{Name: "mobile", Type: "sms", Address: "+15550000003"}}})
	if _, err := ts.app.store.PutEscalationPlan(ctx, &tocsin.EscalationPlan{Name: "tiered", Stages: []tocsin.Stage{
		{Duration: minutes(5), Targets: []tocsin.Target{{Contact: "alice", Essential: true}}},
		{Duration: minutes(5), Targets: []tocsin.Target{{Contact: "bob", Essential: true}}},
		{Duration: minutes(5), Targets: []tocsin.Target{{Contact: "carol", Essential: true}}},
	}}); err != nil {
		t.Fatal(err)
	}

	_, body := ts.post(t, "/api/v1/alerts/generic", testIngestToken, `{"title":"payments API down","severity":"critical"}`)
	id := firstID(t, body)

	// Stage 1: Alice gets an SMS with a reply code and the ack link.
	msgs := tw.WaitMessages(t, 1, 10*time.Second)
	if msgs[0].To != "+15550000001" || !strings.Contains(msgs[0].Body, "payments API down") || !strings.Contains(msgs[0].Body, "Reply ") {
		t.Fatalf("stage 1 SMS: %+v", msgs[0])
	}
	// No ack: five minutes later, stage 2 calls Bob.
	advance(ts, clock, 5*time.Minute+time.Second)
	calls := tw.WaitCalls(t, 1, 10*time.Second)
	if calls[0].To != "+15550000002" || !strings.Contains(calls[0].Say, "Press 1") || calls[0].GatherURL == "" {
		t.Fatalf("stage 2 call: %+v", calls[0])
	}
	// A forged key press is refused.
	forged, _ := http.NewRequest("POST", calls[0].GatherURL, strings.NewReader("Digits=1&CallSid="+calls[0].Sid))
	forged.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	forged.Header.Set("X-Twilio-Signature", "bm90IGEgc2lnbmF0dXJl")
	if resp, _ := http.DefaultClient.Do(forged); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged key press: %d", resp.StatusCode)
	}
	// Bob presses 1: the incident is acknowledged and the plan stops.
	resp := tw.Press(t, calls[0], "1")
	twiml, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(twiml), "Acknowledged") {
		t.Fatalf("key press: %d %s", resp.StatusCode, twiml)
	}
	inc := ts.incident(t, id)
	if inc.Status != tocsin.StatusAcknowledged || inc.AckedBy != "bob via voice" {
		t.Fatalf("after key press: %s by %q", inc.Status, inc.AckedBy)
	}
	advance(ts, clock, 20*time.Minute)
	time.Sleep(300 * time.Millisecond)
	if n := len(tw.Messages()); n != 1 {
		t.Fatalf("stage 3 ran after the acknowledgement: %d messages", n)
	}
	engs, err := ts.app.store.Engagements(ctx, id)
	if err != nil || len(engs) != 1 || engs[0].Status != tocsin.EngagementStopped || len(engs[0].Pages) != 2 {
		t.Fatalf("engagements: %+v %v", engs, err)
	}
	if p := engs[0].Pages[1]; p.Status != tocsin.PageAcknowledged || p.Provider != "twilio" || len(p.Receipts) < 2 {
		t.Fatalf("bob's page: %+v", p)
	}
	var stages int
	for _, e := range inc.Timeline {
		if e.Kind == tocsin.EventStage {
			stages++
		}
	}
	if stages != 2 {
		t.Fatalf("stages on the timeline: %d\n%v", stages, eventsOf(inc))
	}
}

func TestPagingSMSReplyAndEmptyScheduleAndDelays(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)) // a Saturday
	ts, tw := pagingServer(t, storetest.SQLiteURL(t), clock, "weekday-first")
	ctx := context.Background()
	db := ts.app.store
	addContact(t, ts, &tocsin.Contact{Alias: "dana", Name: "Dana", Channels: []tocsin.ContactChannel{
		{Name: "work", Type: "email", Address: "dana@example.com"},
		{Name: "mobile", Type: "sms", Address: "+15550000004"},
	}, EngagementPlan: []tocsin.EngagementStep{{Channel: "work"}, {Channel: "mobile", After: minutes(5)}}})
	addContact(t, ts, &tocsin.Contact{Alias: "erin", Name: "Erin", Channels: []tocsin.ContactChannel{{Name: "mobile", Type: "sms", Address: "+15550000005"}}})
	// A business-hours rotation: nobody on call on a Saturday.
	if _, err := db.PutRotation(ctx, &oncall.Rotation{Name: "app-weekdays", Members: []string{"erin"}, Start: clock.Now().Add(-30 * 24 * time.Hour),
		TimeZone: "Europe/Berlin", Recurrence: oncall.Recurrence{Type: "daily", HandOffTimes: []string{"08:00"}},
		Coverage: []oncall.CoverageWindow{{DayOfWeek: "MON", Start: "08:00", End: "18:00"}, {DayOfWeek: "TUE", Start: "08:00", End: "18:00"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutSchedule(ctx, &tocsin.Schedule{Name: "app", Rotations: []string{"app-weekdays"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutEscalationPlan(ctx, &tocsin.EscalationPlan{Name: "weekday-first", Stages: []tocsin.Stage{
		{Duration: minutes(30), Targets: []tocsin.Target{{Schedule: "app", Essential: true}}},
		{Duration: minutes(30), Targets: []tocsin.Target{{Contact: "dana", Essential: true}}},
	}}); err != nil {
		t.Fatal(err)
	}
	_, body := ts.post(t, "/api/v1/alerts/generic", testIngestToken, `{"title":"disk full on db-2","severity":"high"}`)
	id := firstID(t, body)

	// The empty schedule stage moves on at once: Dana's email goes out now…
	eventually(t, "email to dana", func() bool { return ts.mail.count() >= 2 }) // the team mail + Dana's page
	if !hasEvent(ts.incident(t, id), tocsin.EventStage, "nobody to engage; moving on at once") {
		t.Fatalf("timeline: %v", eventsOf(ts.incident(t, id)))
	}
	// …and her SMS only five minutes later (her engagement plan).
	time.Sleep(200 * time.Millisecond)
	if n := len(tw.Messages()); n != 0 {
		t.Fatalf("SMS before its delay: %d", n)
	}
	advance(ts, clock, 5*time.Minute)
	msg := tw.WaitMessages(t, 1, 10*time.Second)[0]
	if msg.To != "+15550000004" {
		t.Fatalf("SMS to %s", msg.To)
	}
	code := msg.Body[strings.Index(msg.Body, "Reply ")+6 : strings.Index(msg.Body, "Reply ")+12]
	eventually(t, "page recorded as sent", func() bool { return hasEvent(ts.incident(t, id), tocsin.EventPage, "Paged dana by sms") })
	// A reply from another number with the code acknowledges nothing.
	resp := tw.Reply(t, ts.url+"/api/v1/twilio/sms", "+15559999999", code)
	reply, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(reply), "no page is waiting") {
		t.Fatalf("reply from a stranger: %s", reply)
	}
	resp = tw.Reply(t, ts.url+"/api/v1/twilio/sms", "+15550000004", "ack "+code)
	reply, _ = io.ReadAll(resp.Body)
	if !strings.Contains(string(reply), "Acknowledged") {
		t.Fatalf("reply: %s", reply)
	}
	if inc := ts.incident(t, id); inc.Status != tocsin.StatusAcknowledged || inc.AckedBy != "dana via sms" {
		t.Fatalf("after SMS reply: %s by %q", inc.Status, inc.AckedBy)
	}
}

func TestPagingProviderFailoverAndRateLimit(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	ts, tw := pagingServer(t, storetest.SQLiteURL(t), clock, "one")
	ctx := context.Background()
	addContact(t, ts, &tocsin.Contact{Alias: "fay", Name: "Fay", Channels: []tocsin.ContactChannel{{Name: "mobile", Type: "sms", Address: "+15550000006"}}})
	if _, err := ts.app.store.PutEscalationPlan(ctx, &tocsin.EscalationPlan{Name: "one", Stages: []tocsin.Stage{
		{Duration: minutes(1), Targets: []tocsin.Target{{Contact: "fay", Essential: true}}}}}); err != nil {
		t.Fatal(err)
	}
	// Twilio answers 500 once: the page is retried and delivered once.
	tw.FailNext(1, 500, 20500)
	_, body := ts.post(t, "/api/v1/alerts/generic", testIngestToken, `{"title":"flaky provider"}`)
	id := firstID(t, body)
	deadline := time.Now().Add(10 * time.Second)
	for !hasEvent(ts.incident(t, id), tocsin.EventPage, "Paged fay by sms") {
		if time.Now().After(deadline) {
			t.Fatalf("page not sent: %v", eventsOf(ts.incident(t, id)))
		}
		advance(ts, clock, time.Second)
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(tw.Messages()); n != 1 {
		t.Fatalf("messages after a retried failure: %d", n)
	}
	// A storm: the per-number limit (20/hour) stops the bill.
	for i := 0; i < 25; i++ {
		ts.post(t, "/api/v1/alerts/generic", testIngestToken, `{"title":"storm `+itoa(i)+`"}`)
	}
	eventually(t, "rate limit", func() bool { return len(tw.Messages()) == 20 })
	time.Sleep(300 * time.Millisecond)
	if n := len(tw.Messages()); n != 20 {
		t.Fatalf("messages in a storm: %d, want the limit 20", n)
	}
}
