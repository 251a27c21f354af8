package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/apptest"
	"tocsin/config"
	"tocsin/ingest/snstest"
	"tocsin/store/storetest"
)

// warningsOf returns the warnings of an intake answer.
func warningsOf(body map[string]any) []string {
	var out []string
	list, _ := body["warnings"].([]any)
	for _, w := range list {
		s, _ := w.(string)
		out = append(out, s)
	}
	return out
}

// hasWarning reports whether one of the warnings names param.
func hasWarning(warnings []string, param string) bool {
	for _, w := range warnings {
		if strings.HasPrefix(w, param+": ") {
			return true
		}
	}
	return false
}

// TestIntakeAcceptsAlertsWhateverTheParameters checks that no query
// parameter makes intake refuse an alert: what cannot be honoured is
// ignored, and said in the answer, on the timeline and in a metric.
func TestIntakeAcceptsAlertsWhateverTheParameters(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) {
		c.Ingest.AllowedDestinations = map[string][]string{"email_to": {"*@example.com"}}
	})
	cases := []struct {
		query, param, reason string
	}{
		{"foo=bar", "foo", "unknown_parameter"},
		{"msteams_other_power_url=nope", "msteams_other_power_url", "channel_disabled"},
		{"oncall_enable=true", "oncall_enable", "oncall_unavailable"},
		{"oncall_enable=maybe", "oncall_enable", "invalid_value"},
		{"telegram_chat_id=123", "telegram_chat_id", "channel_disabled"},
		{"email_to=evil@attacker.test", "email_to", "not_allowed"},
		{"awsim_other_response_plan=db", "awsim_other_response_plan", "oncall_unavailable"},
		{"oncall_wait_minutes=NaN", "oncall_wait_minutes", "invalid_value"},
	}
	for i, c := range cases {
		for _, path := range []string{"/api/incidents?", "/api/v1/alerts/generic?"} {
			status, body := ts.Post(t, path+c.query, apptest.IngestToken, `{"title":"param test `+strconv.Itoa(i)+` `+path+`"}`)
			if status != http.StatusCreated || !hasWarning(warningsOf(body), c.param) {
				t.Errorf("%s%s: %d %v; want 201 with a warning about %s", path, c.query, status, body, c.param)
				continue
			}
			inc := ts.Incident(t, apptest.FirstID(t, body))
			if !hasEvent(inc, tocsin.EventIntakeWarning, c.param+": ") {
				t.Errorf("%s%s: no warning on the timeline: %v", path, c.query, eventsOf(inc))
			}
		}
		if m := ts.Metrics(t); !strings.Contains(m, `tocsin_intake_warnings_total{reason="`+c.reason+`"}`) {
			t.Errorf("%s: no tocsin_intake_warnings_total{reason=%q}", c.query, c.reason)
		}
	}
	// A clean request has no warnings.
	status, body := ts.Post(t, "/api/incidents?email_to=ops@example.com", apptest.IngestToken, `{"title":"clean"}`)
	if status != http.StatusCreated || body["warnings"] != nil {
		t.Fatalf("clean request: %d %v", status, body)
	}
	// The disallowed recipient got nothing: the default recipient did.
	apptest.Eventually(t, "mails", func() bool { return ts.Mail.Count() >= 2*len(cases)+1 })
	for i := 0; i < ts.Mail.Count(); i++ {
		if m := ts.Mail.Message(i); strings.Contains(m, "attacker.test") {
			t.Fatalf("mail sent to a destination that is not allowed:\n%s", m)
		}
	}
}

// TestOpenIntakeIgnoresAnonymousOverrides checks that with ingest.open an
// anonymous destination override is ignored (the alert goes to the
// configured channel), not refused.
func TestOpenIntakeIgnoresAnonymousOverrides(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) { c.Ingest.Open = true })
	status, body := ts.Post(t, "/api/incidents?slack_channel_id=C0ELSEWHERE", "", `{"title":"anonymous override"}`)
	if status != http.StatusCreated || !hasWarning(warningsOf(body), "slack_channel_id") {
		t.Fatalf("anonymous slack_channel_id: %d %v", status, body)
	}
	apptest.Eventually(t, "slack post", func() bool { p, _ := ts.Slack.Counts(); return p == 1 })
	channel := ts.Slack.Posts()[0].Get("channel")
	if channel != "C0INCIDENT" {
		t.Fatalf("posted to %q, want the configured C0INCIDENT", channel)
	}
	if m := ts.Metrics(t); !strings.Contains(m, `tocsin_intake_warnings_total{reason="unauthenticated"} 1`) {
		t.Fatalf("metric:\n%s", m)
	}
}

// TestOnCallIgnoresBadWaitAndUnknownTarget checks that a wait that is not
// a number of minutes (NaN, Inf, negative) does not escalate at once and
// an unknown alternate response plan falls back to the default one.
func TestOnCallIgnoresBadWaitAndUnknownTarget(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	ts, aws := versusServer(t, storetest.SQLiteURL(t), clock)
	plan := "arn:aws:ssm-incidents::123456789012:response-plan/PlatformCriticalPlan"
	for _, wait := range []string{"NaN", "-Inf", "Inf", "-5"} {
		status, body := ts.Post(t, "/api/incidents?oncall_enable=true&awsim_other_response_plan=nope&oncall_wait_minutes="+wait, apptest.IngestToken, versusAlert("wait "+wait))
		w := warningsOf(body)
		if status != http.StatusCreated || !hasWarning(w, "oncall_wait_minutes") || !hasWarning(w, "awsim_other_response_plan") {
			t.Fatalf("wait %s: %d %v", wait, status, body)
		}
	}
	ts.App.Wake()
	time.Sleep(300 * time.Millisecond)
	if n := len(aws.Starts()); n != 0 {
		t.Fatalf("escalated at once: %d StartIncident calls", n)
	}
	// The configured wait (2 minutes) applies, to the default plan.
	advance(ts, clock, 2*time.Minute+time.Second)
	apptest.Eventually(t, "escalations after the configured wait", func() bool { return len(aws.Starts()) == 4 })
	for _, s := range aws.Starts() {
		if s.ResponsePlanArn != plan {
			t.Fatalf("escalated to %s, want the default plan", s.ResponsePlanArn)
		}
	}
}

