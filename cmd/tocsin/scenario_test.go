package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/config"
	"tocsin/store/storetest"
)

const (
	testIngestToken = "ingest-secret-token"
	testAPIToken    = "api-secret-token"
	signingSecret   = "slack-signing-secret"
)

// testServer is a real tocsin server on 127.0.0.1:0 with a temp database
// and local fakes for every channel.
type testServer struct {
	url   string
	app   *app
	slack *fakeSlack
	sink  *sink
	mail  *mailbox
}

func startServer(t testing.TB, dbURL string, mod func(*config.Config), opts ...func(*appOptions)) *testServer {
	t.Helper()
	ts := &testServer{slack: newFakeSlack(t), sink: newSink(t), mail: newMailbox(t)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.url = "http://" + ln.Addr().String()
	cfg := config.Default()
	cfg.PublicHost = ts.url
	cfg.DataDir = t.TempDir()
	cfg.Database = dbURL
	cfg.API.Tokens = []string{testAPIToken}
	cfg.Ingest.Tokens = []string{testIngestToken}
	cfg.Alert.Slack = config.Slack{Enable: true, Token: "xoxb-test", ChannelID: "C0INCIDENT", APIURL: ts.slack.URL + "/api/",
		SigningSecret: signingSecret, Timeout: config.Duration(2 * time.Second)}
	host, port, _ := net.SplitHostPort(ts.mail.addr)
	p, _ := strconv.Atoi(port)
	cfg.Alert.Email = config.Email{Enable: true, SMTPHost: host, SMTPPort: p, From: "tocsin@example.com", To: "oncall@example.com", TLS: "none"}
	cfg.Alert.Webhook = config.Webhook{Enable: true, URL: ts.sink.URL + "/hook", Secret: "whsec"}
	if mod != nil {
		mod(cfg)
	}
	if probs := cfg.Validate(); len(probs) > 0 {
		t.Fatal(probs)
	}
	o := appOptions{
		PollInterval: 50 * time.Millisecond,
		Backoff:      func(int, time.Duration, float64) time.Duration { return 20 * time.Millisecond },
	}
	for _, f := range opts {
		f(&o)
	}
	ts.app, err = newApp(context.Background(), cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ts.app.serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done; ts.app.Close() })
	return ts
}

