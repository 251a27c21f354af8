package ingest_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"tocsin"
	"tocsin/ingest"
)

const amGroupKey = `{}/{severity="critical"}:{alertname="HighErrorRate", job="api"}`

func TestAlertmanagerFiringThenResolved(t *testing.T) {
	body := readFile(t, "alertmanager_firing.json")
	firing := decodeOK(t, ingest.Alertmanager, tocsin.SourceAlertmanager, body)
	if len(firing) != 2 {
		t.Fatalf("got %d alerts, want 2", len(firing))
	}
	a, b := firing[0], firing[1]
	for _, x := range firing {
		if x.DedupKey != "http://alertmanager.example.com:9093 "+amGroupKey || x.LegacyDedupKey != amGroupKey || x.Status != tocsin.AlertFiring || x.Severity != "critical" {
			t.Errorf("alert %+v: want dedup key %q, firing, critical", x, amGroupKey)
		}
		if !bytes.Equal(x.Raw, bytes.TrimSpace(body)) {
			t.Errorf("Raw is not the whole body: %s", x.Raw)
		}
		if !x.EndsAt.IsZero() {
			t.Errorf("EndsAt = %v on a firing alert", x.EndsAt)
		}
	}
	if &a.Raw[0] != &b.Raw[0] {
		t.Error("alerts of one body do not share Raw")
	}
	if a.Fingerprint != "2c3b1a4d5e6f7081" {
		t.Errorf("Fingerprint = %q", a.Fingerprint)
	}
	if a.Title != "5xx rate above 5% on api-1" || a.Description != "api-1 answers 7.3% of requests with a 5xx." {
		t.Errorf("Title, Description = %q, %q", a.Title, a.Description)
	}
	if a.Labels["replica"] != "1" || a.Labels["team"] != "payments" {
		t.Errorf("Labels = %v", a.Labels)
	}
	if !a.StartsAt.Equal(mustTime(t, "2024-05-01T10:00:00.123Z")) {
		t.Errorf("StartsAt = %v", a.StartsAt)
	}
	if got := link(t, a, "Source"); !strings.HasPrefix(got, "http://prometheus.example.com:9090/graph") {
		t.Errorf("Source link = %q", got)
	}
	if got := link(t, a, "Runbook"); got != "https://runbooks.example.com/high-error-rate" {
		t.Errorf("Runbook link = %q", got)
	}
	if got := link(t, a, "Dashboard"); got != "https://grafana.example.com/d/api/api-overview" {
		t.Errorf("Dashboard link = %q", got)
	}
	// The second alert has no summary and no fingerprint.
	if b.Title != "HighErrorRate on api-2:8080" {
		t.Errorf("Title = %q", b.Title)
	}
	if len(b.Fingerprint) != 16 || b.Fingerprint == a.Fingerprint {
		t.Errorf("fallback Fingerprint = %q", b.Fingerprint)
	}

	resolved := decodeOK(t, ingest.Alertmanager, tocsin.SourceAlertmanager, readFile(t, "alertmanager_resolved.json"))
	if len(resolved) != 1 {
		t.Fatalf("got %d alerts, want 1", len(resolved))
	}
	r := resolved[0]
	if r.Status != tocsin.AlertResolved || r.DedupKey != a.DedupKey || r.Fingerprint != a.Fingerprint {
		t.Errorf("resolved alert %+v does not match firing alert %+v", r, a)
	}
	if !r.EndsAt.Equal(mustTime(t, "2024-05-01T10:25:00Z")) {
		t.Errorf("EndsAt = %v", r.EndsAt)
	}
}

