package ingest_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"tocsin"
	"tocsin/ingest"
)

func TestGeneric(t *testing.T) {
	body := readFile(t, "generic.json")
	a := decodeOK(t, ingest.Generic, tocsin.SourceGeneric, body)[0]
	want := tocsin.Alert{
		Source:      tocsin.SourceGeneric,
		DedupKey:    "db-1/disk",
		Fingerprint: "db-1/disk",
		Status:      tocsin.AlertFiring,
		Severity:    "critical",
		Title:       "Disk almost full on db-1",
		Description: "/var is 95% full",
		Labels:      map[string]string{"host": "db-1", "team": "storage"},
		Links:       []tocsin.Link{{Text: "Dashboard", URL: "https://grafana.example.com/d/disk"}},
		ReceivedAt:  now,
		Raw:         bytes.TrimSpace(body),
	}
	got, _ := json.Marshal(a)
	wantJSON, _ := json.Marshal(&want)
	if !bytes.Equal(got, wantJSON) {
		t.Errorf("got  %s\nwant %s", got, wantJSON)
	}
}

func TestGenericArrayAndDefaults(t *testing.T) {
	alerts := decodeOK(t, ingest.Generic, tocsin.SourceGeneric, readFile(t, "generic_array.json"))
	if len(alerts) != 2 {
		t.Fatalf("got %d alerts, want 2", len(alerts))
	}
	a, b := alerts[0], alerts[1]
	if a.Status != tocsin.AlertFiring || len(a.DedupKey) != 32 || a.Fingerprint != a.DedupKey || a.Labels["job"] != "nightly-backup" {
		t.Errorf("defaults not applied: %+v", a)
	}
	if b.Status != tocsin.AlertResolved || b.DedupKey != "db-1/disk" || b.Fingerprint != "db-1/disk/var" {
		t.Errorf("alert %+v", b)
	}
	if !strings.HasPrefix(string(a.Raw), `{"title": "Backup failed"`) || !strings.HasSuffix(string(b.Raw), `"fingerprint": "db-1/disk/var"}`) {
		t.Errorf("Raw is not each element: %s | %s", a.Raw, b.Raw)
	}
	// The default dedup key is a hash of the title alone.
	c := decodeOK(t, ingest.Generic, "", []byte(`{"title":"Backup failed","description":"again","status":"RESOLVED"}`))[0]
	if c.DedupKey != a.DedupKey || c.Status != tocsin.AlertResolved {
		t.Errorf("same title, dedup key %q vs %q, status %q", c.DedupKey, a.DedupKey, c.Status)
	}
	d := decodeOK(t, ingest.Generic, "", []byte(`{"title":"Backup failed!","labels":null,"links":null,"severity":null}`))[0]
	if d.DedupKey == a.DedupKey {
		t.Error("different titles share a dedup key")
	}
}

func TestGenericErrors(t *testing.T) {
	many := "[" + strings.Repeat(`{"title":"x"},`, ingest.MaxAlertsPerRequest) + `{"title":"x"}]`
	runErrorCases(t, ingest.Generic, append(commonErrors,
		errorCase{"unknown field", `{"title":"x","titel":"y"}`, `generic: unknown field "titel"`},
		errorCase{"case matters", `{"Title":"x"}`, `generic: unknown field "Title"`},
		errorCase{"no title", `{"description":"x"}`, `generic: "title" is required`},
		errorCase{"blank title", `{"title":"  "}`, `generic: "title" is required`},
		errorCase{"title number", `{"title":5}`, `generic: "title" must be a string`},
		errorCase{"severity object", `{"title":"x","severity":{}}`, `generic: "severity" must be a string`},
		errorCase{"bad status", `{"title":"x","status":"ok"}`, `generic: "status" must be "firing" or "resolved"`},
		errorCase{"labels number", `{"title":"x","labels":{"a":1}}`, `generic: "labels" must be an object of strings`},
		errorCase{"labels array", `{"title":"x","labels":["a"]}`, `generic: "labels" must be an object of strings`},
		errorCase{"links object", `{"title":"x","links":{}}`, `generic: "links" must be an array of objects`},
		errorCase{"link string", `{"title":"x","links":["https://x.example.com"]}`, `generic: "links[0]" must be an object`},
		errorCase{"link unknown field", `{"title":"x","links":[{"href":"https://x.example.com"}]}`, `generic: unknown field "links[0].href"`},
		errorCase{"link without url", `{"title":"x","links":[{"text":"t"}]}`, `generic: "links[0].url" is required`},
		errorCase{"link url number", `{"title":"x","links":[{"url":1}]}`, `generic: "links[0].url" must be a string`},
		errorCase{"link javascript", `{"title":"x","links":[{"url":"javascript:alert(1)"}]}`, `generic: "links[0].url" must be an http or https URL`},
		errorCase{"number", `5`, `generic: alert must be a JSON object`},
		errorCase{"null", `null`, `generic: alert must be a JSON object`},
		errorCase{"empty array", `[]`, `generic: empty array`},
		errorCase{"element", `[{"title":"x"},{"title":"y","bad":1}]`, `generic: element 1: unknown field "bad"`},
		errorCase{"element not object", `[{"title":"x"},3]`, `generic: element 1: alert must be a JSON object`},
		errorCase{"bad array", `[{"title":"x"},]`, `invalid JSON at offset`},
		errorCase{"too many", many, "generic: too many alerts"},
	))
}