// post sends a request and returns the status and decoded JSON body.
func (ts *testServer) post(t *testing.T, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", ts.url+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

func (ts *testServer) get(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+testAPIToken)
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func (ts *testServer) incident(t *testing.T, id string) *tocsin.Incident {
	t.Helper()
	inc, err := ts.app.store.FindIncident(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

// amPayload is an Alertmanager webhook (v4) with one alert per fingerprint.
func amPayload(group, status string, fingerprints ...string) string {
	var alerts []string
	for _, fp := range fingerprints {
		alerts = append(alerts, fmt.Sprintf(`{"status":%q,"labels":{"alertname":"HighLatency","instance":%q,"severity":"critical"},
			"annotations":{"summary":"Latency high on %s","runbook_url":"https://runbooks.example.com/latency"},
			"startsAt":"2026-11-21T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus/graph","fingerprint":%q}`,
			status, fp, fp, fp))
	}
	return fmt.Sprintf(`{"version":"4","groupKey":%q,"status":%q,"receiver":"tocsin","groupLabels":{"alertname":"HighLatency"},
		"commonLabels":{"alertname":"HighLatency","severity":"critical"},"commonAnnotations":{},"externalURL":"http://alertmanager",
		"truncatedAlerts":0,"alerts":[%s]}`, group, status, strings.Join(alerts, ","))
}

func firstID(t *testing.T, body map[string]any) string {
	t.Helper()
	ids, _ := body["incident_ids"].([]any)
	if len(ids) == 0 {
		t.Fatalf("no incident id in %v", body)
	}
	return ids[0].(string)
}

func TestScenarioAlertmanagerLifecycle(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			ts := startServer(t, kind.URL(t), nil)
			status, body := ts.post(t, "/api/v1/alerts/alertmanager", testIngestToken, amPayload(`{}:{alertname="HighLatency"}`, "firing", "web-1"))
			if status != http.StatusCreated {
				t.Fatalf("firing: %d %v", status, body)
			}
			id := firstID(t, body)

			// Notified on Slack, email and webhook.
			eventually(t, "opened notifications", func() bool {
				p, _ := ts.slack.counts()
				return p == 1 && ts.mail.count() == 1 && len(ts.sink.events(id)) == 1
			})
			ts.slack.mu.Lock()
			post := ts.slack.posts[0]
			ts.slack.mu.Unlock()
			if post.Get("channel") != "C0INCIDENT" || !strings.Contains(post.Get("attachments")+post.Get("blocks"), "tocsin_ack") {
				t.Fatalf("slack post lacks channel or Acknowledge button: %v", post)
			}
			mail := ts.mail.message(0)
			if !strings.Contains(mail, "/api/ack/"+id) || !strings.Contains(mail, "text/html") || !strings.Contains(mail, "text/plain") {
				t.Fatalf("email lacks ack link or parts:\n%s", mail)
			}
			hook := ts.sink.find(id, "opened")
			if ack, _ := hook["ack_url"].(string); !strings.HasPrefix(ack, ts.url+"/api/ack/"+id+"?exp=") {
				t.Fatalf("webhook ack_url = %v", hook["ack_url"])
			}
			if !strings.HasPrefix(hook["_signature"].(string), "sha256=") {
				t.Fatalf("webhook not signed: %v", hook["_signature"])
			}

			// The same group again (Alertmanager's repeat_interval): no new incident, no new messages.
			status, body = ts.post(t, "/api/v1/alerts/alertmanager", testIngestToken, amPayload(`{}:{alertname="HighLatency"}`, "firing", "web-1"))
			if status != http.StatusOK || firstID(t, body) != id {
				t.Fatalf("repeat: %d %v", status, body)
			}
			_, list := ts.get(t, "/api/v1/incidents")
			if n := len(list["incidents"].([]any)); n != 1 {
				t.Fatalf("repeat opened a new incident: %d incidents", n)
			}

			// Resolved: the incident resolves, and every channel hears of it.
			status, body = ts.post(t, "/api/v1/alerts/alertmanager", testIngestToken, amPayload(`{}:{alertname="HighLatency"}`, "resolved", "web-1"))
			if status != http.StatusOK || firstID(t, body) != id {
				t.Fatalf("resolved: %d %v", status, body)
			}
			if inc := ts.incident(t, id); inc.Status != tocsin.StatusResolved {
				t.Fatalf("status after resolved alert: %s", inc.Status)
			}
			eventually(t, "resolved notifications", func() bool {
				p, u := ts.slack.counts()
				return p == 1 && u == 1 && ts.mail.count() == 2 && len(ts.sink.events(id)) == 2
			})
			if got := ts.sink.events(id); got[1] != "resolved" {
				t.Fatalf("webhook events %v", got)
			}
			ts.slack.mu.Lock()
			upd := ts.slack.updates[0]
			ts.slack.mu.Unlock()
			if upd.Get("ts") != "1700000000.1" || upd.Get("channel") != "C0INCIDENT" {
				t.Fatalf("slack update not of the first message: %v", upd)
			}
			eventually(t, "timeline", func() bool {
				n := 0
				for _, e := range ts.incident(t, id).Timeline {
					if e.Kind == tocsin.EventNotificationSent {
						n++
					}
				}
				return n == 6
			})
		})
	}
}

func slackSign(body string, ts time.Time) http.Header {
	h := http.Header{}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, []byte(signingSecret))
	m.Write([]byte("v0:" + stamp + ":" + body))
	h.Set("X-Slack-Request-Timestamp", stamp)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return h
}