// TestDedupPerAlertmanager checks that a production and a staging
// Alertmanager with the same route are two incidents.
func TestDedupPerAlertmanager(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil)
	const group = `{}:{alertname="HighLatency"}`
	prod := apptest.AMPayload(group, "firing", "web-1")
	staging := strings.Replace(prod, `"externalURL":"http://alertmanager"`, `"externalURL":"http://alertmanager-staging"`, 1)
	_, a := ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, prod)
	_, b := ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, staging)
	if apptest.FirstID(t, a) == apptest.FirstID(t, b) {
		t.Fatalf("production and staging merged into incident %s", apptest.FirstID(t, a))
	}
	// Each resolves its own.
	_, r := ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, strings.Replace(staging, `"firing"`, `"resolved"`, -1))
	if apptest.FirstID(t, r) != apptest.FirstID(t, b) {
		t.Fatalf("staging's resolve went to %s", apptest.FirstID(t, r))
	}
	if inc := ts.Incident(t, apptest.FirstID(t, a)); inc.Status != tocsin.StatusTriggered {
		t.Fatalf("staging's resolve resolved production's incident")
	}
}

// TestVersusSNSPathWithoutToken checks that an SNS subscription made for
// Versus (queue.sns, no token in its URL) keeps working: with the topic
// pinned and signatures verified the path needs no token, and anything
// not signed for that topic is still refused. Without verification the
// token stays required.
func TestVersusSNSPathWithoutToken(t *testing.T) {
	f := newSNSFixture(t)
	queueSNS := func(c *config.Config) {
		c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false
		c.Queue.SNS.Enable = true
		c.Queue.SNS.TopicARN = cwTopic
		c.Queue.SNS.HTTPSEndpointSubscriptionPath = "/sns"
	}
	ts := apptest.Start(t, storetest.SQLiteURL(t), queueSNS, f.options)
	status, body := ts.Post(t, "/sns", "", f.body(t, snstest.SubscriptionConfirmation(f.sns, cwTopic, time.Now(), "2")))
	if status != http.StatusOK || f.sns.Confirms.Load() != 1 {
		t.Fatalf("tokenless subscription confirmation: %d %v", status, body)
	}
	status, body = ts.Post(t, "/sns", "", f.alarm(t, cwTopic, "orders-db-cpu", "ALARM"))
	if status != http.StatusCreated {
		t.Fatalf("tokenless signed ALARM: %d %v", status, body)
	}
	status, body = ts.Post(t, "/sns", "", f.alarm(t, cwOtherTopic, "billing-api-5xx", "ALARM"))
	wantError(t, "other topic", status, body, http.StatusForbidden, "forbidden")
	forged := f.alarm(t, cwTopic, "billing-api-5xx", "ALARM")
	forged = strings.Replace(forged, "billing-api-5xx", "forged-alarm-xx", -1)
	if status, body = ts.Post(t, "/sns", "", forged); status < 400 {
		t.Fatalf("a message whose signature does not match was accepted: %d %v", status, body)
	}
	if n := ts.IncidentCount(t); n != 1 {
		t.Fatalf("%d incidents, want 1", n)
	}

	// No signature verification (skip_signature): the token is required.
	unverified := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) {
		queueSNS(c)
		c.Ingest.CloudWatch.SkipSignature = true
	})
	status, body = unverified.Post(t, "/sns", "", f.alarm(t, cwTopic, "orders-db-cpu", "ALARM"))
	wantError(t, "no token without verification", status, body, http.StatusUnauthorized, "unauthorized")
	if status, body = unverified.Post(t, "/sns?token="+apptest.IngestToken, "", f.alarm(t, cwTopic, "orders-db-cpu", "ALARM")); status != http.StatusCreated {
		t.Fatalf("token without verification: %d %v", status, body)
	}
}

// TestDestinationOverridesClosedByDefault checks that a free-form
// destination is honoured only where ingest.allowed_destinations lists
// its parameter: without it, even a valid integration token cannot send
// mail or posts elsewhere, and the alert still goes to the defaults.
func TestDestinationOverridesClosedByDefault(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil)
	status, body := ts.Post(t, "/api/incidents?slack_channel_id=C0ELSEWHERE&email_to=someone@attacker.test", apptest.IngestToken, `{"title":"override with a token"}`)
	if status != http.StatusCreated || !hasWarning(warningsOf(body), "slack_channel_id") || !hasWarning(warningsOf(body), "email_to") {
		t.Fatalf("override with a token, nothing allowed: %d %v", status, body)
	}
	apptest.Eventually(t, "slack post and mail", func() bool { p, _ := ts.Slack.Counts(); return p == 1 && ts.Mail.Count() == 1 })
	channel := ts.Slack.Posts()[0].Get("channel")
	if channel != "C0INCIDENT" || strings.Contains(ts.Mail.Message(0), "attacker.test") {
		t.Fatalf("an override nobody allowed took effect: channel %q\n%s", channel, ts.Mail.Message(0))
	}
}
