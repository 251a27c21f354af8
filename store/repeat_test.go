package store_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
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
				// Counts of unchanged repeats are written by the flush.
				if err := db.Incidents().FlushRepeats(ctx); err != nil {
					t.Fatal(err)
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

// TestRepeatCountedInMemory checks that an unchanged repeat writes nothing
// until its count is flushed (no payload, no change to the alert's row, on
// SQLite not a byte of WAL), that the flush and Close write the counts and
// the latest last-seen time, and that a repeat after its incident was
// resolved — by this store or by another one on the same PostgreSQL
// database — is not swallowed but opens an incident, as a changed body is
// stored.
func TestRepeatCountedInMemory(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storetest.Kinds() {
		for _, resolver := range []string{"same store", "other store"} {
			t.Run(kind.Name+"/"+resolver, func(t *testing.T) {
				if resolver == "other store" && kind.Name != "postgres" {
					t.Skip("one process owns a SQLite database")
				}
				url := kind.URL(t)
				clock := storetest.NewClock(storetest.Epoch)
				opts := store.Options{Now: clock.Now, Policy: tocsin.Policy{Channels: []string{"webhook"}, AutoResolve: true, Impacts: tocsin.DefaultImpacts()}}
				db, err := store.Open(ctx, url, opts)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { db.Close() }()
				ingest := func(a *tocsin.Alert) tocsin.IngestResult {
					t.Helper()
					res, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{a}, tocsin.IngestOptions{})
					if err != nil {
						t.Fatal(err)
					}
					return res[0]
				}
				firing := func() *tocsin.Alert { return storetest.NewAlert("g", "a", tocsin.AlertFiring, "critical") }
				// row reads what the alert's row says and how many payloads there are.
				row := func(id string) (repeats int, seen int64, payloads int) {
					t.Helper()
					if err := db.SQL().QueryRow(`SELECT repeat_count, last_seen_at, (SELECT COUNT(*) FROM payloads) FROM alerts WHERE id = $1`, id).
						Scan(&repeats, &seen, &payloads); err != nil {
						t.Fatal(err)
					}
					return
				}
				wal := func() int64 {
					path, ok := strings.CutPrefix(url, "sqlite://")
					if !ok {
						return 0
					}
					st, err := os.Stat(path + "-wal")
					if err != nil {
						t.Fatal(err)
					}
					return st.Size()
				}
				first := ingest(firing())
				_, seen0, _ := row(first.AlertID)
				// The first repeat is decided in full, the next ones from that
				// decision and one read: none writes.
				walBefore := wal()
				for i := 1; i <= 3; i++ {
					clock.Add(time.Second)
					if res := ingest(firing()); !res.Deduplicated || res.AlertID != first.AlertID || res.IncidentID != first.IncidentID {
						t.Fatalf("repeat %d: %+v; want deduplicated into %s", i, res, first.IncidentID)
					}
				}
				if n, seen, payloads := row(first.AlertID); n != 0 || seen != seen0 || payloads != 1 {
					t.Fatalf("before the flush: %d repeats, last seen %d, %d payloads; want 0, %d, 1", n, seen, payloads, seen0)
				}
				if w := wal(); w != walBefore {
					t.Fatalf("repeats wrote %d bytes of WAL before the flush", w-walBefore)
				}
				if err := db.Incidents().FlushRepeats(ctx); err != nil {
					t.Fatal(err)
				}
				if n, seen, payloads := row(first.AlertID); n != 3 || seen != clock.Now().UnixMicro() || payloads != 1 {
					t.Fatalf("after the flush: %d repeats, last seen %d, %d payloads; want 3, %d, 1", n, seen, payloads, clock.Now().UnixMicro())
				}
				// Counts left at Close are written by it.
				clock.Add(time.Second)
				ingest(firing())
				ingest(firing())
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				if db, err = store.Open(ctx, url, opts); err != nil {
					t.Fatal(err)
				}
				if n, seen, _ := row(first.AlertID); n != 5 || seen != clock.Now().UnixMicro() {
					t.Fatalf("after Close: %d repeats, last seen %d; want 5, %d", n, seen, clock.Now().UnixMicro())
				}
				// A changed body is a change, stored with its payload.
				changed := firing()
				changed.Raw = json.RawMessage(`{"receiver":"test","status":"firing","changed":true}`)
				ingest(changed)
				if _, _, payloads := row(first.AlertID); payloads != 2 {
					t.Fatalf("changed body: %d payloads; want 2", payloads)
				}
				ingest(changed) // decided in full: a repeat of the changed body
				ingest(changed) // confirmed by one read
				// So is a changed label with the same body.
				relabelled := firing()
				relabelled.Raw = changed.Raw
				relabelled.Labels = map[string]string{"alertname": "a", "instance": "other"}
				ingest(relabelled)
				if _, _, payloads := row(first.AlertID); payloads != 3 {
					t.Fatalf("changed label: %d payloads; want 3", payloads)
				}
				var labels string
				if err := db.SQL().QueryRow(`SELECT labels FROM alerts WHERE id = $1`, first.AlertID).Scan(&labels); err != nil || !strings.Contains(labels, "other") {
					t.Fatalf("changed label: labels %s, %v", labels, err)
				}
				changed = relabelled
				ingest(changed)
				ingest(changed)
				// The incident is resolved, then the same body is re-sent: it
				// opens a new incident, though this store decided it was a repeat.
				by := db
				if resolver == "other store" {
					other := storetest.Open(t, url, opts)
					by = other
				}
				if _, _, err := by.Incidents().Resolve(ctx, first.IncidentID, tocsin.Actor{Name: "test"}); err != nil {
					t.Fatal(err)
				}
				if res := ingest(changed); !res.Created || res.IncidentID == first.IncidentID {
					t.Fatalf("repeat after the resolve: %+v; want a new incident", res)
				}
			})
		}
	}
}