func TestAlertmanagerFallbacks(t *testing.T) {
	tests := []struct {
		name, body                          string
		dedup, fingerprint, title, severity string
	}{
		{
			name:        "no group key",
			body:        `{"receiver":"team-a","groupLabels":{"job":"api","alertname":"Down"},"alerts":[{"labels":{"alertname":"Down"}}]}`,
			dedup:       `team-a:{alertname="Down", job="api"}`,
			fingerprint: "",
			title:       "Down",
		},
		{
			name:        "prometheus fingerprint",
			body:        `{"groupKey":"g","alerts":[{"labels":{"name":"garland, briggs","fear":"love is not enough"}}]}`,
			dedup:       "g",
			fingerprint: "507a62d79ee76c9a",
			title:       "Alertmanager alert",
		},
		{
			name:        "nothing at all",
			body:        `{"alerts":[{}]}`,
			dedup:       ":{}",
			fingerprint: "cbf29ce484222325",
			title:       "Alertmanager alert",
		},
		{
			name:     "common labels and top status",
			body:     `{"status":"RESOLVED","commonLabels":{"alertname":"X","severity":"P1"},"alerts":[{"labels":null}]}`,
			dedup:    ":{}",
			title:    "X",
			severity: "p1",
		},
		{
			name:  "numbers and nested values as labels",
			body:  `{"alerts":[{"labels":{"alertname":"X","port":8080,"up":true,"x":{"a":[1]},"gone":null}}]}`,
			dedup: ":{}",
			title: "X",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := decodeOK(t, ingest.Alertmanager, tocsin.SourceAlertmanager, []byte(tc.body))[0]
			if a.DedupKey != tc.dedup || a.Title != tc.title || a.Severity != tc.severity {
				t.Errorf("got dedup %q title %q severity %q, want %q %q %q", a.DedupKey, a.Title, a.Severity, tc.dedup, tc.title, tc.severity)
			}
			if tc.fingerprint != "" && a.Fingerprint != tc.fingerprint {
				t.Errorf("Fingerprint = %q, want %q", a.Fingerprint, tc.fingerprint)
			}
		})
	}
	a := decodeOK(t, ingest.Alertmanager, "", []byte(tests[4].body))[0]
	if a.Labels["port"] != "8080" || a.Labels["up"] != "true" || a.Labels["x"] != `{"a":[1]}` {
		t.Errorf("Labels = %v", a.Labels)
	}
	if _, ok := a.Labels["gone"]; ok {
		t.Errorf("null label kept: %v", a.Labels)
	}
	r := decodeOK(t, ingest.Alertmanager, "", []byte(tests[3].body))[0]
	if r.Status != tocsin.AlertResolved {
		t.Errorf("Status = %q, want resolved from the top-level status", r.Status)
	}
}

func TestAlertmanagerDropsUnsafeLinks(t *testing.T) {
	body := `{"alerts":[{"labels":{"alertname":"X"},"generatorURL":"javascript:alert(1)",
		"annotations":{"runbook_url":"/relative","dashboard":"ftp://x.example.com/"}}]}`
	a := decodeOK(t, ingest.Alertmanager, "", []byte(body))[0]
	if len(a.Links) != 0 {
		t.Errorf("Links = %+v, want none", a.Links)
	}
}

func TestAlertmanagerErrors(t *testing.T) {
	many := `{"alerts":[` + strings.Repeat(`{},`, ingest.MaxAlertsPerRequest) + `{}]}`
	runErrorCases(t, ingest.Alertmanager, append(commonErrors,
		errorCase{"array body", `[]`, `alertmanager: body must be a JSON object`},
		errorCase{"string body", `"x"`, `alertmanager: body must be a JSON object`},
		errorCase{"no alerts", `{"receiver":"x"}`, `alertmanager: "alerts" must be a non-empty array`},
		errorCase{"empty alerts", `{"alerts":[]}`, `alertmanager: "alerts" must be a non-empty array`},
		errorCase{"alerts object", `{"alerts":{}}`, `alertmanager: "alerts" must be an array`},
		errorCase{"alert not object", `{"alerts":[{}, 1]}`, `alertmanager: "alerts[1]" must be an object`},
		errorCase{"alert null", `{"alerts":[null]}`, `alertmanager: "alerts[0]" must be an object`},
		errorCase{"labels array", `{"alerts":[{"labels":["a"]}]}`, `alertmanager: "alerts[0].labels" must be an object`},
		errorCase{"group labels string", `{"groupLabels":"x","alerts":[{}]}`, `alertmanager: "groupLabels" must be an object`},
		errorCase{"too many", many, fmt.Sprintf("alertmanager: too many alerts (%d", ingest.MaxAlertsPerRequest+1)},
	))
}

