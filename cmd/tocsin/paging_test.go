package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/app"
	"tocsin/apptest"
	"tocsin/config"
	"tocsin/notify/twiliotest"
	"tocsin/oncall"
	"tocsin/store/storetest"
)

// pagingServer starts tocsin with its own on-call (provider tocsin,
// escalating at once) paging through a local Twilio, the clock in the
// test's hands.
func pagingServer(t *testing.T, dbURL string, clock *storetest.Clock, plan string, mods ...func(*config.Config)) (*apptest.Server, *twiliotest.Twilio) {
	t.Helper()
	tw := twiliotest.New(t)
	ts := apptest.Start(t, dbURL, func(c *config.Config) {
		c.Alert.Slack.Enable = false
		zero := 0.0
		c.OnCall = config.OnCall{Enable: true, Provider: "tocsin", EscalationPlan: plan, WaitMinutes: &zero}
		c.Paging = config.Paging{SMS: []string{"twilio"}, Voice: []string{"twilio"},
			Twilio: config.Twilio{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, From: twiliotest.From, APIURL: tw.URL}}
		for _, mod := range mods {
			mod(c)
		}
	}, func(o *app.Options) { o.Now = clock.Now })
	return ts, tw
}

// manyPagesPerNumber lifts paging.max_per_number_per_hour out of a
// test's way.
func manyPagesPerNumber(c *config.Config) { c.Paging.MaxPerNumberPerHour = 1000 }

