package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/app"
	"tocsin/apptest"
	"tocsin/config"
	"tocsin/ingest"
	"tocsin/ingest/snstest"
	"tocsin/store/storetest"
)

// The topics of the CloudWatch tests: alarms publish to cwTopic; nobody
// subscribed tocsin to cwOtherTopic.
const (
	cwTopic      = "arn:aws:sns:eu-west-1:123456789012:tocsin-alarms"
	cwOtherTopic = "arn:aws:sns:eu-west-1:123456789012:someone-else"
)

// cloudWatchAlarm is the alarm state change CloudWatch publishes to SNS,
// as an alarm action sends it, with state ALARM or OK.
func cloudWatchAlarm(t *testing.T, name, state string, at time.Time) string {
	t.Helper()
	old, reason := "OK", "Threshold Crossed: 1 out of the last 1 datapoints [97.5 ("+at.Format("02/01/06 15:04:05")+")] was greater than the threshold (90.0) (minimum 1 datapoint for OK -> ALARM transition)."
	if state == "OK" {
		old, reason = "ALARM", "Threshold Crossed: 1 out of the last 1 datapoints [12.0 ("+at.Format("02/01/06 15:04:05")+")] was not greater than the threshold (90.0) (minimum 1 datapoint for ALARM -> OK transition)."
	}
	b, err := json.Marshal(map[string]any{
		"AlarmName":                          name,
		"AlarmDescription":                   "CPU of the orders database above 90% for a minute",
		"AWSAccountId":                       "123456789012",
		"AlarmConfigurationUpdatedTimestamp": "2026-01-12T08:12:44.129+0000",
		"NewStateValue":                      state,
		"NewStateReason":                     reason,
		"StateChangeTime":                    at.UTC().Format("2006-01-02T15:04:05.000+0000"),
		"Region":                             "EU (Ireland)",
		"AlarmArn":                           "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:" + name,
		"OldStateValue":                      old,
		"OKActions":                          []string{cwTopic},
		"AlarmActions":                       []string{cwTopic},
		"InsufficientDataActions":            []string{},
		"Trigger": map[string]any{
			"MetricName":                       "CPUUtilization",
			"Namespace":                        "AWS/RDS",
			"StatisticType":                    "Statistic",
			"Statistic":                        "AVERAGE",
			"Unit":                             nil,
			"Dimensions":                       []map[string]string{{"value": "orders-db", "name": "DBInstanceIdentifier"}},
			"Period":                           60,
			"EvaluationPeriods":                1,
			"ComparisonOperator":               "GreaterThanThreshold",
			"Threshold":                        90.0,
			"TreatMissingData":                 "missing",
			"EvaluateLowSampleCountPercentile": "",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// snsFixture signs SNS deliveries for a server whose verifier trusts the
// test PKI and fetches from the fake SNS server.
type snsFixture struct {
	pki *snstest.PKI
	sns *snstest.Server
}

func newSNSFixture(t *testing.T) *snsFixture {
	pki := snstest.NewPKI(t)
	return &snsFixture{pki: pki, sns: snstest.NewServer(t, pki)}
}

// options makes the server verify with the fixture's verifier.
func (f *snsFixture) options(o *app.Options) { o.SNS = f.sns.Verifier(f.pki, nil) }

// body signs m and returns it as SNS posts it.
func (f *snsFixture) body(t *testing.T, m *ingest.SNSMessage) string {
	t.Helper()
	snstest.Sign(t, f.pki.LeafKey, m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// alarm returns the signed notification of an alarm state change on topic.
func (f *snsFixture) alarm(t *testing.T, topic, name, state string) string {
	t.Helper()
	now := time.Now()
	return f.body(t, snstest.Notification(f.sns, topic, cloudWatchAlarm(t, name, state, now.Add(-2*time.Second)), now, "1"))
}

// wantError checks an error answer's status and code.
func wantError(t *testing.T, what string, status int, body map[string]any, wantStatus int, code string) {
	t.Helper()
	e, _ := body["error"].(map[string]any)
	if status != wantStatus || e == nil || e["code"] != code {
		t.Fatalf("%s: %d %v; want %d %s", what, status, body, wantStatus, code)
	}
}

func TestCloudWatchSNS(t *testing.T) {
	f := newSNSFixture(t)
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) {
		c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false
		c.Ingest.CloudWatch.TopicARNs = []string{cwTopic}
	}, f.options)
	const path = "/api/v1/alerts/cloudwatch"

	// Subscribing: tocsin confirms by fetching the SubscribeURL, once.
	sub := snstest.SubscriptionConfirmation(f.sns, cwTopic, time.Now(), "2")
	status, body := ts.Post(t, path, apptest.IngestToken, f.body(t, sub))
	if status != http.StatusOK {
		t.Fatalf("subscription confirmation: %d %v", status, body)
	}
	if n, tokens := f.sns.Confirms.Load(), f.sns.ConfirmedTokens(); n != 1 || len(tokens) != 1 || tokens[0] != sub.Token {
		t.Fatalf("ConfirmSubscription requests: %d with tokens %v; want 1 with %s", n, tokens, sub.Token)
	}

	// The alarm fires: an incident opens.
	status, body = ts.Post(t, path, apptest.IngestToken, f.alarm(t, cwTopic, "orders-db-cpu", "ALARM"))
	if status != http.StatusCreated {
		t.Fatalf("ALARM: %d %v", status, body)
	}
	id := apptest.FirstID(t, body)
	inc := ts.Incident(t, id)
	if inc.Source != tocsin.SourceCloudWatch || !strings.Contains(inc.Title, "orders-db-cpu") || inc.Status != tocsin.StatusTriggered {
		t.Fatalf("incident from ALARM: source %q, title %q, status %s", inc.Source, inc.Title, inc.Status)
	}
	apptest.Eventually(t, "opened webhook", func() bool { return ts.Sink.Find(id, "opened") != nil })

	// The alarm returns to OK: the same incident resolves.
	status, body = ts.Post(t, path, apptest.IngestToken, f.alarm(t, cwTopic, "orders-db-cpu", "OK"))
	if status != http.StatusOK || apptest.FirstID(t, body) != id {
		t.Fatalf("OK: %d %v; want 200 for %s", status, body, id)
	}
	if inc := ts.Incident(t, id); inc.Status != tocsin.StatusResolved {
		t.Fatalf("status after OK: %s", inc.Status)
	}

	// A message whose signature is over other text is refused and changes nothing.
	forged := snstest.Notification(f.sns, cwTopic, cloudWatchAlarm(t, "billing-api-5xx", "ALARM", time.Now()), time.Now(), "2")
	snstest.Sign(t, f.pki.LeafKey, forged)
	forged.Message = cloudWatchAlarm(t, "billing-api-latency", "ALARM", time.Now())
	b, _ := json.Marshal(forged)
	status, body = ts.Post(t, path, apptest.IngestToken, string(b))
	wantError(t, "tampered message", status, body, http.StatusUnauthorized, "unauthorized")

	// A validly signed message on a topic that is not pinned is forbidden.
	status, body = ts.Post(t, path, apptest.IngestToken, f.alarm(t, cwOtherTopic, "billing-api-5xx", "ALARM"))
	wantError(t, "other topic", status, body, http.StatusForbidden, "forbidden")
	// So is subscribing tocsin to it.
	status, body = ts.Post(t, path, apptest.IngestToken, f.body(t, snstest.SubscriptionConfirmation(f.sns, cwOtherTopic, time.Now(), "2")))
	wantError(t, "other topic subscription", status, body, http.StatusForbidden, "forbidden")

	// The integration token is required, even on a signed message.
	signed := f.alarm(t, cwTopic, "billing-api-5xx", "ALARM")
	status, body = ts.Post(t, path, "", signed)
	wantError(t, "no token", status, body, http.StatusUnauthorized, "unauthorized")
	status, body = ts.Post(t, path, "not-the-token", signed)
	wantError(t, "bad token", status, body, http.StatusUnauthorized, "unauthorized")
	status, body = ts.Post(t, path, "", f.body(t, snstest.SubscriptionConfirmation(f.sns, cwTopic, time.Now(), "2")))
	wantError(t, "subscription without token", status, body, http.StatusUnauthorized, "unauthorized")

	if n := f.sns.Confirms.Load(); n != 1 {
		t.Fatalf("refused requests confirmed subscriptions: %d ConfirmSubscription requests", n)
	}
	if n := ts.IncidentCount(t); n != 1 {
		t.Fatalf("refused requests changed something: %d incidents, want 1", n)
	}

	// SNS subscriptions carry the token in the endpoint URL.
	status, body = ts.Post(t, path+"?token="+apptest.IngestToken, "", signed)
	if status != http.StatusCreated {
		t.Fatalf("?token=: %d %v", status, body)
	}
	if inc := ts.Incident(t, apptest.FirstID(t, body)); inc.Source != tocsin.SourceCloudWatch || !strings.Contains(inc.Title, "billing-api-5xx") {
		t.Fatalf("incident via ?token=: source %q, title %q", inc.Source, inc.Title)
	}
	// The verifier kept the signing certificate: one fetch for every message.
	if n := f.sns.CertFetches.Load(); n != 1 {
		t.Errorf("signing certificate fetched %d times, want 1", n)
	}
}

// TestCloudWatchQueueSNS checks Versus's queue.sns endpoint: an SNS HTTPS
// subscription to a path of its own, pinned to queue.sns.topic_arn.
func TestCloudWatchQueueSNS(t *testing.T) {
	f := newSNSFixture(t)
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) {
		c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false
		c.Queue.SNS.Enable = true
		c.Queue.SNS.TopicARN = cwTopic
		c.Queue.SNS.HTTPSEndpointSubscriptionPath = "/sns"
	}, f.options)

	status, body := ts.Post(t, "/sns?token="+apptest.IngestToken, "", f.body(t, snstest.SubscriptionConfirmation(f.sns, cwTopic, time.Now(), "2")))
	if status != http.StatusOK || f.sns.Confirms.Load() != 1 {
		t.Fatalf("subscription confirmation on /sns: %d %v, %d confirms", status, body, f.sns.Confirms.Load())
	}
	status, body = ts.Post(t, "/sns?token="+apptest.IngestToken, "", f.alarm(t, cwTopic, "orders-db-cpu", "ALARM"))
	if status != http.StatusCreated {
		t.Fatalf("ALARM on /sns: %d %v", status, body)
	}
	id := apptest.FirstID(t, body)
	if inc := ts.Incident(t, id); inc.Source != tocsin.SourceCloudWatch || !strings.Contains(inc.Title, "orders-db-cpu") {
		t.Fatalf("incident from /sns: source %q, title %q", inc.Source, inc.Title)
	}
	status, body = ts.Post(t, "/sns?token="+apptest.IngestToken, "", f.alarm(t, cwOtherTopic, "billing-api-5xx", "ALARM"))
	wantError(t, "other topic on /sns", status, body, http.StatusForbidden, "forbidden")
	if n := ts.IncidentCount(t); n != 1 {
		t.Fatalf("%d incidents, want 1", n)
	}
}

// TestCloudWatchReplayAndUnsignedAlarms checks that an SNS redelivery (the
// same MessageId) changes nothing, and that an unsigned alarm posted to
// Versus's /api/incidents cannot touch the incident of a signed one.
func TestCloudWatchReplayAndUnsignedAlarms(t *testing.T) {
	f := newSNSFixture(t)
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) {
		c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false
	}, f.options)
	const path = "/api/v1/alerts/cloudwatch"
	alarm := f.alarm(t, cwTopic, "orders-db-cpu", "ALARM")
	status, body := ts.Post(t, path, apptest.IngestToken, alarm)
	if status != http.StatusCreated {
		t.Fatalf("alarm: %d %v", status, body)
	}
	id := apptest.FirstID(t, body)

	// An unsigned OK for the same alarm on /api/incidents is plain JSON: it
	// does not resolve the signed incident.
	if status, body := ts.Post(t, "/api/incidents", apptest.IngestToken, cloudWatchAlarm(t, "orders-db-cpu", "OK", time.Now())); status >= 300 {
		t.Fatalf("unsigned OK: %d %v", status, body)
	}
	if inc := ts.Incident(t, id); inc.Status != tocsin.StatusTriggered {
		t.Fatalf("an unsigned alarm resolved the signed incident")
	}

	// The signed OK resolves it; a replay of the signed ALARM afterwards
	// (same MessageId) is a duplicate and opens nothing.
	if status, _ := ts.Post(t, path, apptest.IngestToken, f.alarm(t, cwTopic, "orders-db-cpu", "OK")); status != http.StatusOK {
		t.Fatalf("signed OK: %d", status)
	}
	if inc := ts.Incident(t, id); inc.Status != tocsin.StatusResolved {
		t.Fatalf("signed OK did not resolve: %s", inc.Status)
	}
	before := ts.IncidentCount(t)
	status, body = ts.Post(t, path, apptest.IngestToken, alarm)
	results, _ := body["results"].([]any)
	if status != http.StatusOK || len(results) != 1 || results[0].(map[string]any)["duplicate"] != true {
		t.Fatalf("replayed alarm: %d %v", status, body)
	}
	if after := ts.IncidentCount(t); after != before {
		t.Fatalf("a replay opened an incident: %d → %d", before, after)
	}
}