func TestGrafana(t *testing.T) {
	body := readFile(t, "grafana_firing.json")
	alerts := decodeOK(t, ingest.Grafana, tocsin.SourceGrafana, body)
	if len(alerts) != 2 {
		t.Fatalf("got %d alerts, want 2", len(alerts))
	}
	const groupKey = `{}/{__grafana_autogenerated__="true"}/{__grafana_receiver__="tocsin-webhook"}:{alertname="High memory usage"}`
	a, b := alerts[0], alerts[1]
	if want := "https://grafana.example.com/?orgId=1 " + groupKey; a.DedupKey != want || b.DedupKey != want || a.LegacyDedupKey != groupKey {
		t.Errorf("DedupKey = %q, %q", a.DedupKey, b.DedupKey)
	}
	if a.Fingerprint != "c6eadffa33fcdf37" || b.Fingerprint != "bc97ff14869b13e3" {
		t.Errorf("Fingerprint = %q, %q", a.Fingerprint, b.Fingerprint)
	}
	if a.Status != tocsin.AlertFiring || b.Status != tocsin.AlertResolved {
		t.Errorf("Status = %q, %q", a.Status, b.Status)
	}
	if a.Title != "This alert was triggered for zone us-1" || b.Title != "High CPU usage" {
		t.Errorf("Title = %q, %q", a.Title, b.Title)
	}
	if a.Severity != "warning" || b.Severity != "" {
		t.Errorf("Severity = %q, %q", a.Severity, b.Severity)
	}
	if a.Description != "The system has high memory usage" {
		t.Errorf("Description = %q", a.Description)
	}
	if !strings.HasPrefix(a.Annotations["value_string"], "[ var='B'") {
		t.Errorf("Annotations = %v", a.Annotations)
	}
	for text, want := range map[string]string{
		"Source":    "https://grafana.example.com/alerting/grafana/1afz29v7z/view",
		"Runbook":   "https://myrunbook.example.com/runbook/1234",
		"Dashboard": "https://grafana.example.com/d/abc123",
		"Panel":     "https://grafana.example.com/d/abc123?viewPanel=2",
	} {
		if got := link(t, a, text); got != want {
			t.Errorf("link %s = %q, want %q", text, got, want)
		}
	}
	if !strings.HasPrefix(link(t, a, "Silence"), "https://grafana.example.com/alerting/silence/new") {
		t.Errorf("Silence link = %q", link(t, a, "Silence"))
	}
	if len(b.Links) != 1 {
		t.Errorf("empty URLs became links: %+v", b.Links)
	}
	if !b.EndsAt.Equal(mustTime(t, "2021-10-12T10:06:03.157076+02:00")) {
		t.Errorf("EndsAt = %v", b.EndsAt)
	}
	if !bytes.Equal(a.Raw, bytes.TrimSpace(body)) || &a.Raw[0] != &b.Raw[0] {
		t.Error("Raw is not the shared whole body")
	}
	runErrorCases(t, ingest.Grafana, append(commonErrors,
		errorCase{"no alerts", `{"receiver":"x","orgId":1}`, `grafana: "alerts" must be a non-empty array`},
		errorCase{"alerts string", `{"alerts":"x"}`, `grafana: "alerts" must be an array`},
	))
}

// TestGroupDedupKeyNamesTheSender checks that two Alertmanagers (or two
// Grafana organisations) with the same route are two incidents.
func TestGroupDedupKeyNamesTheSender(t *testing.T) {
	body := func(external, org string) []byte {
		return []byte(`{"version":"4","groupKey":"{}:{alertname=\"X\"}","status":"firing","receiver":"r","externalURL":"` + external + `",` + org +
			`"alerts":[{"status":"firing","labels":{"alertname":"X"},"fingerprint":"f1"}]}`)
	}
	prod := decodeOK(t, ingest.Alertmanager, tocsin.SourceAlertmanager, body("http://am-prod:9093", ""))[0]
	staging := decodeOK(t, ingest.Alertmanager, tocsin.SourceAlertmanager, body("http://am-staging:9093", ""))[0]
	if prod.DedupKey == staging.DedupKey || prod.LegacyDedupKey != staging.LegacyDedupKey {
		t.Errorf("prod %q (legacy %q), staging %q (legacy %q)", prod.DedupKey, prod.LegacyDedupKey, staging.DedupKey, staging.LegacyDedupKey)
	}
	if bare := decodeOK(t, ingest.Alertmanager, tocsin.SourceAlertmanager, body("", ""))[0]; bare.DedupKey != `{}:{alertname="X"}` {
		t.Errorf("without externalURL the key is the group key: %q", bare.DedupKey)
	}
	g1 := decodeOK(t, ingest.Grafana, tocsin.SourceGrafana, body("https://grafana/", `"orgId":1,`))[0]
	g2 := decodeOK(t, ingest.Grafana, tocsin.SourceGrafana, body("https://grafana/", `"orgId":2,`))[0]
	if g1.DedupKey == g2.DedupKey || g1.DedupKey != `https://grafana/?orgId=1 {}:{alertname="X"}` {
		t.Errorf("grafana orgs: %q, %q", g1.DedupKey, g2.DedupKey)
	}
}
