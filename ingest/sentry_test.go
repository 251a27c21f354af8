package ingest_test

import (
	"strings"
	"testing"

	"tocsin"
	"tocsin/ingest"
)

func TestSentryEventAlertThenResolved(t *testing.T) {
	a := decodeOK(t, ingest.Sentry, tocsin.SourceSentry, readFile(t, "sentry_event_alert.json"))[0]
	if a.DedupKey != "1:1170820242" || a.Fingerprint != a.DedupKey {
		t.Errorf("DedupKey, Fingerprint = %q, %q", a.DedupKey, a.Fingerprint)
	}
	if a.Status != tocsin.AlertFiring || a.Severity != "error" || a.Title != "ReferenceError: heck is not defined" {
		t.Errorf("Status %q Severity %q Title %q", a.Status, a.Severity, a.Title)
	}
	if a.Description != "?(<anonymous>)" {
		t.Errorf("Description = %q", a.Description)
	}
	if a.Labels["environment"] != "production" || a.Labels["release"] != "frontend@1.4.2" {
		t.Errorf("Labels = %v", a.Labels)
	}
	if a.Annotations["sentry_action"] != "triggered" || a.Annotations["triggered_rule"] != "Send a notification for new issues" {
		t.Errorf("Annotations = %v", a.Annotations)
	}
	if !a.StartsAt.Equal(mustTime(t, "2019-08-19T21:06:17.403Z")) {
		t.Errorf("StartsAt = %v", a.StartsAt)
	}
	if got := link(t, a, "Sentry event"); !strings.HasPrefix(got, "https://sentry.io/organizations/acme/issues/1170820242/events/") {
		t.Errorf("event link = %q", got)
	}

	r := decodeOK(t, ingest.Sentry, tocsin.SourceSentry, readFile(t, "sentry_issue_resolved.json"))[0]
	if r.Status != tocsin.AlertResolved || r.DedupKey != a.DedupKey || r.Fingerprint != a.Fingerprint {
		t.Errorf("resolved issue %+v does not match event alert %+v", r, a)
	}
	if r.Labels["project"] != "frontend" || r.Annotations["short_id"] != "FRONTEND-1" {
		t.Errorf("Labels %v Annotations %v", r.Labels, r.Annotations)
	}
	if got := link(t, r, "Sentry issue"); got != "https://sentry.io/organizations/acme/issues/1170820242/" {
		t.Errorf("issue link = %q", got)
	}
}

func TestSentryMetricAlert(t *testing.T) {
	body := readFile(t, "sentry_metric_alert.json")
	a := decodeOK(t, ingest.Sentry, tocsin.SourceSentry, body)[0]
	if a.DedupKey != "metric_alert:7" || a.Status != tocsin.AlertFiring || a.Severity != "critical" || a.Title != "Too many errors" {
		t.Errorf("alert %+v", a)
	}
	if !strings.HasPrefix(a.Description, "1000 events in the last 10 minutes") {
		t.Errorf("Description = %q", a.Description)
	}
	if !a.StartsAt.Equal(mustTime(t, "2022-04-07T14:45:00Z")) {
		t.Errorf("StartsAt = %v", a.StartsAt)
	}
	resolvedBody := strings.Replace(string(body), `"action": "critical"`, `"action": "resolved"`, 1)
	r := decodeOK(t, ingest.Sentry, tocsin.SourceSentry, []byte(resolvedBody))[0]
	if r.Status != tocsin.AlertResolved || r.DedupKey != a.DedupKey || r.Severity != "" {
		t.Errorf("resolved metric alert %+v", r)
	}
}

func TestSentryLegacyPlugin(t *testing.T) {
	a := decodeOK(t, ingest.Sentry, tocsin.SourceSentry, readFile(t, "sentry_legacy.json"))[0]
	if a.DedupKey != "backend:27379932" || a.Severity != "fatal" || a.Title != "This is an example Python exception" {
		t.Errorf("alert %+v", a)
	}
	if a.Labels["server_name"] != "web-3" || a.Labels["project"] != "backend" {
		t.Errorf("Labels = %v", a.Labels)
	}
	if _, ok := a.Annotations["sentry_action"]; ok {
		t.Errorf("legacy payload has an action: %v", a.Annotations)
	}
	if got := link(t, a, "Sentry issue"); !strings.HasPrefix(got, "https://sentry.io/organizations/acme/issues/27379932/") {
		t.Errorf("issue link = %q", got)
	}
}

func TestSentryVariants(t *testing.T) {
	tests := []struct {
		name, body, dedup, title string
		labels                   map[string]string
	}{
		{"issue without project", `{"action":"created","data":{"issue":{"id":"9","title":"T"}}}`, "9", "T", nil},
		{"event without issue", `{"action":"triggered","data":{"event":{"event_id":"e1"}}}`, "event:e1", "Sentry event", nil},
		{"event with group id and object tags", `{"data":{"event":{"group_id":5,"project":"web","title":"T","tags":[{"key":"k","value":"v"},["bad"],3]}}}`,
			"web:5", "T", map[string]string{"k": "v", "project": "web"}},
		{"event with map tags", `{"data":{"event":{"issue_id":"5","tags":{"a":1}}}}`, "5", "Sentry issue 5", map[string]string{"a": "1"}},
		{"nothing to key", `{"data":{"event":{"culprit":"main.go"}}}`, "", "main.go", nil},
		{"legacy event only", `{"event":{"event_id":"e2","title":"T"}}`, "event:e2", "T", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := decodeOK(t, ingest.Sentry, tocsin.SourceSentry, []byte(tc.body))[0]
			if tc.dedup != "" && a.DedupKey != tc.dedup {
				t.Errorf("DedupKey = %q, want %q", a.DedupKey, tc.dedup)
			}
			if a.Title != tc.title {
				t.Errorf("Title = %q, want %q", a.Title, tc.title)
			}
			for k, v := range tc.labels {
				if a.Labels[k] != v {
					t.Errorf("Labels = %v, want %v", a.Labels, tc.labels)
				}
			}
		})
	}
}

func TestSentryErrors(t *testing.T) {
	runErrorCases(t, ingest.Sentry, append(commonErrors,
		errorCase{"array", `[]`, `sentry: body must be a JSON object`},
		errorCase{"nothing", `{"action":"created"}`, `sentry: payload has none of`},
		errorCase{"empty data", `{"action":"created","data":{}}`, `sentry: payload has none of`},
		errorCase{"data string", `{"data":"x"}`, `sentry: "data" must be an object`},
		errorCase{"issue array", `{"data":{"issue":[]}}`, `sentry: "data.issue" must be an object`},
	))
}