func TestScenarioSlackButtonAck(t *testing.T) {
	ts := startServer(t, storetest.SQLiteURL(t), nil)
	_, body := ts.post(t, "/api/v1/alerts/alertmanager", testIngestToken, amPayload("g-slack", "firing", "db-1"))
	id := firstID(t, body)
	eventually(t, "slack post", func() bool { p, _ := ts.slack.counts(); return p == 1 })

	payload, _ := json.Marshal(map[string]any{
		"type":    "block_actions",
		"user":    map[string]any{"id": "U123", "username": "alice", "name": "alice"},
		"channel": map[string]any{"id": "C0INCIDENT"}, "container": map[string]any{"message_ts": "1700000000.1"},
		"actions": []any{map[string]any{"action_id": "tocsin_ack", "value": id, "type": "button"}},
	})
	form := "payload=" + url.QueryEscape(string(payload))

	// A forged request (wrong secret) is refused and changes nothing.
	bad, _ := http.NewRequest("POST", ts.url+"/api/v1/slack/interactions", strings.NewReader(form))
	bad.Header = slackSign(form+"x", time.Now())
	if status, _ := do(t, bad); status != http.StatusUnauthorized {
		t.Fatalf("invalid signature: %d", status)
	}
	if inc := ts.incident(t, id); inc.Status != tocsin.StatusTriggered {
		t.Fatalf("forged click acknowledged: %s", inc.Status)
	}
	// A stale timestamp is refused too (replay).
	old, _ := http.NewRequest("POST", ts.url+"/api/v1/slack/interactions", strings.NewReader(form))
	old.Header = slackSign(form, time.Now().Add(-10*time.Minute))
	if status, _ := do(t, old); status != http.StatusUnauthorized {
		t.Fatalf("replayed request: %d", status)
	}

	good, _ := http.NewRequest("POST", ts.url+"/api/v1/slack/interactions", strings.NewReader(form))
	good.Header = slackSign(form, time.Now())
	if status, _ := do(t, good); status != http.StatusOK {
		t.Fatalf("valid click: %d", status)
	}
	inc := ts.incident(t, id)
	if inc.Status != tocsin.StatusAcknowledged || !strings.Contains(inc.AckedBy, "alice") || !strings.Contains(inc.AckedBy, "slack") {
		t.Fatalf("after click: %s by %q", inc.Status, inc.AckedBy)
	}
	// The Slack message is updated (buttons gone, acknowledged by alice).
	eventually(t, "slack update", func() bool { _, u := ts.slack.counts(); return u == 1 })
	ts.slack.mu.Lock()
	upd := ts.slack.updates[0]
	ts.slack.mu.Unlock()
	if strings.Contains(upd.Get("attachments")+upd.Get("blocks"), "tocsin_ack\"") || !strings.Contains(upd.Get("attachments")+upd.Get("blocks")+upd.Get("text"), "alice") {
		t.Fatalf("update still has the button or lacks the actor: %v", upd)
	}
}

