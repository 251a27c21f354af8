package ingest_test

import (
	"bytes"
	"strings"
	"testing"

	"tocsin"
	"tocsin/ingest"
)

func TestDetectPicksFormat(t *testing.T) {
	tests := []struct {
		file   string
		source string
		n      int
	}{
		{"alertmanager_firing.json", tocsin.SourceAlertmanager, 2},
		{"alertmanager_resolved.json", tocsin.SourceAlertmanager, 1},
		{"grafana_firing.json", tocsin.SourceGrafana, 2},
		{"cloudwatch_alarm.json", tocsin.SourceCloudWatch, 1},
		{"cloudwatch_ok.json", tocsin.SourceCloudWatch, 1},
		{"sentry_event_alert.json", tocsin.SourceSentry, 1},
		{"sentry_issue_resolved.json", tocsin.SourceSentry, 1},
		{"sentry_metric_alert.json", tocsin.SourceSentry, 1},
		{"sentry_legacy.json", tocsin.SourceSentry, 1},
		{"pagerduty_trigger.json", tocsin.SourcePagerDuty, 1},
		{"pagerduty_acknowledge.json", tocsin.SourcePagerDuty, 1},
		{"pagerduty_resolve.json", tocsin.SourcePagerDuty, 1},
		{"generic.json", tocsin.SourceGeneric, 1},
		{"generic_array.json", tocsin.SourceGeneric, 2},
		{"versus_custom.json", tocsin.SourceJSON, 1},
		{"versus_array.json", tocsin.SourceJSON, 2},
		// An SNS envelope belongs on the SNS endpoint; here it is plain JSON.
		{"sns_notification.json", tocsin.SourceJSON, 1},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			body := readFile(t, tc.file)
			alerts := decodeOK(t, ingest.Detect, tc.source, body)
			if len(alerts) != tc.n {
				t.Fatalf("got %d alerts, want %d", len(alerts), tc.n)
			}
			if tc.source == tocsin.SourceJSON || tc.source == tocsin.SourceGeneric {
				return
			}
			// Detect gives what the format's own decoder gives.
			var direct []*tocsin.Alert
			switch tc.source {
			case tocsin.SourceCloudWatch:
				direct, _ = ingest.CloudWatchAlarm(body, now)
			default:
				d, _ := ingest.Lookup(tc.source)
				direct, _ = d(body, now)
			}
			for i := range alerts {
				if alerts[i].DedupKey != direct[i].DedupKey || alerts[i].Fingerprint != direct[i].Fingerprint {
					t.Errorf("alert %d: Detect %q/%q, decoder %q/%q", i,
						alerts[i].DedupKey, alerts[i].Fingerprint, direct[i].DedupKey, direct[i].Fingerprint)
				}
			}
		})
	}
}

func TestDetectGrafanaBeforeAlertmanager(t *testing.T) {
	for _, body := range []string{
		`{"receiver":"r","orgId":1,"alerts":[{}]}`,
		`{"receiver":"r","state":"alerting","alerts":[{}]}`,
		`{"receiver":"r","alerts":[{"labels":{},"panelURL":""}]}`,
	} {
		if a := decodeOK(t, ingest.Detect, tocsin.SourceGrafana, []byte(body)); len(a) != 1 {
			t.Errorf("%s: %d alerts", body, len(a))
		}
	}
	decodeOK(t, ingest.Detect, tocsin.SourceAlertmanager, []byte(`{"receiver":"r","alerts":[{"labels":{}}]}`))
}

func TestDetectPlainJSON(t *testing.T) {
	a := decodeOK(t, ingest.Detect, tocsin.SourceJSON, readFile(t, "versus_custom.json"))[0]
	if a.Title != "order-service: [ERROR] This is an error log from User Service that we can ignore" || a.Severity != "high" || a.Status != tocsin.AlertFiring {
		t.Errorf("Title %q Severity %q Status %q", a.Title, a.Severity, a.Status)
	}
	if !strings.HasPrefix(a.Description, "[ERROR] This is an error log") || a.Labels["service"] != "order-service" {
		t.Errorf("Description %q Labels %v", a.Description, a.Labels)
	}
	if !strings.HasPrefix(a.DedupKey, "json:") || a.Fingerprint != a.DedupKey {
		t.Errorf("DedupKey %q Fingerprint %q", a.DedupKey, a.Fingerprint)
	}

	// A retry with other key order and spacing joins the same incident, and
	// so does the same body resolved; a different body does not.
	retry := `{"status":"firing","UserID":1001,"Severity":"HIGH","ServiceName":"order-service",
		"Logs":"[ERROR] This is an error log from User Service that we can ignore"}`
	resolved := strings.Replace(retry, `"status":"firing"`, `"status":"RESOLVED"`, 1)
	other := strings.Replace(retry, `1001`, `1002`, 1)
	if b := decodeOK(t, ingest.Detect, "", []byte(retry))[0]; b.DedupKey != a.DedupKey {
		t.Errorf("retry dedup key %q, want %q", b.DedupKey, a.DedupKey)
	}
	if r := decodeOK(t, ingest.Detect, "", []byte(resolved))[0]; r.DedupKey != a.DedupKey || r.Status != tocsin.AlertResolved {
		t.Errorf("resolved: dedup key %q status %q", r.DedupKey, r.Status)
	}
	if o := decodeOK(t, ingest.Detect, "", []byte(other))[0]; o.DedupKey == a.DedupKey {
		t.Error("different bodies share a dedup key")
	}

	body := readFile(t, "versus_array.json")
	alerts := decodeOK(t, ingest.Detect, tocsin.SourceJSON, body)
	q, d := alerts[0], alerts[1]
	if q.Title != "QueueBacklog" || q.Severity != "warning" || q.Labels["service"] != "billing" || q.Status != tocsin.AlertFiring {
		t.Errorf("first element: %+v", q)
	}
	if d.Title != "Deploy finished" || d.Status != tocsin.AlertResolved || d.DedupKey != "42" {
		t.Errorf("second element: %+v", d)
	}
	if !bytes.HasPrefix(q.Raw, []byte(`{"alertname": "QueueBacklog"`)) || !bytes.HasSuffix(d.Raw, []byte(`"id": 42}`)) {
		t.Errorf("Raw is not each element: %s | %s", q.Raw, d.Raw)
	}
}

