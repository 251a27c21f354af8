package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/apptest"
	"tocsin/store/storetest"
)

// amPagerDutyEvent is the body Prometheus Alertmanager's pagerduty
// notifier (pagerduty_configs with routing_key and its default templates)
// posts for one alert of the group {alertname="MySQLDown"}: the dedup_key
// is the SHA-256 of the group key; resolves carry the whole payload again.
func amPagerDutyEvent(routingKey, action string) string {
	firing, resolved, nf, nr, state := "Labels:\n - alertname = MySQLDown\n - instance = srv01\n - severity = critical\nAnnotations:\n - summary = MySQL is down on srv01\nSource: http://prometheus:9090/graph?g0.expr=mysql_up+%3D%3D+0\n", "", "1", "0", "FIRING:1"
	if action == "resolve" {
		firing, resolved, nf, nr, state = "", firing, "0", "1", "RESOLVED"
	}
	b, _ := json.Marshal(map[string]any{
		"routing_key":  routingKey,
		"dedup_key":    "5a7f0b8e3b2d4c1f9e6a8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a",
		"event_action": action,
		"payload": map[string]any{
			"summary":  "[" + state + "] MySQLDown (srv01 critical)",
			"source":   "Alertmanager",
			"severity": "error",
			"custom_details": map[string]string{
				"firing": firing, "resolved": resolved, "num_firing": nf, "num_resolved": nr,
			},
		},
		"client":     "Alertmanager",
		"client_url": "http://alertmanager:9093/#/alerts?receiver=pagerduty",
	})
	return string(b)
}

// TestPagerDutySendersNeedOnlyANewURL posts what Alertmanager's PagerDuty
// notifier and the Events API v2's documentation send to /v2/enqueue, with
// a tocsin integration token as routing_key and nothing else, and checks
// PagerDuty's answers.
func TestPagerDutySendersNeedOnlyANewURL(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			ts := apptest.Start(t, kind.URL(t), nil)
			status, raw := ts.PostRaw(t, "/v2/enqueue", amPagerDutyEvent(apptest.IngestToken, "trigger"))
			var ok struct {
				IncidentIDs []string `json:"incident_ids"`
			}
			var answer map[string]any
			json.Unmarshal(raw, &answer)
			json.Unmarshal(raw, &ok)
			if status != http.StatusAccepted || answer["status"] != "success" || answer["message"] != "Event processed" ||
				answer["dedup_key"] != "5a7f0b8e3b2d4c1f9e6a8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a" || len(ok.IncidentIDs) != 1 {
				t.Fatalf("trigger: %d %s", status, raw)
			}
			id := ok.IncidentIDs[0]
			apptest.Eventually(t, "opened on slack", func() bool { p, _ := ts.Slack.Counts(); return p == 1 })

			// The documented thin resolve: only routing_key, dedup_key and
			// event_action. It resolves and keeps what the trigger said.
			status, raw = ts.PostRaw(t, "/v2/enqueue", `{"routing_key":"`+apptest.IngestToken+`","dedup_key":"5a7f0b8e3b2d4c1f9e6a8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a","event_action":"resolve"}`)
			if status != http.StatusAccepted || !bytes.Contains(raw, []byte(`"status":"success"`)) {
				t.Fatalf("resolve: %d %s", status, raw)
			}
			inc := ts.Incident(t, id)
			a := inc.Alerts[0]
			if inc.Status != tocsin.StatusResolved || a.Title != "[FIRING:1] MySQLDown (srv01 critical)" || a.Severity == "" || a.Labels["source"] != "Alertmanager" {
				t.Fatalf("after resolve: status %s, alert %+v", inc.Status, a)
			}
			apptest.Eventually(t, "resolved on slack", func() bool { _, u := ts.Slack.Counts(); return u == 1 })
			upd := ts.Slack.Updates()[0].Get("attachments") + ts.Slack.Updates()[0].Get("blocks") + ts.Slack.Updates()[0].Get("text")
			if strings.Contains(upd, "PagerDuty event") || !strings.Contains(upd, "MySQLDown") {
				t.Fatalf("the resolved message lost the trigger's title: %s", upd)
			}
			for _, e := range inc.Timeline {
				if strings.Contains(e.Message+string(e.Data), apptest.IngestToken) {
					t.Fatalf("routing key on the timeline: %s %s", e.Message, e.Data)
				}
			}

			// The old path still works, with the routing key or a bearer token.
			status, raw = ts.PostRaw(t, "/api/v1/alerts/pagerduty", amPagerDutyEvent(apptest.IngestToken, "trigger"))
			if status != http.StatusAccepted {
				t.Fatalf("/api/v1/alerts/pagerduty: %d %s", status, raw)
			}
			if status, body := ts.Post(t, "/api/v1/alerts/pagerduty", apptest.IngestToken, amPagerDutyEvent("a-pagerduty-integration-key", "trigger")); status != http.StatusAccepted {
				t.Fatalf("bearer token with another routing_key: %d %v", status, body)
			}
		})
	}
}

