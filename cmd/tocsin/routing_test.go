package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tocsin"
	"tocsin/app"
	"tocsin/apptest"
	"tocsin/config"
	"tocsin/ingest/snstest"
	"tocsin/notify/twiliotest"
	"tocsin/notify/webhook"
	"tocsin/store/storetest"
)

// routingServer starts tocsin with its own on-call (provider tocsin),
// paging through a local Twilio, CloudWatch through a signed SNS topic,
// the clock in the test's hands, and examples/response applied over two
// small escalation plans named as the examples name them: app-escalation
// pages alice then bob, platform-tiered-escalation pat then quinn, five
// minutes a stage.
func routingServer(t *testing.T, clock *storetest.Clock) (*apptest.Server, *twiliotest.Twilio, *snsFixture) {
	t.Helper()
	f := newSNSFixture(t)
	tw := twiliotest.New(t)
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) {
		c.Alert.Email.Enable = false
		zero := 0.0
		// Without routing every firing incident would escalate at once
		// to app-escalation: the plans' engagements take its place.
		c.OnCall = config.OnCall{Enable: true, Provider: "tocsin", EscalationPlan: "app-escalation", WaitMinutes: &zero}
		c.Paging = config.Paging{SMS: []string{"twilio"}, Twilio: config.Twilio{AccountSID: twiliotest.AccountSID,
			AuthToken: twiliotest.AuthToken, From: twiliotest.From, APIURL: tw.URL}, MaxPerNumberPerHour: 1000}
		c.Ingest.CloudWatch.TopicARNs = []string{cwTopic}
	}, f.options, func(o *app.Options) { o.Now = clock.Now })
	ctx := context.Background()
	for i, alias := range []string{"alice", "bob", "pat", "quinn"} {
		addContact(t, ts, &tocsin.Contact{Alias: alias, Name: alias, Channels: []tocsin.ContactChannel{{Name: "mobile", Type: "sms", Address: "+1555000000" + string(rune('1'+i))}}})
	}
	for name, people := range map[string][2]string{"app-escalation": {"alice", "bob"}, "platform-tiered-escalation": {"pat", "quinn"}} {
		if _, err := ts.App.Store().OnCall().PutEscalationPlan(ctx, &tocsin.EscalationPlan{Name: name, Stages: []tocsin.Stage{
			{Duration: minutes(5), Targets: []tocsin.Target{{Contact: people[0], Essential: true}}},
			{Duration: minutes(5), Targets: []tocsin.Target{{Contact: people[1], Essential: true}}},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"TOCSIN_API_TOKEN": apptest.APIToken, "TOCSIN_SERVER": ts.URL}
	if out, err := runCLI(t, env, "apply", "-f", runbooksDir, "-f", responseDir); err != nil {
		t.Fatalf("apply examples/response: %v\n%s", err, out)
	}
	return ts, tw, f
}

// readExample returns a sample alert of examples/response/alerts.
func readExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(responseDir, "alerts", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// smsTo lists the numbers SMS went to.
func smsTo(tw *twiliotest.Twilio) []string {
	var out []string
	for _, m := range tw.Messages() {
		out = append(out, m.To)
	}
	return out
}

// TestRoutingCloudWatchHighCPU is the AWS blog's scenario: a CloudWatch
// alarm through SNS for high CPU is routed to EC2HighCPU, which opens
// cpu-incident-1 at impact 3 (Medium) and engages app-escalation, whose
// stage 1 pages; a second alarm for the same instance joins it (the
// plan's dedupe string); the acknowledgement stops the plan.
func TestRoutingCloudWatchHighCPU(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	ts, tw, f := routingServer(t, clock)
	alarm := readExample(t, "ec2-high-cpu.json")
	status, body := ts.Post(t, "/api/v1/alerts/cloudwatch", apptest.IngestToken, f.body(t, snstest.Notification(f.sns, cwTopic, alarm, time.Now(), "1")))
	if status != http.StatusCreated {
		t.Fatalf("alarm: %d %v", status, body)
	}
	id := apptest.FirstID(t, body)
	inc := ts.Incident(t, id)
	if inc.Title != "cpu-incident-1" || inc.Impact != 3 || inc.ResponsePlan != "EC2HighCPU" || inc.Tags["instance"] != "i-0abc123def4567890" ||
		inc.DedupeString != "ec2-high-cpu/i-0abc123def4567890" {
		t.Fatalf("incident: title %q impact %d plan %q tags %v dedupe %q", inc.Title, inc.Impact, inc.ResponsePlan, inc.Tags, inc.DedupeString)
	}
	if !hasEvent(inc, tocsin.EventRouted, "Routed by rule cloudwatch-high-cpu to response plan EC2HighCPU") {
		t.Fatalf("timeline:\n%s", strings.Join(eventsOf(inc), "\n"))
	}
	// Stage 1 of app-escalation pages alice, at once (no delay).
	msgs := tw.WaitMessages(t, 1, 10*time.Second)
	if msgs[0].To != "+15550000001" || !strings.Contains(msgs[0].Body, "cpu-incident-1") {
		t.Fatalf("stage 1 page: %+v", msgs[0])
	}
	// Another alarm on the same instance joins the open incident.
	other := strings.Replace(alarm, `"AlarmName": "HighCPU-web-1"`, `"AlarmName": "HighCPU-web-1-sustained"`, 1)
	status, body = ts.Post(t, "/api/v1/alerts/cloudwatch", apptest.IngestToken, f.body(t, snstest.Notification(f.sns, cwTopic, other, time.Now(), "1")))
	if status != http.StatusOK || apptest.FirstID(t, body) != id {
		t.Fatalf("second alarm: %d %v; want it in %s", status, body, id)
	}
	// The acknowledgement stops the plan: bob is never paged.
	if status, body := ts.Post(t, "/api/v1/incidents/"+id+"/acknowledge", apptest.APIToken, `{}`); status != 200 {
		t.Fatalf("acknowledge: %d %v", status, body)
	}
	advance(ts, clock, 6*time.Minute)
	time.Sleep(300 * time.Millisecond)
	if to := smsTo(tw); len(to) != 1 {
		t.Fatalf("pages after the acknowledgement: %v", to)
	}
	engs, err := ts.App.Store().Engagements().ForIncident(context.Background(), id)
	if err != nil || len(engs) != 1 || engs[0].Plan != "app-escalation" || engs[0].Status != tocsin.EngagementStopped {
		t.Fatalf("engagements: %+v %v", engs, err)
	}
}

// TestRoutingAlertmanagerSeedRoutes drives the seed's Alertmanager routes
// (team and severity, critical-only): platform critical is paged through
// platform-tiered-escalation after the plan's two-minute wait (and an
// acknowledgement within it pages nobody), its Slack message going to the
// plan's channel instead of the default; platform high reaches the
// channels only; a plan outside the paging policy is refused on the
// timeline.
func TestRoutingAlertmanagerSeedRoutes(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	ts, tw, _ := routingServer(t, clock)
	critical := readExample(t, "platform-critical.json")

	// Platform critical, acknowledged within the wait: nobody paged.
	_, body := ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, critical)
	id := apptest.FirstID(t, body)
	inc := ts.Incident(t, id)
	if inc.ResponsePlan != "Critical-Platform-Outage" || inc.Impact != 1 || inc.Title != "Platform outage: APIDown on api-1:8080" ||
		!hasEvent(inc, tocsin.EventEngaged, "engaging escalation plan platform-tiered-escalation in 2m0s unless acknowledged") {
		t.Fatalf("platform critical: plan %q impact %d title %q\n%s", inc.ResponsePlan, inc.Impact, inc.Title, strings.Join(eventsOf(inc), "\n"))
	}
	apptest.Eventually(t, "slack message in the plan's channel", func() bool { return len(ts.Slack.Posts()) == 1 })
	if ch := ts.Slack.Posts()[0].Get("channel"); ch != "C0PLATFORM" {
		t.Fatalf("slack channel %q; want the plan's C0PLATFORM instead of the default", ch)
	}
	advance(ts, clock, time.Minute)
	if status, _ := ts.Post(t, "/api/v1/incidents/"+id+"/acknowledge", apptest.APIToken, `{}`); status != 200 {
		t.Fatal("acknowledge failed")
	}
	advance(ts, clock, 2*time.Minute)
	time.Sleep(300 * time.Millisecond)
	if to := smsTo(tw); len(to) != 0 {
		t.Fatalf("paged after an acknowledgement within the wait: %v", to)
	}
	if inc := ts.Incident(t, id); !hasEvent(inc, tocsin.EventEngaged, "engaging escalation plan platform-tiered-escalation cancelled: acknowledged") {
		t.Fatalf("the cancellation is not on the timeline:\n%s", strings.Join(eventsOf(inc), "\n"))
	}
	if status, _ := ts.Post(t, "/api/v1/incidents/"+id+"/resolve", apptest.APIToken, `{}`); status != 200 {
		t.Fatal("resolve failed")
	}

	// Again, unacknowledged: after two minutes, stage 1 pages pat.
	_, body = ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, critical)
	id2 := apptest.FirstID(t, body)
	if id2 == id {
		t.Fatal("a resolved incident absorbed a new alert")
	}
	advance(ts, clock, time.Minute)
	time.Sleep(200 * time.Millisecond)
	if to := smsTo(tw); len(to) != 0 {
		t.Fatalf("paged before the plan's wait ended: %v", to)
	}
	advance(ts, clock, time.Minute+time.Second)
	if msgs := tw.WaitMessages(t, 1, 10*time.Second); msgs[0].To != "+15550000003" {
		t.Fatalf("stage 1 of platform-tiered-escalation: %+v", msgs[0])
	}

	// Platform high: the channels only.
	high := readExample(t, "platform-high.json")
	_, body = ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, high)
	hid := apptest.FirstID(t, body)
	if inc := ts.Incident(t, hid); inc.ResponsePlan != "" || !hasEvent(inc, tocsin.EventPagingRefused, "Notify only (rule platform-high): the channels are told, nobody is paged") {
		t.Fatalf("platform high:\n%s", strings.Join(eventsOf(inc), "\n"))
	}
	apptest.Eventually(t, "slack message for platform high", func() bool {
		for _, p := range ts.Slack.Posts() {
			if p.Get("channel") == "C0INCIDENT" {
				return true
			}
		}
		return false
	})

	// A plan outside the paging policy (picked by Versus's parameter):
	// refused, on the timeline.
	if code, body := ts.Put(t, "/api/v1/response-plans/Team-Low", `{"incident_template": {"title": "low: {{ .title }}", "impact": 4},
		"engagements": [{"escalation_plan": "app-escalation"}]}`); code != 201 {
		t.Fatalf("put Team-Low: %d %v", code, body)
	}
	_, body = ts.Post(t, "/api/incidents?awsim_other_response_plan=Team-Low", apptest.IngestToken, versusAlert("disk filling on build-3"))
	lid := apptest.FirstID(t, body)
	inc = ts.Incident(t, lid)
	if inc.ResponsePlan != "Team-Low" || !hasEvent(inc, tocsin.EventRouted, "Routed by the request to response plan Team-Low") ||
		!hasEvent(inc, tocsin.EventPagingRefused, "Paging refused: the paging policy refuses plan Team-Low") {
		t.Fatalf("plan outside the paging policy:\n%s", strings.Join(eventsOf(inc), "\n"))
	}
	advance(ts, clock, 11*time.Minute)
	time.Sleep(300 * time.Millisecond)
	// pat (stage 1) and quinn (stage 2 of the unacknowledged critical) only.
	for _, to := range smsTo(tw) {
		if to == "+15550000001" || to == "+15550000002" {
			t.Fatalf("an alert that may not page paged: %v", smsTo(tw))
		}
	}
}

