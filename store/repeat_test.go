package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"tocsin"
	"tocsin/store"
	"tocsin/store/storetest"
)

// TestRepeatStoredOnce checks that a repeat of a firing alert that says
// nothing new (Alertmanager's repeat_interval) adds no payload row and
// rewrites nothing but its count and last-seen time, while a report that
// changes anything is stored with its payload, and a resolve after
// repeats still resolves.
func TestRepeatStoredOnce(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storetest.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			clock := storetest.NewClock(storetest.Epoch)
			db := storetest.Open(t, kind.URL(t), store.Options{Now: clock.Now, Policy: tocsin.Policy{
				Channels: []string{"webhook"}, AutoResolve: true, Impacts: tocsin.DefaultImpacts()}})
			ingest := func(a *tocsin.Alert) tocsin.IngestResult {
				t.Helper()
				res, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{a}, tocsin.IngestOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return res[0]
			}
			count := func(q string, args ...any) int {
				t.Helper()
				var n int
				if err := db.SQL().QueryRow(q, args...).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			first := ingest(storetest.NewAlert("g", "a", tocsin.AlertFiring, "critical"))
			for _, step := range []struct {
				name     string
				alert    func() *tocsin.Alert
				payloads int // rows in payloads after the step
				repeats  int
				title    string
			}{
				{"repeat", func() *tocsin.Alert { return storetest.NewAlert("g", "a", tocsin.AlertFiring, "critical") }, 1, 1, "Alert a"},
				{"repeat again", func() *tocsin.Alert { return storetest.NewAlert("g", "a", tocsin.AlertFiring, "critical") }, 1, 2, "Alert a"},
				{"new title", func() *tocsin.Alert {
					a := storetest.NewAlert("g", "a", tocsin.AlertFiring, "critical")
					a.Title = "Disk full"
					return a
				}, 2, 2, "Disk full"},
				{"new payload only", func() *tocsin.Alert {
					a := storetest.NewAlert("g", "a", tocsin.AlertFiring, "critical")
					a.Title, a.Raw = "Disk full", json.RawMessage(`{"receiver":"test","status":"firing","truncatedAlerts":1}`)
					return a
				}, 3, 2, "Disk full"},
				{"repeat of the new one", func() *tocsin.Alert {
					a := storetest.NewAlert("g", "a", tocsin.AlertFiring, "critical")
					a.Title, a.Raw = "Disk full", json.RawMessage(`{"receiver":"test","status":"firing","truncatedAlerts":1}`)
					return a
				}, 3, 3, "Disk full"},
			} {
				clock.Add(time.Minute)
				res := ingest(step.alert())
				if !res.Deduplicated || res.AlertID != first.AlertID {
					t.Fatalf("%s: %+v; want a deduplicated report of %s", step.name, res, first.AlertID)
				}
				if n := count(`SELECT COUNT(*) FROM payloads`); n != step.payloads {
					t.Fatalf("%s: %d payload rows; want %d", step.name, n, step.payloads)
				}
				inc, err := db.Incidents().FindIncident(ctx, first.IncidentID)
				if err != nil {
					t.Fatal(err)
				}
				a := inc.Alerts[0]
				if a.RepeatCount != step.repeats || !a.LastSeenAt.Equal(clock.Now()) || a.Title != step.title || len(inc.Alerts) != 1 {
					t.Fatalf("%s: repeats %d last seen %v title %q; want %d, %v, %q", step.name, a.RepeatCount, a.LastSeenAt, a.Title,
						step.repeats, clock.Now(), step.title)
				}
			}
			// The repeats queued nothing and said nothing on the timeline.
			if n := count(`SELECT COUNT(*) FROM timeline WHERE incident_id = $1`, first.IncidentID); n != 1 {
				t.Fatalf("%d timeline events; want only the opening", n)
			}
			d, err := db.Incidents().LoadDelivery(ctx, first.IncidentID, first.AlertID, "webhook")
			if err != nil || string(d.Payload) != `{"receiver":"test","status":"firing","truncatedAlerts":1}` {
				t.Fatalf("latest payload %s, %v", d.Payload, err)
			}
			clock.Add(time.Minute)
			if res := ingest(storetest.NewAlert("g", "a", tocsin.AlertResolved, "critical")); !res.Resolved {
				t.Fatalf("resolve after repeats: %+v", res)
			}
			// Firing again after the resolve opens a new incident.
			if res := ingest(storetest.NewAlert("g", "a", tocsin.AlertFiring, "critical")); !res.Created {
				t.Fatalf("firing after resolve: %+v", res)
			}
		})
	}
}