func TestScenarioAckLink(t *testing.T) {
	ts := startServer(t, storetest.SQLiteURL(t), nil)
	_, body := ts.post(t, "/api/v1/alerts/alertmanager", testIngestToken, amPayload("g-link", "firing", "api-1"))
	id := firstID(t, body)
	eventually(t, "webhook", func() bool { return ts.sink.find(id, "opened") != nil })
	link := ts.sink.find(id, "opened")["ack_url"].(string)

	// GET shows a confirmation page and acknowledges nothing.
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "<form method=\"post\"") {
		t.Fatalf("GET: %d %s", resp.StatusCode, page)
	}
	// HEAD (link scanners) acknowledges nothing either.
	if resp, err := http.Head(link); err != nil || resp.StatusCode != 200 {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	if inc := ts.incident(t, id); inc.Status != tocsin.StatusTriggered {
		t.Fatalf("GET/HEAD acknowledged the incident: %s", inc.Status)
	}
	// A tampered signature or an expired link is refused.
	for _, bad := range []string{strings.Replace(link, "sig=", "sig=00", 1), strings.Replace(link, "exp=", "exp=1", 1)} {
		resp, _ := http.PostForm(bad, url.Values{"name": {"mallory"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("tampered link: %d", resp.StatusCode)
		}
	}
	// POST acknowledges, with the actor's name.
	resp, err = http.PostForm(link, url.Values{"name": {"Bob"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST: %v %v", resp, err)
	}
	inc := ts.incident(t, id)
	if inc.Status != tocsin.StatusAcknowledged || inc.AckedBy != "Bob via ack link" {
		t.Fatalf("after POST: %s by %q", inc.Status, inc.AckedBy)
	}
	// A second POST answers "already acknowledged", not an error.
	resp, _ = http.PostForm(link, url.Values{"name": {"Carol"}})
	page, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Already acknowledged") {
		t.Fatalf("second POST: %d %s", resp.StatusCode, page)
	}
	if inc := ts.incident(t, id); inc.AckedBy != "Bob via ack link" {
		t.Fatalf("second ack changed the actor: %q", inc.AckedBy)
	}
}

func TestScenarioRetryThenDeliverOnce(t *testing.T) {
	ts := startServer(t, storetest.SQLiteURL(t), func(c *config.Config) { c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false })
	ts.sink.mu.Lock()
	ts.sink.failNext = 1
	ts.sink.mu.Unlock()
	_, body := ts.post(t, "/api/v1/alerts/alertmanager", testIngestToken, amPayload("g-retry", "firing", "x"))
	id := firstID(t, body)
	eventually(t, "delivery after retry", func() bool { return len(ts.sink.events(id)) == 1 })
	time.Sleep(200 * time.Millisecond) // would a duplicate arrive?
	ts.sink.mu.Lock()
	attempts, delivered := ts.sink.attempts, len(ts.sink.deliveries)
	ts.sink.mu.Unlock()
	if attempts != 2 || delivered != 1 {
		t.Fatalf("attempts=%d delivered=%d; want 2 and 1", attempts, delivered)
	}
	var kinds []string
	for _, e := range ts.incident(t, id).Timeline {
		kinds = append(kinds, e.Kind)
	}
	if got := strings.Join(kinds, ","); got != "created,notification_retry,notification_sent" {
		t.Fatalf("timeline: %s", got)
	}
}

func TestScenarioHangingChannelDoesNotBlockIngestion(t *testing.T) {
	ts := startServer(t, storetest.SQLiteURL(t), func(c *config.Config) { c.Alert.Email.Enable = false })
	ts.slack.setHang(true)
	start := time.Now()
	var ids []string
	for i := 0; i < 20; i++ {
		status, body := ts.post(t, "/api/v1/alerts/alertmanager", testIngestToken, amPayload("g-hang-"+strconv.Itoa(i), "firing", "x"))
		if status != http.StatusCreated {
			t.Fatalf("alert %d: %d", i, status)
		}
		ids = append(ids, firstID(t, body))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("20 alerts took %s with Slack hanging", took)
	}
	// The webhook still delivers every one while Slack hangs.
	eventually(t, "webhook deliveries", func() bool { return len(ts.sink.events("")) == 20 })
	if p, _ := ts.slack.counts(); p != 0 {
		t.Fatalf("slack answered while hanging: %d", p)
	}
	// Slack recovers: its queued messages go out.
	ts.slack.setHang(false)
	eventually(t, "slack catches up", func() bool { p, _ := ts.slack.counts(); return p == 20 })
}

func TestIntakeErrors(t *testing.T) {
	ts := startServer(t, storetest.SQLiteURL(t), func(c *config.Config) { c.Ingest.MaxBodyBytes = 2048 })
	cases := []struct {
		name, path, token, body string
		status                  int
		code                    string
	}{
		{"no token", "/api/v1/alerts/alertmanager", "", amPayload("g", "firing", "a"), 401, "unauthorized"},
		{"bad token", "/api/v1/alerts/alertmanager", "nope", amPayload("g", "firing", "a"), 401, "unauthorized"},
		{"api token is not an integration token", "/api/v1/alerts/generic", testAPIToken, `{"title":"x"}`, 401, "unauthorized"},
		{"malformed", "/api/v1/alerts/alertmanager", testIngestToken, `{"alerts": [`, 400, "invalid"},
		{"wrong type", "/api/v1/alerts/generic", testIngestToken, `{"title": 5}`, 400, "invalid"},
		{"unknown generic key", "/api/v1/alerts/generic", testIngestToken, `{"title":"x","titel":"y"}`, 400, "invalid"},
		{"oversized", "/api/v1/alerts/generic", testIngestToken, `{"title":"` + strings.Repeat("x", 4096) + `"}`, 413, "too_large"},
		{"unknown source", "/api/v1/alerts/nagios", testIngestToken, `{}`, 404, "not_found"},
		{"versus empty", "/api/incidents", testIngestToken, ``, 400, "invalid"},
		{"versus not json", "/api/incidents", testIngestToken, `hello`, 400, "invalid"},
	}
	for _, c := range cases {
		status, body := ts.post(t, c.path, c.token, c.body)
		e, _ := body["error"].(map[string]any)
		if status != c.status || e == nil || e["code"] != c.code || e["message"] == "" {
			t.Errorf("%s: %d %v; want %d %s", c.name, status, body, c.status, c.code)
		}
	}
	_, list := ts.get(t, "/api/v1/incidents")
	if n := len(list["incidents"].([]any)); n != 0 {
		t.Fatalf("bad input changed something: %d incidents", n)
	}
	// The token may also come as ?token= (SNS and senders without headers).
	if status, _ := ts.post(t, "/api/v1/alerts/generic?token="+testIngestToken, "", `{"title":"via query"}`); status != 201 {
		t.Fatalf("?token=: %d", status)
	}
}

func TestIncidentAPI(t *testing.T) {
	ts := startServer(t, storetest.SQLiteURL(t), nil)
	_, body := ts.post(t, "/api/incidents", testIngestToken, `[{"title":"disk full","severity":"warning"},{"alertname":"cpu","status":"firing"}]`)
	if body["status"] != "Incidents created" {
		t.Fatalf("versus array: %v", body)
	}
	id := firstID(t, body)
	if status, _ := ts.get(t, "/api/v1/incidents?status=bogus"); status != 400 {
		t.Fatalf("bad status filter: %d", status)
	}
	req, _ := http.NewRequest("GET", ts.url+"/api/v1/incidents", nil)
	if status, _ := do(t, req); status != 401 {
		t.Fatalf("no API token: %d", status)
	}
	status, res := ts.post(t, "/api/v1/incidents/"+id+"/notes", testAPIToken, `{"text":"checking disks","by":"ann"}`)
	if status != 201 {
		t.Fatalf("note: %d %v", status, res)
	}
	if status, _ := ts.post(t, "/api/v1/incidents/"+id+"/notes", testAPIToken, `{"text":"x","colour":"red"}`); status != 400 {
		t.Fatalf("unknown field in note: %d", status)
	}
	status, res = ts.post(t, "/api/v1/incidents/"+id+"/acknowledge", testAPIToken, `{"by":"ann"}`)
	if status != 200 || res["changed"] != true {
		t.Fatalf("ack: %d %v", status, res)
	}
	status, res = ts.post(t, "/api/v1/incidents/"+id+"/acknowledge", testAPIToken, ``)
	if status != 200 || res["changed"] != false {
		t.Fatalf("second ack: %d %v", status, res)
	}
	status, res = ts.post(t, "/api/v1/incidents/"+id+"/resolve", testAPIToken, `{"by":"ann"}`)
	if status != 200 || res["changed"] != true {
		t.Fatalf("resolve: %d %v", status, res)
	}
	if status, _ := ts.post(t, "/api/v1/incidents/nope/resolve", testAPIToken, ``); status != 404 {
		t.Fatalf("unknown incident: %d", status)
	}
	_, got := ts.get(t, "/api/v1/incidents/"+id)
	inc := got["incident"].(map[string]any)
	if inc["status"] != "resolved" || inc["acknowledged_by"] != "ann via api" || len(inc["timeline"].([]any)) < 4 {
		t.Fatalf("incident: %v", inc)
	}
	_, open := ts.get(t, "/api/v1/incidents?status=open")
	if n := len(open["incidents"].([]any)); n != 1 {
		t.Fatalf("open incidents: %d", n)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, _ := ts.get(t, p); status != 200 {
			t.Fatalf("%s: %d", p, status)
		}
	}
	eventually(t, "metrics", func() bool {
		resp, err := http.Get(ts.url + "/metrics")
		if err != nil {
			return false
		}
		m, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{"tocsin_alerts_received_total", "tocsin_incidents_opened_total 2", "tocsin_outbox_depth", "tocsin_timer_lag_seconds", `tocsin_notifications_total{channel="webhook",result="sent"}`} {
			if !bytes.Contains(m, []byte(want)) {
				return false
			}
		}
		return true
	})
}

func TestScenarioRenotifyUntilAcknowledged(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	ts := startServer(t, storetest.SQLiteURL(t), func(c *config.Config) {
		c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false
		c.Incidents.RenotifyAfter = config.Duration(15 * time.Minute)
	}, func(o *appOptions) { o.Now = clock.Now })
	_, body := ts.post(t, "/api/v1/alerts/generic", testIngestToken, `{"title":"queue backlog","severity":"high"}`)
	id := firstID(t, body)
	eventually(t, "opened", func() bool { return len(ts.sink.events(id)) == 1 })

	clock.Add(14 * time.Minute)
	ts.app.worker.Wake()
	time.Sleep(100 * time.Millisecond)
	if got := ts.sink.events(id); len(got) != 1 {
		t.Fatalf("reminder before renotify_after: %v", got)
	}
	clock.Add(2 * time.Minute)
	ts.app.worker.Wake()
	eventually(t, "first reminder", func() bool { return len(ts.sink.events(id)) == 2 })
	if d := ts.sink.find(id, "renotify"); d == nil || d["ack_url"] == "" {
		t.Fatalf("reminder lacks the ack link: %v", d)
	}
	clock.Add(16 * time.Minute)
	ts.app.worker.Wake()
	eventually(t, "second reminder", func() bool { return len(ts.sink.events(id)) == 3 })

	if status, _ := ts.post(t, "/api/v1/incidents/"+id+"/acknowledge", testAPIToken, ""); status != 200 {
		t.Fatalf("ack: %d", status)
	}
	eventually(t, "acknowledged", func() bool { return ts.sink.find(id, "acknowledged") != nil })
	clock.Add(time.Hour)
	ts.app.worker.Wake()
	time.Sleep(150 * time.Millisecond)
	if got := ts.sink.events(id); strings.Join(got, ",") != "opened,renotify,renotify,acknowledged" {
		t.Fatalf("events after ack: %v", got)
	}
}

func TestDatabaseDownAnswers503(t *testing.T) {
	ts := startServer(t, storetest.SQLiteURL(t), nil)
	ts.app.store.Close()
	req, _ := http.NewRequest("POST", ts.url+"/api/v1/alerts/generic", strings.NewReader(`{"title":"x"}`))
	req.Header.Set("Authorization", "Bearer "+testIngestToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("intake with the database down: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if status, _ := ts.get(t, "/readyz"); status != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the database down: %d", status)
	}
	if status, _ := ts.get(t, "/healthz"); status != http.StatusOK {
		t.Fatalf("healthz: %d", status)
	}
}
