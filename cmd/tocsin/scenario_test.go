package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/app"
	"tocsin/apptest"
	"tocsin/config"
	"tocsin/store/storetest"
)

func TestScenarioAlertmanagerLifecycle(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			ts := apptest.Start(t, kind.URL(t), nil)
			status, body := ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, apptest.AMPayload(`{}:{alertname="HighLatency"}`, "firing", "web-1"))
			if status != http.StatusCreated {
				t.Fatalf("firing: %d %v", status, body)
			}
			id := apptest.FirstID(t, body)

			// Notified on Slack, email and webhook.
			apptest.Eventually(t, "opened notifications", func() bool {
				p, _ := ts.Slack.Counts()
				return p == 1 && ts.Mail.Count() == 1 && len(ts.Sink.Events(id)) == 1
			})
			post := ts.Slack.Posts()[0]
			if post.Get("channel") != "C0INCIDENT" || !strings.Contains(post.Get("attachments")+post.Get("blocks"), "tocsin_ack") {
				t.Fatalf("slack post lacks channel or Acknowledge button: %v", post)
			}
			mail := ts.Mail.Message(0)
			if !strings.Contains(mail, "/api/ack/"+id) || !strings.Contains(mail, "text/html") || !strings.Contains(mail, "text/plain") {
				t.Fatalf("email lacks ack link or parts:\n%s", mail)
			}
			hook := ts.Sink.Find(id, "opened")
			if ack, _ := hook["ack_url"].(string); !strings.HasPrefix(ack, ts.URL+"/api/ack/"+id+"?exp=") {
				t.Fatalf("webhook ack_url = %v", hook["ack_url"])
			}
			if !strings.HasPrefix(hook["_signature"].(string), "sha256=") {
				t.Fatalf("webhook not signed: %v", hook["_signature"])
			}

			// The same group again (Alertmanager's repeat_interval): no new incident, no new messages.
			status, body = ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, apptest.AMPayload(`{}:{alertname="HighLatency"}`, "firing", "web-1"))
			if status != http.StatusOK || apptest.FirstID(t, body) != id {
				t.Fatalf("repeat: %d %v", status, body)
			}
			_, list := ts.Get(t, "/api/v1/incidents")
			if n := len(list["incidents"].([]any)); n != 1 {
				t.Fatalf("repeat opened a new incident: %d incidents", n)
			}

			// Resolved: the incident resolves, and every channel hears of it.
			status, body = ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, apptest.AMPayload(`{}:{alertname="HighLatency"}`, "resolved", "web-1"))
			if status != http.StatusOK || apptest.FirstID(t, body) != id {
				t.Fatalf("resolved: %d %v", status, body)
			}
			if inc := ts.Incident(t, id); inc.Status != tocsin.StatusResolved {
				t.Fatalf("status after resolved alert: %s", inc.Status)
			}
			apptest.Eventually(t, "resolved notifications", func() bool {
				p, u := ts.Slack.Counts()
				return p == 1 && u == 1 && ts.Mail.Count() == 2 && len(ts.Sink.Events(id)) == 2
			})
			if got := ts.Sink.Events(id); got[1] != "resolved" {
				t.Fatalf("webhook events %v", got)
			}
			upd := ts.Slack.Updates()[0]
			if upd.Get("ts") != "1700000000.1" || upd.Get("channel") != "C0INCIDENT" {
				t.Fatalf("slack update not of the first message: %v", upd)
			}
			apptest.Eventually(t, "timeline", func() bool {
				n := 0
				for _, e := range ts.Incident(t, id).Timeline {
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
	m := hmac.New(sha256.New, []byte(apptest.SigningSecret))
	m.Write([]byte("v0:" + stamp + ":" + body))
	h.Set("X-Slack-Request-Timestamp", stamp)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return h
}

func TestScenarioSlackButtonAck(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil)
	_, body := ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, apptest.AMPayload("g-slack", "firing", "db-1"))
	id := apptest.FirstID(t, body)
	apptest.Eventually(t, "slack post", func() bool { p, _ := ts.Slack.Counts(); return p == 1 })

	payload, _ := json.Marshal(map[string]any{
		"type":    "block_actions",
		"user":    map[string]any{"id": "U123", "username": "alice", "name": "alice"},
		"channel": map[string]any{"id": "C0INCIDENT"}, "container": map[string]any{"message_ts": "1700000000.1"},
		"actions": []any{map[string]any{"action_id": "tocsin_ack", "value": id, "type": "button"}},
	})
	form := "payload=" + url.QueryEscape(string(payload))

	// A forged request (wrong secret) is refused and changes nothing.
	bad, _ := http.NewRequest("POST", ts.URL+"/api/v1/slack/interactions", strings.NewReader(form))
	bad.Header = slackSign(form+"x", time.Now())
	if status, _ := apptest.Do(t, bad); status != http.StatusUnauthorized {
		t.Fatalf("invalid signature: %d", status)
	}
	if inc := ts.Incident(t, id); inc.Status != tocsin.StatusTriggered {
		t.Fatalf("forged click acknowledged: %s", inc.Status)
	}
	// A stale timestamp is refused too (replay).
	old, _ := http.NewRequest("POST", ts.URL+"/api/v1/slack/interactions", strings.NewReader(form))
	old.Header = slackSign(form, time.Now().Add(-10*time.Minute))
	if status, _ := apptest.Do(t, old); status != http.StatusUnauthorized {
		t.Fatalf("replayed request: %d", status)
	}

	good, _ := http.NewRequest("POST", ts.URL+"/api/v1/slack/interactions", strings.NewReader(form))
	good.Header = slackSign(form, time.Now())
	if status, _ := apptest.Do(t, good); status != http.StatusOK {
		t.Fatalf("valid click: %d", status)
	}
	inc := ts.Incident(t, id)
	if inc.Status != tocsin.StatusAcknowledged || !strings.Contains(inc.AckedBy, "alice") || !strings.Contains(inc.AckedBy, "slack") {
		t.Fatalf("after click: %s by %q", inc.Status, inc.AckedBy)
	}
	// The Slack message is updated (buttons gone, acknowledged by alice).
	apptest.Eventually(t, "slack update", func() bool { _, u := ts.Slack.Counts(); return u == 1 })
	upd := ts.Slack.Updates()[0]
	if strings.Contains(upd.Get("attachments")+upd.Get("blocks"), "tocsin_ack\"") || !strings.Contains(upd.Get("attachments")+upd.Get("blocks")+upd.Get("text"), "alice") {
		t.Fatalf("update still has the button or lacks the actor: %v", upd)
	}
}

