package ingest_test

import (
	"strings"
	"testing"

	"tocsin"
	"tocsin/ingest"
)

func TestPagerDutyTriggerAckResolve(t *testing.T) {
	a := decodeOK(t, ingest.PagerDuty, tocsin.SourcePagerDuty, readFile(t, "pagerduty_trigger.json"))[0]
	if a.Fingerprint != "srv01/mysql-disk" || a.LegacyDedupKey != a.Fingerprint || !strings.HasSuffix(a.DedupKey, ":srv01/mysql-disk") {
		t.Errorf("DedupKey, Fingerprint = %q, %q", a.DedupKey, a.Fingerprint)
	}
	if a.Status != tocsin.AlertFiring || a.Severity != "critical" || a.Title != "DISK at 99% on machine prod-datapipe03.example.com" {
		t.Errorf("Status %q Severity %q Title %q", a.Status, a.Severity, a.Title)
	}
	if !a.StartsAt.Equal(mustTime(t, "2024-05-01T10:00:00Z")) {
		t.Errorf("StartsAt = %v", a.StartsAt)
	}
	wantLabels := map[string]string{"source": "prod-datapipe03.example.com", "component": "mysql", "group": "prod-datapipe", "class": "disk"}
	for k, v := range wantLabels {
		if a.Labels[k] != v {
			t.Errorf("Labels = %v, want %v", a.Labels, wantLabels)
		}
	}
	wantAnnotations := map[string]string{"free space": "1%", "ping time": "1500ms", "load avg": "0.75", "pagerduty_action": "trigger"}
	for k, v := range wantAnnotations {
		if a.Annotations[k] != v {
			t.Errorf("Annotations = %v, want %v", a.Annotations, wantAnnotations)
		}
	}
	for text, want := range map[string]string{
		"Runbook":                   "https://example.com/runbooks/disk",
		"Disk usage chart":          "https://chart.example.com/disk.png",
		"Sample Monitoring Service": "https://monitoring.example.com",
	} {
		if got := link(t, a, text); got != want {
			t.Errorf("link %q = %q, want %q", text, got, want)
		}
	}

	ack := decodeOK(t, ingest.PagerDuty, tocsin.SourcePagerDuty, readFile(t, "pagerduty_acknowledge.json"))[0]
	if ack.Status != tocsin.AlertFiring || ack.Annotations["pagerduty_action"] != "acknowledge" || ack.DedupKey != a.DedupKey {
		t.Errorf("acknowledge alert %+v", ack)
	}
	if ack.Title != "PagerDuty event srv01/mysql-disk" {
		t.Errorf("fallback Title = %q", ack.Title)
	}
	r := decodeOK(t, ingest.PagerDuty, tocsin.SourcePagerDuty, readFile(t, "pagerduty_resolve.json"))[0]
	if r.Status != tocsin.AlertResolved || r.DedupKey != a.DedupKey || r.Fingerprint != a.Fingerprint || r.Annotations["pagerduty_action"] != "resolve" {
		t.Errorf("resolve alert %+v", r)
	}
}

func TestPagerDutyGeneratedDedupKey(t *testing.T) {
	event := func(routing, summary, source string) []byte {
		return []byte(`{"routing_key":"` + routing + `","event_action":"trigger","payload":{"summary":"` + summary +
			`","source":"` + source + `","severity":"Warning","custom_details":"plain text details"}}`)
	}
	a := decodeOK(t, ingest.PagerDuty, tocsin.SourcePagerDuty, event("rk", "disk full", "db-1"))[0]
	b := decodeOK(t, ingest.PagerDuty, tocsin.SourcePagerDuty, event("rk", "disk full", "db-1"))[0]
	if a.DedupKey != b.DedupKey || len(a.Fingerprint) != 32 || !strings.HasSuffix(a.DedupKey, ":"+a.Fingerprint) {
		t.Errorf("generated keys %q, %q", a.DedupKey, b.DedupKey)
	}
	for _, other := range [][]byte{event("rk2", "disk full", "db-1"), event("rk", "disk ful", "db-1"), event("rk", "disk full", "db-2")} {
		if c := decodeOK(t, ingest.PagerDuty, "", other)[0]; c.DedupKey == a.DedupKey {
			t.Errorf("%s has the same dedup key", other)
		}
	}
	if a.Severity != "warning" || a.Description != "plain text details" {
		t.Errorf("Severity %q Description %q", a.Severity, a.Description)
	}
}