func TestDetectPlainJSONFields(t *testing.T) {
	tests := []struct {
		body, title, severity, status, dedup string
	}{
		{`{"alarmname":"A","summary":"S"}`, "A", "", tocsin.AlertFiring, ""},
		{`{"subject":"S","name":"N","level":"ERROR"}`, "S", "error", tocsin.AlertFiring, ""},
		{`{"commonLabels":{"alertname":"C"},"labels":{"alertname":"L"}}`, "L", "", tocsin.AlertFiring, ""},
		{`{"commonLabels":{"alertname":"C","severity":"info"}}`, "C", "info", tocsin.AlertFiring, ""},
		{`{"name":"N","priority":1,"alertState":"resolved"}`, "N", "1", tocsin.AlertResolved, ""},
		{`{"title":{"x":1},"state":"Resolved","dedupKey":"k"}`, "Unknown alert", "", tocsin.AlertResolved, "k"},
		{`{"title":"T","fingerprint":"f","id":"i"}`, "T", "", tocsin.AlertFiring, "f"},
		// Generic look-alikes that the strict decoder rejects fall back to plain JSON.
		{`{"title":"T","status":"ok","dedup_key":"d"}`, "T", "", tocsin.AlertFiring, "d"},
		{`{"title":"T","labels":{"n":1}}`, "T", "", tocsin.AlertFiring, ""},
		{`{}`, "Unknown alert", "", tocsin.AlertFiring, ""},
	}
	for _, tc := range tests {
		t.Run(tc.body, func(t *testing.T) {
			a := decodeOK(t, ingest.Detect, tocsin.SourceJSON, []byte(tc.body))[0]
			if a.Title != tc.title || a.Severity != tc.severity || a.Status != tc.status {
				t.Errorf("got %q %q %q, want %q %q %q", a.Title, a.Severity, a.Status, tc.title, tc.severity, tc.status)
			}
			if tc.dedup != "" && a.DedupKey != tc.dedup {
				t.Errorf("DedupKey = %q, want %q", a.DedupKey, tc.dedup)
			}
		})
	}
	// A valid generic object is generic, not plain JSON.
	decodeOK(t, ingest.Detect, tocsin.SourceGeneric, []byte(`{"title":"T","status":"resolved"}`))
}

func TestDetectErrors(t *testing.T) {
	many := "[" + strings.Repeat(`{"a":1},`, ingest.MaxAlertsPerRequest) + `{"a":1}]`
	// Two elements of 501 alerts each are over the limit together.
	half := `{"receiver":"r","alerts":[` + strings.Repeat(`{},`, ingest.MaxAlertsPerRequest/2) + `{}]}`
	runErrorCases(t, ingest.Detect, append(commonErrors,
		errorCase{"number", `42`, "body must be a JSON object or array"},
		errorCase{"string", `"x"`, "body must be a JSON object or array"},
		errorCase{"bad number", `4x`, "invalid JSON at offset 2"},
		errorCase{"empty array", `[]`, "empty array"},
		errorCase{"array of numbers", `[{"a":1},1]`, "element 1: must be a JSON object"},
		errorCase{"nested array", `[[]]`, "element 0: must be a JSON object"},
		errorCase{"bad alertmanager", `{"receiver":"r","alerts":5}`, `alertmanager: "alerts" must be an array`},
		errorCase{"bad element", `[{"receiver":"r","alerts":5}]`, `element 0: alertmanager: "alerts" must be an array`},
		errorCase{"bad pagerduty", `{"routing_key":"r","event_action":"resolve"}`, `pagerduty: "dedup_key" is required to resolve`},
		errorCase{"bad cloudwatch", `{"AlarmName":""}`, `cloudwatch: "AlarmName" is required`},
		errorCase{"too many elements", many, "too many alerts"},
		errorCase{"too many alerts", "[" + half + "," + half + "]", "too many alerts"},
	))
}