func TestScenarioAckLink(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil)
	_, body := ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, apptest.AMPayload("g-link", "firing", "api-1"))
	id := apptest.FirstID(t, body)
	apptest.Eventually(t, "webhook", func() bool { return ts.Sink.Find(id, "opened") != nil })
	link := ts.Sink.Find(id, "opened")["ack_url"].(string)

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
	if inc := ts.Incident(t, id); inc.Status != tocsin.StatusTriggered {
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
	inc := ts.Incident(t, id)
	if inc.Status != tocsin.StatusAcknowledged || inc.AckedBy != "Bob via ack link" {
		t.Fatalf("after POST: %s by %q", inc.Status, inc.AckedBy)
	}
	// A second POST answers "already acknowledged", not an error.
	resp, _ = http.PostForm(link, url.Values{"name": {"Carol"}})
	page, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Already acknowledged") {
		t.Fatalf("second POST: %d %s", resp.StatusCode, page)
	}
	if inc := ts.Incident(t, id); inc.AckedBy != "Bob via ack link" {
		t.Fatalf("second ack changed the actor: %q", inc.AckedBy)
	}
}

func TestScenarioRetryThenDeliverOnce(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) { c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false })
	ts.Sink.FailNext(1)
	_, body := ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, apptest.AMPayload("g-retry", "firing", "x"))
	id := apptest.FirstID(t, body)
	apptest.Eventually(t, "delivery after retry", func() bool { return len(ts.Sink.Events(id)) == 1 })
	time.Sleep(200 * time.Millisecond) // would a duplicate arrive?
	attempts, delivered := ts.Sink.Attempts(), len(ts.Sink.Deliveries())
	if attempts != 2 || delivered != 1 {
		t.Fatalf("attempts=%d delivered=%d; want 2 and 1", attempts, delivered)
	}
	var kinds []string
	for _, e := range ts.Incident(t, id).Timeline {
		kinds = append(kinds, e.Kind)
	}
	if got := strings.Join(kinds, ","); got != "created,notification_retry,notification_sent" {
		t.Fatalf("timeline: %s", got)
	}
}