// targetHit is one request a response plan's notification target got.
type targetHit struct {
	event, timestamp, signature string
	impact                      float64
	body                        []byte
}

// TestRoutingNotificationTargetsHearTheLifecycle checks item 7: a
// response plan's notification target, a signed webhook, hears the
// incident's creation, the raise of its impact, its acknowledgement and
// its resolve, each through the outbox, signed with the target's secret
// (which never reaches the timeline); a target that fails is retried.
func TestRoutingNotificationTargetsHearTheLifecycle(t *testing.T) {
	var mu sync.Mutex
	var hits []targetHit
	fail := 1
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if fail > 0 {
			fail--
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var p struct {
			Event    string
			Incident struct{ Impact float64 }
		}
		_ = json.Unmarshal(body, &p)
		hits = append(hits, targetHit{event: p.Event, impact: p.Incident.Impact, timestamp: r.Header.Get(webhook.HeaderTimestamp),
			signature: r.Header.Get(webhook.HeaderSignature), body: body})
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(target.Close)
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) {
		c.Alert.Email.Enable = false
		c.Paging.WebhookAllowedNetworks = []string{"127.0.0.0/8"}
	})
	const secret = "plan-target-secret"
	if code, body := ts.Put(t, "/api/v1/response-plans/Lifecycle", `{"incident_template": {"title": "{{ .title }}", "impact": 3,
		"notification_targets": [{"webhook": "`+target.URL+`/hook", "secret": "`+secret+`"}]}}`); code != 201 {
		t.Fatalf("put plan: %d %v", code, body)
	}
	if code, body := ts.Put(t, "/api/v1/routing", `{"rules": [{"name": "all", "response_plan": "Lifecycle"}]}`); code != 201 {
		t.Fatalf("put routing: %d %v", code, body)
	}
	_, body := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"queue backlog","severity":"warning","dedup_key":"q1"}`)
	id := apptest.FirstID(t, body)
	events := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, h := range hits {
			out = append(out, h.event)
		}
		return out
	}
	apptest.Eventually(t, "created, after one retry", func() bool { return slices.Equal(events(), []string{"created"}) })
	// A critical alert joins (same dedup key): the impact rises to 1.
	ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"queue backlog critical","severity":"critical","dedup_key":"q1","fingerprint":"q1-crit"}`)
	apptest.Eventually(t, "impact_changed", func() bool { return slices.Equal(events(), []string{"created", "impact_changed"}) })
	ts.Post(t, "/api/v1/incidents/"+id+"/acknowledge", apptest.APIToken, `{}`)
	apptest.Eventually(t, "acknowledged", func() bool { return len(events()) == 3 })
	ts.Post(t, "/api/v1/incidents/"+id+"/resolve", apptest.APIToken, `{}`)
	apptest.Eventually(t, "resolved", func() bool { return len(events()) == 4 })
	if got := events(); !slices.Equal(got, []string{"created", "impact_changed", "acknowledged", "resolved"}) {
		t.Fatalf("events: %v", got)
	}
	mu.Lock()
	for _, h := range hits {
		ts, _ := strconv.ParseInt(h.timestamp, 10, 64)
		if h.signature == "" || h.signature != webhook.Sign(secret, ts, h.body) {
			t.Errorf("%s: signature %q does not verify", h.event, h.signature)
		}
	}
	if hits[1].impact != 1 {
		t.Errorf("impact_changed reports impact %v, want 1", hits[1].impact)
	}
	mu.Unlock()
	// The target has answered; the send is recorded when its job completes.
	apptest.Eventually(t, "resolved notification on the timeline", func() bool {
		return hasEvent(ts.Incident(t, id), tocsin.EventNotificationSent, "response plan Lifecycle notification_targets[0]: resolved notification sent")
	})
	inc := ts.Incident(t, id)
	if !hasEvent(inc, tocsin.EventNotificationRetry, "response plan Lifecycle notification_targets[0]: attempt 1 failed") {
		t.Fatalf("timeline:\n%s", strings.Join(eventsOf(inc), "\n"))
	}
	for _, e := range eventsOf(inc) {
		if strings.Contains(e, secret) || strings.Contains(e, target.URL) {
			t.Fatalf("the target's secret or URL on the timeline: %s", e)
		}
	}
}