// TestPagerDutyErrorsAsPagerDuty checks the answers to a routing key that
// is not an integration token and to an invalid event, and that neither
// changes anything.
func TestPagerDutyErrorsAsPagerDuty(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil)
	cases := []struct {
		name, body, mention string
	}{
		{"unknown routing key", amPagerDutyEvent("0123456789abcdef0123456789abcdef", "trigger"), "routing key"},
		{"no routing key", `{"event_action":"trigger","payload":{"summary":"x","source":"y","severity":"error"}}`, "routing key"},
		{"not json", `hello`, "routing key"},
		{"no summary", `{"routing_key":"` + apptest.IngestToken + `","event_action":"trigger","payload":{"source":"y","severity":"error"}}`, "payload.summary"},
		{"bad severity", `{"routing_key":"` + apptest.IngestToken + `","event_action":"trigger","payload":{"summary":"x","source":"y","severity":"bad"}}`, "payload.severity"},
		{"bad action", `{"routing_key":"` + apptest.IngestToken + `","event_action":"explode"}`, "event_action"},
		{"resolve without dedup_key", `{"routing_key":"` + apptest.IngestToken + `","event_action":"resolve"}`, "dedup_key"},
		{"malformed", `{"routing_key":"` + apptest.IngestToken + `","event_action":`, "routing key"},
		{"malformed with ?token=", `{"routing_key":"` + apptest.IngestToken + `","event_action":`, "JSON"},
	}
	for _, c := range cases {
		path := "/v2/enqueue"
		if strings.HasSuffix(c.name, "?token=") {
			path += "?token=" + apptest.IngestToken
		}
		status, raw := ts.PostRaw(t, path, c.body)
		var answer struct {
			Status, Message string
			Errors          []string
		}
		json.Unmarshal(raw, &answer)
		if status != http.StatusBadRequest || answer.Status != "invalid event" || answer.Message != "Event object is invalid" ||
			len(answer.Errors) != 1 || !strings.Contains(answer.Errors[0], c.mention) {
			t.Errorf("%s: %d %s; want 400 invalid event naming %s", c.name, status, raw, c.mention)
		}
		if strings.Contains(string(raw), apptest.IngestToken) {
			t.Errorf("%s: the answer repeats the routing key: %s", c.name, raw)
		}
	}
	if n := ts.IncidentCount(t); n != 0 {
		t.Fatalf("refused events opened %d incidents", n)
	}
}

// TestPagerDutyRealAlertmanager runs Debian's prometheus-alertmanager with
// a pagerduty_configs receiver whose url is tocsin's /v2/enqueue and whose
// routing_key is a tocsin integration token, fires an alert and resolves it.
func TestPagerDutyRealAlertmanager(t *testing.T) {
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("prometheus-alertmanager is not installed; .ci/run installs it in CI")
		}
		t.Skip("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)")
	}
	if testing.Short() {
		t.Skip("runs Alertmanager")
	}
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`route:
  receiver: tocsin
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: tocsin
    pagerduty_configs:
      - url: %s/v2/enqueue
        routing_key: %s
        send_resolved: true
`, ts.URL, apptest.IngestToken)
	if err := os.WriteFile(filepath.Join(dir, "alertmanager.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	var log strings.Builder
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "alertmanager.yml"), "--storage.path="+dir,
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=debug")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	post := func(endsAt string) {
		alert := `[{"labels":{"alertname":"MySQLDown","instance":"srv01","severity":"critical"},"annotations":{"summary":"MySQL is down on srv01"},"startsAt":"` +
			time.Now().Add(-time.Minute).UTC().Format(time.RFC3339) + `"` + endsAt + `}]`
		deadline := time.Now().Add(15 * time.Second)
		for {
			resp, err := http.Post("http://"+addr+"/api/v2/alerts", "application/json", strings.NewReader(alert))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("alertmanager did not take the alert: %v\n%s", err, log.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	post("")
	var id string
	deadline := time.Now().Add(20 * time.Second)
	for id == "" {
		list, _, err := ts.App.Store().Incidents().ListIncidents(t.Context(), tocsin.IncidentFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 {
			id = list[0].ID
		} else if time.Now().After(deadline) {
			t.Fatalf("no incident from Alertmanager's PagerDuty notifier:\n%s", log.String())
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if inc := ts.Incident(t, id); inc.Source != tocsin.SourcePagerDuty || !strings.Contains(inc.Title, "MySQLDown") {
		t.Fatalf("incident %+v", inc)
	}
	post(`,"endsAt":"` + time.Now().UTC().Add(-time.Second).Format(time.RFC3339) + `"`)
	deadline = time.Now().Add(20 * time.Second)
	for ts.Incident(t, id).Status != tocsin.StatusResolved {
		if time.Now().After(deadline) {
			t.Fatalf("Alertmanager's resolve did not resolve the incident:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(log.String(), "unexpected status code") {
		t.Fatalf("Alertmanager saw an error answer:\n%s", log.String())
	}
}
