package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"tocsin/config"
	"tocsin/engine"
	"tocsin/escalate/providertest"
	"tocsin/store/storetest"
)

func (ts *testServer) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(ts.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (f *fakeSlack) texts() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, p := range f.posts {
		b.WriteString(p.Get("text") + p.Get("blocks") + p.Get("attachments") + "\n")
	}
	return b.String()
}

// TestRetryAfterCappedAndVisible: a receiver asking for Retry-After:
// 864000 (10 days) is retried after 5 minutes, and the delayed job shows
// in the metrics.
func TestRetryAfterCappedAndVisible(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "864000")
		http.Error(w, "slow down", http.StatusTooManyRequests)
	}))
	defer hook.Close()
	ts := startServer(t, storetest.SQLiteURL(t), func(c *config.Config) {
		c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false
		c.Alert.Webhook.URL = hook.URL
	}, func(o *appOptions) { o.Backoff = engine.Backoff })
	_, body := ts.post(t, "/api/v1/alerts/generic", testIngestToken, `{"title":"rate limited"}`)
	id := firstID(t, body)
	eventually(t, "a retry", func() bool {
		for _, e := range ts.incident(t, id).Timeline {
			if e.Kind == "notification_retry" {
				return true
			}
		}
		return false
	})
	var msg string
	for _, e := range ts.incident(t, id).Timeline {
		if e.Kind == "notification_retry" {
			msg = e.Message
		}
	}
	if !strings.HasSuffix(msg, "retrying in 5m0s") {
		t.Fatalf("retry: %q; want Retry-After capped at 5m", msg)
	}
	if m := ts.metrics(t); !strings.Contains(m, `tocsin_jobs_delayed{kind="notify"} 1`) || !strings.Contains(m, `tocsin_jobs_oldest_delayed_age_seconds{kind="notify"}`) {
		t.Fatalf("delayed job not in metrics:\n%s", grepLines(m, "tocsin_jobs"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestFailedNotificationIsAnAlertAndRedeliverable: a webhook that keeps
// failing gives up; Slack and email are told, the failure is counted, and
// `tocsin incident redeliver` sends it once the receiver is back.
func TestFailedNotificationIsAnAlertAndRedeliverable(t *testing.T) {
	ts := startServer(t, storetest.SQLiteURL(t), nil)
	ts.sink.mu.Lock()
	ts.sink.failNext = 1 << 30
	ts.sink.mu.Unlock()
	_, body := ts.post(t, "/api/v1/alerts/generic", testIngestToken, `{"title":"receiver down"}`)
	id := firstID(t, body)
	eventually(t, "Slack told of the failure", func() bool { return strings.Contains(ts.slack.texts(), "Delivery failed") })
	eventually(t, "email told of the failure", func() bool { return ts.mail.count() == 2 })
	if m := ts.mail.message(1); !strings.Contains(m, "[Delivery failed]") || !strings.Contains(m, "webhook") {
		t.Fatalf("email notice:\n%s", m)
	}
	if m := ts.metrics(t); !strings.Contains(m, `tocsin_delivery_failures_total{channel="webhook"} 1`) || !strings.Contains(m, `tocsin_jobs_failed{kind="notify"} 1`) {
		t.Fatalf("failure not counted:\n%s", grepLines(m, "fail"))
	}
	ts.sink.mu.Lock()
	ts.sink.failNext = 0
	ts.sink.mu.Unlock()
	env := map[string]string{"TOCSIN_API_TOKEN": testAPIToken, "TOCSIN_SERVER": ts.url, "USER": "dana"}
	out, err := runCLI(t, env, "incident", "redeliver", id, "--channel", "webhook")
	if err != nil || !strings.Contains(out, "1 failed delivery queued again") {
		t.Fatalf("redeliver: %v\n%s", err, out)
	}
	eventually(t, "redelivered", func() bool { return ts.sink.find(id, "opened") != nil })
	if _, err := runCLI(t, env, "incident", "redeliver", id); err == nil || !strings.Contains(err.Error(), "no failed delivery") {
		t.Fatalf("second redeliver: %v", err)
	}
	if status, body := ts.post(t, "/api/v1/incidents/"+id+"/redeliver", testAPIToken, `{"chanel":"x"}`); status != 400 || !strings.Contains(body["error"].(map[string]any)["message"].(string), "chanel") {
		t.Fatalf("bad body: %d %v", status, body)
	}
	var kinds []string
	for _, e := range ts.incident(t, id).Timeline {
		kinds = append(kinds, e.Kind)
	}
	if got := strings.Join(kinds, ","); !strings.Contains(got, "notification_failed") || !strings.Contains(got, "redelivery") {
		t.Fatalf("timeline: %s", got)
	}
}

// TestFailedEscalationTellsEveryChannel: a provider refusing the
// escalation (HTTP 400) is an alert to every channel, counted per
// provider, and redeliverable.
func TestFailedEscalationTellsEveryChannel(t *testing.T) {
	pd := providertest.NewPagerDuty(t)
	pd.FailNext(1, providertest.Rejected(http.StatusBadRequest, "invalid event"))
	ts := startServer(t, storetest.SQLiteURL(t), func(c *config.Config) {
		zero := 0.0
		c.OnCall = config.OnCall{Enable: true, Provider: "pagerduty", WaitMinutes: &zero,
			PagerDuty: config.PagerDuty{RoutingKey: "R0UTINGKEY0000000000000000000000", APIURL: pd.URL}}
	})
	_, body := ts.post(t, "/api/v1/alerts/generic", testIngestToken, `{"title":"provider refuses"}`)
	id := firstID(t, body)
	eventually(t, "webhook told of the failure", func() bool { return ts.sink.find(id, "delivery_failed") != nil })
	if f, _ := ts.sink.find(id, "delivery_failed")["failure"].(map[string]any); f["channel"] != "pagerduty" || f["what"] != "escalation" {
		t.Fatalf("notice: %v", ts.sink.find(id, "delivery_failed"))
	}
	eventually(t, "Slack told of the failure", func() bool { return strings.Contains(ts.slack.texts(), "Delivery failed") })
	if m := ts.metrics(t); !strings.Contains(m, `tocsin_delivery_failures_total{channel="pagerduty"} 1`) {
		t.Fatalf("failure not counted:\n%s", grepLines(m, "fail"))
	}
	if status, body := ts.post(t, "/api/v1/incidents/"+id+"/redeliver", testAPIToken, `{"channel":"pagerduty"}`); status != 202 || body["requeued"] != 1.0 {
		t.Fatalf("redeliver: %d %v", status, body)
	}
	eventually(t, "escalated", func() bool { return len(pd.Events()) == 1 })
}