// addContact stores a contact whose channels are all activated.
func addContact(t *testing.T, ts *apptest.Server, c *tocsin.Contact) {
	t.Helper()
	ctx := context.Background()
	db := ts.App.Store()
	if _, err := db.OnCall().PutContact(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, ch := range c.Channels {
		code, err := db.OnCall().StartActivation(ctx, c.Alias, ch.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.OnCall().Activate(ctx, c.Alias, ch.Name, code); err != nil {
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
	if _, err := ts.App.Store().OnCall().PutEscalationPlan(ctx, &tocsin.EscalationPlan{Name: "tiered", Stages: []tocsin.Stage{
		{Duration: minutes(5), Targets: []tocsin.Target{{Contact: "alice", Essential: true}}},
		{Duration: minutes(5), Targets: []tocsin.Target{{Contact: "bob", Essential: true}}},
		{Duration: minutes(5), Targets: []tocsin.Target{{Contact: "carol", Essential: true}}},
	}}); err != nil {
		t.Fatal(err)
	}

	_, body := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"payments API down","severity":"critical"}`)
	id := apptest.FirstID(t, body)

	// Stage 1: Alice gets an SMS with a reply code and the ack link.
	msgs := tw.WaitMessages(t, 1, 10*time.Second)
	if msgs[0].To != "+15550000001" || !strings.Contains(msgs[0].Body, "payments API down") || !strings.Contains(msgs[0].Body, "Reply ") {
		t.Fatalf("stage 1 SMS: %+v", msgs[0])
	}
	// Twilio reports delivery: a receipt on Alice's page.
	apptest.Eventually(t, "page recorded as sent", func() bool { return hasEvent(ts.Incident(t, id), tocsin.EventPage, "Paged alice by sms") })
	tw.Status(t, msgs[0].StatusCallback, msgs[0].Sid, "delivered")
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
	inc := ts.Incident(t, id)
	if inc.Status != tocsin.StatusAcknowledged || inc.AckedBy != "bob via voice" {
		t.Fatalf("after key press: %s by %q", inc.Status, inc.AckedBy)
	}
	advance(ts, clock, 20*time.Minute)
	time.Sleep(300 * time.Millisecond)
	if n := len(tw.Messages()); n != 1 {
		t.Fatalf("stage 3 ran after the acknowledgement: %d messages", n)
	}
	engs, err := ts.App.Store().Engagements().ForIncident(ctx, id)
	if err != nil || len(engs) != 1 || engs[0].Status != tocsin.EngagementStopped || len(engs[0].Pages) != 2 {
		t.Fatalf("engagements: %+v %v", engs, err)
	}
	if p := engs[0].Pages[1]; p.Status != tocsin.PageAcknowledged || p.Provider != "twilio" || len(p.Receipts) < 2 {
		t.Fatalf("bob's page: %+v", p)
	}
	if p := engs[0].Pages[0]; p.Status != tocsin.PageDelivered {
		t.Fatalf("alice's page after the delivery report: %+v", p)
	}
	// The incident API shows engagements, pages and receipts.
	_, got := ts.Get(t, "/api/v1/incidents/"+id)
	apiEngs, _ := got["incident"].(map[string]any)["engagements"].([]any)
	if len(apiEngs) != 1 || len(apiEngs[0].(map[string]any)["pages"].([]any)) != 2 {
		t.Fatalf("incident API engagements: %v", got["incident"])
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
	db := ts.App.Store()
	addContact(t, ts, &tocsin.Contact{Alias: "dana", Name: "Dana", Channels: []tocsin.ContactChannel{
		{Name: "work", Type: "email", Address: "dana@example.com"},
		{Name: "mobile", Type: "sms", Address: "+15550000004"},
	}, EngagementPlan: []tocsin.EngagementStep{{Channel: "work"}, {Channel: "mobile", After: minutes(5)}}})
	addContact(t, ts, &tocsin.Contact{Alias: "erin", Name: "Erin", Channels: []tocsin.ContactChannel{{Name: "mobile", Type: "sms", Address: "+15550000005"}}})
	// A business-hours rotation: nobody on call on a Saturday.
	if _, err := db.OnCall().PutRotation(ctx, &oncall.Rotation{Name: "app-weekdays", Members: []string{"erin"}, Start: clock.Now().Add(-30 * 24 * time.Hour),
		TimeZone: "Europe/Berlin", Recurrence: oncall.Recurrence{Type: "daily", HandOffTimes: []string{"08:00"}},
		Coverage: []oncall.CoverageWindow{{DayOfWeek: "MON", Start: "08:00", End: "18:00"}, {DayOfWeek: "TUE", Start: "08:00", End: "18:00"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.OnCall().PutSchedule(ctx, &tocsin.Schedule{Name: "app", Rotations: []string{"app-weekdays"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.OnCall().PutEscalationPlan(ctx, &tocsin.EscalationPlan{Name: "weekday-first", Stages: []tocsin.Stage{
		{Duration: minutes(30), Targets: []tocsin.Target{{Schedule: "app", Essential: true}}},
		{Duration: minutes(30), Targets: []tocsin.Target{{Contact: "dana", Essential: true}}},
	}}); err != nil {
		t.Fatal(err)
	}
	_, body := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"disk full on db-2","severity":"high"}`)
	id := apptest.FirstID(t, body)

	// The empty schedule stage moves on at once: Dana's email goes out now…
	apptest.Eventually(t, "email to dana", func() bool { return ts.Mail.Count() >= 2 }) // the team mail + Dana's page
	if !hasEvent(ts.Incident(t, id), tocsin.EventStage, "nobody to engage; moving on at once") {
		t.Fatalf("timeline: %v", eventsOf(ts.Incident(t, id)))
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
	apptest.Eventually(t, "page recorded as sent", func() bool { return hasEvent(ts.Incident(t, id), tocsin.EventPage, "Paged dana by sms") })
	// A reply from another number with the code acknowledges nothing.
	resp := tw.Reply(t, ts.URL+"/api/v1/twilio/sms", "+15559999999", code)
	reply, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(reply), "no page is waiting") {
		t.Fatalf("reply from a stranger: %s", reply)
	}
	resp = tw.Reply(t, ts.URL+"/api/v1/twilio/sms", "+15550000004", "ack "+code)
	reply, _ = io.ReadAll(resp.Body)
	if !strings.Contains(string(reply), "Acknowledged") {
		t.Fatalf("reply: %s", reply)
	}
	if inc := ts.Incident(t, id); inc.Status != tocsin.StatusAcknowledged || inc.AckedBy != "dana via sms" {
		t.Fatalf("after SMS reply: %s by %q", inc.Status, inc.AckedBy)
	}
}

func TestPagingProviderFailoverAndRateLimit(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	ts, tw := pagingServer(t, storetest.SQLiteURL(t), clock, "one")
	ctx := context.Background()
	addContact(t, ts, &tocsin.Contact{Alias: "fay", Name: "Fay", Channels: []tocsin.ContactChannel{{Name: "mobile", Type: "sms", Address: "+15550000006"}}})
	// Activation codes count toward the number's hourly limit: start the
	// storm an hour after Fay's.
	clock.Add(time.Hour)
	if _, err := ts.App.Store().OnCall().PutEscalationPlan(ctx, &tocsin.EscalationPlan{Name: "one", Stages: []tocsin.Stage{
		{Duration: minutes(1), Targets: []tocsin.Target{{Contact: "fay", Essential: true}}}}}); err != nil {
		t.Fatal(err)
	}
	// Twilio answers 500 once: the page is retried and delivered once.
	tw.FailNext(1, 500, 20500)
	_, body := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"flaky provider"}`)
	id := apptest.FirstID(t, body)
	deadline := time.Now().Add(10 * time.Second)
	for !hasEvent(ts.Incident(t, id), tocsin.EventPage, "Paged fay by sms") {
		if time.Now().After(deadline) {
			t.Fatalf("page not sent: %v", eventsOf(ts.Incident(t, id)))
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
		ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"storm `+strconv.Itoa(i)+`"}`)
	}
	deadline = time.Now().Add(10 * time.Second)
	for len(tw.Messages()) < 20 {
		if time.Now().After(deadline) {
			n, _ := ts.App.Store().Jobs().PendingJobs(context.Background())
			rows, _ := ts.App.Store().SQL().Query(`SELECT status, COUNT(*) FROM pages GROUP BY status`)
			var st []string
			for rows.Next() {
				var s string
				var c int
				rows.Scan(&s, &c)
				st = append(st, s+"="+strconv.Itoa(c))
			}
			rows.Close()
			jr, _ := ts.App.Store().SQL().Query(`SELECT kind, lane, due_at, lease_until, attempts FROM jobs`)
			var js []string
			for jr.Next() {
				var k, l string
				var d, lu int64
				var a int
				jr.Scan(&k, &l, &d, &lu, &a)
				js = append(js, k+"/"+l+" due="+time.UnixMicro(d).Sub(clock.Now()).String()+" lease="+strconv.Itoa(int(lu))+" att="+strconv.Itoa(a))
			}
			jr.Close()
			t.Fatalf("storm: %d messages; %d jobs pending %v; pages %v", len(tw.Messages()), n, js, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(tw.Messages()); n != 20 {
		t.Fatalf("messages in a storm: %d, want the limit 20", n)
	}
}

// TestPagingTwoInstancesPageOnce runs two servers on one PostgreSQL
// database: every contact is paged exactly once per incident.
func TestPagingTwoInstancesPageOnce(t *testing.T) {
	dbURL := storetest.PostgresURL(t)
	clock := storetest.NewClock(time.Now())
	a, tw := pagingServer(t, dbURL, clock, "solo", manyPagesPerNumber)
	b := apptest.Start(t, dbURL, func(c *config.Config) {
		c.Alert.Slack.Enable = false
		zero := 0.0
		c.OnCall = config.OnCall{Enable: true, Provider: "tocsin", EscalationPlan: "solo", WaitMinutes: &zero}
		c.Paging = config.Paging{SMS: []string{"twilio"}, MaxPerNumberPerHour: 1000,
			Twilio: config.Twilio{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, From: twiliotest.From, APIURL: tw.URL}}
	}, func(o *app.Options) { o.Now = clock.Now })
	ctx := context.Background()
	addContact(t, a, &tocsin.Contact{Alias: "ivy", Name: "Ivy", Channels: []tocsin.ContactChannel{{Name: "m", Type: "sms", Address: "+15550000009"}}})
	if _, err := a.App.Store().OnCall().PutEscalationPlan(ctx, &tocsin.EscalationPlan{Name: "solo", Stages: []tocsin.Stage{
		{Duration: minutes(1), Targets: []tocsin.Target{{Contact: "ivy", Essential: true}}}}}); err != nil {
		t.Fatal(err)
	}
	const n = 30
	for i := 0; i < n; i++ {
		ts := a
		if i%2 == 1 {
			ts = b
		}
		if status, _ := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"two instances page `+strconv.Itoa(i)+`"}`); status != 201 {
			t.Fatalf("alert %d: %d", i, status)
		}
	}
	tw.WaitMessages(t, n, 20*time.Second)
	time.Sleep(500 * time.Millisecond)
	seen := map[string]int{}
	for _, m := range tw.Messages() {
		seen[m.Body[strings.Index(m.Body, "page "):strings.Index(m.Body, ". Reply")]]++
	}
	if len(tw.Messages()) != n || len(seen) != n {
		t.Fatalf("%d SMS for %d incidents (%d distinct)", len(tw.Messages()), n, len(seen))
	}
}

// TestPagingSurvivesKill9DuringAStage kills the server with SIGKILL while
// an engagement waits between stages, restarts it, and checks the next
// stage pages exactly once and nothing is paged twice.
func TestPagingSurvivesKill9DuringAStage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	tw := twiliotest.New(t)
	dir := t.TempDir()
	cfgPath := dir + "/config.yaml"
	cfg := `data_dir: ` + dir + `
database: sqlite://` + dir + `/tocsin.db
log: {level: warn}
ingest: {tokens: [` + apptest.IngestToken + `]}
api: {tokens: [` + apptest.APIToken + `]}
oncall: {enable: true, provider: tocsin, escalation_plan: two-stage, wait_minutes: 0}
paging:
  sms: [twilio]
  twilio: {account_sid: ` + twiliotest.AccountSID + `, auth_token: ` + twiliotest.AuthToken + `, from: "` + twiliotest.From + `", api_url: ` + tw.URL + `}
`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	addr := freeAddr(t)
	p := startProcess(t, bin, cfgPath, addr)
	api := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, p.url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apptest.APIToken)
		return apptest.Do(t, req)
	}
	// Contacts are created and activated through the API, with the code
	// that arrives by SMS.
	for i, alias := range []string{"kim", "lou"} {
		number := "+1555000002" + strconv.Itoa(i)
		if status, body := api("PUT", "/api/v1/contacts/"+alias, `{"alias":"`+alias+`","name":"`+alias+`","channels":[{"name":"m","type":"sms","address":"`+number+`"}]}`); status != 201 {
			t.Fatalf("contact: %d %v", status, body)
		}
		if status, body := api("POST", "/api/v1/contacts/"+alias+"/channels/m/activation", ``); status != 202 {
			t.Fatalf("activation: %d %v", status, body)
		}
		msg := tw.WaitMessages(t, i+1, 10*time.Second)[i]
		code := msg.Body[strings.Index(msg.Body, " is ")+4 : strings.Index(msg.Body, " is ")+10]
		if status, body := api("POST", "/api/v1/contacts/"+alias+"/channels/m/activate", `{"code":"`+code+`"}`); status != 200 {
			t.Fatalf("activate %s with %q: %d %v", alias, code, status, body)
		}
	}
	if status, body := api("PUT", "/api/v1/escalation-plans/two-stage", `{"name":"two-stage","stages":[
		{"duration":"3s","targets":[{"contact":"kim","essential":true}]},
		{"duration":"3s","targets":[{"contact":"lou","essential":true}]}]}`); status != 201 {
		t.Fatalf("plan: %d %v", status, body)
	}
	req, _ := http.NewRequest("POST", p.url+"/api/v1/alerts/generic", strings.NewReader(`{"title":"kill me during a stage"}`))
	req.Header.Set("Authorization", "Bearer "+apptest.IngestToken)
	if status, body := apptest.Do(t, req); status != 201 {
		t.Fatalf("alert: %d %v", status, body)
	}
	tw.WaitMessages(t, 3, 10*time.Second) // two activation codes, then Kim's page
	p.cmd.Process.Kill()
	p.cmd.Wait()
	startProcess(t, bin, cfgPath, addr)
	msgs := tw.WaitMessages(t, 4, 15*time.Second)
	time.Sleep(4 * time.Second) // would anything be sent twice?
	msgs = tw.Messages()
	count := map[string]int{}
	for _, m := range msgs[2:] {
		count[m.To]++
	}
	if len(msgs) != 4 || count["+15550000020"] != 1 || count["+15550000021"] != 1 {
		t.Fatalf("pages after kill -9: %d messages %v", len(msgs), count)
	}
}

// TestPagingRepeatNestedPlanParamAndTestPage covers a plan that repeats,
// a stage engaging another plan, ?oncall_escalation_plan= and test pages.
func TestPagingRepeatNestedPlanParamAndTestPage(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	ts, tw := pagingServer(t, storetest.SQLiteURL(t), clock, "outer", manyPagesPerNumber)
	ctx := context.Background()
	db := ts.App.Store()
	addContact(t, ts, &tocsin.Contact{Alias: "max", Name: "Max", Channels: []tocsin.ContactChannel{{Name: "m", Type: "sms", Address: "+15550000030"}}})
	addContact(t, ts, &tocsin.Contact{Alias: "nia", Name: "Nia", Channels: []tocsin.ContactChannel{{Name: "m", Type: "sms", Address: "+15550000031"}}})
	if _, err := db.OnCall().PutEscalationPlan(ctx, &tocsin.EscalationPlan{Name: "inner", Stages: []tocsin.Stage{
		{Duration: minutes(1), Targets: []tocsin.Target{{Contact: "nia"}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.OnCall().PutEscalationPlan(ctx, &tocsin.EscalationPlan{Name: "outer", Repeat: 1, Stages: []tocsin.Stage{
		{Duration: minutes(2), Targets: []tocsin.Target{{Contact: "max", Essential: true}, {EscalationPlan: "inner"}}}}}); err != nil {
		t.Fatal(err)
	}
	// ?oncall_escalation_plan= picks the plan (an unknown one: see the end).
	_, body := ts.Post(t, "/api/v1/alerts/generic?oncall_escalation_plan=outer", apptest.IngestToken, `{"title":"repeat me"}`)
	id := apptest.FirstID(t, body)
	tw.WaitMessages(t, 2, 10*time.Second) // max, and nia through the nested plan
	advance(ts, clock, 2*time.Minute+time.Second)
	tw.WaitMessages(t, 4, 10*time.Second) // the repeat pages both again
	advance(ts, clock, 2*time.Minute+time.Second)
	apptest.Eventually(t, "plan exhausted", func() bool { return hasEvent(ts.Incident(t, id), tocsin.EventStage, "ran every stage 2 times") })
	if n := len(tw.Messages()); n != 4 {
		t.Fatalf("pages after the repeat: %d", n)
	}
	// One outer engagement, and the nested plan once per iteration.
	engs, _ := db.Engagements().ForIncident(ctx, id)
	if len(engs) != 3 { // outer, and inner once per iteration
		t.Fatalf("engagements: %d", len(engs))
	}

	// A test page runs a plan for real on an incident marked as a test.
	status, res := ts.Post(t, "/api/v1/escalation-plans/inner/test-page", apptest.APIToken, ``)
	if status != 202 {
		t.Fatalf("test page: %d %v", status, res)
	}
	testID := res["incident_id"].(string)
	msgs := tw.WaitMessages(t, 5, 10*time.Second)
	if !strings.Contains(msgs[4].Body, "[tocsin TEST]") || msgs[4].To != "+15550000031" {
		t.Fatalf("test page SMS: %+v", msgs[4])
	}
	if inc := ts.Incident(t, testID); !strings.HasPrefix(inc.Title, "TEST:") {
		t.Fatalf("test incident: %q", inc.Title)
	}

	// An unknown plan is ignored with a warning; the default plan is armed.
	status, body = ts.Post(t, "/api/v1/alerts/generic?oncall_escalation_plan=nope", apptest.IngestToken, `{"title":"x"}`)
	if status != 201 || !hasWarning(warningsOf(body), "oncall_escalation_plan") {
		t.Fatalf("unknown plan: %d %v", status, body)
	}
	if inc := ts.Incident(t, apptest.FirstID(t, body)); !hasEvent(inc, tocsin.EventEscalation, "On-call") {
		t.Fatalf("unknown plan: nothing armed: %v", eventsOf(inc))
	}
}

// TestPagingFailureIsAnnounced: a page that gives up (Twilio refuses the
// number) is itself an alert: the team's channels are told and the failure
// is counted per channel type, as failed notifications and escalations are.
func TestPagingFailureIsAnnounced(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	ts, tw := pagingServer(t, storetest.SQLiteURL(t), clock, "one")
	ctx := context.Background()
	addContact(t, ts, &tocsin.Contact{Alias: "gus", Name: "Gus", Channels: []tocsin.ContactChannel{{Name: "mobile", Type: "sms", Address: "+15550000007"}}})
	if _, err := ts.App.Store().OnCall().PutEscalationPlan(ctx, &tocsin.EscalationPlan{Name: "one", Stages: []tocsin.Stage{
		{Duration: minutes(30), Targets: []tocsin.Target{{Contact: "gus", Essential: true}}}}}); err != nil {
		t.Fatal(err)
	}
	tw.FailNext(1, 400, 21211) // Twilio: invalid 'To' number — permanent
	_, body := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"nobody reached"}`)
	id := apptest.FirstID(t, body)
	apptest.Eventually(t, "page failed", func() bool {
		return hasEvent(ts.Incident(t, id), tocsin.EventPage, "Page to gus by sms (mobile) failed")
	})
	apptest.Eventually(t, "failure announced on the webhook", func() bool { return ts.Sink.Find(id, "delivery_failed") != nil })
	failure, _ := ts.Sink.Find(id, "delivery_failed")["failure"].(map[string]any)
	if failure["channel"] != "page:sms" || !strings.Contains(failure["what"].(string), "gus") {
		t.Fatalf("failure notice: %v", failure)
	}
	if m := ts.Metrics(t); !strings.Contains(m, `tocsin_delivery_failures_total{channel="page:sms"} 1`) {
		t.Fatalf("no failure metric:\n%s", m)
	}
}
