package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"tocsin"
	"tocsin/store"
	"tocsin/store/storetest"
)

// A sender's alert is never lost to an encoding detail: NUL and invalid
// UTF-8 in any text field (PostgreSQL refuses both, SQLite takes them) are
// stored as U+FFFD, the same on both databases, and the alert still
// deduplicates against itself.
func TestIngestSanitisesText(t *testing.T) {
	for _, k := range storetest.Kinds() {
		t.Run(k.Name, func(t *testing.T) {
			db := storetest.Open(t, k.URL(t), store.Options{})
			ctx := context.Background()
			bad := func() *tocsin.Alert {
				return &tocsin.Alert{
					Source: tocsin.SourceAlertmanager, DedupKey: "group\xff", Fingerprint: "fp\x00", Status: tocsin.AlertFiring,
					Severity: "critical\xfe", Title: "a\x00b\xffc", Description: "d\xc3\x28",
					Labels:      map[string]string{"alertname": "Bad\xff", "k\x00": "v"},
					Annotations: map[string]string{"summary": "s\x00"},
					Links:       []tocsin.Link{{Text: "t\xff", URL: "https://x.example/\xff"}},
					Raw:         json.RawMessage("{\"title\":\"a\\u0000b\xff\"}"),
				}
			}
			res, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{bad()}, tocsin.IngestOptions{})
			if err != nil {
				t.Fatalf("ingest: %v", err)
			}
			again, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{bad()}, tocsin.IngestOptions{})
			if err != nil || again[0].IncidentID != res[0].IncidentID {
				t.Fatalf("second ingest: %v %+v, want the same incident %s", err, again, res[0].IncidentID)
			}
			inc, err := db.Incidents().FindIncident(ctx, res[0].IncidentID)
			if err != nil {
				t.Fatal(err)
			}
			a := inc.Alerts[0]
			if inc.Title != "a\uFFFDb\uFFFDc" || a.Title != inc.Title || a.Description != "d\uFFFD(" || a.Severity != "critical\uFFFD" ||
				a.DedupKey != "group\uFFFD" || a.Fingerprint != "fp\uFFFD" || a.Labels["alertname"] != "Bad\uFFFD" || a.Labels["k\uFFFD"] != "v" ||
				a.Annotations["summary"] != "s\uFFFD" || a.Links[0].Text != "t\uFFFD" {
				t.Errorf("stored incident %q, alert %+v", inc.Title, a)
			}
			d, err := db.Incidents().LoadDelivery(ctx, inc.ID, a.ID, "slack")
			if err != nil {
				t.Fatal(err)
			}
			if want := "{\"title\":\"a\\u0000b\uFFFD\"}"; string(d.Payload) != want || !json.Valid(d.Payload) {
				t.Errorf("payload = %q, want %q", d.Payload, want)
			}
			for _, e := range inc.Timeline {
				if strings.ContainsRune(e.Message, 0) {
					t.Errorf("timeline message %q holds NUL", e.Message)
				}
			}
		})
	}
}
