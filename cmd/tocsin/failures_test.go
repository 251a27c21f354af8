package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"tocsin/app"
	"tocsin/apptest"
	"tocsin/config"
	"tocsin/engine"
	"tocsin/integration/integrationtest"
	"tocsin/store/storetest"
)

// TestRetryAfterCappedAndVisible: a receiver asking for Retry-After:
// 864000 (10 days) is retried after 5 minutes, and the delayed job shows
// in the metrics.
func TestRetryAfterCappedAndVisible(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "864000")
		http.Error(w, "slow down", http.StatusTooManyRequests)
	}))
	defer hook.Close()
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) {
		c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false
		c.Alert.Webhook.URL = hook.URL
	}, func(o *app.Options) { o.Backoff = engine.Backoff })
	_, body := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"rate limited"}`)
	id := apptest.FirstID(t, body)
	apptest.Eventually(t, "a retry", func() bool {
		for _, e := range ts.Incident(t, id).Timeline {
			if e.Kind == "notification_retry" {
				return true
			}
		}
		return false
	})
	var msg string
	for _, e := range ts.Incident(t, id).Timeline {
		if e.Kind == "notification_retry" {
			msg = e.Message
		}
	}
	if !strings.HasSuffix(msg, "retrying in 5m0s") {
		t.Fatalf("retry: %q; want Retry-After capped at 5m", msg)
	}
	if m := ts.Metrics(t); !strings.Contains(m, `tocsin_jobs_delayed{kind="notify"} 1`) || !strings.Contains(m, `tocsin_jobs_oldest_delayed_age_seconds{kind="notify"}`) {
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
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil)
	ts.Sink.FailNext(1 << 30)
	_, body := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"receiver down"}`)
	id := apptest.FirstID(t, body)
	apptest.Eventually(t, "Slack told of the failure", func() bool { return strings.Contains(ts.Slack.Texts(), "Delivery failed") })
	apptest.Eventually(t, "email told of the failure", func() bool { return ts.Mail.Count() == 2 })
	if m := ts.Mail.Message(1); !strings.Contains(m, "[Delivery failed]") || !strings.Contains(m, "webhook") {
		t.Fatalf("email notice:\n%s", m)
	}
	if m := ts.Metrics(t); !strings.Contains(m, `tocsin_delivery_failures_total{channel="webhook"} 1`) || !strings.Contains(m, `tocsin_jobs_failed{kind="notify"} 1`) {
		t.Fatalf("failure not counted:\n%s", grepLines(m, "fail"))
	}
	ts.Sink.FailNext(0)
	env := map[string]string{"TOCSIN_API_TOKEN": apptest.APIToken, "TOCSIN_SERVER": ts.URL, "USER": "dana"}
	out, err := runCLI(t, env, "incident", "redeliver", id, "--channel", "webhook")
	if err != nil || !strings.Contains(out, "1 failed delivery queued again") {
		t.Fatalf("redeliver: %v\n%s", err, out)
	}
	apptest.Eventually(t, "redelivered", func() bool { return ts.Sink.Find(id, "opened") != nil })
	if _, err := runCLI(t, env, "incident", "redeliver", id); err == nil || !strings.Contains(err.Error(), "no failed delivery") {
		t.Fatalf("second redeliver: %v", err)
	}
	if status, body := ts.Post(t, "/api/v1/incidents/"+id+"/redeliver", apptest.APIToken, `{"chanel":"x"}`); status != 400 || !strings.Contains(body["error"].(map[string]any)["message"].(string), "chanel") {
		t.Fatalf("bad body: %d %v", status, body)
	}
	var kinds []string
	for _, e := range ts.Incident(t, id).Timeline {
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
	pd := integrationtest.NewPagerDuty(t)
	pd.FailNext(1, integrationtest.Rejected(http.StatusBadRequest, "invalid event"))
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) {
		zero := 0.0
		c.OnCall = config.OnCall{Enable: true, Provider: "pagerduty", WaitMinutes: &zero,
			PagerDuty: config.PagerDuty{RoutingKey: "R0UTINGKEY0000000000000000000000", APIURL: pd.URL}}
	})
	_, body := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"provider refuses"}`)
	id := apptest.FirstID(t, body)
	apptest.Eventually(t, "webhook told of the failure", func() bool { return ts.Sink.Find(id, "delivery_failed") != nil })
	if f, _ := ts.Sink.Find(id, "delivery_failed")["failure"].(map[string]any); f["channel"] != "pagerduty" || f["what"] != "escalation" {
		t.Fatalf("notice: %v", ts.Sink.Find(id, "delivery_failed"))
	}
	apptest.Eventually(t, "Slack told of the failure", func() bool { return strings.Contains(ts.Slack.Texts(), "Delivery failed") })
	if m := ts.Metrics(t); !strings.Contains(m, `tocsin_delivery_failures_total{channel="pagerduty"} 1`) {
		t.Fatalf("failure not counted:\n%s", grepLines(m, "fail"))
	}
	if status, body := ts.Post(t, "/api/v1/incidents/"+id+"/redeliver", apptest.APIToken, `{"channel":"pagerduty"}`); status != 202 || body["requeued"] != 1.0 {
		t.Fatalf("redeliver: %d %v", status, body)
	}
	apptest.Eventually(t, "escalated", func() bool { return len(pd.Events()) == 1 })
}