func TestPagerDutySkipsMalformedLinks(t *testing.T) {
	body := `{"routing_key":"rk","event_action":"resolve","dedup_key":"k",
		"links":[1,{"href":"https://ok.example.com"},{"href":5},{"href":{}}],"images":[null,"x",{"src":"https://img.example.com/a.png"}]}`
	a := decodeOK(t, ingest.PagerDuty, tocsin.SourcePagerDuty, []byte(body))[0]
	want := []tocsin.Link{{Text: "Link", URL: "https://ok.example.com"}, {Text: "Image", URL: "https://img.example.com/a.png"}}
	if len(a.Links) != len(want) || a.Links[0] != want[0] || a.Links[1] != want[1] {
		t.Errorf("Links = %+v, want %+v", a.Links, want)
	}
}

func TestPagerDutyErrors(t *testing.T) {
	trigger := func(payload string) string {
		return `{"routing_key":"rk","event_action":"trigger","payload":` + payload + `}`
	}
	runErrorCases(t, ingest.PagerDuty, append(commonErrors,
		errorCase{"array", `[]`, `pagerduty: body must be a JSON object`},
		errorCase{"no routing key", `{"event_action":"trigger"}`, `pagerduty: "routing_key" is required`},
		errorCase{"no action", `{"routing_key":"rk"}`, `pagerduty: "event_action" is required`},
		errorCase{"bad action", `{"routing_key":"rk","event_action":"Trigger"}`, `pagerduty: "event_action" must be trigger, acknowledge or resolve`},
		errorCase{"resolve without key", `{"routing_key":"rk","event_action":"resolve"}`, `pagerduty: "dedup_key" is required to resolve`},
		errorCase{"ack without key", `{"routing_key":"rk","event_action":"acknowledge","dedup_key":""}`, `pagerduty: "dedup_key" is required to acknowledge`},
		errorCase{"long key", `{"routing_key":"rk","event_action":"resolve","dedup_key":"` + strings.Repeat("k", 256) + `"}`, `pagerduty: "dedup_key" is longer than 255 characters`},
		errorCase{"no payload", `{"routing_key":"rk","event_action":"trigger"}`, `pagerduty: "payload" is required to trigger`},
		errorCase{"payload string", trigger(`"x"`), `pagerduty: "payload" must be an object`},
		errorCase{"no summary", trigger(`{"source":"s","severity":"info"}`), `pagerduty: "payload.summary" is required`},
		errorCase{"no source", trigger(`{"summary":"s","severity":"info"}`), `pagerduty: "payload.source" is required`},
		errorCase{"no severity", trigger(`{"summary":"s","source":"s"}`), `pagerduty: "payload.severity" is required`},
		errorCase{"bad severity", trigger(`{"summary":"s","source":"s","severity":"fatal"}`), `pagerduty: "payload.severity" must be critical, error, warning or info`},
		errorCase{"links object", `{"routing_key":"rk","event_action":"resolve","dedup_key":"k","links":{}}`, `pagerduty: "links" must be an array`},
		errorCase{"images string", `{"routing_key":"rk","event_action":"resolve","dedup_key":"k","images":"x"}`, `pagerduty: "images" must be an array`},
	))
}

// TestPagerDutyDedupKeyIsPerRoutingKey checks that the same dedup_key sent
// with two routing keys is two incidents, as at PagerDuty, and that the
// routing key appears neither in the keys nor in Raw.
func TestPagerDutyDedupKeyIsPerRoutingKey(t *testing.T) {
	event := func(routing string) []byte {
		return []byte(`{"routing_key":"` + routing + `","event_action":"trigger","dedup_key":"srv01/mysql",
			"payload":{"summary":"MySQL down","source":"srv01","severity":"critical"}}`)
	}
	const secret = "prod-routing-key-0123456789abcdef"
	prod := decodeOK(t, ingest.PagerDuty, tocsin.SourcePagerDuty, event(secret))[0]
	staging := decodeOK(t, ingest.PagerDuty, tocsin.SourcePagerDuty, event("staging-routing-key-0123456789ab"))[0]
	if prod.DedupKey == staging.DedupKey || prod.Fingerprint != "srv01/mysql" || prod.LegacyDedupKey != "srv01/mysql" {
		t.Errorf("prod %q, staging %q", prod.DedupKey, staging.DedupKey)
	}
	if strings.Contains(prod.DedupKey, secret) || strings.Contains(string(prod.Raw), secret) || !strings.Contains(string(prod.Raw), `"routing_key":"[REDACTED]"`) {
		t.Errorf("routing key leaked: key %q, raw %s", prod.DedupKey, prod.Raw)
	}
	if got := ingest.PagerDutyRoutingKey(event(secret)); got != secret {
		t.Errorf("PagerDutyRoutingKey = %q", got)
	}
}
