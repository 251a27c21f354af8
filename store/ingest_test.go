package store_test

import (
	"context"
	"testing"

	"tocsin"
	"tocsin/store"
	"tocsin/store/storetest"
)

// TestOwnKeyBeforeLegacyKey: with open incidents under both an alert's
// key and its legacy key, the one look-up for both picks its own key's.
func TestOwnKeyBeforeLegacyKey(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storetest.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			db := storetest.Open(t, kind.URL(t), store.Options{Policy: tocsin.Policy{Impacts: tocsin.DefaultImpacts()}})
			ingest := func(a *tocsin.Alert) tocsin.IngestResult {
				t.Helper()
				res, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{a}, tocsin.IngestOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return res[0]
			}
			legacy := ingest(storetest.NewAlert("gk", "a", tocsin.AlertFiring, "high"))
			own := ingest(storetest.NewAlert("http://am gk", "b", tocsin.AlertFiring, "high"))
			if legacy.IncidentID == own.IncidentID {
				t.Fatal("one incident for two keys")
			}
			a := storetest.NewAlert("http://am gk", "c", tocsin.AlertFiring, "high")
			a.LegacyDedupKey = "gk"
			if r := ingest(a); r.IncidentID != own.IncidentID {
				t.Fatalf("joined %s; want the incident under its own key %s (legacy %s)", r.IncidentID, own.IncidentID, legacy.IncidentID)
			}
		})
	}
}