func TestScenarioHangingChannelDoesNotBlockIngestion(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) { c.Alert.Email.Enable = false })
	ts.Slack.SetHang(true)
	start := time.Now()
	var ids []string
	for i := 0; i < 20; i++ {
		status, body := ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, apptest.AMPayload("g-hang-"+strconv.Itoa(i), "firing", "x"))
		if status != http.StatusCreated {
			t.Fatalf("alert %d: %d", i, status)
		}
		ids = append(ids, apptest.FirstID(t, body))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("20 alerts took %s with Slack hanging", took)
	}
	// The webhook still delivers every one while Slack hangs.
	apptest.Eventually(t, "webhook deliveries", func() bool { return len(ts.Sink.Events("")) == 20 })
	if p, _ := ts.Slack.Counts(); p != 0 {
		t.Fatalf("slack answered while hanging: %d", p)
	}
	// Slack recovers: its queued messages go out.
	ts.Slack.SetHang(false)
	apptest.Eventually(t, "slack catches up", func() bool { p, _ := ts.Slack.Counts(); return p == 20 })
}

func TestIntakeErrors(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) { c.Ingest.MaxBodyBytes = 2048 })
	cases := []struct {
		name, path, token, body string
		status                  int
		code                    string
	}{
		{"no token", "/api/v1/alerts/alertmanager", "", apptest.AMPayload("g", "firing", "a"), 401, "unauthorized"},
		{"bad token", "/api/v1/alerts/alertmanager", "nope", apptest.AMPayload("g", "firing", "a"), 401, "unauthorized"},
		{"api token is not an integration token", "/api/v1/alerts/generic", apptest.APIToken, `{"title":"x"}`, 401, "unauthorized"},
		{"malformed", "/api/v1/alerts/alertmanager", apptest.IngestToken, `{"alerts": [`, 400, "invalid"},
		{"wrong type", "/api/v1/alerts/generic", apptest.IngestToken, `{"title": 5}`, 400, "invalid"},
		{"unknown generic key", "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"x","titel":"y"}`, 400, "invalid"},
		{"oversized", "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"` + strings.Repeat("x", 4096) + `"}`, 413, "too_large"},
		{"unknown source", "/api/v1/alerts/nagios", apptest.IngestToken, `{}`, 404, "not_found"},
		{"versus empty", "/api/incidents", apptest.IngestToken, ``, 400, "invalid"},
		{"versus not json", "/api/incidents", apptest.IngestToken, `hello`, 400, "invalid"},
	}
	for _, c := range cases {
		status, body := ts.Post(t, c.path, c.token, c.body)
		e, _ := body["error"].(map[string]any)
		if status != c.status || e == nil || e["code"] != c.code || e["message"] == "" {
			t.Errorf("%s: %d %v; want %d %s", c.name, status, body, c.status, c.code)
		}
	}
	_, list := ts.Get(t, "/api/v1/incidents")
	if n := len(list["incidents"].([]any)); n != 0 {
		t.Fatalf("bad input changed something: %d incidents", n)
	}
	// The token may also come as ?token= (SNS and senders without headers).
	if status, _ := ts.Post(t, "/api/v1/alerts/generic?token="+apptest.IngestToken, "", `{"title":"via query"}`); status != 201 {
		t.Fatalf("?token=: %d", status)
	}
}

func TestIncidentAPI(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil)
	_, body := ts.Post(t, "/api/incidents", apptest.IngestToken, `[{"title":"disk full","severity":"warning"},{"alertname":"cpu","status":"firing"}]`)
	if body["status"] != "Incidents created" {
		t.Fatalf("versus array: %v", body)
	}
	id := apptest.FirstID(t, body)
	if status, _ := ts.Get(t, "/api/v1/incidents?status=bogus"); status != 400 {
		t.Fatalf("bad status filter: %d", status)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/incidents", nil)
	if status, _ := apptest.Do(t, req); status != 401 {
		t.Fatalf("no API token: %d", status)
	}
	status, res := ts.Post(t, "/api/v1/incidents/"+id+"/notes", apptest.APIToken, `{"text":"checking disks","by":"ann"}`)
	if status != 201 {
		t.Fatalf("note: %d %v", status, res)
	}
	if status, _ := ts.Post(t, "/api/v1/incidents/"+id+"/notes", apptest.APIToken, `{"text":"x","colour":"red"}`); status != 400 {
		t.Fatalf("unknown field in note: %d", status)
	}
	status, res = ts.Post(t, "/api/v1/incidents/"+id+"/acknowledge", apptest.APIToken, `{"by":"ann"}`)
	if status != 200 || res["changed"] != true {
		t.Fatalf("ack: %d %v", status, res)
	}
	status, res = ts.Post(t, "/api/v1/incidents/"+id+"/acknowledge", apptest.APIToken, ``)
	if status != 200 || res["changed"] != false {
		t.Fatalf("second ack: %d %v", status, res)
	}
	status, res = ts.Post(t, "/api/v1/incidents/"+id+"/resolve", apptest.APIToken, `{"by":"ann"}`)
	if status != 200 || res["changed"] != true {
		t.Fatalf("resolve: %d %v", status, res)
	}
	if status, _ := ts.Post(t, "/api/v1/incidents/nope/resolve", apptest.APIToken, ``); status != 404 {
		t.Fatalf("unknown incident: %d", status)
	}
	_, got := ts.Get(t, "/api/v1/incidents/"+id)
	inc := got["incident"].(map[string]any)
	if inc["status"] != "resolved" || inc["acknowledged_by"] != "ann via api" || len(inc["timeline"].([]any)) < 4 {
		t.Fatalf("incident: %v", inc)
	}
	_, open := ts.Get(t, "/api/v1/incidents?status=open")
	if n := len(open["incidents"].([]any)); n != 1 {
		t.Fatalf("open incidents: %d", n)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, _ := ts.Get(t, p); status != 200 {
			t.Fatalf("%s: %d", p, status)
		}
	}
	apptest.Eventually(t, "metrics", func() bool {
		resp, err := http.Get(ts.URL + "/metrics")
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
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) {
		c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false
		c.Incidents.RenotifyAfter = config.Duration(15 * time.Minute)
	}, func(o *app.Options) { o.Now = clock.Now })
	_, body := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"queue backlog","severity":"high"}`)
	id := apptest.FirstID(t, body)
	apptest.Eventually(t, "opened", func() bool { return len(ts.Sink.Events(id)) == 1 })

	clock.Add(14 * time.Minute)
	ts.App.Wake()
	time.Sleep(100 * time.Millisecond)
	if got := ts.Sink.Events(id); len(got) != 1 {
		t.Fatalf("reminder before renotify_after: %v", got)
	}
	clock.Add(2 * time.Minute)
	ts.App.Wake()
	apptest.Eventually(t, "first reminder", func() bool { return len(ts.Sink.Events(id)) == 2 })
	if d := ts.Sink.Find(id, "renotify"); d == nil || d["ack_url"] == "" {
		t.Fatalf("reminder lacks the ack link: %v", d)
	}
	clock.Add(16 * time.Minute)
	ts.App.Wake()
	apptest.Eventually(t, "second reminder", func() bool { return len(ts.Sink.Events(id)) == 3 })

	if status, _ := ts.Post(t, "/api/v1/incidents/"+id+"/acknowledge", apptest.APIToken, ""); status != 200 {
		t.Fatalf("ack: %d", status)
	}
	apptest.Eventually(t, "acknowledged", func() bool { return ts.Sink.Find(id, "acknowledged") != nil })
	clock.Add(time.Hour)
	ts.App.Wake()
	time.Sleep(150 * time.Millisecond)
	if got := ts.Sink.Events(id); strings.Join(got, ",") != "opened,renotify,renotify,acknowledged" {
		t.Fatalf("events after ack: %v", got)
	}
}

func TestDatabaseDownAnswers503(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil)
	ts.App.Store().Close()
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/alerts/generic", strings.NewReader(`{"title":"x"}`))
	req.Header.Set("Authorization", "Bearer "+apptest.IngestToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("intake with the database down: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if status, _ := ts.Get(t, "/readyz"); status != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the database down: %d", status)
	}
	if status, _ := ts.Get(t, "/healthz"); status != http.StatusOK {
		t.Fatalf("healthz: %d", status)
	}
}
